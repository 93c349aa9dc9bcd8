// tests/compile_cpp.cc - the implementation built as C++ (-std=c++11 -Wall -Wextra -Werror).
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include <cstdio>
#include <cstring>

int main() {
    gp_loop *loop = NULL;
    gp_ws_server *srv = NULL;
    gp_groups *groups = NULL;
    gp_chansrv *cs = NULL;
    gp_buf b;
    std::memset(&b, 0, sizeof b);
    if (gp_loop_create(NULL, &loop) != GP_OK || gp_ws_create(loop, NULL, &srv) != GP_OK ||
        gp_group_create(srv, NULL, &groups) != GP_OK || gp_chansrv_create(loop, NULL, &cs) != GP_OK)
        return 1;
    if (gp_json_put_string(&b, "x\"", 2) != GP_OK || b.len != 5) return 1;
    gp_buf_free(&b);
    gp_chansrv_destroy(cs);
    gp_group_destroy(groups);
    gp_ws_destroy(srv);
    gp_loop_destroy(loop);
    std::printf("c++: ok\n");
    return 0;
}
