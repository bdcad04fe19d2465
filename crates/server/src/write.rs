//! `frontdesk write`: one marketing draft on the command line, or (`--eval N`) the content
//! studio's evaluation: N drafts of every kind from different sources of the knowledge base
//! and catalogue, scored by code (within the kind's limits, no unsupported fact after the
//! check, the language by script) and timed.

use std::sync::Arc;

use anyhow::{bail, Context};
use frontdesk_core::catalog::{CatalogItem, ItemKind};
use frontdesk_core::content::write::{WriteEvent, WriteRequest, Writer};
use frontdesk_core::content::{ContentKind, Draft, Language, Sources, Tone};
use frontdesk_core::documents::DocumentStore;
use frontdesk_core::retrieve::Retriever;
use tokio::sync::mpsc;

/// What `frontdesk write` was asked.
#[derive(Debug, Clone)]
pub struct WriteArgs {
    /// The kind's name.
    pub kind: String,
    /// Catalogue item ids.
    pub items: Vec<String>,
    /// FAQ entry ids.
    pub entries: Vec<String>,
    /// `en` or `zh`.
    pub language: String,
    /// A tone other than the profile's.
    pub tone: Option<String>,
    /// Write flagged parts again.
    pub strict: bool,
}

/// The sources named by id, each one checked.
pub async fn sources(
    items: &[String],
    entries: &[String],
    catalogue: &[CatalogItem],
    retriever: &dyn Retriever,
) -> anyhow::Result<Sources> {
    let mut sources = Sources::default();
    for id in items {
        let item =
            catalogue.iter().find(|i| &i.id == id).with_context(|| format!("no catalogue item {id:?}"))?;
        sources.items.push(item.clone());
    }
    sources.entries = retriever.entries(entries).await?;
    if let Some(missing) = entries.iter().find(|id| !sources.entries.iter().any(|e| &e.entry_id == *id)) {
        bail!("no FAQ entry {missing:?}");
    }
    Ok(sources)
}

/// Writes one draft, the model's text streamed to stderr, and returns it with the steps its
/// writing took (each unit begun, each try written again, each fallback), for an evaluation
/// to show why a draft came out as it did.
pub async fn write_one(
    writer: &Writer,
    request: &WriteRequest,
    stream: bool,
) -> anyhow::Result<(Draft, Vec<String>)> {
    let (tx, mut rx) = mpsc::channel(256);
    let printer = tokio::spawn(async move {
        let mut steps = Vec::new();
        while let Some(event) = rx.recv().await {
            match event {
                WriteEvent::Unit { what, .. } => {
                    if stream {
                        eprintln!("\n[writing {what}]");
                    }
                    steps.push(format!("writing {what}"));
                }
                WriteEvent::Token(text) if stream => eprint!("{text}"),
                WriteEvent::Retry(reason) => {
                    if stream {
                        eprintln!("\n[{reason}]");
                    }
                    steps.push(reason);
                }
                _ => {}
            }
        }
        steps
    });
    let draft = writer.write(request, &tx).await;
    drop(tx);
    let steps = printer.await.unwrap_or_default();
    if stream {
        eprintln!();
    }
    Ok((draft?, steps))
}

/// Stores a draft where the admin's Content view lists it.
pub async fn save(documents: &dyn DocumentStore, draft: &Draft) -> anyhow::Result<()> {
    documents.put_document(&frontdesk_core::content::draft_document(draft)?).await?;
    Ok(())
}

/// The request `frontdesk write` makes.
pub fn request(args: &WriteArgs, sources: Sources) -> anyhow::Result<WriteRequest> {
    Ok(WriteRequest {
        kind: ContentKind::parse(&args.kind)?,
        language: Language::parse(&args.language)?,
        tone: args.tone.as_deref().map(Tone::parse).transpose()?,
        sources,
        strict: args.strict,
    })
}

/// Prints a draft: its Markdown (or HTML), then what the check found.
pub fn print(draft: &Draft, html: bool) {
    println!("{}", if html { draft.html() } else { draft.markdown() });
    report(draft);
}

fn report(draft: &Draft) {
    for flag in &draft.review.flags {
        let part = draft.parts.get(flag.part).map_or("?", |p| p.text.as_str());
        eprintln!("flag: {} {:?} in {:?}", flag.kind, flag.word, part.chars().take(60).collect::<String>());
    }
    for problem in &draft.review.problems {
        eprintln!("limit: {problem}");
    }
    if !draft.review.language_ok {
        eprintln!("language: {:.2} of the words are Chinese", draft.review.cjk_share);
    }
    if draft.strict_failed {
        eprintln!("strict: the tries ran out with findings left");
    }
    eprintln!(
        "[draft {} by {}: {} parts, {} flags, {} limits broken, written in {:.1} s]",
        draft.id,
        draft.model,
        draft.parts.len(),
        draft.review.flags.len(),
        draft.review.problems.len(),
        draft.writing_ms as f64 / 1000.0
    );
}

/// The sources of the evaluation's drafts of one kind: `n` different ones, every third in
/// Chinese. Items for ads, posts, e-mails and FAQ pages (products and courses in turn); for
/// blog posts the [`BLOG_EVAL_ENTRIES`] FAQ entries an evaluation question finds (a new first
/// one each time): a single answer of a few dozen words cannot ground a post of 400 words.
/// The entries a blog post of the evaluation is written from. Three (about 150 words of
/// answers) left the 0.5B writer short of 400 words in half the posts: it copies its sources
/// rather than explain them, and asked for more sections it writes the same ones again.
const BLOG_EVAL_ENTRIES: usize = 5;

