/* SPDX-License-Identifier: Apache-2.0 */
/* The SQL of program configuration: every statement is prepared and parameterized. */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
#define TS(n)   "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"

#define PROGRAM_COLS                                                                               \
    "code, name, owner_partner_id, currency, point_value_micros, issue_price_micros,"              \
    " expiry_months, earn_num, earn_den, earn_min_spend_micros, points_per_visit, tier_basis,"     \
    " qualifying_window_days, welcome_bonus_points, birthday_bonus_points, issuing_mode,"          \
    " time_zone, version, " US("create_time") ", " US("update_time")

static const co_pg_stmt st_program_insert = {
    "prt_program_insert",
    "INSERT INTO partners.programs (code, name, owner_partner_id, currency, point_value_micros,"
    " issue_price_micros, expiry_months, earn_num, earn_den, earn_min_spend_micros,"
    " points_per_visit, tier_basis, qualifying_window_days, welcome_bonus_points,"
    " birthday_bonus_points, issuing_mode, time_zone)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    " RETURNING " PROGRAM_COLS,
    17};
static const co_pg_stmt st_program_update = {
    "prt_program_update",
    "UPDATE partners.programs SET name = $2, point_value_micros = $5, issue_price_micros = $6,"
    " expiry_months = $7, earn_num = $8, earn_den = $9, earn_min_spend_micros = $10,"
    " points_per_visit = $11, tier_basis = $12, qualifying_window_days = $13,"
    " welcome_bonus_points = $14, birthday_bonus_points = $15, issuing_mode = $16,"
    " time_zone = $17, version = version + 1, version_txid = txid_current(), update_time = now()"
    " WHERE code = $1 AND owner_partner_id = $3 AND currency = $4 RETURNING " PROGRAM_COLS,
    17};
static const co_pg_stmt st_program_get = {
    "prt_program_get", "SELECT " PROGRAM_COLS " FROM partners.programs WHERE code = $1", 1};
static const co_pg_stmt st_program_get_lock = {
    "prt_program_get_lock",
    "SELECT " PROGRAM_COLS " FROM partners.programs WHERE code = $1 FOR UPDATE", 1};
static const co_pg_stmt st_program_list = {
    "prt_program_list",
    "SELECT " PROGRAM_COLS " FROM partners.programs pr WHERE code > $1"
    " AND ($2::text IS NULL OR owner_partner_id = $2)"
    " AND ($3::text IS NULL OR owner_partner_id = $3 OR EXISTS (SELECT 1 FROM"
    " partners.participations pa WHERE pa.program_code = pr.code AND pa.partner_id = $3))"
    " ORDER BY code LIMIT $4",
    4};
static const co_pg_stmt st_program_version = {
    "prt_program_version", "SELECT version FROM partners.programs WHERE code = $1", 1};
static const co_pg_stmt st_tiers_delete = {"prt_tiers_delete",
                                           "DELETE FROM partners.tiers WHERE program_code = $1", 1};
