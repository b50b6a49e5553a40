//! The control API over HTTP on loopback, for tools and tests in other processes.
//!
//! One endpoint, `POST /control/TOKEN` (the URL in the info file; TOKEN is random per start,
//! so only who can read the info file can use the API), with `Content-Type:
//! application/json` (a web page cannot send that without a preflight, which is never
//! answered) and a `Host` that is an IP address or `localhost` (no DNS rebinding), and a JSON
//! body `{"op": NAME, ...arguments}`; the answer is JSON, `200` on success and `400` with
//! `{"error": "..."}` otherwise (`403` without the token, `415` without JSON, `421` for
//! another host name). It is a test tool: keep it on loopback. Operations:
//!
//! | op | arguments | answer |
//! |---|---|---|
//! | `create_user` | `phone`, `first_name`, `last_name`?, `dc`? | `{"id"}` |
//! | `create_bot` | `first_name`, `username`, `dc`? | `{"id", "token"}` |
//! | `login_code` | `phone` | `{"code"}` (null if none was sent) |
//! | `send_message` | `from`, `to`, `text`, `count`? (a burst: `text0`, `text1`...) | `{"id"}` (the last) |
//! | `edit_message` | `user`, `peer`, `id`, `text` | `{}` |
//! | `delete_messages` | `user`, `ids`, `revoke`? | `{}` |
//! | `inject_update` | `user`, `update` (an `Updates` object in the TL JSON mapping) | `{}` |
//! | `set_flood_limit` | `method`, `calls` (0 removes), `window_ms` | `{}` |
//! | `force_error` | `method`, `code`, `message`, `times` | `{}` |
//! | `set_delay` | `method`, `ms` (0 removes) | `{}` |
//! | `drop_connections` | | `{}` |
//! | `rotate_salts` | `grace_ms`? | `{}` |
//! | `set_clock_skew` | `ms` | `{}` |
//! | `stats` | | `{"users", "sessions", "auth_keys", "connections", "refused", "overloaded"}` |

use crate::{Control, FloodLimit};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const MAX_BODY: usize = 1 << 20;

pub(crate) async fn serve(
    control: Control,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            r = listener.accept() => {
                if let Ok((stream, _)) = r {
                    tokio::spawn(handle_conn(control.clone(), stream));
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn handle_conn(control: Control, mut stream: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, content_length) = loop {
        let n = match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                        .map(|(_, v)| v.trim().parse::<usize>())
                })
                .unwrap_or(Ok(0));
            match len {
                Ok(len) if len <= MAX_BODY => break (pos + 4, len),
                _ => {
                    return respond(&mut stream, 400, &json!({"error": "bad Content-Length"})).await
                }
            }
        }
        if buf.len() > 16 * 1024 {
            return respond(&mut stream, 400, &json!({"error": "headers too long"})).await;
        }
    };
    while buf.len() < head_end + content_length {
        let n = match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let request_line = head.lines().next().unwrap_or("").to_string();
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        })
    };
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let Some(token) = target.strip_prefix("/control") else {
        return respond(
            &mut stream,
            404,
            &json!({"error": "use POST /control/TOKEN (the URL in the info file)"}),
        )
        .await;
    };
    if method != "POST" {
        return respond(
            &mut stream,
            404,
            &json!({"error": "use POST /control/TOKEN (the URL in the info file)"}),
        )
        .await;
    }
    let token = token.strip_prefix('/').unwrap_or("");
    let expected = control.shared.control_token.as_bytes();
    if token.len() != expected.len()
        || token
            .bytes()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
    {
        return respond(
            &mut stream,
            403,
            &json!({"error": "wrong or missing token: use the control URL of the info file"}),
        )
        .await;
    }
    if let Some(host) = header("host") {
        let name = host.rsplit_once(':').map_or(host.as_str(), |(n, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                n
            } else {
                host.as_str()
            }
        });
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if name.parse::<std::net::IpAddr>().is_err() && !name.eq_ignore_ascii_case("localhost") {
            return respond(
                &mut stream,
                421,
                &json!({"error": "this host name is not served here"}),
            )
            .await;
        }
    }
    if !header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"))
    {
        return respond(
            &mut stream,
            415,
            &json!({"error": "send Content-Type: application/json"}),
        )
        .await;
    }
    let body = &buf[head_end..head_end + content_length];
    let (status, answer) = match serde_json::from_slice::<Value>(body) {
        // An operation may take a while (a burst of messages): off the runtime's workers.
        Ok(v) => match tokio::task::spawn_blocking(move || run(&control, &v)).await {
            Ok(Ok(a)) => (200, a),
            Ok(Err(e)) => (400, json!({"error": e})),
            Err(_) => (500, json!({"error": "the operation failed inside the DC"})),
        },
        Err(e) => (400, json!({"error": format!("invalid JSON: {e}")})),
    };
    respond(&mut stream, status, &answer).await;
}

