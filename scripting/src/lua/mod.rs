//! Lua 5.4 scripts (mlua, async): a sandboxed state per script, the API registered as
//! globals, handlers run as coroutines so calls suspend instead of blocking.
//!
//! Every script runs on a thread of its own ([`crate::worker`]). Sandbox: only `table`,
//! `string` (no `dump`), `math`, `utf8`, `coroutine`, `os.time`, `os.clock`, `os.date`,
//! `os.difftime`; `load` accepts text only; `require` loads `.lua` files next to the script
//! (in the same sandbox). All script code (the top level, filter functions, handlers, jobs
//! and the coroutines they make) runs under an instruction budget, a wall-clock timeout and
//! a memory limit that it cannot catch its way past ([`crate::lua_sandbox`]).

use crate::api::{ApiError, JobRun, ScriptCtx, JOB_RUN};
use crate::filter::Filter;
use crate::lua_sandbox::{self, Budgeted, Run};
use crate::vm::{
    parse_cron, parse_duration, HandlerSpec, JobSpec, Limits, Outcome, ScriptError, Timing, Vm,
};
use crate::worker::Worker;
use fleetgram_engine::fleet::BoxFuture;
use mlua::{
    Function, IntoLua, IntoLuaMulti, Lua, LuaOptions, MultiValue, RegistryKey, StdLib, Table,
    UserData, UserDataMethods, Value,
};
use serde_json::{json, Value as Json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PRELUDE: &str = include_str!("prelude.lua");

/// A filter as a Lua value (combined with `&`, `|`, `~`).
#[derive(Clone)]
struct LuaFilter(Filter);

impl UserData for LuaFilter {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_function(mlua::MetaMethod::BAnd, |lua, (a, b): (Value, Value)| {
            Ok(LuaFilter(to_filter(lua, a)? & to_filter(lua, b)?))
        });
        m.add_meta_function(mlua::MetaMethod::BOr, |lua, (a, b): (Value, Value)| {
            Ok(LuaFilter(to_filter(lua, a)? | to_filter(lua, b)?))
        });
        m.add_meta_function(mlua::MetaMethod::BNot, |lua, (a, _): (Value, Value)| {
            Ok(LuaFilter(!to_filter(lua, a)?))
        });
        m.add_meta_method(mlua::MetaMethod::ToString, |_, f, ()| {
            Ok(format!("filter {:?}", f.0))
        });
    }
}

/// The peers `chats{...}` / `from_users{...}` name: marked ids and references (`@name`,
/// a t.me link, `me`); one peer may be given without the table.
fn peer_list(v: Value, what: &str) -> mlua::Result<(Vec<i64>, Vec<String>)> {
    let (mut ids, mut refs) = (Vec::new(), Vec::new());
    let mut one = |x: Value| -> mlua::Result<()> {
        match x {
            Value::Integer(i) => ids.push(i),
            Value::Number(n) if n.fract() == 0.0 => ids.push(n as i64),
            Value::String(s) => refs.push(s.to_str()?.to_string()),
            other => {
                return Err(mlua::Error::runtime(format!(
                    "{what}: expected marked ids or peer references (\"@username\", a t.me link, \"me\"), got {}",
                    other.type_name()
                )))
            }
        }
        Ok(())
    };
    match v {
        Value::Table(t) => {
            for x in t.sequence_values::<Value>() {
                one(x?)?;
            }
        }
        other => one(other)?,
    }
    Ok((ids, refs))
}

/// A filter from a filter object or a function.
fn to_filter(lua: &Lua, v: Value) -> mlua::Result<Filter> {
    match v {
        Value::UserData(u) => Ok(u.borrow::<LuaFilter>()?.0.clone()),
        Value::Function(f) => {
            let lua = lua.clone();
            let key = Arc::new(lua.create_registry_value(f)?);
            Ok(Filter::Custom(crate::filter::Leaf::Func(Arc::new(
                move |ev: &Json| {
                    let Ok(f) = lua.registry_value::<Function>(&key) else {
                        return false;
                    };
                    let Ok(t) = to_lua(&lua, ev) else {
                        return false;
                    };
                    match f.call::<Value>(t) {
                        Ok(v) => !matches!(v, Value::Nil | Value::Boolean(false)),
                        Err(e) => {
                            tracing::warn!(error = %e, "filter function failed; treating as no match");
                            false
                        }
                    }
                },
            ))))
        }
        other => Err(mlua::Error::runtime(format!(
            "expected a filter or a function, got {}",
            other.type_name()
        ))),
    }
}

