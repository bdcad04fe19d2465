//! Test doubles of the three backends, for unit tests of the chat turn here and of the
//! gateway's handlers (enable the `testing` feature). The shipped binary never wires them: the
//! real backends are exercised by the store conformance suite, the engine tests and the
//! end-to-end tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::documents::{Document, DocumentInfo, DocumentStore};
use crate::generate::{GenerationEvent, GenerationRequest, GenerationStream, Generator, TokenCounter};
use crate::model::{Conversation, ConversationStatus, Feedback, Message, VisitorProfile};
use crate::retrieve::{Passage, Retriever};
use crate::store::{
    AppendOutcome, ConversationPage, ConversationQuery, SessionStore, StatusChange, StatusOutcome, StoreEvent,
};
use crate::Result;

/// A session and document store in memory, enough for one test. Events reach subscribers only
/// when published (the real stores also publish every message and status change).
pub struct MemoryStore {
    conversations: Mutex<Vec<Conversation>>,
    messages: Mutex<Vec<(String, Message)>>,
    sealed: Mutex<Vec<(String, String, String)>>,
    visitors: Mutex<Vec<VisitorProfile>>,
    documents: Mutex<Vec<Document>>,
    leads: Mutex<Vec<crate::leads::Lead>>,
    counts: Mutex<std::collections::BTreeMap<(String, String), u64>>,
    events: tokio::sync::broadcast::Sender<StoreEvent>,
    /// Leases: name → holder (they never run out here).
    leases: Mutex<std::collections::BTreeMap<String, String>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            conversations: Mutex::default(),
            messages: Mutex::default(),
            sealed: Mutex::default(),
            visitors: Mutex::default(),
            documents: Mutex::default(),
            leads: Mutex::default(),
            counts: Mutex::default(),
            events: tokio::sync::broadcast::channel(64).0,
            leases: Mutex::default(),
        }
    }
}

