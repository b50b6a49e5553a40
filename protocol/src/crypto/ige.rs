//! AES-256 in IGE mode, as MTProto uses it
//! (<https://core.telegram.org/mtproto/description#defining-aes-key-and-initialization-vector>).
//!
//! ```text
//! iv = x0 (16 bytes, "previous ciphertext") || y0 (16 bytes, "previous plaintext")
//! encrypt: c[i] = E(p[i] ^ c[i-1]) ^ p[i-1]      c[-1] = x0, p[-1] = y0
//! decrypt: p[i] = D(c[i] ^ p[i-1]) ^ c[i-1]
//! ```
//!
//! IGE is serial in both directions, so throughput is bounded by the latency of one AES chain.
//! On x86-64 with AES-NI (detected at run time) a hand-written chain keeps the 15 round keys in
//! registers; elsewhere the portable `aes` crate is used.

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, BlockEncrypt, KeyInit};

/// The input was not a whole number of 16-byte blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("AES-IGE input of {0} bytes is not a multiple of 16")]
pub struct BlockLengthError(pub usize);

/// Encrypts `data` in place.
///
/// # Errors
/// [`BlockLengthError`] if `data.len()` is not a multiple of 16 (nothing is changed then).
pub fn encrypt_ige(data: &mut [u8], key: &[u8; 32], iv: &[u8; 32]) -> Result<(), BlockLengthError> {
    if data.len() % 16 != 0 {
        return Err(BlockLengthError(data.len()));
    }
    #[cfg(target_arch = "x86_64")]
    if aesni::available() {
        aesni::encrypt(data, key, iv);
        return Ok(());
    }
    portable::encrypt(data, key, iv);
    Ok(())
}

/// Decrypts `data` in place.
///
/// # Errors
/// [`BlockLengthError`] if `data.len()` is not a multiple of 16 (nothing is changed then).
pub fn decrypt_ige(data: &mut [u8], key: &[u8; 32], iv: &[u8; 32]) -> Result<(), BlockLengthError> {
    if data.len() % 16 != 0 {
        return Err(BlockLengthError(data.len()));
    }
    #[cfg(target_arch = "x86_64")]
    if aesni::available() {
        aesni::decrypt(data, key, iv);
        return Ok(());
    }
    portable::decrypt(data, key, iv);
    Ok(())
}

/// The portable implementation (also the reference the AES-NI path is tested against).
pub mod portable {
    use super::*;

    fn xor16(a: &mut [u8; 16], b: &[u8]) {
        for (x, y) in a.iter_mut().zip(b) {
            *x ^= y;
        }
    }

    /// Encrypts whole blocks in place with the `aes` crate.
    ///
    /// # Panics
    /// If `data.len()` is not a multiple of 16 (the public wrappers check first).
    pub fn encrypt(data: &mut [u8], key: &[u8; 32], iv: &[u8; 32]) {
        assert!(data.len() % 16 == 0);
        let cipher = aes::Aes256::new(GenericArray::from_slice(key));
        let mut c_prev: [u8; 16] = iv[..16].try_into().expect("16");
        let mut p_prev: [u8; 16] = iv[16..].try_into().expect("16");
        for block in data.chunks_exact_mut(16) {
            let p: [u8; 16] = (&*block).try_into().expect("16");
            let mut x = p;
            xor16(&mut x, &c_prev);
            let ga = GenericArray::from_mut_slice(&mut x);
            cipher.encrypt_block(ga);
            xor16(&mut x, &p_prev);
            block.copy_from_slice(&x);
            c_prev = x;
            p_prev = p;
        }
    }

