//! Helpers for the end-to-end tests: start the real server (real model, real tantivy, real
//! store) on `127.0.0.1:0` and talk to it over a real WebSocket, as the widget does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use frontdesk::config::{Config, Settings};
use frontdesk::RunningServer;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

pub mod traffic;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ should be inside the repository").to_owned()
}

/// The embedding model the tests use (fetched by `scripts/fetch-model.sh`).
pub fn embedding_model_path() -> PathBuf {
    repo_root().join("models/all-MiniLM-L6-v2")
}

/// The chat model `scripts/fetch-model.sh` fetches.
pub fn model_path() -> PathBuf {
    repo_root().join("models/SmolLM2-135M-Instruct.Q4_0.gguf")
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
    test_config_with(backend, data_dir, redis_prefix, answer_mode, "")
}

/// Agent keys in [`KEYS_TOML`], as the agents type them.
pub const ANA_KEY: &str = "ana-agent-key-0123456789";
/// The second agent's key.
pub const BO_KEY: &str = "bo-agent-key-0123456789";
/// The admin's key.
pub const ADMIN_KEY: &str = "root-admin-key-0123456789";

/// A config file with hashed keys for two agents (`ana`, `bo`) and one admin (`root`).
pub fn keys_toml() -> String {
    use frontdesk_gateway::auth::hash_key;
    format!(
        "[[api_keys]]\nname = \"ana\"\nrole = \"agent\"\nsha256 = \"{}\"\n\n\
         [[api_keys]]\nname = \"bo\"\nrole = \"agent\"\nsha256 = \"{}\"\n\n\
         [[api_keys]]\nname = \"root\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
        hash_key(ANA_KEY),
        hash_key(BO_KEY),
        hash_key(ADMIN_KEY)
    )
}

/// Like [`test_config`], with a config file holding `toml` (written into the data dir).
pub fn test_config_with(
    backend: Backend,
    data_dir: &Path,
    redis_prefix: &str,
    answer_mode: &str,
    toml: &str,
) -> anyhow::Result<Config> {
    std::fs::create_dir_all(data_dir)?;
    let file = data_dir.join("frontdesk.toml");
    std::fs::write(&file, toml)?;
    let args = Settings {
        config: Some(file),
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(data_dir.to_owned()),
        store: Some(match backend {
            Backend::Embedded => "embedded".into(),
            Backend::Redis => "redis".into(),
        }),
        redis_url: Some(redis_url()),
        model: Some(model_path()),
        kb: Some(repo_root().join("tests/fixtures/kb")),
        embedding_model: Some(embedding_model_path().display().to_string()),
        answer_mode: Some(answer_mode.into()),
        ..Settings::default()
    };
    let prefix = redis_prefix.to_owned();
    Config::resolve(&args, &move |name| (name == "FRONTDESK_REDIS_PREFIX").then(|| prefix.clone()))
}

/// Starts the real server.
pub async fn start_server(config: &Config) -> anyhow::Result<RunningServer> {
    anyhow::ensure!(model_path().is_file(), "model missing: run scripts/fetch-model.sh first");
    frontdesk::start(config).await
}

/// The servers of a test that shows work done by staff reaching a visitor: one server on the
/// embedded store, or on Redis two replicas sharing a fresh key prefix, the visitor on the
/// first and the staff (agents, admins) on the second. Both use [`keys_toml`]'s keys.
pub struct Cluster {
    /// The backend the servers use.
    pub backend: Backend,
    /// The Redis key prefix the replicas share.
    pub prefix: String,
    /// The visitor's server (also the staff's on the embedded store).
    pub visitor: RunningServer,
    /// The staff's replica, on Redis only.
    pub staff: Option<RunningServer>,
    /// The data dir of each server, kept until the cluster is dropped.
    pub data: [tempfile::TempDir; 2],
}

impl Cluster {
    /// Starts the servers (answering in `auto` mode).
    pub async fn start(backend: Backend) -> anyhow::Result<Self> {
        Self::start_with(backend, "", None).await
    }

    /// Starts the servers with `toml` added to their config file, on the knowledge base in
    /// `kb` (default: the fixture's).
    pub async fn start_with(backend: Backend, toml: &str, kb: Option<&Path>) -> anyhow::Result<Self> {
        let prefix = format!("frontdesk-e2e:{}:", frontdesk_core::new_id());
        let data = [tempfile::tempdir()?, tempfile::tempdir()?];
        let config = |dir: &Path| -> anyhow::Result<Config> {
            let mut config =
                test_config_with(backend, dir, &prefix, "auto", &format!("{toml}\n{}", keys_toml()))?;
            if let Some(kb) = kb {
                config.kb_folder = Some(kb.to_owned());
            }
            Ok(config)
        };
        let visitor = start_server(&config(data[0].path())?).await?;
        // The replicas share the token secret through Redis; nothing is copied between them.
        let staff = match backend {
            Backend::Redis => Some(start_server(&config(data[1].path())?).await?),
            Backend::Embedded => None,
        };
        Ok(Self { backend, prefix, visitor, staff, data })
    }

    /// Where the staff work: the second replica on Redis, the one server otherwise.
    pub fn staff_addr(&self) -> std::net::SocketAddr {
        self.staff.as_ref().map_or(self.visitor.addr, |s| s.addr)
    }

