//! Channels and supergroups: one copy of each message, a pts sequence per channel
//! (`updates.getChannelDifference`), members with admin rights, bans and restrictions,
//! usernames, invite links and join requests.
//!
//! A channel's messages and pts log live in the box [`channel_box`]`(id)`, next to the
//! users' boxes, so they are stored and trimmed the same way.

use super::{now, ok, require_user, Ctx, RpcErr, RpcResult};
use crate::state::{
    channel_box, Admin, Banned, Channel, Invite, Member, State, StoredMessage, UserBox,
};
use fleetgram_tl::{enums, functions, types};

/// Messages a user may fetch per `getChannelDifference` (bots get more, as on Telegram).
const USER_DIFF_LIMIT: i32 = 100;
const BOT_DIFF_LIMIT: i32 = 100_000;

/// The channel an `InputChannel` names, checking its access hash.
pub(crate) fn resolve(state: &State, me: i64, c: &enums::InputChannel) -> Result<i64, RpcErr> {
    let id = match c {
        enums::InputChannel::InputChannel(c) if state.hash_ok(me, c.channel_id, c.access_hash) => {
            c.channel_id
        }
        enums::InputChannel::FromMessage(c) => c.channel_id,
        _ => return Err(RpcErr::bad_request("CHANNEL_INVALID")),
    };
    if !state.channels.contains_key(&id) {
        return Err(RpcErr::bad_request("CHANNEL_INVALID"));
    }
    Ok(id)
}

/// The channel an `InputPeer` names, if it names one (access hash checked).
pub(crate) fn resolve_peer(
    state: &State,
    me: i64,
    p: &enums::InputPeer,
) -> Result<Option<i64>, RpcErr> {
    let c: enums::InputChannel = match p {
        enums::InputPeer::Channel(c) => types::InputChannel {
            channel_id: c.channel_id,
            access_hash: c.access_hash,
        }
        .into(),
        enums::InputPeer::ChannelFromMessage(c) => types::InputChannelFromMessage {
            peer: c.peer.clone(),
            msg_id: c.msg_id,
            channel_id: c.channel_id,
        }
        .into(),
        _ => return Ok(None),
    };
    resolve(state, me, &c).map(Some)
}

fn channel(state: &State, id: i64) -> &Channel {
    &state.channels[&id]
}

/// Every right, as the creator has them.
fn all_rights() -> types::ChatAdminRights {
    types::ChatAdminRights {
        change_info: true,
        post_messages: true,
        edit_messages: true,
        delete_messages: true,
        ban_users: true,
        invite_users: true,
        pin_messages: true,
        add_admins: true,
        manage_call: true,
        other: true,
        ..Default::default()
    }
}

/// `me`'s admin rights in `ch` (the creator has all).
fn rights_of(ch: &Channel, me: i64) -> Option<types::ChatAdminRights> {
    if ch.creator == me {
        return Some(all_rights());
    }
    ch.members
        .get(&me)
        .and_then(|m| m.admin.as_ref())
        .map(|a| a.rights.clone())
}

fn require_right(
    ch: &Channel,
    me: i64,
    right: impl Fn(&types::ChatAdminRights) -> bool,
) -> Result<(), RpcErr> {
    match rights_of(ch, me) {
        Some(r) if right(&r) => Ok(()),
        _ => Err(RpcErr::bad_request("CHAT_ADMIN_REQUIRED")),
    }
}

fn is_kicked(ch: &Channel, user: i64, now: i32) -> bool {
    ch.kicked.get(&user).is_some_and(|b| b.active(now))
}

/// Whether `me` may read `ch`: a member, or anyone not banned when it is public.
fn can_read(ch: &Channel, me: i64, now: i32) -> bool {
    ch.members.contains_key(&me) || (ch.username.is_some() && !is_kicked(ch, me, now))
}

pub(crate) fn require_read(state: &State, me: i64, id: i64) -> Result<(), RpcErr> {
    if can_read(channel(state, id), me, now()) {
        Ok(())
    } else {
        Err(RpcErr::bad_request("CHANNEL_PRIVATE"))
    }
}

/// The `Chat` object of channel `id` as `viewer` sees it.
pub(crate) fn channel_tl(state: &State, viewer: i64, id: i64) -> enums::Chat {
    let Some(ch) = state.channels.get(&id) else {
        return types::ChatEmpty { id }.into();
    };
    let now = now();
    if let Some(b) = ch.kicked.get(&viewer).filter(|b| b.active(now)) {
        return types::ChannelForbidden {
            broadcast: !ch.megagroup,
            megagroup: ch.megagroup,
            monoforum: false,
            id,
            access_hash: state.access_hash(viewer, id),
            title: ch.title.clone(),
            until_date: (b.rights.until_date != 0).then_some(b.rights.until_date),
        }
        .into();
    }
    let member = ch.members.get(&viewer);
    types::Channel {
        creator: ch.creator == viewer,
        left: member.is_none(),
        broadcast: !ch.megagroup,
        megagroup: ch.megagroup,
        id,
        access_hash: Some(state.access_hash(viewer, id)),
        title: ch.title.clone(),
        username: ch.username.clone(),
        photo: enums::ChatPhoto::Empty,
        date: member.map_or(ch.date, |m| m.date),
        admin_rights: rights_of(ch, viewer)
            .filter(|_| ch.creator != viewer || member.is_some())
            .map(Into::into),
        banned_rights: member
            .and_then(|m| m.restricted.as_ref())
            .filter(|b| b.active(now))
            .map(|b| b.rights.clone().into()),
        participants_count: Some(ch.members.len() as i32),
        has_link: ch.linked.is_some(),
        ..blank_channel()
    }
    .into()
}

/// The `Message` object of a channel message as `viewer` sees it.
pub(crate) fn message_tl(state: &State, id: i64, m: &StoredMessage, viewer: i64) -> enums::Message {
    let post = !channel(state, id).megagroup;
    let peer: enums::Peer = types::PeerChannel { channel_id: id }.into();
    match State::message_tl(m) {
        enums::Message::Message(mut x) => {
            x.peer_id = peer;
            x.out = m.from == viewer && m.discussion.is_none();
            x.post = post;
            if post {
                x.from_id = None;
            }
            if let Some((c, p)) = m.discussion {
                // The automatic forward of a channel post: from the channel itself.
                let from: enums::Peer = types::PeerChannel { channel_id: c }.into();
                x.from_id = Some(from.clone());
                x.fwd_from = Some(
                    types::MessageFwdHeader {
                        from_id: Some(from.clone()),
                        date: m.date,
                        channel_post: Some(p),
                        saved_from_peer: Some(from),
                        saved_from_msg_id: Some(p),
                        ..Default::default()
                    }
                    .into(),
                );
            }
            if let (Some(r), Some(b)) = (m.reply_to, state.boxes.get(&channel_box(id))) {
                let top = top_of(b, r);
                x.reply_to = Some(
                    types::MessageReplyHeader {
                        reply_to_msg_id: Some(r),
                        reply_to_top_id: (top != r).then_some(top),
                        ..Default::default()
                    }
                    .into(),
                );
            }
            x.replies = replies_tl(state, id, m);
            if viewer != 0 {
                x.media_unread = state
                    .channel_mentions
                    .get(&(viewer, id))
                    .is_some_and(|s| s.contains(&m.id));
                x.mentioned = x.media_unread
                    || (m.discussion.is_none()
                        && state.mentioned_users(channel_box(id), m).contains(&viewer));
            }
            enums::Message::Message(x)
        }
        enums::Message::Service(mut x) => {
            x.peer_id = peer;
            x.out = m.from == viewer;
            x.post = post;
            enums::Message::Service(x)
        }
        other => other,
    }
}

/// The top of the reply thread message `id` of box `b` is in (itself when it replies to
/// nothing, or to a message that is gone).
fn top_of(b: &UserBox, mut id: i32) -> i32 {
    for _ in 0..64 {
        match b.messages.get(&id).and_then(|m| m.reply_to) {
            Some(r) if b.messages.contains_key(&r) => id = r,
            _ => break,
        }
    }
    id
}

/// The messages of group `group` in the thread that message `top` starts, oldest first.
fn thread_of(state: &State, group: i64, top: i32) -> Vec<&StoredMessage> {
    let Some(b) = state.boxes.get(&channel_box(group)) else {
        return vec![];
    };
    b.messages
        .range(top + 1..)
        .map(|(_, m)| m)
        .filter(|m| m.reply_to.is_some_and(|r| top_of(b, r) == top))
        .collect()
}

/// The automatic forward of post `post` of broadcast channel `id` in its discussion group:
/// (group, id of the copy there).
fn discussion_copy(state: &State, id: i64, post: i32) -> Option<(i64, i32)> {
    let group = state.channels.get(&id)?.linked?;
    let copy = state
        .boxes
        .get(&channel_box(id))?
        .messages
        .get(&post)?
        .twin?;
    state
        .boxes
        .get(&channel_box(group))?
        .messages
        .get(&copy)
        .filter(|m| m.discussion == Some((id, post)))
        .map(|_| (group, copy))
}

/// The `replies` of a message: a post's comments (in its discussion group) or the replies
/// to the thread a discussion-group message starts.
fn replies_tl(state: &State, id: i64, m: &StoredMessage) -> Option<enums::MessageReplies> {
    let ch = channel(state, id);
    let (group, top, comments) = if !ch.megagroup {
        ch.linked?;
        let (group, copy) = discussion_copy(state, id, m.id)?;
        (group, copy, true)
    } else if m.discussion.is_some() {
        (id, m.id, false)
    } else {
        return None;
    };
    let thread = thread_of(state, group, top);
    let mut recent: Vec<enums::Peer> = Vec::new();
    for r in thread.iter().rev() {
        let p: enums::Peer = types::PeerUser { user_id: r.from }.into();
        if recent.len() < 3 && !recent.contains(&p) {
            recent.push(p);
        }
    }
    Some(
        types::MessageReplies {
            comments,
            replies: thread.len() as i32,
            replies_pts: state.updates.get(&channel_box(group)).map_or(0, |s| s.pts),
            recent_repliers: (comments && !recent.is_empty()).then_some(recent),
            channel_id: comments.then_some(group),
            max_id: thread.last().map(|r| r.id),
            read_max_id: None,
        }
        .into(),
    )
}

/// The chats that go with channel `id`'s messages: the channel and its linked chat.
fn chats_tl(state: &State, viewer: i64, id: i64) -> Vec<enums::Chat> {
    let mut chats = vec![channel_tl(state, viewer, id)];
    if let Some(l) = state.channels.get(&id).and_then(|c| c.linked) {
        chats.push(channel_tl(state, viewer, l));
    }
    chats
}

