//! API method dispatch: unwraps `invokeWithLayer`, `initConnection`, `invokeWithoutUpdates`
//! and `invokeAfterMsg(s)`, then calls the handler of the inner method by constructor id.
//!
//! Errors are Telegram's: `400 INPUT_METHOD_INVALID` for a method the DC does not serve,
//! `400 INPUT_FETCH_ERROR` for arguments that do not decode, `401 AUTH_KEY_UNREGISTERED` for
//! user methods before login, `303 USER_MIGRATE_X` / `PHONE_MIGRATE_X` for the wrong DC.

mod account;
mod auth;
pub(crate) mod bots;
pub(crate) mod channels;
mod chats;
mod contacts;
mod help;
mod media;
pub(crate) mod messages;
pub(crate) mod react;
mod updates;
mod users;

use crate::Shared;
use fleetgram_tl::{enums, functions, types, Deserializable, Identifiable, Reader, Serializable};

/// What a handler knows about the call.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Shared,
    /// The DC serving the call.
    pub dc: i32,
    /// The auth key the call came with.
    pub key_id: i64,
    /// The permanent key behind it (itself unless it is a bound temporary key).
    pub perm_key_id: i64,
    /// The client's session.
    pub session_id: i64,
    /// The request's msg_id.
    pub msg_id: i64,
    /// Updates for other sessions, delivered after the call (never while its session is
    /// locked).
    pub pushes: std::cell::RefCell<Vec<Push>>,
    /// Set when the answer must be held back (an injected delay).
    pub delay: std::cell::Cell<Option<std::time::Duration>>,
    /// Set by `invokeWithoutUpdates`: the session asks not to receive updates.
    pub without_updates: std::cell::Cell<bool>,
    /// Set by a handler whose answer comes later (a bot's answer to a query): the
    /// connection sends what this resolves to, without holding anything up meanwhile.
    pub deferred: std::cell::RefCell<Option<Deferred>>,
    /// The API layer the client speaks (its session's, or what `invokeWithLayer` says).
    pub layer: std::cell::Cell<i32>,
}

/// An answer that is not ready yet.
pub(crate) type Deferred =
    std::pin::Pin<Box<dyn std::future::Future<Output = RpcResult> + Send + 'static>>;

/// An update object for every session of `user` except the calling one.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    pub user: i64,
    pub body: Vec<u8>,
    /// The seq this `updates` container shares with the answer to the call that made it
    /// (the caller's other sessions get the same update at the same place in the sequence).
    pub seq: Option<i32>,
}

impl Ctx<'_> {
    /// Queues `update` for `user`'s sessions (but not the one making this call).
    pub fn push(&self, user: i64, update: &impl Serializable) {
        self.pushes.borrow_mut().push(Push {
            seq: None,
            user,
            body: update.to_bytes(),
        });
    }
}

pub(crate) use crate::errors::{RpcErr, RpcResult};

/// Serializes a handler's answer.
pub(crate) fn ok<T: Serializable>(v: T) -> RpcResult {
    Ok(v.to_bytes())
}

fn id_of(body: &[u8]) -> u32 {
    body.get(..4)
        .map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4")))
}

/// Handles one request body (`msg_id` is the request's message id), in the client's layer
/// (see [`crate::layers`]).
pub(crate) fn handle(ctx: &Ctx<'_>, msg_id: i64, body: &[u8]) -> RpcResult {
    let (layer, body) = unwrap(ctx, body)?;
    let Some(client) = crate::layers::client_schema(layer)? else {
        return answer(ctx, msg_id, body);
    };
    // An older layer: the request is read in it, the answer written in it.
    let converted = crate::layers::request_in(layer, client, body)?;
    let result = answer(ctx, msg_id, &converted);
    let later = ctx.deferred.borrow_mut().take();
    if let Some(later) = later {
        let request = converted.clone();
        *ctx.deferred.borrow_mut() = Some(Box::pin(async move {
            let bytes = later.await?;
            crate::layers::answer_out(layer, client, &request, &bytes)
        }));
    }
    crate::layers::answer_out(layer, client, &converted, &result?)
}

