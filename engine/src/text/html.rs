//! The Bot API's HTML: parsing (built-in tokenizer, or html5ever's) and writing.

use super::*;

// ---------------------------------------------------------------------------------------
// HTML

/// An open tag: its name, where it started (input position, UTF-16, text byte), its style.
struct OpenTag {
    name: String,
    at: (usize, usize),
    start: usize,
    start_byte: usize,
    style: Option<Style>,
}

/// Builds text and entities from HTML tags and text, whichever tokenizer found them (the
/// built-in one, or html5ever's behind the `html5ever` feature): the same rules, the same
/// errors.
#[derive(Default)]
struct HtmlBuilder {
    out: Out,
    open: Vec<OpenTag>,
}

fn error(at: (usize, usize), message: impl Into<String>) -> FormatError {
    FormatError {
        line: at.0,
        column: at.1,
        message: message.into(),
    }
}

impl HtmlBuilder {
    #[cfg_attr(not(feature = "html5ever"), allow(dead_code))]
    fn text(&mut self, t: &str) {
        for c in t.chars() {
            self.out.push(c);
        }
    }

    fn end_tag(&mut self, name: &str, at: (usize, usize)) -> Result<(), FormatError> {
        let Some(top) = self.open.pop() else {
            return Err(error(at, format!("</{name}> closes nothing")));
        };
        if top.name != name {
            return Err(error(
                at,
                format!("</{name}> found where </{}> was expected", top.name),
            ));
        }
        if let Some(style) = top.style {
            self.out.close(top.start, top.start_byte, style);
        }
        Ok(())
    }

    fn start_tag(
        &mut self,
        name: &str,
        attrs: &[(String, String)],
        self_closing: bool,
        at: (usize, usize),
    ) -> Result<(), FormatError> {
        if self_closing {
            return Err(error(
                at,
                format!("<{name}/> cannot be empty: close it with </{name}>"),
            ));
        }
        let attr = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let style = match name {
            "b" | "strong" => Some(Style::Bold),
            "i" | "em" => Some(Style::Italic),
            "u" | "ins" => Some(Style::Underline),
            "s" | "strike" | "del" => Some(Style::Strike),
            "tg-spoiler" => Some(Style::Spoiler),
            "span" => match attr("class") {
                Some("tg-spoiler") => Some(Style::Spoiler),
                _ => {
                    return Err(error(
                        at,
                        "<span> needs class=\"tg-spoiler\" (the only span Telegram has)",
                    ))
                }
            },
            "code" => {
                let in_pre = self.open.last().is_some_and(|t| t.name == "pre");
                let lang = attr("class").and_then(|v| v.strip_prefix("language-"));
                match (in_pre, lang) {
                    // <pre><code class="language-x">: the pre gets the language.
                    (true, Some(lang)) => {
                        if let Some(Style::Pre(l)) =
                            self.open.last_mut().and_then(|t| t.style.as_mut())
                        {
                            *l = lang.to_string();
                        }
                        None
                    }
                    (true, None) => None,
                    (false, _) => Some(Style::Code),
                }
            }
            "pre" => Some(Style::Pre(attr("language").unwrap_or("").to_string())),
            "a" => {
                let href = attr("href")
                    .ok_or_else(|| error(at, "<a> without href (write <a href=\"URL\">)"))?;
                Some(link_style(href))
            }
            "blockquote" => Some(Style::Quote(
                attr("expandable").is_some() || attr("collapsed").is_some(),
            )),
            "tg-emoji" => {
                let id =
                    attr("emoji-id").ok_or_else(|| error(at, "<tg-emoji> without emoji-id"))?;
                let id = id
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| error(at, format!("emoji-id {id:?} is not a number")))?;
                Some(Style::Emoji(id))
            }
            other => {
                return Err(error(
                    at,
                    format!(
                        "unsupported tag <{other}> (Telegram has b, strong, i, em, u, ins, s, \
                         strike, del, tg-spoiler, span class=\"tg-spoiler\", code, pre, a, \
                         blockquote, tg-emoji)"
                    ),
                ))
            }
        };
        self.open.push(OpenTag {
            name: name.to_string(),
            at,
            start: self.out.len16,
            start_byte: self.out.text.len(),
            style,
        });
        Ok(())
    }

    fn finish(mut self) -> Result<(String, Vec<enums::MessageEntity>), FormatError> {
        if let Some(t) = self.open.pop() {
            return Err(error(t.at, format!("<{}> is never closed", t.name)));
        }
        Ok(self.out.finish())
    }
}

