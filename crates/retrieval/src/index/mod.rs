//! The tantivy index of FAQ entries.
//!
//! Each entry is one tantivy document with its question (`title`) and answer (`body`) analysed
//! by the same English analyzer (lowercase, stop words removed, stemmed). A query is analysed
//! the same way and becomes one optional term query per word on each field, the title boosted
//! well above the body: on FAQ collections a match on the question is worth far more than one
//! in the answer. Query text is never parsed as query syntax, so no input can break a search.
//!
//! With an [`Embedder`], each entry also stores its embedding, and a search ranks every entry
//! by cosine similarity to the question too; the two rankings are fused by reciprocal rank
//! (each list gives an entry `1 / (60 + rank)`), so an entry found by either way of searching
//! ranks high, and one found by both ranks higher. Keywords find exact product names and
//! codes; embeddings find paraphrases that share no word with the FAQ.
//!
//! Confidence is not the BM25 score (which is not comparable across queries). With an
//! embedder it is the cosine similarity rescaled so that unrelated texts give 0 and the same
//! question 1 (see [`semantic_confidence`]), raised to at least the decline threshold when
//! every content word of a longer question is in the entry; without one (or for a Chinese
//! question, which the English model cannot read) it is the share of the question's content
//! words found in the entry. Word overlap alone is a poor judge of short questions: "do you
//! sell tvs" shares half its content words with "Do you sell spare parts?". Either way a
//! threshold means the same thing for every question.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use frontdesk_core::documents::DocumentFormat;
use frontdesk_core::retrieve::{CosineScale, Passage, Retriever};

use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::tokenizer::{Language, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter, TextAnalyzer};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use tantivy::{DocAddress, Searcher};

use crate::embed::{self, Embedder, QueryBatcher};
use crate::parse::{parse_document, FaqEntry};
use crate::RetrievalError;

const ANALYZER: &str = "frontdesk_en";
/// Changes whenever the same documents would be indexed differently (a new analyzer), so an
/// index written by an earlier version is rebuilt at start. Part of every fingerprint.
pub const INDEX_FORMAT: &str =
    "frontdesk-index-4 (jieba segmentation, Chinese stop words, stored uncentred embeddings)";
/// How much more a match in the question counts than one in the answer.
const TITLE_BOOST: f32 = 3.0;
const FINGERPRINT_FILE: &str = "kb.fingerprint";
const WRITER_MEMORY_BYTES: usize = 32 * 1024 * 1024;
/// Candidates each way of searching contributes to the fused ranking.
const CANDIDATES: usize = 20;
/// Reciprocal rank fusion's constant: damps the difference between the first few ranks.
const FUSION_K: f32 = 60.0;
/// Cosine similarity at or below which a question and an entry count as unrelated (confidence
/// 0), and at or above which as the same question (confidence 1); confidence 0.5, the default
/// decline threshold, falls at a cosine of 0.37. On the reference scale
/// ([`CosineScale::REFERENCE`]): another model's cosines are mapped onto it first. Calibrated with `frontdesk eval`, whose
/// threshold sweep shows the trade between declining too much and too little;
/// docs/benchmarks.md has the figures.
const COSINE_UNRELATED: f32 = 0.14;
const COSINE_SAME: f32 = 0.6;
/// A question of at least this many content words, all found in an entry, is confident in
/// that entry whatever its cosine (exact product names and codes).
const FULL_MATCH_WORDS: usize = 3;
/// With the multilingual model, how much a keyword match adds to an entry's score: this many
/// standard deviations of unrelated cosines ([`crate::Noise`]) for the first keyword hit, half
/// as much for the second, and so on. Meaning ranks; exact words settle near ties.
const KEYWORD_WEIGHT: f32 = 0.75;
/// With the multilingual model, the scores (standard deviations above unrelated texts' cosine)
/// at which search confidence is 0 and 1; the default decline threshold, 0.5, falls halfway.
/// From the threshold sweep of `frontdesk eval` (README, *Across languages*).
const NOISE_UNRELATED: f32 = 1.3;
const NOISE_SAME: f32 = 3.3;

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "for", "from",
    "get", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on",
    "or", "our", "please", "should", "so", "such", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with", "would",
    "you", "your", "hi", "hello", "thanks",
    // Chinese function words and politeness, as jieba cuts them: without them a question such
    // as 我想退货 ("I want to return it") matches a third of its words at best.
    "我", "你", "您", "他", "她", "它", "我们", "你们", "的", "了", "吗", "呢", "吧", "啊", "是", "在", "想",
    "要", "请", "请问", "一下", "可以", "能", "怎么", "如何", "什么",
];

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(crate::segment::MultilingualTokenizer)
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(STOP_WORDS.iter().map(|w| (*w).to_owned())))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The analysed words of a text, as the index sees them.
fn analysed_words(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while stream.advance() {
        words.push(stream.token().text.clone());
    }
    words
}

