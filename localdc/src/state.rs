//! The local DC's data: users, login codes, authorizations, update state.
//!
//! Kept in memory behind one mutex of [`crate::Shared`]; handlers hold it only while they
//! read or change data, never across an await.

use fleetgram_protocol::crypto::AuthKey;
use fleetgram_tl::{enums, types};
use rand::{Rng, SeedableRng};
use sha2::Digest;
use std::collections::HashMap;

/// An auth key the DC knows.
#[derive(Debug, Clone)]
pub(crate) struct AuthKeyEntry {
    pub key: AuthKey,
    /// The DC it was created on.
    pub dc: i32,
    /// `Some(expires_at)` for a temporary key.
    pub temp_expires_at: Option<i32>,
    /// For a temporary key: the permanent key it is bound to.
    pub bound_to: Option<i64>,
    /// Salts issued to this key.
    pub salts: Vec<types::FutureSalt>,
}

/// A user or bot account.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub phone: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub username: Option<String>,
    pub bot: bool,
    pub home_dc: i32,
    /// Unix time until which the user counts as online.
    pub online_until: i32,
    /// The 2FA password, if set.
    pub password: Option<Password>,
}

/// A 2FA password as the server keeps it: the SRP parameters and the verifier `g^x mod p`.
#[derive(Debug, Clone)]
pub(crate) struct Password {
    pub params: fleetgram_protocol::crypto::srp::SrpParams,
    pub verifier: [u8; 256],
    pub hint: Option<String>,
}

/// One message in a user's box (private chats: each side has its own copy and id).
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredMessage {
    pub id: i32,
    /// The other user of the private chat.
    pub peer: i64,
    pub out: bool,
    pub from: i64,
    pub date: i32,
    pub text: String,
    pub entities: Vec<enums::MessageEntity>,
    pub reply_to: Option<i32>,
    pub edit_date: Option<i32>,
    pub silent: bool,
    /// The id of the other side's copy (private chats), if it has one.
    pub twin: Option<i32>,
    /// The sender's random_id (sender's copy only).
    pub random_id: Option<i64>,
    /// For a forwarded message: the original author and date.
    pub fwd_from: Option<(i64, i32)>,
    /// Pinned in this chat.
    pub pinned: bool,
    /// For a basic-group message: the group (then `peer` is unused) and the id linking the
    /// members' copies.
    pub chat: Option<(i64, i64)>,
    /// A service message's action.
    pub action: Option<enums::MessageAction>,
    /// A bot's keyboard.
    pub reply_markup: Option<enums::ReplyMarkup>,
    /// Photo or document (its file reference is refreshed whenever it is shown).
    pub media: Option<enums::MessageMedia>,
    /// In a discussion group: the automatic forward of post `.1` of channel `.0` (the top
    /// of that post's comment thread).
    pub discussion: Option<(i64, i32)>,
    /// A basic-group copy that mentions its owner (channel messages keep theirs in
    /// `State::channel_mentions`).
    pub mentioned: bool,
    /// ... and the owner has not read the mention yet.
    pub unread_mention: bool,
}

/// A stored file (photo or document), its bytes on the DC it was uploaded to.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    pub photo: bool,
    pub dc: i32,
    pub date: i32,
    pub mime: String,
    pub attributes: Vec<enums::DocumentAttribute>,
    pub data: std::sync::Arc<Vec<u8>>,
    /// A document's thumbnail (size type "m"), if one was uploaded with it.
    pub thumb: Option<std::sync::Arc<Vec<u8>>>,
}

/// Parts of a file being uploaded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Upload {
    pub big: bool,
    pub total: Option<i32>,
    pub part_size: Option<usize>,
    pub parts: std::collections::BTreeMap<i32, Vec<u8>>,
    pub bytes: usize,
    pub touched: i32,
}

/// A message waiting for its `schedule_date`.
#[derive(Debug, Clone)]
pub(crate) struct Scheduled {
    pub owner: i64,
    /// Its id among the owner's scheduled messages.
    pub id: i32,
    pub date: i32,
    pub request: fleetgram_tl::functions::messages::SendMessage,
}

/// A basic group.
#[derive(Debug, Clone)]
pub(crate) struct Chat {
    pub title: String,
    pub creator: i64,
    /// (user, inviter, date joined).
    pub members: Vec<(i64, i64, i32)>,
    pub date: i32,
    pub version: i32,
}

