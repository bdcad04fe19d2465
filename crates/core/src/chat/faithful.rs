//! The faithfulness check: a generated answer may state only what its sources say. A small
//! model writes fluently and invents freely ("use Perl's chomp()", a price off by ten), so
//! the code checks every fact-like word of the answer against the evidence (the passages the
//! model was given, the visitor's questions and what the host page said about the visitor):
//! numbers (prices, durations, dates, percentages), links, e-mail addresses, code identifiers
//! and names (capitalised words inside a sentence) must occur there, and most of the answer's
//! content words must too.
//!
//! The check runs while the answer streams: a word is shown once it is complete and checked
//! (the one being written waits, so a number is never shown half-checked), and the first
//! unsupported fact stops the model. See [`Checker`].

use std::collections::{HashMap, HashSet};

use crate::catalog::is_cjk;
use crate::retrieve::Passage;

/// A fact-like word of an answer that the evidence lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// What kind of fact.
    pub kind: FactKind,
    /// The word as the answer wrote it.
    pub word: String,
}

/// The kinds of fact the check looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactKind {
    /// A number: a price, a duration, a date, a percentage, a count.
    Number,
    /// A web address.
    Link,
    /// An e-mail address.
    Email,
    /// A code identifier (`snake_case`, `camelCase`, `call()`, `a::b`).
    Code,
    /// A name: a capitalised word inside a sentence (a product, a course, a place).
    Name,
    /// A price told in words: "free", "at no cost", "discounted", "免费" (the content
    /// studio's check; see [`unsupported_price_words`]).
    Price,
    /// Too few of the answer's content words occur in the evidence.
    Wording,
}

impl FactKind {
    /// Every kind, in the order of [`FactKind::label`]'s metric labels.
    pub const ALL: [Self; 7] =
        [Self::Number, Self::Link, Self::Email, Self::Code, Self::Name, Self::Price, Self::Wording];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::Link => "link",
            Self::Email => "email",
            Self::Code => "code",
            Self::Name => "name",
            Self::Price => "price",
            Self::Wording => "wording",
        }
    }
}

/// The share of an answer's content words that must occur in the evidence. Chosen on the
/// 164 labelled answers of `knowledge-base/faithfulness.tsv` (`frontdesk eval --faithfulness`):
/// from 0.4 to 0.75 the check refused the same 3 faithful answers while catching more
/// unfaithful ones (recall 0.45 to 0.58, precision 0.93 to 0.94); at 0.8 it refused 8. 0.7
/// keeps a margin below that knee for FAQs worded unlike this one.
pub const MIN_SUPPORT: f32 = 0.7;

/// The support share is judged once an answer has this many content words (fewer say too
/// little to judge).
const SUPPORT_AFTER_WORDS: usize = 8;

/// The courtesies of customer service ("sorry for the inconvenience, happy to help"): they
/// state nothing, so they neither support nor weaken an answer's wording.
const SERVICE_TALK: &[&str] = &[
    "sorry",
    "apologise",
    "apologize",
    "apologies",
    "inconvenience",
    "confusion",
    "misunderstanding",
    "happy",
    "glad",
    "pleased",
    "help",
    "helps",
    "assist",
    "assistance",
    "please",
    "thank",
    "thanks",
    "welcome",
    "hello",
    "hope",
    "question",
    "questions",
    "answer",
    "answers",
    "information",
    "details",
    "anything",
    "else",
    "unable",
    "response",
];

/// What the answer may draw on, prepared for quick lookups.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The evidence, lowercase, for links, addresses and identifiers.
    text: String,
    /// Its words, lowercase.
    words: HashSet<String>,
    /// Its words written with a capital (names, mostly), as written.
    capitalised: HashSet<String>,
    /// Their stems, for content-word support.
    stems: HashSet<String>,
    /// Its numbers, normalised ("20,000" -> "20000", "4,90" -> "4.90", "two" -> "2").
    numbers: HashSet<String>,
    /// The bounds it puts on its numbers ("over €49": 49 is a lower bound), as [`Bound`] bits.
    bounds: HashMap<String, u8>,
}

impl Evidence {
    /// Evidence made of `texts`.
    pub fn new<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut evidence = Self::default();
        for text in texts {
            evidence
                .capitalised
                .extend(words_of(text).filter(|w| w.starts_with(char::is_uppercase)).map(str::to_owned));
            let lower = text.to_lowercase();
            for word in words_of(&lower) {
                if let Some(n) = number_word(word) {
                    evidence.numbers.insert(n.to_owned());
                }
                evidence.stems.insert(stem(word));
                evidence.words.insert(word.to_owned());
            }
            evidence.numbers.extend(numbers_in(&lower));
            add_bounds(&mut evidence.bounds, &lower);
            evidence.text.push_str(&lower);
            evidence.text.push('\n');
        }
        evidence
    }

    /// The evidence of a generated answer: the passages the model was given, the visitor's
    /// words (the question, earlier questions) and the system prompt (the company's own
    /// instructions, with what the host page said about the visitor). A bound the visitor puts
    /// on a number ("is it free under €49?") is a premise, not support: bounds are read from
    /// the passages and the system prompt only.
    pub fn of_answer<'a>(
        passages: &'a [Passage],
        visitor_words: impl IntoIterator<Item = &'a str>,
        system: &'a str,
    ) -> Self {
        let company = || {
            passages
                .iter()
                .flat_map(|p| {
                    [p.title.as_str(), p.body.as_str()]
                        .into_iter()
                        .chain(p.section.iter().map(String::as_str))
                })
                .chain(std::iter::once(system))
        };
        let mut evidence = Self::new(company().chain(visitor_words));
        evidence.bounds.clear();
        for text in company() {
            add_bounds(&mut evidence.bounds, &text.to_lowercase());
        }
        evidence
    }

    /// Whether the evidence writes `word` with its capital ("Python", "Brightwave").
    pub fn capitalises(&self, word: &str) -> bool {
        self.capitalised.contains(word)
    }

    fn has_number(&self, number: &str) -> bool {
        self.numbers.contains(number)
    }
}

/// The words of a text: runs of letters and digits (with inner apostrophes, hyphens kept
/// apart), a run of Chinese characters apart from the Latin letters and digits beside it
/// ("支持PayPal付款": "支持", "paypal", "付款").
fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .flat_map(script_runs)
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
}

/// Whether `c` is written in Chinese text's own script: a Chinese character, or a CJK or
/// full-width mark ("，", "。", "：").
fn is_cjk_script(c: char) -> bool {
    is_cjk(c) || matches!(c, '\u{3000}'..='\u{303f}' | '\u{ff00}'..='\u{ffef}')
}

/// `text` cut where it changes between Chinese script and any other: Chinese text is not
/// spaced, so a Latin name inside it is a run of its own.
fn script_runs(text: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut last = None;
    for (at, c) in text.char_indices() {
        let chinese = is_cjk_script(c);
        if last.is_some_and(|was| was != chinese) {
            runs.push(&text[start..at]);
            start = at;
        }
        last = Some(chinese);
    }
    if start < text.len() {
        runs.push(&text[start..]);
    }
    runs
}

/// A crude stem: the first five characters of a longer word ("refunded", "refunds" ->
/// "refun"), enough to match inflections in the languages the FAQ is written in.
fn stem(word: &str) -> String {
    word.chars().take(5).collect()
}

