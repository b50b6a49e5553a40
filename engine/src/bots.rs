//! Bot helpers: answering callback queries, inline queries, shipping and pre-checkout
//! queries; the command list; polls and votes.
//!
//! ```no_run
//! # async fn f(bot: fleetgram_engine::Client, query_id: i64) -> Result<(), fleetgram_engine::InvocationError> {
//! use fleetgram_engine::bots::{CallbackAnswer, InlineResult};
//! bot.answer_callback(query_id, CallbackAnswer::text("Saved").alert()).await?;
//! bot.answer_inline(query_id, vec![InlineResult::article("1", "Hello", "Hello, world")], 0, None).await?;
//! bot.set_commands(&[("start", "Start the bot"), ("help", "What it does")]).await?;
//! # Ok(()) }
//! ```

use crate::client::Client;
use crate::error::InvocationError;
use crate::messages::{InputMessage, Message, PeerRef};
use fleetgram_tl::{enums, functions, types};

/// The answer to a callback query (a pressed inline button).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallbackAnswer {
    /// A notification (or alert) text.
    pub text: Option<String>,
    /// Shown as an alert the user must dismiss.
    pub alert: bool,
    /// A URL to open (games, `t.me/bot?start=` links).
    pub url: Option<String>,
    /// Seconds the client may cache the answer.
    pub cache_time: i32,
}

impl CallbackAnswer {
    /// No text: just stops the button's spinner.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A notification.
    pub fn text(text: &str) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// As an alert.
    pub fn alert(mut self) -> Self {
        self.alert = true;
        self
    }

    /// Opening `url`.
    pub fn url(mut self, url: &str) -> Self {
        self.url = Some(url.into());
        self
    }
}

/// One result of an inline query.
#[derive(Debug, Clone, PartialEq)]
pub struct InlineResult(types::InputBotInlineResult);

impl InlineResult {
    /// An article: a title (and description) that sends `message` when chosen.
    pub fn article(id: &str, title: &str, message: impl Into<InputMessage>) -> Self {
        let m = message.into();
        Self(types::InputBotInlineResult {
            id: id.into(),
            r#type: "article".into(),
            title: Some(title.into()),
            description: None,
            url: None,
            thumb: None,
            content: None,
            send_message: types::InputBotInlineMessageText {
                no_webpage: m.no_link_preview,
                invert_media: false,
                message: m.text,
                entities: (!m.entities.is_empty()).then_some(m.entities),
                reply_markup: m.reply_markup,
            }
            .into(),
        })
    }

    /// With a description under the title.
    pub fn description(mut self, d: &str) -> Self {
        self.0.description = Some(d.into());
        self
    }
}

impl Client {
    /// Answers callback query `query_id`.
    ///
    /// # Errors
    /// `QUERY_ID_INVALID` (unknown or too old)...
    pub async fn answer_callback(
        &self,
        query_id: i64,
        a: CallbackAnswer,
    ) -> Result<(), InvocationError> {
        self.invoke(&functions::messages::SetBotCallbackAnswer {
            alert: a.alert,
            query_id,
            message: a.text,
            url: a.url,
            cache_time: a.cache_time,
        })
        .await
        .map(|_| ())
    }

    /// Answers inline query `query_id` with `results` (`next_offset`: where the next page
    /// of results starts, when there are more).
    ///
    /// # Errors
    /// `QUERY_ID_INVALID`, `RESULT_ID_DUPLICATE`...
    pub async fn answer_inline(
        &self,
        query_id: i64,
        results: Vec<InlineResult>,
        cache_time: i32,
        next_offset: Option<&str>,
    ) -> Result<(), InvocationError> {
        self.invoke(&functions::messages::SetInlineBotResults {
            gallery: false,
            private: false,
            query_id,
            results: results.into_iter().map(|r| r.0.into()).collect(),
            cache_time,
            next_offset: next_offset.map(str::to_string),
            switch_pm: None,
            switch_webview: None,
        })
        .await
        .map(|_| ())
    }

    /// Sets the bot's command list (for every chat and language).
    ///
    /// # Errors
    /// `BOT_COMMAND_INVALID`...
    pub async fn set_commands(&self, commands: &[(&str, &str)]) -> Result<(), InvocationError> {
        self.invoke(&functions::bots::SetBotCommands {
            scope: enums::BotCommandScope::Default,
            lang_code: String::new(),
            commands: commands
                .iter()
                .map(|(c, d)| {
                    types::BotCommand {
                        ephemeral: false,
                        command: (*c).into(),
                        description: (*d).into(),
                    }
                    .into()
                })
                .collect(),
        })
        .await
        .map(|_| ())
    }

