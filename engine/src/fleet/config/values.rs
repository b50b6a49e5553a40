//! Values written as text in the fleet file: proxies and transports.

use super::*;

/// Parses `socks5://[user:pass@]host:port` or an MTProxy link
/// (`tg://proxy?server=..&port=..&secret=..`, also `https://t.me/proxy?...`).
///
/// # Errors
/// What is wrong with it.
pub fn parse_proxy(s: &str) -> Result<Proxy, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix("socks5://") {
        let (auth, addr) = match rest.rsplit_once('@') {
            Some((cred, addr)) => {
                let (u, p) = cred
                    .split_once(':')
                    .ok_or("socks5 credentials must be user:pass")?;
                (Some((u.to_string(), p.to_string())), addr)
            }
            None => (None, rest),
        };
        let addr = addr.trim_end_matches('/');
        check_host_port(addr)?;
        return Ok(Proxy::Socks5(Socks5 {
            addr: addr.to_string(),
            auth,
        }));
    }
    let query = s
        .strip_prefix("tg://proxy?")
        .or_else(|| s.strip_prefix("https://t.me/proxy?"))
        .ok_or(
            "expected socks5://[user:pass@]host:port or tg://proxy?server=..&port=..&secret=..",
        )?;
    let mut server = None;
    let mut port = None;
    let mut secret = None;
    for kv in query.split('&') {
        match kv.split_once('=') {
            Some(("server", v)) => server = Some(v.to_string()),
            Some(("port", v)) => {
                port = Some(v.parse::<u16>().map_err(|_| format!("bad port {v:?}"))?)
            }
            Some(("secret", v)) => secret = Some(v.to_string()),
            _ => return Err(format!("unexpected {kv:?} in the proxy link")),
        }
    }
    let server = server.ok_or("the proxy link has no server")?;
    let port = port.ok_or("the proxy link has no port")?;
    let secret = Secret::parse(&secret.ok_or("the proxy link has no secret")?)
        .map_err(|e| format!("bad MTProxy secret: {e}"))?;
    Ok(Proxy::MtProxy {
        addr: format!("{server}:{port}"),
        secret,
    })
}

fn check_host_port(addr: &str) -> Result<(), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr:?}: expected host:port"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("{addr:?}: expected host:port"));
    }
    Ok(())
}

/// Parses `abridged`, `intermediate`, `padded`, `full`, each optionally prefixed by
/// `obfuscated-` (`obfuscated` alone is obfuscated abridged).
///
/// # Errors
/// An unknown name.
pub fn parse_transport(s: &str) -> Result<Transport, String> {
    let (obfuscated, kind) = match s.strip_prefix("obfuscated") {
        Some("") => (true, "abridged"),
        Some(rest) => (true, rest.trim_start_matches('-')),
        None => (false, s),
    };
    let kind = match kind {
        "abridged" => Kind::Abridged,
        "intermediate" => Kind::Intermediate,
        "padded" => Kind::PaddedIntermediate,
        "full" if !obfuscated => Kind::Full,
        _ => {
            return Err(format!(
                "unknown transport {s:?}; expected auto, abridged, intermediate, padded, full or obfuscated[-abridged|-intermediate|-padded]"
            ))
        }
    };
    Ok(Transport { kind, obfuscated })
}
