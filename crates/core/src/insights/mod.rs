//! What visitors ask and what the knowledge base lacks: the questions of a period grouped into
//! topics by meaning, the topics the FAQ serves badly ranked as content gaps, and for each gap a
//! suggested FAQ entry drafted only from what human agents replied (never invented), with the
//! conversations it came from.
//!
//! Everything here is a pure function over questions already read from the store and their
//! vectors, so it runs on the blocking pool and is tested without a model. Questions the model
//! cannot place (Chinese text under an English-only embedding model) are grouped by their words
//! instead ([`lexical_vectors`]), each kind of vector clustered on its own.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{is_cjk, item_words};
use crate::chat::is_decline;
use crate::model::{FeedbackValue, Message, Role};

#[cfg(test)]
mod tests;

/// How a question was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The assistant answered from the knowledge base.
    Answered,
    /// The assistant recommended catalogue items.
    Recommended,
    /// The assistant found no answer.
    Declined,
    /// A person replied.
    HandedOff,
    /// Nothing replied (yet).
    Unanswered,
}

/// One visitor question with what followed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// The conversation.
    pub conversation_id: String,
    /// The visitor's message.
    pub message_id: String,
    /// What the visitor typed (as stored: personal details already redacted or masked).
    pub text: String,
    /// When, ms since the epoch.
    pub created_ms: i64,
    /// How it was served.
    pub outcome: Outcome,
    /// The visitor's rating of the answer.
    pub feedback: Option<FeedbackValue>,
    /// The comment given with a thumbs down.
    pub comment: Option<String>,
    /// What the human agent replied, when one did before the visitor's next question.
    pub agent_reply: Option<String>,
    /// The entry the answer cited first: (entry id, its title).
    pub cited: Option<(String, String)>,
}

impl Asked {
    /// Whether the knowledge base failed this question: declined, handed to a person, or
    /// rated down.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Declined | Outcome::HandedOff)
            || self.feedback == Some(FeedbackValue::Down)
    }
}

/// Longest agent reply kept as the draft of an answer.
const MAX_REPLY_CHARS: usize = 2_000;

/// The visitor questions of a conversation, each with what followed it up to the next one.
pub fn questions_of(conversation_id: &str, messages: &[Message]) -> Vec<Asked> {
    let mut out: Vec<Asked> = Vec::new();
    for message in messages {
        match message.role {
            Role::Visitor => out.push(Asked {
                conversation_id: conversation_id.to_owned(),
                message_id: message.id.clone(),
                text: message.text.trim().to_owned(),
                created_ms: message.created_ms,
                outcome: Outcome::Unanswered,
                feedback: None,
                comment: None,
                agent_reply: None,
                cited: None,
            }),
            Role::Assistant => {
                let Some(last) = out.last_mut() else { continue };
                if last.outcome == Outcome::Unanswered {
                    last.outcome = if is_decline(&message.text) {
                        Outcome::Declined
                    } else if message.cards.is_empty() {
                        Outcome::Answered
                    } else {
                        Outcome::Recommended
                    };
                    last.cited = message.sources.first().map(|s| (s.entry_id.clone(), s.title.clone()));
                }
                if let Some(feedback) = &message.feedback {
                    last.feedback = Some(feedback.value);
                    last.comment.clone_from(&feedback.comment);
                }
            }
            Role::Agent => {
                let Some(last) = out.last_mut() else { continue };
                last.outcome = Outcome::HandedOff;
                let reply = last.agent_reply.get_or_insert_with(String::new);
                if reply.chars().count() < MAX_REPLY_CHARS {
                    if !reply.is_empty() {
                        reply.push('\n');
                    }
                    reply.extend(message.text.trim().chars().take(MAX_REPLY_CHARS));
                }
            }
            Role::System => {}
        }
    }
    out.retain(|a| !a.text.is_empty());
    out
}

