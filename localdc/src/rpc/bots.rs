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

pub(crate) use crate::state::InlineAnswer;

/// `messages.getInlineBotResults`: asks the bot and answers with what it gives.
pub(crate) fn get_inline_bot_results(
    ctx: &Ctx<'_>,
    req: functions::messages::GetInlineBotResults,
) -> RpcResult {
    let me = require_user(ctx)?;
    let rx = {
        let mut state = ctx.shared.state.lock().expect("not poisoned");
        let bot = super::channels::user_from_input(&state, me, &req.bot)?;
        if !state.users.get(&bot).is_some_and(|u| u.bot) {
            return Err(RpcErr::bad_request("BOT_INLINE_DISABLED"));
        }
        if req.query.chars().count() > 256 {
            return Err(RpcErr::bad_request("QUERY_TOO_LONG"));
        }
        let peer_type: enums::InlineQueryPeerType = match &req.peer {
            enums::InputPeer::InputPeerSelf => enums::InlineQueryPeerType::SameBotPM,
            enums::InputPeer::Chat(_) => enums::InlineQueryPeerType::Chat,
            p => match super::channels::resolve_peer(&state, me, p) {
                Ok(Some(ch)) if state.channels[&ch].megagroup => {
                    enums::InlineQueryPeerType::Megagroup
                }
                Ok(Some(_)) => enums::InlineQueryPeerType::Broadcast,
                _ => enums::InlineQueryPeerType::PM,
            },
        };
        let query_id: i64 = state.rng.gen();
        let now = super::now();
        ctx.push(
            bot,
            &enums::Updates::from(types::Updates {
                updates: vec![types::UpdateBotInlineQuery {
                    query_id,
                    user_id: me,
                    query: req.query.clone(),
                    geo: None,
                    peer_type: Some(peer_type),
                    offset: req.offset.clone(),
                }
                .into()],
                users: vec![state.user_tl(bot, me, now)],
                chats: vec![],
                date: now,
                seq: 0,
            }),
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut queries = ctx.shared.bot_queries.lock().expect("not poisoned");
        queries.retain(|_, (_, tx)| !tx.is_closed());
        queries.insert(query_id, (bot, tx));
        state.inline.insert(
            query_id,
            InlineAnswer {
                bot,
                user: me,
                query: req.query,
                results: vec![],
                at: now,
            },
        );
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

/// `messages.setInlineBotResults`: the bot's answer to an inline query.
pub(crate) fn set_inline_bot_results(
    ctx: &Ctx<'_>,
    req: functions::messages::SetInlineBotResults,
) -> RpcResult {
    let me = require_user(ctx)?;
    if req.results.len() > 50 {
        return Err(RpcErr::bad_request("RESULTS_TOO_MUCH"));
    }
    let mut plain = Vec::new();
    let mut results = Vec::new();
    for r in &req.results {
        let enums::InputBotInlineResult::InputBotInlineResult(r) = r else {
            return Err(RpcErr::bad_request("RESULT_TYPE_INVALID"));
        };
        let enums::InputBotInlineMessage::Text(t) = &r.send_message else {
            return Err(RpcErr::bad_request("SEND_MESSAGE_TYPE_INVALID"));
        };
        if r.id.is_empty()
            || r.id.len() > 64
            || plain
                .iter()
                .any(|p: &types::InputBotInlineResult| p.id == r.id)
        {
            return Err(RpcErr::bad_request("RESULT_ID_DUPLICATE"));
        }
        results.push(
            types::BotInlineResult {
                id: r.id.clone(),
                r#type: r.r#type.clone(),
                title: r.title.clone(),
                description: r.description.clone(),
                url: r.url.clone(),
                thumb: None,
                content: None,
                send_message: types::BotInlineMessageText {
                    no_webpage: t.no_webpage,
                    invert_media: t.invert_media,
                    message: t.message.clone(),
                    entities: t.entities.clone(),
                    reply_markup: t.reply_markup.clone(),
                }
                .into(),
            }
            .into(),
        );
        plain.push((**r).clone());
    }
    let mut queries = ctx.shared.bot_queries.lock().expect("not poisoned");
    match queries.get(&req.query_id) {
        Some((bot, _)) if *bot == me => {}
        _ => return Err(RpcErr::bad_request("QUERY_ID_INVALID")),
    }
    let (_, tx) = queries.remove(&req.query_id).expect("checked");
    drop(queries);
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    if let Some(a) = state.inline.get_mut(&req.query_id) {
        a.results = plain;
    }
    let answer = enums::messages::BotResults::from(types::messages::BotResults {
        gallery: req.gallery,
        query_id: req.query_id,
        next_offset: req.next_offset,
        switch_pm: None,
        switch_webview: None,
        results,
        cache_time: req.cache_time,
        users: vec![],
    });
    let _ = tx.send(answer.to_bytes());
    ok(true)
}

/// `messages.sendInlineBotResult`: sends one of a bot's answers; the bot hears which.
pub(crate) fn send_inline_bot_result(
    ctx: &Ctx<'_>,
    req: functions::messages::SendInlineBotResult,
) -> RpcResult {
    let me = require_user(ctx)?;
    let (answer, result) = {
        let mut state = ctx.shared.state.lock().expect("not poisoned");
        let now = super::now();
        state.inline.retain(|_, a| now - a.at < 3600);
        let a = state
            .inline
            .get(&req.query_id)
            .filter(|a| a.user == me)
            .cloned()
            .ok_or_else(|| RpcErr::bad_request("QUERY_ID_EMPTY"))?;
        let r = a
            .results
            .iter()
            .find(|r| r.id == req.id)
            .cloned()
            .ok_or_else(|| RpcErr::bad_request("RESULT_ID_INVALID"))?;
        (a, r)
    };
    let enums::InputBotInlineMessage::Text(t) = &result.send_message else {
        return Err(RpcErr::bad_request("RESULT_ID_INVALID"));
    };
    let send = functions::messages::SendMessage {
        peer: req.peer,
        reply_to: req.reply_to,
        message: t.message.clone(),
        random_id: req.random_id,
        entities: t.entities.clone(),
        silent: req.silent,
        ..super::messages::send_defaults()
    };
    let out = super::messages::send_message(ctx, send)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let now = super::now();
    ctx.push(
        answer.bot,
        &enums::Updates::from(types::Updates {
            updates: vec![types::UpdateBotInlineSend {
                user_id: me,
                query: answer.query,
                geo: None,
                id: req.id,
                msg_id: None,
            }
            .into()],
            users: vec![state.user_tl(answer.bot, me, now)],
            chats: vec![],
            date: now,
            seq: 0,
        }),
    );
    Ok(out)
}

/// `bots.setBotCommands` (kept; `bots.getBotCommands` reads them back).
pub(crate) fn set_bot_commands(ctx: &Ctx<'_>, req: functions::bots::SetBotCommands) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    if !state.users.get(&me).is_some_and(|u| u.bot) {
        return Err(RpcErr::bad_request("USER_BOT_REQUIRED"));
    }
    for c in &req.commands {
        let enums::BotCommand::BotCommand(c) = c;
        let ok = !c.command.is_empty()
            && c.command.len() <= 32
            && c.command
                .chars()
                .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '_');
        if !ok {
            return Err(RpcErr::bad_request("BOT_COMMAND_INVALID"));
        }
        if c.description.is_empty() || c.description.chars().count() > 256 {
            return Err(RpcErr::bad_request("BOT_COMMAND_DESCRIPTION_INVALID"));
        }
    }
    state.bot_commands.insert(me, req.commands);
    ok(true)
}

/// `bots.getBotCommands`.
pub(crate) fn get_bot_commands(ctx: &Ctx<'_>, _: functions::bots::GetBotCommands) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    ok(state.bot_commands.get(&me).cloned().unwrap_or_default())
}

/// `messages.setBotShippingResults` / `setBotPrecheckoutResults`: the bot's answers to the
/// payment queries the control API injected.
pub(crate) fn set_bot_shipping_results(
    ctx: &Ctx<'_>,
    req: functions::messages::SetBotShippingResults,
) -> RpcResult {
    answer_payment(
        ctx,
        req.query_id,
        req.error.is_none() && req.shipping_options.is_none(),
    )
}

/// `messages.setBotPrecheckoutResults`.
pub(crate) fn set_bot_precheckout_results(
    ctx: &Ctx<'_>,
    req: functions::messages::SetBotPrecheckoutResults,
) -> RpcResult {
    if !req.success && req.error.is_none() {
        return Err(RpcErr::bad_request("ERROR_TEXT_EMPTY"));
    }
    answer_payment(ctx, req.query_id, false)
}

fn answer_payment(ctx: &Ctx<'_>, query_id: i64, empty: bool) -> RpcResult {
    let me = require_user(ctx)?;
    if empty {
        return Err(RpcErr::bad_request("SHIPPING_NOT_AVAILABLE"));
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    match state.payment_queries.remove(&query_id) {
        Some(bot) if bot == me => {
            state.payment_answers.insert(query_id);
            ok(true)
        }
        Some(bot) => {
            state.payment_queries.insert(query_id, bot);
            Err(RpcErr::bad_request("QUERY_ID_INVALID"))
        }
        None => Err(RpcErr::bad_request("QUERY_ID_INVALID")),
    }
}

/// How long a mini-app view lives without `messages.prolongWebView` (Telegram's clients
/// prolong every 60 s).
const WEB_VIEW_TTL: i32 = 90;

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A mini app's URL with `tgWebAppData` signed as Telegram signs it (the bot checks it with
/// its token: HMAC-SHA256 keyed by HMAC-SHA256("WebAppData", token)).
fn web_app_url(
    state: &State,
    base: &str,
    bot: i64,
    user: i64,
    query_id: Option<i64>,
    start: Option<&str>,
) -> String {
    let token = state
        .bot_tokens
        .iter()
        .find(|(_, id)| **id == bot)
        .map(|(t, _)| t.clone())
        .unwrap_or_default();
    let u = state.users.get(&user);
    let user_json = serde_json::json!({
        "id": user,
        "first_name": u.map(|u| u.first_name.clone()).unwrap_or_default(),
        "username": u.and_then(|u| u.username.clone()),
    })
    .to_string();
    let mut fields: Vec<(String, String)> = vec![
        ("auth_date".into(), super::now().to_string()),
        ("user".into(), user_json),
    ];
    if let Some(q) = query_id {
        fields.push(("query_id".into(), q.to_string()));
    }
    if let Some(s) = start {
        fields.push(("start_param".into(), s.to_string()));
    }
    fields.sort();
    let check: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let secret = hmac_sha256(b"WebAppData", token.as_bytes());
    let hash: String = hmac_sha256(&secret, check.join("\n").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let data: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .chain([format!("hash={hash}")])
        .collect();
    format!(
        "{base}#tgWebAppData={}&tgWebAppVersion=8.0&tgWebAppPlatform=unknown",
        url_encode(&data.join("&"))
    )
}

/// `messages.requestWebView`: opens a bot's mini app from a chat (a query id to prolong).
pub(crate) fn request_web_view(
    ctx: &Ctx<'_>,
    req: functions::messages::RequestWebView,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let bot = super::channels::user_from_input(&state, me, &req.bot)?;
    if !state.users.get(&bot).is_some_and(|u| u.bot) {
        return Err(RpcErr::bad_request("BOT_INVALID"));
    }
    let query_id: i64 = state.rng.gen();
    state
        .web_views
        .insert(query_id, (me, bot, super::now() + WEB_VIEW_TTL, 0));
    let base = req
        .url
        .unwrap_or_else(|| "https://webapp.localdc.invalid/".into());
    let url = web_app_url(
        &state,
        &base,
        bot,
        me,
        Some(query_id),
        req.start_param.as_deref(),
    );
    ok(enums::WebViewResult::from(types::WebViewResultUrl {
        fullsize: false,
        fullscreen: req.fullscreen,
        same_origin: false,
        query_id: Some(query_id),
        url,
    }))
}

/// `messages.requestAppWebView`: opens a bot's named mini app (no query id).
pub(crate) fn request_app_web_view(
    ctx: &Ctx<'_>,
    req: functions::messages::RequestAppWebView,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let enums::InputBotApp::ShortName(app) = &req.app else {
        return Err(RpcErr::bad_request("BOT_APP_INVALID"));
    };
    let bot = super::channels::user_from_input(&state, me, &app.bot_id)?;
    if !state.users.get(&bot).is_some_and(|u| u.bot) || app.short_name.is_empty() {
        return Err(RpcErr::bad_request("BOT_APP_INVALID"));
    }
    let base = format!("https://webapp.localdc.invalid/{}", app.short_name);
    let url = web_app_url(&state, &base, bot, me, None, req.start_param.as_deref());
    ok(enums::WebViewResult::from(types::WebViewResultUrl {
        fullsize: false,
        fullscreen: req.fullscreen,
        same_origin: false,
        query_id: None,
        url,
    }))
}

/// `messages.prolongWebView`: keeps an open view alive (`QUERY_ID_INVALID` once it expired).
pub(crate) fn prolong_web_view(
    ctx: &Ctx<'_>,
    req: functions::messages::ProlongWebView,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let bot = super::channels::user_from_input(&state, me, &req.bot)?;
    let now = super::now();
    match state.web_views.get_mut(&req.query_id) {
        Some((user, b, expiry, n)) if *user == me && *b == bot && *expiry >= now => {
            *expiry = now + WEB_VIEW_TTL;
            *n += 1;
            ok(true)
        }
        _ => Err(RpcErr::bad_request("QUERY_ID_INVALID")),
    }
}
