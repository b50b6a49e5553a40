//! Messages: the [`InputMessage`] builder, sending / editing / deleting / forwarding /
//! pinning, and the [`Message`] type with its helpers.
//!
//! ```no_run
//! # async fn f(client: fleetgram_engine::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use fleetgram_engine::messages::InputMessage;
//! use fleetgram_engine::keyboard::{self, Button};
//! let sent = client
//!     .send_message("@fleet_demo_group", InputMessage::html("<b>Hello</b>, <i>world</i>")?
//!         .silent(true)
//!         .reply_markup(keyboard::inline(vec![vec![Button::callback("Ok", b"ok")]])))
//!     .await?;
//! sent.edit("edited").await?;
//! sent.reply(InputMessage::markdown("**a reply**")?).await?;
//! # Ok(()) }
//! ```

use crate::client::Client;
use crate::error::InvocationError;
use crate::peers::{marked, PeerKind};
use crate::text::{self, FormatError, ParseMode};
use fleetgram_tl::{enums, functions, types, Serializable};

/// A user or a chat, as the server describes it.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerInfo {
    /// A user or bot.
    User(enums::User),
    /// A group, supergroup or channel.
    Chat(enums::Chat),
}

/// A message, with the client that can act on it.
#[derive(Clone)]
pub struct Message {
    /// The TL object.
    pub raw: enums::Message,
    client: Client,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("chat_id", &self.chat_id())
            .field("id", &self.id())
            .field("text", &self.text())
            .finish()
    }
}

/// The marked id of a peer.
pub fn peer_id(p: &enums::Peer) -> i64 {
    match p {
        enums::Peer::User(u) => u.user_id,
        enums::Peer::Chat(c) => marked(PeerKind::Chat, c.chat_id),
        enums::Peer::Channel(c) => marked(PeerKind::Channel, c.channel_id),
    }
}

impl Message {
    /// Wraps a TL message.
    pub fn new(client: Client, raw: enums::Message) -> Self {
        Self { raw, client }
    }

    fn full(&self) -> Option<&types::Message> {
        match &self.raw {
            enums::Message::Message(m) => Some(m),
            _ => None,
        }
    }

    /// Its id (within its chat).
    pub fn id(&self) -> i32 {
        message_id(&self.raw)
    }

    /// Whether it mentions this account (by username, by name, or as a reply to its
    /// message).
    pub fn mentioned(&self) -> bool {
        match &self.raw {
            enums::Message::Message(m) => m.mentioned,
            enums::Message::Service(m) => m.mentioned,
            enums::Message::Empty(_) => false,
        }
    }

    /// The marked id of its chat (users positive, groups `-id`, channels `-100…id`).
    pub fn chat_id(&self) -> i64 {
        match &self.raw {
            enums::Message::Message(m) => peer_id(&m.peer_id),
            enums::Message::Service(m) => peer_id(&m.peer_id),
            enums::Message::Empty(m) => m.peer_id.as_ref().map_or(0, peer_id),
        }
    }

    /// The marked id of its sender (for a private message without `from_id`: the chat).
    pub fn sender_id(&self) -> Option<i64> {
        match &self.raw {
            enums::Message::Message(m) => m.from_id.as_ref().map(peer_id).or_else(|| {
                matches!(m.peer_id, enums::Peer::User(_)).then(|| {
                    if m.out {
                        self.client.user_id().unwrap_or(0)
                    } else {
                        peer_id(&m.peer_id)
                    }
                })
            }),
            enums::Message::Service(m) => m.from_id.as_ref().map(peer_id),
            enums::Message::Empty(_) => None,
        }
    }

    /// Its text (the caption of media).
    pub fn text(&self) -> &str {
        self.full().map_or("", |m| m.message.as_str())
    }

    /// The entities of its text.
    pub fn entities(&self) -> &[enums::MessageEntity] {
        self.full()
            .and_then(|m| m.entities.as_deref())
            .unwrap_or_default()
    }

    /// Its text as HTML.
    pub fn html(&self) -> String {
        text::to_html(self.text(), self.entities())
    }

    /// Its text as Markdown.
    pub fn markdown(&self) -> String {
        text::to_markdown(self.text(), self.entities())
    }

