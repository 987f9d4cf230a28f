#!/usr/bin/env bash
# Builds a jlink'ed Java runtime into build/jre (java.base, jdk.incubator.vector, java.logging, jdk.unsupported,
# java.management, jdk.management (the bench's per-thread allocation counters), jdk.zipfs (the JUnit console
# scans test jars through it), java.xml (its XML reports) and java.desktop (the bench's PNG plot; --no-desktop leaves it out: ~45 vs ~64 MB).
#
# --bundle also prepares build/gpu/, what scripts/gpu-check.sh needs on the GPU machine (no JDK, no network,
# < 64 MiB carried with the working tree): jre.tar.xz (without java.desktop), lib/ with the bench module's resolved
# runtime classpath (engine, kernels, JCuda, picocli, Jackson: no Kafka, no tokenizer; the launcher's full lib/ is
# ~145 MB), the engine's ops/cuda test classes and the JUnit console launcher. Run it here, then carry
# build/gpu:   run(command="bash scripts/gpu-check.sh", carry=["build/gpu"])
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
JUNIT_PLATFORM="${JUNIT_PLATFORM:-1.14.1}" # the platform of junit-jupiter 5.14.1 (root pom junit.version)
MODULES="java.base,jdk.incubator.vector,java.logging,jdk.unsupported,java.management,jdk.management,jdk.zipfs,java.xml"
DESKTOP=1
BUNDLE=0
for a in "$@"; do
  case "$a" in
    --no-desktop) DESKTOP=0 ;;
    --bundle) BUNDLE=1 ;;
    *) echo "usage: $0 [--no-desktop] [--bundle]" >&2; exit 2 ;;
  esac
done
[[ $DESKTOP == 1 ]] && MODULES="$MODULES,java.desktop"
[[ -x "$JAVA_HOME/bin/jlink" ]] || { echo "jlink-runtime: no jlink in JAVA_HOME=$JAVA_HOME" >&2; exit 1; }

rm -rf build/jre
mkdir -p build
"$JAVA_HOME/bin/jlink" --add-modules "$MODULES" --strip-debug --no-man-pages --no-header-files \
  --compress=zip-9 --output build/jre 2> >(grep -v 'incubator modules' >&2)
echo "jlink-runtime: build/jre ($(du -sh build/jre | cut -f1)): $MODULES"
[[ $BUNDLE == 1 ]] || exit 0

# ---- the GPU bundle -----------------------------------------------------------------------------------
B=build/gpu
rm -rf "$B" && mkdir -p "$B/lib"
echo "jlink-runtime: building bench (its jar, its resolved runtime classpath, the engine's test classes)..."
# one reactor run (no install): package compiles the tests too; bench/target/lib is bench's runtime classpath
./mvnw -q -o -DskipTests -pl bench -am package >/dev/null
cp bench/target/bench-*.jar bench/target/lib/*.jar "$B/lib/"
for need in 'engine-*.jar' 'kernels-*.jar' 'jcuda-natives-*.jar'; do
  compgen -G "$B/lib/$need" >/dev/null || { echo "jlink-runtime: no $need on bench's runtime classpath" >&2; exit 1; }
done
if compgen -G "$B/lib/tokenizers-*.jar" >/dev/null || compgen -G "$B/lib/kafka-*.jar" >/dev/null; then
  echo "jlink-runtime: bench's runtime classpath holds the tokenizer or Kafka: the GPU bundle would not fit" >&2; exit 1
fi
# with every parent folder entry: the JUnit console's package scan does not find classes in a jar without them
mkdir -p "$B/tests" && (cd engine/target/test-classes && cp -r --parents dev/lorastream/engine/ops/cuda "$ROOT/$B/tests/")
"$JAVA_HOME/bin/jar" --create --file "$B/lib/engine-cuda-tests.jar" -C "$B/tests" .
rm -rf "$B/tests"
JUNIT="junit-platform-console-standalone-$JUNIT_PLATFORM.jar"
if [[ ! -f "$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$JUNIT_PLATFORM/$JUNIT" ]]; then
  ./mvnw -q dependency:get -Dartifact="org.junit.platform:junit-platform-console-standalone:$JUNIT_PLATFORM" >/dev/null
fi
cp "$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$JUNIT_PLATFORM/$JUNIT" "$B/junit-console.jar"
# the carried runtime leaves out java.desktop (35 vs 21 MB compressed; with the ~21 MB working tree the 64 MiB
# carry limit is otherwise exceeded): the bench's plot.png is then skipped, report.md and results.json are not
BASE_MODULES="${MODULES/,java.desktop/}"
rm -rf build/gpu-jre-tmp && mkdir -p build/gpu-jre-tmp
"$JAVA_HOME/bin/jlink" --add-modules "$BASE_MODULES" --strip-debug --no-man-pages --no-header-files \
  --compress=zip-9 --output build/gpu-jre-tmp/jre 2> >(grep -v 'incubator modules' >&2)
tar -C build/gpu-jre-tmp -cf - jre | xz -T2 -6 > "$B/jre.tar.xz"
rm -rf build/gpu-jre-tmp
SIZE=$(du -sb "$B" | cut -f1)
echo "jlink-runtime: $B is $((SIZE >> 20)) MiB:"; ls -la "$B" "$B/lib" | sed 's/^/  /'
TREE=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "jlink-runtime: working tree $((TREE >> 20)) MiB + $B $((SIZE >> 20)) MiB carried"
if (( SIZE + TREE > 63 * 1024 * 1024 )); then
  echo "jlink-runtime: over the 64 MiB the GPU machine may receive" >&2
  exit 1
fi
