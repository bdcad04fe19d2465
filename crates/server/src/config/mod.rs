//! Configuration, layered: defaults < TOML file (`--config`) < environment (`FRONTDESK_*`) <
//! command line. Everything is validated before a port is bound.
//!
//! The environment is read through a function passed in, never written, so tests can give
//! their own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context};
use clap::Args;
use frontdesk_core::chat::{AnswerMode, ChatConfig, DEFAULT_COMPANY};
use frontdesk_core::token::DEFAULT_TOKEN_LIFETIME;
use frontdesk_gateway::auth::{is_development_key, looks_like_placeholder, ApiKey, Role};
use frontdesk_gateway::limits::IpNetwork;
use frontdesk_gateway::GatewayLimits;
use serde::Deserialize;

/// Declares every setting once: its name (the TOML key and, with `--`, the flag), the
/// environment variable's suffix, its raw type and its help. The macro writes the one
/// [`Settings`] layer (flags, environment and file all take that shape), the [`env`] names,
/// and the layering, so a new setting is one entry here plus its use in [`Config::resolve`].
macro_rules! settings {
    ($( $(#[$attr:meta])* $name:ident / $env:ident : $ty:ty ),* $(,)?) => {
        /// One layer of the configuration: the command line, the environment or the TOML file.
        /// Every setting is optional in every layer; [`Config::resolve`] stacks them (defaults
        /// < file < environment < command line) and validates the result.
        #[derive(Debug, Clone, Default, Deserialize, Args)]
        #[serde(deny_unknown_fields)]
        pub struct Settings {
            $( $(#[$attr])* pub $name: Option<$ty>, )*
        }

        /// Environment variable names, one per setting: `FRONTDESK_` and the setting's name.
        pub mod env {
            $(
                #[doc = concat!("The environment twin of the `", stringify!($name), "` setting.")]
                pub const $env: &str = concat!("FRONTDESK_", stringify!($env));
            )*
            /// `json` for JSON log lines (read before the configuration, as logging starts first).
            pub const LOG_FORMAT: &str = "FRONTDESK_LOG_FORMAT";
        }

        impl Settings {
            /// Every setting as (TOML key, environment variable).
            pub const NAMES: &'static [(&'static str, &'static str)] = &[$( (stringify!($name), env::$env), )*];

            /// The environment's layer, read through `read`.
            pub fn from_env(read: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
                Ok(Self { $( $name: read(env::$env).map(|v| parse::<$ty>(env::$env, v.trim())).transpose()?, )* })
            }

            /// This layer stacked on `lower`: each setting given here wins.
            #[must_use]
            pub fn over(self, lower: Self) -> Self {
                Self { $( $name: self.$name.or(lower.$name), )* }
            }
        }
    };
}

settings! {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long)]
    listen / LISTEN: String,
    /// Where the store and the index live [default: ./data]
    #[arg(long)]
    data_dir / DATA_DIR: PathBuf,
    /// Conversation store: embedded or redis [default: embedded]
    #[arg(long)]
    store / STORE: String,
    /// Redis URL for --store redis [default: redis://127.0.0.1:6379]
    #[arg(long)]
    redis_url / REDIS_URL: String,
    /// Prefix of every Redis key [default: frontdesk:]
    #[arg(skip)]
    redis_prefix / REDIS_PREFIX: String,
    /// GGUF model file, or a name scripts/fetch-model.sh fetches (smollm2-135m, qwen2.5-0.5b,
    /// qwen2.5-1.5b) [default: models/SmolLM2-135M-Instruct.Q4_0.gguf]
    #[arg(long)]
    model / MODEL: PathBuf,
    /// Chat template in place of the model file's own: a name llama.cpp knows (chatml, gemma,
    /// llama3, phi3, ...) or a template; for a GGUF without one [default: the model's]
    #[arg(long)]
    chat_template / CHAT_TEMPLATE: String,
    /// Folder of FAQ documents indexed at start [default: knowledge-base]
    #[arg(long)]
    kb / KB: PathBuf,
    /// Embedding model folder for semantic search, or `none` for keywords only
    /// [default: models/all-MiniLM-L6-v2 when present]
    #[arg(long)]
    embedding_model / EMBEDDING_MODEL: String,
    /// TOML configuration file
    #[arg(long)]
    #[serde(skip)]
    config / CONFIG: PathBuf,
    /// Admin API key, for development
    #[arg(long)]
    admin_key / ADMIN_KEY: String,
    /// Agent API key, for development
    #[arg(long)]
    agent_key / AGENT_KEY: String,
    /// Serve on an address others reach even with a development key (`...0123456789`): for a
    /// test machine only [default: false]
    #[arg(long)]
    allow_development_keys / ALLOW_DEVELOPMENT_KEYS: bool,
    /// Hashed API keys (`[[api_keys]]` tables in the file; `name:role:sha256,...` in the
    /// environment)
    #[arg(skip)]
    api_keys / API_KEYS: ApiKeyList,
    /// Inference engine: llamacpp, mistralrs or remote [default: llamacpp on CPUs, mistralrs in
    /// a CUDA build]
    #[arg(long)]
    engine / ENGINE: String,
    /// generative, extractive or auto [default: auto]
    #[arg(long)]
    answer_mode / ANSWER_MODE: String,
    /// Base URL of the remote engine (`--engine remote`), ending in `/v1`
    #[arg(skip)]
    remote_url / REMOTE_URL: String,
    /// Bearer key of the remote engine
    #[arg(skip)]
    remote_key / REMOTE_KEY: String,
    /// Model name sent to the remote engine [default: default]
    #[arg(skip)]
    remote_model / REMOTE_MODEL: String,
    /// Secret that signs conversation tokens (replicas must share it)
    #[arg(skip)]
    token_secret / TOKEN_SECRET: String,
    /// Days a conversation token resumes its conversation [default: 30]
    #[arg(skip)]
    token_lifetime_days / TOKEN_LIFETIME_DAYS: u32,
    /// A key `/metrics` asks for (`Authorization: Bearer`); without one it is open
    #[arg(skip)]
    metrics_key / METRICS_KEY: String,
    /// The company the assistant speaks for
    #[arg(skip)]
    company_name / COMPANY_NAME: String,
    /// Where each lead is posted (JSON, signed): a CRM's webhook, `https://...`
    #[arg(skip)]
    lead_webhook_url / LEAD_WEBHOOK_URL: String,
    /// The secret lead webhooks are signed with (HMAC-SHA256), at least 16 characters
    #[arg(skip)]
    lead_webhook_secret / LEAD_WEBHOOK_SECRET: String,
    /// The consent a visitor gives with their contact details, as the widget shows it
    #[arg(skip)]
    lead_consent / LEAD_CONSENT: String,
    /// The privacy notice the contact form links to
    #[arg(skip)]
    privacy_notice_url / PRIVACY_NOTICE_URL: String,
    /// Generations admitted at once (running or queued) before `busy`
    #[arg(skip)]
    max_in_flight / MAX_IN_FLIGHT: usize,
    /// Retrieval confidence below which the assistant declines
    #[arg(skip)]
    decline_below / DECLINE_BELOW: f32,
    /// How personal data in visitors' messages is stored: `kind=treatment` pairs, comma
    /// separated (kinds: secret, email, iban, card, cn_id, ssn, ip, phone, address, name;
    /// treatments: redact, mask, keep) over the defaults (docs/privacy.md)
    #[arg(skip)]
    privacy / PRIVACY: String,
    /// Confidence from which `auto` serves the curated answer
    #[arg(skip)]
    extractive_from / EXTRACTIVE_FROM: f32,
    /// Longest answer in tokens
    #[arg(skip)]
    max_answer_tokens / MAX_ANSWER_TOKENS: usize,
    /// Page origins allowed to open the visitor WebSocket (a list in the file, comma-separated
    /// in the environment)
    #[arg(skip)]
    allowed_origins / ALLOWED_ORIGINS: StringList,
    /// Take visitors' addresses from `X-Forwarded-For` (behind a proxy)
    #[arg(skip)]
    trust_forwarded_for / TRUST_FORWARDED_FOR: bool,
    /// Addresses or networks of the proxies in front (a list in the file, comma-separated in
    /// the environment) [default: loopback and private ranges]
    #[arg(skip)]
    trusted_proxies / TRUSTED_PROXIES: StringList,
    /// Days after its last change a closed conversation is deleted; 0 keeps them
    #[arg(skip)]
    retention_days / RETENTION_DAYS: u32,
    /// Hours without a change after which an open conversation is closed; 0 never closes
    /// them [default: 24]
    #[arg(skip)]
    close_idle_after_hours / CLOSE_IDLE_AFTER_HOURS: u32,
    /// Visitor sockets one IP may open at once
    #[arg(skip)]
    sockets_per_ip_burst / SOCKETS_PER_IP_BURST: u32,
    /// Messages one conversation may send at once
    #[arg(skip)]
    messages_per_conversation_burst / MESSAGES_PER_CONVERSATION_BURST: u32,
    /// Seconds a visitor socket may stay silent before it is closed
    #[arg(skip)]
    idle_timeout_secs / IDLE_TIMEOUT_SECS: u64,
    /// Connections open at once; more wait in the kernel's accept queue [default: 25000]
    #[arg(skip)]
    max_connections / MAX_CONNECTIONS: usize,
    /// Serve the content studio (marketing drafts at `/api/v1/content` and in `/admin`)
    /// [default: true]
    #[arg(skip)]
    content / CONTENT: bool,
    /// GGUF model that writes drafts, or a name scripts/fetch-model.sh fetches (qwen2.5-1.5b);
    /// loaded only with the content studio on, beside the chat's [default: the chat's model]
    #[arg(long)]
    content_model / CONTENT_MODEL: PathBuf,
    /// The tone of drafts: friendly, formal or playful [default: friendly]
    #[arg(skip)]
    brand_tone / BRAND_TONE: String,
    /// Words drafts never use (a list in the file, comma-separated in the environment)
    #[arg(skip)]
    brand_avoid / BRAND_AVOID: StringList,
    /// How drafted e-mails end [default: The COMPANY team]
    #[arg(skip)]
    brand_sign_off / BRAND_SIGN_OFF: String,
}

/// A list of strings (page origins, proxy networks): a TOML list in the file, comma-separated
/// in the environment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct StringList(pub Vec<String>);

impl FromStr for StringList {
    type Err = std::convert::Infallible;
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        Ok(Self(list.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect()))
    }
}

/// Hashed API keys: `[[api_keys]]` tables in the file, `name:role:sha256` items separated by
/// commas in the environment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct ApiKeyList(pub Vec<ApiKeyEntry>);

impl FromStr for ApiKeyList {
    type Err = String;
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let entries = list.split(',').map(str::trim).filter(|item| !item.is_empty()).map(|item| {
            match item.splitn(3, ':').collect::<Vec<_>>()[..] {
                [name, role, sha256] => {
                    Ok(ApiKeyEntry { name: name.into(), role: role.into(), sha256: sha256.into() })
                }
                _ => Err(format!("expected name:role:sha256, got {item:?}")),
            }
        });
        entries.collect::<Result<_, _>>().map(Self)
    }
}

