//! One client connection: transport detection, the handshake on unencrypted messages, and
//! encrypted messages routed to their session.
//!
//! A connection that sends garbage, an unknown auth key or a message that fails decryption
//! gets the transport error -404 and is closed, as Telegram does; other connections carry on.

use crate::rpc::{self, Ctx};
use crate::state::AuthKeyEntry;
use crate::Shared;
use fleetgram_protocol::crypto::Side;
use fleetgram_protocol::handshake::server as hs;
use fleetgram_protocol::session::msgid::{MsgIdGen, Parity};
use fleetgram_protocol::session::server::{ServerEvent, ServerSession};
use fleetgram_protocol::session::{open, open_with_ack, plain};
use fleetgram_protocol::transport::detect::{detect, Detected};
use fleetgram_protocol::transport::obfuscated::{server_accept, Encryptor};
use fleetgram_protocol::transport::{ErrorCode, Frame, Framer, Role};
use fleetgram_tl::types;
use rand::RngCore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// What a connection's writer is asked to do.
#[derive(Debug)]
pub(crate) enum Out {
    /// Frame and send an MTProto payload.
    Payload(Vec<u8>),
    /// Send a transport error, then close.
    Error(ErrorCode),
    /// Send a quick-ack token.
    QuickAck(u32),
}

/// Most bytes queued for a connection before it is closed: a client that stops reading must
/// not make the DC buffer without bound.
const MAX_BACKLOG: usize = 8 * 1024 * 1024;

/// The sending side of a connection, with its unsent byte count.
#[derive(Clone)]
pub(crate) struct ConnTx {
    tx: mpsc::UnboundedSender<Out>,
    backlog: Arc<AtomicUsize>,
    overloaded: Arc<tokio::sync::Notify>,
}

impl ConnTx {
    /// Queues `out`; `false` if the connection is gone or has too much unsent data (it is
    /// then closed).
    pub(crate) fn send(&self, out: Out) -> bool {
        let n = match &out {
            Out::Payload(p) => p.len(),
            Out::Error(_) | Out::QuickAck(_) => 4,
        };
        if self.backlog.fetch_add(n, Ordering::Relaxed) + n > MAX_BACKLOG {
            self.overloaded.notify_one();
            return false;
        }
        self.tx.send(out).is_ok()
    }

    fn same(&self, other: &ConnTx) -> bool {
        Arc::ptr_eq(&self.backlog, &other.backlog)
    }
}

/// A session and the connection it last spoke on.
pub(crate) struct Slot {
    pub session: ServerSession,
    pub conn: Option<ConnTx>,
    /// The user this session last acted for.
    pub owner: Option<i64>,
    /// The session used `invokeWithoutUpdates`: no updates are pushed to it.
    pub without_updates: bool,
    /// The API layer of the client (its answers and updates are converted to it).
    pub layer: i32,
    /// When its connection went (updates are held for it a while, as Telegram does).
    pub detached_at: Option<tokio::time::Instant>,
}

/// How long updates are held for a session whose connection went.
const HOLD_DETACHED: std::time::Duration = std::time::Duration::from_secs(120);

/// Most messages waiting for a session without a connection (more: it catches up with
/// getDifference).
const HOLD_MAX: usize = 1000;

/// (auth key id, session id).
pub(crate) type SessionKey = (i64, i64);

/// All sessions.
pub(crate) type Sessions = Mutex<HashMap<SessionKey, Arc<Mutex<Slot>>>>;

/// The largest frame a client may send (Telegram accepts about 1 MiB of payload).
const MAX_FRAME: usize = 2 * 1024 * 1024;

pub(crate) use crate::clock::now_ms;

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

enum Handshake {
    Idle,
    Step1(hs::ServerStep1),
    Step2(hs::ServerStep2),
}

