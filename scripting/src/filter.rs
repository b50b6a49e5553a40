//! The filter tree: small predicates on an event, combined with and/or/not
//! (../shared/STYLE.md point 15). Both languages build the same tree; a script function used
//! as a filter is a [`Filter::Func`].

use serde_json::Value as Json;
use std::fmt;
use std::sync::Arc;

/// A script function used as a filter (true: handle).
pub type FilterFn = Arc<dyn Fn(&Json) -> bool + Send + Sync>;

/// A filter.
#[derive(Clone)]
pub enum Filter {
    /// Everything.
    All,
    /// A command: `/name`, `/name args`, `/name@thisbot`; a name starting with a non-letter
    /// (`.ping`) is matched as written.
    Command(String),
    /// Text containing this (case-insensitive).
    TextContains(String),
    /// Text matching this regular expression.
    Regex(regex::Regex),
    /// Private chats.
    Private,
    /// Groups and supergroups.
    Group,
    /// Broadcast channels.
    Channel,
    /// From one of these users (marked ids).
    FromUsers(Vec<i64>),
    /// In one of these chats (marked ids).
    Chats(Vec<i64>),
    /// Messages others sent.
    Incoming,
    /// Messages this account sent.
    Outgoing,
    /// Messages with media.
    HasMedia,
    /// Messages that mention this account (`@username`, by name, or a reply to its message).
    Mentioned,
    /// A script function.
    Func(FilterFn),
    /// Both.
    And(Box<Filter>, Box<Filter>),
    /// Either.
    Or(Box<Filter>, Box<Filter>),
    /// Not.
    Not(Box<Filter>),
}

impl Filter {
    /// The channels (marked `-100…` ids) this filter names in `chats` (not under a `not`):
    /// the account polls them first, so a handler on a big channel that Telegram does not
    /// push misses nothing.
    pub fn channels_named(&self) -> Vec<i64> {
        let mut out = Vec::new();
        self.collect_channels(&mut out);
        out
    }

    fn collect_channels(&self, out: &mut Vec<i64>) {
        match self {
            Filter::Chats(ids) => out.extend(ids.iter().copied().filter(|id| {
                matches!(
                    fleetgram_engine::peers::unmark(*id).0,
                    fleetgram_engine::peers::PeerKind::Channel
                )
            })),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.collect_channels(out);
                b.collect_channels(out);
            }
            _ => {}
        }
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::All => write!(f, "all"),
            Filter::Command(c) => write!(f, "command({c:?})"),
            Filter::TextContains(t) => write!(f, "text_contains({t:?})"),
            Filter::Regex(r) => write!(f, "regex({:?})", r.as_str()),
            Filter::Private => write!(f, "private"),
            Filter::Group => write!(f, "group"),
            Filter::Channel => write!(f, "channel"),
            Filter::FromUsers(u) => write!(f, "from_users{u:?}"),
            Filter::Chats(c) => write!(f, "chats{c:?}"),
            Filter::Incoming => write!(f, "incoming"),
            Filter::Outgoing => write!(f, "outgoing"),
            Filter::HasMedia => write!(f, "has_media"),
            Filter::Mentioned => write!(f, "mentioned"),
            Filter::Func(_) => write!(f, "function"),
            Filter::And(a, b) => write!(f, "({a:?} & {b:?})"),
            Filter::Or(a, b) => write!(f, "({a:?} | {b:?})"),
            Filter::Not(a) => write!(f, "!{a:?}"),
        }
    }
}

impl Filter {
    /// `self & other`.
    pub fn and(self, other: Filter) -> Filter {
        Filter::And(Box::new(self), Box::new(other))
    }

    /// `self | other`.
    pub fn or(self, other: Filter) -> Filter {
        Filter::Or(Box::new(self), Box::new(other))
    }

    /// `!self`.
    pub fn negate(self) -> Filter {
        Filter::Not(Box::new(self))
    }

    /// A regex filter.
    ///
    /// # Errors
    /// An invalid pattern.
    pub fn regex(pattern: &str) -> Result<Filter, String> {
        regex::Regex::new(pattern)
            .map(Filter::Regex)
            .map_err(|e| format!("invalid regex {pattern:?}: {e}"))
    }

    /// Whether a JSON event passes; `bot_username` is this account's (for `/cmd@bot`).
    pub fn matches(&self, ev: &Json, bot_username: Option<&str>) -> bool {
        let e = crate::event::EventData::from_json(
            fleetgram_engine::updates::UpdateKind::Raw,
            ev.clone(),
        );
        self.matches_event(&e, bot_username)
    }

    /// Whether an event passes as far as the host can tell without running script code:
    /// `None` when it depends on a script function (which runs on the script's thread).
    pub fn host_verdict(
        &self,
        ev: &crate::event::EventData,
        bot_username: Option<&str>,
    ) -> Option<bool> {
        match self {
            Filter::Func(_) => None,
            Filter::And(a, b) => match (
                a.host_verdict(ev, bot_username),
                b.host_verdict(ev, bot_username),
            ) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Filter::Or(a, b) => match (
                a.host_verdict(ev, bot_username),
                b.host_verdict(ev, bot_username),
            ) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Filter::Not(a) => a.host_verdict(ev, bot_username).map(|v| !v),
            leaf => Some(leaf.matches_event(ev, bot_username)),
        }
    }