#[derive(Clone, Copy)]
struct Fields {
    entry_id: Field,
    document_id: Field,
    title: Field,
    body: Field,
    section: Field,
    url: Field,
    vector: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_stored().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        entry_id: builder.add_text_field("entry_id", STRING | STORED),
        document_id: builder.add_text_field("document_id", STRING | STORED),
        title: builder.add_text_field("title", text.clone()),
        body: builder.add_text_field("body", text),
        section: builder.add_text_field("section", STORED),
        url: builder.add_text_field("url", STORED),
        vector: builder.add_bytes_field("vector", STORED),
    };
    (builder.build(), fields)
}

/// The index of FAQ entries, on disk under the data dir.
#[derive(Clone)]
pub struct FaqIndex {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    reader: IndexReader,
    /// One writer at a time; tantivy allows only one per index.
    writer: Mutex<IndexWriter>,
    fields: Fields,
    embedder: Option<Arc<Embedder>>,
    /// Embeds the searches' queries, those that arrive together in one batch.
    queries: Option<QueryBatcher>,
    /// The entries' embeddings, loaded from the index after each commit, with the searcher
    /// they were read from so keyword and semantic hits address the same documents.
    vectors: RwLock<Arc<VectorTable>>,
}

/// Every entry's embedding, one row per entry, for a brute-force cosine search (a few
/// thousand FAQ entries take well under a millisecond).
struct VectorTable {
    searcher: Searcher,
    addresses: Vec<DocAddress>,
    /// `addresses.len()` rows of [`embed::DIMENSIONS`] floats.
    rows: Vec<f32>,
    by_address: HashMap<DocAddress, usize>,
    /// The entries whose question is written in Chinese (keyword search finds them only for
    /// Chinese words; see [`FaqIndex::search_blocking`]).
    chinese: HashSet<DocAddress>,
    /// With the multilingual model, `rows` are centred on each entry's language (for
    /// comparing across languages) and these are the vectors as stored, uncentred (for
    /// comparing within one); empty otherwise.
    uncentred: Vec<f32>,
}

impl VectorTable {
    fn load(
        searcher: Searcher,
        fields: &Fields,
        embedder: Option<&Embedder>,
    ) -> Result<Self, RetrievalError> {
        let mut table = Self {
            searcher: searcher.clone(),
            addresses: Vec::new(),
            rows: Vec::new(),
            by_address: HashMap::new(),
            chinese: HashSet::new(),
            uncentred: Vec::new(),
        };
        let multilingual = embedder.filter(|e| e.multilingual());
        let field = fields.vector;
        for (ordinal, segment) in searcher.segment_readers().iter().enumerate() {
            #[allow(clippy::cast_possible_truncation)]
            let ordinal = ordinal as u32;
            for id in segment.doc_ids_alive() {
                let address = DocAddress::new(ordinal, id);
                let document: TantivyDocument = searcher.doc(address)?;
                let vector = document.get_first(field).and_then(|v| v.as_bytes()).and_then(embed::from_bytes);
                let chinese =
                    document.get_first(fields.title).and_then(|v| v.as_str()).is_some_and(mostly_cjk);
                if chinese {
                    table.chinese.insert(address);
                }
                if let Some(vector) = vector.filter(|v| v.len() == embed::DIMENSIONS) {
                    table.by_address.insert(address, table.addresses.len());
                    table.addresses.push(address);
                    if let Some(embedder) = multilingual {
                        table.uncentred.extend_from_slice(&vector);
                        table.rows.extend(embedder.centre(vector, chinese, false));
                    } else {
                        table.rows.extend(vector);
                    }
                }
            }
        }
        Ok(table)
    }

