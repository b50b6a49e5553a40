//! Perfect forward secrecy (<https://core.telegram.org/api/pfs>): binding a temporary key to
//! the permanent one with `auth.bindTempAuthKey`, whose `encrypted_message` is a
//! `bind_auth_key_inner` encrypted with the permanent key under MTProto v1:
//!
//! ```text
//! plaintext = random (16) | msg_id (8) | seqno = 0 (4) | msg_len = 40 (4) | bind_auth_key_inner (40)
//! msg_key   = SHA1(plaintext)[4..20]                      (before padding)
//! encrypted = perm_auth_key_id | msg_key | AES-IGE(plaintext | padding, v1 key/iv)
//! ```

use crate::crypto::{decrypt_ige, encrypt_ige, sha1, AuthKey};
use fleetgram_tl::{functions, types, Deserializable, Serializable};

/// Why a binding was refused (the server answers `ENCRYPTED_MESSAGE_INVALID`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// The message does not decrypt under the permanent key, or its msg_key is wrong.
    #[error("encrypted_message does not decrypt under the permanent key")]
    BadEncryption,
    /// A field of the binding message differs from the request or the connection.
    #[error("binding message field {0} does not match")]
    Mismatch(&'static str),
}

/// MTProto v1 key derivation (x = 0: client to server).
fn derive_v1(key: &[u8; 256], msg_key: &[u8; 16]) -> ([u8; 32], [u8; 32]) {
    let x = 0;
    let a = sha1(&[msg_key, &key[x..x + 32]]);
    let b = sha1(&[&key[32 + x..48 + x], msg_key, &key[48 + x..64 + x]]);
    let c = sha1(&[&key[64 + x..96 + x], msg_key]);
    let d = sha1(&[msg_key, &key[96 + x..128 + x]]);
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&a[..8]);
    k[8..20].copy_from_slice(&b[8..20]);
    k[20..].copy_from_slice(&c[4..16]);
    let mut iv = [0u8; 32];
    iv[..12].copy_from_slice(&a[8..20]);
    iv[12..20].copy_from_slice(&b[..8]);
    iv[20..24].copy_from_slice(&c[16..20]);
    iv[24..].copy_from_slice(&d[..8]);
    (k, iv)
}

/// Client: the `auth.bindTempAuthKey` request to send over the temporary key, in the session
/// `temp_session_id`, as the message `msg_id`. `random` holds 24 bytes (16 for the random
/// prefix, 8 of padding); `nonce` should be random too.
pub fn bind_request(
    perm: &AuthKey,
    temp: &AuthKey,
    temp_session_id: i64,
    msg_id: i64,
    expires_at: i32,
    nonce: i64,
    random: &[u8; 24],
) -> functions::auth::BindTempAuthKey {
    let inner = types::BindAuthKeyInner {
        nonce,
        temp_auth_key_id: temp.id(),
        perm_auth_key_id: perm.id(),
        temp_session_id,
        expires_at,
    }
    .to_bytes();
    let mut plain = Vec::with_capacity(80);
    plain.extend_from_slice(&random[..16]);
    plain.extend_from_slice(&msg_id.to_le_bytes());
    plain.extend_from_slice(&0i32.to_le_bytes());
    plain.extend_from_slice(&(inner.len() as i32).to_le_bytes());
    plain.extend_from_slice(&inner);
    let msg_key: [u8; 16] = sha1(&[&plain])[4..20].try_into().expect("16");
    plain.extend_from_slice(&random[16..16 + (16 - plain.len() % 16) % 16]);
    let (k, iv) = derive_v1(&perm.to_bytes(), &msg_key);
    encrypt_ige(&mut plain, &k, &iv).expect("padded to whole blocks");
    let mut encrypted_message = Vec::with_capacity(24 + plain.len());
    encrypted_message.extend_from_slice(&perm.id().to_le_bytes());
    encrypted_message.extend_from_slice(&msg_key);
    encrypted_message.extend_from_slice(&plain);
    functions::auth::BindTempAuthKey {
        perm_auth_key_id: perm.id(),
        nonce,
        expires_at,
        encrypted_message,
    }
}

