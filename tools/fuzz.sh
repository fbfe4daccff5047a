#!/usr/bin/env bash
# Builds the CloudEvents JSON parser's libFuzzer target with clang-14 (ASan + UBSan) and runs it.
#   tools/fuzz.sh [seconds]   (default 60)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
for p in clang-14 libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]:-0})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
dir="$here/build-fuzz"
CC=clang-14 CXX=clang++-14 cmake -S "$here" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DANNALS_FUZZ=ON >/dev/null
cmake --build "$dir" --target cloudevent_fuzz
mkdir -p "$dir/corpus"
"$dir/bin/cloudevent_fuzz" -max_total_time="$seconds" -max_len=4096 "$dir/corpus"
