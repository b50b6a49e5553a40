//! The control API for tests and tools: create accounts, read login codes, inspect state.

use crate::rpc::{self, Ctx};
use crate::Shared;
use fleetgram_tl::{enums, functions, types, Deserializable};
use std::sync::Arc;

/// Why a control operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ControlError(pub String);

/// A handle on a running local DC's data.
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl Control {
    /// Creates a user with `phone` living on DC `home_dc`; returns its id. A phone that
    /// already has a user gives that user's id (a phone number is one account, as on
    /// Telegram), and nothing is created.
    pub fn create_user(&self, phone: &str, first_name: &str, last_name: &str, home_dc: i32) -> i64 {
        let mut state = self.shared.state.lock().expect("not poisoned");
        let normalized = crate::state::State::normalize_phone(phone);
        if let Some(&id) = state.by_phone.get(&normalized) {
            return id;
        }
        state.create_user(Some(phone), first_name, last_name, false, home_dc)
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

    /// The id and token of the bot with `username`, if it exists.
    pub fn bot_token(&self, username: &str) -> Option<(i64, String)> {
        let state = self.shared.state.lock().expect("not poisoned");
        let id = *state
            .by_username
            .get(&username.trim_start_matches('@').to_ascii_lowercase())?;
        state
            .bot_tokens
            .iter()
            .find(|(_, b)| **b == id)
            .map(|(t, b)| (*b, t.clone()))
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

    /// Makes the handler of the next `times` calls of `method` panic (while holding the
    /// DC's state): the DC must answer them `INTERNAL_SERVER_ERROR` and serve the next calls.
    pub fn crash_handler(&self, method: &str, times: usize) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .crash(method, times);
    }

    /// Holds answers to `method` back by `delay` (`None` removes it).
    pub fn set_delay(&self, method: &str, delay: Option<std::time::Duration>) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .set_delay(method, delay);
    }

    /// How many times the mini-app view `query_id` was prolonged (`None`: no such view).
    pub fn web_view_prolongs(&self, query_id: i64) -> Option<u32> {
        self.shared
            .state
            .lock()
            .expect("not poisoned")
            .web_views
            .get(&query_id)
            .map(|v| v.3)
    }

    /// Loses the next `n` pushes to `user` (the update state moves on as if they were sent:
    /// the client has to notice the gap and fetch the difference).
    pub fn lose_pushes(&self, user: i64, n: usize) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .lose_pushes(user, n);
    }

    /// Silently drops `share` (0 to 1, evenly spread) of the pushes to `user` from now on;
    /// 0 ends it. Unlike [`Control::lose_pushes`] this models a network or server that loses
    /// updates for good: the client only finds them by asking (differences, polling).
    pub fn drop_pushes(&self, user: i64, share: f64) {
        self.shared
            .faults
            .lock()
            .expect("not poisoned")
            .drop_pushes(user, share);
    }

    /// Channels with more members than `limit` push new posts to their admins only; the
    /// others must poll `updates.getChannelDifference` (as Telegram does with big channels).
    pub fn set_channel_push_limit(&self, limit: usize) {
        self.shared
            .state
            .lock()
            .expect("not poisoned")
            .channel_push_limit = limit;
    }

    /// The API layers clients declared with `invokeWithLayer` (one per auth key), sorted.
    pub fn declared_layers(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .shared
            .key_layers
            .lock()
            .expect("not poisoned")
            .values()
            .copied()
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// (channel push limit, channel poll timeout in seconds) in force.
    pub fn channel_settings(&self) -> (usize, i32) {
        let s = self.shared.state.lock().expect("not poisoned");
        (s.channel_push_limit, s.channel_poll_timeout)
    }

    /// The `timeout` (seconds) `updates.getChannelDifference` answers carry: when a client
    /// should poll the channel again.
    pub fn set_channel_poll_timeout(&self, seconds: i32) {
        self.shared
            .state
            .lock()
            .expect("not poisoned")
            .channel_poll_timeout = seconds.max(1);
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
        if let Some(store) = self
            .shared
            .state
            .lock()
            .expect("not poisoned")
            .store
            .clone()
        {
            for (id, entry) in keys.iter() {
                store.put_key(*id, entry);
            }
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

    /// Runs `f` as `user` would over the API, then delivers the updates it produced to the
    /// user's and other accounts' sessions.
    fn as_user<T>(
        &self,
        user: i64,
        f: impl FnOnce(&Ctx<'_>) -> Result<T, rpc::RpcErr>,
    ) -> Result<T, ControlError> {
        let done = rpc::as_user(&self.shared, user, f)
            .ok_or_else(|| ControlError(format!("no user {user}")))?;
        crate::conn::deliver(
            &self.shared,
            done.origin,
            done.pushes,
            crate::clock::now_ms(),
        );
        done.result
            .map_err(|e| ControlError(format!("{} {}", e.code, e.message)))
    }

    fn peer(&self, viewer: i64, user: i64) -> enums::InputPeer {
        let hash = self
            .shared
            .state
            .lock()
            .expect("not poisoned")
            .access_hash(viewer, user);
        types::InputPeerUser {
            user_id: user,
            access_hash: hash,
        }
        .into()
    }

    /// Makes `from` send `text` to `to` (a private chat); returns the message id in `from`'s box.
    ///
    /// # Errors
    /// Unknown users, or the error Telegram would give (`USER_IS_BLOCKED`...).
    pub fn send_message(&self, from: i64, to: i64, text: &str) -> Result<i32, ControlError> {
        let peer = self.peer(from, to);
        let random_id = rand::Rng::gen(&mut rand::thread_rng());
        let req = functions::messages::SendMessage {
            peer,
            message: text.to_string(),
            random_id,
            ..rpc::messages::send_defaults()
        };
        let bytes = self.as_user(from, |ctx| rpc::messages::send_message(ctx, req))?;
        match enums::Updates::from_bytes(&bytes) {
            Ok(enums::Updates::UpdateShortSentMessage(m)) => Ok(m.id),
            _ => Err(ControlError("unexpected answer".into())),
        }
    }

    /// Makes `user` join the public channel `channel` (as `channels.joinChannel`); for
    /// filling a channel with members without a client each.
    ///
    /// # Errors
    /// As the API (`CHANNEL_PRIVATE`, `USER_ALREADY_PARTICIPANT`...).
    pub fn join_channel(&self, user: i64, channel: i64) -> Result<(), ControlError> {
        let hash = self
            .shared
            .state
            .lock()
            .expect("not poisoned")
            .access_hash(user, channel);
        let req = functions::channels::JoinChannel {
            channel: types::InputChannel {
                channel_id: channel,
                access_hash: hash,
            }
            .into(),
        };
        self.as_user(user, |ctx| rpc::channels::join_channel(ctx, req))
            .map(|_| ())
    }

    /// Makes `user` edit its message `id` in the chat with `peer`.
    ///
    /// # Errors
    /// As the API (`MESSAGE_NOT_MODIFIED`...).
    pub fn edit_message(
        &self,
        user: i64,
        peer: i64,
        id: i32,
        text: &str,
    ) -> Result<(), ControlError> {
        let peer = self.peer(user, peer);
        let req = functions::messages::EditMessage {
            peer,
            id,
            message: Some(text.to_string()),
            ..rpc::messages::edit_defaults()
        };
        self.as_user(user, |ctx| rpc::messages::edit_message(ctx, req))
            .map(|_| ())
    }

    /// Makes `user` delete its messages `ids` (for both sides when `revoke`).
    ///
    /// # Errors
    /// As the API.
    pub fn delete_messages(
        &self,
        user: i64,
        ids: Vec<i32>,
        revoke: bool,
    ) -> Result<(), ControlError> {
        self.as_user(user, |ctx| {
            rpc::messages::delete_messages(
                ctx,
                functions::messages::DeleteMessages { revoke, id: ids },
            )
        })
        .map(|_| ())
    }

    /// Pushes a raw `Updates` object (TL bytes) to every connected session of `user`.
    ///
    /// # Errors
    /// Bytes that are not an `Updates` object.
    pub fn inject_update(&self, user: i64, updates: &[u8]) -> Result<(), ControlError> {
        enums::Updates::from_bytes(updates)
            .map_err(|e| ControlError(format!("not an Updates object: {e}")))?;
        crate::conn::deliver(
            &self.shared,
            (0, 0),
            vec![rpc::Push {
                user,
                body: updates.to_vec(),
                seq: None,
            }],
            crate::conn::now_ms(),
        );
        Ok(())
    }

    /// Pushes several `Updates` objects to `user` as produced together: `updates`
    /// containers among them are merged into one `updatesCombined` with a seq range.
    ///
    /// # Errors
    /// Bytes that are not an `Updates` object (nothing is pushed then).
    /// Pushes one update (with the users it names) to `user`'s sessions.
    fn push_update(&self, user: i64, update: enums::Update, names: &[i64]) {
        let state = self.shared.state.lock().expect("not poisoned");
        let now = crate::rpc::now();
        let body = fleetgram_tl::Serializable::to_bytes(&enums::Updates::from(
            fleetgram_tl::types::Updates {
                updates: vec![update],
                users: names
                    .iter()
                    .filter(|u| state.users.contains_key(u))
                    .map(|&u| state.user_tl(user, u, now))
                    .collect(),
                chats: vec![],
                date: now,
                seq: 0,
            },
        ));
        drop(state);
        crate::conn::deliver(
            &self.shared,
            (0, 0),
            vec![rpc::Push {
                user,
                body,
                seq: None,
            }],
            crate::conn::now_ms(),
        );
    }

    fn payment_query(&self, bot: i64) -> Result<i64, ControlError> {
        let mut state = self.shared.state.lock().expect("not poisoned");
        if !state.users.get(&bot).is_some_and(|u| u.bot) {
            return Err(ControlError(format!("{bot} is not a bot")));
        }
        let id: i64 = rand::Rng::gen(&mut state.rng);
        state.payment_queries.insert(id, bot);
        Ok(id)
    }

    /// Payments cannot happen here: injects the shipping query a user's payment form would
    /// send `bot`; returns its query id (the bot answers with `setBotShippingResults`).
    pub fn inject_shipping_query(
        &self,
        bot: i64,
        user: i64,
        payload: &[u8],
    ) -> Result<i64, ControlError> {
        let query_id = self.payment_query(bot)?;
        let update = fleetgram_tl::types::UpdateBotShippingQuery {
            query_id,
            user_id: user,
            payload: payload.to_vec(),
            shipping_address: fleetgram_tl::types::PostAddress {
                street_line1: "1 Local Street".into(),
                street_line2: String::new(),
                city: "Loopback".into(),
                state: String::new(),
                country_iso2: "XX".into(),
                post_code: "00000".into(),
            }
            .into(),
        };
        self.push_update(bot, update.into(), &[user]);
        Ok(query_id)
    }

    /// Injects a pre-checkout query for `bot`; returns its query id (the bot answers with
    /// `setBotPrecheckoutResults`).
    pub fn inject_precheckout_query(
        &self,
        bot: i64,
        user: i64,
        payload: &[u8],
        currency: &str,
        total_amount: i64,
    ) -> Result<i64, ControlError> {
        let query_id = self.payment_query(bot)?;
        let update = fleetgram_tl::types::UpdateBotPrecheckoutQuery {
            query_id,
            user_id: user,
            payload: payload.to_vec(),
            info: None,
            shipping_option_id: None,
            currency: currency.into(),
            total_amount,
        };
        self.push_update(bot, update.into(), &[user]);
        Ok(query_id)
    }

    /// Whether `bot` answered payment query `query_id`.
    pub fn payment_answered(&self, query_id: i64) -> bool {
        self.shared
            .state
            .lock()
            .expect("not poisoned")
            .payment_answers
            .contains(&query_id)
    }

    /// Injects a boost of channel `channel` by `user` for admin bot `bot`.
    pub fn inject_boost(&self, bot: i64, channel: i64, user: i64) -> Result<(), ControlError> {
        let now = crate::rpc::now();
        let update = {
            let mut state = self.shared.state.lock().expect("not poisoned");
            if !state.channels.contains_key(&channel) {
                return Err(ControlError(format!("no channel {channel}")));
            }
            state.push_qts(bot, |qts| {
                fleetgram_tl::types::UpdateBotChatBoost {
                    peer: fleetgram_tl::types::PeerChannel {
                        channel_id: channel,
                    }
                    .into(),
                    boost: fleetgram_tl::types::Boost {
                        gift: false,
                        giveaway: false,
                        unclaimed: false,
                        id: format!("{user}-{now}"),
                        user_id: Some(user),
                        giveaway_msg_id: None,
                        date: now,
                        expires: now + 30 * 86400,
                        used_gift_slug: None,
                        multiplier: None,
                        stars: None,
                    }
                    .into(),
                    qts,
                }
                .into()
            })
        };
        self.push_update(bot, update, &[user]);
        Ok(())
    }

    /// Pushes an `Updates` object to every connected session of `user` exactly as given: its
    /// `seq` is not stamped (a container sent again, or out of order, as a network may
    /// deliver it; for tests of a client's seq handling).
    ///
    /// # Errors
    /// Bytes that are not an `Updates` object.
    pub fn inject_update_as_is(&self, user: i64, updates: &[u8]) -> Result<(), ControlError> {
        enums::Updates::from_bytes(updates)
            .map_err(|e| ControlError(format!("not an Updates object: {e}")))?;
        let push = rpc::Push {
            seq: None,
            user,
            body: updates.to_vec(),
        };
        crate::conn::deliver_as_is(&self.shared, user, push, crate::conn::now_ms());
        Ok(())
    }

    /// Pushes several `Updates` objects to `user`'s sessions, sequenced as one call's pushes.
    ///
    /// # Errors
    /// An item that is not an `Updates` object.
    pub fn inject_updates(&self, user: i64, updates: &[Vec<u8>]) -> Result<(), ControlError> {
        for (i, u) in updates.iter().enumerate() {
            enums::Updates::from_bytes(u)
                .map_err(|e| ControlError(format!("item {i}: not an Updates object: {e}")))?;
        }
        let pushes = updates
            .iter()
            .map(|u| rpc::Push {
                seq: None,
                user,
                body: u.clone(),
            })
            .collect();
        crate::conn::deliver(&self.shared, (0, 0), pushes, crate::conn::now_ms());
        Ok(())
    }

    /// Creates an auth key on DC `dc` already logged in as `user`, without a handshake (for
    /// benchmarks and tests that need many sessions). Returns the key and its first salt.
    pub fn authorize_new_key(
        &self,
        user: i64,
        dc: i32,
    ) -> (fleetgram_protocol::crypto::AuthKey, i64) {
        use rand::RngCore;
        let mut bytes = [0u8; 256];
        rand::thread_rng().fill_bytes(&mut bytes);
        let key = fleetgram_protocol::crypto::AuthKey::from_bytes(bytes);
        let salt = rand::thread_rng().next_u64() as i64;
        let now = (crate::conn::now_ms() / 1000) as i32;
        let entry = crate::state::AuthKeyEntry {
            key: key.clone(),
            dc,
            temp_expires_at: None,
            bound_to: None,
            salts: vec![fleetgram_tl::types::FutureSalt {
                valid_since: now - 1800,
                valid_until: now + 86400,
                salt,
            }],
        };
        self.shared
            .auth_keys
            .write()
            .expect("not poisoned")
            .insert(key.id(), entry);
        let mut state = self.shared.state.lock().expect("not poisoned");
        state.authorizations.insert(key.id(), user);
        state.mark_auth(key.id());
        (key, salt)
    }

    /// How many scheduled messages wait to be sent.
    pub fn scheduled_count(&self) -> usize {
        self.shared
            .state
            .lock()
            .expect("not poisoned")
            .scheduled
            .len()
    }

    /// How many accounts exist.
    pub fn user_count(&self) -> usize {
        self.shared.state.lock().expect("not poisoned").users.len()
    }

    /// How many sessions exist.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.lock().expect("not poisoned").len()
    }
}
