//! The auth-key handshake (<https://core.telegram.org/mtproto/auth_key>), both ends, as chains
//! of typed steps. Each step is a pure function of its input message, the previous state and
//! the random bytes (and time) passed in; it returns the next message and the next state.
//!
//! ```text
//! client                                      server
//! step1(nonce)            req_pq_multi   ->   server::step1(server_nonce, pq)
//! step2(resPQ, ...)       req_DH_params  <-   resPQ
//!                                        ->   server::step2(decrypt RSA, g^a)
//! step3(server_DH, b)     set_client_DH  <-   server_DH_params_ok
//!                                        ->   server::step3(g_b^a)
//! finish(dh_gen_ok)                      <-   dh_gen_ok
//! ```
//!
//! Bodies here are bare TL bodies; the caller wraps them in unencrypted messages
//! (`auth_key_id = 0`, msg_id, length), see [`crate::session::plain`].

pub mod pfs;
pub mod server;

use crate::crypto::dh::{check_dh_params, check_dh_value, DhError};
use crate::crypto::rsa::{RsaError, RsaPublicKey};
use crate::crypto::{
    decrypt_ige, encrypt_ige, factorize::factorize, first_salt, sha1, tmp_aes_from_nonces, AuthKey,
};
use fleetgram_tl::{enums, functions, types, Deserializable, DeserializeError, Serializable};
use num_bigint::BigUint;

