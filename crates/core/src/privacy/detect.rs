//! The detectors: one small function per kind of personal data, each returning the byte
//! ranges it finds. They scan bytes (every pattern here is ASCII, except the Chinese triggers
//! and addresses, which are matched as whole UTF-8 strings), so a message is read a handful of
//! times and never backtracked over: no regular expressions.
//!
//! Checksums decide where one exists (Luhn for cards, mod-97 for IBANs, ISO 7064 for Chinese
//! resident ID numbers); elsewhere the shape and the words before it do, and a number a
//! visitor calls an order, invoice, tracking or ISBN number is never a phone or a card.

use std::ops::Range;

/// Whether the byte continues a word (a number or a name glued to what precedes it).
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The `n` bytes before `at`, lowercased, as text (lossy at a cut character).
fn before(text: &str, at: usize, n: usize) -> String {
    let mut start = at.saturating_sub(n);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    text[start..at].to_lowercase()
}

/// Words that make the number after them a reference, not personal data.
const REFERENCE_WORDS: [&str; 21] = [
    "order",
    "invoice",
    "tracking",
    "isbn",
    "ticket",
    "reference",
    "ref",
    "sku",
    "model",
    "serial",
    "case",
    "booking",
    "id",
    "code",
    "waybill",
    "meeting",
    "barcode",
    "订单",
    "单号",
    "快递",
    "发票",
];

/// Whether the 24 bytes before `at` name the number a reference (order 1234..., the meeting ID
/// is 845..., #1234...), or the number continues a code that mixes letters and digits.
fn is_reference(text: &str, at: usize) -> bool {
    let lead = before(text, at, 24);
    let mut lead = lead.trim_end_matches([' ', ':', '#', '：', '-', '.', '=']);
    // "order number is", "ID is", "invoice no."
    for filler in [" is", " number", " no", " nr", " id"] {
        lead = lead.strip_suffix(filler).unwrap_or(lead).trim_end_matches([' ', '.']);
    }
    let named = REFERENCE_WORDS.iter().any(|w| {
        lead.strip_suffix(w).is_some_and(|head| {
            // A whole word: "id", not the end of "paid".
            !w.is_ascii() || head.chars().next_back().is_none_or(|c| !c.is_alphanumeric())
        })
    });
    named || text[..at].trim_end().ends_with('#') || continues_code(text.as_bytes(), at)
}

/// A run of digits with single separators from `seps` between them, starting at `start`:
/// its end, and the byte offsets where each group of digits starts and ends.
fn digit_groups(bytes: &[u8], start: usize, seps: &[u8]) -> (usize, Vec<Range<usize>>) {
    let mut groups = Vec::new();
    let mut at = start;
    loop {
        let from = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        if at == from {
            break;
        }
        groups.push(from..at);
        if at + 1 < bytes.len() && seps.contains(&bytes[at]) && bytes[at + 1].is_ascii_digit() {
            at += 1;
        } else {
            break;
        }
    }
    let end = groups.last().map_or(start, |g| g.end);
    (end, groups)
}

/// Starts of digit runs: a digit with no digit, letter or joining mark before it.
fn run_starts(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    (0..bytes.len()).filter(move |&i| {
        bytes[i].is_ascii_digit()
            && (i == 0
                || !(is_word(bytes[i - 1])
                    || (matches!(bytes[i - 1], b'.' | b',' | b'/')
                        && i >= 2
                        && bytes[i - 2].is_ascii_digit())))
    })
}

