//! The fleet host: runs every enabled account of an `accounts.yaml` concurrently, each
//! supervised (restart with backoff on failure, quarantine on a dead authorization), and
//! feeds each account's updates to its handlers (the scripts, through [`HandlerFactory`]).
//!
//! ```text
//! Fleet::start --per account--> supervisor task: connect -> log in -> attach handlers
//!   -> UpdateStream --wanted?--> per-chat queue --> Handlers::handle --done--> ack (commit)
//! ```
//!
//! Updates of one chat are handled one after another, different chats concurrently; an
//! update is acknowledged (its pts committed) only when its handler finished, so a crash
//! redelivers it. Updates no handler wants are acknowledged at once.

pub mod config;

use crate::client::{Client, Config as ClientConfig};
use crate::error::InvocationError;
use crate::net::Proxy;
use crate::policy::AutoSleep;
use crate::store::SessionStore;
use crate::updates::{Delivered, UpdateKind};
use config::{Account, AccountKind, FleetConfig, Network};
use fleetgram_protocol::crypto::rsa::RsaPublicKey;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Errors that end an account's authorization: the account is quarantined, not restarted.
pub const FATAL_ERRORS: &[&str] = &[
    "AUTH_KEY_UNREGISTERED",
    "USER_DEACTIVATED",
    "USER_DEACTIVATED_BAN",
    "AUTH_KEY_DUPLICATED",
    "SESSION_REVOKED",
    "SESSION_EXPIRED",
    "AUTH_KEY_INVALID",
];

/// An account's handlers (what the scripting layer implements).
pub trait Handlers: Send + Sync + 'static {
    /// Whether any handler wants updates of `kind` (others are acknowledged unseen).
    fn wants(&self, kind: UpdateKind) -> bool;
    /// Handles one update; resolves when every handler is done with it (errors are the
    /// handlers' to report).
    fn handle(&self, update: Arc<Delivered>) -> BoxFuture<'static, ()>;
    /// Sees every update as it arrives, before any handler and whether or not one wants
    /// it (conversations waiting for a chat's next message are fed from here).
    fn observe(&self, _update: &Arc<Delivered>) {}
    /// Stops schedules and lets running handlers finish.
    fn stop(&self) -> BoxFuture<'static, ()>;
}

/// Makes the handlers of an account once it is logged in.
pub trait HandlerFactory: Send + Sync + 'static {
    /// Loads the account's scripts. An error is reported and the account runs without them.
    fn attach(
        &self,
        account: AccountHandle,
    ) -> BoxFuture<'static, Result<Arc<dyn Handlers>, String>>;
}

/// Secrets the host supplies at login.
pub trait Credentials: Send + Sync + 'static {
    /// The login code for `phone` (`None`: no way to get one without a person; the account
    /// waits for `fleetgram login`).
    fn login_code(&self, account: &str, phone: &str) -> BoxFuture<'static, Option<String>>;
    /// A bot token not written in the file (the local demo creates its bots).
    fn bot_token(&self, account: &str) -> Option<String> {
        let _ = account;
        None
    }
    /// Called before an account logs in (the local demo creates accounts added to the
    /// file while running).
    fn prepare(&self, account: &Account) {
        let _ = account;
    }
}

/// What handlers get to know about their account.
#[derive(Clone)]
pub struct AccountHandle {
    /// The account's name.
    pub name: String,
    /// User or bot.
    pub kind: AccountKind,
    /// Its client (cheap to clone).
    pub client: Client,
    /// Its user id.
    pub user_id: i64,
    /// Its username, if any.
    pub username: Option<String>,
    /// The account's configuration (scripts and their settings).
    pub account: Account,
    /// The whole fleet (for cross-account actions).
    pub fleet: FleetHandle,
    /// The store (script data and schedule bookkeeping live there too).
    pub store: Arc<dyn SessionStore>,
}