/// The participant object of `user` in `ch`.
fn participant_tl(
    ch: &Channel,
    user: i64,
    viewer: i64,
    now: i32,
) -> Option<enums::ChannelParticipant> {
    if ch.creator == user && ch.members.contains_key(&user) {
        return Some(
            types::ChannelParticipantCreator {
                user_id: user,
                admin_rights: all_rights().into(),
                rank: None,
            }
            .into(),
        );
    }
    if let Some(b) = ch.kicked.get(&user).filter(|b| b.active(now)) {
        return Some(
            types::ChannelParticipantBanned {
                left: true,
                peer: types::PeerUser { user_id: user }.into(),
                kicked_by: b.by,
                date: b.date,
                banned_rights: b.rights.clone().into(),
                rank: None,
            }
            .into(),
        );
    }
    let m = ch.members.get(&user)?;
    if let Some(a) = &m.admin {
        return Some(
            types::ChannelParticipantAdmin {
                can_edit: rights_of(ch, viewer).is_some_and(|r| r.add_admins),
                self_: user == viewer,
                user_id: user,
                inviter_id: Some(m.inviter),
                promoted_by: a.by,
                date: m.date,
                admin_rights: a.rights.clone().into(),
                rank: a.rank.clone(),
            }
            .into(),
        );
    }
    if let Some(b) = m.restricted.as_ref().filter(|b| b.active(now)) {
        return Some(
            types::ChannelParticipantBanned {
                left: false,
                peer: types::PeerUser { user_id: user }.into(),
                kicked_by: b.by,
                date: b.date,
                banned_rights: b.rights.clone().into(),
                rank: None,
            }
            .into(),
        );
    }
    if user == viewer {
        return Some(
            types::ChannelParticipantSelf {
                via_request: false,
                user_id: user,
                inviter_id: m.inviter,
                date: m.date,
                subscription_until_date: None,
                rank: None,
            }
            .into(),
        );
    }
    Some(
        types::ChannelParticipant {
            user_id: user,
            date: m.date,
            subscription_until_date: None,
            rank: None,
        }
        .into(),
    )
}

