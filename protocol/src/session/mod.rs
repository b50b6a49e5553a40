//! MTProto encrypted sessions (<https://core.telegram.org/mtproto/description>,
//! <https://core.telegram.org/mtproto/service_messages>), both ends, sans-IO.
//!
//! ```text
//! payload  = auth_key_id (8) | msg_key (16) | AES-IGE( plaintext )
//! plaintext = salt (8) | session_id (8) | msg_id (8) | seq_no (4) | length (4) | body | padding (12..1024)
//! body      = one TL object, or msg_container of messages, or gzip_packed
//! ```
//!
//! * [`plain`]: unencrypted messages (handshake).
//! * [`client::Session`]: the client end: msg_id/seq_no, containers, acks, gzip, salts,
//!   bad_msg handling, resends; produces [`client::Event`]s.
//! * [`server::ServerSession`]: the server end used by the local DC.
//!
//! Both are driven the same way: feed received payloads with `handle_incoming(bytes, now)`,
//! queue work, then call `poll_transmit(now, random)` until it returns `None` and send what it
//! returns; read results with `poll_event()`. `now` is Unix time in milliseconds; `random`
//! supplies padding bytes.

pub mod client;
pub mod msgid;
pub mod plain;
pub mod server;

use crate::crypto::{decrypt_message, encrypt_message, padding_len, AuthKey, DecryptError, Side};
use fleetgram_tl::mtproto::{GzipPacked, Message, MsgContainer};
use fleetgram_tl::{Deserializable, DeserializeError, Identifiable, Serializable};
use std::io::Read;

/// The largest body accepted after inflating a `gzip_packed` (a bomb stops here).
pub const MAX_INFLATED: usize = 16 * 1024 * 1024;
/// Bodies at least this large are sent gzip-compressed when that makes them smaller.
pub const GZIP_THRESHOLD: usize = 512;
/// Messages older than this (by msg_id time) are refused.
pub const MAX_PAST_SECS: i64 = 300;
/// Messages further ahead than this (by msg_id time) are refused.
pub const MAX_FUTURE_SECS: i64 = 30;

/// Errors for one incoming payload. None is a panic; after most of them the payload is
/// dropped and the session goes on (the caller may count them and close the connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Decryption failed (wrong key, tampered, malformed).
    #[error("decrypt: {0}")]
    Decrypt(#[from] DecryptError),
    /// The plaintext header is inconsistent.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Not our session.
    #[error("session_id {got:016x} is not ours ({expected:016x})")]
    WrongSession {
        /// Ours.
        expected: i64,
        /// Received.
        got: i64,
    },
    /// msg_id with the wrong parity for the sender.
    #[error("msg_id {0:016x} has the wrong parity")]
    BadMsgIdParity(i64),
    /// msg_id far from the current time.
    #[error("msg_id {0:016x} is outside the time window")]
    MsgIdOutOfWindow(i64),
    /// A msg_id already seen (replay).
    #[error("msg_id {0:016x} was already received")]
    Duplicate(i64),
    /// A TL body that could not be decoded.
    #[error("decode: {0}")]
    Decode(#[from] DeserializeError),
    /// A gzip body that could not be inflated or was too large.
    #[error("gzip: {0}")]
    Gzip(String),
    /// Over a per-session limit (a server answers with transport error -429).
    #[error("session limit: {0}")]
    Flood(String),
}

/// An RPC error: `FLOOD_WAIT_31` -> name `FLOOD_WAIT`, value `Some(31)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The numeric code (303, 400, 401, 420, 500...).
    pub code: i32,
    /// The name without the trailing number.
    pub name: String,
    /// The trailing number, if any (`FLOOD_WAIT_31` -> 31).
    pub value: Option<u32>,
}

impl RpcError {
    /// Parses `rpc_error` fields.
    pub fn new(code: i32, message: &str) -> Self {
        if let Some((head, tail)) = message.rsplit_once('_') {
            if let Ok(v) = tail.parse::<u32>() {
                return Self {
                    code,
                    name: head.to_string(),
                    value: Some(v),
                };
            }
        }
        Self {
            code,
            name: message.to_string(),
            value: None,
        }
    }

    /// Whether the name matches `pattern`, where a trailing `*` matches any suffix
    /// (`err.is("FLOOD_*")`).
    pub fn is(&self, pattern: &str) -> bool {
        match pattern.strip_suffix('*') {
            Some(prefix) => self.name.starts_with(prefix),
            None => self.name == pattern,
        }
    }

