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
use frontdesk_core::chat::AnswerMode;
use frontdesk_gateway::auth::{ApiKey, Role};
use serde::Deserialize;

/// Environment variable names, one per setting.
pub mod env {
    /// `--listen`
    pub const LISTEN: &str = "FRONTDESK_LISTEN";
    /// `--data-dir`
    pub const DATA_DIR: &str = "FRONTDESK_DATA_DIR";
    /// `--store`
    pub const STORE: &str = "FRONTDESK_STORE";
    /// `--redis-url`
    pub const REDIS_URL: &str = "FRONTDESK_REDIS_URL";
    /// Key prefix in Redis.
    pub const REDIS_PREFIX: &str = "FRONTDESK_REDIS_PREFIX";
    /// `--model`
    pub const MODEL: &str = "FRONTDESK_MODEL";
    /// `--kb`
    pub const KB: &str = "FRONTDESK_KB";
    /// `--embedding-model`
    pub const EMBEDDING_MODEL: &str = "FRONTDESK_EMBEDDING_MODEL";
    /// `--config`
    pub const CONFIG: &str = "FRONTDESK_CONFIG";
    /// `--admin-key`
    pub const ADMIN_KEY: &str = "FRONTDESK_ADMIN_KEY";
    /// `--agent-key`
    pub const AGENT_KEY: &str = "FRONTDESK_AGENT_KEY";
    /// `--engine`
    pub const ENGINE: &str = "FRONTDESK_ENGINE";
    /// `--answer-mode`
    pub const ANSWER_MODE: &str = "FRONTDESK_ANSWER_MODE";
    /// Base URL of the remote engine (`--engine remote`), ending in `/v1`.
    pub const REMOTE_URL: &str = "FRONTDESK_REMOTE_URL";
    /// Bearer key of the remote engine.
    pub const REMOTE_KEY: &str = "FRONTDESK_REMOTE_KEY";
    /// Secret that signs conversation tokens (replicas must share it).
    pub const TOKEN_SECRET: &str = "FRONTDESK_TOKEN_SECRET";
    /// Page origins allowed to open the visitor WebSocket, comma-separated.
    pub const ALLOWED_ORIGINS: &str = "FRONTDESK_ALLOWED_ORIGINS";
    /// `json` for JSON log lines.
    pub const LOG_FORMAT: &str = "FRONTDESK_LOG_FORMAT";
    /// `true` to take visitors' addresses from `X-Forwarded-For` (behind a proxy).
    pub const TRUST_FORWARDED_FOR: &str = "FRONTDESK_TRUST_FORWARDED_FOR";
}

/// The flags every subcommand shares. Each has an environment twin (see [`env`]).
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// Address to listen on [env: FRONTDESK_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long)]
    pub listen: Option<String>,
    /// Where the store and the index live [env: FRONTDESK_DATA_DIR] [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Conversation store: embedded or redis [env: FRONTDESK_STORE] [default: embedded]
    #[arg(long)]
    pub store: Option<String>,
    /// Redis URL for --store redis [env: FRONTDESK_REDIS_URL] [default: redis://127.0.0.1:6379]
    #[arg(long)]
    pub redis_url: Option<String>,
    /// GGUF model file [env: FRONTDESK_MODEL] [default: models/SmolLM2-135M-Instruct.Q4_0.gguf]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Knowledge-base folder indexed at start [env: FRONTDESK_KB] [default: knowledge-base]
    #[arg(long)]
    pub kb: Option<PathBuf>,
    /// Embedding model folder for semantic search, or `none` for keywords only
    /// [env: FRONTDESK_EMBEDDING_MODEL] [default: models/all-MiniLM-L6-v2 when present]
    #[arg(long)]
    pub embedding_model: Option<String>,
    /// TOML configuration file [env: FRONTDESK_CONFIG]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Admin API key, for development [env: FRONTDESK_ADMIN_KEY]
    #[arg(long)]
    pub admin_key: Option<String>,
    /// Agent API key, for development [env: FRONTDESK_AGENT_KEY]
    #[arg(long)]
    pub agent_key: Option<String>,
    /// Inference engine: llamacpp, mistralrs or remote [env: FRONTDESK_ENGINE]
    /// [default: llamacpp on CPUs, mistralrs in a CUDA build]
    #[arg(long)]
    pub engine: Option<String>,
    /// generative, extractive or auto [env: FRONTDESK_ANSWER_MODE] [default: auto]
    #[arg(long)]
    pub answer_mode: Option<String>,
}

