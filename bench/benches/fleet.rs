//! Fleet host figures (issue 8): N accounts (half users, half bots) in one host against a
//! local DC running in a child process (so the two memory figures are separate):
//! time until every account is logged in and running, and the host's memory at steady
//! state; with `SCRIPT=1` every account also runs a small Lua script.
//!
//! `cargo bench --manifest-path bench/Cargo.toml --bench fleet [-- N]` (default 1000)

use fleetgram_bench::child::{self, control_call, dc_child, rss_kib};
use fleetgram_engine::fleet::config::FleetConfig;
use fleetgram_engine::fleet::{
    AccountHandle, AccountPhase, BoxFuture, Credentials, DcTable, Fleet, HandlerFactory, Handlers,
};
use fleetgram_engine::store::{SessionStore, SledStore};
use fleetgram_protocol::crypto::rsa::RsaPublicKey;
use fleetgram_scripting::{Limits, ScriptHost};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Creds {
    tokens: HashMap<String, String>,
}

impl Credentials for Creds {
    fn login_code(&self, _: &str, _: &str) -> BoxFuture<'static, Option<String>> {
        Box::pin(async { Some("12345".to_string()) })
    }
    fn bot_token(&self, account: &str) -> Option<String> {
        self.tokens.get(account).cloned()
    }
}

struct NoScripts;
impl HandlerFactory for NoScripts {
    fn attach(&self, _: AccountHandle) -> BoxFuture<'static, Result<Arc<dyn Handlers>, String>> {
        Box::pin(async { Err("no scripts".to_string()) })
    }
}

fn cpu_ms() -> f64 {
    // utime + stime of this process, in clock ticks (100 Hz on Linux).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) * 10.0
}

/// GET `path` with curl, in its own process (so the client's CPU is not the host's); the
/// body's length.
fn get(addr: std::net::SocketAddr, path: &str) -> usize {
    let out = std::process::Command::new("curl")
        .args(["-s", &format!("http://{addr}{path}")])
        .output()
        .expect("curl");
    out.stdout.len()
}

/// Issue 11: what serving the status page and the metrics once a second costs the host, for
/// this fleet: process CPU while serving against the same time idle.
async fn operator_cost(
    fleet: &fleetgram_engine::fleet::FleetHandle,
    scripts: &ScriptHost,
    n: usize,
) {
    let view = fleetgram::operator::View::new(fleet.clone(), scripts.clone(), vec![], None);
    // The host's own share: curl fetches in a child process.
    let (mut page, mut metrics) = (0, 0);
    let t = Instant::now();
    for _ in 0..10 {
        page = view.page().len();
        metrics = view.metrics().len();
    }
    let render = t.elapsed() / 10;
    let t = Instant::now();
    for _ in 0..10 {
        std::hint::black_box(fleet.status());
    }
    let snapshot = t.elapsed() / 10;
    let t = Instant::now();
    for _ in 0..10 {
        std::hint::black_box(view.metrics());
    }
    let metrics_time = t.elapsed() / 10;
    let view2 = view.clone();
    let (addr, tasks) = fleetgram::operator::serve("127.0.0.1:0".parse().unwrap(), view)
        .await
        .unwrap();
    const SECS: u64 = 30;
    let c0 = cpu_ms();
    tokio::time::sleep(Duration::from_secs(SECS)).await;
    let idle = cpu_ms() - c0;
    // For comparison: rendering both once a second in this process, without HTTP.
    let c0 = cpu_ms();
    let t0 = Instant::now();
    for i in 0..SECS {
        std::hint::black_box((view2.page(), view2.metrics()));
        if let Some(wait) = Duration::from_secs(i + 1).checked_sub(t0.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    let direct = cpu_ms() - c0;
    // One client process fetches the page and the metrics once a second (so neither the
    // client's work nor a fork per request lands on the host).
    let c0 = cpu_ms();
    let script = format!(
        "for i in $(seq {SECS}); do curl -s -o /dev/null http://{addr}/; curl -s -o /dev/null http://{addr}/metrics; sleep 1; done"
    );
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &script])
            .status()
    })
    .await
    .unwrap()
    .expect("sh and curl");
    assert!(status.success());
    assert!(get(addr, "/") > page / 2 && get(addr, "/metrics") > metrics / 2);
    let serving = cpu_ms() - c0;
    let _ = Instant::now();
    for t in tasks {
        t.abort();
    }
    let per_s = (serving - idle).max(0.0) / SECS as f64;
    println!(
        "operator view at {n} accounts: page {} KiB + metrics {} KiB rendered in {:.2} ms (metrics {:.2} ms, the fleet's status snapshot {:.2} ms); serving both once a second costs {:.2}% of a core (host CPU {:.1} ms/s serving vs {:.1} ms/s idle; target < 1%)",
        page / 1024,
        metrics / 1024,
        render.as_secs_f64() * 1000.0,
        metrics_time.as_secs_f64() * 1000.0,
        snapshot.as_secs_f64() * 1000.0,
        per_s / 10.0,
        serving / SECS as f64,
        idle / SECS as f64
    );
    println!(
        "  (rendering both once a second without HTTP: {:.1} ms/s, {:.2}% of a core over idle)",
        direct / SECS as f64,
        (direct - idle).max(0.0) / SECS as f64 / 10.0
    );
}

