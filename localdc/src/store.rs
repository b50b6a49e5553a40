//! Persistence of the local DC's state in sled (with `--data`): auth keys, accounts and their
//! settings, authorizations, messages and update logs, so a restarted DC continues where it
//! stopped and clients keep their keys, sessions' accounts and update sequences.
//!
//! ```text
//! tree "keys"   key_id                 -> dc, key, temp expiry, bound perm key, salts
//! tree "users"  user_id                -> profile, password, contacts, blocked, reads, pts/qts/seq, bot token
//! tree "auths"  perm_key_id            -> user_id
//! tree "msgs"   user_id ++ msg_id (BE) -> one stored message
//! tree "log"    user_id ++ pts (BE)    -> one update of the user's pts sequence (TL bytes)
//! tree "qlog"   user_id ++ qts (BE)    -> one update of the user's qts sequence (TL bytes)
//! tree "profile_photos" user_id        -> the user's profile photos (file ids, newest first)
//! tree "mentions" user_id ++ channel_id -> the user's unread mentions in the channel
//! tree "chats"  chat_id                -> a basic group
//! tree "channels" channel_id           -> a channel: profile, members, bans, invites, requests
//! tree "meta"   "access_secret"        -> the key of access hashes (so they stay valid)
//! tree "files"  file_id                -> photo/document, DC, date, MIME type, attributes;
//!                                         the contents are in `files/<id>` next to the db
//! ```
//!
//! A channel's messages and pts log are kept in "msgs" and "log" under its box key
//! (`state::channel_box`), like a user's.
//!
//! Records use TL's own encoding (the crate's `ser` helpers and `Reader`). Transient data
//! (login codes, SRP challenges, exported authorizations, sessions) is not kept.

use crate::state::{
    channel_box, Admin, AuthKeyEntry, Banned, Channel, Invite, LogEntry, Member, Password, State,
    StoredMessage, UpdateState, User,
};
use fleetgram_protocol::crypto::srp::SrpParams;
use fleetgram_protocol::crypto::AuthKey;
use fleetgram_tl::{enums, ser, types, Deserializable, DeserializeError, Reader, Serializable};
use std::path::Path;

/// The sled database and its trees.
pub(crate) struct Store {
    db: sled::Db,
    keys: sled::Tree,
    users: sled::Tree,
    auths: sled::Tree,
    msgs: sled::Tree,
    log: sled::Tree,
    qlog: sled::Tree,
    profile_photos: sled::Tree,
    mentions: sled::Tree,
    chats: sled::Tree,
    channels: sled::Tree,
    sched: sled::Tree,
    meta: sled::Tree,
    files: sled::Tree,
    /// Where file contents are kept (one file each).
    blobs: std::path::PathBuf,
    /// Written since the last sync.
    dirty: std::sync::atomic::AtomicBool,
}

/// Why the store could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (including: another process has the database open).
    #[error("{path}: {source}")]
    Db {
        /// The database directory.
        path: String,
        /// Why.
        source: sled::Error,
    },
    /// A record could not be decoded.
    #[error("{path}: corrupt record in {tree}: {reason}")]
    Corrupt {
        /// The database directory.
        path: String,
        /// The tree.
        tree: &'static str,
        /// What was wrong.
        reason: String,
    },
}

fn opt_str(buf: &mut Vec<u8>, s: &Option<String>) {
    ser::bool(buf, &s.is_some());
    if let Some(s) = s {
        ser::string(buf, s);
    }
}

fn read_opt_str(r: &mut Reader<'_>) -> Result<Option<String>, DeserializeError> {
    Ok(if r.bool()? { Some(r.string()?) } else { None })
}

fn opt_i32(buf: &mut Vec<u8>, v: Option<i32>) {
    ser::bool(buf, &v.is_some());
    if let Some(v) = v {
        ser::i32(buf, &v);
    }
}

fn read_opt_i32(r: &mut Reader<'_>) -> Result<Option<i32>, DeserializeError> {
    Ok(if r.bool()? { Some(r.i32()?) } else { None })
}

fn ids(buf: &mut Vec<u8>, v: impl ExactSizeIterator<Item = i64>) {
    ser::u32(buf, v.len() as u32);
    for x in v {
        ser::i64(buf, &x);
    }
}

fn read_ids(r: &mut Reader<'_>) -> Result<Vec<i64>, DeserializeError> {
    let n = r.vector_len(false, 8)?;
    (0..n).map(|_| r.i64()).collect()
}

fn key2(a: i64, b: i32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&a.to_be_bytes());
    k[8..].copy_from_slice(&b.to_be_bytes());
    k
}

