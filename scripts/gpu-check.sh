#!/usr/bin/env bash
# The GPU check, for the GPU machine (no JDK, no network): runs the CUDA backend's tests (parity of every op
# against ReferenceOps in F16 and BF16, end-to-end greedy tokens cuda == cpu) and the GPU benchmark
# (llama-7b-shape F16, rank-16 adapters on all seven projections, decode at batch 32/64/128 with no LoRA and
# 1/100/1000 distinct adapters; device copy bandwidth, SGMV achieved bandwidth, decode step over the
# bandwidth floor). Writes report.md and the raw outputs to $OUT. Budget: under 8 minutes.
#
# Needs build/gpu from `scripts/jlink-runtime.sh --bundle` (carry it: run(..., carry=["build/gpu"])).
# Dry run on a CPU machine: LORASTREAM_BACKEND=cpu scripts/gpu-check.sh (tiny model, CPU backend, no tests
# that need a GPU; checks the plumbing only).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/build/gpu-check-out}"
BACKEND="${LORASTREAM_BACKEND:-cuda}"
BUDGET_S="${GPU_CHECK_BUDGET_S:-470}"
WORK="${GPU_CHECK_WORK:-/tmp/lorastream-gpu-check}"
B="$ROOT/build/gpu"
START=$(date +%s)
TESTS_FAILED=0
mkdir -p "$OUT" "$WORK"
REPORT="$OUT/report.md"
LOG="$OUT/gpu-check.log"
: > "$LOG"

say() { echo "gpu-check: $*" | tee -a "$LOG" >&2; }
die() { say "FAILED: $*"; echo -e "\n**FAILED:** $*" >> "$REPORT"; exit 1; }
left() { echo $((BUDGET_S - ($(date +%s) - START))); }
# run_step NAME SECONDS CMD...: the command's output goes to $OUT/NAME.log; fails fast on error or timeout
run_step() {
  local name="$1" limit="$2"; shift 2
  local l; l=$(left)
  (( l > 10 )) || die "$name: no time left in the ${BUDGET_S}s budget"
  (( limit > l )) && limit=$l
  say "$name (limit ${limit}s)..."
  local t0=$(date +%s) rc=0
  timeout --kill-after=5 "$limit" "$@" > "$OUT/$name.log" 2>&1 || rc=$?
  say "$name: rc=$rc in $(( $(date +%s) - t0 ))s"
  if (( rc == 124 || rc == 137 )); then die "$name timed out after ${limit}s (see $name.log)"; fi
  # the carried runtime has no java.desktop: the bench fails only at plot.png, after report.md/results.json
  if (( rc != 0 )) && grep -q 'java/awt' "$OUT/$name.log" && compgen -G "$OUT/$name/results.json" >/dev/null; then
    say "$name: plot.png skipped (no java.desktop in the runtime); results.json and report.md are written"
    rc=0
  fi
  (( rc == 0 )) || { tail -20 "$OUT/$name.log" | sed 's/^/    /' >&2; die "$name exited $rc (see $name.log)"; }
}

{
  echo "# GPU check"
  echo
  echo "- started: $(date -u +%FT%TZ), backend: $BACKEND, budget ${BUDGET_S}s"
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  command -v nvidia-smi >/dev/null && echo "- gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
} > "$REPORT"

# ---- 1. the runtime and the jars ---------------------------------------------------------------------
if [[ -n "${JAVA:-}" ]]; then :
elif [[ -x "$ROOT/build/jre/bin/java" ]]; then JAVA="$ROOT/build/jre/bin/java"
elif [[ -f "$B/jre.tar.xz" ]]; then
  if [[ ! -x "$WORK/jre/bin/java" ]]; then
    say "unpacking build/gpu/jre.tar.xz..."
    if ! tar -C "$WORK" -xJf "$B/jre.tar.xz" 2>/dev/null; then
      python3 -c "import lzma,tarfile,sys; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])" \
        "$B/jre.tar.xz" "$WORK" || die "cannot unpack $B/jre.tar.xz (no xz in tar, no python3 lzma)"
    fi
  fi
  JAVA="$WORK/jre/bin/java"
