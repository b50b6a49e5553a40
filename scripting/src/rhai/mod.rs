//! Rhai scripts: the same API as Lua (`on`, `call`, `send`, `msg.reply`, `kv::get`,
//! `log::info`, `fleet::account(name).call(...)`, filters combined with `&`, `|`, `!`).
//!
//! Rhai is synchronous: a script's top level, filters, handlers and jobs run one at a time
//! on the script's own thread ([`crate::worker`]), where an API call blocks that thread
//! only. Sandbox: no file access (only `import` of `.rhai` files next to the script),
//! operation limit per handler, a wall-clock deadline checked on progress, size limits on
//! strings, arrays and maps.

use crate::api::{ApiError, JobRun, ScriptCtx, JOB_RUN};
use crate::filter::Filter;
use crate::vm::{
    parse_cron, parse_duration, HandlerSpec, JobSpec, Limits, Outcome, ScriptError, Timing, Vm,
};
use crate::worker::Worker;
use fleetgram_engine::fleet::BoxFuture;
use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContext, Position, Scope, AST};
use serde_json::{json, Value as Json};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

thread_local! {
    /// When the handler running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Set by `msg.stop()` in the handler running on this thread.
    static STOPPED: Cell<bool> = const { Cell::new(false) };
}

pub(crate) type RResult<T> = Result<T, Box<EvalAltResult>>;

/// JSON -> Rhai.
pub fn to_rhai(v: &Json) -> Dynamic {
    rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT)
}

/// A TL value (the schema's dynamic form) -> Rhai, directly: the same shape as through JSON
/// (`#{"_": name, field: value}`; `bytes` as base64 text, `int128`/`int256` as hex; a double
/// that is not a number as `()`).
pub fn tl_to_rhai(v: &fleetgram_tl::dynamic::Value) -> Dynamic {
    use fleetgram_tl::dynamic::json::{to_base64, to_hex};
    use fleetgram_tl::dynamic::Value as Tl;
    match v {
        Tl::Int(x) => Dynamic::from(rhai::INT::from(*x)),
        Tl::Long(x) => Dynamic::from(*x as rhai::INT),
        Tl::Double(x) if x.is_finite() => Dynamic::from(*x as rhai::FLOAT),
        Tl::Double(_) => Dynamic::UNIT,
        Tl::String(s) => s.clone().into(),
        Tl::Bytes(b) => to_base64(b).into(),
        Tl::Bool(b) => Dynamic::from(*b),
        Tl::Int128(b) => to_hex(b).into(),
        Tl::Int256(b) => to_hex(&b[..]).into(),
        Tl::Vector(items) => Dynamic::from_array(items.iter().map(tl_to_rhai).collect()),
        Tl::Object(o) => {
            let mut m = rhai::Map::new();
            m.insert("_".into(), o.name.to_string().into());
            for (k, x) in &o.fields {
                m.insert(k.as_ref().into(), tl_to_rhai(x));
            }
            Dynamic::from_map(m)
        }
    }
}

/// A message event as the map handlers get, built from the update itself (no JSON on the
/// way): the same fields as [`crate::event::EventData::fields`]. `None` for other events.
pub fn message_map(e: &crate::event::EventData) -> Option<rhai::Map> {
    use fleetgram_tl::enums;
    let d = e.update()?;
    let Some(enums::Message::Message(m)) = d.message() else {
        return None;
    };
    let v = &e.view;
    let opt = |x: Option<i64>| x.map_or(Dynamic::UNIT, Dynamic::from);
    let text = |x: Option<&str>| x.map_or(Dynamic::UNIT, |s| s.to_string().into());
    let reply_to = match &m.reply_to {
        Some(enums::MessageReplyHeader::MessageReplyHeader(h)) => h.reply_to_msg_id,
        _ => None,
    };
    let buttons = match &m.reply_markup {
        Some(_) => to_rhai(&e.fields()["buttons"]),
        None => Dynamic::from_array(vec![]),
    };
    let sender = e.sender();
    let mut o = rhai::Map::new();
    let mut put = |k: &str, x: Dynamic| {
        o.insert(k.into(), x);
    };
    put("kind", crate::event::kind_name(e.kind).into());
    put("id", Dynamic::from(rhai::INT::from(m.id)));
    put("chat_id", opt(v.chat_id));
    put("sender_id", opt(v.sender_id));
    put("text", m.message.clone().into());
    put("out", Dynamic::from(m.out));
    put("date", Dynamic::from(rhai::INT::from(m.date)));
    put("reply_to", opt(reply_to.map(i64::from)));
    put("mentioned", Dynamic::from(m.mentioned));
    put("has_media", Dynamic::from(m.media.is_some()));
    put("chat_type", v.chat_type.as_str().into());
    put("buttons", buttons);
    put("service", Dynamic::from(false));
    put("sender_name", text(sender.name.as_deref()));
    put("sender_username", text(sender.username.as_deref()));
    Some(o)
}

