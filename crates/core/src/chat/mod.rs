//! One chat turn, the main data path of the product, one job per file:
//!
//! - [`turn`]: the visitor's turn: store the message (a resend with the same client id is not
//!   stored twice), acknowledge it, answer while the assistant handles the conversation.
//! - [`respond`]: the choice of answer mode (generative, the curated FAQ text, or a plain
//!   "the FAQ has no answer, shall I get a person?") and the curated answer.
//! - [`stream`]: the model's answer, streamed through the prompt guard, and ready texts
//!   streamed the same way.
//! - [`followup`]: a question that leans on the one before ("and for courses?") is searched
//!   together with it.
//! - [`faithful`]: the facts of a generated answer checked against its sources as it streams.
//! - [`citations`]: which passages an answer actually drew on.
//! - [`context`]: what the host page said about the visitor, favoured in ranking and told to
//!   the model.
//! - [`status`]: the named transitions of a conversation's status, each with its metric.
//! - [`events`]: what a turn emits. The turn speaks no wire protocol: each channel (the
//!   widget's socket, the OpenAI-compatible SSE stream, the command line) maps [`TurnEvent`]s
//!   at its own edge.
//!
//! Events go to a bounded channel; when the visitor disconnects the caller drops the future,
//! which drops the generation stream and so cancels the model at its next token.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::generate::{Generator, SamplingConfig};
use crate::guard::PromptGuard;
use crate::metrics::Metrics;
use crate::model::Message;
use crate::retrieve::Retriever;
use crate::store::SessionStore;

pub mod citations;
pub mod context;
pub mod events;
pub mod faithful;
pub mod followup;
pub mod respond;
pub mod status;
mod stream;
pub mod turn;

#[cfg(test)]
mod tests;

pub use citations::{content_words, sources_used};
pub use context::favour_context;
pub use events::{AnswerKind, FinishedAnswer, TurnEvent, TurnEvents};
pub use respond::{decline_text, is_decline, DECLINE_TEXT, DECLINE_TEXT_ZH};
pub use status::Transition;

/// How the assistant answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerMode {
    /// The model writes the answer from the passages.
    Generative,
    /// The best entry's curated answer is sent as it is, with a short lead-in.
    Extractive,
    /// Extractive when retrieval is confident, generative when less so, and a plain "I don't
    /// know, shall I get a person?" below the decline threshold.
    Auto,
}

impl AnswerMode {
    /// The mode's name, as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generative => "generative",
            Self::Extractive => "extractive",
            Self::Auto => "auto",
        }
    }
}

impl std::str::FromStr for AnswerMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "generative" => Ok(Self::Generative),
            "extractive" => Ok(Self::Extractive),
            "auto" => Ok(Self::Auto),
            other => Err(format!("unknown answer mode {other:?} (generative, extractive, auto)")),
        }
    }
}

/// Settings of the chat turn. [`Default`] holds every default; the server's configuration
/// layers the operator's choices over it.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// How to answer.
    pub answer_mode: AnswerMode,
    /// The system prompt sent with every generation.
    pub system_prompt: String,
    /// Below this retrieval confidence the assistant declines and offers a person.
    pub decline_below: f32,
    /// In `auto` mode, at or above this confidence the curated answer is served directly.
    /// The default equals `decline_below`, so `auto` never lets the small demo model improvise
    /// (asked to answer from a passage, a 135M model contradicts it too often; see
    /// docs/benchmarks.md). Raise it for a stronger model to let it write the middle band.
    pub extractive_from: f32,
    /// How many passages retrieval returns.
    pub passages: usize,
    /// How many of them go into a generative prompt; the small model copes best with one.
    pub prompt_passages: usize,
    /// Token budget of the prompt (system prompt, passages, history and question).
    pub prompt_budget_tokens: usize,
    /// Sampling of the model.
    pub sampling: SamplingConfig,
    /// Whether generated answers pass the faithfulness check ([`faithful`]). Always on in the
    /// server; off only to collect the model's raw answers for measuring the check.
    pub check_facts: bool,
    /// How personal data in visitors' messages is kept in the store (and so shown to agents
    /// and exported). The model, the search and the logs get every kind redacted.
    pub privacy: crate::privacy::PrivacyPolicy,
    /// The contact form offered when a visitor wants to be contacted (its consent text and
    /// privacy notice).
    pub contact_offer: crate::leads::ContactOffer,
}

