//! MTProto transports (<https://core.telegram.org/mtproto/mtproto-transports>), sans-IO.
//!
//! ```text
//! abridged              0xef once, then [len/4 (1 byte) | 0x7f len/4 (3 bytes LE)] payload
//! intermediate          0xeeeeeeee once, then [len (4 bytes LE)] payload
//! padded intermediate   0xdddddddd once, then [len (4 bytes LE)] payload random(0..15)
//! full                  [len+12 (4 LE)] [seq (4 LE)] payload [crc32 of all before (4 LE)]
//! ```
//!
//! A [`Framer`] encodes outgoing payloads and decodes incoming frames incrementally from a
//! buffer that may hold partial data; it knows which [`Role`] it plays, because quick acks
//! and their requests are encoded differently in each direction. [`obfuscated`] wraps any
//! framing in obfuscated2 (AES-256-CTR), [`detect`] tells a server which framing a new
//! connection speaks, [`mtproxy`] parses proxy secrets and [`faketls`] implements the `ee`
//! (fake-TLS) handshake and record layer.

pub mod detect;
pub mod faketls;
pub mod mtproxy;
pub mod obfuscated;

use std::ops::Range;

/// The largest frame accepted by default (Telegram's limit is about 1 MiB plus headers).
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;

/// Which framing a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One- or four-byte length in words.
    Abridged,
    /// Four-byte length.
    Intermediate,
    /// Four-byte length, random padding after the payload.
    PaddedIntermediate,
    /// Length, sequence number and CRC32.
    Full,
}

impl Kind {
    /// The bytes a client sends once before its first frame (none for `Full`), and the
    /// 4-byte protocol tag put into an obfuscated2 header.
    pub fn tag(self) -> [u8; 4] {
        match self {
            Kind::Abridged => [0xef; 4],
            Kind::Intermediate => [0xee; 4],
            Kind::PaddedIntermediate => [0xdd; 4],
            Kind::Full => [0; 4],
        }
    }

    /// The plain (non-obfuscated) prefix a client writes first.
    pub fn plain_prefix(self) -> &'static [u8] {
        match self {
            Kind::Abridged => &[0xef],
            Kind::Intermediate => &[0xee; 4],
            Kind::PaddedIntermediate => &[0xdd; 4],
            Kind::Full => &[],
        }
    }

    /// The framing of an obfuscated2 protocol tag.
    pub fn from_tag(tag: [u8; 4]) -> Option<Kind> {
        match tag {
            [0xef, 0xef, 0xef, 0xef] => Some(Kind::Abridged),
            [0xee, 0xee, 0xee, 0xee] => Some(Kind::Intermediate),
            [0xdd, 0xdd, 0xdd, 0xdd] => Some(Kind::PaddedIntermediate),
            _ => None,
        }
    }
}

/// Which end of the connection a framer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends requests, receives quick-ack tokens.
    Client,
    /// Receives requests (possibly asking for quick acks), sends tokens.
    Server,
}

/// Transport-level errors. All of them are fatal for the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A frame longer than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A length that no valid frame has.
    #[error("invalid frame length {0}")]
    BadLength(u64),
    /// Full transport: CRC32 mismatch.
    #[error("frame CRC32 mismatch: expected {expected:08x}, got {got:08x}")]
    BadCrc {
        /// Computed.
        expected: u32,
        /// Received.
        got: u32,
    },
    /// Full transport: the sequence number skipped or repeated.
    #[error("frame sequence number {got}, expected {expected}")]
    BadSeq {
        /// Expected.
        expected: u32,
        /// Received.
        got: u32,
    },
    /// The connection does not start like any known transport.
    #[error("unknown transport protocol")]
    UnknownProtocol,
    /// The server reported a transport error (-404 auth key not found, -429 flood, -444 bad DC).
    #[error("transport error {0:?}")]
    Code(ErrorCode),
}

/// The transport error codes a server sends as a 4-byte frame
/// (<https://core.telegram.org/mtproto/mtproto-transports#transport-errors>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// -404: the auth key is unknown, or the packet was malformed.
    AuthKeyNotFound,
    /// -429: too many connections or messages (transport flood).
    Flood,
    /// -444: invalid DC id.
    InvalidDc,
    /// Any other code.
    Other(i32),
}

impl ErrorCode {
    /// From the signed code on the wire.
    pub fn from_code(code: i32) -> Self {
        match code {
            -404 => ErrorCode::AuthKeyNotFound,
            -429 => ErrorCode::Flood,
            -444 => ErrorCode::InvalidDc,
            other => ErrorCode::Other(other),
        }
    }

