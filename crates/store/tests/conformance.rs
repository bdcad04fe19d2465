//! One conformance suite, run against both backends: the embedded store on a temporary file
//! and Redis (`FRONTDESK_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`) under a random key
//! prefix per test.

use std::sync::Arc;

use frontdesk_core::documents::{Document, DocumentInfo, DocumentStore};
use frontdesk_core::model::{Conversation, ConversationStatus, Feedback, FeedbackValue, Message, Role};
use frontdesk_core::store::{
    AppendOutcome, ConversationQuery, SessionStore, StatusChange, StatusOutcome, StoreEvent,
};
use frontdesk_store::{EmbeddedStore, RedisStore, RedisStoreConfig};

struct Backend {
    store: Arc<dyn SessionStore>,
    documents: Arc<dyn DocumentStore>,
    _dir: Option<tempfile::TempDir>,
}

fn embedded() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir should be creatable");
    let store = EmbeddedStore::open(&dir.path().join("store.redb")).expect("store should open");
    let store = Arc::new(store);
    Backend { store: store.clone(), documents: store, _dir: Some(dir) }
}

/// The test Redis, under a key prefix of its own.
fn redis_config() -> RedisStoreConfig {
    let url =
        std::env::var("FRONTDESK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let mut config = RedisStoreConfig::new(url);
    config.key_prefix = format!("frontdesk-test:{}:", frontdesk_core::new_id());
    config
}

async fn redis() -> Backend {
    let config = redis_config();
    let store = RedisStore::connect(&config).await.expect("redis should be reachable for tests");
    let store = Arc::new(store);
    Backend { store: store.clone(), documents: store, _dir: None }
}

fn conversation() -> Conversation {
    Conversation::new(frontdesk_core::new_id(), Some("en".into()))
}

fn visitor_message(text: &str, client_id: &str) -> Message {
    visitor(text, client_id)
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

    let take = StatusChange::to(ConversationStatus::Agent)
        .by("ana")
        .only_from(&[ConversationStatus::Bot, ConversationStatus::Waiting]);
    assert!(matches!(store.set_status(&older.id, &take).await.expect("status"), StatusOutcome::Changed(_)));
    assert_eq!(store.set_status("missing", &take).await.expect("status"), StatusOutcome::Missing);
    let loaded = store.get_conversation(&older.id).await.expect("get").expect("exists");
    assert_eq!(loaded.status, ConversationStatus::Agent);
    assert_eq!(loaded.assigned_agent.as_deref(), Some("ana"));
    let second = StatusChange::to(ConversationStatus::Agent)
        .by("bo")
        .only_from(&[ConversationStatus::Bot, ConversationStatus::Waiting]);
    match store.set_status(&older.id, &second).await.expect("status") {
        StatusOutcome::Refused(current) => assert_eq!(current.assigned_agent.as_deref(), Some("ana")),
        other => panic!("a second takeover must be refused, got {other:?}"),
    }

    let back = StatusChange::to(ConversationStatus::Bot);
    assert!(matches!(store.set_status(&older.id, &back).await.expect("status"), StatusOutcome::Changed(_)));
    let handed_back = store.get_conversation(&older.id).await.expect("get").expect("exists");
    assert_eq!(handed_back.status, ConversationStatus::Bot);
    assert_eq!(handed_back.assigned_agent, None, "handing back to the bot unassigns the agent");
    assert_eq!(handed_back.locale, older.locale, "other fields are kept");

    let tags = vec!["refund".to_owned(), "vip".to_owned()];
    let tagged = store.set_tags(&older.id, &tags).await.expect("tags").expect("exists");
    assert_eq!(tagged.tags, tags);
    assert_eq!(tagged.status, ConversationStatus::Bot, "other fields are kept");
    assert_eq!(store.get_conversation(&older.id).await.expect("get").expect("exists").tags, tags);
    assert!(store.set_tags("missing", &tags).await.expect("tags").is_none());

    let listed = store.list_conversations(&ConversationQuery::default()).await.expect("list");
    assert_eq!(listed.conversations.len(), 2);
    assert_eq!(listed.conversations[0].id, older.id, "the last changed comes first");
    assert_eq!(listed.next, None);
    let one = ConversationQuery { limit: 1, ..ConversationQuery::default() };
    let first = store.list_conversations(&one).await.expect("list");
    assert_eq!(first.conversations.len(), 1);
    let rest = ConversationQuery { cursor: first.next.clone(), ..one };
    let second_page = store.list_conversations(&rest).await.expect("list");
    assert_eq!(second_page.conversations.len(), 1);
    assert_eq!(second_page.conversations[0].id, newer.id, "the next page continues after the cursor");
}

async fn listing_filters_by_status_time_text_and_feedback(store: Arc<dyn SessionStore>) {
    let started = frontdesk_core::now_ms();
    let mut ids = Vec::new();
    for i in 0..12 {
        let conv = conversation();
        store.create_conversation(&conv).await.expect("create");
        let text = if i % 3 == 0 { format!("Where is my PARCEL number {i}?") } else { format!("hello {i}") };
        store.append_message(&conv.id, visitor(&text, "c1")).await.expect("append");
        let answer =
            store.append_message(&conv.id, Message::new(Role::Assistant, "ok")).await.expect("append");
        if i % 4 == 0 {
            let down = Feedback { value: FeedbackValue::Down, comment: None };
            store.set_feedback(&conv.id, &answer.message().id, down).await.expect("feedback");
        }
        if i % 2 == 0 {
            store.set_status(&conv.id, &StatusChange::to(ConversationStatus::Waiting)).await.expect("status");
        }
        ids.push(conv.id);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let all = |query: ConversationQuery| {
        let store = Arc::clone(&store);
        async move {
            let mut found = Vec::new();
            let mut query = ConversationQuery { limit: 2, ..query };
            loop {
                let page = store.list_conversations(&query).await.expect("list");
                assert!(page.conversations.len() <= 2);
                found.extend(page.conversations.into_iter().map(|c| c.id));
                match page.next {
                    Some(next) => query.cursor = Some(next),
                    None => return found,
                }
            }
        }
    };
    let expect = |pick: &dyn Fn(usize) -> bool| -> Vec<String> {
        ids.iter().enumerate().rev().filter(|(i, _)| pick(*i)).map(|(_, id)| id.clone()).collect()
    };
    assert_eq!(all(ConversationQuery::default()).await, expect(&|_| true), "paging visits each once");
    let waiting = ConversationQuery { status: Some(ConversationStatus::Waiting), ..Default::default() };
    assert_eq!(all(waiting).await, expect(&|i| i % 2 == 0));
    let parcel = ConversationQuery { text: Some("parcel".into()), ..Default::default() };
    assert_eq!(all(parcel).await, expect(&|i| i % 3 == 0), "text matches case-insensitively");
    let down = ConversationQuery { feedback: Some(FeedbackValue::Down), ..Default::default() };
    assert_eq!(all(down).await, expect(&|i| i % 4 == 0));
    let both = ConversationQuery {
        status: Some(ConversationStatus::Waiting),
        text: Some("parcel".into()),
        ..Default::default()
    };
    assert_eq!(all(both).await, expect(&|i| i % 6 == 0));
    let future =
        ConversationQuery { updated_from_ms: Some(frontdesk_core::now_ms() + 60_000), ..Default::default() };
    assert!(all(future).await.is_empty());
    let past = ConversationQuery { updated_to_ms: Some(started), ..Default::default() };
    assert!(all(past).await.is_empty());
    let bad = ConversationQuery { cursor: Some("nonsense".into()), ..Default::default() };
    let error = store.list_conversations(&bad).await.expect_err("a bad cursor is refused");
    assert_eq!(error.code(), frontdesk_core::ErrorCode::BadRequest);
}

async fn writes_are_published_as_events(store: Arc<dyn SessionStore>) {
    let mut events = store.subscribe();
    let conv = conversation();
    store.create_conversation(&conv).await.expect("create");
    let stored = store.append_message(&conv.id, visitor("hi", "c1")).await.expect("append");
    store.append_message(&conv.id, visitor("hi", "c1")).await.expect("a duplicate publishes nothing");
    store.set_status(&conv.id, &StatusChange::to(ConversationStatus::Waiting)).await.expect("status");
    store.publish(&StoreEvent::Document { document_id: "faq.md".into() }).await.expect("publish");
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
            .await
            .expect("events arrive within five seconds")
            .expect("the channel stays open");
        if event.conversation_id().is_none_or(|id| id == conv.id) {
            seen.push(event);
        }
    }
    assert!(
        matches!(&seen[0], StoreEvent::Status { conversation } if conversation.status == ConversationStatus::Bot)
    );
    assert!(matches!(&seen[1], StoreEvent::Message { message, .. } if message.id == stored.message().id));
    assert!(
        matches!(&seen[2], StoreEvent::Status { conversation } if conversation.status == ConversationStatus::Waiting)
    );
    assert_eq!(seen[3], StoreEvent::Document { document_id: "faq.md".into() });
}

async fn visitor_profiles_are_kept_and_updated(store: Arc<dyn SessionStore>) {
    use frontdesk_core::model::VisitorProfile;
    let id = frontdesk_core::new_id();
    assert!(store.get_visitor(&id).await.expect("get").is_none());
    let mut profile =
        VisitorProfile { id: id.clone(), first_seen_ms: 1_000, last_seen_ms: 1_000, ..Default::default() };
    profile.attributes.insert("plan".into(), "Plus".into());
    store.put_visitor(&profile).await.expect("put");
    let mut later =
        VisitorProfile { id: id.clone(), first_seen_ms: 5_000, last_seen_ms: 5_000, ..Default::default() };
    later.attributes.insert("page".into(), "Aura ANC".into());
    store.put_visitor(&later).await.expect("put");
    let stored = store.get_visitor(&id).await.expect("get").expect("exists");
    assert_eq!(stored.first_seen_ms, 1_000, "first seen is kept");
    assert_eq!(stored.last_seen_ms, 5_000);
    assert_eq!(stored.attributes.get("page").map(String::as_str), Some("Aura ANC"));
    assert!(!stored.attributes.contains_key("plan"), "the attributes are replaced");

    // Items viewed add up across profiles stored, the latest last, bounded.
    let mut viewing = VisitorProfile { id: id.clone(), ..Default::default() };
    viewing.record_view("nova-15");
    viewing.record_view("aura-anc");
    store.put_visitor(&viewing).await.expect("put");
    store.put_visitor(&later).await.expect("put");
    assert_eq!(store.get_visitor(&id).await.expect("get").expect("exists").viewed, ["nova-15", "aura-anc"]);
    let mut more = VisitorProfile { id: id.clone(), ..Default::default() };
    for n in 0..frontdesk_core::model::MAX_VIEWED {
        more.record_view(&format!("item-{n}"));
    }
    more.record_view("nova-15");
    store.put_visitor(&more).await.expect("put");
    let viewed = store.get_visitor(&id).await.expect("get").expect("exists").viewed;
    assert_eq!(viewed.len(), frontdesk_core::model::MAX_VIEWED);
    assert_eq!(viewed.last().map(String::as_str), Some("nova-15"));
    assert!(!viewed.contains(&"aura-anc".to_owned()), "the oldest went first: {viewed:?}");
}

async fn leads_are_listed_newest_first_and_deleted_with_their_visitor(store: Arc<dyn SessionStore>) {
    use frontdesk_core::leads::{DeliveryState, Lead};
    let (visitor, other) =
        (format!("v-{}", frontdesk_core::new_id()), format!("v-{}", frontdesk_core::new_id()));
    let lead = |visitor: &str, created_ms: i64| Lead {
        id: frontdesk_core::new_id(),
        conversation_id: "c1".into(),
        visitor_id: visitor.to_owned(),
        email: Some("ana@example.com".into()),
        phone: None,
        consent_text: "I agree.".into(),
        consented_ms: created_ms,
        interest: "a quote".into(),
        items: vec!["nova-15".into()],
        created_ms,
        delivery: Default::default(),
    };
    // Far in the future, so leads of other tests on a shared Redis come after these.
    let base = 4_000_000_000_000;
    let (first, mut second, third) =
        (lead(&visitor, base + 1), lead(&visitor, base + 2), lead(&other, base + 3));
    for l in [&first, &second, &third] {
        store.put_lead(l).await.expect("put");
    }
    second.delivery.state = DeliveryState::Delivered;
    assert!(store.update_lead(&second).await.expect("updated"), "a stored lead is updated");
    let listed = store.list_leads(3).await.expect("list");
    let ids: Vec<&str> = listed.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, [third.id.as_str(), second.id.as_str(), first.id.as_str()], "newest first, once each");
    assert_eq!(listed[1].delivery.state, DeliveryState::Delivered, "the update replaced the lead");
    assert_eq!(store.delete_leads_of_visitor(&visitor).await.expect("delete"), 2);
    assert!(!store.update_lead(&second).await.expect("update"), "a deleted lead is not written back");
    let left: Vec<String> = store.list_leads(3).await.expect("list").into_iter().map(|l| l.id).collect();
    assert!(left.contains(&third.id) && !left.contains(&first.id) && !left.contains(&second.id));
    store.delete_leads_of_visitor(&other).await.expect("delete");
}

