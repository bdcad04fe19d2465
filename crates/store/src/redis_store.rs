//! The Redis backend, shared by replicas.
//!
//! Keys, under a configurable prefix:
//! - `conv:{id}`: the conversation as JSON,
//! - `msgs:{id}`: a list of message JSON, in order (a message's `seq` is its list index),
//! - `cmid:{id}`: a hash from client message id to list index, so a resend is stored once,
//! - `convs`: a sorted set of conversation ids by last update, for listing.
//! - `doc:{id}`: a hash of a knowledge-base document's `info` (JSON) and `content` (bytes),
//!   and `docs`: the set of document ids,
//! - `visitor:{id}`: a visitor's profile as JSON, and `vconvs:{id}`: the set of their
//!   conversation ids,
//! - `events`: the pub/sub channel of [`StoreEvent`]s, so a message or status change written
//!   on one replica reaches the sockets of every other.
//!
//! An append is one Lua script, so the duplicate check, the push and the update time change
//! together even with many writers on several replicas.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use frontdesk_core::documents::{Document, DocumentInfo, DocumentStore};
use frontdesk_core::model::{Conversation, Feedback, Message, Role, VisitorProfile};
use frontdesk_core::store::{
    AppendOutcome, ConversationPage, ConversationQuery, SessionStore, StatusChange, StatusOutcome,
    StoreEvent, EVENT_BUFFER, LIST_SCAN_LIMIT,
};
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use tokio::sync::broadcast;
use tokio_util::sync::{CancellationToken, DropGuard};

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
    set_tags_script: redis::Script,
    lease_script: redis::Script,
    events: broadcast::Sender<StoreEvent>,
    /// Stops the subscriber task when the last clone of the store is dropped.
    _subscriber: Arc<DropGuard>,
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

/// KEYS: conv, convs. ARGV: status, agent ('' for none), now ms, conv id, allowed current
/// statuses separated by commas ('' for any).
/// Changes the status in place, so two replicas changing one conversation do not overwrite
/// each other's fields, and checks the current status in the same step, so of two agents
/// taking over one conversation only the first succeeds.
/// Returns {0, ''} when the conversation does not exist, {1, json} when changed and
/// {2, json} when refused, json being the conversation as it is.
const SET_STATUS_SCRIPT: &str = r"
local json = redis.call('GET', KEYS[1])
if not json then return {0, ''} end
local conversation = cjson.decode(json)
local score = redis.call('ZSCORE', KEYS[2], ARGV[4])
if score and tonumber(score) > tonumber(conversation['updated_ms']) then
  conversation['updated_ms'] = tonumber(score)
end
if ARGV[5] ~= '' and not string.find(',' .. ARGV[5] .. ',', ',' .. conversation['status'] .. ',', 1, true) then
  return {2, cjson.encode(conversation)}
end
conversation['status'] = ARGV[1]
if ARGV[2] ~= '' then
  conversation['assigned_agent'] = ARGV[2]
elseif ARGV[1] == 'bot' then
  conversation['assigned_agent'] = cjson.null
end
local now = tonumber(ARGV[3])
if now > tonumber(conversation['updated_ms']) then conversation['updated_ms'] = now end
local encoded = cjson.encode(conversation)
redis.call('SET', KEYS[1], encoded)
redis.call('ZADD', KEYS[2], conversation['updated_ms'], ARGV[4])
return {1, encoded}
";

