//! Basic groups: create, add and remove members, rename, full info, and posting into them
//! (each member's box gets its own copy; members see `updateShortChatMessage`, service
//! messages arrive as `updates` with the chat).

use super::{now, ok, require_user, Ctx, RpcErr, RpcResult};
use crate::state::{Chat, State, StoredMessage};
use fleetgram_tl::{enums, functions, types};

/// The group `chat` if `me` is a member.
pub(crate) fn member_chat(state: &State, me: i64, chat: i64) -> Result<&Chat, RpcErr> {
    let c = state
        .chats
        .get(&chat)
        .ok_or_else(|| RpcErr::bad_request("CHAT_ID_INVALID"))?;
    if !c.members.iter().any(|m| m.0 == me) {
        return Err(RpcErr::new(403, "CHAT_WRITE_FORBIDDEN"));
    }
    Ok(c)
}

/// What a new group message carries.
pub(crate) struct ChatPost {
    pub text: String,
    pub entities: Vec<enums::MessageEntity>,
    pub reply_to: Option<i32>,
    pub silent: bool,
    pub random_id: Option<i64>,
    pub action: Option<enums::MessageAction>,
    /// Original author and date, for a forwarded message.
    pub fwd_from: Option<(i64, i32)>,
    pub reply_markup: Option<enums::ReplyMarkup>,
    pub media: Option<enums::MessageMedia>,
}

