//! `messages.*` for private chats: send, edit, delete, history. Each side of a chat has its
//! own copy of a message with its own id, and each change is an update in both users' pts
//! sequences, pushed to their other sessions in Telegram's shapes.

use super::{now, ok, require_user, Ctx, RpcErr, RpcResult};
use crate::state::{State, StoredMessage};
use fleetgram_tl::{enums, functions, types};

/// The user an `InputPeer` names, checking its access hash.
pub(crate) fn resolve_user(state: &State, me: i64, peer: &enums::InputPeer) -> Result<i64, RpcErr> {
    let id = match peer {
        enums::InputPeer::InputPeerSelf => me,
        enums::InputPeer::User(u)
            if u.user_id == me || state.hash_ok(me, u.user_id, u.access_hash) =>
        {
            u.user_id
        }
        enums::InputPeer::UserFromMessage(u) => u.user_id,
        _ => return Err(RpcErr::bad_request("PEER_ID_INVALID")),
    };
    if !state.users.contains_key(&id) {
        return Err(RpcErr::bad_request("PEER_ID_INVALID"));
    }
    Ok(id)
}

fn short_message(m: &StoredMessage, pts: i32) -> enums::Updates {
    types::UpdateShortMessage {
        out: m.out,
        mentioned: false,
        media_unread: false,
        silent: m.silent,
        id: m.id,
        user_id: m.peer,
        message: m.text.clone(),
        pts,
        pts_count: 1,
        date: m.date,
        fwd_from: crate::state::fwd_header(m.fwd_from),
        via_bot_id: None,
        reply_to: m.reply_to.map(|id| {
            types::MessageReplyHeader {
                reply_to_msg_id: Some(id),
                ..Default::default()
            }
            .into()
        }),
        entities: (!m.entities.is_empty()).then(|| m.entities.clone()),
        ttl_period: None,
    }
    .into()
}

fn updates(state: &State, viewer: i64, list: Vec<enums::Update>, users: &[i64]) -> enums::Updates {
    let now = now();
    types::Updates {
        updates: list,
        users: users
            .iter()
            .map(|&u| state.user_tl(viewer, u, now))
            .collect(),
        chats: vec![],
        date: now,
        seq: 0,
    }
    .into()
}

/// What a new private message carries.
pub(crate) struct Post {
    pub text: String,
    pub entities: Vec<enums::MessageEntity>,
    pub reply_to: Option<i32>,
    pub silent: bool,
    pub random_id: i64,
    pub fwd_from: Option<(i64, i32)>,
    pub reply_markup: Option<enums::ReplyMarkup>,
    pub media: Option<enums::MessageMedia>,
}

/// Posts a message from `me` to `target` (a private chat, or Saved Messages when equal):
/// a copy in each box, an update in each pts sequence, pushes to the other sessions.
/// Returns the sender's copy and the sender's pts.
pub(crate) fn post_private(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    target: i64,
    post: Post,
) -> Result<(StoredMessage, i32), RpcErr> {
    if state.has_blocked(me, target) {
        return Err(RpcErr::bad_request("YOU_BLOCKED_USER"));
    }
    if state.has_blocked(target, me) {
        return Err(RpcErr::new(403, "USER_IS_BLOCKED"));
    }
    if let Some(r) = post.reply_to {
        if !state
            .boxes
            .get(&me)
            .is_some_and(|b| b.messages.contains_key(&r))
        {
            return Err(RpcErr::bad_request("REPLY_MESSAGE_ID_INVALID"));
        }
    }
    let date = now();
    let my_box = state.boxes.entry(me).or_default();
    let my_id = my_box.next_id.max(1);
    my_box.next_id = my_id + 1;
    my_box.random_ids.insert(post.random_id, my_id);
    let mut mine = StoredMessage {
        id: my_id,
        peer: target,
        out: true,
        from: me,
        date,
        text: post.text,
        entities: post.entities,
        reply_to: post.reply_to,
        edit_date: None,
        silent: post.silent,
        twin: None,
        random_id: Some(post.random_id),
        fwd_from: post.fwd_from,
        pinned: false,
        chat: None,
        action: None,
        reply_markup: post.reply_markup,
        media: post.media,
        ..StoredMessage::default()
    };
    if target != me {
        // The recipient's copy.
        let their_reply = post.reply_to.and_then(|r| {
            state
                .boxes
                .get(&me)
                .and_then(|b| b.messages.get(&r))
                .and_then(|m| m.twin)
        });
        let their_box = state.boxes.entry(target).or_default();
        let their_id = their_box.next_id.max(1);
        their_box.next_id = their_id + 1;
        let theirs = StoredMessage {
            id: their_id,
            peer: me,
            out: false,
            reply_to: their_reply,
            twin: Some(my_id),
            random_id: None,
            ..mine.clone()
        };
        mine.twin = Some(their_id);
        let msg = State::message_tl(&theirs);
        let pts = state.push_update(target, 1, |pts| {
            types::UpdateNewMessage {
                message: msg,
                pts,
                pts_count: 1,
            }
            .into()
        });
        if theirs.reply_markup.is_some() || theirs.media.is_some() {
            // Short updates carry no keyboard.
            let full = updates(
                state,
                target,
                vec![types::UpdateNewMessage {
                    message: State::message_tl(&theirs),
                    pts,
                    pts_count: 1,
                }
                .into()],
                &[me],
            );
            ctx.push(target, &full);
        } else {
            ctx.push(target, &short_message(&theirs, pts));
        }
        state
            .boxes
            .entry(target)
            .or_default()
            .messages
            .insert(their_id, theirs);
        state.mark_message(target, their_id);
    }
    let msg = State::message_tl(&mine);
    let pts = state.push_update(me, 1, |pts| {
        types::UpdateNewMessage {
            message: msg,
            pts,
            pts_count: 1,
        }
        .into()
    });
    ctx.push(me, &short_message(&mine, pts));
    state
        .boxes
        .entry(me)
        .or_default()
        .messages
        .insert(my_id, mine.clone());
    state.mark_message(me, my_id);
    Ok((mine, pts))
}

pub(crate) fn check_text(text: &str) -> Result<(), RpcErr> {
    if text.trim().is_empty() {
        return Err(RpcErr::bad_request("MESSAGE_EMPTY"));
    }
    if text.chars().count() > 4096 {
        return Err(RpcErr::bad_request("MESSAGE_TOO_LONG"));
    }
    Ok(())
}

/// `messages.sendMessage` (private chats and Saved Messages).
pub(crate) fn send_message(ctx: &Ctx<'_>, req: functions::messages::SendMessage) -> RpcResult {
    send_with_media(ctx, req, None)
}

