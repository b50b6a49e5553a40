//! obfuscated2 (<https://core.telegram.org/mtproto/mtproto-transports#transport-obfuscation>):
//! a random 64-byte header, then everything AES-256-CTR encrypted in both directions.
//!
//! ```text
//! init[0..56]  random (not a known protocol prefix, init[4..8] != 0, init[0] != 0xef)
//! init[56..60] protocol tag (efefefef / eeeeeeee / dddddddd)
//! init[60..62] DC id, little-endian i16 (MTProxy: negative for media DCs, +10000 test)
//! client -> server: key init[8..40], iv init[40..56]
//! server -> client: key rev(init)[8..40], iv rev(init)[40..56]
//! with an MTProxy secret: key = SHA256(key || secret)
//! sent header = init[0..56] || encrypt(init)[56..64]  (the stream continues after it)
//! ```

use super::{Kind, TransportError};
use crate::crypto::sha256;
use aes::cipher::{KeyIvInit, StreamCipher};

type Ctr = ctr::Ctr128BE<aes::Aes256>;

/// The two AES-256-CTR streams of an obfuscated connection.
pub struct Obfuscation {
    enc: Ctr,
    dec: Ctr,
}

impl std::fmt::Debug for Obfuscation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Obfuscation")
    }
}

/// The sending half of an [`Obfuscation`].
pub struct Encryptor(Ctr);

/// The receiving half of an [`Obfuscation`].
pub struct Decryptor(Ctr);

impl Encryptor {
    /// Encrypts outgoing bytes in place.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

impl Decryptor {
    /// Decrypts incoming bytes in place.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

impl Obfuscation {
    /// Splits into the two directions, for a reader and a writer task.
    pub fn split(self) -> (Encryptor, Decryptor) {
        (Encryptor(self.enc), Decryptor(self.dec))
    }

    /// Encrypts outgoing bytes in place.
    pub fn encrypt(&mut self, data: &mut [u8]) {
        self.enc.apply_keystream(data);
    }

    /// Decrypts incoming bytes in place.
    pub fn decrypt(&mut self, data: &mut [u8]) {
        self.dec.apply_keystream(data);
    }
}

/// What a server learns from a client's header.
#[derive(Debug)]
pub struct Accepted {
    /// The streams, from the server's point of view.
    pub obfuscation: Obfuscation,
    /// The framing inside.
    pub kind: Kind,
    /// The DC id field (meaningful for MTProxy clients).
    pub dc: i16,
}

fn keys(init: &[u8; 64], secret: Option<&[u8; 16]>) -> (Ctr, Ctr) {
    let mut rev = *init;
    rev.reverse();
    let derive = |k: &[u8]| -> [u8; 32] {
        match secret {
            Some(s) => sha256(&[k, s]),
            None => k.try_into().expect("32"),
        }
    };
    let fwd_key = derive(&init[8..40]);
    let back_key = derive(&rev[8..40]);
    let fwd = Ctr::new(
        &fwd_key.into(),
        <&[u8; 16]>::try_from(&init[40..56]).expect("16").into(),
    );
    let back = Ctr::new(
        &back_key.into(),
        <&[u8; 16]>::try_from(&rev[40..56]).expect("16").into(),
    );
    (fwd, back)
}

/// Whether 64 random bytes may start a connection (no known protocol prefix).
pub fn is_valid_init(init: &[u8; 64]) -> bool {
    const FORBIDDEN: [u32; 7] = [
        0x44414548, 0x54534f50, 0x20544547, 0x4954504f, 0x02010316, 0xdddddddd, 0xeeeeeeee,
    ];
    let first = u32::from_le_bytes([init[0], init[1], init[2], init[3]]);
    init[0] != 0xef && !FORBIDDEN.contains(&first) && init[4..8] != [0, 0, 0, 0]
}

/// Client: builds the header from 64 random bytes drawn from `fill` (redrawn while they look
/// like another protocol), with the framing's tag and, for MTProxy, the DC id.
pub fn client_header(
    kind: Kind,
    dc: Option<i16>,
    secret: Option<&[u8; 16]>,
    fill: &mut dyn FnMut(&mut [u8]),
) -> ([u8; 64], Obfuscation) {
    loop {
        let mut init = [0u8; 64];
        fill(&mut init);
        init[56..60].copy_from_slice(&kind.tag());
        if let Some(dc) = dc {
            init[60..62].copy_from_slice(&dc.to_le_bytes());
        }
        if is_valid_init(&init) {
            return client_header_from(init, secret);
        }
    }
}

/// Client: the header and streams for a prepared `init` (tag and DC already in place).
pub fn client_header_from(init: [u8; 64], secret: Option<&[u8; 16]>) -> ([u8; 64], Obfuscation) {
    let (mut enc, dec) = keys(&init, secret);
    let mut encrypted = init;
    enc.apply_keystream(&mut encrypted);
    let mut header = init;
    header[56..].copy_from_slice(&encrypted[56..]);
    (header, Obfuscation { enc, dec })
}

/// Server: reads a client's 64-byte header.
///
/// # Errors
/// [`TransportError::UnknownProtocol`] when the decrypted tag is not a known framing (wrong
/// secret, or not obfuscated2 at all).
pub fn server_accept(
    header: &[u8; 64],
    secret: Option<&[u8; 16]>,
) -> Result<Accepted, TransportError> {
    let (mut dec, enc) = keys(header, secret);
    let mut plain = *header;
    dec.apply_keystream(&mut plain);
    let kind = Kind::from_tag(plain[56..60].try_into().expect("4"))
        .ok_or(TransportError::UnknownProtocol)?;
    let dc = i16::from_le_bytes([plain[60], plain[61]]);
    Ok(Accepted {
        obfuscation: Obfuscation { enc, dec },
        kind,
        dc,
    })
}
