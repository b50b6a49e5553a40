//! `accounts.yaml`: the fleet's configuration.
//!
//! Parsing is strict: unknown keys are rejected (with the closest known key as a
//! suggestion), `${VAR}` references must name set environment variables, account names are
//! unique, and every error names the file, line, column and key path. A configuration that
//! fails any check starts nothing.

use crate::net::{Proxy, Socks5, Transport};
use fleetgram_protocol::transport::mtproxy::Secret;
use fleetgram_protocol::transport::Kind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration error: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {path}{sep}{message}", sep = if path.is_empty() { "" } else { ": " })]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// The key path (`accounts[2].proxy`), empty at the top.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

/// Which Telegram the fleet talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The embedded local DC.
    Local,
    /// The real Telegram (needs `api_id` and `api_hash`).
    Telegram,
}

/// Log settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace` or a tracing filter.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// How FLOOD_WAITs are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodConfig {
    /// FLOOD_WAITs up to this many seconds are slept through; longer ones fail the call.
    pub sleep_threshold: u64,
    /// How often a transient error (-500, timeouts) is retried.
    pub transient_retries: u32,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            sleep_threshold: 60,
            transient_retries: 3,
        }
    }
}

/// How an account follows updates Telegram does not push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpdatesConfig {
    /// At most this many channels are polled with `updates.getChannelDifference` at the
    /// server's `timeout` (those the scripts' filters name first); 0 turns polling off.
    pub channel_poll_limit: usize,
    /// Without any update for this many seconds, `updates.getDifference` is fetched.
    pub idle_difference: u64,
}

impl Default for UpdatesConfig {
    fn default() -> Self {
        Self {
            channel_poll_limit: 100,
            idle_difference: 15 * 60,
        }
    }
}

/// User or bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// A user account (phone + code).
    User,
    /// A bot (token).
    Bot,
}

/// A script of an account: a file or glob, with its settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ScriptEntry {
    /// `scripts/echo.lua` or `scripts/*.rhai`.
    Path(String),
    /// With settings.
    Detailed(ScriptDetail),
}

/// A script with settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptDetail {
    /// The file or glob.
    pub file: String,
    /// What the script reads as `config`.
    #[serde(default)]
    pub settings: serde_json::Value,
    /// Set to false to keep it configured but not loaded.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Other accounts the script may act as (`fleet.account`, `fleet.pool`): names,
    /// `pool:NAME`, or `"*"`. None by default: a script acts as its own account only.
    #[serde(default)]
    pub act_as: Vec<String>,
    /// Method families (`auth`, `account`) or methods (`account.updateProfile`) the
    /// script may call that are denied by default.
    #[serde(default)]
    pub allow_methods: Vec<String>,
}

fn yes() -> bool {
    true
}

/// One account as written in the file (its `Debug` never shows the token, the password or
/// the proxy's credentials).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Unique name (the store key, and what logs and scripts call it).
    pub name: String,
    /// `user` or `bot`.
    pub kind: AccountKind,
    /// A user's phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// A bot's token (`network: telegram`).
    #[serde(default)]
    pub token: Option<String>,
    /// With `network: local`: the username the host gives the account (bots need one).
    #[serde(default)]
    pub username: Option<String>,
    /// With `network: local`: the display name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// A user's 2FA password, if it has one (better given as `${VAR}`).
    #[serde(default)]
    pub password: Option<String>,
    /// `socks5://[user:pass@]host:port` or `tg://proxy?server=..&port=..&secret=..`.
    #[serde(default)]
    pub proxy: Option<String>,
    /// `auto`, `abridged`, `intermediate`, `padded`, `full`, optionally `obfuscated-...`.
    #[serde(default)]
    pub transport: Option<String>,
    /// Overrides the global flood settings.
    #[serde(default)]
    pub flood: Option<FloodConfig>,
    /// Overrides the global update settings.
    #[serde(default)]
    pub updates: Option<UpdatesConfig>,
    /// Scripts (files or globs) with their settings.
    #[serde(default)]
    pub scripts: Vec<ScriptEntry>,
    /// Set to false to keep the account configured but stopped.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Pools/tags ("any account of pool X").
    #[serde(default)]
    pub pools: Vec<String>,
    /// The directory the account's scripts may send files from (read-only; relative to the
    /// config file). Without it, scripts send no files from disk.
    #[serde(default)]
    pub media_dir: Option<PathBuf>,
    /// Hosts the account's scripts may fetch from with `http.get` (`news.example`,
    /// `*.example.org`, `127.0.0.1:8080`); none by default. Loopback and private addresses
    /// are reached only when listed by name or address exactly, not through a wildcard.
    #[serde(default)]
    pub http_allow: Vec<String>,
}

