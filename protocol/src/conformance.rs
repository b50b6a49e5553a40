//! Conformance table: the rules of Telegram's MTProto documentation (`../shared/spec/mtproto/`:
//! `description.md`, `service_messages.md`, `service_messages_about_messages.md`,
//! `mtproto-transports.md`, `security_guidelines.md`, `auth_key.md`, and `../shared/spec/api/`
//! `updates.md`, `peers.md`) that the client ([`crate::session::client`], the engine) and the
//! server ([`crate::session::server`], the local DC) follow, each with the test that checks it.
//!
//! Test paths: `protocol/src/session/tests.rs` (`session::tests`), `protocol/src/session/msgid.rs`,
//! `protocol/src/session/server.rs` (its `tests`), `protocol/src/transport/tests.rs`,
//! `protocol/tests/in_memory.rs`, `engine/tests/client.rs`, `localdc/tests/dc.rs`,
//! `localdc/tests/messaging.rs`, `localdc/src/conn.rs` (its `tests`).
//!
//! # Client
//!
//! | Rule (spec) | Test |
//! |---|---|
//! | msg_ids rise with time, divisible by 4, with the time's fraction (description) | `msgid::tests::ids_increase_with_parity` |
//! | msg_ids never go back within a session, even after a clock correction backwards; far ahead of the server, a new session starts (description) | `msgid::tests::ids_never_go_back_after_a_correction_backwards`, `session::tests::bad_time_and_bad_salt_are_corrected` |
//! | Plaintext (handshake) msg_ids follow the same rule (description) | the engine uses `MsgIdGen` in `create_key` and `probe` (`engine/src/net.rs`); the handshakes of every engine test |
//! | Server msg_ids are odd, within 300 s / 30 s of the server time, never seen before (security guidelines) | `session::tests::receive_checks` |
//! | Messages in a container: odd ids below the container's (service messages) | `session::tests::messages_inside_a_container_are_checked` |
//! | Content messages are acknowledged (`msgs_ack`) | `session::tests::rpc_errors_gzip_and_updates` |
//! | A message the server acknowledged is not sent again; its state is asked (`msgs_state_req`); "not received" resends it with a new msg_id (service messages about messages) | `session::tests::acknowledged_requests_are_not_resent_and_resends_travel_in_containers` |
//! | A message is never resent alone with the same msg_id: in a container, or with a new id (service messages about messages) | same test; `session::tests::ten_thousand_rpcs_with_drops_duplicates_reordering_and_salt_changes` (each call run once) |
//! | A large acknowledged request (an upload part) is never resent; its answer is asked with `msg_resend_ans_req` | `session::tests::acknowledged_requests_are_not_resent_and_resends_travel_in_containers` |
//! | `msg_detailed_info` / `msg_new_detailed_info`: ask with `msg_resend_req` unless received (then acknowledge) | `session::tests::lost_answers_are_asked_for_as_the_spec_says` |
//! | `bad_server_salt`, `bad_msg_notification` 16/17 are believed only about a message recently sent | `session::tests::notices_about_messages_never_sent_are_ignored` |
//! | `future_salts` only for our `get_future_salts` (req_msg_id matches) | same test; `session::tests::service_messages` |
//! | Salt and clock corrected from `bad_server_salt` / 16 / 17, the message resent (service messages about messages) | `session::tests::bad_time_and_bad_salt_are_corrected` |
//! | Each call answered once through drops, duplicates, reordering and salt changes, on every framing | `session::tests::ten_thousand_rpcs_*`, `in_memory::every_framing_plain_and_obfuscated` |
//! | gzip_packed bodies inflated with a cap | `session::tests::gzip_bomb_is_refused` |
//! | One -404 does not drop the key: a fresh connection and session first; the key goes only if -404 comes again (transports: -404 also means malformed fields) | `client::one_404_never_loses_the_key_but_a_dc_that_forgot_it_is_believed` |
//! | -429 is a flood signal: back off (transports) | `client::transport_flood_backs_off_and_a_wrong_dc_stops` |
//! | -444: a wrong DC; stop and report (transports, auth_key) | same test |
//! | Any 17-byte MTProxy secret means padded intermediate (transports) | `transport::tests::mtproxy_secrets` |
//! | Keep-alive: `ping_delay_disconnect` often enough for proxies that drop silent connections | `client::an_idle_account_keeps_its_connection_behind_a_proxy_that_drops_silent_ones` |
//! | Updates: an update with `local_pts + pts_count > pts` is ignored; a container with `seq_start <= local_seq` too (updates) | `client::overlapping_channel_updates_and_containers_seen_before_are_ignored` |
//! | Updates: only `getDifference` at start; channels when a gap, `updateChannelTooLong` or polling asks; polled at the server's `timeout`; `getDifference` after 15 min of silence (updates) | `chats::posts_of_a_big_channel_that_does_not_push_reach_members_by_polling`, `chats::an_account_that_hears_nothing_for_long_asks_for_the_difference`, `client::channel_updates_are_caught_up_per_channel_after_a_restart` |
//! | Access hashes: full > min > from-message > zero, never downgraded; bots use 0 (peers) | `peers::tests::a_lower_access_hash_never_replaces_a_higher_one`, `bots::bots_name_peers_they_met_with_access_hash_zero` |
//!
//! # Server (the local DC)
//!
//! | Rule (spec) | Test |
//! |---|---|
//! | seq_no parity: 34 / 35; pings, `http_wait`, acks answered whatever their parity (as Telegram) | `server::tests` (the parity table) |
//! | 32 / 33: seq_no against the msg_id order; 19: a container reusing a message's id; 64: inner ids not below the container (service messages about messages) | `session::tests::server_message_checks_follow_the_spec` |
//! | Over 1024 messages in a container, or too many requests in flight: -429 (transports, service messages) | same test |
//! | A quick ack only for a payload accepted for processing (transports) | same test (`last_accepted`) |
//! | A request seen before is answered from the cache, never run twice; a large answer is announced with `msg_detailed_info` | `session::tests::ten_thousand_rpcs_*`, `session::tests::the_server_resends_what_was_not_acknowledged_on_a_new_connection` |
//! | Unacknowledged answers and updates are sent again on a new connection of the session, with their msg_ids; large ones announced, served on `msg_resend_req` (unknown ids: `msgs_state_info`) | `session::tests::the_server_resends_what_was_not_acknowledged_on_a_new_connection` |
//! | Updates are held for a session briefly without a connection | `dc::a_session_outlives_its_connection_and_ping_delay_disconnect_closes_one` |
//! | `ping_delay_disconnect` closes the connection when its delay runs out (service messages) | same test |
//! | -444 for a handshake naming another DC (auth_key, transports) | `dc::a_handshake_naming_another_dc_gets_444` |
//! | A new key never replaces an existing key with the same id | `conn::tests::a_new_key_never_replaces_one_with_the_same_id` |
//! | Connections that stall in any state are closed (hello, frame, idle, unread) | `dc::silent_slow_and_unread_connections_are_closed_in_every_state` |
//! | Padded intermediate: 0–15 random bytes of padding (transports) | the framing tests of `transport::tests` (decoding any padding), the Telethon interop tests |
//! | `getDifference` carries the users and basic groups its messages refer to (updates) | `messaging::basic_groups` |
//! | Each client is answered in the layer it declared (`invokeWithLayer`) | `dc::each_client_is_answered_in_the_layer_it_declared`, `telethon::older_telethon_releases_speak_their_own_layers` |
