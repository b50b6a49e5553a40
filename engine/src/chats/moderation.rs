//! Moderating groups and channels: bans, restrictions, admins, join requests and invite
//! links.

use super::*;

/// Options of a new invite link.
#[derive(Debug, Clone, Default)]
pub struct InviteOptions {
    /// Unix time it stops working.
    pub expire_date: Option<i32>,
    /// How many may join with it.
    pub usage_limit: Option<i32>,
    /// Joining needs an admin's approval (a join request).
    pub request_needed: bool,
    /// Its name, for the admins.
    pub title: Option<String>,
}

/// The `InputUser` of a peer that must be a user.
pub(super) fn input_user(p: enums::InputPeer) -> Result<enums::InputUser, InvocationError> {
    crate::peers::input_user(&p).ok_or_else(|| InvocationError::BadRequest("not a user".into()))
}

/// The link's hash from `https://t.me/+HASH`, `https://t.me/joinchat/HASH` or a bare hash.
pub fn invite_hash(link: &str) -> &str {
    let l = link
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("t.me/")
        .trim_start_matches("telegram.me/");
    l.strip_prefix("joinchat/")
        .or_else(|| l.strip_prefix('+'))
        .unwrap_or(l)
}

impl Client {
    /// Bans `user` from a group or channel until unix time `until` (0: for ever).
    ///
    /// # Errors
    /// `CHAT_ADMIN_REQUIRED`, `USER_ADMIN_INVALID`...
    pub async fn ban(
        &self,
        chat: impl Into<PeerRef>,
        user: impl Into<PeerRef>,
        until: i32,
    ) -> Result<(), InvocationError> {
        self.restrict(
            chat,
            user,
            types::ChatBannedRights {
                view_messages: true,
                until_date: until,
                ..Default::default()
            },
        )
        .await
    }

    /// Lifts every restriction of `user` in a supergroup or channel (and lets a banned user
    /// join again).
    ///
    /// # Errors
    /// As [`Client::ban`].
    pub async fn unban(
        &self,
        chat: impl Into<PeerRef>,
        user: impl Into<PeerRef>,
    ) -> Result<(), InvocationError> {
        self.restrict(chat, user, types::ChatBannedRights::default())
            .await
    }

    /// Removes `user` from a group or channel without banning them.
    ///
    /// # Errors
    /// As [`Client::ban`].
    pub async fn kick(
        &self,
        chat: impl Into<PeerRef>,
        user: impl Into<PeerRef>,
    ) -> Result<(), InvocationError> {
        let (chat, user) = (chat.into(), user.into());
        let peer = self.resolve_peer_ref(&chat).await?;
        if let enums::InputPeer::Chat(c) = peer {
            let u = input_user(self.resolve_peer_ref(&user).await?)?;
            return self
                .invoke(&functions::messages::DeleteChatUser {
                    revoke_history: false,
                    chat_id: c.chat_id,
                    user_id: u,
                })
                .await
                .map(|_| ());
        }
        // Telegram's way: a ban, lifted at once.
        self.ban(chat.clone(), user.clone(), 0).await?;
        self.unban(chat, user).await
    }

    /// Sets what `user` may not do in a supergroup (`rights` with `until_date`; a basic
    /// group only bans, by removing the user).
    ///
    /// # Errors
    /// As [`Client::ban`].
    pub async fn restrict(
        &self,
        chat: impl Into<PeerRef>,
        user: impl Into<PeerRef>,
        rights: types::ChatBannedRights,
    ) -> Result<(), InvocationError> {
        let peer = self.resolve_peer_ref(&chat.into()).await?;
        let participant = self.resolve_peer_ref(&user.into()).await?;
        match (input_channel(&peer), peer) {
            (Some(channel), _) => self
                .invoke(&functions::channels::EditBanned {
                    channel,
                    participant,
                    banned_rights: rights.into(),
                })
                .await
                .map(|_| ()),
            (None, enums::InputPeer::Chat(c)) if rights.view_messages => self
                .invoke(&functions::messages::DeleteChatUser {
                    revoke_history: false,
                    chat_id: c.chat_id,
                    user_id: input_user(participant)?,
                })
                .await
                .map(|_| ()),
            _ => Err(InvocationError::BadRequest(
                "restrictions apply to supergroups and channels (a basic group can only remove)"
                    .into(),
            )),
        }
    }