    /// Decrypts whole blocks in place with the `aes` crate.
    ///
    /// # Panics
    /// If `data.len()` is not a multiple of 16 (the public wrappers check first).
    pub fn decrypt(data: &mut [u8], key: &[u8; 32], iv: &[u8; 32]) {
        assert!(data.len() % 16 == 0);
        let cipher = aes::Aes256::new(GenericArray::from_slice(key));
        let mut c_prev: [u8; 16] = iv[..16].try_into().expect("16");
        let mut p_prev: [u8; 16] = iv[16..].try_into().expect("16");
        for block in data.chunks_exact_mut(16) {
            let c: [u8; 16] = (&*block).try_into().expect("16");
            let mut x = c;
            xor16(&mut x, &p_prev);
            let ga = GenericArray::from_mut_slice(&mut x);
            cipher.decrypt_block(ga);
            xor16(&mut x, &c_prev);
            block.copy_from_slice(&x);
            p_prev = x;
            c_prev = c;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod aesni {
    //! AES-NI: the only `unsafe` of the crate. Every function with `target_feature` is called
    //! only after [`available`] confirmed the CPU has AES-NI.
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    pub fn available() -> bool {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("aes") && is_x86_feature_detected!("sse2"))
    }

    #[inline(always)]
    unsafe fn expand_step1(a: __m128i, assist: __m128i) -> __m128i {
        let b = _mm_shuffle_epi32(assist, 0xff);
        let mut a = a;
        let mut c = _mm_slli_si128(a, 4);
        a = _mm_xor_si128(a, c);
        c = _mm_slli_si128(c, 4);
        a = _mm_xor_si128(a, c);
        c = _mm_slli_si128(c, 4);
        a = _mm_xor_si128(a, c);
        _mm_xor_si128(a, b)
    }

    #[inline(always)]
    unsafe fn expand_step2(a: __m128i, c: __m128i) -> __m128i {
        let b = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(a, 0x00), 0xaa);
        let mut c = c;
        let mut d = _mm_slli_si128(c, 4);
        c = _mm_xor_si128(c, d);
        d = _mm_slli_si128(d, 4);
        c = _mm_xor_si128(c, d);
        d = _mm_slli_si128(d, 4);
        c = _mm_xor_si128(c, d);
        _mm_xor_si128(c, b)
    }

    #[target_feature(enable = "aes,sse2")]
    unsafe fn expand_key(key: &[u8; 32]) -> [__m128i; 15] {
        let mut rk = [_mm_setzero_si128(); 15];
        let mut k0 = _mm_loadu_si128(key.as_ptr() as *const __m128i);
        let mut k1 = _mm_loadu_si128(key.as_ptr().add(16) as *const __m128i);
        rk[0] = k0;
        rk[1] = k1;
        macro_rules! round {
            ($i:expr, $rcon:expr) => {
                k0 = expand_step1(k0, _mm_aeskeygenassist_si128(k1, $rcon));
                rk[2 * $i] = k0;
                k1 = expand_step2(k0, k1);
                rk[2 * $i + 1] = k1;
            };
        }
        round!(1, 0x01);
        round!(2, 0x02);
        round!(3, 0x04);
        round!(4, 0x08);
        round!(5, 0x10);
        round!(6, 0x20);
        rk[14] = expand_step1(k0, _mm_aeskeygenassist_si128(k1, 0x40));
        rk
    }

    #[target_feature(enable = "aes,sse2")]
    unsafe fn decrypt_keys(rk: &[__m128i; 15]) -> [__m128i; 15] {
        let mut dk = [_mm_setzero_si128(); 15];
        dk[0] = rk[14];
        for i in 1..14 {
            dk[i] = _mm_aesimc_si128(rk[14 - i]);
        }
        dk[14] = rk[0];
        dk
    }

    #[inline(always)]
    unsafe fn enc_block(rk: &[__m128i; 15], x: __m128i) -> __m128i {
        let mut x = _mm_xor_si128(x, rk[0]);
        x = _mm_aesenc_si128(x, rk[1]);
        x = _mm_aesenc_si128(x, rk[2]);
        x = _mm_aesenc_si128(x, rk[3]);
        x = _mm_aesenc_si128(x, rk[4]);
        x = _mm_aesenc_si128(x, rk[5]);
        x = _mm_aesenc_si128(x, rk[6]);
        x = _mm_aesenc_si128(x, rk[7]);
        x = _mm_aesenc_si128(x, rk[8]);
        x = _mm_aesenc_si128(x, rk[9]);
        x = _mm_aesenc_si128(x, rk[10]);
        x = _mm_aesenc_si128(x, rk[11]);
        x = _mm_aesenc_si128(x, rk[12]);
        x = _mm_aesenc_si128(x, rk[13]);
        _mm_aesenclast_si128(x, rk[14])
    }

    #[inline(always)]
    unsafe fn dec_block(dk: &[__m128i; 15], x: __m128i) -> __m128i {
        let mut x = _mm_xor_si128(x, dk[0]);
        x = _mm_aesdec_si128(x, dk[1]);
        x = _mm_aesdec_si128(x, dk[2]);
        x = _mm_aesdec_si128(x, dk[3]);
        x = _mm_aesdec_si128(x, dk[4]);
        x = _mm_aesdec_si128(x, dk[5]);
        x = _mm_aesdec_si128(x, dk[6]);
        x = _mm_aesdec_si128(x, dk[7]);
        x = _mm_aesdec_si128(x, dk[8]);
        x = _mm_aesdec_si128(x, dk[9]);
        x = _mm_aesdec_si128(x, dk[10]);
        x = _mm_aesdec_si128(x, dk[11]);
        x = _mm_aesdec_si128(x, dk[12]);
        x = _mm_aesdec_si128(x, dk[13]);
        _mm_aesdeclast_si128(x, dk[14])
    }

    #[target_feature(enable = "aes,sse2")]
    unsafe fn encrypt_impl(data: &mut [u8], key: &[u8; 32], iv: &[u8; 32]) {
        let rk = expand_key(key);
        let mut c_prev = _mm_loadu_si128(iv.as_ptr() as *const __m128i);
        let mut p_prev = _mm_loadu_si128(iv.as_ptr().add(16) as *const __m128i);
        for block in data.chunks_exact_mut(16) {
            let ptr = block.as_mut_ptr() as *mut __m128i;
            let p = _mm_loadu_si128(ptr);
            let c = _mm_xor_si128(enc_block(&rk, _mm_xor_si128(p, c_prev)), p_prev);
            _mm_storeu_si128(ptr, c);
            c_prev = c;
            p_prev = p;
        }
    }

    #[target_feature(enable = "aes,sse2")]
    unsafe fn decrypt_impl(data: &mut [u8], key: &[u8; 32], iv: &[u8; 32]) {
        let dk = decrypt_keys(&expand_key(key));
        let mut c_prev = _mm_loadu_si128(iv.as_ptr() as *const __m128i);
        let mut p_prev = _mm_loadu_si128(iv.as_ptr().add(16) as *const __m128i);
        for block in data.chunks_exact_mut(16) {
            let ptr = block.as_mut_ptr() as *mut __m128i;
            let c = _mm_loadu_si128(ptr);
            let p = _mm_xor_si128(dec_block(&dk, _mm_xor_si128(c, p_prev)), c_prev);
            _mm_storeu_si128(ptr, p);
            c_prev = c;
            p_prev = p;
        }
    }

    pub fn encrypt(data: &mut [u8], key: &[u8; 32], iv: &[u8; 32]) {
        debug_assert!(available() && data.len() % 16 == 0);
        // SAFETY: callers check `available()`; loads/stores are unaligned and within `data`.
        unsafe { encrypt_impl(data, key, iv) }
    }

    pub fn decrypt(data: &mut [u8], key: &[u8; 32], iv: &[u8; 32]) {
        debug_assert!(available() && data.len() % 16 == 0);
        // SAFETY: as in `encrypt`.
        unsafe { decrypt_impl(data, key, iv) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{hex, vectors};

    #[test]
    fn aes_ige_json_vectors() {
        let v = vectors("aes_ige.json");
        let mut n = 0;
        for t in v["vectors"].as_array().unwrap() {
            let key = hex(t["key"].as_str().unwrap());
            if key.len() != 32 {
                // AES-128 entries check the portable IGE chaining only via the `aes` crate.
                continue;
            }
            let key: [u8; 32] = key.try_into().unwrap();
            let iv: [u8; 32] = hex(t["iv"].as_str().unwrap()).try_into().unwrap();
            let mut data = hex(t["input"].as_str().unwrap());
            let out = hex(t["output"].as_str().unwrap());
            let mut data2 = data.clone();
            match t["op"].as_str().unwrap() {
                "encrypt" => {
                    encrypt_ige(&mut data, &key, &iv).unwrap();
                    portable::encrypt(&mut data2, &key, &iv);
                }
                _ => {
                    decrypt_ige(&mut data, &key, &iv).unwrap();
                    portable::decrypt(&mut data2, &key, &iv);
                }
            }
            assert_eq!(data, out);
            assert_eq!(data2, out);
            n += 1;
        }
        assert!(n >= 2, "AES-256 vectors checked: {n}");
    }

    #[test]
    fn aes128_vectors_through_portable_chain() {
        // The OpenSSL AES-128 vectors pin the IGE chaining convention itself.
        use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
        let v = vectors("aes_ige.json");
        for t in v["vectors"].as_array().unwrap() {
            let key = hex(t["key"].as_str().unwrap());
            if key.len() != 16 {
                continue;
            }
            let cipher = aes::Aes128::new(GenericArray::from_slice(&key));
            let iv = hex(t["iv"].as_str().unwrap());
            let input = hex(t["input"].as_str().unwrap());
            let mut x_prev: Vec<u8> = iv[..16].to_vec();
            let mut y_prev: Vec<u8> = iv[16..].to_vec();
            let mut out = Vec::new();
            for b in input.chunks(16) {
                let enc = t["op"].as_str().unwrap() == "encrypt";
                let (chain_in, chain_out) = if enc {
                    (&x_prev, &y_prev)
                } else {
                    (&y_prev, &x_prev)
                };
                let mut blk: Vec<u8> = b.iter().zip(chain_in).map(|(a, c)| a ^ c).collect();
                let ga = GenericArray::from_mut_slice(&mut blk);
                if enc {
                    cipher.encrypt_block(ga)
                } else {
                    cipher.decrypt_block(ga)
                }
                let o: Vec<u8> = blk.iter().zip(chain_out).map(|(a, c)| a ^ c).collect();
                if enc {
                    x_prev = o.clone();
                    y_prev = b.to_vec();
                } else {
                    y_prev = o.clone();
                    x_prev = b.to_vec();
                }
                out.extend(o);
            }
            assert_eq!(out, hex(t["output"].as_str().unwrap()));
        }
    }

    #[test]
    fn grammers_ige_vectors() {
        let v = vectors("grammers_vectors.json");
        let seq = |n: usize| -> Vec<u8> { (0..n as u8).collect() };
        let key: [u8; 32] = seq(32).try_into().unwrap();
        let iv: [u8; 32] = seq(32).try_into().unwrap();
        let mut data = seq(32);
        encrypt_ige(&mut data, &key, &iv).unwrap();
        assert_eq!(
            data,
            hex(v["aes256_ige_encrypt"]["ciphertext"].as_str().unwrap())
        );
        let mut data = seq(32);
        decrypt_ige(&mut data, &key, &iv).unwrap();
        assert_eq!(
            data,
            hex(v["aes256_ige_decrypt"]["plaintext"].as_str().unwrap())
        );
    }

    #[test]
    fn accelerated_matches_portable_and_round_trips() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        let iv: [u8; 32] = std::array::from_fn(|i| (i * 13 + 1) as u8);
        for len in [0usize, 16, 32, 48, 1024, 4096 + 16] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut a = plain.clone();
            let mut b = plain.clone();
            encrypt_ige(&mut a, &key, &iv).unwrap();
            portable::encrypt(&mut b, &key, &iv);
            assert_eq!(a, b, "len {len}");
            decrypt_ige(&mut a, &key, &iv).unwrap();
            assert_eq!(a, plain);
        }
        assert_eq!(
            encrypt_ige(&mut [0u8; 15], &key, &iv),
            Err(BlockLengthError(15))
        );
    }
}
