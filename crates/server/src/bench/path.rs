//! `frontdesk bench path`: where a visitor's first token goes, stage by stage.
//!
//! Each question is a visitor's first message in a new conversation on the embedded store,
//! answered in generative mode through the same `ChatService` the socket drives. The retriever
//! and the engine are the real ones, each behind a wrapper that notes when it is called and
//! when it answers, so one turn yields every stage: before the search (the store's reads and
//! the visitor message's write, the acknowledgement), the search (query embedding, keyword and
//! vector search), from there to the engine (the visitor's context, the history, the prompt),
//! the engine's own first token (the bare engine's figure), and from that to the first piece
//! the visitor is sent (the fact check and recital guard holding a word back, the channels).
//! The query embedding is also timed on its own, on the same questions.
//!
//! Before each turn the engine writes one token for an unrelated question, so every turn finds
//! in the cache what production finds (the shared system prompt, not its own passages).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use frontdesk_core::chat::{AnswerMode, ChatService, TurnEvent};
use frontdesk_core::generate::{
    GenerationEvent, GenerationRequest, GenerationStream, Generator, PromptMessage, PromptRole, TokenCounter,
};
use frontdesk_core::model::Conversation;
use frontdesk_core::retrieve::{Passage, Retriever};
use tokio::sync::mpsc;

use super::{ms, percentile};
use crate::config::Config;

/// When one turn's stages began and ended.
#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    search_started: Option<Instant>,
    searching: Duration,
    search_ended: Option<Instant>,
    engine_called: Option<Instant>,
    engine_first: Option<Instant>,
}

type Shared = Arc<Mutex<Marks>>;

