//! The company's product and course catalogue, and the recommendations made from it.
//!
//! - here: the items, their checks (a catalogue is accepted whole or not at all), and the
//!   [`Catalogue`] seam the chat asks for the catalogue as it is now;
//! - [`intent`]: whether a question asks for a choice, and the constraints it states;
//! - [`recommend`]: the items that meet every constraint, ranked, with reasons made of their
//!   own catalogue fields (never a fact the catalogue does not hold).
//!
//! The catalogue is kept in the document store under [`CATALOG_DOCUMENT`] (an id no uploaded
//! document can have), so every replica loads it from the same place and follows its changes
//! like a document's.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub mod intent;
pub mod recommend;

#[cfg(test)]
mod tests;

/// The document id the catalogue is stored under. Uploaded documents cannot have a `:` in
/// their id, so none collides with it.
pub const CATALOG_DOCUMENT: &str = "catalog:items.json";

/// The document id the items' embeddings are stored under, beside the catalogue, so other
/// replicas load them instead of embedding every item again.
pub const CATALOG_VECTORS: &str = "catalog:vectors.bin";

/// Whether a stored document is the catalogue's rather than an FAQ document (uploaded
/// documents cannot have a `:` in their id).
pub fn is_catalog_document(id: &str) -> bool {
    id.starts_with("catalog:")
}

/// Most items a catalogue may hold.
pub const MAX_ITEMS: usize = 20_000;

/// Largest catalogue file accepted.
pub const MAX_CATALOG_BYTES: usize = 10 * 1024 * 1024;

/// Longest item id.
pub const MAX_ITEM_ID: usize = 64;

/// Whether a knowledge-base file is a catalogue rather than FAQ documents: its name ends in
/// `.catalog.csv` or `.catalog.json` (`shop.catalog.csv`).
pub fn is_catalog_file(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.ends_with(".catalog.csv") || name.ends_with(".catalog.json")
}

/// A product or a course.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// Something shipped.
    Product,
    /// A course of the company's school.
    Course,
}

impl ItemKind {
    /// The kind's name in the catalogue.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::Course => "course",
        }
    }
}

/// Whether an item can be bought now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// In stock, or open for enrolment.
    #[default]
    InStock,
    /// Can be ordered now for later delivery.
    Preorder,
    /// Cannot be bought now.
    OutOfStock,
}

impl Availability {
    /// The words a catalogue file may use for each state.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().replace([' ', '-'], "_").as_str() {
            "" | "in_stock" | "available" | "open" | "yes" | "true" => Some(Self::InStock),
            "preorder" | "pre_order" => Some(Self::Preorder),
            "out_of_stock" | "sold_out" | "unavailable" | "full" | "closed" | "no" | "false" => {
                Some(Self::OutOfStock)
            }
            _ => None,
        }
    }
}

/// How much a course expects its learner to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// No experience needed.
    Beginner,
    /// Some experience expected.
    Intermediate,
    /// For the experienced.
    Advanced,
}

impl Level {
    /// The level's name in the catalogue.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Beginner => "beginner",
            Self::Intermediate => "intermediate",
            Self::Advanced => "advanced",
        }
    }

    /// A catalogue file's level.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "beginner" | "beginners" | "basic" | "introductory" => Some(Self::Beginner),
            "intermediate" => Some(Self::Intermediate),
            "advanced" | "expert" => Some(Self::Advanced),
            _ => None,
        }
    }
}

/// One product or course, as the catalogue states it. Every fact a recommendation tells the
/// visitor is one of these fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogItem {
    /// Unique id: letters, digits, `-`, `_`, `.`.
    pub id: String,
    /// Product or course.
    pub kind: ItemKind,
    /// Its name.
    pub name: String,
    /// What it is, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// Price in `currency`.
    pub price: f64,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// Its category, e.g. "Headphones" or "Data".
    #[serde(default)]
    pub category: String,
    /// Words it should be found by.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its page on the company's site.
    #[serde(default)]
    pub url: Option<String>,
    /// A picture of it.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Whether it can be bought now.
    #[serde(default)]
    pub availability: Availability,
    /// Courses: the level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Courses: hours of lessons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_hours: Option<f64>,
    /// Courses: the language taught in, ISO 639-1 (`en`, `zh`, `de`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Courses: start dates, `YYYY-MM-DD`; none for self-paced courses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_dates: Vec<String>,
    /// Courses: the ids of the courses to take first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prerequisites: Vec<String>,
}