/// Where an account is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountPhase {
    /// Connecting and logging in.
    Starting,
    /// Handling updates.
    Running,
    /// Waiting before the next attempt after `error`.
    Backoff {
        /// Why the last attempt ended.
        error: String,
        /// Attempts so far.
        attempt: u32,
    },
    /// The authorization is gone; not restarted until the configuration changes.
    Quarantined {
        /// The error that ended it.
        reason: String,
    },
    /// A user account that needs `fleetgram login NAME` first.
    NeedsLogin,
    /// Paused by the operator.
    Paused,
    /// Disabled in the file or stopped.
    Stopped,
}

impl AccountPhase {
    /// A short word for tables.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Backoff { .. } => "backoff",
            Self::Quarantined { .. } => "quarantined",
            Self::NeedsLogin => "needs-login",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
        }
    }
}

/// The live status of one account.
#[derive(Debug, Clone)]
pub struct AccountStatus {
    /// Name.
    pub name: String,
    /// User or bot.
    pub kind: AccountKind,
    /// State.
    pub state: AccountPhase,
    /// Home DC, once known.
    pub dc: Option<i32>,
    /// User id, once logged in.
    pub user_id: Option<i64>,
    /// Username, once logged in.
    pub username: Option<String>,
    /// The proxy, without credentials.
    pub proxy: Option<String>,
    /// When the last update arrived.
    pub last_update: Option<SystemTime>,
    /// Updates received.
    pub updates: u64,
    /// Updates queued or being handled.
    pub queue_depth: u64,
    /// FLOOD_WAITs seen.
    pub flood_waits: u64,
    /// Restarts so far.
    pub restarts: u64,
    /// Pools.
    pub pools: Vec<String>,
    /// Script files.
    pub scripts: Vec<String>,
}

struct Slot {
    account: Account,
    status: Mutex<AccountStatus>,
    client: Mutex<Option<Client>>,
    stop: watch::Sender<bool>,
    pause: watch::Sender<bool>,
    updates: AtomicU64,
    queue: AtomicU64,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct Shared {
    config: RwLock<FleetConfig>,
    dcs: HashMap<i32, SocketAddr>,
    default_dc: i32,
    rsa_keys: Vec<RsaPublicKey>,
    store: Arc<dyn SessionStore>,
    factory: Arc<dyn HandlerFactory>,
    credentials: Arc<dyn Credentials>,
    slots: RwLock<HashMap<String, Arc<Slot>>>,
    /// Bounds the accounts connecting and logging in at once (a thousand handshakes at
    /// the same moment only time each other out).
    logins: tokio::sync::Semaphore,
}

/// How many accounts connect and log in at the same time.
const CONCURRENT_LOGINS: usize = 48;

/// A handle on the running fleet (cheap to clone).
#[derive(Clone)]
pub struct FleetHandle(Arc<Shared>);

/// Where the DCs are.
#[derive(Debug, Clone)]
pub struct DcTable {
    /// DC id -> address.
    pub dcs: HashMap<i32, SocketAddr>,
    /// Where new accounts start.
    pub default_dc: i32,
    /// RSA keys besides the built-in ones (the local DC's).
    pub rsa_keys: Vec<RsaPublicKey>,
}

/// The fleet.
pub struct Fleet {
    handle: FleetHandle,
}

impl Fleet {
    /// Starts every enabled account of `config`.
    pub fn start(
        config: FleetConfig,
        dcs: DcTable,
        store: Arc<dyn SessionStore>,
        factory: Arc<dyn HandlerFactory>,
        credentials: Arc<dyn Credentials>,
    ) -> Fleet {
        let accounts = config.accounts.clone();
        let handle = FleetHandle(Arc::new(Shared {
            config: RwLock::new(config),
            dcs: dcs.dcs,
            default_dc: dcs.default_dc,
            rsa_keys: dcs.rsa_keys,
            store,
            factory,
            credentials,
            slots: RwLock::new(HashMap::new()),
            logins: tokio::sync::Semaphore::new(CONCURRENT_LOGINS),
        }));
        for a in accounts {
            handle.add(a);
        }
        Fleet { handle }
    }

