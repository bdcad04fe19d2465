//! The content studio: marketing drafts (ad copy, social posts, e-mails, blog posts, FAQ pages)
//! written by the model from sources a person picks (catalogue items, FAQ entries, the questions
//! of an insights topic), in the company's voice, with every fact checked by code.
//!
//! - here: the kinds and their limits, the company's profile, the sources, the draft and the
//!   review of a draft's text ([`review`]): limits, facts the sources lack, words to avoid and
//!   the language, all computed again whenever the text changes (an edit included);
//! - [`write`]: the [`write::Writer`] that prompts the model part by part, fits each part to its
//!   kind's limits (trimmed at a sentence or word boundary, never left to the model), and in
//!   strict mode writes a flagged part again, a bounded number of times.
//!
//! Drafts are kept in the document store under `content:` ids (see [`draft_document_id`]),
//! which no uploaded document can have.

use serde::{Deserialize, Serialize};

use crate::catalog::{is_cjk, language_name, CatalogItem, ItemKind};
use crate::chat::faithful::{self, Evidence, FactKind};
use crate::retrieve::Passage;
use crate::{Error, Result};

pub mod write;

#[cfg(test)]
mod tests;

/// What is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    /// Search or social ad: three variants of a headline and a description.
    Ad,
    /// One social-media post.
    Social,
    /// A marketing e-mail: subject, preheader, body, one call to action.
    Email,
    /// A blog post: a title and sections.
    Blog,
    /// Questions and answers about one product or course.
    FaqPage,
}

impl ContentKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [Self::Ad, Self::Social, Self::Email, Self::Blog, Self::FaqPage];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ad => "ad",
            Self::Social => "social",
            Self::Email => "email",
            Self::Blog => "blog",
            Self::FaqPage => "faq_page",
        }
    }

    /// A kind by its wire name (`faq` and `faq-page` too).
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "ad" | "ads" => Ok(Self::Ad),
            "social" | "post" => Ok(Self::Social),
            "email" | "e_mail" => Ok(Self::Email),
            "blog" => Ok(Self::Blog),
            "faq" | "faq_page" => Ok(Self::FaqPage),
            other => Err(Error::BadRequest(format!(
                "unknown content kind {other:?}: use ad, social, email, blog or faq_page"
            ))),
        }
    }
}

/// Ad headlines have at most this many characters.
pub const AD_HEADLINE_CHARS: usize = 30;
/// Ad descriptions have at most this many characters.
pub const AD_DESCRIPTION_CHARS: usize = 90;
/// Variants of an ad.
pub const AD_VARIANTS: usize = 3;
/// A social post has at most this many characters.
pub const SOCIAL_CHARS: usize = 280;
/// A social post has at most this many hashtags.
pub const SOCIAL_HASHTAGS: usize = 2;
/// An e-mail's subject has at most this many characters.
pub const EMAIL_SUBJECT_CHARS: usize = 60;
/// An e-mail's preheader has at most this many characters.
pub const EMAIL_PREHEADER_CHARS: usize = 100;
/// An e-mail's body has at most this many words.
pub const EMAIL_BODY_WORDS: usize = 200;
/// A blog post's title has at most this many characters.
pub const BLOG_TITLE_CHARS: usize = 80;
/// A blog post has at least this many words (title and headings included).
pub const BLOG_MIN_WORDS: usize = 400;
/// A blog post has at most this many words.
pub const BLOG_MAX_WORDS: usize = 900;
/// An FAQ page's answer has at most this many characters.
pub const FAQ_ANSWER_CHARS: usize = 400;
/// An FAQ page has at least this many questions.
pub const FAQ_MIN_QUESTIONS: usize = 3;
/// An FAQ page has at most this many questions.
pub const FAQ_MAX_QUESTIONS: usize = 8;

/// How the company sounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Warm and plain.
    #[default]
    Friendly,
    /// Polite and businesslike.
    Formal,
    /// Light and witty.
    Playful,
}

