//! Messages: send, reply, edit, pin, delete, forward, copy, react, press buttons,
//! history and search.

use super::*;
use crate::lua::bind::*;
use crate::rhai::bind::*;

/// `escape(text, mode)`: `text` made literal for `parse_mode` `mode` (`"html"` by default,
/// or `"markdown"`), to put names, titles and links from elsewhere into formatted text.
pub fn escape(text: &str, mode: &Json) -> ApiResult<String> {
    let mode: fleetgram_engine::text::ParseMode = match mode {
        Json::Null => fleetgram_engine::text::ParseMode::Html,
        Json::String(m) => m.parse().map_err(ApiError::Bad)?,
        other => {
            return Err(ApiError::Bad(format!(
                "escape(text, mode): mode must be \"html\" or \"markdown\", not {other}"
            )))
        }
    };
    Ok(fleetgram_engine::text::unparse(mode, text, &[]))
}

impl ScriptCtx {
    /// `send(peer, text, opts)`: a text message; `opts` may hold `parse_mode` (`"html"` or
    /// `"markdown"`), `entities`, `reply_to`, `silent`, `schedule` (unix time), `no_preview`
    /// and `buttons` (rows of `{text=, data=}` or `{text=, url=}`). Returns the sent message.
    /// The text, its formatting and its keyboard from a script's `text, opts`:
    /// `parse_mode` (`"html"`, `"markdown"`), `entities`, `no_preview`, `buttons` (bots
    /// only: Telegram drops an inline keyboard a user account sends, so that is an error).
    pub(crate) fn input_message(
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
        let m = self.input_message(text, opts)?;
        self.send_input(&target, m, text, opts).await
    }

    /// Sends `m` to `target` with `opts`' `reply_to`, `silent`, `schedule` and `random_id`
    /// (in a scheduled run, derived from the run and `key`, so a repeated run sends nothing
    /// twice); the sent message.
    pub(crate) async fn send_input(
        &self,
        target: &str,
        mut m: fleetgram_engine::messages::InputMessage,
        key: &str,
        opts: &Json,
    ) -> ApiResult {
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
            .or_else(|| JOB_RUN.try_with(|j| j.random_id(target, key)).ok())
            .unwrap_or_else(rand::random);
        let sent = self
            .client()
            .send_message(target, m.random_id(random_id))
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
}

/// An inline keyboard from rows of `{text=, data=}` / `{text=, url=}` (a flat list is one row).
pub(crate) fn buttons(v: &Json) -> ApiResult<enums::ReplyMarkup> {
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

/// Registers this area's raw functions for Lua (the prelude wraps them).
pub(crate) fn lua(lua: &Lua, raw: &Table, file: &str, ctx: &ScriptCtx) -> mlua::Result<()> {
    let f = file.to_string();
    raw.set(
        "escape",
        lua.create_function(move |l, (text, mode): (String, Value)| {
            let r = from_lua(l, mode)
                .map_err(bad)
                .and_then(|m| escape(&text, &m).map(Json::String));
            api_result(l, r, &location(l, &f))
        })?,
    )?;
    async_api!(lua, raw, file, ctx, "send", |c, l, a| {
        let peer = arg_json(&l, &a, 0).map_err(bad)?;
        let text = arg_str(&a, 1, "send(peer, text)").map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        c.send(&peer, &text, &opts).await
    });
    async_api!(lua, raw, file, ctx, "reply", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        let text = arg_str(&a, 1, "msg:reply(text)").map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        c.reply(&msg, &text, &opts).await
    });
    async_api!(lua, raw, file, ctx, "edit", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        let text = arg_str(&a, 1, "msg:edit(text)").map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        c.edit(&msg, &text, &opts).await
    });
    async_api!(lua, raw, file, ctx, "iter_history", |c, l, a| {
        let chat = arg_json(&l, &a, 0).map_err(bad)?;
        let opts = arg_json(&l, &a, 1).map_err(bad)?;
        c.iter_history(&chat, &opts).await
    });
    async_api!(lua, raw, file, ctx, "get_messages", |c, l, a| {
        let chat = arg_json(&l, &a, 0).map_err(bad)?;
        let ids = arg_json(&l, &a, 1).map_err(bad)?;
        c.get_messages(&chat, &ids).await
    });
    async_api!(lua, raw, file, ctx, "get_reply", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        c.get_reply(&msg).await
    });
    async_api!(lua, raw, file, ctx, "pin", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        let opts = arg_json(&l, &a, 1).map_err(bad)?;
        c.pin(&msg, true, &opts).await
    });
    async_api!(lua, raw, file, ctx, "unpin", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        c.pin(&msg, false, &Json::Null).await
    });
    async_api!(lua, raw, file, ctx, "delete", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        c.delete(&msg).await
    });
    async_api!(lua, raw, file, ctx, "forward", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        let to = arg_json(&l, &a, 1).map_err(bad)?;
        c.forward(&msg, &to).await
    });
    async_api!(lua, raw, file, ctx, "react", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        let emoji = arg_str(&a, 1, "msg:react(emoji)").map_err(bad)?;
        c.react(&msg, &emoji).await
    });
    async_api!(lua, raw, file, ctx, "click", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        let what = arg_str(&a, 1, "msg:click(data)").map_err(bad)?;
        c.click(&msg, &what).await
    });
    async_api!(lua, raw, file, ctx, "answer_callback", |c, l, a| {
        let q = arg_json(&l, &a, 0).map_err(bad)?;
        let text = arg_json(&l, &a, 1).map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        c.answer_callback(&q, &text, &opts).await
    });
    async_api!(lua, raw, file, ctx, "copy_to", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        let to = arg_json(&l, &a, 1).map_err(bad)?;
        c.copy_to(&msg, &to).await
    });
    async_api!(lua, raw, file, ctx, "search", |c, l, a| {
        let chat = arg_json(&l, &a, 0).map_err(bad)?;
        let query = arg_str(&a, 1, "search(chat, query)").map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        c.search(&chat, &query, &opts).await
    });
    Ok(())
}

