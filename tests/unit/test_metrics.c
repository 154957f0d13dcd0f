/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the metrics registry and its Prometheus text (no HTTP listener). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <grpc/status.h>

#include "metrics.h"

/* True if text has exactly this line (without its newline). */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        bool starts = p == text || p[-1] == '\n';
        bool ends = p[n] == '\n' || p[n] == '\0';
        if (starts && ends) {
            return true;
        }
    }
    return false;
}

static void assert_line(const char *text, const char *line)
{
    if (!has_line(text, line)) {
        fail_msg("missing line: %s\n--- rendered ---\n%s", line, text);
    }
}

static void assert_no_line(const char *text, const char *line)
{
    if (has_line(text, line)) {
        fail_msg("unexpected line: %s", line);
    }
}

#define BUCKET(method, le, n)                                                                      \
    "coalition_grpc_call_duration_seconds_bucket{service=\"points\",method=\"" method              \
    "\",le=\"" le "\"} " n

static void test_metrics_add_method_returns_indexes_until_full(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 2);
    assert_non_null(m);
    assert_int_equal(co_metrics_add_method(m, "Earn"), 0);
    assert_int_equal(co_metrics_add_method(m, "Redeem"), 1);
    assert_int_equal(co_metrics_add_method(m, "Credit"), -1);
    co_metrics_free(m);
}

static void test_metrics_free_null_is_noop(void **state)
{
    (void)state;
    co_metrics_free(NULL);
}

static void test_metrics_render_counts_calls_per_method_and_code(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 4);
    assert_non_null(m);
    int earn = co_metrics_add_method(m, "Earn");
    int redeem = co_metrics_add_method(m, "Redeem");
    co_metrics_observe(m, earn, GRPC_STATUS_OK, 100);
    co_metrics_observe(m, earn, GRPC_STATUS_OK, 200);
    co_metrics_observe(m, earn, GRPC_STATUS_NOT_FOUND, 3000);
    co_metrics_observe(m, redeem, GRPC_STATUS_FAILED_PRECONDITION, 20000000);
    char *text = co_metrics_render(m);
    assert_non_null(text);
    assert_line(text, "# TYPE coalition_grpc_calls_total counter");
    assert_line(text,
                "coalition_grpc_calls_total{service=\"points\",method=\"Earn\",code=\"OK\"} 2");
    assert_line(text, "coalition_grpc_calls_total{service=\"points\",method=\"Earn\","
                      "code=\"NOT_FOUND\"} 1");
    assert_line(text, "coalition_grpc_calls_total{service=\"points\",method=\"Redeem\","
                      "code=\"FAILED_PRECONDITION\"} 1");
    assert_no_line(text, "coalition_grpc_calls_total{service=\"points\",method=\"Redeem\","
                         "code=\"OK\"} 1");
    free(text);
    co_metrics_free(m);
}

static void test_metrics_render_histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 4);
    assert_non_null(m);
    int earn = co_metrics_add_method(m, "Earn");
    int redeem = co_metrics_add_method(m, "Redeem");
    co_metrics_observe(m, earn, GRPC_STATUS_OK, 100);         /* <= 0.00025 s */
    co_metrics_observe(m, earn, GRPC_STATUS_OK, 200);         /* <= 0.00025 s */
    co_metrics_observe(m, earn, GRPC_STATUS_NOT_FOUND, 3000); /* <= 0.005 s */
    co_metrics_observe(m, redeem, GRPC_STATUS_OK, 20000000);  /* 20 s: only +Inf */
    char *text = co_metrics_render(m);
    assert_non_null(text);
    assert_line(text, "# TYPE coalition_grpc_call_duration_seconds histogram");
    assert_line(text, BUCKET("Earn", "0.00025", "2"));
    assert_line(text, BUCKET("Earn", "0.0005", "2"));
    assert_line(text, BUCKET("Earn", "0.001", "2"));
    assert_line(text, BUCKET("Earn", "0.0025", "2"));
    assert_line(text, BUCKET("Earn", "0.005", "3"));
    assert_line(text, BUCKET("Earn", "0.01", "3"));
    assert_line(text, BUCKET("Earn", "1", "3"));
    assert_line(text, BUCKET("Earn", "10", "3"));
    assert_line(text, BUCKET("Earn", "+Inf", "3"));
    assert_line(text, "coalition_grpc_call_duration_seconds_count{service=\"points\","
                      "method=\"Earn\"} 3");
    assert_line(text, "coalition_grpc_call_duration_seconds_sum{service=\"points\","
                      "method=\"Earn\"} 0.003300");
    assert_line(text, BUCKET("Redeem", "0.00025", "0"));
    assert_line(text, BUCKET("Redeem", "10", "0"));
    assert_line(text, BUCKET("Redeem", "+Inf", "1"));
    assert_line(text, "coalition_grpc_call_duration_seconds_count{service=\"points\","
                      "method=\"Redeem\"} 1");
    assert_line(text, "coalition_grpc_call_duration_seconds_sum{service=\"points\","
                      "method=\"Redeem\"} 20.000000");
    free(text);
    co_metrics_free(m);
}