/// Serves one TCP connection until it closes, misbehaves, or the DC shuts down.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    dc: i32,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut rd, wr) = stream.into_split();
    let limits = shared.conn_limits;
    let mut buf: Vec<u8> = Vec::new();
    // The read buffer starts small (an idle connection costs little) and grows while
    // reads fill it.
    let mut chunk = vec![0u8; 2048];
    let hello_by = tokio::time::Instant::now() + limits.hello;
    // 1. Which transport?
    let (kind, mut dec, enc) = loop {
        match detect(&buf) {
            Detected::NeedMore => {}
            Detected::Plain { kind, consumed } => {
                buf.drain(..consumed);
                break (kind, None, None);
            }
            Detected::Obfuscated if buf.len() >= 64 => {
                let header: [u8; 64] = buf[..64].try_into().expect("64");
                match server_accept(&header, None) {
                    Ok(acc) => {
                        buf.drain(..64);
                        let (e, mut d) = acc.obfuscation.split();
                        d.apply(&mut buf);
                        break (acc.kind, Some(d), Some(e));
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "unknown transport; closing");
                        return;
                    }
                }
            }
            Detected::Obfuscated => {}
            Detected::FakeTls => {
                tracing::debug!(%peer, "fake-TLS hello on a DC port; closing");
                return;
            }
        }
        let n = tokio::select! {
            r = tokio::time::timeout_at(hello_by, rd.read(&mut chunk)) => match r {
                Ok(Ok(n)) if n > 0 => n,
                Ok(_) => return,
                Err(_) => {
                    tracing::debug!(%peer, "no transport header in time; closing");
                    shared.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            _ = shutdown.changed() => return,
        };
        buf.extend_from_slice(&chunk[..n]);
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let tx = ConnTx {
        tx,
        backlog: Arc::new(AtomicUsize::new(0)),
        overloaded: Arc::new(tokio::sync::Notify::new()),
    };
    let overloaded = tx.overloaded.clone();
    let writer = tokio::spawn(write_loop(
        wr,
        Framer::new(kind, Role::Server),
        enc,
        rx,
        tx.backlog.clone(),
        tx.overloaded.clone(),
        limits.write_stall,
    ));
    let mut conn = Conn {
        shared,
        dc,
        tx,
        handshake: Handshake::Idle,
        plain_ids: MsgIdGen::new(),
        sessions_here: Vec::new(),
        disconnect_at: None,
    };
    let mut framer = Framer::new(kind, Role::Server).with_max_frame(MAX_FRAME);
    let mut drops = conn.shared.drops.subscribe();
    // When the connection is closed for want of data: `idle` after the last complete
    // frame, `frame` after a frame began.
    let mut last_frame = tokio::time::Instant::now();
    let mut frame_began: Option<tokio::time::Instant> = None;
    'outer: loop {
        loop {
            match framer.decode(&buf) {
                Ok(Some(d)) => {
                    last_frame = tokio::time::Instant::now();
                    frame_began = None;
                    if let Frame::Payload { range, quick_ack } = d.frame {
                        let payload = buf[range].to_vec();
                        if !conn.handle_payload(&payload, quick_ack) {
                            break 'outer;
                        }
                    }
                    buf.drain(..d.consumed);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "bad frame; closing");
                    conn.tx.send(Out::Error(ErrorCode::AuthKeyNotFound));
                    break 'outer;
                }
            }
        }
        if buf.is_empty() {
            frame_began = None;
        } else if frame_began.is_none() {
            frame_began = Some(tokio::time::Instant::now());
        }
        let mut give_up = match frame_began {
            Some(t) => t + limits.frame,
            None => last_frame + limits.idle,
        };
        if let Some(t) = conn.disconnect_at {
            give_up = give_up.min(t);
        }
        let n = tokio::select! {
            r = rd.read(&mut chunk) => match r {
                Ok(n) if n > 0 => n,
                _ => break,
            },
            _ = tokio::time::sleep_until(give_up) => {
                if conn.disconnect_at.is_some_and(|t| t <= tokio::time::Instant::now()) {
                    tracing::debug!(%peer, "ping_delay_disconnect ran out; closing");
                    break;
                }
                tracing::debug!(%peer, partial = frame_began.is_some(), "connection idle too long; closing");
                conn.shared.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                break;
            }
            _ = shutdown.changed() => break,
            _ = drops.changed() => {
                tracing::debug!(%peer, "connection dropped on request");
                writer.abort();
                break;
            }
            _ = overloaded.notified() => {
                tracing::debug!(%peer, "client does not read its answers; closing");
                conn.shared.stats.overloaded.fetch_add(1, Ordering::Relaxed);
                writer.abort();
                break;
            }
        };
        let start = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        if let Some(d) = &mut dec {
            d.apply(&mut buf[start..]);
        }
        if n == chunk.len() && chunk.len() < 64 * 1024 {
            chunk.resize(chunk.len() * 2, 0);
        }
        if buf.capacity() > 256 * 1024 && buf.len() < 16 * 1024 {
            buf.shrink_to(16 * 1024);
        }
    }
    conn.detach();
    drop(conn);
    let _ = writer.await;
}

