//! The script's persistent key-value data.

use super::*;
use crate::lua::bind::*;
use crate::rhai::bind::*;

impl ScriptCtx {
    /// The key-value space of this script.
    pub fn kv_space(&self) -> String {
        format!("script/{}/{}", self.account.name, self.script)
    }

    /// `kv.shared(name, opts)`: the space `name` seen by every script of the fleet, or
    /// with `opts.pool` by the scripts of that pool's accounts (this account must be one).
    pub fn kv_shared(&self, name: &str, opts: &Json) -> ApiResult<String> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !ok(name) {
            return Err(ApiError::Bad(format!(
                "shared space {name:?}: a shared space is named with 1 to 64 letters, digits, '_', '-' or '.'"
            )));
        }
        match opts.get("pool").filter(|p| !p.is_null()) {
            None => Ok(format!("shared/{name}")),
            Some(p) => {
                let pool = p.as_str().ok_or_else(|| {
                    ApiError::Bad(format!(
                        "shared space {name:?}: pool must be a string, not {p}"
                    ))
                })?;
                if !self.account.account.config.pools.iter().any(|x| x == pool) {
                    return Err(ApiError::Bad(format!(
                        "shared space {name:?} of pool {pool:?}: account {:?} is not in pool {pool:?} (its entry's `pools:` in accounts.yaml)",
                        self.account.name
                    )));
                }
                Ok(format!("shared/pool:{pool}/{name}"))
            }
        }
    }

    /// The space a kv call names: the script's own, or a shared one from [`ScriptCtx::kv_shared`].
    fn space(&self, shared: Option<&str>) -> String {
        shared.map_or_else(|| self.kv_space(), str::to_string)
    }

    /// `kv.get(key)`.
    pub fn kv_get(&self, key: &str) -> ApiResult {
        self.kv_get_in(None, key)
    }

    /// `kv.get(key)` in the script's space or a shared one.
    pub fn kv_get_in(&self, shared: Option<&str>, key: &str) -> ApiResult {
        let v = self
            .account
            .store
            .kv_get(&self.space(shared), key)
            .map_err(|e| ApiError::Other(e.to_string()))?;
        Ok(match v {
            Some(b) => serde_json::from_slice(&b).unwrap_or(Json::Null),
            None => Json::Null,
        })
    }

    /// `kv.set(key, value)` (nil deletes).
    pub fn kv_set(&self, key: &str, value: &Json) -> ApiResult<()> {
        self.kv_set_in(None, key, value)
    }

    /// `kv.set(key, value)` in the script's space or a shared one.
    pub fn kv_set_in(&self, shared: Option<&str>, key: &str, value: &Json) -> ApiResult<()> {
        let bytes = (!value.is_null()).then(|| serde_json::to_vec(value).expect("json"));
        self.account
            .store
            .kv_set(&self.space(shared), key, bytes.as_deref())
            .map_err(|e| ApiError::Other(e.to_string()))
    }

    /// `kv.incr(key, by)`: atomically adds `by` to a number (missing counts as 0).
    pub fn kv_incr(&self, key: &str, by: i64) -> ApiResult<i64> {
        self.kv_incr_in(None, key, by)
    }

    /// `kv.incr(key, by)` in the script's space or a shared one.
    pub fn kv_incr_in(&self, shared: Option<&str>, key: &str, by: i64) -> ApiResult<i64> {
        let mut out = 0;
        self.account
            .store
            .kv_update(&self.space(shared), key, &mut |old| {
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
        self.kv_keys_in(None, prefix)
    }

    /// `kv.keys(prefix)` in the script's space or a shared one.
    pub fn kv_keys_in(&self, shared: Option<&str>, prefix: &str) -> ApiResult<Vec<String>> {
        self.account
            .store
            .kv_keys(&self.space(shared), prefix)
            .map_err(|e| ApiError::Other(e.to_string()))
    }
}

/// Registers this area's raw functions for Lua (the prelude wraps them). Each takes the
/// space last: nil for the script's own, or what `kv_shared` gave.
pub(crate) fn lua(lua: &Lua, raw: &Table, file: &str, ctx: &ScriptCtx) -> mlua::Result<()> {
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "kv_get",
        lua.create_function(move |l, (key, sp): (String, Option<String>)| {
            api_result(l, c.kv_get_in(sp.as_deref(), &key), &location(l, &f))
        })?,
    )?;
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "kv_set",
        lua.create_function(move |l, (key, v, sp): (String, Value, Option<String>)| {
            let r = from_lua(l, v)
                .map_err(bad)
                .and_then(|v| c.kv_set_in(sp.as_deref(), &key, &v).map(|()| Json::Null));
            api_result(l, r, &location(l, &f))
        })?,
    )?;
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "kv_incr",
        lua.create_function(
            move |l, (key, by, sp): (String, Option<i64>, Option<String>)| {
                api_result(
                    l,
                    c.kv_incr_in(sp.as_deref(), &key, by.unwrap_or(1))
                        .map(|n| json!(n)),
                    &location(l, &f),
                )
            },
        )?,
    )?;
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "kv_keys",
        lua.create_function(move |l, (prefix, sp): (Option<String>, Option<String>)| {
            api_result(
                l,
                c.kv_keys_in(sp.as_deref(), prefix.as_deref().unwrap_or(""))
                    .map(|k| json!(k)),
                &location(l, &f),
            )
        })?,
    )?;
    let c = ctx.clone();
    let f = file.to_string();
    raw.set(
        "kv_shared",
        lua.create_function(move |l, (name, opts): (String, Value)| {
            let r = from_lua(l, opts)
                .map_err(bad)
                .and_then(|o| c.kv_shared(&name, &o).map(Json::String));
            api_result(l, r, &location(l, &f))
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
    for with_opts in [false, true] {
        let (c, fl) = (ctx.clone(), f.clone());
        let open = move |name: &str, opts: Json| {
            c.kv_shared(name, &opts)
                .map(KvSpace)
                .map_err(|e| raise(e, &fl, Position::NONE))
        };
        if with_opts {
            let fl = f.clone();
            kv.set_native_fn("shared_space", move |name: &str, opts: rhai::Map| {
                let o = from_rhai(&Dynamic::from_map(opts))
                    .map_err(|m| raise(ApiError::Bad(m), &fl, Position::NONE))?;
                open(name, o)
            });
        } else {
            kv.set_native_fn("shared_space", move |name: &str| open(name, Json::Null));
        }
    }
    engine.register_static_module("kv", kv.into());
    // A shared space's methods: the same as kv::'s functions.
    engine.register_type_with_name::<KvSpace>("KvSpace");
    let (c, fl) = (ctx.clone(), f.clone());
    engine.register_fn("get", move |s: &mut KvSpace, key: &str| {
        c.kv_get_in(Some(&s.0), key)
            .map(|v| to_rhai(&v))
            .map_err(|e| raise(e, &fl, Position::NONE))
    });
    let (c, fl) = (ctx.clone(), f.clone());
    engine.register_fn("set", move |s: &mut KvSpace, key: &str, v: Dynamic| {
        let v = from_rhai(&v).map_err(|m| raise(ApiError::Bad(m), &fl, Position::NONE))?;
        c.kv_set_in(Some(&s.0), key, &v)
            .map_err(|e| raise(e, &fl, Position::NONE))
    });
    let (c, fl) = (ctx.clone(), f.clone());
    engine.register_fn("del", move |s: &mut KvSpace, key: &str| {
        c.kv_set_in(Some(&s.0), key, &Json::Null)
            .map_err(|e| raise(e, &fl, Position::NONE))
    });
    for by_given in [false, true] {
        let (c, fl) = (ctx.clone(), f.clone());
        let incr = move |s: &mut KvSpace, key: &str, by: i64| {
            c.kv_incr_in(Some(&s.0), key, by)
                .map_err(|e| raise(e, &fl, Position::NONE))
        };
        if by_given {
            engine.register_fn("incr", incr);
        } else {
            engine.register_fn("incr", move |s: &mut KvSpace, key: &str| incr(s, key, 1));
        }
    }
    let (c, fl) = (ctx.clone(), f.clone());
    engine.register_fn("keys", move |s: &mut KvSpace, prefix: &str| {
        c.kv_keys_in(Some(&s.0), prefix)
            .map(|k| k.into_iter().map(Dynamic::from).collect::<rhai::Array>())
            .map_err(|e| raise(e, &fl, Position::NONE))
    });
}

/// A shared kv space in Rhai (`kv::shared_space(name)`; `shared` is reserved in Rhai).
#[derive(Clone)]
pub(crate) struct KvSpace(String);
