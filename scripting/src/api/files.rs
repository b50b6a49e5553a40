//! Files: downloading a message's media, uploading documents.

use super::messages::sent_message;
use super::*;
use crate::lua::bind::*;
use crate::rhai::bind::*;

impl ScriptCtx {
    /// The message `msg` (its chat and id) fetched again (fresh file references).
    pub(crate) async fn refetch(&self, msg: &Json) -> ApiResult<enums::Message> {
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
}

/// Registers this area's raw functions for Lua (the prelude wraps them).
pub(crate) fn lua(lua: &Lua, raw: &Table, file: &str, ctx: &ScriptCtx) -> mlua::Result<()> {
    // Files: bytes travel as Lua strings.
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "download",
        lua.create_async_function(move |l: Lua, msg: Value| {
            let c = c.clone();
            let at = location(&l, &f);
            async move {
                let r = match from_lua(&l, msg) {
                    Ok(m) => c.download(&m).await,
                    Err(e) => Err(bad(e)),
                };
                match r {
                    Ok(bytes) => Ok((true, Value::String(l.create_string(&bytes)?))),
                    Err(e) => api_result(&l, Err(e), &at),
                }
            }
        })?,
    )?;
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "upload",
        lua.create_async_function(
            move |l: Lua, (peer, data, opts): (Value, mlua::String, Value)| {
                let c = c.clone();
                let at = location(&l, &f);
                let bytes = data.as_bytes().to_vec();
                async move {
                    let r = match (from_lua(&l, peer), from_lua(&l, opts)) {
                        (Ok(p), Ok(o)) => c.upload(&p, &bytes, &o).await,
                        (Err(e), _) | (_, Err(e)) => Err(bad(e)),
                    };
                    api_result(&l, r, &at)
                }
            },
        )?,
    )?;
    Ok(())
}

/// Registers this area's functions for Rhai.
// The API wrappers run their body in a closure so `?` works inside it.
#[allow(clippy::redundant_closure_call)]
pub(crate) fn rhai(engine: &mut Engine, ctx: &ScriptCtx, f: &str) {
    let f = f.to_string();
    // Files: bytes travel as Rhai blobs (a string is sent as its UTF-8 bytes).
    let (c, fl) = (ctx.clone(), f.clone());
    engine.register_fn(
        "download",
        move |x: NativeCallContext, msg: rhai::Map| -> RResult<rhai::Blob> {
            let m = from_rhai(&Dynamic::from(msg))
                .map_err(|e| raise(ApiError::Bad(e), &at(&x, &fl), x.call_position()))?;
            block(c.download(&m)).map_err(|e| raise(e, &at(&x, &fl), x.call_position()))
        },
    );
    for with_opts in [false, true] {
        let (c, fl) = (ctx.clone(), f.clone());
        let up = move |x: NativeCallContext,
                       peer: Dynamic,
                       data: Dynamic,
                       opts: rhai::Map|
              -> RResult<Dynamic> {
            let bytes = if data.is_blob() {
                data.cast::<rhai::Blob>()
            } else {
                data.into_string().map(String::into_bytes).map_err(|t| {
                    raise(
                        ApiError::Bad(format!("upload: expected a blob or a string, got {t}")),
                        &at(&x, &fl),
                        x.call_position(),
                    )
                })?
            };
            let p = from_rhai(&peer)
                .map_err(|e| raise(ApiError::Bad(e), &at(&x, &fl), x.call_position()))?;
            let o = from_rhai(&Dynamic::from(opts))
                .map_err(|e| raise(ApiError::Bad(e), &at(&x, &fl), x.call_position()))?;
            block(c.upload(&p, &bytes, &o))
                .map(|v| to_rhai(&v))
                .map_err(|e| raise(e, &at(&x, &fl), x.call_position()))
        };
        if with_opts {
            engine.register_fn("upload", up);
        } else {
            engine.register_fn(
                "upload",
                move |x: NativeCallContext, peer: Dynamic, data: Dynamic| {
                    up(x, peer, data, rhai::Map::new())
                },
            );
        }
    }
}
