use super::server::{self, ServerKeys};
use super::*;
use crate::crypto::rsa::{builtin_keys, RsaPrivateKey};
use crate::test_util::{hex, vectors};
use std::sync::OnceLock;

/// A deterministic byte source for tests.
struct Rng(u64);

impl Rng {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 as u8
            })
            .collect()
    }
    fn arr<const N: usize>(&mut self) -> [u8; N] {
        self.bytes(N).try_into().unwrap()
    }
}

fn server_keys() -> &'static ServerKeys {
    static KEYS: OnceLock<ServerKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = Rng(0x5eed);
        ServerKeys::new(RsaPrivateKey::generate(&mut |b: &mut [u8]| {
            b.copy_from_slice(&rng.bytes(b.len()))
        }))
    })
}

#[test]
fn grammers_transcript_with_fixed_randomness() {
    let v = vectors("grammers_vectors.json");
    let t = &v["auth_key_transcript_fixed_random"];
    let h = |k: &str| hex(t[k].as_str().unwrap());
    let (req1, s1) = step1(&h("step1_random").try_into().unwrap());
    assert_eq!(req1, h("step1_request"));
    let params = Params {
        dc: None,
        temp_expires_in: None,
    };
    let (req2, s2) = step2(
        s1,
        &h("step1_response"),
        &builtin_keys(),
        params,
        &h("step2_random"),
    )
    .unwrap();
    assert_eq!(req2, h("step2_request"));
    let now = t["step3_now_unix"].as_i64().unwrap() as i32;
    let (req3, s3) = step3(s2, &h("step2_response"), &h("step3_random"), now).unwrap();
    assert_eq!(req3, h("step3_request"));
    let Outcome::Done(done) = finish(s3, &h("step3_response")).unwrap() else {
        panic!("retry")
    };
    assert_eq!(done.auth_key.to_bytes().to_vec(), h("expected_auth_key"));
    assert_eq!(
        done.time_offset as i64,
        t["expected_time_offset"].as_i64().unwrap()
    );
    assert_eq!(done.first_salt, t["expected_first_salt"].as_i64().unwrap());
}

#[test]
fn telegram_sample_step3() {
    // core.telegram.org/mtproto/samples-auth_key, from the server's answer on.
    let v = vectors("samples_auth_key.json");
    let vals = &v["values_hex"];
    let h = |k: &str| hex(vals[k].as_str().unwrap());
    let state = Step2 {
        nonce: h("nonce").try_into().unwrap(),
        server_nonce: h("server_nonce").try_into().unwrap(),
        new_nonce: h("new_nonce").try_into().unwrap(),
        temp: None,
    };
    let (k, iv) = crate::crypto::tmp_aes_from_nonces(&state.server_nonce, &state.new_nonce);
    assert_eq!(k.to_vec(), h("tmp_aes_key"));
    assert_eq!(iv.to_vec(), h("tmp_aes_iv"));
    let ok = types::ServerDHParamsOk {
        nonce: state.nonce,
        server_nonce: state.server_nonce,
        encrypted_answer: h("encrypted_answer"),
    };
    let server_dh = enums::ServerDHParams::Ok(ok).to_bytes();
    let mut random = h("b");
    random.extend(h("client_DH_padding"));
    let server_time = v["derived"]["server_time"].as_i64().unwrap() as i32;
    let (req, s3) = step3(state, &server_dh, &random, server_time).unwrap();
    let sent = functions::SetClientDHParams::from_bytes(&req).unwrap();
    assert_eq!(sent.encrypted_data, h("client_DH_encrypted_data"));
    assert_eq!(s3.auth_key.to_bytes().to_vec(), h("auth_key"));
    assert_eq!(s3.time_offset, 0);
    let derived = &v["derived"];
    assert_eq!(
        s3.auth_key.id().to_le_bytes().to_vec(),
        hex(derived["auth_key_id_hex (sha1(auth_key)[12:20])"]
            .as_str()
            .unwrap())
    );
    // dh_gen_ok body = the message after its 20-byte header.
    let gen_ok = h("dh_gen_ok_msg");
    let Outcome::Done(done) = finish(s3, &gen_ok[20..]).unwrap() else {
        panic!("retry")
    };
    assert_eq!(
        done.first_salt.to_le_bytes().to_vec(),
        hex(derived
            ["first_server_salt_hex (new_nonce[0:8] XOR server_nonce[0:8]), little-endian bytes"]
            .as_str()
            .unwrap())
    );
}

