//! One connection to one DC: a tokio task that owns the socket and a sans-IO
//! [`Session`], creates the auth key when there is none, keeps the connection alive with
//! `ping_delay_disconnect`, and reconnects with backoff and jitter when it dies.
//!
//! In-flight calls survive a reconnect: the session is kept (same key, same session id) and
//! its unanswered requests are resent with their original msg_ids, so the server answers
//! each exactly once (it deduplicates by msg_id) and nothing is lost.

use crate::state::DcState;
use fleetgram_protocol::crypto::rsa::RsaPublicKey;
use fleetgram_protocol::crypto::AuthKey;
use fleetgram_protocol::handshake::{self, Outcome, Params};
use fleetgram_protocol::session::client::{Event, RequestId, Session};
use fleetgram_protocol::session::plain;
use fleetgram_protocol::transport::faketls::{self, RecordReader, RecordWriter};
use fleetgram_protocol::transport::mtproxy::Secret;
use fleetgram_protocol::transport::obfuscated::{client_header, Decryptor, Encryptor};
use fleetgram_protocol::transport::{ErrorCode, Frame, Framer, Kind, Role};
use fleetgram_tl::{functions, Deserializable, Serializable};
use rand::{Rng, RngCore};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// How bytes are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    /// Abridged, intermediate, padded intermediate or full.
    pub kind: Kind,
    /// Whether to wrap it in obfuscated2.
    pub obfuscated: bool,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            kind: Kind::Abridged,
            obfuscated: true,
        }
    }
}

/// Why a call sent to a connection failed.
#[derive(Debug)]
pub(crate) enum CallFailure {
    Rpc(fleetgram_protocol::session::RpcError),
    Io(String),
}

/// A SOCKS5 proxy (RFC 1928), optionally with username/password authentication (RFC 1929).
/// Its `Debug` shows the user, never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Socks5 {
    /// The proxy's address (`host:port`).
    pub addr: String,
    /// Username and password, if the proxy requires them.
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for Socks5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socks5")
            .field("addr", &self.addr)
            .field(
                "auth",
                &self.auth.as_ref().map(|(u, _)| format!("{u}:<redacted>")),
            )
            .finish()
    }
}

/// How to reach the DCs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxy {
    /// Through a SOCKS5 proxy.
    Socks5(Socks5),
    /// Through an MTProxy: `addr` (`host:port`) and its secret (plain, `dd` or `ee`; see
    /// [`Secret::parse`]). The framing is the one the secret implies.
    MtProxy {
        /// The proxy's address.
        addr: String,
        /// The secret.
        secret: Secret,
    },
}

pub(crate) type Reply = oneshot::Sender<Result<Vec<u8>, CallFailure>>;

/// A request to the connection task.
pub(crate) enum Cmd {
    Invoke(Vec<u8>, Reply),
}

/// What the connection reports to its client.
#[derive(Debug)]
pub(crate) enum Notice {
    /// A server-initiated object (boxed `Updates` and friends).
    Update(Vec<u8>),
    /// The server started a new session: updates may have been missed.
    NewSession,
    /// The DC state changed (new key, salt): persist it.
    State(DcState),
    /// The server rejected the auth key (transport error -404): it was dropped.
    KeyLost,
}

