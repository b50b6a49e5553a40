//! Helpers the end-to-end tests share.
#![allow(dead_code)]

use fleetgram_engine::{Client, InvocationError};
use fleetgram_tl::{enums, functions};
use std::time::{Duration, Instant};

/// `messages.sendMessage` of plain `text` to `peer`.
pub async fn send_text(
    c: &Client,
    peer: &enums::InputPeer,
    text: &str,
) -> Result<enums::Updates, InvocationError> {
    c.invoke(&functions::messages::SendMessage {
        no_webpage: true,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: peer.clone(),
        reply_to: None,
        message: text.into(),
        random_id: rand::random(),
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    })
    .await
}

/// Every message of the chat with `peer`, newest first, as (outgoing, text) (all pages).
pub async fn history_all(c: &Client, peer: &enums::InputPeer) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let r = c
            .invoke(&functions::messages::GetHistory {
                peer: peer.clone(),
                offset_id: offset,
                offset_date: 0,
                add_offset: 0,
                limit: 100,
                max_id: 0,
                min_id: 0,
                hash: 0,
            })
            .await
            .unwrap();
        let msgs = match r {
            enums::messages::Messages::Messages(m) => m.messages,
            enums::messages::Messages::Slice(m) => m.messages,
            enums::messages::Messages::ChannelMessages(m) => m.messages,
            _ => vec![],
        };
        let before = offset;
        for m in msgs {
            match m {
                enums::Message::Message(m) => {
                    offset = m.id;
                    out.push((m.out, m.message));
                }
                enums::Message::Service(m) => offset = m.id,
                enums::Message::Empty(m) => offset = m.id,
            }
        }
        if offset == before {
            break;
        }
    }
    out
}

/// An empty scratch directory under the target directory, unique to this test process.
pub fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the host of the accounts file at `path` and waits until every account runs.
pub async fn start_host(
    path: &std::path::Path,
) -> (fleetgram::run::Host, fleetgram::config::HostConfig) {
    let config = fleetgram::config::HostConfig::load(path).unwrap();
    let host = fleetgram::run::Host::start(config.clone(), &fleetgram::run::RunOptions::default())
        .await
        .unwrap();
    wait_running(&host).await;
    (host, config)
}

/// Waits (at most 30 s) until every account of `host` runs.
pub async fn wait_running(host: &fleetgram::run::Host) {
    let fleet = host.handle();
    let start = std::time::Instant::now();
    while !fleet
        .status()
        .iter()
        .all(|s| s.state == fleetgram_engine::fleet::AccountPhase::Running)
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "fleet did not start: {:?}",
            fleet.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits (at most 30 s) for a file to appear.
pub fn wait_for_file(path: &std::path::Path) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < end,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A client configuration for the local DC described by the info file.
pub fn client_config(info: &std::path::Path) -> fleetgram_engine::Config {
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(info).unwrap()).unwrap();
    let dcs = j["dcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let addr = format!("{}:{}", d["host"].as_str().unwrap(), d["port"]);
            (d["id"].as_i64().unwrap() as i32, addr.parse().unwrap())
        })
        .collect();
    let mut c = fleetgram_engine::Config::with_dcs(1, "x", dcs, 1);
    c.extra_rsa_keys = vec![fleetgram_protocol::crypto::rsa::RsaPublicKey::from_pem(
        j["rsa"]["pem"].as_str().unwrap(),
    )
    .unwrap()];
    c
}

/// A person on the local DC described by the info file, logged in with code 12345.
pub async fn person(info: &std::path::Path, phone: &str) -> Client {
    let mut c = client_config(info);
    c.request_timeout = std::time::Duration::from_secs(5);
    let client = Client::new(
        c,
        std::sync::Arc::new(fleetgram_engine::store::MemoryStore::new()),
        phone,
    )
    .unwrap();
    let t = client.request_login_code(phone).await.unwrap();
    client.sign_in(&t, "12345").await.unwrap();
    client
}

/// A fleet on the local DC for one test: `files` written into a fresh directory, its
/// accounts.yaml made of `chats` (YAML list items under `local.chats`, may be empty) and
/// `accounts` (YAML list items), with one person of the demo (`phone`) signed in.
pub struct TestFleet {
    pub host: fleetgram::run::Host,
    pub person: Client,
    pub dir: std::path::PathBuf,
}

