#!/usr/bin/env bash
# Fetches the models if absent, installs the build's system packages if missing, and builds
# every binary and test target into $CARGO_TARGET_DIR (default ~/.cache/frontdesk/target,
# outside the clone, so every clone and CI run reuses the compiled dependencies). One feature
# set for the binaries and the tests, so `cargo test --workspace` afterwards and the run
# scripts share every artefact (a plain `cargo run` would unify features differently and
# compile much of mistral.rs a second time). The other scripts call this first.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target}"
bash scripts/fetch-model.sh
bash scripts/ensure-build-deps.sh
cargo build --workspace --bins --tests
