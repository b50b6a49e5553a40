//! Files: downloading a message's media, uploading documents.

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
        let file = self.client().upload_bytes(data, &name).await?;
        self.send_media(&target, file, &name, opts, false).await
    }

    /// `send_file(peer, path, opts)` / `send_photo(peer, path, opts)`: sends a file of the
    /// account's `media_dir` as a document (`opts.name`, `opts.mime`) or a photo, with
    /// `opts.caption` (formatted as `send`'s text: `parse_mode`, `entities`) and `send`'s
    /// other options. The file is read part by part, never whole in memory.
    pub async fn send_file(&self, peer: &Json, path: &str, opts: &Json, photo: bool) -> ApiResult {
        let target = peer_ref(peer)?;
        let full = self.media_file(path)?;
        let file = self
            .client()
            .upload_path(&full, &fleetgram_engine::media::Transfer::default())
            .await?;
        let name = opts
            .get("name")
            .and_then(Json::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                full.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
        self.send_media(&target, file, &name, opts, photo).await
    }

    /// Sends an uploaded file as a document named `name`, or a photo.
    async fn send_media(
        &self,
        target: &str,
        file: enums::InputFile,
        name: &str,
        opts: &Json,
        photo: bool,
    ) -> ApiResult {
        let media: enums::InputMedia = if photo {
            fleetgram_engine::media::photo(file)
        } else {
            let mime = opts
                .get("mime")
                .and_then(Json::as_str)
                .map_or_else(|| mime_of(name), str::to_string);
            fleetgram_engine::media::Document::new(file, &mime)
                .name(name)
                .force_file()
                .into()
        };
        let caption = opts.get("caption").and_then(Json::as_str).unwrap_or("");
        let m = self.input_message(caption, opts)?.media(media);
        self.send_input(target, m, name, opts).await
    }

    /// The file `name` of the account's `media_dir`: a relative path that stays inside it
    /// (no absolute path, no `..`, no symlink leading out).
    fn media_file(&self, name: &str) -> ApiResult<std::path::PathBuf> {
        let dir = self.account.account.media_dir.as_ref().ok_or_else(|| {
            ApiError::Bad(format!(
                "{name:?}: account {:?} has no media_dir; scripts send files only from one (add `media_dir: media` to its entry in accounts.yaml)",
                self.account.name
            ))
        })?;
        let rel = std::path::Path::new(name);
        if name.is_empty()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(ApiError::Bad(format!(
                "{name:?}: name a file inside media_dir with a relative path (no leading /, no ..)"
            )));
        }
        let root = dir
            .canonicalize()
            .map_err(|e| ApiError::Bad(format!("media_dir {}: {e}", dir.display())))?;
        let full = root
            .join(rel)
            .canonicalize()
            .map_err(|e| ApiError::Bad(format!("{name:?} in media_dir: {e}")))?;
        if !full.starts_with(&root) {
            return Err(ApiError::Bad(format!(
                "{name:?} leads outside media_dir (a symbolic link?)"
            )));
        }
        if !full.is_file() {
            return Err(ApiError::Bad(format!(
                "{name:?} in media_dir is not a file"
            )));
        }
        Ok(full)
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
    async_api!(lua, raw, file, ctx, "send_file", |c, l, a| {
        let peer = arg_json(&l, &a, 0).map_err(bad)?;
        let path = arg_str(&a, 1, "send_file(peer, path)").map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        c.send_file(&peer, &path, &opts, false).await
    });
    async_api!(lua, raw, file, ctx, "send_photo", |c, l, a| {
        let peer = arg_json(&l, &a, 0).map_err(bad)?;
        let path = arg_str(&a, 1, "send_photo(peer, path)").map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        c.send_file(&peer, &path, &opts, true).await
    });
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
    for (name, photo) in [("send_file", false), ("send_photo", true)] {
        let (c, fl) = (ctx.clone(), f.clone());
        let sendf = move |x: &NativeCallContext, peer: Dynamic, path: &str, opts: rhai::Map| {
            let fail = |e| raise(e, &at(x, &fl), x.call_position());
            let p = from_rhai(&peer).map_err(|e| fail(ApiError::Bad(e)))?;
            let o = from_rhai(&Dynamic::from_map(opts)).map_err(|e| fail(ApiError::Bad(e)))?;
            block(c.send_file(&p, path, &o, photo))
                .map(|v| to_rhai(&v))
                .map_err(fail)
        };
        let s2 = sendf.clone();
        engine.register_fn(
            name,
            move |x: NativeCallContext, peer: Dynamic, path: &str| -> RResult<Dynamic> {
                s2(&x, peer, path, rhai::Map::new())
            },
        );
        engine.register_fn(
            name,
            move |x: NativeCallContext,
                  peer: Dynamic,
                  path: &str,
                  opts: rhai::Map|
                  -> RResult<Dynamic> { sendf(&x, peer, path, opts) },
        );
    }
}

/// A MIME type from a file name's extension (the common ones; others are binary).
fn mime_of(name: &str) -> String {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("mp4") => "video/mp4",
        Some("mp3") => "audio/mpeg",
        Some("ogg") => "audio/ogg",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("json") => "application/json",
        Some("txt" | "md" | "log") => "text/plain",
        Some("csv") => "text/csv",
        Some("html" | "htm") => "text/html",
        _ => "application/octet-stream",
    }
    .to_string()
}