struct Registered {
    handlers: Vec<(HandlerSpec, RegistryKey)>,
    jobs: Vec<(JobSpec, RegistryKey)>,
}

/// Events handed to running handlers, by the number their table carries (`__event`), so
/// `raw` can be built when a handler first reads it.
#[derive(Default)]
struct Events {
    next: std::sync::atomic::AtomicU64,
    live: Mutex<std::collections::HashMap<u64, Arc<crate::event::EventData>>>,
}

/// A loaded Lua script.
pub struct LuaVm {
    lua: Lua,
    events: Arc<Events>,
    run_message: RegistryKey,
    file: String,
    files: Mutex<Vec<PathBuf>>,
    handlers: Vec<HandlerSpec>,
    handler_fns: Vec<RegistryKey>,
    jobs: Vec<JobSpec>,
    job_fns: Vec<RegistryKey>,
    run: RegistryKey,
    limits: Limits,
    worker: Worker,
}

pub(crate) fn api_result(
    lua: &Lua,
    r: Result<Json, ApiError>,
    at: &str,
) -> mlua::Result<(bool, Value)> {
    match r {
        Ok(v) => Ok((true, to_lua(lua, &v)?)),
        Err(e) => {
            let mut j = e.to_json();
            j["message"] = json!(format!("{at}: {e}"));
            Ok((false, to_lua(lua, &j)?))
        }
    }
}

/// The largest file `require` reads.
const MAX_MODULE: u64 = 16 << 20;

/// Where the script called us from: `echo.lua:12`. When the script reached us through a
/// `pcall` inside a function of its own (a wrapper such as `try(send, ...)`), the place is
/// where that function was called, with the `pcall`'s line after it:
/// `echo.lua:20 (through the pcall at echo.lua:3)`.
pub(crate) fn location(lua: &Lua, file: &str) -> String {
    let mut through_pcall = false;
    let mut first: Option<String> = None;
    for level in 1..16 {
        let Some(d) = lua.inspect_stack(level) else {
            break;
        };
        let src = d.source();
        let user = src.source.as_deref().is_some_and(|s| s.starts_with('@'));
        if !user {
            if first.is_none() {
                let name = d.names().name.map(|n| n.to_string());
                through_pcall |= matches!(name.as_deref(), Some("pcall" | "xpcall"));
            }
            continue;
        }
        let short = src.short_src.as_deref().unwrap_or(file).to_string();
        let here = format!("{short}:{}", d.curr_line());
        match first {
            None if !through_pcall => return here,
            None => first = Some(here),
            Some(inner) => return format!("{here} (through the pcall at {inner})"),
        }
    }
    first.unwrap_or_else(|| file.to_string())
}

pub(crate) fn arg_json(lua: &Lua, args: &MultiValue, i: usize) -> mlua::Result<Json> {
    from_lua(lua, args.get(i).cloned().unwrap_or(Value::Nil))
}

pub(crate) fn arg_str(args: &MultiValue, i: usize, what: &str) -> mlua::Result<String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.to_str()?.to_string()),
        Some(Value::Integer(n)) => Ok(n.to_string()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        other => Err(mlua::Error::runtime(format!(
            "{what}: expected a string, got {}",
            other.map_or("nothing", Value::type_name)
        ))),
    }
}

/// Registers `name` in the raw table as an async function whose body returns an API result
/// (`(true, value)` or `(false, error)` to the prelude, with the script's place).
macro_rules! async_api {
    ($lua:expr, $raw:expr, $file:expr, $ctx:expr, $name:literal, |$c:ident, $l:ident, $a:ident| $body:expr) => {{
        let ctx = $ctx.clone();
        let file = $file.to_string();
        $raw.set(
            $name,
            $lua.create_async_function(move |$l: mlua::Lua, $a: mlua::MultiValue| {
                let $c = ctx.clone();
                let at = $crate::lua::location(&$l, &file);
                async move {
                    let r: Result<serde_json::Value, $crate::api::ApiError> = async { $body }.await;
                    $crate::lua::api_result(&$l, r, &at)
                }
            })?,
        )?;
    }};
}
pub(crate) use async_api;

