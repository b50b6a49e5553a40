//! RSA as used by the auth-key handshake (<https://core.telegram.org/mtproto/auth_key>).
//!
//! ```text
//! legacy:  m = SHA1(data) || data || random padding   (255 bytes)      c = m^e mod n
//! RSA_PAD: data_with_padding = data || random (192 bytes)
//!          data_with_hash    = reverse(data_with_padding) || SHA256(temp_key || data_with_padding)
//!          aes_encrypted     = AES256-IGE(data_with_hash, temp_key, iv = 0)      (224 bytes)
//!          key_aes_encrypted = (temp_key XOR SHA256(aes_encrypted)) || aes_encrypted
//!          c = key_aes_encrypted^e mod n   (while it is >= n: temp_key += 1, big-endian)
//! fingerprint = low 64 bits of SHA1(TL bytes(n) || TL bytes(e))
//! ```
//!
//! The server side decrypts both schemes with the CRT. Randomness is passed in.

use super::{decrypt_ige, encrypt_ige, sha1, sha256};
use num_bigint::BigUint;
use num_traits::One;

/// RSA errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RsaError {
    /// The plaintext does not fit the scheme.
    #[error("RSA plaintext of {0} bytes is too long for the scheme")]
    TooLong(usize),
    /// Not enough random bytes were supplied.
    #[error("RSA needs {need} random bytes, got {got}")]
    NotEnoughRandom {
        /// Needed.
        need: usize,
        /// Given.
        got: usize,
    },
    /// The ciphertext is not a valid encryption for this key (hash mismatch, out of range).
    #[error("RSA ciphertext does not decrypt to a valid message")]
    BadCiphertext,
    /// A PEM/DER key that could not be parsed.
    #[error("invalid RSA public key: {0}")]
    BadKey(String),
}

/// An RSA public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    /// Modulus.
    pub n: BigUint,
    /// Public exponent.
    pub e: BigUint,
}

fn tl_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    fleetgram_tl::ser::bytes(buf, b);
}

fn to_256(x: &BigUint) -> [u8; 256] {
    let b = x.to_bytes_be();
    let mut out = [0u8; 256];
    let n = b.len().min(256);
    out[256 - n..].copy_from_slice(&b[b.len() - n..]);
    out
}

impl RsaPublicKey {
    /// A key from its modulus in decimal and its exponent.
    ///
    /// # Errors
    /// A modulus that is not a decimal number.
    pub fn from_decimal(n: &str, e: u32) -> Result<Self, RsaError> {
        let n = BigUint::parse_bytes(n.trim().as_bytes(), 10)
            .ok_or_else(|| RsaError::BadKey("modulus is not decimal".into()))?;
        Ok(Self {
            n,
            e: BigUint::from(e),
        })
    }

    /// Telegram's fingerprint of the key.
    pub fn fingerprint(&self) -> i64 {
        let mut buf = Vec::with_capacity(300);
        tl_bytes(&mut buf, &self.n.to_bytes_be());
        tl_bytes(&mut buf, &self.e.to_bytes_be());
        let h = sha1(&[&buf]);
        i64::from_le_bytes(h[12..20].try_into().expect("8"))
    }

    fn raw(&self, m: &BigUint) -> [u8; 256] {
        to_256(&m.modpow(&self.e, &self.n))
    }

    /// Textbook RSA with the public exponent: `data^e mod n`, 256 bytes big-endian (what
    /// Telegram's signed special configuration is opened with).
    pub fn raw_public(&self, data: &[u8]) -> [u8; 256] {
        self.raw(&BigUint::from_bytes_be(data))
    }

