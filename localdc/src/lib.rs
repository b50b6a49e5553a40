//! The local DC: a Telegram-compatible MTProto server, the server half of
//! `fleetgram-protocol` on tokio.
//!
//! It is both the default target of the example fleet and the peer of every integration test,
//! so it behaves like Telegram where a client can tell: the same framings (detected per
//! connection), the same handshake and service messages, the same errors and update shapes.
//!
//! ```text
//! TcpListener (one per DC) -> conn::serve: detect framing -> obfuscated2? -> frames
//!     plain message     -> handshake (server steps) -> auth key registered
//!     encrypted message -> ServerSession (per auth key and session id) -> rpc::handle
//!                                                 -> results and updates back to the session
//! ```
//!
//! Start it with [`LocalDc::start`]; [`LocalDc::info`] tells clients where it listens and which
//! RSA key it uses; [`LocalDc::control`] creates users and reads login codes.

mod clock;
mod conn;
pub mod control;
mod errors;
mod faults;
mod http;
mod keys;
mod layers;
mod rpc;
mod state;
mod store;

pub use control::Control;
pub use faults::FloodLimit;
pub use keys::{load_or_generate_key, KeyError};
pub use store::StoreError;

use fleetgram_protocol::crypto::rsa::RsaPrivateKey;
use fleetgram_protocol::handshake::server::ServerKeys;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How to run the local DC.
#[derive(Debug, Clone)]
pub struct Config {
    /// How many DCs (ids 1..=dcs).
    pub dcs: u8,
    /// Address to listen on (loopback by default).
    pub host: IpAddr,
    /// Port of DC 1; DC n listens on `base_port + n - 1`. 0 picks free ports.
    pub base_port: u16,
    /// Keep the RSA key (and, later, all state) here; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Every phone's login code; `None` draws random codes (logged, and readable through
    /// [`Control::login_code`]).
    pub login_code: Option<String>,
    /// Use this RSA key instead of loading or generating one.
    pub rsa_key: Option<RsaPrivateKey>,
    /// Serve the JSON control API here (`POST /control`); port 0 picks a free one.
    pub control_addr: Option<SocketAddr>,
    /// How many updates each account's log keeps for `updates.getDifference`; a client
    /// further behind gets `updates.differenceTooLong`.
    pub update_log_limit: usize,
    /// How long a user waits for a bot to answer a callback query (`BOT_RESPONSE_TIMEOUT`).
    pub bot_timeout: std::time::Duration,
    /// How long a file reference stays valid (`FILE_REFERENCE_EXPIRED` after).
    pub file_reference_ttl: std::time::Duration,
    /// Channels with more members than this push new posts only to their admins; the
    /// others poll `updates.getChannelDifference` (as Telegram does with big channels).
    pub channel_push_limit: usize,
    /// The `timeout` that `updates.getChannelDifference` answers carry (when to poll again),
    /// at least a second; Telegram's is commonly 30 s.
    pub channel_poll_timeout: std::time::Duration,
    /// How long a connection may take over each step before it is closed.
    pub conn_limits: ConnLimits,
}

/// Time limits of a connection, for every state it can be in: no client holds a
/// connection (and its buffers) by sending nothing, one byte at a time, or never reading.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// From accept to a recognized transport header.
    pub hello: std::time::Duration,
    /// Without a complete frame from the client.
    pub idle: std::time::Duration,
    /// To receive the rest of a frame once it has begun.
    pub frame: std::time::Duration,
    /// Without the client reading anything while answers wait for it.
    pub write_stall: std::time::Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            hello: std::time::Duration::from_secs(10),
            idle: std::time::Duration::from_secs(300),
            frame: std::time::Duration::from_secs(30),
            write_stall: std::time::Duration::from_secs(30),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            dcs: 3,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: 0,
            data_dir: None,
            login_code: None,
            rsa_key: None,
            control_addr: None,
            update_log_limit: 100_000,
            bot_timeout: std::time::Duration::from_secs(10),
            file_reference_ttl: std::time::Duration::from_secs(3600),
            channel_push_limit: 100_000,
            channel_poll_timeout: std::time::Duration::from_secs(30),
            conn_limits: ConnLimits::default(),
        }
    }
}

/// Where one DC listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcAddr {
    /// DC id.
    pub id: i32,
    /// Socket address.
    pub addr: SocketAddr,
}