/// One hashed API key: the key itself is never written in the configuration, only its
/// SHA-256 (`frontdesk hash-key KEY` prints it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    name: String,
    role: String,
    sha256: String,
}

/// Which conversation store to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// One redb file under the data dir.
    Embedded,
    /// Redis, shared by replicas.
    Redis,
}

/// Which engine generates answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineKind {
    /// mistral.rs in process (the default in a `cuda` build).
    MistralRs,
    /// llama.cpp in process (the default on CPUs: `frontdesk bench inference` measures it
    /// faster there).
    LlamaCpp,
    /// An OpenAI-compatible server.
    Remote {
        /// Base URL ending in `/v1`.
        url: String,
        /// Bearer key, if any.
        key: Option<String>,
        /// Model name sent in requests.
        model: String,
    },
}

/// The resolved, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the store file and the index live.
    pub data_dir: PathBuf,
    /// The conversation store.
    pub store: StoreKind,
    /// Redis URL (for the Redis store).
    pub redis_url: String,
    /// Prefix of every Redis key.
    pub redis_prefix: String,
    /// The GGUF model file.
    pub model: PathBuf,
    /// The chat template named in place of the model's own, if any.
    pub chat_template: Option<String>,
    /// The folder of FAQ documents added to the knowledge library at start (`--kb`), if any.
    pub kb_folder: Option<PathBuf>,
    /// The embedding model's folder; `None` searches by keywords only.
    pub embedding_model: Option<PathBuf>,
    /// API keys: the config file's hashed keys, then the development keys given in plain
    /// (named `admin` and `agent`).
    pub api_keys: Vec<ApiKey>,
    /// The engine.
    pub engine: EngineKind,
    /// How answers are written.
    pub answer_mode: AnswerMode,
    /// Secret for conversation tokens; generated and kept in the data dir when not given.
    pub token_secret: Option<String>,
    /// Development keys may be used on an address other machines reach (a test machine).
    pub allow_development_keys: bool,
    /// How long a conversation token resumes its conversation.
    pub token_lifetime: std::time::Duration,
    /// The key `/metrics` asks for, if any.
    pub metrics_key: Option<String>,
    /// The company the assistant speaks for.
    pub company_name: String,
    /// The lead webhook and its signing secret, when leads are sent on.
    pub lead_webhook: Option<(String, String)>,
    /// The consent text of the contact form.
    pub lead_consent: String,
    /// The privacy notice the contact form links to.
    pub privacy_notice_url: Option<String>,
    /// Generations admitted at once (running or queued) before `busy`.
    pub max_in_flight: usize,
    /// Retrieval confidence below which the assistant declines.
    pub decline_below: f32,
    /// How personal data in visitors' messages is stored.
    pub privacy: frontdesk_core::privacy::PrivacyPolicy,
    /// Confidence from which `auto` serves the curated answer.
    pub extractive_from: f32,
    /// Longest answer in tokens.
    pub max_answer_tokens: usize,
    /// Page origins allowed to open the visitor WebSocket; empty allows any.
    pub allowed_origins: Vec<String>,
    /// Take client IPs from `X-Forwarded-For` (behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// The proxies whose `X-Forwarded-For` entries are believed.
    pub trusted_proxies: Vec<IpNetwork>,
    /// Closed conversations are deleted this many days after their last change; 0 keeps them.
    pub retention_days: u32,
    /// Open conversations unchanged this many hours are closed; 0 never closes them.
    pub close_idle_after_hours: u32,
    /// Visitor sockets one IP may open at once (then one more every 2 seconds).
    pub sockets_per_ip_burst: u32,
    /// Messages one conversation may send at once (then one more every 4 seconds).
    pub messages_per_conversation_burst: u32,
    /// A visitor socket with no frame from the client for this long is closed.
    pub idle_timeout: std::time::Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// The content studio, when on.
    pub content: Option<ContentConfig>,
}

