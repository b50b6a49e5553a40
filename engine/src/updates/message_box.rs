//! The message box: the account's update sequences as a pure state machine (no I/O, no
//! tokio, time passed in), after `../shared/spec/api/updates.md`.
//!
//! ```text
//!  pushes, own answers ──process──▶ ┌─────────────┐ ──pop──▶ ready updates (with the state
//!  differences ──apply_difference─▶ │ MessageBox  │           to commit once handled)
//!  channel differences ──apply_──▶  │ pts qts seq │ ──needs / deadline──▶ what to fetch, when
//!                                   └─────────────┘
//! ```
//!
//! Three sequences: the account's `pts` (messages, deletions...) and `qts` (bot and secret
//! updates), the `seq` of `updates` containers, and each channel's own `pts`. An update that
//! continues its sequence is ready; one that was had already is skipped; one that leaves a gap
//! is held. A gap held longer than [`GAP_WAIT`] asks for a difference (`needs` after
//! `check_deadlines`), which the driver fetches and hands back. The driver
//! ([`super::UpdateStream`]) performs the requests, learns peers and commits acknowledgements.

pub(crate) use crate::answers::Batch;
use crate::state::UpdateState;
use fleetgram_tl::{enums, types};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a gap may stay open before the difference is fetched.
pub(crate) const GAP_WAIT: Duration = Duration::from_millis(500);

/// An update ready to hand out: the update, its batch's users and chats, the common state to
/// commit once it (and everything before it) is handled, and its channel's pts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ready {
    pub update: enums::Update,
    pub users: Users,
    pub chats: Chats,
    pub state: UpdateState,
    pub channel: Option<(i64, i32)>,
}

/// A batch's users and chats, shared by its updates.
pub(crate) type Users = std::sync::Arc<[enums::User]>;
/// See [`Users`].
pub(crate) type Chats = std::sync::Arc<[enums::Chat]>;

/// A fetch the box needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// `updates.getDifference` from [`MessageBox::difference_request`].
    Difference,
    /// `updates.getChannelDifference` for this channel.
    ChannelDifference(i64),
}

/// A held update (pts after it, pts_count) or a place in the sequence with nothing to
/// deliver (an own action's update).
type Held = (i32, i32, Option<Ready>);

/// A channel's updates held while its gap is open (pts, pts_count, update), and since when.
type ChannelHeld = (Instant, Vec<(i32, i32, Ready)>);

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BoxStats {
    /// Updates skipped because they were had already (pts, qts, channel pts or seq).
    pub duplicates: u64,
}

/// The update sequences of one account.
#[derive(Debug, Default)]
pub(crate) struct MessageBox {
    /// The common state of the last update made ready.
    pub local: UpdateState,
    /// Per channel: pts of the last update made ready.
    pub channels: HashMap<i64, i32>,
    ready: VecDeque<Ready>,
    pending: Vec<Held>,
    pending_qts: Vec<(i32, Ready)>,
    pending_seq: Vec<Batch>,
    gap_since: Option<Instant>,
    /// Per channel: updates held while its gap is open, and since when.
    channel_pending: HashMap<i64, ChannelHeld>,
    /// Held channel updates set aside while their channel's difference is fetched.
    diffing: HashMap<i64, ChannelHeld>,
    /// Consecutive differences that left the held updates unconfirmed.
    stale_rounds: u32,
    /// Updates of the difference's first batch already acknowledged in an earlier run.
    skip: usize,
    pub stats: BoxStats,
}

/// What applying one page of a difference did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    /// More pages follow: ask again (then call [`MessageBox::finish_difference`]).
    pub more: bool,
    /// The state to commit at once because no ready update carries it (the driver commits
    /// it, or moves it onto the last unacknowledged update).
    pub commit: Option<UpdateState>,
}

fn held(u: enums::Update, users: &Users, chats: &Chats) -> Ready {
    Ready {
        update: u,
        users: users.clone(),
        chats: chats.clone(),
        state: UpdateState::default(),
        channel: None,
    }
}

impl MessageBox {
    /// A box continuing from `local` and the channels' pts.
    pub fn new(local: UpdateState, channels: HashMap<i64, i32>) -> Self {
        Self {
            skip: local.skip as usize,
            local: UpdateState { skip: 0, ..local },
            channels,
            ..Self::default()
        }
    }

    /// The next ready update.
    pub fn pop(&mut self) -> Option<Ready> {
        self.ready.pop_front()
    }

    /// Ready updates not popped yet.
    #[cfg(test)]
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    fn push(&mut self, u: Ready) {
        self.ready.push_back(u);
    }

    fn push_new(
        &mut self,
        update: enums::Update,
        users: Users,
        chats: Chats,
        channel: Option<(i64, i32)>,
    ) {
        let state = self.local;
        self.push(Ready {
            update,
            users,
            chats,
            state,
            channel,
        });
    }

