/* SPDX-License-Identifier: Apache-2.0 */
/* GetProgramStats: a program's figures from one ledger snapshot and the accounts service. */
#include "stats.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "coalition/internal/v1/members.pb-c.h"
#include "int64.h"
#include "log.h"

#define ACCOUNTS_MS 5000
#define US_PER_DAY  INT64_C(86400000000)

/* --- arithmetic (pure) --- */

bool pts_stats_ratio(int64_t num, int64_t scale, int64_t den, int64_t *out)
{
    if (den < 0) {
        return false;
    }
    if (den == 0) {
        *out = 0;
        return true;
    }
    return co_muldiv_floor64(num, scale, den, out);
}

bool pts_stats_bps(int64_t num, int64_t den, int32_t *out)
{
    int64_t v;
    if (!pts_stats_ratio(num, 10000, den, &v) || v > INT32_MAX || v < INT32_MIN) {
        return false;
    }
    *out = (int32_t)v;
    return true;
}

bool pts_stats_derive(const pts_stats_raw *raw, int64_t point_value_micros, pts_stats_derived *out)
{
    pts_stats_derived d;
    memset(&d, 0, sizeof d);
    int64_t net_promoters, effort;
    bool ok = co_sub64(raw->prev_active, raw->retained, &d.churned) &&
              co_sub64(raw->nps_promoters, raw->nps_detractors, &net_promoters) &&
              pts_stats_bps(raw->redeemed, raw->issued, &d.redemption_bps) &&
              pts_stats_bps(raw->expired, raw->issued, &d.breakage_bps) &&
              pts_stats_bps(raw->repeaters, raw->purchasers, &d.repeat_bps) &&
              pts_stats_bps(raw->retained, raw->prev_active, &d.retention_bps) &&
              pts_stats_bps(d.churned, raw->prev_active, &d.churn_bps) &&
              pts_stats_bps(net_promoters, raw->nps_responses, &d.nps_bps) &&
              pts_stats_ratio(raw->effort_sum, 1000, raw->effort_responses, &effort) &&
              effort >= 0 && effort <= INT32_MAX &&
              pts_stats_ratio(raw->purchases, 1000, raw->purchasers, &d.frequency_milli) &&
              co_mul64(raw->outstanding, point_value_micros, &d.liability_micros) &&
              pts_stats_ratio(raw->spend_micros, 1, raw->members, &d.ltv_micros) &&
              pts_stats_ratio(raw->issued, 1, raw->members, &d.avg_points);
    if (!ok) {
        return false;
    }
    d.effort_mean_milli = (int32_t)effort;
    *out = d;
    return true;
}

/* --- the request --- */

static co_err bad(co_call *call, const char *field, const char *why)
{
    return co_call_fail(call, CO_ERR_INVALID_ARGUMENT, "invalid field \"%s\": %s", field, why);
}

co_err pts_stats_check(co_call *call, const Coalition__V1__GetProgramStatsRequest *req,
                       int64_t now_us, pts_stats_query *q)
{
    pts_stats_query out = {.program = req->program_code, .as_of_us = now_us};
    const Google__Protobuf__Timestamp *t = req->as_of;
    if (t != NULL) {
        if (t->nanos < 0 || t->nanos >= 1000000000 || t->seconds <= 0 ||
            t->seconds >= INT64_C(253402300800)) {
            return bad(call, "as_of", "not a valid time");
        }
        out.as_of_us = t->seconds * 1000000 + t->nanos / 1000;
        if (out.as_of_us > now_us) {
            return bad(call, "as_of", "must not be in the future");
        }
    }
    if (req->window_days < 0 || req->window_days > PTS_STATS_WINDOW_MAX) {
        return bad(call, "window_days", "must be 1..730, or 0 for 90");
    }
    out.window_days = req->window_days == 0 ? PTS_STATS_WINDOW_DEFAULT : req->window_days;
    out.window_start_us = out.as_of_us - out.window_days * US_PER_DAY;
    out.prev_start_us = out.window_start_us - out.window_days * US_PER_DAY;
    *q = out;
    return CO_OK;
}

/* --- the accounts service's part --- */

/* Memberships and feedback of the program, from the accounts service. Any failure to get them
 * is UNAVAILABLE (DEADLINE_EXCEEDED when the call's own deadline ran out). */