fn run(params: Params, seed: u64) -> (Finished, server::ServerFinished) {
    let keys = server_keys();
    let mut rng = Rng(seed);
    let (m1, c1) = step1(&rng.arr());
    let (a1, s1) = server::step1(keys, &m1, &rng.bytes(24)).unwrap();
    let known = vec![builtin_keys().remove(0), keys.rsa.public().clone()];
    let (m2, c2) = step2(c1, &a1, &known, params, &rng.bytes(256)).unwrap();
    let (a2, s2) = server::step2(keys, s1, &m2, &rng.bytes(272), 1_700_000_000).unwrap();
    let (m3, c3) = step3(c2, &a2, &rng.bytes(272), 1_699_999_990).unwrap();
    let (a3, sf) = server::step3(keys, s2, &m3).unwrap();
    let Outcome::Done(cf) = finish(c3, &a3).unwrap() else {
        panic!("retry")
    };
    (cf, sf)
}

#[test]
fn client_and_server_agree_for_every_variant() {
    for (i, params) in [
        Params {
            dc: None,
            temp_expires_in: None,
        },
        Params {
            dc: Some(2),
            temp_expires_in: None,
        },
        Params {
            dc: Some(-2),
            temp_expires_in: Some(3600),
        },
        Params {
            dc: None,
            temp_expires_in: Some(60),
        },
    ]
    .into_iter()
    .enumerate()
    {
        let (c, s) = run(params, 100 + i as u64);
        assert_eq!(c.auth_key, s.auth_key);
        assert_eq!(c.first_salt, s.first_salt);
        assert_eq!(c.time_offset, 10);
        assert_eq!(s.dc, params.dc);
        assert_eq!(s.temp_expires_in, params.temp_expires_in);
        assert_eq!(c.temp_expires_in, params.temp_expires_in);
    }
}

#[test]
fn dh_gen_retry_then_ok() {
    let keys = server_keys();
    let mut rng = Rng(21);
    let (m1, c1) = step1(&rng.arr());
    let (a1, s1) = server::step1(keys, &m1, &rng.bytes(24)).unwrap();
    let (m2, c2) = step2(
        c1,
        &a1,
        &[keys.rsa.public().clone()],
        Params {
            dc: Some(2),
            temp_expires_in: None,
        },
        &rng.bytes(256),
    )
    .unwrap();
    let (a2, s2) = server::step2(keys, s1, &m2, &rng.bytes(272), 1_700_000_000).unwrap();
    let (_m3, c3) = step3(c2, &a2, &rng.bytes(272), 1_700_000_000).unwrap();
    // The server asks for a retry (say its key id collided).
    let first_key = c3.auth_key.clone();
    let retry_answer = enums::SetClientDHParamsAnswer::DhGenRetry(types::DhGenRetry {
        nonce: c3.step2.nonce,
        server_nonce: c3.step2.server_nonce,
        new_nonce_hash2: first_key.new_nonce_hash(&c3.step2.new_nonce, 2),
    })
    .to_bytes();
    let Outcome::Retry(state) = finish(c3, &retry_answer).unwrap() else {
        panic!("expected a retry")
    };
    let (m3, c3) = retry(state, &rng.bytes(272)).unwrap();
    let sent = functions::SetClientDHParams::from_bytes(&m3).unwrap();
    let (key, iv) = crate::crypto::tmp_aes_from_nonces(&sent.server_nonce, &c3.step2.new_nonce);
    let mut plain = sent.encrypted_data.clone();
    crate::crypto::decrypt_ige(&mut plain, &key, &iv).unwrap();
    let inner: types::ClientDHInnerData = parse_hashed(&plain, "client_DH_inner_data").unwrap();
    assert_eq!(inner.retry_id, i64::from_le_bytes(first_key.aux_hash()));
    let (a3, sf) = server::step3(keys, s2, &m3).unwrap();
    let Outcome::Done(done) = finish(c3, &a3).unwrap() else {
        panic!("retry again")
    };
    assert_eq!(done.auth_key, sf.auth_key);
    assert_ne!(done.auth_key, first_key);
}

