//! Unencrypted messages, used only during the auth-key handshake.
//!
//! ```text
//! auth_key_id = 0 (8 bytes) | message_id (8 LE) | message_data_length (4 LE) | message_data
//! ```

/// Why an unencrypted message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlainError {
    /// Shorter than the 20-byte header, or shorter than its announced length.
    #[error("unencrypted message of {0} bytes is truncated")]
    Truncated(usize),
    /// `auth_key_id` is not zero: it is an encrypted message.
    #[error("not an unencrypted message (auth_key_id is set)")]
    Encrypted,
    /// An announced length that is negative or not a multiple of 4.
    #[error("invalid unencrypted message length {0}")]
    BadLength(i32),
}

/// Wraps a TL body into an unencrypted message.
pub fn wrap(msg_id: i64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + body.len());
    out.extend_from_slice(&0i64.to_le_bytes());
    out.extend_from_slice(&msg_id.to_le_bytes());
    out.extend_from_slice(&(body.len() as i32).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads an unencrypted message: its msg_id and body (trailing transport padding ignored).
///
/// # Errors
/// [`PlainError`].
pub fn unwrap(data: &[u8]) -> Result<(i64, &[u8]), PlainError> {
    if data.len() < 20 {
        return Err(PlainError::Truncated(data.len()));
    }
    if data[..8] != [0; 8] {
        return Err(PlainError::Encrypted);
    }
    let msg_id = i64::from_le_bytes(data[8..16].try_into().expect("8"));
    let len = i32::from_le_bytes(data[16..20].try_into().expect("4"));
    if len < 0 || len % 4 != 0 {
        return Err(PlainError::BadLength(len));
    }
    let body = data
        .get(20..20 + len as usize)
        .ok_or(PlainError::Truncated(data.len()))?;
    Ok((msg_id, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let m = wrap(0x51e5_7ac4_2770_964a, &[1, 2, 3, 4]);
        assert_eq!(unwrap(&m), Ok((0x51e5_7ac4_2770_964a, &[1u8, 2, 3, 4][..])));
        assert_eq!(unwrap(&m[..10]), Err(PlainError::Truncated(10)));
        assert_eq!(unwrap(&m[..22]), Err(PlainError::Truncated(22)));
        let mut e = m.clone();
        e[0] = 1;
        assert_eq!(unwrap(&e), Err(PlainError::Encrypted));
        let mut b = m;
        b[16] = 3;
        assert_eq!(unwrap(&b), Err(PlainError::BadLength(3)));
    }
}
