//! Scripts of the fleet: loads each account's scripts, dispatches its updates to them, runs
//! their schedules, and reloads them when their files change.
//!
//! Hot reload keeps the last good version (../shared/STYLE.md point 13): a change is
//! debounced, the new version is loaded beside the old one and swapped in only if it loads;
//! each update is dispatched to the version current when it arrives, so an update is
//! handled once, by the old or the new version. Schedules of a replaced version stop after
//! their current run; the new version's start from the persisted last runs.

use crate::api::{JobRun, ScriptCtx};
use crate::event::EventData;
use crate::lua::LuaVm;
use crate::rhai::RhaiVm;
use crate::vm::{Limits, ScriptError, Timing, Vm};
use chrono::{DateTime, TimeZone, Utc};
use fleetgram_engine::fleet::{AccountHandle, BoxFuture, HandlerFactory, Handlers};
use fleetgram_engine::updates::{Delivered, UpdateKind};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

/// Where every script's log lines also go: `(account, script, line)`.
pub type HostLogSink = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

/// How long after a missed scheduled time its run still fires (once).
pub const GRACE: Duration = Duration::from_secs(600);

/// How much longer than a handler's time limit the host waits for its script's thread.
const STUCK_GRACE: Duration = Duration::from_secs(5);
/// How often the host looks whether a script it waits for is stuck.
const STUCK_CHECK: Duration = Duration::from_millis(250);

/// How long file events are collected before reloading.
const DEBOUNCE: Duration = Duration::from_millis(80);

/// Counters of one script.
#[derive(Debug, Default)]
pub struct ScriptStats {
    /// Handler runs.
    pub handled: AtomicU64,
    /// Handler runs that failed.
    pub errors: AtomicU64,
    /// Total handler time, nanoseconds.
    pub busy_ns: AtomicU64,
    /// Job runs.
    pub jobs_run: AtomicU64,
    /// The last error, `file:line: message`.
    pub last_error: Mutex<Option<String>>,
    /// Handler durations.
    pub latency: fleetgram_engine::metrics::Histogram,
}

/// A script as the host keeps it: the current version and its bookkeeping.
pub struct Script {
    /// The file.
    pub path: PathBuf,
    ctx: ScriptCtx,
    limits: Limits,
    vm: RwLock<Arc<dyn Vm>>,
    generation: AtomicU64,
    stopped: AtomicBool,
    /// The file was deleted (the script is unloaded until it is back).
    removed: AtomicBool,
    wake: tokio::sync::watch::Sender<u64>,
    /// Looks, while handlers run, whether they should still be waited for.
    watchdog: Watchdog,
    /// Counters.
    pub stats: ScriptStats,
}

/// One timer per script instead of one per update: while any of the script's handler runs
/// is in flight, a task wakes every [`STUCK_CHECK`] and has the waiting dispatches look
/// whether the script is stuck or past their bound; with nothing in flight it sleeps.
#[derive(Default)]
struct Watchdog(Arc<WatchState>);

#[derive(Default)]
struct WatchState {
    /// Dispatches waiting for the script's thread.
    in_flight: std::sync::atomic::AtomicUsize,
    /// Something is in flight again (or the script is gone).
    start: tokio::sync::Notify,
    /// A check is due.
    tick: tokio::sync::Notify,
    started: AtomicBool,
    closed: AtomicBool,
}

impl Watchdog {
    /// A dispatch begins waiting; the guard ends it.
    fn enter(&self) -> WatchGuard<'_> {
        let st = &self.0;
        if !st.started.swap(true, Ordering::Relaxed) {
            tokio::spawn(watch(self.0.clone()));
        }
        if st.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            st.start.notify_one();
        }
        WatchGuard(st)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Relaxed);
        self.0.start.notify_one();
    }
}

