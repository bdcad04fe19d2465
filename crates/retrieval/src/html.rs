//! The HTML parser: the page's main content only (no navigation, header, footer, scripts,
//! forms, tables of contents, breadcrumbs or sidebars), split into entries at `h1`–`h3`
//! headings, at the questions of a definition list (`dt`/`dd` pairs whose terms are mostly
//! questions; a list of terms inside an answer stays part of the answer), and at the `summary`
//! of each `details` (the accordions of CMS pages).
//!
//! An entry is the smallest headed section with text of its own: a chapter heading followed
//! only by its table of contents or by sections is no entry. Titles lose their permalink signs
//! and their whitespace is normalised (no-break spaces included); entries with the same title
//! whose texts are the same, or one inside the other, are merged into one.
//!
//! An entry's link is the page's canonical URL (`<link rel="canonical">`) with the heading's or
//! term's `id` as the anchor, when the page gives both.

use scraper::{ElementRef, Html, Node, Selector};

use frontdesk_core::insights::normalise;

use crate::parse::{slug, FaqEntry, NumberedAnchors};

/// How deep the walk follows nested elements. The walk recurses, so a page nested far deeper
/// than any real one (a hostile upload of thousands of nested tags) would otherwise overflow
/// the thread's stack; below this depth its text is read flat.
const MAX_DEPTH: usize = 128;

/// Elements whose content is never FAQ text.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg", "button",
    "iframe", "select", "head",
];

/// Classes and ids of containers that hold navigation rather than content: tables of contents
/// (DocBook's `toc`, Sphinx's `toctree-wrapper` and `contents`), breadcrumbs, sidebars, menus,
/// DocBook's page header and footer links, cookie banners.
const CONTAINERS: &[&str] = &[
    "toc",
    "contents",
    "toctree-wrapper",
    "table-of-contents",
    "breadcrumb",
    "breadcrumbs",
    "sidebar",
    "sphinxsidebar",
    "menu",
    "navigation",
    "navheader",
    "navfooter",
    "pagination",
    "skip-link",
    "cookie-banner",
    "related",
];

/// ARIA roles of such containers.
const CONTAINER_ROLES: &[&str] = &["navigation", "banner", "contentinfo", "complementary", "search"];

/// Whether an element holds navigation rather than content.
fn is_container(element: ElementRef<'_>) -> bool {
    let value = element.value();
    value.attr("role").is_some_and(|r| CONTAINER_ROLES.contains(&r))
        || value.id().is_some_and(|id| CONTAINERS.contains(&id.to_ascii_lowercase().as_str()))
        || value.classes().any(|c| CONTAINERS.contains(&c.to_ascii_lowercase().as_str()))
}

/// Whether a definition list is a list of questions (most of its terms end with a question
/// mark), rather than terms explained inside an answer.
fn is_question_list(list: ElementRef<'_>) -> bool {
    let terms: Vec<String> = list
        .children()
        .filter_map(ElementRef::wrap)
        .filter(|child| child.value().name() == "dt")
        .map(inline_text)
        .collect();
    let questions = terms.iter().filter(|t| t.trim_end().ends_with(['?', '？'])).count();
    !terms.is_empty() && questions * 2 >= terms.len()
}

/// Elements after which text continues on a new line.
const BLOCKS: &[&str] = &[
    "p",
    "dt",
    "summary",
    "details",
    "div",
    "li",
    "ul",
    "ol",
    "br",
    "tr",
    "table",
    "section",
    "article",
    "blockquote",
    "pre",
    "h4",
    "h5",
    "h6",
    "dd",
    "dl",
];

struct Open {
    title: String,
    anchor: Option<String>,
    body: String,
}

struct Walker<'a> {
    document_id: &'a str,
    canonical: Option<String>,
    /// (level, title) of the headings above.
    headings: Vec<(usize, String)>,
    /// The entry under the current heading.
    heading: Option<Open>,
    /// The entry of the current `dt`, while inside a `dl`.
    term: Option<Open>,
    in_dd: bool,
    /// For each `dl` the walk is in: whether it is a list of questions.
    lists: Vec<bool>,
    entries: Vec<FaqEntry>,
    anchors: NumberedAnchors,
}

