/* SPDX-License-Identifier: Apache-2.0 */
/* The program configuration methods: protobuf in and out, authorization, idempotent effects. */
#include "prt_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "coalition/internal/v1/directory.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "currency.h"
#include "process.h"
#include "rules.h"
#include "store.h"

#define ACTIVE COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE
/* Rows a snapshot reads per kind at most. */
#define SNAPSHOT_MAX 100000

/* --- small helpers --- */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Microseconds of a valid Timestamp (years 1..9999), PRT_NO_TIME for NULL; false when out of
 * range. */
static bool ts_us(const Google__Protobuf__Timestamp *t, int64_t *out)
{
    if (t == NULL) {
        *out = PRT_NO_TIME;
        return true;
    }
    if (t->seconds < INT64_C(-62135596800) || t->seconds > INT64_C(253402300799) || t->nanos < 0 ||
        t->nanos > 999999999) {
        return false;
    }
    *out = t->seconds * 1000000 + t->nanos / 1000;
    return true;
}

static co_err fail_bad(co_call *call, const prt_bad *bad)
{
    return co_call_fail(call, CO_ERR_INVALID_ARGUMENT, "invalid field \"%s\": %s", bad->field,
                        bad->why);
}

static co_err fail_field(co_call *call, const char *field, const char *why)
{
    return co_call_fail(call, CO_ERR_INVALID_ARGUMENT, "invalid field \"%s\": %s", field, why);
}

#define NAME_RULE "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter"

static bool name_ok(const char *s)
{
    return co_name_is_valid(s, strlen(s));
}

/* Mutations come from partners or the admin; other services only read configuration. */
static co_err check_mutator(co_call *call, const char *request_id)
{
    if (co_caller_of(call)->role == CO_ROLE_SERVICE) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "coalition services may only read program configuration");
    }
    return co_check_request_id(call, request_id);
}

static co_err check_page(co_call *call, int32_t page_size, int32_t *size)
{
    if (!co_page_size(page_size, PRT_LIST_DEFAULT, PRT_LIST_MAX, size)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"page_size\": must be between 0 and %d", PRT_LIST_MAX);
    }
    return CO_OK;
}

static co_err check_token(co_call *call, const char *token, const char *scope, const char **after)
{
    *after = "";
    if (token[0] != '\0' && !co_page_token_parse(co_call_arena(call), token, scope, after)) {
        return fail_field(call, "page_token", "not a token of this listing");
    }
    return CO_OK;
}

/* Runs fn as a read-only REPEATABLE READ transaction: one consistent view. */
typedef struct ro_args {
    co_pg_tx_fn fn;
    void *ud;
} ro_args;

static co_err ro_tx(co_pg_conn *c, void *ud)
{
    ro_args *ra = ud;
    co_err e = co_pg_command(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    return e != CO_OK ? e : ra->fn(c, ra->ud);
}

static co_err read_tx(prt_state *st, co_call *call, co_pg_tx_fn fn, void *ud)
{
    ro_args ra = {fn, ud};
    return co_pg_tx(st->pool, co_call_ms_left(call), ro_tx, &ra);
}

/* What a caller needs on a program. */
typedef enum need {
    NEED_READ,     /* owner, participant, admin, service */
    NEED_OWNER,    /* owner, admin */
    NEED_ISSUER,   /* owner, participant with can_issue, admin */
    NEED_REDEEMER, /* owner, participant with can_redeem, admin */
} need;

/*
 * Checks that the caller may act on program code as need says and fills *acc. A partner that
 * neither owns nor participates gets PERMISSION_DENIED whether or not the program exists; a
 * partner changing configuration must be ACTIVE (FAILED_PRECONDITION); the admin and services
 * get NOT_FOUND for an unknown program.
 */
static co_err authorize(co_pg_conn *c, co_call *call, const char *code, need n, prt_access *acc)
{
    const co_caller *who = co_caller_of(call);
    co_arena *a = co_call_arena(call);
    bool partner = who->role == CO_ROLE_PARTNER;
    co_err e = prt_store_access(c, code, partner ? who->partner_id : "", a, acc);
    if (e == CO_ERR_NOT_FOUND) {
        if (partner) {
            return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                                "partner \"%s\" may not access program \"%s\"", who->partner_id,
                                code);
        }
        return co_call_fail(call, e, "program \"%s\" not found", code);
    }
    if (e != CO_OK || !partner) {
        return e;
    }
    bool owner = strcmp(acc->owner_partner_id, who->partner_id) == 0;
    bool ok = owner || (n == NEED_READ && acc->participant) ||
              (n == NEED_ISSUER && acc->can_issue) || (n == NEED_REDEEMER && acc->can_redeem);
    if (!ok) {
        if (n == NEED_READ || !acc->participant) {
            return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                                "partner \"%s\" may not access program \"%s\"", who->partner_id,
                                code);
        }
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "partner \"%s\" may not configure program \"%s\"%s", who->partner_id,
                            code,
                            n == NEED_OWNER    ? ": only its owner may"
                            : n == NEED_ISSUER ? " without can_issue"
                                               : " without can_redeem");
    }
    if (n == NEED_READ) {
        return CO_OK;
    }
    prt_partner me;
    e = prt_store_get(c, who->partner_id, 0, a, &me);
    if (e == CO_ERR_NOT_FOUND || (e == CO_OK && me.status != ACTIVE)) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            "partner \"%s\" is not active: only an active partner may change "
                            "configuration",
                            who->partner_id);
    }
    return e;
}

/* The time zone of p must be known to the database (checked inside the effect). */
static co_err check_zone(co_pg_conn *c, co_call *call, const char *zone)
{
    bool known = false;
    co_err e = prt_store_zone_known(c, zone, &known);
    if (e == CO_OK && !known) {
        return fail_field(call, "program.time_zone", "unknown time zone");
    }
    return e;
}

/* --- conversions: protobuf to rows --- */

static co_err program_from_pb(co_call *call, const Coalition__V1__Program *m, prt_program *p)
{
    co_arena *a = co_call_arena(call);
    memset(p, 0, sizeof *p);
    p->code = m->code;
    p->name = m->name;
    p->owner_partner_id = m->owner_partner_id;
    p->currency = m->currency;
    p->point_value_micros = m->point_value_micros;
    p->issue_price_micros = m->issue_price_micros;
    p->expiry_months = m->expiry_months;
    p->earn_den = 1;
    if (m->earn_rule != NULL) {
        if (m->earn_rule->points_per_unit != NULL) {
            p->earn_num = m->earn_rule->points_per_unit->num;
            p->earn_den = m->earn_rule->points_per_unit->den;
            if (p->earn_num == 0 && p->earn_den == 0) {
                p->earn_den = 1;
            }
        }
        p->earn_min_spend_micros = m->earn_rule->min_spend_micros;
        p->points_per_visit = m->earn_rule->points_per_visit;
    }
    p->tier_basis = (int)m->tier_basis;
    if (m->n_tiers > 0) {
        if (m->n_tiers > 10) {
            return fail_field(call, "program.tiers", "at most 10 tiers");
        }
        prt_tier *ts = co_arena_calloc(a, m->n_tiers, sizeof *ts);
        if (ts == NULL) {
            return CO_ERR_NOMEM;
        }
        for (size_t i = 0; i < m->n_tiers; i++) {
            const Coalition__V1__Tier *t = m->tiers[i];
            ts[i] = (prt_tier){t->code,
                               t->name,
                               t->min_qualifying_points,
                               t->min_spend_micros,
                               t->earn_multiplier_bps,
                               t->perks};
        }
        p->tiers = ts;
        p->ntiers = m->n_tiers;
    }
    p->qualifying_window_days = m->qualifying_window_days == 0 ? 365 : m->qualifying_window_days;
    p->welcome_bonus_points = m->welcome_bonus_points;
    p->birthday_bonus_points = m->birthday_bonus_points;
    p->issuing_mode = (int)m->issuing_mode;
    p->time_zone = m->time_zone[0] == '\0' ? "UTC" : m->time_zone;
    return CO_OK;
}

