#!/usr/bin/env bash
# Makes sure the PyTorch reference (engine/src/test/python/llama_lora_ref.py) can run:
# Debian's python3-torch for /usr/bin/python3, plus OpenBLAS (about 10x faster CPU matmul than the reference BLAS).
# Also python3-confluent-kafka and python3-avro: the registry test and the Python client example (demo --serve).
# Idempotent; installs with apt-get as root, or through sudo when not root.
set -euo pipefail

PY=/usr/bin/python3
if "$PY" -c 'import torch, confluent_kafka, avro' 2>/dev/null; then
  echo "ensure-python-ref: torch $("$PY" -c 'import torch; print(torch.__version__)') already importable by $PY"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "ensure-python-ref: not root and no sudo: install python3-torch, libopenblas0-pthread and" \
    "python3-confluent-kafka by hand; the reference tests skip until then" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "ensure-python-ref: $PY cannot import torch; running: ${SUDO[*]:-} apt-get update"
if ! { "${SUDO[@]}" apt-get update &&
  echo "ensure-python-ref: running: ${SUDO[*]:-} apt-get install -y python3-torch libopenblas0-pthread python3-confluent-kafka python3-avro" &&
  "${SUDO[@]}" apt-get install -y python3-torch libopenblas0-pthread python3-confluent-kafka python3-avro; }; then
  echo "ensure-python-ref: apt-get failed; the reference tests will skip with a reason" >&2
  exit 0
fi

"$PY" -c 'import torch; print("ensure-python-ref: torch", torch.__version__, "OK")'
