//! The peer cache and resolver.
//!
//! Access hashes are collected from every `user`/`chat`/`channel` object in every answer
//! (walked through the dynamic codec, so any method, typed or called by scripts, feeds it)
//! and in every delivered update. They are kept in a bounded in-memory map backed by the
//! session store, and resolved from `"me"`, `"@username"`, `t.me` links and numeric ids
//! (Bot API "marked" ids: users positive, basic groups `-id`, channels `-100…id`).

use crate::client::Client;
use crate::error::InvocationError;
use fleetgram_tl::dynamic::{Object, Value};
use fleetgram_tl::{enums, functions, types};
use serde::{Deserialize, Serialize};

/// Most peers kept in memory per account (the store keeps all).
pub(crate) const MEMORY_PEERS: usize = 10_000;

const CHANNEL_MARK: i64 = 1_000_000_000_000;

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

/// The `InputChannel` of a channel or supergroup peer (`None` for users and basic groups).
pub fn input_channel(p: &enums::InputPeer) -> Option<enums::InputChannel> {
    match p {
        enums::InputPeer::Channel(c) => Some(
            types::InputChannel {
                channel_id: c.channel_id,
                access_hash: c.access_hash,
            }
            .into(),
        ),
        enums::InputPeer::ChannelFromMessage(c) => Some(
            types::InputChannelFromMessage {
                peer: c.peer.clone(),
                msg_id: c.msg_id,
                channel_id: c.channel_id,
            }
            .into(),
        ),
        _ => None,
    }
}

/// The `InputUser` of a user peer (`None` for chats).
pub fn input_user(p: &enums::InputPeer) -> Option<enums::InputUser> {
    match p {
        enums::InputPeer::InputPeerSelf => Some(enums::InputUser::InputUserSelf),
        enums::InputPeer::User(u) => Some(
            types::InputUser {
                user_id: u.user_id,
                access_hash: u.access_hash,
            }
            .into(),
        ),
        enums::InputPeer::UserFromMessage(u) => Some(
            types::InputUserFromMessage {
                peer: u.peer.clone(),
                msg_id: u.msg_id,
                user_id: u.user_id,
            }
            .into(),
        ),
        _ => None,
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
    })
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

/// What a peer reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reference {
    Me,
    Username(String),
    Id(i64),
}

fn parse_reference(s: &str) -> Result<Reference, InvocationError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("me") || t.eq_ignore_ascii_case("self") {
        return Ok(Reference::Me);
    }
    if let Ok(id) = t.parse::<i64>() {
        return Ok(Reference::Id(id));
    }
    let t = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .unwrap_or(t);
    let t = t
        .strip_prefix("t.me/")
        .or_else(|| t.strip_prefix("telegram.me/"))
        .or_else(|| t.strip_prefix("telegram.dog/"))
        .unwrap_or(t);
    let t = t.strip_prefix('@').unwrap_or(t);
    let name = t.split(['/', '?']).next().unwrap_or("");
    let valid = name.len() >= 4
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphabetic());
    if !valid {
        return Err(InvocationError::BadRequest(format!(
            "{s:?} is not a peer: expected \"me\", \"@username\", a t.me link or a numeric id"
        )));
    }
    Ok(Reference::Username(name.to_lowercase()))
}

impl Client {
    /// Remembers peers (memory and store).
    pub(crate) fn remember_peers(&self, peers: Vec<PeerEntry>) {
        if peers.is_empty() {
            return;
        }
        let mut fresh = Vec::with_capacity(peers.len());
        {
            let mut cache = self.peer_cache();
            for p in peers {
                let key = p.marked_id();
                // A hash of lower priority never replaces a cached one of higher priority
                // (min over full, zero over either), whether the better one is in memory or
                // only in the store.
                if p.hash_rank() < 3 && !cache.contains_key(&key) {
                    if let Ok(Some(stored)) = self.store().load_peer(self.account(), key) {
                        cache.insert(key, stored);
                    }
                }
                if cache
                    .get(&key)
                    .is_some_and(|old| old.hash_rank() > p.hash_rank())
                {
                    continue;
                }
                let mut p = p;
                if p.min && p.seen_in.is_none() {
                    p.seen_in = cache.get(&key).and_then(|old| old.seen_in);
                }
                if cache.get(&key) == Some(&p) {
                    continue;
                }
                if cache.len() >= MEMORY_PEERS {
                    // Bounded: drop an arbitrary half; the store still has them.
                    let drop: Vec<i64> = cache.keys().take(MEMORY_PEERS / 2).copied().collect();
                    for k in drop {
                        cache.remove(&k);
                    }
                }
                cache.insert(key, p.clone());
                fresh.push(p);
            }
        }
        if !fresh.is_empty() {
            if let Err(e) = self.store().save_peers(self.account(), &fresh) {
                tracing::warn!(account = %self.account(), error = %e, "cannot store peers");
            }
        }
    }

