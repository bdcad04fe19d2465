//! `frontdesk eval`: how well retrieval finds the right FAQ entry and how well it knows when
//! there is none.
//!
//! The questions file has one question a line, `question<TAB>expected title<TAB>key facts`;
//! an empty title marks a question the knowledge base cannot answer, which the assistant
//! should decline. Key facts are what a correct answer contains: `;` between facts, `|`
//! between ways of writing one. Blank lines and lines starting with `#` are skipped.
//!
//! [`evaluate`] scores retrieval; [`evaluate_answers`] scores whole answers (through the chat
//! service, the model included) in one answer mode.

use std::fmt::Write as _;

use anyhow::{bail, Context};
use frontdesk_core::chat::faithful::{check_with, Evidence, MIN_SUPPORT};
use frontdesk_core::chat::followup::search_in_conversation;
use frontdesk_core::chat::{Answer, AnswerMode, ChatService};
use frontdesk_core::model::{Message, Role};
use frontdesk_core::retrieve::{Passage, Retriever};

/// One line of the questions file.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalQuestion {
    /// What a visitor typed.
    pub question: String,
    /// The title of the entry that answers it; `None` when nothing should.
    pub expected: Option<String>,
    /// Facts a correct answer contains, each with the ways it may be written (lowercase).
    pub key_facts: Vec<Vec<String>>,
}

impl EvalQuestion {
    /// Whether `answer` contains every key fact (in one of its ways, ignoring case).
    pub fn answered_by(&self, answer: &str) -> bool {
        let answer = answer.to_lowercase();
        self.key_facts.iter().all(|ways| ways.iter().any(|way| answer.contains(way.as_str())))
    }
}

/// Parses the questions file.
pub fn parse_questions(text: &str) -> anyhow::Result<Vec<EvalQuestion>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut columns = line.split('\t');
        let question = columns.next().unwrap_or_default();
        let expected = columns.next().unwrap_or_default().trim();
        let facts = columns.next().unwrap_or_default();
        if question.trim().is_empty() {
            bail!("line {}: empty question", n + 1);
        }
        let key_facts = facts
            .split(';')
            .map(|fact| {
                fact.split('|')
                    .map(|way| way.trim().to_lowercase())
                    .filter(|way| !way.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|ways| !ways.is_empty())
            .collect();
        out.push(EvalQuestion {
            question: question.trim().to_owned(),
            expected: (!expected.is_empty()).then(|| expected.to_owned()),
            key_facts,
        });
    }
    Ok(out)
}

/// Parses a dialogues file: the questions file's lines, a blank line ending each
/// conversation.
pub fn parse_dialogues(text: &str) -> anyhow::Result<Vec<Vec<EvalQuestion>>> {
    let mut dialogues = Vec::new();
    let mut block = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            let turns = parse_questions(&block)?;
            if !turns.is_empty() {
                dialogues.push(turns);
            }
            block.clear();
        } else {
            block.push_str(line);
            block.push('\n');
        }
    }
    Ok(dialogues)
}

/// How retrieval fared on the later turns of conversations, with the earlier questions used
/// (as the chat does) and with each question searched alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DialogueReport {
    /// Conversations.
    pub dialogues: usize,
    /// Their later turns (second and on).
    pub later_turns: usize,
    /// hit@1 of the later turns, searched in their conversation.
    pub hit_at_1: f64,
    /// hit@3 of the later turns, searched in their conversation.
    pub hit_at_3: f64,
    /// hit@1 of the later turns, each searched alone.
    pub alone_hit_at_1: f64,
    /// hit@3 of the later turns, each searched alone.
    pub alone_hit_at_3: f64,
    /// Share of later turns declined (top confidence below the threshold), in conversation.
    pub declined: f64,
    /// Later turns whose entry was not first, in conversation.
    pub misses: Vec<String>,
}