static void test_metrics_bucket_bounds_are_inclusive(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 1);
    assert_non_null(m);
    int e = co_metrics_add_method(m, "Earn");
    co_metrics_observe(m, e, GRPC_STATUS_OK, 250);      /* exactly 0.00025 s */
    co_metrics_observe(m, e, GRPC_STATUS_OK, 251);      /* just above */
    co_metrics_observe(m, e, GRPC_STATUS_OK, 10000000); /* exactly 10 s */
    co_metrics_observe(m, e, GRPC_STATUS_OK, 10000001); /* just above the last bound */
    char *text = co_metrics_render(m);
    assert_non_null(text);
    assert_line(text, BUCKET("Earn", "0.00025", "1"));
    assert_line(text, BUCKET("Earn", "0.0005", "2"));
    assert_line(text, BUCKET("Earn", "5", "2"));
    assert_line(text, BUCKET("Earn", "10", "3"));
    assert_line(text, BUCKET("Earn", "+Inf", "4"));
    free(text);
    co_metrics_free(m);
}

static void test_metrics_method_without_calls_renders_zero_histogram(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 1);
    assert_non_null(m);
    co_metrics_add_method(m, "Idle");
    char *text = co_metrics_render(m);
    assert_non_null(text);
    assert_line(text, BUCKET("Idle", "+Inf", "0"));
    assert_line(text, "coalition_grpc_call_duration_seconds_count{service=\"points\","
                      "method=\"Idle\"} 0");
    assert_null(strstr(text, "coalition_grpc_calls_total{service=\"points\",method=\"Idle\""));
    free(text);
    co_metrics_free(m);
}

static void test_metrics_out_of_range_status_counts_as_unknown(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 1);
    assert_non_null(m);
    int e = co_metrics_add_method(m, "Earn");
    co_metrics_observe(m, e, 99, 10);
    co_metrics_observe(m, e, -1, 10);
    co_metrics_observe(m, e, GRPC_STATUS_UNKNOWN, 10);
    char *text = co_metrics_render(m);
    assert_non_null(text);
    assert_line(text, "coalition_grpc_calls_total{service=\"points\",method=\"Earn\","
                      "code=\"UNKNOWN\"} 3");
    free(text);
    co_metrics_free(m);
}

static void test_metrics_observe_of_unknown_method_is_ignored(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 4);
    assert_non_null(m);
    int e = co_metrics_add_method(m, "Earn");
    co_metrics_observe(m, e, GRPC_STATUS_OK, 10);
    co_metrics_observe(m, 1, GRPC_STATUS_OK, 10); /* within max, never added */
    co_metrics_observe(m, 4, GRPC_STATUS_OK, 10);
    co_metrics_observe(m, -1, GRPC_STATUS_OK, 10);
    co_metrics_observe(NULL, 0, GRPC_STATUS_OK, 10);
    char *text = co_metrics_render(m);
    assert_non_null(text);
    assert_line(text,
                "coalition_grpc_calls_total{service=\"points\",method=\"Earn\",code=\"OK\"} 1");
    assert_line(text, BUCKET("Earn", "+Inf", "1"));
    free(text);
    co_metrics_free(m);
}

