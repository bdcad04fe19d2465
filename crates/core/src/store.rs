//! The [`SessionStore`] trait: where conversations and their messages live, and the events
//! other replicas must see.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::model::{Conversation, ConversationStatus, Feedback, FeedbackValue, Message, VisitorProfile};
use crate::{Error, Result};

/// What happened to a message handed to [`SessionStore::append_message`].
#[derive(Debug, Clone, PartialEq)]
pub enum AppendOutcome {
    /// Stored now, with its position assigned.
    Stored(Message),
    /// A message with the same client id was already stored; this is that message.
    Duplicate(Message),
}

impl AppendOutcome {
    /// The stored message, whichever way it got there.
    pub fn message(&self) -> &Message {
        match self {
            Self::Stored(message) | Self::Duplicate(message) => message,
        }
    }
}

/// A change of who handles a conversation, optionally only from some statuses (so two agents
/// taking over the same conversation at once cannot both succeed).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    /// The new status.
    pub status: ConversationStatus,
    /// The agent now handling it; `None` keeps the assigned agent, except that moving to `bot`
    /// clears it.
    pub agent: Option<String>,
    /// The statuses the change is allowed from; empty allows any.
    pub only_from: Vec<ConversationStatus>,
}

impl StatusChange {
    /// A change to `status`, from any status, with no agent named.
    pub fn to(status: ConversationStatus) -> Self {
        Self { status, agent: None, only_from: Vec::new() }
    }

    /// Names the agent now handling the conversation.
    #[must_use]
    pub fn by(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// Allows the change only from these statuses.
    #[must_use]
    pub fn only_from(mut self, statuses: &[ConversationStatus]) -> Self {
        self.only_from = statuses.to_vec();
        self
    }

    /// Whether the change may apply to a conversation in `current`.
    pub fn allowed_from(&self, current: ConversationStatus) -> bool {
        self.only_from.is_empty() || self.only_from.contains(&current)
    }

    /// Applies the change to a conversation record at time `now_ms`.
    pub fn apply(&self, conversation: &mut Conversation, now_ms: i64) {
        conversation.status = self.status;
        if self.agent.is_some() {
            conversation.assigned_agent.clone_from(&self.agent);
        } else if self.status == ConversationStatus::Bot {
            conversation.assigned_agent = None;
        }
        conversation.updated_ms = conversation.updated_ms.max(now_ms);
    }
}

/// What [`SessionStore::set_status`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusOutcome {
    /// Changed; the conversation as it is now.
    Changed(Conversation),
    /// Not changed because its status is not one the change allows; the conversation as it is.
    Refused(Conversation),
    /// There is no such conversation.
    Missing,
}

impl StatusOutcome {
    /// Whether the status changed.
    pub fn changed(&self) -> bool {
        matches!(self, Self::Changed(_))
    }

    /// The conversation as it is now, if it exists.
    pub fn into_conversation(self) -> Option<Conversation> {
        match self {
            Self::Changed(conversation) | Self::Refused(conversation) => Some(conversation),
            Self::Missing => None,
        }
    }
}

/// Something other replicas (and other sockets on this one) must see. The store publishes
/// message and status events itself when they are written; other events are published with
/// [`SessionStore::publish`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoreEvent {
    /// A message was stored in a conversation.
    Message {
        /// The conversation.
        conversation_id: String,
        /// The stored message, with its position.
        message: Message,
    },
    /// A conversation changed status (or was created, as `bot`).
    Status {
        /// The conversation as it is after the change.
        conversation: Conversation,
    },
    /// A knowledge-base document was added, replaced or deleted.
    Document {
        /// The document's id.
        document_id: String,
    },
}

impl StoreEvent {
    /// The conversation the event is about, if any.
    pub fn conversation_id(&self) -> Option<&str> {
        match self {
            Self::Message { conversation_id, .. } => Some(conversation_id),
            Self::Status { conversation } => Some(&conversation.id),
            Self::Document { .. } => None,
        }
    }
}

/// How many events a subscriber may fall behind before it misses some (it is then told it
/// lagged and should reload what it shows).
pub const EVENT_BUFFER: usize = 1_024;

/// Filters and paging for [`SessionStore::list_conversations`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationQuery {
    /// Only conversations in this status.
    pub status: Option<ConversationStatus>,
    /// Only conversations last updated at or after this time (ms since the epoch).
    pub updated_from_ms: Option<i64>,
    /// Only conversations last updated before this time.
    pub updated_to_ms: Option<i64>,
    /// Only conversations with a message containing this text (case-insensitive).
    pub text: Option<String>,
    /// Only conversations with an answer rated this way.
    pub feedback: Option<FeedbackValue>,
    /// Continue after this cursor (from a previous page's `next`).
    pub cursor: Option<String>,
    /// Page size.
    pub limit: usize,
}

