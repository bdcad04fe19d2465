//! The configuration loader: any file text gives a configuration or a clear error, never a
//! panic. The loader's source is the binary's own, compiled in here.
#![no_main]
#![allow(dead_code, missing_docs)]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/server/src/config/mod.rs"]
mod config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = config::Config::from_file_text(text);
    }
});
