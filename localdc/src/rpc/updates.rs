//! `updates.*`: the account's update state.

use super::{now, ok, require_user, Ctx, RpcResult};
use fleetgram_tl::{enums, functions, types};

/// `updates.getState`.
pub(crate) fn get_state(ctx: &Ctx<'_>, _: functions::updates::GetState) -> RpcResult {
    let me = require_user(ctx)?;
    let s = ctx
        .shared
        .state
        .lock()
        .expect("not poisoned")
        .updates
        .get(&me)
        .copied()
        .unwrap_or_default();
    ok(enums::updates::State::from(types::updates::State {
        pts: s.pts,
        qts: s.qts,
        date: now(),
        seq: s.seq,
        unread_count: 0,
    }))
}

/// `updates.getDifference`: nothing has happened yet in this slice of the DC.
pub(crate) fn get_difference(ctx: &Ctx<'_>, _: functions::updates::GetDifference) -> RpcResult {
    let me = require_user(ctx)?;
    let s = ctx
        .shared
        .state
        .lock()
        .expect("not poisoned")
        .updates
        .get(&me)
        .copied()
        .unwrap_or_default();
    ok(enums::updates::Difference::from(
        types::updates::DifferenceEmpty {
            date: now(),
            seq: s.seq,
        },
    ))
}