/// What a client needs to connect: the DC addresses and the RSA public key.
#[derive(Debug, Clone)]
pub struct Info {
    /// The DCs.
    pub dcs: Vec<DcAddr>,
    /// PKCS#1 PEM of the public key.
    pub rsa_pem: String,
    /// Modulus, decimal.
    pub rsa_n: String,
    /// Public exponent.
    pub rsa_e: u64,
    /// Telegram fingerprint of the key.
    pub fingerprint: i64,
    /// Where the JSON control API listens, if enabled.
    pub control: Option<SocketAddr>,
    /// The secret part of the control API's URL (`/control/TOKEN`): only who can read the
    /// info file can use the API.
    pub control_token: String,
}

impl Info {
    /// The JSON written by `--info-file`:
    /// `{"dcs":[{"id":1,"host":"127.0.0.1","port":...}],"rsa":{"pem":..,"n":..,"e":65537,"fingerprint":..}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "dcs": self.dcs.iter().map(|d| serde_json::json!({"id": d.id, "host": d.addr.ip().to_string(), "port": d.addr.port()})).collect::<Vec<_>>(),
            "rsa": {"pem": self.rsa_pem, "n": self.rsa_n, "e": self.rsa_e, "fingerprint": self.fingerprint},
            "control": self.control.map(|a| format!("http://{a}/control/{}", self.control_token)),
        })
    }
}

/// Errors starting the local DC.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The RSA key could not be loaded or saved.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The state database could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// State shared by every DC and connection.
pub(crate) struct Shared {
    pub(crate) keys: ServerKeys,
    pub(crate) dcs: Vec<DcAddr>,
    pub(crate) auth_keys: std::sync::RwLock<std::collections::HashMap<i64, state::AuthKeyEntry>>,
    pub(crate) sessions: conn::Sessions,
    pub(crate) state: std::sync::Mutex<state::State>,
    pub(crate) stats: Stats,
    pub(crate) faults: std::sync::Mutex<faults::Faults>,
    /// Bumped to make every connection drop.
    pub(crate) drops: watch::Sender<u64>,
    pub(crate) control_addr: Option<SocketAddr>,
    /// What the control API's URL must carry.
    pub(crate) control_token: String,
    /// user -> sessions that acted for them (checked against each session's owner on use).
    pub(crate) user_sessions: std::sync::Mutex<
        std::collections::HashMap<i64, std::collections::HashSet<conn::SessionKey>>,
    >,
    /// Bot queries waiting for the bot's answer: query_id -> (bot, where the answer goes).
    pub(crate) bot_queries: std::sync::Mutex<std::collections::HashMap<i64, BotQuery>>,
    /// How long a user waits for a bot's answer to a callback query.
    pub(crate) bot_timeout: std::time::Duration,
    /// Connection time limits.
    pub(crate) conn_limits: ConnLimits,
    /// The API layer each (permanent) auth key last declared with `invokeWithLayer`.
    pub(crate) key_layers: std::sync::Mutex<std::collections::HashMap<i64, i32>>,
}

impl Shared {
    /// Makes state changes durable (with a data directory).
    pub(crate) fn sync_store(&self) {
        let store = self.state.lock().expect("not poisoned").store.clone();
        if let Some(store) = store {
            store.sync();
        }
    }
}

/// A query waiting for its bot: the bot and where its serialized answer goes.
pub(crate) type BotQuery = (i64, tokio::sync::oneshot::Sender<Vec<u8>>);

/// Counters of what the DC did (for tests and, later, metrics).
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: std::sync::atomic::AtomicU64,
    /// Connections closed because the client did not read its answers.
    pub overloaded: std::sync::atomic::AtomicU64,
    /// Connections refused with -404 (garbage, unknown key, failed decryption).
    pub refused: std::sync::atomic::AtomicU64,
    /// Connections closed by a time limit ([`ConnLimits`]).
    pub timed_out: std::sync::atomic::AtomicU64,
}

