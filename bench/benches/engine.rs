//! Engine figures against the embedded local DC on loopback:
//!
//! 1. update throughput into a Rust consumer: N messages are queued for an account while its
//!    client is stopped, then a fresh client catches up through `getDifference` and the
//!    consumer receives (and acknowledges) every one; then the same number arrives live
//!    (the DC in this process, then in a child process).
//! 2. idle memory: RSS growth per connected, authorized client at N clients.
//! 3. login CPU time per account (handshake + bot sign-in).
//!
//! `cargo bench --manifest-path bench/Cargo.toml --bench engine [-- UPDATES CLIENTS]`

use fleetgram_bench::child::{self, control_call, dc_child, rss_kib};
use fleetgram_engine::store::{MemoryStore, SessionStore};
use fleetgram_engine::updates::UpdateStream;
use fleetgram_engine::{Client, Config};
use fleetgram_localdc::{Config as DcConfig, LocalDc};
use fleetgram_protocol::crypto::rsa::RsaPublicKey;
use fleetgram_tl::enums;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(dc: &LocalDc) -> Config {
    let info = dc.info();
    let mut c = Config::with_dcs(
        1,
        "bench",
        info.dcs.iter().map(|d| (d.id, d.addr)).collect(),
        1,
    );
    c.extra_rsa_keys = vec![RsaPublicKey::from_pem(&info.rsa_pem).unwrap()];
    c.update_backlog = 16_384;
    c
}

fn cpu_ms() -> f64 {
    // utime + stime of this process, in clock ticks (100 Hz on Linux).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) * 10.0
}

/// CPU time (ms) of this process's threads whose name starts with `prefix`.
fn threads_cpu_ms(prefix: &str) -> f64 {
    let mut total = 0.0;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let s = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let after = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let v = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        total += (v(11) + v(12)) * 10.0;
    }
    total
}

