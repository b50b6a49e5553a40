//! MTProxy secrets (<https://core.telegram.org/mtproto/mtproto-transports#transport-obfuscation>,
//! `../shared/spec/mtproxy.md`).
//!
//! ```text
//! 16 bytes                      plain: obfuscated2 with key = SHA256(key || secret)
//! dd || 16 bytes                padded intermediate inside obfuscated2
//! ee || 16 bytes || domain      fake-TLS: a TLS 1.3 ClientHello to `domain`, then TLS records
//! ```
//!
//! Secrets appear as hex or as URL-safe base64 in `tg://proxy?server=..&port=..&secret=..`.

use super::Kind;
use base64::Engine as _;

/// A parsed MTProxy secret (its `Debug` shows the kind, never the key).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A bare 16-byte secret.
    Plain([u8; 16]),
    /// `dd`: padded intermediate framing.
    Padded([u8; 16]),
    /// `ee`: fake-TLS to `domain`.
    FakeTls {
        /// The 16-byte key.
        key: [u8; 16],
        /// The TLS server name.
        domain: String,
    },
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Plain(_) => f.write_str("Secret::Plain(<redacted>)"),
            Secret::Padded(_) => f.write_str("Secret::Padded(<redacted>)"),
            Secret::FakeTls { domain, .. } => {
                write!(
                    f,
                    "Secret::FakeTls {{ key: <redacted>, domain: {domain:?} }}"
                )
            }
        }
    }
}

impl Secret {
    /// Parses a secret given as hex or URL-safe/standard base64.
    ///
    /// # Errors
    /// Text that is neither, a wrong length, or an unknown prefix byte.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len() % 2 == 0 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
                .collect::<Result<Vec<u8>, _>>()?
        } else {
            let t = text.trim_end_matches('=');
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
                .map_err(|_| format!("MTProxy secret {text:?} is neither hex nor base64"))?
        };
        let key16 = |b: &[u8]| -> Result<[u8; 16], String> {
            b.get(..16)
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| format!("MTProxy secret has {} key bytes, expected 16", b.len()))
        };
        match bytes.len() {
            16 => Ok(Secret::Plain(key16(&bytes)?)),
            // Any 17-byte secret means padded intermediate: the spec says clients default to
            // it "whenever an additional byte in the secret is encountered" (`dd` is usual).
            17 => Ok(Secret::Padded(key16(&bytes[1..])?)),
            n if n > 17 && bytes[0] == 0xee => {
                let domain = String::from_utf8(bytes[17..].to_vec())
                    .map_err(|_| "MTProxy fake-TLS domain is not UTF-8".to_string())?;
                Ok(Secret::FakeTls {
                    key: key16(&bytes[1..])?,
                    domain,
                })
            }
            n => Err(format!(
                "MTProxy secret of {n} bytes, expected 16, 17 (dd..) or more (ee..domain)"
            )),
        }
    }

    /// The 16-byte key mixed into the obfuscation keys.
    pub fn key(&self) -> &[u8; 16] {
        match self {
            Secret::Plain(k) | Secret::Padded(k) => k,
            Secret::FakeTls { key, .. } => key,
        }
    }

    /// The secret as hex, the way proxy links carry it (`dd…`, `ee…` + domain).
    pub fn to_hex(&self) -> String {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match self {
            Secret::Plain(k) => hex(k),
            Secret::Padded(k) => format!("dd{}", hex(k)),
            Secret::FakeTls { key, domain } => format!("ee{}{}", hex(key), hex(domain.as_bytes())),
        }
    }

    /// The framing to use inside the proxy connection.
    pub fn framing(&self) -> Kind {
        match self {
            Secret::Plain(_) => Kind::Intermediate,
            Secret::Padded(_) | Secret::FakeTls { .. } => Kind::PaddedIntermediate,
        }
    }
}
