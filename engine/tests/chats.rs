//! The chat API against the local DC: dialog, history, search and member iterators with
//! Telegram's offsets; reading, deleting, moderation, join requests and invite links.

mod support;

use fleetgram_engine::chats::{InviteOptions, ParticipantFilter};
use fleetgram_engine::messages::InputMessage;
use fleetgram_engine::Client;
use fleetgram_tl::{enums, functions, types};
use support::*;

/// A new supergroup of `owner`; its marked id.
async fn supergroup(owner: &Client, title: &str) -> i64 {
    -1_000_000_000_000 - new_channel(owner, title, true).await.channel_id
}

#[tokio::test]
async fn dialogs_and_history_page_through_everything_in_order() {
    let dc = start().await;
    let alice = user(&dc, "+15550030001", Some("alice_chats")).await;
    let me = alice.state().user_id.unwrap();
    // 130 private chats (more than one page of 100), the newest last.
    let mut others = Vec::new();
    for i in 0..130 {
        let u = dc
            .control()
            .create_user(&format!("+1555003{i:04}"), &format!("U{i}"), "", 1);
        dc.control()
            .send_message(u, me, &format!("hello {i}"))
            .unwrap();
        others.push(u);
    }
    let group = supergroup(&alice, "Dialog group").await;
    alice.send_message(group, "in the group").await.unwrap();
    let dialogs = alice.iter_dialogs().collect().await.unwrap();
    let ids: Vec<i64> = dialogs.iter().map(|d| d.chat_id).collect();
    assert_eq!(ids.len(), 131, "every dialog once");
    assert!(ids.contains(&group));
    let dates: Vec<i32> = dialogs
        .iter()
        .map(|d| d.top.as_ref().unwrap().date())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    let last = dialogs.iter().find(|d| d.chat_id == others[129]).unwrap();
    assert_eq!(last.raw.unread_count, 1);
    assert_eq!(last.top.as_ref().unwrap().text(), "hello 129");
    assert_eq!(
        alice.iter_dialogs().limit(5).collect().await.unwrap().len(),
        5
    );

    // Mark read.
    alice.mark_read(others[129]).await.unwrap();
    let d = alice.iter_dialogs().collect().await.unwrap();
    assert_eq!(
        d.iter()
            .find(|d| d.chat_id == others[129])
            .unwrap()
            .raw
            .unread_count,
        0
    );

    // 250 messages in one chat: newest first, oldest first, windows.
    let bob = others[0];
    for i in 0..250 {
        dc.control()
            .send_message(bob, me, &format!("m{i}"))
            .unwrap();
    }
    let all = alice.iter_history(bob).collect().await.unwrap();
    assert_eq!(all.len(), 251);
    assert!(
        all.windows(2).all(|w| w[0].id() > w[1].id()),
        "newest first"
    );
    assert_eq!(all[0].text(), "m249");
    let rev = alice.iter_history(bob).reverse().collect().await.unwrap();
    assert_eq!(rev.len(), 251);
    assert!(
        rev.windows(2).all(|w| w[0].id() < w[1].id()),
        "oldest first"
    );
    assert_eq!(rev[0].text(), "hello 0");
    let mid = all[100].id();
    let below = alice
        .iter_history(bob)
        .offset_id(mid)
        .collect()
        .await
        .unwrap();
    assert_eq!(below.len(), 150);
    assert!(below.iter().all(|m| m.id() < mid));
    let window = alice
        .iter_history(bob)
        .min_id(all[20].id())
        .max_id(all[10].id())
        .collect()
        .await
        .unwrap();
    assert_eq!(window.len(), 9);
    let after = alice
        .iter_history(bob)
        .reverse()
        .offset_id(mid)
        .limit(3)
        .collect()
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|m| m.id()).collect::<Vec<_>>(),
        vec![mid, mid + 1, mid + 2]
            .into_iter()
            .map(|x| x.min(all[0].id()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        alice
            .iter_history(bob)
            .limit(7)
            .collect()
            .await
            .unwrap()
            .len(),
        7
    );

    // Delete a dialog (for both sides).
    alice.delete_dialog(bob, true).await.unwrap();
    assert!(alice.iter_history(bob).collect().await.unwrap().is_empty());
    alice.clear_mentions(group).await.unwrap();
    dc.shutdown().await;
}

