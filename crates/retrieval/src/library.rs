//! The knowledge library: FAQ documents kept in the store (the source of truth, shared by
//! replicas) and indexed in this replica's [`FaqIndex`]. It is the one way documents reach the
//! index, whichever command starts (`serve`, `ingest`, `eval`, `ask`), so they all agree on the
//! index's fingerprint and none re-embeds what another indexed.
//!
//! - At start, the `--kb` folder's files are added to the store when new or changed, then the
//!   index is rebuilt if it does not hold exactly the store's documents.
//! - An upload is parsed first (a bad file changes nothing), stored, indexed in one commit and
//!   announced with a `document` event.
//! - Every replica follows those events and re-indexes the document from the store, so an
//!   upload through one replica is answerable on all of them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use frontdesk_core::documents::{
    is_markdown, is_reserved_document, sha256_hex, validate_document_id, Document, DocumentInfo,
    DocumentStore, EntryEdit, EntryWritten, Library,
};
use frontdesk_core::store::{SessionStore, StoreEvent};
use frontdesk_core::{Error, Result};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::FaqIndex;

/// Largest document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

/// Calls `apply` with the id of each document another replica (or this one) changed, or with
/// `None` after missing some events, until `stop`. `what` names the changes in warnings.
pub(crate) fn follow_documents<F, Fut>(
    events: &dyn SessionStore,
    stop: CancellationToken,
    what: &'static str,
    apply: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(Option<String>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let mut events = events.subscribe();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                () = stop.cancelled() => return,
            };
            let changed = match event {
                Ok(StoreEvent::Document { document_id }) => Some(document_id),
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => None,
                Err(RecvError::Closed) => return,
            };
            if let Err(error) = apply(changed).await {
                tracing::warn!(%error, "could not apply a {what} change");
            }
        }
    })
}

/// Documents in the store, indexed here.
pub struct KnowledgeLibrary {
    events: Arc<dyn SessionStore>,
    documents: Arc<dyn DocumentStore>,
    index: FaqIndex,
    /// What the index holds: document id → SHA-256 of the content indexed.
    indexed: Mutex<BTreeMap<String, String>>,
    /// One change at a time, so the index and `indexed` move together.
    writing: tokio::sync::Mutex<()>,
}

fn fingerprint(format: &str, indexed: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format.as_bytes());
    for (id, sha) in indexed {
        hasher.update(id.as_bytes());
        hasher.update([0]);
        hasher.update(sha.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::Internal(format!("index task failed: {e}")))?
}

/// The longest a document may take to decode and parse. The parsers are linear, so a real
/// document takes far less; past it the upload is refused (the work finishes on its blocking
/// thread, its result dropped).
pub const PARSE_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Decoding and parsing on the blocking pool, within [`PARSE_TIME_LIMIT`].
async fn parse_bounded<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::time::timeout(PARSE_TIME_LIMIT, blocking(work)).await {
        Ok(result) => result,
        Err(_) => Err(Error::BadRequest(format!(
            "the document took longer than {} s to read, the most one may take",
            PARSE_TIME_LIMIT.as_secs()
        ))),
    }
}

