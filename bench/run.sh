#!/usr/bin/env bash
# bench/run.sh - the scenario matrix of grouppush (and its peers), one table.
#
#   bench/run.sh [quick] [--peers] [--no-peers] [--targets "gp-poll-1 node-ws ..."]
#                [--scenarios "1 2 3 4 5"]
#
# Targets: gp-poll-1 gp-poll-8 gp-epoll-1 gp-epoll-8 (build/grouppush_server[_epoll] with
# 1 or 8 workers) and node-ws (bench/peers/node-ws, Node + ws, one process); a -hN suffix
# runs grouppush with --history-size N (gp-poll-8-h0: offsets without history; default
# 100), an rd- prefix (rd-poll-8, rd-epoll-8-h0) against a real redis-server started for
# the run (--channel redis://, history in Redis through the PUBLISH script); alt-poll-N and
# alt-epoll-N run the binaries in $BENCH_ALT instead (another version's build directory), so
# a before/after comparison comes from one run on one machine. tok-poll-N and tok-epoll-N
# are gp-* with --token-secret: every connection presents a JWT (HS256, ?token=), so the
# join and every publish go through the token checks (the figures of BENCHMARKS.md).
# Scenarios (each one table row per target):
#   1  1,000 connections, 1 group, 1 publisher, full speed (window) - broadcast fan-out
#   2  10,000 connections, 100 groups of 100, 10 publishers, full speed
#   3  10,000 idle connections joined to 100 groups: bytes/conn, connect rate unpaced
#   4  a fixed 200 msgs/s into one group of 1,000 (10 publishers): latency, sustained?
#   5  50,000 idle connections held (targets whose processes may hold that many fds)
# quick (or BENCH_QUICK=1): scenario 1 with 200 connections for 2 s; exits non-zero if
# any run is not clean (loss, dup, reorder, misroute, error reply, close) - no timing check.
# The server runs under `taskset -c $BENCH_SERVER_CPU` (1), the load generator under
# `taskset -c $BENCH_CLIENT_CPU` (0). Environment: BENCH_SECONDS (5), BENCH_WINDOW (64),
# BENCH_PEERS=1 (node-ws required: installs its npm package), BENCH_OUT (result dir).
# Every run is bounded (loadgen --max-seconds) and every server started here is stopped
# here, by its PID.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
LOADGEN=$BUILD/loadgen
LIMIT=$BUILD/limit
PEER_DIR=$ROOT/bench/peers/node-ws

QUICK=${BENCH_QUICK:-0}
PEERS=${BENCH_PEERS:-auto}
T=${BENCH_SECONDS:-5}
W=${BENCH_WINDOW:-64}
SCPU=${BENCH_SERVER_CPU:-1}
CCPU=${BENCH_CLIENT_CPU:-0}
if [ "$(nproc)" -lt 2 ]; then SCPU=0; CCPU=0; fi   # one core: both share it
TARGETS=""
SCENARIOS=""
while [ $# -gt 0 ]; do
    case $1 in
        quick) QUICK=1 ;;
        --peers) PEERS=1 ;;
        --no-peers) PEERS=0 ;;
        --targets) TARGETS=$2; shift ;;
        --scenarios) SCENARIOS=$2; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

# as many descriptors as allowed: 200000 where the hard limit permits, else the hard limit
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)

if [ "$QUICK" = 1 ]; then
    [ -n "$SCENARIOS" ] || SCENARIOS="1"
    [ -n "$TARGETS" ] || TARGETS="gp-poll-1 gp-poll-8 gp-epoll-1 gp-epoll-8 tok-epoll-8"
    T=2
else
    [ -n "$SCENARIOS" ] || SCENARIOS="1 2 3 4 5"
    [ -n "$TARGETS" ] || TARGETS="gp-poll-1 gp-poll-8 gp-epoll-1 gp-epoll-8 node-ws"
fi

for b in "$LOADGEN" "$LIMIT"; do
    [ -x "$b" ] || { echo "run.sh: $b missing (make bench builds it)" >&2; exit 2; }
done

