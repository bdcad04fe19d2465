use super::*;

/// The texts `detector` finds in `text`.
fn found(detector: fn(&str) -> Vec<Range<usize>>, text: &str) -> Vec<String> {
    detector(text).into_iter().map(|r| text[r].to_owned()).collect()
}

fn finds(detector: fn(&str) -> Vec<Range<usize>>, cases: &[(&str, &str)]) {
    for (text, expected) in cases {
        assert_eq!(found(detector, text), vec![(*expected).to_owned()], "in {text:?}");
    }
}

fn misses(detector: fn(&str) -> Vec<Range<usize>>, texts: &[&str]) {
    for text in texts {
        assert!(found(detector, text).is_empty(), "{:?} wrongly found in {text:?}", found(detector, text));
    }
}

#[test]
fn cards_need_the_luhn_check_and_are_not_order_numbers() {
    finds(
        detect::cards,
        &[
            ("my card is 4111 1111 1111 1111, expiry 12/27", "4111 1111 1111 1111"),
            ("card: 5500-0000-0000-0004", "5500-0000-0000-0004"),
            ("amex 378282246310005 please", "378282246310005"),
            ("我的卡号是4242424242424242", "4242424242424242"),
            ("I have 2 4111 1111 1111 1111", "4111 1111 1111 1111"),
        ],
    );
    misses(
        detect::cards,
        &[
            "card 4111 1111 1111 1112",
            "order 4111111111111111 has not arrived",
            "tracking number 1Z999AA10123456784",
            "ISBN 978-3-16-148410-0",
            "it costs 1,299.00 euros",
            "call +4411111111111111",
            "version 4.111.111.111.111",
            "product code 5901234123457 on the box",
        ],
    );
}

#[test]
fn ibans_need_the_mod_97_check() {
    finds(
        detect::ibans,
        &[
            ("IBAN DE89 3704 0044 0532 0130 00 thanks", "DE89 3704 0044 0532 0130 00"),
            ("refund to GB82WEST12345698765432.", "GB82WEST12345698765432"),
            ("pay to fr1420041010050500013m02606", "fr1420041010050500013m02606"),
        ],
    );
    misses(detect::ibans, &["IBAN DE89 3704 0044 0532 0130 01", "model XB12 3456 7890 1234 5678", "AB12"]);
}

#[test]
fn chinese_id_numbers_need_their_check_character_and_a_birth_date() {
    finds(
        detect::cn_ids,
        &[
            ("身份证号11010519491231002X，谢谢", "11010519491231002X"),
            ("ID 110105 19491231 002X", "110105 19491231 002X"),
        ],
    );
    misses(detect::cn_ids, &["身份证号110105194912310021", "订单 110105194913310025", "1101051949123100211"]);
}

#[test]
fn ssns_need_their_shape_and_valid_parts() {
    finds(
        detect::ssns,
        &[
            ("my SSN is 123-45-6789.", "123-45-6789"),
            ("ssn 123456789", "123456789"),
            ("ss 078 05 1120", "078 05 1120"),
        ],
    );
    misses(
        detect::ssns,
        &["000-12-3456", "666-12-3456", "123-00-4567", "call 123456789", "2024-05-01", "123-45-67890"],
    );
}

#[test]
fn phones_in_their_many_forms_but_not_dates_prices_or_orders() {
    finds(
        detect::phones,
        &[
            ("call me at +44 20 7946 0958 today", "+44 20 7946 0958"),
            ("+1 (415) 555-0132", "+1 (415) 555-0132"),
            ("my number is (555) 123-4567", "(555) 123-4567"),
            ("reach me on 555.123.4567", "555.123.4567"),
            ("Tel 020 7946 0958", "020 7946 0958"),
            ("我的手机是13812345678", "13812345678"),
            ("手机 138 1234 5678", "138 1234 5678"),
            ("phone 0612345678", "0612345678"),
            ("I paid, call 020 7946 0958", "020 7946 0958"),
            ("+8613812345678", "+8613812345678"),
        ],
    );
    misses(
        detect::phones,
        &[
            "delivered on 2024-05-01",
            "it costs 1,299.00",
            "order 123-456-7890 is late",
            "order #5551234567 is late",
            "ISBN 978-3-16-148410-0",
            "version 10.2.3",
            "I paid 1234567890 times",
            "tracking 9400 1000 0000 0000 0000 00",
            "room 12 34",
            "the meeting ID is 845 2231 9980",
            "reference RF18 5390 0754 7034 for the payment",
        ],
    );
}

#[test]
fn ip_addresses_but_not_version_numbers() {
    finds(
        detect::ips,
        &[
            ("my IP is 192.168.1.20.", "192.168.1.20"),
            ("from 2001:db8::8a2e:370:7334 today", "2001:db8::8a2e:370:7334"),
        ],
    );
    misses(
        detect::ips,
        &["::1", "::", "version 1.2.3.4", "v1.2.3.4", "256.1.1.1", "at 10:30:00", "1.2.3", "ratio 3:2:1"],
    );
}

#[test]
fn emails() {
    finds(
        detect::emails,
        &[
            ("write to jane.doe+shop@example.co.uk.", "jane.doe+shop@example.co.uk"),
            ("邮箱：li.wei@qq.com，谢谢", "li.wei@qq.com"),
        ],
    );
    misses(detect::emails, &["@home", "meet me @ 5", "user@localhost", "a@b.c1"]);
}

