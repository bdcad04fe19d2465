//! `frontdesk bench inference`: time to first token and decode speed of each engine at several
//! concurrencies, against llama-server running the same GGUF file.

#![allow(clippy::cast_precision_loss)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use frontdesk_core::generate::{
    GenerationEvent, GenerationRequest, Generator, PromptMessage, SamplingConfig,
};
use frontdesk_retrieval::FaqIndex;

use super::{ms, percentile};

/// One engine to measure in `bench inference`.
#[derive(Clone)]
pub enum BenchEngine {
    /// An in-process engine.
    InProcess(String, Arc<dyn Generator>),
    /// llama-server, started from this binary on the same GGUF file.
    LlamaServer(PathBuf),
}

/// What `bench inference` measures.
#[derive(Debug, Clone)]
pub struct InferenceBench {
    /// The GGUF model.
    pub model: PathBuf,
    /// The knowledge-base folder the prompts' passages come from.
    pub kb: PathBuf,
    /// The questions file (visitor questions; the in-scope ones are used).
    pub questions: PathBuf,
    /// Concurrent conversations to measure.
    pub concurrency: Vec<usize>,
    /// Tokens each answer may have.
    pub max_tokens: usize,
    /// CPU threads for every engine.
    pub threads: usize,
    /// Layers on the GPU for llama.cpp (ours and llama-server), in a build with one.
    pub gpu_layers: u32,
    /// Runs of the whole set; every other run measures the engines in reverse order, so an
    /// engine measured first (on a cooler, quieter machine, say) is not favoured.
    pub runs: usize,
}

/// Figures of one engine at one concurrency.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadFigures {
    /// Conversations measured.
    pub samples: usize,
    /// Mean prompt length, in tokens.
    pub prompt_tokens: f64,
    /// Time to first token, median and p95.
    pub ttft_median: Duration,
    /// p95 of the time to first token.
    pub ttft_p95: Duration,
    /// Decode speed of one conversation (tokens after the first over the time after it),
    /// median.
    pub decode_per_conversation: f64,
    /// Time to the answer's last token, median: what the visitor waits for the whole answer.
    /// An engine that starts some answers sooner, reading other visitors' prompts between
    /// their tokens, lowers time to first token and decode speed both; this shows whether
    /// answers also end sooner.
    pub done_median: Duration,
    /// Tokens written by all conversations over the wall time.
    pub aggregate: f64,
}

/// The prompts: one per in-scope question of the questions file, each with the passages the
/// knowledge base finds for it, built the way the chat builds them.
fn bench_prompts(settings: &InferenceBench) -> anyhow::Result<Vec<Vec<PromptMessage>>> {
    let scratch = tempfile::tempdir()?;
    // A scratch index of the folder's documents, like `bench search`'s: the passages are all
    // that is needed, not a library in a store.
    let kb = FaqIndex::open(scratch.path())?;
    let mut documents = Vec::new();
    for (id, path) in frontdesk_retrieval::folder_files(&settings.kb)? {
        let text = frontdesk_retrieval::document_text(&id, &std::fs::read(&path)?)?;
        documents.push((id, text));
    }
    kb.rebuild(&documents, "bench")?;
    let text = std::fs::read_to_string(&settings.questions)
        .with_context(|| format!("failed to read {}", settings.questions.display()))?;
    let questions = crate::eval::parse_questions(&text)?;
    let system = frontdesk_core::prompt::system_prompt("Brightwave");
    let mut prompts = Vec::new();
    for question in questions.iter().filter(|q| q.expected.is_some()) {
        let passages = kb.search_blocking(&question.question, 5)?;
        // About 400 tokens: the system prompt, five FAQ entries and the question.
        let built = frontdesk_core::prompt::build_prompt(
            &system,
            &passages,
            &[],
            &question.question,
            2_000,
            &frontdesk_core::prompt::estimate_tokens,
        );
        prompts.push(built.messages);
    }
    anyhow::ensure!(!prompts.is_empty(), "no in-scope questions in {}", settings.questions.display());
    Ok(prompts)
}

