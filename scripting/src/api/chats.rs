//! Users and chats: peers as objects and their mentions, members and rights, bans,
//! dialogs.

use super::*;
use crate::lua::bind::*;
use crate::rhai::bind::*;

impl ScriptCtx {
    /// `restrict(chat, user, opts)`: takes rights from a member of a supergroup: those
    /// `opts.deny` names (chatBannedRights' flags: `send_messages`, `send_media`,
    /// `embed_links`, `invite_users`...), by default every kind of sending (a mute); until
    /// `opts.until_date` (unix time; forever by default). `unrestrict` gives them back.
    pub async fn restrict(&self, chat: &Json, user: &Json, opts: &Json) -> ApiResult {
        const MUTE: &[&str] = &[
            "send_messages",
            "send_media",
            "send_stickers",
            "send_gifs",
            "send_games",
            "send_inline",
            "embed_links",
            "send_polls",
            "send_photos",
            "send_videos",
            "send_roundvideos",
            "send_audios",
            "send_voices",
            "send_docs",
            "send_plain",
        ];
        let until = until_date(opts);
        let mut rights = json!({"_": "chatBannedRights", "until_date": until});
        let flags = dynamic::schema()
            .get("chatBannedRights")
            .map(|d| {
                d.params
                    .iter()
                    .filter(|p| p.name != "until_date" && p.name != "flags")
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let deny: Vec<String> = match opts.get("deny").filter(|d| !d.is_null()) {
            None => MUTE.iter().map(|s| s.to_string()).collect(),
            Some(Json::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        ApiError::Bad(format!("restrict: deny lists rights by name, not {v}"))
                    })
                })
                .collect::<ApiResult<_>>()?,
            Some(Json::String(one)) => vec![one.clone()],
            Some(other) => {
                return Err(ApiError::Bad(format!(
                    "restrict: deny must be a list of rights, not {}",
                    kind_of(other)
                )))
            }
        };
        for d in &deny {
            if !flags.iter().any(|f| f == d) || d == "view_messages" {
                return Err(ApiError::Bad(format!(
                    "restrict: {d:?} is not a right to take (one of {}; to remove someone, ban)",
                    flags
                        .iter()
                        .filter(|f| *f != "view_messages")
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            rights[d.as_str()] = json!(true);
        }
        let value = dynamic::schema()
            .object_from_json(&rights)
            .and_then(|o| dynamic::schema().encode(&o))
            .map_err(|e| ApiError::Bad(format!("restrict: {e}")))?;
        let enums::ChatBannedRights::ChatBannedRights(r) =
            <enums::ChatBannedRights as fleetgram_tl::Deserializable>::from_bytes(&value)
                .map_err(|e| ApiError::Other(format!("restrict: {e}")))?;
        self.client()
            .restrict(peer_ref(chat)?, peer_ref(user)?, r)
            .await?;
        Ok(Json::Bool(true))
    }

    /// `unrestrict(chat, user)`: gives a restricted member their rights back.
    pub async fn unrestrict(&self, chat: &Json, user: &Json) -> ApiResult {
        self.client()
            .unban(peer_ref(chat)?, peer_ref(user)?)
            .await?;
        Ok(Json::Bool(true))
    }

    /// `ban(chat, user, opts)`: bans `user` from a group or channel (`opts.until_date` unix
    /// time; `opts.kick` removes without banning).
    pub async fn ban(&self, chat: &Json, user: &Json, opts: &Json) -> ApiResult {
        let (chat, user) = (peer_ref(chat)?, peer_ref(user)?);
        if opts.get("kick").and_then(Json::as_bool).unwrap_or(false) {
            self.client().kick(chat, user).await?;
        } else {
            let until = until_date(opts) as i32;
            self.client().ban(chat, user, until).await?;
        }
        Ok(Json::Bool(true))
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
            out["until_date"] = json!(r.until_date);
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

/// `opts.until_date` (unix time; 0, the default, is forever). `until` is read too, for
/// Rhai and JSON callers (Lua and Rhai both reserve the word, so scripts write `until_date`).
fn until_date(opts: &Json) -> i64 {
    opts.get("until_date")
        .or_else(|| opts.get("until"))
        .and_then(Json::as_i64)
        .unwrap_or(0)
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

/// Registers this area's raw functions for Lua (the prelude wraps them).
pub(crate) fn lua(lua: &Lua, raw: &Table, file: &str, ctx: &ScriptCtx) -> mlua::Result<()> {
    async_api!(lua, raw, file, ctx, "iter_dialogs", |c, l, a| {
        let opts = arg_json(&l, &a, 0).map_err(bad)?;
        c.iter_dialogs(&opts).await
    });
    async_api!(lua, raw, file, ctx, "iter_participants", |c, l, a| {
        let chat = arg_json(&l, &a, 0).map_err(bad)?;
        let opts = arg_json(&l, &a, 1).map_err(bad)?;
        c.iter_participants(&chat, &opts).await
    });
    async_api!(lua, raw, file, ctx, "restrict", |c, l, a| {
        let chat = arg_json(&l, &a, 0).map_err(bad)?;
        let user = arg_json(&l, &a, 1).map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        c.restrict(&chat, &user, &opts).await
    });
    async_api!(lua, raw, file, ctx, "unrestrict", |c, l, a| {
        let chat = arg_json(&l, &a, 0).map_err(bad)?;
        let user = arg_json(&l, &a, 1).map_err(bad)?;
        c.unrestrict(&chat, &user).await
    });
    async_api!(lua, raw, file, ctx, "ban", |c, l, a| {
        let chat = arg_json(&l, &a, 0).map_err(bad)?;
        let user = arg_json(&l, &a, 1).map_err(bad)?;
        let opts = arg_json(&l, &a, 2).map_err(bad)?;
        c.ban(&chat, &user, &opts).await
    });
    async_api!(lua, raw, file, ctx, "get_peer", |c, l, a| {
        let peer = arg_json(&l, &a, 0).map_err(bad)?;
        c.get_peer(&peer).await
    });
    async_api!(lua, raw, file, ctx, "sender", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        c.sender(&msg).await
    });
    async_api!(lua, raw, file, ctx, "chat", |c, l, a| {
        let msg = arg_json(&l, &a, 0).map_err(bad)?;
        c.chat(&msg).await
    });
    async_api!(lua, raw, file, ctx, "participant", |c, l, a| {
        let chat = arg_json(&l, &a, 0).map_err(bad)?;
        let user = arg_json(&l, &a, 1).map_err(bad)?;
        c.participant(&chat, &user).await
    });
    raw.set(
        "mention",
        lua.create_function(move |l, (peer, mode): (Value, Value)| {
            let r = (|| {
                let peer = from_lua(l, peer).map_err(bad)?;
                let mode = from_lua(l, mode).map_err(bad)?;
                crate::api::mention(&peer, &mode).map(Json::String)
            })();
            api_result(l, r, &location(l, "mention"))
        })?,
    )?;
    Ok(())
}

/// Registers this area's functions for Rhai.
// The API wrappers run their body in a closure so `?` works inside it.
#[allow(clippy::redundant_closure_call)]
pub(crate) fn rhai(engine: &mut Engine, ctx: &ScriptCtx, f: &str) {
    let f = f.to_string();
    with_ctx!(engine, ctx, f, "iter_dialogs", |c, x| block(
        c.iter_dialogs(&Json::Null)
    ));
    with_ctx!(engine, ctx, f, "iter_dialogs", |c, x, opts: rhai::Map| {
        block(c.iter_dialogs(&j!(x, &Dynamic::from(opts))))
    });
    with_ctx!(
        engine,
        ctx,
        f,
        "iter_participants",
        |c, x, chat: Dynamic| block(c.iter_participants(&j!(x, &chat), &Json::Null))
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "iter_participants",
        |c, x, chat: Dynamic, opts: rhai::Map| block(
            c.iter_participants(&j!(x, &chat), &j!(x, &Dynamic::from(opts)))
        )
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "ban",
        |c, x, chat: Dynamic, user: Dynamic| {
            block(c.ban(&j!(x, &chat), &j!(x, &user), &Json::Null))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "ban",
        |c, x, chat: Dynamic, user: Dynamic, opts: rhai::Map| {
            block(c.ban(&j!(x, &chat), &j!(x, &user), &j!(x, &Dynamic::from(opts))))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "restrict",
        |c, x, chat: Dynamic, user: Dynamic| {
            block(c.restrict(&j!(x, &chat), &j!(x, &user), &Json::Null))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "restrict",
        |c, x, chat: Dynamic, user: Dynamic, opts: rhai::Map| {
            block(c.restrict(&j!(x, &chat), &j!(x, &user), &j!(x, &Dynamic::from(opts))))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "unrestrict",
        |c, x, chat: Dynamic, user: Dynamic| { block(c.unrestrict(&j!(x, &chat), &j!(x, &user))) }
    );
    with_ctx!(engine, ctx, f, "sender", |c, x, msg: rhai::Map| block(
        c.sender(&j!(x, &Dynamic::from(msg)))
    ));
    with_ctx!(engine, ctx, f, "chat", |c, x, msg: rhai::Map| block(
        c.chat(&j!(x, &Dynamic::from(msg)))
    ));
    with_ctx!(engine, ctx, f, "get_peer", |c, x, peer: Dynamic| block(
        c.get_peer(&j!(x, &peer))
    ));
    with_ctx!(engine, ctx, f, "mention", |_c, x, peer: rhai::Map| {
        crate::api::mention(&j!(x, &Dynamic::from(peer)), &Json::Null).map(Json::String)
    });
    with_ctx!(
        engine,
        ctx,
        f,
        "mention",
        |_c, x, peer: rhai::Map, mode: &str| {
            crate::api::mention(&j!(x, &Dynamic::from(peer)), &json!(mode)).map(Json::String)
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "participant",
        |c, x, chat: Dynamic, user: Dynamic| { block(c.participant(&j!(x, &chat), &j!(x, &user))) }
    );
}
