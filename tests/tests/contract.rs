//! The API contract: schemathesis (from PyPI, in the test virtual environment) reads the
//! server's own `/openapi.yaml` and throws generated requests at every operation, once with
//! each role's key and once without one. No response may be a 5xx, or have a status, content
//! type or body the description does not allow. (That every route is described at all is
//! checked in the gateway's handler tests.)

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use frontdesk_e2e::{keys_toml, start_server, test_config_with, Backend, ADMIN_KEY, ANA_KEY};

/// The `st` command beside the test Python (`scripts/test.sh` installs schemathesis there).
fn schemathesis() -> anyhow::Result<PathBuf> {
    let python = std::env::var("FRONTDESK_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let st = PathBuf::from(python).with_file_name("st");
    anyhow::ensure!(
        st.is_file(),
        "{} is missing: run scripts/test.sh, which installs schemathesis",
        st.display()
    );
    Ok(st)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_keeps_to_its_openapi_description() -> anyhow::Result<()> {
    let st = schemathesis()?;
    let data = tempfile::tempdir()?;
    let server =
        start_server(&test_config_with(Backend::Embedded, data.path(), "unused:", "auto", &keys_toml())?)
            .await?;
    let spec = format!("http://{}/openapi.yaml", server.addr);
    for (role, key) in [("admin", Some(ADMIN_KEY)), ("agent", Some(ANA_KEY)), ("anonymous", None)] {
        let mut command = tokio::process::Command::new(&st);
        command
            .args(["run", &spec, "--max-examples", "25", "--no-color"])
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
            .current_dir(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(key) = key {
            command.args(["--header", &format!("Authorization: Bearer {key}")]);
        }
        let output = tokio::time::timeout(Duration::from_secs(300), command.output())
            .await
            .context("schemathesis took more than 5 minutes")?
            .context("failed to run schemathesis")?;
        let report = String::from_utf8_lossy(&output.stdout);
        let summary: Vec<&str> = report
            .lines()
            .filter(|l| l.contains("generated") || l.contains("passed") || l.contains("failures"))
            .collect();
        println!("{role}: {}", summary.join(" | "));
        assert!(
            output.status.success(),
            "schemathesis found failures as {role}:\n{report}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    server.stop().await?;
    Ok(())
}