/// Peels the wrappers (`invokeWithLayer`, `initConnection`...) off a request: the client's
/// layer (declared here, or the one its key declared before) and the call inside.
fn unwrap<'b>(ctx: &Ctx<'_>, body: &'b [u8]) -> Result<(i32, &'b [u8]), RpcErr> {
    let mut body = body;
    // Peel the wrappers; each may appear once, in any order.
    for _ in 0..8 {
        let mut r = Reader::new(body);
        match id_of(body) {
            functions::InvokeWithLayer::<functions::help::GetConfig>::CONSTRUCTOR_ID => {
                r.u32()?;
                let layer = r.i32()?;
                ctx.layer.set(layer);
                ctx.shared
                    .key_layers
                    .lock()
                    .expect("not poisoned")
                    .insert(ctx.perm_key_id, layer);
                body = r.rest();
            }
            functions::InvokeWithoutUpdates::<functions::help::GetConfig>::CONSTRUCTOR_ID => {
                r.u32()?;
                ctx.without_updates.set(true);
                body = r.rest();
            }
            functions::InvokeAfterMsg::<functions::help::GetConfig>::CONSTRUCTOR_ID => {
                r.u32()?;
                r.i64()?;
                body = r.rest();
            }
            functions::InvokeAfterMsgs::<functions::help::GetConfig>::CONSTRUCTOR_ID => {
                r.u32()?;
                let n = r.vector_len(true, 8)?;
                for _ in 0..n {
                    r.i64()?;
                }
                body = r.rest();
            }
            functions::InitConnection::<functions::help::GetConfig>::CONSTRUCTOR_ID => {
                r.u32()?;
                let flags = r.u32()?;
                let _api_id = r.i32()?;
                for _ in 0..6 {
                    r.string()?; // device_model .. lang_code
                }
                if flags & 1 != 0 {
                    fleetgram_tl::enums::InputClientProxy::deserialize(&mut r)?;
                }
                if flags & 2 != 0 {
                    fleetgram_tl::enums::JSONValue::deserialize(&mut r)?;
                }
                body = r.rest();
            }
            _ => break,
        }
    }
    Ok((ctx.layer.get(), body))
}

/// Runs the call `body` (in the DC's layer) and makes its answer.
fn answer(ctx: &Ctx<'_>, msg_id: i64, body: &[u8]) -> RpcResult {
    debug_assert_eq!(msg_id, ctx.msg_id);
    let result = route_checked(ctx, body)?;
    // An `updates` answer (bare, or inside `messages.invitedUsers` or
    // `messages.chatInviteJoinResultOk`) is part of the caller's seq sequence, like a push.
    let invited = types::messages::InvitedUsers::CONSTRUCTOR_ID;
    let joined = types::messages::ChatInviteJoinResultOk::CONSTRUCTOR_ID;
    let id = id_of(&result);
    if id != UPDATES_ID && id != invited && id != joined {
        return Ok(result);
    }
    let user = ctx
        .shared
        .state
        .lock()
        .expect("not poisoned")
        .user_of(ctx.perm_key_id);
    let Some(user) = user else { return Ok(result) };
    let stamp = |u: &enums::Updates| -> Result<enums::Updates, RpcErr> {
        let b = u.to_bytes();
        if id_of(&b) != UPDATES_ID {
            return Ok(u.clone());
        }
        let stamped = stamp_seq(ctx.shared, user, vec![b]).remove(0);
        share_seq(ctx, user, &stamped);
        Ok(enums::Updates::from_bytes(&stamped)?)
    };
    if id == UPDATES_ID {
        let stamped = stamp_seq(ctx.shared, user, vec![result]).remove(0);
        share_seq(ctx, user, &stamped);
        return Ok(stamped);
    }
    if id == joined {
        let enums::messages::ChatInviteJoinResult::Ok(mut r) =
            enums::messages::ChatInviteJoinResult::from_bytes(&result)?
        else {
            return Ok(result);
        };
        r.updates = stamp(&r.updates)?;
        return Ok(enums::messages::ChatInviteJoinResult::Ok(r).to_bytes());
    }
    let enums::messages::InvitedUsers::InvitedUsers(mut iu) =
        enums::messages::InvitedUsers::from_bytes(&result)?;
    iu.updates = stamp(&iu.updates)?;
    Ok(enums::messages::InvitedUsers::InvitedUsers(iu).to_bytes())
}