fn push_text(body: &mut String, text: &str) {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return;
    }
    if text.starts_with(char::is_whitespace) && !body.is_empty() && !body.ends_with(['\n', ' ']) {
        body.push(' ');
    }
    body.push_str(&words.join(" "));
    if text.ends_with(char::is_whitespace) {
        body.push(' ');
    }
}

fn newline(body: &mut String) {
    let trimmed = body.trim_end_matches(' ').len();
    body.truncate(trimmed);
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
}

/// An element's text on one line, whitespace collapsed.
/// A heading's or term's text, without the permalink documentation generators add to it
/// (Sphinx's and MkDocs' `¶`, the `#` of Docusaurus and GitHub): a question reads "How do I
/// make an executable?", not "How do I make an executable? ¶".
fn inline_text(element: ElementRef<'_>) -> String {
    let mut words = Vec::new();
    // Depth first with an explicit stack (no recursion, so no depth is too deep), children in
    // document order, a permalink's subtree skipped whole.
    let mut stack = vec![*element];
    while let Some(node) = stack.pop() {
        match node.value() {
            Node::Text(text) => words.extend(text.split_whitespace()),
            Node::Element(_) if ElementRef::wrap(node).is_some_and(is_permalink) => {}
            _ => {
                let children: Vec<_> = node.children().collect();
                stack.extend(children.into_iter().rev());
            }
        }
    }
    words.join(" ")
}

/// Whether an element is a permalink to its heading: a link to an anchor of this page that is
/// classed as one or says nothing but a permalink sign.
fn is_permalink(element: ElementRef<'_>) -> bool {
    let value = element.value();
    if value.name() != "a" || !value.attr("href").is_some_and(|href| href.starts_with('#')) {
        return false;
    }
    let classed =
        value.classes().any(|c| matches!(c, "headerlink" | "anchor" | "hash-link" | "anchorjs-link"));
    let text: String = element.text().collect();
    classed || matches!(text.trim(), "" | "¶" | "#" | "§" | "🔗" | "\u{200b}")
}