/// Everything a connection task needs.
pub(crate) struct ConnParams {
    pub dc: i32,
    pub addr: SocketAddr,
    /// `None`: race plain abridged against obfuscated abridged and keep the winner.
    pub transport: Option<Transport>,
    pub proxy: Option<Proxy>,
    pub rsa_keys: Arc<Vec<RsaPublicKey>>,
    pub state: DcState,
    /// The boxed `invokeWithLayer(initConnection(help.getConfig))` sent first on every
    /// connection.
    pub init: Vec<u8>,
    pub ping_interval: Duration,
    pub connect_timeout: Duration,
    /// Updates (bounded: backpressure).
    pub notices: mpsc::Sender<Notice>,
    /// State changes to persist.
    pub control: mpsc::UnboundedSender<Notice>,
    /// Most updates held while the consumer is slow before the socket is no longer read.
    pub update_backlog: usize,
    /// Use temporary keys of this lifetime (perfect forward secrecy).
    pub pfs: Option<Duration>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

/// The socket side of a connection.
struct Wire {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    framer: Framer,
    enc: Option<Encryptor>,
    dec: Option<Decryptor>,
    buf: Vec<u8>,
    /// Fake-TLS records around everything (MTProxy `ee` secrets).
    tls: Option<(RecordWriter, RecordReader)>,
}

#[derive(Debug)]
enum WireError {
    Closed(String),
    Transport(ErrorCode),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Closed(r) => f.write_str(r),
            WireError::Transport(c) => write!(f, "transport error {}", c.code()),
        }
    }
}

impl Wire {
    async fn connect(
        dc: i32,
        addr: SocketAddr,
        t: Transport,
        proxy: Option<&Proxy>,
    ) -> std::io::Result<Wire> {
        let stream = match proxy {
            None => TcpStream::connect(addr).await?,
            Some(Proxy::MtProxy { addr, secret }) => {
                return Self::connect_mtproxy(dc, addr, secret).await
            }
            Some(Proxy::Socks5(p)) => {
                let via = |e: tokio_socks::Error| {
                    std::io::Error::other(format!("SOCKS5 proxy {}: {e}", p.addr))
                };
                match &p.auth {
                    None => tokio_socks::tcp::Socks5Stream::connect(p.addr.as_str(), addr)
                        .await
                        .map_err(via)?
                        .into_inner(),
                    Some((user, pass)) => tokio_socks::tcp::Socks5Stream::connect_with_password(
                        p.addr.as_str(),
                        addr,
                        user,
                        pass,
                    )
                    .await
                    .map_err(via)?
                    .into_inner(),
                }
            }
        };
        stream.set_nodelay(true)?;
        let (read, mut write) = stream.into_split();
        let (enc, dec) = if t.obfuscated {
            let (header, obf) = client_header(t.kind, None, None, &mut |b: &mut [u8]| {
                rand::thread_rng().fill_bytes(b)
            });
            write.write_all(&header).await?;
            let (e, d) = obf.split();
            (Some(e), Some(d))
        } else {
            write.write_all(t.kind.plain_prefix()).await?;
            (None, None)
        };
        Ok(Wire {
            read,
            write,
            framer: Framer::new(t.kind, Role::Client),
            enc,
            dec,
            buf: Vec::new(),
            tls: None,
        })
    }

