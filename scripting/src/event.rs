//! Updates as scripts see them: a kind name and a flat table of fields (the full TL update
//! is under `raw`).
//!
//! | kind          | fields                                                                  |
//! |---------------|-------------------------------------------------------------------------|
//! | message, edited | id, chat_id, sender_id, sender_name, sender_username, text, out, date, reply_to, mentioned, has_media, chat_type, buttons, service |
//! | deleted       | chat_id (channels only), ids                                            |
//! | callback      | query_id, user_id, chat_id, msg_id, data                                |
//! | join_request  | chat_id, user_id, date, about (bots) / pending, recent (admins)         |
//! | participant   | chat_id, user_id, actor_id, joined, left                                |
//! | others        | raw                                                                     |

use fleetgram_engine::dispatch::{ChatType, View};
use fleetgram_engine::messages::peer_id;
use fleetgram_engine::peers::{marked, PeerKind};
use fleetgram_engine::updates::{Delivered, UpdateKind};
use fleetgram_tl::{dynamic, enums, Serializable};
use serde_json::{json, Map, Value as Json};
use std::sync::Arc;

/// The script name of an update kind.
pub fn kind_name(k: UpdateKind) -> &'static str {
    match k {
        UpdateKind::NewMessage => "message",
        UpdateKind::MessageEdited => "edited",
        UpdateKind::MessageDeleted => "deleted",
        UpdateKind::CallbackQuery => "callback",
        UpdateKind::InlineQuery => "inline",
        UpdateKind::InlineSend => "inline_send",
        UpdateKind::UserStatus => "user_status",
        UpdateKind::UserTyping => "typing",
        UpdateKind::ParticipantUpdate => "participant",
        UpdateKind::JoinRequest => "join_request",
        UpdateKind::MessageReaction => "reaction",
        UpdateKind::PollVote => "poll_vote",
        UpdateKind::BotStopped => "bot_stopped",
        UpdateKind::ShippingQuery => "shipping",
        UpdateKind::PreCheckoutQuery => "precheckout",
        UpdateKind::ChatBoost => "boost",
        UpdateKind::Raw => "raw",
    }
}

/// Every kind a script may subscribe to.
pub const KINDS: &[&str] = &[
    "message",
    "edited",
    "deleted",
    "callback",
    "inline",
    "inline_send",
    "user_status",
    "typing",
    "participant",
    "join_request",
    "reaction",
    "poll_vote",
    "bot_stopped",
    "shipping",
    "precheckout",
    "boost",
    "raw",
];

/// The kind named `name`.
pub fn kind_by_name(name: &str) -> Option<UpdateKind> {
    use UpdateKind as K;
    Some(match name {
        "message" => K::NewMessage,
        "edited" => K::MessageEdited,
        "deleted" => K::MessageDeleted,
        "callback" => K::CallbackQuery,
        "inline" => K::InlineQuery,
        "inline_send" => K::InlineSend,
        "user_status" => K::UserStatus,
        "typing" => K::UserTyping,
        "participant" => K::ParticipantUpdate,
        "join_request" => K::JoinRequest,
        "reaction" => K::MessageReaction,
        "poll_vote" => K::PollVote,
        "bot_stopped" => K::BotStopped,
        "shipping" => K::ShippingQuery,
        "precheckout" => K::PreCheckoutQuery,
        "boost" => K::ChatBoost,
        "raw" => K::Raw,
        _ => return None,
    })
}

fn tl_json<T: Serializable>(v: &T, ty: &str) -> Json {
    dynamic::schema()
        .decode_as(&v.to_bytes(), ty)
        .map(|v| dynamic::json::to_json(&v))
        .unwrap_or(Json::Null)
}