    /// Its media.
    pub fn media(&self) -> Option<&enums::MessageMedia> {
        self.full().and_then(|m| m.media.as_ref())
    }

    /// Whether this account sent it.
    pub fn outgoing(&self) -> bool {
        match &self.raw {
            enums::Message::Message(m) => m.out,
            enums::Message::Service(m) => m.out,
            enums::Message::Empty(_) => false,
        }
    }

    /// Unix time it was sent.
    pub fn date(&self) -> i32 {
        match &self.raw {
            enums::Message::Message(m) => m.date,
            enums::Message::Service(m) => m.date,
            enums::Message::Empty(_) => 0,
        }
    }

    /// The id of the message it replies to.
    pub fn reply_to_id(&self) -> Option<i32> {
        match self.full()?.reply_to.as_ref()? {
            enums::MessageReplyHeader::MessageReplyHeader(h) => h.reply_to_msg_id,
            _ => None,
        }
    }

    /// Its keyboard.
    pub fn reply_markup(&self) -> Option<&enums::ReplyMarkup> {
        self.full().and_then(|m| m.reply_markup.as_ref())
    }

    /// The client it came through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Replies to it in its chat.
    ///
    /// # Errors
    /// As [`Client::send_message`].
    pub async fn reply(&self, m: impl Into<InputMessage>) -> Result<Message, InvocationError> {
        let m = m.into().reply_to(self.id());
        self.client.send_message(self, m).await
    }

    /// Replaces its text (and entities / markup).
    ///
    /// # Errors
    /// As [`Client::edit_message`].
    pub async fn edit(&self, m: impl Into<InputMessage>) -> Result<Message, InvocationError> {
        self.client.edit_message(self, self.id(), m).await
    }

    /// Deletes it for everyone.
    ///
    /// # Errors
    /// As [`Client::delete_messages`].
    pub async fn delete(&self) -> Result<(), InvocationError> {
        self.client
            .delete_messages(self, &[self.id()], true)
            .await
            .map(|_| ())
    }

    /// Forwards it to `chat`; the copy there.
    ///
    /// # Errors
    /// As [`Client::forward_messages`].
    pub async fn forward_to(&self, chat: impl Into<PeerRef>) -> Result<Message, InvocationError> {
        let mut v = self
            .client
            .forward_messages(chat, self, &[self.id()])
            .await?;
        v.pop().ok_or_else(|| InvocationError::Decode {
            method: "messages.forwardMessages".into(),
            reason: "the answer holds no message".into(),
        })
    }

    /// Sends a copy of it to `chat` as this account's own message (no "forwarded from").
    ///
    /// # Errors
    /// As [`Client::forward_messages`].
    pub async fn copy_to(&self, chat: impl Into<PeerRef>) -> Result<Message, InvocationError> {
        let mut v = self.client.copy_messages(chat, self, &[self.id()]).await?;
        v.pop().ok_or_else(|| InvocationError::Decode {
            method: "messages.forwardMessages".into(),
            reason: "the answer holds no message".into(),
        })
    }

    /// Sets this account's reaction (an emoji; `""` removes it).
    ///
    /// # Errors
    /// As [`Client::send_reaction`].
    pub async fn react(&self, emoji: &str) -> Result<(), InvocationError> {
        self.client.send_reaction(self, self.id(), emoji).await
    }

    /// Pins it (silently or not).
    ///
    /// # Errors
    /// As [`Client::pin_message`].
    pub async fn pin(&self, silent: bool) -> Result<(), InvocationError> {
        self.client.pin_message(self, self.id(), silent).await
    }

    /// Unpins it.
    ///
    /// # Errors
    /// As [`Client::unpin_message`].
    pub async fn unpin(&self) -> Result<(), InvocationError> {
        self.client.unpin_message(self, self.id()).await
    }

    /// Its chat, as the server describes it.
    ///
    /// # Errors
    /// The lookup failed.
    pub async fn chat(&self) -> Result<PeerInfo, InvocationError> {
        self.client.peer_info(self.chat_id()).await
    }

