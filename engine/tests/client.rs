//! The engine's client against the embedded local DC on loopback.

mod support;

use fleetgram_engine::auth::SignInError;
use fleetgram_engine::policy::NoRetries;
use fleetgram_engine::store::{AccountState, MemoryStore, SessionStore, SledStore};
use fleetgram_engine::{Client, Config, InvocationError, Transport};
use fleetgram_localdc::{Config as DcConfig, LocalDc};
use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use fleetgram_protocol::crypto::srp::SrpParams;
use fleetgram_protocol::transport::Kind;
use fleetgram_tl::dynamic::{Object, Value};
use fleetgram_tl::{enums, functions, types};
use rand::RngCore;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn start() -> LocalDc {
    start_with(None).await
}

async fn start_with(data_dir: Option<std::path::PathBuf>) -> LocalDc {
    // With a data directory the DC makes (and keeps) its own key.
    let key = data_dir
        .is_none()
        .then(|| RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b)));
    LocalDc::start(DcConfig {
        rsa_key: key,
        login_code: Some("12345".into()),
        data_dir,
        ..DcConfig::default()
    })
    .await
    .unwrap()
}

fn config(dc: &LocalDc) -> Config {
    let info = dc.info();
    let mut c = Config::with_dcs(
        1,
        "local",
        info.dcs.iter().map(|d| (d.id, d.addr)).collect(),
        1,
    );
    c.extra_rsa_keys = vec![RsaPublicKey::from_pem(&info.rsa_pem).unwrap()];
    c.request_timeout = Duration::from_secs(20);
    c
}

fn client(dc: &LocalDc, store: Arc<dyn SessionStore>, account: &str) -> Client {
    Client::new(config(dc), store, account).unwrap()
}

fn send_raw(text: &str, random_id: i64) -> Object {
    Object::new("messages.sendMessage")
        .with("peer", Value::Object(Object::new("inputPeerSelf")))
        .with("message", Value::String(text.into()))
        .with("random_id", Value::Long(random_id))
}