impl CatalogItem {
    /// The text the item is found by: name, category, tags and description.
    pub fn search_text(&self) -> String {
        format!("{}\n{}\n{}\n{}", self.name, self.category, self.tags.join(", "), self.description)
    }

    /// Every fact the item states, as text: what a recommendation may say about it (checked
    /// with the chat's faithfulness check).
    pub fn facts(&self) -> String {
        let language = self
            .language
            .as_deref()
            .map(|l| format!("{} {}", language_name(l, false), language_name(l, true)));
        format!(
            "{} {} {} {} {} {} {} hours {} {}",
            self.name,
            self.description,
            self.category,
            self.tags.join(", "),
            self.price_text(),
            self.level.map(Level::as_str).unwrap_or_default(),
            self.duration_hours.map(|h| h.to_string()).unwrap_or_default(),
            language.unwrap_or_default(),
            self.start_dates.join(" "),
        )
    }

    /// The price as written to visitors: `€749`, `€49.50`, `USD 20`.
    pub fn price_text(&self) -> String {
        format_price(self.price, &self.currency)
    }
}

/// A price as written to visitors: the currency's sign where it has a common one, whole
/// amounts without decimals.
pub fn format_price(amount: f64, currency: &str) -> String {
    let number =
        if (amount - amount.round()).abs() < 0.005 { format!("{amount:.0}") } else { format!("{amount:.2}") };
    match currency {
        "EUR" => format!("\u{20ac}{number}"),
        "USD" => format!("${number}"),
        "GBP" => format!("\u{a3}{number}"),
        "CNY" | "JPY" => format!("\u{a5}{number}"),
        other => format!("{other} {number}"),
    }
}

/// A row the catalogue was refused for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    /// The row: 1 for the first item (the line after a CSV's header, the first element of a
    /// JSON list).
    pub row: usize,
    /// The item's id, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What is wrong with it.
    pub reason: String,
}

/// The refusal of a catalogue: every bad row (up to a bound) with its reason.
pub fn refusal(errors: &[RowError]) -> Error {
    const SHOWN: usize = 20;
    let mut lines: Vec<String> = errors
        .iter()
        .take(SHOWN)
        .map(|e| match &e.id {
            Some(id) => format!("row {} ({id}): {}", e.row, e.reason),
            None => format!("row {}: {}", e.row, e.reason),
        })
        .collect();
    if errors.len() > SHOWN {
        lines.push(format!("and {} more", errors.len() - SHOWN));
    }
    Error::BadRequest(format!("the catalogue was not imported, nothing changed: {}", lines.join("; ")))
}

/// A checked catalogue: ids unique, prices numbers, prerequisites known.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    items: Vec<CatalogItem>,
    by_id: HashMap<String, usize>,
    /// Each content word's inverse document frequency over the items' search text.
    idf: HashMap<String, f32>,
    /// Each item's content words.
    words: Vec<BTreeSet<String>>,
    /// What questions are read against, worked out once per catalogue.
    vocabulary: Vocabulary,
}

/// The catalogue's own words that questions are read against ([`intent`]), worked out when
/// the catalogue is loaded rather than for every question.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vocabulary {
    /// Each distinct category, with the one kind its items share (if they share one).
    pub(crate) categories: Vec<(String, Option<ItemKind>)>,
    /// The words of every category and tag.
    pub(crate) category_and_tag_words: BTreeSet<String>,
    /// Chinese tags, lower case, matched as phrases.
    pub(crate) cjk_tags: BTreeSet<String>,
    /// The other tags, each as its words.
    pub(crate) tag_words: Vec<BTreeSet<String>>,
    /// Words of 3 letters or more of the items' names.
    pub(crate) name_words: BTreeSet<String>,
    /// Each item's name, lower case, with its position (3 characters or more).
    pub(crate) names: Vec<(String, usize)>,
    /// Family words (a name word of 4 letters or more naming items of one category only, no
    /// category, tag or generic word) with the first item whose name holds it.
    pub(crate) families: HashMap<String, usize>,
}

/// Words of item names that never name one item or family: levels and kinds.
const GENERIC_NAME_WORDS: &[&str] = &[
    "beginner",
    "intermediate",
    "advanced",
    "expert",
    "novice",
    "course",
    "class",
    "product",
    "basic",
    "edition",
];