    /// Connects through an MTProxy: obfuscated2 keyed with the secret and naming the DC; for
    /// `ee` secrets, inside a fake-TLS session with the secret's domain.
    async fn connect_mtproxy(dc: i32, proxy: &str, secret: &Secret) -> std::io::Result<Wire> {
        let err = |m: String| std::io::Error::other(format!("MTProxy {proxy}: {m}"));
        let stream = TcpStream::connect(proxy).await?;
        stream.set_nodelay(true)?;
        let (mut read, mut write) = stream.into_split();
        let kind = secret.framing();
        let dc16 = i16::try_from(dc).map_err(|_| err(format!("DC {dc} out of range")))?;
        let (header, obf) = client_header(kind, Some(dc16), Some(secret.key()), &mut |b| {
            rand::thread_rng().fill_bytes(b)
        });
        let mut tls = None;
        if let Secret::FakeTls { key, domain } = secret {
            let mut r = faketls::HelloRandom {
                session_id: [0; 32],
                key_share: [0; 32],
                grease: [0; 7],
            };
            rand::thread_rng().fill_bytes(&mut r.session_id);
            rand::thread_rng().fill_bytes(&mut r.key_share);
            rand::thread_rng().fill_bytes(&mut r.grease);
            let hello = faketls::client_hello(key, domain, (now_ms() / 1000) as u32, &r)
                .map_err(|e| err(e.to_string()))?;
            write.write_all(&hello).await?;
            let client_random: [u8; 32] = hello[11..43].try_into().expect("32");
            let mut answer = Vec::new();
            let mut chunk = [0u8; 4096];
            let used = loop {
                match faketls::check_answer(key, &client_random, &answer) {
                    Ok(Some(n)) => break n,
                    Ok(None) => {}
                    Err(e) => return Err(err(format!("fake-TLS answer: {e}"))),
                }
                let n = read.read(&mut chunk).await?;
                if n == 0 {
                    return Err(err("closed during the fake-TLS handshake".into()));
                }
                answer.extend_from_slice(&chunk[..n]);
            };
            let mut reader = RecordReader::new();
            let mut leftover = Vec::new();
            reader
                .read(&answer[used..], &mut leftover)
                .map_err(|e| err(e.to_string()))?;
            let mut writer = RecordWriter::client();
            let mut out = Vec::new();
            writer.write(&header, &mut out);
            write.write_all(&out).await?;
            let (e, mut d) = obf.split();
            d.apply(&mut leftover);
            tls = Some((writer, reader));
            return Ok(Wire {
                read,
                write,
                framer: Framer::new(kind, Role::Client),
                enc: Some(e),
                dec: Some(d),
                buf: leftover,
                tls,
            });
        }
        write.write_all(&header).await?;
        let (e, d) = obf.split();
        Ok(Wire {
            read,
            write,
            framer: Framer::new(kind, Role::Client),
            enc: Some(e),
            dec: Some(d),
            buf: Vec::new(),
            tls,
        })
    }

    async fn send(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(payload.len() + 8);
        let pad = if self.framer.kind() == Kind::PaddedIntermediate {
            random(rand::thread_rng().gen_range(0..16))
        } else {
            Vec::new()
        };
        self.framer.encode(payload, false, &pad, &mut out);
        if let Some(e) = &mut self.enc {
            e.apply(&mut out);
        }
        if let Some((w, _)) = &mut self.tls {
            let mut records = Vec::with_capacity(out.len() + 16);
            w.write(&out, &mut records);
            out = records;
        }
        self.write.write_all(&out).await
    }

    /// The next complete frame already buffered.
    fn next_buffered(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        loop {
            let d = match self.framer.decode(&self.buf) {
                Ok(Some(d)) => d,
                Ok(None) => return Ok(None),
                Err(e) => return Err(WireError::Closed(format!("corrupt frame: {e}"))),
            };
            let out = match d.frame {
                Frame::Payload { range, .. } => Some(self.buf[range].to_vec()),
                Frame::Error(code) => return Err(WireError::Transport(code)),
                Frame::QuickAck(_) => None,
            };
            self.buf.drain(..d.consumed);
            if out.is_some() {
                return Ok(out);
            }
        }
    }