async fn respond(stream: &mut TcpStream, status: u16, body: &Value) {
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        415 => "Unsupported Media Type",
        421 => "Misdirected Request",
        _ => "Bad Request",
    };
    let msg = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len());
    let _ = stream.write_all(msg.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn arg<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name)
        .ok_or_else(|| format!("missing argument \"{name}\""))
}

fn str_arg<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    arg(v, name)?
        .as_str()
        .ok_or_else(|| format!("argument \"{name}\" must be a string"))
}

fn int_arg(v: &Value, name: &str) -> Result<i64, String> {
    arg(v, name)?
        .as_i64()
        .ok_or_else(|| format!("argument \"{name}\" must be an integer"))
}

fn opt_int(v: &Value, name: &str, default: i64) -> Result<i64, String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(x) => x
            .as_i64()
            .ok_or_else(|| format!("argument \"{name}\" must be an integer")),
    }
}

/// Runs one operation.
fn run(c: &Control, v: &Value) -> Result<Value, String> {
    let op = str_arg(v, "op")?;
    let empty = json!({});
    match op {
        "create_user" => {
            let id = c.create_user(
                str_arg(v, "phone")?,
                str_arg(v, "first_name")?,
                v.get("last_name").and_then(Value::as_str).unwrap_or(""),
                opt_int(v, "dc", 1)? as i32,
            );
            Ok(json!({"id": id}))
        }
        "create_bot" => {
            let (id, token) = c.create_bot(
                str_arg(v, "first_name")?,
                str_arg(v, "username")?,
                opt_int(v, "dc", 1)? as i32,
            );
            Ok(json!({"id": id, "token": token}))
        }
        "login_code" => Ok(json!({"code": c.login_code(str_arg(v, "phone")?)})),
        "send_message" => {
            let (from, to, text) = (int_arg(v, "from")?, int_arg(v, "to")?, str_arg(v, "text")?);
            let count = opt_int(v, "count", 1)?;
            if !(1..=10_000_000).contains(&count) {
                return Err(format!("count must be 1 to 10000000, not {count}"));
            }
            let mut id = 0;
            for i in 0..count {
                let t = if count == 1 {
                    text.to_string()
                } else {
                    format!("{text}{i}")
                };
                id = c.send_message(from, to, &t).map_err(|e| e.0)?;
            }
            Ok(json!({"id": id}))
        }
        "edit_message" => {
            c.edit_message(
                int_arg(v, "user")?,
                int_arg(v, "peer")?,
                int_arg(v, "id")? as i32,
                str_arg(v, "text")?,
            )
            .map_err(|e| e.0)?;
            Ok(empty)
        }
        "delete_messages" => {
            let ids = arg(v, "ids")?
                .as_array()
                .ok_or("argument \"ids\" must be an array")?
                .iter()
                .map(|x| {
                    x.as_i64()
                        .map(|x| x as i32)
                        .ok_or("argument \"ids\" must hold integers")
                })
                .collect::<Result<Vec<_>, _>>()?;
            c.delete_messages(
                int_arg(v, "user")?,
                ids,
                v.get("revoke").and_then(Value::as_bool).unwrap_or(false),
            )
            .map_err(|e| e.0)?;
            Ok(empty)
        }
        "inject_update" => {
            let schema = fleetgram_tl::dynamic::schema();
            let obj = schema
                .object_from_json(arg(v, "update")?)
                .map_err(|e| format!("update: {e}"))?;
            let bytes = schema.encode(&obj).map_err(|e| format!("update: {e}"))?;
            c.inject_update(int_arg(v, "user")?, &bytes)
                .map_err(|e| e.0)?;
            Ok(empty)
        }
        "set_flood_limit" => {
            let calls = int_arg(v, "calls")?;
            let limit = (calls > 0).then(|| FloodLimit {
                calls: calls as u32,
                window: Duration::from_millis(
                    opt_int(v, "window_ms", 1000).unwrap_or(1000).max(1) as u64
                ),
            });
            c.set_flood_limit(str_arg(v, "method")?, limit);
            Ok(empty)
        }
        "force_error" => {
            c.force_error(
                str_arg(v, "method")?,
                int_arg(v, "code")? as i32,
                str_arg(v, "message")?,
                opt_int(v, "times", 1)?.max(0) as usize,
            );
            Ok(empty)
        }
        "set_delay" => {
            let ms = int_arg(v, "ms")?;
            c.set_delay(
                str_arg(v, "method")?,
                (ms > 0).then(|| Duration::from_millis(ms as u64)),
            );
            Ok(empty)
        }
        "join_channel" => {
            c.join_channel(int_arg(v, "user")?, int_arg(v, "channel")?)
                .map_err(|e| e.0)?;
            Ok(empty)
        }
        "set_channel_push_limit" => {
            let limit = int_arg(v, "limit")?;
            if limit < 0 {
                return Err(format!("limit must be 0 or more, not {limit}"));
            }
            c.set_channel_push_limit(limit as usize);
            Ok(empty)
        }
        "set_channel_poll_timeout" => {
            let s = int_arg(v, "seconds")?;
            if !(1..=86_400).contains(&s) {
                return Err(format!("seconds must be 1 to 86400, not {s}"));
            }
            c.set_channel_poll_timeout(s as i32);
            Ok(empty)
        }
        "drop_pushes" => {
            let share = arg(v, "share")?
                .as_f64()
                .ok_or("argument \"share\" must be a number")?;
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("share must be 0 to 1, not {share}"));
            }
            c.drop_pushes(int_arg(v, "user")?, share);
            Ok(empty)
        }
        "lose_pushes" => {
            let n = int_arg(v, "count")?;
            if n < 0 {
                return Err(format!("count must be 0 or more, not {n}"));
            }
            c.lose_pushes(int_arg(v, "user")?, n as usize);
            Ok(empty)
        }
        "drop_connections" => {
            c.drop_connections();
            Ok(empty)
        }
        "rotate_salts" => {
            c.rotate_salts(Duration::from_millis(
                opt_int(v, "grace_ms", 0)?.max(0) as u64
            ));
            Ok(empty)
        }
        "set_clock_skew" => {
            c.set_clock_skew(int_arg(v, "ms")?);
            Ok(empty)
        }
        "stats" => {
            let s = c.stats();
            Ok(json!({
                "users": c.user_count(),
                "sessions": c.session_count(),
                "auth_keys": c.auth_key_count(),
                "connections": s.connections.load(Ordering::Relaxed),
                "refused": s.refused.load(Ordering::Relaxed),
                "overloaded": s.overloaded.load(Ordering::Relaxed),
                "channel_push_limit": c.channel_settings().0,
                "channel_poll_timeout": c.channel_settings().1,
            }))
        }
        other => Err(format!("unknown op \"{other}\"")),
    }
}