/// `messages.sendMessage`, or `messages.sendMedia` with `media` (then the text is a
/// caption and may be empty).
pub(crate) fn send_with_media(
    ctx: &Ctx<'_>,
    req: functions::messages::SendMessage,
    media: Option<enums::MessageMedia>,
) -> RpcResult {
    let me = require_user(ctx)?;
    if media.is_none() {
        check_text(&req.message)?;
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    if let Some(at) = req.schedule_date.filter(|_| media.is_none()) {
        if at > now() {
            return schedule(&mut state, me, at, req);
        }
    }
    // A repeated random_id returns the original message and creates nothing.
    if let Some(&id) = state
        .boxes
        .get(&me)
        .and_then(|b| b.random_ids.get(&req.random_id))
    {
        let pts = state.updates.get(&me).map_or(0, |s| s.pts);
        let date = state.boxes[&me].messages.get(&id).map_or(now(), |m| m.date);
        return ok(enums::Updates::from(types::UpdateShortSentMessage {
            out: true,
            id,
            pts,
            pts_count: 0,
            date,
            ..Default::default()
        }));
    }
    let reply_to = match &req.reply_to {
        Some(enums::InputReplyTo::Message(r)) => Some(r.reply_to_msg_id),
        _ => None,
    };
    let entities = entities_in(&state, me, req.entities.clone())?;
    // Keyboards are a bot's; a user's reply_markup is ignored, as on Telegram.
    let markup = req
        .reply_markup
        .clone()
        .filter(|_| state.users.get(&me).is_some_and(|u| u.bot));
    if let Some(channel) = super::channels::resolve_peer(&state, me, &req.peer)? {
        let post = super::channels::ChannelPost {
            text: req.message,
            entities,
            reply_to,
            silent: req.silent,
            random_id: Some(req.random_id),
            action: None,
            fwd_from: None,
            reply_markup: markup,
            media,
            discussion: None,
        };
        return super::channels::send(ctx, &mut state, me, channel, post);
    }
    if let enums::InputPeer::Chat(c) = &req.peer {
        let post = super::chats::ChatPost {
            text: req.message,
            entities: entities.clone(),
            reply_to,
            silent: req.silent,
            random_id: Some(req.random_id),
            action: None,
            fwd_from: None,
            reply_markup: markup.clone(),
            media: media.clone(),
        };
        let (mine, pts) = super::chats::post_chat(ctx, &mut state, me, c.chat_id, post)?;
        return ok(enums::Updates::from(types::UpdateShortSentMessage {
            out: true,
            id: mine.id,
            pts,
            pts_count: 1,
            date: mine.date,
            media,
            entities: (!entities.is_empty()).then_some(entities),
            ..Default::default()
        }));
    }
    let target = resolve_user(&state, me, &req.peer)?;
    let post = Post {
        text: req.message,
        entities: entities.clone(),
        reply_to,
        silent: req.silent,
        random_id: req.random_id,
        fwd_from: None,
        reply_markup: markup,
        media: media.clone(),
    };
    let (mine, pts) = post_private(ctx, &mut state, me, target, post)?;
    ok(enums::Updates::from(types::UpdateShortSentMessage {
        out: true,
        id: mine.id,
        pts,
        pts_count: 1,
        date: mine.date,
        media,
        entities: (!entities.is_empty()).then_some(entities),
        ..Default::default()
    }))
}

/// Keeps a message for `at` (`schedule_date`); the sender sees it as a scheduled message.
fn schedule(
    state: &mut State,
    me: i64,
    at: i32,
    req: functions::messages::SendMessage,
) -> RpcResult {
    if at > now() + 366 * 86400 {
        return Err(RpcErr::bad_request("SCHEDULE_DATE_TOO_LATE"));
    }
    match super::channels::resolve_peer(state, me, &req.peer)? {
        Some(ch) => super::channels::check_can_post(state, me, ch)?,
        None => {
            if let enums::InputPeer::Chat(c) = &req.peer {
                super::chats::member_chat(state, me, c.chat_id)?;
            } else {
                resolve_user(state, me, &req.peer)?;
            }
        }
    }
    let id = state.new_scheduled_id();
    let peer = scheduled_peer(state, me, &req.peer);
    let copy = scheduled_tl(state, me, id, at, &req);
    let entry = crate::state::Scheduled {
        owner: me,
        id,
        date: at,
        request: functions::messages::SendMessage {
            schedule_date: None,
            ..req
        },
    };
    if let Some(store) = &state.store {
        store.put_scheduled(&entry, true);
    }
    state.scheduled.push(entry);
    let users: Vec<i64> = match peer {
        enums::Peer::User(u) => vec![me, u.user_id],
        _ => vec![me],
    };
    ok(updates(
        state,
        me,
        vec![types::UpdateNewScheduledMessage { message: copy }.into()],
        &users,
    ))
}

/// The chat a scheduled message goes to (for showing it).
fn scheduled_peer(state: &State, me: i64, p: &enums::InputPeer) -> enums::Peer {
    match p {
        enums::InputPeer::Chat(c) => types::PeerChat { chat_id: c.chat_id }.into(),
        enums::InputPeer::Channel(c) => types::PeerChannel {
            channel_id: c.channel_id,
        }
        .into(),
        p => types::PeerUser {
            user_id: resolve_user(state, me, p).unwrap_or(me),
        }
        .into(),
    }
}

/// A scheduled message as its owner sees it.
fn scheduled_tl(
    state: &State,
    me: i64,
    id: i32,
    at: i32,
    req: &functions::messages::SendMessage,
) -> enums::Message {
    let copy = StoredMessage {
        id,
        peer: me,
        out: true,
        from: me,
        date: at,
        text: req.message.clone(),
        entities: entities_in(state, me, req.entities.clone()).unwrap_or_default(),
        silent: req.silent,
        random_id: Some(req.random_id),
        ..StoredMessage::default()
    };
    let mut m = State::message_tl(&copy);
    if let enums::Message::Message(x) = &mut m {
        x.peer_id = scheduled_peer(state, me, &req.peer);
        x.from_scheduled = true;
    }
    m
}

/// `messages.getScheduledHistory`: `me`'s messages waiting to be sent to `peer`.
pub(crate) fn get_scheduled_history(
    ctx: &Ctx<'_>,
    req: functions::messages::GetScheduledHistory,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let want = scheduled_peer(&state, me, &req.peer);
    let mut list: Vec<&crate::state::Scheduled> = state
        .scheduled
        .iter()
        .filter(|s| s.owner == me && scheduled_peer(&state, me, &s.request.peer) == want)
        .collect();
    list.sort_by_key(|s| std::cmp::Reverse((s.date, s.id)));
    let messages = list
        .iter()
        .map(|s| scheduled_tl(&state, me, s.id, s.date, &s.request))
        .collect();
    let users = match &want {
        enums::Peer::User(u) => vec![state.user_tl(me, u.user_id, now())],
        _ => vec![],
    };
    let chats = match &want {
        enums::Peer::Chat(c) => vec![state.chat_tl(me, c.chat_id)],
        enums::Peer::Channel(c) => vec![super::channels::channel_tl(&state, me, c.channel_id)],
        enums::Peer::User(_) => vec![],
    };
    ok(enums::messages::Messages::from(types::messages::Messages {
        messages,
        topics: vec![],
        chats,
        users,
    }))
}

/// Sends the scheduled messages that are due (called by the DC's scheduler); the updates to
/// deliver, with the session they come from.
pub(crate) fn send_due(shared: &crate::Shared) -> Vec<((i64, i64), Vec<super::Push>)> {
    let now = now();
    let due: Vec<crate::state::Scheduled> = {
        let mut state = shared.state.lock().expect("not poisoned");
        let (due, later): (Vec<_>, Vec<_>) = state.scheduled.drain(..).partition(|s| s.date <= now);
        state.scheduled = later;
        if let Some(store) = &state.store {
            for s in &due {
                store.put_scheduled(s, false);
            }
        }
        due
    };
    let mut out = Vec::new();
    for s in due {
        let peer: enums::Peer = match &s.request.peer {
            enums::InputPeer::Chat(c) => types::PeerChat { chat_id: c.chat_id }.into(),
            enums::InputPeer::User(u) => types::PeerUser { user_id: u.user_id }.into(),
            _ => types::PeerUser { user_id: s.owner }.into(),
        };
        let result = super::as_user(shared, s.owner, |ctx| {
            let sent = send_message(ctx, s.request.clone())?;
            let new_id = match <enums::Updates as fleetgram_tl::Deserializable>::from_bytes(&sent) {
                Ok(enums::Updates::UpdateShortSentMessage(m)) => vec![m.id],
                _ => vec![],
            };
            let u = types::UpdateDeleteScheduledMessages {
                peer,
                messages: vec![s.id],
                sent_messages: Some(new_id),
            };
            ctx.push(
                s.owner,
                &enums::Updates::from(types::UpdateShort {
                    update: u.into(),
                    date: now,
                }),
            );
            Ok(())
        });
        if let Some(done) = result {
            if let Err(e) = &done.result {
                tracing::info!(owner = s.owner, error = %e.message, "scheduled message could not be sent");
            }
            out.push((done.origin, done.pushes));
        }
    }
    out
}

/// `messages.forwardMessages` between private chats: copies with a `messageFwdHeader` naming
/// the original author (left out with `drop_author`).
pub(crate) fn forward_messages(
    ctx: &Ctx<'_>,
    req: functions::messages::ForwardMessages,
) -> RpcResult {
    let me = require_user(ctx)?;
    if req.id.is_empty() || req.id.len() != req.random_id.len() {
        return Err(RpcErr::bad_request("RANDOM_ID_INVALID"));
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    // Source and target may each be a private chat, a basic group or a channel.
    let from_channel = super::channels::resolve_peer(&state, me, &req.from_peer)?;
    let to_channel = super::channels::resolve_peer(&state, me, &req.to_peer)?;
    let (from_chat, from) = match from_channel {
        Some(_) => (None, 0),
        None => chat_or_user(&state, me, &req.from_peer)?,
    };
    let (to_chat, target) = match to_channel {
        Some(_) => (None, 0),
        None => chat_or_user(&state, me, &req.to_peer)?,
    };
    let mut list: Vec<enums::Update> = Vec::new();
    let mut authors = vec![me];
    for (id, random_id) in req.id.iter().zip(&req.random_id) {
        let src = match from_channel {
            Some(ch) => super::channels::forwardable(&state, me, ch, *id)?,
            None => state
                .boxes
                .get(&me)
                .and_then(|b| b.messages.get(id))
                .filter(|m| match from_chat {
                    Some(c) => m.chat.is_some_and(|(x, _)| x == c),
                    None => m.chat.is_none() && m.peer == from,
                })
                .filter(|m| m.action.is_none())
                .cloned()
                .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?,
        };
        if let Some(ch) = to_channel {
            let fwd_from = (!req.drop_author).then(|| src.fwd_from.unwrap_or((src.from, src.date)));
            if let Some((author, _)) = fwd_from.filter(|(a, _)| *a > 0) {
                authors.push(author);
            }
            let post = super::channels::ChannelPost {
                text: src.text.clone(),
                entities: src.entities.clone(),
                reply_to: None,
                silent: req.silent,
                random_id: Some(*random_id),
                action: None,
                fwd_from,
                reply_markup: None,
                media: src.media.clone(),
                discussion: None,
            };
            list.extend(super::channels::forward_into(
                ctx, &mut state, me, ch, post,
            )?);
            continue;
        }
        if state
            .boxes
            .get(&me)
            .is_some_and(|b| b.random_ids.contains_key(random_id))
        {
            continue;
        }
        let fwd_from = if req.drop_author {
            None
        } else {
            Some(src.fwd_from.unwrap_or((src.from, src.date)))
        };
        if let Some((author, _)) = fwd_from.filter(|(a, _)| *a > 0) {
            authors.push(author);
        }
        let (mine, pts) = match to_chat {
            Some(chat) => super::chats::post_chat(
                ctx,
                &mut state,
                me,
                chat,
                super::chats::ChatPost {
                    text: src.text.clone(),
                    entities: src.entities.clone(),
                    reply_to: None,
                    silent: req.silent,
                    random_id: Some(*random_id),
                    action: None,
                    fwd_from,
                    reply_markup: None,
                    media: src.media.clone(),
                },
            )?,
            None => {
                let post = Post {
                    text: src.text.clone(),
                    entities: src.entities.clone(),
                    reply_to: None,
                    silent: req.silent,
                    random_id: *random_id,
                    fwd_from,
                    reply_markup: None,
                    media: src.media.clone(),
                };
                post_private(ctx, &mut state, me, target, post)?
            }
        };
        list.push(
            types::UpdateMessageID {
                id: mine.id,
                random_id: *random_id,
            }
            .into(),
        );
        list.push(
            types::UpdateNewMessage {
                message: State::message_tl(&mine),
                pts,
                pts_count: 1,
            }
            .into(),
        );
    }
    for u in [target, from] {
        if u != 0 {
            authors.push(u);
        }
    }
    authors.sort_unstable();
    authors.dedup();
    let mut result = updates(&state, me, list, &authors);
    if let enums::Updates::Updates(u) = &mut result {
        let mut chats: Vec<i64> = to_chat.into_iter().chain(from_chat).collect();
        chats.dedup();
        u.chats
            .extend(chats.into_iter().map(|c| state.chat_tl(me, c)));
        for ch in to_channel.into_iter().chain(from_channel) {
            u.chats.push(super::channels::channel_tl(&state, me, ch));
        }
    }
    ok(result)
}

/// A basic group `me` belongs to (`(Some(chat), 0)`) or a user (`(None, user)`).
fn chat_or_user(
    state: &State,
    me: i64,
    peer: &enums::InputPeer,
) -> Result<(Option<i64>, i64), RpcErr> {
    match peer {
        enums::InputPeer::Chat(c) => {
            super::chats::member_chat(state, me, c.chat_id)?;
            Ok((Some(c.chat_id), 0))
        }
        _ => Ok((None, resolve_user(state, me, peer)?)),
    }
}

/// `messages.updatePinnedMessage`: pins or unpins a message, on both sides unless `pm_oneside`.
pub(crate) fn update_pinned_message(
    ctx: &Ctx<'_>,
    req: functions::messages::UpdatePinnedMessage,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    if let enums::InputPeer::Chat(c) = &req.peer {
        return pin_in_chat(ctx, &mut state, me, c.chat_id, req.id, !req.unpin);
    }
    if let Some(id) = super::channels::resolve_peer(&state, me, &req.peer)? {
        return super::channels::pin(ctx, &mut state, me, id, req.id, !req.unpin);
    }
    let peer = resolve_user(&state, me, &req.peer)?;
    let twin = {
        let m = state
            .boxes
            .get_mut(&me)
            .and_then(|b| b.messages.get_mut(&req.id))
            .filter(|m| m.peer == peer)
            .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
        m.pinned = !req.unpin;
        m.twin
    };
    state.mark_message(me, req.id);
    let pinned = !req.unpin;
    let make = |user: i64, id: i32| {
        move |pts| -> enums::Update {
            types::UpdatePinnedMessages {
                pinned,
                peer: types::PeerUser { user_id: user }.into(),
                messages: vec![id],
                pts,
                pts_count: 1,
            }
            .into()
        }
    };
    let pts = state.push_update(me, 1, make(peer, req.id));
    let mine = make(peer, req.id)(pts);
    ctx.push(me, &updates(&state, me, vec![mine.clone()], &[peer]));
    if let (Some(t), false, true) = (twin, req.pm_oneside, peer != me) {
        if let Some(m) = state
            .boxes
            .get_mut(&peer)
            .and_then(|b| b.messages.get_mut(&t))
        {
            m.pinned = pinned;
            state.mark_message(peer, t);
            let their_pts = state.push_update(peer, 1, make(me, t));
            let u = updates(&state, peer, vec![make(me, t)(their_pts)], &[me]);
            ctx.push(peer, &u);
        }
    }
    ok(updates(&state, me, vec![mine], &[peer]))
}

/// The entities of a message being sent: an input mention (`inputMessageEntityMentionName`)
/// becomes a mention of that user id (`USER_ID_INVALID` when it names nobody this account
/// can see).
pub(crate) fn entities_in(
    state: &State,
    me: i64,
    entities: Option<Vec<enums::MessageEntity>>,
) -> Result<Vec<enums::MessageEntity>, RpcErr> {
    entities
        .unwrap_or_default()
        .into_iter()
        .map(|e| match e {
            enums::MessageEntity::InputMessageEntityMentionName(m) => {
                let user_id = super::channels::user_from_input(state, me, &m.user_id)?;
                Ok(types::MessageEntityMentionName {
                    offset: m.offset,
                    length: m.length,
                    user_id,
                }
                .into())
            }
            other => Ok(other),
        })
        .collect()
}

/// `messages.unpinAllMessages` in a private chat or group: every pinned message unpinned.
pub(crate) fn unpin_all_messages(
    ctx: &Ctx<'_>,
    req: functions::messages::UnpinAllMessages,
) -> RpcResult {
    let me = require_user(ctx)?;
    {
        let mut state = ctx.shared.state.lock().expect("not poisoned");
        if let Some(id) = super::channels::resolve_peer(&state, me, &req.peer)? {
            let pinned: Vec<i32> = state
                .boxes
                .get(&crate::state::channel_box(id))
                .map(|b| {
                    b.messages
                        .values()
                        .filter(|m| m.pinned)
                        .map(|m| m.id)
                        .collect()
                })
                .unwrap_or_default();
            for m in &pinned {
                super::channels::pin(ctx, &mut state, me, id, *m, false)?;
            }
            let pts = state
                .updates
                .get(&crate::state::channel_box(id))
                .map_or(0, |s| s.pts);
            return ok(enums::messages::AffectedHistory::from(
                types::messages::AffectedHistory {
                    pts,
                    pts_count: pinned.len() as i32,
                    offset: 0,
                },
            ));
        }
    }
    let pinned: Vec<i32> = {
        let state = ctx.shared.state.lock().expect("not poisoned");
        let (peer, chat) = match &req.peer {
            enums::InputPeer::Chat(c) => (0, Some(c.chat_id)),
            other => (resolve_user(&state, me, other)?, None),
        };
        state
            .boxes
            .get(&me)
            .map(|b| {
                b.messages
                    .values()
                    .filter(|m| m.pinned)
                    .filter(|m| match chat {
                        Some(c) => m.chat.is_some_and(|(x, _)| x == c),
                        None => m.chat.is_none() && m.peer == peer,
                    })
                    .map(|m| m.id)
                    .collect()
            })
            .unwrap_or_default()
    };
    for id in &pinned {
        update_pinned_message(
            ctx,
            functions::messages::UpdatePinnedMessage {
                silent: true,
                unpin: true,
                pm_oneside: false,
                peer: req.peer.clone(),
                id: *id,
            },
        )?;
    }
    let state = ctx.shared.state.lock().expect("not poisoned");
    let pts = state.updates.get(&me).map_or(0, |s| s.pts);
    ok(enums::messages::AffectedHistory::from(
        types::messages::AffectedHistory {
            pts,
            pts_count: pinned.len() as i32,
            offset: 0,
        },
    ))
}

/// Pins or unpins a group message for every member (each on their own copy).
fn pin_in_chat(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    chat: i64,
    id: i32,
    pinned: bool,
) -> RpcResult {
    super::chats::member_chat(state, me, chat)?;
    let gid = state
        .boxes
        .get(&me)
        .and_then(|b| b.messages.get(&id))
        .and_then(|m| m.chat)
        .filter(|(c, _)| *c == chat)
        .map(|(_, gid)| gid)
        .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
    let copies = state.group_copies.get(&gid).cloned().unwrap_or_default();
    let mut mine = None;
    for (u, their_id) in copies {
        let Some(m) = state
            .boxes
            .get_mut(&u)
            .and_then(|b| b.messages.get_mut(&their_id))
        else {
            continue; // deleted on that side
        };
        m.pinned = pinned;
        state.mark_message(u, their_id);
        let make = |pts| -> enums::Update {
            types::UpdatePinnedMessages {
                pinned,
                peer: types::PeerChat { chat_id: chat }.into(),
                messages: vec![their_id],
                pts,
                pts_count: 1,
            }
            .into()
        };
        let pts = state.push_update(u, 1, make);
        let mut push = updates(state, u, vec![make(pts)], &[me]);
        if let enums::Updates::Updates(x) = &mut push {
            x.chats.push(state.chat_tl(u, chat));
        }
        if u == me {
            mine = Some(push.clone());
        }
        ctx.push(u, &push);
    }
    ok(mine.ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?)
}

/// The messages of `list` (newest first) after Telegram's paging rules.
pub(crate) fn page<'a>(
    list: &[&'a StoredMessage],
    offset_id: i32,
    offset_date: i32,
    add_offset: i32,
    limit: i32,
) -> (Vec<&'a StoredMessage>, usize) {
    let start = if offset_id > 0 {
        list.iter()
            .position(|m| m.id < offset_id)
            .unwrap_or(list.len())
    } else if offset_date > 0 {
        list.iter()
            .position(|m| m.date < offset_date)
            .unwrap_or(list.len())
    } else {
        0
    };
    let start = (start as i64 + add_offset as i64).clamp(0, list.len() as i64) as usize;
    let limit = if limit <= 0 {
        20
    } else {
        limit.min(100) as usize
    };
    (
        list.iter().skip(start).take(limit).copied().collect(),
        list.len(),
    )
}

fn messages_answer(state: &State, me: i64, found: Vec<&StoredMessage>, count: usize) -> RpcResult {
    let users = users_of(state, me, found.iter().flat_map(|m| [m.peer, m.from]));
    let mut chat_ids: Vec<i64> = found.iter().filter_map(|m| m.chat.map(|c| c.0)).collect();
    chat_ids.sort_unstable();
    chat_ids.dedup();
    let chats: Vec<enums::Chat> = chat_ids.iter().map(|&c| state.chat_tl(me, c)).collect();
    let messages: Vec<enums::Message> = found
        .iter()
        .map(|m| {
            let mut x = State::message_tl(m);
            state.refresh_media(&mut x, me);
            x
        })
        .collect();
    if messages.len() < count {
        return ok(enums::messages::Messages::from(
            types::messages::MessagesSlice {
                inexact: false,
                count: count as i32,
                next_rate: None,
                offset_id_offset: None,
                search_flood: None,
                messages,
                topics: vec![],
                chats,
                users,
            },
        ));
    }
    ok(enums::messages::Messages::from(types::messages::Messages {
        messages,
        topics: vec![],
        chats,
        users,
    }))
}

fn matches_text(m: &StoredMessage, q: &str) -> bool {
    q.is_empty() || m.text.to_lowercase().contains(&q.to_lowercase())
}

/// `messages.search` in one chat (or all chats with `inputPeerEmpty`): text, sender, dates,
/// ids; only the empty filter finds anything until media exists.
pub(crate) fn search(ctx: &Ctx<'_>, req: functions::messages::Search) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let from = match &req.from_id {
        Some(p) => Some(resolve_user(&state, me, p)?),
        None => None,
    };
    let keep = |m: &StoredMessage| {
        from.is_none_or(|f| m.from == f)
            && matches_filter(m, &req.filter, me)
            && matches_text(m, &req.q)
            && (req.min_date <= 0 || m.date >= req.min_date)
            && (req.max_date <= 0 || m.date <= req.max_date)
            && (req.max_id <= 0 || m.id < req.max_id)
            && (req.min_id <= 0 || m.id > req.min_id)
    };
    if let Some(id) = super::channels::resolve_peer(&state, me, &req.peer)? {
        super::channels::require_read(&state, me, id)?;
        let list: Vec<&StoredMessage> = state
            .boxes
            .get(&crate::state::channel_box(id))
            .map(|b| b.messages.values().rev().filter(|m| keep(m)).collect())
            .unwrap_or_default();
        let (found, count) = page(&list, req.offset_id, 0, req.add_offset, req.limit);
        return super::channels::channel_messages(&state, me, id, found, count);
    }
    // The chat searched: a user's private chat (dialog key > 0) or a group (< 0).
    let peer = match req.peer {
        enums::InputPeer::Empty => None,
        enums::InputPeer::Chat(ref c) => {
            if !state.chats.contains_key(&c.chat_id) {
                return Err(RpcErr::bad_request("CHAT_ID_INVALID"));
            }
            Some(-c.chat_id)
        }
        ref p => Some(resolve_user(&state, me, p)?),
    };
    let list: Vec<&StoredMessage> = state
        .boxes
        .get(&me)
        .map(|b| {
            b.messages
                .values()
                .rev()
                .filter(|m| peer.is_none_or(|p| dialog_key(m) == p) && keep(m))
                .collect()
        })
        .unwrap_or_default();
    let (found, count) = page(&list, req.offset_id, 0, req.add_offset, req.limit);
    messages_answer(&state, me, found, count)
}

/// Whether message `m` is of the kind a search filter asks for.
fn matches_filter(m: &StoredMessage, f: &enums::MessagesFilter, me: i64) -> bool {
    use enums::MessagesFilter as F;
    let doc = match &m.media {
        Some(enums::MessageMedia::Document(d)) => match &d.document {
            Some(enums::Document::Document(d)) => Some(d),
            _ => None,
        },
        _ => None,
    };
    let photo = matches!(m.media, Some(enums::MessageMedia::Photo(_)));
    let attr = |pick: &dyn Fn(&enums::DocumentAttribute) -> bool| {
        doc.is_some_and(|d| d.attributes.iter().any(pick))
    };
    let video = attr(&|a| matches!(a, enums::DocumentAttribute::Video(v) if !v.round_message));
    match f {
        F::InputMessagesFilterEmpty => true,
        F::InputMessagesFilterPhotos => photo,
        F::InputMessagesFilterVideo => video,
        F::InputMessagesFilterPhotoVideo => photo || video,
        F::InputMessagesFilterDocument => {
            doc.is_some()
                && !attr(&|a| {
                    matches!(
                        a,
                        enums::DocumentAttribute::Video(_)
                            | enums::DocumentAttribute::Audio(_)
                            | enums::DocumentAttribute::Sticker(_)
                            | enums::DocumentAttribute::Animated
                    )
                })
        }
        F::InputMessagesFilterGif => attr(&|a| matches!(a, enums::DocumentAttribute::Animated)),
        F::InputMessagesFilterMusic => {
            attr(&|a| matches!(a, enums::DocumentAttribute::Audio(x) if !x.voice))
        }
        F::InputMessagesFilterVoice => {
            attr(&|a| matches!(a, enums::DocumentAttribute::Audio(x) if x.voice))
        }
        F::InputMessagesFilterRoundVideo => {
            attr(&|a| matches!(a, enums::DocumentAttribute::Video(v) if v.round_message))
        }
        F::InputMessagesFilterRoundVoice => attr(&|a| {
            matches!(a, enums::DocumentAttribute::Audio(x) if x.voice)
                || matches!(a, enums::DocumentAttribute::Video(v) if v.round_message)
        }),
        F::InputMessagesFilterUrl => {
            m.entities.iter().any(|e| {
                matches!(
                    e,
                    enums::MessageEntity::Url(_) | enums::MessageEntity::TextUrl(_)
                )
            }) || m.text.contains("http://")
                || m.text.contains("https://")
        }
        F::InputMessagesFilterPinned => m.pinned,
        F::InputMessagesFilterMyMentions => m
            .entities
            .iter()
            .any(|e| matches!(e, enums::MessageEntity::MentionName(x) if x.user_id == me)),
        F::InputMessagesFilterPoll => matches!(m.media, Some(enums::MessageMedia::Poll(_))),
        _ => false,
    }
}

/// `messages.searchGlobal`: text search over every chat (private chats, groups and the
/// channels the account is in), newest first; pages continue from (`offset_rate` = the date
/// of the last one, `offset_peer`, `offset_id`).
pub(crate) fn search_global(ctx: &Ctx<'_>, req: functions::messages::SearchGlobal) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    if req.q.trim().is_empty() {
        return Err(RpcErr::bad_request("SEARCH_QUERY_EMPTY"));
    }
    let keep = |m: &StoredMessage| {
        matches_filter(m, &req.filter, me)
            && matches_text(m, &req.q)
            && (req.min_date <= 0 || m.date >= req.min_date)
            && (req.max_date <= 0 || m.date <= req.max_date)
    };
    // (date, chat key, message): the key orders messages of one second across chats.
    let mut list: Vec<(i32, i64, &StoredMessage)> = state
        .boxes
        .get(&me)
        .map(|b| {
            b.messages
                .values()
                .filter(|m| keep(m))
                .map(|m| (m.date, dialog_key(m), m))
                .collect()
        })
        .unwrap_or_default();
    for (id, ch) in &state.channels {
        if !ch.members.contains_key(&me) {
            continue;
        }
        let bx = crate::state::channel_box(*id);
        if let Some(b) = state.boxes.get(&bx) {
            list.extend(
                b.messages
                    .values()
                    .filter(|m| keep(m))
                    .map(|m| (m.date, bx, m)),
            );
        }
    }
    list.sort_by_key(|(d, k, m)| std::cmp::Reverse((*d, *k, m.id)));
    let count = list.len();
    if req.offset_rate > 0 {
        let key = match &req.offset_peer {
            enums::InputPeer::Empty => None,
            enums::InputPeer::Chat(c) => Some(-c.chat_id),
            enums::InputPeer::Channel(c) => Some(crate::state::channel_box(c.channel_id)),
            p => resolve_user(&state, me, p).ok(),
        };
        let at = (req.offset_rate, key.unwrap_or(i64::MAX), req.offset_id);
        list.retain(|(d, k, m)| (*d, *k, m.id) < at);
    }
    let limit = req.limit.clamp(1, 100) as usize;
    let more = list.len() > limit;
    list.truncate(limit);
    let mut chats = Vec::new();
    let mut user_ids = Vec::new();
    let messages: Vec<enums::Message> = list
        .iter()
        .map(|(_, key, m)| {
            if *key <= crate::state::channel_box(0) {
                let id = crate::state::channel_box(0) - key;
                chats.push(super::channels::channel_tl(&state, me, id));
                user_ids.push(m.from);
                super::channels::message_tl(&state, id, m, me)
            } else {
                if let Some((c, _)) = m.chat {
                    chats.push(state.chat_tl(me, c));
                }
                user_ids.extend([m.peer, m.from]);
                let mut x = State::message_tl(m);
                state.refresh_media(&mut x, me);
                x
            }
        })
        .collect();
    let users = users_of(&state, me, user_ids);
    let next_rate = list.last().map(|(d, _, _)| *d).filter(|_| more);
    ok(enums::messages::Messages::from(
        types::messages::MessagesSlice {
            inexact: false,
            count: count as i32,
            next_rate,
            offset_id_offset: None,
            search_flood: None,
            messages,
            topics: vec![],
            chats,
            users,
        },
    ))
}

