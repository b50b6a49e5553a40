//! The server end of an encrypted session (one per auth key and client session id), used by
//! the local DC.
//!
//! It checks every message like Telegram does (msg_id parity and time window, seq_no parity,
//! salt, duplicates), answers the service messages itself (ping, get_future_salts,
//! msgs_state_req, rpc_drop_answer, bad_msg_notification, bad_server_salt,
//! new_session_created), and hands API requests to the caller as [`ServerEvent::Request`].
//! Answers are cached by request msg_id for the replay window, so a request resent with the
//! same msg_id is answered again from the cache and never executed twice.

use super::msgid::{secs_of, Parity};
use super::Outbox;
use super::{
    inflate_if_packed, is_content_related, maybe_deflate, open, seal, unpack, SessionError,
    MAX_FUTURE_SECS, MAX_PAST_SECS,
};
use crate::crypto::{AuthKey, Side};
use fleetgram_tl::mtproto::{Message, MsgContainer, RpcResult};
use fleetgram_tl::{enums, functions, types, Deserializable, Identifiable, Serializable};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// What the server application must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// An API request; answer it with [`ServerSession::send_result`].
    Request {
        /// Its msg_id (the `req_msg_id` of the answer).
        msg_id: i64,
        /// The (inflated) TL function.
        body: Vec<u8>,
    },
    /// `ping_delay_disconnect`: close the connection if nothing arrives for `delay_secs`.
    DisconnectAfter {
        /// Seconds.
        delay_secs: i32,
    },
    /// `destroy_session` for another session of this key; answer with `send_result`.
    DestroySession {
        /// The request's msg_id.
        msg_id: i64,
        /// The session to destroy.
        session_id: i64,
    },
}

/// A content message sent and not acknowledged yet.
#[derive(Debug, Clone)]
struct Sent {
    seqno: i32,
    body: Vec<u8>,
    /// For an answer: the request it answers.
    answer_to: Option<i64>,
}

/// Answers and updates larger than this are not resent whole on a new connection or for a
/// duplicate request: they are announced with `msg_detailed_info` / `msg_new_detailed_info`
/// and sent when the client asks (`msg_resend_req`).
pub const RESEND_INLINE: usize = 16 * 1024;

/// Most unacknowledged messages kept for resending (the oldest go first).
const UNACKED_MAX: usize = 1024;

/// Most bytes of unacknowledged messages kept.
const UNACKED_BYTES: usize = 4 * 1024 * 1024;

/// Most messages a container may carry (more: -429, as Telegram).
pub const MAX_CONTAINER: usize = 1024;

/// Most requests a session may have in progress at once (more: -429).
pub const MAX_IN_FLIGHT: usize = 1024;

/// The server end of one client session.
#[derive(Debug)]
pub struct ServerSession {
    key: AuthKey,
    session_id: i64,
    out: Outbox,
    salts: Vec<types::FutureSalt>,
    created: bool,
    answered: HashMap<i64, (i64, Vec<u8>)>,
    answered_order: VecDeque<i64>,
    in_progress: HashSet<i64>,
    seen: HashSet<i64>,
    seen_order: VecDeque<i64>,
    outgoing: VecDeque<(Vec<u8>, Parity, Option<i64>)>,
    /// Messages sent again with their own msg_id and seq_no.
    resend: VecDeque<Message>,
    /// Content messages sent and not acknowledged, by msg_id.
    unacked: BTreeMap<i64, Sent>,
    unacked_bytes: usize,
    /// Request msg_id -> the msg_id its answer went out with.
    answer_ids: HashMap<i64, i64>,
    /// Received content messages: msg_id -> seq_no (for the seq_no checks 32 and 33).
    received_seq: BTreeMap<i64, i32>,
    /// Whether the last payload had a message accepted for processing (quick acks).
    accepted: bool,
    /// msg_ids of the containers received (a subset of `seen`).
    containers_seen: HashSet<i64>,
    events: VecDeque<ServerEvent>,
}

const SEEN_CAPACITY: usize = 8192;

