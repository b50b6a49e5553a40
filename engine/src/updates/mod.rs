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
use crate::state::{UpdateCommit, UpdateState};
use fleetgram_tl::{enums, functions, types, Deserializable};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod kind;
mod message_box;

pub(crate) use crate::answers::answer_updates;
#[cfg(test)]
use crate::answers::short_message;
use crate::answers::{
    answer_pts_only, channel_pts, common_pts, flatten, state_of, update_qts, Pushed,
};
use kind::message_of;
pub use kind::UpdateKind;
use message_box::{MessageBox, Need};

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
    /// Users that came with it (shared by the updates of one batch).
    pub users: Arc<[enums::User]>,
    /// Chats that came with it (shared by the updates of one batch).
    pub chats: Arc<[enums::Chat]>,
    /// Delivery number within this stream, from 1.
    pub number: u64,
    /// The state to commit once this and every earlier update are acknowledged.
    state: UpdateState,
    /// For a channel update: the channel and its pts to commit with it.
    channel: Option<(i64, i32)>,
}

/// An unacknowledged update: the state after it, its channel pts, whether it is handled.
type Unacked = (UpdateState, Option<(i64, i32)>, bool);

/// The update stream of one account.
#[derive(Debug)]
pub struct UpdateStream {
    client: Client,
    /// The update sequences (pure: this driver performs what it asks for).
    mbox: MessageBox,
    /// Delivered but unacknowledged, shared with the [`Acker`]s.
    acks: Arc<Mutex<Acks>>,
    next_number: u64,
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
                self.client.commit_updates(UpdateCommit {
                    common: Some(st),
                    channels: channels.into_iter().map(|(c, p)| (c, Some(p))).collect(),
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

impl Client {
    /// Opens the account's update stream, catching up from the committed state first.
    ///
    /// # Errors
    /// The initial `getState` / `getDifference` failed.
    pub async fn updates(&self) -> Result<UpdateStream, InvocationError> {
        let committed = self.state().updates;
        let mut s = UpdateStream {
            client: self.clone(),
            mbox: MessageBox::new(
                committed.unwrap_or_default(),
                self.state().channels.into_iter().collect(),
            ),
            acks: Default::default(),
            next_number: 1,
            stats: StreamStats::default(),
            queued_before_open: self.queued_raw_updates(),
            polls: Polls::default(),
            unknown_channels: Default::default(),
            last_heard: tokio::time::Instant::now(),
        };
        match committed {
            None => {
                let st = self.invoke(&functions::updates::GetState {}).await?;
                s.mbox.local = state_of(&st);
                let local = s.mbox.local;
                self.update_state(|a| a.updates = Some(local))?;
            }
            Some(_) => s.get_difference().await?,
        }
        // Channels are not fetched one by one here (a self-inflicted flood with thousands of
        // them): they are polled, spaced out, from the first `next`. A new account learns the
        // channels it is in from its dialogs, once (later ones are learned from its updates,
        // so restarts of a large fleet make no getDialogs each).
        if self.config().channel_poll_limit > 0 && committed.is_none() && s.mbox.channels.is_empty()
        {
            s.discover_channels().await?;
        }
        s.schedule_polls();
        Ok(s)
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl UpdateStream {
    /// The next update, in order. Waits for one; `None` when the client is gone.
    ///
    /// # Errors
    /// Fetching a difference failed (the stream can be polled again).
    pub async fn next(&mut self) -> Option<Result<Delivered, InvocationError>> {
        loop {
            if let Some(r) = self.mbox.pop() {
                crate::metrics::global()
                    .updates_received
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let d = Delivered {
                    update: r.update,
                    users: r.users,
                    chats: r.chats,
                    number: self.next_number,
                    state: r.state,
                    channel: r.channel,
                };
                self.next_number += 1;
                self.acks
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .unacked
                    .insert(d.number, (d.state, d.channel, false));
                return Some(Ok(d));
            }
            let learn_at = self
                .unknown_channels
                .values()
                .min()
                .map(|t| *t + message_box::GAP_WAIT);
            // (Only once the pushes already received are handled: they come first.)
            if learn_at.is_some_and(|t| t <= tokio::time::Instant::now())
                && self.client.queued_raw_updates() == 0
            {
                self.learn_channel_pts().await;
            }
            if self.polls.made_for != (self.mbox.channels.len(), self.client.watched_version()) {
                self.schedule_polls();
            }
            let t = tokio::time::Instant::now();
            if let Some((due, ch)) = self.polls.first() {
                if due <= t {
                    self.poll_channel(ch).await;
                    continue;
                }
            }
            let idle = self.client.config().idle_difference;
            if self.last_heard + idle <= t {
                self.stats.idle_differences += 1;
                crate::metrics::global()
                    .idle_differences
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.last_heard = t;
                if let Err(e) = self.get_difference().await {
                    return Some(Err(e));
                }
                continue;
            }
            // Gaps that timed out: the difference first, then the channels'.
            if let Some(need) = self.mbox.check_deadlines(now()).first().copied() {
                let r = match need {
                    Need::Difference => self.get_difference().await,
                    Need::ChannelDifference(ch) => {
                        self.get_channel_difference(ch).await.map(|_| ())
                    }
                };
                if let Err(e) = r {
                    return Some(Err(e));
                }
                continue;
            }
            // Wait for a push, at most until a gap times out, a poll is due or the account
            // has been silent for too long.
            let mut deadline = self.last_heard + idle;
            if let Some(gap) = self.mbox.deadline() {
                deadline = deadline.min(tokio::time::Instant::from_std(gap));
            }
            if let Some((due, _)) = self.polls.first() {
                deadline = deadline.min(due);
            }
            if let Some(t) = learn_at {
                deadline = deadline.min(t);
            }
            let raw = match tokio::time::timeout_at(deadline, self.client.next_raw_update()).await {
                Ok(r) => r,
                Err(_) => continue,
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
        StreamStats {
            duplicates: self.mbox.stats.duplicates,
            ..self.stats
        }
    }

    /// The state of the last update handed out or queued (ahead of the committed one).
    pub fn local_state(&self) -> UpdateState {
        self.mbox.local
    }

    /// Feeds the peer cache once per batch (not once per update of it), and notes the
    /// channels it shows the account in (to poll them).
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
                    if !c.min && !c.left && !self.mbox.channels.contains_key(&c.id) {
                        self.unknown_channels
                            .entry(c.id)
                            .or_insert_with(tokio::time::Instant::now);
                    }
                }
            }
        }
        let mut found = Vec::new();
        crate::state::collect_typed(users, chats, &mut found);
        if found.iter().any(|p| p.min) {
            for m in messages {
                crate::state::note_seen_in(&mut found, m);
            }
        }
        self.client.remember_peers(found);
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
                        Some((None, pts, count)) => self.mbox.process_pts_only(pts, count, now()),
                        Some((Some(ch), pts, count)) => {
                            self.mbox.process_channel_pts_only(ch, pts, count)
                        }
                        None => {}
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
        self.learn_peers(
            &batch.users,
            &batch.chats,
            batch.updates.iter().filter_map(message_of),
        );
        let gaps = self.mbox.process(batch, now());
        for ch in gaps {
            self.get_channel_difference(ch).await?;
        }
        Ok(())
    }

    /// Fetches channel `ch`'s updates since its local pts (slices looped to the end); the
    /// server's `timeout` (when to ask again), if it named one.
    async fn get_channel_difference(&mut self, ch: i64) -> Result<Option<i32>, InvocationError> {
        let Some(peer) = self
            .client
            .cached_peer(crate::state::marked(crate::state::PeerKind::Channel, ch))
        else {
            tracing::warn!(
                channel = ch,
                "no access hash for a channel with a gap; its missed updates are skipped"
            );
            self.mbox.skip_channel_gap(ch);
            return Ok(None);
        };
        let channel: enums::InputChannel = types::InputChannel {
            channel_id: ch,
            access_hash: peer.access_hash,
        }
        .into();
        let bot = self.client.is_bot();
        let Some(mut pts) = self.mbox.begin_channel_difference(ch) else {
            return Ok(None);
        };
        let timeout = loop {
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
                    self.mbox.forget_channel(ch);
                    self.polls.remove(ch);
                    self.client.commit_updates(UpdateCommit {
                        common: None,
                        channels: vec![(ch, None)],
                    })?;
                    return Ok(None);
                }
                Err(e) => {
                    self.mbox.end_channel_difference(ch);
                    return Err(e);
                }
            };
            {
                use enums::updates::ChannelDifference as CD;
                let (users, chats, msgs): (&[enums::User], &[enums::Chat], &[enums::Message]) =
                    match &diff {
                        CD::Empty(_) => (&[], &[], &[]),
                        CD::TooLong(t) => (&t.users, &t.chats, &t.messages),
                        CD::ChannelDifference(d) => (&d.users, &d.chats, &d.new_messages),
                    };
                self.learn_peers(users, chats, msgs.iter());
            }
            let page = self.mbox.apply_channel_difference(ch, diff);
            if let Some(p) = page.commit_pts {
                self.client.commit_updates(UpdateCommit {
                    common: None,
                    channels: vec![(ch, Some(p))],
                })?;
            }
            pts = self.mbox.channels.get(&ch).copied().unwrap_or(pts);
            if page.last {
                break page.timeout;
            }
        };
        self.mbox.end_channel_difference(ch);
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
        if self.mbox.channels.contains_key(&ch) {
            self.polls.set(ch, tokio::time::Instant::now() + next);
        }
    }

    /// Makes the set of polled channels: the watched ones first, then the others followed,
    /// at most `channel_poll_limit`. Channels new to the set are due now, spaced out.
    fn schedule_polls(&mut self) {
        let limit = self.client.config().channel_poll_limit;
        let (watched, version) = self.client.watched_channels();
        self.polls.made_for = (self.mbox.channels.len(), version);
        if limit == 0 {
            self.polls = Polls {
                made_for: self.polls.made_for,
                ..Polls::default()
            };
            return;
        }
        for ch in &watched {
            if !self.mbox.channels.contains_key(ch) {
                self.unknown_channels
                    .entry(*ch)
                    .or_insert_with(tokio::time::Instant::now);
            }
        }
        let mut want: Vec<i64> = watched
            .iter()
            .copied()
            .filter(|c| self.mbox.channels.contains_key(c))
            .take(limit)
            .collect();
        if want.len() < limit {
            let mut rest: Vec<i64> = self
                .mbox
                .channels
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
            .filter(|(_, t)| **t + message_box::GAP_WAIT <= now)
            .map(|(c, _)| *c)
            .collect();
        let chans: Vec<i64> = due
            .into_iter()
            .filter(|c| self.unknown_channels.remove(c).is_some())
            .collect();
        let (watched, _) = self.client.watched_channels();
        for ch in chans {
            // Full: only watched channels still get in (they come first in the set).
            if limit == 0 || (self.mbox.channels.len() >= limit && !watched.contains(&ch)) {
                continue;
            }
            if self.mbox.channels.contains_key(&ch) {
                continue;
            }
            let marked = crate::state::marked(crate::state::PeerKind::Channel, ch);
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
                            self.mbox.channels.entry(ch).or_insert(f.pts);
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
                        if self.mbox.channels.len() < limit {
                            self.mbox.channels.entry(c.channel_id).or_insert(pts);
                            self.unknown_channels.remove(&c.channel_id);
                        }
                    }
                }
            }
            if !more || self.mbox.channels.len() >= limit {
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
                    crate::state::marked(crate::state::PeerKind::Channel, c.channel_id)
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

    /// Fetches everything since the local state, slices looped to the end.
    async fn get_difference(&mut self) -> Result<(), InvocationError> {
        loop {
            self.stats.differences += 1;
            let req = self.mbox.difference_request();
            let diff = self.client.invoke(&req).await?;
            {
                use enums::updates::Difference as D;
                let (users, chats, msgs): (&[enums::User], &[enums::Chat], &[enums::Message]) =
                    match &diff {
                        D::Difference(d) => (&d.users, &d.chats, &d.new_messages),
                        D::Slice(d) => (&d.users, &d.chats, &d.new_messages),
                        _ => (&[], &[], &[]),
                    };
                self.learn_peers(users, chats, msgs.iter());
            }
            let page = self.mbox.apply_difference(diff, now());
            if let Some(state) = page.commit {
                // No update of this page carries the new state: it moves onto the last
                // unacknowledged one, or is committed now.
                let mut acks = self.acks.lock().unwrap_or_else(|e| e.into_inner());
                if acks.unacked.is_empty() {
                    drop(acks);
                    self.client.update_state(|a| a.updates = Some(state))?;
                } else {
                    let only = acks.unacked.len() == 1;
                    let mut last = acks.unacked.last_entry().expect("not empty");
                    last.get_mut().0 = state;
                    if last.get().2 && only {
                        acks.unacked.clear();
                        drop(acks);
                        self.client.update_state(|a| a.updates = Some(state))?;
                    }
                }
            }
            if !page.more {
                break;
            }
        }
        let gaps = self.mbox.finish_difference(now());
        for ch in gaps {
            Box::pin(self.get_channel_difference(ch)).await?;
        }
        Ok(())
    }
}