/// The content studio's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentConfig {
    /// A model of its own for drafts; `None` writes with the chat's.
    pub model: Option<PathBuf>,
    /// The company as drafts present it.
    pub profile: frontdesk_core::content::CompanyProfile,
}

/// The engine when none is configured: mistral.rs in a CUDA build, llama.cpp on CPUs.
pub const DEFAULT_ENGINE: &str = if cfg!(feature = "cuda") { "mistralrs" } else { "llamacpp" };

/// Where `scripts/fetch-model.sh` puts the embedding model; used when present.
pub const DEFAULT_EMBEDDING_MODEL: &str = "models/all-MiniLM-L6-v2";

/// Where `scripts/fetch-model.sh` puts the demo model, SmolLM2-135M (Q4_0).
pub const SMOLLM2: &str = "models/SmolLM2-135M-Instruct.Q4_0.gguf";

/// Where `scripts/fetch-model.sh --model qwen2.5-1.5b` puts Qwen2.5-Coder-1.5B (Q4_0).
pub const QWEN_1_5B: &str = "models/Qwen2.5-Coder-1.5B-Instruct.Q4_0.gguf";

/// The answering model when none is configured: on CPUs the small model whose answers the
/// fact check keeps honest at a first token in about 0.13 s on two cores; on a GPU the 1.5B,
/// which writes far better and is fast there (README, "Models").
pub const DEFAULT_MODEL: &str = if cfg!(feature = "cuda") { QWEN_1_5B } else { SMOLLM2 };