#[test]
fn secrets_after_their_word_or_shaped_like_keys() {
    finds(
        detect::secrets,
        &[
            ("password: hunter2", "hunter2"),
            ("my password is Tr0ub4dor&3", "Tr0ub4dor&3"),
            ("密码是abc12345", "abc12345"),
            ("key sk-live4f9a8b7c6d5e4f3a2b1c", "sk-live4f9a8b7c6d5e4f3a2b1c"),
            ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
            ("PIN=4821", "4821"),
            ("pw is 'Tr1cky#Pass' I think", "Tr1cky#Pass"),
        ],
    );
    misses(
        detect::secrets,
        &[
            "my password is not working",
            "I forgot my password",
            "reset password please",
            "the password is wrong",
            "passwords are case sensitive",
            "order ABCDEF1234567890",
        ],
    );
}

#[test]
fn names_after_their_words_only() {
    finds(
        detect::names,
        &[
            ("Hi, my name is Anna Lee and I ordered", "Anna Lee"),
            ("my name's O'Brien.", "O'Brien"),
            ("我叫王小明，想退货", "王小明"),
            ("姓名：李娜", "李娜"),
            ("Name: Maria Garcia, Madrid", "Maria Garcia"),
            ("姓名：欧阳娜娜", "欧阳娜娜"),
        ],
    );
    misses(
        detect::names,
        &["my name is on the order", "This is Python Basics", "this is great", "我叫了快递", "Anna asked"],
    );
}

#[test]
fn street_addresses() {
    finds(
        detect::addresses,
        &[
            ("ship to 221B Baker Street, London please", "221B Baker Street, London"),
            (
                "I live at 1600 Pennsylvania Ave, Washington, DC 20500.",
                "1600 Pennsylvania Ave, Washington, DC 20500",
            ),
            ("地址：北京市朝阳区建国路88号3栋1202室，谢谢", "北京市朝阳区建国路88号3栋1202室"),
            ("Flat 3, 25 Queen's Road, Bristol", "Flat 3, 25 Queen's Road, Bristol"),
        ],
    );
    misses(
        detect::addresses,
        &["I bought 3 Blue Shirts", "chapter 12 Main Ideas", "2 Python Courses", "第88号"],
    );
}

#[test]
fn a_message_full_of_data_is_redacted_and_overlaps_go_to_the_stronger_kind() {
    let text = "I'm Jo, my name is Jo Park, mail jo.park@example.com or +1 415 555 0132; \
                card 4111 1111 1111 1111, password: s3cret!, jo.park@example.com again";
    let redacted = redact(text, &PrivacyPolicy::redact_all());
    assert_eq!(
        redacted.text,
        "I'm Jo, my name is [name 1], mail [email 1] or [phone 1]; card [card 1], password: [secret 1], [email 1] again"
    );
    assert!(redacted.replaced.contains(&PersonalDetail {
        kind: PiiKind::Card,
        shown: "[card 1]".into(),
        original: "4111 1111 1111 1111".into()
    }));

    let masked = redact(text, &PrivacyPolicy::default());
    assert!(masked.text.contains("j***@example.com") && masked.text.contains("****0132"), "{}", masked.text);
    assert!(masked.text.contains("[card 1]") && !masked.text.contains("s3cret"), "{}", masked.text);

    let kept = redact(text, &PrivacyPolicy::default().with(PiiKind::Email, Treatment::Keep));
    assert!(kept.text.contains("jo.park@example.com"));
    assert_eq!(redact("nothing here", &PrivacyPolicy::default()).text, "nothing here");
}

#[test]
fn placeholders_are_filled_for_the_visitor_except_what_is_never_repeated() {
    let typed = "card 4111 1111 1111 1111, mail jo.park@example.com";
    let redacted = redact(typed, &PrivacyPolicy::redact_all());
    let fill = redacted.fill_for_visitor(&PrivacyPolicy::default());
    assert_eq!(
        fill.apply("We will write to [email 1] about [card 1]."),
        "We will write to jo.park@example.com about [card 1]."
    );
    assert_eq!(fill.pending("We will write to [ema"), Some(17));
    assert_eq!(fill.pending("We will write to [email 1]"), None);
    assert_eq!(fill.pending("see [the FAQ"), None, "not a placeholder");
    let nothing = redacted.fill_for_visitor(&PrivacyPolicy::redact_all());
    assert!(nothing.is_empty(), "a policy that redacts e-mail in the store fills nothing back");
}

#[test]
fn no_text_makes_a_detector_panic_or_find_a_range_off_a_character_boundary() {
    // Fragments that steer every detector into its edge cases, joined at random.
    const PIECES: [&str; 24] = [
        "+",
        "(",
        ")",
        "-",
        ".",
        " ",
        "@",
        "#",
        ":",
        "=",
        "'",
        "0",
        "4111",
        "1",
        "DE89",
        "X",
        "号",
        "路",
        "我叫",
        "ß",
        "İ",
        "password is ",
        "my name is ",
        "😀",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = next() % 12;
        let text: String = (0..len).map(|_| PIECES[(next() % PIECES.len() as u64) as usize]).collect();
        for finding in detect(&text) {
            assert!(
                text.is_char_boundary(finding.range.start) && text.is_char_boundary(finding.range.end),
                "{text:?}"
            );
        }
        let once = redact(&text, &PrivacyPolicy::redact_all()).text;
        assert_eq!(redact(&once, &PrivacyPolicy::redact_all()).text, once, "redacting twice: {text:?}");
        let _ = redact(&text, &PrivacyPolicy::default());
    }
}
