#!/usr/bin/env sh
# lorastream CUDA kernel emulator: builds OUT_DIR/liblorastream_emu.so from the unchanged kernel sources
# (kernels/src/main/cuda/*/*_all.cu) and the emulator in this folder, with g++ and the CUDA headers.
#
# TEST TOOL ONLY: the library runs the real kernel sources on the CPU (one fiber per CUDA thread) to check
# argument order, indexing, arithmetic and barrier placement (deadlocks, races via thread-order permutation).
# It does NOT check PTX/JIT, the real memory model, warp-synchronous code without explicit syncs, timing, or
# driver behaviour, and it never replaces the GPU path.
#
# Usage:  build-emu.sh OUT_DIR              build (skipped when the inputs' hash matches OUT_DIR's stamp);
#                                           prints the .so path on stdout
#         build-emu.sh --selftest OUT_DIR   build, then build and run OUT_DIR/emu_selftest (the runtime's tests)
#         build-emu.sh --check OUT_DIR      build, then build and run OUT_DIR/emu_kernel_check (every kernel
#                                           once vs naive C++ references, forward/reverse/2 workers)
# Exit status: 0 ok; 3 toolchain missing (one line on stdout saying what and how to install it, for tests
# to skip with); anything else: build or self-test failure (compiler output on stderr).
# Environment: CXX (default g++), CUDA_HOME (headers in $CUDA_HOME/include only; unset: /usr/local/cuda/include,
# then /usr/include), EMU_JOBS (parallel compiles, default: number of CPUs), EMU_CXXFLAGS (extra flags, e.g.
# -DEMU_USE_UCONTEXT or -O0), EMU_SANITIZE=0 (no memory-access checks in the kernels).
set -eu

if [ "${1:-}" = "--compile-one" ]; then  # internal: one translation unit, run by xargs below
  # $2 = build dir, $3 = unit name (gen/<unit>.cpp or the emu folder's <unit>.cpp)
  src="$2/gen/$3.cpp"
  [ -f "$src" ] || src="$EMU_HERE/$3.cpp"
  san=
  case "$3" in emu_family_*) san=$EMU_SAN_FLAGS ;; esac
  # shellcheck disable=SC2086
  exec "$EMU_CXX" $EMU_FLAGS $san -c "$src" -o "$2/obj/$3.o"
fi

selftest=0
check=0
while :; do
  case "${1:-}" in
    --selftest) selftest=1; shift ;;
    --check) check=1; shift ;;
    *) break ;;
  esac
done
if [ $# -ne 1 ]; then
  echo "usage: $0 [--selftest] [--check] OUT_DIR" >&2
  exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)        # kernels/src/test/emu
cuda_src=$(cd "$here/../../main/cuda" && pwd)
CXX=${CXX:-g++}

# ---- Toolchain ---------------------------------------------------------------------------------------------
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "lorastream-emu: C++ compiler '$CXX' not found; install g++ >= 11 (Debian/Ubuntu: apt-get install g++) or set CXX"
  exit 3
fi
major=$("$CXX" -dumpversion 2>/dev/null | cut -d. -f1)
case "$major" in ''|*[!0-9]*) major=0 ;; esac
if [ "$major" -lt 11 ]; then
  echo "lorastream-emu: $CXX $("$CXX" -dumpversion 2>/dev/null) is too old (needs g++ >= 11 for C++20 <source_location>); install a newer g++ (apt-get install g++-12) and set CXX"
  exit 3
fi
# CUDA_HOME, when set, is the only place looked at (an explicit choice is not second-guessed).
if [ -n "${CUDA_HOME:-}" ]; then candidates="$CUDA_HOME/include"; else candidates="/usr/local/cuda/include /usr/include"; fi
cuda_inc=
for d in $candidates; do
  if [ -f "$d/cuda_fp16.h" ] && [ -f "$d/cuda_bf16.h" ] && [ -f "$d/vector_types.h" ]; then cuda_inc=$d; break; fi
