//! Channels and supergroups through the local DC: creation, usernames, members, admins,
//! bans, posting with per-channel pts, getChannelDifference, invite links and join requests.

mod support;

use fleetgram_tl::{enums, functions, types};
use support::accounts::{login, next_update, send_defaults, start};
use support::Client;

/// The channel of an `updates` answer, as (input channel, input peer).
fn channel_of(u: &enums::Updates) -> (enums::InputChannel, enums::InputPeer) {
    let chats = match u {
        enums::Updates::Updates(u) => &u.chats,
        enums::Updates::Combined(u) => &u.chats,
        _ => panic!("expected updates, got {u:?}"),
    };
    for c in chats {
        if let enums::Chat::Channel(c) = c {
            let h = c.access_hash.expect("access hash");
            return (
                types::InputChannel {
                    channel_id: c.id,
                    access_hash: h,
                }
                .into(),
                types::InputPeerChannel {
                    channel_id: c.id,
                    access_hash: h,
                }
                .into(),
            );
        }
    }
    panic!("no channel in {u:?}")
}

fn channel_updates(u: &enums::Updates) -> Vec<enums::Update> {
    match u {
        enums::Updates::Updates(u) => u.updates.clone(),
        enums::Updates::Combined(u) => u.updates.clone(),
        _ => vec![],
    }
}

/// Waits for a pushed new channel message and returns its text and pts.
async fn next_channel_message(c: &mut Client) -> (String, i32, bool) {
    loop {
        for u in channel_updates(&next_update(c).await) {
            if let enums::Update::NewChannelMessage(m) = u {
                if let enums::Message::Message(x) = &m.message {
                    return (x.message.clone(), m.pts, x.from_id.is_none());
                }
            }
        }
    }
}

async fn input_user(c: &mut Client, of: &mut Client) -> (enums::InputUser, enums::InputPeer) {
    let users = of
        .invoke(&functions::users::GetUsers {
            id: vec![enums::InputUser::InputUserSelf],
        })
        .await
        .unwrap();
    let enums::User::User(me) = &users[0] else {
        panic!()
    };
    // Seen through a contact import, as a client would learn it.
    let imported = c
        .invoke(&functions::contacts::ImportContacts {
            contacts: vec![types::InputPhoneContact {
                client_id: 1,
                phone: me.phone.clone().unwrap(),
                first_name: "x".into(),
                last_name: String::new(),
                note: None,
            }
            .into()],
        })
        .await
        .unwrap();
    let enums::contacts::ImportedContacts::ImportedContacts(imported) = imported;
    let enums::User::User(u) = &imported.users[0] else {
        panic!()
    };
    let h = u.access_hash.unwrap();
    (
        types::InputUser {
            user_id: u.id,
            access_hash: h,
        }
        .into(),
        types::InputPeerUser {
            user_id: u.id,
            access_hash: h,
        }
        .into(),
    )
}

fn text(peer: &enums::InputPeer, t: &str, random_id: i64) -> functions::messages::SendMessage {
    functions::messages::SendMessage {
        peer: peer.clone(),
        message: t.into(),
        random_id,
        ..send_defaults()
    }
}

