#!/usr/bin/env bash
# Installs what building Frontdesk needs besides Rust, when it is missing: cmake and a C++
# compiler (llama.cpp is compiled by the llama-cpp-sys-2 crate) and libclang (its bindings are
# generated with bindgen). Debian's packages, with apt-get.
set -euo pipefail

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v c++ >/dev/null || missing+=(g++)
# libclang itself, not libclang-cpp (Chromium's dependencies bring that one, and bindgen
# cannot use it).
has_libclang() {
  local dir
  for dir in /usr/lib/llvm-*/lib /usr/lib/*-linux-gnu /usr/lib; do
    compgen -G "$dir/libclang.so*" >/dev/null && return 0
    compgen -G "$dir/libclang-[0-9]*.so*" >/dev/null && return 0
  done
  return 1
}
if ! has_libclang; then
  missing+=(libclang-dev)
fi
bash "$(dirname "$0")/apt-install.sh" "${missing[@]}"
