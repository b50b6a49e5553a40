//! What to send and to whom: a peer reference and a message being built.

use super::*;

/// Who a call is about: `"me"`, `"@username"`, a t.me link, a marked id, or an `InputPeer`.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerRef {
    /// A reference resolved with [`Client::resolve_peer`] (re-resolved once when stale).
    Reference(String),
    /// A ready `InputPeer`.
    Input(enums::InputPeer),
}

impl From<&str> for PeerRef {
    fn from(s: &str) -> Self {
        Self::Reference(s.to_string())
    }
}

impl From<String> for PeerRef {
    fn from(s: String) -> Self {
        Self::Reference(s)
    }
}

impl From<&String> for PeerRef {
    fn from(s: &String) -> Self {
        Self::Reference(s.clone())
    }
}

impl From<i64> for PeerRef {
    fn from(id: i64) -> Self {
        Self::Reference(id.to_string())
    }
}

impl From<enums::InputPeer> for PeerRef {
    fn from(p: enums::InputPeer) -> Self {
        Self::Input(p)
    }
}

impl From<&Message> for PeerRef {
    fn from(m: &Message) -> Self {
        Self::Reference(m.chat_id().to_string())
    }
}

/// A message to send (or the new content of one to edit).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputMessage {
    /// The plain text (a caption with media).
    pub text: String,
    /// Its entities (UTF-16 offsets); mentions by user id are made into input mentions when
    /// sent.
    pub entities: Vec<enums::MessageEntity>,
    /// The message this one replies to.
    pub reply_to: Option<i32>,
    /// Without a notification.
    pub silent: bool,
    /// Sent at this unix time (a scheduled message).
    pub schedule: Option<i32>,
    /// Without a link preview.
    pub no_link_preview: bool,
    /// A keyboard.
    pub reply_markup: Option<enums::ReplyMarkup>,
    /// Media (photo, document...), with the text as caption.
    pub media: Option<enums::InputMedia>,
    /// The `random_id` (random when not set; a repeated one sends nothing new).
    pub random_id: Option<i64>,
}

impl From<&str> for InputMessage {
    fn from(s: &str) -> Self {
        Self::text(s)
    }
}

impl From<String> for InputMessage {
    fn from(s: String) -> Self {
        Self::text(s)
    }
}

impl From<&String> for InputMessage {
    fn from(s: &String) -> Self {
        Self::text(s.as_str())
    }
}

impl InputMessage {
    /// Plain text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// Text in the Bot API's HTML.
    ///
    /// # Errors
    /// Malformed HTML (the error names line and column).
    pub fn html(html: &str) -> Result<Self, FormatError> {
        Self::parse(ParseMode::Html, html)
    }

    /// Text in Markdown.
    ///
    /// # Errors
    /// Malformed Markdown (the error names line and column).
    pub fn markdown(md: &str) -> Result<Self, FormatError> {
        Self::parse(ParseMode::Markdown, md)
    }

    /// Text in `mode`.
    ///
    /// # Errors
    /// Malformed markup.
    pub fn parse(mode: ParseMode, s: &str) -> Result<Self, FormatError> {
        let (text, entities) = text::parse(mode, s)?;
        Ok(Self {
            text,
            entities,
            ..Self::default()
        })
    }

    /// With these entities.
    pub fn entities(mut self, entities: Vec<enums::MessageEntity>) -> Self {
        self.entities = entities;
        self
    }

    /// As a reply to message `id`.
    pub fn reply_to(mut self, id: i32) -> Self {
        self.reply_to = Some(id);
        self
    }

    /// Without a notification.
    pub fn silent(mut self, silent: bool) -> Self {
        self.silent = silent;
        self
    }

    /// Scheduled for unix time `at`.
    pub fn schedule(mut self, at: i32) -> Self {
        self.schedule = Some(at);
        self
    }

    /// Without a link preview.
    pub fn no_link_preview(mut self) -> Self {
        self.no_link_preview = true;
        self
    }

    /// With a keyboard (see [`crate::keyboard`]).
    pub fn reply_markup(mut self, markup: impl Into<enums::ReplyMarkup>) -> Self {
        self.reply_markup = Some(markup.into());
        self
    }

    /// With media (the text becomes its caption).
    pub fn media(mut self, media: enums::InputMedia) -> Self {
        self.media = Some(media);
        self
    }

    /// With this `random_id` (sending twice with one id sends once).
    pub fn random_id(mut self, id: i64) -> Self {
        self.random_id = Some(id);
        self
    }
}
