//! `frontdesk`: the self-hosted AI customer-service chat server.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use frontdesk::config::{env, Config, Settings};
use frontdesk_core::chat::{FinishedAnswer, TurnEvent};

#[derive(Debug, Parser)]
#[command(name = "frontdesk", version, about = "Self-hosted AI customer-service chat server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the widget, the visitor WebSocket and the APIs.
    Serve {
        #[command(flatten)]
        common: Settings,
    },
    /// Add or replace knowledge-base files, or every file of folders, in the store and the index.
    Ingest {
        /// Files or folders to index; together they replace what the index held.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        common: Settings,
    },
    /// Score the personal-data detectors on a labelled file (`message<TAB>kind=value || ...`):
    /// recall, precision and F2 per kind, and their throughput.
    EvalPii {
        /// The labelled file.
        #[arg(default_value = "knowledge-base/pii.tsv")]
        file: PathBuf,
        /// List every miss and every wrong finding.
        #[arg(long)]
        verbose: bool,
    },
    /// Score retrieval on a questions file (`question<TAB>expected title`; an empty title marks
    /// a question that should be declined): hit@1, hit@3, MRR and decline rates.
    Eval {
        /// The questions file.
        #[arg(long, required_unless_present_any = ["dialogues", "faithfulness", "recommendations"])]
        questions: Option<PathBuf>,
        /// A dialogues file (the questions file's format, a blank line between conversations):
        /// retrieval (and with --answers, key facts) on the turns after the first.
        #[arg(long)]
        dialogues: Option<PathBuf>,
        /// Score the faithfulness check on a file of labelled answers
        /// (`question<TAB>passage title<TAB>faithful|unfaithful<TAB>answer`).
        #[arg(long)]
        faithfulness: Option<PathBuf>,
        /// Score recommendations on a file of questions about the catalogue
        /// (`question<TAB>constraints<TAB>acceptable ids[<TAB>nearest]`); with --questions, also
        /// count FAQ questions wrongly taken for recommendation requests.
        #[arg(long)]
        recommendations: Option<PathBuf>,
        /// Write the model's raw answers to the questions (generative, check off) to this file,
        /// for labelling.
        #[arg(long, requires = "questions")]
        collect: Option<PathBuf>,
        /// Also list every miss.
        #[arg(long)]
        verbose: bool,
        /// Also ask every question through the chat, the model included, in each answer mode
        /// (comma-separated: generative,extractive,auto) and score the answers' key facts.
        #[arg(long, value_delimiter = ',', num_args = 0.., default_missing_value = "generative,extractive,auto")]
        answers: Option<Vec<String>>,
        #[command(flatten)]
        common: Settings,
    },
    /// Measure: `bench search` (indexing and search on generated entries) or `bench inference`
    /// (the engines against llama-server).
    Bench {
        #[command(subcommand)]
        which: Bench,
    },
    /// Print the SHA-256 of an API key, for `[[api_keys]]` in the config file.
    HashKey {
        /// The key (at least 16 characters; generate one with `openssl rand -hex 24`).
        key: String,
    },
    /// Write a marketing draft from catalogue items and FAQ entries (the content studio on the
    /// command line); prints it as Markdown, then what the check found, and saves it where
    /// `/admin` lists it. With --eval N: N drafts of every kind from the demo sources, scored.
    Write {
        /// ad, social, email, blog or faq_page
        #[arg(long, required_unless_present = "eval")]
        kind: Option<String>,
        /// A catalogue item's id (repeat, or separate with commas)
        #[arg(long = "item", value_delimiter = ',')]
        items: Vec<String>,
        /// An FAQ entry's id, `document#anchor` (repeat, or separate with commas)
        #[arg(long = "entry", value_delimiter = ',')]
        entries: Vec<String>,
        /// en or zh
        #[arg(long, default_value = "en")]
        language: String,
        /// friendly, formal or playful [default: the configured brand tone]
        #[arg(long)]
        tone: Option<String>,
        /// Write flagged parts again until none (at most three tries each)
        #[arg(long)]
        strict: bool,
        /// Print HTML instead of Markdown
        #[arg(long)]
        html: bool,
        /// Evaluate instead: this many drafts of every kind
        #[arg(long)]
        eval: Option<usize>,
        /// With --eval: only these kinds (comma-separated)
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<String>,
        #[command(flatten)]
        common: Settings,
    },
    /// Ask one question; prints the answer, then its sources.
    Ask {
        /// The question.
        question: String,
        #[command(flatten)]
        common: Settings,
    },
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Grouping a month of visitor questions into topics: embedding time per distinct
    /// question, grouping time (median, p95) with the model's vectors and with word vectors,
    /// peak memory.
    Insights {
        /// Questions in the month.
        #[arg(long, default_value_t = 100_000)]
        questions: usize,
        /// Distinct questions among them (each embedded once).
        #[arg(long, default_value_t = 5_000)]
        distinct: usize,
        /// Runs of the grouping to time.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[command(flatten)]
        common: Settings,
    },
    /// Indexing throughput and search latency (median, p99) on generated FAQ entries, by
    /// keywords only and with the embedding model.
    Search {
        /// Entries to generate and index.
        #[arg(long, default_value_t = 10_000)]
        entries: usize,
        /// Searches to time.
        #[arg(long, default_value_t = 1_000)]
        queries: usize,
        #[command(flatten)]
        common: Settings,
    },
    /// Time to first token and decode speed of each engine for 1, 4 and 16 concurrent
    /// conversations, and each figure over llama-server's on the same GGUF file.
    Inference {
        /// Engines to measure, in order: llamacpp, mistralrs, llama-server.
        #[arg(long, value_delimiter = ',', default_value = "llama-server,llamacpp,mistralrs")]
        engines: Vec<String>,
        /// The llama-server binary (scripts/build-llama-server.sh builds it).
        #[arg(long, env = "FRONTDESK_LLAMA_SERVER")]
        llama_server: Option<PathBuf>,
        /// Concurrent conversations to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        concurrency: Vec<usize>,
        /// Tokens each answer may have.
        #[arg(long, default_value_t = 128)]
        max_tokens: usize,
        /// CPU threads for every engine (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Layers llama.cpp puts on the GPU, ours and llama-server's (default: every layer in a
        /// `cuda` build, none otherwise).
        #[arg(long)]
        gpu_layers: Option<u32>,
        /// Questions whose prompts are used.
        #[arg(long, default_value = "knowledge-base/questions.tsv")]
        questions: PathBuf,
        /// Runs of the whole set, every other one in reverse engine order; the ratios are then
        /// the median over runs, with the range.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        #[command(flatten)]
        common: Settings,
    },
    /// Visitors' first token while a marketing draft is written: without a draft, with one at
    /// background priority, with one at a visitor's priority, and (--content-model) with one
    /// written by a second model that gives way to visitors; and the memory the writer's model
    /// takes.
    Drafts {
        /// Visitor questions per way.
        #[arg(long, default_value_t = 30)]
        visitors: usize,
        /// Tokens of each draft.
        #[arg(long, default_value_t = 300)]
        draft_tokens: usize,
        /// Questions asked.
        #[arg(long, default_value = "knowledge-base/questions.tsv")]
        questions: PathBuf,
        #[command(flatten)]
        common: Settings,
    },
    /// A visitor's way to the first token, stage by stage (store, search, prompt, engine,
    /// check), and the whole path against the bare engine's first token in the same turns.
    Path {
        /// Questions asked (the in-scope ones), each in a new conversation.
        #[arg(long, default_value = "knowledge-base/questions.tsv")]
        questions: PathBuf,
        /// Questions used at most.
        #[arg(long, default_value_t = 40)]
        limit: usize,
        /// Runs over the questions.
        #[arg(long, default_value_t = 2)]
        runs: usize,
        #[command(flatten)]
        common: Settings,
    },
}

