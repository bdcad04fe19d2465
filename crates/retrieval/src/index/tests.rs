//! The index alone: ranking, Chinese, PDF text, search by meaning, changes of one document.

use super::*;

fn kb_with(files: &[(&str, &str)]) -> (tempfile::TempDir, tempfile::TempDir, FaqIndex) {
    let docs = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(docs.path().join(name), text).expect("write");
    }
    let data = tempfile::tempdir().expect("temp dir");
    let kb = FaqIndex::open(data.path()).expect("open");
    index_folder(&kb, docs.path());
    (docs, data, kb)
}

/// Every document of a folder, indexed in one rebuild (the library does this from the
/// store; these tests exercise the index alone).
fn index_folder(kb: &FaqIndex, folder: &Path) {
    let documents: Vec<(String, String)> = folder_files(folder)
        .expect("files")
        .into_iter()
        .map(|(id, path)| {
            let text = crate::document_text(&id, &std::fs::read(path).expect("read")).expect("text");
            (id, text)
        })
        .collect();
    kb.rebuild(&documents, "test").expect("index");
}

#[test]
fn the_question_field_outranks_the_answer_and_stemming_matches() {
    let (_docs, _data, kb) = kb_with(&[(
        "faq.md",
        "## How do I return headphones?\nSend them back within 30 days.\n\n## Warranty\nReturning customers get a discount on headphones.\n",
    )]);
    let hits = kb.search_blocking("returning my headphones", 2).expect("search");
    assert_eq!(hits[0].title, "How do I return headphones?");
    assert!((hits[0].confidence - 1.0).abs() < f32::EPSILON);
    assert!(kb.search_blocking("", 3).expect("search").is_empty());
    assert!(kb.search_blocking("\"(*:", 3).expect("odd input is plain text").is_empty());
}

#[test]
fn a_chinese_faq_is_found_by_the_words_of_a_question() {
    let (_docs, _data, kb) = kb_with(&[(
        "常见问题.md",
        "## 如何申请退货？\n收到商品后30天内可以在账户中申请退货，退货运费免费。\n\n## 发货需要多长时间？\n订单通常在两个工作日内发货。\n",
    )]);
    let hits = kb.search_blocking("我想退货", 2).expect("search");
    assert_eq!(hits[0].title, "如何申请退货？", "{hits:?}");
    let hits = kb.search_blocking("多久发货", 2).expect("search");
    assert_eq!(hits[0].title, "发货需要多长时间？", "{hits:?}");
    assert!(hits[0].confidence > 0.4, "{hits:?}");
    assert!(kb.search_blocking("退款到信用卡", 2).expect("search").iter().all(|h| h.confidence < 0.5));
}

#[test]
fn a_pdf_faq_is_indexed_from_its_text() {
    let (_docs, _data, kb) = kb_with(&[]);
    let pdf = crate::decode::tests::pdf_with_lines(&[
        "Can I pay by invoice?",
        "Yes, businesses can pay by invoice within 30 days.",
        "",
        "Do you ship to Norway?",
        "Yes, in four to six working days.",
    ]);
    let text = crate::document_text("terms.pdf", &pdf).expect("text");
    assert_eq!(kb.upsert_document("terms.pdf", &text).expect("indexed"), 2, "{text:?}");
    let hits = kb.search_blocking("paying with an invoice", 1).expect("search");
    assert_eq!(hits[0].title, "Can I pay by invoice?");
    assert!(hits[0].body.contains("within 30 days"), "{:?}", hits[0].body);
}

#[test]
fn a_paraphrase_is_found_by_meaning_and_an_unrelated_question_is_not() {
    let Some(model) = crate::embed::tests::model_dir() else {
        panic!("models/all-MiniLM-L6-v2 is missing: run scripts/fetch-model.sh");
    };
    let embedder = Arc::new(Embedder::load(&model).expect("model"));
    let docs = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        docs.path().join("faq.md"),
        "## How do I return headphones?\nSend them back within 30 days for a refund.\n\n\
         ## Do you ship abroad?\nWe deliver to 30 countries.\n\n## Opening hours\nTen to seven.\n",
    )
    .expect("write");
    let data = tempfile::tempdir().expect("temp dir");
    let keywords = FaqIndex::open(&data.path().join("k")).expect("open");
    index_folder(&keywords, docs.path());
    let hybrid = FaqIndex::open_with(&data.path().join("h"), Some(embedder)).expect("open");
    index_folder(&hybrid, docs.path());
    assert_ne!(keywords.format(), hybrid.format(), "the model is part of the fingerprint");

    let question = "can I get my money back for earphones";
    let plain = keywords.search_blocking(question, 3).expect("search");
    assert!(plain.first().is_none_or(|p| p.confidence < 0.5), "{plain:?}");
    let found = hybrid.search_blocking(question, 3).expect("search");
    assert_eq!(found[0].title, "How do I return headphones?", "{found:?}");
    assert!(found[0].confidence >= 0.5, "{found:?}");
    let unrelated = hybrid.search_blocking("what is the capital of France", 3).expect("search");
    assert!(unrelated.iter().all(|p| p.confidence < 0.5), "{unrelated:?}");

    // The English model cannot read Chinese: a Chinese question is judged by its words.
    hybrid
        .upsert_document("常见问题.md", "## 如何申请退货？\n收到商品后30天内可以申请退货。\n")
        .expect("add");
    let found = hybrid.search_blocking("我想退货", 2).expect("search");
    assert_eq!(found[0].title, "如何申请退货？", "{found:?}");
    assert!(found[0].confidence >= 0.5, "{found:?}");
    assert!(hybrid.search_blocking("退款到信用卡", 2).expect("search").iter().all(|h| h.confidence < 0.5));

    // Vectors are stored in the index: after a restart they are searched again.
    hybrid.upsert_document("more.md", "## Gift wrapping\nWe wrap presents for 3 euros.\n").expect("add");
    drop(hybrid);
    let embedder = Arc::new(Embedder::load(&model).expect("model"));
    let reopened = FaqIndex::open_with(&data.path().join("h"), Some(embedder)).expect("reopen");
    let found = reopened.search_blocking("do you pack a present nicely", 1).expect("search");
    assert_eq!(found[0].title, "Gift wrapping", "{found:?}");
}

