//! The [`Writer`]: a draft written a unit at a time (an ad's variant, an e-mail, a blog post
//! and its added sections, an FAQ page's answer), each unit prompted on its own, parsed into
//! parts, fitted to the kind's limits by code and checked against the sources. In strict mode a
//! unit with a flag, a broken limit or the wrong language is written again, up to
//! [`MAX_TRIES`] times, and the best try is kept.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::{
    fit, fit_sentences, fit_words, kept_sentences, language_share, review, sentences, system_message,
    with_hashtags_at_most, word_count, CompanyProfile, ContentKind, Draft, Language, Part, PartRole, Review,
    Sources, Tone, AD_DESCRIPTION_CHARS, AD_HEADLINE_CHARS, AD_VARIANTS, BLOG_MAX_WORDS, BLOG_MIN_WORDS,
    BLOG_TITLE_CHARS, EMAIL_BODY_WORDS, EMAIL_PREHEADER_CHARS, EMAIL_SUBJECT_CHARS, FAQ_ANSWER_CHARS,
    FAQ_MAX_QUESTIONS, FAQ_MIN_QUESTIONS, SOCIAL_CHARS, SOCIAL_HASHTAGS,
};
use crate::catalog::{is_cjk, language_name, Availability, ItemKind};
use crate::chat::faithful::Evidence;
use crate::generate::{
    GenerationEvent, GenerationRequest, Generator, Priority, PromptMessage, PromptRole, SamplingConfig,
};
use crate::{Error, Result};

/// Tries of one unit in strict mode (the first included).
pub const MAX_TRIES: usize = 3;
/// The fewest answer tokens a unit is written with when the prompt leaves little room.
const MIN_ANSWER_TOKENS: usize = 64;
/// Sections asked for at most to lengthen a blog post that came out short (one that repeats
/// the post, or in strict mode keeps a flag, is left out and another asked for): each asked
/// while the post is short, however many were taken (six taken of 40 words or so had left a
/// post with a short opening at 360 words).
const MAX_SECTION_ASKS: usize = 12;
/// The fewest words of its own an added section has, its sentences that repeat the post left
/// out: less is a line, not a section.
const SECTION_MIN_WORDS: usize = 40;

/// What to write.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// The kind.
    pub kind: ContentKind,
    /// The language.
    pub language: Language,
    /// The tone; the profile's when none.
    pub tone: Option<Tone>,
    /// What to write from.
    pub sources: Sources,
    /// Write a unit again while it has a flag, a broken limit or the wrong language.
    pub strict: bool,
}

/// What the writer reports while it writes.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteEvent {
    /// A unit is being written (`what` in words: "variant 2 of 3").
    Unit {
        /// Its number, from 1.
        number: usize,
        /// What it is.
        what: String,
    },
    /// A piece of the model's text, as it comes.
    Token(String),
    /// The parts written so far, fitted and checked.
    Parts(Vec<Part>),
    /// A unit is written again, and why.
    Retry(String),
}

/// Writes drafts with one model, at background priority.
#[derive(Clone)]
pub struct Writer {
    generator: Arc<dyn Generator>,
    profile: CompanyProfile,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("model", &self.generator.model_name()).finish_non_exhaustive()
    }
}

/// One unit's prompt and how its text becomes parts.
struct Unit {
    what: String,
    instruction: String,
    /// What the instruction quotes rather than words itself (the question an answer answers,
    /// the title and headings of the post a section is added to): a try may repeat it
    /// without echoing the prompt.
    quoted: Vec<String>,
    /// Text a try must not mostly repeat (the post a section is added to): a try whose
    /// paragraphs are mostly runs of it is written again.
    not_again: String,
    /// The fewest words of its own a try keeps, its sentences that repeat `not_again` left
    /// out.
    min_new_words: usize,
    /// What an added section is about: its heading where the model's echoes the prompt.
    subject: String,
    max_tokens: usize,
    temperature: f64,
    shape: Shape,
}

#[derive(Clone)]
enum Shape {
    /// An ad's variant; `alternative`, a description the sources' fields give for it when it
    /// is made from them, so that variants made so differ.
    Ad {
        alternative: Option<String>,
    },
    Social,
    Email,
    Blog,
    Section,
    /// An FAQ page's answer to `question`; `known`, the sources' own answer, if they have one.
    Answer {
        question: String,
        known: Option<String>,
    },
}

impl Writer {
    /// A writer with `generator`'s model, for the company in `profile`.
    pub fn new(generator: Arc<dyn Generator>, profile: CompanyProfile) -> Self {
        Self { generator, profile }
    }

    /// The company's profile.
    pub fn profile(&self) -> &CompanyProfile {
        &self.profile
    }

    /// The model's name.
    pub fn model_name(&self) -> &str {
        self.generator.model_name()
    }

    /// The engine that writes.
    pub fn generator(&self) -> &Arc<dyn Generator> {
        &self.generator
    }

    /// The evidence a draft from `sources` is checked against: the sources, the company's
    /// name and sign-off.
    pub fn evidence_texts(&self, sources: &Sources) -> Vec<String> {
        let mut texts = sources.evidence_texts();
        texts.push(self.profile.name.clone());
        texts.extend(self.profile.sign_off.clone());
        texts
    }

    /// Writes a draft, reporting on `events` (a closed receiver does not stop the writing; a
    /// dropped future does, at the next token).
    pub async fn write(&self, request: &WriteRequest, events: &mpsc::Sender<WriteEvent>) -> Result<Draft> {
        if request.sources.is_empty() {
            return Err(Error::BadRequest(
                "choose at least one source: an item, an FAQ entry or a topic".into(),
            ));
        }
        if request.kind == ContentKind::FaqPage && request.sources.items.is_empty() {
            return Err(Error::BadRequest("an FAQ page is about a product or course: choose an item".into()));
        }
        let started = Instant::now();
        let tone = request.tone.unwrap_or(self.profile.tone);
        let system = system_message(&self.profile, tone, request.language, &request.sources);
        let evidence_texts = self.evidence_texts(&request.sources);
        let evidence = Evidence::new(evidence_texts.iter().map(String::as_str));
        let latin_names = (request.language == Language::Zh).then(|| latin_names(&evidence_texts));
        let ctx = Ctx {
            request,
            profile: &self.profile,
            system: &system,
            evidence: &evidence,
            latin_names: latin_names.as_deref(),
            events,
        };
        let mut parts: Vec<Part> = Vec::new();
        let mut strict_failed = false;
        let mut fallbacks = Vec::new();
        let units = units(request);
        let total = units.len();
        for (n, unit) in units.into_iter().enumerate() {
            let _ = events.try_send(WriteEvent::Unit {
                number: n + 1,
                what: format!("{} ({} of {total})", unit.what, n + 1),
            });
            let (written, clean) = self.unit(&ctx, &unit, &mut fallbacks).await?;
            strict_failed |= request.strict && !clean;
            parts.extend(written);
            let _ = events.send(WriteEvent::Parts(parts.clone())).await;
        }
        match request.kind {
            ContentKind::Blog => {
                without_repeats(&mut parts);
                if let Some(title) = parts.iter_mut().find(|p| p.role == PartRole::Title) {
                    // The form's own word copied as the title ("# Title").
                    if ["title", "标题", "blog post", "博客文章"]
                        .contains(&title.text.to_lowercase().as_str())
                    {
                        title.text = fit(&request.sources.subject(), BLOG_TITLE_CHARS);
                    }
                }
                // And as a section's heading ("## Heading"), or the prompt's ("## Sources", over
                // the sources written out): its text joins the section before.
                parts.retain(|p| {
                    p.role != PartRole::Heading
                        || !["heading", "section heading", "标题", "小节标题", "sources", "资料"]
                            .contains(&p.text.to_lowercase().trim_end_matches([':', '：']))
                });
                let mut asked = 0;
                while word_count_of(&parts) < BLOG_MIN_WORDS && asked < MAX_SECTION_ASKS {
                    asked += 1;
                    let unit = section_unit(request.language, &parts, &request.sources, asked - 1);
                    let _ =
                        events.try_send(WriteEvent::Unit { number: total + asked, what: unit.what.clone() });
                    let (written, clean) = self.unit(&ctx, &unit, &mut fallbacks).await?;
                    strict_failed |= request.strict && !clean;
                    with_section(&mut parts, written);
                    let _ = events.send(WriteEvent::Parts(parts.clone())).await;
                }
                // Still short: the sources in another language than the post's lend their
                // text translated, one section each (a task a small model does far more
                // faithfully than writing anew), each checked as a section is.
                for (n, (heading, text)) in
                    foreign_sections(&request.sources, request.language).into_iter().enumerate()
                {
                    if word_count_of(&parts) >= BLOG_MIN_WORDS {
                        break;
                    }
                    let unit = translated_section_unit(request.language, &parts, &heading, &text);
                    let _ = events.try_send(WriteEvent::Unit {
                        number: total + asked + n + 1,
                        what: unit.what.clone(),
                    });
                    let (written, clean) = self.unit(&ctx, &unit, &mut fallbacks).await?;
                    strict_failed |= request.strict && !clean;
                    with_section(&mut parts, written);
                    let _ = events.send(WriteEvent::Parts(parts.clone())).await;
                }
                if word_count_of(&parts) < BLOG_MIN_WORDS
                    && with_source_sections(&mut parts, &request.sources, request.language)
                {
                    fallbacks.push("sections from the sources".into());
                    let _ = events.send(WriteEvent::Parts(parts.clone())).await;
                }
                trim_blog(&mut parts);
            }
            ContentKind::Email => {
                let (label, link) = call_to_action(request);
                parts.push(Part { role: PartRole::CallToAction, text: label, link });
                parts.push(Part::new(PartRole::SignOff, self.sign_off(request.language)));
            }
            _ => {}
        }
        let review = review(request.kind, request.language, &parts, &evidence, &self.profile);
        strict_failed |= request.strict && !review.clean();
        let now = crate::now_ms();
        Ok(Draft {
            id: crate::new_id(),
            kind: request.kind,
            language: request.language,
            tone,
            sources: request.sources.refs(),
            evidence: evidence_texts,
            parts,
            review,
            strict_failed,
            fallbacks,
            model: self.generator.model_name().to_owned(),
            #[allow(clippy::cast_possible_truncation)]
            writing_ms: started.elapsed().as_millis() as u64,
            created_ms: now,
            updated_ms: now,
        })
    }

