//! A bounds-checked cursor over TL bytes.

use crate::DeserializeError;

/// How deeply boxed objects may nest before decoding stops with [`DeserializeError::TooDeep`].
/// Real Telegram objects (rich text, page blocks, reply markups) stay far below it; hostile
/// input cannot use deep nesting to exhaust the stack.
pub const MAX_DEPTH: u32 = 64;

/// A cursor over a TL byte buffer. Every read checks the remaining length.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            depth: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Takes the next `n` bytes.
    ///
    /// # Errors
    /// [`DeserializeError::UnexpectedEof`] when fewer remain.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DeserializeError> {
        match self.buf.get(self.pos..self.pos.wrapping_add(n)) {
            Some(s) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(s)
            }
            _ => Err(DeserializeError::UnexpectedEof {
                offset: self.pos,
                needed: n - self.remaining().min(n),
            }),
        }
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DeserializeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A little-endian `u32` (constructor ids, flags).
    #[inline]
    pub fn u32(&mut self) -> Result<u32, DeserializeError> {
        self.array::<4>().map(u32::from_le_bytes)
    }

    /// TL `int`.
    #[inline]
    pub fn i32(&mut self) -> Result<i32, DeserializeError> {
        self.array::<4>().map(i32::from_le_bytes)
    }

    /// TL `long`.
    #[inline]
    pub fn i64(&mut self) -> Result<i64, DeserializeError> {
        self.array::<8>().map(i64::from_le_bytes)
    }

    /// TL `double`.
    #[inline]
    pub fn f64(&mut self) -> Result<f64, DeserializeError> {
        self.array::<8>().map(f64::from_le_bytes)
    }

    /// TL `int128`, as its wire bytes.
    #[inline]
    pub fn int128(&mut self) -> Result<[u8; 16], DeserializeError> {
        self.array::<16>()
    }

    /// TL `int256`, as its wire bytes.
    #[inline]
    pub fn int256(&mut self) -> Result<[u8; 32], DeserializeError> {
        self.array::<32>()
    }

    /// TL `Bool` (`boolTrue` / `boolFalse`).
    ///
    /// # Errors
    /// Any other constructor.
    #[inline]
    pub fn bool(&mut self) -> Result<bool, DeserializeError> {
        let offset = self.pos;
        match self.u32()? {
            crate::ser::BOOL_TRUE => Ok(true),
            crate::ser::BOOL_FALSE => Ok(false),
            id => Err(DeserializeError::UnexpectedConstructor {
                offset,
                id,
                expected: "Bool",
            }),
        }
    }

    /// TL `bytes`/`string` payload, borrowed (length prefix and padding consumed).
    ///
    /// # Errors
    /// Truncated input or the reserved length byte 255.
    #[inline]
    pub fn bytes_slice(&mut self) -> Result<&'a [u8], DeserializeError> {
        let offset = self.pos;
        let first = *self
            .buf
            .get(self.pos)
            .ok_or(DeserializeError::UnexpectedEof { offset, needed: 1 })?;
        let (header, len) = if first < 254 {
            (1, first as usize)
        } else if first == 254 {
            let remaining = self.remaining();
            let h = self.buf.get(self.pos..self.pos + 4).ok_or_else(|| {
                DeserializeError::UnexpectedEof {
                    offset,
                    needed: 4 - remaining.min(4),
                }
            })?;
            (4, u32::from_le_bytes([h[1], h[2], h[3], 0]) as usize)
        } else {
            return Err(DeserializeError::BadLength { offset, len: 255 });
        };
        let total = (header + len + 3) & !3;
        if total > self.remaining() {
            return Err(DeserializeError::BadLength {
                offset,
                len: len as i64,
            });
        }
        let s = &self.buf[self.pos + header..self.pos + header + len];
        self.pos += total;
        Ok(s)
    }

    /// TL `bytes`.
    ///
    /// # Errors
    /// As [`Reader::bytes_slice`].
    #[inline]
    pub fn bytes(&mut self) -> Result<Vec<u8>, DeserializeError> {
        self.bytes_slice().map(<[u8]>::to_vec)
    }

    /// TL `string`. Invalid UTF-8 is replaced (Telegram only sends UTF-8).
    ///
    /// # Errors
    /// As [`Reader::bytes_slice`].
    #[inline]
    pub fn string(&mut self) -> Result<String, DeserializeError> {
        let s = self.bytes_slice()?;
        Ok(match std::str::from_utf8(s) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(s).into_owned(),
        })
    }

    /// The element count of a vector (`boxed`: after checking the `vector` id), checked
    /// against the remaining input assuming each element takes at least `min_elem` bytes.
    ///
    /// # Errors
    /// A wrong vector id, a negative count, or a count the input cannot hold.
    #[inline]
    pub fn vector_len(&mut self, boxed: bool, min_elem: usize) -> Result<usize, DeserializeError> {
        if boxed {
            self.expect_id(crate::ser::VECTOR_ID, "Vector")?;
        }
        let offset = self.pos;
        let n = self.i32()?;
        if n < 0 || (n as usize).saturating_mul(min_elem.max(1)) > self.remaining() {
            return Err(DeserializeError::BadLength {
                offset,
                len: n as i64,
            });
        }
        Ok(n as usize)
    }

    /// Reads a constructor id and checks it.
    ///
    /// # Errors
    /// [`DeserializeError::UnexpectedConstructor`] naming `name`.
    #[inline]
    pub fn expect_id(&mut self, id: u32, name: &'static str) -> Result<(), DeserializeError> {
        let offset = self.pos;
        let got = self.u32()?;
        if got == id {
            Ok(())
        } else {
            Err(DeserializeError::UnexpectedConstructor {
                offset,
                id: got,
                expected: name,
            })
        }
    }

    /// The error for an id just read that `expected` does not have.
    pub fn unexpected_constructor(&self, id: u32, expected: &'static str) -> DeserializeError {
        DeserializeError::UnexpectedConstructor {
            offset: self.pos.saturating_sub(4),
            id,
            expected,
        }
    }

    /// Enters one level of object nesting.
    ///
    /// # Errors
    /// [`DeserializeError::TooDeep`] past [`MAX_DEPTH`].
    #[inline]
    pub fn enter(&mut self) -> Result<(), DeserializeError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(DeserializeError::TooDeep { offset: self.pos });
        }
        Ok(())
    }

    /// Leaves one level of nesting.
    #[inline]
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}