impl Tone {
    /// A tone by name.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "friendly" => Ok(Self::Friendly),
            "formal" => Ok(Self::Formal),
            "playful" => Ok(Self::Playful),
            other => {
                Err(Error::BadRequest(format!("unknown tone {other:?}: use friendly, formal or playful")))
            }
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Friendly => "friendly",
            Self::Formal => "formal",
            Self::Playful => "playful",
        }
    }

    /// How the prompt asks for it, in the draft's language.
    fn instruction(self, language: Language) -> &'static str {
        match (self, language) {
            (Self::Friendly, Language::En) => {
                "Sound warm, plain and helpful, as if talking to a customer you like."
            }
            (Self::Formal, Language::En) => {
                "Sound polite, precise and businesslike; no slang, no exclamation marks."
            }
            (Self::Playful, Language::En) => "Sound light and witty, with energy, but stay clear and honest.",
            (Self::Friendly, Language::Zh) => "语气亲切、朴实、乐于助人，像在和熟悉的顾客聊天。",
            (Self::Formal, Language::Zh) => "语气礼貌、准确、正式，不用俚语，不用感叹号。",
            (Self::Playful, Language::Zh) => "语气轻松风趣、有活力，但要清楚、诚实。",
        }
    }
}

/// The language of a draft.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// English.
    #[default]
    En,
    /// Simplified Chinese.
    Zh,
}

impl Language {
    /// A language by its code (`en`, `zh`, `zh-CN`).
    pub fn parse(text: &str) -> Result<Self> {
        let lower = text.trim().to_ascii_lowercase();
        match lower.split(['-', '_']).next().unwrap_or_default() {
            "en" => Ok(Self::En),
            "zh" => Ok(Self::Zh),
            _ => Err(Error::BadRequest(format!("unsupported language {text:?}: use en or zh"))),
        }
    }

    /// Its code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh",
        }
    }
}

/// The company as its drafts present it (the `[content]` part of the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyProfile {
    /// The company's name.
    pub name: String,
    /// Its usual tone (a request may choose another).
    pub tone: Tone,
    /// Words its copy never uses (matched whole, any case).
    #[serde(default)]
    pub avoid: Vec<String>,
    /// How its e-mails and posts end ("The Brightwave team").
    #[serde(default)]
    pub sign_off: Option<String>,
}

impl Default for CompanyProfile {
    fn default() -> Self {
        Self {
            name: crate::chat::DEFAULT_COMPANY.into(),
            tone: Tone::Friendly,
            avoid: Vec::new(),
            sign_off: None,
        }
    }
}

/// The questions visitors ask about one insights topic, as a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicSource {
    /// The topic's id.
    pub id: String,
    /// Its most central question.
    pub label: String,
    /// Questions asked on it in the period.
    pub asked: u64,
    /// Some of its questions, most central first.
    pub questions: Vec<String>,
}

/// What a draft is written from: only these reach the prompt, and only their facts may appear.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sources {
    /// Catalogue items.
    #[serde(default)]
    pub items: Vec<CatalogItem>,
    /// FAQ entries.
    #[serde(default)]
    pub entries: Vec<Passage>,
    /// An insights topic.
    #[serde(default)]
    pub topic: Option<TopicSource>,
}

/// Most sources one draft may name (items and entries together).
pub const MAX_SOURCES: usize = 8;

impl Sources {
    /// Whether there is nothing to write from.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.entries.is_empty() && self.topic.is_none()
    }

    /// The sources as the prompt gives them, one block each.
    pub fn prompt_text(&self) -> String {
        let mut blocks = Vec::new();
        for item in &self.items {
            blocks.push(item_block(item));
        }
        for entry in &self.entries {
            blocks.push(format!("FAQ entry: {}\n{}", entry.title.trim(), entry.body.trim()));
        }
        if let Some(topic) = &self.topic {
            blocks.push(format!(
                "What customers ask ({} questions this month), for example:\n- {}",
                topic.asked,
                topic.questions.join("\n- ")
            ));
        }
        blocks.join("\n\n")
    }

    /// Everything a draft's facts may come from.
    pub fn evidence_texts(&self) -> Vec<String> {
        let mut texts = vec![self.prompt_text()];
        for item in &self.items {
            texts.push(item.facts());
            if let Some(url) = &item.url {
                texts.push(url.clone());
            }
        }
        texts
    }

    /// What the sources are about, for a title: the first item's name, else the first entry's
    /// question, else the topic's label.
    pub fn subject(&self) -> String {
        self.items
            .first()
            .map(|i| i.name.clone())
            .or_else(|| self.entries.first().map(|e| e.title.clone()))
            .or_else(|| self.topic.as_ref().map(|t| t.label.clone()))
            .unwrap_or_default()
    }

    /// The references kept with a draft.
    pub fn refs(&self) -> SourceRefs {
        SourceRefs {
            items: self.items.iter().map(|i| i.id.clone()).collect(),
            entries: self.entries.iter().map(|e| e.entry_id.clone()).collect(),
            topic: self.topic.as_ref().map(|t| t.id.clone()),
        }
    }
}

