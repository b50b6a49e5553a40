//! Per-chat order, shared by the Rust [`Dispatcher`](super::Dispatcher) and the fleet's
//! script host: a chat's updates are handled one at a time, in the order they came; other
//! chats (and updates with no chat) run concurrently. An update is handed back once its
//! handling finished, to be acknowledged: the update state commits up to the last update
//! whose predecessors are all handled (at-least-once).

use crate::updates::Delivered;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Which updates may start: one per chat at a time, the rest queued in arrival order. Pure
/// bookkeeping (no tasks), so it is tested alone.
#[derive(Debug)]
pub struct ChatOrder<T> {
    /// Chats with an update being handled -> the updates waiting behind it.
    busy: HashMap<i64, VecDeque<T>>,
}

impl<T> Default for ChatOrder<T> {
    fn default() -> Self {
        Self {
            busy: HashMap::new(),
        }
    }
}

impl<T> ChatOrder<T> {
    /// `t` of `chat` came: `Some(t)` when it may start now, `None` when it waits for the
    /// chat's running update.
    pub fn admit(&mut self, chat: Option<i64>, t: T) -> Option<T> {
        let Some(c) = chat else { return Some(t) };
        match self.busy.get_mut(&c) {
            Some(q) => {
                q.push_back(t);
                None
            }
            None => {
                self.busy.insert(c, VecDeque::new());
                Some(t)
            }
        }
    }

    /// The running update of `chat` finished: the chat's next one, to start now (the chat
    /// is forgotten when nothing waits: a quiet chat holds nothing).
    pub fn finished(&mut self, chat: Option<i64>) -> Option<T> {
        let c = chat?;
        let next = self.busy.get_mut(&c).and_then(VecDeque::pop_front);
        if next.is_none() {
            self.busy.remove(&c);
        }
        next
    }

    /// Chats with an update being handled.
    pub fn busy_chats(&self) -> usize {
        self.busy.len()
    }
}

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What handles one update.
pub type HandleFn = Arc<dyn Fn(Arc<Delivered>) -> BoxFut + Send + Sync>;

/// Runs updates on tasks in per-chat order and hands each back when its handling finished
/// (a handler that panicked counts as finished; the panic is logged).
pub struct OrderedRunner {
    handle: HandleFn,
    order: ChatOrder<Arc<Delivered>>,
    done_tx: tokio::sync::mpsc::UnboundedSender<(Option<i64>, Arc<Delivered>)>,
    done_rx: tokio::sync::mpsc::UnboundedReceiver<(Option<i64>, Arc<Delivered>)>,
    /// Submitted and not yet handed back (running or waiting).
    pending: usize,
    account: Arc<str>,
}

impl OrderedRunner {
    /// A runner whose updates are handled by `handle` (`account`: for the logs).
    pub fn new<F, Fut>(account: &str, handle: F) -> Self
    where
        F: Fn(Arc<Delivered>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel();
        Self {
            handle: Arc::new(move |d| Box::pin(handle(d))),
            order: ChatOrder::default(),
            done_tx,
            done_rx,
            pending: 0,
            account: account.into(),
        }
    }

    /// Takes `d`: it starts now, or after the updates of its chat that came before it.
    pub fn submit(&mut self, d: Arc<Delivered>) {
        self.pending += 1;
        let chat = super::chat_of(&d);
        if let Some(d) = self.order.admit(chat, d) {
            self.spawn(chat, d);
        }
    }

    fn spawn(&self, chat: Option<i64>, d: Arc<Delivered>) {
        let fut = (self.handle)(d.clone());
        let tx = self.done_tx.clone();
        let account = self.account.clone();
        tokio::spawn(async move {
            if let Err(panic) = crate::unwind::catch_panic(fut).await {
                // Handled, badly: acknowledged like a failed handler, so the chat goes on.
                tracing::error!(account = %account, %panic, kind = ?d.kind(), chat, "a handler panicked");
            }
            let _ = tx.send((chat, d));
        });
    }

    /// Updates submitted and not yet handed back.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The next update whose handling finished (its chat's next update starts). Waits
    /// forever when nothing is pending: use it in a `select!` guarded by
    /// [`OrderedRunner::pending`].
    pub async fn finished(&mut self) -> Arc<Delivered> {
        let (chat, d) = self
            .done_rx
            .recv()
            .await
            .expect("the runner holds a sender");
        self.pending -= 1;
        if let Some(next) = self.order.finished(chat) {
            self.spawn(chat, next);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_runs_one_update_at_a_time_in_arrival_order() {
        let mut o = ChatOrder::default();
        assert_eq!(o.admit(Some(1), "a1"), Some("a1"));
        assert_eq!(o.admit(Some(2), "b1"), Some("b1"));
        assert_eq!(o.admit(Some(1), "a2"), None);
        assert_eq!(o.admit(Some(1), "a3"), None);
        // No chat: no order.
        assert_eq!(o.admit(None, "x"), Some("x"));
        assert_eq!(o.admit(None, "y"), Some("y"));
        assert_eq!(o.busy_chats(), 2);
        assert_eq!(o.finished(Some(1)), Some("a2"));
        assert_eq!(o.finished(Some(2)), None);
        assert_eq!(o.finished(Some(1)), Some("a3"));
        assert_eq!(o.finished(None), None);
        assert_eq!(o.busy_chats(), 1);
        assert_eq!(o.finished(Some(1)), None);
        // Quiet chats hold nothing; the next update starts at once.
        assert_eq!(o.busy_chats(), 0);
        assert_eq!(o.admit(Some(1), "a4"), Some("a4"));
    }
}
