//! The visitor WebSocket, `GET /v1/ws`.
//!
//! One task per socket reads client frames; a second writes server frames from a bounded
//! channel, so a client that stops reading slows its own answer down instead of growing the
//! server's memory. A chat turn runs as its own task: the reader keeps reading while the answer
//! streams, and aborts the turn (cancelling the model) when the client goes away.

use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use frontdesk_core::metrics::HandoffReason;
use frontdesk_core::model::{
    valid_visitor_id, Conversation, ConversationStatus, Feedback, Role, VisitorProfile,
};
use frontdesk_core::protocol::{ClientFrame, ServerFrame, VisitorInfo};
use frontdesk_core::store::{StatusChange, StoreEvent};
use frontdesk_core::{Error, Result};
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::api::ApiError;
use crate::{limits, AppState};

/// `GET /v1/ws`: upgrades to the visitor protocol, unless the page's origin is not allowed
/// (`403`) or the client opened too many sockets lately (`429`).
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ws: WebSocketUpgrade,
) -> Response {
    if !limits::origin_allowed(&state.limits.allowed_origins, &headers) {
        tracing::info!(origin = ?headers.get(axum::http::header::ORIGIN), "visitor socket from a page origin not allowed");
        return ApiError(Error::Forbidden).into_response();
    }
    if let Some(Extension(ConnectInfo(peer))) = peer {
        let ip = limits::client_ip(peer, &headers, state.limits.trust_forwarded_for);
        if !state.socket_limiter.allow(&ip.to_string()) {
            return ApiError(Error::RateLimited("too many connections, try again shortly".into()))
                .into_response();
        }
    }
    let max = state.limits.max_frame_bytes;
    let sessions = state.sessions.clone();
    // Small buffers: tungstenite's defaults (128 KiB each way) would cost far more per idle
    // visitor than the session itself; frames are small and written as they come.
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(max * 4)
        .on_upgrade(move |socket| sessions.track_future(session(state, socket)))
}

async fn session(state: AppState, socket: WebSocket) {
    state.chat.metrics().visitor_socket(1);
    visitor_session(&state, socket).await;
    state.chat.metrics().visitor_socket(-1);
}

async fn visitor_session(state: &AppState, socket: WebSocket) {
    let state = state.clone();
    let (mut sink, mut incoming) = socket.split();
    let (frames, mut outgoing) = mpsc::channel::<ServerFrame>(state.limits.outgoing_frames);
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            let text = match serde_json::to_string(&frame) {
                Ok(text) => text,
                Err(error) => {
                    tracing::error!(%error, "server frame did not serialise");
                    continue;
                }
            };
            if sink.send(WsMessage::Text(Utf8Bytes::from(text))).await.is_err() {
                return;
            }
        }
        let _ = sink.send(WsMessage::Close(None)).await;
    });

    let hello = tokio::select! {
        hello = tokio::time::timeout(state.limits.hello_timeout, read_json::<ClientFrame, _>(&mut incoming)) => hello,
        () = state.shutdown.cancelled() => Ok(None),
    };
    let conversation = match hello {
        Ok(Some(Ok(ClientFrame::Hello { token, locale, visitor, page }))) => {
            let page = page.as_deref().and_then(frontdesk_core::model::page_url);
            match start_or_resume(&state, token.as_deref(), locale, page, visitor.unwrap_or_default()).await {
                Ok(conversation) => Some(conversation),
                Err(error) => {
                    let _ = frames.send(ServerFrame::from_error(&error)).await;
                    None
                }
            }
        }
        Ok(Some(Ok(_))) => {
            let error = Error::BadRequest("the first frame must be hello".into());
            let _ = frames.send(ServerFrame::from_error(&error)).await;
            None
        }
        Ok(Some(Err(error))) => {
            let _ = frames.send(ServerFrame::from_error(&error)).await;
            None
        }
        Ok(None) => None,
        Err(_) => {
            let error = Error::BadRequest("no hello frame in time".into());
            let _ = frames.send(ServerFrame::from_error(&error)).await;
            None
        }
    };

    if let Some(conversation) = conversation {
        // Subscribe before reading the history, so nothing written in between is missed.
        let mut events = state.chat.store().subscribe();
        let welcome = async {
            let messages = state.chat.store().list_messages(&conversation.id).await?;
            Ok::<_, Error>(ServerFrame::Welcome {
                conversation_id: conversation.id.clone(),
                token: state.signer.sign(&conversation.id),
                status: conversation.status,
                messages,
            })
        };
        match welcome.await {
            Ok(frame) => {
                if frames.send(frame).await.is_ok() {
                    let mut live = Live { events: &mut events, status: conversation.status };
                    converse(&state, &conversation.id, &mut incoming, &frames, &mut live).await;
                }
            }
            Err(error) => {
                let _ = frames.send(ServerFrame::from_error(&error)).await;
            }
        }
    }
    drop(frames);
    let _ = writer.await;
}

