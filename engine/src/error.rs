//! The engine's error types.

use fleetgram_protocol::session::RpcError;
use std::time::Duration;

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvocationError {
    /// Telegram answered with an `rpc_error` the call policy did not retry.
    #[error("{method}: {code} {name}{}", value.map(|v| format!("_{v}")).unwrap_or_default())]
    Rpc {
        /// The TL name of the method.
        method: String,
        /// The numeric code.
        code: i32,
        /// The error name without the trailing number.
        name: String,
        /// The trailing number, if any.
        value: Option<u32>,
    },
    /// A FLOOD_WAIT longer than the policy is willing to sleep.
    #[error("{method}: FLOOD_WAIT of {} s is above the policy's threshold", wait.as_secs())]
    FloodWait {
        /// The TL name of the method.
        method: String,
        /// How long Telegram asked to wait.
        wait: Duration,
    },
    /// The connection could not be (re-)established.
    #[error("DC {dc}: {reason}")]
    Io {
        /// The DC.
        dc: i32,
        /// What went wrong.
        reason: String,
    },
    /// No answer within the configured request timeout.
    #[error("{method}: no answer within {} s", timeout.as_secs())]
    Timeout {
        /// The TL name of the method.
        method: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The answer could not be decoded as the method's result type.
    #[error("{method}: malformed answer: {reason}")]
    Decode {
        /// The TL name of the method.
        method: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// A dynamic call named an unknown method or had wrong arguments.
    #[error("{0}")]
    BadRequest(String),
    /// The client was shut down.
    #[error("the client was shut down")]
    Dropped,
    /// The session store failed.
    #[error(transparent)]
    Store(#[from] crate::state::StoreError),
}

impl InvocationError {
    pub(crate) fn from_rpc(method: &str, e: RpcError) -> Self {
        InvocationError::Rpc {
            method: method.to_string(),
            code: e.code,
            name: e.name,
            value: e.value,
        }
    }

    /// A short name of the error for counting: the RPC error's name, or the kind.
    pub fn kind_name(&self) -> &str {
        match self {
            Self::Rpc { name, .. } => name,
            Self::FloodWait { .. } => "FLOOD_WAIT",
            Self::Io { .. } => "io",
            Self::Timeout { .. } => "timeout",
            Self::Decode { .. } => "decode",
            Self::BadRequest(_) => "bad_request",
            Self::Dropped => "dropped",
            Self::Store(_) => "store",
        }
    }

    /// Whether this is the RPC error `name` (without trailing number), e.g. `"PHONE_CODE_INVALID"`.
    pub fn is(&self, name: &str) -> bool {
        matches!(self, InvocationError::Rpc { name: n, .. } if n == name)
    }

    /// The RPC error code, if this is an RPC error.
    pub fn code(&self) -> Option<i32> {
        match self {
            InvocationError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}
