//! Reactions (`messages.sendReaction` -> `updateMessageReactions` to the chat,
//! `updateBotMessageReaction` to bots) and polls (`inputMediaPoll`, `messages.sendVote` ->
//! `updateMessagePoll` to the chat, `updateMessagePollVote` to a bot that made the poll).

use super::{now, ok, require_user, Ctx, RpcErr, RpcResult};
use crate::state::{channel_box, State, StoredMessage};
use fleetgram_tl::{enums, functions, types};
use std::collections::BTreeMap;

pub(crate) use crate::state::PollState;

/// The option bytes of an answer.
fn option_of(a: &enums::PollAnswer) -> Option<&Vec<u8>> {
    match a {
        enums::PollAnswer::PollAnswer(a) => Some(&a.option),
        enums::PollAnswer::InputPollAnswer(_) => None,
    }
}

/// One copy of a message: whose box, its id there, and the chat as that user sees it.
struct Copy {
    user: i64,
    id: i32,
    peer: enums::Peer,
}

/// The copies of a message, the message, and the key its reactions are kept under.
type Located = (Vec<Copy>, StoredMessage, (i64, i32));

/// Every copy of message `msg_id` of `me`'s chat `peer` (a channel has one copy that all
/// members see), with the message itself and the key reactions are kept under.
fn copies(state: &State, me: i64, peer: &enums::InputPeer, msg_id: i32) -> Result<Located, RpcErr> {
    if let Some(ch) = super::channels::resolve_peer(state, me, peer)? {
        let m = state
            .boxes
            .get(&channel_box(ch))
            .and_then(|b| b.messages.get(&msg_id))
            .cloned()
            .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
        let members = &state.channels[&ch].members;
        if !members.contains_key(&me) {
            return Err(RpcErr::bad_request("CHANNEL_PRIVATE"));
        }
        let list = members
            .keys()
            .map(|&u| Copy {
                user: u,
                id: msg_id,
                peer: types::PeerChannel { channel_id: ch }.into(),
            })
            .collect();
        return Ok((list, m, (channel_box(ch), msg_id)));
    }
    let m = state
        .boxes
        .get(&me)
        .and_then(|b| b.messages.get(&msg_id))
        .cloned()
        .ok_or_else(|| RpcErr::bad_request("MESSAGE_ID_INVALID"))?;
    match (peer, m.chat) {
        (enums::InputPeer::Chat(c), Some((chat, gid))) if c.chat_id == chat => {
            let list = state
                .group_copies
                .get(&gid)
                .map(|v| {
                    v.iter()
                        .map(|&(u, id)| Copy {
                            user: u,
                            id,
                            peer: types::PeerChat { chat_id: chat }.into(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok((list, m, (-chat, gid as i32)))
        }
        (enums::InputPeer::Chat(_), _) => Err(RpcErr::bad_request("MESSAGE_ID_INVALID")),
        (p, None) => {
            let other = super::messages::resolve_user(state, me, p)?;
            if m.peer != other {
                return Err(RpcErr::bad_request("MESSAGE_ID_INVALID"));
            }
            let mut list = vec![Copy {
                user: me,
                id: msg_id,
                peer: types::PeerUser { user_id: other }.into(),
            }];
            if let Some(t) = m.twin {
                list.push(Copy {
                    user: other,
                    id: t,
                    peer: types::PeerUser { user_id: me }.into(),
                });
            }
            // The sender's copy identifies the message in both boxes.
            let key = if m.out {
                (me, msg_id)
            } else {
                (other, m.twin.unwrap_or(msg_id))
            };
            Ok((list, m, key))
        }
        _ => Err(RpcErr::bad_request("MESSAGE_ID_INVALID")),
    }
}

fn push_updates(ctx: &Ctx<'_>, state: &State, to: i64, list: Vec<enums::Update>, users: &[i64]) {
    let now = now();
    ctx.push(
        to,
        &enums::Updates::from(types::Updates {
            updates: list,
            users: users
                .iter()
                .filter(|u| state.users.contains_key(u))
                .map(|&u| state.user_tl(to, u, now))
                .collect(),
            chats: vec![],
            date: now,
            seq: 0,
        }),
    );
}

fn answer(state: &State, me: i64, list: Vec<enums::Update>) -> RpcResult {
    ok(enums::Updates::from(types::Updates {
        updates: list,
        users: vec![state.user_tl(me, me, now())],
        chats: vec![],
        date: now(),
        seq: 0,
    }))
}

/// The reactions of a message as `viewer` sees them.
pub(crate) fn reactions_tl(
    by: &BTreeMap<i64, Vec<enums::Reaction>>,
    viewer: i64,
) -> enums::MessageReactions {
    let mut counts: Vec<(enums::Reaction, i32, Option<i32>)> = Vec::new();
    for (user, rs) in by {
        for (i, r) in rs.iter().enumerate() {
            let chosen = (*user == viewer).then_some(i as i32);
            match counts.iter_mut().find(|(x, _, _)| x == r) {
                Some(c) => {
                    c.1 += 1;
                    c.2 = c.2.or(chosen);
                }
                None => counts.push((r.clone(), 1, chosen)),
            }
        }
    }
    types::MessageReactions {
        min: false,
        can_see_list: false,
        reactions_as_tags: false,
        results: counts
            .into_iter()
            .map(|(reaction, count, chosen_order)| {
                types::ReactionCount {
                    chosen_order,
                    reaction,
                    count,
                }
                .into()
            })
            .collect(),
        recent_reactions: None,
        top_reactors: None,
    }
    .into()
}

/// `messages.sendReaction`: sets (or with none, removes) `me`'s reactions on a message.
pub(crate) fn send_reaction(ctx: &Ctx<'_>, req: functions::messages::SendReaction) -> RpcResult {
    let me = require_user(ctx)?;
    let new = req.reaction.unwrap_or_default();
    if new.len() > 1 {
        return Err(RpcErr::bad_request("REACTIONS_TOO_MANY"));
    }
    for r in &new {
        match r {
            enums::Reaction::Emoji(e)
                if !e.emoticon.is_empty() && e.emoticon.chars().count() <= 8 => {}
            enums::Reaction::CustomEmoji(_) => {}
            _ => return Err(RpcErr::bad_request("REACTION_INVALID")),
        }
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let (list, m, key) = copies(&state, me, &req.peer, req.msg_id)?;
    if m.action.is_some() {
        return Err(RpcErr::bad_request("MESSAGE_ID_INVALID"));
    }
    let by = state.reactions.entry(key).or_default();
    let old = by.get(&me).cloned().unwrap_or_default();
    if new.is_empty() {
        by.remove(&me);
    } else {
        by.insert(me, new.clone());
    }
    let by = by.clone();
    let now = now();
    let mut mine = Vec::new();
    for c in &list {
        let update: enums::Update = types::UpdateMessageReactions {
            peer: c.peer.clone(),
            msg_id: c.id,
            top_msg_id: None,
            saved_peer_id: None,
            reactions: reactions_tl(&by, c.user),
        }
        .into();
        if c.user == me {
            mine.push(update);
            continue;
        }
        let mut updates = vec![update];
        // Bots hear who reacted how in chats where they see everything.
        let is_bot = state.users.get(&c.user).is_some_and(|u| u.bot);
        let sees = match &c.peer {
            enums::Peer::Channel(ch) => state.channels[&ch.channel_id]
                .members
                .get(&c.user)
                .is_some_and(|x| x.admin.is_some()),
            _ => true,
        };
        if is_bot && sees {
            updates.push(state.push_qts(c.user, |qts| {
                types::UpdateBotMessageReaction {
                    peer: c.peer.clone(),
                    msg_id: c.id,
                    date: now,
                    actor: types::PeerUser { user_id: me }.into(),
                    old_reactions: old.clone(),
                    new_reactions: new.clone(),
                    qts,
                }
                .into()
            }));
        }
        push_updates(ctx, &state, c.user, updates, &[me]);
    }
    answer(&state, me, mine)
}

/// A new poll from an `inputMediaPoll` (its id, and the media to store).
pub(crate) fn new_poll(
    state: &mut State,
    me: i64,
    p: &types::InputMediaPoll,
) -> Result<enums::MessageMedia, RpcErr> {
    let enums::Poll::Poll(poll) = &p.poll;
    let mut poll = (**poll).clone();
    // The DC gives answers created with `inputPollAnswer` their option bytes ("0", "1"...).
    poll.answers = poll
        .answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| match a {
            enums::PollAnswer::InputPollAnswer(x) => types::PollAnswer {
                text: x.text,
                option: vec![b'0' + i as u8],
                media: None,
                added_by: None,
                date: None,
            }
            .into(),
            other => other,
        })
        .collect();
    let enums::TextWithEntities::TextWithEntities(q) = &poll.question;
    if q.text.trim().is_empty() || q.text.chars().count() > 255 {
        return Err(RpcErr::bad_request("POLL_QUESTION_INVALID"));
    }
    if !(2..=12).contains(&poll.answers.len()) {
        return Err(RpcErr::bad_request("POLL_ANSWERS_INVALID"));
    }
    let mut options: Vec<&Vec<u8>> = poll.answers.iter().filter_map(option_of).collect();
    options.sort();
    options.dedup();
    if options.len() != poll.answers.len() || options.iter().any(|o| o.is_empty() || o.len() > 100)
    {
        return Err(RpcErr::bad_request("POLL_OPTION_INVALID"));
    }
    let correct = p.correct_answers.clone().unwrap_or_default();
    if poll.quiz && correct.len() != 1 {
        return Err(RpcErr::bad_request("QUIZ_CORRECT_ANSWERS_EMPTY"));
    }
    let correct: Vec<Vec<u8>> = correct
        .iter()
        .map(|i| {
            poll.answers
                .get(*i as usize)
                .and_then(option_of)
                .cloned()
                .ok_or_else(|| RpcErr::bad_request("QUIZ_CORRECT_ANSWER_INVALID"))
        })
        .collect::<Result<_, _>>()?;
    let id: i64 = rand::Rng::gen::<i64>(&mut state.rng).abs().max(1);
    poll.id = id;
    poll.creator = false;
    state.polls.insert(
        id,
        PollState {
            poll,
            creator: me,
            correct,
            votes: BTreeMap::new(),
        },
    );
    Ok(poll_media(state, id, me).expect("just made"))
}

fn poll_results(p: &PollState, viewer: i64) -> enums::PollResults {
    let mine = p.votes.get(&viewer);
    let voted = mine.is_some();
    let results = p
        .poll
        .answers
        .iter()
        .filter_map(option_of)
        .map(|o| {
            let count = p.votes.values().filter(|v| v.contains(o)).count() as i32;
            types::PollAnswerVoters {
                chosen: mine.is_some_and(|m| m.contains(o)),
                correct: voted && p.correct.contains(o),
                option: o.clone(),
                voters: Some(count),
                // (Both fields hang on the same flag bit: present together.)
                recent_voters: Some(vec![]),
            }
            .into()
        })
        .collect();
    types::PollResults {
        min: false,
        has_unread_votes: false,
        can_view_stats: false,
        results: Some(results),
        total_voters: Some(p.votes.len() as i32),
        recent_voters: None,
        solution: None,
        solution_entities: None,
        solution_media: None,
    }
    .into()
}

/// The media of poll `id` as `viewer` sees it.
pub(crate) fn poll_media(state: &State, id: i64, viewer: i64) -> Option<enums::MessageMedia> {
    let p = state.polls.get(&id)?;
    let mut poll = p.poll.clone();
    poll.creator = p.creator == viewer;
    Some(
        types::MessageMediaPoll {
            poll: poll.into(),
            results: poll_results(p, viewer),
            attached_media: None,
        }
        .into(),
    )
}

/// `messages.sendVote`.
pub(crate) fn send_vote(ctx: &Ctx<'_>, req: functions::messages::SendVote) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let (list, m, _) = copies(&state, me, &req.peer, req.msg_id)?;
    let Some(enums::MessageMedia::Poll(pm)) = &m.media else {
        return Err(RpcErr::bad_request("MESSAGE_POLL_CLOSED"));
    };
    let enums::Poll::Poll(pp) = &pm.poll;
    let poll_id = pp.id;
    let p = state
        .polls
        .get_mut(&poll_id)
        .ok_or_else(|| RpcErr::bad_request("MESSAGE_POLL_CLOSED"))?;
    if p.poll.closed {
        return Err(RpcErr::bad_request("MESSAGE_POLL_CLOSED"));
    }
    let valid: Vec<Vec<u8>> = p
        .poll
        .answers
        .iter()
        .filter_map(option_of)
        .cloned()
        .collect();
    if req.options.iter().any(|o| !valid.contains(o)) {
        return Err(RpcErr::bad_request("OPTION_INVALID"));
    }
    if req.options.len() > 1 && !p.poll.multiple_choice {
        return Err(RpcErr::bad_request("OPTIONS_TOO_MUCH"));
    }
    if req.options.is_empty() {
        p.votes.remove(&me);
    } else {
        if p.votes.contains_key(&me) && p.poll.quiz {
            return Err(RpcErr::bad_request("REVOTE_NOT_ALLOWED"));
        }
        p.votes.insert(me, req.options.clone());
    }
    let creator = p.creator;
    let positions: Vec<i32> = req
        .options
        .iter()
        .filter_map(|o| valid.iter().position(|v| v == o).map(|i| i as i32))
        .collect();
    let mut mine = Vec::new();
    for c in &list {
        let media = poll_media(&state, poll_id, c.user);
        let Some(enums::MessageMedia::Poll(pm)) = media else {
            continue;
        };
        let update: enums::Update = types::UpdateMessagePoll {
            peer: Some(c.peer.clone()),
            msg_id: Some(c.id),
            top_msg_id: None,
            poll_id,
            poll: Some(pm.poll.clone()),
            results: pm.results.clone(),
        }
        .into();
        if c.user == me {
            mine.push(update);
        } else {
            push_updates(ctx, &state, c.user, vec![update], &[]);
        }
    }
    if state.users.get(&creator).is_some_and(|u| u.bot) {
        let u = state.push_qts(creator, |qts| {
            types::UpdateMessagePollVote {
                poll_id,
                peer: types::PeerUser { user_id: me }.into(),
                options: req.options.clone(),
                positions,
                qts,
            }
            .into()
        });
        push_updates(ctx, &state, creator, vec![u], &[me]);
    }
    answer(&state, me, mine)
}
