//! The operator view of a running host: the JSON API, Prometheus metrics, operator actions
//! and their bearer token, masked secrets.

use fleetgram::config::HostConfig;
use fleetgram::run::{Host, RunOptions};
use fleetgram_engine::fleet::AccountPhase;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod common;
use common::{fresh_dir, http};

const TOKEN: &str = "operator-token-0123456789";

async fn start(dir: &std::path::Path, token: bool) -> (Host, HostConfig) {
    std::fs::write(
        dir.join("tick.lua"),
        "every(\"1h\", function()\n  kv.incr(\"ticks\")\nend)\non(\"message\", private & incoming, function(m)\n  m:reply(\"ok\")\nend)\n",
    )
    .unwrap();
    let http = if token {
        format!("http: {{ listen: \"127.0.0.1:0\", token: \"{TOKEN}\" }}\n")
    } else {
        "http: 0\n".to_string()
    };
    let yaml = format!(
        "network: local\nstore: {}\n{http}local:\n  base_port: 0\n  people: [{{ name: p, phone: \"+15559990101\" }}]\n  traffic: {{ enabled: false }}\naccounts:\n  - {{ name: ticker, kind: bot, username: op_tick_bot, scripts: [tick.lua] }}\n  - {{ name: human, kind: user, phone: \"+15559990102\" }}\n",
        dir.join("data").display()
    );
    let path = dir.join("accounts.yaml");
    std::fs::write(&path, yaml).unwrap();
    let config = HostConfig::load(&path).unwrap();
    let host = Host::start(config.clone(), &RunOptions::default())
        .await
        .unwrap();
    let fleet = host.handle();
    let t = Instant::now();
    while !fleet
        .status()
        .iter()
        .all(|s| s.state == AccountPhase::Running)
        || host.scripts.status().is_empty()
    {
        assert!(t.elapsed() < Duration::from_secs(30), "fleet did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (host, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_metrics_and_actions_with_their_token() {
    let dir = fresh_dir("operator");
    let (host, config) = start(&dir, true).await;
    let addr = host.http.expect("the operator view runs");
    assert!(addr.ip().is_loopback());
    // A little traffic so the numbers move.
    let person = host
        .local
        .clone()
        .unwrap()
        .person(&config, "+15559990101")
        .await
        .unwrap();
    person.send_message("@op_tick_bot", "hi").await.unwrap();
    let t = Instant::now();
    let status = loop {
        let (code, body) =
            tokio::task::spawn_blocking(move || http(addr, "GET", "/api/status", None))
                .await
                .unwrap();
        assert_eq!(code, 200);
        let j: serde_json::Value = serde_json::from_str(&body).unwrap();
        // The account rows are a snapshot up to 300 ms old; the script counters are live.
        let ticker_seen = j["accounts"].as_array().is_some_and(|a| {
            a.iter().any(|a| {
                a["name"] == "ticker" && a["state"] == "running" && a["updates"].as_u64() >= Some(1)
            })
        });
        if j["scripts"][0]["handled"].as_u64() >= Some(1) && ticker_seen {
            break j;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let accounts = status["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    let ticker = accounts.iter().find(|a| a["name"] == "ticker").unwrap();
    assert_eq!(ticker["state"], "running");
    assert_eq!(ticker["kind"], "bot");
    assert_eq!(ticker["username"], "op_tick_bot");
    assert!(ticker["updates"].as_u64().unwrap() >= 1);
    let human = accounts.iter().find(|a| a["name"] == "human").unwrap();
    assert_eq!(human["phone"], "+155******02", "phones are masked");
    assert_eq!(status["schedules"][0]["timing"], "every 3600s");
    assert!(!status["local_dc"].as_array().unwrap().is_empty());

    // No secret anywhere: not the phone, not the bot's token, not the login code.
    let (_, token) = host
        .local
        .as_ref()
        .unwrap()
        .dc
        .control()
        .bot_token("op_tick_bot")
        .unwrap();
    for path in ["/", "/api/status", "/metrics"] {
        let (code, body) = tokio::task::spawn_blocking(move || http(addr, "GET", path, None))
            .await
            .unwrap();
        assert_eq!(code, 200, "{path}");
        assert!(
            !body.contains("+15559990102"),
            "{path} shows a phone number"
        );
        assert!(!body.contains(&token), "{path} shows a bot token");
        assert!(!body.contains(TOKEN), "{path} shows the operator token");
    }

    // Prometheus.
    let (_, m) = tokio::task::spawn_blocking(move || http(addr, "GET", "/metrics", None))
        .await
        .unwrap();
    for want in [
        "fleetgram_updates_received_total ",
        "fleetgram_channel_polls_total ",
        "fleetgram_idle_differences_total ",
        "fleetgram_updates_dispatched_total ",
        "fleetgram_rpc_calls_total{method=\"messages.sendMessage\",result=\"ok\"}",
        "fleetgram_flood_wait_seconds_total ",
        "fleetgram_reconnects_total ",
        "fleetgram_account_up{account=\"ticker\",state=\"running\"} 1",
        "fleetgram_update_queue_depth{account=\"human\"}",
        "fleetgram_handler_duration_seconds_bucket{account=\"ticker\"",
        "fleetgram_handler_duration_seconds_count{account=\"ticker\"",
    ] {
        assert!(m.contains(want), "missing {want} in\n{m}");
    }

    // Actions: refused without the token or with a wrong one.
    let post = |path: &'static str, t: Option<&'static str>| {
        tokio::task::spawn_blocking(move || http(addr, "POST", path, t))
    };
    assert_eq!(
        post("/api/accounts/ticker/pause", None).await.unwrap().0,
        401
    );
    assert_eq!(
        post("/api/accounts/ticker/pause", Some("wrong-token-000000000"))
            .await
            .unwrap()
            .0,
        401
    );
    assert_eq!(host.handle().status()[0].state, AccountPhase::Running);
    let (code, _) = post("/api/accounts/ticker/pause", Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(code, 200);
    let t = Instant::now();
    while host
        .handle()
        .status()
        .iter()
        .find(|s| s.name == "ticker")
        .unwrap()
        .state
        != AccountPhase::Paused
    {
        assert!(t.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        post("/api/accounts/ticker/resume", Some(TOKEN))
            .await
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        post("/api/accounts/nobody/pause", Some(TOKEN))
            .await
            .unwrap()
            .0,
        404
    );
    let (code, body) = post("/api/scripts/reload", Some(TOKEN)).await.unwrap();
    assert_eq!(code, 200, "{body}");
    let t = Instant::now();
    while host.scripts.status().iter().all(|s| s.generation < 2) {
        assert!(t.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Run the hourly schedule now.
    let key = status["schedules"][0]["key"].as_str().unwrap().to_string();
    let path: &'static str = Box::leak(
        format!(
            "/api/schedules/run?account=ticker&key={}",
            key.replace(' ', "%20")
        )
        .into_boxed_str(),
    );
    let (code, body) = post(path, Some(TOKEN)).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(host.scripts.status().iter().any(|s| s.jobs_run >= 1));
    let (code, _) = post("/api/schedules/run?account=ticker&key=nope", Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(code, 400);
    // The page lists the accounts.
    let (_, page) = tokio::task::spawn_blocking(move || http(addr, "GET", "/", None))
        .await
        .unwrap();
    assert!(page.contains("data-account=\"ticker\"") && page.contains("data-account=\"human\""));
    assert!(page.contains("<svg"));
    assert!(
        dir.join("data").join("http.json").exists(),
        "the address is recorded"
    );
    host.shutdown().await;
    assert!(!dir.join("data").join("http.json").exists());

    // Without a token, actions are refused outright.
    let dir2 = fresh_dir("operator-no-token");
    let (host, _) = start(&dir2, false).await;
    let addr = host.http.unwrap();
    let (code, body) =
        tokio::task::spawn_blocking(move || http(addr, "POST", "/api/scripts/reload", Some(TOKEN)))
            .await
            .unwrap();
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("http.token"));
    host.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

/// Sends `raw` and reads the answer until the server closes (at most `wait`).
fn raw_exchange(addr: SocketAddr, raw: &str, wait: Duration) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_refuses_other_host_names_framing_slow_requests_and_floods() {
    let dir = fresh_dir("operator-guard");
    let (host, _) = start(&dir, false).await;
    let addr = host.http.expect("the operator view runs");
    let port = addr.port();
    tokio::task::spawn_blocking(move || {
        let get = |h: &str| {
            raw_exchange(
                addr,
                &format!("GET /api/status HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n"),
                Duration::from_secs(5),
            )
        };
        // A page a browser loaded from another name (DNS rebinding) gets nothing.
        let evil = get(&format!("rebind.attacker.example:{port}"));
        assert!(evil.starts_with("HTTP/1.1 421"), "{evil}");
        assert!(!evil.contains("accounts"), "{evil}");
        for ok in [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            "[::1]".to_string(),
        ] {
            let r = get(&ok);
            assert!(r.starts_with("HTTP/1.1 200"), "{ok}: {r}");
            // Never framed by another page.
            assert!(r.contains("X-Frame-Options: DENY"), "{r}");
            assert!(r.contains("frame-ancestors 'none'"), "{r}");
        }
        // A request that trickles in is cut off at its deadline (10 s), not kept open.
        let t = Instant::now();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut out = Vec::new();
        for _ in 0..25 {
            std::thread::sleep(Duration::from_millis(500));
            if s.write_all(b"X").is_err() {
                break;
            }
        }
        let _ = s.read_to_end(&mut out);
        assert!(t.elapsed() < Duration::from_secs(16), "{:?}", t.elapsed());
        // Connections beyond the cap are told so and closed; the view stays up.
        let held: Vec<std::net::TcpStream> = (0..256)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let over = get(&format!("127.0.0.1:{port}"));
        assert!(over.starts_with("HTTP/1.1 503"), "{over}");
        drop(held);
        std::thread::sleep(Duration::from_millis(300));
        let again = get(&format!("127.0.0.1:{port}"));
        assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    })
    .await
    .unwrap();
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_paged_filtered_sorted_and_summarized() {
    let dir = fresh_dir("operator-pages");
    let (host, _config) = start(&dir, true).await;
    let addr = host.http.expect("the operator view runs");
    let get = move |path: &'static str| {
        tokio::task::spawn_blocking(move || {
            let (code, body) = http(addr, "GET", path, None);
            (
                code,
                serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            )
        })
    };
    let (code, _) = tokio::task::spawn_blocking(move || {
        http(addr, "POST", "/api/accounts/human/pause", Some(TOKEN))
    })
    .await
    .unwrap();
    assert_eq!(code, 200);
    // The pause shows (snapshots are at most 300 ms old).
    let t = Instant::now();
    loop {
        let (_, j) = get("/api/accounts?state=paused").await.unwrap();
        if j["total"] == 1 {
            assert_eq!(j["accounts"][0]["name"], "human");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, j) = get("/api/accounts").await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(j["total"], 2);
    assert_eq!(j["limit"], 50);
    let names = |j: &serde_json::Value| -> Vec<String> {
        j["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&j), ["human", "ticker"]);
    let (_, j) = get("/api/accounts?sort=name&order=desc").await.unwrap();
    assert_eq!(names(&j), ["ticker", "human"]);
    let (_, j) = get("/api/accounts?limit=1&offset=1").await.unwrap();
    assert_eq!(
        (j["total"].as_u64(), names(&j)),
        (Some(2), vec!["ticker".to_string()])
    );
    // Search covers usernames and scripts, not only names.
    let (_, j) = get("/api/accounts?q=OP_TICK").await.unwrap();
    assert_eq!(names(&j), ["ticker"]);
    let (_, j) = get("/api/accounts?q=tick.lua").await.unwrap();
    assert_eq!(names(&j), ["ticker"]);
    let (_, j) = get("/api/accounts?state=running&q=human").await.unwrap();
    assert_eq!(j["total"], 0);
    // Bad parameters say what is allowed.
    let (code, j) = get("/api/accounts?sort=phone").await.unwrap();
    assert_eq!(code, 400);
    assert!(
        j["error"].as_str().unwrap().contains("one of name, state"),
        "{j}"
    );
    let (code, j) = get("/api/accounts?limit=many").await.unwrap();
    assert_eq!(code, 400);
    assert!(j["error"].as_str().unwrap().contains("limit"), "{j}");
    let (code, j) = get("/api/accounts?state=sleeping").await.unwrap();
    assert_eq!(code, 400, "{j}");
    // The summary: counts by state, nothing needing attention, the scripts.
    let (code, j) = get("/api/summary").await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(j["accounts"], 2);
    assert_eq!(j["by_state"]["paused"], 1);
    assert_eq!(j["by_state"]["running"], 1);
    assert_eq!(j["attention_total"], 0);
    assert_eq!(j["scripts"], 1);
    assert_eq!(j["scripts_with_errors"], 0);
    host.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
