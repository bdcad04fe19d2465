//! Faults of the Redis store with the real server: Redis stopped while the server runs makes
//! requests fail fast with a clear error, and the server recovers by itself when Redis is back.
//! The test runs its own `redis-server` on a free port, so it can stop and start it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use frontdesk_e2e::{start_server, test_config_with, Backend, Visitor};

struct RedisProcess {
    child: Child,
}

impl RedisProcess {
    fn start(port: u16) -> anyhow::Result<Self> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { child })
    }

    /// Freezes (`STOP`) or thaws (`CONT`) the process: a Redis that accepts nothing and
    /// answers nothing, like one behind a broken network.
    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status =
            Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status()?;
        anyhow::ensure!(status.success(), "kill -{signal} failed");
        Ok(())
    }

    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn readyz(addr: std::net::SocketAddr) -> anyhow::Result<u16> {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    Ok(response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_fails_fast_and_the_server_recovers_when_it_is_back() -> anyhow::Result<()> {
    let port = free_port()?;
    let redis = RedisProcess::start(port)?;
    let data = tempfile::tempdir()?;
    let mut config = test_config_with(Backend::Redis, data.path(), "faults:", "auto", "")?;
    config.redis_url = format!("redis://127.0.0.1:{port}");
    let server = start_server(&config).await?;

    let mut visitor = Visitor::connect(server.addr).await?;
    visitor.hello(None).await?;
    let frames = visitor.ask("q1", "what are your opening hours").await?;
    assert_eq!(frames.last().expect("done")["type"], "done");
    assert_eq!(readyz(server.addr).await?, 200);

    // Redis hangs: the message fails with `unavailable` after the store's timeout (2 s), not
    // later; once it answers again, the same conversation goes on.
    redis.signal("STOP")?;
    let asked = Instant::now();
    let frames = visitor.ask("q2", "do you have parking").await?;
    let waited = asked.elapsed();
    redis.signal("CONT")?;
    let error = frames.last().expect("a frame");
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("error"), Some("unavailable")),
        "{error}"
    );
    assert!(waited < Duration::from_secs(6), "a hung Redis held the visitor for {waited:?}");
    println!("with Redis hung, a message failed with `unavailable` after {} ms", waited.as_millis());
    let recovered = Instant::now();
    loop {
        let frames = visitor.ask(&format!("q3-{}", frontdesk_core::new_id()), "do you have parking").await?;
        if frames.last().expect("a frame")["type"] == "done" {
            break;
        }
        assert!(recovered.elapsed() < Duration::from_secs(15), "no recovery after Redis thawed: {frames:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Redis stops: the next message fails with `unavailable`, quickly and without a panic.
    redis.kill()?;
    let asked = Instant::now();
    let frames = visitor.ask("q4", "do you have parking").await?;
    let error = frames.last().expect("a frame");
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "unavailable", "{error}");
    let waited = asked.elapsed();
    assert!(waited < Duration::from_secs(10), "failed after {waited:?}, more than the store timeout allows");
    println!("with Redis down, a message failed with `unavailable` after {} ms", waited.as_millis());
    assert_eq!(readyz(server.addr).await?, 503, "not ready without its store");
    // A newcomer is welcomed (nothing is stored before a first message), and that first
    // message fails like any other while the store is away.
    let mut newcomer = Visitor::connect(server.addr).await?;
    let welcome = newcomer.hello(None).await?;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let frames = newcomer.ask("n1", "do you have parking").await?;
    let refused = frames.last().expect("a frame");
    assert_eq!(refused["code"], "unavailable", "{refused}");

    // Redis is back (empty: it kept nothing): the same server serves again, with no restart.
    let _redis = RedisProcess::start(port)?;
    let back = Instant::now();
    while readyz(server.addr).await? != 200 {
        assert!(back.elapsed() < Duration::from_secs(30), "the server did not recover within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("the server was ready again {} ms after Redis came back", back.elapsed().as_millis());
    let mut again = Visitor::connect(server.addr).await?;
    let welcome = again.hello(None).await?;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let frames = again.ask("q1", "what are your opening hours").await?;
    assert!(frames.last().expect("done")["text"].as_str().unwrap_or_default().contains("Monday to Saturday"));
    drop(visitor);
    server.stop().await?;
    Ok(())
}
