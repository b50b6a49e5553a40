//! The error a call is answered with (`rpc_error`), shared by the handlers and the layer
//! conversion.

use fleetgram_tl::DeserializeError;

/// An RPC error as sent in `rpc_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RpcErr {
    pub code: i32,
    pub message: String,
}

impl RpcErr {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
}

impl From<DeserializeError> for RpcErr {
    fn from(_: DeserializeError) -> Self {
        RpcErr::bad_request("INPUT_FETCH_ERROR")
    }
}

pub(crate) type RpcResult = Result<Vec<u8>, RpcErr>;