    /// The sign-off: the profile's, else "The NAME team".
    fn sign_off(&self, language: Language) -> String {
        self.profile.sign_off.clone().unwrap_or_else(|| match language {
            Language::En => format!("The {} team", self.profile.name),
            Language::Zh => format!("{}团队", self.profile.name),
        })
    }

    /// Writes one unit: once, or in strict mode until clean (at most [`MAX_TRIES`]), keeping
    /// the try with the fewest findings. Returns its parts and whether they are clean.
    ///
    /// A try whose text does not take the unit's shape (no headline, an empty answer) is
    /// written again in either mode; when no try does, the unit is made by code from the
    /// sources' own fields where it can be ([`fallback`]), and counted in `fallbacks`. In
    /// strict mode, when every try has a finding, the best one's flagged sentences are
    /// dropped ([`without_flagged_sentences`]); failing that the unit is made from the sources
    /// too (an added blog section is left out, a post's opening keeps what is left of it or its
    /// title), so a strict draft states no fact the sources lack unless the sources cannot
    /// make the unit.
    async fn unit(
        &self,
        ctx: &Ctx<'_>,
        unit: &Unit,
        fallbacks: &mut Vec<String>,
    ) -> Result<(Vec<Part>, bool)> {
        let mut best: Option<(usize, Vec<Part>)> = None;
        // Whether the try before came back in the other language: the next is told again.
        let mut wrong_language = false;
        for attempt in 0..MAX_TRIES {
            let text = self.generate(ctx, unit, attempt, wrong_language).await?;
            let mut parts = shape(&unit.shape, &text);
            in_sentence_case(&mut parts, ctx.evidence);
            if matches!(unit.shape, Shape::Section) {
                parts = without_echoes(ctx, unit, parts);
            }
            wrong_language = false;
            // A section's sentences that say the post again go; what is new may still be one.
            let (parts, new_enough) = without_repeated_sentences(&unit.not_again, unit.min_new_words, parts);
            let why = if !well_shaped(&unit.shape, &parts) {
                "not in the asked form".to_owned()
            } else if echoes_prompt(ctx, unit, &parts) {
                "the prompt's words written back".to_owned()
            } else if !new_enough {
                "mostly the post's sentences again".to_owned()
            } else {
                let review = unit_review(ctx, &parts);
                wrong_language = !review.language_ok;
                let findings = findings(&review);
                if findings == 0 {
                    return Ok((parts, true));
                }
                // Which: each flag's kind and word, and the language where it is wrong.
                let which: Vec<String> = review
                    .flags
                    .iter()
                    .map(|f| format!("{} {:?}", f.kind, f.word))
                    .chain((!review.language_ok).then(|| "language".to_owned()))
                    .collect();
                if best.as_ref().is_none_or(|(f, _)| findings < *f) {
                    best = Some((findings, parts));
                }
                if !ctx.request.strict {
                    break;
                }
                format!("{findings} finding(s): {}", which.join(", "))
            };
            if attempt + 1 < MAX_TRIES {
                let _ = ctx.events.try_send(WriteEvent::Retry(format!(
                    "{}: {why} in try {}; writing it again",
                    unit.what,
                    attempt + 1
                )));
            }
        }
        if let Some((_, parts)) = best {
            if !ctx.request.strict {
                return Ok((parts, false));
            }
            // Strict, and every try has a finding: the best try without its flagged
            // sentences, else the unit made from the sources, else the best try as it is.
            let trimmed = without_flagged_sentences(ctx, parts.clone());
            if well_shaped(&unit.shape, &trimmed) && unit_findings(ctx, &trimmed) == 0 {
                let _ = ctx.events.try_send(WriteEvent::Retry(format!(
                    "{}: sentences with unsupported facts dropped",
                    unit.what
                )));
                return Ok((trimmed, true));
            }
            let made = fallback(&unit.shape, &ctx.request.sources);
            if !made.is_empty() && unit_findings(ctx, &made) == 0 {
                fallbacks.push(unit.what.clone());
                return Ok((made, true));
            }
            match unit.shape {
                // A post is better one section short than with an invented fact.
                Shape::Section => return Ok((Vec::new(), true)),
                // Its opening too: what is left of it without the flagged sentences, else its
                // title alone; the added sections give it its body, the draft's review its
                // language and length.
                Shape::Blog => {
                    let opening = if trimmed.iter().any(|p| p.role == PartRole::Title)
                        && unit_review(ctx, &trimmed).flags.is_empty()
                    {
                        trimmed
                    } else {
                        vec![Part::new(
                            PartRole::Title,
                            fit(&ctx.request.sources.subject(), BLOG_TITLE_CHARS),
                        )]
                    };
                    let _ = ctx.events.try_send(WriteEvent::Retry(format!(
                        "{}: sentences with unsupported facts dropped",
                        unit.what
                    )));
                    return Ok((opening, true));
                }
                _ => return Ok((parts, false)),
            }
        }
        let parts = fallback(&unit.shape, &ctx.request.sources);
        if !parts.is_empty() {
            fallbacks.push(unit.what.clone());
        }
        // An added section never written in its form is left out, as a flagged one is.
        let clean =
            matches!(unit.shape, Shape::Section) || !parts.is_empty() && unit_findings(ctx, &parts) == 0;
        Ok((parts, clean))
    }

    /// One generation of a unit's prompt, streamed to the events; its whole text. After a try
    /// in the other language the instruction ends with a reminder of the language asked for:
    /// small models follow the last line of a prompt best, and sources in English pull a
    /// Chinese draft towards English.
    async fn generate(
        &self,
        ctx: &Ctx<'_>,
        unit: &Unit,
        attempt: usize,
        wrong_language: bool,
    ) -> Result<String> {
        let instruction = if wrong_language {
            format!("{}\n{}", unit.instruction, language_reminder(ctx.request.language))
        } else {
            unit.instruction.clone()
        };
        let messages = vec![
            PromptMessage { role: PromptRole::System, content: ctx.system.to_owned() },
            PromptMessage { role: PromptRole::User, content: instruction },
        ];
        // The answer gets what the model's context leaves after the prompt (templates' markers
        // included), down to a floor below which the sources are too long for this model.
        let mut max_tokens = unit.max_tokens;
        if let (Some(counter), Some(context)) =
            (self.generator.token_counter(), self.generator.context_tokens())
        {
            let prompt: usize = messages
                .iter()
                .map(|m| counter.count(&m.content) + crate::prompt::MESSAGE_OVERHEAD_TOKENS)
                .sum();
            let room = context.saturating_sub(prompt + 8);
            if room < MIN_ANSWER_TOKENS.min(max_tokens) {
                return Err(Error::BadRequest(format!(
                    "the sources take {prompt} of the writing model's {context} tokens: choose fewer or shorter ones"
                )));
            }
            max_tokens = max_tokens.min(room);
        }
        let sampling = SamplingConfig {
            // A little warmer on each try, so a try differs from the one before.
            #[allow(clippy::cast_precision_loss)]
            temperature: unit.temperature + 0.15 * attempt as f64,
            top_p: 0.9,
            repetition_penalty: 1.1,
            max_tokens,
            ignore_eos: false,
        };
        let mut request = GenerationRequest::new(messages, sampling);
        request.priority = Priority::Background;
        let mut text = String::new();
        if let Some(start) =
            reply_start(&unit.shape, ctx.request.language).filter(|_| self.generator.continues_replies())
        {
            // The form's first label, in the language asked: the model goes on in the form
            // and, above all, in the language it has just "written".
            request.reply_start = Some(start.to_owned());
            let _ = ctx.events.try_send(WriteEvent::Token(start.to_owned()));
            text.push_str(start);
        }
        request.latin_only_for = ctx.latin_names.map(<[String]>::to_vec);
        let mut stream = self.generator.generate(request).await?;
        while let Some(event) = stream.recv().await {
            match event? {
                GenerationEvent::Token(piece) => {
                    let _ = ctx.events.try_send(WriteEvent::Token(piece.clone()));
                    text.push_str(&piece);
                }
                GenerationEvent::Finished { completion_tokens, .. } => {
                    // Stopped by its length limit, the text ends inside a sentence ("数据可视化
                    // 是艺术的瑰宝，我们与数据科学家一起探索"): it ends at its last whole one.
                    if usize::try_from(completion_tokens).unwrap_or(usize::MAX) >= max_tokens {
                        let whole = without_cut_sentence(&text).len();
                        text.truncate(whole);
                    }
                    break;
                }
            }
        }
        Ok(text)
    }
}

