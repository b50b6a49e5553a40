//! Shared kv spaces: what one script writes another reads; a bad name or a pool the
//! account is not in is an error that says so, in both languages.

use fleetgram_scripting::Script;
use std::sync::{Arc, Mutex};

mod support;
use support::{ctx_with_store, limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_spaces_are_shared_and_checked_in_both_languages() {
    let dir = support::scratch("kv", "shared");
    let store: Arc<dyn fleetgram_engine::store::SessionStore> =
        Arc::new(fleetgram_engine::store::MemoryStore::new());
    let lua = dir.join("w.lua");
    std::fs::write(
        &lua,
        "local s = kv.shared(\"list\")\ns:set(\"a\", { n = 1 })\ns:incr(\"hits\")\nkv.set(\"own\", 1)\nlocal ok, e = pcall(kv.shared, \"list\", { pool = \"nope\" })\nlog.info(\"pool: \" .. e.message)\nok, e = pcall(kv.shared, \"bad name!\")\nlog.info(\"name: \" .. e.message)\n",
    )
    .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    Script::start(&lua, ctx_with_store(log.clone(), store.clone()), limits())
        .await
        .unwrap();
    let rhai = dir.join("r.rhai");
    std::fs::write(
        &rhai,
        "let s = kv::shared_space(\"list\");\nlog::info(`a ${s.get(\"a\").n} hits ${s.incr(\"hits\")} keys ${s.keys(\"\").len()} own ${kv::get(\"own\")}`);\ntry { kv::shared_space(\"list\", #{ pool: \"nope\" }); } catch (e) { log::info(\"pool: \" + e.message); }\n",
    )
    .unwrap();
    let rlog = Arc::new(Mutex::new(Vec::new()));
    let mut other = ctx_with_store(rlog.clone(), store);
    other.script = "r.rhai".into();
    Script::start(&rhai, other, limits()).await.unwrap();
    let l = log.lock().unwrap().clone();
    assert!(
        l.iter()
            .any(|x| x.contains("pool: ") && x.contains("is not in pool \"nope\"")),
        "{l:?}"
    );
    assert!(
        l.iter()
            .any(|x| x.contains("name: ") && x.contains("1 to 64 letters")),
        "{l:?}"
    );
    let r = rlog.lock().unwrap().clone();
    // The Rhai script sees what the Lua script (another file, the same fleet) wrote in the
    // shared space, but not its own space.
    assert!(
        r.iter().any(|x| x == "info: a 1 hits 2 keys 2 own "),
        "{r:?}"
    );
    assert!(
        r.iter()
            .any(|x| x.contains("pool: ") && x.contains("is not in pool \"nope\"")),
        "{r:?}"
    );
}
