//! The embedded backend: one redb file, crash-safe, with every write committed durably before
//! it is acknowledged. redb serialises write transactions, which is what keeps concurrent
//! appends to one conversation in one consistent order.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use frontdesk_core::documents::{Document, DocumentInfo, DocumentStore};
use frontdesk_core::model::{Conversation, Feedback, Message, Role, VisitorProfile};
use frontdesk_core::store::{
    cursor_after, AppendOutcome, ConversationPage, ConversationQuery, SessionStore, StatusChange,
    StatusOutcome, StoreEvent, EVENT_BUFFER, LIST_SCAN_LIMIT,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::broadcast;

use crate::StoreError;

/// Conversation id → conversation JSON.
const CONVERSATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("conversations");
/// (conversation id, seq) → message JSON.
const MESSAGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("messages");
/// (conversation id, client message id) → seq, so a resend is stored once.
const CLIENT_IDS: TableDefinition<(&str, &str), u64> = TableDefinition::new("client_ids");
/// (updated ms, conversation id) → (), for listing the newest conversations first.
const BY_UPDATED: TableDefinition<(i64, &str), ()> = TableDefinition::new("by_updated");
/// (visitor id, conversation id) → (), a visitor's conversations.
const BY_VISITOR: TableDefinition<(&str, &str), ()> = TableDefinition::new("by_visitor");
/// Visitor id → visitor profile JSON.
const VISITORS: TableDefinition<&str, &[u8]> = TableDefinition::new("visitors");
/// (conversation id, message id) -> sealed personal details (ciphertext, as hex).
const SEALED: TableDefinition<(&str, &str), &str> = TableDefinition::new("sealed");
/// Document id → document info JSON.
const DOCUMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("documents");
/// Document id → the document's bytes.
const DOCUMENT_CONTENT: TableDefinition<&str, &[u8]> = TableDefinition::new("document_content");
/// Counters by (counter, field).
const COUNTS: TableDefinition<(&str, &str), u64> = TableDefinition::new("counts");
/// Leads by (created ms, id), as JSON: the newest are read from the end.
const LEADS: TableDefinition<(i64, &str), &[u8]> = TableDefinition::new("leads");

/// The default store: one redb file on disk. Events go to subscribers in this process (one
/// process is the only writer of the file).
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    events: broadcast::Sender<StoreEvent>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmbeddedStore")
    }
}

/// The embedded backend's error, its cause kept.
pub(crate) fn embedded(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::Embedded(error.into())
}

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(embedded)?;
        }
        let db = Database::create(path).map_err(embedded)?;
        let txn = db.begin_write().map_err(embedded)?;
        {
            txn.open_table(CONVERSATIONS).map_err(embedded)?;
            txn.open_table(MESSAGES).map_err(embedded)?;
            txn.open_table(CLIENT_IDS).map_err(embedded)?;
            txn.open_table(BY_UPDATED).map_err(embedded)?;
            txn.open_table(DOCUMENTS).map_err(embedded)?;
            txn.open_table(DOCUMENT_CONTENT).map_err(embedded)?;
            txn.open_table(VISITORS).map_err(embedded)?;
            txn.open_table(BY_VISITOR).map_err(embedded)?;
            txn.open_table(SEALED).map_err(embedded)?;
            txn.open_table(LEADS).map_err(embedded)?;
            txn.open_table(COUNTS).map_err(embedded)?;
        }
        txn.commit().map_err(embedded)?;
        Ok(Self { db: Arc::new(db), events: broadcast::channel(EVENT_BUFFER).0 })
    }

    fn emit(&self, event: StoreEvent) {
        // No subscriber is not an error: nobody needs to see it.
        let _ = self.events.send(event);
    }

    /// Runs blocking database work on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> frontdesk_core::Result<T> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| frontdesk_core::Error::Internal(format!("store task failed: {e}")))?
            .map_err(Into::into)
    }
}

fn read_conversation(db: &Database, id: &str) -> Result<Option<Conversation>, StoreError> {
    let txn = db.begin_read().map_err(embedded)?;
    let table = txn.open_table(CONVERSATIONS).map_err(embedded)?;
    let Some(bytes) = table.get(id).map_err(embedded)? else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_slice(bytes.value())?))
}

