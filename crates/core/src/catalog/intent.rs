//! Whether a question asks the assistant to choose from the catalogue ("which course fits a
//! beginner in data analysis?", "a laptop under 800 euros for video editing?", "推荐一门入门
//! 课程"), and the constraints it states: kind, category, price bounds, level, language, the
//! course it should follow, in stock. Rules in English and Chinese, read against the
//! catalogue's own categories, tags and names, so another company's catalogue needs no code.
//!
//! A question about one named item ("how long does the Aura battery last?") is not a request
//! for a choice: the FAQ answers it.

use super::{is_cjk, item_words, language_code, singular, stem, Catalog, ItemKind, Level, Vocabulary};

/// What a recommendation question asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// Only products or only courses.
    pub kind: Option<ItemKind>,
    /// Only this category (as the catalogue spells it).
    pub category: Option<String>,
    /// At most this price.
    pub max_price: Option<f64>,
    /// At least this price.
    pub min_price: Option<f64>,
    /// Only courses of this level.
    pub level: Option<Level>,
    /// Only courses taught in this language (ISO 639-1).
    pub language: Option<String>,
    /// Only courses that list this course (an id) as a prerequisite.
    pub after: Option<String>,
    /// Only items that can be bought now.
    pub in_stock: bool,
    /// Cheapest first rather than most relevant first.
    pub cheapest: bool,
    /// The visitor wrote in Chinese: answer in Chinese.
    pub chinese: bool,
}

impl Request {
    /// Whether an item meets every constraint.
    pub fn accepts(&self, item: &super::CatalogItem) -> bool {
        self.kind.is_none_or(|k| item.kind == k)
            && self.category.as_deref().is_none_or(|c| item.category.eq_ignore_ascii_case(c))
            && self.max_price.is_none_or(|max| item.price <= max + 1e-9)
            && self.min_price.is_none_or(|min| item.price + 1e-9 >= min)
            && self.level.is_none_or(|l| item.level == Some(l))
            && self.language.as_deref().is_none_or(|l| item.language.as_deref() == Some(l))
            && self.after.as_deref().is_none_or(|id| item.prerequisites.iter().any(|p| p == id))
            && (!self.in_stock || item.availability == super::Availability::InStock)
    }
}

/// Phrases that ask for a choice on their own.
const ASKS_EN: &[&str] = &[
    "recommend",
    "recommendation",
    "recommendations",
    "suggest",
    "suggestion",
    "suggestions",
    "looking for",
    "look for",
    "should i buy",
    "should i get",
    "should i take",
    "should i choose",
    "should i learn",
    "should i start",
    "should i study",
    "should i pick",
    "what to buy",
    "what to take",
    "help me choose",
    "help me pick",
    "help me find",
    "shopping for",
    "in the market for",
    "is there a course",
    "are there courses",
    "any course",
    "any good",
    "take next",
    "next course",
    "what next",
    "take after",
    "best option",
    "i need a",
    "i need an",
    "i want a",
    "i want an",
    "i need something",
    "i want something",
    "options for",
    "what's good",
    "what is good",
];

/// Phrases that ask whether something is sold: a request for a choice only when the question
/// names a kind, a category or an item's name word ("do you sell smart plugs?"), not when
/// only a tag matches ("do you sell iphones?" is no request for an iPhone case).
const ASKS_IF_SOLD: &[&str] =
    &["what do you have", "do you have any", "do you sell", "do you offer", "do you carry"];

/// Chinese phrases that ask for a choice on their own.
const ASKS_ZH: &[&str] = &[
    "推荐",
    "建议",
    "帮我选",
    "该买",
    "该学",
    "想买",
    "想学",
    "买什么",
    "学什么",
    "选哪",
    "买哪",
    "哪款",
    "哪门",
    "哪一款",
    "哪一门",
    "哪个好",
    "有什么",
    "有哪些",
    "适合",
    "下一门",
    "之后学",
    "学完",
    "有没有",
];

/// Words that ask for a choice when the question also names a kind or category.
const CHOICE_EN: &[&str] = &[
    "best",
    "good",
    "fit",
    "fits",
    "suitable",
    "ideal",
    "cheapest",
    "cheap",
    "affordable",
    "budget",
    "beginner",
    "beginners",
    "options",
    "option",
    "alternative",
    "alternatives",
    "compare",
    "any",
];

