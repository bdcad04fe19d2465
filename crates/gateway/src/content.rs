//! The content studio's routes (admins only):
//!
//! - `POST /api/v1/content` (`{kind, language, tone, items, entries, topic, strict}`): writes a
//!   draft from the chosen sources, streamed as server-sent events: `unit` (what is being
//!   written), `token` (the model's text as it comes), `parts` (the parts so far, fitted and
//!   checked), `retry` (strict mode writes a unit again), then `done` with the stored draft, or
//!   `error` with a code. One draft is written at a time; another gets `busy`.
//! - `GET /api/v1/content`: the saved drafts, newest first.
//! - `GET /api/v1/content/{id}`: one, with its Markdown and HTML.
//! - `PUT /api/v1/content/{id}` (`{parts}`): a person's edit; the check runs again on it.
//! - `DELETE /api/v1/content/{id}`.
//!
//! Drafts are stored in the document store under `content:drafts/ID.json`, so every replica
//! sees them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontdesk_core::chat::faithful::Evidence;
use frontdesk_core::content::write::{WriteEvent, WriteRequest, Writer};
use frontdesk_core::content::{
    self, draft_document_id, validate_draft_id, validate_parts, ContentKind, Draft, Language, Part, Sources,
    Tone, TopicSource, DRAFT_PREFIX, MAX_DRAFTS, MAX_SOURCES,
};
use frontdesk_core::documents::DocumentStore;
use frontdesk_core::Error;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};

use crate::api::{ApiError, ApiResult};
use crate::auth::AdminKey;
use crate::AppState;

/// Longest a draft may take to write before it is abandoned.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Events queued for a slow reader before the writing waits for it.
const EVENT_QUEUE: usize = 256;
/// Questions of a topic given as a source.
const TOPIC_QUESTIONS: usize = 6;

/// The writer, where drafts are kept, and the one-at-a-time gate.
pub struct Studio {
    writer: Writer,
    documents: Arc<dyn DocumentStore>,
    writing: Arc<Semaphore>,
}

impl Studio {
    /// A studio writing with `writer` and keeping drafts in `documents`.
    pub fn new(writer: Writer, documents: Arc<dyn DocumentStore>) -> Self {
        Self { writer, documents, writing: Arc::new(Semaphore::new(1)) }
    }

    /// The writer.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    async fn save(&self, draft: &Draft) -> frontdesk_core::Result<()> {
        self.documents.put_document(&content::draft_document(draft)?).await
    }

    async fn load(&self, id: &str) -> frontdesk_core::Result<Draft> {
        validate_draft_id(id)?;
        let document = self
            .documents
            .get_document(&draft_document_id(id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("draft {id}")))?;
        serde_json::from_slice(&document.content)
            .map_err(|e| Error::Internal(format!("draft {id} does not read: {e}")))
    }

    async fn ids(&self) -> frontdesk_core::Result<Vec<String>> {
        Ok(self
            .documents
            .list_documents()
            .await?
            .into_iter()
            .filter_map(|d| {
                d.id.strip_prefix(DRAFT_PREFIX).and_then(|r| r.strip_suffix(".json")).map(str::to_owned)
            })
            .collect())
    }
}

fn studio_of(state: &AppState) -> Result<&Arc<Studio>, Error> {
    state
        .content
        .as_ref()
        .ok_or_else(|| Error::Busy("the content studio is not enabled on this server".into()))
}

/// `POST /api/v1/content`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteBody {
    /// `ad`, `social`, `email`, `blog` or `faq_page`.
    kind: String,
    /// `en` or `zh` [default: en].
    #[serde(default)]
    language: Option<String>,
    /// `friendly`, `formal` or `playful` [default: the profile's].
    #[serde(default)]
    tone: Option<String>,
    /// Catalogue item ids.
    #[serde(default)]
    items: Vec<String>,
    /// FAQ entry ids (`document#anchor`).
    #[serde(default)]
    entries: Vec<String>,
    /// An insights topic's id (the last 30 days).
    #[serde(default)]
    topic: Option<String>,
    /// Write flagged parts again until none (bounded tries).
    #[serde(default)]
    strict: bool,
}