async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut framer: Framer,
    mut enc: Option<Encryptor>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    backlog: Arc<AtomicUsize>,
    overloaded: Arc<tokio::sync::Notify>,
    write_stall: std::time::Duration,
) {
    let mut out = Vec::with_capacity(8192);
    while let Some(first) = rx.recv().await {
        out.clear();
        let mut close = false;
        let mut queued = 0;
        let mut next = Some(first);
        // Batch whatever is queued into one write.
        while let Some(msg) = next.take() {
            match msg {
                Out::Payload(p) => {
                    queued += p.len();
                    // Padded intermediate: 0 to 15 random bytes of padding, random in length
                    // too (other framings ignore it).
                    let pad = rand::Rng::gen_range(&mut rand::thread_rng(), 0..16);
                    framer.encode(&p, false, &random(pad), &mut out)
                }
                Out::QuickAck(token) => {
                    queued += 4;
                    framer.encode_quick_ack(token, &random(4), &mut out);
                }
                Out::Error(code) => {
                    queued += 4;
                    framer.encode_error(code, &mut out);
                    close = true;
                    break;
                }
            }
            if out.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if let Some(e) = &mut enc {
            e.apply(&mut out);
        }
        // A client that reads nothing for `write_stall` while answers wait is closed (the
        // reading side is told, and drops the connection).
        match tokio::time::timeout(write_stall, wr.write_all(&out)).await {
            Ok(Ok(())) if !close => {}
            Ok(_) => break,
            Err(_) => {
                overloaded.notify_one();
                break;
            }
        }
        backlog.fetch_sub(queued, Ordering::Relaxed);
    }
    let _ = wr.shutdown().await;
}

struct Conn {
    shared: Arc<Shared>,
    dc: i32,
    tx: ConnTx,
    handshake: Handshake,
    plain_ids: MsgIdGen,
    /// Sessions whose current connection is this one.
    sessions_here: Vec<Arc<Mutex<Slot>>>,
    /// `ping_delay_disconnect`: when the connection is closed unless another comes.
    disconnect_at: Option<tokio::time::Instant>,
}

impl Conn {
    /// Handles one payload; `false` closes the connection.
    fn handle_payload(&mut self, payload: &[u8], quick_ack: bool) -> bool {
        if payload.len() >= 8 && payload[..8] == [0; 8] {
            return self.handle_plain(payload);
        }
        self.handle_encrypted(payload, quick_ack)
    }

    fn fail(&self) -> bool {
        self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
        self.tx.send(Out::Error(ErrorCode::AuthKeyNotFound));
        false
    }

    fn handle_plain(&mut self, payload: &[u8]) -> bool {
        let Ok((_, body)) = plain::unwrap(payload) else {
            return self.fail();
        };
        let keys = &self.shared.keys;
        let skew = self
            .shared
            .faults
            .lock()
            .expect("not poisoned")
            .clock_skew_ms;
        let now = ((now_ms() + skew) / 1000) as i32;
        // A new req_pq / req_pq_multi restarts the handshake, whatever state it was in (as
        // Telegram does: a client may probe a connection before creating a key).
        let id = body
            .get(..4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4")));
        if matches!(id, Some(0xbe7e8ef1 | 0x60469778)) {
            self.handshake = Handshake::Idle;
        }
        let answer = match std::mem::replace(&mut self.handshake, Handshake::Idle) {
            Handshake::Step1(s1) => hs::step2(keys, s1, body, &random(272), now).map(|(a, s)| {
                self.handshake = Handshake::Step2(s);
                a
            }),
            Handshake::Step2(s2) => match hs::step3(keys, s2, body) {
                Ok((a, done)) => {
                    // The client named another DC (or a test DC): -444, as Telegram.
                    if done.dc.is_some_and(|d| d != self.dc && d != -self.dc) {
                        tracing::debug!(dc = self.dc, named = ?done.dc, "handshake for another DC");
                        self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                        self.tx.send(Out::Error(ErrorCode::InvalidDc));
                        return false;
                    }
                    // A key id already in use is never replaced by a new key.
                    if !self.register_key(done, now) {
                        return self.fail();
                    }
                    Ok(a)
                }
                Err(e) => Err(e),
            },
            Handshake::Idle => hs::step1(keys, body, &random(24)).map(|(a, s)| {
                self.handshake = Handshake::Step1(s);
                a
            }),
        };
        match answer {
            Ok(a) => {
                let msg_id = self.plain_ids.next(now_ms(), Parity::Response);
                self.tx.send(Out::Payload(plain::wrap(msg_id, &a)))
            }
            Err(e) => {
                tracing::debug!(error = %e, "handshake failed");
                self.fail()
            }
        }
    }

    /// Registers a new key; `false` (nothing changed) when its id is taken.
    fn register_key(&self, done: hs::ServerFinished, now: i32) -> bool {
        let mut rng = rand::thread_rng();
        let mut salts = vec![types::FutureSalt {
            valid_since: now - 1800,
            valid_until: now + 3600,
            salt: done.first_salt,
        }];
        for i in 1..64 {
            salts.push(types::FutureSalt {
                valid_since: now + 3600 * i,
                valid_until: now + 3600 * (i + 1),
                salt: rng.next_u64() as i64,
            });
        }
        let entry = AuthKeyEntry {
            key: done.auth_key.clone(),
            dc: self.dc,
            temp_expires_at: done.temp_expires_in.map(|e| now + e),
            bound_to: None,
            salts,
        };
        tracing::debug!(
            dc = self.dc,
            key_id = done.auth_key.id(),
            temp = done.temp_expires_in.is_some(),
            "auth key created"
        );
        if !insert_key(&self.shared, done.auth_key.id(), entry.clone()) {
            tracing::warn!(
                dc = self.dc,
                key_id = done.auth_key.id(),
                "a new auth key has the id of an existing one; refused"
            );
            return false;
        }
        if let Some(store) = self
            .shared
            .state
            .lock()
            .expect("not poisoned")
            .store
            .clone()
        {
            store.put_key(done.auth_key.id(), &entry);
        }
        true
    }

    fn handle_encrypted(&mut self, payload: &[u8], quick_ack: bool) -> bool {
        if payload.len() < 8 {
            return self.fail();
        }
        let key_id = i64::from_le_bytes(payload[..8].try_into().expect("8"));
        let Some(entry) = self
            .shared
            .auth_keys
            .read()
            .expect("not poisoned")
            .get(&key_id)
            .cloned()
        else {
            return self.fail();
        };
        if entry.dc != self.dc {
            return self.fail(); // keys are per DC
        }
        // The quick-ack token costs a hash: only when asked.
        let opened = if quick_ack {
            open_with_ack(&entry.key, Side::Client, payload).map(|(s, t)| (s, Some(t)))
        } else {
            open(&entry.key, Side::Client, payload).map(|s| (s, None))
        };
        let Ok((sealed, token)) = opened else {
            return self.fail();
        };
        let now = now_ms();
        let slot = self.slot(key_id, sealed.session_id, &entry);
        let mut guard = slot.lock().expect("not poisoned");
        if !guard.conn.as_ref().is_some_and(|c| c.same(&self.tx)) {
            // The session on a new connection: what it did not acknowledge goes again.
            if guard.detached_at.is_some() {
                guard.session.resume();
            }
            guard.conn = Some(self.tx.clone());
            guard.detached_at = None;
            self.sessions_here.push(slot.clone());
        }
        match guard.session.handle_sealed(sealed, now) {
            Ok(()) => {}
            Err(fleetgram_protocol::session::SessionError::Flood(why)) => {
                // Over a per-session limit: -429, as Telegram.
                drop(guard);
                tracing::debug!(dc = self.dc, %why, "session limit; answering -429");
                self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                self.tx.send(Out::Error(ErrorCode::Flood));
                return false;
            }
            Err(_) => {
                drop(guard);
                return self.fail();
            }
        }
        if let Some(token) = token {
            // Received, decrypted and accepted for processing: acknowledged before any
            // answer. (A payload whose messages were all refused gets none.)
            if guard.session.last_accepted() {
                self.tx.send(Out::QuickAck(token));
            }
        }
        let session_id = guard.session.session_id();
        let mut pushes = Vec::new();
        while let Some(ev) = guard.session.poll_event() {
            match ev {
                ServerEvent::Request { msg_id, body } => {
                    // A bound temporary key acts for its permanent key (binding may change per call).
                    let bound = self
                        .shared
                        .auth_keys
                        .read()
                        .expect("not poisoned")
                        .get(&key_id)
                        .and_then(|e| e.bound_to);
                    let ctx = Ctx {
                        shared: &self.shared,
                        dc: self.dc,
                        key_id,
                        perm_key_id: bound.unwrap_or(key_id),
                        session_id,
                        msg_id,
                        pushes: Default::default(),
                        delay: Default::default(),
                        without_updates: Default::default(),
                        deferred: Default::default(),
                        layer: std::cell::Cell::new(guard.layer),
                    };
                    // A bug in a handler answers this call with an internal error; the DC
                    // and the connection carry on (the state lock is un-poisoned).
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        rpc::handle(&ctx, msg_id, &body)
                    }))
                    .unwrap_or_else(|_| {
                        tracing::error!(
                            method = fleetgram_tl::name_of(body_id(&body)).unwrap_or("?"),
                            "a local DC handler panicked; answering INTERNAL_SERVER_ERROR"
                        );
                        self.shared.state.clear_poison();
                        Err(rpc::RpcErr::new(500, "INTERNAL_SERVER_ERROR"))
                    })
                    .map_err(|e| (e.code, e.message));
                    // What the answer reports must survive a crash of the DC.
                    self.shared.sync_store();
                    if ctx.without_updates.get() {
                        guard.without_updates = true;
                    }
                    guard.layer = ctx.layer.get();
                    if let Some(later) = ctx.deferred.take() {
                        // Answered when the bot answers (or the wait times out).
                        let slot = slot.clone();
                        tokio::spawn(async move {
                            let result = later.await.map_err(|e| (e.code, e.message));
                            let mut s = slot.lock().expect("not poisoned");
                            let now = now_ms();
                            s.session.send_result(msg_id, result, now);
                            flush(&mut s, now);
                        });
                        pushes.extend(ctx.pushes.into_inner());
                        continue;
                    }
                    match ctx.delay.get() {
                        None => guard.session.send_result(msg_id, result, now),
                        Some(d) => {
                            // An injected delay: answer later, without holding the connection up.
                            let slot = slot.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(d).await;
                                let mut s = slot.lock().expect("not poisoned");
                                let now = now_ms();
                                s.session.send_result(msg_id, result, now);
                                flush(&mut s, now);
                            });
                        }
                    }
                    pushes.extend(ctx.pushes.into_inner());
                }
                ServerEvent::DestroySession { msg_id, session_id } => {
                    let existed = self
                        .shared
                        .sessions
                        .lock()
                        .expect("not poisoned")
                        .remove(&(key_id, session_id))
                        .is_some();
                    let res = if existed {
                        fleetgram_tl::enums::DestroySessionRes::DestroySessionOk(
                            types::DestroySessionOk { session_id },
                        )
                    } else {
                        fleetgram_tl::enums::DestroySessionRes::DestroySessionNone(
                            types::DestroySessionNone { session_id },
                        )
                    };
                    guard.session.send_result(
                        msg_id,
                        Ok(fleetgram_tl::Serializable::to_bytes(&res)),
                        now,
                    );
                }
                ServerEvent::DisconnectAfter { delay_secs } => {
                    // `ping_delay_disconnect`: closed if nothing comes before the delay runs
                    // out (each new one moves it).
                    self.disconnect_at = (delay_secs > 0).then(|| {
                        tokio::time::Instant::now()
                            + std::time::Duration::from_secs(delay_secs as u64)
                    });
                }
            }
        }
        // Remember whom this session acts for, so updates reach it.
        let perm = self
            .shared
            .auth_keys
            .read()
            .expect("not poisoned")
            .get(&key_id)
            .and_then(|e| e.bound_to)
            .unwrap_or(key_id);
        let owner = self
            .shared
            .state
            .lock()
            .expect("not poisoned")
            .user_of(perm);
        if owner != guard.owner {
            guard.owner = owner;
            if let Some(u) = owner {
                self.shared
                    .user_sessions
                    .lock()
                    .expect("not poisoned")
                    .entry(u)
                    .or_default()
                    .insert((key_id, session_id));
            }
        }
        flush(&mut guard, now);
        drop(guard);
        deliver(&self.shared, (key_id, session_id), pushes, now);
        true
    }

    fn slot(&self, key_id: i64, session_id: i64, entry: &AuthKeyEntry) -> Arc<Mutex<Slot>> {
        let skew = self
            .shared
            .faults
            .lock()
            .expect("not poisoned")
            .clock_skew_ms;
        let mut sessions = self.shared.sessions.lock().expect("not poisoned");
        sessions
            .entry((key_id, session_id))
            .or_insert_with(|| {
                let mut session =
                    ServerSession::new(entry.key.clone(), session_id, entry.salts.clone());
                session.set_clock_skew_ms(skew);
                // A new session of a key speaks the layer the key last declared.
                let layer = self
                    .shared
                    .key_layers
                    .lock()
                    .expect("not poisoned")
                    .get(&entry.bound_to.unwrap_or(key_id))
                    .copied()
                    .unwrap_or(fleetgram_tl::LAYER);
                Arc::new(Mutex::new(Slot {
                    session,
                    conn: None,
                    owner: None,
                    without_updates: false,
                    layer,
                    detached_at: None,
                }))
            })
            .clone()
    }

    /// The connection closed: its sessions keep their state but have no connection now.
    fn detach(&mut self) {
        for slot in self.sessions_here.drain(..) {
            let mut s = slot.lock().expect("not poisoned");
            if s.conn.as_ref().is_some_and(|c| c.same(&self.tx)) {
                s.conn = None;
                s.detached_at = Some(tokio::time::Instant::now());
            }
        }
    }
}