struct WatchGuard<'a>(&'a WatchState);

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn watch(st: Arc<WatchState>) {
    loop {
        if st.closed.load(Ordering::Relaxed) {
            return;
        }
        if st.in_flight.load(Ordering::Acquire) == 0 {
            st.start.notified().await;
            continue;
        }
        tokio::time::sleep(STUCK_CHECK).await;
        st.tick.notify_waiters();
    }
}

/// What the operator view shows of a script.
#[derive(Debug, Clone)]
pub struct ScriptStatus {
    /// The account.
    pub account: String,
    /// The file.
    pub file: String,
    /// `lua` or `rhai`.
    pub language: String,
    /// Loaded versions so far (1 = never reloaded).
    pub generation: u64,
    /// Handlers registered.
    pub handlers: usize,
    /// Jobs registered.
    pub jobs: usize,
    /// Handler runs.
    pub handled: u64,
    /// Failed handler runs.
    pub errors: u64,
    /// Schedule runs.
    pub jobs_run: u64,
    /// Mean handler time.
    pub mean_latency: Duration,
    /// The last error.
    pub last_error: Option<String>,
}

/// Loads a script file (by extension).
///
/// # Errors
/// An unknown extension, or the script's own error.
pub async fn load_vm(
    path: &Path,
    ctx: ScriptCtx,
    limits: Limits,
) -> Result<Arc<dyn Vm>, ScriptError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("lua") => Ok(LuaVm::start(path, ctx, limits).await? as Arc<dyn Vm>),
        Some("rhai") => Ok(RhaiVm::start(path, ctx, limits).await? as Arc<dyn Vm>),
        _ => Err(ScriptError::new(
            path.display().to_string(),
            None,
            "unknown script type (expected .lua or .rhai)",
        )),
    }
}

impl Script {
    /// Loads `path` for `ctx` and starts its schedules.
    ///
    /// # Errors
    /// The script failed to load.
    pub async fn start(
        path: &Path,
        ctx: ScriptCtx,
        limits: Limits,
    ) -> Result<Arc<Script>, ScriptError> {
        let vm = load_vm(path, ctx.clone(), limits).await?;
        let script = Arc::new(Script {
            path: path.to_path_buf(),
            ctx,
            limits,
            vm: RwLock::new(vm),
            generation: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            wake: tokio::sync::watch::channel(1).0,
            watchdog: Watchdog::default(),
            stats: ScriptStats::default(),
        });
        script.start_jobs();
        Ok(script)
    }

    /// A script whose file did not load: no handlers until its file is saved and loads
    /// (generation 0), its error as the last error.
    pub fn failed(path: &Path, ctx: ScriptCtx, limits: Limits, error: &ScriptError) -> Arc<Script> {
        let script = Arc::new(Script {
            path: path.to_path_buf(),
            ctx,
            limits,
            vm: RwLock::new(Arc::new(Unloaded::failed(path))),
            generation: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            wake: tokio::sync::watch::channel(0).0,
            watchdog: Watchdog::default(),
            stats: ScriptStats::default(),
        });
        script.stats.errors.fetch_add(1, Ordering::Relaxed);
        *script.stats.last_error.lock().expect("not poisoned") = Some(error.to_string());
        script
    }

    /// The current version.
    pub fn vm(&self) -> Arc<dyn Vm> {
        self.vm.read().expect("not poisoned").clone()
    }

    /// The loaded version number.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether any handler wants `kind`.
    pub fn wants(&self, kind: UpdateKind) -> bool {
        self.vm()
            .handlers()
            .iter()
            .any(|h| h.kind == kind || h.kind == UpdateKind::Raw)
    }

    fn record_error(&self, e: &ScriptError) {
        tracing::error!(account = %self.ctx.account.name, script = %self.ctx.script, error = %e, "script error");
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        *self.stats.last_error.lock().expect("not poisoned") = Some(e.to_string());
        // Logged once (above); the script's own log sink gets it too.
        self.ctx.to_sink("error", &e.to_string());
    }

