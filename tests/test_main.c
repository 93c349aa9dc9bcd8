/* tests/test_main.c - runs every unit suite. `unit_tests [name-substring]` */
#define _GNU_SOURCE 1
#include <signal.h>
#define GP_TEST_IMPLEMENTATION
#include "gp_test.h"

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    gp_test_args(argc, argv);
    gp_suite_util();
    gp_suite_wscodec();
    gp_suite_http();
    gp_suite_chan();
    gp_suite_group();
    gp_suite_loop();
    gp_suite_auth();
    return gp_test_summary();
}