    /// RSA_PAD encryption of `data` (at most 144 bytes). `random` must hold 224 bytes:
    /// `random[..192 - data.len()]` pads the data, `random[192..224]` is the temp key. Should the
    /// result exceed the modulus, the temp key is incremented (as a big-endian number) and
    /// the steps repeated, as grammers does (the published vector depends on it).
    ///
    /// # Errors
    /// Data too long, or too little randomness.
    pub fn encrypt_rsa_pad(&self, data: &[u8], random: &[u8]) -> Result<[u8; 256], RsaError> {
        if data.len() > 144 {
            return Err(RsaError::TooLong(data.len()));
        }
        if random.len() < 224 {
            return Err(RsaError::NotEnoughRandom {
                need: 224,
                got: random.len(),
            });
        }
        let mut with_padding = [0u8; 192];
        with_padding[..data.len()].copy_from_slice(data);
        with_padding[data.len()..].copy_from_slice(&random[..192 - data.len()]);
        let mut temp_key: [u8; 32] = random[192..224].try_into().expect("32");
        loop {
            let mut with_hash = [0u8; 224];
            for (i, b) in with_padding.iter().rev().enumerate() {
                with_hash[i] = *b;
            }
            with_hash[192..].copy_from_slice(&sha256(&[&temp_key, &with_padding]));
            encrypt_ige(&mut with_hash, &temp_key, &[0u8; 32]).expect("224 is whole blocks");
            let h = sha256(&[&with_hash]);
            let mut key_aes = [0u8; 256];
            for i in 0..32 {
                key_aes[i] = temp_key[i] ^ h[i];
            }
            key_aes[32..].copy_from_slice(&with_hash);
            let m = BigUint::from_bytes_be(&key_aes);
            if m < self.n {
                return Ok(self.raw(&m));
            }
            for b in temp_key.iter_mut().rev() {
                *b = b.wrapping_add(1);
                if *b != 0 {
                    break;
                }
            }
        }
    }

    /// Legacy encryption: SHA1(data) || data || padding, 255 bytes. `random` supplies the
    /// padding (`255 - 20 - data.len()` bytes).
    ///
    /// # Errors
    /// Data too long, or too little randomness.
    pub fn encrypt_legacy(&self, data: &[u8], random: &[u8]) -> Result<[u8; 256], RsaError> {
        if data.len() > 255 - 20 {
            return Err(RsaError::TooLong(data.len()));
        }
        let need = 255 - 20 - data.len();
        if random.len() < need {
            return Err(RsaError::NotEnoughRandom {
                need,
                got: random.len(),
            });
        }
        let mut m = Vec::with_capacity(255);
        m.extend_from_slice(&sha1(&[data]));
        m.extend_from_slice(data);
        m.extend_from_slice(&random[..need]);
        Ok(self.raw(&BigUint::from_bytes_be(&m)))
    }

    /// The PKCS#1 PEM form (`-----BEGIN RSA PUBLIC KEY-----`).
    pub fn to_pem(&self) -> String {
        fn der_int(out: &mut Vec<u8>, x: &BigUint) {
            let mut b = x.to_bytes_be();
            if b[0] & 0x80 != 0 {
                b.insert(0, 0);
            }
            out.push(0x02);
            der_len(out, b.len());
            out.extend_from_slice(&b);
        }
        fn der_len(out: &mut Vec<u8>, len: usize) {
            if len < 128 {
                out.push(len as u8);
            } else if len < 256 {
                out.extend_from_slice(&[0x81, len as u8]);
            } else {
                out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
            }
        }
        let mut body = Vec::new();
        der_int(&mut body, &self.n);
        der_int(&mut body, &self.e);
        let mut der = vec![0x30];
        der_len(&mut der, body.len());
        der.extend_from_slice(&body);
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let mut pem = String::from("-----BEGIN RSA PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).expect("base64 is ascii"));
            pem.push('\n');
        }
        pem.push_str("-----END RSA PUBLIC KEY-----\n");
        pem
    }