/// Whether the run ending at `end` stands alone (no letter, digit or decimal part after it).
fn ends_clean(bytes: &[u8], end: usize) -> bool {
    match bytes.get(end) {
        None => true,
        Some(b) if is_word(*b) => false,
        Some(b'.' | b',' | b'/' | b'-') => !bytes.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

fn digits_of(bytes: &[u8], groups: &[Range<usize>]) -> Vec<u8> {
    groups.iter().flat_map(|g| bytes[g.clone()].iter().map(|b| b - b'0')).collect()
}

/// Whether the digits at `start` continue a code written in groups: the token before them (one
/// space back) mixes letters and digits (`IT79 W312 9271 ...`, an IBAN or a licence key).
fn continues_code(bytes: &[u8], start: usize) -> bool {
    if start < 2 || bytes[start - 1] != b' ' {
        return false;
    }
    let token_start =
        bytes[..start - 1].iter().rposition(|b| !b.is_ascii_alphanumeric()).map_or(0, |i| i + 1);
    let token = &bytes[token_start..start - 1];
    token.iter().any(u8::is_ascii_digit) && token.iter().any(u8::is_ascii_alphabetic)
}

/// Whether `digits` pass the Luhn check.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Payment card numbers: 13 to 19 digits, alone or in groups split by single spaces or dashes,
/// that pass the Luhn check. Within a longer run, the longest span of whole groups that passes.
pub fn cards(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut next = 0;
    for start in run_starts(bytes) {
        if start < next {
            continue;
        }
        let (end, groups) = digit_groups(bytes, start, b" -");
        next = end;
        let lead = before(text, start, 24);
        let identity = lead.contains("身份证") || lead.contains("id card") || lead.contains("id number");
        if (start > 0 && bytes[start - 1] == b'+')
            || is_reference(text, start)
            || identity
            || continues_code(bytes, start)
        {
            continue;
        }
        let mut best: Option<Range<usize>> = None;
        for first in 0..groups.len() {
            for last in (first..groups.len()).rev() {
                let span = &groups[first..=last];
                let digits = digits_of(bytes, span);
                let range = span[0].start..span[span.len() - 1].end;
                let alone = (first > 0 || ends_clean(bytes, range.end) || last + 1 < groups.len())
                    && (last + 1 < groups.len() || ends_clean(bytes, range.end));
                if (13..=19).contains(&digits.len()) && alone && luhn(&digits) {
                    if best.as_ref().is_none_or(|b| range.len() > b.len()) {
                        best = Some(range);
                    }
                    break;
                }
            }
        }
        found.extend(best);
    }
    found
}

/// IBANs: a country code, two check digits and 11 to 30 letters or digits, whole or in groups
/// of four split by single spaces, whose mod-97 check gives 1.
pub fn ibans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let starts = bytes[i].is_ascii_alphabetic()
            && bytes[i + 1].is_ascii_alphabetic()
            && bytes[i + 2].is_ascii_digit()
            && bytes[i + 3].is_ascii_digit()
            && (i == 0 || !is_word(bytes[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        // Every end at a group's end, longest first.
        let mut ends = Vec::new();
        let mut at = i;
        let mut count = 0;
        while at < bytes.len() && count < 34 {
            if bytes[at].is_ascii_alphanumeric() {
                count += 1;
                at += 1;
                if at == bytes.len() || !bytes[at].is_ascii_alphanumeric() {
                    ends.push((at, count));
                }
            } else if bytes[at] == b' ' && at + 1 < bytes.len() && bytes[at + 1].is_ascii_alphanumeric() {
                at += 1;
            } else {
                break;
            }
        }
        let hit = ends.iter().rev().find(|&&(end, count)| {
            (15..=34).contains(&count) && ends_clean(bytes, end) && iban_valid(&text[i..end])
        });
        match hit {
            Some(&(end, _)) => {
                found.push(i..end);
                i = end;
            }
            None => i += 1,
        }
    }
    found
}

/// IBAN lengths by country (the SWIFT registry's, for the countries that use IBANs most).
const IBAN_LENGTHS: [(&str, usize); 56] = [
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("TR", 26),
];

fn iban_valid(candidate: &str) -> bool {
    let compact: Vec<u8> = candidate.bytes().filter(|b| *b != b' ').map(|b| b.to_ascii_uppercase()).collect();
    let country = std::str::from_utf8(&compact[..2.min(compact.len())]).unwrap_or("");
    if !IBAN_LENGTHS.iter().any(|&(c, len)| c == country && len == compact.len()) {
        return false;
    }
    let rearranged = compact[4..].iter().chain(&compact[..4]);
    let mut remainder: u32 = 0;
    for &b in rearranged {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 };
    }
    remainder == 1
}

/// Chinese resident ID numbers: 17 digits and a check character (a digit or X) by ISO 7064
/// mod 11-2, with a plausible birth date; whole, or as 6-8-4 split by spaces.
pub fn cn_ids(text: &str) -> Vec<Range<usize>> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for start in run_starts(bytes) {
        if found.last().is_some_and(|r: &Range<usize>| start < r.end) {
            continue;
        }
        let mut chars = Vec::with_capacity(18);
        let mut at = start;
        while at < bytes.len() && chars.len() < 18 {
            let b = bytes[at];
            if b.is_ascii_digit() || (chars.len() == 17 && matches!(b, b'X' | b'x')) {
                chars.push(b.to_ascii_uppercase());
                at += 1;
            } else if b == b' '
                && matches!(chars.len(), 6 | 14)
                && bytes.get(at + 1).is_some_and(u8::is_ascii_digit)
            {
                at += 1;
            } else {
                break;
            }
        }
        if chars.len() != 18 || !ends_clean(bytes, at) {
            continue;
        }
        let number = |r: Range<usize>| chars[r].iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
        let (year, month, day) = (number(6..10), number(10..12), number(12..14));
        if !(1900..=2099).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            continue;
        }
        let sum: u32 = chars[..17].iter().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
        if CHECK[(sum % 11) as usize] == chars[17] {
            found.push(start..at);
        }
    }
    found
}