    /// The bot's command list (for every chat and language), as (command, description).
    ///
    /// # Errors
    /// The call failed.
    pub async fn commands(&self) -> Result<Vec<(String, String)>, InvocationError> {
        let list = self
            .invoke(&functions::bots::GetBotCommands {
                scope: enums::BotCommandScope::Default,
                lang_code: String::new(),
            })
            .await?;
        Ok(list
            .into_iter()
            .map(|c| {
                let enums::BotCommand::BotCommand(c) = c;
                (c.command, c.description)
            })
            .collect())
    }

    /// Answers a shipping query: the options, or an error shown to the user.
    ///
    /// # Errors
    /// `QUERY_ID_INVALID`...
    pub async fn answer_shipping(
        &self,
        query_id: i64,
        options: Result<Vec<types::ShippingOption>, String>,
    ) -> Result<(), InvocationError> {
        let (error, shipping_options) = match options {
            Ok(o) => (None, Some(o.into_iter().map(Into::into).collect())),
            Err(e) => (Some(e), None),
        };
        self.invoke(&functions::messages::SetBotShippingResults {
            query_id,
            error,
            shipping_options,
        })
        .await
        .map(|_| ())
    }

    /// Answers a pre-checkout query: go ahead, or an error shown to the user.
    ///
    /// # Errors
    /// `QUERY_ID_INVALID`...
    pub async fn answer_precheckout(
        &self,
        query_id: i64,
        outcome: Result<(), String>,
    ) -> Result<(), InvocationError> {
        self.invoke(&functions::messages::SetBotPrecheckoutResults {
            success: outcome.is_ok(),
            query_id,
            error: outcome.err(),
        })
        .await
        .map(|_| ())
    }

    /// Sends a poll (`quiz`: with `correct` the right answer's index).
    ///
    /// # Errors
    /// `POLL_ANSWERS_INVALID`, `QUIZ_CORRECT_ANSWERS_EMPTY`...
    pub async fn send_poll(
        &self,
        chat: impl Into<PeerRef>,
        question: &str,
        answers: &[&str],
        correct: Option<usize>,
    ) -> Result<Message, InvocationError> {
        let text = |t: &str| -> enums::TextWithEntities {
            types::TextWithEntities {
                text: t.into(),
                entities: vec![],
            }
            .into()
        };
        let poll = types::Poll {
            id: rand::random(),
            quiz: correct.is_some(),
            question: text(question),
            answers: answers
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    types::PollAnswer {
                        text: text(a),
                        option: vec![i as u8],
                        media: None,
                        added_by: None,
                        date: None,
                    }
                    .into()
                })
                .collect(),
            closed: false,
            public_voters: false,
            multiple_choice: false,
            open_answers: false,
            revoting_disabled: false,
            shuffle_answers: false,
            hide_results_until_close: false,
            creator: false,
            subscribers_only: false,
            close_period: None,
            close_date: None,
            countries_iso2: None,
            hash: 0,
        };
        let media = types::InputMediaPoll {
            poll: poll.into(),
            correct_answers: correct.map(|c| vec![c as i32]),
            attached_media: None,
            solution: None,
            solution_entities: None,
            solution_media: None,
        };
        self.send_message(chat, InputMessage::text("").media(media.into()))
            .await
    }

    /// Votes in the poll of message `id` of `chat` for the answers at `choices`.
    ///
    /// # Errors
    /// `MESSAGE_POLL_CLOSED`, `OPTION_INVALID`...
    pub async fn vote(
        &self,
        chat: impl Into<PeerRef>,
        id: i32,
        choices: &[usize],
    ) -> Result<(), InvocationError> {
        let options: Vec<Vec<u8>> = choices.iter().map(|c| vec![*c as u8]).collect();
        self.with_peer_ref(&chat.into(), |peer| {
            let client = self.clone();
            let options = options.clone();
            async move {
                client
                    .invoke(&functions::messages::SendVote {
                        peer,
                        msg_id: id,
                        options,
                    })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }
}
