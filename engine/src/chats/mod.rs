//! Chats: paginated iterators (dialogs, history, search, participants, join requests),
//! reading, deleting, moderation (ban, kick, restrict, promote), join requests and invite
//! links.
//!
//! Every iterator fetches pages as it goes, with Telegram's own offsets:
//!
//! ```no_run
//! # async fn f(client: fleetgram_engine::Client) -> Result<(), fleetgram_engine::InvocationError> {
//! let mut dialogs = client.iter_dialogs();
//! while let Some(d) = dialogs.next().await? {
//!     println!("{} unread in {}", d.raw.unread_count, d.chat_id);
//! }
//! let last_100 = client.iter_history("@fleet_demo_group").limit(100).collect().await?;
//! let oldest_first = client.iter_history("me").reverse().collect().await?;
//! let hits = client.search("@fleet_demo_group").query("hello").collect().await?;
//! # Ok(()) }
//! ```

use crate::client::Client;
use crate::error::InvocationError;
use crate::messages::{message_id, messages_of, Message, PeerRef};
use crate::peers::{input_channel, marked, PeerKind};
use fleetgram_tl::{enums, functions, types};
use std::collections::VecDeque;

/// Telegram's largest page for history and search.
const PAGE: i32 = 100;

/// A source of pages: each call gives the next page, or `None` at the end.
pub trait Pages: Send {
    /// What the pages hold.
    type Item: Send;
    /// The next page (`None`: there is no more).
    fn page(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Option<Vec<Self::Item>>, InvocationError>> + Send;
}

/// A paginated iterator: items one by one, pages fetched when needed.
pub struct Iter<S: Pages> {
    src: S,
    buf: VecDeque<S::Item>,
    done: bool,
    left: Option<usize>,
}

impl<S: Pages> Iter<S> {
    fn new(src: S) -> Self {
        Self {
            src,
            buf: VecDeque::new(),
            done: false,
            left: None,
        }
    }

    /// At most `n` items.
    pub fn limit(mut self, n: usize) -> Self {
        self.left = Some(n);
        self
    }

    /// The next item; `None` at the end.
    ///
    /// # Errors
    /// Fetching a page failed (the iterator can be polled again).
    pub async fn next(&mut self) -> Result<Option<S::Item>, InvocationError> {
        if self.left == Some(0) {
            return Ok(None);
        }
        while self.buf.is_empty() && !self.done {
            match self.src.page().await? {
                Some(items) if !items.is_empty() => self.buf.extend(items),
                _ => self.done = true,
            }
        }
        let item = self.buf.pop_front();
        if item.is_some() {
            if let Some(l) = &mut self.left {
                *l -= 1;
            }
        }
        Ok(item)
    }

    /// Every (remaining) item.
    ///
    /// # Errors
    /// Fetching a page failed.
    pub async fn collect(mut self) -> Result<Vec<S::Item>, InvocationError> {
        let mut out = Vec::new();
        while let Some(x) = self.next().await? {
            out.push(x);
        }
        Ok(out)
    }
}

impl<S: Pages> Iter<S> {
    fn source(&mut self) -> &mut S {
        &mut self.src
    }
}

/// One dialog (a chat in the chat list).
#[derive(Debug, Clone)]
pub struct Dialog {
    /// The marked id of the chat.
    pub chat_id: i64,
    /// The dialog as the server describes it (unread counts, read marks...).
    pub raw: types::Dialog,
    /// Its last message.
    pub top: Option<Message>,
}

/// Pages of `messages.getDialogs`.
pub struct DialogPages {
    client: Client,
    offset_date: i32,
    offset_id: i32,
    offset_peer: enums::InputPeer,
    seen: std::collections::HashSet<i64>,
    done: bool,
}

impl Pages for DialogPages {
    type Item = Dialog;

