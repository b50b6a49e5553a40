//! `fleetgram run`: the main job. Opens the store, starts the local DC for `network: local`,
//! loads scripts, runs the fleet, follows changes of the configuration file, and stops
//! gracefully on Ctrl-C / SIGTERM (a second signal exits at once; sled stays consistent).

use crate::config::HostConfig;
use crate::local::{self, LocalNetwork};
use fleetgram_engine::fleet::config::{FleetConfig, Network};
use fleetgram_engine::fleet::{Credentials, DcTable, Fleet, FleetHandle, HandlerFactory};
use fleetgram_engine::store::{SessionStore, SledStore};
use fleetgram_scripting::{Limits, ScriptHost};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long stopping may take: handlers get their time limit to finish, commits a little
/// more; then the host exits all the same.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(40);

/// Options of `run` besides the file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Where to write the local DC's info (overrides `local.info_file`).
    pub localdc_info: Option<PathBuf>,
    /// Follow changes of the configuration file.
    pub watch_config: bool,
    /// Serve the operator view here (overrides `http.listen`).
    pub http: Option<std::net::SocketAddr>,
}

/// Credentials for the real Telegram inside `run`: no one to type a code, so user accounts
/// that are not logged in wait for `fleetgram login`.
struct NoPrompt;

impl Credentials for NoPrompt {
    fn login_code(
        &self,
        _: &str,
        _: &str,
    ) -> fleetgram_engine::fleet::BoxFuture<'static, Option<String>> {
        Box::pin(async { None })
    }
}

/// Holds script loading back until `ready` (the local demo's chats exist).
struct Gate {
    inner: Arc<dyn HandlerFactory>,
    ready: tokio::sync::watch::Receiver<bool>,
}

impl HandlerFactory for Gate {
    fn attach(
        &self,
        account: fleetgram_engine::fleet::AccountHandle,
    ) -> fleetgram_engine::fleet::BoxFuture<
        'static,
        Result<Arc<dyn fleetgram_engine::fleet::Handlers>, String>,
    > {
        let mut ready = self.ready.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let _ = ready.wait_for(|r| *r).await;
            inner.attach(account).await
        })
    }
}

/// The sled database of the host.
pub fn sessions_path(config: &FleetConfig) -> PathBuf {
    config.store.join("sessions")
}

/// A running host (what tests drive; `run` waits on it).
pub struct Host {
    /// The fleet.
    pub fleet: Fleet,
    /// The scripts.
    pub scripts: ScriptHost,
    /// The local network, with `network: local`.
    pub local: Option<Arc<LocalNetwork>>,
    /// The store.
    pub store: Arc<SledStore>,
    /// Where the operator view listens, when it runs.
    pub http: Option<std::net::SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    http_file: Option<PathBuf>,
}

/// Where a running host says its operator view listens (what `fleetgram accounts` reads).
pub fn http_file(config: &FleetConfig) -> PathBuf {
    config.store.join("http.json")
}

