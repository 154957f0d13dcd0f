/* SPDX-License-Identifier: Apache-2.0 */
/* Points.GetProgramStats end to end, and the accounts service's internal GetProgramFigures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "coalition/internal/v1/members.pb-c.h"
#include "coalition/v1/accounts.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "itest.h"
#include "process.h"

#define DBNAME  "it_points_stats"
#define SVC     "/coalition.v1.Points/"
#define ACC     "/coalition.v1.Accounts/"
#define FIGURES "/coalition.internal.v1.Members/GetProgramFigures"
#define PROG    "stats-pts"
#define OTHER   "other-pts"
#define DAY     INT64_C(86400)

/*
 * The history. Every call below goes through the gateway; the service stamps every transfer
 * with its own clock, so a past is made afterwards by moving committed rows back in time as
 * the database superuser (the append-only trigger is off for that session only): an "age" is
 * how many days before the test ran a transfer counts as made. tier_changes rows are written
 * here directly, as the tier review will write them.
 *
 *   ana  earn 100 EUR (age 0, +10 welcome); redeem 30 at fuelco, 5 of it reversed; hold 20,
 *        15 captured; exchange 10 out to other-pts and 4 back in. New.
 *   bo   earns 60 EUR (age 120, +10 welcome) and 40 EUR (age 95); a hold of 12 still active.
 *        At risk.
 *   cy   earns 150 EUR (age 50, +10), 150 EUR (age 40), 200 EUR (age 0) with 50 points of it
 *        reversed. The top spender: high value.
 *   dee  earn 50 EUR (age 200, +10); redeem 20 (age 45). Occasional; active before, churned.
 *   eli  visit-only earns: 3 visits (age 35, +10), 3 (age 20), 1 (age 10). Regular.
 *   fay  earn 30 EUR (age 400, +10), all 40 points expired. Dormant.
 *   gus  a 25-point BONUS credit (newsletter), no purchase. Dormant.
 *   hal  earn 40 EUR (age 5, +10), the earn reversed in full: no purchase. Dormant.
 */
static it_fx *fx;
static co_client *fuelco;
static char ana[64], bo[64], cy[64], dee[64], eli[64], fay[64], gus[64], hal[64];

/* --- set-up helpers (exit on failure: they run outside any test) --- */

static void die(const char *what, const char *why)
{
    fprintf(stderr, "set-up: %s: %s\n", what, why);
    exit(1);
}

static Coalition__V1__MemberRef by_id(const char *id)
{
    Coalition__V1__MemberRef r = COALITION__V1__MEMBER_REF__INIT;
    r.ref_case = COALITION__V1__MEMBER_REF__REF_MEMBER_ID;
    r.member_id = (char *)id;
    return r;
}

static void enroll(co_arena *a, const char *phone, char *out)
{
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = co_arena_printf(a, "enroll-%s", phone);
    req.phone = (char *)phone;
    Coalition__V1__EnrollMemberResponse *r =
        (void *)it_call_or_die(fx->bakery, a, ACC "EnrollMember", &req.base,
                               &coalition__v1__enroll_member_response__descriptor);
    snprintf(out, 64, "%s", r->member->member_id);
}

static void program(co_arena *a, const char *code, const char *owner)
{
    Coalition__V1__Rational ppu = COALITION__V1__RATIONAL__INIT;
    ppu.num = 1;
    ppu.den = 1;
    Coalition__V1__EarnRule er = COALITION__V1__EARN_RULE__INIT;
    er.points_per_unit = &ppu;
    er.points_per_visit = 2;
    Coalition__V1__Program p = COALITION__V1__PROGRAM__INIT;
    p.code = (char *)code;
    p.name = (char *)code;
    p.owner_partner_id = (char *)owner;
    p.point_value_micros = 10000;
    p.issue_price_micros = 5000;
    p.earn_rule = &er;
    p.welcome_bonus_points = 10;
    p.expiry_months = 12;
    p.issuing_mode = COALITION__V1__ISSUING_MODE__ISSUING_MODE_POSTPAID;
    Coalition__V1__CreateProgramRequest req = COALITION__V1__CREATE_PROGRAM_REQUEST__INIT;
    req.request_id = co_arena_printf(a, "prog-%s", code);
    req.program = &p;
    it_call_or_die(fx->admin, a, "/coalition.v1.Partners/CreateProgram", &req.base,
                   &coalition__v1__create_program_response__descriptor);
}

