//! `account.*`: 2FA password (SRP), username, profile.

use super::{now, ok, require_user, Ctx, RpcErr, RpcResult};
use crate::state::{Password, State};
use fleetgram_protocol::crypto::dh::known_prime;
use fleetgram_protocol::crypto::srp::{SrpParams, SrpProof};
use fleetgram_tl::{enums, functions, types};
use rand::Rng;

/// The user a password call is about: the logged-in one, or the one half-way through a
/// login that needs the password.
fn password_user(ctx: &Ctx<'_>, state: &State) -> Result<i64, RpcErr> {
    state
        .user_of(ctx.perm_key_id)
        .or_else(|| state.pending_2fa.get(&ctx.perm_key_id).copied())
        .ok_or_else(|| RpcErr::new(401, "AUTH_KEY_UNREGISTERED"))
}

fn algo(params: &SrpParams) -> enums::PasswordKdfAlgo {
    types::PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow {
        salt1: params.salt1.clone(),
        salt2: params.salt2.clone(),
        g: params.g as i32,
        p: params.p.clone(),
    }
    .into()
}

/// Checks an `InputCheckPasswordSRP` against the user's password and the challenge it answers.
pub(crate) fn verify_srp(
    state: &mut State,
    user: i64,
    input: &enums::InputCheckPasswordSRP,
) -> Result<(), RpcErr> {
    let password = state.users.get(&user).and_then(|u| u.password.clone());
    let (password, srp) = match (password, input) {
        (None, enums::InputCheckPasswordSRP::InputCheckPasswordEmpty) => return Ok(()),
        (Some(p), enums::InputCheckPasswordSRP::InputCheckPasswordSRP(srp)) => (p, srp),
        _ => return Err(RpcErr::bad_request("PASSWORD_HASH_INVALID")),
    };
    let (owner, b) = state
        .srp
        .remove(&srp.srp_id)
        .ok_or_else(|| RpcErr::bad_request("SRP_ID_INVALID"))?;
    if owner != user || srp.a.len() > 256 || srp.m1.len() != 32 {
        return Err(RpcErr::bad_request("SRP_ID_INVALID"));
    }
    let mut a = [0u8; 256];
    a[256 - srp.a.len()..].copy_from_slice(&srp.a);
    let proof = SrpProof {
        a,
        m1: srp.m1.clone().try_into().expect("32"),
    };
    if !password
        .params
        .server_verify(&password.verifier, &b, &proof)
    {
        return Err(RpcErr::bad_request("PASSWORD_HASH_INVALID"));
    }
    Ok(())
}

/// `account.getPassword`: the current algorithm and a fresh SRP challenge, and the algorithm
/// for a new password.
pub(crate) fn get_password(ctx: &Ctx<'_>, _: functions::account::GetPassword) -> RpcResult {
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let user = password_user(ctx, &state)?;
    let current = state.users.get(&user).and_then(|u| u.password.clone());
    let (salt1, salt2, secure_salt, secure_random): ([u8; 8], [u8; 16], [u8; 8], [u8; 32]) = (
        state.rng.gen(),
        state.rng.gen(),
        state.rng.gen(),
        state.rng.gen(),
    );
    let new_params = SrpParams {
        salt1: salt1.to_vec(),
        salt2: salt2.to_vec(),
        g: 3,
        p: known_prime().to_bytes_be(),
    };
    let mut answer = types::account::Password {
        has_recovery: false,
        has_secure_values: false,
        has_password: false,
        current_algo: None,
        srp_b: None,
        srp_id: None,
        hint: None,
        email_unconfirmed_pattern: None,
        new_algo: algo(&new_params),
        new_secure_algo: types::SecurePasswordKdfAlgoPBKDF2HMACSHA512iter100000 {
            salt: secure_salt.to_vec(),
        }
        .into(),
        secure_random: secure_random.to_vec(),
        pending_reset_date: None,
        login_email_pattern: None,
    };
    if let Some(p) = current {
        let b: [u8; 256] = std::array::from_fn(|_| state.rng.gen());
        let srp_id: i64 = state.rng.gen();
        answer.has_password = true;
        answer.current_algo = Some(algo(&p.params));
        answer.srp_b = Some(p.params.server_public(&p.verifier, &b).to_vec());
        answer.srp_id = Some(srp_id);
        answer.hint = p.hint.clone();
        state.srp.insert(srp_id, (user, b));
    }
    ok(enums::account::Password::from(answer))
}