    /// A handle for status queries and cross-account calls.
    pub fn handle(&self) -> FleetHandle {
        self.handle.clone()
    }

    /// Applies a changed configuration (see [`FleetHandle::apply`]).
    pub async fn apply(&self, new: FleetConfig) -> (Vec<String>, Vec<String>, Vec<String>) {
        self.handle.apply(new).await
    }

    /// Stops every account: handlers finish, state is committed, connections close.
    pub async fn shutdown(self) {
        let names: Vec<String> = self
            .handle
            .0
            .slots
            .read()
            .expect("not poisoned")
            .keys()
            .cloned()
            .collect();
        let stops = names.iter().map(|n| self.handle.remove(n));
        for s in stops {
            s.await;
        }
    }
}

impl FleetHandle {
    /// Applies a changed configuration: removed accounts stop, new ones start, changed ones
    /// restart; the others are not touched. Returns (started, stopped, restarted) names.
    pub async fn apply(&self, new: FleetConfig) -> (Vec<String>, Vec<String>, Vec<String>) {
        let old: HashMap<String, Account> = {
            let slots = self.0.slots.read().expect("not poisoned");
            slots
                .iter()
                .map(|(k, s)| (k.clone(), s.account.clone()))
                .collect()
        };
        let mut started = vec![];
        let mut stopped = vec![];
        let mut restarted = vec![];
        for (name, a) in &old {
            match new.account(name) {
                None => {
                    self.remove(name).await;
                    stopped.push(name.clone());
                }
                Some(n) if n != a => {
                    self.remove(name).await;
                    self.add(n.clone());
                    restarted.push(name.clone());
                }
                Some(_) => {}
            }
        }
        for a in &new.accounts {
            if !old.contains_key(a.name()) {
                self.add(a.clone());
                started.push(a.name().to_string());
            }
        }
        *self.0.config.write().expect("not poisoned") = new;
        (started, stopped, restarted)
    }

    fn add(&self, account: Account) {
        let (stop, _) = watch::channel(!account.config.enabled);
        let (pause, _) = watch::channel(false);
        let status = AccountStatus {
            name: account.name().to_string(),
            kind: account.config.kind,
            state: if account.config.enabled {
                AccountPhase::Starting
            } else {
                AccountPhase::Stopped
            },
            dc: None,
            user_id: None,
            username: None,
            proxy: account.proxy.as_ref().map(describe_proxy),
            last_update: None,
            updates: 0,
            queue_depth: 0,
            flood_waits: 0,
            restarts: 0,
            pools: account.config.pools.clone(),
            scripts: account
                .scripts
                .iter()
                .map(|s| s.path.display().to_string())
                .collect(),
        };
        let slot = Arc::new(Slot {
            account,
            status: Mutex::new(status),
            client: Mutex::new(None),
            stop,
            pause,
            updates: AtomicU64::new(0),
            queue: AtomicU64::new(0),
            task: Mutex::new(None),
        });
        let name = slot.account.name().to_string();
        if slot.account.config.enabled {
            let task = tokio::spawn(supervise(self.clone(), slot.clone()));
            *slot.task.lock().expect("not poisoned") = Some(task);
        }
        self.0
            .slots
            .write()
            .expect("not poisoned")
            .insert(name, slot);
    }

    async fn remove(&self, name: &str) {
        let slot = self.0.slots.write().expect("not poisoned").remove(name);
        let Some(slot) = slot else { return };
        slot.stop.send_replace(true);
        let task = slot.task.lock().expect("not poisoned").take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    /// The status of every account, in file order.
    pub fn status(&self) -> Vec<AccountStatus> {
        let order: HashMap<String, usize> = self
            .0
            .config
            .read()
            .expect("not poisoned")
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name().to_string(), i))
            .collect();
        let slots = self.0.slots.read().expect("not poisoned");
        let mut out: Vec<AccountStatus> = slots.values().map(|s| s.snapshot()).collect();
        out.sort_by_key(|s| order.get(&s.name).copied().unwrap_or(usize::MAX));
        out
    }