    /// The signed code on the wire.
    pub fn code(self) -> i32 {
        match self {
            ErrorCode::AuthKeyNotFound => -404,
            ErrorCode::Flood => -429,
            ErrorCode::InvalidDc => -444,
            ErrorCode::Other(c) => c,
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// An MTProto payload at `range` of the input buffer. `quick_ack` is set when a client
    /// asked for a quick ack (seen by servers only).
    Payload {
        /// Where the payload is in the decoded buffer.
        range: Range<usize>,
        /// The client asked for a quick ack.
        quick_ack: bool,
    },
    /// A quick-ack token from the server.
    QuickAck(u32),
    /// A transport error code from the server.
    Error(ErrorCode),
}

/// A successful decode: the frame and how many input bytes it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The frame.
    pub frame: Frame,
    /// Bytes of input consumed (drop them before decoding the next frame).
    pub consumed: usize,
}

/// Encoder/decoder of one framing for one end of a connection.
#[derive(Debug, Clone)]
pub struct Framer {
    kind: Kind,
    role: Role,
    send_seq: u32,
    recv_seq: u32,
    max_frame: usize,
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl Framer {
    /// A framer with the default maximum frame size.
    pub fn new(kind: Kind, role: Role) -> Self {
        Self {
            kind,
            role,
            send_seq: 0,
            recv_seq: 0,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }

    /// Sets the maximum accepted frame size.
    pub fn with_max_frame(mut self, max: usize) -> Self {
        self.max_frame = max;
        self
    }

    /// The framing.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Appends one framed payload. `payload.len()` must be a multiple of 4 (MTProto payloads
    /// are). `quick_ack` asks the server for a quick ack (clients only). `padding` (0..=15
    /// random bytes) is used by the padded intermediate framing and ignored by the others.
    pub fn encode(&mut self, payload: &[u8], quick_ack: bool, padding: &[u8], out: &mut Vec<u8>) {
        let len = payload.len();
        let qa = quick_ack && self.role == Role::Client;
        match self.kind {
            Kind::Abridged => {
                let words = len / 4;
                if words < 127 {
                    out.push(words as u8 | if qa { 0x80 } else { 0 });
                } else {
                    out.push(if qa { 0xff } else { 0x7f });
                    out.extend_from_slice(&(words as u32).to_le_bytes()[..3]);
                }
                out.extend_from_slice(payload);
            }
            Kind::Intermediate => {
                out.extend_from_slice(&(len as u32 | if qa { 1 << 31 } else { 0 }).to_le_bytes());
                out.extend_from_slice(payload);
            }
            Kind::PaddedIntermediate => {
                let pad = &padding[..padding.len().min(15)];
                out.extend_from_slice(
                    &((len + pad.len()) as u32 | if qa { 1 << 31 } else { 0 }).to_le_bytes(),
                );
                out.extend_from_slice(payload);
                out.extend_from_slice(pad);
            }
            Kind::Full => {
                let start = out.len();
                out.extend_from_slice(&((len + 12) as u32).to_le_bytes());
                out.extend_from_slice(&self.send_seq.to_le_bytes());
                out.extend_from_slice(payload);
                let crc = crc32fast::hash(&out[start..]);
                out.extend_from_slice(&crc.to_le_bytes());
                self.send_seq = self.send_seq.wrapping_add(1);
            }
        }
    }

    /// Server: appends a quick-ack token in this framing. The full framing has no quick acks,
    /// so nothing is written for it.
    pub fn encode_quick_ack(&mut self, token: u32, padding: &[u8], out: &mut Vec<u8>) {
        match self.kind {
            Kind::Abridged => out.extend_from_slice(&token.to_be_bytes()),
            Kind::Intermediate => out.extend_from_slice(&token.to_le_bytes()),
            Kind::Full => {}
            Kind::PaddedIntermediate => {
                let pad = &padding[..padding.len().min(8)];
                out.extend_from_slice(&((8 + pad.len()) as u32).to_le_bytes());
                out.extend_from_slice(&[0xff; 4]);
                out.extend_from_slice(&token.to_le_bytes());
                out.extend_from_slice(pad);
            }
        }
    }

    /// Server: appends a transport error (e.g. -404) as a framed 4-byte payload.
    pub fn encode_error(&mut self, code: ErrorCode, out: &mut Vec<u8>) {
        self.encode(&code.code().to_le_bytes(), false, &[], out);
    }

    fn check_len(&self, len: usize) -> Result<(), TransportError> {
        if len > self.max_frame {
            return Err(TransportError::TooLarge {
                len,
                max: self.max_frame,
            });
        }
        Ok(())
    }

    fn payload_or_error(&self, range: Range<usize>, quick_ack: bool, buf: &[u8]) -> Frame {
        let p = &buf[range.clone()];
        // A 4-byte payload from the server is a transport error code.
        if self.role == Role::Client && p.len() >= 4 && p.len() < 20 {
            let code = u32_le(p) as i32;
            let is_error_frame = p.len() == 4 || self.kind == Kind::PaddedIntermediate;
            if is_error_frame && code < 0 && code != -1 {
                return Frame::Error(ErrorCode::from_code(code));
            }
        }
        Frame::Payload { range, quick_ack }
    }

    /// Decodes the next frame from the start of `buf`. `Ok(None)` means more bytes are
    /// needed; nothing is consumed then.
    ///
    /// # Errors
    /// A frame too large, a bad length, CRC or sequence number (fatal for the connection).
    pub fn decode(&mut self, buf: &[u8]) -> Result<Option<Decoded>, TransportError> {
        match self.kind {
            Kind::Abridged => {
                let Some(&first) = buf.first() else {
                    return Ok(None);
                };
                if self.role == Role::Client && first & 0x80 != 0 {
                    if buf.len() < 4 {
                        return Ok(None);
                    }
                    let token = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    return Ok(Some(Decoded {
                        frame: Frame::QuickAck(token),
                        consumed: 4,
                    }));
                }
                let quick_ack = first & 0x80 != 0;
                let (header, words) = if first & 0x7f == 0x7f {
                    if buf.len() < 4 {
                        return Ok(None);
                    }
                    (4, u32::from_le_bytes([buf[1], buf[2], buf[3], 0]) as usize)
                } else {
                    (1, (first & 0x7f) as usize)
                };
                let len = words * 4;
                if len == 0 {
                    return Err(TransportError::BadLength(0));
                }
                self.check_len(len)?;
                if buf.len() < header + len {
                    return Ok(None);
                }
                let frame = self.payload_or_error(header..header + len, quick_ack, buf);
                Ok(Some(Decoded {
                    frame,
                    consumed: header + len,
                }))
            }
            Kind::Intermediate | Kind::PaddedIntermediate => {
                if buf.len() < 4 {
                    return Ok(None);
                }
                let raw = u32_le(buf);
                if raw & (1 << 31) != 0 && self.role == Role::Client {
                    return Ok(Some(Decoded {
                        frame: Frame::QuickAck(raw),
                        consumed: 4,
                    }));
                }
                let quick_ack = raw & (1 << 31) != 0 && self.role == Role::Server;
                let len = (raw & !(1 << 31)) as usize;
                if len < 4 || (self.kind == Kind::Intermediate && len % 4 != 0) {
                    return Err(TransportError::BadLength(len as u64));
                }
                self.check_len(len)?;
                if buf.len() < 4 + len {
                    return Ok(None);
                }
                let p = &buf[4..4 + len];
                if self.kind == Kind::PaddedIntermediate
                    && self.role == Role::Client
                    && len <= 16
                    && p[..4] == [0xff; 4]
                {
                    if len < 8 {
                        return Err(TransportError::BadLength(len as u64));
                    }
                    return Ok(Some(Decoded {
                        frame: Frame::QuickAck(u32_le(&p[4..8])),
                        consumed: 4 + len,
                    }));
                }
                let frame = self.payload_or_error(4..4 + len, quick_ack, buf);
                Ok(Some(Decoded {
                    frame,
                    consumed: 4 + len,
                }))
            }
            Kind::Full => {
                if buf.len() < 4 {
                    return Ok(None);
                }
                let total = u32_le(buf) as usize;
                if total < 12 || total % 4 != 0 {
                    return Err(TransportError::BadLength(total as u64));
                }
                self.check_len(total)?;
                if buf.len() < total {
                    return Ok(None);
                }
                let seq = u32_le(&buf[4..]);
                let got = u32_le(&buf[total - 4..]);
                let expected = crc32fast::hash(&buf[..total - 4]);
                if got != expected {
                    return Err(TransportError::BadCrc { expected, got });
                }
                if seq != self.recv_seq {
                    return Err(TransportError::BadSeq {
                        expected: self.recv_seq,
                        got: seq,
                    });
                }
                self.recv_seq = self.recv_seq.wrapping_add(1);
                let frame = self.payload_or_error(8..total - 4, false, buf);
                Ok(Some(Decoded {
                    frame,
                    consumed: total,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests;
