/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the points service's ledger arithmetic (services/points/ledger.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ledger.h"

/* The value an out-parameter holds before a call that must not write it. */
#define UNTOUCHED ((int64_t)0x5EED5EED)
#define SEC       INT64_C(1000000)
#define NOW       (INT64_C(1800000000) * SEC)
#define NLOTS     1000

/* cmocka compares as unsigned; these keep negative values readable in failures. */
#define assert_i64(actual, expected)                                                               \
    do {                                                                                           \
        int64_t a_ = (actual), e_ = (expected);                                                    \
        if (a_ != e_) {                                                                            \
            fail_msg("%s = %lld, expected %lld", #actual, (long long)a_, (long long)e_);           \
        }                                                                                          \
    } while (0)

#define assert_take(t, id, pts)                                                                    \
    do {                                                                                           \
        assert_i64((t).lot_id, (id));                                                              \
        assert_i64((t).points, (pts));                                                             \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* An independent, deliberately naive calendar: counts days year by year and month by month. */

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int mdays(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Microseconds since the epoch of y-m-d h:mi:s.us UTC, for 1900 <= y <= 2200. */
static int64_t ts_us(int y, int m, int d, int h, int mi, int s, int64_t us)
{
    int64_t days = 0;
    for (int yy = 1970; yy < y; yy++) {
        days += leap(yy) ? 366 : 365;
    }
    for (int yy = y; yy < 1970; yy++) {
        days -= leap(yy) ? 366 : 365;
    }
    for (int mm = 1; mm < m; mm++) {
        days += mdays(y, mm);
    }
    days += d - 1;
    return ((days * 24 + h) * 60 + mi) * 60 * SEC + s * SEC + us;
}

static int64_t ts(int y, int m, int d, int h, int mi, int s)
{
    return ts_us(y, m, d, h, mi, s, 0);
}

static void test_naive_calendar_matches_known_instants(void **state)
{
    (void)state;
    assert_i64(ts(1970, 1, 1, 0, 0, 0), 0);
    assert_i64(ts(2000, 1, 1, 0, 0, 0), INT64_C(946684800) * SEC);
    assert_i64(ts(2027, 1, 31, 10, 30, 15), INT64_C(1801391415) * SEC);
    assert_i64(ts(2028, 2, 29, 0, 0, 0), INT64_C(1835395200) * SEC);
    assert_i64(ts(1969, 12, 31, 23, 0, 0), -3600 * SEC);
}

/* ------------------------------------------------------------------------------------------ */
/* pts_lots_consume */

static void test_consume_takes_soonest_expiry_first(void **state)
{
    (void)state;
    pts_lot lots[3] = {{1, NOW + 300, 10}, {2, NOW + 100, 10}, {3, NOW + 200, 10}};
    pts_take takes[3];
    size_t nt = 99;
    assert_i64(pts_lots_consume(lots, 3, 15, NOW, takes, &nt), 0);
    assert_int_equal(nt, 2);
    assert_take(takes[0], 2, 10);
    assert_take(takes[1], 3, 5);
    assert_i64(lots[0].remaining, 10);
    assert_i64(lots[1].remaining, 0);
    assert_i64(lots[2].remaining, 5);
}

static void test_consume_ties_on_expiry_go_by_lot_id(void **state)
{
    (void)state;
    pts_lot lots[3] = {{9, NOW + 100, 4}, {3, NOW + 100, 4}, {5, NOW + 100, 4}};
    pts_take takes[3];
    size_t nt = 0;
    assert_i64(pts_lots_consume(lots, 3, 10, NOW, takes, &nt), 0);
    assert_int_equal(nt, 3);
    assert_take(takes[0], 3, 4);
    assert_take(takes[1], 5, 4);
    assert_take(takes[2], 9, 2);
    assert_i64(lots[0].remaining, 2);
}

static void test_consume_identical_lots_go_by_position(void **state)
{
    (void)state;
    pts_lot lots[2] = {{7, NOW + 100, 4}, {7, NOW + 100, 4}};
    pts_take takes[2];
    size_t nt = 0;
    assert_i64(pts_lots_consume(lots, 2, 5, NOW, takes, &nt), 0);
    assert_int_equal(nt, 2);
    assert_i64(lots[0].remaining, 0);
    assert_i64(lots[1].remaining, 3);
}

static void test_consume_skips_expired_lots_including_now(void **state)
{
    (void)state;
    pts_lot lots[3] = {{1, NOW - 1, 50}, {2, NOW, 50}, {3, NOW + 1, 50}};
    pts_take takes[3];
    size_t nt = 0;
    assert_i64(pts_lots_consume(lots, 3, 20, NOW, takes, &nt), 0);
    assert_int_equal(nt, 1);
    assert_take(takes[0], 3, 20);
    assert_i64(lots[0].remaining, 50);
    assert_i64(lots[1].remaining, 50);
    assert_i64(lots[2].remaining, 30);
}

static void test_consume_skips_empty_and_negative_lots(void **state)
{
    (void)state;
    pts_lot lots[3] = {{1, NOW + 10, 0}, {2, NOW + 20, -5}, {3, NOW + 30, 8}};
    pts_take takes[3];
    size_t nt = 0;
    assert_i64(pts_lots_consume(lots, 3, 8, NOW, takes, &nt), 0);
    assert_int_equal(nt, 1);
    assert_take(takes[0], 3, 8);
    assert_i64(lots[0].remaining, 0);
    assert_i64(lots[1].remaining, -5);
}

static void test_consume_never_expiring_lots_go_last(void **state)
{
    (void)state;
    pts_lot lots[3] = {{1, PTS_NEVER, 10}, {2, NOW + 500 * SEC, 10}, {3, NOW + SEC, 10}};
    pts_take takes[3];
    size_t nt = 0;
    assert_i64(pts_lots_consume(lots, 3, 25, NOW, takes, &nt), 0);
    assert_int_equal(nt, 3);
    assert_take(takes[0], 3, 10);
    assert_take(takes[1], 2, 10);
    assert_take(takes[2], 1, 5);
}

static void test_consume_exact_cover_drains_every_usable_lot(void **state)
{
    (void)state;
    pts_lot lots[4] = {{1, NOW + 1, 3}, {2, NOW - 1, 100}, {3, NOW + 2, 4}, {4, PTS_NEVER, 5}};
    pts_take takes[4];
    size_t nt = 0;
    assert_i64(pts_lots_consume(lots, 4, 12, NOW, takes, &nt), 0);
    assert_int_equal(nt, 3);
    assert_i64(lots[0].remaining, 0);
    assert_i64(lots[1].remaining, 100);
    assert_i64(lots[2].remaining, 0);
    assert_i64(lots[3].remaining, 0);
    assert_i64(pts_lots_available(lots, 4, NOW), 0);
}

static void test_consume_shortfall_leaves_lots_untouched(void **state)
{
    (void)state;
    pts_lot lots[3] = {{1, NOW + 1, 3}, {2, NOW - 1, 100}, {3, PTS_NEVER, 4}};
    pts_lot before[3];
    memcpy(before, lots, sizeof lots);
    pts_take takes[3] = {{UNTOUCHED, UNTOUCHED}, {UNTOUCHED, UNTOUCHED}, {UNTOUCHED, UNTOUCHED}};
    size_t nt = 99;
    assert_i64(pts_lots_consume(lots, 3, 10, NOW, takes, &nt), 3);
    assert_int_equal(nt, 0);
    assert_memory_equal(lots, before, sizeof lots);
    assert_take(takes[0], UNTOUCHED, UNTOUCHED);
}

static void test_consume_shortfall_by_one_point(void **state)
{
    (void)state;
    pts_lot lots[2] = {{1, NOW + 1, 3}, {2, NOW + 2, 4}};
    pts_take takes[2];
    size_t nt = 0;
    assert_i64(pts_lots_consume(lots, 2, 8, NOW, takes, &nt), 1);
    assert_int_equal(nt, 0);
    assert_i64(lots[0].remaining, 3);
    assert_i64(lots[1].remaining, 4);
}

static void test_consume_with_nothing_usable_returns_all_points(void **state)
{
    (void)state;
    pts_lot lots[2] = {{1, NOW, 30}, {2, NOW + 5, 0}};
    pts_take takes[2];
    size_t nt = 99;
    assert_i64(pts_lots_consume(lots, 2, 7, NOW, takes, &nt), 7);
    assert_int_equal(nt, 0);
    assert_i64(pts_lots_consume(NULL, 0, 7, NOW, takes, &nt), 7);
    assert_int_equal(nt, 0);
}

static void test_consume_zero_or_negative_points_takes_nothing(void **state)
{
    (void)state;
    pts_lot lots[1] = {{1, NOW + 5, 30}};
    pts_take takes[1];
    size_t nt = 99;
    assert_i64(pts_lots_consume(lots, 1, 0, NOW, takes, &nt), 0);
    assert_int_equal(nt, 0);
    assert_i64(pts_lots_consume(lots, 1, -4, NOW, takes, &nt), 0);
    assert_int_equal(nt, 0);
    assert_i64(lots[0].remaining, 30);
}

static void test_consume_spreads_over_many_lots(void **state)
{
    (void)state;
    static pts_lot lots[NLOTS];
    static pts_take takes[NLOTS];
    /* 1 point per lot; expiries a permutation of 0..NLOTS-1 days ahead (7 is prime to 1000). */
    for (size_t i = 0; i < NLOTS; i++) {
        int64_t day = (int64_t)((i * 7) % NLOTS);
        lots[i] = (pts_lot){(int64_t)i + 1, NOW + (day + 1) * 86400 * SEC, 1};
    }
    size_t nt = 0;
    assert_i64(pts_lots_consume(lots, NLOTS, 750, NOW, takes, &nt), 0);
    assert_int_equal(nt, 750);
    int64_t prev = INT64_MIN;
    for (size_t k = 0; k < nt; k++) {
        pts_lot *lot = &lots[takes[k].lot_id - 1];
        assert_i64(takes[k].points, 1);
        assert_i64(lot->remaining, 0);
        assert_true(lot->expires_us > prev);
        prev = lot->expires_us;
    }
    assert_i64(pts_lots_available(lots, NLOTS, NOW), 250);
    assert_i64(pts_lots_consume(lots, NLOTS, 251, NOW, takes, &nt), 1);
    assert_i64(pts_lots_consume(lots, NLOTS, 250, NOW, takes, &nt), 0);
    assert_int_equal(nt, 250);
    assert_i64(pts_lots_available(lots, NLOTS, NOW), 0);
}

static void test_consume_huge_lots_do_not_overflow(void **state)
{
    (void)state;
    pts_lot lots[3] = {{1, NOW + 1, INT64_MAX}, {2, NOW + 2, INT64_MAX}, {3, NOW + 3, 1}};
    pts_take takes[3];
    size_t nt = 0;
    assert_i64(pts_lots_available(lots, 3, NOW), INT64_MAX);
    assert_i64(pts_lots_consume(lots, 3, INT64_MAX, NOW, takes, &nt), 0);
    assert_int_equal(nt, 1);
    assert_take(takes[0], 1, INT64_MAX);
    assert_i64(pts_lots_consume(lots, 3, INT64_MAX, NOW, takes, &nt), 0);
    assert_take(takes[0], 2, INT64_MAX);
    assert_i64(pts_lots_consume(lots, 3, INT64_MAX, NOW, takes, &nt), INT64_MAX - 1);
}

static void test_lots_available_counts_only_usable_lots(void **state)
{
    (void)state;
    pts_lot lots[5] = {
        {1, NOW, 100}, {2, NOW + 1, 2}, {3, PTS_NEVER, 3}, {4, NOW + 9, 0}, {5, NOW + 9, -7}};
    assert_i64(pts_lots_available(lots, 5, NOW), 5);
    assert_i64(pts_lots_available(lots, 5, NOW - 1), 105);
    assert_i64(pts_lots_available(NULL, 0, NOW), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* pts_takes_giveback */

static const pts_take three_takes[3] = {{11, 10}, {22, 20}, {33, 5}};

static void test_giveback_full_refills_latest_taken_first(void **state)
{
    (void)state;
    pts_take out[3];
    size_t no = 0;
    assert_int_equal(pts_takes_giveback(three_takes, NULL, 3, 35, out, &no), CO_OK);
    assert_int_equal(no, 3);
    assert_take(out[0], 33, 5);
    assert_take(out[1], 22, 20);
    assert_take(out[2], 11, 10);
}

static void test_giveback_partial_within_last_take(void **state)
{
    (void)state;
    pts_take out[3];
    size_t no = 0;
    assert_int_equal(pts_takes_giveback(three_takes, NULL, 3, 4, out, &no), CO_OK);
    assert_int_equal(no, 1);
    assert_take(out[0], 33, 4);
}

static void test_giveback_partial_across_takes(void **state)
{
    (void)state;
    pts_take out[3];
    size_t no = 0;
    assert_int_equal(pts_takes_giveback(three_takes, NULL, 3, 12, out, &no), CO_OK);
    assert_int_equal(no, 2);
    assert_take(out[0], 33, 5);
    assert_take(out[1], 22, 7);
}

static void test_giveback_in_steps_continues_where_it_stopped(void **state)
{
    (void)state;
    int64_t returned[3] = {0, 0, 0};
    int64_t total[3] = {0, 0, 0};
    const int64_t steps[4] = {3, 9, 1, 22};
    for (size_t s = 0; s < 4; s++) {
        pts_take out[3];
        size_t no = 0;
        assert_int_equal(pts_takes_giveback(three_takes, returned, 3, steps[s], out, &no), CO_OK);
        int64_t sum = 0;
        for (size_t k = 0; k < no; k++) {
            for (size_t i = 0; i < 3; i++) {
                if (three_takes[i].lot_id == out[k].lot_id) {
                    returned[i] += out[k].points;
                    total[i] += out[k].points;
                }
            }
            sum += out[k].points;
        }
        assert_i64(sum, steps[s]);
    }
    /* Everything is back, in the same lots as one full give-back. */
    assert_i64(total[0], 10);
    assert_i64(total[1], 20);
    assert_i64(total[2], 5);
    pts_take out[3];
    size_t no = 0;
    assert_int_equal(pts_takes_giveback(three_takes, returned, 3, 1, out, &no),
                     CO_ERR_INVALID_ARGUMENT);
}

static void test_giveback_skips_takes_already_returned(void **state)
{
    (void)state;
    const int64_t returned[3] = {2, 0, 5};
    pts_take out[3];
    size_t no = 0;
    assert_int_equal(pts_takes_giveback(three_takes, returned, 3, 25, out, &no), CO_OK);
    assert_int_equal(no, 2);
    assert_take(out[0], 22, 20);
    assert_take(out[1], 11, 5);
}

static void test_giveback_more_than_left_is_refused_untouched(void **state)
{
    (void)state;
    const int64_t returned[3] = {0, 1, 0};
    pts_take out[3] = {{UNTOUCHED, UNTOUCHED}, {UNTOUCHED, UNTOUCHED}, {UNTOUCHED, UNTOUCHED}};
    size_t no = 99;
    assert_int_equal(pts_takes_giveback(three_takes, NULL, 3, 36, out, &no),
                     CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(pts_takes_giveback(three_takes, returned, 3, 35, out, &no),
                     CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(pts_takes_giveback(three_takes, NULL, 3, INT64_MAX, out, &no),
                     CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(pts_takes_giveback(NULL, NULL, 0, 1, out, &no), CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(no, 99);
    assert_take(out[0], UNTOUCHED, UNTOUCHED);
    assert_int_equal(pts_takes_giveback(three_takes, returned, 3, 34, out, &no), CO_OK);
}

static void test_giveback_zero_or_negative_points_is_refused(void **state)
{
    (void)state;
    pts_take out[3];
    size_t no = 99;
    assert_int_equal(pts_takes_giveback(three_takes, NULL, 3, 0, out, &no),
                     CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(pts_takes_giveback(three_takes, NULL, 3, -1, out, &no),
                     CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(no, 99);
}

static void test_giveback_inconsistent_records_are_refused(void **state)
{
    (void)state;
    const int64_t negative[3] = {0, -1, 0};
    const int64_t too_many[3] = {0, 21, 0};
    const pts_take empty_take[2] = {{1, 5}, {2, 0}};
    pts_take out[3];
    size_t no = 99;
    assert_int_equal(pts_takes_giveback(three_takes, negative, 3, 1, out, &no),
                     CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(pts_takes_giveback(three_takes, too_many, 3, 1, out, &no),
                     CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(pts_takes_giveback(empty_take, NULL, 2, 1, out, &no), CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(no, 99);
}

static void test_consume_then_full_giveback_restores_lots(void **state)
{
    (void)state;
    pts_lot lots[4] = {{1, NOW + 40, 7}, {2, NOW + 10, 3}, {3, PTS_NEVER, 9}, {4, NOW + 20, 6}};
    pts_lot before[4];
    memcpy(before, lots, sizeof lots);
    pts_take takes[4], back[4];
    size_t nt = 0, nb = 0;
    assert_i64(pts_lots_consume(lots, 4, 20, NOW, takes, &nt), 0);
    assert_int_equal(nt, 4);
    assert_int_equal(pts_takes_giveback(takes, NULL, nt, 20, back, &nb), CO_OK);
    assert_int_equal(nb, 4);
    assert_take(back[0], 3, 4); /* the never-expiring lot, taken last, refilled first */
    for (size_t k = 0; k < nb; k++) {
        for (size_t i = 0; i < 4; i++) {
            if (lots[i].lot_id == back[k].lot_id) {
                lots[i].remaining += back[k].points;
            }
        }
    }
    assert_memory_equal(lots, before, sizeof lots);
}

/* ------------------------------------------------------------------------------------------ */
/* pts_hold_step */

#define HOLD_PTS  100
#define EXPIRE_US (ts(2027, 2, 28, 10, 0, 0))

typedef struct hold_case {
    pts_hold_status status;
    pts_hold_event ev;
    int64_t now_delta; /* now_us - expire_us */
    int64_t capture;
    co_err err;
    pts_hold_status to;
    int64_t captured, released;
    const char *why; /* expected message (prefix) on failure */
} hold_case;

static const hold_case hold_cases[] = {
    /* ACTIVE */
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_CAPTURE, -1, 0, CO_OK, PTS_HOLD_CAPTURED, 100, 0, NULL},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_CAPTURE, -1, 30, CO_OK, PTS_HOLD_CAPTURED, 30, 70, NULL},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_CAPTURE, -SEC, 100, CO_OK, PTS_HOLD_CAPTURED, 100, 0, NULL},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_CAPTURE, -SEC, 1, CO_OK, PTS_HOLD_CAPTURED, 1, 99, NULL},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_CAPTURE, 0, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold expired at 2027-02-28T10:00:00Z"},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_CAPTURE, 1, 10, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold expired at 2027-02-28T10:00:00Z"},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_CAPTURE, -1, 101, CO_ERR_INVALID_ARGUMENT, 0, 0, 0,
     "points: must be between 1 and 100"},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_CAPTURE, -1, -1, CO_ERR_INVALID_ARGUMENT, 0, 0, 0, "points: "},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_VOID, -1, 0, CO_OK, PTS_HOLD_VOIDED, 0, 100, NULL},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_VOID, 0, 0, CO_OK, PTS_HOLD_VOIDED, 0, 100, NULL},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_VOID, 86400 * SEC, 0, CO_OK, PTS_HOLD_VOIDED, 0, 100, NULL},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_VOID, -1, 55, CO_OK, PTS_HOLD_VOIDED, 0, 100, NULL},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_TIMEOUT, -1, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is not yet expired: it expires at 2027-02-28T10:00:00Z"},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_TIMEOUT, 0, 0, CO_OK, PTS_HOLD_EXPIRED, 0, 100, NULL},
    {PTS_HOLD_ACTIVE, PTS_HOLD_EV_TIMEOUT, 1, 0, CO_OK, PTS_HOLD_EXPIRED, 0, 100, NULL},
    /* CAPTURED */
    {PTS_HOLD_CAPTURED, PTS_HOLD_EV_CAPTURE, -1, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is already captured"},
    {PTS_HOLD_CAPTURED, PTS_HOLD_EV_CAPTURE, 1, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is already captured"},
    {PTS_HOLD_CAPTURED, PTS_HOLD_EV_VOID, -1, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is already captured"},
    {PTS_HOLD_CAPTURED, PTS_HOLD_EV_TIMEOUT, 0, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is already captured"},
    /* VOIDED */
    {PTS_HOLD_VOIDED, PTS_HOLD_EV_CAPTURE, -1, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is already voided"},
    {PTS_HOLD_VOIDED, PTS_HOLD_EV_VOID, -1, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is already voided"},
    {PTS_HOLD_VOIDED, PTS_HOLD_EV_TIMEOUT, 1, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is already voided"},
    /* EXPIRED */
    {PTS_HOLD_EXPIRED, PTS_HOLD_EV_CAPTURE, -1, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is already expired"},
    {PTS_HOLD_EXPIRED, PTS_HOLD_EV_VOID, 1, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is already expired"},
    {PTS_HOLD_EXPIRED, PTS_HOLD_EV_TIMEOUT, 1, 0, CO_ERR_FAILED_PRECONDITION, 0, 0, 0,
     "hold is already expired"},
};

static void test_hold_every_transition(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof hold_cases / sizeof hold_cases[0]; i++) {
        const hold_case *c = &hold_cases[i];
        pts_hold_step_out out = {0, UNTOUCHED, UNTOUCHED};
        char why[128] = "";
        co_err err = pts_hold_step(c->status, HOLD_PTS, EXPIRE_US, EXPIRE_US + c->now_delta, c->ev,
                                   c->capture, &out, why, sizeof why);
        if (err != c->err) {
            fail_msg("case %zu: err %d, expected %d (%s)", i, (int)err, (int)c->err, why);
        }
        if (err == CO_OK) {
            assert_int_equal(out.status, c->to);
            assert_i64(out.captured, c->captured);
            assert_i64(out.released, c->released);
            assert_i64(out.captured + out.released, HOLD_PTS);
            assert_string_equal(why, "");
        } else {
            assert_i64(out.captured, UNTOUCHED);
            assert_i64(out.released, UNTOUCHED);
            if (strncmp(why, c->why, strlen(c->why)) != 0) {
                fail_msg("case %zu: why \"%s\", expected \"%s...\"", i, why, c->why);
            }
        }
    }
}

static void test_hold_capture_out_of_range_wins_over_state(void **state)
{
    (void)state;
    pts_hold_step_out out;
    char why[128];
    assert_int_equal(pts_hold_step(PTS_HOLD_CAPTURED, 100, EXPIRE_US, EXPIRE_US + 1,
                                   PTS_HOLD_EV_CAPTURE, 500, &out, why, sizeof why),
                     CO_ERR_INVALID_ARGUMENT);
    assert_string_equal(why, "points: must be between 1 and 100 (the hold's points), or 0 for all");
}

static void test_hold_expiry_message_shows_fraction(void **state)
{
    (void)state;
    pts_hold_step_out out;
    char why[128];
    int64_t at = ts_us(1969, 12, 31, 23, 59, 59, 250);
    assert_int_equal(
        pts_hold_step(PTS_HOLD_ACTIVE, 5, at, at, PTS_HOLD_EV_CAPTURE, 0, &out, why, sizeof why),
        CO_ERR_FAILED_PRECONDITION);
    assert_string_equal(why, "hold expired at 1969-12-31T23:59:59.000250Z");
}

static void test_hold_corrupt_state_is_internal(void **state)
{
    (void)state;
    pts_hold_step_out out;
    char why[128];
    assert_int_equal(pts_hold_step((pts_hold_status)0, 5, EXPIRE_US, 0, PTS_HOLD_EV_VOID, 0, &out,
                                   why, sizeof why),
                     CO_ERR_INTERNAL);
    assert_int_equal(pts_hold_step((pts_hold_status)9, 5, EXPIRE_US, 0, PTS_HOLD_EV_VOID, 0, &out,
                                   why, sizeof why),
                     CO_ERR_INTERNAL);
    assert_int_equal(
        pts_hold_step(PTS_HOLD_ACTIVE, 0, EXPIRE_US, 0, PTS_HOLD_EV_VOID, 0, &out, why, sizeof why),
        CO_ERR_INTERNAL);
    assert_int_equal(pts_hold_step(PTS_HOLD_ACTIVE, 5, EXPIRE_US, 0, (pts_hold_event)0, 0, &out,
                                   why, sizeof why),
                     CO_ERR_INTERNAL);
    assert_int_equal(pts_hold_step(PTS_HOLD_ACTIVE, 5, EXPIRE_US, 0, (pts_hold_event)4, 0, &out,
                                   why, sizeof why),
                     CO_ERR_INTERNAL);
}

static void test_hold_why_may_be_absent_or_short(void **state)
{
    (void)state;
    pts_hold_step_out out;
    char why[8];
    assert_int_equal(
        pts_hold_step(PTS_HOLD_VOIDED, 5, EXPIRE_US, 0, PTS_HOLD_EV_VOID, 0, &out, NULL, 0),
        CO_ERR_FAILED_PRECONDITION);
    assert_int_equal(
        pts_hold_step(PTS_HOLD_VOIDED, 5, EXPIRE_US, 0, PTS_HOLD_EV_VOID, 0, &out, why, sizeof why),
        CO_ERR_FAILED_PRECONDITION);
    assert_string_equal(why, "hold is");
}

/* ------------------------------------------------------------------------------------------ */
/* pts_exchange_compute */

static pts_agreement agreement(void)
{
    pts_agreement a = {.enabled = true,
                       .rate_num = 1,
                       .rate_den = 2,
                       .fee_bps = 250,
                       .min_points = 100,
                       .max_points = 100000,
                       .daily_cap_points = 200000};
    return a;
}

/* Runs an exchange expected to fail with err and a message starting with why_prefix; checks
 * that the outputs are not written. */
static void exchange_fails(const pts_agreement *a, int64_t points, int64_t today, co_err err,
                           const char *why_prefix)
{
    int64_t fee = UNTOUCHED, credited = UNTOUCHED;
    char why[160] = "";
    co_err got = pts_exchange_compute(a, points, today, &fee, &credited, why, sizeof why);
    if (got != err) {
        fail_msg("points %lld: err %d, expected %d (%s)", (long long)points, (int)got, (int)err,
                 why);
    }
    if (strncmp(why, why_prefix, strlen(why_prefix)) != 0) {
        fail_msg("why \"%s\", expected \"%s...\"", why, why_prefix);
    }
    assert_i64(fee, UNTOUCHED);
    assert_i64(credited, UNTOUCHED);
}

static void exchange_ok(const pts_agreement *a, int64_t points, int64_t today, int64_t fee_want,
                        int64_t credited_want)
{
    int64_t fee = UNTOUCHED, credited = UNTOUCHED;
    char why[160] = "";
    co_err got = pts_exchange_compute(a, points, today, &fee, &credited, why, sizeof why);
    if (got != CO_OK) {
        fail_msg("points %lld: err %d (%s)", (long long)points, (int)got, why);
    }
    assert_i64(fee, fee_want);
    assert_i64(credited, credited_want);
}

static void test_exchange_fee_then_rate(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    exchange_ok(&a, 1000, 0, 25, 487); /* fee 25, net 975, 975/2 = 487.5 */
    exchange_ok(&a, 1001, 0, 25, 488); /* fee 25.025 -> 25, net 976 */
}

static void test_exchange_fee_rounds_down(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    a.rate_den = 1;
    exchange_ok(&a, 399, 0, 9, 390);  /* 399 * 2.5% = 9.975 */
    exchange_ok(&a, 400, 0, 10, 390); /* exactly 10 */
    a.fee_bps = 1;
    exchange_ok(&a, 9999, 0, 0, 9999); /* 0.9999 */
    exchange_ok(&a, 10000, 0, 1, 9999);
    a.fee_bps = 0;
    exchange_ok(&a, 100, 0, 0, 100);
}

static void test_exchange_rate_rounds_down(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    a.fee_bps = 0;
    a.rate_den = 3;
    exchange_ok(&a, 100, 0, 0, 33);
    a.rate_num = 2;
    exchange_ok(&a, 100, 0, 0, 66); /* 66.67 */
    a.rate_num = 7;
    a.rate_den = 1;
    exchange_ok(&a, 100, 0, 0, 700);
}

static void test_exchange_disabled_is_failed_precondition(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    a.enabled = false;
    exchange_fails(&a, 1000, 0, CO_ERR_FAILED_PRECONDITION, "exchange agreement is disabled");
    exchange_fails(&a, 1, 0, CO_ERR_FAILED_PRECONDITION, "exchange agreement is disabled");
}

static void test_exchange_min_boundary(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    exchange_ok(&a, 100, 0, 2, 49);
    exchange_fails(&a, 99, 0, CO_ERR_INVALID_ARGUMENT, "points: must be at least 100");
    exchange_fails(&a, 0, 0, CO_ERR_INVALID_ARGUMENT, "points: must be at least 100");
    exchange_fails(&a, -5, 0, CO_ERR_INVALID_ARGUMENT, "points: must be at least 100");
    a.min_points = 0;
    exchange_fails(&a, 0, 0, CO_ERR_INVALID_ARGUMENT, "points: must be at least 1");
}

static void test_exchange_max_boundary(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    exchange_ok(&a, 100000, 0, 2500, 48750);
    exchange_fails(&a, 100001, 0, CO_ERR_INVALID_ARGUMENT, "points: must be at most 100000");
    a.max_points = 0; /* no maximum */
    a.daily_cap_points = 0;
    exchange_ok(&a, 1000000000, 0, 25000000, 487500000);
}

static void test_exchange_daily_cap_boundary(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    a.daily_cap_points = 1000;
    exchange_ok(&a, 300, 700, 7, 146); /* reaches the cap exactly */
    exchange_fails(&a, 301, 700, CO_ERR_RESOURCE_EXHAUSTED,
                   "points: beyond the daily exchange cap of 1000, 300 left today");
    exchange_fails(&a, 100, 1000, CO_ERR_RESOURCE_EXHAUSTED,
                   "points: beyond the daily exchange cap of 1000, 0 left today");
    exchange_fails(&a, 100, 5000, CO_ERR_RESOURCE_EXHAUSTED,
                   "points: beyond the daily exchange cap of 1000, 0 left today");
    a.daily_cap_points = 0; /* no cap */
    exchange_ok(&a, 300, INT64_MAX - 1, 7, 146);
}

static void test_exchange_argument_errors_come_before_the_cap(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    a.daily_cap_points = 1000;
    exchange_fails(&a, 99, 1000, CO_ERR_INVALID_ARGUMENT, "points: must be at least");
    a.rate_den = 1000;
    exchange_fails(&a, 500, 1000, CO_ERR_INVALID_ARGUMENT,
                   "points: too few to credit any target point");
}

static void test_exchange_crediting_nothing_is_refused(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    a.fee_bps = 0;
    a.rate_den = 1000;
    exchange_fails(&a, 999, 0, CO_ERR_INVALID_ARGUMENT,
                   "points: too few to credit any target point");
    exchange_ok(&a, 1000, 0, 0, 1);
    a.fee_bps = 10000; /* the fee keeps everything */
    a.rate_den = 1;
    exchange_fails(&a, 500, 0, CO_ERR_INVALID_ARGUMENT,
                   "points: too few to credit any target point");
}

static void test_exchange_crediting_beyond_the_limit_is_refused(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    a.fee_bps = 0;
    a.rate_num = 2;
    a.rate_den = 1;
    a.max_points = 0;
    a.daily_cap_points = 0;
    exchange_ok(&a, 500000000, 0, 0, 1000000000);
    exchange_fails(&a, 500000001, 0, CO_ERR_INVALID_ARGUMENT,
                   "points: would credit more than 1000000000 target points");
}

static void test_exchange_huge_values_do_not_overflow(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    a.max_points = 0;
    a.daily_cap_points = 0;
    a.fee_bps = 9999;
    a.rate_num = INT64_MAX;
    a.rate_den = INT64_MAX;
    exchange_ok(&a, 1000000000, 0, 999900000, 100000);
    a.rate_den = 1; /* (p - fee) * INT64_MAX is beyond int64 */
    exchange_fails(&a, 1000000000, 0, CO_ERR_INVALID_ARGUMENT, "points: would credit more than");
    a.fee_bps = 0;
    a.rate_num = 1;
    a.rate_den = INT64_MAX;
    exchange_fails(&a, INT64_MAX - 1, 0, CO_ERR_INVALID_ARGUMENT, "points: too few");
    exchange_ok(&a, INT64_MAX, 0, 0, 1);
    a.rate_den = 1;
    a.daily_cap_points = INT64_MAX;
    exchange_fails(&a, 100, INT64_MAX, CO_ERR_RESOURCE_EXHAUSTED,
                   "points: beyond the daily exchange cap");
}

static void test_exchange_malformed_agreement_is_internal(void **state)
{
    (void)state;
    pts_agreement a = agreement();
    a.rate_den = 0;
    exchange_fails(&a, 1000, 0, CO_ERR_INTERNAL, "exchange agreement is malformed");
    a = agreement();
    a.rate_num = -1;
    exchange_fails(&a, 1000, 0, CO_ERR_INTERNAL, "exchange agreement is malformed");
    a = agreement();
    a.fee_bps = 10001;
    exchange_fails(&a, 1000, 0, CO_ERR_INTERNAL, "exchange agreement is malformed");
    a = agreement();
    exchange_fails(&a, 1000, -1, CO_ERR_INTERNAL, "exchange agreement is malformed");
}

/* ------------------------------------------------------------------------------------------ */
/* pts_expiry_us */

static void test_expiry_never_when_months_zero(void **state)
{
    (void)state;
    assert_i64(pts_expiry_us(NOW, 0), PTS_NEVER);
    assert_i64(pts_expiry_us(0, 0), PTS_NEVER);
}

static void test_expiry_clamps_31_january_to_28_february(void **state)
{
    (void)state;
    assert_i64(pts_expiry_us(ts(2027, 1, 31, 10, 30, 15), 1), ts(2027, 2, 28, 10, 30, 15));
    assert_i64(pts_expiry_us(ts(2027, 1, 28, 10, 30, 15), 1), ts(2027, 2, 28, 10, 30, 15));
    assert_i64(pts_expiry_us(ts(2027, 1, 30, 0, 0, 0), 1), ts(2027, 2, 28, 0, 0, 0));
}

static void test_expiry_clamps_to_29_february_in_leap_years(void **state)
{
    (void)state;
    assert_i64(pts_expiry_us(ts(2028, 1, 31, 8, 0, 0), 1), ts(2028, 2, 29, 8, 0, 0));
    assert_i64(pts_expiry_us(ts(2028, 2, 29, 8, 0, 0), 12), ts(2029, 2, 28, 8, 0, 0));
    assert_i64(pts_expiry_us(ts(2028, 2, 29, 8, 0, 0), 48), ts(2032, 2, 29, 8, 0, 0));
    assert_i64(pts_expiry_us(ts(2000, 1, 31, 8, 0, 0), 1), ts(2000, 2, 29, 8, 0, 0));
    assert_i64(pts_expiry_us(ts(2100, 1, 31, 8, 0, 0), 1), ts(2100, 2, 28, 8, 0, 0));
}

static void test_expiry_clamps_31_march_to_30_april(void **state)
{
    (void)state;
    assert_i64(pts_expiry_us(ts(2027, 3, 31, 12, 0, 0), 1), ts(2027, 4, 30, 12, 0, 0));
    assert_i64(pts_expiry_us(ts(2027, 8, 31, 12, 0, 0), 1), ts(2027, 9, 30, 12, 0, 0));
    assert_i64(pts_expiry_us(ts(2027, 4, 30, 12, 0, 0), 1), ts(2027, 5, 30, 12, 0, 0));
}

static void test_expiry_crosses_years(void **state)
{
    (void)state;
    assert_i64(pts_expiry_us(ts(2026, 12, 31, 1, 2, 3), 2), ts(2027, 2, 28, 1, 2, 3));
    assert_i64(pts_expiry_us(ts(2026, 11, 15, 1, 2, 3), 1), ts(2026, 12, 15, 1, 2, 3));
    assert_i64(pts_expiry_us(ts(2026, 10, 31, 1, 2, 3), 13), ts(2027, 11, 30, 1, 2, 3));
}

static void test_expiry_12_and_120_months(void **state)
{
    (void)state;
    assert_i64(pts_expiry_us(ts(2025, 6, 15, 9, 45, 0), 12), ts(2026, 6, 15, 9, 45, 0));
    assert_i64(pts_expiry_us(ts(2025, 6, 15, 9, 45, 0), 120), ts(2035, 6, 15, 9, 45, 0));
    assert_i64(pts_expiry_us(ts(2024, 2, 29, 9, 45, 0), 120), ts(2034, 2, 28, 9, 45, 0));
}

static void test_expiry_keeps_time_of_day(void **state)
{
    (void)state;
    int64_t last_us = 999999;
    assert_i64(pts_expiry_us(ts_us(2027, 1, 31, 23, 59, 59, last_us), 1),
               ts_us(2027, 2, 28, 23, 59, 59, last_us));
    assert_i64(pts_expiry_us(ts_us(2027, 5, 1, 0, 0, 0, 1), 3), ts_us(2027, 8, 1, 0, 0, 0, 1));
}

static void test_expiry_before_1970_and_backwards(void **state)
{
    (void)state;
    assert_i64(pts_expiry_us(ts(1969, 12, 31, 23, 0, 0), 1), ts(1970, 1, 31, 23, 0, 0));
    assert_i64(pts_expiry_us(ts(1969, 1, 31, 6, 0, 0), 1), ts(1969, 2, 28, 6, 0, 0));
    assert_i64(pts_expiry_us(ts(2027, 3, 31, 6, 0, 0), -1), ts(2027, 2, 28, 6, 0, 0));
    assert_i64(pts_expiry_us(ts(1970, 1, 1, 0, 0, 0), -12), ts(1969, 1, 1, 0, 0, 0));
}

static void test_expiry_saturates_beyond_int64(void **state)
{
    (void)state;
    assert_i64(pts_expiry_us(INT64_MAX - 1, 1), PTS_NEVER);
    assert_i64(pts_expiry_us(PTS_NEVER, 120), PTS_NEVER);
    assert_i64(pts_expiry_us(NOW, INT32_MAX), PTS_NEVER);
    assert_i64(pts_expiry_us(INT64_MIN, -1), INT64_MIN);
    assert_i64(pts_expiry_us(NOW, INT32_MIN), INT64_MIN);
}

/* Every day of 2027-2029 plus each of several month counts, against the naive calendar. */
static void test_expiry_sweep_matches_naive_calendar(void **state)
{
    (void)state;
    static const int counts[] = {1, 2, 6, 11, 12, 13, 24, 59, 120};
    for (int y = 2027; y <= 2029; y++) {
        for (int m = 1; m <= 12; m++) {
            for (int d = 1; d <= mdays(y, m); d++) {
                for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
                    int total = y * 12 + (m - 1) + counts[k];
                    int ty = total / 12, tm = total % 12 + 1;
                    int td = d < mdays(ty, tm) ? d : mdays(ty, tm);
                    int64_t got = pts_expiry_us(ts(y, m, d, 17, 5, 9), counts[k]);
                    int64_t want = ts(ty, tm, td, 17, 5, 9);
                    if (got != want) {
                        fail_msg("%d-%02d-%02d + %d months: %lld, expected %lld", y, m, d,
                                 counts[k], (long long)got, (long long)want);
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* pts_proportional */

static void test_proportional_rounds_down(void **state)
{
    (void)state;
    assert_i64(pts_proportional(15, 50, 100), 7);
    assert_i64(pts_proportional(10, 1, 3), 3);
    assert_i64(pts_proportional(10, 2, 3), 6);
    assert_i64(pts_proportional(1, 99, 100), 0);
}

static void test_proportional_ends(void **state)
{
    (void)state;
    assert_i64(pts_proportional(15, 100, 100), 15);
    assert_i64(pts_proportional(15, 0, 100), 0);
    assert_i64(pts_proportional(0, 50, 100), 0);
}

static void test_proportional_does_not_overflow(void **state)
{
    (void)state;
    const int64_t e9 = 1000000000;
    assert_i64(pts_proportional(e9, e9, e9), e9);
    assert_i64(pts_proportional(e9, e9 - 1, e9), e9 - 1);
    assert_i64(pts_proportional(e9 * e9, e9 * e9 - 1, e9 * e9), e9 * e9 - 1);
    assert_i64(pts_proportional(INT64_MAX, INT64_MAX - 1, INT64_MAX), INT64_MAX - 1);
    assert_i64(pts_proportional(INT64_MAX, 1, 2), INT64_MAX / 2);
}

static void test_proportional_outside_contract_is_zero(void **state)
{
    (void)state;
    assert_i64(pts_proportional(15, 50, 0), 0);
    assert_i64(pts_proportional(15, 50, -100), 0);
    assert_i64(pts_proportional(15, 101, 100), 0);
    assert_i64(pts_proportional(15, -1, 100), 0);
    assert_i64(pts_proportional(-15, 50, 100), 0);
    assert_i64(pts_proportional(INT64_MAX, INT64_MAX, 1), 0);
}

static void test_proportional_in_steps_by_cumulative_has_no_drift(void **state)
{
    (void)state;
    /* An earn of 100 with a bonus of 15, reversed 50 then 50: naive steps lose a point. */
    assert_i64(pts_proportional(15, 50, 100) + pts_proportional(15, 50, 100), 14);
    int64_t first = pts_proportional(15, 50, 100) - pts_proportional(15, 0, 100);
    int64_t second = pts_proportional(15, 100, 100) - pts_proportional(15, 50, 100);
    assert_i64(first, 7);
    assert_i64(second, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_naive_calendar_matches_known_instants),
        cmocka_unit_test(test_consume_takes_soonest_expiry_first),
        cmocka_unit_test(test_consume_ties_on_expiry_go_by_lot_id),
        cmocka_unit_test(test_consume_identical_lots_go_by_position),
        cmocka_unit_test(test_consume_skips_expired_lots_including_now),
        cmocka_unit_test(test_consume_skips_empty_and_negative_lots),
        cmocka_unit_test(test_consume_never_expiring_lots_go_last),
        cmocka_unit_test(test_consume_exact_cover_drains_every_usable_lot),
        cmocka_unit_test(test_consume_shortfall_leaves_lots_untouched),
        cmocka_unit_test(test_consume_shortfall_by_one_point),
        cmocka_unit_test(test_consume_with_nothing_usable_returns_all_points),
        cmocka_unit_test(test_consume_zero_or_negative_points_takes_nothing),
        cmocka_unit_test(test_consume_spreads_over_many_lots),
        cmocka_unit_test(test_consume_huge_lots_do_not_overflow),
        cmocka_unit_test(test_lots_available_counts_only_usable_lots),
        cmocka_unit_test(test_giveback_full_refills_latest_taken_first),
        cmocka_unit_test(test_giveback_partial_within_last_take),
        cmocka_unit_test(test_giveback_partial_across_takes),
        cmocka_unit_test(test_giveback_in_steps_continues_where_it_stopped),
        cmocka_unit_test(test_giveback_skips_takes_already_returned),
        cmocka_unit_test(test_giveback_more_than_left_is_refused_untouched),
        cmocka_unit_test(test_giveback_zero_or_negative_points_is_refused),
        cmocka_unit_test(test_giveback_inconsistent_records_are_refused),
        cmocka_unit_test(test_consume_then_full_giveback_restores_lots),
        cmocka_unit_test(test_hold_every_transition),
        cmocka_unit_test(test_hold_capture_out_of_range_wins_over_state),
        cmocka_unit_test(test_hold_expiry_message_shows_fraction),
        cmocka_unit_test(test_hold_corrupt_state_is_internal),
        cmocka_unit_test(test_hold_why_may_be_absent_or_short),
        cmocka_unit_test(test_exchange_fee_then_rate),
        cmocka_unit_test(test_exchange_fee_rounds_down),
        cmocka_unit_test(test_exchange_rate_rounds_down),
        cmocka_unit_test(test_exchange_disabled_is_failed_precondition),
        cmocka_unit_test(test_exchange_min_boundary),
        cmocka_unit_test(test_exchange_max_boundary),
        cmocka_unit_test(test_exchange_daily_cap_boundary),
        cmocka_unit_test(test_exchange_argument_errors_come_before_the_cap),
        cmocka_unit_test(test_exchange_crediting_nothing_is_refused),
        cmocka_unit_test(test_exchange_crediting_beyond_the_limit_is_refused),
        cmocka_unit_test(test_exchange_huge_values_do_not_overflow),
        cmocka_unit_test(test_exchange_malformed_agreement_is_internal),
        cmocka_unit_test(test_expiry_never_when_months_zero),
        cmocka_unit_test(test_expiry_clamps_31_january_to_28_february),
        cmocka_unit_test(test_expiry_clamps_to_29_february_in_leap_years),
        cmocka_unit_test(test_expiry_clamps_31_march_to_30_april),
        cmocka_unit_test(test_expiry_crosses_years),
        cmocka_unit_test(test_expiry_12_and_120_months),
        cmocka_unit_test(test_expiry_keeps_time_of_day),
        cmocka_unit_test(test_expiry_before_1970_and_backwards),
        cmocka_unit_test(test_expiry_saturates_beyond_int64),
        cmocka_unit_test(test_expiry_sweep_matches_naive_calendar),
        cmocka_unit_test(test_proportional_rounds_down),
        cmocka_unit_test(test_proportional_ends),
        cmocka_unit_test(test_proportional_does_not_overflow),
        cmocka_unit_test(test_proportional_outside_contract_is_zero),
        cmocka_unit_test(test_proportional_in_steps_by_cumulative_has_no_drift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
