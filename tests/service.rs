//! Running fleetgram as a service: the container's entrypoint run as the image runs it, the
//! health and readiness checks a container engine or service manager asks, start failures
//! that exit non-zero with the reason, and the shipped Dockerfile, systemd unit and
//! dashboards checked against the binary they describe (no container engine here: the
//! Dockerfile is linted, the entrypoint run directly).

mod common;

use common::{fresh_dir, wait_for_file_of, Reaped};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fleetgram");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A small fleet on the embedded local DC: an echo bot, and `extra` accounts.
fn write_fleet(dir: &Path, extra: &str) -> PathBuf {
    std::fs::write(
        dir.join("echo.lua"),
        "on(\"message\", private & incoming, function(m) m:reply(m.text) end)\n",
    )
    .unwrap();
    let yaml = format!(
        "network: local\nstore: data\nlocal:\n  base_port: 0\n  traffic: {{ enabled: false }}\naccounts:\n  - {{ name: echo, kind: bot, username: svc_echo_bot, scripts: [echo.lua] }}\n{extra}"
    );
    let path = dir.join("accounts.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `fleetgram ARGS` (with `envs`), run to its end.
fn fleetgram(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

/// The entrypoint, run as the image's ENTRYPOINT runs it (`sh`, not bash).
fn entrypoint(args: &[&str], envs: &[(&str, String)]) -> Command {
    let mut c = Command::new("sh");
    c.arg(repo().join("deploy/entrypoint.sh"))
        .args(args)
        .env("FLEETGRAM_BIN", BIN)
        .envs(envs.iter().map(|(k, v)| (k, v.as_str())));
    c
}

/// Polls `check` every 100 ms until it holds (at most `limit`).
fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The address the host wrote to its store.
fn http_addr(store: &Path) -> String {
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("http.json")).unwrap()).unwrap();
    info["addr"].as_str().unwrap().to_string()
}

fn get(addr: &str, path: &str) -> (u16, String) {
    common::http(addr, "GET", path, None)
}

fn terminate(child: &mut Reaped) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no exit 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_container_entrypoint_runs_the_fleet_and_answers_health_checks() {
    let dir = fresh_dir("svc-entrypoint");
    let config = write_fleet(&dir, "");
    let store = dir.join("volume");
    let log = dir.join("host.log");
    let envs = [
        ("FLEETGRAM_CONFIG", config.display().to_string()),
        ("FLEETGRAM_STORE", store.display().to_string()),
        ("FLEETGRAM_HTTP", "127.0.0.1:0".to_string()),
        ("FLEETGRAM_LOCAL_BASE_PORT", "0".to_string()),
    ];
    // No argument: the image's CMD is `run`, and the entrypoint runs without one too.
    let mut host = Reaped::new(
        entrypoint(&[], &envs)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("host.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    // The store is the volume's (FLEETGRAM_STORE), not the file's `store: data`.
    wait_for_file_of(&mut host, &store.join("http.json"), &log);
    assert!(!dir.join("data").exists(), "the file's store was not used");
    // The local DC's info goes to the volume too (the config directory is read-only).
    assert!(store.join("localdc.json").exists());
    // The HEALTHCHECK: `fleetgram-entrypoint health`, alive at once, ready once the bot ran.
    let health = entrypoint(&["health"], &envs).output().unwrap();
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );
    assert!(String::from_utf8_lossy(&health.stdout).contains("\"status\":\"ok\""));
    eventually(Duration::from_secs(60), "ready", || {
        entrypoint(&["health", "--ready"], &envs)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    });
    // Other commands go to the binary: `accounts` reads the running host from the volume.
    let accounts = entrypoint(&["accounts", config.to_str().unwrap()], &envs)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&accounts.stdout);
    assert!(accounts.status.success(), "{table}");
    assert!(
        table.contains("echo") && table.contains("running"),
        "{table}"
    );
    // `exec`: the signal reaches the host itself, which stops cleanly.
    let status = terminate(&mut host);
    assert!(status.success(), "graceful stop exits 0: {status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_entrypoint_says_what_is_missing() {
    let dir = fresh_dir("svc-entrypoint-missing");
    let missing = dir.join("nowhere/accounts.yaml");
    let out = entrypoint(
        &[],
        &[
            ("FLEETGRAM_CONFIG", missing.display().to_string()),
            ("FLEETGRAM_STORE", dir.join("data").display().to_string()),
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(66), "{err}");
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("mount one"),
        "{err}"
    );
    // A store that cannot be a directory (a file is in the way).
    let config = write_fleet(&dir, "");
    std::fs::write(dir.join("file"), "").unwrap();
    let blocked = dir.join("file/data");
    let out = entrypoint(
        &[],
        &[
            ("FLEETGRAM_CONFIG", config.display().to_string()),
            ("FLEETGRAM_STORE", blocked.display().to_string()),
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{err}");
    assert!(
        err.contains(&blocked.display().to_string()) && err.contains("writable"),
        "{err}"
    );
    // No binary on PATH.
    let out = entrypoint(&["health"], &[])
        .env("FLEETGRAM_BIN", "fleetgram-not-installed")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not on PATH"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn readiness_waits_until_every_account_was_attempted() {
    let dir = fresh_dir("svc-ready");
    // A SOCKS5 proxy that accepts and never answers: its account stays in its first
    // connection attempt until the connect timeout (15 s).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming() {
            held.push(c);
        }
    });
    let config = write_fleet(
        &dir,
        &format!(
            "  - {{ name: behind_proxy, kind: bot, username: svc_proxy_bot, proxy: \"socks5://{proxy}\" }}\n"
        ),
    );
    let log = dir.join("host.log");
    let mut host = Reaped::new(
        Command::new(BIN)
            .args(["run", config.to_str().unwrap(), "--http", "127.0.0.1:0"])
            .env("FLEETGRAM_LOCAL_BASE_PORT", "0")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let store = dir.join("data");
    wait_for_file_of(&mut host, &store.join("http.json"), &log);
    let addr = http_addr(&store);
    let cfg = config.to_str().unwrap();
    // Alive at once; not ready while an account is still making its first attempt.
    let out = fleetgram(&["health", cfg], &[]);
    assert!(out.status.success());
    let (code, body) = get(&addr, "/readyz");
    assert_eq!(code, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ready"], false);
    assert_eq!(v["accounts"], 2);
    assert!(
        v["starting"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "behind_proxy"),
        "{body}"
    );
    let out = fleetgram(&["health", cfg, "--ready"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/readyz answered 503"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("behind_proxy"));
    // Its first attempt is still going (the connection is retried behind the silent proxy,
    // the login call waits for it): still not ready.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(get(&addr, "/readyz").0, 503);
    // The operator disables it in the file (saved as an editor does): the host follows,
    // and every account left has been attempted.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "username: svc_proxy_bot,",
        "username: svc_proxy_bot, enabled: false,",
    );
    let tmp = dir.join(".accounts.yaml.swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &config).unwrap();
    eventually(
        Duration::from_secs(30),
        "ready once the account is disabled",
        || get(&addr, "/readyz").0 == 200,
    );
    let out = fleetgram(&["health", cfg, "--ready", "--http", &addr], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The Grafana dashboard asks for series this host exports.
    let (code, metrics) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    let dashboard = std::fs::read_to_string(repo().join("deploy/grafana-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut names = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let e = t["expr"].as_str().unwrap();
            for (i, _) in e.match_indices("fleetgram_") {
                let name: String = e[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
            }
        }
    }
    assert!(names.len() >= 8, "{names:?}");
    for n in &names {
        assert!(
            metrics.contains(&format!("# TYPE {n} "))
                || metrics
                    .lines()
                    .any(|l| l.starts_with(&format!("{n}{{")) || l.starts_with(&format!("{n} "))),
            "the dashboard asks for {n}, which /metrics does not export"
        );
    }
    assert!(terminate(&mut host).success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn start_failures_exit_non_zero_and_say_why() {
    let dir = fresh_dir("svc-start-failures");
    let config = write_fleet(&dir, "");
    let cfg = config.to_str().unwrap();
    // The operator view's port is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = fleetgram(
        &["run", cfg, "--http", &addr],
        &[("FLEETGRAM_LOCAL_BASE_PORT", "0")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("operator view on {addr}")) && err.contains("in use"),
        "{err}"
    );
    drop(taken);
    // The store is held by a running host.
    let log = dir.join("host.log");
    let mut first = Reaped::new(
        Command::new(BIN)
            .args(["run", cfg, "--http", "127.0.0.1:0"])
            .env("FLEETGRAM_LOCAL_BASE_PORT", "0")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_file_of(&mut first, &dir.join("data/http.json"), &log);
    let out = fleetgram(
        &["run", cfg, "--http", "127.0.0.1:0"],
        &[("FLEETGRAM_LOCAL_BASE_PORT", "0")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("in use by another process"), "{err}");
    // The running host is untouched.
    assert!(matches!(first.try_wait(), Ok(None)));
    assert!(terminate(&mut first).success());
    // An invalid file.
    std::fs::write(
        &config,
        "network: local\naccounts:\n  - { name: x, kind: robot }\n",
    )
    .unwrap();
    let out = fleetgram(&["run", cfg], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("accounts.yaml:3"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One Dockerfile instruction: keyword and arguments (continuations joined).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                cur.push_str(part);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                let (k, rest) = cur.split_once(' ').unwrap_or((&cur, ""));
                out.push((k.to_ascii_uppercase(), rest.trim().to_string()));
                cur.clear();
            }
        }
    }
    out
}

#[test]
fn the_dockerfile_is_linted_and_its_files_exist() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let ins = instructions(&text);
    let froms: Vec<&String> = ins
        .iter()
        .filter(|(k, _)| k == "FROM")
        .map(|(_, a)| a)
        .collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    for f in &froms {
        let image = f.split_whitespace().next().unwrap();
        let tag = image.split_once(':').map(|t| t.1);
        assert!(
            tag.is_some_and(|t| t != "latest"),
            "{image}: pin the image's tag"
        );
    }
    assert!(froms[0].ends_with(" AS build"), "{:?}", froms[0]);
    assert!(
        froms.last().unwrap().contains("slim"),
        "small runtime image"
    );
    let last_from = ins.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let last: &[(String, String)] = &ins[last_from..];
    let find = |k: &'static str| {
        last.iter()
            .filter(move |(i, _)| i == k)
            .map(|(_, a)| a.as_str())
    };
    // Runs as a user of its own, not root.
    let user = find("USER").next_back().expect("USER in the runtime stage");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "{user}"
    );
    let user_at = last.iter().rposition(|(k, _)| k == "USER").unwrap();
    let entry_at = last.iter().position(|(k, _)| k == "ENTRYPOINT").unwrap();
    assert!(user_at < entry_at);
    assert!(find("VOLUME").any(|v| v.contains("/data")));
    assert!(find("HEALTHCHECK")
        .any(|h| h.contains("CMD") && h.contains("health") && h.contains("--interval")));
    for k in ["ENTRYPOINT", "CMD"] {
        let a = find(k).next_back().unwrap();
        let v: Vec<String> = serde_json::from_str(a).unwrap_or_else(|e| {
            panic!("{k} {a}: exec form (a JSON list) so signals reach the host: {e}")
        });
        assert!(!v.is_empty());
    }
    // The entrypoint runs under an init that forwards signals and reaps.
    assert!(find("ENTRYPOINT").next_back().unwrap().contains("tini"));
    for (k, a) in &ins {
        if k == "RUN" && a.contains("apt-get install") {
            assert!(a.contains("--no-install-recommends"), "{a}");
            assert!(a.contains("rm -rf /var/lib/apt/lists"), "{a}");
        }
        if k == "RUN" && a.contains("cargo build") {
            assert!(a.contains("--locked") && a.contains("--release"), "{a}");
        }
    }
    // What is copied from the context exists and is not excluded by .dockerignore.
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        ignored.contains(&"target"),
        "the build context leaves target/ out"
    );
    for (k, a) in &ins {
        if k != "COPY" || a.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = a.split_whitespace().collect();
        for src in &parts[..parts.len() - 1] {
            if *src == "." {
                continue;
            }
            assert!(repo().join(src).exists(), "COPY {src}: no such file");
            assert!(
                !ignored.contains(src),
                "COPY {src}: excluded by .dockerignore"
            );
        }
    }
    // The entrypoint the image copies is a POSIX shell script that passes ShellCheck.
    let script = repo().join("deploy/entrypoint.sh");
    assert!(std::fs::read_to_string(&script)
        .unwrap()
        .starts_with("#!/bin/sh\n"));
    assert!(
        common::debian_tool("shellcheck", "shellcheck"),
        "ShellCheck is needed for this test: apt-get install shellcheck (.ci/run does)"
    );
    let out = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_systemd_unit_verifies_and_runs_the_binarys_own_flags() {
    let unit = std::fs::read_to_string(repo().join("deploy/fleetgram.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let args: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(args[0], "/usr/local/bin/fleetgram");
    assert_eq!(args[1], "run");
    // Every flag of the unit is one `fleetgram run` has.
    let help = fleetgram(&["run", "--help"], &[]);
    let help = String::from_utf8_lossy(&help.stdout);
    for a in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(a),
            "the unit passes {a}, which `fleetgram run` lacks"
        );
    }
    // A stop is one SIGTERM; start failures (status 2) are not retried in a loop.
    for line in [
        "KillSignal=SIGTERM",
        "RestartPreventExitStatus=2",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "User=fleetgram",
        "Environment=FLEETGRAM_STORE=/var/lib/fleetgram",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
    if !common::have("systemd-analyze") {
        eprintln!("systemd-analyze is not installed: the unit's own checks are skipped");
        return;
    }
    // systemd's own checks, on a copy pointing at the binary built here.
    let dir = fresh_dir("svc-unit");
    let copy = dir.join("fleetgram.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/fleetgram", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !said.contains("fleetgram.service"),
        "{said}"
    );
    // Exposure 2.0 or less ("OK") in systemd's security review.
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        said.lines().last().unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
