//! One test suite for every session backend: memory, sled, the string session and SQLite
//! (the `sqlite` feature of the engine); and each of them behind a client that logs in to
//! the local DC and, for the persistent ones, is authorized again after a reopen.

use fleetgram_engine::peers::{PeerEntry, PeerKind};
use fleetgram_engine::store::{
    AccountState, DcState, MemoryStore, SessionStore, SledStore, SqliteStore, StringSession,
    UpdateCommit, UpdateState,
};
use fleetgram_engine::Client;
use std::sync::Arc;

mod common;
use common::fresh_dir;

fn state(dc: i32, user: i64) -> AccountState {
    let mut s = AccountState::new(dc);
    s.dcs.insert(
        dc,
        DcState {
            auth_key: Some(vec![7; 256]),
            salt: 42,
            time_offset: -3,
            authorized: true,
        },
    );
    s.user_id = Some(user);
    s.channels.insert(1234, 99);
    s
}

fn peer(kind: PeerKind, id: i64, name: Option<&str>) -> PeerEntry {
    PeerEntry {
        kind,
        id,
        access_hash: id * 31,
        min: false,
        username: name.map(str::to_string),
        seen_in: None,
        name: None,
        bot: None,
    }
}

/// What every backend must do.
fn suite(name: &str, s: &dyn SessionStore) {
    // Accounts.
    assert_eq!(s.load("a").unwrap(), None, "{name}");
    let st = state(2, 77);
    s.save("a", &st).unwrap();
    assert_eq!(s.load("a").unwrap().as_ref(), Some(&st), "{name}");
    // Update commits write what changed: the common state, channels moved or forgotten.
    let mut st2 = st.clone();
    let common = UpdateState {
        pts: 10,
        qts: 1,
        date: 2,
        seq: 3,
        skip: 0,
    };
    let commit = UpdateCommit {
        common: Some(common),
        channels: vec![(5, Some(6)), (1234, None), (5, Some(8))],
    }
    .apply(&mut st2);
    assert_eq!(commit.channels, vec![(5, Some(8)), (1234, None)], "{name}");
    s.save_updates("a", &commit).unwrap();
    assert_eq!(
        s.load("a").unwrap().as_ref(),
        Some(&st2),
        "{name}: save_updates"
    );
    // A channel's pts never goes back.
    let back = UpdateCommit {
        common: None,
        channels: vec![(5, Some(4))],
    }
    .apply(&mut st2);
    assert_eq!(back.channels, vec![(5, Some(8))], "{name}");
    s.save_updates("a", &back).unwrap();
    assert_eq!(s.load("a").unwrap().as_ref(), Some(&st2), "{name}");
    // A full save is the whole truth again (a forgotten channel stays forgotten), and
    // commits go on from it.
    let mut st3 = st2.clone();
    st3.channels.clear();
    st3.updates = None;
    s.save("a", &st3).unwrap();
    assert_eq!(
        s.load("a").unwrap().as_ref(),
        Some(&st3),
        "{name}: full save"
    );
    let c = UpdateCommit {
        common: Some(common),
        channels: vec![(7, Some(1))],
    }
    .apply(&mut st3);
    s.save_updates("a", &c).unwrap();
    assert_eq!(s.load("a").unwrap().as_ref(), Some(&st3), "{name}");
    // An account never saved gets nothing from a commit alone.
    s.save_updates("nobody", &c).unwrap();
    assert_eq!(s.load("nobody").unwrap(), None, "{name}");
    s.save("b", &state(1, 88)).unwrap();

    // Peers, by id and by username (any case), replaced, deleted.
    s.save_peers(
        "a",
        &[
            peer(PeerKind::User, 10, Some("carol")),
            peer(PeerKind::Channel, 20, Some("news")),
            peer(PeerKind::Chat, 30, None),
        ],
    )
    .unwrap();
    assert_eq!(
        s.load_peer("a", 10).unwrap().unwrap().access_hash,
        310,
        "{name}"
    );
    let channel_marked = -1_000_000_000_000 - 20;
    assert_eq!(
        s.load_peer("a", channel_marked).unwrap().unwrap().id,
        20,
        "{name}"
    );
    assert_eq!(
        s.load_peer("a", -30).unwrap().unwrap().kind,
        PeerKind::Chat,
        "{name}"
    );
    assert_eq!(
        s.peer_by_username("a", "Carol").unwrap().unwrap().id,
        10,
        "{name}"
    );
    assert_eq!(
        s.load_peer("b", 10).unwrap(),
        None,
        "{name}: peers are per account"
    );
    let mut newer = peer(PeerKind::User, 10, Some("carol"));
    newer.access_hash = 5;
    s.save_peers("a", &[newer.clone()]).unwrap();
    assert_eq!(
        s.load_peer("a", 10).unwrap(),
        Some(newer),
        "{name}: replaced"
    );
    s.delete_peer("a", 10).unwrap();
    assert_eq!(s.load_peer("a", 10).unwrap(), None, "{name}");

    // Key-value spaces.
    assert_eq!(s.kv_get("script/a", "n").unwrap(), None, "{name}");
    s.kv_set("script/a", "n", Some(b"1")).unwrap();
    let incr = |old: Option<&[u8]>| {
        let n: u64 = old
            .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
            .unwrap_or(0);
        Some((n + 1).to_string().into_bytes())
    };
    for _ in 0..5 {
        s.kv_update("script/a", "n", &mut |o| incr(o)).unwrap();
    }
    assert_eq!(
        s.kv_get("script/a", "n").unwrap().as_deref(),
        Some(&b"6"[..]),
        "{name}"
    );
    for k in ["q/2", "q/1", "q/10", "r/1"] {
        s.kv_set("script/a", k, Some(k.as_bytes())).unwrap();
    }
    s.kv_set("script/b", "q/3", Some(b"x")).unwrap();
    assert_eq!(
        s.kv_keys("script/a", "q/").unwrap(),
        vec!["q/1", "q/10", "q/2"],
        "{name}: sorted, by prefix, per space"
    );
    s.kv_set("script/a", "q/1", None).unwrap();
    assert_eq!(s.kv_get("script/a", "q/1").unwrap(), None, "{name}");
    assert_eq!(
        s.kv_update("script/a", "gone", &mut |_| None).unwrap(),
        None,
        "{name}"
    );

    // Deleting an account forgets it and its peers, not the others.
    s.delete("a").unwrap();
    assert_eq!(s.load("a").unwrap(), None, "{name}");
    assert_eq!(s.load_peer("a", channel_marked).unwrap(), None, "{name}");
    assert!(s.load("b").unwrap().is_some(), "{name}");
}

