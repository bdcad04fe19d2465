//! Frontdesk's text generation behind [`frontdesk_core::generate::Generator`]:
//! [`LlamaCppGenerator`] runs a quantised GGUF model in process with llama.cpp (the faster
//! engine on CPUs, batching every visitor's next token into one decode);
//! [`MistralRsGenerator`] runs it with mistral.rs (CPU, or CUDA with the `cuda` feature);
//! [`RemoteGenerator`] streams from an OpenAI-compatible server (`--engine remote`).
//!
//! Admission is bounded the same way for the three (`admission.rs`): at most `max_in_flight`
//! generations run or wait at once; one more is refused at once with a `busy` error rather
//! than queued without end. Dropping the stream a generation returns cancels it at the
//! engine's next token.

mod admission;
mod llamacpp;
mod mistralrs_engine;
mod remote;

pub use admission::DEFAULT_MAX_IN_FLIGHT;
pub use llamacpp::{
    is_stopped_step_log, EngineCounters, EngineMemory, LlamaCppConfig, LlamaCppGenerator, YieldTo,
};
pub use mistralrs_engine::MistralRsGenerator;
pub use remote::{RemoteConfig, RemoteGenerator};

/// Errors of loading a model.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// The model file is missing or unreadable.
    #[error("model file {0} not found (run scripts/fetch-model.sh)")]
    ModelMissing(String),
    /// mistral.rs could not load the model.
    #[error("loading the model failed: {0}")]
    Load(String),
}
