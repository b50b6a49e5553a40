//! DNS-over-HTTPS (the JSON API of `dns.google/resolve` and `cloudflare-dns.com/dns-query`)
//! with a TTL cache, and Telegram's special-config fallback: when no DC can be reached, the
//! `help.configSimple` published in a DNS TXT record (fetched over DoH), opened with
//! Telegram's RSA key and AES-256-CBC, gives DC addresses to try.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use fleetgram_engine::doh::DohResolver;
//! let doh = DohResolver::new(vec!["https://dns.google/resolve".into()])?;
//! let ips = doh.resolve_ip("venus.web.telegram.org").await?;
//! # Ok(()) }
//! ```

use fleetgram_protocol::crypto::rsa::RsaPublicKey;
use fleetgram_tl::Deserializable;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What went wrong resolving.
#[derive(Debug, thiserror::Error)]
pub enum DohError {
    /// An endpoint is not an `https://` URL.
    #[error("DoH endpoint {0:?} is not an https:// URL")]
    BadEndpoint(String),
    /// Every endpoint failed; the last reason.
    #[error("DNS-over-HTTPS failed for {name}: {reason}")]
    Failed {
        /// The name asked for.
        name: String,
        /// Why (the last endpoint's error).
        reason: String,
    },
    /// The name does not exist or has no records of the type.
    #[error("{0}: no such record")]
    NotFound(String),
    /// A special configuration could not be opened.
    #[error("special config: {0}")]
    Config(String),
}

/// DNS record types this resolver asks for.
const TYPE_A: u16 = 1;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;

/// The shortest and longest time an answer is cached (whatever its TTL says).
const MIN_TTL: u64 = 5;
const MAX_TTL: u64 = 3600;

/// Cached answers: (name, type) -> (valid until, records).
type Cache = HashMap<(String, u16), (Instant, Vec<String>)>;

/// A DNS-over-HTTPS resolver (JSON API) with a TTL cache.
pub struct DohResolver {
    endpoints: Vec<Endpoint>,
    tls: Arc<rustls::ClientConfig>,
    cache: Mutex<Cache>,
    timeout: Duration,
    /// Endpoint host -> the address to connect to instead of resolving it (tests, pinning).
    pinned: HashMap<String, SocketAddr>,
}

impl std::fmt::Debug for DohResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DohResolver")
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

#[derive(Debug, Clone)]
struct Endpoint {
    host: String,
    port: u16,
    path: String,
}

fn parse_endpoint(url: &str) -> Result<Endpoint, DohError> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| DohError::BadEndpoint(url.into()))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse().map_err(|_| DohError::BadEndpoint(url.into()))?,
        ),
        None => (authority.to_string(), 443),
    };
    if host.is_empty() {
        return Err(DohError::BadEndpoint(url.into()));
    }
    Ok(Endpoint {
        host,
        port,
        path: format!("/{path}"),
    })
}

