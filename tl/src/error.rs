use std::fmt;

/// Why a TL value could not be read. Every variant carries the byte offset where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeserializeError {
    /// The input ended: `needed` more bytes were required at `offset`.
    UnexpectedEof {
        /// Byte offset in the input.
        offset: usize,
        /// Bytes that were needed.
        needed: usize,
    },
    /// A constructor id that the expected type does not have.
    UnexpectedConstructor {
        /// Byte offset of the id.
        offset: usize,
        /// The id read.
        id: u32,
        /// The TL type or constructor that was expected.
        expected: &'static str,
    },
    /// A length or count that cannot be right (negative, or longer than the input).
    BadLength {
        /// Byte offset of the length.
        offset: usize,
        /// The length read.
        len: i64,
    },
    /// Objects nested deeper than [`crate::MAX_DEPTH`].
    TooDeep {
        /// Byte offset where the limit was hit.
        offset: usize,
    },
}

impl fmt::Display for DeserializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEof { offset, needed } => {
                write!(
                    f,
                    "unexpected end of input at byte {offset}: {needed} more bytes needed"
                )
            }
            Self::UnexpectedConstructor {
                offset,
                id,
                expected,
            } => {
                let name = crate::name_of(*id)
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                write!(
                    f,
                    "unexpected constructor {id:08x}{name} at byte {offset}, expected {expected}"
                )
            }
            Self::BadLength { offset, len } => {
                write!(f, "impossible length {len} at byte {offset}")
            }
            Self::TooDeep { offset } => {
                write!(
                    f,
                    "objects nested deeper than {} at byte {offset}",
                    crate::MAX_DEPTH
                )
            }
        }
    }
}

impl std::error::Error for DeserializeError {}
