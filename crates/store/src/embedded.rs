//! The embedded backend: one redb file, crash-safe, with every write committed durably before
//! it is acknowledged. redb serialises write transactions, which is what keeps concurrent
//! appends to one conversation in one consistent order.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use frontdesk_core::model::{Conversation, ConversationStatus, Feedback, Message, Role};
use frontdesk_core::store::{AppendOutcome, SessionStore};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::StoreError;

/// Conversation id → conversation JSON.
const CONVERSATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("conversations");
/// (conversation id, seq) → message JSON.
const MESSAGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("messages");
/// (conversation id, client message id) → seq, so a resend is stored once.
const CLIENT_IDS: TableDefinition<(&str, &str), u64> = TableDefinition::new("client_ids");
/// (updated ms, conversation id) → (), for listing the newest conversations first.
const BY_UPDATED: TableDefinition<(i64, &str), ()> = TableDefinition::new("by_updated");

/// The default store: one redb file on disk.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmbeddedStore")
    }
}

fn embedded(error: impl std::fmt::Display) -> StoreError {
    StoreError::Embedded(error.to_string())
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
        }
        txn.commit().map_err(embedded)?;
        Ok(Self { db: Arc::new(db) })
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
        let conversation = conversation.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            let previous = conversation_in(&txn, &conversation.id)?.map(|c| c.updated_ms);
            write_conversation(&txn, previous, &conversation)?;
            txn.commit().map_err(embedded)
        })
        .await
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
        outcome.ok_or_else(|| frontdesk_core::Error::NotFound("conversation".into()))
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
        status: ConversationStatus,
        agent: Option<&str>,
    ) -> frontdesk_core::Result<bool> {
        let conversation_id = conversation_id.to_owned();
        let agent = agent.map(str::to_owned);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(embedded)?;
            let Some(mut conversation) = conversation_in(&txn, &conversation_id)? else {
                return Ok(false);
            };
            let previous = conversation.updated_ms;
            conversation.status = status;
            if agent.is_some() || status == ConversationStatus::Bot {
                conversation.assigned_agent = agent;
            }
            conversation.updated_ms = frontdesk_core::now_ms().max(previous);
            write_conversation(&txn, Some(previous), &conversation)?;
            txn.commit().map_err(embedded)?;
            Ok(true)
        })
        .await
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

    async fn list_conversations(&self, limit: usize) -> frontdesk_core::Result<Vec<Conversation>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(embedded)?;
            let index = txn.open_table(BY_UPDATED).map_err(embedded)?;
            let conversations = txn.open_table(CONVERSATIONS).map_err(embedded)?;
            let mut out = Vec::new();
            for row in index.iter().map_err(embedded)?.rev().take(limit) {
                let (key, _) = row.map_err(embedded)?;
                if let Some(bytes) = conversations.get(key.value().1).map_err(embedded)? {
                    out.push(serde_json::from_slice(bytes.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn ping(&self) -> frontdesk_core::Result<()> {
        self.blocking(|db| db.begin_read().map(|_| ()).map_err(embedded)).await
    }
}
