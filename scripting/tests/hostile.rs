//! Scripts written by someone hostile: every way out of the budget that froze the whole
//! host before (a loop inside a coroutine, a loop that catches the limit error with `pcall`
//! or `xpcall`, a pattern that backtracks for ages inside C, a `__gc` finalizer, a table
//! that contains itself, a module that requires itself) is stopped with an error naming
//! the file and line, the script's other handlers go on, and the runtime (one thread
//! here) is never held by script code: a ticker and another script keep running.

use fleetgram_engine::updates::UpdateKind;
use fleetgram_scripting::{Limits, Script};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;
use support::{last_error, limits, message};

fn dir(name: &str) -> PathBuf {
    support::scratch("hostile", name)
}

async fn start(name: &str, source: &str, limits: Limits) -> (Arc<Script>, Arc<Mutex<Vec<String>>>) {
    let d = dir(name.split('.').next().unwrap());
    let path = d.join(name);
    std::fs::write(&path, source).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let s = Script::start(&path, support::ctx(log.clone()), limits)
        .await
        .unwrap();
    (s, log)
}

const LUA: &str = r#"
on("message", text_contains("coroutine"), function(m)
  local co = coroutine.create(function() while true do end end)
  coroutine.resume(co)
  log.info("after coroutine")
end)
on("message", text_contains("wrap"), function(m)
  local f = coroutine.wrap(function() local n = 0 while true do n = n + 1 end end)
  pcall(f)
  log.info("after wrap")
end)
on("message", text_contains("protected"), function(m)
  while true do
    local ok = pcall(function() while true do end end)
    log.info("caught")
  end
end)
on("message", text_contains("xpcall"), function(m)
  while true do
    xpcall(function() while true do end end, function(e) return "swallowed" end)
    log.info("caught")
  end
end)
on("message", text_contains("pattern"), function(m)
  string.find(string.rep("a", 40), string.rep("a-", 40) .. "b")
  log.info("after pattern")
end)
on("message", text_contains("gsub"), function(m)
  local s = ("x"):rep(30)
  s:gsub(("x?"):rep(30) .. ("x"):rep(30) .. "y", "z")
end)
on("message", text_contains("finalizer"), function(m)
  setmetatable({}, { __gc = function() while true do end end })
end)
on("message", text_contains("cycle"), function(m)
  local t = {}
  t.self = t
  print(t)
  call("help.getConfig", t)
end)
on("message", text_contains("memory"), function(m)
  local t = {}
  for i = 1, 1e8 do t[i] = ("x"):rep(100) .. i end
end)
on("message", function(m) log.info("alive", m.text) end)
"#;

