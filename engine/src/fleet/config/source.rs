//! Where in the fleet file: nesting limits, `${VAR}` substitution, and locating a key or an
//! item for error messages (line, column), with the list of known keys for suggestions.

use super::*;

/// Where flow collections (`[`, `{`) of `text` first nest deeper than [`MAX_NESTING`]
/// (quotes and comments skipped), if they do.
pub(super) fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (c, ch) in line.char_indices() {
            match (quote, ch) {
                (Some(q), _) if ch == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(ch),
                (None, '#') if prev.is_whitespace() => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some((n + 1, c + 1));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = ch;
        }
    }
    None
}

/// Replaces `${VAR}` with the variable's value; a missing one is an error at its position.
pub(super) fn expand_env(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        // Comments are left alone.
        let code_end = comment_start(line).unwrap_or(line.len());
        let (code, comment) = line.split_at(code_end);
        let mut rest = code;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(j) = after.find('}') else {
                return Err(ConfigError {
                    file: file.into(),
                    line: n + 1,
                    column: code.len() - rest.len() + i + 1,
                    path: String::new(),
                    message: "unterminated ${...}".into(),
                });
            };
            let var = &after[..j];
            match env(var) {
                Some(v) => {
                    let at = code.len() - rest.len() + i;
                    let whole = rest[..i].trim_end().ends_with([':', '-', '[', '{', ','])
                        && after[j + 1..]
                            .trim_start()
                            .chars()
                            .next()
                            .is_none_or(|c| matches!(c, ',' | ']' | '}'));
                    let safe = substitute(&code[..at], &v, whole).ok_or_else(|| ConfigError {
                        file: file.into(),
                        line: n + 1,
                        column: at + 1,
                        path: String::new(),
                        message: format!(
                            "environment variable {var} holds characters that would change the file's structure here (a line break, a quote, ': ' or ' #'); put the reference in double quotes: \"${{{var}}}\""
                        ),
                    })?;
                    out.push_str(&safe);
                }
                None => {
                    return Err(ConfigError {
                        file: file.into(),
                        line: n + 1,
                        column: code.len() - rest.len() + i + 1,
                        path: String::new(),
                        message: format!("environment variable {var} is not set"),
                    })
                }
            }
            rest = &after[j + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    Ok(out)
}

/// How the value of a `${VAR}` goes into the text after `before` (the line up to the
/// reference) so that it stays one scalar and can never change the file's structure: escaped
/// inside quotes; as it is where it reads as a plain scalar (so numbers stay numbers); in
/// double quotes where it makes up a whole value (`whole`); `None` when none of these fits.
pub(super) fn substitute(before: &str, v: &str, whole: bool) -> Option<String> {
    let mut quote: Option<char> = None;
    for c in before.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None => {}
        }
    }
    let double_quoted = || {
        let mut s = String::with_capacity(v.len() + 2);
        for c in v.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                c if c.is_control() => s.push_str(&format!("\\u{:04x}", c as u32)),
                c => s.push(c),
            }
        }
        s
    };
    match quote {
        Some('"') => Some(double_quoted()),
        Some(_) if v.chars().any(char::is_control) => None,
        Some(_) => Some(v.replace('\'', "''")),
        None => {
            let plain = !v.is_empty()
                && !v
                    .chars()
                    .any(|c| c.is_control() || matches!(c, '"' | '\'' | '`'))
                && !v.contains(": ")
                && !v.contains(" #")
                && !v.ends_with([':', ' '])
                && !v.starts_with([
                    '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '%', '@',
                    ' ',
                ])
                && !v.contains([',', '[', ']', '{', '}']);
            if plain {
                Some(v.to_string())
            } else if whole {
                Some(format!("\"{}\"", double_quoted()))
            } else {
                None
            }
        }
    }
}

/// Where a `#` comment starts in a YAML line (outside quotes).
pub(super) fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return Some(i),
            None => {}
        }
        prev = c;
    }
    None
}

/// 1-based line and column of the first `needle` in `text` (0, 0 if absent).
pub(super) fn locate(text: &str, needle: &str) -> (usize, usize) {
    locate_nth(text, needle, 0)
}

