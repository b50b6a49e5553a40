//! `feed.parse` reads RSS and Atom into one shape, in both languages; text that is no feed
//! is an error that says so.

use fleetgram_scripting::Script;
use std::sync::{Arc, Mutex};

mod support;
use support::{ctx, limits};

const RSS: &str = r#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>Fleet news</title><link>https://news.example/</link>
<description>All the news</description>
<item><title>Second &amp; last</title><link>https://news.example/2</link><guid>n2</guid>
<description>Two</description><pubDate>Tue, 08 Dec 2026 10:00:00 GMT</pubDate></item>
<item><title>First</title><link>https://news.example/1</link><guid>n1</guid>
<description>One</description></item>
</channel></rss>"#;

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom news</title>
<link href="https://atom.example/"/><updated>2026-12-08T10:00:00Z</updated><id>urn:a</id>
<entry><title>Only</title><link href="https://atom.example/1"/><id>urn:a:1</id>
<updated>2026-12-08T09:00:00Z</updated><author><name>Carol</name></author>
<content type="html">&lt;b&gt;hi&lt;/b&gt;</content></entry></feed>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_parse_in_both_languages() {
    let dir = support::scratch("feed", "parse");
    std::fs::write(dir.join("rss.xml"), RSS).unwrap();
    std::fs::write(dir.join("atom.xml"), ATOM).unwrap();
    for (name, src) in [
        (
            "f.lua",
            format!(
                "local r = feed.parse({RSS:?})\nlog.info(r.kind, r.title, #r.entries, r.entries[1].title, r.entries[1].link, r.entries[1].id, r.entries[1].published, tostring(r.entries[2].published))\nlocal a = feed.parse({ATOM:?})\nlog.info(a.kind, a.title, a.entries[1].authors[1], a.entries[1].content, a.entries[1].updated)\nlocal ok, e = pcall(feed.parse, \"<html>no</html>\")\nlog.info(\"bad \" .. e.message)\n"
            ),
        ),
        (
            "f.rhai",
            format!(
                "let r = feed::parse({RSS:?});\nlog::info(`${{r.kind}} ${{r.title}} ${{r.entries.len()}} ${{r.entries[0].title}} ${{r.entries[0].link}} ${{r.entries[0].id}} ${{r.entries[0].published}} ${{r.entries[1].published}}`);\nlet a = feed::parse({ATOM:?});\nlog::info(`${{a.kind}} ${{a.title}} ${{a.entries[0].authors[0]}} ${{a.entries[0].content}} ${{a.entries[0].updated}}`);\ntry {{ feed::parse(\"<html>no</html>\"); }} catch (e) {{ log::info(\"bad \" + e.message); }}\n"
            ),
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, src).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        Script::start(&path, ctx(log.clone()), limits())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let lines = log.lock().unwrap().clone();
        let want_rss = if name.ends_with(".lua") {
            "info: rss2 Fleet news 2 Second & last https://news.example/2 n2 1796724000 nil"
        } else {
            "info: rss2 Fleet news 2 Second & last https://news.example/2 n2 1796724000 "
        };
        assert!(lines.iter().any(|l| l == want_rss), "{name}: {lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l == "info: atom Atom news Carol <b>hi</b> 1796720400"),
            "{name}: {lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("info: bad ") && l.contains("not a feed")),
            "{name}: {lines:?}"
        );
    }
}