static co_err accounts_figures(co_call *call, co_client *accounts, const pts_stats_query *q,
                               pts_stats_raw *raw)
{
    co_arena *a = co_call_arena(call);
    Coalition__Internal__V1__GetProgramFiguresRequest req =
        COALITION__INTERNAL__V1__GET_PROGRAM_FIGURES_REQUEST__INIT;
    req.program_code = (char *)q->program;
    req.as_of = co_timestamp(a, q->as_of_us);
    req.window_start = co_timestamp(a, q->window_start_us);
    if (req.as_of == NULL || req.window_start == NULL) {
        return CO_ERR_NOMEM;
    }
    const co_client_md md = {CO_MD_ROLE, "service"};
    int64_t left = co_call_ms_left(call);
    ProtobufCMessage *resp = NULL;
    co_client_status st;
    co_err e =
        co_client_unary(accounts, "/coalition.internal.v1.Members/GetProgramFigures", &req.base,
                        &coalition__internal__v1__get_program_figures_response__descriptor, &md, 1,
                        left < ACCOUNTS_MS ? left : ACCOUNTS_MS, true, a, &resp, &st);
    if (e != CO_OK) {
        co_log(CO_LOG_WARN, "no program figures: accounts service did not answer",
               "{s:s, s:s, s:s}", "program", q->program, "status", co_grpc_status_name(st.code),
               "details", st.details != NULL ? st.details : "");
        return co_call_fail(call,
                            e == CO_ERR_DEADLINE_EXCEEDED && co_call_ms_left(call) <= 0
                                ? CO_ERR_DEADLINE_EXCEEDED
                                : CO_ERR_UNAVAILABLE,
                            "could not reach accounts service: no membership and feedback figures "
                            "of program \"%s\"",
                            q->program);
    }
    const Coalition__Internal__V1__GetProgramFiguresResponse *r = (const void *)resp;
    raw->memberships = r->active_memberships;
    raw->nps_responses = r->nps_responses;
    raw->nps_promoters = r->nps_promoters;
    raw->nps_passives = r->nps_passives;
    raw->nps_detractors = r->nps_detractors;
    raw->effort_responses = r->effort_responses;
    raw->effort_sum = r->effort_sum;
    return CO_OK;
}

/* --- the ledger's part --- */

/* A bigint of microseconds since the epoch as a timestamptz, in SQL. */
#define AT(us) "(timestamptz 'epoch' + (" us ") * interval '1 microsecond')"
/* as_of ($2) minus n days. */
#define BACK(n) AT("$2::bigint - " #n " * 86400000000")

/* Life totals up to as_of, net of reversals (a REVERSE counts against the kind it corrects),
 * and the members' available plus held points as the sum of what moved in and out of their
 * accounts. $1 program, $2 as_of. */
static const char ledger_sql[] =
    "SELECT coalesce(sum(CASE WHEN t.kind IN (1, 2) THEN t.points"
    "   WHEN t.kind = 7 AND o.kind IN (1, 2) THEN -t.points END), 0)::bigint,"
    " coalesce(sum(CASE WHEN t.kind IN (3, 5) THEN t.points"
    "   WHEN t.kind = 7 AND o.kind IN (3, 5) THEN -t.points END), 0)::bigint,"
    " coalesce(sum(t.points) FILTER (WHERE t.kind = 8), 0)::bigint,"
    " coalesce(sum(t.points) FILTER (WHERE t.kind = 9), 0)::bigint,"
    " coalesce(sum(t.points) FILTER (WHERE t.kind = 10), 0)::bigint,"
    " coalesce(sum(CASE WHEN c.kind IN (1, 2) THEN t.points ELSE 0 END -"
    "   CASE WHEN d.kind IN (1, 2) THEN t.points ELSE 0 END), 0)::bigint"
    " FROM points.transfers t JOIN points.accounts d ON d.id = t.debit_id"
    " JOIN points.accounts c ON c.id = t.credit_id"
    " LEFT JOIN points.transfers o ON o.id = t.corrects_id"
    " WHERE t.program = $1 AND t.create_time < " AT("$2::bigint");