# node-ws: needed only if asked for; with --peers it must work
if [[ " $TARGETS " == *" node-ws "* ]]; then
    if [ "$PEERS" = 1 ] && [ ! -d "$PEER_DIR/node_modules/ws" ]; then
        (cd "$PEER_DIR" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
            { echo "run.sh: npm ci in $PEER_DIR failed" >&2; exit 2; }
    fi
    if [ "$PEERS" = 0 ] || ! command -v node >/dev/null || [ ! -d "$PEER_DIR/node_modules/ws" ]; then
        [ "$PEERS" = 1 ] && { echo "run.sh: node-ws peer unavailable" >&2; exit 2; }
        echo "run.sh: node-ws skipped (no node or $PEER_DIR/node_modules; make bench-peers installs it)"
        TARGETS=$(echo " $TARGETS " | sed 's/ node-ws / /')
    fi
fi

OUT=${BENCH_OUT:-$BUILD/bench-results}
mkdir -p "$OUT"
STAMP=$(date +%Y%m%d-%H%M%S)
RES=$OUT/results-$STAMP.jsonl
LOG=$OUT/servers-$STAMP.log
TMPD=$(mktemp -d)
: >"$RES"

SRV_PID=""
DRAIN_PID=""
REDIS_PID=""
cleanup() {
    stop_server
    rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

descendants() { # pid -> all descendant pids (from /proc, by parent pid)
    local kids k
    kids=$(pgrep -P "$1" 2>/dev/null) || return 0
    for k in $kids; do echo "$k"; descendants "$k"; done
}

stop_server() {
    [ -n "$SRV_PID" ] || return 0
    local all killer
    all=$(descendants "$SRV_PID")
    kill -TERM "$SRV_PID" 2>/dev/null
    # a bounded wait: the master has 5 s to stop everything (spec), then KILL
    ( sleep 8; kill -KILL "$SRV_PID" 2>/dev/null ) &
    killer=$!
    wait "$SRV_PID" 2>/dev/null
    kill "$killer" 2>/dev/null; wait "$killer" 2>/dev/null
    for p in $all; do kill -KILL "$p" 2>/dev/null; done
    if [ -n "$DRAIN_PID" ]; then kill "$DRAIN_PID" 2>/dev/null; wait "$DRAIN_PID" 2>/dev/null; fi
    if [ -n "$REDIS_PID" ]; then kill -TERM "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; fi
    SRV_PID=""
    DRAIN_PID=""
    REDIS_PID=""
}

# start_server TARGET -> SRV_PID, SRV_PORT (waits for the ready line, at most 20 s)
start_server() {
    local target=$1 bin workers cport fifo fd line n=0 ok=0
    SRV_PORT=$("$LOADGEN" --free-port)
    fifo=$TMPD/ready.$RANDOM
    mkfifo "$fifo"
    echo "=== $target $(date +%T)" >>"$LOG"
    case $target in
        node-ws)
            taskset -c "$SCPU" node "$PEER_DIR/server.js" "$SRV_PORT" 127.0.0.1 >"$fifo" 2>>"$LOG" &
            SRV_PID=$! ;;
        gp-*|alt-*|tok-*|rd-*)
            local base=$target hist=() chan extra=()
            case $target in *-h[0-9]*) hist=(--history-size "${target##*-h}"); base=${target%-h*} ;; esac
            case $base in
                gp-poll-*|rd-poll-*) bin=$BUILD/grouppush_server ;;
                gp-epoll-*|rd-epoll-*) bin=$BUILD/grouppush_server_epoll ;;
                tok-poll-*) bin=$BUILD/grouppush_server; extra=(--token-secret "$TMPD/token.key") ;;
                tok-epoll-*) bin=$BUILD/grouppush_server_epoll; extra=(--token-secret "$TMPD/token.key") ;;
                alt-poll-*) bin=${BENCH_ALT:?alt-* targets need BENCH_ALT}/grouppush_server ;;
                *) bin=${BENCH_ALT:?alt-* targets need BENCH_ALT}/grouppush_server_epoll ;;
            esac
            workers=${base##*-}
            cport=$("$LOADGEN" --free-port)
            chan=(--channel-listen "127.0.0.1:$cport")
            if [ "${base%%-*}" = rd ]; then   # a real redis-server for this run, nothing saved
                redis-server --port "$cport" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMPD" \
                    --daemonize no --logfile "" >>"$LOG" 2>&1 &
                REDIS_PID=$!
                local i
                for i in $(seq 100); do redis-cli -p "$cport" PING >/dev/null 2>&1 && break; sleep 0.05; done
                chan=(--channel "redis://127.0.0.1:$cport")
            fi
            taskset -c "$SCPU" "$bin" --workers "$workers" --ws "127.0.0.1:$SRV_PORT" \
                "${chan[@]}" "${hist[@]}" --max-conns 60000 "${extra[@]}" >"$fifo" 2>>"$LOG" &
            SRV_PID=$! ;;
    esac
    exec {fd}<"$fifo"
    rm -f "$fifo"
    local t_end=$((SECONDS + 20))
    while [ $SECONDS -lt $t_end ] && [ $n -lt 200 ] && IFS= read -r -t 20 -u "$fd" line; do
        n=$((n + 1))
        echo "$line" >>"$LOG"
        case $line in *"grouppush: ready"*|*"node-ws: listening on"*) ok=1; break ;; esac
    done
    cat <&"$fd" >>"$LOG" &
    DRAIN_PID=$!
    exec {fd}<&-
    if [ $ok != 1 ]; then
        echo "run.sh: $target did not print its ready line within 20 s (see $LOG)" >&2
        stop_server
        return 1
    fi
    return 0
}

