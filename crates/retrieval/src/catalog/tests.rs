use frontdesk_core::testing::MemoryStore;

use super::*;

const DEMO: &str = include_str!("../../../../knowledge-base/brightwave.catalog.csv");

const HEADER: &str = "id,kind,name,price,currency,level,prerequisites\n";

#[test]
fn the_demo_catalogue_reads_whole() {
    let catalog = parse_catalog("brightwave.catalog.csv", DEMO.as_bytes()).expect("the demo catalogue reads");
    let count = |kind| catalog.items().iter().filter(|i| i.kind == kind).count();
    assert!(count(ItemKind::Product) >= 40, "{} products", count(ItemKind::Product));
    assert!(count(ItemKind::Course) >= 20, "{} courses", count(ItemKind::Course));
    let course = catalog.get("data-analysis-python").expect("a course");
    assert_eq!(course.prerequisites, ["python-basics"]);
    assert_eq!((course.level, course.language.as_deref()), (Some(Level::Intermediate), Some("en")));
    let headphones = catalog.get("aura-anc").expect("a product");
    assert!(headphones.tags.iter().any(|t| t == "noise cancelling"), "{:?}", headphones.tags);
}

#[test]
fn bad_rows_are_refused_with_the_row_and_the_reason() {
    let csv = format!(
        "{HEADER}a,product,A,10,EUR,,\n,product,No id,10,EUR,,\na,product,Again,10,EUR,,\n\
         b,product,B,ten,EUR,,\nc,course,C,10,EUR,beginner,nowhere\nd,course,D,10,EUR,guru,\n"
    );
    let error = parse_catalog("shop.csv", csv.as_bytes()).expect_err("refused").to_string();
    for expected in ["row 2: no id", "row 4 (b): price \"ten\" is not a number", "row 6 (d): level \"guru\""]
    {
        assert!(error.contains(expected), "{expected:?} missing from {error}");
    }
    // The duplicate and the unknown prerequisite are found once the rows read.
    let csv = format!(
        "{HEADER}a,product,A,10,EUR,,\na,product,Again,10,EUR,,\nc,course,C,10,EUR,beginner,nowhere\n"
    );
    let error = parse_catalog("shop.csv", csv.as_bytes()).expect_err("refused").to_string();
    assert!(error.contains("row 2 (a): duplicate id, first used in row 1"), "{error}");
    assert!(error.contains("row 3 (c): unknown prerequisite \"nowhere\""), "{error}");
}

#[test]
fn json_catalogues_read_as_a_list_or_under_items() {
    let list = r#"[{"id": "a", "name": "A", "price": 10.5, "currency": "EUR", "tags": ["x", "y"]},
                   {"id": "c", "kind": "course", "name": "C", "price": "€20", "level": "beginner",
                    "language": "German", "prerequisites": []}]"#;
    let catalog = parse_catalog("shop.json", list.as_bytes()).expect("reads");
    assert_eq!(catalog.get("a").map(|i| i.tags.clone()), Some(vec!["x".to_owned(), "y".to_owned()]));
    let course = catalog.get("c").expect("course");
    assert_eq!(
        (course.price, course.currency.as_str(), course.language.as_deref()),
        (20.0, "EUR", Some("de"))
    );
    let wrapped = format!("{{\"items\": {list}}}");
    assert_eq!(parse_catalog("shop.json", wrapped.as_bytes()).expect("reads").items().len(), 2);
    for bad in ["{}", "[1, 2]", "not json", "[]"] {
        assert!(parse_catalog("shop.json", bad.as_bytes()).is_err(), "{bad}");
    }
    assert!(parse_catalog("shop.xlsx", list.as_bytes()).is_err());
}

fn catalogue(store: &Arc<MemoryStore>, dir: &Path) -> CatalogStore {
    CatalogStore::new(store.clone(), store.clone(), FaqIndex::open(dir).expect("open"))
}

#[tokio::test]
async fn an_upload_replaces_the_catalogue_and_a_bad_one_changes_nothing() {
    let data = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(MemoryStore::default());
    let shop = catalogue(&store, data.path());
    let summary = shop.replace("demo.catalog.csv", DEMO.as_bytes().to_vec()).await.expect("stored");
    assert_eq!(summary.items, summary.products + summary.courses);
    assert_eq!(summary.added, summary.items);
    let bad = format!("{HEADER}a,product,A,free,EUR,,\n");
    assert!(shop.replace("shop.csv", bad.into_bytes()).await.is_err());
    assert_eq!(shop.current().catalog.items().len(), summary.items, "the refused file changed nothing");

    // Another replica on the same store loads what this one stored.
    let other = catalogue(&store, tempfile::tempdir().expect("temp dir").path());
    assert_eq!(other.sync().await.expect("sync"), summary.items);

    let smaller = format!("{HEADER}a,product,A,10,EUR,,\n");
    let summary = shop.replace("shop.csv", smaller.into_bytes()).await.expect("stored");
    assert_eq!((summary.items, summary.added), (1, 1));
    assert_eq!(other.sync().await.expect("sync"), 1, "the change reaches the other replica");
    // The catalogue is not an FAQ document.
    let index = FaqIndex::open(tempfile::tempdir().expect("temp dir").path()).expect("open");
    let library = crate::KnowledgeLibrary::new(store.clone(), store.clone(), index);
    use frontdesk_core::documents::Library;
    assert!(library.list().await.expect("list").is_empty());
}