/// Scores retrieval on the later turns of `dialogues`.
pub async fn evaluate_dialogues(
    retriever: &dyn Retriever,
    dialogues: &[Vec<EvalQuestion>],
    decline_below: f32,
) -> anyhow::Result<DialogueReport> {
    let mut report = DialogueReport { dialogues: dialogues.len(), ..DialogueReport::default() };
    let (mut hits1, mut hits3, mut alone1, mut alone3, mut declined) = (0, 0, 0, 0, 0);
    for turns in dialogues {
        for (i, turn) in turns.iter().enumerate().skip(1) {
            let Some(expected) = &turn.expected else { continue };
            let earlier: Vec<&str> = turns[..i].iter().map(|t| t.question.as_str()).collect();
            let found =
                search_in_conversation(retriever, &earlier, &turn.question, 10, decline_below).await?;
            let alone = retriever.search(&turn.question, 10).await?;
            let rank =
                |passages: &[Passage]| passages.iter().position(|p| p.title.eq_ignore_ascii_case(expected));
            report.later_turns += 1;
            let (in_conversation, by_itself) = (rank(&found), rank(&alone));
            hits1 += usize::from(in_conversation == Some(0));
            hits3 += usize::from(in_conversation.is_some_and(|r| r < 3));
            alone1 += usize::from(by_itself == Some(0));
            alone3 += usize::from(by_itself.is_some_and(|r| r < 3));
            let confidence = found.first().map_or(0.0, |p| p.confidence);
            declined += usize::from(confidence < decline_below);
            if in_conversation != Some(0) {
                report.misses.push(format!(
                    "rank {} conf {confidence:.2}: {:?} after {:?} -> {:?} (expected {expected:?})",
                    in_conversation.map_or("-".to_owned(), |r| (r + 1).to_string()),
                    turn.question,
                    earlier.last().copied().unwrap_or_default(),
                    found.first().map_or("-", |p| p.title.as_str()),
                ));
            }
        }
    }
    let n = report.later_turns;
    report.hit_at_1 = share(hits1, n);
    report.hit_at_3 = share(hits3, n);
    report.alone_hit_at_1 = share(alone1, n);
    report.alone_hit_at_3 = share(alone3, n);
    report.declined = share(declined, n);
    Ok(report)
}

impl DialogueReport {
    /// The report as printed by `frontdesk eval --dialogues`.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "dialogues: {}, later turns: {}", self.dialogues, self.later_turns);
        let _ = writeln!(out, "  {:<26} {:>7} {:>7}", "later turns searched", "hit@1", "hit@3");
        let _ =
            writeln!(out, "  {:<26} {:>7.3} {:>7.3}", "in their conversation", self.hit_at_1, self.hit_at_3);
        let _ = writeln!(out, "  {:<26} {:>7.3} {:>7.3}", "alone", self.alone_hit_at_1, self.alone_hit_at_3);
        let _ = writeln!(out, "later turns declined (in conversation): {:.3}", self.declined);
        if verbose {
            for miss in &self.misses {
                let _ = writeln!(out, "  {miss}");
            }
        }
        out
    }
}

/// The figures `frontdesk eval` prints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalReport {
    /// Questions the knowledge base answers.
    pub in_scope: usize,
    /// Questions it does not.
    pub out_of_scope: usize,
    /// Share of in-scope questions whose entry ranks first.
    pub hit_at_1: f64,
    /// Share whose entry is in the first three.
    pub hit_at_3: f64,
    /// Mean reciprocal rank of the expected entry (0 when not in the first ten).
    pub mrr: f64,
    /// Share of out-of-scope questions declined.
    pub out_of_scope_declined: f64,
    /// Share of in-scope questions wrongly declined.
    pub in_scope_declined: f64,
    /// Lines describing each miss, for tuning.
    pub misses: Vec<String>,
    /// The top passage's confidence for each question, and whether it is in scope: the
    /// threshold sweep is computed from these.
    pub confidences: Vec<(bool, f32)>,
    /// The threshold the decline rates above were computed with.
    pub decline_below: f32,
    /// Per language pair (the question's, then the expected entry's; "en" or "zh", the entry
    /// "-" for out-of-scope questions): questions, ranked first, in the first three, declined.
    pub pairs: std::collections::BTreeMap<(&'static str, &'static str), PairCounts>,
}

