//! TL decode/encode of a `messages.messages` payload: fleetgram's generated types, its dynamic
//! codec, grammers-tl-types 0.11 and ferogram-tl-types 0.6.6, in the same run.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use fleetgram_tl::{Deserializable as _, Serializable as _};

fn bench(c: &mut Criterion) {
    let bytes = fleetgram_bench::messages_payload();
    println!("payload: {} bytes", bytes.len());

    // Same logical object in every library: each decodes the same bytes and must re-encode them exactly.
    let ours = fleetgram_tl::enums::messages::Messages::from_bytes(&bytes).unwrap();
    assert_eq!(ours.to_bytes(), bytes);
    let gram = <grammers_tl_types::enums::messages::Messages as grammers_tl_types::Deserializable>::from_bytes(&bytes).unwrap();
    assert_eq!(grammers_tl_types::Serializable::to_bytes(&gram), bytes);
    let fero = <ferogram_tl_types::enums::messages::Messages as ferogram_tl_types::Deserializable>::from_bytes(&bytes).unwrap();
    assert_eq!(ferogram_tl_types::Serializable::to_bytes(&fero), bytes);
    let schema = fleetgram_tl::dynamic::schema();
    let dynamic = schema.decode(&bytes).unwrap();
    assert_eq!(schema.encode(&dynamic).unwrap(), bytes);

    let mut g = c.benchmark_group("decode messages.messages");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("fleetgram", |b| {
        b.iter(|| fleetgram_tl::enums::messages::Messages::from_bytes(black_box(&bytes)).unwrap())
    });
    g.bench_function("grammers-tl-types 0.11", |b| {
        b.iter(|| {
            <grammers_tl_types::enums::messages::Messages as grammers_tl_types::Deserializable>::from_bytes(black_box(&bytes)).unwrap()
        })
    });
    g.bench_function("ferogram-tl-types 0.6.6", |b| {
        b.iter(|| {
            <ferogram_tl_types::enums::messages::Messages as ferogram_tl_types::Deserializable>::from_bytes(black_box(&bytes)).unwrap()
        })
    });
    g.bench_function("fleetgram dynamic", |b| {
        b.iter(|| schema.decode(black_box(&bytes)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("encode messages.messages");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("fleetgram", |b| b.iter(|| black_box(&ours).to_bytes()));
    g.bench_function("grammers-tl-types 0.11", |b| {
        b.iter(|| grammers_tl_types::Serializable::to_bytes(black_box(&gram)))
    });
    g.bench_function("ferogram-tl-types 0.6.6", |b| {
        b.iter(|| ferogram_tl_types::Serializable::to_bytes(black_box(&fero)))
    });
    g.bench_function("fleetgram dynamic", |b| {
        b.iter(|| schema.encode(black_box(&dynamic)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
