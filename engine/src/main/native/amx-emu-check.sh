#!/bin/sh
# Checks the AMX matmul kernel (lorastream_amx.c) on any x86-64 CPU with AVX-512: builds it with the tile
# intrinsics emulated in plain C (-DLS_AMX_EMU, amx_emu.h), links it with lorastream_cpu.c (the real ls_pack_bf16,
# and ls_matmul_bf16dot to compare with) and amx_check.c, and runs the check (see amx_check.c for what it covers).
# Prints "amx emu check: N cases, 0 failed" and exits 0 when everything passed.
#
# Usage: amx-emu-check.sh [asan | o3 | native]
#   asan    (default) -O1 with AddressSanitizer and UndefinedBehaviorSanitizer: the emulated tile loads read exactly
#           the bytes the real ones would, so a read past w or xb is caught;
#   o3      the same at -O3 without sanitizers (the optimised build must give the same results);
#   native  real AMX instructions, no emulation (on a CPU with AMX-BF16 and Linux >= 5.16; exits 77 elsewhere).
# Environment: CC (default gcc; needs gcc >= 11 for native).
set -eu
mode=${1:-asan}
here=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-gcc}
case "$mode" in
  asan) flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -DLS_AMX_EMU" ;;
  o3) flags="-O3 -DLS_AMX_EMU" ;;
  native) flags="-O2 -g" ;;
  *)
    echo "usage: $0 [asan | o3 | native]" >&2
    exit 2
    ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Our files must compile without warnings; lorastream_cpu.c is compiled as build.sh compiles it.
# shellcheck disable=SC2086  # flags is a list
"$CC" $flags -Wall -Wextra -Werror -c -o "$tmp/amx.o" "$here/lorastream_amx.c"
# shellcheck disable=SC2086
"$CC" $flags -Wall -Wextra -Werror -c -o "$tmp/check.o" "$here/amx_check.c"
# shellcheck disable=SC2086
"$CC" $flags -Wall -Wextra -c -o "$tmp/cpu.o" "$here/lorastream_cpu.c"
# shellcheck disable=SC2086
"$CC" $flags -o "$tmp/amx_check" "$tmp/check.o" "$tmp/amx.o" "$tmp/cpu.o" -lm -pthread
echo "amx check: built with $CC $("$CC" -dumpfullversion 2>/dev/null || "$CC" -dumpversion) $flags"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} "$tmp/amx_check"