/// The numbers spelled as words in the evidence (an answer may write "2" for "two").
fn number_word(word: &str) -> Option<&'static str> {
    const WORDS: [(&str, &str); 12] = [
        ("one", "1"),
        ("two", "2"),
        ("three", "3"),
        ("four", "4"),
        ("five", "5"),
        ("six", "6"),
        ("seven", "7"),
        ("eight", "8"),
        ("nine", "9"),
        ("ten", "10"),
        ("eleven", "11"),
        ("twelve", "12"),
    ];
    WORDS.iter().find(|(w, _)| *w == word).map(|(_, n)| *n)
}

/// The numbers in a text, normalised: thousands separators dropped, a decimal comma written
/// as a point, leading zeros of whole numbers kept as written.
fn numbers_in(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || ((chars[i] == ',' || chars[i] == '.')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        out.push(normalise_number(&chars[start..i].iter().collect::<String>()));
    }
    out
}

/// "20,000" -> "20000", "4,90" -> "4.90", "1.100" -> "1100", "4.90" -> "4.90".
fn normalise_number(raw: &str) -> String {
    let groups: Vec<&str> = raw.split([',', '.']).collect();
    if groups.len() == 1 {
        return raw.to_owned();
    }
    // Separators followed by three digits each are thousands separators.
    if groups[1..].iter().all(|g| g.len() == 3) && groups[0].len() <= 3 && groups.len() > 2 {
        return groups.concat();
    }
    if groups.len() == 2 && groups[1].len() == 3 && raw.contains(',') {
        return groups.concat();
    }
    if groups.len() == 2 {
        return format!("{}.{}", groups[0], groups[1]);
    }
    groups.concat()
}

/// The unsupported facts among `answer`'s words, in order.
fn unsupported_words(answer: &str, evidence: &Evidence) -> Vec<Unsupported> {
    const PUNCTUATION: &[char] = &[
        '.', ',', ';', ':', '!', '?', '"', '(', ')', '[', ']', '*', '\u{201c}', '\u{201d}', '\'', '\u{2019}',
    ];
    let mut out = Vec::new();
    for line in answer.lines() {
        // A line starts a sentence, after its list marker ("1.", "-") if it has one.
        let mut sentence_start = true;
        for (n, token) in line.split_whitespace().enumerate() {
            if n == 0 && is_list_marker(token) {
                continue;
            }
            // Unspaced Chinese text: each Latin or digit run inside it is a word of its own,
            // the Chinese runs none (their numbers are runs of digits).
            for raw in script_runs(token) {
                if raw.chars().next().is_some_and(is_cjk_script) {
                    sentence_start = raw.ends_with(['。', '！', '？', '：']);
                    continue;
                }
                let word = raw.trim_matches(PUNCTUATION);
                let starts = sentence_start;
                sentence_start = raw.ends_with(['.', '!', '?', ':']) || word.is_empty();
                if word.is_empty() {
                    continue;
                }
                if let Some(kind) = fact_kind(raw, word, starts) {
                    if !supported(kind, word, evidence) {
                        out.push(Unsupported { kind, word: word.to_owned() });
                    }
                }
            }
        }
    }
    out
}

fn is_list_marker(raw: &str) -> bool {
    matches!(raw, "-" | "*" | "\u{2022}")
        || (raw.len() > 1
            && raw.ends_with(['.', ')'])
            && raw[..raw.len() - 1].chars().all(|c| c.is_ascii_digit()))
}

/// What kind of fact a word is, if any. `raw` keeps its punctuation.
fn fact_kind(raw: &str, word: &str, starts_sentence: bool) -> Option<FactKind> {
    let lower = word.to_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("www.") {
        return Some(FactKind::Link);
    }
    if word.contains('@') && word.rsplit('@').next().is_some_and(|d| d.contains('.')) {
        return Some(FactKind::Email);
    }
    if word.chars().any(|c| c.is_ascii_digit()) {
        return Some(FactKind::Number);
    }
    // camelCase: a lowercase start and a capital inside ("PayPal" and "FedEx" are names).
    let camel = word.starts_with(char::is_lowercase) && word.chars().any(char::is_uppercase);
    if word.contains('_') || word.contains("::") || raw.contains("()") || raw.starts_with('`') || camel {
        return Some(FactKind::Code);
    }
    // A dotted word that is not a sentence end ("example.com", "config.toml"; not "e.g").
    if word.contains('.') && word.split('.').all(|p| p.chars().count() >= 2) {
        return Some(FactKind::Link);
    }
    let first = word.chars().next()?;
    if first.is_uppercase() && !starts_sentence && word != "I" && !word.starts_with("I'") {
        return Some(FactKind::Name);
    }
    None
}

fn supported(kind: FactKind, word: &str, evidence: &Evidence) -> bool {
    let lower = word.to_lowercase();
    match kind {
        FactKind::Number => numbers_in(&lower).iter().all(|n| evidence.has_number(n)),
        FactKind::Link | FactKind::Email | FactKind::Code => {
            let bare = lower.trim_end_matches("()").trim_matches('`');
            evidence.text.contains(bare)
        }
        FactKind::Name => {
            words_of(&lower).all(|w| evidence.words.contains(w) || evidence.stems.contains(&stem(w)))
        }
        FactKind::Price | FactKind::Wording => true,
    }
}

/// The share of `answer`'s content words whose stem occurs in the evidence, and how many
/// content words it has.
pub fn support(answer: &str, evidence: &Evidence) -> (f32, usize) {
    let mut words = super::citations::content_words(answer);
    words.retain(|w| !SERVICE_TALK.contains(&w.as_str()));
    if words.is_empty() {
        return (1.0, 0);
    }
    let found = words.iter().filter(|w| evidence.stems.contains(&stem(w))).count();
    #[allow(clippy::cast_precision_loss)]
    let share = found as f32 / words.len() as f32;
    (share, words.len())
}

/// The least share of its passage's content words a finished answer must cover: below it the
/// answer says too little of what the FAQ says (see [`incomplete`]).
pub const MIN_COVERAGE: f32 = 0.25;

/// Whether a finished, faithful answer leaves out what its passage is about: it covers less
/// than `min_coverage` of the passage's content words (by stem), or the passage states figures
/// (a price, a duration, a count) and the answer names none of them.
pub fn incomplete(answer: &str, passage: &str, min_coverage: f32) -> bool {
    let passage_words = super::citations::content_words(passage);
    if passage_words.is_empty() {
        return false;
    }
    let answer_stems: HashSet<String> =
        super::citations::content_words(answer).iter().map(|w| stem(w)).collect();
    let covered = passage_words.iter().filter(|w| answer_stems.contains(&stem(w))).count();
    #[allow(clippy::cast_precision_loss)]
    let coverage = covered as f32 / passage_words.len() as f32;
    let figures: HashSet<String> = numbers_in(&passage.to_lowercase()).into_iter().collect();
    let named = numbers_in(&answer.to_lowercase()).iter().any(|n| figures.contains(n));
    coverage < min_coverage || (!figures.is_empty() && !named)
}

/// Every fact-like word of `text` (numbers, links, e-mail addresses, code identifiers, names,
/// prices told in words) that the evidence lacks, in order: the content studio marks them all,
/// where an answer stops at the first.
pub fn unsupported_facts(text: &str, evidence: &Evidence) -> Vec<Unsupported> {
    let mut out = unsupported_words(text, evidence);
    out.extend(unsupported_quantities(text, evidence));
    out.extend(unsupported_bounds(text, evidence));
    out.extend(unsupported_price_words(text, evidence));
    out.extend(unsupported_chinese_names(text, evidence));
    out
}

