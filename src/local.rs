//! `network: local`: the embedded local DC, the demo's accounts, chats and traffic.
//!
//! [`LocalNetwork::start`] starts the DC (state under the store directory, so a restarted
//! host finds its accounts, keys and chats again) and creates the configured users, bots
//! and people. Once the fleet runs, [`provision_chats`] makes the configured supergroups and
//! channels (as their owner accounts, through the API) and [`traffic`] lets the people chat,
//! ask to join and press buttons so the example scripts visibly act.

use crate::config::{ChatKind, HostConfig, LocalChat};
use fleetgram_engine::fleet::config::AccountKind;
use fleetgram_engine::fleet::{BoxFuture, Credentials, DcTable, FleetHandle};
use fleetgram_engine::store::MemoryStore;
use fleetgram_engine::{Client, InvocationError};
use fleetgram_localdc::{Config as DcConfig, LocalDc};
use fleetgram_protocol::crypto::rsa::RsaPublicKey;
use fleetgram_tl::{enums, functions, types};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The running local network.
pub struct LocalNetwork {
    /// The DC.
    pub dc: LocalDc,
    /// Where the fleet finds it.
    pub table: DcTable,
    /// Bot tokens of the configured bots (account name -> token).
    pub tokens: HashMap<String, String>,
    /// The login code.
    pub code: String,
}

/// Login secrets on the local network: the fixed code and the bots' tokens (accounts added
/// to the file while running are created on the DC first).
pub struct LocalCredentials {
    code: String,
    tokens: std::sync::Mutex<HashMap<String, String>>,
    control: fleetgram_localdc::Control,
}

impl Credentials for LocalCredentials {
    fn login_code(&self, _: &str, _: &str) -> BoxFuture<'static, Option<String>> {
        let c = self.code.clone();
        Box::pin(async move { Some(c) })
    }

    fn bot_token(&self, account: &str) -> Option<String> {
        self.tokens
            .lock()
            .expect("not poisoned")
            .get(account)
            .cloned()
    }

    fn prepare(&self, account: &fleetgram_engine::fleet::config::Account) {
        let c = &account.config;
        let first = c.first_name.clone().unwrap_or_else(|| c.name.clone());
        match c.kind {
            AccountKind::User => {
                let phone = c.phone.clone().unwrap_or_default();
                if self.control.user_by_phone(&phone).is_none() {
                    self.control.create_user(&phone, &first, "", 1);
                }
            }
            AccountKind::Bot => {
                let Some(username) = &c.username else { return };
                let token = match self.control.bot_token(username) {
                    Some((_, t)) => t,
                    None => self.control.create_bot(&first, username, 1).1,
                };
                self.tokens
                    .lock()
                    .expect("not poisoned")
                    .insert(c.name.clone(), token);
            }
        }
    }
}

/// `local.base_port`, unless `FLEETGRAM_LOCAL_BASE_PORT` overrides it (0 picks free ports;
/// e.g. to run a second demo beside one that holds the usual ports).
fn base_port(configured: u16) -> Result<u16, String> {
    match std::env::var("FLEETGRAM_LOCAL_BASE_PORT") {
        Ok(v) => v.trim().parse().map_err(|_| {
            format!("FLEETGRAM_LOCAL_BASE_PORT: {v:?} is not a port number (0 picks free ports)")
        }),
        Err(_) => Ok(configured),
    }
}

