//! Older API layers: their schemas (shipped in `tl/schema/layers/`) and the conversion of a
//! value between two layers by constructor name.
//!
//! A client declares its layer with `invokeWithLayer`; a server that speaks another one reads
//! the client's bytes with the client's schema, rewrites the value into its own schema's
//! shape ([`Schema::adopt`]) and encodes it there, and does the reverse for answers and
//! updates. By name, field by field:
//!
//! - a field the target constructor lacks is dropped;
//! - a field the target has and the value lacks gets its default: absent when it is
//!   conditional (`flags.N?T`), `false`, zero, empty; a required object gets the type's
//!   constructor that has no required fields, if there is one;
//! - in a vector, an element whose constructor the target layer does not know is left out
//!   (an update an older client cannot read); anywhere else it is an error naming the path.
//!
//! What cannot be converted is an error that says where, never a wrong byte.

use super::{CodecError, Object, Schema, Value};
use crate::schema_def::{Category, Definition};
use crate::schema_def::{ParamKind, Ty};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The oldest layer a client may speak.
pub const OLDEST: i32 = 200;

/// The layers whose schema is shipped (`tl/schema/layers/N.tl`, from the source packages
/// of released clients on PyPI). A layer between two of them is served with the schema of the
/// nearest one below: no released client speaks it.
pub const SHIPPED: &[(i32, &str)] = &[
    (200, include_str!("../../schema/layers/200.tl")),
    (201, include_str!("../../schema/layers/201.tl")),
    (202, include_str!("../../schema/layers/202.tl")),
    (203, include_str!("../../schema/layers/203.tl")),
    (204, include_str!("../../schema/layers/204.tl")),
    (205, include_str!("../../schema/layers/205.tl")),
    (207, include_str!("../../schema/layers/207.tl")),
    (211, include_str!("../../schema/layers/211.tl")),
    (214, include_str!("../../schema/layers/214.tl")),
    (216, include_str!("../../schema/layers/216.tl")),
    (220, include_str!("../../schema/layers/220.tl")),
    (221, include_str!("../../schema/layers/221.tl")),
    (222, include_str!("../../schema/layers/222.tl")),
    (223, include_str!("../../schema/layers/223.tl")),
    (224, include_str!("../../schema/layers/224.tl")),
    (225, include_str!("../../schema/layers/225.tl")),
    (227, include_str!("../../schema/layers/227.tl")),
    (228, include_str!("../../schema/layers/228.tl")),
];

/// The schema a client of `layer` speaks: `None` for the bundled layer and newer ones (no
/// conversion), an error for a layer older than [`OLDEST`]. Parsed once per process.
///
/// # Errors
/// The layer is too old to be served.
pub fn schema_for(layer: i32) -> Result<Option<&'static Schema>, String> {
    if layer >= crate::LAYER {
        return Ok(None);
    }
    if layer < OLDEST {
        return Err(format!(
            "layer {layer} is not supported (the oldest is {OLDEST}, the newest {})",
            crate::LAYER
        ));
    }
    let (shipped, text) = SHIPPED
        .iter()
        .rev()
        .find(|(l, _)| *l <= layer)
        .copied()
        .expect("OLDEST is shipped");
    static PARSED: OnceLock<Mutex<HashMap<i32, &'static Schema>>> = OnceLock::new();
    let mut parsed = PARSED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = parsed.get(&shipped) {
        return Ok(Some(s));
    }
    let name = format!("layers/{shipped}.tl");
    let schema = Schema::parse(&[(&name, text), ("mtproto.tl", crate::MTPROTO_TL)])
        .map_err(|e| format!("the shipped schema of layer {shipped} does not parse: {e}"))?;
    let leaked: &'static Schema = Box::leak(Box::new(schema));
    parsed.insert(shipped, leaked);
    Ok(Some(leaked))
}

/// Most nesting a converted value may have.
const MAX_DEPTH: u32 = 64;