/// Users worth sending along with an answer.
fn users_tl(state: &State, viewer: i64, ids: impl IntoIterator<Item = i64>) -> Vec<enums::User> {
    let now = now();
    let mut ids: Vec<i64> = ids.into_iter().filter(|u| *u > 0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter(|u| state.users.contains_key(u))
        .map(|u| state.user_tl(viewer, u, now))
        .collect()
}

/// Whether a bot member sees message `m` (privacy mode: commands, mentions and replies to
/// it, unless it is an admin).
fn bot_sees(state: &State, ch: &Channel, bot: i64, m: &StoredMessage, cid: i64) -> bool {
    if rights_of(ch, bot).is_some() || m.action.is_some() || !ch.megagroup {
        return true;
    }
    let name = state.users.get(&bot).and_then(|u| u.username.clone());
    m.text.starts_with('/')
        || name.is_some_and(|n| {
            m.text
                .to_lowercase()
                .contains(&format!("@{}", n.to_lowercase()))
        })
        || m.reply_to.is_some_and(|r| {
            state
                .boxes
                .get(&channel_box(cid))
                .and_then(|b| b.messages.get(&r))
                .is_some_and(|x| x.from == bot)
        })
}

/// Pushes `update` about channel `id` to `to`, each with the channel as they see it.
fn push_to(
    ctx: &Ctx<'_>,
    state: &State,
    id: i64,
    to: impl IntoIterator<Item = i64>,
    update: &enums::Update,
    user_ids: &[i64],
) {
    let date = now();
    for u in to {
        let body = types::Updates {
            updates: vec![update.clone()],
            users: users_tl(state, u, user_ids.iter().copied()),
            chats: chats_tl(state, u, id),
            date,
            seq: 0,
        };
        ctx.push(u, &enums::Updates::from(body));
    }
}

/// An `updates` answer with the channel and the given users.
fn updates_for(
    state: &State,
    me: i64,
    id: i64,
    list: Vec<enums::Update>,
    user_ids: &[i64],
) -> enums::Updates {
    types::Updates {
        updates: list,
        users: users_tl(state, me, user_ids.iter().copied().chain([me])),
        chats: chats_tl(state, me, id),
        date: now(),
        seq: 0,
    }
    .into()
}

fn answer(
    state: &State,
    me: i64,
    id: i64,
    list: Vec<enums::Update>,
    user_ids: &[i64],
) -> RpcResult {
    ok(updates_for(state, me, id, list, user_ids))
}

/// The answer of `joinChannel` / `importChatInvite`.
fn joined(state: &State, me: i64, id: i64, list: Vec<enums::Update>) -> RpcResult {
    ok(enums::messages::ChatInviteJoinResult::from(
        types::messages::ChatInviteJoinResultOk {
            updates: updates_for(state, me, id, list, &[]),
        },
    ))
}

fn message_id(m: &enums::Message) -> i32 {
    match m {
        enums::Message::Message(m) => m.id,
        enums::Message::Service(m) => m.id,
        enums::Message::Empty(m) => m.id,
    }
}

/// What a new channel message carries.
pub(crate) struct ChannelPost {
    pub text: String,
    pub entities: Vec<enums::MessageEntity>,
    pub reply_to: Option<i32>,
    pub silent: bool,
    pub random_id: Option<i64>,
    pub action: Option<enums::MessageAction>,
    pub fwd_from: Option<(i64, i32)>,
    pub reply_markup: Option<enums::ReplyMarkup>,
    pub media: Option<enums::MessageMedia>,
    /// The automatic forward of (channel, post) into its discussion group.
    pub discussion: Option<(i64, i32)>,
}

impl ChannelPost {
    fn service(action: impl Into<enums::MessageAction>) -> Self {
        Self {
            text: String::new(),
            entities: vec![],
            reply_to: None,
            silent: false,
            random_id: None,
            action: Some(action.into()),
            fwd_from: None,
            reply_markup: None,
            media: None,
            discussion: None,
        }
    }
}

/// Whether `me`, not a member of discussion group `id`, may still send a comment replying to
/// `reply_to` there: the thread is a post's comments and `me` may read the channel.
fn may_comment(state: &State, me: i64, id: i64, reply_to: Option<i32>) -> bool {
    let ch = channel(state, id);
    let now = now();
    let (Some(r), Some(linked), Some(b)) = (reply_to, ch.linked, state.boxes.get(&channel_box(id)))
    else {
        return false;
    };
    ch.megagroup
        && !ch.members.contains_key(&me)
        && !is_kicked(ch, me, now)
        && state
            .channels
            .get(&linked)
            .is_some_and(|c| can_read(c, me, now))
        && b.messages
            .get(&top_of(b, r))
            .is_some_and(|t| t.discussion.is_some_and(|(c, _)| c == linked))
}

/// Checks that `me` may post a normal message into `id`.
pub(crate) fn check_can_post(state: &State, me: i64, id: i64) -> Result<(), RpcErr> {
    let ch = channel(state, id);
    let now = now();
    if is_kicked(ch, me, now) {
        return Err(RpcErr::bad_request("CHANNEL_PRIVATE"));
    }
    let Some(m) = ch.members.get(&me) else {
        return Err(RpcErr::new(403, "CHAT_WRITE_FORBIDDEN"));
    };
    if !ch.megagroup {
        return require_right(ch, me, |r| r.post_messages);
    }
    if let Some(b) = m.restricted.as_ref().filter(|b| b.active(now)) {
        if b.rights.send_messages || b.rights.send_plain {
            return Err(RpcErr::new(403, "CHAT_WRITE_FORBIDDEN"));
        }
    }
    Ok(())
}

/// Stores a message from `me` in channel `id`, appends it to the channel's pts sequence and
/// pushes it to the members who see it. Returns the message, its update and pts.
pub(crate) fn post(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    id: i64,
    post: ChannelPost,
) -> Result<(StoredMessage, enums::Update), RpcErr> {
    let bx = channel_box(id);
    if let Some(r) = post.reply_to {
        if !state
            .boxes
            .get(&bx)
            .is_some_and(|b| b.messages.contains_key(&r))
        {
            return Err(RpcErr::bad_request("REPLY_MESSAGE_ID_INVALID"));
        }
    }
    let b = state.boxes.entry(bx).or_default();
    let msg_id = b.next_id.max(1);
    b.next_id = msg_id + 1;
    let mut m = StoredMessage {
        id: msg_id,
        peer: id,
        out: false,
        from: me,
        date: now(),
        text: post.text,
        entities: post.entities,
        reply_to: post.reply_to,
        edit_date: None,
        silent: post.silent,
        twin: None,
        random_id: post.random_id,
        fwd_from: post.fwd_from,
        // Telegram pins the automatic forwards in a discussion group.
        pinned: post.discussion.is_some(),
        chat: None,
        action: post.action,
        reply_markup: post.reply_markup,
        media: post.media,
        discussion: post.discussion,
        ..StoredMessage::default()
    };
    if let Some(r) = m.random_id {
        b.sender_random_ids.insert((me, r), msg_id);
    }
    b.messages.insert(msg_id, m.clone());
    state.mark_message(bx, msg_id);
    if m.action.is_none() && m.discussion.is_none() {
        // Mentioned members get an unread mention.
        for u in state.mentioned_users(bx, &m) {
            if channel(state, id).members.contains_key(&u) {
                state
                    .channel_mentions
                    .entry((u, id))
                    .or_default()
                    .insert(m.id);
                state.mark_channel_mentions(u, id);
            }
        }
    }
    if let Some(group) = channel(state, id)
        .linked
        .filter(|g| !channel(state, id).megagroup && state.channels.contains_key(g))
        .filter(|_| m.action.is_none())
    {
        // A broadcast channel's post goes on into its discussion group, where it opens the
        // post's comment thread.
        let copy = ChannelPost {
            text: m.text.clone(),
            entities: m.entities.clone(),
            reply_to: None,
            silent: true,
            random_id: None,
            action: None,
            fwd_from: None,
            reply_markup: None,
            media: m.media.clone(),
            discussion: Some((id, m.id)),
        };
        let (c, _) = self::post(ctx, state, me, group, copy)?;
        m.twin = Some(c.id);
        if let Some(stored) = state
            .boxes
            .get_mut(&bx)
            .and_then(|b| b.messages.get_mut(&m.id))
        {
            stored.twin = Some(c.id);
        }
        state.mark_message(bx, m.id);
    }
    let generic = message_tl(state, id, &m, 0);
    let pts = state.push_update(bx, 1, |pts| {
        types::UpdateNewChannelMessage {
            message: generic,
            pts,
            pts_count: 1,
        }
        .into()
    });
    let ch = channel(state, id);
    let users: Vec<i64> = match &m.action {
        Some(enums::MessageAction::ChatAddUser(a)) => a.users.iter().copied().chain([me]).collect(),
        Some(enums::MessageAction::ChatDeleteUser(a)) => vec![a.user_id, me],
        _ => vec![me],
    };
    // A big channel pushes to its admins only; the others poll getChannelDifference.
    let big = ch.members.len() > state.channel_push_limit;
    for &u in ch.members.keys() {
        let bot = state.users.get(&u).is_some_and(|x| x.bot);
        if bot && u != me && !bot_sees(state, ch, u, &m, id) {
            continue;
        }
        if big && u != me && rights_of(ch, u).is_none() {
            continue;
        }
        let update: enums::Update = types::UpdateNewChannelMessage {
            message: message_tl(state, id, &m, u),
            pts,
            pts_count: 1,
        }
        .into();
        push_to(ctx, state, id, [u], &update, &users);
    }
    let mine: enums::Update = types::UpdateNewChannelMessage {
        message: message_tl(state, id, &m, me),
        pts,
        pts_count: 1,
    }
    .into();
    Ok((m, mine))
}

/// Appends a non-message update to channel `id`'s pts sequence and pushes it to its members.
fn push_pts_update(
    ctx: &Ctx<'_>,
    state: &mut State,
    id: i64,
    pts_count: i32,
    make: impl FnOnce(i32) -> enums::Update,
) -> (i32, enums::Update) {
    let pts = state.push_update(channel_box(id), pts_count, make);
    let update = state.boxes[&channel_box(id)]
        .log
        .last()
        .expect("just pushed")
        .update
        .clone();
    let members: Vec<i64> = channel(state, id).members.keys().copied().collect();
    push_to(ctx, state, id, members, &update, &[]);
    (pts, update)
}

/// Tells the channel's admin bots (and `also`) about a participant change (qts updates).
fn notify_participant(
    ctx: &Ctx<'_>,
    state: &mut State,
    id: i64,
    actor: i64,
    user: i64,
    prev: Option<enums::ChannelParticipant>,
    invite: Option<enums::ExportedChatInvite>,
) {
    let now = now();
    let ch = channel(state, id);
    let bots: Vec<i64> = ch
        .members
        .keys()
        .copied()
        .filter(|u| state.users.get(u).is_some_and(|x| x.bot) && rights_of(ch, *u).is_some())
        .filter(|u| *u != actor)
        .collect();
    for bot in bots {
        let new = participant_tl(channel(state, id), user, bot, now);
        let update = state.push_qts(bot, |qts| {
            types::UpdateChannelParticipant {
                via_chatlist: false,
                channel_id: id,
                date: now,
                actor_id: actor,
                user_id: user,
                prev_participant: prev.clone(),
                new_participant: new,
                invite: invite.clone(),
                qts,
            }
            .into()
        });
        push_to(ctx, state, id, [bot], &update, &[actor, user]);
    }
}

/// Adds `user` to channel `id` (invited by `inviter`), with the service message in a
/// supergroup. Returns the updates for the answer.
fn add_member(
    ctx: &Ctx<'_>,
    state: &mut State,
    id: i64,
    user: i64,
    inviter: i64,
    action: Option<enums::MessageAction>,
    invite: Option<enums::ExportedChatInvite>,
) -> Result<Vec<enums::Update>, RpcErr> {
    let now = now();
    let ch = state.channels.get_mut(&id).expect("checked");
    if ch.members.contains_key(&user) {
        return Err(RpcErr::bad_request("USER_ALREADY_PARTICIPANT"));
    }
    ch.kicked.remove(&user);
    ch.requests.remove(&user);
    ch.members.insert(
        user,
        Member {
            inviter,
            date: now,
            ..Default::default()
        },
    );
    let megagroup = ch.megagroup;
    state.mark_channel(id);
    let prev = None;
    notify_participant(ctx, state, id, inviter, user, prev, invite);
    let mut list: Vec<enums::Update> = vec![types::UpdateChannel { channel_id: id }.into()];
    if megagroup {
        let action =
            action.unwrap_or_else(|| types::MessageActionChatAddUser { users: vec![user] }.into());
        let (_, update) = post(ctx, state, user, id, ChannelPost::service(action))?;
        list.push(update);
    }
    // The joining user's other sessions learn about the channel.
    push_to(
        ctx,
        state,
        id,
        [user],
        &types::UpdateChannel { channel_id: id }.into(),
        &[],
    );
    Ok(list)
}

/// Removes `user` from channel `id` (leaving, kicked or banned by `actor`).
fn remove_member(
    ctx: &Ctx<'_>,
    state: &mut State,
    id: i64,
    user: i64,
    actor: i64,
    ban: Option<Banned>,
) -> Result<Vec<enums::Update>, RpcErr> {
    let now = now();
    let prev = participant_tl(channel(state, id), user, 0, now);
    let ch = state.channels.get_mut(&id).expect("checked");
    let was_member = ch.members.remove(&user).is_some();
    if let Some(b) = ban {
        ch.kicked.insert(user, b);
    }
    let megagroup = ch.megagroup;
    state.mark_channel(id);
    notify_participant(ctx, state, id, actor, user, prev, None);
    let mut list: Vec<enums::Update> = vec![types::UpdateChannel { channel_id: id }.into()];
    if megagroup && was_member {
        let action = types::MessageActionChatDeleteUser { user_id: user };
        let (_, update) = post(ctx, state, actor, id, ChannelPost::service(action))?;
        list.push(update);
    }
    push_to(
        ctx,
        state,
        id,
        [user],
        &types::UpdateChannel { channel_id: id }.into(),
        &[],
    );
    Ok(list)
}

/// `channels.createChannel` (broadcast or megagroup).
pub(crate) fn create_channel(ctx: &Ctx<'_>, req: functions::channels::CreateChannel) -> RpcResult {
    let me = require_user(ctx)?;
    let title = req.title.trim().to_string();
    if title.is_empty() || title.chars().count() > 128 {
        return Err(RpcErr::bad_request("CHAT_TITLE_EMPTY"));
    }
    if req.about.chars().count() > 255 {
        return Err(RpcErr::bad_request("CHAT_ABOUT_TOO_LONG"));
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    if state.users.get(&me).is_some_and(|u| u.bot) {
        return Err(RpcErr::bad_request("BOT_METHOD_INVALID"));
    }
    let id = state.new_chat_id();
    let date = now();
    let mut ch = Channel {
        title: title.clone(),
        about: req.about,
        creator: me,
        megagroup: req.megagroup || !req.broadcast,
        date,
        ..Default::default()
    };
    ch.members.insert(
        me,
        Member {
            inviter: me,
            date,
            ..Default::default()
        },
    );
    state.channels.insert(id, ch);
    state.mark_channel(id);
    let (_, update) = post(
        ctx,
        &mut state,
        me,
        id,
        ChannelPost::service(types::MessageActionChannelCreate { title }),
    )?;
    answer(
        &state,
        me,
        id,
        vec![types::UpdateChannel { channel_id: id }.into(), update],
        &[],
    )
}

/// `channels.getChannels`.
pub(crate) fn get_channels(ctx: &Ctx<'_>, req: functions::channels::GetChannels) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let mut chats = Vec::new();
    for c in &req.id {
        let id = resolve(&state, me, c)?;
        chats.push(channel_tl(&state, me, id));
    }
    ok(enums::messages::Chats::from(types::messages::Chats {
        chats,
    }))
}

/// `channels.getFullChannel`.
pub(crate) fn get_full_channel(
    ctx: &Ctx<'_>,
    req: functions::channels::GetFullChannel,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    require_read(&state, me, id)?;
    let ch = channel(&state, id);
    let now = now();
    let admin = rights_of(ch, me).is_some();
    let bx = state.boxes.get(&channel_box(id));
    let top = bx
        .and_then(|b| b.messages.keys().next_back().copied())
        .unwrap_or(0);
    let read = state.read.get(&(me, channel_box(id))).map_or(0, |r| r.0);
    let unread = bx.map_or(0, |b| b.messages.range(read + 1..).count()) as i32;
    let admins = ch.members.values().filter(|m| m.admin.is_some()).count() as i32 + 1;
    let banned = ch
        .members
        .values()
        .filter(|m| m.restricted.as_ref().is_some_and(|b| b.active(now)))
        .count() as i32;
    let bots: Vec<enums::BotInfo> = ch
        .members
        .keys()
        .filter(|u| state.users.get(u).is_some_and(|x| x.bot))
        .map(|&u| {
            types::BotInfo {
                user_id: Some(u),
                ..Default::default()
            }
            .into()
        })
        .collect();
    let requests: Vec<i64> = ch.requests.keys().copied().collect();
    let full = types::ChannelFull {
        can_view_participants: ch.megagroup || admin,
        can_set_username: admin,
        id,
        about: ch.about.clone(),
        participants_count: Some(ch.members.len() as i32),
        admins_count: admin.then_some(admins),
        kicked_count: admin.then_some(ch.kicked.len() as i32),
        banned_count: admin.then_some(banned),
        read_inbox_max_id: read,
        read_outbox_max_id: top,
        unread_count: unread,
        chat_photo: enums::Photo::Empty(types::PhotoEmpty { id: 0 }),
        notify_settings: types::PeerNotifySettings::default().into(),
        bot_info: bots,
        pts: state.updates.get(&channel_box(id)).map_or(0, |s| s.pts),
        requests_pending: (admin && !requests.is_empty()).then_some(requests.len() as i32),
        recent_requesters: (admin && !requests.is_empty()).then_some(requests),
        linked_chat_id: ch.linked,
        ..blank_full()
    };
    let users = users_tl(&state, me, ch.members.keys().copied().take(200).chain([me]));
    ok(enums::messages::ChatFull::from(types::messages::ChatFull {
        full_chat: full.into(),
        chats: chats_tl(&state, me, id),
        users,
    }))
}

/// `channels.getParticipants` with Telegram's filters, offset and limit (at most 200).
pub(crate) fn get_participants(
    ctx: &Ctx<'_>,
    req: functions::channels::GetParticipants,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    require_read(&state, me, id)?;
    let ch = channel(&state, id);
    let admin = rights_of(ch, me).is_some();
    if !ch.megagroup && !admin {
        return Err(RpcErr::bad_request("CHAT_ADMIN_REQUIRED"));
    }
    if req.offset < 0 {
        return Err(RpcErr::bad_request("OFFSET_INVALID"));
    }
    let now = now();
    let matches = |u: i64, q: &str| -> bool {
        if q.is_empty() {
            return true;
        }
        let q = q.to_lowercase();
        state.users.get(&u).is_some_and(|x| {
            format!(
                "{} {} {}",
                x.first_name,
                x.last_name,
                x.username.clone().unwrap_or_default()
            )
            .to_lowercase()
            .contains(&q)
        })
    };
    use enums::ChannelParticipantsFilter as F;
    // The creator first, then members by join date (newest first), as Telegram lists them.
    let mut members: Vec<(&i64, &Member)> = ch.members.iter().collect();
    members.sort_by_key(|(u, m)| (**u != ch.creator, std::cmp::Reverse(m.date), **u));
    let list: Vec<i64> = match &req.filter {
        F::ChannelParticipantsRecent => members.iter().map(|(u, _)| **u).collect(),
        F::ChannelParticipantsAdmins => members
            .iter()
            .filter(|(u, m)| **u == ch.creator || m.admin.is_some())
            .map(|(u, _)| **u)
            .collect(),
        F::ChannelParticipantsBots => members
            .iter()
            .filter(|(u, _)| state.users.get(u).is_some_and(|x| x.bot))
            .map(|(u, _)| **u)
            .collect(),
        F::ChannelParticipantsKicked(k) => {
            if !admin {
                return Err(RpcErr::bad_request("CHAT_ADMIN_REQUIRED"));
            }
            ch.kicked
                .iter()
                .filter(|(u, b)| b.active(now) && matches(**u, &k.q))
                .map(|(u, _)| *u)
                .collect()
        }
        F::ChannelParticipantsBanned(k) => {
            if !admin {
                return Err(RpcErr::bad_request("CHAT_ADMIN_REQUIRED"));
            }
            members
                .iter()
                .filter(|(u, m)| {
                    m.restricted.as_ref().is_some_and(|b| b.active(now)) && matches(**u, &k.q)
                })
                .map(|(u, _)| **u)
                .collect()
        }
        F::ChannelParticipantsSearch(s) => members
            .iter()
            .filter(|(u, _)| matches(**u, &s.q))
            .map(|(u, _)| **u)
            .collect(),
        F::ChannelParticipantsContacts(s) => members
            .iter()
            .filter(|(u, _)| {
                state.contacts.get(&me).is_some_and(|c| c.contains(u)) && matches(**u, &s.q)
            })
            .map(|(u, _)| **u)
            .collect(),
        F::ChannelParticipantsMentions(s) => members
            .iter()
            .filter(|(u, _)| matches(**u, s.q.as_deref().unwrap_or("")))
            .map(|(u, _)| **u)
            .collect(),
    };
    let count = list.len() as i32;
    let limit = req.limit.clamp(0, 200) as usize;
    let page: Vec<i64> = list
        .into_iter()
        .skip(req.offset as usize)
        .take(limit)
        .collect();
    let participants = page
        .iter()
        .filter_map(|&u| participant_tl(ch, u, me, now))
        .collect();
    let extra: Vec<i64> = page
        .iter()
        .filter_map(|u| ch.kicked.get(u).map(|b| b.by))
        .collect();
    ok(enums::channels::ChannelParticipants::from(
        types::channels::ChannelParticipants {
            count,
            participants,
            chats: vec![],
            users: users_tl(&state, me, page.iter().copied().chain(extra)),
        },
    ))
}

fn input_user_id(state: &State, me: i64, u: &enums::InputPeer) -> Result<i64, RpcErr> {
    super::messages::resolve_user(state, me, u)
        .map_err(|_| RpcErr::bad_request("PARTICIPANT_ID_INVALID"))
}

/// The user an `InputUser` names (access hash checked).
pub(crate) fn user_from_input(state: &State, me: i64, u: &enums::InputUser) -> Result<i64, RpcErr> {
    let peer: enums::InputPeer = match u {
        enums::InputUser::InputUserSelf => enums::InputPeer::InputPeerSelf,
        enums::InputUser::InputUser(u) => types::InputPeerUser {
            user_id: u.user_id,
            access_hash: u.access_hash,
        }
        .into(),
        enums::InputUser::FromMessage(u) => types::InputPeerUserFromMessage {
            peer: u.peer.clone(),
            msg_id: u.msg_id,
            user_id: u.user_id,
        }
        .into(),
        enums::InputUser::Empty => return Err(RpcErr::bad_request("USER_ID_INVALID")),
    };
    super::messages::resolve_user(state, me, &peer)
        .map_err(|_| RpcErr::bad_request("USER_ID_INVALID"))
}

/// `channels.getParticipant`.
pub(crate) fn get_participant(
    ctx: &Ctx<'_>,
    req: functions::channels::GetParticipant,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    require_read(&state, me, id)?;
    let user = input_user_id(&state, me, &req.participant)?;
    let ch = channel(&state, id);
    let p = participant_tl(ch, user, me, now())
        .ok_or_else(|| RpcErr::bad_request("USER_NOT_PARTICIPANT"))?;
    ok(enums::channels::ChannelParticipant::from(
        types::channels::ChannelParticipant {
            participant: p,
            chats: vec![],
            users: users_tl(&state, me, [user]),
        },
    ))
}

/// `channels.inviteToChannel`.
pub(crate) fn invite_to_channel(
    ctx: &Ctx<'_>,
    req: functions::channels::InviteToChannel,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    let ch = channel(&state, id);
    if !ch.members.contains_key(&me) {
        return Err(RpcErr::new(403, "CHAT_WRITE_FORBIDDEN"));
    }
    if !ch.megagroup || ch.members.get(&me).is_some_and(|m| m.admin.is_some()) {
        require_right(ch, me, |r| r.invite_users)?;
    }
    if req.users.is_empty() {
        return Err(RpcErr::bad_request("USERS_TOO_FEW"));
    }
    if req.users.len() > 200 {
        return Err(RpcErr::bad_request("USERS_TOO_MUCH"));
    }
    let mut users = Vec::new();
    for u in &req.users {
        let u = user_from_input(&state, me, u)?;
        if is_kicked(channel(&state, id), u, now()) && rights_of(channel(&state, id), me).is_none()
        {
            return Err(RpcErr::bad_request("USER_KICKED"));
        }
        if state.has_blocked(u, me) && !state.users.get(&u).is_some_and(|x| x.bot) {
            return Err(RpcErr::new(403, "USER_PRIVACY_RESTRICTED"));
        }
        users.push(u);
    }
    let mut list = Vec::new();
    let mut added = Vec::new();
    for u in users {
        if channel(&state, id).members.contains_key(&u) {
            continue;
        }
        let ch = state.channels.get_mut(&id).expect("checked");
        ch.kicked.remove(&u);
        ch.members.insert(
            u,
            Member {
                inviter: me,
                date: now(),
                ..Default::default()
            },
        );
        state.mark_channel(id);
        notify_participant(ctx, &mut state, id, me, u, None, None);
        push_to(
            ctx,
            &state,
            id,
            [u],
            &types::UpdateChannel { channel_id: id }.into(),
            &[],
        );
        added.push(u);
    }
    if added.is_empty() {
        return Err(RpcErr::bad_request("USER_ALREADY_PARTICIPANT"));
    }
    list.push(types::UpdateChannel { channel_id: id }.into());
    if channel(&state, id).megagroup {
        let action = types::MessageActionChatAddUser {
            users: added.clone(),
        };
        let (_, update) = post(ctx, &mut state, me, id, ChannelPost::service(action))?;
        list.push(update);
    }
    let updates = updates_for(&state, me, id, list, &added);
    ok(enums::messages::InvitedUsers::from(
        types::messages::InvitedUsers {
            updates,
            missing_invitees: vec![],
        },
    ))
}

/// `channels.joinChannel` (public channels; private ones are joined by invite link).
pub(crate) fn join_channel(ctx: &Ctx<'_>, req: functions::channels::JoinChannel) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    let ch = channel(&state, id);
    if is_kicked(ch, me, now()) {
        return Err(RpcErr::bad_request("CHANNEL_PRIVATE"));
    }
    if ch.members.contains_key(&me) {
        return Err(RpcErr::bad_request("USER_ALREADY_PARTICIPANT"));
    }
    if ch.username.is_none() {
        return Err(RpcErr::bad_request("CHANNEL_PRIVATE"));
    }
    let list = add_member(ctx, &mut state, id, me, me, None, None)?;
    joined(&state, me, id, list)
}

/// `channels.leaveChannel`.
pub(crate) fn leave_channel(ctx: &Ctx<'_>, req: functions::channels::LeaveChannel) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    if !channel(&state, id).members.contains_key(&me) {
        return Err(RpcErr::bad_request("USER_NOT_PARTICIPANT"));
    }
    let list = remove_member(ctx, &mut state, id, me, me, None)?;
    answer(&state, me, id, list, &[])
}

/// `channels.editAdmin`: promote, change rights, or demote (all rights off).
pub(crate) fn edit_admin(ctx: &Ctx<'_>, req: functions::channels::EditAdmin) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    let user = user_from_input(&state, me, &req.user_id)?;
    let ch = channel(&state, id);
    require_right(ch, me, |r| r.add_admins)?;
    if user == ch.creator {
        return Err(RpcErr::bad_request("USER_CREATOR"));
    }
    if !ch.members.contains_key(&user) {
        return Err(RpcErr::bad_request("USER_NOT_PARTICIPANT"));
    }
    if let Some(rank) = &req.rank {
        if rank.chars().count() > 16 {
            return Err(RpcErr::bad_request("ADMIN_RANK_INVALID"));
        }
    }
    let enums::ChatAdminRights::ChatAdminRights(rights) = req.admin_rights;
    // An admin grants only rights they have themselves.
    let mine = rights_of(ch, me).unwrap_or_default();
    let exceeds = (rights.change_info && !mine.change_info)
        || (rights.post_messages && !mine.post_messages)
        || (rights.delete_messages && !mine.delete_messages)
        || (rights.ban_users && !mine.ban_users)
        || (rights.invite_users && !mine.invite_users)
        || (rights.pin_messages && !mine.pin_messages)
        || (rights.add_admins && !mine.add_admins);
    if exceeds {
        return Err(RpcErr::bad_request("RIGHT_FORBIDDEN"));
    }
    let prev = participant_tl(ch, user, 0, now());
    let none = rights == types::ChatAdminRights::default();
    let m = state
        .channels
        .get_mut(&id)
        .and_then(|c| c.members.get_mut(&user))
        .expect("checked");
    m.admin = (!none).then_some(Admin {
        rights,
        by: me,
        rank: req.rank,
    });
    m.restricted = None;
    state.mark_channel(id);
    notify_participant(ctx, &mut state, id, me, user, prev, None);
    push_to(
        ctx,
        &state,
        id,
        [user],
        &types::UpdateChannel { channel_id: id }.into(),
        &[],
    );
    answer(
        &state,
        me,
        id,
        vec![types::UpdateChannel { channel_id: id }.into()],
        &[user],
    )
}

/// `channels.editBanned`: ban (`view_messages`), restrict, or lift (all rights off; a ban
/// followed by a lift is a kick).
pub(crate) fn edit_banned(ctx: &Ctx<'_>, req: functions::channels::EditBanned) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    let user = input_user_id(&state, me, &req.participant)?;
    let ch = channel(&state, id);
    require_right(ch, me, |r| r.ban_users)?;
    if user == ch.creator {
        return Err(RpcErr::bad_request("USER_ADMIN_INVALID"));
    }
    if user == me {
        return Err(RpcErr::bad_request("PARTICIPANT_ID_INVALID"));
    }
    if ch.members.get(&user).is_some_and(|m| m.admin.is_some()) && ch.creator != me {
        return Err(RpcErr::bad_request("USER_ADMIN_INVALID"));
    }
    let now = now();
    let enums::ChatBannedRights::ChatBannedRights(mut rights) = req.banned_rights;
    Banned::normalize_until(&mut rights, now);
    let lift = types::ChatBannedRights {
        until_date: rights.until_date,
        ..Default::default()
    } == rights;
    let list = if rights.view_messages {
        let ban = Banned {
            by: me,
            date: now,
            rights,
        };
        remove_member(ctx, &mut state, id, user, me, Some(ban))?
    } else {
        let prev = participant_tl(ch, user, 0, now);
        let c = state.channels.get_mut(&id).expect("checked");
        c.kicked.remove(&user);
        if let Some(m) = c.members.get_mut(&user) {
            m.admin = None;
            m.restricted = (!lift).then_some(Banned {
                by: me,
                date: now,
                rights,
            });
        }
        state.mark_channel(id);
        notify_participant(ctx, &mut state, id, me, user, prev, None);
        push_to(
            ctx,
            &state,
            id,
            [user],
            &types::UpdateChannel { channel_id: id }.into(),
            &[],
        );
        vec![types::UpdateChannel { channel_id: id }.into()]
    };
    answer(&state, me, id, list, &[user])
}

/// `channels.deleteMessages`: one's own messages, or any with `delete_messages`.
pub(crate) fn delete_messages(
    ctx: &Ctx<'_>,
    req: functions::channels::DeleteMessages,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    let ch = channel(&state, id);
    if !ch.members.contains_key(&me) {
        return Err(RpcErr::bad_request("CHANNEL_PRIVATE"));
    }
    let admin = rights_of(ch, me).is_some_and(|r| r.delete_messages);
    let bx = channel_box(id);
    let mut gone = Vec::new();
    for mid in &req.id {
        let Some(m) = state.boxes.get(&bx).and_then(|b| b.messages.get(mid)) else {
            continue;
        };
        if m.from != me && !admin {
            return Err(RpcErr::new(403, "MESSAGE_DELETE_FORBIDDEN"));
        }
        gone.push(*mid);
    }
    if gone.is_empty() {
        let pts = state.updates.get(&bx).map_or(0, |s| s.pts);
        return ok(enums::messages::AffectedMessages::from(
            types::messages::AffectedMessages { pts, pts_count: 0 },
        ));
    }
    for mid in &gone {
        state
            .boxes
            .get_mut(&bx)
            .expect("exists")
            .messages
            .remove(mid);
        state.mark_message(bx, *mid);
    }
    let n = gone.len() as i32;
    let (pts, _) = push_pts_update(ctx, &mut state, id, n, |pts| {
        types::UpdateDeleteChannelMessages {
            channel_id: id,
            messages: gone,
            pts,
            pts_count: n,
        }
        .into()
    });
    ok(enums::messages::AffectedMessages::from(
        types::messages::AffectedMessages { pts, pts_count: n },
    ))
}

/// `messages.updatePinnedMessage` in a channel or supergroup: admins with `pin_messages`
/// (in a supergroup also members when the group allows it); one update in the channel's pts
/// sequence for everyone.
pub(crate) fn pin(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    id: i64,
    msg: i32,
    pinned: bool,
) -> RpcResult {
    require_read(state, me, id)?;
    let ch = channel(state, id);
    // A supergroup's members may pin (no default restrictions here) unless restricted.
    let member_may = ch.megagroup
        && ch.members.get(&me).is_some_and(|m| {
            !m.restricted
                .as_ref()
                .is_some_and(|b| b.active(now()) && b.rights.pin_messages)
        });
    if !member_may {
        require_right(ch, me, |r| {
            r.pin_messages || (!ch.megagroup && r.edit_messages)
        })?;
    }
    let bx = channel_box(id);
    let m = state
        .boxes
        .get_mut(&bx)
        .and_then(|b| b.messages.get_mut(&msg))
        .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
    m.pinned = pinned;
    state.mark_message(bx, msg);
    let (_, update) = push_pts_update(ctx, state, id, 1, |pts| {
        types::UpdatePinnedChannelMessages {
            pinned,
            channel_id: id,
            messages: vec![msg],
            pts,
            pts_count: 1,
        }
        .into()
    });
    answer(state, me, id, vec![update], &[])
}

/// `channels.readHistory`.
pub(crate) fn read_history(ctx: &Ctx<'_>, req: functions::channels::ReadHistory) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    require_read(&state, me, id)?;
    let bx = channel_box(id);
    let top = state
        .boxes
        .get(&bx)
        .and_then(|b| b.messages.keys().next_back().copied())
        .unwrap_or(0);
    let max = if req.max_id <= 0 {
        top
    } else {
        req.max_id.min(top)
    };
    let entry = state.read.entry((me, bx)).or_default();
    if max > entry.0 {
        entry.0 = max;
        state.mark_user(me);
        let pts = state.updates.get(&bx).map_or(0, |s| s.pts);
        let unread = state
            .boxes
            .get(&bx)
            .map_or(0, |b| b.messages.range(max + 1..).count()) as i32;
        push_to(
            ctx,
            &state,
            id,
            [me],
            &types::UpdateReadChannelInbox {
                folder_id: None,
                channel_id: id,
                max_id: max,
                still_unread_count: unread,
                pts,
            }
            .into(),
            &[],
        );
    }
    ok(true)
}

pub(crate) fn channel_messages(
    state: &State,
    me: i64,
    id: i64,
    found: Vec<&StoredMessage>,
    count: usize,
) -> RpcResult {
    let users = users_tl(
        state,
        me,
        found.iter().flat_map(|m| {
            let extra = match &m.action {
                Some(enums::MessageAction::ChatAddUser(a)) => a.users.clone(),
                Some(enums::MessageAction::ChatDeleteUser(a)) => vec![a.user_id],
                _ => vec![],
            };
            std::iter::once(m.from).chain(extra)
        }),
    );
    ok(enums::messages::Messages::from(
        types::messages::ChannelMessages {
            inexact: false,
            pts: state.updates.get(&channel_box(id)).map_or(0, |s| s.pts),
            count: count as i32,
            offset_id_offset: None,
            messages: found
                .iter()
                .map(|m| {
                    let mut x = message_tl(state, id, m, me);
                    state.refresh_media(&mut x, me);
                    x
                })
                .collect(),
            topics: vec![],
            chats: chats_tl(state, me, id),
            users,
        },
    ))
}

/// `channels.getMessages` (a discussion group's messages by id: also for whoever reads its
/// channel, as comments are).
pub(crate) fn get_messages(ctx: &Ctx<'_>, req: functions::channels::GetMessages) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    require_read(&state, me, id).or_else(|e| {
        let ch = channel(&state, id);
        let through_channel = ch.megagroup
            && !is_kicked(ch, me, now())
            && ch
                .linked
                .and_then(|c| state.channels.get(&c))
                .is_some_and(|c| can_read(c, me, now()));
        if through_channel {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    if req.id.len() > 200 {
        return Err(RpcErr::bad_request("LIMIT_INVALID"));
    }
    let b = state.boxes.get(&channel_box(id));
    let found: Vec<&StoredMessage> = req
        .id
        .iter()
        .filter_map(|m| match m {
            enums::InputMessage::ID(x) => Some(x.id),
            enums::InputMessage::ReplyTo(x) => b
                .and_then(|b| b.messages.get(&x.id))
                .and_then(|m| m.reply_to),
            _ => None,
        })
        .filter_map(|mid| b.and_then(|b| b.messages.get(&mid)))
        .collect();
    let n = found.len();
    channel_messages(&state, me, id, found, n)
}

/// `messages.getHistory` of a channel.
pub(crate) fn history(
    ctx: &Ctx<'_>,
    me: i64,
    id: i64,
    req: &functions::messages::GetHistory,
) -> RpcResult {
    let state = ctx.shared.state.lock().expect("not poisoned");
    require_read(&state, me, id)?;
    let newest_first = state
        .boxes
        .get(&channel_box(id))
        .into_iter()
        .flat_map(|b| b.messages.values().rev());
    let window = Window {
        offset_id: req.offset_id,
        offset_date: req.offset_date,
        add_offset: req.add_offset,
        limit: req.limit,
        max_id: req.max_id,
        min_id: req.min_id,
    };
    page_answer(&state, me, id, newest_first, &window)
}

/// Telegram's paging arguments of a list of messages (`getHistory`, `getReplies`...).
struct Window {
    offset_id: i32,
    offset_date: i32,
    add_offset: i32,
    limit: i32,
    max_id: i32,
    min_id: i32,
}

/// The page `w` of channel `id`'s messages `newest_first`, as `messages.channelMessages`.
fn page_answer<'a>(
    state: &'a State,
    me: i64,
    id: i64,
    newest_first: impl Iterator<Item = &'a StoredMessage>,
    w: &Window,
) -> RpcResult {
    let all: Vec<&StoredMessage> = newest_first
        .filter(|m| (w.max_id <= 0 || m.id < w.max_id) && (w.min_id <= 0 || m.id > w.min_id))
        .collect();
    let (found, count) =
        super::messages::page(&all, w.offset_id, w.offset_date, w.add_offset, w.limit);
    channel_messages(state, me, id, found, count)
}

/// `messages.sendMessage` into a channel.
pub(crate) fn send(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    id: i64,
    p: ChannelPost,
) -> RpcResult {
    if !may_comment(state, me, id, p.reply_to) {
        check_can_post(state, me, id)?;
    }
    let bx = channel_box(id);
    let random_id = p.random_id.unwrap_or_default();
    if let Some(&mid) = state
        .boxes
        .get(&bx)
        .and_then(|b| b.sender_random_ids.get(&(me, random_id)))
    {
        // A repeated random_id: the original message, nothing new.
        let m = state.boxes[&bx].messages.get(&mid).cloned();
        let mut list: Vec<enums::Update> =
            vec![types::UpdateMessageID { id: mid, random_id }.into()];
        if let Some(m) = m {
            let pts = state.updates.get(&bx).map_or(0, |s| s.pts);
            list.push(
                types::UpdateNewChannelMessage {
                    message: message_tl(state, id, &m, me),
                    pts,
                    pts_count: 0,
                }
                .into(),
            );
        }
        return answer(state, me, id, list, &[]);
    }
    let (m, update) = post(ctx, state, me, id, p)?;
    answer(
        state,
        me,
        id,
        vec![
            types::UpdateMessageID {
                id: m.id,
                random_id,
            }
            .into(),
            update,
        ],
        &[],
    )
}

/// A channel message `me` may forward, with its forward origin filled in (a broadcast
/// channel's posts are forwarded from the channel itself).
pub(crate) fn forwardable(
    state: &State,
    me: i64,
    id: i64,
    msg: i32,
) -> Result<StoredMessage, RpcErr> {
    require_read(state, me, id)?;
    let mut m = state
        .boxes
        .get(&channel_box(id))
        .and_then(|b| b.messages.get(&msg))
        .filter(|m| m.action.is_none())
        .cloned()
        .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
    if m.fwd_from.is_none() && !channel(state, id).megagroup {
        m.fwd_from = Some((channel_box(id), m.date));
    }
    Ok(m)
}

/// Posts a forwarded copy into channel `id`; the updates for the sender's answer.
pub(crate) fn forward_into(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    id: i64,
    p: ChannelPost,
) -> Result<Vec<enums::Update>, RpcErr> {
    check_can_post(state, me, id)?;
    let random_id = p.random_id.unwrap_or_default();
    if let Some(&mid) = state
        .boxes
        .get(&channel_box(id))
        .and_then(|b| b.sender_random_ids.get(&(me, random_id)))
    {
        return Ok(vec![types::UpdateMessageID { id: mid, random_id }.into()]);
    }
    let (m, update) = post(ctx, state, me, id, p)?;
    Ok(vec![
        types::UpdateMessageID {
            id: m.id,
            random_id,
        }
        .into(),
        update,
    ])
}

/// `messages.editMessage` in a channel.
pub(crate) fn edit(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    id: i64,
    req: functions::messages::EditMessage,
) -> RpcResult {
    let bx = channel_box(id);
    let ch = channel(state, id);
    let can_edit_all = rights_of(ch, me).is_some_and(|r| r.edit_messages) && !ch.megagroup;
    let entities = super::messages::entities_in(state, me, req.entities)?;
    let m = state
        .boxes
        .get_mut(&bx)
        .and_then(|b| b.messages.get_mut(&req.id))
        .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
    if (m.from != me && !can_edit_all) || m.discussion.is_some() {
        // (An automatic forward is the channel's: it changes with the post.)
        return Err(RpcErr::new(403, "MESSAGE_AUTHOR_REQUIRED"));
    }
    if m.action.is_some() {
        return Err(RpcErr::bad_request("MESSAGE_ID_INVALID"));
    }
    let Some(text) = req.message else {
        return Err(RpcErr::bad_request("MESSAGE_NOT_MODIFIED"));
    };
    super::messages::check_text(&text)?;
    if text == m.text && entities == m.entities {
        return Err(RpcErr::bad_request("MESSAGE_NOT_MODIFIED"));
    }
    m.text = text;
    m.entities = entities;
    m.edit_date = Some(now());
    let m = m.clone();
    let pts = push_edit(ctx, state, id, &m);
    // The post's automatic forward in the discussion group follows the edit.
    if let Some((group, copy)) = discussion_copy(state, id, m.id) {
        let c = state
            .boxes
            .get_mut(&channel_box(group))
            .and_then(|b| b.messages.get_mut(&copy))
            .expect("found");
        c.text = m.text.clone();
        c.entities = m.entities.clone();
        c.edit_date = m.edit_date;
        let c = c.clone();
        push_edit(ctx, state, group, &c);
    }
    let mine: enums::Update = types::UpdateEditChannelMessage {
        message: message_tl(state, id, &m, me),
        pts,
        pts_count: 1,
    }
    .into();
    answer(state, me, id, vec![mine], &[])
}

/// Stores edited message `m` of channel `id`, appends the edit to the channel's pts
/// sequence and pushes it to the members. Returns its pts.
fn push_edit(ctx: &Ctx<'_>, state: &mut State, id: i64, m: &StoredMessage) -> i32 {
    let bx = channel_box(id);
    state.mark_message(bx, m.id);
    let generic = message_tl(state, id, m, 0);
    let pts = state.push_update(bx, 1, |pts| {
        types::UpdateEditChannelMessage {
            message: generic,
            pts,
            pts_count: 1,
        }
        .into()
    });
    let members: Vec<i64> = channel(state, id).members.keys().copied().collect();
    for u in members {
        let update: enums::Update = types::UpdateEditChannelMessage {
            message: message_tl(state, id, m, u),
            pts,
            pts_count: 1,
        }
        .into();
        push_to(ctx, state, id, [u], &update, &[m.from]);
    }
    pts
}

fn valid_username(name: &str) -> bool {
    name.len() >= 4
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('_')
}

/// `channels.updateUsername` (empty: make private).
pub(crate) fn update_username(
    ctx: &Ctx<'_>,
    req: functions::channels::UpdateUsername,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    require_right(channel(&state, id), me, |r| r.change_info)?;
    let name = req.username.trim_start_matches('@').to_string();
    let key = name.to_ascii_lowercase();
    if !name.is_empty() && !valid_username(&name) {
        return Err(RpcErr::bad_request("USERNAME_INVALID"));
    }
    let old = channel(&state, id).username.clone();
    if old.as_deref().map(str::to_ascii_lowercase) == Some(key.clone()) {
        return Err(RpcErr::bad_request("USERNAME_NOT_MODIFIED"));
    }
    if !name.is_empty() && state.by_username.get(&key).is_some_and(|o| *o != id) {
        return Err(RpcErr::bad_request("USERNAME_OCCUPIED"));
    }
    if let Some(o) = old {
        state.by_username.remove(&o.to_ascii_lowercase());
    }
    if !name.is_empty() {
        state.by_username.insert(key, id);
    }
    state.channels.get_mut(&id).expect("checked").username = (!name.is_empty()).then_some(name);
    state.mark_channel(id);
    let members: Vec<i64> = channel(&state, id).members.keys().copied().collect();
    push_to(
        ctx,
        &state,
        id,
        members,
        &types::UpdateChannel { channel_id: id }.into(),
        &[],
    );
    ok(true)
}

/// `channels.checkUsername`.
pub(crate) fn check_username(ctx: &Ctx<'_>, req: functions::channels::CheckUsername) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let id = match &req.channel {
        enums::InputChannel::Empty => 0,
        c => resolve(&state, me, c)?,
    };
    let name = req.username.trim_start_matches('@');
    if !valid_username(name) {
        return Err(RpcErr::bad_request("USERNAME_INVALID"));
    }
    let free = state
        .by_username
        .get(&name.to_ascii_lowercase())
        .is_none_or(|o| *o == id);
    ok(free)
}