/// A question's words as the clustering compares them: lower case, letters and digits only.
pub fn normalise(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Greetings and courtesies visitors wrap a question in, which say nothing about its topic
/// (matched at the start or the end, case-insensitively, with the punctuation around them).
const COURTESIES: &[&str] = &[
    "hi there",
    "hello there",
    "hey there",
    "good morning",
    "good afternoon",
    "good evening",
    "dear team",
    "hi",
    "hello",
    "hey",
    "hiya",
    "thank you very much",
    "thank you",
    "thanks a lot",
    "many thanks",
    "thanks",
    "thx",
    "please",
    "pls",
    "quick question",
    "您好",
    "你好",
    "嗨",
    "请问",
    "谢谢",
    "麻烦了",
    "谢啦",
];

/// The question without the greetings and courtesies around it (`hi, can I pay later? thanks`
/// becomes `can I pay later?`): what the question is about, for grouping and for naming a
/// topic. A text that is nothing but courtesy is kept as it is.
pub fn core_question(text: &str) -> String {
    let is_gap = |c: char| {
        c.is_whitespace() || matches!(c, ',' | '!' | '.' | ':' | ';' | '-' | '，' | '！' | '。' | '：' | '、')
    };
    let mut rest = text.trim_matches(is_gap);
    loop {
        let before = rest;
        for courtesy in COURTESIES {
            // At the start: the courtesy must end there (a word, not the start of one).
            if let Some(head) = rest.get(..courtesy.len()) {
                let after = &rest[courtesy.len()..];
                if head.eq_ignore_ascii_case(courtesy)
                    && (after.is_empty() || after.starts_with(is_gap) || courtesy.chars().any(is_cjk))
                {
                    rest = after.trim_start_matches(is_gap);
                }
            }
            // At the end, before a closing question mark if any (dropped with it).
            let body = rest.trim_end_matches(['?', '？']).trim_end_matches(is_gap);
            if body.len() >= courtesy.len() && body.is_char_boundary(body.len() - courtesy.len()) {
                let (stem, tail) = body.split_at(body.len() - courtesy.len());
                if tail.eq_ignore_ascii_case(courtesy)
                    && (stem.is_empty() || stem.ends_with(is_gap) || courtesy.chars().any(is_cjk))
                {
                    rest = stem.trim_end_matches(is_gap);
                }
            }
        }
        rest = rest.trim_matches(is_gap);
        if rest == before {
            break;
        }
    }
    if rest.chars().any(char::is_alphanumeric) {
        rest.to_owned()
    } else {
        text.trim().to_owned()
    }
}

/// Whether a text is written mostly in Chinese characters.
pub fn mostly_cjk(text: &str) -> bool {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).collect();
    !letters.is_empty() && letters.iter().filter(|c| is_cjk(**c)).count() * 2 >= letters.len()
}

/// Dimensions of a [`lexical_vectors`] vector.
pub const LEXICAL_DIMENSIONS: usize = 1_024;

/// Documents assumed besides the texts when weighing a word by its rarity: among a handful of
/// questions on one topic every word looks common, so a word is taken for common only when
/// many questions have it.
const PRIOR_DOCUMENTS: f32 = 50.0;

/// The features a text is compared by: its [`item_words`] (stemmed words, Chinese character
/// pairs) and its Chinese characters one by one (short Chinese questions on one topic often
/// share a character more than a pair: 包装, 礼物).
fn lexical_features(text: &str) -> Vec<String> {
    let mut features: Vec<String> = item_words(text).into_iter().collect();
    let mut single: Vec<String> = text.chars().filter(|c| is_cjk(*c)).map(|c| format!("1:{c}")).collect();
    single.sort();
    single.dedup();
    features.extend(single);
    features
}

