//! The remote engine: an OpenAI-compatible server (vLLM, llama.cpp's server, mistral.rs's
//! server, or another Frontdesk) called over HTTP with streaming, so inference can run on a
//! separate pool of GPU machines.

use std::time::Duration;

use async_trait::async_trait;
use frontdesk_core::generate::{GenerationEvent, GenerationRequest, GenerationStream, Generator, PromptRole};
use frontdesk_core::Error;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::admission::Admission;

/// How long the remote server may stay silent in the middle of an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest server-sent event accepted, so a misbehaving server cannot grow the buffer.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Where the remote engine is.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Base URL ending in `/v1`, such as `http://gpu-pool:8000/v1`.
    pub base_url: String,
    /// Bearer key, if the server wants one.
    pub api_key: Option<String>,
    /// The model name sent in requests.
    pub model: String,
    /// Generations sent at once before `busy`.
    pub max_in_flight: usize,
}

/// Streams chat completions from an OpenAI-compatible server.
pub struct RemoteGenerator {
    http: reqwest::Client,
    config: RemoteConfig,
    admission: Admission,
}

impl std::fmt::Debug for RemoteGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteGenerator").field("base_url", &self.config.base_url).finish_non_exhaustive()
    }
}

impl RemoteGenerator {
    /// A client of the server in `config`; nothing is sent until the first answer.
    pub fn new(config: RemoteConfig) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Internal(format!("http client: {e}")))?;
        let admission = Admission::new(config.max_in_flight);
        Ok(Self { http, config, admission })
    }
}

fn role(role: PromptRole) -> &'static str {
    match role {
        PromptRole::System => "system",
        PromptRole::User => "user",
        PromptRole::Assistant => "assistant",
    }
}

/// The text of the complete characters at the start of `pending`, which keeps the bytes of a
/// character the next chunk completes. Bytes that can never be UTF-8 become U+FFFD.
fn take_utf8(pending: &mut Vec<u8>) -> String {
    let mut text = String::new();
    loop {
        match std::str::from_utf8(pending) {
            Ok(valid) => {
                text.push_str(valid);
                pending.clear();
                return text;
            }
            Err(error) => {
                let valid = error.valid_up_to();
                text.push_str(std::str::from_utf8(&pending[..valid]).unwrap_or_default());
                match error.error_len() {
                    // Cut short: the rest comes with the next chunk.
                    None => {
                        pending.drain(..valid);
                        return text;
                    }
                    Some(bad) => {
                        text.push(char::REPLACEMENT_CHARACTER);
                        pending.drain(..valid + bad);
                    }
                }
            }
        }
    }
}

/// The events of one parsed server-sent event's data.
fn events_of(data: &str, pieces: &mut u32) -> Result<(Vec<GenerationEvent>, bool), Error> {
    if data.trim() == "[DONE]" {
        return Ok((Vec::new(), true));
    }
    let chunk: Value = serde_json::from_str(data)
        .map_err(|e| Error::Generation(format!("remote engine sent bad JSON: {e}")))?;
    if let Some(error) = chunk.get("error") {
        return Err(Error::Generation(format!("remote engine: {error}")));
    }
    let mut events = Vec::new();
    if let Some(text) = chunk.pointer("/choices/0/delta/content").and_then(Value::as_str) {
        if !text.is_empty() {
            *pieces += 1;
            events.push(GenerationEvent::Token(text.to_owned()));
        }
    }
    if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
        let count = |key: &str| {
            u32::try_from(usage.get(key).and_then(Value::as_u64).unwrap_or(0)).unwrap_or(u32::MAX)
        };
        events.push(GenerationEvent::Finished {
            prompt_tokens: count("prompt_tokens"),
            completion_tokens: count("completion_tokens"),
        });
    }
    Ok((events, false))
}