done
if [ -z "$cuda_inc" ]; then
  echo "lorastream-emu: CUDA toolkit headers (cuda_fp16.h, cuda_bf16.h, vector_types.h) not found in $candidates; install the CUDA toolkit headers (e.g. apt-get install cuda-toolkit-13-0 from NVIDIA's repository, or nvidia-cuda-toolkit) or set CUDA_HOME"
  exit 3
fi

# -fno-strict-aliasing: the kernels type-pun through reinterpret_cast (uint4 loads of __half rows), which CUDA
# allows and g++ -O2 would otherwise be free to miscompile. -ffp-contract=off: no FMA the source does not write.
flags="-std=c++20 -O2 -g -fPIC -fvisibility=hidden -fno-strict-aliasing -fno-fast-math -ffp-contract=off -pthread"
flags="$flags -Wall -Wno-unknown-pragmas -Wno-sign-compare ${EMU_CXXFLAGS:-}"
flags="$flags -I$here/include -I$cuda_inc -I$here -I$cuda_src"
# Kernel code only: misaligned, null and fixed-size-array out-of-bounds accesses call the handlers in
# emu_runtime.cpp, which fail the launch (the GPU would fault or corrupt memory; x86 would not notice). No
# sanitizer runtime is linked. EMU_SANITIZE=0 turns this off.
sanitize="-fsanitize=alignment,null,bounds -fsanitize-recover=alignment,null,bounds"
[ "${EMU_SANITIZE:-1}" != 0 ] || sanitize=

mkdir -p "$1"
out=$(cd "$1" && pwd)