/// Vectors of texts by their [`lexical_features`], each weighted by its rarity among these
/// texts (so "how", "do" and "吗" weigh little), hashed into [`LEXICAL_DIMENSIONS`] and of unit
/// length.
pub fn lexical_vectors(texts: &[&str]) -> Vec<Vec<f32>> {
    let words: Vec<Vec<String>> = texts.iter().map(|t| lexical_features(t)).collect();
    let mut document_frequency: HashMap<&str, usize> = HashMap::new();
    for list in &words {
        for word in list {
            *document_frequency.entry(word.as_str()).or_default() += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let n = texts.len() as f32 + PRIOR_DOCUMENTS;
    words
        .iter()
        .map(|list| {
            let mut vector = vec![0.0_f32; LEXICAL_DIMENSIONS];
            for word in list {
                #[allow(clippy::cast_precision_loss)]
                let df = document_frequency.get(word.as_str()).copied().unwrap_or(1) as f32;
                let digest = Sha256::digest(word.as_bytes());
                let slot = usize::from(u16::from_le_bytes([digest[0], digest[1]])) % LEXICAL_DIMENSIONS;
                vector[slot] += (n / (df + 1.0)).ln();
            }
            unit(&mut vector);
            vector
        })
        .collect()
}

fn unit(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The dot product (the cosine of unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Groups unit vectors by meaning without being told how many groups: each point, the heaviest
/// first, joins the group whose centre is nearest if the cosine to it reaches `threshold`, or
/// starts a new group; then every point moves to its nearest centre once more (so an early
/// point is not stuck with a group that grew away from it), and groups whose centres come
/// halfway between `threshold` and 1 of each other merge. `weights` count identical questions. Returns the
/// groups, largest first, as indices into `vectors`. O(points × groups × dimensions).
pub fn cluster(vectors: &[Vec<f32>], weights: &[u32], threshold: f32) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..vectors.len()).collect();
    order.sort_by(|&a, &b| weights.get(b).cmp(&weights.get(a)).then(a.cmp(&b)));
    let weight =
        |i: usize| f32::from(u16::try_from(weights.get(i).copied().unwrap_or(1)).unwrap_or(u16::MAX));
    // Running sums of each group's vectors, and their unit-length centres.
    let mut sums: Vec<Vec<f32>> = Vec::new();
    let mut centres: Vec<Vec<f32>> = Vec::new();
    let nearest = |centres: &[Vec<f32>], vector: &[f32]| {
        centres
            .iter()
            .enumerate()
            .map(|(g, c)| (g, dot(c, vector)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
    };
    for &i in &order {
        let vector = &vectors[i];
        match nearest(&centres, vector) {
            Some((g, cosine)) if cosine >= threshold => {
                sums[g].iter_mut().zip(vector).for_each(|(s, v)| *s += v * weight(i));
                centres[g].clone_from(&sums[g]);
                unit(&mut centres[g]);
            }
            _ => {
                let sum: Vec<f32> = vector.iter().map(|v| v * weight(i)).collect();
                let mut centre = sum.clone();
                unit(&mut centre);
                sums.push(sum);
                centres.push(centre);
            }
        }
    }
    // Once more, every point to its nearest centre.
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); centres.len()];
    for &i in &order {
        if let Some((g, _)) = nearest(&centres, &vectors[i]) {
            groups[g].push(i);
        }
    }
    groups.retain(|g| !g.is_empty());
    // Groups whose centres are as close as two paraphrases merge.
    let centre_of = |group: &[usize]| {
        let mut centre = vec![0.0_f32; vectors.first().map_or(0, Vec::len)];
        for &i in group {
            centre.iter_mut().zip(&vectors[i]).for_each(|(c, v)| *c += v * weight(i));
        }
        unit(&mut centre);
        centre
    };
    // Each pass merges every pair it finds (into the earlier group), then the centres are
    // worked out again; a few passes settle it. A centre averages many questions, so two
    // topics' centres sit closer than their questions do: they merge only when they are
    // halfway from the joining threshold to identical, or the merging would chain topics.
    let merge_at = f32::midpoint(threshold, 1.0);
    loop {
        let centres: Vec<Vec<f32>> = groups.iter().map(|g| centre_of(g)).collect();
        let mut into: Vec<usize> = (0..groups.len()).collect();
        let mut merges = 0;
        for a in 0..groups.len() {
            if into[a] != a {
                continue;
            }
            for b in a + 1..groups.len() {
                if into[b] == b && dot(&centres[a], &centres[b]) >= merge_at {
                    into[b] = a;
                    merges += 1;
                }
            }
        }
        if merges == 0 {
            break;
        }
        let mut merged: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
        for (g, members) in groups.into_iter().enumerate() {
            merged[into[g]].extend(members);
        }
        merged.retain(|g| !g.is_empty());
        groups = merged;
    }
    let total =
        |g: &Vec<usize>| g.iter().map(|&i| u64::from(weights.get(i).copied().unwrap_or(1))).sum::<u64>();
    groups.sort_by(|a, b| total(b).cmp(&total(a)).then(a.cmp(b)));
    groups
}

/// A question shown as an example of a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The question as typed.
    pub question: String,
    /// Its conversation.
    pub conversation_id: String,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// Questions grouped by meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    /// Stable while its most central question stays the same.
    pub id: String,
    /// Its most central question.
    pub label: String,
    /// Questions in the period.
    pub questions: u64,
    /// Conversations they were asked in.
    pub conversations: u64,
    /// Questions answered from the knowledge base.
    pub answered: u64,
    /// Questions answered with recommendations.
    pub recommended: u64,
    /// Questions the assistant declined.
    pub declined: u64,
    /// Questions a person replied to.
    pub handed_off: u64,
    /// Answers rated up.
    pub thumbs_up: u64,
    /// Answers rated down.
    pub thumbs_down: u64,
    /// Questions on the topic in the period before, of the same length.
    pub previous: u64,
    /// Change against the previous period (0.5 is 50 % more); none when it had none.
    pub trend: Option<f64>,
    /// How badly the FAQ serves it: failed questions × their share.
    pub gap_score: f64,
    /// Up to three questions, the most central first.
    pub examples: Vec<Example>,
    /// Thumbs-down comments given on it.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub comments: Vec<String>,
    /// `model` or `words`: which vectors grouped it.
    pub grouped_by: String,
    /// Its centre, for telling the same topic again (not sent to clients).
    #[serde(skip)]
    pub centre: Vec<f32>,
    /// Its questions, most central first (not sent to clients; see [`Topic::examples`]).
    #[serde(skip)]
    pub members: Vec<usize>,
}

/// Questions of a period with their vectors, as [`topics`] takes them.
pub struct Period<'a> {
    /// The questions.
    pub asked: &'a [Asked],
    /// Each question's vector from the embedding model (of its [`core_question`]), or `None`
    /// where the model cannot place it (it is then grouped by its words).
    pub vectors: &'a [Option<Vec<f32>>],
}