/// US social security numbers: `AAA-GG-SSSS` (or spaced), with a valid area, group and serial;
/// nine digits in a row only right after "SSN" or "social security".
pub fn ssns(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for start in run_starts(bytes) {
        let (end, groups) = digit_groups(bytes, start, b"- ");
        let lens: Vec<usize> = groups.iter().map(ExactSizeIterator::len).collect();
        let keyed = {
            let lead = before(text, start, 24);
            lead.contains("ssn") || lead.contains("social security")
        };
        let shaped =
            (lens == [3, 2, 4] && bytes[groups[0].end] == bytes[groups[1].end]) || (lens == [9] && keyed);
        if !shaped || !ends_clean(bytes, end) {
            continue;
        }
        let d = digits_of(bytes, &groups);
        let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
        let group = d[3] * 10 + d[4];
        let serial = d[5..].iter().all(|&x| x == 0);
        if area != 0 && area != 666 && area < 900 && group != 0 && !serial {
            found.push(start..end);
        }
    }
    found
}

/// Words that make the number after them a phone number.
const PHONE_WORDS: [&str; 14] = [
    "phone",
    "call",
    "tel",
    "mobile",
    "cell",
    "whatsapp",
    "number is",
    "reach me",
    "text me",
    "电话",
    "手机",
    "号码",
    "联系",
    "fax",
];

