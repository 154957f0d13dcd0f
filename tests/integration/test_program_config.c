/* SPDX-License-Identifier: Apache-2.0 */
/* Program configuration through the gateway: validation, authorization, idempotency, versions,
 * pagination and the internal snapshot, against the real stack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <grpc/grpc.h>
#include <openssl/sha.h>

#include "coalition/internal/v1/directory.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "harness.h"
#include "itest.h"

#define P(m) "/coalition.v1.Partners/" m

#define OK  GRPC_STATUS_OK
#define PD  GRPC_STATUS_PERMISSION_DENIED
#define INV GRPC_STATUS_INVALID_ARGUMENT
#define NF  GRPC_STATUS_NOT_FOUND
#define AE  GRPC_STATUS_ALREADY_EXISTS
#define FP  GRPC_STATUS_FAILED_PRECONDITION

/* Programs of the fixture: bakery owns both; fuelco participates in SHARED only. */
#define SHARED  "bk-shared"
#define PRIVATE "bk-private"

static co_client *fuelco;
static co_client *svc; /* the partners service directly, as the points service */

/* A fresh request id per call. */
static char *rid(co_arena *a)
{
    static int n;
    char *s = co_arena_printf(a, "cfg-%d-%ld", ++n, (long)time(NULL));
    assert_non_null(s);
    return s;
}

static void *zalloc(co_arena *a, size_t n)
{
    void *p = co_arena_calloc(a, 1, n);
    assert_non_null(p);
    return p;
}

static ProtobufCMessage *call(co_client *c, co_arena *a, const char *method,
                              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
                              co_client_status *st)
{
    ProtobufCMessage *resp = NULL;
    it_unary(c, a, method, req, d, NULL, 0, &resp, st);
    return st->code == GRPC_STATUS_OK ? resp : NULL;
}

static Google__Protobuf__Timestamp *ts(co_arena *a, int64_t secs)
{
    Google__Protobuf__Timestamp *t = zalloc(a, sizeof *t);
    google__protobuf__timestamp__init(t);
    t->seconds = secs;
    return t;
}

/* --- builders of valid messages --- */

static Coalition__V1__Program *mk_program(co_arena *a, const char *code, const char *owner)
{
    Coalition__V1__Program *p = zalloc(a, sizeof *p);
    Coalition__V1__EarnRule *er = zalloc(a, sizeof *er);
    Coalition__V1__Rational *r = zalloc(a, sizeof *r);
    Coalition__V1__Tier **tiers = zalloc(a, 2 * sizeof *tiers);
    coalition__v1__program__init(p);
    coalition__v1__earn_rule__init(er);
    coalition__v1__rational__init(r);
    r->num = 1;
    r->den = 1;
    er->points_per_unit = r;
    er->points_per_visit = 1;
    p->code = (char *)code;
    p->name = "Bakery points";
    p->owner_partner_id = (char *)owner;
    p->point_value_micros = 10000;
    p->issue_price_micros = 8000;
    p->expiry_months = 24;
    p->earn_rule = er;
    p->tier_basis = COALITION__V1__TIER_BASIS__TIER_BASIS_QUALIFYING_POINTS;
    const char *codes[2] = {"base", "gold"};
    for (int i = 0; i < 2; i++) {
        tiers[i] = zalloc(a, sizeof **tiers);
        coalition__v1__tier__init(tiers[i]);
        tiers[i]->code = (char *)codes[i];
        tiers[i]->name = i == 0 ? "Base" : "Gold";
        tiers[i]->min_qualifying_points = i * 1000;
        tiers[i]->earn_multiplier_bps = 10000 + i * 5000;
    }
    p->tiers = tiers;
    p->n_tiers = 2;
    p->issuing_mode = COALITION__V1__ISSUING_MODE__ISSUING_MODE_POSTPAID;
    p->time_zone = "Europe/Berlin";
    return p;
}

static Coalition__V1__Campaign *mk_campaign(co_arena *a, const char *code, const char *partner)
{
    Coalition__V1__Campaign *c = zalloc(a, sizeof *c);
    coalition__v1__campaign__init(c);
    int64_t now = (int64_t)time(NULL);
    c->program_code = (char *)code;
    c->name = "Double points";
    c->partner_id = (char *)partner;
    c->start_time = ts(a, now - 3600);
    c->end_time = ts(a, now + 7 * 86400);
    c->multiplier_bps = 20000;
    c->chance_one_in = 10;
    c->chance_bonus_points = 50;
    return c;
}

static Coalition__V1__Reward *mk_reward(co_arena *a, const char *code, const char *partner)
{
    Coalition__V1__Reward *r = zalloc(a, sizeof *r);
    coalition__v1__reward__init(r);
    r->program_code = (char *)code;
    r->kind = COALITION__V1__REWARD_KIND__REWARD_KIND_CATALOG;
    r->name = "Free coffee";
    r->points_cost = 100;
    r->partner_id = (char *)partner;
    r->stock_limited = true;
    r->stock = 10;
    return r;
}

static Coalition__V1__Money *money(co_arena *a, int64_t micros, const char *cur)
{
    Coalition__V1__Money *m = zalloc(a, sizeof *m);
    coalition__v1__money__init(m);
    m->amount_micros = micros;
    m->currency = (char *)cur;
    return m;
}

static Coalition__V1__MembershipPlan *mk_plan(co_arena *a, const char *code)
{
    Coalition__V1__MembershipPlan *p = zalloc(a, sizeof *p);
    coalition__v1__membership_plan__init(p);
    p->program_code = (char *)code;
    p->name = "VIP";
    p->fee = money(a, 9990000, "EUR");
    p->period_months = 12;
    p->earn_multiplier_bps = 12000;
    p->reduced_fee_min_points = 5000;
    p->reduced_fee = money(a, 4990000, "EUR");
    return p;
}

static Coalition__V1__ExchangeAgreement *mk_agreement(co_arena *a, const char *from, const char *to)
{
    Coalition__V1__ExchangeAgreement *g = zalloc(a, sizeof *g);
    Coalition__V1__Rational *r = zalloc(a, sizeof *r);
    coalition__v1__exchange_agreement__init(g);
    coalition__v1__rational__init(r);
    r->num = 1;
    r->den = 2;
    g->from_program_code = (char *)from;
    g->to_program_code = (char *)to;
    g->rate = r;
    g->fee_bps = 250;
    g->min_points = 100;
    g->max_points = 10000;
    g->daily_cap_points = 50000;
    g->enabled = true;
    return g;
}

/* --- typed calls --- */

static Coalition__V1__Program *create_program(co_client *c, co_arena *a, const char *request_id,
                                              Coalition__V1__Program *p, co_client_status *st)
{
    Coalition__V1__CreateProgramRequest req = COALITION__V1__CREATE_PROGRAM_REQUEST__INIT;
    req.request_id = (char *)request_id;
    req.program = p;
    Coalition__V1__CreateProgramResponse *r =
        (void *)call(c, a, P("CreateProgram"), &req.base,
                     &coalition__v1__create_program_response__descriptor, st);
    return r != NULL ? r->program : NULL;
}