/// Names written in Chinese characters, with their names in English: places a company ships
/// to, carriers, marketplaces, payment services and brands. Chinese has no capitals, so
/// [`unsupported_words`] cannot tell its names; a small model writing Chinese from English
/// sources invents exactly these ("顺丰" as the carrier, "新西兰" among the countries). Names
/// that are also common words ("苹果", apple; "小米", millet) are left out. An English name in
/// capitals (an acronym) must be written so in the evidence; the others match in any case.
const CHINESE_NAMES: &[(&str, &[&str])] = &[
    ("中国", &["China", "Chinese", "mainland"]),
    ("美国", &["United States", "USA", "US", "America", "American"]),
    ("英国", &["United Kingdom", "UK", "Britain", "British", "England"]),
    ("德国", &["Germany", "German"]),
    ("法国", &["France", "French"]),
    ("意大利", &["Italy", "Italian"]),
    ("西班牙", &["Spain", "Spanish"]),
    ("荷兰", &["Netherlands", "Dutch", "Holland"]),
    ("比利时", &["Belgium"]),
    ("卢森堡", &["Luxembourg"]),
    ("瑞士", &["Switzerland", "Swiss"]),
    ("奥地利", &["Austria"]),
    ("瑞典", &["Sweden"]),
    ("挪威", &["Norway"]),
    ("丹麦", &["Denmark"]),
    ("芬兰", &["Finland"]),
    ("冰岛", &["Iceland"]),
    ("波兰", &["Poland"]),
    ("葡萄牙", &["Portugal"]),
    ("爱尔兰", &["Ireland"]),
    ("希腊", &["Greece"]),
    ("捷克", &["Czech"]),
    ("匈牙利", &["Hungary"]),
    ("俄罗斯", &["Russia"]),
    ("乌克兰", &["Ukraine"]),
    ("土耳其", &["Turkey"]),
    ("加拿大", &["Canada"]),
    ("墨西哥", &["Mexico"]),
    ("巴西", &["Brazil"]),
    ("阿根廷", &["Argentina"]),
    ("日本", &["Japan"]),
    ("韩国", &["Korea"]),
    ("印度尼西亚", &["Indonesia"]),
    ("印尼", &["Indonesia"]),
    ("印度", &["India"]),
    ("新加坡", &["Singapore"]),
    ("马来西亚", &["Malaysia"]),
    ("泰国", &["Thailand"]),
    ("越南", &["Vietnam"]),
    ("菲律宾", &["Philippines"]),
    ("澳大利亚", &["Australia"]),
    ("澳洲", &["Australia"]),
    ("新西兰", &["New Zealand"]),
    ("南非", &["South Africa"]),
    ("以色列", &["Israel"]),
    ("阿联酋", &["UAE", "Emirates"]),
    ("沙特", &["Saudi"]),
    ("香港", &["Hong Kong"]),
    ("澳门", &["Macau", "Macao"]),
    ("台湾", &["Taiwan"]),
    ("欧盟", &["EU", "European Union"]),
    ("欧洲", &["Europe", "European", "EU"]),
    ("亚洲", &["Asia"]),
    ("北美", &["North America"]),
    ("南美", &["South America"]),
    ("非洲", &["Africa"]),
    ("中东", &["Middle East"]),
    ("北京", &["Beijing"]),
    ("上海", &["Shanghai"]),
    ("广州", &["Guangzhou"]),
    ("深圳", &["Shenzhen"]),
    ("柏林", &["Berlin"]),
    ("巴黎", &["Paris"]),
    ("伦敦", &["London"]),
    ("东京", &["Tokyo"]),
    ("纽约", &["New York"]),
    ("阿姆斯特丹", &["Amsterdam"]),
    ("顺丰", &["SF Express"]),
    ("中通", &["ZTO"]),
    ("圆通", &["YTO"]),
    ("申通", &["STO"]),
    ("韵达", &["Yunda"]),
    ("中国邮政", &["China Post"]),
    ("联邦快递", &["FedEx"]),
    ("京东", &["JD"]),
    ("淘宝", &["Taobao"]),
    ("天猫", &["Tmall"]),
    ("拼多多", &["Pinduoduo"]),
    ("亚马逊", &["Amazon"]),
    ("支付宝", &["Alipay"]),
    ("微信", &["WeChat"]),
    ("银联", &["UnionPay"]),
    ("贝宝", &["PayPal"]),
    ("谷歌", &["Google"]),
    ("微软", &["Microsoft"]),
    ("三星", &["Samsung"]),
    ("华为", &["Huawei"]),
];

/// The names of [`CHINESE_NAMES`] that `text` writes and the evidence has in neither
/// language; where one name holds another ("中国邮政", "中国"), the longer is read.
pub fn unsupported_chinese_names(text: &str, evidence: &Evidence) -> Vec<Unsupported> {
    let mut found: Vec<(usize, usize, &str, &[&str])> = CHINESE_NAMES
        .iter()
        .flat_map(|(name, english)| {
            text.match_indices(name).map(move |(at, _)| (at, at + name.len(), *name, *english))
        })
        .collect();
    // Longest first, then in the text's order: a match inside a longer one is not read.
    found.sort_by_key(|(start, end, ..)| (std::cmp::Reverse(end - start), *start));
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut out = Vec::new();
    for (start, end, name, english) in found {
        if taken.iter().any(|(s, e)| start < *e && *s < end) {
            continue;
        }
        taken.push((start, end));
        let stated = evidence.text.contains(name)
            || english.iter().any(|word| {
                if word.chars().all(|c| c.is_ascii_uppercase()) {
                    evidence.capitalised.contains(*word)
                } else {
                    has_phrase(&evidence.text, &word.to_lowercase())
                }
            });
        if !stated {
            out.push((start, Unsupported { kind: FactKind::Name, word: name.to_owned() }));
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out.into_iter().map(|(_, u)| u).collect()
}

/// Whether `text` has `phrase` as whole words.
fn has_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The unit a word names, by family in English and Chinese ("hours", "hr", "小时" -> hour;
/// "euros", "欧元", "€" -> euro), for a number written before it (a currency also after it:
/// see [`currency_of`]). Chinese date marks (年, 月, 日) are left out: "1月11日" is a date,
/// not a quantity.
fn unit_of(word: &str) -> Option<&'static str> {
    const CHINESE: [(&str, &str); 11] = [
        ("小时", "hour"),
        ("钟头", "hour"),
        ("分钟", "minute"),
        ("天", "day"),
        ("星期", "week"),
        ("个月", "month"),
        ("欧元", "euro"),
        ("美元", "dollar"),
        ("英镑", "pound"),
        ("人民币", "yuan"),
        ("元", "yuan"),
    ];
    if let Some((_, unit)) = CHINESE.iter().find(|(w, _)| word.starts_with(w)) {
        return Some(unit);
    }
    currency_of(word).or(match word.trim_end_matches('s') {
        "%" | "percent" => Some("percent"),
        "hour" | "hr" | "h" => Some("hour"),
        "minute" | "min" => Some("minute"),
        // "eight weekly lessons" take eight weeks.
        "day" | "daily" => Some("day"),
        "week" | "weekly" => Some("week"),
        "month" | "monthly" => Some("month"),
        "year" | "yr" | "yearly" => Some("year"),
        _ => None,
    })
}

/// The currency a sign or a code names ("€", "eur", "$", "usd"), written before a number
/// ("€49", "USD 20") or after it ("49 €", "49 euros").
fn currency_of(word: &str) -> Option<&'static str> {
    match word.trim_end_matches('s') {
        "\u{20ac}" | "euro" | "eur" => Some("euro"),
        "$" | "dollar" | "usd" => Some("dollar"),
        "\u{a3}" | "pound" | "gbp" => Some("pound"),
        "\u{a5}" | "yuan" | "rmb" | "cny" => Some("yuan"),
        _ => None,
    }
}

/// Whether a token is a currency's sign: a unit though it is no word.
fn is_currency_sign(token: &str) -> bool {
    matches!(token, "\u{20ac}" | "$" | "\u{a3}" | "\u{a5}")
}

/// Words after a number that may still name its unit ("2 to 4 working days").
const UNIT_REACH: usize = 4;

/// A text's words and marks for quantities: numbers apart from the letters beside them
/// ("16-hour" -> "16", "hour"; "12小时" -> "12", "小时"), a sentence mark, "%" and a
/// currency's sign as words of their own.
fn quantity_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut kind = 0u8;
    for c in text.to_lowercase().chars() {
        let next = if c.is_ascii_digit() || (matches!(c, '.' | ',') && kind == 1) {
            1
        } else if c.is_alphanumeric() {
            if is_cjk(c) {
                3
            } else {
                2
            }
        } else {
            0
        };
        if next != kind || next == 0 {
            let done = std::mem::take(&mut current);
            let done = if kind == 1 { done.trim_end_matches(['.', ',']).to_owned() } else { done };
            if !done.is_empty() {
                tokens.push(done);
            }
            // A sentence mark is a word of its own (a quantity's unit stays in its sentence);
            // so are "%" and a currency's sign, units.
            let sign = match c {
                '\u{ff05}' => '%',
                '\u{ffe5}' => '\u{a5}',
                '\u{ffe1}' => '\u{a3}',
                '\u{ff04}' => '$',
                c => c,
            };
            if matches!(sign, '.' | '!' | '?' | ';' | '。' | '！' | '？' | '；' | '%')
                || is_currency_sign(&sign.to_string())
            {
                tokens.push(sign.to_string());
            }
        }
        if next != 0 {
            current.push(c);
        }
        kind = next;
    }
    if !current.is_empty() {
        tokens.push(current.trim_end_matches(['.', ',']).to_owned());
    }
    tokens
}

