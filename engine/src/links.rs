//! Message links (`https://t.me/name/123`, `https://t.me/c/1234/56`, with `?thread=` and
//! `?comment=`, and their `tg://` forms): exporting them and parsing them back into a chat
//! and a message; and the typing guard, which keeps a chat action alive while work runs.
//!
//! ```no_run
//! # async fn f(client: fleetgram_engine::Client) -> Result<(), fleetgram_engine::InvocationError> {
//! let link = client.export_message_link("@fleet_demo_channel", 42, false).await?;
//! let m = client.message_from_link(&link).await?;
//! {
//!     let _typing = client.typing("@someone", fleetgram_engine::links::ChatAction::Typing).await?;
//!     // ... work; "typing…" shows until the guard is dropped
//! }
//! # Ok(()) }
//! ```

use crate::client::Client;
use crate::error::InvocationError;
use crate::messages::{Message, PeerRef};
use fleetgram_tl::{enums, functions, types};
use std::time::Duration;

/// Where a message link points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLink {
    /// The chat: `@username` of a public one, or the marked id (`-100…`) of a private one.
    pub chat: String,
    /// The message.
    pub id: i32,
    /// The thread (topic or reply thread) it was opened in.
    pub thread: Option<i32>,
    /// The comment (in the channel's discussion group) it points at.
    pub comment: Option<i32>,
}

/// Parses a message link: `https://t.me/NAME/ID`, `https://t.me/NAME/THREAD/ID`,
/// `https://t.me/c/CHANNEL/ID`, `https://t.me/c/CHANNEL/THREAD/ID` (with `?thread=` /
/// `?comment=`), `tg://resolve?domain=NAME&post=ID` and `tg://privatepost?channel=C&post=ID`.
pub fn parse_message_link(link: &str) -> Option<MessageLink> {
    let link = link.trim();
    let (path, query) = link.split_once('?').unwrap_or((link, ""));
    let param = |k: &str| -> Option<&str> {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(a, _)| *a == k)
            .map(|(_, v)| v)
    };
    let num = |v: Option<&str>| v.and_then(|x| x.parse::<i32>().ok());
    if let Some(rest) = path.strip_prefix("tg://") {
        let (chat, id) = match rest {
            "resolve" => (format!("@{}", param("domain")?), num(param("post"))?),
            "privatepost" => {
                let c: i64 = param("channel")?.parse().ok()?;
                (format!("{}", -1_000_000_000_000 - c), num(param("post"))?)
            }
            _ => return None,
        };
        return Some(MessageLink {
            chat,
            id,
            thread: num(param("thread")),
            comment: num(param("comment")),
        });
    }
    let path = path
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let path = path
        .strip_prefix("t.me/")
        .or_else(|| path.strip_prefix("telegram.me/"))
        .or_else(|| path.strip_prefix("telegram.dog/"))?;
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (chat, rest) = match parts.as_slice() {
        ["c", channel, rest @ ..] => {
            let c: i64 = channel.parse().ok()?;
            (format!("{}", -1_000_000_000_000 - c), rest)
        }
        [name, rest @ ..] if !name.is_empty() && !name.starts_with('+') => {
            (format!("@{name}"), rest)
        }
        _ => return None,
    };
    let (thread, id) = match rest {
        [id] => (num(param("thread")), id.parse().ok()?),
        [thread, id] => (Some(thread.parse().ok()?), id.parse().ok()?),
        _ => return None,
    };
    Some(MessageLink {
        chat,
        id,
        thread,
        comment: num(param("comment")),
    })
}

/// What a chat shows while the action runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChatAction {
    /// "typing…"
    Typing,
    /// "sending a file…", with progress in percent.
    UploadDocument(i32),
    /// "sending a photo…"
    UploadPhoto(i32),
    /// "recording a voice message…"
    RecordAudio,
    /// "choosing a sticker…"
    ChooseSticker,
}

