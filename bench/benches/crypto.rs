//! AES-256-IGE (fleetgram vs grammers-crypto 0.11 vs ferogram-crypto 0.6.6, same run) and the
//! CPU time of each side of the auth-key handshake (no I/O).

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fleetgram_protocol::crypto::rsa::RsaPrivateKey;
use fleetgram_protocol::crypto::{decrypt_ige, encrypt_ige};
use fleetgram_protocol::handshake::{self, server, Params};

fn ige(c: &mut Criterion) {
    let key = [7u8; 32];
    let iv = [9u8; 32];
    for (label, size) in [("1 MiB", 1 << 20), ("1 KiB", 1024)] {
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        for dir in ["encrypt", "decrypt"] {
            let mut g = c.benchmark_group(format!("aes-256-ige {dir} {label}"));
            g.throughput(Throughput::Bytes(size as u64));
            let mut buf = data.clone();
            g.bench_function("fleetgram", |b| {
                b.iter(|| {
                    if dir == "encrypt" {
                        encrypt_ige(black_box(&mut buf), &key, &iv).unwrap()
                    } else {
                        decrypt_ige(black_box(&mut buf), &key, &iv).unwrap()
                    }
                })
            });
            g.bench_function("grammers-crypto 0.11", |b| {
                b.iter(|| {
                    if dir == "encrypt" {
                        grammers_crypto::aes::ige_encrypt(black_box(&mut buf), &key, &iv)
                    } else {
                        grammers_crypto::aes::ige_decrypt(black_box(&mut buf), &key, &iv)
                    }
                })
            });
            g.bench_function("ferogram-crypto 0.6.6", |b| {
                b.iter(|| {
                    if dir == "encrypt" {
                        ferogram_crypto::aes::ige_encrypt(black_box(&mut buf), &key, &iv)
                    } else {
                        ferogram_crypto::aes::ige_decrypt(black_box(&mut buf), &key, &iv)
                    }
                })
            });
            g.finish();
        }
    }
}

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
}

fn handshake_cpu(c: &mut Criterion) {
    let mut rng = Rng(42);
    let keys = server::ServerKeys::new(RsaPrivateKey::generate(&mut |b: &mut [u8]| {
        b.copy_from_slice(&rng.bytes(b.len()))
    }));
    let public = vec![keys.rsa.public().clone()];
    let params = Params {
        dc: Some(2),
        temp_expires_in: None,
    };
    // One recorded exchange with fixed randomness; each side is then replayed alone.
    let r1: [u8; 16] = rng.bytes(16).try_into().unwrap();
    let (rs1, r2, rs2, r3) = (
        rng.bytes(24),
        rng.bytes(256),
        rng.bytes(272),
        rng.bytes(272),
    );
    let (m1, c1) = handshake::step1(&r1);
    let (a1, s1) = server::step1(&keys, &m1, &rs1).unwrap();
    let (m2, c2) = handshake::step2(c1, &a1, &public, params, &r2).unwrap();
    let (a2, s2) = server::step2(&keys, s1, &m2, &rs2, 1_700_000_000).unwrap();
    let (m3, c3) = handshake::step3(c2, &a2, &r3, 1_700_000_000).unwrap();
    let (a3, _) = server::step3(&keys, s2, &m3).unwrap();
    assert!(matches!(
        handshake::finish(c3, &a3).unwrap(),
        handshake::Outcome::Done(_)
    ));

    let mut g = c.benchmark_group("handshake cpu");
    g.sample_size(20);
    g.bench_function("client (all steps)", |b| {
        b.iter(|| {
            let (_, c1) = handshake::step1(&r1);
            let (_, c2) = handshake::step2(c1, &a1, &public, params, &r2).unwrap();
            let (_, c3) = handshake::step3(c2, &a2, &r3, 1_700_000_000).unwrap();
            handshake::finish(c3, &a3).unwrap()
        })
    });
    g.bench_function("server (all steps)", |b| {
        b.iter_batched(
            || (),
            |_| {
                let (_, s1) = server::step1(&keys, &m1, &rs1).unwrap();
                let (_, s2) = server::step2(&keys, s1, &m2, &rs2, 1_700_000_000).unwrap();
                server::step3(&keys, s2, &m3).unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, ige, handshake_cpu);
criterion_main!(benches);
