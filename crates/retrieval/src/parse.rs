//! Document parsers: each turns one document into FAQ entries.
//!
//! - Markdown: every heading starts an entry (its title is the heading, its body the text up
//!   to the next heading); the headings above it form its section path. Text before the first
//!   heading is skipped when it is only a title line.
//! - CSV: a header row naming `question` and `answer` (and optionally `category`, `url`,
//!   `tags`) is detected; without one, the first two columns are the question and the answer.

use crate::RetrievalError;

/// One question and its answer, as indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct FaqEntry {
    /// `document#anchor`, unique in the knowledge base.
    pub entry_id: String,
    /// The document it comes from.
    pub document_id: String,
    /// The question or heading.
    pub title: String,
    /// The answer text.
    pub body: String,
    /// Headings (or the CSV category) above the entry, outermost first.
    pub section: Vec<String>,
    /// A link to the entry's place in its source.
    pub url: Option<String>,
}

/// A lowercase, dash-separated anchor for a heading (`How long does delivery take?` becomes
/// `how-long-does-delivery-take`).
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// Parses a document by its file extension.
pub fn parse_document(document_id: &str, text: &str) -> Result<Vec<FaqEntry>, RetrievalError> {
    let extension = document_id.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("md" | "markdown") => Ok(parse_markdown(document_id, text)),
        Some("csv") => parse_csv(document_id, text),
        _ => Err(RetrievalError::Unsupported(document_id.to_owned())),
    }
}

/// Splits Markdown at its headings.
pub fn parse_markdown(document_id: &str, text: &str) -> Vec<FaqEntry> {
    let mut entries = Vec::new();
    // (level, title) of the headings above the current line.
    let mut headings: Vec<(usize, String)> = Vec::new();
    let mut body = String::new();
    let mut in_code = false;
    let mut used_anchors = std::collections::HashSet::new();

    let mut flush = |headings: &[(usize, String)], body: &mut String, entries: &mut Vec<FaqEntry>| {
        let text = body.trim();
        if let Some((_, title)) = headings.last() {
            if !text.is_empty() {
                let mut anchor = slug(title);
                let mut n = 2;
                while !used_anchors.insert(anchor.clone()) {
                    anchor = format!("{}-{n}", slug(title));
                    n += 1;
                }
                entries.push(FaqEntry {
                    entry_id: format!("{document_id}#{anchor}"),
                    document_id: document_id.to_owned(),
                    title: title.clone(),
                    body: text.to_owned(),
                    section: headings[..headings.len() - 1].iter().map(|(_, t)| t.clone()).collect(),
                    url: None,
                });
            }
        }
        body.clear();
    };

    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        let level = line.chars().take_while(|&c| c == '#').count();
        let is_heading = !in_code && (1..=6).contains(&level) && line[level..].starts_with(' ');
        if !is_heading {
            body.push_str(line);
            body.push('\n');
            continue;
        }
        flush(&headings, &mut body, &mut entries);
        let title = line[level..].trim().trim_end_matches('#').trim().to_owned();
        while headings.last().is_some_and(|(l, _)| *l >= level) {
            headings.pop();
        }
        headings.push((level, title));
    }
    flush(&headings, &mut body, &mut entries);
    entries
}

/// Reads FAQ rows from CSV.
pub fn parse_csv(document_id: &str, text: &str) -> Result<Vec<FaqEntry>, RetrievalError> {
    let parse_error = |reason: String| RetrievalError::Parse { document: document_id.to_owned(), reason };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = reader.records();
    let Some(first) = rows.next() else { return Ok(Vec::new()) };
    let first = first.map_err(|e| parse_error(e.to_string()))?;
    let names: Vec<String> = first.iter().map(|h| h.to_ascii_lowercase()).collect();
    let column = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
    let question = column(&["question", "title", "q"]);
    let answer = column(&["answer", "body", "a"]);
    let has_header = question.is_some() || answer.is_some();
    let (question, answer) = match (question, answer) {
        (Some(q), Some(a)) => (q, a),
        (None, None) => (0, 1),
        _ => return Err(parse_error("the header needs both a question and an answer column".into())),
    };
    let (category, url) =
        if has_header { (column(&["category", "section"]), column(&["url", "link"])) } else { (None, None) };

    let mut entries = Vec::new();
    let mut used_anchors = std::collections::HashSet::new();
    let data = if has_header { None } else { Some(Ok(first)) };
    for (line, row) in data.into_iter().chain(rows).enumerate() {
        let row = row.map_err(|e| parse_error(e.to_string()))?;
        let get = |i: usize| row.get(i).unwrap_or("").to_owned();
        let (title, body) = (get(question), get(answer));
        if title.is_empty() && body.is_empty() {
            continue;
        }
        if title.is_empty() || body.is_empty() {
            return Err(parse_error(format!(
                "row {} lacks a question or an answer",
                line + 1 + usize::from(has_header)
            )));
        }
        let mut anchor = slug(&title);
        if !used_anchors.insert(anchor.clone()) {
            anchor = format!("{anchor}-{}", line + 1);
            used_anchors.insert(anchor.clone());
        }
        entries.push(FaqEntry {
            entry_id: format!("{document_id}#{anchor}"),
            document_id: document_id.to_owned(),
            title,
            body,
            section: category.map(get).filter(|c| !c.is_empty()).into_iter().collect(),
            url: url.map(get).filter(|u| !u.is_empty()),
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_splits_at_headings_with_section_paths() {
        let doc = "# Shipping\n\nIntro.\n\n## How long does delivery take?\nThree days.\n\n## Do you ship abroad?\nYes, to the EU.\n```\n# not a heading\n```\n";
        let entries = parse_markdown("shipping.md", doc);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].title, "Shipping");
        assert_eq!(entries[1].title, "How long does delivery take?");
        assert_eq!(entries[1].body, "Three days.");
        assert_eq!(entries[1].section, vec!["Shipping".to_owned()]);
        assert_eq!(entries[1].entry_id, "shipping.md#how-long-does-delivery-take");
        assert!(entries[2].body.contains("# not a heading"));
    }

    #[test]
    fn csv_with_and_without_a_header() {
        let with = "Question,Answer,Category,URL\n\"Can I pay by card?\",\"Yes, Visa and Mastercard.\",Payment,https://x.test/pay\n";
        let entries = parse_csv("pay.csv", with).expect("parses");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].section, vec!["Payment".to_owned()]);
        assert_eq!(entries[0].url.as_deref(), Some("https://x.test/pay"));
        let without = "Can I pay by card?,Yes.\nDo you take PayPal?,No.\n";
        assert_eq!(parse_csv("pay.csv", without).expect("parses").len(), 2);
        let broken = "question,answer\nonly a question\n";
        assert!(parse_csv("pay.csv", broken).is_err());
    }

    #[test]
    fn unknown_types_are_refused() {
        assert!(matches!(parse_document("x.exe", ""), Err(RetrievalError::Unsupported(_))));
    }
}
