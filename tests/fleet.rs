//! End to end: the example fleet (`accounts.example.yaml`, its scripts, the embedded local
//! DC) runs, and its scripts act: the echo bots answer and their buttons work, the
//! scheduled posts reach the channel, the moderation bots delete banned words and ban
//! repeat offenders, join requests are approved.

use fleetgram::config::HostConfig;
use fleetgram::run::{Host, RunOptions};
use fleetgram_engine::Client;
use fleetgram_tl::{enums, functions, types};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The example file, adapted for a test: its own store, free ports, fast schedules, no
/// demo traffic (the test makes its own).
fn example_config(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("accounts.example.yaml")).unwrap();
    let text = text
        .replace(
            "store: fleetgram-data",
            &format!("store: {}", dir.join("data").display()),
        )
        .replace(
            "script_dirs: [scripts]",
            &format!("script_dirs: [{}]", root.join("scripts").display()),
        )
        .replace("base_port: 44301", "base_port: 0")
        .replace(
            "info_file: localdc.json",
            &format!("info_file: {}", dir.join("localdc.json").display()),
        )
        .replace(
            "enabled: true\n    interval_ms: 1500",
            "enabled: false\n    interval_ms: 1500",
        )
        .replace("\"*/15 * * * * *\"", "\"* * * * * *\"")
        .replace("\"7,37 * * * * *\"", "\"*/2 * * * * *\"");
    let path = dir.join("accounts.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn history(c: &Client, peer: &str, limit: i32) -> Vec<types::Message> {
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
            enums::Message::Message(m) => Some(*m),
            _ => None,
        })
        .collect()
}