    /// The client of a running account.
    pub fn client(&self, name: &str) -> Option<Client> {
        let slots = self.0.slots.read().expect("not poisoned");
        slots
            .get(name)
            .and_then(|s| s.client.lock().expect("not poisoned").clone())
    }

    /// The running accounts of `pool`, least loaded first (fewest FLOOD_WAITs, then the
    /// shortest learned spacing for `method`).
    pub fn pool(&self, pool: &str, method: &str) -> Vec<(String, Client)> {
        let slots = self.0.slots.read().expect("not poisoned");
        let mut found: Vec<(String, Client)> = slots
            .values()
            .filter(|s| s.account.config.pools.iter().any(|p| p == pool))
            .filter_map(|s| {
                let c = s.client.lock().expect("not poisoned").clone()?;
                Some((s.account.name().to_string(), c))
            })
            .collect();
        found.sort_by_key(|(_, c)| (c.learned_spacing(method), c.flood_waits()));
        found
    }

    /// Runs `call` with an account of `pool` that has budget, failing over to the next one
    /// on FLOOD_WAIT.
    ///
    /// # Errors
    /// No running account in the pool, or the last account's error.
    pub async fn with_pool<T, F, Fut>(
        &self,
        pool: &str,
        method: &str,
        call: F,
    ) -> Result<(String, T), InvocationError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, InvocationError>>,
    {
        let candidates = self.pool(pool, method);
        if candidates.is_empty() {
            return Err(InvocationError::BadRequest(format!(
                "no running account in pool {pool:?}"
            )));
        }
        let mut last = None;
        for (name, client) in candidates {
            match call(client).await {
                Ok(v) => return Ok((name, v)),
                Err(e) if crate::policy::flood_wait(&e).is_some() => {
                    tracing::info!(account = %name, pool, error = %e, "failing over to the next account of the pool");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one candidate"))
    }

    /// Pauses (stops taking updates) or resumes an account.
    pub fn set_paused(&self, name: &str, paused: bool) -> bool {
        let slots = self.0.slots.read().expect("not poisoned");
        match slots.get(name) {
            Some(s) => {
                s.pause.send_replace(paused);
                true
            }
            None => false,
        }
    }

    /// Runs `f` on the configuration in force (without copying it).
    pub fn with_config<T>(&self, f: impl FnOnce(&FleetConfig) -> T) -> T {
        f(&self.0.config.read().expect("not poisoned"))
    }

    /// The configuration in force.
    pub fn config(&self) -> FleetConfig {
        self.0.config.read().expect("not poisoned").clone()
    }
}

impl Slot {
    fn snapshot(&self) -> AccountStatus {
        let mut s = self.status.lock().expect("not poisoned").clone();
        s.updates = self.updates.load(Ordering::Relaxed);
        s.queue_depth = self.queue.load(Ordering::Relaxed);
        if let Some(c) = self.client.lock().expect("not poisoned").as_ref() {
            s.flood_waits = c.flood_waits();
            s.dc = Some(c.home_dc());
        }
        if *self.pause.borrow() && s.state == AccountPhase::Running {
            s.state = AccountPhase::Paused;
        }
        s
    }

    fn set_state(&self, state: AccountPhase) {
        self.status.lock().expect("not poisoned").state = state;
    }
}

/// A proxy as shown to operators (no credentials, no secret).
pub fn describe_proxy(p: &Proxy) -> String {
    match p {
        Proxy::Socks5(s) => format!("socks5://{}", s.addr),
        Proxy::MtProxy { addr, .. } => format!("mtproxy://{addr}"),
    }
}

/// How an account's run ended.
enum End {
    /// Stop requested.
    Stopped,
    /// The authorization is gone.
    Fatal(String),
    /// A user account without a way to get its login code.
    NeedsLogin,
    /// Anything else: try again later.
    Retry(String),
}

fn classify(e: &InvocationError) -> End {
    match e {
        InvocationError::Rpc { name, .. } if FATAL_ERRORS.contains(&name.as_str()) => {
            End::Fatal(e.to_string())
        }
        _ => End::Retry(e.to_string()),
    }
}

async fn supervise(fleet: FleetHandle, slot: Arc<Slot>) {
    let name = slot.account.name().to_string();
    let mut stop = slot.stop.subscribe();
    let mut attempt = 0u32;
    loop {
        if *stop.borrow() {
            break;
        }
        slot.set_state(AccountPhase::Starting);
        let end = tokio::select! {
            end = crate::unwind::catch_panic(run_account(&fleet, &slot)) => end.unwrap_or_else(|panic| {
                // A bug: the account restarts like after any other failure.
                End::Retry(format!("internal error (please report): {panic}"))
            }),
            _ = stop.wait_for(|s| *s) => End::Stopped,
        };
        if let Some(c) = slot.client.lock().expect("not poisoned").take() {
            c.disconnect();
        }
        match end {
            End::Stopped => break,
            End::Fatal(reason) => {
                tracing::error!(account = %name, %reason, "authorization lost: account quarantined (change its configuration or run `fleetgram login` to bring it back)");
                slot.set_state(AccountPhase::Quarantined { reason });
                let _ = stop.wait_for(|s| *s).await;
                break;
            }
            End::NeedsLogin => {
                tracing::warn!(account = %name, "not logged in: run `fleetgram login {name}`");
                slot.set_state(AccountPhase::NeedsLogin);
                let _ = stop.wait_for(|s| *s).await;
                break;
            }
            End::Retry(error) => {
                attempt += 1;
                slot.status.lock().expect("not poisoned").restarts += 1;
                let base =
                    Duration::from_millis(500u64 << attempt.min(7)).min(Duration::from_secs(60));
                let jitter = Duration::from_millis(
                    rand::random::<u64>() % (base.as_millis() as u64 / 2 + 1),
                );
                tracing::warn!(account = %name, %error, attempt, retry_in = ?(base + jitter), "account failed; restarting");
                slot.set_state(AccountPhase::Backoff { error, attempt });
                tokio::select! {
                    _ = tokio::time::sleep(base + jitter) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        }
    }
    slot.set_state(AccountPhase::Stopped);
}

fn client_config(fleet: &FleetHandle, account: &Account) -> ClientConfig {
    let shared = &fleet.0;
    let cfg = shared.config.read().expect("not poisoned");
    let mut c = match cfg.network {
        Network::Telegram if shared.dcs.is_empty() => {
            ClientConfig::telegram(cfg.api_id, cfg.api_hash.clone())
        }
        _ => ClientConfig::with_dcs(
            cfg.api_id,
            cfg.api_hash.clone(),
            shared.dcs.clone(),
            shared.default_dc,
        ),
    };
    c.extra_rsa_keys = shared.rsa_keys.clone();
    c.transport = account.transport;
    c.proxy = account.proxy.clone();
    c.retry = Arc::new(AutoSleep {
        threshold: Duration::from_secs(account.flood.sleep_threshold),
        transient_retries: account.flood.transient_retries,
    });
    c.channel_poll_limit = account.updates.channel_poll_limit;
    c.idle_difference = Duration::from_secs(account.updates.idle_difference.max(1));
    c
}

/// The proxy an account's key was made through stays in force unless the account's own
/// `proxy:` changed: a changed global default does not move an existing key elsewhere.
fn bound_proxy(fleet: &FleetHandle, account: &Account) -> Option<Proxy> {
    let store = &fleet.0.store;
    let space = format!("fleet/{}", account.name());
    let own = account.config.proxy.clone().unwrap_or_default();
    let effective = account.proxy.as_ref().map(proxy_key).unwrap_or_default();
    let recorded = store.kv_get(&space, "proxy").ok().flatten();
    let has_key = store
        .load(account.name())
        .ok()
        .flatten()
        .is_some_and(|s| s.dcs.values().any(|d| d.auth_key.is_some()));
    if let (true, Some(rec)) = (has_key, &recorded) {
        let rec = String::from_utf8_lossy(rec).into_owned();
        let (rec_own, rec_eff) = rec.split_once('\n').unwrap_or(("", ""));
        if rec_own == own && rec_eff != effective {
            // Only the default changed: keep the route the key was created through.
            tracing::info!(account = %account.name(), "keeping the proxy this account's key was created through (set `proxy:` on the account to move it)");
            return if rec_eff.is_empty() {
                None
            } else {
                config::parse_proxy(rec_eff).ok()
            };
        }
    }
    let _ = store.kv_set(
        &space,
        "proxy",
        Some(format!("{own}\n{effective}").as_bytes()),
    );
    account.proxy.clone()
}

fn proxy_key(p: &Proxy) -> String {
    match p {
        Proxy::Socks5(s) => match &s.auth {
            Some((u, pw)) => format!("socks5://{u}:{pw}@{}", s.addr),
            None => format!("socks5://{}", s.addr),
        },
        Proxy::MtProxy { addr, secret } => {
            let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "443"));
            format!(
                "tg://proxy?server={host}&port={port}&secret={}",
                secret.to_hex()
            )
        }
    }
}

async fn run_account(fleet: &FleetHandle, slot: &Arc<Slot>) -> End {
    let account = &slot.account;
    let name = account.name().to_string();
    let mut config = client_config(fleet, account);
    config.proxy = bound_proxy(fleet, account);
    let client = match Client::new(config, fleet.0.store.clone(), &name) {
        Ok(c) => c,
        Err(e) => return End::Retry(e.to_string()),
    };
    *slot.client.lock().expect("not poisoned") = None;
    {
        let _permit = fleet.0.logins.acquire().await;
        if let Err(end) = login(fleet, account, &client).await {
            return end;
        }
    }
    let me = client.state();
    {
        let mut st = slot.status.lock().expect("not poisoned");
        st.user_id = me.user_id;
        st.dc = Some(me.home_dc);
    }
    let username = match client.get_me().await {
        Ok(fleetgram_tl::enums::User::User(u)) => u.username,
        Ok(_) => None,
        Err(e) => return classify(&e),
    };
    slot.status.lock().expect("not poisoned").username = username.clone();
    *slot.client.lock().expect("not poisoned") = Some(client.clone());
    let handle = AccountHandle {
        name: name.clone(),
        kind: account.config.kind,
        client: client.clone(),
        user_id: me.user_id.unwrap_or_default(),
        username,
        account: account.clone(),
        fleet: fleet.clone(),
        store: fleet.0.store.clone(),
    };
    let handlers = match fleet.0.factory.attach(handle).await {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::error!(account = %name, error = %e, "scripts failed to load; the account runs without them");
            None
        }
    };
    let end = pump(slot, &client, handlers.as_ref()).await;
    if let Some(h) = &handlers {
        h.stop().await;
    }
    end
}

async fn login(fleet: &FleetHandle, account: &Account, client: &Client) -> Result<(), End> {
    let name = account.name();
    fleet.0.credentials.prepare(account);
    match client.is_authorized().await {
        Ok(true) => return Ok(()),
        Ok(false) => {}
        Err(e) => return Err(classify(&e)),
    }
    match account.config.kind {
        AccountKind::Bot => {
            let token = account
                .config
                .token
                .clone()
                .or_else(|| fleet.0.credentials.bot_token(name))
                .ok_or_else(|| End::Fatal("no bot token".into()))?;
            client.bot_sign_in(&token).await.map_err(sign_in_end)?;
        }
        AccountKind::User => {
            let phone = account.config.phone.clone().unwrap_or_default();
            let token = client
                .request_login_code(&phone)
                .await
                .map_err(sign_in_end)?;
            let Some(code) = fleet.0.credentials.login_code(name, &phone).await else {
                return Err(End::NeedsLogin);
            };
            match client.sign_in(&token, &code).await {
                Ok(_) => {}
                Err(crate::auth::SignInError::PasswordRequired(p)) => {
                    let Some(pw) = &account.config.password else {
                        return Err(End::NeedsLogin);
                    };
                    client.check_password(p, pw).await.map_err(sign_in_end)?;
                }
                Err(crate::auth::SignInError::SignUpRequired(t)) => {
                    let first = account
                        .config
                        .first_name
                        .clone()
                        .unwrap_or_else(|| name.to_string());
                    client.sign_up(&t, &first, "").await.map_err(sign_in_end)?;
                }
                Err(e) => return Err(sign_in_end(e)),
            }
        }
    }
    tracing::info!(account = %name, "logged in");
    Ok(())
}

fn sign_in_end(e: crate::auth::SignInError) -> End {
    use crate::auth::SignInError as S;
    match e {
        S::Other(e) => classify(&e),
        S::InvalidToken => End::Fatal("the bot token is invalid".into()),
        S::InvalidPhone(p) => End::Fatal(format!("the phone number is invalid: {p}")),
        S::InvalidPassword => End::Fatal("the 2FA password is wrong".into()),
        other => End::Retry(other.to_string()),
    }
}

/// Feeds updates to the handlers until the stream ends or a stop/pause is requested.
async fn pump(slot: &Arc<Slot>, client: &Client, handlers: Option<&Arc<dyn Handlers>>) -> End {
    let name = slot.account.name().to_string();
    let mut stream = match client.updates().await {
        Ok(s) => s,
        Err(e) => return classify(&e),
    };
    slot.set_state(AccountPhase::Running);
    tracing::info!(account = %name, "running");
    let mut stop = slot.stop.subscribe();
    let mut pause = slot.pause.subscribe();
    // Per chat in order, other chats concurrently: the same runner as the Rust dispatcher.
    let mut runner = handlers.map(|h| {
        let h = h.clone();
        crate::dispatch::OrderedRunner::new(&name, move |d| h.handle(d))
    });
    let pending =
        |r: &Option<crate::dispatch::OrderedRunner>| r.as_ref().map_or(0, |r| r.pending());
    let end = loop {
        let paused = *pause.borrow();
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break End::Stopped,
            d = async { runner.as_mut().expect("pending").finished().await }, if pending(&runner) > 0 => {
                slot.queue.fetch_sub(1, Ordering::Relaxed);
                if let Err(e) = stream.ack(&d) {
                    break End::Retry(e.to_string());
                }
            }
            _ = pause.changed() => {}
            next = stream.next(), if !paused => {
                let d = match next {
                    None => break End::Retry("the update stream ended".into()),
                    Some(Err(e)) => break classify(&e),
                    Some(Ok(d)) => d,
                };
                slot.updates.fetch_add(1, Ordering::Relaxed);
                slot.status.lock().expect("not poisoned").last_update = Some(SystemTime::now());
                match (&mut runner, handlers) {
                    (Some(r), Some(h)) => {
                        let d = Arc::new(d);
                        h.observe(&d);
                        if h.wants(d.kind()) {
                            slot.queue.fetch_add(1, Ordering::Relaxed);
                            r.submit(d);
                        } else if let Err(e) = stream.ack(&d) {
                            break End::Retry(e.to_string());
                        }
                    }
                    _ => {
                        if let Err(e) = stream.ack(&d) {
                            break End::Retry(e.to_string());
                        }
                    }
                }
            }
        }
    };
    // Let running handlers finish (bounded), then commit what they acknowledged.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    if let Some(r) = runner.as_mut() {
        while r.pending() > 0 {
            match tokio::time::timeout_at(deadline, r.finished()).await {
                Ok(d) => {
                    slot.queue.fetch_sub(1, Ordering::Relaxed);
                    let _ = stream.ack(&d);
                }
                Err(_) => {
                    tracing::warn!(account = %name, in_flight = r.pending(), "handlers still running at shutdown; their updates will be redelivered");
                    break;
                }
            }
        }
    }
    slot.queue.store(0, Ordering::Relaxed);
    if let Err(e) = stream.flush() {
        tracing::error!(account = %name, error = %e, "committing the update state failed");
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AccountState as Stored, DcState, MemoryStore};