    /// Parses a PKCS#1 PEM public key.
    ///
    /// # Errors
    /// [`RsaError::BadKey`] saying what was wrong.
    pub fn from_pem(pem: &str) -> Result<Self, RsaError> {
        use base64::Engine as _;
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----") && !l.is_empty())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| RsaError::BadKey(format!("base64: {e}")))?;
        let bad = |m: &str| RsaError::BadKey(m.to_string());
        let mut pos = 0;
        let read_len = |der: &[u8], pos: &mut usize| -> Result<usize, RsaError> {
            let b = *der.get(*pos).ok_or_else(|| bad("truncated length"))?;
            *pos += 1;
            if b < 0x80 {
                return Ok(b as usize);
            }
            let n = (b & 0x7f) as usize;
            if n == 0 || n > 2 {
                return Err(bad("unsupported DER length"));
            }
            let mut len = 0;
            for _ in 0..n {
                len = len << 8 | *der.get(*pos).ok_or_else(|| bad("truncated length"))? as usize;
                *pos += 1;
            }
            Ok(len)
        };
        if der.first() != Some(&0x30) {
            return Err(bad("expected a DER SEQUENCE"));
        }
        pos += 1;
        read_len(&der, &mut pos)?;
        let mut ints = Vec::new();
        for _ in 0..2 {
            if der.get(pos) != Some(&0x02) {
                return Err(bad("expected a DER INTEGER"));
            }
            pos += 1;
            let len = read_len(&der, &mut pos)?;
            let b = der
                .get(pos..pos + len)
                .ok_or_else(|| bad("truncated INTEGER"))?;
            ints.push(BigUint::from_bytes_be(b));
            pos += len;
        }
        let e = ints.pop().expect("two");
        let n = ints.pop().expect("two");
        Ok(Self { n, e })
    }
}

/// An RSA private key with its CRT parameters (the local DC's).
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPrivateKey {
    public: RsaPublicKey,
    d: BigUint,
    p: BigUint,
    q: BigUint,
    dp: BigUint,
    dq: BigUint,
    qinv: BigUint,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RsaPrivateKey(fingerprint={})",
            self.public.fingerprint()
        )
    }
}

fn mod_inverse(a: &BigUint, m: &BigUint) -> Option<BigUint> {
    use num_bigint::BigInt;
    use num_integer::Integer;
    let a = BigInt::from(a.clone());
    let m_i = BigInt::from(m.clone());
    let g = a.extended_gcd(&m_i);
    if !g.gcd.is_one() {
        return None;
    }
    let x = ((g.x % &m_i) + &m_i) % &m_i;
    x.to_biguint()
}

impl RsaPrivateKey {
    /// Generates a 2048-bit key with e = 65537. `fill` supplies random bytes.
    pub fn generate(fill: &mut dyn FnMut(&mut [u8])) -> Self {
        let e = BigUint::from(65537u32);
        loop {
            let p = random_prime(1024, fill);
            let q = random_prime(1024, fill);
            if p == q {
                continue;
            }
            if let Some(k) = Self::from_primes(p, q, e.clone()) {
                if k.public.n.bits() == 2048 {
                    return k;
                }
            }
        }
    }

    /// Builds a key from its primes; `None` if `e` is not invertible.
    pub fn from_primes(p: BigUint, q: BigUint, e: BigUint) -> Option<Self> {
        let one = BigUint::one();
        let phi = (&p - &one) * (&q - &one);
        let d = mod_inverse(&e, &phi)?;
        let dp = &d % (&p - &one);
        let dq = &d % (&q - &one);
        let qinv = mod_inverse(&q, &p)?;
        Some(Self {
            public: RsaPublicKey { n: &p * &q, e },
            d,
            p,
            q,
            dp,
            dq,
            qinv,
        })
    }

    /// The primes `(p, q)`, to persist the key.
    pub fn primes(&self) -> (&BigUint, &BigUint) {
        (&self.p, &self.q)
    }

    /// The public half.
    pub fn public(&self) -> &RsaPublicKey {
        &self.public
    }

    /// `c^d mod n` with the CRT.
    /// Textbook RSA with the private exponent: `data^d mod n` (the inverse of
    /// [`RsaPublicKey::raw_public`]; what signs a special configuration).
    ///
    /// # Errors
    /// `data` is not below the modulus.
    pub fn raw_private(&self, data: &[u8]) -> Result<[u8; 256], RsaError> {
        self.raw_decrypt(data)
    }

