//! Filters: which updates a handler wants.

use super::*;

/// Which updates a handler wants; combine with `&`, `|` and `!`.
#[derive(Clone)]
pub enum Filter {
    /// Everything.
    All,
    /// Updates of this kind.
    Kind(UpdateKind),
    /// A bot command (`/start`, `/start@this_bot`, with or without arguments).
    Command(String),
    /// Text containing this (case-insensitive).
    TextContains(String),
    /// Text matching this pattern.
    Regex(regex::Regex),
    /// In a private chat.
    Private,
    /// In a group or supergroup.
    Group,
    /// In a broadcast channel.
    Channel,
    /// From one of these users (marked ids).
    FromUsers(HashSet<i64>),
    /// In one of these chats (marked ids).
    InChats(HashSet<i64>),
    /// A message with media.
    HasMedia,
    /// A message that mentions this account.
    Mentioned,
    /// A message someone else sent.
    Incoming,
    /// A message this account sent.
    Outgoing,
    /// The conversation is in this state (`None`: in no state).
    State(Option<String>),
    /// Any function of the event.
    Custom(Arc<dyn Fn(&Event) -> bool + Send + Sync>),
    /// Both.
    And(Box<Filter>, Box<Filter>),
    /// Either.
    Or(Box<Filter>, Box<Filter>),
    /// Not this.
    Not(Box<Filter>),
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => write!(f, "all"),
            Self::Kind(k) => write!(f, "kind({k:?})"),
            Self::Command(c) => write!(f, "command({c:?})"),
            Self::TextContains(t) => write!(f, "text_contains({t:?})"),
            Self::Regex(r) => write!(f, "regex({:?})", r.as_str()),
            Self::Private => write!(f, "private"),
            Self::Group => write!(f, "group"),
            Self::Channel => write!(f, "channel"),
            Self::FromUsers(u) => write!(f, "from_users({u:?})"),
            Self::InChats(c) => write!(f, "chats({c:?})"),
            Self::HasMedia => write!(f, "has_media"),
            Self::Mentioned => write!(f, "mentioned"),
            Self::Incoming => write!(f, "incoming"),
            Self::Outgoing => write!(f, "outgoing"),
            Self::State(s) => write!(f, "state({s:?})"),
            Self::Custom(_) => write!(f, "custom"),
            Self::And(a, b) => write!(f, "({a:?} & {b:?})"),
            Self::Or(a, b) => write!(f, "({a:?} | {b:?})"),
            Self::Not(a) => write!(f, "!{a:?}"),
        }
    }
}

impl std::ops::BitAnd for Filter {
    type Output = Filter;
    fn bitand(self, rhs: Filter) -> Filter {
        Filter::And(Box::new(self), Box::new(rhs))
    }
}

impl std::ops::BitOr for Filter {
    type Output = Filter;
    fn bitor(self, rhs: Filter) -> Filter {
        Filter::Or(Box::new(self), Box::new(rhs))
    }
}

impl std::ops::Not for Filter {
    type Output = Filter;
    fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

impl Filter {
    /// `/name` commands.
    pub fn command(name: &str) -> Self {
        Self::Command(name.trim_start_matches('/').to_string())
    }

    /// Text containing `s`.
    pub fn text_contains(s: &str) -> Self {
        Self::TextContains(s.to_lowercase())
    }

    /// Text matching `pattern`.
    ///
    /// # Errors
    /// The pattern is not a valid regular expression.
    pub fn regex(pattern: &str) -> Result<Self, regex::Error> {
        regex::Regex::new(pattern).map(Self::Regex)
    }

    /// In a private chat.
    pub fn private() -> Self {
        Self::Private
    }

    /// In a group.
    pub fn group() -> Self {
        Self::Group
    }

    /// In a channel.
    pub fn channel() -> Self {
        Self::Channel
    }

    /// From these users.
    pub fn from_users(ids: impl IntoIterator<Item = i64>) -> Self {
        Self::FromUsers(ids.into_iter().collect())
    }

    /// In these chats.
    pub fn chats(ids: impl IntoIterator<Item = i64>) -> Self {
        Self::InChats(ids.into_iter().collect())
    }

    /// With media.
    pub fn has_media() -> Self {
        Self::HasMedia
    }

    /// Mentioning this account (`@username`, by name, or a reply to its message).
    pub fn mentioned() -> Self {
        Self::Mentioned
    }

