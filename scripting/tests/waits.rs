//! Time a handler spends waiting (for Telegram, in `sleep`, in a conversation) is not
//! script time: a handler that waits past its code's time limit still finishes, in both
//! languages, while code that runs past it is stopped. And an API error raised through a
//! `pcall` wrapper of the script's own is placed where the wrapper was called.

use fleetgram_engine::updates::UpdateKind;
use fleetgram_scripting::Script;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;
use support::{ctx, last_error, limits, message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_does_not_count_against_the_time_limit_in_both_languages() {
    // limits(): 3 s of code per run.
    assert_eq!(limits().timeout, Duration::from_secs(3));
    let dir = support::scratch("waits", "sleep");
    let mut running = Vec::new();
    for (name, src) in [
        (
            "wait.lua",
            "on(\"message\", function(m)\n  sleep(2) sleep(2)\n  log.info(\"woke \" .. m.text)\nend)\n",
        ),
        (
            "wait.rhai",
            "on(\"message\", |m| {\n    sleep(2); sleep(2);\n    log::info(\"woke \" + m.text);\n});\n",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, src).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let s = Script::start(&path, ctx(log.clone()), limits())
            .await
            .unwrap();
        running.push(tokio::spawn(async move {
            let t = Instant::now();
            s.dispatch(UpdateKind::NewMessage, &message("x")).await;
            (name, s, log, t.elapsed())
        }));
    }
    for r in running {
        let (name, s, log, took) = r.await.unwrap();
        assert!(took >= Duration::from_secs(4), "{name}: {took:?}");
        assert_eq!(s.status().errors, 0, "{name}: {}", last_error(&s));
        assert!(
            log.lock().unwrap().iter().any(|l| l == "info: woke x"),
            "{name}: {:?}",
            log.lock().unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_through_a_pcall_wrapper_names_the_line_that_called_the_wrapper() {
    let dir = support::scratch("waits", "pcall");
    let path = dir.join("wrap.lua");
    std::fs::write(
        &path,
        "local function try(f, ...)\n  local ok, err = pcall(f, ...)\n  if not ok then log.info(\"caught \" .. err.message) end\nend\non(\"message\", function(m)\n  try(call, \"messages.getHistory\", { peer = { _ = \"inputPeerSelf\" }, offset_id = 0, offset_date = 0, add_offset = 0, limit = \"ten\", max_id = 0, min_id = 0, hash = 0 })\n  local ok, err = pcall(call, \"messages.sendMesage\", {})\n  log.info(\"direct \" .. err.message)\nend)\n",
    )
    .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let s = Script::start(&path, ctx(log.clone()), limits())
        .await
        .unwrap();
    s.dispatch(UpdateKind::NewMessage, &message("x")).await;
    let lines = log.lock().unwrap().clone();
    let caught = lines
        .iter()
        .find_map(|l| l.strip_prefix("info: caught "))
        .unwrap_or_else(|| panic!("{lines:?}"));
    // The place is the line that called the wrapper, the pcall's line after it; the text
    // is the one docs/scripting.md quotes.
    assert!(
        caught.contains("wrap.lua:6 (through the pcall at ")
            && caught.contains(
                "wrap.lua:2): messages.getHistory.limit: expected integer (int), got string"
            ),
        "{caught}"
    );
    // A pcall written where the call is made names that line.
    let direct = lines
        .iter()
        .find_map(|l| l.strip_prefix("info: direct "))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        direct.contains("wrap.lua:7: unknown TL method \"messages.sendMesage\"; did you mean messages.sendMessage?"),
        "{direct}"
    );
}
