//! `auth.*`: login by phone and code, sign-up, logout.

use super::{now, ok, Ctx, RpcErr, RpcResult};
use crate::state::{SentCode, State, CODE_TTL};
use fleetgram_tl::{enums, functions, types};

fn check_phone(phone: &str) -> Result<String, RpcErr> {
    let p = State::normalize_phone(phone);
    if p.len() < 5 || p.len() > 20 {
        return Err(RpcErr::bad_request("PHONE_NUMBER_INVALID"));
    }
    Ok(p)
}

fn sent_code(hash: String, known: bool) -> RpcResult {
    let ty: enums::auth::SentCodeType = if known {
        types::auth::SentCodeTypeApp { length: 5 }.into()
    } else {
        types::auth::SentCodeTypeSms { length: 5 }.into()
    };
    ok(enums::auth::SentCode::from(types::auth::SentCode {
        r#type: ty,
        phone_code_hash: hash,
        next_type: Some(enums::auth::CodeType::Sms),
        timeout: Some(60),
    }))
}

/// `auth.sendCode`: a code for the phone; `PHONE_MIGRATE_X` when the account lives on
/// another DC.
pub(crate) fn send_code(ctx: &Ctx<'_>, req: functions::auth::SendCode) -> RpcResult {
    if req.api_id <= 0 || req.api_hash.is_empty() {
        return Err(RpcErr::bad_request("API_ID_INVALID"));
    }
    let phone = check_phone(&req.phone_number)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let known = match state
        .by_phone
        .get(&phone)
        .and_then(|id| state.users.get(id))
    {
        Some(u) if u.home_dc != ctx.dc => {
            return Err(RpcErr::new(303, format!("PHONE_MIGRATE_{}", u.home_dc)))
        }
        Some(_) => true,
        None => false,
    };
    let code = state.new_code();
    let hash = state.random_hash();
    tracing::info!(phone = %phone, code = %code, "login code");
    state.codes.insert(
        phone,
        SentCode {
            hash: hash.clone(),
            code,
            sent_at: now(),
        },
    );
    drop(state);
    sent_code(hash, known)
}

/// `auth.resendCode`: the same code again, by SMS.
pub(crate) fn resend_code(ctx: &Ctx<'_>, req: functions::auth::ResendCode) -> RpcResult {
    let phone = check_phone(&req.phone_number)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let sent = state
        .codes
        .get_mut(&phone)
        .ok_or_else(|| RpcErr::bad_request("PHONE_CODE_EXPIRED"))?;
    if sent.hash != req.phone_code_hash {
        return Err(RpcErr::bad_request("PHONE_CODE_HASH_INVALID"));
    }
    sent.sent_at = now();
    let hash = sent.hash.clone();
    drop(state);
    sent_code(hash, false)
}

/// Checks the code of a pending login; the code stays until the login completes.
fn check_code(state: &State, phone: &str, hash: &str, code: Option<&str>) -> Result<(), RpcErr> {
    let sent = state
        .codes
        .get(phone)
        .ok_or_else(|| RpcErr::bad_request("PHONE_CODE_EXPIRED"))?;
    if hash.is_empty() {
        return Err(RpcErr::bad_request("PHONE_CODE_HASH_EMPTY"));
    }
    if sent.hash != hash {
        return Err(RpcErr::bad_request("PHONE_CODE_HASH_INVALID"));
    }
    if now() - sent.sent_at > CODE_TTL {
        return Err(RpcErr::bad_request("PHONE_CODE_EXPIRED"));
    }
    match code {
        None | Some("") => Err(RpcErr::bad_request("PHONE_CODE_EMPTY")),
        Some(c) if c != sent.code => Err(RpcErr::bad_request("PHONE_CODE_INVALID")),
        Some(_) => Ok(()),
    }
}

