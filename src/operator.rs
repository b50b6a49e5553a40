//! The operator view of a running host (`fleetgram run --http ADDR` or `http:` in
//! accounts.yaml): a live status page, the same data as JSON, Prometheus metrics, and
//! operator actions.
//!
//! ```text
//! GET  /                 the status page (server-rendered; it refreshes itself every second)
//! GET  /api/status       the same data as JSON
//! GET  /metrics          Prometheus text format
//! POST /api/accounts/NAME/pause | /resume
//! POST /api/scripts/reload
//! POST /api/schedules/run?account=NAME&key=KEY
//! ```
//!
//! Actions need `Authorization: Bearer TOKEN` (`http.token`); without a configured token they
//! are refused. Phone numbers are masked; bot tokens, session strings and keys are never
//! part of any answer.

use fleetgram_engine::fleet::{AccountPhase, AccountStatus, FleetHandle};
use fleetgram_scripting::ScriptHost;
use serde_json::{json, Value as Json};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Samples kept for the charts (one a second: five minutes).
const SAMPLES: usize = 300;
/// Largest request accepted.
const MAX_REQUEST: usize = 64 * 1024;
/// Most connections served at once (more are told 503 and closed).
const MAX_CONNECTIONS: usize = 256;
/// How long a request may take to arrive whole once its first byte came.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// How long an idle keep-alive connection waits for its next request.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// What the operator view reads from.
pub struct View {
    fleet: FleetHandle,
    scripts: ScriptHost,
    local_dcs: Vec<(i32, String)>,
    token: Option<String>,
    started: Instant,
    /// (unix time, total updates, total calls), one a second.
    samples: Mutex<VecDeque<(u64, u64, u64)>>,
    /// The last status snapshot of the fleet: a page and the metrics fetched together (and
    /// the sampler) share one.
    snapshot: Mutex<Option<(Instant, Arc<Vec<AccountStatus>>)>>,
    /// Masked phone numbers by account (the configuration changes rarely).
    phones: Mutex<(Instant, Arc<HashMap<String, String>>)>,
    /// Host names served besides IP addresses and `localhost`.
    allowed_hosts: Vec<String>,
}

