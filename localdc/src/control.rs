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

    /// How many sessions exist.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.lock().expect("not poisoned").len()
    }
}