    /// Runs the handlers of the current version that want this event (given as JSON), in
    /// order.
    pub async fn dispatch(&self, kind: UpdateKind, ev: &Arc<Json>) {
        self.dispatch_event(&EventData::from_json(kind, (**ev).clone()))
            .await;
    }

    /// Runs the handlers of the current version that want this event, in order, on the
    /// script's thread. The host checks the filters it can; it waits no longer than the
    /// handlers' time limits (plus a grace), and not at all for a script whose thread is
    /// stuck past its limit (inside a library call): such a script is reported, its
    /// updates are passed over, and the account goes on.
    pub async fn dispatch_event(&self, ev: &Arc<EventData>) {
        let vm = self.vm();
        let me = self.ctx.account.username.as_deref();
        let kind = ev.kind;
        let mut wanted = Vec::new();
        for (i, h) in vm.handlers().iter().enumerate() {
            if h.kind != kind && h.kind != UpdateKind::Raw {
                continue;
            }
            match crate::filter::host_verdict(&h.filter, ev, me) {
                Some(false) => {}
                Some(true) => wanted.push((i, false)),
                None => wanted.push((i, true)),
            }
        }
        if wanted.is_empty() {
            return;
        }
        if let Some(busy) = self.stuck_for() {
            self.record_error(&self.stuck(busy));
            return;
        }
        // The handlers may wait (for Telegram, a conversation) as long as their limits
        // allow; the host stops waiting for them only when the script's thread has been
        // running code past its time limit (stuck inside a library call), or past every
        // handler's limits in all.
        let n = wanted.len() as u32;
        let bound = (self.limits.timeout + self.limits.max_wait) * n + STUCK_GRACE;
        let hard = tokio::time::Instant::now() + bound;
        let run = vm
            .clone()
            .run_handlers(wanted, ev.clone(), me.map(str::to_string));
        tokio::pin!(run);
        let _watched = self.watchdog.enter();
        let outcomes = loop {
            tokio::select! {
                biased;
                o = &mut run => break o,
                _ = self.watchdog.0.tick.notified() => {
                    let busy = vm.busy_for().filter(|b| *b > self.limits.timeout + STUCK_GRACE);
                    if busy.is_some() || tokio::time::Instant::now() >= hard {
                        self.record_error(&self.stuck(busy.unwrap_or(bound)));
                        return;
                    }
                }
            }
        };
        for o in outcomes {
            self.stats.handled.fetch_add(1, Ordering::Relaxed);
            self.stats
                .busy_ns
                .fetch_add(o.took.as_nanos() as u64, Ordering::Relaxed);
            self.stats.latency.observe(o.took);
            if let Err(e) = o.result {
                self.record_error(&e);
            }
        }
    }

    fn stuck(&self, busy: Duration) -> ScriptError {
        ScriptError::new(
            self.path.display().to_string(),
            None,
            format!(
                "stuck: the script has been running one piece of code for {}s, past its {}s limit (inside a library call?); its updates are passed over until it returns or is reloaded",
                busy.as_secs(),
                self.limits.timeout.as_secs()
            ),
        )
    }

    /// How long the script has been stuck in one piece of code past its time limit.
    pub fn stuck_for(&self) -> Option<Duration> {
        self.vm().busy_for().filter(|b| *b > self.limits.timeout)
    }

    /// Loads the file again; swaps the new version in only if it loads.
    ///
    /// # Errors
    /// The new version's error (the old one keeps running).
    pub async fn reload(self: &Arc<Self>) -> Result<u64, ScriptError> {
        match load_vm(&self.path, self.ctx.clone(), self.limits).await {
            Ok(vm) => {
                *self.vm.write().expect("not poisoned") = vm;
                if self.removed.swap(false, Ordering::SeqCst) {
                    self.stopped.store(false, Ordering::SeqCst);
                }
                let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
                self.wake.send_replace(g);
                self.start_jobs();
                self.watch_named_channels();
                tracing::info!(account = %self.ctx.account.name, script = %self.ctx.script, generation = g, "script reloaded");
                Ok(g)
            }
            Err(e) => {
                tracing::error!(account = %self.ctx.account.name, script = %self.ctx.script, error = %e, "reload failed; the previous version keeps running");
                *self.stats.last_error.lock().expect("not poisoned") = Some(e.to_string());
                self.ctx.to_sink("error", &e.to_string());
                Err(e)
            }
        }
    }