/// The chat models `scripts/fetch-model.sh --model NAME` fetches, by name, and where it puts
/// them; the `model` setting takes a name or a path.
pub const NAMED_MODELS: [(&str, &str); 3] = [
    ("smollm2-135m", SMOLLM2),
    ("qwen2.5-0.5b", "models/Qwen2.5-Coder-0.5B-Instruct.Q4_0.gguf"),
    ("qwen2.5-1.5b", QWEN_1_5B),
];

/// The `privacy` setting (`email=keep, card=redact`) over the default policy.
fn privacy_policy(setting: &str) -> anyhow::Result<frontdesk_core::privacy::PrivacyPolicy> {
    let mut policy = frontdesk_core::privacy::PrivacyPolicy::default();
    for pair in setting.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((kind, treatment)) = pair.split_once('=') else {
            bail!("invalid privacy {pair:?}: write kind=treatment, e.g. email=keep");
        };
        let kind = kind.trim().parse().map_err(|e: String| anyhow::anyhow!("invalid privacy: {e}"))?;
        let treatment =
            treatment.trim().parse().map_err(|e: String| anyhow::anyhow!("invalid privacy: {e}"))?;
        policy = policy.with(kind, treatment);
    }
    Ok(policy)
}

/// The model file a `model` setting names: a known name's file, or the path as given.
fn model_path(setting: PathBuf) -> PathBuf {
    let named = setting.to_str().and_then(|name| NAMED_MODELS.iter().find(|(n, _)| *n == name));
    named.map_or(setting, |(_, path)| PathBuf::from(path))
}

