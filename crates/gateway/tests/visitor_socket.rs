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
    let signer = TokenSigner::new("socket-test-secret-0123456789");
    let token = signer.sign("c1");
    let chat = ChatService::new(
        store.clone(),
        Arc::new(FixedRetriever(Vec::new())),
        Arc::new(ScriptedGenerator::new(vec!["x"])),
        ChatConfig::default(),
    );
    let state = AppState::new(
        chat,
        Arc::new(MemoryLibrary::default()),
        signer,
        ApiKeys::new(Vec::new()),
        GatewayLimits::default(),
    );
    let shutdown = state.shutdown.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(serve(listener, state));

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
    server.await.expect("server task").expect("served");
}
