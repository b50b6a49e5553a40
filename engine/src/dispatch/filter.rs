//! Filters: which updates a handler wants. One filter type for the Rust [`Dispatcher`] and
//! for scripts (which build the same tree from Lua or Rhai, their own functions as the
//! custom leaf), judged on one [`View`] of the update computed once.
//!
//! [`Dispatcher`]: super::Dispatcher

use super::*;
use crate::messages::peer_id;
use crate::peers::{marked, unmark, PeerKind};

/// The default custom leaf of the Rust dispatcher: any function of the event.
pub type EventFn = Arc<dyn Fn(&Event) -> bool + Send + Sync>;

/// The kind of chat an update happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChatType {
    /// No chat (a status update, an inline query...).
    #[default]
    None,
    /// A private chat.
    Private,
    /// A basic group.
    Group,
    /// A supergroup.
    Supergroup,
    /// A broadcast channel.
    Channel,
}

impl ChatType {
    /// The name scripts see (`private`, `group`, `supergroup`, `channel`, or empty).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Private => "private",
            Self::Group => "group",
            Self::Supergroup => "supergroup",
            Self::Channel => "channel",
        }
    }
}

/// What filters look at, read once per update straight from the TL update.
#[derive(Debug, Clone)]
pub struct View {
    /// The kind.
    pub kind: UpdateKind,
    /// The message text, a button's data as text, or an inline query (empty when none).
    pub text: String,
    /// The kind of chat.
    pub chat_type: ChatType,
    /// The chat (marked id).
    pub chat_id: Option<i64>,
    /// Who caused it (marked id; this account for its own private messages).
    pub sender_id: Option<i64>,
    /// For messages: sent by this account.
    pub out: Option<bool>,
    /// A message with media.
    pub has_media: bool,
    /// A message that mentions this account.
    pub mentioned: bool,
}

impl View {
    /// The view of `d` for the account whose user id is `me`.
    pub fn of(d: &Delivered, me: Option<i64>) -> View {
        use enums::Update as U;
        let kind = d.kind();
        let mut v = View {
            kind,
            text: String::new(),
            chat_type: ChatType::None,
            chat_id: chat_of(d),
            sender_id: None,
            out: None,
            has_media: false,
            mentioned: false,
        };
        match d.message() {
            Some(enums::Message::Message(m)) => {
                v.text.clone_from(&m.message);
                v.chat_type = chat_type(d, &m.peer_id, m.post);
                v.sender_id = m.from_id.as_ref().map(peer_id).or(match &m.peer_id {
                    enums::Peer::User(u) if !m.out => Some(u.user_id),
                    enums::Peer::User(_) => me,
                    _ => None,
                });
                v.out = Some(m.out);
                v.has_media = m.media.is_some();
                v.mentioned = m.mentioned;
                return v;
            }
            Some(enums::Message::Service(m)) => {
                v.chat_type = chat_type(d, &m.peer_id, m.post);
                v.sender_id = m.from_id.as_ref().map(peer_id);
                v.out = Some(m.out);
                v.mentioned = m.mentioned;
                return v;
            }
            _ => {}
        }
        v.sender_id = match &d.update {
            U::BotCallbackQuery(q) => {
                v.chat_type = chat_type(d, &q.peer, false);
                v.text = q
                    .data
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Some(q.user_id)
            }
            U::BotInlineQuery(q) => {
                v.text.clone_from(&q.query);
                Some(q.user_id)
            }
            U::BotChatInviteRequester(x) => {
                v.chat_type = chat_type(d, &x.peer, false);
                Some(x.user_id)
            }
            U::BotMessageReaction(x) => {
                v.chat_type = chat_type(d, &x.peer, false);
                Some(peer_id(&x.actor))
            }
            U::UserTyping(u) => {
                v.chat_type = ChatType::Private;
                Some(u.user_id)
            }
            U::ChatUserTyping(u) => {
                v.chat_type = ChatType::Group;
                Some(peer_id(&u.from_id))
            }
            U::ChannelUserTyping(u) => {
                v.chat_type = channel_type(d, u.channel_id, false);
                Some(peer_id(&u.from_id))
            }
            U::ChannelParticipant(u) => {
                v.chat_type = channel_type(d, u.channel_id, false);
                Some(u.user_id)
            }
            U::BotStopped(u) => {
                v.chat_type = ChatType::Private;
                Some(u.user_id)
            }
            U::UserStatus(u) => Some(u.user_id),
            U::BotShippingQuery(q) => Some(q.user_id),
            U::BotPrecheckoutQuery(q) => Some(q.user_id),
            _ => None,
        };
        v
    }
}