/// The server's own defaults; the chat turn's, the gateway's and the engines' live in their
/// crates' `Default`s.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA_DIR: &str = "data";
const DEFAULT_KB: &str = "knowledge-base";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
const DEFAULT_REDIS_PREFIX: &str = "frontdesk:";
const DEFAULT_REMOTE_MODEL: &str = "default";
const DEFAULT_CLOSE_IDLE_AFTER_HOURS: u32 = 24;

fn parse<T: FromStr>(name: &str, value: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    value.parse::<T>().map_err(|e| anyhow::anyhow!("invalid {name} {value:?}: {e}"))
}

impl Config {
    /// Resolves the configuration from the command line, the environment (through `env`) and
    /// the TOML file the command line or environment names.
    pub fn resolve(args: &Settings, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let from_env = Settings::from_env(env)?;
        let file = match args.config.as_ref().or(from_env.config.as_ref()) {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read config file {}", path.display()))?;
                toml::from_str::<Settings>(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => Settings::default(),
        };
        Self::from_settings(args.clone().over(from_env.over(file)))
    }

    /// The configuration a TOML file's text gives on its own (the other layers empty): what
    /// the fuzzer feeds, and a check of a file before deploying it.
    pub fn from_file_text(text: &str) -> anyhow::Result<Self> {
        Self::from_settings(toml::from_str::<Settings>(text).context("invalid config file")?)
    }

    /// Validates the stacked settings, filling what none of the layers gave with the defaults.
    fn from_settings(settings: Settings) -> anyhow::Result<Self> {
        let chat = ChatConfig::default();
        let limits = GatewayLimits::default();

        let listen: SocketAddr =
            parse("listen address", settings.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
        let store = match settings.store.as_deref().unwrap_or("embedded") {
            "embedded" => StoreKind::Embedded,
            "redis" => StoreKind::Redis,
            other => bail!("invalid store {other:?}: expected embedded or redis"),
        };
        let redis_url = settings.redis_url.unwrap_or_else(|| DEFAULT_REDIS_URL.into());
        if !(redis_url.starts_with("redis://") || redis_url.starts_with("rediss://")) {
            bail!("invalid redis url {redis_url:?}: expected redis:// or rediss://");
        }
        let engine = match settings.engine.as_deref().unwrap_or(DEFAULT_ENGINE) {
            "mistralrs" => EngineKind::MistralRs,
            "llamacpp" => EngineKind::LlamaCpp,
            "remote" => {
                let url = settings.remote_url.clone().ok_or_else(|| {
                    anyhow::anyhow!("invalid engine: remote needs remote_url (or FRONTDESK_REMOTE_URL)")
                })?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    bail!("invalid remote_url {url:?}: expected http:// or https://, ending in /v1");
                }
                EngineKind::Remote {
                    url,
                    key: settings.remote_key.clone(),
                    model: settings.remote_model.clone().unwrap_or_else(|| DEFAULT_REMOTE_MODEL.into()),
                }
            }
            other => bail!("invalid engine {other:?}: expected mistralrs, llamacpp or remote"),
        };
        let embedding_model = match settings.embedding_model {
            Some(value) if value == "none" => None,
            Some(value) => {
                let dir = PathBuf::from(value);
                if !frontdesk_retrieval::Embedder::is_model_dir(&dir) {
                    bail!(
                        "invalid embedding_model {}: neither e5-small-q4.bin nor model.safetensors there \
                         (scripts/fetch-model.sh fetches multilingual-e5-small and all-MiniLM-L6-v2; \
                         `none` searches by keywords only)",
                        dir.display()
                    );
                }
                Some(dir)
            }
            None => Some(PathBuf::from(DEFAULT_EMBEDDING_MODEL))
                .filter(|dir| frontdesk_retrieval::Embedder::is_model_dir(dir)),
        };
        let answer_mode = settings
            .answer_mode
            .map_or(Ok(chat.answer_mode), |mode| parse::<AnswerMode>("answer mode", &mode))?;
        let decline_below = settings.decline_below.unwrap_or(chat.decline_below);
        let extractive_from = settings.extractive_from.unwrap_or(chat.extractive_from);
        if !(0.0..=1.0).contains(&decline_below) || !(0.0..=1.0).contains(&extractive_from) {
            bail!("invalid decline_below or extractive_from: both must be between 0 and 1");
        }
        let privacy = settings.privacy.as_deref().map_or_else(|| Ok(chat.privacy.clone()), privacy_policy)?;
        let max_in_flight = settings.max_in_flight.unwrap_or(frontdesk_core::generate::DEFAULT_MAX_IN_FLIGHT);
        if max_in_flight == 0 {
            bail!("invalid max_in_flight: must be at least 1");
        }
        let max_answer_tokens = settings.max_answer_tokens.unwrap_or(chat.sampling.max_tokens);
        if !(16..=2_048).contains(&max_answer_tokens) {
            bail!("invalid max_answer_tokens: must be between 16 and 2048");
        }
        let mut api_keys = Vec::new();
        for entry in settings.api_keys.unwrap_or_default().0 {
            if entry.name.trim().is_empty() {
                bail!("invalid api key: every key needs a name");
            }
            let role: Role = parse("api key role", &entry.role)?;
            let key = ApiKey::from_hash(entry.name.trim(), role, &entry.sha256)
                .map_err(|e| anyhow::anyhow!("invalid api key {:?}: {e}", entry.name))?;
            api_keys.push(key);
        }
        let (settings_admin_key, settings_agent_key) =
            (settings.admin_key.clone(), settings.agent_key.clone());
        for (plain, name, role) in
            [(settings.admin_key, "admin", Role::Admin), (settings.agent_key, "agent", Role::Agent)]
        {
            if let Some(plain) = plain {
                api_keys.push(
                    ApiKey::from_plain(name, role, &plain)
                        .map_err(|e| anyhow::anyhow!("invalid {name} key: {e}"))?,
                );
            }
        }
        let allowed_origins = settings.allowed_origins.map_or(limits.allowed_origins, |list| list.0);
        let content = if settings.content.unwrap_or(true) {
            let tone = settings.brand_tone.as_deref().map(frontdesk_core::content::Tone::parse).transpose();
            let tone = tone.map_err(|e| anyhow::anyhow!("invalid brand_tone: {e}"))?.unwrap_or_default();
            Some(ContentConfig {
                model: settings.content_model.clone().map(model_path),
                profile: frontdesk_core::content::CompanyProfile {
                    name: settings.company_name.clone().unwrap_or_else(|| DEFAULT_COMPANY.into()),
                    tone,
                    avoid: settings
                        .brand_avoid
                        .clone()
                        .map(|l| {
                            l.0.into_iter().map(|w| w.trim().to_owned()).filter(|w| !w.is_empty()).collect()
                        })
                        .unwrap_or_default(),
                    sign_off: settings.brand_sign_off.clone().filter(|s| !s.trim().is_empty()),
                },
            })
        } else {
            None
        };
        if let Some(bad) = allowed_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/'))
        {
            bail!("invalid allowed origin {bad:?}: expected a scheme and host such as https://shop.example");
        }
        let trusted_proxies = match settings.trusted_proxies {
            Some(list) => list
                .0
                .iter()
                .map(|n| n.parse::<IpNetwork>().map_err(|e| anyhow::anyhow!("invalid trusted proxy: {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?,
            None => limits.trusted_proxies.clone(),
        };
        let token_secret = settings.token_secret;
        if token_secret.as_ref().is_some_and(|s| s.len() < 16) {
            bail!("invalid token_secret: must be at least 16 characters");
        }
        if token_secret.as_deref().is_some_and(looks_like_placeholder) {
            bail!(
                "invalid token_secret: it looks like a placeholder; generate one with `openssl rand -hex 32`"
            );
        }
        let allow_development_keys = settings.allow_development_keys.unwrap_or(false);
        let lead_webhook = match (settings.lead_webhook_url, settings.lead_webhook_secret) {
            (None, None) => None,
            (Some(url), Some(secret)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    bail!("invalid lead_webhook_url {url:?}: an http(s) address");
                }
                if secret.len() < 16 || looks_like_placeholder(&secret) {
                    bail!(
                        "invalid lead_webhook_secret: at least 16 random characters (`openssl rand -hex 24`)"
                    );
                }
                Some((url, secret))
            }
            _ => bail!("lead_webhook_url and lead_webhook_secret go together: give both, or neither"),
        };
        let privacy_notice_url = settings.privacy_notice_url.filter(|u| !u.trim().is_empty());
        if privacy_notice_url
            .as_deref()
            .is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/')))
        {
            bail!("invalid privacy_notice_url: an http(s) address or a path");
        }
        let metrics_key = settings.metrics_key;
        if metrics_key.as_ref().is_some_and(|k| k.len() < 16 || looks_like_placeholder(k)) {
            bail!("invalid metrics_key: at least 16 random characters (`openssl rand -hex 24`)");
        }
        let development_key = [&settings_admin_key, &settings_agent_key]
            .into_iter()
            .flatten()
            .any(|key| is_development_key(key));
        if development_key && !listen.ip().is_loopback() && !allow_development_keys {
            bail!(
                "invalid listen address {listen}: it is reachable from other machines and a development key \
                 (ending in 0123456789) is configured; give real keys, or set allow_development_keys on a test machine"
            );
        }
        Ok(Self {
            listen,
            data_dir: settings.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            store,
            redis_url,
            redis_prefix: settings.redis_prefix.unwrap_or_else(|| DEFAULT_REDIS_PREFIX.into()),
            model: settings.model.map_or_else(|| DEFAULT_MODEL.into(), model_path),
            chat_template: settings.chat_template.filter(|t| !t.trim().is_empty()),
            kb_folder: Some(settings.kb.unwrap_or_else(|| DEFAULT_KB.into())),
            embedding_model,
            api_keys,
            engine,
            answer_mode,
            token_secret,
            allow_development_keys,
            token_lifetime: settings.token_lifetime_days.map_or(DEFAULT_TOKEN_LIFETIME, |days| {
                std::time::Duration::from_secs(u64::from(days.clamp(1, 3_650)) * 86_400)
            }),
            metrics_key,
            lead_consent: settings.lead_consent.filter(|c| !c.trim().is_empty()).unwrap_or_else(|| {
                frontdesk_core::leads::default_consent(
                    settings.company_name.as_deref().unwrap_or(DEFAULT_COMPANY),
                )
            }),
            company_name: settings.company_name.unwrap_or_else(|| DEFAULT_COMPANY.into()),
            lead_webhook,
            privacy_notice_url,
            max_in_flight,
            decline_below,
            privacy,
            extractive_from,
            max_answer_tokens,
            allowed_origins,
            trust_forwarded_for: settings.trust_forwarded_for.unwrap_or(limits.trust_forwarded_for),
            trusted_proxies,
            retention_days: settings.retention_days.unwrap_or(0),
            close_idle_after_hours: settings.close_idle_after_hours.unwrap_or(DEFAULT_CLOSE_IDLE_AFTER_HOURS),
            sockets_per_ip_burst: settings.sockets_per_ip_burst.unwrap_or(limits.sockets_per_ip.burst).max(1),
            messages_per_conversation_burst: settings
                .messages_per_conversation_burst
                .unwrap_or(limits.messages_per_conversation.burst)
                .max(1),
            max_connections: settings.max_connections.unwrap_or(limits.max_connections).max(1),
            content,
            idle_timeout: settings
                .idle_timeout_secs
                .map_or(limits.idle_timeout, |secs| std::time::Duration::from_secs(secs.clamp(1, 3_600))),
        })
    }
}

#[cfg(test)]
mod tests;