impl LocalNetwork {
    /// Starts the DC and creates the configured accounts and people (existing ones are
    /// kept).
    ///
    /// # Errors
    /// The DC could not start (port taken, data directory locked...).
    pub async fn start(config: &HostConfig) -> Result<LocalNetwork, String> {
        let local = &config.local;
        let host = local
            .host
            .parse()
            .map_err(|_| format!("local.host: {:?} is not an IP address", local.host))?;
        let dc = LocalDc::start(DcConfig {
            dcs: local.dcs.max(1),
            host,
            base_port: base_port(local.base_port)?,
            data_dir: Some(config.store.join("localdc")),
            login_code: Some(local.login_code.clone()),
            rsa_key: None,
            // The control API (inject updates and faults, as the README shows for
            // `fleetgram localdc`), on loopback, its URL in the info file.
            control_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            ..DcConfig::default()
        })
        .await
        .map_err(|e| format!("starting the local DC: {e}"))?;
        let control = dc.control();
        let mut tokens = HashMap::new();
        for a in &config.accounts {
            let c = &a.config;
            let first = c.first_name.clone().unwrap_or_else(|| c.name.clone());
            match c.kind {
                AccountKind::User => {
                    let phone = c.phone.clone().unwrap_or_default();
                    if control.user_by_phone(&phone).is_none() {
                        control.create_user(&phone, &first, "", 1);
                    }
                }
                AccountKind::Bot => {
                    let Some(username) = &c.username else {
                        continue;
                    };
                    let token = match control.bot_token(username) {
                        Some((_, t)) => t,
                        None => control.create_bot(&first, username, 1).1,
                    };
                    tokens.insert(c.name.clone(), token);
                }
            }
        }
        for p in &local.people {
            if control.user_by_phone(&p.phone).is_none() {
                control.create_user(&p.phone, &p.name, "", 1);
            }
        }
        let info = dc.info();
        if let Some(path) = &local.info_file {
            let path = if path.is_absolute() {
                path.clone()
            } else {
                config
                    .file
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join(path)
            };
            let text = serde_json::to_string_pretty(&info.to_json()).expect("json");
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let key = RsaPublicKey::from_pem(&info.rsa_pem)
            .map_err(|e| format!("the local DC's RSA key: {e}"))?;
        let table = DcTable {
            dcs: info.dcs.iter().map(|d| (d.id, d.addr)).collect(),
            default_dc: 1,
            rsa_keys: vec![key],
        };
        Ok(LocalNetwork {
            dc,
            table,
            tokens,
            code: local.login_code.clone(),
        })
    }

    /// The credentials the fleet logs in with.
    pub fn credentials(&self) -> Arc<LocalCredentials> {
        Arc::new(LocalCredentials {
            code: self.code.clone(),
            tokens: std::sync::Mutex::new(self.tokens.clone()),
            control: self.dc.control(),
        })
    }

    /// A client logged in as `phone` in memory (a person of the demo, or another device of
    /// an account).
    ///
    /// # Errors
    /// Login failed.
    pub async fn person(&self, config: &HostConfig, phone: &str) -> Result<Client, String> {
        let mut c = fleetgram_engine::Config::with_dcs(
            config.api_id,
            config.api_hash.clone(),
            self.table.dcs.clone(),
            1,
        );
        c.extra_rsa_keys = self.table.rsa_keys.clone();
        let client =
            Client::new(c, Arc::new(MemoryStore::new()), phone).map_err(|e| e.to_string())?;
        let token = client
            .request_login_code(phone)
            .await
            .map_err(|e| e.to_string())?;
        client
            .sign_in(&token, &self.code)
            .await
            .map_err(|e| e.to_string())?;
        Ok(client)
    }
}

/// Full moderation rights for admins the demo promotes.
fn admin_rights() -> types::ChatAdminRights {
    types::ChatAdminRights {
        change_info: true,
        post_messages: true,
        edit_messages: true,
        delete_messages: true,
        ban_users: true,
        invite_users: true,
        pin_messages: true,
        ..Default::default()
    }
}

/// The `InputUser` of member `name` as `owner` sees it: bots by username, accounts and
/// people by phone (imported as a contact).
async fn member_input(
    owner: &Client,
    config: &HostConfig,
    name: &str,
) -> Result<enums::InputUser, InvocationError> {
    let (phone, username) = match config.account(name) {
        Some(a) => (a.config.phone.clone(), a.config.username.clone()),
        None => (
            config
                .local
                .people
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.phone.clone()),
            None,
        ),
    };
    if let Some(u) = username {
        let p = owner.resolve_peer(&format!("@{u}")).await?;
        if let enums::InputPeer::User(u) = p {
            return Ok(types::InputUser {
                user_id: u.user_id,
                access_hash: u.access_hash,
            }
            .into());
        }
    }
    let phone = phone.unwrap_or_default();
    let enums::contacts::ImportedContacts::ImportedContacts(r) = owner
        .invoke(&functions::contacts::ImportContacts {
            contacts: vec![types::InputPhoneContact {
                client_id: 1,
                phone,
                first_name: name.into(),
                last_name: String::new(),
                note: None,
            }
            .into()],
        })
        .await?;
    match r.users.first() {
        Some(enums::User::User(u)) => Ok(types::InputUser {
            user_id: u.id,
            access_hash: u.access_hash.unwrap_or_default(),
        }
        .into()),
        _ => Err(InvocationError::BadRequest(format!(
            "{name}: no such user on the local DC"
        ))),
    }
}

fn input_channel(p: &enums::InputPeer) -> Option<enums::InputChannel> {
    match p {
        enums::InputPeer::Channel(c) => Some(
            types::InputChannel {
                channel_id: c.channel_id,
                access_hash: c.access_hash,
            }
            .into(),
        ),
        _ => None,
    }
}