/// A channel or supergroup. Its messages and its pts log live in the box
/// [`channel_box`]`(id)`, so they share the users' message and log storage.
#[derive(Debug, Clone, Default)]
pub(crate) struct Channel {
    pub title: String,
    pub about: String,
    pub creator: i64,
    /// A supergroup (else a broadcast channel).
    pub megagroup: bool,
    pub username: Option<String>,
    pub date: i32,
    pub members: std::collections::BTreeMap<i64, Member>,
    /// Users banned from the channel (`view_messages`), with who banned them.
    pub kicked: std::collections::BTreeMap<i64, Banned>,
    pub invites: Vec<Invite>,
    /// Pending join requests: user -> (date, invite hash).
    pub requests: std::collections::BTreeMap<i64, (i32, String)>,
    /// The linked chat: a broadcast channel's discussion group, or the channel a
    /// discussion group belongs to.
    pub linked: Option<i64>,
}

/// A channel member.
#[derive(Debug, Clone, Default)]
pub(crate) struct Member {
    pub inviter: i64,
    pub date: i32,
    pub admin: Option<Admin>,
    /// Restrictions short of a ban.
    pub restricted: Option<Banned>,
}

/// An admin's rights.
#[derive(Debug, Clone, Default)]
pub(crate) struct Admin {
    pub rights: types::ChatAdminRights,
    pub by: i64,
    pub rank: Option<String>,
}

/// A ban or restriction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Banned {
    pub by: i64,
    pub date: i32,
    pub rights: types::ChatBannedRights,
}

impl Banned {
    /// Whether it still applies at `now` (`until_date` 0 means forever).
    pub fn active(&self, now: i32) -> bool {
        self.rights.until_date == 0 || self.rights.until_date > now
    }

    /// Telegram's reading of `until_date` when a ban is set: under 30 s or over 366 days
    /// from now means forever (0).
    pub fn normalize_until(rights: &mut types::ChatBannedRights, now: i32) {
        let d = rights.until_date.saturating_sub(now);
        if rights.until_date != 0 && !(30..=366 * 86400).contains(&d) {
            rights.until_date = 0;
        }
    }
}

/// An invite link of a channel.
#[derive(Debug, Clone, Default)]
pub(crate) struct Invite {
    pub hash: String,
    pub admin: i64,
    pub date: i32,
    pub request_needed: bool,
    pub title: Option<String>,
    pub expire_date: Option<i32>,
    pub usage_limit: Option<i32>,
    pub usage: i32,
    pub revoked: bool,
    pub permanent: bool,
}

/// The box (messages, pts log, pts) of channel `id`: a key no user id can take.
pub(crate) fn channel_box(id: i64) -> i64 {
    -1_000_000_000_000 - id
}

/// The `messageFwdHeader` of a forwarded copy.
pub(crate) fn fwd_header(f: Option<(i64, i32)>) -> Option<enums::MessageFwdHeader> {
    f.map(|(from, date)| {
        // A channel origin is kept as its box key (see `channel_box`).
        let from_id: enums::Peer = if from <= -1_000_000_000_000 {
            types::PeerChannel {
                channel_id: -1_000_000_000_000 - from,
            }
            .into()
        } else {
            types::PeerUser { user_id: from }.into()
        };
        types::MessageFwdHeader {
            from_id: Some(from_id),
            date,
            ..Default::default()
        }
        .into()
    })
}

/// An update in a user's pts sequence, kept for `updates.getDifference`.
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub pts: i32,
    pub pts_count: i32,
    pub update: enums::Update,
}

/// A user's messages and update log.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserBox {
    pub next_id: i32,
    pub messages: std::collections::BTreeMap<i32, StoredMessage>,
    pub log: Vec<LogEntry>,
    /// random_id of sent messages -> message id (a repeated random_id sends nothing).
    pub random_ids: HashMap<i64, i32>,
    /// In a channel's box: (sender, random_id) -> message id.
    pub sender_random_ids: HashMap<(i64, i64), i32>,
    /// The account's qts sequence (bot updates), kept for `updates.getDifference`.
    pub qts_log: Vec<(i32, enums::Update)>,
}

/// A code sent by `auth.sendCode`.
#[derive(Debug, Clone)]
pub(crate) struct SentCode {
    pub hash: String,
    pub code: String,
    pub sent_at: i32,
}

