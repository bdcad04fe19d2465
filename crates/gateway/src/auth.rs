//! API keys and roles for `/api/v1`.
//!
//! Keys are kept as SHA-256 hashes (`frontdesk hash-key` prints one), so the config file never
//! holds a usable secret. A request carries its key as `Authorization: Bearer KEY`; the key is
//! hashed and compared with every configured hash in constant time. Roles are strict: an agent
//! key opens the agent routes and an admin key the admin routes, nothing else.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use frontdesk_core::Error;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::ApiError;
use crate::AppState;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages documents and sees analytics.
    Admin,
    /// Handles conversations.
    Agent,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Self::Admin),
            "agent" => Ok(Self::Agent),
            other => Err(format!("unknown role {other:?} (admin, agent)")),
        }
    }
}

/// One configured key.
#[derive(Clone)]
pub struct ApiKey {
    /// Who holds it; an agent's name as visitors and transcripts show it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    sha256: [u8; 32],
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("role", &self.role)
            // A short prefix tells keys apart in a log without revealing them.
            .field("sha256_prefix", &hex::encode(&self.sha256[..4]))
            .finish_non_exhaustive()
    }
}

/// Shortest key accepted, so a key cannot be guessed.
pub const MIN_KEY_CHARS: usize = 16;

/// The hex SHA-256 of a key, as the config file keeps it.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether a presented key is `expected`, compared by their SHA-256 in constant time (no timing
/// tells how much of a guess was right).
pub fn same_key(presented: &str, expected: &str) -> bool {
    same_digest(&Sha256::digest(presented.as_bytes()).into(), &Sha256::digest(expected.as_bytes()).into())
}

/// Whether two SHA-256 digests are equal, compared in constant time.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a secret is a placeholder from an example (`replace-with-...`, `change-me`) or too
/// uniform to have been drawn at random: deployed as it is, it would open the API to anyone
/// who read the example.
pub fn looks_like_placeholder(secret: &str) -> bool {
    let lower = secret.to_ascii_lowercase();
    let words = ["replace", "change-me", "changeme", "placeholder", "your-", "example", "secret-here"];
    let distinct: std::collections::HashSet<char> = lower.chars().collect();
    words.iter().any(|w| lower.contains(w)) || distinct.len() < 8
}

/// Whether a key is one of the development keys the README and `scripts/run.sh` give (they end
/// in `0123456789`): fine on a loopback address, never on one others reach.
pub fn is_development_key(key: &str) -> bool {
    key.ends_with("0123456789")
}

impl ApiKey {
    /// A key given in plain text (the development flags). Placeholders are refused.
    pub fn from_plain(name: impl Into<String>, role: Role, key: &str) -> Result<Self, String> {
        if key.chars().count() < MIN_KEY_CHARS {
            return Err(format!("an API key must have at least {MIN_KEY_CHARS} characters"));
        }
        if looks_like_placeholder(key) {
            return Err("the key looks like a placeholder; generate one with `openssl rand -hex 24`".into());
        }
        Ok(Self { name: name.into(), role, sha256: Sha256::digest(key.as_bytes()).into() })
    }

    /// A key given as the hex SHA-256 `frontdesk hash-key` printed.
    pub fn from_hash(name: impl Into<String>, role: Role, sha256_hex: &str) -> Result<Self, String> {
        let bytes = hex::decode(sha256_hex.trim()).map_err(|e| format!("invalid key hash: {e}"))?;
        let sha256: [u8; 32] =
            bytes.try_into().map_err(|_| "a key hash must be 64 hex digits (SHA-256)".to_owned())?;
        Ok(Self { name: name.into(), role, sha256 })
    }
}

/// The configured keys.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys(Arc<Vec<ApiKey>>);

impl ApiKeys {
    /// A set of keys.
    pub fn new(keys: Vec<ApiKey>) -> Self {
        Self(Arc::new(keys))
    }

    /// Whether any key has this role.
    pub fn has_role(&self, role: Role) -> bool {
        self.0.iter().any(|key| key.role == role)
    }

    /// The key matching `presented`, compared in constant time against every hash.
    pub fn authenticate(&self, presented: &str) -> Option<&ApiKey> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for key in self.0.iter() {
            if same_digest(&key.sha256, &digest) && found.is_none() {
                found = Some(key);
            }
        }
        found
    }

    /// The key of a request with the required role, or the error to answer with.
    pub fn require(&self, presented: Option<&str>, role: Role) -> Result<ApiKey, Error> {
        let key = presented.and_then(|p| self.authenticate(p)).ok_or(Error::Unauthorized)?;
        if key.role == role {
            Ok(key.clone())
        } else {
            Err(Error::Forbidden)
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A request made with an agent key.
#[derive(Debug, Clone)]
pub struct AgentKey(pub ApiKey);

/// A request made with an admin key.
#[derive(Debug, Clone)]
pub struct AdminKey(pub ApiKey);

impl FromRequestParts<AppState> for AgentKey {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(state.keys.require(bearer(&parts.headers), Role::Agent)?))
    }
}

impl FromRequestParts<AppState> for AdminKey {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(state.keys.require(bearer(&parts.headers), Role::Admin)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        ApiKeys::new(vec![
            ApiKey::from_plain("ana", Role::Agent, "agent-key-0123456789").expect("key"),
            ApiKey::from_hash("root", Role::Admin, &hash_key("admin-key-0123456789")).expect("hash"),
        ])
    }

    #[test]
    fn keys_open_their_own_role_only() {
        let keys = keys();
        assert_eq!(keys.require(Some("agent-key-0123456789"), Role::Agent).expect("agent").name, "ana");
        assert_eq!(keys.require(Some("admin-key-0123456789"), Role::Admin).expect("admin").name, "root");
        assert!(matches!(keys.require(Some("admin-key-0123456789"), Role::Agent), Err(Error::Forbidden)));
        assert!(matches!(keys.require(Some("agent-key-0123456789"), Role::Admin), Err(Error::Forbidden)));
        assert!(matches!(keys.require(Some("agent-key-012345678"), Role::Agent), Err(Error::Unauthorized)));
        assert!(matches!(keys.require(None, Role::Agent), Err(Error::Unauthorized)));
    }

    #[test]
    fn placeholder_keys_are_refused_and_development_keys_known() {
        for placeholder in [
            "replace-with-a-long-random-admin-key",
            "change-me-change-me-change-me",
            "aaaaaaaaaaaaaaaaaaaaaaaa",
            "0000000000000000",
        ] {
            assert!(ApiKey::from_plain("x", Role::Admin, placeholder).is_err(), "{placeholder}");
        }
        assert!(ApiKey::from_plain("x", Role::Admin, "3f9c1a7e5b2d48c6a0e1f7b3").is_ok());
        assert!(is_development_key("dev-admin-key-0123456789"));
        assert!(!is_development_key("3f9c1a7e5b2d48c6a0e1f7b3"));
    }

    #[test]
    fn short_keys_and_bad_hashes_are_refused() {
        assert!(ApiKey::from_plain("x", Role::Agent, "short").is_err());
        assert!(ApiKey::from_hash("x", Role::Agent, "abcd").is_err());
        assert!(ApiKey::from_hash("x", Role::Agent, &"zz".repeat(32)).is_err());
        assert_eq!(hash_key("abc").len(), 64);
    }
}
