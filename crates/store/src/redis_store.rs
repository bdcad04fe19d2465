//! The Redis backend, shared by replicas.
//!
//! Keys, under a configurable prefix:
//! - `conv:{id}`: the conversation as JSON,
//! - `msgs:{id}`: a list of message JSON, in order (a message's `seq` is its list index),
//! - `cmid:{id}`: a hash from client message id to list index, so a resend is stored once,
//! - `convs`: a sorted set of conversation ids by last update, for listing.
//!
//! An append is one Lua script, so the duplicate check, the push and the update time change
//! together even with many writers on several replicas.

use std::time::Duration;

use async_trait::async_trait;
use frontdesk_core::model::{Conversation, ConversationStatus, Feedback, Message, Role};
use frontdesk_core::store::{AppendOutcome, SessionStore};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

use crate::StoreError;

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisStoreConfig {
    /// `redis://` or `rediss://` URL.
    pub url: String,
    /// Prefix of every key, so several deployments (or tests) can share one Redis.
    pub key_prefix: String,
    /// Longest wait for one command before it fails.
    pub timeout: Duration,
}

impl RedisStoreConfig {
    /// Defaults: prefix `frontdesk:`, two-second timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), key_prefix: "frontdesk:".into(), timeout: Duration::from_secs(2) }
    }
}

/// Conversations and messages in Redis.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    append_script: redis::Script,
    set_status_script: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// KEYS: msgs, cmid, conv, convs. ARGV: client id ('' for none), message JSON, now ms, conv id.
/// Returns {1, index} when stored, {0, index} for a duplicate, {-1, 0} for a missing conversation.
const APPEND_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[3]) == 0 then return {-1, 0} end
if ARGV[1] ~= '' then
  local earlier = redis.call('HGET', KEYS[2], ARGV[1])
  if earlier then return {0, tonumber(earlier)} end
end
local index = redis.call('RPUSH', KEYS[1], ARGV[2]) - 1
if ARGV[1] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], index) end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
return {1, index}
";

/// KEYS: conv, convs. ARGV: status, agent ('' for none), now ms, conv id.
/// Changes the status in place, so two replicas changing one conversation do not overwrite
/// each other's fields. Returns 0 when the conversation does not exist.
const SET_STATUS_SCRIPT: &str = r"
local json = redis.call('GET', KEYS[1])
if not json then return 0 end
local conversation = cjson.decode(json)
conversation['status'] = ARGV[1]
if ARGV[2] ~= '' then
  conversation['assigned_agent'] = ARGV[2]
elseif ARGV[1] == 'bot' then
  conversation['assigned_agent'] = cjson.null
end
local now = tonumber(ARGV[3])
if now > tonumber(conversation['updated_ms']) then conversation['updated_ms'] = now end
redis.call('SET', KEYS[1], cjson.encode(conversation))
redis.call('ZADD', KEYS[2], conversation['updated_ms'], ARGV[4])
return 1
";

