//! The deployment files are checked without a Docker engine or a cluster: the compose file by
//! `docker-compose config`, the Kubernetes manifests by loading them and checking that their
//! parts fit together, and the settings they carry by Frontdesk's own config loader.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use frontdesk::config::{Config, Settings};
use frontdesk_e2e::repo_root;
use serde_json::Value;

#[test]
fn the_compose_file_is_valid_and_runs_two_replicas_on_redis_behind_nginx() -> anyhow::Result<()> {
    let root = repo_root();
    let quiet = Command::new("docker-compose")
        .current_dir(&root)
        .args(["-f", "docker-compose.yml", "config", "-q"])
        .output()
        .context("docker-compose is missing: run scripts/ensure-tools.sh")?;
    assert!(quiet.status.success(), "{}", String::from_utf8_lossy(&quiet.stderr));

    let resolved = Command::new("docker-compose")
        .current_dir(&root)
        .args(["-f", "docker-compose.yml", "config"])
        .output()?;
    let compose: Value = yaml_to_json(&String::from_utf8(resolved.stdout)?)?.remove(0);
    let services = &compose["services"];
    for replica in ["frontdesk-1", "frontdesk-2"] {
        let environment = &services[replica]["environment"];
        assert_eq!(environment["FRONTDESK_STORE"], "redis", "{replica}");
        assert_eq!(environment["FRONTDESK_TRUST_FORWARDED_FOR"], "true", "{replica}");
        assert!(services[replica]["healthcheck"]["test"].to_string().contains("/readyz"), "{replica}");
    }
    let redis = services["redis"]["command"].to_string();
    assert!(redis.contains("--appendonly") && redis.contains("yes"), "Redis persists: {redis}");
    let lb = services["lb"]["volumes"].to_string();
    assert!(lb.contains("deploy/nginx.conf"), "the load balancer runs the tested nginx.conf: {lb}");
    Ok(())
}

#[test]
fn the_kubernetes_manifests_fit_together() -> anyhow::Result<()> {
    let dir = repo_root().join("deploy/k8s");
    let mut objects: BTreeMap<String, Value> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            for object in yaml_to_json(&std::fs::read_to_string(&path)?)? {
                let key = format!(
                    "{}/{}",
                    object["kind"].as_str().unwrap_or("?"),
                    object["metadata"]["name"].as_str().unwrap_or("?")
                );
                objects.insert(key, object);
            }
        }
    }
    let get = |key: &str| objects.get(key).with_context(|| format!("{key} is missing from deploy/k8s"));
    let deployment = get("Deployment/frontdesk")?;
    let service = get("Service/frontdesk")?;
    let hpa = get("HorizontalPodAutoscaler/frontdesk")?;
    let config_map = get("ConfigMap/frontdesk")?;
    let secret = get("Secret/frontdesk")?;

    let pod = &deployment["spec"]["template"];
    let labels = pod["metadata"]["labels"].as_object().context("pod labels")?;
    for (key, value) in service["spec"]["selector"].as_object().context("service selector")? {
        assert_eq!(labels.get(key), Some(value), "the Service selects the pods");
    }
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], deployment["metadata"]["name"]);
    assert!(hpa["spec"]["minReplicas"].as_u64() >= Some(2), "at least two replicas for failover");

    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    // Every secret the container reads exists in the Secret.
    let secret_keys = secret["stringData"].as_object().context("secret data")?;
    for variable in container["env"].as_array().context("env")? {
        if let Some(key) = variable["valueFrom"]["secretKeyRef"]["key"].as_str() {
            assert!(secret_keys.contains_key(key), "the Secret lacks {key}");
        }
    }
    // The ConfigMap's frontdesk.toml is mounted where FRONTDESK_CONFIG points and is a valid
    // configuration, read by the same loader the server uses.
    let config_path = container["env"]
        .as_array()
        .and_then(|env| env.iter().find(|v| v["name"] == "FRONTDESK_CONFIG"))
        .and_then(|v| v["value"].as_str())
        .context("FRONTDESK_CONFIG")?;
    let mount = container["volumeMounts"]
        .as_array()
        .and_then(|mounts| mounts.iter().find(|m| m["name"] == "config"))
        .and_then(|m| m["mountPath"].as_str())
        .context("config mount")?;
    assert_eq!(Path::new(config_path).parent(), Some(Path::new(mount)));
    let toml = config_map["data"]["frontdesk.toml"].as_str().context("frontdesk.toml in the ConfigMap")?;
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), toml)?;
    let args = Settings { config: Some(file.path().to_owned()), ..Settings::default() };
    let secret_value = |key: &str| secret_keys.get(key).and_then(Value::as_str).map(str::to_owned);
    let env = |name: &str| match name {
        "FRONTDESK_TOKEN_SECRET" => secret_value("token-secret"),
        "FRONTDESK_REDIS_URL" => secret_value("redis-url"),
        "FRONTDESK_ADMIN_KEY" => secret_value("admin-key"),
        "FRONTDESK_AGENT_KEY" => secret_value("agent-key"),
        _ => None,
    };
    // Applied as shipped, the Secret's placeholders are refused: they would open the API to
    // anyone who read this repository.
    let refused = Config::resolve(&args, &env).expect_err("the placeholders are refused").to_string();
    assert!(refused.contains("placeholder"), "{refused}");
    // With values of its own, the deployment's configuration is valid.
    let filled = |name: &str| match name {
        "FRONTDESK_TOKEN_SECRET" => Some("9b2f64c1d8e07a35f1c9e2b47d06a8f3".to_owned()),
        "FRONTDESK_ADMIN_KEY" => Some("5e1b7c93a2d04f68b9c3e1a7".to_owned()),
        "FRONTDESK_AGENT_KEY" => Some("c4a8e2f61b9d3075e8a1c6b2".to_owned()),
        other => env(other),
    };
    let config = Config::resolve(&args, &filled)?;
    assert_eq!(config.store, frontdesk::config::StoreKind::Redis);
    assert!(config.trust_forwarded_for, "behind the Service, addresses come from X-Forwarded-For");
    assert_eq!(config.api_keys.len(), 2, "an admin and an agent key from the Secret");
    Ok(())
}