/// A number token's value, normalised, if the token is a number.
fn number_token(token: &str) -> Option<String> {
    token.starts_with(|c: char| c.is_ascii_digit()).then(|| normalise_number(token))
}

/// The units given to the number at `at`: a currency written just before it ("€49", "USD
/// 20"), and each unit named within `reach` words after it in its sentence (a sign only right
/// after it: "49 €").
fn units_at(tokens: &[String], at: usize, reach: usize) -> Vec<&'static str> {
    let mut units: Vec<&'static str> =
        at.checked_sub(1).and_then(|before| currency_of(&tokens[before])).into_iter().collect();
    for (n, next) in tokens.iter().skip(at + 1).take(reach).enumerate() {
        let sign = is_currency_sign(next);
        if sign && n > 0 || !sign && next.chars().all(|c| !c.is_alphanumeric()) && next != "%" {
            break;
        }
        units.extend(unit_of(next));
    }
    units
}

/// The quantities of a text: (number, unit) for each number and each unit given to it (see
/// [`units_at`]).
fn quantities(text: &str) -> HashSet<(String, &'static str)> {
    let tokens = quantity_tokens(text);
    let mut out = HashSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let Some(number) = number_token(token).or_else(|| number_word(token).map(str::to_owned)) else {
            continue;
        };
        for unit in units_at(&tokens, i, UNIT_REACH) {
            out.insert((number.clone(), unit));
        }
    }
    out
}

/// The numbers `text` gives with a unit ("10 minutes", "16-hour", "12小时", "49美元", "$49")
/// that the evidence never gives with that unit: the number alone may be in the sources
/// ("ten small circuits"), a duration made of it is not, nor a price in another currency
/// ("49美元" where the sources say "€49"). A number the evidence lacks is flagged as a number
/// already.
pub fn unsupported_quantities(text: &str, evidence: &Evidence) -> Vec<Unsupported> {
    let known = quantities(&evidence.text);
    let tokens = quantity_tokens(text);
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        // A number in words ("one hour") is no number to the number check: its unit's
        // support is all there is to check of it.
        let (normal, in_words) = match (number_token(token), number_word(token)) {
            (Some(normal), _) => (normal, false),
            (None, Some(word)) => (word.to_owned(), true),
            (None, None) => continue,
        };
        if !in_words && !evidence.has_number(&normal) {
            continue;
        }
        for unit in units_at(&tokens, i, 1) {
            if known.contains(&(normal.clone(), unit)) {
                continue;
            }
            let before =
                i.checked_sub(1).map(|b| tokens[b].as_str()).filter(|b| currency_of(b) == Some(unit));
            let word = match (before, tokens.get(i + 1)) {
                (Some(sign), _) if is_currency_sign(sign) => format!("{sign}{token}"),
                (Some(code), _) => format!("{code} {token}"),
                (None, Some(word)) if word.chars().any(is_cjk) => {
                    let unit_word: String =
                        word.chars().take_while(|c| !"的和与、".contains(*c)).take(2).collect();
                    format!("{token} {unit_word}")
                }
                (None, Some(word)) => format!("{token} {word}"),
                (None, None) => token.clone(),
            };
            out.push(Unsupported { kind: FactKind::Number, word });
        }
    }
    out
}

/// Which side of a number a text puts what it speaks of: "over €49", "at least 2", "49欧元以上"
/// (the number is a lower bound); "under €49", "within 30 days", "up to 24 hours", "30天内"
/// (an upper bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Lower = 1,
    Upper = 2,
}

/// Bound words before a number, longest first (a phrase is matched on the words just before
/// the number, a currency's sign between them skipped).
const BOUNDS_BEFORE: &[(&[&str], Bound)] = &[
    (&["no", "more", "than"], Bound::Upper),
    (&["no", "less", "than"], Bound::Lower),
    (&["more", "than"], Bound::Lower),
    (&["at", "least"], Bound::Lower),
    (&["less", "than"], Bound::Upper),
    (&["fewer", "than"], Bound::Upper),
    (&["up", "to"], Bound::Upper),
    (&["at", "most"], Bound::Upper),
    (&["over"], Bound::Lower),
    (&["above"], Bound::Lower),
    (&["exceeding"], Bound::Lower),
    (&["under"], Bound::Upper),
    (&["below"], Bound::Upper),
    (&["within"], Bound::Upper),
    (&["before"], Bound::Upper),
    (&["after"], Bound::Lower),
];

/// Chinese bound words ending the run of characters before a number ("订单超过49欧元"); the
/// negated ones first ("不超过" is not "超过").
const CHINESE_BOUNDS_BEFORE: &[(&str, Bound)] = &[
    ("不超过", Bound::Upper),
    ("不少于", Bound::Lower),
    ("不到", Bound::Upper),
    ("低于", Bound::Upper),
    ("少于", Bound::Upper),
    ("小于", Bound::Upper),
    ("最多", Bound::Upper),
    ("超过", Bound::Lower),
    ("高于", Bound::Lower),
    ("大于", Bound::Lower),
    ("至少", Bound::Lower),
    ("满", Bound::Lower),
];