async fn eval_sources(
    kind: ContentKind,
    n: usize,
    catalogue: &[CatalogItem],
    retriever: &dyn Retriever,
    questions: &[String],
) -> anyhow::Result<Vec<(Sources, Language)>> {
    let language = |i: usize| if i % 3 == 2 { Language::Zh } else { Language::En };
    let mut out = Vec::new();
    if kind == ContentKind::Blog {
        let mut seen = std::collections::HashSet::new();
        for question in questions {
            if out.len() == n {
                break;
            }
            let entries = retriever.search(question, BLOG_EVAL_ENTRIES).await?;
            let Some(first) = entries.first() else { continue };
            if seen.insert(first.entry_id.clone()) {
                let i = out.len();
                out.push((Sources { entries, ..Sources::default() }, language(i)));
            }
        }
    } else {
        let products: Vec<&CatalogItem> = catalogue.iter().filter(|i| i.kind == ItemKind::Product).collect();
        let courses: Vec<&CatalogItem> = catalogue.iter().filter(|i| i.kind == ItemKind::Course).collect();
        for i in 0..n {
            let pool =
                if i % 2 == 0 && !courses.is_empty() || products.is_empty() { &courses } else { &products };
            if pool.is_empty() {
                bail!("the catalogue is empty");
            }
            // Spread over the catalogue; each kind starts at another place.
            let at = (i / 2 * 7 + kind as usize * 3) % pool.len();
            out.push((Sources { items: vec![pool[at].clone()], ..Sources::default() }, language(i)));
        }
    }
    Ok(out)
}

/// The evaluation: `n` drafts of each kind, the table, and two drafts of each kind as written.
pub async fn evaluate(
    writer: &Writer,
    n: usize,
    strict: bool,
    kinds: &[ContentKind],
    catalogue: &[CatalogItem],
    retriever: Arc<dyn Retriever>,
    questions: &[String],
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut examples = Vec::new();
    for &kind in kinds {
        let mut drafts: Vec<Draft> = Vec::new();
        let planned = eval_sources(kind, n, catalogue, retriever.as_ref(), questions).await?;
        for (i, (sources, language)) in planned.iter().enumerate() {
            let ids: Vec<&str> = sources
                .items
                .iter()
                .map(|i| i.id.as_str())
                .chain(sources.entries.iter().map(|e| e.entry_id.as_str()))
                .collect();
            eprintln!(
                "{} {} of {}, {}: {}",
                kind.as_str(),
                i + 1,
                planned.len(),
                language.as_str(),
                ids.join(",")
            );
        }
        for (sources, language) in planned {
            let request = WriteRequest { kind, language, tone: None, sources, strict };
            let (draft, steps) = write_one(writer, &request, false).await?;
            eprintln!(
                "{} {} {}: {} flags, {} limits broken, language {}, {:.1} s",
                kind.as_str(),
                language.as_str(),
                draft.sources.items.first().or(draft.sources.entries.first()).map_or("", String::as_str),
                draft.review.flags.len(),
                draft.review.problems.len(),
                if draft.review.language_ok { "ok" } else { "wrong" },
                draft.writing_ms as f64 / 1000.0
            );
            for flag in &draft.review.flags {
                eprintln!("    flag {} {:?}", flag.kind, flag.word);
            }
            for problem in &draft.review.problems {
                eprintln!("    limit {problem}");
            }
            if !draft.review.clean() {
                // How it came to that: the units written, the tries written again.
                for step in &steps {
                    eprintln!("    step {step}");
                }
            }
            drafts.push(draft);
        }
        let english = drafts.iter().find(|d| d.language == Language::En).cloned();
        let chinese = drafts.iter().find(|d| d.language == Language::Zh).cloned();
        examples.extend(english.into_iter().chain(chinese));
        rows.push((kind, drafts));
    }
    println!(
        "\nContent studio evaluation: {} drafts per kind by {}{}",
        n,
        writer.model_name(),
        if strict { ", strict" } else { "" }
    );
    println!("kind       drafts  within limits  no unsupported fact  language right  median s  p95 s");
    for (kind, drafts) in &rows {
        let share = |f: &dyn Fn(&Draft) -> bool| {
            drafts.iter().filter(|d| f(d)).count() as f64 / drafts.len().max(1) as f64
        };
        let mut times: Vec<f64> = drafts.iter().map(|d| d.writing_ms as f64 / 1000.0).collect();
        times.sort_by(f64::total_cmp);
        let pick =
            |q: f64| times.get(((times.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
        println!(
            "{:<10} {:>6}  {:>13.2}  {:>19.2}  {:>14.2}  {:>8.1}  {:>5.1}",
            kind.as_str(),
            drafts.len(),
            share(&|d| d.review.problems.is_empty()),
            share(&|d| d.review.flags.iter().all(|f| f.kind == "avoided")),
            share(&|d| d.review.language_ok),
            pick(0.5),
            pick(0.95),
        );
    }
    println!("\nExamples, as written:");
    for draft in &examples {
        println!("\n--- {} ({}) from {:?} ---", draft.kind.as_str(), draft.language.as_str(), draft.sources);
        println!("{}", draft.markdown());
        report(draft);
    }
    Ok(())
}