fn redacted(v: &Option<String>) -> Option<&'static str> {
    v.as_ref().map(|_| "<redacted>")
}

impl Drop for AccountConfig {
    /// The token and password are wiped from memory when the last copy goes.
    fn drop(&mut self) {
        for secret in [&mut self.token, &mut self.password].into_iter().flatten() {
            zeroize::Zeroize::zeroize(secret);
        }
    }
}

impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("phone", &self.phone)
            .field("token", &redacted(&self.token))
            .field("username", &self.username)
            .field("first_name", &self.first_name)
            .field("password", &redacted(&self.password))
            .field("proxy", &redacted(&self.proxy))
            .field("transport", &self.transport)
            .field("flood", &self.flood)
            .field("updates", &self.updates)
            .field("scripts", &self.scripts)
            .field("enabled", &self.enabled)
            .field("pools", &self.pools)
            .field("media_dir", &self.media_dir)
            .field("http_allow", &self.http_allow)
            .finish()
    }
}

/// The file as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    store: Option<PathBuf>,
    #[serde(default)]
    log: LogConfig,
    network: Network,
    #[serde(default)]
    api_id: Option<i32>,
    #[serde(default)]
    api_hash: Option<String>,
    #[serde(default)]
    proxy: Option<String>,
    #[serde(default)]
    flood: FloodConfig,
    #[serde(default)]
    updates: UpdatesConfig,
    #[serde(default)]
    script_dirs: Vec<PathBuf>,
    /// The host binary's own sections (the local demo, the operator view): read by it
    /// from the same file, passed over here.
    #[serde(default)]
    local: Reserved,
    #[serde(default)]
    http: Reserved,
    accounts: Vec<AccountConfig>,
}

/// A top-level section another reader of the file owns (whatever it holds).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Reserved;

impl<'de> Deserialize<'de> for Reserved {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Reserved)
    }
}

/// A script resolved to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptSpec {
    /// The file.
    pub path: PathBuf,
    /// Its settings.
    pub settings: serde_json::Value,
    /// What it may do beyond its own account's ordinary calls.
    pub caps: ScriptCaps,
}

/// Method families no script may call unless its entry allows them: `auth.*` can export
/// an authorization (portable access to the account), `account.*` changes the account
/// itself (password, sessions, deletion).
pub const DENIED_FAMILIES: &[&str] = &["auth", "account"];

/// What a script may do beyond its own account's ordinary calls (`act_as`,
/// `allow_methods` of its entry in accounts.yaml).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptCaps {
    /// Accounts it may act as: names, `pool:NAME`, or `*`.
    pub act_as: Vec<String>,
    /// Denied families or methods it may call all the same.
    pub allow_methods: Vec<String>,
}

impl ScriptCaps {
    /// Whether the script may act as account `name` (of pools `pools`).
    pub fn may_act_as(&self, name: &str, pools: &[String]) -> bool {
        self.act_as.iter().any(|a| {
            a == "*"
                || a == name
                || a.strip_prefix("pool:")
                    .is_some_and(|p| pools.iter().any(|x| x == p))
        })
    }

    /// Whether the script may send through pool `pool`.
    pub fn may_use_pool(&self, pool: &str) -> bool {
        self.act_as
            .iter()
            .any(|a| a == "*" || a.strip_prefix("pool:") == Some(pool))
    }