/// Cosine at or above which two questions (or a question and a topic's centre) mean the same,
/// for the embedding model's vectors and for word vectors.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// For the model's vectors.
    pub model: f32,
    /// For word vectors.
    pub words: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { model: 0.55, words: 0.3 }
    }
}

impl Thresholds {
    /// The default thresholds for a model whose cosines sit on `scale`.
    pub fn for_scale(scale: crate::retrieve::CosineScale) -> Self {
        let reference = Self::default();
        Self { model: scale.raw(reference.model), ..reference }
    }
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(normalise(text).as_bytes())[..6])
}

/// The topics of `current`, largest first, with their trend against `previous`.
pub fn topics(current: &Period<'_>, previous: &Period<'_>, thresholds: Thresholds) -> Vec<Topic> {
    let mut out = Vec::new();
    for by_model in [true, false] {
        let threshold = if by_model { thresholds.model } else { thresholds.words };
        let pick = |period: &Period<'_>| -> Vec<usize> {
            (0..period.asked.len())
                .filter(|&i| period.vectors.get(i).is_some_and(Option::is_some) == by_model)
                .collect()
        };
        let (now, before) = (pick(current), pick(previous));
        if now.is_empty() {
            continue;
        }
        // Identical questions are one point, weighed by how often they were asked.
        let mut distinct: Vec<(String, Vec<usize>)> = Vec::new();
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        for &i in &now {
            let key = normalise(&core_question(&current.asked[i].text));
            let slot = *slot_of.entry(key.clone()).or_insert_with(|| {
                distinct.push((key, Vec::new()));
                distinct.len() - 1
            });
            distinct[slot].1.push(i);
        }
        let (vectors, previous_vectors): (Vec<Vec<f32>>, Vec<Vec<f32>>) = if by_model {
            let of = |period: &Period<'_>, i: usize| period.vectors[i].clone().unwrap_or_default();
            (
                distinct.iter().map(|(_, members)| of(current, members[0])).collect(),
                before.iter().map(|&i| of(previous, i)).collect(),
            )
        } else {
            // Word weights come from both periods together, so their vectors compare.
            let texts: Vec<String> = distinct
                .iter()
                .map(|(_, members)| core_question(&current.asked[members[0]].text))
                .chain(before.iter().map(|&i| core_question(&previous.asked[i].text)))
                .collect();
            let mut all = lexical_vectors(&texts.iter().map(String::as_str).collect::<Vec<_>>());
            let rest = all.split_off(distinct.len());
            (all, rest)
        };
        let weights: Vec<u32> =
            distinct.iter().map(|(_, m)| u32::try_from(m.len()).unwrap_or(u32::MAX)).collect();
        for group in cluster(&vectors, &weights, threshold) {
            let mut centre = vec![0.0_f32; vectors.first().map_or(0, Vec::len)];
            for &d in &group {
                #[allow(clippy::cast_precision_loss)]
                let w = weights[d] as f32;
                centre.iter_mut().zip(&vectors[d]).for_each(|(c, v)| *c += v * w);
            }
            unit(&mut centre);
            let mut ranked = group.clone();
            ranked.sort_by(|&a, &b| {
                dot(&vectors[b], &centre).total_cmp(&dot(&vectors[a], &centre)).then(a.cmp(&b))
            });
            let members: Vec<usize> = ranked.iter().flat_map(|&d| distinct[d].1.iter().copied()).collect();
            let prior = previous_vectors.iter().filter(|v| dot(v, &centre) >= threshold).count() as u64;
            let central: Vec<usize> = ranked.iter().map(|&d| distinct[d].1[0]).collect();
            out.push(topic_of(current.asked, members, &central, centre, prior, by_model));
        }
    }
    out.sort_by(|a, b| b.questions.cmp(&a.questions).then_with(|| a.label.cmp(&b.label)));
    out
}