impl KnowledgeLibrary {
    /// A library over a store and an index.
    pub fn new(events: Arc<dyn SessionStore>, documents: Arc<dyn DocumentStore>, index: FaqIndex) -> Self {
        Self {
            events,
            documents,
            index,
            indexed: Mutex::new(BTreeMap::new()),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// The index searched by the chat.
    pub fn index(&self) -> &FaqIndex {
        &self.index
    }

    /// Where the documents are kept (the server's own records go beside them).
    pub fn documents(&self) -> &Arc<dyn DocumentStore> {
        &self.documents
    }

    fn indexed(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.indexed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds the folder's files to the store when they are new or changed; returns how many.
    /// Files that do not parse are skipped with a warning.
    pub async fn seed_folder(&self, folder: &Path) -> Result<usize> {
        let folder = folder.to_owned();
        let files = blocking(move || {
            let mut out = Vec::new();
            for (id, path) in crate::folder_files(&folder)? {
                out.push((
                    id,
                    std::fs::read(&path)
                        .map_err(|e| Error::BadRequest(format!("{}: {e}", path.display())))?,
                ));
            }
            Ok(out)
        })
        .await?;
        let stored: BTreeMap<String, String> =
            self.faq_documents().await?.into_iter().map(|d| (d.id, d.sha256)).collect();
        let mut changed = 0;
        for (id, content) in files {
            if stored.get(&id) == Some(&sha256_hex(&content)) {
                continue;
            }
            match self.put(&id, content).await {
                Ok(_) => changed += 1,
                Err(error) => tracing::warn!(document = %id, %error, "knowledge-base file skipped"),
            }
        }
        Ok(changed)
    }

    /// Makes the index hold exactly the store's documents, rebuilding it only when it does not.
    /// Returns the number of entries.
    pub async fn sync(&self) -> Result<u64> {
        let _writing = self.writing.lock().await;
        let mut wanted = BTreeMap::new();
        for info in self.faq_documents().await? {
            wanted.insert(info.id, info.sha256);
        }
        let print = fingerprint(&self.index.format(), &wanted);
        if self.index.fingerprint().as_deref() == Some(print.as_str()) {
            *self.indexed() = wanted;
            return Ok(self.index.entries());
        }
        let mut contents = Vec::new();
        for id in wanted.keys() {
            if let Some(document) = self.documents.get_document(id).await? {
                contents.push((id.clone(), document.content));
            }
        }
        let index = self.index.clone();
        // Decoding (PDF text extraction) and parsing are CPU work: the blocking pool.
        let entries = blocking(move || {
            let mut documents = Vec::new();
            for (id, content) in contents {
                match crate::document_text(&id, &content) {
                    Ok(text) => documents.push((id, text)),
                    Err(error) => tracing::warn!(document = %id, %error, "document skipped"),
                }
            }
            Ok(index.rebuild(&documents, &print)?)
        })
        .await?;
        *self.indexed() = wanted;
        tracing::info!(entries, "index rebuilt from the stored documents");
        Ok(entries)
    }

    /// Follows document events from every replica until `stop`, re-indexing what changed.
    pub fn follow(self: &Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        follow_documents(self.events.as_ref(), stop, "knowledge-base", move |changed| {
            let this = Arc::clone(&this);
            async move {
                match changed {
                    Some(id) => this.refresh(&id).await,
                    // Missed some: check every document.
                    None => this.sync().await.map(|_| ()),
                }
            }
        })
    }

    /// The stored FAQ documents (the catalogue and the server's other records kept beside them
    /// are not).
    async fn faq_documents(&self) -> Result<Vec<DocumentInfo>> {
        let mut documents = self.documents.list_documents().await?;
        documents.retain(|d| !is_reserved_document(&d.id));
        Ok(documents)
    }

    /// Brings one document in the index up to date with the store.
    async fn refresh(&self, id: &str) -> Result<()> {
        if is_reserved_document(id) {
            return Ok(());
        }
        let _writing = self.writing.lock().await;
        let stored = self.documents.get_document(id).await?;
        let current = self.indexed().get(id).cloned();
        match stored {
            Some(document) if current.as_deref() == Some(document.info.sha256.as_str()) => Ok(()),
            Some(document) => self.index_one(id, document.content, document.info.sha256).await.map(|_| ()),
            None if current.is_some() => self.unindex(id).await,
            None => Ok(()),
        }
    }

    async fn index_one(&self, id: &str, content: Vec<u8>, sha: String) -> Result<u64> {
        let owned = id.to_owned();
        let entries = parse_bounded(move || {
            Ok(crate::index::parse_entries(&owned, &crate::document_text(&owned, &content)?)?)
        })
        .await?;
        self.index_entries(id, entries, sha).await
    }

    async fn index_entries(&self, id: &str, entries: Vec<crate::FaqEntry>, sha: String) -> Result<u64> {
        let index = self.index.clone();
        let owned = id.to_owned();
        let entries = blocking(move || Ok(index.upsert_entries(&owned, &entries)?)).await?;
        let print = {
            let mut indexed = self.indexed();
            indexed.insert(id.to_owned(), sha);
            fingerprint(&self.index.format(), &indexed)
        };
        self.index.set_fingerprint(&print).map_err(Error::from)?;
        Ok(entries)
    }

    async fn unindex(&self, id: &str) -> Result<()> {
        let index = self.index.clone();
        let owned = id.to_owned();
        blocking(move || Ok(index.remove_document(&owned)?)).await?;
        let print = {
            let mut indexed = self.indexed();
            indexed.remove(id);
            fingerprint(&self.index.format(), &indexed)
        };
        self.index.set_fingerprint(&print).map_err(Error::from)?;
        Ok(())
    }
}

#[async_trait]
impl Library for KnowledgeLibrary {
    async fn list(&self) -> Result<Vec<DocumentInfo>> {
        self.faq_documents().await
    }

    async fn get(&self, id: &str) -> Result<Option<Document>> {
        if is_reserved_document(id) {
            return Ok(None);
        }
        self.documents.get_document(id).await
    }

    async fn put(&self, id: &str, content: Vec<u8>) -> Result<(DocumentInfo, bool)> {
        validate_document_id(id)?;
        if content.len() > MAX_DOCUMENT_BYTES {
            return Err(Error::TooLarge(format!(
                "a document may have at most {} MiB",
                MAX_DOCUMENT_BYTES >> 20
            )));
        }
        // Decoded and parsed once, on the blocking pool and within a time limit, before
        // anything is stored: a bad file is refused and changes nothing.
        let entries = {
            let (owned, bytes) = (id.to_owned(), content.clone());
            parse_bounded(move || {
                Ok(crate::index::parse_entries(&owned, &crate::document_text(&owned, &bytes)?)?)
            })
            .await?
        };
        let _writing = self.writing.lock().await;
        let created = self.documents.get_document(id).await?.is_none();
        let document = Document::new(id, content, entries.len() as u64);
        let info = document.info.clone();
        self.documents.put_document(&document).await?;
        self.index_entries(id, entries, info.sha256.clone()).await?;
        self.events.publish(&StoreEvent::Document { document_id: id.to_owned() }).await?;
        tracing::info!(document = %id, entries = info.entries, created, "document stored and indexed");
        Ok((info, created))
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        if is_reserved_document(id) {
            return Ok(false);
        }
        let _writing = self.writing.lock().await;
        let existed = self.documents.delete_document(id).await?;
        if existed || self.indexed().contains_key(id) {
            self.unindex(id).await?;
            self.events.publish(&StoreEvent::Document { document_id: id.to_owned() }).await?;
            tracing::info!(document = %id, "document deleted");
        }
        Ok(existed)
    }

    async fn write_entry(&self, id: &str, edit: &EntryEdit) -> Result<(DocumentInfo, EntryWritten)> {
        validate_document_id(id)?;
        if is_reserved_document(id) || !is_markdown(id) {
            return Err(Error::BadRequest(format!(
                "{id} is not a Markdown document: entries are written into .md documents"
            )));
        }
        let text = match self.documents.get_document(id).await? {
            Some(document) => String::from_utf8(document.content)
                .map_err(|_| Error::BadRequest(format!("{id} is not UTF-8 text")))?,
            None if edit.create => String::new(),
            None => {
                return Err(Error::Conflict(format!(
                    "{id} does not exist (deleted meanwhile?): choose another document or create it"
                )))
            }
        };
        let replaced = edit
            .replaces
            .as_deref()
            .and_then(|entry| crate::parse::replace_markdown_entry(id, &text, entry, &edit.answer));
        let written = if replaced.is_some() { EntryWritten::Edited } else { EntryWritten::Added };
        let content = replaced
            .unwrap_or_else(|| crate::parse::append_markdown_entry(&text, &edit.question, &edit.answer));
        let (info, _) = self.put(id, content.into_bytes()).await?;
        Ok((info, written))
    }
}

#[cfg(test)]
mod tests {
    use frontdesk_core::testing::MemoryStore;

    use super::*;

    fn library(store: &Arc<MemoryStore>, dir: &Path) -> KnowledgeLibrary {
        KnowledgeLibrary::new(store.clone(), store.clone(), FaqIndex::open(dir).expect("open"))
    }

    #[tokio::test]
    async fn an_unchanged_library_is_not_reindexed_and_a_changed_one_is() {
        let docs = tempfile::tempdir().expect("temp dir");
        std::fs::write(docs.path().join("a.md"), "## Q one\nA one.\n").expect("write");
        std::fs::write(docs.path().join("notes.text"), "Q two?\nA two.\n").expect("write");
        let data = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(MemoryStore::default());
        let first = library(&store, data.path());
        assert_eq!(first.seed_folder(docs.path()).await.expect("seed"), 2, "every format the parser reads");
        assert_eq!(first.sync().await.expect("sync"), 2);
        let print = first.index().fingerprint().expect("a fingerprint");
        drop(first);

        // Another command on the same store and index (`eval`, then `serve`) finds it current.
        let second = library(&store, data.path());
        assert_eq!(second.seed_folder(docs.path()).await.expect("seed"), 0, "nothing new");
        // Taken out behind the fingerprint's back: a sync that rebuilt would put it back.
        second.index().remove_document("a.md").expect("remove");
        assert_eq!(second.sync().await.expect("sync"), 1, "the current fingerprint spares a rebuild");
        assert_eq!(second.index().fingerprint().as_deref(), Some(print.as_str()));

        std::fs::write(docs.path().join("b.csv"), "question,answer\nQ three,A three\n").expect("write");
        assert_eq!(second.seed_folder(docs.path()).await.expect("seed"), 1);
        assert_eq!(second.index().entries(), 2, "the new document joins the index");
        assert_ne!(second.index().fingerprint().as_deref(), Some(print.as_str()));
    }

    #[tokio::test]
    async fn a_stale_index_is_rebuilt_from_the_store() {
        let docs = tempfile::tempdir().expect("temp dir");
        std::fs::write(docs.path().join("a.md"), "## Q one\nA one.\n").expect("write");
        let data = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(MemoryStore::default());
        let first = library(&store, data.path());
        first.seed_folder(docs.path()).await.expect("seed");
        first.index().remove_document("a.md").expect("remove");
        first.index().set_fingerprint("stale").expect("write");
        assert_eq!(first.sync().await.expect("sync"), 1, "rebuilt from the stored document");
    }
}
