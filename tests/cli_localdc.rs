//! `fleetgram localdc`: starts, writes the info file, serves, and stops cleanly on Ctrl-C.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Waits for `fleetgram localdc` to write its info file; its JSON.
fn wait_for_info(info: &std::path::Path) -> serde_json::Value {
    let start = Instant::now();
    while !info.exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "no info file");
        std::thread::sleep(Duration::from_millis(50));
    }
    serde_json::from_str(&std::fs::read_to_string(info).unwrap()).unwrap()
}

#[test]
fn localdc_writes_info_and_stops_on_sigint() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("localdc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let info = dir.join("info.json");
    let data = dir.join("data");
    let mut child = common::Reaped::new(
        Command::new(env!("CARGO_BIN_EXE_fleetgram"))
            .args([
                "localdc",
                "--dcs",
                "2",
                "--login-code",
                "12345",
                "--info-file",
            ])
            .arg(&info)
            .arg("--data")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let v = wait_for_info(&info);
    let dcs = v["dcs"].as_array().unwrap();
    assert_eq!(dcs.len(), 2);
    assert_eq!(dcs[0]["id"], 1);
    assert_eq!(dcs[0]["host"], "127.0.0.1");
    let port = dcs[0]["port"].as_u64().unwrap();
    assert!(port > 0);
    assert!(v["rsa"]["pem"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    assert_eq!(v["rsa"]["e"], 65537);
    assert!(v["rsa"]["fingerprint"].is_i64());
    // It accepts connections.
    std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    // The key is kept in --data, readable by the owner only.
    let key_file = data.join("rsa_key.json");
    assert!(key_file.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Ctrl-C stops it cleanly.
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // Started again with the same --data, it keeps its key.
    let info2 = dir.join("info2.json");
    let mut child = common::Reaped::new(
        Command::new(env!("CARGO_BIN_EXE_fleetgram"))
            .args(["localdc", "--dcs", "1", "--info-file"])
            .arg(&info2)
            .arg("--data")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let v2 = wait_for_info(&info2);
    assert_eq!(v2["rsa"]["fingerprint"], v["rsa"]["fingerprint"]);
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

/// POSTs `body` to the control API at `url` (`http://host:port/path`); the JSON answer.
fn control(url: &str, body: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let json = out.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn localdc_channel_push_limit_and_poll_timeout_from_the_command_line_and_control_api() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("localdc-push-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let info = dir.join("info.json");
    let _ = std::fs::remove_file(&info);
    let mut child = common::Reaped::new(
        Command::new(env!("CARGO_BIN_EXE_fleetgram"))
            .args([
                "localdc",
                "--dcs",
                "1",
                "--channel-push-limit",
                "7",
                "--channel-poll-timeout",
                "3",
                "--info-file",
            ])
            .arg(&info)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let v = wait_for_info(&info);
    let url = v["control"].as_str().unwrap().to_string();
    let stats = control(&url, r#"{"op":"stats"}"#);
    assert_eq!(
        (
            stats["channel_push_limit"].as_u64(),
            stats["channel_poll_timeout"].as_u64()
        ),
        (Some(7), Some(3))
    );
    assert_eq!(
        control(&url, r#"{"op":"set_channel_push_limit","limit":200}"#),
        serde_json::json!({})
    );
    assert_eq!(
        control(&url, r#"{"op":"set_channel_poll_timeout","seconds":5}"#),
        serde_json::json!({})
    );
    let stats = control(&url, r#"{"op":"stats"}"#);
    assert_eq!(
        (
            stats["channel_push_limit"].as_u64(),
            stats["channel_poll_timeout"].as_u64()
        ),
        (Some(200), Some(5))
    );
    // Bad values are clear errors.
    let e = control(&url, r#"{"op":"drop_pushes","user":1,"share":1.5}"#);
    assert_eq!(e["error"], "share must be 0 to 1, not 1.5");
    let e = control(&url, r#"{"op":"set_channel_push_limit","limit":-1}"#);
    assert_eq!(e["error"], "limit must be 0 or more, not -1");
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    let out = Command::new(env!("CARGO_BIN_EXE_fleetgram"))
        .args(["localdc", "--channel-poll-timeout", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--channel-poll-timeout"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn localdc_bad_arguments_are_one_line_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetgram"))
        .args(["localdc", "--dcs", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dcs must be at least 1"), "{err}");
    let data = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bad-key-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("rsa_key.json"), "{\"p\": 5}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fleetgram"))
        .args(["localdc", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rsa_key.json: invalid key file: field \"p\" must be a hex prime"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(data);
}
