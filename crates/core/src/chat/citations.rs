//! Citations: which of the passages a generated answer actually drew on, so the sources shown
//! are the ones the visitor can check the answer against.

use std::collections::HashSet;

use crate::model::Source;
use crate::retrieve::Passage;

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "are", "can", "with", "our", "this", "that", "have", "will", "from",
    "not", "all", "any", "but", "was", "what", "how", "when", "does", "which", "there", "their", "they",
    "into", "also", "may", "more", "than", "then", "its", "it's",
];

/// The content words of a text: lowercase, three letters or more, no stopwords.
pub fn content_words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// The passages an answer actually drew on: those sharing enough content words with it. When
/// none clearly does, the best passage (the one the answer was asked to use first) is cited.
pub fn sources_used(answer: &str, passages: &[Passage]) -> Vec<Source> {
    let answer_words = content_words(answer);
    let needed = (answer_words.len() / 6).max(2);
    let mut used: Vec<Source> = passages
        .iter()
        .filter(|p| {
            let passage_words = content_words(&format!("{} {}", p.title, p.body));
            answer_words.intersection(&passage_words).count() >= needed
        })
        .map(Passage::to_source)
        .collect();
    if used.is_empty() {
        used.extend(passages.first().map(Passage::to_source));
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(id: &str, title: &str, body: &str) -> Passage {
        Passage {
            document_id: id.into(),
            entry_id: format!("{id}#x"),
            title: title.into(),
            body: body.into(),
            section: vec![],
            url: None,
            score: 1.0,
            confidence: 1.0,
        }
    }

    #[test]
    fn sources_are_the_passages_the_answer_drew_on() {
        let passages = [
            passage(
                "returns.md",
                "Can I return headphones?",
                "Returns are accepted within 30 days with the receipt.",
            ),
            passage("shipping.md", "Delivery time", "Standard delivery takes three to five working days."),
        ];
        let sources = sources_used("You can return them within 30 days if you keep the receipt.", &passages);
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].document_id, "returns.md");
        let fallback = sources_used("Hello there.", &passages);
        assert_eq!(fallback[0].document_id, "returns.md");
    }
}