/// `messages.editMessage`: the text of one's own message.
pub(crate) fn edit_message(ctx: &Ctx<'_>, req: functions::messages::EditMessage) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    if let enums::InputPeer::Chat(c) = &req.peer {
        return edit_chat_message(ctx, &mut state, me, c.chat_id, req);
    }
    if let Some(channel) = super::channels::resolve_peer(&state, me, &req.peer)? {
        return super::channels::edit(ctx, &mut state, me, channel, req);
    }
    let target = resolve_user(&state, me, &req.peer)?;
    let date = now();
    let m = state
        .boxes
        .get(&me)
        .and_then(|b| b.messages.get(&req.id))
        .filter(|m| m.peer == target && m.chat.is_none())
        .cloned()
        .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
    if m.from != me {
        return Err(RpcErr::new(403, "MESSAGE_AUTHOR_REQUIRED"));
    }
    let text = req.message.clone().unwrap_or_else(|| m.text.clone());
    let entities = entities_in(&state, me, req.entities.clone())?;
    if text == m.text && entities == m.entities {
        return Err(RpcErr::bad_request("MESSAGE_NOT_MODIFIED"));
    }
    if text.trim().is_empty() {
        return Err(RpcErr::bad_request("MESSAGE_EMPTY"));
    }
    let edit = |m: &mut StoredMessage| {
        m.text = text.clone();
        m.entities = entities.clone();
        m.edit_date = Some(date);
    };
    let mut mine = m.clone();
    edit(&mut mine);
    if let (Some(twin), true) = (m.twin, target != me) {
        if let Some(theirs) = state
            .boxes
            .get_mut(&target)
            .and_then(|b| b.messages.get_mut(&twin))
        {
            edit(theirs);
            let theirs = theirs.clone();
            state.mark_message(target, twin);
            let msg = State::message_tl(&theirs);
            let pts = state.push_update(target, 1, |pts| {
                types::UpdateEditMessage {
                    message: msg.clone(),
                    pts,
                    pts_count: 1,
                }
                .into()
            });
            let u = updates(
                &state,
                target,
                vec![types::UpdateEditMessage {
                    message: msg,
                    pts,
                    pts_count: 1,
                }
                .into()],
                &[me],
            );
            ctx.push(target, &u);
        }
    }
    let msg = State::message_tl(&mine);
    let pts = state.push_update(me, 1, |pts| {
        types::UpdateEditMessage {
            message: msg.clone(),
            pts,
            pts_count: 1,
        }
        .into()
    });
    state
        .boxes
        .entry(me)
        .or_default()
        .messages
        .insert(mine.id, mine);
    state.mark_message(me, req.id);
    let u = updates(
        &state,
        me,
        vec![types::UpdateEditMessage {
            message: msg,
            pts,
            pts_count: 1,
        }
        .into()],
        &[me, target],
    );
    ctx.push(me, &u);
    ok(u)
}