fn clean(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

impl Walker<'_> {
    fn finish(&mut self, open: Option<Open>, section: Vec<String>) {
        let Some(open) = open else { return };
        let body = clean(&open.body);
        let title = open.title.trim().to_owned();
        if body.is_empty() || title.is_empty() {
            return;
        }
        let anchor = self.anchors.unique(&open.anchor.clone().unwrap_or_else(|| slug(&title)));
        let url = match (&self.canonical, &open.anchor) {
            (Some(page), Some(id)) => Some(format!("{page}#{id}")),
            _ => None,
        };
        self.entries.push(FaqEntry {
            entry_id: format!("{}#{anchor}", self.document_id),
            document_id: self.document_id.to_owned(),
            title,
            body,
            section,
            url,
        });
    }

    fn section(&self, including_last: bool) -> Vec<String> {
        let end = if including_last { self.headings.len() } else { self.headings.len().saturating_sub(1) };
        self.headings[..end].iter().map(|(_, t)| t.clone()).collect()
    }

    fn finish_heading(&mut self) {
        let open = self.heading.take();
        let section = self.section(false);
        self.finish(open, section);
    }

    fn finish_term(&mut self) {
        let open = self.term.take();
        let section = self.section(true);
        self.finish(open, section);
    }

    fn text(&mut self, text: &str) {
        let target = if self.term.is_some() { self.term.as_mut() } else { self.heading.as_mut() };
        if let Some(open) = target {
            push_text(&mut open.body, text);
        }
    }

    fn break_line(&mut self) {
        for open in [self.term.as_mut(), self.heading.as_mut()].into_iter().flatten() {
            newline(&mut open.body);
        }
    }

    /// A `details` element: its `summary` is a question, the rest its answer. One without a
    /// summary is read as text.
    fn details(&mut self, element: ElementRef<'_>, id: Option<String>, depth: usize) {
        let summary = element.children().filter_map(ElementRef::wrap).find(|c| c.value().name() == "summary");
        let Some(summary) = summary else {
            for child in element.children().filter_map(ElementRef::wrap) {
                self.walk(child, depth + 1);
            }
            self.break_line();
            return;
        };
        self.finish_term();
        let anchor = id.or_else(|| summary.value().id().map(str::to_owned));
        self.term = Some(Open { title: inline_text(summary), anchor, body: String::new() });
        let was_in_dd = std::mem::replace(&mut self.in_dd, true);
        for child in element.children() {
            match child.value() {
                Node::Text(text) => self.text(text),
                Node::Element(_) => {
                    if let Some(child) = ElementRef::wrap(child).filter(|c| c.id() != summary.id()) {
                        self.walk(child, depth + 1);
                    }
                }
                _ => {}
            }
        }
        self.in_dd = was_in_dd;
        self.finish_term();
    }

    fn walk(&mut self, element: ElementRef<'_>, depth: usize) {
        if depth > MAX_DEPTH {
            // Far deeper than any real page: take the text as it is, without walking further.
            let words: Vec<&str> = element.text().flat_map(str::split_whitespace).collect();
            self.text(&words.join(" "));
            return;
        }
        let name = element.value().name();
        if SKIPPED.contains(&name) || element.value().attr("hidden").is_some() || is_container(element) {
            return;
        }
        let id = element.value().id().map(str::to_owned);
        match name {
            "h1" | "h2" | "h3" => {
                self.finish_term();
                self.finish_heading();
                let level = usize::from(name.as_bytes()[1] - b'0');
                let title = inline_text(element);
                while self.headings.last().is_some_and(|(l, _)| *l >= level) {
                    self.headings.pop();
                }
                self.headings.push((level, title.clone()));
                self.heading = Some(Open { title, anchor: id, body: String::new() });
                return;
            }
            "dt" if self.lists.last() == Some(&true) => {
                self.finish_term();
                let title = inline_text(element);
                self.term = Some(Open { title, anchor: id, body: String::new() });
                return;
            }
            "dd" if self.lists.last() == Some(&true) => self.in_dd = true,
            "dl" => self.lists.push(is_question_list(element)),
            "details" => {
                self.details(element, id, depth);
                return;
            }
            _ => {}
        }
        for child in element.children() {
            match child.value() {
                // Text in a `dl` outside its `dd`s belongs to no term.
                Node::Text(text) if self.term.is_none() || self.in_dd => self.text(text),
                Node::Element(_) => {
                    if let Some(child) = ElementRef::wrap(child) {
                        self.walk(child, depth + 1);
                    }
                }
                _ => {}
            }
        }
        match name {
            "dd" => {
                self.in_dd = false;
                self.break_line();
            }
            "dl" => {
                if self.lists.pop() == Some(true) {
                    self.finish_term();
                }
                self.break_line();
            }
            _ if BLOCKS.contains(&name) => self.break_line(),
            _ => {}
        }
    }
}

/// Splits an HTML page into FAQ entries.
pub fn parse_html(document_id: &str, text: &str) -> Vec<FaqEntry> {
    let html = Html::parse_document(text);
    let select = |css: &str| Selector::parse(css).ok().and_then(|s| html.select(&s).next());
    let canonical = select("link[rel=canonical]")
        .and_then(|link| link.value().attr("href"))
        .filter(|href| href.starts_with("https://") || href.starts_with("http://"))
        .map(|href| href.split('#').next().unwrap_or(href).to_owned());
    let title =
        select("title").map(|t| t.text().collect::<String>().trim().to_owned()).filter(|t| !t.is_empty());
    let main = select("main")
        .or_else(|| select("[role=main]"))
        .or_else(|| select("article"))
        .or_else(|| select("body"));
    let mut walker = Walker {
        document_id,
        canonical,
        headings: Vec::new(),
        // Text before the first heading belongs to the page's title, if it has one.
        heading: title.map(|title| Open { title, anchor: None, body: String::new() }),
        term: None,
        in_dd: false,
        lists: Vec::new(),
        entries: Vec::new(),
        anchors: NumberedAnchors::default(),
    };
    if let Some(main) = main {
        walker.walk(main, 0);
    }
    walker.finish_term();
    walker.finish_heading();
    merge_duplicates(walker.entries)
}

