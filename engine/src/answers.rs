//! Reading updates out of what the server sends: pushed `Updates` objects made into
//! batches (short forms expanded), the answers to the account's own calls (which carry
//! updates, or only a place in a sequence), and where an update sits in the sequences.

use crate::state::UpdateState;
use fleetgram_tl::{enums, functions, types, Deserializable};

pub(crate) fn state_of(s: &enums::updates::State) -> UpdateState {
    let enums::updates::State::State(s) = s;
    UpdateState {
        pts: s.pts,
        qts: s.qts,
        date: s.date,
        seq: s.seq,
        skip: 0,
    }
}

/// `(pts, pts_count)` of an update in the common sequence.
pub(crate) fn common_pts(u: &enums::Update) -> Option<(i32, i32)> {
    use enums::Update as U;
    Some(match u {
        U::NewMessage(x) => (x.pts, x.pts_count),
        U::DeleteMessages(x) => (x.pts, x.pts_count),
        U::ReadHistoryInbox(x) => (x.pts, x.pts_count),
        U::ReadHistoryOutbox(x) => (x.pts, x.pts_count),
        U::WebPage(x) => (x.pts, x.pts_count),
        U::ReadMessagesContents(x) => (x.pts, x.pts_count),
        U::EditMessage(x) => (x.pts, x.pts_count),
        U::FolderPeers(x) => (x.pts, x.pts_count),
        U::PinnedMessages(x) => (x.pts, x.pts_count),
        _ => return None,
    })
}

/// `(channel, pts, pts_count)` of an update in a channel's sequence.
pub(crate) fn channel_pts(u: &enums::Update) -> Option<(i64, i32, i32)> {
    use enums::Update as U;
    let of_message = |m: &enums::Message| match m {
        enums::Message::Message(m) => match &m.peer_id {
            enums::Peer::Channel(c) => Some(c.channel_id),
            _ => None,
        },
        enums::Message::Service(m) => match &m.peer_id {
            enums::Peer::Channel(c) => Some(c.channel_id),
            _ => None,
        },
        enums::Message::Empty(_) => None,
    };
    match u {
        U::NewChannelMessage(x) if x.pts_count > 0 => {
            Some((of_message(&x.message)?, x.pts, x.pts_count))
        }
        U::EditChannelMessage(x) if x.pts_count > 0 => {
            Some((of_message(&x.message)?, x.pts, x.pts_count))
        }
        U::DeleteChannelMessages(x) => Some((x.channel_id, x.pts, x.pts_count)),
        U::PinnedChannelMessages(x) => Some((x.channel_id, x.pts, x.pts_count)),
        U::ChannelWebPage(x) => Some((x.channel_id, x.pts, x.pts_count)),
        _ => None,
    }
}

/// The qts of an update in the account's qts sequence.
pub(crate) fn update_qts(u: &enums::Update) -> Option<i32> {
    use enums::Update as U;
    Some(match u {
        U::NewEncryptedMessage(x) => x.qts,
        U::MessagePollVote(x) => x.qts,
        U::ChatParticipant(x) => x.qts,
        U::ChannelParticipant(x) => x.qts,
        U::BotStopped(x) => x.qts,
        U::BotChatInviteRequester(x) => x.qts,
        U::BotChatBoost(x) => x.qts,
        U::BotMessageReaction(x) => x.qts,
        U::BotMessageReactions(x) => x.qts,
        U::BotBusinessConnect(x) => x.qts,
        U::BotNewBusinessMessage(x) => x.qts,
        U::BotEditBusinessMessage(x) => x.qts,
        U::BotDeleteBusinessMessage(x) => x.qts,
        U::BotPurchasedPaidMedia(x) => x.qts,
        U::ManagedBot(x) => x.qts,
        U::BotGuestChatQuery(x) => x.qts,
        U::BotStarsSubscription(x) => x.qts,
        _ => return None,
    })
}

/// Whether the answer `bytes` to a call carries updates (an `Updates` object, or one inside
/// `messages.invitedUsers` / `messages.chatInviteJoinResultOk`).
pub(crate) fn answer_carries_updates(bytes: &[u8]) -> bool {
    use fleetgram_tl::Identifiable;
    let Some(id) = bytes
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return false;
    };
    [
        types::Updates::CONSTRUCTOR_ID,
        types::UpdatesCombined::CONSTRUCTOR_ID,
        types::UpdateShort::CONSTRUCTOR_ID,
        types::UpdateShortMessage::CONSTRUCTOR_ID,
        types::UpdateShortChatMessage::CONSTRUCTOR_ID,
        types::UpdateShortSentMessage::CONSTRUCTOR_ID,
        types::messages::InvitedUsers::CONSTRUCTOR_ID,
        types::messages::ChatInviteJoinResultOk::CONSTRUCTOR_ID,
        types::messages::AffectedMessages::CONSTRUCTOR_ID,
        types::messages::AffectedHistory::CONSTRUCTOR_ID,
    ]
    .contains(&id)
}