#[tokio::test(flavor = "current_thread")]
async fn lua_cannot_escape_its_budget() {
    let (s, log) = start("escape.lua", LUA, limits()).await;
    let cases = [
        ("coroutine", 3, "instruction limit exceeded"),
        ("wrap", 8, "instruction limit exceeded"),
        ("protected", 14, "instruction limit exceeded"),
        ("xpcall", 20, "instruction limit exceeded"),
        ("pattern", 25, "instruction limit exceeded"),
        ("gsub", 30, "instruction limit exceeded"),
        ("finalizer", 33, "__gc metamethods are not allowed"),
        ("cycle", 39, "contains itself"),
        ("memory", 43, "memory limit exceeded"),
    ];
    for (i, (trigger, line, what)) in cases.iter().enumerate() {
        let t = Instant::now();
        s.dispatch(UpdateKind::NewMessage, &message(trigger)).await;
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "{trigger}: {:?}",
            t.elapsed()
        );
        let e = last_error(&s);
        assert!(
            e.contains(&format!("escape.lua:{line}:")) && e.contains(what),
            "{trigger}: {e}"
        );
        assert_eq!(
            s.stats.errors.load(Ordering::Relaxed),
            i as u64 + 1,
            "{trigger}: {:?}",
            log.lock().unwrap()
        );
        let lines = log.lock().unwrap().clone();
        // The script's other handler ran; nothing after the stop did, and a catching loop
        // did not get to log.
        assert!(
            lines.iter().any(|l| l == &format!("info: alive {trigger}")),
            "{trigger}: {lines:?}"
        );
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("after ") || l.contains("caught")),
            "{trigger}: {lines:?}"
        );
    }
    // A table that contains itself prints as a table (no crash).
    assert!(log.lock().unwrap().iter().any(|l| l == "info: table"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_busy_script_holds_neither_the_runtime_nor_other_scripts() {
    // A handler that loops for its whole time limit (a budget too large to end it first).
    let busy = Limits {
        max_ops: u64::MAX / 2,
        timeout: Duration::from_secs(2),
        memory: 16 << 20,
        max_wait: Duration::from_secs(10),
    };
    let (hog, _) = start(
        "hog.lua",
        "on(\"message\", function(m) while true do pcall(function() while true do end end) end end)\n",
        busy,
    )
    .await;
    let (other, other_log) = start(
        "other.rhai",
        "on(\"message\", |m| { log::info(`answered ${m.text}`); });\n",
        limits(),
    )
    .await;
    let ticks = Arc::new(AtomicU64::new(0));
    let t = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            t.fetch_add(1, Ordering::Relaxed);
        }
    });
    let start = Instant::now();
    let hogging = tokio::spawn(async move {
        hog.dispatch(UpdateKind::NewMessage, &message("spin")).await;
        (last_error(&hog), start.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    other.dispatch(UpdateKind::NewMessage, &message("hi")).await;
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(other_log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l == "info: answered hi"));
    let (e, took) = hogging.await.unwrap();
    assert!(
        e.contains("timed out after 2s") && e.contains("hog.lua:1:"),
        "{e}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    // The runtime's one thread ticked all along.
    let n = ticks.load(Ordering::Relaxed);
    assert!(
        n as f64 >= took.as_millis() as f64 / 10.0 * 0.5,
        "{n} ticks in {took:?}"
    );
    ticker.abort();
}

#[tokio::test(flavor = "current_thread")]
async fn loading_is_bounded_like_a_handler() {
    let d = dir("load");
    // A module that requires itself, inside pcall, and failing requires around it.
    std::fs::write(
        d.join("selfreq.lua"),
        "for i = 1, 50 do pcall(require, \"selfreq\") pcall(require, \"missing\" .. i) end\nreturn {}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("main.lua"),
        "local ok, e = pcall(require, \"selfreq\")\nlog.info(\"required\", ok, e)\nlocal ok2, e2 = pcall(require, \".tmp.x\")\nlog.info(\"escape\", ok2, tostring(e2))\non(\"message\", function(m) end)\n",
    )
    .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let t = Instant::now();
    let s = Script::start(&d.join("main.lua"), support::ctx(log.clone()), limits()).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(s.is_ok(), "{:?}", s.err());
    let lines = log.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.starts_with("info: required true")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("info: escape false") && l.contains("invalid module name")),
        "{lines:?}"
    );
    // A top level that never ends is stopped by the same budget.
    std::fs::write(
        d.join("spin.lua"),
        "while true do pcall(function() while true do end end) end\n",
    )
    .unwrap();
    let e = Script::start(&d.join("spin.lua"), support::ctx(log), limits())
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("instruction limit exceeded"), "{e}");
}

#[tokio::test(flavor = "current_thread")]
async fn rhai_cannot_escape_its_budget() {
    let src = r#"
on("message", text_contains("try"), |m| {
    loop {
        try { loop {} } catch (e) { log::info("caught"); }
    }
});
on("message", text_contains("fail"), |m| {
    let x = 1;
    let z = 0;
    let y = x / z;
});
on("message", |m| { log::info(`alive ${m.text}`); });
"#;
    let (s, log) = start("escape.rhai", src, limits()).await;
    let t = Instant::now();
    s.dispatch(UpdateKind::NewMessage, &message("try")).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let e = last_error(&s);
    assert!(e.contains("operation limit exceeded"), "{e}");
    let lines = log.lock().unwrap().clone();
    assert!(!lines.iter().any(|l| l.contains("caught")), "{lines:?}");
    assert!(lines.iter().any(|l| l == "info: alive try"), "{lines:?}");
    // A runtime error is reported at the failing line, not at the `on(` line.
    s.dispatch(UpdateKind::NewMessage, &message("fail")).await;
    let e = last_error(&s);
    assert!(
        e.contains("escape.rhai:10:") && e.contains("Division by zero"),
        "{e}"
    );
}

/// A store on a full disk: reads work, every write fails.
#[derive(Debug)]
struct FullDisk(fleetgram_engine::store::MemoryStore);

fn full() -> fleetgram_engine::store::StoreError {
    fleetgram_engine::store::StoreError::Io {
        path: "/full".into(),
        reason: "No space left on device (os error 28)".into(),
    }
}

