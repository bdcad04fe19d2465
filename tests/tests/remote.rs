//! The remote engine: one Frontdesk generates its answers through another's OpenAI-compatible
//! `/v1/chat/completions`, streamed, as it would through a GPU pool.

use frontdesk_e2e::{keys_toml, start_server, test_config_with, Backend, Visitor, ANA_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_generated_by_a_remote_openai_compatible_server() -> anyhow::Result<()> {
    let engine_data = tempfile::tempdir()?;
    let engine = start_server(&test_config_with(
        Backend::Embedded,
        engine_data.path(),
        "unused:",
        "auto",
        &keys_toml(),
    )?)
    .await?;

    let data = tempfile::tempdir()?;
    let toml = format!(
        "engine = \"remote\"\nremote_url = \"http://{}/v1\"\nremote_key = \"{ANA_KEY}\"\nremote_model = \"pool-model\"\n",
        engine.addr
    );
    let config = test_config_with(Backend::Embedded, data.path(), "unused:", "generative", &toml)?;
    let server = start_server(&config).await?;
    let mut visitor = Visitor::connect(server.addr).await?;
    visitor.hello(None).await?;
    let frames = visitor.ask("q1", "what are your opening hours").await?;
    let tokens = frames.iter().filter(|f| f["type"] == "token").count();
    let done = frames.last().expect("done");
    assert_eq!(done["type"], "done", "{done}");
    assert!(done["text"].as_str().unwrap_or_default().contains("Monday to Saturday"), "{done}");
    assert!(tokens > 1, "streamed in pieces from the remote engine, got {tokens}");

    // The remote engine goes away: the turn fails with a clear error, no hang.
    engine.stop().await?;
    let frames = visitor.ask("q2", "do you have parking at the shop").await?;
    let error = frames.last().expect("a frame");
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("error"), Some("unavailable")),
        "{error}"
    );
    server.stop().await?;
    Ok(())
}