fn mark(marks: &Shared, f: impl FnOnce(&mut Marks)) {
    f(&mut marks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
}

/// The real retriever, noting its calls (a follow-up may search twice: both count).
struct TimedRetriever {
    inner: Arc<dyn Retriever>,
    marks: Shared,
}

#[async_trait]
impl Retriever for TimedRetriever {
    async fn search(&self, query: &str, k: usize) -> frontdesk_core::Result<Vec<Passage>> {
        let started = Instant::now();
        mark(&self.marks, |m| {
            m.search_started.get_or_insert(started);
        });
        let found = self.inner.search(query, k).await;
        let ended = Instant::now();
        mark(&self.marks, |m| {
            m.searching += ended - started;
            m.search_ended = Some(ended);
        });
        found
    }

    async fn entry_count(&self) -> frontdesk_core::Result<u64> {
        self.inner.entry_count().await
    }
}

/// The real engine, noting when it is asked and when its first piece comes. The pieces are
/// passed on through one more channel (a few microseconds), which counts in the last stage.
struct TimedGenerator {
    inner: Arc<dyn Generator>,
    marks: Shared,
}

#[async_trait]
impl Generator for TimedGenerator {
    async fn generate(&self, request: GenerationRequest) -> frontdesk_core::Result<GenerationStream> {
        mark(&self.marks, |m| m.engine_called = Some(Instant::now()));
        let mut inner = self.inner.generate(request).await?;
        let (tx, rx) = mpsc::channel(inner.max_capacity().max(1));
        let marks = Arc::clone(&self.marks);
        tokio::spawn(async move {
            while let Some(event) = inner.recv().await {
                if matches!(event, Ok(GenerationEvent::Token(_))) {
                    let now = Instant::now();
                    mark(&marks, |m| {
                        m.engine_first.get_or_insert(now);
                    });
                }
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn token_counter(&self) -> Option<Arc<dyn TokenCounter>> {
        self.inner.token_counter()
    }

    fn context_tokens(&self) -> Option<usize> {
        self.inner.context_tokens()
    }

    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }
}

/// The stages of one turn, in order; they add up to `total`.
const STAGES: [&str; 5] = [
    "store and acknowledgement",
    "search (embedding, keywords, vectors)",
    "context, history and prompt",
    "engine's first token",
    "check and guard to the visitor",
];

/// Runs `questions` (each once per run) through a generative turn and prints each stage's
/// median and p95, and the whole path against the bare engine.
pub async fn run_path(config: &Config, questions: &[String], runs: usize) -> anyhow::Result<String> {
    let (store, library, _) = crate::open_library(config).await?;
    let engine = crate::load_generator(config).await?;
    let marks: Shared = Arc::default();
    let retriever =
        Arc::new(TimedRetriever { inner: Arc::new(library.index().clone()), marks: Arc::clone(&marks) });
    let generator = Arc::new(TimedGenerator { inner: Arc::clone(&engine), marks: Arc::clone(&marks) });
    let chat = ChatService::new(store.clone(), retriever, generator, crate::chat_config(config))
        .with_answer_mode(AnswerMode::Generative);
    let system = chat.config().system_prompt.clone();

    let mut stages: Vec<Vec<Duration>> = vec![Vec::new(); STAGES.len()];
    let mut totals = Vec::new();
    let mut skipped = 0;
    for run in 0..runs.max(1) {
        for (index, question) in questions.iter().enumerate() {
            prime(engine.as_ref(), &system, run * questions.len() + index).await?;
            *marks.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Marks::default();
            let conversation = Conversation::new("bench-visitor", None);
            store.create_conversation(&conversation).await?;
            let (tx, mut rx) = mpsc::channel(512);
            let started = Instant::now();
            let turn = {
                let chat = chat.clone();
                let (id, question) = (conversation.id.clone(), question.clone());
                tokio::spawn(async move { chat.handle_visitor_message(&id, "bench-1", &question, &tx).await })
            };
            let mut first = None;
            while let Some(event) = rx.recv().await {
                if first.is_none() && matches!(event, TurnEvent::Token { .. }) {
                    first = Some(Instant::now());
                }
            }
            turn.await??;
            let m = *marks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (Some(first), Some(search_started), Some(search_ended), Some(called), Some(engine_first)) =
                (first, m.search_started, m.search_ended, m.engine_called, m.engine_first)
            else {
                // Declined or curated: no model in the turn.
                skipped += 1;
                continue;
            };
            let parts = [
                search_started - started,
                m.searching,
                called.saturating_duration_since(search_ended),
                engine_first - called,
                first.saturating_duration_since(engine_first),
            ];
            for (stage, part) in stages.iter_mut().zip(parts) {
                stage.push(part);
            }
            totals.push(first - started);
        }
    }
    let embedding = match &config.embedding_model {
        Some(model) => Some(time_embedding(model, questions, runs).await?),
        None => None,
    };
    Ok(render(&stages, &totals, embedding.as_deref(), skipped, engine.model_name()))
}

/// One token for an unrelated question, so the slot's cache holds the system prompt and
/// another visitor's question, as between turns in production.
async fn prime(engine: &dyn Generator, system: &str, nonce: usize) -> anyhow::Result<()> {
    let request = GenerationRequest {
        messages: vec![
            PromptMessage { role: PromptRole::System, content: system.to_owned() },
            PromptMessage { role: PromptRole::User, content: format!("Unrelated question number {nonce}?") },
        ],
        sampling: frontdesk_core::generate::SamplingConfig { max_tokens: 1, ..Default::default() },
        priority: frontdesk_core::generate::Priority::Visitor,
        reply_start: None,
        latin_only_for: None,
    };
    let mut stream = engine.generate(request).await?;
    while stream.recv().await.is_some() {}
    Ok(())
}

/// The query embedding alone, each question once per run.
async fn time_embedding(
    model: &std::path::Path,
    questions: &[String],
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    let model = model.to_owned();
    let questions = questions.to_vec();
    tokio::task::spawn_blocking(move || {
        let embedder = frontdesk_retrieval::Embedder::load(&model)?;
        let mut times = Vec::new();
        for _ in 0..runs.max(1) {
            for question in &questions {
                let started = Instant::now();
                embedder.embed_queries(&[question.as_str()])?;
                times.push(started.elapsed());
            }
        }
        Ok::<_, anyhow::Error>(times)
    })
    .await?
}

fn render(
    stages: &[Vec<Duration>],
    totals: &[Duration],
    embedding: Option<&[Duration]>,
    skipped: usize,
    model: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "visitor path to the first token ({model}, generative, {} turns; {skipped} not written by the model)",
        totals.len()
    );
    let _ = writeln!(out, "  {:<40} {:>9} {:>9}", "stage", "p50 ms", "p95 ms");
    // One row: the median and p95 of `values`; returns the median.
    let mut row = |name: &str, values: &[Duration]| {
        let mut values = values.to_vec();
        values.sort_unstable();
        let p50 = ms(percentile(&values, 0.5));
        let _ = writeln!(out, "  {name:<40} {p50:>9.1} {:>9.1}", ms(percentile(&values, 0.95)));
        p50
    };
    let mut medians = Vec::new();
    for (name, values) in STAGES.iter().zip(stages) {
        medians.push(row(name, values));
    }
    if let Some(embedding) = embedding {
        row("  of the search: the query embedding", embedding);
    }
    // Per turn: the whole path less the engine's own part.
    let overhead: Vec<Duration> =
        totals.iter().zip(&stages[3]).map(|(total, engine)| total.saturating_sub(*engine)).collect();
    let whole = row("whole path (first piece shown)", totals);
    row("path over the bare engine", &overhead);
    if medians[3] > 0.0 {
        let _ = writeln!(out, "  whole path / bare engine (p50): {:.2}", whole / medians[3]);
    }
    out
}