/// Parses the Bot API's HTML.
///
/// # Errors
/// Unknown or mismatched tags, unclosed tags, a link without `href`, a bad `emoji-id`.
pub fn parse_html(input: &str) -> Result<(String, Vec<enums::MessageEntity>), FormatError> {
    let mut c = Cursor::new(input);
    let mut b = HtmlBuilder::default();
    let pos = |c: &Cursor<'_>, at: usize| {
        let e = c.error_at(at, "");
        (e.line, e.column)
    };
    while let Some(ch) = c.peek() {
        match ch {
            '<' if matches!(c.peek_at(1), Some(n) if n.is_ascii_alphabetic() || n == '/') => {
                let at = c.pos;
                c.bump();
                if c.eat("/") {
                    let name = tag_name(&mut c);
                    skip_ws(&mut c);
                    if !c.eat(">") {
                        return Err(c.error_at(at, format!("malformed end tag </{name}")));
                    }
                    b.end_tag(&name, pos(&c, at))?;
                    continue;
                }
                let name = tag_name(&mut c);
                let (attrs, self_closing) = attributes(&mut c, at, &name)?;
                b.start_tag(&name, &attrs, self_closing, pos(&c, at))?;
            }
            '&' => {
                let at = c.pos;
                c.bump();
                match char_reference(&mut c) {
                    Some(r) => b.out.push(r),
                    None => {
                        c.pos = at + 1;
                        b.out.push('&');
                    }
                }
            }
            _ => {
                c.bump();
                b.out.push(ch);
            }
        }
    }
    b.finish()
}

