//! Script workers: every loaded version of a script runs on an OS thread of its own, so that
//! no script code, however long it runs (even inside a library call out of reach of the
//! instruction hook), holds one of the runtime's workers: the operator view, the local DC,
//! schedules and every other account go on. The thread drives its jobs with the runtime's
//! handle (timers, sockets and spawned tasks stay the runtime's), several at a time for
//! Lua, whose handlers suspend on API calls.
//!
//! A watchdog question, [`Worker::busy_for`], tells how long the thread has been inside one
//! poll of script code: the host reports a script stuck past its time limit, and callers
//! stop waiting for it (see `host.rs`).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A future that stays on its worker thread.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

type Job = Box<dyn FnOnce() -> LocalBoxFuture<'static, ()> + Send>;

/// Stack of a script thread: Lua's C calls and Rhai's evaluation are recursive.
const STACK: usize = 8 << 20;

/// How long an idle worker thread keeps looking for the next job before it sleeps: jobs
/// come in quick succession under load, and waking a sleeping thread costs far more than
/// a short handler (tens of microseconds on a virtual machine).
const IDLE_SPIN: Duration = Duration::from_micros(100);

/// How long a caller looks for the result before it sleeps, when the worker's jobs are
/// usually that quick.
const RESULT_SPIN: Duration = Duration::from_micros(100);

struct State {
    /// When the poll that is running began (ms after `epoch`, plus one), 0 when idle.
    busy_since: AtomicU64,
    /// How long the jobs took, from being sent to their result (a moving average, ns).
    typical_ns: AtomicU64,
    /// Jobs sent and not finished.
    in_flight: std::sync::atomic::AtomicUsize,
    /// Jobs sent so far.
    sent: AtomicU64,
    epoch: Instant,
}

/// One job in flight (counted until dropped, also when the job never runs).
struct InFlight(Arc<State>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A script's thread (cheap to clone: the thread ends when the last clone is dropped and
/// its jobs have finished).
#[derive(Clone)]
pub struct Worker {
    tx: tokio::sync::mpsc::UnboundedSender<Job>,
    state: Arc<State>,
}

/// The worker is gone (its thread ended or could not start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerGone;

impl Worker {
    /// Starts a worker thread named `name`; must be called inside a tokio runtime.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(name: &str) -> std::io::Result<Worker> {
        let handle = tokio::runtime::Handle::current();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let state = Arc::new(State {
            busy_since: AtomicU64::new(0),
            typical_ns: AtomicU64::new(u64::MAX),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            epoch: Instant::now(),
        });
        let st = state.clone();
        std::thread::Builder::new()
            .name(format!("script {name}"))
            .stack_size(STACK)
            .spawn(move || {
                WORKER.with(|w| *w.borrow_mut() = Some(st.clone()));
                let _enter = handle.enter();
                let local = tokio::task::LocalSet::new();
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle.block_on(local.run_until(async {
                        while let Some(job) = next_job(&mut rx).await {
                            let mut job = Tracked {
                                fut: job(),
                                state: st.clone(),
                            };
                            // Most jobs finish in their first poll: that poll is made here,
                            // and only a job that has to wait becomes a task of its own
                            // (polled again, with its own waker, once spawned).
                            DEFER.with(|d| d.set(true));
                            // A job that panics ends as it would in a task of its own:
                            // dropped (its caller hears the worker is gone), and the
                            // thread goes on with the next jobs.
                            let polled = std::future::poll_fn(|cx| {
                                Poll::Ready(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                                    || Pin::new(&mut job).poll(cx).is_pending(),
                                )))
                            })
                            .await;
                            DEFER.with(|d| d.set(false));
                            match polled {
                                Ok(true) => {
                                    tokio::task::spawn_local(job);
                                }
                                Ok(false) => {}
                                Err(_) => {
                                    // Busy no more (the poll did not return to say so).
                                    st.busy_since.store(0, Ordering::Relaxed);
                                    tracing::debug!("a script job panicked");
                                }
                            }
                            if DEFERRED.with(|d| d.borrow().len()) >= MAX_DEFERRED {
                                flush_deferred();
                            }
                        }
                    }));
                    // No more jobs can come: let the running ones finish.
                    handle.block_on(local);
                }));
                if run.is_err() {
                    // The runtime shutting down under a running script ends up here.
                    tracing::debug!("a script thread ended with a panic");
                }
            })?;
        Ok(Worker { tx, state })
    }

    /// Runs `job` on the worker thread and waits for its result (`Err` when the worker is
    /// gone or dropped the job).
    pub fn run<T, F, Fut>(
        &self,
        job: F,
    ) -> impl Future<Output = Result<T, WorkerGone>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let (otx, mut orx) = tokio::sync::oneshot::channel();
        // How long jobs take is sampled (one in eight): reading the clock is not free.
        let sampled = self.state.sent.fetch_add(1, Ordering::Relaxed) % 8 == 0;
        let sent_at = sampled.then(Instant::now);
        let state = self.state.clone();
        let alone = self.state.in_flight.fetch_add(1, Ordering::Relaxed) == 0;
        let counted = InFlight(self.state.clone());
        let sent = self
            .tx
            .send(Box::new(move || {
                Box::pin(async move {
                    let _counted = counted;
                    let v = job().await;
                    if let Some(sent_at) = sent_at {
                        let took = sent_at.elapsed().as_nanos() as u64;
                        let old = state.typical_ns.load(Ordering::Relaxed);
                        let avg = if old == u64::MAX {
                            took
                        } else {
                            old - old / 8 + took / 8
                        };
                        state.typical_ns.store(avg, Ordering::Relaxed);
                    }
                    deliver(move || {
                        let _ = otx.send(v);
                    });
                })
            }))
            .is_ok();
        // Spinning for the result pays when this is the only job and jobs are quick; with
        // others in flight the caller's thread has better things to do (submit them).
        let quick = alone
            && self.state.typical_ns.load(Ordering::Relaxed)
                < RESULT_SPIN.as_nanos() as u64 * 3 / 4;
        async move {
            if !sent {
                return Err(WorkerGone);
            }
            if quick {
                // The result usually comes within microseconds: look for it before
                // sleeping.
                let until = Instant::now() + RESULT_SPIN;
                loop {
                    match orx.try_recv() {
                        Ok(v) => return Ok(v),
                        Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                            return Err(WorkerGone)
                        }
                        Err(tokio::sync::oneshot::error::TryRecvError::Empty)
                            if Instant::now() < until =>
                        {
                            // The runtime's other tasks (more updates for this worker)
                            // run first; with none, this comes straight back.
                            tokio::task::yield_now().await
                        }
                        Err(tokio::sync::oneshot::error::TryRecvError::Empty) => break,
                    }
                }
            }
            orx.await.map_err(|_| WorkerGone)
        }
    }

    /// How long the thread has been inside one poll of script code, if it is.
    pub fn busy_for(&self) -> Option<Duration> {
        match self.state.busy_since.load(Ordering::Relaxed) {
            0 => None,
            since => {
                let now = self.state.epoch.elapsed().as_millis() as u64 + 1;
                Some(Duration::from_millis(now.saturating_sub(since)))
            }
        }
    }
}