    /// Whether the script may call `method`.
    pub fn may_call(&self, method: &str) -> bool {
        let family = method.split_once('.').map_or("", |(f, _)| f);
        !DENIED_FAMILIES.contains(&family)
            || self
                .allow_methods
                .iter()
                .any(|m| m == family || m == method)
    }
}

/// One account, checked and resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// As written.
    pub config: AccountConfig,
    /// The proxy (account's, else the global one).
    pub proxy: Option<Proxy>,
    /// The transport (`None`: race the candidates).
    pub transport: Option<Transport>,
    /// The flood settings in force.
    pub flood: FloodConfig,
    /// The update settings in force.
    pub updates: UpdatesConfig,
    /// Its scripts, globs expanded.
    pub scripts: Vec<ScriptSpec>,
    /// Where its scripts may send files from (`media_dir`, made absolute).
    pub media_dir: Option<PathBuf>,
}

impl Account {
    /// The account's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }
}

/// A checked configuration (its `Debug` never shows the api_hash or any secret).
#[derive(Clone, PartialEq)]
pub struct FleetConfig {
    /// The file it came from.
    pub file: PathBuf,
    /// The sled directory.
    pub store: PathBuf,
    /// Log settings.
    pub log: LogConfig,
    /// Which Telegram.
    pub network: Network,
    /// API credentials (required for `network: telegram`).
    pub api_id: i32,
    /// API hash.
    pub api_hash: String,
    /// Directories searched for scripts given by bare name.
    pub script_dirs: Vec<PathBuf>,
    /// Accounts in file order.
    pub accounts: Vec<Account>,
}

/// The deepest nesting of `[`/`{` a fleet file may have (a fleet file needs a few; a
/// hundred thousand made the YAML parser take half a minute).
pub const MAX_NESTING: usize = 64;

impl std::fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetConfig")
            .field("file", &self.file)
            .field("store", &self.store)
            .field("log", &self.log)
            .field("network", &self.network)
            .field("api_id", &self.api_id)
            .field("api_hash", &"<redacted>")
            .field("script_dirs", &self.script_dirs)
            .field("accounts", &self.accounts)
            .finish()
    }
}

/// The largest fleet file read.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// A fleet file's text after the checks every reader of it shares (size, UTF-8, a
/// byte-order mark, nesting, `${VAR}` substitution): the engine reads the fleet from it,
/// the host binary its own sections (the local demo, the operator view), with errors that
/// point at the same lines.
#[derive(Debug, Clone)]
pub struct FleetSource {
    /// The file.
    pub path: PathBuf,
    /// The text as written (what errors point into).
    pub text: String,
    /// The text with `${VAR}` substituted (what is parsed).
    pub expanded: String,
}

