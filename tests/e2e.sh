#!/bin/sh
# tests/e2e.sh - build and run the end-to-end tests against build/grouppush_server.
#   sh tests/e2e.sh [path/to/grouppush_server]          (used by `make test`)
# Each test starts its own server(s) on free loopback ports and stops them; each is
# bounded (55 s alarm inside, `timeout 70` outside as a backstop).
cd "$(dirname "$0")/.." || exit 1
SERVER=${1:-build/grouppush_server}
CC=${CC:-cc}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
fails=0
if [ ! -x "$SERVER" ]; then
    echo "FAIL e2e: $SERVER not built (run make)"
    exit 1
fi
mkdir -p build
if ! $CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -O1 tests/e2e_seed.c -o build/e2e_seed; then
    echo "FAIL e2e_seed: does not compile"
    exit 1
fi
run() {
    echo "== $*"
    timeout -k 5 70 "$@"
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "== FAILED ($rc): $*"
        fails=$((fails + 1))
    fi
}
run build/e2e_seed "$SERVER"
run "$PY" tests/e2e_python.py "$SERVER"
run "$PY" tests/e2e_badinput.py "$SERVER"
run "$PY" tests/e2e_faults.py "$SERVER"
if [ $fails -ne 0 ]; then
    echo "e2e: $fails of 4 test programs failed"
    exit 1
fi
echo "e2e: all 4 test programs passed"
