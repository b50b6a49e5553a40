//! Telegram's TL (Type Language), layer [`LAYER`]: the bottom layer of fleetgram.
//!
//! * [`types`], [`enums`], [`functions`]: Rust types generated at build time from
//!   `schema/api.tl` and `schema/mtproto.tl` (see `fleetgram-tl-gen` for the naming rules),
//!   with [`Serializable`] / [`Deserializable`] and [`RemoteCall`].
//! * [`mtproto`]: the MTProto objects TL cannot describe (`rpc_result`, `msg_container`,
//!   `message`, `gzip_packed`), written by hand.
//! * [`dynamic`]: the run-time codec driven by the same parsed schema: a [`dynamic::Value`]
//!   tree <-> TL bytes, and its JSON mapping. Scripts and the CLI use it.
//!
//! Deserialization of hostile input never panics and never allocates more than the input
//! could describe: a length or count larger than the remaining bytes is an error.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod dynamic;
/// The parsed-schema types ([`schema_def::Definition`] and friends), shared with the generator.
pub use fleetgram_tl_gen::parser as schema_def;
mod error;
pub mod mtproto;
mod reader;
pub mod ser;

pub use error::DeserializeError;
pub use reader::{Reader, MAX_DEPTH};

/// The API layer of the bundled schema.
pub const LAYER: i32 = 229;

/// The schema text the types were generated from, for the dynamic codec.
pub const API_TL: &str = include_str!("../schema/api.tl");
/// The MTProto service schema text.
pub const MTPROTO_TL: &str = include_str!("../schema/mtproto.tl");

/// A value with a constructor id.
pub trait Identifiable {
    /// The TL constructor id.
    const CONSTRUCTOR_ID: u32;
    /// The TL name (`messages.sendMessage`).
    const NAME: &'static str;
}

/// Writes a value in TL's boxed form (constructor id first, where it has one).
pub trait Serializable {
    /// Appends the serialization to `buf`.
    ///
    /// # Panics
    /// When a `string`/`bytes` value is 16 MiB or longer, which TL cannot encode.
    fn serialize(&self, buf: &mut Vec<u8>);

    /// The serialization as a new buffer.
    ///
    /// The first allocation is sized from the length of the previous serialization on this
    /// thread (capped at 64 KiB), so repeated large objects neither regrow nor copy; a buffer
    /// left much larger than its content is shrunk.
    fn to_bytes(&self) -> Vec<u8> {
        thread_local! {
            static HINT: std::cell::Cell<usize> = const { std::cell::Cell::new(64) };
        }
        let mut buf = Vec::with_capacity(HINT.get());
        self.serialize(&mut buf);
        HINT.set(buf.len().clamp(64, 1 << 16));
        if buf.capacity() > 2 * buf.len() + 256 {
            buf.shrink_to_fit();
        }
        buf
    }
}

/// Reads a value in TL's boxed form.
pub trait Deserializable: Sized {
    /// Reads one value from `r`.
    ///
    /// # Errors
    /// Truncated input, an unexpected constructor, an impossible length, too deep nesting.
    fn deserialize(r: &mut Reader<'_>) -> Result<Self, DeserializeError>;

    /// Reads one value from the start of `bytes` (trailing bytes are ignored).
    ///
    /// # Errors
    /// As [`Deserializable::deserialize`].
    fn from_bytes(bytes: &[u8]) -> Result<Self, DeserializeError> {
        Self::deserialize(&mut Reader::new(bytes))
    }
}

/// A TL function: serializable, with the type its result decodes to.
pub trait RemoteCall: Serializable {
    /// The decoded result type.
    type Return: Deserializable;
}

macro_rules! prim {
    ($t:ty, $w:ident, $r:ident) => {
        impl Serializable for $t {
            fn serialize(&self, buf: &mut Vec<u8>) {
                ser::$w(buf, self)
            }
        }
        impl Deserializable for $t {
            fn deserialize(r: &mut Reader<'_>) -> Result<Self, DeserializeError> {
                r.$r()
            }
        }
    };
}
prim!(i32, i32, i32);
prim!(i64, i64, i64);
prim!(f64, f64, f64);
prim!(bool, bool, bool);
prim!(String, string, string);
prim!([u8; 16], int128, int128);
prim!([u8; 32], int256, int256);

/// `Vector<T>` (boxed). `bytes` is `Vec<u8>` and is written by the generated code directly.
impl<T: Serializable> Serializable for Vec<T> {
    fn serialize(&self, buf: &mut Vec<u8>) {
        ser::u32(buf, ser::VECTOR_ID);
        ser::u32(buf, self.len() as u32);
        for x in self {
            x.serialize(buf);
        }
    }
}

impl<T: Deserializable> Deserializable for Vec<T> {
    fn deserialize(r: &mut Reader<'_>) -> Result<Self, DeserializeError> {
        let n = r.vector_len(true, 4)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::deserialize(r)?);
        }
        Ok(v)
    }
}

impl<T: Serializable + ?Sized> Serializable for &T {
    fn serialize(&self, buf: &mut Vec<u8>) {
        (**self).serialize(buf)
    }
}

impl<T: RemoteCall + ?Sized> RemoteCall for &T {
    type Return = T::Return;
}

impl<T: Serializable + ?Sized> Serializable for Box<T> {
    fn serialize(&self, buf: &mut Vec<u8>) {
        (**self).serialize(buf)
    }
}

impl<T: Deserializable> Deserializable for Box<T> {
    fn deserialize(r: &mut Reader<'_>) -> Result<Self, DeserializeError> {
        T::deserialize(r).map(Box::new)
    }
}

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/generated.rs"));
}
pub use generated::{enums, functions, name_of, reencode_boxed, types};

#[cfg(test)]
mod tests;
