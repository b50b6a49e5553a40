//! The fleet file: parsing, errors with their places, substitution, limits.

use super::*;

fn parse(text: &str) -> Result<FleetConfig, ConfigError> {
    let env = |k: &str| (k == "API_HASH").then(|| "abc123".to_string());
    FleetConfig::parse(Path::new("/cfg/accounts.yaml"), text, &env)
}

const GOOD: &str = "network: telegram\napi_id: 42\napi_hash: ${API_HASH}\naccounts:\n  - name: a\n    kind: bot\n    token: \"123:abc\"\n  - name: b\n    kind: user\n    phone: \"+1555\"\n    proxy: socks5://u:p@127.0.0.1:1080\n    transport: obfuscated-intermediate\n";

#[test]
fn environment_values_never_change_the_structure() {
    let hostile = "abc\nstore: /etc\naccounts: []";
    let env = |k: &str| match k {
        "H" => Some(hostile.to_string()),
        "Q" => Some("say \"hi\" \\ bye".to_string()),
        "ID" => Some("42".to_string()),
        _ => None,
    };
    let parse_env = |t: &str| FleetConfig::parse(Path::new("/cfg/accounts.yaml"), t, &env);
    let accounts = "accounts:\n  - { name: a, kind: bot, token: \"1:x\" }\n";
    // A whole plain value: quoted, so it stays the value.
    let c = parse_env(&format!(
        "network: telegram\napi_id: ${{ID}}\napi_hash: ${{H}}\n{accounts}"
    ))
    .unwrap();
    assert_eq!(c.api_hash, hostile);
    assert_eq!(c.api_id, 42);
    assert_eq!(c.store, Path::new("/cfg/fleetgram-data"));
    assert_eq!(c.accounts.len(), 1);
    // Inside double quotes: escaped.
    let c = parse_env(&format!(
        "network: telegram\napi_id: 1\napi_hash: \"${{Q}}\"\n{accounts}"
    ))
    .unwrap();
    assert_eq!(c.api_hash, "say \"hi\" \\ bye");
    let c = parse_env(&format!(
        "network: telegram\napi_id: 1\napi_hash: \"${{H}}\"\n{accounts}"
    ))
    .unwrap();
    assert_eq!(c.api_hash, hostile);
    // Inside a larger plain value it cannot be made safe: a clear error.
    let e = parse_env(&format!(
        "network: telegram\napi_id: 1\napi_hash: x${{H}}\n{accounts}"
    ))
    .unwrap_err();
    assert!(
        e.message.contains("environment variable H") && e.message.contains("double quotes"),
        "{e}"
    );
    assert_eq!((e.line, e.column), (3, 12), "{e}");
}

#[test]
fn debug_output_never_shows_secrets() {
    let text = GOOD
        .replace(
            "token: \"123:abc\"",
            "token: \"123:bot-secret\"\n    password: hunter2-secret",
        )
        .replace(
            "socks5://u:p@127.0.0.1:1080",
            "socks5://u:proxy-secret@127.0.0.1:1080",
        );
    let c = parse(&text).unwrap();
    let shown = format!("{c:?} {:?}", c.accounts);
    for secret in ["abc123", "bot-secret", "hunter2-secret", "proxy-secret"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("<redacted>"));
    let state = crate::store::DcState {
        auth_key: Some(vec![0xab; 256]),
        ..Default::default()
    };
    assert!(!format!("{state:?}").contains("171"), "{state:?}");
    let secret =
        fleetgram_protocol::transport::mtproxy::Secret::parse("dd00112233445566778899aabbccddeeff")
            .unwrap();
    assert!(!format!("{secret:?}").contains("17"), "{secret:?}");
}

#[test]
fn errors_never_point_at_0_0() {
    for (text, path) in [
        ("network: telegram\naccounts: []\n", "api_id"),
        ("network: telegram\napi_id: 5\naccounts: []\n", "api_hash"),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.path, path, "{e}");
        assert!(e.line > 0 && e.column > 0, "{e}");
    }
}

