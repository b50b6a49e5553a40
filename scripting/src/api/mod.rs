//! The script API, once, in Rust, organised by area: the core (`call`, the script's
//! context, errors), [`messages`] (send, reply, edit, pin, forward, copy, history, search),
//! [`chats`] (peers, mentions, members, bans, dialogs), [`conversation`], [`feed`], [`files`],
//! [`fleet`] (other accounts, pools), [`http`] and [`kv`]. Each area holds its methods on
//! [`ScriptCtx`] (JSON in, JSON out, over the engine's own `Client` helpers) and registers
//! them for Lua (`lua`) and for Rhai (`rhai`) in one place, so a function is added once,
//! for both languages (../shared/STYLE.md points 11-12).

use fleetgram_engine::fleet::AccountHandle;
use fleetgram_engine::InvocationError;
use fleetgram_tl::dynamic;
use fleetgram_tl::schema_def::Category;
use fleetgram_tl::{enums, functions, types, Serializable};
use serde_json::{json, Map, Value as Json};
use std::sync::Arc;

pub mod chats;
pub mod conversation;
pub mod feed;
pub mod files;
pub mod fleet;
pub mod http;
pub mod kv;
pub mod messages;

use crate::lua::bind::*;
use crate::rhai::bind::*;

/// Registers the whole API for Lua, area by area (the prelude wraps the raw functions).
pub(crate) fn register_lua(
    lua: &Lua,
    raw: &Table,
    file: &str,
    ctx: &ScriptCtx,
) -> mlua::Result<()> {
    lua_core(lua, raw, file, ctx)?;
    messages::lua(lua, raw, file, ctx)?;
    chats::lua(lua, raw, file, ctx)?;
    conversation::lua(lua, raw, file, ctx)?;
    feed::lua(lua, raw, file, ctx)?;
    files::lua(lua, raw, file, ctx)?;
    fleet::lua(lua, raw, file, ctx)?;
    http::lua(lua, raw, file, ctx)?;
    kv::lua(lua, raw, file, ctx)
}

pub use chats::mention;
pub use conversation::ScriptConversation;

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

pub(crate) fn typed_to_json<T: Serializable>(v: &T, ty: &str) -> ApiResult {
    let value = dynamic::schema()
        .decode_as(&v.to_bytes(), ty)
        .map_err(|e| ApiError::Other(format!("{e} while converting {ty}")))?;
    Ok(dynamic::json::to_json(&value))
}

/// The input types a peer reference may be turned into.
const PEER_TYPES: &[&str] = &["InputPeer", "InputUser", "InputChannel"];

pub(crate) fn input_user(p: &enums::InputPeer) -> ApiResult<enums::InputUser> {
    fleetgram_engine::peers::input_user(p)
        .ok_or_else(|| ApiError::Bad("expected a user, got a chat".into()))
}

pub(crate) fn input_channel(p: &enums::InputPeer) -> ApiResult<enums::InputChannel> {
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

pub(crate) fn int_field(v: &Json, name: &str) -> ApiResult<i64> {
    v.get(name)
        .and_then(Json::as_i64)
        .ok_or_else(|| ApiError::Bad(format!("expected a message with an integer `{name}`")))
}

impl ScriptCtx {
    /// The account's client.
    pub(crate) fn client(&self) -> &fleetgram_engine::Client {
        &self.account.client
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
        Ok(dynamic::json::to_json(
            &self.call_value(method, params).await?,
        ))
    }

    /// [`ScriptCtx::call`], its answer as the schema's dynamic value (what the languages
    /// convert directly, without JSON).
    pub async fn call_value(&self, method: &str, params: &Json) -> ApiResult<dynamic::Value> {
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
        Ok(self.client().invoke_raw(method, args).await?)
    }

    /// The marked id of a peer given as an id or a reference (resolved).
    pub(crate) async fn marked_id(&self, v: &Json) -> ApiResult<i64> {
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
}

/// `opts.limit` (default 100; at most 10,000 per call).
pub(crate) fn limit(opts: &Json) -> ApiResult<usize> {
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

/// A number of seconds from a script (`None` when not given).
pub(crate) fn seconds(v: Option<&Json>, what: &str) -> ApiResult<Option<f64>> {
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

/// Registers the whole API for Rhai, area by area.
pub(crate) fn register_rhai(engine: &mut Engine, ctx: &ScriptCtx, f: &str) {
    rhai_core(engine, ctx, f);
    messages::rhai(engine, ctx, f);
    chats::rhai(engine, ctx, f);
    conversation::rhai(engine, ctx, f);
    feed::rhai(engine, ctx, f);
    files::rhai(engine, ctx, f);
    fleet::rhai(engine, ctx, f);
    http::rhai(engine, ctx, f);
    kv::rhai(engine, ctx, f);
}

/// Registers the core's raw functions for Lua (`call`).
fn lua_core(lua: &Lua, raw: &Table, file: &str, ctx: &ScriptCtx) -> mlua::Result<()> {
    // The answer goes from the schema's dynamic value straight to Lua (no JSON between).
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "call",
        lua.create_async_function(move |l: Lua, a: MultiValue| {
            let c = c.clone();
            let at = location(&l, &f);
            async move {
                let r = async {
                    let method = arg_str(&a, 0, "call(method, params)").map_err(bad)?;
                    let params = arg_json(&l, &a, 1).map_err(bad)?;
                    c.call_value(&method, &params).await
                }
                .await;
                match r {
                    Ok(v) => Ok((true, crate::lua::tl_to_lua(&l, &v)?)),
                    Err(e) => api_result(&l, Err(e), &at),
                }
            }
        })?,
    )?;
    Ok(())
}

/// Registers this area's functions for Rhai.
// The API wrappers run their body in a closure so `?` works inside it.
#[allow(clippy::redundant_closure_call)]
fn rhai_core(engine: &mut Engine, ctx: &ScriptCtx, f: &str) {
    let f = f.to_string();
    // `call` is reserved in Rhai (it calls function pointers): Rhai scripts write
    // `invoke(method, params)`, which Lua has as well.
    for with_params in [true, false] {
        let (c, fl) = (ctx.clone(), f.clone());
        let invoke = move |x: &NativeCallContext, method: &str, params: Dynamic| {
            // The answer goes from the schema's dynamic value straight to Rhai.
            let fail = |e| raise(e, &at(x, &fl), x.call_position());
            let p = from_rhai(&params).map_err(|e| fail(ApiError::Bad(e)))?;
            block(c.call_value(method, &p))
                .map(|v| crate::rhai::tl_to_rhai(&v))
                .map_err(fail)
        };
        if with_params {
            engine.register_fn(
                "invoke",
                move |x: NativeCallContext, method: &str, params: Dynamic| -> RResult<Dynamic> {
                    invoke(&x, method, params)
                },
            );
        } else {
            engine.register_fn(
                "invoke",
                move |x: NativeCallContext, method: &str| -> RResult<Dynamic> {
                    invoke(&x, method, Dynamic::UNIT)
                },
            );
        }
    }
}