/// How the questions of one language pair fared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairCounts {
    /// Questions of the pair.
    pub questions: usize,
    /// Whose expected entry ranked first.
    pub first: usize,
    /// Whose expected entry ranked in the first three.
    pub top3: usize,
    /// Declined (below the threshold).
    pub declined: usize,
}

/// The language a question or an entry's title is written in, as the evaluation tells them
/// apart: Chinese when mostly Chinese characters, else English.
fn language(text: &str) -> &'static str {
    if frontdesk_core::insights::mostly_cjk(text) {
        "zh"
    } else {
        "en"
    }
}

#[allow(clippy::cast_precision_loss)]
fn share(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// Runs every question through `retriever` and scores the rankings; a question is declined
/// when its best passage's confidence is below `decline_below`.
pub async fn evaluate(
    retriever: &dyn Retriever,
    questions: &[EvalQuestion],
    decline_below: f32,
) -> anyhow::Result<EvalReport> {
    let mut report = EvalReport { decline_below, ..EvalReport::default() };
    let (mut hits1, mut hits3, mut reciprocal, mut oos_declined, mut in_declined) = (0, 0, 0.0, 0, 0);
    for q in questions {
        let passages = retriever.search(&q.question, 10).await.context("search failed")?;
        let confidence = passages.first().map_or(0.0, |p| p.confidence);
        let declined = passages.is_empty() || confidence < decline_below;
        let top = passages.first().map_or("-", |p| p.title.as_str());
        report.confidences.push((q.expected.is_some(), if passages.is_empty() { 0.0 } else { confidence }));
        let pair = report
            .pairs
            .entry((language(&q.question), q.expected.as_deref().map_or("-", language)))
            .or_default();
        pair.questions += 1;
        pair.declined += usize::from(declined);
        if let Some(expected) = &q.expected {
            let rank = passages.iter().position(|p| p.title.eq_ignore_ascii_case(expected));
            pair.first += usize::from(rank == Some(0));
            pair.top3 += usize::from(rank.is_some_and(|r| r < 3));
        }
        match &q.expected {
            None => {
                report.out_of_scope += 1;
                if declined {
                    oos_declined += 1;
                } else {
                    report
                        .misses
                        .push(format!("not declined ({confidence:.2}): {:?} -> {top:?}", q.question));
                }
            }
            Some(expected) => {
                report.in_scope += 1;
                let rank = passages.iter().position(|p| p.title.eq_ignore_ascii_case(expected));
                if rank == Some(0) {
                    hits1 += 1;
                }
                if rank.is_some_and(|r| r < 3) {
                    hits3 += 1;
                }
                if let Some(rank) = rank {
                    reciprocal += 1.0 / (rank as f64 + 1.0);
                }
                if declined {
                    in_declined += 1;
                }
                if rank != Some(0) || declined {
                    report.misses.push(format!(
                        "rank {} conf {confidence:.2}{}: {:?} -> {top:?} (expected {expected:?})",
                        rank.map_or("-".to_owned(), |r| (r + 1).to_string()),
                        if declined { " declined" } else { "" },
                        q.question
                    ));
                }
            }
        }
    }
    report.hit_at_1 = share(hits1, report.in_scope);
    report.hit_at_3 = share(hits3, report.in_scope);
    #[allow(clippy::cast_precision_loss)]
    let in_scope = report.in_scope.max(1) as f64;
    report.mrr = reciprocal / in_scope;
    report.out_of_scope_declined = share(oos_declined, report.out_of_scope);
    report.in_scope_declined = share(in_declined, report.in_scope);
    Ok(report)
}

impl EvalReport {
    /// Share of questions (in scope or not) whose top confidence is below `threshold`.
    pub fn declined_share(&self, in_scope: bool, threshold: f32) -> f64 {
        let of_kind: Vec<f32> =
            self.confidences.iter().filter(|(s, _)| *s == in_scope).map(|(_, c)| *c).collect();
        share(of_kind.iter().filter(|c| **c < threshold).count(), of_kind.len())
    }

    /// The report as printed by `frontdesk eval`.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "questions: {} in scope, {} out of scope", self.in_scope, self.out_of_scope);
        let _ = writeln!(out, "hit@1: {:.3}", self.hit_at_1);
        let _ = writeln!(out, "hit@3: {:.3}", self.hit_at_3);
        let _ = writeln!(out, "MRR: {:.3}", self.mrr);
        let _ = writeln!(out, "out-of-scope declined: {:.3}", self.out_of_scope_declined);
        let _ = writeln!(out, "in-scope wrongly declined: {:.3}", self.in_scope_declined);
        if self.pairs.len() > 1 {
            let _ = writeln!(out, "per language (question -> entry):");
            let _ = writeln!(
                out,
                "  {:<10} {:>9} {:>7} {:>7} {:>9}",
                "pair", "questions", "hit@1", "hit@3", "declined"
            );
            for ((question, entry), counts) in &self.pairs {
                let (hit1, hit3) = if *entry == "-" {
                    ("-".to_owned(), "-".to_owned())
                } else {
                    (
                        format!("{:.3}", share(counts.first, counts.questions)),
                        format!("{:.3}", share(counts.top3, counts.questions)),
                    )
                };
                let _ = writeln!(
                    out,
                    "  {:<10} {:>9} {hit1:>7} {hit3:>7} {:>9.3}",
                    format!("{question} -> {entry}"),
                    counts.questions,
                    share(counts.declined, counts.questions)
                );
            }
        }
        let _ = writeln!(out, "(declining below confidence {:.2}; other thresholds:)", self.decline_below);
        let _ = writeln!(out, "  threshold  out-of-scope declined  in-scope wrongly declined");
        for step in 6..=16 {
            let threshold = step as f32 * 0.05;
            let _ = writeln!(
                out,
                "  {threshold:>9.2}  {:>21.3}  {:>25.3}",
                self.declined_share(false, threshold),
                self.declined_share(true, threshold)
            );
        }
        if verbose {
            for miss in &self.misses {
                let _ = writeln!(out, "  {miss}");
            }
        }
        out
    }
}

