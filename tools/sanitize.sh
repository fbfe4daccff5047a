#!/usr/bin/env bash
# A sanitizer build and the whole test suite under it, in one command:
#   tools/sanitize.sh address   ASan + UBSan  (build-asan/)
#   tools/sanitize.sh thread    TSan          (build-tsan/)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
kind="${1:-address}"
case "$kind" in
  address) dir="$here/build-asan"; export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
           export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" ;;
  thread)  dir="$here/build-tsan"; export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$here/tools/tsan.supp" ;;
  *) echo "usage: tools/sanitize.sh address|thread" >&2; exit 2 ;;
esac
ANNALS_SANITIZE="$kind" ANNALS_BUILD_DIR="$dir" "$here/tools/setup.sh"
ctest --test-dir "$dir" --output-on-failure -j 2