impl fleetgram_engine::store::SessionStore for FullDisk {
    fn load(
        &self,
        a: &str,
    ) -> Result<Option<fleetgram_engine::store::AccountState>, fleetgram_engine::store::StoreError>
    {
        self.0.load(a)
    }
    fn save(
        &self,
        _: &str,
        _: &fleetgram_engine::store::AccountState,
    ) -> Result<(), fleetgram_engine::store::StoreError> {
        Err(full())
    }
    fn delete(&self, _: &str) -> Result<(), fleetgram_engine::store::StoreError> {
        Err(full())
    }
    fn save_peers(
        &self,
        _: &str,
        _: &[fleetgram_engine::peers::PeerEntry],
    ) -> Result<(), fleetgram_engine::store::StoreError> {
        Err(full())
    }
    fn load_peer(
        &self,
        a: &str,
        id: i64,
    ) -> Result<Option<fleetgram_engine::peers::PeerEntry>, fleetgram_engine::store::StoreError>
    {
        self.0.load_peer(a, id)
    }
    fn peer_by_username(
        &self,
        a: &str,
        u: &str,
    ) -> Result<Option<fleetgram_engine::peers::PeerEntry>, fleetgram_engine::store::StoreError>
    {
        self.0.peer_by_username(a, u)
    }
    fn delete_peer(&self, _: &str, _: i64) -> Result<(), fleetgram_engine::store::StoreError> {
        Err(full())
    }
    fn kv_get(
        &self,
        s: &str,
        k: &str,
    ) -> Result<Option<Vec<u8>>, fleetgram_engine::store::StoreError> {
        self.0.kv_get(s, k)
    }
    fn kv_update(
        &self,
        _: &str,
        _: &str,
        _: &mut fleetgram_engine::store::KvUpdate<'_>,
    ) -> Result<Option<Vec<u8>>, fleetgram_engine::store::StoreError> {
        Err(full())
    }
    fn kv_keys(
        &self,
        s: &str,
        p: &str,
    ) -> Result<Vec<String>, fleetgram_engine::store::StoreError> {
        self.0.kv_keys(s, p)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_schedule_backs_off_when_the_store_cannot_be_written() {
    let d = dir("fulldisk");
    let path = d.join("tick.lua");
    std::fs::write(
        &path,
        "every(\"50ms\", function() log.info(\"tick\") end)\n",
    )
    .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::new(FullDisk(fleetgram_engine::store::MemoryStore::new()));
    let s = Script::start(&path, support::ctx_with_store(log.clone(), store), limits())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ticks = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| *l == "info: tick")
        .count();
    // Before: the job ran again at once after every failed commit (~790 times a second).
    assert!((1..=3).contains(&ticks), "{ticks} runs in 1.5 s");
    let e = last_error(&s);
    assert!(
        e.contains("cannot record the run") && e.contains("No space left"),
        "{e}"
    );
    s.stop();
}

#[tokio::test(flavor = "current_thread")]
async fn a_filter_function_runs_under_the_same_budget() {
    let lua = r#"
on("message", function(ev) while true do end end, function(m) log.info("never") end)
on("message", function(m) log.info("alive", m.text) end)
"#;
    let (s, log) = start("filter.lua", lua, limits()).await;
    let t = Instant::now();
    s.dispatch(UpdateKind::NewMessage, &message("x")).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let e = last_error(&s);
    assert!(
        e.contains("instruction limit exceeded") && e.contains("filter.lua:2"),
        "{e}"
    );
    let lines = log.lock().unwrap().clone();
    assert!(lines.iter().any(|l| l == "info: alive x"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("never")), "{lines:?}");
    let rhai = r#"
on("message", |ev| { loop {} }, |m| { log::info("never"); });
on("message", |m| { log::info(`alive ${m.text}`); });
"#;
    let (s, log) = start("filter.rhai", rhai, limits()).await;
    let t = Instant::now();
    s.dispatch(UpdateKind::NewMessage, &message("y")).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let lines = log.lock().unwrap().clone();
    assert!(lines.iter().any(|l| l == "info: alive y"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("never")), "{lines:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn rhai_errors_name_the_line_that_failed() {
    let src = r#"
fn helper(x) {
    let y = x.nope();
    y
}
on("message", text_contains("a"), |m| {
    let z = 1;
    helper(z);
});
on("message", text_contains("b"), |m| {
    let arr = [1, 2];
    let v = arr[5];
});
"#;
    let (s, _) = start("lines.rhai", src, limits()).await;
    // Inside a function the handler calls: the function's line, not the call's (or `on(`).
    s.dispatch(UpdateKind::NewMessage, &message("a")).await;
    let e = last_error(&s);
    assert!(e.contains("lines.rhai:3: Function not found: nope"), "{e}");
    assert!(!e.contains("(line "), "{e}");
    s.dispatch(UpdateKind::NewMessage, &message("b")).await;
    let e = last_error(&s);
    assert!(
        e.contains("lines.rhai:12: Array index 5 out of bounds"),
        "{e}"
    );
}