/// Gives the caller's other sessions the seq of the answer (`stamped`) for the `updates`
/// containers this call pushes to them: the same updates, the same place in the sequence.
fn share_seq(ctx: &Ctx<'_>, user: i64, stamped: &[u8]) {
    let seq = match enums::Updates::from_bytes(stamped) {
        Ok(enums::Updates::Updates(u)) => u.seq,
        Ok(enums::Updates::Combined(u)) => u.seq,
        _ => 0,
    };
    if seq == 0 {
        return;
    }
    for p in ctx.pushes.borrow_mut().iter_mut() {
        if p.user == user && id_of(&p.body) == UPDATES_ID && !channel_only(&p.body) {
            p.seq = Some(seq);
        }
    }
}

/// Whether `body` is an `updates` container of updates outside the seq sequence only.
fn channel_only(body: &[u8]) -> bool {
    matches!(enums::Updates::from_bytes(body), Ok(enums::Updates::Updates(u)) if u.updates.iter().all(outside_seq))
}

/// `bodies` (`updates` containers) as one container with seq `seq` (one place in the
/// sequence holds one container).
pub(crate) fn with_seq(bodies: Vec<Vec<u8>>, seq: i32) -> Vec<u8> {
    let mut merged: Option<types::Updates> = None;
    for b in &bodies {
        let Ok(enums::Updates::Updates(u)) = enums::Updates::from_bytes(b) else {
            continue;
        };
        match &mut merged {
            None => merged = Some(*u),
            Some(m) => {
                m.updates.extend(u.updates);
                m.users.extend(u.users);
                m.chats.extend(u.chats);
                m.date = m.date.max(u.date);
            }
        }
    }
    match merged {
        Some(mut m) => {
            m.seq = seq;
            enums::Updates::from(m).to_bytes()
        }
        None => bodies.into_iter().next().unwrap_or_default(),
    }
}

/// The constructor id of `updates`.
pub(crate) const UPDATES_ID: u32 = 0x74ae4240;

/// Whether an update lives outside the account's seq sequence: a channel's (its own pts,
/// or about the channel itself) or the id of a sent message. Containers holding only such
/// updates keep seq 0, as Telegram sends them.
fn outside_seq(u: &enums::Update) -> bool {
    use enums::Update as U;
    matches!(
        u,
        U::NewChannelMessage(_)
            | U::EditChannelMessage(_)
            | U::DeleteChannelMessages(_)
            | U::PinnedChannelMessages(_)
            | U::Channel(_)
            | U::ChannelTooLong(_)
            | U::ReadChannelInbox(_)
            | U::ReadChannelOutbox(_)
            | U::ChannelReadMessagesContents(_)
            | U::ChannelMessageViews(_)
            | U::ChannelAvailableMessages(_)
            | U::ChannelUserTyping(_)
            | U::MessageID(_)
    )
}