/// Rewrites a conversation and its place in the by-updated index, inside `txn`.
fn write_conversation(
    txn: &redb::WriteTransaction,
    previous_updated_ms: Option<i64>,
    conversation: &Conversation,
) -> Result<(), StoreError> {
    let mut conversations = txn.open_table(CONVERSATIONS).map_err(embedded)?;
    conversations
        .insert(conversation.id.as_str(), serde_json::to_vec(conversation)?.as_slice())
        .map_err(embedded)?;
    let mut by_updated = txn.open_table(BY_UPDATED).map_err(embedded)?;
    if let Some(previous) = previous_updated_ms {
        by_updated.remove((previous, conversation.id.as_str())).map_err(embedded)?;
    }
    by_updated.insert((conversation.updated_ms, conversation.id.as_str()), ()).map_err(embedded)?;
    if previous_updated_ms.is_none() {
        let mut by_visitor = txn.open_table(BY_VISITOR).map_err(embedded)?;
        by_visitor
            .insert((conversation.visitor_id.as_str(), conversation.id.as_str()), ())
            .map_err(embedded)?;
    }
    Ok(())
}

/// Loads a conversation for update inside a write transaction.
fn conversation_in(txn: &redb::WriteTransaction, id: &str) -> Result<Option<Conversation>, StoreError> {
    let table = txn.open_table(CONVERSATIONS).map_err(embedded)?;
    let found = table.get(id).map_err(embedded)?;
    match found {
        Some(bytes) => Ok(Some(serde_json::from_slice(bytes.value())?)),
        None => Ok(None),
    }
}

