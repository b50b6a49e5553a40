//! The Lua sandbox's budget: every piece of script code (the top level, filters, handlers,
//! jobs, the coroutines they make) runs inside a *run* that counts its instructions and
//! watches its deadline and its memory, from one count hook on the state that every Lua
//! thread inherits. A run that is over any limit is *killed*: the hook raises again and
//! again, and `pcall`, `xpcall` and `coroutine.resume`/`close` (wrapped by the prelude)
//! re-raise, so a script cannot catch its way past the limit. Library functions that could
//! run for long inside C (pattern matching, `table.move`, `load`) are replaced or charged,
//! and `__gc` metamethods, which Lua runs with hooks off, are refused.

use crate::lpattern::{self, Capture, Matcher};
use mlua::{Function, Lua, MultiValue, Table, Value};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Instructions between two calls of the hook.
const HOOK_EVERY: u64 = 1000;

/// The budget of one run of script code.
pub struct Run {
    ops: Cell<u64>,
    max_ops: u64,
    timeout: Duration,
    deadline: Instant,
    /// Time the run spent waiting (for Telegram, `sleep`, a conversation): it does not
    /// count against `timeout`, which bounds the time its code runs.
    waited: Cell<Duration>,
    /// Since when the run has been waiting (its future returned pending).
    waiting_since: Cell<Option<Instant>>,
    /// Memory (bytes) past which the run is stopped with a line number (the state's hard
    /// limit, a little higher, stops allocations).
    memory: usize,
    killed: RefCell<Option<String>>,
    /// Whether `killed` says where the run was stopped.
    located: Cell<bool>,
}

impl Run {
    /// A run with these limits, starting now.
    pub fn new(max_ops: u64, timeout: Duration, memory: usize) -> Rc<Run> {
        Self::starting(Instant::now(), max_ops, timeout, memory)
    }

    /// A run with these limits, starting at `now`.
    pub fn starting(now: Instant, max_ops: u64, timeout: Duration, memory: usize) -> Rc<Run> {
        Rc::new(Run {
            ops: Cell::new(0),
            max_ops,
            timeout,
            deadline: now + timeout,
            waited: Cell::new(Duration::ZERO),
            waiting_since: Cell::new(None),
            memory,
            killed: RefCell::new(None),
            located: Cell::new(false),
        })
    }

    /// Counts `n` instructions' worth of work; the error once the run is over a limit (and
    /// every time after).
    pub fn charge(&self, n: u64) -> Result<(), String> {
        if let Some(why) = self.killed.borrow().as_ref() {
            return Err(why.clone());
        }
        let ops = self.ops.get() + n;
        self.ops.set(ops);
        if ops > self.max_ops {
            return Err(self.kill(format!(
                "instruction limit exceeded ({} instructions); endless loop?",
                self.max_ops
            )));
        }
        if Instant::now() > self.deadline + self.waited.get() {
            return Err(self.kill(format!("handler timed out after {:?}", self.timeout)));
        }
        Ok(())
    }

    fn kill(&self, why: String) -> String {
        *self.killed.borrow_mut() = Some(why.clone());
        why
    }

    /// Keeps `text` (the reason with the place it was raised at) as the reason, once.
    fn locate(&self, text: &str) {
        if !self.located.replace(true) {
            *self.killed.borrow_mut() = Some(text.to_string());
        }
    }

    /// Why the run was stopped, if it was.
    pub fn killed(&self) -> Option<String> {
        self.killed.borrow().clone()
    }
}