impl Schema {
    /// `obj`, decoded with another layer's schema, rewritten into this schema's shape (see
    /// the module docs); encode the result with [`Schema::encode`].
    ///
    /// # Errors
    /// A constructor this layer does not know where it cannot be left out, or a required
    /// field without a value here; the error names the path.
    pub fn adopt(&self, obj: &Object) -> Result<Object, CodecError> {
        self.adopt_object(obj, &obj.name, 0)
    }

    /// `value` of type `ty` (as written in this schema: `"Vector<User>"`, `"Updates"`)
    /// rewritten into this schema's shape.
    ///
    /// # Errors
    /// As [`Schema::adopt`].
    pub fn adopt_as(&self, value: &Value, ty: &str) -> Result<Value, CodecError> {
        let t = super::codec::parse_ty(ty)?;
        self.adopt_value(value, &t, "", 0)
    }

    fn adopt_object(&self, obj: &Object, path: &str, depth: u32) -> Result<Object, CodecError> {
        if depth > MAX_DEPTH {
            return Err(err(path, format!("nested deeper than {MAX_DEPTH}")));
        }
        let def = self.get(&obj.name).ok_or_else(|| {
            err(
                path,
                format!("{} does not exist in the other layer", obj.name),
            )
        })?;
        let mut out = Object::new(obj.name.clone());
        for p in &def.params {
            let ParamKind::Value { ty, flag } = &p.kind else {
                continue; // flag words are computed when encoding
            };
            let field_path = format!("{path}.{}", p.name);
            // A field whose type changed between the layers is another field: as if absent.
            let value = obj.get(&p.name).filter(|v| self.fits(v, ty));
            match value {
                Some(Value::Bool(false)) if flag.is_some() && is_true(ty) => {}
                Some(v) => {
                    let v = self.adopt_value(v, ty, &field_path, depth + 1)?;
                    out.fields.push((p.name.clone().into(), v));
                }
                None if flag.is_some() => {}
                None => {
                    let v = self.default_of(ty, &field_path, depth + 1)?;
                    out.fields.push((p.name.clone().into(), v));
                }
            }
        }
        self.complete_flag_groups(def, &mut out, path, depth);
        Ok(out)
    }

    /// Fields that share a flag bit go together: when one of them is set and another has no
    /// value (the other layer lacks it), the other takes its default, or, without one, the
    /// group is left out.
    fn complete_flag_groups(&self, def: &Definition, out: &mut Object, path: &str, depth: u32) {
        let mut groups: Vec<(&str, u32)> = Vec::new();
        for p in &def.params {
            if let ParamKind::Value { flag: Some(f), ty } = &p.kind {
                let _ = ty;
                if !groups.contains(&(f.field.as_str(), f.bit)) {
                    groups.push((f.field.as_str(), f.bit));
                }
            }
        }
        for (field, bit) in groups {
            let members: Vec<(&str, &Ty)> = def
                .params
                .iter()
                .filter_map(|p| match &p.kind {
                    ParamKind::Value { flag: Some(f), ty } if f.field == field && f.bit == bit => {
                        Some((p.name.as_str(), ty))
                    }
                    _ => None,
                })
                .collect();
            let set = |n: &str| !matches!(out.get(n), None | Some(Value::Bool(false)));
            if members.len() < 2 || !members.iter().any(|(n, _)| set(n)) {
                continue;
            }
            let mut filled = Vec::new();
            let mut complete = true;
            for (name, ty) in &members {
                if out.get(name).is_none() && !is_true(ty) {
                    match self.default_of(ty, &format!("{path}.{name}"), depth + 1) {
                        Ok(v) => filled.push((name.to_string(), v)),
                        Err(_) => complete = false,
                    }
                }
            }
            if complete {
                for (n, v) in filled {
                    out.fields.push((n.into(), v));
                }
            } else {
                out.fields
                    .retain(|(n, _)| !members.iter().any(|(m, _)| m == n));
            }
        }
    }

