//! The dispatcher: handlers chosen by composable filters, middleware before them, and
//! finite-state machines for multi-step conversations (state kept in memory or in the
//! session store, so in sled).
//!
//! ```no_run
//! # async fn f(client: fleetgram_engine::Client) -> Result<(), fleetgram_engine::InvocationError> {
//! use fleetgram_engine::dispatch::{Dispatcher, Filter as F};
//! use fleetgram_engine::updates::UpdateKind;
//! let mut d = Dispatcher::new();
//! d.middleware(|e| async move { e.sender_id() != Some(666) }); // drop a pest
//! d.on(UpdateKind::NewMessage, F::command("start") & F::private(), |e| async move {
//!     e.reply("Hi! What is your name?").await?;
//!     e.fsm().set("ask_name", serde_json::json!({}))?;
//!     Ok(())
//! });
//! d.on(UpdateKind::NewMessage, F::state("ask_name") & F::incoming(), |e| async move {
//!     e.reply(&format!("Nice to meet you, {}", e.text())).await?;
//!     e.fsm().finish()?;
//!     Ok(())
//! });
//! d.run(&client).await
//! # }
//! ```
//!
//! Each update goes to the first handler whose kind and filter match (handlers are tried in
//! the order they were added), after every middleware let it through. Chats are handled
//! concurrently, each chat's updates in order, and an update is acknowledged (committed) once
//! its handler returned: at-least-once. The filter tree tells which update kinds it can
//! match, so an update wakes only the handlers that care.
//!
//! A handler can hold a conversation: `e.conversation()?` then `send`, `get_response`,
//! `get_edit`, `wait_click`, each with a timeout (the conversation sees its chat's updates
//! before the handlers do, so waiting inside a handler does not block them).

use crate::client::Client;
use crate::error::InvocationError;
use crate::messages::{InputMessage, Message};
use crate::store::SessionStore;
use crate::updates::{Delivered, UpdateKind};
use fleetgram_tl::enums;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// What a handler may fail with (logged; the update still counts as handled).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type HandlerFn = Arc<dyn Fn(Event) -> BoxFut<Result<(), HandlerError>> + Send + Sync>;
type MiddlewareFn = Arc<dyn Fn(Event) -> BoxFut<bool> + Send + Sync>;

/// An update as handlers see it.
#[derive(Clone)]
pub struct Event {
    /// The update.
    pub update: Arc<Delivered>,
    /// Its message, for message updates.
    pub message: Option<Message>,
    /// The account.
    pub client: Client,
    /// The conversation state of (chat, sender) when the update arrived, read from the
    /// storage the first time a filter or handler asks.
    state: Arc<std::sync::OnceLock<Option<String>>>,
    fsm: Option<Arc<dyn FsmStorage>>,
    waiters: Waiters,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("kind", &self.kind())
            .field("chat_id", &self.chat_id())
            .field("state", &self.state.get())
            .finish()
    }
}

fn peer_marked(p: &enums::Peer) -> i64 {
    crate::messages::peer_id(p)
}

/// The marked id of the chat an update happened in.
pub fn chat_of(d: &Delivered) -> Option<i64> {
    use enums::Update as U;
    if let Some(m) = d.message() {
        let m = match m {
            enums::Message::Message(m) => peer_marked(&m.peer_id),
            enums::Message::Service(m) => peer_marked(&m.peer_id),
            enums::Message::Empty(m) => m.peer_id.as_ref().map(peer_marked)?,
        };
        return Some(m);
    }
    match &d.update {
        U::BotCallbackQuery(q) => Some(peer_marked(&q.peer)),
        U::UserTyping(u) => Some(u.user_id),
        U::ChatUserTyping(u) => Some(crate::peers::marked(
            crate::peers::PeerKind::Chat,
            u.chat_id,
        )),
        U::ChannelParticipant(u) => Some(crate::peers::marked(
            crate::peers::PeerKind::Channel,
            u.channel_id,
        )),
        U::BotChatInviteRequester(u) => Some(peer_marked(&u.peer)),
        U::BotMessageReaction(u) => Some(peer_marked(&u.peer)),
        U::BotStopped(u) => Some(u.user_id),
        _ => None,
    }
}

