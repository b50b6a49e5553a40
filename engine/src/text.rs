//! Styled text: HTML and Markdown to message entities and back.
//!
//! Telegram styles a message with entities: ranges of the plain text, counted in UTF-16 code
//! units (<https://core.telegram.org/api/entities>). [`parse_html`] and [`parse_markdown`]
//! turn marked-up text into the plain text and its entities; [`to_html`] and
//! [`to_markdown`] go the other way, so `parse(to_x(parse(s)))` gives back the same text and
//! entities. Entity lengths exclude trailing whitespace, as Telegram requires.
//!
//! HTML (what the Bot API accepts): `<b>`/`<strong>`, `<i>`/`<em>`, `<u>`/`<ins>`,
//! `<s>`/`<strike>`/`<del>`, `<tg-spoiler>` or `<span class="tg-spoiler">`, `<code>`,
//! `<pre>` (language from `<pre language="x">` or a nested `<code class="language-x">`),
//! `<a href="...">` (a `tg://user?id=N` link is a mention of that user), `<blockquote>`
//! (`expandable` for a collapsed one), `<tg-emoji emoji-id="N">` for a custom emoji, the
//! character references `&lt; &gt; &amp; &quot; &apos; &#N; &#xN;`.
//!
//! Markdown (what Telegram's apps accept): `**bold**`, `*italic*` or `_italic_`,
//! `__underline__`, `~~strike~~`, `||spoiler||`, `` `code` ``, ```` ```lang\npre``` ````,
//! `[text](url)` (`tg://user?id=N` mentions), `![😀](tg://emoji?id=N)` for a custom emoji,
//! lines starting with `>` for a blockquote (collapsed when its last line ends with `||`);
//! a backslash makes the next character literal. An `_` inside a word is literal.
//!
//! Errors name the line and column of the input and what was wrong.

use fleetgram_tl::{enums, types};

/// How a text is marked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseMode {
    /// HTML (the Bot API's subset).
    Html,
    /// Markdown (Telegram's apps' flavour).
    Markdown,
}

impl std::str::FromStr for ParseMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "html" => Ok(Self::Html),
            "markdown" | "md" | "markdownv2" => Ok(Self::Markdown),
            other => Err(format!(
                "unknown parse mode {other:?} (expected \"html\" or \"markdown\")"
            )),
        }
    }
}

/// Marked-up text that could not be parsed: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct FormatError {
    /// 1-based line of the input.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

/// Parses `input` in `mode`: the plain text and its entities.
///
/// # Errors
/// The markup is malformed (unclosed or mismatched tags, unknown tags, bad attributes).
pub fn parse(
    mode: ParseMode,
    input: &str,
) -> Result<(String, Vec<enums::MessageEntity>), FormatError> {
    match mode {
        ParseMode::Html => parse_html(input),
        ParseMode::Markdown => parse_markdown(input),
    }
}

/// Writes `text` with `entities` in `mode`.
pub fn unparse(mode: ParseMode, text: &str, entities: &[enums::MessageEntity]) -> String {
    match mode {
        ParseMode::Html => to_html(text, entities),
        ParseMode::Markdown => to_markdown(text, entities),
    }
}

/// The length of `s` in UTF-16 code units (how Telegram counts offsets).
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// A style, independent of where it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Style {
    Bold,
    Italic,
    Underline,
    Strike,
    Spoiler,
    Code,
    Pre(String),
    Link(String),
    Mention(i64),
    Emoji(i64),
    Quote(bool),
}

/// A style over `start..end` (UTF-16 units).
#[derive(Debug, Clone)]
struct Span {
    start: usize,
    end: usize,
    style: Style,
}

fn entity(s: &Span) -> enums::MessageEntity {
    let (offset, length) = (s.start as i32, (s.end - s.start) as i32);
    match &s.style {
        Style::Bold => types::MessageEntityBold { offset, length }.into(),
        Style::Italic => types::MessageEntityItalic { offset, length }.into(),
        Style::Underline => types::MessageEntityUnderline { offset, length }.into(),
        Style::Strike => types::MessageEntityStrike { offset, length }.into(),
        Style::Spoiler => types::MessageEntitySpoiler { offset, length }.into(),
        Style::Code => types::MessageEntityCode { offset, length }.into(),
        Style::Pre(language) => types::MessageEntityPre {
            offset,
            length,
            language: language.clone(),
        }
        .into(),
        Style::Link(url) => types::MessageEntityTextUrl {
            offset,
            length,
            url: url.clone(),
        }
        .into(),
        Style::Mention(user_id) => types::MessageEntityMentionName {
            offset,
            length,
            user_id: *user_id,
        }
        .into(),
        Style::Emoji(document_id) => types::MessageEntityCustomEmoji {
            offset,
            length,
            document_id: *document_id,
        }
        .into(),
        Style::Quote(collapsed) => types::MessageEntityBlockquote {
            collapsed: *collapsed,
            offset,
            length,
        }
        .into(),
    }
}

