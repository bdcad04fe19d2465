//! The visitor WebSocket, `GET /v1/ws`.
//!
//! One task per socket reads client frames; a second writes server frames from a bounded
//! channel, so a client that stops reading slows its own answer down instead of growing the
//! server's memory. A chat turn runs as its own task: the reader keeps reading while the answer
//! streams, and aborts the turn (cancelling the model) when the client goes away.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use frontdesk_core::chat::{FinishedAnswer, Transition, TurnEvent};
use frontdesk_core::model::{
    valid_visitor_id, Conversation, ConversationStatus, Feedback, Role, VisitorProfile,
};
use frontdesk_core::protocol::{history_page, ClientFrame, ServerFrame, VisitorInfo};
use frontdesk_core::store::StoreEvent;
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
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return not_an_upgrade(&rejection),
    };
    if !limits::origin_allowed(&state.limits.allowed_origins, &headers) {
        tracing::info!(origin = ?headers.get(axum::http::header::ORIGIN), "visitor socket from a page origin not allowed");
        return ApiError(Error::Forbidden).into_response();
    }
    if let Some(Extension(ConnectInfo(peer))) = peer {
        let ip = limits::client_ip(
            peer,
            &headers,
            state.limits.trust_forwarded_for,
            &state.limits.trusted_proxies,
        );
        if !state.socket_limiter.allow(&ip.to_string()) {
            return ApiError(Error::RateLimited("too many connections, try again shortly".into()))
                .into_response();
        }
    }
    let max = state.limits.max_frame_bytes;
    let sessions = state.sessions.clone();
    // Small buffers: tungstenite's defaults (128 KiB each way) would cost far more per idle
    // visitor than the session itself; frames are written as they come. The write buffer's
    // limit must hold the largest frame the server sends (a history page, an answer quoting the
    // longest FAQ entry), or that frame would fail to send.
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_SERVER_FRAME_BYTES.max(max * 4))
        .on_upgrade(move |socket| sessions.track_future(session(state, socket)))
}

