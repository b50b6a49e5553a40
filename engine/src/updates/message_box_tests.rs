//! The box alone, driven by hand-made update sequences and a fake clock, as grammers tests
//! its message box.

use super::*;

fn message(text: &str, peer: enums::Peer) -> enums::Message {
    super::super::short_message(
        false,
        false,
        false,
        false,
        1,
        None,
        peer,
        text.into(),
        1,
        None,
        None,
        None,
        None,
        None,
    )
}

fn new_message(text: &str, pts: i32, count: i32) -> enums::Update {
    types::UpdateNewMessage {
        message: message(text, types::PeerUser { user_id: 5 }.into()),
        pts,
        pts_count: count,
    }
    .into()
}

fn channel_post(ch: i64, text: &str, pts: i32, count: i32) -> enums::Update {
    types::UpdateNewChannelMessage {
        message: message(text, types::PeerChannel { channel_id: ch }.into()),
        pts,
        pts_count: count,
    }
    .into()
}

fn bot_stopped(qts: i32) -> enums::Update {
    types::UpdateBotStopped {
        user_id: 5,
        date: 1,
        stopped: true,
        qts,
    }
    .into()
}

fn status() -> enums::Update {
    types::UpdateUserStatus {
        user_id: 5,
        status: enums::UserStatus::Recently(types::UserStatusRecently::default()),
    }
    .into()
}

fn container(updates: Vec<enums::Update>, seq_start: i32, seq: i32) -> Batch {
    Batch {
        seq_start,
        seq,
        ..Batch::new(updates, 1)
    }
}