fn main() {
    if std::env::args().any(|a| a == "--dc-child") {
        return dc_child();
    }
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let with_script = std::env::var("SCRIPT").is_ok();
    let (mut child, info) = child::spawn();
    let url = info["control"].as_str().unwrap().to_string();
    let dcs: HashMap<i32, std::net::SocketAddr> = info["dcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let addr = format!("{}:{}", d["host"].as_str().unwrap(), d["port"]);
            (d["id"].as_i64().unwrap() as i32, addr.parse().unwrap())
        })
        .collect();
    let key = RsaPublicKey::from_pem(info["rsa"]["pem"].as_str().unwrap()).unwrap();

    let dir = std::env::temp_dir().join(format!("fleetgram-bench-fleet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tiny.lua"),
        "on(\"message\", private & incoming, function(m) m:reply(m.text) end)\n",
    )
    .unwrap();
    // Half users, half bots (alternating), created on the DC first.
    let mut yaml = String::from("network: local\naccounts:\n");
    let mut tokens = HashMap::new();
    for i in 0..n {
        let name = format!("a{i}");
        if i % 2 == 0 {
            let phone = format!("+1777{i:07}");
            control_call(
                &url,
                &serde_json::json!({"op": "create_user", "phone": phone, "first_name": name}),
            );
            yaml.push_str(&format!(
                "  - {{ name: {name}, kind: user, phone: \"{phone}\""
            ));
        } else {
            let r = control_call(
                &url,
                &serde_json::json!({"op": "create_bot", "first_name": name, "username": format!("{name}_fleet_bot")}),
            );
            tokens.insert(name.clone(), r["token"].as_str().unwrap().to_string());
            yaml.push_str(&format!(
                "  - {{ name: {name}, kind: bot, username: {name}_fleet_bot"
            ));
        }
        if with_script {
            yaml.push_str(", scripts: [tiny.lua]");
        }
        yaml.push_str(" }\n");
    }
    let config = FleetConfig::parse(&dir.join("accounts.yaml"), &yaml, &|_| None).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let rss0 = rss_kib(std::process::id());
        let store: Arc<dyn SessionStore> = Arc::new(SledStore::open(dir.join("sessions")).unwrap());
        let scripts = ScriptHost::new(Limits::default(), false);
        let factory: Arc<dyn HandlerFactory> = if with_script {
            Arc::new(scripts.clone())
        } else {
            Arc::new(NoScripts)
        };
        let t0 = Instant::now();
        let fleet = Fleet::start(
            config,
            DcTable {
                dcs,
                default_dc: 1,
                rsa_keys: vec![key],
            },
            store,
            factory,
            Arc::new(Creds { tokens }),
        );
        let h = fleet.handle();
        let mut last_print = Instant::now();
        loop {
            let st = h.status();
            let running = st.iter().filter(|s| s.state == AccountPhase::Running).count();
            if running == n {
                break;
            }
            if last_print.elapsed() > Duration::from_secs(10) {
                println!("  ... {running}/{n} running after {:.0} s", t0.elapsed().as_secs_f64());
                last_print = Instant::now();
            }
            if t0.elapsed() > Duration::from_secs(1800) {
                println!("gave up: {running}/{n} running after 30 min");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let up = t0.elapsed();
        println!(
            "{n} accounts ({} users, {} bots{}) logged in and running in {:.1} s (target: 1,000 within 60 s)",
            n.div_ceil(2),
            n / 2,
            if with_script { ", each with a Lua script" } else { "" },
            up.as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        let host = rss_kib(std::process::id());
        let dc = rss_kib(child.id());
        println!(
            "steady state: host RSS {:.1} MiB ({:.1} MiB over the empty process, {:.1} KiB per account; target <= 200 MiB at 1,000); local DC (child process) RSS {:.1} MiB",
            host as f64 / 1024.0,
            (host.saturating_sub(rss0)) as f64 / 1024.0,
            (host.saturating_sub(rss0)) as f64 / n as f64,
            dc as f64 / 1024.0
        );
        operator_cost(&h, &scripts, n).await;
        fleet.shutdown().await;
    });
    drop(child.stdin.take());
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
