//! MTProto 2.0, sans-IO: the protocol layer of fleetgram, for both ends of a connection.
//!
//! Nothing here opens a socket, reads a clock or draws randomness: bytes, the current time
//! and random bytes come in as arguments, bytes and events go out, so every test is
//! deterministic. The engine (client) and the local DC (server) drive these state machines
//! from their own tokio tasks.
//!
//! * [`crypto`]: AES-IGE (AES-NI), MTProto 2.0 key derivation, RSA (both schemes), pq
//!   factorization, DH checks, SRP.
//! * [`handshake`]: the auth-key exchange as typed steps, client and server.
//! * [`session`]: unencrypted and encrypted MTProto messages.
//! * [`transport`]: abridged, intermediate, padded intermediate and full framings, obfuscated2,
//!   server-side protocol detection, MTProxy secrets.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod conformance;
pub mod crypto;
pub mod handshake;
pub mod session;
pub mod transport;

#[cfg(test)]
pub(crate) mod test_util {
    /// Parses hex (test data only).
    pub fn hex(s: &str) -> Vec<u8> {
        fleetgram_tl::dynamic::json::from_hex(s).expect("valid hex in test data")
    }

    /// Loads a known-answer file from `testdata/` (a copy of `../shared/vectors`).
    pub fn vectors(name: &str) -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("valid JSON")
    }
}
