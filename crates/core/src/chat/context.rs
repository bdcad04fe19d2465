//! Personal context: what the host page told about the visitor (plan, product viewed,
//! interests) favours the entries that fit them and is told to the model.

use std::collections::BTreeMap;

use crate::retrieve::Passage;

use super::citations::content_words;

/// How much a passage that fits the visitor's context gains in the ranking, in confidence: it
/// wins over entries about as relevant, never over a clearly better one.
const CONTEXT_BONUS: f32 = 0.2;

/// Whether a passage mentions an attribute's value: at least half of the value's content words
/// appear in its title, body or section.
fn fits(passage: &Passage, value: &str) -> bool {
    let wanted = content_words(value);
    if wanted.is_empty() {
        return false;
    }
    let text = format!("{} {} {}", passage.title, passage.body, passage.section.join(" "));
    let found = content_words(&text);
    wanted.iter().filter(|w| found.contains(*w)).count() * 2 >= wanted.len()
}

/// Reorders passages so that, among those about as relevant, the ones fitting the visitor's
/// attributes (plan, product viewed, interests) come first. Confidence itself is unchanged:
/// the decision to answer or decline stays the retrieval's.
pub fn favour_context(passages: &mut [Passage], context: &BTreeMap<String, String>) {
    if context.is_empty() {
        return;
    }
    let rank =
        |p: &Passage| p.confidence + if context.values().any(|v| fits(p, v)) { CONTEXT_BONUS } else { 0.0 };
    passages.sort_by(|a, b| rank(b).total_cmp(&rank(a)).then(b.score.total_cmp(&a.score)));
}

/// The system prompt with what the host page told about the visitor.
pub(crate) fn with_context(system: &str, context: &BTreeMap<String, String>) -> String {
    if context.is_empty() {
        return system.to_owned();
    }
    let facts: Vec<String> = context.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{system} About this customer: {}.", facts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(title: &str, confidence: f32, score: f32) -> Passage {
        Passage {
            document_id: "shipping.md".into(),
            entry_id: format!("shipping.md#{title}"),
            title: title.into(),
            body: String::new(),
            section: vec![],
            url: None,
            score,
            confidence,
        }
    }

    #[test]
    fn the_visitors_context_favours_entries_that_fit_them() {
        let ranked = |context: &[(&str, &str)]| {
            let mut passages = vec![
                entry("How much does shipping cost?", 1.0, 9.0),
                entry("How much does shipping cost for Plus members?", 1.0, 7.0),
                entry("Gift wrapping for Plus members", 0.3, 8.0),
            ];
            let context = context.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            favour_context(&mut passages, &context);
            passages.into_iter().map(|p| p.title).collect::<Vec<_>>()
        };
        assert_eq!(ranked(&[])[0], "How much does shipping cost?");
        let plus = ranked(&[("plan", "Plus")]);
        assert_eq!(plus[0], "How much does shipping cost for Plus members?");
        assert_eq!(plus[2], "Gift wrapping for Plus members", "a weak match stays behind a strong one");
        assert_eq!(ranked(&[("plan", "Basic")])[0], "How much does shipping cost?");
    }
}
