//! Bot interactions through the local DC: inline keyboards kept with messages, a user
//! pressing a callback button, the bot's answer reaching the user, and the timeout.

mod support;

use fleetgram_localdc::{Config, LocalDc};
use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use fleetgram_protocol::transport::Kind;
use fleetgram_tl::{enums, functions, types};
use rand::RngCore;
use support::accounts::{login, next_update, send_defaults};
use support::Client;

fn keyboard(buttons: &[(&str, &[u8])]) -> enums::ReplyMarkup {
    types::ReplyInlineMarkup {
        force_reply: false,
        rows: vec![types::KeyboardInlineButtonRow {
            buttons: buttons
                .iter()
                .map(|(text, data)| {
                    types::KeyboardInlineButton {
                        style: None,
                        text: (*text).into(),
                        r#type: types::InlineButtonTypeCallback {
                            requires_password: false,
                            data: data.to_vec(),
                        }
                        .into(),
                    }
                    .into()
                })
                .collect(),
        }
        .into()],
    }
    .into()
}

async fn bot_client(dc: &LocalDc, key: &RsaPublicKey, token: &str) -> Client {
    let mut bot = Client::connect(dc.info().dcs[0].addr, 1, key, Kind::Abridged, false, None).await;
    bot.invoke(&functions::auth::ImportBotAuthorization {
        flags: 0,
        api_id: 1,
        api_hash: "x".into(),
        bot_auth_token: token.into(),
    })
    .await
    .unwrap();
    bot
}

/// The bot's next callback query.
async fn next_query(bot: &mut Client) -> types::UpdateBotCallbackQuery {
    loop {
        if let enums::Updates::Updates(u) = next_update(bot).await {
            for x in u.updates {
                if let enums::Update::BotCallbackQuery(q) = x {
                    return *q;
                }
            }
        }
    }
}

