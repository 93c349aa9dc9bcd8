# grouppush - plain GNU make. CC/CFLAGS overridable.
CC      ?= cc
CXX     ?= c++
OPT     ?= -O2 -g
WARN    = -std=c99 -pedantic -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wundef -Wcast-align
CFLAGS  ?= $(OPT)
B       = build
PY      = /usr/bin/python3

EXAMPLES = $(B)/echo $(B)/echo_epoll $(B)/grouppush_server $(B)/grouppush_server_epoll \
           $(B)/channel_server $(B)/publish

.PHONY: all examples test clean run
all: examples

examples: $(EXAMPLES)

$(B):
	mkdir -p $(B)

$(B)/%: examples/%.c grouppush.h | $(B)
	$(CC) $(WARN) -Werror $(CFLAGS) $< -o $@

$(B)/%_epoll: examples/%.c grouppush.h | $(B)
	$(CC) $(WARN) -Werror $(CFLAGS) -DGP_USE_EPOLL $< -o $@

clean:
	rm -rf $(B)