    fn row(&self, index: usize) -> &[f32] {
        &self.rows[index * embed::DIMENSIONS..(index + 1) * embed::DIMENSIONS]
    }

    fn uncentred_row(&self, index: usize) -> &[f32] {
        &self.uncentred[index * embed::DIMENSIONS..(index + 1) * embed::DIMENSIONS]
    }

    /// The `n` rows most similar to `query`, best first, with their cosine.
    fn nearest(&self, query: &[f32], n: usize) -> Vec<(DocAddress, f32)> {
        let mut scored: Vec<(DocAddress, f32)> =
            self.addresses.iter().enumerate().map(|(i, a)| (*a, embed::dot(query, self.row(i)))).collect();
        let n = n.min(scored.len());
        if n == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(n - 1, |a, b| b.1.total_cmp(&a.1));
        scored.truncate(n);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored
    }
}

/// A cosine similarity on the reference scale as a confidence from 0 (unrelated) to 1 (the
/// same question).
pub fn semantic_confidence(cosine: f32) -> f32 {
    ((cosine - COSINE_UNRELATED) / (COSINE_SAME - COSINE_UNRELATED)).clamp(0.0, 1.0)
}

/// Whether a text is mostly in a script the English embedding model does not read (Chinese,
/// Japanese, Korean); such questions are searched by keywords only.
fn mostly_cjk(text: &str) -> bool {
    let (mut cjk, mut letters) = (0_usize, 0_usize);
    for c in text.chars().filter(|c| c.is_alphanumeric()) {
        letters += 1;
        if matches!(c as u32, 0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF) {
            cjk += 1;
        }
    }
    cjk * 2 > letters
}

impl FaqIndex {
    /// Opens the index in `dir`, creating it if needed; keyword search only.
    pub fn open(dir: &Path) -> Result<Self, RetrievalError> {
        Self::open_with(dir, None)
    }