#[test]
fn server_accepts_legacy_rsa_and_req_pq() {
    let keys = server_keys();
    let mut rng = Rng(7);
    let nonce: [u8; 16] = rng.arr();
    let (a1, s1) =
        server::step1(keys, &functions::ReqPq { nonce }.to_bytes(), &rng.bytes(24)).unwrap();
    let res = types::ResPQ::from_bytes(&a1).unwrap();
    let (p, q) = factorize(be_u64(&res.pq).unwrap()).unwrap();
    let new_nonce: [u8; 32] = rng.arr();
    let inner = types::PQInnerDataDc {
        pq: res.pq.clone(),
        p: to_be_trimmed(p),
        q: to_be_trimmed(q),
        nonce,
        server_nonce: res.server_nonce,
        new_nonce,
        dc: 1,
    };
    let data = enums::PQInnerData::from(inner).to_bytes();
    let encrypted = keys
        .rsa
        .public()
        .encrypt_legacy(&data, &rng.bytes(255))
        .unwrap();
    let req = functions::ReqDHParams {
        nonce,
        server_nonce: res.server_nonce,
        p: to_be_trimmed(p),
        q: to_be_trimmed(q),
        public_key_fingerprint: keys.rsa.public().fingerprint(),
        encrypted_data: encrypted.to_vec(),
    };
    let (a2, _) = server::step2(keys, s1, &req.to_bytes(), &rng.bytes(272), 1).unwrap();
    let state = Step2 {
        nonce,
        server_nonce: res.server_nonce,
        new_nonce,
        temp: None,
    };
    assert!(step3(state, &a2, &rng.bytes(272), 1).is_ok());
}

#[test]
fn mismatches_are_errors() {
    let keys = server_keys();
    let mut rng = Rng(9);
    let (m1, c1) = step1(&rng.arr());
    let (a1, s1) = server::step1(keys, &m1, &rng.bytes(24)).unwrap();
    // A resPQ for another nonce.
    let mut other = types::ResPQ::from_bytes(&a1).unwrap();
    other.nonce[0] ^= 1;
    assert_eq!(
        step2(
            c1.clone(),
            &other.to_bytes(),
            &[keys.rsa.public().clone()],
            Params {
                dc: None,
                temp_expires_in: None
            },
            &rng.bytes(256)
        )
        .unwrap_err(),
        HandshakeError::NonceMismatch("nonce")
    );
    // No known key.
    assert!(matches!(
        step2(
            c1.clone(),
            &a1,
            &builtin_keys(),
            Params {
                dc: None,
                temp_expires_in: None
            },
            &rng.bytes(256)
        ),
        Err(HandshakeError::UnknownFingerprints(_))
    ));
    // Tampered RSA payload.
    let (m2, _) = step2(
        c1,
        &a1,
        &[keys.rsa.public().clone()],
        Params {
            dc: Some(1),
            temp_expires_in: None,
        },
        &rng.bytes(256),
    )
    .unwrap();
    let mut bad = functions::ReqDHParams::from_bytes(&m2).unwrap();
    bad.encrypted_data[10] ^= 0x40;
    assert!(server::step2(keys, s1.clone(), &bad.to_bytes(), &rng.bytes(272), 1).is_err());
    // Wrong server_nonce.
    let mut bad = functions::ReqDHParams::from_bytes(&m2).unwrap();
    bad.server_nonce[3] ^= 1;
    assert_eq!(
        server::step2(keys, s1, &bad.to_bytes(), &rng.bytes(272), 1).unwrap_err(),
        HandshakeError::NonceMismatch("server_nonce")
    );
    // Something else entirely at step 1.
    assert!(matches!(
        server::step1(keys, &[1, 2, 3, 4, 5], &rng.bytes(24)),
        Err(HandshakeError::Unexpected(_))
    ));
}

/// The client state after step 1 for the request `m1`.
fn c_state(m1: &[u8]) -> Step1 {
    Step1 {
        nonce: functions::ReqPqMulti::from_bytes(m1).unwrap().nonce,
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]
    #[test]
    fn server_steps_survive_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let keys = server_keys();
        let mut rng = Rng(11);
        let _ = server::step1(keys, &bytes, &rng.bytes(24));
        let (m1, _) = step1(&rng.arr());
        let (_, s1) = server::step1(keys, &m1, &rng.bytes(24)).unwrap();
        let _ = server::step2(keys, s1.clone(), &bytes, &rng.bytes(272), 1);
        // Step 3 after a valid step 2.
        let (m2, _) = step2(c_state(&m1), &server::step1(keys, &m1, &[5; 24]).unwrap().0, &[keys.rsa.public().clone()], Params { dc: None, temp_expires_in: None }, &[6; 256]).unwrap();
        let (_, s2) = server::step2(keys, server::step1(keys, &m1, &[5; 24]).unwrap().1, &m2, &[7; 272], 1).unwrap();
        let _ = server::step3(keys, s2, &bytes);
        let _ = crate::session::plain::unwrap(&bytes);
    }
}
