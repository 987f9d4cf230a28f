#!/usr/bin/env bash
# Runs every test: installs the PyTorch reference the tests compare against (Debian's python3-torch) when
# it is missing, then the Maven build with its tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ -z "${JAVA_HOME:-}" && -d /usr/lib/jvm/temurin-25-jdk-amd64 ]]; then
  export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
bash scripts/ensure-python-ref.sh
# -Pfuzz: every @FuzzTest fuzzes for jazzer.max_duration (20 s); pass -P-fuzz to run only their seeds
./mvnw -B -ntp verify -Pfuzz "$@"
