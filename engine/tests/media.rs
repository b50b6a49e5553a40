//! Files against the local DC: a 100 MiB upload and download with the hash checked,
//! parallel parts and progress, media kinds with their attributes and thumbnails, files on
//! another DC, and expired file references refreshed on the fly.

mod support;

use fleetgram_engine::media::{self, Document, Transfer};
use fleetgram_engine::messages::InputMessage;
use fleetgram_tl::enums;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use support::*;

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| {
            ((i as u32) ^ seed)
                .wrapping_mul(2_654_435_761)
                .to_le_bytes()[3]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_file_goes_up_and_down_with_its_hash_intact() {
    let dc = start().await;
    let c = user(&dc, "+15550020001", None).await;
    let data = pattern(100 * 1024 * 1024, 7);
    let want = Sha256::digest(&data);
    let calls = Arc::new(AtomicU64::new(0));
    let last = Arc::new(AtomicU64::new(0));
    let (n, l) = (calls.clone(), last.clone());
    let t = Transfer::default()
        .parallel(8)
        .progress(move |done, total| {
            assert_eq!(total, 100 * 1024 * 1024);
            n.fetch_add(1, Ordering::Relaxed);
            l.fetch_max(done, Ordering::Relaxed);
        });
    let file = c.upload_with(&data, "big.bin", &t).await.unwrap();
    assert!(
        matches!(file, enums::InputFile::Big(_)),
        "above 10 MiB: a big file"
    );
    assert_eq!(
        calls.load(Ordering::Relaxed),
        200,
        "one call per 512 KiB part"
    );
    assert_eq!(last.load(Ordering::Relaxed), 100 * 1024 * 1024);
    let sent = c
        .send_message(
            "me",
            InputMessage::text("big").media(
                Document::new(file, "application/octet-stream")
                    .name("big.bin")
                    .into(),
            ),
        )
        .await
        .unwrap();
    let f = media::file_of(&sent.raw).unwrap();
    assert_eq!(
        (f.size, f.name.as_deref()),
        (100 * 1024 * 1024, Some("big.bin"))
    );
    drop(data);
    let got = c
        .download_with(&f, &Transfer::default().parallel(8))
        .await
        .unwrap();
    assert_eq!(got.len(), 100 * 1024 * 1024);
    assert_eq!(
        Sha256::digest(&got),
        want,
        "the downloaded file has the uploaded hash"
    );

    // To a path, with progress, and a small file from a path.
    let dir = std::env::temp_dir().join(format!("fleetgram-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("copy.bin");
    let seen = Arc::new(AtomicU64::new(0));
    let s2 = seen.clone();
    let size = c
        .download_to_path(
            &f,
            &path,
            &Transfer::default().progress(move |d, _| {
                s2.fetch_max(d, Ordering::Relaxed);
            }),
        )
        .await
        .unwrap();
    assert_eq!(size, 100 * 1024 * 1024);
    assert_eq!(seen.load(Ordering::Relaxed), size);
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(Sha256::digest(&on_disk), want);
    drop(on_disk);
    let small = dir.join("note.txt");
    std::fs::write(&small, b"a small file from disk").unwrap();
    let file = c.upload_path(&small, &Transfer::default()).await.unwrap();
    assert!(matches!(&file, enums::InputFile::InputFile(x) if x.name == "note.txt"));
    let sent = c
        .send_message(
            "me",
            InputMessage::text("").media(Document::new(file, "text/plain").into()),
        )
        .await
        .unwrap();
    let f = media::file_of(&sent.raw).unwrap();
    assert_eq!(
        c.download_file(&f).await.unwrap(),
        b"a small file from disk"
    );
    let _ = std::fs::remove_dir_all(&dir);
    dc.shutdown().await;
}

#[tokio::test]
async fn media_kinds_keep_their_attributes_and_thumbnails() {
    let dc = start().await;
    let c = user(&dc, "+15550020002", None).await;
    let send = |m: enums::InputMedia| {
        let c = c.clone();
        async move {
            c.send_message("me", InputMessage::text("caption").media(m))
                .await
                .unwrap()
        }
    };
    // A photo.
    let jpeg = pattern(40_000, 1);
    let f = c.upload_bytes(&jpeg, "p.jpg").await.unwrap();
    let m = send(media::photo(f)).await;
    assert!(matches!(m.media(), Some(enums::MessageMedia::Photo(_))));
    assert_eq!(m.text(), "caption");
    assert_eq!(
        c.download_file(&media::file_of(&m.raw).unwrap())
            .await
            .unwrap(),
        jpeg
    );

    // Audio with title and performer, a voice note, a video note, a sticker.
    let doc = |mime: &'static str| {
        let c = c.clone();
        async move { Document::new(c.upload_bytes(&pattern(5_000, 2), "x").await.unwrap(), mime) }
    };
    let kinds = [
        doc("audio/mpeg")
            .await
            .audio(215, Some("Song"), Some("Band")),
        doc("audio/ogg").await.voice(3),
        doc("video/mp4").await.video(2.5, 240, 240, true),
        doc("image/webp").await.sticker("🙂"),
    ];
    let mut seen = Vec::new();
    for k in kinds {
        let m = send(k.into()).await;
        let Some(enums::MessageMedia::Document(d)) = m.media() else {
            panic!("{m:?}")
        };
        let Some(enums::Document::Document(doc)) = &d.document else {
            panic!()
        };
        for a in &doc.attributes {
            match a {
                enums::DocumentAttribute::Audio(x) if !x.voice => {
                    assert_eq!(
                        (x.duration, x.title.as_deref(), x.performer.as_deref()),
                        (215, Some("Song"), Some("Band"))
                    );
                    seen.push("audio");
                }
                enums::DocumentAttribute::Audio(x) => {
                    assert!(d.voice && x.duration == 3);
                    seen.push("voice");
                }
                enums::DocumentAttribute::Video(x) => {
                    assert!(x.round_message && d.video && (x.w, x.h) == (240, 240));
                    seen.push("video");
                }
                enums::DocumentAttribute::Sticker(x) => {
                    assert_eq!(x.alt, "🙂");
                    seen.push("sticker");
                }
                _ => {}
            }
        }
    }
    assert_eq!(seen, ["audio", "voice", "video", "sticker"]);

    // A document with a thumbnail: both download.
    let body = pattern(300_000, 3);
    let thumb = pattern(6_000, 4);
    let f = c.upload_bytes(&body, "doc.pdf").await.unwrap();
    let t = c.upload_bytes(&thumb, "thumb.jpg").await.unwrap();
    let m = send(Document::new(f, "application/pdf").thumb(t).into()).await;
    let tf = media::thumb_of(&m.raw).expect("a thumbnail");
    assert_eq!(tf.size, 6_000);
    assert_eq!(c.download_file(&tf).await.unwrap(), thumb);
    assert_eq!(
        c.download_file(&media::file_of(&m.raw).unwrap())
            .await
            .unwrap(),
        body
    );
    dc.shutdown().await;
}

#[tokio::test]
async fn files_come_from_their_dc_and_expired_references_are_refreshed() {
    let dc = start_with(fleetgram_localdc::Config {
        file_reference_ttl: std::time::Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    // The uploader lives on DC 2; the reader on DC 1 fetches from DC 2.
    dc.control().create_user("+15550020003", "Up", "", 2);
    let up = user(&dc, "+15550020003", Some("uploader_dc2")).await;
    let reader = user(&dc, "+15550020004", None).await;
    assert_eq!(up.home_dc(), 2);
    let data = pattern(3 * 1024 * 1024 + 5, 9);
    let mut updates = reader.updates().await.unwrap();
    let mut up_updates = up.updates().await.unwrap();
    reader.send_message("@uploader_dc2", "hi").await.unwrap();
    let hi =
        fleetgram_engine::messages::Message::new(up.clone(), next_incoming(&mut up_updates).await);
    let f = up.upload_bytes(&data, "far.bin").await.unwrap();
    hi.reply(InputMessage::text("file").media(Document::new(f, "application/octet-stream").into()))
        .await
        .unwrap();
    let m = next_incoming(&mut updates).await;
    let file = media::file_of(&m).unwrap();
    assert_eq!(file.dc, 2);
    // Let the reference expire: the download refreshes it through the message.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let got = reader.download_file(&file).await.unwrap();
    assert!(got == data, "the file from DC 2 came back changed");
    dc.shutdown().await;
}
