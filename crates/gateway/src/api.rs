//! The JSON API under `/api/v1`: errors, and the agent's conversation routes.
//!
//! Every error answers `{"error": {"code", "message"}}` with the status of its code.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontdesk_core::chat::Transition;
use frontdesk_core::model::{Conversation, ConversationStatus, FeedbackValue, Message, Role};
use frontdesk_core::store::{ConversationPage, ConversationQuery, StatusOutcome};
use frontdesk_core::{Error, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::AgentKey;
use crate::AppState;

/// An error as the API answers it.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self(Error::BadRequest(rejection.body_text()))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::BytesRejection(rejection)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Self(Error::TooLarge("the body is too large".into()))
            }
            other => Self(Error::BadRequest(other.body_text())),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code();
        if code == ErrorCode::Internal || code == ErrorCode::Unavailable {
            tracing::warn!(error = %self.0, "api request failed");
        }
        let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = Json(json!({"error": {"code": code.as_str(), "message": self.0.public_message()}}));
        let mut response = (status, body).into_response();
        if code == ErrorCode::Unauthorized {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// Longest agent reply, in characters.
pub const MAX_REPLY_CHARS: usize = 4_000;

/// Query of `GET /api/v1/conversations`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `bot`, `waiting`, `agent` or `closed`.
    status: Option<ConversationStatus>,
    /// Updated at or after, ms since the epoch.
    from: Option<i64>,
    /// Updated before, ms since the epoch.
    to: Option<i64>,
    /// Text any message contains.
    q: Option<String>,
    /// `up` or `down`: has an answer rated so.
    feedback: Option<FeedbackValue>,
    /// From a previous page's `next`.
    cursor: Option<String>,
    /// Page size (at most 500).
    limit: Option<usize>,
}

