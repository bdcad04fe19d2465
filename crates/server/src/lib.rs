//! The `frontdesk` binary's library: configuration, wiring of the real backends, and the
//! subcommands. Only this crate names the concrete store, retrieval and inference crates.
//!
//! - [`config`]: the layered [`config::Config`].
//! - [`App`]: the wired backends and chat service.
//! - [`start`]: binds and serves; used by `frontdesk serve` and by the end-to-end tests.
//! - [`eval`]: retrieval and answer quality figures for `frontdesk eval`.
//! - [`bench`]: `frontdesk bench search` and `frontdesk bench inference`.

pub mod bench;
pub mod config;
pub mod eval;
pub mod eval_pii;
pub mod eval_recommend;
pub mod webhook;
pub mod write;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use frontdesk_core::chat::{ChatConfig, ChatService};
use frontdesk_core::documents::DocumentStore;
use frontdesk_core::generate::{Generator, SamplingConfig};
use frontdesk_core::store::SessionStore;
use frontdesk_core::token::TokenSigner;
use frontdesk_gateway::auth::ApiKeys;
use frontdesk_gateway::{AppState, GatewayLimits};
use frontdesk_inference::{
    LlamaCppConfig, LlamaCppGenerator, MistralRsGenerator, RemoteConfig, RemoteGenerator,
};
use frontdesk_retrieval::{CatalogStore, FaqIndex, KnowledgeLibrary};
use frontdesk_store::{EmbeddedStore, RedisStore, RedisStoreConfig};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, EngineKind, StoreKind};

/// The wired backends.
#[derive(Clone)]
pub struct App {
    /// The chat turn over the backends.
    pub chat: ChatService,
    /// The documents and their index.
    pub library: Arc<KnowledgeLibrary>,
    /// The product and course catalogue.
    pub catalogue: Arc<CatalogStore>,
    /// Signs conversation tokens.
    pub signer: TokenSigner,
}

/// Opens the configured store, as the conversation store and the document store.
pub async fn open_store(config: &Config) -> anyhow::Result<(Arc<dyn SessionStore>, Arc<dyn DocumentStore>)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("failed to create data dir {}", config.data_dir.display()))?;
    Ok(match config.store {
        StoreKind::Embedded => {
            let path = config.data_dir.join("frontdesk.redb");
            let store = Arc::new(
                EmbeddedStore::open(&path)
                    .with_context(|| format!("failed to open store {}", path.display()))?,
            );
            (store.clone(), store)
        }
        StoreKind::Redis => {
            let mut redis = RedisStoreConfig::new(&config.redis_url);
            redis.key_prefix.clone_from(&config.redis_prefix);
            let store = Arc::new(
                RedisStore::connect(&redis)
                    .await
                    .with_context(|| format!("failed to connect to redis at {}", config.redis_url))?,
            );
            (store.clone(), store)
        }
    })
}

/// What [`open_library`] opens.
pub type Opened = (Arc<dyn SessionStore>, Arc<KnowledgeLibrary>, Arc<CatalogStore>);

/// Opens the store and the index, adds the `--kb` folder's new or changed files to the store
/// (its `*.catalog.csv` or `*.catalog.json` file as the catalogue), and brings the index and
/// the catalogue in line with the store.
pub async fn open_library(config: &Config) -> anyhow::Result<Opened> {
    let (store, documents) = open_store(config).await?;
    let index = open_knowledge_base(config)?;
    let catalogue = Arc::new(CatalogStore::new(store.clone(), documents.clone(), index.clone()));
    let library = Arc::new(KnowledgeLibrary::new(store.clone(), documents, index));
    let started = std::time::Instant::now();
    let mut seeded = 0;
    if let Some(kb) = &config.kb_folder {
        if kb.is_dir() {
            seeded = library
                .seed_folder(kb)
                .await
                .with_context(|| format!("failed to read knowledge base {}", kb.display()))?;
            catalogue.seed_folder(kb).await.context("failed to store the catalogue")?;
        } else {
            tracing::warn!(kb = %kb.display(), "knowledge-base folder not found; serving the stored documents");
        }
    }
    let entries = library.sync().await.context("failed to index the stored documents")?;
    let items = catalogue.sync().await.context("failed to load the stored catalogue")?;
    tracing::info!(
        seeded,
        entries,
        items,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "knowledge base ready"
    );
    Ok((store, library, catalogue))
}

