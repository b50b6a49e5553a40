//! Hot reload whatever way the script file is named and saved: a relative accounts file (as
//! the README runs it), `./x`, `..`, a symlink, a bare name found through `script_dirs`;
//! saved in place or the way editors do (a new file renamed over the old one, or the old
//! one deleted first). A script that did not load at start loads when its file is fixed,
//! and a script reloaded many times is listed once.

use fleetgram_scripting::{Limits, ScriptHost};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod support;

fn limits() -> Limits {
    Limits {
        max_ops: 2_000_000,
        timeout: Duration::from_secs(3),
        memory: 16 << 20,
        max_wait: Duration::from_secs(10),
    }
}

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `to` relative to the working directory (`../../x/y`), as a user would type it.
fn relative(to: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let common = cwd
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in cwd.components().skip(common) {
        out.push("..");
    }
    for c in to.components().skip(common) {
        out.push(c);
    }
    assert!(out.is_relative());
    out
}

fn version(n: u32) -> String {
    format!("-- version {n}\non(\"message\", function(m) log.info(\"v{n}\") end)\n")
}

/// Saves like an editor that writes a new file and renames it over the old one.
fn save_by_rename(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.swp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Saves like an editor that deletes the file and writes it anew.
fn save_by_delete(path: &Path, text: &str) {
    std::fs::remove_file(path).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    std::fs::write(path, text).unwrap();
}

async fn wait_generation(host: &ScriptHost, g: u64, what: &str) {
    let start = Instant::now();
    loop {
        let st = host.status();
        if st.len() == 1 && st[0].generation == g {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: waited for generation {g}, status {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Loads the account of `accounts` (given as the user names it) and checks that each way
/// of saving `script` reloads it.
async fn reloads(accounts: &Path, yaml: &str, script: &Path) {
    let host = ScriptHost::new(limits(), true);
    let scripts = host
        .load_account(support::account(accounts, yaml))
        .await
        .unwrap();
    assert_eq!(scripts.scripts().len(), 1);
    wait_generation(&host, 1, "loaded").await;
    // Let the watcher settle, then save in place, by rename, by delete and write.
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::fs::write(script, version(2)).unwrap();
    wait_generation(&host, 2, "saved in place").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    save_by_rename(script, &version(3));
    wait_generation(&host, 3, "saved by rename").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    save_by_delete(script, &version(4));
    wait_generation(&host, 4, "saved by delete and write").await;
    // Listed once however often it was reloaded, and reported once by a reload of all.
    assert_eq!(host.status().len(), 1, "{:?}", host.status());
    assert_eq!(host.reload_all().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_accounts_file_as_the_readme_runs_it() {
    let d = dir("relative");
    std::fs::create_dir_all(d.join("scripts")).unwrap();
    std::fs::write(d.join("scripts/bot.lua"), version(1)).unwrap();
    let yaml = "network: local\nscript_dirs: [scripts]\naccounts:\n  - { name: test, kind: bot, username: test_bot, scripts: [bot.lua] }\n";
    let accounts = relative(&d.join("accounts.yaml"));
    reloads(&accounts, yaml, &d.join("scripts/bot.lua")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_slash_and_dot_dot_in_the_script_path() {
    let d = dir("dots");
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    std::fs::write(d.join("a/bot.rhai"), "on(\"message\", |m| {});\n").unwrap();
    let yaml = "network: local\naccounts:\n  - { name: test, kind: bot, username: test_bot, scripts: [./b/../bot.rhai] }\n";
    let accounts = PathBuf::from(".").join(relative(&d.join("a/accounts.yaml")));
    let host = ScriptHost::new(limits(), true);
    let _scripts = host
        .load_account(support::account(&accounts, yaml))
        .await
        .unwrap();
    wait_generation(&host, 1, "loaded").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    save_by_rename(
        &d.join("a/bot.rhai"),
        "on(\"message\", |m| { log::info(\"2\"); });\n",
    );
    wait_generation(&host, 2, "saved by rename").await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_script_reloads_when_its_target_is_saved() {
    let d = dir("symlink");
    std::fs::create_dir_all(d.join("real")).unwrap();
    std::fs::create_dir_all(d.join("conf")).unwrap();
    std::fs::write(d.join("real/bot.lua"), version(1)).unwrap();
    std::os::unix::fs::symlink(d.join("real/bot.lua"), d.join("conf/bot.lua")).unwrap();
    let yaml = "network: local\naccounts:\n  - { name: test, kind: bot, username: test_bot, scripts: [bot.lua] }\n";
    reloads(
        &relative(&d.join("conf/accounts.yaml")),
        yaml,
        &d.join("real/bot.lua"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_failed_at_start_loads_when_fixed() {
    let d = dir("fixed");
    std::fs::write(d.join("bot.lua"), "on(\"message\", function(m)\n").unwrap();
    let yaml = "network: local\naccounts:\n  - { name: test, kind: bot, username: test_bot, scripts: [bot.lua] }\n";
    let host = ScriptHost::new(limits(), true);
    let scripts = host
        .load_account(support::account(&relative(&d.join("accounts.yaml")), yaml))
        .await
        .unwrap();
    // Listed, with its error, and no version loaded.
    let st = host.status();
    assert_eq!(st.len(), 1, "{st:?}");
    assert_eq!(st[0].generation, 0);
    assert!(
        st[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("bot.lua:"),
        "{st:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    save_by_rename(&d.join("bot.lua"), &version(1));
    wait_generation(&host, 1, "fixed").await;
    assert_eq!(scripts.scripts()[0].vm().handlers().len(), 1);
}
