//! The one call policy (DESIGN rule 6): what to do when a call fails.
//!
//! Every call goes through [`crate::Client::invoke`], which asks the account's
//! [`RetryPolicy`] after each failure. DC migrations (`*_MIGRATE_X`) are handled before the
//! policy is asked, since they are never an error for the caller.

use crate::error::InvocationError;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this delay.
    Retry(Duration),
    /// Give up and return the error.
    Fail,
}

/// Decides whether a failed call is retried.
pub trait RetryPolicy: Send + Sync + std::fmt::Debug {
    /// `attempt` counts from 1 (the first failure). Called for every failure except migrations.
    fn on_error(&self, method: &str, attempt: u32, error: &InvocationError) -> Decision;

    /// Told when a call succeeds (circuit breakers reset).
    fn on_success(&self, _method: &str) {}
}

/// The FLOOD_WAIT of an error, if it is one (`FLOOD_WAIT_X`, `FLOOD_PREMIUM_WAIT_X`,
/// `SLOWMODE_WAIT_X`).
pub fn flood_wait(error: &InvocationError) -> Option<Duration> {
    match error {
        InvocationError::Rpc {
            code: 420,
            value: Some(v),
            ..
        } => Some(Duration::from_secs(u64::from(*v))),
        InvocationError::Rpc {
            name,
            value: Some(v),
            ..
        } if name == "SLOWMODE_WAIT" || name == "FLOOD_WAIT" => {
            Some(Duration::from_secs(u64::from(*v)))
        }
        InvocationError::FloodWait { wait, .. } => Some(*wait),
        _ => None,
    }
}

/// Whether an error is transient: the call may be repeated without harm. Server-side
/// failures (-500 / 500, `RPC_CALL_FAIL`, `*_TIMEOUT`), timeouts and lost connections. (The
/// connection layer already resends in-flight calls with their msg_id, so a retry here is
/// only reached when the server itself reported the failure.)
pub fn is_transient(error: &InvocationError) -> bool {
    match error {
        InvocationError::Rpc { code, name, .. } => {
            *code == -500
                || *code == 500
                || *code == -503
                || name == "RPC_CALL_FAIL"
                || name == "RPC_MCGET_FAIL"
                || name.ends_with("_TIMEOUT")
                || name == "INTERDC_CALL_ERROR"
                || name == "INTERDC_CALL_RICH_ERROR"
        }
        InvocationError::Io { .. } | InvocationError::Timeout { .. } => true,
        _ => false,
    }
}

/// Never retries.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRetries;

impl RetryPolicy for NoRetries {
    fn on_error(&self, _: &str, _: u32, _: &InvocationError) -> Decision {
        Decision::Fail
    }
}

/// Sleeps FLOOD_WAITs up to `threshold` (the default policy, with 60 s) and retries transient
/// errors a few times with a short growing delay.
#[derive(Debug, Clone, Copy)]
pub struct AutoSleep {
    /// The longest FLOOD_WAIT slept; longer ones fail with [`InvocationError::FloodWait`].
    pub threshold: Duration,
    /// How many transient failures are retried.
    pub transient_retries: u32,
}

impl Default for AutoSleep {
    fn default() -> Self {
        Self {
            threshold: Duration::from_secs(60),
            transient_retries: 3,
        }
    }
}

impl RetryPolicy for AutoSleep {
    fn on_error(&self, _: &str, attempt: u32, error: &InvocationError) -> Decision {
        if let Some(wait) = flood_wait(error) {
            // One FLOOD_WAIT per call is normal; several in a row mean the budget is wrong.
            return if wait <= self.threshold && attempt <= 5 {
                Decision::Retry(wait)
            } else {
                Decision::Fail
            };
        }
        if is_transient(error) && attempt <= self.transient_retries {
            return Decision::Retry(Duration::from_millis(250 << attempt.min(6)));
        }
        Decision::Fail
    }
}

/// Retries transient errors and FLOOD_WAITs with exponential backoff: `base * 2^(attempt-1)`
/// capped at `max`, at most `attempts` times (a FLOOD_WAIT longer than the backoff is waited
/// out in full if it is at most `max`).
#[derive(Debug, Clone, Copy)]
pub struct ExponentialBackoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// The most retries.
    pub attempts: u32,
}

impl Default for ExponentialBackoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
            attempts: 6,
        }
    }
}