#[tokio::test]
async fn callback_button_press_reaches_the_bot_and_its_answer_the_user() {
    let key = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    let dc = LocalDc::start(Config {
        rsa_key: Some(key),
        login_code: Some("12345".into()),
        bot_timeout: std::time::Duration::from_millis(300),
        ..Config::default()
    })
    .await
    .unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    let control = dc.control();
    let (_, token) = control.create_bot("Buttons", "buttons_local_bot", 1);
    let mut bot = bot_client(&dc, &key, &token).await;
    let mut user = login(&dc, &control, &key, "15557000001").await;

    // The user writes to the bot; the bot learns the user from the push and replies with a keyboard.
    let enums::contacts::ResolvedPeer::ResolvedPeer(r) = user
        .invoke(&functions::contacts::ResolveUsername {
            username: "buttons_local_bot".into(),
            referer: None,
        })
        .await
        .unwrap();
    let enums::User::User(b) = &r.users[0] else {
        panic!()
    };
    let to_bot: enums::InputPeer = types::InputPeerUser {
        user_id: b.id,
        access_hash: b.access_hash.unwrap(),
    }
    .into();
    user.invoke(&functions::messages::SendMessage {
        peer: to_bot.clone(),
        message: "/start".into(),
        random_id: 1,
        ..send_defaults()
    })
    .await
    .unwrap();
    let enums::Updates::UpdateShortMessage(first) = next_update(&mut bot).await else {
        panic!("a short message")
    };
    let enums::users::UserFull::UserFull(full) = bot
        .invoke(&functions::users::GetFullUser {
            id: types::InputUserFromMessage {
                peer: types::InputPeerUserFromMessage {
                    peer: enums::InputPeer::InputPeerSelf,
                    msg_id: first.id,
                    user_id: first.user_id,
                }
                .into(),
                msg_id: first.id,
                user_id: first.user_id,
            }
            .into(),
        })
        .await
        .unwrap();
    let enums::User::User(u) = &full.users[0] else {
        panic!()
    };
    let to_user: enums::InputPeer = types::InputPeerUser {
        user_id: u.id,
        access_hash: u.access_hash.unwrap(),
    }
    .into();
    bot.invoke(&functions::messages::SendMessage {
        peer: to_user,
        message: "pick one".into(),
        random_id: 2,
        reply_markup: Some(keyboard(&[("Yes", b"yes"), ("No", b"no")])),
        ..send_defaults()
    })
    .await
    .unwrap();
    // The user's copy carries the keyboard (a full update, not a short one).
    let msg_id = loop {
        if let enums::Updates::Updates(u) = next_update(&mut user).await {
            if let Some(enums::Update::NewMessage(m)) = u.updates.first() {
                let enums::Message::Message(m) = &m.message else {
                    panic!()
                };
                assert!(m.reply_markup.is_some());
                break m.id;
            }
        }
    };

    // Press "yes": the bot gets the query and answers; the user gets the answer.
    let press = |data: &[u8]| functions::messages::GetBotCallbackAnswer {
        game: false,
        peer: to_bot.clone(),
        msg_id,
        data: Some(data.to_vec()),
        password: None,
    };
    let yes = press(b"yes");
    let (answer, ()) = tokio::join!(user.invoke(&yes), async {
        let q = next_query(&mut bot).await;
        assert_eq!(q.data.as_deref(), Some(&b"yes"[..]));
        assert!(matches!(q.peer, enums::Peer::User(_)));
        bot.invoke(&functions::messages::SetBotCallbackAnswer {
            alert: true,
            query_id: q.query_id,
            message: Some("you said yes".into()),
            url: None,
            cache_time: 0,
        })
        .await
        .unwrap();
        // A second answer to the same query is refused.
        assert_eq!(
            bot.invoke(&functions::messages::SetBotCallbackAnswer {
                alert: false,
                query_id: q.query_id,
                message: None,
                url: None,
                cache_time: 0,
            })
            .await
            .unwrap_err()
            .name,
            "QUERY_ID_INVALID"
        );
    });
    let enums::messages::BotCallbackAnswer::BotCallbackAnswer(answer) = answer.unwrap();
    assert!(answer.alert);
    assert_eq!(answer.message.as_deref(), Some("you said yes"));

    // Data no button has, and a message with no keyboard, are refused.
    assert_eq!(
        user.invoke(&press(b"maybe")).await.unwrap_err().name,
        "DATA_INVALID"
    );
    assert_eq!(
        user.invoke(&functions::messages::GetBotCallbackAnswer {
            msg_id: 999,
            ..press(b"yes")
        })
        .await
        .unwrap_err()
        .name,
        "MESSAGE_ID_INVALID"
    );
    // A bot that does not answer: the user gets BOT_RESPONSE_TIMEOUT.
    let no = press(b"no");
    let (late, q) = tokio::join!(user.invoke(&no), next_query(&mut bot));
    assert_eq!(late.unwrap_err().name, "BOT_RESPONSE_TIMEOUT");
    // Answering after the user gave up is harmless.
    let _ = bot
        .invoke(&functions::messages::SetBotCallbackAnswer {
            alert: false,
            query_id: q.query_id,
            message: None,
            url: None,
            cache_time: 0,
        })
        .await;
    drop(dc);
}

fn twe(t: &str) -> enums::TextWithEntities {
    types::TextWithEntities {
        text: t.into(),
        entities: vec![],
    }
    .into()
}

