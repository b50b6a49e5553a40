//! `http.get(url, opts)`: fetching for scripts (a feed to post from, an API to ask), off
//! by default. An account's entry in accounts.yaml lists the hosts its scripts may reach
//! (`http_allow`); every address is checked, redirects included, and a name that only a
//! wildcard allows never reaches a loopback or private address (the check is made on the
//! addresses the connection uses, so a name that changes its answer gains nothing). Time
//! and size are bounded. The client is reqwest over rustls, with no proxy from the
//! environment.

use super::*;
use crate::lua::bind::*;
use crate::rhai::bind::*;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Default and largest time a fetch may take, in all.
const TIMEOUT: (f64, f64) = (10.0, 60.0);
/// Default and largest body a fetch may read.
const MAX_BYTES: (u64, u64) = (1 << 20, 8 << 20);
/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// How a host is allowed: by its exact name (or address), or only through a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    Exact,
    Wildcard,
}

/// Whether `http_allow` lets scripts reach `host:port` (`port` `None`: on some port), and
/// how.
fn allowed(list: &[String], host: &str, port: Option<u16>) -> Option<Allowed> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut best = None;
    for entry in list {
        let entry = entry.trim().to_ascii_lowercase();
        // `name`, `name:port`, `*.suffix`, `*.suffix:port`, `[v6]:port`.
        let (pattern, want_port) = match entry.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && p.parse::<u16>().is_ok() && !h.is_empty() => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse::<u16>().ok(),
            ),
            _ => (
                entry
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                None,
            ),
        };
        if matches!((want_port, port), (Some(w), Some(p)) if w != p) {
            continue;
        }
        if pattern == host {
            return Some(Allowed::Exact);
        }
        if let Some(suffix) = pattern.strip_prefix("*.") {
            if host.ends_with(&format!(".{suffix}")) {
                best = Some(Allowed::Wildcard);
            }
        }
    }
    best
}

/// Whether `ip` is a public address (not loopback, private, link-local, shared,
/// unspecified, multicast or documentation space).
fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            let o = v.octets();
            !(v.is_loopback()
                || v.is_private()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_multicast()
                || v.is_broadcast()
                || v.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(v) => {
            if let Some(v4) = v.to_ipv4_mapped() {
                return public(IpAddr::V4(v4));
            }
            let s = v.segments();
            !(v.is_loopback()
                || v.is_unspecified()
                || v.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves names for the client, keeping only the addresses the list allows the name.
struct Resolver {
    list: Arc<Vec<String>>,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let list = self.list.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // The port is checked on the URL; here only how the name is allowed matters.
            let how = allowed(&list, &host, None);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| how == Some(Allowed::Exact) || public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} has no address scripts may reach (loopback and private addresses need the name listed exactly in http_allow)"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A number from `opts` within `(default, max)`.
fn bounded(opts: &Json, key: &str, (default, max): (f64, f64)) -> ApiResult<f64> {
    match opts.get(key).filter(|v| !v.is_null()) {
        None => Ok(default),
        Some(v) => match v.as_f64() {
            Some(x) if x > 0.0 && x <= max => Ok(x),
            _ => Err(ApiError::Bad(format!(
                "http.get: {key} must be a number above 0 and at most {max}, not {v}"
            ))),
        },
    }
}

impl ScriptCtx {
    /// `http.get(url, opts)`: `{status, url, headers, body}` (`url` where redirects led;
    /// `headers` by lower-case name; `body` as text). `opts.timeout` (seconds, 10 by
    /// default, at most 60) bounds the whole fetch, `opts.max_bytes` (1 MiB by default,
    /// at most 8 MiB) the body; `opts.headers` adds request headers.
    pub async fn http_get(&self, url: &str, opts: &Json) -> ApiResult {
        let list = Arc::new(self.account.account.config.http_allow.clone());
        if list.is_empty() {
            return Err(ApiError::Bad(format!(
                "http.get: account {:?} may not fetch anything; list the hosts its scripts may reach under `http_allow:` on its entry in accounts.yaml",
                self.account.name
            )));
        }
        let timeout = bounded(opts, "timeout", TIMEOUT)?;
        let max = bounded(opts, "max_bytes", (MAX_BYTES.0 as f64, MAX_BYTES.1 as f64))? as u64;
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::Other(format!("http.get: {e}")))?
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(Resolver { list: list.clone() }))
            .build()
            .map_err(|e| ApiError::Other(format!("http.get: {e}")))?;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(Json::Object(h)) = opts.get("headers") {
            for (k, v) in h {
                let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| ApiError::Bad(format!("http.get: {k:?} is not a header name")))?;
                let value = v
                    .as_str()
                    .and_then(|v| reqwest::header::HeaderValue::from_str(v).ok())
                    .ok_or_else(|| {
                        ApiError::Bad(format!("http.get: header {k}: {v} is not a header value"))
                    })?;
                headers.insert(name, value);
            }
        }
        let fetch = async {
            let mut at = reqwest::Url::parse(url)
                .map_err(|e| ApiError::Bad(format!("http.get: {url:?} is not a URL: {e}")))?;
            for _ in 0..=MAX_REDIRECTS {
                check_url(&list, &at)?;
                let resp = client
                    .get(at.clone())
                    .headers(headers.clone())
                    .send()
                    .await
                    .map_err(|e| ApiError::Other(format!("http.get {at}: {}", error_chain(&e))))?;
                if resp.status().is_redirection() {
                    if let Some(loc) = resp.headers().get(reqwest::header::LOCATION) {
                        let loc = loc.to_str().unwrap_or_default();
                        at = at.join(loc).map_err(|e| {
                            ApiError::Bad(format!("http.get {at}: a redirect to {loc:?}: {e}"))
                        })?;
                        continue;
                    }
                }
                return read(resp, max).await;
            }
            Err(ApiError::Bad(format!(
                "http.get {url}: more than {MAX_REDIRECTS} redirects"
            )))
        };
        tokio::time::timeout(Duration::from_secs_f64(timeout), fetch)
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::Timeout(format!(
                    "http.get {url}: no answer within {timeout} s"
                )))
            })
    }
}

