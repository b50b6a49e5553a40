//! Lua 5.4 string patterns (`string.find`, `match`, `gmatch`, `gsub`), written in Rust with
//! a step budget, so that no pattern can keep a script inside a library call: Lua's own
//! matcher backtracks without limit (`("a"):rep(40):find(("a-"):rep(40) .. "b")` runs for
//! ages in C, out of reach of the instruction hook). Every step of the matcher is charged
//! to the running handler's budget; semantics and error texts follow lstrlib.c.

/// Most captures a pattern may have (`LUA_MAXCAPTURES`).
pub const MAX_CAPTURES: usize = 32;
/// Most nested matcher calls (`MAXCCALLS`).
const MAX_DEPTH: usize = 200;
const ESC: u8 = b'%';
/// How many steps are counted before the budget is charged.
const CHARGE_EVERY: u64 = 256;

/// A capture's length: a length, still open, or a position capture `()`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Len {
    Of(usize),
    Open,
    Position,
}

/// One capture of a match.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Capture {
    /// A substring: `[start, end)` byte offsets.
    Text(usize, usize),
    /// A position capture: the 1-based position.
    Position(usize),
}

/// What stops a match: a malformed pattern or the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

type R<T> = Result<T, PatternError>;

/// A matcher over one subject and one pattern.
pub struct Matcher<'a> {
    src: &'a [u8],
    pat: &'a [u8],
    level: usize,
    caps: [(usize, Len); MAX_CAPTURES],
    depth: usize,
    steps: u64,
    charge: &'a mut dyn FnMut(u64) -> Result<(), String>,
}

fn err<T>(m: impl Into<String>) -> R<T> {
    Err(PatternError(m.into()))
}

/// `isspace` etc. of the C locale.
fn class_matches(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c < 32 || c == 127,
        b'd' => c.is_ascii_digit(),
        b'g' => (33..=126).contains(&c),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        _ => return cl == c,
    };
    if cl.is_ascii_uppercase() {
        !res
    } else {
        res
    }
}

impl<'a> Matcher<'a> {
    /// A matcher of `pat` (without a leading `^` anchor) over `src`; `charge(n)` is called
    /// every few hundred steps and stops the match when it fails.
    pub fn new(
        src: &'a [u8],
        pat: &'a [u8],
        charge: &'a mut dyn FnMut(u64) -> Result<(), String>,
    ) -> Self {
        Matcher {
            src,
            pat,
            level: 0,
            caps: [(0, Len::Open); MAX_CAPTURES],
            depth: MAX_DEPTH,
            steps: 0,
            charge,
        }
    }

    fn p(&self, i: usize) -> u8 {
        self.pat.get(i).copied().unwrap_or(0)
    }

    fn s(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps % CHARGE_EVERY == 0 {
            (self.charge)(CHARGE_EVERY).map_err(PatternError)?;
        }
        Ok(())
    }

    /// Charges what was counted since the last charge (call at the end of a search).
    pub fn settle(&mut self) -> R<()> {
        let rest = self.steps % CHARGE_EVERY;
        self.steps -= rest;
        (self.charge)(rest).map_err(PatternError)
    }

    fn class_end(&self, mut p: usize) -> R<usize> {
        let c = self.p(p);
        p += 1;
        match c {
            ESC => {
                if p >= self.pat.len() {
                    return err("malformed pattern (ends with '%')");
                }
                Ok(p + 1)
            }
            b'[' => {
                if self.p(p) == b'^' {
                    p += 1;
                }
                loop {
                    if p >= self.pat.len() {
                        return err("malformed pattern (missing ']')");
                    }
                    let c = self.p(p);
                    p += 1;
                    if c == ESC && p < self.pat.len() {
                        p += 1;
                    }
                    if self.p(p) == b']' {
                        break;
                    }
                }
                Ok(p + 1)
            }
            _ => Ok(p),
        }
    }

    /// `[...]` at `p`, closing `]` at `ec`.
    fn bracket_matches(&self, c: u8, mut p: usize, ec: usize) -> bool {
        let mut sig = true;
        if self.p(p + 1) == b'^' {
            sig = false;
            p += 1;
        }
        loop {
            p += 1;
            if p >= ec {
                break;
            }
            if self.p(p) == ESC {
                p += 1;
                if class_matches(c, self.p(p)) {
                    return sig;
                }
            } else if self.p(p + 1) == b'-' && p + 2 < ec {
                p += 2;
                if self.p(p - 2) <= c && c <= self.p(p) {
                    return sig;
                }
            } else if self.p(p) == c {
                return sig;
            }
        }
        !sig
    }

