//! Login: bot token, phone -> code -> optional 2FA (SRP) -> optional sign-up; log out.

use crate::client::Client;
use crate::error::InvocationError;
use fleetgram_protocol::crypto::srp::SrpParams;
use fleetgram_tl::{enums, functions, types};
use rand::RngCore;

/// Why a sign-in step failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The account has 2FA: call [`Client::check_password`] with this token.
    #[error("the account has a cloud password (2FA)")]
    PasswordRequired(PasswordToken),
    /// The phone number is not registered: call [`Client::sign_up`] with this token.
    #[error("the phone number is not registered; sign up first")]
    SignUpRequired(LoginToken),
    /// The code was wrong.
    #[error("the login code is invalid")]
    InvalidCode,
    /// The code expired; request a new one.
    #[error("the login code expired")]
    CodeExpired,
    /// The password was wrong.
    #[error("the password is invalid")]
    InvalidPassword,
    /// The phone number is malformed or banned.
    #[error("the phone number is invalid: {0}")]
    InvalidPhone(String),
    /// The bot token was rejected.
    #[error("the bot token is invalid")]
    InvalidToken,
    /// Any other failure.
    #[error(transparent)]
    Other(#[from] InvocationError),
}

/// The state between `request_login_code` and `sign_in`.
#[derive(Debug, Clone)]
pub struct LoginToken {
    phone: String,
    phone_code_hash: String,
}

/// The state between `SESSION_PASSWORD_NEEDED` and `check_password`.
#[derive(Debug, Clone)]
pub struct PasswordToken {
    password: Box<types::account::Password>,
}

impl PasswordToken {
    /// The password hint, if the user set one.
    pub fn hint(&self) -> Option<&str> {
        self.password.hint.as_deref()
    }
}

/// The logged-in user.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedIn {
    /// User id.
    pub id: i64,
    /// Whether it is a bot.
    pub bot: bool,
    /// First name.
    pub first_name: String,
    /// Username, if any.
    pub username: Option<String>,
}

fn logged_in(user: &enums::User) -> Result<LoggedIn, InvocationError> {
    match user {
        enums::User::User(u) => Ok(LoggedIn {
            id: u.id,
            bot: u.bot,
            first_name: u.first_name.clone().unwrap_or_default(),
            username: u.username.clone(),
        }),
        enums::User::Empty(_) => Err(InvocationError::Decode {
            method: "auth".into(),
            reason: "the server returned userEmpty for the logged-in user".into(),
        }),
    }
}