/// Where `field` of item `index` of the top-level list `list` is written (1-based line and
/// column), or the item itself when it has no such field; `None` when the list is not
/// written as a block list.
pub(super) fn locate_in_item(
    text: &str,
    list: &str,
    index: usize,
    field: &str,
) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let code = |l: &str| l[..comment_start(l).unwrap_or(l.len())].to_string();
    let start = lines
        .iter()
        .position(|l| code(l).trim_end().starts_with(&format!("{list}:")))?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    // Items: lines starting with `-` at the indentation of the first one.
    let mut items = Vec::new();
    let mut item_indent = None;
    let mut end = lines.len();
    for (n, l) in lines.iter().enumerate().skip(start + 1) {
        let c = code(l);
        if c.trim().is_empty() {
            continue;
        }
        let d = indent(&c);
        if d == 0 && !c.trim_start().starts_with('-') {
            end = n;
            break;
        }
        if c.trim_start().starts_with('-') && item_indent.is_none_or(|i| i == d) {
            item_indent = Some(d);
            items.push(n);
        } else if item_indent.is_some_and(|i| d < i) {
            end = n;
            break;
        }
    }
    let first = *items.get(index)?;
    let last = items.get(index + 1).copied().unwrap_or(end);
    for (n, l) in lines.iter().enumerate().take(last).skip(first) {
        let c = code(l);
        let bytes = c.as_bytes();
        let mut from = 0;
        while let Some(k) = c[from..].find(&format!("{field}:")) {
            let at = from + k;
            // The key itself, not the end of a longer one (`first_name:` for `name:`).
            let before = at.checked_sub(1).map(|b| bytes[b]);
            if before.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_')) {
                return Some((n + 1, at + 1));
            }
            from = at + 1;
        }
    }
    Some((first + 1, indent(lines[first]) + 1))
}

pub(super) fn locate_nth(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let mut found = 0;
    for (n, line) in text.lines().enumerate() {
        let code = &line[..comment_start(line).unwrap_or(line.len())];
        if let Some(c) = code.find(needle) {
            if found == nth {
                return (n + 1, c + 1);
            }
            found += 1;
        }
    }
    (0, 0)
}

pub(super) const KEYS: &[&str] = &[
    "store",
    "log",
    "level",
    "format",
    "network",
    "api_id",
    "api_hash",
    "proxy",
    "flood",
    "sleep_threshold",
    "transient_retries",
    "updates",
    "channel_poll_limit",
    "idle_difference",
    "script_dirs",
    "local",
    "login_code",
    "info_file",
    "dcs",
    "host",
    "base_port",
    "people",
    "chats",
    "traffic",
    "enabled",
    "interval_ms",
    "http",
    "listen",
    "allowed_hosts",
    "accounts",
    "name",
    "kind",
    "phone",
    "token",
    "username",
    "first_name",
    "password",
    "transport",
    "scripts",
    "file",
    "settings",
    "act_as",
    "allow_methods",
    "pools",
    "media_dir",
    "http_allow",
    "title",
    "owner",
    "members",
    "admins",
];

/// serde_yaml's error with its position, the key path and, for an unknown key, the closest
/// known one.
pub(super) fn yaml_error(file: &str, e: &serde_yaml::Error) -> ConfigError {
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let full = e.to_string();
    // serde_yaml writes "path: message at line L column C".
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m)
        .to_string();
    let (path, mut message) = match msg.split_once(": ") {
        Some((p, m)) if !p.contains(' ') => (p.to_string(), m.to_string()),
        _ => (String::new(), msg.clone()),
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some(unknown) = rest.split('`').next() {
            let best = KEYS
                .iter()
                .map(|k| (strsim::jaro_winkler(unknown, k), *k))
                .filter(|(s, _)| *s > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((_, k)) = best {
                message = format!("{message}; did you mean `{k}`?");
            }
        }
    }
    ConfigError {
        file: file.into(),
        line,
        column,
        path,
        message,
    }
}