/// The next job: looked for for a moment (letting the thread's other jobs run) before the
/// thread sleeps; `None` when no more can come.
async fn next_job(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Job>) -> Option<Job> {
    use tokio::sync::mpsc::error::TryRecvError;
    if let Ok(job) = rx.try_recv() {
        return Some(job);
    }
    // No job waiting: the results held back go out now, together.
    flush_deferred();
    let until = Instant::now() + IDLE_SPIN;
    loop {
        match rx.try_recv() {
            Ok(job) => return Some(job),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if Instant::now() < until => {
                tokio::task::yield_now().await;
            }
            Err(TryRecvError::Empty) => return rx.recv().await,
        }
    }
}

/// Starts a worker thread for the script at `path` (named `name` in thread listings) and
/// runs `load` there: every piece of the script's code runs on that thread from then on.
///
/// # Errors
/// The script's own error, or no thread could be started.
pub async fn load_on_worker<T: Send + 'static>(
    path: &std::path::Path,
    name: &str,
    load: impl FnOnce(std::path::PathBuf, Worker) -> LocalBoxFuture<'static, Result<T, crate::ScriptError>>
        + Send
        + 'static,
) -> Result<T, crate::ScriptError> {
    let file = path.display().to_string();
    let worker = Worker::spawn(name)
        .map_err(|e| crate::ScriptError::new(&file, None, format!("cannot start a thread: {e}")))?;
    let (path, w) = (path.to_path_buf(), worker.clone());
    worker.run(move || load(path, w)).await.unwrap_or_else(|_| {
        Err(crate::ScriptError::new(
            &file,
            None,
            "the script's thread ended",
        ))
    })
}

/// Results held back at most, before they are handed over.
const MAX_DEFERRED: usize = 64;

/// Hands a job's result over: at once, or, for a job that finished in the poll the worker's
/// loop made (while more jobs wait in its queue), together with the others of that run of
/// jobs. Handing results over wakes their callers, on the runtime's threads; a burst of
/// them wakes a sleeping runtime thread once instead of once per result.
fn deliver(send: impl FnOnce() + 'static) {
    if DEFER.with(Cell::get) {
        DEFERRED.with(|d| d.borrow_mut().push(Box::new(send)));
    } else {
        send();
    }
}

