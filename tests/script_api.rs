//! The script API through the door users use: the example scripts shipped in `scripts/`
//! (and a few more), loaded by a running fleet on the local DC, with a person acting in
//! Telegram. Each runs in both languages.

use fleetgram_engine::messages::Message;
use fleetgram_engine::Client;
use fleetgram_tl::{enums, functions};
use std::sync::Arc;

mod common;
use common::{test_fleet, TestFleet};

async fn send(c: &Client, peer: &enums::InputPeer, text: &str) {
    common::send_text(c, peer, text).await.unwrap();
}

/// Sets the person's name (what mentions show).
async fn name_person(f: &TestFleet, first: &str, last: &str) {
    f.person
        .invoke(&functions::account::UpdateProfile {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            about: None,
        })
        .await
        .unwrap();
}

/// The newest message of `peer` (as `c` sees it) whose text satisfies `pick`.
async fn find(
    c: &Client,
    peer: &str,
    n: usize,
    pick: impl Fn(&Message) -> bool,
) -> Option<Message> {
    let h = c.iter_history(peer).limit(n).collect().await.ok()?;
    h.into_iter().find(|m| pick(m))
}

/// Whether `m` mentions user `id` by id (a mention entity over a name).
fn mentions(m: &Message, id: i64) -> bool {
    m.entities().iter().any(|e| match e {
        enums::MessageEntity::MentionName(x) => x.user_id == id,
        _ => false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auto_reply_example_edits_its_answer_formatted_on_a_button_press() {
    let f = test_fleet(
        "example-autoreply",
        &[
            ("autoreply.lua", include_str!("../scripts/autoreply.lua")),
            ("autoreply.rhai", include_str!("../scripts/autoreply.rhai")),
        ],
        "",
        "  - { name: lua, kind: bot, username: auto_lua_bot, scripts: [autoreply.lua] }\n  - { name: rhai, kind: bot, username: auto_rhai_bot, scripts: [{ file: autoreply.rhai, settings: { reply: \"We read every message.\" } }] }\n",
        "+15559990021",
    )
    .await;
    for (bot, text) in [
        (
            "@auto_lua_bot",
            "Thanks, we got your message and will answer soon.",
        ),
        ("@auto_rhai_bot", "We read every message."),
    ] {
        let peer = f.person.resolve_peer(bot).await.unwrap();
        send(&f.person, &peer, "hello?").await;
        let answer = f
            .until(&format!("{bot}: the answer with a button"), || async {
                find(&f.person, bot, 5, |m| {
                    !m.outgoing() && m.reply_markup().is_some()
                })
                .await
            })
            .await;
        assert_eq!(answer.text(), text, "{bot}");
        let said = answer
            .click(0, 0)
            .await
            .unwrap()
            .expect("a callback answer");
        assert_eq!(said.message.as_deref(), Some("Marked urgent"), "{bot}");
        let edited = f
            .until(&format!("{bot}: the edited answer"), || async {
                find(&f.person, bot, 5, |m| {
                    m.id() == answer.id() && m.text().starts_with("Urgent:")
                })
                .await
            })
            .await;
        assert_eq!(edited.html(), format!("<b>Urgent:</b> {text}"), "{bot}");
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_example_counts_in_kv_posts_pins_and_starts_over() {
    let f = test_fleet(
        "example-digest",
        &[
            ("digest.lua", include_str!("../scripts/digest.lua")),
            ("digest.rhai", include_str!("../scripts/digest.rhai")),
        ],
        "{ kind: supergroup, title: Dl, username: digest_lua_grp, owner: owner, members: [p], admins: [lua] }, { kind: supergroup, title: Dr, username: digest_rhai_grp, owner: owner, members: [p], admins: [rhai] }",
        "  - { name: owner, kind: user, phone: \"+15559990023\" }\n  - { name: lua, kind: bot, username: digest_lua_bot, scripts: [{ file: digest.lua, settings: { chat: \"@digest_lua_grp\" } }] }\n  - { name: rhai, kind: bot, username: digest_rhai_bot, scripts: [{ file: digest.rhai, settings: { chat: \"@digest_rhai_grp\" } }] }\n",
        "+15559990022",
    )
    .await;
    name_person(&f, "Dana", "Scully").await;
    let me = f.person.user_id().unwrap();
    for (account, group) in [("lua", "@digest_lua_grp"), ("rhai", "@digest_rhai_grp")] {
        let peer = f.chat(group).await;
        for t in ["one", "two", "three"] {
            send(&f.person, &peer, t).await;
        }
        f.until(&format!("{account}: three messages counted"), || async {
            f.host
                .scripts
                .status()
                .iter()
                .any(|s| s.account == account && s.handled >= 3)
                .then_some(())
        })
        .await;
        let key = f
            .host
            .scripts
            .schedules()
            .into_iter()
            .find(|s| s.account == account)
            .expect("the digest's schedule")
            .key;
        assert!(key.contains("0 20 * * *"), "{key}");
        f.host.scripts.run_now(account, &key).await.unwrap();
        let digest = f
            .until(&format!("{account}: the pinned digest"), || async {
                find(&f.person, group, 10, |m| {
                    m.text().starts_with("Daily digest")
                        && matches!(&m.raw, enums::Message::Message(x) if x.pinned)
                })
                .await
            })
            .await;
        assert_eq!(
            digest.html(),
            format!("<b>Daily digest</b>: 3 messages today, 3 from <a href=\"tg://user?id={me}\">Dana Scully</a>"),
            "{account}"
        );
        assert!(mentions(&digest, me), "{account}");
        // Counted afresh: the next digest says 0.
        f.host.scripts.run_now(account, &key).await.unwrap();
        f.until(&format!("{account}: the next digest"), || async {
            find(&f.person, group, 10, |m| {
                m.text() == "Daily digest: 0 messages today"
            })
            .await
        })
        .await;
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_guard_example_deletes_warns_by_name_and_bans_on_the_last_strike() {
    let f = test_fleet(
        "example-linkguard",
        &[
            ("linkguard.lua", include_str!("../scripts/linkguard.lua")),
            ("linkguard.rhai", include_str!("../scripts/linkguard.rhai")),
        ],
        "{ kind: supergroup, title: Gl, username: guard_lua_grp, owner: owner, members: [p], admins: [lua] }, { kind: supergroup, title: Gr, username: guard_rhai_grp, owner: owner, members: [p], admins: [rhai] }",
        "  - { name: owner, kind: user, phone: \"+15559990025\" }\n  - { name: lua, kind: bot, username: guard_lua_bot, scripts: [{ file: linkguard.lua, settings: { strikes: 2 } }] }\n  - { name: rhai, kind: bot, username: guard_rhai_bot, scripts: [{ file: linkguard.rhai, settings: { strikes: 2 } }] }\n",
        "+15559990024",
    )
    .await;
    name_person(&f, "Fox", "<Mulder>").await;
    let me = f.person.user_id().unwrap();
    let owner = f.client("owner").await;
    for group in ["@guard_lua_grp", "@guard_rhai_grp"] {
        let peer = f.chat(group).await;
        // The creator may post links.
        owner
            .send_message(group, "rules: https://example.org/rules")
            .await
            .unwrap();
        send(&f.person, &peer, "plain text").await;
        send(&f.person, &peer, "buy at https://spam.example").await;
        let warning = f
            .until(&format!("{group}: the first warning"), || async {
                find(&owner, group, 10, |m| m.text().contains("no links here")).await
            })
            .await;
        // The name is escaped for HTML and comes out as written.
        assert_eq!(
            warning.text(),
            "Fox <Mulder>, no links here (strike 1 of 2).",
            "{group}"
        );
        assert!(mentions(&warning, me), "{group}");
        send(&f.person, &peer, "again t.me/spam").await;
        let banned = f
            .until(&format!("{group}: the ban"), || async {
                find(&owner, group, 10, |m| m.text().contains("is banned")).await
            })
            .await;
        assert_eq!(banned.text(), "Fox <Mulder> is banned: 2 links.", "{group}");
        let member = owner
            .get_participant(group, me)
            .await
            .unwrap()
            .expect("listed");
        assert!(
            matches!(member.channel, Some(enums::ChannelParticipant::Banned(_))),
            "{group}: {member:?}"
        );
        // The links are gone; the plain text and the creator's link stay.
        let texts: Vec<String> = owner
            .iter_history(group)
            .limit(20)
            .collect()
            .await
            .unwrap()
            .iter()
            .map(|m| m.text().to_string())
            .collect();
        assert!(
            !texts.iter().any(|t| t.contains("spam")),
            "{group}: {texts:?}"
        );
        assert!(
            texts.iter().any(|t| t == "plain text"),
            "{group}: {texts:?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t == "rules: https://example.org/rules"),
            "{group}: {texts:?}"
        );
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raw_call_example_prints_one_field_of_the_answer() {
    let f = test_fleet(
        "example-rawcall",
        &[
            ("rawcall.lua", include_str!("../scripts/rawcall.lua")),
            ("rawcall.rhai", include_str!("../scripts/rawcall.rhai")),
        ],
        "",
        "  - { name: lua, kind: bot, username: raw_lua_bot, scripts: [rawcall.lua] }\n  - { name: rhai, kind: bot, username: raw_rhai_bot, scripts: [rawcall.rhai] }\n",
        "+15559990026",
    )
    .await;
    for bot in ["@raw_lua_bot", "@raw_rhai_bot"] {
        let peer = f.person.resolve_peer(bot).await.unwrap();
        send(&f.person, &peer, "/dc").await;
        f.expect_text(&peer, "This account is served by DC 1 (config)")
            .await;
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_hold_conversations_in_both_languages() {
    let f = test_fleet(
        "script-conversation",
        &[
            (
                "conv.lua",
                "on(\"message\", command(\"register\") & private, function(m)\n  local conv = conversation(m.chat_id, { timeout = 20 })\n  local name = conv:ask(\"Your name?\")\n  local age = conv:ask(\"Your age?\")\n  m:reply(\"Registered \" .. name.text .. \" (\" .. age.text .. \")\")\n  local ok, err = pcall(conv.get_response, conv, 0.2)\n  m:reply(\"then \" .. tostring(ok) .. \" \" .. err.kind)\nend)\n",
            ),
            (
                "conv.rhai",
                "on(\"message\", command(\"register\") & private_chat, |m| {\n    let conv = conversation(m.chat_id, #{ timeout: 20 });\n    let name = conv.ask(\"Your name?\");\n    let age = conv.ask(\"Your age?\");\n    m.reply(`Registered ${name.text} (${age.text})`);\n    try { conv.get_response(0.2); } catch (e) { m.reply(`then false ${e.kind}`); }\n});\n",
            ),
        ],
        "",
        "  - { name: lua, kind: bot, username: conv_lua_bot, scripts: [conv.lua] }\n  - { name: rhai, kind: bot, username: conv_rhai_bot, scripts: [conv.rhai] }\n",
        "+15559990027",
    )
    .await;
    for bot in ["@conv_lua_bot", "@conv_rhai_bot"] {
        let peer = f.person.resolve_peer(bot).await.unwrap();
        send(&f.person, &peer, "/register").await;
        f.expect_text(&peer, "Your name?").await;
        send(&f.person, &peer, "Dana").await;
        f.expect_text(&peer, "Your age?").await;
        send(&f.person, &peer, "42").await;
        f.expect_text(&peer, "Registered Dana (42)").await;
        f.expect_text(&peer, "then false timeout").await;
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_copy_search_and_describe_chats_in_both_languages() {
    let f = test_fleet(
        "script-copy-search",
        &[
            (
                "copy.lua",
                "on(\"message\", group & incoming & text_contains(\"copy lua\"), function(m)\n  local c = m:copy_to(\"me\")\n  local found = search(m.chat_id, \"copy lua\")\n  local chat = m:chat()\n  m:reply(string.format(\"copied %s; found %d; chat %s %s\", c.text, #found, chat.kind, chat.name))\nend)\n",
            ),
            (
                "copy.rhai",
                "on(\"message\", group & incoming & text_contains(\"copy rhai\"), |m| {\n    let c = m.copy_to(\"me\");\n    let found = search(m.chat_id, \"copy rhai\");\n    let chat = m.chat();\n    m.reply(`copied ${c.text}; found ${found.len()}; chat ${chat.kind} ${chat.name}`);\n});\n",
            ),
        ],
        "{ kind: supergroup, title: Copies, username: copy_grp, owner: lua, members: [p, rhai] }",
        "  - { name: lua, kind: user, phone: \"+15559990029\", scripts: [copy.lua] }\n  - { name: rhai, kind: user, phone: \"+15559990030\", scripts: [copy.rhai] }\n",
        "+15559990028",
    )
    .await;
    let group = f.chat("@copy_grp").await;
    for lang in ["lua", "rhai"] {
        send(&f.person, &group, &format!("please copy {lang}")).await;
        f.expect_text(
            &group,
            &format!("copied please copy {lang}; found 1; chat channel Copies"),
        )
        .await;
        // The copy is the account's own message: no "forwarded from".
        let account = f.client(lang).await;
        let saved = find(&account, "me", 5, |m| {
            m.text() == format!("please copy {lang}")
        })
        .await
        .expect("the copy in saved messages");
        assert!(
            matches!(&saved.raw, enums::Message::Message(x) if x.fwd_from.is_none()),
            "{lang}: {:?}",
            saved.raw
        );
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_scripts_press_a_bots_button_react_forward_and_pin_in_both_languages() {
    // A user account talks to a bot through a conversation, presses the button of its
    // answer, reacts to the message that asked, forwards it to saved messages and pins
    // and unpins the copy there.
    let lua = "on(\"message\", group & incoming & text_contains(\"press lua\"), function(m)\n  local conv = conversation(\"@press_bot\")\n  local answer = conv:ask(\"hi\")\n  local said = answer:click(\"urgent\")\n  m:react(\"👍\")\n  local copy = m:forward_to(\"me\")\n  copy:pin()\n  copy:unpin()\n  m:reply(\"clicked: \" .. said.message .. \"; forwarded: \" .. copy.text)\nend)\n";
    let rhai = "on(\"message\", group & incoming & text_contains(\"press rhai\"), |m| {\n    let conv = conversation(\"@press_bot\");\n    let answer = conv.ask(\"hi\");\n    let said = answer.click(\"Mark urgent\");\n    m.react(\"👍\");\n    let copy = m.forward_to(\"me\");\n    copy.pin();\n    copy.unpin();\n    m.reply(`clicked: ${said.message}; forwarded: ${copy.text}`);\n});\n";
    let f = test_fleet(
        "script-press",
        &[
            ("press.lua", lua),
            ("press.rhai", rhai),
            ("autoreply.lua", include_str!("../scripts/autoreply.lua")),
        ],
        "{ kind: supergroup, title: Press, username: press_grp, owner: lua, members: [p, rhai] }",
        "  - { name: bot, kind: bot, username: press_bot, scripts: [autoreply.lua] }\n  - { name: lua, kind: user, phone: \"+15559990032\", scripts: [press.lua] }\n  - { name: rhai, kind: user, phone: \"+15559990033\", scripts: [press.rhai] }\n",
        "+15559990031",
    )
    .await;
    let group = f.chat("@press_grp").await;
    for lang in ["lua", "rhai"] {
        send(&f.person, &group, &format!("press {lang}")).await;
        f.expect_text(
            &group,
            &format!("clicked: Marked urgent; forwarded: press {lang}"),
        )
        .await;
        let asked = find(&f.person, "@press_grp", 10, |m| {
            m.text() == format!("press {lang}")
        })
        .await
        .unwrap();
        assert!(
            matches!(&asked.raw, enums::Message::Message(x) if x.reactions.is_some()),
            "{lang}: no reaction on {:?}",
            asked.raw
        );
        // The bot's answer was edited by the press.
        let account = f.client(lang).await;
        f.until(&format!("{lang}: the bot's edited answer"), || async {
            find(&account, "@press_bot", 5, |m| {
                m.text().starts_with("Urgent:")
            })
            .await
        })
        .await;
        // The forwarded copy is in saved messages, pinned and unpinned again.
        let copy = find(&account, "me", 5, |m| m.text() == format!("press {lang}"))
            .await
            .expect("the forwarded copy");
        assert!(
            matches!(&copy.raw, enums::Message::Message(x) if x.fwd_from.is_some() && !x.pinned),
            "{lang}: {:?}",
            copy.raw
        );
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_ban_list_bans_in_every_group_the_fleet_guards_in_both_languages() {
    // The Lua guard bans for a bad word and writes the shared list; the Rhai guard of
    // another group bans whoever is on it; and the other way round, with a pool's space.
    let lua = "local bans = kv.shared(\"banlist\")\nlocal pool = kv.shared_space(\"banlist\", { pool = \"guards\" })\non(\"message\", group & incoming, function(m)\n  if m.service then return end\n  if m.text:find(\"spam\") then\n    bans:set(tostring(m.sender_id), m.text)\n    ban(m.chat_id, m.sender_id)\n  elseif pool:get(tostring(m.sender_id)) then\n    m:delete()\n    ban(m.chat_id, m.sender_id)\n    send(m.chat_id, \"lua: banned by the pool's list (\" .. pool:incr(\"hits\") .. \")\")\n  end\nend)\n";
    let rhai = "let bans = kv::shared_space(\"banlist\");\nlet pool = kv::shared_space(\"banlist\", #{ pool: \"guards\" });\non(\"message\", group & incoming, |m| {\n    if m.service { return; }\n    if m.text.contains(\"scam\") {\n        pool.set(`${m.sender_id}`, m.text);\n        ban(m.chat_id, m.sender_id);\n    } else if bans.get(`${m.sender_id}`) != () {\n        m.delete();\n        ban(m.chat_id, m.sender_id);\n        send(m.chat_id, `rhai: banned by the fleet's list (${bans.keys(\"\").len()})`);\n    }\n});\n";
    let f = test_fleet(
        "script-shared-kv",
        &[("guard.lua", lua), ("guard.rhai", rhai)],
        "{ kind: supergroup, title: A, username: shared_a_grp, owner: owner, members: [p], admins: [lua] }, { kind: supergroup, title: B, username: shared_b_grp, owner: owner, members: [p], admins: [rhai] }",
        "  - { name: owner, kind: user, phone: \"+15559990035\" }\n  - { name: lua, kind: bot, username: shared_lua_bot, pools: [guards], scripts: [guard.lua] }\n  - { name: rhai, kind: bot, username: shared_rhai_bot, pools: [guards], scripts: [guard.rhai] }\n",
        "+15559990034",
    )
    .await;
    let owner = f.client("owner").await;
    let me = f.person.user_id().unwrap();
    let a = f.chat("@shared_a_grp").await;
    let b = f.chat("@shared_b_grp").await;
    let banned_in = |group: &'static str| {
        let owner = owner.clone();
        async move {
            let p = owner.get_participant(group, me).await.ok()??;
            matches!(p.channel, Some(enums::ChannelParticipant::Banned(_))).then_some(())
        }
    };
    // Lifts the ban and joins again.
    let rejoin = |group: &'static str| {
        let (owner, person) = (owner.clone(), f.person.clone());
        async move {
            owner.unban(group, me).await.unwrap();
            let peer = person.resolve_peer(group).await.unwrap();
            person
                .invoke(&functions::channels::JoinChannel {
                    channel: fleetgram_engine::peers::input_channel(&peer).unwrap(),
                })
                .await
                .unwrap();
        }
    };
    // The pool's space: written by the Rhai guard in B, read by the Lua guard in A.
    send(&f.person, &b, "a scam offer").await;
    f.until("banned in B", || banned_in("@shared_b_grp")).await;
    send(&f.person, &a, "hello A").await;
    f.until("the Lua guard's notice in A", || async {
        find(&owner, "@shared_a_grp", 10, |m| {
            m.text() == "lua: banned by the pool's list (1)"
        })
        .await
    })
    .await;
    f.until("banned in A", || banned_in("@shared_a_grp")).await;
    // The fleet's space: written by the Lua guard in A, read by the Rhai guard in B.
    rejoin("@shared_a_grp").await;
    rejoin("@shared_b_grp").await;
    send(&f.person, &a, "buy spam").await;
    f.until("banned in A again", || banned_in("@shared_a_grp"))
        .await;
    send(&f.person, &b, "hello B").await;
    f.until("the Rhai guard's notice in B", || async {
        find(&owner, "@shared_b_grp", 10, |m| {
            m.text() == "rhai: banned by the fleet's list (1)"
        })
        .await
    })
    .await;
    f.until("banned in B again", || banned_in("@shared_b_grp"))
        .await;
    f.stop().await;
}

/// A 1x1 PNG.
const PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0,
    0, 0, 144, 119, 83, 222, 0, 0, 0, 12, 73, 68, 65, 84, 120, 156, 99, 248, 207, 192, 0, 0, 3, 1,
    1, 0, 201, 254, 146, 239, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_send_files_and_photos_from_media_dir_and_nothing_outside_it_in_both_languages() {
    // Each bot sends a document and a photo from its media_dir, then tries its way out
    // (.., an absolute path, a symbolic link leading out) and reports what it was told.
    let lua = "local function try(f, ...)\n  local ok, e = pcall(f, ...)\n  return ok and \"sent\" or e.message\nend\non(\"message\", private & incoming & command(\"files\"), function(m)\n  local d = send_file(m.chat_id, \"docs/report.txt\", { caption = \"<b>report</b> lua\", parse_mode = \"html\" })\n  send_photo(m.chat_id, \"pic.png\", { caption = \"pic lua\" })\n  m:reply(\"lua: \" .. d.text .. \" | \" .. try(send_file, m.chat_id, \"../accounts.yaml\") .. \" | \" .. try(send_file, m.chat_id, \"/etc/hostname\") .. \" | \" .. try(send_file, m.chat_id, \"out\"))\nend)\n";
    let rhai = "fn try_send(chat, path) {\n    try { send_file(chat, path); return \"sent\"; } catch (e) { return e.message; }\n}\non(\"message\", private_chat & incoming & command(\"files\"), |m| {\n    let d = send_file(m.chat_id, \"docs/report.txt\", #{ caption: \"<b>report</b> rhai\", parse_mode: \"html\" });\n    send_photo(m.chat_id, \"pic.png\", #{ caption: \"pic rhai\" });\n    m.reply(`rhai: ${d.text} | ${try_send(m.chat_id, \"../accounts.yaml\")} | ${try_send(m.chat_id, \"/etc/hostname\")} | ${try_send(m.chat_id, \"out\")}`);\n});\n";
    let none = "on(\"message\", private & incoming, function(m)\n  local ok, e = pcall(send_file, m.chat_id, \"pic.png\")\n  m:reply(\"none: \" .. e.message)\nend)\n";
    let f = test_fleet(
        "script-media-dir",
        &[("files.lua", lua), ("files.rhai", rhai), ("none.lua", none)],
        "",
        "  - { name: lua, kind: bot, username: files_lua_bot, media_dir: media, scripts: [files.lua] }\n  - { name: rhai, kind: bot, username: files_rhai_bot, media_dir: media, scripts: [files.rhai] }\n  - { name: none, kind: bot, username: files_none_bot, scripts: [none.lua] }\n",
        "+15559990036",
    )
    .await;
    let media = f.dir.join("media");
    std::fs::create_dir_all(media.join("docs")).unwrap();
    std::fs::write(media.join("docs/report.txt"), "the report\n").unwrap();
    std::fs::write(media.join("pic.png"), PNG).unwrap();
    std::fs::write(f.dir.join("secret.txt"), "not for scripts").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(f.dir.join("secret.txt"), media.join("out")).unwrap();
    for lang in ["lua", "rhai"] {
        let bot = format!("@files_{lang}_bot");
        let peer = f.person.resolve_peer(&bot).await.unwrap();
        send(&f.person, &peer, "/files").await;
        let report = f
            .until(&format!("{lang}: the reply"), || async {
                find(&f.person, &bot, 10, |m| {
                    m.text().starts_with(&format!("{lang}: "))
                })
                .await
            })
            .await;
        let parts: Vec<&str> = report.text().split(" | ").collect();
        assert_eq!(parts[0], format!("{lang}: report {lang}"), "{parts:?}");
        assert!(
            parts[1].contains("no leading /, no .."),
            "{lang}: {parts:?}"
        );
        assert!(
            parts[2].contains("no leading /, no .."),
            "{lang}: {parts:?}"
        );
        assert!(
            parts[3].contains("leads outside media_dir"),
            "{lang}: {parts:?}"
        );
        // The document: its name, its formatted caption, its bytes.
        let doc = find(&f.person, &bot, 10, |m| {
            m.text() == format!("report {lang}")
        })
        .await
        .expect("the document");
        assert_eq!(doc.html(), format!("<b>report</b> {lang}"));
        let file = fleetgram_engine::media::file_of(&doc.raw).expect("a file");
        assert_eq!(
            f.person.download_file(&file).await.unwrap(),
            b"the report\n"
        );
        let photo = find(&f.person, &bot, 10, |m| m.text() == format!("pic {lang}"))
            .await
            .expect("the photo");
        assert!(
            matches!(&photo.raw, enums::Message::Message(x) if matches!(x.media, Some(enums::MessageMedia::Photo(_)))),
            "{lang}: {:?}",
            photo.raw
        );
    }
    // An account without media_dir sends nothing from disk, and says how to allow it.
    let peer = f.person.resolve_peer("@files_none_bot").await.unwrap();
    send(&f.person, &peer, "hi").await;
    let r = f
        .until("the account without media_dir answered", || async {
            find(&f.person, "@files_none_bot", 5, |m| {
                m.text().starts_with("none: ")
            })
            .await
        })
        .await;
    assert!(r.text().contains("has no media_dir"), "{}", r.text());
    f.stop().await;
}

/// The person joins the public group `group`.
async fn join(f: &TestFleet, group: &str) {
    let peer = f.person.resolve_peer(group).await.unwrap();
    f.person
        .invoke(&functions::channels::JoinChannel {
            channel: fleetgram_engine::peers::input_channel(&peer).unwrap(),
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_captcha_example_mutes_newcomers_until_they_press_and_removes_who_does_not() {
    let f = test_fleet(
        "example-captcha",
        &[
            ("captcha.lua", include_str!("../scripts/captcha.lua")),
            ("captcha.rhai", include_str!("../scripts/captcha.rhai")),
        ],
        "{ kind: supergroup, title: Cl, username: captcha_lua_grp, owner: owner, members: [], admins: [lua] }, { kind: supergroup, title: Cr, username: captcha_rhai_grp, owner: owner, members: [], admins: [rhai] }",
        "  - { name: owner, kind: user, phone: \"+15559990038\" }\n  - { name: lua, kind: bot, username: captcha_lua_bot, scripts: [{ file: captcha.lua, settings: { timeout: 2, check: \"500ms\" } }] }\n  - { name: rhai, kind: bot, username: captcha_rhai_bot, scripts: [{ file: captcha.rhai, settings: { timeout: 2, check: \"500ms\" } }] }\n",
        "+15559990037",
    )
    .await;
    name_person(&f, "Dana", "Scully").await;
    let owner = f.client("owner").await;
    let me = f.person.user_id().unwrap();
    for group in ["@captcha_lua_grp", "@captcha_rhai_grp"] {
        // Joins: muted, and asked.
        join(&f, group).await;
        let asked = f
            .until(&format!("{group}: the captcha"), || async {
                find(&f.person, group, 10, |m| m.reply_markup().is_some()).await
            })
            .await;
        assert_eq!(
            asked.text(),
            "Dana Scully, press the button within 2 s to write here.",
            "{group}"
        );
        assert!(mentions(&asked, me), "{group}");
        let peer = f.person.resolve_peer(group).await.unwrap();
        assert!(
            common::send_text(&f.person, &peer, "can I talk?")
                .await
                .is_err(),
            "{group}: a newcomer is muted"
        );
        // Presses: welcome, and free to write.
        let said = asked.click(0, 0).await.unwrap().expect("an answer");
        assert_eq!(said.message.as_deref(), Some("Welcome!"), "{group}");
        f.until(&format!("{group}: the welcome"), || async {
            find(&f.person, group, 10, |m| {
                m.id() == asked.id() && m.text() == "Welcome, Dana Scully!"
            })
            .await
        })
        .await;
        send(&f.person, &peer, "hello all").await;
        // Leaves, joins again, does not press: removed after the timeout, the captcha gone.
        f.person
            .invoke(&functions::channels::LeaveChannel {
                channel: fleetgram_engine::peers::input_channel(&peer).unwrap(),
            })
            .await
            .unwrap();
        join(&f, group).await;
        let second = f
            .until(&format!("{group}: the second captcha"), || async {
                find(&owner, group, 10, |m| {
                    m.reply_markup().is_some() && m.id() != asked.id()
                })
                .await
            })
            .await;
        f.until(&format!("{group}: removed after the timeout"), || async {
            let p = owner.get_participant(group, me).await.ok()?;
            let gone = match p {
                None => true,
                Some(p) => matches!(p.channel, Some(enums::ChannelParticipant::Left(_))),
            };
            let captcha_gone = find(&owner, group, 20, |m| m.id() == second.id())
                .await
                .is_none();
            (gone && captcha_gone).then_some(())
        })
        .await;
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anti_flood_example_mutes_a_flooder_longer_each_time() {
    let f = test_fleet(
        "example-antiflood",
        &[
            ("antiflood.lua", include_str!("../scripts/antiflood.lua")),
            ("antiflood.rhai", include_str!("../scripts/antiflood.rhai")),
        ],
        "{ kind: supergroup, title: Fl, username: flood_lua_grp, owner: owner, members: [p], admins: [lua] }, { kind: supergroup, title: Fr, username: flood_rhai_grp, owner: owner, members: [p], admins: [rhai] }",
        "  - { name: owner, kind: user, phone: \"+15559990040\" }\n  - { name: lua, kind: bot, username: flood_lua_bot, scripts: [{ file: antiflood.lua, settings: { limit: 3, window: 60 } }] }\n  - { name: rhai, kind: bot, username: flood_rhai_bot, scripts: [{ file: antiflood.rhai, settings: { limit: 3, window: 60 } }] }\n",
        "+15559990039",
    )
    .await;
    name_person(&f, "Dana", "Scully").await;
    let owner = f.client("owner").await;
    let me = f.person.user_id().unwrap();
    for group in ["@flood_lua_grp", "@flood_rhai_grp"] {
        let peer = f.chat(group).await;
        for i in 0..4 {
            send(&f.person, &peer, &format!("flood {i}")).await;
        }
        let notice = f
            .until(&format!("{group}: the mute notice"), || async {
                find(&owner, group, 10, |m| m.text().contains("is muted for")).await
            })
            .await;
        assert_eq!(
            notice.text(),
            "Dana Scully is muted for 1 min (flood).",
            "{group}"
        );
        assert!(mentions(&notice, me), "{group}");
        let p = owner
            .get_participant(group, me)
            .await
            .unwrap()
            .expect("a member");
        let Some(enums::ChannelParticipant::Banned(b)) = &p.channel else {
            panic!("{group}: not restricted: {p:?}");
        };
        let enums::ChatBannedRights::ChatBannedRights(r) = &b.banned_rights;
        assert!(r.send_messages && !r.view_messages, "{group}: {r:?}");
        assert!(
            common::send_text(&f.person, &peer, "still here?")
                .await
                .is_err(),
            "{group}"
        );
        // Lifted by hand, flooding again mutes for the next step (10 min).
        owner.unban(group, me).await.unwrap();
        for i in 0..4 {
            send(&f.person, &peer, &format!("again {i}")).await;
        }
        f.until(&format!("{group}: the second, longer mute"), || async {
            find(&owner, group, 10, |m| {
                m.text() == "Dana Scully is muted for 10 min (flood)."
            })
            .await
        })
        .await;
    }
    f.stop().await;
}

/// A loopback HTTP server answering every request with `feed` (which the test may change);
/// its port.
async fn feed_server(feed: Arc<std::sync::Mutex<String>>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let body = feed.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            });
        }
    });
    port
}

fn rss(items: &[(&str, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(id, title)| {
            format!("<item><guid>{id}</guid><title>{title}</title><link>https://news.example/{id}?a=1&amp;b=2</link></item>")
        })
        .collect();
    format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>N</title>{items}</channel></rss>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_poster_example_posts_new_entries_once_oldest_first_in_both_languages() {
    // Newest first, as feeds list them; a title that needs escaping.
    let feed = Arc::new(std::sync::Mutex::new(rss(&[
        ("2", "Second &amp; &lt;last&gt;"),
        ("1", "First"),
    ])));
    let port = feed_server(feed.clone()).await;
    let settings = |chat: &str| {
        format!("{{ url: \"http://127.0.0.1:{port}/feed\", chat: \"{chat}\", every: \"300ms\" }}")
    };
    let f = test_fleet(
        "example-feedposter",
        &[
            ("feedposter.lua", include_str!("../scripts/feedposter.lua")),
            ("feedposter.rhai", include_str!("../scripts/feedposter.rhai")),
        ],
        "{ kind: channel, title: Nl, username: news_lua_ch, owner: owner, admins: [lua] }, { kind: channel, title: Nr, username: news_rhai_ch, owner: owner, admins: [rhai] }",
        &format!(
            "  - {{ name: owner, kind: user, phone: \"+15559990042\" }}\n  - {{ name: lua, kind: bot, username: news_lua_bot, http_allow: [\"127.0.0.1:{port}\"], scripts: [{{ file: feedposter.lua, settings: {} }}] }}\n  - {{ name: rhai, kind: bot, username: news_rhai_bot, http_allow: [\"127.0.0.1:{port}\"], scripts: [{{ file: feedposter.rhai, settings: {} }}] }}\n",
            settings("@news_lua_ch"),
            settings("@news_rhai_ch")
        ),
        "+15559990041",
    )
    .await;
    let owner = f.client("owner").await;
    let posts = |ch: &'static str| {
        let owner = owner.clone();
        async move {
            let mut h = owner
                .iter_history(ch)
                .limit(20)
                .collect()
                .await
                .unwrap_or_default();
            h.reverse();
            h.into_iter()
                .filter(|m| !m.text().is_empty())
                .map(|m| m.html())
                .collect::<Vec<String>>()
        }
    };
    for ch in ["@news_lua_ch", "@news_rhai_ch"] {
        let got = f
            .until(&format!("{ch}: two posts"), || async {
                let p = posts(ch).await;
                (p.len() >= 2).then_some(p)
            })
            .await;
        assert_eq!(
            got,
            [
                "<a href=\"https://news.example/1?a=1&amp;b=2\">First</a>",
                "<a href=\"https://news.example/2?a=1&amp;b=2\">Second &amp; &lt;last&gt;</a>",
            ],
            "{ch}"
        );
    }
    // A new entry: posted once; the old ones not again (several runs pass meanwhile).
    *feed.lock().unwrap() = rss(&[
        ("3", "Third"),
        ("2", "Second &amp; &lt;last&gt;"),
        ("1", "First"),
    ]);
    for ch in ["@news_lua_ch", "@news_rhai_ch"] {
        f.until(&format!("{ch}: the third post"), || async {
            let p = posts(ch).await;
            (p.len() >= 3).then_some(())
        })
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    for ch in ["@news_lua_ch", "@news_rhai_ch"] {
        let p = posts(ch).await;
        assert_eq!(p.len(), 3, "{ch}: {p:?}");
        assert_eq!(
            p[2], "<a href=\"https://news.example/3?a=1&amp;b=2\">Third</a>",
            "{ch}"
        );
    }
    f.stop().await;
}