/// A running local DC.
pub struct LocalDc {
    shared: Arc<Shared>,
    control_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl LocalDc {
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Binds every DC and starts serving.
    ///
    /// # Errors
    /// A port that cannot be bound, a key that cannot be read or written, `dcs == 0`.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        if config.dcs == 0 {
            return Err(StartError::Config("dcs must be at least 1".into()));
        }
        let rsa = match config.rsa_key.clone() {
            Some(k) => k,
            None => load_or_generate_key(config.data_dir.as_deref())?,
        };
        let mut state = state::State::new(config.login_code.clone());
        state.update_log_limit = config.update_log_limit.max(1);
        state.file_ref_ttl = config
            .file_reference_ttl
            .as_secs()
            .clamp(1, i32::MAX as u64) as i32;
        state.channel_push_limit = config.channel_push_limit;
        state.channel_poll_timeout = config.channel_poll_timeout.as_secs().clamp(1, 86_400) as i32;
        let mut loaded_keys = Vec::new();
        if let Some(dir) = &config.data_dir {
            let store = Arc::new(store::Store::open(dir)?);
            loaded_keys = store.load(&mut state)?;
            state.store = Some(store);
            tracing::info!(
                users = state.users.len(),
                auth_keys = loaded_keys.len(),
                "state loaded"
            );
        }
        let mut listeners = Vec::new();
        let mut dcs = Vec::new();
        for i in 0..config.dcs {
            let port = if config.base_port == 0 {
                0
            } else {
                config.base_port + i as u16
            };
            let addr = SocketAddr::new(config.host, port);
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { addr, source })?;
            let bound = l
                .local_addr()
                .map_err(|source| StartError::Bind { addr, source })?;
            dcs.push(DcAddr {
                id: i as i32 + 1,
                addr: bound,
            });
            listeners.push(l);
        }
        let shared = Arc::new(Shared {
            keys: ServerKeys::new(rsa),
            state: std::sync::Mutex::new(state),
            dcs: dcs.clone(),
            auth_keys: Default::default(),
            sessions: Default::default(),
            stats: Stats::default(),
            faults: Default::default(),
            drops: watch::channel(0).0,
            control_addr: config.control_addr,
            control_token: {
                use rand::RngCore;
                let mut t = [0u8; 16];
                rand::thread_rng().fill_bytes(&mut t);
                t.iter().map(|b| format!("{b:02x}")).collect()
            },
            user_sessions: Default::default(),
            bot_queries: Default::default(),
            bot_timeout: config.bot_timeout,
            conn_limits: config.conn_limits,
            key_layers: Default::default(),
        });
        shared
            .auth_keys
            .write()
            .expect("not poisoned")
            .extend(loaded_keys);
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let control_addr = match shared.control_addr {
            Some(addr) => {
                if !addr.ip().is_loopback() {
                    tracing::warn!(%addr, "the local DC's control API listens beyond this machine: it creates users and reads login codes; it is a test tool, keep it on loopback");
                }
                let l = TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?;
                let bound = l
                    .local_addr()
                    .map_err(|source| StartError::Bind { addr, source })?;
                tasks.push(tokio::spawn(http::serve(
                    Control {
                        shared: shared.clone(),
                    },
                    l,
                    rx.clone(),
                )));
                Some(bound)
            }
            None => None,
        };
        tasks.push(tokio::spawn(scheduler(shared.clone(), rx.clone())));
        for (l, dc) in listeners.into_iter().zip(&dcs) {
            tasks.push(tokio::spawn(accept_loop(
                shared.clone(),
                dc.id,
                l,
                rx.clone(),
            )));
        }
        tracing::info!(dcs = ?dcs.iter().map(|d| (d.id, d.addr.to_string())).collect::<Vec<_>>(), "local DC listening");
        Ok(Self {
            shared,
            control_addr,
            shutdown,
            tasks,
        })
    }

    /// Addresses and key.
    pub fn info(&self) -> Info {
        let public = self.shared.keys.rsa.public();
        Info {
            dcs: self.shared.dcs.clone(),
            rsa_pem: public.to_pem(),
            rsa_n: public.n.to_string(),
            rsa_e: u64::try_from(&public.e).unwrap_or(65537),
            fingerprint: public.fingerprint(),
            control: self.control_addr,
            control_token: self.shared.control_token.clone(),
        }
    }

    /// The control API (create users, read login codes, inspect state).
    pub fn control(&self) -> Control {
        Control {
            shared: self.shared.clone(),
        }
    }

    /// Stops accepting, closes every connection, waits for the tasks and flushes the state.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // Flush and release the database, so the same directory can be opened again.
        if let Some(store) = self.shared.state.lock().expect("not poisoned").store.take() {
            store.flush();
        }
    }
}

/// Sends scheduled messages when they are due.
async fn scheduler(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                for (origin, pushes) in rpc::messages::send_due(&shared) {
                    conn::deliver(&shared, origin, pushes, clock::now_ms());
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    dc: i32,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    shared.stats.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    conns.spawn(conn::serve(shared.clone(), dc, stream, peer, shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!(dc, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}
