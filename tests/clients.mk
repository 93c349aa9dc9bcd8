# tests/clients.mk - common Redis clients with their default options against the channel
# server (and a real redis-server as the control). Included by the top Makefile.
#
#   redis-clients   tests/redis_clients.py: ioredis and node-redis (npm, installed from
#                   tests/npm into $(B)/npm), hiredis ($(B)/redis_clients_hiredis, needs
#                   libhiredis-dev), redis-py (python3-redis) and redis-cli
B        ?= build
CC       ?= cc
PY       ?= /usr/bin/python3
GP_C_WARN ?= -std=c99 -pedantic -Wall -Wextra -Werror
# hiredis is an outside peer: without its header the program is not built and the script
# says SKIP (a failure under CI=true)
GP_C_HIREDIS = $(if $(wildcard /usr/include/hiredis/hiredis.h),$(B)/redis_clients_hiredis)

.PHONY: redis-clients

$(B)/redis_clients_hiredis: tests/redis_clients_hiredis.c
	@mkdir -p $(B)
	$(CC) $(GP_C_WARN) -O1 -g $< -o $@ -lhiredis

redis-clients: $(B)/channel_server $(GP_C_HIREDIS)
	$(PY) tests/redis_clients.py