/// How whole answers fared in one answer mode.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerReport {
    /// The mode.
    pub mode: AnswerMode,
    /// In-scope questions with key facts.
    pub scored: usize,
    /// Share of those whose answer contains every key fact.
    pub key_facts: f64,
    /// Share of out-of-scope questions declined.
    pub out_of_scope_declined: f64,
    /// Share of in-scope questions declined.
    pub in_scope_declined: f64,
    /// Median time to the first piece of the answer.
    pub ttft_median_ms: u64,
    /// Answers the model wrote.
    pub generated: usize,
    /// Of those, the ones the curated answer replaced the rest of or followed (an unsupported
    /// fact, or too little of the passage said).
    pub curated_after: usize,
    /// Lines describing each miss.
    pub misses: Vec<String>,
}

/// Asks every question through `chat` (configured with `mode`) and scores the answers.
pub async fn evaluate_answers(
    chat: &ChatService,
    mode: AnswerMode,
    questions: &[EvalQuestion],
) -> anyhow::Result<AnswerReport> {
    let (mut scored, mut with_facts, mut oos, mut oos_declined, mut in_scope, mut in_declined) =
        (0, 0, 0, 0, 0, 0);
    let mut ttfts = Vec::new();
    let mut misses = Vec::new();
    let curated_before = curated_after(chat);
    let mut generated = 0;
    for q in questions {
        let answer = ask(chat, &[], &q.question).await?;
        ttfts.push(answer.usage.ttft_ms);
        generated += usize::from(answer.kind == frontdesk_core::chat::AnswerKind::Generated);
        let text = &answer.message.text;
        match &q.expected {
            None => {
                oos += 1;
                if answer.declined() {
                    oos_declined += 1;
                } else {
                    misses.push(format!("not declined: {:?} -> {:?}", q.question, clip(text)));
                }
            }
            Some(_) => {
                in_scope += 1;
                if answer.declined() {
                    in_declined += 1;
                }
                if !q.key_facts.is_empty() {
                    scored += 1;
                    if q.answered_by(text) {
                        with_facts += 1;
                    } else {
                        misses.push(format!("missing facts: {:?} -> {:?}", q.question, clip(text)));
                    }
                }
            }
        }
    }
    ttfts.sort_unstable();
    Ok(AnswerReport {
        mode,
        scored,
        key_facts: share(with_facts, scored),
        out_of_scope_declined: share(oos_declined, oos),
        in_scope_declined: share(in_declined, in_scope),
        ttft_median_ms: ttfts.get(ttfts.len() / 2).copied().unwrap_or_default(),
        generated,
        curated_after: usize::try_from(curated_after(chat) - curated_before).unwrap_or(usize::MAX),
        misses,
    })
}