    /// Reads more bytes into the buffer (no per-read allocation; an idle connection keeps
    /// only a small buffer).
    async fn fill(&mut self) -> Result<(), WireError> {
        if let Some((_, reader)) = &mut self.tls {
            let mut chunk = vec![0u8; 16 * 1024];
            let n = self
                .read
                .read(&mut chunk)
                .await
                .map_err(|e| WireError::Closed(e.to_string()))?;
            if n == 0 {
                return Err(WireError::Closed("closed by the proxy".into()));
            }
            let mut plain = Vec::new();
            reader
                .read(&chunk[..n], &mut plain)
                .map_err(|e| WireError::Closed(format!("fake-TLS: {e}")))?;
            if let Some(d) = &mut self.dec {
                d.apply(&mut plain);
            }
            self.buf.extend_from_slice(&plain);
            return Ok(());
        }
        if self.buf.is_empty() && self.buf.capacity() > 256 * 1024 {
            self.buf = Vec::new();
        }
        self.buf.reserve(8 * 1024);
        let start = self.buf.len();
        let n = self
            .read
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| WireError::Closed(e.to_string()))?;
        if n == 0 {
            return Err(WireError::Closed("closed by the server".into()));
        }
        if let Some(d) = &mut self.dec {
            d.apply(&mut self.buf[start..]);
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<Vec<u8>, WireError> {
        loop {
            if let Some(p) = self.next_buffered()? {
                return Ok(p);
            }
            self.fill().await?;
        }
    }
}

/// Creates a permanent auth key over a fresh connection.
async fn create_key(
    wire: &mut Wire,
    dc: i32,
    keys: &[RsaPublicKey],
    temp_expires_in: Option<i32>,
) -> Result<handshake::Finished, String> {
    // Plaintext msg_ids follow the same rule as the others: time with its fraction, rising.
    let mut ids = fleetgram_protocol::session::msgid::MsgIdGen::new();
    let mut hop = async |wire: &mut Wire, body: &[u8]| -> Result<Vec<u8>, String> {
        let msg_id = ids.next(now_ms(), fleetgram_protocol::session::msgid::Parity::Client);
        wire.send(&plain::wrap(msg_id, body))
            .await
            .map_err(|e| e.to_string())?;
        let reply = wire.recv().await.map_err(|e| e.to_string())?;
        plain::unwrap(&reply)
            .map(|(_, b)| b.to_vec())
            .map_err(|e| e.to_string())
    };
    let (m1, s1) = handshake::step1(&random(16).try_into().expect("16"));
    let a1 = hop(wire, &m1).await?;
    let (m2, s2) = handshake::step2(
        s1,
        &a1,
        keys,
        Params {
            dc: Some(dc),
            temp_expires_in,
        },
        &random(256),
    )
    .map_err(|e| e.to_string())?;
    let a2 = hop(wire, &m2).await?;
    let (mut m3, mut s3) = handshake::step3(s2, &a2, &random(272), (now_ms() / 1000) as i32)
        .map_err(|e| e.to_string())?;
    for _ in 0..5 {
        let a3 = hop(wire, &m3).await?;
        match handshake::finish(s3, &a3).map_err(|e| e.to_string())? {
            Outcome::Done(done) => return Ok(done),
            Outcome::Retry(st) => {
                (m3, s3) = handshake::retry(st, &random(272)).map_err(|e| e.to_string())?;
            }
        }
    }
    Err("the server kept answering dh_gen_retry".into())
}

/// Opens `t` and checks the server answers a plain `req_pq_multi` over it.
async fn probe(
    dc: i32,
    addr: SocketAddr,
    t: Transport,
    proxy: Option<&Proxy>,
) -> Result<(Wire, Transport), String> {
    let mut w = Wire::connect(dc, addr, t, proxy)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let (m1, _) = handshake::step1(&random(16).try_into().expect("16"));
    let msg_id = fleetgram_protocol::session::msgid::MsgIdGen::new()
        .next(now_ms(), fleetgram_protocol::session::msgid::Parity::Client);
    w.send(&plain::wrap(msg_id, &m1))
        .await
        .map_err(|e| e.to_string())?;
    let reply = w.recv().await.map_err(|e| e.to_string())?;
    let (_, body) = plain::unwrap(&reply).map_err(|e| e.to_string())?;
    fleetgram_tl::types::ResPQ::from_bytes(body).map_err(|e| format!("{t:?}: not a resPQ: {e}"))?;
    Ok((w, t))
}

/// Races plain abridged against obfuscated2 abridged; the first that gets an answer wins
/// (where one is blocked or mangled on the path, the other is used).
async fn race(
    dc: i32,
    addr: SocketAddr,
    proxy: Option<&Proxy>,
) -> Result<(Wire, Transport), String> {
    let plain = probe(
        dc,
        addr,
        Transport {
            kind: Kind::Abridged,
            obfuscated: false,
        },
        proxy,
    );
    let obf = probe(dc, addr, Transport::default(), proxy);
    tokio::pin!(plain, obf);
    tokio::select! {
        r = &mut plain => match r {
            Ok(w) => Ok(w),
            Err(e1) => obf.await.map_err(|e2| format!("{e1}; {e2}")),
        },
        r = &mut obf => match r {
            Ok(w) => Ok(w),
            Err(e1) => plain.await.map_err(|e2| format!("{e1}; {e2}")),
        },
    }
}

/// The handle the client keeps.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    pub tx: mpsc::UnboundedSender<Cmd>,
}