    /// A cached peer by marked id.
    pub fn cached_peer(&self, marked_id: i64) -> Option<PeerEntry> {
        if let Some(p) = self.peer_cache().get(&marked_id) {
            return Some(p.clone());
        }
        let p = self.store().load_peer(self.account(), marked_id).ok()??;
        self.peer_cache().insert(marked_id, p.clone());
        Some(p)
    }

    /// Forgets a cached peer (after `PEER_ID_INVALID` / `CHANNEL_INVALID`).
    pub fn forget_peer(&self, marked_id: i64) {
        self.peer_cache().remove(&marked_id);
        let _ = self.store().delete_peer(self.account(), marked_id);
    }

    /// Resolves `"me"`, `"@username"`, `"https://t.me/username"` or a numeric (marked) id to
    /// an `InputPeer`. Usernames not cached are looked up with `contacts.resolveUsername`;
    /// a cached username whose hash the server rejects is looked up again.
    ///
    /// # Errors
    /// A malformed reference, an unknown id (never seen in any answer), a failed lookup.
    pub async fn resolve_peer(&self, reference: &str) -> Result<enums::InputPeer, InvocationError> {
        match parse_reference(reference)? {
            Reference::Me => Ok(enums::InputPeer::InputPeerSelf),
            Reference::Id(id) => {
                if Some(id) == self.user_id() {
                    return Ok(enums::InputPeer::InputPeerSelf);
                }
                let cached = self.cached_peer(id);
                if self.is_bot() && cached.as_ref().is_none_or(|p| p.min || p.access_hash == 0) {
                    // Bots name a peer they hold only a min hash for (or none) with hash 0
                    // (`../shared/spec/api/peers.md`, "Access hash"); the server checks that
                    // the bot has met it.
                    let (kind, bare) = unmark(id);
                    return Ok(PeerEntry {
                        kind,
                        id: bare,
                        access_hash: 0,
                        min: false,
                        username: None,
                        seen_in: None,
                    }
                    .input_peer());
                }
                match cached {
                    Some(p) if !p.min => Ok(p.input_peer()),
                    Some(PeerEntry {
                        seen_in: Some((chat, msg_id)),
                        kind,
                        id: bare,
                        ..
                    }) if kind != PeerKind::Chat => {
                        let chat = Box::pin(self.resolve_peer(&chat.to_string())).await?;
                        Ok(match kind {
                            PeerKind::Channel => types::InputPeerChannelFromMessage {
                                peer: chat,
                                msg_id,
                                channel_id: bare,
                            }
                            .into(),
                            _ => types::InputPeerUserFromMessage {
                                peer: chat,
                                msg_id,
                                user_id: bare,
                            }
                            .into(),
                        })
                    }
                    Some(_) => Err(InvocationError::BadRequest(format!(
                        "peer {id} is only known from a min constructor; resolve it by username or through a message"
                    ))),
                    None => Err(InvocationError::BadRequest(format!(
                        "peer {id} is unknown to this account (not seen in any answer yet)"
                    ))),
                }
            }
            Reference::Username(name) => {
                if let Ok(Some(p)) = self.store().peer_by_username(self.account(), &name) {
                    if !p.min {
                        return Ok(p.input_peer());
                    }
                }
                self.resolve_username(&name).await
            }
        }
    }

    async fn resolve_username(&self, name: &str) -> Result<enums::InputPeer, InvocationError> {
        let enums::contacts::ResolvedPeer::ResolvedPeer(r) = self
            .invoke(&functions::contacts::ResolveUsername {
                username: name.to_string(),
                referer: None,
            })
            .await?;
        let (kind, id) = match r.peer {
            enums::Peer::User(u) => (PeerKind::User, u.user_id),
            enums::Peer::Chat(c) => (PeerKind::Chat, c.chat_id),
            enums::Peer::Channel(c) => (PeerKind::Channel, c.channel_id),
        };
        self.cached_peer(marked(kind, id))
            .map(|p| p.input_peer())
            .ok_or_else(|| InvocationError::Decode {
                method: "contacts.resolveUsername".into(),
                reason: format!("the answer did not include peer {id}"),
            })
    }

    /// Calls `f` with the peer `reference` resolves to; on `PEER_ID_INVALID` /
    /// `CHANNEL_INVALID` / `USER_ID_INVALID` the cached entry is dropped, the reference
    /// resolved again from the server, and the call repeated once.
    ///
    /// # Errors
    /// As [`Client::resolve_peer`] and the call.
    pub async fn with_peer<T, F, Fut>(&self, reference: &str, f: F) -> Result<T, InvocationError>
    where
        F: Fn(enums::InputPeer) -> Fut,
        Fut: std::future::Future<Output = Result<T, InvocationError>>,
    {
        let peer = self.resolve_peer(reference).await?;
        match f(peer.clone()).await {
            Err(e)
                if e.is("PEER_ID_INVALID")
                    || e.is("CHANNEL_INVALID")
                    || e.is("USER_ID_INVALID") =>
            {
                let Reference::Username(name) = parse_reference(reference)? else {
                    return Err(e);
                };
                if let Some(id) = input_peer_marked_id(&peer) {
                    self.forget_peer(id);
                }
                let peer = self.resolve_username(&name).await?;
                f(peer).await
            }
            r => r,
        }
    }
}

