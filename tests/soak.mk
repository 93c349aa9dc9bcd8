# tests/soak.mk - the soak test (issue 5): on demand, not part of `make test` or CI.
# Included by the top Makefile (-include tests/soak.mk); guarded, so
# `make -f Makefile -f tests/soak.mk soak` works too.
#
#   make soak                  600 s: build/grouppush_server with 8 workers on free loopback
#                              ports, publishers + members + churn, kill -9 of a random worker
#                              and of the channel server at intervals; every loss must fit a
#                              documented at-most-once window; no reorder, no duplicate but
#                              the documented channel-kill one (SOAK_ARGS=--strict-dups: none)
#   make soak SECONDS=60       a shorter run
#   make soak SOAK_ARGS="--workers 4 --rate 80 --seed 42"    any tests/soak.py option
#   make soak SECONDS=15 SOAK_ARGS="--no-faults --selftest drop"   the checker's own test
#                              (must FAIL); /usr/bin/python3 tests/soak.py --help lists all
#   make soak SOAK_MODE=recovery   tests/soak_recovery.py: every member on protocol v2 with
#                              recovery; worker and channel kills, resets, reloads; no loss
#                              at all (every offset exactly once, in order)
ifndef GP_SOAK_MK_INCLUDED
GP_SOAK_MK_INCLUDED := 1

B         ?= build
SECONDS   ?= 600
SOAK_PY   ?= /usr/bin/python3
SOAK_ARGS ?=
SOAK_MODE ?=
SOAK_SCRIPT = $(if $(filter recovery,$(SOAK_MODE)),tests/soak_recovery.py,tests/soak.py)

.PHONY: soak
soak: $(B)/grouppush_server
	$(SOAK_PY) $(SOAK_SCRIPT) --seconds $(SECONDS) $(SOAK_ARGS) $(B)/grouppush_server

endif
