//! The fleet supervisor contains bugs: a handler that panics has its update acknowledged
//! and its chat goes on; an account whose task panics is restarted like after any failure.

mod support;

use fleetgram_engine::fleet::config::FleetConfig;
use fleetgram_engine::fleet::{
    AccountHandle, AccountPhase, BoxFuture, Credentials, DcTable, Fleet, HandlerFactory, Handlers,
};
use fleetgram_engine::store::{MemoryStore, SessionStore};
use fleetgram_engine::updates::{Delivered, UpdateKind};
use fleetgram_protocol::crypto::rsa::RsaPublicKey;
use fleetgram_tl::enums;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// Handlers that note each message's text, and panic on "boom".
struct Noting(Arc<Mutex<Vec<String>>>);

impl Handlers for Noting {
    fn wants(&self, kind: UpdateKind) -> bool {
        kind == UpdateKind::NewMessage
    }
    fn handle(&self, update: Arc<Delivered>) -> BoxFuture<'static, ()> {
        let seen = self.0.clone();
        Box::pin(async move {
            let Some(enums::Message::Message(m)) = update.message() else {
                return;
            };
            if m.message == "boom" {
                panic!("a handler bug");
            }
            seen.lock().unwrap().push(m.message.clone());
        })
    }
    fn stop(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Attaches [`Noting`]; the first attach panics (a bug in the account's start-up).
struct Factory {
    seen: Arc<Mutex<Vec<String>>>,
    attaches: AtomicUsize,
}

impl HandlerFactory for Factory {
    fn attach(&self, _: AccountHandle) -> BoxFuture<'static, Result<Arc<dyn Handlers>, String>> {
        let first = self.attaches.fetch_add(1, Ordering::SeqCst) == 0;
        let seen = self.seen.clone();
        Box::pin(async move {
            assert!(!first, "a start-up bug");
            Ok(Arc::new(Noting(seen)) as Arc<dyn Handlers>)
        })
    }
}

struct Token(String);

impl Credentials for Token {
    fn login_code(&self, _: &str, _: &str) -> BoxFuture<'static, Option<String>> {
        Box::pin(async { None })
    }
    fn bot_token(&self, _: &str) -> Option<String> {
        Some(self.0.clone())
    }
}