impl FleetSource {
    /// Reads `path` (environment variables from the process).
    ///
    /// # Errors
    /// The file cannot be read, is too big, is not UTF-8, nests too deep or names a
    /// missing variable.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let fail = |message: String| ConfigError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            path: String::new(),
            message,
        };
        // Read at most one byte past the limit (a device such as /dev/zero never ends).
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| fail(format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(fail(format!(
                "the file is larger than {} MiB; a fleet file that big is a mistake (is this the right file?)",
                MAX_CONFIG_BYTES >> 20
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            fail(format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        Self::new(path, &text, &|k| std::env::var(k).ok())
    }

    /// `text` as if read from `path`; `env` looks up `${VAR}` references.
    ///
    /// # Errors
    /// As [`FleetSource::read`].
    pub fn new(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        // Editors on some systems start UTF-8 files with a byte-order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if let Some((line, column)) = too_deep(text) {
            return Err(ConfigError {
                file,
                line,
                column,
                path: String::new(),
                message: format!("brackets nested more than {MAX_NESTING} deep"),
            });
        }
        let expanded = expand_env(&file, text, env)?;
        Ok(Self {
            path: path.to_path_buf(),
            text: text.to_string(),
            expanded,
        })
    }

    /// The sections `T` reads, from the whole file (keys `T` does not know are left to the
    /// other readers; unknown keys inside its sections are errors if `T` says so).
    ///
    /// # Errors
    /// Where `T` does not fit, with line, column and key path.
    pub fn sections<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        serde_yaml::from_str(&self.expanded).map_err(|e| yaml_error(&self.file(), &e))
    }

    /// The file's name in messages.
    pub fn file(&self) -> String {
        self.path.display().to_string()
    }

    /// An error about key `path` whose text contains `needle`: where the needle is written;
    /// else where the top-level key of `path` is; else line 1 (a required key that is
    /// missing): never 0:0.
    pub fn error_at(&self, needle: &str, path: String, message: String) -> ConfigError {
        let top = path.split(['.', '[']).next().unwrap_or("");
        let (line, column) = match locate(&self.text, needle) {
            (0, _) => match locate(&self.text, &format!("{top}:")) {
                (0, _) => (1, 1),
                found => found,
            },
            found => found,
        };
        ConfigError {
            file: self.file(),
            line,
            column,
            path,
            message,
        }
    }
}

impl FleetConfig {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// The first problem found, with file, line, column and key path.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_source(&FleetSource::read(path)?)
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

    /// Checks the fleet of a read file.
    ///
    /// # Errors
    /// The first problem found.
    pub fn from_source(src: &FleetSource) -> Result<Self, ConfigError> {
        let (path, text, file) = (src.path.as_path(), src.text.as_str(), src.file());
        let raw: RawFile = src.sections()?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let at = |needle: &str, path: String, message: String| src.error_at(needle, path, message);
        let (api_id, api_hash) = match raw.network {
            Network::Local => (
                raw.api_id.unwrap_or(1),
                raw.api_hash.clone().unwrap_or_else(|| "local".into()),
            ),
            Network::Telegram => {
                let id = raw.api_id.ok_or_else(|| {
                    at(
                        "network:",
                        "api_id".into(),
                        "required with network: telegram (get one at my.telegram.org)".into(),
                    )
                })?;
                let hash = raw.api_hash.clone().ok_or_else(|| {
                    at(
                        "network:",
                        "api_hash".into(),
                        "required with network: telegram".into(),
                    )
                })?;
                (id, hash)
            }
        };
        let global_proxy = match &raw.proxy {
            Some(p) => Some(parse_proxy(p).map_err(|m| at("proxy:", "proxy".into(), m))?),
            None => None,
        };
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut accounts = Vec::new();
        for (i, a) in raw.accounts.iter().enumerate() {
            let key = format!("accounts[{i}]");
            let name_at = |field: &str, m: String| {
                let (line, column) = locate_in_item(text, "accounts", i, field)
                    .unwrap_or_else(|| locate(text, &format!("name: {}", a.name)));
                ConfigError {
                    file: file.clone(),
                    line,
                    column,
                    path: format!("{key}.{field}"),
                    message: m,
                }
            };
            if a.name.trim().is_empty()
                || !a
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                return Err(name_at(
                    "name",
                    format!("{:?}: use letters, digits, '_', '-' or '.'", a.name),
                ));
            }
            if let Some(first) = seen.insert(a.name.clone(), i) {
                let (line, column) = locate_in_item(text, "accounts", i, "name")
                    .unwrap_or_else(|| locate_nth(text, &format!("name: {}", a.name), 1));
                return Err(ConfigError {
                    file: file.clone(),
                    line,
                    column,
                    path: format!("{key}.name"),
                    message: format!(
                        "duplicate account name {:?} (also accounts[{first}])",
                        a.name
                    ),
                });
            }
            match (a.kind, raw.network) {
                (AccountKind::User, _) if a.phone.is_none() => {
                    return Err(name_at(
                        "phone",
                        "a user account needs a phone number".into(),
                    ))
                }
                (AccountKind::Bot, Network::Telegram) if a.token.is_none() => {
                    return Err(name_at(
                        "token",
                        "a bot needs its token from @BotFather".into(),
                    ))
                }
                (AccountKind::Bot, Network::Local) if a.username.is_none() && a.token.is_none() => {
                    return Err(name_at(
                        "username",
                        "a local bot needs a username (the host creates it)".into(),
                    ))
                }
                _ => {}
            }
            if let Some(t) = &a.token {
                let ok = t
                    .split_once(':')
                    .is_some_and(|(id, s)| id.parse::<i64>().is_ok() && !s.is_empty());
                if !ok {
                    return Err(name_at("token", "expected ID:SECRET".into()));
                }
            }
            let proxy = match &a.proxy {
                Some(p) => Some(parse_proxy(p).map_err(|m| name_at("proxy", m))?),
                None => global_proxy.clone(),
            };
            let transport = match a.transport.as_deref() {
                None | Some("auto") => None,
                Some(t) => Some(parse_transport(t).map_err(|m| name_at("transport", m))?),
            };
            let mut scripts = Vec::new();
            for (j, s) in a.scripts.iter().enumerate() {
                let (pattern, settings, enabled, caps) = match s {
                    ScriptEntry::Path(p) => (
                        p.clone(),
                        serde_json::Value::Null,
                        true,
                        ScriptCaps::default(),
                    ),
                    ScriptEntry::Detailed(d) => (
                        d.file.clone(),
                        d.settings.clone(),
                        d.enabled,
                        ScriptCaps {
                            act_as: d.act_as.clone(),
                            allow_methods: d.allow_methods.clone(),
                        },
                    ),
                };
                if !enabled {
                    continue;
                }
                let found = resolve_scripts(&base, &raw.script_dirs, &pattern)
                    .map_err(|m| at(&pattern, format!("{key}.scripts[{j}]"), m))?;
                for path in found {
                    scripts.push(ScriptSpec {
                        path,
                        settings: settings.clone(),
                        caps: caps.clone(),
                    });
                }
            }
            accounts.push(Account {
                config: a.clone(),
                proxy,
                transport,
                flood: a.flood.unwrap_or(raw.flood),
                updates: a.updates.unwrap_or(raw.updates),
                scripts,
                media_dir: a.media_dir.as_ref().map(|d| base.join(d)),
            });
        }
        let store = raw
            .store
            .map(|s| if s.is_absolute() { s } else { base.join(s) })
            .unwrap_or_else(|| base.join("fleetgram-data"));
        Ok(FleetConfig {
            file: path.to_path_buf(),
            store,
            log: raw.log,
            network: raw.network,
            api_id,
            api_hash,
            script_dirs: raw.script_dirs.iter().map(|d| base.join(d)).collect(),
            accounts,
        })
    }

    /// The account named `name`.
    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.config.name == name)
    }
}