    /// Asks the account to poll the channels its handlers' filters name (Telegram does not
    /// push every post of a big channel), and resolves the peers they name by reference
    /// (`chats{"@group"}`): an unknown name is this script's error.
    fn watch_named_channels(self: &Arc<Self>) {
        let client = self.ctx.account.client.clone();
        let mut named = Vec::new();
        for h in self.vm().handlers() {
            for ch in h.filter.channels_named() {
                client.watch_channel(ch);
            }
            named.extend(crate::filter::named(&h.filter));
        }
        if named.is_empty() {
            return;
        }
        let me = Arc::downgrade(self);
        let generation = self.generation();
        tokio::spawn(async move {
            // Names that do not resolve yet (a chat created a moment later, a username not
            // taken yet) are tried again, less and less often, while this version runs.
            let mut pending: Vec<(Arc<crate::filter::Named>, String)> = named
                .iter()
                .flat_map(|n| n.refs.iter().map(move |r| (n.clone(), r.clone())))
                .collect();
            let mut delay = Duration::from_secs(1);
            let mut reported = std::collections::HashSet::new();
            loop {
                let mut still = Vec::new();
                for (n, r) in pending {
                    let resolved = client.resolve_peer(&r).await.map(|p| match p {
                        fleetgram_tl::enums::InputPeer::InputPeerSelf => client.user_id(),
                        p => fleetgram_engine::peers::input_peer_marked_id(&p),
                    });
                    match resolved {
                        Ok(Some(id)) => {
                            n.ids.write().expect("not poisoned").insert(id);
                            let channel = matches!(
                                fleetgram_engine::peers::unmark(id).0,
                                fleetgram_engine::peers::PeerKind::Channel
                            );
                            if channel && !n.senders {
                                client.watch_channel(id);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            let Some(s) = me.upgrade() else { return };
                            if reported.insert(r.clone()) {
                                let what = if n.senders { "from_users" } else { "chats" };
                                s.record_error(&ScriptError::new(
                                    s.path.display().to_string(),
                                    None,
                                    format!("{what}({r:?}): {e}; the filter matches nothing there until the name resolves (tried again, less and less often)"),
                                ));
                            }
                            still.push((n, r));
                        }
                    }
                }
                if still.is_empty() {
                    return;
                }
                pending = still;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(300));
                match me.upgrade() {
                    Some(s)
                        if s.generation() == generation && !s.stopped.load(Ordering::SeqCst) => {}
                    _ => return,
                }
            }
        });
    }

    /// Stops the schedules (a running job finishes first).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake.send_replace(g);
    }

    /// Status for the operator view.
    pub fn status(&self) -> ScriptStatus {
        let vm = self.vm();
        let handled = self.stats.handled.load(Ordering::Relaxed);
        ScriptStatus {
            account: self.ctx.account.name.clone(),
            file: self.path.display().to_string(),
            language: vm.language().into(),
            generation: self.generation(),
            handlers: vm.handlers().len(),
            jobs: vm.jobs().len(),
            handled,
            errors: self.stats.errors.load(Ordering::Relaxed),
            jobs_run: self.stats.jobs_run.load(Ordering::Relaxed),
            mean_latency: Duration::from_nanos(
                self.stats.busy_ns.load(Ordering::Relaxed) / handled.max(1),
            ),
            last_error: self.stats.last_error.lock().expect("not poisoned").clone(),
        }
    }
}

