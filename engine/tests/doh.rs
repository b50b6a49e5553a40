//! DNS-over-HTTPS against a small local HTTPS DoH responder (a self-signed certificate the
//! test trusts), its TTL cache, and the special-config fallback with a locally served,
//! locally signed configuration that leads a client to the local DC.

mod support;

use fleetgram_engine::doh::{self, DohError, DohResolver, Fallback};
use fleetgram_engine::Client;
use fleetgram_protocol::crypto::rsa::RsaPrivateKey;
use fleetgram_tl::{types, Serializable};
use rand::RngCore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A DoH responder for `doh.test`: name -> (type, TTL, data...); NXDOMAIN for the rest.
async fn responder(
    records: HashMap<(String, u16), (u64, Vec<String>)>,
) -> (SocketAddr, rustls::RootCertStore, Arc<AtomicUsize>) {
    let cert = rcgen::generate_simple_self_signed(vec!["doh.test".to_string()]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let records = Arc::new(records);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, records, hits) = (acceptor.clone(), records.clone(), h.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = tls.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                hits.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&buf).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("");
                let query = target.split_once('?').map(|x| x.1).unwrap_or("");
                let param = |k: &str| {
                    query
                        .split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .find(|(a, _)| *a == k)
                        .map(|(_, v)| v.to_string())
                        .unwrap_or_default()
                };
                let (name, t) = (param("name"), param("type").parse::<u16>().unwrap_or(0));
                let body = match records.get(&(name.clone(), t)) {
                    Some((ttl, data)) => serde_json::json!({
                        "Status": 0,
                        "Answer": data.iter().map(|d| serde_json::json!({"name": name, "type": t, "TTL": ttl, "data": d})).collect::<Vec<_>>(),
                    }),
                    None => serde_json::json!({"Status": 3, "Authority": [{"TTL": 30}]}),
                }
                .to_string();
                // One answer in chunks, the others with a length.
                let resp = if name.starts_with("apv3") {
                    let (a, b) = body.split_at(body.len() / 2);
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/dns-json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/dns-json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, roots, hits)
}

/// A special configuration pointing DC `dc` at `addr`, signed with `key`, as base64.
fn sign_config(key: &RsaPrivateKey, dc: i32, addr: SocketAddr, expires: i32) -> String {
    use aes::cipher::{BlockEncrypt, KeyInit};
    use base64::Engine;
    use sha2::Digest;
    let std::net::IpAddr::V4(ip) = addr.ip() else {
        panic!()
    };
    let cfg = types::help::ConfigSimple {
        date: 1,
        expires,
        rules: vec![types::AccessPointRule {
            phone_prefix_rules: vec![],
            dc_id: dc,
            ips: vec![
                types::IpPortSecret {
                    ipv4: u32::from(ip) as i32,
                    port: 9,
                    secret: vec![1; 16],
                }
                .into(),
                types::IpPort {
                    ipv4: u32::from(ip) as i32,
                    port: i32::from(addr.port()),
                }
                .into(),
            ],
        }
        .into()],
    }
    .to_bytes();
    let mut plain = Vec::with_capacity(224);
    plain.extend_from_slice(&(cfg.len() as u32).to_le_bytes());
    plain.extend_from_slice(&cfg);
    plain.resize(208, 0);
    let hash = sha2::Sha256::digest(&plain);
    plain.extend_from_slice(&hash[..16]);
    loop {
        let mut aes_key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut aes_key);
        let cipher = aes::Aes256::new(&aes_key.into());
        let mut iv: [u8; 16] = aes_key[16..32].try_into().unwrap();
        let mut blob = aes_key.to_vec();
        for block in plain.chunks(16) {
            let mut b = [0u8; 16];
            for i in 0..16 {
                b[i] = block[i] ^ iv[i];
            }
            let mut g = aes::Block::from(b);
            cipher.encrypt_block(&mut g);
            iv = g.into();
            blob.extend_from_slice(&iv);
        }
        // Signed so that the public key opens it (retry if above the modulus).
        if let Ok(signed) = key.raw_private(&blob) {
            return base64::engine::general_purpose::STANDARD.encode(signed);
        }
    }
}

#[tokio::test]
async fn doh_resolves_with_a_ttl_cache_and_the_special_config_leads_to_the_dc() {
    let dc = start().await;
    let dc_addr = dc.info().dcs[0].addr;
    let signer = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i32;
    let signed = sign_config(&signer, 1, dc_addr, now + 3600);
    assert_eq!(signed.len(), 344);
    let expired = sign_config(&signer, 1, dc_addr, now - 10);
    // Split into two TXT records (255 characters at most each), the longer first.
    let txt = |s: &str| vec![format!("\"{}\"", &s[..200]), format!("\"{}\"", &s[200..])];
    let mut records = HashMap::new();
    records.insert(
        ("dc.test".to_string(), 1u16),
        (300u64, vec!["127.0.0.1".to_string()]),
    );
    records.insert(("apv3.test".to_string(), 16), (60, txt(&signed)));
    records.insert(("old.test".to_string(), 16), (60, txt(&expired)));
    let (addr, roots, hits) = responder(records).await;
    let resolver = Arc::new(
        DohResolver::with_roots(vec!["https://doh.test/resolve".into()], roots.clone())
            .unwrap()
            .pin("doh.test", addr),
    );

    // Addresses, cached for their TTL.
    let ips = resolver.resolve_ip("dc.test").await.unwrap();
    assert_eq!(ips, vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
    let asked = hits.load(Ordering::SeqCst);
    assert_eq!(resolver.resolve_ip("dc.test").await.unwrap(), ips);
    assert_eq!(hits.load(Ordering::SeqCst), asked, "served from the cache");
    assert!(matches!(
        resolver.resolve_ip("nowhere.test").await,
        Err(DohError::NotFound(_))
    ));
    let table = doh::resolve_dc_hosts(&resolver, &[(1, "dc.test:443"), (2, "10.0.0.1:80")])
        .await
        .unwrap();
    assert_eq!(table[&1], "127.0.0.1:443".parse().unwrap());
    // A server the resolver does not trust is refused.
    let untrusting = DohResolver::with_roots(
        vec!["https://doh.test/resolve".into()],
        rustls::RootCertStore::empty(),
    )
    .unwrap()
    .pin("doh.test", addr);
    let e = untrusting.resolve_ip("dc.test").await.unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");

    // The special config: opened with the right key only, refused when expired.
    let points = resolver
        .special_config("apv3.test", signer.public())
        .await
        .unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!((points[1].dc, points[1].addr), (1, dc_addr));
    assert_eq!(points[0].secret.as_deref(), Some(&[1u8; 16][..]));
    let other = RsaPrivateKey::generate(&mut |b: &mut [u8]| rand::thread_rng().fill_bytes(b));
    let e = resolver
        .special_config("apv3.test", other.public())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("hash mismatch"), "{e}");
    let e = resolver
        .special_config("old.test", signer.public())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");

    // No DC reachable: the fallback's address lets a client log in.
    let mut cfg = config(&dc);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    cfg.dcs.insert(1, closed);
    let fallback = Fallback {
        resolver: resolver.clone(),
        name: "apv3.test".into(),
        key: signer.public().clone(),
    };
    let cfg = doh::reachable_config(cfg, &fallback, Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(cfg.dcs[&1], dc_addr);
    let (_, token) = dc.control().create_bot("F", "fallback_bot", 1);
    let c = Client::new(
        cfg,
        Arc::new(fleetgram_engine::store::MemoryStore::new()),
        "f",
    )
    .unwrap();
    c.bot_sign_in(&token).await.unwrap();
    dc.shutdown().await;
}