/// What the API areas' Lua registrations use.
pub(crate) mod bind {
    pub(crate) use super::{api_result, arg_json, arg_str, async_api, bad, from_lua, location};
    pub(crate) use mlua::{Lua, MultiValue, Table, UserData, Value};
}

pub(crate) fn bad<E: std::fmt::Display>(e: E) -> ApiError {
    ApiError::Bad(e.to_string())
}

impl LuaVm {
    /// Loads `path` for `ctx`: runs its top level, which registers handlers and jobs.
    ///
    /// # Errors
    /// A syntax or runtime error of the top level, with file and line.
    ///
    /// Runs on `worker`'s thread (see [`LuaVm::start`]), where all its code runs.
    async fn load(
        path: &Path,
        ctx: ScriptCtx,
        limits: Limits,
        worker: Worker,
    ) -> Result<Arc<LuaVm>, ScriptError> {
        let file = path.display().to_string();
        let err = |e: mlua::Error| script_error(&file, &e);
        let source = std::fs::read_to_string(path)
            .map_err(|e| ScriptError::new(&file, None, format!("cannot read: {e}")))?;
        let libs = StdLib::TABLE
            | StdLib::STRING
            | StdLib::MATH
            | StdLib::UTF8
            | StdLib::COROUTINE
            | StdLib::OS;
        // Every handler runs on a coroutine of its own (it may wait): finished ones are
        // kept for the next handlers instead of being made anew each time.
        let lua =
            Lua::new_with(libs, LuaOptions::new().thread_pool_size(THREAD_POOL)).map_err(err)?;
        // The budget hook stops a run at `limits.memory` with its line; the state's own
        // limit, a quarter higher, stops allocations that jump past it.
        lua.set_memory_limit(limits.memory + limits.memory / 4)
            .map_err(err)?;
        lua_sandbox::install(&lua).map_err(err)?;
        let registered = Arc::new(Mutex::new(Registered {
            handlers: vec![],
            jobs: vec![],
        }));
        let files = Arc::new(Mutex::new(vec![path.to_path_buf()]));
        let raw = Self::register(&lua, &ctx, &file, &registered, &files, path).map_err(err)?;
        lua_sandbox::harden(&lua, &raw).map_err(err)?;
        let events = Arc::new(Events::default());
        let ev = events.clone();
        let event_raw = lua
            .create_function(move |l, id: u64| {
                let e = ev.live.lock().expect("not poisoned").get(&id).cloned();
                match e {
                    Some(e) => match e.raw_value() {
                        // The update straight to Lua (no JSON between).
                        Some(v) => tl_to_lua(l, &v),
                        None => to_lua(l, &e.raw()),
                    },
                    None => Ok(Value::Nil),
                }
            })
            .map_err(err)?;
        raw.set("event_raw", event_raw).map_err(err)?;
        let prelude: Table = lua
            .load(PRELUDE)
            .set_name("=prelude")
            .call(raw)
            .map_err(err)?;
        let run: Function = prelude.get("run").map_err(err)?;
        let run_key = lua.create_registry_value(run.clone()).map_err(err)?;
        let run_message: Function = prelude.get("run_message").map_err(err)?;
        let run_message = lua.create_registry_value(run_message).map_err(err)?;
        // The top level runs like a handler: under the budget, able to call the API.
        let chunk = lua
            .load(&source)
            .set_name(format!("@{file}"))
            .into_function()
            .map_err(err)?;
        let budget = Run::new(limits.max_ops, limits.timeout, limits.memory);
        let top = Budgeted {
            run: budget,
            fut: Box::pin(run.call_async::<()>((chunk, Value::Nil))),
        };
        tokio::time::timeout(limits.timeout, top)
            .await
            .map_err(|_| {
                ScriptError::new(
                    &file,
                    None,
                    format!("loading timed out after {:?}", limits.timeout),
                )
            })?
            .map_err(err)?;
        let r = std::mem::replace(
            &mut *registered.lock().expect("not poisoned"),
            Registered {
                handlers: vec![],
                jobs: vec![],
            },
        );
        let (handlers, handler_fns) = r.handlers.into_iter().unzip();
        let (jobs, job_fns) = r.jobs.into_iter().unzip();
        let files = files.lock().expect("not poisoned").clone();
        Ok(Arc::new(LuaVm {
            lua,
            events,
            run_message,
            file,
            files: Mutex::new(files),
            handlers,
            handler_fns,
            jobs,
            job_fns,
            run: run_key,
            limits,
            worker,
        }))
    }

