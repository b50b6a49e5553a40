//! The JSON mapping of TL values.
//!
//! | TL                     | JSON                                                  |
//! |------------------------|-------------------------------------------------------|
//! | constructor / function | object, `"_"` holds the TL name, fields by schema name |
//! | `int`, `double`        | number                                                |
//! | `long`                 | integer (a decimal string is accepted on input)       |
//! | `string`               | string                                                |
//! | `bytes`                | standard base64 string                                |
//! | `int128`, `int256`     | lowercase hex of the wire bytes                       |
//! | `Bool`, `flags.N?true` | boolean (`false` flags may be omitted)                |
//! | `Vector<T>`            | array                                                 |
//!
//! Absent optional fields are omitted; flag words never appear (they are computed).

use super::{CodecError, Object, Schema, Value};
use crate::schema_def::{ParamKind, Ty};
use base64::Engine as _;
use serde_json::{Map, Value as Json};

/// The JSON form of a value.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Int(x) => Json::from(*x),
        Value::Long(x) => Json::from(*x),
        Value::Double(x) => serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(to_base64(b)),
        Value::Bool(b) => Json::Bool(*b),
        Value::Int128(b) => Json::String(to_hex(b)),
        Value::Int256(b) => Json::String(to_hex(&b[..])),
        Value::Vector(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Object(o) => object_to_json(o),
    }
}

/// The JSON form of an object: `{"_": name, field: value, ...}`.
pub fn object_to_json(o: &Object) -> Json {
    let mut m = Map::with_capacity(o.fields.len() + 1);
    m.insert("_".into(), Json::String(o.name.to_string()));
    for (k, v) in &o.fields {
        m.insert(k.to_string(), to_json(v));
    }
    Json::Object(m)
}

/// `bytes` as text: standard base64 (what JSON and scripts show).
pub fn to_base64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Lowercase hex.
pub fn to_hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

/// Parses hex (either case, even length).
///
/// # Errors
/// An odd length or a non-hex character, with its position.
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", s.len()));
    }
    let digit = |c: u8, i: usize| -> Result<u8, String> {
        (c as char)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("invalid hex character {:?} at position {i}", c as char))
    };
    s.as_bytes()
        .chunks(2)
        .enumerate()
        .map(|(i, p)| Ok(digit(p[0], 2 * i)? << 4 | digit(p[1], 2 * i + 1)?))
        .collect()
}

fn err(path: &str, message: impl Into<String>) -> CodecError {
    CodecError {
        path: path.to_string(),
        message: message.into(),
    }
}

fn json_kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_f64() => "number",
        Json::Number(_) => "integer",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

impl Schema {
    /// Builds an object from its JSON form, checking names and field types against the schema.
    ///
    /// # Errors
    /// Not an object, no `"_"`, an unknown name or field, or a field of the wrong JSON type,
    /// with the path (`messages.sendMessage.peer`) and what was expected.
    pub fn object_from_json(&self, j: &Json) -> Result<Object, CodecError> {
        self.obj_from_json(j, "")
    }