    /// Its sender, as the server describes it.
    ///
    /// # Errors
    /// The lookup failed.
    pub async fn sender(&self) -> Result<Option<PeerInfo>, InvocationError> {
        match self.sender_id() {
            Some(id) => self.client.peer_info(id).await.map(Some),
            None => Ok(None),
        }
    }

    /// Presses inline button (`row`, `column`) of its keyboard (user accounts; bots cannot
    /// press buttons): the bot's answer for a callback button, `None` for other kinds.
    ///
    /// # Errors
    /// No such button; the bot did not answer in time (`BOT_RESPONSE_TIMEOUT`).
    pub async fn click(
        &self,
        row: usize,
        column: usize,
    ) -> Result<Option<types::messages::BotCallbackAnswer>, InvocationError> {
        let data = {
            let markup = self.reply_markup().ok_or_else(|| {
                InvocationError::BadRequest(format!("message {} has no keyboard", self.id()))
            })?;
            let rows = crate::keyboard::inline_buttons(markup);
            let b = rows.get(row).and_then(|r| r.get(column)).ok_or_else(|| {
                InvocationError::BadRequest(format!(
                    "message {} has no button at row {row}, column {column}",
                    self.id()
                ))
            })?;
            match &b.r#type {
                enums::InlineButtonType::Callback(c) => c.data.clone(),
                _ => return Ok(None),
            }
        };
        self.click_data(&data).await.map(Some)
    }

    /// Presses the callback button that carries `data`.
    ///
    /// # Errors
    /// As [`Message::click`].
    pub async fn click_data(
        &self,
        data: &[u8],
    ) -> Result<types::messages::BotCallbackAnswer, InvocationError> {
        self.client
            .press_button(PeerRef::from(self), self.id(), data)
            .await
    }
}

impl Client {
    /// Presses the callback button that carries `data` under message `msg_id` of `chat`
    /// (user accounts); the bot's answer.
    ///
    /// # Errors
    /// `BOT_RESPONSE_TIMEOUT` (the bot did not answer), `DATA_INVALID`...
    pub async fn press_button(
        &self,
        chat: impl Into<PeerRef>,
        msg_id: i32,
        data: &[u8],
    ) -> Result<types::messages::BotCallbackAnswer, InvocationError> {
        let data = data.to_vec();
        let enums::messages::BotCallbackAnswer::BotCallbackAnswer(a) = self
            .with_peer_ref(&chat.into(), move |peer| {
                let client = self.clone();
                let data = data.clone();
                async move {
                    client
                        .invoke(&functions::messages::GetBotCallbackAnswer {
                            game: false,
                            peer,
                            msg_id,
                            data: Some(data),
                            password: None,
                        })
                        .await
                }
            })
            .await?;
        Ok(*a)
    }
}

/// The message with `random_id` (or the first new message) in an answer.
pub(crate) fn message_in(
    updates: &enums::Updates,
    random_id: Option<i64>,
) -> Option<enums::Message> {
    use enums::Updates as U;
    let list = match updates {
        U::Updates(x) => &x.updates,
        U::Combined(x) => &x.updates,
        U::UpdateShort(x) => std::slice::from_ref(&x.update),
        _ => return None,
    };
    let id = random_id.and_then(|r| {
        list.iter().find_map(|u| match u {
            enums::Update::MessageID(m) if m.random_id == r => Some(m.id),
            _ => None,
        })
    });
    list.iter()
        .filter_map(|u| match u {
            enums::Update::NewMessage(m) => Some(&m.message),
            enums::Update::NewChannelMessage(m) => Some(&m.message),
            enums::Update::NewScheduledMessage(m) => Some(&m.message),
            enums::Update::EditMessage(m) => Some(&m.message),
            enums::Update::EditChannelMessage(m) => Some(&m.message),
            _ => None,
        })
        .find(|m| id.is_none_or(|id| message_id(m) == id))
        .cloned()
}

pub(crate) fn message_id(m: &enums::Message) -> i32 {
    match m {
        enums::Message::Message(m) => m.id,
        enums::Message::Service(m) => m.id,
        enums::Message::Empty(m) => m.id,
    }
}

fn answer_error(method: &str) -> InvocationError {
    InvocationError::Decode {
        method: method.into(),
        reason: "the answer holds no message".into(),
    }
}

