//! Frontdesk's gateway: everything a client reaches over HTTP.
//!
//! - [`router`]: the one axum router `main` and the tests both use.
//! - [`visitor`]: the visitor WebSocket at `/v1/ws` (the protocol in `docs/protocol.md`).
//! - [`pages`]: the demo page and the widget script.
//!
//! This crate depends on `frontdesk-core`'s traits only; the binary wires the real backends
//! into [`AppState`], so changing the gateway never recompiles the model engine.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use axum::Router;
use frontdesk_core::chat::ChatService;
use frontdesk_core::token::TokenSigner;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod pages;
pub mod visitor;

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
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The chat turn over the store, retriever and generator.
    pub chat: ChatService,
    /// Signs and checks conversation tokens.
    pub signer: TokenSigner,
    /// Limits on clients.
    pub limits: Arc<GatewayLimits>,
    /// Cancelled when the server shuts down; every socket watches it.
    pub shutdown: CancellationToken,
    /// The open WebSocket sessions, so shutdown can wait for them to close.
    pub sessions: TaskTracker,
}

impl AppState {
    /// State over a chat service, with a fresh shutdown token and session tracker.
    pub fn new(chat: ChatService, signer: TokenSigner, limits: GatewayLimits) -> Self {
        Self {
            chat,
            signer,
            limits: Arc::new(limits),
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
        }
    }
}

/// The gateway's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::demo_page))
        .route("/widget.js", get(pages::widget_script))
        .route("/v1/ws", get(visitor::upgrade))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
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

/// Serves on a bound listener until `state.shutdown` is cancelled, then waits for the open
/// WebSocket sessions: each lets its answer in flight finish within the grace period and
/// closes its socket with a close frame.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    let sessions = state.sessions.clone();
    let grace = state.limits.shutdown_grace;
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
    sessions.close();
    if tokio::time::timeout(grace + Duration::from_secs(2), sessions.wait()).await.is_err() {
        tracing::warn!("sessions still open after the shutdown grace period");
    }
    result
}