/// "a beginner", "an intermediate".
fn with_article(word: &str) -> String {
    let article = if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {word}")
}

/// Whether an FAQ page's `answer` keeps what the sources' `known` answer to `question` says:
/// every number of it (leading zeros aside: "01" is "1"), or, when it has none, one of its
/// own terms the question lacks (a Latin word of three letters or more, by its first five, or two Chinese
/// characters in a row), in the answer's script: a Chinese answer to an English description is not held to
/// its words.
fn keeps_known(answer: &str, known: &str, question: &str) -> bool {
    let numbers = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_ascii_digit())
            .filter(|run| !run.is_empty())
            .map(|run| run.trim_start_matches('0').to_owned())
            .collect()
    };
    let figures = numbers(known);
    if !figures.is_empty() {
        let said = numbers(answer);
        return figures.iter().all(|n| said.contains(n));
    }
    let chinese = answer.chars().any(is_cjk);
    let terms = |text: &str| -> std::collections::HashSet<String> {
        let lower = text.to_lowercase();
        if chinese {
            let cjk: Vec<char> = lower.chars().collect();
            cjk.windows(2).filter(|w| w.iter().all(|c| is_cjk(*c))).map(|w| w.iter().collect()).collect()
        } else {
            lower
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() >= 3 && !w.chars().any(is_cjk))
                // By stem: "beginners" keeps "beginner".
                .map(|w| w.chars().take(5).collect())
                .collect()
        }
    };
    let asked = terms(question);
    let own: Vec<String> = terms(known).into_iter().filter(|t| !asked.contains(t)).collect();
    let answered = terms(answer);
    own.is_empty() || own.iter().any(|t| answered.contains(t))
}

/// `text` up to the end of its last whole sentence (a sentence mark, with the closing quotes
/// after it), or all of it when it has none.
pub(super) fn without_cut_sentence(text: &str) -> &str {
    const ENDS: [char; 6] = ['.', '!', '?', '。', '！', '？'];
    const CLOSING: [char; 4] = ['"', '\u{201d}', '\'', '\u{2019}'];
    let mut end = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if !ENDS.contains(&c) {
            continue;
        }
        let mut after = at + c.len_utf8();
        while let Some(&(next_at, next)) = chars.peek() {
            if !CLOSING.contains(&next) {
                break;
            }
            after = next_at + next.len_utf8();
            chars.next();
        }
        // A point inside a number or a name ("4.90", "example.com") ends no sentence; a
        // Chinese mark always ends one.
        let next = text[after..].chars().next();
        if next.is_none_or(char::is_whitespace) || !matches!(c, '.' | '!' | '?') {
            end = Some(after);
        }
    }
    end.map_or(text, |end| &text[..end])
}

/// What a unit's answer starts with, written for the model where the engine can continue a
/// reply: the first label of the asked form, in the draft's language. A small model told in
/// Chinese to write Chinese from English sources often answers in English, but goes on in
/// the language its answer has started in.
fn reply_start(shape: &Shape, language: Language) -> Option<&'static str> {
    let zh = language == Language::Zh;
    match shape {
        Shape::Ad { .. } => Some(if zh { "标题：" } else { "Headline: " }),
        Shape::Email => Some(if zh { "主题：" } else { "Subject: " }),
        // A post's Markdown carries no language, and started with "# " the 0.5B writer left
        // more posts short (2 of 10 long enough; 6 and 5 of 10 in two runs without).
        Shape::Blog | Shape::Section | Shape::Social | Shape::Answer { .. } => None,
    }
}

/// The words in Latin letters a Chinese draft may write as its sources do: those with a
/// capital or a digit (names, codes, "KiCad", "IoT", "Python 3"), each once.
fn latin_names(texts: &[String]) -> Vec<String> {
    let mut names: Vec<String> = texts
        .iter()
        .flat_map(|text| {
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '+' || c == '#'))
        })
        .filter(|word| word.chars().any(|c| c.is_ascii_alphabetic()))
        .filter(|word| word.chars().any(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        .map(str::to_owned)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The line added to a unit's instruction after a try in the other language.
pub(super) fn language_reminder(language: Language) -> &'static str {
    match language {
        Language::Zh => {
            "上一次的回答不是中文。这一次每一句都必须用简体中文写；只有产品和课程的名称可以保留英文原文。"
        }
        Language::En => {
            "The last answer was not in English. Write every sentence in English this time; only \
             product and course names may stay as they are."
        }
    }
}

struct Ctx<'a> {
    request: &'a WriteRequest,
    profile: &'a CompanyProfile,
    system: &'a str,
    evidence: &'a Evidence,
    /// For a Chinese draft, the sources' words the model may still write in Latin letters.
    latin_names: Option<&'a [String]>,
    events: &'a mpsc::Sender<WriteEvent>,
}

/// Flags (facts the sources lack, avoided words), a wrong language and a broken shape in one
/// unit's parts. The kind's limits on the whole draft (three variants, the post's length) are
/// judged on the draft; each part's own length is already fitted.
fn unit_findings(ctx: &Ctx<'_>, parts: &[Part]) -> usize {
    findings(&unit_review(ctx, parts))
}

/// The check of one unit's parts (see [`unit_findings`]).
fn unit_review(ctx: &Ctx<'_>, parts: &[Part]) -> Review {
    review(ctx.request.kind, ctx.request.language, parts, ctx.evidence, ctx.profile)
}

/// A review's findings: its flags, and a wrong language.
fn findings(review: &Review) -> usize {
    review.flags.len() + usize::from(!review.language_ok)
}

/// A unit's parts without what the check flags: the flagged sentences of its prose (a
/// paragraph, a body, a post, a description, an answer), a paragraph whose every sentence is
/// flagged, a section whose heading is; a flagged title, headline or subject becomes the
/// sources' subject (an item's name), fitted. A part that cannot go (a body with nothing
/// left) stays as it is.
fn without_flagged_sentences(ctx: &Ctx<'_>, parts: Vec<Part>) -> Vec<Part> {
    let flagged = |text: &str| !super::text_flags(text, ctx.evidence, ctx.profile).is_empty();
    let mut out = Vec::new();
    let mut dropped_heading = false;
    for mut part in parts {
        match part.role {
            PartRole::Heading => {
                dropped_heading = flagged(&part.text);
                if !dropped_heading {
                    out.push(part);
                }
            }
            PartRole::Title | PartRole::Headline | PartRole::Subject if flagged(&part.text) => {
                let max = match part.role {
                    PartRole::Title => BLOG_TITLE_CHARS,
                    PartRole::Headline => AD_HEADLINE_CHARS,
                    _ => EMAIL_SUBJECT_CHARS,
                };
                part.text = fit(&ctx.request.sources.subject(), max);
                out.push(part);
            }
            PartRole::Paragraph if dropped_heading => {}
            PartRole::Paragraph
            | PartRole::Body
            | PartRole::Post
            | PartRole::Description
            | PartRole::Preheader
            | PartRole::Answer => {
                let kept = kept_sentences(&part.text, |s| !flagged(s));
                if !kept.trim().is_empty() {
                    part.text = kept.trim().to_owned();
                    out.push(part);
                } else if part.role != PartRole::Paragraph {
                    out.push(part);
                }
            }
            _ => out.push(part),
        }
    }
    without_empty_headings(&mut out);
    out
}

