//! Failover with real processes: Redis, two `frontdesk serve` processes on the Redis store, and
//! nginx in front of them with `deploy/nginx.conf` (the load balancer's config in the compose
//! file). A visitor chats through nginx; an agent on the other replica answers them; a document
//! uploaded through the other replica is answered on theirs; then the visitor's replica is
//! killed with SIGKILL in the middle of an answer, and the visitor reconnects through nginx the
//! way the widget does, finds the whole conversation on the surviving replica and goes on.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use frontdesk_e2e::{
    free_port, keys_toml, model_path, redis_url, repo_root, ApiClient, ServerProcess, Visitor, ADMIN_KEY,
    ANA_KEY,
};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

/// nginx running `deploy/nginx.conf`, with the replicas' and its own address filled in.
struct Nginx {
    addr: SocketAddr,
    child: tokio::process::Child,
}

impl Nginx {
    async fn start(dir: &Path, replicas: [SocketAddr; 2]) -> anyhow::Result<Self> {
        let template = std::fs::read_to_string(repo_root().join("deploy/nginx.conf"))?;
        let port = free_port()?;
        let conf = template
            .replace("frontdesk-1:8080", &replicas[0].to_string())
            .replace("frontdesk-2:8080", &replicas[1].to_string())
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        anyhow::ensure!(conf != template, "deploy/nginx.conf no longer has the placeholders this test fills");
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        // Debian puts it in /usr/sbin, which is not on every user's PATH.
        let binary = if Path::new("/usr/sbin/nginx").is_file() { "/usr/sbin/nginx" } else { "nginx" };
        let global = format!("daemon off; pid {}/nginx.pid;", dir.display());
        let child = tokio::process::Command::new(binary)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .arg("-g")
            .arg(global)
            // Its workers outlive a killed master: they must not hold the test's output open.
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("failed to start nginx: run scripts/ensure-tools.sh")?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                bail!("nginx did not listen on {addr}:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self { addr, child })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers, then itself (SIGKILL would leave them behind).
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
    }
}

/// The number of visitor sockets a replica holds, from its `/metrics`.
async fn visitor_sockets(addr: SocketAddr) -> anyhow::Result<u64> {
    let text = reqwest::get(format!("http://{addr}/metrics")).await?.text().await?;
    text.lines()
        .find_map(|line| line.strip_prefix("frontdesk_open_connections{kind=\"visitor\"} "))
        .context("no visitor connection gauge")?
        .trim()
        .parse()
        .context("a count")
}

/// Reconnects through the proxy as the widget does (backoff from 250 ms, doubling), resuming
/// with the token; returns the socket and its `welcome`.
async fn reconnect(proxy: SocketAddr, token: &str) -> anyhow::Result<(Visitor, Value, u32)> {
    let mut backoff = Duration::from_millis(250);
    for attempt in 1..=6 {
        if let Ok(mut visitor) = Visitor::connect(proxy).await {
            if let Ok(welcome) = visitor.hello(Some(token)).await {
                if welcome["type"] == "welcome" {
                    return Ok((visitor, welcome, attempt));
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    bail!("could not resume through the proxy")
}

/// The visitor's and assistant's texts, in order.
fn texts(messages: &Value) -> Vec<(String, String)> {
    messages
        .as_array()
        .map(|list| {
            list.iter()
                .map(|m| {
                    (
                        m["role"].as_str().unwrap_or_default().to_owned(),
                        m["text"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_keeps_their_chat_when_their_replica_is_killed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let prefix = format!("frontdesk-failover:{}:", frontdesk_core::new_id());
    let config = dir.path().join("frontdesk.toml");
    // Behind the proxy every connection comes from 127.0.0.1: the replicas read the visitor's
    // address from X-Forwarded-For instead.
    std::fs::write(&config, format!("trust_forwarded_for = true\n{}", keys_toml()))?;
    let model = model_path();
    let kb = repo_root().join("tests/fixtures/kb");
    let redis = redis_url();
    let mut replicas = Vec::new();
    for name in ["a", "b"] {
        let data = dir.path().join(name);
        std::fs::create_dir_all(&data)?;
        let args = [
            "--store",
            "redis",
            "--redis-url",
            &redis,
            "--data-dir",
            data.to_str().context("utf-8 path")?,
            "--model",
            model.to_str().context("utf-8 path")?,
            "--kb",
            kb.to_str().context("utf-8 path")?,
            "--config",
            config.to_str().context("utf-8 path")?,
        ];
        // No token secret is configured: the replicas agree on one through Redis.
        let envs = [("FRONTDESK_REDIS_PREFIX", prefix.as_str()), ("FRONTDESK_LOG_FORMAT", "json")];
        replicas.push(ServerProcess::spawn(&args, &envs, &dir.path().join(format!("{name}.log"))).await?);
    }
    let nginx = Nginx::start(dir.path(), [replicas[0].addr, replicas[1].addr]).await?;

    // The visitor chats through the proxy.
    let mut visitor = Visitor::connect(nginx.addr).await?;
    let welcome = visitor.hello(None).await?;
    let token = welcome["token"].as_str().context("a token")?.to_owned();
    let id = welcome["conversation_id"].as_str().context("an id")?.to_owned();
    let frames = visitor.ask("q1", "what are your opening hours").await?;
    let first_answer = frames.last().context("done")?["text"].as_str().unwrap_or_default().to_owned();
    assert!(first_answer.contains("Monday to Saturday"), "{first_answer}");

    // Which replica holds the socket? The other one is the agent's and the admin's.
    let counts = [visitor_sockets(replicas[0].addr).await?, visitor_sockets(replicas[1].addr).await?];
    let serving = match counts {
        [1, 0] => 0,
        [0, 1] => 1,
        other => bail!("expected one visitor socket on one replica, found {other:?}"),
    };
    let other = replicas[1 - serving].addr;
    println!("the visitor is on replica {}; the agent and the admin use {other}", ["a", "b"][serving]);

    // An agent on the other replica takes the chat over and answers; the visitor sees it live.
    visitor.send(json!({"type": "handoff"})).await?;
    assert_eq!(visitor.next_frame(WAIT).await?, json!({"type": "status", "status": "waiting"}));
    let ana = ApiClient::new(other, Some(ANA_KEY));
    let (status, body) = ana.post(&format!("/api/v1/conversations/{id}/takeover"), json!({})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(visitor.next_frame(WAIT).await?, json!({"type": "status", "status": "agent", "agent": "ana"}));
    let (status, body) = ana
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            json!({"text": "Ana here, from the other replica."}),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    let message = visitor.next_frame(WAIT).await?;
    assert_eq!(
        (message["type"].as_str(), message["text"].as_str()),
        (Some("agent_message"), Some("Ana here, from the other replica."))
    );
    let (status, body) = ana.post(&format!("/api/v1/conversations/{id}/handback"), json!({})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(visitor.next_frame(WAIT).await?, json!({"type": "status", "status": "bot"}));

    // A document uploaded through the other replica is found on the visitor's within 2 s.
    let admin = ApiClient::new(other, Some(ADMIN_KEY));
    let document =
        "## Do you ship to Antarctica?\n\nYes: twice a year we ship to research stations in Antarctica.\n";
    let uploaded = Instant::now();
    let (status, body) = admin.call("POST", "/api/v1/documents?name=polar.md", Some(json!(document))).await?;
    assert_eq!(status, 201, "{body}");
    let serving_admin = ApiClient::new(replicas[serving].addr, Some(ADMIN_KEY));
    loop {
        let (_, found) = serving_admin.get("/api/v1/search?q=ship%20to%20antarctica&k=1").await?;
        if found.to_string().contains("polar.md") {
            break;
        }
        assert!(uploaded.elapsed() < Duration::from_secs(2), "not found on the visitor's replica within 2 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "uploaded through one replica, searchable on the other after {} ms",
        uploaded.elapsed().as_millis()
    );
    let frames = visitor.ask("q2", "do you ship to antarctica?").await?;
    let answer = frames.last().context("done")?["text"].as_str().unwrap_or_default().to_owned();
    assert!(answer.contains("research stations"), "{answer}");

    // The replica serving the visitor dies in the middle of an answer.
    visitor
        .send(json!({"type": "message", "id": "q3", "text": "how many days do I have to return something"}))
        .await?;
    loop {
        let frame = visitor.next_frame(Duration::from_secs(120)).await?;
        if frame["type"] == "token" || frame["type"] == "done" {
            break;
        }
    }
    let killed = Instant::now();
    replicas[serving].kill().await?;
    let closed = loop {
        match visitor.next_frame(WAIT).await {
            Ok(_) => continue,
            Err(error) => break error,
        }
    };
    println!("the socket ended {} ms after the kill: {closed:#}", killed.elapsed().as_millis());

    // The widget reconnects through the proxy and resumes on the survivor.
    let (mut visitor, welcome, attempts) = reconnect(nginx.addr, &token).await?;
    println!("resumed through nginx after {} ms ({attempts} attempt(s))", killed.elapsed().as_millis());
    assert_eq!(welcome["conversation_id"], id.as_str());
    let history = texts(&welcome["messages"]);
    let survivor = replicas[1 - serving].addr;
    assert_eq!(visitor_sockets(survivor).await?, 1, "the visitor is now on the surviving replica");
    assert_eq!(history[0], ("visitor".to_owned(), "what are your opening hours".to_owned()));
    assert_eq!(history[1], ("assistant".to_owned(), first_answer.clone()));
    assert!(
        history.contains(&("agent".to_owned(), "Ana here, from the other replica.".to_owned())),
        "{history:?}"
    );
    assert!(history.contains(&("assistant".to_owned(), answer.clone())), "{history:?}");
    // The widget asks again when the last answer was cut off; the question is kept once.
    let last = welcome["messages"].as_array().and_then(|m| m.last()).cloned().unwrap_or_default();
    if last["role"] == "visitor" {
        assert_eq!(last["client_message_id"], "q3");
        let frames = visitor.ask("q3", "how many days do I have to return something").await?;
        assert_eq!(frames.last().context("done")?["type"], "done");
        println!("the cut-off answer was asked again and answered");
    } else {
        println!("the answer was complete before the kill");
    }
    let frames = visitor.ask("q4", "how much does shipping cost").await?;
    assert_eq!(frames.last().context("done")?["type"], "done", "{frames:?}");

    let (status, transcript) = ana.get(&format!("/api/v1/conversations/{id}")).await?;
    assert_eq!(status, 200);
    let questions: Vec<String> = texts(&transcript["messages"])
        .into_iter()
        .filter(|(role, _)| role == "visitor")
        .map(|(_, text)| text)
        .collect();
    assert_eq!(
        questions,
        [
            "what are your opening hours",
            "do you ship to antarctica?",
            "how many days do I have to return something",
            "how much does shipping cost"
        ]
    );
    let roles: Vec<String> = texts(&transcript["messages"]).into_iter().map(|(role, _)| role).collect();
    assert_eq!(roles.iter().filter(|r| *r == "assistant").count(), 4, "one answer per question: {roles:?}");
    drop(nginx);
    Ok(())
}