const COURSE_WORDS: &[&str] = &["course", "class", "training", "workshop", "lesson", "program", "programme"];
const COURSE_WORDS_ZH: &[&str] = &["课程", "课", "培训"];
const PRODUCT_WORDS: &[&str] = &["product", "gadget", "device"];
const PRODUCT_WORDS_ZH: &[&str] = &["产品", "设备"];

/// Words that say the question is about what comes after a named course.
const AFTER_EN: &[&str] = &[
    "after",
    "finished",
    "completed",
    "done",
    "took",
    "taken",
    "following",
    "next",
    "follow-up",
    "followup",
];
const AFTER_ZH: &[&str] = &["学完", "之后", "以后", "完成", "上完"];

/// Whether the text is written mostly in Chinese.
pub fn is_chinese(text: &str) -> bool {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let cjk = letters.iter().filter(|c| is_cjk(**c)).count();
    cjk > 0 && cjk * 3 >= letters.len()
}

/// The question's words, lower case, in order.
fn words(lower: &str) -> Vec<&str> {
    lower.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-')).filter(|w| !w.is_empty()).collect()
}

/// Whether `phrase` occurs in `lower` at word boundaries.
fn has_phrase(lower: &str, phrase: &str) -> bool {
    lower.match_indices(phrase).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + phrase.len()..].chars().next();
        before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphabetic())
    })
}

/// Reads a recommendation request from a question; `None` when the question does not ask for
/// a choice from this catalogue.
pub fn recognise(question: &str, catalog: &Catalog) -> Option<Request> {
    if catalog.is_empty() {
        return None;
    }
    let lower = question.to_lowercase();
    let tokens = words(&lower);
    let singulars: Vec<String> = tokens.iter().map(|w| singular(w)).collect();
    let has_word = |list: &[&str]| singulars.iter().any(|w| list.contains(&w.as_str()));

    let mut request = Request { chinese: is_chinese(question), ..Request::default() };
    let mut asks = ASKS_EN.iter().any(|p| has_phrase(&lower, p)) || ASKS_ZH.iter().any(|p| lower.contains(p));
    let vocabulary = catalog.vocabulary();
    // "which" asks for a choice when a kind or a catalogue word follows it ("which course",
    // "which laptop"), not in "which language are the courses in?".
    let which = singulars.iter().enumerate().any(|(i, w)| {
        w == "which"
            && singulars[i + 1..].iter().take(2).any(|next| {
                next == "one"
                    || COURSE_WORDS.contains(&next.as_str())
                    || PRODUCT_WORDS.contains(&next.as_str())
                    || vocabulary.category_and_tag_words.contains(&stem(next))
            })
    });
    let choice = which || tokens.iter().any(|w| CHOICE_EN.contains(w)) || which_zh(&lower, vocabulary);

    // Kind words, then the catalogue's categories and tags.
    let courses = has_word(COURSE_WORDS) || COURSE_WORDS_ZH.iter().any(|w| lower.contains(w));
    let products = has_word(PRODUCT_WORDS) || PRODUCT_WORDS_ZH.iter().any(|w| lower.contains(w));
    request.kind = match (courses, products) {
        (true, false) => Some(ItemKind::Course),
        (false, true) => Some(ItemKind::Product),
        _ => None,
    };
    let question_words = item_words(question);
    if let Some((category, kind)) = matched_category(vocabulary, &question_words, &lower) {
        request.category = Some(category);
        request.kind = kind.or(request.kind);
    }
    let tagged = vocabulary.cjk_tags.iter().any(|tag| lower.contains(tag.as_str()))
        || vocabulary.tag_words.iter().any(|words| words.is_subset(&question_words));
    let refers = request.kind.is_some() || request.category.is_some() || tagged;
    if !asks && ASKS_IF_SOLD.iter().any(|p| has_phrase(&lower, p)) {
        let name_word = !vocabulary.name_words.is_disjoint(&question_words);
        asks = request.kind.is_some() || request.category.is_some() || name_word;
    }

    // Constraints.
    (request.min_price, request.max_price) = price_bounds(&lower);
    request.level = level(&lower);
    request.language = taught_in(&lower);
    request.in_stock = has_phrase(&lower, "in stock") || lower.contains("有货") || lower.contains("现货");
    request.cheapest =
        tokens.iter().any(|w| matches!(*w, "cheapest" | "cheap" | "affordable" | "inexpensive"))
            || lower.contains("便宜")
            || lower.contains("最实惠");

    // A named item: the question is about it, unless it asks what comes after a course.
    let named = named_item(vocabulary, &lower, &question_words).map(|i| &catalog.items()[i]);
    if let Some(item) = named {
        let after_cue =
            AFTER_EN.iter().any(|w| has_phrase(&lower, w)) || AFTER_ZH.iter().any(|w| lower.contains(w));
        if item.kind == ItemKind::Course && after_cue {
            request.after = Some(item.id.clone());
            request.kind = Some(ItemKind::Course);
        } else if !asks {
            return None;
        }
    }
    if request.level.is_some() && request.kind.is_none() {
        request.kind = Some(ItemKind::Course);
    }
    let constrained = request.max_price.is_some()
        || request.min_price.is_some()
        || request.level.is_some()
        || request.after.is_some();
    let recommendation = request.after.is_some()
        || (asks && (refers || constrained))
        || (refers && (choice || constrained || request.cheapest));
    recommendation.then_some(request)
}

