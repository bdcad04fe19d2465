//! Document parsers: each turns one document into FAQ entries.
//!
//! - Markdown: every heading starts an entry (its title is the heading, its body the text up
//!   to the next heading); the headings above it form its section path. Text before the first
//!   heading is skipped when it is only a title line.
//! - CSV: a header row naming `question` and `answer` (and optionally `category`, `url`,
//!   `tags`) is detected; without one, the first two columns are the question and the answer.
//! - HTML: main content only, split at `h1`–`h3` and at `dt`/`dd` pairs (see [`crate::html`]).
//! - JSON: an array of objects with the same fields as the CSV columns (or an object holding
//!   such an array under `faq`, `entries`, `items` or `questions`).
//! - PDF: its text (see [`crate::document_text`]); every line ending in a question mark starts
//!   an entry and the lines up to the next one are its answer (a PDF's blank lines are not
//!   reliable). A PDF without question lines is read as plain text.
//! - Plain text: blocks separated by blank lines; a block's first line is its title (a question
//!   line, or `Q:` / `A:` pairs, read naturally), the rest its body.

use frontdesk_core::documents::DocumentFormat;

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

/// Longest FAQ entry (question and answer), in bytes: an answer quotes one whole entry, and
/// every frame the server sends must stay bounded.
pub const MAX_ENTRY_BYTES: usize = 32 * 1024;

/// Most entries one document may hold.
pub const MAX_ENTRIES: usize = 20_000;

/// Parses a document by its format (its name's extension picks it). A document with an entry
/// over [`MAX_ENTRY_BYTES`] or more than [`MAX_ENTRIES`] entries is refused, naming the limit.
pub fn parse_document(document_id: &str, text: &str) -> Result<Vec<FaqEntry>, RetrievalError> {
    let entries = parse_by_format(document_id, text)?;
    let refuse = |reason: String| RetrievalError::Parse { document: document_id.to_owned(), reason };
    if entries.len() > MAX_ENTRIES {
        return Err(refuse(format!("{} entries: at most {MAX_ENTRIES} per document", entries.len())));
    }
    if let Some(long) = entries.iter().find(|e| e.title.len() + e.body.len() > MAX_ENTRY_BYTES) {
        return Err(refuse(format!(
            "the entry {:?} is longer than {} KiB, the most one entry may hold; split it",
            long.title.chars().take(80).collect::<String>(),
            MAX_ENTRY_BYTES / 1024
        )));
    }
    Ok(entries)
}

fn parse_by_format(document_id: &str, text: &str) -> Result<Vec<FaqEntry>, RetrievalError> {
    let format =
        DocumentFormat::of(document_id).ok_or_else(|| RetrievalError::Unsupported(document_id.to_owned()))?;
    match format {
        DocumentFormat::Markdown => Ok(parse_markdown(document_id, text)),
        DocumentFormat::Csv => parse_csv(document_id, text),
        DocumentFormat::Json => parse_json(document_id, text),
        DocumentFormat::Html => Ok(crate::html::parse_html(document_id, text)),
        DocumentFormat::Text => Ok(parse_text(document_id, text)),
        DocumentFormat::Pdf => Ok(parse_pdf_text(document_id, text)),
    }
}

/// Splits Markdown at its headings.
pub fn parse_markdown(document_id: &str, text: &str) -> Vec<FaqEntry> {
    markdown_entries(document_id, text).into_iter().map(|(entry, _)| entry).collect()
}

/// A Markdown document's entries, each with its heading's level and the lines of its body
/// (from the line after its heading up to the next heading), as line numbers from 0.
fn markdown_entries(document_id: &str, text: &str) -> Vec<(FaqEntry, (usize, std::ops::Range<usize>))> {
    let mut entries = Vec::new();
    // (level, title, line) of the headings above the current line.
    let mut headings: Vec<(usize, String, usize)> = Vec::new();
    let mut body = String::new();
    let mut in_code = false;
    let mut anchors = NumberedAnchors::default();

    let mut flush =
        |headings: &[(usize, String, usize)], body: &mut String, end: usize, entries: &mut Vec<_>| {
            let text = body.trim();
            if let Some((level, title, line)) = headings.last() {
                if !text.is_empty() {
                    let anchor = anchors.unique(&slug(title));
                    let entry = FaqEntry {
                        entry_id: format!("{document_id}#{anchor}"),
                        document_id: document_id.to_owned(),
                        title: title.clone(),
                        body: text.to_owned(),
                        section: headings[..headings.len() - 1].iter().map(|(_, t, _)| t.clone()).collect(),
                        url: None,
                    };
                    entries.push((entry, (*level, line + 1..end)));
                }
            }
            body.clear();
        };

    let mut count = 0;
    for (number, line) in text.lines().enumerate() {
        count = number + 1;
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
        flush(&headings, &mut body, number, &mut entries);
        let title = line[level..].trim().trim_end_matches('#').trim().to_owned();
        while headings.last().is_some_and(|(l, _, _)| *l >= level) {
            headings.pop();
        }
        headings.push((level, title, number));
    }
    flush(&headings, &mut body, count, &mut entries);
    entries
}

