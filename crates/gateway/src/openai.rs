//! The OpenAI-compatible API: `POST /v1/chat/completions` (streamed as server-sent events or
//! not) and `GET /v1/models`, answered by the same retrieval-grounded assistant as the widget.
//!
//! The last `user` message is the question (the user and assistant messages before it are the
//! conversation, which a follow-up question is searched with); the answer is the assistant's (a curated FAQ
//! answer, a generated one, or the plain "not in our FAQ" with the offer of a person), and the
//! FAQ entries it used travel in an extra `sources` field (on the last chunk when streaming).
//! Any configured API key may call it, as `Authorization: Bearer KEY`.

use std::convert::Infallible;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use frontdesk_core::chat::{AnswerMode, FinishedAnswer, TurnEvent};
use frontdesk_core::model::{Message, Role, Source};
use frontdesk_core::protocol::MAX_MESSAGE_CHARS;
use frontdesk_core::Error;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::api::ApiResult;
use crate::auth::bearer;
use crate::AppState;

/// One message of the request.
#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    role: String,
    /// Text, or an array of parts of which the `text` ones are read.
    #[serde(default)]
    content: Value,
}

/// The request body; fields this server does not use (temperature, tools...) are ignored.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    /// Frontdesk's own field: `generative`, `extractive` or `auto` for this request only.
    #[serde(default)]
    answer_mode: Option<AnswerMode>,
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn authorise(state: &AppState, headers: &HeaderMap) -> Result<(), Error> {
    bearer(headers).and_then(|key| state.keys.authenticate(key)).map(|_| ()).ok_or(Error::Unauthorized)
}

/// `GET /v1/models`
pub async fn models(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    authorise(&state, &headers)?;
    Ok(Json(json!({
        "object": "list",
        "data": [{"id": state.chat.generator().model_name(), "object": "model", "created": 0, "owned_by": "frontdesk"}],
    })))
}

fn sources_json(sources: &[Source]) -> Value {
    serde_json::to_value(sources).unwrap_or(Value::Null)
}

/// How many earlier turns of a request are read (the prompt keeps what fits of them).
const EARLIER_TURNS: usize = 20;

/// The user and assistant messages of a request as the conversation's earlier messages, the
/// newest [`EARLIER_TURNS`] of them, each cut to the length of a visitor's message.
fn earlier_turns(messages: &[ChatMessage]) -> Vec<Message> {
    let turns: Vec<Message> = messages
        .iter()
        .filter_map(|m| {
            let role = match m.role.as_str() {
                "user" => Role::Visitor,
                "assistant" => Role::Assistant,
                _ => return None,
            };
            let text: String = text_of(&m.content).trim().chars().take(MAX_MESSAGE_CHARS).collect();
            (!text.is_empty()).then(|| Message::new(role, text))
        })
        .collect();
    let skip = turns.len().saturating_sub(EARLIER_TURNS);
    turns.into_iter().skip(skip).collect()
}

/// `POST /v1/chat/completions`
pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ChatRequest>, JsonRejection>,
) -> ApiResult<Response> {
    authorise(&state, &headers)?;
    let Json(request) = body?;
    let last_user = request.messages.iter().rposition(|m| m.role == "user");
    let question = last_user.map(|i| text_of(&request.messages[i].content)).unwrap_or_default();
    let question = question.trim().to_owned();
    // The turns before the question: a follow-up ("and for courses?") is searched with them.
    let earlier = earlier_turns(&request.messages[..last_user.unwrap_or(0)]);
    if question.is_empty() {
        return Err(Error::BadRequest("the messages need a user message with text".into()).into());
    }
    if question.chars().count() > MAX_MESSAGE_CHARS {
        return Err(
            Error::BadRequest(format!("the question is longer than {MAX_MESSAGE_CHARS} characters")).into()
        );
    }
    let model = request.model.unwrap_or_else(|| state.chat.generator().model_name().to_owned());
    let id = format!("chatcmpl-{}", frontdesk_core::new_id());
    let created = frontdesk_core::now_ms() / 1_000;

    // The answer streams as turn events from a task, as for the widget; dropping the receiver
    // (the client went away) ends the task and the generation.
    let (frames, mut incoming) = mpsc::channel::<TurnEvent>(state.limits.outgoing_frames);
    let chat = match request.answer_mode {
        Some(mode) => state.chat.with_answer_mode(mode),
        None => state.chat.clone(),
    };
    let turn_timeout = state.limits.turn_timeout;
    let answer = state.sessions.spawn(async move {
        match tokio::time::timeout(turn_timeout, chat.answer(&earlier, &question, Instant::now(), &frames))
            .await
        {
            Ok(result) => result.map(|_| ()),
            Err(_) => Err(Error::Generation("the answer took too long".into())),
        }
    });

    if !request.stream {
        let mut done = None;
        while let Some(frame) = incoming.recv().await {
            if let TurnEvent::Done(FinishedAnswer { text, sources, cards, usage, .. }) = frame {
                done = Some((text, sources, cards, usage));
            }
        }
        answer.await.map_err(|e| Error::Internal(format!("answer task failed: {e}")))??;
        let (text, sources, cards, usage) =
            done.ok_or_else(|| Error::Internal("the answer ended without its text".into()))?;
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            },
            "sources": sources_json(&sources),
            "cards": cards,
        }))
        .into_response());
    }

    // `extra`: fields added to the last chunk (the sources and the cards).
    let chunk = move |delta: Value, finish: Option<&str>, extra: Option<Value>| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        if let Some(Value::Object(extra)) = extra {
            for (field, value) in extra {
                chunk[field] = value;
            }
        }
        Event::default().data(chunk.to_string())
    };
    let events = async_stream(incoming, answer, chunk);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

