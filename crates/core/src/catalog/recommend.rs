//! Recommendations: the items that meet every constraint of a [`Request`], ranked by how well
//! they match the question (keywords and meaning), what the visitor looked at, and whether they
//! can be bought now; at most three, each with a reason made of its own catalogue fields. When
//! nothing meets every constraint the answer says so and offers the nearest items (for a price
//! bound, the cheapest above it).

use super::intent::Request;
use super::{language_name, Availability, Card, CatalogItem, IndexedCatalog, ItemKind};

/// Most items one answer recommends.
pub const MAX_CARDS: usize = 3;

/// The recommendation's own wording around the catalogue's fields (its templates, both
/// languages, and the list's numbers): what a check of the answer's facts counts as said by
/// the company rather than by the catalogue.
pub const WORDING: &str = "1. 2. 3. Beginner Intermediate Advanced level hours taught in follows next start \
    available to pre-order currently out of stock Nothing in our catalogue is priced between and at or less \
    or more matching everything you asked for. The nearest course courses product products option options \
    This from our catalogue fits what you asked for These fit Open a card to see its page. \
    入门级 中级 高级 小时 授课 接续 下次开课 可预订 暂时缺货 价格在 到 之间 以内 以上 符合您全部要求 课程 产品 选择 \
    我们的目录中没有 的 最接近的是 根据您的需求 推荐以下 点击卡片可查看详情";

/// What ranking knows of the visitor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Visitor<'a> {
    /// Ids of the items the visitor looked at on the site, most recent last.
    pub viewed: &'a [String],
    /// What else is known of them: the host page's attributes (a plan, interests) and their
    /// earlier questions in the conversation, as text; items sharing its words rank higher.
    pub context: &'a str,
}

/// The recommendation answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// The text sent to the visitor.
    pub text: String,
    /// The items, as cards, best first.
    pub cards: Vec<Card>,
    /// Nothing met every constraint; these are the nearest.
    pub nearest: bool,
    /// The first item cannot be bought now (out of stock).
    pub first_unavailable: bool,
}

/// How well each item matches the question, from 0 to 1: keywords (IDF-weighted share of the
/// question's catalogue words) and meaning (the embedding's cosine), half each when there is
/// a model.
pub fn relevance(indexed: &IndexedCatalog, question: &str, vector: Option<&[f32]>) -> Vec<f32> {
    let keywords = indexed.catalog.keyword_scores(question);
    match vector {
        Some(query) if indexed.vectors.len() == keywords.len() => keywords
            .iter()
            .zip(&indexed.vectors)
            .map(|(k, v)| {
                let cosine: f32 = query.iter().zip(v).map(|(a, b)| a * b).sum();
                // On the reference scale unrelated sentences sit near 0.1, close paraphrases
                // near 0.8.
                let meaning = ((indexed.scale.comparable(cosine) - 0.1) / 0.6).clamp(0.0, 1.0);
                0.5 * k + 0.5 * meaning
            })
            .collect(),
        _ => keywords,
    }
}

/// Ranking adjustments for the visitor and availability; `context` is the item's match with
/// what else is known of the visitor (0 to 1).
fn adjusted(
    item: &CatalogItem,
    relevance: f32,
    context: f32,
    visitor: &Visitor<'_>,
    catalog: &super::Catalog,
) -> f32 {
    let viewed_category = visitor
        .viewed
        .iter()
        .filter_map(|id| catalog.get(id))
        .any(|seen| seen.id != item.id && !seen.category.is_empty() && seen.category == item.category);
    let viewed_itself = visitor.viewed.contains(&item.id);
    let availability = match item.availability {
        Availability::InStock => 0.0,
        Availability::Preorder => -0.1,
        Availability::OutOfStock => -0.3,
    };
    relevance
        + if viewed_category { 0.1 } else { 0.0 }
        + if viewed_itself { 0.05 } else { 0.0 }
        + 0.1 * context
        + availability
}