/// The request, its sources looked up: unknown ids are refused by name.
async fn resolve(state: &AppState, body: WriteBody) -> frontdesk_core::Result<WriteRequest> {
    let kind = ContentKind::parse(&body.kind)?;
    let language = body.language.as_deref().map_or(Ok(Language::En), Language::parse)?;
    let tone = body.tone.as_deref().map(Tone::parse).transpose()?;
    if body.items.len() + body.entries.len() > MAX_SOURCES {
        return Err(Error::BadRequest(format!("choose at most {MAX_SOURCES} items and entries together")));
    }
    let mut sources = Sources::default();
    if !body.items.is_empty() {
        let catalogue = state
            .chat
            .catalogue()
            .ok_or_else(|| Error::BadRequest("this server has no catalogue".into()))?
            .current();
        for id in &body.items {
            let item = catalogue
                .catalog
                .get(id)
                .ok_or_else(|| Error::BadRequest(format!("no catalogue item {id:?}")))?;
            sources.items.push(item.clone());
        }
    }
    if !body.entries.is_empty() {
        sources.entries = state.chat.retriever().entries(&body.entries).await?;
        if let Some(missing) =
            body.entries.iter().find(|id| !sources.entries.iter().any(|e| &e.entry_id == *id))
        {
            return Err(Error::BadRequest(format!("no FAQ entry {missing:?}")));
        }
    }
    if let Some(id) = &body.topic {
        sources.topic = Some(crate::insights::topic_source(state, id, TOPIC_QUESTIONS).await?);
    }
    Ok(WriteRequest { kind, language, tone, sources, strict: body.strict })
}

/// `POST /api/v1/content`: writes a draft, streaming its progress; the finished draft is saved.
pub async fn write(
    State(state): State<AppState>,
    _admin: AdminKey,
    body: Result<Json<WriteBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let studio = Arc::clone(studio_of(&state)?);
    let request = resolve(&state, body).await?;
    if request.sources.is_empty() {
        return Err(ApiError(Error::BadRequest(
            "choose at least one source: an item, an FAQ entry or a topic".into(),
        )));
    }
    if studio.ids().await?.len() >= MAX_DRAFTS {
        return Err(ApiError(Error::Conflict(format!("{MAX_DRAFTS} drafts are kept; delete some first"))));
    }
    let permit = Arc::clone(&studio.writing)
        .try_acquire_owned()
        .map_err(|_| Error::Busy("a draft is being written; try again when it is done".into()))?;
    let (tx, rx) = mpsc::channel::<Event>(EVENT_QUEUE);
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let (events, mut progress) = mpsc::channel::<WriteEvent>(EVENT_QUEUE);
        let writing = tokio::time::timeout(WRITE_TIMEOUT, studio.writer.write(&request, &events));
        tokio::pin!(writing);
        let outcome = loop {
            tokio::select! {
                outcome = &mut writing => break Some(outcome),
                Some(event) = progress.recv() => {
                    if tx.send(progress_event(event)).await.is_err() {
                        break None;
                    }
                }
                () = tx.closed() => break None,
                () = shutdown.cancelled() => break None,
            }
        };
        // The reader left (or the server stops): the writing future is dropped, which ends
        // the model's generation at its next token.
        let Some(outcome) = outcome else { return };
        while let Ok(event) = progress.try_recv() {
            let _ = tx.send(progress_event(event)).await;
        }
        let result = match outcome {
            Ok(Ok(draft)) => match studio.save(&draft).await {
                Ok(()) => Ok(draft),
                Err(error) => Err(error),
            },
            Ok(Err(error)) => Err(error),
            Err(_) => Err(Error::Generation("the draft took too long to write".into())),
        };
        let event = match result {
            Ok(draft) => {
                tracing::info!(id = %draft.id, kind = draft.kind.as_str(), ms = draft.writing_ms, flags = draft.review.flags.len(), "draft written");
                Event::default().event("done").data(json!(DraftView::of(draft)).to_string())
            }
            Err(error) => {
                tracing::warn!(%error, "draft not written");
                Event::default().event("error").data(
                    json!({"error": {"code": error.code().as_str(), "message": error.public_message()}})
                        .to_string(),
                )
            }
        };
        let _ = tx.send(event).await;
    });
    let stream =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx)) },
        );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

