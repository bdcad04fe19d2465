//! `frontdesk eval-pii`: how well personal data is found, per kind, on a labelled set.
//!
//! The file has one message a line, `message<TAB>labels`, the labels `kind=value` joined by
//! ` || ` (none for a message without personal data); `#` lines are comments. A finding counts
//! when its kind and text equal a label's. Recall, precision and F2 (recall weighed twice:
//! missing personal data costs more than hiding a harmless number) per kind, and the
//! detectors' throughput over the whole set.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use frontdesk_core::privacy::{detect, PiiKind};

/// One labelled message.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledMessage {
    /// What the visitor typed.
    pub text: String,
    /// The personal data in it.
    pub labels: Vec<(PiiKind, String)>,
}

/// Parses the labelled file.
pub fn parse(text: &str) -> anyhow::Result<Vec<LabelledMessage>> {
    let mut messages = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (message, labels) = line.split_once('\t').unwrap_or((line, ""));
        let mut parsed = Vec::new();
        for label in labels.split(" || ").filter(|l| !l.trim().is_empty()) {
            let Some((kind, value)) = label.split_once('=') else {
                bail!("line {}: label {label:?} is not kind=value", n + 1);
            };
            let kind: PiiKind =
                kind.trim().parse().map_err(|e: String| anyhow::anyhow!("line {}: {e}", n + 1))?;
            if !message.contains(value) {
                bail!("line {}: {value:?} is not in the message", n + 1);
            }
            parsed.push((kind, value.to_owned()));
        }
        messages.push(LabelledMessage { text: message.to_owned(), labels: parsed });
    }
    Ok(messages)
}

/// Counts of one kind.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    found: usize,
    missed: usize,
    wrong: usize,
}

/// Scores the detectors on `messages` and times them.
pub fn evaluate(messages: &[LabelledMessage], verbose: bool) -> anyhow::Result<String> {
    let mut counts: BTreeMap<PiiKind, Counts> =
        PiiKind::ALL.iter().map(|k| (*k, Counts::default())).collect();
    let mut out = String::new();
    for message in messages {
        let findings: Vec<(PiiKind, &str)> =
            detect(&message.text).into_iter().map(|f| (f.kind, &message.text[f.range])).collect();
        for (kind, value) in &message.labels {
            let entry = counts.entry(*kind).or_default();
            if findings.iter().any(|(k, v)| k == kind && v == value) {
                entry.found += 1;
            } else {
                entry.missed += 1;
                if verbose {
                    let _ = writeln!(out, "  missed {} {value:?} in {:?}", kind.as_str(), message.text);
                }
            }
        }
        for (kind, value) in &findings {
            if !message.labels.iter().any(|(k, v)| k == kind && v == value) {
                counts.entry(*kind).or_default().wrong += 1;
                if verbose {
                    let _ = writeln!(out, "  wrongly {} {value:?} in {:?}", kind.as_str(), message.text);
                }
            }
        }
    }
    let negatives = messages.iter().filter(|m| m.labels.is_empty()).count();
    let mut report = format!(
        "personal data: {} messages ({} without any), {} labelled values\n",
        messages.len(),
        negatives,
        messages.iter().map(|m| m.labels.len()).sum::<usize>()
    );
    let _ = writeln!(
        report,
        "  {:<8} {:>7} {:>7} {:>9} {:>7}  checksum",
        "kind", "labels", "recall", "precision", "F2"
    );
    for (kind, c) in &counts {
        let labels = c.found + c.missed;
        if labels == 0 && c.wrong == 0 {
            continue;
        }
        let ratio = |a: usize, b: usize| if b == 0 { f64::NAN } else { a as f64 / b as f64 };
        let recall = ratio(c.found, labels);
        let precision = ratio(c.found, c.found + c.wrong);
        let f2 = if recall + precision > 0.0 {
            5.0 * precision * recall / (4.0 * precision + recall)
        } else {
            0.0
        };
        let _ = writeln!(
            report,
            "  {:<8} {:>7} {:>7.3} {:>9.3} {:>7.3}  {}",
            kind.as_str(),
            labels,
            recall,
            precision,
            f2,
            if kind.has_checksum() { "yes" } else { "" }
        );
    }
    // Throughput: the whole set again and again for at least a second.
    let bytes: usize = messages.iter().map(|m| m.text.len()).sum();
    let started = Instant::now();
    let mut rounds = 0u32;
    while started.elapsed() < Duration::from_secs(1) || rounds < 3 {
        for message in messages {
            std::hint::black_box(detect(std::hint::black_box(&message.text)));
        }
        rounds += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let per_message_us = elapsed * 1e6 / (f64::from(rounds) * messages.len().max(1) as f64);
    let _ = writeln!(
        report,
        "  throughput: {:.1} MB/s, {:.1} us a message (mean {} bytes), {rounds} rounds",
        (bytes as f64 * f64::from(rounds)) / elapsed / 1e6,
        per_message_us,
        bytes / messages.len().max(1)
    );
    report.push_str(&out);
    Ok(report)
}

/// Reads, scores and times the labelled file at `path`.
pub fn run(path: &std::path::Path, verbose: bool) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
    evaluate(&parse(&text)?, verbose)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_parsed_and_checked_against_their_message() {
        let parsed =
            parse("# comment\nmail a@example.com\temail=a@example.com\nno data here\t\n").expect("valid");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].labels, vec![(PiiKind::Email, "a@example.com".to_owned())]);
        assert!(parsed[1].labels.is_empty());
        assert!(parse("mail a@example.com\temail=b@example.com").is_err(), "a label must be in its message");
        assert!(parse("x\tpassport=1").is_err(), "unknown kind");
    }
}