/// Creates one configured chat (if its username is free), adds members, promotes admins.
async fn provision_chat(
    owner: &Client,
    config: &HostConfig,
    chat: &LocalChat,
) -> Result<enums::InputChannel, InvocationError> {
    let existing = match owner.resolve_peer(&format!("@{}", chat.username)).await {
        Ok(p) => input_channel(&p),
        Err(e) if e.is("USERNAME_NOT_OCCUPIED") => None,
        Err(e) => return Err(e),
    };
    let channel = match existing {
        Some(c) => c,
        None => {
            let u = owner
                .invoke(&functions::channels::CreateChannel {
                    broadcast: chat.kind == ChatKind::Channel,
                    megagroup: chat.kind == ChatKind::Supergroup,
                    for_import: false,
                    forum: false,
                    title: chat.title.clone(),
                    about: String::new(),
                    geo_point: None,
                    address: None,
                    ttl_period: None,
                })
                .await?;
            let chats = match &u {
                enums::Updates::Updates(u) => u.chats.clone(),
                _ => vec![],
            };
            let Some(enums::Chat::Channel(c)) = chats.into_iter().next() else {
                return Err(InvocationError::BadRequest(
                    "createChannel returned no channel".into(),
                ));
            };
            let channel: enums::InputChannel = types::InputChannel {
                channel_id: c.id,
                access_hash: c.access_hash.unwrap_or_default(),
            }
            .into();
            owner
                .invoke(&functions::channels::UpdateUsername {
                    channel: channel.clone(),
                    username: chat.username.clone(),
                })
                .await?;
            tracing::info!(chat = %chat.username, "created");
            channel
        }
    };
    for m in chat.members.iter().chain(&chat.admins) {
        if *m == chat.owner {
            continue;
        }
        let user = member_input(owner, config, m).await?;
        match owner
            .invoke(&functions::channels::InviteToChannel {
                channel: channel.clone(),
                users: vec![user],
            })
            .await
        {
            Ok(_) => {}
            Err(e) if e.is("USER_ALREADY_PARTICIPANT") => {}
            Err(e) => return Err(e),
        }
    }
    for a in &chat.admins {
        if *a == chat.owner {
            continue;
        }
        let user = member_input(owner, config, a).await?;
        owner
            .invoke(&functions::channels::EditAdmin {
                channel: channel.clone(),
                user_id: user,
                admin_rights: admin_rights().into(),
                rank: None,
            })
            .await?;
    }
    Ok(channel)
}

