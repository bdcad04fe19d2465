use super::*;
use std::collections::BTreeMap;

use crate::model::{Feedback, Source};

fn message(role: Role, text: &str) -> Message {
    Message::new(role, text)
}

fn asked(conversation: &str, text: &str, outcome: Outcome) -> Asked {
    Asked {
        conversation_id: conversation.to_owned(),
        message_id: crate::new_id(),
        text: text.to_owned(),
        created_ms: 1_000,
        outcome,
        feedback: None,
        comment: None,
        agent_reply: None,
        cited: None,
    }
}

/// A unit vector near axis `axis` of 8, nudged by `noise` along the next one.
fn near(axis: usize, noise: f32) -> Vec<f32> {
    let mut v = vec![0.0_f32; 8];
    v[axis] = 1.0;
    v[(axis + 1) % 8] = noise;
    unit(&mut v);
    v
}

#[test]
fn each_question_carries_what_followed_it() {
    let mut answer = message(Role::Assistant, "Delivery takes 2 to 4 working days.");
    answer.sources.push(Source {
        document_id: "shipping.md".into(),
        entry_id: "shipping.md#how-long".into(),
        title: "How long does delivery take?".into(),
        url: None,
        score: 1.0,
    });
    answer.feedback = Some(Feedback { value: FeedbackValue::Down, comment: Some("too vague".into()) });
    let messages = vec![
        message(Role::Visitor, "How long does delivery take?"),
        answer,
        message(Role::Visitor, "Do you have a student discount?"),
        message(Role::Assistant, crate::chat::DECLINE_TEXT),
        message(Role::System, "Mia joined"),
        message(Role::Agent, "Yes: 10 % with a valid student card."),
        message(Role::Agent, "Ask us for the code."),
        message(Role::Visitor, "   "),
        message(Role::Visitor, "thanks"),
        message(Role::Visitor, "你们卖披萨吗？"),
        message(Role::Assistant, crate::chat::DECLINE_TEXT_ZH),
    ];
    let questions = questions_of("c1", &messages);
    assert_eq!(questions.len(), 4, "the blank message is not a question");
    assert_eq!(questions[3].outcome, Outcome::Declined, "the Chinese decline is a decline");
    assert_eq!(questions[0].outcome, Outcome::Answered);
    assert_eq!(questions[0].feedback, Some(FeedbackValue::Down));
    assert_eq!(questions[0].comment.as_deref(), Some("too vague"));
    assert_eq!(questions[0].cited.as_ref().map(|c| c.0.as_str()), Some("shipping.md#how-long"));
    assert!(questions[0].failed(), "rated down");
    assert_eq!(questions[1].outcome, Outcome::HandedOff, "declined, then a person replied");
    assert_eq!(
        questions[1].agent_reply.as_deref(),
        Some("Yes: 10 % with a valid student card.\nAsk us for the code.")
    );
    assert_eq!(questions[2].outcome, Outcome::Unanswered);
    assert!(!questions[2].failed());
}

#[test]
fn clusters_are_found_without_being_told_how_many() {
    let vectors = vec![
        near(0, 0.1),
        near(2, 0.0),
        near(0, 0.2),
        near(4, 0.1),
        near(2, 0.15),
        near(0, 0.0),
        near(4, 0.3),
    ];
    let groups = cluster(&vectors, &[1; 7], 0.8);
    assert_eq!(groups, vec![vec![0, 2, 5], vec![1, 4], vec![3, 6]]);
    // A looser threshold joins more; a strict one splits every point.
    assert_eq!(cluster(&vectors, &[1; 7], -1.0).len(), 1);
    assert_eq!(cluster(&vectors, &[1; 7], 0.999_99).len(), 7);
    // Weights decide the order of the groups.
    let groups = cluster(&vectors, &[1, 9, 1, 1, 1, 1, 1], 0.8);
    assert_eq!(groups[0], vec![1, 4]);
    assert!(cluster(&[], &[], 0.5).is_empty());
}

