//! Stopping a step under way. An engine that yields to another (a second model writing drafts
//! beside the chat's) waits between its steps while the other has visitors' work; but a step
//! of a larger model takes several of the chat's, and a visitor who arrives during one would
//! share the cores with it until it ends (`bench drafts` measured 3.7 of the chat's decode
//! steps added to such a visitor's first token). llama.cpp asks a callback between the
//! operations of a step's graph whether to stop; [`Gate`] answers yes while the step holds
//! background sequences only and the other engine is busy. llama.cpp then drops from the
//! cache the positions the step had written, and the engine decodes the same batch again
//! later.
//!
//! `llama-cpp-2` does not expose the callback, so this module sets it on llama.cpp's own
//! context parameters: the one place in the workspace with unsafe code (the crate's lints deny
//! it elsewhere).
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use llama_cpp_2::context::params::LlamaContextParams;

use super::YieldTo;

/// What the callback reads: set by the engine thread around each decode, read by llama.cpp's
/// first compute thread after each operation of the graph.
pub(super) struct Gate {
    /// Whether the step under way holds background sequences only.
    abortable: AtomicBool,
    yield_to: YieldTo,
}

impl Gate {
    pub(super) fn new(yield_to: YieldTo) -> Self {
        Self { abortable: AtomicBool::new(false), yield_to }
    }

    /// Says whether the next decode may be stopped.
    pub(super) fn set_abortable(&self, abortable: bool) {
        self.abortable.store(abortable, Ordering::Release);
    }

    fn should_stop(&self) -> bool {
        self.abortable.load(Ordering::Acquire) && (self.yield_to.0)()
    }
}

extern "C" fn should_stop(data: *mut c_void) -> bool {
    // SAFETY: `data` is the pointer `with_gate` put in the parameters: a `Gate` inside an
    // `Arc` that the engine holds for as long as the context made with them (its field is
    // dropped after the context's). The callback only reads it through atomics and the
    // `Send + Sync` closure.
    let gate = unsafe { &*data.cast::<Gate>().cast_const() };
    gate.should_stop()
}

/// `params` with llama.cpp's abort callback asking `gate`. The caller keeps `gate` alive for
/// as long as the context made with the result.
pub(super) fn with_gate(params: LlamaContextParams, gate: &Arc<Gate>) -> LlamaContextParams {
    // SAFETY: `LlamaContextParams` is a struct of one field, llama.cpp's
    // `llama_context_params` (`llama-cpp-2` 0.1.160, pinned by Cargo.lock). `transmute` checks
    // at compile time that the two types have the same size, and a struct as large as its one
    // field holds it at offset 0, so its bytes are that field's; every bit pattern it carries
    // back is one llama.cpp made.
    let mut raw: llama_cpp_sys_2::llama_context_params = unsafe { std::mem::transmute(params) };
    raw.abort_callback = Some(should_stop);
    raw.abort_callback_data = Arc::as_ptr(gate).cast_mut().cast::<c_void>();
    // SAFETY: as above, the other way.
    unsafe { std::mem::transmute::<llama_cpp_sys_2::llama_context_params, LlamaContextParams>(raw) }
}

/// Whether a line llama.cpp logs reports a step stopped through the gate (a computation
/// "aborted": status 1 in ggml, 2 from `llama_decode`), which the server's log leaves out:
/// it is the engine working as meant, not a failure.
#[must_use]
pub fn is_stopped_step_log(line: &str) -> bool {
    let line = line.trim_end();
    line.ends_with("compute status: 1")
        || line.ends_with("failed with error 1")
        || line.ends_with("failed to decode, ret = 2")
        || (line.starts_with("removing memory module entries for seq_id") && line.ends_with("+inf)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_lines_of_a_stopped_step_are_recognised() {
        for line in [
            "failed to compute graph, compute status: 1\n",
            "ggml_backend_sched_graph_compute_async failed with error 1",
            "failed to decode, ret = 2",
            "removing memory module entries for seq_id = 3, pos = [812, +inf)",
        ] {
            assert!(is_stopped_step_log(line), "{line}");
        }
        for line in [
            "failed to compute graph, compute status: -2",
            "ggml_backend_sched_graph_compute_async failed with error -1",
            "failed to decode, ret = -3",
            "loaded meta data with 26 key-value pairs",
        ] {
            assert!(!is_stopped_step_log(line), "{line}");
        }
    }
}