/// One conversation's figures.
struct Conversation {
    ttft: Duration,
    /// Decode tokens per second, when it wrote more than one token.
    decode: Option<f64>,
    /// Time to its last token.
    done: Duration,
    tokens: usize,
    prompt_tokens: usize,
}

async fn one_conversation(
    generator: Arc<dyn Generator>,
    messages: Vec<PromptMessage>,
    max_tokens: usize,
) -> anyhow::Result<Conversation> {
    // Answers of the same length from every engine, so aggregate speeds compare (mistral.rs
    // has no such option and may stop earlier).
    let sampling = SamplingConfig { max_tokens, ignore_eos: true, ..SamplingConfig::default() };
    let started = Instant::now();
    let mut stream = generator
        .generate(GenerationRequest::new(messages, sampling))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut first, mut last, mut pieces, mut counted, mut prompt) = (None, started, 0_usize, None, 0_usize);
    while let Some(event) = stream.recv().await {
        match event.map_err(|e| anyhow::anyhow!("{e}"))? {
            GenerationEvent::Token(_) => {
                last = Instant::now();
                first.get_or_insert(last);
                pieces += 1;
            }
            GenerationEvent::Finished { prompt_tokens, completion_tokens } => {
                counted = Some(completion_tokens as usize).filter(|c| *c > 0);
                prompt = prompt_tokens as usize;
                break;
            }
        }
    }
    let first = first.ok_or_else(|| anyhow::anyhow!("the engine wrote nothing"))?;
    let tokens = counted.unwrap_or(pieces);
    tracing::debug!(
        ttft_ms = (first - started).as_millis(),
        decode_ms = (last - first).as_millis(),
        tokens,
        "conversation"
    );
    let decode = (tokens > 1 && last > first).then(|| (tokens - 1) as f64 / (last - first).as_secs_f64());
    Ok(Conversation { ttft: first - started, decode, done: last - started, tokens, prompt_tokens: prompt })
}

/// Rounds measured at a concurrency: more for fewer conversations, so each figure rests on a
/// few samples.
fn rounds(concurrency: usize) -> usize {
    match concurrency {
        1 => 5,
        2..=4 => 2,
        _ => 1,
    }
}