/// `updates.getChannelDifference`: the channel's updates after `pts`, at most `limit`
/// (100 for users, 100,000 for bots); `channelDifferenceTooLong` once the log no longer
/// reaches back that far.
pub(crate) fn get_channel_difference(
    ctx: &Ctx<'_>,
    req: functions::updates::GetChannelDifference,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    require_read(&state, me, id)?;
    let bx = channel_box(id);
    let current = state.updates.get(&bx).map_or(0, |s| s.pts);
    if req.pts <= 0 || req.pts > current {
        return Err(RpcErr::bad_request("PERSISTENT_TIMESTAMP_INVALID"));
    }
    let bot = state.users.get(&me).is_some_and(|u| u.bot);
    let max = if bot { BOT_DIFF_LIMIT } else { USER_DIFF_LIMIT };
    let limit = if req.limit <= 0 {
        max
    } else {
        req.limit.min(max)
    } as usize;
    if req.pts == current {
        return ok(enums::updates::ChannelDifference::from(
            types::updates::ChannelDifferenceEmpty {
                r#final: true,
                pts: current,
                timeout: Some(state.channel_poll_timeout),
            },
        ));
    }
    let log = state
        .boxes
        .get(&bx)
        .map(|b| b.log.as_slice())
        .unwrap_or(&[]);
    let reaches = log.first().is_some_and(|e| e.pts - e.pts_count <= req.pts);
    let ch = channel(&state, id);
    if !reaches {
        // Too far behind: the dialog and its latest messages instead.
        let b = state.boxes.get(&bx);
        let latest: Vec<&StoredMessage> = b
            .map(|b| b.messages.values().rev().take(limit.min(100)).collect())
            .unwrap_or_default();
        let top = latest.first().map_or(0, |m| m.id);
        let read = state.read.get(&(me, bx)).map_or(0, |r| r.0);
        let dialog = types::Dialog {
            top_message: top,
            read_inbox_max_id: read,
            read_outbox_max_id: top,
            unread_count: b.map_or(0, |b| b.messages.range(read + 1..).count()) as i32,
            notify_settings: types::PeerNotifySettings::default().into(),
            pts: Some(current),
            ..blank_dialog(types::PeerChannel { channel_id: id }.into())
        };
        let users = users_tl(&state, me, latest.iter().map(|m| m.from));
        return ok(enums::updates::ChannelDifference::from(
            types::updates::ChannelDifferenceTooLong {
                r#final: true,
                timeout: Some(state.channel_poll_timeout),
                dialog: dialog.into(),
                messages: latest
                    .iter()
                    .map(|m| message_tl(&state, id, m, me))
                    .collect(),
                chats: vec![channel_tl(&state, me, id)],
                users,
            },
        ));
    }
    let start = log.partition_point(|e| e.pts <= req.pts);
    let slice = &log[start..];
    let take = slice.len().min(limit);
    let mut new_messages = Vec::new();
    let mut other_updates = Vec::new();
    let mut user_ids = vec![me];
    for e in &slice[..take] {
        match &e.update {
            enums::Update::NewChannelMessage(u) => {
                let mid = message_id(&u.message);
                // The message as it is now (edited, or gone).
                if let Some(m) = state.boxes[&bx].messages.get(&mid) {
                    if state.users.get(&me).is_some_and(|x| x.bot)
                        && !bot_sees(&state, ch, me, m, id)
                    {
                        continue;
                    }
                    user_ids.push(m.from);
                    let mut x = message_tl(&state, id, m, me);
                    state.refresh_media(&mut x, me);
                    new_messages.push(x);
                }
            }
            enums::Update::EditChannelMessage(u) => {
                let mid = message_id(&u.message);
                if let Some(m) = state.boxes[&bx].messages.get(&mid) {
                    user_ids.push(m.from);
                    other_updates.push(
                        types::UpdateEditChannelMessage {
                            message: message_tl(&state, id, m, me),
                            pts: e.pts,
                            pts_count: e.pts_count,
                        }
                        .into(),
                    );
                }
            }
            u => other_updates.push(u.clone()),
        }
    }
    let pts = slice[..take].last().map_or(current, |e| e.pts);
    ok(enums::updates::ChannelDifference::from(
        types::updates::ChannelDifference {
            r#final: take == slice.len(),
            pts,
            timeout: Some(state.channel_poll_timeout),
            new_messages,
            other_updates,
            chats: vec![channel_tl(&state, me, id)],
            users: users_tl(&state, me, user_ids),
        },
    ))
}

