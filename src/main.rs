//! `fleetgram`: the command-line entry point.
//!
//! Subcommands:
//! * `fleetgram run [FILE]` — the main job: the fleet of FILE (default `accounts.yaml`);
//! * `fleetgram login ACCOUNT` — log a user account in interactively (code, 2FA password);
//! * `fleetgram accounts` — the accounts of the store and their state;
//! * `fleetgram session export|import ACCOUNT` — session strings;
//! * `fleetgram localdc` — run the embedded Telegram-compatible DC on its own;
//! * `fleetgram tl describe NAME` — a constructor's, function's or type's fields;
//! * `fleetgram tl encode JSON` — the hex TL serialization of a JSON object;
//! * `fleetgram tl decode HEX|-` — the JSON of a TL object.
//!
//! Errors are one line on stderr and exit with code 2.

use clap::{Parser, Subcommand};
use fleetgram::config::HostConfig;
use fleetgram_engine::fleet::config::{AccountKind, FleetConfig, Network};
use fleetgram_engine::store::{SessionStore, SledStore};
use fleetgram_tl::dynamic::{json, schema};
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "fleetgram",
    version,
    about = "Runs a fleet of Telegram accounts over MTProto with hot-reloaded Lua and Rhai scripts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the fleet of an accounts file (with `network: local`, on the embedded local DC).
    Run(RunArgs),
    /// Log a user account in interactively (login code, then the 2FA password if any).
    Login {
        /// The account's name in the accounts file.
        account: String,
        /// The accounts file.
        #[arg(long, short, default_value = "accounts.yaml")]
        config: std::path::PathBuf,
    },
    /// List the accounts of an accounts file with what the store knows about them.
    Accounts {
        /// The accounts file.
        #[arg(default_value = "accounts.yaml")]
        config: std::path::PathBuf,
    },
    /// Export or import an account's session string.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Inspect and (de)serialize TL objects of the bundled schema (layer 229).
    #[command(subcommand)]
    Tl(TlCommand),
    /// Run the local DC (a Telegram-compatible MTProto server) until Ctrl-C.
    Localdc(LocalDcArgs),
    /// Ask the running host whether it is alive (`/healthz`) or ready (`--ready`,
    /// `/readyz`: every account attempted); exits 0 when it is.
    Health(HealthArgs),
}

#[derive(clap::Args)]
struct HealthArgs {
    /// The accounts file (its store holds the running host's address).
    #[arg(default_value = "accounts.yaml")]
    file: std::path::PathBuf,
    /// Ask for readiness instead of liveness.
    #[arg(long)]
    ready: bool,
    /// The operator view's address (instead of the one the host wrote to its store).
    #[arg(long, value_name = "ADDR", value_parser = parse_http)]
    http: Option<std::net::SocketAddr>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The accounts file.
    #[arg(default_value = "accounts.yaml")]
    file: std::path::PathBuf,
    /// Write the local DC's info (addresses, RSA key) here (overrides `local.info_file`).
    #[arg(long)]
    localdc_info: Option<std::path::PathBuf>,
    /// Log format (overrides `log.format`).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Do not follow changes of the accounts file.
    #[arg(long)]
    no_watch: bool,
    /// Serve the operator view (status page, JSON API, Prometheus metrics) on PORT or
    /// HOST:PORT (a bare port binds loopback); overrides `http.listen`.
    #[arg(long, value_name = "ADDR", value_parser = parse_http)]
    http: Option<std::net::SocketAddr>,
}

fn parse_http(s: &str) -> Result<std::net::SocketAddr, String> {
    fleetgram::config::parse_listen(s)
}

#[derive(Subcommand)]
enum SessionCommand {
    /// Print an account's session string (keep it secret: it is the account's key).
    Export {
        /// The account.
        account: String,
        /// The accounts file.
        #[arg(long, short, default_value = "accounts.yaml")]
        config: std::path::PathBuf,
    },
    /// Store a session string as an account's session.
    Import {
        /// The account.
        account: String,
        /// The session string; `-` or nothing reads it from stdin (a string on the command
        /// line is visible to other users in `ps`).
        session: Option<String>,
        /// Read the session string from this file.
        #[arg(long, conflicts_with = "session")]
        file: Option<std::path::PathBuf>,
        /// Replace the account's existing session.
        #[arg(long)]
        force: bool,
        /// The accounts file.
        #[arg(long, short, default_value = "accounts.yaml")]
        config: std::path::PathBuf,
    },
}

