//! Token verification: no input verifies without the secret, and none panics.
#![no_main]

use frontdesk_core::token::TokenSigner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signer = TokenSigner::new("fuzzing-secret-0123456789");
    let text = String::from_utf8_lossy(data);
    // Nothing the fuzzer writes is signed with the secret.
    assert!(signer.verify(&text).is_none(), "forged: {text:?}");
    let _ = signer.verify_visitor(&text);
    // A token the signer made for the input verifies back to it.
    if !text.contains('.') {
        assert_eq!(signer.verify(&signer.sign(&text)).as_deref(), Some(text.as_ref()));
    }
});