/// One account's scripts (what the fleet host dispatches to).
pub struct AccountScripts {
    scripts: RwLock<Vec<Arc<Script>>>,
    host: Weak<HostInner>,
    /// The conversations the account's scripts have open.
    conversations: fleetgram_engine::dispatch::Waiters,
}

impl AccountScripts {
    /// The scripts.
    pub fn scripts(&self) -> Vec<Arc<Script>> {
        self.scripts.read().expect("not poisoned").clone()
    }

    /// Handles one update (what the fleet calls; also what benchmarks drive).
    pub async fn handle_update(&self, d: Arc<Delivered>) {
        dispatch_all(self.scripts(), d).await;
    }
}

/// Dispatches one update to every script that wants it (scripts run concurrently).
async fn dispatch_all(scripts: Vec<Arc<Script>>, d: Arc<Delivered>) {
    let kind = d.kind();
    if !scripts.iter().any(|s| s.wants(kind)) {
        return;
    }
    let ev = EventData::of(d, scripts.first().map(|s| &s.ctx.account.client));
    match scripts.len() {
        1 => scripts[0].dispatch_event(&ev).await,
        _ => {
            let mut set = tokio::task::JoinSet::new();
            for s in scripts {
                let ev = ev.clone();
                set.spawn(async move { s.dispatch_event(&ev).await });
            }
            while set.join_next().await.is_some() {}
        }
    }
}

impl Handlers for AccountScripts {
    fn wants(&self, kind: UpdateKind) -> bool {
        self.scripts
            .read()
            .expect("not poisoned")
            .iter()
            .any(|s| s.wants(kind))
    }

    fn handle(&self, update: Arc<Delivered>) -> BoxFuture<'static, ()> {
        let scripts = self.scripts();
        Box::pin(async move { dispatch_all(scripts, update).await })
    }

    fn observe(&self, update: &Arc<Delivered>) {
        self.conversations.offer(update);
    }

    fn stop(&self) -> BoxFuture<'static, ()> {
        let scripts = self.scripts();
        if let Some(h) = self.host.upgrade() {
            h.forget(&scripts);
        }
        for s in &scripts {
            s.stop();
        }
        Box::pin(async {})
    }
}

struct HostInner {
    limits: Limits,
    /// Directory -> scripts with a file in it.
    watched: Mutex<HashMap<PathBuf, Vec<Weak<Script>>>>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
    all: Mutex<Vec<Weak<Script>>>,
    log_sink: Option<HostLogSink>,
}

impl HostInner {
    /// Watches the directories of `script`'s files (as named and, through symlinks, where
    /// they really are) and lists the script once.
    fn watch(&self, script: &Arc<Script>) {
        let mut watched = self.watched.lock().expect("not poisoned");
        for f in script
            .vm()
            .files()
            .iter()
            .chain(std::iter::once(&script.path))
        {
            for key in file_keys(f) {
                let dir = key.parent().unwrap_or(Path::new("/")).to_path_buf();
                let list = watched.entry(dir.clone()).or_default();
                if list.is_empty() {
                    if let Some(w) = self.watcher.lock().expect("not poisoned").as_mut() {
                        use notify::Watcher;
                        if let Err(e) = w.watch(&dir, notify::RecursiveMode::NonRecursive) {
                            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch scripts for changes");
                        }
                    }
                }
                if !list.iter().any(|w| w.as_ptr() == Arc::as_ptr(script)) {
                    list.push(Arc::downgrade(script));
                }
            }
        }
        drop(watched);
        let mut all = self.all.lock().expect("not poisoned");
        all.retain(|w| w.strong_count() > 0);
        if !all.iter().any(|w| w.as_ptr() == Arc::as_ptr(script)) {
            all.push(Arc::downgrade(script));
        }
    }