impl RetryPolicy for ExponentialBackoff {
    fn on_error(&self, _: &str, attempt: u32, error: &InvocationError) -> Decision {
        if attempt > self.attempts {
            return Decision::Fail;
        }
        let backoff = self
            .base
            .saturating_mul(1u32 << (attempt - 1).min(20))
            .min(self.max);
        match flood_wait(error) {
            Some(wait) if wait <= self.max => Decision::Retry(wait.max(backoff)),
            Some(_) => Decision::Fail,
            None if is_transient(error) => Decision::Retry(backoff),
            None => Decision::Fail,
        }
    }
}

/// Wraps another policy; after `failures` consecutive failed calls it opens for `cooldown`,
/// during which every failure is returned at once (no retries), so a broken DC or method is
/// not hammered.
#[derive(Debug)]
pub struct CircuitBreaker<P> {
    inner: P,
    failures: u32,
    cooldown: Duration,
    state: Mutex<(u32, Option<Instant>)>,
}

impl<P: RetryPolicy> CircuitBreaker<P> {
    /// A breaker around `inner`.
    pub fn new(inner: P, failures: u32, cooldown: Duration) -> Self {
        Self {
            inner,
            failures,
            cooldown,
            state: Mutex::new((0, None)),
        }
    }

    /// Whether the breaker is open now.
    pub fn is_open(&self) -> bool {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.1.is_some_and(|t| t.elapsed() < self.cooldown)
    }
}

impl<P: RetryPolicy> RetryPolicy for CircuitBreaker<P> {
    fn on_error(&self, method: &str, attempt: u32, error: &InvocationError) -> Decision {
        if self.is_open() {
            return Decision::Fail;
        }
        let decision = self.inner.on_error(method, attempt, error);
        if decision == Decision::Fail {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.0 += 1;
            if st.0 >= self.failures {
                st.1 = Some(Instant::now());
                st.0 = 0;
            }
        }
        decision
    }

    fn on_success(&self, method: &str) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *st = (0, None);
        drop(st);
        self.inner.on_success(method);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc(code: i32, name: &str, value: Option<u32>) -> InvocationError {
        InvocationError::Rpc {
            method: "m".into(),
            code,
            name: name.into(),
            value,
        }
    }

    #[test]
    fn auto_sleep_sleeps_short_floods_and_fails_long_ones() {
        let p = AutoSleep::default();
        assert_eq!(
            p.on_error("m", 1, &rpc(420, "FLOOD_WAIT", Some(3))),
            Decision::Retry(Duration::from_secs(3))
        );
        assert_eq!(
            p.on_error("m", 1, &rpc(420, "FLOOD_WAIT", Some(61))),
            Decision::Fail
        );
        assert_eq!(
            p.on_error("m", 1, &rpc(400, "PEER_ID_INVALID", None)),
            Decision::Fail
        );
        assert!(matches!(
            p.on_error("m", 1, &rpc(500, "RPC_CALL_FAIL", None)),
            Decision::Retry(_)
        ));
        assert_eq!(
            p.on_error("m", 4, &rpc(500, "RPC_CALL_FAIL", None)),
            Decision::Fail
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = ExponentialBackoff {
            base: Duration::from_millis(100),
            max: Duration::from_millis(350),
            attempts: 4,
        };
        let e = rpc(-500, "INTERNAL", None);
        let d: Vec<_> = (1..=5).map(|a| p.on_error("m", a, &e)).collect();
        assert_eq!(
            d,
            vec![
                Decision::Retry(Duration::from_millis(100)),
                Decision::Retry(Duration::from_millis(200)),
                Decision::Retry(Duration::from_millis(350)),
                Decision::Retry(Duration::from_millis(350)),
                Decision::Fail
            ]
        );
        assert_eq!(p.on_error("m", 1, &rpc(400, "BAD", None)), Decision::Fail);
    }

    #[test]
    fn breaker_opens_after_consecutive_failures_and_closes_on_success() {
        let b = CircuitBreaker::new(AutoSleep::default(), 2, Duration::from_secs(60));
        let transient = rpc(500, "RPC_CALL_FAIL", None);
        let fatal = rpc(400, "BAD", None);
        assert_eq!(b.on_error("m", 1, &fatal), Decision::Fail);
        assert!(!b.is_open());
        assert_eq!(b.on_error("m", 1, &fatal), Decision::Fail);
        assert!(b.is_open());
        assert_eq!(b.on_error("m", 1, &transient), Decision::Fail);
        b.on_success("m");
        assert!(!b.is_open());
        assert!(matches!(b.on_error("m", 1, &transient), Decision::Retry(_)));
    }
}
