//! The script API, once, in Rust: every function scripts call (`call`, `send`, `reply`,
//! `kv`, ...) is a method here taking and returning JSON values; the Lua and Rhai modules
//! only adapt arguments and results (../shared/STYLE.md points 11-12).

use fleetgram_engine::fleet::AccountHandle;
use fleetgram_engine::InvocationError;
use fleetgram_tl::dynamic;
use fleetgram_tl::schema_def::Category;
use fleetgram_tl::{enums, functions, types, Serializable};
use serde_json::{json, Map, Value as Json};
use std::sync::Arc;

/// An error a script sees.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Telegram refused the call: `FLOOD_WAIT` with value 31, `PEER_ID_INVALID`...
    #[error("{method}: {code} {name}{}", value.map(|v| format!(" ({v})")).unwrap_or_default())]
    Rpc {
        /// The method.
        method: String,
        /// The numeric code.
        code: i32,
        /// The error name without its number.
        name: String,
        /// The number (`FLOOD_WAIT_31` -> 31).
        value: Option<u32>,
    },
    /// The script passed something wrong (unknown method, wrong type...).
    #[error("{0}")]
    Bad(String),
    /// Nothing came in time (a conversation's answer).
    #[error("{0}")]
    Timeout(String),
    /// Anything else (connection lost, store failure...).
    #[error("{0}")]
    Other(String),
}

impl ApiError {
    /// A JSON description (what scripts get as the error value's fields).
    pub fn to_json(&self) -> Json {
        match self {
            ApiError::Rpc {
                method,
                code,
                name,
                value,
            } => {
                json!({"kind": "rpc", "method": method, "code": code, "name": name, "value": value, "message": self.to_string()})
            }
            ApiError::Bad(m) => json!({"kind": "bad_argument", "message": m}),
            ApiError::Timeout(m) => json!({"kind": "timeout", "message": m}),
            ApiError::Other(m) => json!({"kind": "other", "message": m}),
        }
    }
}

impl From<InvocationError> for ApiError {
    fn from(e: InvocationError) -> Self {
        match e {
            InvocationError::Rpc {
                method,
                code,
                name,
                value,
            } => ApiError::Rpc {
                method,
                code,
                name,
                value,
            },
            InvocationError::FloodWait { method, wait } => ApiError::Rpc {
                method,
                code: 420,
                name: "FLOOD_WAIT".into(),
                value: Some(wait.as_secs() as u32),
            },
            InvocationError::BadRequest(m) => ApiError::Bad(m),
            other => ApiError::Other(other.to_string()),
        }
    }
}

tokio::task_local! {
    /// Set while a scheduled job runs: its sends get deterministic random_ids.
    pub static JOB_RUN: JobRun;
}

/// One run of a scheduled job: the seed its sends derive their random_ids from (the job
/// and its due time), so a run repeated after a crash sends nothing twice.
#[derive(Debug)]
pub struct JobRun {
    seed: u64,
    counter: std::sync::atomic::AtomicU64,
}

/// FNV-1a, 64 bits (stable across builds, unlike the std hasher).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl JobRun {
    /// A run identified by `key` (job and due time).
    pub fn new(key: &str) -> Self {
        Self {
            seed: fnv(&[key.as_bytes()]),
            counter: 0.into(),
        }
    }

    /// The random_id of this run's next send of `text` to `peer`.
    pub fn random_id(&self, peer: &str, text: &str) -> i64 {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        fnv(&[
            &self.seed.to_le_bytes(),
            &n.to_le_bytes(),
            peer.as_bytes(),
            text.as_bytes(),
        ]) as i64
    }
}

/// Results of the API.
pub type ApiResult<T = Json> = Result<T, ApiError>;

/// Where a script's log lines also go: `(level, line)`.
pub type LogSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// What one loaded script acts as: its account, its name, its settings and data.
#[derive(Clone)]
pub struct ScriptCtx {
    /// The account.
    pub account: AccountHandle,
    /// The script's file name (`echo.lua`), as logs show it.
    pub script: String,
    /// The script's settings from accounts.yaml.
    pub settings: Json,
    /// Lines of script log output go here as well as to tracing (tests read them).
    pub log_sink: Option<LogSink>,
    /// What the script may do beyond its own account's ordinary calls (other accounts,
    /// `auth.*` and `account.*` methods).
    pub caps: fleetgram_engine::fleet::config::ScriptCaps,
    /// The account's open conversations (fed every update as it arrives).
    pub conversations: fleetgram_engine::dispatch::Waiters,
}

fn typed_to_json<T: Serializable>(v: &T, ty: &str) -> ApiResult {
    let value = dynamic::schema()
        .decode_as(&v.to_bytes(), ty)
        .map_err(|e| ApiError::Other(format!("{e} while converting {ty}")))?;
    Ok(dynamic::json::to_json(&value))
}

/// The input types a peer reference may be turned into.
const PEER_TYPES: &[&str] = &["InputPeer", "InputUser", "InputChannel"];

fn input_user(p: &enums::InputPeer) -> ApiResult<enums::InputUser> {
    fleetgram_engine::peers::input_user(p)
        .ok_or_else(|| ApiError::Bad("expected a user, got a chat".into()))
}

fn input_channel(p: &enums::InputPeer) -> ApiResult<enums::InputChannel> {
    fleetgram_engine::peers::input_channel(p)
        .ok_or_else(|| ApiError::Bad("expected a channel or supergroup".into()))
}

/// A peer reference as scripts write it: `"@name"`, `"me"`, a (marked) id, or a message's
/// `chat_id`.
pub fn peer_ref(v: &Json) -> ApiResult<String> {
    match v {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) if n.is_i64() => Ok(n.to_string()),
        Json::Object(m) if m.contains_key("chat_id") => peer_ref(&m["chat_id"]),
        other => Err(ApiError::Bad(format!(
            "expected a peer (\"@name\", \"me\" or an id), got {}",
            kind_of(other)
        ))),
    }
}

/// The JSON kind of a value, for messages.
pub fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "nil",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "table",
    }
}

fn int_field(v: &Json, name: &str) -> ApiResult<i64> {
    v.get(name)
        .and_then(Json::as_i64)
        .ok_or_else(|| ApiError::Bad(format!("expected a message with an integer `{name}`")))
}

impl ScriptCtx {
    fn client(&self) -> &fleetgram_engine::Client {
        &self.account.client
    }

