//! [`Client`]: one account, its connections and its calls.

use crate::error::InvocationError;
use crate::net::{self, CallFailure, Cmd, ConnHandle, ConnParams, Notice, Transport};
use crate::policy::{AutoSleep, Decision, RetryPolicy};
use crate::store::{AccountState, SessionStore, StoreError};
use fleetgram_protocol::crypto::rsa::{builtin_keys, RsaPublicKey};
use fleetgram_tl::dynamic::{self, Object, Value};
use fleetgram_tl::{enums, functions, Deserializable, Identifiable, RemoteCall, Serializable};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// App and device information sent in `initConnection`.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Device model.
    pub device_model: String,
    /// OS version.
    pub system_version: String,
    /// App version.
    pub app_version: String,
    /// OS language code.
    pub system_lang_code: String,
    /// App language code.
    pub lang_code: String,
}

impl Default for DeviceInfo {
    fn default() -> Self {
        Self {
            device_model: "fleetgram".into(),
            system_version: std::env::consts::OS.into(),
            app_version: env!("CARGO_PKG_VERSION").into(),
            system_lang_code: "en".into(),
            lang_code: "en".into(),
        }
    }
}

/// How a client connects (its `Debug` never shows the api_hash or the proxy's secrets).
#[derive(Clone)]
pub struct Config {
    /// The app's api_id.
    pub api_id: i32,
    /// The app's api_hash.
    pub api_hash: String,
    /// DC id -> address.
    pub dcs: HashMap<i32, SocketAddr>,
    /// The DC a new account starts on.
    pub default_dc: i32,
    /// Server keys accepted besides Telegram's built-in ones (the local DC's).
    pub extra_rsa_keys: Vec<RsaPublicKey>,
    /// Framing; `None` (the default) races plain abridged against obfuscated2 abridged per
    /// DC and keeps the winner.
    pub transport: Option<Transport>,
    /// Connect through a SOCKS5 proxy or an MTProxy.
    pub proxy: Option<crate::net::Proxy>,
    /// `initConnection` data.
    pub device: DeviceInfo,
    /// Interval of `ping_delay_disconnect`; a connection silent for twice this is replaced.
    /// The default, 25 s, keeps a connection alive behind proxies (MTProxy among them) that
    /// close one after 60 s without data from the DC.
    pub ping_interval: Duration,
    /// Most time for a TCP connect plus key creation.
    pub connect_timeout: Duration,
    /// Most time a call may take (not counting FLOOD_WAIT sleeps).
    pub request_timeout: Duration,
    /// The call policy.
    pub retry: Arc<dyn RetryPolicy>,
    /// Updates held for a slow consumer before the connection stops reading.
    pub update_backlog: usize,
    /// Perfect forward secrecy: encrypt traffic with temporary keys of this lifetime, bound
    /// to the permanent key (`None`: the permanent key is used directly).
    pub pfs: Option<Duration>,
    /// Telegram does not push every post of a big channel: the update stream polls
    /// `updates.getChannelDifference` at the server's `timeout` for at most this many
    /// channels (those named by [`Client::watch_channel`] first, then the others the account
    /// is in); 0 turns polling off.
    pub channel_poll_limit: usize,
    /// Without any update for this long, the update stream fetches `updates.getDifference`
    /// (Telegram's advice: an account that hears nothing may have stopped getting pushes).
    pub idle_difference: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("api_id", &self.api_id)
            .field("api_hash", &"<redacted>")
            .field("dcs", &self.dcs)
            .field("default_dc", &self.default_dc)
            .field("transport", &self.transport)
            .field("proxy", &self.proxy)
            .field("device", &self.device)
            .field("ping_interval", &self.ping_interval)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("update_backlog", &self.update_backlog)
            .field("pfs", &self.pfs)
            .field("channel_poll_limit", &self.channel_poll_limit)
            .field("idle_difference", &self.idle_difference)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Telegram's production DCs (the table of `../shared/telegram/FACTS.md`, port 443).
    pub fn telegram(api_id: i32, api_hash: impl Into<String>) -> Self {
        let dcs = [
            (1, "149.154.175.53"),
            (2, "149.154.167.51"),
            (3, "149.154.175.100"),
            (4, "149.154.167.91"),
            (5, "91.108.56.130"),
        ]
        .into_iter()
        .map(|(id, ip)| (id, SocketAddr::new(ip.parse().expect("valid IPv4"), 443)))
        .collect();
        Self::with_dcs(api_id, api_hash, dcs, 2)
    }