    fn raw_decrypt(&self, c: &[u8]) -> Result<[u8; 256], RsaError> {
        let c = BigUint::from_bytes_be(c);
        if c >= self.public.n {
            return Err(RsaError::BadCiphertext);
        }
        let m1 = c.modpow(&self.dp, &self.p);
        let m2 = c.modpow(&self.dq, &self.q);
        let diff = if m1 >= m2 {
            &m1 - &m2
        } else {
            &self.p - ((&m2 - &m1) % &self.p)
        };
        let h = (&self.qinv * diff) % &self.p;
        let m = m2 + h * &self.q;
        debug_assert!(m < self.public.n);
        let _ = &self.d;
        Ok(to_256(&m))
    }

    /// Decrypts RSA_PAD, returning `data_with_padding` (192 bytes, the TL data first).
    ///
    /// # Errors
    /// [`RsaError::BadCiphertext`] when the hash does not match.
    pub fn decrypt_rsa_pad(&self, c: &[u8]) -> Result<[u8; 192], RsaError> {
        if c.len() != 256 {
            return Err(RsaError::BadCiphertext);
        }
        let m = self.raw_decrypt(c)?;
        let mut aes_encrypted: [u8; 224] = m[32..].try_into().expect("224");
        let h = sha256(&[&aes_encrypted]);
        let mut temp_key = [0u8; 32];
        for i in 0..32 {
            temp_key[i] = m[i] ^ h[i];
        }
        decrypt_ige(&mut aes_encrypted, &temp_key, &[0u8; 32]).expect("224 is whole blocks");
        let mut with_padding = [0u8; 192];
        for (i, b) in aes_encrypted[..192].iter().rev().enumerate() {
            with_padding[i] = *b;
        }
        if sha256(&[&temp_key, &with_padding]) != aes_encrypted[192..] {
            return Err(RsaError::BadCiphertext);
        }
        Ok(with_padding)
    }

    /// Decrypts the legacy scheme, returning `(sha1, data_and_padding)`; the caller parses the
    /// TL data and checks that SHA1 of exactly its bytes equals the hash.
    ///
    /// # Errors
    /// [`RsaError::BadCiphertext`] for a ciphertext out of range.
    pub fn decrypt_legacy(&self, c: &[u8]) -> Result<([u8; 20], Vec<u8>), RsaError> {
        if c.len() > 256 {
            return Err(RsaError::BadCiphertext);
        }
        let m = self.raw_decrypt(c)?;
        if m[0] != 0 {
            return Err(RsaError::BadCiphertext);
        }
        Ok((m[1..21].try_into().expect("20"), m[21..].to_vec()))
    }
}

fn random_prime(bits: u64, fill: &mut dyn FnMut(&mut [u8])) -> BigUint {
    let bytes = (bits / 8) as usize;
    loop {
        let mut b = vec![0u8; bytes];
        fill(&mut b);
        b[0] |= 0xc0; // top two bits: the product has exactly 2 * bits bits
        b[bytes - 1] |= 1;
        let mut cand = BigUint::from_bytes_be(&b);
        for _ in 0..2000 {
            if small_prime_sieve(&cand)
                && super::dh::is_probable_prime(&cand)
                && (&cand - 1u32) % 65537u32 != BigUint::ZERO
            {
                return cand;
            }
            cand += 2u32;
        }
    }
}

fn small_prime_sieve(n: &BigUint) -> bool {
    const P: [u32; 24] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    ];
    P.iter().all(|p| n % p != BigUint::ZERO)
}