    /// Starts a worker thread for the script and loads it there.
    ///
    /// # Errors
    /// The script's own error, or no thread could be started.
    pub async fn start(
        path: &Path,
        ctx: ScriptCtx,
        limits: Limits,
    ) -> Result<Arc<LuaVm>, ScriptError> {
        let name = ctx.script.clone();
        crate::worker::load_on_worker(path, &name, move |path, w| {
            Box::pin(async move { LuaVm::load(&path, ctx, limits, w).await })
        })
        .await
    }

    /// Registers the raw API functions (the prelude wraps them).
    fn register(
        lua: &Lua,
        ctx: &ScriptCtx,
        file: &str,
        registered: &Arc<Mutex<Registered>>,
        files: &Arc<Mutex<Vec<PathBuf>>>,
        path: &Path,
    ) -> mlua::Result<Table> {
        let raw = lua.create_table()?;
        let g = lua.globals();
        // Drop what the sandbox does not allow.
        let os: Table = g.get("os")?;
        let safe_os = lua.create_table()?;
        for f in ["time", "clock", "date", "difftime"] {
            safe_os.set(f, os.get::<Value>(f)?)?;
        }
        g.set("os", safe_os)?;
        for name in [
            "debug",
            "io",
            "package",
            "dofile",
            "loadfile",
            "collectgarbage",
        ] {
            g.set(name, Value::Nil)?;
        }
        let string: Table = g.get("string")?;
        string.set("dump", Value::Nil)?;
        raw.set("load", g.get::<Function>("load")?)?;

        // The API, area by area (each area registers its Lua and Rhai functions together).
        crate::api::register_lua(lua, &raw, file, ctx)?;
        raw.set(
            "sleep",
            lua.create_async_function(|_, secs: f64| async move {
                if secs.is_finite() && secs > 0.0 {
                    tokio::time::sleep(std::time::Duration::from_secs_f64(secs.min(86400.0))).await;
                }
                Ok(())
            })?,
        )?;
        let c = ctx.clone();
        raw.set(
            "log",
            lua.create_function(move |l, (level, args): (String, MultiValue)| {
                let text: Vec<String> = args
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.to_string_lossy(),
                        other => from_lua(l, other.clone())
                            .map(|j| j.to_string())
                            .unwrap_or_else(|_| other.type_name().to_string()),
                    })
                    .collect();
                c.log(&level, &text.join(" "));
                Ok(())
            })?,
        )?;
        raw.set("config", to_lua(lua, &ctx.settings)?)?;
        raw.set("account", to_lua(lua, &ctx.account_info())?)?;

        // on / cron / every register into `registered`.
        let reg = registered.clone();
        raw.set(
            "on",
            lua.create_function(
                move |l, (kind, filter, handler): (String, Value, Function)| {
                    let k = crate::event::kind_by_name(&kind).ok_or_else(|| {
                        mlua::Error::runtime(format!(
                            "on: unknown update kind {kind:?}; expected one of {}",
                            crate::event::KINDS.join(", ")
                        ))
                    })?;
                    let filter = match filter {
                        Value::Nil => Filter::All,
                        v => to_filter(l, v)?,
                    };
                    let key = l.create_registry_value(handler)?;
                    reg.lock()
                        .expect("not poisoned")
                        .handlers
                        .push((HandlerSpec { kind: k, filter }, key));
                    Ok(())
                },
            )?,
        )?;
        let reg = registered.clone();
        raw.set(
            "cron",
            lua.create_function(
                move |l, (expr, tz, handler): (String, Option<String>, Function)| {
                    let timing = parse_cron(&expr, tz.as_deref()).map_err(mlua::Error::runtime)?;
                    let mut r = reg.lock().expect("not poisoned");
                    let key = format!("cron:{}:{expr}", r.jobs.len());
                    let f = l.create_registry_value(handler)?;
                    r.jobs.push((JobSpec { key, timing }, f));
                    Ok(())
                },
            )?,
        )?;
        let reg = registered.clone();
        raw.set(
            "every",
            lua.create_function(move |l, (every, handler): (Value, Function)| {
                let d = parse_duration(&from_lua(l, every)?).map_err(mlua::Error::runtime)?;
                let mut r = reg.lock().expect("not poisoned");
                let key = format!("every:{}:{}", r.jobs.len(), d.as_millis());
                let f = l.create_registry_value(handler)?;
                r.jobs.push((
                    JobSpec {
                        key,
                        timing: Timing::Every(d),
                    },
                    f,
                ));
                Ok(())
            })?,
        )?;
        // Filters.
        for (name, f) in [
            ("private", Filter::Private),
            ("group", Filter::Group),
            ("channel", Filter::Channel),
            ("incoming", Filter::Incoming),
            ("outgoing", Filter::Outgoing),
            ("has_media", Filter::HasMedia),
            ("mentioned", Filter::Mentioned),
            ("all", Filter::All),
        ] {
            raw.set(name, LuaFilter(f))?;
        }
        raw.set(
            "command",
            lua.create_function(|_, c: String| Ok(LuaFilter(Filter::Command(c))))?,
        )?;
        raw.set(
            "text_contains",
            lua.create_function(|_, t: String| Ok(LuaFilter(Filter::TextContains(t))))?,
        )?;
        raw.set(
            "regex",
            lua.create_function(|_, p: String| {
                crate::filter::regex(&p)
                    .map(LuaFilter)
                    .map_err(mlua::Error::runtime)
            })?,
        )?;
        raw.set(
            "from_users",
            lua.create_function(|_, v: Value| {
                let (ids, refs) = peer_list(v, "from_users")?;
                Ok(LuaFilter(crate::filter::peers(true, ids, refs)))
            })?,
        )?;
        raw.set(
            "chats",
            lua.create_function(|_, v: Value| {
                let (ids, refs) = peer_list(v, "chats")?;
                Ok(LuaFilter(crate::filter::peers(false, ids, refs)))
            })?,
        )?;
        raw.set(
            "filter",
            lua.create_function(|l, v: Value| Ok(LuaFilter(to_filter(l, v)?)))?,
        )?;
        // require: .lua files next to the script, loaded once, watched for changes.
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let files = files.clone();
        raw.set(
            "find_module",
            lua.create_function(move |_, name: String| {
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                    || name.split('.').any(str::is_empty)
                {
                    return Err(mlua::Error::runtime(format!(
                        "require: invalid module name {name:?}"
                    )));
                }
                // Reading and compiling a file is work the budget pays for.
                lua_sandbox::charge(10_000).map_err(mlua::Error::runtime)?;
                let p = dir.join(format!("{}.lua", name.replace('.', "/")));
                if let (Ok(real), Ok(home)) =
                    (std::fs::canonicalize(&p), std::fs::canonicalize(&dir))
                {
                    if !real.starts_with(&home) {
                        return Err(mlua::Error::runtime(format!(
                            "require {name:?}: {} is outside the script's directory",
                            p.display()
                        )));
                    }
                }
                if std::fs::metadata(&p).is_ok_and(|m| m.len() > MAX_MODULE) {
                    return Err(mlua::Error::runtime(format!(
                        "require {name:?}: {} is larger than {} MiB",
                        p.display(),
                        MAX_MODULE >> 20
                    )));
                }
                let src = std::fs::read_to_string(&p).map_err(|e| {
                    mlua::Error::runtime(format!("require {name:?}: {} ({e})", p.display()))
                })?;
                files.lock().expect("not poisoned").push(p.clone());
                Ok((src, format!("@{}", p.display())))
            })?,
        )?;
        Ok(raw)
    }

    /// Runs handler `index` (with `event`) or, without an event, job `index`, on this
    /// (the worker's) thread, under a budget of its own.
    async fn run_here(
        self: Arc<Self>,
        index: usize,
        event: Option<Arc<crate::event::EventData>>,
        now: Instant,
    ) -> Result<bool, ScriptError> {
        let id = event.as_ref().map(|e| {
            let id = self
                .events
                .next
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.events
                .live
                .lock()
                .expect("not poisoned")
                .insert(id, e.clone());
            id
        });
        let prepared = (|| -> mlua::Result<(Function, MultiValue)> {
            let key = match event {
                Some(_) => &self.handler_fns[index],
                None => &self.job_fns[index],
            };
            let handler: Function = self.lua.registry_value(key)?;
            let (Some(e), Some(id)) = (&event, id) else {
                let run: Function = self.lua.registry_value(&self.run)?;
                return Ok((run, (handler, Value::Nil).into_lua_multi(&self.lua)?));
            };
            // Messages: the table is built in Lua from plain values (no JSON on the way).
            if let Some(args) = message_args(&self.lua, e, id, handler.clone())? {
                let run: Function = self.lua.registry_value(&self.run_message)?;
                return Ok((run, args));
            }
            let run: Function = self.lua.registry_value(&self.run)?;
            let t = to_lua(&self.lua, e.fields())?;
            if let Value::Table(t) = &t {
                t.raw_set("__event", id)?;
            }
            Ok((run, (handler, t).into_lua_multi(&self.lua)?))
        })();
        let limits = self.limits;
        let file = &self.file;
        let r = async {
            let (run, args) = prepared.map_err(|e| script_error(file, &e))?;
            let budget = Run::starting(now, limits.max_ops, limits.timeout, limits.memory);
            let call = Budgeted {
                run: budget,
                fut: Box::pin(run.call_async::<bool>(args)),
            };
            // The budget bounds the time the code runs; this bounds the waits too.
            let bound = limits.timeout + limits.max_wait;
            match lua_sandbox::LazyDeadline::new(call, now, bound).await {
                Some(Err(e)) => {
                    let e = script_error(file, &e);
                    if e.message.contains("memory") {
                        // Free what the failed handler left behind before the next
                        // handler needs memory.
                        let _ = self.lua.gc_collect();
                        let _ = self.lua.gc_collect();
                    }
                    Err(e)
                }
                Some(Ok(stop)) => Ok(stop),
                None => Err(ScriptError::new(
                    file,
                    None,
                    format!(
                        "handler timed out: it waited (for Telegram, sleep or a conversation) longer than {:?} in all",
                        limits.max_wait
                    ),
                )),
            }
        }
        .await;
        if let Some(id) = id {
            self.events.live.lock().expect("not poisoned").remove(&id);
        }
        r
    }

    /// Runs the handlers `indices` that want `event` (evaluating filters that are script
    /// functions here, under a budget), in order, on this thread.
    async fn handlers_here(
        self: Arc<Self>,
        indices: Vec<(usize, bool)>,
        event: Arc<crate::event::EventData>,
        me: Option<String>,
    ) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(indices.len());
        // Every filter judges the event as it arrived, before the first handler runs.
        let mut chosen = Vec::with_capacity(indices.len());
        let mut start = Instant::now();
        let mut checked = false;
        for (index, check) in indices {
            if !check {
                chosen.push((index, Duration::ZERO));
                continue;
            }
            checked = true;
            let t = Instant::now();
            let filter = &self.handlers[index].filter;
            let l = &self.limits;
            let budget = Run::starting(t, l.max_ops, l.timeout, l.memory);
            let ok = lua_sandbox::within(&budget, || {
                crate::filter::matches(filter, &event, me.as_deref())
            });
            if let Some(why) = budget.killed() {
                out.push(Outcome {
                    index,
                    took: t.elapsed(),
                    result: Err(ScriptError::parse(&self.file, &format!("filter: {why}"))),
                });
                continue;
            }
            if ok {
                chosen.push((index, t.elapsed()));
            }
        }
        if checked {
            start = Instant::now();
        }
        for (index, filtered) in chosen {
            let result = self
                .clone()
                .run_here(index, Some(event.clone()), start)
                .await;
            let stop = matches!(result, Ok(true));
            let end = Instant::now();
            out.push(Outcome {
                index,
                took: filtered + (end - start),
                result: result.map(drop),
            });
            start = end;
            if stop {
                break;
            }
        }
        out
    }
}

