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
//!     e.stop_propagation(); // the answer is not also taken for something else
//!     e.reply(&format!("Nice to meet you, {}", e.text())).await?;
//!     e.fsm().finish()?;
//!     Ok(())
//! });
//! d.run(&client).await
//! # }
//! ```
//!
//! An update goes, after every middleware let it through, to every handler whose kind and
//! filter match, in the order they were added, until one calls [`Event::stop_propagation`]
//! (the same rule as scripts; all filters judge the update as it arrived, before the first
//! handler runs). The [`Filter`] is the one scripts build too, judged on one [`View`] of the
//! update. Chats are handled concurrently, each chat's updates in order ([`OrderedRunner`],
//! shared with the fleet's scripts), and an update is acknowledged (committed) once its
//! handlers returned: at-least-once. The filter tree tells which update kinds it can match,
//! so an update no handler wants wakes none.
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
    /// What filters look at, read once from the update.
    pub view: Arc<View>,
    /// This account's username (for `/command@me`), when known.
    me: Option<Arc<str>>,
    /// Set by [`Event::stop_propagation`]: later handlers do not run.
    stopped: Arc<std::sync::atomic::AtomicBool>,
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

/// A conversation waiting for updates of one chat.
struct Waiter {
    id: u64,
    chat: i64,
    tx: tokio::sync::mpsc::UnboundedSender<Arc<Delivered>>,
}

/// The conversations waiting for an account's updates, shared by whoever delivers them (a
/// [`Dispatcher`], the script host) and whoever opens conversations: every update is
/// offered here as it arrives, before the handlers of its chat get it in order, so a
/// handler waiting for the chat's next message is never waiting for itself.
#[derive(Clone, Default)]
pub struct Waiters(Arc<Mutex<Vec<Waiter>>>);

impl std::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |l| l.len());
        write!(f, "Waiters({n} open)")
    }
}

impl Waiters {
    /// Opens a conversation with `chat` (a marked id): it sees the chat's updates offered
    /// from now until it is dropped.
    pub fn open(&self, client: Client, chat: i64) -> Conversation {
        Conversation::new(client, chat, self.clone())
    }

    /// Gives `d` to the conversations of its chat.
    pub fn offer(&self, d: &Arc<Delivered>) {
        let list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if list.is_empty() {
            return;
        }
        let Some(chat) = chat_of(d) else { return };
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
        let view = Arc::new(View::of(&update, client.user_id()));
        Self {
            update,
            message,
            client,
            view,
            me: None,
            stopped: Arc::default(),
            state: Arc::default(),
            fsm,
            waiters: Waiters::default(),
        }
    }

    /// Knows this account's username, so `/command@username` matches [`Filter::command`]
    /// (the dispatcher sets it; for events made by hand).
    pub fn username(mut self, name: &str) -> Self {
        self.me = Some(name.trim_start_matches('@').into());
        self
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
        self.view.text.clone()
    }

    /// Later handlers (in the order they were added) do not get this update; without it,
    /// every handler whose filter matched runs.
    pub fn stop_propagation(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a handler stopped the update here.
    pub fn propagation_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The marked id of the chat it happened in.
    pub fn chat_id(&self) -> Option<i64> {
        self.view.chat_id
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

    /// The marked id of who caused it (this account for its own private messages).
    pub fn sender_id(&self) -> Option<i64> {
        self.view.sender_id
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
    /// This account's username, for `/command@me` (learned by [`Dispatcher::run`]).
    me: Option<Arc<str>>,
}

impl Dispatcher {
    /// No handlers yet; conversation states in memory.
    pub fn new() -> Self {
        Self {
            fsm: Some(Arc::new(MemoryFsm::default())),
            ..Self::default()
        }
    }

    /// This account's username, so `/command@username` matches [`Filter::command`] (a
    /// command addressed to another bot never does). [`Dispatcher::run`] learns it itself.
    pub fn username(mut self, name: &str) -> Self {
        self.me = Some(name.trim_start_matches('@').into());
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

    /// Hands one update to the middleware, then to every handler whose kind and filter
    /// match, in the order they were added, until one calls [`Event::stop_propagation`];
    /// whether a handler ran. The filters judge the update as it arrived: all are asked
    /// before the first handler runs.
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
        event.me = self.me.clone();
        for m in &self.middleware {
            if !m(event.clone()).await {
                return false;
            }
        }
        candidates.retain(|&i| {
            let h = &self.handlers[i];
            debug_assert!(h.kinds.as_ref().is_none_or(|k| k.contains(&kind)));
            h.filter.matches(&event)
        });
        for &i in &candidates {
            let h = &self.handlers[i];
            if let Err(e) = (h.f)(event.clone()).await {
                tracing::warn!(kind = ?kind, filter = ?h.filter, error = %e, "handler failed");
            }
            if event.propagation_stopped() {
                break;
            }
        }
        !candidates.is_empty()
    }

    /// A conversation with `chat` (fed while [`Dispatcher::run`] runs).
    pub fn conversation(&self, client: &Client, chat: i64) -> Conversation {
        Conversation::new(client.clone(), chat, self.waiters.clone())
    }

    /// Follows the account's updates and dispatches each, until the client is gone. Chats
    /// are handled concurrently, each chat's updates in order ([`OrderedRunner`], as the
    /// fleet's scripts); an update is acknowledged once its handlers returned (the state
    /// commits up to the last update whose predecessors are all handled). Conversations
    /// waiting on a chat get its updates first.
    ///
    /// # Errors
    /// The update stream could not be opened, or a bot's own user could not be read.
    pub async fn run(&self, client: &Client) -> Result<(), InvocationError> {
        let mut this = self.clone();
        if this.me.is_none() && client.is_bot() {
            if let enums::User::User(u) = client.get_me().await? {
                this.me = u.username.as_deref().map(Arc::from);
            }
        }
        for h in &this.handlers {
            for ch in h.filter.channels_named() {
                client.watch_channel(ch);
            }
        }
        let shared = Arc::new(this);
        let mut updates = client.updates().await?;
        let mut runner = OrderedRunner::new(client.account(), {
            let (shared, client) = (shared.clone(), client.clone());
            move |d| {
                let (shared, client) = (shared.clone(), client.clone());
                async move {
                    shared.dispatch(&client, d).await;
                }
            }
        });
        loop {
            tokio::select! {
                d = runner.finished(), if runner.pending() > 0 => {
                    if let Err(e) = updates.ack(&d) {
                        tracing::error!(error = %e, "cannot commit the update state");
                    }
                }
                next = updates.next() => match next {
                    None => break,
                    Some(Err(e)) => tracing::warn!(error = %e, "update stream"),
                    Some(Ok(d)) => {
                        let d = Arc::new(d);
                        shared.waiters.offer(&d);
                        runner.submit(d);
                    }
                },
            }
        }
        Ok(())
    }
}

mod order;

pub use order::{ChatOrder, HandleFn, OrderedRunner};

mod filter;

pub use filter::{chat_of, ChatType, EventFn, Filter, View};
