//! The status transitions of a conversation, named, in one place. Each says from which
//! statuses it applies (so two agents taking over at once cannot both succeed) and records its
//! own metric when it happens; the store applies it atomically.

use crate::metrics::HandoffReason;
use crate::model::ConversationStatus::{self, Agent, Bot, Closed, Waiting};
use crate::store::{StatusChange, StatusOutcome};
use crate::Result;

use super::ChatService;

/// A named change of who handles a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The FAQ had no answer: the assistant queues the conversation for a person.
    NoAnswer,
    /// The visitor asked for a person.
    VisitorAsks,
    /// An agent handles the conversation from now on.
    Takeover {
        /// The agent's name.
        agent: String,
    },
    /// The assistant answers again.
    HandBack,
    /// The conversation is closed.
    Close,
    /// A visitor wrote in a closed conversation: the assistant handles it again.
    Reopen,
    /// Nobody wrote for longer than the idle limit: the conversation is closed (and so falls
    /// under retention).
    Idle,
}

impl Transition {
    /// Every transition's metric label, in the order `/metrics` lists them.
    pub const LABELS: [&'static str; 7] =
        ["no_answer", "requested", "takeover", "handback", "close", "reopen", "idle"];

    /// The label of this transition in `frontdesk_status_changes_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NoAnswer => "no_answer",
            Self::VisitorAsks => "requested",
            Self::Takeover { .. } => "takeover",
            Self::HandBack => "handback",
            Self::Close => "close",
            Self::Reopen => "reopen",
            Self::Idle => "idle",
        }
    }

    /// The status the conversation has afterwards.
    pub fn target(&self) -> ConversationStatus {
        self.change().status
    }

    /// The store's change for this transition.
    pub fn change(&self) -> StatusChange {
        match self {
            Self::NoAnswer => StatusChange::to(Waiting).only_from(&[Bot]),
            Self::VisitorAsks => StatusChange::to(Waiting).only_from(&[Bot, Closed]),
            Self::Takeover { agent } => {
                StatusChange::to(Agent).by(agent.clone()).only_from(&[Bot, Waiting, Closed])
            }
            Self::HandBack => StatusChange::to(Bot).only_from(&[Agent, Waiting]),
            Self::Close => StatusChange::to(Closed),
            Self::Reopen => StatusChange::to(Bot).only_from(&[Closed]),
            Self::Idle => StatusChange::to(Closed).only_from(&[Bot, Waiting, Agent]),
        }
    }

    /// Why the conversation went to the queue, for the transitions that put it there.
    fn handoff_reason(&self) -> Option<HandoffReason> {
        match self {
            Self::NoAnswer => Some(HandoffReason::NoAnswer),
            Self::VisitorAsks => Some(HandoffReason::Requested),
            _ => None,
        }
    }
}

impl ChatService {
    /// Applies a transition to a conversation and, when it happened, records it.
    pub async fn transition(&self, conversation_id: &str, transition: &Transition) -> Result<StatusOutcome> {
        let outcome = self.store.set_status(conversation_id, &transition.change()).await?;
        if outcome.changed() {
            self.record_transition(transition);
            tracing::info!(conversation_id, transition = transition.label(), "conversation status changed");
        }
        Ok(outcome)
    }

    /// Records a transition that happened without [`ChatService::transition`] (a conversation
    /// stored straight into the queue).
    pub fn record_transition(&self, transition: &Transition) {
        self.metrics.status_change(transition.label());
        if let Some(reason) = transition.handoff_reason() {
            self.metrics.handoff(reason);
        }
    }
}

impl ChatService {
    /// Closes every open conversation last updated before `before_ms`; returns how many. Works
    /// a page at a time, status by status.
    pub async fn close_idle(&self, before_ms: i64) -> Result<usize> {
        let mut closed = 0;
        for status in [Bot, Waiting, Agent] {
            let mut query = crate::store::ConversationQuery {
                status: Some(status),
                updated_to_ms: Some(before_ms),
                limit: 200,
                ..crate::store::ConversationQuery::default()
            };
            loop {
                let page = self.store.list_conversations(&query).await?;
                for conversation in &page.conversations {
                    if self.transition(&conversation.id, &Transition::Idle).await?.changed() {
                        closed += 1;
                    }
                }
                match page.next {
                    Some(next) => query.cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(closed)
    }
}
