//! The `fleetgram tl` subcommands: output and one-line errors with exit code 2.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn fleetgram(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetgram"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fleetgram");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let o = fleetgram(args, stdin);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(args: &[&str], stdin: Option<&str>) -> String {
    let o = fleetgram(args, stdin);
    assert_eq!(o.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn describe() {
    let out = ok(&["tl", "describe", "messages.sendMessage"], None);
    assert!(
        out.starts_with("messages.sendMessage (function, id 0x"),
        "{out}"
    );
    assert!(out.contains("  peer: InputPeer\n"), "{out}");
    assert!(out.contains("returns Updates"), "{out}");
    let err = fails(&["tl", "describe", "messages.sendMesage"], None);
    assert!(
        err.contains("did you mean") && err.contains("messages.sendMessage"),
        "{err}"
    );
}

#[test]
fn encode_decode_round_trip() {
    let hex = ok(
        &[
            "tl",
            "encode",
            r#"{"_":"inputPeerUser","user_id":42,"access_hash":-1}"#,
        ],
        None,
    );
    assert_eq!(hex.trim(), "4ca5e8dd2a00000000000000ffffffffffffffff");
    let json = ok(&["tl", "decode", hex.trim()], None);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"_":"inputPeerUser","user_id":42,"access_hash":-1})
    );
    // stdin
    let hex2 = ok(&["tl", "encode", "-"], Some(r#"{"_":"inputPeerSelf"}"#));
    assert_eq!(hex2.trim(), "c97ea07d");
    let json = ok(&["tl", "decode", "-"], Some("c97e a07d\n"));
    assert!(json.contains("inputPeerSelf"));
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let e = fails(&["tl", "encode", "{not json"], None);
    assert!(e.contains("invalid JSON at line 1"), "{e}");
    let e = fails(&["tl", "encode", r#"{"_":"nope"}"#], None);
    assert!(e.contains("unknown constructor or function `nope`"), "{e}");
    let e = fails(
        &[
            "tl",
            "encode",
            r#"{"_":"messages.sendMessage","peer":"@x"}"#,
        ],
        None,
    );
    assert_eq!(
        e.trim(),
        "error: messages.sendMessage.peer: expected InputPeer, got string"
    );
    let e = fails(&["tl", "decode", "abc"], None);
    assert!(e.contains("odd number of hex digits"), "{e}");
    let e = fails(&["tl", "decode", "zz00"], None);
    assert!(e.contains("invalid hex character"), "{e}");
    let e = fails(&["tl", "decode", "01020304"], None);
    assert!(e.contains("unknown constructor id 04030201"), "{e}");
    let e = fails(&["tl", "decode", "4ca5e8dd2a00"], None);
    assert!(e.contains("unexpected end of input"), "{e}");
}