    /// Opens the index in `dir`, creating it if needed, with semantic search when an
    /// embedding model is given. Entries indexed without one (or with another model) are
    /// found by keywords only until re-indexed; the [`FaqIndex::format`] string, part of
    /// every fingerprint, makes that happen at the next start.
    pub fn open_with(dir: &Path, embedder: Option<Arc<Embedder>>) -> Result<Self, RetrievalError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let directory = MmapDirectory::open(dir).map_err(tantivy::TantivyError::from)?;
        let index = Index::open_or_create(directory, schema)?;
        index.tokenizers().register(ANALYZER, analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
        let reader: IndexReader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let vectors =
            RwLock::new(Arc::new(VectorTable::load(reader.searcher(), &fields, embedder.as_deref())?));
        let queries = embedder.as_ref().map(|e| QueryBatcher::new(Arc::clone(e))).transpose()?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                reader,
                writer: Mutex::new(writer),
                fields,
                embedder,
                queries,
                vectors,
            }),
        })
    }

    /// How this index turns documents into entries and vectors: [`INDEX_FORMAT`] and the
    /// embedding model's name. Part of every fingerprint, so a change re-indexes.
    pub fn format(&self) -> String {
        match &self.inner.embedder {
            Some(embedder) => format!("{INDEX_FORMAT} + {}", embedder.name()),
            None => INDEX_FORMAT.to_owned(),
        }
    }

    /// The embedding model, when questions are also searched by meaning.
    pub fn embedder(&self) -> Option<Arc<Embedder>> {
        self.inner.embedder.clone()
    }

    /// A question's embedding through the query batcher (blocking), centred like
    /// [`Embedder::embed_queries`]'s; `None` without a model.
    pub fn embed_query(&self, text: &str) -> Result<Option<Vec<f32>>, RetrievalError> {
        let (Some(queries), Some(embedder)) = (&self.inner.queries, &self.inner.embedder) else {
            return Ok(None);
        };
        Ok(Some(embedder.centre(queries.embed(text)?, mostly_cjk(text), true)))
    }

    /// Whether questions are also searched by meaning.
    pub fn semantic(&self) -> bool {
        self.inner.embedder.is_some()
    }

    /// The embeddings of these entries (none without a model), computed before the writer is
    /// taken so a slow embedding never holds it.
    fn embed_entries(&self, entries: &[FaqEntry]) -> Result<Vec<Option<Vec<f32>>>, RetrievalError> {
        let Some(embedder) = &self.inner.embedder else { return Ok(vec![None; entries.len()]) };
        let texts: Vec<String> = entries.iter().map(entry_text).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(embedder.embed_uncentred(&refs)?.into_iter().map(Some).collect())
    }

    /// Makes the last commit visible to searches.
    fn reload(&self) -> Result<(), RetrievalError> {
        self.inner.reader.reload()?;
        let table = VectorTable::load(
            self.inner.reader.searcher(),
            &self.inner.fields,
            self.inner.embedder.as_deref(),
        )?;
        *self.inner.vectors.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(table);
        Ok(())
    }

    /// Adds a document's entries, replacing those it had, in one commit (blocking). A document
    /// that does not parse changes nothing. Returns how many entries it has.
    pub fn upsert_document(&self, id: &str, text: &str) -> Result<u64, RetrievalError> {
        self.upsert_entries(id, &parse_entries(id, text)?)
    }

    /// Replaces a document's entries with these, already parsed, in one commit (blocking).
    pub fn upsert_entries(&self, id: &str, entries: &[FaqEntry]) -> Result<u64, RetrievalError> {
        let vectors = self.embed_entries(entries)?;
        let f = self.inner.fields;
        {
            let mut writer = self.lock_writer();
            writer.delete_term(Term::from_field_text(f.document_id, id));
            for (entry, vector) in entries.iter().zip(&vectors) {
                writer.add_document(self.to_document(entry, vector.as_deref()))?;
            }
            writer.commit()?;
        }
        self.reload()?;
        Ok(entries.len() as u64)
    }

    /// Removes a document's entries (blocking).
    pub fn remove_document(&self, id: &str) -> Result<(), RetrievalError> {
        {
            let mut writer = self.lock_writer();
            writer.delete_term(Term::from_field_text(self.inner.fields.document_id, id));
            writer.commit()?;
        }
        self.reload()?;
        Ok(())
    }

    /// Replaces the whole index with these documents (id, text) in one commit (blocking), and
    /// records `fingerprint` as what it holds. A document that does not parse is skipped with
    /// a warning, so one bad file cannot empty the index.
    pub fn rebuild(&self, documents: &[(String, String)], fingerprint: &str) -> Result<u64, RetrievalError> {
        let mut entries = Vec::new();
        for (id, text) in documents {
            match parse_document(id, text) {
                Ok(parsed) => entries.extend(parsed),
                Err(error) => tracing::warn!(document = %id, %error, "document skipped"),
            }
        }
        let vectors = self.embed_entries(&entries)?;
        {
            let mut writer = self.lock_writer();
            writer.delete_all_documents()?;
            for (entry, vector) in entries.iter().zip(&vectors) {
                writer.add_document(self.to_document(entry, vector.as_deref()))?;
            }
            writer.commit()?;
        }
        self.reload()?;
        self.set_fingerprint(fingerprint)?;
        Ok(self.entry_count_now())
    }

    /// What the index was last recorded to hold (see [`FaqIndex::set_fingerprint`]).
    pub fn fingerprint(&self) -> Option<String> {
        std::fs::read_to_string(self.inner.dir.join(FINGERPRINT_FILE)).ok()
    }

    /// Records what the index holds, so an unchanged set of documents is not re-indexed at
    /// the next start.
    pub fn set_fingerprint(&self, fingerprint: &str) -> Result<(), RetrievalError> {
        let path = self.inner.dir.join(FINGERPRINT_FILE);
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, fingerprint)?;
        std::fs::rename(&temporary, &path)?;
        Ok(())
    }

    /// Entries in the index now.
    pub fn entries(&self) -> u64 {
        self.entry_count_now()
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        // A panic while holding the writer leaves nothing half-written that a commit would keep.
        self.inner.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn to_document(&self, entry: &FaqEntry, vector: Option<&[f32]>) -> TantivyDocument {
        let f = self.inner.fields;
        let mut document = doc!(
            f.entry_id => entry.entry_id.clone(),
            f.document_id => entry.document_id.clone(),
            f.title => entry.title.clone(),
            f.body => entry.body.clone(),
        );
        for heading in &entry.section {
            document.add_text(f.section, heading);
        }
        if let Some(url) = &entry.url {
            document.add_text(f.url, url);
        }
        if let Some(vector) = vector {
            document.add_bytes(f.vector, &embed::to_bytes(vector));
        }
        document
    }

    fn entry_count_now(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// The `k` best entries for `query`, searched on the calling thread (blocking).
    pub fn search_blocking(&self, query: &str, k: usize) -> Result<Vec<Passage>, RetrievalError> {
        let f = self.inner.fields;
        let mut analyzer = analyzer();
        let mut words = analysed_words(&mut analyzer, query);
        words.sort();
        words.dedup();
        if k == 0 || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let table = Arc::clone(&self.inner.vectors.read().unwrap_or_else(std::sync::PoisonError::into_inner));
        let searcher = &table.searcher;
        let candidates = k.max(CANDIDATES);

        let mut keyword_hits = Vec::new();
        if !words.is_empty() {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for word in &words {
                let title =
                    TermQuery::new(Term::from_field_text(f.title, word), IndexRecordOption::WithFreqs);
                let body = TermQuery::new(Term::from_field_text(f.body, word), IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(title), TITLE_BOOST))));
                clauses.push((Occur::Should, Box::new(body)));
            }
            keyword_hits = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(candidates))?;
        }
        let embedder = self.inner.embedder.as_deref();
        let multilingual = embedder.is_some_and(Embedder::multilingual);
        let readable = multilingual || !mostly_cjk(query);
        // Uncentred, as the batcher gives it.
        let query_vector = match &self.inner.queries {
            Some(queries) if !table.addresses.is_empty() && readable => Some(queries.embed(query)?),
            _ => None,
        };
        let scale = embedder.map_or_else(CosineScale::default, Embedder::scale);
        let noise = embedder.and_then(Embedder::noise);
        // Each ranked entry with its semantic confidence, when it has a vector.
        let ranked: Vec<(DocAddress, f32, Option<f32>)> = match (&query_vector, noise, embedder) {
            (Some(vector), Some(noise), Some(embedder)) => {
                rank_by_noise(&table, &keyword_hits, vector, query, noise, embedder, k)
            }
            _ => rank_by_fusion(&table, &keyword_hits, query_vector.as_deref(), scale, candidates, k),
        };

        let wanted: HashSet<&str> = words.iter().map(String::as_str).collect();
        let mut passages = Vec::with_capacity(ranked.len());
        let addresses: Vec<DocAddress> = ranked.iter().map(|(address, ..)| *address).collect();
        for (address, score, semantic) in ranked {
            let document: TantivyDocument = searcher.doc(address)?;
            let text = |field: Field| {
                document.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
            };
            let title = text(f.title);
            let body = text(f.body);
            let lexical = if wanted.is_empty() {
                0.0
            } else {
                let found: HashSet<String> =
                    analysed_words(&mut analyzer, &format!("{title} {body}")).into_iter().collect();
                let matched = wanted.iter().filter(|w| found.contains(**w)).count();
                #[allow(clippy::cast_precision_loss)]
                let share = matched as f32 / wanted.len() as f32;
                share
            };
            let confidence = match semantic {
                Some(semantic) if wanted.len() >= FULL_MATCH_WORDS && lexical >= 1.0 => semantic.max(0.5),
                Some(semantic) => semantic,
                None => lexical,
            };
            passages.push(Passage {
                document_id: text(f.document_id),
                entry_id: text(f.entry_id),
                title,
                body,
                section: document.get_all(f.section).filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                url: document.get_first(f.url).and_then(|v| v.as_str()).map(str::to_owned),
                score,
                confidence,
            });
        }
        if query_vector.is_some() {
            prefer_question_language(&mut passages, &addresses, &table, scale, query);
        }
        Ok(passages)
    }
}

