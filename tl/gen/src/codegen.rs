//! Generates the typed Rust API of a TL schema into any [`std::io::Write`].
//!
//! Output shape (all paths absolute, so the text can be `include!`d at a crate root that
//! provides the runtime items `Serializable`, `Deserializable`, `Identifiable`, `RemoteCall`,
//! `Reader`, `DeserializeError` and the `ser` helpers):
//!
//! ```text
//! pub mod types     { struct per constructor (namespaces as sub-modules) }
//! pub mod enums     { enum per abstract type; variants hold the constructor's struct }
//! pub mod functions { struct per function, `RemoteCall<Return = ...>` }
//! pub fn reencode_boxed(..)   decode by constructor id through the typed API, encode again
//! pub fn type_name_of(id)     the TL name of a constructor or function id
//! ```
//!
//! Allocation is kept low on purpose: a variant stores its struct inline unless the struct is
//! large (estimated above [`Config::box_threshold`] bytes) or the type is recursive, in which
//! case the variant holds a `Box`. Small enums stay small, so vectors of them are one
//! allocation and big objects are moved as pointers.

use crate::naming;
use crate::parser::{Category, Definition, ParamKind, Ty};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Write};

/// Generator settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Variants whose struct is estimated larger than this (bytes) are boxed.
    pub box_threshold: usize,
    /// Generate `Deserializable` for (non-generic) functions: needed by servers.
    pub deserializable_functions: bool,
    /// Generate `reencode_boxed`, a by-id round trip through the typed API.
    pub reencode: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            box_threshold: 64,
            deserializable_functions: true,
            reencode: true,
        }
    }
}

/// A generation error: the schema references something that does not exist, or writing failed.
#[derive(Debug)]
pub enum GenError {
    /// Writing the output failed.
    Io(io::Error),
    /// The schema is inconsistent: file, line and what was wrong.
    Schema {
        /// The schema file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What was wrong.
        message: String,
    },
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::Io(e) => write!(f, "writing generated code: {e}"),
            GenError::Schema {
                file,
                line,
                message,
            } => write!(f, "{file}:{line}: {message}"),
        }
    }
}

impl std::error::Error for GenError {}

impl From<io::Error> for GenError {
    fn from(e: io::Error) -> Self {
        GenError::Io(e)
    }
}

/// The schema, indexed for generation.
struct Model<'a> {
    defs: &'a [Definition],
    /// Abstract type full name -> constructor indices (in schema order).
    types: BTreeMap<String, Vec<usize>>,
    /// Constructor full name -> index.
    ctor_by_name: HashMap<String, usize>,
    /// Variant names per constructor index.
    variant: HashMap<usize, String>,
    /// Constructor indices whose variant is boxed.
    boxed: std::collections::HashSet<usize>,
    config: Config,
}

fn schema_err(def: &Definition, message: String) -> GenError {
    GenError::Schema {
        file: def.file.clone(),
        line: def.line,
        message,
    }
}

/// Whether a constructor is mapped onto a Rust built-in instead of being generated.
fn is_builtin_ctor(d: &Definition) -> bool {
    d.category == Category::Type && d.result.namespace.is_none() && d.result.name == "Bool"
}

fn path(kind: &str, namespace: &Option<String>, name: &str) -> String {
    match namespace {
        Some(ns) => format!(
            "crate::{kind}::{}::{}",
            naming::module_name(ns),
            naming::type_name(name)
        ),
        None => format!("crate::{kind}::{}", naming::type_name(name)),
    }
}

impl<'a> Model<'a> {
    fn new(defs: &'a [Definition], config: Config) -> Result<Self, GenError> {
        let mut types: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut ctor_by_name = HashMap::new();
        for (i, d) in defs.iter().enumerate() {
            if d.category == Category::Type && !is_builtin_ctor(d) {
                types.entry(d.result.full_name()).or_default().push(i);
                ctor_by_name.insert(d.full_name(), i);
            }
        }
        let mut variant = HashMap::new();
        for (ty, ctors) in &types {
            let ty_name = ty.rsplit('.').next().unwrap_or(ty);
            let names: Vec<&str> = ctors.iter().map(|&i| defs[i].name.as_str()).collect();
            for (&i, v) in ctors.iter().zip(naming::variant_names(&names, ty_name)) {
                variant.insert(i, v);
            }
        }
        let mut m = Model {
            defs,
            types,
            ctor_by_name,
            variant,
            boxed: Default::default(),
            config,
        };
        m.check_references()?;
        m.choose_boxes();
        Ok(m)
    }

