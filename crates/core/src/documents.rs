//! FAQ documents as admins manage them: kept in the store (so every replica can rebuild its
//! index from them) and parsed into the index.
//!
//! - [`DocumentStore`]: where documents are kept; both session-store backends implement it.
//! - [`Library`]: what the admin API calls: store, parse and index one document, or delete it,
//!   and tell the other replicas.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What is known about a stored document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentInfo {
    /// Its name, also its id: a file name or a path such as `academy/courses.md`.
    pub id: String,
    /// Size in bytes.
    pub bytes: u64,
    /// FAQ entries parsed from it.
    pub entries: u64,
    /// Hex SHA-256 of its content.
    pub sha256: String,
    /// Last change, ms since the epoch.
    pub updated_ms: i64,
}

/// A document with its content.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// What is known about it.
    pub info: DocumentInfo,
    /// The file as uploaded.
    pub content: Vec<u8>,
}

impl Document {
    /// A document stored now: its record (size, SHA-256, time) worked out from `content`.
    pub fn new(id: impl Into<String>, content: Vec<u8>, entries: u64) -> Self {
        let info = DocumentInfo {
            id: id.into(),
            bytes: content.len() as u64,
            entries,
            sha256: sha256_hex(&content),
            updated_ms: crate::now_ms(),
        };
        Self { info, content }
    }
}

/// The SHA-256 of some bytes, in hex: how stored documents are told apart.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The file types the knowledge library reads: the one list of extensions, MIME types and
/// (in the retrieval crate, by an exhaustive match) parsers. A document's name picks its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentFormat {
    /// Markdown: an entry per heading with text under it.
    Markdown,
    /// HTML: an entry per h2/h3 heading or dt/dd pair of the main content.
    Html,
    /// CSV with question and answer columns.
    Csv,
    /// JSON: a list of question/answer objects.
    Json,
    /// Plain text: question lines followed by their answers.
    Text,
    /// PDF: its text, read as plain text.
    Pdf,
}

impl DocumentFormat {
    /// Every format, in the order the admin page lists them.
    pub const ALL: [Self; 6] = [Self::Markdown, Self::Html, Self::Csv, Self::Json, Self::Text, Self::Pdf];

    /// The file extensions of this format, lowercase, without the dot; the first is the usual one.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Markdown => &["md", "markdown"],
            Self::Html => &["html", "htm"],
            Self::Csv => &["csv"],
            Self::Json => &["json"],
            Self::Text => &["txt", "text"],
            Self::Pdf => &["pdf"],
        }
    }

    /// The MIME type a document of this format is served with.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Markdown => "text/markdown; charset=utf-8",
            Self::Html => "text/html; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/json",
            Self::Text => "text/plain; charset=utf-8",
            Self::Pdf => "application/pdf",
        }
    }

    /// The format of a document named `name` (a file name or a document id), by its extension.
    pub fn of(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        let extension = extension.to_ascii_lowercase();
        Self::ALL.into_iter().find(|format| format.extensions().contains(&extension.as_str()))
    }

    /// Every extension with its dot, comma-separated: a file input's `accept` list.
    pub fn accept_list() -> String {
        let all: Vec<String> =
            Self::ALL.iter().flat_map(|f| f.extensions()).map(|e| format!(".{e}")).collect();
        all.join(",")
    }
}

/// Longest document id.
pub const MAX_DOCUMENT_ID: usize = 200;

/// Checks a document id: a relative path of letters, digits, `.`, `_`, `-`, spaces and `/`,
/// with no empty, `.` or `..` part.
pub fn validate_document_id(id: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::BadRequest(format!("invalid document name {id:?}: {why}")));
    if id.is_empty() || id.chars().count() > MAX_DOCUMENT_ID {
        return bad("it must have 1 to 200 characters");
    }
    if !id.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | ' ' | '/')) {
        return bad("use letters, digits, '.', '_', '-', spaces and '/'");
    }
    if id.split('/').any(|part| part.trim().is_empty() || part == "." || part == "..") {
        return bad("every part of the path must be a name");
    }
    Ok(())
}