/// Chinese bound words right after a number's unit ("49欧元以上", "30天内").
const CHINESE_BOUNDS_AFTER: &[(&str, Bound)] = &[
    ("以上", Bound::Lower),
    ("起", Bound::Lower),
    ("以下", Bound::Upper),
    ("以内", Bound::Upper),
    ("之内", Bound::Upper),
    ("内", Bound::Upper),
];

/// Units written between a number and a Chinese bound after it, longest first where one
/// starts another.
const CHINESE_BOUND_UNITS: &[&str] = &[
    "欧元",
    "美元",
    "英镑",
    "人民币",
    "元",
    "个工作日",
    "工作日",
    "个小时",
    "小时",
    "分钟",
    "天",
    "日",
    "周",
    "个星期",
    "星期",
    "个月",
    "年",
];

/// The numbers of a (lowercase) text that it bounds, with the bound and the words that say it
/// and the number as written ("under €49").
fn bounded_numbers(text: &str) -> Vec<(String, Bound, String)> {
    let tokens = quantity_tokens(text);
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Some(number) = number_token(token) else { continue };
        // The words before it, a currency's sign or code just before it skipped.
        let sign = i.checked_sub(1).filter(|&b| currency_of(&tokens[b]).is_some());
        let end = sign.unwrap_or(i);
        let written = match sign {
            Some(b) if is_currency_sign(&tokens[b]) => format!("{}{token}", tokens[b]),
            Some(b) => format!("{} {token}", tokens[b]),
            None => token.clone(),
        };
        let before = BOUNDS_BEFORE.iter().find(|(words, _)| {
            end >= words.len() && tokens[end - words.len()..end].iter().zip(words.iter()).all(|(t, w)| t == w)
        });
        let chinese_before = end
            .checked_sub(1)
            .and_then(|b| CHINESE_BOUNDS_BEFORE.iter().find(|(word, _)| tokens[b].ends_with(word)));
        // After it: its unit's characters, then the bound ("欧元以上", "天内"), or the bound
        // itself ("49以上").
        let chinese_after = tokens.get(i + 1).and_then(|next| {
            let rest = next.as_str();
            let unit = CHINESE_BOUND_UNITS.iter().find(|u| rest.starts_with(*u)).map_or(0, |u| u.len());
            CHINESE_BOUNDS_AFTER
                .iter()
                .find(|(word, _)| rest[unit..].starts_with(word) && (unit > 0 || *word != "内"))
        });
        if let Some((words, bound)) = before {
            out.push((number, *bound, format!("{} {written}", words.join(" "))));
        } else if let Some((word, bound)) = chinese_before {
            out.push((number, *bound, format!("{word}{written}")));
        } else if let Some((word, bound)) = chinese_after {
            out.push((number, *bound, format!("{written}{word}")));
        }
    }
    out
}

/// Adds the bounds a lowercase text puts on its numbers to `bounds` ([`Bound`] bits).
fn add_bounds(bounds: &mut HashMap<String, u8>, lower: &str) {
    for (number, bound, _) in bounded_numbers(lower) {
        *bounds.entry(number).or_default() |= bound as u8;
    }
}

/// The numbers `text` bounds the other way than every bound the evidence puts on them: "free
/// on orders under €49" where the sources say "free on orders over €49" (a small model's
/// favourite inversion). A number the evidence gives without a bound is not judged here (nor
/// one it lacks: the number check flags it); one it bounds both ways passes either.
pub fn unsupported_bounds(text: &str, evidence: &Evidence) -> Vec<Unsupported> {
    bounded_numbers(&text.to_lowercase())
        .into_iter()
        .filter(|(number, bound, _)| {
            evidence.bounds.get(number).is_some_and(|known| known & (*bound as u8) == 0)
        })
        .map(|(_, _, word)| Unsupported { kind: FactKind::Number, word })
        .collect()
}

/// Words that state a price without a number. "free" alone, not inside a compound
/// ("hands-free", "tangle-free") nor in "feel free".
const PRICE_WORDS: &[&str] = &["free", "complimentary", "gratis", "discount", "discounted", "discounts"];
/// Two-word phrases that state a price.
const PRICE_PHRASES: &[[&str; 2]] = &[["no", "cost"], ["no", "charge"], ["half", "price"], ["on", "sale"]];
/// The same in Chinese: free, discount, half price, given away, not charged, free shipping,
/// no need to pay.
const CHINESE_PRICE_WORDS: &[&str] = &[
    "免费",
    "打折",
    "折扣",
    "半价",
    "赠送",
    "不收费",
    "免运费",
    "包邮",
    "无需付费",
    "不需要付费",
    "不用付费",
];
/// The English words that state the price a Chinese price word states, and what the Chinese
/// word is about by itself ("包邮": shipping), for a Chinese text checked against English
/// sources.
const CHINESE_PRICE_IN_ENGLISH: &[(&str, &[&str], &[&str])] = &[
    ("免费", FREE, &[]),
    ("打折", DISCOUNT, &[]),
    ("折扣", DISCOUNT, &[]),
    ("半价", &["half price"], &[]),
    ("赠送", &["free", "complimentary"], &[]),
    ("不收费", FREE, &[]),
    ("免运费", FREE, SHIPPING),
    ("包邮", FREE, SHIPPING),
    ("无需付费", FREE, &[]),
    ("不需要付费", FREE, &[]),
    ("不用付费", FREE, &[]),
];
const FREE: &[&str] = &["free", "no cost", "no charge", "complimentary", "gratis"];
const DISCOUNT: &[&str] = &["discount", "discounted", "discounts"];
const SHIPPING: &[&str] = &["shipping", "delivery", "postage"];
/// What a price in a Chinese text is about, and the English words for it: a Chinese price
/// word is stated by English sources that have its English word near one of these (the
/// words of commerce a price is said of: delivery, returns, a replacement, a course...).
const PRICE_SUBJECTS: &[(&str, &[&str])] = &[
    ("配送", SHIPPING),
    ("送货", SHIPPING),
    ("运费", SHIPPING),
    ("运送", SHIPPING),
    ("邮寄", SHIPPING),
    ("发货", &["shipping", "dispatch"]),
    ("快递", SHIPPING),
    ("退货", &["return", "returns"]),
    ("退回", &["return", "returns"]),
    ("退款", &["refund"]),
    ("更换", &["replacement", "exchange"]),
    ("换货", &["replacement", "exchange"]),
    ("替换", &["replacement"]),
    ("补发", &["replacement"]),
    ("课程", &["course", "courses"]),
    ("标签", &["label"]),
    ("维修", &["repair"]),
    ("保修", &["warranty"]),
    ("安装", &["installation"]),
    ("试用", &["trial"]),
    ("咨询", &["consultation"]),
    ("升级", &["upgrade"]),
    ("包装", &["packaging", "wrapping"]),
    ("软件", &["software"]),
];
/// How many characters either side of a Chinese price word say what it is about.
const CHINESE_PRICE_NEIGHBOURS: usize = 6;
/// How many words either side of a price word say what it is about ("a free online course").
const PRICE_NEIGHBOURS: usize = 3;
/// How near a price word of the evidence one of them must be for the evidence to state it.
const PRICE_REACH: usize = 6;