/// An event as handlers get it (with `raw` when the script reads it).
fn event_value(e: &crate::event::EventData, with_raw: bool) -> Dynamic {
    let mut m = match message_map(e) {
        Some(m) => m,
        None => match to_rhai(e.fields()).try_cast::<rhai::Map>() {
            Some(m) => m,
            None => return Dynamic::UNIT,
        },
    };
    if with_raw {
        let raw = match e.raw_value() {
            Some(v) => tl_to_rhai(&v),
            None => to_rhai(&e.raw()),
        };
        m.insert("raw".into(), raw);
    }
    Dynamic::from_map(m)
}

/// Rhai -> JSON.
pub fn from_rhai(v: &Dynamic) -> Result<Json, String> {
    if v.is_unit() {
        return Ok(Json::Null);
    }
    if v.is::<FnPtr>() || v.is::<Filter>() {
        return Err(format!(
            "a {} cannot be passed to Telegram (expected a map, string, number or boolean)",
            v.type_name()
        ));
    }
    rhai::serde::from_dynamic(v).map_err(|e| format!("{e} (a Rhai {} value)", v.type_name()))
}

/// Runs `fut` to completion from synchronous Rhai code (on the script's thread).
/// Waits for `fut` on this (the script's) thread. The wait is not script time: the run's
/// deadline moves by as long, and the worker is not busy meanwhile.
pub(crate) fn block<T>(fut: impl std::future::Future<Output = T>) -> T {
    let (v, waited) = crate::worker::wait_on(fut);
    DEADLINE.with(|d| d.set(d.get().map(|t| t + waited)));
    v
}