#[tokio::test]
async fn supergroup_members_posts_bans_and_difference() {
    let (dc, key) = start().await;
    let control = dc.control();
    let mut owner = login(&dc, &control, &key, "15553000001").await;
    let mut member = login(&dc, &control, &key, "15553000002").await;

    let created = owner
        .invoke(&functions::channels::CreateChannel {
            broadcast: false,
            megagroup: true,
            for_import: false,
            forum: false,
            title: "Demo group".into(),
            about: "about".into(),
            geo_point: None,
            address: None,
            ttl_period: None,
        })
        .await
        .unwrap();
    let (channel, peer) = channel_of(&created);
    owner
        .invoke(&functions::channels::UpdateUsername {
            channel: channel.clone(),
            username: "demo_group_x".into(),
        })
        .await
        .unwrap();
    // The member finds it by username (with their own access hash) and joins.
    let enums::contacts::ResolvedPeer::ResolvedPeer(r) = member
        .invoke(&functions::contacts::ResolveUsername {
            username: "demo_group_x".into(),
            referer: None,
        })
        .await
        .unwrap();
    let enums::Chat::Channel(seen) = &r.chats[0] else {
        panic!()
    };
    assert!(seen.megagroup && seen.left);
    let m_channel: enums::InputChannel = types::InputChannel {
        channel_id: seen.id,
        access_hash: seen.access_hash.unwrap(),
    }
    .into();
    let m_peer: enums::InputPeer = types::InputPeerChannel {
        channel_id: seen.id,
        access_hash: seen.access_hash.unwrap(),
    }
    .into();
    // Someone else's access hash is refused.
    assert_eq!(
        member
            .invoke(&functions::channels::JoinChannel {
                channel: channel.clone()
            })
            .await
            .unwrap_err()
            .name,
        "CHANNEL_INVALID"
    );
    member
        .invoke(&functions::channels::JoinChannel {
            channel: m_channel.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        member
            .invoke(&functions::channels::JoinChannel {
                channel: m_channel.clone()
            })
            .await
            .unwrap_err()
            .name,
        "USER_ALREADY_PARTICIPANT"
    );
    // The owner's session saw the join as a service message.
    loop {
        let u = next_update(&mut owner).await;
        if channel_updates(&u).iter().any(|u| {
            matches!(u, enums::Update::NewChannelMessage(m)
                if matches!(&m.message, enums::Message::Service(s)
                    if matches!(s.action, enums::MessageAction::ChatAddUser(_))))
        }) {
            break;
        }
    }
    let enums::messages::ChatFull::ChatFull(full) = member
        .invoke(&functions::channels::GetFullChannel {
            channel: m_channel.clone(),
        })
        .await
        .unwrap();
    let enums::ChatFull::ChannelFull(full) = full.full_chat else {
        panic!()
    };
    assert_eq!(full.participants_count, Some(2));
    let start_pts = full.pts;

    // Posting: the other member gets the message with the channel's next pts.
    owner
        .invoke(&text(&peer, "hello members", 1))
        .await
        .unwrap();
    let (t, pts, _) = next_channel_message(&mut member).await;
    assert_eq!(t, "hello members");
    assert_eq!(pts, start_pts + 1);
    member.invoke(&text(&m_peer, "spam spam", 2)).await.unwrap();
    member.invoke(&text(&m_peer, "more spam", 3)).await.unwrap();
    // A repeated random_id sends nothing new.
    member.invoke(&text(&m_peer, "more spam", 3)).await.unwrap();

    // getChannelDifference from the earlier pts returns exactly what happened since.
    let diff = member
        .invoke(&functions::updates::GetChannelDifference {
            force: false,
            channel: m_channel.clone(),
            filter: enums::ChannelMessagesFilter::Empty,
            pts: start_pts,
            limit: 100,
        })
        .await
        .unwrap();
    let enums::updates::ChannelDifference::ChannelDifference(d) = diff else {
        panic!("{diff:?}")
    };
    let texts: Vec<String> = d
        .new_messages
        .iter()
        .filter_map(|m| match m {
            enums::Message::Message(m) => Some(m.message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["hello members", "spam spam", "more spam"]);
    assert!(d.r#final);
    assert_eq!(d.pts, start_pts + 3);
    // Limits slice it.
    let enums::updates::ChannelDifference::ChannelDifference(d1) = member
        .invoke(&functions::updates::GetChannelDifference {
            force: false,
            channel: m_channel.clone(),
            filter: enums::ChannelMessagesFilter::Empty,
            pts: start_pts,
            limit: 2,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(!d1.r#final);
    assert_eq!(d1.new_messages.len(), 2);
    assert!(matches!(
        member
            .invoke(&functions::updates::GetChannelDifference {
                force: false,
                channel: m_channel.clone(),
                filter: enums::ChannelMessagesFilter::Empty,
                pts: d.pts,
                limit: 100,
            })
            .await
            .unwrap(),
        enums::updates::ChannelDifference::Empty(_)
    ));
    assert_eq!(
        member
            .invoke(&functions::updates::GetChannelDifference {
                force: false,
                channel: m_channel.clone(),
                filter: enums::ChannelMessagesFilter::Empty,
                pts: d.pts + 50,
                limit: 100,
            })
            .await
            .unwrap_err()
            .name,
        "PERSISTENT_TIMESTAMP_INVALID"
    );

    // History as the channel has it.
    let enums::messages::Messages::ChannelMessages(h) = owner
        .invoke(&functions::messages::GetHistory {
            peer: peer.clone(),
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 2,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(h.messages.len(), 2);
    assert!(h.count >= 5);
    let spam_ids: Vec<i32> = h
        .messages
        .iter()
        .filter_map(|m| match m {
            enums::Message::Message(m) if !m.out => Some(m.id),
            _ => None,
        })
        .collect();
    assert_eq!(spam_ids.len(), 2);

    // A member cannot delete someone else's message; the owner can.
    let enums::Message::Message(owner_msg) = d.new_messages[0].clone() else {
        panic!()
    };
    assert_eq!(
        member
            .invoke(&functions::channels::DeleteMessages {
                channel: m_channel.clone(),
                id: vec![owner_msg.id],
            })
            .await
            .unwrap_err()
            .name,
        "MESSAGE_DELETE_FORBIDDEN"
    );
    let enums::messages::AffectedMessages::AffectedMessages(aff) = owner
        .invoke(&functions::channels::DeleteMessages {
            channel: channel.clone(),
            id: spam_ids.clone(),
        })
        .await
        .unwrap();
    assert_eq!(aff.pts_count, 2);
    loop {
        let u = next_update(&mut member).await;
        if let Some(enums::Update::DeleteChannelMessages(d)) = channel_updates(&u)
            .into_iter()
            .find(|u| matches!(u, enums::Update::DeleteChannelMessages(_)))
        {
            let mut got = d.messages.clone();
            got.sort_unstable();
            let mut want = spam_ids.clone();
            want.sort_unstable();
            assert_eq!(got, want);
            break;
        }
    }

    // Participants: recent and admins.
    let enums::channels::ChannelParticipants::ChannelParticipants(p) = owner
        .invoke(&functions::channels::GetParticipants {
            channel: channel.clone(),
            filter: enums::ChannelParticipantsFilter::ChannelParticipantsRecent,
            offset: 0,
            limit: 100,
            hash: 0,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(p.count, 2);
    assert!(matches!(
        p.participants[0],
        enums::ChannelParticipant::Creator(_)
    ));
    let member_id = match &p.participants[1] {
        enums::ChannelParticipant::ChannelParticipant(x) => x.user_id,
        other => panic!("{other:?}"),
    };
    let member_hash = p
        .users
        .iter()
        .find_map(|u| match u {
            enums::User::User(u) if u.id == member_id => u.access_hash,
            _ => None,
        })
        .unwrap();
    let member_peer: enums::InputPeer = types::InputPeerUser {
        user_id: member_id,
        access_hash: member_hash,
    }
    .into();

    // Restrict (no sending for a while), then ban.
    owner
        .invoke(&functions::channels::EditBanned {
            channel: channel.clone(),
            participant: member_peer.clone(),
            banned_rights: types::ChatBannedRights {
                send_messages: true,
                until_date: 0,
                ..Default::default()
            }
            .into(),
        })
        .await
        .unwrap();
    assert_eq!(
        member
            .invoke(&text(&m_peer, "can I?", 9))
            .await
            .unwrap_err()
            .name,
        "CHAT_WRITE_FORBIDDEN"
    );
    assert_eq!(
        member
            .invoke(&functions::channels::EditBanned {
                channel: m_channel.clone(),
                participant: enums::InputPeer::InputPeerSelf,
                banned_rights: types::ChatBannedRights::default().into(),
            })
            .await
            .unwrap_err()
            .name,
        "CHAT_ADMIN_REQUIRED"
    );
    owner
        .invoke(&functions::channels::EditBanned {
            channel: channel.clone(),
            participant: member_peer.clone(),
            banned_rights: types::ChatBannedRights {
                view_messages: true,
                send_messages: true,
                until_date: 0,
                ..Default::default()
            }
            .into(),
        })
        .await
        .unwrap();
    for e in [
        member
            .invoke(&text(&m_peer, "still here?", 10))
            .await
            .unwrap_err()
            .name,
        member
            .invoke(&functions::channels::JoinChannel {
                channel: m_channel.clone(),
            })
            .await
            .unwrap_err()
            .name,
    ] {
        assert_eq!(e, "CHANNEL_PRIVATE");
    }
    let enums::channels::ChannelParticipants::ChannelParticipants(k) = owner
        .invoke(&functions::channels::GetParticipants {
            channel: channel.clone(),
            filter: types::ChannelParticipantsKicked { q: String::new() }.into(),
            offset: 0,
            limit: 100,
            hash: 0,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(k.count, 1);
    assert!(matches!(&k.participants[0], enums::ChannelParticipant::Banned(b) if b.left));
    // Lifting the ban lets them back in.
    owner
        .invoke(&functions::channels::EditBanned {
            channel: channel.clone(),
            participant: member_peer.clone(),
            banned_rights: types::ChatBannedRights::default().into(),
        })
        .await
        .unwrap();
    member
        .invoke(&functions::channels::JoinChannel {
            channel: m_channel.clone(),
        })
        .await
        .unwrap();
    member.invoke(&text(&m_peer, "back", 11)).await.unwrap();
    // Hostile arguments get Telegram's errors.
    assert_eq!(
        owner
            .invoke(&functions::channels::GetParticipants {
                channel: channel.clone(),
                filter: enums::ChannelParticipantsFilter::ChannelParticipantsRecent,
                offset: -5,
                limit: 100,
                hash: 0,
            })
            .await
            .unwrap_err()
            .name,
        "OFFSET_INVALID"
    );
    assert_eq!(
        owner
            .invoke(&functions::channels::GetChannels {
                id: vec![types::InputChannel {
                    channel_id: 42,
                    access_hash: 1
                }
                .into()],
            })
            .await
            .unwrap_err()
            .name,
        "CHANNEL_INVALID"
    );
    drop(dc);
}

#[tokio::test]
async fn broadcast_channel_admins_and_join_requests() {
    let (dc, key) = start().await;
    let control = dc.control();
    let mut owner = login(&dc, &control, &key, "15553100001").await;
    let mut reader = login(&dc, &control, &key, "15553100002").await;
    let mut editor = login(&dc, &control, &key, "15553100003").await;
    let created = owner
        .invoke(&functions::channels::CreateChannel {
            broadcast: true,
            megagroup: false,
            for_import: false,
            forum: false,
            title: "News".into(),
            about: String::new(),
            geo_point: None,
            address: None,
            ttl_period: None,
        })
        .await
        .unwrap();
    let (channel, peer) = channel_of(&created);
    let (editor_user, _) = input_user(&mut owner, &mut editor).await;
    let (reader_user, _) = input_user(&mut owner, &mut reader).await;
    owner
        .invoke(&functions::channels::InviteToChannel {
            channel: channel.clone(),
            users: vec![editor_user.clone(), reader_user.clone()],
        })
        .await
        .unwrap();
    // Subscribers cannot post until promoted.
    let (e_channel, e_peer) = {
        // The editor learns the channel from the push that told it about the invitation.
        let u = loop {
            let u = next_update(&mut editor).await;
            if matches!(&u, enums::Updates::Updates(x) if x.chats.iter().any(|c| matches!(c, enums::Chat::Channel(_))))
            {
                break u;
            }
        };
        channel_of(&u)
    };
    assert_eq!(
        editor
            .invoke(&text(&e_peer, "hi", 1))
            .await
            .unwrap_err()
            .name,
        "CHAT_ADMIN_REQUIRED"
    );
    owner
        .invoke(&functions::channels::EditAdmin {
            channel: channel.clone(),
            user_id: editor_user.clone(),
            admin_rights: types::ChatAdminRights {
                post_messages: true,
                ..Default::default()
            }
            .into(),
            rank: Some("editor".into()),
        })
        .await
        .unwrap();
    editor
        .invoke(&text(&e_peer, "breaking news", 2))
        .await
        .unwrap();
    let (t, _, anonymous) = next_channel_message(&mut reader).await;
    assert_eq!(t, "breaking news");
    assert!(anonymous, "channel posts carry no author");
    // An admin may not grant rights they lack.
    assert_eq!(
        editor
            .invoke(&functions::channels::EditAdmin {
                channel: e_channel.clone(),
                user_id: enums::InputUser::InputUserSelf,
                admin_rights: types::ChatAdminRights {
                    ban_users: true,
                    ..Default::default()
                }
                .into(),
                rank: None,
            })
            .await
            .unwrap_err()
            .name,
        "CHAT_ADMIN_REQUIRED"
    );

    // Invite link with approval: the request waits for the owner.
    let mut joiner = login(&dc, &control, &key, "15553100004").await;
    let enums::ExportedChatInvite::ChatInviteExported(link) = owner
        .invoke(&functions::messages::ExportChatInvite {
            legacy_revoke_permanent: false,
            request_needed: true,
            peer: peer.clone(),
            expire_date: None,
            usage_limit: None,
            title: Some("approval".into()),
            subscription_pricing: None,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    let enums::ChatInvite::ChatInvite(info) = joiner
        .invoke(&functions::messages::CheckChatInvite {
            hash: link.link.clone(),
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(info.request_needed && info.broadcast);
    assert_eq!(info.title, "News");
    let hash = link.link.trim_start_matches("https://t.me/+").to_string();
    assert_eq!(
        joiner
            .invoke(&functions::messages::ImportChatInvite { hash: hash.clone() })
            .await
            .unwrap_err()
            .name,
        "INVITE_REQUEST_SENT"
    );
    let requester = loop {
        let u = next_update(&mut owner).await;
        if let Some(enums::Update::PendingJoinRequests(p)) = channel_updates(&u)
            .into_iter()
            .find(|u| matches!(u, enums::Update::PendingJoinRequests(_)))
        {
            assert_eq!(p.requests_pending, 1);
            break p.recent_requesters[0];
        }
    };
    let enums::messages::ChatFull::ChatFull(full) = owner
        .invoke(&functions::channels::GetFullChannel {
            channel: channel.clone(),
        })
        .await
        .unwrap();
    let enums::ChatFull::ChannelFull(full) = full.full_chat else {
        panic!()
    };
    assert_eq!(full.requests_pending, Some(1));
    let (joiner_user, _) = input_user(&mut owner, &mut joiner).await;
    let enums::InputUser::InputUser(ju) = &joiner_user else {
        panic!()
    };
    assert_eq!(ju.user_id, requester);
    owner
        .invoke(&functions::messages::HideChatJoinRequest {
            approved: true,
            peer: peer.clone(),
            user_id: joiner_user.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(
        joiner
            .invoke(&functions::messages::CheckChatInvite { hash: hash.clone() })
            .await
            .unwrap(),
        enums::ChatInvite::Already(_)
    ));
    assert_eq!(
        owner
            .invoke(&functions::messages::HideChatJoinRequest {
                approved: true,
                peer: peer.clone(),
                user_id: joiner_user,
            })
            .await
            .unwrap_err()
            .name,
        "HIDE_REQUESTER_MISSING"
    );
    assert_eq!(
        joiner
            .invoke(&functions::messages::ImportChatInvite {
                hash: "nosuchhash".into()
            })
            .await
            .unwrap_err()
            .name,
        "INVITE_HASH_INVALID"
    );
    drop(dc);
}

#[tokio::test]
async fn big_channels_do_not_push_and_the_remaining_channel_methods() {
    use fleetgram_localdc::{Config, LocalDc};
    use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
    use rand::RngCore;
    let key = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    let dc = LocalDc::start(Config {
        rsa_key: Some(key),
        login_code: Some("12345".into()),
        channel_push_limit: 2,
        ..Config::default()
    })
    .await
    .unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    let control = dc.control();
    let mut owner = login(&dc, &control, &key, "15553200001").await;
    let mut m1 = login(&dc, &control, &key, "15553200002").await;
    let mut m2 = login(&dc, &control, &key, "15553200003").await;
    let created = owner
        .invoke(&functions::channels::CreateChannel {
            broadcast: false,
            megagroup: true,
            for_import: false,
            forum: false,
            title: "Big".into(),
            about: String::new(),
            geo_point: None,
            address: None,
            ttl_period: None,
        })
        .await
        .unwrap();
    let (channel, peer) = channel_of(&created);
    let (u1, p1) = input_user(&mut owner, &mut m1).await;
    let (u2, _) = input_user(&mut owner, &mut m2).await;
    owner
        .invoke(&functions::channels::InviteToChannel {
            channel: channel.clone(),
            users: vec![u1.clone()],
        })
        .await
        .unwrap();
    // Two members: still pushed. Typing reaches the other member.
    let (m1_channel, m1_peer) = loop {
        let u = next_update(&mut m1).await;
        let chats = match &u {
            enums::Updates::Updates(x) => x.chats.clone(),
            enums::Updates::Combined(x) => x.chats.clone(),
            _ => vec![],
        };
        if chats.iter().any(|c| matches!(c, enums::Chat::Channel(_))) {
            break channel_of(&u);
        }
    };
    owner
        .invoke(&functions::messages::SetTyping {
            peer: peer.clone(),
            top_msg_id: None,
            action: enums::SendMessageAction::SendMessageTypingAction,
        })
        .await
        .unwrap();
    loop {
        if let enums::Updates::UpdateShort(s) = next_update(&mut m1).await {
            if matches!(s.update, enums::Update::ChannelUserTyping(_)) {
                break;
            }
        }
    }
    owner.invoke(&text(&peer, "small", 1)).await.unwrap();
    assert_eq!(next_channel_message(&mut m1).await.0, "small");

    // A third member makes it big: members get nothing pushed and poll instead.
    owner
        .invoke(&functions::channels::InviteToChannel {
            channel: channel.clone(),
            users: vec![u2],
        })
        .await
        .unwrap();
    let enums::messages::ChatFull::ChatFull(full) = m1
        .invoke(&functions::channels::GetFullChannel {
            channel: m1_channel.clone(),
        })
        .await
        .unwrap();
    let enums::ChatFull::ChannelFull(full) = full.full_chat else {
        panic!()
    };
    let before = full.pts;
    owner.invoke(&text(&peer, "big now", 2)).await.unwrap();
    let quiet = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        next_channel_message(&mut m1),
    )
    .await;
    assert!(
        quiet.is_err(),
        "a big channel pushed to a plain member: {quiet:?}"
    );
    let enums::updates::ChannelDifference::ChannelDifference(d) = m1
        .invoke(&functions::updates::GetChannelDifference {
            force: false,
            channel: m1_channel.clone(),
            filter: enums::ChannelMessagesFilter::Empty,
            pts: before,
            limit: 100,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(d
        .new_messages
        .iter()
        .any(|m| matches!(m, enums::Message::Message(x) if x.message == "big now")));

    // getMessages, getParticipant, readHistory, getChannels, leaveChannel.
    let enums::messages::Messages::ChannelMessages(got) = m1
        .invoke(&functions::channels::GetMessages {
            channel: m1_channel.clone(),
            id: vec![
                types::InputMessageID { id: 2 }.into(),
                types::InputMessageID { id: 999 }.into(),
            ],
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(got.messages.len(), 1);
    let enums::channels::ChannelParticipant::ChannelParticipant(p) = owner
        .invoke(&functions::channels::GetParticipant {
            channel: channel.clone(),
            participant: p1.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(
        p.participant,
        enums::ChannelParticipant::ChannelParticipant(_)
    ));
    assert!(m1
        .invoke(&functions::channels::ReadHistory {
            channel: m1_channel.clone(),
            max_id: 0,
        })
        .await
        .unwrap());
    let enums::messages::Chats::Chats(cs) = m1
        .invoke(&functions::channels::GetChannels {
            id: vec![m1_channel.clone()],
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(matches!(&cs.chats[0], enums::Chat::Channel(c) if c.title == "Big"));
    m1.invoke(&functions::channels::LeaveChannel {
        channel: m1_channel.clone(),
    })
    .await
    .unwrap();
    assert_eq!(
        owner
            .invoke(&functions::channels::GetParticipant {
                channel: channel.clone(),
                participant: p1,
            })
            .await
            .unwrap_err()
            .name,
        "USER_NOT_PARTICIPANT"
    );
    assert_eq!(
        m1.invoke(&text(&m1_peer, "gone", 3))
            .await
            .unwrap_err()
            .name,
        "CHAT_WRITE_FORBIDDEN"
    );
    drop(dc);
}

#[tokio::test]
async fn a_member_too_far_behind_gets_channel_difference_too_long() {
    use fleetgram_localdc::{Config, LocalDc};
    use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
    use rand::RngCore;
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
    let mut owner = login(&dc, &control, &key, "15553300001").await;
    let created = owner
        .invoke(&functions::channels::CreateChannel {
            broadcast: true,
            megagroup: false,
            for_import: false,
            forum: false,
            title: "Long".into(),
            about: String::new(),
            geo_point: None,
            address: None,
            ttl_period: None,
        })
        .await
        .unwrap();
    let (channel, peer) = channel_of(&created);
    for i in 0..12 {
        owner
            .invoke(&text(&peer, &format!("p{i}"), 100 + i))
            .await
            .unwrap();
    }
    let d = owner
        .invoke(&functions::updates::GetChannelDifference {
            force: false,
            channel: channel.clone(),
            filter: enums::ChannelMessagesFilter::Empty,
            pts: 1,
            limit: 100,
        })
        .await
        .unwrap();
    let enums::updates::ChannelDifference::TooLong(t) = d else {
        panic!("{d:?}")
    };
    let enums::Dialog::Dialog(dialog) = &t.dialog else {
        panic!()
    };
    assert_eq!(dialog.pts, Some(13));
    assert!(t
        .messages
        .iter()
        .any(|m| matches!(m, enums::Message::Message(x) if x.message == "p11")));
    // Boosts come through the control API to the channel's admin bots.
    let (bot_id, _) = control.create_bot("Booster", "boost_local_bot", 1);
    let enums::Chat::Channel(ch) = (match &created {
        enums::Updates::Updates(u) => u.chats[0].clone(),
        _ => panic!(),
    }) else {
        panic!()
    };
    control.inject_boost(bot_id, ch.id, 1).unwrap();
    assert!(control.inject_boost(bot_id, 42, 1).is_err());
    drop(dc);
}
