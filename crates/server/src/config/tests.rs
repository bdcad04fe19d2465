//! Every setting through every layer, the validation of each, and the flags.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn defaults_match_the_documented_interface() {
    let config = Config::resolve(&Settings::default(), &no_env).expect("defaults are valid");
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
    let args = Settings { config: Some(file), listen: Some("127.0.0.1:3".into()), ..Settings::default() };
    let config = Config::resolve(&args, &env).expect("valid");
    assert_eq!(config.listen.port(), 3);
    assert_eq!(config.answer_mode, AnswerMode::Generative);
    assert_eq!(config.store, StoreKind::Redis);
    assert!(!config.trust_forwarded_for);
}

#[test]
fn the_privacy_setting_changes_the_named_kinds_only() {
    use frontdesk_core::privacy::{PiiKind, Treatment};
    let settings = Settings { privacy: Some("email=keep, card=mask".into()), ..Settings::default() };
    let policy = Config::resolve(&settings, &|_| None).expect("valid").privacy;
    assert_eq!(policy.treatment(PiiKind::Email), Treatment::Keep);
    assert_eq!(policy.treatment(PiiKind::Card), Treatment::Mask);
    assert_eq!(policy.treatment(PiiKind::Secret), Treatment::Redact, "the rest keep their defaults");
    for bad in ["email", "passport=keep", "email=shred"] {
        let settings = Settings { privacy: Some(bad.into()), ..Settings::default() };
        let error = Config::resolve(&settings, &|_| None).expect_err(bad).to_string();
        assert!(error.contains("invalid privacy"), "{error}");
    }
}

#[test]
fn a_model_is_named_or_given_by_its_path() {
    let named = |name: &'static str| move |var: &str| (var == env::MODEL).then(|| name.to_owned());
    let model = |name| Config::resolve(&Settings::default(), &named(name)).expect("valid").model;
    assert_eq!(model("qwen2.5-0.5b"), PathBuf::from("models/Qwen2.5-Coder-0.5B-Instruct.Q4_0.gguf"));
    assert_eq!(model("smollm2-135m"), PathBuf::from(SMOLLM2));
    assert_eq!(model("/srv/models/mine.gguf"), PathBuf::from("/srv/models/mine.gguf"));
}

#[test]
fn containers_turn_on_forwarded_addresses_through_the_environment() {
    let on = |name: &str| (name == env::TRUST_FORWARDED_FOR).then(|| "true".to_owned());
    assert!(Config::resolve(&Settings::default(), &on).expect("valid").trust_forwarded_for);
    let bad = |name: &str| (name == env::TRUST_FORWARDED_FOR).then(|| "yes please".to_owned());
    let error = Config::resolve(&Settings::default(), &bad).expect_err("refused").to_string();
    assert!(error.contains("FRONTDESK_TRUST_FORWARDED_FOR"), "{error}");
}

#[test]
fn hashed_keys_come_from_the_file_and_plain_keys_from_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("frontdesk.toml");
    let hash = frontdesk_gateway::auth::hash_key("ana-secret-key-0123456789");
    std::fs::write(&file, format!("[[api_keys]]\nname = \"ana\"\nrole = \"agent\"\nsha256 = \"{hash}\"\n"))
        .expect("write");
    let args = Settings {
        config: Some(file.clone()),
        admin_key: Some("admin-dev-key-0123456789".into()),
        ..Settings::default()
    };
    let config = Config::resolve(&args, &no_env).expect("valid");
    let keys = frontdesk_gateway::auth::ApiKeys::new(config.api_keys);
    assert_eq!(keys.authenticate("ana-secret-key-0123456789").map(|k| k.name.as_str()), Some("ana"));
    assert_eq!(keys.authenticate("admin-dev-key-0123456789").map(|k| k.role), Some(Role::Admin));
    std::fs::write(&file, "[[api_keys]]\nname = \"ana\"\nrole = \"boss\"\nsha256 = \"00\"\n").expect("write");
    let bad = Settings { config: Some(file), ..Settings::default() };
    assert!(Config::resolve(&bad, &no_env).expect_err("refused").to_string().contains("invalid"));
}