impl Store {
    /// Opens (or creates) `dir/state.sled`.
    ///
    /// # Errors
    /// sled errors, including the database being open in another process.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("state.sled");
        let err = |source| StoreError::Db {
            path: path.display().to_string(),
            source,
        };
        let db = sled::open(&path).map_err(err)?;
        // The DC's auth keys and its users' data are secrets: only the owner may read them
        // (sled creates its files with the umask's mode).
        restrict_tree(dir);
        Ok(Self {
            keys: db.open_tree("keys").map_err(err)?,
            users: db.open_tree("users").map_err(err)?,
            auths: db.open_tree("auths").map_err(err)?,
            msgs: db.open_tree("msgs").map_err(err)?,
            log: db.open_tree("log").map_err(err)?,
            qlog: db.open_tree("qlog").map_err(err)?,
            profile_photos: db.open_tree("profile_photos").map_err(err)?,
            mentions: db.open_tree("mentions").map_err(err)?,
            chats: db.open_tree("chats").map_err(err)?,
            channels: db.open_tree("channels").map_err(err)?,
            meta: db.open_tree("meta").map_err(err)?,
            files: db.open_tree("files").map_err(err)?,
            blobs: dir.join("files"),
            dirty: false.into(),
            sched: db.open_tree("scheduled").map_err(err)?,
            db,
        })
    }

    fn path(&self) -> String {
        "state.sled".into()
    }

    pub fn put_key(&self, id: i64, e: &AuthKeyEntry) {
        let mut b = Vec::with_capacity(400);
        ser::i32(&mut b, &e.dc);
        ser::bytes(&mut b, &e.key.to_bytes());
        opt_i32(&mut b, e.temp_expires_at);
        ser::bool(&mut b, &e.bound_to.is_some());
        if let Some(p) = e.bound_to {
            ser::i64(&mut b, &p);
        }
        ser::u32(&mut b, e.salts.len() as u32);
        for s in &e.salts {
            s.serialize_bare(&mut b);
        }
        self.write(&self.keys, &id.to_be_bytes(), &b);
    }

    fn write(&self, tree: &sled::Tree, key: &[u8], value: &[u8]) {
        self.dirty.store(true, std::sync::atomic::Ordering::Release);
        if let Err(e) = tree.insert(key, value) {
            tracing::error!(error = %e, "writing the local DC's state failed");
        }
    }

    fn delete(&self, tree: &sled::Tree, key: &[u8]) {
        self.dirty.store(true, std::sync::atomic::Ordering::Release);
        if let Err(e) = tree.remove(key) {
            tracing::error!(error = %e, "writing the local DC's state failed");
        }
    }

    pub fn put_auth(&self, perm_key: i64, user: Option<i64>) {
        match user {
            Some(u) => self.write(&self.auths, &perm_key.to_be_bytes(), &u.to_be_bytes()),
            None => self.delete(&self.auths, &perm_key.to_be_bytes()),
        }
    }

    pub fn put_user(&self, state: &State, id: i64) {
        let Some(u) = state.users.get(&id) else {
            self.delete(&self.users, &id.to_be_bytes());
            return;
        };
        let mut b = Vec::with_capacity(256);
        opt_str(&mut b, &u.phone);
        ser::string(&mut b, &u.first_name);
        ser::string(&mut b, &u.last_name);
        opt_str(&mut b, &u.username);
        ser::bool(&mut b, &u.bot);
        ser::i32(&mut b, &u.home_dc);
        ser::bool(&mut b, &u.password.is_some());
        if let Some(p) = &u.password {
            ser::bytes(&mut b, &p.params.salt1);
            ser::bytes(&mut b, &p.params.salt2);
            ser::i32(&mut b, &(p.params.g as i32));
            ser::bytes(&mut b, &p.params.p);
            ser::bytes(&mut b, &p.verifier);
            opt_str(&mut b, &p.hint);
        }
        let token = state
            .bot_tokens
            .iter()
            .find(|(_, &v)| v == id)
            .map(|(k, _)| k.clone());
        opt_str(&mut b, &token);
        let st = state.updates.get(&id).copied().unwrap_or_default();
        for v in [
            st.pts,
            st.qts,
            st.seq,
            state.boxes.get(&id).map_or(1, |b| b.next_id),
        ] {
            ser::i32(&mut b, &v);
        }
        ids(
            &mut b,
            state
                .contacts
                .get(&id)
                .map(|c| c.iter().copied().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter(),
        );
        ids(
            &mut b,
            state
                .blocked
                .get(&id)
                .map(|c| c.iter().copied().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter(),
        );
        let reads: Vec<(i64, (i32, i32))> = state
            .read
            .iter()
            .filter(|((u, _), _)| *u == id)
            .map(|((_, p), v)| (*p, *v))
            .collect();
        ser::u32(&mut b, reads.len() as u32);
        for (peer, (inbox, outbox)) in reads {
            ser::i64(&mut b, &peer);
            ser::i32(&mut b, &inbox);
            ser::i32(&mut b, &outbox);
        }
        self.write(&self.users, &id.to_be_bytes(), &b);
    }

    pub fn put_message(&self, user: i64, m: Option<&StoredMessage>, id: i32) {
        let Some(m) = m else {
            self.delete(&self.msgs, &key2(user, id));
            return;
        };
        let mut b = Vec::with_capacity(64 + m.text.len());
        ser::i64(&mut b, &m.peer);
        ser::bool(&mut b, &m.out);
        ser::i64(&mut b, &m.from);
        ser::i32(&mut b, &m.date);
        ser::string(&mut b, &m.text);
        m.entities.serialize(&mut b);
        opt_i32(&mut b, m.reply_to);
        opt_i32(&mut b, m.edit_date);
        ser::bool(&mut b, &m.silent);
        opt_i32(&mut b, m.twin);
        ser::bool(&mut b, &m.random_id.is_some());
        if let Some(r) = m.random_id {
            ser::i64(&mut b, &r);
        }
        ser::bool(&mut b, &m.fwd_from.is_some());
        if let Some((from, date)) = m.fwd_from {
            ser::i64(&mut b, &from);
            ser::i32(&mut b, &date);
        }
        ser::bool(&mut b, &m.pinned);
        ser::bool(&mut b, &m.chat.is_some());
        if let Some((chat, gid)) = m.chat {
            ser::i64(&mut b, &chat);
            ser::i64(&mut b, &gid);
        }
        ser::bool(&mut b, &m.action.is_some());
        if let Some(a) = &m.action {
            a.serialize(&mut b);
        }
        ser::bool(&mut b, &m.reply_markup.is_some());
        if let Some(k) = &m.reply_markup {
            k.serialize(&mut b);
        }
        ser::bool(&mut b, &m.media.is_some());
        if let Some(x) = &m.media {
            x.serialize(&mut b);
        }
        // Added later: records written before end here.
        ser::bool(&mut b, &m.discussion.is_some());
        if let Some((channel, post)) = m.discussion {
            ser::i64(&mut b, &channel);
            ser::i32(&mut b, &post);
        }
        ser::bool(&mut b, &m.mentioned);
        ser::bool(&mut b, &m.unread_mention);
        self.write(&self.msgs, &key2(user, id), &b);
    }

    pub fn put_chat(&self, id: i64, chat: Option<&crate::state::Chat>) {
        let Some(c) = chat else {
            self.delete(&self.chats, &id.to_be_bytes());
            return;
        };
        let mut b = Vec::with_capacity(64);
        ser::string(&mut b, &c.title);
        ser::i64(&mut b, &c.creator);
        ser::i32(&mut b, &c.date);
        ser::i32(&mut b, &c.version);
        ser::u32(&mut b, c.members.len() as u32);
        for (u, inviter, date) in &c.members {
            ser::i64(&mut b, u);
            ser::i64(&mut b, inviter);
            ser::i32(&mut b, date);
        }
        self.write(&self.chats, &id.to_be_bytes(), &b);
    }

    pub fn put_channel(&self, id: i64, ch: Option<&Channel>) {
        let Some(c) = ch else {
            self.delete(&self.channels, &id.to_be_bytes());
            return;
        };
        let mut b = Vec::with_capacity(256);
        ser::string(&mut b, &c.title);
        ser::string(&mut b, &c.about);
        ser::i64(&mut b, &c.creator);
        ser::bool(&mut b, &c.megagroup);
        opt_str(&mut b, &c.username);
        ser::i32(&mut b, &c.date);
        ser::u32(&mut b, c.members.len() as u32);
        for (u, m) in &c.members {
            ser::i64(&mut b, u);
            ser::i64(&mut b, &m.inviter);
            ser::i32(&mut b, &m.date);
            ser::bool(&mut b, &m.admin.is_some());
            if let Some(a) = &m.admin {
                a.rights.serialize(&mut b);
                ser::i64(&mut b, &a.by);
                opt_str(&mut b, &a.rank);
            }
            ser::bool(&mut b, &m.restricted.is_some());
            if let Some(r) = &m.restricted {
                put_banned(&mut b, r);
            }
        }
        ser::u32(&mut b, c.kicked.len() as u32);
        for (u, r) in &c.kicked {
            ser::i64(&mut b, u);
            put_banned(&mut b, r);
        }
        ser::u32(&mut b, c.invites.len() as u32);
        for i in &c.invites {
            ser::string(&mut b, &i.hash);
            ser::i64(&mut b, &i.admin);
            ser::i32(&mut b, &i.date);
            ser::bool(&mut b, &i.request_needed);
            opt_str(&mut b, &i.title);
            opt_i32(&mut b, i.expire_date);
            opt_i32(&mut b, i.usage_limit);
            ser::i32(&mut b, &i.usage);
            ser::bool(&mut b, &i.revoked);
            ser::bool(&mut b, &i.permanent);
        }
        ser::u32(&mut b, c.requests.len() as u32);
        for (u, (date, hash)) in &c.requests {
            ser::i64(&mut b, u);
            ser::i32(&mut b, date);
            ser::string(&mut b, hash);
        }
        ser::bool(&mut b, &c.linked.is_some());
        if let Some(l) = c.linked {
            ser::i64(&mut b, &l);
        }
        self.write(&self.channels, &id.to_be_bytes(), &b);
    }

    /// Keeps a file: its contents in `files/<id>` (written first), its metadata in the db.
    pub fn put_file(&self, id: i64, f: &crate::state::StoredFile) {
        let path = self.blobs.join(format!("{id}"));
        let written = std::fs::create_dir_all(&self.blobs)
            .and_then(|()| std::fs::write(&path, f.data.as_slice()))
            .and_then(|()| match &f.thumb {
                Some(t) => std::fs::write(self.blobs.join(format!("{id}.thumb")), t.as_slice()),
                None => Ok(()),
            });
        if let Err(e) = written {
            tracing::error!(path = %path.display(), error = %e, "storing a file failed");
            return;
        }
        let mut b = Vec::with_capacity(64);
        ser::bool(&mut b, &f.photo);
        ser::i32(&mut b, &f.dc);
        ser::i32(&mut b, &f.date);
        ser::string(&mut b, &f.mime);
        f.attributes.serialize(&mut b);
        ser::bool(&mut b, &f.thumb.is_some());
        self.write(&self.files, &id.to_be_bytes(), &b);
    }

    pub fn put_log(&self, user: i64, e: &LogEntry) {
        let mut b = Vec::with_capacity(128);
        ser::i32(&mut b, &e.pts_count);
        e.update.serialize(&mut b);
        self.write(&self.log, &key2(user, e.pts), &b);
    }

    pub fn put_channel_mentions(
        &self,
        user: i64,
        channel: i64,
        ids: Option<&std::collections::BTreeSet<i32>>,
    ) {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&user.to_be_bytes());
        k[8..].copy_from_slice(&channel.to_be_bytes());
        match ids.filter(|s| !s.is_empty()) {
            Some(ids) => {
                let b: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
                self.write(&self.mentions, &k, &b);
            }
            None => self.delete(&self.mentions, &k),
        }
    }

    pub fn put_profile_photos(&self, user: i64, ids: &[i64]) {
        let b: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
        self.write(&self.profile_photos, &user.to_be_bytes(), &b);
    }

    pub fn put_qts(&self, user: i64, qts: i32, update: &enums::Update) {
        self.write(&self.qlog, &key2(user, qts), &update.to_bytes());
    }

    /// Removes qts log entries of `user` that fell out of the kept window.
    pub fn drop_qts(&self, user: i64, qts: &[i32]) {
        for q in qts {
            self.delete(&self.qlog, &key2(user, *q));
        }
    }

    /// Keeps (or, with `None`, forgets) a scheduled message.
    pub fn put_scheduled(&self, s: &crate::state::Scheduled, keep: bool) {
        let mut k = [0u8; 12];
        k[..8].copy_from_slice(&s.owner.to_be_bytes());
        k[8..].copy_from_slice(&s.id.to_be_bytes());
        if !keep {
            self.delete(&self.sched, &k);
            return;
        }
        let mut b = Vec::with_capacity(64);
        ser::i32(&mut b, &s.date);
        s.request.serialize(&mut b);
        self.write(&self.sched, &k, &b);
    }

    /// Removes log entries (pts) of `user` that fell out of the kept window.
    pub fn drop_log(&self, user: i64, pts: &[i32]) {
        for p in pts {
            self.delete(&self.log, &key2(user, *p));
        }
    }

    /// Makes what was written since the last sync durable (before the DC acknowledges a
    /// call that changed something, so a killed DC never forgets what it answered).
    pub fn sync(&self) {
        if self.dirty.swap(false, std::sync::atomic::Ordering::AcqRel) {
            self.flush();
        }
    }

    /// Waits until everything written so far is on disk.
    pub fn flush(&self) {
        if let Err(e) = self.db.flush() {
            tracing::error!(error = %e, "flushing the local DC's state failed");
        }
    }

    /// Loads everything into `state` and returns the auth keys.
    ///
    /// # Errors
    /// A record that does not decode.
    pub fn load(&self, state: &mut State) -> Result<Vec<(i64, AuthKeyEntry)>, StoreError> {
        let corrupt = |tree: &'static str, reason: String| StoreError::Corrupt {
            path: self.path(),
            tree,
            reason,
        };
        let db = |e: sled::Error| StoreError::Db {
            path: self.path(),
            source: e,
        };
        let mut keys = Vec::new();
        match self.meta.get(b"access_secret").map_err(db)? {
            Some(v) => {
                state.secret = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt("meta", "access_secret length".into()))?;
            }
            None => self.write(&self.meta, b"access_secret", &state.secret),
        }
        for kv in self.keys.iter() {
            let (k, v) = kv.map_err(db)?;
            let id = i64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| corrupt("keys", "key length".into()))?,
            );
            let e = (|| -> Result<AuthKeyEntry, DeserializeError> {
                let mut r = Reader::new(&v);
                let dc = r.i32()?;
                let key: [u8; 256] = r
                    .bytes()?
                    .try_into()
                    .map_err(|_| DeserializeError::BadLength { offset: 4, len: 0 })?;
                let temp_expires_at = read_opt_i32(&mut r)?;
                let bound_to = if r.bool()? { Some(r.i64()?) } else { None };
                let n = r.vector_len(false, 16)?;
                let salts = (0..n)
                    .map(|_| types::FutureSalt::deserialize_bare(&mut r))
                    .collect::<Result<_, _>>()?;
                Ok(AuthKeyEntry {
                    key: AuthKey::from_bytes(key),
                    dc,
                    temp_expires_at,
                    bound_to,
                    salts,
                })
            })()
            .map_err(|e| corrupt("keys", e.to_string()))?;
            keys.push((id, e));
        }
        for kv in self.users.iter() {
            let (k, v) = kv.map_err(db)?;
            let id = i64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| corrupt("users", "key length".into()))?,
            );
            (|| -> Result<(), DeserializeError> {
                let mut r = Reader::new(&v);
                let phone = read_opt_str(&mut r)?;
                let first_name = r.string()?;
                let last_name = r.string()?;
                let username = read_opt_str(&mut r)?;
                let bot = r.bool()?;
                let home_dc = r.i32()?;
                let password = if r.bool()? {
                    let params = SrpParams {
                        salt1: r.bytes()?,
                        salt2: r.bytes()?,
                        g: r.i32()? as u32,
                        p: r.bytes()?,
                    };
                    let v = r.bytes()?;
                    let mut verifier = [0u8; 256];
                    verifier[256 - v.len().min(256)..]
                        .copy_from_slice(&v[v.len().saturating_sub(256)..]);
                    Some(Password {
                        params,
                        verifier,
                        hint: read_opt_str(&mut r)?,
                    })
                } else {
                    None
                };
                let token = read_opt_str(&mut r)?;
                let (pts, qts, seq, next_id) = (r.i32()?, r.i32()?, r.i32()?, r.i32()?);
                let contacts = read_ids(&mut r)?;
                let blocked = read_ids(&mut r)?;
                let n = r.vector_len(false, 16)?;
                for _ in 0..n {
                    let (peer, inbox, outbox) = (r.i64()?, r.i32()?, r.i32()?);
                    state.read.insert((id, peer), (inbox, outbox));
                }
                if let Some(p) = &phone {
                    state.by_phone.insert(p.clone(), id);
                }
                if let Some(u) = &username {
                    state.by_username.insert(u.to_ascii_lowercase(), id);
                }
                if let Some(t) = token {
                    state.bot_tokens.insert(t, id);
                }
                state.users.insert(
                    id,
                    User {
                        phone,
                        first_name,
                        last_name,
                        username,
                        bot,
                        home_dc,
                        online_until: 0,
                        password,
                    },
                );
                state.updates.insert(id, UpdateState { pts, qts, seq });
                state.boxes.entry(id).or_default().next_id = next_id;
                state.contacts.insert(id, contacts.into_iter().collect());
                state.blocked.insert(id, blocked.into_iter().collect());
                state.note_user_id(id);
                Ok(())
            })()
            .map_err(|e| corrupt("users", e.to_string()))?;
        }
        for kv in self.auths.iter() {
            let (k, v) = kv.map_err(db)?;
            let (Ok(k), Ok(v)) = (
                <[u8; 8]>::try_from(k.as_ref()),
                <[u8; 8]>::try_from(v.as_ref()),
            ) else {
                return Err(corrupt("auths", "record length".into()));
            };
            state
                .authorizations
                .insert(i64::from_be_bytes(k), i64::from_be_bytes(v));
        }
        for kv in self.msgs.iter() {
            let (k, v) = kv.map_err(db)?;
            let (user, id) = split_key(&k).ok_or_else(|| corrupt("msgs", "key length".into()))?;
            let m = (|| -> Result<StoredMessage, DeserializeError> {
                let mut r = Reader::new(&v);
                let (peer, out, from, date, text) =
                    (r.i64()?, r.bool()?, r.i64()?, r.i32()?, r.string()?);
                let entities = Vec::<enums::MessageEntity>::deserialize(&mut r)?;
                let (reply_to, edit_date, silent, twin) = (
                    read_opt_i32(&mut r)?,
                    read_opt_i32(&mut r)?,
                    r.bool()?,
                    read_opt_i32(&mut r)?,
                );
                let random_id = if r.bool()? { Some(r.i64()?) } else { None };
                let fwd_from = if r.bool()? {
                    Some((r.i64()?, r.i32()?))
                } else {
                    None
                };
                let pinned = r.bool()?;
                let chat = if r.bool()? {
                    Some((r.i64()?, r.i64()?))
                } else {
                    None
                };
                let action = if r.bool()? {
                    Some(enums::MessageAction::deserialize(&mut r)?)
                } else {
                    None
                };
                let reply_markup = if r.bool()? {
                    Some(enums::ReplyMarkup::deserialize(&mut r)?)
                } else {
                    None
                };
                let media = if r.bool()? {
                    Some(enums::MessageMedia::deserialize(&mut r)?)
                } else {
                    None
                };
                let discussion = if r.remaining() > 0 && r.bool()? {
                    Some((r.i64()?, r.i32()?))
                } else {
                    None
                };
                let (mentioned, unread_mention) = if r.remaining() > 0 {
                    (r.bool()?, r.bool()?)
                } else {
                    (false, false)
                };
                Ok(StoredMessage {
                    discussion,
                    mentioned,
                    unread_mention,
                    reply_markup,
                    media,
                    fwd_from,
                    pinned,
                    chat,
                    action,
                    id,
                    peer,
                    out,
                    from,
                    date,
                    text,
                    entities,
                    reply_to,
                    edit_date,
                    silent,
                    twin,
                    random_id,
                })
            })()
            .map_err(|e| corrupt("msgs", e.to_string()))?;
            if let Some((chat, gid)) = m.chat {
                state.group_copies.entry(gid).or_default().push((user, id));
                state.note_chat_ids(chat, gid);
            }
            let b = state.boxes.entry(user).or_default();
            if let Some(r) = m.random_id {
                b.random_ids.insert(r, id);
            }
            b.messages.insert(id, m);
        }
        for kv in self.chats.iter() {
            let (k, v) = kv.map_err(db)?;
            let id = i64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| corrupt("chats", "key length".into()))?,
            );
            let chat = (|| -> Result<crate::state::Chat, DeserializeError> {
                let mut r = Reader::new(&v);
                let (title, creator, date, version) = (r.string()?, r.i64()?, r.i32()?, r.i32()?);
                let n = r.vector_len(false, 20)?;
                let members = (0..n)
                    .map(|_| Ok((r.i64()?, r.i64()?, r.i32()?)))
                    .collect::<Result<_, DeserializeError>>()?;
                Ok(crate::state::Chat {
                    title,
                    creator,
                    members,
                    date,
                    version,
                })
            })()
            .map_err(|e| corrupt("chats", e.to_string()))?;
            state.chats.insert(id, chat);
            state.note_chat_ids(id, 0);
        }
        for kv in self.files.iter() {
            let (k, v) = kv.map_err(db)?;
            let id = i64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| corrupt("files", "key length".into()))?,
            );
            let mut r = Reader::new(&v);
            let meta = (|| -> Result<_, DeserializeError> {
                Ok((
                    r.bool()?,
                    r.i32()?,
                    r.i32()?,
                    r.string()?,
                    Vec::<enums::DocumentAttribute>::deserialize(&mut r)?,
                    // (Records written before thumbnails end here.)
                    !r.rest().is_empty() && r.bool()?,
                ))
            })()
            .map_err(|e| corrupt("files", e.to_string()))?;
            let data = std::fs::read(self.blobs.join(format!("{id}")))
                .map_err(|e| corrupt("files", format!("contents of file {id}: {e}")))?;
            let (photo, dc, date, mime, attributes, has_thumb) = meta;
            let thumb = if has_thumb {
                let t = std::fs::read(self.blobs.join(format!("{id}.thumb")))
                    .map_err(|e| corrupt("files", format!("thumbnail of file {id}: {e}")))?;
                Some(std::sync::Arc::new(t))
            } else {
                None
            };
            state.files.insert(
                id,
                crate::state::StoredFile {
                    photo,
                    dc,
                    date,
                    mime,
                    attributes,
                    data: std::sync::Arc::new(data),
                    thumb,
                },
            );
        }
        for kv in self.channels.iter() {
            let (k, v) = kv.map_err(db)?;
            let id = i64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| corrupt("channels", "key length".into()))?,
            );
            let ch = read_channel(&v).map_err(|e| corrupt("channels", e.to_string()))?;
            if let Some(u) = &ch.username {
                state.by_username.insert(u.to_ascii_lowercase(), id);
            }
            state.channels.insert(id, ch);
            state.note_chat_ids(id, 0);
        }
        for kv in self.sched.iter() {
            let (k, v) = kv.map_err(db)?;
            let (owner, id) =
                split_key(&k).ok_or_else(|| corrupt("scheduled", "key length".into()))?;
            let mut r = Reader::new(&v);
            let date = r.i32().map_err(|e| corrupt("scheduled", e.to_string()))?;
            let request = fleetgram_tl::functions::messages::SendMessage::deserialize(&mut r)
                .map_err(|e| corrupt("scheduled", e.to_string()))?;
            state.scheduled.push(crate::state::Scheduled {
                owner,
                id,
                date,
                request,
            });
            state.note_scheduled_id(id);
        }
        for kv in self.log.iter() {
            let (k, v) = kv.map_err(db)?;
            let (user, pts) = split_key(&k).ok_or_else(|| corrupt("log", "key length".into()))?;
            let mut r = Reader::new(&v);
            let pts_count = r.i32().map_err(|e| corrupt("log", e.to_string()))?;
            let update =
                enums::Update::deserialize(&mut r).map_err(|e| corrupt("log", e.to_string()))?;
            state.boxes.entry(user).or_default().log.push(LogEntry {
                pts,
                pts_count,
                update,
            });
        }
        for kv in self.profile_photos.iter() {
            let (k, v) = kv.map_err(db)?;
            let user = i64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| corrupt("profile_photos", "key length".into()))?,
            );
            let ids = v
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            state.profile_photos.insert(user, ids);
        }
        for kv in self.mentions.iter() {
            let (k, v) = kv.map_err(db)?;
            let k: [u8; 16] = k
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("mentions", "key length".into()))?;
            let user = i64::from_be_bytes(k[..8].try_into().expect("8 bytes"));
            let channel = i64::from_be_bytes(k[8..].try_into().expect("8 bytes"));
            let ids = v
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            state.channel_mentions.insert((user, channel), ids);
        }
        for kv in self.qlog.iter() {
            let (k, v) = kv.map_err(db)?;
            let (user, qts) = split_key(&k).ok_or_else(|| corrupt("qlog", "key length".into()))?;
            let update =
                enums::Update::from_bytes(&v).map_err(|e| corrupt("qlog", e.to_string()))?;
            state
                .boxes
                .entry(user)
                .or_default()
                .qts_log
                .push((qts, update));
        }
        // A channel's pts is its log's last; its random_ids are kept per sender.
        let ids: Vec<i64> = state.channels.keys().copied().collect();
        for id in ids {
            let bx = channel_box(id);
            let b = state.boxes.entry(bx).or_default();
            let pts = b.log.last().map_or(0, |e| e.pts);
            b.next_id = b
                .next_id
                .max(b.messages.keys().next_back().map_or(1, |m| m + 1));
            b.random_ids.clear();
            b.sender_random_ids = b
                .messages
                .values()
                .filter_map(|m| m.random_id.map(|r| ((m.from, r), m.id)))
                .collect();
            state.updates.entry(bx).or_default().pts = pts;
        }
        Ok(keys)
    }
}