/// The marked id of the chat an update happened in (its per-chat order; `None`: none).
pub fn chat_of(d: &Delivered) -> Option<i64> {
    use enums::Update as U;
    if let Some(m) = d.message() {
        return match m {
            enums::Message::Message(m) => Some(peer_id(&m.peer_id)),
            enums::Message::Service(m) => Some(peer_id(&m.peer_id)),
            enums::Message::Empty(m) => m.peer_id.as_ref().map(peer_id),
        };
    }
    match &d.update {
        U::BotCallbackQuery(q) => Some(peer_id(&q.peer)),
        U::UserTyping(u) => Some(u.user_id),
        U::ChatUserTyping(u) => Some(marked(PeerKind::Chat, u.chat_id)),
        U::ChannelUserTyping(u) => Some(marked(PeerKind::Channel, u.channel_id)),
        U::DeleteChannelMessages(x) => Some(marked(PeerKind::Channel, x.channel_id)),
        U::ChannelParticipant(u) => Some(marked(PeerKind::Channel, u.channel_id)),
        U::BotChatInviteRequester(u) => Some(peer_id(&u.peer)),
        U::PendingJoinRequests(u) => Some(peer_id(&u.peer)),
        U::BotMessageReaction(u) => Some(peer_id(&u.peer)),
        U::BotStopped(u) => Some(u.user_id),
        _ => None,
    }
}

fn chat_type(d: &Delivered, p: &enums::Peer, post: bool) -> ChatType {
    match p {
        enums::Peer::User(_) => ChatType::Private,
        enums::Peer::Chat(_) => ChatType::Group,
        enums::Peer::Channel(c) => channel_type(d, c.channel_id, post),
    }
}

/// A channel is a broadcast one when its message is a post or the update's chats say so.
fn channel_type(d: &Delivered, id: i64, post: bool) -> ChatType {
    let broadcast = post
        || d.chats
            .iter()
            .any(|x| matches!(x, enums::Chat::Channel(ch) if ch.id == id && ch.broadcast));
    if broadcast {
        ChatType::Channel
    } else {
        ChatType::Supergroup
    }
}

/// Which updates a handler wants; combine with `&`, `|` and `!`. `P` is the custom leaf:
/// a Rust function of the [`Event`] here, a script's own function in scripts.
#[derive(Clone)]
pub enum Filter<P = EventFn> {
    /// Everything.
    All,
    /// Updates of this kind.
    Kind(UpdateKind),
    /// A command: `/name`, `/name args`, `/name@this_bot` (not `/name@other_bot`); a name
    /// starting with a non-letter (`.ping`) is matched as written.
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
    /// The custom leaf.
    Custom(P),
    /// Both.
    And(Box<Filter<P>>, Box<Filter<P>>),
    /// Either.
    Or(Box<Filter<P>>, Box<Filter<P>>),
    /// Not this.
    Not(Box<Filter<P>>),
}