#[test]
fn one_document_is_added_replaced_and_removed_without_touching_the_others() {
    let (_docs, data, kb) = kb_with(&[("a.md", "## Opening hours\nTen to seven.\n")]);
    assert_eq!(
        kb.upsert_document("b.csv", "question,answer\nGift wrapping?,Yes for 3 euros\n").expect("add"),
        1
    );
    assert_eq!(kb.search_blocking("gift wrapping", 1).expect("search")[0].document_id, "b.csv");
    kb.upsert_document("b.csv", "question,answer\nEngraving?,Yes\nGift cards?,Sold online\n")
        .expect("replace");
    assert_eq!(kb.entries(), 3);
    assert!(kb.search_blocking("wrapping", 3).expect("search").is_empty(), "the old entry is gone");
    assert!(kb.upsert_document("c.csv", "").is_err(), "a document without entries is refused");
    let broken = kb
        .upsert_document("menu.html", "<nav><h2>Shop</h2><p>Menu</p></nav><script>x()</script><h2>")
        .expect_err("broken HTML is refused");
    assert!(broken.to_string().contains("no FAQ entries found"), "{broken}");
    assert_eq!(kb.entries(), 3);
    assert!(kb.upsert_document("d.exe", "x").is_err(), "an unsupported type changes nothing");
    assert_eq!(kb.entries(), 3);
    kb.remove_document("a.md").expect("remove");
    assert!(kb.search_blocking("opening hours", 3).expect("search").is_empty());
    drop(kb);
    let reopened = FaqIndex::open(data.path()).expect("reopen");
    assert_eq!(reopened.entries(), 2, "changes survive a restart");
}

#[test]
fn with_the_multilingual_model_a_question_finds_its_entry_in_the_other_language() {
    let embedder = Arc::new(Embedder::load(&crate::e5::tests::model_dir()).expect("model"));
    assert!(embedder.multilingual());
    let docs = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        docs.path().join("faq.md"),
        "## How long does delivery take?\nStandard delivery takes 3 to 5 working days.\n\n\
         ## Can I pay in instalments?\nYes, with Klarna in 3 interest-free instalments.\n\n\
         ## What is your return policy?\nYou can return any product within 30 days.\n\n\
         ## Do you offer student discounts?\nStudents get 40% off every course.\n\n\
         ## Can I turn on two-factor authentication?\nYes: in your account settings, choose \
         Security and scan the code with an authenticator app.\n\n\
         ## I forgot my password\nUse the reset link on the sign-in page.\n",
    )
    .expect("write");
    std::fs::write(
        docs.path().join("zh.md"),
        "## 可以用支付宝付款吗？\n可以，结账时选择支付宝扫码付款。\n\n\
         ## 学生购买课程有优惠吗？\n学生购买所有课程都可以减 40%。\n",
    )
    .expect("write");
    let data = tempfile::tempdir().expect("temp dir");
    let index = FaqIndex::open_with(&data.path().join("h"), Some(embedder)).expect("open");
    index_folder(&index, docs.path());

    // Chinese questions, English entries: no word in common, found by meaning.
    for (question, expected) in [
        ("我的包裹多久能到？", "How long does delivery take?"),
        ("退货政策是什么？", "What is your return policy?"),
    ] {
        let found = index.search_blocking(question, 3).expect("search");
        assert_eq!(found[0].title, expected, "{question}: {found:?}");
    }
    // And the other way round.
    let found = index.search_blocking("can I pay with Alipay?", 3).expect("search");
    assert_eq!(found[0].title, "可以用支付宝付款吗？", "{found:?}");
    // Where an entry exists in both languages, the visitor's comes first.
    assert_eq!(
        index.search_blocking("学生有折扣吗？", 3).expect("search")[0].title,
        "学生购买课程有优惠吗？"
    );
    assert_eq!(
        index.search_blocking("do students get a discount?", 3).expect("search")[0].title,
        "Do you offer student discounts?"
    );
    // A short question in the entries' own language stays with its entry: the Chinese entries,
    // nearer in meaning once centred, do not jump ahead of it.
    let found = index.search_blocking("enable 2fa", 3).expect("search");
    assert_eq!(found[0].title, "Can I turn on two-factor authentication?", "{found:?}");
    assert!(found[0].confidence >= 0.5, "{found:?}");
    // A question about nothing here is not confident in any entry, in either language.
    for question in ["how do I bake sourdough bread?", "怎么做面包？"] {
        let found = index.search_blocking(question, 3).expect("search");
        assert!(found[0].confidence < 0.5, "{question}: {found:?}");
    }
}