/// One catalogue item as the prompt shows it: every field it has, labelled.
fn item_block(item: &CatalogItem) -> String {
    let mut lines = vec![format!(
        "{}: {} (price {})",
        if item.kind == ItemKind::Course { "Course" } else { "Product" },
        item.name,
        item.price_text()
    )];
    if !item.description.is_empty() {
        lines.push(item.description.clone());
    }
    if !item.category.is_empty() {
        lines.push(format!("Category: {}", item.category));
    }
    if let Some(level) = item.level {
        lines.push(format!("Level: {}", level.as_str()));
    }
    if let Some(hours) = item.duration_hours {
        lines.push(format!("Length: {hours} hours"));
    }
    if let Some(language) = &item.language {
        lines.push(format!("Taught in: {}", language_name(language, false)));
    }
    if !item.start_dates.is_empty() {
        lines.push(format!("Starts: {}", item.start_dates.join(", ")));
    }
    if !item.prerequisites.is_empty() {
        lines.push(format!("Take first: {}", item.prerequisites.join(", ")));
    }
    if item.availability == crate::catalog::Availability::OutOfStock {
        lines.push("Not available now".into());
    }
    if let Some(url) = &item.url {
        lines.push(format!("Link: {url}"));
    }
    lines.join("\n")
}

/// The ids a draft was written from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRefs {
    /// Catalogue item ids.
    #[serde(default)]
    pub items: Vec<String>,
    /// FAQ entry ids (`document#anchor`).
    #[serde(default)]
    pub entries: Vec<String>,
    /// The insights topic's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// What a part of a draft is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartRole {
    /// An ad's headline.
    Headline,
    /// An ad's description.
    Description,
    /// A social post.
    Post,
    /// An e-mail's subject line.
    Subject,
    /// An e-mail's preheader (the line inboxes show after the subject).
    Preheader,
    /// An e-mail's body.
    Body,
    /// The one call to action: a label and a link.
    CallToAction,
    /// How the text ends.
    SignOff,
    /// A blog post's title.
    Title,
    /// A section's heading.
    Heading,
    /// A paragraph of text.
    Paragraph,
    /// An FAQ page's question.
    Question,
    /// An FAQ page's answer.
    Answer,
}

/// One part of a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// What it is.
    pub role: PartRole,
    /// Its text.
    pub text: String,
    /// The link of a call to action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl Part {
    /// A part without a link.
    pub fn new(role: PartRole, text: impl Into<String>) -> Self {
        Self { role, text: text.into(), link: None }
    }
}

/// A word of a draft the check marks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// The part it is in (index into the parts).
    pub part: usize,
    /// `number`, `link`, `email`, `code`, `name` (a fact the sources lack) or `avoided` (a
    /// word the company's profile avoids).
    pub kind: String,
    /// The word as written.
    pub word: String,
}

/// What the review of a draft found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// Facts the sources lack, and avoided words.
    pub flags: Vec<Flag>,
    /// Limits of the kind the draft breaks ("the blog post has 350 words, at least 400").
    pub problems: Vec<String>,
    /// The share of the draft's words in Chinese characters: [`chinese_share`] for a Chinese
    /// draft (names and numbers left out), [`cjk_share`] for an English one.
    pub cjk_share: f32,
    /// Whether the draft is in the language asked for (a Chinese draft mostly CJK; an English
    /// one almost none).
    pub language_ok: bool,
}

impl Review {
    /// Nothing flagged, every limit kept, the language right.
    pub fn clean(&self) -> bool {
        self.flags.is_empty() && self.problems.is_empty() && self.language_ok
    }
}

/// A draft: its parts and what was checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// Random id.
    pub id: String,
    /// The kind.
    pub kind: ContentKind,
    /// The language.
    pub language: Language,
    /// The tone it was written in.
    pub tone: Tone,
    /// What it was written from.
    pub sources: SourceRefs,
    /// The source texts, as the check read them, so an edit is checked against the same.
    pub evidence: Vec<String>,
    /// Its parts, in order.
    pub parts: Vec<Part>,
    /// The check's findings on the parts as they are now.
    pub review: Review,
    /// Strict mode asked for no flags and the tries ran out with some left.
    #[serde(default)]
    pub strict_failed: bool,
    /// Units the model did not write in the asked form in any try, made by code from the
    /// sources' own text instead ("ad variant 2").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
    /// The model that wrote it.
    pub model: String,
    /// Milliseconds the writing took.
    pub writing_ms: u64,
    /// Created, ms since the epoch.
    pub created_ms: i64,
    /// Last changed, ms since the epoch.
    pub updated_ms: i64,
}

