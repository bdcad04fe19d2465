//! Frontdesk's session store: where conversations and their messages live.
//!
//! Two backends implement [`frontdesk_core::store::SessionStore`] with the same behaviour (one
//! conformance suite in `tests/conformance.rs` runs against both):
//!
//! - [`EmbeddedStore`]: the default, one redb file under the data dir; nothing to run.
//! - [`RedisStore`]: Redis, shared by several replicas.

mod embedded;
mod redis_store;

pub use embedded::EmbeddedStore;
pub use redis_store::{RedisStore, RedisStoreConfig};

/// Errors of the store backends.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded database failed.
    #[error("embedded store: {0}")]
    Embedded(String),
    /// Redis failed or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Decode(#[from] serde_json::Error),
}

impl From<StoreError> for frontdesk_core::Error {
    fn from(error: StoreError) -> Self {
        frontdesk_core::Error::Store(error.to_string())
    }
}
