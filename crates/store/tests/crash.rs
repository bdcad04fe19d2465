//! The embedded store under SIGKILL: a child process appends messages as fast as it can and
//! reports each acknowledged append; the parent kills it mid-stream, reopens the file, and
//! checks that it opens and holds every acknowledged message, in order.
//!
//! The child is this same test binary, re-run with `FRONTDESK_CRASH_STORE` set.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use frontdesk_core::model::{Conversation, Message, Role};
use frontdesk_core::store::SessionStore;
use frontdesk_store::EmbeddedStore;

const CHILD_ENV: &str = "FRONTDESK_CRASH_STORE";

/// The writer: runs only in the child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_writer_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let store = EmbeddedStore::open(std::path::Path::new(&path)).expect("open");
    let mut conversation = Conversation::new("crash-visitor", None);
    conversation.id = "crash".into();
    store.create_conversation(&conversation).await.expect("create");
    for i in 0u64.. {
        let mut message = Message::new(Role::Visitor, format!("message {i}"));
        message.client_message_id = Some(format!("c{i}"));
        store.append_message("crash", message).await.expect("append");
        // Printed only once the append is committed: an acknowledgement.
        println!("acked {i}");
    }
}

#[test]
fn acknowledged_writes_survive_a_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.redb");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["crash_writer_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut last_acked: Option<u64> = None;
    let started = Instant::now();
    // Let it write for a while, then kill it without warning in the middle of the stream.
    while last_acked.is_none_or(|n| n < 300) && started.elapsed() < Duration::from_secs(60) {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(n) = line.strip_prefix("acked ") {
            last_acked = n.trim().parse().ok();
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    // Acknowledgements printed before the kill still count.
    for line in lines.map_while(Result::ok) {
        if let Some(n) = line.strip_prefix("acked ") {
            last_acked = n.trim().parse().ok().or(last_acked);
        }
    }
    let last_acked = last_acked.expect("the child acknowledged writes before the kill");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = EmbeddedStore::open(&path).expect("the file reopens after SIGKILL");
        let messages = store.list_messages("crash").await.expect("readable");
        assert!(
            messages.len() as u64 > last_acked,
            "{} messages stored, but {} were acknowledged",
            messages.len(),
            last_acked + 1
        );
        for (i, message) in messages.iter().enumerate() {
            assert_eq!(message.seq, i as u64);
            assert_eq!(message.text, format!("message {i}"), "in order, none missing");
        }
        // And it still takes writes.
        store.append_message("crash", Message::new(Role::Visitor, "after")).await.expect("append");
        println!(
            "killed after {} acknowledged appends; {} found on reopening",
            last_acked + 1,
            messages.len()
        );
    });
}