/// Per-account update state (<https://core.telegram.org/api/updates>).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UpdateState {
    pub pts: i32,
    pub qts: i32,
    pub seq: i32,
}

/// Everything the DC stores.
pub(crate) struct State {
    pub users: HashMap<i64, User>,
    pub by_phone: HashMap<String, i64>,
    next_user_id: i64,
    pub codes: HashMap<String, SentCode>,
    /// Permanent auth key id -> user id.
    pub authorizations: HashMap<i64, i64>,
    pub updates: HashMap<i64, UpdateState>,
    pub boxes: HashMap<i64, UserBox>,
    pub by_username: HashMap<String, i64>,
    /// Pending SRP challenges: srp_id -> (user, secret b).
    pub srp: HashMap<i64, (i64, [u8; 256])>,
    /// Permanent key id -> user who passed the code but still owes the 2FA password.
    pub pending_2fa: HashMap<i64, i64>,
    /// Bot token -> bot user id.
    pub bot_tokens: HashMap<String, i64>,
    /// Tokens of `auth.exportAuthorization`: bytes -> (user, target DC, expiry).
    pub exported: HashMap<Vec<u8>, (i64, i32, i32)>,
    /// user -> their contacts (user ids).
    pub contacts: HashMap<i64, std::collections::BTreeSet<i64>>,
    /// user -> users they blocked.
    pub blocked: HashMap<i64, std::collections::BTreeSet<i64>>,
    /// Updates kept per account for getDifference.
    pub update_log_limit: usize,
    /// Messages to send later, in no particular order.
    pub scheduled: Vec<Scheduled>,
    next_scheduled: i32,
    /// Basic groups.
    pub chats: HashMap<i64, Chat>,
    /// Channels and supergroups.
    pub channels: HashMap<i64, Channel>,
    /// Uploaded files by id.
    pub files: HashMap<i64, StoredFile>,
    /// Uploads in progress: (user, file_id) -> parts.
    pub uploads: HashMap<(i64, i64), Upload>,
    /// How long a file reference stays valid, seconds.
    pub file_ref_ttl: i32,
    /// Channels bigger than this push new posts to admins only.
    pub channel_push_limit: usize,
    /// The `timeout` of `updates.getChannelDifference` answers, seconds.
    pub channel_poll_timeout: i32,
    /// Reactions: (box, message id of the sender's copy) -> user -> reactions.
    pub reactions: HashMap<(i64, i32), std::collections::BTreeMap<i64, Vec<enums::Reaction>>>,
    /// Polls by id.
    pub polls: HashMap<i64, PollState>,
    /// Inline queries and what the bots answered, by query id.
    pub inline: HashMap<i64, InlineAnswer>,
    /// Profile photos per user (file ids, newest first).
    pub profile_photos: HashMap<i64, Vec<i64>>,
    /// Unread mentions in channels: (user, channel) -> message ids.
    pub channel_mentions: HashMap<(i64, i64), std::collections::BTreeSet<i32>>,
    /// Open mini-app views: query id -> (user, bot, expiry, times prolonged).
    pub web_views: HashMap<i64, (i64, i64, i32, u32)>,
    /// Bot commands by bot.
    pub bot_commands: HashMap<i64, Vec<enums::BotCommand>>,
    /// Injected payment queries waiting for their bot: query id -> bot.
    pub payment_queries: HashMap<i64, i64>,
    /// Payment queries the bot answered.
    pub payment_answers: std::collections::HashSet<i64>,
    next_chat_id: i64,
    /// Group message id -> the members' copies (user, id).
    pub group_copies: HashMap<i64, Vec<(i64, i32)>>,
    next_gid: i64,
    /// (user, peer) -> (read_inbox_max_id, read_outbox_max_id).
    pub read: HashMap<(i64, i64), (i32, i32)>,
    login_code: Option<String>,
    /// Where changes are written through (with `--data`).
    pub store: Option<std::sync::Arc<crate::store::Store>>,
    /// Keys access hashes; kept with the data so hashes stay valid across restarts.
    pub secret: [u8; 32],
    pub rng: rand::rngs::StdRng,
}

/// How long a login code stays valid, seconds.
pub(crate) const CODE_TTL: i32 = 600;

