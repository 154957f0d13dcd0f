/* SPDX-License-Identifier: Apache-2.0 */
/* Ledger arithmetic of the points service: pure functions over plain values (see ledger.h). */
#include "ledger.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "int64.h"

#define DAY_US      INT64_C(86400000000)
#define MAX_CREDIT  INT64_C(1000000000)
#define BPS_ALL     10000
#define TIME_STRLEN 48

/* Writes a message to why when there is room; returns err. */
static co_err fail(co_err err, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static co_err fail(co_err err, char *why, size_t whylen, const char *fmt, ...)
{
    if (why != NULL && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* ------------------------------------------------------------------------------------------ */
/* Lots */

static bool lot_usable(const pts_lot *lot, int64_t now_us)
{
    return lot->remaining > 0 && lot->expires_us > now_us;
}

int64_t pts_lots_available(const pts_lot *lots, size_t n, int64_t now_us)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (lot_usable(&lots[i], now_us) && !co_add64(sum, lots[i].remaining, &sum)) {
            return INT64_MAX;
        }
    }
    return sum;
}

/* The usable lot to take from next: soonest expiry, then lowest lot_id, then lowest index;
 * n when none is left. */
static size_t next_lot(const pts_lot *lots, size_t n, int64_t now_us)
{
    size_t best = n;
    for (size_t i = 0; i < n; i++) {
        if (!lot_usable(&lots[i], now_us)) {
            continue;
        }
        if (best == n || lots[i].expires_us < lots[best].expires_us ||
            (lots[i].expires_us == lots[best].expires_us && lots[i].lot_id < lots[best].lot_id)) {
            best = i;
        }
    }
    return best;
}

int64_t pts_lots_consume(pts_lot *lots, size_t n, int64_t points, int64_t now_us, pts_take *takes,
                         size_t *ntakes)
{
    *ntakes = 0;
    if (points <= 0) {
        return 0;
    }
    int64_t available = pts_lots_available(lots, n, now_us);
    if (available < points) {
        return points - available;
    }
    /* Covered: every lot but the last one taken is drained and so drops out of next_lot. */
    int64_t need = points;
    size_t count = 0;
    while (need > 0) {
        size_t i = next_lot(lots, n, now_us);
        int64_t take = lots[i].remaining < need ? lots[i].remaining : need;
        lots[i].remaining -= take;
        need -= take;
        takes[count].lot_id = lots[i].lot_id;
        takes[count].points = take;
        count++;
    }
    *ntakes = count;
    return 0;
}

co_err pts_takes_giveback(const pts_take *orig, const int64_t *returned, size_t norig,
                          int64_t points, pts_take *out, size_t *nout)
{
    if (points <= 0) {
        return CO_ERR_INVALID_ARGUMENT;
    }
    int64_t left = 0;
    for (size_t i = 0; i < norig; i++) {
        int64_t back = returned != NULL ? returned[i] : 0;
        if (orig[i].points <= 0 || back < 0 || back > orig[i].points) {
            return CO_ERR_INVALID_ARGUMENT;
        }
        if (!co_add64(left, orig[i].points - back, &left)) {
            left = INT64_MAX; /* more than any points asked for */
        }
    }
    if (points > left) {
        return CO_ERR_INVALID_ARGUMENT;
    }
    int64_t need = points;
    size_t count = 0;
    for (size_t i = norig; i > 0 && need > 0; i--) {
        const pts_take *t = &orig[i - 1];
        int64_t open = t->points - (returned != NULL ? returned[i - 1] : 0);
        if (open == 0) {
            continue;
        }
        int64_t give = open < need ? open : need;
        out[count].lot_id = t->lot_id;
        out[count].points = give;
        count++;
        need -= give;
    }
    *nout = count;
    return CO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Civil dates (proleptic Gregorian, UTC) */

/* a / b rounded toward negative infinity; b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                   /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
    return era * 146097 + doe - 719468;
}

/* The civil date of z days since 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;                                      /* 0..146096 */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0..399 */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* 0..365 */
    int64_t mp = (5 * doy + 2) / 153;                                    /* 0..11 */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = era * 400 + yoe + (*m <= 2);
}

/* Splits us into whole days since the epoch and the microseconds into the day (0..DAY_US-1),
 * without overflow even at INT64_MIN. */
static void split_day(int64_t us, int64_t *days, int64_t *tod)
{
    *days = us / DAY_US;
    *tod = us % DAY_US;
    if (*tod < 0) {
        *tod += DAY_US;
        *days -= 1;
    }
}

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int month_days(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && is_leap(y)) ? 29 : days[m - 1];
}

