//! The local DC against a protocol-level client over loopback TCP.

mod support;

use fleetgram_localdc::{Config, LocalDc};
use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use fleetgram_protocol::transport::{ErrorCode, Kind};
use fleetgram_tl::{enums, functions, types};
use rand::RngCore;
use std::sync::OnceLock;
use support::{Client, Wire};

fn test_key() -> RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b))
    })
    .clone()
}

async fn start() -> (LocalDc, RsaPublicKey) {
    let dc = LocalDc::start(Config {
        rsa_key: Some(test_key()),
        login_code: Some("12345".into()),
        ..Config::default()
    })
    .await
    .unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    (dc, key)
}

fn send_code(phone: &str) -> functions::auth::SendCode {
    functions::auth::SendCode {
        phone_number: phone.into(),
        api_id: 1,
        api_hash: "x".into(),
        settings: types::CodeSettings::default().into(),
    }
}

#[tokio::test]
async fn every_framing_and_obfuscation_gets_a_config() {
    let (dc, key) = start().await;
    let info = dc.info();
    assert_eq!(info.dcs.len(), 3);
    for kind in [
        Kind::Abridged,
        Kind::Intermediate,
        Kind::PaddedIntermediate,
        Kind::Full,
    ] {
        for obfuscated in [false, true] {
            if kind == Kind::Full && obfuscated {
                continue;
            }
            let addr = info.dcs[1].addr;
            let mut c = Client::connect(addr, 2, &key, kind, obfuscated, None).await;
            let req = functions::InvokeWithLayer {
                layer: fleetgram_tl::LAYER,
                query: functions::InitConnection {
                    api_id: 1,
                    device_model: "test".into(),
                    system_version: "1".into(),
                    app_version: "1".into(),
                    system_lang_code: "en".into(),
                    lang_pack: "".into(),
                    lang_code: "en".into(),
                    proxy: None,
                    params: None,
                    query: functions::help::GetConfig {},
                },
            };
            let enums::Config::Config(config) = c.invoke(&req).await.unwrap();
            assert_eq!(config.this_dc, 2, "{kind:?} {obfuscated}");
            assert_eq!(config.dc_options.len(), 3);
            let enums::NearestDc::NearestDc(n) =
                c.invoke(&functions::help::GetNearestDc {}).await.unwrap();
            assert_eq!(n.this_dc, 2);
        }
    }
    assert_eq!(dc.control().auth_key_count(), 7);
    dc.shutdown().await;
}