/// Entries with the same title whose texts are the same, or one inside the other (a page that
/// shows a question twice, once in a summary list): one entry, with the longer text.
fn merge_duplicates(entries: Vec<FaqEntry>) -> Vec<FaqEntry> {
    let mut out: Vec<FaqEntry> = Vec::with_capacity(entries.len());
    for entry in entries {
        let (title, body) = (normalise(&entry.title), normalise(&entry.body));
        let same = out.iter_mut().find(|kept| {
            let kept_body = normalise(&kept.body);
            normalise(&kept.title) == title && (kept_body.contains(&body) || body.contains(&kept_body))
        });
        match same {
            Some(kept) if entry.body.len() > kept.body.len() => kept.body = entry.body,
            Some(_) => {}
            None => out.push(entry),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><head><title>Help centre</title>
        <link rel="canonical" href="https://shop.test/help"><style>h2{color:red}</style></head>
        <body><nav><a href="/">Home</a> <a href="/help">Help</a></nav>
        <header><h1>Shop header</h1></header>
        <main>
          <h1>Help</h1>
          <h2 id="delivery">How long does delivery take?</h2>
          <p>Orders ship in <b>two</b> days.</p><p>Express is next day.</p>
          <script>alert("x")</script>
          <h2>Payments</h2>
          <dl>
            <dt id="klarna">Can I pay with Klarna?</dt><dd>Yes, in three instalments.</dd>
            <dt>Do you take PayPal?</dt><dd>Yes.</dd><dd>Also Apple Pay.</dd>
          </dl>
          <h3>Invoices</h3><ul><li>PDF by email</li><li>On request by post</li></ul>
        </main>
        <footer>© Shop. <h2>Footer heading</h2><p>Imprint</p></footer></body></html>"#;

    #[test]
    fn a_page_nested_far_too_deep_is_read_without_overflowing_the_stack() {
        let depth = 15_000;
        let page = format!(
            "<main><h2>Deep question?</h2>{}deep answer{}</main>",
            "<div><span>".repeat(depth),
            "</span></div>".repeat(depth)
        );
        // A thread with a small stack, as tokio's workers have.
        let entries = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || parse_html("deep.html", &page))
            .expect("thread")
            .join()
            .expect("no stack overflow");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].body, "deep answer");
    }

    #[test]
    fn permalink_signs_of_generated_docs_stay_out_of_titles() {
        let page = r##"<main>
            <h2 id="exe">How do I make an executable from a Python script?<a class="headerlink" href="#exe" title="Permalink to this heading">¶</a></h2>
            <p>Use a freezing tool.</p>
            <h2 id="why">Why #1 is <a href="#exe">the first</a><a href="#why" aria-hidden="true">#</a></h2>
            <p>Because it is.</p>
        </main>"##;
        let entries = parse_html("faq.html", page);
        assert_eq!(entries[0].title, "How do I make an executable from a Python script?");
        assert_eq!(entries[1].title, "Why #1 is the first", "a link with words is text");
        assert!(!entries[0].body.contains('¶'));
    }

    #[test]
    fn main_content_splits_at_headings_and_definition_terms() {
        let entries = parse_html("help.html", PAGE);
        let titles: Vec<&str> = entries.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(
            titles,
            ["How long does delivery take?", "Can I pay with Klarna?", "Do you take PayPal?", "Invoices"]
        );
        assert_eq!(entries[0].body, "Orders ship in two days.\nExpress is next day.");
        assert_eq!(entries[0].section, ["Help"]);
        assert_eq!(entries[0].url.as_deref(), Some("https://shop.test/help#delivery"));
        assert_eq!(entries[0].entry_id, "help.html#delivery");
        assert_eq!(entries[1].body, "Yes, in three instalments.");
        assert_eq!(entries[1].section, ["Help", "Payments"]);
        assert_eq!(entries[2].body, "Yes.\nAlso Apple Pay.");
        assert_eq!(entries[2].url, None, "no id, no link");
        assert_eq!(entries[3].body, "PDF by email\nOn request by post");
        assert_eq!(entries[3].section, ["Help", "Payments"]);
        let all: String = entries.iter().map(|e| format!("{} {}", e.title, e.body)).collect();
        for absent in ["alert", "Home", "Footer", "Imprint", "color:red", "Shop header"] {
            assert!(!all.contains(absent), "{absent} leaked into {all}");
        }
    }

    #[test]
    fn broken_markup_still_parses() {
        let entries = parse_html("x.html", "<h2>Returns<p>Within 30 <i>days</h2></p><p>Free of charge");
        assert!(!entries.is_empty());
        assert!(parse_html("x.html", "").is_empty());
    }

    /// HTML FAQs written for the tests as three generators make them (`tests/fixtures/html-faq`):
    /// DocBook (navigation header and footer, a chapter title with a table of contents as a
    /// definition list, numbered questions as section titles, one with no-break spaces, and an
    /// answer explaining terms in a definition list); Sphinx (related links, a local table of
    /// contents, `¶` permalinks, a sidebar); a CMS page (cookie banner, menu, breadcrumbs, an
    /// accordion of `details` with one question shown twice, an aside and a footer).
    const DOCBOOK: &str = include_str!("../../../tests/fixtures/html-faq/docbook.html");
    const SPHINX: &str = include_str!("../../../tests/fixtures/html-faq/sphinx.html");
    const CMS: &str = include_str!("../../../tests/fixtures/html-faq/cms.html");

    fn titles(entries: &[FaqEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.title.as_str()).collect()
    }

    #[test]
    fn a_docbook_chapter_gives_its_questions_not_its_table_of_contents() {
        let entries = parse_html("debian-faq.html", DOCBOOK);
        assert_eq!(
            titles(&entries),
            [
                "Chapter 9. Keeping your Debian system up-to-date",
                "9.1. Which Debian release is the newest?",
                "9.2. How can I upgrade my Debian system?",
                "9.3. What are maintainer scripts?",
                "9.4. Do I need to reboot after an upgrade?",
            ],
            "{entries:#?}"
        );
        assert!(entries[0].body.starts_with("One of Debian's goals"), "the chapter's own text, no contents");
        assert!(
            entries[3].body.contains("preinst")
                && entries[3].body.contains("runs before the package is removed")
        );
        assert_eq!(entries[1].entry_id, "debian-faq.html#s-newest");
    }

    #[test]
    fn a_sphinx_page_gives_its_questions_without_sidebar_or_contents() {
        let entries = parse_html("faq.html", SPHINX);
        assert_eq!(
            titles(&entries),
            ["How long does delivery take?", "Can I return an item?", "Which payment methods do you accept?"],
            "{entries:#?}"
        );
    }

    #[test]
    fn a_cms_accordion_gives_each_question_once() {
        let entries = parse_html("help.html", CMS);
        assert_eq!(
            titles(&entries),
            [
                "Frequently asked questions",
                "Do you offer gift wrapping?",
                "Can I pay later?",
                "When is the Leipzig store open?"
            ],
            "{entries:#?}"
        );
        assert_eq!(
            entries[1].body,
            "Yes: choose gift wrapping at checkout for 3 euros, with a card and your message."
        );
        assert_eq!(entries[1].entry_id, "help.html#q-gift");
        assert_eq!(entries[1].section, ["Frequently asked questions", "Orders"]);
    }
}
