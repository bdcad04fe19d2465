//! The content studio end to end on the real server and model (the demo company's catalogue
//! and FAQ): an admin writes an ad and an e-mail over `POST /api/v1/content` and reads the
//! draft stream in; the limits hold whatever the model wrote; every flag names a word the
//! sources lack; an edit is checked again (an invented price flagged, the sources' own facts
//! not); drafts are listed, read as Markdown and HTML, deleted; one draft is written at a time;
//! bad requests get codes and change nothing.

use frontdesk_e2e::{repo_root, ApiClient, Backend, Cluster, ADMIN_KEY, ANA_KEY};
use serde_json::{json, Value};

/// The server-sent events of a stream: (event, data as JSON).
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = "message".to_owned();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event:") {
                    name = rest.trim().to_owned();
                } else if let Some(rest) = line.strip_prefix("data:") {
                    data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                }
            }
            (!data.is_empty()).then(|| (name, serde_json::from_str(&data).unwrap_or(Value::Null)))
        })
        .collect()
}

fn parts_of<'a>(draft: &'a Value, role: &str) -> Vec<&'a str> {
    draft["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["role"] == role)
        .filter_map(|p| p["text"].as_str())
        .collect()
}

/// The numbers of a text as the check reads them: runs of digits with inner separators
/// ("€1,190.50" -> "1190.50"), so that "1" is not found inside "119".
fn numbers_of(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
        .map(|run| run.trim_matches([',', '.']).replace(',', ""))
        .filter(|run| !run.is_empty())
        .collect()
}