/// The company name the default system prompt speaks for.
pub const DEFAULT_COMPANY: &str = "Brightwave";

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            answer_mode: AnswerMode::Auto,
            system_prompt: crate::prompt::system_prompt(DEFAULT_COMPANY),
            decline_below: 0.5,
            extractive_from: 0.5,
            passages: 3,
            prompt_passages: 1,
            prompt_budget_tokens: 1_536,
            sampling: SamplingConfig::default(),
            check_facts: true,
            privacy: crate::privacy::PrivacyPolicy::default(),
            contact_offer: crate::leads::ContactOffer {
                consent: crate::leads::default_consent(DEFAULT_COMPANY),
                privacy_url: None,
            },
        }
    }
}

/// An answer the assistant wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer as stored (or, without a conversation, as sent).
    pub message: Message,
    /// How it was written: by the model, as the curated FAQ text, or as a decline.
    pub kind: AnswerKind,
    /// Token counts and time to first token.
    pub usage: crate::model::Usage,
}

impl Answer {
    /// The knowledge base had no answer and the assistant said so.
    pub fn declined(&self) -> bool {
        self.kind == AnswerKind::Declined
    }

    /// The model wrote it (rather than the curated FAQ text or the decline being sent).
    pub fn generated(&self) -> bool {
        self.kind == AnswerKind::Generated
    }
}

/// Runs chat turns against the three backends.
#[derive(Clone)]
pub struct ChatService {
    store: Arc<dyn SessionStore>,
    retriever: Arc<dyn Retriever>,
    generator: Arc<dyn Generator>,
    config: Arc<ChatConfig>,
    /// Watches answers for the system prompt (built once: the prompt does not change).
    guard: Arc<PromptGuard>,
    metrics: Arc<Metrics>,
    /// Seals the masked personal details of visitor messages for the agent who takes a
    /// conversation over; without one they are not kept.
    sealer: Option<Arc<crate::privacy::Sealer>>,
    /// The product and course catalogue questions asking for a choice are answered from.
    catalogue: Option<Arc<dyn crate::catalog::Catalogue>>,
}

impl ChatService {
    /// A chat service over the given backends.
    pub fn new(
        store: Arc<dyn SessionStore>,
        retriever: Arc<dyn Retriever>,
        generator: Arc<dyn Generator>,
        config: ChatConfig,
    ) -> Self {
        let guard = Arc::new(PromptGuard::new(&config.system_prompt));
        Self {
            store,
            retriever,
            generator,
            config: Arc::new(config),
            guard,
            metrics: Arc::new(Metrics::default()),
            sealer: None,
            catalogue: None,
        }
    }

    /// The same service keeping masked personal details sealed with `sealer`.
    #[must_use]
    pub fn with_sealer(mut self, sealer: Arc<crate::privacy::Sealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// The same service recommending from `catalogue` when a question asks for a choice.
    #[must_use]
    pub fn with_catalogue(mut self, catalogue: Arc<dyn crate::catalog::Catalogue>) -> Self {
        self.catalogue = Some(catalogue);
        self
    }

    /// The catalogue, when one is wired.
    pub fn catalogue(&self) -> Option<&Arc<dyn crate::catalog::Catalogue>> {
        self.catalogue.as_ref()
    }

    /// The personal details masked in a conversation's visitor messages, whole, by message id:
    /// for the agent who took it over (the caller checks who asks). Empty without a sealer.
    pub async fn personal_details(
        &self,
        conversation_id: &str,
    ) -> crate::Result<Vec<(String, Vec<crate::privacy::PersonalDetail>)>> {
        let Some(sealer) = &self.sealer else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (message_id, sealed) in self.store.list_sealed(conversation_id).await? {
            out.push((message_id.clone(), sealer.open(&message_id, &sealed)?));
        }
        Ok(out)
    }

    /// The figures the turn records (and the gateway adds to).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The store behind this service.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// The retriever behind this service.
    pub fn retriever(&self) -> &Arc<dyn Retriever> {
        &self.retriever
    }

    /// The same service answering in `mode` (a per-request choice; the store, retriever and
    /// generator are shared).
    pub fn with_answer_mode(&self, mode: AnswerMode) -> Self {
        let mut config = (*self.config).clone();
        config.answer_mode = mode;
        Self { config: Arc::new(config), ..self.clone() }
    }

    /// The same service with the faithfulness check on or off (off only to collect raw
    /// answers for measuring the check).
    pub fn with_fact_check(&self, on: bool) -> Self {
        let mut config = (*self.config).clone();
        config.check_facts = on;
        Self { config: Arc::new(config), ..self.clone() }
    }

    /// The generator behind this service.
    pub fn generator(&self) -> &Arc<dyn Generator> {
        &self.generator
    }

    /// The turn's settings.
    pub fn config(&self) -> &ChatConfig {
        &self.config
    }
}
