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

mod html;
mod markdown;
#[cfg(test)]
mod tests;

pub use html::parse_html;
#[cfg(feature = "html5ever")]
pub use html::parse_html5;
use html::Html;
pub use markdown::parse_markdown;
use markdown::Markdown;
