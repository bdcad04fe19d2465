//! The pages in a real browser: Debian's Chromium, driven by playwright-core, against the real
//! server (model, index, store). The scenarios live in `tests/browser/scenarios.mjs`; this
//! test starts the server, runs them, and fails when any does. Screenshots of the widget
//! (desktop and phone), the agent console and the admin console land in `tests/artifacts/`.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use frontdesk_e2e::{keys_toml, repo_root, start_server, test_config_with, Backend, ADMIN_KEY, ANA_KEY};

/// The secret lead webhooks are signed with in the scenarios.
const LEAD_SECRET: &str = "browser-webhook-secret-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_and_the_consoles_work_in_a_real_browser() -> anyhow::Result<()> {
    let root = repo_root();
    anyhow::ensure!(
        root.join("tests/browser/node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run scripts/ensure-tools.sh"
    );
    let data = tempfile::tempdir()?;
    // The scenarios' own site also receives the lead webhook, on a port chosen here.
    let site_port = frontdesk_e2e::free_port()?;
    let toml = format!(
        "lead_webhook_url = \"http://127.0.0.1:{site_port}/hook\"\nlead_webhook_secret = \"{LEAD_SECRET}\"\n\
         privacy_notice_url = \"/privacy\"\n{}",
        keys_toml()
    );
    let server =
        start_server(&test_config_with(Backend::Embedded, data.path(), "unused:", "auto", &toml)?).await?;
    let artifacts = root.join("tests/artifacts");
    let run = tokio::process::Command::new("node")
        .arg("scenarios.mjs")
        .current_dir(root.join("tests/browser"))
        .env("FRONTDESK_URL", format!("http://{}", server.addr))
        .env("AGENT_KEY", ANA_KEY)
        .env("AGENT_NAME", "ana")
        .env("ADMIN_KEY", ADMIN_KEY)
        .env("ARTIFACTS", &artifacts)
        .env("SITE_PORT", site_port.to_string())
        .env("LEAD_SECRET", LEAD_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .context("the browser scenarios took more than 5 minutes")?
        .context("failed to run node")?;
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    server.stop().await?;
    assert!(output.status.success(), "some browser scenarios failed (see above)");
    for shot in ["widget-desktop.png", "widget-phone.png", "console.png", "admin.png", "widget-cards.png"] {
        assert!(artifacts.join(shot).is_file(), "{shot} was not saved");
    }
    Ok(())
}