static Coalition__V1__Program *update_program(co_client *c, co_arena *a, Coalition__V1__Program *p,
                                              int64_t expected, co_client_status *st)
{
    Coalition__V1__UpdateProgramRequest req = COALITION__V1__UPDATE_PROGRAM_REQUEST__INIT;
    req.request_id = rid(a);
    req.program = p;
    req.expected_version = expected;
    Coalition__V1__UpdateProgramResponse *r =
        (void *)call(c, a, P("UpdateProgram"), &req.base,
                     &coalition__v1__update_program_response__descriptor, st);
    return r != NULL ? r->program : NULL;
}

static Coalition__V1__GetProgramResponse *get_program(co_client *c, co_arena *a, const char *code,
                                                      co_client_status *st)
{
    Coalition__V1__GetProgramRequest req = COALITION__V1__GET_PROGRAM_REQUEST__INIT;
    req.program_code = (char *)code;
    return (void *)call(c, a, P("GetProgram"), &req.base,
                        &coalition__v1__get_program_response__descriptor, st);
}

/* The current version of program code, read as a service. */
static int64_t version_of(co_arena *a, const char *code)
{
    co_client_status st;
    Coalition__V1__GetProgramResponse *r = get_program(svc, a, code, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    return r->program->version;
}

static Coalition__V1__Participation *set_participation(co_client *c, co_arena *a, const char *code,
                                                       const char *partner, bool issue, bool redeem,
                                                       co_client_status *st)
{
    Coalition__V1__SetParticipationRequest req = COALITION__V1__SET_PARTICIPATION_REQUEST__INIT;
    req.request_id = rid(a);
    req.program_code = (char *)code;
    req.partner_id = (char *)partner;
    req.can_issue = issue;
    req.can_redeem = redeem;
    Coalition__V1__SetParticipationResponse *r =
        (void *)call(c, a, P("SetParticipation"), &req.base,
                     &coalition__v1__set_participation_response__descriptor, st);
    return r != NULL ? r->participation : NULL;
}

static Coalition__V1__Campaign *create_campaign(co_client *c, co_arena *a,
                                                Coalition__V1__Campaign *m, co_client_status *st)
{
    Coalition__V1__CreateCampaignRequest req = COALITION__V1__CREATE_CAMPAIGN_REQUEST__INIT;
    req.request_id = rid(a);
    req.campaign = m;
    Coalition__V1__CreateCampaignResponse *r =
        (void *)call(c, a, P("CreateCampaign"), &req.base,
                     &coalition__v1__create_campaign_response__descriptor, st);
    return r != NULL ? r->campaign : NULL;
}

static Coalition__V1__Reward *create_reward(co_client *c, co_arena *a, Coalition__V1__Reward *m,
                                            co_client_status *st)
{
    Coalition__V1__CreateRewardRequest req = COALITION__V1__CREATE_REWARD_REQUEST__INIT;
    req.request_id = rid(a);
    req.reward = m;
    Coalition__V1__CreateRewardResponse *r = (void *)call(
        c, a, P("CreateReward"), &req.base, &coalition__v1__create_reward_response__descriptor, st);
    return r != NULL ? r->reward : NULL;
}

static Coalition__V1__MembershipPlan *
create_plan(co_client *c, co_arena *a, Coalition__V1__MembershipPlan *m, co_client_status *st)
{
    Coalition__V1__CreateMembershipPlanRequest req =
        COALITION__V1__CREATE_MEMBERSHIP_PLAN_REQUEST__INIT;
    req.request_id = rid(a);
    req.plan = m;
    Coalition__V1__CreateMembershipPlanResponse *r =
        (void *)call(c, a, P("CreateMembershipPlan"), &req.base,
                     &coalition__v1__create_membership_plan_response__descriptor, st);
    return r != NULL ? r->plan : NULL;
}

static Coalition__V1__ExchangeAgreement *
set_agreement(co_client *c, co_arena *a, Coalition__V1__ExchangeAgreement *m, co_client_status *st)
{
    Coalition__V1__SetExchangeAgreementRequest req =
        COALITION__V1__SET_EXCHANGE_AGREEMENT_REQUEST__INIT;
    req.request_id = rid(a);
    req.agreement = m;
    Coalition__V1__SetExchangeAgreementResponse *r =
        (void *)call(c, a, P("SetExchangeAgreement"), &req.base,
                     &coalition__v1__set_exchange_agreement_response__descriptor, st);
    return r != NULL ? r->agreement : NULL;
}

static Coalition__V1__CommissionPolicy *
set_policy(co_client *c, co_arena *a, Coalition__V1__CommissionPolicy *m, co_client_status *st)
{
    Coalition__V1__SetCommissionPolicyRequest req =
        COALITION__V1__SET_COMMISSION_POLICY_REQUEST__INIT;
    req.request_id = rid(a);
    req.policy = m;
    Coalition__V1__SetCommissionPolicyResponse *r =
        (void *)call(c, a, P("SetCommissionPolicy"), &req.base,
                     &coalition__v1__set_commission_policy_response__descriptor, st);
    return r != NULL ? r->policy : NULL;
}

static Coalition__Internal__V1__GetProgramSnapshotResponse *
snapshot(co_client *c, co_arena *a, const char *code, int64_t known, co_client_status *st)
{
    Coalition__Internal__V1__GetProgramSnapshotRequest req =
        COALITION__INTERNAL__V1__GET_PROGRAM_SNAPSHOT_REQUEST__INIT;
    req.code = (char *)code;
    req.known_version = known;
    return (void *)call(c, a, "/coalition.internal.v1.Directory/GetProgramSnapshot", &req.base,
                        &coalition__internal__v1__get_program_snapshot_response__descriptor, st);
}

/* --- tests --- */

static void test_create_program_normalizes_defaults_and_starts_at_version_1(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Program *in = mk_program(&a, "bk-defaults", "bakery");
    in->time_zone = "";
    in->earn_rule = NULL;
    in->n_tiers = 0;
    in->tier_basis = 0;
    Coalition__V1__Program *p = create_program(f->admin, &a, rid(&a), in, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(p->version, 1);
    assert_string_equal(p->currency, "EUR");
    assert_string_equal(p->time_zone, "UTC");
    assert_int_equal(p->qualifying_window_days, 365);
    assert_int_equal(p->earn_rule->points_per_unit->num, 0);
    assert_int_equal(p->earn_rule->points_per_unit->den, 1);
    assert_non_null(p->create_time);
    /* A code already taken is ALREADY_EXISTS. */
    assert_null(create_program(f->admin, &a, rid(&a), in, &st));
    IT_EXPECT_STATUS(st, AE, "bk-defaults");
    /* The owner must exist. */
    assert_null(create_program(f->admin, &a, rid(&a), mk_program(&a, "ghost-prog", "ghost"), &st));
    IT_EXPECT_STATUS(st, NF, "ghost");
    /* The currency must be the owner's. */
    in = mk_program(&a, "bk-usd", "bakery");
    in->currency = "USD";
    assert_null(create_program(f->admin, &a, rid(&a), in, &st));
    IT_EXPECT_STATUS(st, INV, "program.currency");
    /* An unknown zone. */
    in = mk_program(&a, "bk-zone", "bakery");
    in->time_zone = "Mars/Olympus_Mons";
    assert_null(create_program(f->admin, &a, rid(&a), in, &st));
    IT_EXPECT_STATUS(st, INV, "program.time_zone");
    co_arena_release(&a);
}

/* Breaks field i of a valid program; returns the field the error must name, NULL past the end. */
static const char *break_program(co_arena *a, Coalition__V1__Program *p, int i)
{
    switch (i) {
    case 0:
        p->code = "Bad_Code";
        return "program.code";
    case 1:
        p->name = "";
        return "program.name";
    case 2:
        p->currency = "XXY";
        return "program.currency";
    case 3:
        p->point_value_micros = 0;
        return "program.point_value_micros";
    case 4:
        p->issue_price_micros = -1;
        return "program.issue_price_micros";
    case 5:
        p->expiry_months = 121;
        return "program.expiry_months";
    case 6:
        p->earn_rule->points_per_unit->num = 1000001;
        return "points_per_unit.num";
    case 7:
        p->earn_rule->points_per_unit->den = 0;
        return "points_per_unit.den";
    case 8:
        p->earn_rule->min_spend_micros = -1;
        return "earn_rule.min_spend_micros";
    case 9:
        p->earn_rule->points_per_visit = 1000001;
        return "earn_rule.points_per_visit";
    case 10:
        p->tier_basis = 0;
        return "program.tier_basis";
    case 11:
        p->tiers[0]->min_qualifying_points = 5;
        return "tiers[0].min_qualifying_points";
    case 12:
        p->tiers[1]->min_qualifying_points = 0;
        return "tiers[1].min_qualifying_points";
    case 13:
        p->tiers[1]->code = "base";
        return "tiers[1].code";
    case 14:
        p->tiers[1]->earn_multiplier_bps = 9999;
        return "tiers[1].earn_multiplier_bps";
    case 15:
        p->tiers[0]->min_spend_micros = 1;
        return "tiers[0].min_spend_micros";
    case 16:
        p->tiers[1]->name = "";
        return "tiers[1].name";
    case 17:
        p->qualifying_window_days = 3651;
        return "program.qualifying_window_days";
    case 18:
        p->welcome_bonus_points = -1;
        return "program.welcome_bonus_points";
    case 19:
        p->birthday_bonus_points = 1000000001;
        return "program.birthday_bonus_points";
    case 20:
        p->issuing_mode = 0;
        return "program.issuing_mode";
    case 21:
        p->time_zone = "../etc/passwd";
        return "program.time_zone";
    case 22:
        p->tier_basis = 7;
        return "program.tier_basis";
    case 23: {
        Coalition__V1__Tier **many = zalloc(a, 11 * sizeof *many);
        for (int k = 0; k < 11; k++) {
            many[k] = p->tiers[0];
        }
        p->tiers = many;
        p->n_tiers = 11;
        return "program.tiers";
    }
    default:
        return NULL;
    }
}

static void test_create_and_update_program_field_validation_table(void **state)
{
    it_fx *f = *state;
    for (int i = 0;; i++) {
        co_arena a;
        co_arena_init(&a, 0);
        co_client_status st;
        Coalition__V1__Program *p = mk_program(&a, "bk-valid", "bakery");
        const char *field = break_program(&a, p, i);
        if (field == NULL) {
            co_arena_release(&a);
            break;
        }
        assert_null(create_program(f->admin, &a, rid(&a), p, &st));
        IT_EXPECT_STATUS(st, INV, field);
        p->code = i == 0 ? p->code : SHARED;
        assert_null(update_program(f->bakery, &a, p, 1, &st));
        IT_EXPECT_STATUS(st, INV, field);
        co_arena_release(&a);
    }
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    /* Missing messages and bad request ids. */
    assert_null(create_program(f->admin, &a, rid(&a), NULL, &st));
    IT_EXPECT_STATUS(st, INV, "program");
    assert_null(create_program(f->admin, &a, "", mk_program(&a, "bk-x", "bakery"), &st));
    IT_EXPECT_STATUS(st, INV, "request_id");
    assert_null(update_program(f->bakery, &a, mk_program(&a, SHARED, "bakery"), 0, &st));
    IT_EXPECT_STATUS(st, INV, "expected_version");
    assert_int_equal(
        it_db_count(f->s, "SELECT count(*) FROM partners.programs WHERE code = $1", "bk-valid"), 0);
    co_arena_release(&a);
}

static void test_update_program_versions_immutables_and_admin_only_prices(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    int64_t v = version_of(&a, SHARED);
    Coalition__V1__Program *p = mk_program(&a, SHARED, "");
    p->name = "Renamed";
    Coalition__V1__Program *out = update_program(f->bakery, &a, p, v, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(out->version, v + 1);
    assert_string_equal(out->name, "Renamed");
    assert_string_equal(out->owner_partner_id, "bakery");
    /* A stale version. */
    assert_null(update_program(f->bakery, &a, p, v, &st));
    IT_EXPECT_STATUS(st, FP, "version");
    /* Prices are the admin's. */
    p->point_value_micros = 20000;
    assert_null(update_program(f->bakery, &a, p, v + 1, &st));
    IT_EXPECT_STATUS(st, PD, "program.point_value_micros");
    p->point_value_micros = 10000;
    p->issuing_mode = COALITION__V1__ISSUING_MODE__ISSUING_MODE_PREPAID;
    assert_null(update_program(f->bakery, &a, p, v + 1, &st));
    IT_EXPECT_STATUS(st, PD, "program.issuing_mode");
    p->issuing_mode = COALITION__V1__ISSUING_MODE__ISSUING_MODE_POSTPAID;
    p->issue_price_micros = 1;
    assert_null(update_program(f->bakery, &a, p, v + 1, &st));
    IT_EXPECT_STATUS(st, PD, "program.issue_price_micros");
    out = update_program(f->admin, &a, p, v + 1, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(out->issue_price_micros, 1);
    assert_int_equal(out->version, v + 2);
    /* Immutable fields. */
    p->owner_partner_id = "fuelco";
    assert_null(update_program(f->admin, &a, p, v + 2, &st));
    IT_EXPECT_STATUS(st, INV, "program.owner_partner_id");
    p->owner_partner_id = "";
    p->currency = "USD";
    assert_null(update_program(f->admin, &a, p, v + 2, &st));
    IT_EXPECT_STATUS(st, INV, "program.currency");
    /* Unknown programs: NOT_FOUND for the admin, PERMISSION_DENIED for a partner. */
    p->currency = "";
    p->code = "no-such-prog";
    assert_null(update_program(f->admin, &a, p, 1, &st));
    IT_EXPECT_STATUS(st, NF, "no-such-prog");
    assert_null(update_program(f->bakery, &a, p, 1, &st));
    IT_EXPECT_STATUS(st, PD, NULL);
    co_arena_release(&a);
}

/* One configuration call by caller c on the fixture's programs; returns its status. */
typedef enum op {
    OP_CREATE_PROGRAM,
    OP_UPDATE_SHARED,
    OP_UPDATE_PRIVATE,
    OP_GET_SHARED,
    OP_GET_PRIVATE,
    OP_LIST_PROGRAMS,
    OP_SET_PARTICIPATION,
    OP_CAMPAIGN_SHARED_ANY,
    OP_CAMPAIGN_SHARED_FUELCO,
    OP_CAMPAIGN_PRIVATE,
    OP_LIST_CAMPAIGNS_SHARED,
    OP_LIST_CAMPAIGNS_PRIVATE,
    OP_SET_AGREEMENT,
    OP_LIST_AGREEMENTS,
    OP_SET_POLICY,
    OP_REWARD_SHARED_FUELCO,
    OP_REWARD_SHARED_BAKERY,
    OP_REWARD_PRIVATE,
    OP_LIST_REWARDS_SHARED,
    OP_LIST_REWARDS_PRIVATE,
    OP_PLAN_SHARED,
    OP_PLAN_PRIVATE,
    OP_COUNT
} op;

static grpc_status_code run_op(co_client *c, op o)
{
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st = it_no_status();
    static int n;
    char code[32];
    snprintf(code, sizeof code, "mx-%d", ++n);
    switch (o) {
    case OP_CREATE_PROGRAM:
        create_program(c, &a, rid(&a), mk_program(&a, code, "bakery"), &st);
        break;
    case OP_UPDATE_SHARED:
    case OP_UPDATE_PRIVATE: {
        const char *pc = o == OP_UPDATE_SHARED ? SHARED : PRIVATE;
        co_client_status s0;
        Coalition__V1__GetProgramResponse *g = get_program(svc, &a, pc, &s0);
        IT_EXPECT_STATUS(s0, OK, NULL);
        Coalition__V1__Program *p = g->program;
        p->name = "Matrix";
        update_program(c, &a, p, p->version, &st);
        break;
    }
    case OP_GET_SHARED:
        get_program(c, &a, SHARED, &st);
        break;
    case OP_GET_PRIVATE:
        get_program(c, &a, PRIVATE, &st);
        break;
    case OP_LIST_PROGRAMS: {
        Coalition__V1__ListProgramsRequest req = COALITION__V1__LIST_PROGRAMS_REQUEST__INIT;
        call(c, &a, P("ListPrograms"), &req.base,
             &coalition__v1__list_programs_response__descriptor, &st);
        break;
    }
    case OP_SET_PARTICIPATION:
        set_participation(c, &a, SHARED, "fuelco", true, true, &st);
        break;
    case OP_CAMPAIGN_SHARED_ANY:
        create_campaign(c, &a, mk_campaign(&a, SHARED, ""), &st);
        break;
    case OP_CAMPAIGN_SHARED_FUELCO:
        create_campaign(c, &a, mk_campaign(&a, SHARED, "fuelco"), &st);
        break;
    case OP_CAMPAIGN_PRIVATE:
        create_campaign(c, &a, mk_campaign(&a, PRIVATE, ""), &st);
        break;
    case OP_LIST_CAMPAIGNS_SHARED:
    case OP_LIST_CAMPAIGNS_PRIVATE: {
        Coalition__V1__ListCampaignsRequest req = COALITION__V1__LIST_CAMPAIGNS_REQUEST__INIT;
        req.program_code = o == OP_LIST_CAMPAIGNS_SHARED ? SHARED : PRIVATE;
        call(c, &a, P("ListCampaigns"), &req.base,
             &coalition__v1__list_campaigns_response__descriptor, &st);
        break;
    }
    case OP_SET_AGREEMENT:
        set_agreement(c, &a, mk_agreement(&a, SHARED, PRIVATE), &st);
        break;
    case OP_LIST_AGREEMENTS: {
        Coalition__V1__ListExchangeAgreementsRequest req =
            COALITION__V1__LIST_EXCHANGE_AGREEMENTS_REQUEST__INIT;
        call(c, &a, P("ListExchangeAgreements"), &req.base,
             &coalition__v1__list_exchange_agreements_response__descriptor, &st);
        break;
    }
    case OP_SET_POLICY: {
        Coalition__V1__CommissionPolicy pol = COALITION__V1__COMMISSION_POLICY__INIT;
        pol.operator_fee_bps = 100;
        set_policy(c, &a, &pol, &st);
        break;
    }
    case OP_REWARD_SHARED_FUELCO:
        create_reward(c, &a, mk_reward(&a, SHARED, "fuelco"), &st);
        break;
    case OP_REWARD_SHARED_BAKERY:
        create_reward(c, &a, mk_reward(&a, SHARED, "bakery"), &st);
        break;
    case OP_REWARD_PRIVATE:
        create_reward(c, &a, mk_reward(&a, PRIVATE, "bakery"), &st);
        break;
    case OP_LIST_REWARDS_SHARED:
    case OP_LIST_REWARDS_PRIVATE: {
        Coalition__V1__ListRewardsRequest req = COALITION__V1__LIST_REWARDS_REQUEST__INIT;
        req.program_code = o == OP_LIST_REWARDS_SHARED ? SHARED : PRIVATE;
        call(c, &a, P("ListRewards"), &req.base, &coalition__v1__list_rewards_response__descriptor,
             &st);
        break;
    }
    case OP_PLAN_SHARED:
        create_plan(c, &a, mk_plan(&a, SHARED), &st);
        break;
    case OP_PLAN_PRIVATE:
        create_plan(c, &a, mk_plan(&a, PRIVATE), &st);
        break;
    default:
        fail();
    }
    grpc_status_code code_out = st.code;
    if (code_out != OK && code_out != PD) {
        print_message("op %d: %s: %s\n", (int)o, co_grpc_status_name(st.code), st.details);
    }
    co_arena_release(&a);
    return code_out;
}

static void test_authorization_matrix_admin_owner_participant_other(void **state)
{
    it_fx *f = *state;
    /* Columns: admin, owner (bakery), participant (fuelco on SHARED) or other partner (fuelco
     * on PRIVATE), as the op says. */
    static const struct {
        op o;
        grpc_status_code admin, owner, fuelco;
    } rows[] = {
        {OP_CREATE_PROGRAM, OK, PD, PD},
        {OP_UPDATE_SHARED, OK, OK, PD},
        {OP_UPDATE_PRIVATE, OK, OK, PD},
        {OP_GET_SHARED, OK, OK, OK},
        {OP_GET_PRIVATE, OK, OK, PD},
        {OP_LIST_PROGRAMS, OK, OK, OK},
        {OP_SET_PARTICIPATION, OK, PD, PD},
        {OP_CAMPAIGN_SHARED_ANY, OK, OK, PD},
        {OP_CAMPAIGN_SHARED_FUELCO, OK, PD, OK},
        {OP_CAMPAIGN_PRIVATE, OK, OK, PD},
        {OP_LIST_CAMPAIGNS_SHARED, OK, OK, OK},
        {OP_LIST_CAMPAIGNS_PRIVATE, OK, OK, PD},
        {OP_SET_AGREEMENT, OK, PD, PD},
        {OP_LIST_AGREEMENTS, OK, OK, OK},
        {OP_SET_POLICY, OK, PD, PD},
        {OP_REWARD_SHARED_FUELCO, OK, OK, OK},
        {OP_REWARD_SHARED_BAKERY, OK, OK, PD},
        {OP_REWARD_PRIVATE, OK, OK, PD},
        {OP_LIST_REWARDS_SHARED, OK, OK, OK},
        {OP_LIST_REWARDS_PRIVATE, OK, OK, PD},
        {OP_PLAN_SHARED, OK, OK, PD},
        {OP_PLAN_PRIVATE, OK, OK, PD},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        grpc_status_code got[3] = {run_op(f->admin, rows[i].o), run_op(f->bakery, rows[i].o),
                                   run_op(fuelco, rows[i].o)};
        grpc_status_code want[3] = {rows[i].admin, rows[i].owner, rows[i].fuelco};
        for (int k = 0; k < 3; k++) {
            if (got[k] != want[k]) {
                fail_msg("op %d caller %d: expected %s, got %s", (int)rows[i].o, k,
                         co_grpc_status_name(want[k]), co_grpc_status_name(got[k]));
            }
        }
    }
    /* Services read but never configure. */
    assert_int_equal(run_op(svc, OP_GET_PRIVATE), OK);
    assert_int_equal(run_op(svc, OP_LIST_REWARDS_PRIVATE), OK);
    assert_int_equal(run_op(svc, OP_PLAN_SHARED), PD);
    /* A partner lists only what it owns or participates in. */
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__ListProgramsRequest req = COALITION__V1__LIST_PROGRAMS_REQUEST__INIT;
    req.page_size = 500;
    Coalition__V1__ListProgramsResponse *r =
        (void *)call(fuelco, &a, P("ListPrograms"), &req.base,
                     &coalition__v1__list_programs_response__descriptor, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    bool shared = false;
    for (size_t i = 0; i < r->n_programs; i++) {
        assert_string_not_equal(r->programs[i]->code, PRIVATE);
        shared = shared || strcmp(r->programs[i]->code, SHARED) == 0;
    }
    assert_true(shared);
    Coalition__V1__ListExchangeAgreementsRequest lr =
        COALITION__V1__LIST_EXCHANGE_AGREEMENTS_REQUEST__INIT;
    lr.from_program_code = PRIVATE;
    Coalition__V1__ListExchangeAgreementsResponse *lg =
        (void *)call(fuelco, &a, P("ListExchangeAgreements"), &lr.base,
                     &coalition__v1__list_exchange_agreements_response__descriptor, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(lg->n_agreements, 0);
    co_arena_release(&a);
}

static void test_config_field_validation_tables(void **state)
{
    it_fx *f = *state;
    for (int i = 0;; i++) {
        co_arena a;
        co_arena_init(&a, 0);
        co_client_status st;
        Coalition__V1__Campaign *c = mk_campaign(&a, SHARED, "");
        Coalition__V1__Reward *r = mk_reward(&a, SHARED, "bakery");
        Coalition__V1__MembershipPlan *p = mk_plan(&a, SHARED);
        Coalition__V1__ExchangeAgreement *g = mk_agreement(&a, SHARED, PRIVATE);
        Coalition__V1__CommissionPolicy pol = COALITION__V1__COMMISSION_POLICY__INIT;
        const char *field = NULL;
        int which = 0; /* 1 campaign 2 reward 3 plan 4 agreement 5 policy */
        int64_t now = (int64_t)time(NULL);
        switch (i) {
        case 0:
            which = 1, c->program_code = "", field = "campaign.program_code";
            break;
        case 1:
            which = 1, c->name = "", field = "campaign.name";
            break;
        case 2:
            which = 1, c->partner_id = "Bad Id", field = "campaign.partner_id";
            break;
        case 3:
            which = 1, c->start_time = NULL, field = "campaign.start_time";
            break;
        case 4:
            which = 1, c->end_time = NULL, field = "campaign.end_time";
            break;
        case 5:
            which = 1, c->end_time->seconds = now - 7200, field = "campaign.end_time";
            break;
        case 6:
            which = 1, c->end_time->seconds = now + 400 * 86400, field = "campaign.end_time";
            break;
        case 7:
            which = 1, c->start_time->seconds = now - 7200, c->end_time->seconds = now - 3600,
            field = "campaign.end_time";
            break;
        case 8:
            which = 1, c->days_of_week_mask = 128, field = "campaign.days_of_week_mask";
            break;
        case 9:
            which = 1, c->min_spend_micros = -1, field = "campaign.min_spend_micros";
            break;
        case 10:
            which = 1, c->multiplier_bps = 5000, field = "campaign.multiplier_bps";
            break;
        case 11:
            which = 1, c->bonus_points = -5, field = "campaign.bonus_points";
            break;
        case 12:
            which = 1, c->chance_one_in = 1, field = "campaign.chance_one_in";
            break;
        case 13:
            which = 1, c->chance_bonus_points = 0, field = "campaign.chance_bonus_points";
            break;
        case 14:
            which = 1, c->start_time->nanos = -1, field = "campaign.start_time";
            break;
        case 15:
            which = 2, r->program_code = "", field = "reward.program_code";
            break;
        case 16:
            which = 2, r->kind = 0, field = "reward.kind";
            break;
        case 17:
            which = 2, r->name = "", field = "reward.name";
            break;
        case 18:
            which = 2, r->points_cost = 0, field = "reward.points_cost";
            break;
        case 19:
            which = 2, r->stock_limited = false, field = "reward.stock";
            break;
        case 20:
            which = 2, r->stock = -1, field = "reward.stock";
            break;
        case 21:
            which = 2, r->coupon_valid_days = 5, field = "reward.coupon_valid_days";
            break;
        case 22:
            which = 2, r->kind = COALITION__V1__REWARD_KIND__REWARD_KIND_DONATION,
            field = "reward.charity_partner_id";
            break;
        case 23:
            which = 2, r->charity_partner_id = "fuelco", field = "reward.charity_partner_id";
            break;
        case 24:
            which = 2, r->kind = COALITION__V1__REWARD_KIND__REWARD_KIND_COUPON,
            r->coupon_valid_days = 3651, field = "reward.coupon_valid_days";
            break;
        case 25:
            which = 2, r->partner_id = "BAD", field = "reward.partner_id";
            break;
        case 26:
            which = 3, p->program_code = "", field = "plan.program_code";
            break;
        case 27:
            which = 3, p->name = "", field = "plan.name";
            break;
        case 28:
            which = 3, p->fee = NULL, field = "plan.fee";
            break;
        case 29:
            which = 3, p->fee->amount_micros = -1, field = "plan.fee.amount_micros";
            break;
        case 30:
            which = 3, p->fee->currency = "eur", field = "plan.fee.currency";
            break;
        case 31:
            which = 3, p->period_months = 37, field = "plan.period_months";
            break;
        case 32:
            which = 3, p->earn_multiplier_bps = 0, field = "plan.earn_multiplier_bps";
            break;
        case 33:
            which = 3, p->reduced_fee = NULL, field = "plan.reduced_fee";
            break;
        case 34:
            which = 3, p->reduced_fee->amount_micros = 9990000,
            field = "plan.reduced_fee.amount_micros";
            break;
        case 35:
            which = 3, p->reduced_fee->currency = "USD", field = "plan.reduced_fee.currency";
            break;
        case 36:
            which = 3, p->reduced_fee_min_points = -1, field = "plan.reduced_fee_min_points";
            break;
        case 37:
            which = 4, g->from_program_code = "", field = "agreement.from_program_code";
            break;
        case 38:
            which = 4, g->to_program_code = SHARED, field = "agreement.to_program_code";
            break;
        case 39:
            which = 4, g->rate = NULL, field = "agreement.rate";
            break;
        case 40:
            which = 4, g->rate->num = 0, field = "agreement.rate.num";
            break;
        case 41:
            which = 4, g->rate->den = 1000001, field = "agreement.rate.den";
            break;
        case 42:
            which = 4, g->fee_bps = 10001, field = "agreement.fee_bps";
            break;
        case 43:
            which = 4, g->min_points = 0, field = "agreement.min_points";
            break;
        case 44:
            which = 4, g->max_points = 50, field = "agreement.max_points";
            break;
        case 45:
            which = 4, g->daily_cap_points = -1, field = "agreement.daily_cap_points";
            break;
        case 46:
            which = 5, pol.operator_fee_bps = 10001, field = "policy.operator_fee_bps";
            break;
        case 47:
            which = 5, pol.referral_commission_bps = -1, field = "policy.referral_commission_bps";
            break;
        case 48:
            which = 5, pol.referral_commission_months = 121,
            field = "policy.referral_commission_months";
            break;
        case 49:
            which = 5, pol.partner_id = "Nope!", field = "policy.partner_id";
            break;
        default:
            break;
        }
        if (field == NULL) {
            co_arena_release(&a);
            break;
        }
        switch (which) {
        case 1:
            assert_null(create_campaign(f->admin, &a, c, &st));
            break;
        case 2:
            assert_null(create_reward(f->admin, &a, r, &st));
            break;
        case 3:
            assert_null(create_plan(f->admin, &a, p, &st));
            break;
        case 4:
            assert_null(set_agreement(f->admin, &a, g, &st));
            break;
        default:
            assert_null(set_policy(f->admin, &a, &pol, &st));
            break;
        }
        IT_EXPECT_STATUS(st, INV, field);
        co_arena_release(&a);
    }
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    /* Missing bodies and bad keys of the remaining methods. */
    assert_null(create_campaign(f->admin, &a, NULL, &st));
    IT_EXPECT_STATUS(st, INV, "campaign");
    assert_null(create_reward(f->admin, &a, NULL, &st));
    IT_EXPECT_STATUS(st, INV, "reward");
    assert_null(create_plan(f->admin, &a, NULL, &st));
    IT_EXPECT_STATUS(st, INV, "plan");
    assert_null(set_agreement(f->admin, &a, NULL, &st));
    IT_EXPECT_STATUS(st, INV, "agreement");
    assert_null(set_policy(f->admin, &a, NULL, &st));
    IT_EXPECT_STATUS(st, INV, "policy");
    assert_null(set_participation(f->admin, &a, "", "fuelco", true, true, &st));
    IT_EXPECT_STATUS(st, INV, "program_code");
    assert_null(set_participation(f->admin, &a, SHARED, "Bad", true, true, &st));
    IT_EXPECT_STATUS(st, INV, "partner_id");
    assert_null(set_participation(f->admin, &a, SHARED, "bakery", true, true, &st));
    IT_EXPECT_STATUS(st, INV, "partner_id");
    assert_null(get_program(f->admin, &a, "", &st));
    IT_EXPECT_STATUS(st, INV, "program_code");
    Coalition__V1__ListProgramsRequest lp = COALITION__V1__LIST_PROGRAMS_REQUEST__INIT;
    lp.page_size = 501;
    call(f->admin, &a, P("ListPrograms"), &lp.base,
         &coalition__v1__list_programs_response__descriptor, &st);
    IT_EXPECT_STATUS(st, INV, "page_size");
    lp.page_size = 0;
    lp.owner_partner_id = "X";
    call(f->admin, &a, P("ListPrograms"), &lp.base,
         &coalition__v1__list_programs_response__descriptor, &st);
    IT_EXPECT_STATUS(st, INV, "owner_partner_id");
    Coalition__V1__ListCampaignsRequest lc = COALITION__V1__LIST_CAMPAIGNS_REQUEST__INIT;
    call(f->admin, &a, P("ListCampaigns"), &lc.base,
         &coalition__v1__list_campaigns_response__descriptor, &st);
    IT_EXPECT_STATUS(st, INV, "program_code");
    lc.program_code = SHARED;
    lc.page_token = "zz";
    call(f->admin, &a, P("ListCampaigns"), &lc.base,
         &coalition__v1__list_campaigns_response__descriptor, &st);
    IT_EXPECT_STATUS(st, INV, "page_token");
    Coalition__V1__ListRewardsRequest lw = COALITION__V1__LIST_REWARDS_REQUEST__INIT;
    lw.program_code = SHARED;
    lw.kind = 9;
    call(f->admin, &a, P("ListRewards"), &lw.base,
         &coalition__v1__list_rewards_response__descriptor, &st);
    IT_EXPECT_STATUS(st, INV, "kind");
    Coalition__V1__ListExchangeAgreementsRequest le =
        COALITION__V1__LIST_EXCHANGE_AGREEMENTS_REQUEST__INIT;
    le.to_program_code = "Bad";
    call(f->admin, &a, P("ListExchangeAgreements"), &le.base,
         &coalition__v1__list_exchange_agreements_response__descriptor, &st);
    IT_EXPECT_STATUS(st, INV, "to_program_code");
    co_arena_release(&a);
}

static void test_mutations_are_idempotent_by_request_id(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Program *in = mk_program(&a, "bk-idem", "bakery");
    Coalition__V1__Program *p1 = create_program(f->admin, &a, "idem-prog", in, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    Coalition__V1__Program *p2 = create_program(f->admin, &a, "idem-prog", in, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    size_t l1, l2;
    uint8_t *b1 = it_pack(&a, &p1->base, &l1);
    uint8_t *b2 = it_pack(&a, &p2->base, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    in->name = "Other";
    assert_null(create_program(f->admin, &a, "idem-prog", in, &st));
    IT_EXPECT_STATUS(st, AE, NULL);
    /* A campaign replayed keeps its id and seed hash and creates one row. */
    Coalition__V1__CreateCampaignRequest req = COALITION__V1__CREATE_CAMPAIGN_REQUEST__INIT;
    req.request_id = "idem-camp";
    req.campaign = mk_campaign(&a, "bk-idem", "");
    Coalition__V1__CreateCampaignResponse *c1 =
        (void *)call(f->bakery, &a, P("CreateCampaign"), &req.base,
                     &coalition__v1__create_campaign_response__descriptor, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    Coalition__V1__CreateCampaignResponse *c2 =
        (void *)call(f->bakery, &a, P("CreateCampaign"), &req.base,
                     &coalition__v1__create_campaign_response__descriptor, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_string_equal(c1->campaign->campaign_id, c2->campaign->campaign_id);
    assert_string_equal(c1->campaign->chance_seed_sha256, c2->campaign->chance_seed_sha256);
    assert_int_equal(strlen(c1->campaign->chance_seed_sha256), 64);
    req.campaign->name = "Triple";
    call(f->bakery, &a, P("CreateCampaign"), &req.base,
         &coalition__v1__create_campaign_response__descriptor, &st);
    IT_EXPECT_STATUS(st, AE, NULL);
    assert_int_equal(it_db_count(f->s,
                                 "SELECT count(*) FROM partners.campaigns WHERE program_code = $1",
                                 "bk-idem"),
                     1);
    /* A recorded refusal replays as such. */
    Coalition__V1__SetParticipationRequest sp = COALITION__V1__SET_PARTICIPATION_REQUEST__INIT;
    sp.request_id = "idem-part";
    sp.program_code = "bk-idem";
    sp.partner_id = "ghost";
    sp.can_issue = true;
    for (int k = 0; k < 2; k++) {
        call(f->admin, &a, P("SetParticipation"), &sp.base,
             &coalition__v1__set_participation_response__descriptor, &st);
        IT_EXPECT_STATUS(st, NF, "ghost");
    }
    co_arena_release(&a);
}

static void test_version_bumps_and_snapshot_unchanged_or_changed(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Program *p =
        create_program(f->admin, &a, rid(&a), mk_program(&a, "bk-snap", "bakery"), &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(p->version, 1);
    Coalition__Internal__V1__GetProgramSnapshotResponse *s = snapshot(svc, &a, "bk-snap", 0, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_false(s->unchanged);
    assert_int_equal(s->version, 1);
    assert_string_equal(s->program->code, "bk-snap");
    assert_int_equal(s->program->n_tiers, 2);
    s = snapshot(svc, &a, "bk-snap", 1, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_true(s->unchanged);
    assert_null(s->program);
    /* Every kind of change bumps the version by one. */
    int64_t v = 1;
    set_participation(f->admin, &a, "bk-snap", "fuelco", true, false, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(version_of(&a, "bk-snap"), ++v);
    Coalition__V1__Campaign *c =
        create_campaign(f->bakery, &a, mk_campaign(&a, "bk-snap", ""), &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(version_of(&a, "bk-snap"), ++v);
    create_reward(f->bakery, &a, mk_reward(&a, "bk-snap", "bakery"), &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(version_of(&a, "bk-snap"), ++v);
    create_plan(f->bakery, &a, mk_plan(&a, "bk-snap"), &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(version_of(&a, "bk-snap"), ++v);
    int64_t sv = version_of(&a, SHARED);
    set_agreement(f->admin, &a, mk_agreement(&a, "bk-snap", SHARED), &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(version_of(&a, "bk-snap"), ++v);
    assert_int_equal(version_of(&a, SHARED), sv + 1);
    Coalition__V1__Program *up = mk_program(&a, "bk-snap", "bakery");
    up->n_tiers = 1;
    Coalition__V1__Program *u = update_program(f->bakery, &a, up, v, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(u->version, ++v);
    assert_int_equal(u->n_tiers, 1);
    /* The snapshot holds all of it, with the campaign's seed matching its public hash. */
    s = snapshot(svc, &a, "bk-snap", 1, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_false(s->unchanged);
    assert_int_equal(s->version, v);
    assert_int_equal(s->program->n_tiers, 1);
    assert_int_equal(s->n_participations, 1);
    assert_string_equal(s->participations[0]->partner_id, "fuelco");
    assert_int_equal(s->n_campaigns, 1);
    assert_string_equal(s->campaigns[0]->campaign_id, c->campaign_id);
    assert_int_equal(s->n_campaign_seeds, 1);
    assert_int_equal(s->campaign_seeds[0]->seed.len, 32);
    uint8_t md[32];
    SHA256(s->campaign_seeds[0]->seed.data, 32, md);
    char hex[65];
    for (int k = 0; k < 32; k++) {
        snprintf(hex + 2 * k, 3, "%02x", md[k]);
    }
    assert_string_equal(hex, c->chance_seed_sha256);
    assert_int_equal(s->n_rewards, 1);
    assert_int_equal(s->n_membership_plans, 1);
    assert_int_equal(s->n_agreements, 1);
    s = snapshot(svc, &a, "bk-snap", v, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_true(s->unchanged);
    /* Unknown programs, bad input, and partners (even through the gateway) are refused. */
    snapshot(svc, &a, "no-such-prog", 0, &st);
    IT_EXPECT_STATUS(st, NF, "no-such-prog");
    snapshot(svc, &a, "", 0, &st);
    IT_EXPECT_STATUS(st, INV, "code");
    snapshot(svc, &a, "bk-snap", -1, &st);
    IT_EXPECT_STATUS(st, INV, "known_version");
    snapshot(f->bakery, &a, "bk-snap", 0, &st);
    assert_int_not_equal(st.code, OK);
    co_arena_release(&a);
}

static void test_every_list_pages_through_tokens_in_order(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    const char *codes[5] = {"pg-a", "pg-b", "pg-c", "pg-d", "pg-e"};
    for (int i = 0; i < 5; i++) {
        create_program(f->admin, &a, rid(&a), mk_program(&a, codes[i], "fuelco"), &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        create_campaign(fuelco, &a, mk_campaign(&a, "pg-a", ""), &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        Coalition__V1__Reward *r = mk_reward(&a, "pg-a", "");
        create_reward(fuelco, &a, r, &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        if (i > 0) {
            set_agreement(f->admin, &a, mk_agreement(&a, "pg-a", codes[i]), &st);
            IT_EXPECT_STATUS(st, OK, NULL);
        }
    }
    set_agreement(f->admin, &a, mk_agreement(&a, "pg-b", "pg-a"), &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    /* Programs of fuelco: 5, in code order, 2 per page. */
    const char *token = "";
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        Coalition__V1__ListProgramsRequest req = COALITION__V1__LIST_PROGRAMS_REQUEST__INIT;
        req.page_size = 2;
        req.page_token = (char *)token;
        req.owner_partner_id = "fuelco";
        Coalition__V1__ListProgramsResponse *r =
            (void *)call(fuelco, &a, P("ListPrograms"), &req.base,
                         &coalition__v1__list_programs_response__descriptor, &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        for (size_t i = 0; i < r->n_programs; i++) {
            assert_string_equal(r->programs[i]->code, codes[seen++]);
        }
        token = r->next_page_token;
        assert_int_equal(token[0] == '\0', page == 2);
    }
    assert_int_equal(seen, 5);
    /* The token is bound to its filter. */
    {
        Coalition__V1__ListProgramsRequest req = COALITION__V1__LIST_PROGRAMS_REQUEST__INIT;
        req.page_size = 2;
        req.owner_partner_id = "fuelco";
        Coalition__V1__ListProgramsResponse *r =
            (void *)call(fuelco, &a, P("ListPrograms"), &req.base,
                         &coalition__v1__list_programs_response__descriptor, &st);
        req.owner_partner_id = "";
        req.page_token = r->next_page_token;
        call(fuelco, &a, P("ListPrograms"), &req.base,
             &coalition__v1__list_programs_response__descriptor, &st);
        IT_EXPECT_STATUS(st, INV, "page_token");
    }
    /* Campaigns: 5, by start_time then id. The token is bound to active_at: one instant for
     * every page (a clock tick between pages would be another listing). */
    token = "";
    seen = 0;
    const char *prev = "";
    const int64_t active_at = (int64_t)time(NULL);
    for (int page = 0; page < 3; page++) {
        Coalition__V1__ListCampaignsRequest req = COALITION__V1__LIST_CAMPAIGNS_REQUEST__INIT;
        req.program_code = "pg-a";
        req.page_size = 2;
        req.page_token = (char *)token;
        req.active_at = ts(&a, active_at);
        Coalition__V1__ListCampaignsResponse *r =
            (void *)call(fuelco, &a, P("ListCampaigns"), &req.base,
                         &coalition__v1__list_campaigns_response__descriptor, &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        for (size_t i = 0; i < r->n_campaigns; i++, seen++) {
            assert_true(strcmp(prev, r->campaigns[i]->campaign_id) != 0);
            prev = r->campaigns[i]->campaign_id;
        }
        token = r->next_page_token;
    }
    assert_int_equal(seen, 5);
    assert_string_equal(token, "");
    /* Rewards: 5 by reward_id. */
    token = "";
    seen = 0;
    prev = "";
    do {
        Coalition__V1__ListRewardsRequest req = COALITION__V1__LIST_REWARDS_REQUEST__INIT;
        req.program_code = "pg-a";
        req.page_size = 2;
        req.page_token = (char *)token;
        req.partner_id = "fuelco";
        Coalition__V1__ListRewardsResponse *r =
            (void *)call(fuelco, &a, P("ListRewards"), &req.base,
                         &coalition__v1__list_rewards_response__descriptor, &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        for (size_t i = 0; i < r->n_rewards; i++, seen++) {
            assert_true(strcmp(prev, r->rewards[i]->reward_id) < 0);
            prev = r->rewards[i]->reward_id;
        }
        token = r->next_page_token;
    } while (token[0] != '\0');
    assert_int_equal(seen, 5);
    /* Agreements touching pg-a (5): pg-a->b..e then pg-b->pg-a. */
    token = "";
    seen = 0;
    do {
        Coalition__V1__ListExchangeAgreementsRequest req =
            COALITION__V1__LIST_EXCHANGE_AGREEMENTS_REQUEST__INIT;
        req.page_size = 2;
        req.page_token = (char *)token;
        Coalition__V1__ListExchangeAgreementsResponse *r =
            (void *)call(fuelco, &a, P("ListExchangeAgreements"), &req.base,
                         &coalition__v1__list_exchange_agreements_response__descriptor, &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        for (size_t i = 0; i < r->n_agreements; i++) {
            const char *from = r->agreements[i]->from_program_code;
            if (strncmp(from, "pg-", 3) == 0) {
                seen++;
            }
        }
        token = r->next_page_token;
    } while (token[0] != '\0');
    assert_int_equal(seen, 5);
    co_arena_release(&a);
}

static void test_suspended_owner_reads_but_cannot_configure(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    it_set_partner_status(f->admin, &a, rid(&a), "fuelco",
                          COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED, "audit", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    Coalition__V1__GetProgramResponse *g = get_program(fuelco, &a, "pg-a", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    update_program(fuelco, &a, g->program, g->program->version, &st);
    IT_EXPECT_STATUS(st, FP, "not active");
    create_plan(fuelco, &a, mk_plan(&a, "pg-a"), &st);
    IT_EXPECT_STATUS(st, FP, "not active");
    /* The admin still configures it. */
    g->program->name = "By the admin";
    update_program(f->admin, &a, g->program, g->program->version, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    it_set_partner_status(f->admin, &a, rid(&a), "fuelco",
                          COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE, "", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    co_arena_release(&a);
}

static void test_rewards_donation_and_commission_override(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Reward *r = mk_reward(&a, SHARED, "bakery");
    r->kind = COALITION__V1__REWARD_KIND__REWARD_KIND_DONATION;
    r->charity_partner_id = "fuelco";
    Coalition__V1__Reward *out = create_reward(f->bakery, &a, r, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_string_equal(out->charity_partner_id, "fuelco");
    r->charity_partner_id = "operator";
    create_reward(f->bakery, &a, r, &st);
    IT_EXPECT_STATUS(st, FP, "reward.charity_partner_id");
    Coalition__V1__Reward *cp = mk_reward(&a, SHARED, "");
    cp->kind = COALITION__V1__REWARD_KIND__REWARD_KIND_COUPON;
    out = create_reward(f->bakery, &a, cp, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(out->coupon_valid_days, 365);
    assert_string_equal(out->partner_id, "bakery");
    Coalition__V1__CommissionPolicy pol = COALITION__V1__COMMISSION_POLICY__INIT;
    pol.partner_id = "fuelco";
    pol.operator_fee_bps = 150;
    pol.referral_commission_bps = 200;
    pol.referral_commission_months = 12;
    Coalition__V1__CommissionPolicy *po = set_policy(f->admin, &a, &pol, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_string_equal(po->partner_id, "fuelco");
    assert_int_equal(po->operator_fee_bps, 150);
    pol.partner_id = "ghost";
    set_policy(f->admin, &a, &pol, &st);
    IT_EXPECT_STATUS(st, NF, "ghost");
    /* Ending a participation removes it from GetProgram. */
    set_participation(f->admin, &a, "bk-snap", "fuelco", false, false, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    Coalition__V1__GetProgramResponse *g = get_program(f->admin, &a, "bk-snap", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(g->n_participations, 0);
    assert_int_equal(g->n_membership_plans, 1);
    co_arena_release(&a);
}

/* --- fixture --- */

static int setup(void **state)
{
    it_fx *f = it_fx_start("it_program_config");
    it_register_or_die(f->admin, "bakery", "Bakery");
    it_register_or_die(f->admin, "fuelco", "FuelCo");
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    const char *ids[2] = {"bakery", "fuelco"};
    for (int i = 0; i < 2; i++) {
        if (it_set_partner_status(f->admin, &a, ids[i], ids[i],
                                  COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE, "",
                                  &st) == NULL) {
            fprintf(stderr, "activate %s: %s\n", ids[i], st.details);
            exit(1);
        }
    }
    const char *progs[2] = {SHARED, PRIVATE};
    for (int i = 0; i < 2; i++) {
        if (create_program(f->admin, &a, progs[i], mk_program(&a, progs[i], "bakery"), &st) ==
            NULL) {
            fprintf(stderr, "create %s: %s\n", progs[i], st.details);
            exit(1);
        }
    }
    if (set_participation(f->admin, &a, SHARED, "fuelco", true, true, &st) == NULL) {
        fprintf(stderr, "participation: %s\n", st.details);
        exit(1);
    }
    co_arena_release(&a);
    f->bakery = h_client(f->s, H_GATEWAY, "partner-bakery");
    fuelco = h_client(f->s, H_GATEWAY, "partner-fuelco");
    svc = h_client(f->s, H_PARTNERS, "service-points");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    co_client_free(fuelco);
    co_client_free(svc);
    return it_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_program_normalizes_defaults_and_starts_at_version_1),
        cmocka_unit_test(test_create_and_update_program_field_validation_table),
        cmocka_unit_test(test_update_program_versions_immutables_and_admin_only_prices),
        cmocka_unit_test(test_authorization_matrix_admin_owner_participant_other),
        cmocka_unit_test(test_config_field_validation_tables),
        cmocka_unit_test(test_mutations_are_idempotent_by_request_id),
        cmocka_unit_test(test_version_bumps_and_snapshot_unchanged_or_changed),
        cmocka_unit_test(test_every_list_pages_through_tokens_in_order),
        cmocka_unit_test(test_suspended_owner_reads_but_cannot_configure),
        cmocka_unit_test(test_rewards_donation_and_commission_override),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return it_exit_code(failed);
}
