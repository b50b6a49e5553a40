//! Client and server sessions driven against each other in memory.

use super::client::{Event, RequestId, Session};
use super::server::{ServerEvent, ServerSession};
use super::*;
use crate::crypto::AuthKey;
use crate::transport::{Frame, Framer, Kind, Role};
use fleetgram_tl::{functions, types};
use std::collections::HashMap;

const T0: i64 = 1_700_000_000_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn salts(first: i64, from_secs: i32) -> Vec<types::FutureSalt> {
    (0..4)
        .map(|i| types::FutureSalt {
            valid_since: from_secs + i * 3600,
            valid_until: from_secs + (i + 1) * 3600,
            salt: first + i as i64,
        })
        .collect()
}

fn pair() -> (Session, ServerSession) {
    let key = AuthKey::from_bytes(std::array::from_fn(|i| (i * 7 + 1) as u8));
    let t = (T0 / 1000) as i32 - 10;
    let client = Session::new(key.clone(), 0x1234, 1000, 0);
    let server = ServerSession::new(key, 0x1234, salts(1000, t));
    (client, server)
}

/// Faults applied to each direction of the simulated network.
#[derive(Clone, Copy)]
struct Faults {
    drop: u64,
    duplicate: u64,
    reorder: u64,
}

fn deliver(queue: &mut Vec<Vec<u8>>, rng: &mut Rng, f: Faults) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for p in queue.drain(..) {
        if rng.chance(f.drop) {
            continue;
        }
        if rng.chance(f.duplicate) {
            out.push(p.clone());
        }
        out.push(p);
        let n = out.len();
        if n >= 2 && rng.chance(f.reorder) {
            out.swap(n - 1, n - 2);
        }
    }
    out
}

/// Runs `total` requests through a faulty network; returns (answers per request, executions
/// per request on the server).
fn run(
    total: usize,
    faults: Faults,
    rotate_salt_every: Option<i64>,
    seed: u64,
) -> (HashMap<RequestId, usize>, HashMap<i64, usize>) {
    let (client, mut server) = pair();
    let mut client = client.with_config(client::Config {
        resend_after_ms: 400,
        max_attempts: 1000,
        ..Default::default()
    });
    let mut rng = Rng(seed);
    let mut now = T0;
    let mut c2s: Vec<Vec<u8>> = Vec::new();
    let mut s2c: Vec<Vec<u8>> = Vec::new();
    let mut answers: HashMap<RequestId, usize> = HashMap::new();
    let mut expected: HashMap<RequestId, Vec<u8>> = HashMap::new();
    let mut executed: HashMap<i64, usize> = HashMap::new();
    let mut sent = 0usize;
    let mut salt_n = 2000;
    let mut last_rotation = now;
    // Framed on the wire, to exercise the transport too.
    let mut cf = Framer::new(Kind::Intermediate, Role::Client);
    let mut sf = Framer::new(Kind::Intermediate, Role::Server);
    for _tick in 0..20_000 {
        now += 20;
        while sent < total && client.pending_count() < 200 {
            let body = functions::contacts::GetContacts { hash: sent as i64 }.to_bytes();
            let id = client.enqueue(body.clone());
            expected.insert(id, body);
            sent += 1;
        }
        client.handle_timeout(now);
        while let Some(p) = client.poll_transmit(now, &rng.bytes(32)) {
            let mut wire = Vec::new();
            cf.encode(&p, false, &[], &mut wire);
            c2s.push(wire);
        }
        if let Some(every) = rotate_salt_every {
            if now - last_rotation >= every {
                last_rotation = now;
                salt_n += 10;
                let t = (now / 1000) as i32;
                // The old salt stops being accepted at once: clients must switch.
                server.set_salts(vec![types::FutureSalt {
                    valid_since: t - 3,
                    valid_until: t + 3600,
                    salt: salt_n,
                }]);
            }
        }
        for wire in deliver(&mut c2s, &mut rng, faults) {
            let Some(d) = sf.decode(&wire).unwrap() else {
                panic!("whole frame")
            };
            let Frame::Payload { range, .. } = d.frame else {
                panic!("payload")
            };
            server.handle_incoming(&wire[range], now).unwrap();
        }
        while let Some(ev) = server.poll_event() {
            match ev {
                ServerEvent::Request { msg_id, body } => {
                    let hash = functions::contacts::GetContacts::from_bytes(&body)
                        .unwrap()
                        .hash;
                    *executed.entry(hash).or_default() += 1;
                    server.send_result(msg_id, Ok(body), now);
                }
                other => panic!("{other:?}"),
            }
        }
        while let Some(p) = server.poll_transmit(now, &rng.bytes(32)) {
            s2c.push(p);
        }
        for p in deliver(&mut s2c, &mut rng, faults) {
            // Duplicates and stale copies are refused as errors, never panics.
            let _ = client.handle_incoming(&p, now);
        }
        while let Some(ev) = client.poll_event() {
            match ev {
                Event::Result { id, result } => {
                    assert_eq!(result.as_ref().unwrap(), &expected[&id]);
                    *answers.entry(id).or_default() += 1;
                }
                Event::NewSession { .. } | Event::Update(_) => {}
            }
        }
        if answers.len() == total && client.pending_count() == 0 {
            break;
        }
    }
    (answers, executed)
}