static void agreement(co_arena *a, const char *from, const char *to)
{
    Coalition__V1__Rational rate = COALITION__V1__RATIONAL__INIT;
    rate.num = 1;
    rate.den = 1;
    Coalition__V1__ExchangeAgreement ag = COALITION__V1__EXCHANGE_AGREEMENT__INIT;
    ag.from_program_code = (char *)from;
    ag.to_program_code = (char *)to;
    ag.rate = &rate;
    ag.min_points = 1;
    ag.enabled = true;
    Coalition__V1__SetExchangeAgreementRequest req =
        COALITION__V1__SET_EXCHANGE_AGREEMENT_REQUEST__INIT;
    req.request_id = co_arena_printf(a, "agr-%s-%s", from, to);
    req.agreement = &ag;
    it_call_or_die(fx->admin, a, "/coalition.v1.Partners/SetExchangeAgreement", &req.base,
                   &coalition__v1__set_exchange_agreement_response__descriptor);
}

/* An Earn of micros (0: none) and visits; returns the EARN transfer's id. */
static const char *earn(co_arena *a, co_client *c, const char *rid, const char *member,
                        int64_t micros, int32_t visits)
{
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__Money amt = COALITION__V1__MONEY__INIT;
    amt.amount_micros = micros;
    amt.currency = "EUR";
    Coalition__V1__EarnRequest req = COALITION__V1__EARN_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.program_code = PROG;
    req.amount = micros > 0 ? &amt : NULL;
    req.visits = visits;
    Coalition__V1__EarnResponse *r = (void *)it_call_or_die(
        c, a, SVC "Earn", &req.base, &coalition__v1__earn_response__descriptor);
    if (r->n_transfers == 0) {
        die(rid, "earned nothing");
    }
    return r->transfers[0]->transfer_id;
}

static Coalition__V1__RedeemResponse *redeem(co_arena *a, co_client *c, const char *rid,
                                             const char *member, int64_t points, bool hold)
{
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__RedeemRequest req = COALITION__V1__REDEEM_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.program_code = PROG;
    req.points = points;
    req.hold = hold;
    req.hold_timeout_seconds = hold ? 3600 : 0;
    return (void *)it_call_or_die(c, a, SVC "Redeem", &req.base,
                                  &coalition__v1__redeem_response__descriptor);
}

static void reverse(co_arena *a, co_client *c, const char *rid, const char *transfer_id,
                    int64_t points)
{
    Coalition__V1__ReverseRequest req = COALITION__V1__REVERSE_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.transfer_id = (char *)transfer_id;
    req.points = points;
    req.reason = "return";
    it_call_or_die(c, a, SVC "Reverse", &req.base, &coalition__v1__reverse_response__descriptor);
}

static void exchange(co_arena *a, const char *rid, const char *from, const char *to, int64_t points)
{
    Coalition__V1__MemberRef ref = by_id(ana);
    Coalition__V1__ExchangeRequest req = COALITION__V1__EXCHANGE_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.from_program_code = (char *)from;
    req.to_program_code = (char *)to;
    req.points = points;
    it_call_or_die(fx->bakery, a, SVC "Exchange", &req.base,
                   &coalition__v1__exchange_response__descriptor);
}

/* Runs sql with up to two parameters as the superuser with triggers off (the append-only
 * ledger included); returns the rows it touched. */