/// Phone numbers: international (`+` and 8 to 15 digits, spaced, dashed, dotted or bracketed),
/// Chinese mobiles (11 digits from 13-19, whole or 3-4-4), and national numbers of 9 to 12
/// digits written in groups (`(555) 123-4567`, `020 7946 0958`) or, after a word like "phone",
/// in one run.
pub fn phones(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut found: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let international = b == b'+' && bytes.get(i + 1).is_some_and(|c| c.is_ascii_digit() || *c == b'(');
        let bracketed = b == b'(' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        let digit = b.is_ascii_digit();
        if !(international || bracketed || digit)
            || (i > 0
                && (is_word(bytes[i - 1])
                    || (digit && matches!(bytes[i - 1], b'.' | b',' | b'+' | b'(' | b'-'))))
        {
            i += 1;
            continue;
        }
        if is_reference(text, i) {
            // Skip the whole reference.
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
                i += 1;
            }
            continue;
        }
        // Digits and single separators, brackets around a group.
        let mut at = if international { i + 1 } else { i };
        let mut digits = 0;
        let mut groups = 0;
        let mut separated = false;
        let mut last_digit_end = at;
        while at < bytes.len() {
            let c = bytes[at];
            if c.is_ascii_digit() {
                let from = at;
                while at < bytes.len() && bytes[at].is_ascii_digit() {
                    at += 1;
                }
                digits += at - from;
                groups += 1;
                last_digit_end = at;
            } else if c == b'(' && bytes.get(at + 1).is_some_and(u8::is_ascii_digit) {
                at += 1;
                separated = true;
            } else if c == b')' && at > i && bytes[at - 1].is_ascii_digit() {
                at += 1;
                separated = true;
                if bytes.get(at) == Some(&b' ') {
                    at += 1;
                }
            } else if matches!(c, b' ' | b'-' | b'.')
                && bytes.get(at + 1).is_some_and(|n| n.is_ascii_digit() || *n == b'(')
            {
                at += 1;
                separated = true;
            } else {
                break;
            }
        }
        let end = last_digit_end;
        let clean = ends_clean(bytes, end);
        let keyed = {
            let lead = before(text, i, 20);
            PHONE_WORDS.iter().any(|w| lead.contains(w))
        };
        let span = &text[i..end];
        let compact: String = span.bytes().filter(u8::is_ascii_digit).map(char::from).collect();
        let cn_mobile = compact.len() == 11
            && compact.starts_with('1')
            && (b'3'..=b'9').contains(&compact.as_bytes()[1])
            && !international;
        let looks_like_date = groups == 3 && (compact.len() == 8) && span.contains(['-', '.', '/']);
        let is_phone = clean
            && !looks_like_date
            && if international {
                (8..=15).contains(&digits)
            } else if cn_mobile {
                groups == 1 || groups == 3
            } else {
                (9..=12).contains(&digits) && ((separated && (2..=5).contains(&groups)) || keyed)
            };
        if is_phone {
            found.push(i..end);
            i = end;
        } else {
            i = end.max(i + 1);
        }
    }
    found
}

/// IPv4 (four dotted numbers up to 255, not a version number) and IPv6 addresses.
pub fn ips(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_v4 =
            bytes[i].is_ascii_digit() && (i == 0 || !(is_word(bytes[i - 1]) || bytes[i - 1] == b'.'));
        if starts_v4 {
            let (end, groups) = digit_groups(bytes, i, b".");
            let lead = before(text, i, 12);
            let version = lead.ends_with('v') || lead.contains("version") || lead.contains("版本");
            let octets = groups.len() == 4
                && groups
                    .iter()
                    .all(|g| g.len() <= 3 && text[g.clone()].parse::<u16>().is_ok_and(|n| n <= 255));
            if octets && !version && ends_clean(bytes, end) {
                found.push(i..end);
                i = end;
                continue;
            }
        }
        let starts_v6 = (bytes[i].is_ascii_hexdigit() || bytes[i] == b':')
            && (i == 0 || !(is_word(bytes[i - 1]) || bytes[i - 1] == b':'));
        if starts_v6 {
            let mut end = i;
            while end < bytes.len() && (bytes[end].is_ascii_hexdigit() || matches!(bytes[end], b':' | b'.')) {
                end += 1;
            }
            let candidate = text[i..end].trim_end_matches('.');
            let colons = candidate.bytes().filter(|b| *b == b':').count();
            // Two groups at least: "::" and "::1" name no machine of anyone's.
            let groups = candidate.split(':').filter(|g| !g.is_empty()).count();
            if colons >= 2
                && groups >= 2
                && (end == bytes.len() || !is_word(bytes[end]))
                && candidate.parse::<std::net::Ipv6Addr>().is_ok()
            {
                found.push(i..i + candidate.len());
                i += candidate.len();
                continue;
            }
        }
        i += 1;
    }
    found
}