/// Hands over the results held back.
fn flush_deferred() {
    let held = DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()));
    for send in held {
        send();
    }
}

thread_local! {
    /// Whether results are held back (see [`deliver`]).
    static DEFER: Cell<bool> = const { Cell::new(false) };
    /// Results held back.
    static DEFERRED: RefCell<Vec<Box<dyn FnOnce()>>> = const { RefCell::new(Vec::new()) };
    /// The state of the worker this thread is (none on other threads).
    static WORKER: std::cell::RefCell<Option<Arc<State>>> = const { std::cell::RefCell::new(None) };
}

/// Blocks this thread on `fut` as time spent *waiting* (for Telegram, a `sleep`, a
/// conversation), not running script code: the worker does not count as busy meanwhile.
/// Returns the output and how long it waited.
pub fn wait_on<F: Future>(fut: F) -> (F::Output, Duration) {
    let state = WORKER.with(|w| w.borrow().clone());
    let busy = state
        .as_ref()
        .map(|s| s.busy_since.swap(0, Ordering::Relaxed));
    let start = Instant::now();
    let v = block_on(fut);
    let waited = start.elapsed();
    if let (Some(s), Some(b)) = (state, busy) {
        if b != 0 {
            // Busy again from now (the wait is not part of the run's busy time).
            let now = s.epoch.elapsed().as_millis() as u64 + 1;
            s.busy_since.store(now, Ordering::Relaxed);
        }
    }
    (v, waited)
}

/// Notes when each poll of a job begins and ends.
struct Tracked {
    fut: LocalBoxFuture<'static, ()>,
    state: Arc<State>,
}

impl Future for Tracked {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let since = self.state.epoch.elapsed().as_millis() as u64 + 1;
        self.state.busy_since.store(since, Ordering::Relaxed);
        let r = self.fut.as_mut().poll(cx);
        self.state.busy_since.store(0, Ordering::Relaxed);
        r
    }
}

/// Runs a future to completion on this thread, parking it in between (for synchronous
/// script code, Rhai's, that calls the async API on a worker thread).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        // The thread is about to wait (for Telegram, a `sleep`, a conversation): results
        // of finished jobs held back for a burst go out first, not after the wait.
        flush_deferred();
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_finished_result_is_not_held_while_the_thread_waits() {
        let w = Worker::spawn("test").unwrap();
        let sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The first job finishes only once the second is queued behind it, so its result
        // is held back for a burst; the second then waits (as Rhai code waits for
        // Telegram): the first result must not wait with it.
        let s = sent.clone();
        let first = w.run(move || async move {
            while !s.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            1
        });
        let first = tokio::spawn(first);
        let second = w.run(|| async {
            block_on(tokio::time::sleep(Duration::from_secs(3)));
            2
        });
        sent.store(true, Ordering::SeqCst);
        let t = std::time::Instant::now();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(second.await.unwrap(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_job_that_panics_leaves_the_thread_to_the_others() {
        let w = Worker::spawn("test").unwrap();
        let bad = w.run(|| async {
            if std::hint::black_box(true) {
                panic!("a bug in a job");
            }
        });
        assert_eq!(bad.await, Err(WorkerGone));
        assert_eq!(w.run(|| async { 5 }).await, Ok(5));
        assert_eq!(w.busy_for(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn jobs_run_off_the_runtime_and_a_stuck_one_is_seen() {
        let w = Worker::spawn("test").unwrap();
        let main = std::thread::current().id();
        let id = w
            .run(|| Box::pin(async { std::thread::current().id() }))
            .await
            .unwrap();
        assert_ne!(id, main);
        // A job that blocks its thread (as a long library call would) does not block the
        // runtime: this task goes on and sees the worker busy.
        let stuck = w.run(|| {
            Box::pin(async {
                std::thread::sleep(Duration::from_millis(600));
            })
        });
        let waiter = tokio::spawn(stuck);
        // (Polled, not timed: on a loaded machine the job may start late.)
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let busy = loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            match w.busy_for() {
                Some(b) if b >= Duration::from_millis(100) => break b,
                _ if std::time::Instant::now() > deadline => panic!("never seen busy"),
                _ => {}
            }
        };
        assert!(busy >= Duration::from_millis(100), "{busy:?}");
        waiter.await.unwrap().unwrap();
        assert_eq!(w.busy_for(), None);
        // Several async jobs interleave on the one thread.
        let a = w.run(|| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                1
            })
        });
        let b = w.run(|| Box::pin(async { 2 }));
        assert_eq!(b.await.unwrap(), 2);
        assert_eq!(a.await.unwrap(), 1);
        assert_eq!(block_on(async { 3 }), 3);
    }
}