/// Gives `updates` containers of one account their seq (`seq_start..seq`): one container
/// gets the next seq; several produced together are merged into one `updatesCombined`
/// spanning as many seq values. Containers of channel updates only keep seq 0; other bodies
/// pass through.
pub(crate) fn stamp_seq(shared: &Shared, user: i64, bodies: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    if !bodies.iter().any(|b| id_of(b) == UPDATES_ID) {
        return bodies;
    }
    let mut parts: Vec<types::Updates> = Vec::new();
    let mut rest: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut first = None;
    for (i, b) in bodies.into_iter().enumerate() {
        match (id_of(&b) == UPDATES_ID).then(|| enums::Updates::from_bytes(&b)) {
            Some(Ok(enums::Updates::Updates(u))) if !u.updates.iter().all(outside_seq) => {
                first.get_or_insert(i);
                parts.push(*u)
            }
            _ => rest.push((i, b)),
        }
    }
    let Some(first) = first else {
        return rest.into_iter().map(|(_, b)| b).collect();
    };
    let (start, end) = shared
        .state
        .lock()
        .expect("not poisoned")
        .take_seq(user, parts.len() as i32);
    let stamped: enums::Updates = if parts.len() == 1 {
        let mut u = parts.remove(0);
        u.seq = end;
        u.into()
    } else {
        let date = parts.iter().map(|p| p.date).max().unwrap_or(0);
        let mut c = types::UpdatesCombined {
            updates: vec![],
            users: vec![],
            chats: vec![],
            date,
            seq_start: start,
            seq: end,
        };
        for p in parts {
            c.updates.extend(p.updates);
            c.users.extend(p.users);
            c.chats.extend(p.chats);
        }
        c.into()
    };
    // The merged container takes the place of the first one; the rest keep their order.
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(rest.len() + 1);
    let mut placed = false;
    for (i, b) in rest {
        if !placed && i > first {
            out.push(stamped.to_bytes());
            placed = true;
        }
        out.push(b);
    }
    if !placed {
        out.push(stamped.to_bytes());
    }
    out
}

fn route_checked(ctx: &Ctx<'_>, body: &[u8]) -> RpcResult {
    if let Some(method) = fleetgram_tl::name_of(id_of(body)) {
        let mut faults = ctx.shared.faults.lock().expect("not poisoned");
        if let Some((code, message)) = faults.check(ctx.perm_key_id, method, crate::clock::now_ms())
        {
            return Err(RpcErr::new(code, message));
        }
        ctx.delay.set(faults.delay_for(method));
        if faults.take_crash(method) {
            drop(faults);
            // An injected handler bug, in the worst place: while the state is locked.
            let _state = ctx.shared.state.lock();
            panic!("injected crash in the handler of {method}");
        }
    }
    dispatch(ctx, body)
}

