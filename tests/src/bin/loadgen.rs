//! Load generator for a running Frontdesk server: N visitors at once, each asking M questions
//! over the visitor WebSocket, for several rounds; then many idle connections held open.
//!
//! Prints per round the time to first token (median, p95), tokens per second (aggregate and per
//! answer), errors and the server's memory (resident and peak, from `/proc/PID/status`); then
//! the memory one idle connection costs. `scripts/bench-load.sh` starts a server and runs it.
//!
//! ```text
//! loadgen --addr 127.0.0.1:8080 --pid PID [--visitors 64] [--questions 4] [--rounds 3]
//!         [--idle 10000] [--questions-file knowledge-base/questions.tsv]
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Options {
    addr: String,
    pid: Option<u32>,
    visitors: usize,
    questions: usize,
    rounds: usize,
    idle: usize,
    questions_file: String,
}

fn options() -> anyhow::Result<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut map = HashMap::new();
    for pair in args.chunks(2) {
        match pair {
            [key, value] if key.starts_with("--") => {
                map.insert(key.trim_start_matches("--").to_owned(), value.clone());
            }
            _ => bail!("usage: loadgen --addr HOST:PORT [--pid PID] [--visitors N] [--questions M] [--rounds R] [--idle K]"),
        }
    }
    let number = |key: &str, default: usize| -> anyhow::Result<usize> {
        map.get(key).map_or(Ok(default), |v| v.parse().with_context(|| format!("--{key}")))
    };
    Ok(Options {
        addr: map.get("addr").cloned().unwrap_or_else(|| "127.0.0.1:8080".into()),
        pid: map.get("pid").map(|p| p.parse()).transpose().context("--pid")?,
        visitors: number("visitors", 64)?,
        questions: number("questions", 4)?,
        rounds: number("rounds", 3)?,
        idle: number("idle", 0)?,
        questions_file: map
            .get("questions-file")
            .cloned()
            .unwrap_or_else(|| "knowledge-base/questions.tsv".into()),
    })
}

/// Resident and peak memory of a process, in KiB.
fn memory(pid: Option<u32>) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse::<u64>().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

async fn connect(addr: &str) -> anyhow::Result<Socket> {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws")).await?;
    socket.send(Message::text(json!({"type": "hello", "locale": "en"}).to_string())).await?;
    let welcome = next(&mut socket).await?;
    if welcome["type"] != "welcome" {
        bail!("no welcome: {welcome}");
    }
    Ok(socket)
}

async fn next(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(120), socket.next())
            .await
            .context("no frame in 120 s")?
            .context("closed")??;
        if let Message::Text(text) = message {
            return Ok(serde_json::from_str(text.as_str())?);
        }
    }
}

#[derive(Default)]
struct Turn {
    ttft: Option<Duration>,
    tokens: usize,
    took: Duration,
    error: Option<String>,
}

