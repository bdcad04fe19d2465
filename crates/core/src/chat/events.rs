//! What a chat turn emits, in the domain's words. The widget's socket maps these to its JSON
//! frames, the OpenAI-compatible handler to SSE chunks, `frontdesk ask` to lines on stdout; a
//! later channel (Slack, e-mail) consumes the same events and never sees a wire format.

use tokio::sync::mpsc;

use crate::model::{ConversationStatus, Source, Usage};
use crate::{Error, Result};

/// Where a turn sends its events: a bounded channel, so a slow reader slows its own answer
/// down instead of growing the server's memory. Dropping the receiver ends the turn.
pub type TurnEvents = mpsc::Sender<TurnEvent>;

/// One step of a chat turn.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnEvent {
    /// The visitor's message is stored.
    Acknowledged {
        /// The client's id of the message.
        client_message_id: String,
        /// The server's id of the stored message.
        message_id: String,
    },
    /// A piece of the answer being written.
    Token {
        /// The assistant message this piece belongs to.
        message_id: String,
        /// The text to append.
        text: String,
    },
    /// The answer is complete (and stored, when the turn has a conversation).
    Done(FinishedAnswer),
    /// The turn changed who handles the conversation: reopened a closed one, or queued it for
    /// a person because the FAQ had no answer. Changes made elsewhere (an agent taking over)
    /// reach a channel through the store's event feed instead.
    StatusChanged {
        /// The new status.
        status: ConversationStatus,
    },
}

/// How an answer was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// The model wrote it from the passages.
    Generated,
    /// The best FAQ entry's curated text.
    Curated,
    /// The FAQ had no answer and the assistant said so, offering a person.
    Declined,
    /// A resent message's earlier answer, sent again.
    Replayed,
    /// Items of the catalogue chosen for the visitor, with reasons made of their fields.
    Recommended,
}

/// The complete answer of a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedAnswer {
    /// The assistant message's id.
    pub message_id: String,
    /// The full answer.
    pub text: String,
    /// The FAQ entries it used.
    pub sources: Vec<Source>,
    /// The catalogue items it recommends.
    pub cards: Vec<crate::catalog::Card>,
    /// The contact form to show under it, when the answer offers to take the visitor's
    /// contact details.
    pub offer: Option<crate::leads::ContactOffer>,
    /// Token counts and time to first token.
    pub usage: Usage,
    /// How it was written.
    pub kind: AnswerKind,
}

/// Sends one event; fails when nobody listens any more (the visitor left).
pub(crate) async fn emit(events: &TurnEvents, event: TurnEvent) -> Result<()> {
    events.send(event).await.map_err(|_| Error::Internal("the visitor's connection closed".into()))
}
