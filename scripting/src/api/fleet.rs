//! Acting as other accounts of the fleet, and sending through pools.

use super::*;
use crate::lua::bind::*;
use crate::rhai::bind::*;

impl ScriptCtx {
    /// `fleet.pool(name):send(peer, text, opts)`: sends through the running account of pool
    /// `name` with the most budget (fewest FLOOD_WAITs, shortest learned spacing), failing
    /// over to the next one on FLOOD_WAIT; the result names the `account` used.
    pub async fn pool_send(&self, pool: &str, peer: &Json, text: &str, opts: &Json) -> ApiResult {
        if !self.caps.may_use_pool(pool) {
            return Err(ApiError::Bad(format!(
                "this script may not send through pool {pool:?}: add `act_as: [\"pool:{pool}\"]` to its entry in accounts.yaml"
            )));
        }
        let candidates = self.account.fleet.pool(pool, "messages.sendMessage");
        if candidates.is_empty() {
            return Err(ApiError::Bad(format!(
                "no running account in pool {pool:?}"
            )));
        }
        let mut last = None;
        for (name, _) in candidates {
            let ctx = self.other_unchecked(&name)?;
            match ctx.send(peer, text, opts).await {
                Ok(mut v) => {
                    v["account"] = json!(name);
                    return Ok(v);
                }
                Err(e @ ApiError::Rpc { .. }) if matches!(&e, ApiError::Rpc { name, .. } if name == "FLOOD_WAIT") =>
                {
                    tracing::info!(pool, account = %name, error = %e, "FLOOD_WAIT: trying the next account of the pool");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one candidate"))
    }

    /// `fleet.account(name)`: the same API acting as another account of the fleet.
    pub fn other(&self, name: &str) -> ApiResult<ScriptCtx> {
        if name != self.account.name {
            let pools = self.account.fleet.with_config(|c| {
                c.accounts
                    .iter()
                    .find(|a| a.name() == name)
                    .map(|a| a.config.pools.clone())
                    .unwrap_or_default()
            });
            if !self.caps.may_act_as(name, &pools) {
                return Err(ApiError::Bad(format!(
                    "this script may not act as account {name:?}: add it to `act_as:` on the script's entry in accounts.yaml"
                )));
            }
        }
        self.other_unchecked(name)
    }

    /// [`ScriptCtx::other`] without the capability check (the caller made it).
    pub(crate) fn other_unchecked(&self, name: &str) -> ApiResult<ScriptCtx> {
        let client =
            self.account.fleet.client(name).ok_or_else(|| {
                ApiError::Bad(format!("no running account {name:?} in this fleet"))
            })?;
        let mut account = self.account.clone();
        account.name = name.to_string();
        account.user_id = client.user_id().unwrap_or_default();
        account.client = client;
        Ok(ScriptCtx {
            account,
            ..self.clone()
        })
    }
}

/// Registers this area's raw functions for Lua (the prelude wraps them).
pub(crate) fn lua(lua: &Lua, raw: &Table, file: &str, ctx: &ScriptCtx) -> mlua::Result<()> {
    async_api!(lua, raw, file, ctx, "fleet_call", |c, l, a| {
        let name = arg_str(&a, 0, "fleet.account(name)").map_err(bad)?;
        let method = arg_str(&a, 1, "call(method, params)").map_err(bad)?;
        let params = arg_json(&l, &a, 2).map_err(bad)?;
        c.other(&name)?.call(&method, &params).await
    });
    async_api!(lua, raw, file, ctx, "pool_send", |c, l, a| {
        let pool = arg_str(&a, 0, "fleet.pool(name)").map_err(bad)?;
        let peer = arg_json(&l, &a, 1).map_err(bad)?;
        let text = arg_str(&a, 2, "send(peer, text)").map_err(bad)?;
        let opts = arg_json(&l, &a, 3).map_err(bad)?;
        c.pool_send(&pool, &peer, &text, &opts).await
    });
    async_api!(lua, raw, file, ctx, "fleet_send", |c, l, a| {
        let name = arg_str(&a, 0, "fleet.account(name)").map_err(bad)?;
        let peer = arg_json(&l, &a, 1).map_err(bad)?;
        let text = arg_str(&a, 2, "send(peer, text)").map_err(bad)?;
        let opts = arg_json(&l, &a, 3).map_err(bad)?;
        c.other(&name)?.send(&peer, &text, &opts).await
    });
    Ok(())
}

/// Registers this area's functions for Rhai.
// The API wrappers run their body in a closure so `?` works inside it.
#[allow(clippy::redundant_closure_call)]
pub(crate) fn rhai(engine: &mut Engine, ctx: &ScriptCtx, f: &str) {
    let f = f.to_string();
    engine.register_type_with_name::<FleetAccount>("FleetAccount");
    engine.register_type_with_name::<FleetPool>("FleetPool");
    let mut fleet = rhai::Module::new();
    fleet.set_native_fn("account", |name: &str| Ok(FleetAccount(name.to_string())));
    fleet.set_native_fn("pool", |name: &str| Ok(FleetPool(name.to_string())));
    engine.register_static_module("fleet", fleet.into());

    with_ctx!(
        engine,
        ctx,
        f,
        "send",
        |c, x, pool: FleetPool, peer: Dynamic, text: &str| {
            block(c.pool_send(&pool.0, &j!(x, &peer), text, &Json::Null))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "send",
        |c, x, pool: FleetPool, peer: Dynamic, text: &str, opts: rhai::Map| {
            block(c.pool_send(&pool.0, &j!(x, &peer), text, &j!(x, &Dynamic::from(opts))))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "invoke",
        |c, x, acc: FleetAccount, method: &str, params: Dynamic| {
            let p = j!(x, &params);
            block(c.other(&acc.0)?.call(method, &p))
        }
    );
    with_ctx!(
        engine,
        ctx,
        f,
        "send",
        |c, x, acc: FleetAccount, peer: Dynamic, text: &str| {
            block(c.other(&acc.0)?.send(&j!(x, &peer), text, &Json::Null))
        }
    );
}

/// Handle type for `fleet::account(name)` in Rhai.
#[derive(Clone)]
pub(crate) struct FleetAccount(String);

/// Handle type for `fleet::pool(name)` in Rhai.
#[derive(Clone)]
pub(crate) struct FleetPool(String);