impl State {
    pub fn new(login_code: Option<String>) -> Self {
        let mut rng = rand::rngs::StdRng::from_entropy();
        let secret = rng.gen();
        Self {
            users: HashMap::new(),
            by_phone: HashMap::new(),
            next_user_id: 5_000_000_000 + rng.gen_range(0..1_000_000),
            codes: HashMap::new(),
            authorizations: HashMap::new(),
            updates: HashMap::new(),
            boxes: HashMap::new(),
            by_username: HashMap::new(),
            srp: HashMap::new(),
            pending_2fa: HashMap::new(),
            bot_tokens: HashMap::new(),
            exported: HashMap::new(),
            contacts: HashMap::new(),
            blocked: HashMap::new(),
            read: HashMap::new(),
            update_log_limit: 100_000,
            scheduled: Vec::new(),
            next_scheduled: 1,
            chats: HashMap::new(),
            channels: HashMap::new(),
            files: HashMap::new(),
            uploads: HashMap::new(),
            file_ref_ttl: 3600,
            channel_push_limit: 100_000,
            channel_poll_timeout: 30,
            reactions: HashMap::new(),
            polls: HashMap::new(),
            inline: HashMap::new(),
            profile_photos: HashMap::new(),
            channel_mentions: HashMap::new(),
            web_views: HashMap::new(),
            bot_commands: HashMap::new(),
            payment_queries: HashMap::new(),
            payment_answers: Default::default(),
            next_chat_id: 100_000 + rng.gen_range(0..100_000),
            group_copies: HashMap::new(),
            next_gid: 1,
            login_code,
            store: None,
            secret,
            rng,
        }
    }

    /// Normalizes a phone number: digits only.
    pub fn normalize_phone(phone: &str) -> String {
        phone.chars().filter(char::is_ascii_digit).collect()
    }

    /// Creates an account.
    pub fn create_user(
        &mut self,
        phone: Option<&str>,
        first_name: &str,
        last_name: &str,
        bot: bool,
        home_dc: i32,
    ) -> i64 {
        let id = self.next_user_id;
        self.next_user_id += 1 + self.rng.gen_range(0..16);
        let phone = phone.map(Self::normalize_phone);
        if let Some(p) = &phone {
            self.by_phone.insert(p.clone(), id);
        }
        self.users.insert(
            id,
            User {
                phone,
                first_name: first_name.to_string(),
                last_name: last_name.to_string(),
                username: None,
                bot,
                home_dc,
                online_until: 0,
                password: None,
            },
        );
        self.updates.insert(
            id,
            UpdateState {
                pts: 1,
                qts: 0,
                seq: 1,
            },
        );
        self.boxes.insert(
            id,
            UserBox {
                next_id: 1,
                ..Default::default()
            },
        );
        self.mark_user(id);
        id
    }

    /// A new scheduled-message id.
    pub fn new_scheduled_id(&mut self) -> i32 {
        self.next_scheduled += 1;
        self.next_scheduled
    }

    /// Makes sure loaded scheduled messages keep their ids unique.
    pub fn note_scheduled_id(&mut self, id: i32) {
        self.next_scheduled = self.next_scheduled.max(id + 1);
    }

    /// A new group id.
    pub fn new_chat_id(&mut self) -> i64 {
        self.next_chat_id += 1 + self.rng.gen_range(0..8);
        self.next_chat_id
    }

    /// A new id linking the copies of one group message.
    pub fn new_gid(&mut self) -> i64 {
        self.next_gid += 1;
        self.next_gid
    }

    /// Makes sure loaded groups and group messages keep their ids unique.
    pub fn note_chat_ids(&mut self, chat: i64, gid: i64) {
        self.next_chat_id = self.next_chat_id.max(chat + 1);
        self.next_gid = self.next_gid.max(gid + 1);
    }

    /// The `Chat` object of group `id` as `viewer` sees it.
    pub fn chat_tl(&self, viewer: i64, id: i64) -> enums::Chat {
        let Some(c) = self.chats.get(&id) else {
            return types::ChatEmpty { id }.into();
        };
        types::Chat {
            creator: c.creator == viewer,
            left: !c.members.iter().any(|m| m.0 == viewer),
            deactivated: false,
            call_active: false,
            call_not_empty: false,
            noforwards: false,
            id,
            title: c.title.clone(),
            photo: enums::ChatPhoto::Empty,
            participants_count: c.members.len() as i32,
            date: c.date,
            version: c.version,
            migrated_to: None,
            admin_rights: None,
            default_banned_rights: None,
        }
        .into()
    }