impl Client {
    /// Whether the account is logged in on its home DC (asks the server).
    ///
    /// # Errors
    /// Anything but "not logged in".
    pub async fn is_authorized(&self) -> Result<bool, InvocationError> {
        match self.invoke(&functions::updates::GetState {}).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(401) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn finish_login(&self, user: &enums::User) -> Result<LoggedIn, InvocationError> {
        let me = logged_in(user)?;
        self.update_state(|st| {
            st.user_id = Some(me.id);
            st.bot = me.bot;
            let home = st.home_dc;
            if let Some(d) = st.dcs.get_mut(&home) {
                d.authorized = true;
            }
        })?;
        Ok(me)
    }

    fn authorization(
        &self,
        a: enums::auth::Authorization,
        token: Option<LoginToken>,
    ) -> Result<enums::User, SignInError> {
        match a {
            enums::auth::Authorization::Authorization(a) => Ok(a.user),
            enums::auth::Authorization::SignUpRequired(_) => match token {
                Some(t) => Err(SignInError::SignUpRequired(t)),
                None => Err(SignInError::Other(InvocationError::Decode {
                    method: "auth".into(),
                    reason: "sign-up required outside a code login".into(),
                })),
            },
        }
    }

    /// Logs in as a bot with its token (`123:abc`).
    ///
    /// # Errors
    /// [`SignInError::InvalidToken`], or a call failure.
    pub async fn bot_sign_in(&self, token: &str) -> Result<LoggedIn, SignInError> {
        let req = functions::auth::ImportBotAuthorization {
            flags: 0,
            api_id: self.config().api_id,
            api_hash: self.config().api_hash.clone(),
            bot_auth_token: token.to_string(),
        };
        let a = match self.invoke(&req).await {
            Ok(a) => a,
            Err(e) if e.is("ACCESS_TOKEN_INVALID") || e.is("ACCESS_TOKEN_EXPIRED") => {
                return Err(SignInError::InvalidToken)
            }
            Err(e) => return Err(e.into()),
        };
        let user = self.authorization(a, None)?;
        Ok(self.finish_login(&user).await?)
    }

    /// Asks for a login code for `phone` (following `PHONE_MIGRATE_X`).
    ///
    /// # Errors
    /// [`SignInError::InvalidPhone`], or a call failure.
    pub async fn request_login_code(&self, phone: &str) -> Result<LoginToken, SignInError> {
        let req = functions::auth::SendCode {
            phone_number: phone.to_string(),
            api_id: self.config().api_id,
            api_hash: self.config().api_hash.clone(),
            settings: enums::CodeSettings::CodeSettings(Box::default()),
        };
        match self.invoke(&req).await {
            Ok(enums::auth::SentCode::SentCode(s)) => Ok(LoginToken {
                phone: phone.to_string(),
                phone_code_hash: s.phone_code_hash,
            }),
            Ok(enums::auth::SentCode::Success(s)) => {
                // Already authorized by another device's approval: treat as signed in.
                let user = self.authorization(s.authorization, None)?;
                self.finish_login(&user).await?;
                Err(SignInError::Other(InvocationError::BadRequest(
                    "already signed in (auth.sentCodeSuccess)".into(),
                )))
            }
            Ok(enums::auth::SentCode::PaymentRequired(_)) => Err(SignInError::Other(
                InvocationError::BadRequest("Telegram requires a payment to send the code".into()),
            )),
            Err(e) if e.is("PHONE_NUMBER_INVALID") || e.is("PHONE_NUMBER_BANNED") => {
                Err(SignInError::InvalidPhone(phone.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Signs in with the code received for `token`.
    ///
    /// # Errors
    /// [`SignInError::PasswordRequired`] (then [`Client::check_password`]),
    /// [`SignInError::SignUpRequired`] (then [`Client::sign_up`]), [`SignInError::InvalidCode`]...
    pub async fn sign_in(&self, token: &LoginToken, code: &str) -> Result<LoggedIn, SignInError> {
        let req = functions::auth::SignIn {
            phone_number: token.phone.clone(),
            phone_code_hash: token.phone_code_hash.clone(),
            phone_code: Some(code.to_string()),
            email_verification: None,
        };
        let a = match self.invoke(&req).await {
            Ok(a) => a,
            Err(e) if e.is("SESSION_PASSWORD_NEEDED") => {
                let enums::account::Password::Password(password) =
                    self.invoke(&functions::account::GetPassword {}).await?;
                return Err(SignInError::PasswordRequired(PasswordToken { password }));
            }
            Err(e) if e.is("PHONE_CODE_INVALID") || e.is("PHONE_CODE_EMPTY") => {
                return Err(SignInError::InvalidCode)
            }
            Err(e) if e.is("PHONE_CODE_EXPIRED") => return Err(SignInError::CodeExpired),
            Err(e) => return Err(e.into()),
        };
        let user = self.authorization(a, Some(token.clone()))?;
        Ok(self.finish_login(&user).await?)
    }

    /// Registers a new account after [`SignInError::SignUpRequired`].
    ///
    /// # Errors
    /// A call failure (`FIRSTNAME_INVALID`...).
    pub async fn sign_up(
        &self,
        token: &LoginToken,
        first_name: &str,
        last_name: &str,
    ) -> Result<LoggedIn, SignInError> {
        let req = functions::auth::SignUp {
            no_joined_notifications: false,
            phone_number: token.phone.clone(),
            phone_code_hash: token.phone_code_hash.clone(),
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
        };
        let a = self.invoke(&req).await?;
        let user = self.authorization(a, None)?;
        Ok(self.finish_login(&user).await?)
    }

    /// Completes a 2FA login with the cloud password (SRP: the password never leaves).
    ///
    /// # Errors
    /// [`SignInError::InvalidPassword`], unsupported or unsafe SRP parameters, a call failure.
    pub async fn check_password(
        &self,
        token: PasswordToken,
        password: &str,
    ) -> Result<LoggedIn, SignInError> {
        let srp = srp_answer(&token.password, password)?;
        let a = match self
            .invoke(&functions::auth::CheckPassword { password: srp })
            .await
        {
            Ok(a) => a,
            Err(e) if e.is("PASSWORD_HASH_INVALID") => return Err(SignInError::InvalidPassword),
            Err(e) => return Err(e.into()),
        };
        let user = self.authorization(a, None)?;
        Ok(self.finish_login(&user).await?)
    }

    /// Logs out and forgets the account's keys.
    ///
    /// # Errors
    /// The call or the store failed.
    pub async fn log_out(&self) -> Result<(), InvocationError> {
        self.invoke(&functions::auth::LogOut {}).await?;
        self.disconnect();
        let home = self.home_dc();
        self.update_state(|st| {
            *st = crate::store::AccountState::new(home);
        })?;
        Ok(())
    }
}

/// The `inputCheckPasswordSRP` for `password` against the server's `account.password`.
pub(crate) fn srp_answer(
    p: &types::account::Password,
    password: &str,
) -> Result<enums::InputCheckPasswordSRP, InvocationError> {
    let bad = |r: &str| InvocationError::BadRequest(format!("2FA: {r}"));
    let Some(enums::PasswordKdfAlgo::SHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(algo)) =
        &p.current_algo
    else {
        return Err(bad(
            "the account has no password or an unknown password algorithm",
        ));
    };
    let (Some(srp_b), Some(srp_id)) = (&p.srp_b, p.srp_id) else {
        return Err(bad("the server sent no SRP challenge"));
    };
    let params = SrpParams {
        salt1: algo.salt1.clone(),
        salt2: algo.salt2.clone(),
        g: algo.g as u32,
        p: algo.p.clone(),
    };
    let mut a = [0u8; 256];
    rand::thread_rng().fill_bytes(&mut a);
    let proof = params
        .client_proof(password.as_bytes(), srp_b, &a)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(enums::InputCheckPasswordSRP::InputCheckPasswordSRP(
        types::InputCheckPasswordSRP {
            srp_id,
            a: proof.a.to_vec(),
            m1: proof.m1.to_vec(),
        },
    ))
}