    /// Whether an event passes (functions see its script-visible fields).
    pub fn matches_event(&self, ev: &crate::event::EventData, bot_username: Option<&str>) -> bool {
        let l = &ev.light;
        match self {
            Filter::All => true,
            Filter::Command(c) => command_matches(&l.text, c, bot_username),
            Filter::TextContains(t) => contains_ci(&l.text, t),
            Filter::Regex(r) => r.is_match(&l.text),
            Filter::Private => l.chat_type == "private",
            Filter::Group => matches!(l.chat_type, "group" | "supergroup"),
            Filter::Channel => l.chat_type == "channel",
            Filter::FromUsers(ids) => l.sender_id.is_some_and(|s| ids.contains(&s)),
            Filter::Chats(ids) => l.chat_id.is_some_and(|c| ids.contains(&c)),
            Filter::Incoming => l.out == Some(false),
            Filter::Outgoing => l.out == Some(true),
            Filter::HasMedia => l.has_media,
            Filter::Mentioned => l.mentioned,
            Filter::Func(f) => f(ev.fields()),
            Filter::And(a, b) => {
                a.matches_event(ev, bot_username) && b.matches_event(ev, bot_username)
            }
            Filter::Or(a, b) => {
                a.matches_event(ev, bot_username) || b.matches_event(ev, bot_username)
            }
            Filter::Not(a) => !a.matches_event(ev, bot_username),
        }
    }
}

/// Case-insensitive `contains` without allocating for ASCII needles.
fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_ascii() {
        let n = needle.as_bytes();
        if n.is_empty() {
            return true;
        }
        hay.as_bytes()
            .windows(n.len())
            .any(|w| w.eq_ignore_ascii_case(n))
    } else {
        hay.to_lowercase().contains(&needle.to_lowercase())
    }
}

fn command_matches(text: &str, cmd: &str, bot: Option<&str>) -> bool {
    let cmd = cmd.trim();
    let prefixed = if cmd.starts_with(|c: char| c.is_alphanumeric()) {
        format!("/{cmd}")
    } else {
        cmd.to_string()
    };
    let first = text.split_whitespace().next().unwrap_or("");
    let (word, target) = match first.split_once('@') {
        Some((w, t)) => (w, Some(t)),
        None => (first, None),
    };
    if !word.eq_ignore_ascii_case(&prefixed) {
        return false;
    }
    match (target, bot) {
        (None, _) => true,
        (Some(t), Some(b)) => t.eq_ignore_ascii_case(b),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_match_with_and_without_bot_name() {
        let ev = |t: &str| json!({"text": t});
        let f = Filter::Command("start".into());
        assert!(f.matches(&ev("/start"), Some("echo_bot")));
        assert!(f.matches(&ev("/start payload"), Some("echo_bot")));
        assert!(f.matches(&ev("/START@Echo_Bot"), Some("echo_bot")));
        assert!(!f.matches(&ev("/start@other_bot"), Some("echo_bot")));
        assert!(!f.matches(&ev("/starter"), Some("echo_bot")));
        assert!(!f.matches(&ev("start"), None));
        let dot = Filter::Command(".ping".into());
        assert!(dot.matches(&ev(".ping"), None));
        assert!(!dot.matches(&ev("/ping"), None));
    }

    #[test]
    fn combinators_and_fields() {
        let ev = json!({"text": "Buy CHEAP pills", "chat_type": "supergroup", "out": false, "sender_id": 7, "chat_id": -100});
        let spam = Filter::TextContains("cheap".into());
        assert!(spam.matches(&ev, None));
        assert!(spam.clone().and(Filter::Group).matches(&ev, None));
        assert!(!spam.clone().and(Filter::Private).matches(&ev, None));
        assert!(Filter::Private.or(Filter::Incoming).matches(&ev, None));
        assert!(!Filter::Outgoing.matches(&ev, None));
        assert!(Filter::Outgoing.negate().matches(&ev, None));
        assert!(Filter::FromUsers(vec![7]).matches(&ev, None));
        assert!(!Filter::Chats(vec![-5]).matches(&ev, None));
        assert!(Filter::regex("(?i)^buy").unwrap().matches(&ev, None));
        assert!(Filter::regex("(").is_err());
        let f = Filter::Func(Arc::new(|e: &Json| e["sender_id"] == 7));
        assert!(f.matches(&ev, None));
        assert_eq!(format!("{:?}", spam.negate()), "!text_contains(\"cheap\")");
    }

    #[test]
    fn the_channels_a_filter_names_are_polled() {
        let ch = -1_000_000_000_123;
        let f = Filter::Chats(vec![ch, 5, -7])
            .and(Filter::Incoming)
            .or(Filter::Chats(vec![-1_000_000_000_456]))
            .or(Filter::Chats(vec![-1_000_000_000_789]).negate());
        // Users and basic groups are not polled; a channel under `not` is not watched.
        assert_eq!(f.channels_named(), vec![ch, -1_000_000_000_456]);
        assert!(Filter::All.channels_named().is_empty());
    }
}
