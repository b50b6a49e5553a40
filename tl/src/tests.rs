//! Tests of the generated types and the dynamic codec, including the property test
//! dynamic encode -> generated decode -> generated encode -> dynamic decode.

use crate::dynamic::{json, schema, Object, Value};
use crate::{
    enums, functions, types, Deserializable, DeserializeError, Identifiable, RemoteCall,
    Serializable,
};
use proptest::prelude::*;

fn send_message() -> functions::messages::SendMessage {
    functions::messages::SendMessage {
        no_webpage: true,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: enums::InputPeer::User(types::InputPeerUser {
            user_id: 42,
            access_hash: -7,
        }),
        reply_to: None,
        message: "héllo".into(),
        random_id: 99,
        reply_markup: None,
        entities: Some(vec![enums::MessageEntity::Bold(types::MessageEntityBold {
            offset: 0,
            length: 5,
        })]),
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    }
}

#[test]
fn typed_round_trip_and_layout() {
    let m = send_message();
    let b = m.to_bytes();
    assert_eq!(
        &b[..4],
        &functions::messages::SendMessage::CONSTRUCTOR_ID.to_le_bytes()
    );
    // flags: no_webpage (bit 1) and entities (bit 3)
    assert_eq!(
        u32::from_le_bytes(b[4..8].try_into().unwrap()),
        (1 << 1) | (1 << 3)
    );
    let back = functions::messages::SendMessage::from_bytes(&b).unwrap();
    assert_eq!(back, m);
    fn ret<R: RemoteCall<Return = enums::Updates>>(_: &R) {}
    ret(&m);
}

#[test]
fn strings_use_long_form_past_253_bytes() {
    let long = "x".repeat(300);
    let u = types::MessageEntityTextUrl {
        offset: 1,
        length: 2,
        url: long.clone(),
    };
    let b = enums::MessageEntity::TextUrl(u.clone()).to_bytes();
    assert_eq!(b[12], 254);
    assert_eq!(b.len() % 4, 0);
    let back = enums::MessageEntity::from_bytes(&b).unwrap();
    assert_eq!(back, enums::MessageEntity::TextUrl(u));
}

#[test]
fn hostile_input_is_an_error_not_a_panic() {
    let b = send_message().to_bytes();
    for n in 0..b.len() {
        assert!(
            functions::messages::SendMessage::from_bytes(&b[..n]).is_err(),
            "prefix {n}"
        );
    }
    // A vector count far beyond the input: an error, and no huge allocation.
    let mut v = Vec::new();
    crate::ser::u32(&mut v, crate::ser::VECTOR_ID);
    crate::ser::i32(&mut v, &i32::MAX);
    assert!(matches!(
        Vec::<i64>::from_bytes(&v),
        Err(DeserializeError::BadLength { .. })
    ));
    // A string length beyond the input.
    let s = [254u8, 0xff, 0xff, 0x7f, 1, 2, 3, 4];
    assert!(matches!(
        String::from_bytes(&s),
        Err(DeserializeError::BadLength { .. })
    ));
    // Unknown constructor names the expected type.
    let e = enums::InputPeer::from_bytes(&[1, 2, 3, 4]).unwrap_err();
    assert!(e.to_string().contains("expected InputPeer"), "{e}");
    // Deep nesting stops at MAX_DEPTH instead of overflowing the stack.
    let mut deep = Vec::new();
    for _ in 0..10_000 {
        crate::ser::u32(&mut deep, types::InputPeerUserFromMessage::CONSTRUCTOR_ID);
    }
    assert!(matches!(
        enums::InputPeer::from_bytes(&deep),
        Err(DeserializeError::TooDeep { .. })
    ));
    // Garbage of every length never panics for a big type.
    let mut x: u32 = 12345;
    for len in 0..2000 {
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                (x >> 24) as u8
            })
            .collect();
        let _ = enums::Updates::from_bytes(&garbage);
        let _ = schema().decode(&garbage);
    }
}

#[test]
fn dynamic_matches_typed_encoding() {
    let m = send_message();
    let obj = Object::new("messages.sendMessage")
        .with("no_webpage", Value::Bool(true))
        .with(
            "peer",
            Value::Object(
                Object::new("inputPeerUser")
                    .with("user_id", Value::Long(42))
                    .with("access_hash", Value::Long(-7)),
            ),
        )
        .with("message", Value::String("héllo".into()))
        .with("random_id", Value::Long(99))
        .with(
            "entities",
            Value::Vector(vec![Value::Object(
                Object::new("messageEntityBold")
                    .with("offset", Value::Int(0))
                    .with("length", Value::Int(5)),
            )]),
        );
    assert_eq!(schema().encode(&obj).unwrap(), m.to_bytes());
    let back = schema().decode(&m.to_bytes()).unwrap();
    assert_eq!(back, obj);
}