fn dispatch(ctx: &Ctx<'_>, body: &[u8]) -> RpcResult {
    macro_rules! route {
        ($($f:ty => $h:path),* $(,)?) => {
            match id_of(body) {
                $(<$f>::CONSTRUCTOR_ID => $h(ctx, <$f>::from_bytes(body)?),)*
                id => {
                    tracing::debug!(method = fleetgram_tl::name_of(id).unwrap_or("?"), "method not served");
                    Err(RpcErr::bad_request("INPUT_METHOD_INVALID"))
                }
            }
        };
    }
    route! {
        functions::help::GetConfig => help::get_config,
        functions::help::GetNearestDc => help::get_nearest_dc,
        functions::auth::SendCode => auth::send_code,
        functions::auth::ResendCode => auth::resend_code,
        functions::auth::SignIn => auth::sign_in,
        functions::auth::SignUp => auth::sign_up,
        functions::auth::LogOut => auth::log_out,
        functions::auth::BindTempAuthKey => auth::bind_temp_auth_key,
        functions::auth::CheckPassword => auth::check_password,
        functions::auth::ImportBotAuthorization => auth::import_bot_authorization,
        functions::auth::ExportAuthorization => auth::export_authorization,
        functions::auth::ImportAuthorization => auth::import_authorization,
        functions::account::UpdateStatus => account::update_status,
        functions::users::GetFullUser => users::get_full_user,
        functions::contacts::GetContacts => contacts::get_contacts,
        functions::contacts::ImportContacts => contacts::import_contacts,
        functions::contacts::Block => contacts::block,
        functions::contacts::Unblock => contacts::unblock,
        functions::messages::GetMessages => messages::get_messages,
        functions::messages::ReadHistory => messages::read_history,
        functions::messages::SetTyping => messages::set_typing,
        functions::messages::GetDialogs => messages::get_dialogs,
        functions::messages::ForwardMessages => messages::forward_messages,
        functions::messages::UnpinAllMessages => messages::unpin_all_messages,
        functions::messages::DeleteHistory => messages::delete_history,
        functions::messages::ReadMentions => messages::read_mentions,
        functions::messages::GetUnreadMentions => messages::get_unread_mentions,
        functions::messages::ReadMessageContents => messages::read_message_contents,
        functions::channels::ReadMessageContents => channels::read_message_contents,
        functions::messages::GetChatInviteImporters => channels::get_join_requests,
        functions::channels::ExportMessageLink => channels::export_message_link,
        functions::channels::SetDiscussionGroup => channels::set_discussion_group,
        functions::channels::GetGroupsForDiscussion => channels::get_groups_for_discussion,
        functions::messages::GetDiscussionMessage => channels::get_discussion_message,
        functions::messages::GetReplies => channels::get_replies,
        functions::photos::UploadProfilePhoto => media::upload_profile_photo,
        functions::photos::GetUserPhotos => media::get_user_photos,
        functions::photos::DeletePhotos => media::delete_photos,
        functions::messages::RequestWebView => bots::request_web_view,
        functions::messages::RequestAppWebView => bots::request_app_web_view,
        functions::messages::ProlongWebView => bots::prolong_web_view,
        functions::messages::UpdatePinnedMessage => messages::update_pinned_message,
        functions::messages::Search => messages::search,
        functions::messages::SearchGlobal => messages::search_global,
        functions::messages::CreateChat => chats::create_chat,
        functions::messages::AddChatUser => chats::add_chat_user,
        functions::messages::DeleteChatUser => chats::delete_chat_user,
        functions::messages::EditChatTitle => chats::edit_chat_title,
        functions::messages::GetFullChat => chats::get_full_chat,
        functions::account::GetPassword => account::get_password,
        functions::account::UpdatePasswordSettings => account::update_password_settings,
        functions::account::UpdateUsername => account::update_username,
        functions::account::UpdateProfile => account::update_profile,
        functions::contacts::ResolveUsername => contacts::resolve_username,
        functions::messages::SendMessage => messages::send_message,
        functions::messages::EditMessage => messages::edit_message,
        functions::messages::DeleteMessages => messages::delete_messages,
        functions::messages::GetHistory => messages::get_history,
        functions::users::GetUsers => users::get_users,
        functions::updates::GetState => updates::get_state,
        functions::updates::GetDifference => updates::get_difference,
        functions::updates::GetChannelDifference => channels::get_channel_difference,
        functions::channels::CreateChannel => channels::create_channel,
        functions::channels::GetChannels => channels::get_channels,
        functions::channels::GetFullChannel => channels::get_full_channel,
        functions::channels::GetParticipants => channels::get_participants,
        functions::channels::GetParticipant => channels::get_participant,
        functions::channels::InviteToChannel => channels::invite_to_channel,
        functions::channels::JoinChannel => channels::join_channel,
        functions::channels::LeaveChannel => channels::leave_channel,
        functions::channels::EditAdmin => channels::edit_admin,
        functions::channels::EditBanned => channels::edit_banned,
        functions::channels::DeleteMessages => channels::delete_messages,
        functions::channels::ReadHistory => channels::read_history,
        functions::channels::GetMessages => channels::get_messages,
        functions::channels::UpdateUsername => channels::update_username,
        functions::channels::CheckUsername => channels::check_username,
        functions::messages::ExportChatInvite => messages::export_chat_invite,
        functions::messages::CheckChatInvite => channels::check_invite,
        functions::messages::GetBotCallbackAnswer => bots::get_bot_callback_answer,
        functions::upload::SaveFilePart => media::save_file_part,
        functions::upload::SaveBigFilePart => media::save_big_file_part,
        functions::upload::GetFile => media::get_file,
        functions::messages::UploadMedia => media::upload_media,
        functions::messages::SendMedia => media::send_media,
        functions::messages::SendReaction => react::send_reaction,
        functions::messages::SendVote => react::send_vote,
        functions::messages::GetInlineBotResults => bots::get_inline_bot_results,
        functions::messages::SetInlineBotResults => bots::set_inline_bot_results,
        functions::messages::SendInlineBotResult => bots::send_inline_bot_result,
        functions::bots::SetBotCommands => bots::set_bot_commands,
        functions::messages::GetScheduledHistory => messages::get_scheduled_history,
        functions::bots::GetBotCommands => bots::get_bot_commands,
        functions::messages::SetBotShippingResults => bots::set_bot_shipping_results,
        functions::messages::SetBotPrecheckoutResults => bots::set_bot_precheckout_results,
        functions::messages::SetBotCallbackAnswer => bots::set_bot_callback_answer,
        functions::messages::ImportChatInvite => channels::import_invite,
        functions::messages::HideChatJoinRequest => messages::hide_chat_join_request,
    }
}