impl Draft {
    /// The draft as Markdown.
    pub fn markdown(&self) -> String {
        render(self, false)
    }

    /// The draft as HTML (every text escaped).
    pub fn html(&self) -> String {
        render(self, true)
    }
}

/// Drafts are stored under ids starting with this.
pub const DRAFT_PREFIX: &str = "content:drafts/";

/// The document id a draft is stored under.
pub fn draft_document_id(id: &str) -> String {
    format!("{DRAFT_PREFIX}{id}.json")
}

/// A draft as the document it is stored as.
pub fn draft_document(draft: &Draft) -> Result<crate::documents::Document> {
    let content =
        serde_json::to_vec(draft).map_err(|e| Error::Internal(format!("a draft does not serialise: {e}")))?;
    let size = content.len() as u64;
    Ok(crate::documents::Document::new(draft_document_id(&draft.id), content, size))
}

/// Most drafts kept; saving one more is refused until some are deleted.
pub const MAX_DRAFTS: usize = 1000;

/// Checks a draft id from a URL: the server's own ids are letters and digits.
pub fn validate_draft_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(Error::NotFound(format!("draft {id:?}")));
    }
    Ok(())
}

/// Longest text a part may have when a person edits it.
pub const MAX_PART_CHARS: usize = 20_000;

/// Checks a draft's parts as a person edited them: the same roles' shape (text within
/// [`MAX_PART_CHARS`], at most 200 parts), then the review is computed again.
pub fn validate_parts(parts: &[Part]) -> Result<()> {
    if parts.is_empty() || parts.len() > 200 {
        return Err(Error::BadRequest("a draft has 1 to 200 parts".into()));
    }
    if let Some(part) = parts.iter().find(|p| p.text.chars().count() > MAX_PART_CHARS) {
        return Err(Error::BadRequest(format!(
            "a {:?} part is longer than {MAX_PART_CHARS} characters",
            part.role
        )));
    }
    Ok(())
}

/// The review of a draft's parts: the kind's limits, every fact-like word the evidence lacks,
/// the profile's avoided words, and the language by script.
pub fn review(
    kind: ContentKind,
    language: Language,
    parts: &[Part],
    evidence: &Evidence,
    profile: &CompanyProfile,
) -> Review {
    // A call to action's link is the item's own, set by code; its label is checked.
    let flags = parts
        .iter()
        .enumerate()
        .flat_map(|(index, part)| {
            text_flags(&part.text, evidence, profile).into_iter().map(move |(kind, word)| Flag {
                part: index,
                kind,
                word,
            })
        })
        .collect();
    let text: String = parts.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n");
    let (cjk_share, language_ok) = language_share(&text, language);
    Review { flags, problems: limit_problems(kind, parts), cjk_share, language_ok }
}

/// The share of `text` in Chinese (Chinese words against lowercase Latin ones for a Chinese
/// text, CJK characters for an English one), and whether that is right for `language`.
pub fn language_share(text: &str, language: Language) -> (f32, bool) {
    match language {
        Language::Zh => {
            let share = chinese_share(text);
            (share, share >= MIN_CJK_SHARE)
        }
        Language::En => {
            let share = cjk_share(text);
            (share, share <= MAX_CJK_IN_ENGLISH)
        }
    }
}

/// What the check flags in one text, as (kind, word): every fact the evidence lacks and every
/// word the profile avoids.
pub fn text_flags(text: &str, evidence: &Evidence, profile: &CompanyProfile) -> Vec<(String, String)> {
    let mut flags: Vec<(String, String)> = faithful::unsupported_facts(text, evidence)
        .into_iter()
        .filter(|u| u.kind != FactKind::Wording)
        .map(|u| (u.kind.label().to_owned(), u.word))
        .collect();
    flags.extend(avoided_words(text, &profile.avoid).into_iter().map(|word| ("avoided".to_owned(), word)));
    flags
}

