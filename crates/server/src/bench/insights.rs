//! `frontdesk bench insights`: what grouping a month of visitor questions into topics costs.
//!
//! A month is generated: `questions` questions drawn (more often the common ones) from
//! `distinct` distinct questions on 60 topics of a shop (5 intents about 12 products, each
//! phrased 4 ways, typed 5 ways, with 7 tails), so the topics' purity is measured too. Each distinct question is embedded once (as the server's cache does); the figures are
//! the embedding time per distinct question, the grouping time of the whole month (median and
//! p95 of runs), the same with word vectors only (the baseline, no model), and the process's
//! peak memory. The month before is a tenth of the size, for the trend.

#![allow(clippy::cast_precision_loss)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use frontdesk_core::insights::{
    core_question, topics, Asked, Outcome, Period, QuestionEmbedder, Thresholds, Topic,
};
use frontdesk_retrieval::{Embedder, QuestionVectors};

use super::{ms, percentile};

const SUBJECTS: &[&str] = &[
    "the Aura headphones",
    "my laptop",
    "the Pulse speaker",
    "the Volt charger",
    "the Lumo lamp",
    "the smartwatch",
    "the tablet",
    "the webcam",
    "the keyboard",
    "the monitor",
    "the router",
    "the e-reader",
];
/// What visitors ask about a subject: each intent is a topic of its own per subject.
const INTENTS: &[&[&str]] = &[
    &["How do I return {}?", "can I send {} back", "I want to return {}", "return policy for {}?"],
    &[
        "When will {} arrive?",
        "how long does delivery of {} take",
        "{} has not arrived yet",
        "delivery time for {}",
    ],
    &[
        "Is there a warranty on {}?",
        "how long is the warranty for {}",
        "{} broke, is it covered by warranty",
        "warranty claim for {}",
    ],
    &[
        "Can I pay for {} in instalments?",
        "monthly payments for {}?",
        "can I split the payment for {}",
        "Klarna for {}?",
    ],
    &["How do I reset {}?", "{} is frozen, how to restart it", "factory reset {}", "{} does not turn on"],
];
const WAYS: &[&str] = &["{}", "hi, {}", "hello! {} thanks", "{} please", "quick question: {}"];
const TAILS: &[&str] = &["", " today", " for my son", " before Christmas", " again", " asap", " as a gift"];

/// The `n`th distinct question and its topic (an intent about a subject): a subject, an
/// intent, one of its phrasings, a way of typing it and a tail.
fn distinct_question(n: usize) -> (String, usize) {
    let mut k = n;
    let mut pick = |len: usize| {
        let i = k % len;
        k /= len;
        i
    };
    let (subject, intent) = (pick(SUBJECTS.len()), pick(INTENTS.len()));
    let phrasing = INTENTS[intent][pick(INTENTS[intent].len())];
    let (way, tail) = (WAYS[pick(WAYS.len())], TAILS[pick(TAILS.len())]);
    let question = phrasing.replace("{}", SUBJECTS[subject]);
    (way.replace("{}", &format!("{question}{tail}")), intent * SUBJECTS.len() + subject)
}

/// A month of `count` questions over `distinct` texts, the first texts the most common.
fn month(count: usize, distinct: usize, texts: &[String], start_ms: i64) -> Vec<Asked> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..count)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // The square of a uniform number favours the small indices: common questions.
            let u = (state >> 11) as f64 / (1_u64 << 53) as f64;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let pick = ((u * u) * distinct as f64) as usize % distinct;
            Asked {
                conversation_id: format!("c{}", i / 2),
                message_id: format!("m{i}"),
                text: texts[pick].clone(),
                created_ms: start_ms + i as i64,
                outcome: if i % 7 == 0 { Outcome::Declined } else { Outcome::Answered },
                feedback: None,
                comment: None,
                agent_reply: None,
                cited: None,
            }
        })
        .collect()
}

