//! Feeds: `feed.parse(text)` reads RSS (0.x, 1.0, 2.0), Atom and JSON Feed with a
//! well-kept parser (feed-rs) into one shape, for scripts that post from feeds.

use super::*;
use crate::lua::bind::*;
use crate::rhai::bind::*;

/// `feed.parse(text)`: `{kind, title, link, description, updated, entries}`, each entry
/// `{id, title, link, summary, content, published, updated, authors}` (times as unix
/// seconds; missing parts nil), entries in the feed's order.
pub fn parse_feed(text: &str) -> ApiResult {
    let f = feed_rs::parser::parse(text.as_bytes()).map_err(|e| {
        ApiError::Bad(format!(
            "feed.parse: not a feed this parser reads (RSS, Atom, JSON Feed): {e}"
        ))
    })?;
    let kind = match f.feed_type {
        feed_rs::model::FeedType::Atom => "atom",
        feed_rs::model::FeedType::JSON => "json",
        feed_rs::model::FeedType::RSS0 => "rss0",
        feed_rs::model::FeedType::RSS1 => "rss1",
        feed_rs::model::FeedType::RSS2 => "rss2",
    };
    let text_of = |t: &Option<feed_rs::model::Text>| t.as_ref().map(|t| t.content.clone());
    let entries: Vec<Json> = f
        .entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "title": text_of(&e.title),
                "link": e.links.first().map(|l| l.href.clone()),
                "summary": text_of(&e.summary),
                "content": e.content.as_ref().and_then(|c| c.body.clone()),
                "published": e.published.map(|t| t.timestamp()),
                "updated": e.updated.map(|t| t.timestamp()),
                "authors": e.authors.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "kind": kind,
        "title": text_of(&f.title),
        "link": f.links.first().map(|l| l.href.clone()),
        "description": text_of(&f.description),
        "updated": f.updated.map(|t| t.timestamp()),
        "entries": entries,
    }))
}

/// Registers this area's raw functions for Lua.
pub(crate) fn lua(lua: &Lua, raw: &Table, file: &str, _ctx: &ScriptCtx) -> mlua::Result<()> {
    let f = file.to_string();
    raw.set(
        "feed_parse",
        lua.create_function(move |l, text: mlua::String| {
            let r = std::str::from_utf8(&text.as_bytes())
                .map_err(|_| ApiError::Bad("feed.parse: the text is not UTF-8".into()))
                .and_then(parse_feed);
            api_result(l, r, &location(l, &f))
        })?,
    )?;
    Ok(())
}

/// Registers this area's functions for Rhai (`feed::parse`).
pub(crate) fn rhai(engine: &mut Engine, _ctx: &ScriptCtx, f: &str) {
    let mut feed = rhai::Module::new();
    let fl = f.to_string();
    feed.set_native_fn("parse", move |text: &str| {
        parse_feed(text)
            .map(|v| to_rhai(&v))
            .map_err(|e| raise(e, &fl, Position::NONE))
    });
    engine.register_static_module("feed", feed.into());
}
