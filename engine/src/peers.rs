//! The peer cache and resolver.
//!
//! Access hashes are collected from every `user`/`chat`/`channel` object in every answer
//! (walked through the dynamic codec, so any method, typed or called by scripts, feeds it)
//! and in every delivered update. They are kept in a bounded in-memory map backed by the
//! session store, and resolved from `"me"`, `"@username"`, `t.me` links and numeric ids
//! (Bot API "marked" ids: users positive, basic groups `-id`, channels `-100…id`).

use crate::client::Client;
use crate::error::InvocationError;
pub use crate::state::{marked, unmark, PeerEntry, PeerKind};
use fleetgram_tl::{enums, functions, types};

/// Most peers kept in memory per account (the store keeps all).
pub(crate) const MEMORY_PEERS: usize = 10_000;

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
                        name: None,
                        bot: None,
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

/// The marked id of a resolved peer (`None` for `inputPeerSelf` and `inputPeerEmpty`).
pub fn input_peer_marked_id(p: &enums::InputPeer) -> Option<i64> {
    match p {
        enums::InputPeer::User(u) => Some(u.user_id),
        enums::InputPeer::UserFromMessage(u) => Some(u.user_id),
        enums::InputPeer::Chat(c) => Some(-c.chat_id),
        enums::InputPeer::Channel(c) => Some(marked(PeerKind::Channel, c.channel_id)),
        enums::InputPeer::ChannelFromMessage(c) => Some(marked(PeerKind::Channel, c.channel_id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::collect;
    use fleetgram_tl::dynamic::{Object, Value};

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
            name: None,
            bot: None,
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