/// The reciprocal rank fusion of the keyword ranking and the ranking by meaning (a model
/// that reads one language): the best `k` entries, each with its semantic confidence when it
/// has a vector. Without a query vector, the keyword ranking alone.
fn rank_by_fusion(
    table: &VectorTable,
    keyword_hits: &[(f32, DocAddress)],
    query_vector: Option<&[f32]>,
    scale: CosineScale,
    candidates: usize,
    k: usize,
) -> Vec<(DocAddress, f32, Option<f32>)> {
    let mut fused: HashMap<DocAddress, f32> = HashMap::new();
    let mut add = |rank: usize, address: DocAddress| {
        #[allow(clippy::cast_precision_loss)]
        let gain = 1.0 / (FUSION_K + rank as f32 + 1.0);
        *fused.entry(address).or_insert(0.0) += gain;
    };
    for (rank, (_, address)) in keyword_hits.iter().enumerate() {
        add(rank, *address);
    }
    if let Some(vector) = query_vector {
        for (rank, (address, _)) in table.nearest(vector, candidates).into_iter().enumerate() {
            add(rank, address);
        }
    }
    let mut ranked: Vec<(DocAddress, f32)> = fused.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
        .into_iter()
        .map(|(address, score)| {
            let semantic = query_vector
                .zip(table.by_address.get(&address))
                .map(|(q, row)| semantic_confidence(scale.comparable(embed::dot(q, table.row(*row)))));
            (address, score, semantic)
        })
        .collect()
}

