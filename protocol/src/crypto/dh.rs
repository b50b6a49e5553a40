//! Diffie-Hellman parameter checks (<https://core.telegram.org/mtproto/auth_key>,
//! "DH key exchange complete"; the same checks guard SRP in 2FA).
//!
//! * `dh_prime` is Telegram's known 2048-bit safe prime, or a 2048-bit prime `p` with
//!   `(p - 1) / 2` prime as well;
//! * `g` is 2..=7 and generates the subgroup of order `(p - 1) / 2`: g=2: p mod 8 = 7;
//!   g=3: p mod 3 = 2; g=4: always; g=5: p mod 5 in {1, 4}; g=6: p mod 24 in {19, 23};
//!   g=7: p mod 7 in {3, 5, 6};
//! * `1 < g_a, g_b < p - 1`, and both in `[2^(2048-64), p - 2^(2048-64)]`.

use num_bigint::BigUint;
use num_traits::{One, ToPrimitive, Zero};
use std::sync::OnceLock;

/// Telegram's 2048-bit safe prime (the `dh_prime` its servers send).
pub const KNOWN_DH_PRIME_HEX: &str = "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f642477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b";

/// The known prime as a number.
pub fn known_prime() -> &'static BigUint {
    static P: OnceLock<BigUint> = OnceLock::new();
    P.get_or_init(|| BigUint::parse_bytes(KNOWN_DH_PRIME_HEX.as_bytes(), 16).expect("valid hex"))
}

/// Why DH parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhError {
    /// `g` outside 2..=7.
    #[error("g = {0} is outside 2..=7")]
    BadGenerator(u64),
    /// `p` does not satisfy the residue condition for `g`.
    #[error("g = {0} does not generate a subgroup of order (p-1)/2 for this p")]
    BadResidue(u32),
    /// `p` or `(p-1)/2` is not prime.
    #[error("p is not a safe prime")]
    NotSafePrime,
    /// `p` is not 2048 bits.
    #[error("p has {0} bits, expected 2048")]
    BadPrimeSize(u64),
    /// `g_a` / `g_b` outside the allowed range.
    #[error("DH value outside [2^1984, p - 2^1984]")]
    ValueOutOfRange,
}

/// Checks `g` against `p` (the residue rules) and that `p` is a safe prime, for any size of `p`
/// (SRP tests use small toy primes).
///
/// # Errors
/// [`DhError`].
pub fn check_prime_and_generator(p: &BigUint, g: u64) -> Result<(), DhError> {
    if !(2..=7).contains(&g) {
        return Err(DhError::BadGenerator(g));
    }
    let m = |k: u32| (p % k).to_u32().unwrap_or(0);
    let ok = match g {
        2 => m(8) == 7,
        3 => m(3) == 2,
        4 => true,
        5 => matches!(m(5), 1 | 4),
        6 => matches!(m(24), 19 | 23),
        _ => matches!(m(7), 3 | 5 | 6),
    };
    if !ok {
        return Err(DhError::BadResidue(g as u32));
    }
    if p != known_prime() {
        let half = (p - 1u32) >> 1;
        if !is_probable_prime(p) || !is_probable_prime(&half) {
            return Err(DhError::NotSafePrime);
        }
    }
    Ok(())
}

/// The full check of a server's `dh_prime` and `g`: 2048 bits plus
/// [`check_prime_and_generator`]. The known prime skips the (slow) primality tests.
///
/// # Errors
/// [`DhError`].
pub fn check_dh_params(p: &BigUint, g: u64) -> Result<(), DhError> {
    if p.bits() != 2048 {
        return Err(DhError::BadPrimeSize(p.bits()));
    }
    check_prime_and_generator(p, g)
}

