//! Durable, ordered, at-least-once update delivery for the common (pts) sequence.
//!
//! [`Client::updates`] opens an [`UpdateStream`]: it first catches up from the state
//! committed in the store (`updates.getDifference`, slices looped to the end; a fresh
//! account starts from `updates.getState`), then follows live pushes, checking each
//! update's `pts`/`pts_count`: a duplicate is skipped, a gap waits briefly for the missing
//! update and then fetches the difference. `updatesTooLong` and a new server session also
//! fetch the difference.
//!
//! The stream hands updates out in order; [`UpdateStream::ack`] marks one as handled, and
//! the state is committed to the store only up to the last update whose predecessors are
//! all acknowledged. A consumer that stops (or crashes) before acknowledging gets the
//! unacknowledged updates again on the next start.
//!
//! Channels have their own pts sequences: each channel's updates are checked the same way
//! (duplicates skipped, a gap waits briefly, then `updates.getChannelDifference`), its pts
//! is committed with the acknowledgements, and on start every channel with a stored pts is
//! caught up. `updateChannelTooLong` fetches that channel's difference.
//!
//! The qts sequence (the updates bots get about participants, reactions, votes, stops and
//! boosts) is checked the same way (a gap waits, then the difference is fetched with the
//! local qts), and so is the seq of `updates` / `updatesCombined` containers: a container
//! whose `seq_start` is ahead of the local seq is held until the missing one arrives or the
//! gap times out. The answers to the account's own calls (`messages.sendMessage` and the
//! like) take part in these sequences: the client hands them to the stream too, so sending
//! does not look like a gap (and the account's own messages are delivered like pushed ones).

use crate::client::{Client, RawUpdate};
use crate::error::InvocationError;
use crate::store::UpdateState;
use fleetgram_tl::{enums, functions, types, Deserializable};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a pts gap may stay open before the difference is fetched.
const GAP_WAIT: Duration = Duration::from_millis(500);

/// A channel's next poll when the server's answer names no `timeout`.
const POLL_DEFAULT: Duration = Duration::from_secs(60);

/// The next poll after a failed one.
const POLL_RETRY: Duration = Duration::from_secs(30);

/// Space between the first polls of channels scheduled together (at start, after a new
/// session): a few thousand channels must not become one burst of calls.
const POLL_STAGGER: Duration = Duration::from_millis(20);

/// One delivered update.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The update (short forms are expanded to `updateNewMessage`).
    pub update: enums::Update,
    /// Users that came with it.
    pub users: Vec<enums::User>,
    /// Chats that came with it.
    pub chats: Vec<enums::Chat>,
    /// Delivery number within this stream, from 1.
    pub number: u64,
    /// The state to commit once this and every earlier update are acknowledged.
    state: UpdateState,
    /// For a channel update: the channel and its pts to commit with it.
    channel: Option<(i64, i32)>,
}

/// An unacknowledged update: the state after it, its channel pts, whether it is handled.
type Unacked = (UpdateState, Option<(i64, i32)>, bool);

/// A channel's updates held while its gap is open (pts, pts_count, update), and since when.
type Held = (tokio::time::Instant, Vec<(i32, i32, Delivered)>);

/// The update stream of one account.
#[derive(Debug)]
pub struct UpdateStream {
    client: Client,
    /// The state of the last update handed out (or queued).
    local: UpdateState,
    queue: VecDeque<Delivered>,
    /// Delivered but unacknowledged, shared with the [`Acker`]s.
    acks: Arc<Mutex<Acks>>,
    /// Per channel: pts of the last update handed out.
    channel_local: std::collections::HashMap<i64, i32>,
    /// Per channel: updates held while a gap is open, and since when.
    channel_pending: std::collections::HashMap<i64, Held>,
    next_number: u64,
    /// Updates held while a gap is open, with pts after them.
    /// (`None`: a place in the sequence with nothing to deliver, an own action's update.)
    pending: Vec<(i32, i32, Option<Delivered>)>,
    /// qts updates held while a gap is open, with their qts.
    pending_qts: Vec<(i32, Delivered)>,
    /// Containers held while a seq gap is open.
    pending_seq: Vec<Batch>,
    gap_since: Option<tokio::time::Instant>,
    /// Consecutive differences that left the held updates unconfirmed.
    stale_rounds: u32,
    stats: StreamStats,
    /// Raw notices queued before the stream opened (its catch-up covers their new sessions).
    queued_before_open: usize,
    /// Channel polling: each polled channel's next `getChannelDifference`, ordered by time.
    polls: Polls,
    /// Channels met as a member (or watched) whose pts is still to be learned, and since
    /// when. Learning waits [`GAP_WAIT`]: pushes of the channel already on their way set the
    /// pts from themselves (a pts learned later would make them look old).
    unknown_channels: std::collections::BTreeMap<i64, tokio::time::Instant>,
    /// When anything last arrived; after `idle_difference` of silence, `getDifference`.
    last_heard: tokio::time::Instant,
}

/// When each polled channel is due, ordered by time.
#[derive(Debug, Default)]
struct Polls {
    due: std::collections::HashMap<i64, tokio::time::Instant>,
    order: std::collections::BTreeSet<(tokio::time::Instant, i64)>,
    /// (channels followed, watch-list version) the set was made for.
    made_for: (usize, u64),
}

impl Polls {
    fn set(&mut self, ch: i64, at: tokio::time::Instant) {
        if let Some(old) = self.due.insert(ch, at) {
            self.order.remove(&(old, ch));
        }
        self.order.insert((at, ch));
    }

    fn remove(&mut self, ch: i64) {
        if let Some(old) = self.due.remove(&ch) {
            self.order.remove(&(old, ch));
        }
    }

    fn first(&self) -> Option<(tokio::time::Instant, i64)> {
        self.order.first().copied()
    }

