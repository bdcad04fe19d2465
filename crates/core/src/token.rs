//! Signed conversation tokens.
//!
//! A token is `<id>.<issued, seconds since the epoch>.<hex HMAC-SHA256 of both>` under a server
//! secret, so a visitor can resume their own conversation while knowing or guessing an id gives
//! nothing, and a token stops working when its lifetime is over.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a visitor token signs before the id; no conversation id starts with it.
const VISITOR_DOMAIN: &str = "visitor:";

/// How long a token opens its conversation when no lifetime is configured.
pub const DEFAULT_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// Signs and checks conversation tokens with one secret.
#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
    /// A token older than this no longer verifies.
    lifetime: std::time::Duration,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    /// A signer over `secret` (at least 16 bytes is sensible; replicas must share it).
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self { secret: secret.into(), lifetime: DEFAULT_TOKEN_LIFETIME }
    }

    /// The same signer with tokens valid for `lifetime` from their issue.
    #[must_use]
    pub fn with_lifetime(mut self, lifetime: std::time::Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.secret).expect("hmac should accept a key of any length")
    }

    /// The token for a conversation, issued now.
    pub fn sign(&self, conversation_id: &str) -> String {
        self.sign_at(conversation_id, crate::now_ms() / 1_000)
    }

    fn sign_at(&self, id: &str, issued_secs: i64) -> String {
        let signed = format!("{id}.{issued_secs}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", hex::encode(mac.finalize().into_bytes()))
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

    /// The id inside a valid token, or `None` for a forged, malformed or expired one.
    pub fn verify(&self, token: &str) -> Option<String> {
        self.verify_at(token, crate::now_ms() / 1_000)
    }

    fn verify_at(&self, token: &str, now_secs: i64) -> Option<String> {
        let (signed, signature) = token.rsplit_once('.')?;
        let (id, issued) = signed.rsplit_once('.')?;
        let signature = hex::decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let issued: i64 = issued.parse().ok()?;
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        // Issued in the future (a replica's clock ahead) by more than a minute: not believed.
        (issued <= now_secs + 60 && now_secs.saturating_sub(issued) <= lifetime).then(|| id.to_owned())
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
    fn a_token_expires_after_its_lifetime() {
        let signer = TokenSigner::new(b"0123456789abcdef".to_vec())
            .with_lifetime(std::time::Duration::from_secs(3_600));
        let token = signer.sign_at("conv-1", 1_000_000);
        assert_eq!(signer.verify_at(&token, 1_000_000 + 3_599).as_deref(), Some("conv-1"));
        assert_eq!(signer.verify_at(&token, 1_000_000 + 3_601), None, "expired");
        assert_eq!(signer.verify_at(&token, 1_000_000 - 3_600), None, "issued in the future");
        let stretched = token.replacen(".1000000.", ".1003000.", 1);
        assert_eq!(signer.verify_at(&stretched, 1_003_000), None, "the issue time is signed");
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