#[test]
fn the_images_build_with_the_commands_the_tests_run() -> anyhow::Result<()> {
    let root = repo_root();
    let test_script = std::fs::read_to_string(root.join("scripts/test.sh"))?;
    assert!(test_script.contains("scripts/build.sh"));
    let build_script = std::fs::read_to_string(root.join("scripts/build.sh"))?;
    assert!(build_script.contains("scripts/fetch-model.sh"));
    assert!(build_script.contains("scripts/ensure-build-deps.sh"));
    for file in ["deploy/Dockerfile", "deploy/Dockerfile.cuda"] {
        let dockerfile = std::fs::read_to_string(root.join(file))?;
        assert!(
            dockerfile.contains("RUN bash scripts/fetch-model.sh"),
            "{file} fetches the models as the tests do"
        );
        for package in ["cmake", "libclang-dev", "libgomp1"] {
            assert!(dockerfile.contains(package), "{file} installs {package}, which llama.cpp needs");
        }
        assert!(dockerfile.contains("FRONTDESK_EMBEDDING_MODEL="), "{file} points at the embedding model");
        assert!(dockerfile.contains("cargo build --release --bin frontdesk"), "{file}");
        assert!(dockerfile.contains("USER 10001"), "{file} runs as a non-root user");
        assert!(dockerfile.contains("/readyz"), "{file} has a health check");
    }
    Ok(())
}

/// Every document of a YAML stream, as JSON (read by Debian's Python YAML module, which
/// `docker-compose` brings).
fn yaml_to_json(text: &str) -> anyhow::Result<Vec<Value>> {
    use std::io::Write;
    let mut child = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("python3 with yaml is missing: run scripts/ensure-tools.sh")?;
    child.stdin.take().context("stdin")?.write_all(text.as_bytes())?;
    let output = child.wait_with_output()?;
    anyhow::ensure!(output.status.success(), "not valid YAML");
    match serde_json::from_slice(&output.stdout)? {
        Value::Array(documents) => Ok(documents),
        other => anyhow::bail!("unexpected {other}"),
    }
}
