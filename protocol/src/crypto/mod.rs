//! MTProto cryptography (<https://core.telegram.org/mtproto/description>).
//!
//! * [`ige`]: AES-256-IGE (AES-NI accelerated), the cipher of every MTProto message.
//! * [`AuthKey`]: the 2048-bit key with its id and aux hash; MTProto 2.0 `msg_key` and the
//!   AES key/iv derivation for both directions ([`derive_aes`], `x = 0` client -> server,
//!   `x = 8` server -> client); [`encrypt_message`] / [`decrypt_message`].
//! * [`rsa`]: RSA with the legacy scheme and RSA_PAD, fingerprints, the built-in keys.
//! * [`factorize`]: pq factorization (Pollard-Brent).
//! * [`dh`]: the DH parameter checks the spec requires.
//! * [`srp`]: 2FA (SRP) on both sides.
//!
//! Randomness is always an argument: nothing here reads a clock or an RNG.

pub mod dh;
pub mod factorize;
pub mod ige;
pub mod rsa;
pub mod srp;

use sha1::Digest as _;

pub use ige::{decrypt_ige, encrypt_ige, BlockLengthError};

/// SHA-1 of the concatenation of `parts`.
pub fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = sha1::Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A 2048-bit authorization key with its derived id and aux hash.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    data: [u8; 256],
    id: i64,
    aux_hash: [u8; 8],
}

impl Drop for AuthKey {
    /// The key's bytes are wiped when it goes (no copy left in freed memory).
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.data);
    }
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        write!(f, "AuthKey(id={:016x})", self.id as u64)
    }
}

impl AuthKey {
    /// Wraps 256 key bytes.
    pub fn from_bytes(data: [u8; 256]) -> Self {
        let h = sha1(&[&data]);
        Self {
            data,
            id: i64::from_le_bytes(h[12..20].try_into().expect("8")),
            aux_hash: h[..8].try_into().expect("8"),
        }
    }

    /// The key bytes.
    pub fn to_bytes(&self) -> [u8; 256] {
        self.data
    }

    /// `auth_key_id`: the low 64 bits of SHA1(auth_key), as sent on the wire (little-endian).
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The upper 64 bits of SHA1(auth_key).
    pub fn aux_hash(&self) -> [u8; 8] {
        self.aux_hash
    }

    /// `new_nonce_hashN` (N = 1 ok, 2 retry, 3 fail): the low 128 bits of
    /// SHA1(new_nonce + N + aux_hash).
    pub fn new_nonce_hash(&self, new_nonce: &[u8; 32], n: u8) -> [u8; 16] {
        let h = sha1(&[new_nonce, &[n], &self.aux_hash]);
        h[4..20].try_into().expect("16")
    }
}

/// Which way a message travels; selects `x` of the key derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Client to server (`x = 0`).
    Client,
    /// Server to client (`x = 8`).
    Server,
}

impl Side {
    fn x(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 8,
        }
    }
}

/// `msg_key` of MTProto 2.0: the middle 128 bits of SHA256(auth_key[88+x..120+x] + plaintext).
pub fn msg_key(key: &AuthKey, side: Side, plaintext_with_padding: &[u8]) -> [u8; 16] {
    let x = side.x();
    let large = sha256(&[&key.data[88 + x..120 + x], plaintext_with_padding]);
    large[8..24].try_into().expect("16")
}

/// The quick-ack token of a client payload: the first 32 bits of
/// SHA256(auth_key[88..120] + plaintext) as a little-endian integer, with the top bit set.
pub fn quick_ack_token(key: &AuthKey, plaintext_with_padding: &[u8]) -> u32 {
    let large = sha256(&[&key.data[88..120], plaintext_with_padding]);
    u32::from_le_bytes(large[..4].try_into().expect("4")) | 0x8000_0000
}

/// The AES key and IV for `msg_key` (MTProto 2.0).
pub fn derive_aes(key: &AuthKey, msg_key: &[u8; 16], side: Side) -> ([u8; 32], [u8; 32]) {
    let x = side.x();
    let a = sha256(&[msg_key, &key.data[x..x + 36]]);
    let b = sha256(&[&key.data[40 + x..76 + x], msg_key]);
    let mut aes_key = [0u8; 32];
    aes_key[..8].copy_from_slice(&a[..8]);
    aes_key[8..24].copy_from_slice(&b[8..24]);
    aes_key[24..].copy_from_slice(&a[24..32]);
    let mut aes_iv = [0u8; 32];
    aes_iv[..8].copy_from_slice(&b[..8]);
    aes_iv[8..24].copy_from_slice(&a[8..24]);
    aes_iv[24..].copy_from_slice(&b[24..32]);
    (aes_key, aes_iv)
}

