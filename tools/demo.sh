#!/usr/bin/env bash
# A walk through annalsctl on the default data directory (./annals-data); the main job is the
# server, build/bin/annalsd (README.md). Imports the example registry events, reads them back, verifies the chain and
# prints the ledger's stats. Run it twice: the second import answers "duplicate" for every event
# and writes nothing (dedup never forgets).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
ctl="${ANNALS_BUILD_DIR:-$here/build}/bin/annalsctl"
data="${ANNALS_DATA:-./annals-data}"
echo "== import docs/examples/registry-events.jsonl into $data"
"$ctl" --data "$data" import "$here/docs/examples/registry-events.jsonl"
echo "== read the agent's stream"
"$ctl" --data "$data" read --stream "agent-did:web:acme.example:agents:analyst"
echo "== verify every digest and the hash chain"
"$ctl" --data "$data" verify
echo "== stats"
"$ctl" --data "$data" stats