/// `messages.editMessage` in a group: every member's copy changes.
fn edit_chat_message(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    chat: i64,
    req: functions::messages::EditMessage,
) -> RpcResult {
    let m = state
        .boxes
        .get(&me)
        .and_then(|b| b.messages.get(&req.id))
        .filter(|m| m.chat.is_some_and(|(c, _)| c == chat) && m.action.is_none())
        .cloned()
        .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
    if m.from != me {
        return Err(RpcErr::new(403, "MESSAGE_AUTHOR_REQUIRED"));
    }
    let text = req.message.clone().unwrap_or_else(|| m.text.clone());
    let entities = entities_in(state, me, req.entities.clone())?;
    if text == m.text && entities == m.entities {
        return Err(RpcErr::bad_request("MESSAGE_NOT_MODIFIED"));
    }
    check_text(&text)?;
    let date = now();
    let gid = m.chat.map(|(_, g)| g).unwrap_or_default();
    let copies = state.group_copies.get(&gid).cloned().unwrap_or_default();
    let mut answer = None;
    for (u, id) in copies {
        let Some(copy) = state
            .boxes
            .get_mut(&u)
            .and_then(|b| b.messages.get_mut(&id))
        else {
            continue;
        };
        copy.text = text.clone();
        copy.entities = entities.clone();
        copy.edit_date = Some(date);
        let msg = State::message_tl(copy);
        state.mark_message(u, id);
        let pts = state.push_update(u, 1, |pts| {
            types::UpdateEditMessage {
                message: msg.clone(),
                pts,
                pts_count: 1,
            }
            .into()
        });
        let upd: enums::Updates = types::Updates {
            updates: vec![types::UpdateEditMessage {
                message: msg,
                pts,
                pts_count: 1,
            }
            .into()],
            users: users_of(state, u, [me]),
            chats: vec![state.chat_tl(u, chat)],
            date,
            seq: 0,
        }
        .into();
        ctx.push(u, &upd);
        if u == me {
            answer = Some(upd);
        }
    }
    answer.map_or_else(|| Err(RpcErr::bad_request("MESSAGE_ID_INVALID")), ok)
}

