//! `fleetgram`: the command-line entry point.
//!
//! Subcommands so far:
//! * `fleetgram localdc` — run the embedded Telegram-compatible DC on its own;
//! * `fleetgram tl describe NAME` — a constructor's, function's or type's fields;
//! * `fleetgram tl encode JSON` — the hex TL serialization of a JSON object;
//! * `fleetgram tl decode HEX|-` — the JSON of a TL object.
//!
//! Errors are one line on stderr and exit with code 2.

use clap::{Parser, Subcommand};
use fleetgram_tl::dynamic::{json, schema};
use std::io::Read;
use std::process::ExitCode;

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
    /// Inspect and (de)serialize TL objects of the bundled schema (layer 229).
    #[command(subcommand)]
    Tl(TlCommand),
    /// Run the local DC (a Telegram-compatible MTProto server) until Ctrl-C.
    Localdc(LocalDcArgs),
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
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
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
        Command::Localdc(_) => unreachable!("handled in main"),
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
