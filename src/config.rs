//! The host binary's own sections of the fleet file: the local demo (`local:` people, chats,
//! traffic and the embedded DC's settings) and the operator view (`http:`). The engine reads
//! the fleet from the same file ([`FleetConfig`]); both read through one [`FleetSource`], so
//! errors point at the same lines.

use fleetgram_engine::fleet::config::{
    AccountKind, ConfigError, FleetConfig, FleetSource, Network,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Everything the host runs from one fleet file: the fleet, and its own sections.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    /// The fleet (the engine's part).
    pub fleet: FleetConfig,
    /// The embedded local DC and the demo.
    pub local: LocalConfig,
    /// The operator view.
    pub http: Option<HttpConfig>,
}

impl std::ops::Deref for HostConfig {
    type Target = FleetConfig;
    fn deref(&self) -> &FleetConfig {
        &self.fleet
    }
}

/// The variable that overrides `store:` (see [`HostConfig::load`]).
pub const STORE_ENV: &str = "FLEETGRAM_STORE";

/// The host's top-level sections (the fleet's keys are the engine's).
#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    local: LocalConfig,
    #[serde(default)]
    http: Option<serde_yaml::Value>,
}

impl HostConfig {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// The first problem found, with file, line, column and key path.
    ///
    /// `FLEETGRAM_STORE`, when set, replaces the file's `store:` (a container keeps the
    /// accounts file read-only in one place and the store on a volume in another).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut config = Self::from_source(&FleetSource::read(path)?)?;
        if let Some(dir) = std::env::var_os(STORE_ENV).filter(|v| !v.is_empty()) {
            config.fleet.store = PathBuf::from(dir);
        }
        Ok(config)
    }

    /// Checks `text` as if read from `path`; `env` looks up `${VAR}` references.
    ///
    /// # Errors
    /// The first problem found.
    pub fn parse(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::from_source(&FleetSource::new(path, text, env)?)
    }

    fn from_source(src: &FleetSource) -> Result<Self, ConfigError> {
        let fleet = FleetConfig::from_source(src)?;
        let sections: Sections = src.sections()?;
        let at = |needle: &str, path: String, message: String| src.error_at(needle, path, message);
        if fleet.network == Network::Local {
            let people: Vec<&str> = sections
                .local
                .people
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            for (i, c) in sections.local.chats.iter().enumerate() {
                let key = format!("local.chats[{i}]");
                let owner = fleet.account(&c.owner);
                if !owner.is_some_and(|o| o.config.kind == AccountKind::User) {
                    return Err(at(
                        &format!("owner: {}", c.owner),
                        format!("{key}.owner"),
                        format!("{:?} is not a user account of this file", c.owner),
                    ));
                }
                for m in c.members.iter().chain(&c.admins) {
                    if fleet.account(m).is_none() && !people.contains(&m.as_str()) {
                        return Err(at(
                            m,
                            format!("{key}.members"),
                            format!("{m:?} is neither an account nor one of local.people"),
                        ));
                    }
                }
            }
        }
        let http = match &sections.http {
            None | Some(serde_yaml::Value::Null) => None,
            Some(v) => {
                let (listen, token, allowed_hosts) = match v {
                    serde_yaml::Value::String(s) => (s.clone(), None, vec![]),
                    serde_yaml::Value::Number(n) => (n.to_string(), None, vec![]),
                    serde_yaml::Value::Mapping(m) => {
                        for k in m.keys() {
                            let k = k.as_str().unwrap_or("");
                            if !["listen", "token", "allowed_hosts"].contains(&k) {
                                return Err(at(
                                    &format!("{k}:"),
                                    format!("http.{k}"),
                                    "unknown key (expected listen, token, allowed_hosts)".into(),
                                ));
                            }
                        }
                        let allowed_hosts = match m.get("allowed_hosts") {
                            None | Some(serde_yaml::Value::Null) => vec![],
                            Some(serde_yaml::Value::Sequence(hosts))
                                if hosts.iter().all(|h| h.as_str().is_some()) =>
                            {
                                hosts
                                    .iter()
                                    .filter_map(|h| h.as_str())
                                    .map(|h| h.to_ascii_lowercase())
                                    .collect()
                            }
                            Some(_) => {
                                return Err(at(
                                    "allowed_hosts:",
                                    "http.allowed_hosts".into(),
                                    "expected a list of host names".into(),
                                ))
                            }
                        };
                        let listen = match m.get("listen") {
                            Some(serde_yaml::Value::String(s)) => s.clone(),
                            Some(serde_yaml::Value::Number(n)) => n.to_string(),
                            _ => {
                                return Err(at(
                                    "http:",
                                    "http.listen".into(),
                                    "required: PORT or HOST:PORT".into(),
                                ))
                            }
                        };
                        let token = match m.get("token") {
                            None | Some(serde_yaml::Value::Null) => None,
                            Some(serde_yaml::Value::String(t)) if t.len() >= 16 => Some(t.clone()),
                            Some(_) => {
                                return Err(at(
                                    "token:",
                                    "http.token".into(),
                                    "must be a string of at least 16 characters (use ${VAR} to keep it out of the file)".into(),
                                ))
                            }
                        };
                        (listen, token, allowed_hosts)
                    }
                    _ => {
                        return Err(at(
                            "http:",
                            "http".into(),
                            "expected an address or { listen, token }".into(),
                        ))
                    }
                };
                let listen =
                    parse_listen(&listen).map_err(|e| at("http:", "http.listen".into(), e))?;
                Some(HttpConfig {
                    listen,
                    token,
                    allowed_hosts,
                })
            }
        };
        Ok(HostConfig {
            fleet,
            local: sections.local,
            http,
        })
    }
}