    fn check_references(&self) -> Result<(), GenError> {
        let mut seen_structs = HashMap::<String, usize>::new();
        for (i, d) in self.defs.iter().enumerate() {
            if is_builtin_ctor(d) {
                continue;
            }
            let kind = if d.category == Category::Type {
                "types"
            } else {
                "functions"
            };
            let p = path(kind, &d.namespace, &d.name);
            if let Some(&j) = seen_structs.get(&p) {
                return Err(schema_err(
                    d,
                    format!(
                        "`{}` and `{}` both map to `{p}`",
                        d.full_name(),
                        self.defs[j].full_name()
                    ),
                ));
            }
            seen_structs.insert(p, i);
            for p in &d.params {
                if let Some(ty) = p.ty() {
                    self.check_ty(ty)
                        .map_err(|m| schema_err(d, format!("parameter `{}`: {m}", p.name)))?;
                }
            }
            if d.category == Category::Function {
                self.check_ty(&d.result)
                    .map_err(|m| schema_err(d, format!("result: {m}")))?;
            }
        }
        Ok(())
    }

    fn check_ty(&self, ty: &Ty) -> Result<(), String> {
        if ty.generic_ref || ty.is_builtin() {
            return Ok(());
        }
        if let Some(arg) = &ty.arg {
            return self.check_ty(arg);
        }
        if ty.bare {
            self.bare_ctor(ty).map(|_| ())
        } else if self.types.contains_key(&ty.full_name()) {
            Ok(())
        } else {
            Err(format!(
                "unknown type `{}`, expected a type with at least one constructor",
                ty.full_name()
            ))
        }
    }

    /// The constructor a bare type reference means (`future_salt`, `%Message`).
    fn bare_ctor(&self, ty: &Ty) -> Result<usize, String> {
        if let Some(&i) = self.ctor_by_name.get(&ty.full_name()) {
            return Ok(i);
        }
        match self.types.get(&ty.full_name()) {
            Some(c) if c.len() == 1 => Ok(c[0]),
            Some(_) => Err(format!(
                "bare `%{}` is ambiguous: the type has several constructors",
                ty.full_name()
            )),
            None => Err(format!("unknown bare type `{}`", ty.full_name())),
        }
    }