fn put_banned(b: &mut Vec<u8>, r: &Banned) {
    ser::i64(b, &r.by);
    ser::i32(b, &r.date);
    r.rights.serialize(b);
}

fn read_banned(r: &mut Reader<'_>) -> Result<Banned, DeserializeError> {
    Ok(Banned {
        by: r.i64()?,
        date: r.i32()?,
        rights: types::ChatBannedRights::deserialize(r)?,
    })
}

fn read_channel(v: &[u8]) -> Result<Channel, DeserializeError> {
    let mut r = Reader::new(v);
    let mut c = Channel {
        title: r.string()?,
        about: r.string()?,
        creator: r.i64()?,
        megagroup: r.bool()?,
        username: read_opt_str(&mut r)?,
        date: r.i32()?,
        ..Default::default()
    };
    for _ in 0..r.vector_len(false, 8)? {
        let u = r.i64()?;
        let mut m = Member {
            inviter: r.i64()?,
            date: r.i32()?,
            ..Default::default()
        };
        if r.bool()? {
            m.admin = Some(Admin {
                rights: types::ChatAdminRights::deserialize(&mut r)?,
                by: r.i64()?,
                rank: read_opt_str(&mut r)?,
            });
        }
        if r.bool()? {
            m.restricted = Some(read_banned(&mut r)?);
        }
        c.members.insert(u, m);
    }
    for _ in 0..r.vector_len(false, 8)? {
        let u = r.i64()?;
        c.kicked.insert(u, read_banned(&mut r)?);
    }
    for _ in 0..r.vector_len(false, 8)? {
        c.invites.push(Invite {
            hash: r.string()?,
            admin: r.i64()?,
            date: r.i32()?,
            request_needed: r.bool()?,
            title: read_opt_str(&mut r)?,
            expire_date: read_opt_i32(&mut r)?,
            usage_limit: read_opt_i32(&mut r)?,
            usage: r.i32()?,
            revoked: r.bool()?,
            permanent: r.bool()?,
        });
    }
    for _ in 0..r.vector_len(false, 8)? {
        let u = r.i64()?;
        c.requests.insert(u, (r.i32()?, r.string()?));
    }
    // Added later: records written before end here.
    if r.remaining() > 0 && r.bool()? {
        c.linked = Some(r.i64()?);
    }
    Ok(c)
}