/// `messages.deleteMessages`: from one's own box, and with `revoke` from the other side too.
pub(crate) fn delete_messages(
    ctx: &Ctx<'_>,
    req: functions::messages::DeleteMessages,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let mut removed = Vec::new();
    let mut theirs: std::collections::HashMap<i64, Vec<i32>> = Default::default();
    for id in &req.id {
        if let Some(m) = state.boxes.get_mut(&me).and_then(|b| b.messages.remove(id)) {
            removed.push(*id);
            state.mark_message(me, *id);
            if let (true, Some((_, gid))) = (req.revoke, m.chat) {
                // A group message: the sender (or the group's creator) deletes it for everyone.
                let creator = m
                    .chat
                    .and_then(|(c, _)| state.chats.get(&c))
                    .map(|c| c.creator);
                if m.from == me || creator == Some(me) {
                    let copies = state.group_copies.get(&gid).cloned().unwrap_or_default();
                    for (u, cid) in copies.into_iter().filter(|(u, _)| *u != me) {
                        if state
                            .boxes
                            .get_mut(&u)
                            .and_then(|b| b.messages.remove(&cid))
                            .is_some()
                        {
                            theirs.entry(u).or_default().push(cid);
                            state.mark_message(u, cid);
                        }
                    }
                }
            } else if req.revoke && m.peer != me {
                if let Some(t) = m.twin {
                    if state
                        .boxes
                        .get_mut(&m.peer)
                        .and_then(|b| b.messages.remove(&t))
                        .is_some()
                    {
                        theirs.entry(m.peer).or_default().push(t);
                        state.mark_message(m.peer, t);
                    }
                }
            }
        }
    }
    let date = now();
    for (user, ids) in theirs {
        let n = ids.len() as i32;
        let pts = state.push_update(user, n, |pts| {
            types::UpdateDeleteMessages {
                messages: ids.clone(),
                pts,
                pts_count: n,
            }
            .into()
        });
        let u: enums::Updates = types::UpdateShort {
            update: types::UpdateDeleteMessages {
                messages: ids,
                pts,
                pts_count: n,
            }
            .into(),
            date,
        }
        .into();
        ctx.push(user, &u);
    }
    let n = removed.len() as i32;
    let pts = if n > 0 {
        let pts = state.push_update(me, n, |pts| {
            types::UpdateDeleteMessages {
                messages: removed.clone(),
                pts,
                pts_count: n,
            }
            .into()
        });
        let u: enums::Updates = types::UpdateShort {
            update: types::UpdateDeleteMessages {
                messages: removed,
                pts,
                pts_count: n,
            }
            .into(),
            date,
        }
        .into();
        ctx.push(me, &u);
        pts
    } else {
        state.updates.get(&me).map_or(0, |s| s.pts)
    };
    ok(enums::messages::AffectedMessages::from(
        types::messages::AffectedMessages { pts, pts_count: n },
    ))
}

