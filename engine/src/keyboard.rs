//! Reply markup: inline keyboards (under a message), reply keyboards (instead of the user's
//! keyboard), removing a keyboard and forcing a reply.
//!
//! ```
//! use fleetgram_engine::keyboard::{self, Button};
//! let markup = keyboard::inline(vec![
//!     vec![Button::callback("Yes", b"yes"), Button::callback("No", b"no")],
//!     vec![Button::url("Docs", "https://core.telegram.org")],
//! ]);
//! let reply = keyboard::reply(vec![vec![Button::text("Hi"), Button::request_phone("Share")]])
//!     .resize()
//!     .single_use()
//!     .placeholder("Choose")
//!     .build();
//! # let _ = (markup, reply);
//! ```

use fleetgram_tl::{enums, types};

/// One button (inline or reply: which kinds make sense where is Telegram's rule: callback,
/// URL, switch-inline and copy buttons are inline; text, phone and location are reply).
#[derive(Debug, Clone, PartialEq)]
pub enum Button {
    /// An inline button.
    Inline(types::KeyboardInlineButton),
    /// A reply-keyboard button.
    Reply(types::KeyboardButton),
}

impl Button {
    fn inline(text: &str, ty: enums::InlineButtonType) -> Self {
        Self::Inline(types::KeyboardInlineButton {
            style: None,
            text: text.to_string(),
            r#type: ty,
        })
    }

    fn reply_kind(text: &str, ty: enums::ButtonType) -> Self {
        Self::Reply(types::KeyboardButton {
            style: None,
            text: text.to_string(),
            r#type: ty,
        })
    }

    /// A button that sends `data` (at most 64 bytes) back to the bot as a callback query.
    pub fn callback(text: &str, data: &[u8]) -> Self {
        Self::inline(
            text,
            types::InlineButtonTypeCallback {
                requires_password: false,
                data: data.to_vec(),
            }
            .into(),
        )
    }

    /// A button that opens `url`.
    pub fn url(text: &str, url: &str) -> Self {
        Self::inline(text, types::InlineButtonTypeUrl { url: url.into() }.into())
    }

    /// A button that starts an inline query `query` to the bot (in the same chat when
    /// `same_peer`, else in a chat the user picks).
    pub fn switch_inline(text: &str, query: &str, same_peer: bool) -> Self {
        Self::inline(
            text,
            types::InlineButtonTypeSwitchInline {
                same_peer,
                query: query.into(),
                peer_types: None,
            }
            .into(),
        )
    }

    /// A button that copies `copy` to the clipboard.
    pub fn copy(text: &str, copy: &str) -> Self {
        Self::inline(
            text,
            types::InlineButtonTypeCopy {
                copy_text: copy.into(),
            }
            .into(),
        )
    }

    /// A reply-keyboard button that sends its text.
    pub fn text(text: &str) -> Self {
        Self::reply_kind(text, enums::ButtonType::Default)
    }

    /// A reply-keyboard button that shares the user's phone number.
    pub fn request_phone(text: &str) -> Self {
        Self::reply_kind(text, enums::ButtonType::RequestPhone)
    }

    /// A reply-keyboard button that shares the user's location.
    pub fn request_location(text: &str) -> Self {
        Self::reply_kind(text, enums::ButtonType::RequestGeoLocation)
    }

    /// The label.
    pub fn label(&self) -> &str {
        match self {
            Self::Inline(b) => &b.text,
            Self::Reply(b) => &b.text,
        }
    }
}

/// An inline keyboard of `rows` (reply buttons in it are turned into callback buttons that
/// send their label).
pub fn inline(rows: Vec<Vec<Button>>) -> enums::ReplyMarkup {
    let rows = rows
        .into_iter()
        .map(|r| {
            types::KeyboardInlineButtonRow {
                buttons: r
                    .into_iter()
                    .map(|b| match b {
                        Button::Inline(b) => b.into(),
                        Button::Reply(b) => {
                            let data = b.text.as_bytes().to_vec();
                            match Button::callback(&b.text, &data) {
                                Button::Inline(b) => b.into(),
                                Button::Reply(_) => unreachable!("callback is inline"),
                            }
                        }
                    })
                    .collect(),
            }
            .into()
        })
        .collect();
    types::ReplyInlineMarkup {
        force_reply: false,
        rows,
    }
    .into()
}

/// A reply keyboard being built.
#[derive(Debug, Clone)]
pub struct ReplyKeyboard(types::ReplyKeyboardMarkup);

/// A reply keyboard of `rows` (inline buttons in it keep only their label).
pub fn reply(rows: Vec<Vec<Button>>) -> ReplyKeyboard {
    let rows = rows
        .into_iter()
        .map(|r| {
            types::KeyboardButtonRow {
                buttons: r
                    .into_iter()
                    .map(|b| match b {
                        Button::Reply(b) => b.into(),
                        Button::Inline(b) => types::KeyboardButton {
                            style: None,
                            text: b.text,
                            r#type: enums::ButtonType::Default,
                        }
                        .into(),
                    })
                    .collect(),
            }
            .into()
        })
        .collect();
    ReplyKeyboard(types::ReplyKeyboardMarkup {
        rows,
        ..Default::default()
    })
}

impl ReplyKeyboard {
    /// Fits the keyboard's height to its buttons.
    pub fn resize(mut self) -> Self {
        self.0.resize = true;
        self
    }

    /// Hides the keyboard after one use.
    pub fn single_use(mut self) -> Self {
        self.0.single_use = true;
        self
    }

    /// Shows it only to the users mentioned (or replied to).
    pub fn selective(mut self) -> Self {
        self.0.selective = true;
        self
    }

    /// Keeps it shown when the user opens the normal keyboard.
    pub fn persistent(mut self) -> Self {
        self.0.persistent = true;
        self
    }

    /// The input field's placeholder.
    pub fn placeholder(mut self, text: &str) -> Self {
        self.0.placeholder = Some(text.into());
        self
    }

    /// The markup.
    pub fn build(self) -> enums::ReplyMarkup {
        self.0.into()
    }
}

impl From<ReplyKeyboard> for enums::ReplyMarkup {
    fn from(k: ReplyKeyboard) -> Self {
        k.build()
    }
}

/// Removes the reply keyboard.
pub fn remove() -> enums::ReplyMarkup {
    types::ReplyKeyboardHide { selective: false }.into()
}

/// Opens a reply to the message in the user's app (with a placeholder).
pub fn force_reply(placeholder: Option<&str>) -> enums::ReplyMarkup {
    types::ReplyKeyboardForceReply {
        single_use: false,
        selective: false,
        placeholder: placeholder.map(str::to_string),
    }
    .into()
}

/// The inline buttons of a markup, row by row.
pub fn inline_buttons(markup: &enums::ReplyMarkup) -> Vec<Vec<&types::KeyboardInlineButton>> {
    let enums::ReplyMarkup::ReplyInlineMarkup(m) = markup else {
        return Vec::new();
    };
    m.rows
        .iter()
        .map(|r| {
            let enums::KeyboardInlineButtonRow::KeyboardInlineButtonRow(r) = r;
            r.buttons
                .iter()
                .map(|b| {
                    let enums::KeyboardInlineButton::KeyboardInlineButton(b) = b;
                    &**b
                })
                .collect()
        })
        .collect()
}
