//! The tantivy index of FAQ entries.
//!
//! Each entry is one tantivy document with its question (`title`) and answer (`body`) analysed
//! by the same English analyzer (lowercase, stop words removed, stemmed). A query is analysed
//! the same way and becomes one optional term query per word on each field, the title boosted
//! well above the body: on FAQ collections a match on the question is worth far more than one
//! in the answer. Query text is never parsed as query syntax, so no input can break a search.
//!
//! Confidence is not the BM25 score (which is not comparable across queries) but the share of
//! the question's content words found in the entry, so a threshold means the same thing for
//! every question.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use frontdesk_core::retrieve::{Passage, Retriever};
use sha2::{Digest, Sha256};
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::tokenizer::{Language, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter, TextAnalyzer};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::parse::{parse_document, FaqEntry};
use crate::RetrievalError;

const ANALYZER: &str = "frontdesk_en";
/// Changes whenever the same documents would be indexed differently (a new analyzer), so an
/// index written by an earlier version is rebuilt at start. Part of every fingerprint.
pub const INDEX_FORMAT: &str = "frontdesk-index-2 (jieba segmentation)";
/// How much more a match in the question counts than one in the answer.
const TITLE_BOOST: f32 = 3.0;
const FINGERPRINT_FILE: &str = "kb.fingerprint";
const WRITER_MEMORY_BYTES: usize = 32 * 1024 * 1024;

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "for", "from",
    "get", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on",
    "or", "our", "please", "should", "so", "such", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with", "would",
    "you", "your", "hi", "hello", "thanks",
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
    };
    (builder.build(), fields)
}

/// What indexing a folder did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexReport {
    /// Documents read.
    pub documents: usize,
    /// Entries in the index afterwards.
    pub entries: u64,
    /// `false` when the folder was unchanged since the last start and nothing was re-indexed.
    pub reindexed: bool,
}

/// The knowledge base's index, on disk under the data dir.
#[derive(Clone)]
pub struct KnowledgeBase {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    reader: IndexReader,
    /// One writer at a time; tantivy allows only one per index.
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

impl KnowledgeBase {
    /// Opens the index in `dir`, creating it if needed.
    pub fn open(dir: &Path) -> Result<Self, RetrievalError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let directory = MmapDirectory::open(dir).map_err(tantivy::TantivyError::from)?;
        let index = Index::open_or_create(directory, schema)?;
        index.tokenizers().register(ANALYZER, analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Self {
            inner: Arc::new(Inner { dir: dir.to_owned(), reader, writer: Mutex::new(writer), fields }),
        })
    }

    /// Indexes every Markdown and CSV file under `folder`, replacing what the index held,
    /// unless the folder is exactly what was indexed last time.
    pub fn index_folder(&self, folder: &Path) -> Result<IndexReport, RetrievalError> {
        self.index_paths(&[folder.to_owned()])
    }

