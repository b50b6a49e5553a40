//! Accounts in memory only (tests, throwaway clients).

use super::{AccountState, KvUpdate, PeerEntry, SessionStore, StoreError, UpdateCommit};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

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

    fn save_updates(&self, account: &str, commit: &UpdateCommit) -> Result<(), StoreError> {
        let mut m = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(st) = m.get_mut(account) {
            commit.apply(st);
        }
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
