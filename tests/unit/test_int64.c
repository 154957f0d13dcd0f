/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the overflow-checked int64 helpers and their rounding rules. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include "int64.h"

/* The value an out-parameter holds before a call that must not write it. */
#define UNTOUCHED ((int64_t)0x5EED5EED)

/* cmocka compares as unsigned; these keep negative values readable in failures. */
#define assert_i64(actual, expected)                                                               \
    do {                                                                                           \
        int64_t a_ = (actual), e_ = (expected);                                                    \
        if (a_ != e_) {                                                                            \
            fail_msg("%s = %lld, expected %lld", #actual, (long long)a_, (long long)e_);           \
        }                                                                                          \
    } while (0)

static void test_int64_add_in_range(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_true(co_add64(2, 3, &r));
    assert_i64(r, 5);
    assert_true(co_add64(INT64_MAX, 0, &r));
    assert_i64(r, INT64_MAX);
    assert_true(co_add64(INT64_MAX, INT64_MIN, &r));
    assert_i64(r, -1);
    assert_true(co_add64(INT64_MIN, 0, &r));
    assert_i64(r, INT64_MIN);
    assert_true(co_add64(INT64_MAX - 1, 1, &r));
    assert_i64(r, INT64_MAX);
}

static void test_int64_add_overflow_leaves_out_untouched(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_false(co_add64(INT64_MAX, 1, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_add64(INT64_MIN, -1, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_add64(INT64_MAX, INT64_MAX, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_add64(INT64_MIN, INT64_MIN, &r));
    assert_i64(r, UNTOUCHED);
}

static void test_int64_sub_in_range(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_true(co_sub64(5, 7, &r));
    assert_i64(r, -2);
    assert_true(co_sub64(-1, INT64_MIN, &r));
    assert_i64(r, INT64_MAX);
    assert_true(co_sub64(INT64_MIN + 1, 1, &r));
    assert_i64(r, INT64_MIN);
}

static void test_int64_sub_overflow_leaves_out_untouched(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_false(co_sub64(INT64_MIN, 1, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_sub64(0, INT64_MIN, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_sub64(INT64_MAX, -1, &r));
    assert_i64(r, UNTOUCHED);
}

static void test_int64_mul_in_range(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_true(co_mul64(-4, 5, &r));
    assert_i64(r, -20);
    assert_true(co_mul64(INT64_MIN, 1, &r));
    assert_i64(r, INT64_MIN);
    assert_true(co_mul64(INT64_MAX, -1, &r));
    assert_i64(r, -INT64_MAX);
    assert_true(co_mul64(3037000499, 3037000499, &r));
    assert_i64(r, 9223372030926249001);
    assert_true(co_mul64(0, INT64_MIN, &r));
    assert_i64(r, 0);
}

static void test_int64_mul_overflow_leaves_out_untouched(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_false(co_mul64(INT64_MAX, 2, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_mul64(INT64_MIN, -1, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_mul64(-1, INT64_MIN, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_mul64(3037000500, 3037000500, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_mul64(INT64_MIN, INT64_MIN, &r));
    assert_i64(r, UNTOUCHED);
}

static void test_int64_muldiv_rounds_toward_negative_infinity(void **state)
{
    (void)state;
    static const struct {
        int64_t a, num, den, want;
    } cases[] = {
        {7, 1, 2, 3},   {-7, 1, 2, -4},   {7, -1, 2, -4}, {7, 1, -2, -4},    {-7, -1, 2, 3},
        {-7, 1, -2, 3}, {-7, -1, -2, -4}, {-6, 1, 2, -3}, {6, 1, -2, -3},    {1, 1, 3, 0},
        {-1, 1, 3, -1}, {2, 1, 3, 0},     {-2, 1, 3, -1}, {0, 5, 7, 0},      {0, -5, 7, 0},
        {10, 3, 4, 7},  {-10, 3, 4, -8},  {100, 0, 3, 0}, {999, 1, 1000, 0}, {-999, 1, 1000, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t r = UNTOUCHED;
        assert_true(co_muldiv_floor64(cases[i].a, cases[i].num, cases[i].den, &r));
        if (r != cases[i].want) {
            fail_msg("%lld * %lld / %lld = %lld, expected %lld", (long long)cases[i].a,
                     (long long)cases[i].num, (long long)cases[i].den, (long long)r,
                     (long long)cases[i].want);
        }
    }
}

static void test_int64_muldiv_uses_128_bit_intermediate(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_true(co_muldiv_floor64(INT64_MAX, 3, 3, &r));
    assert_i64(r, INT64_MAX);
    assert_true(co_muldiv_floor64(INT64_MIN, 2, 2, &r));
    assert_i64(r, INT64_MIN);
    assert_true(co_muldiv_floor64(INT64_MAX, INT64_MAX, INT64_MAX, &r));
    assert_i64(r, INT64_MAX);
    assert_true(co_muldiv_floor64(INT64_MIN, INT64_MIN, INT64_MIN, &r));
    assert_i64(r, INT64_MIN);
    assert_true(co_muldiv_floor64(INT64_MAX, INT64_MAX - 1, INT64_MAX, &r));
    assert_i64(r, INT64_MAX - 1);
    /* 10^12 micros * 10^6 / 10^9: the product exceeds int64 only in the middle. */
    assert_true(co_muldiv_floor64(1000000000000LL * 10, 1000000000LL, 1000000LL, &r));
    assert_i64(r, 10000000000000000LL);
    /* (INT64_MAX * 2) / 3 = 6148914691236517204.67 -> 6148914691236517204 */
    assert_true(co_muldiv_floor64(INT64_MAX, 2, 3, &r));
    assert_i64(r, 6148914691236517204LL);
    assert_true(co_muldiv_floor64(INT64_MAX, -2, 3, &r));
    assert_i64(r, -6148914691236517205LL);
}

static void test_int64_muldiv_quotient_overflow_leaves_out_untouched(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_false(co_muldiv_floor64(INT64_MAX, 2, 1, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_muldiv_floor64(INT64_MIN, -1, 1, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_muldiv_floor64(INT64_MIN, 1, -1, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_muldiv_floor64(INT64_MAX, INT64_MAX, 1, &r));
    assert_i64(r, UNTOUCHED);
    /* INT64_MIN * 3 / 2 = -1.5 * 2^63: below INT64_MIN. */
    assert_false(co_muldiv_floor64(INT64_MIN, 3, 2, &r));
    assert_i64(r, UNTOUCHED);
}

static void test_int64_muldiv_floor_reaching_int64_min_is_allowed(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    /* -(2^63 - 1) * 2 / 2 = INT64_MIN + 1, and (INT64_MIN * 1) / 1 = INT64_MIN. */
    assert_true(co_muldiv_floor64(-INT64_MAX, 2, 2, &r));
    assert_i64(r, INT64_MIN + 1);
    assert_true(co_muldiv_floor64(INT64_MIN, 1, 1, &r));
    assert_i64(r, INT64_MIN);
}

static void test_int64_muldiv_zero_denominator_fails(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_false(co_muldiv_floor64(10, 3, 0, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_muldiv_floor64(0, 0, 0, &r));
    assert_i64(r, UNTOUCHED);
}

static void test_int64_bps_floor(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_true(co_bps_floor64(10000, 250, &r)); /* 2.5% of 10000 */
    assert_i64(r, 250);
    assert_true(co_bps_floor64(12345, 10000, &r));
    assert_i64(r, 12345);
    assert_true(co_bps_floor64(999, 1, &r)); /* 0.0999 */
    assert_i64(r, 0);
    assert_true(co_bps_floor64(-999, 1, &r)); /* -0.0999 */
    assert_i64(r, -1);
    assert_true(co_bps_floor64(19999, 5000, &r)); /* 9999.5 */
    assert_i64(r, 9999);
    assert_true(co_bps_floor64(-19999, 5000, &r)); /* -9999.5 */
    assert_i64(r, -10000);
    assert_true(co_bps_floor64(100, -150, &r)); /* -1.5 */
    assert_i64(r, -2);
    assert_true(co_bps_floor64(INT64_MAX, 10000, &r));
    assert_i64(r, INT64_MAX);
    assert_true(co_bps_floor64(INT64_MAX, 0, &r));
    assert_i64(r, 0);
}

static void test_int64_bps_overflow_leaves_out_untouched(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_false(co_bps_floor64(INT64_MAX, 10001, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_bps_floor64(INT64_MIN, 10001, &r));
    assert_i64(r, UNTOUCHED);
}

static void test_int64_div_half_even_ties_go_to_even(void **state)
{
    (void)state;
    static const struct {
        int64_t a, q, want;
    } cases[] = {
        {25, 10, 2}, {35, 10, 4}, {-25, 10, -2}, {-35, 10, -4}, {5, 2, 2},  {7, 2, 4},
        {-5, 2, -2}, {-7, 2, -4}, {15, 10, 2},   {-15, 10, -2}, {5, 10, 0}, {-5, 10, 0},
        {1, 2, 0},   {-1, 2, 0},  {3, 2, 2},     {-3, 2, -2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t r = UNTOUCHED;
        assert_true(co_div_half_even64(cases[i].a, cases[i].q, &r));
        if (r != cases[i].want) {
            fail_msg("%lld / %lld = %lld, expected %lld", (long long)cases[i].a,
                     (long long)cases[i].q, (long long)r, (long long)cases[i].want);
        }
    }
}

static void test_int64_div_half_even_non_ties_round_to_nearest(void **state)
{
    (void)state;
    static const struct {
        int64_t a, q, want;
    } cases[] = {
        {24, 10, 2}, {26, 10, 3}, {-24, 10, -2}, {-26, 10, -3}, {2, 3, 1}, {-2, 3, -1},
        {1, 3, 0},   {-1, 3, 0},  {20, 10, 2},   {-30, 10, -3}, {0, 7, 0}, {999, 1000, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t r = UNTOUCHED;
        assert_true(co_div_half_even64(cases[i].a, cases[i].q, &r));
        if (r != cases[i].want) {
            fail_msg("%lld / %lld = %lld, expected %lld", (long long)cases[i].a,
                     (long long)cases[i].q, (long long)r, (long long)cases[i].want);
        }
    }
}

static void test_int64_div_half_even_at_int64_limits(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_true(co_div_half_even64(INT64_MAX, 1, &r));
    assert_i64(r, INT64_MAX);
    assert_true(co_div_half_even64(INT64_MIN, 1, &r));
    assert_i64(r, INT64_MIN);
    /* INT64_MAX / 2 = 4611686018427387903.5: a tie, odd below, so up. */
    assert_true(co_div_half_even64(INT64_MAX, 2, &r));
    assert_i64(r, 4611686018427387904LL);
    assert_true(co_div_half_even64(INT64_MIN, 2, &r));
    assert_i64(r, -4611686018427387904LL);
    /* INT64_MIN / 3 = -3074457345618258602.67 */
    assert_true(co_div_half_even64(INT64_MIN, 3, &r));
    assert_i64(r, -3074457345618258603LL);
    assert_true(co_div_half_even64(INT64_MAX, INT64_MAX, &r));
    assert_i64(r, 1);
    assert_true(co_div_half_even64(INT64_MIN, INT64_MAX, &r));
    assert_i64(r, -1);
}

static void test_int64_div_half_even_rejects_non_positive_divisor(void **state)
{
    (void)state;
    int64_t r = UNTOUCHED;
    assert_false(co_div_half_even64(10, 0, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_div_half_even64(10, -2, &r));
    assert_i64(r, UNTOUCHED);
    assert_false(co_div_half_even64(INT64_MIN, -1, &r));
    assert_i64(r, UNTOUCHED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int64_add_in_range),
        cmocka_unit_test(test_int64_add_overflow_leaves_out_untouched),
        cmocka_unit_test(test_int64_sub_in_range),
        cmocka_unit_test(test_int64_sub_overflow_leaves_out_untouched),
        cmocka_unit_test(test_int64_mul_in_range),
        cmocka_unit_test(test_int64_mul_overflow_leaves_out_untouched),
        cmocka_unit_test(test_int64_muldiv_rounds_toward_negative_infinity),
        cmocka_unit_test(test_int64_muldiv_uses_128_bit_intermediate),
        cmocka_unit_test(test_int64_muldiv_quotient_overflow_leaves_out_untouched),
        cmocka_unit_test(test_int64_muldiv_floor_reaching_int64_min_is_allowed),
        cmocka_unit_test(test_int64_muldiv_zero_denominator_fails),
        cmocka_unit_test(test_int64_bps_floor),
        cmocka_unit_test(test_int64_bps_overflow_leaves_out_untouched),
        cmocka_unit_test(test_int64_div_half_even_ties_go_to_even),
        cmocka_unit_test(test_int64_div_half_even_non_ties_round_to_nearest),
        cmocka_unit_test(test_int64_div_half_even_at_int64_limits),
        cmocka_unit_test(test_int64_div_half_even_rejects_non_positive_divisor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