impl ChatAction {
    fn tl(self) -> enums::SendMessageAction {
        match self {
            Self::Typing => enums::SendMessageAction::SendMessageTypingAction,
            Self::UploadDocument(p) => {
                types::SendMessageUploadDocumentAction { progress: p }.into()
            }
            Self::UploadPhoto(p) => types::SendMessageUploadPhotoAction { progress: p }.into(),
            Self::RecordAudio => enums::SendMessageAction::SendMessageRecordAudioAction,
            Self::ChooseSticker => enums::SendMessageAction::SendMessageChooseStickerAction,
        }
    }
}

/// Keeps a chat action shown (repeating it every few seconds, as Telegram expires it after
/// about five) until dropped, then cancels it.
pub struct TypingGuard {
    action: tokio::sync::watch::Sender<Option<ChatAction>>,
}

impl TypingGuard {
    /// Changes the action shown (e.g. the upload progress).
    pub fn set(&self, action: ChatAction) {
        self.action.send_replace(Some(action));
    }
}

impl Drop for TypingGuard {
    fn drop(&mut self) {
        // The task sends the cancel action and ends.
        self.action.send_replace(None);
    }
}

/// How often a held chat action is sent again.
const REPEAT: Duration = Duration::from_secs(4);

impl Client {
    /// A link to message `id` of a channel or supergroup (`thread`: opened in its thread).
    ///
    /// # Errors
    /// The chat is not a channel or supergroup (private chats and basic groups have no
    /// message links); `MSG_ID_INVALID`...
    pub async fn export_message_link(
        &self,
        chat: impl Into<PeerRef>,
        id: i32,
        thread: bool,
    ) -> Result<String, InvocationError> {
        self.with_peer_ref(&chat.into(), |peer| {
            let client = self.clone();
            async move {
                let channel = crate::peers::input_channel(&peer).ok_or_else(|| {
                    InvocationError::BadRequest(
                        "message links exist for channels and supergroups only".into(),
                    )
                })?;
                let enums::ExportedMessageLink::ExportedMessageLink(l) = client
                    .invoke(&functions::channels::ExportMessageLink {
                        grouped: false,
                        thread,
                        channel,
                        id,
                    })
                    .await?;
                Ok(l.link)
            }
        })
        .await
    }

    /// The message a link points at (the chat resolved as the link names it). A
    /// `?comment=` link gives the comment, found in the post's discussion group.
    ///
    /// # Errors
    /// Not a message link; the chat cannot be resolved; the message does not exist.
    pub async fn message_from_link(&self, link: &str) -> Result<Message, InvocationError> {
        let l = parse_message_link(link).ok_or_else(|| {
            InvocationError::BadRequest(format!("{link:?} is not a message link"))
        })?;
        let (mut found, id) = match l.comment {
            Some(comment) => {
                // The comment lives in the discussion group, beside the post's forward.
                let start = self.discussion_message(l.chat.as_str(), l.id).await?;
                (self.get_messages(&start, &[comment]).await?, comment)
            }
            None => (self.get_messages(l.chat.as_str(), &[l.id]).await?, l.id),
        };
        found.pop().ok_or_else(|| {
            InvocationError::BadRequest(format!("{link}: message {id} does not exist"))
        })
    }

    /// The message that starts the thread of message `msg_id` of `chat`: for a channel post,
    /// its automatic forward in the channel's discussion group (reply to it to comment,
    /// [`Client::iter_replies`] lists the comments).
    ///
    /// # Errors
    /// `MSG_ID_INVALID` (no such message, or the post has no comments)...
    pub async fn discussion_message(
        &self,
        chat: impl Into<PeerRef>,
        msg_id: i32,
    ) -> Result<Message, InvocationError> {
        self.with_peer_ref(&chat.into(), |peer| {
            let client = self.clone();
            async move {
                let enums::messages::DiscussionMessage::DiscussionMessage(d) = client
                    .invoke(&functions::messages::GetDiscussionMessage { peer, msg_id })
                    .await?;
                // The thread's first message is the last one listed.
                let m = d.messages.into_iter().last().ok_or_else(|| {
                    InvocationError::BadRequest(format!("message {msg_id} starts no thread"))
                })?;
                Ok(Message::new(client, m))
            }
        })
        .await
    }

