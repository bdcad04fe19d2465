#!/usr/bin/env bash
# Installs what building Frontdesk needs besides Rust, when it is missing: cmake and a C++
# compiler (llama.cpp is compiled by the llama-cpp-sys-2 crate) and libclang (its bindings are
# generated with bindgen). Debian's packages, with apt-get.
set -euo pipefail

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v c++ >/dev/null || missing+=(g++)
if ! compgen -G "/usr/lib/llvm-*/lib/libclang*.so*" >/dev/null && ! compgen -G "/usr/lib/*/libclang*.so*" >/dev/null; then
  missing+=(libclang-dev)
fi
bash "$(dirname "$0")/apt-install.sh" "${missing[@]}"