/// E-mail addresses: a local part, `@`, and a domain of dotted labels ending in letters.
pub fn emails(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for (at, _) in text.match_indices('@') {
        let mut start = at;
        while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || b"._%+-".contains(&bytes[start - 1]))
        {
            start -= 1;
        }
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'.' | b'-')) {
            end += 1;
        }
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &text[at + 1..end];
        let tld = domain.rsplit('.').next().unwrap_or("");
        if start < at
            && found.last().is_none_or(|r: &Range<usize>| r.end <= start)
            && domain.contains('.')
            && !domain.contains("..")
            && tld.len() >= 2
            && tld.bytes().all(|b| b.is_ascii_alphabetic())
        {
            found.push(start..end);
        }
    }
    found
}

/// Words after which the next token is a secret.
const SECRET_WORDS: [&str; 13] = [
    "password", "passwd", "passcode", "pwd", "pw", "pin", "api key", "api_key", "apikey", "token", "secret",
    "密码", "口令",
];

/// Prefixes of well-known API keys.
const KEY_PREFIXES: [&str; 11] = [
    "sk-",
    "sk_live_",
    "sk_test_",
    "pk_live_",
    "rk_live_",
    "ghp_",
    "gho_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "AIza",
];

/// Words that, after "password is", say something about the password, not what it is.
const NOT_SECRETS: [&str; 16] = [
    "not",
    "wrong",
    "incorrect",
    "invalid",
    "expired",
    "correct",
    "right",
    "reset",
    "lost",
    "forgotten",
    "too",
    "still",
    "the",
    "my",
    "being",
    "working",
];

/// Secrets: the token after "password", "API key", "密码" ... (with `:`, `=` or "is"), and
/// tokens shaped like API keys (known prefixes, AWS key ids, or 32+ characters mixing upper and
/// lower case letters and digits).
pub fn secrets(text: &str) -> Vec<Range<usize>> {
    let lower = text.to_lowercase();
    let mut found: Vec<Range<usize>> = Vec::new();
    if lower.len() == text.len() {
        for word in SECRET_WORDS {
            for (at, _) in lower.match_indices(word) {
                let ascii_word = word.is_ascii();
                if ascii_word && at > 0 && is_word(lower.as_bytes()[at - 1]) {
                    continue;
                }
                let mut rest = at + word.len();
                let after = &text[rest..];
                if ascii_word && after.bytes().next().is_some_and(is_word) && !after.starts_with("s ") {
                    continue;
                }
                let trimmed = after.trim_start_matches(|c: char| c == 's' && after.starts_with("s "));
                rest += after.len() - trimmed.len();
                let after = &text[rest..];
                let skipped = after.trim_start_matches([' ', '\t']);
                let (lead, skipped) = match skipped.strip_prefix([':', '=', '：']) {
                    Some(s) => (true, s.trim_start_matches([' ', '\t'])),
                    None => match skipped.strip_prefix("is ").or_else(|| skipped.strip_prefix("是")) {
                        Some(s) => (false, s.trim_start_matches([' ', '\t'])),
                        None => continue,
                    },
                };
                // A quoted secret: 'Tr1cky#Pass'.
                let skipped = skipped.trim_start_matches(['\'', '"', '\u{2018}', '\u{201c}']);
                let start = text.len() - skipped.len();
                let token_len = skipped
                    .find(|c: char| c.is_whitespace() || "，。,;；）)\"'".contains(c))
                    .unwrap_or(skipped.len());
                let token = skipped[..token_len].trim_end_matches(['.', ':']);
                let secret_like = token.chars().any(|c| c.is_ascii_digit() || c.is_ascii_punctuation())
                    || (token.chars().any(char::is_uppercase) && token.chars().any(char::is_lowercase));
                // A placeholder written before ("password: [secret 1]") is no secret.
                let plausible = !token.contains('[')
                    && token.chars().count() >= 4
                    && !NOT_SECRETS.contains(&token.to_lowercase().as_str())
                    && (lead || secret_like);
                if plausible {
                    found.push(start..start + token.len());
                }
            }
        }
    }
    // Key-shaped tokens anywhere.
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if i > 0 && (is_word(bytes[i - 1]) || bytes[i - 1] == b'-') || !bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < bytes.len() && (is_word(bytes[end]) || bytes[end] == b'-') {
            end += 1;
        }
        let token = &text[i..end];
        let prefixed = KEY_PREFIXES.iter().any(|p| token.starts_with(p) && token.len() >= p.len() + 16);
        let aws = token.len() == 20
            && token.starts_with("AKIA")
            && token.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        let mixed = token.len() >= 32
            && token.bytes().any(|b| b.is_ascii_uppercase())
            && token.bytes().any(|b| b.is_ascii_lowercase())
            && token.bytes().any(|b| b.is_ascii_digit());
        if prefixed || aws || mixed {
            found.push(i..end);
        }
        i = end.max(i + 1);
    }
    found
}

