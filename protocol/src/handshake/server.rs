//! The server half of the auth-key handshake, used by the local DC.
//!
//! Accepts `req_pq` and `req_pq_multi`, RSA_PAD and the legacy RSA scheme, `p_q_inner_data`
//! with or without `dc` and the temporary variants; checks `nonce` and `server_nonce` at every
//! step. The RSA decryption uses the CRT.

use super::{check_nonces, parse_hashed, with_hash_and_padding, HandshakeError};
use crate::crypto::dh::{check_dh_value, known_prime};
use crate::crypto::factorize::is_prime_u64;
use crate::crypto::rsa::RsaPrivateKey;
use crate::crypto::{decrypt_ige, encrypt_ige, first_salt, sha1, tmp_aes_from_nonces, AuthKey};
use fleetgram_tl::{enums, functions, types, Deserializable, Identifiable, Serializable};
use num_bigint::BigUint;

/// The server's key material and DH group.
#[derive(Debug, Clone)]
pub struct ServerKeys {
    /// The RSA key clients encrypt `p_q_inner_data` with.
    pub rsa: RsaPrivateKey,
    /// The DH prime (default: Telegram's known 2048-bit safe prime).
    pub dh_prime: BigUint,
    /// The generator.
    pub g: u32,
}

impl ServerKeys {
    /// Keys with Telegram's DH group (`g = 3`).
    pub fn new(rsa: RsaPrivateKey) -> Self {
        Self {
            rsa,
            dh_prime: known_prime().clone(),
            g: 3,
        }
    }
}

/// After answering `req_pq`: waiting for `req_DH_params`.
#[derive(Debug, Clone)]
pub struct ServerStep1 {
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    pq: Vec<u8>,
    p: Vec<u8>,
    q: Vec<u8>,
}

/// After answering `req_DH_params`: waiting for `set_client_DH_params`.
#[derive(Debug, Clone)]
pub struct ServerStep2 {
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    new_nonce: [u8; 32],
    a: BigUint,
    dc: Option<i32>,
    temp_expires_in: Option<i32>,
}

/// A key created by a client.
#[derive(Debug, Clone)]
pub struct ServerFinished {
    /// The new key.
    pub auth_key: AuthKey,
    /// The first salt the client will use.
    pub first_salt: i64,
    /// The DC id the client named (`p_q_inner_data_dc`).
    pub dc: Option<i32>,
    /// `Some(expires_in)` for a temporary key.
    pub temp_expires_in: Option<i32>,
}

fn prime_from(seed: u32) -> u32 {
    // A prime between 2^30 and 2^31, from a random seed.
    let mut c = (seed | 1 << 30) & 0x7fff_ffff | 1;
    while !is_prime_u64(c as u64) {
        c += 2;
        if c >= 1 << 31 {
            c = (1 << 30) + 1;
        }
    }
    c
}

/// Step 1: answers `req_pq_multi` / `req_pq` with `resPQ`. `random` holds 24 bytes: the
/// server nonce (16) and two seeds for the primes of `pq` (8).
///
/// # Errors
/// Any other message, or too little randomness.
pub fn step1(
    keys: &ServerKeys,
    request: &[u8],
    random: &[u8],
) -> Result<(Vec<u8>, ServerStep1), HandshakeError> {
    let nonce = match u32::from_le_bytes(
        request
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 4]),
    ) {
        functions::ReqPqMulti::CONSTRUCTOR_ID => functions::ReqPqMulti::from_bytes(request)?.nonce,
        functions::ReqPq::CONSTRUCTOR_ID => functions::ReqPq::from_bytes(request)?.nonce,
        id => {
            return Err(HandshakeError::Unexpected(format!(
                "constructor {id:08x} instead of req_pq_multi"
            )))
        }
    };
    let server_nonce: [u8; 16] = super::random_bytes(random, 0)?;
    let s1: [u8; 4] = super::random_bytes(random, 16)?;
    let s2: [u8; 4] = super::random_bytes(random, 20)?;
    let mut p = prime_from(u32::from_le_bytes(s1));
    let mut q = prime_from(u32::from_le_bytes(s2));
    if p == q {
        q = prime_from(q.wrapping_add(2));
    }
    if p > q {
        std::mem::swap(&mut p, &mut q);
    }
    let pq = (p as u64 * q as u64).to_be_bytes().to_vec();
    let (p, q) = (p.to_be_bytes().to_vec(), q.to_be_bytes().to_vec());
    let res = types::ResPQ {
        nonce,
        server_nonce,
        pq: pq.clone(),
        server_public_key_fingerprints: vec![keys.rsa.public().fingerprint()],
    };
    Ok((
        res.to_bytes(),
        ServerStep1 {
            nonce,
            server_nonce,
            pq,
            p,
            q,
        },
    ))
}

