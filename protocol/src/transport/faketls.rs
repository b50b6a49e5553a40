//! MTProxy fake-TLS (`ee` secrets), `../shared/spec/mtproxy.md` section 5: the connection
//! opens like TLS 1.3 and then carries obfuscated2 inside TLS application-data records.
//!
//! ```text
//! client                                                  proxy
//!  16 03 01 ClientHello (random = HMAC(secret, hello) ^ time)  ->  check HMAC, time, replay
//!                <-  16 03 03 ServerHello | 14 CCS | 17 fake data  (random = HMAC(secret, client_random | answer))
//!  14 03 03 00 01 01 | 17 03 03 len [obfuscated2 header | frames]  ->
//!  17 03 03 len payload ...                                   <->
//! ```
//!
//! The hello follows the 517-byte Chrome-like layout tdlib used (GREASE, 15 extensions, padding
//! extension). Randomness (session id, key share, GREASE, fake data) is passed in.

use hmac::{Hmac, Mac};

type HmacSha256 = Hmac<sha2::Sha256>;

/// Fake-TLS failures; all are fatal for the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FakeTlsError {
    /// Not a TLS record of the expected shape.
    #[error("not a fake-TLS {0}")]
    Malformed(&'static str),
    /// No configured secret authenticates the hello (or the answer).
    #[error("fake-TLS HMAC does not match")]
    BadHmac,
    /// The hello's timestamp is outside the accepted window.
    #[error("fake-TLS hello timestamp {timestamp} is outside the window around {now}")]
    BadTime {
        /// Client time.
        timestamp: u32,
        /// Server time.
        now: i64,
    },
    /// The domain is too long for the hello layout.
    #[error("domain of {0} bytes is too long (at most 182)")]
    DomainTooLong(usize),
}

fn hmac(secret: &[u8; 16], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(secret).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// The seven GREASE values of a hello from 7 random bytes: `(g & 0xf0) | 0x0a`, and each odd
/// one differs from the one before it.
pub fn grease(raw: &[u8; 7]) -> [u8; 7] {
    let mut g = raw.map(|b| (b & 0xf0) | 0x0a);
    for i in [1, 3, 5] {
        if g[i] == g[i - 1] {
            g[i] ^= 0x10;
        }
    }
    g
}

/// The randomness of one hello.
#[derive(Debug, Clone)]
pub struct HelloRandom {
    /// 32 random bytes.
    pub session_id: [u8; 32],
    /// An X25519 public key (any 32 bytes pass).
    pub key_share: [u8; 32],
    /// 7 random bytes for GREASE.
    pub grease: [u8; 7],
}

/// Client: the 517-byte ClientHello for `domain`, signed with `secret` at Unix time `now`.
///
/// # Errors
/// A domain longer than 182 bytes.
pub fn client_hello(
    secret: &[u8; 16],
    domain: &str,
    now: u32,
    r: &HelloRandom,
) -> Result<Vec<u8>, FakeTlsError> {
    let d = domain.len();
    if d > 182 {
        return Err(FakeTlsError::DomainTooLong(d));
    }
    let g = grease(&r.grease);
    let gw = |i: usize| [g[i], g[i]];
    let mut h = Vec::with_capacity(517);
    h.extend_from_slice(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ]);
    h.extend_from_slice(&[0u8; 32]); // random, filled in below
    h.push(0x20);
    h.extend_from_slice(&r.session_id);
    h.extend_from_slice(&[0x00, 0x20]);
    h.extend_from_slice(&gw(0));
    h.extend_from_slice(&[
        0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30, 0xcc,
        0xa9, 0xcc, 0xa8, 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f, 0x00, 0x35,
    ]);
    h.extend_from_slice(&[0x01, 0x00, 0x01, 0x93]);
    let ext = |h: &mut Vec<u8>, ty: [u8; 2], body: &[u8]| {
        h.extend_from_slice(&ty);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
    };
    ext(&mut h, gw(2), &[]);
    let mut sni = Vec::with_capacity(d + 5);
    sni.extend_from_slice(&((d + 3) as u16).to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(d as u16).to_be_bytes());
    sni.extend_from_slice(domain.as_bytes());
    ext(&mut h, [0x00, 0x00], &sni);
    ext(&mut h, [0x00, 0x05], &[0x01, 0x00, 0x00, 0x00, 0x00]);
    ext(
        &mut h,
        [0x00, 0x0a],
        &[0x00, 0x08, g[4], g[4], 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18],
    );
    ext(&mut h, [0x00, 0x0b], &[0x01, 0x00]);
    ext(
        &mut h,
        [0x00, 0x0d],
        &[
            0x00, 0x10, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01,
            0x08, 0x06, 0x06, 0x01,
        ],
    );
    ext(&mut h, [0x00, 0x10], b"\x00\x0c\x02h2\x08http/1.1");
    ext(&mut h, [0x00, 0x12], &[]);
    ext(&mut h, [0x00, 0x17], &[]);
    ext(&mut h, [0x00, 0x1b], &[0x02, 0x00, 0x02]);
    ext(&mut h, [0x00, 0x23], &[]);
    ext(
        &mut h,
        [0x00, 0x2b],
        &[0x06, g[6], g[6], 0x03, 0x04, 0x03, 0x03],
    );
    ext(&mut h, [0x00, 0x2d], &[0x01, 0x01]);
    let mut ks = vec![
        0x00, 0x29, g[4], g[4], 0x00, 0x01, 0x00, 0x00, 0x1d, 0x00, 0x20,
    ];
    ks.extend_from_slice(&r.key_share);
    ext(&mut h, [0x00, 0x33], &ks);
    ext(&mut h, [0x44, 0x69], b"\x00\x03\x02h2");
    ext(&mut h, [0xff, 0x01], &[0x00]);
    ext(&mut h, gw(3), &[0x00]);
    let pad = 517 - h.len() - 4;
    ext(&mut h, [0x00, 0x15], &vec![0u8; pad]);
    debug_assert_eq!(h.len(), 517);
    let mac = hmac(secret, &[&h]);
    let mut random = [0u8; 32];
    random[..28].copy_from_slice(&mac[..28]);
    for i in 0..4 {
        random[28 + i] = mac[28 + i] ^ now.to_le_bytes()[i];
    }
    h[11..43].copy_from_slice(&random);
    Ok(h)
}