fn assert_exactly_once(
    total: usize,
    answers: &HashMap<RequestId, usize>,
    executed: &HashMap<i64, usize>,
) {
    assert_eq!(answers.len(), total, "every call answered");
    assert!(answers.values().all(|&n| n == 1), "no call answered twice");
    assert_eq!(executed.len(), total, "every call executed");
    let twice: Vec<_> = executed.iter().filter(|(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "executed more than once: {twice:?}");
}

#[test]
fn ten_thousand_rpcs_over_a_clean_network() {
    let none = Faults {
        drop: 0,
        duplicate: 0,
        reorder: 0,
    };
    let (a, e) = run(10_000, none, None, 1);
    assert_exactly_once(10_000, &a, &e);
}

#[test]
fn ten_thousand_rpcs_with_drops_duplicates_reordering_and_salt_changes() {
    let faults = Faults {
        drop: 5,
        duplicate: 5,
        reorder: 10,
    };
    let (a, e) = run(10_000, faults, Some(3_000), 2);
    assert_exactly_once(10_000, &a, &e);
}

#[test]
fn rpc_errors_gzip_and_updates() {
    let (mut c, mut s) = pair();
    let big = vec![7u8; 4000];
    let id = c.enqueue(functions::contacts::GetContacts { hash: 1 }.to_bytes());
    let id2 = c.enqueue(functions::contacts::GetContacts { hash: 2 }.to_bytes());
    let p = c.poll_transmit(T0, &[0; 32]).unwrap();
    s.handle_incoming(&p, T0).unwrap();
    let mut reqs = Vec::new();
    while let Some(ServerEvent::Request { msg_id, .. }) = s.poll_event() {
        reqs.push(msg_id);
    }
    assert_eq!(reqs.len(), 2);
    s.send_result(reqs[0], Err((420, "FLOOD_WAIT_31".into())), T0);
    let mut vec_bytes = Vec::new();
    fleetgram_tl::ser::u32(&mut vec_bytes, 0x1cb5c415);
    fleetgram_tl::ser::u32(&mut vec_bytes, 1);
    fleetgram_tl::ser::bytes(&mut vec_bytes, &big);
    s.send_result(reqs[1], Ok(vec_bytes.clone()), T0);
    s.send_update(types::UpdatesTooLong {}.to_bytes());
    while let Some(p) = s.poll_transmit(T0, &[1; 32]) {
        assert!(
            p.len() < 2000,
            "large results are gzip-compressed ({} bytes)",
            p.len()
        );
        c.handle_incoming(&p, T0).unwrap();
    }
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(events.contains(&Event::NewSession {
        first_msg_id: events
            .iter()
            .find_map(|e| if let Event::NewSession { first_msg_id } = e {
                Some(*first_msg_id)
            } else {
                None
            })
            .unwrap()
    }));
    let err = events.iter().find_map(|e| match e {
        Event::Result {
            id: i,
            result: Err(e),
        } if *i == id => Some(e.clone()),
        _ => None,
    });
    let err = err.unwrap();
    assert_eq!(
        (err.code, err.name.as_str(), err.value),
        (420, "FLOOD_WAIT", Some(31))
    );
    assert!(err.is("FLOOD_*"));
    assert!(events.contains(&Event::Result {
        id: id2,
        result: Ok(vec_bytes)
    }));
    assert!(events.contains(&Event::Update(types::UpdatesTooLong {}.to_bytes())));
    // Acks for the server's content messages go out next.
    assert!(c.acks_pending() > 0);
}

#[test]
fn service_messages() {
    let (mut c, mut s) = pair();
    let ping = c.enqueue(functions::Ping { ping_id: 99 }.to_bytes());
    let salts_req = c.enqueue(functions::GetFutureSalts { num: 2 }.to_bytes());
    let state = c.enqueue(
        functions::PingDelayDisconnect {
            ping_id: 5,
            disconnect_delay: 75,
        }
        .to_bytes(),
    );
    let p = c.poll_transmit(T0, &[0; 32]).unwrap();
    s.handle_incoming(&p, T0).unwrap();
    assert_eq!(
        s.poll_event(),
        Some(ServerEvent::DisconnectAfter { delay_secs: 75 })
    );
    while let Some(p) = s.poll_transmit(T0, &[0; 32]) {
        c.handle_incoming(&p, T0).unwrap();
    }
    let mut got = HashMap::new();
    while let Some(Event::Result { id, result }) = c
        .poll_event()
        .filter(|e| matches!(e, Event::Result { .. }))
        .or_else(|| c.poll_event())
    {
        got.insert(id, result.unwrap());
    }
    let pong = types::Pong::from_bytes(&got[&ping]).unwrap();
    assert_eq!(pong.ping_id, 99);
    let fs = types::FutureSalts::from_bytes(&got[&salts_req]).unwrap();
    assert_eq!(fs.salts.len(), 2);
    assert!(got.contains_key(&state));
}

#[test]
fn bad_time_and_bad_salt_are_corrected() {
    // The client's clock is 200 s behind or ahead, and it starts with a salt the server never
    // issued: bad_server_salt and bad_msg_notification 17 (or the server's own msg_ids)
    // correct both, and the call is answered once.
    for skew in [-200, 200] {
        let key = AuthKey::from_bytes([3; 256]);
        let mut c = Session::new(key.clone(), 9, 1, skew);
        let t = (T0 / 1000) as i32;
        let mut s = ServerSession::new(key, 9, salts(500, t - 10));
        let id = c.enqueue(functions::contacts::GetContacts { hash: 5 }.to_bytes());
        let mut answered = 0;
        for round in 0..6 {
            let now = T0 + round * 100;
            while let Some(p) = c.poll_transmit(now, &[0; 32]) {
                if c.session_id() != s.session_id() {
                    // The client started a new session (its ids were far ahead): the server
                    // makes one for it, as a DC does.
                    s = ServerSession::new(
                        AuthKey::from_bytes([3; 256]),
                        c.session_id(),
                        salts(500, t - 10),
                    );
                }
                s.handle_incoming(&p, now).unwrap();
            }
            while let Some(ServerEvent::Request { msg_id, body }) = s.poll_event() {
                s.send_result(msg_id, Ok(body), now);
            }
            while let Some(p) = s.poll_transmit(now, &[0; 32]) {
                c.handle_incoming(&p, now).unwrap();
            }
            while let Some(e) = c.poll_event() {
                if let Event::Result { id: i, result } = e {
                    assert_eq!(i, id);
                    assert!(result.is_ok());
                    answered += 1;
                }
            }
        }
        assert_eq!(answered, 1, "skew {skew}");
        assert_eq!(c.salt(), 500, "switched to the server's salt");
        assert!(
            c.time_offset_ms().abs() < 2_000,
            "clock corrected: {}",
            c.time_offset_ms()
        );
    }
}

#[test]
fn receive_checks() {
    let (mut c, mut s) = pair();
    c.enqueue(functions::Ping { ping_id: 1 }.to_bytes());
    let p = c.poll_transmit(T0, &[0; 32]).unwrap();
    s.handle_incoming(&p, T0).unwrap();
    let reply = s.poll_transmit(T0, &[0; 32]).unwrap();
    c.handle_incoming(&reply, T0).unwrap();
    // Replay of the same payload.
    assert!(matches!(
        c.handle_incoming(&reply, T0),
        Err(SessionError::Duplicate(_))
    ));
    // Tampering.
    let mut bad = reply.clone();
    bad[40] ^= 1;
    assert!(matches!(
        c.handle_incoming(&bad, T0),
        Err(SessionError::Decrypt(_))
    ));
    // A message far in the past.
    let key = c.auth_key().clone();
    let old = seal(
        &key,
        crate::crypto::Side::Server,
        1000,
        0x1234,
        &fleetgram_tl::mtproto::Message {
            msg_id: ((T0 / 1000 - 1000) << 32) | 1,
            seqno: 1,
            body: types::UpdatesTooLong {}.to_bytes(),
        },
        &[0; 32],
    );
    assert!(matches!(
        c.handle_incoming(&old, T0),
        Err(SessionError::MsgIdOutOfWindow(_))
    ));
    // Even msg_id from the "server".
    let even = seal(
        &key,
        crate::crypto::Side::Server,
        1000,
        0x1234,
        &fleetgram_tl::mtproto::Message {
            msg_id: (T0 / 1000) << 32,
            seqno: 1,
            body: types::UpdatesTooLong {}.to_bytes(),
        },
        &[0; 32],
    );
    assert!(matches!(
        c.handle_incoming(&even, T0),
        Err(SessionError::BadMsgIdParity(_))
    ));
    // Wrong session.
    let other = seal(
        &key,
        crate::crypto::Side::Server,
        1000,
        0x9999,
        &fleetgram_tl::mtproto::Message {
            msg_id: ((T0 / 1000) << 32) | 1,
            seqno: 1,
            body: vec![0; 4],
        },
        &[0; 32],
    );
    assert!(matches!(
        c.handle_incoming(&other, T0),
        Err(SessionError::WrongSession { .. })
    ));
    // Garbage never panics.
    for n in [0, 10, 24, 40, 100] {
        assert!(c.handle_incoming(&vec![0xab; n], T0).is_err());
        assert!(s.handle_incoming(&vec![0xab; n], T0).is_err());
    }
}

#[test]
fn gzip_bomb_is_refused() {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; MAX_INFLATED + 4096]).unwrap();
    let packed = fleetgram_tl::mtproto::GzipPacked {
        packed_data: enc.finish().unwrap(),
    }
    .to_bytes();
    assert!(matches!(
        inflate_if_packed(packed),
        Err(SessionError::Gzip(_))
    ));
    let small = maybe_deflate(vec![5u8; 2000]);
    assert_eq!(inflate_if_packed(small).unwrap(), vec![5u8; 2000]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]
    #[test]
    fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let (mut c, mut s) = pair();
        let _ = c.handle_incoming(&bytes, T0);
        let _ = s.handle_incoming(&bytes, T0);
        // Arbitrary bodies inside a valid encryption.
        let key = c.auth_key().clone();
        let m = fleetgram_tl::mtproto::Message { msg_id: ((T0 / 1000) << 32) | 1, seqno: 1, body: bytes.clone() };
        let p = seal(&key, crate::crypto::Side::Server, 1000, 0x1234, &m, &[0; 32]);
        let _ = c.handle_incoming(&p, T0);
        let m = fleetgram_tl::mtproto::Message { msg_id: (T0 / 1000) << 32, seqno: 1, body: bytes };
        let p = seal(&key, crate::crypto::Side::Client, 1000, 0x1234, &m, &[0; 32]);
        let _ = s.handle_incoming(&p, T0);
    }
}

