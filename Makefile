# grouppush - plain GNU make; CC, CXX, CFLAGS overridable.
#   make          build every example into build/
#   make run      the seed's deployment: ws://0.0.0.0:1234, 8 workers, channel server 127.0.0.1:2206
#   make test     the whole suite (unit, conformance, e2e, real peers, abuse, fuzz regressions)
#   make bench    fan-out benchmark (bench/), make bench-peers: the same against node + ws
#   make size     stripped static musl sizes against their budgets, idle RSS (tests/size.py)
#   make cross    armhf, arm64, s390x builds: unit, conformance and e2e tests under qemu-user
#   make install  PREFIX=/usr/local: header, grouppush.pc, CMake config, ready programs
#   make asan | valgrind | test-cpp | matrix | fuzz | clean
CC      ?= cc
CXX     ?= c++
OPT     ?= -O2 -g
WARN    = -std=c99 -pedantic -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wundef -Wcast-align
CFLAGS  ?= $(OPT)
B       = build
PY      = /usr/bin/python3
export CC CXX B

EXAMPLES = $(B)/echo $(B)/echo_epoll $(B)/grouppush_server $(B)/grouppush_server_epoll \
           $(B)/channel_server $(B)/publish $(B)/auth_hooks

.PHONY: all examples test test-quick clean run conformance interop e2e peers abuse auth cli deploy-start ws-clients ops asan valgrind \
        test-cpp matrix musl tls cross size install install-test delivery
all: examples

examples: $(EXAMPLES)

$(B):
	mkdir -p $(B)

$(B)/%: examples/%.c grouppush.h | $(B)
	$(CC) $(WARN) -Werror $(CFLAGS) $< -o $@

$(B)/%_epoll: examples/%.c grouppush.h | $(B)
	$(CC) $(WARN) -Werror $(CFLAGS) -DGP_USE_EPOLL $< -o $@

run: $(B)/grouppush_server
	$(B)/grouppush_server --html examples/index.html

-include tests/tests.mk
-include tests/fuzz/fuzz.mk
-include bench/bench.mk
-include tests/soak.mk
-include tests/clients.mk

# RFC 6455 conformance (Autobahn-style cases) against both loop backends
conformance: $(B)/echo $(B)/echo_epoll
	$(PY) tests/conformance.py $(B)/echo
	$(PY) tests/conformance.py $(B)/echo_epoll

# the same echo scenario with an independent client (python3-websockets)
interop: $(B)/echo $(B)/echo_epoll
	$(PY) tests/interop_echo.py $(B)/echo
	$(PY) tests/interop_echo.py $(B)/echo_epoll

# the seed's deployment over real processes: C client, python3-websockets, bad input, faults
e2e: examples
	sh tests/e2e.sh $(B)/grouppush_server
	sh tests/e2e.sh $(B)/grouppush_server_epoll

# real peers: redis-server + redis-cli (byte-for-byte replies, scale-out, group streams the
# same on both), headless Chromium;
# redis-clients (tests/clients.mk): ioredis, node-redis, hiredis, redis-py, redis-cli defaults
peers: examples
	$(PY) tests/redis_compare.py
	$(PY) tests/scaleout.py
	$(PY) tests/streams_resp.py
	sh tests/browser.sh

abuse: examples
	$(PY) tests/abuse.py

# protocol v2 and recovery (built-in channel server and a real redis-server), slow readers;
# examples/grouppush.js through worker kills and a reload in Node and headless Chromium
delivery: examples
	$(PY) tests/v2_protocol.py $(B)/grouppush_server
	$(PY) tests/v2_recovery.py $(B)/grouppush_server
	$(PY) tests/js_recovery.py $(B)/grouppush_server
	$(PY) tests/slow_reader.py $(B)/grouppush_server

# tokens (JWT HS256) and hooks for embedders over real processes, python3-websockets:
# tests/e2e_auth.py against grouppush_server --token-secret and examples/auth_hooks;
# users, exclude_self and member counts over 8 workers and two deployments on redis-server
auth: examples
	$(PY) tests/e2e_auth.py $(B)/grouppush_server $(B)/auth_hooks
	$(PY) tests/e2e_users.py $(B)/grouppush_server_epoll

# every example's --help, --version, unknown option (tests/cli.sh)
cli: examples
	sh tests/cli.sh $(B)

# one deployment per port, fail fast at start (taken ports, wrong Redis password); the
# channel's problems logged at a bounded rate, a quiet Ctrl-C
deploy-start: examples
	$(PY) tests/deploy_start.py $(B)/grouppush_server
	$(PY) tests/channel_logs.py $(B)/grouppush_server

# subprotocols and binary frames with Node's ws (npm, installed into build/npm-ws),
# python3-websockets and examples/index.html in headless Chromium
ws-clients: examples $(B)/ws_protocols
	$(B)/ws_protocols
	sh tests/ws_node.sh $(B)/grouppush_server
	$(PY) tests/ws_python.py $(B)/grouppush_server $(B)/echo
	$(PY) tests/page_binary.py $(B)/grouppush_server