#[test]
fn dynamic_errors_name_path_and_expectation() {
    let s = schema();
    let o = Object::new("messages.sendMessage").with("peer", Value::String("@x".into()));
    assert_eq!(
        s.encode(&o).unwrap_err().to_string(),
        "messages.sendMessage.peer: expected InputPeer, got string"
    );
    let o = Object::new("messages.sendMessage")
        .with("peer", Value::Object(Object::new("inputUserSelf")));
    let e = s.encode(&o).unwrap_err().to_string();
    assert!(
        e.starts_with("messages.sendMessage.peer: expected InputPeer, got inputUserSelf"),
        "{e}"
    );
    let o = Object::new("messages.sendMesage");
    let e = s.encode(&o).unwrap_err().to_string();
    assert!(
        e.contains("unknown constructor or function `messages.sendMesage`")
            && e.contains("messages.sendMessage"),
        "{e}"
    );
    let o = Object::new("inputPeerUser").with("user_id", Value::Long(1));
    assert_eq!(
        s.encode(&o).unwrap_err().to_string(),
        "inputPeerUser.access_hash: missing required field of type long"
    );
    let o = Object::new("inputPeerUser")
        .with("user_id", Value::Long(1))
        .with("acces_hash", Value::Long(1));
    let e = s.encode(&o).unwrap_err().to_string();
    assert!(e.starts_with("inputPeerUser.acces_hash: unknown field of inputPeerUser (did you mean `access_hash`?)"), "{e}");
    let o = Object::new("inputPeerChat")
        .with("chat_id", Value::Long(1))
        .with("flags", Value::Int(1));
    assert!(s.encode(&o).is_err());
    let o = Object::new("messageEntityBold")
        .with("offset", Value::Long(1 << 40))
        .with("length", Value::Int(1));
    assert!(s
        .encode(&o)
        .unwrap_err()
        .to_string()
        .contains("out of the 32-bit range"));
    // A nested error carries the whole path.
    let o = Object::new("messages.sendMessage")
        .with("peer", Value::Object(Object::new("inputPeerSelf")))
        .with("message", Value::String("x".into()))
        .with("random_id", Value::Long(1))
        .with(
            "entities",
            Value::Vector(vec![Value::Object(
                Object::new("messageEntityBold").with("offset", Value::Int(0)),
            )]),
        );
    assert_eq!(
        s.encode(&o).unwrap_err().to_string(),
        "messages.sendMessage.entities[0].length: missing required field of type int"
    );
}

