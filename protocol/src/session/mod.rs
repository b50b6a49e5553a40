//! MTProto sessions (<https://core.telegram.org/mtproto/description>).
//!
//! * [`plain`]: unencrypted messages (`auth_key_id = 0`), used by the handshake.

pub mod plain;
