//! The account's persistent state, as data: auth keys and DC state, the update state, the
//! peer entries with their access hashes, and the marking of peer ids. A leaf: everything
//! else in the engine uses it, it uses nothing of the engine.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fleetgram_tl::dynamic::{Object, Value};
use fleetgram_tl::{enums, types};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Errors of a session store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the database.
    #[error("session database {path} is in use by another process (sled holds an exclusive lock); stop it or use another --data directory")]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// The database could not be opened or written.
    #[error("session database {path}: {reason}")]
    Io {
        /// The database directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A stored record or a session string could not be read.
    #[error("{what}: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why.
        reason: String,
    },
}

/// What is known about one DC of an account (its `Debug` never shows the key).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DcState {
    /// The permanent auth key (256 bytes), once created.
    #[serde(with = "opt_hex")]
    pub auth_key: Option<Vec<u8>>,
    /// The last server salt seen.
    pub salt: i64,
    /// `server_time - local_time`, seconds.
    pub time_offset: i32,
    /// Whether this key is authorized as the account (imported or signed in).
    pub authorized: bool,
}

impl Drop for DcState {
    /// The auth key's bytes are wiped when the state goes.
    fn drop(&mut self) {
        if let Some(k) = &mut self.auth_key {
            zeroize::Zeroize::zeroize(k);
        }
    }
}

impl std::fmt::Debug for DcState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DcState")
            .field(
                "auth_key",
                &self
                    .auth_key
                    .as_ref()
                    .map(|k| format!("<{} bytes, redacted>", k.len())),
            )
            .field("salt", &self.salt)
            .field("time_offset", &self.time_offset)
            .field("authorized", &self.authorized)
            .finish()
    }
}

/// The update state of an account (`updates.state`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateState {
    /// pts.
    pub pts: i32,
    /// qts.
    pub qts: i32,
    /// date.
    pub date: i32,
    /// seq.
    pub seq: i32,
    /// How many updates of the difference from this state were already acknowledged (a
    /// difference is delivered in order, but its messages carry no pts of their own).
    #[serde(default)]
    pub skip: u32,
}

/// What an update commit changes, and nothing else: the common state, and the pts of the
/// channels that moved (`None`: the channel is forgotten). Stores write just this (an
/// acknowledgement no longer rewrites the keys and every channel of the account).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateCommit {
    /// The new committed common state, if it moved.
    pub common: Option<UpdateState>,
    /// Channel id -> its committed pts (`None`: forgotten).
    pub channels: Vec<(i64, Option<i32>)>,
}

impl UpdateCommit {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.common.is_none() && self.channels.is_empty()
    }

    /// Applies it to `st` (a channel's pts never goes back); what `st` now holds for what it
    /// touched (one entry per channel, by channel id), to be written.
    pub fn apply(&self, st: &mut AccountState) -> UpdateCommit {
        if let Some(c) = self.common {
            st.updates = Some(c);
        }
        let mut channels: BTreeMap<i64, Option<i32>> = BTreeMap::new();
        for &(ch, pts) in &self.channels {
            let now = match pts {
                Some(p) => {
                    let e = st.channels.entry(ch).or_insert(p);
                    *e = (*e).max(p);
                    Some(*e)
                }
                None => {
                    st.channels.remove(&ch);
                    None
                }
            };
            channels.insert(ch, now);
        }
        UpdateCommit {
            common: self.common,
            channels: channels.into_iter().collect(),
        }
    }
}

/// Everything stored for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    /// The DC the account lives on.
    pub home_dc: i32,
    /// Per-DC keys and salts.
    pub dcs: BTreeMap<i32, DcState>,
    /// The logged-in user id.
    pub user_id: Option<i64>,
    /// Whether the account is a bot.
    pub bot: bool,
    /// Committed common update state.
    pub updates: Option<UpdateState>,
    /// Committed pts per channel id.
    pub channels: BTreeMap<i64, i32>,
}

impl AccountState {
    /// A fresh account that will start on `home_dc`.
    pub fn new(home_dc: i32) -> Self {
        Self {
            home_dc,
            dcs: BTreeMap::new(),
            user_id: None,
            bot: false,
            updates: None,
            channels: BTreeMap::new(),
        }
    }

    const SESSION_VERSION: u8 = 2;

    /// A portable session string: version byte 2, home DC (i32 LE), auth key (256 bytes),
    /// user id (i64 LE, 0 if unknown), bot flag (1 byte), then the first 4 bytes of the
    /// SHA-256 of all that (a copy-paste slip or a flipped byte is caught), base64url
    /// without padding. Version 1 (the same without the checksum) is still read.
    ///
    /// `None` if the account has no key for its home DC yet.
    pub fn to_session_string(&self) -> Option<String> {
        let key = self.dcs.get(&self.home_dc)?.auth_key.as_ref()?;
        let mut b = Vec::with_capacity(274);
        b.push(Self::SESSION_VERSION);
        b.extend_from_slice(&self.home_dc.to_le_bytes());
        b.extend_from_slice(key);
        b.extend_from_slice(&self.user_id.unwrap_or(0).to_le_bytes());
        b.push(u8::from(self.bot));
        let sum = <sha2::Sha256 as sha2::Digest>::digest(&b);
        b.extend_from_slice(&sum[..4]);
        Some(URL_SAFE_NO_PAD.encode(b))
    }

