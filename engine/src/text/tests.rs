//! Round trips and errors of both markups.

use super::*;

fn ents(r: &(String, Vec<enums::MessageEntity>)) -> Vec<(i32, i32, String)> {
    r.1.iter()
        .map(|e| {
            let s = style_of(e).expect("a style");
            (
                s.start as i32,
                (s.end - s.start) as i32,
                format!("{:?}", s.style),
            )
        })
        .collect()
}

type Parser = fn(&str) -> Result<(String, Vec<enums::MessageEntity>), FormatError>;

/// The HTML parsers: the built-in one and, with the feature, html5ever's.
fn html_parsers() -> Vec<(&'static str, Parser)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, Parser)> = vec![("built-in", parse_html)];
    #[cfg(feature = "html5ever")]
    v.push(("html5ever", parse_html5));
    v
}

#[test]
fn html_basic_nesting_and_utf16() {
    for (name, parse_html) in html_parsers() {
        let r =
            parse_html("<b>hi <i>😀 there</i></b> &amp; <a href=\"https://x.y/?a=1&amp;b\">l</a>")
                .unwrap();
        assert_eq!(r.0, "hi 😀 there & l");
        assert_eq!(
            ents(&r),
            vec![
                (0, 11, "Bold".into()),
                (3, 8, "Italic".into()),
                (14, 1, "Link(\"https://x.y/?a=1&b\")".into()),
            ],
            "{name}"
        );
    }
}

#[test]
fn html_every_tag() {
    for (name, parse_html) in html_parsers() {
        let r = parse_html(concat!(
        "<strong>a</strong><em>b</em><ins>c</ins><del>d</del><span class=\"tg-spoiler\">e</span>",
        "<code>f</code><pre language=\"rust\">g</pre><pre><code class=\"language-py\">h</code></pre>",
        "<a href=\"tg://user?id=42\">i</a><tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji>",
        "<blockquote expandable>j</blockquote><u>k</u><s>l</s><tg-spoiler>m</tg-spoiler>",
        "&lt;&gt;&quot;&#65;&#x42;&unknown;"
    ))
    .unwrap();
        assert_eq!(r.0, "abcdefgh👍jklm<>\"AB&unknown;".replace('👍', "i👍"));
        assert_eq!(
            ents(&r),
            vec![
                (0, 1, "Bold".into()),
                (1, 1, "Italic".into()),
                (2, 1, "Underline".into()),
                (3, 1, "Strike".into()),
                (4, 1, "Spoiler".into()),
                (5, 1, "Code".into()),
                (6, 1, "Pre(\"rust\")".into()),
                (7, 1, "Pre(\"py\")".into()),
                (8, 1, "Mention(42)".into()),
                (9, 2, "Emoji(5368324170671202286)".into()),
                (11, 1, "Quote(true)".into()),
                (12, 1, "Underline".into()),
                (13, 1, "Strike".into()),
                (14, 1, "Spoiler".into()),
            ],
            "{name}"
        );
    }
}

#[test]
fn trailing_whitespace_is_outside_entities() {
    let r = parse_html("<b>bold \n</b>next").unwrap();
    assert_eq!(ents(&r), vec![(0, 4, "Bold".into())]);
    let r = parse_markdown("**bold **next").unwrap();
    assert_eq!(ents(&r), vec![(0, 4, "Bold".into())]);
}

/// html5ever reads character references as browsers do (all of HTML's named ones, and
/// the legacy forms without `;`); the built-in parser knows the Bot API's five.
#[cfg(feature = "html5ever")]
#[test]
fn html5ever_reads_references_as_browsers_do() {
    assert_eq!(
        parse_html5("a &lt b &copy; c &eacute;").unwrap().0,
        "a < b © c é"
    );
    assert_eq!(
        parse_html("a &lt b &copy; c").unwrap().0,
        "a &lt b &copy; c"
    );
    let e = parse_html5("x\n<b>y").unwrap_err();
    assert_eq!((e.line, e.message.as_str()), (2, "<b> is never closed"));
}

