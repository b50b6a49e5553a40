//! Factorization of the handshake's `pq` (a product of two primes below 2^32) with
//! Pollard's rho in Brent's variant.

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((a as u128 * b as u128) % m as u128) as u64
}

fn pow_mod(mut b: u64, mut e: u64, m: u64) -> u64 {
    let mut r = 1 % m;
    b %= m;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod(r, b, m);
        }
        b = mul_mod(b, b, m);
        e >>= 1;
    }
    r
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Deterministic Miller-Rabin for 64-bit integers.
pub fn is_prime_u64(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    for p in BASES {
        if n % p == 0 {
            return n == p;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'outer: for a in BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'outer;
            }
        }
        return false;
    }
    true
}

fn brent(n: u64, c: u64, y0: u64) -> Option<u64> {
    let f = |x: u64| (mul_mod(x, x, n) + c) % n;
    let (mut y, m) = (y0, 128u64);
    let (mut g, mut r, mut q) = (1u64, 1u64, 1u64);
    let (mut x, mut ys) = (0u64, 0u64);
    while g == 1 {
        x = y;
        for _ in 0..r {
            y = f(y);
        }
        let mut k = 0;
        while k < r && g == 1 {
            ys = y;
            for _ in 0..m.min(r - k) {
                y = f(y);
                q = mul_mod(q, x.abs_diff(y), n);
            }
            g = gcd(q, n);
            k += m;
        }
        r *= 2;
        if r > 1 << 26 {
            return None;
        }
    }
    if g == n {
        loop {
            ys = f(ys);
            g = gcd(x.abs_diff(ys), n);
            if g > 1 {
                break;
            }
        }
    }
    (g != n).then_some(g)
}

/// Splits `pq` into `(p, q)` with `p <= q`, or `None` when it is below 4 or prime.
pub fn factorize(pq: u64) -> Option<(u64, u64)> {
    if pq < 4 || is_prime_u64(pq) {
        return None;
    }
    if pq % 2 == 0 {
        return Some((2, pq / 2));
    }
    for c in 1..64u64 {
        if let Some(d) = brent(pq, c, 2 + c) {
            let (a, b) = (d, pq / d);
            return Some((a.min(b), a.max(b)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::vectors;

    #[test]
    fn known_answers() {
        let v = vectors("grammers_vectors.json");
        for t in v["factorize"].as_array().unwrap() {
            let pq = t["pq"].as_u64().unwrap();
            assert_eq!(
                factorize(pq),
                Some((t["p"].as_u64().unwrap(), t["q"].as_u64().unwrap()))
            );
        }
        // The sample of core.telegram.org/mtproto/samples-auth_key.
        assert_eq!(
            factorize(0x17ED48941A08F981),
            Some((0x494C553B, 0x53911073))
        );
        assert_eq!(factorize(7), None);
        assert_eq!(factorize(1), None);
        assert_eq!(factorize(10), Some((2, 5)));
    }
}
