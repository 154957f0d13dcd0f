/* SPDX-License-Identifier: Apache-2.0 */
/* GetProgramStats: a program's figures from the ledger and from the accounts service. */
#ifndef PTS_STATS_H
#define PTS_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "pg.h"
#include "pts.h"
#include "server.h"

/* The default and the largest window, in days. */
#define PTS_STATS_WINDOW_DEFAULT 90
#define PTS_STATS_WINDOW_MAX     730

/* What a GetProgramStats call asks for, validated. Times are unix microseconds. */
typedef struct pts_stats_query {
    const char *program;
    int64_t as_of_us;
    int32_t window_days;
    int64_t window_start_us; /* as_of - window_days */
    int64_t prev_start_us;   /* window_start - window_days */
} pts_stats_query;

/* The counts read from the ledger and from the accounts service, before any division. */
typedef struct pts_stats_raw {
    int64_t members, active, prev_active, retained;
    int64_t issued, redeemed, expired, exchanged_out, exchanged_in, outstanding;
    int64_t purchases, purchasers, repeaters, spend_micros;
    int64_t upgrades, downgrades;
    int64_t seg_new, seg_at_risk, seg_high_value, seg_occasional, seg_regular, seg_dormant;
    int64_t memberships, nps_responses, nps_promoters, nps_passives, nps_detractors;
    int64_t effort_responses, effort_sum;
} pts_stats_raw;

/* The figures derived from the counts (see ProgramStats in points.proto). */
typedef struct pts_stats_derived {
    int32_t redemption_bps, breakage_bps, repeat_bps, retention_bps, churn_bps, nps_bps;
    int32_t effort_mean_milli;
    int64_t churned, frequency_milli, liability_micros, ltv_micros, avg_points;
} pts_stats_derived;

/* num / den in basis points rounded toward negative infinity, and 0 when den is 0. False
 * (out untouched) when den is negative or the result does not fit an int32. Pure. */
bool pts_stats_bps(int64_t num, int64_t den, int32_t *out);

/* num * scale / den rounded toward negative infinity, and 0 when den is 0. False (out
 * untouched) when den is negative or the result overflows. Pure. */
bool pts_stats_ratio(int64_t num, int64_t scale, int64_t den, int64_t *out);

/* Every derived figure of raw, with point_value_micros for the liability. False (out
 * untouched) when one does not fit its type: the caller reports it, never a wrong figure. */
bool pts_stats_derive(const pts_stats_raw *raw, int64_t point_value_micros, pts_stats_derived *out);

/* Validates as_of (unset: now_us; not after now_us) and window_days (0: the default) of a
 * request into *q (program is left to the caller). INVALID_ARGUMENT naming the field, through
 * co_call_fail. */
co_err pts_stats_check(co_call *call, const Coalition__V1__GetProgramStatsRequest *req,
                       int64_t now_us, pts_stats_query *q);

/*
 * The figures of program p for q, in the call's arena: the membership and feedback figures
 * from the accounts service (UNAVAILABLE when it does not answer: never partial figures), the
 * rest from one read-only REPEATABLE READ transaction on pool. The caller checked who may ask.
 */
co_err pts_stats_get(co_call *call, co_pg_pool *pool, co_client *accounts, const pts_prog *p,
                     const pts_stats_query *q, ProtobufCMessage **resp);

#endif
