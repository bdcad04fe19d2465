//! Frontdesk's gateway: everything a client reaches over HTTP.
//!
//! - [`router`]: the one axum router `main` and the tests both use.
//! - [`visitor`]: the visitor WebSocket at `/v1/ws` (the protocol in `docs/protocol.md`).
//! - [`auth`]: API keys (kept as hashes) and roles for `/api/v1`.
//! - [`api`]: the agent's conversation routes under `/api/v1/conversations`.
//! - [`admin`]: the admin's document and search routes.
//! - [`analytics`]: the admin's summary of what visitors ask.
//! - [`insights`]: topics of what visitors ask, content gaps, and the suggestions' review queue.
//! - [`content`]: the content studio: marketing drafts written and checked, kept and edited.
//! - [`agent_ws`]: the agents' live feed at `/api/v1/agent/ws`.
//! - [`openai`]: the OpenAI-compatible `/v1/chat/completions` and `/v1/models`.
//! - [`pages`]: the demo page, the widget script and the consoles.
//! - [`serve`]: the listener: a cap on open connections, a deadline for request headers,
//!   graceful shutdown.
//!
//! This crate depends on `frontdesk-core`'s traits only; the binary wires the real backends
//! into [`AppState`], so changing the gateway never recompiles the model engine.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::{get, post};
use axum::Router;
use frontdesk_core::chat::ChatService;
use frontdesk_core::documents::Library;
use frontdesk_core::token::TokenSigner;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod admin;
pub mod agent_ws;
pub mod analytics;
pub mod api;
pub mod auth;
pub mod catalog;
pub mod content;
pub mod export;
pub mod feedback;
pub mod insights;
pub mod leads;
pub mod limits;
mod listener;
pub mod multipart;
pub mod openai;
pub mod pages;
pub mod visitor;

use auth::ApiKeys;
pub use listener::serve;

/// Limits the gateway enforces.
#[derive(Debug, Clone)]
pub struct GatewayLimits {
    /// Largest WebSocket message a client may send, in bytes.
    pub max_frame_bytes: usize,
    /// How long a new socket may take to send `hello`.
    pub hello_timeout: Duration,
    /// A socket with no frame from the client for this long is closed.
    pub idle_timeout: Duration,
    /// Frames queued for one socket before the answer waits for the client to read.
    pub outgoing_frames: usize,
    /// Longest wait for one chat turn before it is abandoned with an error.
    pub turn_timeout: Duration,
    /// On shutdown, how long answers in flight may take to finish before sockets close.
    pub shutdown_grace: Duration,
    /// Page origins allowed to open the visitor WebSocket (`https://shop.example`); empty
    /// allows any.
    pub allowed_origins: Vec<String>,
    /// Take the client's IP from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Where the proxies are whose `X-Forwarded-For` entries are believed.
    pub trusted_proxies: Vec<limits::IpNetwork>,
    /// The bearer key `/metrics` asks for; `None` leaves it open (keep the port private then).
    pub metrics_key: Option<String>,
    /// New visitor WebSockets per client IP.
    pub sockets_per_ip: limits::Rate,
    /// Visitor messages per conversation.
    pub messages_per_conversation: limits::Rate,
    /// Clients (IPs, conversations) the rate limiters track at most.
    pub max_tracked_clients: usize,
    /// Connections open at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// A connection must send a request's headers within this long, or is closed.
    pub header_read_timeout: Duration,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 16 * 1024,
            hello_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            outgoing_frames: 64,
            turn_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(10),
            allowed_origins: Vec::new(),
            trust_forwarded_for: false,
            trusted_proxies: limits::default_trusted_proxies(),
            metrics_key: None,
            sockets_per_ip: limits::Rate { burst: 30, every: Duration::from_secs(2) },
            messages_per_conversation: limits::Rate { burst: 8, every: Duration::from_secs(4) },
            max_tracked_clients: 100_000,
            max_connections: 25_000,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The chat turn over the store, retriever and generator.
    pub chat: ChatService,
    /// The knowledge base's documents.
    pub library: Arc<dyn Library>,
    /// Signs and checks conversation tokens.
    pub signer: TokenSigner,
    /// The API keys of agents and admins.
    pub keys: ApiKeys,
    /// Limits on clients.
    pub limits: Arc<GatewayLimits>,
    /// Cancelled when the server shuts down; every socket watches it.
    pub shutdown: CancellationToken,
    /// The open WebSocket sessions, so shutdown can wait for them to close.
    pub sessions: TaskTracker,
    /// New visitor sockets by client IP.
    pub socket_limiter: Arc<limits::RateLimiter>,
    /// Visitor messages by conversation.
    pub message_limiter: Arc<limits::RateLimiter>,
    /// The handoff queue's depth and when it was counted, shared by `/metrics` scrapes.
    pub waiting_gauge: Arc<std::sync::Mutex<Option<(std::time::Instant, usize)>>>,
    /// Where leads are sent on (the configured webhook); none keeps them for agents only.
    pub lead_sink: Option<Arc<dyn frontdesk_core::leads::LeadSink>>,
    /// Topics, content gaps and the suggestions' review queue; none answers 503.
    pub insights: Option<Arc<insights::Insights>>,
    /// The content studio; none answers 503.
    pub content: Option<Arc<content::Studio>>,
}

impl AppState {
    /// State over a chat service, with a fresh shutdown token and session tracker.
    pub fn new(
        chat: ChatService,
        library: Arc<dyn Library>,
        signer: TokenSigner,
        keys: ApiKeys,
        limits: GatewayLimits,
    ) -> Self {
        Self {
            chat,
            library,
            signer,
            keys,
            socket_limiter: Arc::new(limits::RateLimiter::new(
                limits.sockets_per_ip,
                limits.max_tracked_clients,
            )),
            message_limiter: Arc::new(limits::RateLimiter::new(
                limits.messages_per_conversation,
                limits.max_tracked_clients,
            )),
            limits: Arc::new(limits),
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
            waiting_gauge: Arc::default(),
            lead_sink: None,
            insights: None,
            content: None,
        }
    }