    /// The key-value space of this script.
    pub fn kv_space(&self) -> String {
        format!("script/{}/{}", self.account.name, self.script)
    }

    /// Resolves a peer reference.
    pub async fn peer(&self, v: &Json) -> ApiResult<enums::InputPeer> {
        let r = peer_ref(v)?;
        self.client()
            .resolve_peer(&r)
            .await
            .map_err(|e| ApiError::Bad(format!("{e} while resolving peer {r}")))
    }

    /// `call(method, params)`: any TL function by name. Peers may be given as references
    /// where the method expects `InputPeer`/`InputUser`/`InputChannel`; a missing
    /// `random_id` is filled in.
    pub async fn call(&self, method: &str, params: &Json) -> ApiResult {
        if !self.caps.may_call(method) {
            return Err(ApiError::Bad(format!(
                "{method} is not allowed to this script: auth.* and account.* methods can hand over or change the account itself; allow them with `allow_methods: [{}]` on the script's entry in accounts.yaml",
                method.split('.').next().unwrap_or(method)
            )));
        }
        let schema = dynamic::schema();
        let def = match schema.get(method) {
            Some(d) if d.category == Category::Function => d,
            Some(_) => {
                return Err(ApiError::Bad(format!(
                    "{method} is a constructor, not a method"
                )))
            }
            None => {
                let hint = schema.suggest(method);
                return Err(ApiError::Bad(format!(
                    "unknown TL method {method:?}{}",
                    hint.first()
                        .map(|h| format!("; did you mean {h}?"))
                        .unwrap_or_default()
                )));
            }
        };
        let mut obj: Map<String, Json> = match params {
            Json::Object(m) => m.clone(),
            Json::Null => Map::new(),
            Json::Array(a) if a.is_empty() => Map::new(),
            other => {
                return Err(ApiError::Bad(format!(
                    "{method}: parameters must be a table, got {}",
                    kind_of(other)
                )))
            }
        };
        obj.remove("_");
        for p in &def.params {
            let Some(ty) = p.ty() else { continue };
            let tname = ty.full_name();
            if PEER_TYPES.contains(&tname.as_str()) {
                if let Some(v) = obj.get(&p.name) {
                    if matches!(v, Json::String(_) | Json::Number(_)) {
                        let peer = self
                            .peer(v)
                            .await
                            .map_err(|e| ApiError::Bad(format!("{method}.{}: {e}", p.name)))?;
                        let j = match tname.as_str() {
                            "InputPeer" => typed_to_json(&peer, "InputPeer")?,
                            "InputUser" => typed_to_json(&input_user(&peer)?, "InputUser")?,
                            _ => typed_to_json(&input_channel(&peer)?, "InputChannel")?,
                        };
                        obj.insert(p.name.clone(), j);
                    }
                }
            } else if p.name == "random_id" && !obj.contains_key("random_id") {
                if ty.arg.is_some() {
                    let n = obj.get("id").and_then(Json::as_array).map_or(1, Vec::len);
                    let ids: Vec<Json> = (0..n).map(|_| json!(rand::random::<i64>())).collect();
                    obj.insert("random_id".into(), Json::Array(ids));
                } else {
                    obj.insert("random_id".into(), json!(rand::random::<i64>()));
                }
            }
        }
        obj.insert("_".into(), json!(method));
        let args = schema
            .object_from_json(&Json::Object(obj))
            .map_err(|e| ApiError::Bad(e.to_string()))?;
        let result = self.client().invoke_raw(method, args).await?;
        Ok(dynamic::json::to_json(&result))
    }

    /// `send(peer, text, opts)`: a text message; `opts` may hold `parse_mode` (`"html"` or
    /// `"markdown"`), `entities`, `reply_to`, `silent`, `schedule` (unix time), `no_preview`
    /// and `buttons` (rows of `{text=, data=}` or `{text=, url=}`). Returns the sent message.
    /// The text, its formatting and its keyboard from a script's `text, opts`:
    /// `parse_mode` (`"html"`, `"markdown"`), `entities`, `no_preview`, `buttons` (bots
    /// only: Telegram drops an inline keyboard a user account sends, so that is an error).
    fn input_message(
        &self,
        text: &str,
        opts: &Json,
    ) -> ApiResult<fleetgram_engine::messages::InputMessage> {
        use fleetgram_engine::messages::InputMessage;
        let mut m = match opts.get("parse_mode").filter(|v| !v.is_null()) {
            Some(pm) => {
                let mode: fleetgram_engine::text::ParseMode = pm
                    .as_str()
                    .ok_or_else(|| ApiError::Bad(format!("parse_mode must be a string, not {pm}")))?
                    .parse()
                    .map_err(ApiError::Bad)?;
                InputMessage::parse(mode, text)
                    .map_err(|e| ApiError::Bad(format!("parse_mode {pm}: {e}")))?
            }
            None => InputMessage::text(text),
        };
        if let Some(b) = opts.get("buttons").filter(|b| !b.is_null()) {
            if !matches!(b, Json::Array(a) if a.is_empty())
                && self.account.kind != fleetgram_engine::fleet::config::AccountKind::Bot
            {
                return Err(ApiError::Bad(format!(
                    "buttons: {} is a user account, and Telegram shows inline buttons only from bots (it would drop them); send from a bot with act_as, or leave buttons out",
                    self.account.name
                )));
            }
            m = m.reply_markup(buttons(b)?);
        }
        if let Some(e) = opts.get("entities").filter(|e| !e.is_null()) {
            let list = e
                .as_array()
                .ok_or_else(|| ApiError::Bad("entities must be an array".into()))?
                .iter()
                .map(|x| {
                    let v = dynamic::schema()
                        .object_from_json(x)
                        .map_err(|e| ApiError::Bad(format!("entities: {e}")))?;
                    let bytes = dynamic::schema()
                        .encode(&v)
                        .map_err(|e| ApiError::Bad(format!("entities: {e}")))?;
                    <enums::MessageEntity as fleetgram_tl::Deserializable>::from_bytes(&bytes)
                        .map_err(|e| ApiError::Bad(format!("entities: {e}")))
                })
                .collect::<ApiResult<Vec<_>>>()?;
            m = m.entities(list);
        }
        if opts
            .get("no_preview")
            .and_then(Json::as_bool)
            .unwrap_or(false)
        {
            m = m.no_link_preview();
        }
        Ok(m)
    }