fn invite_tl(inv: &Invite) -> enums::ExportedChatInvite {
    types::ChatInviteExported {
        revoked: inv.revoked,
        permanent: inv.permanent,
        request_needed: inv.request_needed,
        link: format!("https://t.me/+{}", inv.hash),
        admin_id: inv.admin,
        date: inv.date,
        expire_date: inv.expire_date,
        usage_limit: inv.usage_limit,
        usage: Some(inv.usage),
        title: inv.title.clone(),
        ..Default::default()
    }
    .into()
}

/// The hash of an invite link given as `https://t.me/+HASH`, `t.me/joinchat/HASH` or `HASH`.
fn invite_hash(link: &str) -> &str {
    let l = link.trim();
    let l = l.rsplit('/').next().unwrap_or(l);
    l.trim_start_matches('+')
}

/// `messages.exportChatInvite` for a channel.
pub(crate) fn export_invite(
    ctx: &Ctx<'_>,
    me: i64,
    id: i64,
    req: functions::messages::ExportChatInvite,
) -> RpcResult {
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    require_right(channel(&state, id), me, |r| r.invite_users)?;
    if req.usage_limit.is_some_and(|l| !(1..=99_999).contains(&l)) {
        return Err(RpcErr::bad_request("USAGE_LIMIT_INVALID"));
    }
    if req.request_needed && req.usage_limit.is_some() {
        return Err(RpcErr::bad_request("USAGE_LIMIT_INVALID"));
    }
    if req.expire_date.is_some_and(|d| d <= now()) {
        return Err(RpcErr::bad_request("EXPIRE_DATE_INVALID"));
    }
    let hash = {
        let a = state.random_hash();
        let b = state.random_hash();
        format!("{a}{b}").chars().take(16).collect::<String>()
    };
    let permanent = !req.request_needed
        && req.usage_limit.is_none()
        && req.expire_date.is_none()
        && req.title.is_none();
    let ch = state.channels.get_mut(&id).expect("checked");
    if permanent || req.legacy_revoke_permanent {
        for i in ch
            .invites
            .iter_mut()
            .filter(|i| i.permanent && i.admin == me)
        {
            i.revoked = true;
            i.permanent = false;
        }
    }
    let inv = Invite {
        hash,
        admin: me,
        date: now(),
        request_needed: req.request_needed,
        title: req.title,
        expire_date: req.expire_date,
        usage_limit: req.usage_limit,
        usage: 0,
        revoked: false,
        permanent,
    };
    let out = invite_tl(&inv);
    ch.invites.push(inv);
    state.mark_channel(id);
    ok(out)
}

