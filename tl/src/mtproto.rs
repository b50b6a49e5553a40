//! The MTProto objects TL cannot describe, written by hand
//! (<https://core.telegram.org/mtproto/service_messages>):
//!
//! ```text
//! rpc_result#f35c6d01 req_msg_id:long result:Object = RpcResult;
//! msg_container#73f1f8dc messages:vector<%Message> = MessageContainer;
//! message msg_id:long seqno:int bytes:int body:Object = Message;   (bare, inside containers)
//! gzip_packed#3072cfa1 packed_data:bytes = Object;
//! ```
//!
//! `Object` payloads stay raw bytes here: the caller decides what type to decode them as.

use crate::{ser, Deserializable, DeserializeError, Identifiable, Reader, Serializable};

/// `rpc_result`: the answer to the request `req_msg_id`; `result` is the raw boxed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcResult {
    /// The msg_id of the request.
    pub req_msg_id: i64,
    /// The boxed result (possibly `rpc_error` or `gzip_packed`).
    pub result: Vec<u8>,
}

impl Identifiable for RpcResult {
    const CONSTRUCTOR_ID: u32 = 0xf35c6d01;
    const NAME: &'static str = "rpc_result";
}

impl Serializable for RpcResult {
    fn serialize(&self, buf: &mut Vec<u8>) {
        ser::u32(buf, Self::CONSTRUCTOR_ID);
        ser::i64(buf, &self.req_msg_id);
        buf.extend_from_slice(&self.result);
    }
}

impl Deserializable for RpcResult {
    /// Takes the rest of the input as the result.
    fn deserialize(r: &mut Reader<'_>) -> Result<Self, DeserializeError> {
        r.expect_id(Self::CONSTRUCTOR_ID, Self::NAME)?;
        let req_msg_id = r.i64()?;
        let result = r.take(r.remaining())?.to_vec();
        Ok(Self { req_msg_id, result })
    }
}

/// One message inside a container (bare `message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its msg_id.
    pub msg_id: i64,
    /// Its seq_no.
    pub seqno: i32,
    /// The boxed body; its length is the `bytes` field.
    pub body: Vec<u8>,
}

impl Message {
    /// Largest body accepted inside a container.
    pub const MAX_BODY: usize = 1 << 20;

    /// Writes the bare message.
    pub fn serialize_bare(&self, buf: &mut Vec<u8>) {
        ser::i64(buf, &self.msg_id);
        ser::i32(buf, &self.seqno);
        ser::i32(buf, &(self.body.len() as i32));
        buf.extend_from_slice(&self.body);
    }

    /// Reads a bare message.
    ///
    /// # Errors
    /// Truncated input, or a body length that is negative, not a multiple of 4 or too long.
    pub fn deserialize_bare(r: &mut Reader<'_>) -> Result<Self, DeserializeError> {
        let msg_id = r.i64()?;
        let seqno = r.i32()?;
        let offset = r.position();
        let len = r.i32()?;
        if len < 0 || len % 4 != 0 || len as usize > Self::MAX_BODY || len as usize > r.remaining()
        {
            return Err(DeserializeError::BadLength {
                offset,
                len: len as i64,
            });
        }
        let body = r.take(len as usize)?.to_vec();
        Ok(Self {
            msg_id,
            seqno,
            body,
        })
    }
}

/// `msg_container`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MsgContainer {
    /// The messages, in order.
    pub messages: Vec<Message>,
}

impl MsgContainer {
    /// Most messages one container may carry.
    pub const MAX_MESSAGES: usize = 1020;
}

impl Identifiable for MsgContainer {
    const CONSTRUCTOR_ID: u32 = 0x73f1f8dc;
    const NAME: &'static str = "msg_container";
}

impl Serializable for MsgContainer {
    fn serialize(&self, buf: &mut Vec<u8>) {
        ser::u32(buf, Self::CONSTRUCTOR_ID);
        ser::u32(buf, self.messages.len() as u32);
        for m in &self.messages {
            m.serialize_bare(buf);
        }
    }
}

impl Deserializable for MsgContainer {
    fn deserialize(r: &mut Reader<'_>) -> Result<Self, DeserializeError> {
        r.expect_id(Self::CONSTRUCTOR_ID, Self::NAME)?;
        let offset = r.position();
        let n = r.vector_len(false, 16)?;
        if n > Self::MAX_MESSAGES {
            return Err(DeserializeError::BadLength {
                offset,
                len: n as i64,
            });
        }
        let mut messages = Vec::with_capacity(n);
        for _ in 0..n {
            messages.push(Message::deserialize_bare(r)?);
        }
        Ok(Self { messages })
    }
}

/// `gzip_packed`: `packed_data` is gzip; the protocol layer inflates it with a size cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GzipPacked {
    /// The compressed boxed object.
    pub packed_data: Vec<u8>,
}

impl Identifiable for GzipPacked {
    const CONSTRUCTOR_ID: u32 = 0x3072cfa1;
    const NAME: &'static str = "gzip_packed";
}

impl Serializable for GzipPacked {
    fn serialize(&self, buf: &mut Vec<u8>) {
        ser::u32(buf, Self::CONSTRUCTOR_ID);
        ser::bytes(buf, &self.packed_data);
    }
}

impl Deserializable for GzipPacked {
    fn deserialize(r: &mut Reader<'_>) -> Result<Self, DeserializeError> {
        r.expect_id(Self::CONSTRUCTOR_ID, Self::NAME)?;
        Ok(Self {
            packed_data: r.bytes()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_round_trip_and_checks() {
        let c = MsgContainer {
            messages: vec![
                Message {
                    msg_id: 1,
                    seqno: 1,
                    body: vec![1, 2, 3, 4],
                },
                Message {
                    msg_id: 2,
                    seqno: 3,
                    body: vec![0; 8],
                },
            ],
        };
        let b = c.to_bytes();
        assert_eq!(MsgContainer::from_bytes(&b).unwrap(), c);
        // A body length not a multiple of 4 is rejected.
        let mut bad = b.clone();
        bad[8 + 12] = 3;
        assert!(matches!(
            MsgContainer::from_bytes(&bad),
            Err(DeserializeError::BadLength { .. })
        ));
        // Truncation is an error, not a panic.
        for n in 0..b.len() {
            assert!(MsgContainer::from_bytes(&b[..n]).is_err());
        }
    }

    #[test]
    fn rpc_result_takes_the_rest() {
        let r = RpcResult {
            req_msg_id: 7,
            result: vec![9; 12],
        };
        assert_eq!(RpcResult::from_bytes(&r.to_bytes()).unwrap(), r);
        let g = GzipPacked {
            packed_data: vec![1; 300],
        };
        assert_eq!(GzipPacked::from_bytes(&g.to_bytes()).unwrap(), g);
    }
}