static long long db_write(const char *sql, const char *p1, const char *p2)
{
    PGconn *pg = PQconnectdb(h_db_url(fx->s));
    if (PQstatus(pg) != CONNECTION_OK) {
        die("database", PQerrorMessage(pg));
    }
    PGresult *r = PQexec(pg, "SET session_replication_role = replica");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        die("database", PQerrorMessage(pg));
    }
    PQclear(r);
    const char *vals[2] = {p1, p2};
    r = PQexecParams(pg, sql, p2 != NULL ? 2 : (p1 != NULL ? 1 : 0), NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        die(sql, PQerrorMessage(pg));
    }
    long long n = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    PQfinish(pg);
    return n;
}

/* Moves every transfer of request rid in PROG (all partners) back by days. */
static void age(const char *rid, const char *days)
{
    if (db_write("UPDATE points.transfers SET create_time = create_time -"
                 " make_interval(days => $2::int) WHERE program = '" PROG "' AND request_id = $1",
                 rid, days) < 1) {
        die(rid, "no transfer to move back");
    }
}

static void feedback(co_arena *a, co_client *c, const char *rid, const char *member,
                     const char *program, int nps, int effort)
{
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__RecordFeedbackRequest req = COALITION__V1__RECORD_FEEDBACK_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.program_code = (char *)program;
    req.nps_case = COALITION__V1__RECORD_FEEDBACK_REQUEST__NPS_NPS_SCORE;
    req.nps_score = nps;
    if (effort > 0) {
        req.effort_case = COALITION__V1__RECORD_FEEDBACK_REQUEST__EFFORT_EFFORT_SCORE;
        req.effort_score = effort;
    }
    it_call_or_die(c, a, ACC "RecordFeedback", &req.base,
                   &coalition__v1__record_feedback_response__descriptor);
}

/* A plan of program (created by c) and a membership of member in it; returns its id. */
static const char *membership(co_arena *a, co_client *c, const char *program, const char *member)
{
    Coalition__V1__Money fee = COALITION__V1__MONEY__INIT;
    fee.amount_micros = 5000000;
    fee.currency = "EUR";
    Coalition__V1__MembershipPlan p = COALITION__V1__MEMBERSHIP_PLAN__INIT;
    p.program_code = (char *)program;
    p.name = "VIP";
    p.fee = &fee;
    p.period_months = 12;
    p.earn_multiplier_bps = 10000;
    Coalition__V1__CreateMembershipPlanRequest pr =
        COALITION__V1__CREATE_MEMBERSHIP_PLAN_REQUEST__INIT;
    pr.request_id = co_arena_printf(a, "plan-%s-%s", program, member);
    pr.plan = &p;
    Coalition__V1__CreateMembershipPlanResponse *plan =
        (void *)it_call_or_die(c, a, "/coalition.v1.Partners/CreateMembershipPlan", &pr.base,
                               &coalition__v1__create_membership_plan_response__descriptor);
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__StartMembershipRequest sr = COALITION__V1__START_MEMBERSHIP_REQUEST__INIT;
    sr.request_id = co_arena_printf(a, "ms-%s-%s", program, member);
    sr.member = &ref;
    sr.plan_id = plan->plan->plan_id;
    Coalition__V1__StartMembershipResponse *ms =
        (void *)it_call_or_die(c, a, ACC "StartMembership", &sr.base,
                               &coalition__v1__start_membership_response__descriptor);
    return ms->membership->membership_id;
}

