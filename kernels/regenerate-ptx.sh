#!/usr/bin/env sh
# Regenerates the committed PTX (kernels/src/main/resources/kernels/ptx/<family>.ptx) and SOURCES.sha256 with
# nvcc (PATH or /usr/local/cuda/bin). Run after editing anything under kernels/src/main/cuda, then commit both.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
exec "$java" "$here/src/test/java/dev/lorastream/kernels/PtxBuild.java" regenerate "$here"
