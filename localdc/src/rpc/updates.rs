//! `updates.*`: the account's update state and the difference since a given pts.

use super::{now, ok, require_user, Ctx, RpcErr, RpcResult};
use fleetgram_tl::{enums, functions, types};

/// Most pts a single difference covers before it is sliced (Telegram's default).
const DEFAULT_TOTAL_LIMIT: i32 = 1000;

fn state_tl(s: crate::state::UpdateState, pts: i32) -> enums::updates::State {
    types::updates::State {
        pts,
        qts: s.qts,
        date: now(),
        seq: s.seq,
        unread_count: 0,
    }
    .into()
}

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
    ok(state_tl(s, s.pts))
}

/// `updates.getDifference`: new messages and other updates after `pts`, sliced at
/// `pts_total_limit`; `differenceTooLong` when the log no longer reaches back that far.
pub(crate) fn get_difference(ctx: &Ctx<'_>, req: functions::updates::GetDifference) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let s = state.updates.get(&me).copied().unwrap_or_default();
    if req.pts > s.pts {
        return Err(RpcErr::bad_request("PERSISTENT_TIMESTAMP_INVALID"));
    }
    if req.pts == s.pts {
        return ok(enums::updates::Difference::from(
            types::updates::DifferenceEmpty {
                date: now(),
                seq: s.seq,
            },
        ));
    }
    let log = state
        .boxes
        .get(&me)
        .map(|b| b.log.as_slice())
        .unwrap_or_default();
    // The log starts at the account's first update; a pts before what it holds is too old.
    if log.first().is_some_and(|e| e.pts - e.pts_count > req.pts) {
        return ok(enums::updates::Difference::from(
            types::updates::DifferenceTooLong { pts: s.pts },
        ));
    }
    let limit = req
        .pts_total_limit
        .filter(|l| *l > 0)
        .unwrap_or(DEFAULT_TOTAL_LIMIT);
    let mut new_messages = Vec::new();
    let mut other_updates = Vec::new();
    let mut users = std::collections::BTreeSet::from([me]);
    let mut reached = req.pts;
    for e in log.iter().filter(|e| e.pts > req.pts) {
        if e.pts - req.pts > limit && reached > req.pts {
            break;
        }
        reached = e.pts;
        match &e.update {
            enums::Update::NewMessage(u) => {
                if let enums::Message::Message(m) = &u.message {
                    if let Some(enums::Peer::User(p)) = &m.from_id {
                        users.insert(p.user_id);
                    }
                    if let enums::Peer::User(p) = &m.peer_id {
                        users.insert(p.user_id);
                    }
                }
                let mut m = u.message.clone();
                state.refresh_media(&mut m, me);
                new_messages.push(m);
            }
            other => other_updates.push(other.clone()),
        }
    }
    let now = now();
    let users = users
        .into_iter()
        .filter(|u| state.users.contains_key(u))
        .map(|u| state.user_tl(me, u, now))
        .collect();
    if reached < s.pts {
        return ok(enums::updates::Difference::from(
            types::updates::DifferenceSlice {
                new_messages,
                new_encrypted_messages: vec![],
                other_updates,
                chats: vec![],
                users,
                intermediate_state: state_tl(s, reached),
            },
        ));
    }
    ok(enums::updates::Difference::from(
        types::updates::Difference {
            new_messages,
            new_encrypted_messages: vec![],
            other_updates,
            chats: vec![],
            users,
            state: state_tl(s, s.pts),
        },
    ))
}
