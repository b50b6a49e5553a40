//! Per-account, per-method pacing learned from FLOOD_WAITs.
//!
//! When Telegram answers `FLOOD_WAIT_X` after `n` calls of a method made over `t` seconds,
//! the method's safe rate is about `n` calls per `t + X` seconds; the pacer then spaces the
//! next calls of that method by `1.2 * (t + X) / n`, so they stay under the limit before
//! Telegram complains again. The spacing relaxes (halves) after ten minutes without a flood.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const RELAX_AFTER: Duration = Duration::from_secs(600);
const SAFETY: f64 = 1.2;
const MAX_SPACING: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Method {
    /// Calls since the last flood (capped), with the first one's time.
    calls: u32,
    first: Instant,
    spacing: Duration,
    next_at: Instant,
    last_flood: Option<Instant>,
}

/// The pacer of one account.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    methods: Mutex<HashMap<String, Method>>,
}

impl Pacer {
    /// Reserves a slot for a call of `method`; returns how long to wait first.
    pub fn reserve(&self, method: &str) -> Duration {
        let now = Instant::now();
        let mut m = self.methods.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.entry(method.to_string()).or_insert_with(|| Method {
            calls: 0,
            first: now,
            spacing: Duration::ZERO,
            next_at: now,
            last_flood: None,
        });
        if e.last_flood.is_some_and(|t| now - t > RELAX_AFTER) {
            e.spacing /= 2;
            e.last_flood = Some(now);
        }
        if e.calls == 0 {
            e.first = now;
        }
        e.calls = e.calls.saturating_add(1).min(10_000);
        let at = e.next_at.max(now);
        e.next_at = at + e.spacing;
        at - now
    }

    /// Learns from a FLOOD_WAIT of `wait` on `method`.
    pub fn flood(&self, method: &str, wait: Duration) {
        let now = Instant::now();
        let mut m = self.methods.lock().unwrap_or_else(|e| e.into_inner());
        let Some(e) = m.get_mut(method) else { return };
        // The call that got the FLOOD_WAIT was not served: n - 1 calls fit.
        let n = e.calls.saturating_sub(1).max(1) as f64;
        let span = (now - e.first + wait).as_secs_f64();
        let learned = Duration::from_secs_f64((SAFETY * span / n).min(MAX_SPACING.as_secs_f64()));
        e.spacing = e.spacing.max(learned);
        e.next_at = now + wait;
        e.calls = 0;
        e.last_flood = Some(now);
    }

    /// The learned spacing of `method`.
    /// Methods with a learned spacing, and when each may be called next (zero: now).
    pub fn budget(&self) -> Vec<(String, Duration, Duration)> {
        let now = Instant::now();
        let m = self.methods.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = m
            .iter()
            .filter(|(_, e)| !e.spacing.is_zero() || e.next_at > now)
            .map(|(k, e)| {
                (
                    k.clone(),
                    e.spacing,
                    e.next_at.saturating_duration_since(now),
                )
            })
            .collect();
        v.sort();
        v
    }

    pub fn spacing(&self, method: &str) -> Duration {
        let m = self.methods.lock().unwrap_or_else(|e| e.into_inner());
        m.get(method).map(|e| e.spacing).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_teaches_a_spacing() {
        let p = Pacer::default();
        for _ in 0..6 {
            assert_eq!(p.reserve("m"), Duration::ZERO);
        }
        p.flood("m", Duration::from_secs(1));
        let s = p.spacing("m");
        // 5 calls per ~1 s, with 20% margin.
        assert!(
            s >= Duration::from_millis(235) && s <= Duration::from_millis(260),
            "{s:?}"
        );
        // The next call waits out the flood, the one after is spaced.
        let w1 = p.reserve("m");
        let w2 = p.reserve("m");
        assert!(w1 > Duration::from_millis(900), "{w1:?}");
        assert!(w2 >= w1 + s - Duration::from_millis(5), "{w1:?} {w2:?}");
        assert_eq!(p.spacing("other"), Duration::ZERO);
        assert_eq!(p.reserve("other"), Duration::ZERO);
    }
}
