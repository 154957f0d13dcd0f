/* SPDX-License-Identifier: Apache-2.0 */
/* Ledger arithmetic of the points service: lots, give-backs, holds, exchange and expiry. */
#ifndef PTS_LEDGER_H
#define PTS_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Every function here is pure: no I/O, no allocation, no global state, so all are
 * thread-safe. Points are int64_t and every sum and product is overflow-checked; there is no
 * floating point. Times are microseconds since the Unix epoch, UTC. Pointers are borrowed for
 * the call only. Out-parameters are written only on success unless a comment says otherwise;
 * `why` (may be NULL when whylen is 0) receives a message safe to show a partner, in the
 * API's style ("points: must be at least 100"), only on failure, truncated to whylen.
 */

/* expires_us of a lot that never expires. */
#define PTS_NEVER INT64_MAX

/* Points a member earned in one go, with what is left of them and when they expire. */
typedef struct pts_lot {
    int64_t lot_id;
    int64_t expires_us;
    int64_t remaining;
} pts_lot;

/* Points a debit took from one lot; points > 0. */
typedef struct pts_take {
    int64_t lot_id;
    int64_t points;
} pts_take;

/* Points of lots a debit at now_us may use: the sum of remaining over lots with
 * expires_us > now_us and remaining > 0, saturating at INT64_MAX. */
int64_t pts_lots_available(const pts_lot *lots, size_t n, int64_t now_us);

/*
 * Debits `points` from a member's lots: soonest expires_us first, then lower lot_id (then
 * lower index, should two lots share both); lots with expires_us <= now_us or remaining <= 0
 * are skipped, so never-expiring lots (PTS_NEVER) go last. Reduces lots[i].remaining in place
 * (lots keep their positions) and writes one take per lot used, in the order taken, to takes
 * (capacity n; at most n are written), and their count to *ntakes.
 * Returns the points NOT covered: 0 when fully covered; on a shortfall the lots are left
 * exactly as they were, *ntakes = 0, and the result is points minus what was available.
 * points <= 0 takes nothing and returns 0. Cost O(n * takes): lots need not be sorted.
 */
int64_t pts_lots_consume(pts_lot *lots, size_t n, int64_t points, int64_t now_us, pts_take *takes,
                         size_t *ntakes);

/*
 * Gives back `points` (> 0) of a debit that consumed `orig` (its takes, in the order taken),
 * of which returned[i] were already given back to orig[i] by earlier reversals or voids
 * (returned may be NULL for none). Gives back to the lots in reverse order of taking: the
 * latest-taken lot first, so the lots with the most life left are refilled first and the
 * soonest-expiring ones (the likeliest to have expired meanwhile) last; giving back a debit
 * in several steps thus refills the same lots as giving it back at once. Writes the takes
 * given back, in that order, to `out` (capacity norig) and their count to *nout.
 * Returns CO_OK, or CO_ERR_INVALID_ARGUMENT when points <= 0, when points exceeds what is
 * left to give back, or when orig or returned are inconsistent (orig[i].points <= 0,
 * returned[i] outside 0..orig[i].points).
 */
co_err pts_takes_giveback(const pts_take *orig, const int64_t *returned, size_t norig,
                          int64_t points, pts_take *out, size_t *nout);

/* The lifecycle of a hold; values match coalition.v1.HoldStatus. */
typedef enum pts_hold_status {
    PTS_HOLD_ACTIVE = 1,
    PTS_HOLD_CAPTURED,
    PTS_HOLD_VOIDED,
    PTS_HOLD_EXPIRED
} pts_hold_status;

/* What may happen to a hold: CaptureHold, VoidHold, or the expiry timer. */
typedef enum pts_hold_event {
    PTS_HOLD_EV_CAPTURE = 1,
    PTS_HOLD_EV_VOID,
    PTS_HOLD_EV_TIMEOUT
} pts_hold_event;

/* A hold after an event: its new status, the points posted and the points released to the
 * member (captured + released = the hold's points). */
typedef struct pts_hold_step_out {
    pts_hold_status status;
    int64_t captured;
    int64_t released;
} pts_hold_step_out;

