//! The host process (`fleetgram run`, with its embedded local DC) is killed with SIGKILL
//! during traffic and started again, in a loop: no update is lost (every message to the
//! echo bot gets its answer, late ones after the restart) and no scheduled post is
//! duplicated. At the end a SIGTERM stops it cleanly.

use fleetgram_engine::Client;
mod common;

use common::{fresh_dir, history_all, person, send_text, wait_for_file};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Two consecutive free ports.
fn free_ports() -> u16 {
    for _ in 0..50 {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < 65000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free ports");
}

async fn history(c: &Client, peer: &str) -> Vec<(bool, String)> {
    history_all(c, &c.resolve_peer(peer).await.unwrap()).await
}

async fn send(c: &Client, peer: &fleetgram_tl::enums::InputPeer, text: &str) -> bool {
    send_text(c, peer, text).await.is_ok()
}

fn start(config: &Path, info: &Path, log: &Path) -> Child {
    let _ = std::fs::remove_file(info);
    let out = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_fleetgram"))
        .args(["run", config.to_str().unwrap(), "--no-watch"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_traffic_loses_no_update_and_duplicates_no_post() {
    let dir = fresh_dir("kill-loop");
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let port = free_ports();
    let info = dir.join("localdc.json");
    let config = dir.join("accounts.yaml");
    std::fs::write(
        &config,
        format!(
            r#"network: local
store: {data}
log: {{ level: info }}
script_dirs: [{scripts}]
local:
  base_port: {port}
  info_file: {info}
  people: [{{ name: pat, phone: "+15558880001" }}]
  chats:
    - {{ kind: channel, title: Kill test, username: kill_test_channel, owner: owner, members: [pat], admins: [poster] }}
  traffic: {{ enabled: false }}
accounts:
  - {{ name: owner, kind: user, phone: "+15558880000" }}
  - {{ name: echo, kind: bot, username: kill_echo_bot, scripts: [echo.lua] }}
  - name: poster
    kind: bot
    username: kill_poster_bot
    scripts:
      - file: poster.lua
        settings: {{ channel: "@kill_test_channel", schedule: "* * * * * *" }}
"#,
            data = dir.join("data").display(),
            scripts = scripts.display(),
            info = info.display(),
        ),
    )
    .unwrap();
    let log = dir.join("host.log");
    let mut child = start(&config, &info, &log);
    wait_for_file(&info);
    let pat = person(&info, "+15558880001").await;
    let bot = loop {
        if let Ok(p) = pat.resolve_peer("@kill_echo_bot").await {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Traffic counts from the moment the echo bot answers (a fresh account's update stream
    // starts at the state it finds, as on Telegram).
    let ready = Instant::now();
    loop {
        let _ = send(&pat, &bot, "warmup").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if history(&pat, "@kill_echo_bot")
            .await
            .iter()
            .any(|(out, t)| !out && t == "warmup")
        {
            break;
        }
        assert!(
            ready.elapsed() < Duration::from_secs(30),
            "the echo bot never answered"
        );
    }
    let mut sent: Vec<String> = Vec::new();
    let mut n = 0;
    for round in 0..3 {
        // Traffic for a while, then SIGKILL mid-stream.
        let until = Instant::now() + Duration::from_millis(1200 + 400 * round);
        while Instant::now() < until {
            let text = format!("n{n}");
            n += 1;
            if send(&pat, &bot, &text).await {
                sent.push(text);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // A few sends while the host is down fail; they are not counted.
        child = start(&config, &info, &log);
        wait_for_file(&info);
    }
    // Let the restarted host catch up, then check every message got its answer.
    let deadline = Instant::now() + Duration::from_secs(40);
    let missing = loop {
        let h = history(&pat, "@kill_echo_bot").await;
        let mut answered: HashMap<&str, usize> = HashMap::new();
        for (out, text) in &h {
            if !out {
                *answered.entry(text.as_str()).or_default() += 1;
            }
        }
        let missing: Vec<&String> = sent
            .iter()
            .filter(|t| !answered.contains_key(t.as_str()))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.into_iter().cloned().collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let host_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        missing.is_empty(),
        "{} of {} messages never answered: {missing:?}\n{}",
        missing.len(),
        sent.len(),
        &host_log[host_log.len().saturating_sub(4000)..]
    );
    assert!(sent.len() > 50, "too little traffic: {}", sent.len());
    // Scheduled posts: several, none twice.
    let posts = history(&pat, "@kill_test_channel").await;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (_, text) in &posts {
        *seen.entry(text.as_str()).or_default() += 1;
    }
    assert!(posts.len() >= 3, "too few posts: {posts:?}");
    let dups: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
    assert!(dups.is_empty(), "duplicated posts: {dups:?}");
    // A SIGTERM stops the host cleanly.
    #[cfg(unix)]
    {
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "graceful stop exits 0: {status:?}");
    }
    #[cfg(not(unix))]
    {
        child.kill().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
