//! `frontdesk eval --recommendations FILE`: recommendations scored against the visitor's own
//! constraints, as the file spells them out (not as the recogniser reads them).
//!
//! A line is `question<TAB>constraints<TAB>acceptable first items[<TAB>nearest]`; constraints
//! are `key=value` pairs separated by `;` (`kind`, `category`, `max_price`, `min_price`,
//! `level`, `language`, `after`), or `-`; acceptable items are ids separated by `,`, or `*`
//! for any item meeting the constraints. `nearest` marks a question nothing in the catalogue
//! answers in full: the answer must say so and offer the nearest.
//!
//! Reported per language (English, Chinese): recognised; every card meets every constraint
//! (goal 1.0; a card breaking the visitor's constraint fails the question); the first card is
//! acceptable (goal 0.9); answers stating a fact the catalogue lacks (goal 0, checked with the
//! chat's faithfulness check against the shown items and the question). With a questions file,
//! also how many FAQ questions were wrongly taken for recommendation requests.

use std::fmt::Write as _;

use anyhow::{bail, Context};
use frontdesk_core::catalog::intent::is_chinese;
use frontdesk_core::catalog::recommend::{answer, Visitor, WORDING};
use frontdesk_core::catalog::{CatalogItem, Catalogue, ItemKind, Level};
use frontdesk_core::chat::faithful::{check, Evidence};

/// One line of the recommendations file.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendationCase {
    /// What the visitor asked.
    pub question: String,
    /// The constraints the visitor stated, as (key, value).
    pub constraints: Vec<(String, String)>,
    /// Items acceptable as the first card; empty: any meeting the constraints.
    pub acceptable: Vec<String>,
    /// Nothing meets every constraint; the answer must say so.
    pub nearest: bool,
}

const KEYS: [&str; 7] = ["kind", "category", "max_price", "min_price", "level", "language", "after"];

/// Parses the recommendations file.
pub fn parse_cases(text: &str) -> anyhow::Result<Vec<RecommendationCase>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let columns: Vec<&str> = line.split('\t').collect();
        if columns.len() < 3 {
            bail!("line {}: expected question, constraints and acceptable items", n + 1);
        }
        let mut constraints = Vec::new();
        for pair in columns[1].split(';').map(str::trim).filter(|p| !p.is_empty() && *p != "-") {
            let (key, value) = pair.split_once('=').with_context(|| format!("line {}: {pair:?}", n + 1))?;
            let key = key.trim();
            if !KEYS.contains(&key) {
                bail!("line {}: unknown constraint {key:?}", n + 1);
            }
            constraints.push((key.to_owned(), value.trim().to_owned()));
        }
        let acceptable = columns[2]
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty() && *id != "*")
            .map(str::to_owned)
            .collect();
        let nearest = columns.get(3).is_some_and(|c| c.trim() == "nearest");
        out.push(RecommendationCase {
            question: columns[0].trim().to_owned(),
            constraints,
            acceptable,
            nearest,
        });
    }
    Ok(out)
}

/// Whether an item meets one of the file's constraints.
fn meets(item: &CatalogItem, key: &str, value: &str) -> bool {
    let number = || value.parse::<f64>().unwrap_or(f64::NAN);
    match key {
        "kind" => item.kind == if value == "course" { ItemKind::Course } else { ItemKind::Product },
        "category" => item.category.eq_ignore_ascii_case(value),
        "max_price" => item.price <= number(),
        "min_price" => item.price >= number(),
        "level" => item.level == Level::parse(value),
        "language" => item.language.as_deref() == Some(value),
        "after" => item.prerequisites.iter().any(|p| p == value),
        _ => false,
    }
}

/// Counts for one language.
#[derive(Debug, Default, Clone)]
struct Tally {
    questions: usize,
    recognised: usize,
    within: usize,
    first_ok: usize,
    unsupported: usize,
    nearest_said: usize,
    nearest_cases: usize,
}

