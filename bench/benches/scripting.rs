//! Script dispatch figures (issue 9), on one worker thread:
//!
//! 1. NewMessage dispatch into a trivial handler, Lua and Rhai (updates/s through the same
//!    path the fleet uses: event built from the TL update, filters, handler call);
//! 2. Rust-side rejection when no script wants the update: by kind (nothing subscribed to
//!    it) and by filter (a `command("start")` handler, the message is something else);
//! 3. reload latency: `Script::reload` (load + swap), and file edit -> new version in place
//!    through the watcher.
//!
//! `cargo bench --manifest-path bench/Cargo.toml --bench scripting [-- N]`; for profiling,
//! `ONLY_LUA=1` (the Lua figures alone), `ONLY_LUA=flight` (Lua in flight alone) and
//! `ONLY_LUA=floor` (what the worker and the per-chat runner cost with no script at all).

use fleetgram_engine::fleet::config::FleetConfig;
use fleetgram_engine::fleet::{
    AccountHandle, BoxFuture, Credentials, DcTable, Fleet, HandlerFactory, Handlers,
};
use fleetgram_engine::store::{MemoryStore, SessionStore};
use fleetgram_engine::updates::Delivered;
use fleetgram_engine::Client;
use fleetgram_scripting::{Limits, ScriptHost};
use fleetgram_tl::types;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct NoScripts;
impl HandlerFactory for NoScripts {
    fn attach(&self, _: AccountHandle) -> BoxFuture<'static, Result<Arc<dyn Handlers>, String>> {
        Box::pin(async { Err("none".to_string()) })
    }
}
struct NoCreds;
impl Credentials for NoCreds {
    fn login_code(&self, _: &str, _: &str) -> BoxFuture<'static, Option<String>> {
        Box::pin(async { None })
    }
}

/// An offline account running `files` (nothing here touches a network).
fn account(dir: &Path, files: &[&str]) -> AccountHandle {
    let yaml = format!(
        "network: local\naccounts:\n  - name: bench\n    kind: bot\n    username: bench_bot\n    enabled: false\n    scripts: [{}]\n",
        files.join(", ")
    );
    let config = FleetConfig::parse(&dir.join("accounts.yaml"), &yaml, &|_| None).unwrap();
    let account = config.accounts[0].clone();
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let dcs = [(1, "127.0.0.1:9".parse().unwrap())].into_iter().collect();
    let client = Client::new(
        fleetgram_engine::Config::with_dcs(1, "x", dcs, 1),
        store.clone(),
        "bench",
    )
    .unwrap();
    let fleet = Fleet::start(
        config,
        DcTable {
            dcs: Default::default(),
            default_dc: 1,
            rsa_keys: vec![],
        },
        store.clone(),
        Arc::new(NoScripts),
        Arc::new(NoCreds),
    );
    AccountHandle {
        name: "bench".into(),
        kind: fleetgram_engine::fleet::config::AccountKind::Bot,
        client,
        user_id: 1,
        username: Some("bench_bot".into()),
        account,
        fleet: fleet.handle(),
        store,
    }
}

fn new_message(i: i32, text: &str) -> Delivered {
    new_message_in(i, 777, text)
}

/// Message `i` from user `chat` in the private chat with it.
fn new_message_in(i: i32, chat: i64, text: &str) -> Delivered {
    let m = types::Message {
        out: false,
        mentioned: false,
        media_unread: false,
        silent: false,
        post: false,
        from_scheduled: false,
        legacy: false,
        edit_hide: false,
        pinned: false,
        noforwards: false,
        invert_media: false,
        offline: false,
        video_processing_pending: false,
        paid_suggested_post_stars: false,
        paid_suggested_post_ton: false,
        id: i,
        from_id: Some(types::PeerUser { user_id: chat }.into()),
        from_boosts_applied: None,
        from_rank: None,
        peer_id: types::PeerUser { user_id: chat }.into(),
        saved_peer_id: None,
        fwd_from: None,
        via_bot_id: None,
        via_business_bot_id: None,
        guestchat_via_from: None,
        reply_to: None,
        date: 1_700_000_000,
        message: text.into(),
        media: None,
        reply_markup: None,
        entities: None,
        views: None,
        forwards: None,
        replies: None,
        edit_date: None,
        post_author: None,
        grouped_id: None,
        reactions: None,
        restriction_reason: None,
        ttl_period: None,
        quick_reply_shortcut_id: None,
        effect: None,
        factcheck: None,
        report_delivery_until_date: None,
        paid_message_stars: None,
        suggested_post: None,
        schedule_repeat_period: None,
        summary_from_language: None,
        rich_message: None,
    };
    Delivered::synthetic(
        types::UpdateNewMessage {
            message: m.into(),
            pts: i,
            pts_count: 1,
        }
        .into(),
        vec![],
        vec![],
    )
}

