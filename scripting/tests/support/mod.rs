//! What the scripting tests share: an account on a DC that is never reached, and a script
//! context on it.
#![allow(dead_code)]

use fleetgram_engine::fleet::config::FleetConfig;
use fleetgram_engine::fleet::{
    AccountHandle, BoxFuture, Credentials, DcTable, Fleet, HandlerFactory, Handlers,
};
use fleetgram_engine::store::{MemoryStore, SessionStore};
use fleetgram_engine::Client;
use fleetgram_scripting::ScriptCtx;
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, Mutex};

struct NoScripts;
impl HandlerFactory for NoScripts {
    fn attach(&self, _: AccountHandle) -> BoxFuture<'static, Result<Arc<dyn Handlers>, String>> {
        Box::pin(async { Err("none".to_string()) })
    }
}
struct NoCreds;
impl Credentials for NoCreds {
    fn login_code(&self, _: &str, _: &str) -> BoxFuture<'static, Option<String>> {
        Box::pin(async { None })
    }
}

/// The first account of the fleet file `yaml` (read as if it were at `path`), on a DC that
/// is never reached.
pub fn account(path: &Path, yaml: &str) -> AccountHandle {
    account_with_store(path, yaml, Arc::new(MemoryStore::new()))
}

/// [`account`] on `store`.
pub fn account_with_store(path: &Path, yaml: &str, store: Arc<dyn SessionStore>) -> AccountHandle {
    let config = FleetConfig::parse(path, yaml, &|_| None).unwrap();
    let account = config.accounts[0].clone();
    let dcs = [(1, "127.0.0.1:9".parse().unwrap())].into_iter().collect();
    let client = Client::new(
        fleetgram_engine::Config::with_dcs(1, "x", dcs, 1),
        store.clone(),
        "test",
    )
    .unwrap();
    let fleet = Fleet::start(
        config,
        DcTable {
            dcs: Default::default(),
            default_dc: 1,
            rsa_keys: vec![],
        },
        store.clone(),
        Arc::new(NoScripts),
        Arc::new(NoCreds),
    );
    AccountHandle {
        name: "test".into(),
        kind: fleetgram_engine::fleet::config::AccountKind::Bot,
        client,
        user_id: 1,
        username: Some("test_bot".into()),
        account,
        fleet: fleet.handle(),
        store,
    }
}

/// A script context on an account that never connects (nothing here reaches a DC); log
/// lines go to `log`.
pub fn ctx(log: Arc<Mutex<Vec<String>>>) -> ScriptCtx {
    ctx_with_store(log, Arc::new(MemoryStore::new()))
}

/// [`ctx`] on `store`.
pub fn ctx_with_store(log: Arc<Mutex<Vec<String>>>, store: Arc<dyn SessionStore>) -> ScriptCtx {
    ScriptCtx {
        account: account_with_store(
            Path::new("/tmp/accounts.yaml"),
            "network: local\naccounts:\n  - { name: test, kind: bot, username: test_bot, enabled: false }\n",
            store,
        ),
        script: "t".into(),
        settings: json!({"limit": 3}),
        log_sink: Some(Arc::new(move |level: &str, line: &str| {
            log.lock().unwrap().push(format!("{level}: {line}"))
        })),
        caps: Default::default(),
        conversations: Default::default(),
    }
}

/// An empty scratch directory `PREFIX-NAME-PID` under the target directory.
pub fn scratch(prefix: &str, name: &str) -> std::path::PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Small limits, so that the tests that hit them are quick.
pub fn limits() -> fleetgram_scripting::Limits {
    fleetgram_scripting::Limits {
        max_ops: 2_000_000,
        timeout: std::time::Duration::from_secs(3),
        memory: 16 << 20,
        max_wait: std::time::Duration::from_secs(10),
    }
}

/// A private incoming message event, as JSON.
pub fn message(text: &str) -> Arc<serde_json::Value> {
    Arc::new(
        json!({"kind": "message", "id": 1, "chat_id": 5, "sender_id": 5, "text": text,
        "out": false, "chat_type": "private", "has_media": false, "buttons": []}),
    )
}

/// The script's last error (empty when none).
pub fn last_error(s: &fleetgram_scripting::Script) -> String {
    s.stats
        .last_error
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_default()
}
