//! Personal details kept whole for the agent who takes a conversation over: sealed with
//! ChaCha20-Poly1305 under a key derived from the server's token secret (shared by every
//! replica), so the store, its files and its backups hold only ciphertext.

use hmac::{Hmac, Mac};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::PiiKind;
use crate::{Error, Result};

/// One piece of personal data in a stored message: what the store shows, and what was typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalDetail {
    /// Its kind.
    pub kind: PiiKind,
    /// The placeholder or mask written in its place.
    pub shown: String,
    /// What the visitor typed.
    pub original: String,
}

/// Seals and opens personal details.
pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    /// A sealer whose key is derived from `secret` (the token secret), for this purpose only.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac should accept a key of any length");
        mac.update(b"frontdesk: sealed personal details, v1");
        let key = mac.finalize().into_bytes();
        let key = UnboundKey::new(&CHACHA20_POLY1305, &key).expect("a 32-byte key");
        Self { key: LessSafeKey::new(key), random: SystemRandom::new() }
    }

    /// `details` sealed for the message `message_id` (which binds them to it), as hex.
    pub fn seal(&self, message_id: &str, details: &[PersonalDetail]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| Error::Internal("no randomness for a nonce".into()))?;
        let mut data = serde_json::to_vec(details).map_err(|e| Error::Internal(e.to_string()))?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(message_id.as_bytes()),
                &mut data,
            )
            .map_err(|_| Error::Internal("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(hex::encode(out))
    }

    /// The details sealed for `message_id`; an error when they were sealed under another key or
    /// for another message, or changed since.
    pub fn open(&self, message_id: &str, sealed: &str) -> Result<Vec<PersonalDetail>> {
        let bad = || Error::Internal("sealed personal details do not open".into());
        let bytes = hex::decode(sealed).map_err(|_| bad())?;
        if bytes.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut data = rest.to_vec();
        let plain =
            self.key.open_in_place(nonce, Aad::from(message_id.as_bytes()), &mut data).map_err(|_| bad())?;
        serde_json::from_slice(plain).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_details_open_only_with_the_same_key_for_the_same_message() {
        let details = vec![PersonalDetail {
            kind: PiiKind::Email,
            shown: "j***@example.com".into(),
            original: "jo.park@example.com".into(),
        }];
        let sealer = Sealer::new(b"secret one");
        let sealed = sealer.seal("m1", &details).expect("sealed");
        assert!(!sealed.contains(&hex::encode("jo.park")), "ciphertext only");
        assert_eq!(sealer.open("m1", &sealed).expect("opens"), details);
        assert!(sealer.open("m2", &sealed).is_err(), "bound to its message");
        assert!(Sealer::new(b"secret two").open("m1", &sealed).is_err(), "another key");
        let mut tampered = sealed.clone();
        tampered.replace_range(40..42, if &sealed[40..42] == "00" { "01" } else { "00" });
        assert!(sealer.open("m1", &tampered).is_err(), "changed");
        assert_ne!(sealer.seal("m1", &details).expect("sealed"), sealed, "a fresh nonce each time");
    }
}