/// A fleet of one bot, `@username`, on `dc`, with `store` and `factory`.
fn bot_fleet(
    dc: &fleetgram_localdc::LocalDc,
    username: &str,
    store: Arc<dyn SessionStore>,
    factory: Factory,
) -> Fleet {
    let (_, token) = dc.control().create_bot("Bot", username, 1);
    let info = dc.info();
    let config = FleetConfig::parse(
        std::path::Path::new("/tmp/accounts.yaml"),
        &format!("network: local\naccounts:\n  - {{ name: b, kind: bot, username: {username} }}\n"),
        &|_| None,
    )
    .unwrap();
    Fleet::start(
        config,
        DcTable {
            dcs: info.dcs.iter().map(|d| (d.id, d.addr)).collect(),
            default_dc: 1,
            rsa_keys: vec![RsaPublicKey::from_pem(&info.rsa_pem).unwrap()],
        },
        store,
        Arc::new(factory),
        Arc::new(Token(token)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_in_handlers_and_account_tasks_are_contained() {
    let dc = start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let fleet = bot_fleet(
        &dc,
        "fleet_panic_bot",
        Arc::new(MemoryStore::new()),
        Factory {
            seen: seen.clone(),
            attaches: AtomicUsize::new(0),
        },
    );
    let h = fleet.handle();
    // The first start panics; the supervisor restarts the account (after its backoff).
    let t = Instant::now();
    while h.status()[0].state != AccountPhase::Running {
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", h.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.status()[0].restarts, 1);

    let person = user(&dc, "+15550041001", None).await;
    for text in ["a", "boom", "b", "c"] {
        person.send_message("@fleet_panic_bot", text).await.unwrap();
    }
    let t = Instant::now();
    while seen.lock().unwrap().len() < 3 {
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", seen.lock());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*seen.lock().unwrap(), ["a", "b", "c"]);
    let s = &h.status()[0];
    assert_eq!((s.state.clone(), s.restarts), (AccountPhase::Running, 1));
    assert_eq!(s.updates, 4, "every update counted, the panicked one too");
    fleet.shutdown().await;
    dc.shutdown().await;
}

/// A store whose disk can fill up: reads work, and once full every write fails.
#[derive(Debug, Default)]
struct Disk {
    inner: MemoryStore,
    full: std::sync::atomic::AtomicBool,
}

impl Disk {
    fn check(&self) -> Result<(), fleetgram_engine::store::StoreError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(fleetgram_engine::store::StoreError::Io {
                path: "/data".into(),
                reason: "No space left on device (os error 28)".into(),
            });
        }
        Ok(())
    }
}

impl SessionStore for Disk {
    fn load(
        &self,
        a: &str,
    ) -> Result<Option<fleetgram_engine::store::AccountState>, fleetgram_engine::store::StoreError>
    {
        self.inner.load(a)
    }
    fn save(
        &self,
        a: &str,
        s: &fleetgram_engine::store::AccountState,
    ) -> Result<(), fleetgram_engine::store::StoreError> {
        self.check()?;
        self.inner.save(a, s)
    }
    fn delete(&self, a: &str) -> Result<(), fleetgram_engine::store::StoreError> {
        self.check()?;
        self.inner.delete(a)
    }
    fn save_peers(
        &self,
        a: &str,
        p: &[fleetgram_engine::peers::PeerEntry],
    ) -> Result<(), fleetgram_engine::store::StoreError> {
        self.check()?;
        self.inner.save_peers(a, p)
    }
    fn load_peer(
        &self,
        a: &str,
        id: i64,
    ) -> Result<Option<fleetgram_engine::peers::PeerEntry>, fleetgram_engine::store::StoreError>
    {
        self.inner.load_peer(a, id)
    }
    fn peer_by_username(
        &self,
        a: &str,
        u: &str,
    ) -> Result<Option<fleetgram_engine::peers::PeerEntry>, fleetgram_engine::store::StoreError>
    {
        self.inner.peer_by_username(a, u)
    }
    fn delete_peer(&self, a: &str, id: i64) -> Result<(), fleetgram_engine::store::StoreError> {
        self.check()?;
        self.inner.delete_peer(a, id)
    }
    fn kv_get(
        &self,
        s: &str,
        k: &str,
    ) -> Result<Option<Vec<u8>>, fleetgram_engine::store::StoreError> {
        self.inner.kv_get(s, k)
    }
    fn kv_update(
        &self,
        s: &str,
        k: &str,
        f: &mut fleetgram_engine::store::KvUpdate<'_>,
    ) -> Result<Option<Vec<u8>>, fleetgram_engine::store::StoreError> {
        self.check()?;
        self.inner.kv_update(s, k, f)
    }
    fn kv_keys(
        &self,
        s: &str,
        p: &str,
    ) -> Result<Vec<String>, fleetgram_engine::store::StoreError> {
        self.inner.kv_keys(s, p)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_shows_in_the_account_state_and_does_not_hold_the_stop() {
    let dc = start().await;
    let disk = Arc::new(Disk::default());
    let fleet = bot_fleet(
        &dc,
        "fleet_disk_bot",
        disk.clone(),
        Factory {
            seen: Arc::new(Mutex::new(Vec::new())),
            // No start-up bug this time.
            attaches: AtomicUsize::new(1),
        },
    );
    let h = fleet.handle();
    let t = Instant::now();
    while h.status()[0].state != AccountPhase::Running {
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", h.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The disk fills up; updates keep coming.
    disk.full.store(true, Ordering::SeqCst);
    let person = user(&dc, "+15550042001", None).await;
    for text in ["one", "two", "three"] {
        person.send_message("@fleet_disk_bot", text).await.unwrap();
    }
    // The account says why it cannot go on.
    let t = Instant::now();
    loop {
        let st = h.status()[0].state.clone();
        if let AccountPhase::Backoff { error, .. } = &st {
            assert!(error.contains("No space left"), "{error}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{st:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Stopping does not wait for a disk that stays full.
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), fleet.shutdown())
        .await
        .expect("the fleet stopped");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    dc.shutdown().await;
}
