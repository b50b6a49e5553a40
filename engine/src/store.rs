//! Session stores: where an account's auth keys, home DC, identity and update state live.
//!
//! [`SledStore`] keeps many accounts in one sled database (one tree, keyed by account name);
//! a second process opening the same database gets [`StoreError::Locked`]. [`MemoryStore`]
//! is for tests and throwaway clients. [`AccountState::to_session_string`] exports an account
//! as a versioned base64url string that [`AccountState::from_session_string`] reads back.

use crate::peers::PeerEntry;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

#[cfg(feature = "sqlite")]
pub use crate::store_extra::SqliteStore;
pub use crate::store_extra::StringSession;

/// Where accounts are kept.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// The stored state of `account`, if any.
    ///
    /// # Errors
    /// A storage failure or a corrupt record.
    fn load(&self, account: &str) -> Result<Option<AccountState>, StoreError>;

    /// Replaces the stored state of `account` (durably, for persistent stores).
    ///
    /// # Errors
    /// A storage failure.
    fn save(&self, account: &str, state: &AccountState) -> Result<(), StoreError>;

    /// Like [`SessionStore::save`], but may reach the disk a little later (sled writes it
    /// within its flush interval, 500 ms by default). Used for update-state commits: a
    /// crash can then only cause redelivery, never loss.
    ///
    /// # Errors
    /// A storage failure.
    fn save_lazy(&self, account: &str, state: &AccountState) -> Result<(), StoreError> {
        self.save(account, state)
    }

    /// Forgets `account`.
    ///
    /// # Errors
    /// A storage failure.
    fn delete(&self, account: &str) -> Result<(), StoreError>;

    /// Stores peers seen by `account` (replacing older entries, indexing usernames).
    ///
    /// # Errors
    /// A storage failure.
    fn save_peers(&self, account: &str, peers: &[PeerEntry]) -> Result<(), StoreError>;

    /// A stored peer by marked id.
    ///
    /// # Errors
    /// A storage failure or a corrupt record.
    fn load_peer(&self, account: &str, marked_id: i64) -> Result<Option<PeerEntry>, StoreError>;

    /// A stored peer by (lower-case) username.
    ///
    /// # Errors
    /// A storage failure or a corrupt record.
    fn peer_by_username(
        &self,
        account: &str,
        username: &str,
    ) -> Result<Option<PeerEntry>, StoreError>;

    /// Forgets a stored peer.
    ///
    /// # Errors
    /// A storage failure.
    fn delete_peer(&self, account: &str, marked_id: i64) -> Result<(), StoreError>;

    /// A value of the key-value space `space` (script data, schedule bookkeeping; spaces
    /// are named by their owner, e.g. `script/ACCOUNT/echo.lua`).
    fn kv_get(&self, space: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Atomically replaces `key` of `space` with what `f` makes of the current value
    /// (`None` deletes it), durably; returns the new value.
    fn kv_update(
        &self,
        space: &str,
        key: &str,
        f: &mut KvUpdate<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// The keys of `space` that start with `prefix`, sorted.
    fn kv_keys(&self, space: &str, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Sets (or with `None` removes) `key` of `space`, durably.
    fn kv_set(&self, space: &str, key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        let v = value.map(<[u8]>::to_vec);
        self.kv_update(space, key, &mut |_| v.clone()).map(|_| ())
    }
}

/// What [`SessionStore::kv_update`] applies: the old value in, the new value out.
pub type KvUpdate<'a> = dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>> + 'a;

/// Keeps accounts in memory only.
#[derive(Debug, Default)]
pub struct MemoryStore {
    accounts: Mutex<HashMap<String, AccountState>>,
    peers: Mutex<HashMap<(String, i64), PeerEntry>>,
    usernames: Mutex<HashMap<(String, String), i64>>,
    kv: Mutex<BTreeMap<(String, String), Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SessionStore for MemoryStore {
    fn load(&self, account: &str) -> Result<Option<AccountState>, StoreError> {
        let m = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        Ok(m.get(account).cloned())
    }

    fn save(&self, account: &str, state: &AccountState) -> Result<(), StoreError> {
        let mut m = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        m.insert(account.to_string(), state.clone());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), StoreError> {
        let mut m = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(account);
        // Its peers go with it (as in every other backend).
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(a, _), _| a != account);
        self.usernames
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(a, _), _| a != account);
        Ok(())
    }

    fn save_peers(&self, account: &str, peers: &[PeerEntry]) -> Result<(), StoreError> {
        let mut m = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let mut u = self.usernames.lock().unwrap_or_else(|e| e.into_inner());
        for p in peers {
            if let Some(name) = &p.username {
                u.insert((account.to_string(), name.clone()), p.marked_id());
            }
            m.insert((account.to_string(), p.marked_id()), p.clone());
        }
        Ok(())
    }

    fn load_peer(&self, account: &str, marked_id: i64) -> Result<Option<PeerEntry>, StoreError> {
        let m = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        Ok(m.get(&(account.to_string(), marked_id)).cloned())
    }

    fn peer_by_username(
        &self,
        account: &str,
        username: &str,
    ) -> Result<Option<PeerEntry>, StoreError> {
        let id = {
            let u = self.usernames.lock().unwrap_or_else(|e| e.into_inner());
            u.get(&(account.to_string(), username.to_lowercase()))
                .copied()
        };
        match id {
            Some(id) => self.load_peer(account, id),
            None => Ok(None),
        }
    }

    fn delete_peer(&self, account: &str, marked_id: i64) -> Result<(), StoreError> {
        let mut m = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(&(account.to_string(), marked_id));
        Ok(())
    }

    fn kv_get(&self, space: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let m = self.kv.lock().unwrap_or_else(|e| e.into_inner());
        Ok(m.get(&(space.to_string(), key.to_string())).cloned())
    }

    fn kv_update(
        &self,
        space: &str,
        key: &str,
        f: &mut KvUpdate<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut m = self.kv.lock().unwrap_or_else(|e| e.into_inner());
        let k = (space.to_string(), key.to_string());
        let new = f(m.get(&k).map(Vec::as_slice));
        match &new {
            Some(v) => m.insert(k, v.clone()),
            None => m.remove(&k),
        };
        Ok(new)
    }

    fn kv_keys(&self, space: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let m = self.kv.lock().unwrap_or_else(|e| e.into_inner());
        Ok(m.range((space.to_string(), prefix.to_string())..)
            .take_while(|((s, k), _)| s == space && k.starts_with(prefix))
            .map(|((_, k), _)| k.clone())
            .collect())
    }
}

/// Keeps many accounts in one sled database.
#[derive(Clone)]
pub struct SledStore {
    path: PathBuf,
    accounts: sled::Tree,
    peers: sled::Tree,
    usernames: sled::Tree,
    kv: sled::Tree,
    db: sled::Db,
}

impl SledStore {
    /// Opens (creating if needed) the database in directory `path`; its files are made
    /// readable by the owner only.
    ///
    /// # Errors
    /// [`StoreError::Locked`] if another process has it open, [`StoreError::Io`] otherwise.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let io = |reason: String| StoreError::Io {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(&path).map_err(|e| io(e.to_string()))?;
        restrict(&path, 0o700);
        let open = || {
            sled::open(&path).map_err(|e| {
                let s = e.to_string();
                if s.contains("lock") || s.contains("WouldBlock") || s.contains("temporarily") {
                    StoreError::Locked { path: path.clone() }
                } else {
                    io(s)
                }
            })
        };
        // A database closed a moment ago (in this process) is unlocked when sled's flusher
        // thread ends, shortly after the drop: wait a little before calling it in use.
        let mut tries = 0;
        let db = loop {
            match open() {
                Err(StoreError::Locked { .. }) if tries < 40 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other?,
            }
        };
        restrict_tree(&path);
        let tree = |name: &str| db.open_tree(name).map_err(|e| io(e.to_string()));
        let accounts = tree("accounts")?;
        let peers = tree("peers")?;
        let usernames = tree("usernames")?;
        let kv = tree("kv")?;
        Ok(Self {
            path,
            accounts,
            peers,
            usernames,
            kv,
            db,
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes everything to disk.
    ///
    /// # Errors
    /// A storage failure.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.io(e))
    }

    /// The names of the stored accounts.
    ///
    /// # Errors
    /// A storage failure.
    pub fn accounts(&self) -> Result<Vec<String>, StoreError> {
        self.accounts
            .iter()
            .keys()
            .map(|k| {
                k.map(|k| String::from_utf8_lossy(&k).into_owned())
                    .map_err(|e| self.io(e))
            })
            .collect()
    }

    fn io(&self, e: sled::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SessionStore for SledStore {
    fn save_lazy(&self, account: &str, state: &AccountState) -> Result<(), StoreError> {
        let v = serde_json::to_vec(state).expect("serializable");
        self.accounts.insert(account, v).map_err(|e| self.io(e))?;
        Ok(())
    }

    fn load(&self, account: &str) -> Result<Option<AccountState>, StoreError> {
        let Some(v) = self.accounts.get(account).map_err(|e| self.io(e))? else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: format!("{}: account {account:?}", self.path.display()),
                reason: e.to_string(),
            })
    }

    fn save(&self, account: &str, state: &AccountState) -> Result<(), StoreError> {
        let v = serde_json::to_vec(state).expect("serializable");
        self.accounts.insert(account, v).map_err(|e| self.io(e))?;
        self.db.flush().map_err(|e| self.io(e))?;
        restrict_tree(&self.path);
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), StoreError> {
        self.accounts.remove(account).map_err(|e| self.io(e))?;
        for tree in [&self.peers, &self.usernames] {
            let mut prefix = account.as_bytes().to_vec();
            prefix.push(0);
            for k in tree.scan_prefix(&prefix).keys() {
                tree.remove(k.map_err(|e| self.io(e))?)
                    .map_err(|e| self.io(e))?;
            }
        }
        self.db.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    fn save_peers(&self, account: &str, peers: &[PeerEntry]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut names = sled::Batch::default();
        for p in peers {
            let v = serde_json::to_vec(p).expect("serializable");
            batch.insert(peer_key(account, p.marked_id()), v);
            if let Some(name) = &p.username {
                names.insert(name_key(account, name), &p.marked_id().to_be_bytes());
            }
        }
        self.peers.apply_batch(batch).map_err(|e| self.io(e))?;
        self.usernames.apply_batch(names).map_err(|e| self.io(e))?;
        Ok(())
    }

    fn load_peer(&self, account: &str, marked_id: i64) -> Result<Option<PeerEntry>, StoreError> {
        let Some(v) = self
            .peers
            .get(peer_key(account, marked_id))
            .map_err(|e| self.io(e))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: format!("{}: peer {marked_id} of {account:?}", self.path.display()),
                reason: e.to_string(),
            })
    }

    fn peer_by_username(
        &self,
        account: &str,
        username: &str,
    ) -> Result<Option<PeerEntry>, StoreError> {
        let Some(id) = self
            .usernames
            .get(name_key(account, &username.to_lowercase()))
            .map_err(|e| self.io(e))?
        else {
            return Ok(None);
        };
        let id = i64::from_be_bytes(id.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            what: format!("{}: username {username:?}", self.path.display()),
            reason: "bad id".into(),
        })?);
        self.load_peer(account, id)
    }

    fn delete_peer(&self, account: &str, marked_id: i64) -> Result<(), StoreError> {
        self.peers
            .remove(peer_key(account, marked_id))
            .map_err(|e| self.io(e))?;
        Ok(())
    }

    fn kv_get(&self, space: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .kv
            .get(kv_key(space, key))
            .map_err(|e| self.io(e))?
            .map(|v| v.to_vec()))
    }

    fn kv_update(
        &self,
        space: &str,
        key: &str,
        f: &mut KvUpdate<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let new = self
            .kv
            .update_and_fetch(kv_key(space, key), f)
            .map_err(|e| self.io(e))?;
        self.db.flush().map_err(|e| self.io(e))?;
        Ok(new.map(|v| v.to_vec()))
    }

    fn kv_keys(&self, space: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let start = kv_key(space, prefix);
        let skip = space.len() + 1;
        self.kv
            .scan_prefix(&start)
            .keys()
            .map(|k| {
                k.map(|k| String::from_utf8_lossy(&k[skip..]).into_owned())
                    .map_err(|e| self.io(e))
            })
            .collect()
    }
}