/// The SSE events of a streamed answer: the role first, then one chunk per piece, a last
/// chunk with `finish_reason` and the sources, and `[DONE]`. A failure ends the stream with an
/// `error` object, as OpenAI's servers do.
fn async_stream(
    incoming: mpsc::Receiver<TurnEvent>,
    answer: tokio::task::JoinHandle<frontdesk_core::Result<()>>,
    chunk: impl Fn(Value, Option<&str>, Option<Value>) -> Event + Send + 'static,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    enum Step {
        Start,
        Streaming,
        Finished,
    }
    let state = (incoming, Some(answer), chunk, Step::Start);
    futures::stream::unfold(state, |(mut incoming, mut answer, chunk, step)| async move {
        match step {
            Step::Start => {
                let event = chunk(json!({"role": "assistant", "content": ""}), None, None);
                Some((Ok(event), (incoming, answer, chunk, Step::Streaming)))
            }
            Step::Streaming => loop {
                match incoming.recv().await {
                    Some(TurnEvent::Token { text, .. }) => {
                        let event = chunk(json!({"content": text}), None, None);
                        return Some((Ok(event), (incoming, answer, chunk, Step::Streaming)));
                    }
                    Some(TurnEvent::Done(FinishedAnswer { sources, cards, .. })) => {
                        let extra = json!({"sources": sources_json(&sources), "cards": cards});
                        let event = chunk(json!({}), Some("stop"), Some(extra));
                        return Some((Ok(event), (incoming, answer, chunk, Step::Finished)));
                    }
                    Some(_) => continue,
                    None => {
                        // Ended without `done`: report why.
                        let error = match answer.take() {
                            Some(task) => match task.await {
                                Ok(Err(error)) => error,
                                _ => Error::Internal("the answer ended early".into()),
                            },
                            None => Error::Internal("the answer ended early".into()),
                        };
                        let body = json!({"error": {"code": error.code().as_str(), "message": error.public_message()}});
                        let event = Event::default().data(body.to_string());
                        return Some((Ok(event), (incoming, None, chunk, Step::Finished)));
                    }
                }
            },
            Step::Finished => {
                // After `done`, one `[DONE]`; after an error, nothing more.
                let done = answer.take().map(|_| Event::default().data("[DONE]"))?;
                Some((Ok(done), (incoming, None, chunk, Step::Finished)))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: &str, content: Value) -> ChatMessage {
        ChatMessage { role: role.into(), content }
    }

    #[test]
    fn the_turns_before_the_question_become_the_conversation() {
        let messages = vec![
            message("system", json!("be brief")),
            message("user", json!("what is your return policy")),
            message("assistant", json!([{"type": "text", "text": "30 days."}])),
            message("tool", json!("ignored")),
            message("user", json!("  ")),
        ];
        let earlier = earlier_turns(&messages);
        let seen: Vec<(Role, &str)> = earlier.iter().map(|m| (m.role, m.text.as_str())).collect();
        assert_eq!(seen, [(Role::Visitor, "what is your return policy"), (Role::Assistant, "30 days.")]);

        let long: Vec<ChatMessage> = (0..50)
            .map(|i| message("user", json!("x".repeat(MAX_MESSAGE_CHARS + 10) + &i.to_string())))
            .collect();
        let kept = earlier_turns(&long);
        assert_eq!(kept.len(), EARLIER_TURNS, "only the newest turns are read");
        assert!(kept.iter().all(|m| m.text.chars().count() == MAX_MESSAGE_CHARS));
    }
}
