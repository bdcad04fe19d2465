//! `GET /api/v1/analytics/summary?days=N`: what visitors ask and what went unanswered.
//!
//! Computed on demand from the conversations updated in the window (at most
//! [`MAX_CONVERSATIONS`] of them, newest first; `sampled` says when there were more), so it
//! needs no extra bookkeeping on the chat path.

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use frontdesk_core::chat::DECLINE_TEXT;
use frontdesk_core::model::{ConversationStatus, FeedbackValue, Message, Role};
use frontdesk_core::store::ConversationQuery;
use serde::{Deserialize, Serialize};

use crate::api::ApiResult;
use crate::auth::AdminKey;
use crate::export::iso_time;
use crate::AppState;

/// Most conversations one summary reads.
pub const MAX_CONVERSATIONS: usize = 2_000;

/// Query of the summary.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    /// Days back from now (1 to 365, default 30).
    days: Option<u32>,
}

/// Counts for one day (UTC).
#[derive(Debug, Default, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Conversations last active that day.
    pub conversations: u64,
    /// Visitor messages that day.
    pub questions: u64,
}

/// A question and how often it was asked.
#[derive(Debug, Serialize)]
pub struct Asked {
    /// The question as most often typed.
    pub question: String,
    /// How many times.
    pub count: u64,
}

/// The summary.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The window, in days.
    pub days: u32,
    /// Conversations read.
    pub conversations: u64,
    /// Whether there were more conversations in the window than were read.
    pub sampled: bool,
    /// Visitor messages.
    pub questions: u64,
    /// Per day, oldest first.
    pub per_day: Vec<Day>,
    /// The most asked questions.
    pub most_asked: Vec<Asked>,
    /// The most asked questions the knowledge base had no answer for.
    pub unanswered: Vec<Asked>,
    /// Share of conversations that went to a person (queued, taken over, or handled).
    pub handoff_rate: f64,
    /// Answers rated up.
    pub feedback_up: u64,
    /// Answers rated down.
    pub feedback_down: u64,
}

fn normalise(question: &str) -> String {
    question
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn top(counts: HashMap<String, (String, u64)>) -> Vec<Asked> {
    let mut list: Vec<Asked> =
        counts.into_values().map(|(question, count)| Asked { question, count }).collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.question.cmp(&b.question)));
    list.truncate(10);
    list
}

fn count(map: &mut HashMap<String, (String, u64)>, question: &str) {
    let key = normalise(question);
    if key.is_empty() {
        return;
    }
    let entry = map.entry(key).or_insert_with(|| (question.trim().to_owned(), 0));
    entry.1 += 1;
}

/// `GET /api/v1/analytics/summary`
pub async fn summary(
    State(state): State<AppState>,
    _admin: AdminKey,
    params: Result<Query<SummaryParams>, QueryRejection>,
) -> ApiResult<Json<Summary>> {
    let Query(params) = params?;
    let days = params.days.unwrap_or(30).clamp(1, 365);
    let since = frontdesk_core::now_ms() - i64::from(days) * 86_400_000;
    let store = state.chat.store();
    let mut query =
        ConversationQuery { updated_from_ms: Some(since), limit: 200, ..ConversationQuery::default() };
    let mut per_day: BTreeMap<String, Day> = BTreeMap::new();
    let (mut asked, mut unanswered) = (HashMap::new(), HashMap::new());
    let (mut conversations, mut questions, mut handed_off, mut up, mut down) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut sampled = false;
    'pages: loop {
        let page = store.list_conversations(&query).await?;
        for conversation in &page.conversations {
            if conversations as usize >= MAX_CONVERSATIONS {
                sampled = true;
                break 'pages;
            }
            conversations += 1;
            let date = iso_time(conversation.updated_ms)[..10].to_owned();
            per_day.entry(date.clone()).or_insert_with(|| Day { date, ..Day::default() }).conversations += 1;
            let messages: Vec<Message> = store.list_messages(&conversation.id).await?;
            // Queued now, handled by a person now or before, or declined (which queues it).
            if conversation.assigned_agent.is_some()
                || matches!(conversation.status, ConversationStatus::Waiting | ConversationStatus::Agent)
                || messages.iter().any(|m| m.role == Role::Agent || m.text == DECLINE_TEXT)
            {
                handed_off += 1;
            }
            let mut last_question: Option<&str> = None;
            for message in &messages {
                match message.role {
                    Role::Visitor if message.created_ms >= since => {
                        questions += 1;
                        let date = iso_time(message.created_ms)[..10].to_owned();
                        per_day
                            .entry(date.clone())
                            .or_insert_with(|| Day { date, ..Day::default() })
                            .questions += 1;
                        count(&mut asked, &message.text);
                        last_question = Some(&message.text);
                    }
                    Role::Assistant => {
                        if message.text == DECLINE_TEXT {
                            if let Some(question) = last_question.take() {
                                count(&mut unanswered, question);
                            }
                        }
                        match message.feedback.as_ref().map(|f| f.value) {
                            Some(FeedbackValue::Up) => up += 1,
                            Some(FeedbackValue::Down) => down += 1,
                            None => {}
                        }
                    }
                    _ => {}
                }
            }
        }
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => break,
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let handoff_rate = if conversations == 0 { 0.0 } else { handed_off as f64 / conversations as f64 };
    Ok(Json(Summary {
        days,
        conversations,
        sampled,
        questions,
        per_day: per_day.into_values().collect(),
        most_asked: top(asked),
        unanswered: top(unanswered),
        handoff_rate,
        feedback_up: up,
        feedback_down: down,
    }))
}