/// How much padding MTProto 2.0 needs after `len` plaintext bytes: 12..=1024 bytes making the
/// total a multiple of 16; `extra` (e.g. from randomness) adds whole 16-byte blocks.
pub fn padding_len(len: usize, extra_blocks: usize) -> usize {
    let mut pad = 16 - (len % 16);
    if pad < 12 {
        pad += 16;
    }
    (pad + 16 * extra_blocks).min(1024 - (1024 - pad) % 16)
}

/// Encrypts a plaintext (salt, session_id, msg_id, seq_no, length, body) into
/// `auth_key_id || msg_key || ciphertext`. `padding` must make the length a multiple of 16 and
/// be 12..=1024 bytes (see [`padding_len`]); it should be random.
///
/// # Errors
/// [`BlockLengthError`] when the padding does not complete the last block.
pub fn encrypt_message(
    key: &AuthKey,
    side: Side,
    plaintext: &[u8],
    padding: &[u8],
) -> Result<Vec<u8>, BlockLengthError> {
    let mut out = Vec::with_capacity(24 + plaintext.len() + padding.len());
    out.extend_from_slice(&key.id.to_le_bytes());
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(plaintext);
    out.extend_from_slice(padding);
    let mk = msg_key(key, side, &out[24..]);
    out[8..24].copy_from_slice(&mk);
    let (k, iv) = derive_aes(key, &mk, side);
    encrypt_ige(&mut out[24..], &k, &iv)?;
    Ok(out)
}

/// Why an encrypted message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// Shorter than the header, or the ciphertext is not whole blocks.
    #[error("encrypted message of {0} bytes is malformed")]
    BadLength(usize),
    /// The auth_key_id is not ours.
    #[error("unknown auth_key_id {0:016x}")]
    UnknownKey(u64),
    /// The recomputed msg_key differs: tampered, or a wrong key.
    #[error("msg_key mismatch")]
    MsgKeyMismatch,
}

/// Decrypts `auth_key_id || msg_key || ciphertext` sent by `sender`, checking the key id and
/// the msg_key. Returns the plaintext including padding.
///
/// # Errors
/// [`DecryptError`].
pub fn decrypt_message(key: &AuthKey, sender: Side, data: &[u8]) -> Result<Vec<u8>, DecryptError> {
    if data.len() < 24 + 16 || (data.len() - 24) % 16 != 0 {
        return Err(DecryptError::BadLength(data.len()));
    }
    let id = i64::from_le_bytes(data[..8].try_into().expect("8"));
    if id != key.id {
        return Err(DecryptError::UnknownKey(id as u64));
    }
    let mk: [u8; 16] = data[8..24].try_into().expect("16");
    let (k, iv) = derive_aes(key, &mk, sender);
    let mut plain = data[24..].to_vec();
    decrypt_ige(&mut plain, &k, &iv).map_err(|_| DecryptError::BadLength(data.len()))?;
    // In constant time: how much of a forged msg_key matched must not show in the timing.
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        &msg_key(key, sender, &plain)[..],
        &mk[..],
    )) {
        return Err(DecryptError::MsgKeyMismatch);
    }
    Ok(plain)
}

/// The temporary AES key and IV of the handshake, from the nonces.
pub fn tmp_aes_from_nonces(server_nonce: &[u8; 16], new_nonce: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let a = sha1(&[new_nonce, server_nonce]);
    let b = sha1(&[server_nonce, new_nonce]);
    let c = sha1(&[new_nonce, new_nonce]);
    let mut key = [0u8; 32];
    key[..20].copy_from_slice(&a);
    key[20..].copy_from_slice(&b[..12]);
    let mut iv = [0u8; 32];
    iv[..8].copy_from_slice(&b[12..20]);
    iv[8..28].copy_from_slice(&c);
    iv[28..].copy_from_slice(&new_nonce[..4]);
    (key, iv)
}

