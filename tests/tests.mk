# tests/tests.mk - C unit tests, OOM tests and the compile matrix. Included by the top
# Makefile (`include tests/tests.mk`); also usable alone: `make -f tests/tests.mk unit`.
#
#   unit            build $(B)/unit_tests (tests/impl.c + test_*.c) and run it
#   unit-epoll      the same with -DGP_USE_EPOLL
#   oom             build $(B)/oom_tests (tests/oom_impl.c: counting allocator) and run it
#   compile-checks  two TUs, GP_STATIC twice, C++ (g++ and clang++), api_all; gcc and clang
#   unit-asan       unit tests under clang -fsanitize=address,undefined
#   unit-valgrind   unit tests under valgrind (definite/indirect leaks are errors)
#
# `$(B)/unit_tests t_glob` runs the tests whose name contains t_glob; GP_TEST_NOFORK=1 runs
# them in-process (gdb), GP_TEST_TIMEOUT=s changes the per-test alarm (default 20 s).

B        ?= build
CC       ?= cc
CXX      ?= c++
CLANG    ?= clang
CLANGXX  ?= clang++
VALGRIND ?= valgrind
GP_T_WARN   ?= -std=c99 -pedantic -Wall -Wextra -Werror
# the top Makefile's WARN (STYLE 11): the implementation must build with it under gcc and clang
GP_T_STRICT ?= -std=c99 -pedantic -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
               -Wundef -Wcast-align -Werror
GP_T_CFLAGS ?= -O1 -g
GP_T_SAN    ?= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
GP_T_CXXWARN ?= -std=c++11 -Wall -Wextra -Werror

GP_T_HDRS = grouppush.h tests/gp_test.h
GP_T_UNIT = tests/impl.c tests/test_main.c tests/test_support.c tests/test_util.c \
            tests/test_wscodec.c tests/test_http.c tests/test_chan.c tests/test_group.c \
            tests/test_loop.c tests/test_auth.c
GP_T_OOM  = tests/oom_impl.c tests/test_oom.c tests/test_support.c

.PHONY: unit unit-epoll oom compile-checks unit-asan unit-valgrind

$(B)/unit_tests: $(GP_T_UNIT) $(GP_T_HDRS)
	@mkdir -p $(B)
	$(CC) $(GP_T_WARN) $(GP_T_CFLAGS) $(GP_T_UNIT) -o $@

$(B)/unit_tests_epoll: $(GP_T_UNIT) $(GP_T_HDRS)
	@mkdir -p $(B)
	$(CC) $(GP_T_WARN) $(GP_T_CFLAGS) -DGP_USE_EPOLL $(GP_T_UNIT) -o $@

$(B)/unit_tests_asan: $(GP_T_UNIT) $(GP_T_HDRS)
	@mkdir -p $(B)
	$(CLANG) $(GP_T_WARN) $(GP_T_CFLAGS) $(GP_T_SAN) $(GP_T_UNIT) -o $@

$(B)/oom_tests: $(GP_T_OOM) $(GP_T_HDRS)
	@mkdir -p $(B)
	$(CC) $(GP_T_WARN) $(GP_T_CFLAGS) $(GP_T_OOM) -o $@

unit: $(B)/unit_tests
	$(B)/unit_tests

unit-epoll: $(B)/unit_tests_epoll
	$(B)/unit_tests_epoll

oom: $(B)/oom_tests
	$(B)/oom_tests

unit-asan: $(B)/unit_tests_asan
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1 $(B)/unit_tests_asan

unit-valgrind: $(B)/unit_tests
	GP_TEST_TIMEOUT=300 $(VALGRIND) -q --error-exitcode=1 --leak-check=full \
	    --errors-for-leak-kinds=definite,indirect $(B)/unit_tests

# Every GP_API function declared in grouppush.h must be listed in tests/api_all.c.
GP_T_API_NAMES = sed -n '1,/^\#endif \/\* GROUPPUSH_H \*\//p' grouppush.h | tr '\n' ' ' | \
                 grep -o 'GP_API[^;{(]*(' | grep -o 'gp_[a-z0-9_]*[[:space:]]*($$' | tr -d '( ' | sort -u

compile-checks: $(GP_T_HDRS) tests/two_tu_a.c tests/two_tu_b.c tests/static_a.c tests/static_b.c \
                tests/compile_cpp.cc tests/api_all.c tests/impl.c tests/ntop_check.c
	@mkdir -p $(B)
	@fail=0; \
	 check() { name=$$1; shift; if "$$@" >$(B)/check.log 2>&1; then echo "ok    $$name"; \
	           else echo "FAIL  $$name: $$*"; sed 's/^/      /' $(B)/check.log | head -20; fail=1; fi; }; \
	 missing=`$(GP_T_API_NAMES) | while read f; do grep -q "F($$f)" tests/api_all.c || echo $$f; done`; \
	 check "api_all.c lists every GP_API function" test -z "$$missing" || echo "      missing: $$missing"; \
	 for cc in $(CC) $(CLANG); do n=`basename $$cc`; \
	    check "$$n: implementation with the house WARN" $$cc $(GP_T_STRICT) $(GP_T_CFLAGS) -c tests/impl.c -o $(B)/impl_strict_$$n.o; \
	    check "$$n: two TUs build" $$cc $(GP_T_WARN) $(GP_T_CFLAGS) tests/two_tu_a.c tests/two_tu_b.c -o $(B)/two_tu_$$n && \
	    check "$$n: two TUs run" $(B)/two_tu_$$n; \
	    check "$$n: GP_STATIC twice build" $$cc $(GP_T_WARN) $(GP_T_CFLAGS) tests/static_a.c tests/static_b.c -o $(B)/static_$$n && \
	    check "$$n: GP_STATIC twice run" $(B)/static_$$n && \
	    check "$$n: GP_STATIC exports no gp_ symbol" sh -c "! nm -g --defined-only $(B)/static_$$n | grep ' gp_'"; \
	    check "$$n: api_all links" $$cc $(GP_T_WARN) -O2 tests/api_all.c tests/impl.c -o $(B)/api_all_$$n && \
	    check "$$n: api_all run" $(B)/api_all_$$n; \
	    check "$$n: gp__ntop writes what inet_ntop writes" $$cc $(GP_T_WARN) -O1 tests/ntop_check.c -o $(B)/ntop_$$n && \
	    check "$$n: ntop_check run" $(B)/ntop_$$n; \
	 done; \
	 for cxx in $(CXX) $(CLANGXX); do n=`basename $$cxx`; \
	    check "$$n: implementation as C++ build" $$cxx $(GP_T_CXXWARN) $(GP_T_CFLAGS) tests/compile_cpp.cc -o $(B)/compile_cpp_$$n && \
	    check "$$n: implementation as C++ run" $(B)/compile_cpp_$$n; \
	 done; \
	 rm -f $(B)/check.log; exit $$fail