    /// Abstract types a constructor's fields store inline (not behind a Vec).
    fn inline_enum_refs(&self, i: usize) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.defs[i].params {
            if let Some(ty) = p.ty() {
                if !ty.generic_ref && !ty.is_builtin() && !ty.is_vector() {
                    if ty.bare {
                        if let Ok(c) = self.bare_ctor(ty) {
                            out.extend(self.inline_enum_refs(c));
                        }
                    } else {
                        out.push(ty.full_name());
                    }
                }
            }
        }
        out
    }

    fn choose_boxes(&mut self) {
        // Recursion: Tarjan's SCCs over "enum A stores enum B inline".
        let names: Vec<String> = self.types.keys().cloned().collect();
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let edges: Vec<Vec<usize>> = names
            .iter()
            .map(|n| {
                self.types[n]
                    .iter()
                    .flat_map(|&c| self.inline_enum_refs(c))
                    .filter_map(|t| index.get(t.as_str()).copied())
                    .collect()
            })
            .collect();
        let scc = tarjan(&edges);
        for (ti, n) in names.iter().enumerate() {
            for &c in &self.types[n] {
                let recursive = self
                    .inline_enum_refs(c)
                    .iter()
                    .filter_map(|t| index.get(t.as_str()))
                    .any(|&u| scc[u] == scc[ti]);
                if recursive {
                    self.boxed.insert(c);
                }
            }
        }
        // Size: box variants whose struct is large.
        let mut memo = HashMap::new();
        let ctors: Vec<usize> = self.types.values().flatten().copied().collect();
        for c in ctors {
            if !self.boxed.contains(&c)
                && self.struct_size(c, &mut memo) > self.config.box_threshold
            {
                self.boxed.insert(c);
            }
        }
    }

    fn enum_size(&self, ty: &str, memo: &mut HashMap<String, usize>) -> usize {
        if let Some(&s) = memo.get(ty) {
            return s;
        }
        memo.insert(ty.to_string(), 16); // cycle guard; cycles are boxed anyway
        let ctors = self.types.get(ty).cloned().unwrap_or_default();
        let max = ctors
            .iter()
            .map(|&c| {
                if self.boxed.contains(&c) {
                    8
                } else {
                    self.struct_size(c, memo)
                }
            })
            .max()
            .unwrap_or(0);
        let s = max + 8;
        memo.insert(ty.to_string(), s);
        s
    }

    fn struct_size(&self, c: usize, memo: &mut HashMap<String, usize>) -> usize {
        self.defs[c]
            .params
            .iter()
            .map(|p| match &p.kind {
                ParamKind::Flags => 0,
                ParamKind::Value { ty, flag } => {
                    let base = self.ty_size(ty, memo);
                    if flag.is_some() && !p.is_true_flag() {
                        base + 8
                    } else {
                        base
                    }
                }
            })
            .sum()
    }

    fn ty_size(&self, ty: &Ty, memo: &mut HashMap<String, usize>) -> usize {
        if ty.generic_ref {
            return 16;
        }
        if ty.is_vector() {
            return 24;
        }
        match (ty.namespace.is_none(), ty.name.as_str()) {
            (true, "int") => 4,
            (true, "long" | "double") => 8,
            (true, "string" | "bytes") => 24,
            (true, "int128") => 16,
            (true, "int256") => 32,
            (true, "true" | "Bool") => 1,
            _ if ty.bare => self
                .bare_ctor(ty)
                .map(|c| self.struct_size(c, memo))
                .unwrap_or(8),
            _ => self.enum_size(&ty.full_name(), memo),
        }
    }

    // ---- Rust spelling of types and code ----

    fn rust_ty(&self, ty: &Ty) -> String {
        if ty.generic_ref {
            return ty.name.clone();
        }
        if let Some(arg) = &ty.arg {
            return format!("Vec<{}>", self.rust_ty(arg));
        }
        if ty.namespace.is_none() {
            let b = match ty.name.as_str() {
                "int" => "i32",
                "long" => "i64",
                "double" => "f64",
                "string" => "String",
                "bytes" => "Vec<u8>",
                "int128" => "[u8; 16]",
                "int256" => "[u8; 32]",
                "true" | "Bool" => "bool",
                _ => "",
            };
            if !b.is_empty() {
                return b.to_string();
            }
        }
        if ty.bare {
            let c = self.bare_ctor(ty).expect("checked");
            let d = &self.defs[c];
            return path("types", &d.namespace, &d.name);
        }
        path("enums", &ty.namespace, &ty.name)
    }

    /// Code writing `expr` (an expression of the field's Rust type, by reference) into `buf`.
    fn ser_code(&self, ty: &Ty, expr: &str) -> String {
        if ty.generic_ref {
            return format!("crate::Serializable::serialize({expr}, buf);");
        }
        if let Some(arg) = &ty.arg {
            let header = if ty.bare {
                ""
            } else {
                "crate::ser::u32(buf, 0x1cb5c415); "
            };
            return format!(
                "{{ {header}crate::ser::u32(buf, ({expr}).len() as u32); for x in ({expr}).iter() {{ {} }} }}",
                self.ser_code(arg, "x")
            );
        }
        if ty.namespace.is_none() {
            let f = match ty.name.as_str() {
                "int" => "i32",
                "long" => "i64",
                "double" => "f64",
                "string" => "string",
                "bytes" => "bytes",
                "int128" => "int128",
                "int256" => "int256",
                "Bool" => "bool",
                _ => "",
            };
            if !f.is_empty() {
                return format!("crate::ser::{f}(buf, {expr});");
            }
        }
        if ty.bare {
            format!("({expr}).serialize_bare(buf);")
        } else {
            format!("crate::Serializable::serialize({expr}, buf);")
        }
    }

    /// An expression reading a value of `ty` from `r`.
    fn de_code(&self, ty: &Ty) -> String {
        if ty.generic_ref {
            // Generic functions are not deserialized (see `deserializable_functions`).
            return "unreachable".into();
        }
        if let Some(arg) = &ty.arg {
            let min = self.min_size(arg);
            return format!(
                "{{ let n = r.vector_len({}, {min})?; let mut v = Vec::with_capacity(n); for _ in 0..n {{ v.push({}); }} v }}",
                !ty.bare,
                self.de_code(arg)
            );
        }
        if ty.namespace.is_none() {
            let f = match ty.name.as_str() {
                "int" => "i32",
                "long" => "i64",
                "double" => "f64",
                "string" => "string",
                "bytes" => "bytes",
                "int128" => "int128",
                "int256" => "int256",
                "Bool" => "bool",
                _ => "",
            };
            if !f.is_empty() {
                return format!("r.{f}()?");
            }
        }
        if ty.bare {
            format!("{}::deserialize_bare(r)?", self.rust_ty(ty))
        } else {
            format!(
                "<{} as crate::Deserializable>::deserialize(r)?",
                self.rust_ty(ty)
            )
        }
    }

    fn min_size(&self, ty: &Ty) -> usize {
        match (ty.namespace.is_none(), ty.name.as_str()) {
            (true, "long" | "double") => 8,
            (true, "int128") => 16,
            (true, "int256") => 32,
            _ if ty.bare && !ty.is_builtin() && !ty.is_vector() => 1,
            _ => 4,
        }
    }
}

fn tarjan(edges: &[Vec<usize>]) -> Vec<usize> {
    struct St<'e> {
        edges: &'e [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        comp: Vec<usize>,
        next: usize,
        ncomp: usize,
    }
    fn visit(s: &mut St, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on[v] = true;
        for k in 0..s.edges[v].len() {
            let w = s.edges[v][k];
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on[w] => s.low[v] = s.low[v].min(iw),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            while let Some(w) = s.stack.pop() {
                s.on[w] = false;
                s.comp[w] = s.ncomp;
                if w == v {
                    break;
                }
            }
            s.ncomp += 1;
        }
    }
    let n = edges.len();
    let mut s = St {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        comp: vec![0; n],
        next: 0,
        ncomp: 0,
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.comp
}