/// The update a `messages.affectedMessages` answer stands for, made from the request when
/// the request says everything it holds: deleted messages (in a chat or a channel) and read
/// message contents. Telegram does not send it to the calling session, so without this the
/// next update would open a gap and cost a difference.
pub(crate) fn affected_update(request: &[u8], pts: i32, pts_count: i32) -> Option<enums::Update> {
    use fleetgram_tl::Identifiable;
    if pts_count == 0 {
        return None; // nothing changed
    }
    let rid = u32::from_le_bytes(request.get(..4)?.try_into().ok()?);
    Some(
        if rid == functions::messages::DeleteMessages::CONSTRUCTOR_ID {
            let r = functions::messages::DeleteMessages::from_bytes(request).ok()?;
            types::UpdateDeleteMessages {
                messages: r.id,
                pts,
                pts_count,
            }
            .into()
        } else if rid == functions::messages::ReadMessageContents::CONSTRUCTOR_ID {
            let r = functions::messages::ReadMessageContents::from_bytes(request).ok()?;
            types::UpdateReadMessagesContents {
                messages: r.id,
                pts,
                pts_count,
                date: None,
            }
            .into()
        } else if rid == functions::channels::DeleteMessages::CONSTRUCTOR_ID {
            let r = functions::channels::DeleteMessages::from_bytes(request).ok()?;
            let channel_id = match r.channel {
                enums::InputChannel::InputChannel(c) => c.channel_id,
                enums::InputChannel::FromMessage(c) => c.channel_id,
                enums::InputChannel::Empty => return None,
            };
            types::UpdateDeleteChannelMessages {
                channel_id,
                messages: r.id,
                pts,
                pts_count,
            }
            .into()
        } else {
            // `readHistory` and the like: the answer does not say what the update holds (the
            // count still unread); a later gap fetches the real one.
            return None;
        },
    )
}

/// The place in a pts sequence (the account's common one, or with `Some(channel)` a
/// channel's) that the answer to one of its own calls takes without saying what its updates
/// hold (`readHistory`, `readMentions`, `deleteHistory`, `unpinAllMessages`,
/// `readReactions`): the stream steps over it, as Telegram does not send those updates to
/// the session that caused them. Without this the next update would open a gap (a wait,
/// then a difference).
pub(crate) fn answer_pts_only(request: &[u8], answer: &[u8]) -> Option<(Option<i64>, i32, i32)> {
    use fleetgram_tl::Identifiable;
    let id = u32::from_le_bytes(answer.get(..4)?.try_into().ok()?);
    let (pts, count) = if id == types::messages::AffectedMessages::CONSTRUCTOR_ID {
        let enums::messages::AffectedMessages::AffectedMessages(a) =
            enums::messages::AffectedMessages::from_bytes(answer).ok()?;
        (a.pts, a.pts_count)
    } else if id == types::messages::AffectedHistory::CONSTRUCTOR_ID {
        let enums::messages::AffectedHistory::AffectedHistory(a) =
            enums::messages::AffectedHistory::from_bytes(answer).ok()?;
        (a.pts, a.pts_count)
    } else {
        return None;
    };
    let rid = u32::from_le_bytes(request.get(..4)?.try_into().ok()?);
    use functions::messages as m;
    let peer = if rid == m::ReadHistory::CONSTRUCTOR_ID {
        m::ReadHistory::from_bytes(request).ok()?.peer
    } else if rid == m::ReadMentions::CONSTRUCTOR_ID {
        m::ReadMentions::from_bytes(request).ok()?.peer
    } else if rid == m::DeleteHistory::CONSTRUCTOR_ID {
        m::DeleteHistory::from_bytes(request).ok()?.peer
    } else if rid == m::UnpinAllMessages::CONSTRUCTOR_ID {
        m::UnpinAllMessages::from_bytes(request).ok()?.peer
    } else if rid == m::ReadReactions::CONSTRUCTOR_ID {
        m::ReadReactions::from_bytes(request).ok()?.peer
    } else {
        return None;
    };
    // In a channel the numbers are the channel's own sequence.
    let channel = match peer {
        enums::InputPeer::Channel(c) => Some(c.channel_id),
        enums::InputPeer::ChannelFromMessage(c) => Some(c.channel_id),
        _ => None,
    };
    (count > 0).then_some((channel, pts, count))
}