fn kv_key(space: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(space.len() + key.len() + 1);
    k.extend_from_slice(space.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn peer_key(account: &str, id: i64) -> Vec<u8> {
    let mut k = account.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn name_key(account: &str, name: &str) -> Vec<u8> {
    let mut k = account.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) {}

/// Makes every file under `dir` 0600 (sled creates its files with the umask's mode).
fn restrict_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            restrict(&p, 0o700);
            restrict_tree(&p);
        } else {
            restrict(&p, 0o600);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AccountState {
        let mut st = AccountState::new(2);
        st.dcs.insert(
            2,
            DcState {
                auth_key: Some((0..=255u8).collect()),
                salt: 7,
                time_offset: -3,
                authorized: true,
            },
        );
        st.user_id = Some(1_000_001);
        st.bot = true;
        st.updates = Some(UpdateState {
            pts: 5,
            qts: 0,
            date: 1,
            seq: 2,
            skip: 0,
        });
        st.channels.insert(-100, 9);
        st
    }

    #[test]
    fn session_strings_round_trip_and_reject_garbage() {
        let st = sample();
        let s = st.to_session_string().unwrap();
        let back = AccountState::from_session_string(&s).unwrap();
        assert_eq!(back.home_dc, 2);
        assert_eq!(back.dcs[&2].auth_key, st.dcs[&2].auth_key);
        assert_eq!(back.user_id, Some(1_000_001));
        assert!(back.bot);
        let e = AccountState::from_session_string("!!!").unwrap_err();
        assert!(e.to_string().contains("base64url"), "{e}");
        let e = AccountState::from_session_string(&URL_SAFE_NO_PAD.encode([9u8, 1])).unwrap_err();
        assert!(e.to_string().contains("unknown version 9"), "{e}");
        let e = AccountState::from_session_string(&URL_SAFE_NO_PAD.encode([1u8; 20])).unwrap_err();
        assert!(e.to_string().contains("20 bytes"), "{e}");
        assert_eq!(AccountState::new(1).to_session_string(), None);
    }

    #[test]
    fn sled_keeps_many_accounts_and_locks_and_restricts() {
        let dir = std::env::temp_dir().join(format!("fleetgram-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let s = SledStore::open(&dir).unwrap();
            s.save("a", &sample()).unwrap();
            s.save("b", &AccountState::new(3)).unwrap();
            assert_eq!(
                s.accounts().unwrap(),
                vec!["a".to_string(), "b".to_string()]
            );
            s.delete("b").unwrap();
        }
        let s = SledStore::open(&dir).unwrap();
        // sled's lock is an flock on its own file description, so this is what another
        // process sees too.
        let e = SledStore::open(&dir).unwrap_err();
        assert!(matches!(e, StoreError::Locked { .. }), "{e:?}");
        assert!(e.to_string().contains("in use by another process"), "{e}");
        assert_eq!(s.load("a").unwrap(), Some(sample()));
        assert_eq!(s.load("b").unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let conf = std::fs::metadata(dir.join("conf")).unwrap();
            assert_eq!(conf.permissions().mode() & 0o777, 0o600);
        }
        // A corrupt record is reported with the account's name.
        s.accounts.insert("c", b"{not json".to_vec()).unwrap();
        let e = s.load("c").unwrap_err();
        assert!(e.to_string().contains("account \"c\""), "{e}");
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn memory_store_round_trips() {
        let m = MemoryStore::new();
        assert_eq!(m.load("x").unwrap(), None);
        m.save("x", &sample()).unwrap();
        assert_eq!(m.load("x").unwrap(), Some(sample()));
        m.delete("x").unwrap();
        assert_eq!(m.load("x").unwrap(), None);
    }
}