static const co_pg_stmt st_tier_insert = {
    "prt_tier_insert",
    "INSERT INTO partners.tiers (program_code, position, code, name, min_qualifying_points,"
    " min_spend_micros, earn_multiplier_bps, perks) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    8};
static const co_pg_stmt st_tiers_get = {
    "prt_tiers_get",
    "SELECT code, name, min_qualifying_points, min_spend_micros, earn_multiplier_bps, perks"
    " FROM partners.tiers WHERE program_code = $1 ORDER BY position",
    1};
static const co_pg_stmt st_access = {
    "prt_access",
    "SELECT pr.owner_partner_id, pr.currency, pa.partner_id IS NOT NULL,"
    " coalesce(pa.can_issue, false), coalesce(pa.can_redeem, false) FROM partners.programs pr"
    " LEFT JOIN partners.participations pa ON pa.program_code = pr.code AND pa.partner_id = $2"
    " WHERE pr.code = $1",
    2};

#define PARTICIPATION_COLS "program_code, partner_id, can_issue, can_redeem, " US("update_time")

static const co_pg_stmt st_participation_upsert = {
    "prt_participation_upsert",
    "INSERT INTO partners.participations (program_code, partner_id, can_issue, can_redeem)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (program_code, partner_id) DO UPDATE SET"
    " can_issue = EXCLUDED.can_issue, can_redeem = EXCLUDED.can_redeem, update_time = now()"
    " RETURNING " PARTICIPATION_COLS,
    4};
static const co_pg_stmt st_participation_delete = {
    "prt_participation_delete",
    "DELETE FROM partners.participations WHERE program_code = $1 AND partner_id = $2", 2};
static const co_pg_stmt st_participation_list = {
    "prt_participation_list",
    "SELECT " PARTICIPATION_COLS " FROM partners.participations WHERE program_code = $1"
    " ORDER BY partner_id",
    1};

#define CAMPAIGN_COLS                                                                              \
    "campaign_id, program_code, name, coalesce(partner_id, ''), " US("start_time") ", " US(        \
        "end_time") ", days_of_week_mask, category, min_spend_micros, multiplier_bps,"             \
                    " bonus_points, chance_one_in, chance_bonus_points, chance_seed_sha256,"       \
                    " encode(chance_seed, 'hex'), " US("create_time")

static const co_pg_stmt st_campaign_insert = {
    "prt_campaign_insert",
    "WITH s AS (SELECT uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) AS seed)"
    " INSERT INTO partners.campaigns (campaign_id, program_code, name, partner_id, start_time,"
    " end_time, days_of_week_mask, category, min_spend_micros, multiplier_bps, bonus_points,"
    " chance_one_in, chance_bonus_points, chance_seed, chance_seed_sha256)"
    " SELECT 'cmp-' || lpad(nextval('partners.config_ids')::text, 12, '0'), $1, $2,"
    " nullif($3, ''), " TS(4) ", " TS(
        5) ", $6, $7, $8, $9, $10, $11, $12, s.seed,"
           " encode(sha256(s.seed), 'hex') FROM s RETURNING " CAMPAIGN_COLS,
    12};
static const co_pg_stmt st_campaign_list = {
    "prt_campaign_list",
    "SELECT " CAMPAIGN_COLS " FROM partners.campaigns WHERE program_code = $1"
    " AND ($3::text IS NULL OR (start_time, campaign_id) > (" TS(
        2) ", $3::text))"
           " AND ($4::bigint < 0 OR (start_time <= " TS(4) " AND end_time > " TS(
               4) "))"
                  " AND ($5::bigint < 0 OR end_time > " TS(
                      5) ")"
                         " ORDER BY start_time, campaign_id LIMIT $6",
    6};

#define AGREEMENT_COLS                                                                             \
    "from_program_code, to_program_code, rate_num, rate_den, fee_bps, min_points, max_points,"     \
    " daily_cap_points, enabled, " US("update_time")

static const co_pg_stmt st_agreement_upsert = {
    "prt_agreement_upsert",
    "INSERT INTO partners.exchange_agreements (from_program_code, to_program_code, rate_num,"
    " rate_den, fee_bps, min_points, max_points, daily_cap_points, enabled)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT (from_program_code, to_program_code) DO UPDATE SET rate_num = EXCLUDED.rate_num,"
    " rate_den = EXCLUDED.rate_den, fee_bps = EXCLUDED.fee_bps, min_points = EXCLUDED.min_points,"
    " max_points = EXCLUDED.max_points, daily_cap_points = EXCLUDED.daily_cap_points,"
    " enabled = EXCLUDED.enabled, update_time = now() RETURNING " AGREEMENT_COLS,
    9};
/* A program is visible to partner p when p owns it or participates in it. */
#define VISIBLE(col, p)                                                                            \
    "EXISTS (SELECT 1 FROM partners.programs v WHERE v.code = " col                                \
    " AND (v.owner_partner_id = " p " OR EXISTS (SELECT 1 FROM partners.participations w"          \
    " WHERE w.program_code = v.code AND w.partner_id = " p ")))"
static const co_pg_stmt st_agreement_list = {
    "prt_agreement_list",
    "SELECT " AGREEMENT_COLS " FROM partners.exchange_agreements a"
    " WHERE (from_program_code, to_program_code) > ($1, $2)"
    " AND ($3::text IS NULL OR from_program_code = $3)"
    " AND ($4::text IS NULL OR to_program_code = $4)"
    " AND ($5::text IS NULL OR " VISIBLE("a.from_program_code", "$5") " OR " VISIBLE(
        "a.to_program_code", "$5") ")"
                                   " AND ($6::text IS NULL OR from_program_code = $6 OR"
                                   " to_program_code = $6)"
                                   " ORDER BY from_program_code, to_program_code LIMIT $7",
    7};

static const co_pg_stmt st_policy_upsert = {
    "prt_policy_upsert",
    "INSERT INTO partners.commission_policies (partner_id, operator_fee_bps,"
    " referral_commission_bps, referral_commission_months) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (partner_id) DO UPDATE SET operator_fee_bps = EXCLUDED.operator_fee_bps,"
    " referral_commission_bps = EXCLUDED.referral_commission_bps,"
    " referral_commission_months = EXCLUDED.referral_commission_months, update_time = now()"
    " RETURNING partner_id, operator_fee_bps, referral_commission_bps,"
    " referral_commission_months, " US("update_time"),
    4};

#define REWARD_COLS                                                                                \
    "reward_id, program_code, kind, name, description, points_cost, partner_id,"                   \
    " coalesce(charity_partner_id, ''), stock_limited, stock, coupon_valid_days, " US(             \
        "create_time")

static const co_pg_stmt st_reward_insert = {
    "prt_reward_insert",
    "INSERT INTO partners.rewards (reward_id, program_code, kind, name, description,"
    " points_cost, partner_id, charity_partner_id, stock_limited, stock, coupon_valid_days)"
    " VALUES ('rwd-' || lpad(nextval('partners.config_ids')::text, 12, '0'), $1, $2, $3, $4, $5,"
    " $6, nullif($7, ''), $8, $9, $10) RETURNING " REWARD_COLS,
    10};
static const co_pg_stmt st_reward_get = {
    "prt_reward_get", "SELECT " REWARD_COLS " FROM partners.rewards WHERE reward_id = $1", 1};
static const co_pg_stmt st_reward_list = {
    "prt_reward_list",
    "SELECT " REWARD_COLS " FROM partners.rewards WHERE program_code = $1 AND reward_id > $2"
    " AND ($3::smallint = 0 OR kind = $3::smallint) AND ($4::text IS NULL OR partner_id = $4)"
    " ORDER BY reward_id LIMIT $5",
    5};

#define PLAN_COLS                                                                                  \
    "plan_id, program_code, name, fee_micros, currency, period_months, earn_multiplier_bps,"       \
    " perks, reduced_fee_min_points, reduced_fee_micros, " US("create_time")

static const co_pg_stmt st_plan_insert = {
    "prt_plan_insert",
    "INSERT INTO partners.membership_plans (plan_id, program_code, name, fee_micros, currency,"
    " period_months, earn_multiplier_bps, perks, reduced_fee_min_points, reduced_fee_micros)"
    " VALUES ('pln-' || lpad(nextval('partners.config_ids')::text, 12, '0'), $1, $2, $3, $4, $5,"
    " $6, $7, $8, $9) RETURNING " PLAN_COLS,
    9};
static const co_pg_stmt st_plan_list = {
    "prt_plan_list",
    "SELECT " PLAN_COLS " FROM partners.membership_plans WHERE program_code = $1 ORDER BY plan_id",
    1};
static const co_pg_stmt st_plan_get = {
    "prt_plan_get", "SELECT " PLAN_COLS " FROM partners.membership_plans WHERE plan_id = $1", 1};

static const co_pg_stmt st_zone_known = {
    "prt_zone_known", "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", 1};

/* --- helpers --- */

/* Decimal text of v in arena memory. */
static const char *num(co_arena *a, int64_t v)
{
    return co_arena_printf(a, "%" PRId64, v);
}

static const char *boolean(bool v)
{
    return v ? "true" : "false";
}

/* NULL for "" or NULL: an absent filter. */
static const char *opt(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* A row reader: fields in order, strings copied into the arena. */
typedef struct rd {
    PGresult *r;
    int i;
    int k;
    co_arena *a;
    bool nomem;
} rd;

static const char *rs(rd *d)
{
    const char *s = co_arena_strdup(d->a, PQgetvalue(d->r, d->i, d->k++));
    if (s == NULL) {
        d->nomem = true;
        return "";
    }
    return s;
}

static int64_t ri(rd *d)
{
    return strtoll(PQgetvalue(d->r, d->i, d->k++), NULL, 10);
}

static bool rb(rd *d)
{
    return PQgetvalue(d->r, d->i, d->k++)[0] == 't';
}

/* Decodes lower-case hex into n bytes of arena memory. */
static const uint8_t *rhex(rd *d, size_t n)
{
    const char *h = PQgetvalue(d->r, d->i, d->k++);
    uint8_t *b = co_arena_alloc(d->a, n);
    if (b == NULL || strlen(h) != 2 * n) {
        d->nomem = true;
        return NULL;
    }
    for (size_t j = 0; j < n; j++) {
        unsigned v = 0;
        for (int q = 0; q < 2; q++) {
            char ch = h[2 * j + (size_t)q];
            v = v * 16 + (unsigned)(ch >= 'a' ? ch - 'a' + 10 : ch - '0');
        }
        b[j] = (uint8_t)v;
    }
    return b;
}

typedef co_err (*read_fn)(rd *d, void *row);

/* Runs st and reads every row with fn into an arena array of elements of size sz. */
static co_err rows(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals, co_arena *a,
                   size_t sz, read_fn fn, void **out, size_t *n)
{
    PGresult *r;
    co_err e = co_pg_exec(c, st, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    int nr = PQntuples(r);
    char *arr = co_arena_calloc(a, (size_t)(nr > 0 ? nr : 1), sz);
    if (arr == NULL) {
        PQclear(r);
        return CO_ERR_NOMEM;
    }
    for (int i = 0; i < nr; i++) {
        rd d = {r, i, 0, a, false};
        e = fn(&d, arr + (size_t)i * sz);
        if (e == CO_OK && d.nomem) {
            e = CO_ERR_NOMEM;
        }
        if (e != CO_OK) {
            PQclear(r);
            return e;
        }
    }
    PQclear(r);
    *out = arr;
    *n = (size_t)nr;
    return CO_OK;
}

/* rows() for a statement that returns exactly one row (CO_ERR_NOT_FOUND for none). */
static co_err row1(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals, co_arena *a,
                   size_t sz, read_fn fn, void *out)
{
    void *arr;
    size_t n;
    co_err e = rows(c, st, vals, a, sz, fn, &arr, &n);
    if (e != CO_OK) {
        return e;
    }
    if (n != 1) {
        return CO_ERR_NOT_FOUND;
    }
    memcpy(out, arr, sz);
    return CO_OK;
}

/* Runs a statement whose result is not read. */
static co_err run(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals)
{
    PGresult *r;
    co_err e = co_pg_exec(c, st, vals, NULL, NULL, &r);
    if (e == CO_OK) {
        PQclear(r);
    }
    return e;
}

/* --- programs --- */

static co_err read_tier(rd *d, void *row)
{
    prt_tier *t = row;
    t->code = rs(d);
    t->name = rs(d);
    t->min_qualifying_points = ri(d);
    t->min_spend_micros = ri(d);
    t->earn_multiplier_bps = (int32_t)ri(d);
    t->perks = rs(d);
    return CO_OK;
}

static co_err read_program(rd *d, void *row)
{
    prt_program *p = row;
    memset(p, 0, sizeof *p);
    p->code = rs(d);
    p->name = rs(d);
    p->owner_partner_id = rs(d);
    p->currency = rs(d);
    p->point_value_micros = ri(d);
    p->issue_price_micros = ri(d);
    p->expiry_months = (int32_t)ri(d);
    p->earn_num = ri(d);
    p->earn_den = ri(d);
    p->earn_min_spend_micros = ri(d);
    p->points_per_visit = ri(d);
    p->tier_basis = (int)ri(d);
    p->qualifying_window_days = (int32_t)ri(d);
    p->welcome_bonus_points = ri(d);
    p->birthday_bonus_points = ri(d);
    p->issuing_mode = (int)ri(d);
    p->time_zone = rs(d);
    p->version = ri(d);
    p->create_time_us = ri(d);
    p->update_time_us = ri(d);
    return CO_OK;
}

/* Loads the tiers of p. */
static co_err load_tiers(co_pg_conn *c, co_arena *a, prt_program *p)
{
    const char *vals[1] = {p->code};
    void *arr;
    size_t n;
    co_err e = rows(c, &st_tiers_get, vals, a, sizeof(prt_tier), read_tier, &arr, &n);
    if (e == CO_OK) {
        p->tiers = arr;
        p->ntiers = n;
    }
    return e;
}

/* Writes the tiers of p (the program's old tiers already gone). */
static co_err insert_tiers(co_pg_conn *c, co_arena *a, const prt_program *p)
{
    for (size_t i = 0; i < p->ntiers; i++) {
        const prt_tier *t = &p->tiers[i];
        const char *vals[8] = {p->code,
                               num(a, (int64_t)i),
                               t->code,
                               t->name,
                               num(a, t->min_qualifying_points),
                               num(a, t->min_spend_micros),
                               num(a, t->earn_multiplier_bps),
                               t->perks};
        for (int k = 0; k < 8; k++) {
            if (vals[k] == NULL) {
                return CO_ERR_NOMEM;
            }
        }
        co_err e = run(c, &st_tier_insert, vals);
        if (e != CO_OK) {
            return e;
        }
    }
    return CO_OK;
}

/* The 17 parameters of the insert and update statements. */
static co_err program_params(co_arena *a, const prt_program *p, const char *vals[17])
{
    vals[0] = p->code;
    vals[1] = p->name;
    vals[2] = p->owner_partner_id;
    vals[3] = p->currency;
    vals[4] = num(a, p->point_value_micros);
    vals[5] = num(a, p->issue_price_micros);
    vals[6] = num(a, p->expiry_months);
    vals[7] = num(a, p->earn_num);
    vals[8] = num(a, p->earn_den);
    vals[9] = num(a, p->earn_min_spend_micros);
    vals[10] = num(a, p->points_per_visit);
    vals[11] = num(a, p->tier_basis);
    vals[12] = num(a, p->qualifying_window_days);
    vals[13] = num(a, p->welcome_bonus_points);
    vals[14] = num(a, p->birthday_bonus_points);
    vals[15] = num(a, p->issuing_mode);
    vals[16] = p->time_zone;
    for (int k = 0; k < 17; k++) {
        if (vals[k] == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    return CO_OK;
}

co_err prt_store_program_insert(co_pg_conn *c, const prt_program *p, co_arena *a, prt_program *out)
{
    const char *vals[17];
    co_err e = program_params(a, p, vals);
    prt_program row;
    if (e == CO_OK) {
        e = row1(c, &st_program_insert, vals, a, sizeof row, read_program, &row);
    }
    if (e == CO_OK) {
        e = insert_tiers(c, a, p);
    }
    if (e == CO_OK) {
        e = load_tiers(c, a, &row);
    }
    if (e == CO_OK) {
        *out = row;
    }
    return e;
}

co_err prt_store_program_get(co_pg_conn *c, const char *code, int lock, co_arena *a,
                             prt_program *out)
{
    const char *vals[1] = {code};
    prt_program row;
    co_err e = row1(c, lock ? &st_program_get_lock : &st_program_get, vals, a, sizeof row,
                    read_program, &row);
    if (e == CO_OK) {
        e = load_tiers(c, a, &row);
    }
    if (e == CO_OK) {
        *out = row;
    }
    return e;
}

co_err prt_store_program_update(co_pg_conn *c, const prt_program *p, co_arena *a, prt_program *out)
{
    const char *vals[17];
    co_err e = program_params(a, p, vals);
    prt_program row;
    if (e == CO_OK) {
        e = row1(c, &st_program_update, vals, a, sizeof row, read_program, &row);
    }
    if (e == CO_OK) {
        const char *del[1] = {p->code};
        e = run(c, &st_tiers_delete, del);
    }
    if (e == CO_OK) {
        e = insert_tiers(c, a, p);
    }
    if (e == CO_OK) {
        e = load_tiers(c, a, &row);
    }
    if (e == CO_OK) {
        *out = row;
    }
    return e;
}

co_err prt_store_program_list(co_pg_conn *c, const char *after, const char *owner,
                              const char *visible_to, int limit, co_arena *a, prt_program **out,
                              size_t *n)
{
    const char *vals[4] = {after, opt(owner), opt(visible_to), num(a, limit)};
    if (vals[3] == NULL) {
        return CO_ERR_NOMEM;
    }
    void *arr;
    size_t nr;
    co_err e = rows(c, &st_program_list, vals, a, sizeof(prt_program), read_program, &arr, &nr);
    if (e != CO_OK) {
        return e;
    }
    prt_program *ps = arr;
    for (size_t i = 0; i < nr; i++) {
        if ((e = load_tiers(c, a, &ps[i])) != CO_OK) {
            return e;
        }
    }
    *out = ps;
    *n = nr;
    return CO_OK;
}

co_err prt_store_program_version(co_pg_conn *c, const char *code, int64_t *version)
{
    const char *vals[1] = {code};
    PGresult *r;
    co_err e = co_pg_exec(c, &st_program_version, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CO_ERR_NOT_FOUND;
    }
    *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return CO_OK;
}

static co_err read_access(rd *d, void *row)
{
    prt_access *x = row;
    x->owner_partner_id = rs(d);
    x->currency = rs(d);
    x->participant = rb(d);
    x->can_issue = rb(d);
    x->can_redeem = rb(d);
    return CO_OK;
}

co_err prt_store_access(co_pg_conn *c, const char *code, const char *partner_id, co_arena *a,
                        prt_access *out)
{
    const char *vals[2] = {code, partner_id};
    return row1(c, &st_access, vals, a, sizeof *out, read_access, out);
}

/* --- participations --- */

static co_err read_participation(rd *d, void *row)
{
    prt_participation *p = row;
    p->program_code = rs(d);
    p->partner_id = rs(d);
    p->can_issue = rb(d);
    p->can_redeem = rb(d);
    p->update_time_us = ri(d);
    return CO_OK;
}

co_err prt_store_participation_set(co_pg_conn *c, const prt_participation *p, co_arena *a,
                                   prt_participation *out)
{
    if (!p->can_issue && !p->can_redeem) {
        const char *vals[2] = {p->program_code, p->partner_id};
        co_err e = run(c, &st_participation_delete, vals);
        if (e == CO_OK) {
            *out = *p;
            out->update_time_us = 0;
        }
        return e;
    }
    const char *vals[4] = {p->program_code, p->partner_id, boolean(p->can_issue),
                           boolean(p->can_redeem)};
    return row1(c, &st_participation_upsert, vals, a, sizeof *out, read_participation, out);
}

co_err prt_store_participation_list(co_pg_conn *c, const char *code, co_arena *a,
                                    prt_participation **out, size_t *n)
{
    const char *vals[1] = {code};
    return rows(c, &st_participation_list, vals, a, sizeof **out, read_participation, (void **)out,
                n);
}

/* --- campaigns --- */

static co_err read_campaign(rd *d, void *row)
{
    prt_campaign *p = row;
    p->campaign_id = rs(d);
    p->program_code = rs(d);
    p->name = rs(d);
    p->partner_id = rs(d);
    p->start_time_us = ri(d);
    p->end_time_us = ri(d);
    p->days_of_week_mask = (int32_t)ri(d);
    p->category = rs(d);
    p->min_spend_micros = ri(d);
    p->multiplier_bps = (int32_t)ri(d);
    p->bonus_points = ri(d);
    p->chance_one_in = (int32_t)ri(d);
    p->chance_bonus_points = ri(d);
    p->chance_seed_sha256 = rs(d);
    p->chance_seed = rhex(d, 32);
    p->create_time_us = ri(d);
    return CO_OK;
}

co_err prt_store_campaign_insert(co_pg_conn *c, const prt_campaign *p, co_arena *a,
                                 prt_campaign *out)
{
    const char *vals[12] = {p->program_code,
                            p->name,
                            p->partner_id,
                            num(a, p->start_time_us),
                            num(a, p->end_time_us),
                            num(a, p->days_of_week_mask),
                            p->category,
                            num(a, p->min_spend_micros),
                            num(a, p->multiplier_bps),
                            num(a, p->bonus_points),
                            num(a, p->chance_one_in),
                            num(a, p->chance_bonus_points)};
    for (int k = 0; k < 12; k++) {
        if (vals[k] == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    return row1(c, &st_campaign_insert, vals, a, sizeof *out, read_campaign, out);
}

co_err prt_store_campaign_list(co_pg_conn *c, const char *code, int64_t after_start_us,
                               const char *after_id, int64_t active_at_us, int64_t not_ended_at_us,
                               int limit, co_arena *a, prt_campaign **out, size_t *n)
{
    const char *vals[6] = {code,
                           num(a, after_start_us),
                           after_id,
                           num(a, active_at_us),
                           num(a, not_ended_at_us),
                           num(a, limit)};
    if (vals[1] == NULL || vals[3] == NULL || vals[4] == NULL || vals[5] == NULL) {
        return CO_ERR_NOMEM;
    }
    return rows(c, &st_campaign_list, vals, a, sizeof **out, read_campaign, (void **)out, n);
}

/* --- exchange agreements --- */

static co_err read_agreement(rd *d, void *row)
{
    prt_agreement *p = row;
    p->from_program_code = rs(d);
    p->to_program_code = rs(d);
    p->rate_num = ri(d);
    p->rate_den = ri(d);
    p->fee_bps = (int32_t)ri(d);
    p->min_points = ri(d);
    p->max_points = ri(d);
    p->daily_cap_points = ri(d);
    p->enabled = rb(d);
    p->update_time_us = ri(d);
    return CO_OK;
}

co_err prt_store_agreement_set(co_pg_conn *c, const prt_agreement *p, co_arena *a,
                               prt_agreement *out)
{
    const char *vals[9] = {
        p->from_program_code,  p->to_program_code,          num(a, p->rate_num),
        num(a, p->rate_den),   num(a, p->fee_bps),          num(a, p->min_points),
        num(a, p->max_points), num(a, p->daily_cap_points), boolean(p->enabled)};
    for (int k = 0; k < 9; k++) {
        if (vals[k] == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    return row1(c, &st_agreement_upsert, vals, a, sizeof *out, read_agreement, out);
}

co_err prt_store_agreement_list(co_pg_conn *c, const char *after_from, const char *after_to,
                                const char *from, const char *to, const char *visible_to,
                                const char *touching, int limit, co_arena *a, prt_agreement **out,
                                size_t *n)
{
    const char *vals[7] = {after_from,      after_to,      opt(from),    opt(to),
                           opt(visible_to), opt(touching), num(a, limit)};
    if (vals[6] == NULL) {
        return CO_ERR_NOMEM;
    }
    return rows(c, &st_agreement_list, vals, a, sizeof **out, read_agreement, (void **)out, n);
}

/* --- commission policies --- */

static co_err read_policy(rd *d, void *row)
{
    prt_policy *p = row;
    p->partner_id = rs(d);
    p->operator_fee_bps = (int32_t)ri(d);
    p->referral_commission_bps = (int32_t)ri(d);
    p->referral_commission_months = (int32_t)ri(d);
    p->update_time_us = ri(d);
    return CO_OK;
}

co_err prt_store_policy_set(co_pg_conn *c, const prt_policy *p, co_arena *a, prt_policy *out)
{
    const char *vals[4] = {p->partner_id, num(a, p->operator_fee_bps),
                           num(a, p->referral_commission_bps),
                           num(a, p->referral_commission_months)};
    if (vals[1] == NULL || vals[2] == NULL || vals[3] == NULL) {
        return CO_ERR_NOMEM;
    }
    return row1(c, &st_policy_upsert, vals, a, sizeof *out, read_policy, out);
}

/* --- rewards --- */

static co_err read_reward(rd *d, void *row)
{
    prt_reward *p = row;
    p->reward_id = rs(d);
    p->program_code = rs(d);
    p->kind = (int)ri(d);
    p->name = rs(d);
    p->description = rs(d);
    p->points_cost = ri(d);
    p->partner_id = rs(d);
    p->charity_partner_id = rs(d);
    p->stock_limited = rb(d);
    p->stock = ri(d);
    p->coupon_valid_days = (int32_t)ri(d);
    p->create_time_us = ri(d);
    return CO_OK;
}

co_err prt_store_reward_insert(co_pg_conn *c, const prt_reward *p, co_arena *a, prt_reward *out)
{
    const char *vals[10] = {p->program_code,
                            p->name,
                            p->description,
                            num(a, p->points_cost),
                            p->partner_id,
                            p->charity_partner_id,
                            boolean(p->stock_limited),
                            num(a, p->stock),
                            num(a, p->coupon_valid_days),
                            num(a, p->kind)};
    /* The statement takes kind as $2: reorder. */
    const char *ordered[10] = {vals[0], vals[9], vals[1], vals[2], vals[3],
                               vals[4], vals[5], vals[6], vals[7], vals[8]};
    for (int k = 0; k < 10; k++) {
        if (ordered[k] == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    return row1(c, &st_reward_insert, ordered, a, sizeof *out, read_reward, out);
}

co_err prt_store_reward_list(co_pg_conn *c, const char *code, const char *after, int kind,
                             const char *partner, int limit, co_arena *a, prt_reward **out,
                             size_t *n)
{
    const char *vals[5] = {code, after, num(a, kind), opt(partner), num(a, limit)};
    if (vals[2] == NULL || vals[4] == NULL) {
        return CO_ERR_NOMEM;
    }
    return rows(c, &st_reward_list, vals, a, sizeof **out, read_reward, (void **)out, n);
}

co_err prt_store_reward_get(co_pg_conn *c, const char *reward_id, co_arena *a, prt_reward *out)
{
    const char *vals[1] = {reward_id};
    return row1(c, &st_reward_get, vals, a, sizeof *out, read_reward, out);
}

/* --- membership plans --- */

static co_err read_plan(rd *d, void *row)
{
    prt_plan *p = row;
    p->plan_id = rs(d);
    p->program_code = rs(d);
    p->name = rs(d);
    p->fee_micros = ri(d);
    p->currency = rs(d);
    p->period_months = (int32_t)ri(d);
    p->earn_multiplier_bps = (int32_t)ri(d);
    p->perks = rs(d);
    p->reduced_fee_min_points = ri(d);
    p->reduced_fee_micros = ri(d);
    p->create_time_us = ri(d);
    return CO_OK;
}

co_err prt_store_plan_insert(co_pg_conn *c, const prt_plan *p, co_arena *a, prt_plan *out)
{
    const char *vals[9] = {p->program_code,
                           p->name,
                           num(a, p->fee_micros),
                           p->currency,
                           num(a, p->period_months),
                           num(a, p->earn_multiplier_bps),
                           p->perks,
                           num(a, p->reduced_fee_min_points),
                           num(a, p->reduced_fee_micros)};
    for (int k = 0; k < 9; k++) {
        if (vals[k] == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    return row1(c, &st_plan_insert, vals, a, sizeof *out, read_plan, out);
}

co_err prt_store_plan_list(co_pg_conn *c, const char *code, co_arena *a, prt_plan **out, size_t *n)
{
    const char *vals[1] = {code};
    return rows(c, &st_plan_list, vals, a, sizeof **out, read_plan, (void **)out, n);
}

co_err prt_store_plan_get(co_pg_conn *c, const char *plan_id, co_arena *a, prt_plan *out)
{
    const char *vals[1] = {plan_id};
    return row1(c, &st_plan_get, vals, a, sizeof *out, read_plan, out);
}

co_err prt_store_zone_known(co_pg_conn *c, const char *name, bool *known)
{
    const char *vals[1] = {name};
    PGresult *r;
    co_err e = co_pg_exec(c, &st_zone_known, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    *known = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return CO_OK;
}
