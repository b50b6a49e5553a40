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
    ok(enums::contacts::ResolvedPeer::from(
        types::contacts::ResolvedPeer {
            peer: types::PeerUser { user_id: id }.into(),
            chats: vec![],
            users: vec![state.user_tl(me, id, now())],
        },
    ))
}