    fn obj_from_json(&self, j: &Json, path: &str) -> Result<Object, CodecError> {
        let Json::Object(m) = j else {
            return Err(err(
                path,
                format!("expected an object with \"_\", got {}", json_kind(j)),
            ));
        };
        let name = match m.get("_") {
            Some(Json::String(s)) => s.as_str(),
            Some(other) => {
                return Err(err(
                    path,
                    format!("\"_\" must be a string TL name, got {}", json_kind(other)),
                ))
            }
            None => {
                return Err(err(
                    path,
                    "missing \"_\" (the TL name, e.g. \"inputPeerSelf\")",
                ))
            }
        };
        let def = self
            .get(name)
            .ok_or_else(|| self.unknown_name(path, name))?;
        let here = if path.is_empty() {
            name.to_string()
        } else {
            path.to_string()
        };
        let mut obj = Object::new(def.full_name());
        for (k, v) in m {
            if k == "_" {
                continue;
            }
            let fpath = format!("{here}.{k}");
            let Some(p) = def.params.iter().find(|p| p.name == *k) else {
                // Let the encoder produce the one "unknown field" message with suggestions.
                let mut probe = Object::new(def.full_name());
                probe.fields.push((k.clone().into(), Value::Bool(false)));
                return Err(self.encode(&probe).err().map_or_else(
                    || err(&fpath, "unknown field"),
                    |mut e| {
                        e.path = fpath.clone();
                        e
                    },
                ));
            };
            let value = match &p.kind {
                ParamKind::Flags => {
                    return Err(err(
                        &fpath,
                        "flag words are computed from the fields present; leave them out",
                    ))
                }
                ParamKind::Value { .. } if p.is_true_flag() => match v {
                    Json::Bool(b) => Value::Bool(*b),
                    other => {
                        return Err(err(
                            &fpath,
                            format!("expected boolean (a flag), got {}", json_kind(other)),
                        ))
                    }
                },
                ParamKind::Value { ty, .. } => {
                    if v.is_null() && p.flag().is_some() {
                        continue; // null means absent for optional fields
                    }
                    self.value_from_json(v, ty, &fpath)?
                }
            };
            obj.fields.push((k.clone().into(), value));
        }
        Ok(obj)
    }

    fn value_from_json(&self, j: &Json, ty: &Ty, path: &str) -> Result<Value, CodecError> {
        let mismatch = |want: &str| {
            err(
                path,
                format!("expected {want} ({ty}), got {}", json_kind(j)),
            )
        };
        if let Some(arg) = &ty.arg {
            let Json::Array(items) = j else {
                return Err(mismatch("array"));
            };
            return items
                .iter()
                .enumerate()
                .map(|(i, x)| self.value_from_json(x, arg, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()
                .map(Value::Vector);
        }
        if ty.namespace.is_none() && !ty.generic_ref {
            match ty.name.as_str() {
                "int" => {
                    let x = j.as_i64().ok_or_else(|| mismatch("integer"))?;
                    return i32::try_from(x).map(Value::Int).map_err(|_| {
                        err(
                            path,
                            format!("expected int, {x} is outside the 32-bit range"),
                        )
                    });
                }
                "long" => {
                    if let Some(x) = j.as_i64() {
                        return Ok(Value::Long(x));
                    }
                    if let Some(s) = j.as_str() {
                        return s.parse().map(Value::Long).map_err(|_| {
                            err(
                                path,
                                format!("expected long, {s:?} is not a 64-bit integer"),
                            )
                        });
                    }
                    return Err(mismatch("integer"));
                }
                "double" => {
                    return j
                        .as_f64()
                        .map(Value::Double)
                        .ok_or_else(|| mismatch("number"))
                }
                "string" => {
                    return j
                        .as_str()
                        .map(|s| Value::String(s.to_string()))
                        .ok_or_else(|| mismatch("string"))
                }
                "bytes" => {
                    let s = j.as_str().ok_or_else(|| mismatch("base64 string"))?;
                    return base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map(Value::Bytes)
                        .map_err(|e| err(path, format!("expected standard base64 (bytes): {e}")));
                }
                "int128" | "int256" => {
                    let n = if ty.name == "int128" { 16 } else { 32 };
                    let s = j.as_str().ok_or_else(|| mismatch("hex string"))?;
                    let b = from_hex(s)
                        .map_err(|e| err(path, format!("expected {} hex digits: {e}", 2 * n)))?;
                    if b.len() != n {
                        return Err(err(
                            path,
                            format!("expected {} hex digits ({ty}), got {}", 2 * n, 2 * b.len()),
                        ));
                    }
                    return Ok(if n == 16 {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(&b);
                        Value::Int128(a)
                    } else {
                        let mut a = [0u8; 32];
                        a.copy_from_slice(&b);
                        Value::Int256(Box::new(a))
                    });
                }
                "Bool" => {
                    return j
                        .as_bool()
                        .map(Value::Bool)
                        .ok_or_else(|| mismatch("boolean"))
                }
                _ => {}
            }
        }
        match j {
            Json::Object(_) => self.obj_from_json(j, path).map(Value::Object),
            _ => Err(err(path, format!("expected {ty}, got {}", json_kind(j)))),
        }
    }
}
