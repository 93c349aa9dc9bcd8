#!/bin/sh
# valgrind_echo.sh - the echo server under valgrind (memcheck) while the python3-websockets
# interop client and the conformance suite talk to it; fails on any memcheck error or leak.
#   sh tests/valgrind_echo.sh [build/echo]
cd "$(dirname "$0")/.." || exit 1
BIN=${1:-build/echo}
PY=/usr/bin/python3
command -v valgrind >/dev/null || { [ "${CI:-}" = true ] && { echo "FAIL: valgrind_echo: valgrind missing"; exit 1; }; echo "SKIP: valgrind_echo: valgrind not installed"; exit 0; }
mkdir -p build
log=build/valgrind_echo.log
wrap=build/valgrind_echo_wrap.sh
cat > "$wrap" <<EOW
#!/bin/sh
exec valgrind -q --log-file=$log --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect $PWD/$BIN "\$@"
EOW
chmod +x "$wrap"
rm -f "$log"
# the conformance suite's own SIGTERM ends each server; echo exits cleanly on it
timeout -k 5 600 $PY tests/conformance.py "$wrap" --limit 1M || { echo "FAIL: valgrind_echo: conformance under valgrind"; exit 1; }
if [ -s "$log" ]; then
    echo "FAIL: valgrind_echo: memcheck reported:"; cat "$log"; exit 1
fi
echo "valgrind_echo: no memcheck error, no leak"