/// Measure words after 哪 that count items ("哪款", "哪门").
const ITEM_MEASURES_ZH: &[&str] = &["款", "门", "一款", "一门", "台", "部"];

/// Whether 哪 ("which") asks for a choice of item, as "which" does in English: what follows it
/// within the phrase is an item's measure word, a kind word or a catalogue tag or category
/// ("哪款耳机", "哪些课程"), not in "保修包括哪些问题" ("which problems does the warranty
/// cover"), where the catalogue word comes before it.
fn which_zh(lower: &str, vocabulary: &super::Vocabulary) -> bool {
    lower.match_indices('哪').any(|(at, found)| {
        let after: String =
            lower[at + found.len()..].chars().take_while(|c| c.is_alphanumeric()).take(8).collect();
        let after = after.strip_prefix(['些', '个']).unwrap_or(&after);
        ITEM_MEASURES_ZH.iter().any(|m| after.starts_with(m))
            || COURSE_WORDS_ZH.iter().chain(PRODUCT_WORDS_ZH).any(|w| after.contains(w))
            || vocabulary.cjk_tags.iter().any(|tag| after.contains(tag.as_str()))
            || vocabulary.categories.iter().any(|(category, _)| after.contains(&category.to_lowercase()))
    })
}

/// The catalogue category the question names (with the one kind of its items, if they share
/// one): all of its words among the question's, or, for Chinese, its name in the question. Of
/// several, the one named first ("which kit should I buy to start with electronics?" asks for a
/// kit), the longer at a tie.
fn matched_category(
    vocabulary: &Vocabulary,
    question_words: &std::collections::BTreeSet<String>,
    lower: &str,
) -> Option<(String, Option<ItemKind>)> {
    // Where each of the question's words first occurs, by stem.
    let positions: Vec<String> = words(lower).iter().map(|w| stem(w)).collect();
    let first_at = |c: &str| -> usize {
        if c.chars().any(is_cjk) {
            return lower.find(&c.to_lowercase()).unwrap_or(usize::MAX);
        }
        item_words(c).iter().filter_map(|w| positions.iter().position(|p| p == w)).min().unwrap_or(usize::MAX)
    };
    vocabulary
        .categories
        .iter()
        .filter(|(c, _)| {
            let words = item_words(c);
            if c.chars().any(is_cjk) {
                lower.contains(&c.to_lowercase())
            } else {
                !words.is_empty() && words.is_subset(question_words)
            }
        })
        .min_by_key(|(c, _)| (first_at(c), std::cmp::Reverse(c.len())))
        .cloned()
}

