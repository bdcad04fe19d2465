//! The visitor socket's client frames: any bytes parse or are refused, never panic.
#![no_main]

use frontdesk_core::protocol::ClientFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ClientFrame>(data);
});
