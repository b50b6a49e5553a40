//! The script reference (docs/scripting.md) against what a Lua script can actually call:
//! every function the API registers is documented, and every function the helper table
//! names exists. (A Lua script lists its own globals; event methods are read from the
//! prelude, where they are registered.)

use fleetgram_scripting::Script;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

mod support;
use support::{ctx, limits};

/// What Lua itself provides (sandboxed or not), which the reference does not list.
const LUA_OWN: &[&str] = &[
    "assert",
    "error",
    "getmetatable",
    "ipairs",
    "next",
    "pairs",
    "pcall",
    "rawequal",
    "rawget",
    "rawlen",
    "rawset",
    "select",
    "setmetatable",
    "tonumber",
    "tostring",
    "type",
    "xpcall",
    "require",
    "load",
    "collectgarbage",
    "warn",
    "dofile",
    "loadfile",
    "os.difftime",
    "os.getenv",
];

fn docs() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/scripting.md")).unwrap()
}

/// The code spans of `text`.
fn code_spans(text: &str) -> Vec<String> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// Whether `name` appears as a whole word in some code span.
/// What the helper table's column `column` (0: Lua, 1: Rhai) calls: the text before `(`
/// of each code span that has one.
fn helper_calls(text: &str, column: usize) -> Vec<String> {
    let helpers = text
        .split("### Helpers")
        .nth(1)
        .and_then(|t| t.split("\n#").next())
        .expect("a Helpers section");
    let mut calls = Vec::new();
    for row in helpers.lines().filter(|l| l.starts_with("| `")) {
        let cell = row.split(" | ").nth(column).unwrap_or("");
        for span in code_spans(cell) {
            let callee = span.split('(').next().unwrap_or("").trim();
            if !callee.is_empty() && span.contains('(') {
                calls.push(callee.to_string());
            }
        }
    }
    calls
}

fn documented(spans: &[String], name: &str) -> bool {
    spans.iter().any(|s| {
        s.match_indices(name).any(|(i, _)| {
            let before = s[..i].chars().next_back();
            let after = s[i + name.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !word(before) && !word(after)
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_lists_every_lua_function_and_names_only_real_ones() {
    let dir = support::scratch("docs", "lua");
    let path = dir.join("list.lua");
    std::fs::write(
        &path,
        r#"
local names = {}
for k, v in pairs(_G) do
  local t = type(v)
  if t == "function" or t == "userdata" then
    names[#names + 1] = k
  elseif t == "table" and (k == "kv" or k == "log" or k == "fleet" or k == "os" or k == "feed" or k == "http") then
    for k2, v2 in pairs(v) do
      if type(v2) == "function" then names[#names + 1] = k .. "." .. k2 end
    end
  end
end
table.sort(names)
log.info("api " .. table.concat(names, " "))
"#,
    )
    .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    Script::start(&path, ctx(log.clone()), limits())
        .await
        .unwrap();
    let line = log
        .lock()
        .unwrap()
        .iter()
        .find_map(|l| l.strip_prefix("info: api ").map(str::to_string))
        .expect("the list");
    let globals: BTreeSet<String> = line
        .split_whitespace()
        .filter(|n| !LUA_OWN.contains(n))
        .map(str::to_string)
        .collect();
    let prelude =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lua/prelude.lua"))
            .unwrap();
    let methods: BTreeSet<String> = prelude
        .lines()
        .filter_map(|l| {
            ["function M.", "function P.", "function C."]
                .iter()
                .find_map(|p| l.strip_prefix(p))
        })
        .filter_map(|l| l.split('(').next())
        .map(str::to_string)
        .collect();
    assert!(
        globals.contains("send") && globals.contains("kv.get"),
        "{globals:?}"
    );
    assert!(
        methods.contains("reply") && methods.contains("stop"),
        "{methods:?}"
    );

    let text = docs();
    let spans = code_spans(&text);
    let undocumented: Vec<&String> = globals
        .iter()
        .filter(|g| !documented(&spans, g))
        // A method is documented as `x:name(`.
        .chain(methods.iter().filter(|m| {
            let call = format!(":{m}(");
            !spans.iter().any(|s| s.contains(&call))
        }))
        .collect();
    assert!(
        undocumented.is_empty(),
        "registered but not in docs/scripting.md: {undocumented:?}"
    );

    // Every function the helper table's Lua column names exists.
    let named: BTreeSet<String> = helper_calls(&text, 0).into_iter().collect();
    assert!(named.len() > 15, "{named:?}");
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| match n.split_once(':') {
            Some((_, m)) => !methods.contains(m),
            None => !globals.contains(n.as_str()),
        })
        .filter(|n| n.as_str() != "peer.mention")
        .collect();
    assert!(
        missing.is_empty(),
        "docs/scripting.md names functions scripts do not have: {missing:?}"
    );
}

#[test]
fn the_reference_lists_every_rhai_function_and_names_only_real_ones() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let names = fleetgram_scripting::rhai::api_names(&ctx(log));
    assert!(
        names.contains("send") && names.contains("kv::get") && names.contains("ask"),
        "{names:?}"
    );
    let text = docs();
    let spans = code_spans(&text);
    // Registered: named in the reference (a call, a method, a module member, a filter).
    let undocumented: Vec<&String> = names
        .iter()
        .filter(|n| n.as_str() != "to_string" && !documented(&spans, n))
        .collect();
    assert!(
        undocumented.is_empty(),
        "registered for Rhai but not in docs/scripting.md: {undocumented:?}"
    );
    // Named in the helper table's Rhai column: registered.
    // `msg.reply(` is the function `reply` called as a method.
    let named: BTreeSet<String> = helper_calls(&text, 1)
        .into_iter()
        .map(|c| c.rsplit('.').next().unwrap_or(&c).to_string())
        .collect();
    assert!(named.len() > 20, "{named:?}");
    let missing: Vec<&String> = named.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "docs/scripting.md names Rhai functions scripts do not have: {missing:?}"
    );
}