/// A request to a WebSocket route that is no upgrade: the API's JSON error, like every other.
pub(crate) fn not_an_upgrade(rejection: &WebSocketUpgradeRejection) -> Response {
    ApiError(Error::BadRequest(format!("this route takes a WebSocket upgrade: {}", rejection.body_text())))
        .into_response()
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

    if let Some(mut opened) = conversation {
        let conversation = opened.conversation.clone();
        // Subscribe before reading the history, so nothing written in between is missed.
        let mut events = state.chat.store().subscribe();
        let welcome = async {
            let messages = match opened.unsaved {
                Some(_) => Vec::new(),
                None => state.chat.store().list_messages(&conversation.id).await?,
            };
            let (messages, more) = history_page(&messages, None);
            Ok::<_, Error>(ServerFrame::Welcome {
                conversation_id: conversation.id.clone(),
                token: state.signer.sign(&conversation.id),
                status: conversation.status,
                visitor_id: conversation.visitor_id.clone(),
                visitor_token: state.signer.sign_visitor(&conversation.visitor_id),
                messages,
                more,
            })
        };
        match welcome.await {
            Ok(frame) => {
                if frames.send(frame).await.is_ok() {
                    let mut live = Live { events: &mut events, status: conversation.status };
                    converse(&state, &mut opened, &mut incoming, &frames, &mut live).await;
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

/// A socket's conversation, and the visitor's profile when neither is stored yet.
pub(crate) struct Opened {
    pub(crate) conversation: Conversation,
    /// `Some` while the conversation is new and empty: nothing is stored for a visitor who
    /// says hello and nothing more, so anonymous sockets cannot fill the store or the queue.
    pub(crate) unsaved: Option<VisitorProfile>,
}

async fn start_or_resume(
    state: &AppState,
    token: Option<&str>,
    locale: Option<String>,
    page_url: Option<String>,
    visitor: VisitorInfo,
) -> Result<Opened> {
    let store = state.chat.store();
    let mut resumed = None;
    if let Some(token) = token {
        let id = state.signer.verify(token).ok_or(Error::Unauthorized)?;
        // Expired, deleted or never stored: start afresh rather than fail.
        resumed = store.get_conversation(&id).await?;
    }
    // What the page says now (the product viewed changes from page to page).
    let now = frontdesk_core::now_ms();
    let profile = |visitor_id: &str| VisitorProfile {
        id: visitor_id.to_owned(),
        attributes: VisitorProfile::bounded_attributes(&visitor.attributes),
        first_seen_ms: now,
        last_seen_ms: now,
        viewed: Vec::new(),
    };
    let profile = |visitor_id: &str| {
        let mut profile = profile(visitor_id);
        for id in visitor
            .viewed
            .iter()
            .filter(|id| !id.is_empty() && id.len() <= frontdesk_core::catalog::MAX_ITEM_ID)
        {
            profile.record_view(id);
        }
        profile
    };
    if let Some(conversation) = resumed {
        store.put_visitor(&profile(&conversation.visitor_id)).await?;
        return Ok(Opened { conversation, unsaved: None });
    }
    // Only a visitor token this server issued names a visitor; a bare id is a claim anyone
    // could make about anyone.
    let visitor_id = visitor
        .id
        .as_deref()
        .and_then(|token| state.signer.verify_visitor(token))
        .filter(|id| valid_visitor_id(id))
        .unwrap_or_else(frontdesk_core::new_id);
    let mut conversation = Conversation::new(visitor_id, locale.map(|l| l.chars().take(16).collect()));
    conversation.page_url = page_url;
    let unsaved = Some(profile(&conversation.visitor_id));
    Ok(Opened { conversation, unsaved })
}

/// Stores a new conversation (in `status`) and its visitor's profile once it has something to
/// keep: its first message. Does nothing for a conversation already stored.
async fn keep(state: &AppState, opened: &mut Opened, status: ConversationStatus) -> Result<()> {
    let Some(profile) = opened.unsaved.take() else { return Ok(()) };
    let store = state.chat.store();
    let mut conversation = opened.conversation.clone();
    conversation.status = status;
    let stored = async {
        store.create_conversation(&conversation).await?;
        store.put_visitor(&profile).await
    };
    if let Err(error) = stored.await {
        opened.unsaved = Some(profile);
        return Err(error);
    }
    if status == ConversationStatus::Waiting {
        state.chat.record_transition(&Transition::VisitorAsks);
    }
    tracing::info!(conversation_id = %conversation.id, "conversation started");
    opened.conversation = conversation;
    Ok(())
}

/// Records a `track` frame on the visitor's profile: in memory until the conversation is
/// stored (nothing is stored for a visitor who has not written), else in the store.
async fn track(state: &AppState, opened: &mut Opened, event: &str, id: &str) -> Result<()> {
    if event != "viewed" {
        return Err(Error::BadRequest(format!("unknown track event {event:?}; the one kept is \"viewed\"")));
    }
    if id.is_empty() || id.len() > frontdesk_core::catalog::MAX_ITEM_ID {
        return Err(Error::BadRequest("a viewed item's id has 1 to 64 characters".into()));
    }
    if let Some(profile) = &mut opened.unsaved {
        profile.record_view(id);
        return Ok(());
    }
    let store = state.chat.store();
    let visitor_id = &opened.conversation.visitor_id;
    let mut profile = store.get_visitor(visitor_id).await?.unwrap_or_else(|| VisitorProfile {
        id: visitor_id.clone(),
        first_seen_ms: frontdesk_core::now_ms(),
        ..VisitorProfile::default()
    });
    profile.record_view(id);
    profile.last_seen_ms = frontdesk_core::now_ms();
    store.put_visitor(&profile).await
}

/// Largest frame the server writes: a history page is at most 32 KiB of text plus its newest
/// message, an answer at most one FAQ entry (the parsers refuse longer ones) with its lead-in.
const MAX_SERVER_FRAME_BYTES: usize = 256 * 1024;

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
    opened: &mut Opened,
    incoming: &mut S,
    frames: &mpsc::Sender<ServerFrame>,
    live: &mut Live<'_>,
) where
    S: futures::Stream<Item = std::result::Result<WsMessage, axum::Error>> + Unpin,
{
    let conversation_id = &opened.conversation.id.clone();
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
        // Every frame that writes to the store (a message, feedback, a handoff) draws on the
        // conversation's rate limit, so no kind of frame can flood the store.
        let writes = matches!(
            frame,
            ClientFrame::Message { .. }
                | ClientFrame::Feedback { .. }
                | ClientFrame::Handoff {}
                | ClientFrame::Track { .. }
                | ClientFrame::Lead { .. }
                | ClientFrame::Withdraw {}
        );
        if writes && !state.message_limiter.allow(conversation_id) {
            // A page view past the limit is dropped quietly: the visitor did not type it, and
            // the widget would show the error in the chat.
            if matches!(frame, ClientFrame::Track { .. }) {
                continue;
            }
            let limited =
                Error::RateLimited("you are sending messages too quickly; wait a few seconds".into());
            if frames.send(ServerFrame::from_error(&limited)).await.is_err() {
                break;
            }
            continue;
        }
        let reply = match frame {
            ClientFrame::Ping => Some(ServerFrame::Pong),
            ClientFrame::History { before } => {
                match state.chat.store().list_messages(conversation_id).await {
                    Ok(messages) => {
                        let (messages, more) = history_page(&messages, Some(before));
                        Some(ServerFrame::History { messages, more })
                    }
                    Err(error) => Some(ServerFrame::from_error(&error)),
                }
            }
            ClientFrame::Hello { .. } => {
                Some(ServerFrame::from_error(&Error::BadRequest("hello was already sent".into())))
            }
            ClientFrame::Message { id, text } => {
                // A new conversation is stored with its first message (already queued for a
                // person if the visitor asked for one before writing).
                let status = live.status;
                if let Err(error) = keep(state, opened, status).await {
                    Some(ServerFrame::from_error(&error))
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
            ClientFrame::Lead { contact, consent } => {
                match crate::leads::save(state, opened, &contact, consent).await {
                    Ok(lead_id) => Some(ServerFrame::LeadSaved { lead_id }),
                    Err(error) => Some(ServerFrame::from_error(&error)),
                }
            }
            ClientFrame::Withdraw {} => {
                match state.chat.store().delete_leads_of_visitor(&opened.conversation.visitor_id).await {
                    Ok(deleted) => {
                        tracing::info!(deleted, "a visitor withdrew their consent; their leads are deleted");
                        Some(ServerFrame::LeadWithdrawn { deleted })
                    }
                    Err(error) => Some(ServerFrame::from_error(&error)),
                }
            }
            ClientFrame::Track { event, id } => match track(state, opened, &event, &id).await {
                Ok(()) => None,
                Err(error) => Some(ServerFrame::from_error(&error)),
            },
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
            // Not stored yet: the request is remembered and the conversation goes to the queue
            // with its first message, so an empty socket never fills the agents' queue.
            ClientFrame::Handoff {} if opened.unsaved.is_some() => {
                live.status = ConversationStatus::Waiting;
                Some(ServerFrame::Status { status: ConversationStatus::Waiting, agent: None })
            }
            ClientFrame::Handoff {} => {
                match state.chat.transition(conversation_id, &Transition::VisitorAsks).await {
                    // Always answered, so the widget knows the request arrived.
                    Ok(outcome) => match outcome.into_conversation() {
                        Some(conversation) => {
                            live.status = conversation.status;
                            let agent = conversation
                                .assigned_agent
                                .filter(|_| conversation.status == ConversationStatus::Agent);
                            Some(ServerFrame::Status { status: conversation.status, agent })
                        }
                        None => Some(ServerFrame::from_error(&Error::NotFound("conversation".into()))),
                    },
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

/// The widget's frame for a turn event, if the widget is sent one. Status changes made by the
/// turn reach the socket through the store's event feed (like changes made by agents), so the
/// visitor is told each change once.
fn frame_for_turn(event: TurnEvent) -> Option<ServerFrame> {
    match event {
        TurnEvent::Acknowledged { client_message_id, message_id } => {
            Some(ServerFrame::Ack { id: client_message_id, message_id })
        }
        TurnEvent::Token { message_id, text } => Some(ServerFrame::Token { message_id, text }),
        TurnEvent::Done(FinishedAnswer { message_id, text, sources, cards, offer, usage, .. }) => {
            Some(ServerFrame::Done { message_id, text, sources, cards, offer, usage })
        }
        TurnEvent::StatusChanged { .. } => None,
    }
}

/// Events a turn may emit ahead of the socket's writer; the writer's own channel bounds the rest.
const TURN_EVENTS: usize = 8;

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
        let (events, mut turn_events) = mpsc::channel(TURN_EVENTS);
        let work = async {
            let work = chat.handle_visitor_message(&conversation_id, &client_id, &text, &events);
            let result = match tokio::time::timeout(limit, work).await {
                Ok(result) => result,
                Err(_) => {
                    chat.metrics().turn(frontdesk_core::metrics::TurnOutcome::Failed);
                    Err(Error::Generation("the answer took too long".into()))
                }
            };
            // The turn is over: the forwarding below ends once it has sent what is left.
            drop(events);
            result
        };
        // Forwards the turn's events as frames; when the socket's writer is gone the receiver
        // is dropped, so the turn's next event fails and the generation stops.
        let forward = async {
            while let Some(event) = turn_events.recv().await {
                let Some(frame) = frame_for_turn(event) else { continue };
                if frames.send(frame).await.is_err() {
                    break;
                }
            }
            drop(turn_events);
        };
        let (result, ()) = tokio::join!(work, forward);
        if let Err(error) = result {
            if !frames.is_closed() {
                tracing::warn!(conversation_id = %conversation_id, %error, "chat turn failed");
                let _ = frames.send(ServerFrame::from_error(&error)).await;
            }
        }
    })
}
