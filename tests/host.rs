//! The fleet host's supervision on the local DC: a dead authorization quarantines the
//! account (no restart loop); configuration changes start, stop and restart only the
//! accounts that changed; a script sends through a pool of accounts and fails over on
//! FLOOD_WAIT.

use fleetgram::config::HostConfig;
use fleetgram::run::{Host, RunOptions};
use fleetgram_engine::fleet::{AccountPhase, FleetHandle};
use fleetgram_tl::{enums, functions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path, body: &str) -> HostConfig {
    let text = format!(
        "network: local\nstore: {}\nlocal:\n  base_port: 0\n  traffic: {{ enabled: false }}\n  people: [{{ name: pat, phone: \"+15559500001\" }}]\n{body}",
        dir.join("data").display()
    );
    let path = dir.join("accounts.yaml");
    std::fs::write(&path, &text).unwrap();
    HostConfig::load(&path).unwrap()
}

async fn until(
    fleet: &FleetHandle,
    what: &str,
    f: impl Fn(&[fleetgram_engine::fleet::AccountStatus]) -> bool,
) {
    let start = Instant::now();
    loop {
        let st = fleet.status();
        if f(&st) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {st:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn state_of(st: &[fleetgram_engine::fleet::AccountStatus], name: &str) -> Option<AccountPhase> {
    st.iter().find(|s| s.name == name).map(|s| s.state.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_authorization_is_quarantined_and_config_changes_touch_only_changed_accounts() {
    let dir = fresh_dir("host-supervise");
    let cfg = config(
        &dir,
        "accounts:\n  - { name: a, kind: bot, username: host_a_bot }\n  - { name: b, kind: bot, username: host_b_bot }\n",
    );
    let host = Host::start(cfg, &RunOptions::default()).await.unwrap();
    let fleet = host.handle();
    until(&fleet, "both running", |st| {
        st.iter().all(|s| s.state == AccountPhase::Running)
    })
    .await;

    // The server forgets a's authorization: a is quarantined, b carries on.
    let control = host.local.as_ref().unwrap().dc.control();
    control.force_error("updates.getDifference", 401, "AUTH_KEY_UNREGISTERED", 1);
    control.drop_connections();
    until(&fleet, "a quarantined", |st| {
        matches!(state_of(st, "a"), Some(AccountPhase::Quarantined { .. }))
            || matches!(state_of(st, "b"), Some(AccountPhase::Quarantined { .. }))
    })
    .await;
    let st = fleet.status();
    let (quarantined, other) =
        if matches!(state_of(&st, "a"), Some(AccountPhase::Quarantined { .. })) {
            ("a", "b")
        } else {
            ("b", "a")
        };
    let Some(AccountPhase::Quarantined { reason }) = state_of(&st, quarantined) else {
        panic!()
    };
    assert!(reason.contains("AUTH_KEY_UNREGISTERED"), "{reason}");
    // No restart loop: it stays quarantined.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let st = fleet.status();
    assert!(matches!(
        state_of(&st, quarantined),
        Some(AccountPhase::Quarantined { .. })
    ));
    assert_eq!(
        st.iter().find(|s| s.name == quarantined).unwrap().restarts,
        0
    );
    until(&fleet, "the other running", |st| {
        state_of(st, other) == Some(AccountPhase::Running)
    })
    .await;

    // Configuration change: a removed, b unchanged, c added.
    let new = config(
        &dir,
        "accounts:\n  - { name: b, kind: bot, username: host_b_bot }\n  - { name: c, kind: bot, username: host_c_bot }\n",
    );
    let (started, stopped, restarted) = host.fleet.apply(new.fleet).await;
    assert_eq!(started, vec!["c".to_string()]);
    assert_eq!(stopped, vec!["a".to_string()]);
    assert!(restarted.is_empty(), "{restarted:?}");
    until(&fleet, "c running", |st| {
        state_of(st, "c") == Some(AccountPhase::Running)
    })
    .await;
    assert!(state_of(&fleet.status(), "a").is_none());
    host.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_sends_through_a_pool_and_fails_over_on_flood_wait() {
    let dir = fresh_dir("host-pool");
    std::fs::write(
        dir.join("driver.lua"),
        "on(\"message\", private & incoming & text_contains(\"go\"), function(m)\n  sleep(0.5)\n  local r = fleet.pool(\"senders\"):send(\"@pool_target\", \"from the pool\")\n  m:reply(\"sent by \" .. r.account)\nend)\n",
    )
    .unwrap();
    let cfg = config(
        &dir,
        "accounts:\n  - { name: driver, kind: bot, username: pool_driver_bot, scripts: [{ file: driver.lua, act_as: [\"pool:senders\"] }] }\n  - { name: s1, kind: bot, username: pool_s1_bot, pools: [senders], flood: { sleep_threshold: 0 } }\n  - { name: s2, kind: bot, username: pool_s2_bot, pools: [senders], flood: { sleep_threshold: 0 } }\n",
    );
    let host = Host::start(cfg.clone(), &RunOptions::default())
        .await
        .unwrap();
    let fleet = host.handle();
    until(&fleet, "all running", |st| {
        st.iter().all(|s| s.state == AccountPhase::Running)
    })
    .await;
    let net = host.local.clone().unwrap();
    let pat = net.person(&cfg, "+15559500001").await.unwrap();
    pat.invoke(&functions::account::UpdateUsername {
        username: "pool_target".into(),
    })
    .await
    .unwrap();
    let driver = pat.resolve_peer("@pool_driver_bot").await.unwrap();
    pat.invoke(&functions::messages::SendMessage {
        no_webpage: true,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: driver.clone(),
        reply_to: None,
        message: "go".into(),
        random_id: 1,
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    })
    .await
    .unwrap();
    // The first account the pool tries (the driver waits half a second) gets a long
    // FLOOD_WAIT; the other one sends.
    net.dc
        .control()
        .force_error("messages.sendMessage", 420, "FLOOD_WAIT_30", 1);
    let start = Instant::now();
    let by = loop {
        let h = pat
            .invoke(&functions::messages::GetHistory {
                peer: driver.clone(),
                offset_id: 0,
                offset_date: 0,
                add_offset: 0,
                limit: 10,
                max_id: 0,
                min_id: 0,
                hash: 0,
            })
            .await
            .unwrap();
        let enums::messages::Messages::Messages(h) = h else {
            panic!()
        };
        let reply = h.messages.iter().find_map(|m| match m {
            enums::Message::Message(m) if !m.out => {
                m.message.strip_prefix("sent by ").map(str::to_string)
            }
            _ => None,
        });
        if let Some(r) = reply {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no reply from the driver"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(by == "s1" || by == "s2", "{by}");
    let other = if by == "s1" { "s2" } else { "s1" };
    let st = fleet.status();
    let flooded = st.iter().find(|s| s.name == other).unwrap();
    assert_eq!(
        flooded.flood_waits, 1,
        "the account that got the FLOOD_WAIT"
    );
    // The target got exactly one message, from the account that had budget.
    let from = pat.resolve_peer(&format!("@pool_{by}_bot")).await.unwrap();
    let enums::messages::Messages::Messages(h) = pat
        .invoke(&functions::messages::GetHistory {
            peer: from,
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 10,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    let got: Vec<_> = h
        .messages
        .iter()
        .filter(|m| matches!(m, enums::Message::Message(x) if x.message == "from the pool"))
        .collect();
    assert_eq!(got.len(), 1);
    host.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
