//! The local DC's RSA key: generated once and, with a data directory, kept in
//! `rsa_key.json` (the two primes, hex) so clients keep trusting the same key across restarts.

use fleetgram_protocol::crypto::rsa::RsaPrivateKey;
use num_bigint::BigUint;
use rand::RngCore;
use std::path::{Path, PathBuf};

/// Why the key could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file exists but is not a valid key.
    #[error("{path}: invalid key file: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Generates a fresh 2048-bit key from the OS RNG.
pub fn generate_key() -> RsaPrivateKey {
    let mut rng = rand::rngs::OsRng;
    RsaPrivateKey::generate(&mut |b: &mut [u8]| rng.fill_bytes(b))
}

/// Loads `dir/rsa_key.json`, or generates a key and stores it there (mode 0600); without a
/// directory, just generates one.
///
/// # Errors
/// An unreadable or invalid key file, or one that cannot be written.
pub fn load_or_generate_key(dir: Option<&Path>) -> Result<RsaPrivateKey, KeyError> {
    let Some(dir) = dir else {
        return Ok(generate_key());
    };
    let path = dir.join("rsa_key.json");
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(io)?;
        let invalid = |reason: &str| KeyError::Invalid {
            path: path.clone(),
            reason: reason.into(),
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(&e.to_string()))?;
        let prime = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .and_then(|h| BigUint::parse_bytes(h.as_bytes(), 16))
                .ok_or_else(|| invalid(&format!("field \"{k}\" must be a hex prime")))
        };
        let (p, q) = (prime("p")?, prime("q")?);
        return RsaPrivateKey::from_primes(p, q, BigUint::from(65537u32))
            .ok_or_else(|| invalid("the primes do not form a key for e = 65537"));
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    let key = generate_key();
    let (p, q) = key.primes();
    let text = serde_json::json!({"p": p.to_str_radix(16), "q": q.to_str_radix(16)}).to_string();
    write_private(&path, text.as_bytes()).map_err(io)?;
    Ok(key)
}

/// Writes a file readable by its owner only.
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}
