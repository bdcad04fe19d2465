//! The OpenAI-compatible API, driven by the official `openai` Python client (installed by
//! `scripts/test.sh` into a virtual environment; `FRONTDESK_TEST_PYTHON` names its python).

use frontdesk_e2e::{keys_toml, repo_root, start_server, test_config_with, Backend, ANA_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_gets_grounded_answers_with_sources() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let server =
        start_server(&test_config_with(Backend::Embedded, data.path(), "unused:", "auto", &keys_toml())?)
            .await?;
    let python = std::env::var("FRONTDESK_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = repo_root().join("tests/openai_client.py");
    let base = format!("http://{}/v1", server.addr);
    let output = tokio::process::Command::new(&python).arg(&script).arg(&base).arg(ANA_KEY).output().await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{python} {} failed (is the openai package installed? scripts/test.sh installs it):\n{stdout}\n{stderr}",
        script.display()
    );
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
    server.stop().await?;
    Ok(())
}
