//! The example fleet with `--http`, its status page loaded in headless Chromium (Debian's
//! `chromium`; `.ci/run` installs it when missing): every example account appears with live
//! data, and `fleetgram accounts` reads the same from the running host.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUMS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// Headless Chromium; on a Debian machine without it, installed (as `.ci/run` does) when
/// this runs as root, else a clear failure.
fn chromium() -> &'static str {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        if !CHROMIUMS.iter().any(|c| common::have(c)) {
            common::debian_tool("chromium", "chromium");
        }
    });
    CHROMIUMS
        .into_iter()
        .find(|c| common::have(c))
        .unwrap_or_else(|| {
            panic!("headless Chromium is needed for this test: apt-get install chromium (.ci/run does)")
        })
}

/// The DOM of `url` after its scripts ran for a few (virtual) seconds.
fn dump_dom(url: &str) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=3000",
            "--dump-dom",
            url,
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (state, updates) of each account row of a dumped page.
fn rows(dom: &str) -> Vec<(String, String, u64)> {
    dom.split("<tr data-account=\"")
        .skip(1)
        .map(|r| {
            let name = r.split('"').next().unwrap().to_string();
            let state = r
                .split("class=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            let updates = r
                .split("<td class=\"updates\">")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            (name, state, updates)
        })
        .collect()
}

#[test]
fn the_status_page_shows_every_example_account_live_in_chromium() {
    let browser = chromium();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("operator-page-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    common::copy_example(&dir);
    let log = std::fs::File::create(dir.join("host.log")).unwrap();
    let mut child = common::Reaped::new(
        Command::new(env!("CARGO_BIN_EXE_fleetgram"))
            .args(["run", "accounts.example.yaml", "--http", "127.0.0.1:0"])
            // The local DC on free ports (a demo may hold the usual ones).
            .env("FLEETGRAM_LOCAL_BASE_PORT", "0")
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let info = dir.join("fleetgram-data").join("http.json");
    common::wait_for_file_of(&mut child, &info, &dir.join("host.log"));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&info).unwrap()).unwrap();
    let url = format!("http://{}/", j["addr"].as_str().unwrap());
    let names: Vec<String> = {
        let yaml: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(root.join("accounts.example.yaml")).unwrap(),
        )
        .unwrap();
        yaml["accounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Wait until the page shows every account running and the demo traffic arriving.
    let t = Instant::now();
    let first = loop {
        let dom = dump_dom(&url);
        let r = rows(&dom);
        let running = names
            .iter()
            .all(|n| r.iter().any(|(m, s, _)| m == n && s == "running"));
        if running && r.iter().map(|x| x.2).sum::<u64>() > 0 {
            break r;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "{browser}: not every account is running with updates yet: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(first.len(), names.len(), "{first:?}");
    // Live: the numbers move while the page is open.
    let t = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(1500));
        let later = rows(&dump_dom(&url));
        let before: u64 = first.iter().map(|x| x.2).sum();
        let after: u64 = later.iter().map(|x| x.2).sum();
        if after > before {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no new updates on the page: {later:?}"
        );
    }
    // `fleetgram accounts` reads the running host.
    let out = Command::new(env!("CARGO_BIN_EXE_fleetgram"))
        .args(["accounts", "accounts.example.yaml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("(live, from the running host's operator view)"),
        "{text}"
    );
    for n in &names {
        assert!(
            text.lines()
                .any(|l| l.starts_with(n.as_str()) && l.contains("running")),
            "{n}: {text}"
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("the host did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