impl Default for ConversationQuery {
    fn default() -> Self {
        Self {
            status: None,
            updated_from_ms: None,
            updated_to_ms: None,
            text: None,
            feedback: None,
            cursor: None,
            limit: 50,
        }
    }
}

/// Most conversations one listing call examines before it returns a partial page with a
/// cursor, so a filter that matches little cannot make one request scan the whole store.
pub const LIST_SCAN_LIMIT: usize = 5_000;

/// Largest page a listing returns.
pub const MAX_PAGE: usize = 500;

impl ConversationQuery {
    /// Whether the filters on the conversation record itself accept it.
    pub fn accepts_conversation(&self, conversation: &Conversation) -> bool {
        self.status.is_none_or(|status| conversation.status == status)
            && self.updated_from_ms.is_none_or(|from| conversation.updated_ms >= from)
            && self.updated_to_ms.is_none_or(|to| conversation.updated_ms < to)
    }

    /// Whether the filters need the conversation's messages.
    pub fn needs_messages(&self) -> bool {
        self.text.is_some() || self.feedback.is_some()
    }

    /// Whether the filters on messages accept these.
    pub fn accepts_messages(&self, messages: &[Message]) -> bool {
        let text_ok = self.text.as_deref().is_none_or(|needle| {
            let needle = needle.to_lowercase();
            messages.iter().any(|m| m.text.to_lowercase().contains(&needle))
        });
        let feedback_ok = self.feedback.is_none_or(|value| {
            messages.iter().any(|m| m.feedback.as_ref().is_some_and(|f| f.value == value))
        });
        text_ok && feedback_ok
    }

    /// The position to continue from: (updated ms, id), exclusive.
    pub fn decoded_cursor(&self) -> Result<Option<(i64, String)>> {
        let Some(cursor) = &self.cursor else { return Ok(None) };
        let bad = || Error::BadRequest("invalid cursor".into());
        let (ms, id) = cursor.split_once(':').ok_or_else(bad)?;
        Ok(Some((ms.parse().map_err(|_| bad())?, id.to_owned())))
    }

    /// The page size, within bounds.
    pub fn page_size(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE)
    }
}

/// The cursor that continues a listing after this conversation.
pub fn cursor_after(conversation: &Conversation) -> String {
    format!("{}:{}", conversation.updated_ms, conversation.id)
}

/// One page of conversations, newest update first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConversationPage {
    /// The conversations.
    pub conversations: Vec<Conversation>,
    /// Pass as `cursor` for the next page; `None` at the end.
    pub next: Option<String>,
}

