//! `GET /api/v1/analytics/summary?days=N`: what visitors ask and what went unanswered.
//!
//! Computed on demand from the conversations updated in the window (at most
//! [`MAX_CONVERSATIONS`] of them, newest first; `sampled` says when there were more), so it
//! needs no extra bookkeeping on the chat path.

use std::collections::{BTreeMap, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use frontdesk_core::chat::is_decline;
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
    /// Answers that recommended catalogue items.
    pub recommendations: u64,
    /// Cards shown in them.
    pub cards_shown: u64,
    /// Cards followed.
    pub card_clicks: u64,
    /// Leads captured.
    pub leads_captured: u64,
    /// Leads the webhook took.
    pub leads_delivered: u64,
}

/// A catalogue item's clicks in the window.
#[derive(Debug, Serialize)]
pub struct ItemClicks {
    /// The item's id.
    pub id: String,
    /// Its name, when the catalogue still holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Clicks on its cards.
    pub clicks: u64,
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
    /// Answers that recommended catalogue items.
    pub recommendations: u64,
    /// Cards shown in them.
    pub cards_shown: u64,
    /// Cards followed, per item, most followed first.
    pub card_clicks: Vec<ItemClicks>,
    /// Leads captured.
    pub leads_captured: u64,
    /// Leads the webhook took.
    pub leads_delivered: u64,
}

fn day(per_day: &mut BTreeMap<String, Day>, ms: i64) -> &mut Day {
    let date = iso_time(ms)[..10].to_owned();
    per_day.entry(date.clone()).or_insert_with(|| Day { date, ..Day::default() })
}

fn top(counts: HashMap<String, (String, u64)>) -> Vec<Asked> {
    let mut list: Vec<Asked> =
        counts.into_values().map(|(question, count)| Asked { question, count }).collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.question.cmp(&b.question)));
    list.truncate(10);
    list
}

fn count(map: &mut HashMap<String, (String, u64)>, question: &str) {
    let key = frontdesk_core::insights::normalise(question);
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
                || messages.iter().any(|m| m.role == Role::Agent || is_decline(&m.text))
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
                        if !message.cards.is_empty() && message.created_ms >= since {
                            let today = day(&mut per_day, message.created_ms);
                            today.recommendations += 1;
                            today.cards_shown += message.cards.len() as u64;
                        }
                        if is_decline(&message.text) {
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
    // Clicks are counted per day and item as they happen; leads carry their own times.
    let mut clicks: HashMap<String, u64> = HashMap::new();
    for back in 0..=i64::from(days) {
        let ms = frontdesk_core::now_ms() - back * 86_400_000;
        let date = &iso_time(ms)[..10];
        for (item, count) in store.counts(&format!("clicks:{date}")).await? {
            day(&mut per_day, ms).card_clicks += count;
            *clicks.entry(item).or_default() += count;
        }
    }
    let catalogue = state.chat.catalogue().map(|c| c.current());
    let mut card_clicks: Vec<ItemClicks> = clicks
        .into_iter()
        .map(|(id, clicks)| {
            let name = catalogue.as_ref().and_then(|c| c.catalog.get(&id)).map(|i| i.name.clone());
            ItemClicks { id, name, clicks }
        })
        .collect();
    card_clicks.sort_by(|a, b| b.clicks.cmp(&a.clicks).then_with(|| a.id.cmp(&b.id)));
    let (mut leads_captured, mut leads_delivered) = (0, 0);
    for lead in store.list_leads(frontdesk_core::leads::MAX_LEADS_LISTED).await? {
        if lead.created_ms >= since {
            leads_captured += 1;
            day(&mut per_day, lead.created_ms).leads_captured += 1;
        }
        if let Some(delivered) = lead.delivery.delivered_ms.filter(|ms| *ms >= since) {
            leads_delivered += 1;
            day(&mut per_day, delivered).leads_delivered += 1;
        }
    }
    let recommendations = per_day.values().map(|d| d.recommendations).sum();
    let cards_shown = per_day.values().map(|d| d.cards_shown).sum();
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
        recommendations,
        cards_shown,
        card_clicks,
        leads_captured,
        leads_delivered,
    }))
}
