# bench/bench.mk - benchmark targets, included from the top Makefile (-include bench/bench.mk).
#   make bench        the scenario matrix against grouppush (1 and 8 workers, poll and epoll
#                     backends) and, when its npm package is installed, the node-ws peer;
#                     plus this machine's send() ceiling (build/limit). One table.
#   make bench-peers  installs the node-ws peer (npm ci) and runs the same matrix with it,
#                     so every row shows grouppush / node-ws from the same run.
#   make bench-smoke  scenario 1 small (200 conns, 2 s) against each grouppush build;
#                     fails on any loss, duplicate, reordering, misrouting, error or close.
#   make bench-selftest  the load generator's own checks: against the node-ws peer with
#                     injected faults (drop, dup, reorder, misroute) each must be caught.
# Environment knobs: see bench/run.sh (BENCH_SECONDS, BENCH_WINDOW, BENCH_SERVER_CPU, ...).
B ?= build
BENCH_CC ?= $(CC)
BENCH_CFLAGS ?= -std=c99 -Wall -Wextra -O2 -D_GNU_SOURCE
BENCH_SERVERS = $(B)/grouppush_server $(B)/grouppush_server_epoll

$(B)/loadgen: bench/loadgen.c tests/lib/wsclient.h
	@mkdir -p $(B)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ bench/loadgen.c

$(B)/limit: bench/limit.c
	@mkdir -p $(B)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ bench/limit.c

.PHONY: bench bench-peers bench-smoke bench-selftest bench-tools
bench-tools: $(B)/loadgen $(B)/limit

bench: bench-tools $(BENCH_SERVERS)
	bash bench/run.sh

bench-peers: bench-tools $(BENCH_SERVERS)
	cd bench/peers/node-ws && npm ci --no-audit --no-fund
	bash bench/run.sh --peers

bench-smoke: bench-tools $(BENCH_SERVERS)
	bash bench/run.sh quick

bench-selftest: $(B)/loadgen
	bash bench/selftest.sh
