//! What a script may do beyond its own account, through the door users use (accounts.yaml
//! and a running host): by default a bot's script can neither act as another account of the
//! fleet nor call `auth.*` / `account.*` (an exported authorization is portable access to
//! the account); `act_as` and `allow_methods` on its entry grant exactly what they name.

mod common;

use common::{fresh_dir, history_all, send_text, start_host};
use std::time::{Duration, Instant};

const PROBE: &str = r#"
local function try(what, f)
  local ok, err = pcall(f)
  return what .. "=" .. (ok and "ok" or tostring(err))
end
on("message", private & incoming, function(m)
  local out = {
    try("own-auth", function() return call("auth.exportAuthorization", { dc_id = 2 }) end),
    try("as-alice", function() return fleet.account("alice"):call("help.getNearestDc", {}) end),
    try("alice-auth", function()
      return fleet.account("alice"):call("auth.exportAuthorization", { dc_id = 2 })
    end),
    try("pool", function() return fleet.pool("crew"):send("me", "via the pool") end),
  }
  m:reply(table.concat(out, "\n"))
end)
"#;

async fn answer(host_yaml: &str, dir_name: &str) -> String {
    let dir = fresh_dir(dir_name);
    std::fs::write(dir.join("probe.lua"), PROBE).unwrap();
    let path = dir.join("accounts.yaml");
    std::fs::write(
        &path,
        format!(
            "network: local\nstore: {}\nlocal:\n  base_port: 0\n  traffic: {{ enabled: false }}\n  people: [{{ name: pat, phone: \"+15559510001\" }}]\n{host_yaml}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let (host, config) = start_host(&path).await;
    let pat = host
        .local
        .clone()
        .unwrap()
        .person(&config, "+15559510001")
        .await
        .unwrap();
    let bot = pat.resolve_peer("@caps_probe_bot").await.unwrap();
    send_text(&pat, &bot, "go").await.unwrap();
    let t = Instant::now();
    let text = loop {
        if let Some((_, t)) = history_all(&pat, &bot)
            .await
            .into_iter()
            .find(|(out, _)| !out)
        {
            break t;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the probe never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    host.shutdown().await;
    text
}

fn line<'a>(text: &'a str, what: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{what}=")))
        .unwrap_or_else(|| panic!("no {what} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_acts_as_its_own_account_only_unless_granted() {
    let accounts =
        "accounts:\n  - { name: alice, kind: user, phone: \"+15559510002\", pools: [crew] }\n";
    // By default: nothing beyond its own account, and no auth.* even for itself.
    let text = answer(
        &format!("{accounts}  - {{ name: probe, kind: bot, username: caps_probe_bot, scripts: [probe.lua] }}\n"),
        "caps-default",
    )
    .await;
    assert!(
        line(&text, "own-auth").contains("auth.exportAuthorization is not allowed"),
        "{text}"
    );
    assert!(
        line(&text, "as-alice").contains("may not act as account \"alice\""),
        "{text}"
    );
    assert!(
        line(&text, "alice-auth").contains("may not act as"),
        "{text}"
    );
    assert!(
        line(&text, "pool").contains("may not send through pool"),
        "{text}"
    );

    // Granted: alice (by name), the pool, and the auth family.
    let text = answer(
        &format!("{accounts}  - name: probe\n    kind: bot\n    username: caps_probe_bot\n    scripts:\n      - {{ file: probe.lua, act_as: [alice, \"pool:crew\"], allow_methods: [auth] }}\n"),
        "caps-granted",
    )
    .await;
    assert_eq!(line(&text, "as-alice"), "as-alice=ok", "{text}");
    assert_eq!(line(&text, "pool"), "pool=ok", "{text}");
    assert!(!line(&text, "alice-auth").contains("not allowed"), "{text}");
    assert!(!line(&text, "own-auth").contains("not allowed"), "{text}");
}