pub(crate) fn authorization(state: &mut State, ctx: &Ctx<'_>, user: i64) -> RpcResult {
    state.authorizations.insert(ctx.perm_key_id, user);
    state.mark_auth(ctx.perm_key_id);
    let now = now();
    if let Some(u) = state.users.get_mut(&user) {
        u.online_until = now + 300;
    }
    let user_tl = state.user_tl(user, user, now);
    ok(enums::auth::Authorization::from(
        types::auth::Authorization {
            setup_password_required: false,
            otherwise_relogin_days: None,
            tmp_sessions: None,
            future_auth_token: None,
            user: user_tl,
        },
    ))
}

/// `auth.signIn`: logs in a known phone, or answers `auth.authorizationSignUpRequired`.
pub(crate) fn sign_in(ctx: &Ctx<'_>, req: functions::auth::SignIn) -> RpcResult {
    let phone = check_phone(&req.phone_number)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    check_code(
        &state,
        &phone,
        &req.phone_code_hash,
        req.phone_code.as_deref(),
    )?;
    let Some(&user) = state.by_phone.get(&phone) else {
        return ok(enums::auth::Authorization::from(
            types::auth::AuthorizationSignUpRequired {
                terms_of_service: None,
            },
        ));
    };
    if let Some(u) = state.users.get(&user) {
        if u.home_dc != ctx.dc {
            return Err(RpcErr::new(303, format!("PHONE_MIGRATE_{}", u.home_dc)));
        }
    }
    state.codes.remove(&phone);
    if state.users.get(&user).is_some_and(|u| u.password.is_some()) {
        state.pending_2fa.insert(ctx.perm_key_id, user);
        return Err(RpcErr::new(401, "SESSION_PASSWORD_NEEDED"));
    }
    authorization(&mut state, ctx, user)
}

