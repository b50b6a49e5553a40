//! Session stores: where an account's auth keys, home DC, identity and update state live.
//!
//! [`SledStore`] keeps many accounts in one sled database (one tree, keyed by account name);
//! a second process opening the same database gets [`StoreError::Locked`]. [`MemoryStore`]
//! is for tests and throwaway clients. [`AccountState::to_session_string`] exports an account
//! as a versioned base64url string that [`AccountState::from_session_string`] reads back.

use crate::state::PeerEntry;

pub use crate::state::{AccountState, DcState, StoreError, UpdateCommit, UpdateState};

mod memory;
mod sled_store;
#[cfg(feature = "sqlite")]
mod sqlite;
mod string;

pub use memory::MemoryStore;
pub use sled_store::SledStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use string::StringSession;

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

    /// Writes an update commit of `account` (what [`UpdateCommit::apply`] resolved): only
    /// what changed, and it may reach the disk a little later (sled writes it within its
    /// flush interval, 500 ms by default): a crash can then only cause redelivery, never
    /// loss. The default reads, applies and saves the whole state; backends that can write
    /// less do.
    ///
    /// # Errors
    /// A storage failure.
    fn save_updates(&self, account: &str, commit: &UpdateCommit) -> Result<(), StoreError> {
        match self.load(account)? {
            Some(mut st) => {
                commit.apply(&mut st);
                self.save(account, &st)
            }
            // Nothing stored yet: the next full save writes the state with it.
            None => Ok(()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

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
    fn sled_writes_an_update_commit_alone_and_reads_it_back_after_a_reopen() {
        let dir = std::env::temp_dir().join(format!("fleetgram-commit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut st = sample();
        {
            let s = SledStore::open(&dir).unwrap();
            s.save("a", &st).unwrap();
            let record = s.accounts.get("a").unwrap().unwrap();
            for i in 1..=50 {
                let c = UpdateCommit {
                    common: Some(UpdateState {
                        pts: 5 + i,
                        ..st.updates.unwrap()
                    }),
                    channels: vec![(-100, Some(9 + i)), (i as i64, Some(i))],
                }
                .apply(&mut st);
                s.save_updates("a", &c).unwrap();
            }
            let forget = UpdateCommit {
                common: None,
                channels: vec![(3, None)],
            }
            .apply(&mut st);
            s.save_updates("a", &forget).unwrap();
            // The account's record (keys and all) was not rewritten by the commits.
            assert_eq!(s.accounts.get("a").unwrap().unwrap(), record);
            assert_eq!(s.load("a").unwrap().as_ref(), Some(&st));
            s.flush().unwrap();
        }
        let s = SledStore::open(&dir).unwrap();
        let back = s.load("a").unwrap().unwrap();
        assert_eq!(back, st);
        assert_eq!(back.updates.unwrap().pts, 55);
        assert_eq!(back.channels[&-100], 59);
        assert!(!back.channels.contains_key(&3));
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
