//! One dispatch for both front ends: the Rust dispatcher and scripts (Lua, Rhai) build the
//! same filter and pick the same updates out of one mixed set (commands addressed to this
//! bot or another, groups, supergroups, broadcast channels, outgoing messages, edits,
//! callbacks, script functions), and stop an update the same way.

use fleetgram_engine::dispatch::{Dispatcher, Filter as F};
use fleetgram_engine::updates::{Delivered, UpdateKind};
use fleetgram_scripting::event::EventData;
use fleetgram_scripting::Script;
use fleetgram_tl::enums;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

mod support;
use support::{ctx, last_error, limits};

/// A TL object from its JSON form (through the dynamic codec).
fn tl<T: fleetgram_tl::Deserializable>(j: serde_json::Value) -> T {
    let schema = fleetgram_tl::dynamic::schema();
    let obj = schema.object_from_json(&j).unwrap();
    T::from_bytes(&schema.encode(&obj).unwrap()).unwrap()
}

fn channel(id: i64, broadcast: bool) -> enums::Chat {
    tl(
        json!({"_": "channel", "id": id, "broadcast": broadcast, "megagroup": !broadcast,
        "title": "c", "photo": {"_": "chatPhotoEmpty"}, "date": 0}),
    )
}

/// Message `id` (the case number) with `text` in `peer`, from user `from`.
fn message(
    id: i32,
    peer: serde_json::Value,
    from: Option<i64>,
    text: &str,
    out: bool,
    post: bool,
) -> serde_json::Value {
    let mut m = json!({"_": "message", "id": id, "peer_id": peer, "date": 1, "message": text,
        "out": out, "post": post});
    if let Some(f) = from {
        m["from_id"] = json!({"_": "peerUser", "user_id": f});
    }
    m
}

fn new_message(m: serde_json::Value, chats: Vec<enums::Chat>) -> Arc<Delivered> {
    let u: enums::Update =
        tl(json!({"_": "updateNewMessage", "message": m, "pts": 1, "pts_count": 1}));
    Arc::new(Delivered::synthetic(u, vec![], chats))
}

/// The mixed set: case number -> update.
fn updates() -> Vec<Arc<Delivered>> {
    let user = |id: i64| json!({"_": "peerUser", "user_id": id});
    let group = json!({"_": "peerChat", "chat_id": 7});
    let superg = json!({"_": "peerChannel", "channel_id": 9});
    let chan = json!({"_": "peerChannel", "channel_id": 10});
    vec![
        new_message(message(1, user(5), None, "/start", false, false), vec![]),
        new_message(
            message(2, user(5), None, "/start@test_bot", false, false),
            vec![],
        ),
        new_message(
            message(3, user(5), None, "/start@other_bot", false, false),
            vec![],
        ),
        new_message(message(4, user(5), None, "/starter", false, false), vec![]),
        new_message(
            message(5, group, Some(5), "/start payload", false, false),
            vec![],
        ),
        new_message(
            message(6, superg.clone(), Some(5), "/start", false, false),
            vec![channel(9, false)],
        ),
        new_message(
            message(7, chan, None, "/start big SALE", false, true),
            vec![channel(10, true)],
        ),
        new_message(message(8, user(5), None, "/start", true, false), vec![]),
        new_message(
            message(9, superg, Some(6), "hello, sale today", false, false),
            vec![channel(9, false)],
        ),
        Arc::new(Delivered::synthetic(
            tl(
                json!({"_": "updateBotCallbackQuery", "query_id": 1, "user_id": 5, "peer": user(5),
                "msg_id": 10, "chat_instance": 1, "data": "c3RhcnQgc2FsZQ=="}),
            ),
            vec![],
            vec![],
        )),
        Arc::new(Delivered::synthetic(
            tl(
                json!({"_": "updateEditMessage", "message": message(11, user(5), None, "/start", false, false),
                "pts": 1, "pts_count": 1}),
            ),
            vec![],
            vec![],
        )),
        new_message(message(12, user(5), None, "sale", false, false), vec![]),
    ]
}

/// The message id (case number) of an update, for the Rust side.
fn case(d: &Delivered) -> i32 {
    match d.message() {
        Some(enums::Message::Message(m)) => m.id,
        _ => 0,
    }
}

type Hits = Arc<Mutex<BTreeSet<(usize, i32)>>>;