/// What a client payload carries: (msg_id, seqno, body) of each message, containers opened.
fn carried(c: &Session, payload: &[u8]) -> (i64, Vec<fleetgram_tl::mtproto::Message>) {
    let sealed = open(c.auth_key(), crate::crypto::Side::Client, payload).unwrap();
    let outer = sealed.message.msg_id;
    (outer, unpack(sealed.message).unwrap())
}

/// Everything the client sends at `now`.
fn sends(c: &mut Session, now: i64) -> Vec<(i64, Vec<fleetgram_tl::mtproto::Message>)> {
    std::iter::from_fn(|| c.poll_transmit(now, &[0; 32]))
        .collect::<Vec<_>>()
        .iter()
        .map(|p| carried(c, p))
        .collect()
}

/// A server message to the client (odd msg_id `n` steps after T0).
fn from_server(c: &Session, n: i64, body: Vec<u8>) -> Vec<u8> {
    seal(
        c.auth_key(),
        crate::crypto::Side::Server,
        c.salt(),
        c.session_id(),
        &fleetgram_tl::mtproto::Message {
            msg_id: (((T0 / 1000) << 32) + n * 4) | 1,
            seqno: 1,
            body,
        },
        &[0; 32],
    )
}

fn has<T: fleetgram_tl::Deserializable + fleetgram_tl::Identifiable>(
    sent: &[(i64, Vec<fleetgram_tl::mtproto::Message>)],
) -> Vec<T> {
    sent.iter()
        .flat_map(|(_, ms)| ms.iter())
        .filter(|m| super::constructor_of(&m.body) == Some(T::CONSTRUCTOR_ID))
        .map(|m| T::from_bytes(&m.body).unwrap())
        .collect()
}