/// Headings, titles, headlines and subjects in sentence case, as the drafts are styled: a
/// title-cased one ("Tips For Tracking Your Parcel") keeps the capitals of its first word,
/// of acronyms and of the words the sources write with one ("Aura", "Python"), and loses the
/// rest, which the check would otherwise take for names the sources lack.
fn in_sentence_case(parts: &mut [Part], evidence: &Evidence) {
    for part in parts.iter_mut().filter(|p| {
        matches!(p.role, PartRole::Title | PartRole::Heading | PartRole::Headline | PartRole::Subject)
    }) {
        let words: Vec<&str> = part.text.split_whitespace().collect();
        let later: Vec<&str> = words
            .iter()
            .skip(1)
            .copied()
            .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 4)
            .collect();
        let capitalised = later.iter().filter(|w| w.starts_with(char::is_uppercase)).count();
        // Title case: most of the longer words after the first start with a capital.
        if later.len() < 2 || capitalised * 3 < later.len() * 2 {
            continue;
        }
        let cased: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(n, word)| {
                let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
                let acronym = bare.chars().filter(|c| c.is_alphabetic()).all(char::is_uppercase);
                if n == 0 || bare.is_empty() || acronym || evidence.capitalises(bare) {
                    (*word).to_owned()
                } else {
                    let mut chars = word.chars();
                    chars.next().map_or_else(String::new, |first| first.to_lowercase().chain(chars).collect())
                }
            })
            .collect();
        part.text = cased.join(" ");
    }
}

/// Words in a row that make a unit's text an echo of its prompt (a Chinese character counts
/// half a word: ten in a row).
const ECHO_WORDS: usize = 5;

/// Words with which a small model tells of its task instead of doing it ("The customer asks
/// how long ... The sources' answer states that ..."): a draft speaks to its reader, not
/// about its prompt.
const TASK_WORDS: &[&str] = &[
    "the sources",
    "the source's",
    "the customer asks",
    "the customer should",
    "a customer asks",
    "the customer's question",
    "资料",
    "顾客问",
];

/// Whether a unit's text repeats its prompt's own wording rather than the sources': five
/// words in a row of the instructions that the sources do not have, as a small model writes
/// when it describes its task ("This search ad covers the main benefit of using a price,
/// number, date"), or one of [`TASK_WORDS`] the sources lack. Such a try is not in the asked
/// form.
fn echoes_prompt(ctx: &Ctx<'_>, unit: &Unit, parts: &[Part]) -> bool {
    let echoes = echo_test(ctx, unit);
    parts.iter().any(|part| echoes(&part.text))
}

/// Whether a text echoes the prompt of `unit` (see [`echoes_prompt`]).
fn echo_test(ctx: &Ctx<'_>, unit: &Unit) -> impl Fn(&str) -> bool {
    let source_text = ctx.request.sources.prompt_text().to_lowercase();
    let sources = runs(&ctx.request.sources.prompt_text());
    // An answer may restate its question, a section its post's title and headings.
    let instruction =
        unit.quoted.iter().fold(unit.instruction.clone(), |text, quoted| text.replace(quoted.as_str(), "\n"));
    let prompt: std::collections::HashSet<Vec<String>> =
        runs(&format!("{}\n{instruction}", ctx.system)).difference(&sources).cloned().collect();
    move |text: &str| {
        let lower = text.to_lowercase();
        TASK_WORDS.iter().any(|w| lower.contains(w) && !source_text.contains(w))
            || runs(text).iter().any(|run| prompt.contains(run))
    }
}

/// An added section without what echoes its prompt: a heading that does ("## What this
/// means for a customer", the instruction's words) becomes the section's subject, a
/// sentence that does goes. A small model asked for a section in so many words takes them
/// up in one line or two of otherwise good text; whether enough is left is judged after.
fn without_echoes(ctx: &Ctx<'_>, unit: &Unit, parts: Vec<Part>) -> Vec<Part> {
    let echoes = echo_test(ctx, unit);
    let mut out: Vec<Part> = parts
        .into_iter()
        .filter_map(|mut part| {
            match part.role {
                PartRole::Heading if echoes(&part.text) => part.text = unit.subject.clone(),
                PartRole::Paragraph => {
                    part.text = kept_sentences(&part.text, |s| !echoes(s)).trim().to_owned()
                }
                _ => {}
            }
            (!part.text.trim().is_empty()).then_some(part)
        })
        .collect();
    without_empty_headings(&mut out);
    out
}

/// The runs of [`ECHO_WORDS`] words in a row of a text, lowercased, marks left out. Chinese
/// is not spaced: each of its characters is a word of half the weight, so a run of Chinese is
/// ten characters ("价格、数字、日期、时长、链接" echoes the prompt's list).
fn runs(text: &str) -> std::collections::HashSet<Vec<String>> {
    let mut words: Vec<String> = Vec::new();
    for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let mut latin = String::new();
        for c in word.chars() {
            if is_cjk(c) {
                words.extend((!latin.is_empty()).then(|| std::mem::take(&mut latin)));
                words.push(c.to_string());
            } else {
                latin.push(c);
            }
        }
        words.extend((!latin.is_empty()).then_some(latin));
    }
    let weight = |w: &String| if w.chars().all(is_cjk) { 1 } else { 2 };
    let mut out = std::collections::HashSet::new();
    for start in 0..words.len() {
        let mut total = 0;
        for end in start..words.len() {
            total += weight(&words[end]);
            if total >= 2 * ECHO_WORDS {
                out.insert(words[start..=end].to_vec());
                break;
            }
        }
    }
    out
}

/// A try without the sentences of its paragraphs that mostly repeat `earlier` (more than
/// half of their runs of words are in it), as a small model does when asked for more of a
/// post: it writes the post's sentences again, nearly word for word. Whether what is left
/// still says enough to stand as a section (`min_words` of its own); with nothing earlier
/// the try as it is.
fn without_repeated_sentences(earlier: &str, min_words: usize, mut parts: Vec<Part>) -> (Vec<Part>, bool) {
    if earlier.is_empty() {
        return (parts, true);
    }
    let earlier = runs(earlier);
    for part in parts.iter_mut().filter(|p| p.role == PartRole::Paragraph) {
        let kept = kept_sentences(&part.text, |s| !mostly_in(&runs(s), &earlier));
        part.text = kept.trim().to_owned();
    }
    parts.retain(|p| p.role != PartRole::Paragraph || !p.text.is_empty());
    without_empty_headings(&mut parts);
    let new_words: usize =
        parts.iter().filter(|p| p.role == PartRole::Paragraph).map(|p| word_count(&p.text)).sum();
    (parts, new_words >= min_words)
}

/// Whether more than half of a sentence's runs of words ([`runs`]) are in `said`: it says
/// that text again in nearly its words.
fn mostly_in(
    own: &std::collections::HashSet<Vec<String>>,
    said: &std::collections::HashSet<Vec<String>>,
) -> bool {
    own.iter().filter(|run| said.contains(*run)).count() * 2 > own.len()
}

/// Whether a unit's parts have its shape: every part it needs, none empty.
fn well_shaped(shape: &Shape, parts: &[Part]) -> bool {
    let has = |role: PartRole| parts.iter().any(|p| p.role == role);
    // A placeholder of the asked form copied back ("<the headline>", "<标题>") is not a text.
    let placeholder = |text: &str| text.contains("<the ") || (text.starts_with('<') && text.ends_with('>'));
    let filled =
        !parts.is_empty() && parts.iter().all(|p| !p.text.trim().is_empty() && !placeholder(p.text.trim()));
    filled
        && match shape {
            Shape::Ad { .. } => parts.len() == 2,
            Shape::Social => has(PartRole::Post),
            Shape::Email => has(PartRole::Subject) && has(PartRole::Preheader) && has(PartRole::Body),
            Shape::Blog => has(PartRole::Title) && has(PartRole::Heading) && has(PartRole::Paragraph),
            Shape::Section => has(PartRole::Heading) && has(PartRole::Paragraph),
            Shape::Answer { .. } => has(PartRole::Answer),
        }
}