    fn adopt_value(&self, v: &Value, ty: &Ty, path: &str, depth: u32) -> Result<Value, CodecError> {
        if ty.is_vector() {
            let Value::Vector(items) = v else {
                return Err(err(path, format!("expected a vector, got {}", v.kind())));
            };
            let Some(arg) = ty.arg.as_deref() else {
                return Ok(v.clone());
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                // An element this layer cannot express is left out (an update an older
                // client does not know); anything else wrong is an error.
                if let Value::Object(o) = item {
                    if self.get(&o.name).is_none() {
                        continue;
                    }
                }
                out.push(self.adopt_value(item, arg, &format!("{path}[{i}]"), depth + 1)?);
            }
            return Ok(Value::Vector(out));
        }
        match (v, ty.name.as_str()) {
            (Value::Int(x), "long") if ty.namespace.is_none() => Ok(Value::Long(i64::from(*x))),
            (Value::Long(x), "int") if ty.namespace.is_none() => i32::try_from(*x)
                .map(Value::Int)
                .map_err(|_| err(path, format!("{x} does not fit the int of the other layer"))),
            (Value::Object(o), _) => Ok(Value::Object(self.adopt_object(o, path, depth)?)),
            _ => Ok(v.clone()),
        }
    }

    /// Whether `v` can stand as a value of `ty` here (its kind, or its constructor's type).
    fn fits(&self, v: &Value, ty: &Ty) -> bool {
        if ty.is_vector() {
            return matches!(v, Value::Vector(_));
        }
        if ty.generic_ref {
            return matches!(v, Value::Object(_));
        }
        let builtin = if ty.namespace.is_none() {
            ty.name.as_str()
        } else {
            ""
        };
        match (v, builtin) {
            (Value::Int(_) | Value::Long(_), "int" | "long") => true,
            (Value::Double(_), "double") => true,
            (Value::String(_), "string") => true,
            // Text and bytes are the same on the wire.
            (Value::Bytes(_), "bytes" | "string") | (Value::String(_), "bytes") => true,
            (Value::Bool(_), "Bool" | "true") => true,
            (Value::Int128(_), "int128") => true,
            (Value::Int256(_), "int256") => true,
            (Value::Object(o), _) if !ty.is_builtin() => match self.get(&o.name) {
                Some(d) => {
                    d.result.full_name() == ty.full_name() || d.full_name() == ty.full_name()
                }
                // Unknown here: adopt_value says so, with the path.
                None => true,
            },
            _ => false,
        }
    }

    /// The value a required field of type `ty` takes when the other layer has none.
    fn default_of(&self, ty: &Ty, path: &str, depth: u32) -> Result<Value, CodecError> {
        if ty.is_vector() {
            return Ok(Value::Vector(Vec::new()));
        }
        if ty.namespace.is_none() {
            match ty.name.as_str() {
                "int" | "#" => return Ok(Value::Int(0)),
                "long" => return Ok(Value::Long(0)),
                "double" => return Ok(Value::Double(0.0)),
                "string" => return Ok(Value::String(String::new())),
                "bytes" => return Ok(Value::Bytes(Vec::new())),
                "Bool" | "true" => return Ok(Value::Bool(false)),
                "int128" => return Ok(Value::Int128([0; 16])),
                "int256" => return Ok(Value::Int256(Box::new([0; 32]))),
                _ => {}
            }
        }
        if depth > MAX_DEPTH {
            return Err(err(path, format!("nested deeper than {MAX_DEPTH}")));
        }
        // The type's constructor that needs nothing (`peerNotifySettings`, `…Empty`).
        let empty = self
            .constructors_of(&ty.full_name())
            .find(|d| needs_nothing(d))
            .or_else(|| {
                // A bare type named by its constructor.
                self.get(&ty.full_name())
                    .filter(|d| d.category == Category::Type && needs_nothing(d))
            });
        match empty {
            Some(d) => Ok(Value::Object(Object::new(d.full_name()))),
            None => Err(err(
                path,
                format!("required {ty} has no value in the other layer"),
            )),
        }
    }
}

fn needs_nothing(d: &Definition) -> bool {
    d.params.iter().all(|p| match &p.kind {
        ParamKind::Flags => true,
        ParamKind::Value { flag, .. } => flag.is_some(),
    })
}

fn is_true(ty: &Ty) -> bool {
    ty.namespace.is_none() && ty.name == "true"
}

