//! The client end of an encrypted session.
//!
//! Call order (quinn-proto style):
//! 1. [`Session::enqueue`] requests (serialized TL functions); each gets a [`RequestId`].
//! 2. [`Session::poll_transmit`] until `None`: each call returns one encrypted payload
//!    (several messages and pending acks packed into a container) to frame and send.
//! 3. [`Session::handle_incoming`] for every payload received.
//! 4. [`Session::poll_event`] for results, updates and new-session notices.
//! 5. [`Session::handle_timeout`] periodically: a request the server has not acknowledged is
//!    resent with the same msg_id inside a container (never alone: the spec forbids it; the
//!    server answers a msg_id at most once); one it acknowledged is not resent but its state
//!    is asked (`msgs_state_req`), and only a request the server says it never received goes
//!    again, with a new msg_id. After a reconnect [`Session::resend_all`] does the same at
//!    once.
//!
//! The rules of `../shared/spec/mtproto/service_messages*.md` it follows, each with its test,
//! are listed in the crate's conformance table ([`crate::conformance`]).

use super::msgid::{secs_of, MsgIdGen, Parity};
use super::Outbox;
use super::{
    inflate_if_packed, is_content_related, maybe_deflate, open, seal, unpack, RpcError,
    SessionError, MAX_FUTURE_SECS, MAX_PAST_SECS,
};
use crate::crypto::{AuthKey, Side};
use fleetgram_tl::mtproto::{Message, MsgContainer, RpcResult};
use fleetgram_tl::{types, Deserializable, Identifiable, Serializable};
use std::collections::{HashMap, HashSet, VecDeque};

/// Identifies a request across resends (its msg_id may change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Something the session learned.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The answer to a request: the raw result object, or the RPC error.
    Result {
        /// Which request.
        id: RequestId,
        /// The boxed result (already inflated), or the error.
        result: Result<Vec<u8>, RpcError>,
    },
    /// A server-initiated object (updates and anything not answering a request).
    Update(Vec<u8>),
    /// The server created a new session: updates may have been lost since `first_msg_id`, so
    /// the engine should catch up (getDifference).
    NewSession {
        /// The first msg_id the new session covers.
        first_msg_id: i64,
    },
}

/// Tunables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most messages per container.
    pub max_container: usize,
    /// Most body bytes per payload.
    pub max_payload: usize,
    /// Resend a request unanswered for this long (ms).
    pub resend_after_ms: i64,
    /// Give up on a request after this many bad_msg / resend rounds.
    pub max_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_container: 100,
            max_payload: 512 * 1024,
            resend_after_ms: 10_000,
            max_attempts: 16,
        }
    }
}

#[derive(Debug)]
struct Pending {
    body: Vec<u8>,
    /// Current msg_id and seq_no; `None` until first sent or when a new id is needed.
    msg: Option<(i64, i32)>,
    sent_at: i64,
    attempts: u32,
    /// The server acknowledged this msg_id (`msgs_ack`): it has the request; the body is not
    /// sent again unless the server says it lost it.
    acked: bool,
}

/// A service message waiting to be sent, and what to remember about it once it has an id.
#[derive(Debug)]
enum Service {
    /// Sent as is.
    Plain(Vec<u8>),
    /// A `msgs_state_req` for these msg_ids (its answer names it by its msg_id).
    StateReq(Vec<i64>),
}

/// How many of our own recent msg_ids are remembered (to check that a notice about one of
/// them is about a message we really sent).
const SENT_CAPACITY: usize = 4096;

/// Requests up to this size may be sent again to have their answer resent; larger ones
/// (upload parts) never are: their answer is asked for with `msg_resend_ans_req`.
const SMALL_BODY: usize = 1024;

/// A request older than this (by its msg_id) is resent with a new msg_id: the server refuses
/// msg_ids over 300 s old.
const REUSE_ID_SECS: i64 = 240;