/* Per member: purchases (EARN transfers not entirely reversed, spend net of the reversed part
 * in proportion), activity (a purchase or a REDEEM/CAPTURE not entirely reversed) in the
 * window and the previous one, and the segment. $1 program, $2 as_of, $3 window start,
 * $4 previous window start. */
static const char members_sql[] =
    "WITH rev AS (SELECT x.corrects_id AS id, sum(x.points) AS s FROM points.transfers x"
    "   WHERE x.program = $1 AND x.kind = 7 AND x.create_time < " AT(
        "$2::bigint") "   GROUP BY x.corrects_id),"
                      " ev AS (SELECT t.member_id, t.kind, t.create_time AS at, "
                      "coalesce(t.purchase_micros, 0) -"
                      "   div(coalesce(t.purchase_micros, 0)::numeric * coalesce(r.s, 0), "
                      "t.points) AS spend"
                      "   FROM points.transfers t LEFT JOIN rev r ON r.id = t.id"
                      "   WHERE t.program = $1 AND t.kind IN (1, 3, 5) AND t.create_time < " AT(
                          "$2::bigint") "   AND coalesce(r.s, 0) < t.points),"
                                        " m AS (SELECT a.member_id FROM points.accounts a WHERE "
                                        "a.program = $1 AND a.kind = 1"
                                        "   AND a.create_time < " AT(
                                            "$2::bigint") "),"
                                                          " pm AS (SELECT member_id, min(at) AS "
                                                          "first_at, count(*) AS n_all,"
                                                          "   count(*) FILTER (WHERE at >= " BACK(
                                                              60) ") AS n60,"
                                                                  "   count(*) FILTER (WHERE at "
                                                                  ">= " BACK(
                                                                      180) ") AS n180,"
                                                                           "   count(*) FILTER "
                                                                           "(WHERE at >= " BACK(
                                                                               365) ") AS n365,"
                                                                                    "   "
                                                                                    "coalesce(sum("
                                                                                    "spend) FILTER "
                                                                                    "(WHERE at "
                                                                                    ">= " BACK(
                                                                                        365) "), "
                                                                                             "0) "
                                                                                             "AS "
                                                                                             "spend"
                                                                                             "365,"
                                                                                             "   "
                                                                                             "count"
                                                                                             "(*) "
                                                                                             "FILTE"
                                                                                             "R "
                                                                                             "(WHER"
                                                                                             "E at "
                                                                                             ">="
                                                                                             " " AT(
                                                                                                 "$"
                                                                                                 "3"
                                                                                                 ":"
                                                                                                 ":"
                                                                                                 "b"
                                                                                                 "i"
                                                                                                 "g"
                                                                                                 "i"
                                                                                                 "n"
                                                                                                 "t") ") AS nwin, sum(spend) AS spend_all"
                                                                                                      "   FROM ev WHERE kind = 1 GROUP BY member_id),"
                                                                                                      " act AS (SELECT member_id, bool_or(at >= " AT(
                                                                                                          "$3::bigint") ") AS cur,"
                                                                                                                        "   bool_or(at < " AT(
                                                                                                                            "$3::bigint") ") AS prev"
                                                                                                                                          "   FROM ev WHERE at >= " AT(
                                                                                                                                              "$4::bigint") " GROUP BY member_id),"
                                                                                                                                                            " hv AS (SELECT member_id, rank() OVER (ORDER BY spend365 DESC) AS rk, count(*) OVER () AS n"
                                                                                                                                                            "   FROM pm WHERE spend365 > 0),"
                                                                                                                                                            " seg AS (SELECT CASE WHEN pm.first_at >= " BACK(
                                                                                                                                                                30) " THEN 1"
                                                                                                                                                                    "   WHEN pm.n_all >= 2 AND pm.n60 = 0 AND pm.n180 > 0 THEN 2"
                                                                                                                                                                    "   WHEN hv.rk <= (hv.n + 9) / 10 THEN 3"
                                                                                                                                                                    "   WHEN pm.n365 BETWEEN 1 AND 2 THEN 4 WHEN pm.n365 >= 3 THEN 5 ELSE 6 END AS s"
                                                                                                                                                                    "   FROM m LEFT JOIN pm ON pm.member_id = m.member_id"
                                                                                                                                                                    "   LEFT JOIN hv ON hv.member_id = m.member_id)"
                                                                                                                                                                    " SELECT (SELECT count(*) FROM m),"
                                                                                                                                                                    " (SELECT count(*) FILTER (WHERE cur) FROM act),"
                                                                                                                                                                    " (SELECT count(*) FILTER (WHERE prev) FROM act),"
                                                                                                                                                                    " (SELECT count(*) FILTER (WHERE cur AND prev) FROM act),"
                                                                                                                                                                    " (SELECT coalesce(sum(nwin), 0) FROM pm)::bigint,"
                                                                                                                                                                    " (SELECT count(*) FILTER (WHERE nwin >= 1) FROM pm),"
                                                                                                                                                                    " (SELECT count(*) FILTER (WHERE nwin >= 2) FROM pm),"
                                                                                                                                                                    " (SELECT coalesce(sum(spend_all), 0) FROM pm)::bigint,"
                                                                                                                                                                    " count(*) FILTER (WHERE s = 1), count(*) FILTER (WHERE s = 2),"
                                                                                                                                                                    " count(*) FILTER (WHERE s = 3), count(*) FILTER (WHERE s = 4),"
                                                                                                                                                                    " count(*) FILTER (WHERE s = 5), count(*) FILTER (WHERE s = 6)"
                                                                                                                                                                    " FROM seg";