/// A Chinese draft has more than this share of its words in Chinese characters (product and
/// course names in Latin letters take some of the rest).
pub const MIN_CJK_SHARE: f32 = 0.5;
/// An English draft has at most this share.
pub const MAX_CJK_IN_ENGLISH: f32 = 0.05;

/// The share of `text`'s words written in Chinese characters, counted as [`word_count`] does
/// (two characters a word; a run of Latin letters or digits one word); 0 for no words.
pub fn cjk_share(text: &str) -> f32 {
    let cjk = text.chars().filter(|c| is_cjk(*c)).count();
    let words = word_count(text);
    if words == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let share = cjk.div_ceil(2) as f32 / words as f32;
    share
}

/// The share of a Chinese text's words written in Chinese characters, leaving out what a
/// Chinese text keeps as it is: names in Latin letters (a capital first: "Data Analysis with
/// Python" counts one word, "with") and numbers. An English sentence still counts in full.
pub fn chinese_share(text: &str) -> f32 {
    let cjk = text.chars().filter(|c| is_cjk(*c)).count().div_ceil(2);
    let mut latin = 0;
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() && !is_cjk(c) {
            run.push(c);
            continue;
        }
        if run.chars().next().is_some_and(char::is_lowercase) {
            latin += 1;
        }
        run.clear();
    }
    if cjk == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let share = cjk as f32 / (cjk + latin) as f32;
    share
}

/// The profile's avoided words that `text` uses (whole words or phrases, any case).
pub fn avoided_words(text: &str, avoid: &[String]) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut found = Vec::new();
    for word in avoid {
        let needle = word.trim().to_lowercase();
        if needle.is_empty() {
            continue;
        }
        let mut from = 0;
        while let Some(at) = lower[from..].find(&needle) {
            let start = from + at;
            let end = start + needle.len();
            let before = lower[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
            let after = lower[end..].chars().next().is_none_or(|c| !c.is_alphanumeric());
            // Chinese has no spaces between words: any occurrence counts.
            if (before && after) || needle.chars().any(is_cjk) {
                found.push(text[start..end].to_owned());
                break;
            }
            from = end;
        }
    }
    found
}

/// Words of a text: whitespace-separated runs, and each CJK character counted as half a word
/// (a Chinese word is one to three characters), so Chinese and English posts are held to the
/// same length.
pub fn word_count(text: &str) -> usize {
    let cjk = text.chars().filter(|c| is_cjk(*c)).count();
    let spaced =
        text.split_whitespace().filter(|w| w.chars().any(|c| c.is_alphanumeric() && !is_cjk(c))).count();
    spaced + cjk.div_ceil(2)
}

/// Characters, as the limits count them.
pub fn chars(text: &str) -> usize {
    text.chars().count()
}

