//! Private chats, updates and 2FA through the local DC.

mod support;

use fleetgram_localdc::{Config, LocalDc};
use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use fleetgram_protocol::crypto::srp::SrpParams;
use fleetgram_protocol::session::client::Event;
use fleetgram_protocol::transport::Kind;
use fleetgram_tl::{enums, functions, types};
use rand::RngCore;
use support::accounts::{edit_defaults, login, next_update, send_defaults, start};
use support::Client;

#[tokio::test]
async fn send_edit_delete_history_and_difference() {
    let (dc, key) = start().await;
    let control = dc.control();
    let mut a = login(&dc, &control, &key, "15552000001").await;
    let mut b = login(&dc, &control, &key, "15552000002").await;
    let enums::updates::State::State(b_state) =
        b.invoke(&functions::updates::GetState {}).await.unwrap();
    // B takes a username, A resolves it.
    b.invoke(&functions::account::UpdateUsername {
        username: "bob_local".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        b.invoke(&functions::account::UpdateUsername {
            username: "bob_local".into()
        })
        .await
        .unwrap_err()
        .name,
        "USERNAME_NOT_MODIFIED"
    );
    assert_eq!(
        a.invoke(&functions::account::UpdateUsername {
            username: "Bob_Local".into()
        })
        .await
        .unwrap_err()
        .name,
        "USERNAME_OCCUPIED"
    );
    assert_eq!(
        a.invoke(&functions::account::UpdateUsername {
            username: "1bad".into()
        })
        .await
        .unwrap_err()
        .name,
        "USERNAME_INVALID"
    );
    let enums::contacts::ResolvedPeer::ResolvedPeer(r) = a
        .invoke(&functions::contacts::ResolveUsername {
            username: "@bob_local".into(),
            referer: None,
        })
        .await
        .unwrap();
    let enums::User::User(bob) = &r.users[0] else {
        panic!()
    };
    let to_bob: enums::InputPeer = types::InputPeerUser {
        user_id: bob.id,
        access_hash: bob.access_hash.unwrap(),
    }
    .into();
    assert_eq!(
        a.invoke(&functions::contacts::ResolveUsername {
            username: "nobody_here".into(),
            referer: None
        })
        .await
        .unwrap_err()
        .name,
        "USERNAME_NOT_OCCUPIED"
    );
    // A wrong access hash is PEER_ID_INVALID.
    let bad: enums::InputPeer = types::InputPeerUser {
        user_id: bob.id,
        access_hash: 1,
    }
    .into();
    let send =
        |peer: enums::InputPeer, text: &str, random_id: i64| functions::messages::SendMessage {
            peer,
            message: text.into(),
            random_id,
            ..send_defaults()
        };
    assert_eq!(
        a.invoke(&send(bad, "x", 1)).await.unwrap_err().name,
        "PEER_ID_INVALID"
    );
    assert_eq!(
        a.invoke(&send(to_bob.clone(), "  ", 2))
            .await
            .unwrap_err()
            .name,
        "MESSAGE_EMPTY"
    );
    // Send: A gets updateShortSentMessage, B gets updateShortMessage.
    let sent = a
        .invoke(&send(to_bob.clone(), "hello bob", 42))
        .await
        .unwrap();
    let enums::Updates::UpdateShortSentMessage(sent) = sent else {
        panic!("{sent:?}")
    };
    assert!(sent.out);
    let enums::Updates::UpdateShortMessage(got) = next_update(&mut b).await else {
        panic!()
    };
    assert_eq!(
        (got.message.as_str(), got.out, got.pts),
        ("hello bob", false, b_state.pts + 1)
    );
    // The same random_id creates nothing new.
    let again = a
        .invoke(&send(to_bob.clone(), "hello bob", 42))
        .await
        .unwrap();
    let enums::Updates::UpdateShortSentMessage(again) = again else {
        panic!()
    };
    assert_eq!((again.id, again.pts_count), (sent.id, 0));
    // Edit.
    let edit = |text: &str| functions::messages::EditMessage {
        peer: to_bob.clone(),
        id: sent.id,
        message: Some(text.into()),
        ..edit_defaults()
    };
    assert_eq!(
        a.invoke(&edit("hello bob")).await.unwrap_err().name,
        "MESSAGE_NOT_MODIFIED"
    );
    a.invoke(&edit("hello, bob!")).await.unwrap();
    let enums::Updates::Updates(u) = next_update(&mut b).await else {
        panic!()
    };
    let enums::Update::EditMessage(e) = &u.updates[0] else {
        panic!()
    };
    let enums::Message::Message(m) = &e.message else {
        panic!()
    };
    assert_eq!(
        (m.message.as_str(), m.id, m.edit_date.is_some()),
        ("hello, bob!", got.id, true)
    );
    // History: 3 more messages, then pages.
    for i in 0..3 {
        a.invoke(&send(to_bob.clone(), &format!("msg {i}"), 100 + i))
            .await
            .unwrap();
        next_update(&mut b).await;
    }
    let history = |offset_id: i32, add_offset: i32, limit: i32| functions::messages::GetHistory {
        peer: to_bob.clone(),
        offset_id,
        offset_date: 0,
        add_offset,
        limit,
        max_id: 0,
        min_id: 0,
        hash: 0,
    };
    let page = |m: enums::messages::Messages| -> Vec<String> {
        let msgs = match m {
            enums::messages::Messages::Messages(m) => m.messages,
            enums::messages::Messages::Slice(m) => m.messages,
            other => panic!("{other:?}"),
        };
        msgs.into_iter()
            .map(|m| {
                if let enums::Message::Message(m) = m {
                    m.message
                } else {
                    panic!()
                }
            })
            .collect()
    };
    assert_eq!(
        page(a.invoke(&history(0, 0, 10)).await.unwrap()),
        ["msg 2", "msg 1", "msg 0", "hello, bob!"]
    );
    assert_eq!(
        page(a.invoke(&history(0, 0, 2)).await.unwrap()),
        ["msg 2", "msg 1"]
    );
    assert_eq!(
        page(a.invoke(&history(sent.id + 2, 0, 10)).await.unwrap()),
        ["msg 0", "hello, bob!"]
    );
    assert_eq!(
        page(a.invoke(&history(sent.id + 2, -1, 2)).await.unwrap()),
        ["msg 1", "msg 0"]
    );
    // Delete with revoke: gone on both sides.
    let enums::messages::AffectedMessages::AffectedMessages(aff) = a
        .invoke(&functions::messages::DeleteMessages {
            revoke: true,
            id: vec![sent.id],
        })
        .await
        .unwrap();
    assert_eq!(aff.pts_count, 1);
    let enums::Updates::UpdateShort(u) = next_update(&mut b).await else {
        panic!()
    };
    let enums::Update::DeleteMessages(d) = &u.update else {
        panic!()
    };
    assert_eq!(d.messages, vec![got.id]);
    // B, offline meanwhile, catches up with getDifference from its old state.
    let diff = b
        .invoke(&functions::updates::GetDifference {
            pts: b_state.pts,
            pts_limit: None,
            pts_total_limit: None,
            date: b_state.date,
            qts: 0,
            qts_limit: None,
        })
        .await
        .unwrap();
    let enums::updates::Difference::Difference(diff) = diff else {
        panic!("{diff:?}")
    };
    assert_eq!(diff.new_messages.len(), 4);
    assert_eq!(diff.other_updates.len(), 2, "the edit and the deletion");
    // Sliced.
    let diff = b
        .invoke(&functions::updates::GetDifference {
            pts: b_state.pts,
            pts_limit: None,
            pts_total_limit: Some(2),
            date: b_state.date,
            qts: 0,
            qts_limit: None,
        })
        .await
        .unwrap();
    let enums::updates::Difference::Slice(slice) = diff else {
        panic!("{diff:?}")
    };
    let enums::updates::State::State(st) = slice.intermediate_state;
    assert_eq!(st.pts, b_state.pts + 2);
    dc.shutdown().await;
}

#[tokio::test]
async fn two_factor_password_set_login_and_remove() {
    let (dc, key) = start().await;
    let control = dc.control();
    let phone = "15552000003";
    let mut c = login(&dc, &control, &key, phone).await;
    // Set a password: SRP parameters from getPassword, verifier computed client-side.
    let enums::account::Password::Password(pw) =
        c.invoke(&functions::account::GetPassword {}).await.unwrap();
    assert!(!pw.has_password);
    let enums::PasswordKdfAlgo::SHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(algo) =
        pw.new_algo.clone()
    else {
        panic!()
    };
    let mut salt1 = algo.salt1.clone();
    salt1.extend_from_slice(&[7u8; 32]);
    let params = SrpParams {
        salt1: salt1.clone(),
        salt2: algo.salt2.clone(),
        g: algo.g as u32,
        p: algo.p.clone(),
    };
    let new_algo: enums::PasswordKdfAlgo =
        types::PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow {
            salt1,
            salt2: algo.salt2.clone(),
            g: algo.g,
            p: algo.p.clone(),
        }
        .into();
    // new_algo, new_password_hash and hint share flag bit 0: all are given or none.
    let settings = |algo: enums::PasswordKdfAlgo,
                    hash: Vec<u8>,
                    hint: &str|
     -> enums::account::PasswordInputSettings {
        types::account::PasswordInputSettings {
            new_algo: Some(algo),
            new_password_hash: Some(hash),
            hint: Some(hint.into()),
            email: None,
            new_secure_settings: None,
        }
        .into()
    };
    assert!(c
        .invoke(&functions::account::UpdatePasswordSettings {
            password: enums::InputCheckPasswordSRP::InputCheckPasswordEmpty,
            new_settings: settings(
                new_algo.clone(),
                params.verifier(b"hunter2").to_vec(),
                "pet"
            ),
        })
        .await
        .unwrap());
    // Log out; logging in now needs the password.
    c.invoke(&functions::auth::LogOut {}).await.unwrap();
    let mut c = Client::connect(
        dc.info().dcs[0].addr,
        1,
        &key,
        Kind::Intermediate,
        false,
        None,
    )
    .await;
    let enums::auth::SentCode::SentCode(sent) = c
        .invoke(&functions::auth::SendCode {
            phone_number: phone.into(),
            api_id: 1,
            api_hash: "x".into(),
            settings: types::CodeSettings::default().into(),
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    let err = c
        .invoke(&functions::auth::SignIn {
            phone_number: phone.into(),
            phone_code_hash: sent.phone_code_hash,
            phone_code: Some("12345".into()),
            email_verification: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.name.as_str()),
        (401, "SESSION_PASSWORD_NEEDED")
    );
    let check = |pw: &types::account::Password, password: &[u8]| -> enums::InputCheckPasswordSRP {
        let Some(enums::PasswordKdfAlgo::SHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(a)) =
            &pw.current_algo
        else {
            panic!()
        };
        let p = SrpParams {
            salt1: a.salt1.clone(),
            salt2: a.salt2.clone(),
            g: a.g as u32,
            p: a.p.clone(),
        };
        let mut secret = [0u8; 256];
        rand::thread_rng().fill_bytes(&mut secret);
        let proof = p
            .client_proof(password, pw.srp_b.as_ref().unwrap(), &secret)
            .unwrap();
        types::InputCheckPasswordSRP {
            srp_id: pw.srp_id.unwrap(),
            a: proof.a.to_vec(),
            m1: proof.m1.to_vec(),
        }
        .into()
    };
    let enums::account::Password::Password(pw) =
        c.invoke(&functions::account::GetPassword {}).await.unwrap();
    assert!(pw.has_password);
    assert_eq!(pw.hint.as_deref(), Some("pet"));
    let err = c
        .invoke(&functions::auth::CheckPassword {
            password: check(&pw, b"wrong"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.name, "PASSWORD_HASH_INVALID");
    // Each challenge is single-use.
    let err = c
        .invoke(&functions::auth::CheckPassword {
            password: check(&pw, b"hunter2"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.name, "SRP_ID_INVALID");
    let enums::account::Password::Password(pw) =
        c.invoke(&functions::account::GetPassword {}).await.unwrap();
    let auth = c
        .invoke(&functions::auth::CheckPassword {
            password: check(&pw, b"hunter2"),
        })
        .await
        .unwrap();
    assert!(matches!(auth, enums::auth::Authorization::Authorization(_)));
    // Remove the password (Telegram's way: the unknown algorithm and an empty hash).
    let enums::account::Password::Password(pw) =
        c.invoke(&functions::account::GetPassword {}).await.unwrap();
    assert!(c
        .invoke(&functions::account::UpdatePasswordSettings {
            password: check(&pw, b"hunter2"),
            new_settings: settings(enums::PasswordKdfAlgo::Unknown, vec![], ""),
        })
        .await
        .unwrap());
    let enums::account::Password::Password(pw) =
        c.invoke(&functions::account::GetPassword {}).await.unwrap();
    assert!(!pw.has_password);
    dc.shutdown().await;
}

#[tokio::test]
async fn bots_cross_dc_authorization_contacts_dialogs_and_reads() {
    let (dc, key) = start().await;
    let control = dc.control();
    let info = dc.info();
    // A bot logs in with its token; a wrong token is refused.
    let (bot_id, token) = control.create_bot("Echo", "echo_local_bot", 1);
    let mut bot = Client::connect(info.dcs[0].addr, 1, &key, Kind::Abridged, false, None).await;
    let import = |t: &str| functions::auth::ImportBotAuthorization {
        flags: 0,
        api_id: 1,
        api_hash: "x".into(),
        bot_auth_token: t.into(),
    };
    assert_eq!(
        bot.invoke(&import("1:nope")).await.unwrap_err().name,
        "ACCESS_TOKEN_INVALID"
    );
    let enums::auth::Authorization::Authorization(a) = bot.invoke(&import(&token)).await.unwrap()
    else {
        panic!()
    };
    let enums::User::User(bot_user) = &a.user else {
        panic!()
    };
    assert!(bot_user.bot && bot_user.id == bot_id);
    // Two users; A imports B as a contact.
    let mut a = login(&dc, &control, &key, "15554000001").await;
    let mut b = login(&dc, &control, &key, "15554000002").await;
    let enums::contacts::ImportedContacts::ImportedContacts(imp) = a
        .invoke(&functions::contacts::ImportContacts {
            contacts: vec![types::InputPhoneContact {
                client_id: 7,
                phone: "+1 555 4000002".into(),
                first_name: "B".into(),
                last_name: "".into(),
                note: None,
            }
            .into()],
        })
        .await
        .unwrap();
    assert_eq!(imp.imported.len(), 1);
    let enums::User::User(bu) = &imp.users[0] else {
        panic!()
    };
    let to_b: enums::InputPeer = types::InputPeerUser {
        user_id: bu.id,
        access_hash: bu.access_hash.unwrap(),
    }
    .into();
    let enums::contacts::Contacts::Contacts(cs) = a
        .invoke(&functions::contacts::GetContacts { hash: 0 })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(cs.contacts.len(), 1);
    // B going online is pushed to A (B is A's contact).
    assert!(b
        .invoke(&functions::account::UpdateStatus { offline: false })
        .await
        .unwrap());
    let enums::Updates::UpdateShort(u) = next_update(&mut a).await else {
        panic!()
    };
    assert!(matches!(u.update, enums::Update::UserStatus(_)));
    // Full user.
    let full = a
        .invoke(&functions::users::GetFullUser {
            id: types::InputUser {
                user_id: bu.id,
                access_hash: bu.access_hash.unwrap(),
            }
            .into(),
        })
        .await
        .unwrap();
    let enums::users::UserFull::UserFull(full) = full;
    let enums::UserFull::UserFull(f) = &full.full_user;
    assert_eq!(f.id, bu.id);
    // Messages, typing, reads.
    for i in 0..3 {
        a.invoke(&functions::messages::SendMessage {
            peer: to_b.clone(),
            message: format!("m{i}"),
            random_id: 900 + i,
            ..send_defaults()
        })
        .await
        .unwrap();
    }
    for _ in 0..3 {
        next_update(&mut b).await;
    }
    let a_peer_for_b = {
        let enums::messages::Dialogs::Dialogs(d) = b
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
        assert_eq!(d.dialogs.len(), 1);
        let enums::Dialog::Dialog(dl) = &d.dialogs[0] else {
            panic!()
        };
        assert_eq!((dl.unread_count, dl.read_inbox_max_id), (3, 0));
        let u = d
            .users
            .iter()
            .find_map(|u| {
                if let enums::User::User(u) = u {
                    (!u.self_).then_some(u.clone())
                } else {
                    None
                }
            })
            .unwrap();
        enums::InputPeer::from(types::InputPeerUser {
            user_id: u.id,
            access_hash: u.access_hash.unwrap(),
        })
    };
    assert!(b
        .invoke(&functions::messages::SetTyping {
            peer: a_peer_for_b.clone(),
            top_msg_id: None,
            action: enums::SendMessageAction::SendMessageTypingAction
        })
        .await
        .unwrap());
    let enums::Updates::UpdateShort(u) = next_update(&mut a).await else {
        panic!()
    };
    assert!(matches!(u.update, enums::Update::UserTyping(_)));
    let enums::messages::AffectedMessages::AffectedMessages(r) = b
        .invoke(&functions::messages::ReadHistory {
            peer: a_peer_for_b.clone(),
            max_id: 0,
        })
        .await
        .unwrap();
    assert_eq!(r.pts_count, 1);
    let enums::Updates::UpdateShort(u) = next_update(&mut a).await else {
        panic!()
    };
    let enums::Update::ReadHistoryOutbox(o) = &u.update else {
        panic!("{u:?}")
    };
    assert!(o.max_id >= 3);
    let msgs = b
        .invoke(&functions::messages::GetMessages {
            id: vec![
                types::InputMessageID { id: 1 }.into(),
                types::InputMessageID { id: 99 }.into(),
            ],
        })
        .await
        .unwrap();
    let enums::messages::Messages::Messages(m) = msgs else {
        panic!()
    };
    assert_eq!(m.messages.len(), 1);
    // B blocks A: A can no longer write to B.
    assert!(b
        .invoke(&functions::contacts::Block {
            my_stories_from: false,
            id: a_peer_for_b.clone()
        })
        .await
        .unwrap());
    let err = a
        .invoke(&functions::messages::SendMessage {
            peer: to_b.clone(),
            message: "hi?".into(),
            random_id: 999,
            ..send_defaults()
        })
        .await
        .unwrap_err();
    assert_eq!(err.name, "USER_IS_BLOCKED");
    assert!(b
        .invoke(&functions::contacts::Unblock {
            my_stories_from: false,
            id: a_peer_for_b
        })
        .await
        .unwrap());
    // Export A's authorization to DC 2 and import it there.
    let enums::auth::ExportedAuthorization::ExportedAuthorization(exp) = a
        .invoke(&functions::auth::ExportAuthorization { dc_id: 2 })
        .await
        .unwrap();
    let mut a2 = Client::connect(info.dcs[1].addr, 2, &key, Kind::Abridged, false, None).await;
    let bad = functions::auth::ImportAuthorization {
        id: exp.id,
        bytes: vec![1, 2, 3],
    };
    assert_eq!(
        a2.invoke(&bad).await.unwrap_err().name,
        "AUTH_BYTES_INVALID"
    );
    let imported = a2
        .invoke(&functions::auth::ImportAuthorization {
            id: exp.id,
            bytes: exp.bytes.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(
        imported,
        enums::auth::Authorization::Authorization(_)
    ));
    // The token is single-use; A's user lives on DC 1, so user calls on DC 2 are redirected.
    assert_eq!(
        a2.invoke(&functions::auth::ImportAuthorization {
            id: exp.id,
            bytes: exp.bytes
        })
        .await
        .unwrap_err()
        .name,
        "AUTH_BYTES_INVALID"
    );
    let err = a2
        .invoke(&functions::updates::GetState {})
        .await
        .unwrap_err();
    assert_eq!((err.name.as_str(), err.value), ("USER_MIGRATE", Some(1)));
    dc.shutdown().await;
}

#[tokio::test]
async fn forward_pin_and_search() {
    let (dc, key) = start().await;
    let control = dc.control();
    let mut a = login(&dc, &control, &key, "15557000001").await;
    let mut b = login(&dc, &control, &key, "15557000002").await;
    let c_id = control.create_user("15557000003", "C", "", 1);
    let b_id = control.user_by_phone("15557000002").unwrap();
    // C writes to A; A forwards it to B.
    control
        .send_message(
            c_id,
            control.user_by_phone("15557000001").unwrap(),
            "the quick brown fox",
        )
        .unwrap();
    control
        .send_message(
            c_id,
            control.user_by_phone("15557000001").unwrap(),
            "lazy dog",
        )
        .unwrap();
    let enums::messages::Dialogs::Dialogs(d) = a
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
    let peer_of = |id: i64| -> enums::InputPeer {
        let u = d
            .users
            .iter()
            .find_map(|u| {
                if let enums::User::User(u) = u {
                    (u.id == id).then(|| u.clone())
                } else {
                    None
                }
            })
            .unwrap();
        types::InputPeerUser {
            user_id: u.id,
            access_hash: u.access_hash.unwrap(),
        }
        .into()
    };
    let from_c = peer_of(c_id);
    b.invoke(&functions::account::UpdateUsername {
        username: "fwd_target".into(),
    })
    .await
    .unwrap();
    let enums::contacts::ResolvedPeer::ResolvedPeer(r) = a
        .invoke(&functions::contacts::ResolveUsername {
            username: "fwd_target".into(),
            referer: None,
        })
        .await
        .unwrap();
    let enums::User::User(bu) = &r.users[0] else {
        panic!()
    };
    let to_b: enums::InputPeer = types::InputPeerUser {
        user_id: b_id,
        access_hash: bu.access_hash.unwrap(),
    }
    .into();
    let fwd = functions::messages::ForwardMessages {
        silent: false,
        background: false,
        with_my_score: false,
        drop_author: false,
        drop_media_captions: false,
        noforwards: false,
        allow_paid_floodskip: false,
        from_ephemeral: false,
        from_peer: from_c.clone(),
        id: vec![1],
        random_id: vec![77],
        to_peer: to_b.clone(),
        top_msg_id: None,
        reply_to: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        video_timestamp: None,
        allow_paid_stars: None,
        suggested_post: None,
    };
    let enums::Updates::Updates(u) = a.invoke(&fwd).await.unwrap() else {
        panic!()
    };
    assert!(matches!(&u.updates[0], enums::Update::MessageID(m) if m.random_id == 77));
    let enums::Updates::UpdateShortMessage(got) = next_update(&mut b).await else {
        panic!()
    };
    assert_eq!(got.message, "the quick brown fox");
    let Some(enums::MessageFwdHeader::MessageFwdHeader(h)) = &got.fwd_from else {
        panic!("no forward header")
    };
    assert!(
        matches!(&h.from_id, Some(enums::Peer::User(p)) if p.user_id == c_id),
        "the original author"
    );
    let mismatched = functions::messages::ForwardMessages {
        random_id: vec![],
        ..fwd.clone()
    };
    assert_eq!(
        a.invoke(&mismatched).await.unwrap_err().name,
        "RANDOM_ID_INVALID"
    );
    // Pin on both sides.
    let enums::Updates::Updates(u) = a
        .invoke(&functions::messages::UpdatePinnedMessage {
            silent: false,
            unpin: false,
            pm_oneside: false,
            peer: to_b.clone(),
            id: 3,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(
        matches!(&u.updates[0], enums::Update::PinnedMessages(p) if p.pinned && p.messages == vec![3])
    );
    let enums::Updates::Updates(u) = next_update(&mut b).await else {
        panic!()
    };
    assert!(
        matches!(&u.updates[0], enums::Update::PinnedMessages(p) if p.pinned && p.messages == vec![got.id])
    );
    // Search in one chat and everywhere.
    let search = |peer: enums::InputPeer, q: &str| functions::messages::Search {
        peer,
        q: q.into(),
        from_id: None,
        saved_peer_id: None,
        saved_reaction: None,
        top_msg_id: None,
        filter: enums::MessagesFilter::InputMessagesFilterEmpty,
        min_date: 0,
        max_date: 0,
        offset_id: 0,
        add_offset: 0,
        limit: 10,
        max_id: 0,
        min_id: 0,
        hash: 0,
    };
    let texts = |m: enums::messages::Messages| -> Vec<String> {
        let list = match m {
            enums::messages::Messages::Messages(m) => m.messages,
            enums::messages::Messages::Slice(m) => m.messages,
            other => panic!("{other:?}"),
        };
        list.into_iter()
            .map(|m| {
                if let enums::Message::Message(m) = m {
                    m.message
                } else {
                    panic!()
                }
            })
            .collect()
    };
    assert_eq!(
        texts(a.invoke(&search(from_c.clone(), "FOX")).await.unwrap()),
        ["the quick brown fox"]
    );
    assert_eq!(
        texts(a.invoke(&search(from_c.clone(), "")).await.unwrap()),
        ["lazy dog", "the quick brown fox"]
    );
    assert_eq!(
        texts(
            a.invoke(&search(enums::InputPeer::Empty, "fox"))
                .await
                .unwrap()
        ),
        ["the quick brown fox", "the quick brown fox"]
    );
    let global = |q: &str| functions::messages::SearchGlobal {
        broadcasts_only: false,
        groups_only: false,
        users_only: false,
        folder_id: None,
        community: None,
        q: q.into(),
        filter: enums::MessagesFilter::InputMessagesFilterEmpty,
        min_date: 0,
        max_date: 0,
        offset_rate: 0,
        offset_peer: enums::InputPeer::Empty,
        offset_id: 0,
        limit: 10,
    };
    assert_eq!(
        texts(b.invoke(&global("quick")).await.unwrap()),
        ["the quick brown fox"]
    );
    assert_eq!(
        b.invoke(&global(" ")).await.unwrap_err().name,
        "SEARCH_QUERY_EMPTY"
    );
    dc.shutdown().await;
}

#[tokio::test]
async fn basic_groups() {
    let (dc, key) = start().await;
    let control = dc.control();
    let mut a = login(&dc, &control, &key, "15558000001").await;
    let mut b = login(&dc, &control, &key, "15558000002").await;
    let (b_id, c_id) = (
        control.user_by_phone("15558000002").unwrap(),
        control.create_user("15558000003", "C", "", 1),
    );
    let d_id = control.create_user("15558000004", "D", "", 1);
    // A learns B's and C's access hashes by importing them as contacts.
    let enums::contacts::ImportedContacts::ImportedContacts(imp) = a
        .invoke(&functions::contacts::ImportContacts {
            contacts: ["15558000002", "15558000003", "15558000004"]
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    types::InputPhoneContact {
                        client_id: i as i64,
                        phone: p.to_string(),
                        first_name: "x".into(),
                        last_name: "".into(),
                        note: None,
                    }
                    .into()
                })
                .collect(),
        })
        .await
        .unwrap();
    let input = |id: i64| -> enums::InputUser {
        let u = imp
            .users
            .iter()
            .find_map(|u| {
                if let enums::User::User(u) = u {
                    (u.id == id).then(|| u.clone())
                } else {
                    None
                }
            })
            .unwrap();
        types::InputUser {
            user_id: id,
            access_hash: u.access_hash.unwrap(),
        }
        .into()
    };
    assert_eq!(
        a.invoke(&functions::messages::CreateChat {
            users: vec![],
            title: " ".into(),
            ttl_period: None
        })
        .await
        .unwrap_err()
        .name,
        "CHAT_TITLE_EMPTY"
    );
    let enums::messages::InvitedUsers::InvitedUsers(created) = a
        .invoke(&functions::messages::CreateChat {
            users: vec![input(b_id), input(c_id)],
            title: "Team".into(),
            ttl_period: None,
        })
        .await
        .unwrap();
    let enums::Updates::Updates(u) = &created.updates else {
        panic!()
    };
    let enums::Chat::Chat(chat) = &u.chats[0] else {
        panic!()
    };
    assert!(chat.creator && chat.participants_count == 3 && chat.title == "Team");
    // `updates` containers are in the seq sequence, the caller's answer too.
    let a_seq = u.seq;
    assert!(a_seq >= 1, "{a_seq}");
    let chat_id = chat.id;
    let to_chat: enums::InputPeer = types::InputPeerChat { chat_id }.into();
    // B sees the creation as a service message, with B's next seq.
    let enums::Updates::Updates(u) = next_update(&mut b).await else {
        panic!()
    };
    let enums::updates::State::State(b_state) =
        b.invoke(&functions::updates::GetState {}).await.unwrap();
    assert!(
        u.seq >= 1 && u.seq == b_state.seq,
        "{} {}",
        u.seq,
        b_state.seq
    );
    let enums::Update::NewMessage(n) = &u.updates[0] else {
        panic!()
    };
    assert!(
        matches!(&n.message, enums::Message::Service(s) if matches!(s.action, enums::MessageAction::ChatCreate(_)))
    );
    // Text in the group.
    a.invoke(&functions::messages::SendMessage {
        peer: to_chat.clone(),
        message: "hello team".into(),
        random_id: 1,
        ..send_defaults()
    })
    .await
    .unwrap();
    let enums::Updates::UpdateShortChatMessage(m) = next_update(&mut b).await else {
        panic!()
    };
    assert_eq!(
        (m.message.as_str(), m.chat_id, m.from_id),
        (
            "hello team",
            chat_id,
            control.user_by_phone("15558000001").unwrap()
        )
    );
    // A difference over the group's message carries the group itself, as Telegram's does.
    let chats = match b
        .invoke(&functions::updates::GetDifference {
            pts: b_state.pts,
            pts_limit: None,
            pts_total_limit: None,
            date: 0,
            qts: 0,
            qts_limit: None,
        })
        .await
        .unwrap()
    {
        enums::updates::Difference::Difference(d) => d.chats,
        enums::updates::Difference::Slice(d) => d.chats,
        other => panic!("{other:?}"),
    };
    assert!(
        chats
            .iter()
            .any(|c| matches!(c, enums::Chat::Chat(x) if x.id == chat_id)),
        "{chats:?}"
    );
    // A forwards its group message to B privately, and B's copy back into the group.
    let enums::InputUser::InputUser(b_in) = input(b_id) else {
        panic!()
    };
    let to_b: enums::InputPeer = types::InputPeerUser {
        user_id: b_id,
        access_hash: b_in.access_hash,
    }
    .into();
    let a_id = control.user_by_phone("15558000001").unwrap();
    let history = a
        .invoke(&functions::messages::GetHistory {
            peer: to_chat.clone(),
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 1,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await
        .unwrap();
    let newest = match history {
        enums::messages::Messages::Messages(h) => h.messages,
        enums::messages::Messages::Slice(h) => h.messages,
        other => panic!("{other:?}"),
    };
    let msg_id = |m: &enums::Message| match m {
        enums::Message::Message(m) => m.id,
        enums::Message::Service(m) => m.id,
        enums::Message::Empty(m) => m.id,
    };
    let a_msg = msg_id(&newest[0]);
    let fwd = |from: enums::InputPeer, to: enums::InputPeer, id: i32, random_id: i64| {
        functions::messages::ForwardMessages {
            silent: false,
            background: false,
            with_my_score: false,
            drop_author: false,
            drop_media_captions: false,
            noforwards: false,
            allow_paid_floodskip: false,
            from_ephemeral: false,
            from_peer: from,
            id: vec![id],
            random_id: vec![random_id],
            to_peer: to,
            top_msg_id: None,
            reply_to: None,
            schedule_date: None,
            schedule_repeat_period: None,
            send_as: None,
            quick_reply_shortcut: None,
            effect: None,
            video_timestamp: None,
            allow_paid_stars: None,
            suggested_post: None,
        }
    };
    let enums::Updates::Updates(r) = a
        .invoke(&fwd(to_chat.clone(), to_b.clone(), a_msg, 501))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(r
        .chats
        .iter()
        .any(|c| matches!(c, enums::Chat::Chat(c) if c.id == chat_id)));
    let enums::Updates::UpdateShortMessage(got) = next_update(&mut b).await else {
        panic!()
    };
    assert_eq!(got.message, "hello team");
    assert!(got.fwd_from.is_some());
    // Back into the group (A's private copy -> the group): everyone gets the forward.
    let _ = a_id;
    let enums::Updates::Updates(r) = a
        .invoke(&fwd(
            to_b.clone(),
            to_chat.clone(),
            {
                let enums::Update::NewMessage(n) = &r.updates[1] else {
                    panic!()
                };
                msg_id(&n.message)
            },
            502,
        ))
        .await
        .unwrap()
    else {
        panic!()
    };
    let enums::Update::NewMessage(n) = &r.updates[1] else {
        panic!()
    };
    let enums::Message::Message(fm) = &n.message else {
        panic!()
    };
    assert!(fm.fwd_from.is_some() && fm.message == "hello team");
    let enums::Updates::UpdateShortChatMessage(m2) = next_update(&mut b).await else {
        panic!()
    };
    assert_eq!((m2.chat_id, m2.message.as_str()), (chat_id, "hello team"));
    assert!(m2.fwd_from.is_some());
    // A pins its message in the group: every member's copy is pinned.
    let enums::Updates::Updates(r) = a
        .invoke(&functions::messages::UpdatePinnedMessage {
            silent: true,
            unpin: false,
            pm_oneside: false,
            peer: to_chat.clone(),
            id: a_msg,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(
        matches!(&r.updates[0], enums::Update::PinnedMessages(p) if p.pinned && p.messages == vec![a_msg])
    );
    let enums::Updates::Updates(u) = next_update(&mut b).await else {
        panic!()
    };
    assert!(
        matches!(&u.updates[0], enums::Update::PinnedMessages(p) if p.pinned && p.messages == vec![m.id] && matches!(p.peer, enums::Peer::Chat(ref c) if c.chat_id == chat_id)),
        "{u:?}"
    );
    // B replies; the reply points at B's own copy of A's message.
    b.invoke(&functions::messages::SendMessage {
        peer: to_chat.clone(),
        message: "hi".into(),
        random_id: 2,
        reply_to: Some(
            types::InputReplyToMessage {
                reply_to_msg_id: m.id,
                ..Default::default()
            }
            .into(),
        ),
        ..send_defaults()
    })
    .await
    .unwrap();
    let enums::Updates::UpdateShortChatMessage(r) = next_update(&mut a).await else {
        panic!()
    };
    let Some(enums::MessageReplyHeader::MessageReplyHeader(h)) = &r.reply_to else {
        panic!()
    };
    assert_eq!(h.reply_to_msg_id, Some(2), "A's copy of its own message");
    // Edit and delete in the group.
    a.invoke(&functions::messages::EditMessage {
        peer: to_chat.clone(),
        id: 2,
        message: Some("hello, team".into()),
        ..edit_defaults()
    })
    .await
    .unwrap();
    let enums::Updates::Updates(u) = next_update(&mut b).await else {
        panic!()
    };
    assert!(
        matches!(&u.updates[0], enums::Update::EditMessage(e) if matches!(&e.message, enums::Message::Message(m) if m.message == "hello, team"))
    );
    // History and dialogs.
    let enums::messages::Messages::Messages(h) = b
        .invoke(&functions::messages::GetHistory {
            peer: to_chat.clone(),
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 10,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        h.messages.len(),
        4,
        "service message, A's, the forward and B's"
    );
    assert_eq!(h.chats.len(), 1);
    let enums::messages::Dialogs::Dialogs(d) = b
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
    assert!(d.dialogs.iter().any(|x| matches!(x, enums::Dialog::Dialog(x) if matches!(x.peer, enums::Peer::Chat(ref p) if p.chat_id == chat_id))));
    // Typing, reading and searching in the group.
    assert!(b
        .invoke(&functions::messages::SetTyping {
            peer: to_chat.clone(),
            top_msg_id: None,
            action: enums::SendMessageAction::SendMessageTypingAction
        })
        .await
        .unwrap());
    let enums::Updates::UpdateShort(u) = next_update(&mut a).await else {
        panic!()
    };
    assert!(matches!(&u.update, enums::Update::ChatUserTyping(t) if t.chat_id == chat_id));
    b.invoke(&functions::messages::ReadHistory {
        peer: to_chat.clone(),
        max_id: 0,
    })
    .await
    .unwrap();
    let enums::Updates::UpdateShort(u) = next_update(&mut a).await else {
        panic!()
    };
    assert!(
        matches!(&u.update, enums::Update::ReadHistoryOutbox(o) if o.max_id == 4),
        "{u:?}"
    );
    let found = b
        .invoke(&functions::messages::Search {
            peer: to_chat.clone(),
            q: "TEAM".into(),
            from_id: None,
            saved_peer_id: None,
            saved_reaction: None,
            top_msg_id: None,
            filter: enums::MessagesFilter::InputMessagesFilterEmpty,
            min_date: 0,
            max_date: 0,
            offset_id: 0,
            add_offset: 0,
            limit: 10,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await
        .unwrap();
    let enums::messages::Messages::Messages(found) = found else {
        panic!()
    };
    assert_eq!(found.messages.len(), 2, "the message and its forward");
    a.invoke(&functions::messages::DeleteMessages {
        revoke: true,
        id: vec![2],
    })
    .await
    .unwrap();
    let enums::Updates::UpdateShort(u) = next_update(&mut b).await else {
        panic!()
    };
    assert!(matches!(&u.update, enums::Update::DeleteMessages(d) if d.messages == vec![m.id]));
    // Members.
    let err = a
        .invoke(&functions::messages::AddChatUser {
            chat_id,
            user_id: input(b_id),
            fwd_limit: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.name, "USER_ALREADY_PARTICIPANT");
    a.invoke(&functions::messages::AddChatUser {
        chat_id,
        user_id: input(d_id),
        fwd_limit: 0,
    })
    .await
    .unwrap();
    let err = b
        .invoke(&functions::messages::DeleteChatUser {
            revoke_history: false,
            chat_id,
            user_id: types::InputUser {
                user_id: d_id,
                access_hash: 0,
            }
            .into(),
        })
        .await
        .unwrap_err();
    assert!(
        err.name == "CHAT_ADMIN_REQUIRED" || err.name == "USER_ID_INVALID",
        "{err:?}"
    );
    a.invoke(&functions::messages::DeleteChatUser {
        revoke_history: false,
        chat_id,
        user_id: input(c_id),
    })
    .await
    .unwrap();
    assert_eq!(
        a.invoke(&functions::messages::EditChatTitle {
            chat_id,
            title: "Team".into()
        })
        .await
        .unwrap_err()
        .name,
        "CHAT_NOT_MODIFIED"
    );
    a.invoke(&functions::messages::EditChatTitle {
        chat_id,
        title: "Team 2".into(),
    })
    .await
    .unwrap();
    let enums::messages::ChatFull::ChatFull(full) = a
        .invoke(&functions::messages::GetFullChat { chat_id })
        .await
        .unwrap();
    let enums::ChatFull::ChatFull(f) = &full.full_chat else {
        panic!()
    };
    let enums::ChatParticipants::ChatParticipants(p) = &f.participants else {
        panic!()
    };
    assert_eq!(p.participants.len(), 3, "A, B and D; C was removed");
    let enums::Chat::Chat(c) = &full.chats[0] else {
        panic!()
    };
    assert_eq!(c.title, "Team 2");
    // C, removed, can no longer write to the group.
    let mut c = login(&dc, &control, &key, "15558000003").await;
    let err = c
        .invoke(&functions::messages::SendMessage {
            peer: to_chat,
            message: "let me in".into(),
            random_id: 3,
            ..send_defaults()
        })
        .await
        .unwrap_err();
    assert_eq!((err.code, err.name.as_str()), (403, "CHAT_WRITE_FORBIDDEN"));
    dc.shutdown().await;
}

#[tokio::test]
async fn scheduled_messages_are_sent_at_their_time() {
    let (dc, key) = start().await;
    let control = dc.control();
    let mut a = login(&dc, &control, &key, "15559000001").await;
    let mut b = login(&dc, &control, &key, "15559000002").await;
    b.invoke(&functions::account::UpdateUsername {
        username: "sched_bob".into(),
    })
    .await
    .unwrap();
    let enums::contacts::ResolvedPeer::ResolvedPeer(r) = a
        .invoke(&functions::contacts::ResolveUsername {
            username: "sched_bob".into(),
            referer: None,
        })
        .await
        .unwrap();
    let enums::User::User(bu) = &r.users[0] else {
        panic!()
    };
    let to_b: enums::InputPeer = types::InputPeerUser {
        user_id: bu.id,
        access_hash: bu.access_hash.unwrap(),
    }
    .into();
    let at = (support::now_ms() / 1000) as i32 + 3;
    let req = functions::messages::SendMessage {
        peer: to_b,
        message: "later".into(),
        random_id: 5,
        schedule_date: Some(at),
        ..send_defaults()
    };
    let t0 = std::time::Instant::now();
    let enums::Updates::Updates(u) = a.invoke(&req).await.unwrap() else {
        panic!()
    };
    let enums::Update::NewScheduledMessage(s) = &u.updates[0] else {
        panic!()
    };
    let enums::Message::Message(sm) = &s.message else {
        panic!()
    };
    assert_eq!((sm.date, sm.message.as_str()), (at, "later"));
    let too_late = functions::messages::SendMessage {
        schedule_date: Some(at + 400 * 86400),
        random_id: 6,
        ..req.clone()
    };
    assert_eq!(
        a.invoke(&too_late).await.unwrap_err().name,
        "SCHEDULE_DATE_TOO_LATE"
    );
    // B gets it when it is due, not before.
    let enums::Updates::UpdateShortMessage(m) = next_update(&mut b).await else {
        panic!()
    };
    assert_eq!(m.message, "later");
    assert!(
        t0.elapsed() >= std::time::Duration::from_secs(1),
        "sent too early: {:?}",
        t0.elapsed()
    );
    // A's sessions learn that the scheduled message was sent.
    loop {
        match next_update(&mut a).await {
            enums::Updates::UpdateShort(u) => {
                let enums::Update::DeleteScheduledMessages(d) = &u.update else {
                    continue;
                };
                assert_eq!(d.messages, vec![sm.id]);
                assert_eq!(d.sent_messages.as_ref().map(Vec::len), Some(1));
                break;
            }
            _ => continue,
        }
    }
    dc.shutdown().await;
}

#[tokio::test]
async fn a_client_too_far_behind_gets_difference_too_long() {
    let key = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    let dc = LocalDc::start(Config {
        rsa_key: Some(key),
        login_code: Some("12345".into()),
        update_log_limit: 4,
        ..Config::default()
    })
    .await
    .unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    let control = dc.control();
    let mut b = login(&dc, &control, &key, "15559100002").await;
    let a = control.create_user("15559100001", "A", "", 1);
    let b_id = control.user_by_phone("15559100002").unwrap();
    let enums::updates::State::State(st) =
        b.invoke(&functions::updates::GetState {}).await.unwrap();
    for i in 0..12 {
        control.send_message(a, b_id, &format!("m{i}")).unwrap();
    }
    let diff = |pts| functions::updates::GetDifference {
        pts,
        pts_limit: None,
        pts_total_limit: None,
        date: st.date,
        qts: 0,
        qts_limit: None,
    };
    let d = b.invoke(&diff(st.pts)).await.unwrap();
    let enums::updates::Difference::TooLong(t) = d else {
        panic!("{d:?}")
    };
    assert_eq!(t.pts, st.pts + 12);
    // From a recent pts the difference is still there.
    let d = b.invoke(&diff(st.pts + 10)).await.unwrap();
    let enums::updates::Difference::Difference(d) = d else {
        panic!("{d:?}")
    };
    assert_eq!(d.new_messages.len(), 2);
    dc.shutdown().await;
}

#[tokio::test]
async fn invoke_without_updates_silences_the_session() {
    let (dc, key) = start().await;
    let control = dc.control();
    let a = control.create_user("15559200001", "A", "", 1);
    let mut quiet = login(&dc, &control, &key, "15559200002").await;
    let mut loud = login(&dc, &control, &key, "15559200002").await;
    let b = control.user_by_phone("15559200002").unwrap();
    quiet
        .invoke(&functions::InvokeWithoutUpdates {
            query: functions::updates::GetState {},
        })
        .await
        .unwrap();
    loud.invoke(&functions::updates::GetState {}).await.unwrap();
    control.send_message(a, b, "ping").unwrap();
    assert!(matches!(
        next_update(&mut loud).await,
        enums::Updates::UpdateShortMessage(_)
    ));
    // Anything pushed to the quiet session would arrive before this answer.
    quiet
        .invoke(&functions::help::GetNearestDc {})
        .await
        .unwrap();
    let got_update = quiet
        .stash
        .iter()
        .chain(
            std::iter::from_fn(|| quiet.session.poll_event())
                .collect::<Vec<_>>()
                .iter(),
        )
        .any(|e| matches!(e, Event::Update(_)));
    assert!(!got_update, "a session that asked for no updates got one");
    dc.shutdown().await;
}

#[tokio::test]
async fn updates_produced_together_are_combined_with_a_seq_range() {
    let (dc, key) = start().await;
    let control = dc.control();
    let mut b = login(&dc, &control, &key, "15552009901").await;
    let b_id = control.user_by_phone("15552009901").unwrap();
    let enums::updates::State::State(before) =
        b.invoke(&functions::updates::GetState {}).await.unwrap();
    let container = || -> Vec<u8> {
        let u: enums::Updates = types::Updates {
            updates: vec![types::UpdateDcOptions { dc_options: vec![] }.into()],
            users: vec![],
            chats: vec![],
            date: 1,
            seq: 0,
        }
        .into();
        fleetgram_tl::Serializable::to_bytes(&u)
    };
    control
        .inject_updates(b_id, &[container(), container()])
        .unwrap();
    let enums::Updates::Combined(c) = next_update(&mut b).await else {
        panic!("expected updatesCombined")
    };
    assert_eq!((c.seq_start, c.seq), (before.seq + 1, before.seq + 2));
    assert_eq!(c.updates.len(), 2);
    // A single container takes the next seq.
    control.inject_updates(b_id, &[container()]).unwrap();
    let enums::Updates::Updates(u) = next_update(&mut b).await else {
        panic!()
    };
    assert_eq!(u.seq, before.seq + 3);
    let enums::updates::State::State(after) =
        b.invoke(&functions::updates::GetState {}).await.unwrap();
    assert_eq!(after.seq, before.seq + 3);
    dc.shutdown().await;
}

#[tokio::test]
async fn the_callers_other_sessions_share_the_answers_seq_and_channel_updates_take_none() {
    let (dc, key) = start().await;
    let control = dc.control();
    // One account, two sessions (two keys).
    let mut a1 = login(&dc, &control, &key, "15552009911").await;
    let mut a2 = login(&dc, &control, &key, "15552009911").await;
    let enums::updates::State::State(before) =
        a1.invoke(&functions::updates::GetState {}).await.unwrap();
    // A basic group: the answer is an `updates` container, and so is the push to the other
    // session; both have the same, next seq.
    let enums::messages::InvitedUsers::InvitedUsers(created) = a1
        .invoke(&functions::messages::CreateChat {
            users: vec![],
            title: "Solo".into(),
            ttl_period: None,
        })
        .await
        .unwrap();
    let enums::Updates::Updates(answer) = &created.updates else {
        panic!()
    };
    assert_eq!(answer.seq, before.seq + 1);
    let enums::Updates::Updates(pushed) = next_update(&mut a2).await else {
        panic!()
    };
    assert_eq!(pushed.seq, answer.seq);
    let enums::Chat::Chat(chat) = &answer.chats[0] else {
        panic!()
    };
    let edited = a1
        .invoke(&functions::messages::EditChatTitle {
            chat_id: chat.id,
            title: "Solo 2".into(),
        })
        .await
        .unwrap();
    let enums::Updates::Updates(answer2) = &edited else {
        panic!("{edited:?}")
    };
    assert_eq!(
        answer2.seq,
        before.seq + 2,
        "no seq lost to the other session"
    );
    let enums::Updates::Updates(pushed2) = next_update(&mut a2).await else {
        panic!()
    };
    assert_eq!(pushed2.seq, answer2.seq);
    // A channel's updates are outside the seq sequence: seq 0, and the sequence stays put.
    let created = a1
        .invoke(&functions::channels::CreateChannel {
            broadcast: true,
            megagroup: false,
            for_import: false,
            forum: false,
            title: "Outside".into(),
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
    assert_eq!(u.seq, 0);
    let enums::updates::State::State(after) =
        a1.invoke(&functions::updates::GetState {}).await.unwrap();
    assert_eq!(after.seq, before.seq + 2);
    dc.shutdown().await;
}