    /// Makes `group` (a supergroup) the discussion group of broadcast channel `channel`
    /// (its posts are forwarded there and open their comment threads); `None` unlinks.
    ///
    /// # Errors
    /// `BROADCAST_ID_INVALID`, `MEGAGROUP_ID_INVALID`, `LINK_NOT_MODIFIED`,
    /// `CHAT_ADMIN_REQUIRED`...
    pub async fn set_discussion_group(
        &self,
        channel: impl Into<PeerRef>,
        group: Option<PeerRef>,
    ) -> Result<(), InvocationError> {
        let not_channel =
            |what: &str| InvocationError::BadRequest(format!("{what} is not a channel"));
        let broadcast = self.resolve_peer_ref(&channel.into()).await?;
        let broadcast =
            crate::peers::input_channel(&broadcast).ok_or_else(|| not_channel("the channel"))?;
        let group = match group {
            Some(g) => {
                let g = self.resolve_peer_ref(&g).await?;
                crate::peers::input_channel(&g).ok_or_else(|| not_channel("the group"))?
            }
            None => enums::InputChannel::Empty,
        };
        self.invoke(&functions::channels::SetDiscussionGroup { broadcast, group })
            .await?;
        Ok(())
    }

    /// Shows `action` in `chat` until the returned guard is dropped.
    ///
    /// # Errors
    /// The first `messages.setTyping` failed (no rights, unknown chat...).
    pub async fn typing(
        &self,
        chat: impl Into<PeerRef>,
        action: ChatAction,
    ) -> Result<TypingGuard, InvocationError> {
        let peer = self.resolve_peer_ref(&chat.into()).await?;
        let set = |client: Client, peer: enums::InputPeer, action: enums::SendMessageAction| async move {
            client
                .invoke(&functions::messages::SetTyping {
                    peer,
                    top_msg_id: None,
                    action,
                })
                .await
                .map(|_| ())
        };
        set(self.clone(), peer.clone(), action.tl()).await?;
        let (tx, mut rx) = tokio::sync::watch::channel(Some(action));
        let client = self.clone();
        tokio::spawn(async move {
            loop {
                match tokio::time::timeout(REPEAT, rx.changed()).await {
                    // Dropped (or the guard is gone): cancel and stop.
                    Ok(Err(_)) => break,
                    Ok(Ok(())) if rx.borrow().is_none() => break,
                    _ => {}
                }
                let Some(a) = *rx.borrow() else { break };
                if let Err(e) = set(client.clone(), peer.clone(), a.tl()).await {
                    tracing::debug!(error = %e, "chat action");
                }
            }
            let _ = set(
                client,
                peer,
                enums::SendMessageAction::SendMessageCancelAction,
            )
            .await;
        });
        Ok(TypingGuard { action: tx })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_of_every_form_parse() {
        let l = |chat: &str, id, thread, comment| MessageLink {
            chat: chat.into(),
            id,
            thread,
            comment,
        };
        assert_eq!(
            parse_message_link("https://t.me/durov/42"),
            Some(l("@durov", 42, None, None))
        );
        assert_eq!(
            parse_message_link("t.me/durov/42?thread=7"),
            Some(l("@durov", 42, Some(7), None))
        );
        assert_eq!(
            parse_message_link("https://t.me/durov/42?comment=9"),
            Some(l("@durov", 42, None, Some(9)))
        );
        assert_eq!(
            parse_message_link("https://t.me/durov/7/42"),
            Some(l("@durov", 42, Some(7), None))
        );
        assert_eq!(
            parse_message_link("https://t.me/c/1234567/89"),
            Some(l("-1000001234567", 89, None, None))
        );
        assert_eq!(
            parse_message_link("https://telegram.me/c/1234567/5/89/"),
            Some(l("-1000001234567", 89, Some(5), None))
        );
        assert_eq!(
            parse_message_link("tg://resolve?domain=durov&post=42&thread=3"),
            Some(l("@durov", 42, Some(3), None))
        );
        assert_eq!(
            parse_message_link("tg://privatepost?channel=1234567&post=89"),
            Some(l("-1000001234567", 89, None, None))
        );
        for bad in [
            "https://t.me/durov",
            "https://t.me/+AbCd",
            "https://example.com/a/1",
            "t.me/c/x/1",
            "",
        ] {
            assert_eq!(parse_message_link(bad), None, "{bad}");
        }
    }
}