/// The limits `parts` break, in words a person reads.
pub fn limit_problems(kind: ContentKind, parts: &[Part]) -> Vec<String> {
    let mut problems = Vec::new();
    let count = |role: PartRole| parts.iter().filter(|p| p.role == role).count();
    let mut over = |role: PartRole, limit: usize, what: &str| {
        for part in parts.iter().filter(|p| p.role == role) {
            let n = chars(&part.text);
            if n > limit {
                problems.push(format!("{what} has {n} characters, at most {limit}"));
            }
            if part.text.trim().is_empty() {
                problems.push(format!("{what} is empty"));
            }
        }
    };
    match kind {
        ContentKind::Ad => {
            over(PartRole::Headline, AD_HEADLINE_CHARS, "a headline");
            over(PartRole::Description, AD_DESCRIPTION_CHARS, "a description");
            if count(PartRole::Headline) != AD_VARIANTS || count(PartRole::Description) != AD_VARIANTS {
                problems.push(format!("an ad has {AD_VARIANTS} headlines and {AD_VARIANTS} descriptions"));
            }
        }
        ContentKind::Social => {
            over(PartRole::Post, SOCIAL_CHARS, "the post");
            if parts.iter().any(|p| p.role == PartRole::Post && hashtag_count(&p.text) > SOCIAL_HASHTAGS) {
                problems.push(format!("a social post has at most {SOCIAL_HASHTAGS} hashtags"));
            }
            if count(PartRole::Post) != 1 {
                problems.push("a social post is one post".into());
            }
        }
        ContentKind::Email => {
            over(PartRole::Subject, EMAIL_SUBJECT_CHARS, "the subject");
            over(PartRole::Preheader, EMAIL_PREHEADER_CHARS, "the preheader");
            for (role, what) in
                [(PartRole::Subject, "subject"), (PartRole::Preheader, "preheader"), (PartRole::Body, "body")]
            {
                if count(role) != 1 {
                    problems.push(format!("an e-mail has one {what}"));
                }
            }
            let body_words: usize =
                parts.iter().filter(|p| p.role == PartRole::Body).map(|p| word_count(&p.text)).sum();
            if body_words > EMAIL_BODY_WORDS {
                problems.push(format!("the body has {body_words} words, at most {EMAIL_BODY_WORDS}"));
            }
            let actions = count(PartRole::CallToAction)
                + parts.iter().filter(|p| p.role == PartRole::Body).map(|p| links_in(&p.text)).sum::<usize>();
            if actions != 1 {
                problems
                    .push(format!("an e-mail has one call to action and no other link ({actions} found)"));
            }
        }
        ContentKind::Blog => {
            over(PartRole::Title, BLOG_TITLE_CHARS, "the title");
            if count(PartRole::Title) != 1 {
                problems.push("a blog post has one title".into());
            }
            if count(PartRole::Heading) < 2 {
                problems.push("a blog post has at least two sections".into());
            }
            let words: usize = parts.iter().map(|p| word_count(&p.text)).sum();
            if !(BLOG_MIN_WORDS..=BLOG_MAX_WORDS).contains(&words) {
                problems.push(format!("the post has {words} words, {BLOG_MIN_WORDS} to {BLOG_MAX_WORDS}"));
            }
        }
        ContentKind::FaqPage => {
            over(PartRole::Answer, FAQ_ANSWER_CHARS, "an answer");
            let (questions, answers) = (count(PartRole::Question), count(PartRole::Answer));
            if questions != answers || !(FAQ_MIN_QUESTIONS..=FAQ_MAX_QUESTIONS).contains(&questions) {
                problems.push(format!(
                    "an FAQ page has {FAQ_MIN_QUESTIONS} to {FAQ_MAX_QUESTIONS} questions, each answered \
                     ({questions} questions, {answers} answers)"
                ));
            }
        }
    }
    problems
}

/// Links in a text (`http://`, `https://`, `www.`).
fn links_in(text: &str) -> usize {
    text.split_whitespace()
        .filter(|w| {
            let w = w.trim_start_matches(['(', '<', '[']).to_ascii_lowercase();
            w.starts_with("http://") || w.starts_with("https://") || w.starts_with("www.")
        })
        .count()
}

/// The tag a word writes, lower case, if it is a hashtag: `#` followed by a word holding a
/// letter (`#SmartHome`, `#智能家居`, Weibo's `#智能家居#`); "#1" is no hashtag.
fn hashtag(word: &str) -> Option<String> {
    let tag = word
        .strip_prefix('#')?
        .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '_')
        .trim_end_matches('#')
        .to_lowercase();
    tag.chars().any(char::is_alphabetic).then_some(tag)
}

/// How many distinct hashtags `text` holds.
pub fn hashtag_count(text: &str) -> usize {
    let mut tags: Vec<String> = text.split_whitespace().filter_map(hashtag).collect();
    tags.sort();
    tags.dedup();
    tags.len()
}

/// `post` with its first `max` distinct hashtags and none after (a small model asked for two
/// may write more); a line left empty by that goes.
pub fn with_hashtags_at_most(post: &str, max: usize) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for line in post.lines() {
        let kept: Vec<&str> = line
            .split_whitespace()
            .filter(|word| match hashtag(word) {
                Some(tag) if seen.contains(&tag) => false,
                Some(_) if seen.len() == max => false,
                Some(tag) => {
                    seen.push(tag);
                    true
                }
                None => true,
            })
            .collect();
        if kept.is_empty() && !line.trim().is_empty() {
            continue;
        }
        out.push(kept.join(" "));
    }
    out.join("\n").trim().to_owned()
}

/// `text` within `max` characters, cut only at a sentence's end: `None` when a sentence would
/// be cut (an ad's description, meant to be one sentence, is then written again rather than
/// shown as a fragment).
pub fn fit_sentences(text: &str, max: usize) -> Option<String> {
    let text = text.trim();
    if chars(text) <= max {
        return Some(text.to_owned());
    }
    Some(fit(text, max)).filter(|cut| cut.ends_with(['.', '!', '?', '。', '！', '？']))
}