/// The URL's scheme and host checked against the list (an address given as the host must
/// be listed exactly).
fn check_url(list: &[String], url: &reqwest::Url) -> ApiResult<()> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::Bad(format!(
            "http.get {url}: only http and https URLs"
        )));
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(0);
    match allowed(list, host, Some(port)) {
        None => Err(ApiError::Bad(format!(
            "http.get {url}: {host}:{port} is not in http_allow"
        ))),
        Some(Allowed::Wildcard)
            if host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok() =>
        {
            Err(ApiError::Bad(format!(
                "http.get {url}: an address must be listed exactly in http_allow"
            )))
        }
        Some(_) => Ok(()),
    }
}

/// The answer, its body read up to `max` bytes.
async fn read(mut resp: reqwest::Response, max: u64) -> ApiResult {
    let status = resp.status().as_u16();
    let url = resp.url().to_string();
    let mut headers = Map::new();
    for (k, v) in resp.headers() {
        headers.insert(
            k.as_str().to_string(),
            json!(String::from_utf8_lossy(v.as_bytes())),
        );
    }
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(ApiError::Bad(format!(
            "http.get {url}: the body is larger than max_bytes ({max})"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ApiError::Other(format!("http.get {url}: {}", error_chain(&e))))?
    {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(ApiError::Bad(format!(
                "http.get {url}: the body is larger than max_bytes ({max})"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(json!({
        "status": status,
        "url": url,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

/// An error with its causes (reqwest's own text names only the outermost).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Registers this area's raw functions for Lua.
pub(crate) fn lua(lua: &Lua, raw: &Table, file: &str, ctx: &ScriptCtx) -> mlua::Result<()> {
    async_api!(lua, raw, file, ctx, "http_get", |c, l, a| {
        let url = arg_str(&a, 0, "http.get(url)").map_err(bad)?;
        let opts = arg_json(&l, &a, 1).map_err(bad)?;
        c.http_get(&url, &opts).await
    });
    Ok(())
}

/// Registers this area's functions for Rhai (`http::get`).
pub(crate) fn rhai(engine: &mut Engine, ctx: &ScriptCtx, f: &str) {
    let mut http = rhai::Module::new();
    for with_opts in [false, true] {
        let (c, fl) = (ctx.clone(), f.to_string());
        let get = move |url: &str, opts: Json| {
            block(c.http_get(url, &opts))
                .map(|v| to_rhai(&v))
                .map_err(|e| raise(e, &fl, Position::NONE))
        };
        if with_opts {
            let fl = f.to_string();
            http.set_native_fn("get", move |url: &str, opts: rhai::Map| {
                let o = from_rhai(&Dynamic::from_map(opts))
                    .map_err(|m| raise(ApiError::Bad(m), &fl, Position::NONE))?;
                get(url, o)
            });
        } else {
            http.set_native_fn("get", move |url: &str| get(url, Json::Null));
        }
    }
    engine.register_static_module("http", http.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_matches_names_wildcards_ports_and_addresses() {
        let list: Vec<String> = ["news.example", "*.example.org", "127.0.0.1:8080", "[::1]:9"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            allowed(&list, "news.example", Some(443)),
            Some(Allowed::Exact)
        );
        assert_eq!(
            allowed(&list, "NEWS.example.", Some(80)),
            Some(Allowed::Exact)
        );
        assert_eq!(
            allowed(&list, "a.b.example.org", Some(443)),
            Some(Allowed::Wildcard)
        );
        assert_eq!(allowed(&list, "example.org", Some(443)), None);
        assert_eq!(allowed(&list, "evil-example.org", Some(443)), None);
        assert_eq!(
            allowed(&list, "127.0.0.1", Some(8080)),
            Some(Allowed::Exact)
        );
        assert_eq!(allowed(&list, "127.0.0.1", Some(8081)), None);
        assert_eq!(allowed(&list, "[::1]", Some(9)), Some(Allowed::Exact));
        for (ip, ok) in [
            ("8.8.8.8", true),
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("192.168.1.1", false),
            ("172.20.0.1", false),
            ("169.254.1.1", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("::1", false),
            ("fd00::1", false),
            ("fe80::1", false),
            ("::ffff:10.0.0.1", false),
            ("2606:4700::1", true),
        ] {
            assert_eq!(public(ip.parse().unwrap()), ok, "{ip}");
        }
    }
}
