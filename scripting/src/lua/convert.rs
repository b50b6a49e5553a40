//! Values between Lua and JSON, with nesting and cycle limits and the path of what was wrong.

use super::*;

/// JSON -> Lua (null becomes nil).
pub fn to_lua(lua: &Lua, v: &Json) -> mlua::Result<Value> {
    Ok(match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for (i, x) in a.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, x)?)?;
            }
            Value::Table(t)
        }
        Json::Object(m) => {
            let t = lua.create_table_with_capacity(0, m.len())?;
            for (k, x) in m {
                if !x.is_null() {
                    t.raw_set(k.as_str(), to_lua(lua, x)?)?;
                }
            }
            Value::Table(t)
        }
    })
}

/// A TL value (the schema's dynamic form) -> Lua, directly: the same shape as through JSON
/// (`{_ = name, field = value}`; `bytes` as base64 text, `int128`/`int256` as hex; a double
/// that is not a number as nil).
pub fn tl_to_lua(lua: &Lua, v: &fleetgram_tl::dynamic::Value) -> mlua::Result<Value> {
    use fleetgram_tl::dynamic::json::{to_base64, to_hex};
    use fleetgram_tl::dynamic::Value as Tl;
    Ok(match v {
        Tl::Int(x) => Value::Integer(i64::from(*x)),
        Tl::Long(x) => Value::Integer(*x),
        Tl::Double(x) if x.is_finite() => Value::Number(*x),
        Tl::Double(_) => Value::Nil,
        Tl::String(s) => Value::String(lua.create_string(s)?),
        Tl::Bytes(b) => Value::String(lua.create_string(to_base64(b))?),
        Tl::Bool(b) => Value::Boolean(*b),
        Tl::Int128(b) => Value::String(lua.create_string(to_hex(b))?),
        Tl::Int256(b) => Value::String(lua.create_string(to_hex(&b[..]))?),
        Tl::Vector(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, x) in items.iter().enumerate() {
                t.raw_set(i + 1, tl_to_lua(lua, x)?)?;
            }
            Value::Table(t)
        }
        Tl::Object(o) => {
            let t = lua.create_table_with_capacity(0, o.fields.len() + 1)?;
            t.raw_set("_", &*o.name)?;
            for (k, x) in &o.fields {
                t.raw_set(&**k, tl_to_lua(lua, x)?)?;
            }
            Value::Table(t)
        }
    })
}

/// Tables nested deeper than this (or containing themselves) are refused.
pub const MAX_DEPTH: usize = 64;

/// Lua -> JSON: a table with keys 1..n is an array, an empty table an empty array, other
/// tables objects with string keys (keys starting with `__` are the host's and left out);
/// integral floats become integers.
pub fn from_lua(lua: &Lua, v: Value) -> mlua::Result<Json> {
    let _ = lua;
    from_lua_at(v, "", &mut Vec::new())
}

/// `path: ` before a message about the value at `path` (nothing at the top).
fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// `open`: the tables being converted, outermost first (a table met again is a cycle).
fn from_lua_at(
    v: Value,
    path: &str,
    open: &mut Vec<*const std::ffi::c_void>,
) -> mlua::Result<Json> {
    Ok(match v {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(b),
        Value::Integer(i) => Json::from(i),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Json::from(n as i64),
        Value::Number(n) => serde_json::Number::from_f64(n)
            .map(Json::Number)
            .ok_or_else(|| {
                mlua::Error::runtime(format!("{}{n} is not a finite number", at(path)))
            })?,
        Value::String(s) => Json::String(s.to_string_lossy()),
        Value::Table(t) => {
            let ptr = t.to_pointer();
            if open.contains(&ptr) {
                return Err(mlua::Error::runtime(format!(
                    "{}a table that contains itself cannot be converted",
                    at(path)
                )));
            }
            if open.len() >= MAX_DEPTH {
                return Err(mlua::Error::runtime(format!(
                    "{}tables nested more than {MAX_DEPTH} deep cannot be converted",
                    at(path)
                )));
            }
            open.push(ptr);
            let r = table_to_json(&t, path, open);
            open.pop();
            r?
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "{}a {} cannot be passed to Telegram (expected a table, string, number or boolean)",
                at(path),
                other.type_name()
            )))
        }
    })
}

fn table_to_json(
    t: &Table,
    path: &str,
    open: &mut Vec<*const std::ffi::c_void>,
) -> mlua::Result<Json> {
    Ok({
        {
            let len = t.raw_len();
            let (mut ints, mut strs) = (0usize, 0usize);
            let mut object = serde_json::Map::new();
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair?;
                match k {
                    Value::Integer(i) if i >= 1 && (i as usize) <= len => ints += 1,
                    Value::String(s) => {
                        strs += 1;
                        let key = s.to_string_lossy();
                        if key.starts_with("__") {
                            continue;
                        }
                        let p = if path.is_empty() {
                            key.clone()
                        } else {
                            format!("{path}.{key}")
                        };
                        object.insert(key, from_lua_at(v, &p, open)?);
                    }
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "{}a table key must be a string (or 1..n for a list), got {}",
                            at(path),
                            other.type_name()
                        )))
                    }
                }
            }
            if strs == 0 {
                let mut a = Vec::with_capacity(len);
                for i in 1..=len {
                    a.push(from_lua_at(t.raw_get(i)?, &format!("{path}[{i}]"), open)?);
                }
                Json::Array(a)
            } else if ints > 0 {
                return Err(mlua::Error::runtime(format!(
                    "{}a table mixes list items and named fields",
                    at(path)
                )));
            } else {
                Json::Object(object)
            }
        }
    })
}