/// The longest start of `text` within `max` characters that ends at a sentence's end; else at
/// a clause's (`,`, `;`, `:`, a dash) with its mark dropped; else at a word's end. Never cuts
/// a word (a single word longer than `max` gives an empty text).
pub fn fit(text: &str, max: usize) -> String {
    let text = text.trim();
    if chars(text) <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max + 1).collect();
    let ends = |marks: &[char]| -> Option<usize> {
        cut.char_indices()
            .filter(|(i, c)| {
                marks.contains(c) && {
                    let next = cut[i + c.len_utf8()..].chars().next();
                    // A sentence mark ends a sentence when followed by a space or the cut's
                    // end, or always for Chinese marks.
                    next.is_none_or(char::is_whitespace) || matches!(c, '。' | '！' | '？' | '；' | '，')
                }
            })
            .map(|(i, c)| i + c.len_utf8())
            .rfind(|&end| chars(&cut[..end]) <= max)
    };
    if let Some(end) = ends(&['.', '!', '?', '。', '！', '？']) {
        return cut[..end].trim().to_owned();
    }
    if let Some(end) = ends(&[',', ';', ':', '，', '；', '：']) {
        let kept = cut[..end].trim_end_matches([',', ';', ':', '，', '；', '：']).trim();
        if chars(kept) * 2 >= max {
            return kept.to_owned();
        }
    }
    // At a word's end: the last whitespace at or before `max` characters (CJK text may break
    // between any two characters).
    let within: String = text.chars().take(max).collect();
    let next = text.chars().nth(max);
    let last = within.chars().next_back();
    if next.is_some_and(|c| !c.is_alphanumeric())
        && last.is_some_and(char::is_alphanumeric)
        && !next.is_some_and(is_cjk)
    {
        return without_dangling(&within);
    }
    let mut end = within.rfind(char::is_whitespace).unwrap_or(0);
    if let Some((i, c)) = within.char_indices().last() {
        if is_cjk(c) && next.is_some_and(is_cjk) {
            end = end.max(i + c.len_utf8());
        }
    }
    without_dangling(&within[..end])
}

/// A text cut at a word's end, without the marks and the little words ("with", "and", "the")
/// that would leave it hanging; the text as it is if nothing else would stay.
fn without_dangling(text: &str) -> String {
    const DANGLING: [&str; 20] = [
        "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "our", "the",
        "to", "with", "your", "its", "&",
    ];
    let marks: &[char] = &[',', ';', ':', '-', '–', '—', ' '];
    let mut kept = text.trim_end_matches(marks).trim();
    while let Some((rest, last)) = kept.rsplit_once(char::is_whitespace) {
        if !DANGLING.contains(&last.to_lowercase().as_str()) || rest.trim().is_empty() {
            break;
        }
        kept = rest.trim_end_matches(marks).trim();
    }
    kept.to_owned()
}

/// At most `max` words of `text` (by [`word_count`]), cut at a sentence's end, else at a word's.
pub fn fit_words(text: &str, max: usize) -> String {
    if word_count(text) <= max {
        return text.trim().to_owned();
    }
    // The longest run of whole sentences within the limit.
    let mut kept = String::new();
    for sentence in sentences(text) {
        if word_count(&format!("{kept}{sentence}")) > max {
            break;
        }
        kept.push_str(&sentence);
    }
    if !kept.trim().is_empty() {
        return kept.trim().to_owned();
    }
    text.split_whitespace().take(max).collect::<Vec<_>>().join(" ")
}