fn err(path: &str, message: String) -> CodecError {
    CodecError {
        path: path.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamic::schema;

    fn from_json(s: &Schema, j: serde_json::Value) -> Object {
        s.object_from_json(&j).unwrap()
    }

    #[test]
    fn values_cross_layers_by_name_field_by_field() {
        let old = schema_for(214).unwrap().unwrap();
        let now = schema();
        // A 229 user (a constructor whose id changed since 214) read by a 214 client.
        let user = from_json(
            now,
            serde_json::json!({"_": "user", "id": 5, "access_hash": 9, "first_name": "Ann",
                "bot": true, "bot_info_version": 2, "bot_active_users": 3,
                "stories_max_id": {"_": "recentStory", "max_id": 4}}),
        );
        let bytes = now.encode(&user).unwrap();
        let back = old.adopt(&now.decode(&bytes).unwrap()).unwrap();
        let old_bytes = old.encode(&back).unwrap();
        assert_ne!(
            old_bytes[..4],
            bytes[..4],
            "the id differs between the layers"
        );
        let read = old.decode(&old_bytes).unwrap();
        assert_eq!(read.get("first_name"), Some(&Value::String("Ann".into())));
        assert_eq!(read.get("bot"), Some(&Value::Bool(true)));
        // A field whose type changed (RecentStory here, int there) is left out, not mangled.
        assert_eq!(read.get("stories_max_id"), None);
        // And back up: fields 214 lacks are absent or default, nothing else changes.
        let up = now.adopt(&read).unwrap();
        assert_eq!(
            now.decode(&now.encode(&up).unwrap()).unwrap().get("id"),
            Some(&Value::Long(5))
        );

        // An update 214 does not know is left out of a container; the rest arrives.
        let updates = from_json(
            now,
            serde_json::json!({"_": "updates", "updates": [
                {"_": "updatePinnedForumTopics", "peer": {"_": "peerChannel", "channel_id": 1}},
                {"_": "updateDeleteMessages", "messages": [1, 2], "pts": 7, "pts_count": 2}
            ], "users": [], "chats": [], "date": 1, "seq": 0}),
        );
        let got = old
            .decode(&old.encode(&old.adopt(&updates).unwrap()).unwrap())
            .unwrap();
        let Some(Value::Vector(list)) = got.get("updates") else {
            panic!("{got:?}")
        };
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].as_object().unwrap().name, "updateDeleteMessages");

        // Where it cannot be left out: an error that names the path, never wrong bytes.
        let lone = from_json(
            now,
            serde_json::json!({"_": "updateShort", "update":
                {"_": "updatePinnedForumTopics", "peer": {"_": "peerChannel", "channel_id": 1}},
                "date": 1}),
        );
        let e = old.adopt(&lone).unwrap_err();
        assert_eq!(e.path, "updateShort.update");
        assert!(
            e.message.contains("updatePinnedForumTopics does not exist"),
            "{e}"
        );
        // A function the current layer dropped.
        let gone = from_json(
            old,
            serde_json::json!({"_": "channels.getForumTopicsByID",
                "channel": {"_": "inputChannelEmpty"}, "topics": [1]}),
        );
        assert!(now.adopt(&gone).is_err());
    }

    #[test]
    fn every_shipped_layer_parses_and_names_its_layer() {
        for (layer, text) in SHIPPED {
            assert!(text.starts_with(&format!("// LAYER {layer}\n")), "{layer}");
            let s = schema_for(*layer).unwrap().unwrap();
            assert!(s.get("messages.sendMessage").is_some(), "{layer}");
        }
        // Between shipped layers: the nearest one below.
        assert!(std::ptr::eq(
            schema_for(206).unwrap().unwrap(),
            schema_for(205).unwrap().unwrap()
        ));
        assert!(schema_for(crate::LAYER).unwrap().is_none());
        assert!(schema_for(230).unwrap().is_none());
        assert_eq!(
            schema_for(199).unwrap_err(),
            format!(
                "layer 199 is not supported (the oldest is 200, the newest {})",
                crate::LAYER
            )
        );
    }
}
