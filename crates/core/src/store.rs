//! The [`SessionStore`] trait: where conversations and their messages live.

use async_trait::async_trait;

use crate::model::{Conversation, ConversationStatus, Feedback, Message};
use crate::Result;

/// What happened to a message handed to [`SessionStore::append_message`].
#[derive(Debug, Clone, PartialEq)]
pub enum AppendOutcome {
    /// Stored now, with its position assigned.
    Stored(Message),
    /// A message with the same client id was already stored; this is that message.
    Duplicate(Message),
}

impl AppendOutcome {
    /// The stored message, whichever way it got there.
    pub fn message(&self) -> &Message {
        match self {
            Self::Stored(message) | Self::Duplicate(message) => message,
        }
    }
}

/// Conversations and messages, kept by the embedded backend (one file) or Redis (shared by
/// replicas). Implementations must never block the async runtime.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new conversation.
    async fn create_conversation(&self, conversation: &Conversation) -> Result<()>;

    /// One conversation, or `None`.
    async fn get_conversation(&self, id: &str) -> Result<Option<Conversation>>;

    /// Appends a message at the end of a conversation and returns it with its position. A
    /// message whose `client_message_id` is already stored in this conversation is not stored
    /// again: the earlier one is returned as [`AppendOutcome::Duplicate`].
    async fn append_message(&self, conversation_id: &str, message: Message) -> Result<AppendOutcome>;

    /// The conversation's messages, oldest first.
    async fn list_messages(&self, conversation_id: &str) -> Result<Vec<Message>>;

    /// Changes who handles a conversation; returns `false` if it does not exist.
    async fn set_status(
        &self,
        conversation_id: &str,
        status: ConversationStatus,
        agent: Option<&str>,
    ) -> Result<bool>;

    /// Records a visitor's rating of an assistant message; returns `false` if there is no such
    /// assistant message in the conversation.
    async fn set_feedback(&self, conversation_id: &str, message_id: &str, feedback: Feedback)
        -> Result<bool>;

    /// The most recently updated conversations, newest first.
    async fn list_conversations(&self, limit: usize) -> Result<Vec<Conversation>>;

    /// Checks the backend is reachable (for `/readyz`).
    async fn ping(&self) -> Result<()>;
}
