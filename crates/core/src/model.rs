//! The records Frontdesk keeps: conversations, their messages and the sources of answers.

use serde::{Deserialize, Serialize};

/// Who is handling a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// The assistant answers.
    Bot,
    /// The visitor asked for a person and waits in the queue.
    Waiting,
    /// A support agent has taken over; the assistant stays silent.
    Agent,
    /// Finished.
    Closed,
}

impl ConversationStatus {
    /// The wire name (`"bot"`, `"waiting"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Waiting => "waiting",
            Self::Agent => "agent",
            Self::Closed => "closed",
        }
    }
}

/// One conversation between a visitor and the assistant (and maybe an agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Random id; never enough on its own to access the conversation (see [`crate::token`]).
    pub id: String,
    /// The visitor's id, stable across the conversations of one browser.
    pub visitor_id: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last change (a message or a status change), ms since the epoch.
    pub updated_ms: i64,
    /// Who handles it now.
    pub status: ConversationStatus,
    /// The agent who took it over, if any.
    #[serde(default)]
    pub assigned_agent: Option<String>,
    /// The visitor's locale (`en`, `zh-CN`), as the widget reported it.
    #[serde(default)]
    pub locale: Option<String>,
    /// The page the conversation started on (scheme, host and path; no query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    /// Labels agents put on it (`refund`, `bug`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Conversation {
    /// A new conversation with a fresh id, handled by the assistant, stamped now.
    pub fn new(visitor_id: impl Into<String>, locale: Option<String>) -> Self {
        let now = crate::now_ms();
        Self {
            id: crate::new_id(),
            visitor_id: visitor_id.into(),
            created_ms: now,
            updated_ms: now,
            status: ConversationStatus::Bot,
            assigned_agent: None,
            locale,
            page_url: None,
            tags: Vec::new(),
        }
    }
}

/// Most tags on one conversation.
pub const MAX_TAGS: usize = 10;

/// Tags within bounds: trimmed, lowercased, 1 to 32 characters, no duplicates, at most
/// [`MAX_TAGS`].
pub fn clean_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag: String = tag.trim().to_lowercase().chars().take(32).collect();
        if !tag.is_empty() && !out.contains(&tag) && out.len() < MAX_TAGS {
            out.push(tag);
        }
    }
    out
}

/// The part of a page URL worth keeping: `http(s)://host/path`, without query or fragment
/// (which may carry personal data), at most 500 characters.
pub fn page_url(url: &str) -> Option<String> {
    let url = url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return None;
    }
    let end = url.find(['?', '#']).unwrap_or(url.len());
    Some(url[..end].chars().take(500).collect())
}

/// What the host page told about a visitor (`hello.visitor`), kept across conversations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisitorProfile {
    /// The visitor's id (the widget's, stable per browser, or the host page's own).
    pub id: String,
    /// Free attributes: plan, interests, the product page being viewed.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// First seen, ms since the epoch.
    pub first_seen_ms: i64,
    /// Last seen, ms since the epoch.
    pub last_seen_ms: i64,
    /// Catalogue items the visitor looked at on the site (`Frontdesk.track("viewed", {id})`),
    /// most recent last, at most [`MAX_VIEWED`]. Storing a profile adds its items to those
    /// kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub viewed: Vec<String>,
}

/// Most viewed items kept per visitor.
pub const MAX_VIEWED: usize = 20;

/// Most attributes kept per visitor.
pub const MAX_ATTRIBUTES: usize = 20;

impl VisitorProfile {
    /// Records that the visitor looked at an item: moved to the end if seen before, the
    /// oldest dropped past [`MAX_VIEWED`].
    pub fn record_view(&mut self, item_id: &str) {
        self.viewed.retain(|id| id != item_id);
        self.viewed.push(item_id.to_owned());
        let excess = self.viewed.len().saturating_sub(MAX_VIEWED);
        self.viewed.drain(..excess);
    }

    /// Keeps what an earlier stored profile knew that this one does not: its first sighting
    /// and the items viewed before this one's (the latest [`MAX_VIEWED`] of both).
    pub fn keep_from(&mut self, earlier: &Self) {
        self.first_seen_ms = earlier.first_seen_ms.min(self.first_seen_ms);
        let mut viewed: Vec<String> =
            earlier.viewed.iter().filter(|id| !self.viewed.contains(id)).cloned().collect();
        viewed.append(&mut self.viewed);
        let excess = viewed.len().saturating_sub(MAX_VIEWED);
        viewed.drain(..excess);
        self.viewed = viewed;
    }

    /// Keeps the attributes within bounds: at most [`MAX_ATTRIBUTES`], keys of up to 40 and
    /// values of up to 200 characters, no empty keys or values.
    pub fn bounded_attributes(
        attributes: &std::collections::BTreeMap<String, String>,
    ) -> std::collections::BTreeMap<String, String> {
        attributes
            .iter()
            .map(|(k, v)| {
                (
                    k.trim().chars().take(40).collect::<String>(),
                    v.trim().chars().take(200).collect::<String>(),
                )
            })
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .take(MAX_ATTRIBUTES)
            .collect()
    }
}

/// Whether a client-chosen visitor id is acceptable: 8 to 64 letters, digits, `-` or `_`.
pub fn valid_visitor_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The website visitor.
    Visitor,
    /// The AI assistant.
    Assistant,
    /// A human support agent.
    Agent,
    /// A notice from the system (for example "an agent joined").
    System,
}

/// A FAQ entry an answer was built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The document (file) the entry comes from.
    pub document_id: String,
    /// The entry's id inside the index (`document#anchor`).
    pub entry_id: String,
    /// The entry's question or title.
    pub title: String,
    /// A link to the entry's place in its source, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The retrieval score that selected it.
    pub score: f32,
}

/// A visitor's rating of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackValue {
    /// Helpful.
    Up,
    /// Not helpful.
    Down,
}

/// Feedback stored on an assistant message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// Up or down.
    pub value: FeedbackValue,
    /// Optional free text.
    #[serde(default)]
    pub comment: Option<String>,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Server-assigned id.
    pub id: String,
    /// Position in the conversation, from 0; the store assigns it.
    #[serde(default)]
    pub seq: u64,
    /// The author.
    pub role: Role,
    /// The text (plain text; Markdown subset for assistant answers).
    pub text: String,
    /// For assistant answers: the FAQ entries used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    /// For assistant answers: the catalogue items recommended, as the widget shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<crate::catalog::Card>,
    /// The visitor's rating, for assistant answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Feedback>,
    /// The id the client chose for a visitor message, so a resend is not stored twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<String>,
    /// For agent messages: the agent's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

impl Message {
    /// A new message with a fresh id, stamped now.
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Self {
            id: crate::new_id(),
            seq: 0,
            role,
            text: text.into(),
            sources: Vec::new(),
            cards: Vec::new(),
            feedback: None,
            client_message_id: None,
            agent: None,
            created_ms: crate::now_ms(),
        }
    }
}

/// Token counts and latency of one generated answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt the model read.
    pub prompt_tokens: u32,
    /// Tokens the model wrote.
    pub completion_tokens: u32,
    /// Time from the visitor's message to the first token, in ms.
    pub ttft_ms: u64,
}
