//! Frontdesk's session store: where conversations and their messages live.
//!
//! Two backends implement [`frontdesk_core::store::SessionStore`] with the same behaviour (one
//! conformance suite in `tests/conformance.rs` runs against both):
//!
//! - [`EmbeddedStore`]: the default, one redb file under the data dir; nothing to run.
//! - [`RedisStore`]: Redis, shared by several replicas.

pub(crate) mod embedded;
mod redis_store;

pub use embedded::EmbeddedStore;
pub use redis_store::{RedisStore, RedisStoreConfig};

/// Errors of the store backends. Each keeps its cause, so the log shows what failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded database (or its file) failed.
    #[error("embedded store: {0}")]
    Embedded(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Redis failed or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The backend did not answer in time.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Decode(#[from] serde_json::Error),
    /// The stored data contradicts itself (an index pointing at nothing).
    #[error("inconsistent data: {0}")]
    Inconsistent(&'static str),
}

impl From<StoreError> for frontdesk_core::Error {
    fn from(error: StoreError) -> Self {
        frontdesk_core::Error::Store(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_keeps_its_cause_behind_the_core_error() {
        let error: frontdesk_core::Error = StoreError::Timeout("connecting to redis").into();
        assert_eq!(error.code(), frontdesk_core::ErrorCode::Unavailable);
        assert_eq!(error.to_string(), "store error: timed out connecting to redis");
        let source = std::error::Error::source(&error).expect("a source");
        assert!(matches!(source.downcast_ref::<StoreError>(), Some(StoreError::Timeout(_))));
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "store file is read-only");
        let error: frontdesk_core::Error = embedded::embedded(io).into();
        let store = std::error::Error::source(&error).expect("store error");
        let io = std::error::Error::source(store).expect("the io error");
        assert!(io.downcast_ref::<std::io::Error>().is_some(), "{io}");
    }
}
