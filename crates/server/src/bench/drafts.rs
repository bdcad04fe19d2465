//! `bench drafts`: what writing a draft costs the visitors. Visitors ask one at a time (a
//! short pause between, so they arrive at every phase of the draft: reading its prompt,
//! writing) on the chat's llama.cpp engine, three ways in one process: alone; while a draft is
//! written at background priority; while the same draft is written at a visitor's priority
//! (what it would cost without priorities). With `--content-model`, a fourth: the draft written
//! by a second model on its own engine, which gives way while visitors are answered (it
//! waits between its steps, and a step under way when a visitor comes is stopped). Prints
//! the visitors' time to first token (median, p95), each against the first way's, the decode
//! step, and the resident memory with the writer's model loaded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use frontdesk_core::generate::{
    GenerationEvent, GenerationRequest, Generator, Priority, PromptMessage, PromptRole, SamplingConfig,
};
use frontdesk_inference::{LlamaCppConfig, LlamaCppGenerator};

use super::{ms, percentile};

/// What to measure.
#[derive(Debug, Clone)]
pub struct DraftsBench {
    /// The chat's model.
    pub model: std::path::PathBuf,
    /// A second model writing drafts, if any.
    pub writer_model: Option<std::path::PathBuf>,
    /// Visitor questions per way.
    pub visitors: usize,
    /// Tokens of each draft.
    pub draft_tokens: usize,
    /// The questions asked.
    pub questions: Vec<String>,
    /// The company's system prompt.
    pub system: String,
}

/// A draft's prompt: a blog post from a long source, as the content studio sends one.
fn draft_request(tokens: usize, priority: Priority) -> GenerationRequest {
    let mut source = String::from("Sources:\n");
    for n in 0..12 {
        source.push_str(&format!(
            "Course {n}: Data Analysis part {n} (price €{}). Clean, explore and chart real data sets with \
             pandas in eight weekly lessons. Level: beginner. Length: 24 hours. Starts 2027-01-{:02}.\n",
            300 + n,
            n + 1
        ));
    }
    let messages = vec![
        PromptMessage {
            role: PromptRole::System,
            content: format!(
                "You write marketing copy for Brightwave. Use only the facts in the sources.\n\n{source}"
            ),
        },
        PromptMessage {
            role: PromptRole::User,
            content: "Write a blog post of about 600 words about the sources.".into(),
        },
    ];
    let sampling = SamplingConfig {
        max_tokens: tokens,
        ignore_eos: true,
        temperature: 0.6,
        ..SamplingConfig::default()
    };
    GenerationRequest { messages, sampling, priority, reply_start: None, latin_only_for: None }
}

/// Drafts written one after another until `stop`.
fn keep_writing(
    engine: Arc<dyn Generator>,
    tokens: usize,
    priority: Priority,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut written = 0;
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut stream) = engine.generate(draft_request(tokens, priority)).await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            while let Some(Ok(event)) = stream.recv().await {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if matches!(event, GenerationEvent::Token(_)) {
                    written += 1;
                }
            }
        }
        written
    })
}

/// Each visitor's time to first token, and the decode steps' durations.
async fn visitors(
    engine: &dyn Generator,
    bench: &DraftsBench,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let (mut firsts, mut steps) = (Vec::new(), Vec::new());
    for (n, question) in bench.questions.iter().cycle().take(bench.visitors).enumerate() {
        // 150 to 450 ms apart, so visitors land in every phase of the draft.
        tokio::time::sleep(Duration::from_millis(150 + (n as u64 * 97) % 300)).await;
        let messages = vec![
            PromptMessage { role: PromptRole::System, content: bench.system.clone() },
            PromptMessage { role: PromptRole::User, content: question.clone() },
        ];
        let sampling = SamplingConfig { max_tokens: 16, ignore_eos: true, ..SamplingConfig::default() };
        let started = Instant::now();
        let mut stream = engine.generate(GenerationRequest::new(messages, sampling)).await?;
        let (mut first, mut last) = (None, None);
        let mut tokens = 0u32;
        while let Some(event) = stream.recv().await {
            if let GenerationEvent::Token(_) = event? {
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
                tokens += 1;
            }
        }
        if let (Some(first), Some(last)) = (first, last) {
            firsts.push(first - started);
            if tokens > 1 {
                steps.push((last - first) / (tokens - 1));
            }
        }
    }
    firsts.sort();
    steps.sort();
    Ok((firsts, steps))
}