/// The updates in the answer to one of the account's own calls. `updateShortSentMessage`
/// is made into the message it stands for from the request (`messages.sendMessage` /
/// `sendMedia`); `None` when that is not possible (a later gap then fetches the difference).
pub(crate) fn answer_updates(
    request: &[u8],
    answer: &[u8],
    me: Option<i64>,
) -> Option<enums::Updates> {
    use fleetgram_tl::Identifiable;
    let id = u32::from_le_bytes(answer.get(..4)?.try_into().ok()?);
    if id == types::messages::InvitedUsers::CONSTRUCTOR_ID {
        let enums::messages::InvitedUsers::InvitedUsers(i) =
            enums::messages::InvitedUsers::from_bytes(answer).ok()?;
        return Some(i.updates);
    }
    if id == types::messages::ChatInviteJoinResultOk::CONSTRUCTOR_ID {
        return match enums::messages::ChatInviteJoinResult::from_bytes(answer).ok()? {
            enums::messages::ChatInviteJoinResult::Ok(r) => Some(r.updates),
            _ => None,
        };
    }
    if id == types::messages::AffectedMessages::CONSTRUCTOR_ID {
        let enums::messages::AffectedMessages::AffectedMessages(a) =
            enums::messages::AffectedMessages::from_bytes(answer).ok()?;
        return affected_update(request, a.pts, a.pts_count)
            .map(|update| types::UpdateShort { update, date: 0 }.into());
    }
    let updates = enums::Updates::from_bytes(answer).ok()?;
    let enums::Updates::UpdateShortSentMessage(sent) = updates else {
        return Some(updates);
    };
    if sent.pts_count == 0 {
        return None; // a repeated random_id: nothing new
    }
    let rid = u32::from_le_bytes(request.get(..4)?.try_into().ok()?);
    let (peer, text, entities, reply_to, silent, markup) =
        if rid == functions::messages::SendMessage::CONSTRUCTOR_ID {
            let r = functions::messages::SendMessage::from_bytes(request).ok()?;
            (
                r.peer,
                r.message,
                r.entities,
                r.reply_to,
                r.silent,
                r.reply_markup,
            )
        } else if rid == functions::messages::SendMedia::CONSTRUCTOR_ID {
            let r = functions::messages::SendMedia::from_bytes(request).ok()?;
            (
                r.peer,
                r.message,
                r.entities,
                r.reply_to,
                r.silent,
                r.reply_markup,
            )
        } else {
            return None;
        };
    let me = me?;
    let peer: enums::Peer = match peer {
        enums::InputPeer::InputPeerSelf => types::PeerUser { user_id: me }.into(),
        enums::InputPeer::User(u) => types::PeerUser { user_id: u.user_id }.into(),
        enums::InputPeer::UserFromMessage(u) => types::PeerUser { user_id: u.user_id }.into(),
        enums::InputPeer::Chat(c) => types::PeerChat { chat_id: c.chat_id }.into(),
        _ => return None,
    };
    let reply_to = match reply_to {
        Some(enums::InputReplyTo::Message(r)) => Some(
            types::MessageReplyHeader {
                reply_to_msg_id: Some(r.reply_to_msg_id),
                ..Default::default()
            }
            .into(),
        ),
        _ => None,
    };
    let mut msg = short_message(
        true,
        false,
        false,
        silent,
        sent.id,
        Some(types::PeerUser { user_id: me }.into()),
        peer,
        text,
        sent.date,
        None,
        None,
        reply_to,
        sent.entities.or(entities),
        sent.ttl_period,
    );
    if let enums::Message::Message(m) = &mut msg {
        m.media = sent.media;
        m.reply_markup = markup;
    }
    Some(
        types::UpdateShort {
            update: types::UpdateNewMessage {
                message: msg,
                pts: sent.pts,
                pts_count: sent.pts_count,
            }
            .into(),
            date: sent.date,
        }
        .into(),
    )
}