/// The prices `text` states in words ("a free online course", "at no cost", "免费") that no
/// sentence of the evidence states about the same thing. A number is checked as a number; a
/// price in words is a claim too: a €89 course must not be called free because the sources
/// offer a free replacement. A price word is supported by an evidence sentence that has it
/// with one of the content words around it in `text` (any such sentence when it has none).
pub fn unsupported_price_words(text: &str, evidence: &Evidence) -> Vec<Unsupported> {
    // Sentence by sentence: what a price is about is said in its sentence, and a sentence
    // flagged in its text is flagged alone (strict mode drops flagged sentences).
    text.split_inclusive(['!', '?', '\n', '。', '！', '？', ';', '；'])
        .flat_map(|part| part.split_inclusive(". "))
        .flat_map(|sentence| sentence_price_words(sentence, evidence))
        .collect()
}

/// [`unsupported_price_words`] in one sentence.
fn sentence_price_words(text: &str, evidence: &Evidence) -> Vec<Unsupported> {
    let sentences: Vec<&str> =
        evidence.text.split(['.', '!', '?', '\n', '。', '！', '？', ';', '；']).collect();
    let stated = |price: &str, about: &[String], chinese: bool| {
        sentences.iter().any(|sentence| {
            if chinese {
                return sentence.contains(price)
                    && (about.is_empty() || about.iter().any(|a| sentence.contains(a.as_str())));
            }
            // Near the price word: a long sentence (an item's fields in a row) may have the
            // word about something else far from it.
            let words = price_tokens(sentence);
            let width = price.split(' ').count();
            words.windows(width).enumerate().filter(|(_, w)| w.join(" ") == price).any(|(at, _)| {
                let near =
                    &words[at.saturating_sub(PRICE_REACH)..(at + width + PRICE_REACH).min(words.len())];
                about.is_empty() || near.iter().any(|w| about.iter().any(|a| stem(w) == stem(a)))
            })
        })
    };
    let mut out = Vec::new();
    let lower = text.to_lowercase();
    let tokens = price_tokens(&lower);
    let mut i = 0;
    while i < tokens.len() {
        let pair = tokens.get(i + 1).map(|next| [tokens[i].as_str(), next.as_str()]);
        let (price, width) = if pair.is_some_and(|p| PRICE_PHRASES.contains(&p)) {
            (tokens[i..i + 2].join(" "), 2)
        } else if PRICE_WORDS.contains(&tokens[i].as_str()) && !(i > 0 && tokens[i - 1] == "feel") {
            (tokens[i].clone(), 1)
        } else {
            i += 1;
            continue;
        };
        let around: Vec<String> = tokens[i.saturating_sub(PRICE_NEIGHBOURS)..i]
            .iter()
            .chain(tokens.iter().skip(i + width).take(PRICE_NEIGHBOURS))
            .filter(|w| {
                super::citations::content_words(w).contains(w.as_str()) && !PRICE_WORDS.contains(&w.as_str())
            })
            .cloned()
            .collect();
        if !stated(&price, &around, false) {
            out.push(Unsupported { kind: FactKind::Price, word: price });
        }
        i += width;
    }
    for price in CHINESE_PRICE_WORDS {
        for (at, _) in lower.match_indices(price) {
            let before: Vec<char> = lower[..at].chars().collect();
            let before = before[before.len().saturating_sub(4)..].to_vec();
            let after: Vec<char> = lower[at + price.len()..].chars().take(4).collect();
            let around: Vec<String> = [before, after]
                .iter()
                .flat_map(|side| side.windows(2).map(|w| w.iter().collect::<String>()).collect::<Vec<_>>())
                .filter(|w| w.chars().all(is_cjk))
                .collect();
            // English sources state it in their words, about the same thing in theirs.
            let across = || {
                let Some((_, english, own)) = CHINESE_PRICE_IN_ENGLISH.iter().find(|(w, ..)| w == price)
                else {
                    return false;
                };
                let before: String = lower[..at].chars().rev().take(CHINESE_PRICE_NEIGHBOURS).collect();
                let before: String = before.chars().rev().collect();
                let after: String =
                    lower[at + price.len()..].chars().take(CHINESE_PRICE_NEIGHBOURS).collect();
                let subjects: Vec<String> = PRICE_SUBJECTS
                    .iter()
                    .filter(|(term, _)| before.contains(term) || after.contains(term))
                    .flat_map(|(_, words)| words.iter())
                    .chain(own.iter())
                    .map(|w| (*w).to_owned())
                    .collect();
                // In one clause of theirs: an item's fields in a row, split at commas, are
                // each about their own thing.
                !subjects.is_empty()
                    && evidence.text.split(['.', '!', '?', '\n', ',', ';', ':']).any(|clause| {
                        let words = price_tokens(clause);
                        english.iter().any(|e| {
                            let width = e.split(' ').count();
                            words.windows(width).any(|w| w.join(" ") == *e)
                        }) && words.iter().any(|w| subjects.iter().any(|s| stem(w) == stem(s)))
                    })
            };
            if !stated(price, &around, true) && !across() {
                out.push(Unsupported { kind: FactKind::Price, word: (*price).to_owned() });
            }
        }
    }
    out
}