/// What is ready, as short labels.
fn drain(b: &mut MessageBox) -> Vec<String> {
    std::iter::from_fn(|| b.pop())
        .map(|r| match r.update {
            enums::Update::NewMessage(u) => match u.message {
                enums::Message::Message(m) => m.message,
                _ => "?".into(),
            },
            enums::Update::NewChannelMessage(u) => match u.message {
                enums::Message::Message(m) => m.message,
                _ => "?".into(),
            },
            enums::Update::BotStopped(u) => format!("qts{}", u.qts),
            enums::Update::UserStatus(_) => "status".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn at(pts: i32, qts: i32, seq: i32) -> MessageBox {
    MessageBox::new(
        UpdateState {
            pts,
            qts,
            seq,
            date: 1,
            skip: 0,
        },
        HashMap::new(),
    )
}

#[test]
fn in_order_and_duplicates() {
    let t = Instant::now();
    let mut b = at(10, 0, 0);
    b.process(
        Batch::new(vec![new_message("a", 11, 1), new_message("b", 13, 2)], 1),
        t,
    );
    assert_eq!(drain(&mut b), ["a", "b"]);
    assert_eq!(b.local.pts, 13);
    // Had already, wholly or in part: skipped.
    b.process(
        Batch::new(vec![new_message("a", 11, 1), new_message("b2", 14, 2)], 1),
        t,
    );
    assert!(drain(&mut b).is_empty());
    assert_eq!(b.stats.duplicates, 2);
    assert_eq!((b.deadline(), b.check_deadlines(t)), (None, vec![]));
}

#[test]
fn a_gap_filled_within_the_wait_needs_nothing() {
    let t = Instant::now();
    let mut b = at(10, 0, 0);
    b.process(Batch::new(vec![new_message("c", 13, 1)], 1), t);
    assert!(drain(&mut b).is_empty());
    assert_eq!(b.deadline(), Some(t + GAP_WAIT));
    assert!(b.check_deadlines(t + GAP_WAIT / 2).is_empty());
    b.process(
        Batch::new(vec![new_message("a", 11, 1), new_message("b", 12, 1)], 1),
        t + GAP_WAIT / 2,
    );
    assert_eq!(drain(&mut b), ["a", "b", "c"]);
    assert_eq!(b.deadline(), None);
}

#[test]
fn a_gap_that_times_out_asks_for_the_difference() {
    let t = Instant::now();
    let mut b = at(10, 0, 3);
    b.process(Batch::new(vec![new_message("late", 13, 1)], 1), t);
    assert_eq!(b.check_deadlines(t + GAP_WAIT), vec![Need::Difference]);
    let req = b.difference_request();
    assert_eq!((req.pts, req.qts, req.date), (10, 0, 1));
    assert_eq!(b.deadline(), None, "the request settles the gap");
    // The difference brings 11..13 (the held one among them) and the new state.
    let diff = types::updates::Difference {
        new_messages: vec![
            message("x", types::PeerUser { user_id: 5 }.into()),
            message("late", types::PeerUser { user_id: 5 }.into()),
        ],
        new_encrypted_messages: vec![],
        other_updates: vec![],
        chats: vec![],
        users: vec![],
        state: types::updates::State {
            pts: 13,
            qts: 0,
            date: 2,
            seq: 4,
            unread_count: 0,
        }
        .into(),
    };
    let page = b.apply_difference(diff.into(), t + GAP_WAIT);
    assert_eq!(
        page,
        Page {
            more: false,
            commit: None
        }
    );
    assert!(b.finish_difference(t + GAP_WAIT).is_empty());
    // Delivered once: the held copy is dropped as had.
    assert_eq!(drain(&mut b), ["x", "late"]);
    assert_eq!((b.local.pts, b.local.seq), (13, 4));
    // The last update carries the new state to commit.
    let empty = types::updates::DifferenceEmpty { date: 3, seq: 4 };
    assert_eq!(
        b.apply_difference(empty.into(), t),
        Page {
            more: false,
            commit: None
        }
    );
}

#[test]
fn a_difference_with_nothing_to_carry_its_state_asks_for_a_commit() {
    let t = Instant::now();
    let mut b = at(10, 0, 0);
    let diff = types::updates::Difference {
        new_messages: vec![],
        new_encrypted_messages: vec![],
        other_updates: vec![],
        chats: vec![],
        users: vec![],
        state: types::updates::State {
            pts: 20,
            qts: 0,
            date: 2,
            seq: 1,
            unread_count: 0,
        }
        .into(),
    };
    let page = b.apply_difference(diff.into(), t);
    assert_eq!(page.commit.map(|s| s.pts), Some(20));
    // Too long: jump to the server's pts and ask again.
    let page = b.apply_difference(types::updates::DifferenceTooLong { pts: 90 }.into(), t);
    assert_eq!(
        page,
        Page {
            more: true,
            commit: None
        }
    );
    assert_eq!(b.local.pts, 90);
}

#[test]
fn updates_too_long_is_a_difference() {
    assert!(matches!(
        super::super::flatten(enums::Updates::TooLong, None),
        super::super::Pushed::TooLong
    ));
}

#[test]
fn channels_have_their_own_sequence_and_channel_too_long_asks_for_its_difference() {
    let t = Instant::now();
    let mut b = at(10, 0, 0);
    // The first update of a channel sets its sequence.
    b.process(Batch::new(vec![channel_post(7, "p1", 5, 1)], 1), t);
    b.process(Batch::new(vec![channel_post(7, "p3", 7, 1)], 1), t);
    assert_eq!(drain(&mut b), ["p1"]);
    assert_eq!(
        b.check_deadlines(t + GAP_WAIT),
        vec![Need::ChannelDifference(7)]
    );
    // The difference: p2 and p3; the held p3 is not delivered twice.
    assert_eq!(b.begin_channel_difference(7), Some(5));
    let d = types::updates::ChannelDifference {
        r#final: true,
        pts: 7,
        timeout: Some(30),
        new_messages: vec![
            message("p2", types::PeerChannel { channel_id: 7 }.into()),
            message("p3", types::PeerChannel { channel_id: 7 }.into()),
        ],
        other_updates: vec![],
        chats: vec![],
        users: vec![],
    };
    let page = b.apply_channel_difference(7, d.into());
    assert_eq!(
        (page.last, page.timeout, page.commit_pts),
        (true, Some(30), None)
    );
    b.end_channel_difference(7);
    assert_eq!(drain(&mut b), ["p2", "p3"]);
    assert_eq!(b.channels[&7], 7);
    // Overlapping (`local + count > pts`): ignored.
    b.process(Batch::new(vec![channel_post(7, "overlap", 8, 2)], 1), t);
    assert!(drain(&mut b).is_empty());
    // updateChannelTooLong: the channel's difference is needed.
    let too_long = types::UpdateChannelTooLong {
        channel_id: 7,
        pts: None,
    };
    assert_eq!(b.process(Batch::new(vec![too_long.into()], 1), t), vec![7]);
    // A channel the account lost: forgotten.
    b.forget_channel(7);
    assert_eq!(b.begin_channel_difference(7), None);
}

#[test]
fn seq_containers_wait_for_the_missing_one_and_old_ones_are_ignored() {
    let t = Instant::now();
    let mut b = at(10, 0, 4);
    // seq 6 before 5: held.
    b.process(
        container(vec![new_message("six", 12, 1), status()], 6, 6),
        t,
    );
    assert!(drain(&mut b).is_empty());
    assert!(b.deadline().is_some());
    b.process(container(vec![new_message("five", 11, 1)], 5, 5), t);
    assert_eq!(drain(&mut b), ["five", "status", "six"]);
    assert_eq!(b.local.seq, 6);
    // A container seen before (seq_start <= local seq): its updates without pts are not
    // delivered again; the ones with pts go through their checks.
    b.process(
        container(vec![status(), new_message("seven", 13, 1)], 6, 6),
        t,
    );
    assert_eq!(drain(&mut b), ["seven"]);
    b.process(container(vec![status()], 5, 5), t);
    assert!(drain(&mut b).is_empty());
}

#[test]
fn qts_updates_in_order() {
    let t = Instant::now();
    let mut b = at(10, 3, 0);
    b.process(Batch::new(vec![bot_stopped(5)], 1), t);
    assert!(drain(&mut b).is_empty());
    b.process(Batch::new(vec![bot_stopped(4), bot_stopped(3)], 1), t);
    assert_eq!(drain(&mut b), ["qts4", "qts5"]);
    assert_eq!(b.local.qts, 5);
    assert_eq!(b.stats.duplicates, 1);
}

#[test]
fn own_answers_take_their_place_in_the_sequences() {
    let t = Instant::now();
    let mut b = at(10, 0, 0);
    // deleteMessages answered with affectedMessages: a place in the sequence, nothing to
    // deliver; a later push continues after it.
    b.process_pts_only(12, 2, t);
    b.process(Batch::new(vec![new_message("after", 13, 1)], 1), t);
    assert_eq!(drain(&mut b), ["after"]);
    // A channel action continuing the channel's sequence moves it; one that does not
    // continue it is left to a later gap.
    b.channels.insert(7, 5);
    b.process_channel_pts_only(7, 6, 1);
    b.process_channel_pts_only(7, 9, 1);
    assert_eq!(b.channels[&7], 6);
    // The answer to an own sendMessage (updateShortSentMessage made into the message).
    let sent = enums::Updates::UpdateShortMessage(Box::new(types::UpdateShortMessage {
        out: true,
        id: 3,
        user_id: 5,
        message: "mine".into(),
        pts: 14,
        pts_count: 1,
        date: 1,
        ..Default::default()
    }));
    let super::super::Pushed::Batch(batch) = super::super::flatten(sent, Some(1)) else {
        panic!()
    };
    b.process(batch, t);
    assert_eq!(drain(&mut b), ["mine"]);
    assert_eq!(b.ready_len(), 0);
}
