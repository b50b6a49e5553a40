//! The sandbox and error reports, in both languages, without a network: endless loops,
//! memory bombs and forbidden libraries are stopped with clear errors while other handlers
//! carry on; syntax errors, runtime errors, wrong argument types to `call` and unknown
//! methods name the script file and line.

use fleetgram_engine::updates::UpdateKind;
use fleetgram_scripting::Script;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod support;
use support::{ctx, last_error, limits, message};

fn dir(name: &str) -> PathBuf {
    support::scratch("sandbox", name)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Loads `source` as `name`, dispatches a message and returns the script and its log.
async fn run(name: &str, source: &str, text: &str) -> (Arc<Script>, Vec<String>) {
    let d = dir(name.split('.').next().unwrap());
    let path = write(&d, name, source);
    let log = Arc::new(Mutex::new(Vec::new()));
    let script = Script::start(&path, ctx(log.clone()), limits())
        .await
        .unwrap();
    script
        .dispatch(UpdateKind::NewMessage, &message(text))
        .await;
    let lines = log.lock().unwrap().clone();
    (script, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lua_endless_loop_memory_bomb_and_forbidden_libraries() {
    let src = r#"
on("message", text_contains("loop"), function(m)
  local n = 0
  while true do n = n + 1 end
end)
on("message", text_contains("bomb"), function(m)
  local t = {}
  for i = 1, 100000000 do t[i] = string.rep("x", 1024) .. i end
end)
on("message", text_contains("io"), function(m)
  io.open("/etc/passwd")
end)
on("message", function(m)
  kv.set("survived:" .. m.text, true)
  log.info("still here", m.text, os.time() > 0, os.execute == nil, string.dump == nil, debug == nil, package == nil)
end)
"#;
    let (s, log) = run("sandbox.lua", src, "loop").await;
    let e = last_error(&s);
    assert!(
        e.contains("sandbox.lua:4:") && e.contains("instruction limit exceeded"),
        "{e}"
    );
    // The other handler of the same script still ran.
    assert!(
        log.iter()
            .any(|l| l.contains("still here loop true true true true true")),
        "{log:?}"
    );
    s.dispatch(UpdateKind::NewMessage, &message("bomb")).await;
    let e = last_error(&s);
    assert!(
        e.contains("memory limit exceeded") || e.contains("not enough memory"),
        "{e}"
    );
    s.dispatch(UpdateKind::NewMessage, &message("io")).await;
    let e = last_error(&s);
    assert!(e.contains("sandbox.lua:11:") && e.contains("io"), "{e}");
    assert_eq!(s.stats.errors.load(std::sync::atomic::Ordering::Relaxed), 3);
    // The state is usable after all that.
    s.dispatch(UpdateKind::NewMessage, &message("after")).await;
    assert_eq!(s.stats.errors.load(std::sync::atomic::Ordering::Relaxed), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhai_endless_loop_and_no_file_access() {
    let src = r#"
on("message", text_contains("loop"), |m| {
    let n = 0;
    loop { n += 1; }
});
on("message", text_contains("import"), |m| {
    import "/etc/passwd" as p;
});
on("message", |m| {
    kv::set(`survived:${m.text}`, true);
    log::info(`still here ${m.text}`);
});
"#;
    let (s, log) = run("sandbox.rhai", src, "loop").await;
    let e = last_error(&s);
    // Rhai reports no position for the operation limit: the handler's `on` line is named.
    assert!(
        e.contains("sandbox.rhai:2") && e.contains("operation limit exceeded"),
        "{e}"
    );
    assert!(log.iter().any(|l| l.contains("still here loop")), "{log:?}");
    s.dispatch(UpdateKind::NewMessage, &message("import")).await;
    let e = last_error(&s);
    assert!(
        e.contains("sandbox.rhai:7") && e.to_lowercase().contains("module"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_file_and_line_in_both_languages() {
    let d = dir("errors");
    let log = Arc::new(Mutex::new(Vec::new()));
    // Syntax errors fail the load with file and line.
    let p = write(
        &d,
        "broken.lua",
        "on(\"message\", function(m)\n  m:reply(\"x\"\nend)\n",
    );
    let e = Script::start(&p, ctx(log.clone()), limits())
        .await
        .err()
        .unwrap();
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.to_string().contains("broken.lua:3:"), "{e}");
    let p = write(
        &d,
        "broken.rhai",
        "on(\"message\", |m| {\n  let x = ;\n});\n",
    );
    let e = Script::start(&p, ctx(log.clone()), limits())
        .await
        .err()
        .unwrap();
    assert_eq!(e.line, Some(2), "{e}");
    // Unknown update kinds are reported at load.
    let p = write(&d, "kind.lua", "\non(\"mesage\", function(m) end)\n");
    let e = Script::start(&p, ctx(log.clone()), limits())
        .await
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("unknown update kind \"mesage\"") && e.line == Some(2),
        "{e}"
    );

    let lua = r#"
on("message", text_contains("nil"), function(m)
  local t = nil
  return t.field
end)
on("message", text_contains("type"), function(m)
  call("messages.getHistory", { peer = "me", limit = "ten" })
end)
on("message", text_contains("method"), function(m)
  call("messages.sendMesage", {})
end)
on("message", text_contains("caught"), function(m)
  local ok, err = pcall(call, "messages.sendMesage", {})
  log.info("caught", err.kind, err.message)
end)
"#;
    let rhai = r#"
on("message", text_contains("nil"), |m| {
    let t = ();
    t.field
});
on("message", text_contains("type"), |m| {
    invoke("messages.getHistory", #{ peer: "me", limit: "ten" });
});
on("message", text_contains("method"), |m| {
    invoke("messages.sendMesage", #{});
});
on("message", text_contains("caught"), |m| {
    try {
        invoke("messages.sendMesage", #{});
    } catch (err) {
        log::info(`caught ${err.kind} ${err.message}`);
    }
});
"#;
    for (name, src) in [("errs.lua", lua), ("errs.rhai", rhai)] {
        let log = Arc::new(Mutex::new(Vec::new()));
        let p = write(&d, name, src);
        let s = Script::start(&p, ctx(log.clone()), limits()).await.unwrap();
        s.dispatch(UpdateKind::NewMessage, &message("nil")).await;
        let e = last_error(&s);
        assert!(e.contains(&format!("{name}:4")), "{name}: {e}");
        s.dispatch(UpdateKind::NewMessage, &message("type")).await;
        let e = last_error(&s);
        assert!(
            e.contains(&format!("{name}:7"))
                && e.contains("messages.getHistory.limit")
                && e.contains("int"),
            "{name}: {e}"
        );
        s.dispatch(UpdateKind::NewMessage, &message("method")).await;
        let e = last_error(&s);
        assert!(
            e.contains(&format!("{name}:10"))
                && e.contains("unknown TL method \"messages.sendMesage\"")
                && e.contains("messages.sendMessage"),
            "{name}: {e}"
        );
        s.dispatch(UpdateKind::NewMessage, &message("caught")).await;
        let lines = log.lock().unwrap().clone();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("caught bad_argument") && l.contains("unknown TL method")),
            "{name}: {lines:?}"
        );
        assert_eq!(
            s.stats.errors.load(std::sync::atomic::Ordering::Relaxed),
            3,
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_api_in_both_languages_without_network() {
    // kv, config, account, filters and combinators behave the same in Lua and Rhai.
    let lua = r#"
on("message", (text_contains("hi") | command("start")) & ~outgoing & private, function(m)
  local n = kv.incr("n")
  kv.set("last", { text = m.text, n = n })
  local last = kv.get("last")
  log.info("n=" .. last.n .. " text=" .. last.text .. " limit=" .. config.limit .. " me=" .. account.name)
end)
on("message", filter(function(m) return m.text == "fn" end), function(m)
  log.info("fn filter, keys=" .. #kv.keys(""))
end)
"#;
    let rhai = r#"
on("message", (text_contains("hi") | command("start")) & !outgoing & private_chat, |m| {
    let n = kv::incr("n");
    kv::set("last", #{ text: m.text, n: n });
    let last = kv::get("last");
    log::info(`n=${last.n} text=${last.text} limit=${config.limit} me=${account.name}`);
});
on("message", filter(|m| m.text == "fn"), |m| {
    log::info(`fn filter, keys=${kv::keys("").len()}`);
});
"#;
    for (name, src) in [("api.lua", lua), ("api.rhai", rhai)] {
        let (s, _) = run(name, src, "oh hi").await;
        for t in ["/start", "nope", "fn"] {
            s.dispatch(UpdateKind::NewMessage, &message(t)).await;
        }
        assert_eq!(
            s.stats.errors.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "{name}: {:?}",
            s.stats.last_error
        );
        assert_eq!(
            s.stats.handled.load(std::sync::atomic::Ordering::Relaxed),
            3,
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_api_logs_the_same_in_both_languages() {
    let d = dir("same");
    let lua = "on(\"message\", function(m)\n  local n = kv.incr(\"n\")\n  log.info(\"n=\" .. n .. \" text=\" .. m.text .. \" limit=\" .. config.limit .. \" me=\" .. account.name)\nend)\n";
    let rhai = "on(\"message\", |m| {\n  let n = kv::incr(\"n\");\n  log::info(`n=${n} text=${m.text} limit=${config.limit} me=${account.name}`);\n});\n";
    let mut outputs = Vec::new();
    for (name, src) in [("same.lua", lua), ("same.rhai", rhai)] {
        let log = Arc::new(Mutex::new(Vec::new()));
        let p = write(&d, name, src);
        let s = Script::start(&p, ctx(log.clone()), limits()).await.unwrap();
        for t in ["a", "b"] {
            s.dispatch(UpdateKind::NewMessage, &message(t)).await;
        }
        outputs.push(log.lock().unwrap().clone());
    }
    assert_eq!(
        outputs[0],
        vec![
            "info: n=1 text=a limit=3 me=test",
            "info: n=2 text=b limit=3 me=test"
        ]
    );
    assert_eq!(outputs[0], outputs[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mentioned_filter_and_field_in_both_languages() {
    for (name, src) in [
        (
            "mention.lua",
            "on(\"message\", mentioned & incoming, function(m)\n  log.info(\"mention\", m.text, m.mentioned)\nend)\n",
        ),
        (
            "mention.rhai",
            "on(\"message\", mentioned & incoming, |m| {\n    log::info(`mention ${m.text} ${m.mentioned}`);\n});\n",
        ),
    ] {
        let d = dir(&name.replace('.', "-"));
        let path = write(&d, name, src);
        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Script::start(&path, ctx(log.clone()), limits())
            .await
            .unwrap();
        let mut ev = (*message("plain")).clone();
        ev["mentioned"] = json!(false);
        script
            .dispatch(UpdateKind::NewMessage, &Arc::new(ev.clone()))
            .await;
        ev["text"] = json!("hey @test_bot");
        ev["mentioned"] = json!(true);
        script.dispatch(UpdateKind::NewMessage, &Arc::new(ev)).await;
        let lines = log.lock().unwrap().clone();
        let hits: Vec<&String> = lines.iter().filter(|l| l.contains("mention")).collect();
        assert_eq!(hits.len(), 1, "{name}: {lines:?}");
        assert!(
            hits[0].contains("mention hey @test_bot true"),
            "{name}: {lines:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhai_builds_raw_only_for_scripts_that_mention_it() {
    // `raw` (the whole TL update as a map) is the costliest part of an event: a Rhai script
    // gets it when its source mentions `raw`, and works the same without it otherwise.
    use fleetgram_tl::types;
    let update = fleetgram_engine::updates::Delivered::synthetic(
        types::UpdateNewMessage {
            message: types::MessageEmpty {
                id: 5,
                peer_id: None,
            }
            .into(),
            pts: 1,
            pts_count: 1,
        }
        .into(),
        vec![],
        vec![],
    );
    let ev = fleetgram_scripting::event::EventData::of(Arc::new(update), None);
    let d = dir("raw");
    let log = Arc::new(Mutex::new(Vec::new()));
    let reads = write(
        &d,
        "reads.rhai",
        "on(\"message\", |m| { log::info(m.raw[\"_\"]) });\n",
    );
    let skips = write(
        &d,
        "skips.rhai",
        "on(\"message\", |m| { log::info(\"has it: \" + m.contains(\"r\" + \"aw\")) });\n",
    );
    for p in [reads, skips] {
        let s = Script::start(&p, ctx(log.clone()), limits()).await.unwrap();
        s.dispatch_event(&ev).await;
        assert_eq!(s.status().errors, 0, "{}", last_error(&s));
    }
    let lines = log.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("updateNewMessage")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("has it: false")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_account_sending_buttons_is_told_why_in_both_languages() {
    // Telegram drops an inline keyboard a user account sends: the script hears why,
    // before anything is sent.
    let d = dir("user-buttons");
    for (name, src) in [
        (
            "ub.lua",
            "on(\"message\", function(m)\n  local ok, err = pcall(send, m.chat_id, \"pick\", { buttons = { { { text = \"a\", data = \"b\" } } } })\n  log.info(\"result\", ok, tostring(err))\nend)\n",
        ),
        (
            "ub.rhai",
            "on(\"message\", |m| {\n    try {\n        send(m.chat_id, \"pick\", #{ buttons: [[#{ text: \"a\", data: \"b\" }]] });\n    } catch (e) {\n        log::info(`result false ${e}`);\n    }\n});\n",
        ),
    ] {
        let path = write(&d, name, src);
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut c = ctx(log.clone());
        c.account.kind = fleetgram_engine::fleet::config::AccountKind::User;
        let s = Script::start(&path, c, limits()).await.unwrap();
        s.dispatch(UpdateKind::NewMessage, &message("x")).await;
        let lines = log.lock().unwrap().clone();
        assert!(
            lines.iter().any(|l| l.contains("result false")
                && l.contains("is a user account")
                && l.contains("inline buttons only from bots")),
            "{name}: {lines:?}"
        );
    }
}
