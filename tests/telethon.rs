//! Interop: unmodified Telethon from PyPI signs in through the local DC.
//!
//! The test creates (once) a virtualenv under the target directory with Telethon 1.45.0 from
//! PyPI, starts a local DC in-process, creates the accounts through the control API, and runs
//! `tests/interop/telethon_login.py` against it.

use fleetgram_localdc::{Config, LocalDc};
use std::path::{Path, PathBuf};
use std::process::Command;

const TELETHON: &str = "1.45.0";

fn venv_python() -> PathBuf {
    venv_python_for(TELETHON)
}

/// A virtualenv under the target directory with Telethon `version` from PyPI (made once).
fn venv_python_for(version: &str) -> PathBuf {
    // Tests of this file run in parallel: one creates a virtualenv, the others wait.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = if version == TELETHON {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("telethon-venv")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("telethon-{version}-venv"))
    };
    let python = dir.join("bin").join("python");
    let ready = python.exists()
        && Command::new(&python)
            .args([
                "-c",
                &format!(
                    "import telethon, sys; sys.exit(0 if telethon.__version__ == '{version}' else 1)"
                ),
            ])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .status()
            .expect("python3 is installed");
        assert!(status.success(), "creating the virtualenv failed");
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                &format!("telethon=={version}"),
            ])
            .status()
            .expect("pip runs");
        assert!(status.success(), "pip install telethon=={version} failed");
    }
    python
}

#[test]
fn telethon_signs_in_over_every_framing_and_follows_migration() {
    let python = venv_python();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dc = rt
        .block_on(LocalDc::start(Config {
            login_code: Some("12345".into()),
            ..Config::default()
        }))
        .unwrap();
    let control = dc.control();
    let id1 = control.create_user("15551000001", "Tele", "One", 1);
    let id2 = control.create_user("15551000002", "Tele", "Two", 2);
    let info_path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("localdc-info-{}.json", std::process::id()));
    std::fs::write(&info_path, dc.info().to_json().to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/telethon_login.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&info_path)
        .args([
            "+15551000001",
            &id1.to_string(),
            "+15551000002",
            &id2.to_string(),
        ])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "telethon failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for framing in ["full", "intermediate", "abridged", "obfuscated"] {
        assert!(
            stdout.contains(&format!("signed in over {framing} as {id1}")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("followed PHONE_MIGRATE to DC 2"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("OK"), "{stdout}");
    rt.block_on(dc.shutdown());
    let _ = std::fs::remove_file(info_path);
}

/// Runs `tests/interop/telethon_messaging.py` with Telethon `version` against a fresh local
/// DC (2FA, send, receive as a pushed event, edit, read back, delete); checks every step and
/// returns the layers the DC saw declared.
fn messaging_with(version: &str, phones: (&str, &str)) -> Vec<i32> {
    let python = venv_python_for(version);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dc = rt
        .block_on(LocalDc::start(Config {
            login_code: Some("12345".into()),
            ..Config::default()
        }))
        .unwrap();
    let control = dc.control();
    control.create_user(phones.0, "Alice", "", 1);
    control.create_user(phones.1, "Bob", "", 1);
    let info_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "localdc-info-msg-{version}-{}.json",
        std::process::id()
    ));
    std::fs::write(&info_path, dc.info().to_json().to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/telethon_messaging.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&info_path)
        .args([format!("+{}", phones.0), format!("+{}", phones.1)])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "telethon {version} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for step in [
        "2FA password set",
        "signed in with the 2FA password",
        "B received the message as a NewMessage event",
        "B saw the edit",
        "A read the history back",
        "the message is deleted on both sides",
    ] {
        assert!(
            stdout.contains(step),
            "{version}: missing step {step:?}\n{stdout}"
        );
    }
    assert!(stdout.trim_end().ends_with("OK"), "{stdout}");
    let layers = control.declared_layers();
    rt.block_on(dc.shutdown());
    let _ = std::fs::remove_file(info_path);
    layers
}

#[test]
fn telethon_two_factor_and_messaging() {
    messaging_with(TELETHON, ("15553000001", "15553000002"));
}

#[test]
fn telethon_channels_files_and_bot_buttons() {
    let python = venv_python();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dc = rt
        .block_on(LocalDc::start(Config {
            login_code: Some("12345".into()),
            ..Config::default()
        }))
        .unwrap();
    let control = dc.control();
    control.create_user("15554400001", "Alice", "", 1);
    control.create_user("15554400002", "Bob", "", 1);
    let (_, token) = control.create_bot("Interop", "tg_interop_bot", 1);
    let info_path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("localdc-info-chan-{}.json", std::process::id()));
    std::fs::write(&info_path, dc.info().to_json().to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/telethon_channels.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&info_path)
        .args(["+15554400001", "+15554400002", &token, "tg_interop_bot"])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "telethon failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for step in [
        "channel created, posted to and read by a subscriber",
        "supergroup created; the invited member's message arrived",
        "comments: B commented on a post, A listed them",
        "mentions counted and read",
        "member banned by the admin",
        "5 MiB uploaded and downloaded, hash checked",
        "inline button pressed; the bot's answer arrived",
    ] {
        assert!(stdout.contains(step), "missing step {step:?}\n{stdout}");
    }
    assert!(stdout.trim_end().ends_with("OK"), "{stdout}");
    rt.block_on(dc.shutdown());
    let _ = std::fs::remove_file(info_path);
}

#[test]
fn older_telethon_releases_speak_their_own_layers() {
    // Telethon 1.40.0 speaks layer 214 and 1.43.2 layer 224: the DC reads and answers each
    // in its layer (login with 2FA, send, receive as a pushed event, edit, delete).
    for (version, layer, phones) in [
        ("1.40.0", 214, ("15553100001", "15553200001")),
        ("1.43.2", 224, ("15553100002", "15553200002")),
    ] {
        let layers = messaging_with(version, phones);
        // It really spoke its own layer.
        assert!(
            layers.contains(&layer),
            "{version}: layers declared {layers:?}"
        );
    }
}