#[test]
fn lost_answers_are_asked_for_as_the_spec_says() {
    // (the request is still pending, the answer already arrived, what the client sends)
    for (pending, arrived, new_info) in [
        (true, false, false),
        (false, false, false),
        (true, true, false),
        (true, false, true),
        (true, true, true),
    ] {
        let (mut c, _) = pair();
        let id = c.enqueue(functions::contacts::GetContacts { hash: 1 }.to_bytes());
        let sent = sends(&mut c, T0);
        let req = sent[0].1.last().unwrap().msg_id;
        if !pending {
            c.cancel(id);
        }
        let answer_id = (((T0 / 1000) << 32) + 40) | 1;
        if arrived {
            let r = fleetgram_tl::mtproto::RpcResult {
                req_msg_id: req,
                result: types::contacts::ContactsNotModified {}.to_bytes(),
            };
            let p = seal(
                c.auth_key(),
                crate::crypto::Side::Server,
                c.salt(),
                c.session_id(),
                &fleetgram_tl::mtproto::Message {
                    msg_id: answer_id,
                    seqno: 1,
                    body: r.to_bytes(),
                },
                &[0; 32],
            );
            c.handle_incoming(&p, T0).unwrap();
            let _ = sends(&mut c, T0); // its ack
        }
        let info = if new_info {
            types::MsgNewDetailedInfo {
                answer_msg_id: answer_id,
                bytes: 100_000,
                status: 0,
            }
            .to_bytes()
        } else {
            types::MsgDetailedInfo {
                msg_id: req,
                answer_msg_id: answer_id,
                bytes: 100_000,
                status: 0,
            }
            .to_bytes()
        };
        c.handle_incoming(&from_server(&c, 20, info), T0).unwrap();
        let sent = sends(&mut c, T0 + 1);
        let resend = has::<types::MsgResendReq>(&sent);
        let acks = has::<types::MsgsAck>(&sent);
        let wanted = !arrived && (pending || new_info);
        assert_eq!(
            resend.first().map(|r| r.msg_ids.clone()),
            wanted.then(|| vec![answer_id]),
            "pending {pending} arrived {arrived} new {new_info}"
        );
        assert_eq!(
            acks.iter().any(|a| a.msg_ids.contains(&answer_id)),
            !wanted,
            "pending {pending} arrived {arrived} new {new_info}"
        );
    }
}

