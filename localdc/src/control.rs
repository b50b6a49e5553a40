//! The control API for tests and tools: create accounts, read login codes, inspect state.

use crate::Shared;
use std::sync::Arc;

/// A handle on a running local DC's data.
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl Control {
    /// Creates a user with `phone` living on DC `home_dc`; returns its id.
    pub fn create_user(&self, phone: &str, first_name: &str, last_name: &str, home_dc: i32) -> i64 {
        self.shared.state.lock().expect("not poisoned").create_user(
            Some(phone),
            first_name,
            last_name,
            false,
            home_dc,
        )
    }

    /// Creates a bot (`@username`) living on DC `home_dc`; returns its id and its token
    /// (`ID:SECRET`, for `auth.importBotAuthorization`).
    pub fn create_bot(&self, first_name: &str, username: &str, home_dc: i32) -> (i64, String) {
        self.shared
            .state
            .lock()
            .expect("not poisoned")
            .create_bot(first_name, username, home_dc)
    }

    /// The pending login code of `phone`, if one was sent.
    pub fn login_code(&self, phone: &str) -> Option<String> {
        let p = crate::state::State::normalize_phone(phone);
        self.shared
            .state
            .lock()
            .expect("not poisoned")
            .codes
            .get(&p)
            .map(|c| c.code.clone())
    }

    /// The id of the account with `phone`.
    pub fn user_by_phone(&self, phone: &str) -> Option<i64> {
        let p = crate::state::State::normalize_phone(phone);
        self.shared
            .state
            .lock()
            .expect("not poisoned")
            .by_phone
            .get(&p)
            .copied()
    }

    /// How many auth keys exist.
    pub fn auth_key_count(&self) -> usize {
        self.shared.auth_keys.read().expect("not poisoned").len()
    }

    /// The DC's counters.
    pub fn stats(&self) -> &crate::Stats {
        &self.shared.stats
    }

    /// Limits calls of `method` (TL name) to `limit` per account; `None` removes the limit.
    /// Over it, calls get `420 FLOOD_WAIT_X` with X the seconds until one is allowed.
    pub fn set_flood_limit(&self, method: &str, limit: Option<crate::FloodLimit>) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .set_flood_limit(method, limit);
    }

    /// Makes the next `times` calls of `method` fail with `code` and `message`.
    pub fn force_error(&self, method: &str, code: i32, message: &str, times: usize) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .force_error(method, code, message, times);
    }

    /// Holds answers to `method` back by `delay` (`None` removes it).
    pub fn set_delay(&self, method: &str, delay: Option<std::time::Duration>) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .set_delay(method, delay);
    }

    /// Closes every client connection now (sessions and keys stay).
    pub fn drop_connections(&self) {
        self.shared.drops.send_modify(|g| *g += 1);
    }

    /// Issues a new salt to every auth key, valid from now; the old ones stop being accepted
    /// after Telegram's grace period, so clients get `bad_server_salt` and switch.
    pub fn rotate_salts(&self, grace: std::time::Duration) {
        use rand::RngCore;
        let now = (crate::conn::now_ms() / 1000) as i32;
        let mut keys = self.shared.auth_keys.write().expect("not poisoned");
        for entry in keys.values_mut() {
            let new = fleetgram_tl::types::FutureSalt {
                valid_since: now,
                valid_until: now + 3600,
                salt: rand::thread_rng().next_u64() as i64,
            };
            for s in entry.salts.iter_mut() {
                s.valid_until = s.valid_until.min(now + grace.as_secs() as i32 - 1800);
            }
            entry.salts.retain(|s| s.valid_until > now - 1800);
            entry.salts.insert(0, new);
        }
        let sessions = self.shared.sessions.lock().expect("not poisoned");
        for ((key_id, _), slot) in sessions.iter() {
            if let Some(e) = keys.get(key_id) {
                slot.lock()
                    .expect("not poisoned")
                    .session
                    .set_salts(e.salts.clone());
            }
        }
    }

    /// Shifts the DC's clock by `skew_ms` (positive: ahead) for handshakes and message ids.
    pub fn set_clock_skew(&self, skew_ms: i64) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .clock_skew_ms = skew_ms;
        for slot in self.shared.sessions.lock().expect("not poisoned").values() {
            slot.lock()
                .expect("not poisoned")
                .session
                .set_clock_skew_ms(skew_ms);
        }
    }

    /// How many sessions exist.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.lock().expect("not poisoned").len()
    }
}
