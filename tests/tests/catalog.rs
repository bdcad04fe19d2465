//! The catalogue end to end: the admin uploads it while the server runs (a bad file is refused
//! with its rows and changes nothing); a visitor asking for a choice gets recommendations with
//! cards within two seconds, on the other replica on Redis; every card keeps to the visitor's
//! constraints; following a card is counted and redirected to the item's page; the
//! OpenAI-compatible API returns the same cards.

use std::time::{Duration, Instant};

use frontdesk_e2e::{repo_root, ApiClient, Backend, Cluster, Visitor, ADMIN_KEY, ANA_KEY};
use serde_json::{json, Value};

const QUESTION: &str = "A laptop under 800 euros for video editing?";

async fn upload(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    name: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, Value)> {
    let response = http
        .post(format!("http://{addr}/api/v1/catalog?name={name}"))
        .bearer_auth(ADMIN_KEY)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

/// A new visitor's `done` frame for `question`, and the conversation's id.
async fn ask(addr: std::net::SocketAddr, question: &str) -> anyhow::Result<(Value, String)> {
    let mut visitor = Visitor::connect(addr).await?;
    let welcome = visitor.hello(None).await?;
    let frames = visitor.ask("q1", question).await?;
    let done = frames.last().cloned().unwrap_or_default();
    anyhow::ensure!(done["type"] == "done", "no done frame: {frames:?}");
    Ok((done, welcome["conversation_id"].as_str().unwrap_or_default().to_owned()))
}

async fn catalogue(backend: Backend) -> anyhow::Result<()> {
    let cluster = Cluster::start(backend).await?;
    let staff = cluster.staff_addr();
    let visitor_addr = cluster.visitor.addr;
    let admin = ApiClient::new(staff, Some(ADMIN_KEY));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;

    let (status, items) = admin.get("/api/v1/catalog").await?;
    assert_eq!((status, items.clone()), (200, json!([])), "no catalogue in the fixture folder");

    // A file with bad rows is refused whole, naming each row and what is wrong with it.
    let bad = "id,name,price,currency\n,No id,10,EUR\nb,B,ten,EUR\n";
    let (status, body) = upload(&http, staff, "shop.csv", bad.into()).await?;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("row 1: no id") && message.contains("row 2 (b): price \"ten\""), "{message}");

    // The demo catalogue, uploaded on the staff's replica.
    let demo = std::fs::read(repo_root().join("knowledge-base/brightwave.catalog.csv"))?;
    let (status, summary) = upload(&http, staff, "brightwave.catalog.csv", demo).await?;
    assert_eq!(status, 200, "{summary}");
    // The two seconds count from the upload's answer: the staff's replica has embedded the
    // items by then (on a slow machine that alone may take longer), the other must follow.
    let uploaded_at = Instant::now();
    assert!(summary["products"].as_u64() >= Some(40) && summary["courses"].as_u64() >= Some(20), "{summary}");
    let (_, items) = admin.get("/api/v1/catalog").await?;
    let price_of = |id: &str| {
        items.as_array().into_iter().flatten().find(|i| i["id"] == id).and_then(|i| i["price"].as_f64())
    };

    // A refused file afterwards changes nothing.
    let (status, _) = upload(&http, staff, "shop.json", b"[{\"id\": \"x\"}]".to_vec()).await?;
    assert_eq!(status, 400);
    assert_eq!(
        admin.get("/api/v1/catalog").await?.1.as_array().map(Vec::len),
        items.as_array().map(Vec::len)
    );

    // The visitor, on the other replica on Redis, gets cards within two seconds.
    let (done, conversation) = loop {
        let (done, conversation) = ask(visitor_addr, QUESTION).await?;
        if done["cards"].as_array().is_some_and(|c| !c.is_empty()) {
            break (done, conversation);
        }
        assert!(uploaded_at.elapsed() < Duration::from_secs(2), "no cards within 2 s: {done}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cards = done["cards"].as_array().cloned().unwrap_or_default();
    assert_eq!(cards[0]["id"], "nova-15", "{done}");
    for card in &cards {
        let id = card["id"].as_str().unwrap_or_default();
        assert!(price_of(id).is_some_and(|p| p <= 800.0), "{id} breaks the visitor's bound: {done}");
        assert_eq!(card["href"], format!("/r/{id}"));
        assert!(!card["reason"].as_str().unwrap_or_default().is_empty());
    }
    assert!(done["text"].as_str().unwrap_or_default().contains("Nova 15 laptop"), "{done}");

    // The cards are kept with the answer: an agent reading the transcript sees them.
    let (_, transcript) =
        ApiClient::new(staff, Some(ANA_KEY)).get(&format!("/api/v1/conversations/{conversation}")).await?;
    let stored = transcript["messages"].as_array().into_iter().flatten().find(|m| m["role"] == "assistant");
    assert_eq!(stored.map(|m| m["cards"].clone()), Some(done["cards"].clone()), "{transcript}");

    // Following a card: counted, then redirected to the item's own page; an unknown card is 404.
    let followed = http.get(format!("http://{visitor_addr}/r/nova-15")).send().await?;
    assert_eq!(followed.status().as_u16(), 302);
    assert_eq!(
        followed.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("https://shop.brightwave.example/p/nova-15")
    );
    assert_eq!(
        http.get(format!("http://{visitor_addr}/r/no-such-item")).send().await?.status().as_u16(),
        404
    );
    let metrics = http.get(format!("http://{visitor_addr}/metrics")).send().await?.text().await?;
    assert!(metrics.contains("frontdesk_card_clicks_total 1\n"), "{metrics}");
    assert!(metrics.contains("frontdesk_turns_total{outcome=\"recommended\"} 1\n"), "{metrics}");

    // The admin's figures: recommendations shown and clicks per item (the clicks are kept in
    // the store, so every replica counts them together).
    let (_, summary) = admin.get("/api/v1/analytics/summary?days=1").await?;
    assert!(
        summary["recommendations"].as_u64() >= Some(1) && summary["cards_shown"].as_u64() >= Some(1),
        "{summary}"
    );
    assert_eq!(
        summary["card_clicks"],
        json!([{"id": "nova-15", "name": "Nova 15 laptop", "clicks": 1}]),
        "{summary}"
    );

    // A question for the FAQ is still answered from the FAQ, without cards.
    let (done, _) = ask(visitor_addr, "How long does delivery take?").await?;
    assert!(done.get("cards").is_none(), "{done}");

    // The OpenAI-compatible API returns the same cards beside the answer.
    let response: Value = reqwest::Client::new()
        .post(format!("http://{visitor_addr}/v1/chat/completions"))
        .bearer_auth(ANA_KEY)
        .json(&json!({"model": "frontdesk", "messages": [{"role": "user", "content": QUESTION}]}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(response["cards"][0]["id"], "nova-15", "{response}");

    cluster.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_on_the_embedded_store() -> anyhow::Result<()> {
    catalogue(Backend::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_across_replicas_on_redis() -> anyhow::Result<()> {
    catalogue(Backend::Redis).await
}