fn redacted(v: &Option<String>) -> Option<&'static str> {
    v.as_ref().map(|_| "<redacted>")
}

/// A simulated person of the local demo (not a fleet account): chats, asks to join, presses
/// buttons.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Name used in `local.chats` and in the traffic.
    pub name: String,
    /// Phone number.
    pub phone: String,
}

/// Supergroup or channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// A megagroup.
    Supergroup,
    /// A broadcast channel.
    Channel,
}

/// A chat the local demo creates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalChat {
    /// `supergroup` or `channel`.
    pub kind: ChatKind,
    /// Title.
    pub title: String,
    /// Public username.
    pub username: String,
    /// The user account (fleet account name) that creates it.
    pub owner: String,
    /// Accounts and people that are members.
    #[serde(default)]
    pub members: Vec<String>,
    /// Accounts promoted to admin (bots get full moderation rights).
    #[serde(default)]
    pub admins: Vec<String>,
}

/// Demo traffic on the local DC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Traffic {
    /// Whether the people chat, ask to join and press buttons.
    pub enabled: bool,
    /// Milliseconds between two actions.
    pub interval_ms: u64,
}

impl Default for Traffic {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_ms: 1500,
        }
    }
}

/// `network: local` settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// The login code every account gets.
    pub login_code: String,
    /// Where to write the local DC's info (addresses, RSA key) for other clients.
    pub info_file: Option<PathBuf>,
    /// Number of DCs.
    pub dcs: u8,
    /// Listen address.
    pub host: String,
    /// First port (DC n listens on base_port + n - 1); 0 picks free ports.
    pub base_port: u16,
    /// Simulated people.
    pub people: Vec<Person>,
    /// Chats to create.
    pub chats: Vec<LocalChat>,
    /// Demo traffic.
    pub traffic: Traffic,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            login_code: "12345".into(),
            info_file: None,
            dcs: 2,
            host: "127.0.0.1".into(),
            base_port: 0,
            people: vec![],
            chats: vec![],
            traffic: Traffic::default(),
        }
    }
}

