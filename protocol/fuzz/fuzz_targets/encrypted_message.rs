//! Encrypted-message decoding on both ends, with arbitrary payloads and arbitrary bodies
//! inside a valid encryption.
#![no_main]
use fleetgram_protocol::crypto::{AuthKey, Side};
use fleetgram_protocol::session::{client::Session, seal, server::ServerSession};
use fleetgram_tl::mtproto::Message;
use libfuzzer_sys::fuzz_target;

const T0: i64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    let key = AuthKey::from_bytes([7; 256]);
    let mut c = Session::new(key.clone(), 1, 1, 0);
    let mut s = ServerSession::new(key.clone(), 1, Vec::new());
    let _ = c.handle_incoming(data, T0);
    let _ = s.handle_incoming(data, T0);
    let m = Message { msg_id: ((T0 / 1000) << 32) | 1, seqno: 1, body: data.to_vec() };
    let _ = c.handle_incoming(&seal(&key, Side::Server, 1, 1, &m, &[0; 32]), T0);
    let m = Message { msg_id: (T0 / 1000) << 32, seqno: 1, body: data.to_vec() };
    let _ = s.handle_incoming(&seal(&key, Side::Client, 1, 1, &m, &[0; 32]), T0);
    while c.poll_event().is_some() {}
    while s.poll_event().is_some() {}
});