thread_local! {
    /// The run whose code this thread is executing (null outside runs).
    static CURRENT: Cell<*const Run> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` as part of `run`.
pub fn within<T>(run: &Rc<Run>, f: impl FnOnce() -> T) -> T {
    let prev = CURRENT.with(|c| c.replace(Rc::as_ptr(run)));
    let r = f();
    CURRENT.with(|c| c.set(prev));
    r
}

/// Charges the current run (free outside runs).
pub fn charge(n: u64) -> Result<(), String> {
    CURRENT.with(|c| {
        let p = c.get();
        if p.is_null() {
            return Ok(());
        }
        // SAFETY: `within` and `Budgeted` keep the run alive while it is current.
        unsafe { &*p }.charge(n)
    })
}

/// A future whose polls are part of `run`.
pub struct Budgeted<F> {
    /// The run.
    pub run: Rc<Run>,
    /// What runs.
    pub fut: Pin<Box<F>>,
}

impl<F: Future> Future for Budgeted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let run = self.run.clone();
        if let Some(t) = run.waiting_since.take() {
            run.waited.set(run.waited.get() + t.elapsed());
        }
        let r = within(&run, || self.fut.as_mut().poll(cx));
        if r.is_pending() {
            run.waiting_since.set(Some(Instant::now()));
        }
        r
    }
}

/// `fut`, given up at `deadline`; the timer is set only if `fut` has to wait (most handlers
/// finish in their first poll, and a timer costs a trip through the runtime's clock).
pub struct LazyDeadline<F> {
    fut: F,
    start: Instant,
    bound: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<F> LazyDeadline<F> {
    /// `fut` bounded by `bound` from `start`.
    pub fn new(fut: F, start: Instant, bound: Duration) -> Self {
        Self {
            fut,
            start,
            bound,
            sleep: None,
        }
    }
}

impl<F: Future + Unpin> Future for LazyDeadline<F> {
    /// `None` when the deadline came first.
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = Pin::new(&mut self.fut).poll(cx) {
            return Poll::Ready(Some(v));
        }
        let this = &mut *self;
        // What is left of the bound, on the runtime's clock (which tests may pause).
        let (start, bound) = (this.start, this.bound);
        let sleep = this.sleep.get_or_insert_with(|| {
            Box::pin(tokio::time::sleep(bound.saturating_sub(start.elapsed())))
        });
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The hook: charges the current run and raises its error (with the line) when it is over
/// a limit.
unsafe extern "C-unwind" fn hook(state: *mut mlua::ffi::lua_State, ar: *mut mlua::ffi::lua_Debug) {
    let verdict = CURRENT.with(|c| {
        let p = c.get();
        if p.is_null() {
            return None;
        }
        // SAFETY: as in `charge`.
        let run = unsafe { &*p };
        if let Err(e) = run.charge(HOOK_EVERY) {
            return Some((e, p));
        }
        // SAFETY: `state` is the running thread, as the hook is called.
        let kb = unsafe { mlua::ffi::lua_gc(state, mlua::ffi::LUA_GCCOUNT, 0) } as usize;
        if kb.saturating_mul(1024) > run.memory {
            return Some((
                run.kill(format!("memory limit exceeded ({} MiB)", run.memory >> 20)),
                p,
            ));
        }
        None
    });
    let Some((message, run)) = verdict else {
        return;
    };
    // SAFETY: `ar` is the hook's activation record; "Sl" fills the source and line.
    let at = unsafe {
        if mlua::ffi::lua_getinfo(state, c"Sl".as_ptr(), ar) != 0 && (*ar).currentline > 0 {
            let src = std::ffi::CStr::from_ptr((*ar).short_src.as_ptr()).to_string_lossy();
            format!("{src}:{}: ", (*ar).currentline)
        } else {
            String::new()
        }
    };
    let text = format!("{at}{message}");
    if !at.is_empty() {
        // SAFETY: the run is still current (we are inside its poll).
        unsafe { &*run }.locate(&text);
    }
    // SAFETY: the message is copied onto the Lua stack; nothing of Rust's is left to drop
    // when lua_error unwinds out of this frame.
    unsafe {
        mlua::ffi::lua_pushlstring(state, text.as_ptr().cast(), text.len());
        drop(text);
        mlua::ffi::lua_error(state);
    }
}

/// Installs the hook on the state's main thread (every thread made afterwards inherits it).
///
/// # Errors
/// Lua refused (out of memory).
pub fn install(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: sets the count hook of the state `exec_raw` runs on (the main thread).
    unsafe {
        lua.exec_raw::<()>((), |state| {
            mlua::ffi::lua_sethook(
                state,
                Some(hook),
                mlua::ffi::LUA_MASKCOUNT,
                HOOK_EVERY as i32,
            );
        })
    }
}

fn budget_error(e: String) -> mlua::Error {
    mlua::Error::runtime(e)
}

/// The `n`th argument as bytes (numbers are converted, as Lua's string library does).
fn arg_string(lua: &Lua, args: &MultiValue, n: usize, f: &str) -> mlua::Result<mlua::String> {
    let v = args.get(n).cloned().unwrap_or(Value::Nil);
    let type_name = v.type_name();
    match v {
        Value::String(s) => Ok(s),
        v @ (Value::Integer(_) | Value::Number(_)) => {
            Ok(lua.coerce_string(v)?.expect("numbers convert to strings"))
        }
        _ => Err(mlua::Error::runtime(format!(
            "bad argument #{} to '{f}' (string expected, got {})",
            n + 1,
            if type_name == "nil" && n >= args.len() {
                "no value"
            } else {
                type_name
            }
        ))),
    }
}

fn arg_int(lua: &Lua, args: &MultiValue, n: usize, f: &str, default: i64) -> mlua::Result<i64> {
    match args.get(n) {
        None | Some(Value::Nil) => Ok(default),
        Some(v) => match lua.coerce_integer(v.clone())? {
            Some(i) => Ok(i),
            None => Err(mlua::Error::runtime(format!(
                "bad argument #{} to '{f}' (number expected, got {})",
                n + 1,
                v.type_name()
            ))),
        },
    }
}

fn pattern_error(e: lpattern::PatternError) -> mlua::Error {
    mlua::Error::runtime(e.0)
}

fn push_capture(lua: &Lua, src: &[u8], c: Capture) -> mlua::Result<Value> {
    Ok(match c {
        Capture::Text(a, b) => Value::String(lua.create_string(&src[a..b])?),
        Capture::Position(p) => Value::Integer(p as i64),
    })
}

fn captures(
    lua: &Lua,
    m: &Matcher<'_>,
    src: &[u8],
    s: usize,
    e: usize,
    whole: bool,
) -> mlua::Result<MultiValue> {
    let caps = m.captures(s, e, whole).map_err(pattern_error)?;
    caps.into_iter()
        .map(|c| push_capture(lua, src, c))
        .collect::<mlua::Result<Vec<_>>>()
        .map(MultiValue::from_vec)
}

/// `string.find` and `string.match`.
fn find_aux(lua: &Lua, args: MultiValue, find: bool) -> mlua::Result<MultiValue> {
    let name = if find { "find" } else { "match" };
    let s = arg_string(lua, &args, 0, name)?;
    let p = arg_string(lua, &args, 1, name)?;
    let (s, p) = (s.as_bytes(), p.as_bytes());
    let init = lpattern::start_position(arg_int(lua, &args, 2, name, 1)?, s.len()) - 1;
    if init > s.len() {
        return Ok(MultiValue::from_vec(vec![Value::Nil]));
    }
    let plain = args
        .get(3)
        .is_some_and(|v| !matches!(v, Value::Nil | Value::Boolean(false)));
    if find && (plain || lpattern::no_specials(&p)) {
        charge(s.len() as u64 / 64).map_err(budget_error)?;
        return Ok(match memchr::memmem::find(&s[init..], &p) {
            Some(i) => MultiValue::from_vec(vec![
                Value::Integer((init + i + 1) as i64),
                Value::Integer((init + i + p.len()) as i64),
            ]),
            None => MultiValue::from_vec(vec![Value::Nil]),
        });
    }
    let mut budget = charge;
    let (found, m) = lpattern::find(&s, &p, init, &mut budget).map_err(pattern_error)?;
    let Some((start, end)) = found else {
        return Ok(MultiValue::from_vec(vec![Value::Nil]));
    };
    if find {
        let mut out = vec![Value::Integer(start as i64 + 1), Value::Integer(end as i64)];
        out.extend(captures(lua, &m, &s, start, end, false)?);
        Ok(MultiValue::from_vec(out))
    } else {
        captures(lua, &m, &s, start, end, true)
    }
}

/// `string.gmatch`.
fn gmatch(lua: &Lua, args: MultiValue) -> mlua::Result<Function> {
    let s = arg_string(lua, &args, 0, "gmatch")?;
    let p = arg_string(lua, &args, 1, "gmatch")?;
    let len = s.as_bytes().len();
    let mut pos = lpattern::start_position(arg_int(lua, &args, 2, "gmatch", 1)?, len) - 1;
    if pos > len {
        pos = len + 1;
    }
    let mut last: Option<usize> = None;
    lua.create_function_mut(move |lua, ()| {
        let (src, pat) = (s.as_bytes(), p.as_bytes());
        let mut budget = charge;
        let mut m = Matcher::new(&src, &pat, &mut budget);
        while pos <= src.len() {
            m.reset();
            match m.do_match(pos, 0).map_err(pattern_error)? {
                Some(e) if Some(e) != last => {
                    let start = pos;
                    pos = e;
                    last = Some(e);
                    m.settle().map_err(pattern_error)?;
                    return captures(lua, &m, &src, start, e, true);
                }
                _ => pos += 1,
            }
        }
        m.settle().map_err(pattern_error)?;
        Ok(MultiValue::new())
    })
}

/// `string.gsub`.
fn gsub(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, i64)> {
    let s = arg_string(lua, &args, 0, "gsub")?;
    let p = arg_string(lua, &args, 1, "gsub")?;
    let repl = args.get(2).cloned().unwrap_or(Value::Nil);
    if !matches!(
        repl,
        Value::String(_)
            | Value::Integer(_)
            | Value::Number(_)
            | Value::Table(_)
            | Value::Function(_)
    ) {
        return Err(mlua::Error::runtime(format!(
            "bad argument #3 to 'gsub' (string/function/table expected, got {})",
            if args.len() < 3 {
                "no value"
            } else {
                repl.type_name()
            }
        )));
    }
    // Copies: the replacement function may run Lua code while we match.
    let src = s.as_bytes().to_vec();
    let pat_all = p.as_bytes().to_vec();
    let max = arg_int(lua, &args, 3, "gsub", src.len() as i64 + 1)?;
    let (anchor, pat) = match pat_all.first() {
        Some(b'^') => (true, &pat_all[1..]),
        _ => (false, &pat_all[..]),
    };
    let repl_text = match &repl {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => Some(
            lua.coerce_string(repl.clone())?
                .expect("converts")
                .as_bytes()
                .to_vec(),
        ),
        _ => None,
    };
    let mut budget = charge;
    let mut m = Matcher::new(&src, pat, &mut budget);
    let mut out: Vec<u8> = Vec::new();
    let (mut at, mut n, mut last) = (0usize, 0i64, None::<usize>);
    while n < max {
        m.reset();
        let e = m.do_match(at, 0).map_err(pattern_error)?;
        match e {
            Some(e) if Some(e) != last => {
                n += 1;
                match &repl_text {
                    Some(r) => add_text(&m, &src, at, e, r, &mut out)?,
                    None => {
                        let v = match &repl {
                            Value::Table(t) => {
                                let key = push_capture(
                                    lua,
                                    &src,
                                    m.capture(0, at, e).map_err(pattern_error)?,
                                )?;
                                t.get::<Value>(key)?
                            }
                            Value::Function(f) => {
                                f.call::<Value>(captures(lua, &m, &src, at, e, true)?)?
                            }
                            _ => unreachable!("checked above"),
                        };
                        match v {
                            Value::Nil | Value::Boolean(false) => {
                                out.extend_from_slice(&src[at..e])
                            }
                            v @ (Value::String(_) | Value::Integer(_) | Value::Number(_)) => out
                                .extend_from_slice(
                                    &lua.coerce_string(v)?.expect("converts").as_bytes(),
                                ),
                            other => {
                                return Err(mlua::Error::runtime(format!(
                                    "invalid replacement value (a {})",
                                    other.type_name()
                                )))
                            }
                        }
                    }
                }
                at = e;
                last = Some(e);
            }
            _ if at < src.len() => {
                out.push(src[at]);
                at += 1;
            }
            _ => break,
        }
        if anchor {
            break;
        }
    }
    m.settle().map_err(pattern_error)?;
    out.extend_from_slice(&src[at.min(src.len())..]);
    charge(out.len() as u64 / 64).map_err(budget_error)?;
    Ok((Value::String(lua.create_string(&out)?), n))
}

/// A replacement string's `%0`-`%9` and `%%`.
fn add_text(
    m: &Matcher<'_>,
    src: &[u8],
    s: usize,
    e: usize,
    repl: &[u8],
    out: &mut Vec<u8>,
) -> mlua::Result<()> {
    let mut i = 0;
    while i < repl.len() {
        let c = repl[i];
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        match repl.get(i).copied() {
            Some(b'%') => out.push(b'%'),
            Some(b'0') => out.extend_from_slice(&src[s..e]),
            Some(d) if d.is_ascii_digit() => {
                match m
                    .capture((d - b'1') as usize, s, e)
                    .map_err(pattern_error)?
                {
                    Capture::Text(a, b) => out.extend_from_slice(&src[a..b]),
                    Capture::Position(p) => out.extend_from_slice(p.to_string().as_bytes()),
                }
            }
            _ => {
                return Err(mlua::Error::runtime(
                    "invalid use of '%' in replacement string",
                ))
            }
        }
        i += 1;
    }
    Ok(())
}

/// Replaces what could run long inside C: the pattern functions (by budgeted ones),
/// `table.move` and `load` (charged by size), `setmetatable` (no `__gc`); registers the raw
/// `check` function the prelude's `pcall` wrappers call.
///
/// # Errors
/// Lua refused (out of memory).
pub fn harden(lua: &Lua, raw: &Table) -> mlua::Result<()> {
    let g = lua.globals();
    let string: Table = g.get("string")?;
    string.set(
        "find",
        lua.create_function(|l, a: MultiValue| find_aux(l, a, true))?,
    )?;
    string.set(
        "match",
        lua.create_function(|l, a: MultiValue| find_aux(l, a, false))?,
    )?;
    string.set("gmatch", lua.create_function(gmatch)?)?;
    string.set("gsub", lua.create_function(gsub)?)?;
    let table: Table = g.get("table")?;
    let rawmove: Function = table.get("move")?;
    table.set(
        "move",
        lua.create_function(move |l, a: MultiValue| {
            let f = arg_int(l, &a, 1, "move", 0)?;
            let e = arg_int(l, &a, 2, "move", 0)?;
            charge(e.saturating_sub(f).max(0) as u64).map_err(budget_error)?;
            rawmove.call::<MultiValue>(a)
        })?,
    )?;
    let rawset: Function = g.get("setmetatable")?;
    // The prelude's own tables (events, messages, peers) take the unchecked one: it is
    // called for every event, and they have no `__gc`.
    raw.set("setmetatable", rawset.clone())?;
    g.set(
        "setmetatable",
        lua.create_function(move |_, (t, mt): (Value, Value)| {
            if let Value::Table(m) = &mt {
                if !matches!(m.raw_get::<Value>("__gc")?, Value::Nil) {
                    return Err(mlua::Error::runtime(
                        "setmetatable: __gc metamethods are not allowed in scripts",
                    ));
                }
            }
            rawset.call::<Value>((t, mt))
        })?,
    )?;
    let rawload: Function = raw.get("load")?;
    raw.set(
        "load",
        lua.create_function(move |_, a: MultiValue| {
            if let Some(Value::String(s)) = a.front() {
                charge(s.as_bytes().len() as u64 / 4).map_err(budget_error)?;
            }
            rawload.call::<MultiValue>(a)
        })?,
    )?;
    raw.set(
        "check",
        lua.create_function(|_, ()| {
            let killed = CURRENT.with(|c| {
                let p = c.get();
                // SAFETY: as in `charge`.
                (!p.is_null()).then(|| unsafe { &*p }.killed()).flatten()
            });
            match killed {
                Some(why) => Err(mlua::Error::runtime(why)),
                None => Ok(()),
            }
        })?,
    )?;
    Ok(())
}
