//! Hostile clients against the real server, on loopback, bounded in count and time: a
//! thousand half-open sockets, slowloris clients trickling headers, sockets sending oversized,
//! binary and malformed frames of every type, floods of hello, feedback and handoff from one
//! address, and a client that never reads. Meanwhile a normal visitor keeps asking; the test
//! prints their time to first token against a quiet baseline (a figure, not a threshold: the
//! machines are shared) and checks that every one of their questions is answered and the
//! server stays ready.

use std::time::{Duration, Instant};

use frontdesk_e2e::{keys_toml, start_server, test_config_with, Backend, Visitor};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

const QUESTIONS: [&str; 4] = [
    "How much does shipping cost?",
    "Do you have parking at the shop?",
    "How long can I return items?",
    "What are your opening hours?",
];

/// Asks every question once, `pause` apart; returns the time from each question to its first
/// token.
async fn ask_round(visitor: &mut Visitor, round: &str, pause: Duration) -> anyhow::Result<Vec<Duration>> {
    let mut ttfts = Vec::new();
    for (n, question) in QUESTIONS.iter().enumerate() {
        let asked = Instant::now();
        visitor.send(json!({"type": "message", "id": format!("{round}-{n}"), "text": question})).await?;
        let mut first = None;
        loop {
            let frame = visitor.next_frame(Duration::from_secs(60)).await?;
            match frame["type"].as_str() {
                Some("token") => {
                    first.get_or_insert_with(|| asked.elapsed());
                }
                Some("done") => break,
                Some("error") => anyhow::bail!("a normal visitor's question failed: {frame}"),
                _ => {}
            }
        }
        ttfts.push(first.unwrap_or_else(|| asked.elapsed()));
        tokio::time::sleep(pause).await;
    }
    Ok(ttfts)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket past the per-address limit is refused at the upgrade: `None` then.
async fn hostile_socket(addr: std::net::SocketAddr) -> Option<Socket> {
    tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws")).await.ok().map(|(socket, _)| socket)
}

/// Sends junk of every kind on one socket and reads what comes back, until it closes or the
/// attack ends.
async fn junk(mut socket: Socket, until: Instant) {
    let frames = [
        Message::text(json!({"type": "hello"}).to_string()),
        Message::text(json!({"type": "hello"}).to_string()),
        Message::text("{not json"),
        Message::text(json!({"type": "shout"}).to_string()),
        Message::text(json!({"type": "message", "id": 5, "text": []}).to_string()),
        Message::text(json!({"type": "message", "id": "x", "text": "y", "admin": true}).to_string()),
        Message::text(json!({"type": "history", "before": -1}).to_string()),
        Message::binary(vec![0u8; 512]),
    ];
    for frame in frames {
        if socket.send(frame).await.is_err() {
            return;
        }
    }
    while Instant::now() < until {
        let flood = [
            json!({"type": "feedback", "message_id": "m", "value": "down"}),
            json!({"type": "handoff"}),
            json!({"type": "message", "id": frontdesk_core::new_id(), "text": "spam"}),
        ];
        for frame in flood {
            if socket.send(Message::text(frame.to_string())).await.is_err() {
                return;
            }
        }
        // Drain what the server says, without waiting on it.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(5), socket.next()).await {}
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Last, a frame far over the limit: the server closes the socket.
    let _ = socket.send(Message::text("x".repeat(64 * 1024))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_do_not_stop_a_normal_visitor() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let server =
        start_server(&test_config_with(Backend::Embedded, data.path(), "unused:", "auto", &keys_toml())?)
            .await?;
    let addr = server.addr;
    let mut visitor = Visitor::connect(addr).await?;
    visitor.hello(None).await?;
    // Within the conversation's burst of 8 messages: one warm-up round and one measured.
    ask_round(&mut visitor, "warm", Duration::from_millis(300)).await?;
    let quiet = ask_round(&mut visitor, "quiet", Duration::from_millis(300)).await?;
    // Under attack, at the pace the message limit sustains (one every 4 s), like a person.
    let pace = Duration::from_millis(4_200);
    tokio::time::sleep(pace).await;

    let attack = Duration::from_secs(20);
    let until = Instant::now() + attack;
    let mut attackers = Vec::new();
    // A thousand half-open sockets: connected, silent.
    let mut half_open = Vec::new();
    for _ in 0..1_000 {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            half_open.push(stream);
        }
    }
    let opened = half_open.len();
    // Slowloris: a header byte every 300 ms, on 50 connections.
    for _ in 0..50 {
        attackers.push(tokio::spawn(async move {
            let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else { return };
            for byte in b"GET /healthz HTTP/1.1\r\nHost: frontdesk\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter().cycle() {
                if Instant::now() > until || stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }));
    }
    // Junk and floods from one address: 60 sockets asked for, most refused by the limit.
    let mut refused = 0;
    for _ in 0..60 {
        match hostile_socket(addr).await {
            Some(socket) => attackers.push(tokio::spawn(junk(socket, until))),
            None => refused += 1,
        }
    }
    // A client that never reads: hello, then questions, and not one byte read.
    if let Ok(mut deaf) = tokio::net::TcpStream::connect(addr).await {
        let upgrade =
            "GET /v1/ws HTTP/1.1\r\nHost: frontdesk\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        deaf.write_all(upgrade.as_bytes()).await?;
        attackers.push(tokio::spawn(async move {
            // Masked client text frames, written raw.
            let frame = |text: &str| {
                let mut bytes =
                    vec![0x81, 0x80 | u8::try_from(text.len()).unwrap_or(125).min(125), 0, 0, 0, 0];
                bytes.extend_from_slice(text.as_bytes());
                bytes
            };
            let _ = deaf.write_all(&frame(r#"{"type":"hello"}"#)).await;
            while Instant::now() < until {
                if deaf.write_all(&frame(r#"{"type":"ping"}"#)).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }

    let mut under_attack = Vec::new();
    let mut round = 0;
    while Instant::now() < until {
        under_attack.extend(ask_round(&mut visitor, &format!("attack-{round}"), pace).await?);
        round += 1;
    }
    for attacker in attackers {
        attacker.await?;
    }
    let (quiet_median, attack_median) = (median(quiet.clone()), median(under_attack.clone()));
    println!(
        "normal visitor, time to first token: quiet median {:.1} ms (max {:.1}), under attack median {:.1} ms \
         (max {:.1}) over {} questions, ratio {:.2}; {opened} half-open sockets, {refused} of 60 hostile \
         sockets refused by the per-address limit",
        quiet_median.as_secs_f64() * 1e3,
        quiet.iter().max().copied().unwrap_or_default().as_secs_f64() * 1e3,
        attack_median.as_secs_f64() * 1e3,
        under_attack.iter().max().copied().unwrap_or_default().as_secs_f64() * 1e3,
        under_attack.len(),
        attack_median.as_secs_f64() / quiet_median.as_secs_f64().max(1e-6),
    );
    assert!(under_attack.len() >= QUESTIONS.len(), "the visitor was answered during the attack");
    assert!(refused > 0, "the per-address socket limit held");
    drop(half_open);
    let ready = reqwest::get(format!("http://{addr}/readyz")).await?;
    assert_eq!(ready.status().as_u16(), 200, "the server is still ready");
    drop(visitor);
    server.stop().await?;
    Ok(())
}