/// Reads the next JSON text frame of a socket (skipping pings and pongs); `None` when the
/// socket closed. A frame that is not JSON of the expected shape is a `bad_request`.
pub(crate) async fn read_json<T, S>(incoming: &mut S) -> Option<Result<T>>
where
    T: serde::de::DeserializeOwned,
    S: futures::Stream<Item = std::result::Result<WsMessage, axum::Error>> + Unpin,
{
    loop {
        match incoming.next().await? {
            Ok(WsMessage::Text(text)) => {
                return Some(
                    serde_json::from_str(text.as_str())
                        .map_err(|e| Error::BadRequest(format!("malformed frame: {e}"))),
                )
            }
            Ok(WsMessage::Binary(_)) => {
                return Some(Err(Error::BadRequest("frames must be JSON text".into())))
            }
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
            Ok(WsMessage::Close(_)) => return None,
            Err(error) => {
                tracing::debug!(%error, "socket read failed");
                return None;
            }
        }
    }
}

async fn start_or_resume(
    state: &AppState,
    token: Option<&str>,
    locale: Option<String>,
    page_url: Option<String>,
    visitor: VisitorInfo,
) -> Result<Conversation> {
    let store = state.chat.store();
    let mut resumed = None;
    if let Some(token) = token {
        let id = state.signer.verify(token).ok_or(Error::Unauthorized)?;
        // Expired or deleted: start afresh rather than fail.
        resumed = store.get_conversation(&id).await?;
    }
    let conversation = match resumed {
        Some(conversation) => conversation,
        None => {
            let visitor_id = visitor
                .id
                .as_deref()
                .filter(|id| valid_visitor_id(id))
                .map_or_else(frontdesk_core::new_id, str::to_owned);
            let mut conversation =
                Conversation::new(visitor_id, locale.map(|l| l.chars().take(16).collect()));
            conversation.page_url = page_url;
            store.create_conversation(&conversation).await?;
            tracing::info!(conversation_id = %conversation.id, "conversation started");
            conversation
        }
    };
    // What the page says now (the product viewed changes from page to page).
    let now = frontdesk_core::now_ms();
    let profile = VisitorProfile {
        id: conversation.visitor_id.clone(),
        attributes: VisitorProfile::bounded_attributes(&visitor.attributes),
        first_seen_ms: now,
        last_seen_ms: now,
    };
    store.put_visitor(&profile).await?;
    Ok(conversation)
}

/// Messages a visitor may send ahead while an answer is being written; more get `busy`.
const MAX_QUEUED_MESSAGES: usize = 2;

/// What a socket follows of its conversation besides its own turns: agents' messages and
/// status changes, from any replica.
struct Live<'a> {
    events: &'a mut broadcast::Receiver<StoreEvent>,
    /// The status the visitor was last told, so a change is announced once.
    status: ConversationStatus,
}

impl Live<'_> {
    /// The frame to send the visitor for an event, if any.
    fn frame_for(&mut self, conversation_id: &str, event: StoreEvent) -> Option<ServerFrame> {
        if event.conversation_id() != Some(conversation_id) {
            return None;
        }
        match event {
            StoreEvent::Message { message, .. } if message.role == Role::Agent => {
                Some(ServerFrame::AgentMessage {
                    message_id: message.id,
                    text: message.text,
                    agent: message.agent.unwrap_or_default(),
                })
            }
            StoreEvent::Status { conversation } => {
                self.status_frame(conversation.status, conversation.assigned_agent)
            }
            _ => None,
        }
    }

    fn status_frame(&mut self, status: ConversationStatus, agent: Option<String>) -> Option<ServerFrame> {
        if status == self.status {
            return None;
        }
        self.status = status;
        let agent = if status == ConversationStatus::Agent { agent } else { None };
        Some(ServerFrame::Status { status, agent })
    }
}