pub(crate) fn at(ctx: &NativeCallContext, file: &str) -> String {
    let pos = ctx.call_position();
    match pos.line() {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

/// An API error as a catchable Rhai error (a map with kind, code, name, value, message).
pub(crate) fn raise(e: ApiError, at: &str, pos: Position) -> Box<EvalAltResult> {
    let mut j = e.to_json();
    j["message"] = json!(format!("{at}: {e}"));
    EvalAltResult::ErrorRuntime(to_rhai(&j), pos).into()
}

pub(crate) fn api(
    ctx: &NativeCallContext,
    file: &str,
    r: Result<Json, ApiError>,
) -> RResult<Dynamic> {
    r.map(|v| to_rhai(&v))
        .map_err(|e| raise(e, &at(ctx, file), ctx.call_position()))
}

/// A registered handler or job: what it is, its function and the line of its `on`/`cron`
/// (reported for errors Rhai gives no position, like the operation limit).
type Entry<T> = (T, (FnPtr, Option<u32>));

struct Registered {
    handlers: Vec<Entry<HandlerSpec>>,
    jobs: Vec<Entry<JobSpec>>,
}

/// Records the files `import` loads (so the watcher reloads on their change).
struct TrackingResolver {
    inner: rhai::module_resolvers::FileModuleResolver,
    files: Arc<Mutex<Vec<PathBuf>>>,
}

impl rhai::ModuleResolver for TrackingResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> RResult<rhai::Shared<rhai::Module>> {
        if path.contains("..") || path.starts_with('/') {
            return Err(EvalAltResult::ErrorModuleNotFound(path.into(), pos).into());
        }
        let file = self.inner.get_file_path(path, source.map(Path::new));
        self.files.lock().expect("not poisoned").push(file);
        self.inner.resolve(engine, source, path, pos)
    }
}

/// A loaded Rhai script.
pub struct RhaiVm {
    engine: Arc<Engine>,
    ast: Arc<AST>,
    file: String,
    files: Arc<Mutex<Vec<PathBuf>>>,
    handlers: Vec<HandlerSpec>,
    handler_fns: Vec<(FnPtr, Option<u32>)>,
    jobs: Vec<JobSpec>,
    job_fns: Vec<(FnPtr, Option<u32>)>,
    limits: Limits,
    worker: Worker,
    /// Whether the script (or a module it imports) mentions `raw`: only then is an event's
    /// `raw` (the whole TL update as a map, the costliest part) built for it.
    wants_raw: bool,
}

/// Whether any of `files` mentions the word `raw` (a property read or an index by name).
fn mentions_raw(files: &[PathBuf]) -> bool {
    files.iter().any(|f| {
        std::fs::read_to_string(f).map_or(true, |text| {
            text.match_indices("raw").any(|(i, _)| {
                let before = text[..i].chars().next_back();
                let after = text[i + 3..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(before) && !word(after)
            })
        })
    })
}

/// Where script-defined filter functions find their engine and AST.
type Home = Arc<OnceLock<(Arc<Engine>, Arc<AST>)>>;

fn to_filter(home: &Home, v: Dynamic) -> Result<Filter, String> {
    if let Some(f) = v.clone().try_cast::<Filter>() {
        return Ok(f);
    }
    let Some(fp) = v.try_cast::<FnPtr>() else {
        return Err("expected a filter or a function".into());
    };
    let home = home.clone();
    Ok(Filter::Custom(crate::filter::Leaf::Func(Arc::new(
        move |ev: &Json| {
            let Some((engine, ast)) = home.get() else {
                return false;
            };
            match fp.call::<Dynamic>(engine, ast, (to_rhai(ev),)) {
                Ok(v) => v.as_bool().unwrap_or(!v.is_unit()),
                Err(e) => {
                    tracing::warn!(error = %e, "filter function failed; treating as no match");
                    false
                }
            }
        },
    ))))
}

impl RhaiVm {
    /// Loads `path`: compiles it and runs its top level (which registers handlers and jobs).
    ///
    /// # Errors
    /// A syntax or runtime error with file and line.
    ///
    /// Runs on `worker`'s thread (see [`RhaiVm::start`]).
    fn load(
        path: &Path,
        ctx: ScriptCtx,
        limits: Limits,
        worker: Worker,
    ) -> Result<Arc<RhaiVm>, ScriptError> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path)
            .map_err(|e| ScriptError::new(&file, None, format!("cannot read: {e}")))?;
        let registered = Arc::new(Mutex::new(Registered {
            handlers: vec![],
            jobs: vec![],
        }));
        let files = Arc::new(Mutex::new(vec![path.to_path_buf()]));
        let home: Home = Arc::new(OnceLock::new());
        let mut engine = Engine::new();
        engine
            .set_max_operations(limits.max_ops)
            .set_max_call_levels(64)
            .set_max_expr_depths(128, 64)
            .set_max_string_size(1 << 20)
            // (Rhai counts blob bytes against the same limit: files up to 8 MiB.)
            .set_max_array_size(8 << 20)
            .set_max_map_size(100_000)
            .set_max_modules(32);
        engine.on_progress(move |_| {
            let late = DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() > t));
            late.then(|| Dynamic::from(format!("handler timed out after {:?}", limits.timeout)))
        });
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut resolver = rhai::module_resolvers::FileModuleResolver::new_with_path(dir);
        resolver.enable_cache(false);
        engine.set_module_resolver(TrackingResolver {
            inner: resolver,
            files: files.clone(),
        });
        register(&mut engine, &ctx, &file, &registered, &home);
        let ast = engine.compile(&source).map_err(|e| {
            ScriptError::new(
                &file,
                e.position().line().map(|l| l as u32),
                e.err_type().to_string(),
            )
        })?;
        let engine = Arc::new(engine);
        let ast = Arc::new(ast.clone());
        let _ = home.set((engine.clone(), ast.clone()));
        let mut scope = Scope::new();
        scope.push_constant("config", to_rhai(&ctx.settings));
        scope.push_constant("account", to_rhai(&ctx.account_info()));
        for (name, f) in base_filters() {
            scope.push_constant(name, f);
        }
        DEADLINE.with(|d| d.set(Some(Instant::now() + limits.timeout)));
        let r = engine.run_ast_with_scope(&mut scope, &ast);
        DEADLINE.with(|d| d.set(None));
        r.map_err(|e| rhai_error(&file, &e))?;
        let r = std::mem::replace(
            &mut *registered.lock().expect("not poisoned"),
            Registered {
                handlers: vec![],
                jobs: vec![],
            },
        );
        let (handlers, handler_fns) = r.handlers.into_iter().unzip();
        let (jobs, job_fns) = r.jobs.into_iter().unzip();
        let wants_raw = {
            let mut all = files.lock().expect("not poisoned").clone();
            all.push(PathBuf::from(&file));
            mentions_raw(&all)
        };
        Ok(Arc::new(RhaiVm {
            wants_raw,
            engine,
            ast,
            file,
            files,
            handlers,
            handler_fns,
            jobs,
            job_fns,
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
    ) -> Result<Arc<RhaiVm>, ScriptError> {
        let name = ctx.script.clone();
        crate::worker::load_on_worker(path, &name, move |path, w| {
            Box::pin(async move { RhaiVm::load(&path, ctx, limits, w) })
        })
        .await
    }

    /// Runs the handlers `indices` that want `event`, in order, on this thread.
    fn handlers_here(
        &self,
        indices: Vec<(usize, bool)>,
        event: &crate::event::EventData,
        me: Option<&str>,
    ) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(indices.len());
        let mut value = None;
        // Every filter judges the event as it arrived, before the first handler runs.
        let mut chosen = Vec::with_capacity(indices.len());
        for (index, check) in indices {
            let start = Instant::now();
            if check {
                DEADLINE.with(|d| d.set(Some(Instant::now() + self.limits.timeout)));
                let ok = crate::filter::matches(&self.handlers[index].filter, event, me);
                DEADLINE.with(|d| d.set(None));
                if !ok {
                    continue;
                }
            }
            chosen.push((index, start.elapsed()));
        }
        for (index, filtered) in chosen {
            let start = Instant::now();
            let ev = value
                .get_or_insert_with(|| event_value(event, self.wants_raw))
                .clone();
            STOPPED.with(|s| s.set(false));
            let result = self.run(&self.handler_fns[index], Some(ev));
            out.push(Outcome {
                index,
                took: filtered + start.elapsed(),
                result,
            });
            if STOPPED.with(|s| s.replace(false)) {
                break;
            }
        }
        out
    }

    fn run(
        &self,
        (f, line): &(FnPtr, Option<u32>),
        event: Option<Dynamic>,
    ) -> Result<(), ScriptError> {
        DEADLINE.with(|d| d.set(Some(Instant::now() + self.limits.timeout)));
        let r = match event {
            Some(e) => f.call::<Dynamic>(&self.engine, &self.ast, (e,)),
            None => f.call::<Dynamic>(&self.engine, &self.ast, ()),
        };
        DEADLINE.with(|d| d.set(None));
        r.map(|_| ()).map_err(|e| {
            let mut se = rhai_error(&self.file, &e);
            if se.line.is_none() {
                se.line = *line;
            }
            se
        })
    }
}