    /// Makes every polled channel due now, spaced by [`POLL_STAGGER`].
    fn all_due(&mut self) {
        let now = tokio::time::Instant::now();
        let chans: Vec<i64> = self.order.iter().map(|(_, c)| *c).collect();
        for (k, ch) in chans.into_iter().enumerate() {
            self.set(ch, now + POLL_STAGGER * k as u32);
        }
    }
}

/// Counters of an update stream (for the operator view, and to see what recovery cost).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// `updates.getDifference` rounds (each slice counts).
    pub differences: u64,
    /// `updates.getChannelDifference` rounds.
    pub channel_differences: u64,
    /// Channel polls (a `getChannelDifference` because the channel's timeout ran out).
    pub channel_polls: u64,
    /// `getDifference` calls because nothing arrived for `idle_difference`.
    pub idle_differences: u64,
    /// Updates skipped because they were had already (pts, qts or channel pts).
    pub duplicates: u64,
}

/// Acknowledgements not committed yet.
#[derive(Debug, Default)]
struct Acks {
    /// Delivered but unacknowledged: number -> (state after it, channel pts, handled).
    unacked: BTreeMap<u64, Unacked>,
    /// A commit was written lazily since the last durable one.
    dirty: bool,
}

/// Acknowledges updates of a stream from anywhere (handlers running in other tasks): the
/// state is committed up to the last update whose predecessors are all acknowledged.
#[derive(Debug, Clone)]
pub struct Acker {
    acks: Arc<Mutex<Acks>>,
    client: Client,
}

impl Acker {
    /// Marks an update as handled; commits the state up to the last update whose
    /// predecessors are all handled.
    ///
    /// # Errors
    /// The store failed (the acknowledgement is kept and retried with the next one).
    pub fn ack(&self, d: &Delivered) -> Result<(), crate::store::StoreError> {
        let mut a = self.acks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = a.unacked.get_mut(&d.number) {
            e.2 = true;
        }
        let mut commit = None;
        let mut channels: Vec<(i64, i32)> = Vec::new();
        while let Some(entry) = a.unacked.first_entry() {
            if !entry.get().2 {
                break;
            }
            let (st, ch, _) = entry.remove();
            commit = Some(st);
            channels.extend(ch);
        }
        match commit {
            Some(st) => {
                a.dirty = true;
                self.client.update_state_lazy(|acc| {
                    acc.updates = Some(st);
                    for (ch, pts) in channels {
                        let e = acc.channels.entry(ch).or_insert(pts);
                        *e = (*e).max(pts);
                    }
                })
            }
            None => Ok(()),
        }
    }
}

impl Drop for UpdateStream {
    fn drop(&mut self) {
        let dirty = self.acks.lock().map(|a| a.dirty).unwrap_or(true);
        if dirty {
            // Make the acknowledged state durable when the consumer stops.
            let _ = self.client.update_state(|_| {});
        }
    }
}