/// Delivers updates to every session of their users, except the session `origin` that
/// caused them (it got its answer already). Called with no session locked.
pub(crate) fn deliver(shared: &Shared, origin: SessionKey, pushes: Vec<rpc::Push>, now: i64) {
    if pushes.is_empty() {
        return;
    }
    let mut users: Vec<i64> = pushes.iter().map(|p| p.user).collect();
    users.sort_unstable();
    users.dedup();
    let pushes = sequence_pushes(shared, &users, pushes);
    deliver_sequenced(shared, origin, &users, &pushes, now);
}

/// Adds a new key unless its id is taken (then nothing changes: an existing key, and the
/// login on it, is never replaced by a new handshake).
fn insert_key(shared: &Shared, id: i64, entry: AuthKeyEntry) -> bool {
    let mut keys = shared.auth_keys.write().expect("not poisoned");
    if keys.contains_key(&id) {
        return false;
    }
    keys.insert(id, entry);
    true
}

/// Sends one push to `user`'s sessions exactly as given (no seq stamped).
pub(crate) fn deliver_as_is(shared: &Shared, user: i64, push: rpc::Push, now: i64) {
    deliver_sequenced(shared, (0, 0), &[user], &[push], now);
}

/// Every account's `updates` containers take its next seq values (merged into one
/// `updatesCombined` when a call produced several), whether or not it is online.
fn sequence_pushes(shared: &Shared, users: &[i64], pushes: Vec<rpc::Push>) -> Vec<rpc::Push> {
    // Most calls push only short updates: nothing to sequence.
    if !pushes
        .iter()
        .any(|p| p.body.get(..4) == Some(&rpc::UPDATES_ID.to_le_bytes()[..]))
    {
        return pushes;
    }
    users
        .iter()
        .flat_map(|&user| {
            // A push that shares the answer's seq keeps it; the others take new ones.
            let (fixed, bodies): (Vec<&rpc::Push>, Vec<&rpc::Push>) = pushes
                .iter()
                .filter(|p| p.user == user)
                .partition(|p| p.seq.is_some());
            // (Calls answered together each have their own seq: one container per seq.)
            let mut by_seq: std::collections::BTreeMap<i32, Vec<Vec<u8>>> = Default::default();
            for p in fixed {
                by_seq
                    .entry(p.seq.unwrap_or(0))
                    .or_default()
                    .push(p.body.clone());
            }
            let fixed: Vec<Vec<u8>> = by_seq
                .into_iter()
                .map(|(seq, bodies)| rpc::with_seq(bodies, seq))
                .collect();
            let bodies = bodies.into_iter().map(|p| p.body.clone()).collect();
            fixed
                .into_iter()
                .chain(rpc::stamp_seq(shared, user, bodies))
                .map(move |body| rpc::Push {
                    user,
                    body,
                    seq: None,
                })
        })
        .collect()
}