/// Registers this area's functions for Rhai.
// The API wrappers run their body in a closure so `?` works inside it.
#[allow(clippy::redundant_closure_call)]
pub(crate) fn rhai(engine: &mut Engine, ctx: &ScriptCtx, f: &str) {
    let f = f.to_string();
    with_ctx!(engine, ctx, f, "escape", |_c, _x, text: &str| escape(
        text,
        &Json::Null
    )
    .map(Json::String));
    with_ctx!(
        engine,
        ctx,
        f,
        "escape",
        |_c, _x, text: &str, mode: &str| escape(text, &json!(mode)).map(Json::String)
    );
    with_ctx!(engine, ctx, f, "send", |c, x, peer: Dynamic, text: &str| {
        block(c.send(&j!(x, &peer), text, &Json::Null))
    });
    with_ctx!(
        engine,
        ctx,
        f,
        "send",
        |c, x, peer: Dynamic, text: &str, opts: rhai::Map| {
            block(c.send(&j!(x, &peer), text, &j!(x, &Dynamic::from(opts))))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "reply",
        |c, x, msg: rhai::Map, text: &str| {
            block(c.reply(&j!(x, &Dynamic::from(msg)), text, &Json::Null))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "reply",
        |c, x, msg: rhai::Map, text: &str, opts: rhai::Map| {
            block(c.reply(
                &j!(x, &Dynamic::from(msg)),
                text,
                &j!(x, &Dynamic::from(opts)),
            ))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "edit",
        |c, x, msg: rhai::Map, text: &str| {
            block(c.edit(&j!(x, &Dynamic::from(msg)), text, &Json::Null))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "edit",
        |c, x, msg: rhai::Map, text: &str, opts: rhai::Map| {
            block(c.edit(
                &j!(x, &Dynamic::from(msg)),
                text,
                &j!(x, &Dynamic::from(opts)),
            ))
        }
    );
    with_ctx!(engine, ctx, f, "iter_history", |c, x, chat: Dynamic| block(
        c.iter_history(&j!(x, &chat), &Json::Null)
    ));
    with_ctx!(
        engine,
        ctx,
        f,
        "iter_history",
        |c, x, chat: Dynamic, opts: rhai::Map| block(
            c.iter_history(&j!(x, &chat), &j!(x, &Dynamic::from(opts)))
        )
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "get_messages",
        |c, x, chat: Dynamic, ids: Dynamic| block(c.get_messages(&j!(x, &chat), &j!(x, &ids)))
    );
    with_ctx!(engine, ctx, f, "get_reply", |c, x, msg: rhai::Map| block(
        c.get_reply(&j!(x, &Dynamic::from(msg)))
    ));
    with_ctx!(engine, ctx, f, "pin", |c, x, msg: rhai::Map| block(c.pin(
        &j!(x, &Dynamic::from(msg)),
        true,
        &Json::Null
    )));
    with_ctx!(
        engine,
        ctx,
        f,
        "pin",
        |c, x, msg: rhai::Map, opts: rhai::Map| block(c.pin(
            &j!(x, &Dynamic::from(msg)),
            true,
            &j!(x, &Dynamic::from(opts))
        ))
    );
    with_ctx!(engine, ctx, f, "unpin", |c, x, msg: rhai::Map| block(
        c.pin(&j!(x, &Dynamic::from(msg)), false, &Json::Null)
    ));
    with_ctx!(engine, ctx, f, "delete", |c, x, msg: rhai::Map| block(
        c.delete(&j!(x, &Dynamic::from(msg)))
    ));
    with_ctx!(
        engine,
        ctx,
        f,
        "forward",
        |c, x, msg: rhai::Map, to: Dynamic| {
            block(c.forward(&j!(x, &Dynamic::from(msg)), &j!(x, &to)))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "forward_to",
        |c, x, msg: rhai::Map, to: Dynamic| {
            block(c.forward(&j!(x, &Dynamic::from(msg)), &j!(x, &to)))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "react",
        |c, x, msg: rhai::Map, emoji: &str| { block(c.react(&j!(x, &Dynamic::from(msg)), emoji)) }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "click",
        |c, x, msg: rhai::Map, what: &str| { block(c.click(&j!(x, &Dynamic::from(msg)), what)) }
    );
    // `q.answer(...)` and `answer_callback(q, ...)` are one function.
    for name in ["answer", "answer_callback"] {
        with_ctx!(engine, ctx, f, name, |c, x, q: rhai::Map, text: Dynamic| {
            block(c.answer_callback(&j!(x, &Dynamic::from(q)), &j!(x, &text), &Json::Null))
        });
        with_ctx!(
            engine,
            ctx,
            f,
            name,
            |c, x, q: rhai::Map, text: Dynamic, opts: rhai::Map| {
                block(c.answer_callback(
                    &j!(x, &Dynamic::from(q)),
                    &j!(x, &text),
                    &j!(x, &Dynamic::from(opts)),
                ))
            }
        );
    }
    with_ctx!(
        engine,
        ctx,
        f,
        "copy_to",
        |c, x, msg: rhai::Map, to: Dynamic| {
            block(c.copy_to(&j!(x, &Dynamic::from(msg)), &j!(x, &to)))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "search",
        |c, x, chat: Dynamic, query: &str| { block(c.search(&j!(x, &chat), query, &Json::Null)) }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "search",
        |c, x, chat: Dynamic, query: &str, opts: rhai::Map| {
            block(c.search(&j!(x, &chat), query, &j!(x, &Dynamic::from(opts))))
        }
    );
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