/// Waits for a pushed update matching `f`.
async fn wait_for<T>(c: &mut Client, mut f: impl FnMut(&enums::Update) -> Option<T>) -> T {
    loop {
        let list = match next_update(c).await {
            enums::Updates::Updates(u) => u.updates,
            enums::Updates::Combined(u) => u.updates,
            _ => vec![],
        };
        for u in &list {
            if let Some(v) = f(u) {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn polls_votes_and_reactions_reach_the_chat_and_the_bot() {
    let key = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    let dc = LocalDc::start(Config {
        rsa_key: Some(key),
        login_code: Some("12345".into()),
        ..Config::default()
    })
    .await
    .unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    let control = dc.control();
    let (_, token) = control.create_bot("Polls", "polls_local_bot", 1);
    let mut bot = bot_client(&dc, &key, &token).await;
    let mut user = login(&dc, &control, &key, "15557100001").await;
    let enums::contacts::ResolvedPeer::ResolvedPeer(r) = user
        .invoke(&functions::contacts::ResolveUsername {
            username: "polls_local_bot".into(),
            referer: None,
        })
        .await
        .unwrap();
    let enums::User::User(b) = &r.users[0] else {
        panic!()
    };
    let to_bot: enums::InputPeer = types::InputPeerUser {
        user_id: b.id,
        access_hash: b.access_hash.unwrap(),
    }
    .into();
    user.invoke(&functions::messages::SendMessage {
        peer: to_bot.clone(),
        message: "poll please".into(),
        random_id: 1,
        ..send_defaults()
    })
    .await
    .unwrap();
    let enums::Updates::UpdateShortMessage(first) = next_update(&mut bot).await else {
        panic!()
    };
    let to_user: enums::InputPeer = types::InputPeerUserFromMessage {
        peer: enums::InputPeer::InputPeerSelf,
        msg_id: first.id,
        user_id: first.user_id,
    }
    .into();
    // The bot sends a poll (answers created with inputPollAnswer get options "0", "1").
    let poll = types::Poll {
        id: 0,
        closed: false,
        public_voters: false,
        multiple_choice: false,
        quiz: false,
        open_answers: false,
        revoting_disabled: false,
        shuffle_answers: false,
        hide_results_until_close: false,
        creator: false,
        subscribers_only: false,
        question: twe("Tea or coffee?"),
        answers: vec![
            types::InputPollAnswer {
                text: twe("tea"),
                media: None,
            }
            .into(),
            types::InputPollAnswer {
                text: twe("coffee"),
                media: None,
            }
            .into(),
        ],
        close_period: None,
        close_date: None,
        hash: 0,
        countries_iso2: None,
    };
    let sent = bot
        .invoke(&functions::messages::SendMedia {
            silent: false,
            background: false,
            clear_draft: false,
            noforwards: false,
            update_stickersets_order: false,
            invert_media: false,
            allow_paid_floodskip: false,
            peer: to_user,
            reply_to: None,
            media: types::InputMediaPoll {
                poll: poll.into(),
                correct_answers: None,
                attached_media: None,
                solution: None,
                solution_entities: None,
                solution_media: None,
            }
            .into(),
            message: String::new(),
            random_id: 2,
            reply_markup: None,
            entities: None,
            schedule_date: None,
            schedule_repeat_period: None,
            send_as: None,
            quick_reply_shortcut: None,
            effect: None,
            allow_paid_stars: None,
            suggested_post: None,
        })
        .await
        .unwrap();
    assert!(matches!(sent, enums::Updates::UpdateShortSentMessage(ref m) if m.media.is_some()));
    let poll_msg = wait_for(&mut user, |u| match u {
        enums::Update::NewMessage(m) => match &m.message {
            enums::Message::Message(x) if matches!(x.media, Some(enums::MessageMedia::Poll(_))) => {
                Some(x.id)
            }
            _ => None,
        },
        _ => None,
    })
    .await;
    // Voting: the voter's answer has the new results, the bot hears the vote.
    let vote = |options: Vec<Vec<u8>>| functions::messages::SendVote {
        peer: to_bot.clone(),
        msg_id: poll_msg,
        options,
    };
    assert_eq!(
        user.invoke(&vote(vec![b"9".to_vec()]))
            .await
            .unwrap_err()
            .name,
        "OPTION_INVALID"
    );
    assert_eq!(
        user.invoke(&vote(vec![b"0".to_vec(), b"1".to_vec()]))
            .await
            .unwrap_err()
            .name,
        "OPTIONS_TOO_MUCH"
    );
    let answer = user.invoke(&vote(vec![b"0".to_vec()])).await.unwrap();
    let enums::Updates::Updates(answer) = answer else {
        panic!()
    };
    let enums::Update::MessagePoll(mp) = &answer.updates[0] else {
        panic!()
    };
    let enums::PollResults::PollResults(res) = &mp.results;
    assert_eq!(res.total_voters, Some(1));
    let voted = wait_for(&mut bot, |u| match u {
        enums::Update::MessagePollVote(v) => Some(v.options.clone()),
        _ => None,
    })
    .await;
    assert_eq!(voted, vec![b"0".to_vec()]);

    // Reactions: one at a time; the bot hears who reacted how.
    let react = |emoji: &[&str]| functions::messages::SendReaction {
        big: false,
        add_to_recent: false,
        peer: to_bot.clone(),
        msg_id: poll_msg,
        reaction: Some(
            emoji
                .iter()
                .map(|e| {
                    types::ReactionEmoji {
                        emoticon: (*e).into(),
                    }
                    .into()
                })
                .collect(),
        ),
    };
    assert_eq!(
        user.invoke(&react(&["👍", "🔥"])).await.unwrap_err().name,
        "REACTIONS_TOO_MANY"
    );
    user.invoke(&react(&["👍"])).await.unwrap();
    let (new, count) = wait_for(&mut bot, |u| match u {
        enums::Update::BotMessageReaction(r) => Some((r.new_reactions.clone(), 0)),
        _ => None,
    })
    .await;
    assert_eq!(count, 0);
    assert!(matches!(&new[0], enums::Reaction::Emoji(e) if e.emoticon == "👍"));
    drop(dc);
}

#[tokio::test]
async fn inline_queries_commands_payments_blocking_and_scheduled_history() {
    let key = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    let dc = LocalDc::start(Config {
        rsa_key: Some(key),
        login_code: Some("12345".into()),
        ..Config::default()
    })
    .await
    .unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    let control = dc.control();
    let (bot_id, token) = control.create_bot("Inline", "inline_local_bot", 1);
    let mut bot = bot_client(&dc, &key, &token).await;
    let mut user = login(&dc, &control, &key, "15557200001").await;
    let user_id = control.user_by_phone("15557200001").unwrap();
    let enums::contacts::ResolvedPeer::ResolvedPeer(r) = user
        .invoke(&functions::contacts::ResolveUsername {
            username: "inline_local_bot".into(),
            referer: None,
        })
        .await
        .unwrap();
    let enums::User::User(b) = &r.users[0] else {
        panic!()
    };
    let bot_user: enums::InputUser = types::InputUser {
        user_id: b.id,
        access_hash: b.access_hash.unwrap(),
    }
    .into();
    let to_bot: enums::InputPeer = types::InputPeerUser {
        user_id: b.id,
        access_hash: b.access_hash.unwrap(),
    }
    .into();

    // Inline mode: the query reaches the bot, its results reach the user, the chosen one is
    // sent and the bot hears which.
    let ask = functions::messages::GetInlineBotResults {
        bot: bot_user.clone(),
        peer: enums::InputPeer::InputPeerSelf,
        geo_point: None,
        query: "weather".into(),
        offset: String::new(),
    };
    let (results, ()) = tokio::join!(user.invoke(&ask), async {
        let q = wait_for(&mut bot, |u| match u {
            enums::Update::BotInlineQuery(q) => Some((**q).clone()),
            _ => None,
        })
        .await;
        assert_eq!(q.query, "weather");
        bot.invoke(&functions::messages::SetInlineBotResults {
            gallery: false,
            private: false,
            query_id: q.query_id,
            results: vec![types::InputBotInlineResult {
                id: "sunny".into(),
                r#type: "article".into(),
                title: Some("Sunny".into()),
                description: None,
                url: None,
                thumb: None,
                content: None,
                send_message: types::InputBotInlineMessageText {
                    no_webpage: true,
                    invert_media: false,
                    message: "It is sunny".into(),
                    entities: None,
                    reply_markup: None,
                }
                .into(),
            }
            .into()],
            cache_time: 0,
            next_offset: None,
            switch_pm: None,
            switch_webview: None,
        })
        .await
        .unwrap();
    });
    let enums::messages::BotResults::BotResults(results) = results.unwrap();
    assert_eq!(results.results.len(), 1);
    user.invoke(&functions::messages::SendInlineBotResult {
        silent: false,
        background: false,
        clear_draft: false,
        hide_via: false,
        peer: enums::InputPeer::InputPeerSelf,
        reply_to: None,
        random_id: 77,
        query_id: results.query_id,
        id: "sunny".into(),
        schedule_date: None,
        send_as: None,
        quick_reply_shortcut: None,
        allow_paid_stars: None,
    })
    .await
    .unwrap();
    let chosen = wait_for(&mut bot, |u| match u {
        enums::Update::BotInlineSend(s) => Some(s.id.clone()),
        _ => None,
    })
    .await;
    assert_eq!(chosen, "sunny");

    // Commands are kept and read back; bad ones are refused.
    let cmd = |c: &str| {
        enums::BotCommand::from(types::BotCommand {
            ephemeral: false,
            command: c.into(),
            description: "does things".into(),
        })
    };
    bot.invoke(&functions::bots::SetBotCommands {
        scope: enums::BotCommandScope::Default,
        lang_code: String::new(),
        commands: vec![cmd("start"), cmd("help")],
    })
    .await
    .unwrap();
    let got = bot
        .invoke(&functions::bots::GetBotCommands {
            scope: enums::BotCommandScope::Default,
            lang_code: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        bot.invoke(&functions::bots::SetBotCommands {
            scope: enums::BotCommandScope::Default,
            lang_code: String::new(),
            commands: vec![cmd("Bad Command")],
        })
        .await
        .unwrap_err()
        .name,
        "BOT_COMMAND_INVALID"
    );

    // Payments come through the control API; the bot's answers are accepted.
    let q = control
        .inject_precheckout_query(bot_id, user_id, b"order-1", "EUR", 500)
        .unwrap();
    let seen = wait_for(&mut bot, |u| match u {
        enums::Update::BotPrecheckoutQuery(p) => Some(p.query_id),
        _ => None,
    })
    .await;
    assert_eq!(seen, q);
    bot.invoke(&functions::messages::SetBotPrecheckoutResults {
        success: true,
        query_id: q,
        error: None,
    })
    .await
    .unwrap();
    assert!(control.payment_answered(q));
    assert_eq!(
        bot.invoke(&functions::messages::SetBotPrecheckoutResults {
            success: true,
            query_id: q,
            error: None,
        })
        .await
        .unwrap_err()
        .name,
        "QUERY_ID_INVALID"
    );
    let s = control
        .inject_shipping_query(bot_id, user_id, b"order-2")
        .unwrap();
    wait_for(&mut bot, |u| match u {
        enums::Update::BotShippingQuery(p) if p.query_id == s => Some(()),
        _ => None,
    })
    .await;

    // Blocking the bot stops it.
    user.invoke(&functions::contacts::Block {
        my_stories_from: false,
        id: to_bot.clone(),
    })
    .await
    .unwrap();
    let stopped = wait_for(&mut bot, |u| match u {
        enums::Update::BotStopped(s) => Some((s.user_id, s.stopped)),
        _ => None,
    })
    .await;
    assert_eq!(stopped, (user_id, true));

    // Scheduled messages are listed until they are sent.
    let at = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600) as i32;
    user.invoke(&functions::messages::SendMessage {
        peer: enums::InputPeer::InputPeerSelf,
        message: "later".into(),
        random_id: 5,
        schedule_date: Some(at),
        ..send_defaults()
    })
    .await
    .unwrap();
    let enums::messages::Messages::Messages(h) = user
        .invoke(&functions::messages::GetScheduledHistory {
            peer: enums::InputPeer::InputPeerSelf,
            hash: 0,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(h.messages.len(), 1);
    assert!(
        matches!(&h.messages[0], enums::Message::Message(m) if m.message == "later" && m.date == at)
    );
    drop(dc);
}