/// Text safe as the body of a Markdown entry: no line that would start a heading, and code
/// fences closed, so the entries after it stay as they were.
fn markdown_body(text: &str) -> String {
    let mut fences = 0;
    let mut lines: Vec<String> = text
        .trim()
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("```") {
                fences += 1;
            }
            if line.starts_with('#') {
                format!(" {line}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if fences % 2 == 1 {
        lines.push("```".to_owned());
    }
    lines.join("\n")
}

/// The Markdown document with one more entry at its end: `question` as a heading at the level
/// of the document's other entries (2 unless they are all at 1), `answer` below it.
pub fn append_markdown_entry(text: &str, question: &str, answer: &str) -> String {
    let level = markdown_entries("", text).iter().map(|(_, (level, _))| *level).min().map_or(2, |l| l.min(2));
    let question = question.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = text.trim_end().to_owned();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(&format!("{} {question}\n{}\n", "#".repeat(level), markdown_body(answer)));
    out
}

/// The Markdown document with the body of entry `entry_id` replaced by `answer`; `None` when
/// the document has no such entry.
pub fn replace_markdown_entry(document_id: &str, text: &str, entry_id: &str, answer: &str) -> Option<String> {
    let entries = markdown_entries(document_id, text);
    let (_, (_, lines)) = entries.iter().find(|(entry, _)| entry.entry_id == entry_id)?;
    let all: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = all[..lines.start].iter().map(|l| (*l).to_owned()).collect();
    out.push(markdown_body(answer));
    if lines.end < all.len() {
        out.push(String::new());
        out.extend(all[lines.end..].iter().map(|l| (*l).to_owned()));
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    Some(joined)
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
    // Without a header only two columns can be told apart; more means columns of another kind
    // of table (a product list), not an FAQ.
    if !has_header && first.iter().filter(|cell| !cell.is_empty()).count() > 2 {
        return Err(parse_error(format!(
            "no question and answer columns: the first row is {:?}; name them in a header \
             (question,answer and optionally category,url,tags)",
            first.iter().collect::<Vec<_>>().join(",")
        )));
    }
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

/// Unique anchors `base`, `base-2`, `base-3`... within a document, in linear time: each base
/// remembers the next number to try, so a thousand equal headings cost a thousand lookups, not
/// half a million.
#[derive(Default)]
pub(crate) struct NumberedAnchors {
    used: std::collections::HashSet<String>,
    next: std::collections::HashMap<String, usize>,
}

impl NumberedAnchors {
    /// The first of `base`, `base-2`, `base-3`... not used yet, now used.
    pub(crate) fn unique(&mut self, base: &str) -> String {
        let n = self.next.entry(base.to_owned()).or_insert(1);
        loop {
            let candidate = if *n == 1 { base.to_owned() } else { format!("{base}-{n}") };
            *n += 1;
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
        }
    }
}

/// Gives each entry a unique anchor within its document.
struct Anchors(std::collections::HashSet<String>);

impl Anchors {
    fn new() -> Self {
        Self(std::collections::HashSet::new())
    }

    fn entry_id(&mut self, document_id: &str, title: &str, position: usize) -> String {
        let mut anchor = slug(title);
        if anchor.is_empty() || !self.0.insert(anchor.clone()) {
            anchor = format!("{anchor}-{position}").trim_start_matches('-').to_owned();
            self.0.insert(anchor.clone());
        }
        format!("{document_id}#{anchor}")
    }
}

/// Reads FAQ entries from a JSON array of objects.
pub fn parse_json(document_id: &str, text: &str) -> Result<Vec<FaqEntry>, RetrievalError> {
    use serde_json::Value;
    let parse_error = |reason: String| RetrievalError::Parse { document: document_id.to_owned(), reason };
    let value: Value = serde_json::from_str(text).map_err(|e| parse_error(format!("invalid JSON: {e}")))?;
    let items = match &value {
        Value::Array(items) => items,
        Value::Object(object) => ["faq", "entries", "items", "questions"]
            .iter()
            .find_map(|key| object.get(*key).and_then(Value::as_array))
            .ok_or_else(|| parse_error("expected an array of {question, answer} objects".into()))?,
        _ => return Err(parse_error("expected an array of {question, answer} objects".into())),
    };
    let mut anchors = Anchors::new();
    let mut entries = Vec::new();
    for (position, item) in items.iter().enumerate() {
        let object =
            item.as_object().ok_or_else(|| parse_error(format!("item {} is not an object", position + 1)))?;
        let field = |names: &[&str]| {
            names.iter().find_map(|name| {
                object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).and_then(|(_, v)| match v {
                    Value::String(text) => Some(text.trim().to_owned()),
                    Value::Number(number) => Some(number.to_string()),
                    _ => None,
                })
            })
        };
        let title = field(&["question", "title", "q"]).unwrap_or_default();
        let body = field(&["answer", "body", "a"]).unwrap_or_default();
        if title.is_empty() || body.is_empty() {
            return Err(parse_error(format!("item {} lacks a question or an answer", position + 1)));
        }
        entries.push(FaqEntry {
            entry_id: anchors.entry_id(document_id, &title, position + 1),
            document_id: document_id.to_owned(),
            section: field(&["category", "section"]).filter(|c| !c.is_empty()).into_iter().collect(),
            url: field(&["url", "link"]).filter(|u| !u.is_empty()),
            title,
            body,
        });
    }
    Ok(entries)
}

/// Splits plain text into entries at blank lines. A block's first line is its title; a
/// single-line block ending in `?` takes the next block as its answer; `Q:` and `A:` prefixes
/// are dropped.
pub fn parse_text(document_id: &str, text: &str) -> Vec<FaqEntry> {
    let strip = |line: &str| {
        let trimmed = line.trim();
        for prefix in ["Q:", "Q.", "A:", "A."] {
            if let Some(rest) = trimmed.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
        trimmed.to_owned()
    };
    let blocks: Vec<Vec<String>> = text
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(|block| block.lines().map(strip).filter(|l| !l.is_empty()).collect::<Vec<_>>())
        .filter(|lines| !lines.is_empty())
        .collect();
    let mut anchors = Anchors::new();
    let mut entries = Vec::new();
    let mut index = 0;
    while index < blocks.len() {
        let mut lines = blocks[index].clone();
        index += 1;
        if lines.len() == 1 && lines[0].ends_with('?') && index < blocks.len() {
            lines.extend(blocks[index].iter().cloned());
            index += 1;
        }
        let title = lines.remove(0);
        let body = lines.join("\n");
        entries.push(FaqEntry {
            entry_id: anchors.entry_id(document_id, &title, entries.len() + 1),
            document_id: document_id.to_owned(),
            title,
            body,
            section: Vec::new(),
            url: None,
        });
    }
    entries
}

/// Splits a PDF's text at its question lines (see the module documentation).
pub fn parse_pdf_text(document_id: &str, text: &str) -> Vec<FaqEntry> {
    let is_question = |line: &str| line.ends_with('?') || line.ends_with('？');
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if !lines.iter().any(|l| is_question(l)) {
        return parse_text(document_id, text);
    }
    let mut anchors = Anchors::new();
    let mut entries: Vec<FaqEntry> = Vec::new();
    for line in lines {
        if is_question(line) {
            entries.push(FaqEntry {
                entry_id: anchors.entry_id(document_id, line, entries.len() + 1),
                document_id: document_id.to_owned(),
                title: line.to_owned(),
                body: String::new(),
                section: Vec::new(),
                url: None,
            });
        } else if let Some(entry) = entries.last_mut() {
            if !entry.body.is_empty() {
                entry.body.push('\n');
            }
            entry.body.push_str(line);
        }
    }
    entries.retain(|entry| !entry.body.is_empty());
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_too_long_to_answer_with_is_refused_naming_the_limit() {
        let text = format!("## Huge\n{}\n", "word ".repeat(MAX_ENTRY_BYTES / 5 + 1));
        let error = parse_document("big.md", &text).expect_err("refused").to_string();
        assert!(error.contains("32 KiB"), "{error}");
        let fits = format!("## Fine\n{}\n", "word ".repeat(MAX_ENTRY_BYTES / 6));
        assert_eq!(parse_document("ok.md", &fits).expect("accepted").len(), 1);
    }

    #[test]
    fn equal_headings_get_numbered_anchors_in_one_pass() {
        let mut text = String::from("## Q 2\nfirst\n");
        for _ in 0..20_000 {
            text.push_str("## Q\nagain\n");
        }
        let entries = parse_markdown("dup.md", &text);
        assert_eq!(entries.len(), 20_001);
        assert_eq!(entries[0].entry_id, "dup.md#q-2");
        assert_eq!(entries[1].entry_id, "dup.md#q");
        assert_eq!(entries[2].entry_id, "dup.md#q-3", "q-2 is taken by the first heading");
        assert_eq!(entries[20_000].entry_id, "dup.md#q-20001");
        let ids: std::collections::HashSet<_> = entries.iter().map(|e| &e.entry_id).collect();
        assert_eq!(ids.len(), entries.len());
    }

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
        let products = "sku,name,price\n1,TV,300\n";
        let error = parse_csv("products.csv", products).expect_err("wrong columns are refused").to_string();
        assert!(error.contains("no question and answer columns"), "{error}");
    }

    #[test]
    fn json_arrays_of_questions_and_answers() {
        let doc = r#"[{"question": "Do you ship abroad?", "answer": "Yes, to the EU.", "category": "Shipping", "url": "https://x.test/ship"},
                      {"Q": "Gift cards?", "A": "From 10 euros."}]"#;
        let entries = parse_document("faq.json", doc).expect("parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].section, vec!["Shipping".to_owned()]);
        assert_eq!(entries[0].url.as_deref(), Some("https://x.test/ship"));
        assert_eq!(entries[1].entry_id, "faq.json#gift-cards");
        let wrapped = r#"{"faq": [{"title": "Hours", "body": "10 to 7"}]}"#;
        assert_eq!(parse_json("faq.json", wrapped).expect("parses")[0].body, "10 to 7");
        for broken in ["{", "[1, 2]", r#"[{"question": "no answer"}]"#, r#"{"other": []}"#] {
            assert!(parse_json("faq.json", broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn plain_text_blocks_and_question_lines() {
        let doc = "Opening hours\nMonday to Saturday, 10 to 7.\n\nDo you sell gift cards?\n\nYes, from 10 euros.\n\nQ: Can I collect in store?\nA: Yes, the next day.\n";
        let entries = parse_document("faq.txt", doc).expect("parses");
        let pairs: Vec<(&str, &str)> = entries.iter().map(|e| (e.title.as_str(), e.body.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("Opening hours", "Monday to Saturday, 10 to 7."),
                ("Do you sell gift cards?", "Yes, from 10 euros."),
                ("Can I collect in store?", "Yes, the next day."),
            ]
        );
    }

    #[test]
    fn unknown_types_are_refused() {
        assert!(matches!(parse_document("x.exe", ""), Err(RetrievalError::Unsupported(_))));
    }

    #[test]
    fn markdown_entries_are_added_and_replaced_in_place() {
        let doc = "# Shipping\n\n## How long does delivery take?\n2 to 4 days.\n\n## Do you ship abroad?\nTo the EU.\n";
        let added = append_markdown_entry(
            doc,
            "Do you have a\nstudent discount?",
            "Yes.\n# not a heading\n```\ncode",
        );
        let entries = parse_markdown("s.md", &added);
        assert_eq!(entries.len(), 3, "{added}");
        assert_eq!(entries[2].title, "Do you have a student discount?");
        assert_eq!(entries[2].body, "Yes.\n # not a heading\n```\ncode\n```");
        assert_eq!(entries[2].section, vec!["Shipping".to_owned()]);

        let replaced =
            replace_markdown_entry("s.md", &added, "s.md#how-long-does-delivery-take", "1 to 3 days.")
                .expect("the entry is there");
        let after = parse_markdown("s.md", &replaced);
        assert_eq!(after.len(), 3);
        assert_eq!(after[0].body, "1 to 3 days.");
        assert_eq!(after[1..], entries[1..], "the other entries are as they were");
        assert!(replace_markdown_entry("s.md", doc, "s.md#no-such", "x").is_none());
        // The last entry, and a document of top-level entries.
        let last =
            replace_markdown_entry("s.md", doc, "s.md#do-you-ship-abroad", "Worldwide.").expect("there");
        assert_eq!(parse_markdown("s.md", &last)[1].body, "Worldwide.");
        let flat = append_markdown_entry("# Hours\n10 to 7\n", "Parking?", "Free.");
        assert_eq!(flat, "# Hours\n10 to 7\n\n# Parking?\nFree.\n");
        assert_eq!(append_markdown_entry("", "Q?", "A."), "## Q?\nA.\n");
    }
}
