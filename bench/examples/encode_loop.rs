use fleetgram_tl::{Deserializable as _, Serializable as _};
fn main() {
    let bytes = fleetgram_bench::messages_payload();
    let ours = fleetgram_tl::enums::messages::Messages::from_bytes(&bytes).unwrap();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let t = std::time::Instant::now();
    let mut n = 0usize;
    for _ in 0..20000 {
        if mode == "dyn" {
            let v = fleetgram_tl::dynamic::schema()
                .decode(std::hint::black_box(&bytes))
                .unwrap();
            n += v.fields.len();
        } else if mode == "decode" {
            let v =
                fleetgram_tl::enums::messages::Messages::from_bytes(std::hint::black_box(&bytes))
                    .unwrap();
            n += std::hint::black_box(&v).constructor_id() as usize;
        } else {
            n += std::hint::black_box(&ours).to_bytes().len();
        }
    }
    println!("{mode} {:?} per iter ({n})", t.elapsed() / 20000);
}