fn find_invite(state: &State, hash: &str) -> Result<(i64, usize), RpcErr> {
    let now = now();
    for (id, ch) in &state.channels {
        if let Some(i) = ch.invites.iter().position(|i| i.hash == hash) {
            let inv = &ch.invites[i];
            let used_up = inv.usage_limit.is_some_and(|l| inv.usage >= l);
            if inv.revoked || inv.expire_date.is_some_and(|d| d <= now) || used_up {
                return Err(RpcErr::bad_request("INVITE_HASH_EXPIRED"));
            }
            return Ok((*id, i));
        }
    }
    Err(RpcErr::bad_request("INVITE_HASH_INVALID"))
}

/// `messages.checkChatInvite` (channels).
pub(crate) fn check_invite(ctx: &Ctx<'_>, req: functions::messages::CheckChatInvite) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let (id, i) = find_invite(&state, invite_hash(&req.hash))?;
    let ch = channel(&state, id);
    if ch.members.contains_key(&me) {
        return ok(enums::ChatInvite::from(types::ChatInviteAlready {
            chat: channel_tl(&state, me, id),
        }));
    }
    ok(enums::ChatInvite::from(types::ChatInvite {
        channel: true,
        broadcast: !ch.megagroup,
        public: ch.username.is_some(),
        megagroup: ch.megagroup,
        request_needed: ch.invites[i].request_needed,
        title: ch.title.clone(),
        about: (!ch.about.is_empty()).then(|| ch.about.clone()),
        photo: enums::Photo::Empty(types::PhotoEmpty { id: 0 }),
        participants_count: ch.members.len() as i32,
        ..blank_invite()
    }))
}

