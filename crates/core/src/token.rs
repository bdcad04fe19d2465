//! Signed conversation tokens.
//!
//! A token is `<conversation id>.<hex HMAC-SHA256 of the id>` under a server secret, so a
//! visitor can resume their own conversation while knowing or guessing an id gives nothing.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a visitor token signs before the id; no conversation id starts with it.
const VISITOR_DOMAIN: &str = "visitor:";

/// Signs and checks conversation tokens with one secret.
#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    /// A signer over `secret` (at least 16 bytes is sensible; replicas must share it).
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self { secret: secret.into() }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.secret).expect("hmac should accept a key of any length")
    }

    /// The token for a conversation.
    pub fn sign(&self, conversation_id: &str) -> String {
        let mut mac = self.mac();
        mac.update(conversation_id.as_bytes());
        format!("{conversation_id}.{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// A visitor token: the visitor id the server issued, signed (in its own domain, so it can
    /// never pass for a conversation token, nor one for it). The widget keeps it and sends it
    /// back in `hello`, so only the browser it was issued to speaks as that visitor.
    pub fn sign_visitor(&self, visitor_id: &str) -> String {
        self.sign(&format!("{VISITOR_DOMAIN}{visitor_id}"))
    }

    /// The visitor id inside a valid visitor token.
    pub fn verify_visitor(&self, token: &str) -> Option<String> {
        self.verify(token)?.strip_prefix(VISITOR_DOMAIN).map(str::to_owned)
    }

    /// The conversation id inside a valid token, or `None` for a forged or malformed one.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (conversation_id, signature) = token.rsplit_once('.')?;
        let signature = hex::decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(conversation_id.as_bytes());
        mac.verify_slice(&signature).ok()?;
        Some(conversation_id.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::TokenSigner;

    #[test]
    fn a_visitor_token_names_its_visitor_and_nothing_else() {
        let signer = TokenSigner::new(b"0123456789abcdef".to_vec());
        let token = signer.sign_visitor("v-1234567890");
        assert_eq!(signer.verify_visitor(&token).as_deref(), Some("v-1234567890"));
        assert_eq!(signer.verify_visitor("v-1234567890"), None, "a bare id is a claim, not a proof");
        assert_eq!(
            signer.verify_visitor(&signer.sign("v-1234567890")),
            None,
            "a conversation token is not one"
        );
        let other = TokenSigner::new(b"another secret 0123".to_vec());
        assert_eq!(other.verify_visitor(&token), None);
    }

    #[test]
    fn a_signed_token_verifies_and_a_forged_one_does_not() {
        let signer = TokenSigner::new(b"0123456789abcdef".to_vec());
        let token = signer.sign("conv-1");
        assert_eq!(signer.verify(&token).as_deref(), Some("conv-1"));
        assert_eq!(signer.verify("conv-1"), None);
        assert_eq!(signer.verify(&token.replace("conv-1", "conv-2")), None);
        assert_eq!(TokenSigner::new(b"another secret!!".to_vec()).verify(&token), None);
        assert_eq!(signer.verify("conv-1.zz"), None);
    }
}
