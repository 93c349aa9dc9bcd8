/* tests/impl.c - the unit-test binary's only copy of the implementation. */
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