/// The TOML file: the same settings, plus those without a flag.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    model: Option<PathBuf>,
    kb: Option<PathBuf>,
    embedding_model: Option<String>,
    admin_key: Option<String>,
    agent_key: Option<String>,
    engine: Option<String>,
    answer_mode: Option<String>,
    token_secret: Option<String>,
    company_name: Option<String>,
    max_in_flight: Option<usize>,
    decline_below: Option<f32>,
    extractive_from: Option<f32>,
    max_answer_tokens: Option<usize>,
    #[serde(default)]
    api_keys: Vec<ApiKeyEntry>,
    allowed_origins: Option<Vec<String>>,
    trust_forwarded_for: Option<bool>,
    retention_days: Option<u32>,
    sockets_per_ip_burst: Option<u32>,
    messages_per_conversation_burst: Option<u32>,
    remote_url: Option<String>,
    remote_key: Option<String>,
    remote_model: Option<String>,
    idle_timeout_secs: Option<u64>,
}

/// One `[[api_keys]]` table of the config file: the key itself is never written there, only
/// its SHA-256 (`frontdesk hash-key KEY` prints it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyEntry {
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
    /// The knowledge-base folder indexed at start, if any.
    pub kb: Option<PathBuf>,
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
    /// The company the assistant speaks for.
    pub company_name: String,
    /// Generations admitted at once (running or queued) before `busy`.
    pub max_in_flight: usize,
    /// Retrieval confidence below which the assistant declines.
    pub decline_below: f32,
    /// Confidence from which `auto` serves the curated answer.
    pub extractive_from: f32,
    /// Longest answer in tokens.
    pub max_answer_tokens: usize,
    /// Page origins allowed to open the visitor WebSocket; empty allows any.
    pub allowed_origins: Vec<String>,
    /// Take client IPs from `X-Forwarded-For` (behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Closed conversations are deleted this many days after their last change; 0 keeps them.
    pub retention_days: u32,
    /// Visitor sockets one IP may open at once (then one more every 2 seconds).
    pub sockets_per_ip_burst: u32,
    /// Messages one conversation may send at once (then one more every 4 seconds).
    pub messages_per_conversation_burst: u32,
    /// A visitor socket with no frame from the client for this long is closed.
    pub idle_timeout: std::time::Duration,
}

/// The engine when none is configured: mistral.rs in a CUDA build, llama.cpp on CPUs.
pub const DEFAULT_ENGINE: &str = if cfg!(feature = "cuda") { "mistralrs" } else { "llamacpp" };

/// Where `scripts/fetch-model.sh` puts the embedding model; used when present.
pub const DEFAULT_EMBEDDING_MODEL: &str = "models/all-MiniLM-L6-v2";

fn parse<T: FromStr>(name: &str, value: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    value.parse::<T>().map_err(|e| anyhow::anyhow!("invalid {name} {value:?}: {e}"))
}

