//! `frontdesk bench`: figures, each run against a baseline in the same process.
//!
//! - [`search`] (`bench search`): indexing throughput and search latency on generated FAQ
//!   entries, by keywords only and with semantic search.
//! - [`inference`] (`bench inference`): time to first token and decode speed of each engine at
//!   several concurrencies, against llama-server running the same GGUF file.
//! - [`insights`] (`bench insights`): grouping a month of visitor questions into topics, with
//!   the model's vectors and with word vectors only.
//! - [`drafts`] (`bench drafts`): visitors' first token while a marketing draft is written,
//!   at background priority and without it.
//! - [`path`] (`bench path`): a visitor's way to the first token, stage by stage, against the
//!   bare engine's own first token in the same turns.

use std::time::Duration;

pub mod drafts;
pub mod inference;
pub mod insights;
pub mod path;
pub mod search;

pub use drafts::{run_drafts, DraftsBench};
pub use inference::{run_inference, BenchEngine, InferenceBench, LoadFigures};
pub use insights::run_insights;
pub use path::run_path;
pub use search::run_search;

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
