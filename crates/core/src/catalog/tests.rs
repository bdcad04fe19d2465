use super::intent::{price_bounds, recognise, Request};
use super::recommend::{recommend, relevance, Visitor};
use super::*;
use crate::retrieve::CosineScale;

fn product(id: &str, name: &str, category: &str, price: f64, tags: &[&str]) -> CatalogItem {
    CatalogItem {
        id: id.into(),
        kind: ItemKind::Product,
        name: name.into(),
        description: format!("{name} for everyday use."),
        price,
        currency: "EUR".into(),
        category: category.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        url: Some(format!("https://shop.example/p/{id}")),
        image_url: None,
        availability: Availability::InStock,
        level: None,
        duration_hours: None,
        language: None,
        start_dates: Vec::new(),
        prerequisites: Vec::new(),
    }
}

fn course(
    id: &str,
    name: &str,
    level: Level,
    price: f64,
    prerequisites: &[&str],
    tags: &[&str],
) -> CatalogItem {
    CatalogItem {
        kind: ItemKind::Course,
        level: Some(level),
        duration_hours: Some(12.0),
        language: Some("en".into()),
        prerequisites: prerequisites.iter().map(|p| (*p).to_owned()).collect(),
        category: "Courses".into(),
        ..product(id, name, "", price, tags)
    }
}

fn shop() -> Catalog {
    let mut out_of_stock =
        product("nova-air", "Nova Air laptop", "Laptops", 699.0, &["laptop", "video editing"]);
    out_of_stock.availability = Availability::OutOfStock;
    Catalog::new(vec![
        product(
            "aura",
            "Aura ANC headphones",
            "Headphones",
            249.0,
            &["headphones", "noise cancelling", "耳机"],
        ),
        product("aura-lite", "Aura Lite headphones", "Headphones", 89.0, &["headphones", "budget", "iphone"]),
        product("nova-13", "Nova 13 laptop", "Laptops", 649.0, &["laptop", "office", "笔记本电脑"]),
        product("nova-15", "Nova 15 laptop", "Laptops", 749.0, &["laptop", "video editing", "笔记本电脑"]),
        product(
            "nova-pro",
            "Nova Pro laptop",
            "Laptops",
            1_199.0,
            &["laptop", "video editing", "笔记本电脑"],
        ),
        out_of_stock,
        course("python-basics", "Python Basics", Level::Beginner, 69.0, &[], &["python", "programming"]),
        course(
            "data-beginners",
            "Data Analysis for Beginners",
            Level::Beginner,
            89.0,
            &[],
            &["data analysis"],
        ),
        course(
            "data-python",
            "Data Analysis with Python",
            Level::Intermediate,
            119.0,
            &["python-basics"],
            &["data analysis", "python"],
        ),
        course(
            "python-more",
            "Intermediate Python",
            Level::Intermediate,
            99.0,
            &["python-basics"],
            &["python"],
        ),
    ])
    .expect("a valid catalogue")
}

fn indexed() -> IndexedCatalog {
    IndexedCatalog { catalog: shop(), vectors: Vec::new(), scale: CosineScale::REFERENCE }
}

fn ask(question: &str) -> Option<Request> {
    recognise(question, &shop())
}

#[test]
fn a_catalogue_with_bad_rows_is_refused_with_every_row_and_reason() {
    let mut items = shop().items().to_vec();
    items[1].id = "aura".into();
    items[2].price = f64::NAN;
    items[3].currency = "euro".into();
    items[0].level = Some(Level::Beginner);
    items[8].prerequisites = vec!["no-such-course".into()];
    let errors = Catalog::new(items).expect_err("refused");
    let rows: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.reason.as_str())).collect();
    assert!(rows.iter().any(|(row, r)| *row == 2 && r.contains("duplicate id")), "{rows:?}");
    assert!(rows.iter().any(|(row, r)| *row == 3 && r.contains("price")), "{rows:?}");
    assert!(rows.iter().any(|(row, r)| *row == 4 && r.contains("currency")), "{rows:?}");
    assert!(rows.iter().any(|(row, r)| *row == 1 && r.contains("for courses")), "{rows:?}");
    assert!(rows.iter().any(|(row, r)| *row == 9 && r.contains("unknown prerequisite")), "{rows:?}");
    let message = refusal(&errors).to_string();
    assert!(message.contains("nothing changed") && message.contains("row 2 (aura)"), "{message}");
}

