use super::detect::{detect, Detected};
use super::mtproxy::Secret;
use super::obfuscated::{client_header, client_header_from, server_accept};
use super::*;
use crate::test_util::{hex, vectors};

const ALL: [Kind; 4] = [
    Kind::Abridged,
    Kind::Intermediate,
    Kind::PaddedIntermediate,
    Kind::Full,
];

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7) as u8).collect()
}

#[test]
fn every_framing_round_trips_byte_by_byte() {
    for kind in ALL {
        let mut client = Framer::new(kind, Role::Client);
        let mut server = Framer::new(kind, Role::Server);
        let mut wire = Vec::new();
        let sizes = [4usize, 8, 500, 127 * 4, 128 * 4, 4096];
        for (i, n) in sizes.iter().enumerate() {
            client.encode(&payload(*n), i % 2 == 0, &[1, 2, 3][..i % 4], &mut wire);
        }
        // Feed the server one byte at a time: incomplete input never errors or consumes.
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for b in wire {
            buf.push(b);
            while let Some(d) = server.decode(&buf).unwrap() {
                match d.frame {
                    Frame::Payload { range, quick_ack } => {
                        got.push((buf[range].to_vec(), quick_ack))
                    }
                    other => panic!("{kind:?}: {other:?}"),
                }
                buf.drain(..d.consumed);
            }
        }
        assert!(buf.is_empty());
        assert_eq!(got.len(), sizes.len(), "{kind:?}");
        for (i, (p, qa)) in got.iter().enumerate() {
            assert_eq!(&p[..sizes[i]], &payload(sizes[i])[..], "{kind:?} #{i}");
            if kind != Kind::Full {
                assert_eq!(*qa, i % 2 == 0, "{kind:?} quick ack #{i}");
            }
        }
    }
}

#[test]
fn quick_acks_and_errors_reach_the_client() {
    for kind in ALL {
        let mut server = Framer::new(kind, Role::Server);
        let mut client = Framer::new(kind, Role::Client);
        let mut wire = Vec::new();
        server.encode_quick_ack(0x8123_4567, &[9, 9], &mut wire);
        server.encode_error(ErrorCode::AuthKeyNotFound, &mut wire);
        server.encode(&payload(16), false, &[], &mut wire);
        let mut frames = Vec::new();
        let mut buf = &wire[..];
        while let Some(d) = client.decode(buf).unwrap() {
            frames.push(d.frame);
            buf = &buf[d.consumed..];
        }
        if kind == Kind::Full {
            frames.insert(0, Frame::QuickAck(0x8123_4567)); // full has no quick acks
        }
        assert_eq!(frames[0], Frame::QuickAck(0x8123_4567), "{kind:?}");
        assert_eq!(
            frames[1],
            Frame::Error(ErrorCode::AuthKeyNotFound),
            "{kind:?}"
        );
        assert_eq!(ErrorCode::from_code(-429), ErrorCode::Flood);
        assert_eq!(ErrorCode::from_code(-444).code(), -444);
        assert!(matches!(frames[2], Frame::Payload { .. }), "{kind:?}");
    }
}

#[test]
fn full_transport_vectors_and_checks() {
    let v = vectors("grammers_vectors.json");
    let t = &v["transport_full"];
    let mut f = Framer::new(Kind::Full, Role::Client);
    let mut out = Vec::new();
    f.encode(&[], false, &[], &mut out);
    assert_eq!(out, hex(t["empty_seq0"].as_str().unwrap()));
    let p: Vec<u8> = (0..128u8).collect();
    let mut f = Framer::new(Kind::Full, Role::Client);
    let mut out = Vec::new();
    f.encode(&p, false, &[], &mut out);
    assert_eq!(
        out[out.len() - 4..].to_vec(),
        hex(t["payload_0_127_seq0_crc32"].as_str().unwrap())
    );
    let mut out = Vec::new();
    f.encode(&p, false, &[], &mut out);
    assert_eq!(
        out[out.len() - 4..].to_vec(),
        hex(t["payload_0_127_seq1_crc32"].as_str().unwrap())
    );
    // Corruption is detected.
    let mut server = Framer::new(Kind::Full, Role::Server);
    let mut bad = out.clone();
    bad[10] ^= 1;
    assert!(matches!(
        server.decode(&bad),
        Err(TransportError::BadCrc { .. })
    ));
    // Seq 1 first: wrong sequence.
    let mut server = Framer::new(Kind::Full, Role::Server);
    assert!(matches!(
        server.decode(&out),
        Err(TransportError::BadSeq {
            expected: 0,
            got: 1
        })
    ));
}

