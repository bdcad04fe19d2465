//! The admin's knowledge-base API end to end: a document uploaded while the server runs is
//! answered in the visitor chat within two seconds, replaced and deleted without a restart, and
//! bad uploads change nothing. On Redis the upload goes through one replica and the visitor
//! asks on another.

use std::time::{Duration, Instant};

use frontdesk_e2e::{
    keys_toml, start_server, test_config_with, ApiClient, Backend, Cluster, Visitor, ADMIN_KEY,
};
use serde_json::{json, Value};

const GIFT_CARDS: &str = "question,answer\nDo you sell gift cards?,\"Yes: Brightwave gift cards from 10 to 500 euros, valid for three years.\"\n";
const HOURS: &str = "## When is the shop open?\nMonday to Saturday, nine to six.\n";
const GIFT_CARDS_V2: &str = "question,answer\nDo you sell gift cards?,\"Yes: gift cards from 20 to 300 euros, valid for five years.\"\n";

async fn raw(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Vec<u8>,
) -> anyhow::Result<(u16, Value)> {
    let response = client.request(method, url).bearer_auth(ADMIN_KEY).body(body).send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

/// A new visitor's answer to `question` (a new conversation each time: a declined question
/// queues a conversation for a person, and the assistant then leaves unsure questions to them).
async fn answer(addr: std::net::SocketAddr, question: &str) -> anyhow::Result<String> {
    let mut visitor = Visitor::connect(addr).await?;
    visitor.hello(None).await?;
    let frames = visitor.ask("q1", question).await?;
    Ok(frames.last().expect("a done frame")["text"].as_str().unwrap_or_default().to_owned())
}

/// Asks until the answer contains `expected` (or, with `absent`, no longer does), for at most
/// two seconds after `since`.
async fn answered_within_two_seconds(
    addr: std::net::SocketAddr,
    question: &str,
    expected: &str,
    absent: bool,
    since: Instant,
) -> anyhow::Result<Duration> {
    loop {
        let text = answer(addr, question).await?;
        if text.contains(expected) != absent {
            return Ok(since.elapsed());
        }
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(2),
            "the change did not show within 2 s: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn documents(backend: Backend) -> anyhow::Result<()> {
    let cluster = Cluster::start(backend).await?;
    let admin_addr = cluster.staff_addr();
    let admin = ApiClient::new(admin_addr, Some(ADMIN_KEY));
    let http = reqwest::Client::new();
    let base = format!("http://{admin_addr}/api/v1");

    // The --kb folder was stored at start.
    let (status, listed) = admin.get("/api/v1/documents").await?;
    assert_eq!(status, 200, "{listed}");
    let ids: Vec<&str> = listed.as_array().expect("list").iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids, ["returns.md", "shipping.md", "store.csv"]);

    let visitor_addr = cluster.visitor.addr;

    // Upload: answerable within two seconds, without a restart.
    let uploaded_at = Instant::now();
    let (status, info) =
        raw(&http, reqwest::Method::POST, format!("{base}/documents?name=gifts.csv"), GIFT_CARDS.into())
            .await?;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["entries"], 1);
    let took = answered_within_two_seconds(
        visitor_addr,
        "do you sell gift cards",
        "valid for three years",
        false,
        uploaded_at,
    )
    .await?;
    println!("{backend:?}: an uploaded document was answered {} ms after the upload began", took.as_millis());

    // A multipart form, as a browser or `curl -F file=@hours.md` sends it: the file part names
    // the document.
    let form = reqwest::multipart::Form::new().text("note", "from the admin page").part(
        "file",
        reqwest::multipart::Part::bytes(HOURS.as_bytes().to_vec())
            .file_name("hours.md")
            .mime_str("text/markdown")?,
    );
    let response =
        http.post(format!("{base}/documents")).bearer_auth(ADMIN_KEY).multipart(form).send().await?;
    assert_eq!(response.status().as_u16(), 201);
    let info: Value = response.json().await?;
    assert_eq!((info["id"].as_str(), info["entries"].as_u64()), (Some("hours.md"), Some(1)), "{info}");
    let response = http
        .post(format!("{base}/documents"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno file name\r\n--x--")
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await?;
    assert!(error["error"]["message"].as_str().unwrap_or_default().contains("no file part"), "{error}");

    // Search shows it with its score.
    let (status, found) = admin.get("/api/v1/search?q=gift%20cards&k=3").await?;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["passages"][0]["document_id"], "gifts.csv");
    assert!(found["passages"][0]["score"].as_f64().unwrap_or_default() > 0.0);
    assert_eq!(found["would_decline"], false);

    // Replace.
    let replaced_at = Instant::now();
    let (status, info) =
        raw(&http, reqwest::Method::PUT, format!("{base}/documents/gifts.csv"), GIFT_CARDS_V2.into()).await?;
    assert_eq!(status, 200, "{info}");
    answered_within_two_seconds(
        visitor_addr,
        "do you sell gift cards",
        "valid for five years",
        false,
        replaced_at,
    )
    .await?;
    let (status, one) = admin.get("/api/v1/documents/gifts.csv").await?;
    assert_eq!(status, 200);
    assert_eq!(one["content"], GIFT_CARDS_V2);

    // Bad uploads are refused with a code and change nothing.
    let broken = "question,answer\nA question without its answer\n";
    let (status, error) =
        raw(&http, reqwest::Method::PUT, format!("{base}/documents/gifts.csv"), broken.into()).await?;
    assert_eq!((status, error["error"]["code"].clone()), (400, json!("bad_request")), "{error}");
    let (status, error) = raw(
        &http,
        reqwest::Method::POST,
        format!("{base}/documents?name=../../etc/passwd.md"),
        b"## x\ny\n".to_vec(),
    )
    .await?;
    assert_eq!((status, error["error"]["code"].clone()), (400, json!("bad_request")), "{error}");
    let (status, error) =
        raw(&http, reqwest::Method::POST, format!("{base}/documents?name=virus.exe"), b"MZ".to_vec()).await?;
    assert_eq!((status, error["error"]["code"].clone()), (400, json!("bad_request")), "{error}");
    let (status, error) = raw(
        &http,
        reqwest::Method::POST,
        format!("{base}/documents?name=latin1.md"),
        vec![b'#', b' ', 0xe9, b'\n'],
    )
    .await?;
    assert_eq!((status, error["error"]["code"].clone()), (400, json!("bad_request")), "{error}");
    assert!(error["error"]["message"].as_str().unwrap_or_default().contains("not UTF-8"), "{error}");
    let (status, error) = raw(
        &http,
        reqwest::Method::POST,
        format!("{base}/documents?name=broken.pdf"),
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n%%EOF".to_vec(),
    )
    .await?;
    assert_eq!((status, error["error"]["code"].clone()), (400, json!("bad_request")), "{error}");
    assert!(error["error"]["message"].as_str().unwrap_or_default().contains("PDF"), "{error}");
    let (status, error) = raw(
        &http,
        reqwest::Method::POST,
        format!("{base}/documents?name=broken.html"),
        b"<html><nav><h2>Menu</h2><p>Shop</p></nav><script>document.write('<h2>')</script><h2><p".to_vec(),
    )
    .await?;
    assert_eq!((status, error["error"]["code"].clone()), (400, json!("bad_request")), "{error}");
    assert!(error["error"]["message"].as_str().unwrap_or_default().contains("no FAQ entries"), "{error}");
    let huge = vec![b'a'; 11 * 1024 * 1024];
    // Its own client: the server answers 413 without reading the whole body and drops the
    // connection, which must not be reused for the next request.
    let (status, error) =
        raw(&reqwest::Client::new(), reqwest::Method::POST, format!("{base}/documents?name=huge.md"), huge)
            .await?;
    assert_eq!((status, error["error"]["code"].clone()), (413, json!("too_large")), "{error}");
    let (_, one) = admin.get("/api/v1/documents/gifts.csv").await?;
    assert_eq!(one["content"], GIFT_CARDS_V2, "the stored document is untouched");
    let (_, listed) = admin.get("/api/v1/documents").await?;
    assert_eq!(listed.as_array().map(Vec::len), Some(5), "{listed}");

    // Delete: the assistant no longer knows it.
    let response = http.delete(format!("{base}/documents/gifts.csv")).bearer_auth(ADMIN_KEY).send().await?;
    assert_eq!(response.status().as_u16(), 204);
    let (status, _) = admin.get("/api/v1/documents/gifts.csv").await?;
    assert_eq!(status, 404);
    let deleted_at = Instant::now();
    answered_within_two_seconds(visitor_addr, "do you sell gift cards", "gift cards from", true, deleted_at)
        .await?;
    assert_eq!(answer(visitor_addr, "do you sell gift cards").await?, frontdesk_core::chat::DECLINE_TEXT);

    let (data_a, prefix) = cluster.stop().await?;

    // A restart keeps what the API changed (the deleted document stays deleted).
    if backend == Backend::Embedded {
        let again =
            start_server(&test_config_with(backend, data_a.path(), &prefix, "auto", &keys_toml())?).await?;
        let (_, listed) = ApiClient::new(again.addr, Some(ADMIN_KEY)).get("/api/v1/documents").await?;
        assert_eq!(listed.as_array().map(Vec::len), Some(4), "{listed}");
        again.stop().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_on_the_embedded_store() -> anyhow::Result<()> {
    documents(Backend::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_uploaded_on_one_replica_is_answered_on_another() -> anyhow::Result<()> {
    documents(Backend::Redis).await
}