async fn consume(s: &mut UpdateStream, n: usize) {
    let mut got = 0;
    while got < n {
        let d = s.next().await.unwrap().unwrap();
        if matches!(d.update, enums::Update::NewMessage(_)) {
            got += 1;
        }
        s.ack(&d).unwrap();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--dc-child") {
        return dc_child();
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let updates = args.first().copied().unwrap_or(50_000);
    let clients = args.get(1).copied().unwrap_or(1_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // The logins of the login figure run here, so their CPU can be told from the DC's.
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fg-client")
        .enable_all()
        .build()
        .unwrap();
    let client_handle = client_rt.handle().clone();
    rt.block_on(async move {
        let dc = LocalDc::start(DcConfig {
            login_code: Some("12345".into()),
            update_log_limit: updates * 2 + 10,
            ..DcConfig::default()
        })
        .await
        .unwrap();
        let control = dc.control();
        let sender = control.create_user("+19990000001", "Sender", "", 1);
        let dir = std::env::temp_dir().join(format!("fleetgram-bench-{}", std::process::id()));
        let store: Arc<dyn SessionStore> = if std::env::var("STORE").as_deref() == Ok("sled") {
            Arc::new(fleetgram_engine::store::SledStore::open(&dir).unwrap())
        } else {
            Arc::new(MemoryStore::new())
        };
        println!("store: {store:?}");
        let c = Client::new(config(&dc), store.clone(), "rx").unwrap();
        control.create_user("+19990000002", "Rx", "", 1);
        let t = c.request_login_code("+19990000002").await.unwrap();
        let me = c.sign_in(&t, "12345").await.unwrap().id;
        drop(c.updates().await.unwrap());
        drop(c);

        for i in 0..updates {
            control.send_message(sender, me, &format!("m{i}")).unwrap();
        }
        let c = Client::new(config(&dc), store.clone(), "rx").unwrap();
        let t0 = Instant::now();
        let mut s = c.updates().await.unwrap();
        consume(&mut s, updates).await;
        let el = t0.elapsed();
        println!(
            "catch-up: {updates} updates in {:.3} s = {:.0} updates/s (getDifference, acked one by one)",
            el.as_secs_f64(),
            updates as f64 / el.as_secs_f64()
        );

        let producer = {
            let control = dc.control();
            tokio::task::spawn_blocking(move || {
                for i in 0..updates {
                    control.send_message(sender, me, &format!("l{i}")).unwrap();
                }
            })
        };
        let t0 = Instant::now();
        consume(&mut s, updates).await;
        let el = t0.elapsed();
        producer.await.unwrap();
        println!(
            "live: {updates} updates in {:.3} s = {:.0} updates/s (pushed updateShortMessage, pts checked, acked)",
            el.as_secs_f64(),
            updates as f64 / el.as_secs_f64()
        );
        drop(s);
        drop(c);

        dc.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);

        // Login CPU and idle memory, against a local DC in a child process so that this
        // process holds only the clients.
        let (mut child, info) = child::spawn();
        let url = info["control"].as_str().unwrap().to_string();
        let dcs = info["dcs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let addr = format!("{}:{}", d["host"].as_str().unwrap(), d["port"]);
                (d["id"].as_i64().unwrap() as i32, addr.parse().unwrap())
            })
            .collect();
        let mut cfg = Config::with_dcs(1, "bench", dcs, 1);
        cfg.extra_rsa_keys =
            vec![RsaPublicKey::from_pem(info["rsa"]["pem"].as_str().unwrap()).unwrap()];
        cfg.ping_interval = Duration::from_secs(600);

        // Live again, with the DC (and the producer) in the child process: this process
        // only receives, checks and acknowledges.
        let sender = control_call(
            &url,
            &serde_json::json!({"op": "create_user", "phone": "+19990000101", "first_name": "S"}),
        )["id"]
            .as_i64()
            .unwrap();
        control_call(
            &url,
            &serde_json::json!({"op": "create_user", "phone": "+19990000102", "first_name": "R"}),
        );
        let mut rx_cfg = cfg.clone();
        rx_cfg.update_backlog = 16_384;
        let c = Client::new(rx_cfg, Arc::new(MemoryStore::new()), "rx").unwrap();
        let t = c.request_login_code("+19990000102").await.unwrap();
        let me = c.sign_in(&t, "12345").await.unwrap().id;
        let mut s = c.updates().await.unwrap();
        let producer = {
            let url = url.clone();
            tokio::task::spawn_blocking(move || {
                control_call(
                    &url,
                    &serde_json::json!({"op": "send_message", "from": sender, "to": me, "text": "c", "count": updates}),
                )
            })
        };
        let t0 = Instant::now();
        consume(&mut s, updates).await;
        let el = t0.elapsed();
        producer.await.unwrap();
        println!(
            "live, DC in a child process: {updates} updates in {:.3} s = {:.0} updates/s",
            el.as_secs_f64(),
            updates as f64 / el.as_secs_f64()
        );
        drop(s);
        drop(c);

        let tokens: Vec<String> = (0..clients)
            .map(|i| {
                let r = control_call(
                    &url,
                    &serde_json::json!({"op": "create_bot", "first_name": format!("B{i}"), "username": format!("b{i}_bot")}),
                );
                r["token"].as_str().unwrap().to_string()
            })
            .collect();
        let rss0 = rss_kib(std::process::id());
        let cpu0 = cpu_ms();
        let client_cpu0 = threads_cpu_ms("fg-client");
        let mut all = Vec::new();
        let t0 = Instant::now();
        for chunk in tokens.chunks(50) {
            let mut set = tokio::task::JoinSet::new();
            for tok in chunk {
                let c = Client::new(cfg.clone(), Arc::new(MemoryStore::new()), "b").unwrap();
                let tok = tok.clone();
                set.spawn_on(
                    async move {
                        c.bot_sign_in(&tok).await.unwrap();
                        c
                    },
                    &client_handle,
                );
            }
            while let Some(c) = set.join_next().await {
                all.push(c.unwrap());
            }
        }
        let login_el = t0.elapsed();
        let cpu = cpu_ms() - cpu0;
        let client_cpu = threads_cpu_ms("fg-client") - client_cpu0;
        println!(
            "login: {clients} bots in {:.2} s; client process CPU {:.2} ms per account (of which the client runtime's threads {:.2} ms); the DC runs in a child process",
            login_el.as_secs_f64(),
            cpu / clients as f64,
            client_cpu / clients as f64
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss1 = rss_kib(std::process::id());
        println!(
            "idle memory: client process RSS {} KiB -> {} KiB with {clients} connected, authorized clients = {:.1} KiB per account",
            rss0,
            rss1,
            (rss1.saturating_sub(rss0)) as f64 / clients as f64
        );
        drop(all);
        drop(child.stdin.take());
        let _ = child.wait();
    });
    drop(client_rt);
}
