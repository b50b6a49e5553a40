//! The host (`fleetgram run`, the release door users use) with a hostile script: one bot's
//! handler and schedule spin forever, catching the limit with `pcall` and backtracking in a
//! string pattern. The other accounts keep answering, the embedded local DC serves its
//! control API, a second host whose operator port is taken fails before it touches the
//! first one's info file, and one Ctrl-C (SIGINT, as from a terminal) stops the host.

mod common;

use common::{fresh_dir, history_all, person, send_text, wait_for_file};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HOG: &str = r#"
-- Every way to spin: a loop that catches the limit, a pattern that backtracks for ages.
every("1s", function()
  while true do pcall(function() while true do end end) end
end)
on("message", function(m)
  while true do
    pcall(function() string.find(("a"):rep(40), ("a-"):rep(40) .. "b") end)
  end
end)
"#;

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_script_freezes_nothing_and_one_signal_stops_the_host() {
    let dir = fresh_dir("hostile-host");
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    std::fs::write(dir.join("hog.lua"), HOG).unwrap();
    let info = dir.join("localdc.json");
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = http.local_addr().unwrap().port();
    drop(http);
    let config = dir.join("accounts.yaml");
    std::fs::write(
        &config,
        format!(
            r#"network: local
store: data
script_dirs: [{scripts}]
http: {http_port}
local:
  base_port: 0
  info_file: localdc.json
  people: [{{ name: pat, phone: "+15558870001" }}]
  traffic: {{ enabled: false }}
accounts:
  - {{ name: echo, kind: bot, username: hostile_echo_bot, scripts: [echo.lua] }}
  - {{ name: hog, kind: bot, username: hostile_hog_bot, scripts: [hog.lua] }}
"#,
            scripts = scripts.display(),
        ),
    )
    .unwrap();
    let log = dir.join("host.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetgram"))
        .args(["run", "accounts.yaml"])
        .current_dir(&dir)
        .env("RUST_LOG", "info")
        // Too short to guard the operator actions: said at start.
        .env("FLEETGRAM_HTTP_TOKEN", "short")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_file(&info);
    let info_text = std::fs::read_to_string(&info).unwrap();
    let j: serde_json::Value = serde_json::from_str(&info_text).unwrap();
    // The embedded DC's control API answers on loopback.
    let control = j["control"].as_str().expect("a control URL");
    assert!(control.contains("127.0.0.1"), "{control}");

    let pat = person(&info, "+15558870001").await;
    let hog = pat.resolve_peer("@hostile_hog_bot").await.unwrap();
    let echo = pat.resolve_peer("@hostile_echo_bot").await.unwrap();
    // Wait for the fleet (the echo bot answers), then set the hog spinning.
    let start = Instant::now();
    loop {
        let _ = send_text(&pat, &echo, "ping").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        if history_all(&pat, &echo)
            .await
            .iter()
            .any(|(out, t)| !out && t == "ping")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the echo bot never answered"
        );
    }
    for i in 0..4 {
        send_text(&pat, &hog, &format!("spin {i}")).await.unwrap();
    }
    // The first spin is stopped by the budget (the others queue behind it).
    let t = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("instruction limit exceeded")
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the hog was never stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // While the hog spins (its handlers and its schedule), the echo bot answers at once.
    for i in 0..5 {
        let text = format!("still there {i}?");
        let t = Instant::now();
        send_text(&pat, &echo, &text).await.unwrap();
        loop {
            if history_all(&pat, &echo)
                .await
                .iter()
                .any(|(out, x)| !out && *x == text)
            {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "the echo bot did not answer {text:?} while the hog spun"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // A second host on the same operator port fails, and leaves the first one's info file
    // as it was.
    let second = dir.join("second");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::write(
        second.join("accounts.yaml"),
        format!(
            "network: local\nstore: data\nhttp: {http_port}\nlocal:\n  base_port: 0\n  info_file: ../localdc.json\n  traffic: {{ enabled: false }}\naccounts:\n  - {{ name: other, kind: bot, username: hostile_other_bot }}\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fleetgram"))
        .args(["run", "accounts.yaml"])
        .current_dir(&second)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("operator view"), "{err}");
    assert_eq!(std::fs::read_to_string(&info).unwrap(), info_text);

    // One Ctrl-C stops the host while the hog still spins.
    let t = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(45) {
            let _ = child.kill();
            panic!(
                "the host did not stop within 45 s of one signal:\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(
        log.contains("FLEETGRAM_HTTP_TOKEN is shorter than 16 characters"),
        "{log}"
    );
    eprintln!("stopped {:?} after the signal", t.elapsed());
}

/// CPU time (user + system) of process `pid`, in clock ticks.
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_operator_view_waits_instead_of_spinning() {
    let dir = fresh_dir("hostile-emfile");
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = http.local_addr().unwrap().port();
    drop(http);
    std::fs::write(
        dir.join("accounts.yaml"),
        format!("network: local\nstore: data\nhttp: {http_port}\nlocal:\n  base_port: 0\n  traffic: {{ enabled: false }}\naccounts:\n  - {{ name: b, kind: bot, username: emfile_bot }}\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetgram"))
        .args(["run", "accounts.yaml"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{http_port}");
    let get = |addr: &str| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let t = Instant::now();
    while !get(&addr).is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the operator view never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Leave the host a handful of file descriptors, then knock with more connections than
    // that: its accept fails (EMFILE) with connections waiting.
    let pid = child.id();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limit = format!("--nofile={}:", open + 4);
    assert!(Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &limit])
        .status()
        .unwrap()
        .success());
    let held: Vec<_> = (0..40)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    assert!(held.len() > 10);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid) - before;
    // Spinning on accept burns a whole core (about 200 ticks in 2 s); waiting, almost none.
    assert!(
        used < 60,
        "{used} ticks of CPU in 2 s while out of file descriptors"
    );
    // Descriptors back: it serves again.
    drop(held);
    assert!(Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--nofile=1024:"])
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    while !get(&addr).is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the operator view did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(45),
            "the host did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
