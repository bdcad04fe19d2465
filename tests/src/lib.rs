//! Helpers for the end-to-end tests: start the real server (real model, real tantivy, real
//! store) on `127.0.0.1:0` and talk to it over a real WebSocket, as the widget does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use frontdesk::config::{CommonArgs, Config};
use frontdesk::RunningServer;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ should be inside the repository").to_owned()
}

/// The model the tests use (fetched by `scripts/fetch-model.sh`).
pub fn model_path() -> PathBuf {
    repo_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The Redis the tests use.
pub fn redis_url() -> String {
    std::env::var("FRONTDESK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// redb under the data dir.
    Embedded,
    /// Redis under a random key prefix.
    Redis,
}

/// A configuration for a test server: port 0, the given data dir, the fixture knowledge base.
pub fn test_config(
    backend: Backend,
    data_dir: &Path,
    redis_prefix: &str,
    answer_mode: &str,
) -> anyhow::Result<Config> {
    let args = CommonArgs {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(data_dir.to_owned()),
        store: Some(match backend {
            Backend::Embedded => "embedded".into(),
            Backend::Redis => "redis".into(),
        }),
        redis_url: Some(redis_url()),
        model: Some(model_path()),
        kb: Some(repo_root().join("tests/fixtures/kb")),
        answer_mode: Some(answer_mode.into()),
        ..CommonArgs::default()
    };
    let prefix = redis_prefix.to_owned();
    Config::resolve(&args, &move |name| (name == "FRONTDESK_REDIS_PREFIX").then(|| prefix.clone()))
}

/// Starts the real server.
pub async fn start_server(config: &Config) -> anyhow::Result<RunningServer> {
    anyhow::ensure!(model_path().is_file(), "model missing: run scripts/fetch-model.sh first");
    frontdesk::start(config).await
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A visitor's WebSocket connection.
pub struct Visitor {
    socket: Socket,
}

impl Visitor {
    /// Connects to `/v1/ws`.
    pub async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws"))
            .await
            .context("websocket connect failed")?;
        Ok(Self { socket })
    }

    /// Sends one JSON frame.
    pub async fn send(&mut self, frame: Value) -> anyhow::Result<()> {
        self.socket.send(Message::text(frame.to_string())).await?;
        Ok(())
    }

    /// The next JSON frame from the server, waiting at most `wait`.
    pub async fn next_frame(&mut self, wait: Duration) -> anyhow::Result<Value> {
        loop {
            let message = tokio::time::timeout(wait, self.socket.next())
                .await
                .context("no frame from the server in time")?
                .context("the server closed the socket")??;
            match message {
                Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
                Message::Close(_) => bail!("the server closed the socket"),
                _ => continue,
            }
        }
    }

    /// Sends `hello` (with a token to resume) and returns the `welcome` frame.
    pub async fn hello(&mut self, token: Option<&str>) -> anyhow::Result<Value> {
        let mut hello = json!({"type": "hello", "locale": "en"});
        if let Some(token) = token {
            hello["token"] = json!(token);
        }
        self.send(hello).await?;
        self.next_frame(Duration::from_secs(10)).await
    }

    /// Sends a question and collects every frame up to and including `done` (or `error`).
    pub async fn ask(&mut self, client_id: &str, text: &str) -> anyhow::Result<Vec<Value>> {
        self.send(json!({"type": "message", "id": client_id, "text": text})).await?;
        let mut frames = Vec::new();
        loop {
            let frame = self.next_frame(Duration::from_secs(180)).await?;
            let kind = frame["type"].as_str().unwrap_or_default().to_owned();
            frames.push(frame);
            if kind == "done" || kind == "error" {
                return Ok(frames);
            }
        }
    }
}
