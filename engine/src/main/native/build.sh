#!/bin/sh
# Builds lorastream's native CPU kernels (lorastream_cpu.c, and the AMX kernel lorastream_amx.c) into
# OUT_DIR/liblorastream_cpu.so; run by the engine module's Maven build (generate-resources), so the library ships
# inside the engine jar.
#
# Usage: build.sh OUT_DIR
# Environment: CC (default gcc).
# Never fails the build: on a machine that is not x86-64 Linux, without a C compiler, or with one too old for
# AVX512_BF16 (gcc >= 9), it prints why and builds nothing; the engine then runs its Java kernels and says so.
# One library serves every x86-64 CPU: each kernel carries its own target attribute and the engine picks one by
# what ls_cpu_features() reports at start (no -march=native here). The AMX kernel needs gcc >= 11 (and binutils
# >= 2.36); with an older compiler the library is built with -DLS_NO_AMX (ls_amx_init then answers EOPNOTSUPP and
# there is no ls_matmul_amx), and the script says so.
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
here=$(cd "$(dirname "$0")" && pwd)
src="$here/lorastream_cpu.c"
amx="$here/lorastream_amx.c"
lib="$out/liblorastream_cpu.so"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *)
    echo "lorastream native CPU kernels: not built on $(uname -s)-$(uname -m) (x86-64 Linux only); the engine will use its Java kernels"
    exit 0
    ;;
esac
CC=${CC:-gcc}
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "lorastream native CPU kernels: C compiler '$CC' not found (Debian: apt-get install gcc); the engine will use its Java kernels"
  exit 0
fi
if [ -f "$lib" ] && [ "$lib" -nt "$src" ] && [ "$lib" -nt "$amx" ] && [ "$lib" -nt "$here/amx_emu.h" ] \
    && [ "$lib" -nt "$0" ]; then
  exit 0  # up to date
fi
mkdir -p "$out"
# Can this compiler (and assembler) build AMX code? A function with the target attribute and two tile intrinsics.
amxflag=
if ! printf '%s\n' '#include <immintrin.h>' \
    '__attribute__((target("amx-tile,amx-bf16"))) void probe(void) { _tile_dpbf16ps(4, 0, 2); _tile_release(); }' \
    | "$CC" -x c -c -o /dev/null - >/dev/null 2>&1; then
  amxflag=-DLS_NO_AMX
  echo "lorastream native CPU kernels: $CC cannot build AMX code (it needs gcc >= 11, binutils >= 2.36); building without the AMX kernel"
fi
if "$CC" -O3 -fPIC -shared -fvisibility=hidden -Wall -Wextra $amxflag -o "$lib.tmp" "$src" "$amx" -lm; then
  mv "$lib.tmp" "$lib"
  echo "lorastream native CPU kernels: built $lib with $("$CC" -dumpfullversion 2>/dev/null || "$CC" -dumpversion)"
else
  rm -f "$lib.tmp"
  echo "lorastream native CPU kernels: $CC could not build $src and $amx (they need AVX512_BF16 support: gcc >= 9); the engine will use its Java kernels"
fi