/// The style of an entity, when it is one markup can express (the rest, like mentions by
/// username or URLs, is recognised by the server from the text itself).
fn style_of(e: &enums::MessageEntity) -> Option<Span> {
    use enums::MessageEntity as E;
    let span = |o: i32, l: i32, style| {
        (o >= 0 && l > 0).then(|| Span {
            start: o as usize,
            end: (o + l) as usize,
            style,
        })
    };
    match e {
        E::Bold(x) => span(x.offset, x.length, Style::Bold),
        E::Italic(x) => span(x.offset, x.length, Style::Italic),
        E::Underline(x) => span(x.offset, x.length, Style::Underline),
        E::Strike(x) => span(x.offset, x.length, Style::Strike),
        E::Spoiler(x) => span(x.offset, x.length, Style::Spoiler),
        E::Code(x) => span(x.offset, x.length, Style::Code),
        E::Pre(x) => span(x.offset, x.length, Style::Pre(x.language.clone())),
        E::TextUrl(x) => span(x.offset, x.length, Style::Link(x.url.clone())),
        E::MentionName(x) => span(x.offset, x.length, Style::Mention(x.user_id)),
        E::InputMessageEntityMentionName(x) => match &x.user_id {
            enums::InputUser::InputUser(u) => span(x.offset, x.length, Style::Mention(u.user_id)),
            enums::InputUser::FromMessage(u) => span(x.offset, x.length, Style::Mention(u.user_id)),
            _ => None,
        },
        E::CustomEmoji(x) => span(x.offset, x.length, Style::Emoji(x.document_id)),
        E::Blockquote(x) => span(x.offset, x.length, Style::Quote(x.collapsed)),
        _ => None,
    }
}

/// Sorts spans (by start, longer first) and merges spans of one style that overlap or touch
/// (they mean the same to Telegram, and the markups write them as one).
fn normalize(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        let merged = out.iter_mut().rev().find(|o| {
            o.style == s.style
                && o.end >= s.start
                && !matches!(
                    s.style,
                    Style::Quote(_) | Style::Pre(_) | Style::Code | Style::Emoji(_)
                )
        });
        match merged {
            Some(o) => o.end = o.end.max(s.end),
            None => out.push(s),
        }
    }
    out
}

/// The entities of `entities` that markup can express, normalized: sorted by offset (longer
/// first), spans of one style that overlap or touch merged. Parsing what [`to_html`] or
/// [`to_markdown`] wrote gives back exactly this.
pub fn normalized(entities: &[enums::MessageEntity]) -> Vec<enums::MessageEntity> {
    normalize(entities.iter().filter_map(style_of).collect())
        .iter()
        .map(entity)
        .collect()
}

/// Builds the plain text and its spans while a parser walks the input.
#[derive(Default)]
struct Out {
    text: String,
    len16: usize,
    spans: Vec<Span>,
}

impl Out {
    fn push(&mut self, c: char) {
        self.text.push(c);
        self.len16 += c.len_utf16();
    }

    /// Closes a span opened at `start` (UTF-16) and at byte `start_byte` of the text:
    /// trailing whitespace is left out; an empty span is dropped.
    fn close(&mut self, start: usize, start_byte: usize, style: Style) {
        let body = &self.text[start_byte..];
        let trimmed = body.trim_end();
        let end = start + utf16_len(trimmed);
        if end > start {
            self.spans.push(Span { start, end, style });
        }
    }

    fn finish(self) -> (String, Vec<enums::MessageEntity>) {
        let entities = normalize(self.spans).iter().map(entity).collect();
        (self.text, entities)
    }
}