/// A conversation waiting for updates of one chat.
struct Waiter {
    id: u64,
    chat: i64,
    tx: tokio::sync::mpsc::UnboundedSender<Arc<Delivered>>,
}

/// The conversations waiting, shared by a dispatcher and its events.
#[derive(Clone, Default)]
struct Waiters(Arc<Mutex<Vec<Waiter>>>);

impl Waiters {
    /// Gives `d` to the conversations of its chat.
    fn offer(&self, d: &Arc<Delivered>) {
        let Some(chat) = chat_of(d) else { return };
        let list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for w in list.iter().filter(|w| w.chat == chat) {
            let _ = w.tx.send(d.clone());
        }
    }
}

/// Why waiting in a conversation ended without an answer.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// Nothing came in time.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The dispatcher stopped.
    #[error("the dispatcher stopped")]
    Closed,
}

/// A conversation with one chat (from [`Event::conversation`] or
/// [`Dispatcher::conversation`]): send, then wait for the answer, an edit or a button press.
/// It sees the chat's updates from the moment it is made until it is dropped; the handlers
/// still get them too.
pub struct Conversation {
    client: Client,
    chat: i64,
    id: u64,
    rx: tokio::sync::mpsc::UnboundedReceiver<Arc<Delivered>>,
    waiters: Waiters,
}

impl Conversation {
    fn new(client: Client, chat: i64, waiters: Waiters) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        waiters
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Waiter { id, chat, tx });
        Self {
            client,
            chat,
            id,
            rx,
            waiters,
        }
    }

    /// The chat.
    pub fn chat_id(&self) -> i64 {
        self.chat
    }

    /// Sends a message to the chat.
    ///
    /// # Errors
    /// As [`Client::send_message`].
    pub async fn send(&self, m: impl Into<InputMessage>) -> Result<Message, InvocationError> {
        self.client.send_message(self.chat, m).await
    }

    async fn wait<T>(
        &mut self,
        timeout: std::time::Duration,
        mut pick: impl FnMut(&Arc<Delivered>) -> Option<T>,
    ) -> Result<T, WaitError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return Err(WaitError::Timeout(timeout)),
                Ok(None) => return Err(WaitError::Closed),
                Ok(Some(d)) => {
                    if let Some(t) = pick(&d) {
                        return Ok(t);
                    }
                }
            }
        }
    }

    /// The next new message someone else sends in the chat.
    ///
    /// # Errors
    /// Nothing came within `timeout`.
    pub async fn get_response(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<Message, WaitError> {
        let client = self.client.clone();
        self.wait(timeout, |d| match (d.kind(), d.message()) {
            (UpdateKind::NewMessage, Some(m @ enums::Message::Message(x))) if !x.out => {
                Some(Message::new(client.clone(), m.clone()))
            }
            _ => None,
        })
        .await
    }

    /// The next edit of a message in the chat.
    ///
    /// # Errors
    /// Nothing came within `timeout`.
    pub async fn get_edit(&mut self, timeout: std::time::Duration) -> Result<Message, WaitError> {
        let client = self.client.clone();
        self.wait(timeout, |d| match (d.kind(), d.message()) {
            (UpdateKind::MessageEdited, Some(m)) => Some(Message::new(client.clone(), m.clone())),
            _ => None,
        })
        .await
    }

    /// The next press of an inline button in the chat: (query id, the button's data, who).
    ///
    /// # Errors
    /// Nothing came within `timeout`.
    pub async fn wait_click(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<(i64, Vec<u8>, i64), WaitError> {
        self.wait(timeout, |d| match &d.update {
            enums::Update::BotCallbackQuery(q) => {
                Some((q.query_id, q.data.clone().unwrap_or_default(), q.user_id))
            }
            _ => None,
        })
        .await
    }
}

impl Drop for Conversation {
    fn drop(&mut self) {
        self.waiters
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|w| w.id != self.id);
    }
}