/// How long a status snapshot is reused.
const SNAPSHOT_TTL: Duration = Duration::from_millis(300);

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `+15550001234` -> `+155******34`.
pub fn mask_phone(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let keep_head = 4.min(chars.len() - 2);
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_head || i >= chars.len() - 2 {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// Every word [`state_name`] gives (what `/api/accounts?state=` accepts, with `attention`).
const STATE_WORDS: [&str; 7] = [
    "starting",
    "running",
    "backoff",
    "quarantined",
    "needs login",
    "paused",
    "stopped",
];

fn state_name(s: &AccountPhase) -> (&'static str, Option<String>) {
    match s {
        AccountPhase::Starting => ("starting", None),
        AccountPhase::Running => ("running", None),
        AccountPhase::Backoff { error, attempt } => {
            ("backoff", Some(format!("attempt {attempt}: {error}")))
        }
        AccountPhase::Quarantined { reason } => ("quarantined", Some(reason.clone())),
        AccountPhase::NeedsLogin => ("needs login", None),
        AccountPhase::Paused => ("paused", None),
        AccountPhase::Stopped => ("stopped", None),
    }
}

/// Whether an account needs a person: quarantined, backing off, waiting for a login, or
/// held back by FLOOD_WAITs.
fn needs_attention(s: &AccountStatus) -> bool {
    matches!(
        s.state,
        AccountPhase::Quarantined { .. } | AccountPhase::Backoff { .. } | AccountPhase::NeedsLogin
    ) || s.flood_waits > 0
}

fn escape_into(out: &mut String, s: &str) {
    if !s.contains(['<', '>', '&', '"', '\'']) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

impl View {
    /// The view of a host.
    pub fn new(
        fleet: FleetHandle,
        scripts: ScriptHost,
        local_dcs: Vec<(i32, String)>,
        token: Option<String>,
    ) -> Arc<Self> {
        Self::with_hosts(fleet, scripts, local_dcs, token, vec![])
    }

    /// [`View::new`] also answering to the host names `allowed_hosts`.
    pub fn with_hosts(
        fleet: FleetHandle,
        scripts: ScriptHost,
        local_dcs: Vec<(i32, String)>,
        token: Option<String>,
        allowed_hosts: Vec<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            fleet,
            scripts,
            local_dcs,
            token,
            started: Instant::now(),
            samples: Mutex::new(VecDeque::with_capacity(SAMPLES)),
            snapshot: Mutex::new(None),
            phones: Mutex::new((Instant::now(), Arc::new(HashMap::new()))),
            allowed_hosts,
        })
    }

    /// Whether a request's `Host` may be served: an IP address, `localhost`, or a configured
    /// name (a page a browser loaded from any other name is refused: DNS rebinding).
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            Some(v6) => {
                return v6
                    .split(']')
                    .next()
                    .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
            }
            None => host.rsplit_once(':').map_or(host.as_str(), |(n, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    n
                } else {
                    host.as_str()
                }
            }),
        };
        name.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || self.allowed_hosts.iter().any(|h| h == name)
    }

    /// The fleet's status (a snapshot at most [`SNAPSHOT_TTL`] old).
    fn fleet_status(&self) -> Arc<Vec<AccountStatus>> {
        let mut s = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        match &*s {
            Some((at, v)) if at.elapsed() < SNAPSHOT_TTL => v.clone(),
            _ => {
                let v = Arc::new(self.fleet.status());
                *s = Some((Instant::now(), v.clone()));
                v
            }
        }
    }

    /// Masked phone numbers by account name (refreshed every few seconds).
    fn phones(&self) -> Arc<HashMap<String, String>> {
        let mut p = self.phones.lock().unwrap_or_else(|e| e.into_inner());
        if p.1.is_empty() || p.0.elapsed() > Duration::from_secs(5) {
            let map = self.fleet.with_config(|c| {
                c.accounts
                    .iter()
                    .filter_map(|a| {
                        Some((a.name().to_string(), mask_phone(a.config.phone.as_deref()?)))
                    })
                    .collect()
            });
            *p = (Instant::now(), Arc::new(map));
        }
        p.1.clone()
    }

    /// Takes one sample for the charts (the server does it every second).
    pub fn sample(&self) {
        let updates: u64 = self.fleet_status().iter().map(|s| s.updates).sum();
        let calls = fleetgram_engine::metrics::global()
            .calls_total
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() == SAMPLES {
            s.pop_front();
        }
        s.push_back((now_unix(), updates, calls));
    }

    /// Per-second rates (updates, calls) over the kept samples.
    fn rates(&self) -> (Vec<f64>, Vec<f64>) {
        let s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let mut u = Vec::with_capacity(s.len());
        let mut c = Vec::with_capacity(s.len());
        for (a, b) in s.iter().zip(s.iter().skip(1)) {
            let dt = (b.0.saturating_sub(a.0)).max(1) as f64;
            u.push(b.1.saturating_sub(a.1) as f64 / dt);
            c.push(b.2.saturating_sub(a.2) as f64 / dt);
        }
        (u, c)
    }

    fn account_json(&self, s: &AccountStatus, phones: &HashMap<String, String>) -> Json {
        let (state, reason) = state_name(&s.state);
        let phone = phones.get(&s.name).cloned();
        let pacing: Vec<Json> = self
            .fleet
            .client(&s.name)
            .map(|c| {
                c.pacing()
                    .into_iter()
                    .map(|(m, spacing, wait)| {
                        json!({"method": m, "spacing_ms": spacing.as_millis() as u64, "wait_ms": wait.as_millis() as u64})
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "name": s.name,
            "kind": format!("{:?}", s.kind).to_lowercase(),
            "state": state,
            "reason": reason,
            "dc": s.dc,
            "proxy": s.proxy,
            "user_id": s.user_id,
            "username": s.username,
            "phone": phone,
            "last_update": s.last_update.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs()),
            "updates": s.updates,
            "queue_depth": s.queue_depth,
            "flood_waits": s.flood_waits,
            "pacing": pacing,
            "restarts": s.restarts,
            "pools": s.pools,
            "scripts": s.scripts,
        })
    }

    /// Everything the page shows, as JSON.
    pub fn status(&self) -> Json {
        let phones = self.phones();
        let network = self
            .fleet
            .with_config(|c| format!("{:?}", c.network).to_lowercase());
        let accounts: Vec<Json> = self
            .fleet_status()
            .iter()
            .map(|s| self.account_json(s, &phones))
            .collect();
        let scripts: Vec<Json> = self
            .scripts
            .status()
            .into_iter()
            .map(|s| {
                json!({
                    "account": s.account,
                    "file": s.file,
                    "language": s.language,
                    "generation": s.generation,
                    "handlers": s.handlers,
                    "jobs": s.jobs,
                    "handled": s.handled,
                    "errors": s.errors,
                    "jobs_run": s.jobs_run,
                    "mean_latency_ms": s.mean_latency.as_secs_f64() * 1000.0,
                    "last_error": s.last_error,
                })
            })
            .collect();
        let schedules: Vec<Json> = self
            .scripts
            .schedules()
            .into_iter()
            .map(|s| {
                json!({
                    "account": s.account, "file": s.file, "key": s.key, "timing": s.timing,
                    "last_run": s.last_run, "next_run": s.next_run,
                })
            })
            .collect();
        let (u, c) = self.rates();
        let m = fleetgram_engine::metrics::global();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.started.elapsed().as_secs(),
            "network": network,
            "local_dc": self.local_dcs.iter().map(|(id, a)| json!({"id": id, "addr": a})).collect::<Vec<_>>(),
            "accounts": accounts,
            "scripts": scripts,
            "schedules": schedules,
            "rates": { "updates_per_s": u, "calls_per_s": c },
            "totals": {
                "updates_received": m.updates_received.load(std::sync::atomic::Ordering::Relaxed),
                "calls": m.calls_total.load(std::sync::atomic::Ordering::Relaxed),
                "flood_wait_seconds": m.flood_wait_seconds.load(std::sync::atomic::Ordering::Relaxed),
                "reconnects": m.reconnects.load(std::sync::atomic::Ordering::Relaxed),
                "channel_polls": m.channel_polls.load(std::sync::atomic::Ordering::Relaxed),
                "idle_differences": m.idle_differences.load(std::sync::atomic::Ordering::Relaxed),
            },
        })
    }

    /// Prometheus text format.
    pub fn metrics(&self) -> String {
        let m = fleetgram_engine::metrics::global();
        let mut o = String::with_capacity(16 * 1024);
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(o, "# HELP fleetgram_updates_received_total Updates handed out by the accounts' update streams.\n# TYPE fleetgram_updates_received_total counter\nfleetgram_updates_received_total {}", load(&m.updates_received));
        let _ = writeln!(o, "# HELP fleetgram_channel_polls_total getChannelDifference calls made because a polled channel's timeout ran out.\n# TYPE fleetgram_channel_polls_total counter\nfleetgram_channel_polls_total {}", load(&m.channel_polls));
        let _ = writeln!(o, "# HELP fleetgram_idle_differences_total getDifference calls made because an account heard nothing for long.\n# TYPE fleetgram_idle_differences_total counter\nfleetgram_idle_differences_total {}", load(&m.idle_differences));
        let handled: u64 = self.scripts.status().iter().map(|s| s.handled).sum();
        let _ = writeln!(o, "# HELP fleetgram_updates_dispatched_total Script handler runs.\n# TYPE fleetgram_updates_dispatched_total counter\nfleetgram_updates_dispatched_total {handled}");
        let _ = writeln!(o, "# HELP fleetgram_rpc_calls_total RPC answers by method and outcome (ok or the error).\n# TYPE fleetgram_rpc_calls_total counter");
        for ((method, outcome), n) in m.calls() {
            let _ = writeln!(
                o,
                "fleetgram_rpc_calls_total{{method=\"{}\",result=\"{}\"}} {n}",
                label(&method),
                label(&outcome)
            );
        }
        let _ = writeln!(o, "# HELP fleetgram_flood_wait_seconds_total Seconds of FLOOD_WAIT received.\n# TYPE fleetgram_flood_wait_seconds_total counter\nfleetgram_flood_wait_seconds_total {}", load(&m.flood_wait_seconds));
        let _ = writeln!(o, "# HELP fleetgram_reconnects_total Connections re-established.\n# TYPE fleetgram_reconnects_total counter\nfleetgram_reconnects_total {}", load(&m.reconnects));
        let status = self.fleet_status();
        let mut up = String::with_capacity(status.len() * 64);
        let mut queue = String::with_capacity(status.len() * 48);
        let mut floods = String::with_capacity(status.len() * 56);
        for s in status.iter() {
            let name = label(&s.name);
            let _ = writeln!(
                up,
                "fleetgram_account_up{{account=\"{name}\",state=\"{}\"}} {}",
                state_name(&s.state).0,
                u8::from(s.state == AccountPhase::Running)
            );
            let _ = writeln!(
                queue,
                "fleetgram_update_queue_depth{{account=\"{name}\"}} {}",
                s.queue_depth
            );
            let _ = writeln!(
                floods,
                "fleetgram_account_flood_waits_total{{account=\"{name}\"}} {}",
                s.flood_waits
            );
        }
        o.push_str("# HELP fleetgram_account_up Whether the account is running.\n# TYPE fleetgram_account_up gauge\n");
        o.push_str(&up);
        o.push_str("# HELP fleetgram_update_queue_depth Updates queued or being handled.\n# TYPE fleetgram_update_queue_depth gauge\n");
        o.push_str(&queue);
        o.push_str("# HELP fleetgram_account_flood_waits_total FLOOD_WAITs an account received.\n# TYPE fleetgram_account_flood_waits_total counter\n");
        o.push_str(&floods);
        let _ = writeln!(o, "# HELP fleetgram_handler_duration_seconds Script handler durations.\n# TYPE fleetgram_handler_duration_seconds histogram");
        for s in self.scripts.scripts() {
            let st = s.status();
            let labels = format!(
                "account=\"{}\",script=\"{}\"",
                label(&st.account),
                label(&st.file)
            );
            let h = &s.stats.latency;
            for (le, n) in h.cumulative() {
                let _ = writeln!(
                    o,
                    "fleetgram_handler_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                o,
                "fleetgram_handler_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count()
            );
            let _ = writeln!(
                o,
                "fleetgram_handler_duration_seconds_sum{{{labels}}} {}",
                h.sum()
            );
            let _ = writeln!(
                o,
                "fleetgram_handler_duration_seconds_count{{{labels}}} {}",
                h.count()
            );
        }
        o
    }

    /// The status page, rendered straight from the fleet's state (no JSON in between: it is
    /// what a browser asks for every second).
    pub fn page(&self) -> String {
        let status = self.fleet_status();
        let phones = self.phones();
        let network = self
            .fleet
            .with_config(|c| format!("{:?}", c.network).to_lowercase());
        let mut o = String::with_capacity(64 * 1024 + status.len() * 320);
        o.push_str(PAGE_HEAD);
        let _ = write!(
            o,
            "<main id=\"main\"><h1>fleetgram <small>{} · up {} s · network {}</small></h1>",
            env!("CARGO_PKG_VERSION"),
            self.started.elapsed().as_secs(),
            network
        );
        if !self.local_dcs.is_empty() {
            o.push_str("<p class=dc>Local DC: ");
            for (id, addr) in &self.local_dcs {
                let _ = write!(o, "<span>DC {id} ");
                escape_into(&mut o, addr);
                o.push_str("</span> ");
            }
            o.push_str("</p>");
        }
        let (u, c) = self.rates();
        o.push_str("<section class=charts>");
        chart(&mut o, "updates/s", &u);
        chart(&mut o, "calls/s", &c);
        o.push_str("</section>");
        let now = now_unix();
        o.push_str("<h2>Accounts</h2><table id=accounts><tr><th>account</th><th>kind</th><th>state</th><th>DC</th><th>proxy</th><th>user</th><th>last update</th><th>updates</th><th>queue</th><th>FLOOD_WAITs</th><th>pacing</th><th></th></tr>");
        for a in status.iter() {
            let (state, reason) = state_name(&a.state);
            o.push_str("<tr data-account=\"");
            escape_into(&mut o, &a.name);
            o.push_str("\" class=\"");
            o.push_str(&state.replace(' ', "-"));
            o.push_str("\"><td>");
            escape_into(&mut o, &a.name);
            let _ = write!(
                o,
                "</td><td>{}</td><td class=state>{state}",
                if a.kind == fleetgram_engine::fleet::config::AccountKind::Bot {
                    "bot"
                } else {
                    "user"
                }
            );
            if let Some(r) = &reason {
                o.push_str(": ");
                escape_into(&mut o, r);
            }
            o.push_str("</td><td>");
            if let Some(dc) = a.dc {
                let _ = write!(o, "{dc}");
            }
            o.push_str("</td><td>");
            escape_into(&mut o, a.proxy.as_deref().unwrap_or(""));
            o.push_str("</td><td>");
            match (&a.username, a.user_id) {
                (Some(u), _) => {
                    o.push('@');
                    escape_into(&mut o, u);
                }
                (None, Some(id)) => {
                    let _ = write!(o, "{id}");
                    if let Some(p) = phones.get(a.name.as_str()) {
                        let _ = write!(o, " ({p})");
                    }
                }
                (None, None) => {
                    if let Some(p) = phones.get(a.name.as_str()) {
                        o.push_str(p);
                    }
                }
            }
            o.push_str("</td><td>");
            match a
                .last_update
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            {
                Some(t) => {
                    let _ = write!(o, "{} s ago", now.saturating_sub(t.as_secs()));
                }
                None => o.push('—'),
            }
            let _ = write!(
                o,
                "</td><td class=updates>{}</td><td>{}</td><td>{}</td><td>",
                a.updates, a.queue_depth, a.flood_waits
            );
            if let Some(c) = self.fleet.client(&a.name) {
                for (i, (m, spacing, _)) in c.pacing().iter().enumerate() {
                    if i > 0 {
                        o.push_str(", ");
                    }
                    escape_into(&mut o, m);
                    let _ = write!(o, " every {} ms", spacing.as_millis());
                }
            }
            let action = if state == "paused" { "resume" } else { "pause" };
            o.push_str("</td><td><button data-action=\"/api/accounts/");
            o.push_str(&percent(&a.name));
            let _ = write!(o, "/{action}\">{action}</button></td></tr>");
        }
        o.push_str("</table><h2>Scripts <button data-action=\"/api/scripts/reload\">reload all</button></h2><table id=scripts><tr><th>account</th><th>file</th><th>language</th><th>generation</th><th>handlers</th><th>jobs</th><th>handled</th><th>errors</th><th>mean latency</th><th>last error</th></tr>");
        for s in self.scripts.status() {
            o.push_str("<tr><td>");
            escape_into(&mut o, &s.account);
            o.push_str("</td><td>");
            escape_into(&mut o, &s.file);
            let _ = write!(
                o,
                "</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2} ms</td><td class=err>",
                s.language,
                s.generation,
                s.handlers,
                s.jobs,
                s.handled,
                s.errors,
                s.mean_latency.as_secs_f64() * 1000.0
            );
            escape_into(&mut o, s.last_error.as_deref().unwrap_or(""));
            o.push_str("</td></tr>");
        }
        o.push_str("</table><h2>Schedules</h2><table id=schedules><tr><th>account</th><th>file</th><th>schedule</th><th>when</th><th>last run</th><th>next run</th><th></th></tr>");
        let when = |t: Option<i64>| match t {
            Some(t) if t as u64 <= now => format!("{} s ago", now - t as u64),
            Some(t) => format!("in {} s", t as u64 - now),
            None => "never".into(),
        };
        for s in self.scripts.schedules() {
            o.push_str("<tr><td>");
            escape_into(&mut o, &s.account);
            o.push_str("</td><td>");
            escape_into(&mut o, &s.file);
            o.push_str("</td><td>");
            escape_into(&mut o, &s.key);
            o.push_str("</td><td>");
            escape_into(&mut o, &s.timing);
            let _ = write!(
                o,
                "</td><td>{}</td><td>{}</td><td><button data-action=\"/api/schedules/run?account={}&amp;key={}\">run now</button></td></tr>",
                when(s.last_run),
                when(Some(s.next_run)),
                percent(&s.account),
                percent(&s.key),
            );
        }
        o.push_str("</table></main>");
        o.push_str(PAGE_TAIL);
        o
    }

    /// Checks an action's bearer token.
    fn authorized(&self, header: Option<&str>) -> Result<(), (u16, &'static str)> {
        let Some(token) = &self.token else {
            return Err((
                403,
                "operator actions are disabled: set http.token in accounts.yaml",
            ));
        };
        let given = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        match given {
            Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(()),
            Some(_) => Err((401, "wrong token")),
            None => Err((401, "an action needs Authorization: Bearer TOKEN")),
        }
    }

    /// `/api/accounts`: one page of the accounts, filtered and sorted (what a person
    /// watching thousands of accounts asks for instead of the whole table).
    ///
    /// `q` (in the name, username, phone's visible digits, proxy, pools or scripts), `state`
    /// (a state word; `attention` for quarantined, backing off, needing login or
    /// FLOOD_WAITed), `pool`, `sort` (`name`, `state`, `updates`, `queue`, `flood_waits`,
    /// `restarts`, `last_update`), `order` (`asc`, `desc`), `offset`, `limit` (at most 500).
    fn accounts_page(&self, param: &dyn Fn(&str) -> Option<String>) -> Result<Json, String> {
        let phones = self.phones();
        let status = self.fleet_status();
        let q = param("q").unwrap_or_default().to_lowercase();
        let state = param("state").filter(|s| !s.is_empty());
        let pool = param("pool").filter(|s| !s.is_empty());
        let number = |k: &str, default: usize| -> Result<usize, String> {
            match param(k) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| format!("{k}={v:?} is not a number")),
            }
        };
        let offset = number("offset", 0)?;
        let limit = number("limit", 50)?.clamp(1, 500);
        const SORTS: [&str; 7] = [
            "name",
            "state",
            "updates",
            "queue",
            "flood_waits",
            "restarts",
            "last_update",
        ];
        let sort = param("sort").unwrap_or_else(|| "name".into());
        if !SORTS.contains(&sort.as_str()) {
            return Err(format!("sort={sort:?}: one of {}", SORTS.join(", ")));
        }
        let desc = match param("order").as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(o) => return Err(format!("order={o:?}: asc or desc")),
        };
        if let Some(st) = &state {
            if st != "attention" && !STATE_WORDS.contains(&st.as_str()) {
                return Err(format!(
                    "state={st:?}: one of {}, attention",
                    STATE_WORDS.join(", ")
                ));
            }
        }
        let mut picked: Vec<&AccountStatus> = status
            .iter()
            .filter(|s| match state.as_deref() {
                None => true,
                Some("attention") => needs_attention(s),
                Some(st) => state_name(&s.state).0 == st,
            })
            .filter(|s| pool.as_ref().is_none_or(|p| s.pools.contains(p)))
            .filter(|s| {
                q.is_empty()
                    || s.name.to_lowercase().contains(&q)
                    || s.username
                        .as_ref()
                        .is_some_and(|u| u.to_lowercase().contains(&q))
                    || phones.get(&s.name).is_some_and(|p| p.contains(&q))
                    || s.proxy
                        .as_ref()
                        .is_some_and(|p| p.to_lowercase().contains(&q))
                    || s.pools.iter().any(|p| p.to_lowercase().contains(&q))
                    || s.scripts.iter().any(|f| f.to_lowercase().contains(&q))
            })
            .collect();
        picked.sort_by(|a, b| {
            let o = match sort.as_str() {
                "state" => state_name(&a.state).0.cmp(state_name(&b.state).0),
                "updates" => a.updates.cmp(&b.updates),
                "queue" => a.queue_depth.cmp(&b.queue_depth),
                "flood_waits" => a.flood_waits.cmp(&b.flood_waits),
                "restarts" => a.restarts.cmp(&b.restarts),
                "last_update" => a.last_update.cmp(&b.last_update),
                _ => std::cmp::Ordering::Equal,
            }
            .then_with(|| a.name.cmp(&b.name));
            if desc {
                o.reverse()
            } else {
                o
            }
        });
        let total = picked.len();
        let accounts: Vec<Json> = picked
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|s| self.account_json(s, &phones))
            .collect();
        Ok(json!({
            "total": total,
            "offset": offset,
            "limit": limit,
            "sort": sort,
            "order": if desc { "desc" } else { "asc" },
            "accounts": accounts,
        }))
    }

    /// `/api/summary`: counts by state, the accounts that need attention (at most 50, the
    /// count of all), scripts with errors, totals; small whatever the fleet's size.
    fn summary(&self) -> Json {
        let status = self.fleet_status();
        let mut by_state: std::collections::BTreeMap<&str, usize> = Default::default();
        for s in status.iter() {
            *by_state.entry(state_name(&s.state).0).or_default() += 1;
        }
        let attention: Vec<&AccountStatus> = status.iter().filter(|s| needs_attention(s)).collect();
        let scripts = self.scripts.status();
        let failing: Vec<Json> = scripts
            .iter()
            .filter(|s| s.errors > 0)
            .take(50)
            .map(|s| {
                json!({
                    "account": s.account,
                    "file": s.file,
                    "errors": s.errors,
                    "last_error": s.last_error,
                })
            })
            .collect();
        json!({
            "accounts": status.len(),
            "by_state": by_state,
            "updates": status.iter().map(|s| s.updates).sum::<u64>(),
            "queue_depth": status.iter().map(|s| s.queue_depth).sum::<u64>(),
            "flood_waits": status.iter().map(|s| s.flood_waits).sum::<u64>(),
            "attention_total": attention.len(),
            "attention": attention.iter().take(50).map(|s| {
                let (state, reason) = state_name(&s.state);
                json!({ "name": s.name, "state": state, "reason": reason, "flood_waits": s.flood_waits })
            }).collect::<Vec<_>>(),
            "scripts": scripts.len(),
            "scripts_with_errors": scripts.iter().filter(|s| s.errors > 0).count(),
            "failing_scripts": failing,
        })
    }

    /// `/readyz`: ready (200) once every account has been attempted (none is still making
    /// its first connection and login: an account that failed and retries was attempted);
    /// otherwise 503 with the accounts still on their first attempt.
    fn readiness(&self) -> (u16, &'static str, String) {
        let status = self.fleet_status();
        let waiting: Vec<&str> = status
            .iter()
            .filter(|s| s.state == AccountPhase::Starting && s.restarts == 0)
            .map(|s| s.name.as_str())
            .collect();
        let body = json!({
            "ready": waiting.is_empty(),
            "accounts": status.len(),
            "starting": waiting,
        })
        .to_string();
        let code = if waiting.is_empty() { 200 } else { 503 };
        (code, "application/json", body)
    }

    /// Handles one request: (status, content type, body).
    pub async fn handle(
        &self,
        method: &str,
        target: &str,
        auth: Option<&str>,
    ) -> (u16, &'static str, String) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let param = |k: &str| -> Option<String> {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(a, _)| *a == k)
                .map(|(_, v)| unpercent(v))
        };
        const JSON: &str = "application/json";
        match (method, path) {
            ("GET", "/") => (200, "text/html; charset=utf-8", self.page()),
            ("GET", "/api/status") => (200, JSON, self.status().to_string()),
            ("GET", "/metrics") => (200, "text/plain; version=0.0.4", self.metrics()),
            ("GET", "/api/summary") => (200, JSON, self.summary().to_string()),
            ("GET", "/api/accounts") => match self.accounts_page(&param) {
                Ok(v) => (200, JSON, v.to_string()),
                Err(e) => (400, JSON, json!({ "error": e }).to_string()),
            },
            ("GET", "/healthz") => (200, JSON, json!({ "status": "ok" }).to_string()),
            ("GET", "/readyz") => self.readiness(),
            ("POST", _) => {
                if let Err((code, why)) = self.authorized(auth) {
                    return (code, JSON, json!({ "error": why }).to_string());
                }
                // What the action changes shows at once.
                *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = None;
                let ok = |v: Json| (200, JSON, v.to_string());
                let bad = |code: u16, e: String| (code, JSON, json!({ "error": e }).to_string());
                let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
                match parts.as_slice() {
                    ["api", "accounts", name, act @ ("pause" | "resume")] => {
                        let name = unpercent(name);
                        if self.fleet.set_paused(&name, *act == "pause") {
                            ok(json!({ "account": name, "done": act }))
                        } else {
                            bad(404, format!("no account {name:?}"))
                        }
                    }
                    ["api", "scripts", "reload"] => {
                        let r = self.scripts.reload_all().await;
                        let errors: Vec<String> = r
                            .into_iter()
                            .filter_map(|x| x.err().map(|e| e.to_string()))
                            .collect();
                        ok(json!({ "reloaded": true, "errors": errors }))
                    }
                    ["api", "schedules", "run"] => {
                        let (Some(account), Some(key)) = (param("account"), param("key")) else {
                            return bad(400, "give account= and key=".into());
                        };
                        match self.scripts.run_now(&account, &key).await {
                            Ok(()) => ok(json!({ "account": account, "key": key, "ran": true })),
                            Err(e) => bad(400, e),
                        }
                    }
                    _ => bad(404, format!("no action {path}")),
                }
            }
            ("GET", _) => (
                404,
                JSON,
                json!({ "error": format!("no page {path}") }).to_string(),
            ),
            _ => (
                405,
                JSON,
                json!({ "error": format!("{method} is not allowed") }).to_string(),
            ),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn label(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n"),
    )
}