#[test]
fn a_course_cannot_need_itself_or_a_product() {
    let mut items = shop().items().to_vec();
    items[6].prerequisites = vec!["python-basics".into()];
    items[7].prerequisites = vec!["aura".into()];
    let errors = Catalog::new(items).expect_err("refused");
    assert!(errors.iter().any(|e| e.row == 7 && e.reason.contains("its own")), "{errors:?}");
    assert!(errors.iter().any(|e| e.row == 8 && e.reason.contains("not a course")), "{errors:?}");
}

#[test]
fn price_bounds_are_read_in_english_and_chinese() {
    type Bounds = (Option<f64>, Option<f64>);
    let cases: &[(&str, Bounds)] = &[
        ("a laptop under 800 euros for video editing?", (None, Some(800.0))),
        ("headphones below €100", (None, Some(100.0))),
        ("anything for 1,000 euros or less", (None, Some(1_000.0))),
        ("a speaker over 200 dollars", (Some(200.0), None)),
        ("between 300 and 500 euros", (Some(300.0), Some(500.0))),
        ("my budget is 650", (None, Some(650.0))),
        ("推荐一款800欧以下的笔记本电脑", (None, Some(800.0))),
        ("预算500元", (None, Some(500.0))),
        ("不超过1000块的耳机", (None, Some(1_000.0))),
        ("a course under 20 hours", (None, None)),
        ("a power bank of 20,000 mAh", (None, None)),
        ("what does 2 year warranty cover", (None, None)),
    ];
    for (question, expected) in cases {
        assert_eq!(price_bounds(&question.to_lowercase()), *expected, "{question}");
    }
}

#[test]
fn choice_questions_are_recognised_with_their_constraints() {
    let laptop = ask("a laptop under 800 euros for video editing?").expect("recognised");
    assert_eq!(laptop.kind, Some(ItemKind::Product));
    assert_eq!(laptop.category.as_deref(), Some("Laptops"));
    assert_eq!(laptop.max_price, Some(800.0));

    let beginner = ask("Which course fits a beginner in data analysis?").expect("recognised");
    assert_eq!((beginner.kind, beginner.level), (Some(ItemKind::Course), Some(Level::Beginner)));

    let next = ask("What should I take after Python Basics?").expect("recognised");
    assert_eq!(next.after.as_deref(), Some("python-basics"));

    let chinese = ask("推荐一款800欧以下的笔记本电脑").expect("recognised");
    assert!(chinese.chinese);
    assert_eq!(chinese.max_price, Some(800.0));

    // 哪 ("which") asks for a choice when an item follows it, as "which" does in English.
    assert!(ask("跑步用哪款耳机好？").is_some());
    assert!(ask("Can you recommend noise cancelling headphones?").is_some());
    assert!(ask("What are the cheapest headphones you have?").is_some_and(|r| r.cheapest));
}

#[test]
fn questions_for_the_faq_are_left_to_it() {
    for question in [
        "What is the battery life of the Aura headphones?",
        "Which language are the courses in?",
        "Can I pay in instalments for a course?",
        "Do courses have prerequisites?",
        "How do I enrol in a course?",
        "How long does delivery take?",
        "Can I return a laptop I opened?",
        "Are the Aura headphones good for phone calls?",
        "do you sell iphones",
        "耳机坏了，保修包括哪些问题？",
    ] {
        assert_eq!(ask(question), None, "{question}");
    }
}

