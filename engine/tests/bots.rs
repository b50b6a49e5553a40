//! Bot helpers and the dispatcher against the local DC: callback and inline answers,
//! commands, polls, payments; filters, middleware and a conversation kept in sled across a
//! restart.

mod support;

use fleetgram_engine::bots::{CallbackAnswer, InlineResult};
use fleetgram_engine::dispatch::{Dispatcher, Event, Filter as F, StoreFsm};
use fleetgram_engine::keyboard::{self, Button};
use fleetgram_engine::messages::{InputMessage, Message};
use fleetgram_engine::store::{SessionStore, SledStore};
use fleetgram_engine::updates::UpdateKind;
use fleetgram_engine::Client;
use fleetgram_tl::{enums, functions, types};
use std::sync::Arc;
use std::time::Duration;
use support::*;

#[tokio::test]
async fn bot_helpers_answer_queries_set_commands_and_run_polls() {
    let dc = start_with(fleetgram_localdc::Config {
        bot_timeout: Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    let bot = bot(&dc, "helpers_test_bot").await;
    let user = user(&dc, "+15550040001", None).await;
    let bot_id = bot.state().user_id.unwrap();
    let user_id = user.state().user_id.unwrap();
    let mut bot_updates = bot.updates().await.unwrap();
    let mut user_updates = user.updates().await.unwrap();

    bot.set_commands(&[("start", "Start"), ("help", "Help")])
        .await
        .unwrap();
    assert_eq!(
        bot.commands().await.unwrap(),
        vec![
            ("start".into(), "Start".into()),
            ("help".into(), "Help".into())
        ]
    );

    // A callback answered through the helper.
    user.send_message("@helpers_test_bot", "/start")
        .await
        .unwrap();
    let start = Message::new(bot.clone(), next_incoming(&mut bot_updates).await);
    start
        .reply(
            InputMessage::text("press")
                .reply_markup(keyboard::inline(vec![vec![Button::callback("A", b"a")]])),
        )
        .await
        .unwrap();
    let press = Message::new(user.clone(), next_incoming(&mut user_updates).await);
    let b2 = bot.clone();
    let answering = tokio::spawn(async move {
        let q = next_matching(&mut bot_updates, |d| match &d.update {
            enums::Update::BotCallbackQuery(q) => Some(q.query_id),
            _ => None,
        })
        .await;
        b2.answer_callback(q, CallbackAnswer::text("done").alert())
            .await
            .unwrap();
        bot_updates
    });
    let a = press.click(0, 0).await.unwrap().unwrap();
    assert_eq!((a.message.as_deref(), a.alert), (Some("done"), true));
    let mut bot_updates = answering.await.unwrap();

    // An inline query answered with two articles.
    let bot_input = match user.resolve_peer("@helpers_test_bot").await.unwrap() {
        enums::InputPeer::User(u) => types::InputUser {
            user_id: u.user_id,
            access_hash: u.access_hash,
        },
        other => panic!("{other:?}"),
    };
    let u2 = user.clone();
    let asking = tokio::spawn(async move {
        u2.invoke(&functions::messages::GetInlineBotResults {
            bot: bot_input.into(),
            peer: enums::InputPeer::InputPeerSelf,
            geo_point: None,
            query: "cats".into(),
            offset: String::new(),
        })
        .await
        .unwrap()
    });
    let (qid, query) = next_matching(&mut bot_updates, |d| match &d.update {
        enums::Update::BotInlineQuery(q) => Some((q.query_id, q.query.clone())),
        _ => None,
    })
    .await;
    assert_eq!(query, "cats");
    bot.answer_inline(
        qid,
        vec![
            InlineResult::article("1", "Tabby", "a tabby").description("striped"),
            InlineResult::article(
                "2",
                "Siamese",
                InputMessage::html("<b>a siamese</b>").unwrap(),
            ),
        ],
        0,
        None,
    )
    .await
    .unwrap();
    let enums::messages::BotResults::BotResults(r) = asking.await.unwrap();
    let titles: Vec<String> = r
        .results
        .iter()
        .filter_map(|x| match x {
            enums::BotInlineResult::BotInlineResult(x) => x.title.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(titles, vec!["Tabby", "Siamese"]);

    // A poll: the user votes, the bot hears of it.
    let poll = bot
        .send_poll(user_id, "Best pet?", &["cat", "dog"], None)
        .await
        .unwrap();
    assert!(matches!(poll.media(), Some(enums::MessageMedia::Poll(_))));
    let got = Message::new(user.clone(), next_incoming(&mut user_updates).await);
    user.vote(bot_id, got.id(), &[1]).await.unwrap();
    let options = next_matching(&mut bot_updates, |d| match &d.update {
        enums::Update::MessagePollVote(v) => Some(v.options.clone()),
        _ => None,
    })
    .await;
    assert_eq!(options, vec![vec![1u8]]);

    // Payments: shipping options, then a pre-checkout refusal.
    let q = dc
        .control()
        .inject_shipping_query(bot_id, user_id, b"order-1")
        .unwrap();
    bot.answer_shipping(
        q,
        Ok(vec![types::ShippingOption {
            id: "post".into(),
            title: "Post".into(),
            prices: vec![types::LabeledPrice {
                label: "Post".into(),
                amount: 500,
            }
            .into()],
        }]),
    )
    .await
    .unwrap();
    assert!(dc.control().payment_answered(q));
    let q = dc
        .control()
        .inject_precheckout_query(bot_id, user_id, b"order-1", "EUR", 1500)
        .unwrap();
    bot.answer_precheckout(q, Err("sold out".into()))
        .await
        .unwrap();
    assert!(dc.control().payment_answered(q));
    dc.shutdown().await;
}

/// A sign-up conversation: /start asks the name, then the age, then confirms; `/cancel`
/// ends it at any step; a middleware drops one user.
fn signup(d: &mut Dispatcher, blocked: i64) {
    d.middleware(move |e: Event| async move { e.sender_id() != Some(blocked) });
    d.on(
        UpdateKind::NewMessage,
        F::command("cancel"),
        |e| async move {
            // Every matching handler runs unless one stops the update: a conversation's
            // steps stop it, so `/cancel` or an answer is not also taken for something else.
            e.stop_propagation();
            e.fsm().finish()?;
            e.reply("cancelled").await?;
            Ok(())
        },
    );
    d.on(
        UpdateKind::NewMessage,
        F::command("start") & F::private() & F::no_state(),
        |e| async move {
            e.fsm().set("name", serde_json::json!({}))?;
            e.reply("name?").await?;
            Ok(())
        },
    );
    d.on(
        UpdateKind::NewMessage,
        F::state("name") & F::incoming(),
        |e| async move {
            e.stop_propagation();
            e.fsm()
                .set("age", serde_json::json!({ "name": e.text() }))?;
            e.reply("age?").await?;
            Ok(())
        },
    );
    d.on(
        UpdateKind::NewMessage,
        F::state("age") & F::regex(r"^\d+$").unwrap(),
        |e| async move {
            e.stop_propagation();
            let name = e.fsm().data()?["name"].as_str().unwrap_or("").to_string();
            e.fsm().finish()?;
            e.reply(format!("{name} is {}", e.text())).await?;
            Ok(())
        },
    );
    d.on(UpdateKind::NewMessage, F::state("age"), |e| async move {
        e.stop_propagation();
        e.reply("a number, please").await?;
        Ok(())
    });
    d.on(
        UpdateKind::NewMessage,
        F::text_contains("ping") & !F::has_media() & (F::private() | F::group()),
        |e| async move {
            e.reply("pong").await?;
            Ok(())
        },
    );
}

async fn expect_reply(updates: &mut fleetgram_engine::updates::UpdateStream, want: &str) {
    let m = next_incoming(updates).await;
    let enums::Message::Message(m) = m else {
        panic!()
    };
    assert_eq!(m.message, want);
}

async fn say(user: &Client, text: &str) {
    user.send_message("@fsm_test_bot", text).await.unwrap();
}

#[tokio::test]
async fn the_dispatcher_runs_a_conversation_kept_in_sled_across_a_restart() {
    let dc = start().await;
    let (_, token) = dc.control().create_bot("fsm", "fsm_test_bot", 1);
    let dir = std::env::temp_dir().join(format!("fleetgram-fsm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn SessionStore> = Arc::new(SledStore::open(&dir).unwrap());
    let bot = Client::new(config(&dc), store.clone(), "fsm").unwrap();
    bot.bot_sign_in(&token).await.unwrap();
    let user = user(&dc, "+15550040002", None).await;
    let pest = user_on(&dc, "+15550040003").await;
    let mut user_updates = user.updates().await.unwrap();

    let mut d = Dispatcher::new().with_fsm(Arc::new(StoreFsm::new(store.clone(), "fsm")));
    signup(&mut d, pest.state().user_id.unwrap());
    assert_eq!(
        d.kinds(),
        Some([UpdateKind::NewMessage].into()),
        "only messages wake it"
    );
    let d = Arc::new(d);
    let (b, dd) = (bot.clone(), d.clone());
    let running = tokio::spawn(async move { dd.run(&b).await });

    say(&user, "/start").await;
    expect_reply(&mut user_updates, "name?").await;
    say(&user, "Ada").await;
    expect_reply(&mut user_updates, "age?").await;
    say(&user, "ping").await;
    expect_reply(&mut user_updates, "a number, please").await;

    // The bot stops mid-conversation and starts again: the state was kept.
    running.abort();
    let _ = running.await;
    let (b, dd) = (bot.clone(), d.clone());
    let running = tokio::spawn(async move { dd.run(&b).await });
    say(&user, "36").await;
    expect_reply(&mut user_updates, "Ada is 36").await;
    say(&user, "ping").await;
    expect_reply(&mut user_updates, "pong").await;
    say(&user, "/start").await;
    expect_reply(&mut user_updates, "name?").await;
    say(&user, "/cancel").await;
    expect_reply(&mut user_updates, "cancelled").await;

    // The middleware drops the pest: nothing comes back.
    let mut pest_updates = pest.updates().await.unwrap();
    pest.send_message("@fsm_test_bot", "ping").await.unwrap();
    say(&user, "ping").await;
    expect_reply(&mut user_updates, "pong").await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), async {
            next_incoming(&mut pest_updates).await
        })
        .await
        .is_err(),
        "the pest got an answer"
    );
    running.abort();
    dc.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn user_on(dc: &fleetgram_localdc::LocalDc, phone: &str) -> Client {
    user(dc, phone, None).await
}

/// A TL object from its JSON form (through the dynamic codec).
fn tl<T: fleetgram_tl::Deserializable>(j: serde_json::Value) -> T {
    let schema = fleetgram_tl::dynamic::schema();
    let obj = schema.object_from_json(&j).unwrap();
    T::from_bytes(&schema.encode(&obj).unwrap()).unwrap()
}

/// A synthetic new message from `from` in chat `peer` (`out`: sent by this account).
fn synthetic(
    peer: serde_json::Value,
    from: i64,
    out: bool,
    text: &str,
    broadcast: bool,
) -> Arc<fleetgram_engine::updates::Delivered> {
    let chats: Vec<enums::Chat> = match peer["_"].as_str() {
        Some("peerChannel") => vec![tl(serde_json::json!({
            "_": "channel", "id": peer["channel_id"], "broadcast": broadcast,
            "megagroup": !broadcast, "title": "c", "photo": {"_": "chatPhotoEmpty"}, "date": 0
        }))],
        _ => vec![],
    };
    let update: enums::Update = tl(serde_json::json!({
        "_": "updateNewMessage", "pts": 0, "pts_count": 0,
        "message": {
            "_": "message", "out": out, "id": 1, "from_id": {"_": "peerUser", "user_id": from},
            "peer_id": peer, "message": text, "date": 1, "mentioned": text.contains('@')
        }
    }));
    Arc::new(fleetgram_engine::updates::Delivered::synthetic(
        update,
        vec![],
        chats,
    ))
}

#[tokio::test]
async fn every_filter_and_its_combinations_pick_the_right_updates() {
    let dc = start().await;
    let c = client(&dc, "filters");
    // The account is @bot: `/start@bot` is addressed to it.
    let event = |u| Event::new(c.clone(), u, None).username("bot");
    let private = event(synthetic(
        serde_json::json!({"_": "peerUser", "user_id": 5}),
        5,
        false,
        "/start@bot x",
        false,
    ));
    let mine = event(synthetic(
        serde_json::json!({"_": "peerUser", "user_id": 5}),
        9,
        true,
        "Hello World",
        false,
    ));
    let group = event(synthetic(
        serde_json::json!({"_": "peerChat", "chat_id": 7}),
        6,
        false,
        "order 66",
        false,
    ));
    let channel = event(synthetic(
        serde_json::json!({"_": "peerChannel", "channel_id": 8}),
        6,
        false,
        "news",
        true,
    ));
    let supergroup = event(synthetic(
        serde_json::json!({"_": "peerChannel", "channel_id": 9}),
        6,
        false,
        "chat",
        false,
    ));
    let all = [&private, &mine, &group, &channel, &supergroup];
    let pick = |f: F| -> Vec<usize> {
        all.iter()
            .enumerate()
            .filter(|(_, e)| f.matches(e))
            .map(|(i, _)| i)
            .collect()
    };
    assert_eq!(pick(F::command("start")), vec![0]);
    assert_eq!(pick(F::text_contains("world")), vec![1]);
    assert_eq!(pick(F::regex(r"\d+$").unwrap()), vec![2]);
    assert_eq!(pick(F::private()), vec![0, 1]);
    assert_eq!(pick(F::group()), vec![2, 4]);
    assert_eq!(pick(F::channel()), vec![3]);
    assert_eq!(pick(F::from_users([6])), vec![2, 3, 4]);
    assert_eq!(pick(F::chats([-7, -1_000_000_000_009])), vec![2, 4]);
    assert_eq!(pick(F::incoming()), vec![0, 2, 3, 4]);
    assert_eq!(pick(F::outgoing()), vec![1]);
    assert_eq!(pick(F::has_media()), Vec::<usize>::new());
    assert_eq!(pick(F::mentioned()), vec![0]);
    assert_eq!(pick(F::custom(|e| e.text().len() == 4)), vec![3, 4]);
    assert_eq!(
        pick(F::group() & !F::channel() & F::text_contains("66")),
        vec![2]
    );
    assert_eq!(pick(F::outgoing() | F::channel()), vec![1, 3]);
    assert_eq!(pick(!(F::private() | F::group())), vec![3]);
    // Which kinds a tree can match.
    assert_eq!(
        F::command("x").kinds(),
        Some([UpdateKind::NewMessage, UpdateKind::MessageEdited].into())
    );
    assert_eq!(
        (F::Kind(UpdateKind::CallbackQuery) & F::private()).kinds(),
        Some([UpdateKind::CallbackQuery].into())
    );
    assert_eq!(
        (F::Kind(UpdateKind::CallbackQuery) | F::private()).kinds(),
        None
    );
    assert_eq!(
        (F::Kind(UpdateKind::CallbackQuery) & F::command("x")).kinds(),
        Some(Default::default())
    );
    dc.shutdown().await;
}

#[tokio::test]
async fn a_handler_holds_a_conversation_while_other_chats_go_on() {
    use fleetgram_engine::dispatch::WaitError;
    let dc = start_with(fleetgram_localdc::Config {
        bot_timeout: Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    let bot = bot(&dc, "conv_test_bot").await;
    let ada = user(&dc, "+15550040011", None).await;
    let bob = user(&dc, "+15550040012", None).await;
    let mut ada_updates = ada.updates().await.unwrap();
    let mut bob_updates = bob.updates().await.unwrap();
    let mut d = Dispatcher::new();
    d.on(UpdateKind::NewMessage, F::command("quiz"), |e| async move {
        let mut conv = e.conversation()?;
        conv.send(
            InputMessage::text("2+2?").reply_markup(keyboard::inline(vec![vec![
                Button::callback("4", b"4"),
                Button::callback("5", b"5"),
            ]])),
        )
        .await?;
        let (query, data, _) = conv.wait_click(Duration::from_secs(10)).await?;
        e.client
            .answer_callback(query, CallbackAnswer::text("noted"))
            .await?;
        conv.send(format!("you pressed {}", String::from_utf8_lossy(&data)))
            .await?;
        conv.send("your name?").await?;
        let name = conv.get_response(Duration::from_secs(10)).await?;
        conv.send(format!("hi {}", name.text())).await?;
        match conv.get_response(Duration::from_millis(300)).await {
            Err(WaitError::Timeout(_)) => {
                conv.send("timed out").await?;
            }
            other => panic!("{other:?}"),
        }
        Ok(())
    });
    d.on(
        UpdateKind::NewMessage,
        F::text_contains("ping"),
        |e| async move {
            e.reply("pong").await?;
            Ok(())
        },
    );
    let running = tokio::spawn({
        let bot = bot.clone();
        async move { d.run(&bot).await }
    });
    ada.send_message("@conv_test_bot", "/quiz").await.unwrap();
    let q = Message::new(ada.clone(), next_incoming(&mut ada_updates).await);
    assert_eq!(q.text(), "2+2?");
    // While ada's conversation waits, bob is answered.
    bob.send_message("@conv_test_bot", "ping").await.unwrap();
    expect_reply(&mut bob_updates, "pong").await;
    let answer = q.click(0, 0).await.unwrap().unwrap();
    assert_eq!(answer.message.as_deref(), Some("noted"));
    expect_reply(&mut ada_updates, "you pressed 4").await;
    expect_reply(&mut ada_updates, "your name?").await;
    ada.send_message("@conv_test_bot", "Ada").await.unwrap();
    expect_reply(&mut ada_updates, "hi Ada").await;
    expect_reply(&mut ada_updates, "timed out").await;
    running.abort();
    dc.shutdown().await;
}

#[derive(fleetgram_engine::dispatch::FsmState, Debug, PartialEq)]
enum SignUp {
    AskName,
    AskAge { name: String },
    Confirm(String, u32),
}

#[tokio::test]
async fn derived_states_are_kept_in_sled_and_matched_by_filters() {
    use fleetgram_engine::dispatch::FsmState;
    assert_eq!(SignUp::state_names(), &["AskName", "AskAge", "Confirm"]);
    assert_eq!(SignUp::AskAge { name: "x".into() }.state_name(), "AskAge");
    let dc = start().await;
    let c = client(&dc, "fsm-derive");
    let dir = std::env::temp_dir().join(format!("fleetgram-fsm-derive-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn SessionStore> = Arc::new(SledStore::open(&dir).unwrap());
    let fsm: Arc<dyn fleetgram_engine::dispatch::FsmStorage> =
        Arc::new(StoreFsm::new(store.clone(), "bot"));
    let update = || {
        synthetic(
            serde_json::json!({"_": "peerUser", "user_id": 5}),
            5,
            false,
            "hi",
            false,
        )
    };
    let e = Event::new(c.clone(), update(), Some(fsm.clone()));
    assert_eq!(e.fsm().state::<SignUp>().unwrap(), None);
    for s in [
        SignUp::AskName,
        SignUp::AskAge { name: "Ada".into() },
        SignUp::Confirm("Ada".into(), 36),
    ] {
        e.fsm().set_state(&s).unwrap();
        // A later update in the same chat, from the same user, sees it.
        let later = Event::new(c.clone(), update(), Some(fsm.clone()));
        assert_eq!(later.fsm().state::<SignUp>().unwrap().as_ref(), Some(&s));
        assert!(F::in_state(&s).matches(&later));
        assert!(!F::no_state().matches(&later));
    }
    assert!(
        F::in_state(&SignUp::Confirm(String::new(), 0)).matches(&Event::new(
            c.clone(),
            update(),
            Some(fsm.clone())
        ))
    );
    // Kept in sled: a new storage over the same database reads it back.
    drop(e);
    let again: Arc<dyn fleetgram_engine::dispatch::FsmStorage> =
        Arc::new(StoreFsm::new(store, "bot"));
    let e = Event::new(c.clone(), update(), Some(again));
    assert_eq!(
        e.fsm().state::<SignUp>().unwrap(),
        Some(SignUp::Confirm("Ada".into(), 36))
    );
    e.fsm().finish().unwrap();
    assert_eq!(e.fsm().state::<SignUp>().unwrap(), None);
    dc.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn inline_results_page_profile_photos_iterate_and_web_views_stay_open() {
    let dc = start_with(fleetgram_localdc::Config {
        bot_timeout: Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    let bot = bot(&dc, "pages_test_bot").await;
    let user = user(&dc, "+15550040021", Some("pages_user")).await;
    let mut bot_updates = bot.updates().await.unwrap();
    // The bot answers with pages of three results, 8 in all.
    let b = bot.clone();
    let answering = tokio::spawn(async move {
        loop {
            let (id, offset) = next_matching(&mut bot_updates, |d| match &d.update {
                enums::Update::BotInlineQuery(q) => Some((q.query_id, q.offset.clone())),
                _ => None,
            })
            .await;
            let from: usize = offset.parse().unwrap_or(0);
            let results = (from..(from + 3).min(8))
                .map(|i| InlineResult::article(&i.to_string(), &format!("r{i}"), "x"))
                .collect();
            let next = (from + 3 < 8).then(|| (from + 3).to_string());
            b.answer_inline(id, results, 0, next.as_deref())
                .await
                .unwrap();
        }
    });
    let all = user
        .iter_inline_results("@pages_test_bot", "me", "q")
        .collect()
        .await
        .unwrap();
    let titles: Vec<String> = all
        .iter()
        .filter_map(|r| match r {
            enums::BotInlineResult::BotInlineResult(x) => x.title.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(titles, (0..8).map(|i| format!("r{i}")).collect::<Vec<_>>());
    answering.abort();

    // Profile photos, newest first, past one page.
    for i in 0..3u8 {
        let f = user.upload_bytes(&[i; 2000], "p.jpg").await.unwrap();
        user.upload_profile_photo(f).await.unwrap();
    }
    let photos = bot
        .iter_profile_photos("@pages_user")
        .collect()
        .await
        .unwrap();
    assert_eq!(photos.len(), 3);
    let first = match &photos[0] {
        enums::Photo::Photo(p) => p.clone(),
        other => panic!("{other:?}"),
    };
    let loc = fleetgram_engine::media::FileRef {
        location: types::InputPhotoFileLocation {
            id: first.id,
            access_hash: first.access_hash,
            file_reference: first.file_reference.clone(),
            thumb_size: "x".into(),
        }
        .into(),
        size: 2000,
        name: None,
        dc: first.dc_id,
        origin: None,
    };
    assert_eq!(
        bot.download_file(&loc).await.unwrap(),
        vec![2u8; 2000],
        "the newest first"
    );
    assert_eq!(
        bot.iter_profile_photos("@pages_user")
            .limit(2)
            .collect()
            .await
            .unwrap()
            .len(),
        2
    );

    // A mini app opened from the chat stays open while its session lives.
    let view = user
        .open_web_view_every(
            "@pages_test_bot",
            "@pages_test_bot",
            None,
            Some("s1"),
            Duration::from_millis(200),
        )
        .await
        .unwrap();
    assert!(view.url().contains("tgWebAppData="), "{}", view.url());
    assert!(view.url().contains("start_param%3Ds1"), "{}", view.url());
    let q = view.query_id().expect("a query id");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(view.prolonged() >= 2, "{}", view.prolonged());
    assert!(dc.control().web_view_prolongs(q).unwrap() >= 2);
    let n = dc.control().web_view_prolongs(q).unwrap();
    drop(view);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        dc.control().web_view_prolongs(q).unwrap() <= n + 1,
        "no prolonging after drop"
    );
    let app = user
        .open_app("@pages_test_bot", "@pages_test_bot", "shop", None)
        .await
        .unwrap();
    assert!(app
        .url()
        .starts_with("https://webapp.localdc.invalid/shop#tgWebAppData="));
    assert_eq!(app.query_id(), None);
    dc.shutdown().await;
}

#[tokio::test]
async fn a_quiet_chat_holds_nothing_and_its_next_burst_is_handled_in_order() {
    let dc = start().await;
    let bot = bot(&dc, "idle_test_bot").await;
    let user = user(&dc, "+15550040031", None).await;
    let mut user_updates = user.updates().await.unwrap();
    let mut d = Dispatcher::new();
    d.on(UpdateKind::NewMessage, F::incoming(), |e| async move {
        e.reply(format!("got {}", e.text())).await?;
        Ok(())
    });
    let running = tokio::spawn({
        let bot = bot.clone();
        async move { d.run(&bot).await }
    });
    for i in 0..4 {
        user.send_message("@idle_test_bot", format!("m{i}"))
            .await
            .unwrap();
        expect_reply(&mut user_updates, &format!("got m{i}")).await;
        // The chat goes quiet between messages (it holds no task while quiet).
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A burst right after a pause: handled in order by the new worker.
    tokio::time::sleep(Duration::from_millis(250)).await;
    for i in 0..5 {
        user.send_message("@idle_test_bot", format!("b{i}"))
            .await
            .unwrap();
    }
    for i in 0..5 {
        expect_reply(&mut user_updates, &format!("got b{i}")).await;
    }
    running.abort();
    dc.shutdown().await;
}

#[tokio::test]
async fn a_panicking_handler_is_contained_and_its_update_acknowledged() {
    let dc = start().await;
    let bot = bot(&dc, "panic_test_bot").await;
    let user = user(&dc, "+15550040041", None).await;
    let mut user_updates = user.updates().await.unwrap();
    let mut d = Dispatcher::new();
    d.on(UpdateKind::NewMessage, F::incoming(), |e| async move {
        if e.text() == "boom" {
            let empty: Vec<u8> = Vec::new();
            let _ = empty[1]; // a bug in the handler
        }
        e.reply(format!("got {}", e.text())).await?;
        Ok(())
    });
    let running = tokio::spawn({
        let bot = bot.clone();
        async move { d.run(&bot).await }
    });
    // The same chat goes on after the panic, in order.
    for text in ["a", "boom", "b", "c"] {
        user.send_message("@panic_test_bot", text).await.unwrap();
    }
    for text in ["a", "b", "c"] {
        expect_reply(&mut user_updates, &format!("got {text}")).await;
    }
    // The panicked update counts as handled: the committed state moves past it, so a
    // restarted bot does not get it again.
    running.abort();
    let mut s = bot.updates().await.unwrap();
    while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_millis(700), s.next()).await {
        let text = match d.message() {
            Some(enums::Message::Message(m)) => m.message.clone(),
            _ => String::new(),
        };
        assert!(text != "boom" && text != "a", "redelivered {text:?}");
        s.ack(&d).unwrap();
    }
    dc.shutdown().await;
}

#[tokio::test]
async fn bots_name_peers_they_met_with_access_hash_zero() {
    // `../shared/spec/api/peers.md`, "Access hash": a bot with only a min hash (or none) uses 0.
    let dc = start().await;
    let bot = bot(&dc, "zero_hash_bot").await;
    let met = user(&dc, "+15550040101", None).await;
    let stranger = user(&dc, "+15550040102", None).await;
    let mut met_updates = met.updates().await.unwrap();
    let mut bot_updates = bot.updates().await.unwrap();
    met.send_message("@zero_hash_bot", "hello").await.unwrap();
    next_incoming(&mut bot_updates).await;
    let met_id = met.state().user_id.unwrap();
    let stranger_id = stranger.state().user_id.unwrap();

    // The bot forgets the hash it was given; the id alone reaches a user it has met.
    bot.forget_peer(met_id);
    assert_eq!(
        bot.resolve_peer(&met_id.to_string()).await.unwrap(),
        types::InputPeerUser {
            user_id: met_id,
            access_hash: 0
        }
        .into()
    );
    bot.send_message(&met_id.to_string(), "zero").await.unwrap();
    let got = next_incoming(&mut met_updates).await;
    assert!(
        matches!(&got, enums::Message::Message(m) if m.message == "zero"),
        "{got:?}"
    );

    // A user it never met stays out of reach, and so does hash 0 from a user account.
    let e = bot
        .send_message(&stranger_id.to_string(), "spam")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PEER_ID_INVALID"), "{e}");
    let zero_from_user = stranger
        .invoke(&functions::users::GetFullUser {
            id: types::InputUser {
                user_id: met_id,
                access_hash: 0,
            }
            .into(),
        })
        .await
        .unwrap_err();
    assert!(
        zero_from_user.to_string().contains("USER_ID_INVALID"),
        "{zero_from_user}"
    );

    // A channel the bot was added to, named with hash 0.
    let channel = new_channel(&met, "zero hash", true).await;
    let bot_id = bot.state().user_id.unwrap();
    let bot_input = match met.resolve_peer("@zero_hash_bot").await.unwrap() {
        enums::InputPeer::User(u) => types::InputUser {
            user_id: u.user_id,
            access_hash: u.access_hash,
        },
        other => panic!("{other:?}"),
    };
    assert_eq!(bot_input.user_id, bot_id);
    met.invoke(&functions::channels::InviteToChannel {
        channel: channel.clone().into(),
        users: vec![bot_input.into()],
    })
    .await
    .unwrap();
    let marked = fleetgram_engine::peers::marked(
        fleetgram_engine::peers::PeerKind::Channel,
        channel.channel_id,
    );
    bot.forget_peer(marked);
    bot.send_message(&marked.to_string(), "in the group")
        .await
        .unwrap();
    // A channel it is not in: refused.
    let other = new_channel(&stranger, "not met", true).await;
    let other_marked = fleetgram_engine::peers::marked(
        fleetgram_engine::peers::PeerKind::Channel,
        other.channel_id,
    );
    let e = bot
        .send_message(&other_marked.to_string(), "spam")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("CHANNEL_INVALID") || e.to_string().contains("PEER_ID_INVALID"),
        "{e}"
    );
    dc.shutdown().await;
}