    pub async fn send(&self, peer: &Json, text: &str, opts: &Json) -> ApiResult {
        let target = peer_ref(peer)?;
        let mut m = self.input_message(text, opts)?;
        if let Some(id) = opts.get("reply_to").and_then(Json::as_i64) {
            m = m.reply_to(id as i32);
        }
        m = m.silent(opts.get("silent").and_then(Json::as_bool).unwrap_or(false));
        if let Some(t) = opts.get("schedule").and_then(Json::as_i64) {
            m = m.schedule(t as i32);
        }
        let random_id = opts
            .get("random_id")
            .and_then(Json::as_i64)
            .or_else(|| JOB_RUN.try_with(|j| j.random_id(&target, text)).ok())
            .unwrap_or_else(rand::random);
        let sent = self
            .client()
            .send_message(target.as_str(), m.random_id(random_id))
            .await?;
        Ok(crate::event::message_json(&sent.raw))
    }

    /// `msg:reply(text, opts)`.
    pub async fn reply(&self, msg: &Json, text: &str, opts: &Json) -> ApiResult {
        let mut opts = match opts {
            Json::Object(m) => m.clone(),
            _ => Map::new(),
        };
        // (An empty Lua table arrives as an empty list.)
        opts.entry("reply_to")
            .or_insert(json!(int_field(msg, "id")?));
        self.send(
            &json!(int_field(msg, "chat_id")?),
            text,
            &Json::Object(opts),
        )
        .await
    }

    /// `msg:edit(text, opts)`: the edited message (`opts` as for `send`: `parse_mode`,
    /// `entities`, `buttons`, `no_preview`).
    /// On a `callback` event it edits the message whose button was pressed (its `id`).
    pub async fn edit(&self, msg: &Json, text: &str, opts: &Json) -> ApiResult {
        let chat = int_field(msg, "chat_id")?;
        let id = int_field(msg, "id")? as i32;
        let m = self.input_message(text, opts)?;
        let edited = self.client().edit_message(chat, id, m).await?;
        Ok(crate::event::message_json(&edited.raw))
    }

    /// `msg:pin(opts)` (`opts.silent`: no notification) and `msg:unpin()`.
    pub async fn pin(&self, msg: &Json, pin: bool, opts: &Json) -> ApiResult {
        let chat = int_field(msg, "chat_id")?;
        let id = int_field(msg, "id")? as i32;
        if pin {
            let silent = opts.get("silent").and_then(Json::as_bool).unwrap_or(false);
            self.client().pin_message(chat, id, silent).await?;
        } else {
            self.client().unpin_message(chat, id).await?;
        }
        Ok(Json::Bool(true))
    }

    /// `msg:delete()` (for everyone).
    pub async fn delete(&self, msg: &Json) -> ApiResult {
        let chat = int_field(msg, "chat_id")?;
        let id = int_field(msg, "id")? as i32;
        self.delete_ids(chat, vec![id]).await
    }

    /// Deletes messages `ids` of `chat` for everyone; how many were asked for.
    pub async fn delete_ids(&self, chat: i64, ids: Vec<i32>) -> ApiResult {
        self.client().delete_messages(chat, &ids, true).await?;
        Ok(json!(ids.len()))
    }

    /// `msg:forward(to)`: the copy.
    pub async fn forward(&self, msg: &Json, to: &Json) -> ApiResult {
        let from = int_field(msg, "chat_id")?;
        let id = int_field(msg, "id")? as i32;
        let copies = self
            .client()
            .forward_messages(peer_ref(to)?, from, &[id])
            .await?;
        Ok(copies
            .first()
            .map_or(Json::Null, |m| crate::event::message_json(&m.raw)))
    }

    /// `msg:react(emoji)` (`""` takes the reaction back).
    pub async fn react(&self, msg: &Json, emoji: &str) -> ApiResult {
        let chat = int_field(msg, "chat_id")?;
        let id = int_field(msg, "id")? as i32;
        self.client().send_reaction(chat, id, emoji).await?;
        Ok(Json::Bool(true))
    }

    /// `ban(chat, user, opts)`: bans `user` from a group or channel (`opts.until` unix
    /// time; `opts.kick` removes without banning).
    pub async fn ban(&self, chat: &Json, user: &Json, opts: &Json) -> ApiResult {
        let (chat, user) = (peer_ref(chat)?, peer_ref(user)?);
        if opts.get("kick").and_then(Json::as_bool).unwrap_or(false) {
            self.client().kick(chat, user).await?;
        } else {
            let until = opts.get("until").and_then(Json::as_i64).unwrap_or(0) as i32;
            self.client().ban(chat, user, until).await?;
        }
        Ok(Json::Bool(true))
    }

    /// `answer_callback(query, text, opts)`: answers a callback query event.
    pub async fn answer_callback(&self, query: &Json, text: &Json, opts: &Json) -> ApiResult {
        let query_id = int_field(query, "query_id")?;
        let answer = fleetgram_engine::bots::CallbackAnswer {
            text: text.as_str().map(str::to_string),
            alert: opts.get("alert").and_then(Json::as_bool).unwrap_or(false),
            url: opts.get("url").and_then(Json::as_str).map(str::to_string),
            cache_time: opts.get("cache_time").and_then(Json::as_i64).unwrap_or(0) as i32,
        };
        self.client().answer_callback(query_id, answer).await?;
        Ok(Json::Bool(true))
    }

    /// `msg:click(data)`: presses the inline button whose callback data (or text) is `what`
    /// (user accounts); returns the bot's answer `{message, alert, url}`.
    pub async fn click(&self, msg: &Json, what: &str) -> ApiResult {
        let data = msg
            .get("buttons")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .find(|b| {
                b.get("data").and_then(Json::as_str) == Some(what)
                    || b.get("text").and_then(Json::as_str) == Some(what)
            })
            .and_then(|b| b.get("data").and_then(Json::as_str).map(str::to_string))
            .ok_or_else(|| ApiError::Bad(format!("no callback button {what:?} on this message")))?;
        let chat = int_field(msg, "chat_id")?;
        let id = int_field(msg, "id")? as i32;
        let a = self
            .client()
            .press_button(chat, id, data.as_bytes())
            .await?;
        Ok(json!({"message": a.message, "alert": a.alert, "url": a.url}))
    }