    /// Stops every server; returns the visitor's server's data dir and the prefix, for a test
    /// that starts it again.
    pub async fn stop(self) -> anyhow::Result<(tempfile::TempDir, String)> {
        if let Some(staff) = self.staff {
            staff.stop().await?;
        }
        self.visitor.stop().await?;
        let [first, _] = self.data;
        Ok((first, self.prefix))
    }
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
        next_json(&mut self.socket, wait).await
    }

    /// Sends `hello` (with a token to resume) and returns the `welcome` frame.
    pub async fn hello(&mut self, token: Option<&str>) -> anyhow::Result<Value> {
        self.hello_with(token, Value::Null).await
    }

    /// Sends `hello` with what the host page says about the visitor (`{id, attributes}`).
    pub async fn hello_with(&mut self, token: Option<&str>, visitor: Value) -> anyhow::Result<Value> {
        let mut hello = json!({"type": "hello", "locale": "en"});
        if !visitor.is_null() {
            hello["visitor"] = visitor;
        }
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

/// An agent (or admin) calling the HTTP API with a key.
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl ApiClient {
    /// A client of the server at `addr`, sending `key` as a bearer token.
    pub fn new(addr: std::net::SocketAddr, key: Option<&str>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client can be built");
        Self { http, base: format!("http://{addr}"), key: key.map(str::to_owned) }
    }

    fn with_key(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// `GET path`: the status and the body as JSON (or as a JSON string when it is not JSON).
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self.with_key(self.http.get(format!("{}{path}", self.base))).send().await?;
        decode(response).await
    }

    /// `GET path`: the status and the body as text.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let response = self.with_key(self.http.get(format!("{}{path}", self.base))).send().await?;
        Ok((response.status().as_u16(), response.text().await?))
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let response =
            self.with_key(self.http.post(format!("{}{path}", self.base)).json(&body)).send().await?;
        decode(response).await
    }

    /// Any method with a body: a JSON string is sent as raw text (a document upload), any
    /// other value as JSON.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut request = self.with_key(self.http.request(method, format!("{}{path}", self.base)));
        match body {
            Some(Value::String(text)) => request = request.body(text),
            Some(body) => request = request.json(&body),
            None => {}
        }
        decode(request.send().await?).await
    }
}

async fn decode(response: reqwest::Response) -> anyhow::Result<(u16, Value)> {
    let status = response.status().as_u16();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, body))
}

/// An agent's live feed, `/api/v1/agent/ws`.
pub struct AgentFeed {
    socket: Socket,
}

impl AgentFeed {
    /// Connects and signs in with `key` in the first frame; returns the feed and `ready`.
    pub async fn connect(addr: std::net::SocketAddr, key: &str) -> anyhow::Result<(Self, Value)> {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/agent/ws"))
            .await
            .context("agent websocket connect failed")?;
        let mut feed = Self { socket };
        feed.socket.send(Message::text(json!({"type": "auth", "key": key}).to_string())).await?;
        let ready = feed.next_frame(Duration::from_secs(10)).await?;
        Ok((feed, ready))
    }

    /// The next frame, waiting at most `wait`.
    pub async fn next_frame(&mut self, wait: Duration) -> anyhow::Result<Value> {
        next_json(&mut self.socket, wait).await
    }

    /// Frames until one satisfies `pick`, which is returned.
    pub async fn wait_for(&mut self, pick: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        loop {
            let frame = self.next_frame(Duration::from_secs(10)).await?;
            if pick(&frame) {
                return Ok(frame);
            }
        }
    }
}

async fn next_json(socket: &mut Socket, wait: Duration) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(wait, socket.next())
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

/// The `frontdesk` binary cargo built beside the running test (`target/debug/frontdesk`);
/// `scripts/test.sh` builds the workspace's binaries before running the tests.
pub fn frontdesk_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/debug/deps/<test>-<hash> -> target/debug/frontdesk
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("frontdesk"))
        .context("the test binary has no parent directory")?;
    anyhow::ensure!(bin.is_file(), "{} is missing: run `cargo build --bin frontdesk` first", bin.display());
    Ok(bin)
}

/// A free TCP port on the loopback interface (free when this returns).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A `frontdesk serve` process, as an operator runs it; killed when dropped.
pub struct ServerProcess {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    child: tokio::process::Child,
}

impl ServerProcess {
    /// Starts `frontdesk serve --listen 127.0.0.1:<free port>` with `args` and `envs`, its
    /// output in `log`, and waits until `/readyz` answers 200 (at most a minute).
    pub async fn spawn(args: &[&str], envs: &[(&str, &str)], log: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let output = std::fs::File::create(log)?;
        let child = tokio::process::Command::new(frontdesk_bin()?)
            .current_dir(repo_root())
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .args(args)
            .envs(envs.iter().copied())
            .stdout(output.try_clone()?)
            .stderr(output)
            .kill_on_drop(true)
            .spawn()
            .context("failed to start frontdesk")?;
        let mut process = Self { addr, child };
        process.wait_ready(log).await?;
        Ok(process)
    }

    async fn wait_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let output = std::fs::read_to_string(log).unwrap_or_default();
                bail!("frontdesk exited with {status} before it was ready:\n{output}");
            }
            if let Ok(response) = http.get(format!("http://{}/readyz", self.addr)).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if std::time::Instant::now() > deadline {
                bail!("frontdesk at {} was not ready within a minute", self.addr);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: the process gets no chance to close anything.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}
