//! PDF text extraction and parsing, as an upload reaches it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = frontdesk_retrieval::document_text("fuzz.pdf", data) {
        let _ = frontdesk_retrieval::parse::parse_document("fuzz.pdf", &text);
    }
});