async fn next_event(events: &mut broadcast::Receiver<StoreEvent>) -> Option<StoreEvent> {
    loop {
        match events.recv().await {
            Ok(event) => return Some(event),
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "visitor socket fell behind the event feed");
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

/// The main loop of a socket after `welcome`.
async fn converse<S>(
    state: &AppState,
    conversation_id: &str,
    incoming: &mut S,
    frames: &mpsc::Sender<ServerFrame>,
    live: &mut Live<'_>,
) where
    S: futures::Stream<Item = std::result::Result<WsMessage, axum::Error>> + Unpin,
{
    let mut turn: Option<JoinHandle<()>> = None;
    // Messages sent while an answer is being written wait here (a client that sends its next
    // question right after `done` may be a moment ahead of the turn's last store write).
    let mut queued: std::collections::VecDeque<(String, String)> = std::collections::VecDeque::new();
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(state.limits.idle_timeout, read_json::<ClientFrame, _>(incoming)) => next,
            () = wait_turn(&mut turn) => {
                turn = queued.pop_front().map(|(id, text)| spawn_turn(state, conversation_id, id, text, frames.clone()));
                continue;
            }
            event = next_event(live.events) => {
                let Some(event) = event else { break };
                if let Some(frame) = live.frame_for(conversation_id, event) {
                    if frames.send(frame).await.is_err() {
                        break;
                    }
                }
                continue;
            }
            () = state.shutdown.cancelled() => {
                // Let the answer in flight finish within the grace period, then close.
                if let Some(handle) = turn.as_mut() {
                    let _ = tokio::time::timeout(state.limits.shutdown_grace, handle).await;
                }
                break;
            }
        };
        let frame = match next {
            Err(_) => {
                tracing::debug!(conversation_id, "visitor idle, closing");
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                if frames.send(ServerFrame::from_error(&error)).await.is_err() {
                    break;
                }
                continue;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let reply = match frame {
            ClientFrame::Ping => Some(ServerFrame::Pong),
            ClientFrame::Hello { .. } => {
                Some(ServerFrame::from_error(&Error::BadRequest("hello was already sent".into())))
            }
            ClientFrame::Message { id, text } => {
                if !state.message_limiter.allow(conversation_id) {
                    Some(ServerFrame::from_error(&Error::RateLimited(
                        "you are sending messages too quickly; wait a few seconds".into(),
                    )))
                } else if turn.is_some() {
                    if queued.len() < MAX_QUEUED_MESSAGES {
                        queued.push_back((id, text));
                        None
                    } else {
                        Some(ServerFrame::from_error(&Error::Busy(
                            "wait for the current answer to finish".into(),
                        )))
                    }
                } else {
                    turn = Some(spawn_turn(state, conversation_id, id, text, frames.clone()));
                    None
                }
            }
            ClientFrame::Feedback { message_id, value, comment } => {
                let comment = comment.map(|c| c.chars().take(1_000).collect());
                match state
                    .chat
                    .store()
                    .set_feedback(conversation_id, &message_id, Feedback { value, comment })
                    .await
                {
                    Ok(true) => None,
                    Ok(false) => Some(ServerFrame::from_error(&Error::NotFound("message".into()))),
                    Err(error) => Some(ServerFrame::from_error(&error)),
                }
            }
            ClientFrame::Handoff {} => {
                use ConversationStatus::{Bot, Closed, Waiting};
                let change = StatusChange::to(Waiting).only_from(&[Bot, Closed]);
                match state.chat.store().set_status(conversation_id, &change).await {
                    Ok(outcome) => {
                        let changed = outcome.changed();
                        match outcome.into_conversation() {
                            Some(conversation) => {
                                if changed {
                                    state.chat.metrics().handoff(HandoffReason::Requested);
                                    tracing::info!(conversation_id, "visitor asked for a person");
                                }
                                // Always answered, so the widget knows the request arrived.
                                live.status = conversation.status;
                                let agent = conversation
                                    .assigned_agent
                                    .filter(|_| conversation.status == ConversationStatus::Agent);
                                Some(ServerFrame::Status { status: conversation.status, agent })
                            }
                            None => Some(ServerFrame::from_error(&Error::NotFound("conversation".into()))),
                        }
                    }
                    Err(error) => Some(ServerFrame::from_error(&error)),
                }
            }
        };
        if let Some(reply) = reply {
            if frames.send(reply).await.is_err() {
                break;
            }
        }
    }
    if let Some(turn) = turn {
        // The visitor left: stop the answer (and the model) now.
        turn.abort();
    }
}

async fn wait_turn(turn: &mut Option<JoinHandle<()>>) {
    match turn {
        Some(handle) => {
            let _ = handle.await;
        }
        None => std::future::pending().await,
    }
}

fn spawn_turn(
    state: &AppState,
    conversation_id: &str,
    client_id: String,
    text: String,
    frames: mpsc::Sender<ServerFrame>,
) -> JoinHandle<()> {
    let chat = state.chat.clone();
    let conversation_id = conversation_id.to_owned();
    let limit: Duration = state.limits.turn_timeout;
    state.sessions.spawn(async move {
        let client_id: String = client_id.chars().take(128).collect();
        let work = chat.handle_visitor_message(&conversation_id, &client_id, &text, &frames);
        let result = match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => {
                chat.metrics().turn(frontdesk_core::metrics::TurnOutcome::Failed);
                Err(Error::Generation("the answer took too long".into()))
            }
        };
        if let Err(error) = result {
            if !frames.is_closed() {
                tracing::warn!(conversation_id = %conversation_id, %error, "chat turn failed");
                let _ = frames.send(ServerFrame::from_error(&error)).await;
            }
        }
    })
}