/// `messages.getHistory` with Telegram's offsets: messages older than `offset_id` (or
/// `offset_date`), shifted by `add_offset`, at most `limit`, within `(min_id, max_id)`.
pub(crate) fn get_history(ctx: &Ctx<'_>, req: functions::messages::GetHistory) -> RpcResult {
    let me = require_user(ctx)?;
    let channel = super::channels::resolve_peer(
        &ctx.shared.state.lock().expect("not poisoned"),
        me,
        &req.peer,
    )?;
    if let Some(channel) = channel {
        return super::channels::history(ctx, me, channel, &req);
    }
    let state = ctx.shared.state.lock().expect("not poisoned");
    let (target, chat) = match &req.peer {
        enums::InputPeer::Chat(c) => {
            if !state.chats.contains_key(&c.chat_id) {
                return Err(RpcErr::bad_request("CHAT_ID_INVALID"));
            }
            (0, Some(c.chat_id))
        }
        p => (resolve_user(&state, me, p)?, None),
    };
    let all: Vec<&StoredMessage> = state
        .boxes
        .get(&me)
        .map(|b| {
            b.messages
                .values()
                .rev()
                .filter(|m| match chat {
                    Some(c) => m.chat.is_some_and(|(x, _)| x == c),
                    None => m.chat.is_none() && m.peer == target,
                })
                .filter(|m| {
                    (req.max_id <= 0 || m.id < req.max_id) && (req.min_id <= 0 || m.id > req.min_id)
                })
                .collect()
        })
        .unwrap_or_default();
    let (found, count) = page(
        &all,
        req.offset_id,
        req.offset_date,
        req.add_offset,
        req.limit,
    );
    let mut answer = messages_answer(&state, me, found, count)?;
    if count == 0 && chat.is_none() && target != me {
        // Even an empty history names the chat partner.
        let users = vec![
            state.user_tl(me, me, now()),
            state.user_tl(me, target, now()),
        ];
        answer = fleetgram_tl::Serializable::to_bytes(&enums::messages::Messages::from(
            types::messages::Messages {
                messages: vec![],
                topics: vec![],
                chats: vec![],
                users,
            },
        ));
    }
    Ok(answer)
}

/// A `messages.sendMessage` with every option off (fill in peer, message, random_id).
pub(crate) fn send_defaults() -> functions::messages::SendMessage {
    functions::messages::SendMessage {
        no_webpage: false,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: enums::InputPeer::Empty,
        reply_to: None,
        message: String::new(),
        random_id: 0,
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    }
}

/// A `messages.editMessage` with every option off.
pub(crate) fn edit_defaults() -> functions::messages::EditMessage {
    functions::messages::EditMessage {
        no_webpage: false,
        invert_media: false,
        peer: enums::InputPeer::Empty,
        id: 0,
        message: None,
        media: None,
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        quick_reply_shortcut_id: None,
        rich_message: None,
    }
}

fn users_of(state: &State, me: i64, ids: impl IntoIterator<Item = i64>) -> Vec<enums::User> {
    let now = now();
    let set: std::collections::BTreeSet<i64> = ids.into_iter().chain([me]).collect();
    set.into_iter()
        .filter(|u| state.users.contains_key(u))
        .map(|u| state.user_tl(me, u, now))
        .collect()
}

/// `messages.getMessages` (by id in the caller's box).
pub(crate) fn get_messages(ctx: &Ctx<'_>, req: functions::messages::GetMessages) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let my_box = state.boxes.get(&me);
    let mut found = Vec::new();
    for m in &req.id {
        if let enums::InputMessage::ID(m) = m {
            if let Some(msg) = my_box.and_then(|b| b.messages.get(&m.id)) {
                found.push(msg);
            }
        }
    }
    let users = users_of(&state, me, found.iter().flat_map(|m| [m.peer, m.from]));
    let messages = found
        .into_iter()
        .map(|m| {
            let mut x = State::message_tl(m);
            state.refresh_media(&mut x, me);
            x
        })
        .collect();
    ok(enums::messages::Messages::from(types::messages::Messages {
        messages,
        topics: vec![],
        chats: vec![],
        users,
    }))
}

/// `messages.readHistory`: marks the chat read up to `max_id`; the other side learns that its
/// messages were read.
pub(crate) fn read_history(ctx: &Ctx<'_>, req: functions::messages::ReadHistory) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    if let enums::InputPeer::Chat(c) = &req.peer {
        return read_chat_history(ctx, &mut state, me, c.chat_id, req.max_id);
    }
    let peer = resolve_user(&state, me, &req.peer)?;
    let incoming: Vec<(i32, Option<i32>)> = state
        .boxes
        .get(&me)
        .map(|b| {
            b.messages
                .values()
                .filter(|m| m.peer == peer && !m.out)
                .map(|m| (m.id, m.twin))
                .collect()
        })
        .unwrap_or_default();
    let ids: Vec<i32> = incoming.iter().map(|m| m.0).collect();
    let peer_tl: enums::Peer = types::PeerUser { user_id: peer }.into();
    let (max_id, pts) = match read_inbox(ctx, &mut state, me, peer, peer_tl, &ids, req.max_id) {
        Ok(read) => read,
        Err(unchanged) => return unchanged,
    };
    // The sender's side: its outgoing messages up to the twin of max_id are read.
    if peer != me {
        let twin_max = incoming
            .iter()
            .filter(|m| m.0 <= max_id)
            .filter_map(|m| m.1)
            .max();
        if let Some(twin_max) = twin_max {
            let me_tl: enums::Peer = types::PeerUser { user_id: me }.into();
            read_outbox(ctx, &mut state, peer, me, me_tl, twin_max);
        }
    }
    ok(enums::messages::AffectedMessages::from(
        types::messages::AffectedMessages { pts, pts_count: 1 },
    ))
}

/// Marks `me`'s inbox with `key` (a user id, or `-chat`) read up to `max_id` (0: all of
/// `incoming`) and pushes `updateReadHistoryInbox`. `Ok((max_id, pts))` when something
/// changed; `Err(answer)` with the "nothing to do" answer otherwise.
fn read_inbox(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    key: i64,
    peer: enums::Peer,
    incoming: &[i32],
    max_id: i32,
) -> Result<(i32, i32), RpcResult> {
    let last = incoming.iter().copied().max().unwrap_or(0);
    let max_id = if max_id <= 0 { last } else { max_id.min(last) };
    let (inbox, outbox) = state.read.get(&(me, key)).copied().unwrap_or_default();
    if max_id <= inbox {
        let pts = state.updates.get(&me).map_or(0, |s| s.pts);
        return Err(ok(enums::messages::AffectedMessages::from(
            types::messages::AffectedMessages { pts, pts_count: 0 },
        )));
    }
    state.read.insert((me, key), (max_id, outbox));
    state.mark_user(me);
    let still_unread = incoming.iter().filter(|&&id| id > max_id).count() as i32;
    let pts = push_short(ctx, state, me, |pts| {
        types::UpdateReadHistoryInbox {
            folder_id: None,
            peer: peer.clone(),
            top_msg_id: None,
            max_id,
            still_unread_count: still_unread,
            pts,
            pts_count: 1,
        }
        .into()
    });
    Ok((max_id, pts))
}