impl Config {
    /// Resolves the configuration from the command line, the environment (through `env`) and
    /// the TOML file the command line or environment names.
    pub fn resolve(args: &CommonArgs, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let config_path = args.config.clone().or_else(|| env(env::CONFIG).map(PathBuf::from));
        let file = match &config_path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let text = |cli: &Option<String>, name: &str, file: &Option<String>| {
            cli.clone().or_else(|| env(name)).or_else(|| file.clone())
        };
        let path = |cli: &Option<PathBuf>, name: &str, file: &Option<PathBuf>| {
            cli.clone().or_else(|| env(name).map(PathBuf::from)).or_else(|| file.clone())
        };

        let listen = text(&args.listen, env::LISTEN, &file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = parse("listen address", &listen)?;
        let store = match text(&args.store, env::STORE, &file.store).as_deref().unwrap_or("embedded") {
            "embedded" => StoreKind::Embedded,
            "redis" => StoreKind::Redis,
            other => bail!("invalid store {other:?}: expected embedded or redis"),
        };
        let redis_url = text(&args.redis_url, env::REDIS_URL, &file.redis_url)
            .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
        if !(redis_url.starts_with("redis://") || redis_url.starts_with("rediss://")) {
            bail!("invalid redis url {redis_url:?}: expected redis:// or rediss://");
        }
        let engine = match text(&args.engine, env::ENGINE, &file.engine).as_deref().unwrap_or(DEFAULT_ENGINE)
        {
            "mistralrs" => EngineKind::MistralRs,
            "llamacpp" => EngineKind::LlamaCpp,
            "remote" => {
                let url = env(env::REMOTE_URL).or_else(|| file.remote_url.clone()).ok_or_else(|| {
                    anyhow::anyhow!("invalid engine: remote needs remote_url (or FRONTDESK_REMOTE_URL)")
                })?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    bail!("invalid remote_url {url:?}: expected http:// or https://, ending in /v1");
                }
                EngineKind::Remote {
                    url,
                    key: env(env::REMOTE_KEY).or_else(|| file.remote_key.clone()),
                    model: file.remote_model.clone().unwrap_or_else(|| "default".into()),
                }
            }
            other => bail!("invalid engine {other:?}: expected mistralrs, llamacpp or remote"),
        };
        let embedding_model = match text(&args.embedding_model, env::EMBEDDING_MODEL, &file.embedding_model) {
            Some(value) if value == "none" => None,
            Some(value) => {
                let dir = PathBuf::from(value);
                if !dir.join("model.safetensors").is_file() {
                    bail!(
                        "invalid embedding_model {}: no model.safetensors there (scripts/fetch-model.sh fetches \
                         all-MiniLM-L6-v2; `none` searches by keywords only)",
                        dir.display()
                    );
                }
                Some(dir)
            }
            None => Some(PathBuf::from(DEFAULT_EMBEDDING_MODEL))
                .filter(|dir| dir.join("model.safetensors").is_file()),
        };
        let answer_mode = text(&args.answer_mode, env::ANSWER_MODE, &file.answer_mode)
            .map_or(Ok(AnswerMode::Auto), |mode| parse::<AnswerMode>("answer mode", &mode))?;
        let decline_below = file.decline_below.unwrap_or(0.5);
        let extractive_from = file.extractive_from.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&decline_below) || !(0.0..=1.0).contains(&extractive_from) {
            bail!("decline_below and extractive_from must be between 0 and 1");
        }
        let max_in_flight = file.max_in_flight.unwrap_or(8);
        if max_in_flight == 0 {
            bail!("max_in_flight must be at least 1");
        }
        let max_answer_tokens = file.max_answer_tokens.unwrap_or(160);
        if !(16..=2_048).contains(&max_answer_tokens) {
            bail!("max_answer_tokens must be between 16 and 2048");
        }
        let mut api_keys = Vec::new();
        for entry in &file.api_keys {
            let role: Role = parse("api key role", &entry.role)?;
            let key = ApiKey::from_hash(entry.name.trim(), role, &entry.sha256)
                .map_err(|e| anyhow::anyhow!("invalid api key {:?}: {e}", entry.name))?;
            if entry.name.trim().is_empty() {
                bail!("invalid api key: every key needs a name");
            }
            api_keys.push(key);
        }
        for (plain, name, role) in [
            (text(&args.admin_key, env::ADMIN_KEY, &file.admin_key), "admin", Role::Admin),
            (text(&args.agent_key, env::AGENT_KEY, &file.agent_key), "agent", Role::Agent),
        ] {
            if let Some(plain) = plain {
                api_keys.push(
                    ApiKey::from_plain(name, role, &plain)
                        .map_err(|e| anyhow::anyhow!("invalid {name} key: {e}"))?,
                );
            }
        }
        let allowed_origins: Vec<String> = match env(env::ALLOWED_ORIGINS) {
            Some(list) => list.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect(),
            None => file.allowed_origins.clone().unwrap_or_default(),
        };
        if let Some(bad) = allowed_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/'))
        {
            bail!("invalid allowed origin {bad:?}: expected a scheme and host such as https://shop.example");
        }
        let token_secret = file.token_secret.clone().or_else(|| env(env::TOKEN_SECRET));
        if token_secret.as_ref().is_some_and(|s| s.len() < 16) {
            bail!("token_secret must be at least 16 characters");
        }
        let trust_forwarded_for = match env(env::TRUST_FORWARDED_FOR) {
            Some(value) => parse::<bool>("FRONTDESK_TRUST_FORWARDED_FOR (true or false)", value.trim())?,
            None => file.trust_forwarded_for.unwrap_or(false),
        };
        Ok(Self {
            listen,
            data_dir: path(&args.data_dir, env::DATA_DIR, &file.data_dir).unwrap_or_else(|| "data".into()),
            store,
            redis_url,
            redis_prefix: env(env::REDIS_PREFIX).or(file.redis_prefix).unwrap_or_else(|| "frontdesk:".into()),
            model: path(&args.model, env::MODEL, &file.model)
                .unwrap_or_else(|| "models/SmolLM2-135M-Instruct.Q4_0.gguf".into()),
            kb: Some(path(&args.kb, env::KB, &file.kb).unwrap_or_else(|| "knowledge-base".into())),
            embedding_model,
            api_keys,
            engine,
            answer_mode,
            token_secret,
            company_name: file.company_name.unwrap_or_else(|| "Brightwave".into()),
            max_in_flight,
            decline_below,
            extractive_from,
            max_answer_tokens,
            allowed_origins,
            trust_forwarded_for,
            retention_days: file.retention_days.unwrap_or(0),
            sockets_per_ip_burst: file.sockets_per_ip_burst.unwrap_or(30).max(1),
            messages_per_conversation_burst: file.messages_per_conversation_burst.unwrap_or(8).max(1),
            idle_timeout: std::time::Duration::from_secs(
                file.idle_timeout_secs.unwrap_or(120).clamp(1, 3_600),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_match_the_documented_interface() {
        let config = Config::resolve(&CommonArgs::default(), &no_env).expect("defaults are valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.store, StoreKind::Embedded);
        assert_eq!(config.answer_mode, AnswerMode::Auto);
    }

    #[test]
    fn the_command_line_beats_the_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("frontdesk.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1\"\nstore = \"redis\"\nanswer_mode = \"extractive\"\n")
            .expect("write");
        let env = |name: &str| match name {
            env::LISTEN => Some("127.0.0.1:2".to_owned()),
            env::ANSWER_MODE => Some("generative".to_owned()),
            _ => None,
        };
        let args =
            CommonArgs { config: Some(file), listen: Some("127.0.0.1:3".into()), ..CommonArgs::default() };
        let config = Config::resolve(&args, &env).expect("valid");
        assert_eq!(config.listen.port(), 3);
        assert_eq!(config.answer_mode, AnswerMode::Generative);
        assert_eq!(config.store, StoreKind::Redis);
        assert!(!config.trust_forwarded_for);
    }

    #[test]
    fn containers_turn_on_forwarded_addresses_through_the_environment() {
        let on = |name: &str| (name == env::TRUST_FORWARDED_FOR).then(|| "true".to_owned());
        assert!(Config::resolve(&CommonArgs::default(), &on).expect("valid").trust_forwarded_for);
        let bad = |name: &str| (name == env::TRUST_FORWARDED_FOR).then(|| "yes please".to_owned());
        let error = Config::resolve(&CommonArgs::default(), &bad).expect_err("refused").to_string();
        assert!(error.contains("FRONTDESK_TRUST_FORWARDED_FOR"), "{error}");
    }

    #[test]
    fn hashed_keys_come_from_the_file_and_plain_keys_from_flags() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("frontdesk.toml");
        let hash = frontdesk_gateway::auth::hash_key("ana-secret-key-0123456789");
        std::fs::write(
            &file,
            format!("[[api_keys]]\nname = \"ana\"\nrole = \"agent\"\nsha256 = \"{hash}\"\n"),
        )
        .expect("write");
        let args = CommonArgs {
            config: Some(file.clone()),
            admin_key: Some("admin-dev-key-0123456789".into()),
            ..CommonArgs::default()
        };
        let config = Config::resolve(&args, &no_env).expect("valid");
        let keys = frontdesk_gateway::auth::ApiKeys::new(config.api_keys);
        assert_eq!(keys.authenticate("ana-secret-key-0123456789").map(|k| k.name.as_str()), Some("ana"));
        assert_eq!(keys.authenticate("admin-dev-key-0123456789").map(|k| k.role), Some(Role::Admin));
        std::fs::write(&file, "[[api_keys]]\nname = \"ana\"\nrole = \"boss\"\nsha256 = \"00\"\n")
            .expect("write");
        let bad = CommonArgs { config: Some(file), ..CommonArgs::default() };
        assert!(Config::resolve(&bad, &no_env).expect_err("refused").to_string().contains("invalid"));
    }

    #[test]
    fn bad_values_are_refused_with_a_clear_message() {
        for args in [
            CommonArgs { listen: Some("nowhere".into()), ..CommonArgs::default() },
            CommonArgs { store: Some("postgres".into()), ..CommonArgs::default() },
            CommonArgs { answer_mode: Some("creative".into()), ..CommonArgs::default() },
            CommonArgs { redis_url: Some("http://x".into()), ..CommonArgs::default() },
            CommonArgs { agent_key: Some("short".into()), ..CommonArgs::default() },
        ] {
            let error = Config::resolve(&args, &no_env).expect_err("must be refused");
            assert!(error.to_string().starts_with("invalid"), "{error}");
        }
    }
}
