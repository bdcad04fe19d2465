//! The visitor's turn: a message arrives in a conversation; it is stored (a resend with the
//! same client id is not stored twice), acknowledged, and answered while the assistant
//! handles the conversation.

use std::time::Instant;

use crate::metrics::TurnOutcome;
use crate::model::{ConversationStatus, Message, Role, Usage};
use crate::privacy::redact;
use crate::store::AppendOutcome;
use crate::{Error, Result};

use super::events::{emit, AnswerKind, FinishedAnswer, TurnEvent, TurnEvents};
use super::respond::{Thread, WhenUnsure};
use super::status::Transition;
use super::ChatService;

impl ChatService {
    /// Handles one visitor message: stores it, acknowledges it, and, when the assistant
    /// handles the conversation, streams and stores the answer.
    pub async fn handle_visitor_message(
        &self,
        conversation_id: &str,
        client_message_id: &str,
        text: &str,
        events: &TurnEvents,
    ) -> Result<TurnOutcome> {
        let outcome = self.visitor_turn(conversation_id, client_message_id, text, events).await;
        self.metrics.turn(*outcome.as_ref().unwrap_or(&TurnOutcome::Failed));
        outcome
    }

    async fn visitor_turn(
        &self,
        conversation_id: &str,
        client_message_id: &str,
        text: &str,
        events: &TurnEvents,
    ) -> Result<TurnOutcome> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::BadRequest("message text is empty".into()));
        }
        if text.chars().count() > crate::protocol::MAX_MESSAGE_CHARS {
            return Err(Error::BadRequest(format!(
                "message is longer than {} characters",
                crate::protocol::MAX_MESSAGE_CHARS
            )));
        }
        let conversation = self
            .store
            .get_conversation(conversation_id)
            .await?
            .ok_or_else(|| Error::NotFound("conversation".into()))?;

        // Personal data is treated before anything keeps it: the store holds what the policy
        // keeps; the search and the model get it all redacted.
        let kept = redact(text, &self.config.privacy);
        let mut message = Message::new(Role::Visitor, kept.text.clone());
        message.client_message_id = Some(client_message_id.to_owned());
        let outcome = self.store.append_message(conversation_id, message).await?;
        if let (Some(sealer), AppendOutcome::Stored(stored)) = (&self.sealer, &outcome) {
            let masked = kept.masked(&self.config.privacy);
            if !masked.is_empty() {
                self.store
                    .put_sealed(conversation_id, &stored.id, &sealer.seal(&stored.id, &masked)?)
                    .await?;
            }
        }
        let acknowledged = TurnEvent::Acknowledged {
            client_message_id: client_message_id.to_owned(),
            message_id: outcome.message().id.clone(),
        };
        emit(events, acknowledged).await?;

        if let AppendOutcome::Duplicate(earlier) = &outcome {
            if self.replay_answer(conversation_id, &earlier.id, events).await? {
                return Ok(TurnOutcome::Duplicate);
            }
        }

        let when_unsure = match conversation.status {
            ConversationStatus::Bot => WhenUnsure::Decline,
            ConversationStatus::Closed => {
                // A closed conversation opens again with the assistant.
                if self.transition(conversation_id, &Transition::Reopen).await?.changed() {
                    emit(events, TurnEvent::StatusChanged { status: Transition::Reopen.target() }).await?;
                }
                WhenUnsure::Decline
            }
            // Queued for a person: the assistant still answers what the FAQ covers, and leaves
            // the rest (often details meant for the person) to the agent.
            ConversationStatus::Waiting => WhenUnsure::StaySilent,
            // A person handles it: the assistant stays silent.
            ConversationStatus::Agent => return Ok(TurnOutcome::Silent),
        };
        let profile = self.store.get_visitor(&conversation.visitor_id).await?.unwrap_or_default();
        let context = profile.attributes;
        let mut history = self.store.list_messages(conversation_id).await?;
        // The question goes in as the model may read it; the stored copy is left out.
        history.retain(|m| m.id != outcome.message().id);
        let thread = Thread { stored_in: Some(conversation_id), history: &history, viewed: &profile.viewed };
        let answered = self.respond(thread, text, &context, Instant::now(), events, when_unsure).await?;
        let Some(answer) = answered else { return Ok(TurnOutcome::Silent) };
        Ok(match answer.kind {
            AnswerKind::Declined => {
                // The FAQ has no answer: queue the conversation for a person.
                if self.transition(conversation_id, &Transition::NoAnswer).await?.changed() {
                    emit(events, TurnEvent::StatusChanged { status: Transition::NoAnswer.target() }).await?;
                }
                TurnOutcome::Declined
            }
            AnswerKind::Generated => TurnOutcome::Generated,
            AnswerKind::Curated | AnswerKind::Replayed => TurnOutcome::Extractive,
            AnswerKind::Recommended => TurnOutcome::Recommended,
        })
    }

    /// Sends again the answer written after the visitor's earlier message `earlier_id`, if it
    /// was written; returns whether it was.
    async fn replay_answer(
        &self,
        conversation_id: &str,
        earlier_id: &str,
        events: &TurnEvents,
    ) -> Result<bool> {
        let messages = self.store.list_messages(conversation_id).await?;
        let answer =
            messages.iter().skip_while(|m| m.id != earlier_id).skip(1).find(|m| m.role == Role::Assistant);
        let Some(answer) = answer else { return Ok(false) };
        let replayed = FinishedAnswer {
            message_id: answer.id.clone(),
            text: answer.text.clone(),
            sources: answer.sources.clone(),
            cards: answer.cards.clone(),
            offer: None,
            usage: Usage::default(),
            kind: AnswerKind::Replayed,
        };
        emit(events, TurnEvent::Done(replayed)).await?;
        Ok(true)
    }
}