#[test]
fn word_vectors_join_paraphrases_in_english_and_chinese() {
    let texts = [
        "Do you offer a student discount?",
        "student discount available?",
        "Where is your shop in Berlin?",
        "学生有折扣吗",
        "学生折扣怎么申请",
        "你们的门店在哪里",
    ];
    let v = lexical_vectors(&texts);
    assert!(v.iter().all(|v| v.len() == LEXICAL_DIMENSIONS && (dot(v, v) - 1.0).abs() < 1e-4));
    assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.3);
    assert!(dot(&v[3], &v[4]) > dot(&v[3], &v[5]) + 0.2);
    assert!(mostly_cjk(texts[3]) && !mostly_cjk(texts[0]) && !mostly_cjk(""));
}

#[test]
fn topics_count_outcomes_trend_and_rank_gaps() {
    let mut current = vec![
        asked("a", "How long does delivery take?", Outcome::Answered),
        asked("b", "how long does delivery take", Outcome::Answered),
        asked("c", "delivery time to Austria?", Outcome::Answered),
        asked("d", "Do you have a student discount?", Outcome::Declined),
        asked("e", "student discount?", Outcome::HandedOff),
        asked("f", "学生有折扣吗", Outcome::Declined),
        asked("f", "学生有折扣吗？", Outcome::Declined),
    ];
    current[0].feedback = Some(FeedbackValue::Up);
    current[4].agent_reply = Some("Students get 10 % off.".into());
    let vectors = vec![
        Some(near(0, 0.0)),
        Some(near(0, 0.0)),
        Some(near(0, 0.3)),
        Some(near(3, 0.0)),
        Some(near(3, 0.2)),
        None,
        None,
    ];
    let before =
        [asked("z", "delivery?", Outcome::Answered), asked("y", "delivery times", Outcome::Answered)];
    let before_vectors = vec![Some(near(0, 0.1)), Some(near(0, 0.05))];
    let found = topics(
        &Period { asked: &current, vectors: &vectors },
        &Period { asked: &before, vectors: &before_vectors },
        Thresholds { model: 0.8, words: 0.4 },
    );
    assert_eq!(found.len(), 3, "{found:#?}");
    let delivery = &found[0];
    assert_eq!((delivery.questions, delivery.conversations, delivery.answered), (3, 3, 3));
    assert_eq!(delivery.label, "How long does delivery take?", "the most central, most asked question");
    assert_eq!((delivery.thumbs_up, delivery.previous), (1, 2));
    assert_eq!(delivery.trend, Some(0.5));
    assert_eq!(delivery.gap_score, 0.0);
    assert_eq!(delivery.examples.len(), 2, "identical questions are one example");
    let discount = found.iter().find(|t| t.label.contains("student discount")).expect("discount topic");
    assert_eq!((discount.declined, discount.handed_off, discount.trend), (1, 1, None));
    assert_eq!(discount.grouped_by, "model");
    let chinese = found.iter().find(|t| t.grouped_by == "words").expect("grouped by words");
    assert_eq!((chinese.questions, chinese.conversations, chinese.declined), (2, 1, 2));

    let ranked = gaps(&found);
    assert_eq!(ranked.len(), 2, "the answered topic is no gap");
    let suggestion = suggest(&current, discount, None);
    assert_eq!(suggestion.answer.as_deref(), Some("Students get 10 % off."));
    assert_eq!(suggestion.evidence.len(), 2);
    let chinese_suggestion = suggest(&current, chinese, None);
    assert_eq!(chinese_suggestion.answer, None, "no agent replied: nothing is invented");
    assert!(chinese_suggestion.question.ends_with('？'), "{}", chinese_suggestion.question);

    // Reviewed once, a topic whose centre is as close is not suggested again.
    let review = Review {
        suggestion_id: "s-other".into(),
        decision: Decision::Dismissed,
        question: suggestion.question.clone(),
        answer: None,
        document_id: None,
        grouped_by: "model".into(),
        centre: near(3, 0.05),
        at_ms: 0,
    };
    let thresholds = Thresholds { model: 0.8, words: 0.4 };
    assert!(reviewed(discount, std::slice::from_ref(&review), thresholds).is_some());
    assert!(reviewed(delivery, std::slice::from_ref(&review), thresholds).is_none());
}