/// Whether `c` is a Han character.
fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// Characters that end a Chinese name (particles, verbs and pronouns that follow one).
const NAME_STOPS: &str = "，。！？、；：的是在想要和了呢吗啊我你他她需请就住电手邮从";

/// Personal names after "my name is", "name:", "I am called", "call me" (one to three
/// capitalised words) or 我叫, 我的名字是, 姓名 (two or three Han characters).
pub fn names(text: &str) -> Vec<Range<usize>> {
    let lower = text.to_lowercase();
    let mut found = Vec::new();
    if lower.len() == text.len() {
        for trigger in [
            "my name is ",
            "my name's ",
            "name: ",
            "i am called ",
            "call me ",
            "account holder ",
            "account holder: ",
            "cardholder ",
            "card holder ",
            "contact: ",
            "recipient: ",
            "regards, ",
            "signed, ",
        ] {
            for (at, _) in lower.match_indices(trigger) {
                if at > 0 && is_word(lower.as_bytes()[at - 1]) {
                    continue;
                }
                let start = at + trigger.len();
                let mut end = start;
                let mut words = 0;
                for word in text[start..].split(' ') {
                    let clean = word.trim_end_matches([',', '.', '!', '?', ';', ':']);
                    let mut chars = clean.chars();
                    let capitalised = chars.next().is_some_and(char::is_uppercase)
                        && clean.chars().skip(1).all(|c| c.is_alphabetic() || c == '-' || c == '\'')
                        && clean.chars().skip(1).any(char::is_lowercase)
                        && clean.chars().count() >= 2;
                    if !capitalised || words == 3 {
                        break;
                    }
                    words += 1;
                    end = start + (word.as_ptr() as usize - text[start..].as_ptr() as usize) + clean.len();
                    if clean.len() != word.len() {
                        break;
                    }
                }
                if words >= 1 {
                    found.push(start..end);
                }
            }
        }
    }
    for trigger in ["我叫", "我的名字是", "姓名：", "姓名:", "姓名是", "名字叫"] {
        for (at, _) in text.match_indices(trigger) {
            let start = at + trigger.len();
            let rest = text[start..].trim_start();
            let start = text.len() - rest.len();
            // Two or three characters; four when that is the whole run (欧阳娜娜, a compound
            // surname), since a longer run goes on into the sentence.
            let run: Vec<char> =
                rest.chars().take_while(|&c| is_han(c) && !NAME_STOPS.contains(c)).take(5).collect();
            let take = if run.len() == 4 { 4 } else { run.len().min(3) };
            let len: usize = run[..take].iter().copied().map(char::len_utf8).sum();
            if rest[..len].chars().count() >= 2 {
                found.push(start..start + len);
            }
        }
    }
    found
}

/// Where an address at `start` begins when a flat, apartment, unit or suite precedes it
/// (`Flat 3, 25 Queen's Road`).
fn unit_before(text: &str, start: usize) -> usize {
    let head = &text[..start];
    let Some(head) = head.strip_suffix(", ").or_else(|| head.strip_suffix(' ')) else { return start };
    let number = head.rsplit(' ').next().unwrap_or("");
    if number.is_empty()
        || !number.chars().all(|c| c.is_ascii_alphanumeric())
        || !number.chars().any(|c| c.is_ascii_digit())
    {
        return start;
    }
    let before_number = head[..head.len() - number.len()].trim_end();
    ["Flat", "Apt", "Apt.", "Apartment", "Unit", "Suite"]
        .iter()
        .find(|unit| before_number.ends_with(*unit))
        .map_or(start, |unit| before_number.len() - unit.len())
}