/// The ranking with the multilingual model: every entry scored by how far its cosine with the
/// question lies above the cosine of unrelated texts in the same language pair, in standard
/// deviations ([`crate::Noise`]; uncentred vectors within one language, which compare best
/// there, centred ones across languages), plus a bonus for a keyword hit that falls with its
/// rank ([`KEYWORD_WEIGHT`]). Scores on one scale let an entry in the other language, which
/// keywords cannot find, compete with the question's own language on meaning alone, while
/// exact words still settle near ties. The best `k`, each with its semantic confidence.
fn rank_by_noise(
    table: &VectorTable,
    keyword_hits: &[(f32, DocAddress)],
    query_vector: &[f32],
    query: &str,
    noise: crate::Noise,
    embedder: &Embedder,
    k: usize,
) -> Vec<(DocAddress, f32, Option<f32>)> {
    let chinese_question = mostly_cjk(query);
    let centred = embedder.centre(query_vector.to_vec(), chinese_question, true);
    let mut scored: HashMap<DocAddress, (f32, Option<f32>)> = HashMap::new();
    for (i, address) in table.addresses.iter().enumerate() {
        let chinese_entry = table.chinese.contains(address);
        let cosine = if chinese_entry == chinese_question {
            embed::dot(query_vector, table.uncentred_row(i))
        } else {
            embed::dot(&centred, table.row(i))
        };
        let deviations = noise.score(cosine, chinese_question, chinese_entry);
        scored.insert(*address, (deviations, Some(deviations)));
    }
    for (rank, (_, address)) in keyword_hits.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let bonus = KEYWORD_WEIGHT / (rank as f32 + 1.0);
        scored.entry(*address).or_insert((0.0, None)).0 += bonus;
    }
    let mut ranked: Vec<(DocAddress, (f32, Option<f32>))> = scored.into_iter().collect();
    ranked.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
        .into_iter()
        .map(|(address, (score, deviations))| {
            let confidence =
                deviations.map(|d| ((d - NOISE_UNRELATED) / (NOISE_SAME - NOISE_UNRELATED)).clamp(0.0, 1.0));
            (address, score, confidence)
        })
        .collect()
}

/// Cosine (on the reference scale) at or above which two entries in different languages say
/// the same thing: translations of one entry, not neighbours.
const SAME_ENTRY: f32 = 0.8;
/// How much less confident than the first passage its translation may be and still go first.
const TRANSLATION_MARGIN: f32 = 0.2;

/// Where an entry is written in both languages, the visitor's goes first: when the first
/// passage is in the other script than the question and one of the next two is in the
/// question's, says the same (its vector close to the first's) and is nearly as confident, the
/// two swap places.
fn prefer_question_language(
    passages: &mut [Passage],
    addresses: &[DocAddress],
    table: &VectorTable,
    scale: CosineScale,
    query: &str,
) {
    let chinese = mostly_cjk(query);
    let in_chinese = |i: usize| addresses.get(i).is_some_and(|a| table.chinese.contains(a));
    let Some(first) = passages.first() else { return };
    if in_chinese(0) == chinese {
        return;
    }
    let row = |i: usize| addresses.get(i).and_then(|a| table.by_address.get(a)).map(|r| table.row(*r));
    let Some(first_row) = row(0) else { return };
    let translation = (1..passages.len().min(3)).find(|&i| {
        in_chinese(i) == chinese
            && passages[i].confidence + TRANSLATION_MARGIN >= first.confidence
            && row(i).is_some_and(|r| scale.comparable(embed::dot(first_row, r)) >= SAME_ENTRY)
    });
    if let Some(i) = translation {
        passages[..=i].rotate_right(1);
    }
}