/// Generated answers the curated answer replaced or followed so far.
fn curated_after(chat: &ChatService) -> u64 {
    let metrics = chat.metrics();
    frontdesk_core::chat::faithful::FactKind::ALL.iter().map(|k| metrics.unfaithful_answers(*k)).sum::<u64>()
        + metrics.incomplete_answers()
}

/// Asks `question` after the `earlier` messages, storing nothing.
async fn ask(chat: &ChatService, earlier: &[Message], question: &str) -> anyhow::Result<Answer> {
    // The events are not needed here (the answer carries its usage); a receiver drains them.
    let (events, mut incoming) = tokio::sync::mpsc::channel(1_024);
    let drain = tokio::spawn(async move { while incoming.recv().await.is_some() {} });
    let answer = chat
        .answer(earlier, question, std::time::Instant::now(), &events)
        .await
        .map_err(|e| anyhow::anyhow!("answering {question:?}: {e}"))?;
    drop(events);
    drain.await?;
    Ok(answer)
}

/// Holds each conversation of `dialogues` through `chat` (configured with `mode`), every turn
/// answered after the earlier questions and answers, and scores the later turns' key facts.
pub async fn evaluate_dialogue_answers(
    chat: &ChatService,
    mode: AnswerMode,
    dialogues: &[Vec<EvalQuestion>],
) -> anyhow::Result<AnswerReport> {
    let (mut scored, mut with_facts, mut turns, mut declined) = (0, 0, 0, 0);
    let mut ttfts = Vec::new();
    let mut misses = Vec::new();
    let curated_before = curated_after(chat);
    let mut generated = 0;
    for dialogue in dialogues {
        let mut earlier: Vec<Message> = Vec::new();
        for (i, turn) in dialogue.iter().enumerate() {
            let answer = ask(chat, &earlier, &turn.question).await?;
            generated += usize::from(answer.kind == frontdesk_core::chat::AnswerKind::Generated);
            earlier.push(Message::new(Role::Visitor, turn.question.clone()));
            earlier.push(answer.message.clone());
            if i == 0 || turn.expected.is_none() {
                continue;
            }
            turns += 1;
            ttfts.push(answer.usage.ttft_ms);
            declined += usize::from(answer.declined());
            if !turn.key_facts.is_empty() {
                scored += 1;
                if turn.answered_by(&answer.message.text) {
                    with_facts += 1;
                } else {
                    misses.push(format!(
                        "missing facts: {:?} after {:?} -> {:?}",
                        turn.question,
                        dialogue[i - 1].question,
                        clip(&answer.message.text)
                    ));
                }
            }
        }
    }
    ttfts.sort_unstable();
    Ok(AnswerReport {
        mode,
        scored,
        key_facts: share(with_facts, scored),
        out_of_scope_declined: 0.0,
        in_scope_declined: share(declined, turns),
        ttft_median_ms: ttfts.get(ttfts.len() / 2).copied().unwrap_or_default(),
        generated,
        curated_after: usize::try_from(curated_after(chat) - curated_before).unwrap_or(usize::MAX),
        misses,
    })
}