async fn visitor(addr: String, questions: Vec<String>) -> Vec<Turn> {
    let mut socket = match connect(&addr).await {
        Ok(socket) => socket,
        Err(error) => return vec![Turn { error: Some(format!("connect: {error}")), ..Turn::default() }],
    };
    let mut turns = Vec::new();
    let mut queued = false;
    for (i, question) in questions.into_iter().enumerate() {
        // A declined question queues the chat for a person, who answers what the FAQ cannot;
        // the next question starts a new chat, as a new visitor would.
        if std::mem::take(&mut queued) {
            match connect(&addr).await {
                Ok(fresh) => socket = fresh,
                Err(error) => {
                    turns.push(Turn { error: Some(format!("connect: {error}")), ..Turn::default() });
                    break;
                }
            }
        }
        let started = Instant::now();
        let mut turn = Turn::default();
        let sent = socket
            .send(Message::text(
                json!({"type": "message", "id": format!("q{i}"), "text": question}).to_string(),
            ))
            .await;
        if let Err(error) = sent {
            turn.error = Some(error.to_string());
            turns.push(turn);
            break;
        }
        loop {
            match next(&mut socket).await {
                Ok(frame) => match frame["type"].as_str() {
                    Some("token") => {
                        turn.ttft.get_or_insert_with(|| started.elapsed());
                        turn.tokens += 1;
                    }
                    Some("done") => {
                        queued |= frame["sources"].as_array().is_some_and(Vec::is_empty);
                        break;
                    }
                    Some("error") => {
                        turn.error = Some(frame["code"].as_str().unwrap_or("error").to_owned());
                        break;
                    }
                    _ => {}
                },
                Err(error) => {
                    turn.error = Some(error.to_string());
                    break;
                }
            }
        }
        turn.took = started.elapsed();
        turns.push(turn);
    }
    turns
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    values[((values.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let text =
        std::fs::read_to_string(&options.questions_file).with_context(|| options.questions_file.clone())?;
    let pool: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').next().map(str::to_owned))
        .collect();
    anyhow::ensure!(!pool.is_empty(), "no questions in {}", options.questions_file);
    println!(
        "{} visitors at once, {} questions each, {} rounds, against {}",
        options.visitors, options.questions, options.rounds, options.addr
    );
    println!("round  ttft p50   ttft p95   tok/s total  tok/s/answer p50  errors  server RSS  server peak");
    for round in 0..options.rounds {
        let started = Instant::now();
        let tasks: Vec<_> = (0..options.visitors)
            .map(|v| {
                let questions = (0..options.questions)
                    .map(|q| pool[(round * 7919 + v * options.questions + q) % pool.len()].clone())
                    .collect();
                tokio::spawn(visitor(options.addr.clone(), questions))
            })
            .collect();
        let mut turns = Vec::new();
        for task in tasks {
            turns.extend(task.await?);
        }
        let wall = started.elapsed().as_secs_f64();
        let mut ttft: Vec<f64> =
            turns.iter().filter_map(|t| t.ttft).map(|d| d.as_secs_f64() * 1_000.0).collect();
        let mut rates: Vec<f64> = turns
            .iter()
            .filter(|t| t.tokens > 0 && t.error.is_none())
            .map(|t| {
                #[allow(clippy::cast_precision_loss)]
                let tokens = t.tokens as f64;
                tokens / t.took.as_secs_f64().max(1e-6)
            })
            .collect();
        let tokens: usize = turns.iter().map(|t| t.tokens).sum();
        let errors: Vec<&str> = turns.iter().filter_map(|t| t.error.as_deref()).collect();
        let (rss, peak) = memory(options.pid).unwrap_or((0, 0));
        #[allow(clippy::cast_precision_loss)]
        let total_rate = tokens as f64 / wall;
        println!(
            "{:>5}  {:>7.1} ms {:>7.1} ms {:>11.0} {:>17.0} {:>7}  {:>7} MiB {:>8} MiB",
            round + 1,
            percentile(&mut ttft, 0.5),
            percentile(&mut ttft, 0.95),
            total_rate,
            percentile(&mut rates, 0.5),
            errors.len(),
            rss / 1024,
            peak / 1024
        );
        if let Some(first) = errors.first() {
            println!("       first error: {first}");
        }
    }

    if options.idle > 0 {
        let before = memory(options.pid).map(|(rss, _)| rss);
        let started = Instant::now();
        let mut sockets = Vec::with_capacity(options.idle);
        let mut failures = 0;
        let batch = 200;
        for chunk_start in (0..options.idle).step_by(batch) {
            let count = batch.min(options.idle - chunk_start);
            let opened = futures::future::join_all((0..count).map(|_| connect(&options.addr))).await;
            for socket in opened {
                match socket {
                    Ok(socket) => sockets.push(socket),
                    Err(_) => failures += 1,
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = memory(options.pid).map(|(rss, _)| rss);
        println!(
            "idle: {} connections open ({} failed) in {:.1} s",
            sockets.len(),
            failures,
            started.elapsed().as_secs_f64()
        );
        if let (Some(before), Some(after)) = (before, after) {
            #[allow(clippy::cast_precision_loss)]
            let each = (after.saturating_sub(before)) as f64 / sockets.len().max(1) as f64;
            println!(
                "idle: server RSS {} MiB before, {} MiB after: {each:.1} KiB per connection",
                before / 1024,
                after / 1024
            );
        }
        drop(sockets);
    }
    Ok(())
}
