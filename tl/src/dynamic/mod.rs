//! The run-time (dynamic) TL codec: a [`Value`] tree <-> TL bytes, driven by the parsed schema.
//!
//! This is what scripts, the CLI's `tl` subcommands and the local DC's fallback use to speak
//! any constructor or function by name, without the generated types. It shares the parser
//! with the build-time generator, so both always agree.
//!
//! ```text
//! Object { name: "messages.sendMessage", fields: [("peer", Object{ "inputPeerSelf" }), ("message", String("hi")), ("random_id", Long(1))] }
//!    --encode-->  45 97 3f 98 | flags | 7d a0 7e c9 | 02 68 69 00 | 01 00 .. 00
//! ```
//!
//! Every error names the path of the offending value and what was expected there, e.g.
//! `messages.sendMessage.peer: expected InputPeer, got string`. Flag words are computed from
//! the fields present, never given by the user.
//!
//! [`json`] maps values to and from JSON (`"_"` holds the TL name).

mod codec;
pub mod json;
pub mod layers;
mod plan;

use crate::schema_def::{Category, Definition};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// A name in a value tree: borrowed from the schema when decoded, owned when built by a user.
pub type Name = Cow<'static, str>;

/// A TL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `int`.
    Int(i32),
    /// `long`.
    Long(i64),
    /// `double`.
    Double(f64),
    /// `string`.
    String(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `Bool`, or a `flags.N?true` field.
    Bool(bool),
    /// `int128`, wire bytes.
    Int128([u8; 16]),
    /// `int256`, wire bytes.
    Int256(Box<[u8; 32]>),
    /// `Vector<T>` / `vector<T>`.
    Vector(Vec<Value>),
    /// A constructor or function with its fields.
    Object(Object),
}

impl Value {
    /// The kind of value, for error messages (`string`, `object inputPeerSelf`...).
    pub fn kind(&self) -> String {
        match self {
            Value::Int(_) => "int".into(),
            Value::Long(_) => "long".into(),
            Value::Double(_) => "double".into(),
            Value::String(_) => "string".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int128(_) => "int128".into(),
            Value::Int256(_) => "int256".into(),
            Value::Vector(_) => "vector".into(),
            Value::Object(o) => o.name.to_string(),
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
}

/// A constructor or function value: its TL name and its fields (schema order when decoded).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    /// `inputPeerUser`, `messages.sendMessage`.
    pub name: Name,
    /// Field name and value. Absent optional fields are simply missing.
    pub fields: Vec<(Name, Value)>,
}

impl Object {
    /// An object with no fields yet.
    pub fn new(name: impl Into<Name>) -> Self {
        Self {
            name: name.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a field (builder style).
    pub fn with(mut self, name: impl Into<Name>, value: Value) -> Self {
        self.fields.push((name.into(), value));
        self
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Sets (replaces or adds) field `name`.
    pub fn set(&mut self, name: impl Into<Name>, value: Value) {
        let name = name.into();
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name, value)),
        }
    }
}

/// An encode/decode error: where (a dotted path) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    /// `messages.sendMessage.peer`, `user.photo.dc_id`, `entities[2]`; empty at the top.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for CodecError {}

/// The parsed schema with its lookup tables.
#[derive(Debug)]
pub struct Schema {
    defs: Vec<Definition>,
    by_name: HashMap<String, usize>,
    by_id: plan::IdMap<usize>,
    type_index: HashMap<String, u32>,
    plans: Vec<plan::DefPlan>,
    /// Abstract type full name -> constructor indices.
    ctors_of: HashMap<String, Vec<usize>>,
    /// Full names of namespaced definitions, so decoded objects borrow them.
    pub(crate) full_names: HashMap<u32, String>,
}

/// The schema the crate was generated from (layer [`crate::LAYER`]), parsed once.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        Schema::parse(&[("api.tl", crate::API_TL), ("mtproto.tl", crate::MTPROTO_TL)])
            .expect("the bundled schema parsed at build time")
    })
}