/// A unit made by code from the sources' own text, for when no try of the model took the
/// unit's shape: an item's name and description, an entry's question and answer, fitted to
/// the limits. Nothing in it can be unsupported. An FAQ page's answer has none (it is left
/// out).
fn fallback(shape: &Shape, sources: &Sources) -> Vec<Part> {
    let (name, text) = match (sources.items.first(), sources.entries.first()) {
        (Some(item), _) => (item.name.clone(), item.description.clone()),
        (None, Some(entry)) => (entry.title.clone(), entry.body.clone()),
        (None, None) => match &sources.topic {
            Some(topic) => (topic.label.clone(), String::new()),
            None => return Vec::new(),
        },
    };
    let first_sentence = sentences(&text).into_iter().next().unwrap_or_default();
    match shape {
        Shape::Ad { alternative } => vec![
            Part::new(PartRole::Headline, fit(&name, AD_HEADLINE_CHARS)),
            Part::new(
                PartRole::Description,
                alternative.clone().unwrap_or_else(|| fit(&text, AD_DESCRIPTION_CHARS)),
            ),
        ],
        Shape::Social => vec![Part::new(PartRole::Post, fit(&format!("{name}: {text}"), SOCIAL_CHARS))],
        Shape::Email => vec![
            Part::new(PartRole::Subject, fit(&name, EMAIL_SUBJECT_CHARS)),
            Part::new(PartRole::Preheader, fit(&first_sentence, EMAIL_PREHEADER_CHARS)),
            Part::new(PartRole::Body, fit_words(&text, EMAIL_BODY_WORDS)),
        ],
        Shape::Blog => {
            let mut parts = vec![Part::new(PartRole::Title, fit(&name, BLOG_TITLE_CHARS))];
            for item in &sources.items {
                parts.push(Part::new(PartRole::Heading, item.name.clone()));
                parts.push(Part::new(PartRole::Paragraph, item.description.clone()));
            }
            for entry in &sources.entries {
                parts.push(Part::new(PartRole::Heading, entry.title.clone()));
                parts.push(Part::new(PartRole::Paragraph, entry.body.clone()));
            }
            parts.retain(|p| !p.text.trim().is_empty());
            parts
        }
        Shape::Answer { question, known: Some(answer) } => vec![
            Part::new(PartRole::Question, question.clone()),
            Part::new(PartRole::Answer, fit(answer, FAQ_ANSWER_CHARS)),
        ],
        Shape::Section | Shape::Answer { known: None, .. } => Vec::new(),
    }
    .into_iter()
    .filter(|p| !p.text.trim().is_empty())
    .collect()
}

/// Completes a post still short after the model's added sections with the sources' own
/// text: the items (name, description) and entries (question, answer) in the draft's
/// language whose text the post does not hold yet become sections, as many as the post needs
/// to be long enough, before a closing section ("Conclusion", "总结"). Nothing in them can be
/// unsupported. When all of them would not make the post long enough, none is added (the
/// post stays short, and its limit says so). Whether any was added.
fn with_source_sections(parts: &mut Vec<Part>, sources: &Sources, language: Language) -> bool {
    let made = fallback(&Shape::Blog, sources);
    let mut sections: Vec<&[Part]> = made
        .get(1..)
        .unwrap_or_default()
        .chunks(2)
        .filter(|pair| match pair {
            [heading, text] => {
                heading.role == PartRole::Heading
                    && language_share(&text.text, language).1
                    && !parts.iter().any(|p| p.text.contains(&text.text))
            }
            _ => false,
        })
        .collect();
    // A section under a heading the post has (the model worded the entry's answer) comes
    // last: taken only when the others leave the post short.
    sections.sort_by_key(|section| {
        parts.iter().any(|p| p.role == PartRole::Heading && text_key(&p.text) == text_key(&section[0].text))
    });
    let mut words = word_count_of(parts);
    if words + sections.iter().map(|s| word_count_of(s)).sum::<usize>() < BLOG_MIN_WORDS {
        return false;
    }
    let mut at = closing_section(parts).unwrap_or(parts.len());
    for section in sections {
        if words >= BLOG_MIN_WORDS {
            break;
        }
        words += word_count_of(section);
        parts.splice(at..at, section.iter().cloned());
        at += section.len();
    }
    true
}

/// A post with an added section, before its closing one where it has one, and without
/// what the section says again.
fn with_section(parts: &mut Vec<Part>, section: Vec<Part>) {
    let at = closing_section(parts).unwrap_or(parts.len());
    parts.splice(at..at, section);
    without_repeats(parts);
}

/// Where a post's closing section starts ("Conclusion", "总结"), if its last section is one:
/// its heading, or a paragraph that is only the closing word as a label ("结语：").
fn closing_section(parts: &[Part]) -> Option<usize> {
    const CLOSING: [&str; 7] =
        ["conclusion", "summary", "final thoughts", "wrapping up", "总结", "结语", "结论"];
    let is_closing = |text: &str| CLOSING.iter().any(|c| text.to_lowercase().contains(c));
    let label = |p: &Part| {
        p.role == PartRole::Paragraph && {
            let bare = p.text.trim().trim_end_matches([':', '：']);
            bare.chars().count() <= 20 && bare.len() < p.text.trim().len() && is_closing(bare)
        }
    };
    let last_heading = parts.iter().rposition(|p| p.role == PartRole::Heading);
    let last_label = parts.iter().rposition(label);
    match (last_heading, last_label) {
        (Some(h), Some(l)) if l > h => Some(l),
        (Some(h), _) => is_closing(&parts[h].text).then_some(h),
        (None, l) => l,
    }
}

fn word_count_of(parts: &[Part]) -> usize {
    parts.iter().map(|p| word_count(&p.text)).sum()
}

/// The units of a kind, in order, each asked for in the draft's language.
fn units(request: &WriteRequest) -> Vec<Unit> {
    let zh = request.language == Language::Zh;
    match request.kind {
        ContentKind::Ad => {
            let angles = if zh {
                ["它最主要的好处", "它适合什么人", "它为什么物有所值"]
            } else {
                ["its main benefit", "who it is for", "what makes it worth the price"]
            };
            // Made from the sources, the first variant takes the item's description (where
            // it is in the draft's language), the others what its fields say in a sentence in
            // that language (its price, its length...).
            let description = faq_pairs(&request.sources, request.language)
                .into_iter()
                .next()
                .and_then(|(_, answer)| answer);
            let own_language = request
                .sources
                .items
                .first()
                .is_some_and(|item| language_share(&item.description, request.language).1);
            let alternatives: Vec<Option<String>> = own_language
                .then_some(None)
                .into_iter()
                .chain(
                    faq_pairs(&request.sources, request.language)
                        .into_iter()
                        .filter_map(|(_, answer)| answer)
                        .filter(|answer| Some(answer) != description.as_ref())
                        .filter(|answer| super::chars(answer) <= AD_DESCRIPTION_CHARS)
                        .map(Some),
                )
                .collect();
            (0..AD_VARIANTS)
                .map(|n| Unit {
                    what: format!("ad variant {}", n + 1),
                    instruction: if zh {
                        format!(
                            "为这些资料写一条搜索广告，重点突出{angle}。只回答两行，不要写别的：标题不超过\
                             {AD_HEADLINE_CHARS}个字符，描述是一句话，不超过{AD_DESCRIPTION_CHARS}个字符，\
                             格式如下：\n标题：<标题>\n描述：<描述>",
                            angle = angles[n % angles.len()]
                        )
                    } else {
                        format!(
                            "Write one search ad about the sources, focused on {angle}. Answer with \
                             exactly two lines and nothing else: a headline of at most \
                             {AD_HEADLINE_CHARS} characters and a one-sentence description of at most \
                             {AD_DESCRIPTION_CHARS} characters, in this form:\nHeadline: <the headline>\nDescription: <the description>",
                            angle = angles[n % angles.len()]
                        )
                    },
                    max_tokens: 80,
                    temperature: 0.7,
                    quoted: Vec::new(),
                    not_again: String::new(),
                    min_new_words: 0,
                    subject: String::new(),
                    shape: Shape::Ad { alternative: alternatives.get(n).cloned().flatten() },
                })
                .collect()
        }
        ContentKind::Social => vec![Unit {
            what: "social post".into(),
            instruction: if zh {
                format!(
                    "为这些资料写一条社交媒体帖子：两三个短句，最多{SOCIAL_HASHTAGS}个话题标签，总共不超过\
                     {SOCIAL_CHARS}个字符。只回答帖子本身。"
                )
            } else {
                format!(
                    "Write one social-media post about the sources: two or three short sentences and \
                     at most {SOCIAL_HASHTAGS} hashtags, under {SOCIAL_CHARS} characters in all. Answer with the post \
                     only."
                )
            },
            max_tokens: 140,
            temperature: 0.7,
            quoted: Vec::new(),
            not_again: String::new(),
            min_new_words: 0,
            subject: String::new(),
            shape: Shape::Social,
        }],
        ContentKind::Email => vec![Unit {
            what: "e-mail".into(),
            instruction: if zh {
                format!(
                    "为这些资料写一封营销邮件。严格按照下面的格式回答：\n主题：（不超过\
                     {EMAIL_SUBJECT_CHARS}个字符）\n预览：（一行，不超过{EMAIL_PREHEADER_CHARS}个字符）\n\
                     正文：\n（一句问候和两个短段落，不超过240个字，不要链接，不要署名）"
                )
            } else {
                format!(
                    "Write a marketing e-mail about the sources. Answer in exactly this form:\nSubject: \
                     (at most {EMAIL_SUBJECT_CHARS} characters)\nPreheader: (one line, at most \
                     {EMAIL_PREHEADER_CHARS} characters)\nBody:\n(a greeting and two short \
                     paragraphs, at most 120 words, with no links and no signature)"
                )
            },
            max_tokens: 320,
            temperature: 0.6,
            quoted: Vec::new(),
            not_again: String::new(),
            min_new_words: 0,
            subject: String::new(),
            shape: Shape::Email,
        }],
        ContentKind::Blog => vec![Unit {
            what: "blog post".into(),
            instruction: if zh {
                "根据这些资料，为公司的客户写一篇约1200字的博客文章。第一行是“# ”加上文章的标题，然后写三到\
                 四个小节，每节先写一行“## ”加上小节的标题，后面跟一两段文字。只使用资料中的事实。"
                    .to_owned()
            } else {
                "Write a blog post of about 600 words for the company's customers about the sources. Put \
                 the title on the first line as '# Title', then three or four sections, each a '## \
                 Heading' line followed by one or two paragraphs. Use only the sources' facts."
                    .to_owned()
            },
            max_tokens: if zh { 1400 } else { 1000 },
            temperature: 0.6,
            quoted: Vec::new(),
            not_again: String::new(),
            min_new_words: 0,
            subject: String::new(),
            shape: Shape::Blog,
        }],
        ContentKind::FaqPage => faq_pairs(&request.sources, request.language)
            .into_iter()
            .map(|(question, known)| Unit {
                what: "answer".into(),
                // Where the sources answer it (an item's own field), the answer is given to be
                // worded for the customer: asked only the question, a small model answered
                // "who is it for?" from the description in words the sources do not hold.
                instruction: match (zh, &known) {
                    (true, Some(known)) => format!(
                        "顾客问：{question}\n资料中的答案：{known}\n请用一到三句话把这个答案写给顾客，\
                         不超过150个字，不要加入资料中没有的事实。只回答答案本身。"
                    ),
                    (true, None) => format!(
                        "顾客问：{question}\n请只根据资料，用一到三句话回答，不超过150个字。只回答答案本身。"
                    ),
                    (false, Some(known)) => format!(
                        "A customer asks: {question}\nThe sources' answer: {known}\nWord this answer \
                         for the customer in one to three sentences, at most 300 characters, adding \
                         no fact the sources lack. Answer with the answer only."
                    ),
                    (false, None) => format!(
                        "A customer asks: {question}\nAnswer in one to three sentences, at most 300 \
                         characters, from the sources only. Answer with the answer only."
                    ),
                },
                max_tokens: 140,
                temperature: 0.3,
                quoted: std::iter::once(question.clone()).chain(known.clone()).collect(),
                not_again: String::new(),
                min_new_words: 0,
                subject: String::new(),
                shape: Shape::Answer { question, known },
            })
            .collect(),
    }
}

