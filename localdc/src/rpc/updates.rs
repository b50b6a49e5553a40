//! `updates.*`: the account's update state and the difference since a given pts.

use super::{now, ok, require_user, Ctx, RpcErr, RpcResult};
use fleetgram_tl::{enums, functions, types};

/// Most pts a single difference covers before it is sliced (Telegram's default).
const DEFAULT_TOTAL_LIMIT: i32 = 1000;

fn state_tl(s: crate::state::UpdateState, pts: i32, qts: i32) -> enums::updates::State {
    types::updates::State {
        pts,
        qts,
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
    ok(state_tl(s, s.pts, s.qts))
}

/// The users and channels a qts update names (so the difference can carry them).
fn qts_peers(u: &enums::Update, users: &mut std::collections::BTreeSet<i64>, chans: &mut Vec<i64>) {
    use enums::Update as U;
    let mut peer = |p: &enums::Peer, users: &mut std::collections::BTreeSet<i64>| match p {
        enums::Peer::User(p) => {
            users.insert(p.user_id);
        }
        enums::Peer::Channel(c) => chans.push(c.channel_id),
        enums::Peer::Chat(_) => {}
    };
    match u {
        U::ChannelParticipant(x) => {
            users.extend([x.actor_id, x.user_id]);
            peer(
                &enums::Peer::Channel(types::PeerChannel {
                    channel_id: x.channel_id,
                }),
                users,
            );
        }
        U::BotStopped(x) => {
            users.insert(x.user_id);
        }
        U::BotChatInviteRequester(x) => {
            users.insert(x.user_id);
            peer(&x.peer, users);
        }
        U::BotMessageReaction(x) => {
            peer(&x.actor, users);
            peer(&x.peer, users);
        }
        U::MessagePollVote(x) => peer(&x.peer, users),
        U::BotChatBoost(x) => {
            peer(&x.peer, users);
            let enums::Boost::Boost(b) = &x.boost;
            users.extend(b.user_id);
        }
        _ => {}
    }
}

/// `updates.getDifference`: new messages and other updates after `pts` (sliced at
/// `pts_total_limit`) and the qts updates after `qts` (sliced at `qts_limit`);
/// `differenceTooLong` when the log no longer reaches back that far.
pub(crate) fn get_difference(ctx: &Ctx<'_>, req: functions::updates::GetDifference) -> RpcResult {
    let me = require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let s = state.updates.get(&me).copied().unwrap_or_default();
    if req.pts > s.pts {
        return Err(RpcErr::bad_request("PERSISTENT_TIMESTAMP_INVALID"));
    }
    // A qts ahead of the server's (a client that never saw one): nothing to send.
    let from_qts = req.qts.min(s.qts);
    if req.pts == s.pts && from_qts == s.qts {
        return ok(enums::updates::Difference::from(
            types::updates::DifferenceEmpty {
                date: now(),
                seq: s.seq,
            },
        ));
    }
    let empty = crate::state::UserBox::default();
    let bx = state.boxes.get(&me).unwrap_or(&empty);
    let log = bx.log.as_slice();
    // The log starts at the account's first update; a pts before what it holds is too old.
    if req.pts < s.pts && log.first().is_some_and(|e| e.pts - e.pts_count > req.pts) {
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
    let mut chans = Vec::new();
    let mut group_chats = Vec::new();
    let mut reached = req.pts;
    for e in log.iter().filter(|e| e.pts > req.pts) {
        if e.pts - req.pts > limit && reached > req.pts {
            break;
        }
        reached = e.pts;
        match &e.update {
            enums::Update::NewMessage(u) => {
                let (from, peer) = match &u.message {
                    enums::Message::Message(m) => (m.from_id.as_ref(), Some(&m.peer_id)),
                    enums::Message::Service(m) => (m.from_id.as_ref(), Some(&m.peer_id)),
                    enums::Message::Empty(_) => (None, None),
                };
                for p in from.into_iter().chain(peer) {
                    match p {
                        enums::Peer::User(p) => {
                            users.insert(p.user_id);
                        }
                        // The basic groups its messages are in come with the difference.
                        enums::Peer::Chat(c) => group_chats.push(c.chat_id),
                        enums::Peer::Channel(_) => {}
                    }
                }
                let mut m = u.message.clone();
                state.refresh_media(&mut m, me);
                new_messages.push(m);
            }
            other => other_updates.push(other.clone()),
        }
    }
    let qts_limit = req
        .qts_limit
        .filter(|l| *l > 0)
        .unwrap_or(DEFAULT_TOTAL_LIMIT);
    let mut qts_reached = from_qts;
    for (qts, u) in bx.qts_log.iter().filter(|(q, _)| *q > from_qts) {
        if qts - from_qts > qts_limit {
            break;
        }
        qts_reached = *qts;
        qts_peers(u, &mut users, &mut chans);
        other_updates.push(u.clone());
    }
    // Entries that fell out of the kept window are skipped: the state moves past them.
    if bx.qts_log.first().is_none_or(|(q, _)| *q > from_qts + 1) && qts_reached == from_qts {
        qts_reached = s.qts;
    }
    let now = now();
    let users = users
        .into_iter()
        .filter(|u| state.users.contains_key(u))
        .map(|u| state.user_tl(me, u, now))
        .collect();
    chans.sort_unstable();
    chans.dedup();
    group_chats.sort_unstable();
    group_chats.dedup();
    let chats = group_chats
        .into_iter()
        .filter(|c| state.chats.contains_key(c))
        .map(|c| state.chat_tl(me, c))
        .chain(
            chans
                .into_iter()
                .map(|c| super::channels::channel_tl(&state, me, c)),
        )
        .collect();
    if reached < s.pts || qts_reached < s.qts {
        return ok(enums::updates::Difference::from(
            types::updates::DifferenceSlice {
                new_messages,
                new_encrypted_messages: vec![],
                other_updates,
                chats,
                users,
                intermediate_state: state_tl(s, reached, qts_reached),
            },
        ));
    }
    ok(enums::updates::Difference::from(
        types::updates::Difference {
            new_messages,
            new_encrypted_messages: vec![],
            other_updates,
            chats,
            users,
            state: state_tl(s, s.pts, s.qts),
        },
    ))
}