    /// The message as Telegram wrote it (`FLOOD_WAIT_31`).
    pub fn message(&self) -> String {
        match self.value {
            Some(v) => format!("{}_{v}", self.name),
            None => self.name.clone(),
        }
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rpc error {}: {}", self.code, self.message())
    }
}

impl std::error::Error for RpcError {}

/// The decrypted header and body of one encrypted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Server salt.
    pub salt: i64,
    /// Session id.
    pub session_id: i64,
    /// The message.
    pub message: Message,
}

/// Encrypts one message. `random` supplies the padding (at least 28 bytes).
pub fn seal(
    key: &AuthKey,
    sender: Side,
    salt: i64,
    session_id: i64,
    message: &Message,
    random: &[u8],
) -> Vec<u8> {
    let mut plain = Vec::with_capacity(32 + message.body.len() + 32);
    plain.extend_from_slice(&salt.to_le_bytes());
    plain.extend_from_slice(&session_id.to_le_bytes());
    message.serialize_bare(&mut plain);
    let pad = padding_len(plain.len(), 0);
    let mut padding = [0u8; 32];
    let n = random.len().min(pad);
    padding[..n].copy_from_slice(&random[..n]);
    encrypt_message(key, sender, &plain, &padding[..pad]).expect("padded to whole blocks")
}

/// Decrypts one message sent by `sender` and checks its header (padding 12..1024, length).
///
/// # Errors
/// [`SessionError::Decrypt`] or [`SessionError::Malformed`].
pub fn open(key: &AuthKey, sender: Side, payload: &[u8]) -> Result<Sealed, SessionError> {
    open_plain(key, sender, payload).map(|(s, _)| s)
}

/// Like [`open`], also returning the payload's quick-ack token (see
/// [`crate::crypto::quick_ack_token`]), which a server sends back when the client asked.
///
/// # Errors
/// As [`open`].
pub fn open_with_ack(
    key: &AuthKey,
    sender: Side,
    payload: &[u8],
) -> Result<(Sealed, u32), SessionError> {
    let (sealed, plain) = open_plain(key, sender, payload)?;
    Ok((sealed, crate::crypto::quick_ack_token(key, &plain)))
}

/// Decrypts and parses; also returns the plaintext (for the quick-ack token).
fn open_plain(
    key: &AuthKey,
    sender: Side,
    payload: &[u8],
) -> Result<(Sealed, Vec<u8>), SessionError> {
    // Padded-intermediate framing may leave up to 15 extra bytes.
    let usable = if payload.len() >= 24 {
        24 + (payload.len() - 24) / 16 * 16
    } else {
        payload.len()
    };
    let plain = decrypt_message(key, sender, &payload[..usable])?;
    if plain.len() < 32 {
        return Err(SessionError::Malformed("shorter than its header".into()));
    }
    let salt = i64::from_le_bytes(plain[0..8].try_into().expect("8"));
    let session_id = i64::from_le_bytes(plain[8..16].try_into().expect("8"));
    let msg_id = i64::from_le_bytes(plain[16..24].try_into().expect("8"));
    let seq_no = i32::from_le_bytes(plain[24..28].try_into().expect("4"));
    let len = i32::from_le_bytes(plain[28..32].try_into().expect("4"));
    if len < 0 || len % 4 != 0 {
        return Err(SessionError::Malformed(format!("message length {len}")));
    }
    let pad = (plain.len() - 32) as i64 - len as i64;
    if !(12..=1024).contains(&pad) {
        return Err(SessionError::Malformed(format!(
            "message length {len} leaves {pad} bytes of padding"
        )));
    }
    let body = plain[32..32 + len as usize].to_vec();
    Ok((
        Sealed {
            salt,
            session_id,
            message: Message {
                msg_id,
                seqno: seq_no,
                body,
            },
        },
        plain,
    ))
}

/// The constructor id at the start of a body.
pub fn constructor_of(body: &[u8]) -> Option<u32> {
    body.get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4")))
}

/// Inflates `gzip_packed` bodies (with the size cap), leaving others as they are.
///
/// # Errors
/// [`SessionError::Gzip`] for invalid data or a body over [`MAX_INFLATED`].
pub fn inflate_if_packed(body: Vec<u8>) -> Result<Vec<u8>, SessionError> {
    if constructor_of(&body) != Some(GzipPacked::CONSTRUCTOR_ID) {
        return Ok(body);
    }
    let packed = GzipPacked::from_bytes(&body)?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&packed.packed_data[..])
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| SessionError::Gzip(e.to_string()))?;
    if out.len() > MAX_INFLATED {
        return Err(SessionError::Gzip(format!(
            "inflated body exceeds {MAX_INFLATED} bytes"
        )));
    }
    Ok(out)
}