/* us as RFC 3339 UTC ("2027-02-28T10:00:00Z", with six fraction digits when not whole). */
static void format_utc(int64_t us, char *buf, size_t len)
{
    int64_t days, tod;
    split_day(us, &days, &tod);
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t secs = tod / 1000000, frac = tod % 1000000;
    int hh = (int)(secs / 3600), mm = (int)(secs / 60 % 60), ss = (int)(secs % 60);
    if (frac == 0) {
        snprintf(buf, len, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02dZ", y, m, d, hh, mm, ss);
    } else {
        snprintf(buf, len, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z", y, m, d, hh, mm,
                 ss, frac);
    }
}

int64_t pts_expiry_us(int64_t earned_us, int32_t months)
{
    if (months == 0) {
        return PTS_NEVER;
    }
    int64_t days, tod;
    split_day(earned_us, &days, &tod);
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    /* |y| < 300000 and |months| < 2^31, so the month count cannot overflow. */
    int64_t total = y * 12 + (m - 1) + months;
    int64_t ny = floor_div(total, 12);
    int nm = (int)(total - ny * 12) + 1;
    int last = month_days(ny, nm);
    int64_t nd = days_from_civil(ny, nm, d < last ? d : last);
    int64_t us;
    if (!co_mul64(nd, DAY_US, &us) || !co_add64(us, tod, &us)) {
        return months > 0 ? PTS_NEVER : INT64_MIN;
    }
    return us;
}

/* ------------------------------------------------------------------------------------------ */
/* Holds */

static const char *hold_status_word(pts_hold_status s)
{
    switch (s) {
    case PTS_HOLD_ACTIVE:
        return "active";
    case PTS_HOLD_CAPTURED:
        return "captured";
    case PTS_HOLD_VOIDED:
        return "voided";
    case PTS_HOLD_EXPIRED:
        return "expired";
    }
    return NULL;
}

co_err pts_hold_step(pts_hold_status status, int64_t hold_points, int64_t expire_us, int64_t now_us,
                     pts_hold_event ev, int64_t capture_points, pts_hold_step_out *out, char *why,
                     size_t whylen)
{
    const char *word = hold_status_word(status);
    if (word == NULL) {
        return fail(CO_ERR_INTERNAL, why, whylen, "hold has an unknown status %d", (int)status);
    }
    if (hold_points <= 0) {
        return fail(CO_ERR_INTERNAL, why, whylen, "hold has %" PRId64 " points", hold_points);
    }
    if (ev != PTS_HOLD_EV_CAPTURE && ev != PTS_HOLD_EV_VOID && ev != PTS_HOLD_EV_TIMEOUT) {
        return fail(CO_ERR_INTERNAL, why, whylen, "unknown hold event %d", (int)ev);
    }
    if (ev == PTS_HOLD_EV_CAPTURE && (capture_points < 0 || capture_points > hold_points)) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen,
                    "points: must be between 1 and %" PRId64 " (the hold's points), or 0 for all",
                    hold_points);
    }
    if (status != PTS_HOLD_ACTIVE) {
        return fail(CO_ERR_FAILED_PRECONDITION, why, whylen, "hold is already %s", word);
    }
    bool expired = now_us >= expire_us;
    char when[TIME_STRLEN];
    pts_hold_step_out r = {0};
    switch (ev) {
    case PTS_HOLD_EV_CAPTURE:
        if (expired) {
            format_utc(expire_us, when, sizeof when);
            return fail(CO_ERR_FAILED_PRECONDITION, why, whylen, "hold expired at %s", when);
        }
        r.status = PTS_HOLD_CAPTURED;
        r.captured = capture_points == 0 ? hold_points : capture_points;
        r.released = hold_points - r.captured;
        break;
    case PTS_HOLD_EV_VOID:
        r.status = PTS_HOLD_VOIDED;
        r.released = hold_points;
        break;
    case PTS_HOLD_EV_TIMEOUT:
        if (!expired) {
            format_utc(expire_us, when, sizeof when);
            return fail(CO_ERR_FAILED_PRECONDITION, why, whylen,
                        "hold is not yet expired: it expires at %s", when);
        }
        r.status = PTS_HOLD_EXPIRED;
        r.released = hold_points;
        break;
    }
    *out = r;
    return CO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Exchange and proportions */

co_err pts_exchange_compute(const pts_agreement *a, int64_t points, int64_t exchanged_today,
                            int64_t *fee, int64_t *credited, char *why, size_t whylen)
{
    if (a->rate_num < 1 || a->rate_den < 1 || a->fee_bps < 0 || a->fee_bps > BPS_ALL ||
        a->min_points < 0 || a->max_points < 0 || a->daily_cap_points < 0 || exchanged_today < 0) {
        return fail(CO_ERR_INTERNAL, why, whylen, "exchange agreement is malformed");
    }
    if (!a->enabled) {
        return fail(CO_ERR_FAILED_PRECONDITION, why, whylen, "exchange agreement is disabled");
    }
    int64_t min = a->min_points > 1 ? a->min_points : 1;
    if (points < min) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen,
                    "points: must be at least %" PRId64 " (the agreement's minimum)", min);
    }
    if (a->max_points > 0 && points > a->max_points) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen,
                    "points: must be at most %" PRId64 " (the agreement's maximum)", a->max_points);
    }
    int64_t f = 0, c = 0;
    /* 0 <= fee <= points, so neither the fee nor the net can overflow. */
    (void)co_bps_floor64(points, a->fee_bps, &f);
    if (!co_muldiv_floor64(points - f, a->rate_num, a->rate_den, &c)) {
        c = INT64_MAX; /* beyond int64 is beyond the limit too */
    }
    if (c == 0) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen,
                    "points: too few to credit any target point");
    }
    if (c > MAX_CREDIT) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen,
                    "points: would credit more than %" PRId64 " target points", MAX_CREDIT);
    }
    int64_t total;
    if (a->daily_cap_points > 0 &&
        (!co_add64(exchanged_today, points, &total) || total > a->daily_cap_points)) {
        int64_t left =
            exchanged_today < a->daily_cap_points ? a->daily_cap_points - exchanged_today : 0;
        return fail(CO_ERR_RESOURCE_EXHAUSTED, why, whylen,
                    "points: beyond the daily exchange cap of %" PRId64 ", %" PRId64 " left today",
                    a->daily_cap_points, left);
    }
    *fee = f;
    *credited = c;
    return CO_OK;
}

int64_t pts_proportional(int64_t bonus, int64_t reversed, int64_t earned)
{
    if (bonus < 0 || earned <= 0 || reversed < 0 || reversed > earned) {
        return 0;
    }
    int64_t r;
    /* Within the contract the quotient is at most bonus, so it always fits. */
    if (!co_muldiv_floor64(bonus, reversed, earned, &r)) {
        return 0;
    }
    return r;
}