/// The files a script entry names: a path (relative to the config file, else to a script
/// directory) or a glob.
fn resolve_scripts(base: &Path, dirs: &[PathBuf], pattern: &str) -> Result<Vec<PathBuf>, String> {
    let is_glob = pattern.contains(['*', '?', '[']);
    let mut roots = vec![base.to_path_buf()];
    roots.extend(dirs.iter().map(|d| base.join(d)));
    for root in &roots {
        let full = root.join(pattern);
        if is_glob {
            let text = full.to_string_lossy().into_owned();
            let mut found: Vec<PathBuf> = glob::glob(&text)
                .map_err(|e| format!("bad glob {pattern:?}: {e}"))?
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            found.sort();
            if !found.is_empty() {
                return Ok(found);
            }
        } else if full.is_file() {
            return Ok(vec![full]);
        }
    }
    let ext = Path::new(pattern)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    if !is_glob && !matches!(ext, "lua" | "rhai") {
        return Err(format!("{pattern:?}: scripts end in .lua or .rhai"));
    }
    Err(format!(
        "{pattern:?} matches no file (looked in {})",
        roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Seconds as a `Duration` (for flood thresholds).
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

mod source;
#[cfg(test)]
mod tests;
mod values;

use source::{expand_env, locate, locate_in_item, locate_nth, too_deep, yaml_error};
pub use values::{parse_proxy, parse_transport};