/// What a proxy learns from a valid hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Which of the configured secrets matched.
    pub secret_index: usize,
    /// The client random as sent (signs the answer).
    pub client_random: [u8; 32],
    /// The session id to echo.
    pub session_id: Vec<u8>,
    /// The client's timestamp.
    pub timestamp: u32,
    /// Key for the replay cache (`random[0..16]`).
    pub replay_key: [u8; 16],
}

/// Proxy side: the length of the hello record at the start of `buf`, `None` if incomplete.
///
/// # Errors
/// Not a TLS handshake record of at least 512 bytes.
pub fn hello_len(buf: &[u8]) -> Result<Option<usize>, FakeTlsError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    if buf[..3] != [0x16, 0x03, 0x01] {
        return Err(FakeTlsError::Malformed("ClientHello record"));
    }
    let len = u16::from_be_bytes([buf[3], buf[4]]) as usize;
    if len < 512 {
        return Err(FakeTlsError::Malformed("ClientHello length"));
    }
    Ok((buf.len() >= 5 + len).then_some(5 + len))
}

/// Proxy side: checks a complete hello record against the secrets and the clock (Unix
/// seconds). Accepts `-1200 < now - timestamp < 600`, and any timestamp below 86,400,000
/// (clients that send time since boot). The caller keeps the replay cache.
///
/// # Errors
/// A malformed record, no matching secret, or a timestamp outside the window.
pub fn check_hello(hello: &[u8], secrets: &[[u8; 16]], now: i64) -> Result<Hello, FakeTlsError> {
    if hello.len() < 44 || hello_len(hello)? != Some(hello.len()) {
        return Err(FakeTlsError::Malformed("ClientHello"));
    }
    let sid_len = hello[43] as usize;
    let session_id = hello
        .get(44..44 + sid_len)
        .ok_or(FakeTlsError::Malformed("session id"))?
        .to_vec();
    let mut zeroed = hello.to_vec();
    zeroed[11..43].fill(0);
    let client_random: [u8; 32] = hello[11..43].try_into().expect("32");
    let mut time_error = None;
    for (i, secret) in secrets.iter().enumerate() {
        let mac = hmac(secret, &[&zeroed]);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &mac[..28],
            &client_random[..28],
        )) {
            continue;
        }
        let mut t = [0u8; 4];
        for k in 0..4 {
            t[k] = mac[28 + k] ^ client_random[28 + k];
        }
        let timestamp = u32::from_le_bytes(t);
        let skew = now - timestamp as i64;
        if timestamp >= 86_400_000 && !(-1200 < skew && skew < 600) {
            time_error = Some(FakeTlsError::BadTime { timestamp, now });
            continue;
        }
        return Ok(Hello {
            secret_index: i,
            client_random,
            session_id,
            timestamp,
            replay_key: client_random[..16].try_into().expect("16"),
        });
    }
    Err(time_error.unwrap_or(FakeTlsError::BadHmac))
}

