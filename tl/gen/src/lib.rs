//! TL schema tooling shared by build time and run time.
//!
//! * [`parser`] reads `.tl` files (the grammar of Telegram's `api.tl` / `mtproto.tl`) into
//!   [`parser::Definition`]s. The same parser feeds the build-time code generator and the
//!   run-time dynamic codec of `fleetgram-tl`, so both always agree on the schema.
//! * [`naming`] owns every TL-to-Rust naming rule.
//! * [`codegen`] writes the typed Rust API into any [`std::io::Write`].
//!
//! See <https://core.telegram.org/mtproto/TL> for the language itself.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod codegen;
pub mod naming;
pub mod parser;

pub use parser::{parse_schema, Category, Definition, Flag, Parameter, ParseError, Ty};
