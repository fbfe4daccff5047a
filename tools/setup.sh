#!/usr/bin/env bash
# Installs what annals needs from Debian 12's archive (only what is missing), then configures
# and builds into build/ (or $ANNALS_BUILD_DIR). Idempotent: a second run installs nothing and
# rebuilds only what changed.
#   tools/setup.sh            the build and test dependencies, then the build
#   tools/setup.sh --bench    also what the benchmarks' baselines need (PostgreSQL, nats-server,
#                             wrk, nginx)
#   ANNALS_SANITIZE=address|thread tools/setup.sh   a sanitizer build (docs/DEVELOPING.md)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
packages=(
  build-essential cmake ninja-build pkg-config
  librocksdb-dev libprotobuf-dev protobuf-compiler libssl-dev libsimdjson-dev
  libfmt-dev libcli11-dev doctest-dev libspdlog-dev libtomlplusplus-dev
  libboost1.81-dev libboost-json1.81-dev prometheus-cpp-dev libnats-dev nats-server
  libbenchmark-dev libjemalloc-dev
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(postgresql wrk nginx)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
build="${ANNALS_BUILD_DIR:-$here/build}"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DANNALS_SANITIZE="${ANNALS_SANITIZE:-}" >/dev/null
cmake --build "$build" -j "$(nproc)"
