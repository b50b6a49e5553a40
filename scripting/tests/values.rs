//! Values reach Lua and Rhai straight from the update and the schema's dynamic values, with
//! no JSON between; what scripts see is exactly what the JSON path gave (the reference for
//! every field and every kind of TL value).

use fleetgram_engine::updates::Delivered;
use fleetgram_scripting::event::EventData;
use fleetgram_tl::{dynamic, enums, Serializable};
use serde_json::json;
use std::sync::Arc;

/// A TL object from its JSON form (through the dynamic codec).
fn tl<T: fleetgram_tl::Deserializable>(j: serde_json::Value) -> T {
    let schema = dynamic::schema();
    let obj = schema.object_from_json(&j).unwrap();
    T::from_bytes(&schema.encode(&obj).unwrap()).unwrap()
}

/// Messages that exercise every field: a reply with a keyboard and entities, a mention, a
/// channel post, a private message with media, a user known from the update.
fn updates() -> Vec<Arc<Delivered>> {
    let keyboard = json!({"_": "replyInlineMarkup", "rows": [{"_": "keyboardInlineButtonRow",
        "buttons": [
            {"_": "keyboardInlineButton", "text": "A",
             "type": {"_": "inlineButtonTypeCallback", "data": "YWI="}},
            {"_": "keyboardInlineButton", "text": "B",
             "type": {"_": "inlineButtonTypeUrl", "url": "https://x.y"}}]}]});
    let messages = [
        json!({"_": "message", "id": 5, "peer_id": {"_": "peerChannel", "channel_id": 9},
            "from_id": {"_": "peerUser", "user_id": 42}, "date": 7, "message": "hi @me",
            "mentioned": true, "reply_to": {"_": "messageReplyHeader", "reply_to_msg_id": 4},
            "reply_markup": keyboard,
            "entities": [{"_": "messageEntityBold", "offset": 0, "length": 2}]}),
        json!({"_": "message", "id": 6, "peer_id": {"_": "peerChannel", "channel_id": 10},
            "date": 8, "message": "post", "post": true}),
        json!({"_": "message", "id": 7, "peer_id": {"_": "peerUser", "user_id": 42},
            "date": 9, "message": "", "out": false,
            "media": {"_": "messageMediaDice", "value": 3, "emoticon": "🎲"}}),
        json!({"_": "message", "id": 8, "peer_id": {"_": "peerChat", "chat_id": 3},
            "from_id": {"_": "peerUser", "user_id": 42}, "date": 10, "message": "ünïcödé ✓",
            "out": true}),
    ];
    let user: enums::User = tl(json!({"_": "user", "id": 42, "access_hash": 1,
        "first_name": "Dana", "last_name": "S", "username": "dana_s"}));
    messages
        .into_iter()
        .map(|m| {
            let u: enums::Update =
                tl(json!({"_": "updateNewMessage", "message": m, "pts": 1, "pts_count": 1}));
            Arc::new(Delivered::synthetic(u, vec![user.clone()], vec![]))
        })
        .collect()
}

#[test]
fn rhai_message_events_are_built_from_the_update_as_the_json_path_built_them() {
    for d in updates() {
        let e = EventData::of(d, None);
        let map = fleetgram_scripting::rhai::message_map(&e).expect("a message event");
        let direct = fleetgram_scripting::rhai::from_rhai(&rhai::Dynamic::from_map(map)).unwrap();
        assert_eq!(&direct, e.fields(), "message {}", e.fields()["id"]);
    }
}

#[test]
fn tl_values_reach_lua_and_rhai_as_their_json_form_would() {
    let lua = mlua::Lua::new();
    for d in updates() {
        let v = dynamic::schema()
            .decode_as(&d.update.to_bytes(), "Update")
            .unwrap();
        let reference = dynamic::json::to_json(&v);
        let from_lua = fleetgram_scripting::lua::from_lua(
            &lua,
            fleetgram_scripting::lua::tl_to_lua(&lua, &v).unwrap(),
        )
        .unwrap();
        assert_eq!(from_lua, reference);
        let from_rhai =
            fleetgram_scripting::rhai::from_rhai(&fleetgram_scripting::rhai::tl_to_rhai(&v))
                .unwrap();
        assert_eq!(from_rhai, reference);
    }
    // The kinds the updates above do not carry: bytes, int128/256, doubles, empty vectors.
    let odd = dynamic::Value::Vector(vec![
        dynamic::Value::Bytes(vec![0, 1, 254, 255]),
        dynamic::Value::Int128([7; 16]),
        dynamic::Value::Int256(Box::new([9; 32])),
        dynamic::Value::Double(0.5),
        dynamic::Value::Vector(vec![]),
        dynamic::Value::Int(-3),
        dynamic::Value::Long(1 << 40),
        dynamic::Value::Bool(false),
    ]);
    let reference = dynamic::json::to_json(&odd);
    assert_eq!(
        fleetgram_scripting::rhai::from_rhai(&fleetgram_scripting::rhai::tl_to_rhai(&odd)).unwrap(),
        reference
    );
    assert_eq!(
        fleetgram_scripting::lua::from_lua(
            &lua,
            fleetgram_scripting::lua::tl_to_lua(&lua, &odd).unwrap()
        )
        .unwrap(),
        reference
    );
}