    /// `iter_history(chat, opts)`: the chat's messages, newest first, as messages with
    /// methods; `opts`: `limit` (default 100), `reverse` (oldest first), `min_id`,
    /// `max_id`, `from` (only this user's), `query` (a search). Paging is done here.
    pub async fn iter_history(&self, chat: &Json, opts: &Json) -> ApiResult {
        let chat = peer_ref(chat)?;
        let mut it = match opts.get("query").filter(|q| !q.is_null()) {
            Some(q) => {
                let q = q
                    .as_str()
                    .ok_or_else(|| ApiError::Bad(format!("query must be a string, not {q}")))?;
                self.client().search(chat.as_str()).query(q)
            }
            None => self.client().iter_history(chat.as_str()),
        };
        it = it.limit(limit(opts)?);
        if opts.get("reverse").and_then(Json::as_bool).unwrap_or(false) {
            it = it.reverse();
        }
        if let Some(id) = opts.get("min_id").and_then(Json::as_i64) {
            it = it.min_id(id as i32);
        }
        if let Some(id) = opts.get("max_id").and_then(Json::as_i64) {
            it = it.max_id(id as i32);
        }
        if let Some(f) = opts.get("from").filter(|f| !f.is_null()) {
            it = it.from_user(peer_ref(f)?);
        }
        let messages = it.collect().await?;
        Ok(Json::Array(
            messages
                .iter()
                .map(|m| crate::event::message_json(&m.raw))
                .collect(),
        ))
    }

    /// `get_messages(chat, ids)`: those messages of the chat (missing ones left out), as
    /// messages with methods.
    pub async fn get_messages(&self, chat: &Json, ids: &Json) -> ApiResult {
        let chat = peer_ref(chat)?;
        let ids: Vec<i32> = match ids {
            Json::Array(a) => a
                .iter()
                .map(|v| {
                    v.as_i64()
                        .map(|i| i as i32)
                        .ok_or_else(|| ApiError::Bad(format!("ids: {v} is not a message id")))
                })
                .collect::<ApiResult<_>>()?,
            Json::Number(n) => vec![n
                .as_i64()
                .ok_or_else(|| ApiError::Bad(format!("ids: {n} is not a message id")))?
                as i32],
            other => {
                return Err(ApiError::Bad(format!(
                    "ids must be a list of message ids, got {}",
                    kind_of(other)
                )))
            }
        };
        let got = self.client().get_messages(chat.as_str(), &ids).await?;
        Ok(Json::Array(
            got.iter()
                .map(|m| crate::event::message_json(&m.raw))
                .collect(),
        ))
    }

    /// `msg:get_reply()`: the message it replies to (`nil` when none, or deleted).
    pub async fn get_reply(&self, msg: &Json) -> ApiResult {
        let Some(id) = msg.get("reply_to").and_then(Json::as_i64) else {
            return Ok(Json::Null);
        };
        let chat = json!(int_field(msg, "chat_id")?);
        let got = self.get_messages(&chat, &json!([id])).await?;
        Ok(got.get(0).cloned().unwrap_or(Json::Null))
    }

    /// `iter_dialogs(opts)`: the chat list, newest first: `{chat_id, name, username,
    /// unread, top}` (`top`: the last message); `opts.limit` (default 100).
    pub async fn iter_dialogs(&self, opts: &Json) -> ApiResult {
        let dialogs = self
            .client()
            .iter_dialogs()
            .limit(limit(opts)?)
            .collect()
            .await?;
        Ok(Json::Array(
            dialogs
                .iter()
                .map(|d| {
                    let known = self.client().cached_peer(d.chat_id);
                    json!({
                        "chat_id": d.chat_id,
                        "name": known.as_ref().and_then(|p| p.name.clone()),
                        "username": known.as_ref().and_then(|p| p.username.clone()),
                        "unread": d.raw.unread_count,
                        "top": d.top.as_ref().map(|m| crate::event::message_json(&m.raw)),
                    })
                })
                .collect(),
        ))
    }

    /// `iter_participants(chat, opts)`: a group's or channel's members: `{user_id, name,
    /// username, bot, status, date}` (`status`: `creator`, `admin`, `member`, `banned`,
    /// `left`; `date`: when they joined or were banned); `opts`: `limit` (default 100),
    /// `filter` (`recent`, `admins`, `bots`, `restricted`, `banned`), `search` (name or
    /// username).
    pub async fn iter_participants(&self, chat: &Json, opts: &Json) -> ApiResult {
        use fleetgram_engine::chats::ParticipantFilter as PF;
        let chat = peer_ref(chat)?;
        let filter = match (
            opts.get("search").and_then(Json::as_str),
            opts.get("filter").and_then(Json::as_str),
        ) {
            (Some(q), _) => PF::Search(q.to_string()),
            (None, None | Some("recent")) => PF::Recent,
            (None, Some("admins")) => PF::Admins,
            (None, Some("bots")) => PF::Bots,
            (None, Some("restricted")) => PF::Restricted,
            (None, Some("banned")) => PF::Banned,
            (None, Some(other)) => {
                return Err(ApiError::Bad(format!(
                    "filter {other:?}: expected recent, admins, bots, restricted or banned"
                )))
            }
        };
        let members = self
            .client()
            .iter_participants(chat.as_str())
            .filter(filter)
            .limit(limit(opts)?)
            .collect()
            .await?;
        Ok(Json::Array(members.iter().map(participant_json).collect()))
    }

    /// `get_peer(ref)`: a user or chat (`@username`, a t.me link, `me` or a marked id) as
    /// an object: `{id, kind, name, username, bot}` (`kind`: `user`, `group`, or `channel`
    /// for channels and supergroups). Filled from what the account already knows; asked of
    /// Telegram only when that is missing.
    pub async fn get_peer(&self, v: &Json) -> ApiResult {
        let id = self.marked_id(v).await?;
        let known = self.client().cached_peer(id);
        if let Some(p) = known.filter(|p| {
            p.name.is_some()
                && (p.kind != fleetgram_engine::peers::PeerKind::User || p.bot.is_some())
        }) {
            return Ok(peer_json(
                id,
                p.kind,
                p.name,
                p.username,
                p.bot.unwrap_or(false),
            ));
        }
        use fleetgram_engine::messages::PeerInfo;
        use fleetgram_engine::peers::PeerKind;
        Ok(match self.client().peer_info(id).await? {
            PeerInfo::User(enums::User::User(u)) => peer_json(
                id,
                PeerKind::User,
                fleetgram_engine::state::full_name(u.first_name.as_deref(), u.last_name.as_deref()),
                u.username,
                u.bot,
            ),
            PeerInfo::Chat(enums::Chat::Channel(c)) => {
                peer_json(id, PeerKind::Channel, Some(c.title), c.username, false)
            }
            PeerInfo::Chat(enums::Chat::Chat(c)) => {
                peer_json(id, PeerKind::Chat, Some(c.title), None, false)
            }
            _ => peer_json(id, fleetgram_engine::state::unmark(id).0, None, None, false),
        })
    }