impl Event {
    /// Wraps a delivered update (`fsm`: where conversation states are kept).
    pub fn new(client: Client, update: Arc<Delivered>, fsm: Option<Arc<dyn FsmStorage>>) -> Self {
        let message = update
            .message()
            .cloned()
            .map(|m| Message::new(client.clone(), m));
        Self {
            update,
            message,
            client,
            state: Arc::default(),
            fsm,
            waiters: Waiters::default(),
        }
    }

    /// The conversation state of (chat, sender) when the update was first asked about.
    pub fn state(&self) -> Option<&str> {
        self.state
            .get_or_init(|| {
                let f = self.fsm.as_ref()?;
                f.get(&self.fsm_key()).ok().flatten().map(|(s, _)| s)
            })
            .as_deref()
    }

    /// The kind of update.
    pub fn kind(&self) -> UpdateKind {
        self.update.kind()
    }

    /// The text of its message (or a callback's data as text, an inline query's query).
    pub fn text(&self) -> String {
        if let Some(m) = &self.message {
            return m.text().to_string();
        }
        match &self.update.update {
            enums::Update::BotCallbackQuery(q) => q
                .data
                .as_deref()
                .map(|d| String::from_utf8_lossy(d).into_owned())
                .unwrap_or_default(),
            enums::Update::BotInlineQuery(q) => q.query.clone(),
            _ => String::new(),
        }
    }

    /// The marked id of the chat it happened in.
    pub fn chat_id(&self) -> Option<i64> {
        chat_of(&self.update)
    }

    /// A conversation in this update's chat: wait for the next message, edit or button
    /// press there (while the dispatcher runs).
    ///
    /// # Errors
    /// The update has no chat.
    pub fn conversation(&self) -> Result<Conversation, InvocationError> {
        let chat = self.chat_id().ok_or_else(|| {
            InvocationError::BadRequest(format!("a {:?} update has no chat", self.kind()))
        })?;
        Ok(Conversation::new(
            self.client.clone(),
            chat,
            self.waiters.clone(),
        ))
    }

    /// The marked id of who caused it.
    pub fn sender_id(&self) -> Option<i64> {
        if let Some(m) = &self.message {
            return m.sender_id();
        }
        use enums::Update as U;
        match &self.update.update {
            U::BotCallbackQuery(q) => Some(q.user_id),
            U::BotInlineQuery(q) => Some(q.user_id),
            U::UserTyping(u) => Some(u.user_id),
            U::UserStatus(u) => Some(u.user_id),
            U::ChannelParticipant(u) => Some(u.user_id),
            U::BotChatInviteRequester(u) => Some(u.user_id),
            U::BotStopped(u) => Some(u.user_id),
            U::BotShippingQuery(q) => Some(q.user_id),
            U::BotPrecheckoutQuery(q) => Some(q.user_id),
            U::BotMessageReaction(u) => Some(peer_marked(&u.actor)),
            _ => None,
        }
    }

    /// Whether this account sent its message.
    pub fn outgoing(&self) -> bool {
        self.message.as_ref().is_some_and(Message::outgoing)
    }

    /// Replies in its chat (to its message, when it has one).
    ///
    /// # Errors
    /// No chat to reply in; as [`Client::send_message`].
    pub async fn reply(&self, m: impl Into<InputMessage>) -> Result<Message, InvocationError> {
        match (&self.message, self.chat_id()) {
            (Some(msg), _) => msg.reply(m).await,
            (None, Some(chat)) => self.client.send_message(chat, m).await,
            (None, None) => Err(InvocationError::BadRequest(format!(
                "a {:?} update has no chat to reply in",
                self.kind()
            ))),
        }
    }

    fn fsm_key(&self) -> String {
        format!(
            "{}:{}",
            self.chat_id().unwrap_or(0),
            self.sender_id().unwrap_or(0)
        )
    }

    /// The conversation state of (chat, sender).
    pub fn fsm(&self) -> Fsm {
        Fsm {
            key: self.fsm_key(),
            storage: self.fsm.clone(),
        }
    }
}

