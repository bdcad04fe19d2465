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

    /// The entries with these ids (`document#anchor`), in the order asked; ids the index lacks
    /// are left out. An index that cannot look entries up gives none.
    async fn entries(&self, ids: &[String]) -> Result<Vec<Passage>> {
        let _ = ids;
        Ok(Vec::new())
    }
}

/// How one embedding model's cosine similarities compare with the scale Frontdesk's
/// thresholds are written in (all-MiniLM-L6-v2's, where unrelated sentences sit near
/// [`CosineScale::REFERENCE`]`.unrelated` and a question and the entry that answers it near
/// `.related`). Models differ widely: multilingual-e5-small puts unrelated sentences near 0.78.
/// A model's cosine is mapped onto the reference scale piecewise linearly through its own two
/// anchors and 1, so every threshold keeps its meaning whichever model is loaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineScale {
    /// Typical cosine of two unrelated texts (the median over pairs of a FAQ's entries and
    /// questions).
    pub unrelated: f32,
    /// Typical cosine of a question and the entry that answers it (the median over an
    /// evaluation set's questions).
    pub related: f32,
}

impl CosineScale {
    /// all-MiniLM-L6-v2's anchors: the scale the thresholds are written in.
    pub const REFERENCE: Self = Self { unrelated: 0.1, related: 0.6 };

    /// `cosine` from this model, on the reference scale.
    pub fn comparable(self, cosine: f32) -> f32 {
        Self::map(cosine, self, Self::REFERENCE)
    }

    /// The cosine from this model that means `reference` on the reference scale.
    pub fn raw(self, reference: f32) -> f32 {
        Self::map(reference, Self::REFERENCE, self)
    }

    fn map(x: f32, from: Self, to: Self) -> f32 {
        let segment = |x: f32, (a0, a1): (f32, f32), (b0, b1): (f32, f32)| {
            if (a1 - a0).abs() < f32::EPSILON {
                b0
            } else {
                b0 + (x - a0) * (b1 - b0) / (a1 - a0)
            }
        };
        if x >= from.related {
            segment(x, (from.related, 1.0), (to.related, 1.0))
        } else {
            segment(x, (from.unrelated, from.related), (to.unrelated, to.related))
        }
    }
}

impl Default for CosineScale {
    fn default() -> Self {
        Self::REFERENCE
    }
}

#[cfg(test)]
mod scale_tests {
    use super::CosineScale;

    #[test]
    fn a_models_anchors_land_on_the_reference_anchors_and_back() {
        let e5 = CosineScale { unrelated: 0.78, related: 0.87 };
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        assert!(close(e5.comparable(0.78), 0.1));
        assert!(close(e5.comparable(0.87), 0.6));
        assert!(close(e5.comparable(1.0), 1.0));
        // Monotonic, below the unrelated anchor too, and `raw` undoes `comparable`.
        assert!(e5.comparable(0.5) < e5.comparable(0.78));
        for c in [0.3_f32, 0.8, 0.85, 0.9, 0.99] {
            assert!(close(e5.raw(e5.comparable(c)), c), "{c}");
        }
        // The reference model's own cosines are unchanged.
        assert!(close(CosineScale::REFERENCE.comparable(0.42), 0.42));
    }
}