    struct NoScripts;
    impl HandlerFactory for NoScripts {
        fn attach(
            &self,
            _: AccountHandle,
        ) -> BoxFuture<'static, Result<Arc<dyn Handlers>, String>> {
            Box::pin(async { Err("none".to_string()) })
        }
    }
    struct NoCreds;
    impl Credentials for NoCreds {
        fn login_code(&self, _: &str, _: &str) -> BoxFuture<'static, Option<String>> {
            Box::pin(async { None })
        }
    }

    fn account(global: Option<&str>, own: Option<&str>) -> Account {
        let mut yaml = String::from("network: local\n");
        if let Some(g) = global {
            yaml.push_str(&format!("proxy: {g}\n"));
        }
        yaml.push_str("accounts:\n  - name: a\n    kind: bot\n    username: a_bot\n");
        if let Some(o) = own {
            yaml.push_str(&format!("    proxy: {o}\n"));
        }
        FleetConfig::parse(std::path::Path::new("/x.yaml"), &yaml, &|_| None)
            .unwrap()
            .accounts
            .remove(0)
    }

    #[tokio::test]
    async fn a_key_keeps_its_proxy_unless_the_account_changes_it() {
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        let config = FleetConfig::parse(
            std::path::Path::new("/x.yaml"),
            "network: local\naccounts: []\n",
            &|_| None,
        )
        .unwrap();
        let fleet = Fleet::start(
            config,
            DcTable {
                dcs: HashMap::new(),
                default_dc: 1,
                rsa_keys: vec![],
            },
            store.clone(),
            Arc::new(NoScripts),
            Arc::new(NoCreds),
        );
        let h = fleet.handle();
        let p1 = "socks5://127.0.0.1:1081";
        let p2 = "socks5://127.0.0.1:1082";
        let p3 = "socks5://127.0.0.1:1083";
        // First start, no key yet: the default proxy is used and recorded.
        let got = bound_proxy(&h, &account(Some(p1), None));
        assert_eq!(
            got.as_ref().map(describe_proxy).as_deref(),
            Some("socks5://127.0.0.1:1081")
        );
        // The key now exists; the default proxy changes: the key stays on its proxy.
        let mut st = Stored::new(1);
        st.dcs.insert(
            1,
            DcState {
                auth_key: Some(vec![1; 256]),
                ..DcState::default()
            },
        );
        store.save("a", &st).unwrap();
        let got = bound_proxy(&h, &account(Some(p2), None));
        assert_eq!(
            got.as_ref().map(describe_proxy).as_deref(),
            Some("socks5://127.0.0.1:1081")
        );
        // The account's own proxy changes: that is explicit, it moves.
        let got = bound_proxy(&h, &account(Some(p2), Some(p3)));
        assert_eq!(
            got.as_ref().map(describe_proxy).as_deref(),
            Some("socks5://127.0.0.1:1083")
        );
        let got = bound_proxy(&h, &account(Some(p2), Some(p3)));
        assert_eq!(
            got.as_ref().map(describe_proxy).as_deref(),
            Some("socks5://127.0.0.1:1083")
        );
    }
}