/// Opens the store, the knowledge base and the model.
pub async fn build_app(config: &Config) -> anyhow::Result<App> {
    let (store, library, catalogue) = open_library(config).await?;
    let knowledge_base = library.index().clone();
    let generator = load_generator(config).await?;
    let secret = token_secret(config, store.as_ref()).await?;
    // Masked contact details are sealed under a key derived from the secret every replica
    // shares, so the agent who takes a conversation over sees them on any replica.
    let sealer = Arc::new(frontdesk_core::privacy::Sealer::new(&secret));
    let signer = TokenSigner::new(secret).with_lifetime(config.token_lifetime);
    let chat = ChatService::new(store, Arc::new(knowledge_base), generator, chat_config(config))
        .with_sealer(sealer)
        .with_catalogue(catalogue.clone());
    Ok(App { chat, library, catalogue, signer })
}

/// Loads the configured engine with its model.
pub async fn load_generator(config: &Config) -> anyhow::Result<Arc<dyn Generator>> {
    let generator: Arc<dyn Generator> = match &config.engine {
        EngineKind::MistralRs => {
            let started = std::time::Instant::now();
            let generator = MistralRsGenerator::load(&config.model, config.max_in_flight)
                .await
                .context("failed to load the model")?;
            tracing::info!(model = %config.model.display(), elapsed_ms = started.elapsed().as_millis() as u64, "model loaded");
            Arc::new(generator)
        }
        EngineKind::LlamaCpp => {
            let started = std::time::Instant::now();
            let generator = LlamaCppGenerator::load(
                &config.model,
                LlamaCppConfig {
                    max_in_flight: config.max_in_flight,
                    // Every admitted generation decodes in the same step: one pass over the
                    // weights serves every visitor, far cheaper than taking turns.
                    parallel: config.max_in_flight,
                    chat_template: config.chat_template.clone(),
                    ..LlamaCppConfig::default()
                },
            )
            .await
            .context("failed to load the model")?;
            let memory = generator.memory();
            tracing::info!(
                model = %config.model.display(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                engine = "llamacpp",
                weights_mb = memory.weights / 1_000_000,
                cache_per_slot_mb = memory.cache_per_slot / 1_000_000,
                slots = memory.slots,
                "model loaded"
            );
            Arc::new(generator)
        }
        EngineKind::Remote { url, key, model } => Arc::new(
            RemoteGenerator::new(RemoteConfig {
                base_url: url.clone(),
                api_key: key.clone(),
                model: model.clone(),
                max_in_flight: config.max_in_flight,
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
    };
    Ok(generator)
}

/// The content studio's writer, when it is on: with the chat's model, or with a model of its
/// own (`content_model`) on a llama.cpp engine that gives way to the chat's whenever visitors
/// are being answered.
pub async fn load_writer(
    config: &Config,
    chat: &Arc<dyn Generator>,
) -> anyhow::Result<Option<frontdesk_core::content::write::Writer>> {
    use frontdesk_core::content::write::Writer;
    let Some(content) = &config.content else { return Ok(None) };
    let model = match &content.model {
        Some(model) if model != &config.model => model,
        _ => return Ok(Some(Writer::new(Arc::clone(chat), content.profile.clone()))),
    };
    let started = std::time::Instant::now();
    let generator = LlamaCppGenerator::load(model, LlamaCppConfig::beside(Arc::clone(chat)))
        .await
        .with_context(|| format!("failed to load the content model {}", model.display()))?;
    let memory = generator.memory();
    tracing::info!(
        model = %model.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        weights_mb = memory.weights / 1_000_000,
        cache_mb = memory.cache_per_slot / 1_000_000,
        "content model loaded"
    );
    Ok(Some(Writer::new(Arc::new(generator), content.profile.clone())))
}

/// The chat turn's settings from the configuration.
pub fn chat_config(config: &Config) -> ChatConfig {
    ChatConfig {
        answer_mode: config.answer_mode,
        system_prompt: frontdesk_core::prompt::system_prompt(&config.company_name),
        decline_below: config.decline_below,
        extractive_from: config.extractive_from,
        privacy: config.privacy.clone(),
        contact_offer: frontdesk_core::leads::ContactOffer {
            consent: config.lead_consent.clone(),
            privacy_url: config.privacy_notice_url.clone(),
        },
        sampling: SamplingConfig { max_tokens: config.max_answer_tokens, ..SamplingConfig::default() },
        ..ChatConfig::default()
    }
}

/// Opens the index under the data dir, with the embedding model when one is configured.
pub fn open_knowledge_base(config: &Config) -> anyhow::Result<FaqIndex> {
    let embedder = match &config.embedding_model {
        Some(model) => {
            let started = std::time::Instant::now();
            let embedder = frontdesk_retrieval::Embedder::load(model)
                .with_context(|| format!("failed to load the embedding model {}", model.display()))?;
            tracing::info!(model = %model.display(), elapsed_ms = started.elapsed().as_millis() as u64, "embedding model loaded");
            Some(std::sync::Arc::new(embedder))
        }
        None => {
            tracing::warn!("no embedding model: the knowledge base is searched by keywords only");
            None
        }
    };
    let dir = config.data_dir.join("index");
    FaqIndex::open_with(&dir, embedder).with_context(|| format!("failed to open index {}", dir.display()))
}

/// The configured secret; otherwise, on Redis, the one every replica shares (the first to
/// start generates it), so a visitor resumes on any replica; otherwise one generated once and
/// kept in the data dir.
async fn token_secret(config: &Config, store: &dyn SessionStore) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.token_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    let generated = hex::encode(rand::random::<[u8; 32]>());
    if config.store == StoreKind::Redis {
        let shared =
            store.shared_token_secret(&generated).await.context("failed to read the shared token secret")?;
        return Ok(shared.into_bytes());
    }
    let path = config.data_dir.join("token.secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if existing.trim().len() >= 32 {
            return Ok(existing.trim().as_bytes().to_vec());
        }
    }
    write_private(&path, &generated).with_context(|| format!("failed to write {}", path.display()))?;
    Ok(generated.into_bytes())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// A server started by [`start`].
pub struct RunningServer {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The engines (the chat's, the writer's when it has its own), waited for at stop.
    engines: Vec<Arc<dyn Generator>>,
}

/// Longest wait at stop for the engines to drop generations whose readers have gone.
const ENGINES_IDLE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl RunningServer {
    /// Stops accepting, lets answers in flight finish within the grace period, closes every
    /// socket with a close frame, and waits for the server (and its backends) to be released.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let served = self.task.await.context("server task failed")?.context("server failed");
        // Background tasks hold the store too; wait for them so the store file is released.
        for task in self.background {
            task.await.context("background task failed")?;
        }
        // A generation whose reader left (a draft being written when the server stopped) ends
        // at its engine's next step; the process must not exit under a step in progress
        // (llama.cpp's backends are torn down at exit).
        let deadline = tokio::time::Instant::now() + ENGINES_IDLE_WAIT;
        while self.engines.iter().any(|e| e.in_flight() > 0) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if let Some(busy) = self.engines.iter().find(|e| e.in_flight() > 0) {
            tracing::warn!(model = busy.model_name(), "an engine was still generating at stop");
        }
        served
    }
}

/// Runs `job` every `period` (the first time at once) until `stop`.
async fn every<F, Fut>(period: std::time::Duration, stop: CancellationToken, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = ticks.tick() => job().await,
            () = stop.cancelled() => return,
        }
    }
}