#[test]
fn acknowledged_requests_are_not_resent_and_resends_travel_in_containers() {
    let (c, _) = pair();
    let mut c = c.with_config(client::Config {
        resend_after_ms: 1000,
        ..Default::default()
    });
    let small = c.enqueue(functions::contacts::GetContacts { hash: 1 }.to_bytes());
    let big_body = functions::upload::SaveFilePart {
        file_id: 1,
        file_part: 0,
        bytes: vec![7; 512 * 1024],
    }
    .to_bytes();
    let big = c.enqueue(big_body);
    let first = sends(&mut c, T0);
    let ids: Vec<i64> = first
        .iter()
        .flat_map(|(_, ms)| ms.iter().map(|m| m.msg_id))
        .collect();
    assert_eq!(ids.len(), 2);
    let (small_id, big_id) = (ids[0], ids[1]);
    let _ = (small, big);
    // The server acknowledges the upload part only.
    let ack = types::MsgsAck {
        msg_ids: vec![big_id],
    }
    .to_bytes();
    c.handle_incoming(&from_server(&c, 5, ack), T0).unwrap();
    c.handle_timeout(T0 + 1000);
    let again = sends(&mut c, T0 + 1000);
    // The unacknowledged one goes again with its msg_id, inside a container; the part is not
    // sent again, its state is asked.
    let resent: Vec<&fleetgram_tl::mtproto::Message> = again
        .iter()
        .flat_map(|(_, ms)| ms.iter())
        .filter(|m| m.msg_id == small_id)
        .collect();
    assert_eq!(resent.len(), 1);
    assert!(again
        .iter()
        .all(|(outer, ms)| ms.len() > 1 || ms[0].msg_id == *outer));
    assert!(again
        .iter()
        .any(|(outer, ms)| ms.iter().any(|m| m.msg_id == small_id) && *outer != small_id));
    assert!(again
        .iter()
        .flat_map(|(_, ms)| ms.iter())
        .all(|m| m.msg_id != big_id && m.body.len() < 1024));
    let asked = has::<types::MsgsStateReq>(&again);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].msg_ids, vec![big_id]);
    let state_req_id = again
        .iter()
        .flat_map(|(_, ms)| ms.iter())
        .find(|m| super::constructor_of(&m.body) == Some(types::MsgsStateReq::CONSTRUCTOR_ID))
        .unwrap()
        .msg_id;
    // "Received" (4): the large request is not sent again; its answer is asked for.
    let info = types::MsgsStateInfo {
        req_msg_id: state_req_id,
        info: vec![4],
    }
    .to_bytes();
    c.handle_incoming(&from_server(&c, 6, info), T0 + 1001)
        .unwrap();
    let after = sends(&mut c, T0 + 1001);
    let ans = has::<types::MsgResendAnsReq>(&after);
    assert_eq!(ans.len(), 1);
    assert_eq!(ans[0].msg_ids, vec![big_id]);
    assert!(after
        .iter()
        .flat_map(|(_, ms)| ms.iter())
        .all(|m| m.msg_id != big_id));
    // "Not received" (2): sent again, with a new msg_id.
    c.handle_timeout(T0 + 2100);
    let again = sends(&mut c, T0 + 2100);
    let state_req_id = again
        .iter()
        .flat_map(|(_, ms)| ms.iter())
        .find(|m| super::constructor_of(&m.body) == Some(types::MsgsStateReq::CONSTRUCTOR_ID))
        .unwrap()
        .msg_id;
    let info = types::MsgsStateInfo {
        req_msg_id: state_req_id,
        info: vec![2],
    }
    .to_bytes();
    c.handle_incoming(&from_server(&c, 7, info), T0 + 2101)
        .unwrap();
    let after = sends(&mut c, T0 + 2101);
    let parts: Vec<&fleetgram_tl::mtproto::Message> = after
        .iter()
        .flat_map(|(_, ms)| ms.iter())
        .filter(|m| m.body.len() > 1024)
        .collect();
    assert_eq!(parts.len(), 1);
    assert_ne!(parts[0].msg_id, big_id);
}