    /// The marked id of a peer given as an id or a reference (resolved).
    async fn marked_id(&self, v: &Json) -> ApiResult<i64> {
        if let Some(id) = v.as_i64() {
            return Ok(id);
        }
        let r = peer_ref(v)?;
        let p = self.client().resolve_peer(&r).await?;
        match p {
            enums::InputPeer::InputPeerSelf => self
                .client()
                .user_id()
                .ok_or_else(|| ApiError::Other("this account is not logged in".into())),
            p => fleetgram_engine::peers::input_peer_marked_id(&p)
                .ok_or_else(|| ApiError::Bad(format!("{r:?} does not name a user or chat"))),
        }
    }

    /// `msg:sender()`: who sent it, as [`ScriptCtx::get_peer`] describes (null when no one
    /// is named, as in a channel post without a signature).
    pub async fn sender(&self, msg: &Json) -> ApiResult {
        match msg.get("sender_id").and_then(Json::as_i64) {
            Some(id) => self.get_peer(&json!(id)).await,
            None => Ok(Json::Null),
        }
    }

    /// `msg:chat()`: the chat it is in, as [`ScriptCtx::get_peer`] describes.
    pub async fn chat(&self, msg: &Json) -> ApiResult {
        self.get_peer(&json!(int_field(msg, "chat_id")?)).await
    }

    /// `msg:copy_to(peer)`: sends it again to `peer` as this account's own message (no
    /// "forwarded from"); the copy.
    pub async fn copy_to(&self, msg: &Json, to: &Json) -> ApiResult {
        let from = int_field(msg, "chat_id")?;
        let id = int_field(msg, "id")? as i32;
        let copies = self
            .client()
            .copy_messages(peer_ref(to)?, from, &[id])
            .await?;
        Ok(copies
            .first()
            .map_or(Json::Null, |m| crate::event::message_json(&m.raw)))
    }

    /// `participant(chat, user)`: one member as `iter_participants` lists them, with
    /// `rights` (an admin's), `rank`, `until` and `banned_rights` (a restricted or banned
    /// member's); null when the user is not a member.
    pub async fn participant(&self, chat: &Json, user: &Json) -> ApiResult {
        let p = self
            .client()
            .get_participant(peer_ref(chat)?.as_str(), peer_ref(user)?.as_str())
            .await?;
        Ok(p.as_ref().map_or(Json::Null, participant_json))
    }

    /// `search(chat, query, opts)`: messages of `chat` containing `query`, newest first;
    /// `chat` nil searches every chat of the account (`opts.limit` as `iter_history`).
    pub async fn search(&self, chat: &Json, query: &str, opts: &Json) -> ApiResult {
        if chat.is_null() {
            let found = self
                .client()
                .search_global(query)
                .limit(limit(opts)?)
                .collect()
                .await?;
            return Ok(Json::Array(
                found
                    .iter()
                    .map(|m| crate::event::message_json(&m.raw))
                    .collect(),
            ));
        }
        let mut o = match opts {
            Json::Object(m) => m.clone(),
            _ => Map::new(),
        };
        o.insert("query".into(), json!(query));
        self.iter_history(chat, &Json::Object(o)).await
    }

    /// `conversation(chat, opts)`: a conversation with `chat` that sees the chat's updates
    /// from now on (`opts.timeout`: seconds each wait lasts at most, 60 by default).
    pub async fn conversation(&self, chat: &Json, opts: &Json) -> ApiResult<ScriptConversation> {
        let id = self.marked_id(chat).await?;
        let timeout = seconds(opts.get("timeout"), "timeout")?.unwrap_or(60.0);
        Ok(ScriptConversation {
            ctx: self.clone(),
            chat: id,
            timeout,
            conv: Arc::new(tokio::sync::Mutex::new(Some(
                self.conversations.open(self.client().clone(), id),
            ))),
        })
    }

    /// `kv.get(key)`.
    pub fn kv_get(&self, key: &str) -> ApiResult {
        let v = self
            .account
            .store
            .kv_get(&self.kv_space(), key)
            .map_err(|e| ApiError::Other(e.to_string()))?;
        Ok(match v {
            Some(b) => serde_json::from_slice(&b).unwrap_or(Json::Null),
            None => Json::Null,
        })
    }

    /// `kv.set(key, value)` (nil deletes).
    pub fn kv_set(&self, key: &str, value: &Json) -> ApiResult<()> {
        let bytes = (!value.is_null()).then(|| serde_json::to_vec(value).expect("json"));
        self.account
            .store
            .kv_set(&self.kv_space(), key, bytes.as_deref())
            .map_err(|e| ApiError::Other(e.to_string()))
    }

    /// `kv.incr(key, by)`: atomically adds `by` to a number (missing counts as 0).
    pub fn kv_incr(&self, key: &str, by: i64) -> ApiResult<i64> {
        let mut out = 0;
        self.account
            .store
            .kv_update(&self.kv_space(), key, &mut |old| {
                let cur = old
                    .and_then(|b| serde_json::from_slice::<Json>(b).ok())
                    .and_then(|j| j.as_i64())
                    .unwrap_or(0);
                out = cur + by;
                Some(serde_json::to_vec(&json!(out)).expect("json"))
            })
            .map_err(|e| ApiError::Other(e.to_string()))?;
        Ok(out)
    }

    /// `kv.keys(prefix)`.
    pub fn kv_keys(&self, prefix: &str) -> ApiResult<Vec<String>> {
        self.account
            .store
            .kv_keys(&self.kv_space(), prefix)
            .map_err(|e| ApiError::Other(e.to_string()))
    }