/// A document's entries, refusing one that has none with the reason for its type.
pub fn parse_entries(id: &str, text: &str) -> Result<Vec<FaqEntry>, RetrievalError> {
    let entries = parse_document(id, text)?;
    if entries.is_empty() {
        return Err(RetrievalError::Parse {
            document: id.to_owned(),
            reason: no_entries_reason(id).to_owned(),
        });
    }
    Ok(entries)
}

/// Why a document of this type gave no entries, for the admin who uploaded it.
fn no_entries_reason(id: &str) -> &'static str {
    match DocumentFormat::of(id) {
        Some(DocumentFormat::Html) => {
            "no FAQ entries found: the main content has no h2/h3 headings or dt/dd pairs with text \
             (navigation, scripts and styles are skipped)"
        }
        Some(DocumentFormat::Markdown) => "no FAQ entries found: no heading has text under it",
        Some(DocumentFormat::Pdf) => {
            "no FAQ entries found: the PDF has no text (a scanned PDF needs OCR first)"
        }
        _ => "no FAQ entries found: the document is empty",
    }
}

/// The text embedded for an entry: its question or title, then the start of its answer.
fn entry_text(entry: &FaqEntry) -> String {
    format!("{}\n{}", entry.title, entry.body)
}

/// The knowledge-base files under `folder`, as (id relative to `folder`, path), sorted.
pub fn folder_files(folder: &Path) -> Result<Vec<(String, PathBuf)>, RetrievalError> {
    let mut files = Vec::new();
    collect_files(folder, folder, &mut files)?;
    files.sort();
    Ok(files)
}

/// Lists the knowledge-base files under `folder` as (id relative to `root`, path).
fn collect_files(root: &Path, folder: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), RetrievalError> {
    for item in std::fs::read_dir(folder)? {
        let path = item?.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // A catalogue file is not FAQ documents: the catalogue reads it.
        if DocumentFormat::of(name).is_some() && !frontdesk_core::catalog::is_catalog_file(name) {
            let id = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            out.push((id, path));
        }
    }
    Ok(())
}

#[async_trait]
impl Retriever for FaqIndex {
    async fn search(&self, query: &str, k: usize) -> frontdesk_core::Result<Vec<Passage>> {
        let this = self.clone();
        let query = query.to_owned();
        tokio::task::spawn_blocking(move || this.search_blocking(&query, k))
            .await
            .map_err(|e| frontdesk_core::Error::Internal(format!("search task failed: {e}")))?
            .map_err(Into::into)
    }

    async fn entry_count(&self) -> frontdesk_core::Result<u64> {
        Ok(self.entry_count_now())
    }

    async fn entries(&self, ids: &[String]) -> frontdesk_core::Result<Vec<Passage>> {
        let this = self.clone();
        let ids = ids.to_vec();
        tokio::task::spawn_blocking(move || this.entries_blocking(&ids))
            .await
            .map_err(|e| frontdesk_core::Error::Internal(format!("entry lookup failed: {e}")))?
            .map_err(Into::into)
    }
}

impl FaqIndex {
    /// The entries with these ids, in the order asked; an id the index lacks is left out.
    pub fn entries_blocking(&self, ids: &[String]) -> Result<Vec<Passage>, RetrievalError> {
        let f = self.inner.fields;
        let table = Arc::clone(&self.inner.vectors.read().unwrap_or_else(std::sync::PoisonError::into_inner));
        let searcher = &table.searcher;
        let mut out = Vec::new();
        for id in ids {
            let query = TermQuery::new(Term::from_field_text(f.entry_id, id), IndexRecordOption::Basic);
            let Some((_, address)) = searcher.search(&query, &TopDocs::with_limit(1))?.into_iter().next()
            else {
                continue;
            };
            let document: TantivyDocument = searcher.doc(address)?;
            let text = |field: Field| {
                document.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
            };
            out.push(Passage {
                document_id: text(f.document_id),
                entry_id: text(f.entry_id),
                title: text(f.title),
                body: text(f.body),
                section: document.get_all(f.section).filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                url: document.get_first(f.url).and_then(|v| v.as_str()).map(str::to_owned),
                score: 0.0,
                confidence: 1.0,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