/// Starts the connection task.
pub(crate) fn spawn(params: ConnParams) -> ConnHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(params, rx));
    ConnHandle { tx }
}

enum Exit {
    /// Every handle was dropped.
    Closed,
    /// The connection died; reconnect.
    Lost(String),
    /// The server answered -404 (it does not know our key, or a field was malformed);
    /// `heard`: something was received and decrypted on this connection first.
    KeyLost { heard: bool },
    /// -429: transport flood (too many connections, or a session limit).
    Flood,
    /// -444: the DC says it is not the right one (for this key, or behind this proxy).
    WrongDc,
}

/// What a transport error code means for the connection.
fn transport_exit(code: i32, heard: bool) -> Option<Exit> {
    match code {
        -404 => Some(Exit::KeyLost { heard }),
        -429 => Some(Exit::Flood),
        -444 => Some(Exit::WrongDc),
        _ => None,
    }
}

struct Task {
    p: ConnParams,
    rx: mpsc::UnboundedReceiver<Cmd>,
    session: Option<Session>,
    waiting: HashMap<RequestId, Reply>,
    updates: VecDeque<Notice>,
    /// When the temporary (PFS) key must be renewed.
    temp_expires: Option<Instant>,
}

async fn run(p: ConnParams, rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut t = Task {
        p,
        rx,
        session: None,
        waiting: HashMap::new(),
        updates: VecDeque::new(),
        temp_expires: None,
    };
    let mut failures = 0u32;
    let mut reconnected = false;
    // -404s in a row without anything heard in between, and -429s in a row.
    let (mut key_strikes, mut floods) = (0u32, 0u32);
    loop {
        let result = tokio::time::timeout(t.p.connect_timeout, t.open()).await;
        let wire = match result {
            Ok(Ok(w)) => w,
            other => {
                if t.rx.is_closed() && t.waiting.is_empty() {
                    return;
                }
                let reason = match other {
                    Ok(Err(e)) => e,
                    _ => "connect timed out".into(),
                };
                if reason.contains("transport error -444") {
                    // The DC says it is the wrong one: retrying cannot help.
                    t.wrong_dc(&reason);
                    return;
                }
                failures += 1;
                if reason.contains("transport error -429") {
                    failures = failures.max(4); // a flood signal: no fast retries
                }
                tracing::warn!(dc = t.p.dc, %reason, failures, "connection failed");
                // New calls fail fast while the DC is unreachable; in-flight ones stay queued.
                while let Ok(Cmd::Invoke(_, reply)) = t.rx.try_recv() {
                    let _ = reply.send(Err(CallFailure::Io(reason.clone())));
                }
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        failures = 0;
        if reconnected {
            crate::metrics::global()
                .reconnects
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Pushes sent while the connection was down are gone: the update stream
            // catches up by fetching the differences.
            t.updates.push_back(Notice::NewSession);
        }
        reconnected = true;
        match t.drive(wire).await {
            Exit::Closed => return,
            Exit::Lost(reason) => {
                floods = 0;
                tracing::info!(dc = t.p.dc, %reason, "connection lost, reconnecting");
                tokio::time::sleep(backoff(1)).await;
            }
            Exit::Flood => {
                // -429 is a flood signal: back off, more each time, never in a tight loop.
                floods += 1;
                let wait = backoff(floods + 3);
                tracing::warn!(
                    dc = t.p.dc,
                    floods,
                    ?wait,
                    "transport flood (-429); backing off"
                );
                tokio::time::sleep(wait).await;
            }
            Exit::WrongDc => {
                t.wrong_dc("transport error -444: the server says this is not the right DC");
                return;
            }
            Exit::KeyLost { heard }
                if t.p.pfs.is_none() && {
                    // One -404 is not proof that the DC forgot the key (it also answers -404 to
                    // a malformed packet): the key is dropped only when a fresh connection with a
                    // fresh session gets -404 again before anything else.
                    if heard {
                        key_strikes = 0;
                    }
                    key_strikes += 1;
                    key_strikes < 2
                } =>
            {
                tracing::warn!(
                    dc = t.p.dc,
                    "the server answered -404; checking with a fresh connection and session before forgetting the key"
                );
                t.session = None;
                for (_, reply) in t.waiting.drain() {
                    let _ = reply.send(Err(CallFailure::Io(
                        "the server answered -404 (call not executed); reconnecting".into(),
                    )));
                }
                tokio::time::sleep(backoff(1)).await;
            }
            Exit::KeyLost { .. } if t.p.pfs.is_some() => {
                // The server forgot the temporary key: make a new one; the permanent key
                // and the login stay. Unanswered calls are failed (they were sent under a
                // key the server no longer has, so they did not run).
                tracing::info!(
                    dc = t.p.dc,
                    "temporary key rejected (-404); creating a new one"
                );
                t.session = None;
                t.temp_expires = None;
                for (_, reply) in t.waiting.drain() {
                    let _ = reply.send(Err(CallFailure::Io(
                        "the temporary key was rejected; call not executed".into(),
                    )));
                }
            }
            Exit::KeyLost { .. } => {
                tracing::error!(
                    dc = t.p.dc,
                    "auth key rejected by the server (-404) again on a fresh connection and session: the DC no longer knows it"
                );
                key_strikes = 0;
                t.session = None;
                t.p.state.auth_key = None;
                t.p.state.authorized = false;
                let _ = t.p.control.send(Notice::KeyLost);
                for (_, reply) in t.waiting.drain() {
                    let _ = reply.send(Err(CallFailure::Rpc(
                        fleetgram_protocol::session::RpcError::new(401, "AUTH_KEY_UNREGISTERED"),
                    )));
                }
            }
        }
    }
}

impl Task {
    /// -444: fails the calls waiting and the ones to come; the connection task ends.
    fn wrong_dc(&mut self, reason: &str) {
        tracing::error!(dc = self.p.dc, %reason, "stopping this DC's connection");
        let err = || {
            CallFailure::Rpc(fleetgram_protocol::session::RpcError::new(
                -444,
                "TRANSPORT_DC_INVALID",
            ))
        };
        for (_, reply) in self.waiting.drain() {
            let _ = reply.send(Err(err()));
        }
        self.rx.close();
        while let Ok(Cmd::Invoke(_, reply)) = self.rx.try_recv() {
            let _ = reply.send(Err(err()));
        }
    }
}

/// Reconnect delay: 100 ms doubling to 10 s, with up to 50% jitter.
fn backoff(failures: u32) -> Duration {
    let base = 100u64 << failures.min(7);
    let ms = base.min(10_000);
    Duration::from_millis(ms + rand::thread_rng().gen_range(0..=ms / 2))
}

impl Task {
    /// Connects, creating the key if needed, and prepares the session.
    async fn open(&mut self) -> Result<Wire, String> {
        let mut wire = match self.p.transport {
            Some(t) => Wire::connect(self.p.dc, self.p.addr, t, self.p.proxy.as_ref())
                .await
                .map_err(|e| format!("connect to {}: {e}", self.p.addr))?,
            // An MTProxy fixes the framing: no race.
            None if matches!(self.p.proxy, Some(Proxy::MtProxy { .. })) => Wire::connect(
                self.p.dc,
                self.p.addr,
                Transport::default(),
                self.p.proxy.as_ref(),
            )
            .await
            .map_err(|e| format!("connect to DC {} via proxy: {e}", self.p.dc))?,
            None => {
                let (w, t) = race(self.p.dc, self.p.addr, self.p.proxy.as_ref()).await?;
                tracing::debug!(dc = self.p.dc, transport = ?t, "transport race won");
                // Keep the winner for reconnects.
                self.p.transport = Some(t);
                w
            }
        };
        if self.session.is_none() {
            let key = match &self.p.state.auth_key {
                Some(k) => {
                    let bytes: [u8; 256] = k
                        .as_slice()
                        .try_into()
                        .map_err(|_| "stored auth key is not 256 bytes".to_string())?;
                    AuthKey::from_bytes(bytes)
                }
                None => {
                    let done = create_key(&mut wire, self.p.dc, &self.p.rsa_keys, None).await?;
                    self.p.state.auth_key = Some(done.auth_key.to_bytes().to_vec());
                    self.p.state.salt = done.first_salt;
                    self.p.state.time_offset = done.time_offset;
                    self.p.state.authorized = false;
                    let _ = self.p.control.send(Notice::State(self.p.state.clone()));
                    done.auth_key
                }
            };
            match self.p.pfs {
                None => {
                    self.session = Some(Session::new(
                        key,
                        rand::thread_rng().next_u64() as i64,
                        self.p.state.salt,
                        self.p.state.time_offset,
                    ));
                }
                Some(lifetime) => self.start_temp_session(&mut wire, key, lifetime).await?,
            }
        } else if let Some(s) = &mut self.session {
            s.resend_all();
        }
        let s = self.session.as_mut().expect("set above");
        // initConnection first on every connection; its answer (the config) is not needed.
        s.enqueue(self.p.init.clone());
        Ok(wire)
    }

    /// Perfect forward secrecy: creates a temporary key on this connection, binds it to the
    /// permanent one (`auth.bindTempAuthKey`, waited for before anything else is sent) and
    /// makes it the session's key. The permanent key never encrypts traffic.
    async fn start_temp_session(
        &mut self,
        wire: &mut Wire,
        perm: AuthKey,
        lifetime: Duration,
    ) -> Result<(), String> {
        let secs = lifetime.as_secs().clamp(60, i32::MAX as u64) as i32;
        let done = create_key(wire, self.p.dc, &self.p.rsa_keys, Some(secs)).await?;
        let expires_at = (now_ms() / 1000) as i32 + done.time_offset + secs;
        let mut session = Session::new(
            done.auth_key.clone(),
            rand::thread_rng().next_u64() as i64,
            done.first_salt,
            done.time_offset,
        );
        let session_id = session.session_id();
        let mut rnd = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut rnd);
        let nonce = rand::thread_rng().next_u64() as i64;
        let temp = done.auth_key.clone();
        let id = session.enqueue_with_msg_id(now_ms(), |msg_id| {
            fleetgram_protocol::handshake::pfs::bind_request(
                &perm, &temp, session_id, msg_id, expires_at, nonce, &rnd,
            )
            .to_bytes()
        });
        loop {
            while let Some(p) = session.poll_transmit(now_ms(), &random(32)) {
                wire.send(&p).await.map_err(|e| e.to_string())?;
            }
            while let Some(ev) = session.poll_event() {
                match ev {
                    Event::Result { id: got, result } if got == id => {
                        return match result {
                            Ok(b) if b == true.to_bytes() => {
                                // Renew a minute before the server forgets the key.
                                self.temp_expires = Some(
                                    Instant::now()
                                        + Duration::from_secs(secs.saturating_sub(60) as u64),
                                );
                                self.session = Some(session);
                                Ok(())
                            }
                            Ok(_) => Err("auth.bindTempAuthKey answered false".into()),
                            Err(e) => Err(format!("auth.bindTempAuthKey: {} {}", e.code, e.name)),
                        };
                    }
                    Event::Result { .. } => {}
                    Event::Update(b) => self.updates.push_back(Notice::Update(b)),
                    Event::NewSession { .. } => self.updates.push_back(Notice::NewSession),
                }
            }
            let payload = wire.recv().await.map_err(|e| e.to_string())?;
            session
                .handle_incoming(&payload, now_ms())
                .map_err(|e| e.to_string())?;
        }
    }

    fn flush_events(&mut self) {
        let s = self.session.as_mut().expect("open");
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Result { id, result } => {
                    if let Some(reply) = self.waiting.remove(&id) {
                        let _ = reply.send(result.map_err(CallFailure::Rpc));
                    }
                }
                Event::Update(b) => self.updates.push_back(Notice::Update(b)),
                Event::NewSession { .. } => self.updates.push_back(Notice::NewSession),
            }
        }
    }

    async fn drive(&mut self, mut wire: Wire) -> Exit {
        let mut ping = tokio::time::interval(self.p.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_rx = Instant::now();
        let mut last_salt = self.p.state.salt;
        let mut heard = false;
        loop {
            {
                let s = self.session.as_mut().expect("open");
                while let Some(p) = s.poll_transmit(now_ms(), &random(32)) {
                    if let Err(e) = wire.send(&p).await {
                        return Exit::Lost(format!("write: {e}"));
                    }
                }
                if s.salt() != last_salt {
                    last_salt = s.salt();
                    self.p.state.salt = last_salt;
                    self.p.state.time_offset = (s.time_offset_ms() / 1000) as i32;
                    let _ = self.p.control.send(Notice::State(self.p.state.clone()));
                }
            }
            self.flush_events();
            let throttled = self.updates.len() >= self.p.update_backlog;
            let notices = self.p.notices.clone();
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    None => return Exit::Closed,
                    Some(Cmd::Invoke(body, reply)) => {
                        let id = self.session.as_mut().expect("open").enqueue(body);
                        self.waiting.insert(id, reply);
                    }
                },
                permit = notices.reserve(), if !self.updates.is_empty() => {
                    let Ok(permit) = permit else { return Exit::Closed };
                    permit.send(self.updates.pop_front().expect("non-empty"));
                }
                r = wire.fill(), if !throttled => {
                    if let Err(e) = r {
                        return Exit::Lost(format!("read: {e}"));
                    }
                    last_rx = Instant::now();
                    loop {
                        match wire.next_buffered() {
                            Ok(Some(payload)) => {
                                let s = self.session.as_mut().expect("open");
                                match s.handle_incoming(&payload, now_ms()) {
                                    Ok(()) => heard = true,
                                    Err(e) => tracing::warn!(dc = self.p.dc, error = %e, "dropping undecodable message"),
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                let exit = match &e {
                                    WireError::Transport(code) => transport_exit(code.code(), heard),
                                    WireError::Closed(_) => None,
                                };
                                return exit.unwrap_or_else(|| Exit::Lost(e.to_string()));
                            }
                        }
                    }
                }
                _ = ping.tick() => {
                    if !throttled && last_rx.elapsed() > self.p.ping_interval * 2 {
                        return Exit::Lost("no answer to ping".into());
                    }
                    let disconnect = (self.p.ping_interval.as_secs() * 2 + 15) as i32;
                    let body = functions::PingDelayDisconnect {
                        ping_id: rand::thread_rng().next_u64() as i64,
                        disconnect_delay: disconnect,
                    }
                    .to_bytes();
                    self.session.as_mut().expect("open").enqueue(body);
                }
                _ = tick.tick() => {
                    self.session.as_mut().expect("open").handle_timeout(now_ms());
                    // Renew the temporary key when due, between calls.
                    if self.temp_expires.is_some_and(|t| Instant::now() >= t) && self.waiting.is_empty() {
                        self.session = None;
                        self.temp_expires = None;
                        return Exit::Lost("renewing the temporary key".into());
                    }
                }
            }
        }
    }
}