#[test]
fn notices_about_messages_never_sent_are_ignored() {
    let (mut c, _) = pair();
    c.enqueue(functions::Ping { ping_id: 1 }.to_bytes());
    let _ = sends(&mut c, T0);
    let salt = c.salt();
    let offset = c.time_offset_ms();
    let never = ((T0 / 1000) << 32) + 4 * 1000;
    for (n, body) in [
        types::BadServerSalt {
            bad_msg_id: never,
            bad_msg_seqno: 1,
            error_code: 48,
            new_server_salt: 42,
        }
        .to_bytes(),
        types::BadMsgNotification {
            bad_msg_id: never,
            bad_msg_seqno: 1,
            error_code: 16,
        }
        .to_bytes(),
        types::FutureSalts {
            req_msg_id: never,
            now: (T0 / 1000) as i32,
            salts: vec![types::FutureSalt {
                valid_since: 0,
                valid_until: i32::MAX,
                salt: 43,
            }],
        }
        .to_bytes(),
    ]
    .into_iter()
    .enumerate()
    {
        c.handle_incoming(&from_server(&c, 50 + n as i64 * 10_000_000, body), T0)
            .unwrap();
    }
    assert_eq!((c.salt(), c.time_offset_ms()), (salt, offset));
}

#[test]
fn messages_inside_a_container_are_checked() {
    let (mut c, _) = pair();
    let base = ((T0 / 1000) << 32) | 1;
    let update = types::UpdatesTooLong {}.to_bytes();
    let container = fleetgram_tl::mtproto::MsgContainer {
        messages: vec![
            // fine
            fleetgram_tl::mtproto::Message {
                msg_id: base + 4,
                seqno: 1,
                body: update.clone(),
            },
            // even (a client's id)
            fleetgram_tl::mtproto::Message {
                msg_id: base + 7,
                seqno: 1,
                body: update.clone(),
            },
            // not lower than the container
            fleetgram_tl::mtproto::Message {
                msg_id: base + 400,
                seqno: 1,
                body: update.clone(),
            },
        ],
    };
    let p = seal(
        c.auth_key(),
        crate::crypto::Side::Server,
        c.salt(),
        c.session_id(),
        &fleetgram_tl::mtproto::Message {
            msg_id: base + 100,
            seqno: 2,
            body: container.to_bytes(),
        },
        &[0; 32],
    );
    c.handle_incoming(&p, T0).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(events, vec![Event::Update(update)]);
}