/// The fields of any `p_q_inner_data*` variant.
struct Inner {
    pq: Vec<u8>,
    p: Vec<u8>,
    q: Vec<u8>,
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    new_nonce: [u8; 32],
    dc: Option<i32>,
    temp: Option<i32>,
}

fn inner_fields(v: enums::PQInnerData) -> Inner {
    match v {
        enums::PQInnerData::PQInnerData(x) => Inner {
            pq: x.pq,
            p: x.p,
            q: x.q,
            nonce: x.nonce,
            server_nonce: x.server_nonce,
            new_nonce: x.new_nonce,
            dc: None,
            temp: None,
        },
        enums::PQInnerData::Dc(x) => Inner {
            pq: x.pq,
            p: x.p,
            q: x.q,
            nonce: x.nonce,
            server_nonce: x.server_nonce,
            new_nonce: x.new_nonce,
            dc: Some(x.dc),
            temp: None,
        },
        enums::PQInnerData::Temp(x) => Inner {
            pq: x.pq,
            p: x.p,
            q: x.q,
            nonce: x.nonce,
            server_nonce: x.server_nonce,
            new_nonce: x.new_nonce,
            dc: None,
            temp: Some(x.expires_in),
        },
        enums::PQInnerData::TempDc(x) => Inner {
            pq: x.pq,
            p: x.p,
            q: x.q,
            nonce: x.nonce,
            server_nonce: x.server_nonce,
            new_nonce: x.new_nonce,
            dc: Some(x.dc),
            temp: Some(x.expires_in),
        },
    }
}

fn decrypt_inner(
    keys: &ServerKeys,
    encrypted: &[u8],
) -> Result<enums::PQInnerData, HandshakeError> {
    // RSA_PAD first; its hash check fails for legacy ciphertexts.
    if let Ok(data) = keys.rsa.decrypt_rsa_pad(encrypted) {
        return Ok(enums::PQInnerData::from_bytes(&data)?);
    }
    let (hash, rest) = keys.rsa.decrypt_legacy(encrypted)?;
    let mut r = fleetgram_tl::Reader::new(&rest);
    let v = enums::PQInnerData::deserialize(&mut r)?;
    if sha1(&[&rest[..r.position()]]) != hash {
        return Err(HandshakeError::HashMismatch("p_q_inner_data"));
    }
    Ok(v)
}