impl DohResolver {
    /// A resolver asking `endpoints` in turn, trusting the usual web roots.
    ///
    /// # Errors
    /// An endpoint is not an `https://` URL.
    pub fn new(endpoints: Vec<String>) -> Result<Self, DohError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::with_roots(endpoints, roots)
    }

    /// A resolver trusting only `roots` (a private DoH server, tests).
    ///
    /// # Errors
    /// An endpoint is not an `https://` URL.
    pub fn with_roots(
        endpoints: Vec<String>,
        roots: rustls::RootCertStore,
    ) -> Result<Self, DohError> {
        let endpoints = endpoints
            .iter()
            .map(|e| parse_endpoint(e))
            .collect::<Result<_, _>>()?;
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            endpoints,
            tls: Arc::new(tls),
            cache: Mutex::new(HashMap::new()),
            timeout: Duration::from_secs(10),
            pinned: HashMap::new(),
        })
    }

    /// Connects to endpoint host `host` at `addr` instead of resolving it.
    pub fn pin(mut self, host: &str, addr: SocketAddr) -> Self {
        self.pinned.insert(host.to_string(), addr);
        self
    }

    /// The IPv4 and IPv6 addresses of `name`.
    ///
    /// # Errors
    /// Every endpoint failed, or the name has no address.
    pub async fn resolve_ip(&self, name: &str) -> Result<Vec<IpAddr>, DohError> {
        let mut out: Vec<IpAddr> = Vec::new();
        for t in [TYPE_A, TYPE_AAAA] {
            match self.query(name, t).await {
                Ok(v) => out.extend(v.iter().filter_map(|a| a.parse::<IpAddr>().ok())),
                Err(DohError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if out.is_empty() {
            return Err(DohError::NotFound(name.into()));
        }
        Ok(out)
    }

    /// The TXT records of `name` (each record's strings joined).
    ///
    /// # Errors
    /// Every endpoint failed, or the name has no TXT record.
    pub async fn resolve_txt(&self, name: &str) -> Result<Vec<String>, DohError> {
        let v = self.query(name, TYPE_TXT).await?;
        Ok(v.into_iter().map(|d| txt_strings(&d)).collect())
    }

    /// Records of one type, from the cache while their TTL lasts.
    async fn query(&self, name: &str, rtype: u16) -> Result<Vec<String>, DohError> {
        let key = (name.to_ascii_lowercase(), rtype);
        if let Some((until, v)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            if *until > Instant::now() {
                return if v.is_empty() {
                    Err(DohError::NotFound(name.into()))
                } else {
                    Ok(v.clone())
                };
            }
        }
        let mut last = String::from("no endpoint configured");
        for ep in &self.endpoints {
            match tokio::time::timeout(self.timeout, self.ask(ep, name, rtype)).await {
                Ok(Ok((answers, ttl))) => {
                    let ttl = ttl.clamp(MIN_TTL, MAX_TTL);
                    self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(
                        key,
                        (Instant::now() + Duration::from_secs(ttl), answers.clone()),
                    );
                    if answers.is_empty() {
                        return Err(DohError::NotFound(name.into()));
                    }
                    return Ok(answers);
                }
                Ok(Err(e)) => last = format!("{}: {e}", ep.host),
                Err(_) => last = format!("{}: timed out", ep.host),
            }
        }
        Err(DohError::Failed {
            name: name.into(),
            reason: last,
        })
    }

    /// Asks one endpoint; the answers of type `rtype` and their smallest TTL.
    async fn ask(
        &self,
        ep: &Endpoint,
        name: &str,
        rtype: u16,
    ) -> Result<(Vec<String>, u64), String> {
        let addr = match self.pinned.get(&ep.host) {
            Some(a) => *a,
            None => tokio::net::lookup_host((ep.host.as_str(), ep.port))
                .await
                .map_err(|e| e.to_string())?
                .next()
                .ok_or("the endpoint's host has no address")?,
        };
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let server =
            rustls::pki_types::ServerName::try_from(ep.host.clone()).map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(server, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let sep = if ep.path.contains('?') { '&' } else { '?' };
        let req = format!(
            "GET {}{sep}name={}&type={rtype} HTTP/1.1\r\nHost: {}\r\nAccept: application/dns-json\r\nConnection: close\r\nUser-Agent: fleetgram\r\n\r\n",
            ep.path,
            name,
            ep.host
        );
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        // A server may end the TLS session without close_notify; what was read counts.
        let _ = tls.read_to_end(&mut raw).await;
        let body = http_body(&raw)?;
        let j: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("not DoH JSON: {e}"))?;
        match j["Status"].as_u64() {
            Some(0) => {}
            Some(3) => return Ok((vec![], j["Authority"][0]["TTL"].as_u64().unwrap_or(60))),
            Some(s) => return Err(format!("DNS status {s}")),
            None => return Err("no Status in the answer".into()),
        }
        let mut ttl = u64::MAX;
        let answers = j["Answer"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["type"].as_u64() == Some(u64::from(rtype)))
            .filter_map(|a| {
                ttl = ttl.min(a["TTL"].as_u64().unwrap_or(60));
                a["data"].as_str().map(str::to_string)
            })
            .collect::<Vec<_>>();
        Ok((answers, if ttl == u64::MAX { 60 } else { ttl }))
    }
}

/// A TXT record's text from JSON DoH data: Cloudflare quotes each string (`"a" "b"`), Google
/// gives the text bare.
fn txt_strings(d: &str) -> String {
    if !d.contains('"') {
        return d.to_string();
    }
    d.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect()
}

/// The body of an HTTP/1.1 response (`Content-Length`, chunked, or to the end).
fn http_body(raw: &[u8]) -> Result<Vec<u8>, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("HTTP {status}"));
    }
    let body = &raw[end + 4..];
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut out = Vec::new();
        let mut rest = body;
        loop {
            let line_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("bad chunk")?;
            let size_text = String::from_utf8_lossy(&rest[..line_end]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "bad chunk size")?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                return Ok(out);
            }
            if rest.len() < size + 2 {
                return Err("truncated chunk".into());
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
    }
    match header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(n) if body.len() >= n => Ok(body[..n].to_vec()),
        Some(_) => Err("truncated body".into()),
        None => Ok(body.to_vec()),
    }
}

