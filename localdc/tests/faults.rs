//! Faults and limits of the local DC, driven through the control API.

mod support;

use fleetgram_localdc::{Config, FloodLimit, LocalDc};
use fleetgram_protocol::crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use fleetgram_protocol::transport::Kind;
use fleetgram_tl::functions;
use rand::RngCore;
use std::time::{Duration, Instant};
use support::Client;

async fn start() -> (LocalDc, RsaPublicKey) {
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

#[tokio::test]
async fn flood_limits_forced_errors_and_delays() {
    let (dc, key) = start().await;
    let control = dc.control();
    let mut c = Client::connect(dc.info().dcs[0].addr, 1, &key, Kind::Abridged, false, None).await;
    control.set_flood_limit(
        "help.getNearestDc",
        Some(FloodLimit {
            calls: 2,
            window: Duration::from_secs(30),
        }),
    );
    assert!(c.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    assert!(c.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    let err = c
        .invoke(&functions::help::GetNearestDc {})
        .await
        .unwrap_err();
    assert_eq!((err.code, err.name.as_str()), (420, "FLOOD_WAIT"));
    assert!(
        (29..=30).contains(&err.value.unwrap()),
        "honest wait: {:?}",
        err.value
    );
    // Another account (key) is not limited.
    let mut other =
        Client::connect(dc.info().dcs[0].addr, 1, &key, Kind::Abridged, false, None).await;
    assert!(other
        .invoke(&functions::help::GetNearestDc {})
        .await
        .is_ok());
    control.set_flood_limit("help.getNearestDc", None);
    assert!(c.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    // Forced errors for the next two calls.
    control.force_error("help.getConfig", 500, "RPC_CALL_FAIL", 2);
    for _ in 0..2 {
        let err = c.invoke(&functions::help::GetConfig {}).await.unwrap_err();
        assert_eq!((err.code, err.name.as_str()), (500, "RPC_CALL_FAIL"));
    }
    assert!(c.invoke(&functions::help::GetConfig {}).await.is_ok());
    // A handler that crashes (holding the DC's state) answers an internal error; the
    // connection, the state and the other calls carry on.
    control.crash_handler("help.getConfig", 1);
    let err = c.invoke(&functions::help::GetConfig {}).await.unwrap_err();
    assert_eq!(
        (err.code, err.name.as_str()),
        (500, "INTERNAL_SERVER_ERROR")
    );
    assert!(c.invoke(&functions::help::GetConfig {}).await.is_ok());
    assert!(other
        .invoke(&functions::help::GetNearestDc {})
        .await
        .is_ok());
    // A delay holds the answer back without blocking other calls on the connection.
    control.set_delay("help.getConfig", Some(Duration::from_millis(400)));
    let t = Instant::now();
    let slow = c.session.enqueue(fleetgram_tl::Serializable::to_bytes(
        &functions::help::GetConfig {},
    ));
    assert!(c.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "the fast call was not held up"
    );
    assert!(c.wait(slow).await.is_ok());
    assert!(t.elapsed() >= Duration::from_millis(400));
    dc.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_salt_rotation_and_clock_skew() {
    let (dc, key) = start().await;
    let control = dc.control();
    let addr = dc.info().dcs[0].addr;
    let mut c = Client::connect(addr, 1, &key, Kind::Intermediate, false, None).await;
    assert!(c.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    // Dropped: the connection closes; the same session continues on a new connection.
    control.drop_connections();
    assert_eq!(c.wire.recv().await.err(), Some(None), "closed by the DC");
    c.wire = support::Wire::connect(addr, Kind::Intermediate, false).await;
    assert!(c.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    // New salts: the old one stops being valid; the client is told and switches.
    let old_salt = c.session.salt();
    control.rotate_salts(Duration::ZERO);
    assert!(c.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    assert_ne!(c.session.salt(), old_salt);
    // The DC's clock jumps 10 minutes ahead: the client's msg_ids are now too old, it is told
    // (bad_msg_notification 16), corrects its clock and the call goes through.
    control.set_clock_skew(600_000);
    assert!(c.invoke(&functions::help::GetNearestDc {}).await.is_ok());
    assert!(
        (c.session.time_offset_ms() - 600_000).abs() < 5_000,
        "{}",
        c.session.time_offset_ms()
    );
    dc.shutdown().await;
}