    /// Indexes the given files and every knowledge-base file under the given folders,
    /// replacing what the index held, unless they are exactly what was indexed last time.
    /// Document ids are paths relative to the folder given (a file's id is its name).
    pub fn index_paths(&self, paths: &[PathBuf]) -> Result<IndexReport, RetrievalError> {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                collect_files(path, path, &mut files)?;
            } else {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                parse_document(&name, "").map(|_| ())?;
                files.push((name, path.clone()));
            }
        }
        files.sort();
        let mut hasher = Sha256::new();
        hasher.update(INDEX_FORMAT.as_bytes());
        let mut documents = Vec::new();
        for (id, path) in &files {
            let text = crate::document_text(id, &std::fs::read(path)?)?;
            hasher.update(id.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            hasher.update([0]);
            documents.push((id.clone(), text));
        }
        let fingerprint = hex::encode(hasher.finalize());
        let fingerprint_path = self.inner.dir.join(FINGERPRINT_FILE);
        let entry_count = self.entry_count_now();
        if entry_count > 0
            && std::fs::read_to_string(&fingerprint_path).ok().as_deref() == Some(fingerprint.as_str())
        {
            return Ok(IndexReport { documents: documents.len(), entries: entry_count, reindexed: false });
        }

        let mut entries = Vec::new();
        for (id, text) in &documents {
            entries.extend(parse_document(id, text)?);
        }
        {
            let mut writer = self.lock_writer();
            writer.delete_all_documents()?;
            for entry in &entries {
                writer.add_document(self.to_document(entry))?;
            }
            writer.commit()?;
        }
        self.inner.reader.reload()?;
        std::fs::write(&fingerprint_path, fingerprint)?;
        Ok(IndexReport { documents: documents.len(), entries: self.entry_count_now(), reindexed: true })
    }

    /// Adds a document's entries, replacing those it had, in one commit (blocking). A document
    /// that does not parse changes nothing. Returns how many entries it has.
    pub fn upsert_document(&self, id: &str, text: &str) -> Result<u64, RetrievalError> {
        let entries = parse_document(id, text)?;
        let f = self.inner.fields;
        {
            let mut writer = self.lock_writer();
            writer.delete_term(Term::from_field_text(f.document_id, id));
            for entry in &entries {
                writer.add_document(self.to_document(entry))?;
            }
            writer.commit()?;
        }
        self.inner.reader.reload()?;
        Ok(entries.len() as u64)
    }

    /// Removes a document's entries (blocking).
    pub fn remove_document(&self, id: &str) -> Result<(), RetrievalError> {
        {
            let mut writer = self.lock_writer();
            writer.delete_term(Term::from_field_text(self.inner.fields.document_id, id));
            writer.commit()?;
        }
        self.inner.reader.reload()?;
        Ok(())
    }

    /// Replaces the whole index with these documents (id, text) in one commit (blocking), and
    /// records `fingerprint` as what it holds. A document that does not parse is skipped with
    /// a warning, so one bad file cannot empty the index.
    pub fn rebuild(&self, documents: &[(String, String)], fingerprint: &str) -> Result<u64, RetrievalError> {
        {
            let mut writer = self.lock_writer();
            writer.delete_all_documents()?;
            for (id, text) in documents {
                match parse_document(id, text) {
                    Ok(entries) => {
                        for entry in &entries {
                            writer.add_document(self.to_document(entry))?;
                        }
                    }
                    Err(error) => tracing::warn!(document = %id, %error, "document skipped"),
                }
            }
            writer.commit()?;
        }
        self.inner.reader.reload()?;
        self.set_fingerprint(fingerprint)?;
        Ok(self.entry_count_now())
    }

    /// What the index was last recorded to hold (see [`KnowledgeBase::set_fingerprint`]).
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

    fn to_document(&self, entry: &FaqEntry) -> TantivyDocument {
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
        if words.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in &words {
            let title = TermQuery::new(Term::from_field_text(f.title, word), IndexRecordOption::WithFreqs);
            let body = TermQuery::new(Term::from_field_text(f.body, word), IndexRecordOption::WithFreqs);
            clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(title), TITLE_BOOST))));
            clauses.push((Occur::Should, Box::new(body)));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.inner.reader.searcher();
        let hits = searcher.search(&query, &TopDocs::with_limit(k))?;
        let wanted: HashSet<&str> = words.iter().map(String::as_str).collect();
        let mut passages = Vec::with_capacity(hits.len());
        for (score, address) in hits {
            let document: TantivyDocument = searcher.doc(address)?;
            let text = |field: Field| {
                document.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
            };
            let title = text(f.title);
            let body = text(f.body);
            let found: HashSet<String> =
                analysed_words(&mut analyzer, &format!("{title} {body}")).into_iter().collect();
            let matched = wanted.iter().filter(|w| found.contains(**w)).count();
            #[allow(clippy::cast_precision_loss)]
            let confidence = matched as f32 / wanted.len() as f32;
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
        Ok(passages)
    }
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
        let supported = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            matches!(
                e.to_ascii_lowercase().as_str(),
                "md" | "markdown" | "csv" | "json" | "txt" | "html" | "htm" | "pdf"
            )
        });
        if supported {
            let id = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            out.push((id, path));
        }
    }
    Ok(())
}