# operations (issue 11): the admin listener (/metrics parsed strictly against a known load,
# POST /publish, /status moved, keys, bad input); the control CLI (start -d, status, reload,
# stop, exit codes, stale pid files), logs (rename + SIGUSR1), --user (ps), --config and
# --print-config, the systemd unit (systemd-analyze); the dashboard in headless Chromium
# (screenshot: build/dashboard.png)
ops: examples
	$(PY) tests/ops_admin.py $(B)/grouppush_server
	$(PY) tests/ops_cli.py $(B)/grouppush_server
	$(PY) tests/ops_dashboard.py $(B)/grouppush_server

test: examples unit oom compile-checks cli conformance interop e2e deploy-start ws-clients ops peers redis-clients \
      tls abuse auth delivery fuzz-regress bench-smoke install-test size
	@echo "make test: all passed"

# the suite against ASan+UBSan builds (clang): unit tests, conformance, the deployment, tokens,
# protocol v2 and recovery through faults
SAN = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan: unit-asan
	$(MAKE) B=build/asan CC=clang CFLAGS="$(SAN)" build/asan/echo build/asan/echo_epoll build/asan/grouppush_server \
	    build/asan/auth_hooks
	$(PY) tests/conformance.py build/asan/echo --limit 4M
	$(PY) tests/conformance.py build/asan/echo_epoll --limit 4M
	sh tests/e2e.sh build/asan/grouppush_server
	$(PY) tests/e2e_auth.py build/asan/grouppush_server build/asan/auth_hooks
	$(PY) tests/v2_protocol.py build/asan/grouppush_server
	$(PY) tests/v2_recovery.py build/asan/grouppush_server

# wss:// through mbedTLS (Debian libmbedtls-dev): echo and the deployment with TLS
TLSLIBS = -lmbedtls -lmbedx509 -lmbedcrypto
tls:
	mkdir -p build/tls
	$(CC) $(WARN) -Werror $(CFLAGS) -DGP_USE_MBEDTLS -DGP_USE_EPOLL examples/echo.c -o build/tls/echo $(TLSLIBS)
	$(CC) $(WARN) -Werror $(CFLAGS) -DGP_USE_MBEDTLS examples/grouppush_server.c -o build/tls/grouppush_server $(TLSLIBS)
	$(PY) tests/tls_echo.py build/tls/echo

