//! Mini-app sessions: `messages.requestWebView` (a bot's web app opened from a chat),
//! `messages.requestAppWebView` (a named app), and a session object that keeps the view
//! alive with `messages.prolongWebView` until it is dropped.
//!
//! ```no_run
//! # async fn f(client: fleetgram_engine::Client) -> Result<(), fleetgram_engine::InvocationError> {
//! let view = client.open_web_view("@shop_bot", "@shop_bot", None, None).await?;
//! println!("open {}", view.url());
//! // ... the view stays valid while `view` lives
//! # Ok(()) }
//! ```

use crate::client::Client;
use crate::error::InvocationError;
use crate::messages::PeerRef;
use fleetgram_tl::{enums, functions, types};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often an open view is prolonged (Telegram's clients: every 60 s).
pub const PROLONG_EVERY: Duration = Duration::from_secs(60);

/// An open mini app.
pub struct WebViewSession {
    url: String,
    query_id: Option<i64>,
    prolonged: Arc<AtomicU32>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl WebViewSession {
    /// The URL to load (with the signed `tgWebAppData`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The query id (views opened from a chat have one; named apps do not).
    pub fn query_id(&self) -> Option<i64> {
        self.query_id
    }

    /// How many times it was prolonged so far.
    pub fn prolonged(&self) -> u32 {
        self.prolonged.load(Ordering::Relaxed)
    }

    /// Closes it (stops prolonging; also done on drop).
    pub fn close(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Drop for WebViewSession {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn input_user(p: enums::InputPeer) -> Result<enums::InputUser, InvocationError> {
    match p {
        enums::InputPeer::User(_) => crate::peers::input_user(&p),
        _ => None,
    }
    .ok_or_else(|| InvocationError::BadRequest("a mini app belongs to a bot".into()))
}

fn url_of(r: enums::WebViewResult) -> (String, Option<i64>) {
    match r {
        enums::WebViewResult::Url(u) => (u.url, u.query_id),
    }
}

impl Client {
    /// Opens `bot`'s mini app from chat `peer` (at `url`, or the bot's menu app), kept alive
    /// every [`PROLONG_EVERY`] until the session is dropped.
    ///
    /// # Errors
    /// `BOT_INVALID`, `BOT_WEBVIEW_DISABLED`...
    pub async fn open_web_view(
        &self,
        peer: impl Into<PeerRef>,
        bot: impl Into<PeerRef>,
        url: Option<&str>,
        start_param: Option<&str>,
    ) -> Result<WebViewSession, InvocationError> {
        self.open_web_view_every(peer, bot, url, start_param, PROLONG_EVERY)
            .await
    }

    /// [`Client::open_web_view`], prolonged every `every`.
    ///
    /// # Errors
    /// As [`Client::open_web_view`].
    pub async fn open_web_view_every(
        &self,
        peer: impl Into<PeerRef>,
        bot: impl Into<PeerRef>,
        url: Option<&str>,
        start_param: Option<&str>,
        every: Duration,
    ) -> Result<WebViewSession, InvocationError> {
        let peer = self.resolve_peer_ref(&peer.into()).await?;
        let bot = input_user(self.resolve_peer_ref(&bot.into()).await?)?;
        let r = self
            .invoke(&functions::messages::RequestWebView {
                from_bot_menu: url.is_none(),
                silent: false,
                compact: false,
                fullscreen: false,
                peer: peer.clone(),
                bot: bot.clone(),
                url: url.map(str::to_string),
                start_param: start_param.map(str::to_string),
                theme_params: None,
                platform: "fleetgram".into(),
                reply_to: None,
                send_as: None,
            })
            .await?;
        let (url, query_id) = url_of(r);
        let prolonged = Arc::new(AtomicU32::new(0));
        let task = query_id.map(|query_id| {
            let (client, count) = (self.clone(), prolonged.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let r = client
                        .invoke(&functions::messages::ProlongWebView {
                            silent: false,
                            peer: peer.clone(),
                            bot: bot.clone(),
                            query_id,
                            reply_to: None,
                            send_as: None,
                        })
                        .await;
                    match r {
                        Ok(_) => {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::info!(error = %e, query_id, "the mini app's view ended");
                            return;
                        }
                    }
                }
            })
        });
        Ok(WebViewSession {
            url,
            query_id,
            prolonged,
            task,
        })
    }

    /// Opens the named mini app `short_name` of `bot` (`t.me/bot/short_name`).
    ///
    /// # Errors
    /// `BOT_APP_INVALID`...
    pub async fn open_app(
        &self,
        peer: impl Into<PeerRef>,
        bot: impl Into<PeerRef>,
        short_name: &str,
        start_param: Option<&str>,
    ) -> Result<WebViewSession, InvocationError> {
        let peer = self.resolve_peer_ref(&peer.into()).await?;
        let bot = input_user(self.resolve_peer_ref(&bot.into()).await?)?;
        let r = self
            .invoke(&functions::messages::RequestAppWebView {
                write_allowed: false,
                compact: false,
                fullscreen: false,
                peer,
                app: types::InputBotAppShortName {
                    bot_id: bot,
                    short_name: short_name.into(),
                }
                .into(),
                start_param: start_param.map(str::to_string),
                theme_params: None,
                platform: "fleetgram".into(),
            })
            .await?;
        let (url, query_id) = url_of(r);
        Ok(WebViewSession {
            url,
            query_id,
            prolonged: Arc::default(),
            task: None,
        })
    }

    /// Resolves a [`PeerRef`].
    ///
    /// # Errors
    /// As [`Client::resolve_peer`].
    pub async fn resolve_peer_ref(&self, r: &PeerRef) -> Result<enums::InputPeer, InvocationError> {
        match r {
            PeerRef::Input(p) => Ok(p.clone()),
            PeerRef::Reference(s) => self.resolve_peer(s).await,
        }
    }
}
