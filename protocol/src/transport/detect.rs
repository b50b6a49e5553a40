//! Server side: which transport a new connection speaks, from its first bytes, as Telegram
//! decides it.
//!
//! ```text
//! ef                  abridged            (1 byte consumed)
//! ee ee ee ee         intermediate        (4 bytes consumed)
//! dd dd dd dd         padded intermediate (4 bytes consumed)
//! len(4) 00 00 00 00  full, seq 0         (nothing consumed)
//! 16 03 01 ..         TLS ClientHello: MTProxy fake-TLS
//! anything else       obfuscated2 (64-byte header)
//! ```

use super::Kind;

/// The verdict on a connection's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// Not enough bytes yet to decide.
    NeedMore,
    /// A plain framing; drop `consumed` bytes of prefix.
    Plain {
        /// The framing.
        kind: Kind,
        /// Prefix bytes to drop.
        consumed: usize,
    },
    /// A TLS ClientHello (MTProxy `ee` secret).
    FakeTls,
    /// An obfuscated2 header: read 64 bytes and call `obfuscated::server_accept`.
    Obfuscated,
}

/// Decides from the first bytes received.
pub fn detect(buf: &[u8]) -> Detected {
    let Some(&first) = buf.first() else {
        return Detected::NeedMore;
    };
    if first == 0xef {
        return Detected::Plain {
            kind: Kind::Abridged,
            consumed: 1,
        };
    }
    if buf.len() < 4 {
        // `16 03 01` might be TLS; ee/dd need four bytes.
        return Detected::NeedMore;
    }
    match [buf[0], buf[1], buf[2], buf[3]] {
        [0xee, 0xee, 0xee, 0xee] => {
            return Detected::Plain {
                kind: Kind::Intermediate,
                consumed: 4,
            }
        }
        [0xdd, 0xdd, 0xdd, 0xdd] => {
            return Detected::Plain {
                kind: Kind::PaddedIntermediate,
                consumed: 4,
            }
        }
        [0x16, 0x03, 0x01, _] => return Detected::FakeTls,
        _ => {}
    }
    if buf.len() < 8 {
        return Detected::NeedMore;
    }
    if buf[4..8] == [0, 0, 0, 0] {
        return Detected::Plain {
            kind: Kind::Full,
            consumed: 0,
        };
    }
    Detected::Obfuscated
}