/// Writes the whole generated API for `defs`.
///
/// # Errors
/// [`GenError::Schema`] when the schema refers to an unknown type, or two names collide.
pub fn generate(
    defs: &[Definition],
    config: &Config,
    out: &mut impl Write,
) -> Result<(), GenError> {
    let m = Model::new(defs, config.clone())?;
    writeln!(
        out,
        "// @generated by fleetgram-tl-gen from the TL schema. Do not edit."
    )?;
    // types
    let ctors: Vec<usize> = m.types.values().flatten().copied().collect();
    write_modules(out, "types", &ctors, defs, |out, i| {
        write_struct(&m, out, i)
    })?;
    // enums
    writeln!(out, "/// One enum per abstract (boxed) TL type.")?;
    writeln!(out, "pub mod enums {{")?;
    let mut by_ns: BTreeMap<Option<String>, Vec<&String>> = BTreeMap::new();
    for t in m.types.keys() {
        let ns = t.rsplit_once('.').map(|(ns, _)| ns.to_string());
        by_ns.entry(ns).or_default().push(t);
    }
    for (ns, tys) in &by_ns {
        if let Some(ns) = ns {
            writeln!(out, "pub mod {} {{", naming::module_name(ns))?;
        }
        for t in tys {
            write_enum(&m, out, t)?;
        }
        if ns.is_some() {
            writeln!(out, "}}")?;
        }
    }
    writeln!(out, "}}")?;
    // functions
    let funcs: Vec<usize> = (0..defs.len())
        .filter(|&i| defs[i].category == Category::Function)
        .collect();
    write_modules(out, "functions", &funcs, defs, |out, i| {
        write_function(&m, out, i)
    })?;
    write_lookup(&m, out)?;
    Ok(())
}

fn write_modules<W: Write>(
    out: &mut W,
    kind: &str,
    items: &[usize],
    defs: &[Definition],
    mut each: impl FnMut(&mut W, usize) -> Result<(), GenError>,
) -> Result<(), GenError> {
    let doc = if kind == "types" {
        "One struct per TL constructor."
    } else {
        "One struct per TL function; each implements `RemoteCall`."
    };
    writeln!(out, "/// {doc}")?;
    writeln!(out, "pub mod {kind} {{")?;
    let mut by_ns: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for &i in items {
        by_ns
            .entry(defs[i].namespace.as_deref())
            .or_default()
            .push(i);
    }
    for (ns, list) in by_ns {
        if let Some(ns) = ns {
            writeln!(out, "pub mod {} {{", naming::module_name(ns))?;
        }
        for i in list {
            each(out, i)?;
        }
        if ns.is_some() {
            writeln!(out, "}}")?;
        }
    }
    writeln!(out, "}}")?;
    Ok(())
}

/// Fields of a definition as (rust name, rust type, param index) without flag words.
fn fields(m: &Model, d: &Definition) -> Vec<(String, String, usize)> {
    d.params
        .iter()
        .enumerate()
        .filter_map(|(k, p)| match &p.kind {
            ParamKind::Flags => None,
            ParamKind::Value { ty, flag } => {
                let rt = m.rust_ty(ty);
                let rt = if flag.is_some() && !p.is_true_flag() {
                    format!("Option<{rt}>")
                } else {
                    rt
                };
                Some((naming::field_name(&p.name), rt, k))
            }
        })
        .collect()
}

/// Writes the serialization of `d`'s fields, preceded by its constructor id when `id` is
/// given. Consecutive fixed-size values (id, flags, int, long, double, int128, int256, Bool)
/// are gathered into one stack array and appended with a single write.
fn write_body_ser(
    m: &Model,
    out: &mut impl Write,
    d: &Definition,
    id: Option<u32>,
) -> io::Result<()> {
    let mut run: Vec<(usize, String)> = Vec::new();
    fn flush(out: &mut impl Write, run: &mut Vec<(usize, String)>) -> io::Result<()> {
        match run.len() {
            0 => {}
            1 => writeln!(out, "buf.extend_from_slice(&{});", run[0].1)?,
            _ => {
                let total: usize = run.iter().map(|r| r.0).sum();
                write!(out, "{{ let mut a = [0u8; {total}];")?;
                let mut at = 0;
                for (size, expr) in run.iter() {
                    write!(out, " a[{at}..{}].copy_from_slice(&{expr});", at + size)?;
                    at += size;
                }
                writeln!(out, " buf.extend_from_slice(&a); }}")?;
            }
        }
        run.clear();
        Ok(())
    }
    if let Some(id) = id {
        run.push((4, format!("0x{id:08x}u32.to_le_bytes()")));
    }
    for p in d.params.iter() {
        match &p.kind {
            ParamKind::Flags => {
                let mut parts = Vec::new();
                for q in &d.params {
                    if let ParamKind::Value { flag: Some(f), .. } = &q.kind {
                        if f.field == p.name {
                            let name = naming::field_name(&q.name);
                            if q.is_true_flag() {
                                parts.push(format!(
                                    "if self.{name} {{ 1u32 << {} }} else {{ 0 }}",
                                    f.bit
                                ));
                            } else {
                                parts.push(format!(
                                    "if self.{name}.is_some() {{ 1u32 << {} }} else {{ 0 }}",
                                    f.bit
                                ));
                            }
                        }
                    }
                }
                let expr = if parts.is_empty() {
                    "0u32".to_string()
                } else {
                    format!("({})", parts.join(" | "))
                };
                run.push((4, format!("{expr}.to_le_bytes()")));
            }
            ParamKind::Value { ty, flag } => {
                let name = naming::field_name(&p.name);
                if p.is_true_flag() {
                    continue;
                }
                if flag.is_none() && ty.namespace.is_none() && ty.arg.is_none() && !ty.generic_ref {
                    let fixed = match ty.name.as_str() {
                        "int" => Some((4, format!("self.{name}.to_le_bytes()"))),
                        "long" | "double" => Some((8, format!("self.{name}.to_le_bytes()"))),
                        "int128" => Some((16, format!("self.{name}"))),
                        "int256" => Some((32, format!("self.{name}"))),
                        "Bool" => Some((
                            4,
                            format!("(if self.{name} {{ crate::ser::BOOL_TRUE }} else {{ crate::ser::BOOL_FALSE }}).to_le_bytes()"),
                        )),
                        _ => None,
                    };
                    if let Some(f) = fixed {
                        run.push(f);
                        continue;
                    }
                }
                flush(out, &mut run)?;
                if flag.is_some() {
                    writeln!(
                        out,
                        "if let Some(x) = &self.{name} {{ {} }}",
                        m.ser_code(ty, "x")
                    )?;
                } else {
                    writeln!(out, "{}", m.ser_code(ty, &format!("&self.{name}")))?;
                }
            }
        }
    }
    flush(out, &mut run)
}