/// Where the special configuration is published: `apv3.stel.com` (production) and
/// `tapv3.stel.com` (the test DCs).
pub const SPECIAL_CONFIG_NAME: &str = "apv3.stel.com";

/// Telegram's public key for the special configuration (published with its clients).
pub const SPECIAL_CONFIG_KEY_PEM: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAyr+18Rex2ohtVy8sroGPBwXD3DOoKCSpjDqYoXgCqB7ioln4eDCF
fOBUlfXUEvM/fnKCpF46VkAftlb4VuPDeQSS/ZxZYEGqHaywlroVnXHIjgqoxiAd
192xRGreuXIaUKmkwlM9JID9WS2jUsTpzQ91L8MEPLJ/4zrBwZua8W5fECwCCh2c
9G5IzzBm+otMS/YKwmR1olzRCyEkyAEjXWqBI9Ftv5eG8m0VkBzOG655WIYdyV0H
fDK/NWcvGqa0w/nriMD6mDjKOryamw0OP9QuYgMN0C9xMW9y8SmP4h92OAWodTYg
Y1hZCxdv6cs5UnW9+PWvS+WIbkh+GaWYxwIDAQAB
-----END RSA PUBLIC KEY-----
";

/// An access point of a special configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPoint {
    /// The DC.
    pub dc: i32,
    /// Its address.
    pub addr: SocketAddr,
    /// An MTProxy secret to connect with, if the point is a proxy.
    pub secret: Option<Vec<u8>>,
    /// Phone-prefix rules it applies to (`""`: everyone).
    pub rules: String,
}