/// A Rhai error as a script error (file, line, message; an API error's own message).
fn rhai_error(file: &str, e: &EvalAltResult) -> ScriptError {
    // The innermost error (a handler calling a function calling another...): where the
    // script really failed.
    let mut inner = e;
    while let EvalAltResult::ErrorInFunctionCall(_, _, next, _)
    | EvalAltResult::ErrorInModule(_, next, _) = inner
    {
        inner = next.as_ref();
    }
    let line = inner
        .position()
        .line()
        .or(e.position().line())
        .map(|l| l as u32);
    let message = match inner {
        EvalAltResult::ErrorRuntime(v, _) => match v.clone().try_cast::<Map>() {
            Some(m) => m
                .get("message")
                .map(ToString::to_string)
                .unwrap_or_else(|| v.to_string()),
            None => v.to_string(),
        },
        EvalAltResult::ErrorTooManyOperations(_) => {
            "operation limit exceeded; endless loop?".to_string()
        }
        EvalAltResult::ErrorTerminated(v, _) => v.to_string(),
        // Rhai appends "(line L, position P)", which the report gives already.
        other => {
            let text = other.to_string();
            match text.rfind(" (line ") {
                Some(i) if text.ends_with(')') => text[..i].to_string(),
                _ => text,
            }
        }
    };
    // An API error's message already says where; keep it as it is.
    if let Some(rest) = message.strip_prefix(file) {
        if let Some(l) = rest
            .strip_prefix(':')
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse().ok())
        {
            let msg = rest.splitn(3, ':').nth(2).unwrap_or("").trim().to_string();
            return ScriptError::new(file, Some(l), msg);
        }
    }
    ScriptError::new(file, line, message)
}