#[tokio::test]
async fn sign_up_sign_in_and_user_methods() {
    let (dc, key) = start().await;
    let addr = dc.info().dcs[0].addr;
    let mut c = Client::connect(addr, 1, &key, Kind::Abridged, false, None).await;
    // Before login.
    let err = c
        .invoke(&functions::updates::GetState {})
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.name.as_str()),
        (401, "AUTH_KEY_UNREGISTERED")
    );
    let enums::auth::SentCode::SentCode(sent) = c.invoke(&send_code("+1 555 0100")).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        dc.control().login_code("15550100").as_deref(),
        Some("12345")
    );
    let sign_in = |code: &str| functions::auth::SignIn {
        phone_number: "15550100".into(),
        phone_code_hash: sent.phone_code_hash.clone(),
        phone_code: Some(code.into()),
        email_verification: None,
    };
    let err = c.invoke(&sign_in("00000")).await.unwrap_err();
    assert_eq!(err.name, "PHONE_CODE_INVALID");
    let answer = c.invoke(&sign_in("12345")).await.unwrap();
    assert!(matches!(
        answer,
        enums::auth::Authorization::SignUpRequired(_)
    ));
    let err = c
        .invoke(&functions::auth::SignUp {
            no_joined_notifications: false,
            phone_number: "15550100".into(),
            phone_code_hash: sent.phone_code_hash.clone(),
            first_name: " ".into(),
            last_name: "".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.name, "FIRST_NAME_INVALID");
    let enums::auth::Authorization::Authorization(auth) = c
        .invoke(&functions::auth::SignUp {
            no_joined_notifications: false,
            phone_number: "15550100".into(),
            phone_code_hash: sent.phone_code_hash.clone(),
            first_name: "Ada".into(),
            last_name: "L".into(),
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    let enums::User::User(me) = &auth.user else {
        panic!()
    };
    assert!(me.self_);
    assert_eq!(me.first_name.as_deref(), Some("Ada"));
    assert_eq!(Some(me.id), dc.control().user_by_phone("15550100"));
    let users = c
        .invoke(&functions::users::GetUsers {
            id: vec![enums::InputUser::InputUserSelf],
        })
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    let enums::updates::State::State(st) =
        c.invoke(&functions::updates::GetState {}).await.unwrap();
    assert!(st.pts >= 1);
    // A second client logs in to the same account with a fresh code.
    let mut c2 = Client::connect(addr, 1, &key, Kind::Intermediate, true, None).await;
    let enums::auth::SentCode::SentCode(sent2) = c2.invoke(&send_code("15550100")).await.unwrap()
    else {
        panic!()
    };
    assert!(
        matches!(sent2.r#type, enums::auth::SentCodeType::App(_)),
        "known accounts get the code in the app"
    );
    let answer = c2
        .invoke(&functions::auth::SignIn {
            phone_number: "15550100".into(),
            phone_code_hash: sent2.phone_code_hash,
            phone_code: Some("12345".into()),
            email_verification: None,
        })
        .await
        .unwrap();
    assert!(matches!(
        answer,
        enums::auth::Authorization::Authorization(_)
    ));
    // Log out: the key is no longer authorized.
    assert!(matches!(
        c.invoke(&functions::auth::LogOut {}).await.unwrap(),
        enums::auth::LoggedOut::LoggedOut(_)
    ));
    assert_eq!(
        c.invoke(&functions::updates::GetState {})
            .await
            .unwrap_err()
            .name,
        "AUTH_KEY_UNREGISTERED"
    );
    assert!(c2.invoke(&functions::updates::GetState {}).await.is_ok());
    dc.shutdown().await;
}

#[tokio::test]
async fn phone_migrate_and_user_migrate() {
    let (dc, key) = start().await;
    let info = dc.info();
    dc.control().create_user("15550200", "Bob", "", 2);
    let mut c = Client::connect(info.dcs[0].addr, 1, &key, Kind::Abridged, false, None).await;
    let err = c.invoke(&send_code("15550200")).await.unwrap_err();
    assert_eq!(
        (err.code, err.name.as_str(), err.value),
        (303, "PHONE_MIGRATE", Some(2))
    );
    // On DC 2 it works.
    let mut c2 = Client::connect(info.dcs[1].addr, 2, &key, Kind::Abridged, false, None).await;
    assert!(c2.invoke(&send_code("15550200")).await.is_ok());
    let err = c.invoke(&functions::help::GetNearestDc {}).await;
    assert!(err.is_ok());
    dc.shutdown().await;
}

#[tokio::test]
async fn temporary_key_bound_to_permanent_key() {
    let (dc, key) = start().await;
    let addr = dc.info().dcs[0].addr;
    // The permanent key logs in.
    let mut perm = Client::connect(addr, 1, &key, Kind::Abridged, false, None).await;
    let enums::auth::SentCode::SentCode(sent) = perm.invoke(&send_code("15550300")).await.unwrap()
    else {
        panic!()
    };
    perm.invoke(&functions::auth::SignIn {
        phone_number: "15550300".into(),
        phone_code_hash: sent.phone_code_hash.clone(),
        phone_code: Some("12345".into()),
        email_verification: None,
    })
    .await
    .unwrap();
    perm.invoke(&functions::auth::SignUp {
        no_joined_notifications: false,
        phone_number: "15550300".into(),
        phone_code_hash: sent.phone_code_hash,
        first_name: "Temp".into(),
        last_name: "".into(),
    })
    .await
    .unwrap();
    // A temporary key on a new connection is bound to it and acts for it.
    let mut wire = Wire::connect(addr, Kind::Intermediate, false).await;
    let (temp, session) = Client::handshake(&mut wire, 1, &key, Some(3600)).await;
    let mut t = Client {
        wire,
        session,
        stash: Default::default(),
    };
    assert_eq!(
        t.invoke(&functions::updates::GetState {})
            .await
            .unwrap_err()
            .name,
        "AUTH_KEY_UNREGISTERED"
    );
    let now = (support::now_ms() / 1000) as i32;
    // The bind request travels as the message whose msg_id it names.
    let (perm_key, session_id) = (perm.session.auth_key().clone(), t.session.session_id());
    // A forged binding (wrong perm key) is refused.
    let id = t.session.enqueue_with_msg_id(support::now_ms(), |msg_id| {
        let other = fleetgram_protocol::crypto::AuthKey::from_bytes([9; 256]);
        let bind = fleetgram_protocol::handshake::pfs::bind_request(
            &other,
            &temp.auth_key,
            session_id,
            msg_id,
            now + 3600,
            42,
            &[7; 24],
        );
        fleetgram_tl::Serializable::to_bytes(&bind)
    });
    assert_eq!(
        t.wait(id).await.unwrap_err().name,
        "ENCRYPTED_MESSAGE_INVALID"
    );
    let id = t.session.enqueue_with_msg_id(support::now_ms(), |msg_id| {
        let bind = fleetgram_protocol::handshake::pfs::bind_request(
            &perm_key,
            &temp.auth_key,
            session_id,
            msg_id,
            now + 3600,
            42,
            &[7; 24],
        );
        fleetgram_tl::Serializable::to_bytes(&bind)
    });
    let ok = t.wait(id).await.unwrap();
    assert_eq!(ok, fleetgram_tl::Serializable::to_bytes(&true));
    assert!(
        t.invoke(&functions::updates::GetState {}).await.is_ok(),
        "the temporary key acts for the permanent one"
    );
    // Once bound, binding to another permanent key is refused.
    let id = t.session.enqueue_with_msg_id(support::now_ms(), |msg_id| {
        let other = fleetgram_protocol::crypto::AuthKey::from_bytes([9; 256]);
        let bind = fleetgram_protocol::handshake::pfs::bind_request(
            &other,
            &temp.auth_key,
            session_id,
            msg_id,
            now + 3600,
            42,
            &[7; 24],
        );
        fleetgram_tl::Serializable::to_bytes(&bind)
    });
    assert_eq!(
        t.wait(id).await.unwrap_err().name,
        "TEMP_AUTH_KEY_ALREADY_BOUND"
    );
    dc.shutdown().await;
}

#[tokio::test]
async fn garbage_and_unknown_keys_are_refused_without_harming_others() {
    let (dc, key) = start().await;
    let addr = dc.info().dcs[0].addr;
    let mut good = Client::connect(addr, 1, &key, Kind::Intermediate, false, None).await;
    // An oversized frame.
    let mut w = Wire::connect(addr, Kind::Abridged, false).await;
    w.send_raw(&[0x7f, 0xff, 0xff, 0xff]).await; // a frame far over the limit
    assert_eq!(w.recv().await.err(), Some(Some(ErrorCode::AuthKeyNotFound)));
    // An unknown auth key id.
    let mut w = Wire::connect(addr, Kind::Intermediate, false).await;
    w.send(&[1u8; 64]).await;
    assert_eq!(w.recv().await.err(), Some(Some(ErrorCode::AuthKeyNotFound)));
    // Random bytes as the first thing on a connection.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(&[0x55; 200]).await.unwrap();
    let mut b = [0u8; 16];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut b))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "closed");
    // The good client is unaffected.
    assert!(good.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    dc.shutdown().await;
}

/// Sends `n` `help.getConfig` calls and reads none of the answers; how many frames went out
/// before the DC closed the connection.
async fn ask_without_reading(lazy: &mut Client, n: usize) -> usize {
    for _ in 0..n {
        lazy.session.enqueue(fleetgram_tl::Serializable::to_bytes(
            &functions::help::GetConfig {},
        ));
    }
    let mut sent = 0;
    while let Some(p) = lazy.session.poll_transmit(support::now_ms(), &[0; 32]) {
        if !lazy.wire.try_send(&p).await {
            break; // the DC closed the connection
        }
        sent += 1;
    }
    sent
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let (dc, key) = start().await;
    let addr = dc.info().dcs[0].addr;
    let mut lazy = Client::connect(addr, 1, &key, Kind::Intermediate, false, None).await;
    // Ask for far more answers than the DC will buffer, and never read them.
    let sent = ask_without_reading(&mut lazy, 60_000).await;
    assert!(sent > 0);
    // The DC closes it: draining what the kernel buffered ends in EOF (or a reset).
    let closed =
        tokio::time::timeout(std::time::Duration::from_secs(30), lazy.wire.drain_to_eof()).await;
    assert!(closed.is_ok(), "the connection stayed open");
    assert_eq!(
        dc.control()
            .stats()
            .overloaded
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        dc.control()
            .stats()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // Others are served.
    let mut good = Client::connect(addr, 1, &key, Kind::Abridged, false, None).await;
    assert!(good.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    dc.shutdown().await;
}

#[tokio::test]
async fn random_bytes_under_a_valid_key_are_refused() {
    let (dc, key) = start().await;
    let addr = dc.info().dcs[0].addr;
    let mut c = Client::connect(addr, 1, &key, Kind::Intermediate, false, None).await;
    assert!(c.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    // The right auth_key_id, then garbage where the msg_key and ciphertext belong.
    let mut payload = c.session.auth_key().id().to_le_bytes().to_vec();
    payload.extend((0..64u8).map(|i| i.wrapping_mul(37)));
    c.wire.send(&payload).await;
    assert_eq!(
        c.wire.recv().await.err(),
        Some(Some(ErrorCode::AuthKeyNotFound))
    );
    assert_eq!(
        dc.control()
            .stats()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    dc.shutdown().await;
}

#[tokio::test]
async fn quick_acks_are_sent_when_asked() {
    use fleetgram_protocol::crypto::{decrypt_message, quick_ack_token, Side};
    let (dc, key) = start().await;
    let addr = dc.info().dcs[0].addr;
    for (kind, obfuscated) in [
        (Kind::Abridged, false),
        (Kind::Intermediate, false),
        (Kind::PaddedIntermediate, true),
    ] {
        let mut c = Client::connect(addr, 1, &key, kind, obfuscated, None).await;
        let id = c.session.enqueue(fleetgram_tl::Serializable::to_bytes(
            &functions::help::GetNearestDc {},
        ));
        let p = c
            .session
            .poll_transmit(support::now_ms(), &[5u8; 32])
            .expect("a payload");
        let plain = decrypt_message(c.session.auth_key(), Side::Client, &p).unwrap();
        let expected = quick_ack_token(c.session.auth_key(), &plain);
        assert!(expected & 0x8000_0000 != 0);
        c.wire.send_framed(&p, true).await;
        c.wait(id).await.unwrap();
        assert_eq!(c.wire.quick_acks, vec![expected], "{kind:?}");
    }
    dc.shutdown().await;
}

/// Whether the DC closes `s` within `within` (EOF or a reset on read).
async fn closed_within(s: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut b = [0u8; 64];
    let end = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end, s.read(&mut b)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_slow_and_unread_connections_are_closed_in_every_state() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let limits = fleetgram_localdc::ConnLimits {
        hello: Duration::from_millis(400),
        idle: Duration::from_millis(2500),
        frame: Duration::from_millis(400),
        write_stall: Duration::from_millis(500),
    };
    let dc = LocalDc::start(Config {
        rsa_key: Some(test_key()),
        conn_limits: limits,
        ..Config::default()
    })
    .await
    .unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    let addr = dc.info().dcs[0].addr;
    let stats = || {
        dc.control()
            .stats()
            .timed_out
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let long = Duration::from_secs(4);
    // Nothing at all, then one byte of a transport header: closed after `hello`.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut one_byte = tokio::net::TcpStream::connect(addr).await.unwrap();
    one_byte.write_all(&[0xee]).await.unwrap();
    // A header dripped a byte at a time does not buy more time than `hello` in all.
    let mut drip = tokio::net::TcpStream::connect(addr).await.unwrap();
    let dripper = tokio::spawn(async move {
        for b in [0xee, 0xee, 0xee] {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if drip.write_all(&[b]).await.is_err() {
                break;
            }
        }
        closed_within(&mut drip, long).await
    });
    let t = tokio::time::Instant::now();
    assert!(closed_within(&mut silent, long).await);
    assert!(closed_within(&mut one_byte, long).await);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert!(dripper.await.unwrap());
    // A transport header and then nothing: closed after `idle`.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(&[0xee; 4]).await.unwrap();
    let t = tokio::time::Instant::now();
    assert!(closed_within(&mut idle, long).await);
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    // Half a frame: closed after `frame`.
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(&[0xee; 4]).await.unwrap();
    half.write_all(&100u32.to_le_bytes()).await.unwrap();
    half.write_all(&[0; 10]).await.unwrap();
    let t = tokio::time::Instant::now();
    assert!(closed_within(&mut half, long).await);
    assert!(
        t.elapsed() < Duration::from_millis(750),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(stats(), 5);
    // A client that asks and never reads, below the byte limit: closed after
    // `write_stall`.
    // Enough answers to fill the socket buffers (at most 4 MiB here) and leave a few MiB
    // waiting, below the 8 MiB that closes a connection at once.
    let mut probe = Client::connect(addr, 1, &key, Kind::Intermediate, false, None).await;
    let size = probe
        .call(fleetgram_tl::Serializable::to_bytes(
            &functions::help::GetConfig {},
        ))
        .await
        .unwrap()
        .len();
    let n = (6 << 20) / size;
    let mut wire = support::Wire::connect_small(addr, Kind::Intermediate).await;
    let (_, session) = Client::handshake(&mut wire, 1, &key, None).await;
    let mut lazy = Client {
        wire,
        session,
        stash: Default::default(),
    };
    assert!(ask_without_reading(&mut lazy, n).await > 0);
    let t = tokio::time::Instant::now();
    while dc
        .control()
        .stats()
        .overloaded
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
        && t.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let closed = tokio::time::timeout(Duration::from_secs(10), lazy.wire.drain_to_eof()).await;
    assert!(closed.is_ok(), "the connection stayed open");
    assert_eq!(
        dc.control()
            .stats()
            .overloaded
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // A well-behaved client is served throughout.
    let mut good = Client::connect(addr, 1, &key, Kind::Abridged, false, None).await;
    assert!(good.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    dc.shutdown().await;
}

#[tokio::test]
async fn each_client_is_answered_in_the_layer_it_declared() {
    use fleetgram_tl::dynamic::{layers, schema};
    let (dc, key) = start().await;
    let addr = dc.info().dcs[0].addr;
    let old = layers::schema_for(214).unwrap().unwrap();
    let wrap = |layer: i32, inner: &[u8]| {
        let mut b = Vec::new();
        fleetgram_tl::ser::u32(&mut b, 0xda9b0d0d); // invokeWithLayer
        fleetgram_tl::ser::i32(&mut b, &layer);
        b.extend_from_slice(inner);
        b
    };
    let json = |s: &'static fleetgram_tl::dynamic::Schema, j: serde_json::Value| {
        s.encode(&s.object_from_json(&j).unwrap()).unwrap()
    };
    let mut c = Client::connect(addr, 1, &key, Kind::Intermediate, false, None).await;
    // Too old: refused with Telegram's error.
    let e = c
        .call(wrap(
            199,
            &json(schema(), serde_json::json!({"_": "help.getNearestDc"})),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, e.message().as_str()),
        (400, "CONNECTION_LAYER_INVALID")
    );
    // Layer 214: a user comes back as 214's `user` (another id than 229's).
    dc.control().create_user("15559900001", "Old", "Client", 1);
    let sent = c
        .call(wrap(
            214,
            &json(
                old,
                serde_json::json!({"_": "auth.sendCode", "phone_number": "15559900001",
                "api_id": 1, "api_hash": "x", "settings": {"_": "codeSettings"}}),
            ),
        ))
        .await
        .unwrap();
    let hash = match old.decode(&sent).unwrap().get("phone_code_hash") {
        Some(fleetgram_tl::dynamic::Value::String(h)) => h.clone(),
        other => panic!("{other:?}"),
    };
    let signed = c
        .call(json(
            old,
            serde_json::json!({"_": "auth.signIn", "phone_number": "15559900001",
            "phone_code_hash": hash, "phone_code": "12345"}),
        ))
        .await
        .unwrap();
    let auth = old.decode(&signed).unwrap();
    let user = auth.get("user").and_then(|u| u.as_object()).unwrap();
    assert_eq!(user.name, "user");
    let user_id = |b: &[u8]| u32::from_le_bytes(b[..4].try_into().unwrap());
    let bytes = old.encode(user).unwrap();
    assert_eq!(user_id(&bytes), old.get("user").unwrap().id);
    assert_ne!(
        old.get("user").unwrap().id,
        schema().get("user").unwrap().id
    );
    assert!(signed
        .windows(4)
        .any(|w| user_id(w) == old.get("user").unwrap().id));
    assert!(!signed
        .windows(4)
        .any(|w| user_id(w) == schema().get("user").unwrap().id));
    // The session keeps its layer without the wrapper; a method of 214 that 229 dropped is
    // refused, not misread.
    let e = c
        .call(json(
            old,
            serde_json::json!({"_": "channels.getForumTopicsByID",
            "channel": {"_": "inputChannelEmpty"}, "topics": [1]}),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, e.message().as_str()),
        (400, "INPUT_CONSTRUCTOR_INVALID")
    );
    assert_eq!(dc.control().declared_layers(), vec![214]);
    dc.shutdown().await;
}

#[tokio::test]
async fn a_session_outlives_its_connection_and_ping_delay_disconnect_closes_one() {
    use support::accounts::{login, next_update};
    let (dc, key) = start().await;
    let control = dc.control();
    let addr = dc.info().dcs[0].addr;
    let mut a = login(&dc, &control, &key, "15559700001").await;
    let b = control.create_user("15559700002", "B", "", 1);
    let a_id = control.user_by_phone("15559700001").unwrap();
    // The connection goes; a message comes meanwhile; the same session on a new connection
    // gets it, pushed, without asking for a difference.
    a.wire = Wire::connect(addr, Kind::Abridged, false).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    control
        .send_message(b, a_id, "while you were away")
        .unwrap();
    a.invoke(&functions::Ping { ping_id: 1 }).await.unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), next_update(&mut a))
        .await
        .expect("the update held for the session arrives");
    assert!(
        format!("{got:?}").contains("while you were away"),
        "{got:?}"
    );
    // ping_delay_disconnect: nothing more within the delay, and the DC closes the connection.
    a.invoke(&functions::PingDelayDisconnect {
        ping_id: 2,
        disconnect_delay: 1,
    })
    .await
    .unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        loop {
            if a.wire.recv().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open after the delay");
    dc.shutdown().await;
}

#[tokio::test]
async fn a_handshake_naming_another_dc_gets_444() {
    use fleetgram_protocol::handshake::{self, Params};
    use fleetgram_protocol::session::plain;
    let (dc, key) = start().await;
    let addr = dc.info().dcs[0].addr;
    let mut wire = Wire::connect(addr, Kind::Abridged, false).await;
    let mut ids = fleetgram_protocol::session::msgid::MsgIdGen::new();
    let mut hop = async |wire: &mut Wire, body: &[u8]| {
        let id = ids.next(
            support::now_ms(),
            fleetgram_protocol::session::msgid::Parity::Client,
        );
        wire.send(&plain::wrap(id, body)).await;
        wire.recv().await
    };
    let rnd = |n: usize| {
        let mut b = vec![0u8; n];
        rand::thread_rng().fill_bytes(&mut b);
        b
    };
    let (m1, s1) = handshake::step1(&rnd(16).try_into().unwrap());
    let a1 = hop(&mut wire, &m1).await.unwrap();
    let (m2, s2) = handshake::step2(
        s1,
        plain::unwrap(&a1).unwrap().1,
        std::slice::from_ref(&key),
        Params {
            dc: Some(2), // this is DC 1
            temp_expires_in: None,
        },
        &rnd(256),
    )
    .unwrap();
    let a2 = hop(&mut wire, &m2).await.unwrap();
    let (m3, _) = handshake::step3(
        s2,
        plain::unwrap(&a2).unwrap().1,
        &rnd(272),
        (support::now_ms() / 1000) as i32,
    )
    .unwrap();
    assert_eq!(
        hop(&mut wire, &m3).await.unwrap_err(),
        Some(ErrorCode::InvalidDc)
    );
    dc.shutdown().await;
}