/// Proxy side: the answer (ServerHello, ChangeCipherSpec, `fake_data` as an application-data
/// record), with the server random signed for `hello`.
pub fn server_answer(
    secret: &[u8; 16],
    hello: &Hello,
    key_share: &[u8; 32],
    fake_data: &[u8],
) -> Vec<u8> {
    let mut a = Vec::with_capacity(138 + fake_data.len());
    a.extend_from_slice(&[
        0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00, 0x76, 0x03, 0x03,
    ]);
    a.extend_from_slice(&[0u8; 32]);
    a.push(hello.session_id.len() as u8);
    a.extend_from_slice(&hello.session_id);
    a.extend_from_slice(&[
        0x13, 0x01, 0x00, 0x00, 0x2e, 0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20,
    ]);
    a.extend_from_slice(key_share);
    a.extend_from_slice(&[0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
    a.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
    a.extend_from_slice(&[0x17, 0x03, 0x03]);
    a.extend_from_slice(&(fake_data.len() as u16).to_be_bytes());
    a.extend_from_slice(fake_data);
    let random = hmac(secret, &[&hello.client_random, &a]);
    a[11..43].copy_from_slice(&random);
    a
}

/// Client side: checks the proxy's answer at the start of `buf`; returns its length, or
/// `None` while incomplete.
///
/// # Errors
/// A malformed answer or a server random that does not verify.
pub fn check_answer(
    secret: &[u8; 16],
    client_random: &[u8; 32],
    buf: &[u8],
) -> Result<Option<usize>, FakeTlsError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    if buf[..3] != [0x16, 0x03, 0x03] {
        return Err(FakeTlsError::Malformed("ServerHello record"));
    }
    let first = 5 + u16::from_be_bytes([buf[3], buf[4]]) as usize;
    if first < 43 {
        return Err(FakeTlsError::Malformed("ServerHello length"));
    }
    if buf.len() < first + 11 {
        return Ok(None);
    }
    if buf[first..first + 9] != [0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03] {
        return Err(FakeTlsError::Malformed("answer after ServerHello"));
    }
    let total = first + 11 + u16::from_be_bytes([buf[first + 9], buf[first + 10]]) as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let mut zeroed = buf[..total].to_vec();
    zeroed[11..43].fill(0);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        &hmac(secret, &[client_random, &zeroed])[..],
        &buf[11..43],
    )) {
        return Err(FakeTlsError::BadHmac);
    }
    Ok(Some(total))
}

/// Wraps outgoing bytes into application-data records (the client's first call also emits the
/// one ChangeCipherSpec record).
#[derive(Debug, Clone)]
pub struct RecordWriter {
    max_payload: usize,
    ccs_pending: bool,
}

impl RecordWriter {
    /// The client's writer: CCS first, records of at most 2,878 bytes (as tdlib).
    pub fn client() -> Self {
        Self {
            max_payload: 2878,
            ccs_pending: true,
        }
    }

    /// The proxy's writer: records of at most 16,384 bytes.
    pub fn server() -> Self {
        Self {
            max_payload: 16384,
            ccs_pending: false,
        }
    }

