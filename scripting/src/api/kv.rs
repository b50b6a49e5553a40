//! The script's persistent key-value data.

use super::*;
use crate::lua::bind::*;
use crate::rhai::bind::*;

impl ScriptCtx {
    /// The key-value space of this script.
    pub fn kv_space(&self) -> String {
        format!("script/{}/{}", self.account.name, self.script)
    }

    /// `kv.get(key)`.
    pub fn kv_get(&self, key: &str) -> ApiResult {
        let v = self
            .account
            .store
            .kv_get(&self.kv_space(), key)
            .map_err(|e| ApiError::Other(e.to_string()))?;
        Ok(match v {
            Some(b) => serde_json::from_slice(&b).unwrap_or(Json::Null),
            None => Json::Null,
        })
    }

    /// `kv.set(key, value)` (nil deletes).
    pub fn kv_set(&self, key: &str, value: &Json) -> ApiResult<()> {
        let bytes = (!value.is_null()).then(|| serde_json::to_vec(value).expect("json"));
        self.account
            .store
            .kv_set(&self.kv_space(), key, bytes.as_deref())
            .map_err(|e| ApiError::Other(e.to_string()))
    }

    /// `kv.incr(key, by)`: atomically adds `by` to a number (missing counts as 0).
    pub fn kv_incr(&self, key: &str, by: i64) -> ApiResult<i64> {
        let mut out = 0;
        self.account
            .store
            .kv_update(&self.kv_space(), key, &mut |old| {
                let cur = old
                    .and_then(|b| serde_json::from_slice::<Json>(b).ok())
                    .and_then(|j| j.as_i64())
                    .unwrap_or(0);
                out = cur + by;
                Some(serde_json::to_vec(&json!(out)).expect("json"))
            })
            .map_err(|e| ApiError::Other(e.to_string()))?;
        Ok(out)
    }

    /// `kv.keys(prefix)`.
    pub fn kv_keys(&self, prefix: &str) -> ApiResult<Vec<String>> {
        self.account
            .store
            .kv_keys(&self.kv_space(), prefix)
            .map_err(|e| ApiError::Other(e.to_string()))
    }
}

/// Registers this area's raw functions for Lua (the prelude wraps them).
pub(crate) fn lua(lua: &Lua, raw: &Table, file: &str, ctx: &ScriptCtx) -> mlua::Result<()> {
    // Synchronous parts: kv, log, config, account.
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "kv_get",
        lua.create_function(move |l, key: String| api_result(l, c.kv_get(&key), &location(l, &f)))?,
    )?;
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "kv_set",
        lua.create_function(move |l, (key, v): (String, Value)| {
            let r = from_lua(l, v)
                .map_err(bad)
                .and_then(|v| c.kv_set(&key, &v).map(|()| Json::Null));
            api_result(l, r, &location(l, &f))
        })?,
    )?;
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "kv_incr",
        lua.create_function(move |l, (key, by): (String, Option<i64>)| {
            api_result(
                l,
                c.kv_incr(&key, by.unwrap_or(1)).map(|n| json!(n)),
                &location(l, &f),
            )
        })?,
    )?;
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "kv_keys",
        lua.create_function(move |l, prefix: Option<String>| {
            api_result(
                l,
                c.kv_keys(prefix.as_deref().unwrap_or("")).map(|k| json!(k)),
                &location(l, &f),
            )
        })?,
    )?;
    Ok(())
}

/// Registers this area's functions for Rhai.
// The API wrappers run their body in a closure so `?` works inside it.
#[allow(clippy::redundant_closure_call)]
pub(crate) fn rhai(engine: &mut Engine, ctx: &ScriptCtx, f: &str) {
    let f = f.to_string();
    let mut kv = rhai::Module::new();
    let (c, fl) = (ctx.clone(), f.clone());
    kv.set_native_fn("get", move |key: &str| {
        c.kv_get(key)
            .map(|v| to_rhai(&v))
            .map_err(|e| raise(e, &fl, Position::NONE))
    });
    let (c, fl) = (ctx.clone(), f.clone());
    kv.set_native_fn("set", move |key: &str, v: Dynamic| {
        let v = from_rhai(&v).map_err(|m| raise(ApiError::Bad(m), &fl, Position::NONE))?;
        c.kv_set(key, &v).map_err(|e| raise(e, &fl, Position::NONE))
    });
    let (c, fl) = (ctx.clone(), f.clone());
    kv.set_native_fn("del", move |key: &str| {
        c.kv_set(key, &Json::Null)
            .map_err(|e| raise(e, &fl, Position::NONE))
    });
    let (c, fl) = (ctx.clone(), f.clone());
    kv.set_native_fn("incr", move |key: &str| {
        c.kv_incr(key, 1).map_err(|e| raise(e, &fl, Position::NONE))
    });
    let (c, fl) = (ctx.clone(), f.clone());
    kv.set_native_fn("incr", move |key: &str, by: i64| {
        c.kv_incr(key, by)
            .map_err(|e| raise(e, &fl, Position::NONE))
    });
    let (c, fl) = (ctx.clone(), f.clone());
    kv.set_native_fn("keys", move |prefix: &str| {
        c.kv_keys(prefix)
            .map(|k| k.into_iter().map(Dynamic::from).collect::<rhai::Array>())
            .map_err(|e| raise(e, &fl, Position::NONE))
    });
    engine.register_static_module("kv", kv.into());
}