/// Whether a stored document is one the server keeps for itself (the catalogue, the insights'
/// reviews) rather than an FAQ document: their ids hold a `:`, which an upload's cannot.
pub fn is_reserved_document(id: &str) -> bool {
    id.contains(':')
}

/// Where documents are kept.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// Stores a document, replacing one with the same id.
    async fn put_document(&self, document: &Document) -> Result<()>;
    /// One document with its content.
    async fn get_document(&self, id: &str) -> Result<Option<Document>>;
    /// Every document, without content, sorted by id.
    async fn list_documents(&self) -> Result<Vec<DocumentInfo>>;
    /// Deletes a document; `false` if there was none.
    async fn delete_document(&self, id: &str) -> Result<bool>;
}

/// The admin's view of the knowledge base.
#[async_trait]
pub trait Library: Send + Sync + 'static {
    /// Every document, sorted by id.
    async fn list(&self) -> Result<Vec<DocumentInfo>>;
    /// One document with its content.
    async fn get(&self, id: &str) -> Result<Option<Document>>;
    /// Parses, stores and indexes a document (replacing one with the same id), and tells the
    /// other replicas. Returns it and whether it is new. A document that does not parse is
    /// refused with `bad_request` and nothing stored changes.
    async fn put(&self, id: &str, content: Vec<u8>) -> Result<(DocumentInfo, bool)>;
    /// Removes a document from the store and the index; `false` if there was none.
    async fn delete(&self, id: &str) -> Result<bool>;
    /// Writes one entry into the Markdown document `id` (stored, indexed and announced like
    /// [`Library::put`]): the body of [`EntryEdit::replaces`] is replaced when the document
    /// has that entry, else the entry is added at its end. A missing document is created only
    /// when [`EntryEdit::create`] says so (it may have been deleted meanwhile: `conflict`);
    /// one that is not Markdown is refused with `bad_request`.
    async fn write_entry(&self, id: &str, edit: &EntryEdit) -> Result<(DocumentInfo, EntryWritten)>;
}

/// One FAQ entry to write into a document ([`Library::write_entry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryEdit {
    /// The entry's question (its heading), when it is added.
    pub question: String,
    /// Its answer.
    pub answer: String,
    /// The id (`document#anchor`) of the entry whose answer this replaces, if any.
    pub replaces: Option<String>,
    /// Create the document if it does not exist.
    pub create: bool,
}

/// What [`Library::write_entry`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryWritten {
    /// An existing entry's answer was replaced.
    Edited,
    /// A new entry was added.
    Added,
}

/// Whether a document's name makes it Markdown, the format entries are written into.
pub fn is_markdown(id: &str) -> bool {
    DocumentFormat::of(id) == Some(DocumentFormat::Markdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documents_name_picks_its_format() {
        assert_eq!(DocumentFormat::of("academy/Courses.MD"), Some(DocumentFormat::Markdown));
        assert_eq!(DocumentFormat::of("notes.text"), Some(DocumentFormat::Text));
        assert_eq!(DocumentFormat::of("faq.htm"), Some(DocumentFormat::Html));
        assert_eq!(DocumentFormat::of("archive.zip"), None);
        assert_eq!(DocumentFormat::of("README"), None);
        for format in DocumentFormat::ALL {
            for extension in format.extensions() {
                assert_eq!(DocumentFormat::of(&format!("x.{extension}")), Some(format));
                assert!(DocumentFormat::accept_list().split(',').any(|e| e == format!(".{extension}")));
            }
        }
    }

    #[test]
    fn document_ids_are_relative_paths() {
        for good in ["faq.md", "academy/courses.md", "Shipping FAQ.csv", "常见问题.md"] {
            assert!(validate_document_id(good).is_ok(), "{good}");
        }
        for bad in ["", "../etc/passwd", "/abs.md", "a//b.md", "a/./b.md", "x<script>.md", "a\\b.md"] {
            assert!(validate_document_id(bad).is_err(), "{bad}");
        }
    }
}