fn write_body_de(m: &Model, out: &mut impl Write, d: &Definition) -> io::Result<()> {
    for p in d.params.iter() {
        let name = naming::field_name(&p.name);
        let var = format!("f_{}", name.trim_start_matches("r#"));
        match &p.kind {
            ParamKind::Flags => writeln!(out, "let {var} = r.u32()?;")?,
            ParamKind::Value { ty, flag } => {
                if let Some(f) = flag {
                    let fvar = format!(
                        "f_{}",
                        naming::field_name(&f.field).trim_start_matches("r#")
                    );
                    if p.is_true_flag() {
                        writeln!(out, "let {var} = {fvar} & (1u32 << {}) != 0;", f.bit)?;
                    } else {
                        writeln!(
                            out,
                            "let {var} = if {fvar} & (1u32 << {}) != 0 {{ Some({}) }} else {{ None }};",
                            f.bit,
                            m.de_code(ty)
                        )?;
                    }
                } else {
                    writeln!(out, "let {var} = {};", m.de_code(ty))?;
                }
            }
        }
    }
    let inits: Vec<String> = fields(m, d)
        .iter()
        .map(|(n, _, _)| format!("{n}: f_{}", n.trim_start_matches("r#")))
        .collect();
    writeln!(out, "Ok(Self {{ {} }})", inits.join(", "))
}

fn write_doc(out: &mut impl Write, d: &Definition) -> io::Result<()> {
    writeln!(
        out,
        "/// `{}#{:08x}` ({}:{})",
        d.full_name(),
        d.id,
        d.file,
        d.line
    )
}

/// Whether every field has a `Default` (no required enum, bare struct or generic field), so
/// the struct can derive it and callers can write `..Default::default()`.
fn derives_default(d: &Definition) -> bool {
    d.generics.is_empty()
        && d.params.iter().all(|p| match &p.kind {
            ParamKind::Flags => true,
            ParamKind::Value { flag: Some(_), .. } => true,
            ParamKind::Value { ty, flag: None } => ty.is_builtin() || ty.is_vector(),
        })
}