scenario_args() { # scenario target -> loadgen arguments (empty: not run)
    local s=$1 target=$2
    case $s in
        1) if [ "$QUICK" = 1 ]; then echo "--conns 200 --groups 1 --publishers 1 --window $W --seconds $T"
           else echo "--conns 1000 --groups 1 --publishers 1 --window $W --seconds $T"; fi ;;
        2) echo "--conns 10000 --groups 100 --publishers 10 --window $W --seconds $T" ;;
        3) echo "--conns 10000 --groups 100 --idle --seconds 2" ;;
        4) echo "--conns 1000 --groups 1 --publishers 10 --rate 200 --seconds $T --drain-seconds 30" ;;
        5) # one process must hold 50,000 sockets: needs the fd limit (1-worker and node)
           case $target in
               gp-*-8) echo "--conns 50000 --groups 100 --idle --seconds 3" ;;
               *) [ "$NOFILE" -ge 50200 ] && echo "--conns 50000 --groups 100 --idle --seconds 3" ;;
           esac ;;
    esac
}

run_case() { # target scenario
    local target=$1 s=$2 args rc out err
    args=$(scenario_args "$s" "$target")
    if [ -z "$args" ]; then
        printf '{"label":"%s/%s","skipped":"one process cannot hold 50000 sockets (ulimit -n %s)"}\n' \
            "$target" "$s" "$NOFILE" >>"$RES"
        return 0
    fi
    start_server "$target" || {
        printf '{"label":"%s/%s","ok":false,"error":"server did not start"}\n' "$target" "$s" >>"$RES"
        return 1
    }
    out=$TMPD/out.json
    err=$TMPD/err.txt
    local path=()
    case $target in tok-*) path=(--path "/?token=$TOKEN") ;; esac
    # shellcheck disable=SC2086
    taskset -c "$CCPU" "$LOADGEN" --port "$SRV_PORT" --server-pid "$SRV_PID" --json \
        --label "$target/$s" --max-seconds 150 "${path[@]}" $args >"$out" 2>"$err"
    rc=$?
    stop_server
    if [ -s "$out" ]; then
        cat "$out" >>"$RES"
    else
        printf '{"label":"%s/%s","ok":false,"error":"%s"}\n' "$target" "$s" \
            "$(tail -n 1 "$err" | tr -d '"\\' | cut -c1-200)" >>"$RES"
    fi
    [ -s "$err" ] && sed "s|^|  [$target/$s] |" "$err" >&2
    printf '  %-12s scenario %s: %s\n' "$target" "$s" \
        "$(grep -o '"ok":[a-z]*' "$out" 2>/dev/null || echo "exit $rc")"
    return $rc
}

# tok-* targets: a key, and one token (sub, groups *, publish *, an hour) every connection uses
TOKEN=""
if [[ " $TARGETS " == *" tok-"* ]]; then
    printf 'bench-token-key-%s\n' "$RANDOM$RANDOM" >"$TMPD/token.key"
    TOKEN=$(cd "$ROOT/tests" && /usr/bin/python3 -c 'import sys; from lib import jwt
print(jwt.token(open(sys.argv[1]).read().rstrip("\n"), {"sub": "bench", "groups": ["*"], "publish": ["*"], "exp": jwt.now() + 3600}))' "$TMPD/token.key") ||
        { echo "run.sh: cannot make the token (python3, tests/lib/jwt.py)" >&2; exit 2; }
fi

echo "bench: $(nproc) cores, $(uname -r), ulimit -n $NOFILE, T=${T}s window=$W, server cpu $SCPU, client cpu $CCPU"
echo "bench: results in $RES"
FAIL=0
if [ "$QUICK" != 1 ]; then
    echo "bench: limit (send() ceiling, server cpu $SCPU)"
    taskset -c "$SCPU" "$LIMIT" --tx-cpu "$SCPU" --rx-cpu "$CCPU" --json >"$OUT/limit-$STAMP.json" ||
        echo "run.sh: limit failed" >&2
    sed 's/^/{"label":"limit","limit":/; s/$/}/' "$OUT/limit-$STAMP.json" >>"$RES"
fi
for s in $SCENARIOS; do
    for target in $TARGETS; do
        run_case "$target" "$s" || FAIL=1
    done
done

if [ "$QUICK" = 1 ]; then
    pass=$(grep -c '"ok":true' "$RES")
    total=$(grep -c '"label"' "$RES")
    echo "bench-smoke: $pass passed, $((total - pass)) failed"
fi

# the table (python3's standard library only; without it, the raw JSON lines)
if command -v python3 >/dev/null; then
    python3 "$ROOT/bench/table.py" "$RES" | tee "$OUT/table-$STAMP.txt"
else
    cat "$RES"
fi
exit $FAIL