impl Client {
    /// Calls `f` with the peer `r` names (re-resolved once when the server says it is stale).
    ///
    /// # Errors
    /// As [`Client::with_peer`].
    pub async fn with_peer_ref<T, F, Fut>(&self, r: &PeerRef, f: F) -> Result<T, InvocationError>
    where
        F: Fn(enums::InputPeer) -> Fut,
        Fut: std::future::Future<Output = Result<T, InvocationError>>,
    {
        match r {
            PeerRef::Reference(s) => self.with_peer(s, f).await,
            PeerRef::Input(p) => f(p.clone()).await,
        }
    }

    /// Entities ready to send: mentions by user id become input mentions with the user's
    /// access hash.
    ///
    /// # Errors
    /// A mentioned user this account has never seen.
    pub fn input_entities(
        &self,
        entities: &[enums::MessageEntity],
    ) -> Result<Vec<enums::MessageEntity>, InvocationError> {
        entities
            .iter()
            .map(|e| match e {
                enums::MessageEntity::MentionName(m) => {
                    let user = match self.cached_peer(m.user_id) {
                        Some(p) if p.kind == PeerKind::User && !p.min => types::InputUser {
                            user_id: p.id,
                            access_hash: p.access_hash,
                        }
                        .into(),
                        _ if Some(m.user_id) == self.user_id() => enums::InputUser::InputUserSelf,
                        _ => {
                            return Err(InvocationError::BadRequest(format!(
                                "cannot mention user {}: not seen by this account yet",
                                m.user_id
                            )))
                        }
                    };
                    Ok(types::InputMessageEntityMentionName {
                        offset: m.offset,
                        length: m.length,
                        user_id: user,
                    }
                    .into())
                }
                other => Ok(other.clone()),
            })
            .collect()
    }

    /// Sends a message (text, or media with a caption) to `chat`; the sent message.
    ///
    /// # Errors
    /// The peer cannot be resolved; the server refused (`CHAT_WRITE_FORBIDDEN`, ...).
    pub async fn send_message(
        &self,
        chat: impl Into<PeerRef>,
        m: impl Into<InputMessage>,
    ) -> Result<Message, InvocationError> {
        let m = m.into();
        let chat = chat.into();
        let entities = self.input_entities(&m.entities)?;
        let entities = (!entities.is_empty()).then_some(entities);
        let random_id = m.random_id.unwrap_or_else(rand::random);
        let reply_to = m.reply_to.map(|id| {
            enums::InputReplyTo::from(types::InputReplyToMessage {
                reply_to_msg_id: id,
                ..Default::default()
            })
        });
        let me = self.user_id();
        let raw = self
            .with_peer_ref(&chat, |peer| {
                let client = self.clone();
                let (m, entities, reply_to) = (&m, entities.clone(), reply_to.clone());
                let body = match &m.media {
                    None => functions::messages::SendMessage {
                        no_webpage: m.no_link_preview,
                        silent: m.silent,
                        background: false,
                        clear_draft: false,
                        noforwards: false,
                        update_stickersets_order: false,
                        invert_media: false,
                        allow_paid_floodskip: false,
                        peer,
                        reply_to,
                        message: m.text.clone(),
                        random_id,
                        reply_markup: m.reply_markup.clone(),
                        entities,
                        schedule_date: m.schedule,
                        schedule_repeat_period: None,
                        send_as: None,
                        quick_reply_shortcut: None,
                        effect: None,
                        allow_paid_stars: None,
                        suggested_post: None,
                        rich_message: None,
                    }
                    .to_bytes(),
                    Some(media) => functions::messages::SendMedia {
                        silent: m.silent,
                        background: false,
                        clear_draft: false,
                        noforwards: false,
                        update_stickersets_order: false,
                        invert_media: false,
                        allow_paid_floodskip: false,
                        peer,
                        reply_to,
                        media: media.clone(),
                        message: m.text.clone(),
                        random_id,
                        reply_markup: m.reply_markup.clone(),
                        entities,
                        schedule_date: m.schedule,
                        schedule_repeat_period: None,
                        send_as: None,
                        quick_reply_shortcut: None,
                        effect: None,
                        allow_paid_stars: None,
                        suggested_post: None,
                    }
                    .to_bytes(),
                };
                let method = if m.media.is_some() {
                    "messages.sendMedia"
                } else {
                    "messages.sendMessage"
                };
                async move {
                    let answer = client.call_raw(None, method, body.clone()).await?;
                    Ok((body, answer))
                }
            })
            .await?;
        let (request, answer) = raw;
        let method = "messages.sendMessage";
        let updates = crate::updates::answer_updates(&request, &answer, me)
            .ok_or_else(|| answer_error(method))?;
        let msg = message_in(&updates, Some(random_id)).ok_or_else(|| answer_error(method))?;
        Ok(Message::new(self.clone(), msg))
    }