static void history(co_arena *a)
{
    co_client *bk = fx->bakery;
    earn(a, bk, "s-ana-1", ana, 100000000, 0);
    const char *r1 = redeem(a, fuelco, "s-ana-r", ana, 30, false)->transfer->transfer_id;
    reverse(a, fuelco, "s-ana-rr", r1, 5);
    Coalition__V1__RedeemResponse *h = redeem(a, bk, "s-ana-h", ana, 20, true);
    Coalition__V1__CaptureHoldRequest cap = COALITION__V1__CAPTURE_HOLD_REQUEST__INIT;
    cap.request_id = "s-ana-c";
    cap.hold_id = h->hold->hold_id;
    cap.points = 15;
    it_call_or_die(bk, a, SVC "CaptureHold", &cap.base,
                   &coalition__v1__capture_hold_response__descriptor);
    exchange(a, "s-ana-x1", PROG, OTHER, 10);
    exchange(a, "s-ana-x2", OTHER, PROG, 4);
    earn(a, bk, "s-bo-1", bo, 60000000, 0);
    earn(a, fuelco, "s-bo-2", bo, 40000000, 0);
    redeem(a, bk, "s-bo-h", bo, 12, true);
    earn(a, bk, "s-cy-1", cy, 150000000, 0);
    earn(a, bk, "s-cy-2", cy, 150000000, 0);
    reverse(a, bk, "s-cy-3r", earn(a, bk, "s-cy-3", cy, 200000000, 0), 50);
    earn(a, bk, "s-dee-1", dee, 50000000, 0);
    redeem(a, bk, "s-dee-r", dee, 20, false);
    earn(a, bk, "s-eli-1", eli, 0, 3);
    earn(a, bk, "s-eli-2", eli, 0, 3);
    earn(a, bk, "s-eli-3", eli, 0, 1);
    earn(a, bk, "s-fay-1", fay, 30000000, 0);
    Coalition__V1__MemberRef gref = by_id(gus);
    Coalition__V1__CreditRequest cr = COALITION__V1__CREDIT_REQUEST__INIT;
    cr.request_id = "s-gus-1";
    cr.member = &gref;
    cr.program_code = PROG;
    cr.kind = COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_BONUS;
    cr.points = 25;
    cr.reason = "newsletter";
    it_call_or_die(bk, a, SVC "Credit", &cr.base, &coalition__v1__credit_response__descriptor);
    reverse(a, bk, "s-hal-1r", earn(a, bk, "s-hal-1", hal, 40000000, 0), 0);
    /* fay's lots are past their expiry (moved back like the points test does). */
    if (db_write("UPDATE points.lots l SET expire_time = now() - interval '1 day'"
                 " FROM points.transfers t WHERE t.id = l.transfer_id AND t.program = '" PROG "'"
                 " AND t.member_id = $1",
                 fay, NULL) != 2) {
        die("expiry", "fay should have two lots");
    }
    Coalition__V1__ExpirePointsRequest xr = COALITION__V1__EXPIRE_POINTS_REQUEST__INIT;
    xr.request_id = "s-expire";
    xr.program_code = PROG;
    Coalition__V1__ExpirePointsResponse *x =
        (void *)it_call_or_die(fx->admin, a, SVC "ExpirePoints", &xr.base,
                               &coalition__v1__expire_points_response__descriptor);
    if (x->expired_points != 40) {
        die("expiry", "40 points should have expired");
    }
}

/* Moves the history back (see the comment at the top); accounts are dated by their first
 * transfer; tier changes and one old feedback are written as they would be. */
static void make_past(void)
{
    age("s-bo-1", "120");
    age("s-bo-2", "95");
    age("s-cy-1", "50");
    age("s-cy-2", "40");
    age("s-dee-1", "200");
    age("s-dee-r", "45");
    age("s-eli-1", "35");
    age("s-eli-2", "20");
    age("s-eli-3", "10");
    age("s-fay-1", "400");
    age("s-hal-1", "5");
    db_write("UPDATE points.accounts a SET create_time = f.first FROM (SELECT x.id,"
             " min(t.create_time) AS first FROM points.accounts x JOIN points.transfers t ON"
             " t.debit_id = x.id OR t.credit_id = x.id WHERE x.program = '" PROG "' GROUP BY"
             " x.id) f WHERE f.id = a.id AND f.first < a.create_time",
             NULL, NULL);
    db_write("INSERT INTO points.tier_changes (program, member_id, change_time, from_tier, to_tier,"
             " upgrade) VALUES ('" PROG "', $1, now() - interval '3 days', 'base', 'silver', true),"
             " ('" PROG "', $1, now() - interval '10 days', 'gold', 'silver', false),"
             " ('" PROG "', $2, now() - interval '50 days', 'base', 'silver', true),"
             " ('" OTHER "', $2, now() - interval '1 day', 'silver', 'base', false)",
             cy, eli);
    if (db_write("UPDATE accounts.feedback SET create_time = now() - interval '50 days'"
                 " WHERE member_id = $1",
                 eli, NULL) != 1) {
        die("feedback", "eli should have one answer");
    }
}