/*
 * Applies ev at now_us to a hold of hold_points in `status` expiring at expire_us.
 * CAPTURE: capture_points 0 means all, else 1..hold_points, otherwise INVALID_ARGUMENT
 *   ("points: ..."; checked first, as it depends only on the immutable hold_points); a hold
 *   not active is FAILED_PRECONDITION "hold is already captured" (voided, expired); at or
 *   after expire_us FAILED_PRECONDITION "hold expired at <RFC 3339 time>" (the timer is to
 *   release it). Result CAPTURED, captured = n, released = hold_points - n.
 * VOID: an active hold, at any time (even past expiry: releasing is always safe), becomes
 *   VOIDED with everything released; else FAILED_PRECONDITION "hold is already ...".
 * TIMEOUT: an active hold at or after expire_us becomes EXPIRED with everything released;
 *   before it FAILED_PRECONDITION "hold is not yet expired ..."; not active
 *   FAILED_PRECONDITION "hold is already ...".
 * A status or event outside the enums, or hold_points <= 0, is CO_ERR_INTERNAL (corrupt
 * stored state or a caller bug, never a partner's input). *out is written only on CO_OK.
 */
co_err pts_hold_step(pts_hold_status status, int64_t hold_points, int64_t expire_us, int64_t now_us,
                     pts_hold_event ev, int64_t capture_points, pts_hold_step_out *out, char *why,
                     size_t whylen);

/* An exchange agreement as stored (coalition.v1.ExchangeAgreement): rate_num/rate_den target
 * points per source point, fee_bps 0..10000, max_points and daily_cap_points 0 for none. */
typedef struct pts_agreement {
    bool enabled;
    int64_t rate_num, rate_den;
    int32_t fee_bps;
    int64_t min_points, max_points, daily_cap_points;
} pts_agreement;

/*
 * The arithmetic of exchanging `points` source points, exchanged_today (>= 0) being what
 * the member already exchanged under this agreement today: fee = floor(points * fee_bps /
 * 10000), credited = floor((points - fee) * rate_num / rate_den). Checks, first failing wins:
 *   disabled -> FAILED_PRECONDITION;
 *   points < min_points (or < 1), or max_points > 0 and points > max_points ->
 *     INVALID_ARGUMENT naming "points" and the bound;
 *   credited == 0 -> INVALID_ARGUMENT "points: too few to credit any target point";
 *   credited > 1000000000 -> INVALID_ARGUMENT;
 *   daily_cap_points > 0 and exchanged_today + points > daily_cap_points ->
 *     RESOURCE_EXHAUSTED saying how much is left today.
 * Argument errors come before the cap because no retry fixes them; waiting a day fixes the
 * cap. A malformed agreement (rate_num or rate_den < 1, fee_bps outside 0..10000, negative
 * bounds) or exchanged_today < 0 is CO_ERR_INTERNAL. *fee and *credited only on CO_OK.
 */
co_err pts_exchange_compute(const pts_agreement *a, int64_t points, int64_t exchanged_today,
                            int64_t *fee, int64_t *credited, char *why, size_t whylen);

/*
 * A lot's expiry: earned_us plus `months` calendar months in UTC at the same time of day,
 * the day clamped to the target month's last day (31 January + 1 month = 28 or 29 February).
 * months 0 -> PTS_NEVER. Negative months count backwards. A result beyond the int64 range
 * saturates (PTS_NEVER above, INT64_MIN below). Uses its own civil-date arithmetic, never
 * the C library's time zone state.
 */
int64_t pts_expiry_us(int64_t earned_us, int32_t months);

/*
 * The share of a bonus to reverse with part of its earn: floor(bonus * reversed / earned),
 * computed in 128 bits, so exact for any int64 values in the contract bonus >= 0,
 * earned > 0, 0 <= reversed <= earned (the result is then 0..bonus). Outside the contract it
 * returns 0, never more than the bonus. To reverse an earn in steps without rounding drift,
 * reverse pts_proportional(bonus, after, earned) - pts_proportional(bonus, before, earned),
 * before and after being the earn's cumulative reversed points.
 */
int64_t pts_proportional(int64_t bonus, int64_t reversed, int64_t earned);

#endif