/// Why a handshake failed. All are fatal for this attempt (start again from step 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// A message could not be decoded.
    #[error("malformed handshake message: {0}")]
    Decode(#[from] DeserializeError),
    /// `nonce` or `server_nonce` differ from ours.
    #[error("handshake {0} mismatch")]
    NonceMismatch(&'static str),
    /// `pq` could not be factorized.
    #[error("pq {0} cannot be factorized")]
    BadPq(u64),
    /// None of the server's fingerprints is a key we know.
    #[error("no known RSA key among the server's fingerprints {0:?}")]
    UnknownFingerprints(Vec<i64>),
    /// RSA failed.
    #[error("RSA: {0}")]
    Rsa(#[from] RsaError),
    /// The server's DH parameters or values are unsafe.
    #[error("DH: {0}")]
    Dh(#[from] DhError),
    /// The SHA1 inside an encrypted answer did not match.
    #[error("hash mismatch in {0}")]
    HashMismatch(&'static str),
    /// The server answered `server_DH_params_fail` / `dh_gen_fail`, or a wrong new_nonce hash.
    #[error("the server refused the key exchange ({0})")]
    Refused(&'static str),
    /// A request the other side should not have sent at this step.
    #[error("unexpected message at this step: {0}")]
    Unexpected(String),
    /// Not enough random bytes were supplied.
    #[error("step needs {0} random bytes")]
    NotEnoughRandom(usize),
}

/// What kind of key to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// DC id put into `p_q_inner_data_dc` (negative for media, +10000 test); `None` uses the
    /// old `p_q_inner_data` without a DC.
    pub dc: Option<i32>,
    /// `Some(seconds)`: a temporary key (`p_q_inner_data_temp_dc`) for perfect forward secrecy.
    pub temp_expires_in: Option<i32>,
}

/// After step 1: waiting for `resPQ`.
#[derive(Debug, Clone)]
pub struct Step1 {
    nonce: [u8; 16],
}

/// After step 2: waiting for `server_DH_params`.
#[derive(Debug, Clone)]
pub struct Step2 {
    nonce: [u8; 16],
    server_nonce: [u8; 16],
    new_nonce: [u8; 32],
    temp: Option<i32>,
}

/// After step 3: waiting for `dh_gen_ok` / `retry` / `fail`.
#[derive(Debug, Clone)]
pub struct Step3 {
    step2: Step2,
    auth_key: AuthKey,
    time_offset: i32,
    /// The server's DH parameters, kept for a retry.
    dh: DhParams,
}

#[derive(Debug, Clone)]
struct DhParams {
    p: BigUint,
    g: u32,
    g_a: BigUint,
}

/// A finished handshake.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The new key.
    pub auth_key: AuthKey,
    /// `server_time - now` at step 3, seconds.
    pub time_offset: i32,
    /// The first server salt.
    pub first_salt: i64,
    /// `Some(expires_in)` for a temporary key.
    pub temp_expires_in: Option<i32>,
}

/// What the server answered to `set_client_DH_params`.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `dh_gen_ok`: done.
    Done(Finished),
    /// `dh_gen_retry`: call [`retry`] with fresh randomness.
    Retry(Step3),
}

/// Step 1: `req_pq_multi` with a random nonce.
pub fn step1(random: &[u8; 16]) -> (Vec<u8>, Step1) {
    let req = functions::ReqPqMulti { nonce: *random };
    (req.to_bytes(), Step1 { nonce: *random })
}

fn random_bytes<const N: usize>(random: &[u8], at: usize) -> Result<[u8; N], HandshakeError> {
    random
        .get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(HandshakeError::NotEnoughRandom(at + N))
}

fn be_u64(b: &[u8]) -> Option<u64> {
    if b.len() > 8 {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, x| acc << 8 | *x as u64))
}

fn to_be_trimmed(x: u64) -> Vec<u8> {
    let b = x.to_be_bytes();
    let first = b.iter().position(|&x| x != 0).unwrap_or(7);
    b[first..].to_vec()
}

/// Step 2: checks `resPQ`, factorizes `pq`, encrypts `p_q_inner_data*` with RSA_PAD for the
/// first known key and returns `req_DH_params`. `random` holds 256 bytes: `new_nonce` (32),
/// then the RSA_PAD randomness (224).
///
/// # Errors
/// Nonce mismatch, an unfactorizable pq, no known key.
pub fn step2(
    state: Step1,
    res_pq: &[u8],
    keys: &[RsaPublicKey],
    params: Params,
    random: &[u8],
) -> Result<(Vec<u8>, Step2), HandshakeError> {
    let res = types::ResPQ::from_bytes(res_pq)?;
    if res.nonce != state.nonce {
        return Err(HandshakeError::NonceMismatch("nonce"));
    }
    let pq_n = be_u64(&res.pq).ok_or(HandshakeError::BadPq(0))?;
    let (p, q) = factorize(pq_n).ok_or(HandshakeError::BadPq(pq_n))?;
    let key = res
        .server_public_key_fingerprints
        .iter()
        .find_map(|fp| {
            keys.iter()
                .find(|k| k.fingerprint() == *fp)
                .map(|k| (k, *fp))
        })
        .ok_or_else(|| {
            HandshakeError::UnknownFingerprints(res.server_public_key_fingerprints.clone())
        })?;
    let new_nonce: [u8; 32] = random_bytes(random, 0)?;
    let rsa_random = random
        .get(32..256)
        .ok_or(HandshakeError::NotEnoughRandom(256))?;
    let (pb, qb) = (to_be_trimmed(p), to_be_trimmed(q));
    let inner: enums::PQInnerData = match (params.dc, params.temp_expires_in) {
        (None, None) => types::PQInnerData {
            pq: res.pq.clone(),
            p: pb.clone(),
            q: qb.clone(),
            nonce: res.nonce,
            server_nonce: res.server_nonce,
            new_nonce,
        }
        .into(),
        (Some(dc), None) => types::PQInnerDataDc {
            pq: res.pq.clone(),
            p: pb.clone(),
            q: qb.clone(),
            nonce: res.nonce,
            server_nonce: res.server_nonce,
            new_nonce,
            dc,
        }
        .into(),
        (None, Some(expires_in)) => types::PQInnerDataTemp {
            pq: res.pq.clone(),
            p: pb.clone(),
            q: qb.clone(),
            nonce: res.nonce,
            server_nonce: res.server_nonce,
            new_nonce,
            expires_in,
        }
        .into(),
        (Some(dc), Some(expires_in)) => types::PQInnerDataTempDc {
            pq: res.pq.clone(),
            p: pb.clone(),
            q: qb.clone(),
            nonce: res.nonce,
            server_nonce: res.server_nonce,
            new_nonce,
            dc,
            expires_in,
        }
        .into(),
    };
    let encrypted = key.0.encrypt_rsa_pad(&inner.to_bytes(), rsa_random)?;
    let req = functions::ReqDHParams {
        nonce: res.nonce,
        server_nonce: res.server_nonce,
        p: pb,
        q: qb,
        public_key_fingerprint: key.1,
        encrypted_data: encrypted.to_vec(),
    };
    Ok((
        req.to_bytes(),
        Step2 {
            nonce: res.nonce,
            server_nonce: res.server_nonce,
            new_nonce,
            temp: params.temp_expires_in,
        },
    ))
}

/// Checks a message's `nonce` and `server_nonce` against the expected ones.
pub(crate) fn check_nonces(
    nonce: &[u8; 16],
    server_nonce: &[u8; 16],
    want_nonce: &[u8; 16],
    want_server_nonce: &[u8; 16],
) -> Result<(), HandshakeError> {
    if nonce != want_nonce {
        Err(HandshakeError::NonceMismatch("nonce"))
    } else if server_nonce != want_server_nonce {
        Err(HandshakeError::NonceMismatch("server_nonce"))
    } else {
        Ok(())
    }
}

/// `SHA1(data) || data || padding` to a multiple of 16, the framing of both encrypted DH
/// messages. `random` supplies the padding.
pub(crate) fn with_hash_and_padding(data: &[u8], random: &[u8]) -> Result<Vec<u8>, HandshakeError> {
    let mut out = Vec::with_capacity(data.len() + 36);
    out.extend_from_slice(&sha1(&[data]));
    out.extend_from_slice(data);
    let pad = (16 - out.len() % 16) % 16;
    out.extend_from_slice(
        random
            .get(..pad)
            .ok_or(HandshakeError::NotEnoughRandom(pad))?,
    );
    Ok(out)
}

/// Parses `SHA1(data) || data || padding` and checks the hash over exactly the TL object.
pub(crate) fn parse_hashed<T: Deserializable>(
    plain: &[u8],
    what: &'static str,
) -> Result<T, HandshakeError> {
    if plain.len() < 20 {
        return Err(HandshakeError::HashMismatch(what));
    }
    let mut r = fleetgram_tl::Reader::new(&plain[20..]);
    let value = T::deserialize(&mut r)?;
    let used = r.position();
    if plain.len() - 20 - used >= 16 || sha1(&[&plain[20..20 + used]]) != plain[..20] {
        return Err(HandshakeError::HashMismatch(what));
    }
    Ok(value)
}

/// Step 3: checks `server_DH_params`, decrypts and checks `server_DH_inner_data` (DH prime,
/// generator, `g_a`), computes the key, and returns `set_client_DH_params`. `random` holds
/// 256 bytes of `b` then at least 16 bytes of padding; `now` is the local Unix time.
///
/// # Errors
/// A nonce or hash mismatch, unsafe DH values, `server_DH_params_fail`.
pub fn step3(
    state: Step2,
    server_dh: &[u8],
    random: &[u8],
    now: i32,
) -> Result<(Vec<u8>, Step3), HandshakeError> {
    let ok = match enums::ServerDHParams::from_bytes(server_dh)? {
        enums::ServerDHParams::Fail(f) => {
            if f.nonce != state.nonce || f.server_nonce != state.server_nonce {
                return Err(HandshakeError::NonceMismatch("nonce"));
            }
            return Err(HandshakeError::Refused("server_DH_params_fail"));
        }
        enums::ServerDHParams::Ok(ok) => ok,
    };
    check_nonces(
        &ok.nonce,
        &ok.server_nonce,
        &state.nonce,
        &state.server_nonce,
    )?;
    let (key, iv) = tmp_aes_from_nonces(&state.server_nonce, &state.new_nonce);
    let mut plain = ok.encrypted_answer.clone();
    decrypt_ige(&mut plain, &key, &iv)
        .map_err(|_| HandshakeError::HashMismatch("server_DH_inner_data"))?;
    let inner: types::ServerDHInnerData = parse_hashed(&plain, "server_DH_inner_data")?;
    check_nonces(
        &inner.nonce,
        &inner.server_nonce,
        &state.nonce,
        &state.server_nonce,
    )?;
    let p = BigUint::from_bytes_be(&inner.dh_prime);
    let g = u32::try_from(inner.g).map_err(|_| DhError::BadGenerator(inner.g as u64))?;
    check_dh_params(&p, g as u64)?;
    let g_a = BigUint::from_bytes_be(&inner.g_a);
    check_dh_value(&g_a, &p)?;
    let dh = DhParams { p, g, g_a };
    let time_offset = inner.server_time.wrapping_sub(now);
    set_client_dh(state, dh, 0, time_offset, random)
}

fn set_client_dh(
    state: Step2,
    dh: DhParams,
    retry_id: i64,
    time_offset: i32,
    random: &[u8],
) -> Result<(Vec<u8>, Step3), HandshakeError> {
    let b = BigUint::from_bytes_be(
        random
            .get(..256)
            .ok_or(HandshakeError::NotEnoughRandom(256))?,
    );
    let g_b = BigUint::from(dh.g).modpow(&b, &dh.p);
    check_dh_value(&g_b, &dh.p)?;
    let key_n = dh.g_a.modpow(&b, &dh.p);
    let mut key_bytes = [0u8; 256];
    let kb = key_n.to_bytes_be();
    key_bytes[256 - kb.len()..].copy_from_slice(&kb);
    let inner = types::ClientDHInnerData {
        nonce: state.nonce,
        server_nonce: state.server_nonce,
        retry_id,
        g_b: g_b.to_bytes_be(),
    };
    let mut data = with_hash_and_padding(&inner.to_bytes(), &random[256..])?;
    let (key, iv) = tmp_aes_from_nonces(&state.server_nonce, &state.new_nonce);
    encrypt_ige(&mut data, &key, &iv).expect("padded to whole blocks");
    let req = functions::SetClientDHParams {
        nonce: state.nonce,
        server_nonce: state.server_nonce,
        encrypted_data: data,
    };
    Ok((
        req.to_bytes(),
        Step3 {
            step2: state,
            auth_key: AuthKey::from_bytes(key_bytes),
            time_offset,
            dh,
        },
    ))
}

/// After `dh_gen_retry`: a new `set_client_DH_params` with a fresh `b` (same layout of
/// `random` as [`step3`]), `retry_id` being the previous key's aux hash.
///
/// # Errors
/// Unsafe DH values.
pub fn retry(state: Step3, random: &[u8]) -> Result<(Vec<u8>, Step3), HandshakeError> {
    let retry_id = i64::from_le_bytes(state.auth_key.aux_hash());
    set_client_dh(state.step2, state.dh, retry_id, state.time_offset, random)
}

/// Step 4: the server's verdict, checked against the expected `new_nonce_hash`.
///
/// # Errors
/// A nonce or hash mismatch, `dh_gen_fail`.
pub fn finish(state: Step3, answer: &[u8]) -> Result<Outcome, HandshakeError> {
    let s2 = &state.step2;
    let check = |nonce: &[u8; 16], server_nonce: &[u8; 16]| {
        check_nonces(nonce, server_nonce, &s2.nonce, &s2.server_nonce)
    };
    match enums::SetClientDHParamsAnswer::from_bytes(answer)? {
        enums::SetClientDHParamsAnswer::DhGenOk(ok) => {
            check(&ok.nonce, &ok.server_nonce)?;
            if ok.new_nonce_hash1 != state.auth_key.new_nonce_hash(&s2.new_nonce, 1) {
                return Err(HandshakeError::Refused("new_nonce_hash1 mismatch"));
            }
            Ok(Outcome::Done(Finished {
                first_salt: first_salt(&s2.server_nonce, &s2.new_nonce),
                auth_key: state.auth_key,
                time_offset: state.time_offset,
                temp_expires_in: s2.temp,
            }))
        }
        enums::SetClientDHParamsAnswer::DhGenRetry(r) => {
            check(&r.nonce, &r.server_nonce)?;
            if r.new_nonce_hash2 != state.auth_key.new_nonce_hash(&s2.new_nonce, 2) {
                return Err(HandshakeError::Refused("new_nonce_hash2 mismatch"));
            }
            Ok(Outcome::Retry(state))
        }
        enums::SetClientDHParamsAnswer::DhGenFail(f) => {
            check(&f.nonce, &f.server_nonce)?;
            Err(HandshakeError::Refused("dh_gen_fail"))
        }
    }
}

#[cfg(test)]
mod tests;
