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
#   make bench-delivery  scenarios 1, 2, 4 with history off and on, built-in channel and a
#                     real redis-server (gp-epoll-8-h0 gp-epoll-8 rd-epoll-8-h0 rd-epoll-8;
#                     BENCH_ALT=dir adds alt-epoll-8, a build without offsets), then the
#                     recovery storm (bench/recovery_storm.py: 1,000 members 100 behind,
#                     built-in and redis-server).
#   make bench-auth   what tokens cost: gp_jwt_verify and gp_jwt_match alone (build/auth_cost),
#                     then scenario 1 with and without --token-secret (gp-* vs tok-* targets).
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

$(B)/auth_cost: bench/auth_cost.c grouppush.h
	@mkdir -p $(B)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ bench/auth_cost.c

.PHONY: bench bench-peers bench-smoke bench-selftest bench-tools bench-delivery bench-auth
bench-tools: $(B)/loadgen $(B)/limit

bench: bench-tools $(BENCH_SERVERS)
	bash bench/run.sh

bench-peers: bench-tools $(BENCH_SERVERS)
	cd bench/peers/node-ws && npm ci --no-audit --no-fund
	bash bench/run.sh --peers

bench-delivery: bench-tools $(BENCH_SERVERS)
	bash bench/run.sh --no-peers --scenarios "1 2 4" \
	    --targets "$(if $(BENCH_ALT),alt-epoll-8 )gp-epoll-8-h0 gp-epoll-8 rd-epoll-8-h0 rd-epoll-8"
	/usr/bin/python3 bench/recovery_storm.py --members 1000 --behind 100 --workers 8 $(B)/grouppush_server
	/usr/bin/python3 bench/recovery_storm.py --members 1000 --behind 100 --workers 8 --redis $(B)/grouppush_server

bench-smoke: bench-tools $(BENCH_SERVERS)
	bash bench/run.sh quick

bench-auth: bench-tools $(B)/auth_cost $(BENCH_SERVERS)
	$(B)/auth_cost
	bash bench/run.sh --targets "gp-epoll-1 tok-epoll-1 gp-epoll-8 tok-epoll-8" --scenarios 1

bench-selftest: $(B)/loadgen
	bash bench/selftest.sh
