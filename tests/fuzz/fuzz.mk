# tests/fuzz/fuzz.mk - libFuzzer targets (clang -fsanitize=fuzzer,address,undefined).
# Include it from the top Makefile (`include tests/fuzz/fuzz.mk`) or run it on its own from
# the repository root: `make -f tests/fuzz/fuzz.mk fuzz`.
#
#   make fuzz            build every target into build/fuzz_*, run each for FUZZ_SECONDS on a
#                        copy of its seed corpus in build/fuzz/corpus/<target> (the committed
#                        corpus never grows), then print the executions per target. Crash
#                        reproducers land in build/fuzz/crash/<target>-*; copy them into
#                        tests/fuzz/regress/<target>/ to make them regression tests.
#   make fuzz-regress    run every target once over tests/fuzz/corpus/<target>/ and
#                        tests/fuzz/regress/<target>/ (seconds; for `make test`).
#
# FUZZ_KNOWN_BUGS=1 (never for `fuzz-regress`) makes the targets skip the checks for bugs
# already reported and not yet fixed, so a time-boxed run looks for new ones; each target's top
# comment lists what it skips. None is open now: the default is 0, every check on.

FUZZ_SECONDS    ?= 60
FUZZ_CC         ?= clang
FUZZ_CFLAGS     ?= -g -O1 -fsanitize=fuzzer,address,undefined
FUZZ_KNOWN_BUGS ?= 0
FUZZ_B          ?= build
FUZZ_TARGETS    = http wsframe resp_server resp_client json conn jwt
FUZZ_BINS       = $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)
# libFuzzer options for every run: leaks are errors; a stuck input is a bug (10 s)
FUZZ_OPTS       ?= -detect_leaks=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

.PHONY: fuzz fuzz-build fuzz-regress

fuzz-build: $(FUZZ_BINS)

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_net.h tests/lib/wsclient.h grouppush.h
	@mkdir -p $(FUZZ_B)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I. $< -o $@

fuzz: $(FUZZ_BINS)
	@rm -rf $(FUZZ_B)/fuzz/corpus $(FUZZ_B)/fuzz/log
	@mkdir -p $(FUZZ_B)/fuzz/corpus $(FUZZ_B)/fuzz/crash $(FUZZ_B)/fuzz/log
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_B)/fuzz/corpus/$$t; \
	    cp tests/fuzz/corpus/$$t/* $(FUZZ_B)/fuzz/corpus/$$t/; \
	    echo "fuzz_$$t: $(FUZZ_SECONDS) s ..."; \
	    if FUZZ_KNOWN_BUGS=$(FUZZ_KNOWN_BUGS) $(FUZZ_B)/fuzz_$$t $(FUZZ_OPTS) -max_total_time=$(FUZZ_SECONDS) \
	         -artifact_prefix=$(FUZZ_B)/fuzz/crash/$$t- $(FUZZ_B)/fuzz/corpus/$$t \
	         > $(FUZZ_B)/fuzz/log/$$t.log 2>&1; then :; else \
	        fail=1; echo "fuzz_$$t: FAILED, see $(FUZZ_B)/fuzz/log/$$t.log"; \
	        grep -m1 -E 'ERROR|check failed|SUMMARY' $(FUZZ_B)/fuzz/log/$$t.log; \
	        ls $(FUZZ_B)/fuzz/crash/$$t-* 2>/dev/null; fi; \
	done; \
	echo "---- executions per target ($(FUZZ_SECONDS) s each) ----"; \
	for t in $(FUZZ_TARGETS); do \
	    line=$$(grep -E '^Done [0-9]+ runs in [0-9]+ second' $(FUZZ_B)/fuzz/log/$$t.log | tail -1); \
	    runs=$$(echo "$$line" | sed -E 's/^Done ([0-9]+) runs in ([0-9]+) .*/\1/'); \
	    secs=$$(echo "$$line" | sed -E 's/^Done ([0-9]+) runs in ([0-9]+) .*/\2/'); \
	    if [ -n "$$line" ]; then \
	        printf '%-18s %10s execs in %3s s (%s/s), corpus %s files\n' fuzz_$$t $$runs $$secs \
	            $$(( runs / (secs > 0 ? secs : 1) )) $$(ls $(FUZZ_B)/fuzz/corpus/$$t | wc -l); \
	    else \
	        printf '%-18s stopped early: %s\n' fuzz_$$t "$$(grep -m1 -E 'ERROR|check failed|SUMMARY' $(FUZZ_B)/fuzz/log/$$t.log)"; \
	    fi; \
	done; \
	exit $$fail

fuzz-regress: $(FUZZ_BINS)
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    files=$$(ls -d tests/fuzz/corpus/$$t/* tests/fuzz/regress/$$t/* 2>/dev/null); \
	    if [ -z "$$files" ]; then continue; fi; \
	    for f in $$files; do \
	        if FUZZ_KNOWN_BUGS=0 $(FUZZ_B)/fuzz_$$t -detect_leaks=1 -timeout=10 $$f > $(FUZZ_B)/fuzz_regress.log 2>&1; then :; else \
	            fail=$$((fail + 1)); echo "FAIL fuzz_$$t $$f: $$(grep -m1 -E 'ERROR|check failed|never|model|server sent|close code|SUMMARY' $(FUZZ_B)/fuzz_regress.log)"; fi; \
	    done; \
	    echo "fuzz_$$t: $$(echo $$files | wc -w) inputs"; \
	done; \
	if [ $$fail -ne 0 ]; then echo "fuzz-regress: $$fail failed"; exit 1; fi; echo "fuzz-regress: ok"
