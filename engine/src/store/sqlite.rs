//! Accounts in one SQLite file (the `sqlite` feature; rusqlite).

use super::{AccountState, KvUpdate, PeerEntry, SessionStore, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Accounts in one SQLite file (WAL mode; the file is created 0600).
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file `path`.
    ///
    /// # Errors
    /// The file cannot be opened or is not a database of this layout.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let io = |e: rusqlite::Error| StoreError::Io {
            path: path.clone(),
            reason: e.to_string(),
        };
        let conn = Connection::open(&path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, state TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS peers (account TEXT NOT NULL, id INTEGER NOT NULL,
                 entry TEXT NOT NULL, username TEXT, PRIMARY KEY (account, id));
             CREATE INDEX IF NOT EXISTS peers_by_name ON peers (account, username);
             CREATE TABLE IF NOT EXISTS kv (space TEXT NOT NULL, key TEXT NOT NULL,
                 value BLOB NOT NULL, PRIMARY KEY (space, key));",
        )
        .map_err(io)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn io(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn corrupt(&self, what: String, e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            what: format!("{}: {what}", self.path.display()),
            reason: e.to_string(),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SessionStore for SqliteStore {
    fn load(&self, account: &str) -> Result<Option<AccountState>, StoreError> {
        let v: Option<String> = self
            .conn()
            .query_row(
                "SELECT state FROM accounts WHERE name = ?1",
                params![account],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.io(e))?;
        v.map(|v| serde_json::from_str(&v))
            .transpose()
            .map_err(|e| self.corrupt(format!("account {account:?}"), e))
    }

    fn save(&self, account: &str, state: &AccountState) -> Result<(), StoreError> {
        let v = serde_json::to_string(state).expect("serializable");
        self.conn()
            .execute(
                "INSERT INTO accounts (name, state) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET state = excluded.state",
                params![account, v],
            )
            .map_err(|e| self.io(e))?;
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), StoreError> {
        let c = self.conn();
        c.execute("DELETE FROM accounts WHERE name = ?1", params![account])
            .map_err(|e| self.io(e))?;
        c.execute("DELETE FROM peers WHERE account = ?1", params![account])
            .map_err(|e| self.io(e))?;
        Ok(())
    }

    fn save_peers(&self, account: &str, peers: &[PeerEntry]) -> Result<(), StoreError> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(|e| self.io(e))?;
        for p in peers {
            let v = serde_json::to_string(p).expect("serializable");
            tx.execute(
                "INSERT INTO peers (account, id, entry, username) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(account, id) DO UPDATE SET entry = excluded.entry,
                     username = excluded.username",
                params![
                    account,
                    p.marked_id(),
                    v,
                    p.username.as_deref().map(str::to_lowercase)
                ],
            )
            .map_err(|e| self.io(e))?;
        }
        tx.commit().map_err(|e| self.io(e))
    }

    fn load_peer(&self, account: &str, marked_id: i64) -> Result<Option<PeerEntry>, StoreError> {
        let v: Option<String> = self
            .conn()
            .query_row(
                "SELECT entry FROM peers WHERE account = ?1 AND id = ?2",
                params![account, marked_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.io(e))?;
        v.map(|v| serde_json::from_str(&v))
            .transpose()
            .map_err(|e| self.corrupt(format!("peer {marked_id} of {account:?}"), e))
    }

    fn peer_by_username(
        &self,
        account: &str,
        username: &str,
    ) -> Result<Option<PeerEntry>, StoreError> {
        let v: Option<String> = self
            .conn()
            .query_row(
                "SELECT entry FROM peers WHERE account = ?1 AND username = ?2
                 ORDER BY rowid DESC LIMIT 1",
                params![account, username.to_lowercase()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.io(e))?;
        v.map(|v| serde_json::from_str(&v))
            .transpose()
            .map_err(|e| self.corrupt(format!("username {username:?} of {account:?}"), e))
    }

    fn delete_peer(&self, account: &str, marked_id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM peers WHERE account = ?1 AND id = ?2",
                params![account, marked_id],
            )
            .map_err(|e| self.io(e))?;
        Ok(())
    }

    fn kv_get(&self, space: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn()
            .query_row(
                "SELECT value FROM kv WHERE space = ?1 AND key = ?2",
                params![space, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.io(e))
    }

    fn kv_update(
        &self,
        space: &str,
        key: &str,
        f: &mut KvUpdate<'_>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn();
        let tx = c
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.io(e))?;
        let old: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM kv WHERE space = ?1 AND key = ?2",
                params![space, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.io(e))?;
        let new = f(old.as_deref());
        match &new {
            Some(v) => tx.execute(
                "INSERT INTO kv (space, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(space, key) DO UPDATE SET value = excluded.value",
                params![space, key, v],
            ),
            None => tx.execute(
                "DELETE FROM kv WHERE space = ?1 AND key = ?2",
                params![space, key],
            ),
        }
        .map_err(|e| self.io(e))?;
        tx.commit().map_err(|e| self.io(e))?;
        Ok(new)
    }

    fn kv_keys(&self, space: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let c = self.conn();
        let mut st = c
            .prepare("SELECT key FROM kv WHERE space = ?1 AND substr(key, 1, ?3) = ?2 ORDER BY key")
            .map_err(|e| self.io(e))?;
        let rows = st
            .query_map(params![space, prefix, prefix.chars().count() as i64], |r| {
                r.get::<_, String>(0)
            })
            .map_err(|e| self.io(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.io(e))
    }
}