/// Hits of a script's `log.info("hit", n, m.id)` lines.
fn script_hits(log: &[String]) -> BTreeSet<(usize, i32)> {
    log.iter()
        .filter_map(|l| {
            let mut w = l.strip_prefix("info: hit ")?.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect()
}

async fn run_script(name: &str, src: &str, updates: &[Arc<Delivered>]) -> BTreeSet<(usize, i32)> {
    let dir = support::scratch("one_dispatch", name.split('.').next().unwrap());
    let path = dir.join(name);
    std::fs::write(&path, src).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let c = ctx(log.clone());
    let client = c.account.client.clone();
    let s = Script::start(&path, c, limits()).await.unwrap();
    for d in updates {
        s.dispatch_event(&EventData::of(d.clone(), Some(&client)))
            .await;
    }
    assert_eq!(s.status().errors, 0, "{name}: {}", last_error(&s));
    let lines = log.lock().unwrap().clone();
    script_hits(&lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_dispatcher_and_scripts_match_the_same_updates_with_the_same_filter() {
    let updates = updates();
    // The Rust side, on the same (never connected) account the scripts run on.
    let client = ctx(Arc::default()).account.client.clone();
    let hits: Hits = Arc::default();
    let mut d = Dispatcher::new().username("test_bot");
    let filters = [
        F::command("start") & (F::private() | F::group()) & F::incoming(),
        F::text_contains("sale") & (F::channel() | F::from_users([6])),
        F::chats([-1_000_000_000_009, -7]) & !F::outgoing(),
        F::custom(|e| e.text().len() > 6) & F::private(),
    ];
    for (n, f) in filters.into_iter().enumerate() {
        let hits = hits.clone();
        d.on(UpdateKind::NewMessage, f, move |e| {
            hits.lock().unwrap().insert((n, case(&e.update)));
            async { Ok(()) }
        });
    }
    for u in &updates {
        d.dispatch(&client, u.clone()).await;
    }
    let rust = hits.lock().unwrap().clone();
    let want: BTreeSet<(usize, i32)> = [
        // /start to no one or to this bot, in private chats, groups and supergroups.
        (0, 1),
        (0, 2),
        (0, 5),
        (0, 6),
        // "sale" in a broadcast channel, or from user 6.
        (1, 7),
        (1, 9),
        // The group and the supergroup.
        (2, 5),
        (2, 6),
        (2, 9),
        // The script function / Rust closure.
        (3, 2),
        (3, 3),
        (3, 4),
    ]
    .into();
    assert_eq!(rust, want, "the Rust dispatcher");

    let lua = r#"
on("message", command("start") & (private | group) & incoming, function(m) log.info("hit", 0, m.id) end)
on("message", text_contains("sale") & (channel | from_users({6})), function(m) log.info("hit", 1, m.id) end)
on("message", chats({-1000000000009, -7}) & ~outgoing, function(m) log.info("hit", 2, m.id) end)
on("message", filter(function(m) return #m.text > 6 end) & private, function(m) log.info("hit", 3, m.id) end)
"#;
    assert_eq!(run_script("same.lua", lua, &updates).await, want, "Lua");
    let rhai = r#"
on("message", command("start") & (private_chat | group) & incoming, |m| { log::info("hit 0 " + m.id) });
on("message", text_contains("sale") & (channel | from_users([6])), |m| { log::info("hit 1 " + m.id) });
on("message", chats([-1000000000009, -7]) & !outgoing, |m| { log::info("hit 2 " + m.id) });
on("message", filter(|m| m.text.len() > 6) & private_chat, |m| { log::info("hit 3 " + m.id) });
"#;
    assert_eq!(run_script("same.rhai", rhai, &updates).await, want, "Rhai");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_matching_handler_runs_until_one_stops_the_update_in_both_front_ends() {
    let user = json!({"_": "peerUser", "user_id": 5});
    let updates: Vec<_> = ["please stop", "go on", "stop"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            new_message(
                message(i as i32 + 1, user.clone(), None, t, false, false),
                vec![],
            )
        })
        .collect();
    let want: BTreeSet<(usize, i32)> = [(0, 1), (0, 3), (1, 2), (2, 2)].into();

    let client = ctx(Arc::default()).account.client.clone();
    let hits: Hits = Arc::default();
    let mut d = Dispatcher::new();
    let h = hits.clone();
    d.on(UpdateKind::NewMessage, F::text_contains("stop"), move |e| {
        h.lock().unwrap().insert((0, case(&e.update)));
        e.stop_propagation();
        async { Ok(()) }
    });
    for n in [1, 2] {
        let h = hits.clone();
        d.on(UpdateKind::NewMessage, F::All, move |e| {
            h.lock().unwrap().insert((n, case(&e.update)));
            async { Ok(()) }
        });
    }
    for u in &updates {
        d.dispatch(&client, u.clone()).await;
    }
    assert_eq!(*hits.lock().unwrap(), want, "the Rust dispatcher");

    let lua = r#"
on("message", text_contains("stop"), function(m) log.info("hit", 0, m.id); m:stop() end)
on("message", function(m) log.info("hit", 1, m.id) end)
on("message", all, function(m) log.info("hit", 2, m.id) end)
"#;
    assert_eq!(run_script("stop.lua", lua, &updates).await, want, "Lua");
    let rhai = r#"
on("message", text_contains("stop"), |m| { log::info("hit 0 " + m.id); m.stop(); });
on("message", |m| { log::info("hit 1 " + m.id) });
on("message", all, |m| { log::info("hit 2 " + m.id) });
"#;
    assert_eq!(run_script("stop.rhai", rhai, &updates).await, want, "Rhai");
}