pub async fn test_fleet(
    name: &str,
    files: &[(&str, &str)],
    chats: &str,
    accounts: &str,
    phone: &str,
) -> TestFleet {
    let dir = fresh_dir(name);
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let yaml = format!(
        "network: local\nstore: {}\nlocal:\n  base_port: 0\n  people: [{{ name: p, phone: \"{phone}\" }}]\n  chats: [{chats}]\n  traffic: {{ enabled: false }}\naccounts:\n{accounts}",
        dir.join("data").display()
    );
    let path = dir.join("accounts.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (host, config) = start_host(&path).await;
    let person = host
        .local
        .clone()
        .unwrap()
        .person(&config, phone)
        .await
        .unwrap();
    TestFleet { host, person, dir }
}

impl TestFleet {
    /// Polls `f` every 50 ms until it gives something (30 s at most: then fails with `what`
    /// and the scripts' status).
    pub async fn until<T, F, Fut>(&self, what: &str, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}; scripts: {:?}",
                self.host.scripts.status()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The client of the fleet's account `name` once it runs.
    pub async fn client(&self, name: &str) -> Client {
        self.until(&format!("{name} runs"), || async {
            self.host.fleet.handle().client(name)
        })
        .await
    }

    /// The person's chat `name` once it exists.
    pub async fn chat(&self, name: &str) -> enums::InputPeer {
        self.until(&format!("{name} exists"), || async {
            self.person.resolve_peer(name).await.ok()
        })
        .await
    }

    /// Every text of the person's chat with `peer` (oldest first).
    pub async fn texts(&self, peer: &enums::InputPeer) -> Vec<String> {
        history_all(&self.person, peer)
            .await
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// The person's last `n` messages with `peer`, newest first.
    pub async fn recent(
        &self,
        peer: &enums::InputPeer,
        n: usize,
    ) -> Option<Vec<fleetgram_engine::messages::Message>> {
        self.person
            .iter_history(peer.clone())
            .limit(n)
            .collect()
            .await
            .ok()
    }

    /// Waits until the chat with `peer` holds `text`.
    pub async fn expect_text(&self, peer: &enums::InputPeer, text: &str) {
        self.until(&format!("{text:?} in the chat"), || async {
            self.texts(peer)
                .await
                .iter()
                .any(|t| t == text)
                .then_some(())
        })
        .await
    }

    pub async fn stop(self) {
        self.host.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process that is killed and reaped when dropped, so a failing test leaves
/// nothing running (a host left behind would hold the demo's ports for the next test).
pub struct Reaped(Option<std::process::Child>);

impl Reaped {
    /// Wraps `child`.
    pub fn new(child: std::process::Child) -> Reaped {
        Reaped(Some(child))
    }

    /// The child, no longer killed on drop (to wait for its output).
    pub fn into_inner(mut self) -> std::process::Child {
        self.0.take().expect("present")
    }
}

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        self.0.as_ref().expect("present")
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("present")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Waits (at most 60 s) until `path` exists, failing at once, with the last lines of
/// `log`, when `child` exits first.
pub fn wait_for_file_of(child: &mut Reaped, path: &std::path::Path, log: &std::path::Path) {
    let last = || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    let start = Instant::now();
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the child exited early ({status}); its last lines:\n{}",
                last()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {} after 60 s; the child's last lines:\n{}",
            path.display(),
            last()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `command` is on PATH.
pub fn have(command: &str) -> bool {
    std::process::Command::new("which")
        .arg(command)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs Debian's `package` (as `.ci/run` does) when this runs as root and `command` is
/// missing; whether `command` is there afterwards.
pub fn debian_tool(command: &str, package: &str) -> bool {
    use std::process::{Command, Stdio};
    if have(command) {
        return true;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root {
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", package])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !install() {
            let _ = Command::new("apt-get")
                .arg("update")
                .stdout(Stdio::null())
                .status();
            install();
        }
    }
    have(command)
}

/// One HTTP/1.1 request to the operator view at `addr` (with a bearer `token` if given);
/// (status, body).
pub fn http(
    addr: impl std::fmt::Display,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = addr.to_string();
    let mut s = std::net::TcpStream::connect(addr.as_str()).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

/// Copies the README's example (accounts.example.yaml and scripts/) into `dir`.
pub fn copy_example(dir: &std::path::Path) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::copy(
        root.join("accounts.example.yaml"),
        dir.join("accounts.example.yaml"),
    )
    .unwrap();
    for e in std::fs::read_dir(root.join("scripts")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join("scripts").join(p.file_name().unwrap())).unwrap();
    }
}
