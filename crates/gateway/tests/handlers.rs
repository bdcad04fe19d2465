//! The gateway's handlers through its real [`router`], on the test doubles of
//! `frontdesk_core::testing`: no model, no store server, no socket. Each request goes through
//! `tower::ServiceExt::oneshot`, as a client's would through the listener. These cover the
//! agent and admin API's error paths; the end-to-end tests drive the real server.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use frontdesk_core::chat::{ChatConfig, ChatService};
use frontdesk_core::store::SessionStore;
use frontdesk_core::testing::{
    conversation, returns_passage, FixedRetriever, MemoryLibrary, MemoryStore, ScriptedGenerator,
};
use frontdesk_core::token::TokenSigner;
use frontdesk_gateway::auth::{ApiKey, ApiKeys, Role};
use frontdesk_gateway::{router, AppState, GatewayLimits};
use serde_json::Value;
use tower::ServiceExt as _;

const AGENT: &str = "agent-key-ana-0123456789";
const OTHER_AGENT: &str = "agent-key-bo-01234567890";
const ADMIN: &str = "admin-key-root-0123456789";

struct Gateway {
    router: Router,
    store: Arc<MemoryStore>,
}

fn gateway() -> Gateway {
    gateway_with(GatewayLimits::default())
}

fn gateway_with(limits: GatewayLimits) -> Gateway {
    let store = Arc::new(MemoryStore::default());
    let passage = returns_passage(1.0);
    let chat = ChatService::new(
        store.clone(),
        Arc::new(FixedRetriever(vec![passage])),
        Arc::new(ScriptedGenerator::new(vec!["Returns ", "within 30 days."])),
        ChatConfig::default(),
    );
    let keys = ApiKeys::new(vec![
        ApiKey::from_plain("ana", Role::Agent, AGENT).expect("key"),
        ApiKey::from_plain("bo", Role::Agent, OTHER_AGENT).expect("key"),
        ApiKey::from_plain("root", Role::Admin, ADMIN).expect("key"),
    ]);
    let state = AppState::new(
        chat,
        Arc::new(MemoryLibrary::default()),
        TokenSigner::new("handler-test-secret-0123456789"),
        keys,
        limits,
    );
    Gateway { router: router(state), store }
}