/* --- conversions: rows to protobuf (arena memory; strings shared with the rows) --- */

static Coalition__V1__Program *program_pb(co_arena *a, const prt_program *p)
{
    Coalition__V1__Program *m = co_arena_alloc(a, sizeof *m);
    Coalition__V1__EarnRule *er = co_arena_alloc(a, sizeof *er);
    Coalition__V1__Rational *r = co_arena_alloc(a, sizeof *r);
    Coalition__V1__Tier **tiers = co_arena_calloc(a, p->ntiers + 1, sizeof *tiers);
    if (m == NULL || er == NULL || r == NULL || tiers == NULL) {
        return NULL;
    }
    coalition__v1__program__init(m);
    coalition__v1__earn_rule__init(er);
    coalition__v1__rational__init(r);
    m->code = (char *)p->code;
    m->name = (char *)p->name;
    m->owner_partner_id = (char *)p->owner_partner_id;
    m->currency = (char *)p->currency;
    m->point_value_micros = p->point_value_micros;
    m->issue_price_micros = p->issue_price_micros;
    m->expiry_months = p->expiry_months;
    r->num = p->earn_num;
    r->den = p->earn_den;
    er->points_per_unit = r;
    er->min_spend_micros = p->earn_min_spend_micros;
    er->points_per_visit = p->points_per_visit;
    m->earn_rule = er;
    m->tier_basis = (Coalition__V1__TierBasis)p->tier_basis;
    for (size_t i = 0; i < p->ntiers; i++) {
        Coalition__V1__Tier *t = co_arena_alloc(a, sizeof *t);
        if (t == NULL) {
            return NULL;
        }
        coalition__v1__tier__init(t);
        t->code = (char *)p->tiers[i].code;
        t->name = (char *)p->tiers[i].name;
        t->min_qualifying_points = p->tiers[i].min_qualifying_points;
        t->min_spend_micros = p->tiers[i].min_spend_micros;
        t->earn_multiplier_bps = p->tiers[i].earn_multiplier_bps;
        t->perks = (char *)p->tiers[i].perks;
        tiers[i] = t;
    }
    m->tiers = tiers;
    m->n_tiers = p->ntiers;
    m->qualifying_window_days = p->qualifying_window_days;
    m->welcome_bonus_points = p->welcome_bonus_points;
    m->birthday_bonus_points = p->birthday_bonus_points;
    m->issuing_mode = (Coalition__V1__IssuingMode)p->issuing_mode;
    m->time_zone = (char *)p->time_zone;
    m->version = p->version;
    m->create_time = co_timestamp(a, p->create_time_us);
    m->update_time = co_timestamp(a, p->update_time_us);
    if (m->create_time == NULL || m->update_time == NULL) {
        return NULL;
    }
    return m;
}