#[test]
fn json_mapping() {
    let s = schema();
    let j: serde_json::Value = serde_json::from_str(
        r#"{"_":"messages.sendMessage","peer":{"_":"inputPeerSelf"},"message":"hi","random_id":"12345678901234","silent":true}"#,
    )
    .unwrap();
    let o = s.object_from_json(&j).unwrap();
    let bytes = s.encode(&o).unwrap();
    let typed = functions::messages::SendMessage::from_bytes(&bytes).unwrap();
    assert!(typed.silent && typed.random_id == 12345678901234 && typed.message == "hi");
    let back = json::object_to_json(&s.decode(&bytes).unwrap());
    assert_eq!(
        back.to_string(),
        r#"{"_":"messages.sendMessage","silent":true,"peer":{"_":"inputPeerSelf"},"message":"hi","random_id":12345678901234}"#
    );
    // bytes as base64, int128 as hex
    let j: serde_json::Value = serde_json::from_str(r#"{"_":"resPQ","nonce":"000102030405060708090a0b0c0d0e0f","server_nonce":"ffffffffffffffffffffffffffffffff","pq":"F/EvBJuZTZM=","server_public_key_fingerprints":[-1]}"#).unwrap();
    let o = s.object_from_json(&j).unwrap();
    let t = types::ResPQ::from_bytes(&s.encode(&o).unwrap()).unwrap();
    assert_eq!(t.pq, vec![0x17, 0xf1, 0x2f, 0x04, 0x9b, 0x99, 0x4d, 0x93]);
    assert_eq!(t.nonce[15], 15);
    assert_eq!(json::object_to_json(&s.decode(&t.to_bytes()).unwrap()), j);
    // errors
    let bad: serde_json::Value =
        serde_json::from_str(r#"{"_":"messages.sendMessage","peer":"@x"}"#).unwrap();
    assert_eq!(
        s.object_from_json(&bad).unwrap_err().to_string(),
        "messages.sendMessage.peer: expected InputPeer, got string"
    );
    let bad: serde_json::Value =
        serde_json::from_str(r#"{"_":"inputPeerUser","user_id":1.5}"#).unwrap();
    assert!(s
        .object_from_json(&bad)
        .unwrap_err()
        .to_string()
        .starts_with("inputPeerUser.user_id: expected integer"));
    let bad: serde_json::Value = serde_json::from_str(r#"{"_":"resPQ","pq":"***"}"#).unwrap();
    assert!(s
        .object_from_json(&bad)
        .unwrap_err()
        .to_string()
        .contains("base64"));
    let bad: serde_json::Value = serde_json::from_str(r#"{"peer":1}"#).unwrap();
    assert!(s
        .object_from_json(&bad)
        .unwrap_err()
        .to_string()
        .contains("missing \"_\""));
}

#[test]
fn describe_lists_fields() {
    let d = schema().describe("messages.sendMessage").unwrap();
    assert!(d.contains("peer: InputPeer"), "{d}");
    assert!(
        d.contains("silent: true (bool)  optional, flag flags.5"),
        "{d}"
    );
    assert!(d.contains("returns Updates"), "{d}");
    let d = schema().describe("InputPeer").unwrap();
    assert!(d.contains("inputPeerSelf#7da07ec9"), "{d}");
    assert!(schema().describe("nope.nothing").is_err());
}

#[test]
fn decode_result_of_function() {
    let mut b = Vec::new();
    vec![1i64, 2, 3].serialize(&mut b);
    let v = schema().decode_result("messages.getMessagesViews", &b);
    assert!(v.is_err(), "a Vector<long> is not messages.MessageViews");
    let v = schema().decode_as(&b, "Vector<long>").unwrap();
    assert_eq!(
        v,
        Value::Vector(vec![Value::Long(1), Value::Long(2), Value::Long(3)])
    );
    let v = schema()
        .decode_result(
            "ping",
            &types::Pong {
                msg_id: 1,
                ping_id: 2,
            }
            .to_bytes(),
        )
        .unwrap();
    assert_eq!(v.as_object().unwrap().get("ping_id"), Some(&Value::Long(2)));
}

// ---- property test: random values of random constructors ----

use crate::schema_def::{Category, Definition, ParamKind, Ty};

struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn string(&mut self) -> String {
        let max = if self.below(8) == 0 { 400 } else { 12 };
        let n = self.below(max);
        let alphabet = ['a', 'Z', '0', ' ', 'é', 'ж', '😀', '\n'];
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

fn random_object(g: &mut Gen, def: &'static Definition, depth: u32) -> Object {
    let s = schema();
    let mut o = Object::new(def.full_name());
    let mut bits = std::collections::HashMap::new();
    for p in &def.params {
        let ParamKind::Value { ty, flag } = &p.kind else {
            continue;
        };
        if let Some(f) = flag {
            let set = *bits
                .entry((f.field.clone(), f.bit))
                .or_insert_with(|| depth < 4 && g.below(2) == 0);
            if !set {
                continue;
            }
            if p.is_true_flag() {
                o.fields.push((p.name.clone().into(), Value::Bool(true)));
                continue;
            }
        }
        o.fields
            .push((p.name.clone().into(), random_value(g, s, ty, depth + 1)));
    }
    o
}

fn random_value(g: &mut Gen, s: &'static crate::dynamic::Schema, ty: &Ty, depth: u32) -> Value {
    if let Some(arg) = &ty.arg {
        let n = if depth > 3 { 0 } else { g.below(3) };
        return Value::Vector((0..n).map(|_| random_value(g, s, arg, depth + 1)).collect());
    }
    if ty.namespace.is_none() {
        match ty.name.as_str() {
            "int" => return Value::Int(g.next() as i32),
            "long" => return Value::Long(g.next() as i64),
            "double" => return Value::Double((g.next() % 1_000_000) as f64 / 7.0),
            "string" => return Value::String(g.string()),
            "bytes" => {
                let max = if g.below(4) == 0 { 600 } else { 10 };
                let n = g.below(max);
                return Value::Bytes((0..n).map(|_| g.next() as u8).collect());
            }
            "int128" => {
                let mut a = [0u8; 16];
                a.iter_mut().for_each(|b| *b = g.next() as u8);
                return Value::Int128(a);
            }
            "int256" => {
                let mut a = [0u8; 32];
                a.iter_mut().for_each(|b| *b = g.next() as u8);
                return Value::Int256(Box::new(a));
            }
            "Bool" => return Value::Bool(g.below(2) == 0),
            _ => {}
        }
    }
    if ty.bare {
        let d = s.lookup_ctor_for_bare(ty).expect("bare type");
        return Value::Object(random_object(g, d, depth));
    }
    let ctors: Vec<&'static Definition> = s.constructors_of(&ty.full_name()).collect();
    // Deep down, prefer the constructor with the fewest required object fields so values stay finite.
    let d = if depth > 4 {
        *ctors
            .iter()
            .min_by_key(|d| {
                d.params
                    .iter()
                    .filter(|p| p.flag().is_none() && p.ty().is_some_and(|t| !t.is_builtin()))
                    .count()
            })
            .unwrap()
    } else {
        ctors[g.below(ctors.len())]
    };
    Value::Object(random_object(g, d, depth))
}

fn candidates() -> Vec<&'static Definition> {
    schema()
        .definitions()
        .iter()
        .filter(|d| {
            d.generics.is_empty() && !(d.category == Category::Type && d.result.name == "Bool")
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn dynamic_and_generated_codecs_agree(seed in any::<u64>(), pick in any::<usize>()) {
        let all = candidates();
        let def = all[pick % all.len()];
        let mut g = Gen(seed);
        let obj = random_object(&mut g, def, 0);
        let bytes = schema().encode(&obj).map_err(|e| TestCaseError::fail(format!("{}: {e}", def.full_name())))?;
        let again = crate::reencode_boxed(&bytes).expect("known id").map_err(|e| TestCaseError::fail(format!("{}: {e}", def.full_name())))?;
        prop_assert_eq!(&again, &bytes, "{}", def.full_name());
        let back = schema().decode(&again).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, obj);
    }

    #[test]
    fn json_round_trip(seed in any::<u64>(), pick in any::<usize>()) {
        let all = candidates();
        let def = all[pick % all.len()];
        let obj = random_object(&mut Gen(seed), def, 0);
        let j = json::object_to_json(&obj);
        let back = schema().object_from_json(&j).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(schema().encode(&back).unwrap(), schema().encode(&obj).unwrap());
    }

    #[test]
    fn doubles_survive_text_to_bytes_to_text(bits in any::<u64>()) {
        let v = f64::from_bits(bits);
        prop_assume!(v.is_finite());
        // As a script or `fleetgram tl encode` gives it: JSON text.
        let text = format!(r#"{{"_":"mediaAreaCoordinates","x":0,"y":{},"w":0,"h":0,"rotation":0}}"#, serde_json::to_string(&v).unwrap());
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        let obj = schema().object_from_json(&j).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bytes = schema().encode(&obj).unwrap();
        // mediaAreaCoordinates#cfc9e002 flags:# x y w h rotation: y is at bytes 16..24.
        prop_assert_eq!(f64::from_le_bytes(bytes[16..24].try_into().unwrap()).to_bits(), bits);
        let back = json::object_to_json(&schema().decode(&bytes).unwrap());
        prop_assert_eq!(back["y"].as_f64().unwrap().to_bits(), bits);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = schema().decode(&bytes);
        let _ = crate::reencode_boxed(&bytes);
        let _ = crate::mtproto::MsgContainer::from_bytes(&bytes);
    }
}

#[test]
fn every_constructor_round_trips_once() {
    // Deterministic sweep: each non-generic definition once, so no constructor is missed.
    for (i, def) in candidates().into_iter().enumerate() {
        let obj = random_object(&mut Gen(i as u64), def, 0);
        let bytes = schema()
            .encode(&obj)
            .unwrap_or_else(|e| panic!("{}: {e}", def.full_name()));
        let again = crate::reencode_boxed(&bytes)
            .unwrap()
            .unwrap_or_else(|e| panic!("{}: {e}", def.full_name()));
        assert_eq!(again, bytes, "{}", def.full_name());
        assert_eq!(schema().decode(&again).unwrap(), obj, "{}", def.full_name());
    }
}

#[test]
fn a_json_double_is_the_nearest_one_exactly() {
    // Was one unit in the last place off (c0557441e9f38e10).
    let j: serde_json::Value = serde_json::from_str(
        r#"{"_":"mediaAreaCoordinates","x":0,"y":6.379886323307499e-229,"w":0,"h":0,"rotation":0}"#,
    )
    .unwrap();
    let bytes = schema()
        .encode(&schema().object_from_json(&j).unwrap())
        .unwrap();
    assert_eq!(json::to_hex(&bytes[16..24]), "c1557441e9f38e10");
}
