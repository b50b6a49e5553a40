//! Many accounts in one sled database (one tree per kind of record, keyed by account).

use super::{AccountState, KvUpdate, PeerEntry, SessionStore, StoreError, UpdateCommit};
use std::path::{Path, PathBuf};

/// Keeps many accounts in one sled database.
#[derive(Clone)]
pub struct SledStore {
    path: PathBuf,
    pub(super) accounts: sled::Tree,
    /// Update commits since the account's last full save: its common state (key: account)
    /// and its channels' pts (key: account, 0, channel id; an empty value: forgotten).
    updates: sled::Tree,
    channel_pts: sled::Tree,
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
        let updates = tree("updates")?;
        let channel_pts = tree("channel_pts")?;
        let peers = tree("peers")?;
        let usernames = tree("usernames")?;
        let kv = tree("kv")?;
        Ok(Self {
            path,
            accounts,
            updates,
            channel_pts,
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

impl SledStore {
    fn corrupt(&self, account: &str, what: &str, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            what: format!("{}: {what} of account {account:?}", self.path.display()),
            reason: reason.to_string(),
        }
    }

    /// Forgets the update commits of `account` (a full save holds them all).
    fn clear_commits(&self, account: &str) -> Result<(), StoreError> {
        self.updates.remove(account).map_err(|e| self.io(e))?;
        let mut batch = sled::Batch::default();
        for k in self.channel_pts.scan_prefix(prefix(account)).keys() {
            batch.remove(k.map_err(|e| self.io(e))?);
        }
        self.channel_pts.apply_batch(batch).map_err(|e| self.io(e))
    }
}

fn prefix(account: &str) -> Vec<u8> {
    let mut k = account.as_bytes().to_vec();
    k.push(0);
    k
}

impl SessionStore for SledStore {
    fn save_updates(&self, account: &str, commit: &UpdateCommit) -> Result<(), StoreError> {
        if let Some(c) = &commit.common {
            let v = serde_json::to_vec(c).expect("serializable");
            self.updates.insert(account, v).map_err(|e| self.io(e))?;
        }
        match commit.channels.as_slice() {
            [] => {}
            [(ch, pts)] => {
                let v = pts.map(i32::to_le_bytes);
                self.channel_pts
                    .insert(
                        peer_key(account, *ch),
                        v.as_ref().map_or(&[][..], |b| &b[..]),
                    )
                    .map_err(|e| self.io(e))?;
            }
            many => {
                let mut batch = sled::Batch::default();
                for (ch, pts) in many {
                    let v = pts.map(i32::to_le_bytes);
                    batch.insert(
                        peer_key(account, *ch),
                        v.as_ref().map_or(&[][..], |b| &b[..]),
                    );
                }
                self.channel_pts
                    .apply_batch(batch)
                    .map_err(|e| self.io(e))?;
            }
        }
        Ok(())
    }

    fn load(&self, account: &str) -> Result<Option<AccountState>, StoreError> {
        let Some(v) = self.accounts.get(account).map_err(|e| self.io(e))? else {
            return Ok(None);
        };
        let mut st: AccountState = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
            what: format!("{}: account {account:?}", self.path.display()),
            reason: e.to_string(),
        })?;
        // The update commits since the last full save.
        if let Some(u) = self.updates.get(account).map_err(|e| self.io(e))? {
            st.updates = Some(
                serde_json::from_slice(&u).map_err(|e| self.corrupt(account, "update state", e))?,
            );
        }
        let skip = account.len() + 1;
        for kv in self.channel_pts.scan_prefix(prefix(account)) {
            let (k, v) = kv.map_err(|e| self.io(e))?;
            let ch = k[skip..]
                .try_into()
                .map(i64::from_be_bytes)
                .map_err(|_| self.corrupt(account, "channel pts", "bad key"))?;
            match v.len() {
                0 => {
                    st.channels.remove(&ch);
                }
                4 => {
                    st.channels
                        .insert(ch, i32::from_le_bytes(v[..].try_into().expect("4 bytes")));
                }
                n => return Err(self.corrupt(account, "channel pts", format!("{n} bytes"))),
            }
        }
        Ok(Some(st))
    }

    fn save(&self, account: &str, state: &AccountState) -> Result<(), StoreError> {
        let v = serde_json::to_vec(state).expect("serializable");
        self.accounts.insert(account, v).map_err(|e| self.io(e))?;
        self.clear_commits(account)?;
        self.db.flush().map_err(|e| self.io(e))?;
        restrict_tree(&self.path);
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), StoreError> {
        self.accounts.remove(account).map_err(|e| self.io(e))?;
        self.clear_commits(account)?;
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