/// Deletes closed conversations older than the retention period, at start and then hourly.
/// Every replica may run it; deleting what another replica deleted is harmless.
async fn enforce_retention(store: Arc<dyn SessionStore>, days: u32, stop: CancellationToken) {
    every(std::time::Duration::from_secs(3_600), stop, || async {
        let before = frontdesk_core::now_ms() - i64::from(days) * 86_400_000;
        match frontdesk_core::store::purge_closed(store.as_ref(), before).await {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::info!(deleted, days, "closed conversations past the retention period deleted")
            }
            Err(error) => tracing::warn!(%error, "retention could not run; will retry"),
        }
    })
    .await;
}

/// Closes, every ten minutes, the conversations nobody wrote in for `hours`: a visitor who
/// left without a word no longer holds a place in the queue, and the conversation falls under
/// retention.
async fn close_idle(chat: ChatService, hours: u32, stop: CancellationToken) {
    every(std::time::Duration::from_secs(600), stop, || async {
        let before = frontdesk_core::now_ms() - i64::from(hours) * 3_600_000;
        match chat.close_idle(before).await {
            Ok(0) => {}
            Ok(closed) => tracing::info!(closed, hours, "idle conversations closed"),
            Err(error) => tracing::warn!(%error, "idle conversations could not be closed; will retry"),
        }
    })
    .await;
}