/// A `message` built from the fields of a short update.
#[allow(clippy::too_many_arguments)]
pub(crate) fn short_message(
    out: bool,
    mentioned: bool,
    media_unread: bool,
    silent: bool,
    id: i32,
    from_id: Option<enums::Peer>,
    peer_id: enums::Peer,
    message: String,
    date: i32,
    fwd_from: Option<enums::MessageFwdHeader>,
    via_bot_id: Option<i64>,
    reply_to: Option<enums::MessageReplyHeader>,
    entities: Option<Vec<enums::MessageEntity>>,
    ttl_period: Option<i32>,
) -> enums::Message {
    types::Message {
        out,
        mentioned,
        media_unread,
        silent,
        post: false,
        from_scheduled: false,
        legacy: false,
        edit_hide: false,
        pinned: false,
        noforwards: false,
        invert_media: false,
        offline: false,
        video_processing_pending: false,
        paid_suggested_post_stars: false,
        paid_suggested_post_ton: false,
        id,
        from_id,
        from_boosts_applied: None,
        from_rank: None,
        peer_id,
        saved_peer_id: None,
        fwd_from,
        via_bot_id,
        via_business_bot_id: None,
        guestchat_via_from: None,
        reply_to,
        date,
        message,
        media: None,
        reply_markup: None,
        entities,
        views: None,
        forwards: None,
        replies: None,
        edit_date: None,
        post_author: None,
        grouped_id: None,
        reactions: None,
        restriction_reason: None,
        ttl_period,
        quick_reply_shortcut_id: None,
        effect: None,
        factcheck: None,
        report_delivery_until_date: None,
        paid_message_stars: None,
        suggested_post: None,
        schedule_repeat_period: None,
        summary_from_language: None,
        rich_message: None,
    }
    .into()
}

/// What a pushed `Updates` object means.
pub(crate) enum Pushed {
    /// Updates with their users/chats.
    Batch(Batch),
    /// `updatesTooLong`: fetch the difference.
    TooLong,
}

pub(crate) fn flatten(u: enums::Updates, me: Option<i64>) -> Pushed {
    use enums::Updates as U;
    let new_message = |message: enums::Message, pts, pts_count| {
        enums::Update::NewMessage(Box::new(types::UpdateNewMessage {
            message,
            pts,
            pts_count,
        }))
    };
    match u {
        U::TooLong => Pushed::TooLong,
        U::UpdateShortMessage(m) => {
            let m = *m;
            let peer = enums::Peer::User(types::PeerUser { user_id: m.user_id });
            let (from, peer) = if m.out {
                (
                    me.map(|id| enums::Peer::User(types::PeerUser { user_id: id })),
                    peer,
                )
            } else {
                (Some(peer.clone()), peer)
            };
            let msg = short_message(
                m.out,
                m.mentioned,
                m.media_unread,
                m.silent,
                m.id,
                from,
                peer,
                m.message,
                m.date,
                m.fwd_from,
                m.via_bot_id,
                m.reply_to,
                m.entities,
                m.ttl_period,
            );
            Pushed::Batch(Batch::new(
                vec![new_message(msg, m.pts, m.pts_count)],
                m.date,
            ))
        }
        U::UpdateShortChatMessage(m) => {
            let m = *m;
            let msg = short_message(
                m.out,
                m.mentioned,
                m.media_unread,
                m.silent,
                m.id,
                Some(enums::Peer::User(types::PeerUser { user_id: m.from_id })),
                enums::Peer::Chat(types::PeerChat { chat_id: m.chat_id }),
                m.message,
                m.date,
                m.fwd_from,
                m.via_bot_id,
                m.reply_to,
                m.entities,
                m.ttl_period,
            );
            Pushed::Batch(Batch::new(
                vec![new_message(msg, m.pts, m.pts_count)],
                m.date,
            ))
        }
        U::UpdateShort(s) => Pushed::Batch(Batch::new(vec![s.update], s.date)),
        U::Combined(c) => Pushed::Batch(Batch {
            updates: c.updates,
            users: c.users,
            chats: c.chats,
            date: c.date,
            seq_start: c.seq_start,
            seq: c.seq,
        }),
        U::Updates(c) => Pushed::Batch(Batch {
            updates: c.updates,
            users: c.users,
            chats: c.chats,
            date: c.date,
            seq_start: c.seq,
            seq: c.seq,
        }),
        // Only ever the answer to our own sendMessage (made into a message before this).
        U::UpdateShortSentMessage(_) => Pushed::Batch(Batch::new(vec![], 0)),
    }
}

/// Updates that came together, with their users/chats and place in the seq sequence.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub updates: Vec<enums::Update>,
    pub users: Vec<enums::User>,
    pub chats: Vec<enums::Chat>,
    pub date: i32,
    /// `seq_start..=seq` of the container; 0 when not in the sequence.
    pub seq_start: i32,
    pub seq: i32,
}

impl Batch {
    pub fn new(updates: Vec<enums::Update>, date: i32) -> Self {
        Self {
            updates,
            users: vec![],
            chats: vec![],
            date,
            seq_start: 0,
            seq: 0,
        }
    }
}