    /// `log.info/warn/error(text)`.
    pub fn log(&self, level: &str, text: &str) {
        let (account, script) = (&self.account.name, &self.script);
        match level {
            "error" => tracing::error!(%account, %script, "{text}"),
            "warn" => tracing::warn!(%account, %script, "{text}"),
            _ => tracing::info!(%account, %script, "{text}"),
        }
        self.to_sink(level, text);
    }

    /// Gives a line to the script's log sink only (the host has logged it already).
    pub fn to_sink(&self, level: &str, text: &str) {
        if let Some(sink) = &self.log_sink {
            sink(level, text);
        }
    }

    /// `account`: name, id, kind, username.
    pub fn account_info(&self) -> Json {
        json!({
            "name": self.account.name,
            "id": self.account.user_id,
            "kind": match self.account.kind {
                fleetgram_engine::fleet::config::AccountKind::User => "user",
                fleetgram_engine::fleet::config::AccountKind::Bot => "bot",
            },
            "username": self.account.username,
        })
    }

    /// The message `msg` (its chat and id) fetched again (fresh file references).
    async fn refetch(&self, msg: &Json) -> ApiResult<enums::Message> {
        let chat = int_field(msg, "chat_id")?;
        let id = int_field(msg, "id")? as i32;
        let peer = self.peer(&json!(chat)).await?;
        let ids = vec![enums::InputMessage::from(types::InputMessageID { id })];
        let r = match &peer {
            enums::InputPeer::Channel(_) | enums::InputPeer::ChannelFromMessage(_) => {
                self.client()
                    .invoke(&functions::channels::GetMessages {
                        channel: input_channel(&peer)?,
                        id: ids,
                    })
                    .await?
            }
            _ => {
                self.client()
                    .invoke(&functions::messages::GetMessages { id: ids })
                    .await?
            }
        };
        let list = match r {
            enums::messages::Messages::Messages(m) => m.messages,
            enums::messages::Messages::Slice(m) => m.messages,
            enums::messages::Messages::ChannelMessages(m) => m.messages,
            enums::messages::Messages::NotModified(_) => vec![],
        };
        list.into_iter()
            .find(|m| matches!(m, enums::Message::Message(x) if x.id == id))
            .ok_or_else(|| ApiError::Bad(format!("message {id} of chat {chat} is gone")))
    }

    /// `download(msg)`: the bytes of the message's photo or document.
    pub async fn download(&self, msg: &Json) -> ApiResult<Vec<u8>> {
        let m = self.refetch(msg).await?;
        let file = fleetgram_engine::media::file_of(&m)
            .ok_or_else(|| ApiError::Bad("the message has no photo or document".into()))?;
        Ok(self.client().download_file(&file).await?)
    }

    /// `upload(peer, data, opts)`: sends `data` as a document; `opts`: `name`, `caption`,
    /// `mime`. Returns the sent message.
    pub async fn upload(&self, peer: &Json, data: &[u8], opts: &Json) -> ApiResult {
        let target = peer_ref(peer)?;
        let name = opts
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or("file.bin")
            .to_string();
        let caption = opts
            .get("caption")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let mime = opts
            .get("mime")
            .and_then(Json::as_str)
            .unwrap_or("application/octet-stream")
            .to_string();
        let file = self.client().upload_bytes(data, &name).await?;
        let random_id = JOB_RUN
            .try_with(|j| j.random_id(&target, &name))
            .unwrap_or_else(|_| rand::random());
        let updates = self
            .client()
            .with_peer(&target, |peer| {
                let req = functions::messages::SendMedia {
                    silent: false,
                    background: false,
                    clear_draft: false,
                    noforwards: false,
                    update_stickersets_order: false,
                    invert_media: false,
                    allow_paid_floodskip: false,
                    peer,
                    reply_to: None,
                    media: types::InputMediaUploadedDocument {
                        nosound_video: false,
                        force_file: true,
                        spoiler: false,
                        file: file.clone(),
                        thumb: None,
                        mime_type: mime.clone(),
                        attributes: vec![types::DocumentAttributeFilename {
                            file_name: name.clone(),
                        }
                        .into()],
                        stickers: None,
                        video_cover: None,
                        video_timestamp: None,
                        ttl_seconds: None,
                    }
                    .into(),
                    message: caption.clone(),
                    random_id,
                    reply_markup: None,
                    entities: None,
                    schedule_date: None,
                    schedule_repeat_period: None,
                    send_as: None,
                    quick_reply_shortcut: None,
                    effect: None,
                    allow_paid_stars: None,
                    suggested_post: None,
                };
                let client = self.client().clone();
                async move { client.invoke(&req).await }
            })
            .await?;
        Ok(sent_message(&updates, &target, &caption))
    }