/// A topic's figures from its questions (`members`, most central first; `central`, one per
/// distinct question). `previous` counts the earlier period's questions within the threshold of
/// its centre: one near two topics counts for both, rare at these thresholds (a trend, not a
/// ledger).
fn topic_of(
    asked: &[Asked],
    members: Vec<usize>,
    central: &[usize],
    centre: Vec<f32>,
    previous: u64,
    by_model: bool,
) -> Topic {
    let count = |f: &dyn Fn(&Asked) -> bool| members.iter().filter(|&&i| f(&asked[i])).count() as u64;
    let questions = members.len() as u64;
    let conversations =
        members.iter().map(|&i| asked[i].conversation_id.as_str()).collect::<HashSet<_>>().len() as u64;
    let failed = count(&|a| a.failed());
    #[allow(clippy::cast_precision_loss)]
    let gap_score = if questions == 0 { 0.0 } else { failed as f64 * failed as f64 / questions as f64 };
    #[allow(clippy::cast_precision_loss)]
    let trend = (previous > 0).then(|| (questions as f64 - previous as f64) / previous as f64);
    let label = core_question(&asked[central[0]].text);
    let examples = central
        .iter()
        .take(3)
        .map(|&i| Example {
            question: asked[i].text.clone(),
            conversation_id: asked[i].conversation_id.clone(),
            at_ms: asked[i].created_ms,
        })
        .collect();
    let comments = members
        .iter()
        .filter_map(|&i| asked[i].comment.clone())
        .filter(|c| !c.trim().is_empty())
        .take(5)
        .collect();
    Topic {
        id: format!("t-{}", short_hash(&label)),
        label,
        questions,
        conversations,
        answered: count(&|a| a.outcome == Outcome::Answered),
        recommended: count(&|a| a.outcome == Outcome::Recommended),
        declined: count(&|a| a.outcome == Outcome::Declined),
        handed_off: count(&|a| a.outcome == Outcome::HandedOff),
        thumbs_up: count(&|a| a.feedback == Some(FeedbackValue::Up)),
        thumbs_down: count(&|a| a.feedback == Some(FeedbackValue::Down)),
        previous,
        trend,
        gap_score,
        examples,
        comments,
        grouped_by: if by_model { "model" } else { "words" }.to_owned(),
        centre,
        members,
    }
}

/// A conversation a suggestion came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The conversation.
    pub conversation_id: String,
    /// The visitor's question.
    pub question: String,
    /// How it was served.
    pub outcome: Outcome,
    /// What the agent replied, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_reply: Option<String>,
    /// The thumbs-down comment, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Most conversations listed as a suggestion's evidence.
pub const MAX_EVIDENCE: usize = 8;

/// A suggested FAQ entry for a content gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The suggestion (from its topic's most central question).
    pub id: String,
    /// The topic it fills.
    pub topic_id: String,
    /// The question, phrased from the topic.
    pub question: String,
    /// The answer drafted from the agents' replies; `None` when no agent replied (the admin
    /// writes it: nothing is invented).
    pub answer: Option<String>,
    /// The existing entry this should improve rather than sit beside: (entry id, its title).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub improves: Option<ImprovedEntry>,
    /// The topic's gap score.
    pub gap_score: f64,
    /// Questions on the topic.
    pub questions: u64,
    /// The conversations it came from.
    pub evidence: Vec<Evidence>,
}

/// An existing entry a suggestion is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImprovedEntry {
    /// `document#anchor`.
    pub entry_id: String,
    /// The document.
    pub document_id: String,
    /// The entry's question.
    pub title: String,
}