    /// The channels (marked ids) this filter names in [`Filter::chats`] (not under a `!`):
    /// the update stream polls them first, so a handler on a big channel that Telegram does
    /// not push misses nothing.
    pub fn channels_named(&self) -> Vec<i64> {
        let mut out = Vec::new();
        self.collect_channels(&mut out);
        out
    }

    fn collect_channels(&self, out: &mut Vec<i64>) {
        match self {
            Self::InChats(ids) => out.extend(ids.iter().copied().filter(|id| {
                matches!(crate::peers::unmark(*id).0, crate::peers::PeerKind::Channel)
            })),
            Self::And(a, b) | Self::Or(a, b) => {
                a.collect_channels(out);
                b.collect_channels(out);
            }
            _ => {}
        }
    }

    /// Sent by someone else.
    pub fn incoming() -> Self {
        Self::Incoming
    }

    /// Sent by this account.
    pub fn outgoing() -> Self {
        Self::Outgoing
    }

    /// In conversation state `s`.
    pub fn state(s: &str) -> Self {
        Self::State(Some(s.to_string()))
    }

    /// In the variant of typed state `s` (whatever its fields hold).
    pub fn in_state<S: FsmState>(s: &S) -> Self {
        Self::State(Some(s.state_name().to_string()))
    }

    /// In no conversation state.
    pub fn no_state() -> Self {
        Self::State(None)
    }

    /// Any function.
    pub fn custom(f: impl Fn(&Event) -> bool + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// Whether `e` passes.
    pub fn matches(&self, e: &Event) -> bool {
        match self {
            Self::All => true,
            Self::Kind(k) => e.kind() == *k,
            Self::Command(name) => e.message.as_ref().is_some_and(|m| {
                let t = m.text();
                let Some(first) = t.split_whitespace().next() else {
                    return false;
                };
                let Some(cmd) = first.strip_prefix('/') else {
                    return false;
                };
                let cmd = cmd.split('@').next().unwrap_or("");
                cmd.eq_ignore_ascii_case(name)
            }),
            Self::TextContains(s) => e.text().to_lowercase().contains(s.as_str()),
            Self::Regex(r) => r.is_match(&e.text()),
            Self::Private => e.chat_id().is_some_and(|c| c > 0),
            Self::Group => match e.chat_id() {
                Some(c) if c < 0 => !is_broadcast(e, c),
                _ => false,
            },
            Self::Channel => e.chat_id().is_some_and(|c| c < 0 && is_broadcast(e, c)),
            Self::FromUsers(ids) => e.sender_id().is_some_and(|s| ids.contains(&s)),
            Self::InChats(ids) => e.chat_id().is_some_and(|c| ids.contains(&c)),
            Self::HasMedia => e.message.as_ref().is_some_and(|m| m.media().is_some()),
            Self::Mentioned => e.message.as_ref().is_some_and(Message::mentioned),
            Self::Incoming => e.message.as_ref().is_some_and(|m| !m.outgoing()),
            Self::Outgoing => e.outgoing(),
            Self::State(s) => e.state() == s.as_deref(),
            Self::Custom(f) => f(e),
            Self::And(a, b) => a.matches(e) && b.matches(e),
            Self::Or(a, b) => a.matches(e) || b.matches(e),
            Self::Not(a) => !a.matches(e),
        }
    }

    /// The update kinds this filter can match (`None`: any).
    pub fn kinds(&self) -> Option<BTreeSet<UpdateKind>> {
        match self {
            Self::Kind(k) => Some([*k].into()),
            Self::Command(_)
            | Self::Regex(_)
            | Self::HasMedia
            | Self::Mentioned
            | Self::Incoming
            | Self::Outgoing => Some(MESSAGE_KINDS.into()),
            Self::TextContains(_) => Some(
                MESSAGE_KINDS
                    .into_iter()
                    .chain([UpdateKind::CallbackQuery, UpdateKind::InlineQuery])
                    .collect(),
            ),
            Self::And(a, b) => match (a.kinds(), b.kinds()) {
                (Some(x), Some(y)) => Some(x.intersection(&y).copied().collect()),
                (x, y) => x.or(y),
            },
            Self::Or(a, b) => match (a.kinds(), b.kinds()) {
                (Some(x), Some(y)) => Some(x.union(&y).copied().collect()),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Whether chat `c` of the event is a broadcast channel (from the update's chats).
fn is_broadcast(e: &Event, c: i64) -> bool {
    let (kind, id) = crate::peers::unmark(c);
    kind == crate::peers::PeerKind::Channel
        && e.update
            .chats
            .iter()
            .any(|x| matches!(x, enums::Chat::Channel(ch) if ch.id == id && ch.broadcast))
}