/// A unit adding one section to a blog post that came out short: the `n`th (from 0) is
/// about the sources' subjects in turn (an entry's question, an item's name, the topic's
/// questions), for a small model asked only for "one more section" writes the post's
/// sections again. It asks for what the subject means to a customer and what they can do,
/// in the model's own words, under a heading of its own.
fn section_unit(language: Language, parts: &[Part], sources: &Sources, n: usize) -> Unit {
    let title = parts.iter().find(|p| p.role == PartRole::Title).map_or("", |p| p.text.as_str());
    let headings: Vec<&str> =
        parts.iter().filter(|p| p.role == PartRole::Heading).map(|p| p.text.as_str()).collect();
    let subjects: Vec<&str> = sources
        .entries
        .iter()
        .map(|e| e.title.as_str())
        .chain(sources.items.iter().map(|i| i.name.as_str()))
        .chain(sources.topic.iter().flat_map(|t| t.questions.iter().map(String::as_str)))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let subject = subjects.get(n % subjects.len().max(1)).copied().unwrap_or(title);
    let zh = language == Language::Zh;
    let post: Vec<&str> =
        parts.iter().filter(|p| p.role == PartRole::Paragraph).map(|p| p.text.as_str()).collect();
    Unit {
        what: "another section".into(),
        instruction: if zh {
            format!(
                "一篇题为“{title}”的博客文章已有这些小节：{}。请再写一节，讲“{subject}”：先写一行“## ”加上你自己\
                 起的小节标题，然后用你自己的话写两段，每段约150字：第一段讲这对顾客意味着什么，第二段给顾客一个\
                 实用的建议。不要照抄资料的句子，只使用资料中的事实。",
                headings.join("；")
            )
        } else {
            format!(
                "A blog post titled \"{title}\" has the sections: {}. Write one more section, about \
                 \"{subject}\": a '## ' line with a heading of your own, then two paragraphs of about \
                 80 words each in your own words: first what this means for a customer, then a \
                 practical tip on what they can do. Do not copy the sources' sentences; use only their \
                 facts.",
                headings.join("; ")
            )
        },
        max_tokens: if zh { 500 } else { 320 },
        temperature: 0.6,
        quoted: std::iter::once(title)
            .chain(headings.iter().copied())
            .chain(std::iter::once(subject))
            .map(str::to_owned)
            .collect(),
        not_again: post.join("\n"),
        min_new_words: SECTION_MIN_WORDS,
        // In the post's language only: a heading in the other one is no heading for it.
        subject: if language_share(subject, language).1 { subject.to_owned() } else { String::new() },
        shape: Shape::Section,
    }
}