/// The client end of an encrypted MTProto session.
#[derive(Debug)]
pub struct Session {
    key: AuthKey,
    session_id: i64,
    salt: i64,
    salts: Vec<types::FutureSalt>,
    out: Outbox,
    config: Config,
    next_request: u64,
    queue: VecDeque<RequestId>,
    queued: HashSet<RequestId>,
    pending: HashMap<RequestId, Pending>,
    by_msg: HashMap<i64, RequestId>,
    containers: HashMap<i64, Vec<i64>>,
    service: VecDeque<Service>,
    /// Our msgs_state_req by msg_id: the msg_ids each asked about.
    state_reqs: HashMap<i64, Vec<i64>>,
    /// Our recently sent msg_ids (requests, service messages, containers).
    sent: HashSet<i64>,
    sent_order: VecDeque<i64>,
    seen: HashSet<i64>,
    seen_order: VecDeque<i64>,
    events: VecDeque<Event>,
}

const SEEN_CAPACITY: usize = 4096;

impl Session {
    /// A session with `key` (from the handshake), a random `session_id`, the first salt and
    /// the clock offset (`server_time - now`).
    pub fn new(key: AuthKey, session_id: i64, first_salt: i64, time_offset_secs: i32) -> Self {
        let mut ids = MsgIdGen::new();
        ids.set_offset_secs(time_offset_secs);
        Self {
            key,
            session_id,
            salt: first_salt,
            salts: Vec::new(),
            out: Outbox {
                ids,
                ..Outbox::default()
            },
            config: Config::default(),
            next_request: 0,
            queue: VecDeque::new(),
            queued: HashSet::new(),
            pending: HashMap::new(),
            by_msg: HashMap::new(),
            containers: HashMap::new(),
            service: VecDeque::new(),
            state_reqs: HashMap::new(),
            sent: HashSet::new(),
            sent_order: VecDeque::new(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Replaces the tunables.
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The session id.
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// The current server salt.
    pub fn salt(&self) -> i64 {
        self.salt
    }

    /// The auth key.
    pub fn auth_key(&self) -> &AuthKey {
        &self.key
    }

    /// Clock offset to the server, ms.
    pub fn time_offset_ms(&self) -> i64 {
        self.out.ids.offset_ms()
    }

    /// Requests not answered yet.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Received messages not acknowledged yet.
    pub fn acks_pending(&self) -> usize {
        self.out.acks.len()
    }

    /// Whether `poll_transmit` has requests or service messages to send (acks alone do not
    /// count, so callers may batch them).
    pub fn wants_transmit(&self) -> bool {
        !self.queue.is_empty() || !self.service.is_empty()
    }

    /// Stores salts from `future_salts`; the one valid at `now` is used from then on.
    pub fn add_future_salts(&mut self, salts: Vec<types::FutureSalt>, now_ms: i64) {
        self.salts = salts;
        self.pick_salt(now_ms);
    }

    fn pick_salt(&mut self, now_ms: i64) {
        let now = ((now_ms + self.out.ids.offset_ms()) / 1000) as i32;
        self.salts.retain(|s| s.valid_until > now);
        if let Some(s) = self.salts.iter().find(|s| s.valid_since <= now) {
            self.salt = s.salt;
        }
    }

    /// Queues a request (a serialized TL function, possibly wrapped in invokeWithLayer etc.).
    pub fn enqueue(&mut self, body: Vec<u8>) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.pending.insert(
            id,
            Pending {
                body,
                msg: None,
                sent_at: 0,
                attempts: 0,
                acked: false,
            },
        );
        self.push_queue(id);
        id
    }

    /// Queues a request whose body must name its own msg_id (`auth.bindTempAuthKey`): the
    /// msg_id is assigned now and passed to `build`.
    pub fn enqueue_with_msg_id(
        &mut self,
        now_ms: i64,
        build: impl FnOnce(i64) -> Vec<u8>,
    ) -> RequestId {
        let msg_id = self.out.ids.next(now_ms, Parity::Client);
        let seqno = self.out.next_seq(true);
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.pending.insert(
            id,
            Pending {
                body: build(msg_id),
                msg: Some((msg_id, seqno)),
                sent_at: 0,
                attempts: 0,
                acked: false,
            },
        );
        self.push_queue(id);
        id
    }

    fn push_queue(&mut self, id: RequestId) {
        if self.queued.insert(id) {
            self.queue.push_back(id);
        }
    }

    /// Forgets a request (its result, if it still comes, is dropped).
    pub fn cancel(&mut self, id: RequestId) {
        if let Some(p) = self.pending.remove(&id) {
            if let Some((m, _)) = p.msg {
                self.by_msg.remove(&m);
            }
        }
    }

    /// The next encrypted payload to send, if any.
    pub fn poll_transmit(&mut self, now_ms: i64, random: &[u8]) -> Option<Vec<u8>> {
        self.pick_salt(now_ms);
        if self.out.ids.ahead_ms(now_ms) > MAX_FUTURE_SECS * 1000 {
            // The clock was corrected far backwards: our ids would stay ahead of what the
            // server accepts for a long while. A new session starts the ids afresh.
            self.restart_session(random);
        }
        let mut messages = self.out.begin(Parity::Client, now_ms);
        let mut size: usize = messages.iter().map(|m| m.body.len()).sum();
        while messages.len() < self.config.max_container && size < self.config.max_payload {
            let Some(service) = self.service.pop_front() else {
                break;
            };
            let (body, asked) = match service {
                Service::Plain(b) => (b, None),
                Service::StateReq(ids) => (
                    types::MsgsStateReq {
                        msg_ids: ids.clone(),
                    }
                    .to_bytes(),
                    Some(ids),
                ),
            };
            size += body.len();
            let m = self.out.message(body, Parity::Client, now_ms);
            if let Some(ids) = asked {
                self.state_reqs.insert(m.msg_id, ids);
            }
            messages.push(m);
        }
        // A message sent again with its msg_id goes inside a container, never alone.
        let mut reused = false;
        while messages.len() < self.config.max_container && size < self.config.max_payload {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            self.queued.remove(&id);
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            if let Some((msg_id, _)) = p.msg {
                let age = (now_ms + self.out.ids.offset_ms()) / 1000 - secs_of(msg_id);
                if age > REUSE_ID_SECS {
                    // Too old for the server to tell whether it had it: a new id.
                    self.by_msg.remove(&msg_id);
                    p.msg = None;
                }
            }
            let body = maybe_deflate(p.body.clone());
            let m = match p.msg {
                // Resent with the same msg_id: the server answers it at most once.
                Some((msg_id, seqno)) => {
                    reused = true;
                    Message {
                        msg_id,
                        seqno,
                        body,
                    }
                }
                None => self.out.message(body, Parity::Client, now_ms),
            };
            let p = self.pending.get_mut(&id).expect("present");
            p.msg = Some((m.msg_id, m.seqno));
            p.sent_at = now_ms;
            self.by_msg.insert(m.msg_id, id);
            size += m.body.len();
            messages.push(m);
        }
        let (message, inner) = if reused && messages.len() == 1 {
            self.out.container(messages, Parity::Client, now_ms)
        } else {
            self.out.finish(messages, Parity::Client, now_ms)?
        };
        if let Some(inner) = inner {
            for m in &inner {
                self.note_sent(*m);
            }
            self.containers.insert(message.msg_id, inner);
        }
        self.note_sent(message.msg_id);
        Some(seal(
            &self.key,
            Side::Client,
            self.salt,
            self.session_id,
            &message,
            random,
        ))
    }

    /// Remembers a msg_id we sent (bounded).
    fn note_sent(&mut self, msg_id: i64) {
        if self.sent.insert(msg_id) {
            self.sent_order.push_back(msg_id);
            if self.sent_order.len() > SENT_CAPACITY {
                if let Some(old) = self.sent_order.pop_front() {
                    self.sent.remove(&old);
                    self.containers.remove(&old);
                    self.state_reqs.remove(&old);
                }
            }
        }
    }

    /// Whether `msg_id` is one we sent recently (a notice about anything else is ignored).
    fn sent_recently(&self, msg_id: i64) -> bool {
        self.sent.contains(&msg_id)
    }

    /// Starts a new session: a new id (from `random`), ids and seq_no from the start, every
    /// unanswered request queued again with a new msg_id.
    fn restart_session(&mut self, random: &[u8]) {
        let mut id = [0u8; 8];
        let n = random.len().min(8);
        id[..n].copy_from_slice(&random[..n]);
        self.session_id = i64::from_le_bytes(id) ^ self.session_id.rotate_left(17);
        self.out.ids.restart();
        self.out.reset_seq();
        self.out.acks.clear();
        self.by_msg.clear();
        self.containers.clear();
        self.state_reqs.clear();
        let mut ids: Vec<RequestId> = self.pending.keys().copied().collect();
        ids.sort();
        for id in ids {
            if let Some(p) = self.pending.get_mut(&id) {
                p.msg = None;
                p.acked = false;
            }
            self.push_queue(id);
        }
    }

    /// After a reconnect: requeues every request the server has not acknowledged (same
    /// msg_id, inside a container) and asks the state of the acknowledged ones.
    pub fn resend_all(&mut self) {
        let mut ids: Vec<RequestId> = self.pending.keys().copied().collect();
        ids.sort();
        let mut ask = Vec::new();
        for id in ids {
            match self.pending.get(&id) {
                Some(p) if p.acked => ask.extend(p.msg.map(|m| m.0)),
                Some(_) => self.push_queue(id),
                None => {}
            }
        }
        self.ask_state(ask);
    }

    /// Requests unanswered for longer than the configured delay: the unacknowledged ones are
    /// resent (same msg_id, in a container), the acknowledged ones have their state asked.
    pub fn handle_timeout(&mut self, now_ms: i64) {
        let mut late: Vec<RequestId> = self
            .pending
            .iter()
            .filter(|(id, p)| {
                p.msg.is_some()
                    && now_ms - p.sent_at >= self.config.resend_after_ms
                    && !self.queued.contains(id)
            })
            .map(|(id, _)| *id)
            .collect();
        late.sort();
        let mut ask = Vec::new();
        for id in late {
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            if p.acked {
                p.sent_at = now_ms;
                ask.extend(p.msg.map(|m| m.0));
            } else {
                self.bump_attempt(id, false);
            }
        }
        self.ask_state(ask);
    }

    /// Queues `msgs_state_req` for `ids` (at most 8192 per message).
    fn ask_state(&mut self, ids: Vec<i64>) {
        for chunk in ids.chunks(8192) {
            self.service.push_back(Service::StateReq(chunk.to_vec()));
        }
    }

    /// Requeues a request; `new_id` drops its msg_id (the server rejected that id).
    fn bump_attempt(&mut self, id: RequestId, new_id: bool) {
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        p.attempts += 1;
        if p.attempts > self.config.max_attempts {
            let p = self.pending.remove(&id).expect("present");
            if let Some((m, _)) = p.msg {
                self.by_msg.remove(&m);
            }
            self.events.push_back(Event::Result {
                id,
                result: Err(RpcError::new(-503, "REQUEST_NOT_DELIVERED")),
            });
            return;
        }
        if new_id {
            if let Some((m, _)) = p.msg.take() {
                self.by_msg.remove(&m);
            }
        }
        self.push_queue(id);
    }

    /// Resends whatever `bad_msg_id` referred to (a request or a whole container) with new ids.
    fn resend_msg(&mut self, bad_msg_id: i64) {
        let inner = self
            .containers
            .remove(&bad_msg_id)
            .unwrap_or_else(|| vec![bad_msg_id]);
        for m in inner {
            if let Some(&id) = self.by_msg.get(&m) {
                self.bump_attempt(id, true);
            }
        }
    }

    /// `msg_detailed_info` / `msg_new_detailed_info` about `answer_msg_id`: acknowledged when
    /// it arrived (or is not wanted), otherwise asked for with `msg_resend_req`.
    fn detailed_info(&mut self, answer_msg_id: i64, wanted: bool) {
        if wanted && !self.seen.contains(&answer_msg_id) {
            self.service.push_back(Service::Plain(
                types::MsgResendReq {
                    msg_ids: vec![answer_msg_id],
                }
                .to_bytes(),
            ));
        } else {
            self.out.acks.push(answer_msg_id);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
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

    /// Processes one received payload.
    ///
    /// # Errors
    /// A payload that fails decryption or the header checks; nothing is changed then.
    pub fn handle_incoming(&mut self, payload: &[u8], now_ms: i64) -> Result<(), SessionError> {
        let sealed = open(&self.key, Side::Server, payload)?;
        if sealed.session_id != self.session_id {
            return Err(SessionError::WrongSession {
                expected: self.session_id,
                got: sealed.session_id,
            });
        }
        let outer = sealed.message;
        if outer.msg_id % 2 == 0 {
            return Err(SessionError::BadMsgIdParity(outer.msg_id));
        }
        let server_now = (now_ms + self.out.ids.offset_ms()) / 1000;
        let t = secs_of(outer.msg_id);
        // bad_msg_notification 16/17 arrive precisely when the clocks disagree: accept those.
        let is_bad_msg =
            super::constructor_of(&outer.body) == Some(types::BadMsgNotification::CONSTRUCTOR_ID);
        if !is_bad_msg && t < server_now - MAX_PAST_SECS {
            // Too old: possibly a replay.
            return Err(SessionError::MsgIdOutOfWindow(outer.msg_id));
        }
        if t > server_now + MAX_FUTURE_SECS {
            // The (authenticated) server clock is ahead of our estimate: adopt it.
            self.out.ids.correct_from(outer.msg_id, now_ms);
        }
        if !self.remember(outer.msg_id) {
            return Err(SessionError::Duplicate(outer.msg_id));
        }
        let container = super::constructor_of(&outer.body) == Some(MsgContainer::CONSTRUCTOR_ID);
        let outer_id = outer.msg_id;
        for m in unpack(outer)? {
            // Inside a container: a server msg_id (odd), lower than the container's.
            if container && (m.msg_id % 2 == 0 || m.msg_id >= outer_id) {
                continue;
            }
            if container && !self.remember(m.msg_id) {
                continue; // a replayed inner message
            }
            if is_content_related(&m.body) {
                self.out.acks.push(m.msg_id);
            }
            self.process(m.msg_id, m.body, now_ms)?;
        }
        Ok(())
    }

    fn answer(&mut self, req_msg_id: i64, result: Result<Vec<u8>, RpcError>) {
        if let Some(id) = self.by_msg.remove(&req_msg_id) {
            if self.pending.remove(&id).is_some() {
                self.events.push_back(Event::Result { id, result });
            }
        }
    }

    fn process(&mut self, msg_id: i64, body: Vec<u8>, now_ms: i64) -> Result<(), SessionError> {
        let body = inflate_if_packed(body)?;
        let Some(cid) = super::constructor_of(&body) else {
            return Err(SessionError::Malformed("empty message body".into()));
        };
        match cid {
            RpcResult::CONSTRUCTOR_ID => {
                let r = RpcResult::from_bytes(&body)?;
                let inner = inflate_if_packed(r.result)?;
                let result =
                    if super::constructor_of(&inner) == Some(types::RpcError::CONSTRUCTOR_ID) {
                        let e = types::RpcError::from_bytes(&inner)?;
                        Err(RpcError::new(e.error_code, &e.error_message))
                    } else {
                        Ok(inner)
                    };
                self.answer(r.req_msg_id, result);
            }
            types::MsgsAck::CONSTRUCTOR_ID => {
                let a = types::MsgsAck::from_bytes(&body)?;
                for m in a.msg_ids {
                    if let Some(p) = self.by_msg.get(&m).and_then(|id| self.pending.get_mut(id)) {
                        p.acked = true;
                    }
                }
            }
            types::BadServerSalt::CONSTRUCTOR_ID => {
                let b = types::BadServerSalt::from_bytes(&body)?;
                // Only about a message we really sent (else a replayed or forged notice).
                if !self.sent_recently(b.bad_msg_id) {
                    return Ok(());
                }
                self.salt = b.new_server_salt;
                self.salts.clear();
                self.resend_msg(b.bad_msg_id);
            }
            types::BadMsgNotification::CONSTRUCTOR_ID => {
                let b = types::BadMsgNotification::from_bytes(&body)?;
                if !self.sent_recently(b.bad_msg_id) {
                    return Ok(());
                }
                match b.error_code {
                    16 | 17 => self.out.ids.correct_from(msg_id, now_ms),
                    // seq_no too low / too high: move our counter past the server's view.
                    32 => self.out.shift_seq(64),
                    33 => self.out.shift_seq(-16),
                    _ => {}
                }
                self.resend_msg(b.bad_msg_id);
            }
            types::NewSessionCreated::CONSTRUCTOR_ID => {
                let n = types::NewSessionCreated::from_bytes(&body)?;
                self.salt = n.server_salt;
                // Requests in flight are not sent again here: they may still arrive (a payload
                // overtaken by a later one), and one the server never gets is resent by the
                // timeout, in a container with its msg_id, answered at most once.
                self.events.push_back(Event::NewSession {
                    first_msg_id: n.first_msg_id,
                });
            }
            types::Pong::CONSTRUCTOR_ID => {
                let p = types::Pong::from_bytes(&body)?;
                self.answer(p.msg_id, Ok(body));
            }
            types::FutureSalts::CONSTRUCTOR_ID => {
                let f = types::FutureSalts::from_bytes(&body)?;
                let req = f.req_msg_id;
                // Only the answer to our own get_future_salts.
                if !self.by_msg.contains_key(&req) {
                    return Ok(());
                }
                self.add_future_salts(f.salts, now_ms);
                self.answer(req, Ok(body));
            }
            types::MsgsStateReq::CONSTRUCTOR_ID => {
                let q = types::MsgsStateReq::from_bytes(&body)?;
                let info: Vec<u8> = q
                    .msg_ids
                    .iter()
                    .map(|m| if self.seen.contains(m) { 4 } else { 1 })
                    .collect();
                self.service.push_back(Service::Plain(
                    types::MsgsStateInfo {
                        req_msg_id: msg_id,
                        info,
                    }
                    .to_bytes(),
                ));
            }
            types::MsgResendReq::CONSTRUCTOR_ID => {
                let q = types::MsgResendReq::from_bytes(&body)?;
                for m in q.msg_ids {
                    if let Some(&id) = self.by_msg.get(&m) {
                        self.bump_attempt(id, false);
                    }
                }
            }
            types::MsgDetailedInfo::CONSTRUCTOR_ID => {
                // The answer to our request `msg_id` was sent as `answer_msg_id` (it is
                // large): ask for it unless it arrived, or the request is no longer ours.
                let d = types::MsgDetailedInfo::from_bytes(&body)?;
                let wanted = self.by_msg.contains_key(&d.msg_id);
                self.detailed_info(d.answer_msg_id, wanted);
            }
            types::MsgNewDetailedInfo::CONSTRUCTOR_ID => {
                // A server message (updates) we may have missed.
                let d = types::MsgNewDetailedInfo::from_bytes(&body)?;
                self.detailed_info(d.answer_msg_id, true);
            }
            types::MsgsStateInfo::CONSTRUCTOR_ID => {
                let i = types::MsgsStateInfo::from_bytes(&body)?;
                let Some(asked) = self.state_reqs.remove(&i.req_msg_id) else {
                    return Ok(());
                };
                for (m, status) in asked.iter().zip(i.info.iter()) {
                    let Some(&id) = self.by_msg.get(m) else {
                        continue;
                    };
                    match status & 7 {
                        // Unknown, or certainly not received: sent again with a new msg_id.
                        1..=3 => {
                            if let Some(p) = self.pending.get_mut(&id) {
                                p.acked = false;
                            }
                            self.bump_attempt(id, true);
                        }
                        // Received, and still unanswered here: its answer was lost on the
                        // way. A small request goes again with its msg_id (in a container:
                        // the server answers a msg_id once and resends that answer); a large
                        // one is not sent again, its answer is asked for.
                        _ => {
                            let Some(p) = self.pending.get_mut(&id) else {
                                continue;
                            };
                            p.acked = true;
                            if p.body.len() <= SMALL_BODY {
                                self.push_queue(id);
                            } else {
                                self.service.push_back(Service::Plain(
                                    types::MsgResendAnsReq { msg_ids: vec![*m] }.to_bytes(),
                                ));
                            }
                        }
                    }
                }
            }
            types::MsgsAllInfo::CONSTRUCTOR_ID => {}
            _ => self.events.push_back(Event::Update(body)),
        }
        Ok(())
    }
}