    /// Reads a string made by [`AccountState::to_session_string`].
    ///
    /// # Errors
    /// Not base64url, an unknown version or the wrong length.
    pub fn from_session_string(s: &str) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::Corrupt {
            what: "session string".into(),
            reason,
        };
        let b = URL_SAFE_NO_PAD
            .decode(s.trim())
            .map_err(|e| bad(format!("not base64url: {e}")))?;
        const BODY: usize = 1 + 4 + 256 + 8 + 1;
        match b.first() {
            Some(1) if b.len() == BODY => {}
            Some(&Self::SESSION_VERSION) if b.len() == BODY + 4 => {
                let sum = <sha2::Sha256 as sha2::Digest>::digest(&b[..BODY]);
                if sum[..4] != b[BODY..] {
                    return Err(bad(
                        "its checksum does not match: it was changed or cut (copy it again)".into(),
                    ));
                }
            }
            Some(v @ (1 | 2)) => {
                return Err(bad(format!(
                    "{} bytes, expected {} (cut or padded?)",
                    b.len(),
                    if *v == 1 { BODY } else { BODY + 4 }
                )))
            }
            Some(v) => {
                return Err(bad(format!(
                    "unknown version {v} (this build reads 1 and 2)"
                )))
            }
            None => return Err(bad("empty".into())),
        }
        let home_dc = i32::from_le_bytes(b[1..5].try_into().expect("4"));
        let user = i64::from_le_bytes(b[261..269].try_into().expect("8"));
        let mut st = AccountState::new(home_dc);
        st.dcs.insert(
            home_dc,
            DcState {
                auth_key: Some(b[5..261].to_vec()),
                authorized: user != 0,
                ..DcState::default()
            },
        );
        st.user_id = (user != 0).then_some(user);
        st.bot = b[269] != 0;
        Ok(st)
    }
}

pub(crate) const CHANNEL_MARK: i64 = 1_000_000_000_000;

/// The kind of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerKind {
    /// A user or bot.
    User,
    /// A basic group.
    Chat,
    /// A channel or supergroup.
    Channel,
}

/// A cached peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEntry {
    /// Kind.
    pub kind: PeerKind,
    /// The bare id.
    pub id: i64,
    /// The access hash (0 for basic groups).
    pub access_hash: i64,
    /// Whether the hash came from a `min` constructor (not usable on its own).
    pub min: bool,
    /// Username, lower-cased, if any.
    pub username: Option<String>,
    /// For a `min` peer: a message it was seen in (marked id of the chat, message id), which
    /// makes it usable through `inputPeer*FromMessage`.
    #[serde(default)]
    pub seen_in: Option<(i64, i32)>,
    /// The name to show: a user's first and last name, a chat's title.
    #[serde(default)]
    pub name: Option<String>,
    /// For a user: whether it is a bot (`None`: not known, e.g. an entry stored before
    /// this was kept).
    #[serde(default)]
    pub bot: Option<bool>,
}

/// A user's first and last name as one (`None` when both are empty).
pub fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let n = format!("{} {}", first.unwrap_or(""), last.unwrap_or(""));
    let n = n.trim();
    (!n.is_empty()).then(|| n.to_string())
}

impl PeerEntry {
    /// The priority of its access hash (`../shared/spec/api/peers.md`, "Access hash"):
    /// 3 full (or a basic group, which needs none), 2 min (usable through a message it was
    /// seen in), 1 zero. A cached hash is never replaced by one of lower priority.
    pub fn hash_rank(&self) -> u8 {
        match (self.kind, self.min, self.access_hash) {
            (PeerKind::Chat, _, _) => 3,
            (_, _, 0) => 1,
            (_, true, _) => 2,
            (_, false, _) => 3,
        }
    }

    /// The Bot API style marked id (users positive, chats `-id`, channels `-100…id`).
    pub fn marked_id(&self) -> i64 {
        marked(self.kind, self.id)
    }

    /// The `InputPeer` for this peer.
    pub fn input_peer(&self) -> enums::InputPeer {
        match self.kind {
            PeerKind::User => types::InputPeerUser {
                user_id: self.id,
                access_hash: self.access_hash,
            }
            .into(),
            PeerKind::Chat => types::InputPeerChat { chat_id: self.id }.into(),
            PeerKind::Channel => types::InputPeerChannel {
                channel_id: self.id,
                access_hash: self.access_hash,
            }
            .into(),
        }
    }
}