/// Opens a special configuration (the text of the TXT records, base64 with anything else
/// ignored): 256 bytes, `x^e mod n` with Telegram's key gives 32 bytes of AES-256 key (its
/// last 16 also the CBC IV) and 224 bytes of AES-256-CBC data whose last 16 bytes are the
/// start of the SHA-256 of the 208 before; those hold a length and `help.configSimple`.
///
/// # Errors
/// Not 256 bytes of base64, a bad hash (wrong key or tampered), a malformed config.
pub fn decode_special_config(
    text: &str,
    key: &RsaPublicKey,
) -> Result<(fleetgram_tl::enums::help::ConfigSimple, Vec<AccessPoint>), DohError> {
    use aes::cipher::{BlockDecrypt, KeyInit};
    use base64::Engine;
    use sha2::Digest;
    let b64: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let data = engine
        .decode(b64.as_bytes())
        .map_err(|e| DohError::Config(format!("not base64: {e}")))?;
    if data.len() != 256 {
        return Err(DohError::Config(format!(
            "{} bytes, expected 256",
            data.len()
        )));
    }
    let opened = key.raw_public(&data);
    let aes_key: [u8; 32] = opened[..32].try_into().expect("32");
    let mut iv: [u8; 16] = opened[16..32].try_into().expect("16");
    let mut cbc = opened[32..].to_vec();
    let cipher = aes::Aes256::new(&aes_key.into());
    for block in cbc.chunks_mut(16) {
        let c: [u8; 16] = block.try_into().expect("16");
        let mut b = aes::Block::from(c);
        cipher.decrypt_block(&mut b);
        for (x, (p, v)) in block.iter_mut().zip(b.iter().zip(iv.iter())) {
            *x = p ^ v;
        }
        iv = c;
    }
    let hash = sha2::Sha256::digest(&cbc[..208]);
    if cbc[208..224] != hash[..16] {
        return Err(DohError::Config(
            "hash mismatch (not signed with this key, or corrupted)".into(),
        ));
    }
    let len = u32::from_le_bytes(cbc[..4].try_into().expect("4")) as usize;
    if !(8..=208).contains(&len) || 4 + len > 208 {
        return Err(DohError::Config(format!("bad length {len}")));
    }
    let cfg = fleetgram_tl::enums::help::ConfigSimple::from_bytes(&cbc[4..4 + len])
        .map_err(|e| DohError::Config(format!("not help.configSimple: {e}")))?;
    let fleetgram_tl::enums::help::ConfigSimple::ConfigSimple(c) = &cfg;
    let mut points = Vec::new();
    for r in &c.rules {
        let fleetgram_tl::enums::AccessPointRule::AccessPointRule(r) = r;
        for ip in &r.ips {
            let (ipv4, port, secret) = match ip {
                fleetgram_tl::enums::IpPort::IpPort(p) => (p.ipv4, p.port, None),
                fleetgram_tl::enums::IpPort::Secret(p) => (p.ipv4, p.port, Some(p.secret.clone())),
            };
            points.push(AccessPoint {
                dc: r.dc_id,
                addr: SocketAddr::from((std::net::Ipv4Addr::from(ipv4 as u32), port as u16)),
                secret,
                rules: String::from_utf8_lossy(&r.phone_prefix_rules).into_owned(),
            });
        }
    }
    Ok((cfg, points))
}

impl DohResolver {
    /// Fetches and opens the special configuration published as TXT records of `name`
    /// (the records are joined longest first, as they are split for DNS); its access points.
    ///
    /// # Errors
    /// The records cannot be fetched, or do not open with `key`; an expired configuration.
    pub async fn special_config(
        &self,
        name: &str,
        key: &RsaPublicKey,
    ) -> Result<Vec<AccessPoint>, DohError> {
        let mut parts = self.resolve_txt(name).await?;
        parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let (cfg, points) = decode_special_config(&parts.concat(), key)?;
        let fleetgram_tl::enums::help::ConfigSimple::ConfigSimple(c) = cfg;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if i64::from(c.expires) < now {
            return Err(DohError::Config(format!("expired at {}", c.expires)));
        }
        Ok(points)
    }
}

/// Where the special configuration comes from: the resolver, the record name and the key.
#[derive(Clone)]
pub struct Fallback {
    /// The resolver.
    pub resolver: Arc<DohResolver>,
    /// The TXT record name ([`SPECIAL_CONFIG_NAME`] for Telegram).
    pub name: String,
    /// The key the configuration is signed with.
    pub key: RsaPublicKey,
}