fn progress_event(event: WriteEvent) -> Event {
    match event {
        WriteEvent::Unit { number, what } => {
            Event::default().event("unit").data(json!({"number": number, "what": what}).to_string())
        }
        WriteEvent::Token(text) => Event::default().event("token").data(json!({"text": text}).to_string()),
        WriteEvent::Parts(parts) => Event::default().event("parts").data(json!({"parts": parts}).to_string()),
        WriteEvent::Retry(reason) => {
            Event::default().event("retry").data(json!({"reason": reason}).to_string())
        }
    }
}

/// A draft with its renderings.
#[derive(Debug, Serialize)]
pub struct DraftView {
    /// The draft.
    #[serde(flatten)]
    pub draft: Draft,
    /// As Markdown.
    pub markdown: String,
    /// As HTML.
    pub html: String,
}

impl DraftView {
    fn of(draft: Draft) -> Self {
        Self { markdown: draft.markdown(), html: draft.html(), draft }
    }
}

/// A saved draft as listed.
#[derive(Debug, Serialize)]
pub struct DraftSummary {
    /// Its id.
    pub id: String,
    /// The kind.
    pub kind: ContentKind,
    /// The language.
    pub language: Language,
    /// Its first part's text, shortened.
    pub title: String,
    /// Flags left.
    pub flags: usize,
    /// Limits broken.
    pub problems: usize,
    /// Created, ms since the epoch.
    pub created_ms: i64,
    /// Last changed.
    pub updated_ms: i64,
}

/// `GET /api/v1/content`: the saved drafts, the newest change first.
pub async fn list(State(state): State<AppState>, _admin: AdminKey) -> ApiResult<Json<Vec<DraftSummary>>> {
    let studio = studio_of(&state)?;
    let mut out = Vec::new();
    for id in studio.ids().await? {
        let draft = match studio.load(&id).await {
            Ok(draft) => draft,
            Err(error) => {
                tracing::warn!(%error, %id, "a stored draft does not read; left out");
                continue;
            }
        };
        out.push(DraftSummary {
            id: draft.id,
            kind: draft.kind,
            language: draft.language,
            title: draft.parts.first().map(|p| p.text.chars().take(80).collect()).unwrap_or_default(),
            flags: draft.review.flags.len(),
            problems: draft.review.problems.len(),
            created_ms: draft.created_ms,
            updated_ms: draft.updated_ms,
        });
    }
    out.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(out))
}

/// `GET /api/v1/content/{id}`
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
) -> ApiResult<Json<DraftView>> {
    Ok(Json(DraftView::of(studio_of(&state)?.load(&id).await?)))
}

/// `PUT /api/v1/content/{id}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    /// The parts as edited.
    parts: Vec<Part>,
}

/// `PUT /api/v1/content/{id}`: saves a person's edit and checks it again against the draft's
/// sources.
pub async fn edit(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
    body: Result<Json<EditBody>, JsonRejection>,
) -> ApiResult<Json<DraftView>> {
    let Json(body) = body?;
    validate_parts(&body.parts)?;
    let studio = studio_of(&state)?;
    let mut draft = studio.load(&id).await?;
    let evidence = Evidence::new(draft.evidence.iter().map(String::as_str));
    draft.review =
        content::review(draft.kind, draft.language, &body.parts, &evidence, studio.writer.profile());
    draft.parts = body.parts;
    draft.updated_ms = frontdesk_core::now_ms().max(draft.updated_ms);
    studio.save(&draft).await?;
    Ok(Json(DraftView::of(draft)))
}

/// `DELETE /api/v1/content/{id}`
pub async fn delete(
    State(state): State<AppState>,
    _admin: AdminKey,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let studio = studio_of(&state)?;
    validate_draft_id(&id)?;
    if studio.documents.delete_document(&draft_document_id(&id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(Error::NotFound(format!("draft {id}"))))
    }
}

/// A topic as a source, for the API and the command line alike.
pub fn topic_source_of(topic: &frontdesk_core::insights::Topic, questions: Vec<String>) -> TopicSource {
    TopicSource { id: topic.id.clone(), label: topic.label.clone(), asked: topic.questions, questions }
}