/// The model's raw answers to `questions` (generative, the faithfulness check off), one line
/// each for labelling: `question<TAB>title of the passage it was given<TAB>?<TAB>answer`, line
/// breaks in the answer written `\n`. Replace `?` with `faithful` or `unfaithful`.
pub async fn collect_answers(chat: &ChatService, questions: &[EvalQuestion]) -> anyhow::Result<String> {
    let chat = chat.with_answer_mode(AnswerMode::Generative).with_fact_check(false);
    let mut out = String::new();
    for q in questions.iter().filter(|q| q.expected.is_some()) {
        let answer = ask(&chat, &[], &q.question).await?;
        if !answer.generated() {
            continue;
        }
        let title = answer.message.sources.first().map_or("", |s| s.title.as_str());
        let text = answer.message.text.replace('\\', "\\\\").replace('\n', "\\n").replace('\t', " ");
        let _ = writeln!(out, "{}\t{title}\t?\t{text}", q.question);
    }
    Ok(out)
}

/// One answer of the labelled set.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledAnswer {
    /// What the visitor asked.
    pub question: String,
    /// The title of the passage the model was given.
    pub title: String,
    /// Whether everything the answer states is in the passage (or the question).
    pub faithful: bool,
    /// The answer.
    pub answer: String,
}

/// Parses a labelled answers file (the format [`collect_answers`] writes, labels filled in).
pub fn parse_labelled(text: &str) -> anyhow::Result<Vec<LabelledAnswer>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let columns: Vec<&str> = line.splitn(4, '\t').collect();
        let [question, title, label, answer] = columns[..] else {
            bail!("line {}: expected question, title, label and answer", n + 1);
        };
        let faithful = match label {
            "faithful" => true,
            "unfaithful" => false,
            other => bail!("line {}: the label is {other:?}, not faithful or unfaithful", n + 1),
        };
        let answer = answer.replace("\\n", "\n").replace("\\\\", "\\");
        out.push(LabelledAnswer { question: question.into(), title: title.into(), faithful, answer });
    }
    Ok(out)
}

/// How well the faithfulness check tells the labelled answers apart, at several support
/// thresholds: an unfaithful answer caught is a true positive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaithfulnessReport {
    /// Answers labelled faithful.
    pub faithful: usize,
    /// Answers labelled unfaithful.
    pub unfaithful: usize,
    /// Per threshold: (threshold, precision, recall, faithful answers refused).
    pub rows: Vec<(f32, f64, f64, usize)>,
    /// At the product's threshold, the answers the check got wrong.
    pub misses: Vec<String>,
}

/// Runs the check over `labelled`, each answer against the passage it was given (found in
/// `retriever` by its title), its question and `system`.
pub async fn evaluate_faithfulness(
    retriever: &dyn Retriever,
    system: &str,
    labelled: &[LabelledAnswer],
) -> anyhow::Result<FaithfulnessReport> {
    let mut cases = Vec::new();
    for item in labelled {
        let found = retriever.search(&item.title, 10).await?;
        let passage: Vec<Passage> = found.into_iter().filter(|p| p.title == item.title).take(1).collect();
        if passage.is_empty() {
            bail!("no entry titled {:?} in the knowledge base", item.title);
        }
        cases.push((item, Evidence::of_answer(&passage, [item.question.as_str()], system)));
    }
    let mut report = FaithfulnessReport {
        faithful: labelled.iter().filter(|l| l.faithful).count(),
        unfaithful: labelled.iter().filter(|l| !l.faithful).count(),
        ..FaithfulnessReport::default()
    };
    let mut thresholds: Vec<f32> = (0..=8).map(|i| 0.4 + 0.05 * i as f32).collect();
    thresholds.insert(0, 0.0);
    for threshold in thresholds {
        let (mut caught, mut flagged, mut refused) = (0, 0, 0);
        for (item, evidence) in &cases {
            let verdict = check_with(&item.answer, evidence, threshold);
            if verdict.is_some() {
                flagged += 1;
                if item.faithful {
                    refused += 1;
                } else {
                    caught += 1;
                }
            }
            if (threshold - MIN_SUPPORT).abs() < 1e-4 && verdict.is_some() == item.faithful {
                let why = verdict.map_or("passed".to_owned(), |u| format!("{} {:?}", u.kind.label(), u.word));
                let label = if item.faithful { "faithful" } else { "unfaithful" };
                report.misses.push(format!(
                    "{label} answer {why}: {:?} -> {:?}",
                    item.question,
                    clip(&item.answer)
                ));
            }
        }
        report.rows.push((threshold, share(caught, flagged), share(caught, report.unfaithful), refused));
    }
    Ok(report)
}

