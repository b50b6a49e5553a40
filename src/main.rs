//! `fleetgram`: the command-line entry point.
//!
//! Subcommands so far:
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
    }
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
