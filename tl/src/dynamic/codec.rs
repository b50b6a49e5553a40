//! Encoding and decoding of [`Value`]s, type-checked against the schema.

use super::plan::{ParamPlan, TyPlan};
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

/// A value's position, rendered only when an error is reported (keeps encoding cheap).
#[derive(Clone, Copy)]
enum Seg<'a> {
    Root(&'a str),
    Field(&'a str),
    Index(usize),
}

#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

impl<'a> Path<'a> {
    fn root(name: &'a str) -> Self {
        Path {
            parent: None,
            seg: Seg::Root(name),
        }
    }
    fn field(&'a self, name: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Field(name),
        }
    }
    fn index(&'a self, i: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }
    fn render(&self) -> String {
        let mut s = self.parent.map(|p| p.render()).unwrap_or_default();
        match self.seg {
            Seg::Root(n) => s.push_str(n),
            Seg::Field(n) if s.is_empty() => s.push_str(n),
            Seg::Field(n) => {
                s.push('.');
                s.push_str(n);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
        s
    }
    fn err(&self, message: impl Into<String>) -> CodecError {
        CodecError {
            path: self.render(),
            message: message.into(),
        }
    }
}

impl Schema {
    /// Encodes a constructor or function (boxed: its id first).
    ///
    /// # Errors
    /// An unknown name, an unknown or missing field, or a value of the wrong type, with the
    /// path of the value and what was expected.
    pub fn encode(&self, obj: &Object) -> Result<Vec<u8>, CodecError> {
        let mut buf = Vec::with_capacity(64);
        self.encode_object(obj, None, true, &Path::root(&obj.name), &mut buf, 0)?;
        Ok(buf)
    }

    /// Encodes `value` as a value of the schema type written `ty` (`"InputPeer"`,
    /// `"Vector<long>"`, `"int"`), appending to `buf`.
    ///
    /// # Errors
    /// As [`Schema::encode`]; also an unparsable type.
    pub fn encode_as(&self, value: &Value, ty: &str, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        let t = parse_ty(ty)?;
        self.encode_value(value, &t, &Path::root(""), buf, 0)
    }

    fn encode_object(
        &self,
        obj: &Object,
        expected: Option<&Ty>,
        boxed: bool,
        path: &Path<'_>,
        buf: &mut Vec<u8>,
        depth: u32,
    ) -> Result<(), CodecError> {
        if depth > MAX_DEPTH {
            return Err(path.err(format!("objects nested deeper than {MAX_DEPTH}")));
        }
        let def = self
            .get(&obj.name)
            .ok_or_else(|| self.unknown_name(&path.render(), &obj.name))?;
        if let Some(ty) = expected {
            self.check_kind(def, ty, path)?;
        }
        if boxed {
            ser::u32(buf, def.id);
        }
        self.encode_fields(def, obj, path, buf, depth)
    }

    /// Checks that constructor/function `def` may stand where type `ty` is expected.
    fn check_kind(&self, def: &Definition, ty: &Ty, path: &Path<'_>) -> Result<(), CodecError> {
        if ty.generic_ref {
            if def.category != Category::Function {
                return Err(path.err(format!(
                    "expected a function call (any TL function), got constructor {}",
                    def.full_name()
                )));
            }
            return Ok(());
        }
        if def.category == Category::Function {
            return Err(path.err(format!(
                "expected {}, got function {}",
                ty.full_name(),
                def.full_name()
            )));
        }
        let ok = if ty.bare {
            (def.namespace == ty.namespace && def.name == ty.name)
                || def.result.full_name() == ty.full_name()
        } else {
            def.result.namespace == ty.namespace && def.result.name == ty.name
        };
        if !ok {
            return Err(path.err(format!(
                "expected {}, got {} (a {})",
                ty.full_name(),
                def.full_name(),
                def.result.full_name()
            )));
        }
        Ok(())
    }

    fn unknown_field(&self, def: &Definition, name: &str, path: &Path<'_>) -> CodecError {
        let p = path.field(name);
        if def.params.iter().any(|q| q.name == name) {
            return p.err("flag words are computed from the fields present; leave them out");
        }
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
            Some(c) if super::edit_distance(name, c) <= 3 => format!(" (did you mean `{c}`?)"),
            _ => String::new(),
        };
        let expected = if names.is_empty() {
            "no fields".to_string()
        } else {
            names.join(", ")
        };
        p.err(format!(
            "unknown field of {}{hint}; expected one of: {expected}",
            def.full_name()
        ))
    }

    fn encode_fields(
        &self,
        def: &Definition,
        obj: &Object,
        path: &Path<'_>,
        buf: &mut Vec<u8>,
        depth: u32,
    ) -> Result<(), CodecError> {
        // Each given field, matched once to its parameter slot.
        let mut slots: Vec<Option<&Value>> = vec![None; def.params.len()];
        for (name, v) in &obj.fields {
            match def
                .params
                .iter()
                .position(|p| p.name == *name && p.ty().is_some())
            {
                Some(i) => slots[i] = Some(v),
                None => return Err(self.unknown_field(def, name, path)),
            }
        }
        for (i, p) in def.params.iter().enumerate() {
            match &p.kind {
                ParamKind::Flags => {
                    let mut word = 0u32;
                    for (q, slot) in def.params.iter().zip(&slots) {
                        let Some(f) = q.flag() else { continue };
                        if f.field != p.name {
                            continue;
                        }
                        let present = match slot {
                            None => false,
                            Some(Value::Bool(b)) if q.is_true_flag() => *b,
                            Some(v) if q.is_true_flag() => {
                                return Err(path
                                    .field(&q.name)
                                    .err(format!("expected bool (a flag), got {}", v.kind())))
                            }
                            Some(_) => true,
                        };
                        if present {
                            word |= 1 << f.bit;
                        }
                    }
                    // Fields sharing a bit must all be present when it is set.
                    for (q, slot) in def.params.iter().zip(&slots) {
                        if let Some(f) = q.flag() {
                            if f.field == p.name
                                && word & (1 << f.bit) != 0
                                && !q.is_true_flag()
                                && slot.is_none()
                            {
                                return Err(path.field(&q.name).err(format!(
                                    "required: it shares {}.{} with a field that is set",
                                    f.field, f.bit
                                )));
                            }
                        }
                    }
                    ser::u32(buf, word);
                }
                ParamKind::Value { ty, flag } => {
                    if p.is_true_flag() {
                        continue;
                    }
                    match (slots[i], flag) {
                        (Some(v), _) => {
                            self.encode_value(v, ty, &path.field(&p.name), buf, depth + 1)?
                        }
                        (None, Some(_)) => {}
                        (None, None) => {
                            return Err(path
                                .field(&p.name)
                                .err(format!("missing required field of type {ty}")))
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
        path: &Path<'_>,
        buf: &mut Vec<u8>,
        depth: u32,
    ) -> Result<(), CodecError> {
        let mismatch = || path.err(format!("expected {ty}, got {}", v.kind()));
        if let Some(arg) = &ty.arg {
            let Value::Vector(items) = v else {
                return Err(mismatch());
            };
            if !ty.bare {
                ser::u32(buf, ser::VECTOR_ID);
            }
            ser::u32(buf, items.len() as u32);
            for (i, item) in items.iter().enumerate() {
                self.encode_value(item, arg, &path.index(i), buf, depth + 1)?;
            }
            return Ok(());
        }
        if ty.namespace.is_none() && !ty.generic_ref {
            match ty.name.as_str() {
                "int" => {
                    let x = match v {
                        Value::Int(x) => *x,
                        Value::Long(x) => i32::try_from(*x).map_err(|_| {
                            path.err(format!("expected int, got {x} (out of the 32-bit range)"))
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
                        return Err(path.err(format!("{} bytes exceed TL's 16 MiB limit", b.len())));
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
        let idx = self.index_of(def);
        self.decode_planned(idx, r, depth)
            .map_err(|e| prefix_root(path, e))
    }

    /// Decodes the fields of definition `idx` following its precomputed plan.
    fn decode_planned(
        &'static self,
        idx: usize,
        r: &mut Reader<'_>,
        depth: u32,
    ) -> Result<Object, CodecError> {
        let plan = &self.plans[idx];
        let def = &self.defs[idx];
        // Allocated at the first field, sized from the flag words read by then.
        let mut fields: Vec<(Name, Value)> = Vec::new();
        let mut words = [0u32; 4];
        let reserve = |fields: &mut Vec<(Name, Value)>, words: &[u32; 4]| {
            if fields.capacity() == 0 {
                let set: u32 = words.iter().map(|w| w.count_ones()).sum();
                fields.reserve_exact(plan.required + set as usize + 1);
            }
        };
        for (p, pp) in def.params.iter().zip(&plan.params) {
            match pp {
                ParamPlan::Flags { slot } => {
                    words[*slot as usize] = r.u32().map_err(|e| de_err(&p.name, e))?;
                }
                ParamPlan::True { slot, bit } => {
                    if words[*slot as usize] & (1 << bit) != 0 {
                        reserve(&mut fields, &words);
                        fields.push((Cow::Borrowed(p.name.as_str()), Value::Bool(true)));
                    }
                }
                ParamPlan::Value { ty, flag } => {
                    if let Some((slot, bit)) = flag {
                        if words[*slot as usize] & (1 << bit) == 0 {
                            continue;
                        }
                    }
                    // Paths are built only on the error path, to keep decoding cheap.
                    let v = self
                        .decode_plan_value(r, ty, depth + 1)
                        .map_err(|e| prefix(&p.name, e))?;
                    reserve(&mut fields, &words);
                    fields.push((Cow::Borrowed(p.name.as_str()), v));
                }
            }
        }
        Ok(Object {
            name: self.static_name(def),
            fields,
        })
    }

    fn decode_plan_value(
        &'static self,
        r: &mut Reader<'_>,
        ty: &TyPlan,
        depth: u32,
    ) -> Result<Value, CodecError> {
        let e = |e| de_err("", e);
        match ty {
            TyPlan::Int => r.i32().map(Value::Int).map_err(e),
            TyPlan::Long => r.i64().map(Value::Long).map_err(e),
            TyPlan::Double => r.f64().map(Value::Double).map_err(e),
            TyPlan::String => r.string().map(Value::String).map_err(e),
            TyPlan::Bytes => r.bytes().map(Value::Bytes).map_err(e),
            TyPlan::Int128 => r.int128().map(Value::Int128).map_err(e),
            TyPlan::Int256 => r.int256().map(|x| Value::Int256(Box::new(x))).map_err(e),
            TyPlan::Bool => r.bool().map(Value::Bool).map_err(e),
            TyPlan::Vector { boxed, min, elem } => {
                let n = r.vector_len(*boxed, *min).map_err(e)?;
                let mut items = Vec::with_capacity(n);
                for i in 0..n {
                    items.push(
                        self.decode_plan_value(r, elem, depth + 1)
                            .map_err(|e| prefix(&format!("[{i}]"), e))?,
                    );
                }
                Ok(Value::Vector(items))
            }
            _ if depth > MAX_DEPTH => {
                Err(err("", format!("objects nested deeper than {MAX_DEPTH}")))
            }
            TyPlan::Bare(idx) => self.decode_planned(*idx, r, depth).map(Value::Object),
            TyPlan::Generic => self.decode_any(r, "", depth).map(Value::Object),
            TyPlan::Boxed { ty, name } => {
                let at = r.position();
                let id = r.u32().map_err(e)?;
                let idx = self.index_by_id(id).ok_or_else(|| {
                    err(
                        "",
                        format!("unknown constructor id {id:08x} at byte {at}, expected {name}"),
                    )
                })?;
                if self.plans[idx].result != Some(*ty) {
                    return Err(err(
                        "",
                        format!(
                            "expected {name}, got {} (id {id:08x}) at byte {at}",
                            self.defs[idx].full_name()
                        ),
                    ));
                }
                self.decode_planned(idx, r, depth).map(Value::Object)
            }
            TyPlan::Unknown(name) => Err(err(
                "",
                format!("type {name} has no constructor in the schema"),
            )),
        }
    }

    /// The schema-owned name of a definition (no allocation).
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
        let plan = self.plan_ty(ty);
        self.decode_plan_value(r, &plan, depth)
            .map_err(|e| prefix_root(path, e))
    }
}

/// Puts a root path in front of an error's path, if there is one.
fn prefix_root(root: &str, e: CodecError) -> CodecError {
    if root.is_empty() {
        e
    } else {
        prefix(root, e)
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
pub(super) fn parse_ty(s: &str) -> Result<Ty, CodecError> {
    let text = format!("x#1 v:{s} = X;");
    fleetgram_tl_gen::parser::parse_file("type", &text)
        .ok()
        .and_then(|mut d| d.pop())
        .and_then(|mut d| d.params.pop())
        .and_then(|p| p.ty().cloned())
        .ok_or_else(|| err("", format!("cannot parse type `{s}`")))
}
