//! The personal-data detectors: no text makes them panic, every finding lies on character
//! boundaries without overlapping another, and redacting twice changes nothing more.
#![no_main]

use frontdesk_core::privacy::{detect, redact, PrivacyPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let findings = detect(&text);
    for pair in findings.windows(2) {
        assert!(pair[0].range.end <= pair[1].range.start, "overlap in {text:?}");
    }
    for finding in &findings {
        assert!(text.is_char_boundary(finding.range.start) && text.is_char_boundary(finding.range.end));
    }
    let once = redact(&text, &PrivacyPolicy::redact_all()).text;
    assert_eq!(redact(&once, &PrivacyPolicy::redact_all()).text, once, "redacting twice: {text:?}");
    let _ = redact(&text, &PrivacyPolicy::default());
});