/// Three valid raw values of one setting (file, environment, command line) and what else
/// the file needs for them to take effect.
struct Walk {
    name: &'static str,
    base: String,
    file: String,
    env: String,
    flag: String,
}

fn walk(name: &'static str, file: &str, env: &str, flag: &str) -> Walk {
    Walk { name, base: String::new(), file: file.into(), env: env.into(), flag: flag.into() }
}

fn walks(dir: &std::path::Path) -> Vec<Walk> {
    let hash = |key: &str| frontdesk_gateway::auth::hash_key(key);
    let model_dir = |name: &str| {
        let path = dir.join(name);
        std::fs::create_dir_all(&path).expect("mkdir");
        std::fs::write(path.join("model.safetensors"), b"").expect("write");
        path.display().to_string()
    };
    let (e1, e2, e3) = (model_dir("e1"), model_dir("e2"), model_dir("e3"));
    let remote = "engine = \"remote\"\nremote_url = \"http://base.example/v1\"\n".to_owned();
    vec![
        walk("listen", "\"127.0.0.1:1\"", "127.0.0.1:2", "\"127.0.0.1:3\""),
        walk("data_dir", "\"d1\"", "d2", "\"d3\""),
        walk("store", "\"redis\"", "embedded", "\"redis\""),
        walk("redis_url", "\"redis://a:1\"", "redis://b:2", "\"rediss://c:3\""),
        walk("redis_prefix", "\"a:\"", "b:", "\"c:\""),
        walk("model", "\"m1.gguf\"", "m2.gguf", "\"m3.gguf\""),
        walk("chat_template", "\"gemma\"", "chatml", "\"llama3\""),
        walk("privacy", "\"email=keep\"", "email=redact", "\"phone=keep, email=mask\""),
        walk("kb", "\"k1\"", "k2", "\"k3\""),
        walk("embedding_model", &format!("{e1:?}"), &e2, &format!("{e3:?}")),
        walk(
            "admin_key",
            "\"admin-key-number-one-1\"",
            "admin-key-number-two-2",
            "\"admin-key-number-three\"",
        ),
        walk(
            "agent_key",
            "\"agent-key-number-one-1\"",
            "agent-key-number-two-2",
            "\"agent-key-number-three\"",
        ),
        walk(
            "api_keys",
            &format!("[{{ name = \"a\", role = \"agent\", sha256 = \"{}\" }}]", hash("key-of-agent-a-0123")),
            &format!("b:admin:{}", hash("key-of-admin-b-0123")),
            &format!("[{{ name = \"c\", role = \"agent\", sha256 = \"{}\" }}]", hash("key-of-agent-c-0123")),
        ),
        Walk {
            base: "remote_url = \"http://base.example/v1\"\n".into(),
            ..walk("engine", "\"mistralrs\"", "remote", "\"llamacpp\"")
        },
        walk("answer_mode", "\"extractive\"", "generative", "\"auto\""),
        walk("allow_development_keys", "true", "false", "true"),
        Walk {
            base: "engine = \"remote\"\n".into(),
            ..walk("remote_url", "\"http://a/v1\"", "http://b/v1", "\"https://c/v1\"")
        },
        Walk { base: remote.clone(), ..walk("remote_key", "\"k1\"", "k2", "\"k3\"") },
        Walk { base: remote, ..walk("remote_model", "\"q1\"", "q2", "\"q3\"") },
        walk(
            "token_secret",
            "\"file-secret-0123456789\"",
            "env-secret-0123456789",
            "\"flag-secret-0123456789\"",
        ),
        walk("company_name", "\"Acme\"", "Globex", "\"Initech\""),
        Walk {
            base: "lead_webhook_secret = \"hook-secret-7f3a9c2e51\"\n".into(),
            ..walk(
                "lead_webhook_url",
                "\"https://a.example/h\"",
                "https://b.example/h",
                "\"http://c.example/h\"",
            )
        },
        Walk {
            base: "lead_webhook_url = \"https://crm.example/hook\"\n".into(),
            ..walk(
                "lead_webhook_secret",
                "\"9c2e1f7a4b3d8e60a5c1\"",
                "b7d40e2a9f1c3e58d6a2",
                "\"e1a9c3f75b2d4086c7e3\"",
            )
        },
        walk("lead_consent", "\"I agree, one.\"", "I agree, two.", "\"I agree, three.\""),
        walk("privacy_notice_url", "\"/privacy-1\"", "https://b.example/privacy", "\"/privacy-3\""),
        walk("token_lifetime_days", "1", "2", "3"),
        walk("metrics_key", "\"9c2e1f7a4b3d8e60a5c1\"", "b7d40e2a9f1c3e58d6a2", "\"e1a9c3f75b2d4086c7e3\""),
        walk("max_in_flight", "1", "2", "3"),
        walk("decline_below", "0.1", "0.2", "0.3"),
        walk("extractive_from", "0.6", "0.7", "0.8"),
        walk("max_answer_tokens", "20", "30", "40"),
        walk("allowed_origins", "[\"https://a.example\"]", "https://b.example", "[\"https://c.example\"]"),
        walk("trust_forwarded_for", "true", "false", "true"),
        walk("trusted_proxies", "[\"10.0.0.0/8\"]", "127.0.0.1", "[\"192.168.1.0/24\", \"::1\"]"),
        walk("retention_days", "1", "2", "3"),
        walk("close_idle_after_hours", "1", "2", "0"),
        walk("sockets_per_ip_burst", "1", "2", "3"),
        walk("messages_per_conversation_burst", "1", "2", "3"),
        walk("idle_timeout_secs", "5", "6", "7"),
        walk("max_connections", "100", "200", "300"),
        walk("content", "false", "true", "false"),
        walk("content_model", "\"m1.gguf\"", "m2.gguf", "\"m3.gguf\""),
        walk("brand_tone", "\"formal\"", "playful", "\"friendly\""),
        walk("brand_avoid", "[\"cheap\"]", "free", "[\"best\", \"deal\"]"),
        walk("brand_sign_off", "\"Team A\"", "Team B", "\"Team C\""),
    ]
}

