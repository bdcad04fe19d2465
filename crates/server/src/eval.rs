//! `frontdesk eval`: how well retrieval finds the right FAQ entry and how well it knows when
//! there is none.
//!
//! The questions file has one question a line, `question<TAB>expected title`; an empty title
//! marks a question the knowledge base cannot answer, which the assistant should decline.
//! Blank lines and lines starting with `#` are skipped.

use std::fmt::Write as _;

use anyhow::{bail, Context};
use frontdesk_core::retrieve::Retriever;

/// One line of the questions file.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalQuestion {
    /// What a visitor typed.
    pub question: String,
    /// The title of the entry that answers it; `None` when nothing should.
    pub expected: Option<String>,
}

/// Parses the questions file.
pub fn parse_questions(text: &str) -> anyhow::Result<Vec<EvalQuestion>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (question, expected) = line.split_once('\t').unwrap_or((line, ""));
        if question.trim().is_empty() {
            bail!("line {}: empty question", n + 1);
        }
        let expected = expected.trim();
        out.push(EvalQuestion {
            question: question.trim().to_owned(),
            expected: (!expected.is_empty()).then(|| expected.to_owned()),
        });
    }
    Ok(out)
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
    let mut report = EvalReport::default();
    let (mut hits1, mut hits3, mut reciprocal, mut oos_declined, mut in_declined) = (0, 0, 0.0, 0, 0);
    for q in questions {
        let passages = retriever.search(&q.question, 10).await.context("search failed")?;
        let confidence = passages.first().map_or(0.0, |p| p.confidence);
        let declined = passages.is_empty() || confidence < decline_below;
        let top = passages.first().map_or("-", |p| p.title.as_str());
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
    /// The report as printed by `frontdesk eval`.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "questions: {} in scope, {} out of scope", self.in_scope, self.out_of_scope);
        let _ = writeln!(out, "hit@1: {:.3}", self.hit_at_1);
        let _ = writeln!(out, "hit@3: {:.3}", self.hit_at_3);
        let _ = writeln!(out, "MRR: {:.3}", self.mrr);
        let _ = writeln!(out, "out-of-scope declined: {:.3}", self.out_of_scope_declined);
        let _ = writeln!(out, "in-scope wrongly declined: {:.3}", self.in_scope_declined);
        if verbose {
            for miss in &self.misses {
                let _ = writeln!(out, "  {miss}");
            }
        }
        out
    }
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
    }
}
