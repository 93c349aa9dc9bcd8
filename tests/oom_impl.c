/* tests/oom_impl.c - the OOM binary's implementation, built on a counting allocator that
   can refuse the Nth allocation (libuv test/test-loop-oom.c style). */
#define _GNU_SOURCE 1
#include <stdlib.h>
#include <string.h>
#include "gp_test.h"

#define GP_MALLOC(ctx, sz)            gp_t_oom_malloc((ctx), (sz))
#define GP_REALLOC(ctx, p, old, new_) gp_t_oom_realloc((ctx), (p), (old), (new_))
#define GP_FREE(ctx, p, sz)           gp_t_oom_free((ctx), (p), (sz))
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"

#define GP_T_HDR 16   /* size and ctx of the block; keeps it 16-byte aligned */
gp_t_alloc gp_t_null_alloc;

static gp_t_alloc *gp_t_ctx(void *ctx) { return ctx ? (gp_t_alloc *)ctx : &gp_t_null_alloc; }
static int gp_t_refuse(void *ctx) {
    gp_t_alloc *a = gp_t_ctx(ctx);
    if (ctx == NULL) a->null_ctx++;
    a->count++;
    if (a->fail_at > 0 && (a->count == a->fail_at || (a->persistent && a->count > a->fail_at))) {
        a->failed++;
        return 1;
    }
    return 0;
}
static void gp_t_hdr_put(uint8_t *p, size_t n, void *ctx) {
    memcpy(p, &n, sizeof n);
    memcpy(p + 8, &ctx, sizeof ctx);
}
/* Check the size and ctx given back against the block's. */
static void gp_t_hdr_check(uint8_t *p, size_t n, void *ctx) {
    size_t have;
    void *hctx;
    memcpy(&have, p, sizeof have);
    memcpy(&hctx, p + 8, sizeof hctx);
    if (have != n || hctx != ctx) gp_t_ctx(ctx)->size_mismatch++;
}
void *gp_t_oom_malloc(void *ctx, size_t n) {
    uint8_t *p;
    if (gp_t_refuse(ctx) || n > (size_t)-1 - GP_T_HDR) return NULL;
    p = (uint8_t *)malloc(n + GP_T_HDR);
    if (p == NULL) return NULL;
    gp_t_hdr_put(p, n, ctx);
    gp_t_ctx(ctx)->live++;
    return p + GP_T_HDR;
}
void *gp_t_oom_realloc(void *ctx, void *q, size_t old, size_t n) {
    uint8_t *p, *np;
    if (q == NULL) return gp_t_oom_malloc(ctx, n);
    p = (uint8_t *)q - GP_T_HDR;
    gp_t_hdr_check(p, old, ctx);
    if (gp_t_refuse(ctx) || n > (size_t)-1 - GP_T_HDR) return NULL;
    np = (uint8_t *)realloc(p, n + GP_T_HDR);
    if (np == NULL) return NULL;
    gp_t_hdr_put(np, n, ctx);
    return np + GP_T_HDR;
}
void gp_t_oom_free(void *ctx, void *q, size_t n) {
    uint8_t *p;
    if (q == NULL) return;
    p = (uint8_t *)q - GP_T_HDR;
    gp_t_hdr_check(p, n, ctx);
    gp_t_ctx(ctx)->live--;
    memcpy(&n, p, sizeof n);   /* the block's real size */
    memset(p, 0xA5, n + GP_T_HDR < 4096 ? n + GP_T_HDR : 4096);   /* make use-after-free visible */
    free(p);
}