    /// Takes a script off the status list (it stays watched).
    fn unlist(&self, script: &Arc<Script>) {
        self.all
            .lock()
            .expect("not poisoned")
            .retain(|w| w.strong_count() > 0 && w.as_ptr() != Arc::as_ptr(script));
    }

    fn forget(&self, scripts: &[Arc<Script>]) {
        let mut watched = self.watched.lock().expect("not poisoned");
        for list in watched.values_mut() {
            list.retain(|w| {
                w.upgrade()
                    .is_some_and(|s| !scripts.iter().any(|x| Arc::ptr_eq(x, &s)))
            });
        }
        self.all.lock().expect("not poisoned").retain(|w| {
            w.upgrade()
                .is_some_and(|s| !scripts.iter().any(|x| Arc::ptr_eq(x, &s)))
        });
    }

    /// Scripts that consist of `path` (an absolute path, as the watcher reports it).
    fn affected(&self, path: &Path) -> Vec<Arc<Script>> {
        let watched = self.watched.lock().expect("not poisoned");
        let dir = path.parent().unwrap_or(Path::new("/"));
        let mut out: Vec<Arc<Script>> = Vec::new();
        for s in watched
            .get(dir)
            .into_iter()
            .flatten()
            .filter_map(Weak::upgrade)
        {
            let mine = s
                .vm()
                .files()
                .iter()
                .chain(std::iter::once(&s.path))
                .any(|f| file_keys(f).iter().any(|k| k == path));
            if mine && !out.iter().any(|x| Arc::ptr_eq(x, &s)) {
                out.push(s);
            }
        }
        out
    }
}

/// The absolute forms of a script file by which change events can name it: the path as
/// given (made absolute against the working directory, `.` and `..` folded) and, when it
/// exists, its canonical path (symlinks followed).
pub fn file_keys(f: &Path) -> Vec<PathBuf> {
    let mut keys = vec![absolute(f)];
    if let Ok(c) = std::fs::canonicalize(f) {
        if c != keys[0] {
            keys.push(c);
        }
    }
    keys
}