/// The operator view (`http:`): where it listens and the token its actions need (its
/// `Debug` never shows the token).
#[derive(Clone, PartialEq)]
pub struct HttpConfig {
    /// The address (a bare port means `127.0.0.1:PORT`).
    pub listen: std::net::SocketAddr,
    /// The bearer token of operator actions (none: actions are refused).
    pub token: Option<String>,
    /// Host names the view answers to besides IP addresses and `localhost` (a browser
    /// page on another name is refused, which defeats DNS rebinding).
    pub allowed_hosts: Vec<String>,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("token", &redacted(&self.token))
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

/// Parses an operator-view address: `PORT`, `HOST:PORT` (a bare port binds loopback).
pub fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let s = s
        .strip_prefix("localhost:")
        .map_or(s.to_string(), |p| format!("127.0.0.1:{p}"));
    s.parse().map_err(|_| {
        format!("{s:?} is not an address (expected PORT or HOST:PORT, e.g. 127.0.0.1:9900)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "network: local\naccounts:\n  - name: a\n    kind: bot\n    username: a_bot\n  - name: u\n    kind: user\n    phone: \"+1555\"\n";

    fn parse(text: &str) -> Result<HostConfig, ConfigError> {
        let env = |k: &str| (k == "HTTP_TOKEN").then(|| "operator-secret-token-1".to_string());
        HostConfig::parse(Path::new("/cfg/accounts.yaml"), text, &env)
    }

    #[test]
    fn the_operator_view_is_configured_with_a_port_or_listen_and_token() {
        let with = |http: &str| parse(&format!("{GOOD}http: {http}\n"));
        let c = with("9900").unwrap();
        assert_eq!(c.http.unwrap().listen, "127.0.0.1:9900".parse().unwrap());
        let c = with("{ listen: \"0.0.0.0:80\", token: \"0123456789abcdef\" }").unwrap();
        let h = c.http.unwrap();
        assert_eq!(
            (h.listen.port(), h.token.as_deref()),
            (80, Some("0123456789abcdef"))
        );
        let e = with("{ listen: 80, token: short }").unwrap_err();
        assert_eq!(e.path, "http.token");
        let e = with("{ listen: 80, tokn: x }").unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("http.tokn", 9));
        let e = with("nowhere").unwrap_err();
        assert!(e.message.contains("is not an address"), "{e}");
        assert_eq!(parse(GOOD).unwrap().http, None);
    }

    #[test]
    fn the_token_comes_from_the_environment_and_never_shows() {
        let c = parse(&format!(
            "{GOOD}http: {{ listen: 9900, token: ${{HTTP_TOKEN}} }}\n"
        ))
        .unwrap();
        assert_eq!(
            c.http.as_ref().unwrap().token.as_deref(),
            Some("operator-secret-token-1")
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("operator-secret-token-1"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn the_demo_names_accounts_and_people_of_the_file_with_their_places() {
        let chats = |owner: &str, members: &str| {
            parse(&format!(
                "{GOOD}local:\n  people:\n    - {{ name: erin, phone: \"+1556\" }}\n  chats:\n    - {{ kind: supergroup, title: t, username: g, owner: {owner}, members: [{members}] }}\n"
            ))
        };
        let c = chats("u", "a, erin").unwrap();
        assert_eq!(c.local.chats[0].members, ["a", "erin"]);
        assert_eq!(c.local.people[0].name, "erin");
        let e = chats("ghost", "a").unwrap_err();
        assert!(e.message.contains("\"ghost\" is not a user account"), "{e}");
        assert_eq!(
            (e.path.as_str(), e.line),
            ("local.chats[0].owner", 13),
            "{e}"
        );
        let e = chats("a", "").unwrap_err();
        assert!(e.message.contains("\"a\" is not a user account"), "{e}");
        let e = chats("u", "nobody").unwrap_err();
        assert!(
            e.message
                .contains("neither an account nor one of local.people"),
            "{e}"
        );
        // Unknown keys of the host's sections are errors at their place.
        let e = parse(&format!("{GOOD}local:\n  dcz: 3\n")).unwrap_err();
        assert_eq!((e.line, e.path.as_str()), (10, "local"), "{e}");
        assert!(e.message.contains("dcz"), "{e}");
        // The fleet's own errors still come first, from the engine.
        let e = parse("network: local\naccounts:\n  - { name: b, kind: bot }\nhttp: 9900\n")
            .unwrap_err();
        assert!(e.message.contains("username"), "{e}");
    }
}