impl Fallback {
    /// Telegram's own fallback: the TXT records of [`SPECIAL_CONFIG_NAME`] (over DNS-over-HTTPS
    /// at Google and Cloudflare) opened with [`SPECIAL_CONFIG_KEY_PEM`].
    pub fn telegram() -> Self {
        let resolver = DohResolver::new(vec![
            "https://dns.google/resolve".into(),
            "https://mozilla.cloudflare-dns.com/dns-query".into(),
        ])
        .expect("valid endpoints");
        Self {
            resolver: Arc::new(resolver),
            name: SPECIAL_CONFIG_NAME.into(),
            key: RsaPublicKey::from_pem(SPECIAL_CONFIG_KEY_PEM).expect("a valid key"),
        }
    }
}

/// A DC table from host names (`"host:port"` per DC), resolved over DoH.
///
/// # Errors
/// A name does not resolve; a malformed `host:port`.
pub async fn resolve_dc_hosts(
    resolver: &DohResolver,
    hosts: &[(i32, &str)],
) -> Result<HashMap<i32, SocketAddr>, DohError> {
    let mut out = HashMap::new();
    for (dc, hp) in hosts {
        let (host, port) = hp
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| DohError::BadEndpoint(format!("{hp} (expected host:port)")))?;
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => resolver.resolve_ip(host).await?[0],
        };
        out.insert(*dc, SocketAddr::new(ip, port));
    }
    Ok(out)
}

/// `config` as it is when its default DC answers a TCP connect within `probe`; otherwise with
/// the DC addresses of the special configuration (the first access point of each DC, plain
/// ones before proxies).
///
/// # Errors
/// The DC is unreachable and the special configuration cannot be had.
pub async fn reachable_config(
    mut config: crate::Config,
    fallback: &Fallback,
    probe: Duration,
) -> Result<crate::Config, DohError> {
    if let Some(addr) = config.dcs.get(&config.default_dc).copied() {
        if let Ok(Ok(_)) = tokio::time::timeout(probe, tokio::net::TcpStream::connect(addr)).await {
            return Ok(config);
        }
    }
    tracing::warn!("no DC answers: fetching the special configuration");
    let mut points = fallback
        .resolver
        .special_config(&fallback.name, &fallback.key)
        .await?;
    points.sort_by_key(|p| p.secret.is_some());
    for p in points.iter().rev() {
        config.dcs.insert(p.dc, p.addr);
    }
    if points.is_empty() {
        return Err(DohError::Config("no access points".into()));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegrams_key_and_fallback_are_well_formed() {
        let k = RsaPublicKey::from_pem(SPECIAL_CONFIG_KEY_PEM).unwrap();
        assert_eq!(k.n.bits(), 2048);
        assert_eq!(k.e, 65537u32.into());
        let f = Fallback::telegram();
        assert_eq!(f.name, "apv3.stel.com");
        assert_eq!(f.resolver.endpoints.len(), 2);
        assert_eq!(f.resolver.endpoints[1].host, "mozilla.cloudflare-dns.com");
        assert_eq!(f.resolver.endpoints[1].path, "/dns-query");
        // Junk around the base64 is ignored; a wrong size is refused clearly.
        let e = decode_special_config("not a config", &k).unwrap_err();
        assert!(e.to_string().contains("expected 256"), "{e}");
    }

    #[test]
    fn txt_data_quoted_or_bare() {
        assert_eq!(txt_strings("\"ab\" \"cd\""), "abcd");
        assert_eq!(txt_strings("abcd"), "abcd");
        assert_eq!(txt_strings("\"\""), "");
    }

    #[test]
    fn http_bodies_by_length_chunks_or_to_the_end() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef";
        assert_eq!(http_body(r).unwrap(), b"abc");
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;x=y\r\nc\r\n0\r\n\r\n";
        assert_eq!(http_body(r).unwrap(), b"abc");
        let r = b"HTTP/1.1 200 OK\r\n\r\nall";
        assert_eq!(http_body(r).unwrap(), b"all");
        assert_eq!(
            http_body(b"HTTP/1.1 503 Busy\r\n\r\n").unwrap_err(),
            "HTTP 503"
        );
    }
}