/// The scores of a recommendations file.
#[derive(Debug, Default)]
pub struct RecommendationReport {
    english: Tally,
    chinese: Tally,
    /// FAQ questions checked for wrong recognition, and how many were taken for requests.
    faq: Option<(usize, Vec<String>)>,
    misses: Vec<String>,
}

/// Scores every case; `faq_questions` (may be empty) are checked not to be taken for requests.
pub async fn evaluate_recommendations(
    catalogue: &dyn Catalogue,
    cases: &[RecommendationCase],
    faq_questions: &[String],
) -> anyhow::Result<RecommendationReport> {
    let mut report = RecommendationReport::default();
    let catalog = catalogue.current();
    for case in cases {
        let tally = if is_chinese(&case.question) { &mut report.chinese } else { &mut report.english };
        tally.questions += 1;
        tally.nearest_cases += usize::from(case.nearest);
        let Some((_, recommendation)) = answer(catalogue, &case.question, &Visitor::default()).await? else {
            report.misses.push(format!("not recognised: {}", case.question));
            continue;
        };
        tally.recognised += 1;
        let items: Vec<&CatalogItem> =
            recommendation.cards.iter().filter_map(|c| catalog.catalog.get(&c.id)).collect();
        let all_meet = items.iter().all(|item| case.constraints.iter().all(|(k, v)| meets(item, k, v)));
        if case.nearest {
            tally.nearest_said += usize::from(recommendation.nearest);
        } else if all_meet && !recommendation.nearest {
            tally.within += 1;
        }
        let first = items.first();
        let first_ok = first.is_some_and(|item| {
            if case.acceptable.is_empty() {
                case.nearest || case.constraints.iter().all(|(k, v)| meets(item, k, v))
            } else {
                case.acceptable.contains(&item.id)
            }
        });
        tally.first_ok += usize::from(first_ok);
        let sources: Vec<String> = items.iter().map(|i| i.facts()).collect();
        let evidence =
            Evidence::new(sources.iter().map(String::as_str).chain([case.question.as_str(), WORDING]));
        let unsupported = check(&recommendation.text, &evidence);
        tally.unsupported += usize::from(unsupported.is_some());
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        if !first_ok || (!case.nearest && !all_meet) || (case.nearest != recommendation.nearest) {
            report.misses.push(format!(
                "{} -> {ids:?}{}",
                case.question,
                if recommendation.nearest { " (nearest)" } else { "" }
            ));
        }
        if let Some(unsupported) = unsupported {
            report
                .misses
                .push(format!("{}: unsupported {unsupported:?} in: {}", case.question, recommendation.text));
        }
    }
    if !faq_questions.is_empty() {
        let mut taken = Vec::new();
        for question in faq_questions {
            if answer(catalogue, question, &Visitor::default()).await?.is_some() {
                taken.push(question.clone());
            }
        }
        report.faq = Some((faq_questions.len(), taken));
    }
    Ok(report)
}

impl RecommendationReport {
    /// The report as printed.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = String::from("recommendations\n");
        let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        for (name, t) in [("English", &self.english), ("Chinese", &self.chinese)] {
            if t.questions == 0 {
                continue;
            }
            let matchable = t.questions - t.nearest_cases;
            let _ = writeln!(
                out,
                "  {name}: {} questions; recognised {:.3}; cards all within the constraints {:.3} ({}/{}); \
                 first card acceptable {:.3}; said nothing meets all and offered the nearest {}/{}; \
                 answers with an unsupported fact {}",
                t.questions,
                share(t.recognised, t.questions),
                share(t.within, matchable),
                t.within,
                matchable,
                share(t.first_ok, t.questions),
                t.nearest_said,
                t.nearest_cases,
                t.unsupported,
            );
        }
        if let Some((checked, taken)) = &self.faq {
            let _ =
                writeln!(out, "  FAQ questions taken for recommendation requests: {}/{checked}", taken.len());
            if verbose {
                for question in taken {
                    let _ = writeln!(out, "    taken: {question}");
                }
            }
        }
        if verbose {
            for miss in &self.misses {
                let _ = writeln!(out, "    {miss}");
            }
        }
        out
    }
}