#[test]
fn every_setting_walks_through_all_four_layers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let walks = walks(dir.path());
    let walked: Vec<&str> = walks.iter().map(|w| w.name).collect();
    for (name, _) in Settings::NAMES.iter().filter(|(name, _)| *name != "config") {
        assert!(walked.contains(name), "setting {name} is missing from this test");
    }
    let file = dir.path().join("frontdesk.toml");
    for w in &walks {
        let (_, env_name) = Settings::NAMES.iter().find(|(n, _)| *n == w.name).expect("a setting");
        // Each layer's resolved configuration, printed: every setting shows in it.
        let resolve = |in_file: bool, in_env: bool, on_flag: bool| {
            let mut text = w.base.clone();
            if in_file {
                text.push_str(&format!("{} = {}\n", w.name, w.file));
            }
            std::fs::write(&file, text).expect("write");
            let mut args: Settings = if on_flag {
                toml::from_str(&format!("{} = {}", w.name, w.flag)).expect("a flag value")
            } else {
                Settings::default()
            };
            args.config = Some(file.clone());
            let env = |name: &str| (in_env && name == *env_name).then(|| w.env.clone());
            let config = Config::resolve(&args, &env).unwrap_or_else(|e| panic!("{}: {e:#}", w.name));
            format!("{config:?}")
        };
        let file_only = resolve(true, false, false);
        let env_only = resolve(false, true, false);
        let flag_only = resolve(false, false, true);
        // The remote engine has no default URL, and the lead webhook's address and secret go
        // together: without a layer giving the one the base lacks, they are refused.
        if !["remote_url", "lead_webhook_url", "lead_webhook_secret"].contains(&w.name) {
            assert_ne!(file_only, resolve(false, false, false), "{}: the file's value is ignored", w.name);
        }
        assert_ne!(env_only, file_only, "{}: the environment's value is ignored", w.name);
        assert_ne!(flag_only, env_only, "{}: the command line's value is ignored", w.name);
        assert_eq!(resolve(true, true, false), env_only, "{}: the file beats the environment", w.name);
        assert_eq!(resolve(true, true, true), flag_only, "{}: the command line does not win", w.name);
        assert_eq!(
            resolve(false, true, true),
            flag_only,
            "{}: the environment beats the command line",
            w.name
        );
    }
}

