#!/usr/bin/env bash
# annalsd over HTTP, measured with wrk beside the baselines a user would otherwise pick, in one
# run on this machine (docs/BENCHMARKS.md, "HTTP"):
#   append-64      POST /api/v1/events, one ~450-byte event per request (structured mode), 64
#                  connections, each acknowledged after its fsync; against PostgreSQL with 64
#                  pgbench clients inserting the same event, one per transaction (the anchors'
#                  invocation; target >= 5x)
#   registry-card  GET /.well-known/registry-card.json  } against nginx serving the same bytes
#   discover       GET /api/v1/discover?query=...       } as a static file (target >= 0.5x)
# Prints requests/s, p50 and p99 latencies and the ratios: a table, or with --json
# {"workloads":[{"name","events_per_s","baseline","baseline_events_per_s","ratio","p50_ms",
# "p99_ms","target",...}]} as `annalsctl bench --json` prints.
#   tools/setup.sh --bench && tools/bench_http.sh [--quick] [--json]
# Environment: ANNALS_BUILD_DIR (default build/), ANNALS_ANCHORS (default ../shared/anchors),
# ANNALS_PG64_TPS: the PostgreSQL 64-client figure already measured in this run (what
# tools/bench_baselines.sh passes); unset, this script runs that baseline itself.
# ANNALS_BENCH_QUERY: the discover query (default "insurance claims": two words of median
# frequency in the sample's Zipf vocabulary).
# Everything listens on 127.0.0.1 only, on free ports, with its data in a temp dir removed after.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${ANNALS_BUILD_DIR:-$here/build}"
anchors="${ANNALS_ANCHORS:-$here/../shared/anchors}"
quick=0 json=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --json) json=1 ;;
    *) echo "usage: tools/bench_http.sh [--quick] [--json]" >&2; exit 2 ;;
  esac
done
# Seconds of each measured wrk run (after a warm-up), agents in the sample registry.
if ((quick)); then seconds=5 warmup=1 agents=2000; else seconds=20 warmup=3 agents=20000; fi
connections=64 threads=2
query="${ANNALS_BENCH_QUERY:-insurance claims}"

say() { echo "bench_http: $*" >&2; }
die() { say "$*"; exit 2; }
command -v wrk >/dev/null || die "wrk is missing (tools/setup.sh --bench installs it)"
for bin in annalsd annalsctl; do
  [[ -x "$build/bin/$bin" ]] || die "no $build/bin/$bin (build first, or set ANNALS_BUILD_DIR)"
done
nginx_bin="$(command -v nginx || true)"
[[ -n "$nginx_bin" || ! -x /usr/sbin/nginx ]] || nginx_bin=/usr/sbin/nginx

work="$(mktemp -d /tmp/annals-http-XXXXXX)"
chmod 755 "$work"  # nginx's workers and PostgreSQL run as other users
pids=()
pg_data=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "$pg_data" ]]; then
    su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D $pg_data stop -m fast" >/dev/null 2>&1 ||
      true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A port nothing listens on now (the server started on it checks again by binding).
free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  say "no free port found"
  exit 2
}

# Waits until `url` answers 200 (at most `tries` tenths of a second).
wait_ok() {
  local url="$1" tries="$2"
  for _ in $(seq 1 "$tries"); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------------------------- annalsd
# A sample registry (agents, peers, cards) and this registry's card, imported before the
# server starts; then annalsd on a free port (it prints the port it chose).
start_annalsd() {
  local data="$work/annals" card
  card='{"specversion":"1.0","id":"bench-card","source":"/bench","type":"registry.card.edited.v1",'
  card+='"subject":"registry-card","datacontenttype":"application/json",'
  card+='"data":{"name":"Bench registry",'
  card+='"description":"annals under wrk","capabilities":["discovery"],'
  card+='"endpoints":{"api":"http://127.0.0.1/api/v1"},"identity":{"did":"did:web:bench.example"}}}'
  say "importing a sample registry of $agents agents"
  { "$build/bin/annalsctl" sample --agents "$agents"; echo "$card"; } |
    "$build/bin/annalsctl" --data "$data" import - >/dev/null
  "$build/bin/annalsd" --data "$data" --listen 127.0.0.1:0 --log-level warn \
    >"$work/annalsd.out" 2>"$work/annalsd.err" &
  pids+=($!)
  for _ in $(seq 1 300); do
    annals_url="$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work/annalsd.out" || true)"
    [[ -n "$annals_url" ]] && break
    sleep 0.1
  done
  [[ -n "$annals_url" ]] || { cat "$work/annalsd.err" >&2; die "annalsd did not start"; }
  wait_ok "$annals_url/readyz" 3000 || die "annalsd's views did not catch up"
  say "annalsd at $annals_url"
}