static void test_metrics_negative_duration_counts_in_first_bucket_and_adds_nothing(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 1);
    assert_non_null(m);
    int e = co_metrics_add_method(m, "Earn");
    co_metrics_observe(m, e, GRPC_STATUS_OK, -5);
    char *text = co_metrics_render(m);
    assert_non_null(text);
    assert_line(text, BUCKET("Earn", "0.00025", "1"));
    assert_line(text, "coalition_grpc_call_duration_seconds_sum{service=\"points\","
                      "method=\"Earn\"} 0.000000");
    free(text);
    co_metrics_free(m);
}

static void test_metrics_inflight_gauge_follows_deltas(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 1);
    assert_non_null(m);
    char *text = co_metrics_render(m);
    assert_non_null(text);
    assert_line(text, "coalition_grpc_calls_in_flight{service=\"points\"} 0");
    free(text);
    co_metrics_inflight(m, 5);
    co_metrics_inflight(m, -2);
    co_metrics_inflight(NULL, 5);
    text = co_metrics_render(m);
    assert_non_null(text);
    assert_line(text, "# TYPE coalition_grpc_calls_in_flight gauge");
    assert_line(text, "coalition_grpc_calls_in_flight{service=\"points\"} 3");
    free(text);
    co_metrics_free(m);
}

static void test_metrics_render_of_many_methods_grows_buffer(void **state)
{
    (void)state;
    enum { N = 64 };
    co_metrics *m = co_metrics_new("points", N);
    assert_non_null(m);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "Method%02d", i);
        assert_int_equal(co_metrics_add_method(m, name), i);
        co_metrics_observe(m, i, GRPC_STATUS_OK, 1000 * (i + 1));
    }
    char *text = co_metrics_render(m);
    assert_non_null(text);
    assert_true(strlen(text) > 4096);
    assert_line(text, "coalition_grpc_calls_total{service=\"points\",method=\"Method63\","
                      "code=\"OK\"} 1");
    assert_line(text, BUCKET("Method63", "+Inf", "1"));
    assert_line(text, BUCKET("Method00", "0.001", "1"));
    assert_line(text, BUCKET("Method00", "0.0005", "0"));
    free(text);
    co_metrics_free(m);
}

static void test_metrics_start_with_empty_address_serves_nothing(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 1);
    assert_non_null(m);
    char err[128] = "";
    assert_int_equal(co_metrics_start(m, "", err, sizeof err), CO_OK);
    assert_int_equal(co_metrics_start(m, NULL, err, sizeof err), CO_OK);
    co_metrics_free(m);
}

static void test_metrics_start_with_bad_address_fails_without_listening(void **state)
{
    (void)state;
    co_metrics *m = co_metrics_new("points", 1);
    assert_non_null(m);
    static const char *const bad[] = {"nonsense", "127.0.0.1:99999", "[::1]:9101",
                                      "example.com:9101"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[128] = "";
        assert_int_equal(co_metrics_start(m, bad[i], err, sizeof err), CO_ERR_INVALID_ARGUMENT);
        if (strstr(err, bad[i]) == NULL) {
            fail_msg("\"%s\" does not name \"%s\"", err, bad[i]);
        }
    }
    co_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_add_method_returns_indexes_until_full),
        cmocka_unit_test(test_metrics_free_null_is_noop),
        cmocka_unit_test(test_metrics_render_counts_calls_per_method_and_code),
        cmocka_unit_test(test_metrics_render_histogram_buckets_are_cumulative),
        cmocka_unit_test(test_metrics_bucket_bounds_are_inclusive),
        cmocka_unit_test(test_metrics_method_without_calls_renders_zero_histogram),
        cmocka_unit_test(test_metrics_out_of_range_status_counts_as_unknown),
        cmocka_unit_test(test_metrics_observe_of_unknown_method_is_ignored),
        cmocka_unit_test(test_metrics_negative_duration_counts_in_first_bucket_and_adds_nothing),
        cmocka_unit_test(test_metrics_inflight_gauge_follows_deltas),
        cmocka_unit_test(test_metrics_render_of_many_methods_grows_buffer),
        cmocka_unit_test(test_metrics_start_with_empty_address_serves_nothing),
        cmocka_unit_test(test_metrics_start_with_bad_address_fails_without_listening),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