impl Host {
    /// Starts everything `config` describes.
    ///
    /// # Errors
    /// The store is locked or broken, or the local DC cannot start.
    pub async fn start(mut config: HostConfig, opts: &RunOptions) -> Result<Host, String> {
        if let Some(p) = &opts.localdc_info {
            config.local.info_file = Some(p.clone());
        }
        std::fs::create_dir_all(&config.store)
            .map_err(|e| format!("{}: {e}", config.store.display()))?;
        let store = Arc::new(SledStore::open(sessions_path(&config)).map_err(|e| e.to_string())?);
        // Everything that can fail is checked before anything shared (the local DC's info
        // file, the operator view's address file) is written: the operator view's port is
        // taken first.
        let listen = opts.http.or_else(|| config.http.as_ref().map(|h| h.listen));
        let listener = match listen {
            Some(listen) => Some(
                tokio::net::TcpListener::bind(listen)
                    .await
                    .map_err(|e| format!("operator view on {listen}: {e}"))?,
            ),
            None => None,
        };
        let (local, table, credentials): (
            Option<Arc<LocalNetwork>>,
            DcTable,
            Arc<dyn Credentials>,
        ) = match config.network {
            Network::Local => {
                let net = Arc::new(LocalNetwork::start(&config).await?);
                let info = net.dc.info();
                tracing::info!(
                    dcs = ?info.dcs.iter().map(|d| format!("{}={}", d.id, d.addr)).collect::<Vec<_>>(),
                    login_code = %net.code,
                    "local DC ready; any MTProto client can join with its RSA key (see the info file)"
                );
                let creds = net.credentials();
                (Some(net.clone()), net.table.clone(), creds)
            }
            Network::Telegram => (
                None,
                DcTable {
                    dcs: Default::default(),
                    default_dc: 2,
                    rsa_keys: vec![],
                },
                Arc::new(NoPrompt),
            ),
        };
        let scripts = ScriptHost::new(Limits::default(), true);
        // On the local network the demo's chats are made first: scripts start once they
        // exist (a poster's first run must find its channel). Updates wait meanwhile.
        let (ready_tx, ready_rx) = tokio::sync::watch::channel(local.is_none());
        let factory: Arc<dyn HandlerFactory> = Arc::new(Gate {
            inner: Arc::new(scripts.clone()),
            ready: ready_rx,
        });
        let fleet = Fleet::start(
            config.fleet.clone(),
            table,
            store.clone() as Arc<dyn SessionStore>,
            factory,
            credentials,
        );
        let mut tasks = Vec::new();
        if let Some(net) = &local {
            let (f, c, n) = (fleet.handle(), config.clone(), net.clone());
            tasks.push(tokio::spawn(async move {
                local::provision_chats(&f, &c).await;
                ready_tx.send_replace(true);
                local::traffic(n, f, c).await;
            }));
        }
        // The operator view.
        let mut http = None;
        let mut http_path = None;
        if let Some(listener) = listener {
            let token = config
                .http
                .as_ref()
                .and_then(|h| h.token.clone())
                .or_else(|| {
                    let t = std::env::var("FLEETGRAM_HTTP_TOKEN").ok()?;
                    if t.len() < 16 {
                        tracing::warn!(
                            length = t.len(),
                            "FLEETGRAM_HTTP_TOKEN is shorter than 16 characters and is ignored: the operator view's actions (pause, resume, reload, run now) are disabled; use a longer token"
                        );
                        return None;
                    }
                    Some(t)
                });
            let local_dcs = local
                .as_ref()
                .map(|n| {
                    n.dc.info()
                        .dcs
                        .iter()
                        .map(|d| (d.id, d.addr.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let view = crate::operator::View::with_hosts(
                fleet.handle(),
                scripts.clone(),
                local_dcs,
                token,
                config
                    .http
                    .as_ref()
                    .map(|h| h.allowed_hosts.clone())
                    .unwrap_or_default(),
            );
            let (addr, t) = crate::operator::serve_on(listener, view)
                .map_err(|e| format!("operator view: {e}"))?;
            tasks.extend(t);
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "the operator view listens beyond this machine");
            }
            tracing::info!(url = %format!("http://{addr}/"), "operator view");
            let path = http_file(&config);
            if let Err(e) = std::fs::write(
                &path,
                serde_json::json!({ "addr": addr.to_string(), "pid": std::process::id() })
                    .to_string(),
            ) {
                tracing::warn!(path = %path.display(), error = %e, "cannot record the operator view's address");
            }
            http = Some(addr);
            http_path = Some(path);
        }
        Ok(Host {
            fleet,
            scripts,
            local,
            store,
            http,
            tasks,
            http_file: http_path,
        })
    }

    /// A handle on the fleet.
    pub fn handle(&self) -> FleetHandle {
        self.fleet.handle()
    }

    /// Stops everything: demo traffic, accounts (handlers finish, state is committed), the
    /// local DC.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(p) = &self.http_file {
            let _ = std::fs::remove_file(p);
        }
        let deadline = tokio::time::Instant::now() + SHUTDOWN_BOUND;
        if tokio::time::timeout_at(deadline, self.fleet.shutdown())
            .await
            .is_err()
        {
            tracing::error!(
                seconds = SHUTDOWN_BOUND.as_secs(),
                "accounts did not stop in time (a handler still running, or the store cannot be written); exiting anyway: what was not committed is fetched again at the next start"
            );
        }
        // The store's final flush, off the runtime and within the same bound (a full disk
        // must not hold the exit).
        let store = self.store.clone();
        let flush = tokio::task::spawn_blocking(move || store.flush());
        match tokio::time::timeout_at(deadline + std::time::Duration::from_secs(5), flush).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "flushing the store failed"),
            Ok(Err(_)) | Err(_) => {
                tracing::error!("flushing the store did not finish; exiting anyway")
            }
        }
        if let Some(net) = self.local {
            match Arc::try_unwrap(net) {
                Ok(net) => net.dc.shutdown().await,
                Err(_) => tracing::debug!("local DC still referenced; it stops with the process"),
            }
        }
    }
}