async fn a_visitors_data_is_found_and_deleted_everywhere(store: Arc<dyn SessionStore>) {
    use frontdesk_core::model::VisitorProfile;
    let visitor = format!("v-{}", frontdesk_core::new_id());
    let mut ids = Vec::new();
    for _ in 0..3 {
        let conv = Conversation::new(visitor.clone(), None);
        store.create_conversation(&conv).await.expect("create");
        store
            .append_message(&conv.id, visitor_message("my email is ana@example.com", "c1"))
            .await
            .expect("append");
        ids.push(conv.id);
    }
    let other = conversation();
    store.create_conversation(&other).await.expect("create");
    store.put_visitor(&VisitorProfile { id: visitor.clone(), ..Default::default() }).await.expect("put");
    let found: Vec<String> =
        store.conversations_of_visitor(&visitor).await.expect("list").into_iter().map(|c| c.id).collect();
    assert_eq!(found.len(), 3);
    assert!(ids.iter().all(|id| found.contains(id)));

    for id in &ids {
        assert!(store.delete_conversation(id).await.expect("delete"));
    }
    assert!(!store.delete_conversation(&ids[0]).await.expect("delete twice"));
    assert!(store.delete_visitor(&visitor).await.expect("delete"));
    assert!(store.get_visitor(&visitor).await.expect("get").is_none());
    assert!(store.conversations_of_visitor(&visitor).await.expect("list").is_empty());
    for id in &ids {
        assert!(store.get_conversation(id).await.expect("get").is_none());
        assert!(store.list_messages(id).await.expect("list").is_empty());
    }
    let text = ConversationQuery { text: Some("ana@example.com".into()), ..Default::default() };
    assert!(
        store.list_conversations(&text).await.expect("list").conversations.is_empty(),
        "no index keeps it"
    );
    // A new conversation may reuse nothing of the deleted ones; the other visitor is untouched.
    assert!(store.get_conversation(&other.id).await.expect("get").is_some());
}