    /// Edits message `id` in `chat`: new text, entities and keyboard (and media, if set).
    ///
    /// # Errors
    /// `MESSAGE_NOT_MODIFIED`, `MESSAGE_ID_INVALID`, `MESSAGE_AUTHOR_REQUIRED`...
    pub async fn edit_message(
        &self,
        chat: impl Into<PeerRef>,
        id: i32,
        m: impl Into<InputMessage>,
    ) -> Result<Message, InvocationError> {
        let m = m.into();
        let entities = self.input_entities(&m.entities)?;
        let updates = self
            .with_peer_ref(&chat.into(), |peer| {
                let req = functions::messages::EditMessage {
                    no_webpage: m.no_link_preview,
                    invert_media: false,
                    peer,
                    id,
                    message: Some(m.text.clone()),
                    media: m.media.clone(),
                    reply_markup: m.reply_markup.clone(),
                    entities: Some(entities.clone()),
                    schedule_date: m.schedule,
                    schedule_repeat_period: None,
                    quick_reply_shortcut_id: None,
                    rich_message: None,
                };
                let client = self.clone();
                async move { client.invoke(&req).await }
            })
            .await?;
        let msg = message_in(&updates, None).ok_or_else(|| answer_error("messages.editMessage"))?;
        Ok(Message::new(self.clone(), msg))
    }

    /// Deletes messages `ids` of `chat` (`revoke`: for everyone, not only this account);
    /// how many the server deleted.
    ///
    /// # Errors
    /// `MESSAGE_DELETE_FORBIDDEN`...
    pub async fn delete_messages(
        &self,
        chat: impl Into<PeerRef>,
        ids: &[i32],
        revoke: bool,
    ) -> Result<i32, InvocationError> {
        let ids = ids.to_vec();
        self.with_peer_ref(&chat.into(), |peer| {
            let client = self.clone();
            let ids = ids.clone();
            async move {
                let affected = match crate::peers::input_channel(&peer) {
                    Some(channel) => {
                        client
                            .invoke(&functions::channels::DeleteMessages { channel, id: ids })
                            .await?
                    }
                    None => {
                        client
                            .invoke(&functions::messages::DeleteMessages { revoke, id: ids })
                            .await?
                    }
                };
                let enums::messages::AffectedMessages::AffectedMessages(a) = affected;
                Ok(a.pts_count)
            }
        })
        .await
    }

    /// Forwards messages `ids` of `from` to `to`; the copies.
    ///
    /// # Errors
    /// `MESSAGE_ID_INVALID`, `CHAT_FORWARDS_RESTRICTED`...
    pub async fn forward_messages(
        &self,
        to: impl Into<PeerRef>,
        from: impl Into<PeerRef>,
        ids: &[i32],
    ) -> Result<Vec<Message>, InvocationError> {
        self.forward_inner(to.into(), from.into(), ids, false).await
    }

    /// Copies messages `ids` of `from` to `to`: sent again as this account's own (text,
    /// formatting and media, without the "forwarded from" header); the copies.
    ///
    /// # Errors
    /// As [`Client::forward_messages`].
    pub async fn copy_messages(
        &self,
        to: impl Into<PeerRef>,
        from: impl Into<PeerRef>,
        ids: &[i32],
    ) -> Result<Vec<Message>, InvocationError> {
        self.forward_inner(to.into(), from.into(), ids, true).await
    }

