/* tests/static_a.c + static_b.c - GP_STATIC in both files, each with its own
   implementation: two private copies link into one program without clashing. */
#define GP_STATIC
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include <stdio.h>

typedef const char *(*static_rs_fn)(int);
int static_b_run(void);
static_rs_fn static_b_result_string(void);

static int static_a_run(void) {
    gp_loop *loop = NULL;
    uint8_t d[20];
    if (gp_loop_create(NULL, &loop) != GP_OK) return 1;
    gp_loop_destroy(loop);
    gp_sha1("abc", 3, d);
    return d[0] == 0xa9 ? 0 : 1;
}

int main(void) {
    int rc = static_a_run() | static_b_run();
    /* each file has its own copy */
    if (static_b_result_string() == gp_result_string) rc = 1;
    printf("static: %s\n", rc ? "FAIL" : "ok");
    return rc;
}