/// The arguments of the prelude's `run_message` for a message event (`None` for others).
fn message_args(
    lua: &Lua,
    e: &crate::event::EventData,
    id: u64,
    handler: Function,
) -> mlua::Result<Option<MultiValue>> {
    use fleetgram_tl::enums;
    let Some(d) = e.update() else { return Ok(None) };
    let Some(enums::Message::Message(m)) = d.message() else {
        return Ok(None);
    };
    let l = &e.view;
    let reply_to = match &m.reply_to {
        Some(enums::MessageReplyHeader::MessageReplyHeader(h)) => h.reply_to_msg_id,
        _ => None,
    };
    let buttons = match &m.reply_markup {
        Some(_) => to_lua(lua, &e.fields()["buttons"])?,
        None => Value::Nil,
    };
    let kind = crate::event::kind_name(e.kind);
    let sender = e.sender();
    // Built in one go (a tuple's conversion grows its list one value at a time).
    let mut args = MultiValue::with_capacity(16);
    args.push_back(Value::Function(handler));
    args.push_back(id.into_lua(lua)?);
    args.push_back(kind.into_lua(lua)?);
    args.push_back(Value::Integer(m.id.into()));
    args.push_back(l.chat_id.into_lua(lua)?);
    args.push_back(l.sender_id.into_lua(lua)?);
    args.push_back(l.text.as_str().into_lua(lua)?);
    args.push_back(Value::Boolean(m.out));
    args.push_back(Value::Integer(m.date.into()));
    args.push_back(reply_to.into_lua(lua)?);
    args.push_back(Value::Boolean(m.media.is_some()));
    args.push_back(l.chat_type.as_str().into_lua(lua)?);
    args.push_back(buttons);
    args.push_back(sender.name.as_deref().into_lua(lua)?);
    args.push_back(sender.username.as_deref().into_lua(lua)?);
    args.push_back(Value::Boolean(m.mentioned));
    Ok(Some(args))
}