/// `messages.importChatInvite`: joins, or files a join request (`INVITE_REQUEST_SENT`).
pub(crate) fn import_invite(
    ctx: &Ctx<'_>,
    req: functions::messages::ImportChatInvite,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let (id, i) = find_invite(&state, invite_hash(&req.hash))?;
    let ch = channel(&state, id);
    if is_kicked(ch, me, now()) {
        return Err(RpcErr::bad_request("USER_BANNED_IN_CHANNEL"));
    }
    if ch.members.contains_key(&me) {
        return Err(RpcErr::bad_request("USER_ALREADY_PARTICIPANT"));
    }
    let inv = ch.invites[i].clone();
    if inv.request_needed {
        let date = now();
        let c = state.channels.get_mut(&id).expect("checked");
        c.requests.insert(me, (date, inv.hash.clone()));
        state.mark_channel(id);
        notify_request(ctx, &mut state, id, me, date, Some(&inv));
        return Err(RpcErr::bad_request("INVITE_REQUEST_SENT"));
    }
    state.channels.get_mut(&id).expect("checked").invites[i].usage += 1;
    let action = types::MessageActionChatJoinedByLink {
        inviter_id: inv.admin,
    };
    let list = add_member(
        ctx,
        &mut state,
        id,
        me,
        inv.admin,
        Some(action.into()),
        Some(invite_tl(&inv)),
    )?;
    joined(&state, me, id, list)
}

/// Tells admins about the pending requests and admin bots about the new one.
fn notify_request(
    ctx: &Ctx<'_>,
    state: &mut State,
    id: i64,
    user: i64,
    date: i32,
    inv: Option<&Invite>,
) {
    let ch = channel(state, id);
    let pending: Vec<i64> = ch.requests.keys().copied().collect();
    let admins: Vec<i64> = ch
        .members
        .keys()
        .copied()
        .filter(|u| rights_of(ch, *u).is_some_and(|r| r.invite_users))
        .collect();
    let update: enums::Update = types::UpdatePendingJoinRequests {
        peer: types::PeerChannel { channel_id: id }.into(),
        requests_pending: pending.len() as i32,
        recent_requesters: pending.iter().rev().take(3).copied().collect(),
    }
    .into();
    let (bots, people): (Vec<i64>, Vec<i64>) = admins
        .into_iter()
        .partition(|u| state.users.get(u).is_some_and(|x| x.bot));
    push_to(ctx, state, id, people, &update, &pending);
    let Some(inv) = inv else { return };
    for bot in bots {
        let u = state.push_qts(bot, |qts| {
            types::UpdateBotChatInviteRequester {
                peer: types::PeerChannel { channel_id: id }.into(),
                date,
                user_id: user,
                about: String::new(),
                invite: invite_tl(inv),
                qts,
                query_id: None,
            }
            .into()
        });
        push_to(ctx, state, id, [bot], &u, &[user]);
    }
}

/// `channels.exportMessageLink`: `https://t.me/USERNAME/ID` for a public channel,
/// `https://t.me/c/CHANNEL/ID` for a private one (members only); `?thread=ID` with `thread`.
pub(crate) fn export_message_link(
    ctx: &Ctx<'_>,
    req: functions::channels::ExportMessageLink,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    let ch = channel(&state, id);
    if ch.username.is_none() && !ch.members.contains_key(&me) {
        return Err(RpcErr::bad_request("CHANNEL_PRIVATE"));
    }
    if !state
        .boxes
        .get(&channel_box(id))
        .is_some_and(|b| b.messages.contains_key(&req.id))
    {
        return Err(RpcErr::bad_request("MSG_ID_INVALID"));
    }
    let b = &state.boxes[&channel_box(id)];
    let top = top_of(b, req.id);
    let post_of_thread = b.messages.get(&top).and_then(|t| t.discussion);
    let link = match post_of_thread {
        // A comment: the link opens the channel post with the comment shown.
        Some((c, post)) if top != req.id && state.channels.contains_key(&c) => {
            let base = match &channel(&state, c).username {
                Some(u) => format!("https://t.me/{u}/{post}"),
                None => format!("https://t.me/c/{c}/{post}"),
            };
            format!("{base}?comment={}", req.id)
        }
        _ => {
            let base = match &ch.username {
                Some(u) => format!("https://t.me/{u}/{}", req.id),
                None => format!("https://t.me/c/{id}/{}", req.id),
            };
            if req.thread {
                format!("{base}?thread={top}")
            } else {
                base
            }
        }
    };
    let html = format!("<a href=\"{link}\">{link}</a>");
    ok(enums::ExportedMessageLink::from(
        types::ExportedMessageLink { link, html },
    ))
}

/// `messages.getChatInviteImporters` with `requested`: the pending join requests, newest
/// first, after (`offset_date`, `offset_user`); without `requested`: who joined through
/// invite links (not kept here: none).
pub(crate) fn get_join_requests(
    ctx: &Ctx<'_>,
    req: functions::messages::GetChatInviteImporters,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let id = match resolve_peer(&state, me, &req.peer)? {
        Some(id) => id,
        None => return Err(RpcErr::bad_request("PEER_ID_INVALID")),
    };
    require_right(channel(&state, id), me, |r| r.invite_users)?;
    let after_user = match &req.offset_user {
        enums::InputUser::Empty => None,
        u => Some(user_from_input(&state, me, u)?),
    };
    let q = req.q.clone().unwrap_or_default().to_lowercase();
    let mut list: Vec<(i64, i32, String)> = if req.requested {
        channel(&state, id)
            .requests
            .iter()
            .map(|(u, (d, h))| (*u, *d, h.clone()))
            .collect()
    } else {
        Vec::new()
    };
    list.retain(|(u, _, h)| {
        req.link.as_deref().is_none_or(|l| l.ends_with(h.as_str()))
            && (q.is_empty()
                || state.users.get(u).is_some_and(|x| {
                    format!(
                        "{} {} {}",
                        x.first_name,
                        x.last_name,
                        x.username.clone().unwrap_or_default()
                    )
                    .to_lowercase()
                    .contains(&q)
                }))
    });
    list.sort_by_key(|(u, d, _)| std::cmp::Reverse((*d, *u)));
    let count = list.len() as i32;
    if req.offset_date > 0 || after_user.is_some() {
        let key = (req.offset_date, after_user.unwrap_or(i64::MAX));
        list.retain(|(u, d, _)| (*d, *u) < key);
    }
    let limit = req.limit.clamp(1, 100) as usize;
    list.truncate(limit);
    let now = now();
    let users = list
        .iter()
        .map(|(u, _, _)| state.user_tl(me, *u, now))
        .collect();
    ok(enums::messages::ChatInviteImporters::from(
        types::messages::ChatInviteImporters {
            count,
            importers: list
                .iter()
                .map(|(u, d, _)| {
                    types::ChatInviteImporter {
                        requested: true,
                        via_chatlist: false,
                        user_id: *u,
                        date: *d,
                        about: None,
                        approved_by: None,
                    }
                    .into()
                })
                .collect(),
            users,
        },
    ))
}

/// `messages.hideChatJoinRequest`: approve or decline a request.
pub(crate) fn hide_join_request(
    ctx: &Ctx<'_>,
    me: i64,
    id: i64,
    req: functions::messages::HideChatJoinRequest,
) -> RpcResult {
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    require_right(channel(&state, id), me, |r| r.invite_users)?;
    let user = user_from_input(&state, me, &req.user_id)?;
    let Some((_, hash)) = state
        .channels
        .get_mut(&id)
        .expect("checked")
        .requests
        .remove(&user)
    else {
        return Err(RpcErr::bad_request("HIDE_REQUESTER_MISSING"));
    };
    state.mark_channel(id);
    notify_request(ctx, &mut state, id, user, now(), None);
    let mut list = vec![];
    if req.approved {
        let ch = state.channels.get_mut(&id).expect("checked");
        let inv = ch.invites.iter_mut().find(|i| i.hash == hash).map(|i| {
            i.usage += 1;
            invite_tl(i)
        });
        list = add_member(
            ctx,
            &mut state,
            id,
            user,
            me,
            Some(types::MessageActionChatJoinedByRequest {}.into()),
            inv,
        )?;
    }
    answer(&state, me, id, list, &[user])
}

/// `contacts.resolveUsername` of a channel.
pub(crate) fn resolved(state: &State, me: i64, id: i64) -> RpcResult {
    ok(enums::contacts::ResolvedPeer::from(
        types::contacts::ResolvedPeer {
            peer: types::PeerChannel { channel_id: id }.into(),
            chats: vec![channel_tl(state, me, id)],
            users: vec![],
        },
    ))
}

/// `channel` with every optional field empty (the generated type has no `Default`).
fn blank_channel() -> types::Channel {
    types::Channel {
        creator: false,
        left: false,
        broadcast: false,
        verified: false,
        megagroup: false,
        restricted: false,
        signatures: false,
        min: false,
        scam: false,
        has_link: false,
        has_geo: false,
        slowmode_enabled: false,
        call_active: false,
        call_not_empty: false,
        fake: false,
        gigagroup: false,
        noforwards: false,
        join_to_send: false,
        join_request: false,
        forum: false,
        stories_hidden: false,
        stories_hidden_min: false,
        stories_unavailable: false,
        signature_profiles: false,
        autotranslation: false,
        broadcast_messages_allowed: false,
        monoforum: false,
        forum_tabs: false,
        id: 0,
        access_hash: None,
        title: String::new(),
        username: None,
        photo: enums::ChatPhoto::Empty,
        date: 0,
        restriction_reason: None,
        admin_rights: None,
        banned_rights: None,
        default_banned_rights: None,
        participants_count: None,
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        emoji_status: None,
        level: None,
        subscription_until_date: None,
        bot_verification_icon: None,
        send_paid_messages_stars: None,
        linked_monoforum_id: None,
        linked_community_id: None,
    }
}

