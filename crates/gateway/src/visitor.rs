//! The visitor WebSocket, `GET /v1/ws`.
//!
//! One task per socket reads client frames; a second writes server frames from a bounded
//! channel, so a client that stops reading slows its own answer down instead of growing the
//! server's memory. A chat turn runs as its own task: the reader keeps reading while the answer
//! streams, and aborts the turn (cancelling the model) when the client goes away.

use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use frontdesk_core::model::{Conversation, ConversationStatus, Feedback};
use frontdesk_core::protocol::{ClientFrame, ServerFrame};
use frontdesk_core::{Error, Result};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::AppState;

/// `GET /v1/ws`: upgrades to the visitor protocol.
pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let max = state.limits.max_frame_bytes;
    let sessions = state.sessions.clone();
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| sessions.track_future(session(state, socket)))
}

async fn session(state: AppState, socket: WebSocket) {
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
        hello = tokio::time::timeout(state.limits.hello_timeout, read_frame(&mut incoming)) => hello,
        () = state.shutdown.cancelled() => Ok(None),
    };
    let conversation = match hello {
        Ok(Some(Ok(ClientFrame::Hello { token, locale, .. }))) => {
            match start_or_resume(&state, token.as_deref(), locale).await {
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
                    converse(&state, &conversation.id, &mut incoming, &frames).await;
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

/// Reads the next client frame; `None` when the socket closed.
async fn read_frame<S>(incoming: &mut S) -> Option<Result<ClientFrame>>
where
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
                tracing::debug!(%error, "visitor socket read failed");
                return None;
            }
        }
    }
}

async fn start_or_resume(
    state: &AppState,
    token: Option<&str>,
    locale: Option<String>,
) -> Result<Conversation> {
    let store = state.chat.store();
    if let Some(token) = token {
        let id = state.signer.verify(token).ok_or(Error::Unauthorized)?;
        if let Some(conversation) = store.get_conversation(&id).await? {
            return Ok(conversation);
        }
        // Expired or deleted: start afresh rather than fail.
    }
    let conversation =
        Conversation::new(frontdesk_core::new_id(), locale.map(|l| l.chars().take(16).collect()));
    store.create_conversation(&conversation).await?;
    tracing::info!(conversation_id = %conversation.id, "conversation started");
    Ok(conversation)
}

/// The main loop of a socket after `welcome`.
async fn converse<S>(
    state: &AppState,
    conversation_id: &str,
    incoming: &mut S,
    frames: &mpsc::Sender<ServerFrame>,
) where
    S: futures::Stream<Item = std::result::Result<WsMessage, axum::Error>> + Unpin,
{
    let mut turn: Option<JoinHandle<()>> = None;
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(state.limits.idle_timeout, read_frame(incoming)) => next,
            () = wait_turn(&mut turn) => { turn = None; continue; }
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
                if turn.as_ref().is_some_and(|t| !t.is_finished()) {
                    Some(ServerFrame::from_error(&Error::Busy(
                        "wait for the current answer to finish".into(),
                    )))
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
                match state.chat.store().set_status(conversation_id, ConversationStatus::Waiting, None).await
                {
                    Ok(_) => {
                        tracing::info!(conversation_id, "visitor asked for a person");
                        Some(ServerFrame::Status { status: ConversationStatus::Waiting })
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
    tokio::spawn(async move {
        let client_id: String = client_id.chars().take(128).collect();
        let work = chat.handle_visitor_message(&conversation_id, &client_id, &text, &frames);
        let result = match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::Generation("the answer took too long".into())),
        };
        if let Err(error) = result {
            if !frames.is_closed() {
                tracing::warn!(conversation_id = %conversation_id, %error, "chat turn failed");
                let _ = frames.send(ServerFrame::from_error(&error)).await;
            }
        }
    })
}