/// Registers `name` for Rhai with a body that returns an API result (raised as a catchable
/// error with the script's place).
macro_rules! with_ctx {
    ($engine:expr, $ctx:expr, $file:expr, $name:expr, |$c:ident, $x:ident $(, $a:ident : $t:ty)*| $body:expr) => {{
        let ctx = $ctx.clone();
        let f: String = $file.to_string();
        $engine.register_fn($name, move |$x: rhai::NativeCallContext $(, $a: $t)*| -> Result<rhai::Dynamic, Box<rhai::EvalAltResult>> {
            let $c = &ctx;
            let file = &f;
            let r: Result<serde_json::Value, $crate::api::ApiError> = (|| $body)();
            $crate::rhai::api(&$x, file, r)
        });
    }};
}
pub(crate) use with_ctx;

/// A Rhai value as JSON, or the script's error (inside a [`with_ctx`] body).
macro_rules! j {
    ($x:expr, $v:expr) => {
        $crate::rhai::from_rhai($v).map_err($crate::api::ApiError::Bad)?
    };
}
pub(crate) use j;

/// What the API areas' Rhai registrations use.
pub(crate) mod bind {
    pub(crate) use super::{at, block, from_rhai, j, raise, to_rhai, with_ctx, RResult};
    pub(crate) use rhai::{Dynamic, Engine, NativeCallContext, Position};
}

