//! What kind of update it is (for filters and scripts) and the accessors of a delivered one.

use super::Delivered;
use crate::store::UpdateState;
use fleetgram_tl::enums;

/// The kind of an update, for filtering (what scripts subscribe to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UpdateKind {
    /// A new message (private, group, channel, business).
    NewMessage,
    /// A message was edited.
    MessageEdited,
    /// Messages were deleted.
    MessageDeleted,
    /// An inline keyboard button was pressed.
    CallbackQuery,
    /// An inline query to a bot.
    InlineQuery,
    /// A chosen inline result.
    InlineSend,
    /// A user went online/offline.
    UserStatus,
    /// Someone is typing.
    UserTyping,
    /// Membership changed.
    ParticipantUpdate,
    /// A join request.
    JoinRequest,
    /// Reactions changed.
    MessageReaction,
    /// A poll answer.
    PollVote,
    /// A user stopped or restarted the bot.
    BotStopped,
    /// A shipping query (payments).
    ShippingQuery,
    /// A pre-checkout query (payments).
    PreCheckoutQuery,
    /// A chat boost.
    ChatBoost,
    /// Anything else (the raw TL object is still there).
    Raw,
}

impl UpdateKind {
    /// The kind of `u`.
    pub fn of(u: &enums::Update) -> Self {
        use enums::Update as U;
        match u {
            U::NewMessage(_)
            | U::NewChannelMessage(_)
            | U::BotNewBusinessMessage(_)
            | U::NewScheduledMessage(_) => Self::NewMessage,
            U::EditMessage(_) | U::EditChannelMessage(_) | U::BotEditBusinessMessage(_) => {
                Self::MessageEdited
            }
            U::DeleteMessages(_)
            | U::DeleteChannelMessages(_)
            | U::BotDeleteBusinessMessage(_)
            | U::DeleteScheduledMessages(_) => Self::MessageDeleted,
            U::BotCallbackQuery(_)
            | U::InlineBotCallbackQuery(_)
            | U::BusinessBotCallbackQuery(_) => Self::CallbackQuery,
            U::BotInlineQuery(_) => Self::InlineQuery,
            U::BotInlineSend(_) => Self::InlineSend,
            U::UserStatus(_) => Self::UserStatus,
            U::UserTyping(_) | U::ChatUserTyping(_) | U::ChannelUserTyping(_) => Self::UserTyping,
            U::ChatParticipant(_)
            | U::ChannelParticipant(_)
            | U::ChatParticipantAdd(_)
            | U::ChatParticipantDelete(_)
            | U::ChatParticipantAdmin(_)
            | U::ChatParticipants(_) => Self::ParticipantUpdate,
            U::BotChatInviteRequester(_) | U::PendingJoinRequests(_) => Self::JoinRequest,
            U::MessageReactions(_) | U::BotMessageReaction(_) | U::BotMessageReactions(_) => {
                Self::MessageReaction
            }
            U::MessagePollVote(_) | U::MessagePoll(_) => Self::PollVote,
            U::BotStopped(_) => Self::BotStopped,
            U::BotShippingQuery(_) => Self::ShippingQuery,
            U::BotPrecheckoutQuery(_) => Self::PreCheckoutQuery,
            U::BotChatBoost(_) => Self::ChatBoost,
            _ => Self::Raw,
        }
    }
}

pub(super) fn message_of(u: &enums::Update) -> Option<&enums::Message> {
    use enums::Update as U;
    match u {
        U::NewMessage(u) => Some(&u.message),
        U::NewChannelMessage(u) => Some(&u.message),
        U::EditMessage(u) => Some(&u.message),
        U::EditChannelMessage(u) => Some(&u.message),
        _ => None,
    }
}

impl Delivered {
    /// An update not from a stream (for tests and benchmarks of handlers); acknowledging it
    /// does nothing.
    pub fn synthetic(
        update: enums::Update,
        users: Vec<enums::User>,
        chats: Vec<enums::Chat>,
    ) -> Self {
        Delivered {
            update,
            users: users.into(),
            chats: chats.into(),
            number: 0,
            state: UpdateState::default(),
            channel: None,
        }
    }

    /// The kind of this update.
    pub fn kind(&self) -> UpdateKind {
        UpdateKind::of(&self.update)
    }

    /// The message of a NewMessage / MessageEdited update.
    pub fn message(&self) -> Option<&enums::Message> {
        message_of(&self.update)
    }
}