/// `gzip_packed` of `body` when that is smaller, otherwise `body`.
pub fn maybe_deflate(body: Vec<u8>) -> Vec<u8> {
    if body.len() < GZIP_THRESHOLD {
        return body;
    }
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if enc.write_all(&body).is_err() {
        return body;
    }
    match enc.finish() {
        Ok(packed) if packed.len() + 8 < body.len() => GzipPacked {
            packed_data: packed,
        }
        .to_bytes(),
        _ => body,
    }
}

/// Splits a received message into the messages it carries (containers unpacked one level;
/// a container inside a container is malformed).
///
/// # Errors
/// A malformed container.
pub fn unpack(message: Message) -> Result<Vec<Message>, SessionError> {
    if constructor_of(&message.body) != Some(MsgContainer::CONSTRUCTOR_ID) {
        return Ok(vec![message]);
    }
    let c = MsgContainer::from_bytes(&message.body)?;
    for m in &c.messages {
        if constructor_of(&m.body) == Some(MsgContainer::CONSTRUCTOR_ID) {
            return Err(SessionError::Malformed(
                "container inside a container".into(),
            ));
        }
    }
    Ok(c.messages)
}

/// Whether a body needs an acknowledgment (everything but acks and containers).
pub fn is_content_related(body: &[u8]) -> bool {
    !matches!(
        constructor_of(body),
        Some(fleetgram_tl::types::MsgsAck::CONSTRUCTOR_ID) | Some(MsgContainer::CONSTRUCTOR_ID)
    )
}

/// Numbering and packing of outgoing messages, the same at both ends: msg_ids, seq_no
/// (content-related messages `2n+1`, others `2n`), the pending acks, and containers.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) ids: msgid::MsgIdGen,
    seq: i32,
    pub(crate) acks: Vec<i64>,
}

impl Outbox {
    /// The seq_no of the next message.
    pub(crate) fn next_seq(&mut self, content: bool) -> i32 {
        if content {
            self.seq += 1;
            self.seq * 2 - 1
        } else {
            self.seq * 2
        }
    }

    /// Starts the seq_no over (a new session).
    pub(crate) fn reset_seq(&mut self) {
        self.seq = 0;
    }

    /// Moves the content counter (after bad_msg_notification 32/33).
    pub(crate) fn shift_seq(&mut self, by: i32) {
        self.seq = (self.seq + by).max(0);
    }

    /// A numbered message for `body`.
    pub(crate) fn message(&mut self, body: Vec<u8>, parity: msgid::Parity, now_ms: i64) -> Message {
        let msg_id = self.ids.next(now_ms, parity);
        let seqno = self.next_seq(is_content_related(&body));
        Message {
            msg_id,
            seqno,
            body,
        }
    }

    /// Starts a payload with the pending acks, if any.
    pub(crate) fn begin(&mut self, parity: msgid::Parity, now_ms: i64) -> Vec<Message> {
        let mut messages = Vec::new();
        if !self.acks.is_empty() {
            let n = self.acks.len().min(8192);
            let ack = fleetgram_tl::types::MsgsAck {
                msg_ids: self.acks.drain(..n).collect(),
            }
            .to_bytes();
            messages.push(self.message(ack, parity, now_ms));
        }
        messages
    }

    /// A container of `messages` (even of one: a message sent again with its msg_id must
    /// not travel alone), with the ids it holds.
    pub(crate) fn container(
        &mut self,
        messages: Vec<Message>,
        parity: msgid::Parity,
        now_ms: i64,
    ) -> (Message, Option<Vec<i64>>) {
        let inner = messages.iter().map(|m| m.msg_id).collect();
        let body = MsgContainer { messages }.to_bytes();
        (self.message(body, parity, now_ms), Some(inner))
    }

    /// Closes a payload: nothing, the one message, or a container of them (with the ids it
    /// holds).
    pub(crate) fn finish(
        &mut self,
        mut messages: Vec<Message>,
        parity: msgid::Parity,
        now_ms: i64,
    ) -> Option<(Message, Option<Vec<i64>>)> {
        match messages.len() {
            0 => None,
            1 => messages.pop().map(|m| (m, None)),
            _ => {
                let inner = messages.iter().map(|m| m.msg_id).collect();
                let body = MsgContainer { messages }.to_bytes();
                Some((self.message(body, parity, now_ms), Some(inner)))
            }
        }
    }
}

#[cfg(test)]
mod tests;
