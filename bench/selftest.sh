#!/usr/bin/env bash
# bench/selftest.sh - does the load generator catch what it claims to catch?
# Runs build/loadgen against the node-ws peer with each injected fault (PEER_FAULT=drop,
# dup, reorder, misroute: one delivery in 500 spoiled) and expects exit 1 with that
# counter above 0; then once without a fault, expecting exit 0 and all counters 0.
# Also: a wrong port must fail fast (exit 2). Needs node and bench/peers/node-ws/node_modules.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADGEN=$ROOT/build/loadgen
PEER=$ROOT/bench/peers/node-ws
if ! command -v node >/dev/null || [ ! -d "$PEER/node_modules/ws" ]; then
    if [ "${CI:-}" = true ]; then echo "selftest: node-ws peer missing" >&2; exit 1; fi
    echo "SKIP: bench-selftest: node or $PEER/node_modules missing (make bench-peers installs it)"
    exit 0
fi
TMPD=$(mktemp -d)
SRV=""
stop() { [ -n "$SRV" ] && { kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; }; SRV=""; }
trap 'stop; rm -rf "$TMPD"' EXIT
pass=0 fail=0
check() { # fault expected_field
    local fault=$1 field=$2 port fifo fd line out rc v
    port=$("$LOADGEN" --free-port)
    fifo=$TMPD/f.$RANDOM; mkfifo "$fifo"
    PEER_FAULT=$fault node "$PEER/server.js" "$port" >"$fifo" 2>&1 &
    SRV=$!
    exec {fd}<"$fifo"; rm -f "$fifo"
    IFS= read -r -t 15 -u "$fd" line
    exec {fd}<&-
    out=$("$LOADGEN" --port "$port" --conns 100 --groups 4 --publishers 8 --window 8 \
          --seconds 2 --max-seconds 30 --json 2>/dev/null)
    rc=$?
    stop
    if [ -z "$field" ]; then
        if [ $rc = 0 ] && echo "$out" | grep -q '"ok":true'; then pass=$((pass + 1)); echo "ok   no fault: clean run"
        else fail=$((fail + 1)); echo "FAIL no fault: exit $rc $out"; fi
        return
    fi
    v=$(echo "$out" | grep -o "\"$field\":[0-9]*" | cut -d: -f2)
    if [ $rc = 1 ] && [ "${v:-0}" -gt 0 ]; then pass=$((pass + 1)); echo "ok   $fault: exit 1, $field=$v"
    else fail=$((fail + 1)); echo "FAIL $fault: exit $rc, $field=${v:-?}"; fi
}
check "" ""
check drop loss
check dup dups
check reorder reorder
check misroute misroute
port=$("$LOADGEN" --free-port)
if "$LOADGEN" --port "$port" --conns 10 --seconds 1 2>"$TMPD/err"; then rc=0; else rc=$?; fi
if [ $rc = 2 ] && grep -q "cannot connect" "$TMPD/err"; then pass=$((pass + 1)); echo "ok   wrong port: exit 2: $(cat "$TMPD/err")"
else fail=$((fail + 1)); echo "FAIL wrong port: exit $rc"; fi
echo "bench-selftest: $pass passed, $fail failed"
[ $fail = 0 ]
