#!/usr/bin/env bash
# annals beside the baselines a user would otherwise pick, in one run on this machine:
# raw RocksDB (inside `annalsctl bench`), PostgreSQL and NATS JetStream (../shared/anchors); then
# annalsd over HTTP (tools/bench_http.sh) against the same run's PostgreSQL and nginx.
# Prints every figure and the ratios the issue sets targets for.
#   tools/setup.sh --bench && tools/bench_baselines.sh [--quick]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
anchors="${ANNALS_ANCHORS:-$here/../shared/anchors}"
ctl="${ANNALS_BUILD_DIR:-$here/build}/bin/annalsctl"
work="$(mktemp -d /tmp/annals-baselines-XXXXXX)"
chmod 755 "$work"  # the PostgreSQL baseline runs as the postgres user
trap 'rm -rf "$work"' EXIT
[[ -x "$anchors/run.sh" ]] || { echo "no anchors at $anchors (set ANNALS_ANCHORS)" >&2; exit 2; }

echo "== annals (annalsctl bench ${1:-})"
"$ctl" bench ${1:-} --only single-writer,concurrent-64,batch-256,read-all | tee "$work/annals.txt"
echo
echo "== baselines (anchors/run.sh)"
bash "$anchors/run.sh" "$work/anchors" 2>&1 | tee "$work/anchors.txt"

annals_rate() { awk -v w="$1" '$1 == w { print $2 }' "$work/annals.txt"; }
pg_tps() { grep -E "^postgres $1" "$work/anchors.txt" | grep -oE 'tps = [0-9.]+' | awk '{print $3}'; }
js_rate() { grep -E "^jetstream $1" "$work/anchors.txt" | grep -oE '[0-9]+ msgs/s' | awk '{print $1}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }

c64=$(annals_rate concurrent-64)
# The ceiling of any ledger with 64 blocking callers here (annalsctl bench, concurrent-64-ceiling).
ceiling=$(awk '$1 == "concurrent-64-ceiling" { print $3 }' "$work/annals.txt")
single=$(annals_rate single-writer)
batch=$(annals_rate batch-256)
pg1=$(pg_tps "one event per transaction, 1 clients")
pg64=$(pg_tps "one event per transaction, 64 clients")
pgb=$(awk -v t="$(pg_tps "256 events per transaction")" 'BEGIN { printf "%.0f", t * 256 }')
jss=$(js_rate sync)
jsa=$(js_rate async)
echo
echo "== ratios (annals / baseline)"
printf '%-52s %10s %10s %6s\n' "comparison" "annals" "baseline" "ratio"
printf '%-52s %10s %10s %6s\n' "concurrent-64 vs PostgreSQL 64 clients (target 10)" "$c64" "$pg64" "$(ratio "$c64" "$pg64")"
printf '%-52s %10s %10s %6s\n' "10 x PostgreSQL 64 clients vs the hand-off ceiling" \
  "$(awk -v t="$pg64" 'BEGIN { printf "%.0f", 10 * t }')" "$ceiling" \
  "$(ratio "$(awk -v t="$pg64" 'BEGIN { print 10 * t }')" "$ceiling")"
printf '%-52s %10s %10s %6s\n' "concurrent-64 vs the hand-off ceiling" "$c64" "$ceiling" "$(ratio "$c64" "$ceiling")"
printf '%-52s %10s %10s %6s\n' "single-writer vs PostgreSQL 1 client" "$single" "$pg1" "$(ratio "$single" "$pg1")"
printf '%-52s %10s %10s %6s\n' "batch-256 vs PostgreSQL 256 per transaction" "$batch" "$pgb" "$(ratio "$batch" "$pgb")"
printf '%-52s %10s %10s %6s\n' "single-writer vs JetStream sync publish (no fsync)" "$single" "$jss" "$(ratio "$single" "$jss")"
printf '%-52s %10s %10s %6s\n' "concurrent-64 vs JetStream async publish (no fsync)" "$c64" "$jsa" "$(ratio "$c64" "$jsa")"

echo
echo "== HTTP (tools/bench_http.sh ${1:-}; PostgreSQL 64 clients from the run above)"
ANNALS_PG64_TPS="$pg64" "$here/tools/bench_http.sh" ${1:+"$1"}
