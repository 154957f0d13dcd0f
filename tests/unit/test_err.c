/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the error enum: its gRPC mapping both ways, its names and which errors replay. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static const struct {
    co_err err;
    grpc_status_code code;
    const char *name;
    int final;
} table[] = {
    {CO_OK, GRPC_STATUS_OK, "ok", 1},
    {CO_ERR_INVALID_ARGUMENT, GRPC_STATUS_INVALID_ARGUMENT, "invalid_argument", 1},
    {CO_ERR_NOT_FOUND, GRPC_STATUS_NOT_FOUND, "not_found", 1},
    {CO_ERR_ALREADY_EXISTS, GRPC_STATUS_ALREADY_EXISTS, "already_exists", 1},
    {CO_ERR_FAILED_PRECONDITION, GRPC_STATUS_FAILED_PRECONDITION, "failed_precondition", 1},
    {CO_ERR_PERMISSION_DENIED, GRPC_STATUS_PERMISSION_DENIED, "permission_denied", 1},
    {CO_ERR_UNAUTHENTICATED, GRPC_STATUS_UNAUTHENTICATED, "unauthenticated", 0},
    {CO_ERR_RESOURCE_EXHAUSTED, GRPC_STATUS_RESOURCE_EXHAUSTED, "resource_exhausted", 1},
    {CO_ERR_UNAVAILABLE, GRPC_STATUS_UNAVAILABLE, "unavailable", 0},
    {CO_ERR_DEADLINE_EXCEEDED, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline_exceeded", 0},
    {CO_ERR_UNIMPLEMENTED, GRPC_STATUS_UNIMPLEMENTED, "unimplemented", 0},
    {CO_ERR_INTERNAL, GRPC_STATUS_INTERNAL, "internal", 0},
    {CO_ERR_NOMEM, GRPC_STATUS_RESOURCE_EXHAUSTED, "out_of_memory", 0},
    {CO_ERR_RETRY, GRPC_STATUS_UNAVAILABLE, "retry", 0},
    {CO_ERR_CANCELLED, GRPC_STATUS_CANCELLED, "cancelled", 0},
};
#define NTABLE (sizeof table / sizeof table[0])

static void test_err_table_covers_every_value(void **state)
{
    (void)state;
    assert_int_equal(NTABLE, CO_ERR__COUNT);
    for (size_t i = 0; i < NTABLE; i++) {
        assert_int_equal(table[i].err, i);
    }
}

static void test_err_to_grpc_maps_every_value(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTABLE; i++) {
        grpc_status_code got = co_err_to_grpc(table[i].err);
        if (got != table[i].code) {
            fail_msg("%s maps to %d, expected %d", table[i].name, (int)got, (int)table[i].code);
        }
    }
}

static void test_err_to_grpc_of_count_sentinel_is_internal(void **state)
{
    (void)state;
    assert_int_equal(co_err_to_grpc(CO_ERR__COUNT), GRPC_STATUS_INTERNAL);
}

static void test_err_from_grpc_round_trips_api_codes(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTABLE; i++) {
        co_err e = table[i].err;
        if (e == CO_ERR_NOMEM || e == CO_ERR_RETRY) {
            continue; /* internal: they share a status with an API code */
        }
        co_err back = co_err_from_grpc(co_err_to_grpc(e));
        if (back != e) {
            fail_msg("%s came back as %s", table[i].name, co_err_name(back));
        }
    }
}

static void test_err_from_grpc_internal_only_errors_collapse_to_api_codes(void **state)
{
    (void)state;
    assert_int_equal(co_err_from_grpc(co_err_to_grpc(CO_ERR_NOMEM)), CO_ERR_RESOURCE_EXHAUSTED);
    assert_int_equal(co_err_from_grpc(co_err_to_grpc(CO_ERR_RETRY)), CO_ERR_UNAVAILABLE);
}

static void test_err_from_grpc_maps_codes_without_own_value(void **state)
{
    (void)state;
    assert_int_equal(co_err_from_grpc(GRPC_STATUS_OUT_OF_RANGE), CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(co_err_from_grpc(GRPC_STATUS_ABORTED), CO_ERR_UNAVAILABLE);
    assert_int_equal(co_err_from_grpc(GRPC_STATUS_UNKNOWN), CO_ERR_INTERNAL);
    assert_int_equal(co_err_from_grpc(GRPC_STATUS_DATA_LOSS), CO_ERR_INTERNAL);
    assert_int_equal(co_err_from_grpc((grpc_status_code)17), CO_ERR_INTERNAL);
    assert_int_equal(co_err_from_grpc((grpc_status_code)-1), CO_ERR_INTERNAL);
}

static void test_err_from_grpc_always_returns_a_defined_value(void **state)
{
    (void)state;
    for (int code = 0; code <= GRPC_STATUS_UNAUTHENTICATED; code++) {
        co_err e = co_err_from_grpc((grpc_status_code)code);
        assert_true((unsigned)e < CO_ERR__COUNT);
    }
}

static void test_err_names_match_and_are_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTABLE; i++) {
        const char *n = co_err_name(table[i].err);
        assert_non_null(n);
        assert_string_equal(n, table[i].name);
        for (size_t k = 0; k < i; k++) {
            assert_string_not_equal(n, co_err_name(table[k].err));
        }
    }
}

