//! Abuse limits of the visitor WebSocket, against the real server: page origins outside the
//! allowlist are refused, one address opening sockets too fast is refused, a conversation
//! sending messages too fast is slowed down, and a client that never reads is held back by
//! backpressure instead of being buffered for.

use std::time::Duration;

use frontdesk_e2e::{start_server, test_config_with, Backend, Visitor};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_outside_the_allowlist_are_refused_and_fast_senders_are_limited() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let toml = "allowed_origins = [\"http://shop.test\"]\n";
    let server =
        start_server(&test_config_with(Backend::Embedded, data.path(), "unused:", "auto", toml)?).await?;

    let connect_from = |origin: &'static str| {
        let addr = server.addr;
        async move {
            let mut request = format!("ws://{addr}/v1/ws").into_client_request()?;
            request.headers_mut().insert("origin", origin.parse()?);
            anyhow::Ok(tokio_tungstenite::connect_async(request).await)
        }
    };
    match connect_from("http://evil.test").await? {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403)
        }
        other => panic!("a page on another origin must be refused, got {:?}", other.map(|_| ())),
    }
    assert!(connect_from("http://shop.test").await?.is_ok(), "the allowed origin connects");

    // Messages in a burst: the first are taken (one answered, the rest told to wait), then the
    // conversation is rate limited.
    let mut visitor = Visitor::connect(server.addr).await?;
    visitor.hello(None).await?;
    for i in 0..12 {
        visitor
            .send(json!({"type": "message", "id": format!("m{i}"), "text": "what are your opening hours"}))
            .await?;
    }
    let mut codes = Vec::new();
    while let Ok(frame) = visitor.next_frame(Duration::from_secs(3)).await {
        if frame["type"] == "error" {
            codes.push(frame["code"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");
    server.stop().await?;
    Ok(())
}

/// One address opening sockets faster than its budget is refused with 429 until it refills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_opening_too_many_sockets_is_refused() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let toml = "sockets_per_ip_burst = 3\n";
    let server =
        start_server(&test_config_with(Backend::Embedded, data.path(), "unused:", "auto", toml)?).await?;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Visitor::connect(server.addr).await?);
    }
    match tokio_tungstenite::connect_async(format!("ws://{}/v1/ws", server.addr)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        other => panic!("the fourth socket in a burst must be refused, got {:?}", other.map(|_| ())),
    }
    // One more is allowed every two seconds.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    open.push(Visitor::connect(server.addr).await?);
    drop(open);
    server.stop().await?;
    Ok(())
}

/// A client that sends without ever reading its replies is slowed to a stop: once its replies
/// fill the socket and the socket's bounded frame queue, the server stops reading from it
/// rather than buffering without end, and other visitors are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_held_back_not_buffered() -> anyhow::Result<()> {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let data = tempfile::tempdir()?;
    let server =
        start_server(&test_config_with(Backend::Embedded, data.path(), "unused:", "auto", "")?).await?;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/ws", server.addr)).await?;
    socket.send(Message::text(json!({"type": "hello"}).to_string())).await?;
    // Every message gets a reply (most of them `rate_limited`); none is read.
    let frame = json!({"type": "message", "id": "m", "text": "what are your opening hours"}).to_string();
    let mut sent_bytes = 0usize;
    let stalled = loop {
        match tokio::time::timeout(Duration::from_secs(3), socket.send(Message::text(frame.clone()))).await {
            Err(_) => break true,
            Ok(result) => result?,
        }
        sent_bytes += frame.len();
        if sent_bytes > 256 * 1024 * 1024 {
            break false;
        }
    };
    assert!(stalled, "the server kept reading {sent_bytes} bytes from a client that reads nothing");
    println!("the server stopped reading after {} KiB from a client that read nothing", sent_bytes / 1024);
    // Meanwhile another visitor is served.
    let mut other = Visitor::connect(server.addr).await?;
    other.hello(None).await?;
    let frames = other.ask("q1", "do you have parking at the shop").await?;
    assert_eq!(frames.last().expect("done")["type"], "done");
    drop(socket);
    server.stop().await?;
    Ok(())
}

/// A frame over the 16 KiB limit closes that socket (and only it); a socket that sends nothing
/// for the idle timeout is closed; pings keep one open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_and_idle_sockets_are_closed() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let server = start_server(&test_config_with(
        Backend::Embedded,
        data.path(),
        "unused:",
        "auto",
        "idle_timeout_secs = 1\n",
    )?)
    .await?;
    let mut big = Visitor::connect(server.addr).await?;
    big.hello(None).await?;
    big.send(json!({"type": "message", "id": "m", "text": "x".repeat(20 * 1024)})).await?;
    assert!(big.next_frame(Duration::from_secs(5)).await.is_err(), "an oversized frame ends the socket");

    let mut idle = Visitor::connect(server.addr).await?;
    idle.hello(None).await?;
    let mut alive = Visitor::connect(server.addr).await?;
    alive.hello(None).await?;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        alive.send(json!({"type": "ping"})).await?;
        assert_eq!(alive.next_frame(Duration::from_secs(5)).await?["type"], "pong");
    }
    assert!(
        idle.next_frame(Duration::from_secs(1)).await.is_err(),
        "silent for 2 s with a 1 s timeout: closed"
    );
    server.stop().await?;
    Ok(())
}