impl Vocabulary {
    fn of(items: &[CatalogItem]) -> Self {
        let mut vocabulary = Self::default();
        let mut kinds: std::collections::BTreeMap<&str, BTreeSet<ItemKind>> =
            std::collections::BTreeMap::new();
        let mut name_categories: HashMap<String, BTreeSet<&str>> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            if !item.category.trim().is_empty() {
                kinds.entry(item.category.as_str()).or_default().insert(item.kind);
            }
            vocabulary.category_and_tag_words.extend(item_words(&item.category));
            for tag in &item.tags {
                vocabulary.category_and_tag_words.extend(item_words(tag));
                let lower = tag.to_lowercase();
                if lower.chars().any(is_cjk) {
                    vocabulary.cjk_tags.insert(lower);
                } else {
                    let words = item_words(tag);
                    if !words.is_empty() {
                        vocabulary.tag_words.push(words);
                    }
                }
            }
            for word in item_words(&item.name) {
                if word.chars().count() >= 3 {
                    vocabulary.name_words.insert(word.clone());
                }
                name_categories.entry(word).or_default().insert(item.category.as_str());
            }
            if item.name.chars().count() >= 3 {
                vocabulary.names.push((item.name.to_lowercase(), i));
            }
        }
        vocabulary.categories = kinds
            .into_iter()
            .map(|(category, kinds)| {
                let one = (kinds.len() == 1).then(|| kinds.into_iter().next()).flatten();
                (category.to_owned(), one)
            })
            .collect();
        let generic: BTreeSet<String> = GENERIC_NAME_WORDS.iter().map(|g| stem(g)).collect();
        for (i, item) in items.iter().enumerate() {
            for word in item_words(&item.name) {
                let family = word.chars().count() >= 4
                    && name_categories.get(&word).is_some_and(|c| c.len() == 1)
                    && !vocabulary.category_and_tag_words.contains(&word)
                    && !generic.contains(&word);
                if family {
                    vocabulary.families.entry(word).or_insert(i);
                }
            }
        }
        vocabulary
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ITEM_ID
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn valid_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2_000
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn valid_date(date: &str) -> bool {
    let parts: Vec<&str> = date.split('-').collect();
    let [year, month, day] = parts.as_slice() else { return false };
    let number = |s: &str, len: usize| s.len() == len && s.chars().all(|c| c.is_ascii_digit());
    number(year, 4)
        && number(month, 2)
        && number(day, 2)
        && (1..=12).contains(&month.parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&day.parse::<u8>().unwrap_or(0))
}

/// The ISO 639-1 code of a language named in a catalogue file (`English`, `en`, `中文`).
pub fn language_code(text: &str) -> Option<String> {
    let lower = text.trim().to_lowercase();
    let code = match lower.as_str() {
        "english" | "英文" | "英语" => "en",
        "chinese" | "mandarin" | "中文" | "汉语" | "普通话" => "zh",
        "german" | "deutsch" | "德语" => "de",
        "french" | "français" | "法语" => "fr",
        "spanish" | "español" | "西班牙语" => "es",
        "italian" | "italiano" | "意大利语" => "it",
        "japanese" | "日语" => "ja",
        code if code.len() == 2 && code.chars().all(|c| c.is_ascii_lowercase()) => code,
        _ => return None,
    };
    Some(code.to_owned())
}

/// The name of a language code, for reasons (`en` → `English`).
pub fn language_name(code: &str, chinese: bool) -> String {
    let (en, zh) = match code {
        "en" => ("English", "英文"),
        "zh" => ("Chinese", "中文"),
        "de" => ("German", "德语"),
        "fr" => ("French", "法语"),
        "es" => ("Spanish", "西班牙语"),
        "it" => ("Italian", "意大利语"),
        "ja" => ("Japanese", "日语"),
        other => (other, other),
    };
    if chinese { zh } else { en }.to_owned()
}

/// Checks one item on its own; returns its problems.
fn item_problems(item: &CatalogItem) -> Vec<String> {
    let mut problems = Vec::new();
    if !valid_id(&item.id) {
        problems.push(format!("id must be 1 to {MAX_ITEM_ID} letters, digits, '-', '_' or '.'"));
    }
    if item.name.trim().is_empty() {
        problems.push("name is empty".into());
    }
    if !item.price.is_finite() || item.price < 0.0 {
        problems.push("price must be a number of at least 0".into());
    }
    if item.currency.len() != 3 || !item.currency.chars().all(|c| c.is_ascii_uppercase()) {
        problems.push(format!("currency {:?} is not a three-letter code such as EUR", item.currency));
    }
    for (field, url) in [("url", &item.url), ("image_url", &item.image_url)] {
        if url.as_deref().is_some_and(|u| !valid_url(u)) {
            problems.push(format!("{field} must be an http(s) address"));
        }
    }
    if item.duration_hours.is_some_and(|h| !h.is_finite() || h <= 0.0) {
        problems.push("duration_hours must be a positive number".into());
    }
    for date in &item.start_dates {
        if !valid_date(date) {
            problems.push(format!("start date {date:?} is not YYYY-MM-DD"));
        }
    }
    if item.kind == ItemKind::Product
        && (item.level.is_some() || !item.prerequisites.is_empty() || !item.start_dates.is_empty())
    {
        problems.push("level, start dates and prerequisites are for courses".into());
    }
    problems
}

impl Catalog {
    /// Checks the items as one catalogue: each item's fields, unique ids, known prerequisites
    /// (no course its own). Every bad row is reported, so the admin can mend them all at once.
    pub fn new(items: Vec<CatalogItem>) -> std::result::Result<Self, Vec<RowError>> {
        let mut errors = Vec::new();
        if items.len() > MAX_ITEMS {
            errors.push(RowError {
                row: MAX_ITEMS + 1,
                id: None,
                reason: format!("a catalogue holds at most {MAX_ITEMS} items"),
            });
            return Err(errors);
        }
        let mut by_id = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let id = (!item.id.is_empty()).then(|| item.id.clone());
            for reason in item_problems(item) {
                errors.push(RowError { row: i + 1, id: id.clone(), reason });
            }
            if let Some(first) = by_id.insert(item.id.clone(), i) {
                if !item.id.is_empty() {
                    errors.push(RowError {
                        row: i + 1,
                        id: id.clone(),
                        reason: format!("duplicate id, first used in row {}", first + 1),
                    });
                }
                by_id.insert(item.id.clone(), first);
            }
        }
        for (i, item) in items.iter().enumerate() {
            for prerequisite in &item.prerequisites {
                let known = by_id.get(prerequisite).map(|&j| &items[j]);
                let reason = match known {
                    None => format!("unknown prerequisite {prerequisite:?}"),
                    Some(other) if other.id == item.id => "a course cannot be its own prerequisite".into(),
                    Some(other) if other.kind != ItemKind::Course => {
                        format!("prerequisite {prerequisite:?} is not a course")
                    }
                    Some(_) => continue,
                };
                errors.push(RowError { row: i + 1, id: Some(item.id.clone()), reason });
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.row);
            return Err(errors);
        }
        let words: Vec<BTreeSet<String>> = items.iter().map(|item| item_words(&item.search_text())).collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for set in &words {
            for word in set {
                *counts.entry(word.as_str()).or_default() += 1;
            }
        }
        let n = items.len() as f32;
        let idf = counts.into_iter().map(|(w, c)| (w.to_owned(), (1.0 + n / c as f32).ln())).collect();
        let vocabulary = Vocabulary::of(&items);
        Ok(Self { items, by_id, idf, words, vocabulary })
    }

