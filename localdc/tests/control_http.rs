//! The JSON control API over HTTP.

mod support;

use fleetgram_localdc::{Config, LocalDc};
use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use fleetgram_protocol::session::client::Event;
use fleetgram_protocol::transport::Kind;
use fleetgram_tl::{enums, functions, types, Deserializable};
use rand::RngCore;
use serde_json::{json, Value};
use support::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `POST` of `body` to the control URL `url` (as the info file gives it).
async fn post(url: &str, body: &str) -> (u16, Value) {
    let (host, path) = url
        .strip_prefix("http://")
        .unwrap()
        .split_once('/')
        .unwrap();
    raw(
        host,
        &format!("POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
    )
    .await
}

/// Sends a whole request as written; (status, JSON answer).
async fn raw(host: &str, req: &str) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn control_over_http() {
    let key = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    let dc = LocalDc::start(Config {
        rsa_key: Some(key),
        login_code: Some("12345".into()),
        control_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    })
    .await
    .unwrap();
    let info = dc.info();
    let addr = info.control.unwrap();
    let url = info.to_json()["control"].as_str().unwrap().to_string();
    assert_eq!(url, format!("http://{addr}/control/{}", info.control_token));
    assert_eq!(info.control_token.len(), 32);
    let ctl = url.as_str();
    // Only with the token of the info file, JSON, and an IP address or localhost as Host:
    // a web page (no preflight for text/plain, a rebound name) or another local user who
    // cannot read the info file gets nothing.
    let host = addr.to_string();
    let body = r#"{"op":"stats"}"#;
    let req = |path: &str, h: &str, ctype: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: {h}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}", body.len())
    };
    let path = format!("/control/{}", info.control_token);
    assert_eq!(
        raw(&host, &req("/control", &host, "application/json"))
            .await
            .0,
        403
    );
    assert_eq!(
        raw(
            &host,
            &req(
                "/control/0123456789abcdef0123456789abcdef",
                &host,
                "application/json"
            )
        )
        .await
        .0,
        403
    );
    assert_eq!(raw(&host, &req(&path, &host, "text/plain")).await.0, 415);
    assert_eq!(
        raw(&host, &req(&path, "rebind.example:80", "application/json"))
            .await
            .0,
        421
    );
    assert_eq!(
        raw(
            &host,
            &req(
                &path,
                &format!("localhost:{}", addr.port()),
                "application/json"
            )
        )
        .await
        .0,
        200
    );
    let key = RsaPublicKey::from_pem(&info.rsa_pem).unwrap();
    // Accounts.
    let (st, a) = post(
        ctl,
        r#"{"op":"create_user","phone":"+1 555 5000001","first_name":"A"}"#,
    )
    .await;
    assert_eq!(st, 200);
    let a_id = a["id"].as_i64().unwrap();
    let (_, b) = post(
        ctl,
        r#"{"op":"create_user","phone":"15555000002","first_name":"B"}"#,
    )
    .await;
    let b_id = b["id"].as_i64().unwrap();
    let (_, bot) = post(
        ctl,
        r#"{"op":"create_bot","first_name":"Bot","username":"ctl_test_bot"}"#,
    )
    .await;
    assert!(bot["token"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}:", bot["id"])));
    // B logs in (the code is read through the API).
    let mut c = Client::connect(info.dcs[0].addr, 1, &key, Kind::Abridged, false, None).await;
    let enums::auth::SentCode::SentCode(sent) = c
        .invoke(&functions::auth::SendCode {
            phone_number: "15555000002".into(),
            api_id: 1,
            api_hash: "x".into(),
            settings: types::CodeSettings::default().into(),
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    let (_, code) = post(ctl, r#"{"op":"login_code","phone":"15555000002"}"#).await;
    assert_eq!(code["code"], "12345");
    c.invoke(&functions::auth::SignIn {
        phone_number: "15555000002".into(),
        phone_code_hash: sent.phone_code_hash,
        phone_code: Some("12345".into()),
        email_verification: None,
    })
    .await
    .unwrap();
    // A sends B a message through the API; B receives it.
    let (st, sent) = post(
        ctl,
        &json!({"op": "send_message", "from": a_id, "to": b_id, "text": "from the control API"})
            .to_string(),
    )
    .await;
    assert_eq!(st, 200, "{sent}");
    let got = loop {
        if let Some(Event::Update(body)) = c.session.poll_event() {
            break enums::Updates::from_bytes(&body).unwrap();
        }
        let p = c.wire.recv().await.unwrap();
        c.session.handle_incoming(&p, support::now_ms()).unwrap();
    };
    let enums::Updates::UpdateShortMessage(m) = got else {
        panic!("{got:?}")
    };
    assert_eq!(
        (m.message.as_str(), m.user_id),
        ("from the control API", a_id)
    );
    // Edit and delete through the API too.
    let (st, _) = post(ctl, &json!({"op": "edit_message", "user": a_id, "peer": b_id, "id": sent["id"], "text": "edited"}).to_string()).await;
    assert_eq!(st, 200);
    let (st, e) = post(ctl, &json!({"op": "edit_message", "user": a_id, "peer": b_id, "id": sent["id"], "text": "edited"}).to_string()).await;
    assert_eq!(
        (st, e["error"].as_str().unwrap()),
        (400, "400 MESSAGE_NOT_MODIFIED")
    );
    let (st, _) = post(
        ctl,
        &json!({"op": "delete_messages", "user": a_id, "ids": [sent["id"]], "revoke": true})
            .to_string(),
    )
    .await;
    assert_eq!(st, 200);
    // A burst: numbered texts, the last id answered; a count out of range is refused.
    let (st, burst) = post(
        ctl,
        &json!({"op": "send_message", "from": a_id, "to": b_id, "text": "n", "count": 3})
            .to_string(),
    )
    .await;
    assert_eq!(st, 200, "{burst}");
    assert_eq!(burst["id"].as_i64(), sent["id"].as_i64().map(|i| i + 3));
    let mut texts = Vec::new();
    while texts.len() < 3 {
        match c.session.poll_event() {
            Some(Event::Update(body)) => {
                if let Ok(enums::Updates::UpdateShortMessage(m)) = enums::Updates::from_bytes(&body)
                {
                    texts.push(m.message);
                }
            }
            Some(_) => {}
            None => {
                let p = c.wire.recv().await.unwrap();
                c.session.handle_incoming(&p, support::now_ms()).unwrap();
            }
        }
    }
    assert_eq!(texts, ["n0", "n1", "n2"]);
    let (st, e) = post(
        ctl,
        &json!({"op": "send_message", "from": a_id, "to": b_id, "text": "n", "count": 0})
            .to_string(),
    )
    .await;
    assert_eq!(st, 400);
    assert!(e["error"].as_str().unwrap().contains("count"), "{e}");
    // Inject a raw update (TL JSON mapping).
    let upd = json!({"op": "inject_update", "user": b_id, "update": {"_": "updateShort", "update": {"_": "updateUserStatus", "user_id": a_id, "status": {"_": "userStatusOnline", "expires": 1}}, "date": 1}});
    assert_eq!(post(ctl, &upd.to_string()).await.0, 200);
    // Limits through the API.
    assert_eq!(post(ctl, r#"{"op":"force_error","method":"help.getNearestDc","code":500,"message":"RPC_CALL_FAIL","times":1}"#).await.0, 200);
    assert_eq!(
        c.invoke(&functions::help::GetNearestDc {})
            .await
            .unwrap_err()
            .name,
        "RPC_CALL_FAIL"
    );
    let (_, stats) = post(ctl, r#"{"op":"stats"}"#).await;
    assert_eq!(stats["users"], 3);
    assert!(stats["connections"].as_u64().unwrap() >= 1);
    // Bad requests are clear errors.
    let (st, e) = post(ctl, r#"{"op":"nope"}"#).await;
    assert_eq!(
        (st, e["error"].as_str().unwrap()),
        (400, "unknown op \"nope\"")
    );
    let (st, e) = post(ctl, r#"{"op":"create_user"}"#).await;
    assert_eq!(
        (st, e["error"].as_str().unwrap()),
        (400, "missing argument \"phone\"")
    );
    let (st, e) = post(ctl, "{not json").await;
    assert_eq!(st, 400);
    assert!(e["error"].as_str().unwrap().starts_with("invalid JSON"));
    let (st, e) = post(ctl, &json!({"op": "inject_update", "user": b_id, "update": {"_": "updateShort", "update": "x"}}).to_string()).await;
    assert_eq!(st, 400);
    assert!(
        e["error"].as_str().unwrap().contains("expected Update"),
        "{e}"
    );
    dc.shutdown().await;
}
