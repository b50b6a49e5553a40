//! With a data directory the local DC keeps its key, accounts, authorizations, messages and
//! update state across restarts.

mod support;

use fleetgram_localdc::{Config, LocalDc};
use fleetgram_protocol::crypto::rsa::RsaPublicKey;
use fleetgram_protocol::transport::Kind;
use fleetgram_tl::{enums, functions, types};
use support::{Client, Wire};

fn config(dir: &std::path::Path) -> Config {
    Config {
        data_dir: Some(dir.to_path_buf()),
        login_code: Some("12345".into()),
        ..Config::default()
    }
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("localdc-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dc = LocalDc::start(config(&dir)).await.unwrap();
    let info = dc.info();
    let key = RsaPublicKey::from_pem(&info.rsa_pem).unwrap();
    let control = dc.control();
    let alice = control.create_user("15556000001", "Alice", "", 1);
    let bob = control.create_user("15556000002", "Bob", "", 1);
    let mut c = Client::connect(info.dcs[0].addr, 1, &key, Kind::Abridged, false, None).await;
    let enums::auth::SentCode::SentCode(sent) = c
        .invoke(&functions::auth::SendCode {
            phone_number: "15556000002".into(),
            api_id: 1,
            api_hash: "x".into(),
            settings: types::CodeSettings::default().into(),
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    c.invoke(&functions::auth::SignIn {
        phone_number: "15556000002".into(),
        phone_code_hash: sent.phone_code_hash,
        phone_code: Some("12345".into()),
        email_verification: None,
    })
    .await
    .unwrap();
    c.invoke(&functions::account::UpdateUsername {
        username: "persistent_bob".into(),
    })
    .await
    .unwrap();
    for i in 0..5 {
        control
            .send_message(alice, bob, &format!("message {i}"))
            .unwrap();
    }
    let enums::updates::State::State(before) =
        c.invoke(&functions::updates::GetState {}).await.unwrap();
    // A message scheduled for later is kept too.
    let in_an_hour = (support::now_ms() / 1000) as i32 + 3600;
    c.invoke(&functions::messages::SendMessage {
        no_webpage: false,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: enums::InputPeer::InputPeerSelf,
        reply_to: None,
        message: "reminder".into(),
        random_id: 1,
        reply_markup: None,
        entities: None,
        schedule_date: Some(in_an_hour),
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    })
    .await
    .unwrap();
    assert_eq!(control.scheduled_count(), 1);
    dc.shutdown().await;

    // A second instance on the same data directory while one runs is refused clearly.
    let dc = LocalDc::start(config(&dir)).await.unwrap();
    let second = LocalDc::start(config(&dir)).await;
    let err = second.err().expect("the database is in use").to_string();
    assert!(err.contains("state.sled"), "{err}");
    let info2 = dc.info();
    assert_eq!(info2.fingerprint, info.fingerprint, "same RSA key");
    assert_eq!(
        dc.control().scheduled_count(),
        1,
        "the scheduled message survived"
    );
    // The client reconnects with its old key and session: still logged in.
    c.wire = Wire::connect(info2.dcs[0].addr, Kind::Abridged, false).await;
    let enums::updates::State::State(after) =
        c.invoke(&functions::updates::GetState {}).await.unwrap();
    assert_eq!(after.pts, before.pts);
    let enums::contacts::ResolvedPeer::ResolvedPeer(r) = c
        .invoke(&functions::contacts::ResolveUsername {
            username: "persistent_bob".into(),
            referer: None,
        })
        .await
        .unwrap();
    assert!(matches!(r.peer, enums::Peer::User(ref p) if p.user_id == bob));
    let history = c
        .invoke(&functions::messages::GetHistory {
            peer: types::InputPeerUser {
                user_id: alice,
                access_hash: 0,
            }
            .into(),
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 10,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await;
    // A wrong access hash is refused; the right one (from the dialogs) works.
    assert_eq!(history.unwrap_err().name, "PEER_ID_INVALID");
    let enums::messages::Dialogs::Dialogs(d) = c
        .invoke(&functions::messages::GetDialogs {
            exclude_pinned: false,
            folder_id: None,
            offset_date: 0,
            offset_id: 0,
            offset_peer: enums::InputPeer::Empty,
            limit: 10,
            hash: 0,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(d.messages.len(), 1);
    let enums::Message::Message(top) = &d.messages[0] else {
        panic!()
    };
    assert_eq!(top.message, "message 4");
    // The update log survived too: the difference from the start has all five messages.
    let diff = c
        .invoke(&functions::updates::GetDifference {
            pts: 1,
            pts_limit: None,
            pts_total_limit: None,
            date: 0,
            qts: 0,
            qts_limit: None,
        })
        .await
        .unwrap();
    let enums::updates::Difference::Difference(diff) = diff else {
        panic!("{diff:?}")
    };
    assert_eq!(diff.new_messages.len(), 5);
    // New accounts do not reuse old ids.
    let carol = control.create_user("15556000003", "Carol", "", 1);
    assert!(carol > bob && carol > alice);
    dc.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn channels_survive_a_restart() {
    use support::accounts::{login, send_defaults};
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("localdc-persist-channels-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dc = LocalDc::start(config(&dir)).await.unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    let control = dc.control();
    let mut owner = login(&dc, &control, &key, "15556100001").await;
    let created = owner
        .invoke(&functions::channels::CreateChannel {
            broadcast: false,
            megagroup: true,
            for_import: false,
            forum: false,
            title: "Kept".into(),
            about: String::new(),
            geo_point: None,
            address: None,
            ttl_period: None,
        })
        .await
        .unwrap();
    let enums::Updates::Updates(u) = &created else {
        panic!()
    };
    let enums::Chat::Channel(ch) = &u.chats[0] else {
        panic!()
    };
    let channel: enums::InputChannel = types::InputChannel {
        channel_id: ch.id,
        access_hash: ch.access_hash.unwrap(),
    }
    .into();
    let peer: enums::InputPeer = types::InputPeerChannel {
        channel_id: ch.id,
        access_hash: ch.access_hash.unwrap(),
    }
    .into();
    owner
        .invoke(&functions::channels::UpdateUsername {
            channel: channel.clone(),
            username: "kept_group".into(),
        })
        .await
        .unwrap();
    for i in 0..3 {
        owner
            .invoke(&functions::messages::SendMessage {
                peer: peer.clone(),
                message: format!("post {i}"),
                random_id: 100 + i,
                ..send_defaults()
            })
            .await
            .unwrap();
    }
    let full = |c: enums::messages::ChatFull| {
        let enums::messages::ChatFull::ChatFull(f) = c;
        let enums::ChatFull::ChannelFull(f) = f.full_chat else {
            panic!()
        };
        f.pts
    };
    let pts = full(
        owner
            .invoke(&functions::channels::GetFullChannel {
                channel: channel.clone(),
            })
            .await
            .unwrap(),
    );
    drop(owner);
    dc.shutdown().await;

    let dc = LocalDc::start(config(&dir)).await.unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    let control = dc.control();
    let mut owner = login(&dc, &control, &key, "15556100001").await;
    assert_eq!(
        full(
            owner
                .invoke(&functions::channels::GetFullChannel {
                    channel: channel.clone(),
                })
                .await
                .unwrap()
        ),
        pts
    );
    // The same random_id is still known; a new post continues the ids and pts.
    owner
        .invoke(&functions::messages::SendMessage {
            peer: peer.clone(),
            message: "post 2".into(),
            random_id: 102,
            ..send_defaults()
        })
        .await
        .unwrap();
    owner
        .invoke(&functions::messages::SendMessage {
            peer: peer.clone(),
            message: "after restart".into(),
            random_id: 200,
            ..send_defaults()
        })
        .await
        .unwrap();
    let enums::updates::ChannelDifference::ChannelDifference(d) = owner
        .invoke(&functions::updates::GetChannelDifference {
            force: false,
            channel: channel.clone(),
            filter: enums::ChannelMessagesFilter::Empty,
            pts,
            limit: 100,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(d.pts, pts + 1);
    assert_eq!(d.new_messages.len(), 1);
    let enums::contacts::ResolvedPeer::ResolvedPeer(r) = owner
        .invoke(&functions::contacts::ResolveUsername {
            username: "kept_group".into(),
            referer: None,
        })
        .await
        .unwrap();
    assert!(matches!(r.peer, enums::Peer::Channel(ref c) if c.channel_id == ch.id));
    dc.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[tokio::test]
async fn the_state_is_readable_by_its_owner_only_and_a_phone_is_one_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("localdc-private-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dc = LocalDc::start(config(&dir)).await.unwrap();
    let control = dc.control();
    let alice = control.create_user("+1 555 600 0009", "Alice", "", 1);
    // The same phone again is the same user, not a second one.
    assert_eq!(
        control.create_user("15556000009", "Alice again", "", 2),
        alice
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    fn walk(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            }
            out.push(p);
        }
    }
    let mut all = Vec::new();
    walk(&dir, &mut all);
    assert!(!all.is_empty());
    for p in all {
        let m = mode(&p);
        assert_eq!(m & 0o077, 0, "{} is {m:o}", p.display());
    }
    drop(dc);
    let _ = std::fs::remove_dir_all(&dir);
}
