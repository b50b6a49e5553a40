//! Decode plans: each definition's parameters resolved once (flag slots, type indices,
//! bare constructors), so decoding compares integers instead of names.

use super::Schema;
use crate::schema_def::{Category, Definition, ParamKind, Ty};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for `u32` constructor ids (already uniformly distributed CRC32 values).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | *b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Map keyed by constructor id.
pub(crate) type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// How to decode one value.
#[derive(Debug, Clone)]
pub(crate) enum TyPlan {
    Int,
    Long,
    Double,
    String,
    Bytes,
    Int128,
    Int256,
    Bool,
    Vector {
        boxed: bool,
        min: usize,
        elem: Box<TyPlan>,
    },
    /// A boxed value of abstract type index `ty`.
    Boxed {
        ty: u32,
        name: String,
    },
    /// A bare constructor (definition index).
    Bare(usize),
    /// `!X`: any function.
    Generic,
    /// A type without constructors (the schema refers to it but never defines it).
    Unknown(String),
}

/// How to decode one parameter.
#[derive(Debug, Clone)]
pub(crate) enum ParamPlan {
    Flags { slot: u8 },
    True { slot: u8, bit: u8 },
    Value { ty: TyPlan, flag: Option<(u8, u8)> },
}

/// A definition's plan.
#[derive(Debug, Clone)]
pub(crate) struct DefPlan {
    pub params: Vec<ParamPlan>,
    /// The abstract type index of a constructor's result (`None` for functions).
    pub result: Option<u32>,
    /// Count of unconditional fields (capacity hint).
    pub required: usize,
}

impl Schema {
    pub(crate) fn build_plans(
        defs: &[Definition],
        type_index: &HashMap<String, u32>,
        by_name: &HashMap<String, usize>,
    ) -> Vec<DefPlan> {
        defs.iter()
            .map(|d| {
                let mut slots: Vec<&str> = Vec::new();
                let mut params = Vec::with_capacity(d.params.len());
                for p in &d.params {
                    let plan = match &p.kind {
                        ParamKind::Flags => {
                            slots.push(&p.name);
                            ParamPlan::Flags {
                                slot: (slots.len() - 1).min(3) as u8,
                            }
                        }
                        ParamKind::Value { ty, flag } => {
                            let flag = flag.as_ref().map(|f| {
                                let slot =
                                    slots.iter().position(|s| *s == f.field).unwrap_or(0).min(3)
                                        as u8;
                                (slot, f.bit as u8)
                            });
                            match (p.is_true_flag(), flag) {
                                (true, Some((slot, bit))) => ParamPlan::True { slot, bit },
                                _ => ParamPlan::Value {
                                    ty: plan_ty_with(ty, type_index, by_name, defs),
                                    flag,
                                },
                            }
                        }
                    };
                    params.push(plan);
                }
                DefPlan {
                    params,
                    result: (d.category == Category::Type)
                        .then(|| type_index.get(&d.result.full_name()).copied())
                        .flatten(),
                    required: d
                        .params
                        .iter()
                        .filter(|p| p.ty().is_some() && p.flag().is_none())
                        .count(),
                }
            })
            .collect()
    }

    pub(crate) fn plan_ty(&self, ty: &Ty) -> TyPlan {
        plan_ty_with(ty, &self.type_index, &self.by_name, &self.defs)
    }

    /// The index of a definition of this schema.
    pub(crate) fn index_of(&self, def: &Definition) -> usize {
        self.by_id[&def.id]
    }

    /// The index of the definition with constructor id `id`.
    pub(crate) fn index_by_id(&self, id: u32) -> Option<usize> {
        self.by_id.get(&id).copied()
    }
}

fn plan_ty_with(
    ty: &Ty,
    type_index: &HashMap<String, u32>,
    by_name: &HashMap<String, usize>,
    defs: &[Definition],
) -> TyPlan {
    if ty.generic_ref {
        return TyPlan::Generic;
    }
    if let Some(arg) = &ty.arg {
        let min = match (arg.namespace.is_none(), arg.name.as_str()) {
            (true, "long" | "double") => 8,
            (true, "int128") => 16,
            (true, "int256") => 32,
            _ if arg.bare && !arg.is_builtin() && !arg.is_vector() => 1,
            _ => 4,
        };
        return TyPlan::Vector {
            boxed: !ty.bare,
            min,
            elem: Box::new(plan_ty_with(arg, type_index, by_name, defs)),
        };
    }
    if ty.namespace.is_none() {
        match ty.name.as_str() {
            "int" => return TyPlan::Int,
            "long" => return TyPlan::Long,
            "double" => return TyPlan::Double,
            "string" => return TyPlan::String,
            "bytes" => return TyPlan::Bytes,
            "int128" => return TyPlan::Int128,
            "int256" => return TyPlan::Int256,
            "Bool" => return TyPlan::Bool,
            _ => {}
        }
    }
    let full = ty.full_name();
    if ty.bare {
        if let Some(&i) = by_name.get(&full) {
            if defs[i].category == Category::Type {
                return TyPlan::Bare(i);
            }
        }
        let ctors: Vec<usize> = defs
            .iter()
            .enumerate()
            .filter(|(_, d)| d.category == Category::Type && d.result.full_name() == full)
            .map(|(i, _)| i)
            .collect();
        return match ctors.as_slice() {
            [one] => TyPlan::Bare(*one),
            _ => TyPlan::Unknown(full),
        };
    }
    match type_index.get(&full) {
        Some(&t) => TyPlan::Boxed { ty: t, name: full },
        None => TyPlan::Unknown(full),
    }
}