impl FaithfulnessReport {
    /// The report as printed by `frontdesk eval --faithfulness`.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "faithfulness check: {} faithful and {} unfaithful answers (unfaithful caught = positive)",
            self.faithful, self.unfaithful
        );
        let _ = writeln!(
            out,
            "  {:>17} {:>10} {:>8} {:>18}",
            "support threshold", "precision", "recall", "faithful refused"
        );
        for (threshold, precision, recall, refused) in &self.rows {
            let mark = if (threshold - MIN_SUPPORT).abs() < 1e-4 { " <- used" } else { "" };
            let name = if *threshold == 0.0 { "facts only".to_owned() } else { format!("{threshold:.2}") };
            let _ = writeln!(out, "  {name:>17} {precision:>10.3} {recall:>8.3} {refused:>18}{mark}");
        }
        if verbose {
            for miss in &self.misses {
                let _ = writeln!(out, "  {miss}");
            }
        }
        out
    }
}

fn clip(text: &str) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() > 120 {
        format!("{}...", one_line.chars().take(120).collect::<String>())
    } else {
        one_line
    }
}

/// The answer reports as one table.
pub fn render_answers(what: &str, reports: &[AnswerReport], verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nanswers ({what} asked through the chat, the model included):");
    let _ = writeln!(
        out,
        "  {:<11} {:>10} {:>22} {:>26} {:>14} {:>18}",
        "mode",
        "key facts",
        "out-of-scope declined",
        "in-scope wrongly declined",
        "ttft p50 ms",
        "generated (+curated)"
    );
    for r in reports {
        let _ = writeln!(
            out,
            "  {:<11} {:>10.3} {:>22.3} {:>26.3} {:>14} {:>11} ({:>4})",
            r.mode.as_str(),
            r.key_facts,
            r.out_of_scope_declined,
            r.in_scope_declined,
            r.ttft_median_ms,
            r.generated,
            r.curated_after
        );
    }
    if verbose {
        for r in reports {
            for miss in &r.misses {
                let _ = writeln!(out, "  [{}] {miss}", r.mode.as_str());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_questions_file_is_parsed_with_out_of_scope_lines() {
        let parsed =
            parse_questions("# comment\nhow long is shipping\tHow long does delivery take?\n\npizza?\t\n")
                .expect("parses");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].expected.as_deref(), Some("How long does delivery take?"));
        assert_eq!(parsed[1].expected, None);
        assert!(parse_questions("\tTitle\n").is_err());
        let with_facts = parse_questions(
            "refund when\tWhen will I get my refund?\t5 working days|five working days; PayPal\n",
        )
        .expect("parses");
        assert_eq!(with_facts[0].expected.as_deref(), Some("When will I get my refund?"));
        assert!(with_facts[0].answered_by("Within FIVE working days, to your PayPal account."));
        assert!(!with_facts[0].answered_by("Within 5 working days."), "every fact is needed");
    }

    #[test]
    fn dialogues_are_split_at_blank_lines() {
        let dialogues = parse_dialogues(
            "# c\nis shipping free\tShipping?\t49\nand express?\tShipping?\t9.90\n\n\nhi\t\n",
        )
        .expect("parses");
        assert_eq!(dialogues.len(), 2);
        assert_eq!(dialogues[0][1].question, "and express?");
        assert_eq!(dialogues[1][0].expected, None);
    }

    #[test]
    fn labelled_answers_keep_their_line_breaks_and_need_a_known_label() {
        let parsed = parse_labelled("q\tTitle\tunfaithful\tFirst.\\nSecond\twith tab\n").expect("parses");
        assert!(!parsed[0].faithful);
        assert_eq!(parsed[0].answer, "First.\nSecond\twith tab");
        assert!(parse_labelled("q\tTitle\tmaybe\tanswer\n").is_err());
        assert!(parse_labelled("q\tTitle\n").is_err());
    }
}