static Coalition__V1__Participation *participation_pb(co_arena *a, const prt_participation *p)
{
    Coalition__V1__Participation *m = co_arena_alloc(a, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    coalition__v1__participation__init(m);
    m->program_code = (char *)p->program_code;
    m->partner_id = (char *)p->partner_id;
    m->can_issue = p->can_issue;
    m->can_redeem = p->can_redeem;
    if (p->update_time_us != 0 && (m->update_time = co_timestamp(a, p->update_time_us)) == NULL) {
        return NULL;
    }
    return m;
}

static Coalition__V1__Campaign *campaign_pb(co_arena *a, const prt_campaign *p)
{
    Coalition__V1__Campaign *m = co_arena_alloc(a, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    coalition__v1__campaign__init(m);
    m->campaign_id = (char *)p->campaign_id;
    m->program_code = (char *)p->program_code;
    m->name = (char *)p->name;
    m->partner_id = (char *)p->partner_id;
    m->start_time = co_timestamp(a, p->start_time_us);
    m->end_time = co_timestamp(a, p->end_time_us);
    m->days_of_week_mask = p->days_of_week_mask;
    m->category = (char *)p->category;
    m->min_spend_micros = p->min_spend_micros;
    m->multiplier_bps = p->multiplier_bps;
    m->bonus_points = p->bonus_points;
    m->chance_one_in = p->chance_one_in;
    m->chance_bonus_points = p->chance_bonus_points;
    m->chance_seed_sha256 = (char *)p->chance_seed_sha256;
    m->create_time = co_timestamp(a, p->create_time_us);
    if (m->start_time == NULL || m->end_time == NULL || m->create_time == NULL) {
        return NULL;
    }
    return m;
}

static Coalition__V1__ExchangeAgreement *agreement_pb(co_arena *a, const prt_agreement *p)
{
    Coalition__V1__ExchangeAgreement *m = co_arena_alloc(a, sizeof *m);
    Coalition__V1__Rational *r = co_arena_alloc(a, sizeof *r);
    if (m == NULL || r == NULL) {
        return NULL;
    }
    coalition__v1__exchange_agreement__init(m);
    coalition__v1__rational__init(r);
    m->from_program_code = (char *)p->from_program_code;
    m->to_program_code = (char *)p->to_program_code;
    r->num = p->rate_num;
    r->den = p->rate_den;
    m->rate = r;
    m->fee_bps = p->fee_bps;
    m->min_points = p->min_points;
    m->max_points = p->max_points;
    m->daily_cap_points = p->daily_cap_points;
    m->enabled = p->enabled;
    m->update_time = co_timestamp(a, p->update_time_us);
    return m->update_time != NULL ? m : NULL;
}

static Coalition__V1__Reward *reward_pb(co_arena *a, const prt_reward *p)
{
    Coalition__V1__Reward *m = co_arena_alloc(a, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    coalition__v1__reward__init(m);
    m->reward_id = (char *)p->reward_id;
    m->program_code = (char *)p->program_code;
    m->kind = (Coalition__V1__RewardKind)p->kind;
    m->name = (char *)p->name;
    m->description = (char *)p->description;
    m->points_cost = p->points_cost;
    m->partner_id = (char *)p->partner_id;
    m->charity_partner_id = (char *)p->charity_partner_id;
    m->stock_limited = p->stock_limited;
    m->stock = p->stock;
    m->coupon_valid_days = p->coupon_valid_days;
    m->create_time = co_timestamp(a, p->create_time_us);
    return m->create_time != NULL ? m : NULL;
}

static Coalition__V1__Money *money_pb(co_arena *a, int64_t micros, const char *currency)
{
    Coalition__V1__Money *m = co_arena_alloc(a, sizeof *m);
    if (m != NULL) {
        coalition__v1__money__init(m);
        m->amount_micros = micros;
        m->currency = (char *)currency;
    }
    return m;
}

static Coalition__V1__MembershipPlan *plan_pb(co_arena *a, const prt_plan *p)
{
    Coalition__V1__MembershipPlan *m = co_arena_alloc(a, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    coalition__v1__membership_plan__init(m);
    m->plan_id = (char *)p->plan_id;
    m->program_code = (char *)p->program_code;
    m->name = (char *)p->name;
    m->fee = money_pb(a, p->fee_micros, p->currency);
    m->period_months = p->period_months;
    m->earn_multiplier_bps = p->earn_multiplier_bps;
    m->perks = (char *)p->perks;
    m->reduced_fee_min_points = p->reduced_fee_min_points;
    if (p->reduced_fee_min_points != 0) {
        m->reduced_fee = money_pb(a, p->reduced_fee_micros, p->currency);
        if (m->reduced_fee == NULL) {
            return NULL;
        }
    }
    m->create_time = co_timestamp(a, p->create_time_us);
    return m->fee != NULL && m->create_time != NULL ? m : NULL;
}

/* Converts n rows of size sz with fn into an arena array of messages (*out, *nout). */
typedef void *(*to_pb_fn)(co_arena *a, const void *row);

static co_err many_pb(co_arena *a, const void *rows, size_t n, size_t sz, to_pb_fn fn,
                      void *out_arr, size_t *nout)
{
    void **arr = co_arena_calloc(a, n + 1, sizeof *arr);
    if (arr == NULL) {
        return CO_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        arr[i] = fn(a, (const char *)rows + i * sz);
        if (arr[i] == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    memcpy(out_arr, &arr, sizeof arr);
    *nout = n;
    return CO_OK;
}

static void *participation_v(co_arena *a, const void *r)
{
    return participation_pb(a, r);
}
static void *campaign_v(co_arena *a, const void *r)
{
    return campaign_pb(a, r);
}
static void *agreement_v(co_arena *a, const void *r)
{
    return agreement_pb(a, r);
}
static void *reward_v(co_arena *a, const void *r)
{
    return reward_pb(a, r);
}
static void *plan_v(co_arena *a, const void *r)
{
    return plan_pb(a, r);
}
static void *program_v(co_arena *a, const void *r)
{
    return program_pb(a, r);
}

/* --- CreateProgram --- */

typedef struct program_args {
    prt_program p;
    int64_t expected_version;
} program_args;

static co_err create_program_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    program_args *pa = ud;
    co_arena *a = co_call_arena(call);
    prt_program p = pa->p;
    prt_partner owner;
    co_err e = prt_store_get(c, p.owner_partner_id, 0, a, &owner);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "partner \"%s\" not found", p.owner_partner_id);
    }
    if (e != CO_OK) {
        return e;
    }
    if (p.currency[0] == '\0') {
        p.currency = owner.settlement_currency;
    } else if (strcmp(p.currency, owner.settlement_currency) != 0) {
        return fail_field(call, "program.currency", "must be the owner's settlement currency");
    }
    if ((e = check_zone(c, call, p.time_zone)) != CO_OK) {
        return e;
    }
    prt_program row;
    e = prt_store_program_insert(c, &p, a, &row);
    if (e == CO_ERR_ALREADY_EXISTS) {
        return co_call_fail(call, e, "program \"%s\" already exists", p.code);
    }
    if (e != CO_OK) {
        return e;
    }
    Coalition__V1__CreateProgramResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__create_program_response__init(r);
    if ((r->program = program_pb(a, &row)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

co_err prt_create_program(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                          void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__CreateProgramRequest *req = (const void *)msg;
    co_err e;
    if ((e = co_require_admin(call)) != CO_OK ||
        (e = co_check_request_id(call, req->request_id)) != CO_OK) {
        return e;
    }
    if (req->program == NULL) {
        return fail_field(call, "program", "required");
    }
    program_args pa = {0};
    if ((e = program_from_pb(call, req->program, &pa.p)) != CO_OK) {
        return e;
    }
    prt_bad bad;
    if (!prt_rules_program(&pa.p, &bad)) {
        return fail_bad(call, &bad);
    }
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__create_program_response__descriptor,
                       create_program_effect, &pa, resp);
}

/* --- UpdateProgram --- */

static co_err update_program_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    program_args *pa = ud;
    co_arena *a = co_call_arena(call);
    prt_program p = pa->p;
    prt_access acc;
    co_err e = authorize(c, call, p.code, NEED_OWNER, &acc);
    if (e != CO_OK) {
        return e;
    }
    prt_program cur;
    if ((e = prt_store_program_get(c, p.code, 1, a, &cur)) != CO_OK) {
        return e;
    }
    if (p.owner_partner_id[0] == '\0') {
        p.owner_partner_id = cur.owner_partner_id;
    } else if (strcmp(p.owner_partner_id, cur.owner_partner_id) != 0) {
        return fail_field(call, "program.owner_partner_id", "immutable: must be unchanged");
    }
    if (p.currency[0] == '\0') {
        p.currency = cur.currency;
    } else if (strcmp(p.currency, cur.currency) != 0) {
        return fail_field(call, "program.currency", "immutable: must be unchanged");
    }
    if (cur.version != pa->expected_version) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            "program \"%s\" is at version %" PRId64 ", not %" PRId64
                            ": read it again and retry",
                            p.code, cur.version, pa->expected_version);
    }
    if (co_caller_of(call)->role != CO_ROLE_ADMIN) {
        const char *field =
            p.point_value_micros != cur.point_value_micros   ? "program.point_value_micros"
            : p.issue_price_micros != cur.issue_price_micros ? "program.issue_price_micros"
            : p.issuing_mode != cur.issuing_mode             ? "program.issuing_mode"
                                                             : NULL;
        if (field != NULL) {
            return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                                "field \"%s\" may be changed by the admin only", field);
        }
    }
    if ((e = check_zone(c, call, p.time_zone)) != CO_OK) {
        return e;
    }
    prt_program row;
    if ((e = prt_store_program_update(c, &p, a, &row)) != CO_OK) {
        return e;
    }
    Coalition__V1__UpdateProgramResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__update_program_response__init(r);
    if ((r->program = program_pb(a, &row)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

co_err prt_update_program(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                          void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__UpdateProgramRequest *req = (const void *)msg;
    co_err e = check_mutator(call, req->request_id);
    if (e != CO_OK) {
        return e;
    }
    if (req->program == NULL) {
        return fail_field(call, "program", "required");
    }
    program_args pa = {.expected_version = req->expected_version};
    if ((e = program_from_pb(call, req->program, &pa.p)) != CO_OK) {
        return e;
    }
    /* The immutable owner may be left empty: validate the rest with a stand-in. */
    prt_program chk = pa.p;
    if (chk.owner_partner_id[0] == '\0') {
        chk.owner_partner_id = CO_OPERATOR_ID;
    }
    prt_bad bad;
    if (!prt_rules_program(&chk, &bad)) {
        return fail_bad(call, &bad);
    }
    if (req->expected_version < 1) {
        return fail_field(call, "expected_version", "required: the version read with GetProgram");
    }
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__update_program_response__descriptor,
                       update_program_effect, &pa, resp);
}

/* --- GetProgram --- */

typedef struct get_program_args {
    co_call *call;
    const char *code;
    prt_program p;
    prt_participation *parts;
    size_t nparts;
    prt_plan *plans;
    size_t nplans;
} get_program_args;

static co_err get_program_tx(co_pg_conn *c, void *ud)
{
    get_program_args *ga = ud;
    co_arena *a = co_call_arena(ga->call);
    prt_access acc;
    co_err e = authorize(c, ga->call, ga->code, NEED_READ, &acc);
    if (e == CO_OK) {
        e = prt_store_program_get(c, ga->code, 0, a, &ga->p);
    }
    if (e == CO_OK) {
        e = prt_store_participation_list(c, ga->code, a, &ga->parts, &ga->nparts);
    }
    if (e == CO_OK) {
        e = prt_store_plan_list(c, ga->code, a, &ga->plans, &ga->nplans);
    }
    return e;
}

co_err prt_get_program(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                       void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__GetProgramRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    if (!name_ok(req->program_code)) {
        return fail_field(call, "program_code", NAME_RULE);
    }
    get_program_args ga = {.call = call, .code = req->program_code};
    co_err e = read_tx(st, call, get_program_tx, &ga);
    if (e != CO_OK) {
        return e;
    }
    Coalition__V1__GetProgramResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__get_program_response__init(r);
    if ((r->program = program_pb(a, &ga.p)) == NULL ||
        many_pb(a, ga.parts, ga.nparts, sizeof *ga.parts, participation_v, &r->participations,
                &r->n_participations) != CO_OK ||
        many_pb(a, ga.plans, ga.nplans, sizeof *ga.plans, plan_v, &r->membership_plans,
                &r->n_membership_plans) != CO_OK) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- ListPrograms --- */

typedef struct list_programs_args {
    const char *after;
    const char *owner;
    const char *visible_to;
    int limit;
    co_arena *a;
    prt_program *rows;
    size_t n;
} list_programs_args;

static co_err list_programs_tx(co_pg_conn *c, void *ud)
{
    list_programs_args *la = ud;
    return prt_store_program_list(c, la->after, la->owner, la->visible_to, la->limit, la->a,
                                  &la->rows, &la->n);
}

co_err prt_list_programs(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                         void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__ListProgramsRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    const co_caller *who = co_caller_of(call);
    int32_t size;
    co_err e = check_page(call, req->page_size, &size);
    if (e != CO_OK) {
        return e;
    }
    if (req->owner_partner_id[0] != '\0' && !name_ok(req->owner_partner_id)) {
        return fail_field(call, "owner_partner_id", NAME_RULE);
    }
    const char *scope = co_arena_printf(a, "programs:%s", req->owner_partner_id);
    const char *after;
    if (scope == NULL) {
        return CO_ERR_NOMEM;
    }
    if ((e = check_token(call, req->page_token, scope, &after)) != CO_OK) {
        return e;
    }
    list_programs_args la = {.after = after,
                             .owner = req->owner_partner_id,
                             .visible_to = who->role == CO_ROLE_PARTNER ? who->partner_id : NULL,
                             .limit = size + 1,
                             .a = a};
    if ((e = co_pg_tx(st->pool, co_call_ms_left(call), list_programs_tx, &la)) != CO_OK) {
        return e;
    }
    Coalition__V1__ListProgramsResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__list_programs_response__init(r);
    size_t n = la.n > (size_t)size ? (size_t)size : la.n;
    if (many_pb(a, la.rows, n, sizeof *la.rows, program_v, &r->programs, &r->n_programs) != CO_OK) {
        return CO_ERR_NOMEM;
    }
    if (la.n > (size_t)size &&
        (r->next_page_token = co_page_token_make(a, scope, la.rows[n - 1].code)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- SetParticipation --- */

static co_err set_participation_effect(co_pg_conn *c, co_call *call, void *ud,
                                       ProtobufCMessage **resp)
{
    const prt_participation *p = ud;
    co_arena *a = co_call_arena(call);
    prt_access acc;
    co_err e = authorize(c, call, p->program_code, NEED_OWNER, &acc);
    if (e != CO_OK) {
        return e;
    }
    prt_partner partner;
    e = prt_store_get(c, p->partner_id, 0, a, &partner);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "partner \"%s\" not found", p->partner_id);
    }
    if (e != CO_OK) {
        return e;
    }
    if (strcmp(p->partner_id, acc.owner_partner_id) == 0) {
        return fail_field(call, "partner_id", "the program's owner needs no participation");
    }
    prt_participation row;
    if ((e = prt_store_participation_set(c, p, a, &row)) != CO_OK) {
        return e;
    }
    Coalition__V1__SetParticipationResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__set_participation_response__init(r);
    if ((r->participation = participation_pb(a, &row)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

co_err prt_set_participation(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                             void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__SetParticipationRequest *req = (const void *)msg;
    co_err e;
    if ((e = co_require_admin(call)) != CO_OK ||
        (e = co_check_request_id(call, req->request_id)) != CO_OK) {
        return e;
    }
    if (!name_ok(req->program_code)) {
        return fail_field(call, "program_code", NAME_RULE);
    }
    if (!name_ok(req->partner_id)) {
        return fail_field(call, "partner_id", NAME_RULE);
    }
    prt_participation p = {req->program_code, req->partner_id, req->can_issue, req->can_redeem, 0};
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__set_participation_response__descriptor,
                       set_participation_effect, &p, resp);
}

/* --- CreateCampaign --- */

static co_err create_campaign_effect(co_pg_conn *c, co_call *call, void *ud,
                                     ProtobufCMessage **resp)
{
    const prt_campaign *p = ud;
    co_arena *a = co_call_arena(call);
    const co_caller *who = co_caller_of(call);
    prt_access acc;
    co_err e = authorize(c, call, p->program_code, NEED_ISSUER, &acc);
    if (e != CO_OK) {
        return e;
    }
    bool admin = who->role == CO_ROLE_ADMIN;
    if (p->partner_id[0] == '\0') {
        if (!admin && strcmp(who->partner_id, acc.owner_partner_id) != 0) {
            return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                                "field \"campaign.partner_id\": only the owner or the admin may "
                                "create a campaign for every partner");
        }
    } else if (!admin && strcmp(p->partner_id, who->partner_id) != 0) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "field \"campaign.partner_id\": must be empty or the caller");
    } else if (admin) {
        prt_access sponsor;
        if ((e = prt_store_access(c, p->program_code, p->partner_id, a, &sponsor)) != CO_OK) {
            return e;
        }
        prt_partner partner;
        e = prt_store_get(c, p->partner_id, 0, a, &partner);
        if (e == CO_ERR_NOT_FOUND) {
            return co_call_fail(call, e, "partner \"%s\" not found", p->partner_id);
        }
        if (e != CO_OK) {
            return e;
        }
        if (strcmp(p->partner_id, acc.owner_partner_id) != 0 && !sponsor.can_issue) {
            return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                                "partner \"%s\" may not issue points of program \"%s\"",
                                p->partner_id, p->program_code);
        }
    }
    prt_campaign row;
    if ((e = prt_store_campaign_insert(c, p, a, &row)) != CO_OK) {
        return e;
    }
    Coalition__V1__CreateCampaignResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__create_campaign_response__init(r);
    if ((r->campaign = campaign_pb(a, &row)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

co_err prt_create_campaign(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                           void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__CreateCampaignRequest *req = (const void *)msg;
    co_err e = check_mutator(call, req->request_id);
    if (e != CO_OK) {
        return e;
    }
    const Coalition__V1__Campaign *m = req->campaign;
    if (m == NULL) {
        return fail_field(call, "campaign", "required");
    }
    prt_campaign p = {
        .program_code = m->program_code,
        .name = m->name,
        .partner_id = m->partner_id,
        .days_of_week_mask = m->days_of_week_mask,
        .category = m->category,
        .min_spend_micros = m->min_spend_micros,
        .multiplier_bps = m->multiplier_bps == 0 ? 10000 : m->multiplier_bps,
        .bonus_points = m->bonus_points,
        .chance_one_in = m->chance_one_in,
        .chance_bonus_points = m->chance_bonus_points,
    };
    if (!ts_us(m->start_time, &p.start_time_us)) {
        return fail_field(call, "campaign.start_time", "not a valid timestamp");
    }
    if (!ts_us(m->end_time, &p.end_time_us)) {
        return fail_field(call, "campaign.end_time", "not a valid timestamp");
    }
    prt_bad bad;
    if (!prt_rules_campaign(&p, now_us(), &bad)) {
        return fail_bad(call, &bad);
    }
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__create_campaign_response__descriptor,
                       create_campaign_effect, &p, resp);
}

/* --- ListCampaigns --- */

typedef struct list_campaigns_args {
    co_call *call;
    const char *code;
    int64_t after_start;
    const char *after_id;
    int64_t active_at;
    int limit;
    prt_campaign *rows;
    size_t n;
} list_campaigns_args;

static co_err list_campaigns_tx(co_pg_conn *c, void *ud)
{
    list_campaigns_args *la = ud;
    prt_access acc;
    co_err e = authorize(c, la->call, la->code, NEED_READ, &acc);
    if (e != CO_OK) {
        return e;
    }
    return prt_store_campaign_list(c, la->code, la->after_start, la->after_id, la->active_at, -1,
                                   la->limit, co_call_arena(la->call), &la->rows, &la->n);
}

co_err prt_list_campaigns(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                          void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__ListCampaignsRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    if (!name_ok(req->program_code)) {
        return fail_field(call, "program_code", NAME_RULE);
    }
    int32_t size;
    co_err e = check_page(call, req->page_size, &size);
    if (e != CO_OK) {
        return e;
    }
    int64_t active_at;
    if (!ts_us(req->active_at, &active_at)) {
        return fail_field(call, "active_at", "not a valid timestamp");
    }
    if (active_at != PRT_NO_TIME && active_at < 0) {
        return fail_field(call, "active_at", "must not be before 1970");
    }
    const char *scope =
        active_at == PRT_NO_TIME
            ? co_arena_printf(a, "campaigns:%s:", req->program_code)
            : co_arena_printf(a, "campaigns:%s:%" PRId64, req->program_code, active_at);
    const char *after;
    if (scope == NULL) {
        return CO_ERR_NOMEM;
    }
    if ((e = check_token(call, req->page_token, scope, &after)) != CO_OK) {
        return e;
    }
    list_campaigns_args la = {.call = call,
                              .code = req->program_code,
                              .active_at = active_at == PRT_NO_TIME ? -1 : active_at,
                              .limit = size + 1};
    if (after[0] != '\0') {
        /* The cursor is "<start_us>/<campaign_id>". */
        char *end = NULL;
        la.after_start = strtoll(after, &end, 10);
        if (end == NULL || *end != '/') {
            return fail_field(call, "page_token", "not a token of this listing");
        }
        la.after_id = end + 1;
    }
    if ((e = read_tx(st, call, list_campaigns_tx, &la)) != CO_OK) {
        return e;
    }
    Coalition__V1__ListCampaignsResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__list_campaigns_response__init(r);
    size_t n = la.n > (size_t)size ? (size_t)size : la.n;
    if (many_pb(a, la.rows, n, sizeof *la.rows, campaign_v, &r->campaigns, &r->n_campaigns) !=
        CO_OK) {
        return CO_ERR_NOMEM;
    }
    if (la.n > (size_t)size) {
        const char *cursor = co_arena_printf(a, "%" PRId64 "/%s", la.rows[n - 1].start_time_us,
                                             la.rows[n - 1].campaign_id);
        if (cursor == NULL || (r->next_page_token = co_page_token_make(a, scope, cursor)) == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- SetExchangeAgreement --- */

static co_err set_agreement_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    const prt_agreement *p = ud;
    co_arena *a = co_call_arena(call);
    prt_access acc;
    co_err e = authorize(c, call, p->from_program_code, NEED_OWNER, &acc);
    if (e == CO_OK) {
        e = authorize(c, call, p->to_program_code, NEED_OWNER, &acc);
    }
    if (e != CO_OK) {
        return e;
    }
    prt_agreement row;
    if ((e = prt_store_agreement_set(c, p, a, &row)) != CO_OK) {
        return e;
    }
    Coalition__V1__SetExchangeAgreementResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__set_exchange_agreement_response__init(r);
    if ((r->agreement = agreement_pb(a, &row)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

co_err prt_set_exchange_agreement(co_call *call, const ProtobufCMessage *msg,
                                  ProtobufCMessage **resp, void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__SetExchangeAgreementRequest *req = (const void *)msg;
    co_err e;
    if ((e = co_require_admin(call)) != CO_OK ||
        (e = co_check_request_id(call, req->request_id)) != CO_OK) {
        return e;
    }
    const Coalition__V1__ExchangeAgreement *m = req->agreement;
    if (m == NULL) {
        return fail_field(call, "agreement", "required");
    }
    if (m->rate == NULL) {
        return fail_field(call, "agreement.rate", "required");
    }
    prt_agreement p = {
        m->from_program_code, m->to_program_code, m->rate->num,        m->rate->den, m->fee_bps,
        m->min_points,        m->max_points,      m->daily_cap_points, m->enabled,   0};
    prt_bad bad;
    if (!prt_rules_agreement(&p, &bad)) {
        return fail_bad(call, &bad);
    }
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__set_exchange_agreement_response__descriptor,
                       set_agreement_effect, &p, resp);
}

/* --- ListExchangeAgreements --- */

typedef struct list_agreements_args {
    const char *after_from;
    const char *after_to;
    const char *from;
    const char *to;
    const char *visible_to;
    int limit;
    co_arena *a;
    prt_agreement *rows;
    size_t n;
} list_agreements_args;

static co_err list_agreements_tx(co_pg_conn *c, void *ud)
{
    list_agreements_args *la = ud;
    return prt_store_agreement_list(c, la->after_from, la->after_to, la->from, la->to,
                                    la->visible_to, NULL, la->limit, la->a, &la->rows, &la->n);
}

co_err prt_list_exchange_agreements(co_call *call, const ProtobufCMessage *msg,
                                    ProtobufCMessage **resp, void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__ListExchangeAgreementsRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    const co_caller *who = co_caller_of(call);
    int32_t size;
    co_err e = check_page(call, req->page_size, &size);
    if (e != CO_OK) {
        return e;
    }
    if (req->from_program_code[0] != '\0' && !name_ok(req->from_program_code)) {
        return fail_field(call, "from_program_code", NAME_RULE);
    }
    if (req->to_program_code[0] != '\0' && !name_ok(req->to_program_code)) {
        return fail_field(call, "to_program_code", NAME_RULE);
    }
    const char *scope =
        co_arena_printf(a, "agreements:%s:%s", req->from_program_code, req->to_program_code);
    const char *after;
    if (scope == NULL) {
        return CO_ERR_NOMEM;
    }
    if ((e = check_token(call, req->page_token, scope, &after)) != CO_OK) {
        return e;
    }
    list_agreements_args la = {.after_from = "",
                               .after_to = "",
                               .from = req->from_program_code,
                               .to = req->to_program_code,
                               .visible_to = who->role == CO_ROLE_PARTNER ? who->partner_id : NULL,
                               .limit = size + 1,
                               .a = a};
    if (after[0] != '\0') {
        /* The cursor is "<from>/<to>"; codes never contain '/'. */
        const char *slash = strchr(after, '/');
        char *from = slash != NULL ? co_arena_strdup(a, after) : NULL;
        if (slash == NULL) {
            return fail_field(call, "page_token", "not a token of this listing");
        }
        if (from == NULL) {
            return CO_ERR_NOMEM;
        }
        from[slash - after] = '\0';
        la.after_from = from;
        la.after_to = slash + 1;
    }
    if ((e = co_pg_tx(st->pool, co_call_ms_left(call), list_agreements_tx, &la)) != CO_OK) {
        return e;
    }
    Coalition__V1__ListExchangeAgreementsResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__list_exchange_agreements_response__init(r);
    size_t n = la.n > (size_t)size ? (size_t)size : la.n;
    if (many_pb(a, la.rows, n, sizeof *la.rows, agreement_v, &r->agreements, &r->n_agreements) !=
        CO_OK) {
        return CO_ERR_NOMEM;
    }
    if (la.n > (size_t)size) {
        const char *cursor = co_arena_printf(a, "%s/%s", la.rows[n - 1].from_program_code,
                                             la.rows[n - 1].to_program_code);
        if (cursor == NULL || (r->next_page_token = co_page_token_make(a, scope, cursor)) == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- SetCommissionPolicy --- */

static co_err set_policy_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    const prt_policy *p = ud;
    co_arena *a = co_call_arena(call);
    co_err e;
    if (p->partner_id[0] != '\0') {
        prt_partner partner;
        e = prt_store_get(c, p->partner_id, 0, a, &partner);
        if (e == CO_ERR_NOT_FOUND) {
            return co_call_fail(call, e, "partner \"%s\" not found", p->partner_id);
        }
        if (e != CO_OK) {
            return e;
        }
    }
    prt_policy row;
    if ((e = prt_store_policy_set(c, p, a, &row)) != CO_OK) {
        return e;
    }
    Coalition__V1__SetCommissionPolicyResponse *r = co_arena_alloc(a, sizeof *r);
    Coalition__V1__CommissionPolicy *m = co_arena_alloc(a, sizeof *m);
    if (r == NULL || m == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__set_commission_policy_response__init(r);
    coalition__v1__commission_policy__init(m);
    m->partner_id = (char *)row.partner_id;
    m->operator_fee_bps = row.operator_fee_bps;
    m->referral_commission_bps = row.referral_commission_bps;
    m->referral_commission_months = row.referral_commission_months;
    if ((m->update_time = co_timestamp(a, row.update_time_us)) == NULL) {
        return CO_ERR_NOMEM;
    }
    r->policy = m;
    *resp = &r->base;
    return CO_OK;
}

co_err prt_set_commission_policy(co_call *call, const ProtobufCMessage *msg,
                                 ProtobufCMessage **resp, void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__SetCommissionPolicyRequest *req = (const void *)msg;
    co_err e;
    if ((e = co_require_admin(call)) != CO_OK ||
        (e = co_check_request_id(call, req->request_id)) != CO_OK) {
        return e;
    }
    const Coalition__V1__CommissionPolicy *m = req->policy;
    if (m == NULL) {
        return fail_field(call, "policy", "required");
    }
    prt_policy p = {m->partner_id, m->operator_fee_bps, m->referral_commission_bps,
                    m->referral_commission_months, 0};
    prt_bad bad;
    if (!prt_rules_policy(&p, &bad)) {
        return fail_bad(call, &bad);
    }
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__set_commission_policy_response__descriptor,
                       set_policy_effect, &p, resp);
}

/* --- CreateReward --- */

/* Whether partner_id may accept points of the program acc describes (owner or can_redeem) and
 * exists; active additionally requires it to be ACTIVE. */
static co_err check_redeemer(co_pg_conn *c, co_call *call, const char *code, const char *owner,
                             const char *partner_id, const char *field, bool active)
{
    co_arena *a = co_call_arena(call);
    prt_partner partner;
    co_err e = prt_store_get(c, partner_id, 0, a, &partner);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "partner \"%s\" not found", partner_id);
    }
    if (e != CO_OK) {
        return e;
    }
    prt_access acc;
    if ((e = prt_store_access(c, code, partner_id, a, &acc)) != CO_OK) {
        return e;
    }
    if (strcmp(partner_id, owner) != 0 && !acc.can_redeem) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            "field \"%s\": partner \"%s\" may not redeem points of program "
                            "\"%s\"",
                            field, partner_id, code);
    }
    if (active && partner.status != ACTIVE) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            "field \"%s\": partner \"%s\" is not active", field, partner_id);
    }
    return CO_OK;
}

static co_err create_reward_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    const prt_reward *p = ud;
    co_arena *a = co_call_arena(call);
    const co_caller *who = co_caller_of(call);
    prt_access acc;
    co_err e = authorize(c, call, p->program_code, NEED_REDEEMER, &acc);
    if (e != CO_OK) {
        return e;
    }
    bool privileged =
        who->role == CO_ROLE_ADMIN || strcmp(who->partner_id, acc.owner_partner_id) == 0;
    if (!privileged && strcmp(p->partner_id, who->partner_id) != 0) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "field \"reward.partner_id\": a participant lists only rewards it "
                            "fulfils itself");
    }
    if ((e = check_redeemer(c, call, p->program_code, acc.owner_partner_id, p->partner_id,
                            "reward.partner_id", false)) != CO_OK) {
        return e;
    }
    if (p->kind == COALITION__V1__REWARD_KIND__REWARD_KIND_DONATION &&
        (e = check_redeemer(c, call, p->program_code, acc.owner_partner_id, p->charity_partner_id,
                            "reward.charity_partner_id", true)) != CO_OK) {
        return e;
    }
    prt_reward row;
    if ((e = prt_store_reward_insert(c, p, a, &row)) != CO_OK) {
        return e;
    }
    Coalition__V1__CreateRewardResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__create_reward_response__init(r);
    if ((r->reward = reward_pb(a, &row)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

co_err prt_create_reward(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                         void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__CreateRewardRequest *req = (const void *)msg;
    co_err e = check_mutator(call, req->request_id);
    if (e != CO_OK) {
        return e;
    }
    const Coalition__V1__Reward *m = req->reward;
    if (m == NULL) {
        return fail_field(call, "reward", "required");
    }
    bool coupon = m->kind == COALITION__V1__REWARD_KIND__REWARD_KIND_COUPON;
    prt_reward p = {
        .program_code = m->program_code,
        .kind = (int)m->kind,
        .name = m->name,
        .description = m->description,
        .points_cost = m->points_cost,
        .partner_id = m->partner_id[0] != '\0' ? m->partner_id : co_caller_of(call)->partner_id,
        .charity_partner_id = m->charity_partner_id,
        .stock_limited = m->stock_limited,
        .stock = m->stock,
        .coupon_valid_days = coupon && m->coupon_valid_days == 0 ? 365 : m->coupon_valid_days,
    };
    prt_bad bad;
    if (!prt_rules_reward(&p, &bad)) {
        return fail_bad(call, &bad);
    }
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__create_reward_response__descriptor,
                       create_reward_effect, &p, resp);
}

/* --- ListRewards --- */

typedef struct list_rewards_args {
    co_call *call;
    const char *code;
    const char *after;
    int kind;
    const char *partner;
    int limit;
    prt_reward *rows;
    size_t n;
} list_rewards_args;

static co_err list_rewards_tx(co_pg_conn *c, void *ud)
{
    list_rewards_args *la = ud;
    prt_access acc;
    co_err e = authorize(c, la->call, la->code, NEED_READ, &acc);
    if (e != CO_OK) {
        return e;
    }
    return prt_store_reward_list(c, la->code, la->after, la->kind, la->partner, la->limit,
                                 co_call_arena(la->call), &la->rows, &la->n);
}

co_err prt_list_rewards(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                        void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__ListRewardsRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    if (!name_ok(req->program_code)) {
        return fail_field(call, "program_code", NAME_RULE);
    }
    int32_t size;
    co_err e = check_page(call, req->page_size, &size);
    if (e != CO_OK) {
        return e;
    }
    if (req->kind < 0 || req->kind > 3) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"kind\": unknown value %d", (int)req->kind);
    }
    if (req->partner_id[0] != '\0' && !name_ok(req->partner_id)) {
        return fail_field(call, "partner_id", NAME_RULE);
    }
    const char *scope =
        co_arena_printf(a, "rewards:%s:%d:%s", req->program_code, (int)req->kind, req->partner_id);
    const char *after;
    if (scope == NULL) {
        return CO_ERR_NOMEM;
    }
    if ((e = check_token(call, req->page_token, scope, &after)) != CO_OK) {
        return e;
    }
    list_rewards_args la = {.call = call,
                            .code = req->program_code,
                            .after = after,
                            .kind = (int)req->kind,
                            .partner = req->partner_id,
                            .limit = size + 1};
    if ((e = read_tx(st, call, list_rewards_tx, &la)) != CO_OK) {
        return e;
    }
    Coalition__V1__ListRewardsResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__list_rewards_response__init(r);
    size_t n = la.n > (size_t)size ? (size_t)size : la.n;
    if (many_pb(a, la.rows, n, sizeof *la.rows, reward_v, &r->rewards, &r->n_rewards) != CO_OK) {
        return CO_ERR_NOMEM;
    }
    if (la.n > (size_t)size &&
        (r->next_page_token = co_page_token_make(a, scope, la.rows[n - 1].reward_id)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- CreateMembershipPlan --- */

static co_err create_plan_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    const prt_plan *p = ud;
    co_arena *a = co_call_arena(call);
    prt_access acc;
    co_err e = authorize(c, call, p->program_code, NEED_OWNER, &acc);
    if (e != CO_OK) {
        return e;
    }
    if (strcmp(p->currency, acc.currency) != 0) {
        return fail_field(call, "plan.fee.currency", "must be the program's currency");
    }
    prt_plan row;
    if ((e = prt_store_plan_insert(c, p, a, &row)) != CO_OK) {
        return e;
    }
    Coalition__V1__CreateMembershipPlanResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__create_membership_plan_response__init(r);
    if ((r->plan = plan_pb(a, &row)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

co_err prt_create_membership_plan(co_call *call, const ProtobufCMessage *msg,
                                  ProtobufCMessage **resp, void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__CreateMembershipPlanRequest *req = (const void *)msg;
    co_err e = check_mutator(call, req->request_id);
    if (e != CO_OK) {
        return e;
    }
    const Coalition__V1__MembershipPlan *m = req->plan;
    if (m == NULL) {
        return fail_field(call, "plan", "required");
    }
    prt_plan p = {
        .program_code = m->program_code,
        .name = m->name,
        .fee_micros = m->fee != NULL ? m->fee->amount_micros : 0,
        .currency = m->fee != NULL ? m->fee->currency : "",
        .period_months = m->period_months,
        .earn_multiplier_bps = m->earn_multiplier_bps,
        .perks = m->perks,
        .reduced_fee_min_points = m->reduced_fee_min_points,
        .reduced_fee_micros = m->reduced_fee != NULL ? m->reduced_fee->amount_micros : 0,
    };
    prt_bad bad;
    if (!prt_rules_plan(&p, m->fee != NULL, m->reduced_fee != NULL,
                        m->reduced_fee != NULL ? m->reduced_fee->currency : "", &bad)) {
        return fail_bad(call, &bad);
    }
    if (p.reduced_fee_min_points == 0) {
        p.reduced_fee_micros = 0;
    }
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__create_membership_plan_response__descriptor,
                       create_plan_effect, &p, resp);
}

/* --- Directory.GetProgramSnapshot (internal) --- */

typedef struct snapshot_args {
    co_arena *a;
    const char *code;
    int64_t known;
    int64_t now;
    int64_t version;
    prt_program p;
    prt_participation *parts;
    size_t nparts;
    prt_campaign *camps;
    size_t ncamps;
    prt_reward *rewards;
    size_t nrewards;
    prt_plan *plans;
    size_t nplans;
    prt_agreement *agrs;
    size_t nagrs;
} snapshot_args;

static co_err snapshot_tx(co_pg_conn *c, void *ud)
{
    snapshot_args *sa = ud;
    co_err e = prt_store_program_version(c, sa->code, &sa->version);
    if (e != CO_OK || sa->version == sa->known) {
        return e;
    }
    if ((e = prt_store_program_get(c, sa->code, 0, sa->a, &sa->p)) != CO_OK ||
        (e = prt_store_participation_list(c, sa->code, sa->a, &sa->parts, &sa->nparts)) != CO_OK ||
        (e = prt_store_campaign_list(c, sa->code, 0, NULL, -1, sa->now, SNAPSHOT_MAX, sa->a,
                                     &sa->camps, &sa->ncamps)) != CO_OK ||
        (e = prt_store_reward_list(c, sa->code, "", 0, NULL, SNAPSHOT_MAX, sa->a, &sa->rewards,
                                   &sa->nrewards)) != CO_OK ||
        (e = prt_store_plan_list(c, sa->code, sa->a, &sa->plans, &sa->nplans)) != CO_OK) {
        return e;
    }
    return prt_store_agreement_list(c, "", "", NULL, NULL, NULL, sa->code, SNAPSHOT_MAX, sa->a,
                                    &sa->agrs, &sa->nagrs);
}

co_err prt_get_program_snapshot(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                void *ud)
{
    prt_state *st = ud;
    const Coalition__Internal__V1__GetProgramSnapshotRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    if (co_caller_of(call)->role != CO_ROLE_SERVICE) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "internal method");
    }
    if (!name_ok(req->code)) {
        return fail_field(call, "code", NAME_RULE);
    }
    if (req->known_version < 0) {
        return fail_field(call, "known_version", "must be 0 or a version");
    }
    snapshot_args sa = {.a = a, .code = req->code, .known = req->known_version, .now = now_us()};
    co_err e = read_tx(st, call, snapshot_tx, &sa);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "program \"%s\" not found", req->code);
    }
    if (e != CO_OK) {
        return e;
    }
    Coalition__Internal__V1__GetProgramSnapshotResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__internal__v1__get_program_snapshot_response__init(r);
    r->version = sa.version;
    if (sa.version == sa.known) {
        r->unchanged = true;
        *resp = &r->base;
        return CO_OK;
    }
    if ((r->program = program_pb(a, &sa.p)) == NULL ||
        many_pb(a, sa.parts, sa.nparts, sizeof *sa.parts, participation_v, &r->participations,
                &r->n_participations) != CO_OK ||
        many_pb(a, sa.camps, sa.ncamps, sizeof *sa.camps, campaign_v, &r->campaigns,
                &r->n_campaigns) != CO_OK ||
        many_pb(a, sa.rewards, sa.nrewards, sizeof *sa.rewards, reward_v, &r->rewards,
                &r->n_rewards) != CO_OK ||
        many_pb(a, sa.plans, sa.nplans, sizeof *sa.plans, plan_v, &r->membership_plans,
                &r->n_membership_plans) != CO_OK ||
        many_pb(a, sa.agrs, sa.nagrs, sizeof *sa.agrs, agreement_v, &r->agreements,
                &r->n_agreements) != CO_OK) {
        return CO_ERR_NOMEM;
    }
    Coalition__Internal__V1__CampaignSeed **seeds =
        co_arena_calloc(a, sa.ncamps + 1, sizeof *seeds);
    if (seeds == NULL) {
        return CO_ERR_NOMEM;
    }
    size_t ns = 0;
    for (size_t i = 0; i < sa.ncamps; i++) {
        if (sa.camps[i].chance_one_in == 0) {
            continue;
        }
        Coalition__Internal__V1__CampaignSeed *s = co_arena_alloc(a, sizeof *s);
        if (s == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__internal__v1__campaign_seed__init(s);
        s->campaign_id = (char *)sa.camps[i].campaign_id;
        s->seed.data = (uint8_t *)sa.camps[i].chance_seed;
        s->seed.len = 32;
        seeds[ns++] = s;
    }
    r->campaign_seeds = seeds;
    r->n_campaign_seeds = ns;
    *resp = &r->base;
    return CO_OK;
}

/* --- Directory.GetReward (internal) --- */

typedef struct reward_args {
    co_arena *a;
    const char *reward_id;
    prt_reward row;
} reward_args;

static co_err reward_get_tx(co_pg_conn *c, void *ud)
{
    reward_args *ra = ud;
    return prt_store_reward_get(c, ra->reward_id, ra->a, &ra->row);
}

co_err prt_get_reward(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp, void *ud)
{
    prt_state *st = ud;
    const Coalition__Internal__V1__GetRewardRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    if (co_caller_of(call)->role != CO_ROLE_SERVICE) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "internal method");
    }
    size_t n = strlen(req->reward_id);
    if (n < 5 || n > 24 || strncmp(req->reward_id, "rwd-", 4) != 0 ||
        strspn(req->reward_id + 4, "0123456789") != n - 4) {
        return fail_field(call, "reward_id", "must be \"rwd-\" followed by digits");
    }
    reward_args ra = {.a = a, .reward_id = req->reward_id};
    co_err e = read_tx(st, call, reward_get_tx, &ra);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "reward \"%s\" not found", req->reward_id);
    }
    if (e != CO_OK) {
        return e;
    }
    Coalition__Internal__V1__GetRewardResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__internal__v1__get_reward_response__init(r);
    if ((r->reward = reward_pb(a, &ra.row)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- Directory.GetMembershipPlan (internal) --- */

typedef struct plan_args {
    co_arena *a;
    const char *plan_id;
    prt_plan plan;
    prt_access acc;
    int64_t version;
    prt_participation *parts;
    size_t nparts;
} plan_args;

static co_err plan_tx(co_pg_conn *c, void *ud)
{
    plan_args *pa = ud;
    co_err e = prt_store_plan_get(c, pa->plan_id, pa->a, &pa->plan);
    if (e == CO_OK) {
        e = prt_store_access(c, pa->plan.program_code, NULL, pa->a, &pa->acc);
    }
    if (e == CO_OK) {
        e = prt_store_program_version(c, pa->plan.program_code, &pa->version);
    }
    if (e == CO_OK) {
        e = prt_store_participation_list(c, pa->plan.program_code, pa->a, &pa->parts, &pa->nparts);
    }
    return e;
}

co_err prt_get_membership_plan(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                               void *ud)
{
    prt_state *st = ud;
    const Coalition__Internal__V1__GetMembershipPlanRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    if (co_caller_of(call)->role != CO_ROLE_SERVICE) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "internal method");
    }
    if (!prt_rules_plan_id(req->plan_id)) {
        return fail_field(call, "plan_id", "must be \"pln-\" followed by 1-20 digits");
    }
    plan_args pa = {.a = a, .plan_id = req->plan_id};
    co_err e = read_tx(st, call, plan_tx, &pa);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "membership plan \"%s\" not found", req->plan_id);
    }
    if (e != CO_OK) {
        return e;
    }
    Coalition__Internal__V1__GetMembershipPlanResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__internal__v1__get_membership_plan_response__init(r);
    r->program_owner_partner_id = (char *)pa.acc.owner_partner_id;
    r->program_currency = (char *)pa.acc.currency;
    r->program_version = pa.version;
    if ((r->plan = plan_pb(a, &pa.plan)) == NULL ||
        many_pb(a, pa.parts, pa.nparts, sizeof *pa.parts, participation_v, &r->participations,
                &r->n_participations) != CO_OK) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}