# -------------------------------------------------------------------------------------- nginx
# nginx (2 workers, as in the anchors' figure) serving `files` from a root of its own.
start_nginx() {
  local dir="$work/nginx" port
  mkdir -p "$dir/root" "$dir/tmp"
  cp "$work/registry-card.json" "$work/discover.json" "$dir/root/"
  chmod -R a+rX "$dir"
  for _ in 1 2 3; do
    port="$(free_port)"
    cat >"$dir/nginx.conf" <<CONF
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $dir/root;
  }
}
CONF
    "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' \
      2>"$dir/stderr.log" &
    pids+=($!)
    nginx_url="http://127.0.0.1:$port"
    wait_ok "$nginx_url/registry-card.json" 50 && return 0
  done
  cat "$dir/error.log" "$dir/stderr.log" >&2
  die "nginx did not start"
}

# ---------------------------------------------------------------------------------------- wrk
# Runs wrk for `seconds` (after a warm-up) against `url`, output in $work/<name>.txt; with a
# `script`, wrk runs it with the run's name as its argument (a warm-up's differs).
measure() {
  local name="$1" url="$2" script="${3:-}" refused errors
  local -a with_script=() warm_args=() run_args=()
  if [[ -n "$script" ]]; then
    with_script=(-s "$script")
    warm_args=(-- "$name-warmup")
    run_args=(-- "$name")
  fi
  say "$name: $url"
  wrk -t"$threads" -c"$connections" -d"${warmup}s" "${with_script[@]}" "$url" "${warm_args[@]}" \
    >/dev/null
  wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "${with_script[@]}" "$url" \
    "${run_args[@]}" >"$work/$name.txt"
  refused="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$work/$name.txt")"
  errors="$(grep -E '^ *Socket errors:' "$work/$name.txt" || true)"
  [[ -z "$refused" ]] || die "$name: $refused answers were not 2xx ($url)"
  [[ -z "$errors" ]] || say "$name: $errors"
}

rate() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$work/$1.txt"; }
# The latency at percentile `2` ("50%", "99%") of run `1`, in ms.
latency_ms() {
  awk -v p="$2" '$1 == p {
    v = $2; unit = v; sub(/^[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
    printf "%.3f", v * (unit == "us" ? 0.001 : unit == "s" ? 1000 : unit == "m" ? 60000 : 1)
  }' "$work/$1.txt"
}

# ------------------------------------------------------------------------------ PostgreSQL
# The anchors' PostgreSQL baseline (anchors/run.sh's invocation): one event per transaction, 64
# clients, 8 s. Sets pg64 to its tps, or leaves it empty and says why.
run_pg64() {
  local pgbin=/usr/lib/postgresql/15/bin port
  [[ -x "$pgbin/pgbench" ]] || { say "PostgreSQL 15 is missing (tools/setup.sh --bench)"; return; }
  [[ $(id -u) -eq 0 ]] || { say "the PostgreSQL baseline runs as root (su postgres)"; return; }
  [[ -f "$anchors/pg_append_one.pgb" ]] ||
    { say "no anchors at $anchors (set ANNALS_ANCHORS)"; return; }
  port="$(free_port)"
  pg_data="$work/pg"
  mkdir -p "$pg_data" && chown postgres "$pg_data" "$work"
  su postgres -c "$pgbin/initdb -D $pg_data -A trust" >/dev/null
  su postgres -c "$pgbin/pg_ctl -D $pg_data -o '-p $port -k $work -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=4GB' -l $work/pg.log start" >/dev/null
  psql -h "$work" -p "$port" -U postgres -q -f "$anchors/pg_events.sql" postgres
  "$pgbin/pgbench" -h "$work" -p "$port" -U postgres -n -f "$anchors/pg_append_one.pgb" \
    -c 64 -j 2 -T 8 postgres >"$work/pgbench.txt"
  pg64="$(awk '/^tps/ { printf "%.0f", $3 }' "$work/pgbench.txt")"
  su postgres -c "$pgbin/pg_ctl -D $pg_data stop -m fast" >/dev/null
  pg_data=""
}

# ---------------------------------------------------------------------------------- the run
start_annalsd
card_path="/.well-known/registry-card.json"
discover_path="/api/v1/discover?query=$(printf '%s' "$query" | sed 's/ /%20/g')&limit=20"
curl -sf "$annals_url$card_path" -o "$work/registry-card.json" || die "no registry card"
curl -sf "$annals_url$discover_path" -o "$work/discover.json" || die "discover failed"

measure append-64 "$annals_url/api/v1/events" "$here/tools/bench/post_event.lua"
measure registry-card "$annals_url$card_path"
measure discover "$annals_url$discover_path"

nginx_note=""
if [[ -n "$nginx_bin" ]]; then
  start_nginx
  measure nginx-registry-card "$nginx_url/registry-card.json"
  measure nginx-discover "$nginx_url/discover.json"
else
  nginx_note="nginx is missing (tools/setup.sh --bench installs it): no nginx comparison"
  say "$nginx_note"
fi

pg64="${ANNALS_PG64_TPS:-}"
if [[ -z "$pg64" ]]; then
  say "PostgreSQL, 64 clients (the anchors' pgbench, 8 s)"
  run_pg64
fi
[[ -z "$pg64" ]] || pg64="$(awk -v t="$pg64" 'BEGIN { printf "%.0f", t }')"

# ------------------------------------------------------------------------------- reporting
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "null" }'; }
or_null() { if [[ -n "$1" ]]; then echo "$1"; else echo null; fi; }