/* Tier changes in the window. $1 program, $2 as_of, $3 window start. */
static const char tiers_sql[] =
    "SELECT count(*) FILTER (WHERE upgrade), count(*) FILTER (WHERE NOT upgrade)"
    " FROM points.tier_changes WHERE program = $1 AND change_time >= " AT(
        "$3::bigint") " AND change_time < " AT("$2::bigint");

/* Runs st and copies its one row of n bigints to out. */
static co_err one_row(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals, int64_t **out,
                      int n)
{
    PGresult *r;
    co_err e = co_pg_exec(c, st, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    if (PQntuples(r) != 1 || PQnfields(r) != n) {
        PQclear(r);
        return CO_ERR_INTERNAL;
    }
    for (int i = 0; i < n; i++) {
        *out[i] = strtoll(PQgetvalue(r, 0, i), NULL, 10);
    }
    PQclear(r);
    return CO_OK;
}

typedef struct stats_args {
    const char *vals[4]; /* program, as_of, window start, previous window start */
    pts_stats_raw *raw;
} stats_args;

static co_err stats_tx(co_pg_conn *c, void *ud)
{
    stats_args *sa = ud;
    pts_stats_raw *w = sa->raw;
    co_err e = co_pg_command(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    int64_t *ledger[] = {&w->issued,        &w->redeemed,     &w->expired,
                         &w->exchanged_out, &w->exchanged_in, &w->outstanding};
    int64_t *members[] = {&w->members,     &w->active,      &w->prev_active,    &w->retained,
                          &w->purchases,   &w->purchasers,  &w->repeaters,      &w->spend_micros,
                          &w->seg_new,     &w->seg_at_risk, &w->seg_high_value, &w->seg_occasional,
                          &w->seg_regular, &w->seg_dormant};
    int64_t *tiers[] = {&w->upgrades, &w->downgrades};
    if (e == CO_OK) {
        e = one_row(c, pts_stmt("pts_stats_ledger", ledger_sql, 2), sa->vals, ledger, 6);
    }
    if (e == CO_OK) {
        e = one_row(c, pts_stmt("pts_stats_members", members_sql, 4), sa->vals, members, 14);
    }
    if (e == CO_OK) {
        e = one_row(c, pts_stmt("pts_stats_tiers", tiers_sql, 3), sa->vals, tiers, 2);
    }
    return e;
}

static co_err ledger_figures(co_call *call, co_pg_pool *pool, const pts_stats_query *q,
                             pts_stats_raw *raw)
{
    co_arena *a = co_call_arena(call);
    stats_args sa = {.vals = {q->program, co_arena_printf(a, "%" PRId64, q->as_of_us),
                              co_arena_printf(a, "%" PRId64, q->window_start_us),
                              co_arena_printf(a, "%" PRId64, q->prev_start_us)},
                     .raw = raw};
    if (sa.vals[1] == NULL || sa.vals[2] == NULL || sa.vals[3] == NULL) {
        return CO_ERR_NOMEM;
    }
    return co_pg_tx(pool, co_call_ms_left(call), stats_tx, &sa);
}

/* --- the response --- */

static Coalition__V1__Money *money(co_arena *a, int64_t micros, const char *currency)
{
    Coalition__V1__Money *m = co_arena_alloc(a, sizeof *m);
    if (m != NULL) {
        coalition__v1__money__init(m);
        m->amount_micros = micros;
        m->currency = co_arena_strdup(a, currency);
    }
    return m;
}

static Coalition__V1__SegmentCounts *segments(co_arena *a, const pts_stats_raw *w)
{
    Coalition__V1__SegmentCounts *s = co_arena_alloc(a, sizeof *s);
    if (s != NULL) {
        coalition__v1__segment_counts__init(s);
        s->new_members = w->seg_new;
        s->at_risk = w->seg_at_risk;
        s->high_value = w->seg_high_value;
        s->occasional = w->seg_occasional;
        s->regular = w->seg_regular;
        s->dormant = w->seg_dormant;
    }
    return s;
}

static void fill_counts(Coalition__V1__ProgramStats *s, const pts_stats_raw *w,
                        const pts_stats_derived *d)
{
    s->members = w->members;
    s->active_members = w->active;
    s->points_issued = w->issued;
    s->points_redeemed = w->redeemed;
    s->points_expired = w->expired;
    s->points_exchanged_out = w->exchanged_out;
    s->points_exchanged_in = w->exchanged_in;
    s->redemption_rate_bps = d->redemption_bps;
    s->breakage_rate_bps = d->breakage_bps;
    s->outstanding_points = w->outstanding;
    s->purchases = w->purchases;
    s->repeat_purchase_rate_bps = d->repeat_bps;
    s->purchase_frequency_milli = d->frequency_milli;
    s->retention_rate_bps = d->retention_bps;
    s->churn_rate_bps = d->churn_bps;
    s->churned_members = d->churned;
    s->tier_upgrades = w->upgrades;
    s->tier_downgrades = w->downgrades;
    s->active_memberships = w->memberships;
    s->average_lifetime_points = d->avg_points;
    s->nps_responses = w->nps_responses;
    s->nps_promoters = w->nps_promoters;
    s->nps_passives = w->nps_passives;
    s->nps_detractors = w->nps_detractors;
    s->nps_bps = d->nps_bps;
    s->effort_responses = w->effort_responses;
    s->effort_score_mean_milli = d->effort_mean_milli;
}

co_err pts_stats_get(co_call *call, co_pg_pool *pool, co_client *accounts, const pts_prog *p,
                     const pts_stats_query *q, ProtobufCMessage **resp)
{
    co_arena *a = co_call_arena(call);
    pts_stats_raw raw;
    memset(&raw, 0, sizeof raw);
    co_err e = accounts_figures(call, accounts, q, &raw);
    if (e == CO_OK) {
        e = ledger_figures(call, pool, q, &raw);
    }
    if (e != CO_OK) {
        return e;
    }
    pts_stats_derived d;
    if (!pts_stats_derive(&raw, p->p->point_value_micros, &d)) {
        return co_call_fail(call, CO_ERR_INTERNAL,
                            "a figure of program \"%s\" does not fit its field", q->program);
    }
    Coalition__V1__GetProgramStatsResponse *r = co_arena_alloc(a, sizeof *r);
    Coalition__V1__ProgramStats *s = co_arena_alloc(a, sizeof *s);
    if (r == NULL || s == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__get_program_stats_response__init(r);
    coalition__v1__program_stats__init(s);
    s->program_code = co_arena_strdup(a, q->program);
    s->as_of = co_timestamp(a, q->as_of_us);
    s->window_days = q->window_days;
    fill_counts(s, &raw, &d);
    s->outstanding_liability = money(a, d.liability_micros, p->p->currency);
    s->average_lifetime_value = money(a, d.ltv_micros, p->p->currency);
    s->segments = segments(a, &raw);
    if (s->program_code == NULL || s->as_of == NULL || s->outstanding_liability == NULL ||
        s->average_lifetime_value == NULL || s->segments == NULL) {
        return CO_ERR_NOMEM;
    }
    r->stats = s;
    *resp = &r->base;
    return CO_OK;
}