fn state_of(s: &enums::updates::State) -> UpdateState {
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
fn common_pts(u: &enums::Update) -> Option<(i32, i32)> {
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
fn channel_pts(u: &enums::Update) -> Option<(i64, i32, i32)> {
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
fn update_qts(u: &enums::Update) -> Option<i32> {
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
fn affected_update(request: &[u8], pts: i32, pts_count: i32) -> Option<enums::Update> {
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
fn answer_pts_only(request: &[u8], answer: &[u8]) -> Option<(Option<i64>, i32, i32)> {
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
fn short_message(
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

/// Updates that came together, with their users/chats and place in the seq sequence.
#[derive(Debug)]
struct Batch {
    updates: Vec<enums::Update>,
    users: Vec<enums::User>,
    chats: Vec<enums::Chat>,
    date: i32,
    /// `seq_start..=seq` of the container; 0 when not in the sequence.
    seq_start: i32,
    seq: i32,
}

impl Batch {
    fn new(updates: Vec<enums::Update>, date: i32) -> Self {
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

/// What a pushed `Updates` object means.
enum Pushed {
    /// Updates with their users/chats.
    Batch(Batch),
    /// `updatesTooLong`: fetch the difference.
    TooLong,
}

fn flatten(u: enums::Updates, me: Option<i64>) -> Pushed {
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

impl Client {
    /// Opens the account's update stream, catching up from the committed state first.
    ///
    /// # Errors
    /// The initial `getState` / `getDifference` failed.
    pub async fn updates(&self) -> Result<UpdateStream, InvocationError> {
        let committed = self.state().updates;
        let mut s = UpdateStream {
            client: self.clone(),
            local: committed.unwrap_or_default(),
            queue: VecDeque::new(),
            acks: Default::default(),
            channel_local: self.state().channels.into_iter().collect(),
            channel_pending: std::collections::HashMap::new(),
            next_number: 1,
            pending: Vec::new(),
            pending_qts: Vec::new(),
            pending_seq: Vec::new(),
            gap_since: None,
            stale_rounds: 0,
            stats: StreamStats::default(),
            queued_before_open: self.queued_raw_updates(),
            polls: Polls::default(),
            unknown_channels: Default::default(),
            last_heard: tokio::time::Instant::now(),
        };
        match committed {
            None => {
                let st = self.invoke(&functions::updates::GetState {}).await?;
                s.local = state_of(&st);
                let local = s.local;
                self.update_state(|a| a.updates = Some(local))?;
            }
            Some(_) => s.get_difference().await?,
        }
        // Channels are not fetched one by one here (a self-inflicted flood with thousands of
        // them): they are polled, spaced out, from the first `next`. An account that never
        // followed a channel learns the ones it is in from its dialogs.
        if self.config().channel_poll_limit > 0 && s.channel_local.is_empty() {
            s.discover_channels().await?;
        }
        s.schedule_polls();
        Ok(s)
    }
}

impl UpdateStream {
    /// The next update, in order. Waits for one; `None` when the client is gone.
    ///
    /// # Errors
    /// Fetching a difference failed (the stream can be polled again).
    pub async fn next(&mut self) -> Option<Result<Delivered, InvocationError>> {
        loop {
            if let Some(d) = self.queue.pop_front() {
                crate::metrics::global()
                    .updates_received
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.acks
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .unacked
                    .insert(d.number, (d.state, d.channel, false));
                return Some(Ok(d));
            }
            let learn_at = self.unknown_channels.values().min().map(|t| *t + GAP_WAIT);
            // (Only once the pushes already received are handled: they come first.)
            if learn_at.is_some_and(|t| t <= tokio::time::Instant::now())
                && self.client.queued_raw_updates() == 0
            {
                self.learn_channel_pts().await;
            }
            if self.polls.made_for != (self.channel_local.len(), self.client.watched_version()) {
                self.schedule_polls();
            }
            let now = tokio::time::Instant::now();
            if let Some((due, ch)) = self.polls.first() {
                if due <= now {
                    self.poll_channel(ch).await;
                    continue;
                }
            }
            let idle = self.client.config().idle_difference;
            if self.last_heard + idle <= now {
                self.stats.idle_differences += 1;
                crate::metrics::global()
                    .idle_differences
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.last_heard = now;
                if let Err(e) = self.get_difference().await {
                    return Some(Err(e));
                }
                continue;
            }
            // The earliest open gap, common or per channel.
            let channel_gap = self
                .channel_pending
                .iter()
                .map(|(ch, (since, _))| (*since, *ch))
                .min();
            if let Some((since, ch)) = channel_gap {
                if since + GAP_WAIT <= tokio::time::Instant::now() {
                    if let Err(e) = self.get_channel_difference(ch).await {
                        return Some(Err(e));
                    }
                    continue;
                }
            }
            let gap = match (self.gap_since, channel_gap) {
                (Some(a), Some((b, _))) => Some(a.min(b)),
                (a, b) => a.or(b.map(|x| x.0)),
            };
            // Wait for a push, at most until a gap times out, a poll is due or the account
            // has been silent for too long.
            let mut deadline = self.last_heard + idle;
            if let Some(since) = gap {
                deadline = deadline.min(since + GAP_WAIT);
            }
            if let Some((due, _)) = self.polls.first() {
                deadline = deadline.min(due);
            }
            if let Some(t) = learn_at {
                deadline = deadline.min(t);
            }
            let raw = match tokio::time::timeout_at(deadline, self.client.next_raw_update()).await {
                Ok(r) => r,
                Err(_) => {
                    if self
                        .gap_since
                        .is_some_and(|g| g + GAP_WAIT <= tokio::time::Instant::now())
                    {
                        if let Err(e) = self.get_difference().await {
                            return Some(Err(e));
                        }
                    }
                    continue;
                }
            };
            let raw = raw?;
            self.last_heard = tokio::time::Instant::now();
            if let Err(e) = self.handle_raw(raw).await {
                return Some(Err(e));
            }
        }
    }

    /// Marks an update as handled; commits the state up to the last update whose
    /// predecessors are all handled.
    ///
    /// # Errors
    /// The store failed (the acknowledgement is kept and retried with the next one).
    pub fn ack(&mut self, d: &Delivered) -> Result<(), crate::store::StoreError> {
        self.acker().ack(d)
    }

    /// A handle that acknowledges this stream's updates from other tasks.
    pub fn acker(&self) -> Acker {
        Acker {
            acks: self.acks.clone(),
            client: self.client.clone(),
        }
    }

    /// Writes the acknowledged state durably now (it is also written when the stream is
    /// dropped, and by sled within its flush interval).
    ///
    /// # Errors
    /// The store failed.
    pub fn flush(&mut self) -> Result<(), crate::store::StoreError> {
        self.acks.lock().unwrap_or_else(|e| e.into_inner()).dirty = false;
        self.client.update_state(|_| {})
    }

    /// What the stream has done so far.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// The state of the last update handed out or queued (ahead of the committed one).
    pub fn local_state(&self) -> UpdateState {
        self.local
    }

    /// Feeds the peer cache once per batch (not once per update of it).
    fn learn_peers<'a>(
        &mut self,
        users: &[enums::User],
        chats: &[enums::Chat],
        messages: impl Iterator<Item = &'a enums::Message>,
    ) {
        if users.is_empty() && chats.is_empty() {
            return;
        }
        if self.client.config().channel_poll_limit > 0 {
            for c in chats {
                if let enums::Chat::Channel(c) = c {
                    if !c.min && !c.left && !self.channel_local.contains_key(&c.id) {
                        self.unknown_channels
                            .entry(c.id)
                            .or_insert_with(tokio::time::Instant::now);
                    }
                }
            }
        }
        let mut found = Vec::new();
        crate::peers::collect_typed(users, chats, &mut found);
        if found.iter().any(|p| p.min) {
            for m in messages {
                crate::peers::note_seen_in(&mut found, m);
            }
        }
        self.client.remember_peers(found);
    }

    fn push(&mut self, update: enums::Update, users: Vec<enums::User>, chats: Vec<enums::Chat>) {
        self.push_channel(update, users, chats, None);
    }

    fn push_channel(
        &mut self,
        update: enums::Update,
        users: Vec<enums::User>,
        chats: Vec<enums::Chat>,
        channel: Option<(i64, i32)>,
    ) {
        let d = Delivered {
            update,
            users,
            chats,
            number: self.next_number,
            state: self.local,
            channel,
        };
        self.next_number += 1;
        self.queue.push_back(d);
    }

    async fn handle_raw(&mut self, raw: RawUpdate) -> Result<(), InvocationError> {
        let me = self.client.user_id();
        let before_open = self.queued_before_open > 0;
        self.queued_before_open = self.queued_before_open.saturating_sub(1);
        let updates = match raw {
            // A session made before the stream opened: the catch-up covered it.
            RawUpdate::NewSession { .. } if before_open => return Ok(()),
            RawUpdate::NewSession { .. } => {
                // Updates may have been missed: the common sequence now, the polled channels
                // soon (spaced out).
                self.get_difference().await?;
                self.polls.all_due();
                return Ok(());
            }
            RawUpdate::Object { bytes, .. } => match enums::Updates::from_bytes(&bytes) {
                Ok(u) => u,
                Err(_) => {
                    // Not an Updates object (a stray service message): nothing to deliver.
                    tracing::debug!(len = bytes.len(), "ignoring a non-Updates push");
                    return Ok(());
                }
            },
            RawUpdate::Answer { request, bytes } => match answer_updates(&request, &bytes, me) {
                Some(u) => u,
                None => {
                    match answer_pts_only(&request, &bytes) {
                        Some((None, pts, count)) => {
                            self.pending.push((pts, count, None));
                            self.apply_pending();
                        }
                        // In a channel: only when it continues the channel's sequence as
                        // followed here (otherwise a later gap fetches its difference).
                        Some((Some(ch), pts, count))
                            if self.channel_local.get(&ch) == Some(&(pts - count)) =>
                        {
                            self.channel_local.insert(ch, pts);
                            self.apply_channel_pending(ch);
                        }
                        _ => {}
                    }
                    return Ok(());
                }
            },
        };
        // A short update naming someone this account has never seen carries no access
        // hash: fetch the difference instead, which comes with the users and chats.
        let unknown = match &updates {
            enums::Updates::UpdateShortMessage(m) => self.client.cached_peer(m.user_id).is_none(),
            enums::Updates::UpdateShortChatMessage(m) => {
                self.client.cached_peer(m.from_id).is_none()
                    || self.client.cached_peer(-m.chat_id).is_none()
            }
            _ => false,
        };
        if unknown {
            return self.get_difference().await;
        }
        let batch = match flatten(updates, me) {
            Pushed::TooLong => return self.get_difference().await,
            Pushed::Batch(b) => b,
        };
        let mut gaps = Vec::new();
        if batch.seq != 0 && batch.seq_start <= self.local.seq {
            // A container already applied (sent again): its updates without a pts would be
            // delivered twice; the ones with a pts are checked as usual (the spec: ignore it).
            let Batch {
                updates,
                users,
                chats,
                date,
                ..
            } = batch;
            let sequenced: Vec<enums::Update> = updates
                .into_iter()
                .filter(|u| {
                    channel_pts(u).is_some()
                        || update_qts(u).is_some()
                        || common_pts(u).is_some()
                        || matches!(u, enums::Update::ChannelTooLong(_))
                })
                .collect();
            if sequenced.is_empty() {
                self.stats.duplicates += 1;
                return Ok(());
            }
            let mut b = Batch::new(sequenced, date);
            b.users = users;
            b.chats = chats;
            gaps = self.apply_batch(b);
            self.apply_pending();
            for ch in gaps {
                self.get_channel_difference(ch).await?;
            }
            return Ok(());
        }
        if batch.seq != 0 && batch.seq_start > self.local.seq + 1 {
            // A container is missing before this one: hold it until it comes (or the gap
            // times out and the difference is fetched).
            self.pending_seq.push(batch);
        } else {
            gaps = self.apply_batch(batch);
            self.apply_pending_seq(&mut gaps);
        }
        self.apply_pending();
        for ch in gaps {
            self.get_channel_difference(ch).await?;
        }
        Ok(())
    }

    /// Applies held containers that now continue the seq sequence.
    fn apply_pending_seq(&mut self, gaps: &mut Vec<i64>) {
        self.pending_seq.sort_by_key(|b| b.seq_start);
        while self
            .pending_seq
            .first()
            .is_some_and(|b| b.seq_start <= self.local.seq + 1)
        {
            let b = self.pending_seq.remove(0);
            gaps.extend(self.apply_batch(b));
        }
    }

    /// Sorts a container's updates into the sequences; returns the channels whose
    /// difference must be fetched. (Updates of a container older than the local seq still
    /// go through the pts/qts checks, which skip what was had already.)
    fn apply_batch(&mut self, b: Batch) -> Vec<i64> {
        let Batch {
            updates: list,
            users,
            chats,
            date,
            seq,
            ..
        } = b;
        self.learn_peers(&users, &chats, list.iter().filter_map(message_of));
        let mut gaps = Vec::new();
        let held =
            |u: enums::Update, users: &Vec<enums::User>, chats: &Vec<enums::Chat>| Delivered {
                update: u,
                users: users.clone(),
                chats: chats.clone(),
                number: 0,
                state: UpdateState::default(),
                channel: None,
            };
        for u in list {
            if let enums::Update::ChannelTooLong(t) = &u {
                gaps.push(t.channel_id);
                continue;
            }
            if let Some((ch, pts, count)) = channel_pts(&u) {
                self.channel_update(ch, pts, count, u, users.clone(), chats.clone());
                continue;
            }
            if let Some(qts) = update_qts(&u) {
                self.pending_qts.push((qts, held(u, &users, &chats)));
                continue;
            }
            match common_pts(&u) {
                // Not in a sequence: delivered as it comes.
                None => self.push(u, users.clone(), chats.clone()),
                Some((pts, count)) => {
                    self.pending
                        .push((pts, count, Some(held(u, &users, &chats))));
                }
            }
        }
        if date > self.local.date {
            self.local.date = date;
        }
        if seq > self.local.seq {
            self.local.seq = seq;
        }
        self.apply_pending();
        gaps
    }

    /// Checks a channel update against the channel's pts: delivers it, skips a duplicate,
    /// or holds it while a gap is open.
    fn channel_update(
        &mut self,
        ch: i64,
        pts: i32,
        count: i32,
        u: enums::Update,
        users: Vec<enums::User>,
        chats: Vec<enums::Chat>,
    ) {
        let local = *self.channel_local.entry(ch).or_insert(pts - count);
        if pts - count < local {
            // Already had (all or part of) it: `local_pts + pts_count > pts` means it was
            // applied, and the spec says to ignore it.
            self.stats.duplicates += 1;
            return;
        }
        if pts - count > local {
            let d = Delivered {
                update: u,
                users,
                chats,
                number: 0,
                state: UpdateState::default(),
                channel: None,
            };
            let e = self
                .channel_pending
                .entry(ch)
                .or_insert_with(|| (tokio::time::Instant::now(), Vec::new()));
            e.1.push((pts, count, d));
            return;
        }
        self.channel_local.insert(ch, pts);
        self.push_channel(u, users, chats, Some((ch, pts)));
        self.apply_channel_pending(ch);
    }

    /// Delivers held updates of `ch` that now continue its sequence.
    fn apply_channel_pending(&mut self, ch: i64) {
        let Some((since, mut held)) = self.channel_pending.remove(&ch) else {
            return;
        };
        held.sort_by_key(|(pts, count, _)| pts - count);
        let mut rest = Vec::new();
        for (pts, count, d) in held {
            let local = self.channel_local.get(&ch).copied().unwrap_or(0);
            if pts <= local {
                continue;
            }
            if pts - count == local {
                self.channel_local.insert(ch, pts);
                self.push_channel(d.update, d.users, d.chats, Some((ch, pts)));
            } else {
                rest.push((pts, count, d));
            }
        }
        if !rest.is_empty() {
            self.channel_pending.insert(ch, (since, rest));
        }
    }

    /// Fetches channel `ch`'s updates since its local pts (slices looped to the end); the
    /// server's `timeout` (when to ask again), if it named one.
    async fn get_channel_difference(&mut self, ch: i64) -> Result<Option<i32>, InvocationError> {
        let held = self.channel_pending.remove(&ch);
        let Some(peer) = self
            .client
            .cached_peer(crate::peers::marked(crate::peers::PeerKind::Channel, ch))
        else {
            tracing::warn!(
                channel = ch,
                "no access hash for a channel with a gap; its missed updates are skipped"
            );
            if let Some((_, held)) = held {
                for (pts, _, d) in held {
                    self.channel_local.insert(ch, pts);
                    self.push_channel(d.update, d.users, d.chats, Some((ch, pts)));
                }
            }
            return Ok(None);
        };
        let channel: enums::InputChannel = types::InputChannel {
            channel_id: ch,
            access_hash: peer.access_hash,
        }
        .into();
        let bot = self.client.is_bot();
        let mut pts = match self.channel_local.get(&ch) {
            Some(p) => *p,
            None => return Ok(None),
        };
        let mut timeout: Option<i32>;
        loop {
            self.stats.channel_differences += 1;
            let diff = self
                .client
                .invoke(&functions::updates::GetChannelDifference {
                    force: false,
                    channel: channel.clone(),
                    filter: enums::ChannelMessagesFilter::Empty,
                    pts: pts.max(1),
                    limit: if bot { 100_000 } else { 100 },
                })
                .await;
            let diff = match diff {
                Ok(d) => d,
                Err(e) if e.is("CHANNEL_PRIVATE") || e.is("CHANNEL_INVALID") => {
                    // No longer a member: forget the channel.
                    tracing::info!(channel = ch, error = %e, "no access to the channel any more");
                    self.channel_local.remove(&ch);
                    self.polls.remove(ch);
                    self.client.update_state_lazy(|a| {
                        a.channels.remove(&ch);
                    })?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            use enums::updates::ChannelDifference as CD;
            let base = pts;
            let (batch, users, chats, new_pts, last): (Vec<enums::Update>, _, _, i32, bool) =
                match diff {
                    CD::Empty(e) => {
                        timeout = e.timeout;
                        (vec![], vec![], vec![], e.pts, true)
                    }
                    CD::TooLong(t) => {
                        let t = *t;
                        timeout = t.timeout;
                        let dialog_pts = match &t.dialog {
                            enums::Dialog::Dialog(d) => d.pts.unwrap_or(pts),
                            _ => pts,
                        };
                        tracing::warn!(
                            channel = ch,
                            from = pts,
                            to = dialog_pts,
                            "channel difference too long; delivering the latest messages"
                        );
                        let msgs = t
                            .messages
                            .into_iter()
                            .rev()
                            .map(|m| {
                                enums::Update::NewChannelMessage(Box::new(
                                    types::UpdateNewChannelMessage {
                                        message: m,
                                        pts: 0,
                                        pts_count: 0,
                                    },
                                ))
                            })
                            .collect();
                        (msgs, t.users, t.chats, dialog_pts, true)
                    }
                    CD::ChannelDifference(d) => {
                        let d = *d;
                        timeout = d.timeout;
                        let msgs = d.new_messages.into_iter().map(|m| {
                            enums::Update::NewChannelMessage(Box::new(
                                types::UpdateNewChannelMessage {
                                    message: m,
                                    pts: 0,
                                    pts_count: 0,
                                },
                            ))
                        });
                        let all = msgs.chain(d.other_updates).collect();
                        (all, d.users, d.chats, d.pts, d.r#final)
                    }
                };
            self.learn_peers(&users, &chats, batch.iter().filter_map(message_of));
            let n = batch.len();
            for (i, u) in batch.into_iter().enumerate() {
                let at = if i + 1 == n { new_pts } else { base };
                self.push_channel(u, users.clone(), chats.clone(), Some((ch, at)));
            }
            pts = new_pts;
            self.channel_local.insert(ch, pts);
            if n == 0 && new_pts != base {
                self.client.update_state_lazy(|a| {
                    a.channels.insert(ch, new_pts);
                })?;
            }
            if last {
                break;
            }
        }
        // Held updates the difference did not cover continue the sequence.
        if let Some((since, held)) = held {
            self.channel_pending.insert(ch, (since, held));
            self.apply_channel_pending(ch);
            if let Some((_, rest)) = self.channel_pending.remove(&ch) {
                if !rest.is_empty() {
                    tracing::warn!(
                        channel = ch,
                        held = rest.len(),
                        "dropping channel updates the difference does not confirm"
                    );
                }
            }
        }
        Ok(timeout)
    }

    /// Polls channel `ch` (its timeout ran out) and schedules the next poll at the server's
    /// `timeout`. A failed poll is logged and tried again later: it never ends the stream.
    async fn poll_channel(&mut self, ch: i64) {
        self.stats.channel_polls += 1;
        crate::metrics::global()
            .channel_polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let next = match self.get_channel_difference(ch).await {
            Ok(t) => t.map_or(POLL_DEFAULT, |t| Duration::from_secs(t.max(1) as u64)),
            Err(e) => {
                tracing::warn!(channel = ch, error = %e, "polling the channel failed");
                POLL_RETRY
            }
        };
        if self.channel_local.contains_key(&ch) {
            self.polls.set(ch, tokio::time::Instant::now() + next);
        }
    }

    /// Makes the set of polled channels: the watched ones first, then the others followed,
    /// at most `channel_poll_limit`. Channels new to the set are due now, spaced out.
    fn schedule_polls(&mut self) {
        let limit = self.client.config().channel_poll_limit;
        let (watched, version) = self.client.watched_channels();
        self.polls.made_for = (self.channel_local.len(), version);
        if limit == 0 {
            self.polls = Polls {
                made_for: self.polls.made_for,
                ..Polls::default()
            };
            return;
        }
        for ch in &watched {
            if !self.channel_local.contains_key(ch) {
                self.unknown_channels
                    .entry(*ch)
                    .or_insert_with(tokio::time::Instant::now);
            }
        }
        let mut want: Vec<i64> = watched
            .iter()
            .copied()
            .filter(|c| self.channel_local.contains_key(c))
            .take(limit)
            .collect();
        if want.len() < limit {
            let mut rest: Vec<i64> = self
                .channel_local
                .keys()
                .copied()
                .filter(|c| !watched.contains(c))
                .collect();
            rest.sort_unstable();
            rest.truncate(limit - want.len());
            want.extend(rest);
        }
        let keep: std::collections::HashSet<i64> = want.iter().copied().collect();
        let gone: Vec<i64> = self
            .polls
            .due
            .keys()
            .copied()
            .filter(|c| !keep.contains(c))
            .collect();
        for ch in gone {
            self.polls.remove(ch);
        }
        let now = tokio::time::Instant::now();
        let mut k = 0;
        for ch in want {
            if !self.polls.due.contains_key(&ch) {
                self.polls.set(ch, now + POLL_STAGGER * k);
                k += 1;
            }
        }
    }

    /// Learns the pts of channels met as a member or watched (`channels.getFullChannel`),
    /// so they can be polled from there on. Ones without an access hash, or that answer with
    /// an error, are left out (and logged).
    async fn learn_channel_pts(&mut self) {
        let limit = self.client.config().channel_poll_limit;
        let now = tokio::time::Instant::now();
        let due: Vec<i64> = self
            .unknown_channels
            .iter()
            .filter(|(_, t)| **t + GAP_WAIT <= now)
            .map(|(c, _)| *c)
            .collect();
        let chans: Vec<i64> = due
            .into_iter()
            .filter(|c| self.unknown_channels.remove(c).is_some())
            .collect();
        for ch in chans {
            // Full: only watched channels still get in (they come first in the set).
            if limit == 0
                || (self.channel_local.len() >= limit
                    && !self.client.watched_channels().0.contains(&ch))
            {
                continue;
            }
            if self.channel_local.contains_key(&ch) {
                continue;
            }
            let marked = crate::peers::marked(crate::peers::PeerKind::Channel, ch);
            let Ok(peer) = self.client.resolve_peer(&marked.to_string()).await else {
                tracing::debug!(channel = ch, "no access hash to poll the channel with");
                continue;
            };
            let Some(input) = crate::peers::input_channel(&peer) else {
                continue;
            };
            match self
                .client
                .invoke(&functions::channels::GetFullChannel { channel: input })
                .await
            {
                Ok(enums::messages::ChatFull::ChatFull(full)) => {
                    if let enums::ChatFull::ChannelFull(f) = full.full_chat {
                        if f.pts > 0 {
                            self.channel_local.entry(ch).or_insert(f.pts);
                        }
                    }
                }
                Err(e) => tracing::info!(channel = ch, error = %e, "cannot poll the channel"),
            }
        }
    }

    /// Lists the channels the account is in from its dialogs (up to `channel_poll_limit`)
    /// with their pts, for an account that follows none yet.
    async fn discover_channels(&mut self) -> Result<(), InvocationError> {
        let limit = self.client.config().channel_poll_limit;
        let mut offset_peer = enums::InputPeer::Empty;
        let (mut offset_id, mut offset_date) = (0, 0);
        for _page in 0..limit.div_ceil(100).max(1) {
            let answer = self
                .client
                .invoke(&functions::messages::GetDialogs {
                    exclude_pinned: false,
                    folder_id: None,
                    offset_date,
                    offset_id,
                    offset_peer: offset_peer.clone(),
                    limit: 100,
                    hash: 0,
                })
                .await?;
            use enums::messages::Dialogs as D;
            let (dialogs, messages, chats, users, more) = match answer {
                D::Dialogs(d) => (d.dialogs, d.messages, d.chats, d.users, false),
                D::Slice(d) => (d.dialogs, d.messages, d.chats, d.users, true),
                D::NotModified(_) => break,
            };
            self.learn_peers(&users, &chats, messages.iter());
            let Some(last) = dialogs.last() else { break };
            for d in &dialogs {
                if let enums::Dialog::Dialog(d) = d {
                    if let (enums::Peer::Channel(c), Some(pts)) = (&d.peer, d.pts) {
                        if self.channel_local.len() < limit {
                            self.channel_local.entry(c.channel_id).or_insert(pts);
                            self.unknown_channels.remove(&c.channel_id);
                        }
                    }
                }
            }
            if !more || self.channel_local.len() >= limit {
                break;
            }
            // The next page starts after the last dialog's top message.
            let enums::Dialog::Dialog(last) = last else {
                break;
            };
            let marked = match &last.peer {
                enums::Peer::User(u) => u.user_id,
                enums::Peer::Chat(c) => -c.chat_id,
                enums::Peer::Channel(c) => {
                    crate::peers::marked(crate::peers::PeerKind::Channel, c.channel_id)
                }
            };
            offset_peer = self.client.resolve_peer(&marked.to_string()).await?;
            offset_id = last.top_message;
            offset_date = messages
                .iter()
                .find_map(|m| match m {
                    enums::Message::Message(m) if m.id == last.top_message => Some(m.date),
                    enums::Message::Service(m) if m.id == last.top_message => Some(m.date),
                    _ => None,
                })
                .unwrap_or(0);
        }
        Ok(())
    }

    /// Applies held updates that continue the pts and qts sequences; opens or closes the gap
    /// timer.
    fn apply_pending(&mut self) {
        self.pending.sort_by_key(|(pts, count, _)| pts - count);
        while let Some(i) = self
            .pending
            .iter()
            .position(|(pts, count, _)| pts - count <= self.local.pts)
        {
            let (pts, count, d) = self.pending.remove(i);
            if pts - count < self.local.pts || pts <= self.local.pts {
                self.stats.duplicates += 1;
                continue; // Already have it.
            }
            self.local.pts = pts;
            if let Some(d) = d {
                self.push(d.update, d.users, d.chats);
            }
        }
        self.pending_qts.sort_by_key(|(qts, _)| *qts);
        while let Some((qts, _)) = self.pending_qts.first() {
            let qts = *qts;
            if qts > self.local.qts + 1 {
                break; // a gap
            }
            let (_, d) = self.pending_qts.remove(0);
            if qts <= self.local.qts {
                self.stats.duplicates += 1;
                continue; // Already have it.
            }
            self.local.qts = qts;
            self.push(d.update, d.users, d.chats);
        }
        self.gap_since = if self.pending.is_empty()
            && self.pending_qts.is_empty()
            && self.pending_seq.is_empty()
        {
            None
        } else {
            self.gap_since.or_else(|| Some(tokio::time::Instant::now()))
        };
    }

    /// Fetches everything since the local state, slices looped to the end.
    async fn get_difference(&mut self) -> Result<(), InvocationError> {
        self.gap_since = None;
        // Updates of the first batch already acknowledged in an earlier run.
        let mut skip = std::mem::take(&mut self.local.skip) as usize;
        loop {
            self.stats.differences += 1;
            let diff = self
                .client
                .invoke(&functions::updates::GetDifference {
                    pts: self.local.pts,
                    pts_limit: None,
                    pts_total_limit: None,
                    date: self.local.date,
                    qts: self.local.qts,
                    qts_limit: None,
                })
                .await?;
            use enums::updates::Difference as D;
            let (msgs, other, users, chats, state, last) = match diff {
                D::Empty(e) => {
                    self.local.date = e.date;
                    self.local.seq = e.seq;
                    break;
                }
                D::TooLong(t) => {
                    // Too far behind: jump to the server's pts (the gap is lost, as
                    // Telegram specifies; the caller may re-fetch history).
                    tracing::warn!(from = self.local.pts, to = t.pts, "difference too long");
                    self.local.pts = t.pts;
                    continue;
                }
                D::Difference(d) => {
                    let d = *d;
                    (
                        d.new_messages,
                        d.other_updates,
                        d.users,
                        d.chats,
                        state_of(&d.state),
                        true,
                    )
                }
                D::Slice(d) => {
                    let d = *d;
                    (
                        d.new_messages,
                        d.other_updates,
                        d.users,
                        d.chats,
                        state_of(&d.intermediate_state),
                        false,
                    )
                }
            };
            self.learn_peers(&users, &chats, msgs.iter());
            // Until the whole batch is acknowledged, the committed state stays before it, with
            // the count of its updates already handled.
            let base = self.local;
            let batch = msgs
                .into_iter()
                .map(|m| {
                    enums::Update::NewMessage(Box::new(types::UpdateNewMessage {
                        message: m,
                        pts: 0,
                        pts_count: 0,
                    }))
                })
                .chain(other);
            for (k, u) in batch.enumerate() {
                if k < skip {
                    continue;
                }
                self.local = UpdateState {
                    skip: k as u32 + 1,
                    ..base
                };
                self.push(u, users.clone(), chats.clone());
            }
            skip = 0;
            self.local = state;
            if let Some(last) = self.queue.back_mut() {
                last.state = state;
            } else if !self
                .acks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unacked
                .is_empty()
            {
                let mut acks = self.acks.lock().unwrap_or_else(|e| e.into_inner());
                let only = acks.unacked.len() == 1;
                let mut last = acks.unacked.last_entry().expect("not empty");
                last.get_mut().0 = state;
                if last.get().2 && only {
                    acks.unacked.clear();
                    drop(acks);
                    self.client.update_state(|a| a.updates = Some(state))?;
                }
            } else {
                self.client.update_state(|a| a.updates = Some(state))?;
            }
            if last {
                break;
            }
        }
        // Held containers: the difference covered their pts and qts updates (skipped by the
        // checks); the rest of them is delivered, and the seq moves past them.
        let mut gaps = Vec::new();
        for b in std::mem::take(&mut self.pending_seq) {
            gaps.extend(self.apply_batch(b));
        }
        // Held live updates older than the new state are dropped by apply_pending. Ones still
        // beyond it after a second difference are not in the server's sequence: dropped.
        let before = self.pending.len() + self.pending_qts.len();
        self.apply_pending();
        let after = self.pending.len() + self.pending_qts.len();
        if after > 0 && after == before {
            self.stale_rounds += 1;
            if self.stale_rounds >= 2 {
                tracing::warn!(
                    held = after,
                    pts = self.local.pts,
                    qts = self.local.qts,
                    "dropping updates the server's difference does not confirm"
                );
                self.pending.clear();
                self.pending_qts.clear();
                self.gap_since = None;
                self.stale_rounds = 0;
            }
        } else {
            self.stale_rounds = 0;
        }
        for ch in gaps {
            Box::pin(self.get_channel_difference(ch)).await?;
        }
        Ok(())
    }
}

/// The kind of an update, for filtering (what scripts subscribe to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UpdateKind {
    /// A new message (private, group, channel, business).
    NewMessage,
    /// A message was edited.
    MessageEdited,
    /// Messages were deleted.
    MessageDeleted,
    /// An inline keyboard button was pressed.
    CallbackQuery,
    /// An inline query to a bot.
    InlineQuery,
    /// A chosen inline result.
    InlineSend,
    /// A user went online/offline.
    UserStatus,
    /// Someone is typing.
    UserTyping,
    /// Membership changed.
    ParticipantUpdate,
    /// A join request.
    JoinRequest,
    /// Reactions changed.
    MessageReaction,
    /// A poll answer.
    PollVote,
    /// A user stopped or restarted the bot.
    BotStopped,
    /// A shipping query (payments).
    ShippingQuery,
    /// A pre-checkout query (payments).
    PreCheckoutQuery,
    /// A chat boost.
    ChatBoost,
    /// Anything else (the raw TL object is still there).
    Raw,
}

impl UpdateKind {
    /// The kind of `u`.
    pub fn of(u: &enums::Update) -> Self {
        use enums::Update as U;
        match u {
            U::NewMessage(_)
            | U::NewChannelMessage(_)
            | U::BotNewBusinessMessage(_)
            | U::NewScheduledMessage(_) => Self::NewMessage,
            U::EditMessage(_) | U::EditChannelMessage(_) | U::BotEditBusinessMessage(_) => {
                Self::MessageEdited
            }
            U::DeleteMessages(_)
            | U::DeleteChannelMessages(_)
            | U::BotDeleteBusinessMessage(_)
            | U::DeleteScheduledMessages(_) => Self::MessageDeleted,
            U::BotCallbackQuery(_)
            | U::InlineBotCallbackQuery(_)
            | U::BusinessBotCallbackQuery(_) => Self::CallbackQuery,
            U::BotInlineQuery(_) => Self::InlineQuery,
            U::BotInlineSend(_) => Self::InlineSend,
            U::UserStatus(_) => Self::UserStatus,
            U::UserTyping(_) | U::ChatUserTyping(_) | U::ChannelUserTyping(_) => Self::UserTyping,
            U::ChatParticipant(_)
            | U::ChannelParticipant(_)
            | U::ChatParticipantAdd(_)
            | U::ChatParticipantDelete(_)
            | U::ChatParticipantAdmin(_)
            | U::ChatParticipants(_) => Self::ParticipantUpdate,
            U::BotChatInviteRequester(_) | U::PendingJoinRequests(_) => Self::JoinRequest,
            U::MessageReactions(_) | U::BotMessageReaction(_) | U::BotMessageReactions(_) => {
                Self::MessageReaction
            }
            U::MessagePollVote(_) | U::MessagePoll(_) => Self::PollVote,
            U::BotStopped(_) => Self::BotStopped,
            U::BotShippingQuery(_) => Self::ShippingQuery,
            U::BotPrecheckoutQuery(_) => Self::PreCheckoutQuery,
            U::BotChatBoost(_) => Self::ChatBoost,
            _ => Self::Raw,
        }
    }
}

fn message_of(u: &enums::Update) -> Option<&enums::Message> {
    use enums::Update as U;
    match u {
        U::NewMessage(u) => Some(&u.message),
        U::NewChannelMessage(u) => Some(&u.message),
        U::EditMessage(u) => Some(&u.message),
        U::EditChannelMessage(u) => Some(&u.message),
        _ => None,
    }
}

impl Delivered {
    /// An update not from a stream (for tests and benchmarks of handlers); acknowledging it
    /// does nothing.
    pub fn synthetic(
        update: enums::Update,
        users: Vec<enums::User>,
        chats: Vec<enums::Chat>,
    ) -> Self {
        Delivered {
            update,
            users,
            chats,
            number: 0,
            state: UpdateState::default(),
            channel: None,
        }
    }

    /// The kind of this update.
    pub fn kind(&self) -> UpdateKind {
        UpdateKind::of(&self.update)
    }

    /// The message of a NewMessage / MessageEdited update.
    pub fn message(&self) -> Option<&enums::Message> {
        message_of(&self.update)
    }
}
