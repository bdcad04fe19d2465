//! `GET /api/v1/feedback?days=N&value=up|down&format=json|csv`: every rated answer of the
//! window with the question it answered, the visitor's comment and the sources, for the people
//! who improve the FAQ. Read from the conversations updated in the window that hold a rating
//! (at most [`MAX_CONVERSATIONS`], newest first).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontdesk_core::model::{FeedbackValue, Role};
use frontdesk_core::store::ConversationQuery;
use frontdesk_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::api::ApiResult;
use crate::auth::AgentKey;
use crate::export::{inert_cell, iso_time};
use crate::AppState;

/// Most conversations one export reads.
pub const MAX_CONVERSATIONS: usize = 2_000;

/// Query of the export.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackParams {
    /// Days back from now (1 to 365, default 30).
    days: Option<u32>,
    /// Only answers rated so.
    value: Option<FeedbackValue>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// One rated answer.
#[derive(Debug, Serialize)]
pub struct Rated {
    /// The conversation.
    pub conversation_id: String,
    /// The answer's message id.
    pub message_id: String,
    /// When the answer was written, ms since the epoch.
    pub created_ms: i64,
    /// Up or down.
    pub value: FeedbackValue,
    /// The visitor's comment, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The visitor's question it answered.
    pub question: String,
    /// The answer.
    pub answer: String,
    /// The FAQ entries it drew on, by title.
    pub sources: Vec<String>,
}

/// `GET /api/v1/feedback`
pub async fn export(
    State(state): State<AppState>,
    _agent: AgentKey,
    params: std::result::Result<Query<FeedbackParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    let days = params.days.unwrap_or(30).clamp(1, 365);
    let since = frontdesk_core::now_ms() - i64::from(days) * 86_400_000;
    let store = state.chat.store();
    let mut rated = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let values = match params.value {
        Some(value) => vec![value],
        None => vec![FeedbackValue::Up, FeedbackValue::Down],
    };
    let mut read = 0;
    for value in values {
        let mut query = ConversationQuery {
            updated_from_ms: Some(since),
            feedback: Some(value),
            limit: 200,
            ..ConversationQuery::default()
        };
        'pages: loop {
            let page = store.list_conversations(&query).await?;
            for conversation in &page.conversations {
                if read >= MAX_CONVERSATIONS {
                    break 'pages;
                }
                if !seen.insert(conversation.id.clone()) {
                    continue;
                }
                read += 1;
                let messages = store.list_messages(&conversation.id).await?;
                let mut question = "";
                for message in &messages {
                    if message.role == Role::Visitor {
                        question = &message.text;
                    }
                    let Some(feedback) = &message.feedback else { continue };
                    if params.value.is_some_and(|v| v != feedback.value) {
                        continue;
                    }
                    rated.push(Rated {
                        conversation_id: conversation.id.clone(),
                        message_id: message.id.clone(),
                        created_ms: message.created_ms,
                        value: feedback.value,
                        comment: feedback.comment.clone(),
                        question: question.to_owned(),
                        answer: message.text.clone(),
                        sources: message.sources.iter().map(|s| s.title.clone()).collect(),
                    });
                }
            }
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => break,
            }
        }
    }
    rated.sort_by_key(|r| std::cmp::Reverse(r.created_ms));
    match params.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(rated).into_response()),
        "csv" => {
            let headers = [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"feedback.csv\""),
            ];
            Ok((headers, to_csv(&rated)?).into_response())
        }
        other => Err(Error::BadRequest(format!("unknown format {other:?} (json, csv)")).into()),
    }
}

fn to_csv(rated: &[Rated]) -> Result<String> {
    let header = ["time", "value", "comment", "question", "answer", "sources", "conversation", "message"];
    crate::export::csv_document(
        &header,
        rated.iter().map(|r| {
            let value = match r.value {
                FeedbackValue::Up => "up",
                FeedbackValue::Down => "down",
            };
            vec![
                iso_time(r.created_ms),
                value.to_owned(),
                inert_cell(r.comment.as_deref().unwrap_or_default()).into_owned(),
                inert_cell(&r.question).into_owned(),
                inert_cell(&r.answer).into_owned(),
                inert_cell(&r.sources.join("; ")).into_owned(),
                r.conversation_id.clone(),
                r.message_id.clone(),
            ]
        }),
    )
}