fn init_logging(env: &dyn Fn(&str) -> Option<String>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,mistralrs_core=warn,tantivy=warn,llama-cpp-2=warn")
    });
    let registry = tracing_subscriber::registry().with(filter).with(QuietStoppedSteps);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if env(env::LOG_FORMAT).as_deref() == Some("json") {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
}

/// Leaves out of the log llama.cpp's report of a step the engine stopped on purpose (a draft
/// model's step giving way to a visitor): llama.cpp logs it as a failed computation.
struct QuietStoppedSteps;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for QuietStoppedSteps {
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        /// The event's message, as text.
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" {
                    value.clone_into(&mut self.0);
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        if event.metadata().target() != "llama-cpp-2" {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        !frontdesk_inference::is_stopped_step_log(&message.0)
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler should succeed");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // An empty variable counts as unset (compose files pass `${VAR:-}`).
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    init_logging(&env);
    match cli.command {
        Command::Serve { common } => {
            let config = Config::resolve(&common, &env)?;
            let server = frontdesk::start(&config).await?;
            tracing::info!(addr = %server.addr, "frontdesk listening; open http://{}/", server.addr);
            shutdown_signal().await;
            server.stop().await
        }
        Command::Ingest { paths, common } => {
            use frontdesk_core::documents::Library;
            let mut config = Config::resolve(&common, &env)?;
            config.kb_folder = None;
            let (_, library, catalogue) = frontdesk::open_library(&config).await?;
            let mut files = Vec::new();
            let mut catalogues = Vec::new();
            for path in &paths {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if path.is_dir() {
                    files.extend(frontdesk_retrieval::folder_files(path)?);
                    for entry in std::fs::read_dir(path)? {
                        let entry = entry?.path();
                        let entry_name = entry.file_name().map(|n| n.to_string_lossy().into_owned());
                        if entry_name.as_deref().is_some_and(frontdesk_core::catalog::is_catalog_file) {
                            catalogues.push((entry_name.unwrap_or_default(), entry));
                        }
                    }
                } else if frontdesk_core::catalog::is_catalog_file(&name) {
                    catalogues.push((name, path.clone()));
                } else {
                    files.push((name, path.clone()));
                }
            }
            for (id, path) in files {
                let content =
                    std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
                let (info, created) = library
                    .put(&id, content)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                println!("{} {id}: {} entries", if created { "added" } else { "replaced" }, info.entries);
            }
            for (name, path) in catalogues {
                use frontdesk_core::catalog::Catalogue;
                let content =
                    std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
                let summary = catalogue
                    .replace(&name, content)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                println!(
                    "catalogue {name}: {} items ({} products, {} courses; {} added, {} removed)",
                    summary.items, summary.products, summary.courses, summary.added, summary.removed
                );
            }
            println!("{} entries in the index", library.index().entries());
            Ok(())
        }
        Command::Eval {
            questions,
            dialogues,
            faithfulness,
            recommendations,
            collect,
            verbose,
            answers,
            common,
        } => {
            let config = Config::resolve(&common, &env)?;
            let read = |path: &PathBuf| {
                std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))
            };
            let questions = match &questions {
                Some(path) => frontdesk::eval::parse_questions(&read(path)?)?,
                None => Vec::new(),
            };
            let dialogues = match &dialogues {
                Some(path) => frontdesk::eval::parse_dialogues(&read(path)?)?,
                None => Vec::new(),
            };
            // Answers need the whole app; its library's index serves the retrieval figures too,
            // so the knowledge base is indexed (and embedded) once, not twice.
            let app = match (&answers, &collect) {
                (None, None) => None,
                _ => Some(frontdesk::build_app(&config).await?),
            };
            let (library, catalogue) = match &app {
                Some(app) => (app.library.clone(), app.catalogue.clone()),
                None => {
                    let (_, library, catalogue) = frontdesk::open_library(&config).await?;
                    (library, catalogue)
                }
            };
            if let Some(path) = &recommendations {
                let cases = frontdesk::eval_recommend::parse_cases(&read(path)?)?;
                let faq: Vec<String> = questions.iter().map(|q| q.question.clone()).collect();
                let report =
                    frontdesk::eval_recommend::evaluate_recommendations(catalogue.as_ref(), &cases, &faq)
                        .await?;
                print!("{}", report.render(verbose));
            }
            if !questions.is_empty() {
                let report =
                    frontdesk::eval::evaluate(library.index(), &questions, config.decline_below).await?;
                print!("{}", report.render(verbose));
            }
            if !dialogues.is_empty() {
                let report =
                    frontdesk::eval::evaluate_dialogues(library.index(), &dialogues, config.decline_below)
                        .await?;
                print!("{}", report.render(verbose));
            }
            if let Some(path) = &faithfulness {
                let labelled = frontdesk::eval::parse_labelled(&read(path)?)?;
                let system = frontdesk_core::prompt::system_prompt(&config.company_name);
                let report =
                    frontdesk::eval::evaluate_faithfulness(library.index(), &system, &labelled).await?;
                print!("{}", report.render(verbose));
            }
            if let (Some(app), Some(path)) = (&app, &collect) {
                let lines = frontdesk::eval::collect_answers(&app.chat, &questions).await?;
                std::fs::write(path, lines).with_context(|| format!("failed to write {}", path.display()))?;
                println!("raw answers written to {}", path.display());
            }
            let (Some(app), Some(modes)) = (app, answers) else { return Ok(()) };
            let (mut single, mut later) = (Vec::new(), Vec::new());
            for mode in modes {
                let mode: frontdesk_core::chat::AnswerMode =
                    mode.parse().map_err(|e: String| anyhow::anyhow!(e))?;
                let chat = app.chat.with_answer_mode(mode);
                if !questions.is_empty() {
                    single.push(frontdesk::eval::evaluate_answers(&chat, mode, &questions).await?);
                }
                if !dialogues.is_empty() {
                    later.push(frontdesk::eval::evaluate_dialogue_answers(&chat, mode, &dialogues).await?);
                }
            }
            if !single.is_empty() {
                print!("{}", frontdesk::eval::render_answers("every question", &single, verbose));
            }
            if !later.is_empty() {
                print!("{}", frontdesk::eval::render_answers("the dialogues' later turns", &later, verbose));
            }
            Ok(())
        }
        Command::EvalPii { file, verbose } => {
            print!(
                "{}",
                tokio::task::spawn_blocking(move || frontdesk::eval_pii::run(&file, verbose)).await??
            );
            Ok(())
        }
        Command::Bench { which: Bench::Drafts { visitors, draft_tokens, questions, common } } => {
            let config = Config::resolve(&common, &env)?;
            let asked = answerable_questions(&questions)?;
            let writer_model =
                config.content.as_ref().and_then(|c| c.model.clone()).filter(|m| m != &config.model);
            frontdesk::bench::run_drafts(frontdesk::bench::DraftsBench {
                model: config.model.clone(),
                writer_model,
                visitors: visitors.max(1),
                draft_tokens: draft_tokens.clamp(16, 1500),
                questions: asked,
                system: frontdesk_core::prompt::system_prompt(&config.company_name),
            })
            .await?;
            Ok(())
        }
        Command::Bench { which: Bench::Path { questions, limit, runs, common } } => {
            let config = Config::resolve(&common, &env)?;
            let mut asked = answerable_questions(&questions)?;
            asked.truncate(limit.max(1));
            print!("{}", frontdesk::bench::run_path(&config, &asked, runs.clamp(1, 8)).await?);
            Ok(())
        }
        Command::Bench { which: Bench::Insights { questions, distinct, runs, common } } => {
            let config = Config::resolve(&common, &env)?;
            let model = config.embedding_model.clone();
            let report = tokio::task::spawn_blocking(move || {
                frontdesk::bench::run_insights(questions.max(1), distinct.max(1), runs, model.as_deref())
            })
            .await??;
            print!("{report}");
            Ok(())
        }
        Command::Bench { which: Bench::Search { entries, queries, common } } => {
            let config = Config::resolve(&common, &env)?;
            let model = config.embedding_model.clone();
            let report = tokio::task::spawn_blocking(move || {
                frontdesk::bench::run_search(entries.max(1), queries.max(1), model.as_deref())
            })
            .await??;
            print!("{report}");
            Ok(())
        }
        Command::Bench {
            which:
                Bench::Inference {
                    engines,
                    llama_server,
                    concurrency,
                    max_tokens,
                    threads,
                    gpu_layers,
                    questions,
                    runs,
                    common,
                },
        } => {
            let config = Config::resolve(&common, &env)?;
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
            let concurrency: Vec<usize> = concurrency.into_iter().filter(|c| *c > 0).collect();
            let max_c = concurrency.iter().copied().max().unwrap_or(1);
            let settings = frontdesk::bench::InferenceBench {
                model: config.model.clone(),
                kb: config.kb_folder.clone().unwrap_or_else(|| "knowledge-base".into()),
                questions,
                concurrency,
                max_tokens: max_tokens.clamp(2, 2_048),
                threads,
                gpu_layers: gpu_layers.unwrap_or(frontdesk_inference::LlamaCppConfig::default().gpu_layers),
                runs: runs.clamp(1, 8),
            };
            let mut measured = Vec::new();
            for engine in engines {
                use frontdesk::bench::BenchEngine;
                measured.push(match engine.as_str() {
                    "llama-server" => BenchEngine::LlamaServer(llama_server.clone().context(
                        "measuring llama-server needs --llama-server (run scripts/build-llama-server.sh)",
                    )?),
                    "llamacpp" => {
                        let config = frontdesk_inference::LlamaCppConfig {
                            max_in_flight: max_c,
                            parallel: max_c,
                            threads,
                            gpu_layers: settings.gpu_layers,
                            chat_template: config.chat_template.clone(),
                            ..frontdesk_inference::LlamaCppConfig::default()
                        };
                        let generator =
                            frontdesk_inference::LlamaCppGenerator::load(&settings.model, config).await?;
                        let memory = generator.memory();
                        println!(
                            "llamacpp memory: weights {:.1} MB, key-value cache {:.1} MB per slot \
                             ({} cells), {} slots: {:.1} MB",
                            memory.weights as f64 / 1e6,
                            memory.cache_per_slot as f64 / 1e6,
                            frontdesk_inference::LlamaCppConfig::default().context_per_sequence,
                            memory.slots,
                            (memory.weights + memory.cache_per_slot * memory.slots as u64) as f64 / 1e6
                        );
                        BenchEngine::InProcess(engine.clone(), std::sync::Arc::new(generator))
                    }
                    "mistralrs" => {
                        let generator =
                            frontdesk_inference::MistralRsGenerator::load(&settings.model, max_c).await?;
                        BenchEngine::InProcess(engine.clone(), std::sync::Arc::new(generator))
                    }
                    other => anyhow::bail!(
                        "unknown engine {other:?}: expected llamacpp, mistralrs or llama-server"
                    ),
                });
            }
            print!("{}", frontdesk::bench::run_inference(&settings, measured).await?);
            Ok(())
        }
        Command::HashKey { key } => {
            frontdesk_gateway::auth::ApiKey::from_plain("check", frontdesk_gateway::auth::Role::Agent, &key)
                .map_err(|e| anyhow::anyhow!(e))?;
            println!("{}", frontdesk_gateway::auth::hash_key(&key));
            Ok(())
        }
        Command::Write { kind, items, entries, language, tone, strict, html, eval, kinds, common } => {
            let config = Config::resolve(&common, &env)?;
            let app = frontdesk::build_app(&config).await?;
            let writer = frontdesk::load_writer(&config, app.chat.generator())
                .await?
                .context("the content studio is off (content = false)")?;
            let catalogue =
                frontdesk_core::catalog::Catalogue::current(app.catalogue.as_ref()).catalog.items().to_vec();
            let retriever = app.chat.retriever().clone();
            if let Some(n) = eval {
                let kinds = if kinds.is_empty() {
                    frontdesk_core::content::ContentKind::ALL.to_vec()
                } else {
                    kinds
                        .iter()
                        .map(|k| frontdesk_core::content::ContentKind::parse(k))
                        .collect::<Result<_, _>>()?
                };
                let questions_file =
                    std::fs::read_to_string("knowledge-base/questions.tsv").unwrap_or_default();
                let questions: Vec<String> = frontdesk::eval::parse_questions(&questions_file)?
                    .into_iter()
                    .filter(|q| {
                        q.expected.is_some() && !frontdesk_core::catalog::intent::is_chinese(&q.question)
                    })
                    .map(|q| q.question)
                    .collect();
                frontdesk::write::evaluate(
                    &writer,
                    n.clamp(1, 50),
                    strict,
                    &kinds,
                    &catalogue,
                    retriever,
                    &questions,
                )
                .await?;
            } else {
                let args = frontdesk::write::WriteArgs {
                    kind: kind.unwrap_or_default(),
                    items,
                    entries,
                    language,
                    tone,
                    strict,
                };
                let sources =
                    frontdesk::write::sources(&args.items, &args.entries, &catalogue, retriever.as_ref())
                        .await?;
                let request = frontdesk::write::request(&args, sources)?;
                let (draft, _) = frontdesk::write::write_one(&writer, &request, true).await?;
                frontdesk::write::save(app.library.documents().as_ref(), &draft).await?;
                frontdesk::write::print(&draft, html);
            }
            Ok(())
        }
        Command::Ask { question, common } => {
            let config = Config::resolve(&common, &env)?;
            let app = frontdesk::build_app(&config).await?;
            let (frames, mut incoming) = tokio::sync::mpsc::channel(64);
            let chat = app.chat.clone();
            let answer =
                tokio::spawn(
                    async move { chat.answer(&[], &question, std::time::Instant::now(), &frames).await },
                );
            let mut stdout = std::io::stdout();
            while let Some(frame) = incoming.recv().await {
                match frame {
                    TurnEvent::Token { text, .. } => {
                        write!(stdout, "{text}")?;
                        stdout.flush()?;
                    }
                    TurnEvent::Done(FinishedAnswer { sources, cards, usage, .. }) => {
                        writeln!(stdout)?;
                        if !cards.is_empty() {
                            writeln!(stdout, "\nCards:")?;
                            for card in cards {
                                writeln!(
                                    stdout,
                                    "- {} ({}, {}): {}",
                                    card.name, card.id, card.price, card.reason
                                )?;
                            }
                        }
                        writeln!(stdout, "\nSources:")?;
                        for source in sources {
                            writeln!(
                                stdout,
                                "- {} ({}, score {:.2})",
                                source.title, source.entry_id, source.score
                            )?;
                        }
                        eprintln!(
                            "[{} prompt tokens, {} answer tokens, first token after {} ms]",
                            usage.prompt_tokens, usage.completion_tokens, usage.ttft_ms
                        );
                    }
                    _ => {}
                }
            }
            answer.await?.map(|_| ()).map_err(|e| anyhow::anyhow!("{e}"))
        }
    }
}

/// The questions of an evaluation file that the knowledge base answers (those with an expected
/// entry), for the benches that ask them.
fn answerable_questions(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
    Ok(frontdesk::eval::parse_questions(&text)?
        .into_iter()
        .filter(|q| q.expected.is_some())
        .map(|q| q.question)
        .collect())
}
