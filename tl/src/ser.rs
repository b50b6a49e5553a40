//! Writers for TL's built-in types, used by the generated code.
//!
//! ```text
//! int     4 bytes LE          long/double  8 bytes LE
//! string  len<254: [len] data pad-to-4     len>=254: [254 l0 l1 l2] data pad-to-4
//! Vector  1cb5c415 count elements...       vector (bare): count elements...
//! ```

/// `vector#1cb5c415`.
pub const VECTOR_ID: u32 = 0x1cb5c415;
/// `boolTrue#997275b5`.
pub const BOOL_TRUE: u32 = 0x997275b5;
/// `boolFalse#bc799737`.
pub const BOOL_FALSE: u32 = 0xbc799737;
/// The largest `string`/`bytes` TL can encode (3-byte length).
pub const MAX_BYTES_LEN: usize = (1 << 24) - 1;

/// A raw `u32` (ids, flags).
#[inline]
pub fn u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// TL `int`.
#[inline]
pub fn i32(buf: &mut Vec<u8>, v: &i32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// TL `long`.
#[inline]
pub fn i64(buf: &mut Vec<u8>, v: &i64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// TL `double`.
#[inline]
pub fn f64(buf: &mut Vec<u8>, v: &f64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// TL `Bool`.
#[inline]
pub fn bool(buf: &mut Vec<u8>, v: &bool) {
    u32(buf, if *v { BOOL_TRUE } else { BOOL_FALSE });
}

/// TL `int128`.
#[inline]
pub fn int128(buf: &mut Vec<u8>, v: &[u8; 16]) {
    buf.extend_from_slice(v);
}

/// TL `int256`.
#[inline]
pub fn int256(buf: &mut Vec<u8>, v: &[u8; 32]) {
    buf.extend_from_slice(v);
}

/// TL `bytes`.
///
/// # Panics
/// When `v` is longer than [`MAX_BYTES_LEN`].
#[inline]
pub fn bytes(buf: &mut Vec<u8>, v: &[u8]) {
    let len = v.len();
    let header = if len < 254 {
        buf.push(len as u8);
        1
    } else {
        assert!(
            len <= MAX_BYTES_LEN,
            "TL bytes of {len} bytes exceed the 16 MiB limit"
        );
        buf.extend_from_slice(&[254, len as u8, (len >> 8) as u8, (len >> 16) as u8]);
        4
    };
    buf.extend_from_slice(v);
    let pad = (4 - (header + len) % 4) % 4;
    buf.extend_from_slice(&[0u8; 3][..pad]);
}

/// TL `string`.
///
/// # Panics
/// As [`bytes`].
#[inline]
pub fn string(buf: &mut Vec<u8>, v: &str) {
    bytes(buf, v.as_bytes())
}