/// Each engine's figures over llama-server's in the same run; with several runs, the median
/// and the range.
fn ratios(out: &mut String, results: &[(String, usize, usize, LoadFigures)]) {
    let mut lines: Vec<(String, usize, [Vec<f64>; 5])> = Vec::new();
    for (at, (name, run, c, f)) in results.iter().enumerate().filter(|(_, (n, ..))| n != "llama-server") {
        // The k-th measurement of this engine at this concurrency in this run (a concurrency
        // may be listed more than once) goes against llama-server's k-th.
        let same = |engine: &str, (n, r, bc, _): &(String, usize, usize, LoadFigures)| {
            n == engine && r == run && bc == c
        };
        let k = results[..at].iter().filter(|m| same(name, m)).count();
        let Some((.., b)) = results.iter().filter(|m| same("llama-server", m)).nth(k) else {
            continue;
        };
        let faster = |ours: Duration, theirs: Duration| theirs.as_secs_f64() / ours.as_secs_f64().max(1e-9);
        let ratio = [
            faster(f.ttft_median, b.ttft_median),
            faster(f.ttft_p95, b.ttft_p95),
            f.decode_per_conversation / b.decode_per_conversation.max(1e-9),
            faster(f.done_median, b.done_median),
            f.aggregate / b.aggregate.max(1e-9),
        ];
        let at = match lines.iter().position(|(n, lc, _)| n == name && lc == c) {
            Some(at) => at,
            None => {
                lines.push((name.clone(), *c, Default::default()));
                lines.len() - 1
            }
        };
        for (all, value) in lines[at].2.iter_mut().zip(ratio) {
            all.push(value);
        }
    }
    if lines.is_empty() {
        return;
    }
    let runs = lines[0].2[0].len();
    let _ = writeln!(
        out,
        "\nratio to llama-server (above 1.0 is better: for times, llama-server's time over ours){}",
        if runs > 1 { format!("; median of {runs} measurements [lowest-highest]") } else { String::new() }
    );
    let _ = writeln!(
        out,
        "{:<14} {:>3} {:>16} {:>16} {:>16} {:>16} {:>16}",
        "engine", "c", "ttft p50", "ttft p95", "decode/conv", "done p50", "aggregate"
    );
    for (name, c, mut all) in lines {
        let cells: Vec<String> = all
            .iter_mut()
            .map(|values| {
                values.sort_by(f64::total_cmp);
                let half = values.len() / 2;
                let median = if values.len() % 2 == 0 {
                    (values[half - 1] + values[half]) / 2.0
                } else {
                    values[half]
                };
                if values.len() > 1 {
                    format!("{median:.2} [{:.2}-{:.2}]", values[0], values[values.len() - 1])
                } else {
                    format!("{median:.2}")
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "{name:<14} {c:>3} {:>16} {:>16} {:>16} {:>16} {:>16}",
            cells[0], cells[1], cells[2], cells[3], cells[4]
        );
    }
}

/// Runs `rounds` rounds of `concurrency` simultaneous conversations, taking prompts from
/// `*next` on, so no prompt is asked twice in one run (as no two visitors send the same whole
/// prompt: an engine that caches whole prompts would otherwise answer repeats from its cache).
async fn load(
    generator: &Arc<dyn Generator>,
    prompts: &[Vec<PromptMessage>],
    next: &mut usize,
    concurrency: usize,
    max_tokens: usize,
) -> anyhow::Result<LoadFigures> {
    let rounds = rounds(concurrency);
    let (mut ttfts, mut decodes, mut dones) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tokens, mut prompt_tokens, mut wall) = (0_usize, 0_usize, Duration::ZERO);
    for _ in 0..rounds {
        let started = Instant::now();
        let mut running = Vec::new();
        for _ in 0..concurrency {
            let messages = prompts[*next % prompts.len()].clone();
            *next += 1;
            running.push(tokio::spawn(one_conversation(Arc::clone(generator), messages, max_tokens)));
        }
        for task in running {
            let conversation = task.await??;
            ttfts.push(conversation.ttft);
            decodes.extend(conversation.decode);
            dones.push(conversation.done);
            tokens += conversation.tokens;
            prompt_tokens += conversation.prompt_tokens;
        }
        wall += started.elapsed();
    }
    ttfts.sort();
    dones.sort();
    decodes.sort_by(f64::total_cmp);
    Ok(LoadFigures {
        samples: ttfts.len(),
        prompt_tokens: prompt_tokens as f64 / ttfts.len().max(1) as f64,
        ttft_median: percentile(&ttfts, 0.5),
        ttft_p95: percentile(&ttfts, 0.95),
        decode_per_conversation: decodes.get(decodes.len() / 2).copied().unwrap_or_default(),
        done_median: percentile(&dones, 0.5),
        aggregate: tokens as f64 / wall.as_secs_f64(),
    })
}

/// llama-server on a free port, stopped when dropped.
struct LlamaServer {
    child: tokio::process::Child,
    url: String,
}

impl LlamaServer {
    async fn start(binary: &Path, settings: &InferenceBench, parallel: usize) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(std::env::temp_dir().join("frontdesk-bench-llama-server.log"))?;
        let child = tokio::process::Command::new(binary)
            .args(["-m", &settings.model.display().to_string()])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-t", &settings.threads.to_string(), "-np", &parallel.to_string()])
            .args(["-ngl", &settings.gpu_layers.to_string()])
            .args(["-c", &(2048 * parallel).to_string()])
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("failed to start {}", binary.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(response) = http.get(format!("{url}/health")).send().await {
                if response.status().is_success() {
                    break;
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "llama-server was not ready within 2 minutes");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(Self { child, url })
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn row(out: &mut String, name: &str, c: usize, f: &LoadFigures) {
    let _ = writeln!(
        out,
        "{name:<14} {c:>3} {:>6} {:>9.0} {:>10.0} {:>10.0} {:>12.1} {:>10.0} {:>11.1}",
        f.samples,
        f.prompt_tokens,
        ms(f.ttft_median),
        ms(f.ttft_p95),
        f.decode_per_conversation,
        ms(f.done_median),
        f.aggregate
    );
}

/// Measures every engine, then prints each figure over llama-server's.
pub async fn run_inference(settings: &InferenceBench, engines: Vec<BenchEngine>) -> anyhow::Result<String> {
    let prompts = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || bench_prompts(&settings)).await??
    };
    let mut out = format!(
        "inference benchmark: {}, {} threads, grounded prompts (system prompt, 5 FAQ entries, a question), \
         answers of at most {} tokens\n",
        settings.model.display(),
        settings.threads,
        settings.max_tokens
    );
    let _ = writeln!(
        out,
        "{:<14} {:>3} {:>6} {:>9} {:>10} {:>10} {:>12} {:>10} {:>11}",
        "engine", "c", "convs", "prompt", "ttft p50", "ttft p95", "decode/conv", "done p50", "aggregate"
    );
    let _ = writeln!(
        out,
        "{:<14} {:>3} {:>6} {:>9} {:>10} {:>10} {:>12} {:>10} {:>11}",
        "", "", "", "tokens", "ms", "ms", "tok/s", "ms", "tok/s"
    );
    let max_c = settings.concurrency.iter().copied().max().unwrap_or(1);
    // Conversations in one run, so each run (and each engine in it) gets prompts of its own.
    let per_run: usize = settings.concurrency.iter().map(|&c| rounds(c) * c).sum();
    let mut results: Vec<(String, usize, usize, LoadFigures)> = Vec::new();
    let runs = settings.runs.max(1);
    if 1 + runs * per_run > prompts.len() {
        let _ = writeln!(out, "(only {} prompts: later runs repeat some)", prompts.len());
    }
    for run in 0..runs {
        let mut order = engines.clone();
        if run % 2 == 1 {
            order.reverse();
        }
        if runs > 1 {
            let _ = writeln!(out, "run {}", run + 1);
        }
        for engine in order {
            let (name, generator, _server): (String, Arc<dyn Generator>, Option<LlamaServer>) = match engine {
                BenchEngine::InProcess(name, generator) => (name, generator, None),
                BenchEngine::LlamaServer(binary) => {
                    let server = LlamaServer::start(&binary, settings, max_c).await?;
                    let generator =
                        frontdesk_inference::RemoteGenerator::new(frontdesk_inference::RemoteConfig {
                            base_url: format!("{}/v1", server.url),
                            api_key: None,
                            model: "default".into(),
                            max_in_flight: max_c,
                        })
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    ("llama-server".to_owned(), Arc::new(generator), Some(server))
                }
            };
            // One short warm-up answer: loads pages of the model file and fills caches. Every
            // engine then gets the same prompts in the same order.
            one_conversation(Arc::clone(&generator), prompts[0].clone(), 8).await?;
            let mut next = 1 + run * per_run;
            for &c in &settings.concurrency {
                let figures = load(&generator, &prompts, &mut next, c, settings.max_tokens).await?;
                row(&mut out, &name, c, &figures);
                results.push((name.clone(), run, c, figures));
            }
        }
    }
    ratios(&mut out, &results);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_put_llama_server_times_over_ours_and_our_speeds_over_its() {
        let figures = |ttft_ms: u64, p95_ms: u64, decode: f64, done_ms: u64, aggregate: f64| LoadFigures {
            samples: 16,
            prompt_tokens: 370.0,
            ttft_median: Duration::from_millis(ttft_ms),
            ttft_p95: Duration::from_millis(p95_ms),
            decode_per_conversation: decode,
            done_median: Duration::from_millis(done_ms),
            aggregate,
        };
        let results = vec![
            ("llama-server".to_owned(), 0, 16, figures(8_000, 10_000, 10.0, 20_000, 100.0)),
            ("llamacpp".to_owned(), 0, 16, figures(4_000, 12_500, 8.0, 16_000, 125.0)),
        ];
        let mut out = String::new();
        ratios(&mut out, &results);
        let line = out.lines().find(|l| l.starts_with("llamacpp")).expect("a ratio line");
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells, ["llamacpp", "16", "2.00", "0.80", "0.80", "1.25", "1.25"], "{out}");
    }
}