/// The item the question names, by position: its whole name (the longest such), or a family
/// word of its name (the "Aura" of "Aura ANC headphones" and "Aura Buds"; see
/// [`Vocabulary::families`]).
fn named_item(
    vocabulary: &Vocabulary,
    lower: &str,
    question_words: &std::collections::BTreeSet<String>,
) -> Option<usize> {
    let whole = vocabulary
        .names
        .iter()
        .filter(|(name, _)| lower.contains(name.as_str()))
        .max_by_key(|(name, _)| name.len());
    if let Some((_, i)) = whole {
        return Some(*i);
    }
    question_words.iter().filter_map(|w| vocabulary.families.get(w)).min().copied()
}

/// A number written in the question, from position `at`: digits with `,` thousands and an
/// optional decimal part, or `1.5k`.
fn number_at(text: &str, at: usize) -> Option<(f64, usize)> {
    let rest = &text[at..];
    let mut end = 0;
    for (i, c) in rest.char_indices() {
        if c.is_ascii_digit()
            || ((c == ',' || c == '.') && rest[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        {
            end = i + c.len_utf8();
        } else {
            break;
        }
    }
    if end == 0 {
        return None;
    }
    let digits = &rest[..end];
    // "1,000" and "1,000.50" are thousands; "49,90" is a decimal comma.
    let value: f64 = if digits.contains('.') || digits.split(',').skip(1).all(|g| g.len() == 3) {
        digits.replace(',', "").parse().ok()?
    } else {
        digits.replace(',', ".").parse().ok()?
    };
    let after = &rest[end..];
    let (value, end) = if after.starts_with('k') && !after[1..].starts_with(|c: char| c.is_alphabetic()) {
        (value * 1000.0, end + 1)
    } else {
        (value, end)
    };
    Some((value, at + end))
}

const CURRENCY_BEFORE: &[&str] = &["€", "$", "£", "¥", "eur", "usd", "gbp", "rmb", "cny"];
const CURRENCY_AFTER: &[&str] = &[
    "€", "$", "£", "euro", "eur", "dollar", "usd", "pound", "gbp", "rmb", "cny", "yuan", "欧", "元", "块",
    "美元",
];
const MAX_BEFORE: &[&str] = &[
    "under",
    "below",
    "less than",
    "cheaper than",
    "up to",
    "at most",
    "max",
    "maximum",
    "no more than",
    "not more than",
    "within",
    "budget of",
    "budget is",
    "budget",
    "lower than",
    "<",
    "不超过",
    "低于",
    "少于",
    "预算",
    "最多",
];
const MIN_BEFORE: &[&str] =
    &["over", "above", "more than", "at least", "from", "starting at", "高于", "超过", "至少"];
const MAX_AFTER: &[&str] = &["or less", "or under", "or cheaper", "max", "以下", "以内", "之内", "内"];
const MIN_AFTER: &[&str] = &["or more", "plus", "以上"];
const ABOUT: &[&str] = &["around", "about", "roughly", "approximately", "大约", "左右"];

/// The price bounds a question states, as (at least, at most).
pub fn price_bounds(lower: &str) -> (Option<f64>, Option<f64>) {
    let mut min = None;
    let mut max = None;
    let mut numbers: Vec<(f64, usize, usize)> = Vec::new();
    let mut at = 0;
    while at < lower.len() {
        let starts_number = lower[at..].starts_with(|c: char| c.is_ascii_digit())
            && lower[..at].chars().next_back().is_none_or(|c| !c.is_ascii_digit() && c != '.' && c != ',');
        if starts_number {
            if let Some((value, end)) = number_at(lower, at) {
                numbers.push((value, at, end));
                at = end;
                continue;
            }
        }
        at += lower[at..].chars().next().map_or(1, char::len_utf8);
    }
    for (i, &(value, start, end)) in numbers.iter().enumerate() {
        let before = lower[..start].trim_end();
        let after = lower[end..].trim_start();
        let tail = |list: &[&str]| {
            list.iter().any(|w| before.ends_with(w) || ends_with_word_then_currency(before, w))
        };
        let head = |list: &[&str]| list.iter().any(|w| after.starts_with(w));
        let currency = CURRENCY_BEFORE.iter().any(|c| before.ends_with(c)) || head(CURRENCY_AFTER);
        // "between 300 and 500", "300-500 euros", "300到500".
        if let Some(&(second, s_start, s_end)) = numbers.get(i + 1) {
            let gap = lower[end..s_start].trim();
            let gap = gap.trim_start_matches(|c: char| CURRENCY_AFTER.iter().any(|cur| cur.starts_with(c)));
            let gap =
                gap.trim_end_matches(|c: char| CURRENCY_BEFORE.iter().any(|cur| cur.starts_with(c))).trim();
            let second_after = lower[s_end..].trim_start();
            let priced = currency
                || CURRENCY_AFTER.iter().any(|c| second_after.starts_with(c))
                || before.ends_with("between")
                || before.ends_with("预算");
            if priced && matches!(gap, "and" | "-" | "to" | "到" | "至" | "~" | "–") && second > value {
                return (Some(value), Some(second));
            }
        }
        // A unit after the number makes it not a price ("under 20 hours", "2000 mAh").
        let unit = after.starts_with(|c: char| c.is_alphabetic() || c == '%')
            && !currency
            && !head(MAX_AFTER)
            && !head(MIN_AFTER);
        if unit {
            continue;
        }
        if tail(MAX_BEFORE) || head(MAX_AFTER) || after_currency_then(after, MAX_AFTER) {
            max = Some(value);
        } else if tail(MIN_BEFORE) || head(MIN_AFTER) || after_currency_then(after, MIN_AFTER) {
            min = Some(value);
        } else if tail(ABOUT) || head(&["左右"]) || after_currency_then(after, &["左右"]) {
            return (Some(value * 0.8), Some(value * 1.2));
        } else if currency && before.ends_with("for") {
            max = Some(value);
        }
    }
    (min, max)
}

/// Whether `before` ends with `word` followed by a currency sign (`under €`).
fn ends_with_word_then_currency(before: &str, word: &str) -> bool {
    CURRENCY_BEFORE.iter().any(|c| before.strip_suffix(c).is_some_and(|rest| rest.trim_end().ends_with(word)))
}

/// Whether `after` starts with a currency and then one of `words` (`euros or less`, `欧以下`).
fn after_currency_then(after: &str, words: &[&str]) -> bool {
    CURRENCY_AFTER.iter().any(|c| {
        after.strip_prefix(c).is_some_and(|rest| {
            let rest = rest.trim_start_matches(|ch: char| ch.is_alphabetic() && ch.is_ascii()).trim_start();
            words.iter().any(|w| rest.starts_with(w))
        })
    })
}

/// The course level a question asks for.
fn level(lower: &str) -> Option<Level> {
    let any = |list: &[&str]| {
        list.iter().any(|p| has_phrase(lower, p) || (p.chars().any(is_cjk) && lower.contains(p)))
    };
    if any(&["advanced", "expert", "experienced", "高级", "高阶"]) {
        Some(Level::Advanced)
    } else if any(&["intermediate", "some experience", "中级", "进阶"]) {
        Some(Level::Intermediate)
    } else if any(&[
        "beginner",
        "beginners",
        "novice",
        "from scratch",
        "no experience",
        "new to",
        "just starting",
        "getting started",
        "complete newbie",
        "newbie",
        "入门",
        "初学",
        "零基础",
        "新手",
        "小白",
    ]) {
        Some(Level::Beginner)
    } else {
        None
    }
}

/// The language a question asks a course to be taught in ("in German", "taught in English",
/// "用中文授课").
fn taught_in(lower: &str) -> Option<String> {
    for name in ["english", "chinese", "mandarin", "german", "french", "spanish", "italian", "japanese"] {
        for phrase in [
            format!("in {name}"),
            format!("{name}-language"),
            format!("{name} language"),
            format!("{name}-speaking"),
        ] {
            if has_phrase(lower, &phrase) {
                return language_code(name);
            }
        }
    }
    for name in ["中文", "英文", "英语", "德语", "法语", "西班牙语", "日语"] {
        for phrase in [
            format!("{name}授课"),
            format!("用{name}"),
            format!("{name}讲"),
            format!("{name}教学"),
            format!("{name}的课"),
        ] {
            if lower.contains(&phrase) {
                return language_code(name);
            }
        }
    }
    None
}