/// The question of a topic, as an FAQ heading: the central question with a capital letter and
/// a question mark where it asks one.
pub fn phrase_question(label: &str) -> String {
    let text = label.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = text.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    let asks = mostly_cjk(&out)
        || out.split_whitespace().next().is_some_and(|w| {
            let w = w.to_lowercase();
            QUESTION_WORDS.contains(&w.as_str())
        });
    if asks && !out.ends_with(['?', '？', '.', '!', '。']) {
        out.push(if mostly_cjk(&out) { '？' } else { '?' });
    }
    out
}

const QUESTION_WORDS: &[&str] = &[
    "how", "what", "when", "where", "why", "who", "which", "can", "could", "do", "does", "did", "is", "are",
    "will", "would", "should", "may", "have", "has",
];

/// The answer agents gave on a topic: the reply given most often (by its words), the one to the
/// most central question on a tie; `None` when no agent replied, or replied only with
/// questions back.
pub fn drafted_answer(asked: &[Asked], members: &[usize]) -> Option<String> {
    let mut counts: BTreeMap<String, (usize, usize, String)> = BTreeMap::new();
    for (rank, &i) in members.iter().enumerate() {
        let Some(reply) = asked[i].agent_reply.as_deref().map(answering_lines).filter(|r| !r.is_empty())
        else {
            continue;
        };
        let entry = counts.entry(normalise(&reply)).or_insert((0, rank, reply));
        entry.0 += 1;
    }
    counts.into_values().max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1))).map(|(_, _, reply)| reply)
}

/// The messages of an agent's reply that answer: not a question back to the visitor ("This is
/// Ana, how can I help?", "Which order is it?"), which no FAQ entry should say.
fn answering_lines(reply: &str) -> String {
    reply
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.ends_with(['?', '？']))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The suggestion for a gap topic (one whose questions failed).
pub fn suggest(asked: &[Asked], topic: &Topic, improves: Option<ImprovedEntry>) -> Suggestion {
    let evidence = topic
        .members
        .iter()
        .filter(|&&i| asked[i].failed())
        .take(MAX_EVIDENCE)
        .map(|&i| Evidence {
            conversation_id: asked[i].conversation_id.clone(),
            question: asked[i].text.clone(),
            outcome: asked[i].outcome,
            agent_reply: asked[i].agent_reply.clone(),
            comment: asked[i].comment.clone(),
        })
        .collect();
    Suggestion {
        id: suggestion_id(topic),
        topic_id: topic.id.clone(),
        question: phrase_question(&topic.label),
        answer: drafted_answer(asked, &topic.members),
        improves,
        gap_score: topic.gap_score,
        questions: topic.questions,
        evidence,
    }
}

/// The id of the suggestion for a topic (from the same question as the topic's id).
pub fn suggestion_id(topic: &Topic) -> String {
    format!("s-{}", topic.id.trim_start_matches("t-"))
}

/// The topics ranked as content gaps: those with failed questions, worst first.
pub fn gaps(topics: &[Topic]) -> Vec<&Topic> {
    let mut gaps: Vec<&Topic> = topics.iter().filter(|t| t.gap_score > 0.0).collect();
    gaps.sort_by(|a, b| b.gap_score.total_cmp(&a.gap_score).then_with(|| a.label.cmp(&b.label)));
    gaps
}

/// What an admin decided about a suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Added to the knowledge base.
    Approved,
    /// Not wanted: not suggested again for the same topic.
    Dismissed,
}

/// A reviewed suggestion, kept so the same topic is not suggested again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The suggestion's id.
    pub suggestion_id: String,
    /// Approved or dismissed.
    pub decision: Decision,
    /// The question as approved (or as suggested, when dismissed).
    pub question: String,
    /// The answer as approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Where it went, when approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    /// `model` or `words`, as the topic's [`Topic::grouped_by`].
    pub grouped_by: String,
    /// The topic's centre then.
    pub centre: Vec<f32>,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// Whether a topic is one already reviewed: the same suggestion, or a centre as close as two
/// paraphrases to a reviewed topic's.
pub fn reviewed<'a>(topic: &Topic, reviews: &'a [Review], thresholds: Thresholds) -> Option<&'a Review> {
    let id = suggestion_id(topic);
    let threshold = if topic.grouped_by == "model" { thresholds.model } else { thresholds.words };
    reviews.iter().find(|r| {
        r.suggestion_id == id
            || (r.grouped_by == topic.grouped_by
                && r.centre.len() == topic.centre.len()
                && dot(&r.centre, &topic.centre) >= threshold)
    })
}