/// `account.updatePasswordSettings`: sets, changes or removes the 2FA password.
pub(crate) fn update_password_settings(
    ctx: &Ctx<'_>,
    req: functions::account::UpdatePasswordSettings,
) -> RpcResult {
    let user = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    verify_srp(&mut state, user, &req.password)?;
    let enums::account::PasswordInputSettings::PasswordInputSettings(settings) = req.new_settings;
    let new = match (settings.new_algo, settings.new_password_hash) {
        (
            Some(enums::PasswordKdfAlgo::SHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(a)),
            Some(hash),
        ) if !hash.is_empty() => {
            if hash.len() > 256 || a.p.len() != 256 {
                return Err(RpcErr::bad_request("NEW_SETTINGS_INVALID"));
            }
            let params = SrpParams {
                salt1: a.salt1,
                salt2: a.salt2,
                g: a.g as u32,
                p: a.p,
            };
            if params.p != known_prime().to_bytes_be() && params.check().is_err() {
                return Err(RpcErr::bad_request("NEW_SETTINGS_INVALID"));
            }
            let mut verifier = [0u8; 256];
            verifier[256 - hash.len()..].copy_from_slice(&hash);
            Some(Password {
                params,
                verifier,
                hint: settings.hint.filter(|h| !h.is_empty()),
            })
        }
        (None | Some(enums::PasswordKdfAlgo::Unknown), _) | (_, None) => None,
        (_, Some(_)) => return Err(RpcErr::bad_request("NEW_SETTINGS_EMPTY")),
    };
    if let Some(u) = state.users.get_mut(&user) {
        u.password = new;
    }
    state.mark_user(user);
    ok(true)
}

fn valid_username(name: &str) -> bool {
    (5..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.ends_with('_')
}

/// `account.updateUsername`.
pub(crate) fn update_username(ctx: &Ctx<'_>, req: functions::account::UpdateUsername) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let name = req.username.trim_start_matches('@').to_string();
    let current = state.users.get(&me).and_then(|u| u.username.clone());
    if current.as_deref() == Some(name.as_str()) || (name.is_empty() && current.is_none()) {
        return Err(RpcErr::bad_request("USERNAME_NOT_MODIFIED"));
    }
    if !name.is_empty() {
        if !valid_username(&name) {
            return Err(RpcErr::bad_request("USERNAME_INVALID"));
        }
        if state
            .by_username
            .get(&name.to_ascii_lowercase())
            .is_some_and(|&u| u != me)
        {
            return Err(RpcErr::bad_request("USERNAME_OCCUPIED"));
        }
    }
    if let Some(old) = current {
        state.by_username.remove(&old.to_ascii_lowercase());
    }
    if !name.is_empty() {
        state.by_username.insert(name.to_ascii_lowercase(), me);
    }
    if let Some(u) = state.users.get_mut(&me) {
        u.username = (!name.is_empty()).then_some(name);
    }
    state.mark_user(me);
    ok(state.user_tl(me, me, now()))
}

/// `account.updateProfile`.
pub(crate) fn update_profile(ctx: &Ctx<'_>, req: functions::account::UpdateProfile) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    if let Some(f) = &req.first_name {
        if f.trim().is_empty() || f.chars().count() > 64 {
            return Err(RpcErr::bad_request("FIRST_NAME_INVALID"));
        }
    }
    if let Some(u) = state.users.get_mut(&me) {
        if let Some(f) = req.first_name {
            u.first_name = f.trim().to_string();
        }
        if let Some(l) = req.last_name {
            u.last_name = l.trim().to_string();
        }
    }
    state.mark_user(me);
    ok(state.user_tl(me, me, now()))
}

/// `account.updateStatus`: online for five minutes, or offline now.
pub(crate) fn update_status(ctx: &Ctx<'_>, req: functions::account::UpdateStatus) -> RpcResult {
    let me = require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let now = now();
    let until = if req.offline { now } else { now + 300 };
    if let Some(u) = state.users.get_mut(&me) {
        u.online_until = until;
    }
    let status: enums::UserStatus = if req.offline {
        types::UserStatusOffline { was_online: now }.into()
    } else {
        types::UserStatusOnline { expires: until }.into()
    };
    // Everyone who has this user as a contact hears about it.
    let watchers: Vec<i64> = state
        .contacts
        .iter()
        .filter(|(_, c)| c.contains(&me))
        .map(|(u, _)| *u)
        .collect();
    for w in watchers {
        let u: enums::Updates = types::UpdateShort {
            update: types::UpdateUserStatus {
                user_id: me,
                status: status.clone(),
            }
            .into(),
            date: now,
        }
        .into();
        ctx.push(w, &u);
    }
    ok(true)
}
