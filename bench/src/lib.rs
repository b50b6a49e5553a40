//! Shared payloads for the benchmarks.

use fleetgram_tl::dynamic::{schema, Object, Value};

fn obj(name: &str) -> Object {
    Object::new(name.to_string())
}

fn v(o: Object) -> Value {
    Value::Object(o)
}

fn text(i: usize) -> String {
    let base = format!("Message number {i}: the quick brown fox jumps over the lazy dog, visit https://example.org/page/{i} and ping @user{i} about it. ");
    let mut s = base.clone();
    while s.len() < 200 {
        s.push_str(&base);
    }
    s.truncate(200);
    s
}

/// `messages.messages` with 100 `message`s (about 200 characters of text, 3 entities,
/// `from_id`, a reply header) and 20 `user`s, serialized (about 41 KB).
pub fn messages_payload() -> Vec<u8> {
    let messages: Vec<Value> = (0..100)
        .map(|i| {
            let entities = vec![
                v(obj("messageEntityBold")
                    .with("offset", Value::Int(0))
                    .with("length", Value::Int(14))),
                v(obj("messageEntityUrl")
                    .with("offset", Value::Int(80))
                    .with("length", Value::Int(24))),
                v(obj("messageEntityMention")
                    .with("offset", Value::Int(110))
                    .with("length", Value::Int(7))),
            ];
            v(obj("message")
                .with("out", Value::Bool(i % 3 == 0))
                .with("id", Value::Int(1000 + i as i32))
                .with(
                    "from_id",
                    v(obj("peerUser").with("user_id", Value::Long(5_000_000 + (i % 20) as i64))),
                )
                .with(
                    "peer_id",
                    v(obj("peerChannel").with("channel_id", Value::Long(1_234_567_890))),
                )
                .with(
                    "reply_to",
                    v(obj("messageReplyHeader")
                        .with("reply_to_msg_id", Value::Int(999 + i as i32))),
                )
                .with("date", Value::Int(1_700_000_000 + i as i32))
                .with("message", Value::String(text(i)))
                .with("entities", Value::Vector(entities)))
        })
        .collect();
    let users: Vec<Value> = (0..20)
        .map(|i| {
            v(obj("user")
                .with("contact", Value::Bool(i % 2 == 0))
                .with("id", Value::Long(5_000_000 + i as i64))
                .with(
                    "access_hash",
                    Value::Long(-8_765_432_109_876_543 + i as i64),
                )
                .with("first_name", Value::String(format!("First{i}")))
                .with("last_name", Value::String(format!("Lastname{i}")))
                .with("username", Value::String(format!("user{i}")))
                .with(
                    "photo",
                    v(obj("userProfilePhoto")
                        .with("photo_id", Value::Long(77_000 + i as i64))
                        .with("dc_id", Value::Int(2))),
                )
                .with(
                    "status",
                    v(obj("userStatusOnline").with("expires", Value::Int(1_700_000_500))),
                ))
        })
        .collect();
    let m = obj("messages.messages")
        .with("messages", Value::Vector(messages))
        .with("topics", Value::Vector(vec![]))
        .with("chats", Value::Vector(vec![]))
        .with("users", Value::Vector(users));
    schema().encode(&m).expect("payload encodes")
}

/// A local DC in a child process, so that a benchmark's own memory and CPU hold only the
/// client side.
pub mod child {
    use fleetgram_localdc::{Config as DcConfig, LocalDc};

    /// The child's body: starts a DC, prints its info (one JSON line), stops when stdin closes.
    /// Call it from `main` when the process was started with `--dc-child`.
    pub fn dc_child() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dc = LocalDc::start(DcConfig {
                login_code: Some("12345".into()),
                control_addr: Some("127.0.0.1:0".parse().unwrap()),
                ..DcConfig::default()
            })
            .await
            .unwrap();
            println!("{}", dc.info().to_json());
            let _ = tokio::task::spawn_blocking(|| {
                let mut s = String::new();
                let _ = std::io::stdin().read_line(&mut s);
            })
            .await;
            dc.shutdown().await;
        });
    }

    /// Starts this executable again with `--dc-child`; the child and the DC's info.
    pub fn spawn() -> (std::process::Child, serde_json::Value) {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--dc-child")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        (child, serde_json::from_str(&line).unwrap())
    }

    /// `POST /control` with a JSON body; the JSON answer.
    pub fn control_call(url: &str, body: &serde_json::Value) -> serde_json::Value {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut s = std::net::TcpStream::connect(host).unwrap();
        let b = body.to_string();
        write!(
            s,
            "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
            b.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let json = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// Resident memory of process `pid`, KiB.
    pub fn rss_kib(pid: u32) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}
