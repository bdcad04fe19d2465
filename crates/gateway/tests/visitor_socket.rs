//! The visitor socket over a real loopback connection, on the test doubles (no model): what
//! only a socket shows, such as frames too large for its write buffer.

use std::sync::Arc;
use std::time::Duration;

use frontdesk_core::chat::{ChatConfig, ChatService};
use frontdesk_core::model::{Message, Role};
use frontdesk_core::store::SessionStore;
use frontdesk_core::testing::{conversation, FixedRetriever, MemoryLibrary, MemoryStore, ScriptedGenerator};
use frontdesk_core::token::TokenSigner;
use frontdesk_gateway::auth::ApiKeys;
use frontdesk_gateway::{serve, AppState, GatewayLimits};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .expect("the socket stays open")
            .expect("a readable frame");
        if let WsMessage::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("JSON");
        }
    }
}

/// A gateway on loopback over `store`; returns its address, its signer and its shutdown token.
async fn start(
    store: Arc<MemoryStore>,
) -> (std::net::SocketAddr, TokenSigner, tokio_util::sync::CancellationToken) {
    start_with(store, GatewayLimits::default()).await
}

/// [`start`] with other limits.
async fn start_with(
    store: Arc<MemoryStore>,
    limits: GatewayLimits,
) -> (std::net::SocketAddr, TokenSigner, tokio_util::sync::CancellationToken) {
    let signer = TokenSigner::new("socket-test-secret-0123456789");
    let chat = ChatService::new(
        store,
        Arc::new(FixedRetriever(Vec::new())),
        Arc::new(ScriptedGenerator::new(vec!["x"])),
        ChatConfig::default(),
    );
    let state = AppState::new(
        chat,
        Arc::new(MemoryLibrary::default()),
        signer.clone(),
        ApiKeys::new(Vec::new()),
        limits,
    );
    let shutdown = state.shutdown.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener, state));
    (addr, signer, shutdown)
}

async fn send(socket: &mut Socket, frame: Value) {
    socket.send(WsMessage::Text(frame.to_string().into())).await.expect("send");
}

#[tokio::test]
async fn floods_of_feedback_and_handoffs_are_rate_limited_like_messages() {
    let (addr, _, shutdown) = start(Arc::new(MemoryStore::default())).await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws")).await.expect("connect");
    send(&mut socket, json!({"type": "hello"})).await;
    assert_eq!(next_frame(&mut socket).await["type"], "welcome");
    for n in 0..30 {
        let frame = if n % 2 == 0 {
            json!({"type": "feedback", "message_id": "m1", "value": "up"})
        } else {
            json!({"type": "handoff"})
        };
        send(&mut socket, frame).await;
    }
    let mut limited = 0;
    for _ in 0..30 {
        let reply = next_frame(&mut socket).await;
        if reply["type"] == "error" && reply["code"] == "rate_limited" {
            limited += 1;
        }
    }
    // A burst of 8 per conversation, then one every 4 seconds.
    assert!(limited >= 20, "{limited} of 30 store-writing frames were limited");
    shutdown.cancel();
}

#[tokio::test]
async fn an_agent_socket_refuses_a_huge_frame_before_signing_in() {
    let (addr, _, shutdown) = start(Arc::new(MemoryStore::default())).await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/agent/ws")).await.expect("connect");
    let huge = format!("{{\"type\":\"auth\",\"key\":\"{}\"}}", "k".repeat(1 << 20));
    let _ = socket.send(WsMessage::Text(huge.into())).await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return true,
                Some(Ok(WsMessage::Text(text))) => assert!(!text.contains("ready"), "signed in: {text}"),
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true), "the socket is closed");
    shutdown.cancel();
}

#[tokio::test]
async fn a_long_conversation_resumes_with_its_newest_page_and_pages_back_to_the_start() {
    let store = Arc::new(MemoryStore::default());
    store.create_conversation(&conversation("c1", "v1")).await.expect("create");
    // 120 messages of 700 bytes: 84 KB of history, more than the socket's old write limit.
    for i in 0..120 {
        let role = if i % 2 == 0 { Role::Visitor } else { Role::Assistant };
        store
            .append_message("c1", Message::new(role, format!("{i:03} {}", "x".repeat(696))))
            .await
            .expect("append");
    }
    let (addr, signer, shutdown) = start(store.clone()).await;
    let token = signer.sign("c1");

    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws")).await.expect("connect");
    let hello = json!({"type": "hello", "token": token});
    socket.send(WsMessage::Text(hello.to_string().into())).await.expect("send");
    let welcome = next_frame(&mut socket).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["more"], true);
    let mut seen: Vec<u64> = welcome["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seen.last(), Some(&119), "the newest message is there");
    assert!(seen.len() <= 50);
    let mut pages = 1;
    loop {
        let before = seen[0];
        socket
            .send(WsMessage::Text(json!({"type": "history", "before": before}).to_string().into()))
            .await
            .expect("send");
        let page = next_frame(&mut socket).await;
        assert_eq!(page["type"], "history", "{page}");
        let older: Vec<u64> = page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["seq"].as_u64().expect("seq"))
            .collect();
        assert!(
            older.last().is_some_and(|last| *last + 1 == before),
            "pages join up: {older:?} before {before}"
        );
        seen.splice(0..0, older);
        pages += 1;
        if page["more"] == false {
            break;
        }
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(seen, (0..120).collect::<Vec<u64>>(), "every message once, in order");
    drop(socket);
    shutdown.cancel();
}