/// Tells `sender` that its outgoing messages to `key` (a user id, or `-chat`) were read up to
/// `max_id` (in its own ids), unless it already knew.
fn read_outbox(
    ctx: &Ctx<'_>,
    state: &mut State,
    sender: i64,
    key: i64,
    peer: enums::Peer,
    max_id: i32,
) {
    let (their_inbox, their_outbox) = state.read.get(&(sender, key)).copied().unwrap_or_default();
    if max_id <= their_outbox {
        return;
    }
    state.read.insert((sender, key), (their_inbox, max_id));
    state.mark_user(sender);
    push_short(ctx, state, sender, |pts| {
        types::UpdateReadHistoryOutbox {
            peer: peer.clone(),
            max_id,
            pts,
            pts_count: 1,
        }
        .into()
    });
}

/// Appends one update (pts_count 1) to `user`'s pts sequence and pushes it to `user`'s
/// other sessions as `updateShort`; returns its pts.
fn push_short(
    ctx: &Ctx<'_>,
    state: &mut State,
    user: i64,
    make: impl Fn(i32) -> enums::Update,
) -> i32 {
    let pts = state.push_update(user, 1, &make);
    ctx.push(
        user,
        &enums::Updates::from(types::UpdateShort {
            update: make(pts),
            date: now(),
        }),
    );
    pts
}

/// `messages.readHistory` in a group: this member's inbox, and each sender's outbox.
fn read_chat_history(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    chat: i64,
    max_id: i32,
) -> RpcResult {
    super::chats::member_chat(state, me, chat)?;
    let key = -chat;
    let incoming: Vec<(i32, i64, i64)> = state
        .boxes
        .get(&me)
        .map(|b| {
            b.messages
                .values()
                .filter_map(|m| {
                    m.chat
                        .filter(|(c, _)| *c == chat && !m.out)
                        .map(|(_, gid)| (m.id, gid, m.from))
                })
                .collect()
        })
        .unwrap_or_default();
    let ids: Vec<i32> = incoming.iter().map(|m| m.0).collect();
    let chat_peer: enums::Peer = types::PeerChat { chat_id: chat }.into();
    let (max_id, pts) = match read_inbox(ctx, state, me, key, chat_peer.clone(), &ids, max_id) {
        Ok(read) => read,
        Err(unchanged) => return unchanged,
    };
    // Each sender learns how far its messages were read, in its own ids.
    let mut senders: std::collections::BTreeMap<i64, i32> = Default::default();
    for (_, gid, from) in incoming.iter().filter(|m| m.0 <= max_id && m.2 != me) {
        if let Some((_, their)) = state
            .group_copies
            .get(gid)
            .and_then(|c| c.iter().find(|(u, _)| u == from))
        {
            let e = senders.entry(*from).or_default();
            *e = (*e).max(*their);
        }
    }
    for (sender, their_max) in senders {
        read_outbox(ctx, state, sender, key, chat_peer.clone(), their_max);
    }
    ok(enums::messages::AffectedMessages::from(
        types::messages::AffectedMessages { pts, pts_count: 1 },
    ))
}

/// `messages.setTyping`: the other side sees `updateUserTyping`.
pub(crate) fn set_typing(ctx: &Ctx<'_>, req: functions::messages::SetTyping) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    if let Some(ch) = super::channels::resolve_peer(&state, me, &req.peer)? {
        super::channels::check_can_post(&state, me, ch)?;
        let update = enums::Updates::from(types::UpdateShort {
            update: types::UpdateChannelUserTyping {
                channel_id: ch,
                top_msg_id: req.top_msg_id,
                from_id: types::PeerUser { user_id: me }.into(),
                action: req.action.clone(),
            }
            .into(),
            date: now(),
        });
        for member in state.channels[&ch].members.keys().filter(|m| **m != me) {
            ctx.push(*member, &update);
        }
        return ok(true);
    }
    if let enums::InputPeer::Chat(c) = &req.peer {
        let chat = super::chats::member_chat(&state, me, c.chat_id)?;
        let u = types::UpdateChatUserTyping {
            chat_id: c.chat_id,
            from_id: types::PeerUser { user_id: me }.into(),
            action: req.action.clone(),
        };
        let update = enums::Updates::from(types::UpdateShort {
            update: u.into(),
            date: now(),
        });
        for (member, _, _) in chat.members.iter().filter(|m| m.0 != me) {
            ctx.push(*member, &update);
        }
        return ok(true);
    }
    let peer = resolve_user(&state, me, &req.peer)?;
    if peer != me && !state.has_blocked(peer, me) {
        let u = types::UpdateUserTyping {
            user_id: me,
            top_msg_id: req.top_msg_id,
            action: req.action.clone(),
        };
        ctx.push(
            peer,
            &enums::Updates::from(types::UpdateShort {
                update: u.into(),
                date: now(),
            }),
        );
    }
    ok(true)
}

/// The dialog a message belongs to: a user (positive) or a group (negative id).
fn dialog_key(m: &StoredMessage) -> i64 {
    match m.chat {
        Some((c, _)) => -c,
        None => m.peer,
    }
}

/// `messages.getDialogs`: one dialog per private chat, group and joined channel, newest
/// first; a page starts after the dialog named by `offset_peer` (or, without it, before
/// `offset_date`).
pub(crate) fn get_dialogs(ctx: &Ctx<'_>, req: functions::messages::GetDialogs) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    // (dialog key, top message): private chats and groups from the account's box, channels
    // (key: the channel's box) from theirs.
    let mut tops: std::collections::HashMap<i64, &StoredMessage> = Default::default();
    if let Some(b) = state.boxes.get(&me) {
        for m in b.messages.values() {
            let e = tops.entry(dialog_key(m)).or_insert(m);
            if m.id > e.id {
                *e = m;
            }
        }
    }
    for (id, ch) in &state.channels {
        if !ch.members.contains_key(&me) {
            continue;
        }
        let bx = crate::state::channel_box(*id);
        if let Some(m) = state
            .boxes
            .get(&bx)
            .and_then(|b| b.messages.values().next_back())
        {
            tops.insert(bx, m);
        }
    }
    let mut list: Vec<(i64, &StoredMessage)> = tops.into_iter().collect();
    list.sort_by_key(|(k, m)| std::cmp::Reverse((m.date, m.id, *k)));
    let total = list.len();
    let key_of = |p: &enums::InputPeer| -> Option<i64> {
        match p {
            enums::InputPeer::Empty => None,
            enums::InputPeer::Chat(c) => Some(-c.chat_id),
            enums::InputPeer::Channel(c) => Some(crate::state::channel_box(c.channel_id)),
            other => resolve_user(&state, me, other).ok(),
        }
    };
    if let Some(k) = key_of(&req.offset_peer) {
        match list.iter().position(|(x, _)| *x == k) {
            Some(i) => {
                list.drain(..=i);
            }
            None => list.retain(|(_, m)| req.offset_date <= 0 || m.date < req.offset_date),
        }
    } else if req.offset_date > 0 {
        list.retain(|(_, m)| m.date < req.offset_date);
    }
    let limit = if req.limit <= 0 {
        20
    } else {
        req.limit.min(100) as usize
    };
    list.truncate(limit);
    let mut dialogs = Vec::new();
    let mut messages = Vec::new();
    let mut chats: Vec<enums::Chat> = Vec::new();
    let mut user_ids = Vec::new();
    for (key, m) in &list {
        let (inbox, outbox) = state.read.get(&(me, *key)).copied().unwrap_or_default();
        let channel =
            (*key <= crate::state::channel_box(0)).then(|| crate::state::channel_box(0) - key);
        let (peer, unread, mentions): (enums::Peer, i32, i32) = match (channel, m.chat) {
            (Some(id), _) => {
                chats.push(super::channels::channel_tl(&state, me, id));
                messages.push(super::channels::message_tl(&state, id, m, me));
                let unread = state
                    .boxes
                    .get(key)
                    .map_or(0, |b| b.messages.range(inbox + 1..).count())
                    as i32;
                let mentions = state.channel_mentions.get(&(me, id)).map_or(0, |s| s.len());
                (
                    types::PeerChannel { channel_id: id }.into(),
                    unread,
                    mentions as i32,
                )
            }
            (None, chat) => {
                if let Some((c, _)) = chat {
                    chats.push(state.chat_tl(me, c));
                }
                user_ids.extend([m.peer, m.from]);
                let mut x = State::message_tl(m);
                state.refresh_media(&mut x, me);
                messages.push(x);
                // Unread messages and unread mentions, in one pass over the box.
                let (mut unread, mut mentions) = (0, 0);
                for x in state.boxes[&me].messages.values() {
                    if dialog_key(x) == *key && !x.out {
                        unread += i32::from(x.id > inbox);
                        mentions += i32::from(x.unread_mention);
                    }
                }
                let peer = match chat {
                    Some((c, _)) => types::PeerChat { chat_id: c }.into(),
                    None => types::PeerUser { user_id: m.peer }.into(),
                };
                (peer, unread, mentions)
            }
        };
        dialogs.push(
            types::Dialog {
                pinned: false,
                unread_mark: false,
                view_forum_as_messages: false,
                peer,
                top_message: m.id,
                read_inbox_max_id: inbox,
                read_outbox_max_id: outbox,
                unread_count: unread,
                unread_mentions_count: mentions,
                unread_reactions_count: 0,
                unread_poll_votes_count: 0,
                notify_settings: types::PeerNotifySettings::default().into(),
                pts: channel.and_then(|id| {
                    state
                        .updates
                        .get(&crate::state::channel_box(id))
                        .map(|s| s.pts)
                }),
                draft: None,
                folder_id: None,
                ttl_period: None,
            }
            .into(),
        );
    }
    let users = users_of(&state, me, user_ids);
    if list.len() < total {
        return ok(enums::messages::Dialogs::from(
            types::messages::DialogsSlice {
                count: total as i32,
                dialogs,
                messages,
                chats,
                users,
            },
        ));
    }
    ok(enums::messages::Dialogs::from(types::messages::Dialogs {
        dialogs,
        messages,
        chats,
        users,
    }))
}