    /// Every item, in the catalogue's order.
    pub fn items(&self) -> &[CatalogItem] {
        &self.items
    }

    /// One item by id.
    pub fn get(&self, id: &str) -> Option<&CatalogItem> {
        self.by_id.get(id).map(|&i| &self.items[i])
    }

    /// The position of an item by id.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The words questions are read against.
    pub(crate) fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    /// Whether it holds no item.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How well each item's words match the query's, from 0 to 1: the IDF-weighted share of
    /// the query's content words (those the catalogue knows) the item holds. A bare number in
    /// a question is a quantity (a price, a count), not a name: it is not matched ("E27" and
    /// "4K" are).
    pub fn keyword_scores(&self, query: &str) -> Vec<f32> {
        let query_words: Vec<(String, f32)> = item_words(query)
            .into_iter()
            .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
            .filter_map(|w| self.idf.get(&w).map(|&idf| (w, idf)))
            .collect();
        let total: f32 = query_words.iter().map(|(_, idf)| idf).sum();
        self.words
            .iter()
            .map(|words| {
                if total <= 0.0 {
                    return 0.0;
                }
                let held: f32 =
                    query_words.iter().filter(|(w, _)| words.contains(w)).map(|(_, idf)| idf).sum();
                held / total
            })
            .collect()
    }