#[derive(clap::Args)]
struct LocalDcArgs {
    /// How many DCs (ids 1..=N).
    #[arg(long, default_value_t = 3)]
    dcs: u8,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port of DC 1 (DC n uses PORT + n - 1); 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Keep the RSA key and state in this directory (otherwise everything is in memory).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// Write the DC addresses and RSA public key here as JSON.
    #[arg(long)]
    info_file: Option<std::path::PathBuf>,
    /// Make every phone's login code CODE (otherwise codes are random and logged).
    #[arg(long)]
    login_code: Option<String>,
    /// Serve the JSON control API (POST /control) on this address; its URL goes into the
    /// info file.
    #[arg(long, default_value = "127.0.0.1:0")]
    control: std::net::SocketAddr,
    /// Do not serve the control API.
    #[arg(long)]
    no_control: bool,
    /// Channels with more members than N push new posts only to their admins; the other
    /// members must poll `updates.getChannelDifference`, as with Telegram's big channels.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    channel_push_limit: usize,
    /// The `timeout` (seconds) of `updates.getChannelDifference` answers: when clients
    /// should poll a channel again.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    channel_poll_timeout: u64,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum TlCommand {
    /// Print a constructor's or function's fields, flags and result type, or a type's constructors.
    Describe {
        /// e.g. `messages.sendMessage`, `inputPeerUser`, `InputPeer`.
        name: String,
    },
    /// Print the hex TL serialization of a JSON object (`{"_":"inputPeerSelf"}`); `-` reads stdin.
    Encode {
        /// The JSON object, or `-` for stdin.
        json: String,
    },
    /// Print the JSON of a boxed TL object given as hex; `-` reads stdin.
    Decode {
        /// Hex bytes (whitespace ignored), or `-` for stdin.
        hex: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let long_running = match cli.command {
        Command::Run(args) => Some(run_fleet(args)),
        Command::Login { account, config } => Some(login(&account, &config)),
        Command::Accounts { config } => Some(accounts(&config)),
        Command::Session(cmd) => Some(session(cmd)),
        Command::Health(args) => {
            return match health(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
        other => {
            return finish(other);
        }
    };
    match long_running {
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        None => ExitCode::SUCCESS,
    }
}

fn finish(command: Command) -> ExitCode {
    let cli = Cli { command };
    if let Command::Localdc(args) = cli.command {
        return match run_localdc(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    match run(cli) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn arg_or_stdin(arg: String) -> Result<String, String> {
    if arg != "-" {
        return Ok(arg);
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| format!("reading stdin: {e}"))?;
    Ok(s)
}

fn run(cli: Cli) -> Result<String, String> {
    match cli.command {
        Command::Tl(cmd) => run_tl(cmd),
        _ => unreachable!("handled in main"),
    }
}

fn init_logging_with(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load_config(path: &std::path::Path) -> Result<HostConfig, String> {
    HostConfig::load(path).map_err(|e| e.to_string())
}

fn run_fleet(args: RunArgs) -> Result<(), String> {
    let config = load_config(&args.file)?;
    let format = args.log_format.unwrap_or(match config.log.format {
        fleetgram_engine::fleet::config::LogFormat::Text => LogFormat::Text,
        fleetgram_engine::fleet::config::LogFormat::Json => LogFormat::Json,
    });
    init_logging_with(&config.log.level, format);
    let rt = tokio::runtime::Runtime::new().map_err(|e| format!("starting the runtime: {e}"))?;
    let opts = fleetgram::run::RunOptions {
        localdc_info: args.localdc_info,
        watch_config: !args.no_watch,
        http: args.http,
    };
    let r = rt.block_on(fleetgram::run::run_until(
        &args.file,
        opts,
        fleetgram::run::shutdown_signal(),
    ));
    // Whatever still runs (a blocking store call on a full disk) does not hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    r
}

fn open_store(config: &FleetConfig) -> Result<Arc<SledStore>, String> {
    SledStore::open(fleetgram::run::sessions_path(config))
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

fn account_config<'a>(
    config: &'a FleetConfig,
    name: &str,
) -> Result<&'a fleetgram_engine::fleet::config::Account, String> {
    config.account(name).ok_or_else(|| {
        format!(
            "{}: no account named {name:?} (accounts: {})",
            config.file.display(),
            config
                .accounts
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn prompt(question: &str) -> Result<String, String> {
    use std::io::Write;
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("reading stdin: {e}"))?;
    Ok(line.trim().to_string())
}

fn login(name: &str, path: &std::path::Path) -> Result<(), String> {
    init_logging_with("warn", LogFormat::Text);
    let config = load_config(path)?;
    let account = account_config(&config, name)?;
    if config.network == Network::Local {
        return Err(
            "accounts on network: local log in by themselves when `fleetgram run` starts".into(),
        );
    }
    let store = open_store(&config)?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| format!("starting the runtime: {e}"))?;
    rt.block_on(async {
        let mut c = fleetgram_engine::Config::telegram(config.api_id, config.api_hash.clone());
        c.proxy = account.proxy.clone();
        c.transport = account.transport;
        let client =
            fleetgram_engine::Client::new(c, store.clone(), name).map_err(|e| e.to_string())?;
        if client.is_authorized().await.map_err(|e| e.to_string())? {
            eprintln!("{name} is already logged in");
            return Ok(());
        }
        match account.config.kind {
            AccountKind::Bot => {
                let token = account
                    .config
                    .token
                    .clone()
                    .ok_or("the bot has no token in the file")?;
                client
                    .bot_sign_in(&token)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            AccountKind::User => {
                let phone = account.config.phone.clone().unwrap_or_default();
                let token = client
                    .request_login_code(&phone)
                    .await
                    .map_err(|e| e.to_string())?;
                let code = prompt(&format!("login code sent to {phone}: "))?;
                match client.sign_in(&token, &code).await {
                    Ok(_) => {}
                    Err(fleetgram_engine::auth::SignInError::PasswordRequired(p)) => {
                        let hint = p
                            .hint()
                            .map(|h| format!(" (hint: {h})"))
                            .unwrap_or_default();
                        let pw = rpassword::prompt_password(format!("2FA password{hint}: "))
                            .map_err(|e| format!("reading the password: {e}"))?;
                        client
                            .check_password(p, &pw)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        eprintln!("{name} logged in");
        client.disconnect();
        Ok(())
    })
}

/// Where the running host of `config` serves its operator view (from its address file).
fn host_addr(config: &FleetConfig) -> Option<std::net::SocketAddr> {
    let info = std::fs::read_to_string(fleetgram::run::http_file(config)).ok()?;
    let info: serde_json::Value = serde_json::from_str(&info).ok()?;
    info["addr"].as_str()?.parse().ok()
}

/// `GET path` on the operator view at `addr`: (status, body).
fn http_get(addr: std::net::SocketAddr, path: &str) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let t = std::time::Duration::from_secs(5);
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))
        .map_err(|e| format!("operator view at {addr}: {e}"))?;
    s.set_read_timeout(Some(t)).ok();
    s.set_write_timeout(Some(t)).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .and_then(|()| {
        let mut out = String::new();
        s.read_to_string(&mut out).map(|_| out)
    })
    .map_err(|e| format!("operator view at {addr}: {e}"))
    .and_then(|out| {
        let (head, body) = out
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("operator view at {addr}: not an HTTP answer"))?;
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("operator view at {addr}: not an HTTP answer"))?;
        Ok((code, body.to_string()))
    })
}

/// The live status from a running host's operator view, if one is up.
fn live_status(config: &FleetConfig) -> Option<serde_json::Value> {
    let (code, body) = http_get(host_addr(config)?, "/api/status").ok()?;
    (code == 200).then_some(())?;
    serde_json::from_str(&body).ok()
}

/// `fleetgram health`: asks the running host whether it is alive (or ready); the exit
/// status says it (for container health checks and service managers).
fn health(args: HealthArgs) -> Result<(), String> {
    let addr = match args.http {
        Some(a) => a,
        None => {
            let config = load_config(&args.file)?;
            host_addr(&config).ok_or_else(|| {
                format!(
                    "no running host found for {}: it writes its operator view's address to {} (is `http:` set, or `--http` given?)",
                    args.file.display(),
                    fleetgram::run::http_file(&config).display()
                )
            })?
        }
    };
    let path = if args.ready { "/readyz" } else { "/healthz" };
    let (code, body) = http_get(addr, path)?;
    println!("{}", body.trim());
    if code == 200 {
        Ok(())
    } else {
        Err(format!("{path} answered {code}"))
    }
}

fn accounts(path: &std::path::Path) -> Result<(), String> {
    let config = load_config(path)?;
    if let Some(live) = live_status(&config) {
        println!(
            "{:<16} {:<5} {:<12} {:>4} {:>16} {:>8} {:>6} {:>6} {:<}",
            "ACCOUNT", "KIND", "STATE", "DC", "USER", "UPDATES", "QUEUE", "FLOODS", "SCRIPTS"
        );
        for a in live["accounts"].as_array().into_iter().flatten() {
            let user = match (a["username"].as_str(), a["user_id"].as_i64()) {
                (Some(u), _) => format!("@{u}"),
                (None, Some(id)) => id.to_string(),
                _ => String::new(),
            };
            let scripts: Vec<String> = a["scripts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str())
                .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
                .collect();
            println!(
                "{:<16} {:<5} {:<12} {:>4} {:>16} {:>8} {:>6} {:>6} {}",
                a["name"].as_str().unwrap_or(""),
                a["kind"].as_str().unwrap_or(""),
                a["state"].as_str().unwrap_or(""),
                a["dc"].as_i64().map(|d| d.to_string()).unwrap_or_default(),
                user,
                a["updates"],
                a["queue_depth"],
                a["flood_waits"],
                scripts.join(",")
            );
        }
        println!("(live, from the running host's operator view)");
        return Ok(());
    }
    let store = open_store(&config).map_err(|e| {
        format!("{e}\n(a host is probably running; its live status is in its logs)")
    })?;
    println!(
        "{:<16} {:<5} {:<8} {:>4} {:>14} {:>8} {:<}",
        "ACCOUNT", "KIND", "STATE", "DC", "USER", "PTS", "SCRIPTS"
    );
    for a in &config.accounts {
        let st = store.load(a.name()).map_err(|e| e.to_string())?;
        let (state, dc, user, pts) = match &st {
            Some(s) if s.dcs.get(&s.home_dc).is_some_and(|d| d.authorized) => (
                if a.config.enabled {
                    "ready"
                } else {
                    "disabled"
                },
                s.home_dc.to_string(),
                s.user_id.map(|u| u.to_string()).unwrap_or_default(),
                s.updates.map(|u| u.pts.to_string()).unwrap_or_default(),
            ),
            Some(s) => (
                "no-login",
                s.home_dc.to_string(),
                String::new(),
                String::new(),
            ),
            None => ("new", String::new(), String::new(), String::new()),
        };
        let scripts: Vec<String> = a
            .scripts
            .iter()
            .map(|s| {
                s.path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let kind = match a.config.kind {
            AccountKind::User => "user",
            AccountKind::Bot => "bot",
        };
        println!(
            "{:<16} {:<5} {:<8} {:>4} {:>14} {:>8} {}",
            a.name(),
            kind,
            state,
            dc,
            user,
            pts,
            scripts.join(",")
        );
    }
    Ok(())
}

fn session(cmd: SessionCommand) -> Result<(), String> {
    match cmd {
        SessionCommand::Export { account, config } => {
            let config = load_config(&config)?;
            account_config(&config, &account)?;
            let store = open_store(&config)?;
            let st = store
                .load(&account)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{account} has no session yet"))?;
            let s = st
                .to_session_string()
                .ok_or_else(|| format!("{account} has no auth key yet"))?;
            println!("{s}");
            Ok(())
        }
        SessionCommand::Import {
            account,
            session,
            file,
            force,
            config,
        } => {
            let config = load_config(&config)?;
            let acc = account_config(&config, &account)?;
            let session = match file {
                Some(f) => {
                    std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?
                }
                None => arg_or_stdin(session.unwrap_or_else(|| "-".into()))?,
            };
            let st = fleetgram_engine::store::AccountState::from_session_string(session.trim())
                .map_err(|e| e.to_string())?;
            // The string must fit the account and the network it will be used on.
            let is_bot = acc.config.kind == fleetgram_engine::fleet::config::AccountKind::Bot;
            if st.bot != is_bot && st.user_id.is_some() {
                return Err(format!(
                    "the session is a {}'s, but {account} is configured as a {}",
                    if st.bot { "bot" } else { "user" },
                    if is_bot { "bot" } else { "user" }
                ));
            }
            let dcs = match config.network {
                fleetgram_engine::fleet::config::Network::Local => {
                    i32::from(config.local.dcs.max(1))
                }
                fleetgram_engine::fleet::config::Network::Telegram => 5,
            };
            if !(1..=dcs).contains(&st.home_dc) {
                return Err(format!(
                    "the session's home DC is {}, but this network has DCs 1 to {dcs}",
                    st.home_dc
                ));
            }
            let store = open_store(&config)?;
            let existing = store.load(&account).map_err(|e| e.to_string())?;
            if !force && existing.is_some_and(|e| e.dcs.values().any(|d| d.auth_key.is_some())) {
                return Err(format!(
                    "{account} already has a session; add --force to replace it (the old key is lost)"
                ));
            }
            store.save(&account, &st).map_err(|e| e.to_string())?;
            eprintln!(
                "stored the session of {account}; do not keep using the same string in another client at the same time (Telegram ends both with AUTH_KEY_DUPLICATED)"
            );
            Ok(())
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Writes `text` to `path` atomically (a temporary file renamed over it).
fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn run_localdc(args: LocalDcArgs) -> Result<(), String> {
    init_logging(args.log_format);
    let rt = tokio::runtime::Runtime::new().map_err(|e| format!("starting the runtime: {e}"))?;
    rt.block_on(async move {
        let config = fleetgram_localdc::Config {
            dcs: args.dcs,
            host: args.host,
            base_port: args.port,
            data_dir: args.data,
            login_code: args.login_code,
            rsa_key: None,
            control_addr: (!args.no_control).then_some(args.control),
            channel_push_limit: args.channel_push_limit,
            channel_poll_timeout: std::time::Duration::from_secs(args.channel_poll_timeout),
            ..Default::default()
        };
        let dc = fleetgram_localdc::LocalDc::start(config)
            .await
            .map_err(|e| e.to_string())?;
        let info = dc.info().to_json();
        tracing::info!(info = %info, "local DC ready");
        if let Some(path) = &args.info_file {
            write_atomic(path, &serde_json::to_string_pretty(&info).expect("json"))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| format!("waiting for Ctrl-C: {e}"))?;
        tracing::info!("stopping");
        dc.shutdown().await;
        Ok(())
    })
}

fn run_tl(cmd: TlCommand) -> Result<String, String> {
    let s = schema();
    match cmd {
        TlCommand::Describe { name } => s
            .describe(name.trim())
            .map(|d| d.trim_end().to_string())
            .map_err(|e| e.to_string()),
        TlCommand::Encode { json: text } => {
            let text = arg_or_stdin(text)?;
            let j: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                format!(
                    "invalid JSON at line {}, column {}: {e}",
                    e.line(),
                    e.column()
                )
            })?;
            let obj = s.object_from_json(&j).map_err(|e| e.to_string())?;
            let bytes = s.encode(&obj).map_err(|e| e.to_string())?;
            Ok(json::to_hex(&bytes))
        }
        TlCommand::Decode { hex } => {
            let hex: String = arg_or_stdin(hex)?.split_whitespace().collect();
            if hex.is_empty() {
                return Err("no hex given".into());
            }
            let bytes = json::from_hex(&hex).map_err(|e| format!("invalid hex: {e}"))?;
            let obj = s.decode(&bytes).map_err(|e| e.to_string())?;
            let used = s.encode(&obj).map(|b| b.len()).unwrap_or(bytes.len());
            if used < bytes.len() {
                eprintln!(
                    "note: {} trailing bytes after the object were ignored",
                    bytes.len() - used
                );
            }
            serde_json::to_string_pretty(&json::object_to_json(&obj)).map_err(|e| e.to_string())
        }
    }
}
