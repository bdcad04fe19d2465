//! `frontdesk bench search`: indexing throughput and search latency on generated FAQ entries,
//! by keywords only and with semantic search.

#![allow(clippy::cast_precision_loss)]

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use frontdesk_retrieval::{Embedder, FaqIndex};

use super::{ms, percentile};

const PRODUCTS: &[&str] = &[
    "headphones",
    "speaker",
    "laptop",
    "charger",
    "keyboard",
    "monitor",
    "camera",
    "router",
    "tablet",
    "printer",
    "microphone",
    "smartwatch",
    "drone",
    "projector",
    "webcam",
    "earbuds",
    "console",
    "mouse",
    "soundbar",
    "e-reader",
];
const TOPICS: &[(&str, &str)] = &[
    ("return", "can be returned within 30 days in its original box for a full refund"),
    ("repair", "is repaired free of charge during the two-year warranty at any service point"),
    ("ship", "ships within two working days and arrives in three to five days"),
    ("pay for", "can be paid by card, bank transfer or invoice for business customers"),
    ("reset", "is reset by holding the power button for ten seconds until the light blinks"),
    ("update", "updates its firmware automatically over Wi-Fi every night"),
    ("clean", "should be cleaned with a dry cloth, never with alcohol"),
    ("register", "is registered in your account under Devices with its serial number"),
    ("insure", "can be insured for theft and damage for 4 euros a month"),
    ("recycle", "is recycled for free at our stores and we give you a 10 euro voucher"),
];

/// A generated entry: `(question, answer)`. Each of the `n` entries is distinct (a product,
/// a topic and a model number).
fn entry(n: usize) -> (String, String) {
    let product = PRODUCTS[n % PRODUCTS.len()];
    let (verb, fact) = TOPICS[(n / PRODUCTS.len()) % TOPICS.len()];
    let model = n / (PRODUCTS.len() * TOPICS.len());
    (
        format!("How do I {verb} the {product} model {model}?"),
        format!("The {product} model {model} {fact}. Ask our support team if anything is unclear."),
    )
}

/// A visitor's phrasing of entry `n`'s question.
fn query(n: usize) -> String {
    let product = PRODUCTS[n % PRODUCTS.len()];
    let (verb, _) = TOPICS[(n / PRODUCTS.len()) % TOPICS.len()];
    let model = n / (PRODUCTS.len() * TOPICS.len());
    match n % 3 {
        0 => format!("{verb} {product} {model}"),
        1 => format!("can i {verb} my {product} model {model} please"),
        _ => format!("how to {verb} a {product}"),
    }
}

/// The documents holding `entries` generated entries, 100 to a CSV file.
fn documents(entries: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for start in (0..entries).step_by(100) {
        let mut csv = String::from("question,answer\n");
        for n in start..(start + 100).min(entries) {
            let (q, a) = entry(n);
            let _ = writeln!(csv, "\"{q}\",\"{a}\"");
        }
        out.push((format!("bench-{start:05}.csv"), csv));
    }
    out
}

/// One mode's figures.
struct Figures {
    entries_per_second: f64,
    median: Duration,
    p99: Duration,
    /// The index folder's size, per 10,000 entries.
    bytes_per_10k: f64,
}

/// Bytes of the files under `dir`.
fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => folder_bytes(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// This process's resident memory in MiB (Linux; 0 elsewhere).
pub(crate) fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn measure(
    dir: &Path,
    embedder: Option<Arc<Embedder>>,
    entries: usize,
    queries: usize,
) -> anyhow::Result<Figures> {
    let kb = FaqIndex::open_with(dir, embedder)?;
    let docs = documents(entries);
    let started = Instant::now();
    let indexed = kb.rebuild(&docs, "bench")?;
    let took = started.elapsed();
    anyhow::ensure!(indexed as usize == entries, "indexed {indexed} of {entries} entries");
    let mut latencies = Vec::with_capacity(queries);
    // A few warm-up searches so the first measured one does not pay for cold caches.
    for n in 0..10 {
        kb.search_blocking(&query(n), 5)?;
    }
    for i in 0..queries {
        let q = query((i * 7919) % entries);
        let started = Instant::now();
        let found = kb.search_blocking(&q, 5)?;
        latencies.push(started.elapsed());
        anyhow::ensure!(!found.is_empty(), "no result for {q:?}");
    }
    latencies.sort();
    #[allow(clippy::cast_precision_loss)]
    let entries_per_second = entries as f64 / took.as_secs_f64();
    let bytes_per_10k = folder_bytes(dir) as f64 * 10_000.0 / entries as f64;
    Ok(Figures {
        entries_per_second,
        median: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        bytes_per_10k,
    })
}

/// Runs the benchmark and returns its report.
pub fn run_search(entries: usize, queries: usize, embedding_model: Option<&Path>) -> anyhow::Result<String> {
    let scratch = tempfile::tempdir()?;
    let mut report = format!("search benchmark: {entries} generated FAQ entries, {queries} queries, k=5\n");
    let keyword = measure(&scratch.path().join("keywords"), None, entries, queries)?;
    let mut rows = vec![("keywords only", keyword)];
    if let Some(model) = embedding_model {
        let before = resident_mib();
        let started = Instant::now();
        let embedder =
            Arc::new(Embedder::load(model).with_context(|| format!("failed to load {}", model.display()))?);
        let _ = writeln!(
            report,
            "embedding model {}: loaded in {:.0} ms, resident memory {:.0} MiB more",
            embedder.name(),
            ms(started.elapsed()),
            resident_mib() - before
        );
        rows.push((
            "keywords + embeddings",
            measure(&scratch.path().join("hybrid"), Some(embedder), entries, queries)?,
        ));
    }
    let _ = writeln!(
        report,
        "{:<24} {:>14} {:>12} {:>12} {:>20}",
        "mode", "entries/s", "median ms", "p99 ms", "index MB / 10k"
    );
    for (name, f) in &rows {
        let _ = writeln!(
            report,
            "{name:<24} {:>14.0} {:>12.3} {:>12.3} {:>20.1}",
            f.entries_per_second,
            ms(f.median),
            ms(f.p99),
            f.bytes_per_10k / 1e6
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_entries_are_distinct_and_queries_find_them() {
        let all: std::collections::HashSet<String> = (0..1_000).map(|n| entry(n).0).collect();
        assert_eq!(all.len(), 1_000);
        let report = run_search(300, 50, None).expect("bench");
        assert!(report.contains("keywords only"), "{report}");
    }
}
