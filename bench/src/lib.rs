//! Shared payloads for the benchmarks.

use fleetgram_tl::dynamic::{schema, Object, Value};

fn obj(name: &str) -> Object {
    Object::new(name.to_string())
}

fn v(o: Object) -> Value {
    Value::Object(o)
}

fn text(i: usize) -> String {
    let base = format!("Message number {i}: the quick brown fox jumps over the lazy dog, visit https://example.org/page/{i} and ping @user{i} about it. ");
    let mut s = base.clone();
    while s.len() < 200 {
        s.push_str(&base);
    }
    s.truncate(200);
    s
}

/// `messages.messages` with 100 `message`s (about 200 characters of text, 3 entities,
/// `from_id`, a reply header) and 20 `user`s, serialized (about 41 KB).
pub fn messages_payload() -> Vec<u8> {
    let messages: Vec<Value> = (0..100)
        .map(|i| {
            let entities = vec![
                v(obj("messageEntityBold")
                    .with("offset", Value::Int(0))
                    .with("length", Value::Int(14))),
                v(obj("messageEntityUrl")
                    .with("offset", Value::Int(80))
                    .with("length", Value::Int(24))),
                v(obj("messageEntityMention")
                    .with("offset", Value::Int(110))
                    .with("length", Value::Int(7))),
            ];
            v(obj("message")
                .with("out", Value::Bool(i % 3 == 0))
                .with("id", Value::Int(1000 + i as i32))
                .with(
                    "from_id",
                    v(obj("peerUser").with("user_id", Value::Long(5_000_000 + (i % 20) as i64))),
                )
                .with(
                    "peer_id",
                    v(obj("peerChannel").with("channel_id", Value::Long(1_234_567_890))),
                )
                .with(
                    "reply_to",
                    v(obj("messageReplyHeader")
                        .with("reply_to_msg_id", Value::Int(999 + i as i32))),
                )
                .with("date", Value::Int(1_700_000_000 + i as i32))
                .with("message", Value::String(text(i)))
                .with("entities", Value::Vector(entities)))
        })
        .collect();
    let users: Vec<Value> = (0..20)
        .map(|i| {
            v(obj("user")
                .with("contact", Value::Bool(i % 2 == 0))
                .with("id", Value::Long(5_000_000 + i as i64))
                .with(
                    "access_hash",
                    Value::Long(-8_765_432_109_876_543 + i as i64),
                )
                .with("first_name", Value::String(format!("First{i}")))
                .with("last_name", Value::String(format!("Lastname{i}")))
                .with("username", Value::String(format!("user{i}")))
                .with(
                    "photo",
                    v(obj("userProfilePhoto")
                        .with("photo_id", Value::Long(77_000 + i as i64))
                        .with("dc_id", Value::Int(2))),
                )
                .with(
                    "status",
                    v(obj("userStatusOnline").with("expires", Value::Int(1_700_000_500))),
                ))
        })
        .collect();
    let m = obj("messages.messages")
        .with("messages", Value::Vector(messages))
        .with("topics", Value::Vector(vec![]))
        .with("chats", Value::Vector(vec![]))
        .with("users", Value::Vector(users));
    schema().encode(&m).expect("payload encodes")
}
