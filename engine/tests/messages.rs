//! The client API for messages against the local DC: formatting, send / edit / reply /
//! forward / pin / react / delete, keyboards and button presses.

mod support;

use fleetgram_engine::keyboard::{self, Button};
use fleetgram_engine::messages::{InputMessage, Message, PeerInfo};
use fleetgram_engine::text;
use fleetgram_tl::{enums, functions, types};
use support::*;

#[tokio::test]
async fn formatted_messages_round_trip_and_every_message_action_works() {
    let dc = start().await;
    let alice = user(&dc, "+15550010001", Some("alice_msgs")).await;
    let bob = user(&dc, "+15550010002", Some("bob_msgs")).await;
    let bob_id = bob.state().user_id.unwrap();
    let alice_id = alice.state().user_id.unwrap();
    let mut bob_updates = bob.updates().await.unwrap();
    alice.resolve_peer("@bob_msgs").await.unwrap();

    // Nested entities, an emoji (two UTF-16 units), a mention, code and a spoiler.
    let html = format!(
        "<b>Hi <i>😀 there</i></b>, <a href=\"tg://user?id={bob_id}\">Bob</a> <code>x&lt;y</code> \
         <tg-spoiler>s</tg-spoiler>\n<pre><code class=\"language-rust\">fn main() {{}}</code></pre>"
    );
    let sent = alice
        .send_message("@bob_msgs", InputMessage::html(&html).unwrap().silent(true))
        .await
        .unwrap();
    assert_eq!(sent.text(), "Hi 😀 there, Bob x<y s\nfn main() {}");
    assert!(sent.outgoing());
    assert_eq!(sent.chat_id(), bob_id);
    assert_eq!(sent.html(), html);

    let got = Message::new(bob.clone(), next_incoming(&mut bob_updates).await);
    assert_eq!(got.text(), sent.text());
    assert_eq!(got.html(), html, "the receiver sees the same entities");
    assert_eq!(got.sender_id(), Some(alice_id));
    let (t, e) = text::parse_markdown(&got.markdown()).unwrap();
    assert_eq!(
        (t.as_str(), e),
        (got.text(), text::normalized(got.entities()))
    );
    match got.sender().await.unwrap() {
        Some(PeerInfo::User(enums::User::User(u))) => assert_eq!(u.id, alice_id),
        other => panic!("{other:?}"),
    }

    // Reply in Markdown.
    let r = got
        .reply(InputMessage::markdown("**got** it").unwrap())
        .await
        .unwrap();
    assert_eq!((r.text(), r.reply_to_id()), ("got it", Some(got.id())));
    assert_eq!(r.html(), "<b>got</b> it");

    // Edit: both copies change.
    let e = sent
        .edit(InputMessage::html("<u>edited</u>").unwrap())
        .await
        .unwrap();
    assert_eq!((e.id(), e.html().as_str()), (sent.id(), "<u>edited</u>"));
    let theirs = bob.get_messages(alice_id, &[got.id()]).await.unwrap();
    assert_eq!(theirs[0].html(), "<u>edited</u>");

    // Forward to Saved Messages.
    let fwd = theirs[0].forward_to("me").await.unwrap();
    assert_eq!((fwd.text(), fwd.chat_id()), ("edited", bob_id));

    // Pin, unpin, unpin all.
    let pinned = |c: &fleetgram_engine::Client, chat: i64, id: i32| {
        let c = c.clone();
        async move {
            let m = c.get_messages(chat, &[id]).await.unwrap();
            matches!(&m[0].raw, enums::Message::Message(x) if x.pinned)
        }
    };
    sent.pin(true).await.unwrap();
    assert!(pinned(&alice, bob_id, sent.id()).await);
    assert!(pinned(&bob, alice_id, got.id()).await, "pinned for both");
    sent.unpin().await.unwrap();
    assert!(!pinned(&alice, bob_id, sent.id()).await);
    sent.pin(true).await.unwrap();
    alice.unpin_all(bob_id).await.unwrap();
    assert!(!pinned(&alice, bob_id, sent.id()).await);

    // React.
    got.react("👍").await.unwrap();
    let m = alice.get_messages(bob_id, &[sent.id()]).await.unwrap();
    let enums::Message::Message(x) = &m[0].raw else {
        panic!()
    };
    assert!(x.reactions.is_some(), "{:?}", x.reactions);

    // A mention of someone never seen is a clear error, before anything is sent.
    let err = alice
        .send_message(
            "me",
            InputMessage::html("<a href=\"tg://user?id=777\">x</a>").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot mention user 777"), "{err}");

    // Delete for everyone.
    sent.delete().await.unwrap();
    assert!(alice
        .get_messages(bob_id, &[sent.id()])
        .await
        .unwrap()
        .is_empty());
    assert!(bob
        .get_messages(alice_id, &[got.id()])
        .await
        .unwrap()
        .is_empty());
    dc.shutdown().await;
}

#[tokio::test]
async fn keyboards_are_sent_and_a_user_presses_an_inline_button() {
    let dc = start_with(fleetgram_localdc::Config {
        bot_timeout: std::time::Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    let bot = bot(&dc, "kb_test_bot").await;
    let carol = user(&dc, "+15550010003", None).await;
    let mut bot_updates = bot.updates().await.unwrap();
    let mut carol_updates = carol.updates().await.unwrap();
    carol.send_message("@kb_test_bot", "/start").await.unwrap();
    let start = Message::new(bot.clone(), next_incoming(&mut bot_updates).await);
    assert_eq!(start.text(), "/start");

    start
        .reply(
            InputMessage::text("pick").reply_markup(keyboard::inline(vec![
                vec![
                    Button::callback("Yes", b"yes"),
                    Button::callback("No", b"no"),
                ],
                vec![Button::url("Docs", "https://core.telegram.org")],
            ])),
        )
        .await
        .unwrap();
    let pick = Message::new(carol.clone(), next_incoming(&mut carol_updates).await);
    let rows = keyboard::inline_buttons(pick.reply_markup().expect("a keyboard"));
    assert_eq!(
        rows.iter()
            .map(|r| r.iter().map(|b| b.text.as_str()).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        vec![vec!["Yes", "No"], vec!["Docs"]]
    );

    // The bot answers the press it receives.
    let answering = tokio::spawn(async move {
        let (query_id, data) = next_matching(&mut bot_updates, |d| match &d.update {
            enums::Update::BotCallbackQuery(q) => Some((q.query_id, q.data.clone())),
            _ => None,
        })
        .await;
        assert_eq!(data.as_deref(), Some(&b"no"[..]));
        bot.invoke(&functions::messages::SetBotCallbackAnswer {
            alert: true,
            query_id,
            message: Some("you said no".into()),
            url: None,
            cache_time: 0,
        })
        .await
        .unwrap();
        (bot, bot_updates)
    });
    let answer = pick.click(0, 1).await.unwrap().expect("a callback button");
    assert_eq!(answer.message.as_deref(), Some("you said no"));
    assert!(answer.alert);
    assert!(pick.click(0, 5).await.is_err(), "no such button");
    assert!(pick.click(1, 0).await.unwrap().is_none(), "a URL button");
    let (bot, _) = answering.await.unwrap();

    // Reply keyboard, force reply, remove.
    let kb = keyboard::reply(vec![vec![
        Button::text("A"),
        Button::request_phone("Phone"),
    ]])
    .resize()
    .single_use()
    .placeholder("choose");
    bot.send_message(
        carol.state().user_id.unwrap(),
        InputMessage::text("reply kb").reply_markup(kb),
    )
    .await
    .unwrap();
    let m = Message::new(carol.clone(), next_incoming(&mut carol_updates).await);
    match m.reply_markup() {
        Some(enums::ReplyMarkup::ReplyKeyboardMarkup(k)) => {
            assert!(k.resize && k.single_use);
            assert_eq!(k.placeholder.as_deref(), Some("choose"));
            assert_eq!(k.rows.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    for markup in [keyboard::force_reply(Some("say")), keyboard::remove()] {
        bot.send_message(
            carol.state().user_id.unwrap(),
            InputMessage::text("markup").reply_markup(markup.clone()),
        )
        .await
        .unwrap();
        let m = Message::new(carol.clone(), next_incoming(&mut carol_updates).await);
        assert_eq!(m.reply_markup(), Some(&markup));
    }
    let _ = types::ReplyKeyboardHide::default();
    dc.shutdown().await;
}