/// Checks a DH public value (`g_a`, `g_b`, `g_b` of SRP) against `p`.
///
/// # Errors
/// [`DhError::ValueOutOfRange`].
pub fn check_dh_value(v: &BigUint, p: &BigUint) -> Result<(), DhError> {
    let one = BigUint::one();
    if p.bits() != 2048 {
        return Err(DhError::BadPrimeSize(p.bits()));
    }
    if v <= &one || v >= &(p - &one) {
        return Err(DhError::ValueOutOfRange);
    }
    let margin = BigUint::one() << (2048 - 64);
    if v < &margin || v > &(p - &margin) {
        return Err(DhError::ValueOutOfRange);
    }
    Ok(())
}

/// Miller-Rabin with the first 20 primes as bases and 32 more drawn from a hash of `n`
/// itself: fixed bases alone can be beaten by a composite built for them (a server could
/// send one), and bases that depend on the number cannot be known before the number is
/// chosen (a composite passes with probability below 4^-32 per number tried).
pub fn is_probable_prime(n: &BigUint) -> bool {
    const BASES: [u32; 20] = [
        2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71,
    ];
    if n < &BigUint::from(2u32) {
        return false;
    }
    for p in BASES {
        if (n % p).is_zero() {
            return n == &BigUint::from(p);
        }
    }
    let n1 = n - 1u32;
    let s = n1.trailing_zeros().unwrap_or(0);
    let d = &n1 >> s;
    let two = BigUint::from(2u32);
    let bytes = n.to_bytes_be();
    let derived = (0u32..32).map(|i| {
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, b"fleetgram miller-rabin base");
        sha2::Digest::update(&mut h, i.to_be_bytes());
        sha2::Digest::update(&mut h, &bytes);
        // A base in [2, n - 2].
        let r = BigUint::from_bytes_be(&sha2::Digest::finalize(h));
        let span = if n > &BigUint::from(4u32) {
            n - 3u32
        } else {
            BigUint::one()
        };
        (r % span) + &two
    });
    let bases = BASES.iter().map(|&a| BigUint::from(a)).chain(derived);
    'outer: for a in bases {
        let mut x = a.modpow(&d, n);
        if x.is_one() || x == n1 {
            continue;
        }
        for _ in 1..s {
            x = (&x * &x) % n;
            if x == n1 {
                continue 'outer;
            }
        }
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::vectors;

    #[test]
    fn srp_pg_check_vectors() {
        let v = vectors("srp_pg_checks.json");
        for pg in v["correct_pg"].as_array().unwrap() {
            let (p, g) = (pg[0].as_u64().unwrap(), pg[1].as_u64().unwrap());
            assert_eq!(
                check_prime_and_generator(&BigUint::from(p), g),
                Ok(()),
                "{p} {g}"
            );
        }
        for pg in v["incorrect_pg"].as_array().unwrap() {
            let (p, g) = (pg[0].as_u64().unwrap(), pg[1].as_u64().unwrap());
            assert!(
                check_prime_and_generator(&BigUint::from(p), g).is_err(),
                "{p} {g}"
            );
        }
        for pg in v["bad_g_raises"].as_array().unwrap() {
            let (p, g) = (pg[0].as_u64().unwrap(), pg[1].as_u64().unwrap());
            assert_eq!(
                check_prime_and_generator(&BigUint::from(p), g),
                Err(DhError::BadGenerator(g))
            );
        }
    }

    #[test]
    fn known_prime_and_ranges() {
        let p = known_prime();
        assert_eq!(check_dh_params(p, 3), Ok(()));
        assert_eq!(
            check_dh_params(&BigUint::from(23u32), 2),
            Err(DhError::BadPrimeSize(5))
        );
        assert!(check_dh_value(&BigUint::from(5u32), p).is_err());
        assert!(check_dh_value(&(p - 2u32), p).is_err());
        assert!(check_dh_value(&(BigUint::one() << 2000), p).is_ok());
        // A 2048-bit non-prime is refused (and g=4 passes the residue rule, so primality decides).
        let not_prime = p + 2u32;
        assert_eq!(check_dh_params(&not_prime, 4), Err(DhError::NotSafePrime));
    }
}