/// The logged-in user of the call, or `401 AUTH_KEY_UNREGISTERED`; `303 USER_MIGRATE_X` when
/// the user lives on another DC.
pub(crate) fn require_user(ctx: &Ctx<'_>) -> Result<i64, RpcErr> {
    let state = ctx.shared.state.lock().expect("not poisoned");
    let user = state
        .user_of(ctx.perm_key_id)
        .ok_or_else(|| RpcErr::new(401, "AUTH_KEY_UNREGISTERED"))?;
    match state.users.get(&user) {
        Some(u) if u.home_dc != ctx.dc => {
            Err(RpcErr::new(303, format!("USER_MIGRATE_{}", u.home_dc)))
        }
        Some(_) => Ok(user),
        None => Err(RpcErr::new(401, "USER_DEACTIVATED")),
    }
}

/// Unix time, seconds.
pub(crate) fn now() -> i32 {
    (crate::clock::now_ms() / 1000) as i32
}

/// The auth key id the DC itself acts with for `user` (never a real key: those come from
/// SHA1 and are spread over all 64 bits, this one has a fixed top half).
fn system_key(user: i64) -> i64 {
    0x0c0a_11ed_0000_0000 ^ (user & 0xffff_ffff)
}

/// Runs `f` as `user` would over the API (for the control API and scheduled messages). `None`
/// if the user does not exist; else its result and the updates it produced, for the caller
/// to deliver (`conn::deliver`, origin: the returned session key).
pub(crate) fn as_user<T>(
    shared: &crate::Shared,
    user: i64,
    f: impl FnOnce(&Ctx<'_>) -> Result<T, RpcErr>,
) -> Option<AsUser<T>> {
    let key = system_key(user);
    let home = {
        let mut state = shared.state.lock().expect("not poisoned");
        let home = state.users.get(&user)?.home_dc;
        state.authorizations.insert(key, user);
        home
    };
    let ctx = Ctx {
        shared,
        dc: home,
        key_id: key,
        perm_key_id: key,
        session_id: 0,
        msg_id: 0,
        pushes: Default::default(),
        delay: Default::default(),
        without_updates: Default::default(),
        deferred: Default::default(),
        layer: std::cell::Cell::new(fleetgram_tl::LAYER),
    };
    let result = f(&ctx);
    shared.sync_store();
    let pushes = ctx.pushes.into_inner();
    shared
        .state
        .lock()
        .expect("not poisoned")
        .authorizations
        .remove(&key);
    Some(AsUser {
        result,
        pushes,
        origin: (key, 0),
    })
}

/// What [`as_user`] did: the result, and the updates to deliver.
pub(crate) struct AsUser<T> {
    pub result: Result<T, RpcErr>,
    pub pushes: Vec<Push>,
    pub origin: (i64, i64),
}