/// Sends one request; returns the status, the `WWW-Authenticate` header and the JSON body
/// (`Null` when the body is not JSON).
async fn call(
    gateway: &Gateway,
    method: Method,
    uri: &str,
    key: Option<&str>,
    body: Option<(&str, &str)>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let request = match body {
        Some((content_type, body)) => {
            request.header(header::CONTENT_TYPE, content_type).body(Body::from(body.to_owned()))
        }
        None => request.body(Body::empty()),
    }
    .expect("a request");
    let response = gateway.router.clone().oneshot(request).await.expect("the router always answers");
    let status = response.status();
    let challenge =
        response.headers().get(header::WWW_AUTHENTICATE).map(|v| v.to_str().expect("ascii").to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("a body");
    (status, challenge, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

#[tokio::test]
async fn a_request_without_a_key_is_unauthorized_and_told_how_to_authenticate() {
    let gateway = gateway();
    let (status, challenge, body) = call(&gateway, Method::GET, "/api/v1/conversations", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    assert_eq!(code(&body), "unauthorized");
    let (status, _, _) =
        call(&gateway, Method::GET, "/api/v1/conversations", Some("not-a-key-of-ours-0123"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn each_role_is_refused_the_others_routes() {
    let gateway = gateway();
    let (status, _, body) = call(&gateway, Method::GET, "/api/v1/documents", Some(AGENT), None).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, _, body) = call(&gateway, Method::GET, "/api/v1/conversations", Some(ADMIN), None).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
}

#[tokio::test]
async fn taking_over_a_missing_or_held_conversation_fails_with_its_code() {
    let gateway = gateway();
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/v1/conversations/nope/takeover", Some(AGENT), None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    gateway.store.create_conversation(&conversation("c1", "v1")).await.expect("create");
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/v1/conversations/c1/takeover", Some(AGENT), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["assigned_agent"], "ana");
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/v1/conversations/c1/takeover", Some(OTHER_AGENT), None).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));
    assert!(body["error"]["message"].as_str().expect("message").contains("ana"), "{body}");
    // The same agent again is no conflict.
    let (status, _, _) =
        call(&gateway, Method::POST, "/api/v1/conversations/c1/takeover", Some(AGENT), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_reply_needs_the_conversation_taken_and_a_well_formed_body() {
    let gateway = gateway();
    gateway.store.create_conversation(&conversation("c1", "v1")).await.expect("create");
    let json = Some(("application/json", r#"{"text": "Hello, I am Ana."}"#));
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/v1/conversations/c1/messages", Some(AGENT), json).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));

    call(&gateway, Method::POST, "/api/v1/conversations/c1/takeover", Some(AGENT), None).await;
    for bad in [r#"{"text": "   "}"#, r#"{"text": 5}"#, r#"{"text": "hi", "extra": 1}"#, "{not json"] {
        let (status, _, body) = call(
            &gateway,
            Method::POST,
            "/api/v1/conversations/c1/messages",
            Some(AGENT),
            Some(("application/json", bad)),
        )
        .await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"), "{bad}");
    }
    let long = format!(r#"{{"text": "{}"}}"#, "x".repeat(frontdesk_gateway::api::MAX_REPLY_CHARS + 1));
    let (status, _, _) = call(
        &gateway,
        Method::POST,
        "/api/v1/conversations/c1/messages",
        Some(AGENT),
        Some(("application/json", &long)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/v1/conversations/c1/messages", Some(AGENT), json).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        gateway.store.list_messages("c1").await.expect("list").len(),
        1,
        "only the good reply is stored"
    );
}

#[tokio::test]
async fn status_changes_that_do_not_apply_are_conflicts_and_counted_only_when_made() {
    let gateway = gateway();
    gateway.store.create_conversation(&conversation("c1", "v1")).await.expect("create");
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/v1/conversations/c1/handback", Some(AGENT), None).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/v1/conversations/missing/close", Some(AGENT), None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/v1/conversations/c1/close", Some(AGENT), None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("closed")));

    let request = Request::builder().uri("/metrics").body(Body::empty()).expect("request");
    let response = gateway.router.clone().oneshot(request).await.expect("answer");
    let text =
        String::from_utf8(axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body").to_vec())
            .expect("utf-8");
    assert!(text.contains("frontdesk_status_changes_total{transition=\"close\"} 1\n"), "{text}");
    assert!(text.contains("frontdesk_status_changes_total{transition=\"handback\"} 0\n"), "{text}");
}

#[tokio::test]
async fn bad_queries_and_unknown_routes_get_json_errors() {
    let gateway = gateway();
    gateway.store.create_conversation(&conversation("c1", "v1")).await.expect("create");
    let (status, _, body) =
        call(&gateway, Method::GET, "/api/v1/conversations/c1/export?format=xlsx", Some(AGENT), None).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));
    let (status, _, body) =
        call(&gateway, Method::GET, "/api/v1/conversations?status=asleep", Some(AGENT), None).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));
    let (status, _, body) = call(&gateway, Method::GET, "/api/v1/no/such/route", Some(AGENT), None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _, body) = call(&gateway, Method::GET, "/api/v1/search", Some(ADMIN), None).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));
}

#[tokio::test]
async fn a_refused_upload_changes_nothing_stored() {
    let gateway = gateway();
    let text = Some(("text/markdown", "# FAQ\n## Can I return items?\nWithin 30 days.\n"));
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/v1/documents?name=faq.md", Some(ADMIN), text).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, _, body) = call(&gateway, Method::POST, "/api/v1/documents", Some(ADMIN), text).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"), "an upload needs a name");
    let (status, _, body) =
        call(&gateway, Method::POST, "/api/v1/documents?name=../etc/passwd", Some(ADMIN), text).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));
    let broken = Some(("text/markdown", "not parseable"));
    let (status, _, body) =
        call(&gateway, Method::PUT, "/api/v1/documents/faq.md", Some(ADMIN), broken).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_request"));

    let (_, _, listed) = call(&gateway, Method::GET, "/api/v1/documents", Some(ADMIN), None).await;
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["bytes"], 45, "the first upload is still there as it was");
    let (status, _, body) =
        call(&gateway, Method::DELETE, "/api/v1/documents/other.md", Some(ADMIN), None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn the_openai_route_needs_a_key_and_a_question_and_answers_from_turn_events() {
    let gateway = gateway();
    let body = Some(("application/json", r#"{"messages": [{"role": "system", "content": "hi"}]}"#));
    let (status, _, answer) = call(&gateway, Method::POST, "/v1/chat/completions", None, body).await;
    assert_eq!((status, code(&answer)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, _, answer) = call(&gateway, Method::POST, "/v1/chat/completions", Some(AGENT), body).await;
    assert_eq!((status, code(&answer)), (StatusCode::BAD_REQUEST, "bad_request"));
    let body = Some(("application/json", r#"{"messages": [{"role": "user", "content": "return window?"}]}"#));
    let (status, _, answer) = call(&gateway, Method::POST, "/v1/chat/completions", Some(AGENT), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        answer["choices"][0]["message"]["content"].as_str().expect("text").contains("30 days"),
        "{answer}"
    );
}

#[tokio::test]
async fn metrics_ask_for_their_key_when_one_is_configured() {
    let metrics_key = "metrics-key-5f1c9e2a7b3d";
    let gateway =
        gateway_with(GatewayLimits { metrics_key: Some(metrics_key.into()), ..GatewayLimits::default() });
    let (status, _, body) = call(&gateway, Method::GET, "/metrics", None, None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, _, _) = call(&gateway, Method::GET, "/metrics", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an API key is not the metrics key");
    let (status, _, _) = call(&gateway, Method::GET, "/metrics", Some(metrics_key), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&self::gateway(), Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK, "open without a configured key");
}

/// The (method, path) of every operation `docs/openapi.yaml` describes, read line by line
/// (paths at two spaces, methods at four).
fn described_operations() -> Vec<(String, String)> {
    let mut operations = Vec::new();
    let mut path = None;
    let mut in_paths = false;
    for line in frontdesk_gateway::pages::OPENAPI.lines() {
        if line == "paths:" {
            in_paths = true;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{p}"));
        } else if let Some(method) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')) {
            if ["get", "post", "put", "delete"].contains(&method) {
                operations.push((method.to_uppercase(), path.clone().expect("a path before its methods")));
            }
        }
    }
    operations
}

/// The paths the router declares, read from its source (`.route("...")`, under `/api/v1`
/// before the `.nest`), in the spec's spelling of parameters.
fn routed_paths() -> Vec<String> {
    let source = include_str!("../src/lib.rs");
    let body = &source[source.find("pub fn router(").expect("the router")..];
    let body = &body[..body.find("\n}\n").expect("its end")];
    let nest = body.find(".nest(\"/api/v1\"").expect("the API is nested");
    let mut paths = Vec::new();
    for (at, _) in body.match_indices(".route(") {
        let rest = &body[at..];
        let start = rest.find('"').expect("a path") + 1;
        let path = &rest[start..start + rest[start..].find('"').expect("its end")];
        let path = path.replace("{*id}", "{name}");
        paths.push(if at < nest { format!("/api/v1{path}") } else { path });
    }
    paths
}

#[test]
fn every_route_is_described_and_every_description_is_routed() {
    let described: std::collections::BTreeSet<String> =
        described_operations().into_iter().map(|(_, p)| p).collect();
    let routed: std::collections::BTreeSet<String> = routed_paths().into_iter().collect();
    let undescribed: Vec<_> = routed.difference(&described).collect();
    assert!(undescribed.is_empty(), "routes docs/openapi.yaml lacks: {undescribed:?}");
    let unrouted: Vec<_> = described.difference(&routed).collect();
    assert!(unrouted.is_empty(), "described but not routed: {unrouted:?}");
}

#[tokio::test]
async fn every_described_operation_answers_with_its_own_handler() {
    let gateway = gateway();
    for (method, path) in described_operations() {
        let concrete = path.replace("{id}", "c-unknown").replace("{name}", "unknown.md");
        let method: Method = method.parse().expect("a method");
        let request =
            Request::builder().method(method.clone()).uri(&concrete).body(Body::empty()).expect("request");
        let response = gateway.router.clone().oneshot(request).await.expect("an answer");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        let body = String::from_utf8_lossy(&bytes);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is not routed");
        assert!(!body.contains("route not found"), "{method} {path} fell through to the fallback");
        assert!(!(status == StatusCode::NOT_FOUND && body.is_empty()), "{method} {path} is not routed");
    }
}

#[tokio::test]
async fn rated_answers_export_with_their_question_and_comment() {
    use frontdesk_core::model::{Feedback, FeedbackValue, Message, Role};
    let gateway = gateway();
    let mut chat = conversation("c-rated", "v-rated");
    chat.updated_ms = frontdesk_core::now_ms();
    gateway.store.create_conversation(&chat).await.expect("create");
    gateway
        .store
        .append_message("c-rated", Message::new(Role::Visitor, "can i return a laptop?"))
        .await
        .expect("append");
    let answer = gateway
        .store
        .append_message("c-rated", Message::new(Role::Assistant, "Returns within 30 days."))
        .await
        .expect("append")
        .message()
        .clone();
    let comment = Some("=not about laptops".to_owned());
    let rated = Feedback { value: FeedbackValue::Down, comment };
    assert!(gateway.store.set_feedback("c-rated", &answer.id, rated).await.expect("rate"));

    let (status, _, body) =
        call(&gateway, Method::GET, "/api/v1/feedback?value=down", Some(AGENT), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["question"], "can i return a laptop?");
    assert_eq!(body[0]["comment"], "=not about laptops");
    let (_, _, up) = call(&gateway, Method::GET, "/api/v1/feedback?value=up", Some(AGENT), None).await;
    assert_eq!(up, serde_json::json!([]));
    let (status, _, csv) =
        call(&gateway, Method::GET, "/api/v1/feedback?format=csv", Some(AGENT), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.is_null(), "CSV, not JSON");
    let (status, _, _) = call(&gateway, Method::GET, "/api/v1/feedback?format=xml", Some(AGENT), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(&gateway, Method::GET, "/api/v1/feedback", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