fn blank_full() -> types::ChannelFull {
    types::ChannelFull {
        can_view_participants: false,
        can_set_username: false,
        can_set_stickers: false,
        hidden_prehistory: false,
        can_set_location: false,
        has_scheduled: false,
        can_view_stats: false,
        blocked: false,
        can_delete_channel: false,
        antispam: false,
        participants_hidden: false,
        translations_disabled: false,
        stories_pinned_available: false,
        view_forum_as_messages: false,
        restricted_sponsored: false,
        can_view_revenue: false,
        paid_media_allowed: false,
        can_view_stars_revenue: false,
        paid_reactions_available: false,
        stargifts_available: false,
        paid_messages_available: false,
        has_welcome_messages: false,
        id: 0,
        about: String::new(),
        participants_count: None,
        admins_count: None,
        kicked_count: None,
        banned_count: None,
        online_count: None,
        read_inbox_max_id: 0,
        read_outbox_max_id: 0,
        unread_count: 0,
        chat_photo: enums::Photo::Empty(types::PhotoEmpty { id: 0 }),
        notify_settings: types::PeerNotifySettings::default().into(),
        exported_invite: None,
        bot_info: vec![],
        migrated_from_chat_id: None,
        migrated_from_max_id: None,
        pinned_msg_id: None,
        stickerset: None,
        available_min_id: None,
        folder_id: None,
        linked_chat_id: None,
        location: None,
        slowmode_seconds: None,
        slowmode_next_send_date: None,
        stats_dc: None,
        pts: 0,
        call: None,
        ttl_period: None,
        pending_suggestions: None,
        groupcall_default_join_as: None,
        theme_emoticon: None,
        requests_pending: None,
        recent_requesters: None,
        default_send_as: None,
        available_reactions: None,
        reactions_limit: None,
        stories: None,
        wallpaper: None,
        boosts_applied: None,
        boosts_unrestrict: None,
        emojiset: None,
        bot_verification: None,
        stargifts_count: None,
        send_paid_messages_stars: None,
        main_tab: None,
        guard_bot_id: None,
    }
}

fn blank_dialog(peer: enums::Peer) -> types::Dialog {
    types::Dialog {
        pinned: false,
        unread_mark: false,
        view_forum_as_messages: false,
        peer,
        top_message: 0,
        read_inbox_max_id: 0,
        read_outbox_max_id: 0,
        unread_count: 0,
        unread_mentions_count: 0,
        unread_reactions_count: 0,
        unread_poll_votes_count: 0,
        notify_settings: types::PeerNotifySettings::default().into(),
        pts: None,
        draft: None,
        folder_id: None,
        ttl_period: None,
    }
}

fn blank_invite() -> types::ChatInvite {
    types::ChatInvite {
        channel: false,
        broadcast: false,
        public: false,
        megagroup: false,
        request_needed: false,
        verified: false,
        scam: false,
        fake: false,
        can_refulfill_subscription: false,
        title: String::new(),
        about: None,
        photo: enums::Photo::Empty(types::PhotoEmpty { id: 0 }),
        participants_count: 0,
        participants: None,
        color: 0,
        subscription_pricing: None,
        subscription_form_id: None,
        bot_verification: None,
    }
}

/// `channels.setDiscussionGroup`: links broadcast channel `broadcast` and supergroup `group`
/// (`inputChannelEmpty`: unlinks). Each side may be linked to one chat at a time.
pub(crate) fn set_discussion_group(
    ctx: &Ctx<'_>,
    req: functions::channels::SetDiscussionGroup,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let b = resolve(&state, me, &req.broadcast)
        .map_err(|_| RpcErr::bad_request("BROADCAST_ID_INVALID"))?;
    if channel(&state, b).megagroup {
        return Err(RpcErr::bad_request("BROADCAST_ID_INVALID"));
    }
    require_right(channel(&state, b), me, |r| r.change_info)?;
    let group = match &req.group {
        enums::InputChannel::Empty => None,
        g => {
            let g =
                resolve(&state, me, g).map_err(|_| RpcErr::bad_request("MEGAGROUP_ID_INVALID"))?;
            if !channel(&state, g).megagroup {
                return Err(RpcErr::bad_request("MEGAGROUP_ID_INVALID"));
            }
            require_right(channel(&state, g), me, |r| r.pin_messages)?;
            Some(g)
        }
    };
    if channel(&state, b).linked == group {
        return Err(RpcErr::bad_request("LINK_NOT_MODIFIED"));
    }
    // Undo the links this replaces, on both sides.
    let old_group = channel(&state, b).linked;
    let old_channel = group.and_then(|g| channel(&state, g).linked);
    let mut touched = vec![b];
    for other in old_group.into_iter().chain(old_channel) {
        if let Some(c) = state.channels.get_mut(&other) {
            c.linked = None;
            touched.push(other);
        }
    }
    state.channels.get_mut(&b).expect("resolved").linked = group;
    if let Some(g) = group {
        state.channels.get_mut(&g).expect("resolved").linked = Some(b);
        touched.push(g);
    }
    touched.sort_unstable();
    touched.dedup();
    for &c in &touched {
        state.mark_channel(c);
        let members: Vec<i64> = channel(&state, c).members.keys().copied().collect();
        let update: enums::Update = types::UpdateChannel { channel_id: c }.into();
        push_to(ctx, &state, c, members, &update, &[]);
    }
    ok(true)
}

/// `channels.getGroupsForDiscussion`: the supergroups `me` administers.
pub(crate) fn get_groups_for_discussion(
    ctx: &Ctx<'_>,
    _req: functions::channels::GetGroupsForDiscussion,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let mut ids: Vec<i64> = state
        .channels
        .iter()
        .filter(|(_, c)| c.megagroup && c.members.contains_key(&me) && rights_of(c, me).is_some())
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    ok(enums::messages::Chats::from(types::messages::Chats {
        chats: ids.iter().map(|&id| channel_tl(&state, me, id)).collect(),
    }))
}

/// The thread message `msg_id` of `peer` opens: (group, top message). For a broadcast
/// channel's post, its comments in the discussion group; in a supergroup, the thread the
/// message is in. Checks that `me` may read it.
fn thread_at(
    state: &State,
    me: i64,
    peer: &enums::InputPeer,
    msg_id: i32,
) -> Result<(i64, i32), RpcErr> {
    let id =
        resolve_peer(state, me, peer)?.ok_or_else(|| RpcErr::bad_request("PEER_ID_INVALID"))?;
    require_read(state, me, id)?;
    let exists = |c: i64, m: i32| {
        state
            .boxes
            .get(&channel_box(c))
            .is_some_and(|b| b.messages.contains_key(&m))
    };
    if !exists(id, msg_id) {
        return Err(RpcErr::bad_request("MSG_ID_INVALID"));
    }
    if channel(state, id).megagroup {
        let top = top_of(&state.boxes[&channel_box(id)], msg_id);
        return Ok((id, top));
    }
    // A post: its comments, readable by whoever reads the channel.
    discussion_copy(state, id, msg_id).ok_or_else(|| RpcErr::bad_request("MSG_ID_INVALID"))
}

/// `messages.getDiscussionMessage`: the message that starts the thread (for a channel post,
/// its automatic forward in the discussion group) with the thread's read state.
pub(crate) fn get_discussion_message(
    ctx: &Ctx<'_>,
    req: functions::messages::GetDiscussionMessage,
) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let (group, top) = thread_at(&state, me, &req.peer, req.msg_id)?;
    let start = &state.boxes[&channel_box(group)].messages[&top];
    let thread = thread_of(&state, group, top);
    let read = state.read.get(&(me, channel_box(group))).map_or(0, |r| r.0);
    let unread = thread
        .iter()
        .filter(|m| m.id > read && m.from != me)
        .count();
    let mut message = message_tl(&state, group, start, me);
    state.refresh_media(&mut message, me);
    ok(enums::messages::DiscussionMessage::from(
        types::messages::DiscussionMessage {
            messages: vec![message],
            max_id: thread.last().map(|m| m.id),
            read_inbox_max_id: Some(read.min(thread.last().map_or(top, |m| m.id))),
            read_outbox_max_id: thread.iter().rev().find(|m| m.from == me).map(|m| m.id),
            unread_count: unread as i32,
            chats: chats_tl(&state, me, group),
            users: users_tl(&state, me, [start.from, me]),
        },
    ))
}

/// `messages.getReplies`: the messages of a thread (a post's comments), newest first, with
/// Telegram's offsets.
pub(crate) fn get_replies(ctx: &Ctx<'_>, req: functions::messages::GetReplies) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let (group, top) = thread_at(&state, me, &req.peer, req.msg_id)?;
    let window = Window {
        offset_id: req.offset_id,
        offset_date: req.offset_date,
        add_offset: req.add_offset,
        limit: req.limit,
        max_id: req.max_id,
        min_id: req.min_id,
    };
    let thread = thread_of(&state, group, top);
    page_answer(&state, me, group, thread.into_iter().rev(), &window)
}

/// Marks `me`'s unread mentions in channel `id` read (`ids`, or all of them) and tells
/// `me`'s other sessions. Returns the ids that were unread.
pub(crate) fn read_mentions(
    ctx: &Ctx<'_>,
    state: &mut State,
    me: i64,
    id: i64,
    ids: Option<&[i32]>,
) -> Vec<i32> {
    let Some(set) = state.channel_mentions.get_mut(&(me, id)) else {
        return vec![];
    };
    let read: Vec<i32> = match ids {
        Some(ids) => ids.iter().copied().filter(|i| set.remove(i)).collect(),
        None => std::mem::take(set).into_iter().collect(),
    };
    if set.is_empty() {
        state.channel_mentions.remove(&(me, id));
    }
    if !read.is_empty() {
        state.mark_channel_mentions(me, id);
        let update: enums::Update = types::UpdateChannelReadMessagesContents {
            channel_id: id,
            top_msg_id: None,
            saved_peer_id: None,
            messages: read.clone(),
        }
        .into();
        push_to(ctx, state, id, [me], &update, &[]);
    }
    read
}

/// `channels.readMessageContents`: the mentions among `id` are read.
pub(crate) fn read_message_contents(
    ctx: &Ctx<'_>,
    req: functions::channels::ReadMessageContents,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = resolve(&state, me, &req.channel)?;
    require_read(&state, me, id)?;
    read_mentions(ctx, &mut state, me, id, Some(&req.id));
    ok(true)
}

/// `messages.getUnreadMentions` in a channel: `me`'s unread mentions, newest first.
pub(crate) fn unread_mentions(
    state: &State,
    me: i64,
    id: i64,
    req: &functions::messages::GetUnreadMentions,
) -> RpcResult {
    require_read(state, me, id)?;
    let b = state.boxes.get(&channel_box(id));
    let newest_first = state
        .channel_mentions
        .get(&(me, id))
        .into_iter()
        .flat_map(|s| s.iter().rev())
        .filter_map(|m| b?.messages.get(m));
    let window = Window {
        offset_id: req.offset_id,
        offset_date: 0,
        add_offset: req.add_offset,
        limit: req.limit,
        max_id: req.max_id,
        min_id: req.min_id,
    };
    page_answer(state, me, id, newest_first, &window)
}