    async fn page(&mut self) -> Result<Option<Vec<Dialog>>, InvocationError> {
        if self.done {
            return Ok(None);
        }
        let r = self
            .client
            .invoke(&functions::messages::GetDialogs {
                exclude_pinned: false,
                folder_id: None,
                offset_date: self.offset_date,
                offset_id: self.offset_id,
                offset_peer: self.offset_peer.clone(),
                limit: PAGE,
                hash: 0,
            })
            .await?;
        let (dialogs, messages, last) = match r {
            enums::messages::Dialogs::Dialogs(d) => (d.dialogs, d.messages, true),
            enums::messages::Dialogs::Slice(d) => {
                let short = d.dialogs.len() < PAGE as usize;
                (d.dialogs, d.messages, short)
            }
            enums::messages::Dialogs::NotModified(_) => (vec![], vec![], true),
        };
        self.done = last;
        let messages: Vec<Message> = messages
            .into_iter()
            .map(|m| Message::new(self.client.clone(), m))
            .collect();
        let mut out = Vec::new();
        for d in dialogs {
            let enums::Dialog::Dialog(d) = d else {
                continue; // folders
            };
            let chat_id = crate::messages::peer_id(&d.peer);
            if !self.seen.insert(chat_id) {
                continue;
            }
            let top = messages
                .iter()
                .find(|m| m.chat_id() == chat_id && m.id() == d.top_message)
                .cloned();
            out.push(Dialog {
                chat_id,
                raw: *d,
                top,
            });
        }
        // The next page starts after the last dialog of this one.
        match out.last() {
            Some(last) => {
                self.offset_id = last.raw.top_message;
                self.offset_date = last.top.as_ref().map_or(0, Message::date);
                self.offset_peer = self
                    .client
                    .resolve_peer(&last.chat_id.to_string())
                    .await
                    .unwrap_or(enums::InputPeer::Empty);
            }
            None => self.done = true,
        }
        Ok(Some(out))
    }
}

/// Pages of a chat's history (`messages.getHistory`) or of a search (`messages.search`).
pub struct HistoryPages {
    client: Client,
    chat: PeerRef,
    peer: Option<enums::InputPeer>,
    from: Option<PeerRef>,
    query: Option<String>,
    filter: enums::MessagesFilter,
    offset_id: i32,
    offset_date: i32,
    min_id: i32,
    max_id: i32,
    reverse: bool,
    /// The reply thread (a post's comments) to list instead of the whole chat.
    thread: Option<i32>,
    /// Only the account's unread mentions.
    unread_mentions: bool,
    done: bool,
}

impl HistoryPages {
    fn search(&self) -> bool {
        self.query.is_some()
            || self.from.is_some()
            || !matches!(self.filter, enums::MessagesFilter::InputMessagesFilterEmpty)
    }
}

impl Pages for HistoryPages {
    type Item = Message;

