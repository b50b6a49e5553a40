//! Scripts in a running fleet on the local DC: hot reload under traffic (the new version
//! answers within 500 ms, and every update is handled exactly once, by the old or the new
//! version), and a broken edit keeps the old version running.

use fleetgram_engine::Client;
use fleetgram_tl::{enums, functions};
use std::collections::HashMap;
use std::time::{Duration, Instant};

mod common;
use common::{fresh_dir, test_fleet};

async fn send(c: &Client, peer: &enums::InputPeer, text: &str) {
    common::send_text(c, peer, text).await.unwrap();
}

/// Every incoming text of the chat with `peer`.
async fn replies(c: &Client, peer: &enums::InputPeer) -> Vec<String> {
    common::history_all(c, peer)
        .await
        .into_iter()
        .filter(|(out, _)| !out)
        .map(|(_, t)| t)
        .collect()
}

const V1: &str =
    "on(\"message\", private & incoming, function(m)\n  m:reply(\"v1 \" .. m.text)\nend)\n";
const V2: &str =
    "on(\"message\", private & incoming, function(m)\n  m:reply(\"v2 \" .. m.text)\nend)\n";
const BROKEN: &str =
    "on(\"message\", private & incoming, function(m)\n  m:reply(\"v3 \" .. m.text\nend)\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_under_traffic_is_fast_and_loses_nothing() {
    let dir = fresh_dir("hot-reload");
    let script = dir.join("bot.lua");
    std::fs::write(&script, V1).unwrap();
    let yaml = format!(
        "network: local\nstore: {}\nlocal:\n  base_port: 0\n  people: [{{ name: p, phone: \"+15559990001\" }}]\n  traffic: {{ enabled: false }}\naccounts:\n  - name: bot\n    kind: bot\n    username: reload_test_bot\n    scripts: [bot.lua]\n",
        dir.join("data").display()
    );
    let path = dir.join("accounts.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (host, config) = common::start_host(&path).await;
    let net = host.local.clone().unwrap();
    let person = net.person(&config, "+15559990001").await.unwrap();
    let bot = person.resolve_peer("@reload_test_bot").await.unwrap();

    // Traffic: a message every 10 ms; the script is replaced a third of the way through,
    // and a watcher notes when the new version is in place.
    const N: usize = 150;
    let scripts = host.scripts.clone();
    let mut swapped = None;
    for i in 0..N {
        if i == N / 3 {
            std::fs::write(&script, V2).unwrap();
            let edited = Instant::now();
            let s = scripts.clone();
            swapped = Some(tokio::spawn(async move {
                while s.status().first().map(|x| x.generation) != Some(2) {
                    if edited.elapsed() > Duration::from_secs(10) {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Some(edited.elapsed())
            }));
        }
        send(&person, &bot, &format!("m{i}")).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let latency = swapped
        .unwrap()
        .await
        .unwrap()
        .expect("the new version was loaded");
    // Every message gets exactly one answer, from v1 or v2.
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let r = replies(&person, &bot).await;
        if r.len() >= N || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut per: HashMap<usize, Vec<String>> = HashMap::new();
    for r in &got {
        let (version, text) = r.split_once(' ').unwrap();
        let i: usize = text.trim_start_matches('m').parse().unwrap();
        per.entry(i).or_default().push(version.to_string());
    }
    for i in 0..N {
        assert_eq!(
            per.get(&i).map(Vec::len),
            Some(1),
            "message {i} answered {:?}",
            per.get(&i)
        );
    }
    // Versions switch once: v1 up to some message, v2 from the next one on.
    // (Messages still queued when the new version came in are answered by it.)
    let first_v2 = (0..N).find(|i| per[i][0] == "v2").expect("v2 answered");
    assert!((first_v2..N).all(|i| per[&i][0] == "v2"), "{per:?}");
    assert!(per[&0][0] == "v1" && per[&(N - 1)][0] == "v2");
    eprintln!("hot reload: new version in place {latency:?} after the edit");
    assert!(
        latency <= Duration::from_millis(500),
        "reload took {latency:?}"
    );

    // A broken edit is reported and the running version keeps answering.
    std::fs::write(&script, BROKEN).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = host.scripts.status();
    let s = &status[0];
    assert!(
        s.last_error
            .as_deref()
            .is_some_and(|e| e.contains("bot.lua:3")),
        "{:?}",
        s.last_error
    );
    assert_eq!(s.generation, 2, "the broken version was not swapped in");
    send(&person, &bot, "after").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if replies(&person, &bot).await.iter().any(|r| r == "v2 after") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old version stopped answering"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    host.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_download_and_upload_files_in_both_languages() {
    let f = test_fleet(
        "script-files",
        &[
            (
                "files.lua",
                "on(\"message\", has_media & incoming, function(m)\n  local data = download(m)\n  upload(m.chat_id, string.reverse(data), { name = \"back.bin\", caption = \"size \" .. #data })\nend)\n",
            ),
            (
                "files.rhai",
                "on(\"message\", has_media & incoming, |m| {\n    let data = download(m);\n    data.reverse();\n    upload(m.chat_id, data, #{ name: \"back.bin\", caption: `size ${data.len()}` });\n});\n",
            ),
        ],
        "",
        "  - { name: lua, kind: bot, username: files_lua_bot, scripts: [files.lua] }\n  - { name: rhai, kind: bot, username: files_rhai_bot, scripts: [files.rhai] }\n",
        "+15559990002",
    )
    .await;
    let person = &f.person;
    let data: Vec<u8> = (0..(1536 * 1024)).map(|i| (i * 7 % 251) as u8).collect();
    for bot in ["@files_lua_bot", "@files_rhai_bot"] {
        let peer = person.resolve_peer(bot).await.unwrap();
        let file = person.upload_bytes(&data, "payload.bin").await.unwrap();
        person
            .invoke(&functions::messages::SendMedia {
                silent: false,
                background: false,
                clear_draft: false,
                noforwards: false,
                update_stickersets_order: false,
                invert_media: false,
                allow_paid_floodskip: false,
                peer: peer.clone(),
                reply_to: None,
                media: fleetgram_tl::types::InputMediaUploadedDocument {
                    nosound_video: false,
                    force_file: true,
                    spoiler: false,
                    file,
                    thumb: None,
                    mime_type: "application/octet-stream".into(),
                    attributes: vec![],
                    stickers: None,
                    video_cover: None,
                    video_timestamp: None,
                    ttl_seconds: None,
                }
                .into(),
                message: String::new(),
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
            })
            .await
            .unwrap();
        let back = f
            .until(&format!("{bot} sends something back"), || async {
                let h = f.recent(&peer, 5).await?;
                h.into_iter().map(|m| m.raw).find(
                    |m| matches!(m, enums::Message::Message(x) if !x.out && x.media.is_some()),
                )
            })
            .await;
        let enums::Message::Message(bm) = &back else {
            panic!()
        };
        assert_eq!(bm.message, format!("size {}", data.len()), "{bot}");
        let file = fleetgram_engine::media::file_of(&back).unwrap();
        assert_eq!(file.name.as_deref(), Some("back.bin"));
        let got = person.download_file(&file).await.unwrap();
        let mut want = data.clone();
        want.reverse();
        assert!(
            got == want,
            "{bot}: the file came back changed ({} bytes)",
            got.len()
        );
    }
    for s in f.host.scripts.status() {
        assert_eq!(s.errors, 0, "{}: {:?}", s.file, s.last_error);
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_send_html_and_markdown_in_both_languages() {
    let f = test_fleet(
        "script-parse-mode",
        &[
            (
                "fmt.lua",
                "on(\"message\", private & incoming, function(m)\n  send(m.chat_id, \"<b>bold</b> and <i>it 😀</i>\", { parse_mode = \"html\" })\n  send(m.chat_id, \"**bold** and *it 😀*\", { parse_mode = \"markdown\" })\n  local ok, err = pcall(send, m.chat_id, \"<b>never closed\", { parse_mode = \"html\" })\n  send(m.chat_id, \"error: \" .. tostring(err))\nend)\n",
            ),
            (
                "fmt.rhai",
                "on(\"message\", private_chat & incoming, |m| {\n    send(m.chat_id, \"<b>bold</b> and <i>it 😀</i>\", #{ parse_mode: \"html\" });\n    send(m.chat_id, \"**bold** and *it 😀*\", #{ parse_mode: \"markdown\" });\n    try {\n        send(m.chat_id, \"<b>never closed\", #{ parse_mode: \"html\" });\n    } catch (e) {\n        send(m.chat_id, `error: ${e}`);\n    }\n});\n",
            ),
        ],
        "",
        "  - { name: lua, kind: bot, username: fmt_lua_bot, scripts: [fmt.lua] }\n  - { name: rhai, kind: bot, username: fmt_rhai_bot, scripts: [fmt.rhai] }\n",
        "+15559990003",
    )
    .await;
    for bot in ["@fmt_lua_bot", "@fmt_rhai_bot"] {
        let peer = f.person.resolve_peer(bot).await.unwrap();
        send(&f.person, &peer, "go").await;
        let got = f
            .until(&format!("{bot}: three answers"), || async {
                let h = f.recent(&peer, 10).await?;
                let mut incoming: Vec<_> = h.into_iter().filter(|m| !m.outgoing()).collect();
                incoming.reverse();
                (incoming.len() >= 3).then_some(incoming)
            })
            .await;
        assert_eq!(got[0].html(), "<b>bold</b> and <i>it 😀</i>", "{bot}");
        assert_eq!(got[1].html(), "<b>bold</b> and <i>it 😀</i>", "{bot}");
        assert!(
            got[2].text().contains("<b> is never closed")
                && got[2].text().contains("line 1, column 1"),
            "{bot}: {}",
            got[2].text()
        );
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_edit_with_formatting_and_pin_the_messages_they_send_in_both_languages() {
    // What reply returns is a message with the same methods as an event's.
    let f = test_fleet(
        "script-edit-pin",
        &[
            (
                "edit.lua",
                "on(\"message\", private & incoming, function(m)\n  local s = m:reply(\"draft\")\n  s = s:edit(\"<b>final</b> \" .. m.text, { parse_mode = \"html\" })\n  s:pin({ silent = true })\nend)\n",
            ),
            (
                "edit.rhai",
                "on(\"message\", private_chat & incoming, |m| {\n    let s = m.reply(\"draft\");\n    s = s.edit(\"<b>final</b> \" + m.text, #{ parse_mode: \"html\" });\n    s.pin(#{ silent: true });\n});\n",
            ),
        ],
        "",
        "  - { name: lua, kind: bot, username: edit_lua_bot, scripts: [edit.lua] }\n  - { name: rhai, kind: bot, username: edit_rhai_bot, scripts: [edit.rhai] }\n",
        "+15559990004",
    )
    .await;
    for bot in ["@edit_lua_bot", "@edit_rhai_bot"] {
        let peer = f.person.resolve_peer(bot).await.unwrap();
        send(&f.person, &peer, "go").await;
        let answer = f
            .until(&format!("{bot}: an edited, pinned answer"), || async {
                let h = f.recent(&peer, 10).await?;
                h.into_iter().find(|m| match &m.raw {
                    enums::Message::Message(x) => !x.out && x.pinned && x.edit_date.is_some(),
                    _ => false,
                })
            })
            .await;
        assert_eq!(answer.html(), "<b>final</b> go", "{bot}");
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_name_chats_by_username_in_both_languages() {
    // The scripts are broken at start; fixed once the group exists, they load, resolve
    // `@named_grp` and answer there, and say which name is unknown.
    let f = test_fleet(
        "script-named-chats",
        &[("named.lua", "on(\"message\",\n"), ("named.rhai", "on(\"message\",\n")],
        "{ kind: supergroup, title: g, username: named_grp, owner: owner, members: [p], admins: [lua, rhai] }",
        "  - { name: owner, kind: user, phone: \"+15559990006\" }\n  - { name: lua, kind: bot, username: named_lua_bot, scripts: [named.lua] }\n  - { name: rhai, kind: bot, username: named_rhai_bot, scripts: [named.rhai] }\n",
        "+15559990005",
    )
    .await;
    let group = f.chat("@named_grp").await;
    std::fs::write(
        f.dir.join("named.lua"),
        "on(\"message\", chats{\"@named_grp\"} & incoming, function(m) m:reply(\"lua saw \" .. m.text) end)\non(\"message\", chats{\"@no_such_group_here\"}, function(m) end)\n",
    )
    .unwrap();
    std::fs::write(
        f.dir.join("named.rhai"),
        "on(\"message\", chats(\"@named_grp\") & incoming, |m| { m.reply(\"rhai saw \" + m.text); });\non(\"message\", chats([\"@no_such_group_here\", -5]), |m| {});\n",
    )
    .unwrap();
    // The unknown name is each script's error, with the name.
    f.until("both reloaded, the unknown name reported", || async {
        f.host
            .scripts
            .status()
            .iter()
            .all(|s| {
                s.generation >= 1
                    && s.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("@no_such_group_here"))
            })
            .then_some(())
    })
    .await;
    send(&f.person, &group, "hello").await;
    f.expect_text(&group, "lua saw hello").await;
    f.expect_text(&group, "rhai saw hello").await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_events_name_their_sender_in_both_languages() {
    let f = test_fleet(
        "script-sender-names",
        &[
            (
                "names.lua",
                "on(\"message\", private & incoming, function(m)\n  m:reply(\"hi \" .. tostring(m.sender_name) .. \" @\" .. tostring(m.sender_username))\nend)\n",
            ),
            (
                "names.rhai",
                "on(\"message\", private_chat & incoming, |m| {\n    m.reply(`hi ${m.sender_name} @${m.sender_username}`);\n});\n",
            ),
        ],
        "",
        "  - { name: lua, kind: bot, username: names_lua_bot, scripts: [names.lua] }\n  - { name: rhai, kind: bot, username: names_rhai_bot, scripts: [names.rhai] }\n",
        "+15559990007",
    )
    .await;
    f.person
        .invoke(&functions::account::UpdateProfile {
            first_name: Some("Dana".into()),
            last_name: Some("Scully".into()),
            about: None,
        })
        .await
        .unwrap();
    f.person
        .invoke(&functions::account::UpdateUsername {
            username: "dana_s".into(),
        })
        .await
        .unwrap();
    for bot in ["@names_lua_bot", "@names_rhai_bot"] {
        let peer = f.person.resolve_peer(bot).await.unwrap();
        // The first message of a stranger brings the user; the second is a short update
        // that brings no one (the name comes from the bot's peer store).
        for (text, n) in [("one", 1), ("two", 2)] {
            send(&f.person, &peer, text).await;
            let got = f
                .until(&format!("{bot}: answer {n}"), || async {
                    let r = replies(&f.person, &peer).await;
                    (r.len() >= n).then_some(r)
                })
                .await;
            assert!(
                got.iter().all(|t| t == "hi Dana Scully @dana_s"),
                "{bot}: {got:?}"
            );
        }
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_list_history_members_and_dialogs_in_both_languages() {
    let f = test_fleet(
        "script-iterators",
        &[
            (
                "stats.lua",
                "on(\"message\", chats(\"@stats_grp\") & text_contains(\"stats lua\") & incoming, function(m)\n  local h = iter_history(m.chat_id, { limit = 3 })\n  local members = iter_participants(m.chat_id)\n  local admins = iter_participants(m.chat_id, { filter = \"admins\" })\n  local found = false\n  for _, d in ipairs(iter_dialogs({ limit = 20 })) do\n    if d.chat_id == m.chat_id then found = d.name end\n  end\n  h[1]:reply(string.format(\"history %d first %s; members %d; admins %d %s; dialog %s\", #h, h[1].text, #members, #admins, admins[1].status, tostring(found)))\nend)\n",
            ),
            (
                "stats.rhai",
                "on(\"message\", chats(\"@stats_grp\") & text_contains(\"stats rhai\") & incoming, |m| {\n    let h = iter_history(m.chat_id, #{ limit: 3 });\n    let members = iter_participants(m.chat_id);\n    let admins = iter_participants(m.chat_id, #{ filter: \"admins\" });\n    let found = false;\n    for d in iter_dialogs(#{ limit: 20 }) {\n        if d.chat_id == m.chat_id { found = d.name; }\n    }\n    h[0].reply(`history ${h.len()} first ${h[0].text}; members ${members.len()}; admins ${admins.len()} ${admins[0].status}; dialog ${found}`);\n});\n",
            ),
        ],
        "{ kind: supergroup, title: Stats, username: stats_grp, owner: lua, members: [p, rhai] }",
        "  - { name: lua, kind: user, phone: \"+15559990009\", scripts: [stats.lua] }\n  - { name: rhai, kind: user, phone: \"+15559990010\", scripts: [stats.rhai] }\n",
        "+15559990008",
    )
    .await;
    let group = f.chat("@stats_grp").await;
    send(&f.person, &group, "a").await;
    send(&f.person, &group, "b").await;
    for lang in ["lua", "rhai"] {
        send(&f.person, &group, &format!("stats {lang}")).await;
        f.expect_text(
            &group,
            &format!("history 3 first stats {lang}; members 3; admins 1 creator; dialog Stats"),
        )
        .await;
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_fetch_messages_and_the_message_one_replies_to_in_both_languages() {
    let f = test_fleet(
        "script-get-reply",
        &[
            (
                "re.lua",
                "on(\"message\", private & incoming, function(m)\n  local r = m:get_reply()\n  if r == nil then return end\n  local both = get_messages(m.chat_id, { r.id, m.id })\n  both[2]:reply(\"re: \" .. r.text .. \" / \" .. #both .. \" \" .. both[1].text)\nend)\n",
            ),
            (
                "re.rhai",
                "on(\"message\", private_chat & incoming, |m| {\n    let r = m.get_reply();\n    if r == () { return; }\n    let both = get_messages(m.chat_id, [r.id, m.id]);\n    both[1].reply(`re: ${r.text} / ${both.len()} ${both[0].text}`);\n});\n",
            ),
        ],
        "",
        "  - { name: lua, kind: bot, username: re_lua_bot, scripts: [re.lua] }\n  - { name: rhai, kind: bot, username: re_rhai_bot, scripts: [re.rhai] }\n",
        "+15559990011",
    )
    .await;
    for bot in ["@re_lua_bot", "@re_rhai_bot"] {
        let peer = f.person.resolve_peer(bot).await.unwrap();
        let first = f.person.send_message(bot, "first").await.unwrap();
        f.person
            .send_message(
                bot,
                fleetgram_engine::messages::InputMessage::text("second").reply_to(first.id()),
            )
            .await
            .unwrap();
        f.expect_text(&peer, "re: first / 2 first").await;
    }
    f.stop().await;
}