/// Coroutines kept for reuse by a script's handlers.
const THREAD_POOL: usize = 256;

/// A Lua error as a script error: the message without mlua's wrapping, the line from the
/// message or, for an error raised by an API function, from the traceback.
pub fn script_error(file: &str, e: &mlua::Error) -> ScriptError {
    let mut se = ScriptError::parse(file, &lua_error_text(e));
    if se.line.is_none() {
        if let mlua::Error::CallbackError { traceback, .. } = e {
            let at = ScriptError::parse(file, traceback);
            if at.line.is_some() {
                se.line = at.line;
            }
        }
    }
    se
}

/// The message of a Lua error without mlua's wrapping.
pub fn lua_error_text(e: &mlua::Error) -> String {
    let text = lua_error_text_full(e);
    match text.find("\nstack traceback:") {
        Some(i) => text[..i].trim_end().to_string(),
        None => text.trim_end().to_string(),
    }
}

fn lua_error_text_full(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        mlua::Error::RuntimeError(m) if m.contains("not enough memory") => {
            "memory limit exceeded".into()
        }
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => m.clone(),
        mlua::Error::MemoryError(m) => format!("memory limit exceeded ({m})"),
        mlua::Error::WithContext { cause, context } => {
            format!("{context}: {}", lua_error_text(cause))
        }
        other => other.to_string(),
    }
}

