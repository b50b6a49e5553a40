//! The main job exactly as the README gives it: `fleetgram run accounts.example.yaml` (the
//! file and `scripts/` unchanged, copied to a scratch directory so its state stays out of
//! the checkout). Within seconds the echo bot answers and its button works, the scheduled
//! poster fills the channel, and the moderation script deletes a banned word and bans the
//! repeat offender. SIGTERM stops it cleanly.

mod common;

use fleetgram_engine::store::MemoryStore;
use fleetgram_engine::Client;
use fleetgram_tl::{enums, functions};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn history(c: &Client, peer: &str, limit: i32) -> Vec<(bool, String)> {
    let Ok(peer) = c.resolve_peer(peer).await else {
        return vec![];
    };
    let r = c
        .invoke(&functions::messages::GetHistory {
            peer,
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await;
    let msgs = match r {
        Ok(enums::messages::Messages::Messages(m)) => m.messages,
        Ok(enums::messages::Messages::Slice(m)) => m.messages,
        Ok(enums::messages::Messages::ChannelMessages(m)) => m.messages,
        _ => vec![],
    };
    msgs.into_iter()
        .filter_map(|m| match m {
            enums::Message::Message(m) => Some((m.out, m.message)),
            _ => None,
        })
        .collect()
}

async fn say(c: &Client, peer: &str, text: &str) -> Result<(), String> {
    let p = c.resolve_peer(peer).await.map_err(|e| e.to_string())?;
    let mut o = fleetgram_tl::dynamic::Object::new("messages.sendMessage");
    o.set(
        "peer",
        fleetgram_tl::dynamic::schema()
            .decode_as(&fleetgram_tl::Serializable::to_bytes(&p), "InputPeer")
            .unwrap(),
    );
    o.set("message", fleetgram_tl::dynamic::Value::String(text.into()));
    o.set(
        "random_id",
        fleetgram_tl::dynamic::Value::Long(rand::random()),
    );
    c.invoke_raw("messages.sendMessage", o)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn eventually(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleetgram_run_accounts_example_yaml() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("example-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    common::copy_example(&dir);
    let log = std::fs::File::create(dir.join("host.log")).unwrap();
    // The README's command and file as they are; the local DC on free ports (the demo's
    // usual ones may be held by a demo running on this machine).
    let mut child = common::Reaped::new(
        Command::new(env!("CARGO_BIN_EXE_fleetgram"))
            .args(["run", "accounts.example.yaml"])
            .env("FLEETGRAM_LOCAL_BASE_PORT", "0")
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let info = dir.join("localdc.json");
    // A host that stopped (a bad file, a taken port) fails the test at once, with what it
    // said last.
    common::wait_for_file_of(&mut child, &info, &dir.join("host.log"));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&info).unwrap()).unwrap();
    let port = j["dcs"][0]["port"].as_u64().unwrap();
    assert!(port != 0 && port != 44301, "a free port: {port}");
    let cfg = common::client_config(&info);
    // Carol (one of the demo's people) on a second device.
    let carol = Client::new(cfg, Arc::new(MemoryStore::new()), "carol").unwrap();
    let mut logged = false;
    for _ in 0..100 {
        if let Ok(t) = carol.request_login_code("+15550000101").await {
            if carol.sign_in(&t, "12345").await.is_ok() {
                logged = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(logged, "carol could not log in");

    // The echo bot answers /start with buttons, and "Ping" answers pong.
    eventually("the echo bot is up", 30, async || {
        say(&carol, "@fleet_echo_bot", "/start").await.is_ok()
    })
    .await;
    eventually("the echo bot answered", 30, async || {
        history(&carol, "@fleet_echo_bot", 5)
            .await
            .iter()
            .any(|(out, t)| !out && t.contains("Lua echo bot"))
    })
    .await;
    let bot = carol.resolve_peer("@fleet_echo_bot").await.unwrap();
    let enums::messages::Messages::Messages(h) = carol
        .invoke(&functions::messages::GetHistory {
            peer: bot.clone(),
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 5,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    let keyboard = h
        .messages
        .iter()
        .find_map(|m| match m {
            enums::Message::Message(m) if !m.out && m.reply_markup.is_some() => Some(m.id),
            _ => None,
        })
        .unwrap();
    let enums::messages::BotCallbackAnswer::BotCallbackAnswer(a) = carol
        .invoke(&functions::messages::GetBotCallbackAnswer {
            game: false,
            peer: bot,
            msg_id: keyboard,
            data: Some(b"ping".to_vec()),
            password: None,
        })
        .await
        .unwrap();
    assert_eq!(a.message.as_deref(), Some("pong"));

    // Hot reload with the README's own (relative) command: echo.lua saved the way editors
    // save (a new file renamed over the old one) answers with the new code.
    let echo = dir.join("scripts/echo.lua");
    let edited = std::fs::read_to_string(&echo)
        .unwrap()
        .replace("msg:reply(msg.text)", "msg:reply(\"edited: \" .. msg.text)");
    assert!(edited.contains("edited: "));
    std::fs::write(dir.join("scripts/.echo.lua.swp"), &edited).unwrap();
    std::fs::rename(dir.join("scripts/.echo.lua.swp"), &echo).unwrap();
    eventually("echo.lua reloaded", 20, async || {
        std::fs::read_to_string(dir.join("host.log"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("script reloaded") && l.contains("echo.lua"))
    })
    .await;
    say(&carol, "@fleet_echo_bot", "after the edit")
        .await
        .unwrap();
    eventually("the edited echo answered", 30, async || {
        history(&carol, "@fleet_echo_bot", 5)
            .await
            .iter()
            .any(|(out, t)| !out && t == "edited: after the edit")
    })
    .await;

    // The scheduled poster fills the channel (every 15 s).
    eventually("a scheduled post in the channel", 40, async || {
        !history(&carol, "@fleet_demo_channel", 10).await.is_empty()
    })
    .await;

    // Moderation: a banned word is deleted with a warning; the second gets carol banned.
    eventually("carol can write in the group", 30, async || {
        say(&carol, "@fleet_demo_group", "this is spam, sorry")
            .await
            .is_ok()
    })
    .await;
    eventually("the banned word removed", 30, async || {
        let h = history(&carol, "@fleet_demo_group", 50).await;
        !h.iter().any(|(_, t)| t == "this is spam, sorry")
    })
    .await;
    let _ = say(&carol, "@fleet_demo_group", "more spam").await;
    eventually("carol banned", 30, async || {
        say(&carol, "@fleet_demo_group", "hello?").await.is_err()
    })
    .await;

    #[cfg(unix)]
    {
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
    #[cfg(not(unix))]
    child.kill().unwrap();
    let log = std::fs::read_to_string(dir.join("host.log")).unwrap();
    assert!(log.contains("fleet up"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