/// Share of questions in a topic whose true topic is its most common one.
fn purity(grouped: &[Topic], asked: &[Asked], truth: &HashMap<&str, usize>) -> f64 {
    let mut agreeing = 0;
    for topic in grouped {
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for &i in &topic.members {
            *counts.entry(truth.get(asked[i].text.as_str()).copied().unwrap_or(usize::MAX)).or_default() += 1;
        }
        agreeing += counts.values().max().copied().unwrap_or(0);
    }
    agreeing as f64 / asked.len().max(1) as f64
}

fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs the benchmark; `model` is the embedding model's folder.
pub fn run_insights(
    questions: usize,
    distinct: usize,
    runs: usize,
    model: Option<&Path>,
) -> anyhow::Result<String> {
    let model = model.context("bench insights needs the embedding model (--embedding-model)")?;
    let embedder = Arc::new(Embedder::load(model).context("failed to load the embedding model")?);
    let thresholds = Thresholds::for_scale(embedder.scale());
    let vectors = QuestionVectors::new(embedder);
    let generated: Vec<(String, usize)> = (0..distinct).map(distinct_question).collect();
    let texts: Vec<String> = generated.iter().map(|(t, _)| t.clone()).collect();
    // Two truths: the intent about one product, and the intent alone (returns, delivery...).
    let fine: HashMap<&str, usize> = generated.iter().map(|(t, topic)| (t.as_str(), *topic)).collect();
    let coarse: HashMap<&str, usize> =
        generated.iter().map(|(t, topic)| (t.as_str(), *topic / SUBJECTS.len())).collect();
    let true_topics =
        generated.iter().map(|(_, topic)| *topic).collect::<std::collections::HashSet<_>>().len();
    let mut out = String::new();
    let before = peak_memory_mib().unwrap_or_default();

    let started = Instant::now();
    let cores: Vec<String> = texts.iter().map(|t| core_question(t)).collect();
    let refs: Vec<&str> = cores.iter().map(String::as_str).collect();
    vectors.embed_questions(&refs)?;
    let embedding = started.elapsed();
    writeln!(
        out,
        "embedding: {distinct} distinct questions in {:.1} s, {:.2} ms each (each embedded once, then cached)",
        embedding.as_secs_f64(),
        ms(embedding) / distinct as f64
    )?;

    let current = month(questions, distinct, &texts, 1_000_000);
    let previous = month(questions / 10, distinct, &texts, 0);
    let lookup = |asked: &[Asked]| -> anyhow::Result<Vec<Option<Vec<f32>>>> {
        let texts: Vec<String> = asked.iter().map(|a| core_question(&a.text)).collect();
        Ok(vectors.embed_questions(&texts.iter().map(String::as_str).collect::<Vec<_>>())?)
    };
    for (name, by_model) in [("model vectors", true), ("word vectors (baseline)", false)] {
        let mut times = Vec::new();
        let mut found = 0;
        let (mut pure, mut pure_intent) = (0.0, 0.0);
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            let (now, before) = if by_model {
                (lookup(&current)?, lookup(&previous)?)
            } else {
                (vec![None; current.len()], vec![None; previous.len()])
            };
            let grouped = topics(
                &Period { asked: &current, vectors: &now },
                &Period { asked: &previous, vectors: &before },
                thresholds,
            );
            times.push(started.elapsed());
            found = grouped.len();
            pure = purity(&grouped, &current, &fine);
            pure_intent = purity(&grouped, &current, &coarse);
        }
        times.sort();
        writeln!(
            out,
            "{name}: {questions} questions ({distinct} distinct; {true_topics} intent-product pairs, {} intents) \
             into {found} topics, purity {pure:.3} by pair, {pure_intent:.3} by intent: median {:.0} ms, p95 {:.0} ms \
             over {} runs",
            INTENTS.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            times.len()
        )?;
    }
    let after = peak_memory_mib().unwrap_or_default();
    writeln!(out, "peak memory: {after:.0} MiB (model loaded: {before:.0} MiB)")?;
    let month_estimate =
        Duration::from_secs_f64(embedding.as_secs_f64() / distinct as f64 * questions as f64);
    writeln!(
        out,
        "were all {questions} questions distinct, embedding them once would take {:.0} s on this machine",
        month_estimate.as_secs_f64()
    )?;
    Ok(out)
}