/// Reads from a raw connection until it closes or `wait` passes; returns what came and
/// whether it closed.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, wait: Duration) -> (String, bool) {
    use tokio::io::AsyncReadExt as _;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(Ok(n)) => seen.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_closed_not_held() {
    use tokio::io::AsyncWriteExt as _;
    let limits = GatewayLimits { header_read_timeout: Duration::from_secs(1), ..GatewayLimits::default() };
    let (addr, _, shutdown) = start_with(Arc::new(MemoryStore::default()), limits).await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: frontdesk\r\n").await.expect("write");
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(closed, "a request whose headers never end is closed after the header deadline");
    // A complete request on time is served as usual.
    let mut quick = tokio::net::TcpStream::connect(addr).await.expect("connect");
    quick
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: frontdesk\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let (answer, _) = read_until_closed(&mut quick, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    shutdown.cancel();
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    use tokio::io::AsyncWriteExt as _;
    let limits = GatewayLimits { max_connections: 2, ..GatewayLimits::default() };
    let (addr, _, shutdown) = start_with(Arc::new(MemoryStore::default()), limits).await;
    let first = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _second = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = tokio::net::TcpStream::connect(addr).await.expect("the kernel queues it");
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: frontdesk\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let (early, _) = read_until_closed(&mut third, Duration::from_millis(700)).await;
    assert!(early.is_empty(), "served past the cap: {early}");
    drop(first);
    let (answer, _) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "served once a place freed: {answer}");
    shutdown.cancel();
}

#[tokio::test]
async fn an_anonymous_socket_stores_nothing_until_its_first_message() {
    use frontdesk_core::store::ConversationQuery;
    let store = Arc::new(MemoryStore::default());
    let (addr, _, shutdown) = start(store.clone()).await;
    let stored = || async {
        store.list_conversations(&ConversationQuery::default()).await.expect("list").conversations
    };
    // 25 sockets say hello and ask for a person, and nothing more.
    for _ in 0..25 {
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws")).await.expect("connect");
        send(&mut socket, json!({"type": "hello"})).await;
        assert_eq!(next_frame(&mut socket).await["type"], "welcome");
        send(&mut socket, json!({"type": "handoff"})).await;
        let status = next_frame(&mut socket).await;
        assert_eq!(
            (status["type"].as_str(), status["status"].as_str()),
            (Some("status"), Some("waiting")),
            "{status}"
        );
    }
    assert!(stored().await.is_empty(), "no conversation and no queue entry for empty sockets");
    assert!(store.get_visitor("anyone").await.expect("get").is_none());

    // One writes: its conversation is stored with the message, already queued for a person.
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws")).await.expect("connect");
    send(&mut socket, json!({"type": "hello", "visitor": {"attributes": {"plan": "Plus"}}})).await;
    let welcome = next_frame(&mut socket).await;
    send(&mut socket, json!({"type": "handoff"})).await;
    next_frame(&mut socket).await;
    send(&mut socket, json!({"type": "message", "id": "q1", "text": "my parcel is late"})).await;
    assert_eq!(next_frame(&mut socket).await["type"], "ack");
    let conversations = stored().await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].id, welcome["conversation_id"].as_str().expect("id"));
    assert_eq!(conversations[0].status, frontdesk_core::model::ConversationStatus::Waiting);
    let visitor = welcome["visitor_id"].as_str().expect("visitor");
    assert!(store.get_visitor(visitor).await.expect("get").is_some(), "the profile is kept with it");
    assert_eq!(store.list_messages(&conversations[0].id).await.expect("list").len(), 1);
    shutdown.cancel();
}

#[tokio::test]
async fn items_a_visitor_views_are_kept_on_their_profile_once_they_write() {
    let store = Arc::new(MemoryStore::default());
    let (addr, _, shutdown) = start(store.clone()).await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws")).await.expect("connect");
    send(&mut socket, json!({"type": "hello", "visitor": {"viewed": ["nova-13", "aura-anc"]}})).await;
    let welcome = next_frame(&mut socket).await;
    let visitor = welcome["visitor_id"].as_str().expect("a visitor id").to_owned();
    send(&mut socket, json!({"type": "track", "event": "viewed", "id": "nova-15"})).await;
    send(&mut socket, json!({"type": "track", "event": "clicked", "id": "nova-15"})).await;
    let refused = next_frame(&mut socket).await;
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("error"), Some("bad_request")));
    assert!(store.get_visitor(&visitor).await.expect("get").is_none(), "nothing stored before a message");

    send(&mut socket, json!({"type": "message", "id": "c1", "text": "hello"})).await;
    loop {
        if next_frame(&mut socket).await["type"] == "done" {
            break;
        }
    }
    send(&mut socket, json!({"type": "track", "event": "viewed", "id": "aura-anc"})).await;
    send(&mut socket, json!({"type": "ping"})).await;
    while next_frame(&mut socket).await["type"] != "pong" {}
    let profile = store.get_visitor(&visitor).await.expect("get").expect("stored with the first message");
    assert_eq!(profile.viewed, ["nova-13", "nova-15", "aura-anc"], "most recent last, each once");

    // Page views past the rate limit are dropped without an error in the chat.
    for n in 0..20 {
        send(&mut socket, json!({"type": "track", "event": "viewed", "id": format!("item-{n}")})).await;
    }
    send(&mut socket, json!({"type": "ping"})).await;
    loop {
        let frame = next_frame(&mut socket).await;
        assert_ne!(frame["type"], "error", "{frame}");
        if frame["type"] == "pong" {
            break;
        }
    }
    shutdown.cancel();
}
