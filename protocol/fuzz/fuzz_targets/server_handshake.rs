//! Each server handshake step on arbitrary bytes.
#![no_main]
use fleetgram_protocol::crypto::rsa::RsaPrivateKey;
use fleetgram_protocol::handshake::{self, server};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn keys() -> &'static server::ServerKeys {
    static K: OnceLock<server::ServerKeys> = OnceLock::new();
    K.get_or_init(|| {
        let mut x = 1u8;
        server::ServerKeys::new(RsaPrivateKey::generate(&mut |b: &mut [u8]| {
            for v in b {
                x = x.wrapping_mul(73).wrapping_add(41);
                *v = x;
            }
        }))
    })
}

fuzz_target!(|data: &[u8]| {
    let k = keys();
    let _ = server::step1(k, data, &[1; 24]);
    let (m1, _) = handshake::step1(&[2; 16]);
    let (_, s1) = server::step1(k, &m1, &[3; 24]).unwrap();
    let _ = server::step2(k, s1, data, &[4; 272], 1);
});
