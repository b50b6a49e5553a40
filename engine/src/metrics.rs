//! Process-wide counters for the operator view and Prometheus: RPC calls by method and
//! outcome, FLOOD_WAIT seconds, reconnects, updates received; and a histogram type the
//! script host uses for handler durations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The counters of this process.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Method -> outcome -> count (looked up by `&str`: no allocation once a pair is known).
    calls: Mutex<HashMap<String, HashMap<String, u64>>>,
    /// Calls answered (any outcome), all methods.
    pub calls_total: AtomicU64,
    /// Seconds of FLOOD_WAIT received.
    pub flood_wait_seconds: AtomicU64,
    /// Connections re-established after one was lost.
    pub reconnects: AtomicU64,
    /// Updates handed out by update streams.
    pub updates_received: AtomicU64,
    /// `updates.getChannelDifference` calls made because a channel's poll was due.
    pub channel_polls: AtomicU64,
    /// `updates.getDifference` calls made because nothing arrived for a long time.
    pub idle_differences: AtomicU64,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process's counters.
pub fn global() -> &'static Metrics {
    METRICS.get_or_init(Metrics::default)
}

impl Metrics {
    /// Counts one answer to `method`: `"ok"` or the error's name.
    pub fn call(&self, method: &str, outcome: &str) {
        self.calls_total.fetch_add(1, Ordering::Relaxed);
        let mut m = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let by_outcome = match m.get_mut(method) {
            Some(o) => o,
            None => m.entry(method.to_string()).or_default(),
        };
        match by_outcome.get_mut(outcome) {
            Some(n) => *n += 1,
            None => {
                by_outcome.insert(outcome.to_string(), 1);
            }
        }
    }

    /// Calls by (method, outcome).
    pub fn calls(&self) -> Vec<((String, String), u64)> {
        let m = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = m
            .iter()
            .flat_map(|(method, o)| o.iter().map(|(out, n)| ((method.clone(), out.clone()), *n)))
            .collect();
        v.sort();
        v
    }
}

/// Bucket bounds of [`Histogram`], seconds.
pub const BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
];

/// A latency histogram with Prometheus' cumulative buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| s <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Their total, seconds.
    pub fn sum(&self) -> f64 {
        self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Cumulative counts per bucket bound (`le`), as Prometheus wants them.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(b, n)| {
                total += n.load(Ordering::Relaxed);
                (*b, total)
            })
            .collect()
    }
}
