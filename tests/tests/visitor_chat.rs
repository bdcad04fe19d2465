//! The visitor path end to end, with the real model through mistral.rs, the real tantivy
//! index over a fixture knowledge base, and each real store: a question over the WebSocket is
//! answered with streamed `token` frames and a cited `done`; the turn is stored; the history
//! comes back after a reconnect and after a restart of the server.

use std::time::Duration;

use frontdesk_e2e::{start_server, test_config, Backend, Visitor};
use serde_json::Value;

fn texts(frames: &[Value], kind: &str) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == kind)
        .map(|f| f["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn a_question_is_answered_streamed_cited_stored_and_replayed(backend: Backend) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let prefix = format!("frontdesk-e2e:{}:", frontdesk_core::new_id());
    let config = test_config(backend, data.path(), &prefix, "generative")?;
    let server = start_server(&config).await?;

    let mut visitor = Visitor::connect(server.addr).await?;
    let welcome = visitor.hello(None).await?;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["status"], "bot");
    assert_eq!(welcome["messages"].as_array().map(Vec::len), Some(0));
    let token = welcome["token"].as_str().expect("welcome carries a token").to_owned();
    let conversation_id = welcome["conversation_id"].as_str().expect("an id").to_owned();

    let question = "How many days do I have to return a product?";
    let frames = visitor.ask("client-1", question).await?;
    assert_eq!(frames[0]["type"], "ack", "{frames:?}");
    assert_eq!(frames[0]["id"], "client-1");
    let tokens = texts(&frames, "token");
    assert!(tokens.len() >= 2, "the answer streams in several token frames: {frames:?}");
    let done = frames.last().expect("a final frame");
    assert_eq!(done["type"], "done", "{done}");
    let answer = done["text"].as_str().expect("done carries the text").to_owned();
    assert_eq!(answer, tokens.concat().trim(), "done repeats exactly what was streamed");
    let sources = done["sources"].as_array().expect("sources");
    assert!(!sources.is_empty(), "the answer cites its FAQ entries: {done}");
    assert_eq!(sources[0]["document_id"], "returns.md", "{done}");
    assert_eq!(sources[0]["title"], question);
    assert!(done["usage"]["completion_tokens"].as_u64().unwrap_or(0) >= 2, "{done}");
    assert!(done["usage"]["prompt_tokens"].as_u64().unwrap_or(0) > 50, "{done}");
    eprintln!("[{backend:?}] answer: {answer}");
    eprintln!("[{backend:?}] usage: {}", done["usage"]);

    // A reconnect with the token replays the stored turn.
    drop(visitor);
    let mut again = Visitor::connect(server.addr).await?;
    let welcome = again.hello(Some(&token)).await?;
    assert_eq!(welcome["conversation_id"], conversation_id.as_str());
    let history = welcome["messages"].as_array().expect("messages").clone();
    assert_eq!(history.len(), 2, "{welcome}");
    assert_eq!(history[0]["role"], "visitor");
    assert_eq!(history[0]["text"], question);
    assert_eq!(history[0]["client_message_id"], "client-1");
    assert_eq!(history[1]["role"], "assistant");
    assert_eq!(history[1]["text"], answer.as_str());
    assert_eq!(history[1]["sources"][0]["document_id"], "returns.md");

    // A resend of the same client id is not a second message.
    let frames = again.ask("client-1", question).await?;
    assert_eq!(frames[0]["type"], "ack");
    assert_eq!(frames.last().expect("frame")["text"], answer.as_str());
    drop(again);

    // The conversation survives a restart of the server.
    server.stop().await?;
    let server = start_server(&config).await?;
    let mut after_restart = Visitor::connect(server.addr).await?;
    let welcome = after_restart.hello(Some(&token)).await?;
    assert_eq!(welcome["conversation_id"], conversation_id.as_str());
    assert_eq!(welcome["messages"].as_array().map(Vec::len), Some(2), "{welcome}");

    // Knowing the id is not enough: a forged token is refused.
    let mut stranger = Visitor::connect(server.addr).await?;
    let refused = stranger.hello(Some(&format!("{conversation_id}.00ff"))).await?;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "unauthorized");
    server.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_end_to_end() -> anyhow::Result<()> {
    a_question_is_answered_streamed_cited_stored_and_replayed(Backend::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_end_to_end() -> anyhow::Result<()> {
    a_question_is_answered_streamed_cited_stored_and_replayed(Backend::Redis).await
}

/// In `auto` mode a confident match is answered with the curated FAQ text, and a question the
/// knowledge base cannot answer is declined with an offer of a person instead of improvised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_serves_curated_answers_and_declines_out_of_scope_questions() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let config = test_config(Backend::Embedded, data.path(), "unused:", "auto")?;
    let server = start_server(&config).await?;
    let mut visitor = Visitor::connect(server.addr).await?;
    visitor.hello(None).await?;

    let frames = visitor.ask("q1", "what are the opening hours of your shop").await?;
    let done = frames.last().expect("frame");
    assert_eq!(done["type"], "done", "{done}");
    assert!(
        done["text"].as_str().unwrap_or_default().contains("Monday to Saturday from 10 am to 7 pm"),
        "{done}"
    );
    assert_eq!(done["sources"][0]["document_id"], "store.csv");

    let frames = visitor.ask("q2", "Can you recommend a good pizza recipe?").await?;
    let done = frames.last().expect("frame");
    assert_eq!(done["type"], "done", "{done}");
    assert_eq!(done["text"], frontdesk_core::chat::DECLINE_TEXT);
    assert_eq!(done["sources"].as_array().map(Vec::len), Some(0));

    // The visitor takes the offer.
    visitor.send(serde_json::json!({"type": "handoff"})).await?;
    let status = visitor.next_frame(Duration::from_secs(10)).await?;
    assert_eq!(status, serde_json::json!({"type": "status", "status": "waiting"}));
    // Malformed frames get a clear error and the socket stays usable.
    visitor.send(serde_json::json!({"type": "message", "text": "no id"})).await?;
    let error = visitor.next_frame(Duration::from_secs(10)).await?;
    assert_eq!(error["code"], "bad_request", "{error}");
    visitor.send(serde_json::json!({"type": "ping"})).await?;
    assert_eq!(visitor.next_frame(Duration::from_secs(10)).await?["type"], "pong");
    server.stop().await?;
    Ok(())
}

/// The demo page loads the widget with one script tag, and the widget is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_loads_the_widget() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let config = test_config(Backend::Embedded, data.path(), "unused:", "auto")?;
    let server = start_server(&config).await?;
    let page = http_get(server.addr, "/").await?;
    assert!(page.contains("<script src=\"/widget.js\" async></script>"), "{page}");
    let script = http_get(server.addr, "/widget.js").await?;
    assert!(script.contains("attachShadow"));
    let ready = http_get(server.addr, "/readyz").await?;
    assert!(ready.contains("\"ready\":true"), "{ready}");
    assert!(ready.contains("\"index_entries\":4"), "{ready}");
    server.stop().await?;
    Ok(())
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut body)).await??;
    anyhow::ensure!(body.starts_with("HTTP/1.1 200"), "GET {path}: {body}");
    Ok(body)
}