/// Telegram's production key (fingerprint -3414540481677951611).
pub const PRODUCTION_KEY_N: &str = "29379598170669337022986177149456128565388431120058863768162556424047512191330847455146576344487764408661701890505066208632169112269581063774293102577308490531282748465986139880977280302242772832972539403531316010870401287642763009136156734339538042419388722777357134487746169093539093850251243897188928735903389451772730245253062963384108812842079887538976360465290946139638691491496062099570836476454855996319192747663615955633778034897140982517446405334423701359108810182097749467210509584293428076654573384828809574217079944388301239431309115013843331317877374435868468779972014486325557807783825502498215169806323";
/// Telegram's test-network key (fingerprint -5595554452916591101).
pub const TEST_KEY_N: &str = "25342889448840415564971689590713473206898847759084779052582026594546022463853940585885215951168491965708222649399180603818074200620463776135424884632162512403163793083921641631564740959529419359595852941166848940585952337613333022396096584117954892216031229237302943701877588456738335398602461675225081791820393153757504952636234951323237820036543581047826906120927972487366805292115792231423684261262330394324750785450942589751755390156647751460719351439969059949569615302809050721500330239005077889855323917509948255722081644689442127297605422579707142646660768825302832201908302295573257427896031830742328565032949";

/// The built-in server keys: production and test network.
pub fn builtin_keys() -> Vec<RsaPublicKey> {
    [PRODUCTION_KEY_N, TEST_KEY_N]
        .iter()
        .map(|n| RsaPublicKey::from_decimal(n, 65537).expect("valid built-in key"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{hex, vectors};

    #[test]
    fn builtin_fingerprints() {
        let keys = builtin_keys();
        assert_eq!(keys[0].fingerprint(), -3414540481677951611);
        assert_eq!(keys[1].fingerprint(), -5595554452916591101);
        let v = vectors("grammers_vectors.json");
        for k in v["telegram_public_keys"].as_array().unwrap() {
            let key = RsaPublicKey::from_decimal(k["n_decimal"].as_str().unwrap(), 65537).unwrap();
            assert_eq!(key.fingerprint(), k["fingerprint"].as_i64().unwrap());
        }
    }

    #[test]
    fn rsa_pad_vector() {
        let v = vectors("grammers_vectors.json");
        let t = &v["rsa_pad_encrypt"];
        let key = RsaPublicKey::from_decimal(t["n_decimal"].as_str().unwrap(), 65537).unwrap();
        assert_eq!(key.fingerprint(), t["fingerprint"].as_i64().unwrap());
        let data = hex(t["data_hex"].as_str().unwrap());
        let random = hex(t["random_bytes_224_hex"].as_str().unwrap());
        let out = key.encrypt_rsa_pad(&data, &random).unwrap();
        assert_eq!(out.to_vec(), hex(t["expected_hex"].as_str().unwrap()));
    }

    #[test]
    fn private_key_decrypts_both_schemes_and_pem_round_trips() {
        // Deterministic "randomness" for the test.
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut fill = |b: &mut [u8]| {
            for x in b.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *x = state as u8;
            }
        };
        let key = RsaPrivateKey::generate(&mut fill);
        let public = key.public().clone();
        assert_eq!(public.n.bits(), 2048);
        let pem = public.to_pem();
        assert!(pem.starts_with("-----BEGIN RSA PUBLIC KEY-----\n"));
        assert_eq!(RsaPublicKey::from_pem(&pem).unwrap(), public);
        let data = b"p_q_inner_data goes here";
        let mut random = [0u8; 224];
        fill(&mut random);
        let c = public.encrypt_rsa_pad(data, &random).unwrap();
        let m = key.decrypt_rsa_pad(&c).unwrap();
        assert_eq!(&m[..data.len()], data);
        let mut bad = c;
        bad[100] ^= 1;
        assert!(key.decrypt_rsa_pad(&bad).is_err());
        let c = public.encrypt_legacy(data, &random).unwrap();
        let (h, rest) = key.decrypt_legacy(&c).unwrap();
        assert_eq!(h, sha1(&[data]));
        assert_eq!(&rest[..data.len()], data);
        assert!(RsaPublicKey::from_pem(
            "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----"
        )
        .is_err());
    }
}
