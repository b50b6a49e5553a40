//! Shared set-up of the engine's tests: a local DC on loopback and clients logged in to it.
#![allow(dead_code)]

use fleetgram_engine::store::{MemoryStore, SessionStore};
use fleetgram_engine::updates::{Delivered, UpdateStream};
use fleetgram_engine::{Client, Config};
use fleetgram_localdc::{Config as DcConfig, LocalDc};
use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use fleetgram_tl::{enums, functions, types};
use rand::RngCore;
use std::sync::Arc;
use std::time::Duration;

/// A local DC with a fresh key and the login code 12345.
pub async fn start() -> LocalDc {
    start_with(DcConfig::default()).await
}

/// A local DC with `config` (key and login code filled in).
pub async fn start_with(config: DcConfig) -> LocalDc {
    let key = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    LocalDc::start(DcConfig {
        rsa_key: Some(key),
        login_code: Some("12345".into()),
        ..config
    })
    .await
    .unwrap()
}

/// The client configuration for `dc`.
pub fn config(dc: &LocalDc) -> Config {
    let info = dc.info();
    let mut c = Config::with_dcs(
        1,
        "local",
        info.dcs.iter().map(|d| (d.id, d.addr)).collect(),
        1,
    );
    c.extra_rsa_keys = vec![RsaPublicKey::from_pem(&info.rsa_pem).unwrap()];
    c.request_timeout = Duration::from_secs(20);
    c
}

/// A client of `dc` with its own memory store.
pub fn client(dc: &LocalDc, account: &str) -> Client {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    Client::new(config(dc), store, account).unwrap()
}

/// A user account logged in with `phone` (created when missing), with `username` set.
pub async fn user(dc: &LocalDc, phone: &str, username: Option<&str>) -> Client {
    if dc.control().user_by_phone(phone).is_none() {
        dc.control().create_user(phone, "User", phone, 1);
    }
    let c = client(dc, phone);
    let token = c.request_login_code(phone).await.unwrap();
    c.sign_in(&token, "12345").await.unwrap();
    if let Some(name) = username {
        c.invoke(&fleetgram_tl::functions::account::UpdateUsername {
            username: name.into(),
        })
        .await
        .unwrap();
    }
    c
}

/// A bot account `username`, logged in.
pub async fn bot(dc: &LocalDc, username: &str) -> Client {
    let (_, token) = dc.control().create_bot(username, username, 1);
    let c = client(dc, username);
    c.bot_sign_in(&token).await.unwrap();
    c
}

/// The next update that `pick` accepts (others are acknowledged and skipped).
pub async fn next_matching<T>(
    s: &mut UpdateStream,
    mut pick: impl FnMut(&Delivered) -> Option<T>,
) -> T {
    loop {
        let d = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .expect("an update in time")
            .unwrap()
            .unwrap();
        s.ack(&d).unwrap();
        if let Some(t) = pick(&d) {
            return t;
        }
    }
}

/// The next incoming new message.
pub async fn next_incoming(s: &mut UpdateStream) -> fleetgram_tl::enums::Message {
    next_matching(s, |d| match d.message() {
        Some(m @ fleetgram_tl::enums::Message::Message(x)) if !x.out => Some(m.clone()),
        _ => None,
    })
    .await
}

/// A new channel of `owner` (a supergroup with `megagroup`, else a broadcast channel).
pub async fn new_channel(owner: &Client, title: &str, megagroup: bool) -> types::InputChannel {
    let created = owner
        .invoke(&functions::channels::CreateChannel {
            broadcast: !megagroup,
            megagroup,
            for_import: false,
            forum: false,
            title: title.into(),
            about: String::new(),
            geo_point: None,
            address: None,
            ttl_period: None,
        })
        .await
        .unwrap();
    let chats = match created {
        enums::Updates::Updates(u) => u.chats,
        enums::Updates::Combined(u) => u.chats,
        other => panic!("{other:?}"),
    };
    chats
        .into_iter()
        .find_map(|c| match c {
            enums::Chat::Channel(c) => Some(types::InputChannel {
                channel_id: c.id,
                access_hash: c.access_hash.unwrap(),
            }),
            _ => None,
        })
        .expect("the new channel")
}

/// The `InputPeer` of a channel.
pub fn channel_peer(c: &types::InputChannel) -> enums::InputPeer {
    types::InputPeerChannel {
        channel_id: c.channel_id,
        access_hash: c.access_hash,
    }
    .into()
}
