//! Encoding and decoding of [`Value`]s, type-checked against the schema.

use super::{CodecError, Name, Object, Schema, Value};
use crate::schema_def::{Category, Definition, ParamKind, Ty};
use crate::{ser, DeserializeError, Reader, MAX_DEPTH};
use std::borrow::Cow;

fn err(path: &str, message: impl Into<String>) -> CodecError {
    CodecError {
        path: path.to_string(),
        message: message.into(),
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn de_err(path: &str, e: DeserializeError) -> CodecError {
    err(path, e.to_string())
}

const RPC_RESULT: u32 = 0xf35c6d01;
const MSG_CONTAINER: u32 = 0x73f1f8dc;
const GZIP_PACKED: u32 = 0x3072cfa1;

impl Schema {
    /// Encodes a constructor or function (boxed: its id first).
    ///
    /// # Errors
    /// An unknown name, an unknown or missing field, or a value of the wrong type, with the
    /// path of the value and what was expected.
    pub fn encode(&self, obj: &Object) -> Result<Vec<u8>, CodecError> {
        let mut buf = Vec::with_capacity(64);
        self.encode_object(obj, None, true, obj.name.as_ref(), &mut buf, 0)?;
        Ok(buf)
    }

    /// Encodes `value` as a value of the schema type written `ty` (`"InputPeer"`,
    /// `"Vector<long>"`, `"int"`), appending to `buf`.
    ///
    /// # Errors
    /// As [`Schema::encode`]; also an unparsable type.
    pub fn encode_as(&self, value: &Value, ty: &str, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        let t = parse_ty(ty)?;
        self.encode_value(value, &t, "", buf, 0)
    }

    fn encode_object(
        &self,
        obj: &Object,
        expected: Option<&Ty>,
        boxed: bool,
        path: &str,
        buf: &mut Vec<u8>,
        depth: u32,
    ) -> Result<(), CodecError> {
        if depth > MAX_DEPTH {
            return Err(err(path, format!("objects nested deeper than {MAX_DEPTH}")));
        }
        let def = self
            .get(&obj.name)
            .ok_or_else(|| self.unknown_name(path, &obj.name))?;
        if let Some(ty) = expected {
            self.check_kind(def, ty, path)?;
        }
        if boxed {
            ser::u32(buf, def.id);
        }
        self.encode_fields(def, obj, path, buf, depth)
    }

    /// Checks that constructor/function `def` may stand where type `ty` is expected.
    fn check_kind(&self, def: &Definition, ty: &Ty, path: &str) -> Result<(), CodecError> {
        if ty.generic_ref {
            if def.category != Category::Function {
                return Err(err(
                    path,
                    format!(
                        "expected a function call (any TL function), got constructor {}",
                        def.full_name()
                    ),
                ));
            }
            return Ok(());
        }
        if def.category == Category::Function {
            return Err(err(
                path,
                format!(
                    "expected {}, got function {}",
                    ty.full_name(),
                    def.full_name()
                ),
            ));
        }
        let want = ty.full_name();
        let ok = if ty.bare {
            def.full_name() == want || def.result.full_name() == want
        } else {
            def.result.full_name() == want
        };
        if !ok {
            return Err(err(
                path,
                format!(
                    "expected {want}, got {} (a {})",
                    def.full_name(),
                    def.result.full_name()
                ),
            ));
        }
        Ok(())
    }

    fn encode_fields(
        &self,
        def: &Definition,
        obj: &Object,
        path: &str,
        buf: &mut Vec<u8>,
        depth: u32,
    ) -> Result<(), CodecError> {
        for (name, _) in &obj.fields {
            match def.params.iter().find(|p| p.name == *name) {
                Some(p) if p.ty().is_none() => {
                    return Err(err(
                        &join(path, name),
                        "flag words are computed from the fields present; leave them out",
                    ))
                }
                Some(_) => {}
                None => {
                    let names: Vec<&str> = def
                        .params
                        .iter()
                        .filter(|p| p.ty().is_some())
                        .map(|p| p.name.as_str())
                        .collect();
                    let close = names
                        .iter()
                        .copied()
                        .min_by_key(|n| super::edit_distance(name, n));
                    let hint = match close {
                        Some(c) if super::edit_distance(name, c) <= 3 => {
                            format!(" (did you mean `{c}`?)")
                        }
                        _ => String::new(),
                    };
                    let expected = if names.is_empty() {
                        "no fields".to_string()
                    } else {
                        names.join(", ")
                    };
                    return Err(err(
                        &join(path, name),
                        format!(
                            "unknown field of {}{hint}; expected one of: {expected}",
                            def.full_name()
                        ),
                    ));
                }
            }
        }
        for p in &def.params {
            let fpath = join(path, &p.name);
            match &p.kind {
                ParamKind::Flags => {
                    let mut word = 0u32;
                    for q in &def.params {
                        let Some(f) = q.flag() else { continue };
                        if f.field != p.name {
                            continue;
                        }
                        let present = match obj.get(&q.name) {
                            None => false,
                            Some(Value::Bool(b)) if q.is_true_flag() => *b,
                            Some(v) if q.is_true_flag() => {
                                return Err(err(
                                    &join(path, &q.name),
                                    format!("expected bool (a flag), got {}", v.kind()),
                                ))
                            }
                            Some(_) => true,
                        };
                        if present {
                            word |= 1 << f.bit;
                        }
                    }
                    // Fields sharing a bit must all be present when it is set.
                    for q in &def.params {
                        if let Some(f) = q.flag() {
                            if f.field == p.name
                                && word & (1 << f.bit) != 0
                                && !q.is_true_flag()
                                && obj.get(&q.name).is_none()
                            {
                                return Err(err(
                                    &join(path, &q.name),
                                    format!(
                                        "required: it shares {}.{} with a field that is set",
                                        f.field, f.bit
                                    ),
                                ));
                            }
                        }
                    }
                    ser::u32(buf, word);
                }
                ParamKind::Value { ty, flag } => {
                    if p.is_true_flag() {
                        continue;
                    }
                    match (obj.get(&p.name), flag) {
                        (Some(v), _) => self.encode_value(v, ty, &fpath, buf, depth + 1)?,
                        (None, Some(_)) => {}
                        (None, None) => {
                            return Err(err(&fpath, format!("missing required field of type {ty}")))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn encode_value(
        &self,
        v: &Value,
        ty: &Ty,
        path: &str,
        buf: &mut Vec<u8>,
        depth: u32,
    ) -> Result<(), CodecError> {
        let mismatch = || err(path, format!("expected {ty}, got {}", v.kind()));
        if let Some(arg) = &ty.arg {
            let Value::Vector(items) = v else {
                return Err(mismatch());
            };
            if !ty.bare {
                ser::u32(buf, ser::VECTOR_ID);
            }
            ser::u32(buf, items.len() as u32);
            for (i, item) in items.iter().enumerate() {
                self.encode_value(item, arg, &format!("{path}[{i}]"), buf, depth + 1)?;
            }
            return Ok(());
        }
        if ty.namespace.is_none() && !ty.generic_ref {
            match ty.name.as_str() {
                "int" => {
                    let x = match v {
                        Value::Int(x) => *x,
                        Value::Long(x) => i32::try_from(*x).map_err(|_| {
                            err(
                                path,
                                format!("expected int, got {x} (out of the 32-bit range)"),
                            )
                        })?,
                        _ => return Err(mismatch()),
                    };
                    ser::i32(buf, &x);
                    return Ok(());
                }
                "long" => {
                    let x = match v {
                        Value::Long(x) => *x,
                        Value::Int(x) => *x as i64,
                        _ => return Err(mismatch()),
                    };
                    ser::i64(buf, &x);
                    return Ok(());
                }
                "double" => {
                    let x = match v {
                        Value::Double(x) => *x,
                        Value::Int(x) => *x as f64,
                        Value::Long(x) => *x as f64,
                        _ => return Err(mismatch()),
                    };
                    ser::f64(buf, &x);
                    return Ok(());
                }
                "string" | "bytes" => {
                    let b: &[u8] = match v {
                        Value::String(s) => s.as_bytes(),
                        Value::Bytes(b) => b,
                        _ => return Err(mismatch()),
                    };
                    if b.len() > ser::MAX_BYTES_LEN {
                        return Err(err(
                            path,
                            format!("{} bytes exceed TL's 16 MiB limit", b.len()),
                        ));
                    }
                    ser::bytes(buf, b);
                    return Ok(());
                }
                "int128" => {
                    let Value::Int128(x) = v else {
                        return Err(mismatch());
                    };
                    ser::int128(buf, x);
                    return Ok(());
                }
                "int256" => {
                    let Value::Int256(x) = v else {
                        return Err(mismatch());
                    };
                    ser::int256(buf, x);
                    return Ok(());
                }
                "Bool" => {
                    let Value::Bool(x) = v else {
                        return Err(mismatch());
                    };
                    ser::bool(buf, x);
                    return Ok(());
                }
                _ => {}
            }
        }
        let Value::Object(o) = v else {
            return Err(mismatch());
        };
        self.encode_object(o, Some(ty), !ty.bare, path, buf, depth)
    }

    /// Decodes one boxed constructor or function from the start of `bytes` (also the
    /// hand-written `rpc_result`, `msg_container` and `gzip_packed`).
    ///
    /// # Errors
    /// An unknown constructor id, truncated input, a constructor of the wrong type inside.
    pub fn decode(&'static self, bytes: &[u8]) -> Result<Object, CodecError> {
        let mut r = Reader::new(bytes);
        self.decode_any(&mut r, "", 0)
    }

    /// Decodes a value of the schema type written `ty` (`"Updates"`, `"Vector<long>"`).
    ///
    /// # Errors
    /// As [`Schema::decode`]; also an unparsable type.
    pub fn decode_as(&'static self, bytes: &[u8], ty: &str) -> Result<Value, CodecError> {
        let t = parse_ty(ty)?;
        let mut r = Reader::new(bytes);
        self.decode_value(&mut r, &t, "", 0)
    }

    /// Decodes the result of function `function` (by its declared result type).
    ///
    /// # Errors
    /// An unknown function, or as [`Schema::decode`].
    pub fn decode_result(&'static self, function: &str, bytes: &[u8]) -> Result<Value, CodecError> {
        let def = self
            .get(function)
            .ok_or_else(|| self.unknown_name("", function))?;
        let mut r = Reader::new(bytes);
        if def.result.generic_ref {
            return self.decode_any(&mut r, "", 0).map(Value::Object);
        }
        self.decode_value(&mut r, &def.result, "", 0)
    }

    fn decode_any(
        &'static self,
        r: &mut Reader<'_>,
        path: &str,
        depth: u32,
    ) -> Result<Object, CodecError> {
        if depth > MAX_DEPTH {
            return Err(err(path, format!("objects nested deeper than {MAX_DEPTH}")));
        }
        let at = r.position();
        let id = r.u32().map_err(|e| de_err(path, e))?;
        match id {
            RPC_RESULT => {
                let req = r.i64().map_err(|e| de_err(path, e))?;
                let inner = self.decode_any(r, &join(path, "result"), depth + 1)?;
                return Ok(Object::new("rpc_result")
                    .with("req_msg_id", Value::Long(req))
                    .with("result", Value::Object(inner)));
            }
            MSG_CONTAINER => {
                let n = r.vector_len(false, 16).map_err(|e| de_err(path, e))?;
                let mut msgs = Vec::with_capacity(n);
                for i in 0..n {
                    let p = format!("{}[{i}]", join(path, "messages"));
                    let m =
                        crate::mtproto::Message::deserialize_bare(r).map_err(|e| de_err(&p, e))?;
                    let body =
                        self.decode_any(&mut Reader::new(&m.body), &join(&p, "body"), depth + 1)?;
                    msgs.push(Value::Object(
                        Object::new("message")
                            .with("msg_id", Value::Long(m.msg_id))
                            .with("seqno", Value::Int(m.seqno))
                            .with("body", Value::Object(body)),
                    ));
                }
                return Ok(Object::new("msg_container").with("messages", Value::Vector(msgs)));
            }
            GZIP_PACKED => {
                let data = r.bytes().map_err(|e| de_err(path, e))?;
                return Ok(Object::new("gzip_packed").with("packed_data", Value::Bytes(data)));
            }
            _ => {}
        }
        let def = self.by_id(id).ok_or_else(|| {
            err(
                path,
                format!("unknown constructor id {id:08x} at byte {at}"),
            )
        })?;
        self.decode_fields(def, r, path, depth)
    }

    fn decode_fields(
        &'static self,
        def: &'static Definition,
        r: &mut Reader<'_>,
        path: &str,
        depth: u32,
    ) -> Result<Object, CodecError> {
        let mut fields: Vec<(Name, Value)> = Vec::with_capacity(def.params.len());
        let mut flag_words: [(&str, u32); 4] = [("", 0); 4];
        let mut nflags = 0;
        for p in &def.params {
            match &p.kind {
                ParamKind::Flags => {
                    let w = r.u32().map_err(|e| de_err(&join(path, &p.name), e))?;
                    if nflags < flag_words.len() {
                        flag_words[nflags] = (p.name.as_str(), w);
                        nflags += 1;
                    }
                }
                ParamKind::Value { ty, flag } => {
                    if let Some(f) = flag {
                        let word = flag_words[..nflags]
                            .iter()
                            .find(|(n, _)| *n == f.field)
                            .map_or(0, |x| x.1);
                        if word & (1 << f.bit) == 0 {
                            continue;
                        }
                        if p.is_true_flag() {
                            fields.push((Cow::Borrowed(p.name.as_str()), Value::Bool(true)));
                            continue;
                        }
                    }
                    // Paths are built only on the error path, to keep decoding cheap.
                    let v = self
                        .decode_value(r, ty, "", depth + 1)
                        .map_err(|e| prefix(&p.name, e))?;
                    fields.push((Cow::Borrowed(p.name.as_str()), v));
                }
            }
        }
        Ok(Object {
            name: self.static_name(def),
            fields,
        })
    }

    /// The schema-owned name of a definition (no allocation for names without namespace).
    fn static_name(&'static self, def: &'static Definition) -> Name {
        match &def.namespace {
            None => Cow::Borrowed(def.name.as_str()),
            Some(_) => match self.full_names.get(&def.id) {
                Some(s) => Cow::Borrowed(s.as_str()),
                None => Cow::Owned(def.full_name()),
            },
        }
    }

    fn decode_value(
        &'static self,
        r: &mut Reader<'_>,
        ty: &Ty,
        path: &str,
        depth: u32,
    ) -> Result<Value, CodecError> {
        if let Some(arg) = &ty.arg {
            let min = match (arg.namespace.is_none(), arg.name.as_str()) {
                (true, "long" | "double") => 8,
                (true, "int128") => 16,
                (true, "int256") => 32,
                _ if arg.bare && !arg.is_builtin() => 1,
                _ => 4,
            };
            let n = r.vector_len(!ty.bare, min).map_err(|e| de_err(path, e))?;
            let mut items = Vec::with_capacity(n);
            for i in 0..n {
                items.push(
                    self.decode_value(r, arg, "", depth + 1)
                        .map_err(|e| prefix(&format!("[{i}]"), e))?,
                );
            }
            return Ok(Value::Vector(items));
        }
        let e = |e| de_err(path, e);
        if ty.namespace.is_none() && !ty.generic_ref {
            match ty.name.as_str() {
                "int" => return r.i32().map(Value::Int).map_err(e),
                "long" => return r.i64().map(Value::Long).map_err(e),
                "double" => return r.f64().map(Value::Double).map_err(e),
                "string" => return r.string().map(Value::String).map_err(e),
                "bytes" => return r.bytes().map(Value::Bytes).map_err(e),
                "int128" => return r.int128().map(Value::Int128).map_err(e),
                "int256" => return r.int256().map(|x| Value::Int256(Box::new(x))).map_err(e),
                "Bool" => return r.bool().map(Value::Bool).map_err(e),
                _ => {}
            }
        }
        if depth > MAX_DEPTH {
            return Err(err(path, format!("objects nested deeper than {MAX_DEPTH}")));
        }
        if ty.bare {
            let def = self
                .lookup_ctor_for_bare(ty)
                .ok_or_else(|| err(path, format!("bare type {ty} has no single constructor")))?;
            return self.decode_fields(def, r, path, depth).map(Value::Object);
        }
        if ty.generic_ref {
            return self.decode_any(r, path, depth).map(Value::Object);
        }
        let at = r.position();
        let id = r.u32().map_err(e)?;
        let def = self.by_id(id).ok_or_else(|| {
            err(
                path,
                format!("unknown constructor id {id:08x} at byte {at}, expected {ty}"),
            )
        })?;
        if def.category != Category::Type || def.result.full_name() != ty.full_name() {
            return Err(err(
                path,
                format!(
                    "expected {ty}, got {} (id {id:08x}) at byte {at}",
                    def.full_name()
                ),
            ));
        }
        self.decode_fields(def, r, path, depth).map(Value::Object)
    }
}

/// Puts `head` in front of an error's path (`head.path`, `head[i]`).
fn prefix(head: &str, mut e: CodecError) -> CodecError {
    e.path = if e.path.is_empty() {
        head.to_string()
    } else if e.path.starts_with('[') {
        format!("{head}{}", e.path)
    } else {
        format!("{head}.{}", e.path)
    };
    e
}

/// Parses a type written as in the schema (`InputPeer`, `Vector<long>`, `%Message`).
fn parse_ty(s: &str) -> Result<Ty, CodecError> {
    let text = format!("x#1 v:{s} = X;");
    fleetgram_tl_gen::parser::parse_file("type", &text)
        .ok()
        .and_then(|mut d| d.pop())
        .and_then(|mut d| d.params.pop())
        .and_then(|p| p.ty().cloned())
        .ok_or_else(|| err("", format!("cannot parse type `{s}`")))
}
