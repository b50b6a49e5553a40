//! The fleet commands: a bad accounts file is refused with file, line, column and path;
//! `accounts` lists what the store knows; session strings go out and back in.

mod common;

use fleetgram_engine::store::{AccountState, DcState, SessionStore, SledStore};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fleetgram(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetgram"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_bad_accounts_file_starts_nothing_and_says_where() {
    let d = dir("cli-bad");
    let path = d.join("accounts.yaml");
    std::fs::write(
        &path,
        "network: local\nstore: data\naccounts:\n  - name: a\n    kind: bot\n    usernme: x\n",
    )
    .unwrap();
    let (code, _, err) = fleetgram(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    let expected = format!(
        "{}:6:5: accounts[0]: unknown field `usernme`",
        path.display()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("did you mean `username`?"), "{err}");
    assert!(!d.join("data").exists(), "nothing started");
    std::fs::write(
        &path,
        "network: telegram\napi_id: 1\napi_hash: ${FLEETGRAM_TEST_UNSET_VAR}\naccounts: []\n",
    )
    .unwrap();
    let (code, _, err) = fleetgram(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains(":3:11: environment variable FLEETGRAM_TEST_UNSET_VAR is not set"),
        "{err}"
    );
    let (code, _, err) = fleetgram(&["run", d.join("missing.yaml").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn accounts_table_and_session_strings() {
    let d = dir("cli-sessions");
    let path = d.join("accounts.yaml");
    std::fs::write(
        &path,
        "network: telegram\napi_id: 1\napi_hash: x\nstore: data\naccounts:\n  - { name: alice, kind: user, phone: \"+15550001\" }\n  - { name: copy, kind: user, phone: \"+15550002\" }\n  - { name: other, kind: user, phone: \"+15550003\" }\n  - { name: robot, kind: bot, token: \"1:x\" }\n",
    )
    .unwrap();
    // A logged-in account in the store (as `login` would leave it).
    {
        let store = SledStore::open(d.join("data/sessions")).unwrap();
        let mut st = AccountState::new(2);
        st.user_id = Some(777);
        st.dcs.insert(
            2,
            DcState {
                auth_key: Some(vec![7; 256]),
                salt: 1,
                time_offset: 0,
                authorized: true,
            },
        );
        store.save("alice", &st).unwrap();
    }
    let p = path.to_str().unwrap();
    let (code, out, err) = fleetgram(&["accounts", p]);
    assert_eq!(code, 0, "{err}");
    let alice = out.lines().find(|l| l.starts_with("alice")).unwrap();
    assert!(alice.contains("ready") && alice.contains("777"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("copy") && l.contains("new")),
        "{out}"
    );
    let (code, session, err) = fleetgram(&["session", "export", "alice", "--config", p]);
    assert_eq!(code, 0, "{err}");
    let session = session.trim().to_string();
    assert!(session.len() > 300 && !session.contains(char::is_whitespace));
    let (code, _, err) = fleetgram(&["session", "import", "copy", &session, "--config", p]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = fleetgram(&["accounts", p]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("copy") && l.contains("ready")),
        "{out}"
    );
    let (code, _, err) = fleetgram(&["session", "export", "nobody", "--config", p]);
    assert_eq!(code, 2);
    assert!(err.contains("no account named \"nobody\""), "{err}");
    let (code, _, err) = fleetgram(&["session", "import", "copy", "garbage", "--config", p]);
    assert_eq!(code, 2);
    assert!(err.contains("session string"), "{err}");
    // An existing session is not replaced without --force.
    let (code, _, err) = fleetgram(&["session", "import", "copy", &session, "--config", p]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("already has a session") && err.contains("--force"),
        "{err}"
    );
    let (code, _, err) = fleetgram(&[
        "session", "import", "copy", &session, "--force", "--config", p,
    ]);
    assert_eq!(code, 0, "{err}");
    // A changed byte (a key byte, then the DC) is caught by the checksum.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut raw = b64.decode(&session).unwrap();
    raw[100] ^= 1;
    let (code, _, err) = fleetgram(&[
        "session",
        "import",
        "other",
        &b64.encode(&raw),
        "--config",
        p,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("checksum"), "{err}");
    let mut raw = b64.decode(&session).unwrap();
    raw[1..5].copy_from_slice(&999i32.to_le_bytes());
    let (code, _, err) = fleetgram(&[
        "session",
        "import",
        "other",
        &b64.encode(&raw),
        "--config",
        p,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("checksum"), "{err}");
    // A user's session for a bot account is refused.
    let (code, _, err) = fleetgram(&["session", "import", "robot", &session, "--config", p]);
    assert_eq!(code, 2);
    assert!(err.contains("is configured as a bot"), "{err}");
    // From a file, and from stdin (not on the command line, where `ps` shows it).
    let file = d.join("session.txt");
    std::fs::write(&file, format!("{session}\n")).unwrap();
    let (code, _, err) = fleetgram(&[
        "session",
        "import",
        "other",
        "--file",
        file.to_str().unwrap(),
        "--config",
        p,
    ]);
    assert_eq!(code, 0, "{err}");
    let mut child = common::Reaped::new(
        Command::new(env!("CARGO_BIN_EXE_fleetgram"))
            .args(["session", "import", "other", "--force", "--config", p])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(session.as_bytes())
            .unwrap();
    }
    let out = child.into_inner().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A version-1 string (no checksum) of an older build still imports.
    let mut v1 = b64.decode(&session).unwrap();
    v1.truncate(v1.len() - 4);
    v1[0] = 1;
    let (code, _, err) = fleetgram(&[
        "session",
        "import",
        "other",
        &b64.encode(&v1),
        "--force",
        "--config",
        p,
    ]);
    assert_eq!(code, 0, "{err}");
}
