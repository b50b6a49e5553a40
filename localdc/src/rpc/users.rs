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
            enums::InputUser::InputUser(u) if state.access_hash(me, u.user_id) == u.access_hash => {
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