/// A text's sentences with the spaces that follow them, in order (joined, the text again).
/// Chinese written with Latin marks ("内回复.我们") ends a sentence at the mark too; a list's
/// number ("2. Go to Orders.") starts its sentence, ending none.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut last = None;
    while let Some(c) = chars.next() {
        current.push(c);
        let between_chinese = last.is_some_and(is_cjk) && chars.peek().is_some_and(|n| is_cjk(*n));
        last = Some(c);
        let numbering = c == '.' && {
            let before = current[..current.len() - 1].trim();
            !before.is_empty() && before.chars().all(|d| d.is_ascii_digit())
        };
        let ends = matches!(c, '。' | '！' | '？' | '\n')
            || (matches!(c, '.' | '!' | '?')
                && !numbering
                && (between_chinese || chars.peek().is_none_or(|n| n.is_whitespace())));
        if ends {
            while let Some(&n) = chars.peek() {
                if !n.is_whitespace() {
                    break;
                }
                current.push(n);
                chars.next();
            }
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `text` with only the sentences `keep` takes ([`sentences`]). A sentence left out keeps its
/// line break: the next one still starts its line, so a list's item stays an item ("1." at a
/// line's start) and not a number inside the line before.
fn kept_sentences(text: &str, mut keep: impl FnMut(&str) -> bool) -> String {
    let mut out = String::new();
    for sentence in sentences(text) {
        if keep(&sentence) {
            out.push_str(&sentence);
        } else if sentence.contains('\n') && !out.is_empty() && !out.ends_with('\n') {
            let end = out.trim_end_matches([' ', '\t']).len();
            out.truncate(end);
            out.push('\n');
        }
    }
    out
}

/// Renders a draft as Markdown, or as HTML with every text escaped.
fn render(draft: &Draft, html: bool) -> String {
    let esc = |t: &str| if html { escape_html(t) } else { t.to_owned() };
    let mut out = Vec::new();
    let mut variant = 0;
    for part in &draft.parts {
        let text = esc(part.text.trim());
        let line = match (part.role, html) {
            (PartRole::Headline, false) => {
                variant += 1;
                format!("**Variant {variant}**\n\nHeadline: {text}")
            }
            (PartRole::Headline, true) => {
                variant += 1;
                format!("<h3>Variant {variant}</h3>\n<p><strong>{text}</strong></p>")
            }
            (
                PartRole::Description
                | PartRole::Paragraph
                | PartRole::Body
                | PartRole::Post
                | PartRole::Answer
                | PartRole::SignOff,
                false,
            ) => text,
            (
                PartRole::Description
                | PartRole::Paragraph
                | PartRole::Body
                | PartRole::Post
                | PartRole::Answer
                | PartRole::SignOff,
                true,
            ) => paragraphs_html(&text),
            (PartRole::Subject, false) => format!("Subject: {text}"),
            (PartRole::Subject, true) => format!("<p><strong>Subject:</strong> {text}</p>"),
            (PartRole::Preheader, false) => format!("Preheader: {text}"),
            (PartRole::Preheader, true) => format!("<p><em>{text}</em></p>"),
            (PartRole::CallToAction, false) => match &part.link {
                Some(link) => format!("[{text}]({link})"),
                None => format!("**{text}**"),
            },
            (PartRole::CallToAction, true) => match &part.link {
                Some(link) => format!("<p><a href=\"{}\">{text}</a></p>", escape_html(link)),
                None => format!("<p><strong>{text}</strong></p>"),
            },
            (PartRole::Title, false) => format!("# {text}"),
            (PartRole::Title, true) => format!("<h1>{text}</h1>"),
            (PartRole::Heading, false) => format!("## {text}"),
            (PartRole::Heading, true) => format!("<h2>{text}</h2>"),
            (PartRole::Question, false) => format!("### {text}"),
            (PartRole::Question, true) => format!("<h3>{text}</h3>"),
        };
        out.push(line);
    }
    out.join("\n\n") + "\n"
}

fn paragraphs_html(escaped: &str) -> String {
    escaped
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", p.replace('\n', "<br>")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped for HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The prompt's system message: the company, its voice, the language, the rules on facts, and
/// the sources.
pub fn system_message(profile: &CompanyProfile, tone: Tone, language: Language, sources: &Sources) -> String {
    // The whole message in the draft's language: a small model writes in the language it is
    // spoken to in far more often than in one it is only told to use.
    let company = &profile.name;
    let tone = tone.instruction(language);
    let sources = sources.prompt_text();
    match language {
        Language::En => {
            let avoid = if profile.avoid.is_empty() {
                String::new()
            } else {
                format!(" Never use these words: {}.", profile.avoid.join(", "))
            };
            format!(
                "You write marketing copy for {company}. {tone} Write in English. Use only the facts \
                 in the sources below: never invent a price, number, date, duration, link, e-mail \
                 address or name that they do not state.{avoid}\n\nSources:\n{sources}"
            )
        }
        Language::Zh => {
            let avoid = if profile.avoid.is_empty() {
                String::new()
            } else {
                format!("不要使用这些词：{}。", profile.avoid.join("、"))
            };
            format!(
                "你为{company}撰写营销文案。{tone}请用简体中文写作，产品和课程的名称保持原样。只使用下面资料中的\
                 事实：绝不编造资料中没有的价格、数字、日期、时长、链接、电子邮件地址或名称。{avoid}\n\n资料：\n{sources}"
            )
        }
    }
}
