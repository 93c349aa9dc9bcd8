/* tests/api_all.c - the address of every GP_API function, linked against tests/impl.c: a
   missing or misspelt definition (or a misspelt GROUPPUSH_IMPLEMENTATION) fails to link.
   tests.mk checks that every GP_API name in grouppush.h appears here. */
#include <stdio.h>
#include "../grouppush.h"

typedef void (*gp_t_fn)(void);
#define F(name) (gp_t_fn)name
/* external linkage, so the references are kept at any optimisation level */
extern const gp_t_fn gp_t_api_all[];
const gp_t_fn gp_t_api_all[] = {
    F(gp_app_channel), F(gp_app_check_channel), F(gp_app_create), F(gp_app_destroy),
    F(gp_app_groups), F(gp_app_publish), F(gp_app_stats_get),
    F(gp_app_ws), F(gp_base64_decode), F(gp_base64_encode),
    F(gp_buf_append), F(gp_buf_consume), F(gp_buf_free),
    F(gp_buf_reserve), F(gp_chan_glob_match), F(gp_chan_parse),
    F(gp_chan_parse_request), F(gp_chan_put_agg), F(gp_chan_put_bulk),
    F(gp_chan_put_command), F(gp_chan_put_int), F(gp_chan_put_null), F(gp_chan_script_sha),
    F(gp_chansrv_store_create), F(gp_chansrv_store_destroy), F(gp_chancli_call), F(gp_chancli_load_script),
    F(gp_group_each_member), F(gp_group_word), F(gp_group_user),
    F(gp_chan_put_simple), F(gp_chancli_create), F(gp_chancli_destroy),
    F(gp_chancli_parse_url), F(gp_chancli_psubscribe), F(gp_chancli_publish),
    F(gp_chancli_punsubscribe), F(gp_chancli_stats_get), F(gp_chancli_subscribe),
    F(gp_chancli_unsubscribe), F(gp_chansrv_adopt), F(gp_chansrv_create),
    F(gp_chansrv_destroy), F(gp_chansrv_listen), F(gp_chansrv_port),
    F(gp_chansrv_stats_get), F(gp_conn_close), F(gp_conn_get_user),
    F(gp_conn_is_open), F(gp_conn_queued), F(gp_conn_set_user),
    F(gp_conn_slot), F(gp_group_counts), F(gp_group_create),
    F(gp_group_destroy), F(gp_group_join), F(gp_group_leave),
    F(gp_group_leave_all), F(gp_group_send), F(gp_group_size),
    F(gp_http_has_token), F(gp_http_header_get), F(gp_http_parse_request), F(gp_http_parse_head),
    F(gp_json_find), F(gp_json_parse), F(gp_json_put_string),
    F(gp_fmt), F(gp_json_unescape), F(gp_log_stderr), F(gp_parse_uint), F(gp_print), F(gp_loop_alloc_ctx),
    F(gp_loop_backend), F(gp_loop_create), F(gp_loop_destroy),
    F(gp_loop_hook_add), F(gp_loop_hook_remove), F(gp_loop_log),
    F(gp_loop_now), F(gp_loop_run), F(gp_loop_run_once),
    F(gp_loop_set_events), F(gp_loop_stop), F(gp_loop_timer_start),
    F(gp_loop_timer_stop), F(gp_loop_unwatch), F(gp_loop_watch),
    F(gp_msg_new), F(gp_msg_ref), F(gp_msg_size),
    F(gp_msg_unref), F(gp_net_connect), F(gp_net_connect_result),
    F(gp_net_listen), F(gp_net_local_port), F(gp_net_split_hostport),
    F(gp_result_string), F(gp_sha1), F(gp_sup_index),
    F(gp_sup_listen_fd), F(gp_sup_my_stats), F(gp_sup_ready), F(gp_sup_slot),
    F(gp_sup_role), F(gp_sup_run), F(gp_sup_set_title),
    F(gp_sup_status_json), F(gp_sup_watch), F(gp_time_ms),
    F(gp_utf8_feed), F(gp_ws_accept_key), F(gp_ws_check_frame),
    F(gp_ws_close_code_valid), F(gp_ws_create), F(gp_ws_destroy),
    F(gp_ws_encode_header), F(gp_ws_listen), F(gp_ws_listen_fd),
    F(gp_ws_loop), F(gp_ws_mask), F(gp_ws_parse_header),
    F(gp_ws_port), F(gp_ws_send), F(gp_ws_send_msg),
    F(gp_ws_shutdown), F(gp_ws_stats_get), F(gp_buf_printf),
    /* auth: SHA-256/HMAC, JWT, query strings, peers, groups, users */
    F(gp_sha256), F(gp_hmac_sha256), F(gp_ct_equal), F(gp_jwt_verify), F(gp_jwt_match),
    F(gp_http_query_get), F(gp_conn_peer), F(gp_group_send_except), F(gp_group_each),
    F(gp_app_send_to_uid), F(gp_app_conn_uid), F(gp_app_conn_data),
};

int main(void) {
    size_t i, n = sizeof gp_t_api_all / sizeof gp_t_api_all[0], set = 0;
    for (i = 0; i < n; i++) set += gp_t_api_all[i] != NULL;
    printf("api_all: %lu GP_API functions linked\n", (unsigned long)set);
    return set == n ? 0 : 1;
}