static void test_err_name_of_out_of_range_value_is_not_null(void **state)
{
    (void)state;
    const char *n = co_err_name(CO_ERR__COUNT);
    assert_non_null(n);
    assert_true(n[0] != '\0');
    n = co_err_name((co_err)1000);
    assert_non_null(n);
    assert_true(n[0] != '\0');
}

static void test_grpc_status_names_for_every_code(void **state)
{
    (void)state;
    static const struct {
        grpc_status_code code;
        const char *name;
    } names[] = {
        {GRPC_STATUS_OK, "OK"},
        {GRPC_STATUS_CANCELLED, "CANCELLED"},
        {GRPC_STATUS_UNKNOWN, "UNKNOWN"},
        {GRPC_STATUS_INVALID_ARGUMENT, "INVALID_ARGUMENT"},
        {GRPC_STATUS_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
        {GRPC_STATUS_NOT_FOUND, "NOT_FOUND"},
        {GRPC_STATUS_ALREADY_EXISTS, "ALREADY_EXISTS"},
        {GRPC_STATUS_PERMISSION_DENIED, "PERMISSION_DENIED"},
        {GRPC_STATUS_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
        {GRPC_STATUS_FAILED_PRECONDITION, "FAILED_PRECONDITION"},
        {GRPC_STATUS_ABORTED, "ABORTED"},
        {GRPC_STATUS_OUT_OF_RANGE, "OUT_OF_RANGE"},
        {GRPC_STATUS_UNIMPLEMENTED, "UNIMPLEMENTED"},
        {GRPC_STATUS_INTERNAL, "INTERNAL"},
        {GRPC_STATUS_UNAVAILABLE, "UNAVAILABLE"},
        {GRPC_STATUS_DATA_LOSS, "DATA_LOSS"},
        {GRPC_STATUS_UNAUTHENTICATED, "UNAUTHENTICATED"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *n = co_grpc_status_name(names[i].code);
        assert_non_null(n);
        assert_string_equal(n, names[i].name);
    }
}

static void test_grpc_status_name_of_unknown_code_is_not_null(void **state)
{
    (void)state;
    const char *n = co_grpc_status_name((grpc_status_code)17);
    assert_non_null(n);
    assert_string_equal(n, "UNKNOWN");
    n = co_grpc_status_name((grpc_status_code)-1);
    assert_non_null(n);
    assert_string_equal(n, "UNKNOWN");
}

static void test_err_is_final_for_business_outcomes_only(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTABLE; i++) {
        int got = co_err_is_final(table[i].err) != 0;
        if (got != table[i].final) {
            fail_msg("co_err_is_final(%s) = %d, expected %d", table[i].name, got, table[i].final);
        }
    }
}

static void test_err_transient_failures_are_never_final(void **state)
{
    (void)state;
    assert_false(co_err_is_final(CO_ERR_RETRY));
    assert_false(co_err_is_final(CO_ERR_UNAVAILABLE));
    assert_false(co_err_is_final(CO_ERR_DEADLINE_EXCEEDED));
    assert_false(co_err_is_final(CO_ERR_NOMEM));
    assert_false(co_err_is_final(CO_ERR_INTERNAL));
    assert_false(co_err_is_final(CO_ERR_CANCELLED));
    assert_false(co_err_is_final(CO_ERR__COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table_covers_every_value),
        cmocka_unit_test(test_err_to_grpc_maps_every_value),
        cmocka_unit_test(test_err_to_grpc_of_count_sentinel_is_internal),
        cmocka_unit_test(test_err_from_grpc_round_trips_api_codes),
        cmocka_unit_test(test_err_from_grpc_internal_only_errors_collapse_to_api_codes),
        cmocka_unit_test(test_err_from_grpc_maps_codes_without_own_value),
        cmocka_unit_test(test_err_from_grpc_always_returns_a_defined_value),
        cmocka_unit_test(test_err_names_match_and_are_distinct),
        cmocka_unit_test(test_err_name_of_out_of_range_value_is_not_null),
        cmocka_unit_test(test_grpc_status_names_for_every_code),
        cmocka_unit_test(test_grpc_status_name_of_unknown_code_is_not_null),
        cmocka_unit_test(test_err_is_final_for_business_outcomes_only),
        cmocka_unit_test(test_err_transient_failures_are_never_final),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