/// Sends sequenced pushes to every connected session of their accounts (except `origin`).
fn deliver_sequenced(
    shared: &Shared,
    origin: SessionKey,
    users: &[i64],
    pushes: &[rpc::Push],
    now: i64,
) {
    for &user in users {
        // Pushes lost on purpose (fault injection): the state moved on, the client must notice.
        let (lose, dropped) = {
            let mut f = shared.faults.lock().expect("not poisoned");
            let n = pushes.iter().filter(|p| p.user == user).count();
            let lose = f.take_lost_pushes(user, n);
            // The share dropped (one draw per push, for every session of the account).
            let dropped: Vec<bool> = (0..n).map(|_| f.take_dropped(user)).collect();
            (lose, dropped)
        };
        let keys: Vec<SessionKey> = shared
            .user_sessions
            .lock()
            .expect("not poisoned")
            .get(&user)
            .map(|s| s.iter().copied().filter(|k| *k != origin).collect())
            .unwrap_or_default();
        for key in keys {
            let Some(slot) = shared
                .sessions
                .lock()
                .expect("not poisoned")
                .get(&key)
                .cloned()
            else {
                continue;
            };
            let mut s = slot.lock().expect("not poisoned");
            if s.owner != Some(user) || s.without_updates {
                continue; // logged out, or not wanting updates
            }
            if s.conn.is_none()
                && (s.detached_at.is_none_or(|t| t.elapsed() > HOLD_DETACHED)
                    || s.session.queued() >= HOLD_MAX)
            {
                continue; // offline for long: the client catches up with getDifference
            }
            for (p, _) in pushes
                .iter()
                .filter(|p| p.user == user)
                .zip(&dropped)
                .skip(lose)
                .filter(|(_, d)| !**d)
            {
                if s.layer < fleetgram_tl::LAYER {
                    if let Some(b) = crate::layers::push_out(s.layer, &p.body) {
                        s.session.send_update(b);
                    }
                } else {
                    s.session.send_update(p.body.clone());
                }
            }
            flush(&mut s, now);
        }
    }
}