#[async_trait]
impl Retriever for KnowledgeBase {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb_with(files: &[(&str, &str)]) -> (tempfile::TempDir, tempfile::TempDir, KnowledgeBase) {
        let docs = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(docs.path().join(name), text).expect("write");
        }
        let data = tempfile::tempdir().expect("temp dir");
        let kb = KnowledgeBase::open(data.path()).expect("open");
        kb.index_folder(docs.path()).expect("index");
        (docs, data, kb)
    }

    #[test]
    fn the_question_field_outranks_the_answer_and_stemming_matches() {
        let (_docs, _data, kb) = kb_with(&[(
            "faq.md",
            "## How do I return headphones?\nSend them back within 30 days.\n\n## Warranty\nReturning customers get a discount on headphones.\n",
        )]);
        let hits = kb.search_blocking("returning my headphones", 2).expect("search");
        assert_eq!(hits[0].title, "How do I return headphones?");
        assert!((hits[0].confidence - 1.0).abs() < f32::EPSILON);
        assert!(kb.search_blocking("", 3).expect("search").is_empty());
        assert!(kb.search_blocking("\"(*:", 3).expect("odd input is plain text").is_empty());
    }

    #[test]
    fn a_chinese_faq_is_found_by_the_words_of_a_question() {
        let (_docs, _data, kb) = kb_with(&[(
            "常见问题.md",
            "## 如何申请退货？\n收到商品后30天内可以在账户中申请退货，退货运费免费。\n\n## 发货需要多长时间？\n订单通常在两个工作日内发货。\n",
        )]);
        let hits = kb.search_blocking("我想退货", 2).expect("search");
        assert_eq!(hits[0].title, "如何申请退货？", "{hits:?}");
        let hits = kb.search_blocking("多久发货", 2).expect("search");
        assert_eq!(hits[0].title, "发货需要多长时间？", "{hits:?}");
        assert!(hits[0].confidence > 0.4, "{hits:?}");
        assert!(kb.search_blocking("退款到信用卡", 2).expect("search").iter().all(|h| h.confidence < 0.5));
    }

    #[test]
    fn a_pdf_faq_is_indexed_from_its_text() {
        let (_docs, _data, kb) = kb_with(&[]);
        let pdf = crate::decode::tests::pdf_with_lines(&[
            "Can I pay by invoice?",
            "Yes, businesses can pay by invoice within 30 days.",
            "",
            "Do you ship to Norway?",
            "Yes, in four to six working days.",
        ]);
        let text = crate::document_text("terms.pdf", &pdf).expect("text");
        assert_eq!(kb.upsert_document("terms.pdf", &text).expect("indexed"), 2, "{text:?}");
        let hits = kb.search_blocking("paying with an invoice", 1).expect("search");
        assert_eq!(hits[0].title, "Can I pay by invoice?");
        assert!(hits[0].body.contains("within 30 days"), "{:?}", hits[0].body);
    }

    #[test]
    fn an_unchanged_folder_is_not_reindexed_and_a_changed_one_is() {
        let (docs, data, kb) = kb_with(&[("a.md", "## Q one\nA one.\n")]);
        drop(kb);
        let kb = KnowledgeBase::open(data.path()).expect("reopen");
        let again = kb.index_folder(docs.path()).expect("index");
        assert!(!again.reindexed);
        assert_eq!(again.entries, 1);
        std::fs::write(docs.path().join("b.csv"), "question,answer\nQ two,A two\n").expect("write");
        let changed = kb.index_folder(docs.path()).expect("index");
        assert!(changed.reindexed);
        assert_eq!(changed.entries, 2);
    }

    #[test]
    fn one_document_is_added_replaced_and_removed_without_touching_the_others() {
        let (_docs, data, kb) = kb_with(&[("a.md", "## Opening hours\nTen to seven.\n")]);
        assert_eq!(
            kb.upsert_document("b.csv", "question,answer\nGift wrapping?,Yes for 3 euros\n").expect("add"),
            1
        );
        assert_eq!(kb.search_blocking("gift wrapping", 1).expect("search")[0].document_id, "b.csv");
        kb.upsert_document("b.csv", "question,answer\nEngraving?,Yes\nGift cards?,Sold online\n")
            .expect("replace");
        assert_eq!(kb.entries(), 3);
        assert!(kb.search_blocking("wrapping", 3).expect("search").is_empty(), "the old entry is gone");
        assert!(kb.upsert_document("c.csv", "").is_err() || kb.entries() == 3);
        assert!(kb.upsert_document("d.exe", "x").is_err(), "an unsupported type changes nothing");
        assert_eq!(kb.entries(), 3);
        kb.remove_document("a.md").expect("remove");
        assert!(kb.search_blocking("opening hours", 3).expect("search").is_empty());
        drop(kb);
        let reopened = KnowledgeBase::open(data.path()).expect("reopen");
        assert_eq!(reopened.entries(), 2, "changes survive a restart");
    }
}
