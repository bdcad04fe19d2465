//! The agents' live feed, `GET /api/v1/agent/ws`.
//!
//! Browsers cannot set headers on a WebSocket, so the key comes either as `Authorization:
//! Bearer` on the upgrade or in a first frame `{"type": "auth", "key": "..."}`. After that the
//! server sends `ready` with the queue (conversations waiting for a person), then every
//! conversation change (`conversation`) and stored message (`message`) from every replica.
//! An agent whose client reads too slowly falls behind the event buffer and is sent `resync`:
//! reload the lists. The client may send `ping` (answered by `pong`).

use axum::extract::ws::{Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use frontdesk_core::model::{Conversation, ConversationStatus, Message};
use frontdesk_core::store::{ConversationQuery, StoreEvent};
use frontdesk_core::Error;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{bearer, ApiKey, Role};
use crate::AppState;

/// A frame the agent's client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum AgentClientFrame {
    Auth { key: String },
    Ping,
}

/// A frame sent to an agent.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum AgentFrame<'a> {
    Ready { agent: &'a str, queue: Vec<Conversation> },
    Conversation { conversation: &'a Conversation },
    Message { conversation_id: &'a str, message: &'a Message },
    Resync,
    Pong,
    Error { code: &'static str, message: String },
}

impl AgentFrame<'_> {
    fn from_error(error: &Error) -> AgentFrame<'static> {
        AgentFrame::Error { code: error.code().as_str(), message: error.public_message() }
    }
}

/// Most waiting conversations sent in `ready`.
const QUEUE_SNAPSHOT: usize = 200;

/// `GET /api/v1/agent/ws`
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return crate::visitor::not_an_upgrade(&rejection),
    };
    let header_key = bearer(&headers).map(|presented| state.keys.require(Some(presented), Role::Agent));
    let sessions = state.sessions.clone();
    // Agents send only `auth` and `ping`: a larger frame is refused from its header, before its
    // payload is read (tungstenite's default frame limit, 16 MiB, would be read first).
    ws.max_message_size(4 * 1024)
        .max_frame_size(4 * 1024)
        .on_upgrade(move |socket| sessions.track_future(session(state, socket, header_key)))
}

async fn send(socket: &mut WebSocket, frame: &AgentFrame<'_>) -> bool {
    match serde_json::to_string(frame) {
        Ok(text) => socket.send(WsMessage::Text(Utf8Bytes::from(text))).await.is_ok(),
        Err(error) => {
            tracing::error!(%error, "agent frame did not serialise");
            true
        }
    }
}

async fn read(socket: &mut WebSocket) -> Option<Result<AgentClientFrame, Error>> {
    crate::visitor::read_json(socket).await
}

async fn authenticate(
    state: &AppState,
    socket: &mut WebSocket,
    header_key: Option<Result<ApiKey, Error>>,
) -> Result<ApiKey, Error> {
    if let Some(key) = header_key {
        return key;
    }
    match tokio::time::timeout(state.limits.hello_timeout, read(socket)).await {
        Ok(Some(Ok(AgentClientFrame::Auth { key }))) => state.keys.require(Some(&key), Role::Agent),
        Ok(Some(Ok(_))) => Err(Error::BadRequest("the first frame must be auth".into())),
        Ok(Some(Err(error))) => Err(error),
        Ok(None) | Err(_) => Err(Error::Unauthorized),
    }
}

async fn session(state: AppState, socket: WebSocket, header_key: Option<Result<ApiKey, Error>>) {
    state.chat.metrics().agent_socket(1);
    feed(&state, socket, header_key).await;
    state.chat.metrics().agent_socket(-1);
}

async fn feed(state: &AppState, mut socket: WebSocket, header_key: Option<Result<ApiKey, Error>>) {
    let agent = match authenticate(state, &mut socket, header_key).await {
        Ok(agent) => agent,
        Err(error) => {
            send(&mut socket, &AgentFrame::from_error(&error)).await;
            let _ = socket.send(WsMessage::Close(None)).await;
            return;
        }
    };
    // Subscribe before reading the queue, so no change between the two is missed.
    let mut events = state.chat.store().subscribe();
    let query = ConversationQuery {
        status: Some(ConversationStatus::Waiting),
        limit: QUEUE_SNAPSHOT,
        ..ConversationQuery::default()
    };
    let queue = match state.chat.store().list_conversations(&query).await {
        Ok(page) => page.conversations,
        Err(error) => {
            send(&mut socket, &AgentFrame::from_error(&error)).await;
            let _ = socket.send(WsMessage::Close(None)).await;
            return;
        }
    };
    if !send(&mut socket, &AgentFrame::Ready { agent: &agent.name, queue }).await {
        return;
    }
    loop {
        tokio::select! {
            incoming = tokio::time::timeout(state.limits.idle_timeout, read(&mut socket)) => {
                let reply = match incoming {
                    Err(_) | Ok(None) => break,
                    Ok(Some(Ok(AgentClientFrame::Ping))) => AgentFrame::Pong,
                    Ok(Some(Ok(AgentClientFrame::Auth { .. }))) => {
                        AgentFrame::from_error(&Error::BadRequest("already signed in".into()))
                    }
                    Ok(Some(Err(error))) => AgentFrame::from_error(&error),
                };
                if !send(&mut socket, &reply).await {
                    break;
                }
            }
            event = events.recv() => {
                let sent = match event {
                    Ok(StoreEvent::Status { conversation }) => {
                        send(&mut socket, &AgentFrame::Conversation { conversation: &conversation }).await
                    }
                    Ok(StoreEvent::Message { conversation_id, message }) => {
                        send(&mut socket, &AgentFrame::Message { conversation_id: &conversation_id, message: &message }).await
                    }
                    Ok(StoreEvent::Document { .. }) => true,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, agent = %agent.name, "agent feed fell behind");
                        send(&mut socket, &AgentFrame::Resync).await
                    }
                    Err(RecvError::Closed) => false,
                };
                if !sent {
                    break;
                }
            }
            () = state.shutdown.cancelled() => break,
        }
    }
    let _ = socket.send(WsMessage::Close(None)).await;
}