fn recommended(question: &str) -> super::recommend::Recommendation {
    let indexed = indexed();
    let request = recognise(question, &indexed.catalog).expect("recognised");
    let scores = relevance(&indexed, question, None);
    recommend(&indexed, &request, &scores, &Visitor::default()).expect("something to recommend")
}

#[test]
fn every_card_meets_every_constraint_and_the_best_match_comes_first() {
    let answer = recommended("a laptop under 800 euros for video editing?");
    assert!(!answer.nearest);
    let ids: Vec<&str> = answer.cards.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.first(), Some(&"nova-15"), "{ids:?}");
    assert!(!ids.contains(&"nova-pro"), "over the bound: {ids:?}");
    // Out of stock: ranked below what can be bought now, when it shows at all.
    assert!(ids.iter().position(|i| *i == "nova-air").is_none_or(|p| p > 0), "{ids:?}");
    assert!(answer.cards.iter().all(|c| c.href == format!("/r/{}", c.id)));

    let next = recommended("What should I take after Python Basics?");
    let ids: Vec<&str> = next.cards.iter().map(|c| c.id.as_str()).collect();
    assert!(!ids.is_empty() && ids.iter().all(|i| ["data-python", "python-more"].contains(i)), "{ids:?}");
    assert!(next.text.contains("follows Python Basics"), "{}", next.text);
}

#[test]
fn nothing_under_the_bound_offers_the_cheapest_above_it() {
    let answer = recommended("a laptop under 300 euros?");
    assert!(answer.nearest);
    assert_eq!(answer.cards[0].id, "nova-13");
    assert!(answer.text.starts_with("Nothing in our catalogue"), "{}", answer.text);
}

#[test]
fn the_answer_states_only_what_the_catalogue_holds() {
    for question in [
        "a laptop under 800 euros for video editing?",
        "Which course fits a beginner in data analysis?",
        "推荐一款800欧以下的笔记本电脑",
    ] {
        let answer = recommended(question);
        let catalog = shop();
        let sources: Vec<String> = catalog.items().iter().map(CatalogItem::facts).collect();
        let evidence = crate::chat::faithful::Evidence::new(
            sources.iter().map(String::as_str).chain([question, super::recommend::WORDING]),
        );
        assert_eq!(
            crate::chat::faithful::check(&answer.text, &evidence),
            None,
            "{question}: {}",
            answer.text
        );
    }
}

#[test]
fn a_chinese_question_gets_a_chinese_answer() {
    let answer = recommended("推荐一款800欧以下的笔记本电脑");
    assert!(answer.text.starts_with("根据您的需求"), "{}", answer.text);
}

#[test]
fn what_the_visitor_viewed_lifts_its_category() {
    let indexed = indexed();
    let request = Request { kind: Some(ItemKind::Product), ..Request::default() };
    let scores = vec![0.0; indexed.catalog.items().len()];
    let viewed = vec!["nova-13".to_owned()];
    let answer = recommend(&indexed, &request, &scores, &Visitor { viewed: &viewed, context: "" })
        .expect("recommended");
    assert!(answer.cards.iter().take(2).all(|c| c.id.starts_with("nova")), "{:?}", answer.cards);
}

#[test]
fn what_the_visitor_said_before_favours_what_fits_it() {
    let indexed = indexed();
    let request =
        Request { kind: Some(ItemKind::Course), level: Some(Level::Beginner), ..Request::default() };
    let scores = vec![0.0; indexed.catalog.items().len()];
    let first = |context: &str| {
        let visitor = Visitor { viewed: &[], context };
        recommend(&indexed, &request, &scores, &visitor).expect("recommended").cards[0].id.clone()
    };
    assert_eq!(first("I work with spreadsheets and want to learn data analysis"), "data-beginners");
    assert_eq!(first("plan: programming"), "python-basics");
}

#[test]
fn prices_are_written_as_visitors_read_them() {
    assert_eq!(format_price(749.0, "EUR"), "\u{20ac}749");
    assert_eq!(format_price(49.5, "USD"), "$49.50");
    assert_eq!(format_price(20.0, "CHF"), "CHF 20");
}