#[async_trait]
impl SessionStore for EmbeddedStore {
    async fn create_conversation(&self, conversation: &Conversation) -> frontdesk_core::Result<()> {
        let record = conversation.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            let previous = conversation_in(&txn, &record.id)?.map(|c| c.updated_ms);
            write_conversation(&txn, previous, &record)?;
            txn.commit().map_err(embedded)
        })
        .await?;
        self.emit(StoreEvent::Status { conversation: conversation.clone() });
        Ok(())
    }

    async fn get_conversation(&self, id: &str) -> frontdesk_core::Result<Option<Conversation>> {
        let id = id.to_owned();
        self.blocking(move |db| read_conversation(db, &id)).await
    }

    async fn append_message(
        &self,
        conversation_id: &str,
        mut message: Message,
    ) -> frontdesk_core::Result<AppendOutcome> {
        let id = conversation_id.to_owned();
        let conversation_id = conversation_id.to_owned();
        let outcome = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(embedded)?;
                let Some(mut conversation) = conversation_in(&txn, &conversation_id)? else {
                    return Ok(None);
                };
                let outcome = {
                    let mut messages = txn.open_table(MESSAGES).map_err(embedded)?;
                    let mut client_ids = txn.open_table(CLIENT_IDS).map_err(embedded)?;
                    let earlier = match &message.client_message_id {
                        Some(client_id) => client_ids
                            .get((conversation_id.as_str(), client_id.as_str()))
                            .map_err(embedded)?
                            .map(|seq| seq.value()),
                        None => None,
                    };
                    if let Some(seq) = earlier {
                        let bytes = messages
                            .get((conversation_id.as_str(), seq))
                            .map_err(embedded)?
                            .ok_or_else(|| embedded("client id points at a missing message"))?;
                        Some(AppendOutcome::Duplicate(serde_json::from_slice(bytes.value())?))
                    } else {
                        let next = messages
                            .range((conversation_id.as_str(), 0)..=(conversation_id.as_str(), u64::MAX))
                            .map_err(embedded)?
                            .next_back()
                            .transpose()
                            .map_err(embedded)?
                            .map_or(0, |(key, _)| key.value().1 + 1);
                        message.seq = next;
                        messages
                            .insert(
                                (conversation_id.as_str(), next),
                                serde_json::to_vec(&message)?.as_slice(),
                            )
                            .map_err(embedded)?;
                        if let Some(client_id) = &message.client_message_id {
                            client_ids
                                .insert((conversation_id.as_str(), client_id.as_str()), next)
                                .map_err(embedded)?;
                        }
                        Some(AppendOutcome::Stored(message))
                    }
                };
                if let Some(AppendOutcome::Stored(stored)) = &outcome {
                    let previous = conversation.updated_ms;
                    conversation.updated_ms = stored.created_ms.max(previous);
                    write_conversation(&txn, Some(previous), &conversation)?;
                }
                txn.commit().map_err(embedded)?;
                Ok(outcome)
            })
            .await?;
        let outcome = outcome.ok_or_else(|| frontdesk_core::Error::NotFound("conversation".into()))?;
        if let AppendOutcome::Stored(message) = &outcome {
            self.emit(StoreEvent::Message { conversation_id: id, message: message.clone() });
        }
        Ok(outcome)
    }

    async fn list_messages(&self, conversation_id: &str) -> frontdesk_core::Result<Vec<Message>> {
        let conversation_id = conversation_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(embedded)?;
            let table = txn.open_table(MESSAGES).map_err(embedded)?;
            let mut out = Vec::new();
            for row in table
                .range((conversation_id.as_str(), 0)..=(conversation_id.as_str(), u64::MAX))
                .map_err(embedded)?
            {
                let (_, bytes) = row.map_err(embedded)?;
                out.push(serde_json::from_slice(bytes.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn set_status(
        &self,
        conversation_id: &str,
        change: &StatusChange,
    ) -> frontdesk_core::Result<StatusOutcome> {
        let conversation_id = conversation_id.to_owned();
        let change = change.clone();
        let outcome = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(embedded)?;
                let Some(mut conversation) = conversation_in(&txn, &conversation_id)? else {
                    return Ok(StatusOutcome::Missing);
                };
                if !change.allowed_from(conversation.status) {
                    return Ok(StatusOutcome::Refused(conversation));
                }
                let previous = conversation.updated_ms;
                change.apply(&mut conversation, frontdesk_core::now_ms());
                write_conversation(&txn, Some(previous), &conversation)?;
                txn.commit().map_err(embedded)?;
                Ok(StatusOutcome::Changed(conversation))
            })
            .await?;
        if let StatusOutcome::Changed(conversation) = &outcome {
            self.emit(StoreEvent::Status { conversation: conversation.clone() });
        }
        Ok(outcome)
    }

    async fn set_tags(
        &self,
        conversation_id: &str,
        tags: &[String],
    ) -> frontdesk_core::Result<Option<Conversation>> {
        let conversation_id = conversation_id.to_owned();
        let tags = tags.to_vec();
        let changed = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(embedded)?;
                let Some(mut conversation) = conversation_in(&txn, &conversation_id)? else {
                    return Ok(None);
                };
                let previous = conversation.updated_ms;
                conversation.tags = tags;
                conversation.updated_ms = frontdesk_core::now_ms().max(previous);
                write_conversation(&txn, Some(previous), &conversation)?;
                txn.commit().map_err(embedded)?;
                Ok(Some(conversation))
            })
            .await?;
        if let Some(conversation) = &changed {
            self.emit(StoreEvent::Status { conversation: conversation.clone() });
        }
        Ok(changed)
    }

    async fn set_feedback(
        &self,
        conversation_id: &str,
        message_id: &str,
        feedback: Feedback,
    ) -> frontdesk_core::Result<bool> {
        let conversation_id = conversation_id.to_owned();
        let message_id = message_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            let found = {
                let mut table = txn.open_table(MESSAGES).map_err(embedded)?;
                let mut target: Option<(u64, Message)> = None;
                for row in table
                    .range((conversation_id.as_str(), 0)..=(conversation_id.as_str(), u64::MAX))
                    .map_err(embedded)?
                {
                    let (key, bytes) = row.map_err(embedded)?;
                    let message: Message = serde_json::from_slice(bytes.value())?;
                    if message.id == message_id && message.role == Role::Assistant {
                        target = Some((key.value().1, message));
                        break;
                    }
                }
                match target {
                    Some((seq, mut message)) => {
                        message.feedback = Some(feedback);
                        table
                            .insert((conversation_id.as_str(), seq), serde_json::to_vec(&message)?.as_slice())
                            .map_err(embedded)?;
                        true
                    }
                    None => false,
                }
            };
            txn.commit().map_err(embedded)?;
            Ok(found)
        })
        .await
    }

    async fn list_conversations(
        &self,
        query: &ConversationQuery,
    ) -> frontdesk_core::Result<ConversationPage> {
        let query = query.clone();
        let cursor = query.decoded_cursor()?;
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(embedded)?;
            let index = txn.open_table(BY_UPDATED).map_err(embedded)?;
            let conversations = txn.open_table(CONVERSATIONS).map_err(embedded)?;
            let messages = txn.open_table(MESSAGES).map_err(embedded)?;
            let upper = match (&cursor, query.updated_to_ms) {
                (Some((ms, id)), _) => (*ms, id.clone()),
                // Exclusive bound: every id sorts after "".
                (None, Some(to)) => (to, String::new()),
                (None, None) => (i64::MAX, String::new()),
            };
            let page = query.page_size();
            let mut out = ConversationPage::default();
            let mut scanned = 0;
            for row in index.range(..(upper.0, upper.1.as_str())).map_err(embedded)?.rev() {
                let (key, _) = row.map_err(embedded)?;
                let (updated, id) = key.value();
                if query.updated_from_ms.is_some_and(|from| updated < from) {
                    return Ok(out);
                }
                scanned += 1;
                let Some(bytes) = conversations.get(id).map_err(embedded)? else { continue };
                let conversation: Conversation = serde_json::from_slice(bytes.value())?;
                let mut accepted = query.accepts_conversation(&conversation);
                if accepted && query.needs_messages() {
                    let mut list = Vec::new();
                    for row in messages.range((id, 0)..=(id, u64::MAX)).map_err(embedded)? {
                        let (_, bytes) = row.map_err(embedded)?;
                        list.push(serde_json::from_slice::<Message>(bytes.value())?);
                    }
                    accepted = query.accepts_messages(&list);
                }
                let reached_scan_limit = scanned >= LIST_SCAN_LIMIT;
                if accepted {
                    out.conversations.push(conversation.clone());
                }
                if out.conversations.len() == page || reached_scan_limit {
                    // There may be more: continue after this one.
                    out.next = Some(cursor_after(&conversation));
                    return Ok(out);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn put_visitor(&self, profile: &VisitorProfile) -> frontdesk_core::Result<()> {
        let mut profile = profile.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            {
                let mut visitors = txn.open_table(VISITORS).map_err(embedded)?;
                let earlier = visitors
                    .get(profile.id.as_str())
                    .map_err(embedded)?
                    .map(|bytes| serde_json::from_slice::<VisitorProfile>(bytes.value()))
                    .transpose()?;
                if let Some(earlier) = earlier {
                    profile.keep_from(&earlier);
                }
                visitors
                    .insert(profile.id.as_str(), serde_json::to_vec(&profile)?.as_slice())
                    .map_err(embedded)?;
            }
            txn.commit().map_err(embedded)
        })
        .await
    }

    async fn get_visitor(&self, id: &str) -> frontdesk_core::Result<Option<VisitorProfile>> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(embedded)?;
            let visitors = txn.open_table(VISITORS).map_err(embedded)?;
            let found = visitors.get(id.as_str()).map_err(embedded)?;
            Ok(found.map(|bytes| serde_json::from_slice(bytes.value())).transpose()?)
        })
        .await
    }

    async fn delete_visitor(&self, id: &str) -> frontdesk_core::Result<bool> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            let existed =
                txn.open_table(VISITORS).map_err(embedded)?.remove(id.as_str()).map_err(embedded)?.is_some();
            txn.commit().map_err(embedded)?;
            Ok(existed)
        })
        .await
    }

    async fn conversations_of_visitor(&self, visitor_id: &str) -> frontdesk_core::Result<Vec<Conversation>> {
        let visitor_id = visitor_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(embedded)?;
            let by_visitor = txn.open_table(BY_VISITOR).map_err(embedded)?;
            let conversations = txn.open_table(CONVERSATIONS).map_err(embedded)?;
            let mut out: Vec<Conversation> = Vec::new();
            for row in by_visitor.range((visitor_id.as_str(), "")..).map_err(embedded)? {
                let (key, _) = row.map_err(embedded)?;
                let (owner, id) = key.value();
                if owner != visitor_id {
                    break;
                }
                if let Some(bytes) = conversations.get(id).map_err(embedded)? {
                    out.push(serde_json::from_slice(bytes.value())?);
                }
            }
            out.sort_by_key(|c| std::cmp::Reverse(c.updated_ms));
            Ok(out)
        })
        .await
    }

    async fn delete_conversation(&self, id: &str) -> frontdesk_core::Result<bool> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            let Some(conversation) = conversation_in(&txn, &id)? else { return Ok(false) };
            {
                txn.open_table(CONVERSATIONS).map_err(embedded)?.remove(id.as_str()).map_err(embedded)?;
                txn.open_table(BY_UPDATED)
                    .map_err(embedded)?
                    .remove((conversation.updated_ms, id.as_str()))
                    .map_err(embedded)?;
                txn.open_table(BY_VISITOR)
                    .map_err(embedded)?
                    .remove((conversation.visitor_id.as_str(), id.as_str()))
                    .map_err(embedded)?;
                let mut messages = txn.open_table(MESSAGES).map_err(embedded)?;
                messages
                    .retain_in((id.as_str(), 0)..=(id.as_str(), u64::MAX), |_, _| false)
                    .map_err(embedded)?;
                let mut client_ids = txn.open_table(CLIENT_IDS).map_err(embedded)?;
                client_ids
                    .retain_in((id.as_str(), "")..=(id.as_str(), "\u{10ffff}"), |_, _| false)
                    .map_err(embedded)?;
                let mut sealed = txn.open_table(SEALED).map_err(embedded)?;
                sealed
                    .retain_in((id.as_str(), "")..=(id.as_str(), "\u{10ffff}"), |_, _| false)
                    .map_err(embedded)?;
            }
            txn.commit().map_err(embedded)?;
            Ok(true)
        })
        .await
    }

    async fn put_sealed(
        &self,
        conversation_id: &str,
        message_id: &str,
        sealed: &str,
    ) -> frontdesk_core::Result<()> {
        let (conversation_id, message_id, sealed) =
            (conversation_id.to_owned(), message_id.to_owned(), sealed.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            txn.open_table(SEALED)
                .map_err(embedded)?
                .insert((conversation_id.as_str(), message_id.as_str()), sealed.as_str())
                .map_err(embedded)?;
            txn.commit().map_err(embedded)?;
            Ok(())
        })
        .await
    }

    async fn add_count(&self, counter: &str, field: &str) -> frontdesk_core::Result<()> {
        let (counter, field) = (counter.to_owned(), field.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            {
                let mut table = txn.open_table(COUNTS).map_err(embedded)?;
                let key = (counter.as_str(), field.as_str());
                let now = table.get(key).map_err(embedded)?.map_or(0, |v| v.value());
                table.insert(key, now + 1).map_err(embedded)?;
            }
            txn.commit().map_err(embedded)
        })
        .await
    }

    async fn counts(&self, counter: &str) -> frontdesk_core::Result<Vec<(String, u64)>> {
        let counter = counter.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(embedded)?;
            let table = txn.open_table(COUNTS).map_err(embedded)?;
            let mut out = Vec::new();
            let range = (counter.as_str(), "")..=(counter.as_str(), "\u{10ffff}");
            for row in table.range(range).map_err(embedded)? {
                let (key, value) = row.map_err(embedded)?;
                out.push((key.value().1.to_owned(), value.value()));
            }
            Ok(out)
        })
        .await
    }

    async fn put_lead(&self, lead: &frontdesk_core::leads::Lead) -> frontdesk_core::Result<()> {
        let json = serde_json::to_vec(lead).map_err(StoreError::from)?;
        let (created, id) = (lead.created_ms, lead.id.clone());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            txn.open_table(LEADS)
                .map_err(embedded)?
                .insert((created, id.as_str()), json.as_slice())
                .map_err(embedded)?;
            txn.commit().map_err(embedded)
        })
        .await
    }

    async fn update_lead(&self, lead: &frontdesk_core::leads::Lead) -> frontdesk_core::Result<bool> {
        let json = serde_json::to_vec(lead).map_err(StoreError::from)?;
        let (created, id) = (lead.created_ms, lead.id.clone());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            let updated = {
                let mut table = txn.open_table(LEADS).map_err(embedded)?;
                let key = (created, id.as_str());
                let present = table.get(key).map_err(embedded)?.is_some();
                if present {
                    table.insert(key, json.as_slice()).map_err(embedded)?;
                }
                present
            };
            txn.commit().map_err(embedded)?;
            Ok(updated)
        })
        .await
    }

    async fn list_leads(&self, limit: usize) -> frontdesk_core::Result<Vec<frontdesk_core::leads::Lead>> {
        let limit = limit.min(frontdesk_core::leads::MAX_LEADS_LISTED);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(embedded)?;
            let table = txn.open_table(LEADS).map_err(embedded)?;
            let mut out = Vec::new();
            for row in table.iter().map_err(embedded)?.rev().take(limit) {
                let (_, value) = row.map_err(embedded)?;
                out.push(serde_json::from_slice(value.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn delete_leads_of_visitor(&self, visitor_id: &str) -> frontdesk_core::Result<usize> {
        let visitor_id = visitor_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            let deleted = {
                let mut table = txn.open_table(LEADS).map_err(embedded)?;
                let mut doomed = Vec::new();
                for row in table.iter().map_err(embedded)? {
                    let (key, value) = row.map_err(embedded)?;
                    let lead: frontdesk_core::leads::Lead = serde_json::from_slice(value.value())?;
                    if lead.visitor_id == visitor_id {
                        doomed.push((key.value().0, key.value().1.to_owned()));
                    }
                }
                for (created, id) in &doomed {
                    table.remove((*created, id.as_str())).map_err(embedded)?;
                }
                doomed.len()
            };
            txn.commit().map_err(embedded)?;
            Ok(deleted)
        })
        .await
    }

    async fn list_sealed(&self, conversation_id: &str) -> frontdesk_core::Result<Vec<(String, String)>> {
        let conversation_id = conversation_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(embedded)?;
            let table = txn.open_table(SEALED).map_err(embedded)?;
            let mut out = Vec::new();
            let range = (conversation_id.as_str(), "")..=(conversation_id.as_str(), "\u{10ffff}");
            for row in table.range(range).map_err(embedded)? {
                let (key, value) = row.map_err(embedded)?;
                out.push((key.value().1.to_owned(), value.value().to_owned()));
            }
            Ok(out)
        })
        .await
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.events.subscribe()
    }

    async fn publish(&self, event: &StoreEvent) -> frontdesk_core::Result<()> {
        self.emit(event.clone());
        Ok(())
    }

    async fn ping(&self) -> frontdesk_core::Result<()> {
        self.blocking(|db| db.begin_read().map(|_| ()).map_err(embedded)).await
    }
}