/// Street types that end an English street name.
const STREET_TYPES: [&str; 24] = [
    "street",
    "st",
    "road",
    "rd",
    "avenue",
    "ave",
    "lane",
    "ln",
    "boulevard",
    "blvd",
    "drive",
    "dr",
    "court",
    "ct",
    "place",
    "pl",
    "way",
    "terrace",
    "close",
    "square",
    "crescent",
    "highway",
    "parkway",
    "straße",
];

/// Street addresses: a house number, one to four capitalised words and a street type (`221B
/// Baker Street`, `1600 Pennsylvania Ave`), with an apartment, city and postcode after commas;
/// Chinese addresses ending in a number with 号 after 路, 街, 道, 巷 or 弄 (`朝阳区建国路88号`).
pub fn addresses(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for start in run_starts(bytes) {
        let mut at = start;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        if at - start > 5 {
            continue;
        }
        if at < bytes.len() && bytes[at].is_ascii_alphabetic() && bytes.get(at + 1) == Some(&b' ') {
            at += 1; // 221B
        }
        let mut words = 0;
        let mut end = None;
        let mut rest = &text[at..];
        while let Some(after) = rest.strip_prefix(' ') {
            let word_len = after.find([' ', ',', '.', '\n', '?', '!', ';', ':', ')']).unwrap_or(after.len());
            let word = &after[..word_len];
            if word.is_empty() || !word.chars().next().is_some_and(char::is_uppercase) {
                break;
            }
            words += 1;
            let consumed = text.len() - after.len() + word_len;
            if words >= 2 && STREET_TYPES.contains(&word.to_lowercase().as_str()) {
                end = Some(consumed);
            }
            if words == 5 {
                break;
            }
            rest = &text[consumed..];
        }
        let Some(mut end) = end else { continue };
        // ", Apt 4B", ", Springfield", ", IL 62704": capitalised or numbered words after commas.
        while let Some(part) = text[end..].strip_prefix(", ") {
            let mut taken = 0;
            for (n, word) in part.split(' ').enumerate() {
                let clean = word.trim_end_matches([',', '.', ';', '!', '?', '\n']);
                let fits =
                    n < 4 && clean.chars().next().is_some_and(|c| c.is_uppercase() || c.is_ascii_digit());
                if !fits {
                    break;
                }
                taken = (word.as_ptr() as usize - part.as_ptr() as usize) + clean.len();
                if clean.len() != word.len() {
                    break;
                }
            }
            if taken == 0 {
                break;
            }
            end += 2 + taken;
        }
        found.push(unit_before(text, start)..end);
    }
    // Chinese: ...路88号(3栋1202室)
    for (hao, _) in text.match_indices('号') {
        let head = &text[..hao];
        let digits: usize = head.chars().rev().take_while(char::is_ascii_digit).map(char::len_utf8).sum();
        if digits == 0 {
            continue;
        }
        let street_end = hao - digits;
        let before_digits = &text[..street_end];
        if !before_digits.ends_with(['路', '街', '道', '巷', '弄']) {
            continue;
        }
        let start_len: usize = before_digits
            .chars()
            .rev()
            .take_while(|&c| is_han(c) && !"住在是到址寄送：:，,。".contains(c))
            .take(24)
            .map(char::len_utf8)
            .sum();
        let start = street_end - start_len;
        let mut end = hao + '号'.len_utf8();
        // Building, floor and room: 3栋1202室, 5楼, 2单元.
        loop {
            let rest = &text[end..];
            let n: usize = rest.chars().take_while(char::is_ascii_digit).map(char::len_utf8).sum();
            let unit = rest[n..].chars().next().filter(|c| "栋楼层室单元号座".contains(*c));
            match unit {
                Some(c) if n > 0 => end += n + c.len_utf8(),
                _ => break,
            }
        }
        if start_len >= 2 {
            found.push(start..end);
        }
    }
    found
}