/// Creates the configured chats once their owners are running (waits for them).
pub async fn provision_chats(fleet: &FleetHandle, config: &HostConfig) {
    for chat in &config.local.chats {
        let owner = loop {
            if let Some(c) = fleet.client(&chat.owner) {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        match provision_chat(&owner, config, chat).await {
            Ok(_) => tracing::info!(chat = %chat.username, "ready"),
            Err(e) => {
                tracing::error!(chat = %chat.username, error = %e, "setting up the demo chat failed")
            }
        }
    }
}

/// The demo's traffic: people chat in the supergroups (now and then with a banned word),
/// talk to the bots and press their buttons, and one asks to join through an invite link
/// that needs approval. Runs until the task is dropped.
pub async fn traffic(net: Arc<LocalNetwork>, fleet: FleetHandle, config: HostConfig) {
    let t = config.local.traffic;
    if !t.enabled || config.local.people.is_empty() {
        return;
    }
    let mut people = Vec::new();
    for p in &config.local.people {
        match net.person(&config, &p.phone).await {
            Ok(c) => people.push((p.name.clone(), c)),
            Err(e) => tracing::warn!(person = %p.name, error = %e, "demo person could not log in"),
        }
    }
    if people.is_empty() {
        return;
    }
    let groups: Vec<&LocalChat> = config
        .local
        .chats
        .iter()
        .filter(|c| c.kind == ChatKind::Supergroup)
        .collect();
    // The bots people talk to: those that do not moderate or post in the demo chats.
    let bots: Vec<String> = config
        .accounts
        .iter()
        .filter(|a| a.config.kind == AccountKind::Bot)
        .filter(|a| {
            !config
                .local
                .chats
                .iter()
                .any(|c| c.admins.contains(&a.config.name))
        })
        .filter_map(|a| a.config.username.clone())
        .collect();
    let lines = [
        "hi everyone",
        "what a nice day",
        "anyone tried the new release?",
        "buy cheap spam here",
        "#news the local DC is up",
        "good morning",
    ];
    // One join request per run, from the last person, through a link that needs approval.
    if let (Some(g), Some((name, joiner))) = (groups.first(), people.last()) {
        if let Err(e) = join_request(&fleet, g, name, joiner).await {
            tracing::warn!(error = %e, "demo join request failed");
        }
    }
    let mut step = 0usize;
    loop {
        tokio::time::sleep(Duration::from_millis(t.interval_ms.max(50))).await;
        let (name, person) = &people[(step + step / 3) % people.len()];
        let r: Result<(), InvocationError> = async {
            match step % 3 {
                0 | 1 if !groups.is_empty() => {
                    let g = groups[step % groups.len()];
                    let line = lines[(step / 2) % lines.len()];
                    person
                        .with_peer(&format!("@{}", g.username), |peer| {
                            let req = send(peer, line);
                            let c = person.clone();
                            async move { c.invoke(&req).await.map(|_| ()) }
                        })
                        .await
                }
                _ if !bots.is_empty() => {
                    let bot = &bots[(step / 3) % bots.len()];
                    press_or_greet(person, bot).await
                }
                _ => Ok(()),
            }
        }
        .await;
        match r {
            Ok(()) => tracing::debug!(person = %name, step, "demo traffic step"),
            Err(e) => tracing::debug!(person = %name, error = %e, "demo traffic step failed"),
        }
        step += 1;
    }
}

fn send(peer: enums::InputPeer, text: &str) -> functions::messages::SendMessage {
    functions::messages::SendMessage {
        no_webpage: true,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer,
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
    }
}

/// Writes to a bot; if its last message has a callback button, presses it instead.
async fn press_or_greet(person: &Client, bot: &str) -> Result<(), InvocationError> {
    let peer = person.resolve_peer(&format!("@{bot}")).await?;
    let enums::messages::Messages::Messages(h) = person
        .invoke(&functions::messages::GetHistory {
            peer: peer.clone(),
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 1,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await?
    else {
        return person.invoke(&send(peer, "/start")).await.map(|_| ());
    };
    let button = h.messages.first().and_then(|m| match m {
        enums::Message::Message(m) if !m.out => match &m.reply_markup {
            Some(enums::ReplyMarkup::ReplyInlineMarkup(k)) => k.rows.iter().find_map(|r| {
                let enums::KeyboardInlineButtonRow::KeyboardInlineButtonRow(r) = r;
                r.buttons.iter().find_map(|b| {
                    let enums::KeyboardInlineButton::KeyboardInlineButton(b) = b;
                    match &b.r#type {
                        enums::InlineButtonType::Callback(c) => Some((m.id, c.data.clone())),
                        _ => None,
                    }
                })
            }),
            _ => None,
        },
        _ => None,
    });
    match button {
        Some((msg_id, data)) => {
            let enums::messages::BotCallbackAnswer::BotCallbackAnswer(a) = person
                .invoke(&functions::messages::GetBotCallbackAnswer {
                    game: false,
                    peer,
                    msg_id,
                    data: Some(data),
                    password: None,
                })
                .await?;
            tracing::info!(bot, answer = ?a.message, "demo: pressed a button");
            Ok(())
        }
        None => person.invoke(&send(peer, "/start")).await.map(|_| ()),
    }
}

/// `name` leaves `group` (if a member) and asks to join again through an approval link the
/// group's owner makes.
async fn join_request(
    fleet: &FleetHandle,
    group: &LocalChat,
    name: &str,
    joiner: &Client,
) -> Result<(), InvocationError> {
    let owner = loop {
        if let Some(c) = fleet.client(&group.owner) {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Wait until the group exists.
    let peer = loop {
        match owner.resolve_peer(&format!("@{}", group.username)).await {
            Ok(p) => break p,
            Err(e) if e.is("USERNAME_NOT_OCCUPIED") => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let enums::ExportedChatInvite::ChatInviteExported(link) = owner
        .invoke(&functions::messages::ExportChatInvite {
            legacy_revoke_permanent: false,
            request_needed: true,
            peer,
            expire_date: None,
            usage_limit: None,
            title: Some("demo approvals".into()),
            subscription_pricing: None,
        })
        .await?
    else {
        return Ok(());
    };
    if let Ok(p) = joiner.resolve_peer(&format!("@{}", group.username)).await {
        if let Some(c) = input_channel(&p) {
            let _ = joiner
                .invoke(&functions::channels::LeaveChannel { channel: c })
                .await;
        }
    }
    let hash = link.link.rsplit('+').next().unwrap_or_default().to_string();
    match joiner
        .invoke(&functions::messages::ImportChatInvite { hash })
        .await
    {
        Err(e) if e.is("INVITE_REQUEST_SENT") => {
            tracing::info!(person = name, group = %group.username, "demo: asked to join");
            Ok(())
        }
        Err(e) => Err(e),
        Ok(_) => Ok(()),
    }
}