    fn single(&self, s: usize, p: usize, ep: usize) -> bool {
        if s >= self.src.len() {
            return false;
        }
        let c = self.src[s];
        match self.p(p) {
            b'.' => true,
            ESC => class_matches(c, self.p(p + 1)),
            b'[' => self.bracket_matches(c, p, ep - 1),
            pc => pc == c,
        }
    }

    /// Matches the pattern from `p` at subject offset `s`: the end of the match.
    pub fn do_match(&mut self, s: usize, p: usize) -> R<Option<usize>> {
        if self.depth == 0 {
            return err("pattern too complex");
        }
        self.depth -= 1;
        let r = self.match_inner(s, p);
        self.depth += 1;
        r
    }

    fn match_inner(&mut self, mut s: usize, mut p: usize) -> R<Option<usize>> {
        loop {
            self.step()?;
            if p >= self.pat.len() {
                return Ok(Some(s));
            }
            match self.p(p) {
                b'(' => {
                    return if self.p(p + 1) == b')' {
                        self.start_capture(s, p + 2, Len::Position)
                    } else {
                        self.start_capture(s, p + 1, Len::Open)
                    };
                }
                b')' => return self.end_capture(s, p + 1),
                b'$' if p + 1 == self.pat.len() => {
                    return Ok((s == self.src.len()).then_some(s));
                }
                ESC if self.p(p + 1) == b'b' => match self.balance(s, p + 2)? {
                    Some(e) => {
                        s = e;
                        p += 4;
                        continue;
                    }
                    None => return Ok(None),
                },
                ESC if self.p(p + 1) == b'f' => {
                    p += 2;
                    if self.p(p) != b'[' {
                        return err("missing '[' after '%f' in pattern");
                    }
                    let ep = self.class_end(p)?;
                    let previous = if s == 0 { 0 } else { self.src[s - 1] };
                    if !self.bracket_matches(previous, p, ep - 1)
                        && self.bracket_matches(self.s(s), p, ep - 1)
                    {
                        p = ep;
                        continue;
                    }
                    return Ok(None);
                }
                ESC if self.p(p + 1).is_ascii_digit() => {
                    match self.match_capture(s, self.p(p + 1))? {
                        Some(e) => {
                            s = e;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    }
                }
                _ => {
                    let ep = self.class_end(p)?;
                    let suffix = self.p(ep);
                    if !self.single(s, p, ep) {
                        if matches!(suffix, b'*' | b'?' | b'-') {
                            p = ep + 1;
                            continue;
                        }
                        return Ok(None);
                    }
                    match suffix {
                        b'?' => {
                            if let Some(r) = self.do_match(s + 1, ep + 1)? {
                                return Ok(Some(r));
                            }
                            p = ep + 1;
                            continue;
                        }
                        b'+' => return self.max_expand(s + 1, p, ep),
                        b'*' => return self.max_expand(s, p, ep),
                        b'-' => return self.min_expand(s, p, ep),
                        _ => {
                            s += 1;
                            p = ep;
                            continue;
                        }
                    }
                }
            }
        }
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> R<Option<usize>> {
        let mut i = 0;
        while self.single(s + i, p, ep) {
            self.step()?;
            i += 1;
        }
        loop {
            if let Some(r) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(r));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> R<Option<usize>> {
        loop {
            if let Some(r) = self.do_match(s, ep + 1)? {
                return Ok(Some(r));
            }
            if self.single(s, p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: Len) -> R<Option<usize>> {
        if self.level >= MAX_CAPTURES {
            return err("too many captures");
        }
        self.caps[self.level] = (s, what);
        self.level += 1;
        let r = self.do_match(s, p)?;
        if r.is_none() {
            self.level -= 1;
        }
        Ok(r)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> R<Option<usize>> {
        let Some(l) = (0..self.level).rev().find(|&l| self.caps[l].1 == Len::Open) else {
            return err("invalid pattern capture");
        };
        self.caps[l].1 = Len::Of(s - self.caps[l].0);
        let r = self.do_match(s, p)?;
        if r.is_none() {
            self.caps[l].1 = Len::Open;
        }
        Ok(r)
    }

    fn match_capture(&mut self, s: usize, digit: u8) -> R<Option<usize>> {
        let l = (digit as i32) - (b'1' as i32);
        if l < 0 || l as usize >= self.level || self.caps[l as usize].1 == Len::Open {
            return err(format!("invalid capture index %{}", l + 1));
        }
        let (init, len) = self.caps[l as usize];
        let Len::Of(len) = len else { return Ok(None) };
        let end = s + len;
        self.step()?;
        Ok(
            (end <= self.src.len() && self.src[init..init + len] == self.src[s..end])
                .then_some(end),
        )
    }

    fn balance(&mut self, s: usize, p: usize) -> R<Option<usize>> {
        if p + 1 >= self.pat.len() {
            return err("malformed pattern (missing arguments to '%b')");
        }
        if s >= self.src.len() || self.src[s] != self.pat[p] {
            return Ok(None);
        }
        let (b, e) = (self.pat[p], self.pat[p + 1]);
        let mut cont = 1;
        let mut i = s + 1;
        while i < self.src.len() {
            self.step()?;
            let c = self.src[i];
            if c == e {
                cont -= 1;
                if cont == 0 {
                    return Ok(Some(i + 1));
                }
            } else if c == b {
                cont += 1;
            }
            i += 1;
        }
        Ok(None)
    }

    /// Forgets the captures of the last attempt.
    pub fn reset(&mut self) {
        self.level = 0;
        self.depth = MAX_DEPTH;
    }

    /// Capture `i` of a match `[s, e)` (capture 0 is the whole match when the pattern has
    /// none).
    pub fn capture(&self, i: usize, s: usize, e: usize) -> R<Capture> {
        if i >= self.level {
            if i != 0 {
                return err(format!("invalid capture index %{}", i + 1));
            }
            return Ok(Capture::Text(s, e));
        }
        match self.caps[i] {
            (_, Len::Open) => err("unfinished capture"),
            (init, Len::Position) => Ok(Capture::Position(init + 1)),
            (init, Len::Of(len)) => Ok(Capture::Text(init, init + len)),
        }
    }

    /// The captures of a match `[s, e)` (the whole match when the pattern has none and
    /// `whole` is set).
    pub fn captures(&self, s: usize, e: usize, whole: bool) -> R<Vec<Capture>> {
        let n = if self.level == 0 && whole {
            1
        } else {
            self.level
        };
        (0..n).map(|i| self.capture(i, s, e)).collect()
    }
}

/// Whether a pattern has no special characters (a plain search does).
pub fn no_specials(p: &[u8]) -> bool {
    !p.iter().any(|c| b"^$*+?.([%-".contains(c))
}

/// Lua's `posrelatI`: a 1-based start position from an argument that may be negative.
pub fn start_position(pos: i64, len: usize) -> usize {
    if pos > 0 {
        pos as usize
    } else if pos == 0 || pos < -(len as i64) {
        1
    } else {
        (len as i64 + pos + 1) as usize
    }
}

/// The first match of `pat` in `src` from byte offset `init`: `(start, end, matcher)`.
pub fn find<'a>(
    src: &'a [u8],
    pat: &'a [u8],
    init: usize,
    charge: &'a mut dyn FnMut(u64) -> Result<(), String>,
) -> R<(Option<(usize, usize)>, Matcher<'a>)> {
    let (anchor, pat) = match pat.first() {
        Some(b'^') => (true, &pat[1..]),
        _ => (false, pat),
    };
    let mut m = Matcher::new(src, pat, charge);
    let mut s1 = init;
    loop {
        m.reset();
        if let Some(e) = m.do_match(s1, 0)? {
            m.settle()?;
            return Ok((Some((s1, e)), m));
        }
        s1 += 1;
        if anchor || s1 > src.len() {
            break;
        }
    }
    m.settle()?;
    Ok((None, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(_: u64) -> Result<(), String> {
        Ok(())
    }

    fn m(s: &str, p: &str) -> Option<Vec<String>> {
        let mut c = free;
        let (r, m) = find(s.as_bytes(), p.as_bytes(), 0, &mut c).unwrap();
        let (a, e) = r?;
        Some(
            m.captures(a, e, true)
                .unwrap()
                .into_iter()
                .map(|c| match c {
                    Capture::Text(a, b) => s[a..b].to_string(),
                    Capture::Position(p) => format!("@{p}"),
                })
                .collect(),
        )
    }

    fn e(s: &str, p: &str) -> String {
        let mut c = free;
        match find(s.as_bytes(), p.as_bytes(), 0, &mut c) {
            Err(PatternError(m)) => m,
            Ok((Some((a, e)), m)) => match m.captures(a, e, true) {
                Err(PatternError(m)) => m,
                Ok(_) => "no error".into(),
            },
            Ok(_) => "no match".into(),
        }
    }

    #[test]
    fn lua_pattern_semantics() {
        assert_eq!(m("hello world", "o w"), Some(vec!["o w".into()]));
        assert_eq!(
            m("hello world", "(h)(e)"),
            Some(vec!["h".into(), "e".into()])
        );
        assert_eq!(
            m("  key = value ", "(%w+)%s*=%s*(%w+)"),
            Some(vec!["key".into(), "value".into()])
        );
        assert_eq!(m("abc", "^b"), None);
        assert_eq!(m("abc", "c$"), Some(vec!["c".into()]));
        assert_eq!(m("a$b", "$b"), Some(vec!["$b".into()]));
        assert_eq!(
            m("THE (quick) fox", "%((%a+)%)"),
            Some(vec!["quick".into()])
        );
        assert_eq!(m("f(a(b)c)d", "%b()"), Some(vec!["(a(b)c)".into()]));
        assert_eq!(
            m("THE (quick) fox", "%f[%a]%a+%f[%A]"),
            Some(vec!["THE".into()])
        );
        assert_eq!(m("hello", "()ll()"), Some(vec!["@3".into(), "@5".into()]));
        assert_eq!(m("xyzzy", "(z)%1"), Some(vec!["z".into()]));
        assert_eq!(m("aaab", "a-b"), Some(vec!["aaab".into()]));
        assert_eq!(m("aaa", "a-"), Some(vec!["".into()]));
        assert_eq!(m("aaa", "a*"), Some(vec!["aaa".into()]));
        assert_eq!(m("baaa", "ba+"), Some(vec!["baaa".into()]));
        assert_eq!(m("b", "ba?"), Some(vec!["b".into()]));
        assert_eq!(m("x=1, y=2", "[%w_]+"), Some(vec!["x".into()]));
        assert_eq!(m("]", "[]]"), Some(vec!["]".into()]));
        assert_eq!(m("a-", "[a%-]+"), Some(vec!["a-".into()]));
        assert_eq!(m("Z", "[^a-z]"), Some(vec!["Z".into()]));
        assert_eq!(m("\x0b", "%s"), Some(vec!["\x0b".into()]));
        assert_eq!(m("", ""), Some(vec!["".into()]));
        assert_eq!(e("a", "%"), "malformed pattern (ends with '%')");
        assert_eq!(e("a", "[a"), "malformed pattern (missing ']')");
        assert_eq!(e("a", "(a"), "unfinished capture");
        assert_eq!(e("a", "a)"), "invalid pattern capture");
        assert_eq!(e("a", "%1"), "invalid capture index %1");
        assert_eq!(e("a", "%f"), "missing '[' after '%f' in pattern");
        assert_eq!(
            e("a", "%b"),
            "malformed pattern (missing arguments to '%b')"
        );
        assert_eq!(e("a", &"(".repeat(33)), "too many captures");
    }

    #[test]
    fn backtracking_is_charged_and_can_be_stopped() {
        let src = "a".repeat(40);
        let pat = format!("{}b", "a-".repeat(40));
        let mut spent = 0u64;
        let mut budget = |n: u64| {
            spent += n;
            if spent > 1_000_000 {
                Err("instruction limit exceeded".to_string())
            } else {
                Ok(())
            }
        };
        let r = find(src.as_bytes(), pat.as_bytes(), 0, &mut budget);
        assert_eq!(
            r.err(),
            Some(PatternError("instruction limit exceeded".into()))
        );
        assert!(spent > 1_000_000 && spent < 1_001_000, "{spent}");
        // Deep recursion is an error, not a crash.
        let mut c = free;
        let deep = "a?".repeat(300);
        let r = find(&[b'a'; 300], deep.as_bytes(), 0, &mut c);
        assert_eq!(r.err(), Some(PatternError("pattern too complex".into())));
    }
}
