//! fleetgram's scripting: Lua 5.4 (mlua) and Rhai scripts with one API.
//!
//! ```text
//! fleet host --Handlers--> AccountScripts --event (JSON)--> Script (current version)
//!   --filter tree--> Lua/Rhai handler --call/send/...--> api::ScriptCtx --> engine Client
//! ```
//!
//! The API is written once in [`api`] over JSON values, one module per area, each
//! registering its functions for both languages; [`lua`] and [`rhai`] hold each language's
//! runtime (sandbox, handlers, schedules, argument conversion). [`host`] loads scripts per account, runs their schedules and reloads them
//! when their files change; [`vm`] has the sandbox limits.

pub mod api;
pub mod event;
pub mod filter;
pub mod host;
pub mod lpattern;
pub mod lua;
pub mod lua_sandbox;
pub mod rhai;
pub mod vm;
pub mod worker;

pub use api::{ApiError, ScriptCtx};
pub use host::{AccountScripts, ScheduleStatus, Script, ScriptHost, ScriptStatus};
pub use vm::{Limits, ScriptError};