/// Server: checks a binding request received over the temporary key `temp_key_id` in the
/// session `temp_session_id` as message `msg_id`, given the permanent key it names.
///
/// # Errors
/// [`BindError`] when anything does not match.
pub fn verify_bind(
    perm: &AuthKey,
    req: &functions::auth::BindTempAuthKey,
    temp_key_id: i64,
    temp_session_id: i64,
    msg_id: i64,
) -> Result<(), BindError> {
    let m = &req.encrypted_message;
    if m.len() < 24 + 16 || (m.len() - 24) % 16 != 0 || m[..8] != perm.id().to_le_bytes() {
        return Err(BindError::BadEncryption);
    }
    let msg_key: [u8; 16] = m[8..24].try_into().expect("16");
    let (k, iv) = derive_v1(&perm.to_bytes(), &msg_key);
    let mut plain = m[24..].to_vec();
    decrypt_ige(&mut plain, &k, &iv).map_err(|_| BindError::BadEncryption)?;
    if plain.len() < 32 {
        return Err(BindError::BadEncryption);
    }
    let len = i32::from_le_bytes(plain[28..32].try_into().expect("4"));
    if len != 40
        || plain.len() < 32 + 40
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            &sha1(&[&plain[..72]])[4..20],
            &msg_key[..],
        ))
    {
        return Err(BindError::BadEncryption);
    }
    if i64::from_le_bytes(plain[16..24].try_into().expect("8")) != msg_id {
        return Err(BindError::Mismatch("msg_id"));
    }
    if plain[24..28] != [0; 4] {
        return Err(BindError::Mismatch("seqno"));
    }
    let inner = types::BindAuthKeyInner::from_bytes(&plain[32..72])
        .map_err(|_| BindError::BadEncryption)?;
    let checks = [
        (inner.nonce == req.nonce, "nonce"),
        (inner.temp_auth_key_id == temp_key_id, "temp_auth_key_id"),
        (
            inner.perm_auth_key_id == req.perm_auth_key_id && inner.perm_auth_key_id == perm.id(),
            "perm_auth_key_id",
        ),
        (inner.temp_session_id == temp_session_id, "temp_session_id"),
        (inner.expires_at == req.expires_at, "expires_at"),
    ];
    for (ok, what) in checks {
        if !ok {
            return Err(BindError::Mismatch(what));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_round_trip_and_mismatches() {
        let perm = AuthKey::from_bytes([1; 256]);
        let temp = AuthKey::from_bytes([2; 256]);
        let random = [9u8; 24];
        let req = bind_request(
            &perm,
            &temp,
            77,
            0x6000_0000_0000_0004,
            1_700_086_400,
            5,
            &random,
        );
        assert_eq!(req.encrypted_message.len(), 24 + 80);
        assert_eq!(
            verify_bind(&perm, &req, temp.id(), 77, 0x6000_0000_0000_0004),
            Ok(())
        );
        assert_eq!(
            verify_bind(&perm, &req, temp.id(), 78, 0x6000_0000_0000_0004),
            Err(BindError::Mismatch("temp_session_id"))
        );
        assert_eq!(
            verify_bind(&perm, &req, 1, 77, 0x6000_0000_0000_0004),
            Err(BindError::Mismatch("temp_auth_key_id"))
        );
        assert_eq!(
            verify_bind(&perm, &req, temp.id(), 77, 8),
            Err(BindError::Mismatch("msg_id"))
        );
        let mut other = req.clone();
        other.expires_at += 1;
        assert_eq!(
            verify_bind(&perm, &other, temp.id(), 77, 0x6000_0000_0000_0004),
            Err(BindError::Mismatch("expires_at"))
        );
        let mut bad = req.clone();
        bad.encrypted_message[50] ^= 1;
        assert_eq!(
            verify_bind(&perm, &bad, temp.id(), 77, 0x6000_0000_0000_0004),
            Err(BindError::BadEncryption)
        );
        let wrong_perm = AuthKey::from_bytes([3; 256]);
        assert_eq!(
            verify_bind(&wrong_perm, &req, temp.id(), 77, 0x6000_0000_0000_0004),
            Err(BindError::BadEncryption)
        );
    }
}