static int setup(void **state)
{
    fx = it_fx_start(DBNAME);
    fx->bakery = h_client(fx->s, H_GATEWAY, "partner-bakery");
    fuelco = h_client(fx->s, H_GATEWAY, "partner-fuelco");
    it_register_or_die(fx->admin, "bakery", "bakery");
    it_register_or_die(fx->admin, "fuelco", "fuelco");
    it_activate_or_die(fx->admin, "bakery");
    it_activate_or_die(fx->admin, "fuelco");
    co_arena a;
    co_arena_init(&a, 0);
    program(&a, PROG, "bakery");
    program(&a, OTHER, "fuelco");
    it_participate_or_die(fx->admin, &a, PROG, "fuelco");
    agreement(&a, PROG, OTHER);
    agreement(&a, OTHER, PROG);
    char *const phones[] = {"+4930100001", "+4930100002", "+4930100003", "+4930100004",
                            "+4930100005", "+4930100006", "+4930100007", "+4930100008"};
    char *ids[] = {ana, bo, cy, dee, eli, fay, gus, hal};
    for (size_t i = 0; i < 8; i++) {
        enroll(&a, phones[i], ids[i]);
    }
    history(&a);
    membership(&a, fx->bakery, PROG, ana);
    const char *bo_ms = membership(&a, fx->bakery, PROG, bo);
    Coalition__V1__CancelMembershipRequest cm = COALITION__V1__CANCEL_MEMBERSHIP_REQUEST__INIT;
    cm.request_id = "s-cancel-bo";
    cm.membership_id = (char *)bo_ms;
    it_call_or_die(fx->bakery, &a, ACC "CancelMembership", &cm.base,
                   &coalition__v1__cancel_membership_response__descriptor);
    membership(&a, fuelco, OTHER, cy);
    feedback(&a, fx->bakery, "s-fb-1", ana, PROG, 10, 0);
    feedback(&a, fx->bakery, "s-fb-2", bo, PROG, 9, 2);
    feedback(&a, fx->bakery, "s-fb-3", cy, PROG, 7, 3);
    feedback(&a, fx->bakery, "s-fb-4", dee, PROG, 3, 6);
    feedback(&a, fx->bakery, "s-fb-5", eli, PROG, 0, 7);
    feedback(&a, fuelco, "s-fb-6", fay, OTHER, 0, 1);
    make_past();
    co_arena_release(&a);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    co_client_free(fuelco);
    fuelco = NULL;
    return it_teardown(state);
}

/* --- calls under test --- */

/* GetProgramStats of program as c; as_of_s 0 leaves as_of unset. */
static Coalition__V1__ProgramStats *stats(co_client *c, co_arena *a, const char *program,
                                          int64_t as_of_s, int32_t window_days,
                                          co_client_status *st)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = as_of_s;
    Coalition__V1__GetProgramStatsRequest req = COALITION__V1__GET_PROGRAM_STATS_REQUEST__INIT;
    req.program_code = (char *)program;
    req.as_of = as_of_s != 0 ? &ts : NULL;
    req.window_days = window_days;
    ProtobufCMessage *resp = NULL;
    it_unary(c, a, SVC "GetProgramStats", &req.base,
             &coalition__v1__get_program_stats_response__descriptor, NULL, 0, &resp, st);
    return st->code == GRPC_STATUS_OK ? ((Coalition__V1__GetProgramStatsResponse *)resp)->stats
                                      : NULL;
}