#[test]
fn deep_nesting_is_refused_at_once() {
    let deep = format!(
        "network: local\nx: {}{}\naccounts: []\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let t = std::time::Instant::now();
    let e = parse(&deep).unwrap_err();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        t.elapsed()
    );
    assert_eq!((e.line, e.column), (2, 68), "{e}");
    assert!(e.message.contains("nested more than 64"), "{e}");
    // Brackets in quotes and comments do not count.
    let quoted = format!("network: local # {}\napi_hash: \"{}\"\naccounts:\n  - {{ name: a, kind: bot, username: a_bot }}\n", "[".repeat(100), "{".repeat(100));
    assert!(parse(&quoted).is_ok());
}

#[test]
fn account_errors_point_at_their_own_account() {
    let text = "network: local\naccounts:\n  - name: alpha\n    kind: bot\n    username: alpha_bot\n  # a comment\n  - name: \"\"\n    kind: bot\n  - { name: gamma, kind: user }\n";
    let e = parse(text).unwrap_err();
    assert_eq!(
        (e.line, e.column, e.path.as_str()),
        (7, 5, "accounts[1].name"),
        "{e}"
    );
    let e = parse(&text.replace("name: \"\"", "name: beta\n    username: beta_bot")).unwrap_err();
    assert_eq!(
        (e.line, e.column, e.path.as_str()),
        (10, 3, "accounts[2].phone"),
        "{e}"
    );
    assert!(e.line > 0 && e.column > 0, "{e}");
    let dup = "network: local\naccounts:\n  - { name: a, kind: bot, username: a_bot }\n  - name: \"a\"\n    kind: bot\n";
    let e = parse(dup).unwrap_err();
    assert_eq!((e.line, e.column), (4, 5), "{e}");
}