    async fn page(&mut self) -> Result<Option<Vec<Message>>, InvocationError> {
        if self.done {
            return Ok(None);
        }
        let peer = match &self.peer {
            Some(p) => p.clone(),
            None => {
                let p = self.client.resolve_peer_ref(&self.chat).await?;
                self.peer = Some(p.clone());
                p
            }
        };
        // Oldest first: ask for the page above the offset (a negative add_offset).
        let (offset_id, add_offset) = if self.reverse {
            (self.offset_id.max(self.min_id + 1).max(1), -PAGE)
        } else {
            (self.offset_id, 0)
        };
        let got = if self.search() {
            let from_id = match &self.from {
                Some(PeerRef::Input(p)) => Some(p.clone()),
                Some(PeerRef::Reference(r)) => Some(self.client.resolve_peer(r).await?),
                None => None,
            };
            self.client
                .invoke(&functions::messages::Search {
                    peer,
                    q: self.query.clone().unwrap_or_default(),
                    from_id,
                    saved_peer_id: None,
                    saved_reaction: None,
                    top_msg_id: self.thread,
                    filter: self.filter.clone(),
                    min_date: 0,
                    max_date: 0,
                    offset_id,
                    add_offset,
                    limit: PAGE,
                    max_id: self.max_id,
                    min_id: self.min_id,
                    hash: 0,
                })
                .await?
        } else if self.unread_mentions {
            self.client
                .invoke(&functions::messages::GetUnreadMentions {
                    peer,
                    top_msg_id: self.thread,
                    offset_id,
                    add_offset,
                    limit: PAGE,
                    max_id: self.max_id,
                    min_id: self.min_id,
                })
                .await?
        } else if let Some(msg_id) = self.thread {
            self.client
                .invoke(&functions::messages::GetReplies {
                    peer,
                    msg_id,
                    offset_id,
                    offset_date: if self.reverse { 0 } else { self.offset_date },
                    add_offset,
                    limit: PAGE,
                    max_id: self.max_id,
                    min_id: self.min_id,
                    hash: 0,
                })
                .await?
        } else {
            self.client
                .invoke(&functions::messages::GetHistory {
                    peer,
                    offset_id,
                    offset_date: if self.reverse { 0 } else { self.offset_date },
                    add_offset,
                    limit: PAGE,
                    max_id: self.max_id,
                    min_id: self.min_id,
                    hash: 0,
                })
                .await?
        };
        self.offset_date = 0;
        let mut list: Vec<enums::Message> = messages_of(got)
            .into_iter()
            .filter(|m| !matches!(m, enums::Message::Empty(_)))
            .collect();
        if self.reverse {
            // Only what is newer than the last one handed out, oldest first.
            let after = self.offset_id.max(self.min_id + 1) - 1;
            list.retain(|m| message_id(m) > after);
            list.sort_by_key(message_id);
            match list.last() {
                Some(m) => self.offset_id = message_id(m) + 1,
                None => self.done = true,
            }
        } else {
            list.sort_by_key(|m| std::cmp::Reverse(message_id(m)));
            if self.offset_id > 0 {
                let before = self.offset_id;
                list.retain(|m| message_id(m) < before);
            }
            match list.last() {
                Some(m) => self.offset_id = message_id(m),
                None => self.done = true,
            }
        }
        Ok(Some(
            list.into_iter()
                .map(|m| Message::new(self.client.clone(), m))
                .collect(),
        ))
    }
}

/// History and search options.
impl Iter<HistoryPages> {
    /// Oldest first.
    pub fn reverse(mut self) -> Self {
        self.source().reverse = true;
        self
    }

    /// Starting before message `id` (after it, in reverse).
    pub fn offset_id(mut self, id: i32) -> Self {
        self.source().offset_id = id;
        self
    }

    /// Starting before unix time `date`.
    pub fn offset_date(mut self, date: i32) -> Self {
        self.source().offset_date = date;
        self
    }

    /// Only messages with an id above `id`.
    pub fn min_id(mut self, id: i32) -> Self {
        self.source().min_id = id;
        self
    }

    /// Only messages with an id below `id`.
    pub fn max_id(mut self, id: i32) -> Self {
        self.source().max_id = id;
        self
    }

    /// Only messages from this user.
    pub fn from_user(mut self, user: impl Into<PeerRef>) -> Self {
        self.source().from = Some(user.into());
        self
    }

    /// Only messages containing `q`.
    pub fn query(mut self, q: &str) -> Self {
        self.source().query = Some(q.to_string());
        self
    }

    /// Only messages of a kind (`inputMessagesFilterPhotos`, `...Document`, `...Url`...).
    pub fn filter(mut self, f: enums::MessagesFilter) -> Self {
        self.source().filter = f;
        self
    }
}

/// Pages of `messages.searchGlobal`.
pub struct GlobalSearchPages {
    client: Client,
    query: String,
    filter: enums::MessagesFilter,
    offset_rate: i32,
    offset_peer: enums::InputPeer,
    offset_id: i32,
    done: bool,
}

impl Pages for GlobalSearchPages {
    type Item = Message;