    /// The same state sending leads on through `sink`.
    #[must_use]
    pub fn with_lead_sink(mut self, sink: Arc<dyn frontdesk_core::leads::LeadSink>) -> Self {
        self.lead_sink = Some(sink);
        self
    }

    /// The same state with the content studio.
    #[must_use]
    pub fn with_content(mut self, studio: Arc<content::Studio>) -> Self {
        self.content = Some(studio);
        self
    }

    /// The same state with insights.
    #[must_use]
    pub fn with_insights(mut self, insights: Arc<insights::Insights>) -> Self {
        self.insights = Some(insights);
        self
    }
}

/// Largest JSON body the API accepts.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// The gateway's routes.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/conversations", get(api::list_conversations))
        .route("/conversations/{id}", get(api::get_conversation))
        .route("/conversations/{id}/export", get(api::export_conversation))
        .route("/conversations/{id}/personal-details", get(api::personal_details))
        .route("/conversations/{id}/takeover", post(api::takeover))
        .route("/conversations/{id}/messages", post(api::reply))
        .route("/conversations/{id}/handback", post(api::handback))
        .route("/conversations/{id}/close", post(api::close))
        .route("/conversations/{id}/tags", axum::routing::put(api::set_tags))
        .route("/conversations/{id}/messages/{message_id}/correction", post(insights::correct))
        .route("/agent/ws", get(agent_ws::upgrade))
        .route("/search", get(admin::search))
        .route("/analytics/summary", get(analytics::summary))
        .route("/leads", get(leads::list))
        .route("/feedback", get(feedback::export))
        .route("/insights/topics", get(insights::topics))
        .route("/insights/topics/{id}/questions", get(insights::topic_questions))
        .route("/suggestions", get(insights::suggestions))
        .route("/suggestions/{id}/approve", post(insights::approve))
        .route("/suggestions/{id}/dismiss", post(insights::dismiss))
        .route("/content", get(content::list).post(content::write))
        .route("/content/{id}", get(content::get).put(content::edit).delete(content::delete))
        .route("/visitors/{id}", get(admin::export_visitor).delete(admin::delete_visitor))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    let documents = Router::new()
        .route("/documents", get(admin::list).post(admin::upload))
        .route("/documents/{*id}", get(admin::get).put(admin::replace).delete(admin::delete))
        .route("/catalog", get(catalog::list).post(catalog::upload))
        .route("/catalog/{id}", get(catalog::get))
        .layer(DefaultBodyLimit::max(admin::MAX_UPLOAD_BYTES));
    let api = documents.merge(api);
    Router::new()
        .nest("/api/v1", api)
        .route("/", get(pages::demo_page))
        .route("/widget.js", get(pages::widget_script))
        .route("/console", get(pages::console_page))
        .route("/admin", get(pages::admin_page))
        .route("/staff.js", get(pages::staff_script))
        .route("/openapi.yaml", get(pages::openapi))
        .route("/v1/ws", get(visitor::upgrade))
        .route("/r/{card}", get(catalog::follow_card))
        .route("/v1/models", get(openai::models))
        .route(
            "/v1/chat/completions",
            post(openai::chat_completions).layer(DefaultBodyLimit::max(MAX_JSON_BODY)),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// How long the handoff queue's depth is reused between scrapes, so scraping often does not
/// list the queue on every request.
const WAITING_GAUGE_TTL: Duration = Duration::from_secs(15);

/// Prometheus metrics: behind `metrics_key` when one is configured, else open like `/healthz`
/// (then keep the port private or block `/metrics` at the proxy).
async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> axum::response::Response {
    if let Some(key) = &state.limits.metrics_key {
        let presented = auth::bearer(&headers).unwrap_or_default();
        if !auth::same_key(presented, key) {
            return api::ApiError(frontdesk_core::Error::Unauthorized).into_response();
        }
    }
    let mut text = state.chat.metrics().render(state.chat.generator().in_flight());
    if let Some(waiting) = waiting_conversations(&state).await {
        text.push_str(&format!(
            "# HELP frontdesk_waiting_conversations Conversations waiting for a person (up to 500).\n\
             # TYPE frontdesk_waiting_conversations gauge\nfrontdesk_waiting_conversations {waiting}\n"
        ));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// The handoff queue's depth (counted up to 500), from the store at most every
/// [`WAITING_GAUGE_TTL`].
async fn waiting_conversations(state: &AppState) -> Option<usize> {
    if let Some((at, count)) = *state.waiting_gauge.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        if at.elapsed() < WAITING_GAUGE_TTL {
            return Some(count);
        }
    }
    let waiting = frontdesk_core::store::ConversationQuery {
        status: Some(frontdesk_core::model::ConversationStatus::Waiting),
        limit: 500,
        ..Default::default()
    };
    let count = state.chat.store().list_conversations(&waiting).await.ok()?.conversations.len();
    *state.waiting_gauge.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
        Some((std::time::Instant::now(), count));
    Some(count)
}

/// Ready when the store answers and the index is open (the model is loaded before the server
/// listens). An empty index is ready too: every question is then declined with an offer of a
/// person, which is the right answer for a knowledge base still being filled.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.chat.store().ping().await;
    let entries = state.chat.retriever().entry_count().await;
    let ready = store.is_ok() && entries.is_ok();
    let body = json!({
        "ready": ready,
        "store": store.is_ok(),
        "index_entries": entries.ok(),
        "model": state.chat.generator().model_name(),
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}