/// KEYS: lease. ARGV: holder, ttl ms. Takes the lease when nobody holds it, renews it when the
/// holder does; 1 when the holder holds it now, else 0.
const LEASE_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// KEYS: conv, convs. ARGV: tags as a JSON array, now ms, conv id. Replaces the tags in place
/// (other fields untouched). Returns the conversation's JSON, or '' when it does not exist.
const SET_TAGS_SCRIPT: &str = r"
local json = redis.call('GET', KEYS[1])
if not json then return '' end
local conversation = cjson.decode(json)
local tags = cjson.decode(ARGV[1])
if #tags == 0 then conversation['tags'] = nil else conversation['tags'] = tags end
local score = redis.call('ZSCORE', KEYS[2], ARGV[3])
local now = tonumber(ARGV[2])
if score and tonumber(score) > now then now = tonumber(score) end
if now > tonumber(conversation['updated_ms']) then conversation['updated_ms'] = now end
local encoded = cjson.encode(conversation)
redis.call('SET', KEYS[1], encoded)
redis.call('ZADD', KEYS[2], conversation['updated_ms'], ARGV[3])
return encoded
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
        .map_err(|_| StoreError::Timeout("connecting to redis"))??;
        let events = broadcast::channel(EVENT_BUFFER).0;
        let stop = CancellationToken::new();
        let channel = format!("{}events", config.key_prefix);
        let (subscribed, ready) = tokio::sync::oneshot::channel();
        tokio::spawn(relay_events(client, channel, events.clone(), stop.clone(), subscribed));
        // Wait for the subscription, so events written right after connecting are not missed.
        if tokio::time::timeout(config.timeout, ready).await.is_err() {
            tracing::warn!("store event relay did not subscribe in time; continuing");
        }
        Ok(Self {
            connection,
            prefix: config.key_prefix.clone(),
            append_script: redis::Script::new(APPEND_SCRIPT),
            set_status_script: redis::Script::new(SET_STATUS_SCRIPT),
            set_tags_script: redis::Script::new(SET_TAGS_SCRIPT),
            lease_script: redis::Script::new(LEASE_SCRIPT),
            events,
            _subscriber: Arc::new(stop.drop_guard()),
        })
    }

    fn events_channel(&self) -> String {
        format!("{}events", self.prefix)
    }

    /// Publishes an event on the shared channel; every replica's relay (this one's included)
    /// hands it to its subscribers. A failure is logged, not returned: the write it announces
    /// is already stored, and clients reload what they show when they reconnect.
    async fn announce(&self, event: &StoreEvent) {
        if let Err(error) = self.try_announce(event).await {
            tracing::warn!(%error, "could not publish a store event");
        }
    }

    async fn try_announce(&self, event: &StoreEvent) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let payload = serde_json::to_string(event)?;
        connection.publish::<_, _, ()>(self.events_channel(), payload).await?;
        Ok(())
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
        let json = json.ok_or_else(|| StoreError::Inconsistent("message index out of range"))?;
        let mut message: Message = serde_json::from_str(&json)?;
        message.seq = u64::try_from(index).unwrap_or_default();
        Ok(message)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create_conversation(&self, conversation: &Conversation) -> frontdesk_core::Result<()> {
        self.save_conversation(conversation).await?;
        let mut connection = self.connection.clone();
        connection
            .sadd::<_, _, ()>(self.key("vconvs", &conversation.visitor_id), &conversation.id)
            .await
            .map_err(StoreError::from)?;
        self.announce(&StoreEvent::Status { conversation: conversation.clone() }).await;
        Ok(())
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
                self.announce(&StoreEvent::Message {
                    conversation_id: conversation_id.to_owned(),
                    message: stored.clone(),
                })
                .await;
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
        change: &StatusChange,
    ) -> frontdesk_core::Result<StatusOutcome> {
        let mut connection = self.connection.clone();
        let allowed: Vec<&str> = change.only_from.iter().map(|s| s.as_str()).collect();
        let (code, json): (i64, String) = self
            .set_status_script
            .key(self.key("conv", conversation_id))
            .key(self.index_key())
            .arg(change.status.as_str())
            .arg(change.agent.as_deref().unwrap_or(""))
            .arg(frontdesk_core::now_ms())
            .arg(conversation_id)
            .arg(allowed.join(","))
            .invoke_async(&mut connection)
            .await
            .map_err(StoreError::from)?;
        if code == 0 {
            return Ok(StatusOutcome::Missing);
        }
        let conversation: Conversation = serde_json::from_str(&json).map_err(StoreError::from)?;
        if code == 2 {
            return Ok(StatusOutcome::Refused(conversation));
        }
        self.announce(&StoreEvent::Status { conversation: conversation.clone() }).await;
        Ok(StatusOutcome::Changed(conversation))
    }

    async fn set_tags(
        &self,
        conversation_id: &str,
        tags: &[String],
    ) -> frontdesk_core::Result<Option<Conversation>> {
        let mut connection = self.connection.clone();
        let json: String = self
            .set_tags_script
            .key(self.key("conv", conversation_id))
            .key(self.index_key())
            .arg(serde_json::to_string(tags).map_err(StoreError::from)?)
            .arg(frontdesk_core::now_ms())
            .arg(conversation_id)
            .invoke_async(&mut connection)
            .await
            .map_err(StoreError::from)?;
        if json.is_empty() {
            return Ok(None);
        }
        let conversation: Conversation = serde_json::from_str(&json).map_err(StoreError::from)?;
        self.announce(&StoreEvent::Status { conversation: conversation.clone() }).await;
        Ok(Some(conversation))
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

    async fn list_conversations(
        &self,
        query: &ConversationQuery,
    ) -> frontdesk_core::Result<ConversationPage> {
        const BATCH: isize = 100;
        let cursor = query.decoded_cursor()?;
        let page = query.page_size();
        // Scores are update times; the cursor's own time is included and its ids up to the
        // cursor's skipped, since several conversations may share one millisecond.
        let max = match (&cursor, query.updated_to_ms) {
            (Some((ms, _)), _) => format!("{ms}"),
            (None, Some(to)) => format!("({to}"),
            (None, None) => "+inf".to_owned(),
        };
        let min = query.updated_from_ms.map_or_else(|| "-inf".to_owned(), |from| format!("{from}"));
        let mut out = ConversationPage::default();
        let mut scanned = 0;
        let mut offset: isize = 0;
        loop {
            let mut connection = self.connection.clone();
            let rows: Vec<(String, f64)> = connection
                .zrevrangebyscore_limit_withscores(self.index_key(), &max, &min, offset, BATCH)
                .await
                .map_err(StoreError::from)?;
            let batch_len = rows.len();
            for (id, score) in rows {
                #[allow(clippy::cast_possible_truncation)]
                let score = score as i64;
                if let Some((ms, after)) = &cursor {
                    // Same millisecond as the cursor: ids sort descending, skip those not after it.
                    if score == *ms && id.as_str() >= after.as_str() {
                        continue;
                    }
                }
                scanned += 1;
                let Some(conversation) = self.load_conversation(&id).await? else { continue };
                let mut accepted = query.accepts_conversation(&conversation);
                if accepted && query.needs_messages() {
                    accepted = query.accepts_messages(&self.list_messages(&id).await?);
                }
                if accepted {
                    out.conversations.push(conversation.clone());
                }
                if out.conversations.len() == page || scanned >= LIST_SCAN_LIMIT {
                    out.next = Some(format!("{score}:{id}"));
                    return Ok(out);
                }
            }
            if batch_len < BATCH as usize {
                return Ok(out);
            }
            offset += BATCH;
        }
    }

    async fn put_visitor(&self, profile: &VisitorProfile) -> frontdesk_core::Result<()> {
        let mut profile = profile.clone();
        if let Some(earlier) = self.get_visitor(&profile.id).await? {
            profile.keep_from(&earlier);
        }
        let mut connection = self.connection.clone();
        let json = serde_json::to_string(&profile).map_err(StoreError::from)?;
        connection.set::<_, _, ()>(self.key("visitor", &profile.id), json).await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn get_visitor(&self, id: &str) -> frontdesk_core::Result<Option<VisitorProfile>> {
        let mut connection = self.connection.clone();
        let json: Option<String> = connection.get(self.key("visitor", id)).await.map_err(StoreError::from)?;
        Ok(json.map(|json| serde_json::from_str(&json)).transpose().map_err(StoreError::from)?)
    }

    async fn delete_visitor(&self, id: &str) -> frontdesk_core::Result<bool> {
        let mut connection = self.connection.clone();
        let deleted: i64 = connection.del(self.key("visitor", id)).await.map_err(StoreError::from)?;
        Ok(deleted > 0)
    }

    async fn conversations_of_visitor(&self, visitor_id: &str) -> frontdesk_core::Result<Vec<Conversation>> {
        let mut connection = self.connection.clone();
        let ids: Vec<String> =
            connection.smembers(self.key("vconvs", visitor_id)).await.map_err(StoreError::from)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(conversation) = self.load_conversation(&id).await? {
                out.push(conversation);
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.updated_ms));
        Ok(out)
    }

    async fn delete_conversation(&self, id: &str) -> frontdesk_core::Result<bool> {
        let Some(conversation) = self.load_conversation(id).await? else { return Ok(false) };
        let mut connection = self.connection.clone();
        redis::pipe()
            .atomic()
            .del(self.key("conv", id))
            .del(self.key("msgs", id))
            .del(self.key("cmid", id))
            .del(self.key("sealed", id))
            .zrem(self.index_key(), id)
            .srem(self.key("vconvs", &conversation.visitor_id), id)
            .query_async::<()>(&mut connection)
            .await
            .map_err(StoreError::from)?;
        Ok(true)
    }

    async fn put_sealed(
        &self,
        conversation_id: &str,
        message_id: &str,
        sealed: &str,
    ) -> frontdesk_core::Result<()> {
        let mut connection = self.connection.clone();
        connection
            .hset::<_, _, _, ()>(self.key("sealed", conversation_id), message_id, sealed)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn add_count(&self, counter: &str, field: &str) -> frontdesk_core::Result<()> {
        let mut connection = self.connection.clone();
        connection
            .hincr::<_, _, _, ()>(self.key("count", counter), field, 1)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn counts(&self, counter: &str) -> frontdesk_core::Result<Vec<(String, u64)>> {
        let mut connection = self.connection.clone();
        let all: Vec<(String, u64)> =
            connection.hgetall(self.key("count", counter)).await.map_err(StoreError::from)?;
        Ok(all)
    }

    async fn put_lead(&self, lead: &frontdesk_core::leads::Lead) -> frontdesk_core::Result<()> {
        let json = serde_json::to_string(lead).map_err(StoreError::from)?;
        let mut connection = self.connection.clone();
        redis::pipe()
            .atomic()
            .set(self.key("lead", &lead.id), json)
            .zadd(self.key("leads", "all"), &lead.id, lead.created_ms)
            .sadd(self.key("vleads", &lead.visitor_id), &lead.id)
            .query_async::<()>(&mut connection)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn update_lead(&self, lead: &frontdesk_core::leads::Lead) -> frontdesk_core::Result<bool> {
        let json = serde_json::to_string(lead).map_err(StoreError::from)?;
        let mut connection = self.connection.clone();
        // SET ... XX: only over a lead still stored.
        let written: Option<String> = redis::cmd("SET")
            .arg(self.key("lead", &lead.id))
            .arg(json)
            .arg("XX")
            .query_async(&mut connection)
            .await
            .map_err(StoreError::from)?;
        Ok(written.is_some())
    }

    async fn list_leads(&self, limit: usize) -> frontdesk_core::Result<Vec<frontdesk_core::leads::Lead>> {
        let limit = limit.min(frontdesk_core::leads::MAX_LEADS_LISTED);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        let ids: Vec<String> = connection
            .zrevrange(self.key("leads", "all"), 0, limit as isize - 1)
            .await
            .map_err(StoreError::from)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key("lead", id)).collect();
        let values: Vec<Option<String>> = connection.mget(keys).await.map_err(StoreError::from)?;
        values
            .into_iter()
            .flatten()
            .map(|json| serde_json::from_str(&json).map_err(|e| StoreError::from(e).into()))
            .collect()
    }

    async fn delete_leads_of_visitor(&self, visitor_id: &str) -> frontdesk_core::Result<usize> {
        let mut connection = self.connection.clone();
        let ids: Vec<String> =
            connection.smembers(self.key("vleads", visitor_id)).await.map_err(StoreError::from)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in &ids {
            pipe.del(self.key("lead", id)).zrem(self.key("leads", "all"), id);
        }
        pipe.del(self.key("vleads", visitor_id));
        pipe.query_async::<()>(&mut connection).await.map_err(StoreError::from)?;
        Ok(ids.len())
    }

    async fn list_sealed(&self, conversation_id: &str) -> frontdesk_core::Result<Vec<(String, String)>> {
        let mut connection = self.connection.clone();
        let all: Vec<(String, String)> =
            connection.hgetall(self.key("sealed", conversation_id)).await.map_err(StoreError::from)?;
        Ok(all)
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.events.subscribe()
    }

    async fn publish(&self, event: &StoreEvent) -> frontdesk_core::Result<()> {
        Ok(self.try_announce(event).await?)
    }

    async fn ping(&self) -> frontdesk_core::Result<()> {
        let mut connection = self.connection.clone();
        redis::cmd("PING").query_async::<String>(&mut connection).await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> frontdesk_core::Result<bool> {
        let mut connection = self.connection.clone();
        let held: i64 = self
            .lease_script
            .key(format!("{}lease:{name}", self.prefix))
            .arg(holder)
            .arg(ttl_ms.max(1))
            .invoke_async(&mut connection)
            .await
            .map_err(StoreError::from)?;
        Ok(held == 1)
    }

    async fn shared_token_secret(&self, candidate: &str) -> frontdesk_core::Result<String> {
        let mut connection = self.connection.clone();
        let key = format!("{}token_secret", self.prefix);
        // SET NX then GET: the first replica's candidate wins, every other one reads it.
        let (secret,): (String,) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(candidate)
            .arg("NX")
            .ignore()
            .get(&key)
            .query_async(&mut connection)
            .await
            .map_err(StoreError::from)?;
        Ok(secret)
    }
}

#[async_trait]
impl DocumentStore for RedisStore {
    async fn put_document(&self, document: &Document) -> frontdesk_core::Result<()> {
        let mut connection = self.connection.clone();
        let info = serde_json::to_string(&document.info).map_err(StoreError::from)?;
        redis::pipe()
            .atomic()
            .hset(self.key("doc", &document.info.id), "info", info)
            .hset(self.key("doc", &document.info.id), "content", document.content.as_slice())
            .sadd(format!("{}docs", self.prefix), &document.info.id)
            .query_async::<()>(&mut connection)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn get_document(&self, id: &str) -> frontdesk_core::Result<Option<Document>> {
        let mut connection = self.connection.clone();
        let (info, content): (Option<String>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(self.key("doc", id))
            .arg("info")
            .arg("content")
            .query_async(&mut connection)
            .await
            .map_err(StoreError::from)?;
        let Some(info) = info else { return Ok(None) };
        let info: DocumentInfo = serde_json::from_str(&info).map_err(StoreError::from)?;
        Ok(Some(Document { info, content: content.unwrap_or_default() }))
    }

    async fn list_documents(&self) -> frontdesk_core::Result<Vec<DocumentInfo>> {
        let mut connection = self.connection.clone();
        let mut ids: Vec<String> =
            connection.smembers(format!("{}docs", self.prefix)).await.map_err(StoreError::from)?;
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let info: Option<String> =
                connection.hget(self.key("doc", &id), "info").await.map_err(StoreError::from)?;
            if let Some(info) = info {
                out.push(serde_json::from_str(&info).map_err(StoreError::from)?);
            }
        }
        Ok(out)
    }

    async fn delete_document(&self, id: &str) -> frontdesk_core::Result<bool> {
        let mut connection = self.connection.clone();
        let (deleted, _): (i64, i64) = redis::pipe()
            .atomic()
            .del(self.key("doc", id))
            .srem(format!("{}docs", self.prefix), id)
            .query_async(&mut connection)
            .await
            .map_err(StoreError::from)?;
        Ok(deleted > 0)
    }
}

/// Relays the shared event channel to this process's subscribers until `stop` is cancelled,
/// reconnecting with a growing delay (up to five seconds) while Redis is unreachable.
async fn relay_events(
    client: redis::Client,
    channel: String,
    events: broadcast::Sender<StoreEvent>,
    stop: CancellationToken,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut delay = Duration::from_millis(100);
    let mut subscribed = Some(subscribed);
    loop {
        let relay = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            delay = Duration::from_millis(100);
            if let Some(subscribed) = subscribed.take() {
                let _ = subscribed.send(());
            }
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                let payload: String = message.get_payload()?;
                match serde_json::from_str::<StoreEvent>(&payload) {
                    Ok(event) => {
                        let _ = events.send(event);
                    }
                    Err(error) => tracing::warn!(%error, "ignoring a malformed store event"),
                }
            }
            Ok::<_, redis::RedisError>(())
        };
        tokio::select! {
            result = relay => {
                if let Err(error) = result {
                    tracing::warn!(%error, "store event relay lost redis; reconnecting");
                }
            }
            () = stop.cancelled() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
