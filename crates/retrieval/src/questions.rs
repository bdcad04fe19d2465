//! Vectors for the insights' visitor questions ([`frontdesk_core::insights::QuestionEmbedder`]):
//! the search's embedding model, and a bounded cache so that each question is embedded once
//! however often its period is looked at.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use frontdesk_core::insights::{mostly_cjk, QuestionEmbedder};
use frontdesk_core::{Error, Result};

use crate::Embedder;

/// Questions whose vectors are kept (384 floats each: about 1.5 KB, so 30 MB in all).
pub const QUESTION_CACHE: usize = 20_000;

/// Vectors by question, and the questions in the order they came (the oldest dropped first).
type Cache = (HashMap<String, Vec<f32>>, VecDeque<String>);

/// The embedding model with its cache of question vectors.
pub struct QuestionVectors {
    embedder: Arc<Embedder>,
    /// Whether the model places Chinese text (a multilingual model); else such questions are
    /// grouped by their words.
    multilingual: bool,
    cache: Mutex<Cache>,
}

impl QuestionVectors {
    /// Over a loaded model.
    pub fn new(embedder: Arc<Embedder>) -> Self {
        let multilingual = embedder.multilingual();
        Self { embedder, multilingual, cache: Mutex::default() }
    }
}

impl QuestionEmbedder for QuestionVectors {
    fn model(&self) -> &str {
        self.embedder.name()
    }

    fn scale(&self) -> frontdesk_core::retrieve::CosineScale {
        self.embedder.scale()
    }

    fn embed_questions(&self, texts: &[&str]) -> Result<Vec<Option<Vec<f32>>>> {
        let lock = || self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let placed = |text: &str| self.multilingual || !mostly_cjk(text);
        let missing: Vec<&str> = {
            let cache = lock();
            let mut seen = std::collections::HashSet::new();
            texts
                .iter()
                .copied()
                .filter(|t| placed(t) && !cache.0.contains_key(*t) && seen.insert(*t))
                .collect()
        };
        let mut computed: HashMap<&str, Vec<f32>> = HashMap::new();
        for chunk in missing.chunks(64) {
            let vectors = self
                .embedder
                .embed_queries(chunk)
                .map_err(|e| Error::Internal(format!("cannot embed questions: {e}")))?;
            let mut cache = lock();
            for (text, vector) in chunk.iter().zip(vectors) {
                if cache.1.len() >= QUESTION_CACHE {
                    if let Some(oldest) = cache.1.pop_front() {
                        cache.0.remove(&oldest);
                    }
                }
                cache.1.push_back((*text).to_owned());
                cache.0.insert((*text).to_owned(), vector.clone());
                computed.insert(text, vector);
            }
        }
        let cache = lock();
        Ok(texts
            .iter()
            .map(|t| {
                if !placed(t) {
                    return None;
                }
                computed.get(t).or_else(|| cache.0.get(*t)).cloned()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_question_is_embedded_once_and_chinese_is_left_to_its_words() {
        let Some(dir) = crate::embed::tests::model_dir() else {
            panic!("models/all-MiniLM-L6-v2 is missing: run scripts/fetch-model.sh");
        };
        let vectors = QuestionVectors::new(Arc::new(Embedder::load(&dir).expect("load")));
        let first = vectors
            .embed_questions(&[
                "Do you offer gift wrapping?",
                "可以礼品包装吗",
                "Do you offer gift wrapping?",
            ])
            .expect("embedded");
        assert!(first[0].is_some() && first[1].is_none(), "the English-only model does not place Chinese");
        assert_eq!(first[0], first[2]);
        let cache = || vectors.cache.lock().expect("lock").0.len();
        assert_eq!(cache(), 1, "embedded once");
        let again = vectors
            .embed_questions(&["Do you offer gift wrapping?", "can you wrap it as a present"])
            .expect("ok");
        assert_eq!(again[0], first[0]);
        assert_eq!(cache(), 2);
        let (a, b) = (again[0].as_deref().unwrap_or_default(), again[1].as_deref().unwrap_or_default());
        assert!(crate::embed::dot(a, b) > 0.5, "paraphrases are close: {}", crate::embed::dot(a, b));
    }
}