    async fn forward_inner(
        &self,
        to: PeerRef,
        from: PeerRef,
        ids: &[i32],
        drop_author: bool,
    ) -> Result<Vec<Message>, InvocationError> {
        let from_peer = self.resolve_peer_ref(&from).await?;
        let random_ids: Vec<i64> = ids.iter().map(|_| rand::random()).collect();
        let ids = ids.to_vec();
        let updates = self
            .with_peer_ref(&to, |to_peer| {
                let req = functions::messages::ForwardMessages {
                    silent: false,
                    background: false,
                    with_my_score: false,
                    drop_author,
                    drop_media_captions: false,
                    noforwards: false,
                    allow_paid_floodskip: false,
                    from_ephemeral: false,
                    from_peer: from_peer.clone(),
                    id: ids.clone(),
                    random_id: random_ids.clone(),
                    to_peer,
                    top_msg_id: None,
                    reply_to: None,
                    schedule_date: None,
                    schedule_repeat_period: None,
                    send_as: None,
                    quick_reply_shortcut: None,
                    effect: None,
                    video_timestamp: None,
                    allow_paid_stars: None,
                    suggested_post: None,
                };
                let client = self.clone();
                async move { client.invoke(&req).await }
            })
            .await?;
        Ok(random_ids
            .iter()
            .filter_map(|r| message_in(&updates, Some(*r)))
            .map(|m| Message::new(self.clone(), m))
            .collect())
    }

    /// Pins message `id` of `chat`.
    ///
    /// # Errors
    /// `CHAT_ADMIN_REQUIRED`, `MESSAGE_ID_INVALID`...
    pub async fn pin_message(
        &self,
        chat: impl Into<PeerRef>,
        id: i32,
        silent: bool,
    ) -> Result<(), InvocationError> {
        self.update_pin(chat.into(), id, silent, false).await
    }

    /// Unpins message `id` of `chat`.
    ///
    /// # Errors
    /// As [`Client::pin_message`].
    pub async fn unpin_message(
        &self,
        chat: impl Into<PeerRef>,
        id: i32,
    ) -> Result<(), InvocationError> {
        self.update_pin(chat.into(), id, false, true).await
    }