impl RedisStore {
    /// Connects to Redis. Fails fast when it cannot be reached; once connected, the connection
    /// is re-established by itself after Redis restarts.
    pub async fn connect(config: &RedisStoreConfig) -> Result<Self, StoreError> {
        let client = redis::Client::open(config.url.as_str())?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let connection = tokio::time::timeout(
            config.timeout * 2,
            client.get_connection_manager_with_config(manager_config),
        )
        .await
        .map_err(|_| StoreError::Embedded("timed out connecting to redis".into()))??;
        Ok(Self {
            connection,
            prefix: config.key_prefix.clone(),
            append_script: redis::Script::new(APPEND_SCRIPT),
            set_status_script: redis::Script::new(SET_STATUS_SCRIPT),
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn index_key(&self) -> String {
        format!("{}convs", self.prefix)
    }

    async fn load_conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        let mut connection = self.connection.clone();
        let (json, updated): (Option<String>, Option<f64>) = redis::pipe()
            .get(self.key("conv", id))
            .zscore(self.index_key(), id)
            .query_async(&mut connection)
            .await?;
        let Some(json) = json else { return Ok(None) };
        let mut conversation: Conversation = serde_json::from_str(&json)?;
        if let Some(updated) = updated {
            // The sorted set holds the newest update time; appends do not rewrite the JSON.
            #[allow(clippy::cast_possible_truncation)]
            let updated = updated as i64;
            conversation.updated_ms = conversation.updated_ms.max(updated);
        }
        Ok(Some(conversation))
    }

    async fn save_conversation(&self, conversation: &Conversation) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        redis::pipe()
            .atomic()
            .set(self.key("conv", &conversation.id), serde_json::to_string(conversation)?)
            .zadd(self.index_key(), &conversation.id, conversation.updated_ms)
            .query_async::<()>(&mut connection)
            .await?;
        Ok(())
    }

    async fn message_at(&self, conversation_id: &str, index: i64) -> Result<Message, StoreError> {
        let mut connection = self.connection.clone();
        let json: Option<String> =
            connection.lindex(self.key("msgs", conversation_id), index as isize).await?;
        let json = json.ok_or_else(|| StoreError::Embedded("message index out of range".into()))?;
        let mut message: Message = serde_json::from_str(&json)?;
        message.seq = u64::try_from(index).unwrap_or_default();
        Ok(message)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create_conversation(&self, conversation: &Conversation) -> frontdesk_core::Result<()> {
        Ok(self.save_conversation(conversation).await?)
    }

    async fn get_conversation(&self, id: &str) -> frontdesk_core::Result<Option<Conversation>> {
        Ok(self.load_conversation(id).await?)
    }

    async fn append_message(
        &self,
        conversation_id: &str,
        message: Message,
    ) -> frontdesk_core::Result<AppendOutcome> {
        let mut connection = self.connection.clone();
        let json = serde_json::to_string(&message).map_err(StoreError::from)?;
        let (status, index): (i64, i64) = self
            .append_script
            .key(self.key("msgs", conversation_id))
            .key(self.key("cmid", conversation_id))
            .key(self.key("conv", conversation_id))
            .key(self.index_key())
            .arg(message.client_message_id.as_deref().unwrap_or(""))
            .arg(json)
            .arg(message.created_ms)
            .arg(conversation_id)
            .invoke_async(&mut connection)
            .await
            .map_err(StoreError::from)?;
        match status {
            1 => {
                let mut stored = message;
                stored.seq = u64::try_from(index).unwrap_or_default();
                Ok(AppendOutcome::Stored(stored))
            }
            0 => Ok(AppendOutcome::Duplicate(self.message_at(conversation_id, index).await?)),
            _ => Err(frontdesk_core::Error::NotFound("conversation".into())),
        }
    }

    async fn list_messages(&self, conversation_id: &str) -> frontdesk_core::Result<Vec<Message>> {
        let mut connection = self.connection.clone();
        let rows: Vec<String> =
            connection.lrange(self.key("msgs", conversation_id), 0, -1).await.map_err(StoreError::from)?;
        rows.iter()
            .enumerate()
            .map(|(index, json)| {
                let mut message: Message = serde_json::from_str(json).map_err(StoreError::from)?;
                message.seq = index as u64;
                Ok(message)
            })
            .collect()
    }

    async fn set_status(
        &self,
        conversation_id: &str,
        status: ConversationStatus,
        agent: Option<&str>,
    ) -> frontdesk_core::Result<bool> {
        let mut connection = self.connection.clone();
        let changed: i64 = self
            .set_status_script
            .key(self.key("conv", conversation_id))
            .key(self.index_key())
            .arg(status.as_str())
            .arg(agent.unwrap_or(""))
            .arg(frontdesk_core::now_ms())
            .arg(conversation_id)
            .invoke_async(&mut connection)
            .await
            .map_err(StoreError::from)?;
        Ok(changed == 1)
    }

    async fn set_feedback(
        &self,
        conversation_id: &str,
        message_id: &str,
        feedback: Feedback,
    ) -> frontdesk_core::Result<bool> {
        let messages = self.list_messages(conversation_id).await?;
        let Some(mut message) =
            messages.into_iter().find(|m| m.id == message_id && m.role == Role::Assistant)
        else {
            return Ok(false);
        };
        let index = message.seq as isize;
        message.feedback = Some(feedback);
        let mut connection = self.connection.clone();
        connection
            .lset::<_, _, ()>(
                self.key("msgs", conversation_id),
                index,
                serde_json::to_string(&message).map_err(StoreError::from)?,
            )
            .await
            .map_err(StoreError::from)?;
        Ok(true)
    }

    async fn list_conversations(&self, limit: usize) -> frontdesk_core::Result<Vec<Conversation>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        let ids: Vec<String> =
            connection.zrevrange(self.index_key(), 0, limit as isize - 1).await.map_err(StoreError::from)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(conversation) = self.load_conversation(&id).await? {
                out.push(conversation);
            }
        }
        Ok(out)
    }

    async fn ping(&self) -> frontdesk_core::Result<()> {
        let mut connection = self.connection.clone();
        redis::cmd("PING").query_async::<String>(&mut connection).await.map_err(StoreError::from)?;
        Ok(())
    }
}