#[test]
fn oversized_and_invalid_frames_are_errors() {
    let mut s = Framer::new(Kind::Intermediate, Role::Server).with_max_frame(1024);
    assert_eq!(
        s.decode(&[0x00, 0x10, 0, 0]),
        Err(TransportError::TooLarge {
            len: 4096,
            max: 1024
        })
    );
    assert_eq!(s.decode(&[3, 0, 0, 0]), Err(TransportError::BadLength(3)));
    let mut s = Framer::new(Kind::Abridged, Role::Server).with_max_frame(1024);
    assert!(matches!(
        s.decode(&[0x7f, 0xff, 0xff, 0xff]),
        Err(TransportError::TooLarge { .. })
    ));
    assert_eq!(s.decode(&[0]), Err(TransportError::BadLength(0)));
    let mut s = Framer::new(Kind::Full, Role::Server);
    assert_eq!(s.decode(&[5, 0, 0, 0]), Err(TransportError::BadLength(5)));
}

#[test]
fn obfuscated2_mtpylon_vector() {
    let v = vectors("obfuscated2.json");
    let m = &v["mtpylon_vector"]["values_hex"];
    let h = |k: &str| hex(m[k].as_str().unwrap());
    let init: [u8; 64] = h("init_buffer_plain").try_into().unwrap();
    let (header, mut client) = client_header_from(init, None);
    let mut expected = init;
    expected[56..].copy_from_slice(&h("encrypted_init_buffer")[56..]);
    assert_eq!(header, expected);
    let mut msg = h("client_original_msg");
    client.encrypt(&mut msg);
    assert_eq!(msg, h("client_encrypted_msg"));
    // The server side.
    let acc = server_accept(&header, None).unwrap();
    assert_eq!(acc.kind, Kind::Intermediate);
    let mut server = acc.obfuscation;
    server.decrypt(&mut msg);
    assert_eq!(msg, h("client_original_msg"));
    let mut reply = h("server_original_message");
    server.encrypt(&mut reply);
    assert_eq!(reply, h("server_encrypted_msg"));
    client.decrypt(&mut reply);
    assert_eq!(reply, h("server_original_message"));
}

#[test]
fn obfuscated2_telethon_capture() {
    let v = vectors("obfuscated2.json");
    let t = &v["telethon_capture"];
    let h = |k: &str| hex(t[k].as_str().unwrap());
    let header: [u8; 64] = h("init_64_bytes_hex").try_into().unwrap();
    assert_eq!(detect(&header), Detected::Obfuscated);
    let acc = server_accept(&header, None).unwrap();
    assert_eq!(acc.kind, Kind::Abridged);
    let mut obf = acc.obfuscation;
    let mut frame = h("first_frame_ciphertext_hex");
    obf.decrypt(&mut frame);
    assert_eq!(frame, h("first_frame_plaintext_hex"));
    let mut framer = Framer::new(Kind::Abridged, Role::Server);
    let d = framer.decode(&frame).unwrap().unwrap();
    let Frame::Payload { range, .. } = d.frame else {
        panic!()
    };
    assert_eq!(frame[range].to_vec(), h("first_mtproto_message_hex"));
}

#[test]
fn obfuscated_with_secret_round_trips_and_wrong_secret_fails() {
    let secret = [7u8; 16];
    let mut n = 0u8;
    let mut fill = |b: &mut [u8]| {
        for x in b {
            n = n.wrapping_mul(31).wrapping_add(17);
            *x = n;
        }
    };
    let (header, mut client) =
        client_header(Kind::PaddedIntermediate, Some(-2), Some(&secret), &mut fill);
    assert!(obfuscated::is_valid_init(&header));
    let acc = server_accept(&header, Some(&secret)).unwrap();
    assert_eq!((acc.kind, acc.dc), (Kind::PaddedIntermediate, -2));
    let mut server = acc.obfuscation;
    let mut data = b"hello mtproxy".to_vec();
    client.encrypt(&mut data);
    server.decrypt(&mut data);
    assert_eq!(data, b"hello mtproxy");
    assert!(server_accept(&header, Some(&[8u8; 16])).is_err());
}