fn write_struct(m: &Model, out: &mut impl Write, i: usize) -> Result<(), GenError> {
    let d = &m.defs[i];
    let name = naming::type_name(&d.name);
    write_doc(out, d)?;
    writeln!(
        out,
        "#[derive(Debug, Clone, PartialEq{})]",
        if derives_default(d) { ", Default" } else { "" }
    )?;
    writeln!(out, "pub struct {name} {{")?;
    for (f, t, _) in fields(m, d) {
        writeln!(out, "    pub {f}: {t},")?;
    }
    writeln!(out, "}}")?;
    writeln!(out, "impl crate::Identifiable for {name} {{ const CONSTRUCTOR_ID: u32 = 0x{:08x}; const NAME: &'static str = \"{}\"; }}", d.id, d.full_name())?;
    writeln!(out, "impl {name} {{")?;
    writeln!(out, "/// Writes the fields without the constructor id.")?;
    writeln!(
        out,
        "#[allow(unused_variables)] pub fn serialize_bare(&self, buf: &mut Vec<u8>) {{"
    )?;
    write_body_ser(m, out, d, None)?;
    writeln!(out, "}}")?;
    writeln!(
        out,
        "/// Reads the fields (the constructor id already consumed)."
    )?;
    writeln!(out, "#[allow(unused_variables)] pub fn deserialize_bare(r: &mut crate::Reader<'_>) -> Result<Self, crate::DeserializeError> {{")?;
    write_body_de(m, out, d)?;
    writeln!(out, "}}\n}}")?;
    writeln!(out, "impl crate::Serializable for {name} {{ #[allow(unused_variables)] fn serialize(&self, buf: &mut Vec<u8>) {{")?;
    write_body_ser(m, out, d, Some(d.id))?;
    writeln!(out, "}} }}")?;
    writeln!(out, "impl crate::Deserializable for {name} {{ fn deserialize(r: &mut crate::Reader<'_>) -> Result<Self, crate::DeserializeError> {{ r.expect_id(0x{:08x}, \"{}\")?; Self::deserialize_bare(r) }} }}", d.id, d.full_name())?;
    // From<struct> for its enum.
    let ety = path("enums", &d.result.namespace, &d.result.name);
    let variant = &m.variant[&i];
    let has_fields = !fields(m, d).is_empty();
    if has_fields {
        let wrap = if m.boxed.contains(&i) {
            "Box::new(x)"
        } else {
            "x"
        };
        writeln!(out, "impl From<{name}> for {ety} {{ fn from(x: {name}) -> Self {{ {ety}::{variant}({wrap}) }} }}")?;
    } else {
        writeln!(
            out,
            "impl From<{name}> for {ety} {{ fn from(_: {name}) -> Self {{ {ety}::{variant} }} }}"
        )?;
    }
    Ok(())
}

fn write_enum(m: &Model, out: &mut impl Write, ty: &str) -> Result<(), GenError> {
    let ctors = &m.types[ty];
    let short = ty.rsplit('.').next().unwrap_or(ty);
    let name = naming::type_name(short);
    writeln!(out, "/// The TL type `{ty}`.")?;
    writeln!(out, "#[derive(Debug, Clone, PartialEq)]")?;
    writeln!(out, "pub enum {name} {{")?;
    for &c in ctors {
        let d = &m.defs[c];
        let v = &m.variant[&c];
        writeln!(out, "    /// `{}`", d.full_name())?;
        if fields(m, d).is_empty() {
            writeln!(out, "    {v},")?;
        } else if m.boxed.contains(&c) {
            writeln!(
                out,
                "    {v}(Box<{}>),",
                path("types", &d.namespace, &d.name)
            )?;
        } else {
            writeln!(out, "    {v}({}),", path("types", &d.namespace, &d.name))?;
        }
    }
    writeln!(out, "}}")?;
    // constructor_id + name
    writeln!(out, "impl {name} {{")?;
    writeln!(out, "/// The constructor id of this value.")?;
    writeln!(out, "pub fn constructor_id(&self) -> u32 {{ match self {{")?;
    for &c in ctors {
        let d = &m.defs[c];
        let v = &m.variant[&c];
        let pat = if fields(m, d).is_empty() {
            v.clone()
        } else {
            format!("{v}(_)")
        };
        writeln!(out, "Self::{pat} => 0x{:08x},", d.id)?;
    }
    writeln!(out, "}} }}\n}}")?;
    // Serializable
    writeln!(out, "impl crate::Serializable for {name} {{ fn serialize(&self, buf: &mut Vec<u8>) {{ match self {{")?;
    for &c in ctors {
        let d = &m.defs[c];
        let v = &m.variant[&c];
        if fields(m, d).is_empty() {
            writeln!(out, "Self::{v} => crate::ser::u32(buf, 0x{:08x}),", d.id)?;
        } else {
            writeln!(
                out,
                "Self::{v}(x) => crate::Serializable::serialize(x, buf),"
            )?;
        }
    }
    writeln!(out, "}} }} }}")?;
    // Deserializable
    writeln!(out, "impl crate::Deserializable for {name} {{ fn deserialize(r: &mut crate::Reader<'_>) -> Result<Self, crate::DeserializeError> {{")?;
    writeln!(out, "let id = r.u32()?; r.enter()?; let v = match id {{")?;
    for &c in ctors {
        let d = &m.defs[c];
        let v = &m.variant[&c];
        let tp = path("types", &d.namespace, &d.name);
        if fields(m, d).is_empty() {
            writeln!(out, "0x{:08x} => Self::{v},", d.id)?;
        } else if m.boxed.contains(&c) {
            writeln!(
                out,
                "0x{:08x} => Self::{v}(Box::new({tp}::deserialize_bare(r)?)),",
                d.id
            )?;
        } else {
            writeln!(
                out,
                "0x{:08x} => Self::{v}({tp}::deserialize_bare(r)?),",
                d.id
            )?;
        }
    }
    writeln!(
        out,
        "_ => return Err(r.unexpected_constructor(id, \"{ty}\")),"
    )?;
    writeln!(out, "}}; r.leave(); Ok(v) }} }}")?;
    Ok(())
}