#[test]
fn a_byte_order_mark_is_skipped_and_huge_or_endless_files_are_refused() {
    let c = parse(&format!("\u{feff}{GOOD}")).unwrap();
    assert_eq!(c.accounts.len(), 2);
    let dir = std::env::temp_dir().join(format!("fleetgram-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.yaml");
    let mut text = GOOD.to_string();
    text.push_str(&format!("# {}\n", "x".repeat(MAX_CONFIG_BYTES as usize)));
    std::fs::write(&big, text).unwrap();
    let e = FleetConfig::load(&big).unwrap_err();
    assert!(e.to_string().contains("larger than 4 MiB"), "{e}");
    #[cfg(unix)]
    {
        let e = FleetConfig::load(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("larger than 4 MiB"), "{e}");
    }
    let bom = dir.join("bom.yaml");
    std::fs::write(
        &bom,
        "\u{feff}network: local\naccounts:\n  - { name: a, kind: bot, username: a_bot }\n",
    )
    .unwrap();
    assert_eq!(FleetConfig::load(&bom).unwrap().accounts.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_good_file_with_env_and_proxies() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.api_hash, "abc123");
    assert_eq!(c.api_id, 42);
    assert_eq!(c.accounts.len(), 2);
    assert_eq!(c.store, Path::new("/cfg/fleetgram-data"));
    let b = c.account("b").unwrap();
    assert_eq!(
        b.proxy,
        Some(Proxy::Socks5(Socks5 {
            addr: "127.0.0.1:1080".into(),
            auth: Some(("u".into(), "p".into()))
        }))
    );
    assert_eq!(
        b.transport,
        Some(Transport {
            kind: Kind::Intermediate,
            obfuscated: true
        })
    );
    assert_eq!(c.account("a").unwrap().transport, None);
}

#[test]
fn unknown_keys_are_rejected_with_position_path_and_suggestion() {
    let text = GOOD.replace("    phone: \"+1555\"", "    phon: \"+1555\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.file, "/cfg/accounts.yaml");
    assert_eq!(e.line, 10, "{e}");
    assert!(e.column > 0);
    assert!(e.path.starts_with("accounts[1]"), "{e}");
    assert!(e.message.contains("unknown field `phon`"), "{e}");
    assert!(e.message.contains("did you mean `phone`?"), "{e}");
    assert!(e.to_string().starts_with("/cfg/accounts.yaml:10:"), "{e}");
    let e = parse(&format!("netwrok: local\n{GOOD}")).unwrap_err();
    assert!(e.message.contains("did you mean `network`?"), "{e}");
    let e = parse(&GOOD.replace("kind: bot", "kind: robot")).unwrap_err();
    assert!(e.message.contains("robot") && e.line == 6, "{e}");
}

#[test]
fn missing_environment_variables_are_named() {
    let e = parse(&GOOD.replace("${API_HASH}", "${NOPE_HASH}")).unwrap_err();
    assert_eq!((e.line, e.column), (3, 11), "{e}");
    assert!(
        e.message
            .contains("environment variable NOPE_HASH is not set"),
        "{e}"
    );
    // A reference inside a comment is left alone.
    assert!(parse(&format!("# uses ${{NOPE}}\n{GOOD}")).is_ok());
}

#[test]
fn semantic_errors_name_the_account() {
    let dup = GOOD.replace("  - name: b\n", "  - name: a\n");
    let e = parse(&dup).unwrap_err();
    assert!(e.message.contains("duplicate account name \"a\""), "{e}");
    assert_eq!(e.line, 8, "{e}");
    assert_eq!(e.path, "accounts[1].name");
    let e = parse(&GOOD.replace("api_id: 42\n", "")).unwrap_err();
    assert_eq!(e.path, "api_id", "{e}");
    let e = parse(&GOOD.replace("socks5://u:p@127.0.0.1:1080", "http://x")).unwrap_err();
    assert_eq!(e.path, "accounts[1].proxy", "{e}");
    assert_eq!((e.line, e.column), (11, 5), "{e}");
    let e = parse(&GOOD.replace("token: \"123:abc\"", "token: \"nope\"")).unwrap_err();
    assert!(e.message.contains("ID:SECRET"), "{e}");
    let e = parse(&GOOD.replace("    phone: \"+1555\"\n", "")).unwrap_err();
    assert!(e.message.contains("phone"), "{e}");
    let e = parse(&GOOD.replace("obfuscated-intermediate", "pigeon")).unwrap_err();
    assert!(e.message.contains("unknown transport"), "{e}");
    let e = parse(&format!("{GOOD}    scripts: [missing.lua]\n")).unwrap_err();
    assert!(
        e.message.contains("matches no file") && e.path == "accounts[1].scripts[0]",
        "{e}"
    );
    let local = "network: local\naccounts:\n  - { name: bot, kind: bot }\n";
    let e = parse(local).unwrap_err();
    assert!(e.message.contains("username"), "{e}");
    // The host binary's sections are its own to check (src/config.rs): passed over here.
    let chats = "network: local\nlocal:\n  chats:\n    - { kind: supergroup, title: t, username: g, owner: ghost }\nhttp: 9900\naccounts: []\n";
    assert!(parse(chats).is_ok());
}

#[test]
fn proxy_links_and_transports() {
    let p =
        parse_proxy("tg://proxy?server=1.2.3.4&port=443&secret=dd00112233445566778899aabbccddeeff")
            .unwrap();
    assert!(
        matches!(p, Proxy::MtProxy { ref addr, secret: Secret::Padded(_) } if addr == "1.2.3.4:443")
    );
    let p = parse_proxy("socks5://h:9050").unwrap();
    assert_eq!(
        p,
        Proxy::Socks5(Socks5 {
            addr: "h:9050".into(),
            auth: None
        })
    );
    assert!(parse_proxy("socks5://nohostport").is_err());
    assert!(parse_proxy("tg://proxy?server=x&port=1")
        .unwrap_err()
        .contains("secret"));
    assert_eq!(
        parse_transport("obfuscated").unwrap(),
        Transport {
            kind: Kind::Abridged,
            obfuscated: true
        }
    );
    assert!(parse_transport("obfuscated-full").is_err());
    assert_eq!(parse_transport("full").unwrap().kind, Kind::Full);
}
