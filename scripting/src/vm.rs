//! What a loaded script is, whatever its language: its handlers (kind + filter), its
//! scheduled jobs, and a way to run each; plus the sandbox limits and script errors.

use crate::filter::Filter;
use fleetgram_engine::fleet::BoxFuture;
use fleetgram_engine::updates::UpdateKind;
use serde_json::Value as Json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A script error: the file, the line when known, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ScriptError {
    /// The script file.
    pub file: String,
    /// The line, when known.
    pub line: Option<u32>,
    /// What happened.
    pub message: String,
}

impl ScriptError {
    /// An error at `file` (and `line`).
    pub fn new(file: impl Into<String>, line: Option<u32>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line,
            message: message.into(),
        }
    }

    /// Reads `file:line: message` out of a message that starts with the file name (Lua's
    /// and our own error format).
    pub fn parse(file: &str, text: &str) -> Self {
        let short = std::path::Path::new(file)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.to_string());
        for prefix in [file, short.as_str()] {
            if let Some(rest) = text.find(prefix).map(|i| &text[i + prefix.len()..]) {
                if let Some(rest) = rest.strip_prefix(':') {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(line) = digits.parse() {
                        let msg = rest[digits.len()..].trim_start_matches(':').trim();
                        return Self::new(file, Some(line), msg);
                    }
                }
            }
        }
        Self::new(file, None, text.trim())
    }
}

/// Sandbox limits of one script.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// VM instructions (Lua) / operations (Rhai) one handler may run.
    pub max_ops: u64,
    /// Time one handler's code may run. Time it spends waiting (for Telegram, in `sleep`,
    /// in a conversation) does not count: that is bounded by `max_wait`.
    pub timeout: Duration,
    /// Time one handler may spend waiting, in all.
    pub max_wait: Duration,
    /// Bytes one Lua state may allocate.
    pub memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_ops: 20_000_000,
            timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(600),
            memory: 64 << 20,
        }
    }
}

/// One `on(kind, filter, handler)`.
#[derive(Debug, Clone)]
pub struct HandlerSpec {
    /// The update kind.
    pub kind: UpdateKind,
    /// The filter.
    pub filter: Filter,
}

/// When a job runs.
#[derive(Debug, Clone)]
pub enum Timing {
    /// A cron expression in a time zone.
    Cron {
        /// As written.
        expr: String,
        /// Parsed (seconds field added to 5-field expressions).
        schedule: Box<cron::Schedule>,
        /// The time zone.
        tz: chrono_tz::Tz,
    },
    /// Every so often.
    Every(Duration),
}

/// One `cron(...)` / `every(...)`.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Stable key (what its last run is stored under).
    pub key: String,
    /// When.
    pub timing: Timing,
}

/// Parses a cron expression (5 fields: minute precision; 6-7: with seconds) and a zone.
///
/// # Errors
/// A malformed expression or an unknown zone.
pub fn parse_cron(expr: &str, tz: Option<&str>) -> Result<Timing, String> {
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    };
    let schedule: cron::Schedule = full
        .parse()
        .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))?;
    let tz = match tz {
        None => chrono_tz::UTC,
        Some(z) => z.parse().map_err(|_| {
            format!("unknown time zone {z:?} (use an IANA name like Europe/Berlin)")
        })?,
    };
    Ok(Timing::Cron {
        expr: expr.to_string(),
        schedule: Box::new(schedule),
        tz,
    })
}

/// Parses `"30s"`, `"5m"`, `"1h"`, `"250ms"` or a number of seconds.
///
/// # Errors
/// Anything else, or zero.
pub fn parse_duration(v: &Json) -> Result<Duration, String> {
    let d = match v {
        Json::Number(n) => n
            .as_f64()
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(Duration::from_secs_f64),
        Json::String(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
            let secs = match unit.trim() {
                "ms" => n / 1000.0,
                "" | "s" => n,
                "m" => n * 60.0,
                "h" => n * 3600.0,
                "d" => n * 86400.0,
                u => {
                    return Err(format!(
                        "invalid duration unit {u:?} in {s:?} (ms, s, m, h, d)"
                    ))
                }
            };
            (secs > 0.0).then(|| Duration::from_secs_f64(secs))
        }
        _ => None,
    };
    d.ok_or_else(|| format!("expected a positive duration (\"30s\", \"5m\" or seconds), got {v}"))
}

/// A loaded script.
pub trait Vm: Send + Sync + 'static {
    /// `lua` or `rhai`.
    fn language(&self) -> &'static str;
    /// Its handlers in registration order.
    fn handlers(&self) -> &[HandlerSpec];
    /// Its jobs.
    fn jobs(&self) -> &[JobSpec];
    /// The files it consists of (the script and what it required/imported).
    fn files(&self) -> Vec<PathBuf>;
    /// Runs, in order, those of the handlers `indices` whose filter matches `event` (the
    /// host has checked the filters it can; filters that are script functions are checked
    /// here, under the script's budget). `me` is the account's username (for commands).
    /// Each index comes with whether its filter still has to be checked here.
    fn run_handlers(
        self: Arc<Self>,
        indices: Vec<(usize, bool)>,
        event: Arc<crate::event::EventData>,
        me: Option<String>,
    ) -> BoxFuture<'static, Vec<Outcome>>;
    /// Runs job `index` as `run` (what its sends derive their random_ids from).
    fn run_job(
        self: Arc<Self>,
        index: usize,
        run: crate::api::JobRun,
    ) -> BoxFuture<'static, Result<(), ScriptError>>;
    /// How long the script's thread has been inside one piece of script code, if it is.
    fn busy_for(&self) -> Option<Duration> {
        None
    }
}

/// What running one handler came to.
#[derive(Debug)]
pub struct Outcome {
    /// The handler.
    pub index: usize,
    /// How long it took (with its filter).
    pub took: Duration,
    /// Its result.
    pub result: Result<(), ScriptError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_are_read_back_with_their_line() {
        let e = ScriptError::parse(
            "/x/scripts/echo.lua",
            "/x/scripts/echo.lua:12: attempt to index a nil value",
        );
        assert_eq!(e.line, Some(12));
        assert_eq!(e.message, "attempt to index a nil value");
        assert_eq!(
            e.to_string(),
            "/x/scripts/echo.lua:12: attempt to index a nil value"
        );
        let e = ScriptError::parse("/x/echo.lua", "runtime error: echo.lua:3: boom");
        assert_eq!(e.line, Some(3));
        assert_eq!(ScriptError::parse("a.lua", "oops").line, None);
    }

    #[test]
    fn durations_and_cron() {
        assert_eq!(
            parse_duration(&json!("250ms")).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            parse_duration(&json!("2m")).unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            parse_duration(&json!(1.5)).unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_duration(&json!("0s")).is_err());
        assert!(parse_duration(&json!("5 parsecs")).is_err());
        assert!(parse_cron("*/5 * * * *", None).is_ok());
        assert!(parse_cron("0 0 9 * * Mon-Fri", Some("Europe/Berlin")).is_ok());
        assert!(parse_cron("every tuesday", None).is_err());
        assert!(parse_cron("* * * * *", Some("Mars/Base")).is_err());
    }
}