async fn rate(host: &ScriptHost, acc: AccountHandle, text: &str, n: usize) -> f64 {
    let scripts = host.load_account(acc).await.unwrap();
    let updates: Vec<Arc<Delivered>> = (0..1000).map(|i| Arc::new(new_message(i, text))).collect();
    for d in updates.iter().take(200) {
        scripts.handle_update(d.clone()).await; // warm up
    }
    let start = Instant::now();
    for i in 0..n {
        scripts
            .handle_update(updates[i % updates.len()].clone())
            .await;
    }
    let secs = start.elapsed().as_secs_f64();
    for s in scripts.scripts() {
        let st = s.status();
        assert_eq!(st.errors, 0, "{:?}", st.last_error);
    }
    n as f64 / secs
}

/// Feeds `count` updates through `runner`, keeping `window` in flight.
async fn drive(
    runner: &mut fleetgram_engine::dispatch::OrderedRunner,
    updates: &[Arc<Delivered>],
    window: usize,
    count: usize,
) {
    let (mut sent, mut done) = (0, 0);
    while done < count {
        while sent < count && runner.pending() < window {
            runner.submit(updates[sent % updates.len()].clone());
            sent += 1;
        }
        runner.finished().await;
        done += 1;
    }
}

/// Updates/s of `handle` fed the way the fleet's pump feeds an account: through the
/// per-chat runner, from a task on the runtime, updates of `chats` chats in flight at once
/// (each chat in order).
async fn in_flight<F, Fut>(handle: F, chats: i64, n: usize) -> f64
where
    F: Fn(Arc<Delivered>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let updates: Vec<Arc<Delivered>> = (0..4096)
        .map(|i| Arc::new(new_message_in(i, 1000 + i64::from(i) % chats, "hello")))
        .collect();
    let secs = tokio::spawn(async move {
        let mut runner = fleetgram_engine::dispatch::OrderedRunner::new("bench", handle);
        // Keep `window` updates in flight, as the pump does with a busy account.
        let window = (chats as usize) * 4;
        drive(&mut runner, &updates, window, 2000).await; // warm up
        let start = Instant::now();
        drive(&mut runner, &updates, window, n).await;
        start.elapsed().as_secs_f64()
    })
    .await
    .unwrap();
    n as f64 / secs
}