#[tokio::test]
async fn search_members_moderation_join_requests_and_invite_links() {
    let dc = start().await;
    let alice = user(&dc, "+15550031001", Some("alice_mod")).await;
    let bob = user(&dc, "+15550031002", Some("bob_mod")).await;
    let carol = user(&dc, "+15550031003", Some("carol_mod")).await;
    let dave = user(&dc, "+15550031004", Some("dave_mod")).await;
    let helper = bot(&dc, "helper_mod_bot").await;
    let group = supergroup(&alice, "Moderated").await;

    // Open link for bob and the bot, a request link for carol and dave.
    let open = alice
        .export_invite_link(group, &InviteOptions::default())
        .await
        .unwrap();
    bob.join_by_invite(&open.link).await.unwrap();
    let asking = alice
        .export_invite_link(
            group,
            &InviteOptions {
                request_needed: true,
                title: Some("ask".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(asking.request_needed);
    for u in [&carol, &dave] {
        let e = u.join_by_invite(&asking.link).await.unwrap_err();
        assert!(e.is("INVITE_REQUEST_SENT"), "{e}");
    }
    let requests = alice.iter_join_requests(group).collect().await.unwrap();
    let carol_id = carol.state().user_id.unwrap();
    let dave_id = dave.state().user_id.unwrap();
    let mut asked: Vec<i64> = requests.iter().map(|r| r.user_id).collect();
    asked.sort_unstable();
    let mut want = vec![carol_id, dave_id];
    want.sort_unstable();
    assert_eq!(asked, want);
    alice
        .answer_join_request(group, carol_id, true)
        .await
        .unwrap();
    alice
        .answer_join_request(group, dave_id, false)
        .await
        .unwrap();
    assert!(alice
        .iter_join_requests(group)
        .collect()
        .await
        .unwrap()
        .is_empty());
    alice.resolve_peer("@helper_mod_bot").await.unwrap();
    alice
        .invoke(&functions::channels::InviteToChannel {
            channel: match alice.resolve_peer(&group.to_string()).await.unwrap() {
                enums::InputPeer::Channel(c) => types::InputChannel {
                    channel_id: c.channel_id,
                    access_hash: c.access_hash,
                }
                .into(),
                other => panic!("{other:?}"),
            },
            users: vec![match alice.resolve_peer("@helper_mod_bot").await.unwrap() {
                enums::InputPeer::User(u) => types::InputUser {
                    user_id: u.user_id,
                    access_hash: u.access_hash,
                }
                .into(),
                other => panic!("{other:?}"),
            }],
        })
        .await
        .unwrap();
    let ids = |v: Vec<fleetgram_engine::chats::Participant>| {
        let mut x: Vec<i64> = v.into_iter().map(|p| p.user_id).collect();
        x.sort_unstable();
        x
    };
    let bob_id = bob.state().user_id.unwrap();
    let alice_id = alice.state().user_id.unwrap();
    let bot_id = helper.state().user_id.unwrap();
    let mut everyone = vec![alice_id, bob_id, carol_id, bot_id];
    everyone.sort_unstable();
    assert_eq!(
        ids(alice.iter_participants(group).collect().await.unwrap()),
        everyone
    );
    assert_eq!(
        ids(alice
            .iter_participants(group)
            .filter(ParticipantFilter::Bots)
            .collect()
            .await
            .unwrap()),
        vec![bot_id]
    );
    assert_eq!(
        ids(alice
            .iter_participants(group)
            .filter(ParticipantFilter::Search("carol_mod".into()))
            .collect()
            .await
            .unwrap()),
        vec![carol_id]
    );

    // Promote, restrict, ban, unban, kick.
    alice
        .promote(
            group,
            "@bob_mod",
            types::ChatAdminRights {
                delete_messages: true,
                ban_users: true,
                ..Default::default()
            },
            Some("mod"),
        )
        .await
        .unwrap();
    let mut admins = vec![alice_id, bob_id];
    admins.sort_unstable();
    assert_eq!(
        ids(alice
            .iter_participants(group)
            .filter(ParticipantFilter::Admins)
            .collect()
            .await
            .unwrap()),
        admins
    );
    alice
        .restrict(
            group,
            "@carol_mod",
            types::ChatBannedRights {
                send_messages: true,
                until_date: 0,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ids(alice
            .iter_participants(group)
            .filter(ParticipantFilter::Restricted)
            .collect()
            .await
            .unwrap()),
        vec![carol_id]
    );
    // Carol learns the group (and its access hash) from her chat list.
    assert!(carol
        .iter_dialogs()
        .collect()
        .await
        .unwrap()
        .iter()
        .any(|d| d.chat_id == group));
    let e = carol.send_message(group, "may I?").await.unwrap_err();
    assert!(
        e.is("CHAT_WRITE_FORBIDDEN") || e.is("USER_BANNED_IN_CHANNEL"),
        "{e}"
    );
    alice.unban(group, "@carol_mod").await.unwrap();
    carol
        .send_message(group, "thanks, needle https://x.y")
        .await
        .unwrap();
    alice.ban(group, "@carol_mod", 0).await.unwrap();
    assert_eq!(
        ids(alice
            .iter_participants(group)
            .filter(ParticipantFilter::Banned)
            .collect()
            .await
            .unwrap()),
        vec![carol_id]
    );
    alice.kick(group, "@helper_mod_bot").await.unwrap();
    let mut left = vec![alice_id, bob_id];
    left.sort_unstable();
    assert_eq!(
        ids(alice.iter_participants(group).collect().await.unwrap()),
        left
    );
    assert!(
        alice
            .iter_participants(group)
            .filter(ParticipantFilter::Banned)
            .collect()
            .await
            .unwrap()
            .len()
            == 1,
        "a kick is not a ban"
    );

    // Search: in the supergroup, in a private chat, with filters, and globally.
    for i in 0..5 {
        bob.send_message(group, format!("needle {i}"))
            .await
            .unwrap();
        bob.send_message(group, format!("hay {i}")).await.unwrap();
    }
    let hits = alice.search(group).query("needle").collect().await.unwrap();
    assert_eq!(hits.len(), 6, "five from bob and carol's");
    assert!(hits.windows(2).all(|w| w[0].id() > w[1].id()));
    let from_bob = alice
        .search(group)
        .query("needle")
        .from_user("@bob_mod")
        .collect()
        .await
        .unwrap();
    assert_eq!(from_bob.len(), 5);
    let urls = alice
        .search(group)
        .filter(enums::MessagesFilter::InputMessagesFilterUrl)
        .collect()
        .await
        .unwrap();
    assert_eq!(urls.len(), 1);
    assert_eq!(urls[0].text(), "thanks, needle https://x.y");
    alice
        .send_message("@bob_mod", InputMessage::text("a needle in private"))
        .await
        .unwrap();
    let private = alice
        .search("@bob_mod")
        .query("needle")
        .collect()
        .await
        .unwrap();
    assert_eq!(private.len(), 1);
    let global = bob.search_global("needle").collect().await.unwrap();
    assert!(global.len() >= 6, "{}", global.len());
    dc.shutdown().await;
}

#[tokio::test]
async fn message_links_export_and_resolve_and_the_typing_guard_shows_and_cancels() {
    use fleetgram_engine::links::{parse_message_link, ChatAction};
    let dc = start().await;
    let alice = user(&dc, "+15550032001", Some("alice_links")).await;
    let bob = user(&dc, "+15550032002", Some("bob_links")).await;
    // A public supergroup and a private one.
    let public = supergroup(&alice, "Public").await;
    let enums::InputPeer::Channel(c) = alice.resolve_peer(&public.to_string()).await.unwrap()
    else {
        panic!()
    };
    alice
        .invoke(&functions::channels::UpdateUsername {
            channel: types::InputChannel {
                channel_id: c.channel_id,
                access_hash: c.access_hash,
            }
            .into(),
            username: "links_public".into(),
        })
        .await
        .unwrap();
    let private = supergroup(&alice, "Private").await;
    let m1 = alice.send_message(public, "in public").await.unwrap();
    let m2 = alice.send_message(private, "in private").await.unwrap();
    let l1 = alice
        .export_message_link(public, m1.id(), false)
        .await
        .unwrap();
    assert_eq!(l1, format!("https://t.me/links_public/{}", m1.id()));
    let l2 = alice
        .export_message_link(private, m2.id(), true)
        .await
        .unwrap();
    assert_eq!(
        l2,
        format!(
            "https://t.me/c/{}/{}?thread={}",
            -1_000_000_000_000 - private,
            m2.id(),
            m2.id()
        )
    );
    assert_eq!(parse_message_link(&l2).unwrap().thread, Some(m2.id()));
    assert_eq!(
        alice.message_from_link(&l1).await.unwrap().text(),
        "in public"
    );
    assert_eq!(
        alice.message_from_link(&l2).await.unwrap().text(),
        "in private"
    );
    // Bob (not a member) resolves the public one by its username.
    assert_eq!(
        bob.message_from_link(&l1).await.unwrap().text(),
        "in public"
    );
    // Pins in a supergroup: the owner pins and unpins; an outsider may not.
    let pinned = |c: &fleetgram_engine::Client, id: i32| {
        let c = c.clone();
        async move {
            let m = c.get_messages(public, &[id]).await.unwrap();
            matches!(&m[0].raw, enums::Message::Message(x) if x.pinned)
        }
    };
    m1.pin(true).await.unwrap();
    assert!(pinned(&alice, m1.id()).await);
    let theirs = bob.message_from_link(&l1).await.unwrap();
    assert!(theirs
        .pin(true)
        .await
        .unwrap_err()
        .is("CHAT_ADMIN_REQUIRED"));
    alice.unpin_all(public).await.unwrap();
    assert!(!pinned(&alice, m1.id()).await);
    let e = alice
        .export_message_link("@bob_links", 1, false)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("channels and supergroups only"),
        "{e}"
    );

    // The typing guard: bob sees alice typing, then the cancel when the guard drops.
    let mut bob_updates = bob.updates().await.unwrap();
    let guard = alice
        .typing("@bob_links", ChatAction::Typing)
        .await
        .unwrap();
    let action = |d: &fleetgram_engine::updates::Delivered| match &d.update {
        enums::Update::UserTyping(u) => Some(u.action.clone()),
        _ => None,
    };
    assert_eq!(
        next_matching(&mut bob_updates, action).await,
        enums::SendMessageAction::SendMessageTypingAction
    );
    guard.set(ChatAction::UploadDocument(50));
    drop(guard);
    // (The progress may or may not show before the cancel.)
    next_matching(&mut bob_updates, |d| {
        action(d).filter(|a| *a == enums::SendMessageAction::SendMessageCancelAction)
    })
    .await;
    dc.shutdown().await;
}

#[tokio::test]
async fn discussion_groups_carry_comments_and_comment_links() {
    use fleetgram_engine::links::parse_message_link;
    let dc = start().await;
    let alice = user(&dc, "+15550036001", Some("alice_news")).await;
    let bob = user(&dc, "+15550036002", Some("bob_news")).await;
    // A public broadcast channel and a private supergroup as its discussion group.
    let news_input = new_channel(&alice, "News", false).await;
    alice
        .invoke(&functions::channels::UpdateUsername {
            channel: news_input.clone().into(),
            username: "links_news".into(),
        })
        .await
        .unwrap();
    let news_id = -1_000_000_000_000 - news_input.channel_id;
    let group = supergroup(&alice, "News chat").await;
    let group_raw = -1_000_000_000_000 - group;
    // Bob may not link chats he does not administer.
    assert!(bob
        .set_discussion_group("@links_news", Some(group.into()))
        .await
        .is_err());
    alice
        .set_discussion_group(news_id, Some(group.into()))
        .await
        .unwrap();
    let err = alice
        .set_discussion_group(news_id, Some(group.into()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("LINK_NOT_MODIFIED"), "{err}");
    let enums::messages::ChatFull::ChatFull(full) = alice
        .invoke(&functions::channels::GetFullChannel {
            channel: news_input.clone().into(),
        })
        .await
        .unwrap();
    let enums::ChatFull::ChannelFull(full) = full.full_chat else {
        panic!()
    };
    assert_eq!(full.linked_chat_id, Some(group_raw));

    // A post goes on into the group, from the channel, pinned, opening its comments.
    let post = alice.send_message(news_id, "post one").await.unwrap();
    let copy = alice
        .iter_history(group)
        .collect()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.text() == "post one")
        .expect("the post is forwarded into the group");
    let enums::Message::Message(raw) = &copy.raw else {
        panic!()
    };
    assert!(raw.pinned && !raw.out);
    assert_eq!(
        raw.from_id,
        Some(
            types::PeerChannel {
                channel_id: news_input.channel_id
            }
            .into()
        )
    );
    let enums::MessageFwdHeader::MessageFwdHeader(fwd) = raw.fwd_from.clone().unwrap();
    assert_eq!(fwd.channel_post, Some(post.id()));

    // Bob, a member of neither, comments; Alice comments; Bob answers Alice.
    let start = bob
        .discussion_message("@links_news", post.id())
        .await
        .unwrap();
    assert_eq!((start.chat_id(), start.id()), (group, copy.id()));
    let c1 = start.reply("first comment").await.unwrap();
    let c2 = alice
        .discussion_message(news_id, post.id())
        .await
        .unwrap()
        .reply("second comment")
        .await
        .unwrap();
    let theirs = bob.get_messages(group, &[c2.id()]).await.unwrap();
    let c3 = theirs[0].reply("third, to the second").await.unwrap();
    let enums::Message::Message(r3) = &c3.raw else {
        panic!()
    };
    let enums::MessageReplyHeader::MessageReplyHeader(h) = r3.reply_to.clone().unwrap() else {
        panic!()
    };
    assert_eq!(
        (h.reply_to_msg_id, h.reply_to_top_id),
        (Some(c2.id()), Some(copy.id()))
    );
    // Outside the thread: a member's ordinary message is no comment, and a non-member may
    // not write in the group.
    alice.send_message(group, "chatter").await.unwrap();
    assert!(bob.send_message(group, "not a comment").await.is_err());

    // The post counts its comments and names the group.
    let seen = bob.get_messages("@links_news", &[post.id()]).await.unwrap();
    let enums::Message::Message(p) = &seen[0].raw else {
        panic!()
    };
    let enums::MessageReplies::MessageReplies(replies) = p.replies.clone().unwrap();
    assert!(replies.comments);
    assert_eq!(replies.replies, 3);
    assert_eq!(replies.channel_id, Some(group_raw));
    assert_eq!(replies.max_id, Some(c3.id()));
    // The comments, oldest first, and newest first in pages.
    let texts = |v: Vec<fleetgram_engine::messages::Message>| {
        v.iter().map(|m| m.text().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(
        texts(
            bob.iter_replies("@links_news", post.id())
                .reverse()
                .collect()
                .await
                .unwrap()
        ),
        ["first comment", "second comment", "third, to the second"]
    );
    assert_eq!(
        texts(
            alice
                .iter_replies(news_id, post.id())
                .limit(2)
                .collect()
                .await
                .unwrap()
        ),
        ["third, to the second", "second comment"]
    );

    // A comment's link opens the post with the comment; it resolves back to the comment.
    let link = alice
        .export_message_link(group, c1.id(), false)
        .await
        .unwrap();
    assert_eq!(
        link,
        format!("https://t.me/links_news/{}?comment={}", post.id(), c1.id())
    );
    let parsed = parse_message_link(&link).unwrap();
    assert_eq!((parsed.id, parsed.comment), (post.id(), Some(c1.id())));
    assert_eq!(
        bob.message_from_link(&link).await.unwrap().text(),
        "first comment"
    );
    // A reply thread of the group itself: the thread link names its first message.
    let root = alice.send_message(group, "root").await.unwrap();
    let answer = root.reply("answer").await.unwrap();
    assert_eq!(
        alice
            .export_message_link(group, answer.id(), true)
            .await
            .unwrap(),
        format!(
            "https://t.me/c/{group_raw}/{}?thread={}",
            answer.id(),
            root.id()
        )
    );

    // An edit of the post reaches its forward; unlinked, new posts stay in the channel.
    post.edit("post one, edited").await.unwrap();
    let again = alice.get_messages(group, &[copy.id()]).await.unwrap();
    assert_eq!(again[0].text(), "post one, edited");
    alice.set_discussion_group(news_id, None).await.unwrap();
    let lonely = alice.send_message(news_id, "post two").await.unwrap();
    let enums::Message::Message(l) = &lonely.raw else {
        panic!()
    };
    assert!(l.replies.is_none());
    assert!(alice
        .discussion_message(news_id, lonely.id())
        .await
        .is_err());
    assert!(!texts(alice.iter_history(group).collect().await.unwrap())
        .contains(&"post two".to_string()));
    dc.shutdown().await;
}

#[tokio::test]
async fn mentions_are_counted_listed_and_read() {
    let dc = start().await;
    let alice = user(&dc, "+15550037001", Some("alice_ment")).await;
    let bob = user(&dc, "+15550037002", Some("bob_ment")).await;
    let group = supergroup(&alice, "Mentions").await;
    let link = alice
        .export_invite_link(group, &InviteOptions::default())
        .await
        .unwrap();
    bob.join_by_invite(&link.link).await.unwrap();
    let his = bob.send_message(group, "my message").await.unwrap();
    let named = alice.send_message(group, "hello @bob_ment").await.unwrap();
    let plain = alice.send_message(group, "plain").await.unwrap();
    alice
        .send_message(group, "mail x@bob_ment.example")
        .await
        .unwrap();
    let answer = alice
        .send_message(group, InputMessage::text("answer").reply_to(his.id()))
        .await
        .unwrap();
    alice
        .send_message(group, "@alice_ment myself")
        .await
        .unwrap();
    // A basic group with both.
    let enums::InputPeer::User(b) = alice.resolve_peer("@bob_ment").await.unwrap() else {
        panic!()
    };
    let enums::messages::InvitedUsers::InvitedUsers(created) = alice
        .invoke(&functions::messages::CreateChat {
            users: vec![types::InputUser {
                user_id: b.user_id,
                access_hash: b.access_hash,
            }
            .into()],
            title: "Basic".into(),
            ttl_period: None,
        })
        .await
        .unwrap();
    let enums::Updates::Updates(u) = &created.updates else {
        panic!()
    };
    let basic = -match &u.chats[0] {
        enums::Chat::Chat(c) => c.id,
        other => panic!("{other:?}"),
    };
    alice.send_message(basic, "hey @BOB_MENT").await.unwrap();
    alice.send_message(basic, "no one").await.unwrap();

    let counts = |c: fleetgram_engine::Client| async move {
        let d = c.iter_dialogs().collect().await.unwrap();
        let of = |id: i64| {
            d.iter()
                .find(|x| x.chat_id == id)
                .map(|x| x.raw.unread_mentions_count)
        };
        (of(group), of(basic))
    };
    assert_eq!(counts(bob.clone()).await, (Some(2), Some(1)));
    assert_eq!(counts(alice.clone()).await, (Some(0), Some(0)));
    let texts = |v: &[fleetgram_engine::messages::Message]| {
        v.iter().map(|m| m.text().to_string()).collect::<Vec<_>>()
    };
    let unread = bob.iter_unread_mentions(group).collect().await.unwrap();
    assert_eq!(texts(&unread), ["answer", "hello @bob_ment"]);
    assert!(unread.iter().all(|m| m.mentioned()));
    let seen = bob
        .get_messages(group, &[named.id(), plain.id()])
        .await
        .unwrap();
    assert!(seen[0].mentioned() && !seen[1].mentioned());
    assert!(!named.mentioned(), "not a mention of its sender");
    assert_eq!(
        texts(&bob.iter_unread_mentions(basic).collect().await.unwrap()),
        ["hey @BOB_MENT"]
    );

    // One read by viewing it, the rest cleared.
    let enums::InputPeer::Channel(c) = bob.resolve_peer(&group.to_string()).await.unwrap() else {
        panic!()
    };
    bob.invoke(&functions::channels::ReadMessageContents {
        channel: types::InputChannel {
            channel_id: c.channel_id,
            access_hash: c.access_hash,
        }
        .into(),
        id: vec![answer.id()],
    })
    .await
    .unwrap();
    assert_eq!(
        texts(&bob.iter_unread_mentions(group).collect().await.unwrap()),
        ["hello @bob_ment"]
    );
    bob.clear_mentions(group).await.unwrap();
    bob.clear_mentions(basic).await.unwrap();
    assert_eq!(counts(bob.clone()).await, (Some(0), Some(0)));
    assert!(bob
        .iter_unread_mentions(basic)
        .collect()
        .await
        .unwrap()
        .is_empty());
    // Still a mention, no longer unread.
    let again = bob.get_messages(group, &[named.id()]).await.unwrap();
    let enums::Message::Message(raw) = &again[0].raw else {
        panic!()
    };
    assert!(raw.mentioned && !raw.media_unread);
    dc.shutdown().await;
}

/// Logs `phone` in with `config` changed by `tune`.
async fn user_tuned(
    dc: &fleetgram_localdc::LocalDc,
    phone: &str,
    tune: impl FnOnce(&mut fleetgram_engine::Config),
) -> Client {
    dc.control().create_user(phone, "User", phone, 1);
    let mut cfg = config(dc);
    tune(&mut cfg);
    let c = Client::new(
        cfg,
        std::sync::Arc::new(fleetgram_engine::store::MemoryStore::new()),
        phone,
    )
    .unwrap();
    let token = c.request_login_code(phone).await.unwrap();
    c.sign_in(&token, "12345").await.unwrap();
    c
}

#[tokio::test]
async fn posts_of_a_big_channel_that_does_not_push_reach_members_by_polling() {
    use fleetgram_engine::dispatch::{Dispatcher, Filter as F};
    use fleetgram_engine::updates::UpdateKind;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    // Like Telegram's big channels: over 10 members, new posts are pushed to admins only,
    // and the server asks to be polled again after 1 s.
    let dc = start_with(fleetgram_localdc::Config {
        channel_push_limit: 10,
        channel_poll_timeout: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let owner = user(&dc, "+15550034001", None).await;
    let channel = new_channel(&owner, "Big news", false).await;
    owner
        .invoke(&functions::channels::UpdateUsername {
            channel: channel.clone().into(),
            username: "big_news_polled".into(),
        })
        .await
        .unwrap();
    let marked = -1_000_000_000_000 - channel.channel_id;
    for i in 0..197 {
        let u = dc
            .control()
            .create_user(&format!("+1555003{:04}", 5000 + i), "M", "", 1);
        dc.control().join_channel(u, channel.channel_id).unwrap();
    }
    // A member whose handler names the channel (watched), and one that only follows the
    // update stream: both join through the API. 200 members in all.
    let watcher = user(&dc, "+15550034002", None).await;
    let plain = user(&dc, "+15550034003", None).await;
    let seen = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
    let mut d = Dispatcher::new();
    let noted = seen.clone();
    d.on(UpdateKind::NewMessage, F::chats([marked]), move |e| {
        let noted = noted.clone();
        async move {
            noted.lock().unwrap().push((e.text(), Instant::now()));
            Ok(())
        }
    });
    let running = tokio::spawn({
        let watcher = watcher.clone();
        async move { d.run(&watcher).await }
    });
    let texts = |v: &[(String, Instant)]| {
        v.iter()
            .filter(|x| x.0 != "(polled)")
            .map(|x| x.0.clone())
            .collect::<Vec<_>>()
    };
    let polled = |v: &[(String, Instant)]| v.iter().any(|x| x.0 == "(polled)");
    // The plain stream is read as it comes, like any consumer does.
    let mut plain_updates = plain.updates().await.unwrap();
    let plain_seen = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
    let reading = tokio::spawn({
        let noted = plain_seen.clone();
        async move {
            while let Some(d) = plain_updates.next().await {
                let d = d.unwrap();
                if let Some(enums::Message::Message(m)) = d.message() {
                    noted
                        .lock()
                        .unwrap()
                        .push((m.message.clone(), Instant::now()));
                }
                plain_updates.ack(&d).unwrap();
                if plain_updates.stats().channel_polls > 0 {
                    noted
                        .lock()
                        .unwrap()
                        .push(("(polled)".into(), Instant::now()));
                }
            }
        }
    });
    for c in [&watcher, &plain] {
        let enums::InputPeer::Channel(p) = c.resolve_peer("@big_news_polled").await.unwrap() else {
            panic!("not a channel")
        };
        c.invoke(&functions::channels::JoinChannel {
            channel: types::InputChannel {
                channel_id: p.channel_id,
                access_hash: p.access_hash,
            }
            .into(),
        })
        .await
        .unwrap();
        // And half of whatever is still pushed to them is lost on the way.
        dc.control().drop_pushes(c.state().user_id.unwrap(), 0.5);
    }
    // A member follows the channel from when its stream has learned it (the join's answer
    // carries no pts for a broadcast channel): post until both have one, then count.
    let warm = Instant::now();
    while seen.lock().unwrap().is_empty() || texts(&plain_seen.lock().unwrap()).is_empty() {
        assert!(warm.elapsed() < Duration::from_secs(10), "never followed");
        owner.send_message(marked, "warming up").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    seen.lock().unwrap().clear();
    plain_seen.lock().unwrap().retain(|x| x.0 == "(polled)");
    let mut posted = Vec::new();
    for i in 0..20 {
        let text = format!("post {i}");
        owner.send_message(marked, text.as_str()).await.unwrap();
        posted.push((text, Instant::now()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Both get every post, in order, once, each within the server's timeout (plus a poll's
    // own time).
    // The handler too, each post within the server's timeout (plus a poll's own time).
    let deadline = Instant::now() + Duration::from_secs(10);
    while (seen.lock().unwrap().len() < posted.len()
        || texts(&plain_seen.lock().unwrap()).len() < posted.len())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // nothing twice
    let handled = seen.lock().unwrap().clone();
    let all = plain_seen.lock().unwrap().clone();
    assert!(polled(&all));
    let got: Vec<(String, Instant)> = all.into_iter().filter(|x| x.0 != "(polled)").collect();
    assert_eq!(texts(&got), texts(&posted));
    assert_eq!(texts(&handled), texts(&posted));
    for ((text, sent), (_, at)) in posted.iter().zip(&got).chain(posted.iter().zip(&handled)) {
        assert!(
            at.duration_since(*sent) < Duration::from_millis(2500),
            "{text} took {:?}",
            at.duration_since(*sent)
        );
    }
    assert!(
        fleetgram_engine::metrics::global()
            .channel_polls
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    running.abort();
    reading.abort();
    dc.shutdown().await;
}

#[tokio::test]
async fn an_account_that_hears_nothing_for_long_asks_for_the_difference() {
    use std::time::Duration;
    let dc = start().await;
    let quiet = user_tuned(&dc, "+15550034101", |c| {
        c.idle_difference = Duration::from_millis(400);
        c.channel_poll_limit = 0;
    })
    .await;
    let me = quiet.state().user_id.unwrap();
    let mut updates = quiet.updates().await.unwrap();
    // Every push to the account is lost: only asking finds the message.
    dc.control().drop_pushes(me, 1.0);
    let friend = dc.control().create_user("+15550034102", "F", "", 1);
    dc.control()
        .send_message(friend, me, "are you there?")
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(5), updates.next())
        .await
        .expect("found by the idle difference")
        .unwrap()
        .unwrap();
    assert!(
        matches!(d.message(), Some(enums::Message::Message(m)) if m.message == "are you there?"),
        "{d:?}"
    );
    assert!(updates.stats().idle_differences >= 1);
    dc.shutdown().await;
}