#[async_trait]
impl DocumentStore for EmbeddedStore {
    async fn put_document(&self, document: &Document) -> frontdesk_core::Result<()> {
        let document = document.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            {
                let id = document.info.id.as_str();
                let mut infos = txn.open_table(DOCUMENTS).map_err(embedded)?;
                infos.insert(id, serde_json::to_vec(&document.info)?.as_slice()).map_err(embedded)?;
                let mut contents = txn.open_table(DOCUMENT_CONTENT).map_err(embedded)?;
                contents.insert(id, document.content.as_slice()).map_err(embedded)?;
            }
            txn.commit().map_err(embedded)
        })
        .await
    }

    async fn get_document(&self, id: &str) -> frontdesk_core::Result<Option<Document>> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(embedded)?;
            let infos = txn.open_table(DOCUMENTS).map_err(embedded)?;
            let contents = txn.open_table(DOCUMENT_CONTENT).map_err(embedded)?;
            let Some(info) = infos.get(id.as_str()).map_err(embedded)? else { return Ok(None) };
            let info: DocumentInfo = serde_json::from_slice(info.value())?;
            let content =
                contents.get(id.as_str()).map_err(embedded)?.map(|c| c.value().to_vec()).unwrap_or_default();
            Ok(Some(Document { info, content }))
        })
        .await
    }

    async fn list_documents(&self) -> frontdesk_core::Result<Vec<DocumentInfo>> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(embedded)?;
            let infos = txn.open_table(DOCUMENTS).map_err(embedded)?;
            let mut out = Vec::new();
            for row in infos.iter().map_err(embedded)? {
                let (_, info) = row.map_err(embedded)?;
                out.push(serde_json::from_slice(info.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn delete_document(&self, id: &str) -> frontdesk_core::Result<bool> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            let existed = {
                let mut infos = txn.open_table(DOCUMENTS).map_err(embedded)?;
                let mut contents = txn.open_table(DOCUMENT_CONTENT).map_err(embedded)?;
                contents.remove(id.as_str()).map_err(embedded)?;
                let existed = infos.remove(id.as_str()).map_err(embedded)?.is_some();
                existed
            };
            txn.commit().map_err(embedded)?;
            Ok(existed)
        })
        .await
    }
}