/// The first server salt: `new_nonce[0..8] XOR server_nonce[0..8]`, as a little-endian i64.
pub fn first_salt(server_nonce: &[u8; 16], new_nonce: &[u8; 32]) -> i64 {
    let mut s = [0u8; 8];
    for i in 0..8 {
        s[i] = new_nonce[i] ^ server_nonce[i];
    }
    i64::from_le_bytes(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{hex, vectors};

    fn seq<const N: usize>() -> [u8; N] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn kdf_vectors() {
        let v = vectors("grammers_vectors.json");
        let key = AuthKey::from_bytes(seq::<256>());
        let mk: [u8; 16] = seq();
        let (k, iv) = derive_aes(&key, &mk, Side::Client);
        assert_eq!(
            k.to_vec(),
            hex(v["mtproto2_kdf_client_x0"]["aes_key"].as_str().unwrap())
        );
        assert_eq!(
            iv.to_vec(),
            hex(v["mtproto2_kdf_client_x0"]["aes_iv"].as_str().unwrap())
        );
        let (k, iv) = derive_aes(&key, &mk, Side::Server);
        assert_eq!(
            k.to_vec(),
            hex(v["mtproto2_kdf_server_x8"]["aes_key"].as_str().unwrap())
        );
        assert_eq!(
            iv.to_vec(),
            hex(v["mtproto2_kdf_server_x8"]["aes_iv"].as_str().unwrap())
        );
    }

    #[test]
    fn encrypt_and_decrypt_vectors() {
        let v = vectors("grammers_vectors.json");
        let e = &v["mtproto2_encrypt_client"];
        let key = AuthKey::from_bytes(seq::<256>());
        let plain = e["plaintext_ascii"].as_str().unwrap().as_bytes();
        let padding = hex(e["padding_hex"].as_str().unwrap());
        let out = encrypt_message(&key, Side::Client, plain, &padding).unwrap();
        assert_eq!(out, hex(e["expected_hex"].as_str().unwrap()));
        // The other side decrypts it.
        let back = decrypt_message(&key, Side::Client, &out).unwrap();
        assert_eq!(&back[..plain.len()], plain);

        let d = &v["mtproto2_decrypt_server"];
        let key = AuthKey::from_bytes(hex(d["auth_key_hex"].as_str().unwrap()).try_into().unwrap());
        let ct = hex(d["ciphertext_hex"].as_str().unwrap());
        let plain = decrypt_message(&key, Side::Server, &ct).unwrap();
        let expected = hex(d["expected_plaintext_hex"].as_str().unwrap());
        assert_eq!(&plain[..expected.len()], &expected[..]);
        // Tampering is detected.
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            decrypt_message(&key, Side::Server, &bad),
            Err(DecryptError::MsgKeyMismatch)
        );
        assert!(matches!(
            decrypt_message(&key, Side::Server, &ct[..30]),
            Err(DecryptError::BadLength(30))
        ));
        let other = AuthKey::from_bytes([9; 256]);
        assert!(matches!(
            decrypt_message(&other, Side::Server, &ct),
            Err(DecryptError::UnknownKey(_))
        ));
    }

    #[test]
    fn auth_key_hashes_and_nonces() {
        let v = vectors("grammers_vectors.json");
        let h = &v["auth_key_hashes"];
        let key = AuthKey::from_bytes(seq::<256>());
        assert_eq!(
            key.aux_hash().to_vec(),
            hex(h["aux_hash"].as_str().unwrap())
        );
        assert_eq!(
            key.id().to_le_bytes().to_vec(),
            hex(h["key_id"].as_str().unwrap())
        );
        let nn: [u8; 32] = seq();
        for (n, k) in [
            (1, "new_nonce_hash1"),
            (2, "new_nonce_hash2"),
            (3, "new_nonce_hash3"),
        ] {
            assert_eq!(
                key.new_nonce_hash(&nn, n).to_vec(),
                hex(h[k].as_str().unwrap())
            );
        }
        let t = &v["tmp_aes_from_nonces"];
        let (k, iv) = tmp_aes_from_nonces(&seq(), &seq());
        assert_eq!(k.to_vec(), hex(t["key"].as_str().unwrap()));
        assert_eq!(iv.to_vec(), hex(t["iv"].as_str().unwrap()));
    }

    #[test]
    fn padding_rules() {
        for len in 0..200 {
            for extra in 0..3 {
                let p = padding_len(len, extra);
                assert!((12..=1024).contains(&p));
                assert_eq!((len + p) % 16, 0);
            }
        }
    }
}