#[test]
fn html_errors_say_where() {
    let e = |s: &str| parse_html(s).unwrap_err().to_string();
    assert_eq!(e("ok\n <b>x"), "line 2, column 2: <b> is never closed");
    assert_eq!(
        e("<b><i>x</b></i>"),
        "line 1, column 8: </b> found where </i> was expected"
    );
    assert!(e("a <foo>x</foo>").starts_with("line 1, column 3: unsupported tag <foo>"));
    assert!(e("<a>x</a>").contains("without href"));
    assert!(e("x</b>").contains("closes nothing"));
    assert!(e("<tg-emoji emoji-id=\"x\">y</tg-emoji>").contains("not a number"));
    // A `<` that starts no tag is text.
    assert_eq!(parse_html("1 < 2").unwrap().0, "1 < 2");
}

#[test]
fn markdown_every_marker() {
    let r = parse_markdown(concat!(
        "**a**_b_*c*__d__~~e~~||f||`g`\n```rust\nfn h() {}\n```",
        "[i](https://x.y/a\\)b)[j](tg://user?id=7)![👍](tg://emoji?id=9) snake_case \\*k\\*"
    ))
    .unwrap();
    assert_eq!(r.0, "abcdefg\nfn h() {}\nij👍 snake_case *k*");
    assert_eq!(
        ents(&r),
        vec![
            (0, 1, "Bold".into()),
            (1, 2, "Italic".into()),
            (3, 1, "Underline".into()),
            (4, 1, "Strike".into()),
            (5, 1, "Spoiler".into()),
            (6, 1, "Code".into()),
            (8, 9, "Pre(\"rust\")".into()),
            (18, 1, "Link(\"https://x.y/a)b\")".into()),
            (19, 1, "Mention(7)".into()),
            (20, 2, "Emoji(9)".into()),
        ]
    );
}

#[test]
fn markdown_runs_of_three_and_quotes() {
    let r = parse_markdown("***x** y*").unwrap();
    assert_eq!(r.0, "x y");
    assert_eq!(
        ents(&r),
        vec![(0, 3, "Italic".into()), (0, 1, "Bold".into())]
    );
    let r = parse_markdown("**a *b***").unwrap();
    assert_eq!(
        ents(&r),
        vec![(0, 3, "Bold".into()), (2, 1, "Italic".into())]
    );
    let r = parse_markdown("> one\n> **two**\nafter").unwrap();
    assert_eq!(r.0, "one\ntwo\nafter");
    assert_eq!(
        ents(&r),
        vec![(0, 7, "Quote(false)".into()), (4, 3, "Bold".into())]
    );
    let r = parse_markdown("> one\n> ||two||||\nafter").unwrap();
    assert_eq!(
        ents(&r),
        vec![(0, 7, "Quote(true)".into()), (4, 3, "Spoiler".into())]
    );
}

#[test]
fn markdown_errors_say_where() {
    let e = |s: &str| parse_markdown(s).unwrap_err().to_string();
    assert!(
        e("a **b").starts_with("line 1, column 3: ** is never closed"),
        "{}",
        e("a **b")
    );
    assert!(e("x\n`code").starts_with("line 2, column 1: ` code is never closed"));
    assert!(e("```\nx").contains("code block is never closed"));
    assert!(e("**a __b** c__").contains("__ is never closed before"));
    assert!(e("![x](https://a)").contains("tg://emoji?id=N"));
    // Brackets without a target are text.
    assert_eq!(
        parse_markdown("[not a link] (x)").unwrap().0,
        "[not a link] (x)"
    );
}