async fn sealed_details_are_kept_per_message_and_deleted_with_their_conversation(
    store: Arc<dyn SessionStore>,
) {
    let conv = conversation();
    let other = conversation();
    for c in [&conv, &other] {
        store.create_conversation(c).await.expect("create");
    }
    store.put_sealed(&conv.id, "m1", "00aa").await.expect("put");
    store.put_sealed(&conv.id, "m2", "00bb").await.expect("put");
    store.put_sealed(&conv.id, "m1", "00cc").await.expect("put again replaces");
    store.put_sealed(&other.id, "m1", "00dd").await.expect("put");
    let mut sealed = store.list_sealed(&conv.id).await.expect("list");
    sealed.sort();
    assert_eq!(sealed, [("m1".to_owned(), "00cc".to_owned()), ("m2".to_owned(), "00bb".to_owned())]);
    assert!(store.delete_conversation(&conv.id).await.expect("delete"));
    assert!(store.list_sealed(&conv.id).await.expect("list").is_empty(), "gone with its conversation");
    assert_eq!(store.list_sealed(&other.id).await.expect("list").len(), 1, "the other one stays");
}

async fn closed_conversations_expire_after_the_retention_period(store: Arc<dyn SessionStore>) {
    let day = 86_400_000;
    let now = frontdesk_core::now_ms();
    let aged = |status: ConversationStatus, age_days: i64| {
        let mut conv = conversation();
        conv.status = status;
        conv.created_ms = now - age_days * day;
        conv.updated_ms = conv.created_ms;
        conv
    };
    let old_closed = aged(ConversationStatus::Closed, 100);
    let old_open = aged(ConversationStatus::Bot, 100);
    let recent_closed = aged(ConversationStatus::Closed, 1);
    for conv in [&old_closed, &old_open, &recent_closed] {
        store.create_conversation(conv).await.expect("create");
    }
    let deleted = frontdesk_core::store::purge_closed(store.as_ref(), now - 30 * day).await.expect("purge");
    assert_eq!(deleted, 1);
    assert!(store.get_conversation(&old_closed.id).await.expect("get").is_none(), "closed and old: removed");
    assert!(store.get_conversation(&old_open.id).await.expect("get").is_some(), "not closed: kept");
    assert!(store.get_conversation(&recent_closed.id).await.expect("get").is_some(), "recent: kept");
}