impl Schema {
    /// Parses schema files into a codec.
    ///
    /// # Errors
    /// The first schema error with file and line.
    pub fn parse(files: &[(&str, &str)]) -> Result<Self, fleetgram_tl_gen::ParseError> {
        let defs = fleetgram_tl_gen::parse_schema(files)?;
        let mut by_name = HashMap::new();
        let mut by_id = plan::IdMap::default();
        let mut ctors_of: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, d) in defs.iter().enumerate() {
            by_name.insert(d.full_name(), i);
            by_id.insert(d.id, i);
            if d.category == Category::Type {
                ctors_of.entry(d.result.full_name()).or_default().push(i);
            }
        }
        let full_names = defs
            .iter()
            .filter(|d| d.namespace.is_some())
            .map(|d| (d.id, d.full_name()))
            .collect();
        let mut type_names: Vec<&String> = ctors_of.keys().collect();
        type_names.sort();
        let type_index: HashMap<String, u32> = type_names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        let plans = Self::build_plans(&defs, &type_index, &by_name);
        Ok(Self {
            defs,
            by_name,
            by_id,
            type_index,
            plans,
            ctors_of,
            full_names,
        })
    }

    /// All definitions in schema order.
    pub fn definitions(&self) -> &[Definition] {
        &self.defs
    }

    /// A constructor or function by TL name.
    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.by_name.get(name).map(|&i| &self.defs[i])
    }

    /// A constructor or function by id.
    pub fn by_id(&self, id: u32) -> Option<&Definition> {
        self.by_id.get(&id).map(|&i| &self.defs[i])
    }

    /// The constructors of an abstract type (`InputPeer`), empty if unknown.
    pub fn constructors_of(&self, ty: &str) -> impl Iterator<Item = &Definition> {
        self.ctors_of
            .get(ty)
            .into_iter()
            .flatten()
            .map(|&i| &self.defs[i])
    }

    /// Whether `ty` names an abstract type of the schema.
    pub fn is_type(&self, ty: &str) -> bool {
        self.ctors_of.contains_key(ty)
    }

    /// Names close to `name` (constructors, functions and types), best first, for "did you
    /// mean" hints.
    pub fn suggest(&self, name: &str) -> Vec<String> {
        let lower = name.to_ascii_lowercase();
        let mut scored: Vec<(usize, &str)> = self
            .by_name
            .keys()
            .map(String::as_str)
            .chain(self.ctors_of.keys().map(String::as_str))
            .map(|n| (edit_distance(&lower, &n.to_ascii_lowercase()), n))
            .filter(|(d, n)| *d <= (n.len() / 3).max(2))
            .collect();
        scored.sort();
        scored.dedup_by(|a, b| a.1 == b.1);
        scored
            .into_iter()
            .take(3)
            .map(|(_, n)| n.to_string())
            .collect()
    }

    /// A human description of a constructor, function or abstract type, as printed by
    /// `fleetgram tl describe`.
    ///
    /// # Errors
    /// An unknown name, with suggestions.
    pub fn describe(&self, name: &str) -> Result<String, CodecError> {
        use std::fmt::Write;
        let mut s = String::new();
        if let Some(d) = self.get(name) {
            let kind = match d.category {
                Category::Type => "constructor",
                Category::Function => "function",
            };
            let _ = writeln!(s, "{} ({kind}, id 0x{:08x})", d.full_name(), d.id);
            if d.params.iter().all(|p| p.ty().is_none()) {
                let _ = writeln!(s, "  (no fields)");
            }
            for p in &d.params {
                match p.ty() {
                    None => {
                        let _ = writeln!(s, "  {}: # (flags, computed)", p.name);
                    }
                    Some(ty) => {
                        let cond = match p.flag() {
                            Some(f) if p.is_true_flag() => {
                                format!("  optional, flag {}.{}", f.field, f.bit)
                            }
                            Some(f) => format!("  optional, {}.{}", f.field, f.bit),
                            None => String::new(),
                        };
                        let shown = if p.is_true_flag() {
                            "true (bool)".to_string()
                        } else {
                            ty.to_string()
                        };
                        let _ = writeln!(s, "  {}: {shown}{cond}", p.name);
                    }
                }
            }
            match d.category {
                Category::Function => {
                    let _ = writeln!(s, "  returns {}", d.result);
                }
                Category::Type => {
                    let _ = writeln!(s, "  of type {}", d.result);
                }
            }
            return Ok(s);
        }
        if self.is_type(name) {
            let _ = writeln!(s, "{name} (type), constructors:");
            for c in self.constructors_of(name) {
                let _ = writeln!(s, "  {}#{:08x}", c.full_name(), c.id);
            }
            return Ok(s);
        }
        Err(self.unknown_name("", name))
    }

    fn unknown_name(&self, path: &str, name: &str) -> CodecError {
        let hint = self.suggest(name);
        let message = if hint.is_empty() {
            format!("unknown constructor or function `{name}`")
        } else {
            format!(
                "unknown constructor or function `{name}` (did you mean {}?)",
                hint.join(", ")
            )
        };
        CodecError {
            path: path.to_string(),
            message,
        }
    }

    /// Looks a type reference up: the constructors a field of type `ty` may hold.
    #[cfg(test)]
    pub(crate) fn lookup_ctor_for_bare(&self, ty: &crate::schema_def::Ty) -> Option<&Definition> {
        if let Some(d) = self.get(&ty.full_name()) {
            if d.category == Category::Type {
                return Some(d);
            }
        }
        let mut it = self.constructors_of(&ty.full_name());
        match (it.next(), it.next()) {
            (Some(d), None) => Some(d),
            _ => None,
        }
    }
}

/// Levenshtein distance (for suggestions).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
