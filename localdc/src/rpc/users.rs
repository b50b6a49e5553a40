//! `users.*`.

use super::{now, ok, require_user, Ctx, RpcResult};
use fleetgram_tl::{enums, functions};

/// `users.getUsers`: the users the caller may see (a wrong access hash is skipped, as
/// Telegram does).
pub(crate) fn get_users(ctx: &Ctx<'_>, req: functions::users::GetUsers) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let now = now();
    let users: Vec<enums::User> = req
        .id
        .iter()
        .filter_map(|u| match u {
            enums::InputUser::InputUserSelf => Some(me),
            enums::InputUser::InputUser(u) if state.hash_ok(me, u.user_id, u.access_hash) => {
                Some(u.user_id)
            }
            enums::InputUser::FromMessage(u) => Some(u.user_id),
            _ => None,
        })
        .filter(|id| state.users.contains_key(id))
        .map(|id| state.user_tl(me, id, now))
        .collect();
    ok(users)
}

/// `users.getFullUser`.
pub(crate) fn get_full_user(ctx: &Ctx<'_>, req: functions::users::GetFullUser) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let id = match &req.id {
        enums::InputUser::InputUserSelf => me,
        enums::InputUser::InputUser(u)
            if u.user_id == me || state.hash_ok(me, u.user_id, u.access_hash) =>
        {
            u.user_id
        }
        enums::InputUser::FromMessage(u) => u.user_id,
        _ => return Err(super::RpcErr::bad_request("USER_ID_INVALID")),
    };
    if !state.users.contains_key(&id) {
        return Err(super::RpcErr::bad_request("USER_ID_INVALID"));
    }
    let user = fleetgram_tl::dynamic::schema()
        .decode(&fleetgram_tl::Serializable::to_bytes(&state.user_tl(
            me,
            id,
            now(),
        )))
        .map_err(|_| super::RpcErr::new(500, "INTERNAL"))?;
    // userFull has dozens of optional fields: built through the dynamic codec.
    use fleetgram_tl::dynamic::{Object, Value};
    let full = Object::new("userFull")
        .with("blocked", Value::Bool(state.has_blocked(me, id)))
        .with("id", Value::Long(id))
        .with("settings", Value::Object(Object::new("peerSettings")))
        .with(
            "notify_settings",
            Value::Object(Object::new("peerNotifySettings")),
        )
        .with("common_chats_count", Value::Int(0));
    let answer = Object::new("users.userFull")
        .with("full_user", Value::Object(full))
        .with("chats", Value::Vector(vec![]))
        .with("users", Value::Vector(vec![Value::Object(user)]));
    fleetgram_tl::dynamic::schema()
        .encode(&answer)
        .map_err(|_| super::RpcErr::new(500, "INTERNAL"))
}