/// A text's words for price claims: lowercase runs of letters, digits, hyphens and
/// apostrophes, so that a compound ("hands-free") stays one word.
fn price_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .flat_map(script_runs)
        .map(|w| w.trim_matches(['-', '\'']).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Checks a whole answer: its first unsupported fact, or its wording when too little of it
/// occurs in the evidence.
pub fn check(answer: &str, evidence: &Evidence) -> Option<Unsupported> {
    check_with(answer, evidence, MIN_SUPPORT)
}

/// [`check`] with another support threshold (for measuring the check).
pub fn check_with(answer: &str, evidence: &Evidence, min_support: f32) -> Option<Unsupported> {
    // A quantity is judged once its unit is written, so a streamed prefix is judged as the
    // whole answer would be; a price in words is not read here: its support depends on the
    // words after it, which a stream has not written yet.
    let first = unsupported_words(answer, evidence)
        .into_iter()
        .chain(unsupported_quantities(answer, evidence))
        .chain(unsupported_bounds(answer, evidence))
        .next();
    if first.is_some() {
        return first;
    }
    let (share, words) = support(answer, evidence);
    (words >= SUPPORT_AFTER_WORDS && share < min_support)
        .then(|| Unsupported { kind: FactKind::Wording, word: format!("{share:.2} of {words} words") })
}

/// The check of an answer as it streams.
#[derive(Debug)]
pub struct Checker {
    evidence: Evidence,
}

impl Checker {
    /// A checker against `evidence`.
    pub fn new(evidence: Evidence) -> Self {
        Self { evidence }
    }

    /// How much of `text` may be shown: up to the end of its last complete word, when every
    /// complete word is supported and the wording so far mostly is; `Err` with the first
    /// unsupported fact otherwise. When `finished`, the last word counts as complete.
    pub fn check(&self, text: &str, finished: bool) -> Result<usize, Unsupported> {
        let complete = if finished {
            text.len()
        } else {
            // The word being written may still grow ("4" may become "49"); it waits.
            text.rfind(char::is_whitespace)
                .map_or(0, |i| i + text[i..].chars().next().map_or(1, char::len_utf8))
        };
        match check(&text[..complete], &self.evidence) {
            Some(unsupported) => Err(unsupported),
            None => Ok(complete),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_turned_the_other_way_is_unsupported_in_either_language() {
        let evidence = evidence();
        let words = |text: &str| -> Vec<String> {
            unsupported_bounds(text, &evidence).into_iter().map(|u| u.word).collect()
        };
        assert_eq!(words("Shipping is free on orders under €49."), ["under €49"]);
        assert!(check("Shipping is free on orders under €49.", &evidence).is_some());
        for kept in [
            "Shipping is free on orders over €49.",
            "Orders above €49 ship free, and express costs €9.90.",
            "Shipping is free for orders of €49 or more.",
            "超过49欧元的订单免运费。",
            "49欧元以上的订单免运费。",
        ] {
            assert!(words(kept).is_empty(), "{kept}: {:?}", words(kept));
        }
        assert_eq!(words("低于49欧元的订单免运费。"), ["低于49"]);
        assert_eq!(words("49欧元以下的订单免运费。"), ["49以下"]);

        let returns = Evidence::new([
            "Return any item within 30 days of delivery. If it is still missing after 24 hours, contact us.",
            "Gift cards over €50 and under €50 are sold.",
        ]);
        let words = |text: &str| -> Vec<String> {
            unsupported_bounds(text, &returns).into_iter().map(|u| u.word).collect()
        };
        assert_eq!(words("You can return an item after 30 days."), ["after 30"]);
        assert_eq!(words("超过30天也可以退货。"), ["超过30"]);
        assert_eq!(words("Contact us within 24 hours."), ["within 24"]);
        assert!(words("30天内可以退货。").is_empty());
        assert!(words("You have up to 30 days.").is_empty());
        // Bounded both ways in the sources: either passes.
        assert!(words("Cards under €50 and over €50.").is_empty());

        // A visitor's bound is a premise the answer may not confirm.
        let passage = Passage {
            document_id: "shipping.md".into(),
            entry_id: "shipping.md#cost".into(),
            title: "How much does shipping cost?".into(),
            body: "Standard shipping is free on orders over €49.".into(),
            section: Vec::new(),
            url: None,
            score: 1.0,
            confidence: 1.0,
        };
        let premise =
            Evidence::of_answer(std::slice::from_ref(&passage), ["is shipping free under €49?"], "");
        assert_eq!(unsupported_bounds("Yes, shipping is free under €49.", &premise).len(), 1);
        assert!(check("Shipping is free on orders over €49.", &premise).is_none());
    }

    fn evidence() -> Evidence {
        Evidence::new([
            "How much does shipping cost? Standard shipping is free on orders over €49. Below that it \
             costs €4.90. Express delivery costs €9.90 whatever the order value.",
            "The Volt 20,000 mAh power bank charges a typical smartphone 4 to 5 times. Visit \
             https://shop.brightwave.example/volt or write to help@brightwave.example. Aura has two modes.",
            "how much is express shipping to Germany?",
        ])
    }

    #[test]
    fn numbers_must_come_from_the_sources_however_they_are_written() {
        let e = evidence();
        assert_eq!(check("Express delivery costs €9.90.", &e), None);
        assert_eq!(check("It charges a phone 4-5 times; it holds 20000 mAh.", &e), None);
        assert_eq!(check("It has 2 modes.", &e), None, "two is 2");
        let wrong = check("Express delivery costs €19.90.", &e).expect("an invented price");
        assert_eq!((wrong.kind, wrong.word.as_str()), (FactKind::Number, "€19.90"));
        assert_eq!(check("Shipping is free over €50.", &e).map(|u| u.kind), Some(FactKind::Number));
    }

    #[test]
    fn links_addresses_identifiers_and_names_must_come_from_the_sources() {
        let e = evidence();
        assert_eq!(check("See https://shop.brightwave.example/volt for details.", &e), None);
        assert_eq!(check("Write to help@brightwave.example today.", &e), None);
        assert_eq!(check("Express delivery to Germany costs €9.90.", &e), None, "the question names Germany");
        let link = check("See https://evil.example/volt for details.", &e).expect("invented link");
        assert_eq!(link.kind, FactKind::Link);
        let mail = check("Write to sales@brightwave.example today.", &e).expect("invented address");
        assert_eq!(mail.kind, FactKind::Email);
        let code = check("Strip the newline with chomp() first.", &e).expect("invented code");
        assert_eq!(code.kind, FactKind::Code);
        let name = check("Express shipping goes with FedEx overnight.", &e).expect("invented carrier");
        assert_eq!((name.kind, name.word.as_str()), (FactKind::Name, "FedEx"));
        // Unspaced Chinese: the Latin and digit runs inside it are the words checked.
        let chinese = Evidence::new(["我们支持PayPal付款，标准配送€4.90。", "The Aura headphones"]);
        assert_eq!(unsupported_facts("Aura耳机支持PayPal付款，运费€4.90。", &chinese), []);
        let found = unsupported_facts("通过Zigbee通信，运费€5。", &chinese);
        let words: Vec<&str> = found.iter().map(|u| u.word.as_str()).collect();
        assert_eq!(words, ["Zigbee", "€5"], "each invention alone, not the run around it");
        // Abbreviations are not links; a list's numbers are not facts.
        assert_eq!(check("Pay by card, e.g. Visa, i.e. shipping.", &e), None);
        assert_eq!(check("Steps:\n1. Pay €4.90.\n2) Express costs €9.90.", &e), None);
        // A capital that starts a sentence or a list item is not a name.
        assert_eq!(
            check("Shipping costs €4.90.\n- Express costs €9.90. Standard is free over €49.", &e),
            None
        );
    }

    #[test]
    fn a_number_given_with_a_unit_must_have_that_unit_in_the_sources() {
        let e = Evidence::new([
            "Electronics Basics: building ten small circuits on a breadboard. 12 hours.",
            "Standard delivery takes 2 to 4 working days.",
        ]);
        let words = |text: &str| -> Vec<String> {
            unsupported_quantities(text, &e).into_iter().map(|u| u.word).collect()
        };
        assert!(words("Twelve circuits? No: 10 small circuits in a 12-hour course.").is_empty());
        assert!(
            words("Delivery in 2 days, at most 4 days.").is_empty(),
            "a range gives its unit to both ends"
        );
        assert!(words("共12小时的课程。").is_empty());
        assert_eq!(words("Learn electronics in 10 minutes!"), ["10 minutes"]);
        assert_eq!(words("10小时学会电子学。"), ["10 小时"]);
        assert!(words("Opens on 1月12日.").is_empty(), "a date is not a quantity");
        assert_eq!(words("10% off Electronics Basics"), ["10 %"], "a share is a quantity too");
        assert_eq!(words("One hour of video, twelve hours in all."), ["one hour"], "in words too");
        // A price in another currency than the sources' is not their price.
        let prices = Evidence::new(["Standard shipping is free on orders over €49. Arduino Projects: €89."]);
        let priced = |text: &str| -> Vec<String> {
            unsupported_quantities(text, &prices).into_iter().map(|u| u.word).collect()
        };
        assert!(priced("Free shipping over 49 euros, or 49 € and more; 89欧元的课程。").is_empty());
        assert_eq!(priced("订单价值超过49美元免运费。"), ["49 美元"]);
        assert_eq!(priced("Only $89, or USD 49."), ["$89", "usd 49"]);
        assert!(
            priced("€49 or more, then $ signs are no price.").is_empty(),
            "a sign after a word is not its unit"
        );
        // The chat's check stops an answer at one, as the content studio's review flags it.
        assert_eq!(check("Delivery takes 2 to 4 working days.", &e), None);
        let weeks = check("Delivery takes 2 to 4 weeks.", &e).expect("weeks the sources never give");
        assert_eq!((weeks.kind, weeks.word.as_str()), (FactKind::Number, "4 weeks"));
        let kinds: Vec<FactKind> = unsupported_facts("In 10 minutes.", &e).iter().map(|u| u.kind).collect();
        assert_eq!(kinds, [FactKind::Number]);
    }

    #[test]
    fn a_name_in_chinese_must_be_in_the_sources_in_either_language() {
        let english = Evidence::new([
            "Yes. We ship to all EU countries, the UK, Switzerland, Norway, the United States and Canada.",
            "Parcels in the EU travel with DHL or DPD. Thank us later.",
        ]);
        let names = |text: &str, e: &Evidence| -> Vec<String> {
            unsupported_chinese_names(text, e).into_iter().map(|u| u.word).collect()
        };
        assert!(names("我们发货到欧盟、英国、瑞士、挪威、美国和加拿大。", &english).is_empty());
        assert!(names("欧洲的包裹由DHL配送。", &english).is_empty(), "Europe, as the EU");
        assert_eq!(names("我们也发货到新西兰和荷兰，由顺丰配送。", &english), ["新西兰", "荷兰", "顺丰"]);
        // "us" is a word, "US" the country: an acronym must be written as one.
        let pronoun = Evidence::new(["Ship it back to us within 30 days."]);
        assert_eq!(names("寄到美国。", &pronoun), ["美国"]);
        // The longer name is read: China Post is not China.
        let china = Evidence::new(["Parcels to China travel with a local partner."]);
        assert_eq!(names("中国邮政负责配送到中国。", &china), ["中国邮政"]);
        // Chinese sources state it in Chinese.
        assert!(names("顺丰次日达。", &Evidence::new(["我们使用顺丰发货。"])).is_empty());
        // The content studio's review reads them with the other facts.
        let kinds: Vec<FactKind> =
            unsupported_facts("由顺丰配送。", &english).iter().map(|u| u.kind).collect();
        assert_eq!(kinds, [FactKind::Name]);
    }

    #[test]
    fn a_price_told_in_words_must_be_stated_about_the_same_thing() {
        let e = Evidence::new([
            "Standard shipping is free on orders over €49.",
            "A faulty unit within the warranty gets a free replacement.",
            "Data Analysis with Python costs €89. 免费配送适用于满49欧元的订单。",
        ]);
        let words = |text: &str| -> Vec<String> {
            unsupported_price_words(text, &e).into_iter().map(|u| u.word).collect()
        };
        assert!(words("Enjoy free shipping on orders over €49.").is_empty());
        assert!(words("A faulty unit gets a free replacement.").is_empty());
        // Said far from the price word in the sources, a word does not make it theirs.
        let far =
            Evidence::new(["Home Studio: mixing in a free DAW, mastering a track, for streaming, beginner"]);
        assert_eq!(unsupported_price_words("Simple, and free for beginners.", &far).len(), 1);
        assert!(unsupported_price_words("Mix in a free DAW.", &far).is_empty());
        assert_eq!(
            words("Join a free online course in data analysis!"),
            ["free"],
            "free, but not the course"
        );
        assert_eq!(words("Learn Python at no cost."), ["no cost"]);
        assert_eq!(words("Our discounted course starts now."), ["discounted"]);
        assert!(words("Hands-free calls; feel free to ask.").is_empty(), "compounds and courtesies");
        assert!(words("满49欧元免费配送。").is_empty());
        assert_eq!(words("数据分析课程免费学习。"), ["免费"]);
        assert_eq!(words("安装不收费。"), ["不收费"]);
        assert_eq!(words("订单包邮，课程不需要付费。"), ["不需要付费"], "the sources' shipping is free");
        let chinese_only = Evidence::new(["免费配送适用于满49欧元的订单。"]);
        assert_eq!(unsupported_price_words("订单包邮。", &chinese_only).len(), 1);
        // Against English sources: the English price word, said of the same thing.
        let english = Evidence::new([
            "Returns from the EU and the UK are free with our prepaid label.",
            "Standard shipping is free on orders over €49.",
            "Cutting, colour grading and sound for video in the free DaVinci Resolve, a course.",
        ]);
        let across = |text: &str| -> Vec<String> {
            unsupported_price_words(text, &english).into_iter().map(|u| u.word).collect()
        };
        assert!(across("欧盟和英国的退货免费。").is_empty());
        assert!(across("满49欧元的订单标准配送免费。").is_empty());
        assert!(across("订单包邮。").is_empty());
        assert_eq!(across("视频剪辑课程免费。"), ["免费"], "free software, not a free course");
        assert_eq!(across("免费！"), ["免费"], "free of what, the text does not say");
        assert_eq!(across("更换零件打折。"), ["打折"]);
        // Flagged in a text, flagged alone: the words around a price stay in its sentence.
        let text = "数据分析课程。免费！";
        assert_eq!(words(text), words("免费！"), "the course before it is in another sentence");
        assert_eq!(words("Learn pandas online. Free!"), words("Free!"));
        // The content studio's review holds them with the other facts.
        let all = unsupported_facts("A free course for €99.", &e);
        let kinds: Vec<FactKind> = all.iter().map(|u| u.kind).collect();
        assert_eq!(kinds, [FactKind::Number, FactKind::Price]);
    }

    #[test]
    fn an_answer_worded_mostly_outside_the_sources_fails_on_its_wording() {
        let e = evidence();
        let drifted = check(
            "Our wonderful couriers carefully wrap every parcel with recycled paper and love, \
             guaranteeing happiness.",
            &e,
        )
        .expect("drifted wording");
        assert_eq!(drifted.kind, FactKind::Wording);
        assert_eq!(
            check("Standard shipping is free on orders over €49; below that it costs €4.90.", &e),
            None
        );
    }

    #[test]
    fn a_streaming_answer_shows_only_checked_words_and_stops_at_the_first_invention() {
        let checker = Checker::new(evidence());
        // "€4" may still become "€4.90": it waits.
        assert_eq!(checker.check("It costs €4", false), Ok("It costs ".len()));
        assert_eq!(checker.check("It costs €4.90 ", false), Ok("It costs €4.90 ".len()));
        let wrong = checker.check("It costs €5.90 below", false).expect_err("an invented price");
        assert_eq!(wrong.word, "€5.90");
        assert_eq!(checker.check("It costs €4.90", true), Ok("It costs €4.90".len()));
    }

    #[test]
    fn numbers_are_normalised() {
        assert_eq!(
            numbers_in("20,000 mah, €4,90, 1.100 lumens, 3-5 days, 4.90"),
            ["20000", "4.90", "1.100", "3", "5", "4.90"]
        );
    }

    #[test]
    fn an_answer_is_incomplete_without_its_passages_figures_or_most_of_its_words() {
        let passage = "Standard delivery takes 2 to 4 working days and costs 4.90 euros; orders over 50 euros ship free.";
        assert!(!incomplete(
            "Delivery takes 2 to 4 working days and costs 4.90 euros.",
            passage,
            MIN_COVERAGE
        ));
        assert!(
            incomplete("Delivery is quick and cheap.", passage, MIN_COVERAGE),
            "no figure of the passage"
        );
        let wordy = "You can return any item within the return period, unworn, in its box, with the receipt.";
        assert!(incomplete("Yes.", wordy, MIN_COVERAGE), "too little of the passage");
        assert!(!incomplete(
            "Yes, any item can be returned unworn, in its box, with the receipt.",
            wordy,
            MIN_COVERAGE
        ));
        assert!(!incomplete("Anything.", "", MIN_COVERAGE), "no passage, nothing to leave out");
    }
}