/// `GET /api/v1/conversations`
pub async fn list_conversations(
    State(state): State<AppState>,
    _agent: AgentKey,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Json<ConversationPage>> {
    let Query(params) = params?;
    let query = ConversationQuery {
        status: params.status,
        updated_from_ms: params.from,
        updated_to_ms: params.to,
        text: params.q.filter(|q| !q.trim().is_empty()).map(|q| q.chars().take(200).collect()),
        feedback: params.feedback,
        cursor: params.cursor,
        limit: params.limit.unwrap_or(50),
    };
    Ok(Json(state.chat.store().list_conversations(&query).await?))
}

/// A conversation with its messages.
#[derive(Debug, Serialize)]
pub struct Transcript {
    /// The conversation.
    pub conversation: Conversation,
    /// Its messages, oldest first.
    pub messages: Vec<Message>,
    /// The catalogue items the visitor looked at on the site, most recent last.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub viewed: Vec<Viewed>,
}

/// A catalogue item a visitor looked at, as agents see it.
#[derive(Debug, Serialize)]
pub struct Viewed {
    /// The item's id.
    pub id: String,
    /// Its name, when the catalogue still holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

async fn transcript(state: &AppState, id: &str) -> ApiResult<Transcript> {
    let store = state.chat.store();
    let conversation =
        store.get_conversation(id).await?.ok_or_else(|| Error::NotFound("conversation".into()))?;
    let messages = store.list_messages(id).await?;
    let profile = store.get_visitor(&conversation.visitor_id).await?.unwrap_or_default();
    let catalogue = state.chat.catalogue().map(|c| c.current());
    let viewed = profile
        .viewed
        .into_iter()
        .map(|id| {
            let item = catalogue.as_ref().and_then(|c| c.catalog.get(&id));
            Viewed { name: item.map(|i| i.name.clone()), url: item.and_then(|i| i.url.clone()), id }
        })
        .collect();
    Ok(Transcript { conversation, messages, viewed })
}

/// `GET /api/v1/conversations/{id}`
pub async fn get_conversation(
    State(state): State<AppState>,
    _agent: AgentKey,
    Path(id): Path<String>,
) -> ApiResult<Json<Transcript>> {
    Ok(Json(transcript(&state, &id).await?))
}

/// Query of the export route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// `json` (default), `csv` or `txt`.
    format: Option<String>,
}

/// `GET /api/v1/conversations/{id}/export?format=json|csv|txt`, as a download.
pub async fn export_conversation(
    State(state): State<AppState>,
    _agent: AgentKey,
    Path(id): Path<String>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    let format = params.format.as_deref().unwrap_or("json");
    let transcript = transcript(&state, &id).await?;
    let (content_type, body) = match format {
        "json" => (
            "application/json",
            serde_json::to_string_pretty(&transcript).map_err(|e| Error::Internal(e.to_string()))?,
        ),
        "csv" => ("text/csv; charset=utf-8", crate::export::to_csv(&transcript.messages)?),
        "txt" => (
            "text/plain; charset=utf-8",
            crate::export::to_text(&transcript.conversation, &transcript.messages),
        ),
        other => return Err(Error::BadRequest(format!("unknown format {other:?} (json, csv, txt)")).into()),
    };
    let disposition =
        format!("attachment; filename=\"conversation-{}.{format}\"", transcript.conversation.id);
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

/// `POST /api/v1/conversations/{id}/takeover`: the agent handles the conversation from now
/// on and the assistant stays silent. Refused with `conflict` while another agent holds it.
pub async fn takeover(
    State(state): State<AppState>,
    AgentKey(agent): AgentKey,
    Path(id): Path<String>,
) -> ApiResult<Json<Conversation>> {
    let takeover = Transition::Takeover { agent: agent.name.clone() };
    match state.chat.transition(&id, &takeover).await? {
        StatusOutcome::Changed(conversation) => {
            tracing::info!(conversation_id = %id, agent = %agent.name, "agent took over");
            Ok(Json(conversation))
        }
        StatusOutcome::Refused(conversation)
            if conversation.assigned_agent.as_deref() == Some(agent.name.as_str()) =>
        {
            Ok(Json(conversation))
        }
        StatusOutcome::Refused(conversation) => Err(Error::Conflict(format!(
            "{} already handles this conversation",
            conversation.assigned_agent.as_deref().unwrap_or("another agent")
        ))
        .into()),
        StatusOutcome::Missing => Err(Error::NotFound("conversation".into()).into()),
    }
}

/// Body of `POST /api/v1/conversations/{id}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The agent's message.
    text: String,
}

/// `POST /api/v1/conversations/{id}/messages`: the agent writes to the visitor. The agent must
/// have taken the conversation over.
pub async fn reply(
    State(state): State<AppState>,
    AgentKey(agent): AgentKey,
    Path(id): Path<String>,
    body: Result<Json<ReplyBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let Json(body) = body?;
    let text = body.text.trim();
    if text.is_empty() {
        return Err(Error::BadRequest("the reply is empty".into()).into());
    }
    if text.chars().count() > MAX_REPLY_CHARS {
        return Err(
            Error::BadRequest(format!("a reply may have at most {MAX_REPLY_CHARS} characters")).into()
        );
    }
    let store = state.chat.store();
    let conversation =
        store.get_conversation(&id).await?.ok_or_else(|| Error::NotFound("conversation".into()))?;
    if conversation.status != ConversationStatus::Agent
        || conversation.assigned_agent.as_deref() != Some(agent.name.as_str())
    {
        return Err(Error::Conflict("take the conversation over before replying".into()).into());
    }
    let mut message = Message::new(Role::Agent, text);
    message.agent = Some(agent.name.clone());
    let stored = store.append_message(&id, message).await?;
    Ok((StatusCode::CREATED, Json(stored.message().clone())))
}

/// One personal detail of a visitor message, whole.
#[derive(Debug, Serialize)]
pub struct ShownDetail {
    /// The visitor message it is in.
    message_id: String,
    /// Its kind (`email`, `phone` ...).
    kind: frontdesk_core::privacy::PiiKind,
    /// What the transcript shows in its place.
    shown: String,
    /// What the visitor typed.
    original: String,
}

/// `GET /api/v1/conversations/{id}/personal-details`: the contact details masked in the
/// visitor's messages, whole, for the agent who took the conversation over and only while it
/// is theirs (`conflict` otherwise). Each look is logged.
pub async fn personal_details(
    State(state): State<AppState>,
    AgentKey(agent): AgentKey,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let conversation = state
        .chat
        .store()
        .get_conversation(&id)
        .await?
        .ok_or_else(|| Error::NotFound("conversation".into()))?;
    if conversation.status != ConversationStatus::Agent
        || conversation.assigned_agent.as_deref() != Some(agent.name.as_str())
    {
        return Err(Error::Conflict(
            "take the conversation over to see the visitor's contact details".into(),
        )
        .into());
    }
    let details: Vec<ShownDetail> = state
        .chat
        .personal_details(&id)
        .await?
        .into_iter()
        .flat_map(|(message_id, details)| {
            details.into_iter().map(move |d| ShownDetail {
                message_id: message_id.clone(),
                kind: d.kind,
                shown: d.shown,
                original: d.original,
            })
        })
        .collect();
    tracing::info!(conversation_id = %id, agent = %agent.name, details = details.len(), "personal details shown");
    Ok(Json(serde_json::json!({ "conversation_id": id, "details": details })))
}

/// `POST /api/v1/conversations/{id}/handback`: the assistant answers again.
pub async fn handback(
    State(state): State<AppState>,
    _agent: AgentKey,
    Path(id): Path<String>,
) -> ApiResult<Json<Conversation>> {
    changed(
        state.chat.transition(&id, &Transition::HandBack).await?,
        "only a conversation a person handles can be handed back",
    )
}

/// `POST /api/v1/conversations/{id}/close`
pub async fn close(
    State(state): State<AppState>,
    _agent: AgentKey,
    Path(id): Path<String>,
) -> ApiResult<Json<Conversation>> {
    changed(state.chat.transition(&id, &Transition::Close).await?, "the conversation cannot be closed")
}

fn changed(outcome: StatusOutcome, refused: &str) -> ApiResult<Json<Conversation>> {
    match outcome {
        StatusOutcome::Changed(conversation) => Ok(Json(conversation)),
        StatusOutcome::Refused(_) => Err(Error::Conflict(refused.to_owned()).into()),
        StatusOutcome::Missing => Err(Error::NotFound("conversation".into()).into()),
    }
}

/// Any unknown path under `/api/v1`.
pub async fn not_found() -> ApiError {
    ApiError(Error::NotFound("route".into()))
}

/// Body of `PUT /api/v1/conversations/{id}/tags`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    /// The tags (at most 10, each up to 32 characters; lowercased).
    tags: Vec<String>,
}

/// `PUT /api/v1/conversations/{id}/tags`: replaces the conversation's tags.
pub async fn set_tags(
    State(state): State<AppState>,
    _agent: AgentKey,
    Path(id): Path<String>,
    body: Result<Json<TagsBody>, JsonRejection>,
) -> ApiResult<Json<Conversation>> {
    let Json(body) = body?;
    let tags = frontdesk_core::model::clean_tags(&body.tags);
    let conversation = state
        .chat
        .store()
        .set_tags(&id, &tags)
        .await?
        .ok_or_else(|| Error::NotFound("conversation".into()))?;
    Ok(Json(conversation))
}
