//! Frontdesk's knowledge base: FAQ documents parsed into entries and searched with tantivy.
//!
//! - [`document_text`]: a stored document's bytes as text (PDF text extracted, UTF-8 or
//!   UTF-16 with a byte-order mark; other encodings refused).
//! - [`parse`]: turns Markdown, HTML, CSV, JSON, PDF and plain-text documents into [`FaqEntry`]
//!   values (question, answer, section path, link).
//! - [`FaqIndex`]: the on-disk tantivy index of FAQ entries under the data dir; implements
//!   [`frontdesk_core::retrieve::Retriever`].
//! - [`KnowledgeLibrary`]: documents in the store and their entries in the index, the one way
//!   documents are indexed; fingerprinted so an unchanged library is not re-indexed at start.
//!   Implements [`frontdesk_core::documents::Library`] for the admin API.
//!
//! - [`QuestionVectors`]: visitor questions' vectors for the insights, each embedded once.
//!
//! The file types are [`frontdesk_core::documents::DocumentFormat`]; [`parse::parse_document`]
//! maps each to its parser.

pub mod catalog;
mod decode;
mod e5;
pub mod embed;
pub mod html;
mod index;
mod library;
pub mod parse;
mod questions;
mod segment;

pub use catalog::{parse_catalog, CatalogStore};
pub use decode::document_text;
pub use e5::Noise;
pub use embed::Embedder;
pub use index::{folder_files, FaqIndex, INDEX_FORMAT};
pub use library::{KnowledgeLibrary, MAX_DOCUMENT_BYTES};
pub use parse::FaqEntry;
pub use questions::QuestionVectors;

/// Errors of parsing and indexing.
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    /// A document could not be parsed; the message names the problem.
    #[error("cannot parse {document}: {reason}")]
    Parse {
        /// The document's id (its path in the knowledge base).
        document: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file type is not one the knowledge base reads.
    #[error("unsupported document type: {0}")]
    Unsupported(String),
    /// The tantivy index failed.
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The embedding model could not be loaded or run.
    #[error("embedding model: {0}")]
    Embedding(String),
    /// Reading files failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<RetrievalError> for frontdesk_core::Error {
    fn from(error: RetrievalError) -> Self {
        match error {
            RetrievalError::Parse { .. } | RetrievalError::Unsupported(_) => {
                frontdesk_core::Error::BadRequest(error.to_string())
            }
            other => frontdesk_core::Error::Retrieval(other.to_string()),
        }
    }
}