#[test]
fn empty_and_single_periods() {
    let none = topics(
        &Period { asked: &[], vectors: &[] },
        &Period { asked: &[], vectors: &[] },
        Thresholds::default(),
    );
    assert!(none.is_empty());
    let one = [asked("a", "Can I pay with Klarna?", Outcome::Answered)];
    let found = topics(
        &Period { asked: &one, vectors: &[None] },
        &Period { asked: &[], vectors: &[] },
        Thresholds::default(),
    );
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].questions, found[0].trend), (1, None));
}

#[test]
fn the_most_given_reply_is_the_draft() {
    let mut list = vec![
        asked("a", "q", Outcome::HandedOff),
        asked("b", "q", Outcome::HandedOff),
        asked("c", "q", Outcome::HandedOff),
    ];
    list[0].agent_reply = Some("Only in Berlin.".into());
    list[1].agent_reply = Some("We have a shop in Berlin, open 10-19.".into());
    list[2].agent_reply = Some("we have a shop in Berlin, open 10-19".into());
    assert_eq!(drafted_answer(&list, &[0, 1, 2]).as_deref(), Some("We have a shop in Berlin, open 10-19."));
    assert_eq!(drafted_answer(&list, &[0]).as_deref(), Some("Only in Berlin."));
    // A question back to the visitor is no answer.
    list[0].agent_reply = Some("Hello, this is Ana. How can I help?".into());
    assert_eq!(drafted_answer(&list, &[0]), None);
    list[0].agent_reply = Some("Which store do you mean?\nThe Berlin one opens at 10.".into());
    assert_eq!(drafted_answer(&list, &[0]).as_deref(), Some("The Berlin one opens at 10."));
    assert_eq!(phrase_question("do you   ship to norway"), "Do you ship to norway?");
    assert_eq!(phrase_question("Shipping to Norway."), "Shipping to Norway.");
}

#[test]
fn greetings_and_courtesies_are_not_the_question() {
    for (typed, core) in [
        ("hi, How do I return an item?", "How do I return an item?"),
        ("Hello! How long does delivery take thanks", "How long does delivery take"),
        ("How long is the warranty? thanks", "How long is the warranty?"),
        ("quick question: can I pay later? Thank you!", "can I pay later?"),
        ("你好，可以礼品包装吗？谢谢", "可以礼品包装吗？"),
        ("History of the Aura headphones", "History of the Aura headphones"),
        ("Thanks!", "Thanks!"),
        ("please", "please"),
        ("hi", "hi"),
        ("Hey there, pls help with my order please", "help with my order"),
    ] {
        assert_eq!(core_question(typed), core, "{typed}");
    }
}

#[test]
fn stored_vectors_read_back_for_their_model_only() {
    let mut kept = BTreeMap::new();
    let a = near(2, 0.3);
    kept.insert("m-1".to_owned(), Quantised::new(&a));
    kept.insert("m-2".to_owned(), Quantised::new(&near(5, 0.1)));
    let bytes = encode_vectors("all-MiniLM-L6-v2", &kept);
    let back = decode_vectors(&bytes, "all-MiniLM-L6-v2");
    assert_eq!(back, kept);
    assert!(dot(&back["m-1"].vector(), &a) > 0.999);
    assert!(decode_vectors(&bytes, "another-model").is_empty(), "another model's vectors do not compare");
    assert!(decode_vectors(&bytes[..bytes.len() - 3], "all-MiniLM-L6-v2").is_empty(), "a damaged document");
    assert!(decode_vectors(b"", "all-MiniLM-L6-v2").is_empty());
    assert!(decode_vectors(&encode_vectors("m", &BTreeMap::new()), "m").is_empty());
}