/// Posts into group `chat` as `me`: one copy per member, updates pushed to everyone else.
/// Returns the sender's copy and pts.
pub(crate) fn post_chat(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    chat: i64,
    post: ChatPost,
) -> Result<(StoredMessage, i32), RpcErr> {
    let members: Vec<i64> = member_chat(state, me, chat)?
        .members
        .iter()
        .map(|m| m.0)
        .collect();
    // The replied-to message, to map onto each member's copy.
    let reply_gid = match post.reply_to {
        Some(r) => Some(
            state
                .boxes
                .get(&me)
                .and_then(|b| b.messages.get(&r))
                .and_then(|m| m.chat)
                .filter(|(c, _)| *c == chat)
                .map(|(_, gid)| gid)
                .ok_or_else(|| RpcErr::bad_request("REPLY_MESSAGE_ID_INVALID"))?,
        ),
        None => None,
    };
    let gid = state.new_gid();
    let date = now();
    // Who it mentions, judged on the sender's side (where `reply_to` points).
    let mentioned = if post.action.is_some() {
        Vec::new()
    } else {
        let probe = StoredMessage {
            from: me,
            text: post.text.clone(),
            entities: post.entities.clone(),
            reply_to: post.reply_to,
            ..StoredMessage::default()
        };
        state.mentioned_users(me, &probe)
    };
    let mut mine = None;
    for u in members {
        let reply_to = reply_gid
            .and_then(|g| state.group_copies.get(&g))
            .and_then(|c| c.iter().find(|(x, _)| *x == u))
            .map(|(_, id)| *id);
        let b = state.boxes.entry(u).or_default();
        let id = b.next_id.max(1);
        b.next_id = id + 1;
        if u == me {
            if let Some(r) = post.random_id {
                b.random_ids.insert(r, id);
            }
        }
        let m = StoredMessage {
            id,
            peer: 0,
            out: u == me,
            from: me,
            date,
            text: post.text.clone(),
            entities: post.entities.clone(),
            reply_to,
            edit_date: None,
            silent: post.silent,
            twin: None,
            random_id: if u == me { post.random_id } else { None },
            fwd_from: post.fwd_from,
            pinned: false,
            chat: Some((chat, gid)),
            action: post.action.clone(),
            reply_markup: post.reply_markup.clone(),
            media: post.media.clone(),
            discussion: None,
            mentioned: mentioned.contains(&u),
            unread_mention: mentioned.contains(&u),
        };
        let msg = State::message_tl(&m);
        let pts = state.push_update(u, 1, |pts| {
            types::UpdateNewMessage {
                message: msg.clone(),
                pts,
                pts_count: 1,
            }
            .into()
        });
        let push: enums::Updates =
            if m.action.is_some() || m.reply_markup.is_some() || m.media.is_some() {
                let users = chat_users(state, u, chat, &[me]);
                types::Updates {
                    updates: vec![types::UpdateNewMessage {
                        message: msg,
                        pts,
                        pts_count: 1,
                    }
                    .into()],
                    users,
                    chats: vec![state.chat_tl(u, chat)],
                    date,
                    seq: 0,
                }
                .into()
            } else {
                types::UpdateShortChatMessage {
                    out: m.out,
                    mentioned: m.mentioned,
                    media_unread: m.unread_mention,
                    silent: m.silent,
                    id,
                    from_id: me,
                    chat_id: chat,
                    message: m.text.clone(),
                    pts,
                    pts_count: 1,
                    date,
                    fwd_from: crate::state::fwd_header(m.fwd_from),
                    via_bot_id: None,
                    reply_to: reply_to.map(|id| {
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
            };
        ctx.push(u, &push);
        state.group_copies.entry(gid).or_default().push((u, id));
        state
            .boxes
            .entry(u)
            .or_default()
            .messages
            .insert(id, m.clone());
        state.mark_message(u, id);
        if u == me {
            mine = Some((m, pts));
        }
    }
    mine.ok_or_else(|| RpcErr::new(403, "CHAT_WRITE_FORBIDDEN"))
}

/// Every member of `chat` (and `extra`), as `viewer` sees them.
fn chat_users(state: &State, viewer: i64, chat: i64, extra: &[i64]) -> Vec<enums::User> {
    let now = now();
    let mut ids: Vec<i64> = state
        .chats
        .get(&chat)
        .map(|c| c.members.iter().map(|m| m.0).collect())
        .unwrap_or_default();
    ids.extend_from_slice(extra);
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter(|u| state.users.contains_key(u))
        .map(|u| state.user_tl(viewer, u, now))
        .collect()
}

fn service_updates(
    state: &State,
    me: i64,
    chat: i64,
    m: &StoredMessage,
    pts: i32,
    extra: &[i64],
) -> enums::Updates {
    types::Updates {
        updates: vec![types::UpdateNewMessage {
            message: State::message_tl(m),
            pts,
            pts_count: 1,
        }
        .into()],
        users: chat_users(state, me, chat, extra),
        chats: vec![state.chat_tl(me, chat)],
        date: m.date,
        seq: 0,
    }
    .into()
}

fn service(action: enums::MessageAction) -> ChatPost {
    ChatPost {
        text: String::new(),
        entities: vec![],
        reply_to: None,
        silent: false,
        random_id: None,
        action: Some(action),
        fwd_from: None,
        reply_markup: None,
        media: None,
    }
}

fn input_user(state: &State, me: i64, u: &enums::InputUser) -> Result<i64, RpcErr> {
    let id = match u {
        enums::InputUser::InputUserSelf => me,
        enums::InputUser::InputUser(u) if state.hash_ok(me, u.user_id, u.access_hash) => u.user_id,
        enums::InputUser::FromMessage(u) => u.user_id,
        _ => return Err(RpcErr::bad_request("USER_ID_INVALID")),
    };
    if !state.users.contains_key(&id) {
        return Err(RpcErr::bad_request("USER_ID_INVALID"));
    }
    Ok(id)
}

/// `messages.createChat`.
pub(crate) fn create_chat(ctx: &Ctx<'_>, req: functions::messages::CreateChat) -> RpcResult {
    let me = require_user(ctx)?;
    let title = req.title.trim().to_string();
    if title.is_empty() {
        return Err(RpcErr::bad_request("CHAT_TITLE_EMPTY"));
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let mut members = vec![me];
    for u in &req.users {
        let id = input_user(&state, me, u)?;
        if !members.contains(&id) {
            members.push(id);
        }
    }
    let date = now();
    let id = state.new_chat_id();
    state.chats.insert(
        id,
        Chat {
            title: title.clone(),
            creator: me,
            members: members.iter().map(|&u| (u, me, date)).collect(),
            date,
            version: 1,
        },
    );
    state.mark_chat(id);
    let (m, pts) = post_chat(
        ctx,
        &mut state,
        me,
        id,
        service(
            types::MessageActionChatCreate {
                title,
                users: members,
            }
            .into(),
        ),
    )?;
    let updates = service_updates(&state, me, id, &m, pts, &[]);
    ok(enums::messages::InvitedUsers::from(
        types::messages::InvitedUsers {
            updates,
            missing_invitees: vec![],
        },
    ))
}

/// `messages.addChatUser`.
pub(crate) fn add_chat_user(ctx: &Ctx<'_>, req: functions::messages::AddChatUser) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    member_chat(&state, me, req.chat_id)?;
    let user = input_user(&state, me, &req.user_id)?;
    let chat = state.chats.get_mut(&req.chat_id).expect("checked");
    if chat.members.iter().any(|m| m.0 == user) {
        return Err(RpcErr::bad_request("USER_ALREADY_PARTICIPANT"));
    }
    chat.members.push((user, me, now()));
    chat.version += 1;
    state.mark_chat(req.chat_id);
    let (m, pts) = post_chat(
        ctx,
        &mut state,
        me,
        req.chat_id,
        service(types::MessageActionChatAddUser { users: vec![user] }.into()),
    )?;
    let updates = service_updates(&state, me, req.chat_id, &m, pts, &[]);
    ok(enums::messages::InvitedUsers::from(
        types::messages::InvitedUsers {
            updates,
            missing_invitees: vec![],
        },
    ))
}

/// `messages.deleteChatUser`: leave, or (as the creator) remove someone.
pub(crate) fn delete_chat_user(
    ctx: &Ctx<'_>,
    req: functions::messages::DeleteChatUser,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let chat = member_chat(&state, me, req.chat_id)?;
    let creator = chat.creator;
    let user = input_user(&state, me, &req.user_id)?;
    if !state.chats[&req.chat_id]
        .members
        .iter()
        .any(|m| m.0 == user)
    {
        return Err(RpcErr::bad_request("USER_NOT_PARTICIPANT"));
    }
    if user != me && creator != me {
        return Err(RpcErr::bad_request("CHAT_ADMIN_REQUIRED"));
    }
    // Everyone, the removed member included, sees the service message.
    let (m, pts) = post_chat(
        ctx,
        &mut state,
        me,
        req.chat_id,
        service(types::MessageActionChatDeleteUser { user_id: user }.into()),
    )?;
    let chat = state.chats.get_mut(&req.chat_id).expect("checked");
    chat.members.retain(|m| m.0 != user);
    chat.version += 1;
    state.mark_chat(req.chat_id);
    ok(service_updates(&state, me, req.chat_id, &m, pts, &[user]))
}

/// `messages.editChatTitle`.
pub(crate) fn edit_chat_title(ctx: &Ctx<'_>, req: functions::messages::EditChatTitle) -> RpcResult {
    let me = require_user(ctx)?;
    let title = req.title.trim().to_string();
    if title.is_empty() {
        return Err(RpcErr::bad_request("CHAT_TITLE_EMPTY"));
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    if member_chat(&state, me, req.chat_id)?.title == title {
        return Err(RpcErr::bad_request("CHAT_NOT_MODIFIED"));
    }
    let chat = state.chats.get_mut(&req.chat_id).expect("checked");
    chat.title = title.clone();
    chat.version += 1;
    state.mark_chat(req.chat_id);
    let (m, pts) = post_chat(
        ctx,
        &mut state,
        me,
        req.chat_id,
        service(types::MessageActionChatEditTitle { title }.into()),
    )?;
    ok(service_updates(&state, me, req.chat_id, &m, pts, &[]))
}

/// `messages.getFullChat`.
pub(crate) fn get_full_chat(ctx: &Ctx<'_>, req: functions::messages::GetFullChat) -> RpcResult {
    use fleetgram_tl::dynamic::{schema, Object, Value};
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let chat = member_chat(&state, me, req.chat_id)?;
    let participants: Vec<Value> = chat
        .members
        .iter()
        .map(|(u, inviter, date)| {
            Value::Object(if *u == chat.creator {
                Object::new("chatParticipantCreator").with("user_id", Value::Long(*u))
            } else {
                Object::new("chatParticipant")
                    .with("user_id", Value::Long(*u))
                    .with("inviter_id", Value::Long(*inviter))
                    .with("date", Value::Int(*date))
            })
        })
        .collect();
    let full = Object::new("chatFull")
        .with("id", Value::Long(req.chat_id))
        .with("about", Value::String(String::new()))
        .with(
            "participants",
            Value::Object(
                Object::new("chatParticipants")
                    .with("chat_id", Value::Long(req.chat_id))
                    .with("participants", Value::Vector(participants))
                    .with("version", Value::Int(chat.version)),
            ),
        )
        .with(
            "notify_settings",
            Value::Object(Object::new("peerNotifySettings")),
        );
    let internal = |_| RpcErr::new(500, "INTERNAL");
    let chats = vec![Value::Object(
        schema()
            .decode(&fleetgram_tl::Serializable::to_bytes(
                &state.chat_tl(me, req.chat_id),
            ))
            .map_err(internal)?,
    )];
    let users = chat_users(&state, me, req.chat_id, &[])
        .iter()
        .map(|u| {
            schema()
                .decode(&fleetgram_tl::Serializable::to_bytes(u))
                .map(Value::Object)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    let answer = Object::new("messages.chatFull")
        .with("full_chat", Value::Object(full))
        .with("chats", Value::Vector(chats))
        .with("users", Value::Vector(users));
    schema()
        .encode(&answer)
        .map_err(|_| RpcErr::new(500, "INTERNAL"))
}