    /// `fleet.pool(name):send(peer, text, opts)`: sends through the running account of pool
    /// `name` with the most budget (fewest FLOOD_WAITs, shortest learned spacing), failing
    /// over to the next one on FLOOD_WAIT; the result names the `account` used.
    pub async fn pool_send(&self, pool: &str, peer: &Json, text: &str, opts: &Json) -> ApiResult {
        if !self.caps.may_use_pool(pool) {
            return Err(ApiError::Bad(format!(
                "this script may not send through pool {pool:?}: add `act_as: [\"pool:{pool}\"]` to its entry in accounts.yaml"
            )));
        }
        let candidates = self.account.fleet.pool(pool, "messages.sendMessage");
        if candidates.is_empty() {
            return Err(ApiError::Bad(format!(
                "no running account in pool {pool:?}"
            )));
        }
        let mut last = None;
        for (name, _) in candidates {
            let ctx = self.other_unchecked(&name)?;
            match ctx.send(peer, text, opts).await {
                Ok(mut v) => {
                    v["account"] = json!(name);
                    return Ok(v);
                }
                Err(e @ ApiError::Rpc { .. }) if matches!(&e, ApiError::Rpc { name, .. } if name == "FLOOD_WAIT") =>
                {
                    tracing::info!(pool, account = %name, error = %e, "FLOOD_WAIT: trying the next account of the pool");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one candidate"))
    }

    /// `fleet.account(name)`: the same API acting as another account of the fleet.
    pub fn other(&self, name: &str) -> ApiResult<ScriptCtx> {
        if name != self.account.name {
            let pools = self.account.fleet.with_config(|c| {
                c.accounts
                    .iter()
                    .find(|a| a.name() == name)
                    .map(|a| a.config.pools.clone())
                    .unwrap_or_default()
            });
            if !self.caps.may_act_as(name, &pools) {
                return Err(ApiError::Bad(format!(
                    "this script may not act as account {name:?}: add it to `act_as:` on the script's entry in accounts.yaml"
                )));
            }
        }
        self.other_unchecked(name)
    }

    /// [`ScriptCtx::other`] without the capability check (the caller made it).
    fn other_unchecked(&self, name: &str) -> ApiResult<ScriptCtx> {
        let client =
            self.account.fleet.client(name).ok_or_else(|| {
                ApiError::Bad(format!("no running account {name:?} in this fleet"))
            })?;
        let mut account = self.account.clone();
        account.name = name.to_string();
        account.user_id = client.user_id().unwrap_or_default();
        account.client = client;
        Ok(ScriptCtx {
            account,
            ..self.clone()
        })
    }
}

/// An inline keyboard from rows of `{text=, data=}` / `{text=, url=}` (a flat list is one row).
fn buttons(v: &Json) -> ApiResult<enums::ReplyMarkup> {
    let rows = v
        .as_array()
        .ok_or_else(|| ApiError::Bad("buttons must be an array of rows".into()))?;
    // Rows of buttons; a flat list of buttons is one row; a mix is refused.
    let rows: Vec<Vec<Json>> = if rows.iter().all(Json::is_object) {
        vec![rows.clone()]
    } else {
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                r.as_array().cloned().ok_or_else(|| {
                    ApiError::Bad(format!(
                        "buttons: item {} is a {}, but others are rows; give rows (a list of lists of buttons), or one flat list of buttons for a single row",
                        i + 1,
                        if r.is_object() { "button" } else { kind_of(r) }
                    ))
                })
            })
            .collect::<ApiResult<_>>()?
    };
    let mut out = Vec::new();
    for row in rows {
        let mut buttons = Vec::new();
        for b in row {
            let text = b
                .get("text")
                .and_then(Json::as_str)
                .ok_or_else(|| ApiError::Bad("a button needs `text`".into()))?
                .to_string();
            let ty: enums::InlineButtonType = if let Some(d) = b.get("data").and_then(Json::as_str)
            {
                if d.len() > 64 {
                    return Err(ApiError::Bad("button data is at most 64 bytes".into()));
                }
                types::InlineButtonTypeCallback {
                    requires_password: false,
                    data: d.as_bytes().to_vec(),
                }
                .into()
            } else if let Some(u) = b.get("url").and_then(Json::as_str) {
                types::InlineButtonTypeUrl { url: u.into() }.into()
            } else {
                return Err(ApiError::Bad(format!(
                    "button {text:?} needs `data` or `url`"
                )));
            };
            buttons.push(
                types::KeyboardInlineButton {
                    style: None,
                    text,
                    r#type: ty,
                }
                .into(),
            );
        }
        out.push(types::KeyboardInlineButtonRow { buttons }.into());
    }
    Ok(types::ReplyInlineMarkup {
        force_reply: false,
        rows: out,
    }
    .into())
}

/// The message an `Updates` answer reports as sent.
fn sent_message(u: &enums::Updates, target: &str, text: &str) -> Json {
    use enums::Updates as U;
    let list = match u {
        U::UpdateShortSentMessage(m) => {
            return json!({"id": m.id, "chat_id": target.parse::<i64>().ok(), "text": text, "date": m.date})
        }
        U::Updates(x) => &x.updates,
        U::Combined(x) => &x.updates,
        _ => return json!({"text": text}),
    };
    for x in list {
        let m = match x {
            enums::Update::NewMessage(m) => &m.message,
            enums::Update::NewChannelMessage(m) => &m.message,
            enums::Update::NewScheduledMessage(m) => &m.message,
            _ => continue,
        };
        return crate::event::message_json(m);
    }
    json!({"text": text})
}

/// `opts.limit` (default 100; at most 10,000 per call).
fn limit(opts: &Json) -> ApiResult<usize> {
    match opts.get("limit").filter(|l| !l.is_null()) {
        None => Ok(100),
        Some(l) => match l.as_i64() {
            Some(n) if (0..=10_000).contains(&n) => Ok(n as usize),
            _ => Err(ApiError::Bad(format!(
                "limit must be a whole number from 0 to 10000, not {l}"
            ))),
        },
    }
}

/// A member as scripts see it.
fn participant_json(p: &fleetgram_engine::chats::Participant) -> Json {
    use enums::ChannelParticipant as CP;
    use enums::ChatParticipant as P;
    let (name, username, bot) = match &p.user {
        Some(enums::User::User(u)) => (
            fleetgram_engine::state::full_name(u.first_name.as_deref(), u.last_name.as_deref()),
            u.username.clone(),
            u.bot,
        ),
        _ => (None, None, false),
    };
    let (status, date) = match (&p.channel, &p.chat) {
        (Some(CP::Creator(_)), _) => ("creator", None),
        (Some(CP::Admin(a)), _) => ("admin", Some(a.date)),
        (Some(CP::ChannelParticipant(x)), _) => ("member", Some(x.date)),
        (Some(CP::ChannelParticipantSelf(x)), _) => ("member", Some(x.date)),
        (Some(CP::Banned(b)), _) if b.left => ("left", Some(b.date)),
        (Some(CP::Banned(b)), _) => ("banned", Some(b.date)),
        (Some(CP::Left(_)), _) => ("left", None),
        (None, Some(P::Creator(_))) => ("creator", None),
        (None, Some(P::Admin(a))) => ("admin", Some(a.date)),
        (None, Some(P::ChatParticipant(x))) => ("member", Some(x.date)),
        (None, None) => ("member", None),
    };
    let mut out = json!({
        "user_id": p.user_id,
        "name": name,
        "username": username,
        "bot": bot,
        "status": status,
        "date": date,
    });
    // Rights and ranks, read through the schema (the names scripts see are TL's own).
    let flags = |v: Json| -> Json {
        Json::Array(
            v.as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| *v == &Json::Bool(true) && k.as_str() != "_")
                .map(|(k, _)| json!(k))
                .collect(),
        )
    };
    match &p.channel {
        Some(CP::Creator(c)) => {
            out["rights"] =
                flags(typed_to_json(&c.admin_rights, "ChatAdminRights").unwrap_or_default());
            out["rank"] = json!(c.rank);
        }
        Some(CP::Admin(a)) => {
            out["rights"] =
                flags(typed_to_json(&a.admin_rights, "ChatAdminRights").unwrap_or_default());
            out["rank"] = json!(a.rank);
            out["promoted_by"] = json!(a.promoted_by);
        }
        Some(CP::Banned(b)) => {
            let enums::ChatBannedRights::ChatBannedRights(r) = &b.banned_rights;
            out["until"] = json!(r.until_date);
            out["banned_rights"] =
                flags(typed_to_json(&b.banned_rights, "ChatBannedRights").unwrap_or_default());
            out["kicked_by"] = json!(b.kicked_by);
        }
        Some(CP::ChannelParticipantSelf(x)) => out["inviter_id"] = json!(x.inviter_id),
        _ => {}
    }
    match &p.chat {
        Some(P::ChatParticipant(x)) => out["inviter_id"] = json!(x.inviter_id),
        Some(P::Admin(x)) => out["inviter_id"] = json!(x.inviter_id),
        _ => {}
    }
    out
}