#[async_trait]
impl Generator for RemoteGenerator {
    async fn generate(&self, request: GenerationRequest) -> frontdesk_core::Result<GenerationStream> {
        let permit = self.admission.admit()?;
        let messages: Vec<Value> =
            request.messages.iter().map(|m| json!({"role": role(m.role), "content": m.content})).collect();
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": request.sampling.temperature,
            "top_p": request.sampling.top_p,
            "max_tokens": request.sampling.max_tokens,
        });
        if request.sampling.ignore_eos {
            // llama-server's and vLLM's own field; other servers ignore it.
            body["ignore_eos"] = json!(true);
        }
        let mut call =
            self.http.post(format!("{}/chat/completions", self.config.base_url.trim_end_matches('/')));
        if let Some(key) = &self.config.api_key {
            call = call.bearer_auth(key);
        }
        let response = call
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::Generation(format!("remote engine unreachable: {e}")))?;
        let status = response.status();
        if status.as_u16() == 429 || status.as_u16() == 503 {
            return Err(Error::Busy(format!("remote engine answered {status}")));
        }
        if !status.is_success() {
            return Err(Error::Generation(format!("remote engine answered {status}")));
        }

        let (tx, rx) = mpsc::channel(32);
        tokio::spawn(async move {
            // Released before the end event is sent (the server's [DONE] may come later), so a
            // caller that starts its next answer at once is not refused.
            let mut permit = Some(permit);
            let mut bytes = response.bytes_stream();
            let mut buffer = String::new();
            // Bytes of a character split across two chunks wait here for the rest.
            let mut pending = Vec::new();
            let mut pieces = 0u32;
            let mut finished = false;
            loop {
                let next = tokio::select! {
                    next = tokio::time::timeout(READ_TIMEOUT, bytes.next()) => next,
                    // The caller dropped the stream: dropping the response closes the request.
                    () = tx.closed() => return,
                };
                let chunk = match next {
                    Err(_) => Err(Error::Generation("remote engine went silent".into())),
                    Ok(None) => break,
                    Ok(Some(Err(error))) => {
                        Err(Error::Generation(format!("remote engine stream failed: {error}")))
                    }
                    Ok(Some(Ok(chunk))) => Ok(chunk),
                };
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(error) => {
                        let _ = tx.send(Err(error)).await;
                        return;
                    }
                };
                pending.extend_from_slice(&chunk);
                buffer.push_str(&take_utf8(&mut pending));
                // A "\r" that ended the last chunk meets its "\n" here.
                if buffer.contains('\r') {
                    buffer = buffer.replace("\r\n", "\n");
                }
                if buffer.len() > MAX_EVENT_BYTES {
                    let _ =
                        tx.send(Err(Error::Generation("remote engine sent an oversized event".into()))).await;
                    return;
                }
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    let data: Vec<&str> = event
                        .lines()
                        .filter_map(|line| line.strip_prefix("data:"))
                        .map(str::trim_start)
                        .collect();
                    if data.is_empty() {
                        continue;
                    }
                    match events_of(&data.join("\n"), &mut pieces) {
                        Ok((events, done)) => {
                            for event in events {
                                if matches!(event, GenerationEvent::Finished { .. }) {
                                    finished = true;
                                    drop(permit.take());
                                }
                                if tx.send(Ok(event)).await.is_err() {
                                    return;
                                }
                            }
                            if done {
                                if !finished {
                                    drop(permit.take());
                                    let counts = GenerationEvent::Finished {
                                        prompt_tokens: 0,
                                        completion_tokens: pieces,
                                    };
                                    let _ = tx.send(Ok(counts)).await;
                                }
                                return;
                            }
                        }
                        Err(error) => {
                            let _ = tx.send(Err(error)).await;
                            return;
                        }
                    }
                }
            }
            if !finished {
                drop(permit.take());
                let _ = tx
                    .send(Ok(GenerationEvent::Finished { prompt_tokens: 0, completion_tokens: pieces }))
                    .await;
            }
        });
        Ok(rx)
    }

    fn model_name(&self) -> &str {
        &self.config.model
    }

    fn in_flight(&self) -> usize {
        self.admission.in_flight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_chunks_arrives_whole() {
        let bytes = "data: 退货😀\r\n\r\n".as_bytes();
        let mut pending = Vec::new();
        let mut text = String::new();
        for chunk in bytes.chunks(1) {
            pending.extend_from_slice(chunk);
            text.push_str(&take_utf8(&mut pending));
        }
        assert_eq!(text, "data: 退货😀\r\n\r\n");
        assert!(pending.is_empty());
        let mut broken = vec![b'a', 0xFF, b'b', 0xE9];
        assert_eq!(take_utf8(&mut broken), "a\u{FFFD}b");
        assert_eq!(broken, [0xE9], "an unfinished character waits");
    }

    #[test]
    fn server_sent_chunks_become_tokens_and_counts() {
        let mut pieces = 0;
        let (events, done) =
            events_of(r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#, &mut pieces).expect("parses");
        assert_eq!((events, done), (vec![GenerationEvent::Token("Hel".into())], false));
        let (events, _) =
            events_of(r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#, &mut pieces)
                .expect("parses");
        assert_eq!(events, vec![GenerationEvent::Finished { prompt_tokens: 12, completion_tokens: 3 }]);
        assert!(events_of("[DONE]", &mut pieces).expect("done").1);
        assert!(events_of("{not json", &mut pieces).is_err());
        assert!(events_of(r#"{"error":{"code":"busy"}}"#, &mut pieces).is_err());
        assert_eq!(pieces, 1);
    }
}