#define assert_i64(actual, expected)                                                               \
    do {                                                                                           \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                            \
        if (a_ != e_) {                                                                            \
            fail_msg("%s = %lld, expected %lld", #actual, a_, e_);                                 \
        }                                                                                          \
    } while (0)

static void expect_segments(const Coalition__V1__SegmentCounts *g, int64_t new_members,
                            int64_t at_risk, int64_t high_value, int64_t occasional,
                            int64_t regular, int64_t dormant)
{
    assert_non_null(g);
    assert_i64(g->new_members, new_members);
    assert_i64(g->at_risk, at_risk);
    assert_i64(g->high_value, high_value);
    assert_i64(g->occasional, occasional);
    assert_i64(g->regular, regular);
    assert_i64(g->dormant, dormant);
}

/* --- tests --- */

static void test_stats_now_count_every_figure_of_the_history(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    int64_t before = (int64_t)time(NULL);
    Coalition__V1__ProgramStats *s = stats(fx->bakery, &a, PROG, 0, 30, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(s->program_code, PROG);
    assert_true(s->as_of->seconds >= before && s->as_of->seconds <= (int64_t)time(NULL));
    assert_i64(s->window_days, 30);
    assert_i64(s->members, 8);
    /* ana, cy, eli; hal's only earn was reversed in full, gus only got a bonus. */
    assert_i64(s->active_members, 3);
    /* EARN 834 + BONUS 95 (7 welcome, gus' 25) - reversed earns 90. */
    assert_i64(s->points_issued, 839);
    /* REDEEM 30 + 20, CAPTURE 15, 5 reversed. */
    assert_i64(s->points_redeemed, 60);
    assert_i64(s->points_expired, 40);
    assert_i64(s->points_exchanged_out, 10);
    assert_i64(s->points_exchanged_in, 4);
    assert_i64(s->redemption_rate_bps, 715); /* 60 / 839 */
    assert_i64(s->breakage_rate_bps, 476);   /* 40 / 839 */
    /* 839 - 60 - 40 - 10 + 4, bo's 12 held points included. */
    assert_i64(s->outstanding_points, 733);
    assert_i64(s->outstanding_liability->amount_micros, 7330000);
    assert_string_equal(s->outstanding_liability->currency, "EUR");
    /* In the window: ana's, cy's third, eli's second and third. */
    assert_i64(s->purchases, 4);
    assert_i64(s->repeat_purchase_rate_bps, 3333); /* eli of ana, cy, eli */
    assert_i64(s->purchase_frequency_milli, 1333);
    /* Active before: cy, eli (purchases), dee (a redemption); dee did not come back. */
    assert_i64(s->retention_rate_bps, 6666);
    assert_i64(s->churn_rate_bps, 3333);
    assert_i64(s->churned_members, 1);
    assert_i64(s->tier_upgrades, 1);
    assert_i64(s->tier_downgrades, 1);
    assert_i64(s->active_memberships, 1); /* ana's; bo's was cancelled, cy's is another program */
    /* 100 + 100 + 450 (50 of 200 points reversed: 150 EUR) + 50 + 30 EUR over 8 members. */
    assert_i64(s->average_lifetime_value->amount_micros, 91250000);
    assert_string_equal(s->average_lifetime_value->currency, "EUR");
    assert_i64(s->average_lifetime_points, 104); /* 839 / 8 */
    assert_i64(s->nps_responses, 4);
    assert_i64(s->nps_promoters, 2);
    assert_i64(s->nps_passives, 1);
    assert_i64(s->nps_detractors, 1);
    assert_i64(s->nps_bps, 2500);
    assert_i64(s->effort_responses, 3);
    assert_i64(s->effort_score_mean_milli, 3666); /* (2 + 3 + 6) / 3 */
    expect_segments(s->segments, 1, 1, 1, 1, 1, 3);
    /* The admin sees the same; the default window is 90 days. */
    s = stats(fx->admin, &a, PROG, 0, 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_i64(s->window_days, 90);
    assert_i64(s->members, 8);
    assert_i64(s->active_members, 4);  /* ana, cy, eli, dee (redeemed 45 days ago) */
    assert_i64(s->churned_members, 1); /* bo, last seen 95 days ago */
    assert_i64(s->retention_rate_bps, 0);
    assert_i64(s->churn_rate_bps, 10000);
    assert_i64(s->nps_responses, 5);
    co_arena_release(&a);
}

static void test_stats_as_of_in_the_past_sees_only_that_past(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    int64_t as_of = (int64_t)time(NULL) - 42 * DAY;
    Coalition__V1__ProgramStats *s = stats(fx->bakery, &a, PROG, as_of, 30, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_i64(s->as_of->seconds, as_of);
    assert_i64(s->members, 4);          /* bo, cy, dee, fay */
    assert_i64(s->points_issued, 370);  /* 110 + 160 + 60 + 40 */
    assert_i64(s->points_redeemed, 20); /* dee's */
    assert_i64(s->points_expired, 0);   /* fay's expired today */
    assert_i64(s->outstanding_points, 350);
    assert_i64(s->outstanding_liability->amount_micros, 3500000);
    assert_i64(s->redemption_rate_bps, 540);
    assert_i64(s->breakage_rate_bps, 0);
    assert_i64(s->active_members, 2); /* cy (50 days ago), dee (45) */
    assert_i64(s->purchases, 1);
    assert_i64(s->repeat_purchase_rate_bps, 0);
    assert_i64(s->purchase_frequency_milli, 1000);
    assert_i64(s->churned_members, 1); /* bo */
    assert_i64(s->retention_rate_bps, 0);
    assert_i64(s->churn_rate_bps, 10000);
    assert_i64(s->tier_upgrades, 1);
    assert_i64(s->tier_downgrades, 0);
    assert_i64(s->active_memberships, 0);
    assert_i64(s->average_lifetime_value->amount_micros, 82500000); /* 330 EUR / 4 */
    assert_i64(s->average_lifetime_points, 92);
    /* eli's answer 50 days ago: a detractor. */
    assert_i64(s->nps_responses, 1);
    assert_i64(s->nps_detractors, 1);
    assert_i64(s->nps_bps, -10000);
    assert_i64(s->effort_responses, 1);
    assert_i64(s->effort_score_mean_milli, 7000);
    /* cy is new then (and the top spender); bo bought 53 days before: not at risk yet. */
    expect_segments(s->segments, 1, 0, 0, 3, 0, 0);
    /* Before anything happened: all zero, members too. */
    s = stats(fx->bakery, &a, PROG, (int64_t)time(NULL) - 700 * DAY, 1, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_i64(s->members, 0);
    assert_i64(s->points_issued, 0);
    assert_i64(s->average_lifetime_value->amount_micros, 0);
    expect_segments(s->segments, 0, 0, 0, 0, 0, 0);
    co_arena_release(&a);
}

static void test_stats_only_owner_and_admin_and_fields_are_checked(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    /* fuelco takes part in the program but does not own it. */
    assert_null(stats(fuelco, &a, PROG, 0, 30, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, PROG);
    /* The bakery takes no part in fuelco's program. */
    assert_null(stats(fx->bakery, &a, OTHER, 0, 30, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, OTHER);
    assert_null(stats(fx->admin, &a, "no-such-pts", 0, 30, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "no-such-pts");
    assert_null(stats(fx->bakery, &a, "Bad!", 0, 30, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "program_code");
    assert_null(stats(fx->bakery, &a, "", 0, 30, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "program_code");
    assert_null(stats(fx->bakery, &a, PROG, (int64_t)time(NULL) + 3600, 30, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "as_of");
    assert_null(stats(fx->bakery, &a, PROG, -5, 30, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "as_of");
    assert_null(stats(fx->bakery, &a, PROG, 0, 731, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "window_days");
    assert_null(stats(fx->bakery, &a, PROG, 0, -1, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "window_days");
    assert_non_null(stats(fx->bakery, &a, PROG, 0, 730, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    /* Bad nanos. */
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = 1000;
    ts.nanos = -1;
    Coalition__V1__GetProgramStatsRequest req = COALITION__V1__GET_PROGRAM_STATS_REQUEST__INIT;
    req.program_code = PROG;
    req.as_of = &ts;
    st = it_call_msg(fx->bakery, &a, SVC "GetProgramStats", &req.base, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "as_of");
    co_arena_release(&a);
}

static Coalition__Internal__V1__GetProgramFiguresResponse *
figures(co_client *c, co_arena *a, const char *program, int64_t as_of_s, int64_t start_s,
        const co_client_md *md, size_t nmd, co_client_status *st)
{
    Google__Protobuf__Timestamp as = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Timestamp from = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    as.seconds = as_of_s;
    from.seconds = start_s;
    Coalition__Internal__V1__GetProgramFiguresRequest req =
        COALITION__INTERNAL__V1__GET_PROGRAM_FIGURES_REQUEST__INIT;
    req.program_code = (char *)program;
    req.as_of = as_of_s != 0 ? &as : NULL;
    req.window_start = start_s != 0 ? &from : NULL;
    ProtobufCMessage *resp = NULL;
    it_unary(c, a, FIGURES, &req.base,
             &coalition__internal__v1__get_program_figures_response__descriptor, md, nmd, &resp,
             st);
    return (void *)resp;
}

static void test_figures_are_internal_to_services(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    int64_t now = (int64_t)time(NULL) + 1;
    co_client *svc = h_client(fx->s, H_ACCOUNTS, "service-points");
    Coalition__Internal__V1__GetProgramFiguresResponse *f =
        figures(svc, &a, PROG, now, now - 60 * DAY, NULL, 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_i64(f->active_memberships, 1);
    assert_i64(f->nps_responses, 5);
    assert_i64(f->nps_promoters, 2);
    assert_i64(f->nps_passives, 1);
    assert_i64(f->nps_detractors, 2);
    assert_i64(f->effort_responses, 4);
    assert_i64(f->effort_sum, 18);
    figures(svc, &a, PROG, now, now + 1, NULL, 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "window_start");
    figures(svc, &a, PROG, 0, now, NULL, 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "as_of");
    figures(svc, &a, "Bad!", now, now, NULL, 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "program_code");
    /* A service acting for a partner is not a service identity. */
    const co_client_md as_partner[2] = {{CO_MD_ROLE, "partner"}, {CO_MD_PARTNER_ID, "bakery"}};
    figures(svc, &a, PROG, now, now, as_partner, 2, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "internal");
    co_client_free(svc);
    /* A partner's certificate straight to accounts, and the gateway, which never routes it. */
    co_client *direct = h_client(fx->s, H_ACCOUNTS, "partner-bakery");
    figures(direct, &a, PROG, now, now, NULL, 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    co_client_free(direct);
    figures(fx->admin, &a, PROG, now, now, NULL, 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_UNIMPLEMENTED, NULL);
    co_arena_release(&a);
}

static void test_stats_without_accounts_is_unavailable(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    assert_true(h_proc_stop(fx->s, H_ACCOUNTS));
    assert_null(stats(fx->bakery, &a, PROG, 0, 30, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_UNAVAILABLE, "accounts");
    h_proc_restart(fx->s, H_ACCOUNTS);
    /* Back once the channel reconnects. */
    Coalition__V1__ProgramStats *s = NULL;
    for (int i = 0; i < 40 && s == NULL; i++) {
        s = stats(fx->bakery, &a, PROG, 0, 30, &st);
        if (s == NULL) {
            struct timespec ts = {0, 250000000};
            nanosleep(&ts, NULL);
        }
    }
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_i64(s->active_memberships, 1);
    co_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_now_count_every_figure_of_the_history),
        cmocka_unit_test(test_stats_as_of_in_the_past_sees_only_that_past),
        cmocka_unit_test(test_stats_only_owner_and_admin_and_fields_are_checked),
        cmocka_unit_test(test_figures_are_internal_to_services),
        cmocka_unit_test(test_stats_without_accounts_is_unavailable),
    };
    return it_exit_code(cmocka_run_group_tests_name("points_stats", tests, setup, teardown));
}
