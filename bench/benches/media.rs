//! File transfer through the local DC on loopback: a 100 MiB upload and download (AES-IGE on
//! both ends), sequential parts against parallel ones. The DC runs in a child process.
//!
//! `cargo bench --manifest-path bench/Cargo.toml --bench media [-- MIB]`

use fleetgram_bench::child::{self, control_call, dc_child};
use fleetgram_engine::media::{self, Transfer};
use fleetgram_engine::messages::InputMessage;
use fleetgram_engine::store::MemoryStore;
use fleetgram_engine::{Client, Config};
use fleetgram_protocol::crypto::rsa::RsaPublicKey;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    if std::env::args().any(|a| a == "--dc-child") {
        return dc_child();
    }
    let mib: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let (mut child, info) = child::spawn();
    let url = info["control"].as_str().unwrap().to_string();
    let dcs = info["dcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let addr = format!("{}:{}", d["host"].as_str().unwrap(), d["port"]);
            (d["id"].as_i64().unwrap() as i32, addr.parse().unwrap())
        })
        .collect();
    let mut cfg = Config::with_dcs(1, "bench", dcs, 1);
    cfg.extra_rsa_keys =
        vec![RsaPublicKey::from_pem(info["rsa"]["pem"].as_str().unwrap()).unwrap()];
    cfg.request_timeout = Duration::from_secs(120);
    let phone = "+15550077001";
    control_call(
        &url,
        &serde_json::json!({"op": "create_user", "phone": phone, "first_name": "Media"}),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let c = Client::new(cfg, Arc::new(MemoryStore::new()), "media").unwrap();
        let token = c.request_login_code(phone).await.unwrap();
        c.sign_in(&token, "12345").await.unwrap();
        let data: Vec<u8> = (0..mib * 1024 * 1024)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
            .collect();
        let mb = data.len() as f64 / 1e6;
        println!("file: {mib} MiB ({mb:.1} MB)");
        for parallel in [1usize, 4, 8, 16] {
            let t = Transfer::default().parallel(parallel);
            let t0 = Instant::now();
            let file = c.upload_with(&data, "bench.bin", &t).await.unwrap();
            let up = t0.elapsed();
            let sent = c
                .send_message(
                    "me",
                    InputMessage::text("").media(media::Document::new(file, "application/octet-stream").into()),
                )
                .await
                .unwrap();
            let f = media::file_of(&sent.raw).unwrap();
            let t0 = Instant::now();
            let got = c.download_with(&f, &t).await.unwrap();
            let down = t0.elapsed();
            assert!(got == data, "the file came back changed");
            println!(
                "parallel {parallel:>2}: upload {:>6.1} MB/s ({:.2} s), download {:>6.1} MB/s ({:.2} s)",
                mb / up.as_secs_f64(),
                up.as_secs_f64(),
                mb / down.as_secs_f64(),
                down.as_secs_f64()
            );
            sent.delete().await.unwrap();
        }
    });
    drop(child.stdin.take());
    let _ = child.wait();
}