# name, annals run, baseline description, baseline req/s, baseline run ("" : none), target
rows=()
row() { rows+=("$1|$2|$3|$4|$5|$6"); }
row append-64 append-64 "PostgreSQL, 64 clients, one event per transaction" "$pg64" "" ">= 5"
for w in registry-card discover; do
  if [[ -n "$nginx_bin" ]]; then
    row "$w" "$w" "nginx, the same bytes as a static file" "$(rate "nginx-$w")" "nginx-$w" ">= 0.5"
  else
    row "$w" "$w" "nginx (missing)" "" "" ">= 0.5"
  fi
done

if ((json)); then
  out='{"workloads":['
  sep=""
  for r in "${rows[@]}"; do
    IFS='|' read -r name run base base_rate base_run target <<<"$r"
    out+="$sep{\"name\":\"http-$name\",\"events_per_s\":$(rate "$run"),\"baseline\":\"$base\""
    out+=",\"baseline_events_per_s\":$(or_null "$base_rate")"
    out+=",\"ratio\":$(ratio "$(rate "$run")" "${base_rate:-0}")"
    out+=",\"p50_ms\":$(latency_ms "$run" 50%),\"p99_ms\":$(latency_ms "$run" 99%)"
    if [[ -n "$base_run" ]]; then
      out+=",\"baseline_p50_ms\":$(latency_ms "$base_run" 50%)"
      out+=",\"baseline_p99_ms\":$(latency_ms "$base_run" 99%)"
    fi
    out+=",\"target\":\"$target\"}"
    sep=","
  done
  echo "$out]}"
  exit 0
fi

echo "== HTTP ($threads wrk threads, $connections connections, ${seconds} s per run;" \
  "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-14s %10s %8s %8s   %-52s %10s %8s %8s %6s %7s\n' workload "req/s" "p50 ms" "p99 ms" \
  baseline "req/s" "p50 ms" "p99 ms" ratio target
for r in "${rows[@]}"; do
  IFS='|' read -r name run base base_rate base_run target <<<"$r"
  b50="-" b99="-"
  if [[ -n "$base_run" ]]; then
    b50="$(latency_ms "$base_run" 50%)" b99="$(latency_ms "$base_run" 99%)"
  fi
  printf '%-14s %10s %8s %8s   %-52s %10s %8s %8s %6s %7s\n' "$name" "$(rate "$run")" \
    "$(latency_ms "$run" 50%)" "$(latency_ms "$run" 99%)" "$base" "${base_rate:--}" "$b50" "$b99" \
    "$(ratio "$(rate "$run")" "${base_rate:-0}")" "$target"
done
matches="$(grep -oE '"total":[0-9]+' "$work/discover.json" | cut -d: -f2)"
echo "bytes: registry card $(wc -c <"$work/registry-card.json"), discover $(wc -c <"$work/discover.json")" \
  "(query \"$query\": $matches agents match, 20 per page; a sample of $agents registered agents)"
[[ -z "$nginx_note" ]] || echo "$nginx_note"