/// A random text with properly nested styles (what a user can write in either markup).
fn random_doc(rng: &mut impl rand::Rng, markdown: bool) -> (String, Vec<enums::MessageEntity>) {
    const ALPHABET: &[&str] = &[
        "a", "b", "Z", "1", " ", "é", "ß", "😀", "👍🏽", "日本", "\n", "*", "_", "~", "|", "`", "[",
        "]", "(", ")", "<", ">", "&", "\\", "!", "#", "\"",
    ];
    fn leaf(rng: &mut impl rand::Rng, out: &mut String) {
        let n = rng.gen_range(1..6);
        for _ in 0..n {
            out.push_str(ALPHABET[rng.gen_range(0..ALPHABET.len())]);
        }
    }
    fn node(
        rng: &mut impl rand::Rng,
        depth: u32,
        in_link: bool,
        text: &mut String,
        spans: &mut Vec<Span>,
    ) {
        let items = rng.gen_range(1..4);
        for _ in 0..items {
            let start = utf16_len(text);
            let kind = if depth == 0 { 0 } else { rng.gen_range(0..12) };
            let style = match kind {
                1 => Style::Bold,
                2 => Style::Italic,
                3 => Style::Underline,
                4 => Style::Strike,
                5 => Style::Spoiler,
                6 => Style::Code,
                7 => Style::Pre(["", "rust", "c++"][rng.gen_range(0..3)].to_string()),
                8 if !in_link => Style::Link("https://example.com/a_(b)?c=1&d=\"e\"".into()),
                9 if !in_link => Style::Mention(rng.gen_range(1..1_000_000)),
                10 => Style::Emoji(rng.gen_range(1..i64::MAX)),
                _ => {
                    leaf(rng, text);
                    continue;
                }
            };
            match style {
                Style::Code | Style::Pre(_) => leaf(rng, text),
                Style::Emoji(_) => text.push('🙂'),
                Style::Link(_) | Style::Mention(_) => node(rng, depth - 1, true, text, spans),
                _ => node(rng, depth - 1, in_link, text, spans),
            }
            // Entities never end in whitespace.
            if text.ends_with(char::is_whitespace) {
                text.push('x');
            }
            spans.push(Span {
                start,
                end: utf16_len(text),
                style,
            });
            leaf(rng, text);
        }
    }
    let mut text = String::new();
    let mut spans = Vec::new();
    if rng.gen_bool(0.3) {
        // A quote of whole lines first.
        node(rng, 2, false, &mut text, &mut spans);
        if text.ends_with(char::is_whitespace) {
            text.push('x');
        }
        spans.push(Span {
            start: 0,
            end: utf16_len(&text),
            style: Style::Quote(rng.gen_bool(0.5)),
        });
        text.push('\n');
    }
    node(rng, 3, false, &mut text, &mut spans);
    if !markdown && rng.gen_bool(0.3) {
        // In HTML a quote can be anywhere.
        let start = utf16_len(&text);
        node(rng, 2, false, &mut text, &mut spans);
        if text.ends_with(char::is_whitespace) {
            text.push('x');
        }
        spans.push(Span {
            start,
            end: utf16_len(&text),
            style: Style::Quote(false),
        });
    }
    let entities = spans.iter().map(entity).collect::<Vec<_>>();
    (text, entities)
}

#[test]
fn random_documents_round_trip_through_both_markups() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(229);
    for round in 0..3_000 {
        let markdown = round % 2 == 1;
        let (text, entities) = random_doc(&mut rng, markdown);
        let want = normalized(&entities);
        let mode = if markdown {
            ParseMode::Markdown
        } else {
            ParseMode::Html
        };
        let marked = unparse(mode, &text, &entities);
        let back = parse(mode, &marked)
            .unwrap_or_else(|e| panic!("round {round}: {e}\n{text:?}\n{marked}"));
        assert_eq!(back.0, text, "round {round}: {marked}");
        assert_eq!(back.1, want, "round {round}: {marked}");
        if !markdown {
            for (name, p) in html_parsers() {
                let again =
                    p(&marked).unwrap_or_else(|e| panic!("{name} round {round}: {e}\n{marked}"));
                assert_eq!(again, back, "{name} round {round}: {marked}");
            }
        }
    }
}