fn split_key(k: &[u8]) -> Option<(i64, i32)> {
    let k: [u8; 12] = k.try_into().ok()?;
    Some((
        i64::from_be_bytes(k[..8].try_into().ok()?),
        i32::from_be_bytes(k[8..].try_into().ok()?),
    ))
}

/// Makes `dir` 0700 and everything under it 0700 (folders) or 0600 (files).
fn restrict_tree(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let set = |p: &Path, mode: u32| {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
        };
        set(dir, 0o700);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                restrict_tree(&p);
            } else {
                set(&p, 0o600);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("fleetgram-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn discussion_links_survive_and_older_records_still_load() {
        let dir = temp("discussion");
        let store = Store::open(&dir).unwrap();
        let channel = Channel {
            title: "News".into(),
            linked: Some(77),
            ..Channel::default()
        };
        store.put_channel(5, Some(&channel));
        let copy = StoredMessage {
            id: 3,
            text: "post".into(),
            discussion: Some((5, 9)),
            ..StoredMessage::default()
        };
        store.put_message(channel_box(77), Some(&copy), 3);
        // Records written before the link fields existed end where they used to.
        let mut old = Vec::new();
        store.put_channel(6, Some(&Channel::default()));
        let full = store.channels.get(6i64.to_be_bytes()).unwrap().unwrap();
        old.extend_from_slice(&full[..full.len() - 4]);
        store.write(&store.channels, &6i64.to_be_bytes(), &old);
        let plain = StoredMessage {
            id: 4,
            ..StoredMessage::default()
        };
        store.put_message(channel_box(77), Some(&plain), 4);
        let full = store.msgs.get(key2(channel_box(77), 4)).unwrap().unwrap();
        store.write(
            &store.msgs,
            &key2(channel_box(77), 4),
            &full[..full.len() - 12],
        );

        let mut state = State::new(None);
        store.load(&mut state).unwrap();
        assert_eq!(state.channels[&5].linked, Some(77));
        assert_eq!(state.channels[&6].linked, None);
        let b = &state.boxes[&channel_box(77)];
        assert_eq!(b.messages[&3].discussion, Some((5, 9)));
        assert_eq!(b.messages[&4].discussion, None);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
