/* tests/two_tu_a.c + two_tu_b.c - the header in two translation units, the implementation
   in one of them; they link into one program. This file only sees the declarations. */
#include <stdio.h>
#include <string.h>
#include "../grouppush.h"

int two_tu_b_check(void);

int main(void) {
    uint8_t d[20];
    gp_loop *loop = NULL;
    gp_sha1("abc", 3, d);
    if (gp_loop_create(NULL, &loop) != GP_OK) return 1;
    gp_loop_destroy(loop);
    if (two_tu_b_check() != 0 || d[0] != 0xa9 || strcmp(GP_VERSION_STRING, "") == 0) return 1;
    printf("two_tu: ok (%s)\n", gp_result_string(GP_ERR_CLOSED));
    return 0;
}