    /// When the earliest open gap times out (`check_deadlines` then has work).
    pub fn deadline(&self) -> Option<Instant> {
        let channel = self.channel_pending.values().map(|(t, _)| *t).min();
        match (self.gap_since, channel) {
            (Some(a), Some(b)) => Some(a.min(b) + GAP_WAIT),
            (a, b) => a.or(b).map(|t| t + GAP_WAIT),
        }
    }

    /// The fetches due at `now`: the difference when the common gap timed out (first), then
    /// the channels whose gap did.
    pub fn check_deadlines(&self, now: Instant) -> Vec<Need> {
        let mut needs = Vec::new();
        if self.gap_since.is_some_and(|g| g + GAP_WAIT <= now) {
            needs.push(Need::Difference);
        }
        let mut late: Vec<(Instant, i64)> = self
            .channel_pending
            .iter()
            .filter(|(_, (t, _))| *t + GAP_WAIT <= now)
            .map(|(ch, (t, _))| (*t, *ch))
            .collect();
        late.sort();
        needs.extend(late.into_iter().map(|(_, ch)| Need::ChannelDifference(ch)));
        needs
    }

    /// Sorts a batch's updates into the sequences. Returns the channels whose difference
    /// must be fetched (`updateChannelTooLong`).
    pub fn process(&mut self, batch: Batch, now: Instant) -> Vec<i64> {
        if batch.seq != 0 && batch.seq_start <= self.local.seq {
            // A container already applied (sent again): its updates without a pts would be
            // made ready twice; the ones with a pts are checked as usual (the spec: ignore it).
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
                    super::channel_pts(u).is_some()
                        || super::update_qts(u).is_some()
                        || super::common_pts(u).is_some()
                        || matches!(u, enums::Update::ChannelTooLong(_))
                })
                .collect();
            if sequenced.is_empty() {
                self.stats.duplicates += 1;
                return Vec::new();
            }
            let mut b = Batch::new(sequenced, date);
            b.users = users;
            b.chats = chats;
            let gaps = self.apply_batch(b, now);
            self.apply_pending(now);
            return gaps;
        }
        let mut gaps = Vec::new();
        if batch.seq != 0 && batch.seq_start > self.local.seq + 1 {
            // A container is missing before this one: hold it until it comes (or the gap
            // times out and the difference is fetched).
            self.pending_seq.push(batch);
        } else {
            gaps = self.apply_batch(batch, now);
            self.apply_pending_seq(&mut gaps, now);
        }
        self.apply_pending(now);
        gaps
    }

    /// An own action's update that carries only its place in the common pts sequence (an
    /// `affectedMessages` answer without the update it stands for).
    pub fn process_pts_only(&mut self, pts: i32, pts_count: i32, now: Instant) {
        self.pending.push((pts, pts_count, None));
        self.apply_pending(now);
    }

    /// An own action in channel `ch` that moved its pts: taken only when it continues the
    /// channel's sequence as followed here (otherwise a later gap fetches its difference).
    pub fn process_channel_pts_only(&mut self, ch: i64, pts: i32, pts_count: i32) {
        if self.channels.get(&ch) == Some(&(pts - pts_count)) {
            self.channels.insert(ch, pts);
            self.apply_channel_pending(ch);
        }
    }

    /// Applies held containers that now continue the seq sequence.
    fn apply_pending_seq(&mut self, gaps: &mut Vec<i64>, now: Instant) {
        self.pending_seq.sort_by_key(|b| b.seq_start);
        while self
            .pending_seq
            .first()
            .is_some_and(|b| b.seq_start <= self.local.seq + 1)
        {
            let b = self.pending_seq.remove(0);
            gaps.extend(self.apply_batch(b, now));
        }
    }

    /// Sorts a container's updates into the sequences; returns the channels whose
    /// difference must be fetched.
    fn apply_batch(&mut self, b: Batch, now: Instant) -> Vec<i64> {
        let Batch {
            updates: list,
            users,
            chats,
            date,
            seq,
            ..
        } = b;
        let (users, chats): (Users, Chats) = (users.into(), chats.into());
        let mut gaps = Vec::new();
        for u in list {
            if let enums::Update::ChannelTooLong(t) = &u {
                gaps.push(t.channel_id);
                continue;
            }
            if let Some((ch, pts, count)) = super::channel_pts(&u) {
                self.channel_update(ch, pts, count, u, users.clone(), chats.clone(), now);
                continue;
            }
            if let Some(qts) = super::update_qts(&u) {
                self.pending_qts.push((qts, held(u, &users, &chats)));
                continue;
            }
            match super::common_pts(&u) {
                // Not in a sequence: ready as it comes.
                None => self.push_new(u, users.clone(), chats.clone(), None),
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
        self.apply_pending(now);
        gaps
    }

    /// Checks a channel update against the channel's pts: ready, skipped as a duplicate, or
    /// held while a gap is open.
    #[allow(clippy::too_many_arguments)]
    fn channel_update(
        &mut self,
        ch: i64,
        pts: i32,
        count: i32,
        u: enums::Update,
        users: Users,
        chats: Chats,
        now: Instant,
    ) {
        let local = *self.channels.entry(ch).or_insert(pts - count);
        if pts - count < local {
            // Already had (all or part of) it: `local_pts + pts_count > pts` means it was
            // applied, and the spec says to ignore it.
            self.stats.duplicates += 1;
            return;
        }
        if pts - count > local {
            let e = self
                .channel_pending
                .entry(ch)
                .or_insert_with(|| (now, Vec::new()));
            e.1.push((pts, count, held(u, &users, &chats)));
            return;
        }
        self.channels.insert(ch, pts);
        self.push_new(u, users, chats, Some((ch, pts)));
        self.apply_channel_pending(ch);
    }

    /// Makes ready the held updates of `ch` that now continue its sequence.
    fn apply_channel_pending(&mut self, ch: i64) {
        let Some((since, mut held)) = self.channel_pending.remove(&ch) else {
            return;
        };
        held.sort_by_key(|(pts, count, _)| pts - count);
        let mut rest = Vec::new();
        for (pts, count, d) in held {
            let local = self.channels.get(&ch).copied().unwrap_or(0);
            if pts <= local {
                continue;
            }
            if pts - count == local {
                self.channels.insert(ch, pts);
                self.push_new(d.update, d.users, d.chats, Some((ch, pts)));
            } else {
                rest.push((pts, count, d));
            }
        }
        if !rest.is_empty() {
            self.channel_pending.insert(ch, (since, rest));
        }
    }

    /// Makes ready the held updates that continue the pts and qts sequences; opens or closes
    /// the gap timer.
    fn apply_pending(&mut self, now: Instant) {
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
                self.push_new(d.update, d.users, d.chats, None);
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
            self.push_new(d.update, d.users, d.chats, None);
        }
        self.gap_since = if self.pending.is_empty()
            && self.pending_qts.is_empty()
            && self.pending_seq.is_empty()
        {
            None
        } else {
            self.gap_since.or(Some(now))
        };
    }

    /// The `updates.getDifference` to make now (the gap timer stops: the answer settles it).
    pub fn difference_request(&mut self) -> fleetgram_tl::functions::updates::GetDifference {
        self.gap_since = None;
        fleetgram_tl::functions::updates::GetDifference {
            pts: self.local.pts,
            pts_limit: None,
            pts_total_limit: None,
            date: self.local.date,
            qts: self.local.qts,
            qts_limit: None,
        }
    }

    /// Applies one page of `updates.getDifference` (peers are learned by the caller).
    pub fn apply_difference(&mut self, diff: enums::updates::Difference, now: Instant) -> Page {
        use enums::updates::Difference as D;
        let (msgs, other, users, chats, state, last) = match diff {
            D::Empty(e) => {
                self.local.date = e.date;
                self.local.seq = e.seq;
                return Page {
                    more: false,
                    commit: None,
                };
            }
            D::TooLong(t) => {
                // Too far behind: jump to the server's pts (the gap is lost, as Telegram
                // specifies; the caller may re-fetch history).
                tracing::warn!(from = self.local.pts, to = t.pts, "difference too long");
                self.local.pts = t.pts;
                return Page {
                    more: true,
                    commit: None,
                };
            }
            D::Difference(d) => {
                let d = *d;
                (
                    d.new_messages,
                    d.other_updates,
                    d.users,
                    d.chats,
                    super::state_of(&d.state),
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
                    super::state_of(&d.intermediate_state),
                    false,
                )
            }
        };
        let (users, chats): (Users, Chats) = (users.into(), chats.into());
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
        let skip = std::mem::take(&mut self.skip);
        for (k, u) in batch.enumerate() {
            if k < skip {
                continue;
            }
            self.local = UpdateState {
                skip: k as u32 + 1,
                ..base
            };
            self.push_new(u, users.clone(), chats.clone(), None);
        }
        self.local = state;
        let commit = match self.ready.back_mut() {
            Some(last) => {
                last.state = state;
                None
            }
            None => Some(state),
        };
        let _ = now;
        Page {
            more: !last,
            commit,
        }
    }

    /// After the last page: held containers are applied (their pts and qts updates are
    /// skipped as had), held live updates the difference covered are dropped, and ones it
    /// does not confirm twice in a row are dropped with a warning. Returns the channels
    /// whose difference must be fetched (`updateChannelTooLong` in those containers).
    pub fn finish_difference(&mut self, now: Instant) -> Vec<i64> {
        let mut gaps = Vec::new();
        for b in std::mem::take(&mut self.pending_seq) {
            gaps.extend(self.apply_batch(b, now));
        }
        let before = self.pending.len() + self.pending_qts.len();
        self.apply_pending(now);
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
        gaps
    }

    /// Starts fetching channel `ch`'s difference: its pts, or `None` when it is not
    /// followed. Its held updates are set aside until [`MessageBox::end_channel_difference`].
    pub fn begin_channel_difference(&mut self, ch: i64) -> Option<i32> {
        if let Some(h) = self.channel_pending.remove(&ch) {
            self.diffing.insert(ch, h);
        }
        let pts = self.channels.get(&ch).copied();
        if pts.is_none() {
            self.diffing.remove(&ch);
        }
        pts
    }

    /// No way to fetch `ch`'s difference (no access hash): its held updates are made ready
    /// as they are.
    pub fn skip_channel_gap(&mut self, ch: i64) {
        let held = self
            .channel_pending
            .remove(&ch)
            .or_else(|| self.diffing.remove(&ch));
        if let Some((_, held)) = held {
            for (pts, _, d) in held {
                self.channels.insert(ch, pts);
                self.push_new(d.update, d.users, d.chats, Some((ch, pts)));
            }
        }
    }

    /// The account has no access to `ch` any more: it is no longer followed.
    pub fn forget_channel(&mut self, ch: i64) {
        self.channels.remove(&ch);
        self.channel_pending.remove(&ch);
        self.diffing.remove(&ch);
    }

    /// Applies one page of `updates.getChannelDifference` for `ch`. Returns whether it was
    /// the last page, the server's `timeout`, and whether the channel's pts moved without
    /// any update to carry it (the driver then commits it).
    pub fn apply_channel_difference(
        &mut self,
        ch: i64,
        diff: enums::updates::ChannelDifference,
    ) -> ChannelPage {
        use enums::updates::ChannelDifference as CD;
        let base = self.channels.get(&ch).copied().unwrap_or(0);
        let (batch, users, chats, new_pts, last, timeout): (
            Vec<enums::Update>,
            _,
            _,
            i32,
            bool,
            _,
        ) = match diff {
            CD::Empty(e) => (vec![], vec![], vec![], e.pts, true, e.timeout),
            CD::TooLong(t) => {
                let t = *t;
                let dialog_pts = match &t.dialog {
                    enums::Dialog::Dialog(d) => d.pts.unwrap_or(base),
                    _ => base,
                };
                tracing::warn!(
                    channel = ch,
                    from = base,
                    to = dialog_pts,
                    "channel difference too long; delivering the latest messages"
                );
                let msgs = t
                    .messages
                    .into_iter()
                    .rev()
                    .map(|m| {
                        enums::Update::NewChannelMessage(Box::new(types::UpdateNewChannelMessage {
                            message: m,
                            pts: 0,
                            pts_count: 0,
                        }))
                    })
                    .collect();
                (msgs, t.users, t.chats, dialog_pts, true, t.timeout)
            }
            CD::ChannelDifference(d) => {
                let d = *d;
                let msgs = d.new_messages.into_iter().map(|m| {
                    enums::Update::NewChannelMessage(Box::new(types::UpdateNewChannelMessage {
                        message: m,
                        pts: 0,
                        pts_count: 0,
                    }))
                });
                let all = msgs.chain(d.other_updates).collect();
                (all, d.users, d.chats, d.pts, d.r#final, d.timeout)
            }
        };
        let (users, chats): (Users, Chats) = (users.into(), chats.into());
        let n = batch.len();
        for (i, u) in batch.into_iter().enumerate() {
            let at = if i + 1 == n { new_pts } else { base };
            self.push_new(u, users.clone(), chats.clone(), Some((ch, at)));
        }
        self.channels.insert(ch, new_pts);
        ChannelPage {
            last,
            timeout,
            commit_pts: (n == 0 && new_pts != base).then_some(new_pts),
        }
    }

    /// After the last page of `ch`'s difference: held updates it did not cover continue the
    /// sequence; the rest are dropped (with a warning).
    pub fn end_channel_difference(&mut self, ch: i64) {
        if let Some((since, held)) = self.diffing.remove(&ch) {
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
    }
}

/// What applying one page of a channel difference did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelPage {
    /// The last page.
    pub last: bool,
    /// When to ask again (seconds), if the server said.
    pub timeout: Option<i32>,
    /// The channel's new pts when no update carries it (commit it at once).
    pub commit_pts: Option<i32>,
}

#[cfg(test)]
#[path = "message_box_tests.rs"]
mod tests;