fn percent(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

fn unpercent(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A small inline SVG line chart of `values`.
fn chart(o: &mut String, title: &str, v: &[f64]) {
    let max = v.iter().copied().fold(1.0f64, f64::max);
    let (w, h) = (300.0, 60.0);
    let step = w / (SAMPLES as f64 - 1.0);
    let offset = w - step * (v.len().saturating_sub(1)) as f64;
    let points: Vec<String> = v
        .iter()
        .enumerate()
        .map(|(i, y)| {
            format!(
                "{:.1},{:.1}",
                offset + i as f64 * step,
                h - y / max * (h - 4.0) - 2.0
            )
        })
        .collect();
    let last = v.last().copied().unwrap_or(0.0);
    let _ = write!(
        o,
        "<figure><figcaption>{} <b>{:.1}</b> (max {:.1})</figcaption><svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=img aria-label=\"{}\"><polyline fill=none stroke=currentColor stroke-width=1.5 points=\"{}\"/></svg></figure>",
        escape(title),
        last,
        max,
        escape(title),
        points.join(" ")
    );
}

const PAGE_HEAD: &str = r#"<!doctype html><html lang=en><head><meta charset=utf-8><title>fleetgram</title>
<meta name=viewport content="width=device-width,initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1 small{font-weight:normal;color:#666;font-size:60%}
table{border-collapse:collapse;margin-bottom:1.5em;background:#fff}
th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}
th{background:#eee}
tr.running td.state{color:#070}
tr.quarantined td.state,tr.backoff td.state{color:#b00}
tr.paused td.state{color:#a60}
td.err{color:#b00;white-space:normal;max-width:40em}
.charts{display:flex;gap:2em}
figure{margin:0}
svg{background:#fff;border:1px solid #ddd;color:#36c}
.dc span{background:#eee;padding:.1em .4em;border-radius:3px}
</style></head><body>
"#;

const PAGE_TAIL: &str = r#"<script>
// Live refresh: fetch the page again every second and swap the main part in.
async function refresh() {
  try {
    const r = await fetch(location.pathname, {cache: "no-store"});
    const t = await r.text();
    const doc = new DOMParser().parseFromString(t, "text/html");
    const next = doc.getElementById("main");
    if (next) document.getElementById("main").replaceWith(next);
  } catch (e) {}
}
setInterval(refresh, 1000);
// Operator actions need the bearer token (asked once, kept for this tab).
document.addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-action]");
  if (!b) return;
  let token = sessionStorage.getItem("fleetgram-token");
  if (!token) { token = prompt("Operator token"); if (!token) return; sessionStorage.setItem("fleetgram-token", token); }
  const r = await fetch(b.dataset.action, {method: "POST", headers: {Authorization: "Bearer " + token}});
  if (r.status === 401) sessionStorage.removeItem("fleetgram-token");
  const body = await r.json().catch(() => ({}));
  if (!r.ok) alert(body.error || r.status);
  refresh();
});
</script></body></html>
"#;

/// Serves the view on `listen` until the returned task is aborted; the bound address.
///
/// # Errors
/// The address cannot be bound.
pub async fn serve(
    listen: SocketAddr,
    view: Arc<View>,
) -> std::io::Result<(SocketAddr, Vec<tokio::task::JoinHandle<()>>)> {
    serve_on(tokio::net::TcpListener::bind(listen).await?, view)
}

/// [`serve`] on a bound listener.
///
/// # Errors
/// The listener has no address.
pub fn serve_on(
    listener: tokio::net::TcpListener,
    view: Arc<View>,
) -> std::io::Result<(SocketAddr, Vec<tokio::task::JoinHandle<()>>)> {
    let addr = listener.local_addr()?;
    let sampler = {
        let view = view.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                view.sample();
            }
        })
    };
    let server = tokio::spawn(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let mut backoff = Duration::from_millis(10);
        loop {
            let mut sock = match listener.accept().await {
                Ok((sock, _)) => {
                    backoff = Duration::from_millis(10);
                    sock
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64, "operator view: accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                // Full: say so and close, without holding a task for it.
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        respond(&mut sock, 503, "text/plain", "too many connections", false),
                    )
                    .await;
                });
                continue;
            };
            let view = view.clone();
            tokio::spawn(async move {
                if let Err(e) = connection(sock, view).await {
                    tracing::debug!(error = %e, "operator connection");
                }
                drop(slot);
            });
        }
    });
    Ok((addr, vec![sampler, server]))
}

