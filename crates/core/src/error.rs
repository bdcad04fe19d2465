//! One error type for the core and the traits it defines.
//!
//! Each variant maps to one [`ErrorCode`]; the code alone decides the HTTP status or the
//! WebSocket `error` frame a client sees. The message of an internal error stays in the log.

use serde::Serialize;

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as a client may be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request or frame is malformed or breaks a limit.
    BadRequest,
    /// No valid credentials or token.
    Unauthorized,
    /// Valid credentials of a role that may not do this.
    Forbidden,
    /// The thing asked for does not exist (or is not the caller's).
    NotFound,
    /// The request clashes with the current state (another agent holds the conversation).
    Conflict,
    /// The upload or body is larger than allowed.
    TooLarge,
    /// Too many requests from one client; try later.
    RateLimited,
    /// The server is at capacity; try again shortly.
    Busy,
    /// A backend (store, model) is unreachable or timed out.
    Unavailable,
    /// A bug or an unexpected failure; details are in the server log.
    Internal,
}

impl ErrorCode {
    /// The stable string clients see (`"bad_request"`, `"busy"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Conflict => "conflict",
            Self::TooLarge => "too_large",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::Conflict => 409,
            Self::TooLarge => 413,
            Self::NotFound => 404,
            Self::RateLimited => 429,
            Self::Busy | Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

/// Errors of the core and of every backend behind its traits.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks the protocol or a limit; the message is safe to show.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Missing or wrong credentials.
    #[error("unauthorized")]
    Unauthorized,
    /// Credentials of the wrong role.
    #[error("forbidden")]
    Forbidden,
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Clashes with the current state; the message is safe to show.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Larger than allowed; the message is safe to show.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Too many requests or messages from one client.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// The engine's queue is full.
    #[error("busy: {0}")]
    Busy(String),
    /// The store could not be reached or failed; the backend's error is kept as the source,
    /// for the log.
    #[error("store error: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The knowledge base index failed.
    #[error("retrieval error: {0}")]
    Retrieval(String),
    /// The model failed while generating.
    #[error("generation error: {0}")]
    Generation(String),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The code that decides what a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::TooLarge(_) => ErrorCode::TooLarge,
            Self::RateLimited(_) => ErrorCode::RateLimited,
            Self::Busy(_) => ErrorCode::Busy,
            Self::Store(_) | Self::Retrieval(_) | Self::Generation(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// A message that is safe to send to a client: the details of backend failures stay in
    /// the server log.
    pub fn public_message(&self) -> String {
        match self {
            Self::BadRequest(message) => message.clone(),
            Self::Unauthorized => "missing or invalid credentials".to_owned(),
            Self::Forbidden => "this key's role may not do that".to_owned(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::Conflict(message) | Self::TooLarge(message) | Self::RateLimited(message) => message.clone(),
            Self::Busy(_) => "the assistant is busy, please try again in a moment".to_owned(),
            Self::Store(_) => "conversation storage is unavailable".to_owned(),
            Self::Retrieval(_) => "the knowledge base is unavailable".to_owned(),
            Self::Generation(_) => "the assistant could not answer".to_owned(),
            Self::Internal(_) => "internal error".to_owned(),
        }
    }
}