/// Where conversation states live: a state name and its data per (chat, user) key.
pub trait FsmStorage: Send + Sync {
    /// The state and data of `key`.
    ///
    /// # Errors
    /// The storage failed.
    fn get(&self, key: &str) -> Result<Option<(String, serde_json::Value)>, InvocationError>;
    /// Sets (or, with `None`, clears) the state of `key`.
    ///
    /// # Errors
    /// The storage failed.
    fn set(
        &self,
        key: &str,
        value: Option<(String, serde_json::Value)>,
    ) -> Result<(), InvocationError>;
}

/// States in memory (lost on restart).
#[derive(Debug, Default)]
pub struct MemoryFsm(Mutex<HashMap<String, (String, serde_json::Value)>>);

impl FsmStorage for MemoryFsm {
    fn get(&self, key: &str) -> Result<Option<(String, serde_json::Value)>, InvocationError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }

    fn set(
        &self,
        key: &str,
        value: Option<(String, serde_json::Value)>,
    ) -> Result<(), InvocationError> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match value {
            Some(v) => m.insert(key.to_string(), v),
            None => m.remove(key),
        };
        Ok(())
    }
}

/// States in the session store (sled with [`crate::store::SledStore`]), per account: they
/// survive restarts.
pub struct StoreFsm {
    store: Arc<dyn SessionStore>,
    space: String,
}

impl StoreFsm {
    /// The states of `account` in `store`.
    pub fn new(store: Arc<dyn SessionStore>, account: &str) -> Self {
        Self {
            store,
            space: format!("fsm/{account}"),
        }
    }
}

impl FsmStorage for StoreFsm {
    fn get(&self, key: &str) -> Result<Option<(String, serde_json::Value)>, InvocationError> {
        let v = self
            .store
            .kv_get(&self.space, key)
            .map_err(|e| InvocationError::BadRequest(format!("state store: {e}")))?;
        Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    fn set(
        &self,
        key: &str,
        value: Option<(String, serde_json::Value)>,
    ) -> Result<(), InvocationError> {
        let bytes = value
            .map(|v| serde_json::to_vec(&v))
            .transpose()
            .map_err(|e| InvocationError::BadRequest(format!("state store: {e}")))?;
        self.store
            .kv_set(&self.space, key, bytes.as_deref())
            .map_err(|e| InvocationError::BadRequest(format!("state store: {e}")))
    }
}

/// A typed conversation state (derive it with `#[derive(FsmState)]` on an enum): stored as
/// the variant's name and its fields as JSON.
pub trait FsmState: Sized {
    /// The variant's name.
    fn state_name(&self) -> &'static str;
    /// Every variant's name.
    fn state_names() -> &'static [&'static str];
    /// The variant's fields.
    fn state_data(&self) -> serde_json::Value;
    /// The state stored as `name` with `data` (`None`: not one of this type's).
    fn from_state(name: &str, data: &serde_json::Value) -> Option<Self>;
}

pub use fleetgram_derive::FsmState;

#[doc(hidden)]
pub mod __private {
    pub use serde_json;
}

/// The conversation state of one (chat, user).
pub struct Fsm {
    key: String,
    storage: Option<Arc<dyn FsmStorage>>,
}

impl Fsm {
    fn storage(&self) -> Result<&Arc<dyn FsmStorage>, InvocationError> {
        self.storage.as_ref().ok_or_else(|| {
            InvocationError::BadRequest(
                "the dispatcher has no state storage (Dispatcher::with_fsm)".into(),
            )
        })
    }

    /// The current state and its data.
    ///
    /// # Errors
    /// No storage; the storage failed.
    pub fn get(&self) -> Result<Option<(String, serde_json::Value)>, InvocationError> {
        self.storage()?.get(&self.key)
    }

    /// The current state's data (`null` when there is none).
    ///
    /// # Errors
    /// As [`Fsm::get`].
    pub fn data(&self) -> Result<serde_json::Value, InvocationError> {
        Ok(self.get()?.map(|(_, d)| d).unwrap_or_default())
    }

    /// Moves to `state` with `data`.
    ///
    /// # Errors
    /// As [`Fsm::get`].
    pub fn set(&self, state: &str, data: serde_json::Value) -> Result<(), InvocationError> {
        self.storage()?
            .set(&self.key, Some((state.to_string(), data)))
    }