# ---- Stamp: hash of every input ------------------------------------------------------------------------------
inputs_hash() {
  {
    (cd "$cuda_src" && find . -type f | LC_ALL=C sort | while IFS= read -r f; do echo "$f"; sha256sum < "$f"; done)
    for f in "$here"/include/*.h "$here"/*.h "$here"/emu_runtime.cpp "$here"/build-emu.sh; do
      [ -f "$f" ] && { echo "${f#"$here"/}"; sha256sum < "$f"; }
    done
    for f in cuda_fp16.h cuda_fp16.hpp cuda_bf16.h cuda_bf16.hpp vector_types.h; do
      [ -f "$cuda_inc/$f" ] && sha256sum < "$cuda_inc/$f"
    done
    "$CXX" --version
    echo "$flags $sanitize" | sed "s#$here#EMU#g; s#$cuda_src#SRC#g"
  } | sha256sum | cut -c1-64
}

lib="$out/liblorastream_emu.so"
stamp="$out/liblorastream_emu.stamp"
hash=$(inputs_hash)
if [ -f "$lib" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
  :  # up to date
else
  start=$(date +%s)
  tmp=$(mktemp -d "$out/.emu-build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/gen" "$tmp/obj"
  units=emu_runtime
  # One translation unit per family (as nvcc compiles them), with a generated kernel table: a `g++ -E` pass
  # with marker definitions of __global__ / __launch_bounds__ gives each kernel's name and bound expression.
  for dir in "$cuda_src"/*/; do
    fam=$(basename "$dir")
    [ -f "$dir/${fam}_all.cu" ] || continue
    # shellcheck disable=SC2086
    "$CXX" $flags -DEMU_GENERATE_TABLE -E -P -include "$here/include/cuda_emu.h" -x c++ "$dir/${fam}_all.cu" \
      -o "$tmp/gen/$fam.i"
    # One line per __global__ declaration (declarations may span lines; -E output has no comments).
    tr '\n\t' '  ' < "$tmp/gen/$fam.i" | tr -s ' ' | sed 's/EMU_GLOBAL/\
EMU_GLOBAL/g' | awk -v fam="$fam" '
      /^EMU_GLOBAL / {
        line = $0
        sub(/^EMU_GLOBAL +void +/, "", line)
        lb = "1024"  # no __launch_bounds__: the hardware limit
        if (line ~ /^EMU_LB_BEGIN /) {
          i = index(line, " EMU_LB_END ")
          lb = substr(line, 14, i - 14)
          line = substr(line, i + 12)
        }
        if (!match(line, /^[A-Za-z_][A-Za-z0-9_]*/) || substr(line, RLENGTH + 1) !~ /^ *\(/) {
          print "build-emu.sh: cannot parse a __global__ declaration in " fam ": " substr($0, 1, 160) > "/dev/stderr"
          bad = 1
          next
        }
        name = substr(line, 1, RLENGTH)
        printf "    {\"%s\", ::emu::launch_bound(%s), &::emu::Invoker<&::%s>::call, ::emu::Invoker<&::%s>::codes},\n", name, lb, name, name
        n++
      }
      END { if (bad) exit 1; if (!n) exit 3 }' > "$tmp/gen/$fam.entries" || {
      rc=$?
      if [ $rc -eq 3 ]; then echo "build-emu.sh: no __global__ kernels in $fam/${fam}_all.cu (skipped)" >&2; continue; fi
      exit 1
    }
    {
      echo "// Generated by kernels/src/test/emu/build-emu.sh from $fam/${fam}_all.cu: the family's kernel table."
      echo "// TEST TOOL ONLY (lorastream CUDA kernel emulator; see include/cuda_emu.h). Do not edit."
      echo "#include \"$fam/${fam}_all.cu\""
      echo "#include \"emu_internal.h\""
      echo "namespace {"
      echo "const ::emu::KernelEntry kEntries[] = {"
      cat "$tmp/gen/$fam.entries"
      echo "};"
      echo "[[maybe_unused]] const int kRegistered ="
      echo "    (::emu::register_kernels(kEntries, (int)(sizeof kEntries / sizeof kEntries[0])), 0);"
      echo "}  // namespace"
    } > "$tmp/gen/emu_family_$fam.cpp"
    units="$units emu_family_$fam"
  done
  jobs=${EMU_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
  export EMU_CXX="$CXX" EMU_FLAGS="-include $here/include/cuda_emu.h $flags" EMU_HERE="$here" EMU_SAN_FLAGS="$sanitize"
  # shellcheck disable=SC2086
  printf '%s\n' $units | xargs -P "$jobs" -n 1 sh "$here/build-emu.sh" --compile-one "$tmp" >&2 || {
    echo "build-emu.sh: compilation failed" >&2
    exit 1
  }
  # shellcheck disable=SC2086
  "$CXX" -shared -pthread -Wl,-soname,liblorastream_emu.so -o "$tmp/liblorastream_emu.so" "$tmp"/obj/*.o
  mkdir -p "$out/gen"
  cp "$tmp"/gen/*.cpp "$out/gen/"      # kept for reading and debugging
  mv -f "$tmp/liblorastream_emu.so" "$lib"  # atomic: a concurrent reader sees the old or the new library
  echo "$hash" > "$stamp"
  echo "build-emu.sh: built $lib in $(( $(date +%s) - start )) s" >&2
fi

# Test programs (linked against the library, rebuilt when it or their source changes) are run with their
# report on stderr.
run_test() {  # $1: program name (source $here/$1.cpp)
  exe="$out/$1"
  tstamp="$out/$1.stamp"
  thash="$hash-$(sha256sum < "$here/$1.cpp" | cut -c1-64)"
  if ! { [ -x "$exe" ] && [ -f "$tstamp" ] && [ "$(cat "$tstamp")" = "$thash" ]; }; then
    # Compiled with the kernels' checks (their handlers are in the library), linked without a sanitizer runtime.
    # shellcheck disable=SC2086
    "$CXX" -include "$here/include/cuda_emu.h" $flags $sanitize -c -o "$exe.$$.o" "$here/$1.cpp"
    "$CXX" -pthread -o "$exe.$$.tmp" "$exe.$$.o" -L"$out" -llorastream_emu -Wl,-rpath,'$ORIGIN'
    rm -f "$exe.$$.o"
    mv -f "$exe.$$.tmp" "$exe"
    echo "$thash" > "$tstamp"
  fi
  "$exe" >&2
}
[ $selftest -eq 0 ] || run_test emu_selftest
[ $check -eq 0 ] || run_test emu_kernel_check
echo "$lib"