    /// Makes `user` an admin of a supergroup or channel with `rights` (and a `rank`).
    ///
    /// # Errors
    /// `CHAT_ADMIN_REQUIRED`, `RIGHT_FORBIDDEN`, `ADMIN_RANK_INVALID`...
    pub async fn promote(
        &self,
        chat: impl Into<PeerRef>,
        user: impl Into<PeerRef>,
        rights: types::ChatAdminRights,
        rank: Option<&str>,
    ) -> Result<(), InvocationError> {
        let peer = self.resolve_peer_ref(&chat.into()).await?;
        let channel = input_channel(&peer).ok_or_else(|| {
            InvocationError::BadRequest(
                "admins with rights exist in supergroups and channels".into(),
            )
        })?;
        let user_id = input_user(self.resolve_peer_ref(&user.into()).await?)?;
        self.invoke(&functions::channels::EditAdmin {
            channel,
            user_id,
            admin_rights: rights.into(),
            rank: rank.map(str::to_string),
        })
        .await
        .map(|_| ())
    }

    /// Approves (or declines) `user`'s request to join `chat`.
    ///
    /// # Errors
    /// `HIDE_REQUESTER_MISSING` (no such request), `CHAT_ADMIN_REQUIRED`...
    pub async fn answer_join_request(
        &self,
        chat: impl Into<PeerRef>,
        user: impl Into<PeerRef>,
        approve: bool,
    ) -> Result<(), InvocationError> {
        let peer = self.resolve_peer_ref(&chat.into()).await?;
        let user_id = input_user(self.resolve_peer_ref(&user.into()).await?)?;
        self.invoke(&functions::messages::HideChatJoinRequest {
            approved: approve,
            peer,
            user_id,
        })
        .await
        .map(|_| ())
    }

    /// A new invite link of `chat`.
    ///
    /// # Errors
    /// `CHAT_ADMIN_REQUIRED`...
    pub async fn export_invite_link(
        &self,
        chat: impl Into<PeerRef>,
        opts: &InviteOptions,
    ) -> Result<types::ChatInviteExported, InvocationError> {
        let peer = self.resolve_peer_ref(&chat.into()).await?;
        let r = self
            .invoke(&functions::messages::ExportChatInvite {
                legacy_revoke_permanent: false,
                request_needed: opts.request_needed,
                peer,
                expire_date: opts.expire_date,
                usage_limit: opts.usage_limit,
                title: opts.title.clone(),
                subscription_pricing: None,
            })
            .await?;
        match r {
            enums::ExportedChatInvite::ChatInviteExported(x) => Ok(*x),
            enums::ExportedChatInvite::ChatInvitePublicJoinRequests => {
                Err(InvocationError::Decode {
                    method: "messages.exportChatInvite".into(),
                    reason: "no link in the answer".into(),
                })
            }
        }
    }

    /// Joins a chat through an invite link (`https://t.me/+HASH` or the hash); with a link
    /// that needs approval this sends a join request (`INVITE_REQUEST_SENT`).
    ///
    /// # Errors
    /// `INVITE_HASH_EXPIRED`, `INVITE_REQUEST_SENT`, `USER_ALREADY_PARTICIPANT`...
    pub async fn join_by_invite(&self, link: &str) -> Result<(), InvocationError> {
        self.invoke(&functions::messages::ImportChatInvite {
            hash: invite_hash(link).to_string(),
        })
        .await
        .map(|_| ())
    }
}