/// As [`rate`], with 64 chats' updates in flight (see [`in_flight`]).
async fn rate_in_flight(host: &ScriptHost, acc: AccountHandle, chats: i64, n: usize) -> f64 {
    let scripts = host.load_account(acc).await.unwrap();
    let h = scripts.clone();
    let rate = in_flight(
        move |d| {
            let h = h.clone();
            async move { h.handle_update(d).await }
        },
        chats,
        n,
    )
    .await;
    for s in scripts.scripts() {
        let st = s.status();
        assert_eq!(st.errors, 0, "{:?}", st.last_error);
    }
    rate
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| a.parse::<usize>().is_ok())
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir =
        std::env::temp_dir().join(format!("fleetgram-bench-scripting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let w = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    w("trivial.lua", "on(\"message\", function(m) end)\n");
    w("trivial.rhai", "on(\"message\", |m| {});\n");
    w(
        "start.lua",
        "on(\"message\", command(\"start\"), function(m) end)\n",
    );
    w(
        "start.rhai",
        "on(\"message\", command(\"start\"), |m| {});\n",
    );
    w("callback.lua", "on(\"callback\", function(q) end)\n");
    w(
        "reload.lua",
        "on(\"message\", private & incoming, function(m) m:reply(\"v1\") end)\n",
    );
    rt.block_on(async {
        let host = ScriptHost::new(Limits::default(), false);
        println!("script dispatch, {n} NewMessage updates, one worker thread:");
        if std::env::var("ONLY_LUA").as_deref() == Ok("floor") {
            let w = fleetgram_scripting::worker::Worker::spawn("floor").unwrap();
            let empty = in_flight(move |_| {
                let r = w.run(|| async {});
                async move {
                    let _ = r.await;
                }
            }, 64, n)
            .await;
            println!("  floor: empty worker jobs through the runner: {empty:>12.0}/s");
            let alone = in_flight(|_| async {}, 64, n).await;
            println!("  floor: the runner alone:                      {alone:>12.0}/s");
            return;
        }
        // ONLY_LUA=flight: the Lua in-flight figure alone (for profiling).
        if std::env::var("ONLY_LUA").as_deref() != Ok("flight") {
            let lua = rate(&host, account(&dir, &["trivial.lua"]), "hello", n).await;
            println!("  Lua trivial handler:  {lua:>12.0} updates/s, one at a time (target >= 100,000)");
        }
        let lua_f = rate_in_flight(&host, account(&dir, &["trivial.lua"]), 64, n).await;
        println!("  Lua trivial handler:  {lua_f:>12.0} updates/s, 64 chats in flight (the fleet's runner; target >= 300,000)");
        if std::env::var("ONLY_LUA").is_ok() {
            return;
        }
        let rhai = rate(&host, account(&dir, &["trivial.rhai"]), "hello", n).await;
        println!("  Rhai trivial handler: {rhai:>12.0} updates/s, one at a time (target >= 50,000)");
        let rhai_f = rate_in_flight(&host, account(&dir, &["trivial.rhai"]), 64, n).await;
        println!("  Rhai trivial handler: {rhai_f:>12.0} updates/s, 64 chats in flight (target >= 120,000)");
        let kind = rate(&host, account(&dir, &["callback.lua"]), "hello", n * 5).await;
        println!("  rejected by kind (script wants callbacks only): {kind:>12.0} updates/s (target >= 1,000,000)");
        let filter = rate(&host, account(&dir, &["start.lua"]), "hello", n * 2).await;
        println!("  rejected by filter (command(\"start\"), Lua):      {filter:>12.0} updates/s (target >= 1,000,000)");
        let filter_r = rate(&host, account(&dir, &["start.rhai"]), "hello", n * 2).await;
        println!("  rejected by filter (command(\"start\"), Rhai):     {filter_r:>12.0} updates/s");

        // Reload latency.
        let scripts = host.load_account(account(&dir, &["reload.lua"])).await.unwrap();
        let s = scripts.scripts()[0].clone();
        let mut times = Vec::new();
        for i in 0..50 {
            w("reload.lua", &format!("on(\"message\", private & incoming, function(m) m:reply(\"v{i}\") end)\n"));
            let t = Instant::now();
            s.reload().await.unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        println!("reload (load + swap) of a small Lua script: median {:?}, max {:?}", times[times.len() / 2], times[times.len() - 1]);
        let watching = ScriptHost::new(Limits::default(), true);
        let scripts = watching.load_account(account(&dir, &["reload.lua"])).await.unwrap();
        let s = scripts.scripts()[0].clone();
        let mut edits = Vec::new();
        for i in 0..10 {
            let g = s.generation();
            tokio::time::sleep(Duration::from_millis(150)).await;
            w("reload.lua", &format!("on(\"message\", function(m) m:reply(\"w{i}\") end)\n"));
            let t = Instant::now();
            while s.generation() == g && t.elapsed() < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            edits.push(t.elapsed());
        }
        edits.sort();
        println!(
            "file edit -> new version in place (watcher, 80 ms debounce): median {:?}, max {:?}",
            edits[edits.len() / 2],
            edits[edits.len() - 1]
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
