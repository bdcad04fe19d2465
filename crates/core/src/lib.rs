//! Frontdesk's core: the domain, the wire protocol and the seams between the parts.
//!
//! Every other crate depends on this one and on nothing of each other's, so the gateway can be
//! built and tested without the store, retrieval or inference backends.
//!
//! - [`model`]: conversations, messages, sources and the other records the product keeps.
//! - [`protocol`]: the JSON frames of the visitor WebSocket (`/v1/ws`).
//! - [`store::SessionStore`], [`retrieve::Retriever`], [`generate::Generator`]: the three
//!   backend traits. The `frontdesk` binary wires the real implementations.
//! - [`chat::ChatService`]: one chat turn, from the visitor's message to the stored, cited answer,
//!   emitted as channel-neutral [`chat::TurnEvent`]s; [`chat::Transition`]: every status change.
//! - [`documents`]: FAQ documents as admins manage them, and where they are kept.
//! - [`metrics`]: counters and latency histograms for `/metrics`.
//! - [`privacy`]: personal data found in what visitors type, and redacted by policy.
//! - [`prompt`]: the system prompt and the prompt built within a token budget.
//! - [`guard`]: keeps the system prompt from being recited to a visitor.
//! - [`content`]: marketing drafts written from the company's sources, every fact checked.
//! - [`insights`]: topics of what visitors ask, content gaps and suggested FAQ entries.
//! - [`token`]: signed conversation tokens, so knowing an id alone gives no access.
//! - `testing` (feature `testing`): in-memory doubles of the three backends for unit tests.
//! - [`error::Error`] and [`error::ErrorCode`]: one error type whose code decides what a client sees.

pub mod catalog;
pub mod chat;
pub mod content;
pub mod documents;
pub mod error;
pub mod generate;
pub mod guard;
pub mod insights;
pub mod leads;
pub mod metrics;
pub mod model;
pub mod privacy;
pub mod prompt;
pub mod protocol;
pub mod retrieve;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod token;

pub use error::{Error, ErrorCode, Result};

/// Milliseconds since the Unix epoch, the one clock every record uses.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A fresh random identifier (UUID v4, hyphenated).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
