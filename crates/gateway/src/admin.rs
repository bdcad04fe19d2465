//! The admin's knowledge-base routes: documents and a search to try questions.
//!
//! Uploads are a raw body with the document's name (`POST /api/v1/documents?name=faq.md`, or
//! `PUT /api/v1/documents/{name}`), or a `multipart/form-data` form whose file part carries
//! the name (`curl -F file=@faq.md`); the name's extension picks the parser. A document is
//! parsed before anything is stored, so a broken file is refused with `bad_request` and the
//! knowledge base stays as it was.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use frontdesk_core::documents::DocumentInfo;
use frontdesk_core::retrieve::Passage;
use frontdesk_core::Error;
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ApiResult};
use crate::auth::AdminKey;
use crate::AppState;

/// Largest upload, in bytes.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// An upload's body, or the error for one too large or broken.
pub(crate) fn body(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(Error::TooLarge(format!("a document may have at most {} MiB", MAX_UPLOAD_BYTES >> 20)))
        } else {
            ApiError(Error::BadRequest(rejection.body_text()))
        }
    })
}

/// Query of `POST /api/v1/documents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// The document's name, such as `shipping.md` or `academy/courses.csv`; for a multipart
    /// upload, it overrides the file part's own name.
    name: Option<String>,
}

/// `GET /api/v1/documents`
pub async fn list(State(state): State<AppState>, _admin: AdminKey) -> ApiResult<Json<Vec<DocumentInfo>>> {
    Ok(Json(state.library.list().await?))
}

/// `POST /api/v1/documents?name=NAME` with the file as the body, or a multipart form with a
/// file part: adds or replaces it.
pub async fn upload(
    State(state): State<AppState>,
    _admin: AdminKey,
    headers: HeaderMap,
    params: Result<Query<UploadParams>, QueryRejection>,
    content: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<DocumentInfo>)> {
    let Query(params) = params?;
    let (name, content) = named_file(&headers, params.name, body(content)?, "/api/v1/documents?name=faq.md")?;
    store(&state, &name, content).await
}

/// An upload's file and its name: the multipart form's file part (its name unless `name`
/// overrides it), or the raw body named by `name`; `example` shows how to name it.
pub(crate) fn named_file(
    headers: &HeaderMap,
    name: Option<String>,
    content: Bytes,
    example: &str,
) -> ApiResult<(String, Bytes)> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.to_ascii_lowercase().starts_with("multipart/form-data") {
        let file = crate::multipart::file_part(content_type, &content)?;
        let bytes = content.slice_ref(file.content);
        return Ok((name.unwrap_or(file.filename), bytes));
    }
    let name = name.ok_or_else(|| {
        Error::BadRequest(format!("name the file: POST {example}, or send a multipart form"))
    })?;
    Ok((name, content))
}

/// `PUT /api/v1/documents/{name}` with the file as the body: adds or replaces it.
pub async fn replace(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
    content: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<DocumentInfo>)> {
    store(&state, id.trim_start_matches('/'), body(content)?).await
}

async fn store(state: &AppState, id: &str, content: Bytes) -> ApiResult<(StatusCode, Json<DocumentInfo>)> {
    let (info, created) = state.library.put(id, content.to_vec()).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(info)))
}

/// A document with its text.
#[derive(Debug, Serialize)]
pub struct DocumentView {
    /// What is known about it.
    pub document: DocumentInfo,
    /// Its content, when it is text.
    pub content: Option<String>,
}

/// `GET /api/v1/documents/{name}`
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
) -> ApiResult<Json<DocumentView>> {
    let document = state
        .library
        .get(id.trim_start_matches('/'))
        .await?
        .ok_or_else(|| Error::NotFound("document".into()))?;
    Ok(Json(DocumentView { content: String::from_utf8(document.content).ok(), document: document.info }))
}

/// `DELETE /api/v1/documents/{name}`
pub async fn delete(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state.library.delete(id.trim_start_matches('/')).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound("document".into()).into())
    }
}

/// Query of `GET /api/v1/search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The question.
    q: String,
    /// How many passages (1 to 20, default 5).
    k: Option<usize>,
}

/// What a search found, and what the assistant would do with it.
#[derive(Debug, Serialize)]
pub struct SearchResult {
    /// The passages, best first, with their scores and confidence.
    pub passages: Vec<Passage>,
    /// Below this confidence the assistant declines.
    pub decline_below: f32,
    /// Whether the assistant would decline this question.
    pub would_decline: bool,
}

/// `GET /api/v1/search?q=&k=`: the passages a question finds.
pub async fn search(
    State(state): State<AppState>,
    _admin: AdminKey,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> ApiResult<Json<SearchResult>> {
    let Query(params) = params?;
    if params.q.chars().count() > frontdesk_core::protocol::MAX_MESSAGE_CHARS {
        return Err(Error::BadRequest("the question is too long".into()).into());
    }
    let k = params.k.unwrap_or(5).clamp(1, 20);
    let passages = state.chat.retriever().search(&params.q, k).await?;
    let decline_below = state.chat.config().decline_below;
    let would_decline = passages.first().is_none_or(|p| p.confidence < decline_below);
    Ok(Json(SearchResult { passages, decline_below, would_decline }))
}

/// Everything held about one visitor.
#[derive(Debug, Serialize)]
pub struct VisitorExport {
    /// The visitor's id.
    pub id: String,
    /// What the host pages said about them.
    pub profile: Option<frontdesk_core::model::VisitorProfile>,
    /// Their conversations with every message, newest first.
    pub conversations: Vec<crate::api::Transcript>,
    /// The contact details they left with their consent.
    pub leads: Vec<frontdesk_core::leads::Lead>,
}

/// `GET /api/v1/visitors/{id}`: everything held about one visitor, as JSON.
pub async fn export_visitor(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
) -> ApiResult<Json<VisitorExport>> {
    let store = state.chat.store();
    let profile = store.get_visitor(&id).await?;
    let mut conversations = Vec::new();
    for conversation in store.conversations_of_visitor(&id).await? {
        let messages = store.list_messages(&conversation.id).await?;
        // The profile, with the items viewed, is in the export once, beside the conversations.
        conversations.push(crate::api::Transcript { conversation, messages, viewed: Vec::new() });
    }
    let mut leads = store.list_leads(frontdesk_core::leads::MAX_LEADS_LISTED).await?;
    leads.retain(|l| l.visitor_id == id);
    if profile.is_none() && conversations.is_empty() && leads.is_empty() {
        return Err(Error::NotFound("visitor".into()).into());
    }
    Ok(Json(VisitorExport { id, profile, conversations, leads }))
}

/// `DELETE /api/v1/visitors/{id}`: removes the visitor's profile and every conversation.
pub async fn delete_visitor(
    State(state): State<AppState>,
    AdminKey(admin): AdminKey,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let store = state.chat.store();
    let mut found = store.delete_visitor(&id).await?;
    let conversations = store.conversations_of_visitor(&id).await?;
    for conversation in &conversations {
        found |= store.delete_conversation(&conversation.id).await?;
    }
    found |= store.delete_leads_of_visitor(&id).await? > 0;
    if !found {
        return Err(Error::NotFound("visitor".into()).into());
    }
    tracing::info!(visitor = %id, conversations = conversations.len(), by = %admin.name, "visitor's data deleted");
    Ok(StatusCode::NO_CONTENT)
}