/// Parses the Bot API's HTML with html5ever's spec-compliant tokenizer (character
/// references, attribute syntax and text as browsers read them), building entities with the
/// same rules as [`parse_html`]. Errors name the line (html5ever does not give columns).
///
/// # Errors
/// As [`parse_html`].
#[cfg(feature = "html5ever")]
pub fn parse_html5(input: &str) -> Result<(String, Vec<enums::MessageEntity>), FormatError> {
    use html5ever::tokenizer::{
        BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
    };
    use std::cell::RefCell;

    struct Sink {
        b: RefCell<HtmlBuilder>,
        err: RefCell<Option<FormatError>>,
    }

    impl TokenSink for Sink {
        type Handle = ();
        fn process_token(&self, token: Token, line: u64) -> TokenSinkResult<()> {
            if self.err.borrow().is_some() {
                return TokenSinkResult::Continue;
            }
            let at = (line as usize, 1);
            let r = match token {
                Token::TagToken(Tag {
                    kind,
                    name,
                    self_closing,
                    attrs,
                }) => {
                    let name = name.to_string();
                    match kind {
                        TagKind::StartTag => {
                            let attrs: Vec<(String, String)> = attrs
                                .iter()
                                .map(|a| (a.name.local.to_string(), a.value.to_string()))
                                .collect();
                            self.b
                                .borrow_mut()
                                .start_tag(&name, &attrs, self_closing, at)
                        }
                        TagKind::EndTag => self.b.borrow_mut().end_tag(&name, at),
                    }
                }
                Token::CharacterTokens(t) => {
                    self.b.borrow_mut().text(&t);
                    Ok(())
                }
                Token::NullCharacterToken => {
                    self.b.borrow_mut().text("\0");
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = r {
                *self.err.borrow_mut() = Some(e);
            }
            TokenSinkResult::Continue
        }
    }

    let sink = Sink {
        b: RefCell::new(HtmlBuilder::default()),
        err: RefCell::new(None),
    };
    let tok = Tokenizer::new(sink, TokenizerOpts::default());
    let queue = BufferQueue::default();
    queue.push_back(input.into());
    let _ = tok.feed(&queue);
    tok.end();
    if let Some(e) = tok.sink.err.take() {
        return Err(e);
    }
    tok.sink.b.into_inner().finish()
}

pub(super) fn link_style(href: &str) -> Style {
    let user = href
        .strip_prefix("tg://user?id=")
        .and_then(|id| id.parse::<i64>().ok());
    match user {
        Some(id) => Style::Mention(id),
        None => Style::Link(href.to_string()),
    }
}

fn skip_ws(c: &mut Cursor<'_>) {
    while c.peek().is_some_and(char::is_whitespace) {
        c.bump();
    }
}

fn tag_name(c: &mut Cursor<'_>) -> String {
    let mut name = String::new();
    while let Some(ch) = c.peek() {
        if ch.is_ascii_alphanumeric() || ch == '-' {
            name.push(ch.to_ascii_lowercase());
            c.bump();
        } else {
            break;
        }
    }
    name
}

/// Reads a start tag's attributes up to and including `>`, and whether it ended with `/>`.
fn attributes(
    c: &mut Cursor<'_>,
    at: usize,
    tag: &str,
) -> Result<(Vec<(String, String)>, bool), FormatError> {
    let mut attrs = Vec::new();
    loop {
        skip_ws(c);
        if c.eat(">") {
            return Ok((attrs, false));
        }
        if c.eat("/>") {
            return Ok((attrs, true));
        }
        let name = tag_name(c);
        if name.is_empty() {
            return match c.peek() {
                None => Err(c.error_at(at, format!("<{tag} is not closed with >"))),
                Some(ch) => Err(c.error_at(c.pos, format!("unexpected {ch:?} in <{tag}>"))),
            };
        }
        skip_ws(c);
        if !c.eat("=") {
            attrs.push((name, String::new()));
            continue;
        }
        skip_ws(c);
        let raw = match c.peek() {
            Some(q @ ('"' | '\'')) => {
                c.bump();
                let start = c.pos;
                let Some(len) = c.rest().find(q) else {
                    return Err(
                        c.error_at(start, format!("attribute {name} is not closed with {q}"))
                    );
                };
                c.pos += len + 1;
                &c.s[start..start + len]
            }
            _ => {
                let start = c.pos;
                while c.peek().is_some_and(|ch| !ch.is_whitespace() && ch != '>') {
                    c.bump();
                }
                &c.s[start..c.pos]
            }
        };
        attrs.push((name, decode_references(raw)));
    }
}

/// Reads a character reference after `&` (up to and including `;`).
fn char_reference(c: &mut Cursor<'_>) -> Option<char> {
    let rest = c.rest();
    let end = rest.find(';').filter(|e| *e <= 10)?;
    let name = &rest[..end];
    let ch = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    c.pos += end + 1;
    Some(ch)
}

fn decode_references(s: &str) -> String {
    let mut c = Cursor::new(s);
    let mut out = String::with_capacity(s.len());
    while let Some(ch) = c.bump() {
        if ch == '&' {
            if let Some(r) = char_reference(&mut c) {
                out.push(r);
                continue;
            }
        }
        out.push(ch);
    }
    out
}

fn escape_html(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

pub(super) struct Html;

impl Markup for Html {
    fn open(&self, style: &Style, out: &mut String) {
        match style {
            Style::Bold => out.push_str("<b>"),
            Style::Italic => out.push_str("<i>"),
            Style::Underline => out.push_str("<u>"),
            Style::Strike => out.push_str("<s>"),
            Style::Spoiler => out.push_str("<tg-spoiler>"),
            Style::Code => out.push_str("<code>"),
            Style::Pre(lang) if lang.is_empty() => out.push_str("<pre>"),
            Style::Pre(lang) => {
                out.push_str("<pre><code class=\"language-");
                escape_html(lang, out);
                out.push_str("\">");
            }
            Style::Link(url) => {
                out.push_str("<a href=\"");
                escape_html(url, out);
                out.push_str("\">");
            }
            Style::Mention(id) => {
                out.push_str(&format!("<a href=\"tg://user?id={id}\">"));
            }
            Style::Emoji(id) => out.push_str(&format!("<tg-emoji emoji-id=\"{id}\">")),
            Style::Quote(false) => out.push_str("<blockquote>"),
            Style::Quote(true) => out.push_str("<blockquote expandable>"),
        }
    }

    fn close(&self, style: &Style, out: &mut String) {
        out.push_str(match style {
            Style::Bold => "</b>",
            Style::Italic => "</i>",
            Style::Underline => "</u>",
            Style::Strike => "</s>",
            Style::Spoiler => "</tg-spoiler>",
            Style::Code => "</code>",
            Style::Pre(lang) if lang.is_empty() => "</pre>",
            Style::Pre(_) => "</code></pre>",
            Style::Link(_) | Style::Mention(_) => "</a>",
            Style::Emoji(_) => "</tg-emoji>",
            Style::Quote(_) => "</blockquote>",
        });
    }

    fn text(&self, ch: char, _code: bool, _line_start: bool, out: &mut String) {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
}
