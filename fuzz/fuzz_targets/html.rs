//! The html document parser, as an upload reaches it: decoded, then parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = frontdesk_retrieval::document_text("fuzz.html", data) {
        let _ = frontdesk_retrieval::parse::parse_document("fuzz.html", &text);
    }
});
