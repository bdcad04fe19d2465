//! PDF text extraction and parsing, as an upload reaches it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: {
    // pdf-extract panics on some malformed files; the server catches that (catch_unwind in
    // document_text) and refuses the upload. libFuzzer's hook would abort on the caught panic
    // too, so the default hook is restored: only a panic that escapes is a finding.
    let _ = std::panic::take_hook();
}, |data: &[u8]| {
    if let Ok(text) = frontdesk_retrieval::document_text("fuzz.pdf", data) {
        let _ = frontdesk_retrieval::parse::parse_document("fuzz.pdf", &text);
    }
});
