//! `http.get` against a loopback server: a listed host answers; redirects are followed
//! only to listed hosts; size and time are bounded; an account with no list fetches
//! nothing. In both languages.

use fleetgram_scripting::{Script, ScriptCtx};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::{account, limits};

/// A tiny HTTP/1.1 server on a free loopback port; its port.
async fn server() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, extra, body): (&str, String, Vec<u8>) = match path.as_str() {
                    "/hello" => ("200 OK", String::new(), b"hello from the server".to_vec()),
                    "/in" => ("302 Found", "Location: /hello\r\n".into(), vec![]),
                    "/out" => (
                        "302 Found",
                        format!("Location: http://localhost:{port}/hello\r\n"),
                        vec![],
                    ),
                    "/big" => ("200 OK", String::new(), vec![b'x'; 100_000]),
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        ("200 OK", String::new(), b"late".to_vec())
                    }
                    _ => ("404 Not Found", String::new(), vec![]),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nX-Test: yes\r\nConnection: close\r\n{extra}\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    port
}

fn ctx(yaml_extra: &str, log: Arc<Mutex<Vec<String>>>) -> ScriptCtx {
    let yaml = format!(
        "network: local\naccounts:\n  - {{ name: test, kind: bot, username: test_bot, enabled: false{yaml_extra} }}\n"
    );
    ScriptCtx {
        account: account(Path::new("/tmp/accounts.yaml"), &yaml),
        script: "h".into(),
        settings: serde_json::json!({}),
        log_sink: Some(Arc::new(move |level: &str, line: &str| {
            log.lock().unwrap().push(format!("{level}: {line}"))
        })),
        caps: Default::default(),
        conversations: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_get_reaches_listed_hosts_only_within_its_limits_in_both_languages() {
    let port = server().await;
    let base = format!("http://127.0.0.1:{port}");
    let dir = support::scratch("http", "get");
    let lua = format!(
        "local function try(url, opts)\n  local ok, r = pcall(http.get, url, opts)\n  if ok then return r.status .. ' ' .. r.body .. ' ' .. r.headers['x-test'] .. ' ' .. r.url end\n  return r.kind .. ': ' .. r.message\nend\nfor _, p in ipairs({{'/hello', '/in', '/out', '/big', '/slow'}}) do\n  log.info(p .. ' => ' .. try('{base}' .. p, {{ max_bytes = 1000, timeout = 0.5 }}))\nend\nlog.info('/other => ' .. try('http://localhost:{port}/hello'))\n"
    );
    let rhai = format!(
        "fn fetch(url, opts) {{\n    try {{ let r = http::get(url, opts); return `${{r.status}} ${{r.body}} ${{r.headers[\"x-test\"]}} ${{r.url}}`; }}\n    catch (e) {{ return `${{e.kind}}: ${{e.message}}`; }}\n}}\nfor p in [\"/hello\", \"/in\", \"/out\", \"/big\", \"/slow\"] {{\n    log::info(`${{p}} => ${{fetch(\"{base}\" + p, #{{ max_bytes: 1000, timeout: 0.5 }})}}`);\n}}\nlog::info(`/other => ${{fetch(\"http://localhost:{port}/hello\", #{{}})}}`);\n"
    );
    for (name, src) in [("h.lua", lua), ("h.rhai", rhai)] {
        let path = dir.join(name);
        std::fs::write(&path, src).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let allow = format!(", http_allow: [\"127.0.0.1:{port}\"]");
        Script::start(&path, ctx(&allow, log.clone()), limits())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let lines = log.lock().unwrap().clone();
        let line = |p: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("info: {p} => ")))
                .unwrap_or_else(|| panic!("{name}: no {p}: {lines:?}"))
                .to_string()
        };
        assert_eq!(
            line("/hello"),
            format!("200 hello from the server yes {base}/hello"),
            "{name}"
        );
        assert_eq!(
            line("/in"),
            format!("200 hello from the server yes {base}/hello"),
            "{name}"
        );
        let out = line("/out");
        assert!(
            out.starts_with("bad_argument: ")
                && out.contains(&format!("localhost:{port} is not in http_allow")),
            "{name}: {out}"
        );
        let big = line("/big");
        assert!(
            big.contains("larger than max_bytes (1000)"),
            "{name}: {big}"
        );
        let slow = line("/slow");
        assert!(
            slow.starts_with("timeout: ") && slow.contains("no answer within 0.5 s"),
            "{name}: {slow}"
        );
        let other = line("/other");
        assert!(other.contains("is not in http_allow"), "{name}: {other}");
    }
    // No list: nothing.
    let path = dir.join("none.lua");
    std::fs::write(
        &path,
        format!("local ok, e = pcall(http.get, '{base}/hello')\nlog.info('none ' .. e.message)\n"),
    )
    .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    Script::start(&path, ctx("", log.clone()), limits())
        .await
        .unwrap();
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("none ") && l.contains("may not fetch anything")),
        "{:?}",
        log.lock().unwrap()
    );
}
