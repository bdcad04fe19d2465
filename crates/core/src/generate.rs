//! The [`Generator`] trait: a chat request in, a cancellable stream of tokens out.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::Result;

/// Generations an engine admits at once (running or queued) when none is configured.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;

/// The author of one prompt message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptRole {
    /// Instructions and passages.
    System,
    /// The visitor.
    User,
    /// The assistant's earlier answers.
    Assistant,
}

/// One message of the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptMessage {
    /// The author.
    pub role: PromptRole,
    /// The text.
    pub content: String,
}

/// Sampling suited to support answers: low temperature, a repetition penalty, a length limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplingConfig {
    /// Softmax temperature; low keeps answers close to the passages.
    pub temperature: f64,
    /// Nucleus sampling cut-off.
    pub top_p: f64,
    /// Penalty on tokens already written, against the small model's loops.
    pub repetition_penalty: f32,
    /// Longest answer, in tokens.
    pub max_tokens: usize,
    /// Write `max_tokens` tokens even past the end of the answer: only for benchmarks, so
    /// every engine writes answers of the same length (llama.cpp and llama-server honour it).
    #[serde(default)]
    pub ignore_eos: bool,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        // The repetition penalty is mild on purpose: mistral.rs applies it to the prompt's
        // tokens too, so a strong one pushes the model away from the passages' own words.
        Self { temperature: 0.1, top_p: 0.9, repetition_penalty: 1.05, max_tokens: 160, ignore_eos: false }
    }
}

/// Whose generation it is: a visitor waiting for an answer, or work a person reads later (a
/// marketing draft), which an engine serves only with what visitors leave over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// A visitor's answer: first in every step.
    #[default]
    Visitor,
    /// Background writing: its prompt is read only in steps no visitor's prompt needs, a
    /// little at a time, so a visitor arriving meanwhile waits at most one short step.
    Background,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    /// The whole prompt, system message first.
    pub messages: Vec<PromptMessage>,
    /// How to sample.
    pub sampling: SamplingConfig,
    /// Whose it is; engines without priorities treat every request alike.
    pub priority: Priority,
    /// Text the answer begins with, read as if the model had written it; the stream carries
    /// only what follows. Honoured by engines that say so
    /// ([`Generator::continues_replies`]); the others leave it out.
    pub reply_start: Option<String>,
    /// For an answer in a script other than Latin (Chinese): tokens holding Latin letters are
    /// made much less likely, except those spelling these words (names the answer may have to
    /// write as they are). Small models drift into English when their sources are English;
    /// engines that cannot bias tokens leave it out.
    pub latin_only_for: Option<Vec<String>>,
}

impl GenerationRequest {
    /// A visitor's request.
    pub fn new(messages: Vec<PromptMessage>, sampling: SamplingConfig) -> Self {
        Self { messages, sampling, priority: Priority::Visitor, reply_start: None, latin_only_for: None }
    }
}

/// One item of a generation stream.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    /// A piece of text, in order.
    Token(String),
    /// The end, with token counts.
    Finished {
        /// Tokens the model read.
        prompt_tokens: u32,
        /// Tokens the model wrote.
        completion_tokens: u32,
    },
}

/// The stream of a generation. Dropping it cancels the generation at the next token.
pub type GenerationStream = mpsc::Receiver<Result<GenerationEvent>>;

/// Counts tokens the way a model's own tokenizer does, so prompts are fitted to its context by
/// real counts.
pub trait TokenCounter: Send + Sync {
    /// Tokens `text` takes (without the chat template's markers).
    fn count(&self, text: &str) -> usize;
}

/// A language model behind one interface (mistral.rs in process, or a remote server).
#[async_trait]
pub trait Generator: Send + Sync + 'static {
    /// Starts generating; tokens arrive on the returned stream.
    async fn generate(&self, request: GenerationRequest) -> Result<GenerationStream>;

    /// The model's name, as `/v1/models` lists it.
    fn model_name(&self) -> &str;

    /// The model's token counter, where the engine has its tokenizer in process. Without one,
    /// prompts are fitted by a pessimistic estimate.
    fn token_counter(&self) -> Option<Arc<dyn TokenCounter>> {
        None
    }

    /// Tokens one generation may hold (prompt and answer), where the engine knows.
    fn context_tokens(&self) -> Option<usize> {
        None
    }

    /// Generations running or waiting in the engine now.
    fn in_flight(&self) -> usize {
        0
    }

    /// Whether the engine honours [`GenerationRequest::reply_start`], continuing the answer
    /// from it.
    fn continues_replies(&self) -> bool {
        false
    }
}