    async fn page(&mut self) -> Result<Option<Vec<Message>>, InvocationError> {
        if self.done {
            return Ok(None);
        }
        let r = self
            .client
            .invoke(&functions::messages::SearchGlobal {
                broadcasts_only: false,
                groups_only: false,
                users_only: false,
                folder_id: None,
                community: None,
                q: self.query.clone(),
                filter: self.filter.clone(),
                min_date: 0,
                max_date: 0,
                offset_rate: self.offset_rate,
                offset_peer: self.offset_peer.clone(),
                offset_id: self.offset_id,
                limit: PAGE,
            })
            .await?;
        if let enums::messages::Messages::Slice(s) = &r {
            self.offset_rate = s.next_rate.unwrap_or(0);
        }
        let list: Vec<enums::Message> = messages_of(r);
        match list.last() {
            Some(m) if list.len() == PAGE as usize => {
                let msg = Message::new(self.client.clone(), m.clone());
                self.offset_id = msg.id();
                self.offset_rate = self.offset_rate.max(0);
                if self.offset_rate == 0 {
                    self.offset_rate = msg.date();
                }
                self.offset_peer = self
                    .client
                    .resolve_peer(&msg.chat_id().to_string())
                    .await
                    .unwrap_or(enums::InputPeer::Empty);
            }
            _ => self.done = true,
        }
        Ok(Some(
            list.into_iter()
                .map(|m| Message::new(self.client.clone(), m))
                .collect(),
        ))
    }
}

/// Pages of `photos.getUserPhotos` (a user's profile photos, newest first).
pub struct ProfilePhotoPages {
    client: Client,
    user: PeerRef,
    offset: i32,
    done: bool,
}

impl Pages for ProfilePhotoPages {
    type Item = enums::Photo;

    async fn page(&mut self) -> Result<Option<Vec<enums::Photo>>, InvocationError> {
        if self.done {
            return Ok(None);
        }
        let user = input_user(self.client.resolve_peer_ref(&self.user).await?)?;
        let r = self
            .client
            .invoke(&functions::photos::GetUserPhotos {
                user_id: user,
                offset: self.offset,
                max_id: 0,
                limit: PAGE,
            })
            .await?;
        let (photos, total) = match r {
            enums::photos::Photos::Photos(p) => {
                self.done = true;
                let n = p.photos.len() as i32;
                (p.photos, n)
            }
            enums::photos::Photos::Slice(p) => (p.photos, p.count),
        };
        self.offset += photos.len() as i32;
        if photos.is_empty() || self.offset >= total {
            self.done = true;
        }
        Ok(Some(photos))
    }
}

/// Pages of an inline query's results (`messages.getInlineBotResults`, following the
/// bot's `next_offset`).
pub struct InlineResultPages {
    client: Client,
    bot: PeerRef,
    peer: PeerRef,
    query: String,
    offset: Option<String>,
}

impl Pages for InlineResultPages {
    type Item = enums::BotInlineResult;

    async fn page(&mut self) -> Result<Option<Vec<enums::BotInlineResult>>, InvocationError> {
        let Some(offset) = self.offset.take() else {
            return Ok(None);
        };
        let bot = input_user(self.client.resolve_peer_ref(&self.bot).await?)?;
        let peer = self.client.resolve_peer_ref(&self.peer).await?;
        let enums::messages::BotResults::BotResults(r) = self
            .client
            .invoke(&functions::messages::GetInlineBotResults {
                bot,
                peer,
                geo_point: None,
                query: self.query.clone(),
                offset,
            })
            .await?;
        self.offset = r.next_offset.filter(|o| !o.is_empty());
        Ok(Some(r.results))
    }
}

impl Client {
    /// The chat list, newest first.
    pub fn iter_dialogs(&self) -> Iter<DialogPages> {
        Iter::new(DialogPages {
            client: self.clone(),
            offset_date: 0,
            offset_id: 0,
            offset_peer: enums::InputPeer::Empty,
            seen: Default::default(),
            done: false,
        })
    }