/// A user or chat as scripts see it.
fn peer_json(
    id: i64,
    kind: fleetgram_engine::peers::PeerKind,
    name: Option<String>,
    username: Option<String>,
    bot: bool,
) -> Json {
    use fleetgram_engine::peers::PeerKind;
    let kind = match kind {
        PeerKind::User => "user",
        PeerKind::Chat => "group",
        PeerKind::Channel => "channel",
    };
    json!({"id": id, "kind": kind, "name": name, "username": username, "bot": bot})
}

/// `peer:mention(mode)`: the peer's name as a mention in `parse_mode` `mode` (`"html"` by
/// default, or `"markdown"`): a user by id (`tg://user?id=`), a chat with a username by
/// link, any other chat as its escaped name. What comes out parses back to exactly the
/// name, whatever characters the name holds.
pub fn mention(peer: &Json, mode: &Json) -> ApiResult<String> {
    use fleetgram_engine::text::{unparse, utf16_len, ParseMode};
    let mode: ParseMode = match mode {
        Json::Null => ParseMode::Html,
        Json::String(m) => m.parse().map_err(ApiError::Bad)?,
        other => {
            return Err(ApiError::Bad(format!(
                "mention(mode): mode must be \"html\" or \"markdown\", not {other}"
            )))
        }
    };
    let id = int_field(peer, "id")?;
    let name = peer
        .get("name")
        .and_then(Json::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| id.to_string());
    let length = utf16_len(&name) as i32;
    let entity: Option<enums::MessageEntity> = match peer.get("kind").and_then(Json::as_str) {
        Some("user") | None if id > 0 => Some(
            types::MessageEntityMentionName {
                offset: 0,
                length,
                user_id: id,
            }
            .into(),
        ),
        _ => peer.get("username").and_then(Json::as_str).map(|u| {
            types::MessageEntityTextUrl {
                offset: 0,
                length,
                url: format!("https://t.me/{u}"),
            }
            .into()
        }),
    };
    Ok(unparse(mode, &name, entity.as_slice()))
}

/// A number of seconds from a script (`None` when not given).
fn seconds(v: Option<&Json>, what: &str) -> ApiResult<Option<f64>> {
    match v.filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(s.min(86_400.0))),
            _ => Err(ApiError::Bad(format!(
                "{what} must be a number of seconds, not {v}"
            ))),
        },
    }
}

/// A script's conversation with one chat (`conversation(chat)`): send, then wait for the
/// answer. It sees the chat's updates from the moment it was opened until it is closed or
/// dropped; the script's handlers still get them too.
#[derive(Clone)]
pub struct ScriptConversation {
    ctx: ScriptCtx,
    chat: i64,
    timeout: f64,
    conv: Arc<tokio::sync::Mutex<Option<fleetgram_engine::dispatch::Conversation>>>,
}

impl ScriptConversation {
    /// The chat (a marked id).
    pub fn chat_id(&self) -> i64 {
        self.chat
    }

    /// `conv:send(text, opts)`: as `send` to the chat.
    pub async fn send(&self, text: &str, opts: &Json) -> ApiResult {
        self.ctx.send(&json!(self.chat), text, opts).await
    }

    /// `conv:get_response(timeout)`: the next message someone else sends in the chat; a
    /// `timeout` error when none comes in time.
    pub async fn get_response(&self, timeout: Option<&Json>) -> ApiResult {
        let t = seconds(timeout, "timeout")?.unwrap_or(self.timeout);
        let mut guard = self.conv.lock().await;
        let conv = guard
            .as_mut()
            .ok_or_else(|| ApiError::Bad("this conversation is closed".into()))?;
        match conv
            .get_response(std::time::Duration::from_secs_f64(t))
            .await
        {
            Ok(m) => Ok(crate::event::message_json(&m.raw)),
            Err(e) => Err(ApiError::Timeout(format!(
                "conversation with {}: {e}",
                self.chat
            ))),
        }
    }

    /// `conv:ask(text, opts)`: sends `text`, then the answer (`opts.timeout` as for
    /// `get_response`; the rest as for `send`).
    pub async fn ask(&self, text: &str, opts: &Json) -> ApiResult {
        self.send(text, opts).await?;
        self.get_response(opts.get("timeout")).await
    }

    /// `conv:close()`: stops seeing the chat's updates.
    pub async fn close(&self) {
        self.conv.lock().await.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(v: Json) -> Result<Vec<usize>, String> {
        match buttons(&v).map_err(|e| e.to_string())? {
            enums::ReplyMarkup::ReplyInlineMarkup(m) => Ok(m
                .rows
                .iter()
                .map(|r| {
                    let enums::KeyboardInlineButtonRow::KeyboardInlineButtonRow(r) = r;
                    r.buttons.len()
                })
                .collect()),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn buttons_are_rows_a_flat_list_is_one_row_and_a_mix_is_refused() {
        let b = |t: &str| json!({"text": t, "data": t});
        assert_eq!(shape(json!([[b("a"), b("b")], [b("c")]])), Ok(vec![2, 1]));
        assert_eq!(shape(json!([b("a"), b("b")])), Ok(vec![2]));
        let e = shape(json!([[b("a")], b("b")])).unwrap_err();
        assert!(e.contains("item 2 is a button, but others are rows"), "{e}");
        let e = shape(json!([[b("a")], "x"])).unwrap_err();
        assert!(e.contains("item 2 is a string"), "{e}");
    }
}