/// The items recommended for a request, best first, with whether they are the nearest
/// rather than matches.
pub fn choose(
    indexed: &IndexedCatalog,
    request: &Request,
    relevance: &[f32],
    visitor: &Visitor<'_>,
) -> (Vec<usize>, bool) {
    let catalog = &indexed.catalog;
    let items = catalog.items();
    let context = if visitor.context.trim().is_empty() {
        vec![0.0; items.len()]
    } else {
        catalog.keyword_scores(visitor.context)
    };
    let rank = |candidates: Vec<usize>, by_price_from: Option<bool>| -> Vec<usize> {
        let mut scored: Vec<(usize, f32)> = candidates
            .into_iter()
            .map(|i| {
                let fit = context.get(i).copied().unwrap_or(0.0);
                (i, adjusted(&items[i], relevance.get(i).copied().unwrap_or(0.0), fit, visitor, catalog))
            })
            .collect();
        match by_price_from {
            // Nearest to a bound: the closest prices first.
            Some(ascending) => scored.sort_by(|a, b| {
                let order = items[a.0].price.total_cmp(&items[b.0].price);
                if ascending {
                    order
                } else {
                    order.reverse()
                }
            }),
            // The cheapest of what the question is about: the clearly less relevant go first.
            None if request.cheapest => {
                let best =
                    scored.iter().map(|s| relevance.get(s.0).copied().unwrap_or(0.0)).fold(0.0, f32::max);
                scored.retain(|s| best < 0.3 || relevance.get(s.0).copied().unwrap_or(0.0) >= best * 0.5);
                scored.sort_by(|a, b| {
                    let availability = |i: usize| items[i].availability != Availability::InStock;
                    availability(a.0)
                        .cmp(&availability(b.0))
                        .then(items[a.0].price.total_cmp(&items[b.0].price))
                        .then(b.1.total_cmp(&a.1))
                });
            }
            None => {
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(items[a.0].price.total_cmp(&items[b.0].price)))
            }
        }
        // Leave out the clearly less relevant: below half the best one's match.
        let best = scored.first().map_or(0.0, |s| relevance.get(s.0).copied().unwrap_or(0.0));
        scored
            .into_iter()
            .filter(|(i, _)| {
                by_price_from.is_some()
                    || best < 0.3
                    || relevance.get(*i).copied().unwrap_or(0.0) >= best * 0.5
            })
            .take(MAX_CARDS)
            .map(|(i, _)| i)
            .collect()
    };
    let meeting =
        |r: &Request| -> Vec<usize> { (0..items.len()).filter(|&i| r.accepts(&items[i])).collect() };
    let exact = meeting(request);
    if !exact.is_empty() {
        return (rank(exact, None), false);
    }
    // Nothing meets every constraint: let go of one at a time, the price first.
    if request.max_price.is_some() || request.min_price.is_some() {
        let loose = Request { max_price: None, min_price: None, ..request.clone() };
        let above: Vec<usize> = meeting(&loose)
            .into_iter()
            .filter(|&i| request.max_price.is_none_or(|max| items[i].price > max))
            .collect();
        if !above.is_empty() {
            return (rank(above, Some(request.max_price.is_some())), true);
        }
    }
    let loosenings: [fn(&mut Request); 5] = [
        |r| r.level = None,
        |r| r.language = None,
        |r| r.in_stock = false,
        |r| r.after = None,
        |r| r.category = None,
    ];
    let mut loose = Request { max_price: None, min_price: None, ..request.clone() };
    for loosen in loosenings {
        loosen(&mut loose);
        let found = meeting(&loose);
        if !found.is_empty() {
            return (rank(found, None), true);
        }
    }
    (Vec::new(), true)
}

/// The first sentence of a description, cut at a word within `max` characters.
fn first_sentence(text: &str, max: usize) -> String {
    let text = text.trim();
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    let sentence = &text[..end];
    if sentence.chars().count() <= max {
        return sentence.to_owned();
    }
    let cut: String = sentence.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{}\u{2026}", cut.trim_end_matches([',', ';', ':']))
}

/// Why an item fits: its fields that answer the request, then the start of its description.
pub fn reason(item: &CatalogItem, request: &Request, catalog: &super::Catalog) -> String {
    let zh = request.chinese;
    let mut parts: Vec<String> = Vec::new();
    if item.kind == ItemKind::Course {
        if let Some(level) = item.level {
            parts.push(if zh {
                match level {
                    super::Level::Beginner => "入门级".into(),
                    super::Level::Intermediate => "中级".into(),
                    super::Level::Advanced => "高级".into(),
                }
            } else {
                let name = level.as_str();
                format!("{}{} level", name[..1].to_uppercase(), &name[1..])
            });
        }
        if let Some(hours) = item.duration_hours {
            let hours = format_hours(hours);
            parts.push(if zh { format!("{hours} 小时") } else { format!("{hours} hours") });
        }
        if let Some(language) = &item.language {
            let name = language_name(language, zh);
            parts.push(if zh { format!("{name}授课") } else { format!("taught in {name}") });
        }
        if let Some(after) = request.after.as_deref().and_then(|id| catalog.get(id)) {
            parts.push(if zh {
                format!("接续《{}》", after.name)
            } else {
                format!("follows {}", after.name)
            });
        }
        if let Some(first) = item.start_dates.first() {
            parts.push(if zh { format!("下次开课 {first}") } else { format!("next start {first}") });
        }
    } else if !item.category.is_empty() {
        parts.push(item.category.clone());
    }
    match item.availability {
        Availability::InStock => {}
        Availability::Preorder => {
            parts.push(if zh { "可预订".into() } else { "available to pre-order".into() })
        }
        Availability::OutOfStock => {
            parts.push(if zh { "暂时缺货".into() } else { "currently out of stock".into() })
        }
    }
    // Chinese punctuation is followed by a space where Latin text may follow, so the catalogue's
    // words stay words.
    let mut line = parts.join(if zh { "， " } else { ", " });
    let description = first_sentence(&item.description, 120);
    if !description.is_empty() {
        if !line.is_empty() {
            line.push_str(if zh { "： " } else { ": " });
        }
        line.push_str(&description);
    }
    line
}