async fn appending_to_a_missing_conversation_fails(store: Arc<dyn SessionStore>) {
    let error = store.append_message("missing", visitor("x", "c")).await.expect_err("must fail");
    assert_eq!(error.code(), frontdesk_core::ErrorCode::NotFound);
    assert!(store.get_conversation("missing").await.expect("get").is_none());
    store.ping().await.expect("ping");
}

async fn documents_are_stored_replaced_listed_and_deleted(documents: Arc<dyn DocumentStore>) {
    let document = |id: &str, content: &[u8]| Document {
        info: DocumentInfo {
            id: id.to_owned(),
            bytes: content.len() as u64,
            entries: 1,
            sha256: format!("{:x}", content.len()),
            updated_ms: frontdesk_core::now_ms(),
        },
        content: content.to_vec(),
    };
    documents.put_document(&document("b/faq.md", b"## Q\nA\n")).await.expect("put");
    documents.put_document(&document("a.csv", b"question,answer\nQ,A\n")).await.expect("put");
    let binary = document("c.pdf", &[0, 159, 146, 150, 255]);
    documents.put_document(&binary).await.expect("binary content is kept as it is");
    assert_eq!(documents.get_document("c.pdf").await.expect("get"), Some(binary));
    documents.put_document(&document("b/faq.md", b"## Q2\nA2\n")).await.expect("replace");
    let listed: Vec<String> =
        documents.list_documents().await.expect("list").into_iter().map(|d| d.id).collect();
    assert_eq!(listed, ["a.csv", "b/faq.md", "c.pdf"]);
    let replaced = documents.get_document("b/faq.md").await.expect("get").expect("exists");
    assert_eq!(replaced.content, b"## Q2\nA2\n");
    assert!(documents.delete_document("a.csv").await.expect("delete"));
    assert!(!documents.delete_document("a.csv").await.expect("delete again"));
    assert!(documents.get_document("a.csv").await.expect("get").is_none());
    assert_eq!(documents.list_documents().await.expect("list").len(), 2);
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded_backend {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $case() { let b = super::embedded(); super::$case(b.store.clone()).await; } )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn documents() {
                let b = super::embedded();
                super::documents_are_stored_replaced_listed_and_deleted(b.documents.clone()).await;
            }
        }
        mod redis_backend {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $case() { let b = super::redis().await; super::$case(b.store.clone()).await; } )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn documents() {
                let b = super::redis().await;
                super::documents_are_stored_replaced_listed_and_deleted(b.documents.clone()).await;
            }
        }
    };
}