#[test]
fn detection_of_every_framing() {
    assert_eq!(detect(&[]), Detected::NeedMore);
    assert_eq!(
        detect(&[0xef]),
        Detected::Plain {
            kind: Kind::Abridged,
            consumed: 1
        }
    );
    assert_eq!(
        detect(&[0xee, 0xee, 0xee, 0xee, 1]),
        Detected::Plain {
            kind: Kind::Intermediate,
            consumed: 4
        }
    );
    assert_eq!(
        detect(&[0xdd; 4]),
        Detected::Plain {
            kind: Kind::PaddedIntermediate,
            consumed: 4
        }
    );
    assert_eq!(
        detect(&[0x28, 0, 0, 0, 0, 0, 0, 0]),
        Detected::Plain {
            kind: Kind::Full,
            consumed: 0
        }
    );
    assert_eq!(detect(&[0x16, 0x03, 0x01, 0x02]), Detected::FakeTls);
    assert_eq!(detect(&[1, 2, 3, 4, 5, 6]), Detected::NeedMore);
    assert_eq!(detect(&[1, 2, 3, 4, 5, 6, 7, 8]), Detected::Obfuscated);
}

#[test]
fn mtproxy_secrets() {
    assert_eq!(
        Secret::parse("00112233445566778899aabbccddeeff")
            .unwrap()
            .framing(),
        Kind::Intermediate
    );
    let dd = Secret::parse("dd00112233445566778899aabbccddeeff").unwrap();
    assert_eq!(
        dd,
        Secret::Padded(hex("00112233445566778899aabbccddeeff").try_into().unwrap())
    );
    let ee = Secret::parse("ee00112233445566778899aabbccddeeff6578616d706c652e636f6d").unwrap();
    assert_eq!(
        ee,
        Secret::FakeTls {
            key: hex("00112233445566778899aabbccddeeff").try_into().unwrap(),
            domain: "example.com".into()
        }
    );
    // base64url form of the dd secret
    assert_eq!(Secret::parse("3QARIjNEVWZ3iJmqu8zd7v8").unwrap(), dd);
    assert!(Secret::parse("abcd").is_err());
    // Any 17th byte means padded intermediate (the spec: "whenever an additional byte in the
    // secret is encountered"), with the same key.
    let other = Secret::parse("ff00112233445566778899aabbccddeeff").unwrap();
    assert_eq!(other, dd);
    assert_eq!(other.framing(), Kind::PaddedIntermediate);
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        for kind in ALL {
            for role in [Role::Client, Role::Server] {
                let mut f = Framer::new(kind, role).with_max_frame(4096);
                let mut buf = &bytes[..];
                while let Ok(Some(d)) = f.decode(buf) {
                    proptest::prop_assert!(d.consumed > 0 && d.consumed <= buf.len());
                    buf = &buf[d.consumed..];
                }
            }
        }
        let _ = detect(&bytes);
        if bytes.len() >= 64 {
            let _ = server_accept(&bytes[..64].try_into().unwrap(), None);
        }
    }
}

#[test]
fn mtproxy_dd_and_plain_secret_vectors() {
    let v = vectors("mtproxy_faketls.json");
    for name in ["obfuscated2_dd", "obfuscated2_plain_secret"] {
        let t = &v[name];
        let h = |k: &str| hex(t[k].as_str().unwrap());
        let secret = Secret::parse(t["secret_hex"].as_str().unwrap()).unwrap();
        let init: [u8; 64] = h("init_plain_hex").try_into().unwrap();
        assert_eq!(
            i16::from_le_bytes([init[60], init[61]]) as i64,
            t["dc_id"].as_i64().unwrap(),
            "{name}"
        );
        let (header, mut client) = client_header_from(init, Some(secret.key()));
        assert_eq!(header.to_vec(), h("header_on_wire_hex"), "{name}");
        let acc = server_accept(&header, Some(secret.key())).unwrap();
        assert_eq!(acc.kind, secret.framing(), "{name}");
        assert_eq!(acc.dc as i64, t["dc_id"].as_i64().unwrap(), "{name}");
        if name == "obfuscated2_dd" {
            // The first client frame: padded intermediate with the given padding.
            let mut f = Framer::new(Kind::PaddedIntermediate, Role::Client);
            let mut wire = Vec::new();
            f.encode(
                &h("first_frame_payload_hex"),
                false,
                &h("first_frame_padding_hex"),
                &mut wire,
            );
            assert_eq!(wire, h("first_frame_plain_hex"));
            client.encrypt(&mut wire);
            assert_eq!(wire, h("first_frame_encrypted_hex"));
            let mut server = acc.obfuscation;
            server.decrypt(&mut wire);
            assert_eq!(wire, h("first_frame_plain_hex"));
            let mut reply = h("server_first_frame_plain_hex");
            server.encrypt(&mut reply);
            assert_eq!(reply, h("server_first_frame_encrypted_hex"));
        }
    }
}