/// The messages a server payload carries (containers opened).
fn server_sent(s_key: &AuthKey, payload: &[u8]) -> (i64, Vec<fleetgram_tl::mtproto::Message>) {
    let sealed = open(s_key, crate::crypto::Side::Server, payload).unwrap();
    let outer = sealed.message.msg_id;
    (outer, unpack(sealed.message).unwrap())
}

fn drain_server(s: &mut ServerSession, now: i64) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| s.poll_transmit(now, &[0; 32])).collect()
}

#[test]
fn the_server_resends_what_was_not_acknowledged_on_a_new_connection() {
    let (mut c, mut s) = pair();
    let key = c.auth_key().clone();
    let small = c.enqueue(functions::contacts::GetContacts { hash: 1 }.to_bytes());
    let big = c.enqueue(functions::contacts::GetContacts { hash: 2 }.to_bytes());
    for p in std::iter::from_fn(|| c.poll_transmit(T0, &[0; 32])).collect::<Vec<_>>() {
        s.handle_incoming(&p, T0).unwrap();
    }
    let mut reqs = Vec::new();
    while let Some(ServerEvent::Request { msg_id, .. }) = s.poll_event() {
        reqs.push(msg_id);
    }
    s.send_result(
        reqs[0],
        Ok(types::contacts::ContactsNotModified {}.to_bytes()),
        T0,
    );
    // A large answer (random bytes do not compress).
    let mut rng = Rng(7);
    let mut large = Vec::new();
    fleetgram_tl::ser::bytes(&mut large, &rng.bytes(64 * 1024));
    s.send_result(reqs[1], Ok(large.clone()), T0);
    s.send_update(types::UpdatesTooLong {}.to_bytes());
    // Everything is lost on the way: the connection dropped.
    let lost = drain_server(&mut s, T0);
    assert!(!lost.is_empty());
    assert_eq!(
        s.unacked_count(),
        4,
        "new_session_created, two answers, the update"
    );
    // The session comes back on a new connection.
    s.resume();
    let again = drain_server(&mut s, T0 + 10);
    let (outer, ms) = server_sent(&key, &again[0]);
    let original: Vec<i64> = lost
        .iter()
        .flat_map(|p| server_sent(&key, p).1)
        .map(|m| m.msg_id)
        .collect();
    // Small ones with their own msg_ids, in a container above them; the large answer
    // announced, not resent.
    assert!(ms.len() > 1 && ms.iter().all(|m| m.msg_id < outer));
    let resent: Vec<i64> = ms
        .iter()
        .map(|m| m.msg_id)
        .filter(|id| original.contains(id))
        .collect();
    assert_eq!(resent.len(), 3);
    let info: Vec<types::MsgDetailedInfo> = ms
        .iter()
        .filter(|m| super::constructor_of(&m.body) == Some(types::MsgDetailedInfo::CONSTRUCTOR_ID))
        .map(|m| types::MsgDetailedInfo::from_bytes(&m.body).unwrap())
        .collect();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].msg_id, reqs[1]);
    assert!(info[0].bytes as usize > 64 * 1024);
    // The client: takes the small ones, asks for the large one, which comes as it was.
    for p in &again {
        c.handle_incoming(p, T0 + 10).unwrap();
    }
    let payloads: Vec<Vec<u8>> =
        std::iter::from_fn(|| c.poll_transmit(T0 + 11, &[0; 32])).collect();
    let asked: Vec<_> = payloads.iter().map(|p| carried(&c, p)).collect();
    assert_eq!(
        has::<types::MsgResendReq>(&asked)[0].msg_ids,
        vec![info[0].answer_msg_id]
    );
    for p in &payloads {
        s.handle_incoming(p, T0 + 12).unwrap();
    }
    let served = drain_server(&mut s, T0 + 12);
    for p in &served {
        c.handle_incoming(p, T0 + 12).unwrap();
    }
    let results: Vec<(RequestId, Vec<u8>)> = std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| match e {
            Event::Result { id, result } => Some((id, result.unwrap())),
            _ => None,
        })
        .collect();
    assert!(results.contains(&(small, types::contacts::ContactsNotModified {}.to_bytes())));
    assert!(results.contains(&(big, large)));
    // Acknowledged messages are forgotten.
    for p in std::iter::from_fn(|| c.poll_transmit(T0 + 13, &[0; 32])).collect::<Vec<_>>() {
        s.handle_incoming(&p, T0 + 13).unwrap();
    }
    assert_eq!(s.unacked_count(), 0);
}

