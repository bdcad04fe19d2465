//! The [`Retriever`] trait: finding the FAQ passages that answer a question.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::model::Source;
use crate::Result;

/// One FAQ entry found for a question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// The document (file) it comes from.
    pub document_id: String,
    /// The entry's id (`document#anchor`).
    pub entry_id: String,
    /// The entry's question or title.
    pub title: String,
    /// The entry's answer or body: the curated text.
    pub body: String,
    /// Headings above the entry, outermost first.
    #[serde(default)]
    pub section: Vec<String>,
    /// A link to the entry's place in its source.
    #[serde(default)]
    pub url: Option<String>,
    /// The ranking score (higher is better; not comparable across queries).
    pub score: f32,
    /// How sure retrieval is that this entry answers the question, from 0 to 1: the share of
    /// the question's content words that the entry contains.
    pub confidence: f32,
}

impl Passage {
    /// The passage as an answer's source.
    pub fn to_source(&self) -> Source {
        Source {
            document_id: self.document_id.clone(),
            entry_id: self.entry_id.clone(),
            title: self.title.clone(),
            url: self.url.clone(),
            score: self.score,
        }
    }
}

/// Searches the knowledge base. Implementations run the search off the async runtime.
#[async_trait]
pub trait Retriever: Send + Sync + 'static {
    /// The `k` best passages for `query`, best first.
    async fn search(&self, query: &str, k: usize) -> Result<Vec<Passage>>;

    /// How many entries the index holds (for `/readyz` and the admin page).
    async fn entry_count(&self) -> Result<u64>;
}
