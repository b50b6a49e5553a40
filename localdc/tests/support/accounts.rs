//! Accounts on a fresh local DC: start, log in, wait for pushes, request defaults.
#![allow(dead_code)]

use super::Client;
use fleetgram_localdc::{Config, Control, LocalDc};
use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use fleetgram_protocol::session::client::Event;
use fleetgram_protocol::transport::Kind;
use fleetgram_tl::{enums, functions, types, Deserializable};
use rand::RngCore;

pub async fn start() -> (LocalDc, RsaPublicKey) {
    let key = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    let dc = LocalDc::start(Config {
        rsa_key: Some(key),
        login_code: Some("12345".into()),
        ..Config::default()
    })
    .await
    .unwrap();
    let key = RsaPublicKey::from_pem(&dc.info().rsa_pem).unwrap();
    (dc, key)
}

pub async fn login(dc: &LocalDc, control: &Control, key: &RsaPublicKey, phone: &str) -> Client {
    login_on(dc, control, key, phone, 1).await
}

/// Logs `phone` in on DC `dc_id` (its home DC).
pub async fn login_on(
    dc: &LocalDc,
    control: &Control,
    key: &RsaPublicKey,
    phone: &str,
    dc_id: i32,
) -> Client {
    let addr = dc.info().dcs[(dc_id - 1) as usize].addr;
    if control.user_by_phone(phone).is_none() {
        control.create_user(phone, phone, "", dc_id);
    }
    let mut c = Client::connect(addr, dc_id, key, Kind::Abridged, false, None).await;
    let enums::auth::SentCode::SentCode(sent) = c
        .invoke(&functions::auth::SendCode {
            phone_number: phone.into(),
            api_id: 1,
            api_hash: "x".into(),
            settings: types::CodeSettings::default().into(),
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    c.invoke(&functions::auth::SignIn {
        phone_number: phone.into(),
        phone_code_hash: sent.phone_code_hash,
        phone_code: Some("12345".into()),
        email_verification: None,
    })
    .await
    .unwrap();
    c
}

/// Waits for the next pushed update.
pub async fn next_update(c: &mut Client) -> enums::Updates {
    while let Some(ev) = c.stash.pop_front() {
        if let Event::Update(body) = ev {
            return enums::Updates::from_bytes(&body).expect("an Updates object");
        }
    }
    loop {
        while let Some(ev) = c.session.poll_event() {
            if let Event::Update(body) = ev {
                return enums::Updates::from_bytes(&body).expect("an Updates object");
            }
        }
        let p = c.wire.recv().await.expect("connection open");
        c.session.handle_incoming(&p, super::now_ms()).unwrap();
    }
}

pub fn send_defaults() -> functions::messages::SendMessage {
    functions::messages::SendMessage {
        no_webpage: false,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: enums::InputPeer::InputPeerSelf,
        reply_to: None,
        message: String::new(),
        random_id: 0,
        reply_markup: None,
        entities: None,
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

pub fn edit_defaults() -> functions::messages::EditMessage {
    functions::messages::EditMessage {
        no_webpage: false,
        invert_media: false,
        peer: enums::InputPeer::InputPeerSelf,
        id: 0,
        message: None,
        media: None,
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        quick_reply_shortcut_id: None,
        rich_message: None,
    }
}