impl ServerSession {
    /// A session for `key` and the client's `session_id`, with the salts the DC issued.
    pub fn new(key: AuthKey, session_id: i64, salts: Vec<types::FutureSalt>) -> Self {
        Self {
            key,
            session_id,
            out: Outbox::default(),
            salts,
            created: false,
            answered: HashMap::new(),
            answered_order: VecDeque::new(),
            in_progress: HashSet::new(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            outgoing: VecDeque::new(),
            resend: VecDeque::new(),
            unacked: BTreeMap::new(),
            unacked_bytes: 0,
            answer_ids: HashMap::new(),
            received_seq: BTreeMap::new(),
            accepted: false,
            containers_seen: HashSet::new(),
            events: VecDeque::new(),
        }
    }

    /// Whether the last payload handed to [`ServerSession::handle_sealed`] had a message
    /// accepted for processing (a quick ack is owed only then).
    pub fn last_accepted(&self) -> bool {
        self.accepted
    }

    /// Messages waiting to be sent.
    pub fn queued(&self) -> usize {
        self.outgoing.len() + self.resend.len()
    }

    /// Content messages sent and not acknowledged yet.
    pub fn unacked_count(&self) -> usize {
        self.unacked.len()
    }

    /// The client came back on a new connection: what it has not acknowledged is sent again,
    /// each with its msg_id (a copy it already had is dropped by the client); a large one is
    /// announced with `msg_detailed_info` / `msg_new_detailed_info` and sent when asked.
    pub fn resume(&mut self) {
        let ids: Vec<i64> = self.unacked.keys().copied().collect();
        for id in ids {
            let sent = self.unacked[&id].clone();
            if sent.body.len() <= RESEND_INLINE {
                self.resend.push_back(Message {
                    msg_id: id,
                    seqno: sent.seqno,
                    body: sent.body,
                });
            } else {
                self.announce(id, &sent);
            }
        }
    }

    /// Tells the client about message `id` (too large to resend unasked).
    fn announce(&mut self, id: i64, sent: &Sent) {
        let bytes = sent.body.len() as i32;
        let body = match sent.answer_to {
            Some(req) => types::MsgDetailedInfo {
                msg_id: req,
                answer_msg_id: id,
                bytes,
                status: 0,
            }
            .to_bytes(),
            None => types::MsgNewDetailedInfo {
                answer_msg_id: id,
                bytes,
                status: 0,
            }
            .to_bytes(),
        };
        self.push(body, Parity::ServerOther);
    }

    /// The client's session id.
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// Replaces the salts (the DC rotates them).
    pub fn set_salts(&mut self, salts: Vec<types::FutureSalt>) {
        self.salts = salts;
    }

    /// Shifts this session's clock (simulated server clock skew), ms.
    pub fn set_clock_skew_ms(&mut self, skew_ms: i64) {
        self.out.ids.set_offset_secs((skew_ms / 1000) as i32);
    }

    fn now_secs(&self, now_ms: i64) -> i64 {
        (now_ms + self.out.ids.offset_ms()).div_euclid(1000)
    }

    /// The salt to use at `now`.
    pub fn current_salt(&self, now_ms: i64) -> i64 {
        let now = self.now_secs(now_ms) as i32;
        self.salts
            .iter()
            .filter(|s| s.valid_since <= now && now < s.valid_until)
            .max_by_key(|s| s.valid_since)
            .or_else(|| self.salts.last())
            .map_or(0, |s| s.salt)
    }

    fn salt_ok(&self, salt: i64, now_ms: i64) -> bool {
        // Telegram keeps accepting a salt for a while after it expires.
        let now = self.now_secs(now_ms) as i32;
        self.salts.iter().any(|s| {
            s.salt == salt
                && s.valid_since - 1800 <= now
                && now < s.valid_until.saturating_add(1800)
        })
    }

    fn push(&mut self, body: Vec<u8>, parity: Parity) {
        self.outgoing.push_back((body, parity, None));
    }

    fn bad_msg(&mut self, m: &Message, code: i32) {
        let n = types::BadMsgNotification {
            bad_msg_id: m.msg_id,
            bad_msg_seqno: m.seqno,
            error_code: code,
        };
        self.push(
            enums::BadMsgNotification::BadMsgNotification(n).to_bytes(),
            Parity::Response,
        );
    }

    fn remember(&mut self, msg_id: i64) -> bool {
        if !self.seen.insert(msg_id) {
            return false;
        }
        self.seen_order.push_back(msg_id);
        if self.seen_order.len() > SEEN_CAPACITY {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    fn prune(&mut self, now_ms: i64) {
        let limit = self.now_secs(now_ms) - MAX_PAST_SECS - 60;
        while let Some(&m) = self.answered_order.front() {
            match self.answered.get(&m) {
                Some((t, _)) if *t >= limit => break,
                _ => {
                    self.answered.remove(&m);
                    self.answered_order.pop_front();
                }
            }
        }
    }

    /// Processes one payload from the client.
    ///
    /// # Errors
    /// A payload that fails decryption or the header checks (the DC answers -404 and may close
    /// the connection); protocol-level problems are answered with bad_msg notifications instead.
    pub fn handle_incoming(&mut self, payload: &[u8], now_ms: i64) -> Result<(), SessionError> {
        let sealed = open(&self.key, Side::Client, payload)?;
        self.handle_sealed(sealed, now_ms)
    }

    /// Processes a message already decrypted with [`super::open`] (a server decrypts once to
    /// learn the session id, then hands the message to that session).
    ///
    /// # Errors
    /// A message for another session, or a malformed body.
    pub fn handle_sealed(
        &mut self,
        sealed: super::Sealed,
        now_ms: i64,
    ) -> Result<(), SessionError> {
        if sealed.session_id != self.session_id {
            return Err(SessionError::WrongSession {
                expected: self.session_id,
                got: sealed.session_id,
            });
        }
        self.prune(now_ms);
        self.accepted = false;
        let outer = sealed.message;
        if outer.msg_id % 4 != 0 {
            self.bad_msg(&outer, 18);
            return Ok(());
        }
        let now = self.now_secs(now_ms);
        let t = secs_of(outer.msg_id);
        let container = super::constructor_of(&outer.body) == Some(MsgContainer::CONSTRUCTOR_ID);
        if t < now - MAX_PAST_SECS || t > now + MAX_FUTURE_SECS {
            // Answers for requests still cached are resent; everything else is refused.
            let code = if t < now - MAX_PAST_SECS { 16 } else { 17 };
            self.bad_msg(&outer, code);
            return Ok(());
        }
        if !self.created {
            self.created = true;
            let n = types::NewSessionCreated {
                first_msg_id: outer.msg_id,
                unique_id: self.session_id ^ now_ms,
                server_salt: self.current_salt(now_ms),
            };
            self.push(n.to_bytes(), Parity::ServerOther);
        }
        if !container && self.answered.contains_key(&outer.msg_id) {
            self.resend_answer(outer.msg_id);
            return Ok(());
        }
        if !self.remember(outer.msg_id) {
            if !container {
                return Ok(()); // duplicate of a message without a cached answer (in progress or service)
            }
            if !self.containers_seen.contains(&outer.msg_id) {
                // 19: a container may not reuse the msg_id of a message received before.
                self.bad_msg(&outer, 19);
                return Ok(());
            }
            // The same container again (a network duplicate): its messages are checked one by
            // one below (answers resent, nothing run twice).
        } else if container {
            self.containers_seen.insert(outer.msg_id);
            if self.containers_seen.len() > SEEN_CAPACITY {
                let seen = &self.seen;
                self.containers_seen.retain(|c| seen.contains(c));
            }
        }
        if container {
            let count = outer
                .body
                .get(4..8)
                .map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4")) as usize);
            if count > MAX_CONTAINER {
                return Err(SessionError::Flood(format!(
                    "{count} messages in a container (at most {MAX_CONTAINER})"
                )));
            }
        }
        let messages = if container {
            match unpack(outer.clone()) {
                // Inner messages are numbered below the container.
                Ok(m) if m.iter().all(|x| x.msg_id < outer.msg_id) => m,
                _ => {
                    self.bad_msg(&outer, 64);
                    return Ok(());
                }
            }
        } else {
            vec![outer.clone()]
        };
        let salt_ok = self.salt_ok(sealed.salt, now_ms);
        let mut refused = false;
        for m in messages {
            if self.answered.contains_key(&m.msg_id) {
                self.resend_answer(m.msg_id);
                continue;
            }
            if container && !self.remember(m.msg_id) {
                continue;
            }
            if !salt_ok {
                // Not processed: the client resends with the new salt (and new msg_ids).
                self.seen.remove(&m.msg_id);
                refused = true;
                continue;
            }
            if m.msg_id % 4 != 0 {
                self.bad_msg(&m, 18);
                continue;
            }
            let content = is_content_related(&m.body);
            // As Telegram: a content-related message needs an odd seq_no (35: "odd
            // expected, even received"), any other an even one (34: "even expected, odd
            // received"); pings, http_wait and acks are answered whatever their parity
            // (Pyrogram-family clients send pings with even seq_nos).
            if content != (m.seqno % 2 == 1) && !parity_tolerated(&m.body) {
                self.bad_msg(&m, if content { 35 } else { 34 });
                continue;
            }
            if content {
                if let Some(code) = self.seq_check(m.msg_id, m.seqno) {
                    self.seen.remove(&m.msg_id);
                    self.bad_msg(&m, code);
                    continue;
                }
                if self.in_progress.len() >= MAX_IN_FLIGHT {
                    return Err(SessionError::Flood(format!(
                        "more than {MAX_IN_FLIGHT} requests in progress"
                    )));
                }
                self.out.acks.push(m.msg_id);
            }
            self.accepted = true;
            self.process(m, now_ms)?;
        }
        if refused {
            self.seen.remove(&outer.msg_id);
            let b = types::BadServerSalt {
                bad_msg_id: outer.msg_id,
                bad_msg_seqno: outer.seqno,
                error_code: 48,
                new_server_salt: self.current_salt(now_ms),
            };
            self.push(
                enums::BadMsgNotification::BadServerSalt(b).to_bytes(),
                Parity::Response,
            );
        }
        Ok(())
    }

    /// A request `msg_id` came again: its cached answer goes again (a large one, still
    /// unacknowledged, is announced with `msg_detailed_info` instead).
    fn resend_answer(&mut self, msg_id: i64) {
        if let Some(&answer) = self.answer_ids.get(&msg_id) {
            if let Some(sent) = self.unacked.get(&answer).cloned() {
                if sent.body.len() > RESEND_INLINE {
                    self.announce(answer, &sent);
                    return;
                }
            }
        }
        if let Some((_, body)) = self.answered.get(&msg_id) {
            let body = body.clone();
            self.outgoing
                .push_back((body, Parity::Response, Some(msg_id)));
        }
    }

    /// The seq_no checks against the content messages received before (`32`: too low, the
    /// server has a lower msg_id with a higher or equal odd seq_no; `33`: too high).
    fn seq_check(&mut self, msg_id: i64, seqno: i32) -> Option<i32> {
        let before = self
            .received_seq
            .range(..msg_id)
            .next_back()
            .map(|(_, s)| *s);
        let after = self
            .received_seq
            .range(msg_id + 1..)
            .next()
            .map(|(_, s)| *s);
        if before.is_some_and(|b| b >= seqno) {
            return Some(32);
        }
        if after.is_some_and(|a| a <= seqno) {
            return Some(33);
        }
        self.received_seq.insert(msg_id, seqno);
        if self.received_seq.len() > SEEN_CAPACITY {
            self.received_seq.pop_first();
        }
        None
    }

    fn process(&mut self, m: Message, now_ms: i64) -> Result<(), SessionError> {
        let body = inflate_if_packed(m.body)?;
        let Some(cid) = super::constructor_of(&body) else {
            return Err(SessionError::Malformed("empty message body".into()));
        };
        match cid {
            types::MsgsAck::CONSTRUCTOR_ID => {
                for id in types::MsgsAck::from_bytes(&body)?.msg_ids {
                    if let Some(sent) = self.unacked.remove(&id) {
                        self.unacked_bytes -= sent.body.len();
                    }
                }
            }
            types::HttpWait::CONSTRUCTOR_ID => {}
            types::MsgsStateInfo::CONSTRUCTOR_ID | types::MsgsAllInfo::CONSTRUCTOR_ID => {}
            types::MsgResendReq::CONSTRUCTOR_ID => {
                // Messages we sent, by their msg_id: sent again as they were. If one is
                // unknown, the state of all is told instead (the spec).
                let ids = types::MsgResendReq::from_bytes(&body)?.msg_ids;
                if ids.iter().all(|id| self.unacked.contains_key(id)) {
                    for id in ids {
                        let sent = self.unacked[&id].clone();
                        self.resend.push_back(Message {
                            msg_id: id,
                            seqno: sent.seqno,
                            body: sent.body,
                        });
                    }
                } else {
                    let info = ids
                        .iter()
                        .map(|id| if self.unacked.contains_key(id) { 4 } else { 1 })
                        .collect();
                    self.push(
                        types::MsgsStateInfo {
                            req_msg_id: m.msg_id,
                            info,
                        }
                        .to_bytes(),
                        Parity::Response,
                    );
                }
            }
            types::MsgResendAnsReq::CONSTRUCTOR_ID => {
                // Requests, by their msg_id: their answers go again.
                for id in types::MsgResendAnsReq::from_bytes(&body)?.msg_ids {
                    if let Some((_, body)) = self.answered.get(&id) {
                        let body = body.clone();
                        self.outgoing.push_back((body, Parity::Response, Some(id)));
                    }
                }
            }
            functions::Ping::CONSTRUCTOR_ID => {
                let p = functions::Ping::from_bytes(&body)?;
                self.push(
                    types::Pong {
                        msg_id: m.msg_id,
                        ping_id: p.ping_id,
                    }
                    .to_bytes(),
                    Parity::Response,
                );
            }
            functions::PingDelayDisconnect::CONSTRUCTOR_ID => {
                let p = functions::PingDelayDisconnect::from_bytes(&body)?;
                self.push(
                    types::Pong {
                        msg_id: m.msg_id,
                        ping_id: p.ping_id,
                    }
                    .to_bytes(),
                    Parity::Response,
                );
                self.events.push_back(ServerEvent::DisconnectAfter {
                    delay_secs: p.disconnect_delay,
                });
            }
            functions::GetFutureSalts::CONSTRUCTOR_ID => {
                let g = functions::GetFutureSalts::from_bytes(&body)?;
                let now = self.now_secs(now_ms) as i32;
                let salts: Vec<types::FutureSalt> = self
                    .salts
                    .iter()
                    .filter(|s| s.valid_until > now)
                    .take(g.num.clamp(1, 64) as usize)
                    .cloned()
                    .collect();
                self.push(
                    types::FutureSalts {
                        req_msg_id: m.msg_id,
                        now,
                        salts,
                    }
                    .to_bytes(),
                    Parity::Response,
                );
            }
            types::MsgsStateReq::CONSTRUCTOR_ID => {
                let q = types::MsgsStateReq::from_bytes(&body)?;
                let info = q
                    .msg_ids
                    .iter()
                    .map(|id| {
                        if self.answered.contains_key(id)
                            || self.in_progress.contains(id)
                            || self.seen.contains(id)
                        {
                            4
                        } else {
                            2
                        }
                    })
                    .collect();
                self.push(
                    types::MsgsStateInfo {
                        req_msg_id: m.msg_id,
                        info,
                    }
                    .to_bytes(),
                    Parity::Response,
                );
            }
            functions::RpcDropAnswer::CONSTRUCTOR_ID => {
                let d = functions::RpcDropAnswer::from_bytes(&body)?;
                let answer = if self.in_progress.contains(&d.req_msg_id) {
                    enums::RpcDropAnswer::RpcAnswerDroppedRunning
                } else {
                    enums::RpcDropAnswer::RpcAnswerUnknown
                };
                self.finish(m.msg_id, answer.to_bytes(), now_ms);
            }
            functions::DestroySession::CONSTRUCTOR_ID => {
                let d = functions::DestroySession::from_bytes(&body)?;
                self.in_progress.insert(m.msg_id);
                self.events.push_back(ServerEvent::DestroySession {
                    msg_id: m.msg_id,
                    session_id: d.session_id,
                });
            }
            _ => {
                self.in_progress.insert(m.msg_id);
                self.events.push_back(ServerEvent::Request {
                    msg_id: m.msg_id,
                    body,
                });
            }
        }
        Ok(())
    }

    fn finish(&mut self, req_msg_id: i64, result: Vec<u8>, now_ms: i64) {
        self.in_progress.remove(&req_msg_id);
        let body = RpcResult {
            req_msg_id,
            result: maybe_deflate(result),
        }
        .to_bytes();
        self.answered
            .insert(req_msg_id, (self.now_secs(now_ms), body.clone()));
        self.answered_order.push_back(req_msg_id);
        self.outgoing
            .push_back((body, Parity::Response, Some(req_msg_id)));
    }

    /// Answers request `req_msg_id` with a result object or an RPC error (code, message such
    /// as `FLOOD_WAIT_31`).
    pub fn send_result(
        &mut self,
        req_msg_id: i64,
        result: Result<Vec<u8>, (i32, String)>,
        now_ms: i64,
    ) {
        let body = match result {
            Ok(b) => b,
            Err((code, message)) => types::RpcError {
                error_code: code,
                error_message: message,
            }
            .to_bytes(),
        };
        self.finish(req_msg_id, body, now_ms);
    }

    /// Queues a server-initiated object (an update).
    pub fn send_update(&mut self, body: Vec<u8>) {
        self.push(body, Parity::ServerOther);
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Whether anything (besides acks) waits to be sent.
    pub fn wants_transmit(&self) -> bool {
        !self.outgoing.is_empty() || !self.resend.is_empty()
    }

    /// Keeps a content message until the client acknowledges it (bounded: the oldest go).
    fn keep_unacked(&mut self, m: &Message, answer_to: Option<i64>) {
        if !is_content_related(&m.body) {
            return;
        }
        if let Some(req) = answer_to {
            self.answer_ids.insert(req, m.msg_id);
        }
        self.unacked_bytes += m.body.len();
        self.unacked.insert(
            m.msg_id,
            Sent {
                seqno: m.seqno,
                body: m.body.clone(),
                answer_to,
            },
        );
        while self.unacked.len() > UNACKED_MAX || self.unacked_bytes > UNACKED_BYTES {
            let Some((_, old)) = self.unacked.pop_first() else {
                break;
            };
            self.unacked_bytes -= old.body.len();
        }
        if self.answer_ids.len() > 2 * UNACKED_MAX {
            let live: HashSet<i64> = self.unacked.keys().copied().collect();
            self.answer_ids.retain(|_, a| live.contains(a));
        }
    }

    /// The next encrypted payload for the client, if any.
    pub fn poll_transmit(&mut self, now_ms: i64, random: &[u8]) -> Option<Vec<u8>> {
        let mut messages = self.out.begin(Parity::ServerOther, now_ms);
        let mut size: usize = messages.iter().map(|m| m.body.len()).sum();
        // Messages sent again with their msg_id travel in a container, never alone.
        let mut reused = false;
        while messages.len() < 100 && size < 512 * 1024 {
            let Some(m) = self.resend.pop_front() else {
                break;
            };
            size += m.body.len();
            reused = true;
            messages.push(m);
        }
        while messages.len() < 100 && size < 512 * 1024 {
            let Some((body, parity, answer_to)) = self.outgoing.pop_front() else {
                break;
            };
            size += body.len();
            let m = self.out.message(body, parity, now_ms);
            self.keep_unacked(&m, answer_to);
            messages.push(m);
        }
        // A container's msg_id must be above every message it carries.
        let (message, _) = if reused {
            if messages.is_empty() {
                return None;
            }
            self.out.container(messages, Parity::ServerOther, now_ms)
        } else {
            self.out.finish(messages, Parity::ServerOther, now_ms)?
        };
        Some(seal(
            &self.key,
            Side::Server,
            self.current_salt(now_ms),
            self.session_id,
            &message,
            random,
        ))
    }
}

/// Service messages Telegram answers whatever the parity of their seq_no.
fn parity_tolerated(body: &[u8]) -> bool {
    matches!(
        super::constructor_of(body),
        Some(
            functions::Ping::CONSTRUCTOR_ID
                | functions::PingDelayDisconnect::CONSTRUCTOR_ID
                | types::HttpWait::CONSTRUCTOR_ID
                | types::MsgsAck::CONSTRUCTOR_ID
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::decrypt_message;

    const NOW_MS: i64 = 1_700_000_000_000;

    /// What the server sends back for one message with `seqno`: the constructor ids in its
    /// answer and, for a bad_msg_notification, its error code.
    fn answer_to(body: Vec<u8>, seqno: i32) -> (Vec<u32>, Option<i32>) {
        let key = AuthKey::from_bytes([7; 256]);
        let salt = types::FutureSalt {
            valid_since: (NOW_MS / 1000 - 10) as i32,
            valid_until: (NOW_MS / 1000 + 3600) as i32,
            salt: 42,
        };
        let mut s = ServerSession::new(key.clone(), 99, vec![salt]);
        let msg_id = ((NOW_MS / 1000) << 32) + 4 * 1000;
        let m = Message {
            msg_id,
            seqno,
            body,
        };
        let sealed = super::super::seal(&key, Side::Client, 42, 99, &m, &[0; 32]);
        s.handle_incoming(&sealed, NOW_MS).unwrap();
        let mut ids = Vec::new();
        let mut code = None;
        while let Some(out) = s.poll_transmit(NOW_MS, &[0; 64]) {
            let plain = decrypt_message(&key, Side::Server, &out).unwrap();
            // Every constructor id that appears, read at 4-byte steps, is enough to tell
            // pong from bad_msg_notification here.
            for w in plain[32..].chunks_exact(4) {
                let id = u32::from_le_bytes(w.try_into().unwrap());
                if id == types::BadMsgNotification::CONSTRUCTOR_ID
                    || id == types::Pong::CONSTRUCTOR_ID
                {
                    ids.push(id);
                }
            }
            if let Some(i) = plain
                .windows(4)
                .position(|w| w == types::BadMsgNotification::CONSTRUCTOR_ID.to_le_bytes())
            {
                // bad_msg_id:long bad_msg_seqno:int error_code:int
                let at = i + 4 + 8 + 4;
                code = Some(i32::from_le_bytes(plain[at..at + 4].try_into().unwrap()));
            }
        }
        (ids, code)
    }

    #[test]
    fn seq_no_parity_as_telegram_checks_it() {
        let ping = functions::Ping { ping_id: 5 }.to_bytes();
        let delay = functions::PingDelayDisconnect {
            ping_id: 6,
            disconnect_delay: 75,
        }
        .to_bytes();
        let nearest = fleetgram_tl::functions::help::GetNearestDc {}.to_bytes();
        let ack = types::MsgsAck { msg_ids: vec![1] }.to_bytes();
        let pong = types::Pong::CONSTRUCTOR_ID;
        // (body, seq_no, pong expected, bad_msg code expected)
        let table: Vec<(&Vec<u8>, i32, bool, Option<i32>)> = vec![
            (&ping, 1, true, None),
            // Pyrogram-family clients: a ping with an even seq_no is answered.
            (&ping, 0, true, None),
            (&ping, 2, true, None),
            (&delay, 0, true, None),
            (&delay, 1, true, None),
            // A content-related call with an even seq_no: 35 (odd expected).
            (&nearest, 2, false, Some(35)),
            // An ack with an odd seq_no is tolerated; nothing is answered.
            (&ack, 1, false, None),
        ];
        for (body, seqno, pong_expected, code_expected) in table {
            let (ids, code) = answer_to(body.clone(), seqno);
            assert_eq!(
                ids.contains(&pong),
                pong_expected,
                "seqno {seqno}: {ids:x?}"
            );
            assert_eq!(code, code_expected, "seqno {seqno}");
        }
    }
}
