//! Answering each client in its own layer, as Telegram does.
//!
//! The DC works in the bundled layer ([`fleetgram_tl::LAYER`]). A client that declared an
//! older one with `invokeWithLayer` (remembered per auth key and per session) has its
//! requests read with its layer's schema and rewritten into the DC's by constructor name, and
//! its answers and updates rewritten back ([`fleetgram_tl::dynamic::layers`]). What cannot
//! be converted is logged here with its path and answered with an RPC error (or, for an
//! update, not sent to that session): never a wrong byte.

use crate::errors::RpcErr;
use fleetgram_tl::dynamic::{layers, schema, Schema};

/// The schema of `layer` when it differs from the DC's (`None`: no conversion).
///
/// # Errors
/// `CONNECTION_LAYER_INVALID` for a layer older than the oldest shipped one.
pub(crate) fn client_schema(layer: i32) -> Result<Option<&'static Schema>, RpcErr> {
    layers::schema_for(layer).map_err(|e| {
        tracing::warn!(layer, error = %e, "refusing a client layer");
        RpcErr::bad_request("CONNECTION_LAYER_INVALID")
    })
}

/// A request `body` of a client of `layer` (`client` its schema), in the DC's layer.
///
/// # Errors
/// `INPUT_CONSTRUCTOR_INVALID` when it cannot be read or has no counterpart here.
pub(crate) fn request_in(
    layer: i32,
    client: &'static Schema,
    body: &[u8],
) -> Result<Vec<u8>, RpcErr> {
    let converted = client
        .decode(body)
        .and_then(|obj| schema().adopt(&obj))
        .and_then(|obj| schema().encode(&obj));
    converted.map_err(|e| {
        tracing::warn!(layer, error = %e, "cannot convert a request from the client's layer");
        RpcErr::bad_request("INPUT_CONSTRUCTOR_INVALID")
    })
}

/// The answer `bytes` (DC layer) to the request `body` (DC layer), in the client's layer.
///
/// # Errors
/// `CONNECTION_LAYER_INVALID` when the answer has no form in the client's layer.
pub(crate) fn answer_out(
    layer: i32,
    client: &'static Schema,
    body: &[u8],
    bytes: &[u8],
) -> Result<Vec<u8>, RpcErr> {
    let id = body
        .get(..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let fail = |e: &dyn std::fmt::Display| {
        tracing::warn!(layer, method = fleetgram_tl::name_of(id).unwrap_or("?"), error = %e, "cannot convert an answer to the client's layer");
        RpcErr::bad_request("CONNECTION_LAYER_INVALID")
    };
    let Some(def) = schema().by_id(id) else {
        return Ok(bytes.to_vec());
    };
    let function = def.full_name();
    // The result type as the client's schema has it (a function both layers know).
    let ty = client
        .get(&function)
        .map_or_else(|| def.result.to_string(), |d| d.result.to_string());
    let value = schema()
        .decode_result(&function, bytes)
        .map_err(|e| fail(&e))?;
    let value = client.adopt_as(&value, &ty).map_err(|e| fail(&e))?;
    let mut out = Vec::with_capacity(bytes.len());
    client
        .encode_as(&value, &ty, &mut out)
        .map_err(|e| fail(&e))?;
    Ok(out)
}

/// A pushed `Updates` object in the client's layer; `None` (logged) when it has no form
/// there.
pub(crate) fn push_out(layer: i32, body: &[u8]) -> Option<Vec<u8>> {
    let client = match layers::schema_for(layer) {
        Ok(Some(s)) => s,
        _ => return Some(body.to_vec()),
    };
    let converted = schema()
        .decode(body)
        .and_then(|obj| client.adopt(&obj))
        .and_then(|obj| client.encode(&obj));
    match converted {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!(layer, error = %e, "an update has no form in the client's layer; not sent to it");
            None
        }
    }
}