    /// A chat's messages, newest first (see the options on [`Iter`]: `reverse`, offsets,
    /// min/max id, `from_user`).
    pub fn iter_history(&self, chat: impl Into<PeerRef>) -> Iter<HistoryPages> {
        Iter::new(HistoryPages {
            client: self.clone(),
            chat: chat.into(),
            peer: None,
            from: None,
            query: None,
            filter: enums::MessagesFilter::InputMessagesFilterEmpty,
            offset_id: 0,
            offset_date: 0,
            min_id: 0,
            max_id: 0,
            reverse: false,
            thread: None,
            unread_mentions: false,
            done: false,
        })
    }

    /// The messages of `chat` that mention this account and are not read yet, newest first
    /// (`clear_mentions` reads them all).
    pub fn iter_unread_mentions(&self, chat: impl Into<PeerRef>) -> Iter<HistoryPages> {
        let mut it = self.iter_history(chat);
        it.source().unread_mentions = true;
        it
    }

    /// The replies in a thread, newest first (the same options as [`Client::iter_history`]):
    /// a channel post's comments (`chat` the channel, `msg_id` the post; they live in its
    /// discussion group), or the thread a supergroup message starts.
    ///
    /// ```no_run
    /// # async fn f(client: fleetgram_engine::Client) -> Result<(), fleetgram_engine::InvocationError> {
    /// let comments = client.iter_replies("@fleet_news", 42).reverse().collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn iter_replies(&self, chat: impl Into<PeerRef>, msg_id: i32) -> Iter<HistoryPages> {
        let mut it = self.iter_history(chat);
        it.source().thread = Some(msg_id);
        it
    }

    /// A search in one chat: set `query`, `filter` and/or `from_user` on the iterator.
    pub fn search(&self, chat: impl Into<PeerRef>) -> Iter<HistoryPages> {
        let mut it = self.iter_history(chat);
        it.source().query = Some(String::new());
        it
    }

    /// A search over every chat.
    pub fn search_global(&self, query: &str) -> Iter<GlobalSearchPages> {
        Iter::new(GlobalSearchPages {
            client: self.clone(),
            query: query.into(),
            filter: enums::MessagesFilter::InputMessagesFilterEmpty,
            offset_rate: 0,
            offset_peer: enums::InputPeer::Empty,
            offset_id: 0,
            done: false,
        })
    }

    /// The members of a group or channel (all, or those a filter picks).
    pub fn iter_participants(&self, chat: impl Into<PeerRef>) -> Iter<ParticipantPages> {
        Iter::new(ParticipantPages {
            client: self.clone(),
            chat: chat.into(),
            filter: ParticipantFilter::Recent,
            offset: 0,
            done: false,
        })
    }

    /// A user's profile photos, newest first.
    pub fn iter_profile_photos(&self, user: impl Into<PeerRef>) -> Iter<ProfilePhotoPages> {
        Iter::new(ProfilePhotoPages {
            client: self.clone(),
            user: user.into(),
            offset: 0,
            done: false,
        })
    }

    /// The results of inline query `query` to `bot` from chat `peer`, page after page as
    /// the bot gives them.
    pub fn iter_inline_results(
        &self,
        bot: impl Into<PeerRef>,
        peer: impl Into<PeerRef>,
        query: &str,
    ) -> Iter<InlineResultPages> {
        Iter::new(InlineResultPages {
            client: self.clone(),
            bot: bot.into(),
            peer: peer.into(),
            query: query.into(),
            offset: Some(String::new()),
        })
    }