#[test]
fn the_environments_token_secret_beats_the_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("frontdesk.toml");
    std::fs::write(&file, "token_secret = \"from-the-file-0123456789\"\n").expect("write");
    let env = |name: &str| (name == env::TOKEN_SECRET).then(|| "from-the-environment-0123".to_owned());
    let args = Settings { config: Some(file), ..Settings::default() };
    let config = Config::resolve(&args, &env).expect("valid");
    assert_eq!(config.token_secret.as_deref(), Some("from-the-environment-0123"));
}

#[test]
fn development_keys_stay_on_loopback_unless_a_test_machine_says_otherwise() {
    let dev = |listen: &str, allow: bool| Settings {
        listen: Some(listen.into()),
        admin_key: Some("dev-admin-key-0123456789".into()),
        allow_development_keys: Some(allow),
        ..Settings::default()
    };
    assert!(Config::resolve(&dev("127.0.0.1:8080", false), &no_env).is_ok());
    assert!(Config::resolve(&dev("[::1]:8080", false), &no_env).is_ok());
    let error = Config::resolve(&dev("0.0.0.0:8080", false), &no_env).expect_err("refused").to_string();
    assert!(error.contains("development key"), "{error}");
    assert!(Config::resolve(&dev("0.0.0.0:8080", true), &no_env).is_ok(), "a test machine may");
    let real = Settings {
        listen: Some("0.0.0.0:8080".into()),
        admin_key: Some("3f9c1a7e5b2d48c6a0e1f7b3".into()),
        ..Settings::default()
    };
    assert!(Config::resolve(&real, &no_env).is_ok());
}

#[test]
fn placeholder_secrets_from_the_examples_are_refused() {
    let secret = |name: &str| {
        (name == env::TOKEN_SECRET).then(|| "replace-with-at-least-32-random-characters".to_owned())
    };
    let error = Config::resolve(&Settings::default(), &secret).expect_err("refused").to_string();
    assert!(error.contains("placeholder"), "{error}");
    let key =
        Settings { admin_key: Some("replace-with-a-long-random-admin-key".into()), ..Settings::default() };
    let error = Config::resolve(&key, &no_env).expect_err("refused").to_string();
    assert!(error.contains("placeholder"), "{error}");
}

#[test]
fn every_flag_is_a_setting_of_the_same_name() {
    use clap::CommandFactory as _;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }
    let flags: Vec<String> =
        Cli::command().get_arguments().filter_map(|a| a.get_long().map(|l| l.replace('-', "_"))).collect();
    assert!(flags.len() >= 10, "{flags:?}");
    for flag in &flags {
        assert!(Settings::NAMES.iter().any(|(name, _)| name == flag), "--{flag} is not a setting");
    }
}

#[test]
fn bad_values_are_refused_with_a_clear_message() {
    for args in [
        Settings { listen: Some("nowhere".into()), ..Settings::default() },
        Settings { store: Some("postgres".into()), ..Settings::default() },
        Settings { answer_mode: Some("creative".into()), ..Settings::default() },
        Settings { redis_url: Some("http://x".into()), ..Settings::default() },
        Settings { agent_key: Some("short".into()), ..Settings::default() },
    ] {
        let error = Config::resolve(&args, &no_env).expect_err("must be refused");
        assert!(error.to_string().starts_with("invalid"), "{error}");
    }
}
