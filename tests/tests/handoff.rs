//! Human handoff end to end, with the real server, model, index and stores: a question the FAQ
//! cannot answer queues the chat, an agent sees it live, takes it over, and the two talk while
//! the assistant stays silent; then the agent hands it back and closes it. On Redis the agent
//! works on one replica and the visitor is connected to another.

use std::time::Duration;

use frontdesk_e2e::{
    keys_toml, start_server, test_config_with, AgentFeed, ApiClient, Backend, Cluster, Visitor, ADMIN_KEY,
    ANA_KEY, BO_KEY,
};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

async fn handoff(backend: Backend) -> anyhow::Result<()> {
    // With Redis the agent uses a second replica; the embedded store has one process.
    let cluster = Cluster::start(backend).await?;
    let agent_addr = cluster.staff_addr();
    let ana = ApiClient::new(agent_addr, Some(ANA_KEY));
    let bo = ApiClient::new(agent_addr, Some(BO_KEY));

    let (mut feed, ready) = AgentFeed::connect(agent_addr, ANA_KEY).await?;
    assert_eq!(ready["type"], "ready", "{ready}");
    assert_eq!(ready["agent"], "ana");

    // The FAQ has no answer: the visitor is told so and the chat joins the queue.
    let mut visitor = Visitor::connect(cluster.visitor.addr).await?;
    // The page is kept without its query and fragment.
    visitor
        .send(json!({"type": "hello", "page": "http://shop.test/products/aura?email=a@b.test#reviews"}))
        .await?;
    let welcome = visitor.next_frame(WAIT).await?;
    let id = welcome["conversation_id"].as_str().unwrap_or_default().to_owned();
    let frames = visitor.ask("q1", "Can you recommend a good pizza recipe?").await?;
    assert_eq!(frames.last().expect("done")["text"], frontdesk_core::chat::DECLINE_TEXT);
    assert_eq!(visitor.next_frame(WAIT).await?, json!({"type": "status", "status": "waiting"}));
    let queued =
        feed.wait_for(|f| f["type"] == "conversation" && f["conversation"]["status"] == "waiting").await?;
    assert_eq!(queued["conversation"]["id"], id.as_str());
    let (status, waiting) = ana.get("/api/v1/conversations?status=waiting").await?;
    assert_eq!(status, 200, "{waiting}");
    assert!(waiting["conversations"].as_array().expect("list").iter().any(|c| c["id"] == id.as_str()));

    // Asking for a person again is acknowledged with the status.
    visitor.send(json!({"type": "handoff"})).await?;
    assert_eq!(visitor.next_frame(WAIT).await?, json!({"type": "status", "status": "waiting"}));

    // Ana takes over; Bo cannot take it from her nor write in it.
    let (status, taken) = ana.post(&format!("/api/v1/conversations/{id}/takeover"), json!({})).await?;
    assert_eq!(
        (status, taken["status"].clone(), taken["assigned_agent"].clone()),
        (200, json!("agent"), json!("ana"))
    );
    assert_eq!(visitor.next_frame(WAIT).await?, json!({"type": "status", "status": "agent", "agent": "ana"}));
    let (status, refused) = bo.post(&format!("/api/v1/conversations/{id}/takeover"), json!({})).await?;
    assert_eq!((status, refused["error"]["code"].clone()), (409, json!("conflict")), "{refused}");
    let (status, _) = bo.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "hi"})).await?;
    assert_eq!(status, 409);

    // Messages flow both ways, live, and the assistant stays silent.
    let (status, sent) = ana
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            json!({"text": "Hi, Ana here. How can I help?"}),
        )
        .await?;
    assert_eq!(status, 201, "{sent}");
    let message = visitor.next_frame(WAIT).await?;
    assert_eq!(message["type"], "agent_message", "{message}");
    assert_eq!(message["text"], "Hi, Ana here. How can I help?");
    assert_eq!(message["agent"], "ana");
    visitor.send(json!({"type": "message", "id": "q2", "text": "My order 1234 has not arrived"})).await?;
    assert_eq!(visitor.next_frame(WAIT).await?["type"], "ack");
    let seen = feed
        .wait_for(|f| {
            f["type"] == "message"
                && f["message"]["role"] == "visitor"
                && f["message"]["text"] == "My order 1234 has not arrived"
        })
        .await?;
    assert_eq!(seen["conversation_id"], id.as_str());
    let quiet = visitor.next_frame(Duration::from_secs(2)).await;
    assert!(quiet.is_err(), "the assistant must stay silent while a person handles the chat: {quiet:?}");

    // The transcript and its exports hold all of it.
    let (status, tagged) = ana
        .call(
            "PUT",
            &format!("/api/v1/conversations/{id}/tags"),
            Some(json!({"tags": ["Delivery", "delivery", "late"]})),
        )
        .await?;
    assert_eq!((status, tagged["tags"].clone()), (200, json!(["delivery", "late"])), "{tagged}");
    let (status, transcript) = ana.get(&format!("/api/v1/conversations/{id}")).await?;
    assert_eq!(status, 200);
    assert_eq!(transcript["conversation"]["tags"], json!(["delivery", "late"]));
    assert_eq!(transcript["conversation"]["page_url"], "http://shop.test/products/aura");
    let roles: Vec<&str> = transcript["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["visitor", "assistant", "agent", "visitor"]);
    let (status, csv) = ana.get_text(&format!("/api/v1/conversations/{id}/export?format=csv")).await?;
    assert_eq!(status, 200);
    assert!(csv.starts_with("seq,time,role,author,text,sources,feedback\n"), "{csv}");
    assert!(csv.contains(",agent,ana,\"Hi, Ana here. How can I help?\","), "{csv}");
    let (status, text) = ana.get_text(&format!("/api/v1/conversations/{id}/export?format=txt")).await?;
    assert_eq!(status, 200);
    assert!(text.contains("] ana: Hi, Ana here. How can I help?"), "{text}");
    let (status, exported) = ana.get(&format!("/api/v1/conversations/{id}/export?format=json")).await?;
    assert_eq!(status, 200);
    assert_eq!(exported["conversation"]["id"], id.as_str());
    assert_eq!(exported["messages"].as_array().map(Vec::len), Some(4), "{exported}");
    let (status, bad) = ana.get(&format!("/api/v1/conversations/{id}/export?format=pdf")).await?;
    assert_eq!((status, bad["error"]["code"].clone()), (400, json!("bad_request")));
    let (status, filtered) = ana.get("/api/v1/conversations?q=order%201234").await?;
    assert_eq!(status, 200);
    assert_eq!(filtered["conversations"][0]["id"], id.as_str(), "{filtered}");

    // Handed back, the assistant answers again; closed, the visitor is told.
    let (status, _) = ana.post(&format!("/api/v1/conversations/{id}/handback"), json!({})).await?;
    assert_eq!(status, 200);
    assert_eq!(visitor.next_frame(WAIT).await?, json!({"type": "status", "status": "bot"}));
    let frames = visitor.ask("q3", "what are the opening hours of your shop").await?;
    let done = frames.last().expect("done");
    assert!(done["text"].as_str().unwrap_or_default().contains("Monday to Saturday"), "{done}");
    let (status, _) = ana.post(&format!("/api/v1/conversations/{id}/close"), json!({})).await?;
    assert_eq!(status, 200);
    assert_eq!(visitor.next_frame(WAIT).await?, json!({"type": "status", "status": "closed"}));

    let admin = ApiClient::new(agent_addr, Some(ADMIN_KEY));
    let (status, _) = admin.get(&format!("/api/v1/conversations/{id}")).await?;
    assert_eq!(status, 403, "an admin key is not an agent key");

    // The admin's analytics see the questions, the unanswered one and the handoff.
    let (status, summary) = admin.get("/api/v1/analytics/summary?days=1").await?;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["conversations"], 1, "{summary}");
    assert_eq!(summary["questions"], 3, "{summary}");
    assert_eq!(
        summary["unanswered"],
        json!([{"question": "Can you recommend a good pizza recipe?", "count": 1}])
    );
    assert_eq!(summary["handoff_rate"], 1.0);
    assert_eq!(summary["per_day"].as_array().map(Vec::len), Some(1));

    drop(visitor);
    cluster.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_takes_over_a_chat_on_the_embedded_store() -> anyhow::Result<()> {
    handoff(Backend::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_one_replica_answers_a_visitor_on_another() -> anyhow::Result<()> {
    handoff(Backend::Redis).await
}

/// Every `/api/v1` route, with no key, a wrong key, the other role's key and the right key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_requires_its_role() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let server =
        start_server(&test_config_with(Backend::Embedded, data.path(), "unused:", "auto", &keys_toml())?)
            .await?;
    let mut visitor = Visitor::connect(server.addr).await?;
    let welcome = visitor.hello_with(None, json!({"attributes": {}})).await?;
    let visitor_id = welcome["visitor_id"].as_str().expect("an issued visitor id").to_owned();
    let id = welcome["conversation_id"].as_str().unwrap_or_default().to_owned();
    // A conversation is stored with its first message.
    visitor.ask("q1", "what are your opening hours").await?;
    // (method, path, body, role)
    let routes: Vec<(&str, String, Option<Value>, &str)> = vec![
        ("GET", "/api/v1/conversations".into(), None, "agent"),
        ("GET", format!("/api/v1/conversations/{id}"), None, "agent"),
        ("GET", format!("/api/v1/conversations/{id}/export?format=txt"), None, "agent"),
        ("POST", format!("/api/v1/conversations/{id}/takeover"), Some(json!({})), "agent"),
        ("POST", format!("/api/v1/conversations/{id}/messages"), Some(json!({"text": "hello"})), "agent"),
        ("POST", format!("/api/v1/conversations/{id}/handback"), Some(json!({})), "agent"),
        ("POST", format!("/api/v1/conversations/{id}/close"), Some(json!({})), "agent"),
        (
            "PUT",
            format!("/api/v1/conversations/{id}/tags"),
            Some(json!({"tags": ["Refund", " vip "]})),
            "agent",
        ),
        ("GET", "/api/v1/documents".into(), None, "admin"),
        ("POST", "/api/v1/documents?name=extra.md".into(), Some(json!("## Gift wrapping?\nYes.")), "admin"),
        ("GET", "/api/v1/documents/returns.md".into(), None, "admin"),
        ("PUT", "/api/v1/documents/extra.md".into(), Some(json!("## Gift wrapping?\nNo.")), "admin"),
        ("DELETE", "/api/v1/documents/extra.md".into(), None, "admin"),
        ("GET", "/api/v1/search?q=returns".into(), None, "admin"),
        ("GET", "/api/v1/analytics/summary?days=7".into(), None, "admin"),
        ("GET", format!("/api/v1/visitors/{visitor_id}"), None, "admin"),
        ("DELETE", format!("/api/v1/visitors/{visitor_id}"), None, "admin"),
    ];
    let key_of = |role: &str| if role == "agent" { ANA_KEY } else { ADMIN_KEY };
    let other = |role: &str| if role == "agent" { ADMIN_KEY } else { ANA_KEY };
    for (method, path, body, role) in &routes {
        let cases = [(None, 401), (Some("not-a-key-at-all-0123456789"), 401), (Some(other(role)), 403)];
        for (key, expected) in cases {
            let (status, error) = ApiClient::new(server.addr, key).call(method, path, body.clone()).await?;
            assert_eq!(status, expected, "{method} {path} with {key:?}: {error}");
            assert!(error["error"]["code"].is_string(), "{method} {path}: {error}");
        }
        let (status, body) =
            ApiClient::new(server.addr, Some(key_of(role))).call(method, path, body.clone()).await?;
        assert!((200..300).contains(&status), "{method} {path} with the right key: {status} {body}");
    }
    let (status, body) = ApiClient::new(server.addr, Some(ANA_KEY)).get("/api/v1/nothing-here").await?;
    assert_eq!((status, body["error"]["code"].clone()), (404, json!("not_found")));
    let (status, body) = ApiClient::new(server.addr, Some(ANA_KEY))
        .call("POST", &format!("/api/v1/conversations/{id}/messages"), Some(json!({"txt": "typo"})))
        .await?;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!("bad_request")), "{body}");
    server.stop().await?;
    Ok(())
}