/// `auth.signUp`: creates the account on this DC after a `signIn` that required it.
pub(crate) fn sign_up(ctx: &Ctx<'_>, req: functions::auth::SignUp) -> RpcResult {
    let phone = check_phone(&req.phone_number)?;
    let first_name = req.first_name.trim();
    if first_name.is_empty() || first_name.chars().count() > 64 {
        return Err(RpcErr::bad_request("FIRST_NAME_INVALID"));
    }
    if req.last_name.chars().count() > 64 {
        return Err(RpcErr::bad_request("LASTNAME_INVALID"));
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let sent = state
        .codes
        .get(&phone)
        .ok_or_else(|| RpcErr::bad_request("PHONE_CODE_EXPIRED"))?;
    if sent.hash != req.phone_code_hash {
        return Err(RpcErr::bad_request("PHONE_CODE_HASH_INVALID"));
    }
    if state.by_phone.contains_key(&phone) {
        return Err(RpcErr::bad_request("PHONE_NUMBER_OCCUPIED"));
    }
    let user = state.create_user(
        Some(&phone),
        first_name,
        req.last_name.trim(),
        false,
        ctx.dc,
    );
    state.codes.remove(&phone);
    authorization(&mut state, ctx, user)
}

/// `auth.logOut`: forgets the authorization of this key.
pub(crate) fn log_out(ctx: &Ctx<'_>, _: functions::auth::LogOut) -> RpcResult {
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    if state.authorizations.remove(&ctx.perm_key_id).is_none() {
        return Err(RpcErr::new(401, "AUTH_KEY_UNREGISTERED"));
    }
    state.mark_auth(ctx.perm_key_id);
    ok(enums::auth::LoggedOut::from(types::auth::LoggedOut {
        future_auth_token: None,
    }))
}

/// `auth.bindTempAuthKey`: binds the temporary key of this connection to a permanent key
/// (perfect forward secrecy), after checking the binding message encrypted with that key.
pub(crate) fn bind_temp_auth_key(
    ctx: &Ctx<'_>,
    req: functions::auth::BindTempAuthKey,
) -> RpcResult {
    let mut keys = ctx.shared.auth_keys.write().expect("not poisoned");
    let temp = keys
        .get(&ctx.key_id)
        .ok_or_else(|| RpcErr::bad_request("TEMP_AUTH_KEY_EMPTY"))?;
    if temp.temp_expires_at.is_none() {
        return Err(RpcErr::bad_request("TEMP_AUTH_KEY_EMPTY"));
    }
    if req.expires_at <= now() {
        return Err(RpcErr::bad_request("EXPIRES_AT_INVALID"));
    }
    match temp.bound_to {
        Some(p) if p != req.perm_auth_key_id => {
            return Err(RpcErr::bad_request("TEMP_AUTH_KEY_ALREADY_BOUND"))
        }
        _ => {}
    }
    let perm = keys
        .get(&req.perm_auth_key_id)
        .filter(|k| k.temp_expires_at.is_none() && k.dc == ctx.dc)
        .ok_or_else(|| RpcErr::bad_request("ENCRYPTED_MESSAGE_INVALID"))?;
    fleetgram_protocol::handshake::pfs::verify_bind(
        &perm.key,
        &req,
        ctx.key_id,
        ctx.session_id,
        ctx.msg_id,
    )
    .map_err(|_| RpcErr::bad_request("ENCRYPTED_MESSAGE_INVALID"))?;
    if let Some(t) = keys.get_mut(&ctx.key_id) {
        t.bound_to = Some(req.perm_auth_key_id);
        if let Some(store) = ctx.shared.state.lock().expect("not poisoned").store.clone() {
            store.put_key(ctx.key_id, t);
        }
    }
    ok(true)
}

/// `auth.checkPassword`: the 2FA step of a login that answered `SESSION_PASSWORD_NEEDED`.
pub(crate) fn check_password(ctx: &Ctx<'_>, req: functions::auth::CheckPassword) -> RpcResult {
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let user = *state
        .pending_2fa
        .get(&ctx.perm_key_id)
        .ok_or_else(|| RpcErr::bad_request("PASSWORD_HASH_INVALID"))?;
    super::account::verify_srp(&mut state, user, &req.password)?;
    state.pending_2fa.remove(&ctx.perm_key_id);
    authorization(&mut state, ctx, user)
}

/// `auth.importBotAuthorization`: logs a bot in with its token.
pub(crate) fn import_bot_authorization(
    ctx: &Ctx<'_>,
    req: functions::auth::ImportBotAuthorization,
) -> RpcResult {
    if req.api_id <= 0 || req.api_hash.is_empty() {
        return Err(RpcErr::bad_request("API_ID_INVALID"));
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let bot = *state
        .bot_tokens
        .get(&req.bot_auth_token)
        .ok_or_else(|| RpcErr::bad_request("ACCESS_TOKEN_INVALID"))?;
    let home = state.users.get(&bot).map_or(ctx.dc, |u| u.home_dc);
    if home != ctx.dc {
        return Err(RpcErr::new(303, format!("USER_MIGRATE_{home}")));
    }
    authorization(&mut state, ctx, bot)
}

/// `auth.exportAuthorization`: a one-time token to log the same account in on another DC.
pub(crate) fn export_authorization(
    ctx: &Ctx<'_>,
    req: functions::auth::ExportAuthorization,
) -> RpcResult {
    let me = super::require_user(ctx)?;
    if !ctx.shared.dcs.iter().any(|d| d.id == req.dc_id) || req.dc_id == ctx.dc {
        return Err(RpcErr::bad_request("DC_ID_INVALID"));
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let bytes: [u8; 32] = rand::Rng::gen(&mut state.rng);
    state
        .exported
        .insert(bytes.to_vec(), (me, req.dc_id, now() + 600));
    ok(enums::auth::ExportedAuthorization::from(
        types::auth::ExportedAuthorization {
            id: me,
            bytes: bytes.to_vec(),
        },
    ))
}

/// `auth.importAuthorization`: redeems an exported token on the DC it was made for.
pub(crate) fn import_authorization(
    ctx: &Ctx<'_>,
    req: functions::auth::ImportAuthorization,
) -> RpcResult {
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    match state.exported.remove(&req.bytes) {
        Some((user, dc, expires)) if user == req.id && dc == ctx.dc && expires > now() => {
            authorization(&mut state, ctx, user)
        }
        _ => Err(RpcErr::bad_request("AUTH_BYTES_INVALID")),
    }
}