    /// The catalogue as stored: its items as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.items).unwrap_or_default()
    }

    /// A stored catalogue, checked again.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let items: Vec<CatalogItem> = serde_json::from_slice(bytes)
            .map_err(|e| Error::Internal(format!("the stored catalogue does not read: {e}")))?;
        Self::new(items).map_err(|errors| refusal(&errors))
    }
}

/// Function words, never matched.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "for", "to", "of", "in", "on", "at", "by", "with", "from", "is", "are",
    "be", "it", "its", "my", "me", "i", "you", "your", "we", "our", "do", "does", "can", "could", "would",
    "should", "what", "which", "how", "that", "this", "there", "any", "some", "have", "has", "will", "am",
    "im", "about", "than", "then", "but", "not", "so", "as", "if", "one", "who", "want", "need", "like",
];

/// The words an item or a question is matched by: lower-case words of 2+ letters with a
/// plural `s` dropped, and each Chinese character pair (a Chinese phrase has no spaces).
pub fn item_words(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let chinese: Vec<char> = word.chars().filter(|c| is_cjk(*c)).collect();
        for pair in chinese.windows(2) {
            out.insert(pair.iter().collect());
        }
        let latin: String = word.chars().filter(|c| !is_cjk(*c)).collect::<String>().to_lowercase();
        if latin.chars().count() < 2 || STOPWORDS.contains(&latin.as_str()) {
            continue;
        }
        out.insert(stem(&latin));
    }
    out
}

/// A crude stem, so a question and an item meet across inflections: the plural, `-ing` and
/// `-ed` endings and a final `e` dropped (`charge`, `charges`, `charging` → `charg`).
pub fn stem(word: &str) -> String {
    let mut word = singular(word);
    for ending in ["ing", "ed"] {
        if word.len() > ending.len() + 3 && word.ends_with(ending) {
            word.truncate(word.len() - ending.len());
            break;
        }
    }
    if word.len() > 4 && word.ends_with('e') {
        word.pop();
    }
    word
}

/// A word without its plural ending (`laptops` → `laptop`, `courses` → `course`).
pub fn singular(word: &str) -> String {
    if word.len() > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..word.len() - 3]);
    }
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..word.len() - 1].to_owned();
    }
    word.to_owned()
}

/// Whether a character is a CJK ideograph.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF)
}

/// A recommended item as the visitor's widget shows it: every field from the catalogue, the
/// reason made of those fields, and the counted link through this server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    /// The item's id.
    pub id: String,
    /// Product or course.
    pub kind: ItemKind,
    /// Its name.
    pub name: String,
    /// Its price as written to visitors (`€749`).
    pub price: String,
    /// Its picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// One line on why it fits, made of its catalogue fields.
    pub reason: String,
    /// The link to follow: `/r/{id}`, which counts the click and redirects to the item's page.
    pub href: String,
}

/// The catalogue as the chat sees it: the checked items and, with an embedding model, each
/// item's vector (in the items' order).
#[derive(Debug, Clone, Default)]
pub struct IndexedCatalog {
    /// The items.
    pub catalog: Catalog,
    /// Each item's embedding; empty without a model.
    pub vectors: Vec<Vec<f32>>,
    /// Where the model's cosines sit.
    pub scale: crate::retrieve::CosineScale,
}

/// What an upload of the catalogue did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogSummary {
    /// Items now in the catalogue.
    pub items: usize,
    /// Of them, products.
    pub products: usize,
    /// Of them, courses.
    pub courses: usize,
    /// Items that were not in the catalogue before.
    pub added: usize,
    /// Items that were and are no more.
    pub removed: usize,
}

/// The catalogue seam: the chat reads it, the admin API replaces it. The implementation keeps
/// it in the store and follows other replicas' changes.
#[async_trait]
pub trait Catalogue: Send + Sync + 'static {
    /// The catalogue as it is now.
    fn current(&self) -> Arc<IndexedCatalog>;

    /// A question's embedding in the items' vector space; `None` without a model.
    async fn embed_query(&self, text: &str) -> Result<Option<Vec<f32>>>;

    /// Replaces the whole catalogue with a CSV or JSON file (`file_name` picks the format).
    /// A file with any bad row is refused whole, with every bad row and its reason.
    async fn replace(&self, file_name: &str, content: Vec<u8>) -> Result<CatalogSummary>;
}
