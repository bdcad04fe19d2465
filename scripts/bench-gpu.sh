#!/usr/bin/env bash
# The inference benchmark on an NVIDIA GPU with the model the GPU build answers with,
# Qwen2.5-Coder-1.5B (Q4_0): builds Frontdesk with `--features cuda` (mistral.rs with CUDA and
# llama.cpp's CUDA backend), llama-server with CUDA (scripts/build-llama-server.sh --cuda),
# fetches the model, and runs `frontdesk bench inference` for 1, 4 and 16 concurrent
# conversations, every layer on the GPU, three runs in alternating engine order.
# It prints, per engine and concurrency: time to first token (median, p95), decode tokens/s
# per conversation and in all, and each figure's ratio against llama-server on the same GGUF
# (median over the runs, with the range); then the llama.cpp engine's memory (weights, key-value
# cache per slot). Which engine the GPU build should default to follows from those ratios.
# Needs nvidia-smi, nvcc and cmake; CUDA_COMPUTE_CAP (default 90: H100/H200) picks the
# kernels' GPU generation. Extra arguments go to the benchmark (e.g. --concurrency 1,4).
set -euo pipefail

cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null || { echo "error: no NVIDIA GPU here (nvidia-smi missing)" >&2; exit 1; }
command -v nvcc >/dev/null || { echo "error: nvcc missing: install the CUDA toolkit" >&2; exit 1; }
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
# Apart from the CPU build's artefacts: the cuda feature rebuilds most of the dependencies.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontdesk/target-cuda}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
bash scripts/ensure-build-deps.sh
bash scripts/fetch-model.sh --model qwen2.5-1.5b
cargo build --release --bin frontdesk --features cuda
server=$(bash scripts/build-llama-server.sh --cuda)
"$CARGO_TARGET_DIR/release/frontdesk" bench inference --llama-server "$server" --kb knowledge-base \
  --model qwen2.5-1.5b --engines llama-server,llamacpp,mistralrs --concurrency 1,4,16 --runs 3 "$@"