conformance!(
    messages_keep_their_order,
    a_resend_with_the_same_client_id_is_stored_once,
    concurrent_appends_lose_nothing,
    status_feedback_and_listing,
    listing_filters_by_status_time_text_and_feedback,
    writes_are_published_as_events,
    visitor_profiles_are_kept_and_updated,
    leads_are_listed_newest_first_and_deleted_with_their_visitor,
    a_visitors_data_is_found_and_deleted_everywhere,
    sealed_details_are_kept_per_message_and_deleted_with_their_conversation,
    closed_conversations_expire_after_the_retention_period,
    appending_to_a_missing_conversation_fails,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_written_on_one_redis_replica_reaches_another() {
    let config = redis_config();
    let replica_a = RedisStore::connect(&config).await.expect("redis should be reachable for tests");
    let replica_b = RedisStore::connect(&config).await.expect("redis should be reachable for tests");
    let mut on_b = replica_b.subscribe();
    let conv = conversation();
    replica_a.create_conversation(&conv).await.expect("create");
    let mut reply = Message::new(Role::Agent, "Hi, Ana here.");
    reply.agent = Some("ana".into());
    replica_a.append_message(&conv.id, reply).await.expect("append");
    let mut texts = Vec::new();
    while texts.is_empty() {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), on_b.recv())
            .await
            .expect("the event crosses replicas within five seconds")
            .expect("open");
        if let StoreEvent::Message { conversation_id, message } = event {
            assert_eq!(conversation_id, conv.id);
            texts.push(message.text);
        }
    }
    assert_eq!(texts, ["Hi, Ana here."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_replicas_share_the_first_token_secret() {
    let config = redis_config();
    let replica_a = RedisStore::connect(&config).await.expect("redis should be reachable for tests");
    let replica_b = RedisStore::connect(&config).await.expect("redis should be reachable for tests");
    let (a, b) = tokio::join!(
        replica_a.shared_token_secret("secret-of-replica-a-0123456789"),
        replica_b.shared_token_secret("secret-of-replica-b-0123456789")
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_eq!(a, b, "both replicas sign with one secret");
    let again = replica_b.shared_token_secret("a-later-candidate-0123456789").await.expect("again");
    assert_eq!(again, a, "the first secret is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_redis_replica_holds_a_lease_at_a_time() {
    let config = redis_config();
    let replica_a = RedisStore::connect(&config).await.expect("redis should be reachable for tests");
    let replica_b = RedisStore::connect(&config).await.expect("redis should be reachable for tests");
    assert!(replica_a.try_lease("insights", "a", 300).await.expect("a"), "free: a takes it");
    assert!(!replica_b.try_lease("insights", "b", 300).await.expect("b"), "a holds it");
    assert!(replica_a.try_lease("insights", "a", 300).await.expect("a renews"), "the holder renews it");
    assert!(replica_b.try_lease("other", "b", 300).await.expect("other"), "another lease is apart");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(replica_b.try_lease("insights", "b", 300).await.expect("b"), "a's lease ran out: b takes it");
    assert!(!replica_a.try_lease("insights", "a", 300).await.expect("a"), "now b holds it");
}

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
