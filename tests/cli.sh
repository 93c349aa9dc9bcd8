#!/bin/sh
# tests/cli.sh - the command line of every example program, as a new user meets it:
#   --version   prints "<prog> (grouppush) <GP_VERSION_STRING of grouppush.h>" on stdout, exit 0
#   --help      usage on stdout (nothing on stderr), exit 0
#   --bogus     "unknown option --bogus" on stderr (not "needs a value"), exit 2
#   a known option without its value: "<option> needs a value", exit 2
#   publish --help names its default channel and says its output is the receiver count
#
#   sh tests/cli.sh [BUILD_DIR]        (default build; used by `make test`)
# Self-contained on purpose (no test library); no network, each run bounded by `timeout 5`.
cd "$(dirname "$0")/.." || exit 1
B=${1:-build}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok    $1"; }
bad() { fail=$((fail + 1)); echo "FAIL  $1"; sed 's/^/      /' "$tmp/out" "$tmp/err" | head -8; }
# run PROG ARGS...: stdout in $tmp/out, stderr in $tmp/err, exit code in $rc
run() { timeout 5 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?; }

version=$(sed -n 's/^#define GP_VERSION_STRING "\(.*\)"$/\1/p' grouppush.h)
[ -n "$version" ] || { echo "FAIL  cli: no GP_VERSION_STRING in grouppush.h"; exit 1; }

for prog in echo grouppush_server channel_server publish auth_hooks; do
    bin=$B/$prog
    if [ ! -x "$bin" ]; then echo "FAIL  cli: $bin not built (run make)"; fail=$((fail + 1)); continue; fi

    run "$bin" --version
    if [ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "$prog (grouppush) $version" ] && [ ! -s "$tmp/err" ]; then
        ok "$prog --version: '$prog (grouppush) $version', exit 0"
    else bad "$prog --version (exit $rc)"; fi

    for h in --help -h; do
        run "$bin" $h
        if [ $rc -eq 0 ] && grep -q '^usage: ' "$tmp/out" && grep -q -- '--version' "$tmp/out" && [ ! -s "$tmp/err" ]; then
            ok "$prog $h: usage on stdout, stderr empty, exit 0"
        else bad "$prog $h (exit $rc)"; fi
    done

    run "$bin" --bogus
    if [ $rc -eq 2 ] && grep -q 'unknown option --bogus' "$tmp/err" && ! grep -q 'needs a value' "$tmp/err" &&
       [ ! -s "$tmp/out" ]; then
        ok "$prog --bogus: 'unknown option --bogus', exit 2"
    else bad "$prog --bogus (exit $rc)"; fi

    # a known option that takes a value, given without one
    case $prog in
        echo) opt=--host ;; grouppush_server) opt=--ws ;; channel_server) opt=--listen ;; publish) opt=--channel ;;
        auth_hooks) opt=--key ;;
    esac
    run "$bin" $opt
    if [ $rc -eq 2 ] && grep -q -- "$opt needs a value" "$tmp/err"; then
        ok "$prog $opt (no value): '$opt needs a value', exit 2"
    else bad "$prog $opt without a value (exit $rc)"; fi
done

run "$B/publish" --help
if grep -q '127.0.0.1:2206' "$tmp/out" && grep -qi 'default' "$tmp/out" && grep -q 'receiver count' "$tmp/out"; then
    ok "publish --help: names the default channel 127.0.0.1:2206 and the receiver count output"
else bad "publish --help lacks the default channel or the meaning of its output"; fi

echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
