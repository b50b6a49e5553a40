//! Conversations: send to a chat, then wait for its answer.

use super::*;
use crate::lua::bind::*;
use crate::rhai::bind::*;

impl ScriptCtx {
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

/// Registers this area's raw functions for Lua (the prelude wraps them).
pub(crate) fn lua(lua: &Lua, raw: &Table, file: &str, ctx: &ScriptCtx) -> mlua::Result<()> {
    // Conversations: the Rust side lives in a userdata the script's table holds.
    async_api!(lua, raw, file, ctx, "conv_send", |_c, l, a| {
        let conv = arg_conv(&a).map_err(bad)?;
        let text = arg_str(&a, 1, "conv:send(text)").map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        conv.send(&text, &opts).await
    });
    async_api!(lua, raw, file, ctx, "conv_ask", |_c, l, a| {
        let conv = arg_conv(&a).map_err(bad)?;
        let text = arg_str(&a, 1, "conv:ask(text)").map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        conv.ask(&text, &opts).await
    });
    async_api!(lua, raw, file, ctx, "conv_get_response", |_c, l, a| {
        let conv = arg_conv(&a).map_err(bad)?;
        let timeout = arg_json(&l, &a, 1).map_err(bad)?;
        conv.get_response(Some(&timeout)).await
    });
    async_api!(lua, raw, file, ctx, "conv_close", |_c, _l, a| {
        let conv = arg_conv(&a).map_err(bad)?;
        conv.close().await;
        Ok(Json::Bool(true))
    });
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "conversation",
        lua.create_async_function(move |l: Lua, (chat, opts): (Value, Value)| {
            let c = c.clone();
            let at = location(&l, &f);
            async move {
                let r = match (from_lua(&l, chat), from_lua(&l, opts)) {
                    (Ok(ch), Ok(o)) => c.conversation(&ch, &o).await,
                    (Err(e), _) | (_, Err(e)) => Err(bad(e)),
                };
                match r {
                    Ok(conv) => {
                        let id = conv.chat_id();
                        Ok((true, Value::UserData(l.create_userdata(LuaConv(conv))?), id))
                    }
                    Err(e) => {
                        let (ok, v) = api_result(&l, Err(e), &at)?;
                        Ok((ok, v, 0))
                    }
                }
            }
        })?,
    )?;
    Ok(())
}

/// A conversation, held by the Lua table `conversation(chat)` returns.
pub(crate) struct LuaConv(crate::api::ScriptConversation);

impl UserData for LuaConv {}

/// The conversation a `conv_*` function is given first.
pub(crate) fn arg_conv(args: &MultiValue) -> mlua::Result<crate::api::ScriptConversation> {
    match args.front() {
        Some(Value::UserData(u)) => Ok(u.borrow::<LuaConv>()?.0.clone()),
        _ => Err(mlua::Error::runtime(
            "a conversation method needs the conversation: write conv:ask(...), with a colon",
        )),
    }
}

/// Registers this area's functions for Rhai.
// The API wrappers run their body in a closure so `?` works inside it.
#[allow(clippy::redundant_closure_call)]
pub(crate) fn rhai(engine: &mut Engine, ctx: &ScriptCtx, f: &str) {
    let f = f.to_string();
    // Conversations.
    engine.register_type_with_name::<ScriptConversation>("Conversation");
    engine.register_get("chat_id", |c: &mut ScriptConversation| c.chat_id());
    for with_opts in [false, true] {
        let (c, fl) = (ctx.clone(), f.clone());
        let open = move |x: NativeCallContext, chat: Dynamic, opts: Json| {
            let r = from_rhai(&chat)
                .map_err(ApiError::Bad)
                .and_then(|chat| block(c.conversation(&chat, &opts)));
            r.map_err(|e| raise(e, &at(&x, &fl), x.call_position()))
        };
        if with_opts {
            engine.register_fn(
                "conversation",
                move |x: NativeCallContext,
                      chat: Dynamic,
                      opts: rhai::Map|
                      -> RResult<ScriptConversation> {
                    let o = from_rhai(&Dynamic::from(opts)).map_err(|e| {
                        raise(ApiError::Bad(e), &at(&x, "conversation"), x.call_position())
                    })?;
                    open(x, chat, o)
                },
            );
        } else {
            engine.register_fn(
                "conversation",
                move |x: NativeCallContext, chat: Dynamic| -> RResult<ScriptConversation> {
                    open(x, chat, Json::Null)
                },
            );
        }
    }
    with_ctx!(
        engine,
        ctx,
        f,
        "send",
        |_c, x, conv: ScriptConversation, text: &str| { block(conv.send(text, &Json::Null)) }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "send",
        |_c, x, conv: ScriptConversation, text: &str, opts: rhai::Map| {
            block(conv.send(text, &j!(x, &Dynamic::from(opts))))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "ask",
        |_c, x, conv: ScriptConversation, text: &str| { block(conv.ask(text, &Json::Null)) }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "ask",
        |_c, x, conv: ScriptConversation, text: &str, opts: rhai::Map| {
            block(conv.ask(text, &j!(x, &Dynamic::from(opts))))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "get_response",
        |_c, x, conv: ScriptConversation| { block(conv.get_response(None)) }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "get_response",
        |_c, x, conv: ScriptConversation, timeout: Dynamic| {
            block(conv.get_response(Some(&j!(x, &timeout))))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "close",
        |_c, x, conv: ScriptConversation| {
            block(conv.close());
            Ok(Json::Bool(true))
        }
    );
}