    async fn update_pin(
        &self,
        chat: PeerRef,
        id: i32,
        silent: bool,
        unpin: bool,
    ) -> Result<(), InvocationError> {
        self.with_peer_ref(&chat, |peer| {
            let client = self.clone();
            async move {
                client
                    .invoke(&functions::messages::UpdatePinnedMessage {
                        silent,
                        unpin,
                        pm_oneside: false,
                        peer,
                        id,
                    })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }

    /// Unpins every message of `chat`.
    ///
    /// # Errors
    /// `CHAT_ADMIN_REQUIRED`...
    pub async fn unpin_all(&self, chat: impl Into<PeerRef>) -> Result<(), InvocationError> {
        self.with_peer_ref(&chat.into(), |peer| {
            let client = self.clone();
            async move {
                client
                    .invoke(&functions::messages::UnpinAllMessages {
                        peer,
                        top_msg_id: None,
                        saved_peer_id: None,
                    })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }

    /// Sets this account's reaction to message `id` of `chat` (an emoji; `""` removes it).
    ///
    /// # Errors
    /// `REACTION_INVALID`, `MSG_ID_INVALID`...
    pub async fn send_reaction(
        &self,
        chat: impl Into<PeerRef>,
        id: i32,
        emoji: &str,
    ) -> Result<(), InvocationError> {
        let reaction: Vec<enums::Reaction> = if emoji.is_empty() {
            vec![]
        } else {
            vec![types::ReactionEmoji {
                emoticon: emoji.into(),
            }
            .into()]
        };
        self.with_peer_ref(&chat.into(), |peer| {
            let client = self.clone();
            let reaction = reaction.clone();
            async move {
                client
                    .invoke(&functions::messages::SendReaction {
                        big: false,
                        add_to_recent: false,
                        peer,
                        msg_id: id,
                        reaction: Some(reaction),
                    })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }

    /// Messages `ids` of `chat` (missing ones are left out).
    ///
    /// # Errors
    /// The peer cannot be resolved; the call failed.
    pub async fn get_messages(
        &self,
        chat: impl Into<PeerRef>,
        ids: &[i32],
    ) -> Result<Vec<Message>, InvocationError> {
        let input: Vec<enums::InputMessage> = ids
            .iter()
            .map(|id| types::InputMessageID { id: *id }.into())
            .collect();
        let got = self
            .with_peer_ref(&chat.into(), |peer| {
                let client = self.clone();
                let input = input.clone();
                async move {
                    match crate::peers::input_channel(&peer) {
                        Some(channel) => {
                            client
                                .invoke(&functions::channels::GetMessages { channel, id: input })
                                .await
                        }
                        None => {
                            client
                                .invoke(&functions::messages::GetMessages { id: input })
                                .await
                        }
                    }
                }
            })
            .await?;
        Ok(messages_of(got)
            .into_iter()
            .filter(|m| !matches!(m, enums::Message::Empty(_)))
            .map(|m| Message::new(self.clone(), m))
            .collect())
    }

    /// A user or chat, as the server describes it now.
    ///
    /// # Errors
    /// The peer is unknown to this account; the call failed.
    pub async fn peer_info(&self, marked_id: i64) -> Result<PeerInfo, InvocationError> {
        let peer = self.resolve_peer(&marked_id.to_string()).await?;
        let missing = || InvocationError::Decode {
            method: "peer lookup".into(),
            reason: format!("the answer does not describe peer {marked_id}"),
        };
        match peer {
            enums::InputPeer::InputPeerSelf
            | enums::InputPeer::User(_)
            | enums::InputPeer::UserFromMessage(_) => {
                let user = match peer {
                    enums::InputPeer::User(u) => types::InputUser {
                        user_id: u.user_id,
                        access_hash: u.access_hash,
                    }
                    .into(),
                    enums::InputPeer::UserFromMessage(u) => types::InputUserFromMessage {
                        peer: u.peer,
                        msg_id: u.msg_id,
                        user_id: u.user_id,
                    }
                    .into(),
                    _ => enums::InputUser::InputUserSelf,
                };
                let mut v = self
                    .invoke(&functions::users::GetUsers { id: vec![user] })
                    .await?;
                v.pop().map(PeerInfo::User).ok_or_else(missing)
            }
            enums::InputPeer::Chat(c) => {
                let enums::messages::ChatFull::ChatFull(full) = self
                    .invoke(&functions::messages::GetFullChat { chat_id: c.chat_id })
                    .await?;
                full.chats
                    .into_iter()
                    .find(|x| chat_id_of(x) == c.chat_id)
                    .map(PeerInfo::Chat)
                    .ok_or_else(missing)
            }
            enums::InputPeer::Channel(_) => {
                let chats = self
                    .invoke(&functions::channels::GetChannels {
                        id: crate::peers::input_channel(&peer).into_iter().collect(),
                    })
                    .await?;
                chats_of(chats)
                    .pop()
                    .map(PeerInfo::Chat)
                    .ok_or_else(missing)
            }
            _ => Err(missing()),
        }
    }
}

/// The messages of a `messages.Messages` answer.
pub(crate) fn messages_of(m: enums::messages::Messages) -> Vec<enums::Message> {
    use enums::messages::Messages as M;
    match m {
        M::Messages(m) => m.messages,
        M::Slice(m) => m.messages,
        M::ChannelMessages(m) => m.messages,
        M::NotModified(_) => Vec::new(),
    }
}

fn chat_id_of(c: &enums::Chat) -> i64 {
    match c {
        enums::Chat::Empty(c) => c.id,
        enums::Chat::Chat(c) => c.id,
        enums::Chat::Forbidden(c) => c.id,
        enums::Chat::Channel(c) => c.id,
        enums::Chat::ChannelForbidden(c) => c.id,
        enums::Chat::Community(c) => c.id,
        enums::Chat::CommunityForbidden(c) => c.id,
    }
}

fn chats_of(c: enums::messages::Chats) -> Vec<enums::Chat> {
    match c {
        enums::messages::Chats::Chats(c) => c.chats,
        enums::messages::Chats::Slice(c) => c.chats,
    }
}

mod input;

pub use input::{InputMessage, PeerRef};