#[test]
fn server_message_checks_follow_the_spec() {
    // (what the client sends, the bad_msg_notification code the server answers)
    let key = AuthKey::from_bytes(std::array::from_fn(|i| (i * 7 + 1) as u8));
    let t = ((T0 / 1000) << 32) + 4 * 1000;
    let m = |msg_id: i64, seqno: i32| fleetgram_tl::mtproto::Message {
        msg_id,
        seqno,
        body: functions::contacts::GetContacts { hash: msg_id }.to_bytes(),
    };
    let container =
        |msg_id: i64, inner: Vec<fleetgram_tl::mtproto::Message>| fleetgram_tl::mtproto::Message {
            msg_id,
            seqno: 0,
            body: fleetgram_tl::mtproto::MsgContainer { messages: inner }.to_bytes(),
        };
    let cases: Vec<(&str, Vec<fleetgram_tl::mtproto::Message>, Option<i32>)> = vec![
        ("in order", vec![m(t, 1), m(t + 4, 3)], None),
        ("seq_no too low", vec![m(t + 8, 5), m(t + 12, 3)], Some(32)),
        ("seq_no too high", vec![m(t + 8, 5), m(t + 4, 7)], Some(33)),
        (
            "container reuses a message id",
            vec![m(t, 1), container(t, vec![m(t - 4, 3)])],
            Some(19),
        ),
        (
            "inner id above the container",
            vec![container(t, vec![m(t + 4, 1)])],
            Some(64),
        ),
    ];
    for (what, msgs, want) in cases {
        let t0 = (T0 / 1000) as i32 - 10;
        let mut s = ServerSession::new(key.clone(), 0x1234, salts(1000, t0));
        let mut codes = Vec::new();
        for msg in msgs {
            s.handle_incoming(
                &seal(
                    &key,
                    crate::crypto::Side::Client,
                    1000,
                    0x1234,
                    &msg,
                    &[0; 32],
                ),
                T0,
            )
            .unwrap();
            for p in drain_server(&mut s, T0) {
                for x in server_sent(&key, &p).1 {
                    if super::constructor_of(&x.body)
                        == Some(types::BadMsgNotification::CONSTRUCTOR_ID)
                    {
                        codes.push(
                            types::BadMsgNotification::from_bytes(&x.body)
                                .unwrap()
                                .error_code,
                        );
                    }
                }
            }
        }
        assert_eq!(codes.last().copied(), want, "{what}: {codes:?}");
    }
    // Over 1024 messages in a container, or requests in flight: a session limit (-429).
    let mut s = ServerSession::new(key.clone(), 0x1234, salts(1000, (T0 / 1000) as i32 - 10));
    let inner: Vec<_> = (0..1025).map(|i| m(t + 4 * i, 2 * i as i32 + 1)).collect();
    let big = container(t + 4 * 2000, inner);
    assert!(matches!(
        s.handle_incoming(
            &seal(
                &key,
                crate::crypto::Side::Client,
                1000,
                0x1234,
                &big,
                &[0; 32]
            ),
            T0
        ),
        Err(SessionError::Flood(_))
    ));
    // A payload refused for its salt is not accepted (no quick ack is owed).
    let mut s = ServerSession::new(key.clone(), 0x1234, salts(1000, (T0 / 1000) as i32 - 10));
    s.handle_incoming(
        &seal(
            &key,
            crate::crypto::Side::Client,
            5,
            0x1234,
            &m(t, 1),
            &[0; 32],
        ),
        T0,
    )
    .unwrap();
    assert!(!s.last_accepted());
    s.handle_incoming(
        &seal(
            &key,
            crate::crypto::Side::Client,
            1000,
            0x1234,
            &m(t + 4, 3),
            &[0; 32],
        ),
        T0,
    )
    .unwrap();
    assert!(s.last_accepted());
}