    /// A config for an arbitrary DC table (the local DC's).
    pub fn with_dcs(
        api_id: i32,
        api_hash: impl Into<String>,
        dcs: HashMap<i32, SocketAddr>,
        default_dc: i32,
    ) -> Self {
        Self {
            api_id,
            api_hash: api_hash.into(),
            dcs,
            default_dc,
            extra_rsa_keys: Vec::new(),
            transport: None,
            proxy: None,
            device: DeviceInfo::default(),
            ping_interval: Duration::from_secs(25),
            connect_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(60),
            retry: Arc::new(AutoSleep::default()),
            update_backlog: 4096,
            pfs: None,
            channel_poll_limit: 100,
            idle_difference: Duration::from_secs(15 * 60),
        }
    }
}

/// Errors creating a client.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The account's home DC is not in the DC table.
    #[error("account {account:?}: DC {dc} is not in the DC table")]
    UnknownDc {
        /// The account.
        account: String,
        /// The DC.
        dc: i32,
    },
}

struct Inner {
    account: String,
    config: Config,
    rsa_keys: Arc<Vec<RsaPublicKey>>,
    store: Arc<dyn SessionStore>,
    state: Mutex<AccountState>,
    peers: Mutex<HashMap<i64, crate::state::PeerEntry>>,
    conns: Mutex<HashMap<i32, ConnHandle>>,
    /// Serializes authorization exports so two calls never export twice for one DC.
    export_lock: tokio::sync::Mutex<()>,
    pacer: crate::pacing::Pacer,
    flood_waits: std::sync::atomic::AtomicU64,
    updates_tx: mpsc::Sender<RawUpdate>,
    updates_rx: tokio::sync::Mutex<mpsc::Receiver<RawUpdate>>,
    /// Channels polled first (bare ids), and a counter of changes to the list.
    watched: Mutex<Vec<i64>>,
    watched_version: std::sync::atomic::AtomicU64,
}