/// A cursor over the input that knows its line and column (for errors).
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> FormatError {
        let before = &self.s[..pos.min(self.s.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        FormatError {
            line,
            column,
            message: message.into(),
        }
    }
}

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

fn link_style(href: &str) -> Style {
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

/// Writes `text` with `entities` as the Bot API's HTML.
pub fn to_html(text: &str, entities: &[enums::MessageEntity]) -> String {
    render(text, entities, &Html)
}

/// Writes `text` with `entities` as Markdown.
pub fn to_markdown(text: &str, entities: &[enums::MessageEntity]) -> String {
    render(text, entities, &Markdown)
}

/// How a markup writes styles and plain characters.
trait Markup {
    fn open(&self, style: &Style, out: &mut String);
    fn close(&self, style: &Style, out: &mut String);
    /// A character of the text; `code` inside code or pre; `line_start` at a line start.
    fn text(&self, ch: char, code: bool, line_start: bool, out: &mut String);
    /// The start of a line inside a blockquote (Markdown marks every such line).
    fn quote_line(&self, _out: &mut String) {}
    /// Whether the markup can express `span` of `text` (blockquotes need whole lines in
    /// Markdown).
    fn can(&self, _span: &Span, _text: &[(usize, char)]) -> bool {
        true
    }
}

struct Html;

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

/// Renders spans over `text` with a markup: tags are closed and reopened where spans
/// overlap without nesting, so the output always nests properly.
fn render(text: &str, entities: &[enums::MessageEntity], m: &dyn Markup) -> String {
    let chars: Vec<(usize, char)> = {
        let mut at = 0;
        text.chars()
            .map(|c| {
                let r = (at, c);
                at += c.len_utf16();
                r
            })
            .collect()
    };
    let total = chars.last().map_or(0, |(at, c)| at + c.len_utf16());
    let spans: Vec<Span> = normalize(
        entities
            .iter()
            .filter_map(style_of)
            .filter_map(|mut s| {
                s.end = s.end.min(total);
                (s.start < s.end).then_some(s)
            })
            .filter(|s| m.can(s, &chars))
            .collect(),
    );
    let mut out = String::with_capacity(text.len() + spans.len() * 8);
    // Open spans, outermost first (indices into `spans`).
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0;
    let close_until = |pos: usize, stack: &mut Vec<usize>, out: &mut String| {
        // The lowest open span that ends here: everything above it closes, the ones that go
        // on reopen.
        let Some(low) = stack.iter().position(|&i| spans[i].end <= pos) else {
            return;
        };
        let above: Vec<usize> = stack.drain(low..).collect();
        for &i in above.iter().rev() {
            m.close(&spans[i].style, out);
        }
        for &i in &above {
            if spans[i].end > pos {
                m.open(&spans[i].style, out);
                stack.push(i);
            }
        }
    };
    let mut line_start = true;
    for &(at, ch) in &chars {
        close_until(at, &mut stack, &mut out);
        let in_code = stack
            .iter()
            .any(|&i| matches!(spans[i].style, Style::Code | Style::Pre(_)));
        if line_start && !in_code {
            let quoted = stack
                .iter()
                .chain(
                    (next..spans.len())
                        .take_while(|&i| spans[i].start == at)
                        .collect::<Vec<_>>()
                        .iter(),
                )
                .any(|&i| matches!(spans[i].style, Style::Quote(_)));
            if quoted {
                m.quote_line(&mut out);
            }
        }
        while next < spans.len() && spans[next].start <= at {
            if spans[next].start == at {
                m.open(&spans[next].style, &mut out);
                stack.push(next);
            }
            next += 1;
        }
        let code = stack
            .iter()
            .any(|&i| matches!(spans[i].style, Style::Code | Style::Pre(_)));
        m.text(ch, code, line_start, &mut out);
        line_start = ch == '\n';
    }
    close_until(total, &mut stack, &mut out);
    out
}

// ---------------------------------------------------------------------------------------
// Markdown

/// The inline markers, longest first.
const MARKERS: [(&str, Style); 6] = [
    ("**", Style::Bold),
    ("__", Style::Underline),
    ("~~", Style::Strike),
    ("||", Style::Spoiler),
    ("*", Style::Italic),
    ("_", Style::Italic),
];

struct OpenMark {
    marker: &'static str,
    at: usize,
    start: usize,
    start_byte: usize,
    /// `[` of a link or `![` of a custom emoji: closed by `](...)`.
    link: bool,
}

/// Parses Markdown.
///
/// # Errors
/// An unclosed marker, code span or code block; a link with a bad target.
pub fn parse_markdown(input: &str) -> Result<(String, Vec<enums::MessageEntity>), FormatError> {
    let mut c = Cursor::new(input);
    let mut out = Out::default();
    let mut open: Vec<OpenMark> = Vec::new();
    // The open blockquote: input position, UTF-16 start, text byte start.
    let mut quote: Option<(usize, usize, usize)> = None;
    let mut line_start = true;
    while c.peek().is_some() {
        if line_start {
            line_start = false;
            let at = c.pos;
            let quoted = c.eat(">") || c.eat("**>");
            match (quoted, quote) {
                (true, None) => {
                    if c.peek() == Some(' ') {
                        c.bump();
                    }
                    quote = Some((at, out.len16, out.text.len()));
                }
                (true, Some(_)) => {
                    if c.peek() == Some(' ') {
                        c.bump();
                    }
                }
                (false, Some(q)) => {
                    // The quote ended with the previous line (its newline stays outside).
                    close_quote(&mut out, q, false);
                    quote = None;
                }
                (false, None) => {}
            }
        }
        // `||` at the end of a quote's last line marks it collapsed.
        if quote.is_some()
            && c.rest().starts_with("||")
            && ends_quote(&c, 2)
            && !open.iter().any(|o| o.marker == "||")
        {
            let q = quote.take().expect("checked");
            c.pos += 2;
            close_quote(&mut out, q, true);
            continue;
        }
        let ch = c.peek().expect("checked");
        match ch {
            '\\' => {
                c.bump();
                match c.bump() {
                    Some(n) => out.push(n),
                    None => out.push('\\'),
                }
            }
            '\n' => {
                c.bump();
                out.push('\n');
                line_start = true;
            }
            '`' if c.rest().starts_with("```") => {
                let at = c.pos;
                c.pos += 3;
                let line_end = c.rest().find('\n');
                let language = match line_end {
                    Some(e) if !c.rest()[..e].contains(char::is_whitespace) => {
                        let l = c.rest()[..e].to_string();
                        c.pos += e + 1;
                        l
                    }
                    _ => String::new(),
                };
                let start = out.len16;
                let start_byte = out.text.len();
                loop {
                    match c.peek() {
                        None => {
                            return Err(c.error_at(at, "``` code block is never closed with ```"))
                        }
                        Some('\\') if matches!(c.peek_at(1), Some('`' | '\\')) => {
                            c.bump();
                            let n = c.bump().expect("peeked");
                            out.push(n);
                        }
                        Some('`') if c.rest().starts_with("```") => {
                            c.pos += 3;
                            break;
                        }
                        Some(n) => {
                            c.bump();
                            out.push(n);
                        }
                    }
                }
                out.close(start, start_byte, Style::Pre(language));
            }
            '`' => {
                let at = c.pos;
                c.bump();
                let start = out.len16;
                let start_byte = out.text.len();
                loop {
                    match c.bump() {
                        None => return Err(c.error_at(at, "` code is never closed with `")),
                        Some('\\') if matches!(c.peek(), Some('`' | '\\')) => {
                            let n = c.bump().expect("peeked");
                            out.push(n);
                        }
                        Some('`') => break,
                        Some(n) => out.push(n),
                    }
                }
                out.close(start, start_byte, Style::Code);
            }
            '[' | '!' if (ch == '[' || c.rest().starts_with("![")) && link_ahead(&c) => {
                let at = c.pos;
                let marker = if c.eat("![") {
                    "!["
                } else {
                    c.bump();
                    "["
                };
                open.push(OpenMark {
                    marker,
                    at,
                    start: out.len16,
                    start_byte: out.text.len(),
                    link: true,
                });
            }
            ']' if c.peek_at(1) == Some('(') && open.iter().any(|o| o.link) => {
                let at = c.pos;
                let top = open.pop().expect("checked");
                if !top.link {
                    return Err(c.error_at(
                        top.at,
                        format!("{} is never closed (inside a link's text)", top.marker),
                    ));
                }
                c.pos += 2;
                let mut url = String::new();
                loop {
                    match c.bump() {
                        None => return Err(c.error_at(at, "link target is never closed with )")),
                        Some('\\') => {
                            if let Some(n) = c.bump() {
                                url.push(n);
                            }
                        }
                        Some(')') => break,
                        Some(n) => url.push(n),
                    }
                }
                let style = if top.marker == "![" {
                    let id = url
                        .strip_prefix("tg://emoji?id=")
                        .and_then(|id| id.parse::<i64>().ok())
                        .ok_or_else(|| {
                            c.error_at(
                                top.at,
                                format!(
                                    "a custom emoji needs a tg://emoji?id=N target, not {url:?}"
                                ),
                            )
                        })?;
                    Style::Emoji(id)
                } else {
                    link_style(&url)
                };
                out.close(top.start, top.start_byte, style);
            }
            '*' | '_' | '~' | '|' => {
                let at = c.pos;
                let run = c.rest().chars().take_while(|x| *x == ch).count();
                let double = MARKERS
                    .iter()
                    .find(|(m, _)| m.len() == 2 && m.starts_with(ch))
                    .filter(|_| run >= 2)
                    .map(|(m, _)| *m);
                let single = MARKERS
                    .iter()
                    .find(|(m, _)| m.len() == 1 && m.starts_with(ch))
                    .map(|(m, _)| *m)
                    .filter(|_| !(ch == '_' && run == 1 && intraword(&c, &out)));
                // A run of three (`***`) is a double and a single in either order: whichever
                // closes something. A run of two is the double.
                let close = double
                    .filter(|d| closable(&open, d))
                    .or_else(|| single.filter(|s| run != 2 && closable(&open, s)));
                if let Some(m) = close {
                    let i = open
                        .iter()
                        .rposition(|o| !o.link && o.marker == m)
                        .expect("closable");
                    let o = open.remove(i);
                    c.pos += m.len();
                    out.close(o.start, o.start_byte, marker_style(m));
                    continue;
                }
                let Some(m) = double.or(single) else {
                    c.bump();
                    out.push(ch);
                    continue;
                };
                if let Some(o) = open.iter().find(|o| !o.link && o.marker == m) {
                    let inner = open.last().expect("not empty");
                    let opened = c.error_at(o.at, "");
                    return Err(c.error_at(
                        inner.at,
                        format!(
                            "{} is never closed before the {m} opened at line {}, column {} closes",
                            inner.marker, opened.line, opened.column,
                        ),
                    ));
                }
                c.pos += m.len();
                open.push(OpenMark {
                    marker: m,
                    at,
                    start: out.len16,
                    start_byte: out.text.len(),
                    link: false,
                });
            }
            _ => {
                c.bump();
                out.push(ch);
            }
        }
    }
    if let Some(o) = open.pop() {
        let what = if o.link {
            format!("{} has no ](target)", o.marker)
        } else {
            format!(
                "{} is never closed (write \\{} for a literal one)",
                o.marker,
                o.marker.chars().next().unwrap_or('*')
            )
        };
        return Err(c.error_at(o.at, what));
    }
    if let Some(q) = quote {
        close_quote(&mut out, q, false);
    }
    Ok(out.finish())
}

fn marker_style(m: &str) -> Style {
    MARKERS
        .iter()
        .find(|(x, _)| *x == m)
        .map(|(_, s)| s.clone())
        .expect("a known marker")
}

/// Whether marker `m` can close now: it is open, and whatever was opened after it started at
/// the same place (so it may as well have been opened first).
fn closable(open: &[OpenMark], m: &str) -> bool {
    let Some(i) = open.iter().rposition(|o| !o.link && o.marker == m) else {
        return false;
    };
    open[i + 1..]
        .iter()
        .all(|o| !o.link && o.start_byte == open[i].start_byte)
}

fn close_quote(out: &mut Out, (_, start, start_byte): (usize, usize, usize), collapsed: bool) {
    out.close(start, start_byte, Style::Quote(collapsed));
}

/// Whether the input after `skip` bytes ends the quote: the end of the input, or the end of a
/// line after which no quoted line follows.
fn ends_quote(c: &Cursor<'_>, skip: usize) -> bool {
    let rest = &c.rest()[skip..];
    match rest.strip_prefix('\n') {
        None => rest.is_empty(),
        Some(next) => !next.starts_with('>') && !next.starts_with("**>"),
    }
}

/// Whether an `_` at the cursor sits inside a word (then it is literal, as in snake_case).
fn intraword(c: &Cursor<'_>, _out: &Out) -> bool {
    let before = c.s[..c.pos]
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric);
    let after = c.peek_at(1).is_some_and(char::is_alphanumeric);
    before && after
}

/// Whether a `[` (or `![`) at the cursor starts a link: a matching `](` follows (nested
/// brackets balanced; escapes, code spans and code blocks skipped).
fn link_ahead(c: &Cursor<'_>) -> bool {
    let rest = c.rest();
    let rest = rest.strip_prefix('!').unwrap_or(rest);
    let mut depth = 0usize;
    let mut i = 0;
    let b = rest.as_bytes();
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'`' => {
                let fence: &[u8] = if b[i..].starts_with(b"```") {
                    b"```"
                } else {
                    b"`"
                };
                i += fence.len();
                // To the closing fence (a backslash escapes inside code too).
                loop {
                    if i >= b.len() {
                        return false;
                    }
                    if b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i..].starts_with(fence) {
                        i += fence.len() - 1;
                        break;
                    }
                    i += 1;
                }
            }
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return b.get(i + 1) == Some(&b'(');
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

struct Markdown;

impl Markup for Markdown {
    fn open(&self, style: &Style, out: &mut String) {
        match style {
            Style::Bold => out.push_str("**"),
            Style::Italic => out.push('*'),
            Style::Underline => out.push_str("__"),
            Style::Strike => out.push_str("~~"),
            Style::Spoiler => out.push_str("||"),
            Style::Code => out.push('`'),
            Style::Pre(lang) => {
                out.push_str("```");
                out.push_str(lang);
                out.push('\n');
            }
            Style::Link(_) | Style::Mention(_) => {
                // A literal `!` just before would make `![`, a custom emoji: escape it.
                if out.ends_with('!') {
                    out.pop();
                    out.push_str("\\!");
                }
                out.push('[');
            }
            Style::Emoji(_) => out.push_str("!["),
            Style::Quote(_) => {}
        }
    }

    fn close(&self, style: &Style, out: &mut String) {
        match style {
            Style::Bold => out.push_str("**"),
            Style::Italic => out.push('*'),
            Style::Underline => out.push_str("__"),
            Style::Strike => out.push_str("~~"),
            Style::Spoiler => out.push_str("||"),
            Style::Code => out.push('`'),
            Style::Pre(_) => out.push_str("```"),
            Style::Link(url) => {
                out.push_str("](");
                for ch in url.chars() {
                    if matches!(ch, ')' | '\\') {
                        out.push('\\');
                    }
                    out.push(ch);
                }
                out.push(')');
            }
            Style::Mention(id) => out.push_str(&format!("](tg://user?id={id})")),
            Style::Emoji(id) => out.push_str(&format!("](tg://emoji?id={id})")),
            Style::Quote(true) => out.push_str("||"),
            Style::Quote(false) => {}
        }
    }

    fn text(&self, ch: char, code: bool, line_start: bool, out: &mut String) {
        let special = if code {
            matches!(ch, '`' | '\\')
        } else {
            matches!(ch, '\\' | '*' | '_' | '~' | '|' | '`' | '[' | ']')
                || (ch == '>' && line_start)
        };
        if special {
            out.push('\\');
        }
        out.push(ch);
    }

    fn quote_line(&self, out: &mut String) {
        out.push_str("> ");
    }

    fn can(&self, span: &Span, text: &[(usize, char)]) -> bool {
        let Style::Quote(_) = span.style else {
            return true;
        };
        // A quote is whole lines: it starts at a line start and ends at a line end.
        let at = |pos: usize| text.iter().position(|(a, _)| *a == pos);
        let starts =
            span.start == 0 || at(span.start).is_some_and(|i| i > 0 && text[i - 1].1 == '\n');
        let ends = at(span.end).is_none_or(|i| text[i].1 == '\n');
        starts && ends
    }
}

#[cfg(test)]
mod tests {
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
            let r = parse_html(
                "<b>hi <i>😀 there</i></b> &amp; <a href=\"https://x.y/?a=1&amp;b\">l</a>",
            )
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
            "a", "b", "Z", "1", " ", "é", "ß", "😀", "👍🏽", "日本", "\n", "*", "_", "~", "|", "`",
            "[", "]", "(", ")", "<", ">", "&", "\\", "!", "#", "\"",
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
                    let again = p(&marked)
                        .unwrap_or_else(|e| panic!("{name} round {round}: {e}\n{marked}"));
                    assert_eq!(again, back, "{name} round {round}: {marked}");
                }
            }
        }
    }
}