fn buttons(markup: &Option<enums::ReplyMarkup>) -> Json {
    let Some(enums::ReplyMarkup::ReplyInlineMarkup(k)) = markup else {
        return Json::Array(vec![]);
    };
    Json::Array(
        k.rows
            .iter()
            .map(|r| {
                let enums::KeyboardInlineButtonRow::KeyboardInlineButtonRow(r) = r;
                Json::Array(
                    r.buttons
                        .iter()
                        .map(|b| {
                            let enums::KeyboardInlineButton::KeyboardInlineButton(b) = b;
                            let mut o = json!({"text": b.text});
                            match &b.r#type {
                                enums::InlineButtonType::Callback(c) => {
                                    o["data"] = json!(String::from_utf8_lossy(&c.data));
                                }
                                enums::InlineButtonType::Url(u) => o["url"] = json!(u.url),
                                _ => {}
                            }
                            o
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

/// A message as scripts see it.
pub fn message_json(m: &enums::Message) -> Json {
    match m {
        enums::Message::Message(m) => {
            let chat = peer_id(&m.peer_id);
            let chat_type = match &m.peer_id {
                enums::Peer::User(_) => "private",
                enums::Peer::Chat(_) => "group",
                enums::Peer::Channel(_) if m.post => "channel",
                enums::Peer::Channel(_) => "supergroup",
            };
            let sender = m.from_id.as_ref().map(peer_id).or(match &m.peer_id {
                enums::Peer::User(u) if !m.out => Some(u.user_id),
                _ => None,
            });
            let reply_to = match &m.reply_to {
                Some(enums::MessageReplyHeader::MessageReplyHeader(h)) => h.reply_to_msg_id,
                _ => None,
            };
            json!({
                "id": m.id,
                "chat_id": chat,
                "sender_id": sender,
                "text": m.message,
                "out": m.out,
                "date": m.date,
                "reply_to": reply_to,
                "mentioned": m.mentioned,
                "has_media": m.media.is_some(),
                "chat_type": chat_type,
                "buttons": buttons(&m.reply_markup),
                "service": false,
            })
        }
        enums::Message::Service(m) => {
            let chat = peer_id(&m.peer_id);
            let chat_type = match &m.peer_id {
                enums::Peer::User(_) => "private",
                enums::Peer::Chat(_) => "group",
                enums::Peer::Channel(_) if m.post => "channel",
                enums::Peer::Channel(_) => "supergroup",
            };
            json!({
                "id": m.id,
                "chat_id": chat,
                "sender_id": m.from_id.as_ref().map(peer_id),
                "text": "",
                "out": m.out,
                "date": m.date,
                "mentioned": m.mentioned,
                "has_media": false,
                "chat_type": chat_type,
                "buttons": [],
                "service": true,
                "action": tl_json(&m.action, "MessageAction"),
            })
        }
        enums::Message::Empty(m) => json!({"id": m.id, "text": "", "service": true}),
    }
}

/// The event of a delivered update: its kind and its fields.
pub fn event_json(d: &Delivered) -> (UpdateKind, Json) {
    use enums::Update as U;
    let kind = d.kind();
    let mut o = match d.message() {
        Some(m) => message_json(m),
        None => Json::Object(Map::new()),
    };
    let set = |o: &mut Json, k: &str, v: Json| {
        if let Json::Object(m) = o {
            m.insert(k.to_string(), v);
        }
    };
    match &d.update {
        U::DeleteMessages(x) => set(&mut o, "ids", json!(x.messages)),
        U::DeleteChannelMessages(x) => {
            set(&mut o, "ids", json!(x.messages));
            set(
                &mut o,
                "chat_id",
                json!(marked(PeerKind::Channel, x.channel_id)),
            );
        }
        U::BotCallbackQuery(q) => {
            set(&mut o, "query_id", json!(q.query_id));
            set(&mut o, "user_id", json!(q.user_id));
            set(&mut o, "sender_id", json!(q.user_id));
            set(&mut o, "chat_id", json!(peer_id(&q.peer)));
            set(&mut o, "msg_id", json!(q.msg_id));
            set(&mut o, "id", json!(q.msg_id));
            let data = q.data.as_deref().map(String::from_utf8_lossy);
            set(&mut o, "data", json!(data));
        }
        U::BotChatInviteRequester(x) => {
            set(&mut o, "chat_id", json!(peer_id(&x.peer)));
            set(&mut o, "user_id", json!(x.user_id));
            set(&mut o, "sender_id", json!(x.user_id));
            set(&mut o, "date", json!(x.date));
            set(&mut o, "about", json!(x.about));
        }
        U::PendingJoinRequests(x) => {
            set(&mut o, "chat_id", json!(peer_id(&x.peer)));
            set(&mut o, "pending", json!(x.requests_pending));
            set(&mut o, "recent", json!(x.recent_requesters));
        }
        U::ChannelParticipant(x) => {
            set(
                &mut o,
                "chat_id",
                json!(marked(PeerKind::Channel, x.channel_id)),
            );
            set(&mut o, "user_id", json!(x.user_id));
            set(&mut o, "actor_id", json!(x.actor_id));
            set(
                &mut o,
                "joined",
                json!(x.prev_participant.is_none() && x.new_participant.is_some()),
            );
            set(
                &mut o,
                "left",
                json!(
                    x.new_participant.is_none()
                        || matches!(&x.new_participant, Some(enums::ChannelParticipant::Banned(b)) if b.left)
                ),
            );
        }
        U::UserStatus(x) => set(&mut o, "user_id", json!(x.user_id)),
        U::UserTyping(x) => {
            set(&mut o, "user_id", json!(x.user_id));
            set(&mut o, "chat_id", json!(x.user_id));
        }
        U::ChatUserTyping(x) => {
            set(&mut o, "user_id", json!(peer_id(&x.from_id)));
            set(&mut o, "chat_id", json!(marked(PeerKind::Chat, x.chat_id)));
        }
        U::ChannelUserTyping(x) => {
            set(&mut o, "user_id", json!(peer_id(&x.from_id)));
            set(
                &mut o,
                "chat_id",
                json!(marked(PeerKind::Channel, x.channel_id)),
            );
        }
        U::BotStopped(x) => {
            set(&mut o, "user_id", json!(x.user_id));
            set(&mut o, "stopped", json!(x.stopped));
        }
        _ => {}
    }
    set(&mut o, "kind", json!(kind_name(kind)));
    (kind, o)
}

/// The whole TL update as JSON (the event's `raw`, built only when a handler runs).
pub fn raw_json(d: &Delivered) -> Json {
    tl_json(&d.update, "Update")
}

/// The view of an event given as JSON (tests, synthetic events).
fn view_of_json(kind: UpdateKind, j: &Json) -> View {
    View {
        kind,
        text: j
            .get("text")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string(),
        chat_type: match j.get("chat_type").and_then(Json::as_str) {
            Some("private") => ChatType::Private,
            Some("group") => ChatType::Group,
            Some("supergroup") => ChatType::Supergroup,
            Some("channel") => ChatType::Channel,
            _ => ChatType::None,
        },
        chat_id: j.get("chat_id").and_then(Json::as_i64),
        sender_id: j.get("sender_id").and_then(Json::as_i64),
        out: j.get("out").and_then(Json::as_bool),
        has_media: j.get("has_media").and_then(Json::as_bool).unwrap_or(false),
        mentioned: j.get("mentioned").and_then(Json::as_bool).unwrap_or(false),
    }
}

/// An event on its way to handlers: the filter fields now; the script-visible fields and
/// `raw` built the first time something needs them.
pub struct EventData {
    /// The kind.
    pub kind: UpdateKind,
    /// What filters look at (the engine's view: the same for Rust handlers and scripts).
    pub view: View,
    update: Option<Arc<Delivered>>,
    /// The account (for what the update does not carry: its sender's name).
    client: Option<fleetgram_engine::Client>,
    sender: std::sync::OnceLock<Sender>,
    fields: std::sync::OnceLock<Json>,
    full: std::sync::OnceLock<Arc<Json>>,
}

/// Who sent a message, as scripts name them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    /// A user's first and last name, or a chat's title.
    pub name: Option<String>,
    /// The username (lower-case when it came from the account's peer store).
    pub username: Option<String>,
}

impl EventData {
    /// The event of `d` for the account `client` (`None`: no account, e.g. in tests).
    pub fn of(d: Arc<Delivered>, client: Option<&fleetgram_engine::Client>) -> Arc<EventData> {
        Arc::new(EventData {
            kind: d.kind(),
            view: View::of(&d, client.and_then(|c| c.user_id())),
            update: Some(d),
            client: client.cloned(),
            sender: std::sync::OnceLock::new(),
            fields: std::sync::OnceLock::new(),
            full: std::sync::OnceLock::new(),
        })
    }

    /// The sender's name and username: from the users and chats the update brought, else
    /// from the account's peer store (an update such as `updateShortMessage` brings none).
    pub fn sender(&self) -> &Sender {
        self.sender.get_or_init(|| {
            let (Some(d), Some(id)) = (&self.update, self.view.sender_id) else {
                return Sender::default();
            };
            let (kind, bare) = fleetgram_engine::peers::unmark(id);
            let found = match kind {
                PeerKind::User => d.users.iter().find_map(|u| match u {
                    enums::User::User(u) if u.id == bare => Some(Sender {
                        name: fleetgram_engine::state::full_name(
                            u.first_name.as_deref(),
                            u.last_name.as_deref(),
                        ),
                        username: u.username.clone(),
                    }),
                    _ => None,
                }),
                _ => d.chats.iter().find_map(|c| match c {
                    enums::Chat::Channel(c) if c.id == bare => Some(Sender {
                        name: Some(c.title.clone()),
                        username: c.username.clone(),
                    }),
                    enums::Chat::Chat(c) if c.id == bare => Some(Sender {
                        name: Some(c.title.clone()),
                        username: None,
                    }),
                    _ => None,
                }),
            };
            found
                .or_else(|| {
                    let p = self.client.as_ref()?.cached_peer(id)?;
                    Some(Sender {
                        name: p.name,
                        username: p.username,
                    })
                })
                .unwrap_or_default()
        })
    }

    /// An event given as JSON (tests, synthetic events).
    pub fn from_json(kind: UpdateKind, ev: Json) -> Arc<EventData> {
        let view = view_of_json(kind, &ev);
        let fields = std::sync::OnceLock::new();
        let _ = fields.set(ev);
        Arc::new(EventData {
            kind,
            view,
            update: None,
            client: None,
            sender: std::sync::OnceLock::new(),
            fields,
            full: std::sync::OnceLock::new(),
        })
    }

    /// The update, unless the event was given as JSON.
    pub fn update(&self) -> Option<&Delivered> {
        self.update.as_deref()
    }

    /// The script-visible fields, without `raw`.
    pub fn fields(&self) -> &Json {
        self.fields.get_or_init(|| match &self.update {
            Some(d) => {
                let mut j = event_json(d).1;
                // Who and where as filters saw them (a channel known from the update's
                // chats, this account as the sender of its own private messages).
                if d.message().is_some() {
                    if let Json::Object(o) = &mut j {
                        o.insert("chat_type".into(), json!(self.view.chat_type.as_str()));
                        o.insert("sender_id".into(), json!(self.view.sender_id));
                        let who = self.sender();
                        o.insert("sender_name".into(), json!(who.name));
                        o.insert("sender_username".into(), json!(who.username));
                    }
                }
                j
            }
            None => Json::Null,
        })
    }

    /// The whole TL update (`raw`).
    pub fn raw(&self) -> Json {
        match &self.update {
            Some(d) => raw_json(d),
            None => self.fields().get("raw").cloned().unwrap_or(Json::Null),
        }
    }

    /// The whole TL update as the schema's dynamic value (what `raw` shows), without JSON
    /// on the way; `None` for an event given as JSON (its `raw` is [`EventData::raw`]).
    pub fn raw_value(&self) -> Option<dynamic::Value> {
        let d = self.update.as_ref()?;
        dynamic::schema()
            .decode_as(&d.update.to_bytes(), "Update")
            .ok()
    }

    /// The fields with `raw`.
    pub fn full(&self) -> Arc<Json> {
        self.full
            .get_or_init(|| {
                let mut j = self.fields().clone();
                if self.update.is_some() {
                    if let Json::Object(m) = &mut j {
                        m.insert("raw".into(), self.raw());
                    }
                }
                Arc::new(j)
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::message_json;
    use fleetgram_tl::{enums, Deserializable};
    use serde_json::json;

    fn message(fields: serde_json::Value) -> enums::Message {
        let schema = fleetgram_tl::dynamic::schema();
        let obj = schema.object_from_json(&fields).unwrap();
        enums::Message::from_bytes(&schema.encode(&obj).unwrap()).unwrap()
    }

    #[test]
    fn message_events_carry_their_fields() {
        let m = message(json!({"_": "message", "mentioned": true, "id": 7,
            "from_id": {"_": "peerUser", "user_id": 5}, "peer_id": {"_": "peerChannel", "channel_id": 9},
            "date": 100, "message": "hi @me",
            "reply_to": {"_": "messageReplyHeader", "reply_to_msg_id": 3}}));
        let j = message_json(&m);
        assert_eq!(j["mentioned"], true);
        assert_eq!(j["reply_to"], 3);
        assert_eq!(j["sender_id"], 5);
        assert_eq!(j["chat_type"], "supergroup");
        assert_eq!(j["text"], "hi @me");
        let plain = message(json!({"_": "message", "id": 8,
            "peer_id": {"_": "peerUser", "user_id": 5}, "date": 100, "message": "x"}));
        assert_eq!(message_json(&plain)["mentioned"], false);
        let mentioned = crate::filter::Filter::Mentioned;
        let ev =
            |j| super::EventData::from_json(fleetgram_engine::updates::UpdateKind::NewMessage, j);
        assert!(crate::filter::matches(&mentioned, &ev(j), None));
        assert!(!crate::filter::matches(
            &mentioned,
            &ev(message_json(&plain)),
            None
        ));
    }
}
