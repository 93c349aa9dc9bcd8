/* tests/two_tu_b.c - the implementation half of the two-TU check (see two_tu_a.c). */
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include "../grouppush.h"   /* a second include in the same file is harmless */

int two_tu_b_check(void);
int two_tu_b_check(void) {
    return strcmp(gp_result_string(GP_OK), "ok") == 0 ? 0 : 1;
}