/// `f` made absolute against the working directory, with `.` and `..` folded (no file
/// system access: a symlink stays as named).
pub fn absolute(f: &Path) -> PathBuf {
    let joined = if f.is_absolute() {
        f.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(f)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Loads scripts for the fleet (the [`HandlerFactory`] the binary hands to the host).
#[derive(Clone)]
pub struct ScriptHost(Arc<HostInner>);

impl ScriptHost {
    /// A host with these sandbox limits; `watch` enables hot reload. Must be called inside a
    /// tokio runtime.
    pub fn new(limits: Limits, watch: bool) -> ScriptHost {
        Self::with_log_sink(limits, watch, None)
    }

    /// Like [`ScriptHost::new`], also sending every script log line to `sink(account,
    /// script, line)`.
    pub fn with_log_sink(limits: Limits, watch: bool, sink: Option<HostLogSink>) -> ScriptHost {
        let inner = Arc::new(HostInner {
            limits,
            watched: Mutex::new(HashMap::new()),
            watcher: Mutex::new(None),
            all: Mutex::new(Vec::new()),
            log_sink: sink,
        });
        if watch {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
            let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
                if let Ok(ev) = ev {
                    if matches!(
                        ev.kind,
                        notify::EventKind::Modify(_)
                            | notify::EventKind::Create(_)
                            | notify::EventKind::Remove(_)
                    ) {
                        for p in ev.paths {
                            let _ = tx.send(p);
                        }
                    }
                }
            });
            match watcher {
                Ok(w) => {
                    *inner.watcher.lock().expect("not poisoned") = Some(w);
                    tokio::spawn(reload_loop(Arc::downgrade(&inner), rx));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "file watching unavailable; scripts will not hot-reload")
                }
            }
        }
        ScriptHost(inner)
    }

    /// Every loaded script's status.
    pub fn status(&self) -> Vec<ScriptStatus> {
        self.0
            .all
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(Weak::upgrade)
            .map(|s| s.status())
            .collect()
    }

    /// Every loaded script.
    pub fn scripts(&self) -> Vec<Arc<Script>> {
        self.0
            .all
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|s| !s.stopped.load(Ordering::SeqCst))
            .collect()
    }

    /// Every schedule of every script.
    pub fn schedules(&self) -> Vec<ScheduleStatus> {
        self.scripts().iter().flat_map(|s| s.schedules()).collect()
    }

    /// Runs schedule `key` of `account`'s scripts now (operator action).
    ///
    /// # Errors
    /// No such schedule; the job's own error.
    pub async fn run_now(&self, account: &str, key: &str) -> Result<(), String> {
        let script = self
            .scripts()
            .into_iter()
            .find(|s| s.ctx.account.name == account && s.vm().jobs().iter().any(|j| j.key == key))
            .ok_or_else(|| format!("account {account:?} has no schedule {key:?}"))?;
        script.run_job_now(key).await
    }

    /// Reloads every script now (operator action).
    pub async fn reload_all(&self) -> Vec<Result<u64, ScriptError>> {
        let scripts: Vec<Arc<Script>> = self
            .0
            .all
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut out = Vec::new();
        for s in scripts {
            out.push(s.reload().await);
        }
        out
    }

    /// Loads the scripts of `account` (what [`HandlerFactory::attach`] does), returning the
    /// concrete type.
    pub async fn load_account(
        &self,
        account: AccountHandle,
    ) -> Result<Arc<AccountScripts>, String> {
        let mut scripts = Vec::new();
        let conversations = fleetgram_engine::dispatch::Waiters::default();
        for spec in &account.account.scripts {
            let name = spec
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let sink = self.0.log_sink.clone().map(|s| {
                let (a, n) = (account.name.clone(), name.clone());
                Arc::new(move |level: &str, line: &str| s(&a, &n, &format!("{level}: {line}")))
                    as crate::api::LogSink
            });
            let ctx = ScriptCtx {
                account: account.clone(),
                script: name,
                settings: if spec.settings.is_null() {
                    Json::Object(Default::default())
                } else {
                    spec.settings.clone()
                },
                log_sink: sink,
                caps: spec.caps.clone(),
                conversations: conversations.clone(),
            };
            match Script::start(&spec.path, ctx.clone(), self.0.limits).await {
                Ok(s) => {
                    s.watch_named_channels();
                    tracing::info!(account = %account.name, script = %spec.path.display(), language = s.vm().language(), handlers = s.vm().handlers().len(), jobs = s.vm().jobs().len(), "script loaded");
                    self.0.watch(&s);
                    scripts.push(s);
                }
                Err(e) => {
                    tracing::error!(account = %account.name, error = %e, "script failed to load; saving the file loads it");
                    if let Some(sink) = &self.0.log_sink {
                        sink(
                            &account.name,
                            &spec.path.display().to_string(),
                            &format!("error: {e}"),
                        );
                    }
                    // Listed and watched all the same: fixing and saving the file loads it.
                    let s = Script::failed(&spec.path, ctx, self.0.limits, &e);
                    self.0.watch(&s);
                    scripts.push(s);
                }
            }
        }
        // A script that fails to load is reported; the others run.
        Ok(Arc::new(AccountScripts {
            scripts: RwLock::new(scripts),
            host: Arc::downgrade(&self.0),
            conversations,
        }))
    }
}

impl HandlerFactory for ScriptHost {
    fn attach(
        &self,
        account: AccountHandle,
    ) -> BoxFuture<'static, Result<Arc<dyn Handlers>, String>> {
        let host = self.clone();
        Box::pin(async move {
            host.load_account(account)
                .await
                .map(|s| s as Arc<dyn Handlers>)
        })
    }
}

mod reload;
mod schedule;

pub use schedule::ScheduleStatus;

use reload::{reload_loop, Unloaded};