/// Sends everything a session has queued on its current connection.
pub(crate) fn flush(slot: &mut Slot, now: i64) {
    let Some(conn) = slot.conn.clone() else {
        return;
    };
    while let Some(p) = slot.session.poll_transmit(now, &random(32)) {
        if !conn.send(Out::Payload(p)) {
            slot.conn = None;
            break;
        }
    }
}

/// The constructor id a request body starts with.
fn body_id(body: &[u8]) -> u32 {
    body.get(..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetgram_protocol::crypto::AuthKey;

    #[tokio::test]
    async fn a_new_key_never_replaces_one_with_the_same_id() {
        let dc = crate::LocalDc::start(crate::Config {
            dcs: 1,
            ..Default::default()
        })
        .await
        .unwrap();
        let entry = |byte: u8| AuthKeyEntry {
            key: AuthKey::from_bytes([byte; 256]),
            dc: 1,
            temp_expires_at: None,
            bound_to: None,
            salts: Vec::new(),
        };
        let shared = dc.shared();
        assert!(insert_key(shared, 42, entry(1)));
        assert!(!insert_key(shared, 42, entry(2)));
        let kept = shared.auth_keys.read().unwrap()[&42].key.clone();
        assert_eq!(kept.id(), AuthKey::from_bytes([1; 256]).id());
        dc.shutdown().await;
    }
}