fn write_function(m: &Model, out: &mut impl Write, i: usize) -> Result<(), GenError> {
    let d = &m.defs[i];
    let name = naming::type_name(&d.name);
    let generics = if d.generics.is_empty() {
        String::new()
    } else {
        format!("<{}>", d.generics.join(", "))
    };
    let ser_bounds = if d.generics.is_empty() {
        String::new()
    } else {
        format!(
            "<{}>",
            d.generics
                .iter()
                .map(|g| format!("{g}: crate::Serializable"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    write_doc(out, d)?;
    writeln!(
        out,
        "#[derive(Debug, Clone, PartialEq{})]",
        if derives_default(d) { ", Default" } else { "" }
    )?;
    writeln!(out, "pub struct {name}{generics} {{")?;
    for (f, t, _) in fields(m, d) {
        writeln!(out, "    pub {f}: {t},")?;
    }
    writeln!(out, "}}")?;
    writeln!(out, "impl{ser_bounds} crate::Identifiable for {name}{generics} {{ const CONSTRUCTOR_ID: u32 = 0x{:08x}; const NAME: &'static str = \"{}\"; }}", d.id, d.full_name())?;
    writeln!(out, "impl{ser_bounds} crate::Serializable for {name}{generics} {{ #[allow(unused_variables)] fn serialize(&self, buf: &mut Vec<u8>) {{")?;
    write_body_ser(m, out, d, Some(d.id))?;
    writeln!(out, "}} }}")?;
    if d.generics.is_empty() && m.config.deserializable_functions {
        writeln!(out, "impl {name} {{ /// Reads the arguments (the id already consumed).\n #[allow(unused_variables)] pub fn deserialize_bare(r: &mut crate::Reader<'_>) -> Result<Self, crate::DeserializeError> {{")?;
        write_body_de(m, out, d)?;
        writeln!(out, "}} }}")?;
        writeln!(out, "impl crate::Deserializable for {name} {{ fn deserialize(r: &mut crate::Reader<'_>) -> Result<Self, crate::DeserializeError> {{ r.expect_id(0x{:08x}, \"{}\")?; Self::deserialize_bare(r) }} }}", d.id, d.full_name())?;
    }
    let ret = if d.result.generic_ref {
        format!("{}::Return", d.result.name)
    } else {
        m.rust_ty(&d.result)
    };
    let rc_bounds = if d.generics.is_empty() {
        String::new()
    } else {
        format!(
            "<{}>",
            d.generics
                .iter()
                .map(|g| format!("{g}: crate::RemoteCall"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    writeln!(
        out,
        "impl{rc_bounds} crate::RemoteCall for {name}{generics} {{ type Return = {ret}; }}"
    )?;
    Ok(())
}

fn write_lookup(m: &Model, out: &mut impl Write) -> Result<(), GenError> {
    writeln!(
        out,
        "/// The TL name of a constructor or function id (`None` if unknown)."
    )?;
    writeln!(
        out,
        "pub fn name_of(id: u32) -> Option<&'static str> {{ Some(match id {{"
    )?;
    for d in m.defs.iter().filter(|d| !is_builtin_ctor(d)) {
        writeln!(out, "0x{:08x} => \"{}\",", d.id, d.full_name())?;
    }
    writeln!(out, "_ => return None }}) }}")?;
    if m.config.reencode {
        writeln!(out, "/// Decodes a boxed value (constructor or function) by its id through the typed API and")?;
        writeln!(
            out,
            "/// encodes it again. `None` when the id is unknown or belongs to a generic function."
        )?;
        writeln!(out, "pub fn reencode_boxed(bytes: &[u8]) -> Option<Result<Vec<u8>, crate::DeserializeError>> {{")?;
        writeln!(out, "fn go<T: crate::Deserializable + crate::Serializable>(b: &[u8]) -> Result<Vec<u8>, crate::DeserializeError> {{ let v = T::from_bytes(b)?; Ok(crate::Serializable::to_bytes(&v)) }}")?;
        writeln!(out, "if bytes.len() < 4 {{ return None; }}")?;
        writeln!(
            out,
            "let id = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);"
        )?;
        writeln!(out, "Some(match id {{")?;
        for (ty, ctors) in &m.types {
            let ety = path(
                "enums",
                &ty.rsplit_once('.').map(|(n, _)| n.to_string()),
                ty.rsplit('.').next().unwrap_or(ty),
            );
            let ids: Vec<String> = ctors
                .iter()
                .map(|&c| format!("0x{:08x}", m.defs[c].id))
                .collect();
            writeln!(out, "{} => go::<{ety}>(bytes),", ids.join(" | "))?;
        }
        if m.config.deserializable_functions {
            for d in m
                .defs
                .iter()
                .filter(|d| d.category == Category::Function && d.generics.is_empty())
            {
                writeln!(
                    out,
                    "0x{:08x} => go::<{}>(bytes),",
                    d.id,
                    path("functions", &d.namespace, &d.name)
                )?;
            }
        }
        writeln!(out, "_ => return None }}) }}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse_file;

    fn gen(text: &str) -> String {
        gen_with(text, &Config::default())
    }

    fn gen_with(text: &str, config: &Config) -> String {
        let defs = parse_file("t.tl", text).unwrap();
        let mut out = Vec::new();
        generate(&defs, config, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fixed_size_fields_are_written_in_one_run() {
        let s = gen("p#59511722 user_id:long = P;\nq#2 a:int b:string c:int = Q;");
        assert!(
            s.contains("{ let mut a = [0u8; 12]; a[0..4].copy_from_slice(&0x59511722u32.to_le_bytes()); a[4..12].copy_from_slice(&self.user_id.to_le_bytes()); buf.extend_from_slice(&a); }"),
            "{s}"
        );
        // A variable-size field ends the run.
        assert!(
            s.contains(
                "crate::ser::string(buf, &self.b);\nbuf.extend_from_slice(&self.c.to_le_bytes());"
            ),
            "{s}"
        );
    }

    #[test]
    fn emits_structs_enums_and_ids() {
        let s = gen("inputPeerEmpty#7f3b18ea = InputPeer;\ninputPeerUser#dde8a54c user_id:long access_hash:long = InputPeer;");
        assert!(
            s.contains(
                "pub struct InputPeerUser {\n    pub user_id: i64,\n    pub access_hash: i64,\n}"
            ),
            "{s}"
        );
        assert!(
            s.contains("#[derive(Debug, Clone, PartialEq, Default)]\npub struct InputPeerUser"),
            "{s}"
        );
        assert!(s.contains("pub enum InputPeer {"), "{s}");
        assert!(s.contains("    Empty,\n"), "{s}");
        assert!(s.contains("    User(crate::types::InputPeerUser),"), "{s}");
        assert!(s.contains("const CONSTRUCTOR_ID: u32 = 0xdde8a54c;"), "{s}");
        assert!(s.contains("0x7f3b18ea => Self::Empty,"), "{s}");
    }

    #[test]
    fn flags_become_options_and_bools_and_are_computed() {
        let s = gen("a#1 flags:# x:flags.0?true y:flags.1?string z:int = A;");
        assert!(s.contains("pub x: bool,"), "{s}");
        assert!(s.contains("pub y: Option<String>,"), "{s}");
        assert!(s.contains("buf.extend_from_slice(&(if self.x { 1u32 << 0 } else { 0 } | if self.y.is_some() { 1u32 << 1 } else { 0 }).to_le_bytes());"), "{s}");
        assert!(
            s.contains(
                "let f_y = if f_flags & (1u32 << 1) != 0 { Some(r.string()?) } else { None };"
            ),
            "{s}"
        );
    }

    #[test]
    fn namespaces_functions_and_generics() {
        let s = gen("u#1 = Updates;\n---functions---\nmessages.send#2 text:string = Updates;\ninvokeWithLayer#da9b0d0d {X:Type} layer:int query:!X = X;\nget#3 ids:Vector<long> = Vector<long>;");
        assert!(s.contains("pub mod messages {"), "{s}");
        assert!(
            s.contains("impl crate::RemoteCall for Send { type Return = crate::enums::Updates; }"),
            "{s}"
        );
        assert!(s.contains("pub struct InvokeWithLayer<X> {"), "{s}");
        assert!(s.contains("impl<X: crate::RemoteCall> crate::RemoteCall for InvokeWithLayer<X> { type Return = X::Return; }"), "{s}");
        assert!(s.contains("type Return = Vec<i64>;"), "{s}");
    }

    #[test]
    fn recursive_and_large_variants_are_boxed() {
        let config = Config {
            box_threshold: 64,
            ..Config::default()
        };
        let s = gen_with("leaf#1 = T;\nnode#2 a:T b:int = T;\nbig#3 a:long b:long c:long d:long e:long f:long g:long h:long i:long = B;\nsmall#4 a:int = S;", &config);
        assert!(s.contains("Node(Box<crate::types::Node>)"), "{s}");
        assert!(s.contains("Big(Box<crate::types::Big>)"), "{s}");
        assert!(s.contains("Small(crate::types::Small)"), "{s}");
    }

    #[test]
    fn bare_vectors_and_bare_types() {
        let s = gen("future_salt#0949d9dc valid_since:int salt:long = FutureSalt;\nfuture_salts#ae500895 salts:vector<future_salt> = FutureSalts;");
        assert!(
            s.contains("pub salts: Vec<crate::types::FutureSalt>,"),
            "{s}"
        );
        assert!(s.contains("r.vector_len(false, 1)"), "{s}");
        assert!(
            s.contains("crate::types::FutureSalt::deserialize_bare(r)?"),
            "{s}"
        );
    }

    #[test]
    fn unknown_type_fails_with_position() {
        let defs = parse_file("t.tl", "\na#1 x:Missing = A;").unwrap();
        let e = generate(&defs, &Config::default(), &mut Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "t.tl:2: parameter `x`: unknown type `Missing`, expected a type with at least one constructor");
    }
}