/// Serves requests on one connection (keep-alive) until the client closes it.
async fn connection(mut sock: tokio::net::TcpStream, view: Arc<View>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let timed_out = || std::io::Error::from(std::io::ErrorKind::TimedOut);
    loop {
        // Read the head: an idle keep-alive connection waits at most KEEP_ALIVE for its next
        // request, and a request, once begun, must be whole (head and body) within
        // REQUEST_DEADLINE however slowly it trickles in.
        let mut deadline =
            (!buf.is_empty()).then(|| tokio::time::Instant::now() + REQUEST_DEADLINE);
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_REQUEST {
                return respond(&mut sock, 431, "text/plain", "request too large", false).await;
            }
            let mut chunk = [0u8; 4096];
            let until = deadline.unwrap_or_else(|| tokio::time::Instant::now() + KEEP_ALIVE);
            let n = tokio::time::timeout_at(until, sock.read(&mut chunk))
                .await
                .map_err(|_| timed_out())??;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + REQUEST_DEADLINE);
        };
        let deadline = deadline.unwrap_or_else(|| tokio::time::Instant::now() + REQUEST_DEADLINE);
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request = lines.next().unwrap_or("");
        let mut parts = request.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let mut length = 0usize;
        let mut auth = None;
        let mut close = false;
        let mut host = None;
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.parse().unwrap_or(0),
                "authorization" => auth = Some(v.to_string()),
                "connection" => close = v.eq_ignore_ascii_case("close"),
                "host" => host = Some(v.to_string()),
                _ => {}
            }
        }
        if length > MAX_REQUEST {
            return respond(&mut sock, 413, "text/plain", "body too large", false).await;
        }
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, sock.read(&mut chunk))
                .await
                .map_err(|_| timed_out())??;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_end + length);
        if let Some(h) = host.as_deref().filter(|h| !view.host_allowed(h)) {
            tracing::warn!(host = %h, "operator view: request for another host name refused (DNS rebinding?)");
            respond(
                &mut sock,
                421,
                "text/plain",
                "this host name is not served here (add it to http.allowed_hosts)",
                false,
            )
            .await?;
            return Ok(());
        }
        let (code, ctype, body) = view.handle(method, target, auth.as_deref()).await;
        respond(&mut sock, code, ctype, &body, !close).await?;
        if close {
            return Ok(());
        }
    }
}

async fn respond(
    sock: &mut tokio::net::TcpStream,
    code: u16,
    ctype: &str,
    body: &str,
    keep_alive: bool,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        421 => "Misdirected Request",
        503 => "Service Unavailable",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nContent-Security-Policy: frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\nConnection: {}\r\n{}\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" },
        if code == 401 { "WWW-Authenticate: Bearer\r\n" } else { "" },
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await?;
    sock.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked_and_paths_decoded() {
        assert_eq!(mask_phone("+15550001234"), "+155******34");
        assert_eq!(mask_phone("+1234"), "*****");
        assert_eq!(unpercent("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(unpercent("100%"), "100%");
        assert_eq!(percent("every 30s/x"), "every%2030s%2Fx");
    }

    #[test]
    fn the_state_filter_knows_every_state() {
        for phase in [
            AccountPhase::Starting,
            AccountPhase::Running,
            AccountPhase::Backoff {
                error: "x".into(),
                attempt: 1,
            },
            AccountPhase::Quarantined { reason: "x".into() },
            AccountPhase::NeedsLogin,
            AccountPhase::Paused,
            AccountPhase::Stopped,
        ] {
            assert!(STATE_WORDS.contains(&state_name(&phase).0), "{phase:?}");
        }
    }
}