/// `messages.deleteHistory` of a private chat or basic group: this account's copies (and,
/// with `revoke` in a private chat, the other side's), in batches of 100 (`offset` > 0:
/// call again).
pub(crate) fn delete_history(ctx: &Ctx<'_>, req: functions::messages::DeleteHistory) -> RpcResult {
    let me = require_user(ctx)?;
    let ids: Vec<i32> = {
        let state = ctx.shared.state.lock().expect("not poisoned");
        if super::channels::resolve_peer(&state, me, &req.peer)?.is_some() {
            return Err(RpcErr::bad_request("PEER_ID_INVALID"));
        }
        let key = match &req.peer {
            enums::InputPeer::Chat(c) => -c.chat_id,
            p => resolve_user(&state, me, p)?,
        };
        state
            .boxes
            .get(&me)
            .map(|b| {
                b.messages
                    .values()
                    .filter(|m| dialog_key(m) == key)
                    .filter(|m| req.max_id <= 0 || m.id <= req.max_id)
                    .filter(|m| req.min_date.is_none_or(|d| m.date >= d))
                    .filter(|m| req.max_date.is_none_or(|d| m.date <= d))
                    .map(|m| m.id)
                    .collect()
            })
            .unwrap_or_default()
    };
    let batch: Vec<i32> = ids.iter().copied().take(100).collect();
    let more = ids.len() > batch.len();
    let (pts, count) = if batch.is_empty() {
        let state = ctx.shared.state.lock().expect("not poisoned");
        (state.updates.get(&me).map_or(0, |s| s.pts), 0)
    } else {
        let r = delete_messages(
            ctx,
            functions::messages::DeleteMessages {
                revoke: req.revoke,
                id: batch,
            },
        )?;
        let enums::messages::AffectedMessages::AffectedMessages(a) =
            <enums::messages::AffectedMessages as fleetgram_tl::Deserializable>::from_bytes(&r)?;
        (a.pts, a.pts_count)
    };
    ok(enums::messages::AffectedHistory::from(
        types::messages::AffectedHistory {
            pts,
            pts_count: count,
            offset: i32::from(more),
        },
    ))
}

/// `messages.readMentions`: every unread mention in the chat is read (`updateReadMessagesContents`
/// in a group, `updateChannelReadMessagesContents` in a channel).
pub(crate) fn read_mentions(ctx: &Ctx<'_>, req: functions::messages::ReadMentions) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let unchanged = |state: &State| {
        ok(enums::messages::AffectedHistory::from(
            types::messages::AffectedHistory {
                pts: state.updates.get(&me).map_or(0, |s| s.pts),
                pts_count: 0,
                offset: 0,
            },
        ))
    };
    if let Some(id) = super::channels::resolve_peer(&state, me, &req.peer)? {
        super::channels::require_read(&state, me, id)?;
        super::channels::read_mentions(ctx, &mut state, me, id, None);
        return unchanged(&state);
    }
    let enums::InputPeer::Chat(c) = &req.peer else {
        // Private chats have no mentions.
        resolve_user(&state, me, &req.peer)?;
        return unchanged(&state);
    };
    super::chats::member_chat(&state, me, c.chat_id)?;
    let ids = chat_mentions(&state, me, c.chat_id);
    read_own_contents(ctx, &mut state, me, &ids).map_or_else(
        || unchanged(&state),
        |pts| {
            ok(enums::messages::AffectedHistory::from(
                types::messages::AffectedHistory {
                    pts,
                    pts_count: 1,
                    offset: 0,
                },
            ))
        },
    )
}

/// `me`'s unread mentions in basic group `chat`, newest first.
fn chat_mentions(state: &State, me: i64, chat: i64) -> Vec<i32> {
    state.boxes.get(&me).map_or_else(Vec::new, |b| {
        b.messages
            .values()
            .rev()
            .filter(|m| m.unread_mention && m.chat.is_some_and(|(c, _)| c == chat))
            .map(|m| m.id)
            .collect()
    })
}

/// Marks the unread mentions among `ids` (in `me`'s own box) read; `Some(pts)` of the
/// `updateReadMessagesContents` when there were any.
fn read_own_contents(ctx: &Ctx<'_>, state: &mut State, me: i64, ids: &[i32]) -> Option<i32> {
    let mut read = Vec::new();
    for id in ids {
        if let Some(m) = state
            .boxes
            .get_mut(&me)
            .and_then(|b| b.messages.get_mut(id))
            .filter(|m| m.unread_mention)
        {
            m.unread_mention = false;
            read.push(*id);
        }
    }
    if read.is_empty() {
        return None;
    }
    for id in &read {
        state.mark_message(me, *id);
    }
    Some(push_short(ctx, state, me, |pts| {
        types::UpdateReadMessagesContents {
            messages: read.clone(),
            pts,
            pts_count: 1,
            date: None,
        }
        .into()
    }))
}

/// `messages.readMessageContents` (private chats and groups): the mentions among `id` are
/// read.
pub(crate) fn read_message_contents(
    ctx: &Ctx<'_>,
    req: functions::messages::ReadMessageContents,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let (pts, pts_count) = match read_own_contents(ctx, &mut state, me, &req.id) {
        Some(pts) => (pts, 1),
        None => (state.updates.get(&me).map_or(0, |s| s.pts), 0),
    };
    ok(enums::messages::AffectedMessages::from(
        types::messages::AffectedMessages { pts, pts_count },
    ))
}

/// `messages.getUnreadMentions`: the unread mentions of a group or channel, newest first.
pub(crate) fn get_unread_mentions(
    ctx: &Ctx<'_>,
    req: functions::messages::GetUnreadMentions,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    if let Some(id) = super::channels::resolve_peer(&state, me, &req.peer)? {
        return super::channels::unread_mentions(&state, me, id, &req);
    }
    let ids = match &req.peer {
        enums::InputPeer::Chat(c) => {
            super::chats::member_chat(&state, me, c.chat_id)?;
            chat_mentions(&state, me, c.chat_id)
        }
        other => {
            resolve_user(&state, me, other)?;
            Vec::new()
        }
    };
    let b = &state.boxes[&me];
    let all: Vec<&StoredMessage> = ids
        .iter()
        .filter(|&&m| (req.max_id <= 0 || m < req.max_id) && (req.min_id <= 0 || m > req.min_id))
        .filter_map(|m| b.messages.get(m))
        .collect();
    let (found, count) = page(&all, req.offset_id, 0, req.add_offset, req.limit);
    messages_answer(&state, me, found, count)
}

/// The channel an invite or join-request call is about (basic groups get theirs by migrating
/// to a supergroup, as Telegram clients do).
fn invite_channel(ctx: &Ctx<'_>, me: i64, peer: &enums::InputPeer) -> Result<i64, RpcErr> {
    let state = ctx.shared.state.lock().expect("not poisoned");
    match super::channels::resolve_peer(&state, me, peer)? {
        Some(id) => Ok(id),
        None if matches!(peer, enums::InputPeer::Chat(_)) => {
            Err(RpcErr::bad_request("CHAT_INVALID"))
        }
        None => Err(RpcErr::bad_request("PEER_ID_INVALID")),
    }
}

/// `messages.exportChatInvite`.
pub(crate) fn export_chat_invite(
    ctx: &Ctx<'_>,
    req: functions::messages::ExportChatInvite,
) -> RpcResult {
    let me = require_user(ctx)?;
    let id = invite_channel(ctx, me, &req.peer)?;
    super::channels::export_invite(ctx, me, id, req)
}

/// `messages.hideChatJoinRequest`.
pub(crate) fn hide_chat_join_request(
    ctx: &Ctx<'_>,
    req: functions::messages::HideChatJoinRequest,
) -> RpcResult {
    let me = require_user(ctx)?;
    let id = invite_channel(ctx, me, &req.peer)?;
    super::channels::hide_join_request(ctx, me, id, req)
}
