#!/bin/sh
# tests/ws_node.sh - tests/ws_node.js (subprotocols, binary frames) with Node's `ws` client,
# then tests/js_client.js (examples/grouppush.js against a scripted v2 peer) with the `ws`
# package's client and with Node's own WebSocket.
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
export NODE_PATH=$DIR/node_modules
timeout -k 5 60 node tests/ws_node.js "$SERVER" || exit 1
timeout -k 5 60 node tests/js_client.js || exit 1
# Node's own WebSocket: built in from Node 22, behind a flag in 20 and 21
if node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)'; then
    exec timeout -k 5 60 node tests/js_client.js global
elif node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
    exec timeout -k 5 60 node --no-warnings --experimental-websocket tests/js_client.js global
else
    echo "js_client: this node ($(node --version)) has no WebSocket of its own; tested with the ws package only"
fi
