#!/usr/bin/env bash
# Builds llama.cpp's llama-batched-bench from source, once, for `./lorastream bench peer` (the peer that
# lorastream's CPU engine is measured against in the same run). Nothing here is shipped or committed.
#
# Source: the pinned npm package node-llama-cpp@3.21.1, which carries llama.cpp as a git bundle
# (node_modules/node-llama-cpp/llama/gitRelease.bundle); npm is the only network access, at install time.
# Build: cmake, CPU only, -DGGML_NATIVE=ON (llama.cpp picks this CPU's instructions) -DLLAMA_CURL=OFF; ~10 to 15
# minutes on 2 cores the first time, seconds after.
#
# Usage: scripts/peer-llama-cpp.sh [DIR]     DIR defaults to $LORASTREAM_PEER_DIR or ~/.cache/lorastream/peer
# Prints the path of llama-batched-bench last. Exit status: 0 built (or already built); 3 a tool is missing
# (the line says which and how to install it); anything else: the build failed (its output above).
set -euo pipefail
dir=${1:-${LORASTREAM_PEER_DIR:-$HOME/.cache/lorastream/peer}}
pin=3.21.1
bin="$dir/llama.cpp/build/bin/llama-batched-bench"
if [ -x "$bin" ] && [ -f "$dir/.built-$pin" ]; then
  echo "$bin"
  exit 0
fi
for tool in npm git cmake c++; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "peer-llama-cpp: '$tool' not found (Debian: apt-get install nodejs npm git cmake g++)"
    exit 3
  fi
done
mkdir -p "$dir"
cd "$dir"
if [ ! -f node_modules/node-llama-cpp/llama/gitRelease.bundle ]; then
  npm i -E --no-audit --no-fund --ignore-scripts "node-llama-cpp@$pin" >&2
fi
if [ ! -d llama.cpp/.git ]; then
  rm -rf llama.cpp
  git clone -q node_modules/node-llama-cpp/llama/gitRelease.bundle llama.cpp >&2
fi
cmake -S llama.cpp -B llama.cpp/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >&2
cmake --build llama.cpp/build --target llama-batched-bench -j "$(nproc)" >&2
touch "$dir/.built-$pin"
echo "$bin"
