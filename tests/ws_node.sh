#!/bin/sh
# tests/ws_node.sh - tests/ws_node.js (subprotocols, binary frames) with Node's `ws` client.
#   sh tests/ws_node.sh [path/to/grouppush_server]        (used by `make test`)
# Installs the npm package `ws` (version pinned below) into build/npm-ws once. Without node
# or npm, or when the registry cannot be reached, prints `SKIP: ws_node: ...` and exits 0;
# with CI=true that is a failure.
cd "$(dirname "$0")/.." || exit 1
SERVER=${1:-build/grouppush_server}
WS_VERSION=8.18.3
DIR=build/npm-ws
missing() {
    if [ "${CI:-}" = "true" ]; then echo "FAIL: ws_node: $1"; exit 1; fi
    echo "SKIP: ws_node: $1"
    exit 0
}
command -v node >/dev/null 2>&1 || missing "node not installed"
[ -x "$SERVER" ] || { echo "FAIL: ws_node: $SERVER not built (run make)"; exit 1; }
if [ ! -f "$DIR/node_modules/ws/package.json" ] ||
   ! grep -q "\"version\": \"$WS_VERSION\"" "$DIR/node_modules/ws/package.json"; then
    command -v npm >/dev/null 2>&1 || missing "npm not installed"
    mkdir -p "$DIR"
    timeout 120 npm install --prefix "$DIR" --no-audit --no-fund --no-save --silent "ws@$WS_VERSION" >"$DIR/npm.log" 2>&1 ||
        missing "npm install ws@$WS_VERSION failed (registry unreachable?): $(tail -1 "$DIR/npm.log")"
fi
NODE_PATH=$DIR/node_modules exec timeout -k 5 60 node tests/ws_node.js "$SERVER"