fn format_hours(hours: f64) -> String {
    if (hours - hours.round()).abs() < 0.01 {
        format!("{hours:.0}")
    } else {
        format!("{hours:.1}")
    }
}

/// What the visitor asked for, in words, for the "nothing meets all of that" line.
fn unmet(request: &Request) -> String {
    let zh = request.chinese;
    match (request.min_price, request.max_price) {
        (Some(min), Some(max)) => {
            if zh {
                format!("价格在 {min:.0} 到 {max:.0} 之间")
            } else {
                format!("priced between {min:.0} and {max:.0}")
            }
        }
        (None, Some(max)) => {
            if zh {
                format!("{max:.0} 以内")
            } else {
                format!("at {max:.0} or less")
            }
        }
        (Some(min), None) => {
            if zh {
                format!("{min:.0} 以上")
            } else {
                format!("at {min:.0} or more")
            }
        }
        (None, None) => {
            if zh {
                "符合您全部要求".into()
            } else {
                "matching everything you asked for".into()
            }
        }
    }
}

/// The recommendation for a request: items chosen, the text, the cards.
pub fn recommend(
    indexed: &IndexedCatalog,
    request: &Request,
    relevance: &[f32],
    visitor: &Visitor<'_>,
) -> Option<Recommendation> {
    let (chosen, nearest) = choose(indexed, request, relevance, visitor);
    if chosen.is_empty() {
        return None;
    }
    let catalog = &indexed.catalog;
    let zh = request.chinese;
    let items: Vec<&CatalogItem> = chosen.iter().map(|&i| &catalog.items()[i]).collect();
    let noun = match (
        items.iter().all(|i| i.kind == ItemKind::Course),
        items.iter().all(|i| i.kind == ItemKind::Product),
    ) {
        (true, _) => {
            if zh {
                "课程"
            } else if items.len() == 1 {
                "course"
            } else {
                "courses"
            }
        }
        (_, true) => {
            if zh {
                "产品"
            } else if items.len() == 1 {
                "product"
            } else {
                "products"
            }
        }
        _ => {
            if zh {
                "选择"
            } else if items.len() == 1 {
                "option"
            } else {
                "options"
            }
        }
    };
    let mut text = if nearest {
        if zh {
            format!("我们的目录中没有{}的{noun}。最接近的是：\n", unmet(request))
        } else {
            format!("Nothing in our catalogue is {}. The nearest {noun}:\n", unmet(request))
        }
    } else if zh {
        format!("根据您的需求，推荐以下{noun}：\n")
    } else if items.len() == 1 {
        format!("This {noun} from our catalogue fits what you asked for:\n")
    } else {
        format!("These {noun} from our catalogue fit what you asked for:\n")
    };
    let mut cards = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let why = reason(item, request, catalog);
        let price = item.price_text();
        text.push_str(&format!("\n{}. {} ({price}): {why}", n + 1, item.name));
        cards.push(Card {
            id: item.id.clone(),
            kind: item.kind,
            name: item.name.clone(),
            price,
            image_url: item.image_url.clone(),
            reason: why,
            href: format!("/r/{}", item.id),
        });
    }
    text.push_str(if zh { "\n\n点击卡片可查看详情。" } else { "\n\nOpen a card to see its page." });
    let first_unavailable = items.first().is_some_and(|i| i.availability == Availability::OutOfStock);
    Some(Recommendation { text, cards, nearest, first_unavailable })
}

/// The catalogue's answer to a question, when it asks for a choice and anything is near: what
/// the question asks for, and the recommendation. The chat and the evaluation both call this.
pub async fn answer(
    catalogue: &dyn super::Catalogue,
    question: &str,
    visitor: &Visitor<'_>,
) -> crate::Result<Option<(Request, Recommendation)>> {
    let indexed = catalogue.current();
    let Some(request) = super::intent::recognise(question, &indexed.catalog) else { return Ok(None) };
    let vector = catalogue.embed_query(question).await?;
    let scores = relevance(&indexed, question, vector.as_deref());
    Ok(recommend(&indexed, &request, &scores, visitor).map(|r| (request, r)))
}