    /// Moves to the typed state `s`.
    ///
    /// # Errors
    /// As [`Fsm::get`].
    pub fn set_state<S: FsmState>(&self, s: &S) -> Result<(), InvocationError> {
        self.set(s.state_name(), s.state_data())
    }

    /// The current state as `S` (`None`: no state, or one that is not an `S`).
    ///
    /// # Errors
    /// As [`Fsm::get`].
    pub fn state<S: FsmState>(&self) -> Result<Option<S>, InvocationError> {
        Ok(self.get()?.and_then(|(n, d)| S::from_state(&n, &d)))
    }

    /// Ends the conversation (no state).
    ///
    /// # Errors
    /// As [`Fsm::get`].
    pub fn finish(&self) -> Result<(), InvocationError> {
        self.storage()?.set(&self.key, None)
    }
}

/// How long a chat's worker waits for its next update before it ends (a new one starts
/// with the chat's next update).
const WORKER_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// The update kinds that carry a message.
const MESSAGE_KINDS: [UpdateKind; 2] = [UpdateKind::NewMessage, UpdateKind::MessageEdited];

#[derive(Clone)]
struct Handler {
    kinds: Option<BTreeSet<UpdateKind>>,
    filter: Filter,
    f: HandlerFn,
}

/// Handlers, middleware and the conversation state storage of one account.
#[derive(Default, Clone)]
pub struct Dispatcher {
    handlers: Vec<Handler>,
    /// Kind -> indexes of the handlers that may want it.
    by_kind: HashMap<UpdateKind, Vec<usize>>,
    any_kind: Vec<usize>,
    middleware: Vec<MiddlewareFn>,
    fsm: Option<Arc<dyn FsmStorage>>,
    waiters: Waiters,
    /// How long a chat's worker waits before it ends (`None`: [`WORKER_IDLE`]).
    idle: Option<std::time::Duration>,
}

impl Dispatcher {
    /// No handlers yet; conversation states in memory.
    pub fn new() -> Self {
        Self {
            fsm: Some(Arc::new(MemoryFsm::default())),
            ..Self::default()
        }
    }

    /// How long a chat's worker (the task handling one chat's updates in order) waits for
    /// the next update before it ends; the chat's next update starts a new one.
    pub fn worker_idle(mut self, d: std::time::Duration) -> Self {
        self.idle = Some(d);
        self
    }

    /// Keeps conversation states in `storage` (e.g. [`StoreFsm`] for sled).
    pub fn with_fsm(mut self, storage: Arc<dyn FsmStorage>) -> Self {
        self.fsm = Some(storage);
        self
    }