impl<P> std::fmt::Debug for Filter<P> {
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
            Self::FromUsers(u) => write!(f, "from_users({:?})", sorted(u)),
            Self::InChats(c) => write!(f, "chats({:?})", sorted(c)),
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

fn sorted(s: &HashSet<i64>) -> Vec<i64> {
    let mut v: Vec<i64> = s.iter().copied().collect();
    v.sort_unstable();
    v
}

impl<P> std::ops::BitAnd for Filter<P> {
    type Output = Filter<P>;
    fn bitand(self, rhs: Filter<P>) -> Filter<P> {
        Filter::And(Box::new(self), Box::new(rhs))
    }
}

impl<P> std::ops::BitOr for Filter<P> {
    type Output = Filter<P>;
    fn bitor(self, rhs: Filter<P>) -> Filter<P> {
        Filter::Or(Box::new(self), Box::new(rhs))
    }
}

impl<P> std::ops::Not for Filter<P> {
    type Output = Filter<P>;
    fn not(self) -> Filter<P> {
        Filter::Not(Box::new(self))
    }
}

/// The constructors name the Rust dispatcher's filter (scripts build the variants).
impl Filter<EventFn> {
    /// `/name` commands (`/start`, `start` and `.ping` as written).
    pub fn command(name: &str) -> Self {
        let name = name.trim();
        Self::Command(name.strip_prefix('/').unwrap_or(name).to_string())
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

    /// Any function of the event.
    pub fn custom(f: impl Fn(&Event) -> bool + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// Whether `e` passes.
    pub fn matches(&self, e: &Event) -> bool {
        self.judge(&e.view, e.me.as_deref(), &mut |leaf| match leaf {
            Filter::State(s) => Some(e.state() == s.as_deref()),
            Filter::Custom(f) => Some(f(e)),
            _ => None,
        })
        .unwrap_or(false)
    }
}

impl<P> Filter<P> {
    /// The channels (marked ids) this filter names in [`Filter::chats`] (not under a `!`):
    /// the update stream polls them first, so a handler on a big channel that Telegram does
    /// not push misses nothing.
    pub fn channels_named(&self) -> Vec<i64> {
        let mut out = Vec::new();
        self.collect_channels(&mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    fn collect_channels(&self, out: &mut Vec<i64>) {
        match self {
            Self::InChats(ids) => out.extend(
                ids.iter()
                    .copied()
                    .filter(|id| unmark(*id).0 == PeerKind::Channel),
            ),
            Self::And(a, b) | Self::Or(a, b) => {
                a.collect_channels(out);
                b.collect_channels(out);
            }
            _ => {}
        }
    }

    /// Whether the update seen as `v` passes, as far as the leaves this type knows can tell
    /// (`me`: this account's username, for `/command@me`). `ext` judges the conversation
    /// state and custom leaves; `None` from it (or here): it cannot say yet. And, or and not
    /// follow three-valued logic, and a side already decided is not asked again (`false &
    /// x` never calls `ext` for `x`).
    pub fn judge(
        &self,
        v: &View,
        me: Option<&str>,
        ext: &mut dyn FnMut(&Filter<P>) -> Option<bool>,
    ) -> Option<bool> {
        let message = matches!(v.kind, UpdateKind::NewMessage | UpdateKind::MessageEdited);
        Some(match self {
            Self::All => true,
            Self::Kind(k) => v.kind == *k,
            Self::Command(name) => message && command_matches(&v.text, name, me),
            Self::TextContains(s) => contains_ci(&v.text, s),
            Self::Regex(r) => r.is_match(&v.text),
            Self::Private => v.chat_type == ChatType::Private,
            Self::Group => matches!(v.chat_type, ChatType::Group | ChatType::Supergroup),
            Self::Channel => v.chat_type == ChatType::Channel,
            Self::FromUsers(ids) => v.sender_id.is_some_and(|s| ids.contains(&s)),
            Self::InChats(ids) => v.chat_id.is_some_and(|c| ids.contains(&c)),
            Self::HasMedia => v.has_media,
            Self::Mentioned => v.mentioned,
            Self::Incoming => v.out == Some(false),
            Self::Outgoing => v.out == Some(true),
            Self::State(_) | Self::Custom(_) => return ext(self),
            Self::And(a, b) => match a.judge(v, me, ext) {
                Some(false) => false,
                x => match (x, b.judge(v, me, ext)) {
                    (_, Some(false)) => false,
                    (Some(true), Some(true)) => true,
                    _ => return None,
                },
            },
            Self::Or(a, b) => match a.judge(v, me, ext) {
                Some(true) => true,
                x => match (x, b.judge(v, me, ext)) {
                    (_, Some(true)) => true,
                    (Some(false), Some(false)) => false,
                    _ => return None,
                },
            },
            Self::Not(a) => return a.judge(v, me, ext).map(|x| !x),
        })
    }

    /// The update kinds this filter can match (`None`: any), so an update no handler wants
    /// is passed over without building anything.
    pub fn kinds(&self) -> Option<BTreeSet<UpdateKind>> {
        match self {
            Self::Kind(k) => Some([*k].into()),
            Self::Command(_)
            | Self::HasMedia
            | Self::Mentioned
            | Self::Incoming
            | Self::Outgoing => Some(MESSAGE_KINDS.into()),
            Self::TextContains(_) | Self::Regex(_) => Some(
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

/// Case-insensitive `contains` without allocating for ASCII needles.
fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_ascii() {
        let n = needle.as_bytes();
        n.is_empty()
            || hay
                .as_bytes()
                .windows(n.len())
                .any(|w| w.eq_ignore_ascii_case(n))
    } else {
        hay.to_lowercase().contains(&needle.to_lowercase())
    }
}

/// Whether `text` starts with command `cmd` (`start`: `/start`; `.ping` as written),
/// addressed to no one or to `me`.
fn command_matches(text: &str, cmd: &str, me: Option<&str>) -> bool {
    let cmd = cmd.trim();
    let cmd = cmd.strip_prefix('/').unwrap_or(cmd);
    let first = text.split_whitespace().next().unwrap_or("");
    let (word, target) = match first.split_once('@') {
        Some((w, t)) => (w, Some(t)),
        None => (first, None),
    };
    let word = match cmd.starts_with(|c: char| c.is_alphanumeric()) {
        true => match word.strip_prefix('/') {
            Some(w) => w,
            None => return false,
        },
        false => word,
    };
    if !word.eq_ignore_ascii_case(cmd) {
        return false;
    }
    match (target, me) {
        (None, _) => true,
        (Some(t), Some(me)) => t.eq_ignore_ascii_case(me),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(text: &str, chat_type: ChatType, out: bool) -> View {
        View {
            kind: UpdateKind::NewMessage,
            text: text.into(),
            chat_type,
            chat_id: Some(-100),
            sender_id: Some(7),
            out: Some(out),
            has_media: false,
            mentioned: false,
        }
    }

    fn judge(f: &Filter<u8>, v: &View) -> Option<bool> {
        f.judge(v, Some("echo_bot"), &mut |leaf| match leaf {
            Filter::Custom(0) => Some(false),
            Filter::Custom(1) => Some(true),
            _ => None,
        })
    }

    #[test]
    fn commands_match_with_and_without_the_bot_name() {
        let m = |f: &Filter<u8>, t: &str| judge(f, &view(t, ChatType::Private, false));
        let f = Filter::Command("start".into());
        assert_eq!(m(&f, "/start"), Some(true));
        assert_eq!(m(&f, "/start payload"), Some(true));
        assert_eq!(m(&f, "/START@Echo_Bot"), Some(true));
        assert_eq!(m(&f, "/start@other_bot"), Some(false));
        assert_eq!(m(&f, "/starter"), Some(false));
        assert_eq!(m(&f, "start"), Some(false));
        assert_eq!(m(&Filter::Command("/start".into()), "/start"), Some(true));
        let dot = Filter::Command(".ping".into());
        assert_eq!(m(&dot, ".ping"), Some(true));
        assert_eq!(m(&dot, "/ping"), Some(false));
        // Without a username, a command addressed to someone is not ours.
        let v = view("/start@echo_bot", ChatType::Private, false);
        assert_eq!(f.judge(&v, None, &mut |_| None), Some(false));
    }

    #[test]
    fn three_valued_combinators_ask_only_what_they_need() {
        let v = view("Buy CHEAP pills", ChatType::Supergroup, false);
        let spam: Filter<u8> = Filter::TextContains("cheap".into());
        assert_eq!(judge(&spam, &v), Some(true));
        assert_eq!(judge(&(spam.clone() & Filter::Group), &v), Some(true));
        assert_eq!(judge(&(spam.clone() & Filter::Private), &v), Some(false));
        assert_eq!(judge(&(Filter::Private | Filter::Incoming), &v), Some(true));
        assert_eq!(judge(&!Filter::Outgoing, &v), Some(true));
        assert_eq!(judge(&Filter::FromUsers([7].into()), &v), Some(true));
        assert_eq!(judge(&Filter::InChats([-5].into()), &v), Some(false));
        assert_eq!(
            judge(&Filter::Regex(regex::Regex::new("(?i)^buy").unwrap()), &v),
            Some(true)
        );
        // Unknown custom leaves: undecided unless the other side decides.
        let unknown = Filter::Custom(9u8);
        assert_eq!(judge(&(unknown.clone() & spam.clone()), &v), None);
        assert_eq!(judge(&(unknown.clone() & Filter::Private), &v), Some(false));
        assert_eq!(judge(&(unknown.clone() | spam.clone()), &v), Some(true));
        assert_eq!(judge(&!unknown.clone(), &v), None);
        assert_eq!(judge(&(Filter::Custom(1) & spam.clone()), &v), Some(true));
        // A decided side is not asked again.
        let mut asked = 0;
        let f = Filter::Private & Filter::Custom(1u8);
        f.judge(&v, None, &mut |_| {
            asked += 1;
            Some(true)
        });
        assert_eq!(asked, 0);
        assert_eq!(format!("{:?}", !spam), "!text_contains(\"cheap\")");
    }

    #[test]
    fn the_channels_a_filter_names_are_polled() {
        let ch = -1_000_000_000_123;
        let f: Filter<u8> = Filter::InChats([ch, 5, -7].into()) & Filter::Incoming
            | Filter::InChats([-1_000_000_000_456].into())
            | !Filter::InChats([-1_000_000_000_789].into());
        // Users and basic groups are not polled; a channel under `not` is not watched.
        assert_eq!(f.channels_named(), vec![-1_000_000_000_456, ch]);
        assert!(Filter::<u8>::All.channels_named().is_empty());
    }

    #[test]
    fn kinds_tell_which_updates_can_match() {
        let f: Filter<u8> = Filter::Command("x".into()) | Filter::Kind(UpdateKind::CallbackQuery);
        assert_eq!(
            f.kinds(),
            Some(
                [
                    UpdateKind::NewMessage,
                    UpdateKind::MessageEdited,
                    UpdateKind::CallbackQuery
                ]
                .into()
            )
        );
        assert_eq!(
            (Filter::<u8>::Private | Filter::Command("x".into())).kinds(),
            None
        );
    }
}