/// Conversations and messages, kept by the embedded backend (one file) or Redis (shared by
/// replicas). Implementations must never block the async runtime.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new conversation.
    async fn create_conversation(&self, conversation: &Conversation) -> Result<()>;

    /// One conversation, or `None`.
    async fn get_conversation(&self, id: &str) -> Result<Option<Conversation>>;

    /// Appends a message at the end of a conversation and returns it with its position. A
    /// message whose `client_message_id` is already stored in this conversation is not stored
    /// again: the earlier one is returned as [`AppendOutcome::Duplicate`]. A stored message is
    /// published as a [`StoreEvent::Message`].
    async fn append_message(&self, conversation_id: &str, message: Message) -> Result<AppendOutcome>;

    /// The conversation's messages, oldest first.
    async fn list_messages(&self, conversation_id: &str) -> Result<Vec<Message>>;

    /// Changes who handles a conversation, atomically with the check of its current status.
    /// A change is published as a [`StoreEvent::Status`].
    async fn set_status(&self, conversation_id: &str, change: &StatusChange) -> Result<StatusOutcome>;

    /// Replaces a conversation's tags; returns the conversation, or `None` if it does not
    /// exist. A change is published as a [`StoreEvent::Status`].
    async fn set_tags(&self, conversation_id: &str, tags: &[String]) -> Result<Option<Conversation>>;

    /// Records a visitor's rating of an assistant message; returns `false` if there is no such
    /// assistant message in the conversation.
    async fn set_feedback(&self, conversation_id: &str, message_id: &str, feedback: Feedback)
        -> Result<bool>;

    /// Conversations matching the query, most recently updated first.
    async fn list_conversations(&self, query: &ConversationQuery) -> Result<ConversationPage>;

    /// Stores a visitor's profile: the attributes replace those held, `first_seen_ms` of an
    /// existing profile is kept.
    async fn put_visitor(&self, profile: &VisitorProfile) -> Result<()>;

    /// A visitor's profile, or `None`.
    async fn get_visitor(&self, id: &str) -> Result<Option<VisitorProfile>>;

    /// Deletes a visitor's profile; `false` if there was none.
    async fn delete_visitor(&self, id: &str) -> Result<bool>;

    /// The visitor's conversations, newest first.
    async fn conversations_of_visitor(&self, visitor_id: &str) -> Result<Vec<Conversation>>;

    /// Deletes a conversation with its messages (and their sealed personal details) from every
    /// structure of the store; `false` if there was none.
    async fn delete_conversation(&self, id: &str) -> Result<bool>;

    /// Keeps the sealed personal details of one message of a conversation, for the
    /// conversation's life ([`crate::privacy::Sealer`]: the store holds ciphertext only).
    async fn put_sealed(&self, conversation_id: &str, message_id: &str, sealed: &str) -> Result<()>;

    /// The sealed personal details of a conversation's messages, as (message id, sealed).
    async fn list_sealed(&self, conversation_id: &str) -> Result<Vec<(String, String)>>;

    /// Stores a lead, replacing one with the same id (a delivery update).
    async fn put_lead(&self, lead: &crate::leads::Lead) -> Result<()>;

    /// Replaces a stored lead (its delivery state); `false`, writing nothing, when it is no
    /// longer stored (withdrawn meanwhile).
    async fn update_lead(&self, lead: &crate::leads::Lead) -> Result<bool>;

    /// The newest leads first, at most `limit` (and at most
    /// [`crate::leads::MAX_LEADS_LISTED`]).
    async fn list_leads(&self, limit: usize) -> Result<Vec<crate::leads::Lead>>;

    /// Deletes a visitor's leads (consent withdrawn, or the visitor's data deleted); returns
    /// how many.
    async fn delete_leads_of_visitor(&self, visitor_id: &str) -> Result<usize>;

    /// Adds one to `field` of the counter `counter` (a card's clicks on a day: counter
    /// `clicks:2026-11-29`, field the item's id), shared by every replica.
    async fn add_count(&self, counter: &str, field: &str) -> Result<()>;

    /// Every field of a counter with its count.
    async fn counts(&self, counter: &str) -> Result<Vec<(String, u64)>>;

    /// Events from every replica sharing this store, this one included.
    fn subscribe(&self) -> broadcast::Receiver<StoreEvent>;

    /// Publishes an event to every replica's subscribers.
    async fn publish(&self, event: &StoreEvent) -> Result<()>;

    /// Checks the backend is reachable (for `/readyz`).
    async fn ping(&self) -> Result<()>;

    /// Takes, or renews, the lease `name` for `holder` for `ttl_ms`: `true` when `holder`
    /// holds it now. On a store several replicas share, one holder at a time, so background
    /// work is not done twice; a holder that dies loses it after `ttl_ms`. A store that only
    /// one process opens may keep this default: every caller holds it.
    async fn try_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> Result<bool> {
        let _ = (name, holder, ttl_ms);
        Ok(true)
    }

    /// The secret every replica sharing this store signs visitor tokens with: the one already
    /// kept, or `candidate`, kept from now on when none was. A visitor whose replica dies then
    /// resumes on another. A store that only one process opens may keep this default, which
    /// keeps nothing (the server keeps its secret in the data dir).
    async fn shared_token_secret(&self, candidate: &str) -> Result<String> {
        Ok(candidate.to_owned())
    }
}

/// Deletes the closed conversations last updated before `before_ms`; returns how many. Works a
/// page at a time, so it never holds more than one page in memory.
pub async fn purge_closed(store: &dyn SessionStore, before_ms: i64) -> Result<usize> {
    let mut deleted = 0;
    let mut query = ConversationQuery {
        status: Some(ConversationStatus::Closed),
        updated_to_ms: Some(before_ms),
        limit: 200,
        ..ConversationQuery::default()
    };
    loop {
        let page = store.list_conversations(&query).await?;
        for conversation in &page.conversations {
            if store.delete_conversation(&conversation.id).await? {
                deleted += 1;
            }
        }
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => return Ok(deleted),
        }
    }
}