/// Runs the bench and prints its table.
pub async fn run_drafts(bench: DraftsBench) -> anyhow::Result<()> {
    let before = super::search::resident_mib();
    let config = LlamaCppConfig { max_in_flight: 8, parallel: 4, ..LlamaCppConfig::default() };
    let chat: Arc<dyn Generator> = Arc::new(LlamaCppGenerator::load(&bench.model, config).await?);
    let with_chat = super::search::resident_mib();
    println!(
        "chat model {}: resident memory {:.0} MiB (+{:.0} MiB)",
        bench.model.display(),
        with_chat,
        with_chat - before
    );
    let mut rows: Vec<(String, Vec<Duration>, Vec<Duration>, usize)> = Vec::new();
    let (alone, steps) = visitors(chat.as_ref(), &bench).await?;
    rows.push(("no draft".into(), alone, steps, 0));
    for (name, priority) in
        [("draft, background priority", Priority::Background), ("draft, visitor priority", Priority::Visitor)]
    {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = keep_writing(Arc::clone(&chat), bench.draft_tokens, priority, Arc::clone(&stop));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (firsts, steps) = visitors(chat.as_ref(), &bench).await?;
        stop.store(true, Ordering::Relaxed);
        let written = writer.await?;
        rows.push((name.into(), firsts, steps, written));
    }
    let mut given_way = None;
    if let Some(path) = &bench.writer_model {
        let writer =
            Arc::new(LlamaCppGenerator::load(path, LlamaCppConfig::beside(Arc::clone(&chat))).await?);
        given_way = Some(Arc::clone(writer.counters()));
        let writer: Arc<dyn Generator> = writer;
        let with_writer = super::search::resident_mib();
        println!(
            "writer model {}: resident memory {:.0} MiB (+{:.0} MiB over the chat's alone)",
            path.display(),
            with_writer,
            with_writer - with_chat
        );
        let stop = Arc::new(AtomicBool::new(false));
        let task =
            keep_writing(Arc::clone(&writer), bench.draft_tokens, Priority::Background, Arc::clone(&stop));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (firsts, steps) = visitors(chat.as_ref(), &bench).await?;
        stop.store(true, Ordering::Relaxed);
        let written = task.await?;
        rows.push(("draft by the writer model".into(), firsts, steps, written));
        // The engine drops the draft at its next step: the process does not end with llama.cpp
        // in the middle of one (its C++ objects are torn down at exit).
        let deadline = Instant::now() + Duration::from_secs(10);
        while writer.in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let base = percentile(&rows[0].1, 0.5);
    let base_p95 = percentile(&rows[0].1, 0.95);
    let step = percentile(&rows[0].2, 0.5);
    println!(
        "\n{} visitors per way, one at a time; drafts of {} tokens written meanwhile; decode step alone {:.1} ms",
        bench.visitors,
        bench.draft_tokens,
        ms(step)
    );
    println!(
        "way                          first token p50   p95      p50 ratio  extra in decode steps: p50   p95  draft tokens written"
    );
    for (name, firsts, _, written) in &rows {
        let (p50, p95) = (percentile(firsts, 0.5), percentile(firsts, 0.95));
        let steps = |now: Duration, then: Duration| (ms(now) - ms(then)) / ms(step).max(0.001);
        println!(
            "{name:<28} {:>10.1} ms  {:>7.1} ms  {:>7.2}  {:>27.1} {:>5.1}  {:>20}",
            ms(p50),
            ms(p95),
            ms(p50) / ms(base).max(0.001),
            steps(p50, base),
            steps(p95, base_p95),
            written
        );
    }
    if let Some(counters) = given_way {
        println!(
            "writer model's steps stopped under way for a visitor: {}",
            counters.steps_given_way.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    Ok(())
}
