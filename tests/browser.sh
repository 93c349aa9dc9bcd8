#!/bin/sh
# browser.sh - the seed's browser snippet against build/grouppush_server in headless
# Chromium (Debian's `chromium`). The work is done by tests/browser_cdp.py, a small
# DevTools-protocol client on /usr/bin/python3 + python3-websockets; see its header.
#
#   tests/browser.sh            from the repository root (or anywhere)
#   CHROMIUM=/path/to/chrome GROUPPUSH_SERVER=/path/to/server tests/browser.sh
#
# A missing chromium or python websockets prints `SKIP: browser: ...` and exits 0,
# or fails when CI=true. The browser part is bounded by 30 s.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
py=${PYTHON:-/usr/bin/python3}

missing() {
    if [ "${CI:-}" = "true" ]; then
        echo "FAIL: browser: $1"
        exit 1
    fi
    echo "SKIP: browser: $1"
    exit 0
}

if [ -z "${CHROMIUM:-}" ]; then
    CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
fi
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || missing "chromium not installed"
[ -x "$py" ] && "$py" -c 'import websockets' 2>/dev/null || missing "python3-websockets not installed ($py)"
server=${GROUPPUSH_SERVER:-$root/build/grouppush_server}
if [ ! -x "$server" ]; then
    echo "FAIL: browser: $server not built (run make)"
    exit 1
fi
export CHROMIUM GROUPPUSH_SERVER="$server"
# 30 s for the browser, plus server start-up and shutdown; a hard stop beyond that
exec timeout -k 5 75 "$py" "$here/browser_cdp.py" "$@"