fn input_peer_marked_id(p: &enums::InputPeer) -> Option<i64> {
    match p {
        enums::InputPeer::User(u) => Some(u.user_id),
        enums::InputPeer::Chat(c) => Some(-c.chat_id),
        enums::InputPeer::Channel(c) => Some(marked(PeerKind::Channel, c.channel_id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        assert_eq!(parse_reference("me").unwrap(), Reference::Me);
        assert_eq!(parse_reference(" 42 ").unwrap(), Reference::Id(42));
        assert_eq!(
            parse_reference("-1001234").unwrap(),
            Reference::Id(-1001234)
        );
        for s in [
            "@Durov",
            "durov",
            "t.me/durov",
            "https://t.me/durov/12",
            "http://telegram.me/durov?x=1",
        ] {
            assert_eq!(
                parse_reference(s).unwrap(),
                Reference::Username("durov".into()),
                "{s}"
            );
        }
        for s in ["@a", "", "https://t.me/", "@1abc", "@bad-name"] {
            let e = parse_reference(s).unwrap_err();
            assert!(e.to_string().contains("is not a peer"), "{s}: {e}");
        }
    }

    #[test]
    fn a_lower_access_hash_never_replaces_a_higher_one() {
        use crate::store::{MemoryStore, SessionStore};
        let store = std::sync::Arc::new(MemoryStore::new());
        let dcs = [(1, "127.0.0.1:9".parse().unwrap())].into_iter().collect();
        let client = Client::new(
            crate::Config::with_dcs(1, "x", dcs, 1),
            store.clone() as std::sync::Arc<dyn SessionStore>,
            "a",
        )
        .unwrap();
        let entry = |hash: i64, min: bool| PeerEntry {
            kind: PeerKind::User,
            id: 42,
            access_hash: hash,
            min,
            username: None,
            seen_in: None,
        };
        // (cached first, then offered) -> which one stays; full > min > zero.
        let table = [
            ((11, false), (22, true), 11),
            ((11, false), (0, false), 11),
            ((22, true), (0, true), 22),
            ((22, true), (11, false), 11),
            ((0, false), (22, true), 22),
            ((11, false), (33, false), 33),
        ];
        for ((h1, m1), (h2, m2), kept) in table {
            client.forget_peer(42);
            let _ = store.delete_peer("a", 42);
            client.remember_peers(vec![entry(h1, m1)]);
            client.remember_peers(vec![entry(h2, m2)]);
            assert_eq!(
                client.cached_peer(42).unwrap().access_hash,
                kept,
                "{h1} then {h2}"
            );
        }
        // The better hash only in the store (memory dropped, or a restart) still wins.
        client.remember_peers(vec![entry(11, false)]);
        client.peer_cache().remove(&42);
        client.remember_peers(vec![entry(22, true)]);
        assert_eq!(client.cached_peer(42).unwrap().access_hash, 11);
        assert_eq!(store.load_peer("a", 42).unwrap().unwrap().access_hash, 11);
    }

    #[test]
    fn marked_ids_round_trip() {
        for (k, id) in [
            (PeerKind::User, 777),
            (PeerKind::Chat, 123),
            (PeerKind::Channel, 1_234_567_890),
        ] {
            assert_eq!(unmark(marked(k, id)), (k, id));
        }
        assert_eq!(marked(PeerKind::Channel, 5), -1_000_000_000_005);
    }

    #[test]
    fn peers_are_found_anywhere_in_an_answer() {
        let user = Object::new("user")
            .with("id", Value::Long(5))
            .with("access_hash", Value::Long(99))
            .with("username", Value::String("Bob".into()));
        let min_channel = Object::new("channel")
            .with("min", Value::Bool(true))
            .with("id", Value::Long(7))
            .with("access_hash", Value::Long(1));
        let no_hash = Object::new("user").with("id", Value::Long(6));
        let v = Value::Object(
            Object::new("messages.messages")
                .with(
                    "users",
                    Value::Vector(vec![Value::Object(user), Value::Object(no_hash)]),
                )
                .with("chats", Value::Vector(vec![Value::Object(min_channel)])),
        );
        let mut out = Vec::new();
        collect(&v, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].username.as_deref(), Some("bob"));
        assert_eq!(
            out[0].input_peer(),
            types::InputPeerUser {
                user_id: 5,
                access_hash: 99
            }
            .into()
        );
        assert!(out[1].min);
        assert_eq!(out[1].marked_id(), -1_000_000_000_007);
    }
}