/// Vectors for visitor questions from the embedding model the search uses. Blocking: call it
/// on the blocking pool.
pub trait QuestionEmbedder: Send + Sync + 'static {
    /// Each text's unit vector, or `None` where the model cannot place it (Chinese text under
    /// an English-only model); a question seen before is not embedded again.
    fn embed_questions(&self, texts: &[&str]) -> crate::Result<Vec<Option<Vec<f32>>>>;

    /// The model's name: stored vectors are only compared with the same model's.
    fn model(&self) -> &str;

    /// Where the model's cosines sit, so [`Thresholds`] written on the reference scale hold.
    fn scale(&self) -> crate::retrieve::CosineScale {
        crate::retrieve::CosineScale::REFERENCE
    }
}

/// Where the reviews are kept: a document of the server's own beside the FAQ documents
/// ([`crate::documents::is_reserved_document`]), shared by every replica.
pub const REVIEWS_DOCUMENT: &str = "insights:reviews.json";

/// The stored vectors of one day's visitor questions: a document of the server's own per day
/// (`insights:vectors:YYYY-MM-DD`), so each question is embedded once, by whichever replica
/// holds the insights' lease, and survives restarts.
pub fn vectors_document(day: &str) -> String {
    format!("insights:vectors:{day}")
}

/// A unit vector kept in a byte per dimension (scaled so its largest component is ±127): a
/// quarter of the room, and cosines within about 0.01 of the original's.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantised {
    scale: f32,
    values: Vec<i8>,
}

impl Quantised {
    /// The vector in a byte per dimension.
    pub fn new(vector: &[f32]) -> Self {
        let largest = vector.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
        let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
        #[allow(clippy::cast_possible_truncation)]
        let values = vector.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8).collect();
        Self { scale, values }
    }

    /// The vector again, of unit length.
    pub fn vector(&self) -> Vec<f32> {
        let mut vector: Vec<f32> = self.values.iter().map(|v| f32::from(*v) * self.scale).collect();
        unit(&mut vector);
        vector
    }
}

/// A day's vectors as stored: the model's name and the dimensions on the first line, then per
/// question its message id's length (a byte), the id, the scale (`f32`, little-endian) and
/// the values.
pub fn encode_vectors(model: &str, vectors: &BTreeMap<String, Quantised>) -> Vec<u8> {
    let dimensions = vectors.values().next().map_or(0, |q| q.values.len());
    let mut out = format!("{model}\t{dimensions}\n").into_bytes();
    for (id, quantised) in vectors {
        let Ok(length) = u8::try_from(id.len()) else { continue };
        out.push(length);
        out.extend(id.as_bytes());
        out.extend(quantised.scale.to_le_bytes());
        out.extend(quantised.values.iter().map(|v| v.to_le_bytes()[0]));
    }
    out
}

/// The vectors of [`encode_vectors`], when they are `model`'s (another model's, or a damaged
/// document, give none: those questions are embedded again).
pub fn decode_vectors(bytes: &[u8], model: &str) -> BTreeMap<String, Quantised> {
    let mut out = BTreeMap::new();
    let Some(newline) = bytes.iter().position(|b| *b == b'\n') else { return out };
    let header = String::from_utf8_lossy(&bytes[..newline]);
    let Some((name, dimensions)) = header.split_once('\t') else { return out };
    let Ok(dimensions) = dimensions.parse::<usize>() else { return out };
    if name != model {
        return out;
    }
    let mut rest = &bytes[newline + 1..];
    while let Some((&length, tail)) = rest.split_first() {
        let length = usize::from(length);
        if tail.len() < length + 4 + dimensions {
            return BTreeMap::new();
        }
        let Ok(id) = std::str::from_utf8(&tail[..length]) else { return BTreeMap::new() };
        let scale = f32::from_le_bytes([tail[length], tail[length + 1], tail[length + 2], tail[length + 3]]);
        let values =
            tail[length + 4..length + 4 + dimensions].iter().map(|b| i8::from_le_bytes([*b])).collect();
        out.insert(id.to_owned(), Quantised { scale, values });
        rest = &tail[length + 4 + dimensions..];
    }
    out
}