/// Builds the app, binds `config.listen` and serves in a background task.
pub async fn start(config: &Config) -> anyhow::Result<RunningServer> {
    let app = build_app(config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let keys = ApiKeys::new(config.api_keys.clone());
    let defaults = GatewayLimits::default();
    let limits = GatewayLimits {
        allowed_origins: config.allowed_origins.clone(),
        trust_forwarded_for: config.trust_forwarded_for,
        trusted_proxies: config.trusted_proxies.clone(),
        metrics_key: config.metrics_key.clone(),
        max_connections: config.max_connections,
        idle_timeout: config.idle_timeout,
        sockets_per_ip: frontdesk_gateway::limits::Rate {
            burst: config.sockets_per_ip_burst,
            ..defaults.sockets_per_ip
        },
        messages_per_conversation: frontdesk_gateway::limits::Rate {
            burst: config.messages_per_conversation_burst,
            ..defaults.messages_per_conversation
        },
        ..defaults
    };
    let lead_sink = match &config.lead_webhook {
        Some((url, secret)) => Some(webhook::WebhookSink::new(
            url.clone(),
            secret.clone(),
            app.chat.store().clone(),
            app.chat.metrics().clone(),
        )?),
        None => None,
    };
    let writer = load_writer(config, app.chat.generator()).await?;
    let mut engines = vec![Arc::clone(app.chat.generator())];
    if let Some(writer) = &writer {
        if !Arc::ptr_eq(writer.generator(), app.chat.generator()) {
            engines.push(Arc::clone(writer.generator()));
        }
    }
    let mut state = AppState::new(app.chat, app.library.clone(), app.signer, keys, limits);
    if let Some(writer) = writer {
        let studio = frontdesk_gateway::content::Studio::new(writer, app.library.documents().clone());
        state = state.with_content(Arc::new(studio));
    }
    if let Some(sink) = lead_sink {
        state = state.with_lead_sink(Arc::new(sink));
    }
    // Questions are grouped by the search's embedding model (by their words without one).
    let question_vectors = app.library.index().embedder().map(|embedder| {
        Arc::new(frontdesk_retrieval::QuestionVectors::new(embedder))
            as Arc<dyn frontdesk_core::insights::QuestionEmbedder>
    });
    let insights = Arc::new(frontdesk_gateway::insights::Insights::new(
        question_vectors,
        app.library.documents().clone(),
    ));
    state = state.with_insights(Arc::clone(&insights));
    let shutdown = state.shutdown.clone();
    let mut background = vec![
        app.library.follow(shutdown.clone()),
        app.catalogue.follow(shutdown.clone()),
        // Each visitor question is embedded once for the insights, by one replica at a time.
        insights.follow(state.chat.store().clone(), shutdown.clone()),
    ];
    if config.retention_days > 0 {
        let store = state.chat.store().clone();
        background.push(tokio::spawn(enforce_retention(store, config.retention_days, shutdown.clone())));
    }
    if config.close_idle_after_hours > 0 {
        let chat = state.chat.clone();
        background.push(tokio::spawn(close_idle(chat, config.close_idle_after_hours, shutdown.clone())));
    }
    let task = tokio::spawn(frontdesk_gateway::serve(listener, state));
    Ok(RunningServer { addr, shutdown, task, background, engines })
}