    /// Persists group `id`.
    /// Persists `user`'s unread mentions in channel `channel`.
    pub fn mark_channel_mentions(&self, user: i64, channel: i64) {
        if let Some(store) = &self.store {
            store.put_channel_mentions(user, channel, self.channel_mentions.get(&(user, channel)));
        }
    }

    /// The users a group message mentions: by `@username` in its text (Telegram finds them
    /// itself), by a mention-name entity, or by replying to their message; never its sender.
    /// `bx`: the box the message and what it replies to are in.
    pub fn mentioned_users(&self, bx: i64, m: &StoredMessage) -> Vec<i64> {
        let mut out = Vec::new();
        let mut rest = m.text.as_str();
        while let Some(i) = rest.find('@') {
            let after = &rest[i + 1..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            // An '@' inside a word (an e-mail address) is no mention.
            let in_word = rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !in_word && end >= 3 {
                if let Some(&u) = self.by_username.get(&after[..end].to_ascii_lowercase()) {
                    if self.users.contains_key(&u) {
                        out.push(u);
                    }
                }
            }
            rest = &after[end..];
        }
        for e in &m.entities {
            if let enums::MessageEntity::MentionName(x) = e {
                out.push(x.user_id);
            }
        }
        let replied = m
            .reply_to
            .and_then(|r| self.boxes.get(&bx)?.messages.get(&r))
            .filter(|r| r.discussion.is_none() && r.action.is_none());
        if let Some(r) = replied {
            out.push(r.from);
        }
        out.retain(|&u| u != m.from);
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn mark_chat(&self, id: i64) {
        if let Some(store) = &self.store {
            store.put_chat(id, self.chats.get(&id));
        }
    }

    /// Persists channel `id` (its messages and log are kept like a user's box).
    pub fn mark_channel(&self, id: i64) {
        if let Some(store) = &self.store {
            store.put_channel(id, self.channels.get(&id));
        }
    }

    /// Makes sure new ids stay above `id` (after loading saved accounts).
    pub fn note_user_id(&mut self, id: i64) {
        if id >= self.next_user_id {
            self.next_user_id = id + 1;
        }
    }

    /// Persists `user`'s record (profile, password, contacts, reads, pts...).
    pub fn mark_user(&self, user: i64) {
        if let Some(store) = &self.store {
            store.put_user(self, user);
        }
    }

    /// Persists message `id` of `user`'s box (or its deletion).
    pub fn mark_message(&self, user: i64, id: i32) {
        if let Some(store) = &self.store {
            store.put_message(
                user,
                self.boxes.get(&user).and_then(|b| b.messages.get(&id)),
                id,
            );
        }
    }

    /// Persists the authorization of permanent key `perm_key` (or its removal).
    pub fn mark_auth(&self, perm_key: i64) {
        if let Some(store) = &self.store {
            store.put_auth(perm_key, self.authorizations.get(&perm_key).copied());
        }
    }

    /// Takes `n` values of `user`'s seq; returns the first and the last.
    pub fn take_seq(&mut self, user: i64, n: i32) -> (i32, i32) {
        let st = self.updates.entry(user).or_default();
        let start = st.seq + 1;
        st.seq += n;
        let end = st.seq;
        self.mark_user(user);
        (start, end)
    }

    /// Appends an update to `user`'s pts sequence; returns its pts.
    pub fn push_update(
        &mut self,
        user: i64,
        pts_count: i32,
        make: impl FnOnce(i32) -> enums::Update,
    ) -> i32 {
        let st = self.updates.entry(user).or_default();
        st.pts += pts_count;
        let pts = st.pts;
        let update = make(pts);
        self.boxes.entry(user).or_default().log.push(LogEntry {
            pts,
            pts_count,
            update,
        });
        if let Some(store) = &self.store {
            if let Some(e) = self.boxes.get(&user).and_then(|b| b.log.last()) {
                store.put_log(user, e);
            }
        }
        // Older updates are dropped: a client that far behind gets differenceTooLong.
        let limit = self.update_log_limit;
        if let Some(b) = self.boxes.get_mut(&user) {
            if b.log.len() > limit + limit / 4 {
                let cut = b.log.len() - limit;
                let dropped: Vec<i32> = b.log.drain(..cut).map(|e| e.pts).collect();
                if let Some(store) = &self.store {
                    store.drop_log(user, &dropped);
                }
            }
        }
        self.mark_user(user);
        pts
    }

    /// Appends an update to `user`'s qts sequence (the updates bots get about participants,
    /// reactions, votes, stops...); returns it, with its qts.
    pub fn push_qts(
        &mut self,
        user: i64,
        make: impl FnOnce(i32) -> enums::Update,
    ) -> enums::Update {
        let st = self.updates.entry(user).or_default();
        st.qts += 1;
        let qts = st.qts;
        let update = make(qts);
        let b = self.boxes.entry(user).or_default();
        b.qts_log.push((qts, update.clone()));
        if let Some(store) = &self.store {
            store.put_qts(user, qts, &update);
        }
        let limit = self.update_log_limit;
        if b.qts_log.len() > limit + limit / 4 {
            let cut = b.qts_log.len() - limit;
            let dropped: Vec<i32> = b.qts_log.drain(..cut).map(|e| e.0).collect();
            if let Some(store) = &self.store {
                store.drop_qts(user, &dropped);
            }
        }
        self.mark_user(user);
        update
    }

    /// The `Message` object of a stored copy.
    pub fn message_tl(m: &StoredMessage) -> enums::Message {
        let peer_id: enums::Peer = match m.chat {
            Some((chat, _)) => types::PeerChat { chat_id: chat }.into(),
            None => types::PeerUser { user_id: m.peer }.into(),
        };
        if let Some(action) = &m.action {
            return types::MessageService {
                out: m.out,
                mentioned: false,
                media_unread: false,
                reactions_are_possible: false,
                silent: m.silent,
                post: false,
                legacy: false,
                id: m.id,
                from_id: Some(types::PeerUser { user_id: m.from }.into()),
                peer_id,
                saved_peer_id: None,
                reply_to: None,
                date: m.date,
                action: action.clone(),
                reactions: None,
                ttl_period: None,
            }
            .into();
        }
        types::Message {
            out: m.out,
            mentioned: m.mentioned,
            media_unread: m.unread_mention,
            silent: m.silent,
            post: false,
            from_scheduled: false,
            legacy: false,
            edit_hide: false,
            pinned: m.pinned,
            noforwards: false,
            invert_media: false,
            offline: false,
            video_processing_pending: false,
            paid_suggested_post_stars: false,
            paid_suggested_post_ton: false,
            id: m.id,
            from_id: Some(types::PeerUser { user_id: m.from }.into()),
            from_boosts_applied: None,
            from_rank: None,
            peer_id,
            saved_peer_id: None,
            fwd_from: fwd_header(m.fwd_from),
            via_bot_id: None,
            via_business_bot_id: None,
            guestchat_via_from: None,
            reply_to: m.reply_to.map(|id| {
                types::MessageReplyHeader {
                    reply_to_msg_id: Some(id),
                    ..Default::default()
                }
                .into()
            }),
            date: m.date,
            message: m.text.clone(),
            media: m.media.clone(),
            reply_markup: m.reply_markup.clone(),
            entities: (!m.entities.is_empty()).then(|| m.entities.clone()),
            views: None,
            forwards: None,
            replies: None,
            edit_date: m.edit_date,
            post_author: None,
            grouped_id: None,
            reactions: None,
            restriction_reason: None,
            ttl_period: None,
            quick_reply_shortcut_id: None,
            effect: None,
            factcheck: None,
            report_delivery_until_date: None,
            paid_message_stars: None,
            suggested_post: None,
            schedule_repeat_period: None,
            summary_from_language: None,
            rich_message: None,
        }
        .into()
    }

    /// Creates a bot with `username` on `home_dc`; returns its id and token `ID:SECRET`.
    pub fn create_bot(&mut self, first_name: &str, username: &str, home_dc: i32) -> (i64, String) {
        let id = self.create_user(None, first_name, "", true, home_dc);
        if let Some(u) = self.users.get_mut(&id) {
            u.username = Some(username.to_string());
        }
        self.by_username.insert(username.to_ascii_lowercase(), id);
        let secret: String = (0..35)
            .map(|_| {
                const A: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
                A[self.rng.gen_range(0..A.len())] as char
            })
            .collect();
        let token = format!("{id}:{secret}");
        self.bot_tokens.insert(token.clone(), id);
        self.mark_user(id);
        (id, token)
    }

    /// Whether `user` blocked `other`.
    pub fn has_blocked(&self, user: i64, other: i64) -> bool {
        self.blocked.get(&user).is_some_and(|b| b.contains(&other))
    }

    /// The code for a new login of `phone`: the configured one, or 5 random digits.
    pub fn new_code(&mut self) -> String {
        match &self.login_code {
            Some(c) => c.clone(),
            None => format!("{:05}", self.rng.gen_range(0..100_000)),
        }
    }

    /// A random hex string (phone_code_hash).
    pub fn random_hash(&mut self) -> String {
        let b: [u8; 9] = self.rng.gen();
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Whether `given` is an access hash `viewer` may use for `target`: its own one, or, for a
    /// bot, zero for a peer it has met (`../shared/spec/api/peers.md`, "Access hash": bots use
    /// a zero hash when they have only a min one, or none).
    pub fn hash_ok(&self, viewer: i64, target: i64, given: i64) -> bool {
        if given == self.access_hash(viewer, target) {
            return true;
        }
        given == 0 && self.users.get(&viewer).is_some_and(|u| u.bot) && self.met(viewer, target)
    }

    /// Whether `viewer` has met `target` (a user or a channel): a member of the channel, or a
    /// user it shares a private chat, a group or a channel with.
    pub fn met(&self, viewer: i64, target: i64) -> bool {
        if let Some(ch) = self.channels.get(&target) {
            return ch.members.contains_key(&viewer);
        }
        if !self.users.contains_key(&target) {
            return false;
        }
        self.boxes.get(&viewer).is_some_and(|b| {
            b.messages
                .values()
                .any(|m| m.peer == target || m.from == target)
        }) || self.chats.values().any(|c| {
            c.members.iter().any(|m| m.0 == viewer) && c.members.iter().any(|m| m.0 == target)
        }) || self
            .channels
            .values()
            .any(|c| c.members.contains_key(&viewer) && c.members.contains_key(&target))
    }

    /// The access hash `viewer` uses for `target` (users and, later, channels): a keyed hash,
    /// so each viewer sees its own value and the DC can check it without storing it.
    pub fn access_hash(&self, viewer: i64, target: i64) -> i64 {
        let h = sha2::Sha256::new()
            .chain_update(self.secret)
            .chain_update(viewer.to_le_bytes())
            .chain_update(target.to_le_bytes())
            .finalize();
        i64::from_le_bytes(h[..8].try_into().expect("8"))
    }

    /// The user logged in with permanent key `perm_key_id`.
    pub fn user_of(&self, perm_key_id: i64) -> Option<i64> {
        self.authorizations.get(&perm_key_id).copied()
    }

    /// The `User` object as `viewer` sees `id`.
    pub fn user_tl(&self, viewer: i64, id: i64, now: i32) -> enums::User {
        let Some(u) = self.users.get(&id) else {
            return enums::User::Empty(types::UserEmpty { id });
        };
        let is_self = viewer == id;
        let status = if u.bot {
            None
        } else if u.online_until > now {
            Some(enums::UserStatus::Online(types::UserStatusOnline {
                expires: u.online_until,
            }))
        } else {
            Some(enums::UserStatus::Recently(types::UserStatusRecently {
                by_me: false,
            }))
        };
        types::User {
            self_: is_self,
            bot: u.bot,
            bot_nochats: false,
            id,
            access_hash: Some(self.access_hash(viewer, id)),
            first_name: Some(u.first_name.clone()),
            last_name: (!u.last_name.is_empty()).then(|| u.last_name.clone()),
            username: u.username.clone(),
            phone: if is_self { u.phone.clone() } else { None },
            status,
            bot_info_version: u.bot.then_some(1),
            ..Default::default()
        }
        .into()
    }
}

/// A poll and its votes.
#[derive(Debug, Clone)]
pub(crate) struct PollState {
    pub poll: types::Poll,
    pub creator: i64,
    pub correct: Vec<Vec<u8>>,
    /// user -> chosen options.
    pub votes: std::collections::BTreeMap<i64, Vec<Vec<u8>>>,
}

/// What a bot answered to an inline query (for `messages.sendInlineBotResult`).
#[derive(Debug, Clone)]
pub(crate) struct InlineAnswer {
    pub bot: i64,
    pub user: i64,
    pub query: String,
    pub results: Vec<types::InputBotInlineResult>,
    pub at: i32,
}
