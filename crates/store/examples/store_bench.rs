//! Store benchmark: latency of appending a message and of loading a 50-message conversation
//! (median and p99), and appends per second with 32 concurrent clients, for the embedded store
//! and for Redis, next to `redis-benchmark` run against the same Redis as the baseline.
//!
//! `scripts/bench-store.sh` runs it; or `cargo run -p frontdesk-store --example store_bench --
//! [REDIS_URL]`. Figures on a shared machine are noisy: compare within one run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use frontdesk_core::model::{Conversation, Message, Role};
use frontdesk_core::store::SessionStore;
use frontdesk_store::{EmbeddedStore, RedisStore, RedisStoreConfig};

const SEQUENTIAL_APPENDS: usize = 2_000;
const LOADS: usize = 500;
const CLIENTS: usize = 32;
const CONCURRENT_FOR: Duration = Duration::from_secs(3);

struct Figures {
    append_median: Duration,
    append_p99: Duration,
    load_median: Duration,
    load_p99: Duration,
    concurrent_ops_per_second: f64,
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn message(i: usize) -> Message {
    let mut message =
        Message::new(Role::Visitor, format!("Where is my order number {i}? It has not arrived yet."));
    message.client_message_id = Some(format!("client-{i}"));
    message
}

async fn new_conversation(store: &dyn SessionStore) -> String {
    let conversation = Conversation::new(frontdesk_core::new_id(), Some("en".into()));
    store.create_conversation(&conversation).await.expect("create");
    conversation.id
}

async fn measure(store: Arc<dyn SessionStore>) -> Figures {
    let id = new_conversation(store.as_ref()).await;
    let mut appends = Vec::with_capacity(SEQUENTIAL_APPENDS);
    for i in 0..SEQUENTIAL_APPENDS {
        let started = Instant::now();
        store.append_message(&id, message(i)).await.expect("append");
        appends.push(started.elapsed());
    }

    let fifty = new_conversation(store.as_ref()).await;
    for i in 0..50 {
        store.append_message(&fifty, message(i)).await.expect("append");
    }
    let mut loads = Vec::with_capacity(LOADS);
    for _ in 0..LOADS {
        let started = Instant::now();
        let messages = store.list_messages(&fifty).await.expect("load");
        loads.push(started.elapsed());
        assert_eq!(messages.len(), 50);
    }

    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let id = new_conversation(store.as_ref()).await;
                let mut done = 0usize;
                while started.elapsed() < CONCURRENT_FOR {
                    store.append_message(&id, message(done)).await.expect("append");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("client task");
    }
    #[allow(clippy::cast_precision_loss)]
    let concurrent_ops_per_second = total as f64 / started.elapsed().as_secs_f64();

    Figures {
        append_median: percentile(&mut appends, 0.5),
        append_p99: percentile(&mut appends, 0.99),
        load_median: percentile(&mut loads, 0.5),
        load_p99: percentile(&mut loads, 0.99),
        concurrent_ops_per_second,
    }
}

/// `redis-benchmark` on the same Redis: requests per second of RPUSH and LRANGE (first 100)
/// with 32 clients, the nearest raw equivalents of an append and a load.
fn redis_benchmark(host: &str, port: u16) -> Option<(f64, f64)> {
    let output = std::process::Command::new("redis-benchmark")
        .args(["-h", host, "-p", &port.to_string(), "--dbnum", "15", "-c", "32", "-n", "50000"])
        .args(["-t", "rpush,lrange_100", "--csv"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(&format!("\"{name}")))
            .and_then(|line| line.split(',').nth(1))
            .and_then(|value| value.trim_matches('"').parse::<f64>().ok())
    };
    Some((rate("RPUSH")?, rate("LRANGE_100")?))
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1_000.0)
}

#[tokio::main]
async fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = Arc::new(EmbeddedStore::open(&dir.path().join("bench.redb")).expect("open"));
    let mut config = RedisStoreConfig::new(url.clone());
    config.key_prefix = format!("frontdesk-bench:{}:", frontdesk_core::new_id());
    let redis = Arc::new(RedisStore::connect(&config).await.expect("redis reachable"));

    println!("store benchmark: {SEQUENTIAL_APPENDS} sequential appends, {LOADS} loads of 50 messages, {CLIENTS} clients appending for {}s", CONCURRENT_FOR.as_secs());
    println!(
        "{:<10} {:>14} {:>14} {:>14} {:>14} {:>16}",
        "backend", "append p50", "append p99", "load50 p50", "load50 p99", "32 clients op/s"
    );
    let mut redis_rate = 0.0;
    for (name, store) in
        [("embedded", embedded as Arc<dyn SessionStore>), ("redis", redis as Arc<dyn SessionStore>)]
    {
        let f = measure(store).await;
        println!(
            "{name:<10} {:>14} {:>14} {:>14} {:>14} {:>16.0}",
            ms(f.append_median),
            ms(f.append_p99),
            ms(f.load_median),
            ms(f.load_p99),
            f.concurrent_ops_per_second
        );
        if name == "redis" {
            redis_rate = f.concurrent_ops_per_second;
        }
    }

    let address = url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) =
        address.rsplit_once(':').map_or((address, 6379), |(h, p)| (h, p.parse().unwrap_or(6379)));
    match redis_benchmark(host, port) {
        Some((rpush, lrange)) => {
            println!("baseline redis-benchmark -c 32: RPUSH {rpush:.0} req/s, LRANGE_100 {lrange:.0} req/s");
            println!(
                "ratio: our Redis appends with 32 clients / redis-benchmark RPUSH = {:.3}",
                redis_rate / rpush
            );
        }
        None => println!("baseline: redis-benchmark not found or failed; no ratio"),
    }

    // Leave the shared Redis as it was.
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut connection = client.get_multiplexed_async_connection().await.expect("connect");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", config.key_prefix))
        .query_async(&mut connection)
        .await
        .expect("keys");
    for chunk in keys.chunks(500) {
        redis::cmd("DEL").arg(chunk).query_async::<()>(&mut connection).await.expect("del");
    }
    let _: () = redis::cmd("SELECT").arg(15).query_async(&mut connection).await.expect("select");
    let _: () = redis::cmd("FLUSHDB").query_async(&mut connection).await.expect("flush the baseline's keys");
}
