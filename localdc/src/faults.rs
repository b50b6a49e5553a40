//! Fault injection and limits, set at start or at run time through [`crate::Control`]:
//! flood limits per method and account (answered with an honest `FLOOD_WAIT_X`), errors forced
//! on the next calls of a method, delayed answers, dropped connections, salt rotation and a
//! skewed server clock.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// A flood limit: at most `calls` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimit {
    /// Calls allowed in the window.
    pub calls: u32,
    /// The window.
    pub window: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    flood: HashMap<String, FloodLimit>,
    hits: HashMap<(i64, String), VecDeque<i64>>,
    forced: HashMap<String, VecDeque<(i32, String)>>,
    /// Handler crashes to inject, per method.
    crashes: HashMap<String, usize>,
    delays: HashMap<String, Duration>,
    /// Account -> how many of its next pushes are lost.
    lost_pushes: HashMap<i64, usize>,
    /// Account -> (share of its pushes silently dropped, the running remainder).
    dropped_share: HashMap<i64, (f64, f64)>,
    pub clock_skew_ms: i64,
}

impl Faults {
    pub fn set_flood_limit(&mut self, method: &str, limit: Option<FloodLimit>) {
        match limit {
            Some(l) => {
                self.flood.insert(method.to_string(), l);
            }
            None => {
                self.flood.remove(method);
            }
        }
    }

    pub fn force_error(&mut self, method: &str, code: i32, message: &str, times: usize) {
        let q = self.forced.entry(method.to_string()).or_default();
        for _ in 0..times {
            q.push_back((code, message.to_string()));
        }
    }

    pub fn crash(&mut self, method: &str, times: usize) {
        *self.crashes.entry(method.to_string()).or_default() += times;
    }

    /// Whether this call of `method` must crash its handler (taken from the budget).
    pub fn take_crash(&mut self, method: &str) -> bool {
        let Some(left) = self.crashes.get_mut(method) else {
            return false;
        };
        *left -= 1;
        if *left == 0 {
            self.crashes.remove(method);
        }
        true
    }

    /// Drops `share` (0 to 1) of the pushes to `user` from now on, evenly: 0.25 drops one
    /// in four (deterministic, so tests repeat). 0 ends it.
    pub fn drop_pushes(&mut self, user: i64, share: f64) {
        if share <= 0.0 {
            self.dropped_share.remove(&user);
        } else {
            self.dropped_share.insert(user, (share.min(1.0), 0.0));
        }
    }

    /// Whether this push to `user` is dropped by its share.
    pub fn take_dropped(&mut self, user: i64) -> bool {
        let Some((share, acc)) = self.dropped_share.get_mut(&user) else {
            return false;
        };
        *acc += *share;
        if *acc >= 1.0 - 1e-9 {
            *acc -= 1.0;
            return true;
        }
        false
    }

    pub fn lose_pushes(&mut self, user: i64, n: usize) {
        *self.lost_pushes.entry(user).or_default() += n;
    }

    /// How many of `n` pushes to `user` are lost (taken from the budget).
    pub fn take_lost_pushes(&mut self, user: i64, n: usize) -> usize {
        let Some(left) = self.lost_pushes.get_mut(&user) else {
            return 0;
        };
        let lost = (*left).min(n);
        *left -= lost;
        if *left == 0 {
            self.lost_pushes.remove(&user);
        }
        lost
    }

    pub fn set_delay(&mut self, method: &str, delay: Option<Duration>) {
        match delay {
            Some(d) => {
                self.delays.insert(method.to_string(), d);
            }
            None => {
                self.delays.remove(method);
            }
        }
    }

    pub fn delay_for(&self, method: &str) -> Option<Duration> {
        self.delays.get(method).copied()
    }

    /// The error a call of `method` by `account` must get now, if any: a forced error, or
    /// `FLOOD_WAIT_X` when the account is over the method's limit (X = seconds until a call
    /// is allowed again, at least 1).
    pub fn check(&mut self, account: i64, method: &str, now_ms: i64) -> Option<(i32, String)> {
        if let Some(q) = self.forced.get_mut(method) {
            if let Some(e) = q.pop_front() {
                return Some(e);
            }
        }
        let limit = *self.flood.get(method)?;
        let window = limit.window.as_millis() as i64;
        let hits = self.hits.entry((account, method.to_string())).or_default();
        while hits.front().is_some_and(|t| now_ms - t >= window) {
            hits.pop_front();
        }
        if hits.len() as u32 >= limit.calls {
            let free_at = hits.front().copied().unwrap_or(now_ms) + window;
            let wait = ((free_at - now_ms) + 999) / 1000;
            return Some((420, format!("FLOOD_WAIT_{}", wait.max(1))));
        }
        hits.push_back(now_ms);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_wait_is_honest_and_forced_errors_run_out() {
        let mut f = Faults::default();
        f.set_flood_limit(
            "messages.sendMessage",
            Some(FloodLimit {
                calls: 2,
                window: Duration::from_secs(10),
            }),
        );
        assert_eq!(f.check(1, "messages.sendMessage", 0), None);
        assert_eq!(f.check(1, "messages.sendMessage", 1_000), None);
        assert_eq!(
            f.check(1, "messages.sendMessage", 2_000),
            Some((420, "FLOOD_WAIT_8".into()))
        );
        assert_eq!(
            f.check(2, "messages.sendMessage", 2_000),
            None,
            "per account"
        );
        assert_eq!(
            f.check(1, "messages.sendMessage", 10_000),
            None,
            "the first call left the window"
        );
        f.force_error("help.getConfig", 500, "INTERNAL", 2);
        assert_eq!(
            f.check(1, "help.getConfig", 0),
            Some((500, "INTERNAL".into()))
        );
        assert_eq!(
            f.check(1, "help.getConfig", 0),
            Some((500, "INTERNAL".into()))
        );
        assert_eq!(f.check(1, "help.getConfig", 0), None);
    }
}
