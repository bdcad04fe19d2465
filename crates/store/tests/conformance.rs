//! One conformance suite, run against both backends: the embedded store on a temporary file
//! and Redis (`FRONTDESK_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`) under a random key
//! prefix per test.

use std::sync::Arc;

use frontdesk_core::model::{Conversation, ConversationStatus, Feedback, FeedbackValue, Message, Role};
use frontdesk_core::store::{AppendOutcome, SessionStore};
use frontdesk_store::{EmbeddedStore, RedisStore, RedisStoreConfig};

struct Backend {
    store: Arc<dyn SessionStore>,
    _dir: Option<tempfile::TempDir>,
}

fn embedded() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir should be creatable");
    let store = EmbeddedStore::open(&dir.path().join("store.redb")).expect("store should open");
    Backend { store: Arc::new(store), _dir: Some(dir) }
}

async fn redis() -> Backend {
    let url =
        std::env::var("FRONTDESK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let mut config = RedisStoreConfig::new(url);
    config.key_prefix = format!("frontdesk-test:{}:", frontdesk_core::new_id());
    let store = RedisStore::connect(&config).await.expect("redis should be reachable for tests");
    Backend { store: Arc::new(store), _dir: None }
}

fn conversation() -> Conversation {
    Conversation::new(frontdesk_core::new_id(), Some("en".into()))
}

fn visitor(text: &str, client_id: &str) -> Message {
    let mut message = Message::new(Role::Visitor, text);
    message.client_message_id = Some(client_id.to_owned());
    message
}

async fn messages_keep_their_order(store: Arc<dyn SessionStore>) {
    let conv = conversation();
    store.create_conversation(&conv).await.expect("create");
    for i in 0..5 {
        store.append_message(&conv.id, visitor(&format!("m{i}"), &format!("c{i}"))).await.expect("append");
        store.append_message(&conv.id, Message::new(Role::Assistant, format!("a{i}"))).await.expect("append");
    }
    let messages = store.list_messages(&conv.id).await.expect("list");
    let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["m0", "a0", "m1", "a1", "m2", "a2", "m3", "a3", "m4", "a4"]);
    let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (0..10).collect::<Vec<u64>>());
}

async fn a_resend_with_the_same_client_id_is_stored_once(store: Arc<dyn SessionStore>) {
    let conv = conversation();
    store.create_conversation(&conv).await.expect("create");
    let first = store.append_message(&conv.id, visitor("hello", "c1")).await.expect("append");
    let again = store.append_message(&conv.id, visitor("hello", "c1")).await.expect("append");
    assert!(matches!(first, AppendOutcome::Stored(_)));
    assert!(matches!(again, AppendOutcome::Duplicate(_)));
    assert_eq!(first.message().id, again.message().id);
    assert_eq!(store.list_messages(&conv.id).await.expect("list").len(), 1);
}

async fn concurrent_appends_lose_nothing(store: Arc<dyn SessionStore>) {
    let conv = conversation();
    store.create_conversation(&conv).await.expect("create");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            let id = conv.id.clone();
            tokio::spawn(async move {
                store.append_message(&id, visitor(&format!("m{i}"), &format!("c{i}"))).await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task should not panic").expect("append should succeed");
    }
    let messages = store.list_messages(&conv.id).await.expect("list");
    assert_eq!(messages.len(), 50);
    let mut texts: Vec<String> = messages.iter().map(|m| m.text.clone()).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 50, "every message is there exactly once");
    assert!(messages.iter().enumerate().all(|(i, m)| m.seq == i as u64), "seq is the order");
    let again = store.list_messages(&conv.id).await.expect("list");
    assert_eq!(messages, again, "the order is stable between reads");
}

async fn status_feedback_and_listing(store: Arc<dyn SessionStore>) {
    let older = conversation();
    store.create_conversation(&older).await.expect("create");
    let newer = conversation();
    store.create_conversation(&newer).await.expect("create");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let answer =
        store.append_message(&newer.id, Message::new(Role::Assistant, "answer")).await.expect("append");
    assert!(store
        .set_feedback(&newer.id, &answer.message().id, Feedback { value: FeedbackValue::Up, comment: None })
        .await
        .expect("feedback"));
    assert!(!store
        .set_feedback(&newer.id, "no-such-message", Feedback { value: FeedbackValue::Up, comment: None })
        .await
        .expect("feedback"));
    let stored = store.list_messages(&newer.id).await.expect("list");
    assert_eq!(stored[0].feedback.as_ref().map(|f| f.value), Some(FeedbackValue::Up));

    assert!(store.set_status(&older.id, ConversationStatus::Agent, Some("ana")).await.expect("status"));
    assert!(!store.set_status("missing", ConversationStatus::Agent, None).await.expect("status"));
    let loaded = store.get_conversation(&older.id).await.expect("get").expect("exists");
    assert_eq!(loaded.status, ConversationStatus::Agent);
    assert_eq!(loaded.assigned_agent.as_deref(), Some("ana"));

    assert!(store.set_status(&older.id, ConversationStatus::Bot, None).await.expect("status"));
    let handed_back = store.get_conversation(&older.id).await.expect("get").expect("exists");
    assert_eq!(handed_back.status, ConversationStatus::Bot);
    assert_eq!(handed_back.assigned_agent, None, "handing back to the bot unassigns the agent");
    assert_eq!(handed_back.locale, older.locale, "other fields are kept");

    let listed = store.list_conversations(10).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, older.id, "the last changed comes first");
    assert_eq!(store.list_conversations(1).await.expect("list").len(), 1);
}

async fn appending_to_a_missing_conversation_fails(store: Arc<dyn SessionStore>) {
    let error = store.append_message("missing", visitor("x", "c")).await.expect_err("must fail");
    assert_eq!(error.code(), frontdesk_core::ErrorCode::NotFound);
    assert!(store.get_conversation("missing").await.expect("get").is_none());
    store.ping().await.expect("ping");
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded_backend {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $case() { let b = super::embedded(); super::$case(b.store.clone()).await; } )*
        }
        mod redis_backend {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $case() { let b = super::redis().await; super::$case(b.store.clone()).await; } )*
        }
    };
}

conformance!(
    messages_keep_their_order,
    a_resend_with_the_same_client_id_is_stored_once,
    concurrent_appends_lose_nothing,
    status_feedback_and_listing,
    appending_to_a_missing_conversation_fails,
);

#[tokio::test]
async fn the_embedded_store_keeps_everything_across_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.redb");
    let conv = conversation();
    {
        let store = EmbeddedStore::open(&path).expect("open");
        store.create_conversation(&conv).await.expect("create");
        store.append_message(&conv.id, visitor("kept", "c1")).await.expect("append");
    }
    let store = EmbeddedStore::open(&path).expect("reopen");
    let messages = store.list_messages(&conv.id).await.expect("list");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text, "kept");
}