    /// Appends `data` as records.
    pub fn write(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.ccs_pending {
            out.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
            self.ccs_pending = false;
        }
        for chunk in data.chunks(self.max_payload) {
            out.extend_from_slice(&[0x17, 0x03, 0x03]);
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
    }
}

/// Unwraps incoming records into the byte stream they carry.
#[derive(Debug, Clone, Default)]
pub struct RecordReader {
    buf: Vec<u8>,
}

impl RecordReader {
    /// A reader with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds received bytes; appends the payload bytes of every complete record to `out`.
    /// ChangeCipherSpec records are skipped.
    ///
    /// # Errors
    /// A record of another type or TLS version.
    pub fn read(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), FakeTlsError> {
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        while self.buf.len() >= at + 5 {
            let header = &self.buf[at..at + 5];
            if header[1..3] != [0x03, 0x03] || !matches!(header[0], 0x14 | 0x17) {
                return Err(FakeTlsError::Malformed("record"));
            }
            let len = u16::from_be_bytes([header[3], header[4]]) as usize;
            if self.buf.len() < at + 5 + len {
                break;
            }
            if header[0] == 0x17 {
                out.extend_from_slice(&self.buf[at + 5..at + 5 + len]);
            }
            at += 5 + len;
        }
        self.buf.drain(..at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{hex, vectors};
    use crate::transport::obfuscated::{client_header_from, server_accept};
    use crate::transport::{Frame, Framer, Kind, Role};

    #[test]
    fn vectors_hello_answer_and_stream() {
        let v = vectors("mtproxy_faketls.json");
        let inputs = &v["inputs"];
        let secret: [u8; 16] = hex(inputs["secret_hex"].as_str().unwrap())
            .try_into()
            .unwrap();
        let domain = inputs["domain"].as_str().unwrap();
        let ts = inputs["timestamp"].as_u64().unwrap() as u32;
        let now = inputs["proxy_now_for_checks"].as_i64().unwrap();
        let ch = &v["client_hello_517"];
        let h = |o: &serde_json::Value, k: &str| hex(o[k].as_str().unwrap());
        assert_eq!(
            grease(&h(ch, "grease_raw_hex").try_into().unwrap()).to_vec(),
            h(ch, "grease_hex")
        );
        let r = HelloRandom {
            session_id: h(ch, "session_id_hex").try_into().unwrap(),
            key_share: h(ch, "x25519_key_share_hex").try_into().unwrap(),
            grease: h(ch, "grease_raw_hex").try_into().unwrap(),
        };
        let hello = client_hello(&secret, domain, ts, &r).unwrap();
        assert_eq!(hello, h(ch, "client_hello_hex"));
        assert_eq!(hello.len(), 517);
        // The proxy accepts it (and the large tdlib layout too), with the right timestamp.
        let other = [1u8; 16];
        let info = check_hello(&hello, &[other, secret], now).unwrap();
        assert_eq!((info.secret_index, info.timestamp), (1, ts));
        let large = h(&v["client_hello_large"], "client_hello_hex");
        assert_eq!(check_hello(&large, &[secret], now).unwrap().timestamp, ts);
        // Wrong secret, tampering, time window.
        assert_eq!(
            check_hello(&hello, &[other], now),
            Err(FakeTlsError::BadHmac)
        );
        let mut bad = hello.clone();
        bad[200] ^= 1;
        assert_eq!(
            check_hello(&bad, &[secret], now),
            Err(FakeTlsError::BadHmac)
        );
        assert!(check_hello(&hello, &[secret], ts as i64 + 600).is_err());
        assert!(check_hello(&hello, &[secret], ts as i64 + 599).is_ok());
        assert!(check_hello(&hello, &[secret], ts as i64 - 1199).is_ok());
        assert!(check_hello(&hello, &[secret], ts as i64 - 1200).is_err());
        // The answer.
        let sa = &v["server_answer"];
        let answer = server_answer(
            &secret,
            &info,
            &h(sa, "server_x25519_key_share_hex").try_into().unwrap(),
            &h(sa, "fake_appdata_hex"),
        );
        assert_eq!(answer, h(sa, "answer_hex"));
        assert_eq!(
            check_answer(&secret, &info.client_random, &answer),
            Ok(Some(answer.len()))
        );
        assert_eq!(
            check_answer(&secret, &info.client_random, &answer[..100]),
            Ok(None)
        );
        let mut bad = answer.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            check_answer(&secret, &info.client_random, &bad),
            Err(FakeTlsError::BadHmac)
        );
        // The data phase: CCS + a record carrying the obfuscated2 header and the first frame.
        let st = &v["faketls_stream"];
        let init: [u8; 64] = h(st, "init_plain_hex").try_into().unwrap();
        let (header, mut obf) = client_header_from(init, Some(&secret));
        assert_eq!(header.to_vec(), h(st, "header_on_wire_hex"));
        let mut framer = Framer::new(Kind::PaddedIntermediate, Role::Client);
        let mut frame = Vec::new();
        framer.encode(
            &h(st, "first_frame_payload_hex"),
            false,
            &h(st, "first_frame_padding_hex"),
            &mut frame,
        );
        assert_eq!(frame, h(st, "first_frame_plain_hex"));
        obf.encrypt(&mut frame);
        assert_eq!(frame, h(st, "first_frame_encrypted_hex"));
        let mut first = header.to_vec();
        first.extend_from_slice(&frame);
        let mut wire = Vec::new();
        RecordWriter::client().write(&first, &mut wire);
        assert_eq!(wire, h(st, "client_bytes_after_hello_hex"));
        // The proxy reads it back.
        let mut stream = Vec::new();
        RecordReader::new().read(&wire, &mut stream).unwrap();
        let acc = server_accept(&stream[..64].try_into().unwrap(), Some(&secret)).unwrap();
        assert_eq!(
            (acc.kind, acc.dc),
            (
                Kind::PaddedIntermediate,
                st["dc_id"].as_i64().unwrap() as i16
            )
        );
        let mut server_obf = acc.obfuscation;
        let mut rest = stream[64..].to_vec();
        server_obf.decrypt(&mut rest);
        let mut sf = Framer::new(Kind::PaddedIntermediate, Role::Server);
        let d = sf.decode(&rest).unwrap().unwrap();
        let Frame::Payload { range, .. } = d.frame else {
            panic!()
        };
        assert_eq!(
            &rest[range][..h(st, "first_frame_payload_hex").len()],
            &h(st, "first_frame_payload_hex")[..]
        );
        // The proxy's first record decrypts, from stream offset 0, to a frame holding resPQ.
        let mut payload = Vec::new();
        RecordReader::new()
            .read(&h(st, "server_first_record_hex"), &mut payload)
            .unwrap();
        obf.decrypt(&mut payload);
        let mut cf = Framer::new(Kind::PaddedIntermediate, Role::Client);
        let d = cf.decode(&payload).unwrap().unwrap();
        let Frame::Payload { range, .. } = d.frame else {
            panic!()
        };
        assert_eq!(
            &payload[range][..h(st, "server_first_frame_payload_hex").len()],
            &h(st, "server_first_frame_payload_hex")[..]
        );
    }

    #[test]
    fn records_split_and_rejoin() {
        let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        let mut w = RecordWriter::server();
        let mut wire = Vec::new();
        w.write(&data, &mut wire);
        let mut r = RecordReader::new();
        let mut out = Vec::new();
        for chunk in wire.chunks(777) {
            r.read(chunk, &mut out).unwrap();
        }
        assert_eq!(out, data);
        assert!(RecordReader::new()
            .read(&[0x15, 0x03, 0x03, 0, 1, 0], &mut out)
            .is_err());
        assert!(matches!(
            hello_len(&[0x16, 0x03, 0x01, 0x00, 0x10]),
            Err(FakeTlsError::Malformed(_))
        ));
        assert_eq!(
            client_hello(
                &[0; 16],
                &"x".repeat(183),
                0,
                &HelloRandom {
                    session_id: [0; 32],
                    key_share: [0; 32],
                    grease: [0; 7]
                }
            ),
            Err(FakeTlsError::DomainTooLong(183))
        );
    }
}
