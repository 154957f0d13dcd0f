/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of GetProgramStats' arithmetic (services/points/stats.c): rates and means. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"

/* The value an out-parameter holds before a call that must not write it. */
#define UNTOUCHED 0x5EED

/* cmocka compares as unsigned; these keep negative values readable in failures. */
#define assert_i64(actual, expected)                                                               \
    do {                                                                                           \
        int64_t a_ = (actual), e_ = (expected);                                                    \
        if (a_ != e_) {                                                                            \
            fail_msg("%s = %lld, expected %lld", #actual, (long long)a_, (long long)e_);           \
        }                                                                                          \
    } while (0)

static int32_t bps(int64_t num, int64_t den)
{
    int32_t v = UNTOUCHED;
    assert_true(pts_stats_bps(num, den, &v));
    return v;
}

static void test_stats_bps_rounds_down_and_is_zero_without_denominator(void **state)
{
    (void)state;
    assert_i64(bps(0, 0), 0);
    assert_i64(bps(7, 0), 0);
    assert_i64(bps(1, 3), 3333);
    assert_i64(bps(2, 3), 6666);
    assert_i64(bps(3, 3), 10000);
    assert_i64(bps(9999, 10000), 9999);
    /* Toward negative infinity, not toward zero: an NPS of -1/3 is -3334. */
    assert_i64(bps(-1, 3), -3334);
    assert_i64(bps(-3, 3), -10000);
    /* More redeemed than issued (points exchanged in) is a rate above 100%. */
    assert_i64(bps(5, 2), 25000);
    /* The product may exceed int64 when the quotient fits. */
    assert_i64(bps(INT64_MAX / 2, INT64_MAX), 4999);
}

static void test_stats_bps_refuses_what_does_not_fit(void **state)
{
    (void)state;
    int32_t v = UNTOUCHED;
    assert_false(pts_stats_bps(1, -3, &v));
    assert_false(pts_stats_bps(INT64_MAX, 1, &v));
    assert_false(pts_stats_bps(214749, 1, &v)); /* 2147490000 > INT32_MAX */
    assert_i64(v, UNTOUCHED);
    assert_true(pts_stats_bps(214748, 1, &v));
    assert_i64(v, 2147480000);
}

static void test_stats_ratio_scales_and_rounds_down(void **state)
{
    (void)state;
    int64_t v = UNTOUCHED;
    assert_true(pts_stats_ratio(5, 1000, 2, &v));
    assert_i64(v, 2500);
    assert_true(pts_stats_ratio(7, 1000, 3, &v));
    assert_i64(v, 2333);
    assert_true(pts_stats_ratio(7, 1000, 0, &v));
    assert_i64(v, 0);
    assert_true(pts_stats_ratio(-7, 1, 2, &v));
    assert_i64(v, -4);
    v = UNTOUCHED;
    assert_false(pts_stats_ratio(INT64_MAX, 2, 1, &v));
    assert_false(pts_stats_ratio(1, 1, -1, &v));
    assert_i64(v, UNTOUCHED);
}

static pts_stats_raw sample(void)
{
    pts_stats_raw r;
    memset(&r, 0, sizeof r);
    r.members = 7;
    r.prev_active = 3;
    r.retained = 1;
    r.issued = 300;
    r.redeemed = 100;
    r.expired = 17;
    r.outstanding = 183;
    r.purchases = 7;
    r.purchasers = 3;
    r.repeaters = 2;
    r.spend_micros = 100000001;
    r.nps_responses = 3;
    r.nps_promoters = 0;
    r.nps_detractors = 1;
    r.effort_responses = 3;
    r.effort_sum = 11;
    return r;
}

static void test_stats_derive_every_figure(void **state)
{
    (void)state;
    pts_stats_raw r = sample();
    pts_stats_derived d;
    assert_true(pts_stats_derive(&r, 10000, &d));
    assert_i64(d.redemption_bps, 3333);
    assert_i64(d.breakage_bps, 566);
    assert_i64(d.repeat_bps, 6666);
    assert_i64(d.frequency_milli, 2333);
    assert_i64(d.retention_bps, 3333);
    assert_i64(d.churned, 2);
    assert_i64(d.churn_bps, 6666);
    assert_i64(d.nps_bps, -3334);
    assert_i64(d.effort_mean_milli, 3666);
    assert_i64(d.liability_micros, 1830000);
    assert_i64(d.ltv_micros, 14285714);
    assert_i64(d.avg_points, 42);
}

static void test_stats_derive_of_an_empty_program_is_all_zero(void **state)
{
    (void)state;
    pts_stats_raw r;
    memset(&r, 0, sizeof r);
    pts_stats_derived d, zero;
    memset(&zero, 0, sizeof zero);
    memset(&d, 0xff, sizeof d);
    assert_true(pts_stats_derive(&r, 10000, &d));
    assert_memory_equal(&d, &zero, sizeof d);
}

static void test_stats_derive_refuses_an_overflowing_liability(void **state)
{
    (void)state;
    pts_stats_raw r = sample();
    r.outstanding = INT64_MAX / 1000;
    pts_stats_derived d;
    memset(&d, 0x5e, sizeof d);
    pts_stats_derived before = d;
    assert_false(pts_stats_derive(&r, 1000000, &d));
    assert_memory_equal(&d, &before, sizeof d);
    /* A negative outstanding balance (members left negative by reversals) stays negative. */
    r.outstanding = -5;
    assert_true(pts_stats_derive(&r, 10000, &d));
    assert_i64(d.liability_micros, -50000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_bps_rounds_down_and_is_zero_without_denominator),
        cmocka_unit_test(test_stats_bps_refuses_what_does_not_fit),
        cmocka_unit_test(test_stats_ratio_scales_and_rounds_down),
        cmocka_unit_test(test_stats_derive_every_figure),
        cmocka_unit_test(test_stats_derive_of_an_empty_program_is_all_zero),
        cmocka_unit_test(test_stats_derive_refuses_an_overflowing_liability),
    };
    return cmocka_run_group_tests_name("pts_stats", tests, NULL, NULL);
}
