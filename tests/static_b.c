/* tests/static_b.c - second GP_STATIC copy (see static_a.c). */
#define GP_STATIC
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"

typedef const char *(*static_rs_fn)(int);
int static_b_run(void);
static_rs_fn static_b_result_string(void);

int static_b_run(void) {
    char out[29];
    gp_ws_accept_key((const uint8_t *)"dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    return strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0 ? 0 : 1;
}
static_rs_fn static_b_result_string(void) { return gp_result_string; }