/// The sources' sections (an item's name and description, an entry's question and answer)
/// whose text is not in `language`: what a post in that language can only take translated.
fn foreign_sections(sources: &Sources, language: Language) -> Vec<(String, String)> {
    let made = fallback(&Shape::Blog, sources);
    made.get(1..)
        .unwrap_or_default()
        .chunks(2)
        .filter_map(|pair| match pair {
            [heading, text]
                if heading.role == PartRole::Heading && !language_share(&text.text, language).1 =>
            {
                Some((heading.text.clone(), text.text.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A unit translating one source section (`heading`, `text`) into the post's language, for
/// a post whose sources are in another: under the translated heading, the text in one
/// paragraph, names, figures and links as the source writes them.
fn translated_section_unit(language: Language, parts: &[Part], heading: &str, text: &str) -> Unit {
    let post: Vec<&str> =
        parts.iter().filter(|p| p.role == PartRole::Paragraph).map(|p| p.text.as_str()).collect();
    Unit {
        what: "a source translated".into(),
        instruction: match language {
            Language::Zh => format!(
                "把下面这段资料译成简体中文：第一行写“## ”加上标题的译文，然后用一段话写正文的译文。\
                 产品和课程的名称、数字和链接保持原样，不要增加或省略内容。只回答译文。\n\n标题：{heading}\n正文：{text}"
            ),
            Language::En => format!(
                "Translate this source into English: a '## ' line with the heading translated, then the \
                 text translated in one paragraph. Keep product and course names, figures and links as \
                 they are; add nothing and leave nothing out. Answer with the translation only.\n\n\
                 Heading: {heading}\nText: {text}"
            ),
        },
        max_tokens: 2 * word_count(text) + 120,
        temperature: 0.2,
        quoted: vec![heading.to_owned(), text.to_owned()],
        not_again: post.join("\n"),
        min_new_words: SECTION_MIN_WORDS / 2,
        subject: String::new(),
        shape: Shape::Section,
    }
}

/// The questions of an FAQ page: those the item's own fields answer, the chosen entries'
/// questions and the topic's most central ones; at most [`FAQ_MAX_QUESTIONS`].
pub fn faq_questions(sources: &Sources, language: Language) -> Vec<String> {
    faq_pairs(sources, language).into_iter().map(|(question, _)| question).collect()
}

/// [`faq_questions`], each with the answer the sources give word for word where they do: an
/// item's field in a sentence made by code, an entry's own answer. Strict mode falls back on it
/// when every try of the model's answer has a flag.
fn faq_pairs(sources: &Sources, language: Language) -> Vec<(String, Option<String>)> {
    let zh = language == Language::Zh;
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for item in sources.items.iter().take(1) {
        let name = &item.name;
        let mut push = |en: (String, String), cn: (String, String)| {
            let (question, answer) = if zh { cn } else { en };
            out.push((question, Some(answer)));
        };
        push(
            (format!("What is {name}?"), format!("{name}: {}", item.description.trim())),
            (format!("{name}是什么？"), format!("{name}：{}", item.description.trim())),
        );
        let price = item.price_text();
        push(
            (format!("How much does {name} cost?"), format!("{name} costs {price}.")),
            (format!("{name}多少钱？"), format!("{name}的价格是{price}。")),
        );
        if item.kind == ItemKind::Course {
            if let Some(hours) = item.duration_hours {
                push(
                    (format!("How long is {name}?"), format!("{name} has {hours} hours of lessons.")),
                    (format!("{name}的课程有多长？"), format!("{name}共有{hours}小时的课程。")),
                );
            }
            if let Some(level) = item.level {
                let level_zh = match level {
                    crate::catalog::Level::Beginner => "初级",
                    crate::catalog::Level::Intermediate => "中级",
                    crate::catalog::Level::Advanced => "高级",
                };
                push(
                    (
                        format!("Who is {name} for?"),
                        format!("{name} is {} course.", with_article(level.as_str())),
                    ),
                    (format!("{name}适合什么水平的学员？"), format!("{name}是{level_zh}课程。")),
                );
            }
            if !item.start_dates.is_empty() {
                let dates = item.start_dates.join(", ");
                push(
                    (format!("When does {name} start?"), format!("{name} starts on {dates}.")),
                    (format!("{name}什么时候开课？"), format!("{name}的开课日期：{dates}。")),
                );
            }
            if !item.prerequisites.is_empty() {
                let first = item.prerequisites.join(", ");
                push(
                    (format!("What should I take before {name}?"), format!("Take {first} first.")),
                    (format!("学习{name}之前需要先学什么？"), format!("请先学习{first}。")),
                );
            }
            if let Some(code) = &item.language {
                push(
                    (
                        format!("What language is {name} taught in?"),
                        format!("{name} is taught in {}.", language_name(code, false)),
                    ),
                    (
                        format!("{name}用什么语言授课？"),
                        format!("{name}用{}授课。", language_name(code, true)),
                    ),
                );
            }
        } else {
            let (en, cn) = match item.availability {
                Availability::InStock => {
                    (format!("Yes, {name} is in stock."), format!("可以，{name}现在有货。"))
                }
                Availability::Preorder => {
                    (format!("{name} can be pre-ordered now."), format!("{name}现在可以预订。"))
                }
                Availability::OutOfStock => {
                    (format!("{name} is not available now."), format!("{name}目前无法购买。"))
                }
            };
            push((format!("Can I buy {name} now?"), en), (format!("现在可以购买{name}吗？"), cn));
        }
    }
    for entry in &sources.entries {
        out.push((entry.title.trim().to_owned(), Some(entry.body.trim().to_owned())));
    }
    if let Some(topic) = &sources.topic {
        out.extend(topic.questions.iter().take(2).map(|q| (q.clone(), None)));
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(q, _)| seen.insert(q.to_lowercase()));
    out.truncate(FAQ_MAX_QUESTIONS);
    debug_assert!(sources.items.is_empty() || out.len() >= FAQ_MIN_QUESTIONS);
    out
}

/// The e-mail's one call to action: a label by the first item's kind, linking to its page.
fn call_to_action(request: &WriteRequest) -> (String, Option<String>) {
    let item = request.sources.items.iter().find(|i| i.url.is_some());
    let label = match (request.language, item.map(|i| i.kind)) {
        (Language::En, Some(ItemKind::Course)) => "Enrol now",
        (Language::En, Some(ItemKind::Product)) => "Shop now",
        (Language::En, None) => "Learn more",
        (Language::Zh, Some(ItemKind::Course)) => "立即报名",
        (Language::Zh, Some(ItemKind::Product)) => "立即购买",
        (Language::Zh, None) => "了解更多",
    };
    let link = item
        .and_then(|i| i.url.clone())
        .or_else(|| request.sources.entries.iter().find_map(|e| e.url.clone()));
    (label.into(), link)
}

/// A line without list marks, emphasis, quotes, markup or a label such as `Headline:`.
fn clean_line(line: &str) -> String {
    let line = line.trim().trim_start_matches(['#', '-', '*', '>', ' ']).trim();
    let line = without_markup(&line.replace("**", ""));
    let line = line.trim_matches(['"', '\u{201c}', '\u{201d}', '「', '」', ' ']).trim();
    without_form_label(line).to_owned()
}

/// A text without the markup a model slips in ("<br>", "</b>", a "<br" cut off at the end).
fn without_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        let after = &rest[at + 1..];
        if !after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/') {
            out.push_str(&rest[..=at]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        rest = after.find('>').map_or("", |end| &after[end + 1..]);
    }
    out.push_str(rest);
    out.trim().to_owned()
}

/// A line the model labelled as a paragraph ("## Paragraph 2: ..."): its text.
fn labelled_paragraph(line: &str) -> Option<String> {
    let cleaned = line.trim().trim_start_matches(['#', ' ']).trim();
    let lower = cleaned.to_lowercase();
    let rest = lower.strip_prefix("paragraph")?;
    let rest = rest.trim_start().trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
    let after = rest.strip_prefix(':').or_else(|| rest.strip_prefix('：'))?;
    let text = cleaned.get(cleaned.len().saturating_sub(after.len())..)?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A heading without the form's own label the model wrote before it ("Heading 2: Costs",
/// "Title：配送"), which would read as a number or a name the sources lack.
fn without_form_label(line: &str) -> &str {
    let lower = line.to_lowercase();
    for label in ["section title", "heading", "section", "title", "标题"] {
        if let Some(rest) = lower.strip_prefix(label) {
            let digits = rest.trim_start().trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
            if let Some(after) = digits.strip_prefix(':').or_else(|| digits.strip_prefix('：')) {
                let cut = line.len() - after.len();
                return line[cut..].trim();
            }
        }
    }
    line
}

/// `line`'s text after `label:` (any case, full-width colon too), if it starts with one of
/// `labels`.
fn labelled(line: &str, labels: &[&str]) -> Option<String> {
    let cleaned = line.trim().trim_start_matches(['#', '-', '*', ' ']).replace("**", "");
    let lower = cleaned.to_lowercase();
    for label in labels {
        if let Some(rest) = lower.strip_prefix(label) {
            let rest_at = cleaned.len() - rest.len();
            let rest = cleaned[rest_at..].trim_start();
            if let Some(value) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('：')) {
                return Some(clean_line(value));
            }
        }
    }
    None
}

/// How the prompt labels an FAQ entry among the sources ([`Sources::prompt_text`]).
const SOURCE_LABEL: &str = "FAQ entry: ";

/// Every label of an e-mail's form.
const EMAIL_LABELS: &[&str] =
    &["subject", "主题", "邮件主题", "preheader", "预览", "预览文本", "body", "正文"];

/// The text after the first line labelled with one of `labels`, or, when that line holds only
/// the label ("预览："), the next line if it carries none of the form's `all` labels.
fn labelled_value(lines: &[&str], labels: &[&str], all: &[&str]) -> Option<String> {
    let at = lines.iter().position(|l| labelled(l, labels).is_some())?;
    let value = labelled(lines[at], labels).unwrap_or_default();
    if !value.is_empty() {
        return Some(value);
    }
    lines.get(at + 1).filter(|next| labelled(next, all).is_none()).map(|next| clean_line(next))
}

/// The model's text of a unit as parts, fitted to the limits.
fn shape(shape: &Shape, text: &str) -> Vec<Part> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    match shape {
        Shape::Ad { .. } => {
            let headline = lines.iter().find_map(|l| labelled(l, &["headline", "标题"]));
            let description = lines.iter().find_map(|l| labelled(l, &["description", "描述", "广告描述"]));
            // Lines about the ad rather than of it ("This ad highlights ...") are dropped.
            let lines: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| {
                    let lower = clean_line(l).to_lowercase();
                    !["this ad", "this headline", "note", "here is", "here's"]
                        .iter()
                        .any(|m| lower.starts_with(m))
                })
                .collect();
            let (headline, description) = match (headline, description) {
                (Some(h), Some(d)) => (h, d),
                _ if lines.len() >= 2 => (clean_line(lines[0]), clean_line(lines[1])),
                // One line "Name: what it does" is a headline and its description.
                _ if lines.len() == 1 => match clean_line(lines[0]).split_once([':', '：']) {
                    Some((h, d)) if !h.trim().is_empty() && !d.trim().is_empty() => {
                        (h.trim().to_owned(), d.trim().to_owned())
                    }
                    _ => return Vec::new(),
                },
                _ => return Vec::new(),
            };
            // A description that only fits cut inside a sentence is not taken: the try is
            // written again (then made from the sources).
            let Some(description) = fit_sentences(&description, AD_DESCRIPTION_CHARS) else {
                return Vec::new();
            };
            vec![
                Part::new(PartRole::Headline, fit(headline.trim_end_matches(['.', '。']), AD_HEADLINE_CHARS)),
                Part::new(PartRole::Description, description),
            ]
        }
        Shape::Social => {
            // Quotes around each line go: a small model writes several posts, each quoted.
            let post = lines
                .iter()
                .map(|l| labelled(l, &["post", "帖子"]).unwrap_or_else(|| l.trim().to_owned()))
                .map(|l| {
                    l.replace("**", "").trim().trim_matches(['"', '\u{201c}', '\u{201d}']).trim().to_owned()
                })
                .collect::<Vec<_>>()
                .join("\n");
            // Likewise a post that fits only cut inside a sentence.
            let post = with_hashtags_at_most(post.trim_matches('"'), SOCIAL_HASHTAGS);
            // A sentence written twice is said once (small models end a post with its opening).
            let mut said = std::collections::HashSet::new();
            let post = kept_sentences(&post, |sentence| {
                let key = text_key(sentence);
                key.is_empty() || said.insert(key)
            });
            fit_sentences(&post, SOCIAL_CHARS)
                .map(|post| vec![Part::new(PartRole::Post, post)])
                .unwrap_or_default()
        }
        Shape::Email => {
            let subject = labelled_value(&lines, &["subject", "主题", "邮件主题"], EMAIL_LABELS);
            let preheader = labelled_value(&lines, &["preheader", "预览", "预览文本"], EMAIL_LABELS);
            let body_at = lines.iter().position(|l| {
                labelled(l, &["body", "正文"]).is_some() || l.trim().eq_ignore_ascii_case("body:")
            });
            let body_lines: Vec<String> = match body_at {
                Some(at) => {
                    let inline = labelled(lines[at], &["body", "正文"]).filter(|t| !t.is_empty());
                    // The body ends where the model starts its form again ("预览：", "正文：").
                    let rest = lines[at + 1..].iter().take_while(|l| labelled(l, EMAIL_LABELS).is_none());
                    inline.into_iter().chain(rest.map(|l| (*l).to_owned())).collect()
                }
                None => lines
                    .iter()
                    .copied()
                    .filter(|l| labelled(l, EMAIL_LABELS).is_none())
                    // A value written under its label's line is not the body's.
                    .filter(|l| ![&subject, &preheader].contains(&&Some(clean_line(l))))
                    .map(str::to_owned)
                    .collect(),
            };
            let body = without_links_and_signature(&body_lines.join("\n\n"));
            let mut parts = Vec::new();
            // A subject or preheader too long for its limit is not cut mid-phrase: the try is
            // written again.
            for (role, text, max) in [
                (PartRole::Subject, subject, EMAIL_SUBJECT_CHARS),
                (PartRole::Preheader, preheader, EMAIL_PREHEADER_CHARS),
            ] {
                match text.map(|t| fit_sentences(&t, max)) {
                    Some(Some(fitted)) => parts.push(Part::new(role, fitted)),
                    Some(None) => return Vec::new(),
                    None => {}
                }
            }
            parts.push(Part::new(PartRole::Body, fit_words(&body, EMAIL_BODY_WORDS)));
            parts
        }
        Shape::Blog | Shape::Section => {
            let mut parts = Vec::new();
            let mut paragraph = String::new();
            let flush = |paragraph: &mut String, parts: &mut Vec<Part>| {
                let text = paragraph.trim().to_owned();
                if !text.is_empty() {
                    parts.push(Part::new(PartRole::Paragraph, text));
                }
                paragraph.clear();
            };
            for line in text.lines() {
                let trimmed = line.trim();
                if trimmed.is_empty() {
                    flush(&mut paragraph, &mut parts);
                } else if let Some(title) = trimmed.strip_prefix("# ") {
                    flush(&mut paragraph, &mut parts);
                    if matches!(shape, Shape::Blog) && !parts.iter().any(|p| p.role == PartRole::Title) {
                        parts.push(Part::new(PartRole::Title, fit(&clean_line(title), BLOG_TITLE_CHARS)));
                    } else {
                        parts.push(Part::new(PartRole::Heading, clean_line(title)));
                    }
                } else if let Some(text) = labelled_paragraph(trimmed) {
                    flush(&mut paragraph, &mut parts);
                    paragraph.push_str(&text);
                    flush(&mut paragraph, &mut parts);
                } else if trimmed.starts_with("##") {
                    flush(&mut paragraph, &mut parts);
                    parts.push(Part::new(PartRole::Heading, clean_line(trimmed)));
                } else if let Some(title) = labelled(trimmed, &["title", "标题"]).filter(|_| parts.is_empty())
                {
                    parts.push(Part::new(PartRole::Title, fit(&title, BLOG_TITLE_CHARS)));
                } else {
                    if !paragraph.is_empty() {
                        paragraph.push('\n');
                    }
                    // The label of the prompt's source blocks, copied with a source's question.
                    paragraph.push_str(&trimmed.replacen(SOURCE_LABEL, "", 1));
                }
            }
            flush(&mut paragraph, &mut parts);
            // A post that did not start with its title takes its first heading as one.
            if matches!(shape, Shape::Blog) && !parts.iter().any(|p| p.role == PartRole::Title) {
                if let Some(first) = parts.iter_mut().find(|p| p.role == PartRole::Heading) {
                    first.role = PartRole::Title;
                    first.text = fit(&first.text, BLOG_TITLE_CHARS);
                }
            }
            if matches!(shape, Shape::Section) {
                parts.retain(|p| p.role != PartRole::Title);
            }
            parts
        }
        Shape::Answer { question, known } => {
            let answer = lines
                .iter()
                .map(|l| labelled(l, &["answer", "回答", "答"]).unwrap_or_else(|| l.trim().to_owned()))
                .collect::<Vec<_>>()
                .join(" ");
            // An answer that leaves out what the sources answer ("您好，很高兴您来到
            // Brightwave" to "what is it?") or fits only cut inside a sentence is written again.
            if known.as_deref().is_some_and(|known| !keeps_known(&answer, known, question)) {
                return Vec::new();
            }
            fit_sentences(&answer, FAQ_ANSWER_CHARS)
                .map(|answer| {
                    vec![Part::new(PartRole::Question, question.clone()), Part::new(PartRole::Answer, answer)]
                })
                .unwrap_or_default()
        }
    }
}

/// An e-mail body without the sentences holding links (the e-mail's one link is its call to
/// action) and without a signature the model added anyway (the code adds the company's).
fn without_links_and_signature(body: &str) -> String {
    let mut paragraphs: Vec<String> = body
        .split("\n\n")
        .map(|paragraph| {
            sentences(paragraph)
                .into_iter()
                .filter(|s| super::links_in(s) == 0)
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .filter(|p| !p.is_empty())
        .collect();
    while let Some(last) = paragraphs.last() {
        let lower = last.to_lowercase();
        let signature =
            ["best regards", "kind regards", "regards", "sincerely", "cheers", "best,", "此致", "敬礼"]
                .iter()
                .any(|s| lower.starts_with(s))
                || lower.starts_with('[')
                || (word_count(last) <= 4
                    && paragraphs.len() > 1
                    && !last.ends_with(['.', '!', '?', '。', '！', '？']));
        if !signature {
            break;
        }
        paragraphs.pop();
    }
    paragraphs.join("\n\n")
}

/// A blog post without what a small model wrote twice: a section under a heading it already
/// had, a sentence it already wrote, word for word or nearly (more than half its runs of
/// words said before; small models loop within a paragraph too, and copy a source's sentence
/// into two sections), a paragraph left with no sentence, and a heading left with no text.
fn without_repeats(parts: &mut Vec<Part>) {
    // A list's item repeats a sentence whatever its number.
    let key = |text: &str| {
        let text = text.trim_start();
        let unnumbered = text
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .strip_prefix(['.', ')'])
            .filter(|_| text.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or(text);
        text_key(unnumbered)
    };
    let mut headings = std::collections::HashSet::new();
    let mut said = std::collections::HashSet::new();
    // The runs of words of the sentences kept so far: a sentence most of whose runs are in
    // them says an earlier one again in nearly its words.
    let mut said_runs = std::collections::HashSet::new();
    let mut skipping = false;
    parts.retain_mut(|part| match part.role {
        PartRole::Heading => {
            skipping = !headings.insert(key(&part.text));
            !skipping
        }
        PartRole::Paragraph if !skipping => {
            let kept = kept_sentences(&part.text, |sentence| {
                let sentence_key = key(sentence);
                if sentence_key.is_empty() {
                    return true;
                }
                let own = runs(sentence);
                if mostly_in(&own, &said_runs) || !said.insert(sentence_key) {
                    return false;
                }
                said_runs.extend(own);
                true
            });
            part.text = kept.trim().to_owned();
            !part.text.is_empty()
        }
        PartRole::Paragraph => false,
        _ => true,
    });
    without_empty_headings(parts);
}

/// What makes two headings or sentences the same: their letters and digits, lowercase.
fn text_key(text: &str) -> String {
    text.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Parts without a heading that no paragraph follows.
fn without_empty_headings(parts: &mut Vec<Part>) {
    let mut at = 0;
    while at < parts.len() {
        let empty_heading = parts[at].role == PartRole::Heading
            && parts.get(at + 1).is_none_or(|next| next.role != PartRole::Paragraph);
        if empty_heading {
            parts.remove(at);
        } else {
            at += 1;
        }
    }
}

/// A blog post within [`BLOG_MAX_WORDS`]: paragraphs dropped from the end (with a heading left
/// without text), the last kept one cut at a sentence end.
fn trim_blog(parts: &mut Vec<Part>) {
    while word_count_of(parts) > BLOG_MAX_WORDS {
        let over = word_count_of(parts) - BLOG_MAX_WORDS;
        let Some(last) = parts.last_mut() else { return };
        let words = word_count(&last.text);
        if last.role == PartRole::Paragraph && words > over + 20 {
            last.text = fit_words(&last.text, words - over);
            continue;
        }
        parts.pop();
    }
    without_empty_headings(parts);
}
