//! The choice of how to answer and the answers that need no model: the curated FAQ text when
//! retrieval is confident, a plain decline (offering a person) when it found nothing good
//! enough, the model in between or when configured to write.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::catalog::recommend::{self, Recommendation, Visitor};
use crate::model::{Message, Role};
use crate::privacy::{redact, PrivacyPolicy};
use crate::retrieve::Passage;
use crate::{Error, Result};

use super::context::favour_context;
use super::events::{emit, AnswerKind, FinishedAnswer, TurnEvent, TurnEvents};
use super::followup::{earlier_questions, search_in_conversation};
use super::stream::stream_text;
use super::{Answer, AnswerMode, ChatService};

/// The text sent when the knowledge base has no answer to a question in English (or any
/// language but Chinese).
pub const DECLINE_TEXT: &str = "I'm sorry, I couldn't find an answer to that in our help \
    articles. Would you like me to connect you with a member of our support team?";
/// The same for a question in Chinese.
pub const DECLINE_TEXT_ZH: &str =
    "抱歉，我们的帮助文章中没有找到这个问题的答案。需要为您联系我们的客服人员吗？";

/// The decline in the language of the visitor's question.
pub fn decline_text(question: &str) -> &'static str {
    if crate::insights::mostly_cjk(question) {
        DECLINE_TEXT_ZH
    } else {
        DECLINE_TEXT
    }
}

/// Whether an assistant's message is the decline, in either language.
pub fn is_decline(text: &str) -> bool {
    text == DECLINE_TEXT || text == DECLINE_TEXT_ZH
}

/// What the assistant does when the knowledge base has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenUnsure {
    /// Says so and offers a person.
    Decline,
    /// Writes nothing (a person is about to answer).
    StaySilent,
}

/// The best entry's curated answer, with a short lead-in in the language of the visitor's
/// question (English or Chinese), saying so when the entry is written in the other one.
pub(crate) fn curated_answer(best: &Passage, question: &str) -> String {
    let (title, body) = (best.title.trim(), best.body.trim());
    let written_in_chinese =
        crate::insights::mostly_cjk(body) || (body.is_empty() && crate::insights::mostly_cjk(title));
    match (crate::insights::mostly_cjk(question), written_in_chinese) {
        (true, true) => format!("以下是我们常见问题中关于\u{201c}{title}\u{201d}的解答：\n\n{body}"),
        (true, false) => {
            format!("以下是我们常见问题中关于\u{201c}{title}\u{201d}的解答（原文为英文）：\n\n{body}")
        }
        (false, true) => {
            format!("Here is what our FAQ says about \u{201c}{title}\u{201d} (written in Chinese):\n\n{body}")
        }
        (false, false) => format!("Here is what our FAQ says about \u{201c}{title}\u{201d}:\n\n{body}"),
    }
}

/// The conversation a question is asked in: the messages before it (never the question
/// itself, which goes into the prompt separately) and, when the answer is to be stored, the
/// conversation's id.
#[derive(Clone, Copy)]
pub(crate) struct Thread<'a> {
    pub stored_in: Option<&'a str>,
    pub history: &'a [Message],
    /// The catalogue items the visitor looked at, most recent last.
    pub viewed: &'a [String],
}

/// An answer written and streamed, before it is stored and sent whole.
struct Written {
    message: Message,
    kind: AnswerKind,
    usage: crate::model::Usage,
    /// The contact form to show under it.
    offer: Option<crate::leads::ContactOffer>,
}

/// How to answer at retrieval confidence `confidence`; `None` declines.
fn choose_mode(
    mode: AnswerMode,
    passages: &[Passage],
    decline_below: f32,
    extractive_from: f32,
) -> Option<AnswerMode> {
    let confidence = passages.first().map_or(0.0, |p| p.confidence);
    match mode {
        _ if passages.is_empty() || confidence < decline_below => None,
        AnswerMode::Auto if confidence >= extractive_from => Some(AnswerMode::Extractive),
        AnswerMode::Auto => Some(AnswerMode::Generative),
        mode => Some(mode),
    }
}

impl ChatService {
    /// Writes and streams the assistant's answer to `question`, ending with a `Done` event,
    /// and stores nothing (`frontdesk ask`, the OpenAI-compatible API, the evaluation).
    /// `earlier` is the conversation before the question, oldest first (may be empty): a
    /// follow-up is searched with the question it leans on, and the model reads it.
    pub async fn answer(
        &self,
        earlier: &[Message],
        question: &str,
        started: Instant,
        events: &TurnEvents,
    ) -> Result<Answer> {
        let context = BTreeMap::new();
        let thread = Thread { stored_in: None, history: earlier, viewed: &[] };
        let answered = self.respond(thread, question, &context, started, events, WhenUnsure::Decline).await?;
        answered.ok_or_else(|| Error::Internal("a declining answer is always written".into()))
    }