    /// Runs `f` for updates of `kind` that pass `filter`.
    pub fn on<F, Fut>(&mut self, kind: UpdateKind, filter: Filter, f: F) -> &mut Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.add(Filter::Kind(kind) & filter, f)
    }

    /// Runs `f` for updates (of any kind the filter allows) that pass `filter`.
    pub fn add<F, Fut>(&mut self, filter: Filter, f: F) -> &mut Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let kinds = filter.kinds();
        let i = self.handlers.len();
        match &kinds {
            Some(ks) => {
                for k in ks {
                    self.by_kind.entry(*k).or_default().push(i);
                }
            }
            None => self.any_kind.push(i),
        }
        self.handlers.push(Handler {
            kinds,
            filter,
            f: Arc::new(move |e| Box::pin(f(e))),
        });
        self
    }

    /// Runs `f` before the handlers; `false` drops the update.
    pub fn middleware<F, Fut>(&mut self, f: F) -> &mut Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.middleware.push(Arc::new(move |e| Box::pin(f(e))));
        self
    }

    /// The kinds some handler wants (`None`: some handler wants any kind).
    pub fn kinds(&self) -> Option<BTreeSet<UpdateKind>> {
        if !self.any_kind.is_empty() {
            return None;
        }
        Some(self.by_kind.keys().copied().collect())
    }

    /// Hands one update to the middleware and the first matching handler; whether a
    /// handler ran.
    pub async fn dispatch(&self, client: &Client, update: Arc<Delivered>) -> bool {
        let kind = update.kind();
        // The candidates, in the order they were added.
        let mut candidates: Vec<usize> = self
            .by_kind
            .get(&kind)
            .map(|v| {
                v.iter()
                    .copied()
                    .chain(self.any_kind.iter().copied())
                    .collect()
            })
            .unwrap_or_else(|| self.any_kind.clone());
        if candidates.is_empty() {
            return false;
        }
        candidates.sort_unstable();
        let mut event = Event::new(client.clone(), update, self.fsm.clone());
        event.waiters = self.waiters.clone();
        for m in &self.middleware {
            if !m(event.clone()).await {
                return false;
            }
        }
        for i in candidates {
            let h = &self.handlers[i];
            debug_assert!(h.kinds.as_ref().is_none_or(|k| k.contains(&kind)));
            if h.filter.matches(&event) {
                if let Err(e) = (h.f)(event.clone()).await {
                    tracing::warn!(kind = ?kind, filter = ?h.filter, error = %e, "handler failed");
                }
                return true;
            }
        }
        false
    }

    /// A conversation with `chat` (fed while [`Dispatcher::run`] runs).
    pub fn conversation(&self, client: &Client, chat: i64) -> Conversation {
        Conversation::new(client.clone(), chat, self.waiters.clone())
    }

    /// Follows the account's updates and dispatches each, until the client is gone. Chats
    /// are handled concurrently, each chat's updates in order; an update is acknowledged
    /// once its handler returned (the state commits up to the last update whose predecessors
    /// are all handled). Conversations waiting on a chat get its updates first.
    ///
    /// # Errors
    /// The update stream could not be opened.
    pub async fn run(&self, client: &Client) -> Result<(), InvocationError> {
        let shared = Arc::new(self.clone());
        for h in &self.handlers {
            for ch in h.filter.channels_named() {
                client.watch_channel(ch);
            }
        }
        let mut updates = client.updates().await?;
        let acker = updates.acker();
        let mut workers: HashMap<i64, tokio::sync::mpsc::UnboundedSender<Arc<Delivered>>> =
            HashMap::new();
        let idle = self.idle.unwrap_or(WORKER_IDLE);
        let mut seen = 0u64;
        while let Some(d) = updates.next().await {
            let d = match d {
                Ok(d) => Arc::new(d),
                Err(e) => {
                    tracing::warn!(error = %e, "update stream");
                    continue;
                }
            };
            self.waiters.offer(&d);
            let chat = chat_of(&d).unwrap_or(0);
            let spawn = || {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Arc<Delivered>>();
                let (shared, client, acker) = (shared.clone(), client.clone(), acker.clone());
                tokio::spawn(async move {
                    let handle = |d: Arc<Delivered>| {
                        let (shared, client, acker) = (&shared, &client, &acker);
                        async move {
                            let handled =
                                crate::unwind::catch_panic(shared.dispatch(client, d.clone()));
                            if let Err(panic) = handled.await {
                                // Handled, badly: acknowledged like a failed handler.
                                tracing::error!(%panic, kind = ?d.kind(), "a handler panicked");
                            }
                            if let Err(e) = acker.ack(&d) {
                                tracing::error!(error = %e, "cannot commit the update state");
                            }
                        }
                    };
                    loop {
                        match tokio::time::timeout(idle, rx.recv()).await {
                            Ok(Some(d)) => handle(d).await,
                            Ok(None) => return,
                            Err(_) => {
                                // Idle: close (new sends fail and make a new worker), then
                                // handle what was already sent.
                                rx.close();
                                while let Ok(d) = rx.try_recv() {
                                    handle(d).await;
                                }
                                return;
                            }
                        }
                    }
                });
                tx
            };
            seen += 1;
            if seen % 1024 == 0 {
                workers.retain(|_, tx| !tx.is_closed());
            }
            let tx = workers.entry(chat).or_insert_with(spawn);
            if let Err(back) = tx.send(d) {
                // The chat's worker went idle and closed: a new one takes it.
                let tx = spawn();
                let _ = tx.send(back.0);
                workers.insert(chat, tx);
            }
        }
        Ok(())
    }
}

mod filter;

pub use filter::Filter;
