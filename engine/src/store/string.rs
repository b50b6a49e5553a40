//! One account kept as a portable string (exported and imported with
//! [`AccountState::to_session_string`]); everything else in memory.

use super::{AccountState, KvUpdate, MemoryStore, PeerEntry, SessionStore, StoreError};

/// A session kept as a string: everything is in memory, and
/// [`StringSession::session_string`] gives the portable string (home DC, auth key, user)
/// to keep wherever you like (an environment variable, a secret store) and to start from
/// again with [`StringSession::from_session_string`]. Peers and script data are not part
/// of the string (they are learned again).
#[derive(Debug, Default)]
pub struct StringSession {
    inner: MemoryStore,
}

impl StringSession {
    /// An empty session.
    pub fn new() -> Self {
        Self::default()
    }

    /// A session started from `s` for `account`.
    ///
    /// # Errors
    /// Not a session string (see [`AccountState::from_session_string`]).
    pub fn from_session_string(account: &str, s: &str) -> Result<Self, StoreError> {
        let st = AccountState::from_session_string(s)?;
        let me = Self::default();
        me.inner.save(account, &st)?;
        Ok(me)
    }

    /// The string of `account` (`None` until it has a key on its home DC).
    ///
    /// # Errors
    /// A storage failure.
    pub fn session_string(&self, account: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .inner
            .load(account)?
            .and_then(|s| s.to_session_string()))
    }
}

impl SessionStore for StringSession {
    fn load(&self, account: &str) -> Result<Option<AccountState>, StoreError> {
        self.inner.load(account)
    }
    fn save(&self, account: &str, state: &AccountState) -> Result<(), StoreError> {
        self.inner.save(account, state)
    }
    fn delete(&self, account: &str) -> Result<(), StoreError> {
        self.inner.delete(account)
    }
    fn save_peers(&self, account: &str, peers: &[PeerEntry]) -> Result<(), StoreError> {
        self.inner.save_peers(account, peers)
    }
    fn load_peer(&self, account: &str, marked_id: i64) -> Result<Option<PeerEntry>, StoreError> {
        self.inner.load_peer(account, marked_id)
    }
    fn peer_by_username(
        &self,
        account: &str,
        username: &str,
    ) -> Result<Option<PeerEntry>, StoreError> {
        self.inner.peer_by_username(account, username)
    }
    fn delete_peer(&self, account: &str, marked_id: i64) -> Result<(), StoreError> {
        self.inner.delete_peer(account, marked_id)
    }
    fn kv_get(&self, space: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.kv_get(space, key)
    }
    fn kv_update(
        &self,
        space: &str,
        key: &str,
        f: &mut KvUpdate<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.kv_update(space, key, f)
    }
    fn kv_keys(&self, space: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.kv_keys(space, prefix)
    }
}