    pub(crate) async fn respond(
        &self,
        thread: Thread<'_>,
        question: &str,
        context: &BTreeMap<String, String>,
        started: Instant,
        events: &TurnEvents,
        when_unsure: WhenUnsure,
    ) -> Result<Option<Answer>> {
        let Thread { stored_in: conversation_id, history, viewed } = thread;
        // Neither the search (and so its logs) nor the model sees the visitor's personal data:
        // placeholders stand in for it (`[email 1]`), in the question and in earlier turns an
        // API client sends (stored ones were treated when stored).
        let everything = PrivacyPolicy::redact_all();
        let redacted = redact(question, &everything);
        // Where the answer repeats a placeholder, the visitor sees what they typed (contact
        // details; never a card or ID number); the stored answer keeps the placeholder.
        let fill = redacted.fill_for_visitor(&self.config.privacy);
        let question = redacted.text.as_str();
        let history: Vec<Message> = history
            .iter()
            .map(|m| match m.role {
                Role::Visitor => Message { text: redact(&m.text, &everything).text, ..m.clone() },
                _ => m.clone(),
            })
            .collect();
        let history = history.as_slice();
        // A visitor who wants to be contacted (a quote, a group enrolment) is offered the
        // contact form.
        let chinese = crate::catalog::intent::is_chinese(question);
        let offer = Some(self.config.contact_offer.clone());
        if crate::leads::wants_contact(question) {
            let answer = Message::new(Role::Assistant, crate::leads::offer_text(chinese));
            let usage = stream_text(events, &answer.id, &answer.text, started).await?;
            let written = Written { message: answer, kind: AnswerKind::Curated, usage, offer };
            return self.finish(conversation_id, written, &fill, events).await;
        }
        // What else is known of the visitor: the page's attributes and their earlier questions.
        let known: Vec<&str> =
            context.values().map(String::as_str).chain(earlier_questions(history, question)).collect();
        let known = known.join("\n");
        if let Some(recommendation) =
            self.recommendation(question, &Visitor { viewed, context: &known }).await?
        {
            // What the catalogue cannot close (nothing meets every constraint, the best item
            // cannot be bought now) is offered to a person too.
            let unclosed = recommendation.nearest || recommendation.first_unavailable;
            let mut answer = Message::new(Role::Assistant, recommendation.text);
            if unclosed {
                answer.text = format!("{}\n\n{}", answer.text, crate::leads::offer_text(chinese));
            }
            answer.cards = recommendation.cards;
            let usage = stream_text(events, &answer.id, &answer.text, started).await?;
            self.metrics.cards_shown(answer.cards.len());
            let offer = if unclosed { offer } else { None };
            let written = Written { message: answer, kind: AnswerKind::Recommended, usage, offer };
            return self.finish(conversation_id, written, &fill, events).await;
        }
        let searching = Instant::now();
        // With a visitor context, look further and favour the entries that fit the visitor.
        let wanted = if context.is_empty() { self.config.passages } else { self.config.passages * 3 };
        let earlier = earlier_questions(history, question);
        let mut passages = search_in_conversation(
            self.retriever.as_ref(),
            &earlier,
            question,
            wanted,
            self.config.decline_below,
        )
        .await?;
        favour_context(&mut passages, context);
        passages.truncate(self.config.passages);
        self.metrics.retrieval.observe(searching.elapsed());
        let mode = choose_mode(
            self.config.answer_mode,
            &passages,
            self.config.decline_below,
            self.config.extractive_from,
        );
        tracing::debug!(
            ?conversation_id,
            confidence = passages.first().map(|p| p.confidence),
            ?mode,
            "answering"
        );
        if mode.is_none() && when_unsure == WhenUnsure::StaySilent {
            return Ok(None);
        }

        let mut answer = Message::new(Role::Assistant, "");
        let (kind, text, sources, usage) = match mode {
            None => {
                let decline = decline_text(question);
                let usage = stream_text(events, &answer.id, decline, started).await?;
                (AnswerKind::Declined, decline.to_owned(), Vec::new(), usage)
            }
            Some(AnswerMode::Extractive | AnswerMode::Auto) => {
                let best = &passages[0];
                let text = curated_answer(best, question);
                let usage = stream_text(events, &answer.id, &text, started).await?;
                (AnswerKind::Curated, text, vec![best.to_source()], usage)
            }
            Some(AnswerMode::Generative) => {
                let (text, sources, usage) = self
                    .generate(history, question, context, &passages, &answer.id, started, events, &fill)
                    .await?;
                (AnswerKind::Generated, text, sources, usage)
            }
        };
        answer.text = text;
        answer.sources = sources;
        self.finish(conversation_id, Written { message: answer, kind, usage, offer: None }, &fill, events)
            .await
    }

    /// Stores the answer (when the turn has a conversation) and sends it whole.
    async fn finish(
        &self,
        conversation_id: Option<&str>,
        written: Written,
        fill: &crate::privacy::Fill,
        events: &TurnEvents,
    ) -> Result<Option<Answer>> {
        let Written { message: answer, kind, usage, offer } = written;
        let stored = match conversation_id {
            Some(id) => self.store.append_message(id, answer).await?.message().clone(),
            None => answer,
        };
        let finished = FinishedAnswer {
            message_id: stored.id.clone(),
            text: fill.apply(&stored.text),
            sources: stored.sources.clone(),
            cards: stored.cards.clone(),
            offer,
            usage,
            kind,
        };
        emit(events, TurnEvent::Done(finished)).await?;
        self.metrics.time_to_first_token.observe(std::time::Duration::from_millis(usage.ttft_ms));
        Ok(Some(Answer { message: stored, kind, usage }))
    }

    /// The catalogue's recommendation for a question that asks for a choice, if it does and
    /// the catalogue has anything near.
    pub(crate) async fn recommendation(
        &self,
        question: &str,
        visitor: &Visitor<'_>,
    ) -> Result<Option<Recommendation>> {
        let Some(catalogue) = &self.catalogue else { return Ok(None) };
        let found = recommend::answer(catalogue.as_ref(), question, visitor).await?;
        Ok(found.map(|(_, recommendation)| recommendation))
    }
}