/// The marked id of a peer.
pub fn marked(kind: PeerKind, id: i64) -> i64 {
    match kind {
        PeerKind::User => id,
        PeerKind::Chat => -id,
        PeerKind::Channel => -(CHANNEL_MARK + id),
    }
}

/// Splits a marked id.
pub fn unmark(id: i64) -> (PeerKind, i64) {
    if id > 0 {
        (PeerKind::User, id)
    } else if id < -CHANNEL_MARK {
        (PeerKind::Channel, -id - CHANNEL_MARK)
    } else {
        (PeerKind::Chat, -id)
    }
}

fn long(o: &Object, f: &str) -> Option<i64> {
    match o.get(f) {
        Some(Value::Long(v)) => Some(*v),
        _ => None,
    }
}

fn flag(o: &Object, f: &str) -> bool {
    matches!(o.get(f), Some(Value::Bool(true)))
}

fn entry_of(o: &Object) -> Option<PeerEntry> {
    let kind = match &*o.name {
        "user" => PeerKind::User,
        "chat" | "chatForbidden" => PeerKind::Chat,
        "channel" | "channelForbidden" => PeerKind::Channel,
        _ => return None,
    };
    let id = long(o, "id")?;
    let access_hash = long(o, "access_hash");
    if kind != PeerKind::Chat && access_hash.is_none() {
        return None;
    }
    Some(PeerEntry {
        kind,
        id,
        access_hash: access_hash.unwrap_or(0),
        min: flag(o, "min"),
        username: match o.get("username") {
            Some(Value::String(u)) if !u.is_empty() => Some(u.to_lowercase()),
            _ => None,
        },
        seen_in: None,
        name: match kind {
            PeerKind::User => full_name(text(o, "first_name"), text(o, "last_name")),
            _ => text(o, "title").map(str::to_string),
        },
        bot: (kind == PeerKind::User).then(|| flag(o, "bot")),
    })
}

fn text<'a>(o: &'a Object, f: &str) -> Option<&'a str> {
    match o.get(f) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Every peer object inside a decoded value.
pub(crate) fn collect(v: &Value, out: &mut Vec<PeerEntry>) {
    match v {
        Value::Vector(items) => items.iter().for_each(|i| collect(i, out)),
        Value::Object(o) => {
            if let Some(e) = entry_of(o) {
                out.push(e);
            }
            for (_, f) in &o.fields {
                collect(f, out);
            }
        }
        _ => {}
    }
}

/// Peers in typed users/chats vectors (updates).
pub(crate) fn collect_typed(
    users: &[enums::User],
    chats: &[enums::Chat],
    out: &mut Vec<PeerEntry>,
) {
    for u in users {
        if let enums::User::User(u) = u {
            if let Some(h) = u.access_hash {
                out.push(PeerEntry {
                    kind: PeerKind::User,
                    id: u.id,
                    access_hash: h,
                    min: u.min,
                    username: u.username.as_ref().map(|s| s.to_lowercase()),
                    seen_in: None,
                    name: full_name(u.first_name.as_deref(), u.last_name.as_deref()),
                    bot: Some(u.bot),
                });
            }
        }
    }
    for c in chats {
        match c {
            enums::Chat::Chat(c) => out.push(PeerEntry {
                kind: PeerKind::Chat,
                id: c.id,
                access_hash: 0,
                min: false,
                username: None,
                seen_in: None,
                name: Some(c.title.clone()),
                bot: None,
            }),
            enums::Chat::Channel(c) => {
                if let Some(h) = c.access_hash {
                    out.push(PeerEntry {
                        kind: PeerKind::Channel,
                        id: c.id,
                        access_hash: h,
                        min: c.min,
                        username: c.username.as_ref().map(|s| s.to_lowercase()),
                        seen_in: None,
                        name: Some(c.title.clone()),
                        bot: None,
                    });
                }
            }
            _ => {}
        }
    }
}

/// Notes, for `min` peers in `found`, the message `m` they were seen in (as its author).
pub(crate) fn note_seen_in(found: &mut [PeerEntry], m: &enums::Message) {
    let enums::Message::Message(m) = m else {
        return;
    };
    let chat = match &m.peer_id {
        enums::Peer::User(u) => marked(PeerKind::User, u.user_id),
        enums::Peer::Chat(c) => marked(PeerKind::Chat, c.chat_id),
        enums::Peer::Channel(c) => marked(PeerKind::Channel, c.channel_id),
    };
    let author = match &m.from_id {
        Some(enums::Peer::User(u)) => marked(PeerKind::User, u.user_id),
        Some(enums::Peer::Channel(c)) => marked(PeerKind::Channel, c.channel_id),
        _ => return,
    };
    for p in found
        .iter_mut()
        .filter(|p| p.min && p.marked_id() == author)
    {
        p.seen_in = Some((chat, m.id));
    }
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&fleetgram_tl::dynamic::json::to_hex(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| fleetgram_tl::dynamic::json::from_hex(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}