// The API wrappers run their body in a closure so `?` works inside it.
#[allow(clippy::redundant_closure_call)]
fn register(
    engine: &mut Engine,
    ctx: &ScriptCtx,
    file: &str,
    registered: &Arc<Mutex<Registered>>,
    home: &Home,
) {
    let f = file.to_string();
    engine.register_type_with_name::<Filter>("Filter");

    // The API, area by area (each area registers its Lua and Rhai functions together).
    crate::api::register_rhai(engine, ctx, &f);
    // The script's later handlers do not get this event.
    engine.register_fn("stop", |_msg: &mut Map| STOPPED.with(|s| s.set(true)));
    // Rhai's own `sleep(INT/FLOAT)` would block the thread as script time: these replace
    // it (the exact types matter: Rhai prefers a built-in of the exact type over a
    // registered function taking Dynamic).
    fn sleep_secs(s: f64) {
        if s.is_finite() && s > 0.0 {
            block(tokio::time::sleep(std::time::Duration::from_secs_f64(
                s.min(86400.0),
            )));
        }
    }
    engine.register_fn("sleep", |secs: rhai::INT| sleep_secs(secs as f64));
    engine.register_fn("sleep", |secs: rhai::FLOAT| sleep_secs(secs));
    let c = ctx.clone();
    engine.register_fn("config", move || to_rhai(&c.settings));
    let c = ctx.clone();
    engine.register_fn("account", move || to_rhai(&c.account_info()));

    // kv::, log::, fleet:: as static modules (usable inside functions too).
    let mut log = rhai::Module::new();
    for level in ["info", "warn", "error"] {
        let c = ctx.clone();
        log.set_native_fn(level, move |v: Dynamic| {
            let text = v.clone().into_string().unwrap_or_else(|_| v.to_string());
            c.log(level, &text);
            Ok(())
        });
    }
    engine.register_static_module("log", log.into());
    let c = ctx.clone();
    engine.on_print(move |s| c.log("info", s));
    let c = ctx.clone();
    engine.on_debug(move |s, _, _| c.log("info", s));

    // on / cron / every.
    let reg = registered.clone();
    let h = home.clone();
    let on = move |line: Option<u32>,
                   kind: &str,
                   filter: Option<Dynamic>,
                   handler: FnPtr|
          -> RResult<()> {
        let k = crate::event::kind_by_name(kind).ok_or_else(|| {
            format!(
                "on: unknown update kind {kind:?}; expected one of {}",
                crate::event::KINDS.join(", ")
            )
        })?;
        let filter = match filter {
            None => Filter::All,
            Some(d) => to_filter(&h, d)?,
        };
        reg.lock()
            .expect("not poisoned")
            .handlers
            .push((HandlerSpec { kind: k, filter }, (handler, line)));
        Ok(())
    };
    let line = |c: &NativeCallContext| c.call_position().line().map(|l| l as u32);
    let on2 = on.clone();
    engine.register_fn(
        "on",
        move |c: NativeCallContext, kind: &str, handler: FnPtr| on2(line(&c), kind, None, handler),
    );
    engine.register_fn(
        "on",
        move |c: NativeCallContext, kind: &str, filter: Dynamic, handler: FnPtr| {
            on(line(&c), kind, Some(filter), handler)
        },
    );
    let reg = registered.clone();
    let cron =
        move |line: Option<u32>, expr: &str, tz: Option<String>, handler: FnPtr| -> RResult<()> {
            let timing = parse_cron(expr, tz.as_deref())?;
            let mut r = reg.lock().expect("not poisoned");
            let key = format!("cron:{}:{expr}", r.jobs.len());
            r.jobs.push((JobSpec { key, timing }, (handler, line)));
            Ok(())
        };
    let cron2 = cron.clone();
    engine.register_fn(
        "cron",
        move |c: NativeCallContext, expr: &str, handler: FnPtr| {
            cron2(line(&c), expr, None, handler)
        },
    );
    engine.register_fn(
        "cron",
        move |c: NativeCallContext, expr: &str, opts: Map, handler: FnPtr| {
            let tz = opts.get("tz").map(|t| t.to_string());
            cron(line(&c), expr, tz, handler)
        },
    );
    let reg = registered.clone();
    engine.register_fn(
        "every",
        move |c: NativeCallContext, every: Dynamic, handler: FnPtr| -> RResult<()> {
            let d = parse_duration(&from_rhai(&every)?)?;
            let mut r = reg.lock().expect("not poisoned");
            let key = format!("every:{}:{}", r.jobs.len(), d.as_millis());
            r.jobs.push((
                JobSpec {
                    key,
                    timing: Timing::Every(d),
                },
                (handler, line(&c)),
            ));
            Ok(())
        },
    );

    // Filters: values (also as functions, for code inside `fn`s) and constructors,
    // combined with & | !.
    for (name, filter) in base_filters() {
        engine.register_fn(name, move || filter.clone());
    }
    // os::time(), os::clock(), os::date(fmt) as in Lua.
    let mut os = rhai::Module::new();
    os.set_native_fn("time", || Ok(chrono::Utc::now().timestamp()));
    let started = Instant::now();
    os.set_native_fn("clock", move || Ok(started.elapsed().as_secs_f64()));
    os.set_native_fn("date", |fmt: &str| Ok(lua_date(fmt)));
    engine.register_static_module("os", os.into());
    engine.register_fn("command", |c: &str| Filter::Command(c.to_string()));
    engine.register_fn("text_contains", |t: &str| {
        Filter::TextContains(t.to_string())
    });
    engine.register_fn("regex", |p: &str| -> RResult<Filter> {
        Ok(crate::filter::regex(p)?)
    });
    for (name, senders) in [("from_users", true), ("chats", false)] {
        engine.register_fn(name, move |ids: rhai::Array| -> RResult<Filter> {
            let (ids, refs) = peer_list(&ids, name)?;
            Ok(crate::filter::peers(senders, ids, refs))
        });
        engine.register_fn(name, move |one: Dynamic| -> RResult<Filter> {
            let (ids, refs) = peer_list(&[one], name)?;
            Ok(crate::filter::peers(senders, ids, refs))
        });
    }
    let h = home.clone();
    engine.register_fn("filter", move |f: FnPtr| -> RResult<Filter> {
        Ok(to_filter(&h, Dynamic::from(f))?)
    });
    engine.register_fn("&", |a: Filter, b: Filter| a & b);
    engine.register_fn("|", |a: Filter, b: Filter| a | b);
    engine.register_fn("!", |a: Filter| !a);
    engine.register_fn("to_string", |a: &mut Filter| format!("filter {a:?}"));
}