impl Vm for LuaVm {
    fn language(&self) -> &'static str {
        "lua"
    }

    fn handlers(&self) -> &[HandlerSpec] {
        &self.handlers
    }

    fn jobs(&self) -> &[JobSpec] {
        &self.jobs
    }

    fn files(&self) -> Vec<PathBuf> {
        self.files.lock().expect("not poisoned").clone()
    }

    fn run_handlers(
        self: Arc<Self>,
        indices: Vec<(usize, bool)>,
        event: Arc<crate::event::EventData>,
        me: Option<String>,
    ) -> BoxFuture<'static, Vec<Outcome>> {
        let first = indices.first().map_or(0, |i| i.0);
        let file = self.file.clone();
        let worker = self.worker.clone();
        let w = worker.run(move || self.handlers_here(indices, event, me));
        Box::pin(async move {
            w.await.unwrap_or_else(|_| {
                vec![Outcome {
                    index: first,
                    took: Duration::ZERO,
                    result: Err(ScriptError::new(file, None, "the script's thread ended")),
                }]
            })
        })
    }

    fn run_job(
        self: Arc<Self>,
        index: usize,
        run: JobRun,
    ) -> BoxFuture<'static, Result<(), ScriptError>> {
        let file = self.file.clone();
        let worker = self.worker.clone();
        let w = worker.run(move || {
            Box::pin(async move {
                JOB_RUN
                    .scope(run, self.run_here(index, None, Instant::now()))
                    .await
                    .map(drop)
            })
        });
        Box::pin(async move {
            w.await
                .unwrap_or_else(|_| Err(ScriptError::new(file, None, "the script's thread ended")))
        })
    }

    fn busy_for(&self) -> Option<Duration> {
        self.worker.busy_for()
    }
}

mod convert;

pub use convert::{from_lua, tl_to_lua, to_lua, MAX_DEPTH};