#[test]
fn every_backend_passes_the_suite() {
    let dir = fresh_dir("backends");
    suite("memory", &MemoryStore::new());
    suite("string", &StringSession::new());
    suite("sled", &SledStore::open(dir.join("sled")).unwrap());
    suite("sqlite", &SqliteStore::open(dir.join("s.sqlite")).unwrap());
    // The persistent ones keep what they were given across a reopen.
    {
        let s = SqliteStore::open(dir.join("s.sqlite")).unwrap();
        assert!(s.load("b").unwrap().is_some());
        assert_eq!(
            s.kv_get("script/a", "n").unwrap().as_deref(),
            Some(&b"6"[..])
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn dc() -> fleetgram_localdc::LocalDc {
    use rand::RngCore;
    fleetgram_localdc::LocalDc::start(fleetgram_localdc::Config {
        rsa_key: Some(fleetgram_protocol::crypto::rsa::RsaPrivateKey::generate(
            &mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b),
        )),
        login_code: Some("12345".into()),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn config(dc: &fleetgram_localdc::LocalDc) -> fleetgram_engine::Config {
    let info = dc.info();
    let mut c = fleetgram_engine::Config::with_dcs(
        1,
        "local",
        info.dcs.iter().map(|d| (d.id, d.addr)).collect(),
        1,
    );
    c.extra_rsa_keys =
        vec![fleetgram_protocol::crypto::rsa::RsaPublicKey::from_pem(&info.rsa_pem).unwrap()];
    c
}

#[tokio::test]
async fn a_client_logs_in_on_every_backend_and_the_session_survives() {
    let dc = dc().await;
    let (_, token) = dc.control().create_bot("B", "backends_bot", 1);
    let dir = fresh_dir("backends-live");
    type Opener = Box<dyn Fn() -> Arc<dyn SessionStore>>;
    let stores: Vec<(&str, Opener)> = vec![
        (
            "sled",
            Box::new({
                let p = dir.join("sled");
                move || Arc::new(SledStore::open(&p).unwrap()) as Arc<dyn SessionStore>
            }),
        ),
        (
            "sqlite",
            Box::new({
                let p = dir.join("live.sqlite");
                move || Arc::new(SqliteStore::open(&p).unwrap()) as Arc<dyn SessionStore>
            }),
        ),
    ];
    for (name, open) in &stores {
        let store = open();
        let c = Client::new(config(&dc), store.clone(), "bot").unwrap();
        c.bot_sign_in(&token).await.unwrap();
        c.resolve_peer("@backends_bot").await.unwrap();
        c.disconnect();
        drop(c);
        drop(store);
        let c = Client::new(config(&dc), open(), "bot").unwrap();
        assert!(
            c.is_authorized().await.unwrap(),
            "{name}: authorized after a reopen"
        );
        assert!(
            c.cached_peer(c.user_id().unwrap()).is_some(),
            "{name}: peers kept"
        );
        c.disconnect();
    }
    // The string session: log in, export, start a new client from the string.
    let s = Arc::new(StringSession::new());
    let c = Client::new(config(&dc), s.clone(), "bot").unwrap();
    c.bot_sign_in(&token).await.unwrap();
    let text = s.session_string("bot").unwrap().expect("a session string");
    c.disconnect();
    let again = Arc::new(StringSession::from_session_string("bot", &text).unwrap());
    let c = Client::new(config(&dc), again, "bot").unwrap();
    assert!(
        c.is_authorized().await.unwrap(),
        "authorized from the string"
    );
    assert!(StringSession::from_session_string("bot", "not a session").is_err());
    dc.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