async fn say(c: &Client, peer: &str, text: &str) -> Result<i32, String> {
    let p = c.resolve_peer(peer).await.map_err(|e| e.to_string())?;
    let u = c
        .invoke(&functions::messages::SendMessage {
            no_webpage: true,
            silent: false,
            background: false,
            clear_draft: false,
            noforwards: false,
            update_stickersets_order: false,
            invert_media: false,
            allow_paid_floodskip: false,
            peer: p,
            reply_to: None,
            message: text.into(),
            random_id: rand::random(),
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
        .map_err(|e| e.to_string())?;
    Ok(match u {
        enums::Updates::UpdateShortSentMessage(m) => m.id,
        enums::Updates::Updates(u) => u
            .updates
            .iter()
            .find_map(|x| match x {
                enums::Update::MessageID(m) => Some(m.id),
                _ => None,
            })
            .unwrap_or(0),
        _ => 0,
    })
}

/// Talks to an echo bot: `/start` gets a keyboard, a text is echoed, "Ping" answers pong.
async fn check_echo(person: &Client, bot: &str) {
    say(person, bot, "/start").await.unwrap();
    let keyboard = eventually(
        &format!("{bot} answers /start with buttons"),
        Duration::from_secs(20),
        || async {
            history(person, bot, 5)
                .await
                .into_iter()
                .find(|m| !m.out && m.reply_markup.is_some())
        },
    )
    .await;
    say(person, bot, "echo me please").await.unwrap();
    eventually(
        &format!("{bot} echoes"),
        Duration::from_secs(20),
        || async {
            history(person, bot, 5)
                .await
                .into_iter()
                .find(|m| !m.out && m.message == "echo me please")
        },
    )
    .await;
    let enums::messages::BotCallbackAnswer::BotCallbackAnswer(a) = person
        .invoke(&functions::messages::GetBotCallbackAnswer {
            game: false,
            peer: person.resolve_peer(bot).await.unwrap(),
            msg_id: keyboard.id,
            data: Some(b"ping".to_vec()),
            password: None,
        })
        .await
        .unwrap();
    assert_eq!(a.message.as_deref(), Some("pong"), "{bot}'s button answer");
}

/// A member writes a banned word twice (the example allows 2 strikes): the first message
/// is deleted with a warning, the second gets them banned.
async fn check_moderation(offender: &Client, watcher: &Client, group: &str) {
    let first = say(offender, group, "cheap spam for sale").await.unwrap();
    eventually(
        &format!("{group}: banned word deleted and warned"),
        Duration::from_secs(20),
        || async {
            let h = history(watcher, group, 20).await;
            let gone = !h.iter().any(|m| m.message == "cheap spam for sale");
            let warned = h
                .iter()
                .any(|m| m.message.contains("is not allowed here (warning 1/2)"));
            (gone && warned).then_some(())
        },
    )
    .await;
    assert!(first > 0);
    say(offender, group, "more scam here").await.unwrap();
    eventually(
        &format!("{group}: repeat offender banned"),
        Duration::from_secs(20),
        || async {
            let h = history(watcher, group, 20).await;
            h.iter()
                .any(|m| m.message.contains("was banned after 2 warnings"))
                .then_some(())
        },
    )
    .await;
    let e = say(offender, group, "hello?").await.unwrap_err();
    assert!(
        e.contains("CHANNEL_PRIVATE"),
        "a banned member cannot write: {e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_fleet_runs_its_scripts() {
    let dir = fresh_dir("fleet-example");
    let path = example_config(&dir);
    let config = HostConfig::load(&path).unwrap();
    let host = Host::start(config.clone(), &RunOptions::default())
        .await
        .unwrap();
    let net = host.local.clone().unwrap();
    // Every account comes up.
    let fleet = host.handle();
    eventually("every account running", Duration::from_secs(30), || async {
        fleet
            .status()
            .iter()
            .all(|s| s.state == fleetgram_engine::fleet::AccountPhase::Running)
            .then_some(())
    })
    .await;
    assert!(
        dir.join("localdc.json").exists(),
        "the info file is written"
    );

    let carol = net.person(&config, "+15550000101").await.unwrap();
    let dave = net.person(&config, "+15550000102").await.unwrap();
    let erin = net.person(&config, "+15550000103").await.unwrap();
    // The chats exist once the owner set them up.
    eventually("demo chats created", Duration::from_secs(30), || async {
        let mut ok = true;
        for c in [
            "@fleet_demo_group",
            "@fleet_demo_group2",
            "@fleet_demo_channel",
        ] {
            ok &= carol.resolve_peer(c).await.is_ok();
        }
        ok.then_some(())
    })
    .await;

    check_echo(&carol, "@fleet_echo_bot").await;
    check_echo(&dave, "@fleet_echo_rhai_bot").await;

    // The scheduled posts (Lua every second, Rhai every 2 s) reach the channel; the first
    // comes from the queue in the settings.
    eventually(
        "scheduled posts in the channel",
        Duration::from_secs(20),
        || async {
            let h = history(&carol, "@fleet_demo_channel", 50).await;
            let queued = h
                .iter()
                .any(|m| m.message == "#news Welcome to the fleetgram demo channel");
            let lua = h.iter().any(|m| m.message.contains("from Lua"));
            let rhai = h.iter().any(|m| m.message.contains("from Rhai"));
            (queued && lua && rhai).then_some(())
        },
    )
    .await;
    // The forwarder copies the #news post into the group (alice, Lua), and bob's Rhai
    // forwarder copies it on into group 2.
    eventually(
        "#news forwarded into both groups",
        Duration::from_secs(20),
        || async {
            let g1 = history(&carol, "@fleet_demo_group", 50).await;
            let g2 = history(&carol, "@fleet_demo_group2", 50).await;
            let f = |h: &[types::Message]| {
                h.iter()
                    .any(|m| m.message.starts_with("#news Welcome") && m.fwd_from.is_some())
            };
            (f(&g1) && f(&g2)).then_some(())
        },
    )
    .await;

    check_moderation(&erin, &carol, "@fleet_demo_group").await;
    check_moderation(&dave, &carol, "@fleet_demo_group2").await;

    // The `.ping` userbots (alice: Lua, bob: Rhai): writing ".ping" from another device
    // turns the message into the round trip.
    for phone in ["+15550000001", "+15550000002"] {
        let device = net.person(&config, phone).await.unwrap();
        say(&device, "me", ".ping").await.unwrap();
        eventually(
            &format!("{phone}: .ping edited"),
            Duration::from_secs(20),
            || async {
                history(&device, "me", 5)
                    .await
                    .iter()
                    .any(|m| m.message.starts_with("pong: "))
                    .then_some(())
            },
        )
        .await;
    }

    // A join request through an approval link is approved by the Lua moderator.
    let alice = host.handle().client("alice").unwrap();
    let enums::ExportedChatInvite::ChatInviteExported(link) = alice
        .invoke(&functions::messages::ExportChatInvite {
            legacy_revoke_permanent: false,
            request_needed: true,
            peer: alice.resolve_peer("@fleet_demo_group").await.unwrap(),
            expire_date: None,
            usage_limit: None,
            title: None,
            subscription_pricing: None,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    let hash = link.link.rsplit('+').next().unwrap().to_string();
    let joiner = carol.clone();
    if let Ok(enums::InputPeer::Channel(c)) = joiner.resolve_peer("@fleet_demo_group").await {
        joiner
            .invoke(&functions::channels::LeaveChannel {
                channel: types::InputChannel {
                    channel_id: c.channel_id,
                    access_hash: c.access_hash,
                }
                .into(),
            })
            .await
            .unwrap();
    }
    let e = joiner
        .invoke(&functions::messages::ImportChatInvite { hash: hash.clone() })
        .await
        .unwrap_err();
    assert!(e.is("INVITE_REQUEST_SENT"), "{e}");
    eventually("join request approved", Duration::from_secs(20), || async {
        match joiner
            .invoke(&functions::messages::CheckChatInvite { hash: hash.clone() })
            .await
        {
            Ok(enums::ChatInvite::Already(_)) => Some(()),
            _ => None,
        }
    })
    .await;

    // Scripts ran without errors.
    for s in host.scripts.status() {
        assert_eq!(s.errors, 0, "{}: {:?}", s.file, s.last_error);
    }
    host.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every example script in `scripts/` runs in the demo, so saving any of them in the
/// README's run reloads it (a script no account names is never loaded).
#[test]
fn every_example_script_runs_in_the_example_fleet() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = fleetgram::config::HostConfig::load(&root.join("accounts.example.yaml")).unwrap();
    let used: std::collections::BTreeSet<std::path::PathBuf> = config
        .accounts
        .iter()
        .flat_map(|a| a.scripts.iter().map(|s| s.path.canonicalize().unwrap()))
        .collect();
    let unused: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path().canonicalize().unwrap())
        .filter(|p| !used.contains(p))
        .collect();
    assert!(
        unused.is_empty(),
        "not in accounts.example.yaml: {unused:?}"
    );
}