/// Runs the host until `stop` resolves.
///
/// # Errors
/// Start-up failed.
pub async fn run_until(
    config_path: &Path,
    opts: RunOptions,
    stop: impl Future<Output = ()>,
) -> Result<(), String> {
    let config = HostConfig::load(config_path).map_err(|e| e.to_string())?;
    let first = config.clone();
    let host = Host::start(config, &opts).await?;
    let progress = tokio::spawn(show_startup(host.handle()));
    let watch = opts.watch_config.then(|| {
        let fleet = host.handle();
        let path = config_path.to_path_buf();
        tokio::spawn(watch_config(path, fleet, first))
    });
    stop.await;
    progress.abort();
    tracing::info!("stopping: handlers finish, state is committed, connections close (signal again to exit at once)");
    if let Some(w) = watch {
        w.abort();
    }
    host.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Shows the accounts coming up: a progress bar on a terminal, log lines otherwise.
async fn show_startup(fleet: FleetHandle) {
    use fleetgram_engine::fleet::AccountPhase as S;
    use std::io::IsTerminal;
    let settled = |s: &S| !matches!(s, S::Starting | S::Backoff { .. });
    let started = std::time::Instant::now();
    let total = fleet.status().len() as u64;
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} logging in {pos}/{len} accounts {wide_bar} {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut last_logged = 0;
    loop {
        let st = fleet.status();
        let done = st.iter().filter(|s| settled(&s.state)).count() as u64;
        match &bar {
            Some(b) => {
                b.set_length(st.len() as u64);
                b.set_position(done);
            }
            None if done >= last_logged + 100
                || (done == st.len() as u64 && done != last_logged) =>
            {
                tracing::info!(done, total = st.len(), "accounts logged in");
                last_logged = done;
            }
            None => {}
        }
        if done == st.len() as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let st = fleet.status();
    let running = st.iter().filter(|s| s.state == S::Running).count();
    tracing::info!(
        running,
        total = st.len(),
        seconds = started.elapsed().as_secs_f64(),
        "fleet up"
    );
}

/// Applies changes of the configuration file; a broken edit is reported and ignored.
async fn watch_config(path: PathBuf, fleet: FleetHandle, first: HostConfig) {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last = mtime(&path);
    let applier = ConfigApplier { fleet, first };
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = mtime(&path);
        if now == last {
            continue;
        }
        last = now;
        match HostConfig::load(&path) {
            Ok(c) => applier.apply(c).await,
            Err(e) => {
                tracing::error!(error = %e, "configuration change ignored; the fleet keeps running as before")
            }
        }
    }
}

struct ConfigApplier {
    fleet: FleetHandle,
    /// The configuration the host started with.
    first: HostConfig,
}

impl ConfigApplier {
    async fn apply(&self, new: HostConfig) {
        for key in restart_only_changes(&self.first, &new) {
            tracing::warn!(
                key,
                "configuration change not applied to the running host: `{key}` takes effect after a restart"
            );
        }
        let (started, stopped, restarted) = self.fleet.apply(new.fleet).await;
        tracing::info!(?started, ?stopped, ?restarted, "configuration reloaded");
    }
}

/// The keys of the fleet file that changed between `old` and `new` and that a running host
/// cannot apply (the accounts can be).
pub fn restart_only_changes(old: &HostConfig, new: &HostConfig) -> Vec<&'static str> {
    let mut out = Vec::new();
    if old.store != new.store {
        out.push("store");
    }
    if old.network != new.network {
        out.push("network");
    }
    if (old.api_id, &old.api_hash) != (new.api_id, &new.api_hash) {
        out.push("api_id/api_hash");
    }
    if old.local != new.local {
        out.push("local");
    }
    if old.http != new.http {
        out.push("http");
    }
    if old.log != new.log {
        out.push("log");
    }
    out
}

/// Resolves on Ctrl-C or SIGTERM; a second signal exits the process at once.
pub async fn shutdown_signal() {
    wait_signal().await;
    tokio::spawn(async {
        wait_signal().await;
        eprintln!("second signal: exiting now");
        std::process::exit(130);
    });
}

async fn wait_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_a_running_host_cannot_apply_are_named() {
        let parse =
            |t: &str| HostConfig::parse(Path::new("/f/accounts.yaml"), t, &|_| None).unwrap();
        let base = "network: local\naccounts:\n  - { name: a, kind: bot, username: a_bot }\n";
        let old = parse(base);
        assert!(restart_only_changes(&old, &parse(base)).is_empty());
        // Accounts can change at run time; the store and the local DC cannot.
        let accounts_only = base.replace("a_bot", "b_bot");
        assert!(restart_only_changes(&old, &parse(&accounts_only)).is_empty());
        let moved = format!("store: elsewhere\nlocal: {{ dcs: 3 }}\n{base}");
        assert_eq!(
            restart_only_changes(&old, &parse(&moved)),
            vec!["store", "local"]
        );
    }
}
