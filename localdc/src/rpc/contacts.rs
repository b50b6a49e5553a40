//! `contacts.*`.

use super::{now, ok, require_user, Ctx, RpcErr, RpcResult};
use fleetgram_tl::{enums, functions, types};

/// `contacts.resolveUsername`.
pub(crate) fn resolve_username(
    ctx: &Ctx<'_>,
    req: functions::contacts::ResolveUsername,
) -> RpcResult {
    let me = require_user(ctx)?;
    let name = req.username.trim_start_matches('@').to_ascii_lowercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(RpcErr::bad_request("USERNAME_INVALID"));
    }
    let state = ctx.shared.state.lock().expect("not poisoned");
    let id = *state
        .by_username
        .get(&name)
        .ok_or_else(|| RpcErr::bad_request("USERNAME_NOT_OCCUPIED"))?;
    if state.channels.contains_key(&id) {
        return super::channels::resolved(&state, me, id);
    }
    ok(enums::contacts::ResolvedPeer::from(
        types::contacts::ResolvedPeer {
            peer: types::PeerUser { user_id: id }.into(),
            chats: vec![],
            users: vec![state.user_tl(me, id, now())],
        },
    ))
}

/// `contacts.getContacts`.
pub(crate) fn get_contacts(ctx: &Ctx<'_>, _: functions::contacts::GetContacts) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let now = now();
    let ids: Vec<i64> = state
        .contacts
        .get(&me)
        .map(|c| c.iter().copied().collect())
        .unwrap_or_default();
    let contacts = ids
        .iter()
        .map(|&id| {
            types::Contact {
                user_id: id,
                mutual: state.contacts.get(&id).is_some_and(|c| c.contains(&me)),
            }
            .into()
        })
        .collect();
    let users = ids.iter().map(|&id| state.user_tl(me, id, now)).collect();
    ok(enums::contacts::Contacts::from(types::contacts::Contacts {
        contacts,
        saved_count: ids.len() as i32,
        users,
    }))
}

/// `contacts.importContacts`: adds the phones that have accounts.
pub(crate) fn import_contacts(
    ctx: &Ctx<'_>,
    req: functions::contacts::ImportContacts,
) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let now = now();
    let mut imported = Vec::new();
    let mut users = Vec::new();
    for c in &req.contacts {
        let enums::InputContact::InputPhoneContact(c) = c;
        let phone = crate::state::State::normalize_phone(&c.phone);
        if let Some(&id) = state.by_phone.get(&phone) {
            state.contacts.entry(me).or_default().insert(id);
            state.mark_user(me);
            imported.push(
                types::ImportedContact {
                    user_id: id,
                    client_id: c.client_id,
                }
                .into(),
            );
            users.push(state.user_tl(me, id, now));
        }
    }
    ok(enums::contacts::ImportedContacts::from(
        types::contacts::ImportedContacts {
            imported,
            popular_invites: vec![],
            retry_contacts: vec![],
            users,
        },
    ))
}

/// `contacts.block`.
pub(crate) fn block(ctx: &Ctx<'_>, req: functions::contacts::Block) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = super::messages::resolve_user(&state, me, &req.id)
        .map_err(|_| RpcErr::bad_request("CONTACT_ID_INVALID"))?;
    if id == me {
        return Err(RpcErr::bad_request("CONTACT_ID_INVALID"));
    }
    let added = state.blocked.entry(me).or_default().insert(id);
    state.mark_user(me);
    if added {
        bot_stopped(ctx, &mut state, me, id, true);
    }
    ok(added)
}

/// A user blocking (or unblocking) a bot stops (restarts) it: `updateBotStopped`.
fn bot_stopped(ctx: &Ctx<'_>, state: &mut crate::state::State, user: i64, bot: i64, stopped: bool) {
    if !state.users.get(&bot).is_some_and(|u| u.bot) {
        return;
    }
    let now = now();
    let update = state.push_qts(bot, |qts| {
        types::UpdateBotStopped {
            user_id: user,
            date: now,
            stopped,
            qts,
        }
        .into()
    });
    ctx.push(
        bot,
        &enums::Updates::from(types::Updates {
            updates: vec![update],
            users: vec![state.user_tl(bot, user, now)],
            chats: vec![],
            date: now,
            seq: 0,
        }),
    );
}

/// `contacts.unblock`.
pub(crate) fn unblock(ctx: &Ctx<'_>, req: functions::contacts::Unblock) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let id = super::messages::resolve_user(&state, me, &req.id)
        .map_err(|_| RpcErr::bad_request("CONTACT_ID_INVALID"))?;
    let removed = state.blocked.entry(me).or_default().remove(&id);
    state.mark_user(me);
    if removed {
        bot_stopped(ctx, &mut state, me, id, false);
    }
    ok(removed)
}
