//! Leads end to end: a visitor asking for a quote is offered the contact form; bad contacts and
//! a missing consent are refused with a clear message; the lead is kept with its consent,
//! listed and exported for agents, and posted to a webhook receiver here, signed, after the
//! receiver's first failure; withdrawing consent deletes it.

use std::time::{Duration, Instant};

use frontdesk_e2e::{keys_toml, start_server, test_config_with, ApiClient, Backend, Visitor, ANA_KEY};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "webhook-secret-for-the-test-0123";

/// One request the receiver took: its headers (lower-case names) and body.
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A webhook receiver on loopback: answers 500 to the first request and 200 after, and hands
/// every request to the test.
async fn receiver() -> anyhow::Result<(std::net::SocketAddr, tokio::sync::mpsc::Receiver<Received>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (sender, received) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head_end, length) = loop {
                let Ok(n) = socket.read(&mut chunk).await else { break (0, 0) };
                if n == 0 {
                    break (0, 0);
                }
                buffer.extend_from_slice(&chunk[..n]);
                if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    break (end + 4, length);
                }
            };
            while buffer.len() < head_end + length {
                let Ok(n) = socket.read(&mut chunk).await else { break };
                if n == 0 {
                    break;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
                .collect();
            let body = buffer[head_end..].to_vec();
            served += 1;
            let status = if served == 1 { "500 Internal Server Error" } else { "200 OK" };
            let _ = socket
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes(),
                )
                .await;
            let _ = sender.send(Received { headers, body }).await;
        }
    });
    Ok((addr, received))
}

fn header<'a>(received: &'a Received, name: &str) -> Option<&'a str> {
    received.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_is_kept_with_consent_delivered_signed_and_withdrawn() -> anyhow::Result<()> {
    let (hook, mut received) = receiver().await?;
    let data = tempfile::tempdir()?;
    let toml = format!(
        "lead_webhook_url = \"http://{hook}/hook\"\nlead_webhook_secret = \"{SECRET}\"\n\
         privacy_notice_url = \"https://shop.example/privacy\"\n{}",
        keys_toml()
    );
    let server =
        start_server(&test_config_with(Backend::Embedded, data.path(), "unused:", "auto", &toml)?).await?;
    let agent = ApiClient::new(server.addr, Some(ANA_KEY));

    let mut visitor = Visitor::connect(server.addr).await?;
    visitor.hello(None).await?;
    let frames = visitor.ask("q1", "Can I get a quote for 20 laptops for my company?").await?;
    let done = frames.last().cloned().unwrap_or_default();
    let offer = &done["offer"];
    assert!(offer["consent"].as_str().is_some_and(|c| c.contains("may contact me")), "{done}");
    assert_eq!(offer["privacy_url"], "https://shop.example/privacy");

    // Refused with a message the form shows: a broken address, then no consent.
    for (frame, expected) in [
        (json!({"type": "lead", "contact": "ana@example", "consent": true}), "e-mail"),
        (json!({"type": "lead", "contact": "12 34", "consent": true}), "phone number"),
        (json!({"type": "lead", "contact": "ana@example.com", "consent": false}), "agree"),
    ] {
        visitor.send(frame).await?;
        let reply = visitor.next_frame(Duration::from_secs(5)).await?;
        assert_eq!(reply["code"], "bad_request", "{reply}");
        assert!(reply["message"].as_str().unwrap_or_default().contains(expected), "{reply}");
    }
    assert_eq!(agent.get("/api/v1/leads").await?.1, json!([]), "nothing kept from refused forms");

    visitor.send(json!({"type": "lead", "contact": "ana@example.com", "consent": true})).await?;
    let saved = visitor.next_frame(Duration::from_secs(5)).await?;
    assert_eq!(saved["type"], "lead_saved", "{saved}");
    let lead_id = saved["lead_id"].as_str().unwrap_or_default().to_owned();

    // The receiver fails once; the second try is taken, signed with the shared secret.
    let first = tokio::time::timeout(Duration::from_secs(10), received.recv()).await?.expect("a first try");
    let second = tokio::time::timeout(Duration::from_secs(10), received.recv()).await?.expect("a retry");
    assert_eq!(first.body, second.body, "the same lead each time");
    assert_eq!(
        header(&second, "x-frontdesk-signature"),
        Some(frontdesk_core::leads::signature(SECRET, &second.body).as_str())
    );
    assert_eq!(header(&second, "x-frontdesk-delivery"), Some(lead_id.as_str()));
    let posted: Value = serde_json::from_slice(&second.body)?;
    assert_eq!(posted["event"], "lead.created");
    assert_eq!(posted["lead"]["email"], "ana@example.com");
    assert!(posted["lead"]["interest"].as_str().unwrap_or_default().contains("quote"), "{posted}");

    // Agents see it delivered, with the consent as shown, and export it.
    let started = Instant::now();
    let listed = loop {
        let (status, listed) = agent.get("/api/v1/leads").await?;
        assert_eq!(status, 200, "{listed}");
        if listed[0]["delivery"]["state"] == "delivered" {
            break listed;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "not marked delivered: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(listed[0]["delivery"]["attempts"], 2);
    assert_eq!(listed[0]["consent_text"], offer["consent"]);
    let (status, csv) = agent.get_text("/api/v1/leads?format=csv").await?;
    assert_eq!(status, 200);
    assert!(csv.contains("ana@example.com") && csv.contains("delivered"), "{csv}");
    let metrics = agent.get_text("/metrics").await?.1;
    assert!(metrics.contains("frontdesk_leads_total{state=\"captured\"} 1\n"), "{metrics}");
    assert!(metrics.contains("frontdesk_leads_total{state=\"delivered\"} 1\n"), "{metrics}");

    let (_, summary) = ApiClient::new(server.addr, Some(frontdesk_e2e::ADMIN_KEY))
        .get("/api/v1/analytics/summary?days=1")
        .await?;
    assert_eq!(
        (summary["leads_captured"].as_u64(), summary["leads_delivered"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );

    // Withdrawn: deleted.
    visitor.send(json!({"type": "withdraw"})).await?;
    let withdrawn = visitor.next_frame(Duration::from_secs(5)).await?;
    assert_eq!(
        (withdrawn["type"].as_str(), withdrawn["deleted"].as_u64()),
        (Some("lead_withdrawn"), Some(1))
    );
    assert_eq!(agent.get("/api/v1/leads").await?.1, json!([]));

    server.stop().await?;
    Ok(())
}
