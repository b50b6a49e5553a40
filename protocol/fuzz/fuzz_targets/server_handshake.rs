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
    let (a1, s1) = server::step1(k, &m1, &[3; 24]).unwrap();
    let _ = server::step2(k, s1.clone(), data, &[4; 272], 1);
    // Step 3 after a valid step 2.
    let (_, c1) = handshake::step1(&[2; 16]);
    let (m2, _) = handshake::step2(c1, &a1, &[k.rsa.public().clone()], handshake::Params { dc: None, temp_expires_in: None }, &[5; 256]).unwrap();
    let (_, s2) = server::step2(k, s1, &m2, &[6; 272], 1).unwrap();
    let _ = server::step3(k, s2, data);
});