elif [[ "$BACKEND" == cpu && -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"
else die "no Java runtime: build/gpu/jre.tar.xz is missing; run scripts/jlink-runtime.sh --bundle and carry build/gpu"
fi
[[ -x "$JAVA" ]] || die "JAVA=$JAVA is not executable"
compgen -G "$B/lib/bench-*.jar" >/dev/null || die "no $B/lib/bench-*.jar: run scripts/jlink-runtime.sh --bundle"
compgen -G "$B/lib/jcuda-natives-*.jar" >/dev/null || die "no JCuda natives in $B/lib"
CP="$B/lib/*"
JOPTS=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Djava.awt.headless=true -Xmx48g
  -XX:+UseParallelGC -Dlorastream.backend="$BACKEND" -Djava.io.tmpdir="$WORK")
MAIN=("$JAVA" "${JOPTS[@]}" -cp "$CP" dev.lorastream.bench.GpuCheckMain)
echo "- java: $("$JAVA" -version 2>&1 | head -1)" >> "$REPORT"

# ---- 2. the device ------------------------------------------------------------------------------------
if [[ "$BACKEND" != cpu ]]; then
  run_step probe 90 "${MAIN[@]}" probe
  echo "- $(cat "$OUT/probe.log" | grep '^cuda')" >> "$REPORT"
fi

# ---- 3. tests: ops parity (F16, BF16) and end-to-end greedy tokens --------------------------------------
if [[ "$BACKEND" != cpu ]]; then
  [[ -f "$B/junit-console.jar" ]] || die "no $B/junit-console.jar: run scripts/jlink-runtime.sh --bundle"
  # from engine/, as under Maven: KernelAbiTest reads ../kernels/ABI.md
  run_step tests 200 bash -c 'cd engine && "$0" "${@}"' "$JAVA" "${JOPTS[@]}" -jar "$B/junit-console.jar" execute \
    --class-path "$B/lib/engine-cuda-tests.jar:$(echo $B/lib/*.jar | tr ' ' ':')" \
    --select-package dev.lorastream.engine.ops.cuda --exclude-classname '.*\.Emulated.*' --reports-dir "$OUT/junit" --details summary --disable-banner
  { echo; echo "## Tests"; echo; echo '```'; grep -E 'tests (successful|failed|skipped|aborted)' "$OUT/tests.log"; echo '```'; } >> "$REPORT"
  # a failed test does not stop the check: the device figures below are still worth the lease; exit 1 at the end
  grep -q ' 0 tests failed' "$OUT/tests.log" || { say "GPU tests FAILED (tests.log, junit/): going on to the figures"; TESTS_FAILED=1; }
  # the GPU tests must have run, not been skipped (BackendsFallbackTest's no-GPU cases are skipped here)
  python3 - "$OUT/junit" <<'PY' || die "the GPU tests were skipped on the GPU machine (tests.log, junit/)"
import glob, sys, xml.etree.ElementTree as ET
ran = {}
for f in glob.glob(sys.argv[1] + "/*.xml"):
    for tc in ET.parse(f).getroot().iter("testcase"):
        cls = tc.get("classname", "").rsplit(".", 1)[-1]
        if cls in ("CudaOpsParityTest", "CudaEngineParityTest", "SampleKernelParityTest"):
            ran.setdefault(cls, [0, 0])[tc.find("skipped") is None] += 1
print("GPU tests (skipped, ran):", ran)
sys.exit(0 if len(ran) == 3 and all(v[0] == 0 and v[1] > 0 for v in ran.values()) else 1)
PY
fi

# ---- 4. model and adapters ----------------------------------------------------------------------------
if [[ "$BACKEND" == cpu ]]; then
  PRESET=(--preset tiny --dtype F16); BATCHES=(8); COUNTS=1,10; REAL=4; LINKS=10
  BENCH=(--max-tokens 4 --reps 1 --warmup-s 0 --bandwidth-mb 64 --prompt-len 8)
else
  PRESET=(--preset llama-7b-shape --dtype F16); COUNTS=1,100,1000; REAL=8; LINKS=1000
  # GPU_CHECK_BATCHES="32" gives a shorter check (about 2 minutes) when little device time is left
  read -r -a BATCHES <<< "${GPU_CHECK_BATCHES:-32 64 128}"
  BENCH=(--max-tokens 32 --reps 2 --warmup-s 2 --bandwidth-mb 1024 --prompt-len 16)
fi
MODEL="$WORK/model"; ADAPTERS="$WORK/adapters"
if [[ ! -f "$MODEL/config.json" ]]; then
  run_step make-model 150 "${MAIN[@]}" make-model "${PRESET[@]}" --out "$MODEL" --seed 1
fi
if [[ ! -d "$ADAPTERS/real" ]]; then
  run_step make-adapters 90 "${MAIN[@]}" make-adapters --model "$MODEL" --count "$REAL" --ranks 16 \
    --targets q,k,v,o,gate,up,down --out "$ADAPTERS/real" --seed 2
fi
# 1000 rank-16 adapters on all seven projections of a 7B model are ~80 GB: $REAL real ones, linked under
# $LINKS distinct names. The engine sees distinct adapters (own slots, own loads, distinct device memory), so
# the kernels do the same work as with distinct weights; only the values repeat.
mkdir -p "$ADAPTERS/named"
mapfile -t REALS < <(ls "$ADAPTERS/real" | sort)
(( ${#REALS[@]} > 0 )) || die "make-adapters wrote nothing to $ADAPTERS/real"
for ((i = 0; i < LINKS; i++)); do
  n=$(printf 'adapter-%04d' "$i")
  [[ -e "$ADAPTERS/named/$n" ]] || ln -s "$ADAPTERS/real/${REALS[$((i % ${#REALS[@]}))]}" "$ADAPTERS/named/$n"
done

# ---- 5. device figures: copy bandwidth and SGMV achieved bandwidth -----------------------------------
COPY_GBPS=""
if [[ "$BACKEND" != cpu ]]; then
  run_step device-bench 60 "${MAIN[@]}" device-bench 7
  COPY_GBPS=$(awk '$2=="copy_GBps"{print $3}' "$OUT/device-bench.log")
  { echo; echo "## Device"; echo; echo '```'; grep '^device-bench' "$OUT/device-bench.log"; echo '```'; } >> "$REPORT"
fi

# ---- 6. decode throughput per batch -------------------------------------------------------------------
for batch in "${BATCHES[@]}"; do
  run_step "bench-b$batch" 150 "${MAIN[@]}" bench engine --model "$MODEL" --adapters-dir "$ADAPTERS/named" \
    --backend "$BACKEND" --batch "$batch" --requests "$batch" --counts "$COUNTS" --serial-n 1 \
    --max-loras "$(( batch > 64 ? batch : 64 ))" --out "$OUT/bench-b$batch" "${BENCH[@]}"
done

# ---- 7. the summary: tokens/s and decode step over the floor (weights / device bandwidth) -------------
WEIGHT_BYTES=$(du -bc "$MODEL"/*.safetensors | tail -1 | cut -f1)
python3 - "$OUT" "$WEIGHT_BYTES" "${COPY_GBPS:-0}" "${BATCHES[@]}" >> "$REPORT" <<'PY' || die "summary failed"
import json, statistics, sys
out, wbytes, gbps, batches = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
floor_ms = wbytes / (gbps * 1e9) * 1e3 if gbps > 0 else None
print("\n## Decode (median over reps)\n")
print(f"weights {wbytes/1e9:.2f} GB" + (f", device copy {gbps:.0f} GB/s, floor {floor_ms:.2f} ms/step (weights only)" if floor_ms else ", no device bandwidth (cpu dry run)"))
print("\n| batch | mode | tok/s | decode step ms | step / floor |\n|---|---|---|---|---|")
for b in batches:
    runs = json.load(open(f"{out}/bench-b{b}/results.json"))["runs"]
    for mode in dict.fromkeys(r["mode"] for r in runs):
        rs = [r for r in runs if r["mode"] == mode]
        tok = statistics.median(r["generatedTokPerS"] for r in rs)
        step = statistics.median(r["meanDecodeStepMs"] for r in rs)
        ratio = f"{step / floor_ms:.2f}" if floor_ms else "-"
        print(f"| {b} | {mode} | {tok:.0f} | {step:.2f} | {ratio} |")
PY
say "done in $(( $(date +%s) - START ))s: $REPORT"
echo -e "\n- finished in $(( $(date +%s) - START ))s" >> "$REPORT"
if (( TESTS_FAILED )); then echo -e "\n**FAILED:** GPU tests (tests.log, junit/)" >> "$REPORT"; say "FAILED: GPU tests"; exit 1; fi