/// The filters that are values rather than constructors.
/// (`private` is a Rhai keyword: Rhai scripts write `private_chat`, which Lua has too.)
fn base_filters() -> [(&'static str, Filter); 8] {
    [
        ("private_chat", Filter::Private),
        ("group", Filter::Group),
        ("channel", Filter::Channel),
        ("incoming", Filter::Incoming),
        ("outgoing", Filter::Outgoing),
        ("has_media", Filter::HasMedia),
        ("mentioned", Filter::Mentioned),
        ("all", Filter::All),
    ]
}

/// `os.date(fmt)` as Lua does it: a leading `!` means UTC (this host formats every date in
/// UTC); `%` codes as strftime.
fn lua_date(fmt: &str) -> String {
    let fmt = fmt.strip_prefix('!').unwrap_or(fmt);
    let fmt = if fmt.is_empty() || fmt == "%c" {
        "%a %b %e %H:%M:%S %Y"
    } else {
        fmt
    };
    chrono::Utc::now().format(fmt).to_string()
}

impl Vm for RhaiVm {
    fn language(&self) -> &'static str {
        "rhai"
    }

    fn handlers(&self) -> &[HandlerSpec] {
        &self.handlers
    }

    fn jobs(&self) -> &[JobSpec] {
        &self.jobs
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut f = self.files.lock().expect("not poisoned").clone();
        f.sort();
        f.dedup();
        f
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
        let w = worker.run(move || {
            Box::pin(async move { self.handlers_here(indices, &event, me.as_deref()) })
        });
        Box::pin(async move {
            w.await.unwrap_or_else(|_| {
                vec![Outcome {
                    index: first,
                    took: std::time::Duration::ZERO,
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
            Box::pin(JOB_RUN.scope(run, async move { self.run(&self.job_fns[index], None) }))
        });
        Box::pin(async move {
            w.await
                .unwrap_or_else(|_| Err(ScriptError::new(file, None, "the script's thread ended")))
        })
    }

    fn busy_for(&self) -> Option<std::time::Duration> {
        self.worker.busy_for()
    }
}

/// The peers `chats([...])` / `from_users([...])` name: marked ids and references
/// (`"@name"`, a t.me link, `"me"`).
fn peer_list(list: &[Dynamic], what: &str) -> RResult<(Vec<i64>, Vec<String>)> {
    let (mut ids, mut refs) = (Vec::new(), Vec::new());
    for x in list {
        if let Ok(i) = x.as_int() {
            ids.push(i);
        } else if x.is_string() {
            refs.push(x.clone().into_string().unwrap_or_default());
        } else {
            return Err(format!(
                "{what}: expected marked ids or peer references (\"@username\", a t.me link, \"me\"), got {}",
                x.type_name()
            )
            .into());
        }
    }
    Ok((ids, refs))
}

/// The names of the functions the API registers for Rhai scripts (`send`, `kv::get`,
/// ...; operators and property getters left out), for checking the reference against.
pub fn api_names(ctx: &ScriptCtx) -> std::collections::BTreeSet<String> {
    let mut engine = Engine::new();
    let registered = Arc::new(Mutex::new(Registered {
        handlers: vec![],
        jobs: vec![],
    }));
    register(&mut engine, ctx, "api.rhai", &registered, &Arc::default());
    engine
        .gen_fn_signatures(false)
        .into_iter()
        .filter_map(|sig| sig.split('(').next().map(str::to_string))
        .filter(|n| n.starts_with(|c: char| c.is_alphabetic()) && !n.contains('$'))
        .collect()
}
