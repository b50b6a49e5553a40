//! The client end of an encrypted session.
//!
//! Call order (quinn-proto style):
//! 1. [`Session::enqueue`] requests (serialized TL functions); each gets a [`RequestId`].
//! 2. [`Session::poll_transmit`] until `None`: each call returns one encrypted payload
//!    (several messages and pending acks packed into a container) to frame and send.
//! 3. [`Session::handle_incoming`] for every payload received.
//! 4. [`Session::poll_event`] for results, updates and new-session notices.
//! 5. [`Session::handle_timeout`] periodically: requests unanswered for too long are resent
//!    with the same msg_id (the server answers a msg_id at most once), and after a reconnect
//!    [`Session::resend_all`] does the same at once.

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
}

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
    service: VecDeque<Vec<u8>>,
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
        let mut messages = self.out.begin(Parity::Client, now_ms);
        let mut size: usize = messages.iter().map(|m| m.body.len()).sum();
        while messages.len() < self.config.max_container && size < self.config.max_payload {
            let Some(body) = self.service.pop_front() else {
                break;
            };
            size += body.len();
            messages.push(self.out.message(body, Parity::Client, now_ms));
        }
        while messages.len() < self.config.max_container && size < self.config.max_payload {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            self.queued.remove(&id);
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            let body = maybe_deflate(p.body.clone());
            let m = match p.msg {
                // Resent with the same msg_id: the server answers it at most once.
                Some((msg_id, seqno)) => Message {
                    msg_id,
                    seqno,
                    body,
                },
                None => self.out.message(body, Parity::Client, now_ms),
            };
            let p = self.pending.get_mut(&id).expect("present");
            p.msg = Some((m.msg_id, m.seqno));
            p.sent_at = now_ms;
            self.by_msg.insert(m.msg_id, id);
            size += m.body.len();
            messages.push(m);
        }
        let (message, inner) = self.out.finish(messages, Parity::Client, now_ms)?;
        if let Some(inner) = inner {
            self.containers.insert(message.msg_id, inner);
        }
        Some(seal(
            &self.key,
            Side::Client,
            self.salt,
            self.session_id,
            &message,
            random,
        ))
    }

    /// Requeues every unanswered request, keeping its msg_id (after a reconnect).
    pub fn resend_all(&mut self) {
        let mut ids: Vec<RequestId> = self.pending.keys().copied().collect();
        ids.sort();
        for id in ids {
            self.push_queue(id);
        }
    }

    /// Resends (same msg_id) requests unanswered for longer than the configured delay.
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
        for id in late {
            self.bump_attempt(id, false);
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
        for m in unpack(outer)? {
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
            types::MsgsAck::CONSTRUCTOR_ID => {}
            types::BadServerSalt::CONSTRUCTOR_ID => {
                let b = types::BadServerSalt::from_bytes(&body)?;
                self.salt = b.new_server_salt;
                self.salts.clear();
                self.resend_msg(b.bad_msg_id);
            }
            types::BadMsgNotification::CONSTRUCTOR_ID => {
                let b = types::BadMsgNotification::from_bytes(&body)?;
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
                self.service.push_back(
                    types::MsgsStateInfo {
                        req_msg_id: msg_id,
                        info,
                    }
                    .to_bytes(),
                );
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
                let d = types::MsgDetailedInfo::from_bytes(&body)?;
                self.out.acks.push(d.answer_msg_id);
            }
            types::MsgNewDetailedInfo::CONSTRUCTOR_ID => {
                let d = types::MsgNewDetailedInfo::from_bytes(&body)?;
                self.out.acks.push(d.answer_msg_id);
            }
            types::MsgsAllInfo::CONSTRUCTOR_ID | types::MsgsStateInfo::CONSTRUCTOR_ID => {}
            _ => self.events.push_back(Event::Update(body)),
        }
        Ok(())
    }
}
