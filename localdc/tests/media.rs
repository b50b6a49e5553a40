//! Files through the local DC: small and big uploads with the part rules, sendMedia and
//! uploadMedia, getFile with its offset/limit rules, FILE_MIGRATE for a file on another DC,
//! and file references that expire and are refreshed by fetching the message again.

mod support;

use fleetgram_localdc::{Config, LocalDc};
use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use fleetgram_tl::{enums, functions, types};
use rand::RngCore;
use support::accounts::{login, next_update};
use support::Client;

async fn start() -> (LocalDc, RsaPublicKey) {
    let key = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    let dc = LocalDc::start(Config {
        rsa_key: Some(key),
        login_code: Some("12345".into()),
        file_reference_ttl: std::time::Duration::from_secs(2),
        ..Config::default()
    })
    .await
    .unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    (dc, key)
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn upload(c: &mut Client, id: i64, bytes: &[u8], part: usize, big: bool) {
    let total = bytes.len().div_ceil(part) as i32;
    for (i, chunk) in bytes.chunks(part).enumerate() {
        if big {
            c.invoke(&functions::upload::SaveBigFilePart {
                file_id: id,
                file_part: i as i32,
                file_total_parts: total,
                bytes: chunk.to_vec(),
            })
            .await
            .unwrap();
        } else {
            c.invoke(&functions::upload::SaveFilePart {
                file_id: id,
                file_part: i as i32,
                bytes: chunk.to_vec(),
            })
            .await
            .unwrap();
        }
    }
}

fn send_media(
    peer: enums::InputPeer,
    media: enums::InputMedia,
    caption: &str,
) -> functions::messages::SendMedia {
    functions::messages::SendMedia {
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer,
        reply_to: None,
        media,
        message: caption.into(),
        random_id: rand::random(),
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
    }
}

fn document_media(file: enums::InputFile, name: &str) -> enums::InputMedia {
    types::InputMediaUploadedDocument {
        nosound_video: false,
        force_file: true,
        spoiler: false,
        file,
        thumb: None,
        mime_type: "application/octet-stream".into(),
        attributes: vec![types::DocumentAttributeFilename {
            file_name: name.into(),
        }
        .into()],
        stickers: None,
        video_cover: None,
        video_timestamp: None,
        ttl_seconds: None,
    }
    .into()
}

fn document_of(m: &enums::Message) -> types::Document {
    let enums::Message::Message(m) = m else {
        panic!("{m:?}")
    };
    let Some(enums::MessageMedia::Document(d)) = &m.media else {
        panic!("{:?}", m.media)
    };
    let Some(enums::Document::Document(d)) = &d.document else {
        panic!()
    };
    (**d).clone()
}

fn location(d: &types::Document) -> enums::InputFileLocation {
    types::InputDocumentFileLocation {
        id: d.id,
        access_hash: d.access_hash,
        file_reference: d.file_reference.clone(),
        thumb_size: String::new(),
    }
    .into()
}

async fn download(
    c: &mut Client,
    loc: &enums::InputFileLocation,
    size: usize,
    chunk: i32,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    let mut offset = 0i64;
    loop {
        let enums::upload::File::File(f) = c
            .invoke(&functions::upload::GetFile {
                precise: false,
                cdn_supported: false,
                location: loc.clone(),
                offset,
                limit: chunk,
            })
            .await
            .unwrap()
        else {
            panic!()
        };
        let n = f.bytes.len();
        out.extend_from_slice(&f.bytes);
        if n < chunk as usize {
            break;
        }
        offset += i64::from(chunk);
    }
    out
}

#[tokio::test]
async fn uploads_downloads_rules_migration_and_file_references() {
    let (dc, key) = start().await;
    let control = dc.control();
    let mut a = login(&dc, &control, &key, "15558000001").await;
    let mut b = login(&dc, &control, &key, "15558000002").await;
    let b_id = control.user_by_phone("15558000002").unwrap();
    let enums::contacts::ImportedContacts::ImportedContacts(imp) = a
        .invoke(&functions::contacts::ImportContacts {
            contacts: vec![types::InputPhoneContact {
                client_id: 1,
                phone: "+15558000002".into(),
                first_name: "B".into(),
                last_name: String::new(),
                note: None,
            }
            .into()],
        })
        .await
        .unwrap();
    let enums::User::User(bu) = &imp.users[0] else {
        panic!()
    };
    assert_eq!(bu.id, b_id);
    let to_b: enums::InputPeer = types::InputPeerUser {
        user_id: bu.id,
        access_hash: bu.access_hash.unwrap(),
    }
    .into();

    // A small file (300 KiB in 64 KiB parts) sent as a document: B gets it and downloads it.
    let small = data(300 * 1024 + 123, 7);
    upload(&mut a, 11, &small, 64 * 1024, false).await;
    let file: enums::InputFile = types::InputFile {
        id: 11,
        parts: small.len().div_ceil(64 * 1024) as i32,
        name: "notes.bin".into(),
        md5_checksum: String::new(),
    }
    .into();
    a.invoke(&send_media(
        to_b.clone(),
        document_media(file, "notes.bin"),
        "here",
    ))
    .await
    .unwrap();
    let pushed = loop {
        if let enums::Updates::Updates(u) = next_update(&mut b).await {
            if let Some(enums::Update::NewMessage(m)) = u.updates.first() {
                break m.message.clone();
            }
        }
    };
    let doc = document_of(&pushed);
    assert_eq!(doc.size, small.len() as i64);
    assert!(doc
        .attributes
        .iter()
        .any(|a| matches!(a, enums::DocumentAttribute::Filename(f) if f.file_name == "notes.bin")));
    assert_eq!(
        download(&mut b, &location(&doc), small.len(), 64 * 1024).await,
        small
    );

    // A big file (11 MiB in 512 KiB parts) to Saved Messages, read back in 1 MiB chunks.
    let big = data(11 * 1024 * 1024 + 5, 3);
    upload(&mut a, 12, &big, 512 * 1024, true).await;
    let file: enums::InputFile = types::InputFileBig {
        id: 12,
        parts: big.len().div_ceil(512 * 1024) as i32,
        name: "big.bin".into(),
    }
    .into();
    let media = a
        .invoke(&functions::messages::UploadMedia {
            business_connection_id: None,
            peer: enums::InputPeer::InputPeerSelf,
            media: document_media(file, "big.bin"),
        })
        .await
        .unwrap();
    let enums::MessageMedia::Document(md) = &media else {
        panic!()
    };
    let Some(enums::Document::Document(bigdoc)) = &md.document else {
        panic!()
    };
    assert_eq!(
        download(&mut a, &location(bigdoc), big.len(), 1024 * 1024).await,
        big
    );
    // The uploaded document is sent by reference.
    a.invoke(&send_media(
        enums::InputPeer::InputPeerSelf,
        types::InputMediaDocument {
            spoiler: false,
            id: types::InputDocument {
                id: bigdoc.id,
                access_hash: bigdoc.access_hash,
                file_reference: bigdoc.file_reference.clone(),
            }
            .into(),
            video_cover: None,
            video_timestamp: None,
            ttl_seconds: None,
            query: None,
        }
        .into(),
        "",
    ))
    .await
    .unwrap();

    // Part and request rules.
    let too_big = a
        .invoke(&functions::upload::SaveFilePart {
            file_id: 13,
            file_part: 0,
            bytes: vec![0; 600 * 1024],
        })
        .await
        .unwrap_err();
    assert_eq!(too_big.name, "FILE_PART_TOO_BIG");
    let bad_total = a
        .invoke(&functions::upload::SaveBigFilePart {
            file_id: 14,
            file_part: 0,
            file_total_parts: 5000,
            bytes: vec![0; 1024],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_total.name, "FILE_PARTS_INVALID");
    // Parts 0 and 2 of 3: part 1 is missing.
    for p in [0, 2] {
        a.invoke(&functions::upload::SaveFilePart {
            file_id: 15,
            file_part: p,
            bytes: vec![1; 1024],
        })
        .await
        .unwrap();
    }
    let missing = a
        .invoke(&send_media(
            enums::InputPeer::InputPeerSelf,
            document_media(
                types::InputFile {
                    id: 15,
                    parts: 3,
                    name: "x".into(),
                    md5_checksum: String::new(),
                }
                .into(),
                "x",
            ),
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.name, "FILE_PART_1_MISSING");
    let get = |offset: i64, limit: i32| functions::upload::GetFile {
        precise: false,
        cdn_supported: false,
        location: location(bigdoc),
        offset,
        limit,
    };
    assert_eq!(
        a.invoke(&get(100, 4096)).await.unwrap_err().name,
        "OFFSET_INVALID"
    );
    assert_eq!(
        a.invoke(&get(0, 3000)).await.unwrap_err().name,
        "LIMIT_INVALID"
    );
    assert_eq!(
        a.invoke(&get(1024 * 1024 - 4096, 8192))
            .await
            .unwrap_err()
            .name,
        "OFFSET_INVALID",
        "a request may not cross a 1 MiB boundary"
    );

    // References expire (2 s here); fetching the message again gives a fresh one.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let expired = b
        .invoke(&functions::upload::GetFile {
            precise: false,
            cdn_supported: false,
            location: location(&doc),
            offset: 0,
            limit: 4096,
        })
        .await
        .unwrap_err();
    assert_eq!(expired.name, "FILE_REFERENCE_EXPIRED");
    let enums::Message::Message(pm) = &pushed else {
        panic!()
    };
    let again = b
        .invoke(&functions::messages::GetMessages {
            id: vec![types::InputMessageID { id: pm.id }.into()],
        })
        .await
        .unwrap();
    let msgs = match again {
        enums::messages::Messages::Messages(m) => m.messages,
        enums::messages::Messages::Slice(m) => m.messages,
        other => panic!("{other:?}"),
    };
    let fresh = document_of(&msgs[0]);
    assert_ne!(fresh.file_reference, doc.file_reference);
    assert_eq!(
        download(&mut b, &location(&fresh), small.len(), 64 * 1024).await,
        small
    );

    // A file kept on DC 2: asking DC 1 for it answers FILE_MIGRATE_2.
    control.create_user("15558000003", "C", "", 2);
    let mut c = support::accounts::login_on(&dc, &control, &key, "15558000003", 2).await;
    upload(&mut c, 21, &small[..5000], 4096, false).await;
    let m = c
        .invoke(&functions::messages::UploadMedia {
            business_connection_id: None,
            peer: enums::InputPeer::InputPeerSelf,
            media: document_media(
                types::InputFile {
                    id: 21,
                    parts: 2,
                    name: "c.bin".into(),
                    md5_checksum: String::new(),
                }
                .into(),
                "c.bin",
            ),
        })
        .await
        .unwrap();
    let enums::MessageMedia::Document(cd) = &m else {
        panic!()
    };
    let Some(enums::Document::Document(cdoc)) = &cd.document else {
        panic!()
    };
    assert_eq!(cdoc.dc_id, 2);
    let migrate = a
        .invoke(&functions::upload::GetFile {
            precise: false,
            cdn_supported: false,
            location: location(cdoc),
            offset: 0,
            limit: 4096,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (migrate.code, migrate.name.as_str(), migrate.value),
        (303, "FILE_MIGRATE", Some(2))
    );
    drop(dc);
}