/// A server-initiated object, not yet interpreted.
#[derive(Debug, Clone, PartialEq)]
pub enum RawUpdate {
    /// The boxed TL object (`Updates` and the like) from DC `dc`.
    Object {
        /// Where it came from.
        dc: i32,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The server started a new session on DC `dc`; updates may have been missed.
    NewSession {
        /// Which DC.
        dc: i32,
    },
    /// The answer to one of the account's own calls on the home DC that carries updates
    /// (they count in the account's pts/qts/seq sequences like pushed ones).
    Answer {
        /// The request (to make `updateShortSentMessage` into the message it stands for).
        request: Vec<u8>,
        /// The answer.
        bytes: Vec<u8>,
    },
}

/// One account. Cheap to clone; every clone shares the connections.
#[derive(Clone)]
pub struct Client(Arc<Inner>);

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("account", &self.0.account)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `account` in `store` (created on `config.default_dc` if new). Connects
    /// lazily, on the first call.
    ///
    /// # Errors
    /// The store failed, or the account's home DC is unknown.
    pub fn new(
        config: Config,
        store: Arc<dyn SessionStore>,
        account: &str,
    ) -> Result<Client, ConnectError> {
        let state = store
            .load(account)?
            .unwrap_or_else(|| AccountState::new(config.default_dc));
        if !config.dcs.contains_key(&state.home_dc) {
            return Err(ConnectError::UnknownDc {
                account: account.into(),
                dc: state.home_dc,
            });
        }
        let mut keys = builtin_keys();
        keys.extend(config.extra_rsa_keys.iter().cloned());
        let (updates_tx, updates_rx) = mpsc::channel(config.update_backlog.max(1));
        Ok(Client(Arc::new(Inner {
            account: account.into(),
            rsa_keys: Arc::new(keys),
            config,
            store,
            state: Mutex::new(state),
            peers: Mutex::new(HashMap::new()),
            conns: Mutex::new(HashMap::new()),
            export_lock: tokio::sync::Mutex::new(()),
            pacer: crate::pacing::Pacer::default(),
            flood_waits: std::sync::atomic::AtomicU64::new(0),
            updates_tx,
            updates_rx: tokio::sync::Mutex::new(updates_rx),
            watched: Mutex::new(Vec::new()),
            watched_version: std::sync::atomic::AtomicU64::new(0),
        })))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// Asks the update stream to poll channel `channel_id` (a bare id, or a marked
    /// `-100…` one) first, within [`Config::channel_poll_limit`]: what a handler watches must
    /// not be missed because Telegram stopped pushing it. Its pts is learned with
    /// `channels.getFullChannel` when the stream does not know it yet.
    pub fn watch_channel(&self, channel_id: i64) {
        let id = match crate::state::unmark(channel_id) {
            (crate::state::PeerKind::Channel, bare) if channel_id < 0 => bare,
            _ => channel_id.abs(),
        };
        let mut w = self.0.watched.lock().unwrap_or_else(|e| e.into_inner());
        if !w.contains(&id) {
            w.push(id);
            self.0
                .watched_version
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }

    /// The channels given to [`Client::watch_channel`] (bare ids), and the list's version.
    pub(crate) fn watched_channels(&self) -> (Vec<i64>, u64) {
        let w = self.0.watched.lock().unwrap_or_else(|e| e.into_inner());
        (w.clone(), self.watched_version())
    }

    /// The version of the watch list (cheap: no lock, no copy).
    pub(crate) fn watched_version(&self) -> u64 {
        self.0
            .watched_version
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn store(&self) -> &dyn SessionStore {
        &*self.0.store
    }

    pub(crate) fn peer_cache(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<i64, crate::state::PeerEntry>> {
        self.0.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many FLOOD_WAITs this client has received.
    pub fn flood_waits(&self) -> u64 {
        self.0
            .flood_waits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The pacing budget: methods with a spacing learned from FLOOD_WAITs, as (method,
    /// spacing, time until the next call may go).
    pub fn pacing(&self) -> Vec<(String, Duration, Duration)> {
        self.0.pacer.budget()
    }

    /// The spacing the pacer learned for `method` from FLOOD_WAITs (zero if none).
    pub fn learned_spacing(&self, method: &str) -> Duration {
        self.0.pacer.spacing(method)
    }

    /// The account name.
    pub fn account(&self) -> &str {
        &self.0.account
    }

    /// A copy of the account's stored state.
    pub fn state(&self) -> AccountState {
        self.lock_state().clone()
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, AccountState> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The account's user id, once logged in (cheaper than `state().user_id`).
    pub fn user_id(&self) -> Option<i64> {
        self.lock_state().user_id
    }

    /// Whether the account is a bot.
    pub fn is_bot(&self) -> bool {
        self.lock_state().bot
    }

    /// The account's own user, as Telegram has it now (`users.getUsers([inputUserSelf])`).
    ///
    /// # Errors
    /// As [`Client::invoke`]; an empty answer.
    pub async fn get_me(&self) -> Result<fleetgram_tl::enums::User, InvocationError> {
        self.invoke(&fleetgram_tl::functions::users::GetUsers {
            id: vec![fleetgram_tl::enums::InputUser::InputUserSelf],
        })
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| InvocationError::BadRequest("users.getUsers(self) answered nothing".into()))
    }

    /// The account's home DC.
    pub fn home_dc(&self) -> i32 {
        self.lock_state().home_dc
    }

    pub(crate) fn update_state(&self, f: impl FnOnce(&mut AccountState)) -> Result<(), StoreError> {
        let snapshot = {
            let mut st = self.lock_state();
            f(&mut st);
            st.clone()
        };
        self.0.store.save(&self.0.account, &snapshot)
    }

    /// Applies an update commit to the account's state and writes what it changed (lazily:
    /// see [`SessionStore::save_updates`]).
    pub(crate) fn commit_updates(
        &self,
        commit: crate::state::UpdateCommit,
    ) -> Result<(), StoreError> {
        let resolved = commit.apply(&mut self.lock_state());
        if resolved.is_empty() {
            return Ok(());
        }
        self.0.store.save_updates(&self.0.account, &resolved)
    }

    /// The session string of the account (see [`AccountState::to_session_string`]).
    pub fn session_string(&self) -> Option<String> {
        self.lock_state().to_session_string()
    }

    fn init_body(&self) -> Vec<u8> {
        let d = &self.0.config.device;
        functions::InvokeWithLayer {
            layer: fleetgram_tl::LAYER,
            query: functions::InitConnection {
                api_id: self.0.config.api_id,
                device_model: d.device_model.clone(),
                system_version: d.system_version.clone(),
                app_version: d.app_version.clone(),
                system_lang_code: d.system_lang_code.clone(),
                lang_pack: String::new(),
                lang_code: d.lang_code.clone(),
                proxy: None,
                params: None,
                query: functions::help::GetConfig {},
            },
        }
        .to_bytes()
    }

    fn connection(&self, dc: i32) -> Result<ConnHandle, InvocationError> {
        let mut conns = self.0.conns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = conns.get(&dc) {
            if !c.tx.is_closed() {
                return Ok(c.clone());
            }
        }
        let addr = *self
            .0
            .config
            .dcs
            .get(&dc)
            .ok_or_else(|| InvocationError::Io {
                dc,
                reason: "not in the DC table".into(),
            })?;
        let state = self.lock_state().dcs.get(&dc).cloned().unwrap_or_default();
        let (ntx, nrx) = mpsc::channel(16);
        let (ctx, crx) = mpsc::unbounded_channel();
        let handle = net::spawn(ConnParams {
            dc,
            addr,
            transport: self.0.config.transport,
            proxy: self.0.config.proxy.clone(),
            rsa_keys: self.0.rsa_keys.clone(),
            state,
            init: self.init_body(),
            ping_interval: self.0.config.ping_interval,
            connect_timeout: self.0.config.connect_timeout,
            notices: ntx,
            control: ctx,
            update_backlog: self.0.config.update_backlog,
            pfs: self.0.config.pfs,
        });
        tokio::spawn(pump_notices(Arc::downgrade(&self.0), dc, nrx));
        tokio::spawn(pump_control(Arc::downgrade(&self.0), dc, crx));
        conns.insert(dc, handle.clone());
        Ok(handle)
    }

    /// Sends already-serialized `body` to DC `dc` once (no policy), returning the raw result.
    async fn send_once(
        &self,
        dc: i32,
        method: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, InvocationError> {
        let conn = self.connection(dc)?;
        let (tx, rx) = oneshot::channel();
        conn.tx
            .send(Cmd::Invoke(body, tx))
            .map_err(|_| InvocationError::Dropped)?;
        let timeout = self.0.config.request_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(InvocationError::Timeout {
                method: method.into(),
                timeout,
            }),
            Ok(Err(_)) => Err(InvocationError::Dropped),
            Ok(Ok(Ok(bytes))) => Ok(bytes),
            Ok(Ok(Err(CallFailure::Rpc(e)))) => Err(InvocationError::from_rpc(method, e)),
            Ok(Ok(Err(CallFailure::Io(reason)))) => Err(InvocationError::Io { dc, reason }),
        }
    }

    /// Sends `body` through the call policy: migrations followed, FLOOD_WAITs and transient
    /// errors retried as the policy says. `dc` is `None` for the home DC.
    pub(crate) async fn call_raw(
        &self,
        dc: Option<i32>,
        method: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, InvocationError> {
        let mut attempt = 0u32;
        let mut migrations = 0u32;
        // FILE_MIGRATE_X sends this call (only) to DC X.
        let mut redirect: Option<i32> = None;
        loop {
            let target = redirect.or(dc).unwrap_or_else(|| self.home_dc());
            if target != self.home_dc() && !method.starts_with("auth.") {
                Box::pin(self.authorize_dc(target)).await?;
            }
            let pause = self.0.pacer.reserve(method);
            if !pause.is_zero() {
                // A pending FLOOD_WAIT: the policy decides whether to wait it out here or to
                // fail now (without bothering the server, which would only refuse).
                let pending = InvocationError::FloodWait {
                    method: method.into(),
                    wait: pause,
                };
                match self.0.config.retry.on_error(method, 1, &pending) {
                    Decision::Retry(_) => tokio::time::sleep(pause).await,
                    Decision::Fail if pause > Duration::from_secs(1) => return Err(pending),
                    Decision::Fail => tokio::time::sleep(pause).await,
                }
            }
            let err = match self.send_once(target, method, body.clone()).await {
                Ok(bytes) => {
                    crate::metrics::global().call(method, "ok");
                    self.0.config.retry.on_success(method);
                    self.learn_peers(method, &bytes);
                    if target == self.home_dc() && crate::answers::answer_carries_updates(&bytes) {
                        // Best effort: when the queue is full the stream sees a gap instead
                        // and fetches the difference (never block a call on the consumer).
                        let _ = self.0.updates_tx.try_send(RawUpdate::Answer {
                            request: body.clone(),
                            bytes: bytes.clone(),
                        });
                    }
                    return Ok(bytes);
                }
                Err(e) => e,
            };
            crate::metrics::global().call(method, err.kind_name());
            if let InvocationError::Rpc {
                code: 303,
                name,
                value: Some(new_dc),
                ..
            } = &err
            {
                let new_dc = *new_dc as i32;
                let home_move = matches!(
                    name.as_str(),
                    "PHONE_MIGRATE" | "USER_MIGRATE" | "NETWORK_MIGRATE"
                );
                if name == "FILE_MIGRATE" && redirect.is_none() {
                    redirect = Some(new_dc);
                    continue;
                }
                if home_move && dc.is_none() && migrations < 3 {
                    migrations += 1;
                    tracing::info!(account = %self.0.account, from = target, to = new_dc, "migrating");
                    self.update_state(|st| st.home_dc = new_dc)?;
                    continue;
                }
            }
            if let Some(wait) = crate::policy::flood_wait(&err) {
                crate::metrics::global()
                    .flood_wait_seconds
                    .fetch_add(wait.as_secs(), std::sync::atomic::Ordering::Relaxed);
                self.0
                    .flood_waits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.0.pacer.flood(method, wait);
            }
            attempt += 1;
            match self.0.config.retry.on_error(method, attempt, &err) {
                Decision::Retry(delay) => {
                    tracing::debug!(%method, attempt, ?delay, error = %err, "retrying");
                    tokio::time::sleep(delay).await;
                }
                Decision::Fail => {
                    return Err(match crate::policy::flood_wait(&err) {
                        Some(wait) => InvocationError::FloodWait {
                            method: method.into(),
                            wait,
                        },
                        None => err,
                    })
                }
            }
        }
    }

    /// Makes the account's login valid on DC `dc` too (`auth.exportAuthorization` on the
    /// home DC, `auth.importAuthorization` on `dc`), once; the result is stored and reused.
    /// Does nothing for the home DC or an account that is not logged in.
    ///
    /// # Errors
    /// The export or import failed.
    pub async fn authorize_dc(&self, dc: i32) -> Result<(), InvocationError> {
        let needed = |c: &Client| {
            let st = c.lock_state();
            dc != st.home_dc
                && st.user_id.is_some()
                && !st.dcs.get(&dc).is_some_and(|d| d.authorized)
        };
        if !needed(self) {
            return Ok(());
        }
        let _guard = self.0.export_lock.lock().await;
        if !needed(self) {
            return Ok(());
        }
        let enums::auth::ExportedAuthorization::ExportedAuthorization(e) = self
            .invoke(&functions::auth::ExportAuthorization { dc_id: dc })
            .await?;
        let auth = self
            .invoke_on_dc(
                dc,
                &functions::auth::ImportAuthorization {
                    id: e.id,
                    bytes: e.bytes,
                },
            )
            .await?;
        if let enums::auth::Authorization::Authorization(a) = &auth {
            if let enums::User::User(u) = &a.user {
                tracing::info!(account = %self.0.account, dc, user = u.id, "authorized on another DC");
            }
        }
        self.update_state(|st| {
            st.dcs.entry(dc).or_default().authorized = true;
        })?;
        Ok(())
    }

    /// Feeds the peer cache from an answer (any method: walked with the dynamic codec).
    fn learn_peers(&self, method: &str, bytes: &[u8]) {
        // Answers that never carry users or chats, and differences, whose users and chats
        // the update stream learns from (typed, once per slice).
        if matches!(
            method,
            "help.getNearestDc"
                | "updates.getState"
                | "ping_delay_disconnect"
                | "updates.getDifference"
        ) {
            return;
        }
        if let Ok(v) = dynamic::schema().decode_result(method, bytes) {
            let mut out = Vec::new();
            crate::state::collect(&v, &mut out);
            self.remember_peers(out);
        }
    }

    /// Calls `req` on the home DC.
    ///
    /// # Errors
    /// What the call policy did not absorb.
    pub async fn invoke<R: RemoteCall + Identifiable>(
        &self,
        req: &R,
    ) -> Result<R::Return, InvocationError> {
        self.invoke_inner(None, req).await
    }

    /// Calls `req` on DC `dc` (the account must be authorized there for user methods).
    ///
    /// # Errors
    /// What the call policy did not absorb.
    pub async fn invoke_on_dc<R: RemoteCall + Identifiable>(
        &self,
        dc: i32,
        req: &R,
    ) -> Result<R::Return, InvocationError> {
        self.invoke_inner(Some(dc), req).await
    }

    async fn invoke_inner<R: RemoteCall + Identifiable>(
        &self,
        dc: Option<i32>,
        req: &R,
    ) -> Result<R::Return, InvocationError> {
        let bytes = self.call_raw(dc, R::NAME, req.to_bytes()).await?;
        R::Return::from_bytes(&bytes).map_err(|e| InvocationError::Decode {
            method: R::NAME.into(),
            reason: e.to_string(),
        })
    }

    /// Calls a method by its TL name with dynamic arguments (what scripts use):
    /// `invoke_raw("messages.sendMessage", args)` where `args` is an object of that name or
    /// of any name (only its fields are used).
    ///
    /// # Errors
    /// [`InvocationError::BadRequest`] for an unknown method or wrong arguments (naming the
    /// field), otherwise as [`Client::invoke`].
    pub async fn invoke_raw(&self, method: &str, args: Object) -> Result<Value, InvocationError> {
        let schema = dynamic::schema();
        match schema.get(method) {
            Some(d) if d.category == fleetgram_tl::schema_def::Category::Function => {}
            Some(_) => {
                return Err(InvocationError::BadRequest(format!(
                    "{method} is a constructor, not a method"
                )))
            }
            None => {
                return Err(InvocationError::BadRequest(format!(
                    "unknown TL method {method:?} (layer {})",
                    fleetgram_tl::LAYER
                )))
            }
        }
        let mut obj = args;
        obj.name = method.to_string().into();
        let body = schema
            .encode(&obj)
            .map_err(|e| InvocationError::BadRequest(e.to_string()))?;
        let bytes = self.call_raw(None, method, body).await?;
        schema
            .decode_result(method, &bytes)
            .map_err(|e| InvocationError::Decode {
                method: method.into(),
                reason: e.to_string(),
            })
    }

    /// The next server-initiated object (updates), in arrival order. Waits for one.
    /// `None` once the client is gone.
    pub async fn next_raw_update(&self) -> Option<RawUpdate> {
        self.0.updates_rx.lock().await.recv().await
    }

    /// How many server-initiated objects wait in the queue.
    pub(crate) fn queued_raw_updates(&self) -> usize {
        self.0.updates_tx.max_capacity() - self.0.updates_tx.capacity()
    }

    /// Makes sure the home DC connection is up (creating the auth key if needed).
    ///
    /// # Errors
    /// The DC could not be reached.
    pub async fn connect(&self) -> Result<(), InvocationError> {
        self.invoke(&functions::help::GetNearestDc {})
            .await
            .map(|_| ())
    }

    /// Stops every connection; pending calls fail with [`InvocationError::Dropped`].
    pub fn disconnect(&self) {
        self.0
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Persists a connection's DC state changes.
async fn pump_control(
    inner: std::sync::Weak<Inner>,
    dc: i32,
    mut rx: mpsc::UnboundedReceiver<Notice>,
) {
    while let Some(n) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        let client = Client(inner);
        let r = match n {
            Notice::State(dc_state) => client.update_state(|st| {
                let authorized = st.dcs.get(&dc).is_some_and(|d| {
                    // An import may be recorded before the key's own notice arrives.
                    d.authorized && (d.auth_key.is_none() || d.auth_key == dc_state.auth_key)
                });
                let mut s = dc_state;
                s.authorized = authorized;
                st.dcs.insert(dc, s);
            }),
            Notice::KeyLost => client.update_state(|st| {
                st.dcs.remove(&dc);
                if st.home_dc == dc {
                    st.user_id = None;
                }
            }),
            _ => Ok(()),
        };
        if let Err(e) = r {
            tracing::error!(account = %client.0.account, error = %e, "cannot persist the session");
        }
    }
}

/// Moves a connection's updates into the account's bounded queue (waiting when it is full,
/// which in turn makes the connection stop reading: backpressure, nothing dropped).
async fn pump_notices(inner: std::sync::Weak<Inner>, dc: i32, mut rx: mpsc::Receiver<Notice>) {
    while let Some(n) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        let tx = inner.updates_tx.clone();
        drop(inner);
        let u = match n {
            Notice::Update(bytes) => RawUpdate::Object { dc, bytes },
            Notice::NewSession => RawUpdate::NewSession { dc },
            _ => continue,
        };
        if tx.send(u).await.is_err() {
            return;
        }
    }
}