async fn self_history(c: &Client) -> Vec<String> {
    let h = c
        .invoke(&functions::messages::GetHistory {
            peer: enums::InputPeer::InputPeerSelf,
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 100,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await
        .unwrap();
    let msgs = match h {
        enums::messages::Messages::Messages(m) => m.messages,
        enums::messages::Messages::Slice(m) => m.messages,
        other => panic!("{other:?}"),
    };
    msgs.into_iter()
        .filter_map(|m| match m {
            enums::Message::Message(m) => Some(m.message),
            _ => None,
        })
        .collect()
}

async fn login_user(dc: &LocalDc, c: &Client, phone: &str) {
    if dc.control().user_by_phone(phone).is_none() {
        dc.control().create_user(phone, "User", phone, 1);
    }
    let token = c.request_login_code(phone).await.unwrap();
    c.sign_in(&token, "12345").await.unwrap();
}

#[tokio::test]
async fn bot_login_typed_and_dynamic_calls() {
    let dc = start().await;
    let (bot_id, token) = dc.control().create_bot("Helper", "helper_bot", 1);
    let c = client(&dc, Arc::new(MemoryStore::new()), "bot");
    assert!(!c.is_authorized().await.unwrap());
    assert!(matches!(
        c.bot_sign_in("1:wrong").await,
        Err(SignInError::InvalidToken)
    ));
    let me = c.bot_sign_in(&token).await.unwrap();
    assert_eq!((me.id, me.bot), (bot_id, true));
    assert_eq!(me.username.as_deref(), Some("helper_bot"));
    assert!(c.is_authorized().await.unwrap());
    assert_eq!(c.state().user_id, Some(bot_id));
    assert!(c.state().bot);

    // Typed call.
    let users = c
        .invoke(&functions::users::GetUsers {
            id: vec![enums::InputUser::InputUserSelf],
        })
        .await
        .unwrap();
    assert!(matches!(&users[0], enums::User::User(u) if u.id == bot_id));

    // Dynamic call by name, as scripts do.
    let v = c
        .invoke_raw("users.getUsers", {
            Object::new("_").with(
                "id",
                Value::Vector(vec![Value::Object(Object::new("inputUserSelf"))]),
            )
        })
        .await
        .unwrap();
    let Value::Vector(users) = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        users[0].as_object().unwrap().get("id"),
        Some(&Value::Long(bot_id))
    );

    // Bad dynamic calls are clear errors, not panics, and nothing is sent.
    let e = c
        .invoke_raw("messages.sendMesage", Object::new("_"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown TL method \"messages.sendMesage\""),
        "{e}"
    );
    let e = c
        .invoke_raw(
            "messages.sendMessage",
            send_raw("x", 1).with("random_id", Value::String("one".into())),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("random_id"), "{e}");
    let e = c
        .invoke_raw("inputPeerSelf", Object::new("_"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a method"), "{e}");
    dc.shutdown().await;
}

#[tokio::test]
async fn user_login_follows_phone_migrate_and_does_2fa() {
    let dc = start().await;
    let phone = "+15550002002";
    let uid = dc.control().create_user(phone, "Dee", "Two", 2);
    // The account starts on DC 1; the phone lives on DC 2.
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let c = client(&dc, store.clone(), "dee");
    assert_eq!(c.home_dc(), 1);
    let token = c.request_login_code(phone).await.unwrap();
    assert_eq!(c.home_dc(), 2, "PHONE_MIGRATE_2 moved the account");
    assert!(matches!(
        c.sign_in(&token, "00000").await,
        Err(SignInError::InvalidCode)
    ));
    let me = c.sign_in(&token, "12345").await.unwrap();
    assert_eq!((me.id, me.bot), (uid, false));
    assert_eq!(store.load("dee").unwrap().unwrap().home_dc, 2);

    // Set a cloud password.
    let enums::account::Password::Password(pw) =
        c.invoke(&functions::account::GetPassword {}).await.unwrap();
    let enums::PasswordKdfAlgo::SHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(algo) =
        pw.new_algo.clone()
    else {
        panic!("{pw:?}")
    };
    let mut salt1 = algo.salt1.clone();
    salt1.extend_from_slice(&[9u8; 32]);
    let params = SrpParams {
        salt1: salt1.clone(),
        salt2: algo.salt2.clone(),
        g: algo.g as u32,
        p: algo.p.clone(),
    };
    let new_algo = types::PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow {
        salt1,
        salt2: algo.salt2.clone(),
        g: algo.g,
        p: algo.p.clone(),
    };
    assert!(c
        .invoke(&functions::account::UpdatePasswordSettings {
            password: enums::InputCheckPasswordSRP::InputCheckPasswordEmpty,
            new_settings: types::account::PasswordInputSettings {
                new_algo: Some(new_algo.into()),
                new_password_hash: Some(params.verifier(b"s3cret").to_vec()),
                hint: Some("the usual".into()),
                email: None,
                new_secure_settings: None,
            }
            .into(),
        })
        .await
        .unwrap());
    c.log_out().await.unwrap();
    assert_eq!(store.load("dee").unwrap().unwrap().user_id, None);

    // A new login needs the password; a wrong one is a typed error.
    let c = client(&dc, store.clone(), "dee");
    let token = c.request_login_code(phone).await.unwrap();
    let Err(SignInError::PasswordRequired(pt)) = c.sign_in(&token, "12345").await else {
        panic!("expected PasswordRequired")
    };
    assert_eq!(pt.hint(), Some("the usual"));
    assert!(matches!(
        c.check_password(pt, "wrong").await,
        Err(SignInError::InvalidPassword)
    ));
    let token = c.request_login_code(phone).await.unwrap();
    let Err(SignInError::PasswordRequired(pt)) = c.sign_in(&token, "12345").await else {
        panic!("expected PasswordRequired")
    };
    let me = c.check_password(pt, "s3cret").await.unwrap();
    assert_eq!(me.id, uid);
    assert!(c.is_authorized().await.unwrap());

    // Sign-up of an unknown number.
    let c2 = client(&dc, Arc::new(MemoryStore::new()), "new");
    let token = c2.request_login_code("+15550009999").await.unwrap();
    let Err(SignInError::SignUpRequired(t)) = c2.sign_in(&token, "12345").await else {
        panic!("expected SignUpRequired")
    };
    let me = c2.sign_up(&t, "Newbie", "").await.unwrap();
    assert_eq!(me.first_name, "Newbie");
    dc.shutdown().await;
}

#[tokio::test]
async fn flood_wait_is_slept_below_the_threshold_and_surfaced_above() {
    let dc = start().await;
    let c = client(&dc, Arc::new(MemoryStore::new()), "u");
    login_user(&dc, &c, "+15550003003").await;
    dc.control()
        .force_error("help.getNearestDc", 420, "FLOOD_WAIT_1", 1);
    let t = Instant::now();
    c.invoke(&functions::help::GetNearestDc {}).await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());

    dc.control()
        .force_error("help.getNearestDc", 420, "FLOOD_WAIT_120", 1);
    let t = Instant::now();
    let e = c
        .invoke(&functions::help::GetNearestDc {})
        .await
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    match e {
        InvocationError::FloodWait { method, wait } => {
            assert_eq!(method, "help.getNearestDc");
            assert_eq!(wait, Duration::from_secs(120));
        }
        other => panic!("{other:?}"),
    }

    // A policy that never retries surfaces even a short wait; a transient error is retried
    // by the default policy.
    let mut cfg = config(&dc);
    cfg.retry = Arc::new(NoRetries);
    let strict = Client::new(cfg, Arc::new(MemoryStore::new()), "s").unwrap();
    dc.control()
        .force_error("help.getNearestDc", 420, "FLOOD_WAIT_1", 1);
    let r = strict.invoke(&functions::help::GetNearestDc {}).await;
    assert!(matches!(r, Err(InvocationError::FloodWait { .. })), "{r:?}");
    // Within the surfaced wait, the next call fails at once without reaching the server.
    let t = Instant::now();
    assert!(matches!(
        c.invoke(&functions::help::GetNearestDc {}).await,
        Err(InvocationError::FloodWait { wait, .. }) if wait > Duration::from_secs(100)
    ));
    assert!(t.elapsed() < Duration::from_millis(500));
    dc.control()
        .force_error("help.getConfig", 500, "RPC_CALL_FAIL", 2);
    c.invoke(&functions::help::GetConfig {}).await.unwrap();
    dc.shutdown().await;
}

#[tokio::test]
async fn a_call_survives_a_killed_connection_and_runs_once() {
    for transport in [
        Transport::default(),
        Transport {
            kind: Kind::Intermediate,
            obfuscated: false,
        },
        Transport {
            kind: Kind::Full,
            obfuscated: false,
        },
    ] {
        let dc = start().await;
        let mut cfg = config(&dc);
        cfg.transport = Some(transport);
        let c = Client::new(cfg, Arc::new(MemoryStore::new()), "u").unwrap();
        login_user(&dc, &c, "+15550004004").await;
        dc.control()
            .set_delay("messages.sendMessage", Some(Duration::from_millis(400)));
        let call = {
            let c = c.clone();
            tokio::spawn(async move {
                c.invoke_raw("messages.sendMessage", send_raw("once", 77))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        dc.control().drop_connections();
        let v = call.await.unwrap().unwrap();
        assert!(matches!(v, Value::Object(_)), "{v:?}");
        dc.control().set_delay("messages.sendMessage", None);
        assert_eq!(
            self_history(&c).await,
            vec!["once".to_string()],
            "{transport:?}"
        );
        dc.shutdown().await;
    }
}

#[tokio::test]
async fn sled_sessions_survive_a_restart_of_client_and_dc() {
    let root = std::env::temp_dir().join(format!("fleetgram-engine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dc_dir = root.join("dc");
    let dc = start_with(Some(dc_dir.clone())).await;
    let pem = dc.info().rsa_pem.clone();
    let store = Arc::new(SledStore::open(root.join("sessions")).unwrap());
    let c = client(&dc, store.clone(), "alice");
    login_user(&dc, &c, "+15550005005").await;
    c.invoke_raw("messages.sendMessage", send_raw("before", 1))
        .await
        .unwrap();
    let exported = c.session_string().unwrap();
    let keys = dc.control().auth_key_count();
    drop(c);
    dc.shutdown().await;
    drop(store);

    // Restart both; the account is still logged in with the same key.
    let dc = LocalDc::start(DcConfig {
        data_dir: Some(dc_dir),
        login_code: Some("12345".into()),
        ..DcConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(dc.info().rsa_pem, pem);
    let store = Arc::new(SledStore::open(root.join("sessions")).unwrap());
    let c = client(&dc, store.clone(), "alice");
    assert!(c.is_authorized().await.unwrap());
    assert_eq!(dc.control().auth_key_count(), keys);
    assert_eq!(self_history(&c).await, vec!["before".to_string()]);

    // The session string moves the login into another store.
    let imported = AccountState::from_session_string(&exported).unwrap();
    let mem = Arc::new(MemoryStore::new());
    mem.save("copy", &imported).unwrap();
    let copy = client(&dc, mem, "copy");
    assert!(copy.is_authorized().await.unwrap());
    drop((c, copy, store));
    dc.shutdown().await;
    let _ = std::fs::remove_dir_all(&root);
}

fn text_of(d: &fleetgram_engine::updates::Delivered) -> Option<String> {
    match &d.update {
        enums::Update::NewMessage(u) => match &u.message {
            enums::Message::Message(m) => Some(m.message.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Consumes `n` new messages, acknowledging each, and checks they are `prefix0..prefix{n-1}`.
async fn consume(stream: &mut fleetgram_engine::updates::UpdateStream, prefix: &str, n: usize) {
    let mut i = 0;
    while i < n {
        let d = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {i} of {n}"))
            .unwrap()
            .unwrap();
        if let Some(t) = text_of(&d) {
            assert_eq!(t, format!("{prefix}{i}"), "out of order or duplicated");
            i += 1;
        }
        stream.ack(&d).unwrap();
    }
}

/// Nothing more arrives within a short wait.
async fn assert_quiet(stream: &mut fleetgram_engine::updates::UpdateStream) {
    if let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_millis(700), stream.next()).await {
        assert!(text_of(&d).is_none(), "unexpected extra message {d:?}");
    }
}

#[tokio::test]
async fn updates_sent_while_stopped_arrive_after_restart_in_order_once() {
    let root = std::env::temp_dir().join(format!("fleetgram-upd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dc = start().await;
    let sender = dc.control().create_user("+15550007001", "Sender", "", 1);
    let store = Arc::new(SledStore::open(&root).unwrap());
    let c = client(&dc, store.clone(), "rx");
    login_user(&dc, &c, "+15550007002").await;
    let me = c.state().user_id.unwrap();
    // Live delivery first.
    let mut s = c.updates().await.unwrap();
    for i in 0..20 {
        dc.control()
            .send_message(sender, me, &format!("live{i}"))
            .unwrap();
    }
    consume(&mut s, "live", 20).await;
    drop(s);
    drop(c);

    // 10,000 messages while the client is stopped.
    for i in 0..10_000 {
        dc.control()
            .send_message(sender, me, &format!("m{i}"))
            .unwrap();
    }
    let c = client(&dc, store.clone(), "rx");
    let mut s = c.updates().await.unwrap();
    consume(&mut s, "m", 10_000).await;
    assert_quiet(&mut s).await;
    drop(s);
    drop(c);

    // Again, while the DC drops connections at random during delivery; the consumer also
    // stops half-way without acknowledging the last one, which comes again.
    for i in 0..10_000 {
        dc.control()
            .send_message(sender, me, &format!("n{i}"))
            .unwrap();
    }
    let control = dc.control();
    let chaos = tokio::spawn(async move {
        loop {
            let ms = 20 + rand::random::<u64>() % 80;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            control.drop_connections();
        }
    });
    let c = client(&dc, store.clone(), "rx");
    let mut s = c.updates().await.unwrap();
    consume(&mut s, "n", 4_999).await;
    loop {
        let d = s.next().await.unwrap().unwrap();
        if let Some(t) = text_of(&d) {
            assert_eq!(t, "n4999");
            break; // Handed out, never acknowledged.
        }
        s.ack(&d).unwrap();
    }
    drop(s);
    drop(c);
    let c = client(&dc, store.clone(), "rx");
    let mut s = c.updates().await.unwrap();
    let mut i = 4_999;
    while i < 10_000 {
        let d = tokio::time::timeout(Duration::from_secs(30), s.next())
            .await
            .expect("stalled")
            .unwrap()
            .unwrap();
        if let Some(t) = text_of(&d) {
            assert_eq!(t, format!("n{i}"));
            i += 1;
        }
        s.ack(&d).unwrap();
    }
    // Live messages still flow in order during the chaos.
    for i in 0..50 {
        dc.control()
            .send_message(sender, me, &format!("l{i}"))
            .unwrap();
    }
    consume(&mut s, "l", 50).await;
    chaos.abort();
    assert_quiet(&mut s).await;
    drop((s, c, store));
    dc.shutdown().await;
    let _ = std::fs::remove_dir_all(&root);
}

/// A server that answers anything with `reply`, then keeps the connection open.
async fn garbage_server(reply: Vec<u8>) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut b = [0u8; 4096];
                while let Ok(n) = s.read(&mut b).await {
                    if n == 0 || s.write_all(&reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn malformed_server_replies_are_errors_not_panics() {
    let replies: Vec<Vec<u8>> = vec![
        vec![0xff; 64],                                          // huge abridged length
        vec![0x01, 0, 0, 0, 0],                                  // one word: truncated message
        [vec![0x10], vec![0u8; 64]].concat(),                    // an all-zero "plain" message
        [vec![0x04], (-404i32).to_le_bytes().to_vec()].concat(), // a transport error
        (0..255u8).collect(),
    ];
    for reply in replies {
        let addr = garbage_server(reply.clone()).await;
        let mut cfg = Config::with_dcs(1, "x", [(1, addr)].into_iter().collect(), 1);
        cfg.transport = Some(Transport {
            kind: Kind::Abridged,
            obfuscated: false,
        });
        cfg.connect_timeout = Duration::from_secs(2);
        cfg.request_timeout = Duration::from_secs(3);
        cfg.retry = Arc::new(NoRetries);
        let c = Client::new(cfg, Arc::new(MemoryStore::new()), "g").unwrap();
        let e = c
            .invoke(&functions::help::GetNearestDc {})
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                InvocationError::Io { .. } | InvocationError::Timeout { .. }
            ),
            "{reply:?}: {e:?}"
        );
    }
}

#[tokio::test]
async fn peers_are_cached_resolved_and_re_resolved() {
    let root = std::env::temp_dir().join(format!("fleetgram-peers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dc = start().await;
    let (bot_id, _) = dc.control().create_bot("Helper", "Helper_Bot", 1);
    let store = Arc::new(SledStore::open(&root).unwrap());
    let c = client(&dc, store.clone(), "a");
    login_user(&dc, &c, "+15550008001").await;

    assert_eq!(
        c.resolve_peer("me").await.unwrap(),
        enums::InputPeer::InputPeerSelf
    );
    let e = c.resolve_peer(&bot_id.to_string()).await.unwrap_err();
    assert!(e.to_string().contains("unknown to this account"), "{e}");
    let e = c.resolve_peer("@x").await.unwrap_err();
    assert!(e.to_string().contains("is not a peer"), "{e}");

    // By username (server lookup), then by link and id from the cache.
    let p = c.resolve_peer("@helper_bot").await.unwrap();
    let enums::InputPeer::User(u) = &p else {
        panic!("{p:?}")
    };
    assert_eq!(u.user_id, bot_id);
    assert_eq!(c.resolve_peer("https://t.me/Helper_Bot").await.unwrap(), p);
    assert_eq!(c.resolve_peer(&bot_id.to_string()).await.unwrap(), p);
    let send = |peer: enums::InputPeer, text: &'static str| {
        let c = c.clone();
        async move {
            let mut args = send_raw(text, rand::random());
            args.set(
                "peer",
                Value::Object(match peer {
                    enums::InputPeer::User(u) => Object::new("inputPeerUser")
                        .with("user_id", Value::Long(u.user_id))
                        .with("access_hash", Value::Long(u.access_hash)),
                    other => panic!("{other:?}"),
                }),
            );
            c.invoke_raw("messages.sendMessage", args).await
        }
    };
    send(p.clone(), "hi").await.unwrap();

    // A stale hash in the store: the call fails with PEER_ID_INVALID, the username is
    // resolved again and the call repeated.
    let mut stale = c.cached_peer(bot_id).unwrap();
    stale.access_hash ^= 0x5555;
    store.save_peers("a", &[stale.clone()]).unwrap();
    c.forget_peer(bot_id);
    store.save_peers("a", &[stale]).unwrap();
    assert!(send(c.resolve_peer("@helper_bot").await.unwrap(), "x")
        .await
        .unwrap_err()
        .is("PEER_ID_INVALID"));
    c.with_peer("@helper_bot", |peer| send(peer, "again"))
        .await
        .unwrap();
    assert_eq!(c.resolve_peer(&bot_id.to_string()).await.unwrap(), p);

    // Peers survive a restart (store-backed).
    drop(c);
    let c = client(&dc, store.clone(), "a");
    assert_eq!(c.resolve_peer(&bot_id.to_string()).await.unwrap(), p);
    drop((c, store));
    dc.shutdown().await;
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn other_dcs_get_an_exported_authorization_once() {
    let dc = start().await;
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let c = client(&dc, store.clone(), "a");
    // Not logged in: nothing to export, plain calls work on any DC.
    c.authorize_dc(2).await.unwrap();
    c.invoke_on_dc(3, &functions::help::GetNearestDc {})
        .await
        .unwrap();
    login_user(&dc, &c, "+15550009001").await;
    assert!(!c.state().dcs.get(&2).is_some_and(|d| d.authorized));
    // A call on DC 2 first imports the login there.
    c.invoke_on_dc(2, &functions::help::GetNearestDc {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(c.state().dcs[&2].authorized);
    assert!(store.load("a").unwrap().unwrap().dcs[&2].authorized);
    // Reused, not exported again (an export now would fail).
    dc.control()
        .force_error("auth.exportAuthorization", 400, "DC_ID_INVALID", 5);
    c.invoke_on_dc(2, &functions::help::GetNearestDc {})
        .await
        .unwrap();
    let e = c
        .invoke_on_dc(3, &functions::help::GetNearestDc {})
        .await
        .unwrap_err();
    assert!(e.is("DC_ID_INVALID"), "{e}");
    dc.shutdown().await;
}

#[tokio::test]
async fn the_pacer_learns_from_flood_waits() {
    let dc = start().await;
    let c = client(&dc, Arc::new(MemoryStore::new()), "p");
    login_user(&dc, &c, "+15550009101").await;
    dc.control().set_flood_limit(
        "messages.getHistory",
        Some(fleetgram_localdc::FloodLimit {
            calls: 5,
            window: Duration::from_secs(1),
        }),
    );
    let t = Instant::now();
    for _ in 0..20 {
        self_history(&c).await;
    }
    // One FLOOD_WAIT teaches the spacing; the other calls stay under the limit.
    assert_eq!(c.flood_waits(), 1, "after {:?}", t.elapsed());
    let s = c.learned_spacing("messages.getHistory");
    assert!(s >= Duration::from_millis(200), "{s:?}");
    dc.shutdown().await;
}

#[tokio::test]
async fn live_updates_are_typed_and_gaps_are_filled() {
    use fleetgram_engine::updates::UpdateKind;
    use fleetgram_tl::Serializable;
    let dc = start().await;
    let sender = dc.control().create_user("+15550009201", "S", "", 1);
    let c = client(&dc, Arc::new(MemoryStore::new()), "r");
    login_user(&dc, &c, "+15550009202").await;
    let me = c.state().user_id.unwrap();
    let mut s = c.updates().await.unwrap();
    async fn next(
        s: &mut fleetgram_engine::updates::UpdateStream,
    ) -> fleetgram_engine::updates::Delivered {
        let d = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .expect("an update")
            .unwrap()
            .unwrap();
        s.ack(&d).unwrap();
        d
    }
    let id = dc.control().send_message(sender, me, "a").unwrap();
    let d = next(&mut s).await;
    assert_eq!(d.kind(), UpdateKind::NewMessage);
    assert!(matches!(d.message(), Some(enums::Message::Message(m)) if m.message == "a"));
    dc.control().edit_message(sender, me, id, "b").unwrap();
    let d = next(&mut s).await;
    assert_eq!(d.kind(), UpdateKind::MessageEdited);
    assert!(matches!(d.message(), Some(enums::Message::Message(m)) if m.message == "b"));
    dc.control()
        .delete_messages(sender, vec![id], true)
        .unwrap();
    assert_eq!(next(&mut s).await.kind(), UpdateKind::MessageDeleted);

    // A status update outside the pts sequence.
    let status: enums::Updates = types::UpdateShort {
        update: types::UpdateUserStatus {
            user_id: sender,
            status: types::UserStatusRecently { by_me: false }.into(),
        }
        .into(),
        date: 1,
    }
    .into();
    dc.control().inject_update(me, &status.to_bytes()).unwrap();
    assert_eq!(next(&mut s).await.kind(), UpdateKind::UserStatus);

    // A pushed update that skips ahead of the server's own sequence opens a gap: the stream
    // fetches the difference, then gives up on the bogus update, and carries on.
    let bogus: enums::Updates = types::UpdateShortMessage {
        out: false,
        mentioned: false,
        media_unread: false,
        silent: false,
        id: 999,
        user_id: sender,
        message: "bogus".into(),
        pts: 1_000,
        pts_count: 1,
        date: 1,
        fwd_from: None,
        via_bot_id: None,
        reply_to: None,
        entities: None,
        ttl_period: None,
    }
    .into();
    dc.control().inject_update(me, &bogus.to_bytes()).unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(1_800), s.next())
            .await
            .is_err(),
        "the bogus update must not be delivered"
    );
    dc.control().send_message(sender, me, "after").unwrap();
    let d = next(&mut s).await;
    assert!(
        matches!(d.message(), Some(enums::Message::Message(m)) if m.message == "after"),
        "{d:?}"
    );
    dc.shutdown().await;
}

/// A TCP relay to `target`; once `silent` is set, every relay made before stops
/// forwarding (the connection stays open but goes quiet, like a dead NAT mapping), while new
/// connections work.
async fn relay(
    target: std::net::SocketAddr,
    silent: Arc<std::sync::atomic::AtomicU64>,
) -> std::net::SocketAddr {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn pump(
        mut r: tokio::net::tcp::OwnedReadHalf,
        mut w: tokio::net::tcp::OwnedWriteHalf,
        generation: u64,
        silent: Arc<std::sync::atomic::AtomicU64>,
    ) {
        let mut b = vec![0u8; 16 * 1024];
        while let Ok(n) = r.read(&mut b).await {
            if n == 0 {
                break;
            }
            if silent.load(Ordering::SeqCst) > generation {
                continue; // swallowed
            }
            if w.write_all(&b[..n]).await.is_err() {
                break;
            }
        }
    }
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = l.accept().await {
            let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            let generation = silent.load(Ordering::SeqCst);
            let (ir, iw) = inbound.into_split();
            let (or, ow) = outbound.into_split();
            tokio::spawn(pump(ir, ow, generation, silent.clone()));
            tokio::spawn(pump(or, iw, generation, silent.clone()));
        }
    });
    addr
}

#[tokio::test]
async fn a_silent_connection_is_detected_and_replaced() {
    use std::sync::atomic::Ordering;
    let dc = start().await;
    let silent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut cfg = config(&dc);
    for (id, addr) in cfg.dcs.clone() {
        cfg.dcs.insert(id, relay(addr, silent.clone()).await);
    }
    cfg.ping_interval = Duration::from_millis(300);
    let c = Client::new(cfg, Arc::new(MemoryStore::new()), "u").unwrap();
    login_user(&dc, &c, "+15550009301").await;
    // The connection goes quiet; a call made now is answered after the client notices (no
    // pong within two ping intervals), reconnects and resends it.
    silent.fetch_add(1, Ordering::SeqCst);
    let t = Instant::now();
    let v = c
        .invoke_raw("messages.sendMessage", send_raw("through", 5))
        .await
        .unwrap();
    assert!(matches!(v, Value::Object(_)));
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(self_history(&c).await, vec!["through".to_string()]);
    dc.shutdown().await;
}

/// A minimal SOCKS5 server (RFC 1928 CONNECT, IPv4, username/password per RFC 1929) that
/// counts the tunnels it opened.
async fn socks5_server(
    user: &'static str,
    pass: &'static str,
    tunnels: Arc<std::sync::atomic::AtomicUsize>,
) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn serve(
        mut s: tokio::net::TcpStream,
        user: &str,
        pass: &str,
        tunnels: Arc<std::sync::atomic::AtomicUsize>,
    ) -> std::io::Result<()> {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).await?;
        let mut methods = vec![0u8; h[1] as usize];
        s.read_exact(&mut methods).await?;
        if !methods.contains(&2) {
            s.write_all(&[5, 0xff]).await?;
            return Ok(());
        }
        s.write_all(&[5, 2]).await?;
        let mut v = [0u8; 2];
        s.read_exact(&mut v).await?;
        let mut u = vec![0u8; v[1] as usize];
        s.read_exact(&mut u).await?;
        let mut pl = [0u8; 1];
        s.read_exact(&mut pl).await?;
        let mut p = vec![0u8; pl[0] as usize];
        s.read_exact(&mut p).await?;
        if u != user.as_bytes() || p != pass.as_bytes() {
            s.write_all(&[1, 1]).await?;
            return Ok(());
        }
        s.write_all(&[1, 0]).await?;
        let mut req = [0u8; 4];
        s.read_exact(&mut req).await?;
        assert_eq!(req[3], 1, "the client sends IPv4 targets");
        let mut a = [0u8; 6];
        s.read_exact(&mut a).await?;
        let target = std::net::SocketAddr::from((
            [a[0], a[1], a[2], a[3]],
            u16::from_be_bytes([a[4], a[5]]),
        ));
        let mut out = tokio::net::TcpStream::connect(target).await?;
        s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        tunnels.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::io::copy_bidirectional(&mut s, &mut out).await?;
        Ok(())
    }
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve(s, user, pass, tunnels.clone()));
        }
    });
    addr
}

#[tokio::test]
async fn connects_through_a_socks5_proxy_with_auth() {
    use fleetgram_engine::{Proxy, Socks5};
    let dc = start().await;
    let tunnels = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let proxy = socks5_server("fleet", "gram", tunnels.clone()).await;
    let mut cfg = config(&dc);
    cfg.proxy = Some(Proxy::Socks5(Socks5 {
        addr: proxy.to_string(),
        auth: Some(("fleet".into(), "gram".into())),
    }));
    let c = Client::new(cfg.clone(), Arc::new(MemoryStore::new()), "s").unwrap();
    login_user(&dc, &c, "+15550009401").await;
    assert!(c.is_authorized().await.unwrap());
    assert!(tunnels.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    // Wrong credentials: a clear connection error naming the proxy.
    cfg.proxy = Some(Proxy::Socks5(Socks5 {
        addr: proxy.to_string(),
        auth: Some(("fleet".into(), "nope".into())),
    }));
    cfg.retry = Arc::new(NoRetries);
    let bad = Client::new(cfg, Arc::new(MemoryStore::new()), "b").unwrap();
    let e = bad
        .invoke(&functions::help::GetNearestDc {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, InvocationError::Io { reason, .. } if reason.contains("SOCKS5 proxy")),
        "{e:?}"
    );
    dc.shutdown().await;
}

/// A relay that cuts connections whose first byte matches `block` (as a censor matching the
/// plain abridged tag 0xef would), and forwards the rest.
async fn filtering_relay(
    target: std::net::SocketAddr,
    block: fn(u8) -> bool,
) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut first = [0u8; 1];
                if inbound.read_exact(&mut first).await.is_err() || block(first[0]) {
                    return;
                }
                let Ok(mut out) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                if out.write_all(&first).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn the_transport_race_survives_either_framing_being_blocked() {
    let dc = start().await;
    let blockers: [fn(u8) -> bool; 2] = [|b| b == 0xef, |b| b != 0xef];
    for (i, block) in blockers.into_iter().enumerate() {
        let mut cfg = config(&dc);
        assert_eq!(cfg.transport, None, "racing is the default");
        for (id, addr) in cfg.dcs.clone() {
            cfg.dcs.insert(id, filtering_relay(addr, block).await);
        }
        let c = Client::new(cfg, Arc::new(MemoryStore::new()), "r").unwrap();
        login_user(&dc, &c, &format!("+1555000950{i}")).await;
        c.invoke_raw("messages.sendMessage", send_raw("raced", 1))
            .await
            .unwrap();
    }
    dc.shutdown().await;
}

#[tokio::test]
async fn pfs_uses_bound_temporary_keys() {
    let dc = start().await;
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let mut cfg = config(&dc);
    cfg.pfs = Some(Duration::from_secs(3600));
    let before = dc.control().auth_key_count();
    let c = Client::new(cfg.clone(), store.clone(), "p").unwrap();
    login_user(&dc, &c, "+15550009601").await;
    c.invoke_raw("messages.sendMessage", send_raw("secret", 3))
        .await
        .unwrap();
    // A permanent key and a temporary one were created; only the permanent one is stored.
    assert_eq!(dc.control().auth_key_count(), before + 2);
    let perm = c.state().dcs[&1].auth_key.clone().unwrap();
    // The login belongs to the permanent key: a client without PFS on the same store is in.
    drop(c);
    let mut plain_cfg = cfg.clone();
    plain_cfg.pfs = None;
    let c2 = Client::new(plain_cfg, store.clone(), "p").unwrap();
    assert!(c2.is_authorized().await.unwrap());
    assert_eq!(c2.state().dcs[&1].auth_key.clone().unwrap(), perm);
    assert_eq!(self_history(&c2).await, vec!["secret".to_string()]);
    // A new PFS connection binds a fresh temporary key to the same permanent key.
    let c3 = Client::new(cfg, store, "p").unwrap();
    assert!(c3.is_authorized().await.unwrap());
    assert_eq!(dc.control().auth_key_count(), before + 3);
    dc.shutdown().await;
}

/// A test MTProxy: checks the secret (and, for `ee`, the fake-TLS hello), reads the DC id
/// from the obfuscated header and relays to that DC of the local DC.
async fn mtproxy(
    secret: fleetgram_engine::Secret,
    dcs: std::collections::HashMap<i32, std::net::SocketAddr>,
) -> std::net::SocketAddr {
    mtproxy_with(secret, dcs, None, Default::default()).await
}

/// What [`mtproxy_with`] saw: connections accepted, and when data from the DC went through.
#[derive(Default)]
struct ProxyLog {
    accepted: std::sync::atomic::AtomicUsize,
    from_dc: std::sync::Mutex<Vec<std::time::Instant>>,
}

/// [`mtproxy`] that, like common MTProxy servers, closes a connection after `idle` without data
/// from the DC, and counts the connections it accepted.
async fn mtproxy_with(
    secret: fleetgram_engine::Secret,
    dcs: std::collections::HashMap<i32, std::net::SocketAddr>,
    idle: Option<Duration>,
    log: Arc<ProxyLog>,
) -> std::net::SocketAddr {
    use fleetgram_protocol::transport::faketls;
    use fleetgram_protocol::transport::obfuscated::server_accept;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn serve(
        client: tokio::net::TcpStream,
        secret: fleetgram_engine::Secret,
        dcs: std::collections::HashMap<i32, std::net::SocketAddr>,
        idle: Option<Duration>,
        log: Arc<ProxyLog>,
    ) -> Option<()> {
        let key = *secret.key();
        let tls = matches!(secret, fleetgram_engine::Secret::FakeTls { .. });
        let (mut cr, mut cw) = client.into_split();
        let mut raw = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let mut reader = faketls::RecordReader::new();
        let mut plain = Vec::new();
        if tls {
            let n = loop {
                if let Some(n) = faketls::hello_len(&raw).ok()? {
                    break n;
                }
                let k = cr.read(&mut chunk).await.ok()?;
                if k == 0 {
                    return None;
                }
                raw.extend_from_slice(&chunk[..k]);
            };
            let now = support_now_ms() / 1000;
            let hello = faketls::check_hello(&raw[..n], &[key], now).ok()?;
            let answer = faketls::server_answer(&key, &hello, &[3; 32], &[9; 64]);
            cw.write_all(&answer).await.ok()?;
            reader.read(&raw[n..], &mut plain).ok()?;
        } else {
            plain = raw;
        }
        while plain.len() < 64 {
            let k = cr.read(&mut chunk).await.ok()?;
            if k == 0 {
                return None;
            }
            if tls {
                reader.read(&chunk[..k], &mut plain).ok()?;
            } else {
                plain.extend_from_slice(&chunk[..k]);
            }
        }
        let header: [u8; 64] = plain[..64].try_into().unwrap();
        let acc = server_accept(&header, Some(&key)).ok()?;
        let target = dcs.get(&(acc.dc as i32))?;
        let dc = tokio::net::TcpStream::connect(target).await.ok()?;
        let (mut dr, mut dw) = dc.into_split();
        dw.write_all(acc.kind.plain_prefix()).await.ok()?;
        let (mut enc, mut dec) = acc.obfuscation.split();
        let mut rest = plain[64..].to_vec();
        dec.apply(&mut rest);
        dw.write_all(&rest).await.ok()?;
        let up = async move {
            let mut chunk = vec![0u8; 16 * 1024];
            loop {
                let k = cr.read(&mut chunk).await.ok()?;
                if k == 0 {
                    return Some(());
                }
                let mut data = Vec::new();
                if tls {
                    reader.read(&chunk[..k], &mut data).ok()?;
                } else {
                    data.extend_from_slice(&chunk[..k]);
                }
                dec.apply(&mut data);
                dw.write_all(&data).await.ok()?;
            }
        };
        let down = async move {
            let mut chunk = vec![0u8; 16 * 1024];
            let mut writer = faketls::RecordWriter::server();
            loop {
                let read = dr.read(&mut chunk);
                let k = match idle {
                    Some(idle) => tokio::time::timeout(idle, read).await.ok()?.ok()?,
                    None => read.await.ok()?,
                };
                if k == 0 {
                    return Some(());
                }
                log.from_dc.lock().unwrap().push(std::time::Instant::now());
                let mut data = chunk[..k].to_vec();
                enc.apply(&mut data);
                if tls {
                    let mut rec = Vec::new();
                    writer.write(&data, &mut rec);
                    data = rec;
                }
                cw.write_all(&data).await.ok()?;
            }
        };
        // Either direction ending (the idle limit among them) closes the connection.
        tokio::select! {
            _ = up => {}
            _ = down => {}
        }
        Some(())
    }
    fn support_now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            log.accepted
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(serve(s, secret.clone(), dcs.clone(), idle, log.clone()));
        }
    });
    addr
}

#[tokio::test]
async fn connects_through_mtproxy_with_plain_dd_and_ee_secrets() {
    use fleetgram_engine::{Proxy, Secret};
    let dc = start().await;
    let dcs: std::collections::HashMap<i32, std::net::SocketAddr> =
        dc.info().dcs.iter().map(|d| (d.id, d.addr)).collect();
    let secrets = [
        "00112233445566778899aabbccddeeff",
        "dd00112233445566778899aabbccddeeff",
        "ee00112233445566778899aabbccddeeff6578616d706c652e636f6d", // example.com
    ];
    for (i, text) in secrets.iter().enumerate() {
        let secret = Secret::parse(text).unwrap();
        let proxy = mtproxy(secret.clone(), dcs.clone()).await;
        let mut cfg = config(&dc);
        cfg.proxy = Some(Proxy::MtProxy {
            addr: proxy.to_string(),
            secret,
        });
        let c = Client::new(cfg, Arc::new(MemoryStore::new()), "m").unwrap();
        // The account starts on DC 1 and the phone lives on DC 2: the proxy is told which.
        let phone = format!("+1555000970{i}");
        dc.control().create_user(&phone, "M", "", 2);
        let token = c.request_login_code(&phone).await.unwrap();
        c.sign_in(&token, "12345").await.unwrap();
        assert_eq!(c.home_dc(), 2);
        c.invoke_raw("messages.sendMessage", send_raw(text, 1))
            .await
            .unwrap();
        assert_eq!(self_history(&c).await, vec![text.to_string()], "{text}");
    }
    // A proxy with another secret refuses us: a clear connection error, no panic.
    let proxy = mtproxy(Secret::parse(secrets[1]).unwrap(), dcs.clone()).await;
    let mut cfg = config(&dc);
    cfg.proxy = Some(Proxy::MtProxy {
        addr: proxy.to_string(),
        secret: Secret::parse("ddffeeddccbbaa99887766554433221100").unwrap(),
    });
    cfg.retry = Arc::new(NoRetries);
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.request_timeout = Duration::from_secs(3);
    let bad = Client::new(cfg, Arc::new(MemoryStore::new()), "x").unwrap();
    assert!(bad.invoke(&functions::help::GetNearestDc {}).await.is_err());
    dc.shutdown().await;
}

#[tokio::test]
async fn an_idle_account_keeps_its_connection_behind_a_proxy_that_drops_silent_ones() {
    // Common MTProxy servers close a connection after 60 s without data from the DC. Scaled
    // down fortyfold (the engine's default interval too), an idle account is never dropped:
    // one connection for the whole idle time, and the DC is never silent for more than half
    // the proxy's limit (the margin that network delays and a busy host eat into).
    use fleetgram_engine::{Proxy, Secret};
    use std::sync::atomic::Ordering::SeqCst;
    const SCALE: u32 = 40;
    let limit = Duration::from_secs(60) / SCALE;
    let dc = start().await;
    let dcs: std::collections::HashMap<i32, std::net::SocketAddr> =
        dc.info().dcs.iter().map(|d| (d.id, d.addr)).collect();
    let secret = Secret::parse("dd00112233445566778899aabbccddeeff").unwrap();
    let log = Arc::new(ProxyLog::default());
    let proxy = mtproxy_with(secret.clone(), dcs, Some(limit), log.clone()).await;
    let mut cfg = config(&dc);
    cfg.ping_interval /= SCALE;
    cfg.proxy = Some(Proxy::MtProxy {
        addr: proxy.to_string(),
        secret,
    });
    let c = Client::new(cfg, Arc::new(MemoryStore::new()), "idle").unwrap();
    dc.control().create_user("+15550009990", "Idle", "", 1);
    let token = c.request_login_code("+15550009990").await.unwrap();
    c.sign_in(&token, "12345").await.unwrap();
    let connections = log.accepted.load(SeqCst);
    let start = std::time::Instant::now();
    // Idle for three of the proxy's limits (three minutes at full scale).
    tokio::time::sleep(limit * 3).await;
    let end = std::time::Instant::now();
    assert_eq!(
        log.accepted.load(SeqCst),
        connections,
        "the idle account was reconnected"
    );
    let mut marks: Vec<_> = log
        .from_dc
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|t| (start..end).contains(t))
        .collect();
    marks.insert(0, start);
    marks.push(end);
    let longest = marks.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        longest <= limit / 2,
        "the DC was silent for {longest:?} (x{SCALE}) behind a proxy that drops after {limit:?}"
    );
    c.invoke_raw("messages.sendMessage", send_raw("still here", 1))
        .await
        .unwrap();
    assert_eq!(log.accepted.load(SeqCst), connections);
    dc.shutdown().await;
}

#[tokio::test]
async fn min_peers_resolve_through_the_message_they_were_seen_in() {
    let dc = start().await;
    let c = client(&dc, Arc::new(MemoryStore::new()), "r");
    login_user(&dc, &c, "+15550009801").await;
    let me = c.state().user_id.unwrap();
    let mut s = c.updates().await.unwrap();
    let pts = s.local_state().pts + 1;
    let (min_user, chat) = (4_242_424_242i64, 777i64);
    let json = serde_json::json!({
        "_": "updates",
        "updates": [{
            "_": "updateNewMessage",
            "message": {
                "_": "message", "id": 91, "date": 1, "message": "from a min user",
                "from_id": {"_": "peerUser", "user_id": min_user},
                "peer_id": {"_": "peerChat", "chat_id": chat}
            },
            "pts": pts, "pts_count": 1
        }],
        "users": [{"_": "user", "min": true, "id": min_user, "access_hash": 5, "first_name": "Min"}],
        "chats": [{"_": "chat", "id": chat, "title": "G", "photo": {"_": "chatPhotoEmpty"},
                   "participants_count": 3, "date": 1, "version": 1}],
        "date": 1, "seq": 0
    });
    let schema = fleetgram_tl::dynamic::schema();
    let obj = schema.object_from_json(&json).unwrap();
    dc.control()
        .inject_update(me, &schema.encode(&obj).unwrap())
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    s.ack(&d).unwrap();
    let p = c.resolve_peer(&min_user.to_string()).await.unwrap();
    assert_eq!(
        p,
        types::InputPeerUserFromMessage {
            peer: types::InputPeerChat { chat_id: chat }.into(),
            msg_id: 91,
            user_id: min_user,
        }
        .into()
    );
    dc.shutdown().await;
}

fn channel_text_of(d: &fleetgram_engine::updates::Delivered) -> Option<String> {
    match &d.update {
        enums::Update::NewChannelMessage(u) => match &u.message {
            enums::Message::Message(m) => Some(m.message.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Consumes `n` channel messages `prefix0..`, acknowledging each.
async fn consume_channel(
    stream: &mut fleetgram_engine::updates::UpdateStream,
    prefix: &str,
    n: usize,
) {
    let mut i = 0;
    while i < n {
        let d = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {i} of {n}"))
            .unwrap()
            .unwrap();
        if let Some(t) = channel_text_of(&d) {
            assert_eq!(t, format!("{prefix}{i}"), "out of order or duplicated");
            i += 1;
        }
        stream.ack(&d).unwrap();
    }
}

async fn post(c: &Client, peer: &enums::InputPeer, text: &str) {
    let mut o = send_raw(text, rand::random());
    o.set(
        "peer",
        fleetgram_tl::dynamic::schema()
            .decode_as(&fleetgram_tl::Serializable::to_bytes(peer), "InputPeer")
            .unwrap(),
    );
    c.invoke_raw("messages.sendMessage", o).await.unwrap();
}

#[tokio::test]
async fn channel_updates_are_caught_up_per_channel_after_a_restart() {
    let root = std::env::temp_dir().join(format!("fleetgram-chan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dc = start().await;
    let owner = client(&dc, Arc::new(MemoryStore::new()), "owner");
    login_user(&dc, &owner, "+15550008001").await;
    let store = Arc::new(SledStore::open(&root).unwrap());
    let c = client(&dc, store.clone(), "rx");
    login_user(&dc, &c, "+15550008002").await;
    // The owner makes a supergroup and adds rx.
    let input = support::new_channel(&owner, "chan", true).await;
    let peer = support::channel_peer(&input);
    let ch_id = input.channel_id;
    let channel: enums::InputChannel = input.into();
    let enums::contacts::ImportedContacts::ImportedContacts(imp) = owner
        .invoke(&functions::contacts::ImportContacts {
            contacts: vec![types::InputPhoneContact {
                client_id: 1,
                phone: "+15550008002".into(),
                first_name: "rx".into(),
                last_name: String::new(),
                note: None,
            }
            .into()],
        })
        .await
        .unwrap();
    let enums::User::User(rx) = &imp.users[0] else {
        panic!()
    };
    let mut s = c.updates().await.unwrap();
    owner
        .invoke(&functions::channels::InviteToChannel {
            channel: channel.clone(),
            users: vec![types::InputUser {
                user_id: rx.id,
                access_hash: rx.access_hash.unwrap(),
            }
            .into()],
        })
        .await
        .unwrap();
    // Live.
    for i in 0..20 {
        post(&owner, &peer, &format!("c{i}")).await;
    }
    consume_channel(&mut s, "c", 20).await;
    drop(s);
    drop(c);
    // 250 posts while rx is stopped (more than one 100-message slice).
    for i in 0..250 {
        post(&owner, &peer, &format!("d{i}")).await;
    }
    let c = client(&dc, store.clone(), "rx");
    assert!(
        c.state().channels.contains_key(&ch_id),
        "the channel's pts was committed"
    );
    let mut s = c.updates().await.unwrap();
    consume_channel(&mut s, "d", 250).await;
    if let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_millis(700), s.next()).await {
        assert!(
            channel_text_of(&d).is_none(),
            "unexpected extra message {d:?}"
        );
    }
    // Live again after the catch-up, with connections dropped now and then.
    let control = dc.control();
    let chaos = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(60 + rand::random::<u64>() % 60)).await;
            control.drop_connections();
        }
    });
    let o2 = owner.clone();
    let p2 = peer.clone();
    let poster = tokio::spawn(async move {
        for i in 0..100 {
            post(&o2, &p2, &format!("e{i}")).await;
        }
    });
    consume_channel(&mut s, "e", 100).await;
    poster.await.unwrap();
    chaos.abort();
    drop((s, c, store));
    dc.shutdown().await;
    let _ = std::fs::remove_dir_all(&root);
}

async fn next_of(
    s: &mut fleetgram_engine::updates::UpdateStream,
) -> fleetgram_engine::updates::Delivered {
    let d = tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("an update")
        .unwrap()
        .unwrap();
    s.ack(&d).unwrap();
    d
}

fn bot_stopped(d: &fleetgram_engine::updates::Delivered) -> Option<(bool, i32)> {
    match &d.update {
        enums::Update::BotStopped(u) => Some((u.stopped, u.qts)),
        _ => None,
    }
}

#[tokio::test]
async fn qts_updates_are_checked_gaps_filled_and_caught_up_after_a_restart() {
    use fleetgram_tl::Serializable;
    let dc = start().await;
    let (bot_id, token) = dc.control().create_bot("Q", "qts_bot", 1);
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let bot = client(&dc, store.clone(), "bot");
    bot.bot_sign_in(&token).await.unwrap();
    let user = client(&dc, Arc::new(MemoryStore::new()), "user");
    login_user(&dc, &user, "+15550009301").await;
    let peer = user.resolve_peer("@qts_bot").await.unwrap();
    let block = |on: bool| {
        let user = user.clone();
        let peer = peer.clone();
        async move {
            if on {
                user.invoke(&functions::contacts::Block {
                    my_stories_from: false,
                    id: peer,
                })
                .await
                .unwrap();
            } else {
                user.invoke(&functions::contacts::Unblock {
                    my_stories_from: false,
                    id: peer,
                })
                .await
                .unwrap();
            }
        }
    };
    let mut s = bot.updates().await.unwrap();
    let base = s.local_state().qts;

    block(true).await;
    assert_eq!(bot_stopped(&next_of(&mut s).await), Some((true, base + 1)));

    // One push lost: the next qts update opens a gap, the difference brings the missing one.
    dc.control().lose_pushes(bot_id, 1);
    block(false).await;
    block(true).await;
    assert_eq!(bot_stopped(&next_of(&mut s).await), Some((false, base + 2)));
    assert_eq!(bot_stopped(&next_of(&mut s).await), Some((true, base + 3)));
    assert!(s.stats().differences >= 1);

    // A repeated qts update is skipped.
    let again: enums::Updates = types::UpdateShort {
        update: types::UpdateBotStopped {
            user_id: user.state().user_id.unwrap(),
            date: 1,
            stopped: true,
            qts: base + 3,
        }
        .into(),
        date: 1,
    }
    .into();
    let dups = s.stats().duplicates;
    dc.control()
        .inject_update(bot_id, &again.to_bytes())
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(700), s.next())
            .await
            .is_err(),
        "a repeated qts update must not be delivered"
    );
    assert_eq!(s.stats().duplicates, dups + 1);
    s.flush().unwrap();
    drop(s);
    bot.disconnect();
    drop(bot);

    // While the bot is stopped: two more, caught up from the committed qts on start.
    block(false).await;
    block(true).await;
    let bot = client(&dc, store, "bot");
    let mut s = bot.updates().await.unwrap();
    assert_eq!(bot_stopped(&next_of(&mut s).await), Some((false, base + 4)));
    assert_eq!(bot_stopped(&next_of(&mut s).await), Some((true, base + 5)));
    assert_eq!(s.local_state().qts, base + 5);
    dc.shutdown().await;
}

#[tokio::test]
async fn containers_are_held_for_a_seq_gap_and_own_answers_count_in_the_sequences() {
    use fleetgram_tl::Serializable;
    let dc = start().await;
    let c = client(&dc, Arc::new(MemoryStore::new()), "seq");
    login_user(&dc, &c, "+15550009302").await;
    let me = c.state().user_id.unwrap();
    let mut s = c.updates().await.unwrap();

    // The account's own sends: answered with updates that continue its pts and seq, so the
    // stream delivers them at once, without a difference.
    let before = s.stats();
    for i in 0..3 {
        c.invoke_raw(
            "messages.sendMessage",
            send_raw(&format!("own{i}"), 700 + i),
        )
        .await
        .unwrap();
    }
    consume(&mut s, "own", 3).await;
    assert_eq!(s.stats().differences, before.differences, "{:?}", s.stats());

    // Containers outside the pts sequence, with seq: the first is lost, so the second
    // waits for the gap to time out; the difference moves the seq on and it is delivered.
    let status = |by_me: bool| -> Vec<u8> {
        enums::Updates::from(types::Updates {
            updates: vec![types::UpdateUserStatus {
                user_id: me,
                status: types::UserStatusRecently { by_me }.into(),
            }
            .into()],
            users: vec![],
            chats: vec![],
            date: 1,
            seq: 0,
        })
        .to_bytes()
    };
    dc.control().lose_pushes(me, 1);
    dc.control().inject_update(me, &status(false)).unwrap();
    let started = Instant::now();
    dc.control().inject_update(me, &status(true)).unwrap();
    let d = next_of(&mut s).await;
    assert!(
        matches!(&d.update, enums::Update::UserStatus(u)
            if matches!(&u.status, enums::UserStatus::Recently(r) if r.by_me)),
        "{d:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "held for the gap"
    );
    assert_eq!(s.stats().differences, before.differences + 1);
    let server = c.invoke(&functions::updates::GetState {}).await.unwrap();
    let enums::updates::State::State(server) = server;
    assert_eq!(s.local_state().seq, server.seq);

    // In order, nothing held: delivered at once.
    dc.control().inject_update(me, &status(false)).unwrap();
    let d = next_of(&mut s).await;
    assert!(matches!(&d.update, enums::Update::UserStatus(_)));
    assert_eq!(s.stats().differences, before.differences + 1);
    dc.shutdown().await;
}

#[tokio::test]
async fn own_deletes_and_reads_keep_the_sequence_without_a_difference() {
    let dc = start().await;
    let c = client(&dc, Arc::new(MemoryStore::new()), "del");
    login_user(&dc, &c, "+15550009401").await;
    let mut s = c.updates().await.unwrap();
    let ch = support::new_channel(&c, "del", false).await;
    let peer = support::channel_peer(&ch);
    post(&c, &peer, "in the channel").await;
    post(&c, &enums::InputPeer::InputPeerSelf, "to myself").await;
    // Both arrive (from the answers), with their ids.
    let (mut chan_id, mut own_id) = (None, None);
    while chan_id.is_none() || own_id.is_none() {
        let d = next_of(&mut s).await;
        match &d.update {
            enums::Update::NewChannelMessage(u) => {
                if let enums::Message::Message(m) = &u.message {
                    chan_id = Some(m.id);
                }
            }
            enums::Update::NewMessage(u) => {
                if let enums::Message::Message(m) = &u.message {
                    own_id = Some(m.id);
                }
            }
            _ => {}
        }
    }
    let before = s.stats();

    c.invoke(&functions::messages::DeleteMessages {
        revoke: true,
        id: vec![own_id.unwrap()],
    })
    .await
    .unwrap();
    let d = next_of(&mut s).await;
    assert!(
        matches!(&d.update, enums::Update::DeleteMessages(u) if u.messages == [own_id.unwrap()]),
        "{d:?}"
    );
    c.invoke(&functions::channels::DeleteMessages {
        channel: types::InputChannel {
            channel_id: ch.channel_id,
            access_hash: ch.access_hash,
        }
        .into(),
        id: vec![chan_id.unwrap()],
    })
    .await
    .unwrap();
    let d = next_of(&mut s).await;
    assert!(
        matches!(&d.update, enums::Update::DeleteChannelMessages(u)
            if u.channel_id == ch.channel_id && u.messages == [chan_id.unwrap()]),
        "{d:?}"
    );
    // Unpinning everything in the channel moves its sequence without saying how: stepped
    // over too.
    let pinned = c.send_message(peer.clone(), "to pin").await.unwrap();
    pinned.pin(true).await.unwrap();
    c.unpin_all(peer.clone()).await.unwrap();
    post(&c, &peer, "after unpinning").await;
    loop {
        let d = next_of(&mut s).await;
        if channel_text_of(&d).as_deref() == Some("after unpinning") {
            break;
        }
    }
    assert_eq!(s.stats().channel_differences, before.channel_differences);
    // The sequences go on without a gap.
    post(&c, &enums::InputPeer::InputPeerSelf, "after").await;
    let d = next_of(&mut s).await;
    assert_eq!(text_of(&d).as_deref(), Some("after"));
    assert_eq!(s.stats().differences, before.differences, "{:?}", s.stats());
    // Reading a chat moves the sequence without telling this session what changed: the
    // stream steps over it, so the next message is no gap either.
    let me = c.state().user_id.unwrap();
    let friend = dc.control().create_user("+15550009402", "Friend", "", 1);
    dc.control().send_message(friend, me, "hi").unwrap();
    assert_eq!(text_of(&next_of(&mut s).await).as_deref(), Some("hi"));
    // (A stranger's first message costs a difference: the short update has no access hash.)
    let before = s.stats();
    let enums::InputPeer::User(f) = c.resolve_peer(&friend.to_string()).await.unwrap() else {
        panic!()
    };
    let affected = c
        .invoke(&functions::messages::ReadHistory {
            peer: enums::InputPeer::User(f),
            max_id: 0,
        })
        .await
        .unwrap();
    let enums::messages::AffectedMessages::AffectedMessages(a) = affected;
    assert_eq!(a.pts_count, 1);
    dc.control().send_message(friend, me, "next").unwrap();
    assert_eq!(text_of(&next_of(&mut s).await).as_deref(), Some("next"));
    assert_eq!(s.stats().differences, before.differences, "{:?}", s.stats());
    let server = c.invoke(&functions::updates::GetState {}).await.unwrap();
    let enums::updates::State::State(server) = server;
    assert_eq!(s.local_state().pts, server.pts);
    dc.shutdown().await;
}

/// A relay in front of DC 1 speaking abridged framing. What it does to client payloads:
/// `reject_next` answers the next encrypted one with -404 (a bad packet, as Telegram may);
/// `reject_key` answers every payload under that auth key id with -404 (a DC that forgot
/// the key); `code` answers every connection's first payload with that transport error.
#[derive(Default)]
struct Relay {
    reject_next: std::sync::atomic::AtomicBool,
    reject_key: std::sync::Mutex<Option<i64>>,
    code: std::sync::Mutex<Option<i32>>,
    accepted: std::sync::atomic::AtomicUsize,
}

async fn key_relay(dc: std::net::SocketAddr, r: Arc<Relay>) -> std::net::SocketAddr {
    use fleetgram_protocol::transport::{Frame, Framer, Role};
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = l.accept().await {
            r.accepted.fetch_add(1, SeqCst);
            let r = r.clone();
            tokio::spawn(async move {
                let Ok(upstream) = tokio::net::TcpStream::connect(dc).await else {
                    return;
                };
                let (mut cr, cw) = client.into_split();
                let (mut ur, mut uw) = upstream.into_split();
                let mut tag = [0u8; 1];
                if cr.read_exact(&mut tag).await.is_err() || uw.write_all(&tag).await.is_err() {
                    return;
                }
                let cw = Arc::new(tokio::sync::Mutex::new(cw));
                let down = tokio::spawn({
                    let cw = cw.clone();
                    async move {
                        let mut b = vec![0u8; 64 * 1024];
                        while let Ok(n) = ur.read(&mut b).await {
                            if n == 0 || cw.lock().await.write_all(&b[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                });
                let mut framer = Framer::new(Kind::Abridged, Role::Server);
                let mut buf = Vec::new();
                let mut b = vec![0u8; 64 * 1024];
                'conn: while let Ok(n) = cr.read(&mut b).await {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&b[..n]);
                    while let Ok(Some(d)) = framer.decode(&buf) {
                        let Frame::Payload { range, .. } = d.frame.clone() else {
                            buf.drain(..d.consumed);
                            continue;
                        };
                        let payload = buf[range].to_vec();
                        buf.drain(..d.consumed);
                        let key_id = i64::from_le_bytes(payload[..8].try_into().unwrap());
                        let code = *r.code.lock().unwrap();
                        let reject = code.or_else(|| {
                            (key_id != 0
                                && (r.reject_next.swap(false, SeqCst)
                                    || *r.reject_key.lock().unwrap() == Some(key_id)))
                            .then_some(-404)
                        });
                        if let Some(code) = reject {
                            // Answer with the error and close, as Telegram does.
                            down.abort();
                            let mut out = Vec::new();
                            Framer::new(Kind::Abridged, Role::Server).encode(
                                &code.to_le_bytes(),
                                false,
                                &[],
                                &mut out,
                            );
                            let mut cw = cw.lock().await;
                            let _ = cw.write_all(&out).await;
                            let _ = cw.shutdown().await;
                            break 'conn;
                        }
                        let mut out = Vec::new();
                        Framer::new(Kind::Abridged, Role::Client).encode(
                            &payload,
                            false,
                            &[],
                            &mut out,
                        );
                        // Abridged frames carry no per-connection state: re-encoded alike.
                        if uw.write_all(&out).await.is_err() {
                            break 'conn;
                        }
                    }
                }
                down.abort();
            });
        }
    });
    addr
}

fn relayed_config(dc: &LocalDc, addr: std::net::SocketAddr) -> Config {
    let mut cfg = config(dc);
    cfg.dcs.insert(1, addr);
    cfg.transport = Some(Transport {
        kind: Kind::Abridged,
        obfuscated: false,
    });
    cfg
}

#[tokio::test]
async fn one_404_never_loses_the_key_but_a_dc_that_forgot_it_is_believed() {
    use std::sync::atomic::Ordering::SeqCst;
    let dc = start().await;
    let r = Arc::new(Relay::default());
    let addr = key_relay(dc.info().dcs[0].addr, r.clone()).await;
    let c = Client::new(relayed_config(&dc, addr), Arc::new(MemoryStore::new()), "k").unwrap();
    login_user(&dc, &c, "+15550009881").await;
    let key = c.state().dcs[&1].auth_key.clone().unwrap();
    // One -404 (a bad packet): a fresh connection and session, the same key, still logged in.
    r.reject_next.store(true, SeqCst);
    let _ = c.invoke(&functions::help::GetNearestDc {}).await;
    c.invoke_raw("messages.sendMessage", send_raw("still mine", 1))
        .await
        .unwrap();
    assert_eq!(c.state().dcs[&1].auth_key.as_ref(), Some(&key));
    assert!(c.is_authorized().await.unwrap());
    // A DC that answers -404 to the key on every fresh connection has forgotten it: the key
    // goes, the account is no longer authorized (the fleet quarantines it, with the reason).
    let key_id =
        fleetgram_protocol::crypto::AuthKey::from_bytes(key.as_slice().try_into().unwrap()).id();
    *r.reject_key.lock().unwrap() = Some(key_id);
    let mut errors = Vec::new();
    for i in 0..3 {
        if let Err(e) = c
            .invoke_raw("messages.sendMessage", send_raw("gone?", 10 + i))
            .await
        {
            errors.push(e.to_string());
        }
    }
    assert!(
        errors.iter().any(|e| e.contains("AUTH_KEY_UNREGISTERED")),
        "{errors:?}"
    );
    assert_ne!(
        c.state().dcs.get(&1).and_then(|d| d.auth_key.clone()),
        Some(key)
    );
    dc.shutdown().await;
}

#[tokio::test]
async fn transport_flood_backs_off_and_a_wrong_dc_stops() {
    use std::sync::atomic::Ordering::SeqCst;
    let dc = start().await;
    let r = Arc::new(Relay::default());
    let addr = key_relay(dc.info().dcs[0].addr, r.clone()).await;
    // -429 on every connection: the client backs off instead of reconnecting every 0.2 s.
    *r.code.lock().unwrap() = Some(-429);
    let mut cfg = relayed_config(&dc, addr);
    cfg.retry = Arc::new(NoRetries);
    cfg.request_timeout = Duration::from_secs(4);
    let c = Client::new(cfg.clone(), Arc::new(MemoryStore::new()), "f").unwrap();
    let started = std::time::Instant::now();
    let _ = c.invoke(&functions::help::GetNearestDc {}).await;
    let tries = r.accepted.load(SeqCst);
    assert!(
        tries <= 6,
        "{tries} connections in {:?} under -429",
        started.elapsed()
    );
    drop(c);
    // -444: the call fails with the reason, and the client stops trying.
    *r.code.lock().unwrap() = Some(-444);
    let before = r.accepted.load(SeqCst);
    let c = Client::new(cfg, Arc::new(MemoryStore::new()), "w").unwrap();
    let e = c
        .invoke(&functions::help::GetNearestDc {})
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("-444") || e.to_string().contains("DC_INVALID"),
        "{e}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        r.accepted.load(SeqCst) - before <= 2,
        "kept reconnecting after -444"
    );
    dc.shutdown().await;
}

#[tokio::test]
async fn overlapping_channel_updates_and_containers_seen_before_are_ignored() {
    // `../shared/spec/api/updates.md`: an update with `local_pts + pts_count > pts` was
    // applied already; a container with `seq_start <= local_seq` too.
    let dc = start().await;
    let c = client(&dc, Arc::new(MemoryStore::new()), "o");
    login_user(&dc, &c, "+15550009871").await;
    let me = c.state().user_id.unwrap();
    let mut s = c.updates().await.unwrap();
    let schema = fleetgram_tl::dynamic::schema();
    // Exactly as given: the seq numbers are the test's.
    let inject = |json: serde_json::Value| {
        let obj = schema.object_from_json(&json).unwrap();
        dc.control()
            .inject_update_as_is(me, &schema.encode(&obj).unwrap())
            .unwrap();
    };
    let post = |id: i32, text: &str, pts: i32, count: i32| {
        serde_json::json!({
            "_": "updates",
            "updates": [{
                "_": "updateNewChannelMessage",
                "message": {"_": "message", "id": id, "date": 1, "message": text,
                            "peer_id": {"_": "peerChannel", "channel_id": 777}},
                "pts": pts, "pts_count": count
            }],
            "users": [], "chats": [], "date": 1, "seq": 0
        })
    };
    let status = |seq: i32, online: bool| {
        serde_json::json!({
            "_": "updates",
            "updates": [{"_": "updateUserStatus", "user_id": 5,
                         "status": if online { serde_json::json!({"_": "userStatusOnline", "expires": 9}) }
                                   else { serde_json::json!({"_": "userStatusRecently"}) }}],
            "users": [], "chats": [], "date": 1, "seq": seq
        })
    };
    inject(post(1, "a", 10, 1));
    inject(post(2, "overlap", 11, 2));
    let seq = s.local_state().seq;
    inject(status(seq, false)); // seen before
    inject(post(3, "b", 11, 1));
    inject(status(seq + 1, true)); // new
    let mut got = Vec::new();
    while got.len() < 3 {
        let d = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .expect("an update")
            .unwrap()
            .unwrap();
        match &d.update {
            enums::Update::NewChannelMessage(_) => got.push(channel_text_of(&d).unwrap()),
            enums::Update::UserStatus(u) => got.push(format!("{:?}", u.status)),
            _ => {}
        }
        s.ack(&d).unwrap();
    }
    assert_eq!(got[..2], ["a".to_string(), "b".to_string()]);
    assert!(got[2].contains("Online"), "{got:?}");
    // Nothing else comes.
    if let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_millis(700), s.next()).await {
        panic!("unexpected {d:?}");
    }
    dc.shutdown().await;
}