/// Step 2: decrypts `req_DH_params`, checks it, and answers `server_DH_params_ok` with
/// `g_a`. `random` holds 256 bytes of `a` then 16 bytes of padding; `now` is the Unix time.
///
/// # Errors
/// A wrong message, nonce, fingerprint, p/q, or an undecryptable payload.
pub fn step2(
    keys: &ServerKeys,
    state: ServerStep1,
    request: &[u8],
    random: &[u8],
    now: i32,
) -> Result<(Vec<u8>, ServerStep2), HandshakeError> {
    let req = functions::ReqDHParams::from_bytes(request)?;
    check_nonces(
        &req.nonce,
        &req.server_nonce,
        &state.nonce,
        &state.server_nonce,
    )?;
    if req.p != state.p || req.q != state.q {
        return Err(HandshakeError::Unexpected(
            "p and q do not factor our pq".into(),
        ));
    }
    if req.public_key_fingerprint != keys.rsa.public().fingerprint() {
        return Err(HandshakeError::UnknownFingerprints(vec![
            req.public_key_fingerprint,
        ]));
    }
    let inner = inner_fields(decrypt_inner(keys, &req.encrypted_data)?);
    check_nonces(
        &inner.nonce,
        &inner.server_nonce,
        &state.nonce,
        &state.server_nonce,
    )?;
    if inner.pq != state.pq || inner.p != state.p || inner.q != state.q {
        return Err(HandshakeError::Unexpected(
            "p_q_inner_data does not match resPQ".into(),
        ));
    }
    let a = BigUint::from_bytes_be(
        random
            .get(..256)
            .ok_or(HandshakeError::NotEnoughRandom(256))?,
    );
    let g_a = BigUint::from(keys.g).modpow(&a, &keys.dh_prime);
    check_dh_value(&g_a, &keys.dh_prime)?;
    let answer = types::ServerDHInnerData {
        nonce: state.nonce,
        server_nonce: state.server_nonce,
        g: keys.g as i32,
        dh_prime: keys.dh_prime.to_bytes_be(),
        g_a: g_a.to_bytes_be(),
        server_time: now,
    };
    let mut data = with_hash_and_padding(&answer.to_bytes(), &random[256..])?;
    let (key, iv) = tmp_aes_from_nonces(&state.server_nonce, &inner.new_nonce);
    encrypt_ige(&mut data, &key, &iv).expect("padded to whole blocks");
    let ok = types::ServerDHParamsOk {
        nonce: state.nonce,
        server_nonce: state.server_nonce,
        encrypted_answer: data,
    };
    let next = ServerStep2 {
        nonce: state.nonce,
        server_nonce: state.server_nonce,
        new_nonce: inner.new_nonce,
        a,
        dc: inner.dc,
        temp_expires_in: inner.temp,
    };
    Ok((enums::ServerDHParams::Ok(ok).to_bytes(), next))
}

/// Step 3: decrypts `set_client_DH_params`, checks `g_b`, computes the key and answers
/// `dh_gen_ok`.
///
/// # Errors
/// A wrong message, nonce, hash, or an out-of-range `g_b`.
pub fn step3(
    keys: &ServerKeys,
    state: ServerStep2,
    request: &[u8],
) -> Result<(Vec<u8>, ServerFinished), HandshakeError> {
    let req = functions::SetClientDHParams::from_bytes(request)?;
    check_nonces(
        &req.nonce,
        &req.server_nonce,
        &state.nonce,
        &state.server_nonce,
    )?;
    let (key, iv) = tmp_aes_from_nonces(&state.server_nonce, &state.new_nonce);
    let mut plain = req.encrypted_data;
    decrypt_ige(&mut plain, &key, &iv)
        .map_err(|_| HandshakeError::HashMismatch("client_DH_inner_data"))?;
    let inner: types::ClientDHInnerData = parse_hashed(&plain, "client_DH_inner_data")?;
    check_nonces(
        &inner.nonce,
        &inner.server_nonce,
        &state.nonce,
        &state.server_nonce,
    )?;
    let g_b = BigUint::from_bytes_be(&inner.g_b);
    check_dh_value(&g_b, &keys.dh_prime)?;
    let k = g_b.modpow(&state.a, &keys.dh_prime).to_bytes_be();
    let mut key_bytes = [0u8; 256];
    key_bytes[256 - k.len()..].copy_from_slice(&k);
    let auth_key = AuthKey::from_bytes(key_bytes);
    let ok = types::DhGenOk {
        nonce: state.nonce,
        server_nonce: state.server_nonce,
        new_nonce_hash1: auth_key.new_nonce_hash(&state.new_nonce, 1),
    };
    Ok((
        enums::SetClientDHParamsAnswer::DhGenOk(ok).to_bytes(),
        ServerFinished {
            first_salt: first_salt(&state.server_nonce, &state.new_nonce),
            auth_key,
            dc: state.dc,
            temp_expires_in: state.temp_expires_in,
        },
    ))
}