    /// Sets a new profile photo (an uploaded JPEG); the photo.
    ///
    /// # Errors
    /// `PHOTO_INVALID`...
    pub async fn upload_profile_photo(
        &self,
        file: enums::InputFile,
    ) -> Result<enums::Photo, InvocationError> {
        let enums::photos::Photo::Photo(p) = self
            .invoke(&functions::photos::UploadProfilePhoto {
                fallback: false,
                bot: None,
                file: Some(file),
                video: None,
                video_start_ts: None,
                video_emoji_markup: None,
            })
            .await?;
        Ok(p.photo)
    }

    /// The pending join requests of a group or channel this account administers.
    pub fn iter_join_requests(&self, chat: impl Into<PeerRef>) -> Iter<JoinRequestPages> {
        Iter::new(JoinRequestPages {
            client: self.clone(),
            chat: chat.into(),
            offset_date: 0,
            offset_user: enums::InputUser::Empty,
            done: false,
        })
    }

    /// Marks everything in `chat` read.
    ///
    /// # Errors
    /// The peer cannot be resolved; the call failed.
    pub async fn mark_read(&self, chat: impl Into<PeerRef>) -> Result<(), InvocationError> {
        self.with_peer_ref(&chat.into(), |peer| {
            let client = self.clone();
            async move {
                match input_channel(&peer) {
                    Some(channel) => client
                        .invoke(&functions::channels::ReadHistory { channel, max_id: 0 })
                        .await
                        .map(|_| ()),
                    None => client
                        .invoke(&functions::messages::ReadHistory { peer, max_id: 0 })
                        .await
                        .map(|_| ()),
                }
            }
        })
        .await
    }

    /// Marks the mentions of this account in `chat` read (repeating the call while Telegram
    /// says there is more).
    ///
    /// # Errors
    /// The peer cannot be resolved; the call failed.
    pub async fn clear_mentions(&self, chat: impl Into<PeerRef>) -> Result<(), InvocationError> {
        self.with_peer_ref(&chat.into(), |peer| {
            let client = self.clone();
            async move {
                for _ in 0..1000 {
                    let enums::messages::AffectedHistory::AffectedHistory(a) = client
                        .invoke(&functions::messages::ReadMentions {
                            peer: peer.clone(),
                            top_msg_id: None,
                        })
                        .await?;
                    if a.offset <= 0 {
                        break;
                    }
                }
                Ok(())
            }
        })
        .await
    }

    /// Deletes a dialog: a private chat's or group's history (`revoke`: for the other side
    /// too), or leaves a channel / supergroup.
    ///
    /// # Errors
    /// The peer cannot be resolved; the call failed.
    pub async fn delete_dialog(
        &self,
        chat: impl Into<PeerRef>,
        revoke: bool,
    ) -> Result<(), InvocationError> {
        self.with_peer_ref(&chat.into(), |peer| {
            let client = self.clone();
            async move {
                if let Some(channel) = input_channel(&peer) {
                    return client
                        .invoke(&functions::channels::LeaveChannel { channel })
                        .await
                        .map(|_| ());
                }
                // The server deletes in batches; repeat until nothing is left.
                loop {
                    let enums::messages::AffectedHistory::AffectedHistory(a) = client
                        .invoke(&functions::messages::DeleteHistory {
                            just_clear: false,
                            revoke,
                            peer: peer.clone(),
                            max_id: 0,
                            min_date: None,
                            max_date: None,
                        })
                        .await?;
                    if a.offset <= 0 {
                        return Ok(());
                    }
                }
            }
        })
        .await
    }
}

/// The marked id of a channel (`-100…id`), a group (`-id`) or a user.
pub fn marked_id(kind: PeerKind, id: i64) -> i64 {
    marked(kind, id)
}

mod moderation;
mod participants;

use moderation::input_user;
pub use moderation::{invite_hash, InviteOptions};
pub use participants::{
    JoinRequest, JoinRequestPages, Participant, ParticipantFilter, ParticipantPages,
};
