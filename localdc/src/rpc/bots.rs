//! Bot interactions that wait for the bot: a user presses an inline callback button
//! (`messages.getBotCallbackAnswer`), the bot gets `updateBotCallbackQuery`, and what it
//! passes to `messages.setBotCallbackAnswer` is the user's answer (`BOT_RESPONSE_TIMEOUT`
//! when it says nothing in time).

use super::{ok, require_user, Ctx, RpcErr, RpcResult};
use crate::state::{channel_box, State, StoredMessage};
use fleetgram_tl::{enums, functions, types, Serializable};
use rand::Rng;

/// Whether `m` has an inline callback button with `data`.
fn has_callback(m: &StoredMessage, data: &[u8]) -> bool {
    let Some(enums::ReplyMarkup::ReplyInlineMarkup(k)) = &m.reply_markup else {
        return false;
    };
    k.rows.iter().any(|r| {
        let enums::KeyboardInlineButtonRow::KeyboardInlineButtonRow(r) = r;
        r.buttons.iter().any(|b| {
            let enums::KeyboardInlineButton::KeyboardInlineButton(b) = b;
            matches!(&b.r#type, enums::InlineButtonType::Callback(c) if c.data == data)
        })
    })
}

/// Where the pressed message is: the message as `me` has it, the bot's copy id and the chat
/// as the bot sees it.
fn locate(
    state: &State,
    me: i64,
    peer: &enums::InputPeer,
    msg_id: i32,
) -> Result<(StoredMessage, i32, enums::Peer, Option<i64>), RpcErr> {
    if let Some(ch) = super::channels::resolve_peer(state, me, peer)? {
        let m = state
            .boxes
            .get(&channel_box(ch))
            .and_then(|b| b.messages.get(&msg_id))
            .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
        let peer = types::PeerChannel { channel_id: ch }.into();
        return Ok((m.clone(), msg_id, peer, Some(ch)));
    }
    let m = state
        .boxes
        .get(&me)
        .and_then(|b| b.messages.get(&msg_id))
        .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?
        .clone();
    match (peer, m.chat) {
        (enums::InputPeer::Chat(c), Some((chat, gid))) if c.chat_id == chat => {
            let bot_copy = state
                .group_copies
                .get(&gid)
                .and_then(|v| v.iter().find(|(u, _)| *u == m.from))
                .map(|(_, id)| *id)
                .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
            Ok((m, bot_copy, types::PeerChat { chat_id: chat }.into(), None))
        }
        (enums::InputPeer::Chat(_), _) => Err(RpcErr::bad_request("MESSAGE_ID_INVALID")),
        (p, None) => {
            let other = super::messages::resolve_user(state, me, p)?;
            if m.peer != other {
                return Err(RpcErr::bad_request("MESSAGE_ID_INVALID"));
            }
            let twin = m
                .twin
                .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
            Ok((m, twin, types::PeerUser { user_id: me }.into(), None))
        }
        _ => Err(RpcErr::bad_request("MESSAGE_ID_INVALID")),
    }
}

/// `messages.getBotCallbackAnswer`: asks the bot and answers with what it says.
pub(crate) fn get_bot_callback_answer(
    ctx: &Ctx<'_>,
    req: functions::messages::GetBotCallbackAnswer,
) -> RpcResult {
    let me = require_user(ctx)?;
    let rx = {
        let mut state = ctx.shared.state.lock().expect("not poisoned");
        if state.users.get(&me).is_some_and(|u| u.bot) {
            return Err(RpcErr::bad_request("USER_BOT_REQUIRED"));
        }
        let (m, bot_msg, bot_peer, channel) = locate(&state, me, &req.peer, req.msg_id)?;
        let bot = m.from;
        if !state.users.get(&bot).is_some_and(|u| u.bot) {
            return Err(RpcErr::bad_request("DATA_INVALID"));
        }
        let data = req.data.clone().unwrap_or_default();
        if !has_callback(&m, &data) {
            return Err(RpcErr::bad_request("DATA_INVALID"));
        }
        let query_id: i64 = state.rng.gen();
        // One chat_instance per chat and user, stable across presses.
        let chat_key = match &bot_peer {
            enums::Peer::User(u) => u.user_id,
            enums::Peer::Chat(c) => -c.chat_id,
            enums::Peer::Channel(c) => channel_box(c.channel_id),
        };
        let chat_instance = state.access_hash(me, chat_key);
        let update: enums::Update = types::UpdateBotCallbackQuery {
            query_id,
            user_id: me,
            peer: bot_peer,
            msg_id: bot_msg,
            chat_instance,
            data: req.data,
            game_short_name: None,
        }
        .into();
        let now = super::now();
        let chats = match channel {
            Some(ch) => vec![super::channels::channel_tl(&state, bot, ch)],
            None => m
                .chat
                .map(|(c, _)| vec![state.chat_tl(bot, c)])
                .unwrap_or_default(),
        };
        ctx.push(
            bot,
            &enums::Updates::from(types::Updates {
                updates: vec![update],
                users: vec![state.user_tl(bot, me, now)],
                chats,
                date: now,
                seq: 0,
            }),
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut queries = ctx.shared.bot_queries.lock().expect("not poisoned");
        // Queries whose user stopped waiting are forgotten.
        queries.retain(|_, (_, tx)| !tx.is_closed());
        queries.insert(query_id, (bot, tx));
        rx
    };
    let timeout = ctx.shared.bot_timeout;
    *ctx.deferred.borrow_mut() = Some(Box::pin(async move {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(body)) => Ok(body),
            _ => Err(RpcErr::bad_request("BOT_RESPONSE_TIMEOUT")),
        }
    }));
    Ok(Vec::new())
}

/// `messages.setBotCallbackAnswer`: the bot's answer to a query it received.
pub(crate) fn set_bot_callback_answer(
    ctx: &Ctx<'_>,
    req: functions::messages::SetBotCallbackAnswer,
) -> RpcResult {
    let me = require_user(ctx)?;
    if req
        .message
        .as_ref()
        .is_some_and(|m| m.chars().count() > 200)
    {
        return Err(RpcErr::bad_request("MESSAGE_TOO_LONG"));
    }
    let mut queries = ctx.shared.bot_queries.lock().expect("not poisoned");
    match queries.get(&req.query_id) {
        Some((bot, _)) if *bot == me => {}
        _ => return Err(RpcErr::bad_request("QUERY_ID_INVALID")),
    }
    let (_, tx) = queries.remove(&req.query_id).expect("checked");
    let answer = enums::messages::BotCallbackAnswer::from(types::messages::BotCallbackAnswer {
        alert: req.alert,
        has_url: req.url.is_some(),
        native_ui: false,
        message: req.message,
        url: req.url,
        cache_time: req.cache_time,
    });
    // The user may have given up waiting; the bot's call still succeeds.
    let _ = tx.send(answer.to_bytes());
    ok(true)
}