#[async_trait]
impl DocumentStore for MemoryStore {
    async fn put_document(&self, document: &Document) -> Result<()> {
        let mut documents = self.documents.lock().expect("lock");
        documents.retain(|d| d.info.id != document.info.id);
        documents.push(document.clone());
        Ok(())
    }
    async fn get_document(&self, id: &str) -> Result<Option<Document>> {
        Ok(self.documents.lock().expect("lock").iter().find(|d| d.info.id == id).cloned())
    }
    async fn list_documents(&self) -> Result<Vec<DocumentInfo>> {
        let mut infos: Vec<_> = self.documents.lock().expect("lock").iter().map(|d| d.info.clone()).collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(infos)
    }
    async fn delete_document(&self, id: &str) -> Result<bool> {
        let mut documents = self.documents.lock().expect("lock");
        let before = documents.len();
        documents.retain(|d| d.info.id != id);
        Ok(documents.len() < before)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_conversation(&self, conversation: &Conversation) -> Result<()> {
        self.conversations.lock().expect("lock").push(conversation.clone());
        Ok(())
    }
    async fn get_conversation(&self, id: &str) -> Result<Option<Conversation>> {
        Ok(self.conversations.lock().expect("lock").iter().find(|c| c.id == id).cloned())
    }
    async fn append_message(&self, conversation_id: &str, mut message: Message) -> Result<AppendOutcome> {
        let mut messages = self.messages.lock().expect("lock");
        if let Some((_, earlier)) = messages.iter().find(|(c, m)| {
            c == conversation_id
                && m.client_message_id.is_some()
                && m.client_message_id == message.client_message_id
        }) {
            return Ok(AppendOutcome::Duplicate(earlier.clone()));
        }
        message.seq = messages.iter().filter(|(c, _)| c == conversation_id).count() as u64;
        messages.push((conversation_id.to_owned(), message.clone()));
        Ok(AppendOutcome::Stored(message))
    }
    async fn list_messages(&self, conversation_id: &str) -> Result<Vec<Message>> {
        Ok(self
            .messages
            .lock()
            .expect("lock")
            .iter()
            .filter(|(c, _)| c == conversation_id)
            .map(|(_, m)| m.clone())
            .collect())
    }
    async fn set_status(&self, id: &str, change: &StatusChange) -> Result<StatusOutcome> {
        let mut conversations = self.conversations.lock().expect("lock");
        let Some(c) = conversations.iter_mut().find(|c| c.id == id) else {
            return Ok(StatusOutcome::Missing);
        };
        if !change.allowed_from(c.status) {
            return Ok(StatusOutcome::Refused(c.clone()));
        }
        change.apply(c, crate::now_ms());
        Ok(StatusOutcome::Changed(c.clone()))
    }
    async fn set_tags(&self, id: &str, tags: &[String]) -> Result<Option<Conversation>> {
        let mut conversations = self.conversations.lock().expect("lock");
        Ok(conversations.iter_mut().find(|c| c.id == id).map(|c| {
            c.tags = tags.to_vec();
            c.clone()
        }))
    }
    async fn set_feedback(
        &self,
        conversation_id: &str,
        message_id: &str,
        feedback: Feedback,
    ) -> Result<bool> {
        let mut messages = self.messages.lock().expect("lock");
        let rated = messages.iter_mut().find(|(c, m)| {
            c == conversation_id && m.id == message_id && m.role == crate::model::Role::Assistant
        });
        Ok(rated.map(|(_, m)| m.feedback = Some(feedback)).is_some())
    }
    async fn list_conversations(&self, query: &ConversationQuery) -> Result<ConversationPage> {
        // The filters, all in one page (no paging).
        let messages = self.messages.lock().expect("lock").clone();
        let conversations = self
            .conversations
            .lock()
            .expect("lock")
            .iter()
            .filter(|c| query.accepts_conversation(c))
            .filter(|c| {
                let of: Vec<Message> =
                    messages.iter().filter(|(id, _)| *id == c.id).map(|(_, m)| m.clone()).collect();
                !query.needs_messages() || query.accepts_messages(&of)
            })
            .cloned()
            .collect();
        Ok(ConversationPage { conversations, next: None })
    }
    async fn put_visitor(&self, profile: &VisitorProfile) -> Result<()> {
        let mut visitors = self.visitors.lock().expect("lock");
        let mut profile = profile.clone();
        if let Some(earlier) = visitors.iter().find(|v| v.id == profile.id) {
            profile.keep_from(earlier);
        }
        visitors.retain(|v| v.id != profile.id);
        visitors.push(profile);
        Ok(())
    }
    async fn get_visitor(&self, id: &str) -> Result<Option<VisitorProfile>> {
        Ok(self.visitors.lock().expect("lock").iter().find(|v| v.id == id).cloned())
    }
    async fn delete_visitor(&self, id: &str) -> Result<bool> {
        let mut visitors = self.visitors.lock().expect("lock");
        let before = visitors.len();
        visitors.retain(|v| v.id != id);
        Ok(visitors.len() < before)
    }
    async fn conversations_of_visitor(&self, visitor_id: &str) -> Result<Vec<Conversation>> {
        let conversations = self.conversations.lock().expect("lock");
        Ok(conversations.iter().filter(|c| c.visitor_id == visitor_id).cloned().collect())
    }
    async fn delete_conversation(&self, id: &str) -> Result<bool> {
        self.messages.lock().expect("lock").retain(|(c, _)| c != id);
        self.sealed.lock().expect("lock").retain(|(c, _, _)| c != id);
        let mut conversations = self.conversations.lock().expect("lock");
        let before = conversations.len();
        conversations.retain(|c| c.id != id);
        Ok(conversations.len() < before)
    }
    async fn put_sealed(&self, conversation_id: &str, message_id: &str, sealed: &str) -> Result<()> {
        let mut all = self.sealed.lock().expect("lock");
        all.retain(|(c, m, _)| !(c == conversation_id && m == message_id));
        all.push((conversation_id.to_owned(), message_id.to_owned(), sealed.to_owned()));
        Ok(())
    }
    async fn add_count(&self, counter: &str, field: &str) -> Result<()> {
        *self.counts.lock().expect("lock").entry((counter.to_owned(), field.to_owned())).or_default() += 1;
        Ok(())
    }
    async fn counts(&self, counter: &str) -> Result<Vec<(String, u64)>> {
        let counts = self.counts.lock().expect("lock");
        Ok(counts.iter().filter(|((c, _), _)| c == counter).map(|((_, f), n)| (f.clone(), *n)).collect())
    }
    async fn put_lead(&self, lead: &crate::leads::Lead) -> Result<()> {
        let mut leads = self.leads.lock().expect("lock");
        leads.retain(|l| l.id != lead.id);
        leads.push(lead.clone());
        Ok(())
    }
    async fn update_lead(&self, lead: &crate::leads::Lead) -> Result<bool> {
        let mut leads = self.leads.lock().expect("lock");
        let stored = leads.iter_mut().find(|l| l.id == lead.id);
        Ok(stored.map(|l| *l = lead.clone()).is_some())
    }
    async fn list_leads(&self, limit: usize) -> Result<Vec<crate::leads::Lead>> {
        let mut leads = self.leads.lock().expect("lock").clone();
        leads.sort_by_key(|l| std::cmp::Reverse(l.created_ms));
        leads.truncate(limit.min(crate::leads::MAX_LEADS_LISTED));
        Ok(leads)
    }
    async fn delete_leads_of_visitor(&self, visitor_id: &str) -> Result<usize> {
        let mut leads = self.leads.lock().expect("lock");
        let before = leads.len();
        leads.retain(|l| l.visitor_id != visitor_id);
        Ok(before - leads.len())
    }
    async fn list_sealed(&self, conversation_id: &str) -> Result<Vec<(String, String)>> {
        let all = self.sealed.lock().expect("lock");
        Ok(all
            .iter()
            .filter(|(c, _, _)| c == conversation_id)
            .map(|(_, m, s)| (m.clone(), s.clone()))
            .collect())
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<StoreEvent> {
        self.events.subscribe()
    }
    async fn publish(&self, event: &StoreEvent) -> Result<()> {
        // Nobody listening is not an error.
        let _ = self.events.send(event.clone());
        Ok(())
    }
    async fn try_lease(&self, name: &str, holder: &str, _ttl_ms: u64) -> Result<bool> {
        let mut leases = self.leases.lock().expect("lock");
        Ok(leases.entry(name.to_owned()).or_insert_with(|| holder.to_owned()) == holder)
    }
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

/// A conversation record in the `bot` status, for a test to create.
pub fn conversation(id: &str, visitor_id: &str) -> Conversation {
    Conversation {
        id: id.into(),
        visitor_id: visitor_id.into(),
        created_ms: 0,
        updated_ms: 0,
        status: ConversationStatus::Bot,
        assigned_agent: None,
        locale: None,
        page_url: None,
        tags: Vec::new(),
    }
}

/// The FAQ entry the doubles answer from: returns are accepted within 30 days.
pub fn returns_passage(confidence: f32) -> Passage {
    Passage {
        document_id: "returns.md".into(),
        entry_id: "returns.md#window".into(),
        title: "How long can I return items?".into(),
        body: "Returns are accepted within 30 days.".into(),
        section: vec![],
        url: None,
        score: 3.0,
        confidence,
    }
}

/// A retriever that returns the same passages for every question.
pub struct FixedRetriever(pub Vec<Passage>);

#[async_trait]
impl Retriever for FixedRetriever {
    async fn search(&self, _query: &str, k: usize) -> Result<Vec<Passage>> {
        Ok(self.0.iter().take(k).cloned().collect())
    }
    async fn entry_count(&self) -> Result<u64> {
        Ok(self.0.len() as u64)
    }
    async fn entries(&self, ids: &[String]) -> Result<Vec<Passage>> {
        Ok(ids.iter().filter_map(|id| self.0.iter().find(|p| &p.entry_id == id).cloned()).collect())
    }
}

/// A generator that writes scripted pieces, one per token, and records what it was asked and
/// how many pieces were actually taken (so a test can see the model stop).
#[derive(Default)]
pub struct ScriptedGenerator {
    /// The pieces every answer is made of.
    pub pieces: Vec<&'static str>,
    /// How many pieces a reader took, over all answers.
    pub sent: Arc<AtomicUsize>,
    /// Every request, in order.
    pub prompts: Arc<Mutex<Vec<GenerationRequest>>>,
    /// The engine's own token count and context size, where the test gives one.
    pub tokens: Option<(Arc<dyn TokenCounter>, usize)>,
}

impl ScriptedGenerator {
    /// A generator writing `pieces`.
    pub fn new(pieces: Vec<&'static str>) -> Self {
        Self { pieces, ..Self::default() }
    }
}

#[async_trait]
impl Generator for ScriptedGenerator {
    async fn generate(&self, request: GenerationRequest) -> Result<GenerationStream> {
        self.prompts.lock().expect("lock").push(request);
        let (tx, rx) = mpsc::channel(1);
        let pieces = self.pieces.clone();
        let sent = Arc::clone(&self.sent);
        tokio::spawn(async move {
            for piece in pieces {
                if tx.send(Ok(GenerationEvent::Token(piece.to_owned()))).await.is_err() {
                    return;
                }
                sent.fetch_add(1, Ordering::SeqCst);
            }
            let _ = tx.send(Ok(GenerationEvent::Finished { prompt_tokens: 99, completion_tokens: 3 })).await;
        });
        Ok(rx)
    }
    fn model_name(&self) -> &str {
        "scripted"
    }
    fn token_counter(&self) -> Option<Arc<dyn TokenCounter>> {
        self.tokens.as_ref().map(|(counter, _)| Arc::clone(counter))
    }
    fn context_tokens(&self) -> Option<usize> {
        self.tokens.as_ref().map(|(_, context)| *context)
    }
}

/// A tokenizer that spends a token per character, as a small English model does on Chinese.
pub struct PerChar;

impl TokenCounter for PerChar {
    fn count(&self, text: &str) -> usize {
        text.chars().count()
    }
}

/// A library that keeps documents in memory as they are uploaded; each counts one entry, and
/// a document whose content is `not parseable` is refused as a parser would refuse it.
#[derive(Default)]
pub struct MemoryLibrary {
    documents: Mutex<Vec<crate::documents::Document>>,
}

#[async_trait]
impl crate::documents::Library for MemoryLibrary {
    async fn list(&self) -> Result<Vec<DocumentInfo>> {
        let mut infos: Vec<_> = self.documents.lock().expect("lock").iter().map(|d| d.info.clone()).collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(infos)
    }
    async fn get(&self, id: &str) -> Result<Option<Document>> {
        Ok(self.documents.lock().expect("lock").iter().find(|d| d.info.id == id).cloned())
    }
    async fn put(&self, id: &str, content: Vec<u8>) -> Result<(DocumentInfo, bool)> {
        crate::documents::validate_document_id(id)?;
        if content == b"not parseable" {
            return Err(crate::Error::BadRequest(format!("{id}: no FAQ entries found")));
        }
        let info = DocumentInfo {
            id: id.to_owned(),
            bytes: content.len() as u64,
            entries: 1,
            sha256: String::new(),
            updated_ms: crate::now_ms(),
        };
        let mut documents = self.documents.lock().expect("lock");
        let before = documents.len();
        documents.retain(|d| d.info.id != id);
        let new = documents.len() == before;
        documents.push(Document { info: info.clone(), content });
        Ok((info, new))
    }
    async fn delete(&self, id: &str) -> Result<bool> {
        let mut documents = self.documents.lock().expect("lock");
        let before = documents.len();
        documents.retain(|d| d.info.id != id);
        Ok(documents.len() < before)
    }
    /// Appends `## question` and the answer (this double does not edit entries in place).
    async fn write_entry(
        &self,
        id: &str,
        edit: &crate::documents::EntryEdit,
    ) -> Result<(DocumentInfo, crate::documents::EntryWritten)> {
        let mut content = match self.get(id).await? {
            Some(document) => document.content,
            None if edit.create => Vec::new(),
            None => return Err(crate::Error::Conflict(format!("{id} does not exist"))),
        };
        content.extend(format!("\n## {}\n{}\n", edit.question, edit.answer).into_bytes());
        let (info, _) = self.put(id, content).await?;
        Ok((info, crate::documents::EntryWritten::Added))
    }
}