/// Whether a flagged `word` of `kind` stands in `evidence` as a whole: a number as one of its
/// numbers, anything else between word boundaries.
fn stands_in(evidence: &str, kind: &str, word: &str) -> bool {
    if kind == "number" {
        // A number flagged with its unit or currency ("20 years", "49 美元") is flagged for the
        // pair: it stands in the sources only where they give that number with that unit.
        if word.chars().any(|c| !c.is_ascii_digit() && !matches!(c, '.' | ',' | '-' | ' ')) {
            return evidence.contains(word.trim_end_matches('s'));
        }
        let wanted = numbers_of(word);
        let known = numbers_of(evidence);
        return !wanted.is_empty() && wanted.iter().all(|n| known.contains(n));
    }
    evidence.match_indices(word).any(|(at, _)| {
        let before = evidence[..at].chars().next_back();
        let after = evidence[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The draft a stream ended with, after checking the stream's shape.
fn finished(stream: &Value) -> Value {
    let text = stream.as_str().unwrap_or_default();
    let events = events(text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"unit"), "{text}");
    assert!(names.contains(&"token") && names.contains(&"parts"), "{names:?}");
    let (last, draft) = events.last().cloned().expect("an event");
    assert_eq!(last, "done", "{text}");
    draft
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_writes_checks_edits_and_keeps_drafts() -> anyhow::Result<()> {
    let kb = repo_root().join("knowledge-base");
    let cluster = Cluster::start_with(Backend::Embedded, "brand_avoid = [\"cheap\"]\n", Some(&kb)).await?;
    let admin = ApiClient::new(cluster.staff_addr(), Some(ADMIN_KEY));

    // Bad requests: a code and a reason, nothing stored.
    for (body, status, needle) in [
        (json!({"kind": "poem", "items": ["data-analysis-python"]}), 400, "unknown content kind"),
        (json!({"kind": "ad", "items": ["no-such-item"]}), 400, "no catalogue item \"no-such-item\""),
        (json!({"kind": "ad", "entries": ["shipping.md#nope"]}), 400, "no FAQ entry"),
        (json!({"kind": "ad"}), 400, "choose at least one source"),
        (
            json!({"kind": "ad", "items": ["data-analysis-python"], "language": "fr"}),
            400,
            "unsupported language",
        ),
        (json!({"kind": "faq_page", "entries": ["x"]}), 400, "no FAQ entry"),
        (json!({"kind": "ad", "items": ["data-analysis-python"], "colour": "red"}), 400, "unknown field"),
    ] {
        let (got, answer) = admin.post("/api/v1/content", body.clone()).await?;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "bad_request", "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains(needle), "{body}: {answer}");
    }
    let (status, _) = ApiClient::new(cluster.staff_addr(), Some(ANA_KEY))
        .post("/api/v1/content", json!({"kind": "ad"}))
        .await?;
    assert_eq!(status, 403, "drafts are for admins");
    let (status, list) = admin.get("/api/v1/content").await?;
    assert_eq!((status, list), (200, json!([])));

    // An ad: three variants within the limits, whatever the model wrote.
    let (status, stream) =
        admin.post("/api/v1/content", json!({"kind": "ad", "items": ["data-analysis-python"]})).await?;
    assert_eq!(status, 200, "{stream}");
    let ad = finished(&stream);
    let headlines = parts_of(&ad, "headline");
    let descriptions = parts_of(&ad, "description");
    assert_eq!((headlines.len(), descriptions.len()), (3, 3), "{ad}");
    assert!(headlines.iter().all(|h| h.chars().count() <= 30), "{headlines:?}");
    assert!(descriptions.iter().all(|d| d.chars().count() <= 90), "{descriptions:?}");
    assert_eq!(ad["sources"]["items"], json!(["data-analysis-python"]));
    assert!(ad["markdown"].as_str().unwrap_or_default().contains("**Variant 3**"), "{ad}");
    // Every flag names a word of the draft that the sources do not hold.
    let evidence = ad["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    for flag in ad["review"]["flags"].as_array().into_iter().flatten() {
        let word = flag["word"].as_str().unwrap_or_default().to_lowercase();
        let part = flag["part"].as_u64().unwrap_or(99) as usize;
        assert!(
            ad["parts"][part]["text"].as_str().unwrap_or_default().to_lowercase().contains(&word),
            "{flag}"
        );
        if flag["kind"] != "avoided" && flag["kind"] != "name" {
            assert!(
                !stands_in(&evidence, flag["kind"].as_str().unwrap_or_default(), &word),
                "{flag} is in the sources"
            );
        }
    }
    println!("ad as written: {}", ad["markdown"].as_str().unwrap_or_default());

    // An edit is checked again: an invented price and an avoided word flagged, the sources'
    // own price not.
    let id = ad["id"].as_str().unwrap_or_default().to_owned();
    let mut parts = ad["parts"].clone();
    parts[1]["text"] = json!("Now only €99, cheap! Join before Friday.");
    parts[3]["text"] = json!("Data Analysis with Python: 20 hours of pandas for €119.");
    let (status, edited) =
        admin.call("PUT", &format!("/api/v1/content/{id}"), Some(json!({"parts": parts}))).await?;
    assert_eq!(status, 200, "{edited}");
    let flags: Vec<(u64, String, String)> = edited["review"]["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["part"].as_u64().unwrap_or(0),
                f["kind"].as_str().unwrap_or_default().into(),
                f["word"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert!(flags.contains(&(1, "number".into(), "€99".into())), "{flags:?}");
    assert!(flags.contains(&(1, "avoided".into(), "cheap".into())), "{flags:?}");
    assert!(flags.contains(&(1, "name".into(), "Friday".into())), "{flags:?}");
    assert!(!flags.iter().any(|(part, _, _)| *part == 3), "the sources' facts pass: {flags:?}");
    assert!(edited["html"].as_str().unwrap_or_default().contains("Now only €99, cheap!"), "{edited}");
    let (status, read) = admin.get(&format!("/api/v1/content/{id}")).await?;
    assert_eq!(
        (status, &read["parts"][1]["text"]),
        (200, &json!("Now only €99, cheap! Join before Friday."))
    );
    let (status, bad) =
        admin.call("PUT", &format!("/api/v1/content/{id}"), Some(json!({"parts": []}))).await?;
    assert_eq!((status, &bad["error"]["code"]), (400, &json!("bad_request")), "{bad}");
    let (status, unchanged) = admin.get(&format!("/api/v1/content/{id}")).await?;
    assert_eq!((status, &unchanged["parts"]), (200, &read["parts"]), "a refused edit changes nothing");

    // An e-mail: one call to action, to the item's own page; the sign-off is the company's.
    let (status, stream) = admin
        .post(
            "/api/v1/content",
            json!({"kind": "email", "items": ["aura-anc"], "tone": "formal", "strict": true}),
        )
        .await?;
    assert_eq!(status, 200, "{stream}");
    let email = finished(&stream);
    let actions: Vec<&Value> =
        email["parts"].as_array().into_iter().flatten().filter(|p| p["role"] == "call_to_action").collect();
    assert_eq!(actions.len(), 1, "{email}");
    assert_eq!(actions[0]["link"], "https://shop.brightwave.example/p/aura-anc");
    assert!(parts_of(&email, "body").iter().all(|b| !b.contains("http")), "{email}");
    assert_eq!(parts_of(&email, "sign_off"), ["The Brightwave team"]);
    assert_eq!(email["tone"], "formal");
    println!("e-mail as written: {}", email["markdown"].as_str().unwrap_or_default());

    // One draft at a time: a second request while one is written is told to wait.
    let http = reqwest::Client::new();
    let first = http
        .post(format!("http://{}/api/v1/content", cluster.staff_addr()))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"kind": "social", "items": ["aura-buds"]}))
        .send()
        .await?;
    assert_eq!(first.status().as_u16(), 200);
    let (status, busy) =
        admin.post("/api/v1/content", json!({"kind": "social", "items": ["aura-buds"]})).await?;
    assert_eq!((status, &busy["error"]["code"]), (503, &json!("busy")), "{busy}");
    let social = finished(&Value::String(first.text().await?));
    assert!(parts_of(&social, "post").iter().all(|p| p.chars().count() <= 280), "{social}");

    // Listed newest first; deleted for good.
    let (status, list) = admin.get("/api/v1/content").await?;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = list.as_array().into_iter().flatten().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds.len(), 3, "{list}");
    assert_eq!(list[0]["id"], social["id"], "newest change first: {list}");
    let (status, _) = admin.call("DELETE", &format!("/api/v1/content/{id}"), None).await?;
    assert_eq!(status, 204);
    let (status, gone) = admin.get(&format!("/api/v1/content/{id}")).await?;
    assert_eq!((status, &gone["error"]["code"]), (404, &json!("not_found")));
    let (status, _) = admin.get("/api/v1/content/..%2Fetc").await?;
    assert_eq!(status, 404);
    let (status, list) = admin.get("/api/v1/content").await?;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(2)));
    cluster.stop().await?;
    Ok(())
}