# cross builds (Debian's gcc-*-linux-gnu* cross compilers, static) run under qemu-user:
# armhf (32-bit, unsigned plain char), arm64, s390x (64-bit big-endian). On each: the unit
# tests (among them fixed wire bytes of frame headers, masking and RESP at every buffer
# alignment), the echo conformance suite, and the deployment's end-to-end test.
CROSS = armhf:arm-linux-gnueabihf:qemu-arm arm64:aarch64-linux-gnu:qemu-aarch64 s390x:s390x-linux-gnu:qemu-s390x
cross: $(B)/e2e_seed_bin
	@for t in $(CROSS); do \
	    a=$${t%%:*}; r=$${t#*:}; cc=$${r%%:*}-gcc; q=$${r#*:}; d=build/cross/$$a; \
	    echo "== cross $$a ($$cc, $$q)"; mkdir -p $$d || exit 1; \
	    $$cc $(WARN) -Werror -O1 -static $(GP_T_UNIT) -o $$d/unit_tests 2>$$d/build.log || \
	        { cat $$d/build.log; exit 1; }; \
	    $$q $$d/unit_tests > $$d/unit.log 2>&1 || { tail -30 $$d/unit.log; exit 1; }; tail -1 $$d/unit.log; \
	    for p in echo grouppush_server; do \
	        $$cc $(WARN) -Werror -O2 -static examples/$$p.c -o $$d/$$p.bin 2>>$$d/build.log || { cat $$d/build.log; exit 1; }; \
	        printf '#!/bin/sh\nexec %s "%s/%s/%s.bin" "$$@"\n' $$q "$(CURDIR)" $$d $$p > $$d/$$p; chmod +x $$d/$$p; done; \
	    $(PY) tests/conformance.py $$d/echo --limit 1M > $$d/conformance.log 2>&1 || { tail -30 $$d/conformance.log; exit 1; }; \
	    tail -1 $$d/conformance.log; \
	    $(B)/e2e_seed $$d/grouppush_server > $$d/e2e.log 2>&1 || { tail -30 $$d/e2e.log; exit 1; }; tail -1 $$d/e2e.log; \
	done

$(B)/ws_protocols: tests/ws_protocols.c grouppush.h | $(B)
	$(CC) $(WARN) -Werror $(CFLAGS) tests/ws_protocols.c -o $@

$(B)/e2e_seed_bin: tests/e2e_seed.c tests/lib/wsclient.h | $(B)
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -O1 tests/e2e_seed.c -o $(B)/e2e_seed

# musl libc, fully static (Debian musl-tools): build, then the conformance suite on it
musl:
	$(MAKE) B=build/musl CC=musl-gcc CFLAGS="-O2 -static" build/musl/echo build/musl/echo_epoll build/musl/grouppush_server build/musl/channel_server build/musl/publish
	$(PY) tests/conformance.py build/musl/echo_epoll --limit 4M
	sh tests/e2e.sh build/musl/grouppush_server

# the implementation compiled as C++ (g++ -x c++, and clang++): every example, then the
# conformance suite against the C++ echo and the end-to-end tests against the C++ deployment
CPPB = build/cpp
test-cpp:
	mkdir -p $(CPPB)
	for f in echo grouppush_server channel_server publish auth_hooks; do \
	    $(CXX) -x c++ -std=c++11 -Wall -Wextra -Werror $(OPT) examples/$$f.c -o $(CPPB)/$$f || exit 1; done
	$(CLANGXX) -x c++ -std=c++11 -Wall -Wextra -Werror $(OPT) -DGP_USE_EPOLL examples/echo.c -o $(CPPB)/echo_clang_epoll
	$(PY) tests/conformance.py $(CPPB)/echo --limit 4M
	$(PY) tests/conformance.py $(CPPB)/echo_clang_epoll --limit 4M
	sh tests/e2e.sh $(CPPB)/grouppush_server

# the build matrix of STYLE.md: the unit tests under each option set (GP_STATIC is in
# compile-checks, GP_USE_MBEDTLS in tls); -funsigned-char is ARM's plain char
MATRIX_SETS = "-DGP_USE_EPOLL" "-DGP_NO_SUPERVISOR" "-DGP_NO_RESOLVER" "-funsigned-char" \
              "-DGP_USE_EPOLL -DGP_NO_SUPERVISOR -funsigned-char"
matrix: unit compile-checks tls
	@mkdir -p build/matrix; n=0; for flags in $(MATRIX_SETS); do \
	    n=$$((n + 1)); echo "== matrix $$n: $$flags"; \
	    $(CC) $(WARN) -Werror -O1 -g $$flags $(GP_T_UNIT) -o build/matrix/unit_$$n || exit 1; \
	    build/matrix/unit_$$n > build/matrix/unit_$$n.log 2>&1 || { tail -20 build/matrix/unit_$$n.log; exit 1; }; \
	    tail -1 build/matrix/unit_$$n.log; done

# memcheck: unit tests and the echo server under the conformance suite, no error, no leak
valgrind: unit-valgrind $(B)/echo
	sh tests/valgrind_echo.sh $(B)/echo

# make install PREFIX=/usr/local (DESTDIR= for staging): the header, pkg-config's
# grouppush.pc, CMake's grouppushConfig.cmake (find_package(grouppush)), the ready programs
# under names of their own (grouppush_server, grouppush_channel_server, grouppush_publish,
# grouppush_echo) and the page; tests/install.py builds an out-of-tree program against it.
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := $(shell sed -n 's/^\#define GP_VERSION_STRING "\(.*\)"/\1/p' grouppush.h)
GP_SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
               -e 's|@MAJOR@|$(word 1,$(subst ., ,$(VERSION)))|g' -e 's|@MINOR@|$(word 2,$(subst ., ,$(VERSION)))|g'
install: $(B)/grouppush_server $(B)/channel_server $(B)/publish $(B)/echo
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/lib/cmake/grouppush $(DESTDIR)$(PREFIX)/share/grouppush
	install -m 644 grouppush.h $(DESTDIR)$(PREFIX)/include/grouppush.h
	install -m 755 $(B)/grouppush_server $(DESTDIR)$(PREFIX)/bin/grouppush_server
	for p in channel_server publish echo; do install -m 755 $(B)/$$p $(DESTDIR)$(PREFIX)/bin/grouppush_$$p || exit 1; done
	install -m 644 examples/index.html $(DESTDIR)$(PREFIX)/share/grouppush/index.html
	$(GP_SUBST) dist/grouppush.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/grouppush.pc
	$(GP_SUBST) dist/grouppushConfig.cmake.in > $(DESTDIR)$(PREFIX)/lib/cmake/grouppush/grouppushConfig.cmake
	$(GP_SUBST) dist/grouppushConfigVersion.cmake.in > $(DESTDIR)$(PREFIX)/lib/cmake/grouppush/grouppushConfigVersion.cmake

# the three ways to use grouppush, from outside the tree: pkg-config + make, CMake's
# find_package, CMake's add_subdirectory (tests/install.py, in make test)
install-test: examples
	$(PY) tests/install.py

# footprint: stripped static musl sizes against tests/size/budgets, idle RSS (tests/size.py)
size:
	$(PY) tests/size.py

clean:
	rm -rf build
