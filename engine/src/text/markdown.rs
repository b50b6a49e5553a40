//! Markdown as Telegram's apps write it: parsing and writing.

use super::html::link_style;
use super::*;

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

pub(super) struct Markdown;

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
