/* SPDX-License-Identifier: Apache-2.0 */
/* The points ledger end to end: through the gateway over mTLS, against real PostgreSQL. */
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "coalition/v1/accounts.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "itest.h"

#define DBNAME  "it_points"
#define SVC     "/coalition.v1.Points/"
#define PROG    "bakery-pts"
#define PREPAID "fuel-pre"
#define OK      GRPC_STATUS_OK
#define INV     GRPC_STATUS_INVALID_ARGUMENT
#define FAILED  GRPC_STATUS_FAILED_PRECONDITION

static it_fx *fx;
static co_client *fuelco;
static char anna[64], ben[64], cleo[64], dan[64], eve[64];
static char rw_catalog[32], rw_coupon[32], rw_donation[32];

static ProtobufCMessage *call(co_client *c, co_arena *a, const char *method,
                              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                              co_client_status *st)
{
    ProtobufCMessage *resp = NULL;
    it_unary(c, a, method, req, rd, NULL, 0, &resp, st);
    return resp;
}

static Coalition__V1__MemberRef by_id(const char *id)
{
    Coalition__V1__MemberRef r = COALITION__V1__MEMBER_REF__INIT;
    r.ref_case = COALITION__V1__MEMBER_REF__REF_MEMBER_ID;
    r.member_id = (char *)id;
    return r;
}

static Coalition__V1__Money eur(int64_t micros)
{
    Coalition__V1__Money m = COALITION__V1__MONEY__INIT;
    m.amount_micros = micros;
    m.currency = "EUR";
    return m;
}

static Coalition__V1__EarnResponse *earn(co_client *c, co_arena *a, const char *rid,
                                         const char *member, const char *program, int64_t micros,
                                         co_client_status *st)
{
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__Money amt = eur(micros);
    Coalition__V1__EarnRequest req = COALITION__V1__EARN_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.program_code = (char *)program;
    req.amount = &amt;
    return (void *)call(c, a, SVC "Earn", &req.base, &coalition__v1__earn_response__descriptor, st);
}

static Coalition__V1__RedeemResponse *redeem(co_client *c, co_arena *a, const char *rid,
                                             const char *member, int64_t points, bool hold,
                                             co_client_status *st)
{
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__RedeemRequest req = COALITION__V1__REDEEM_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.program_code = PROG;
    req.points = points;
    req.hold = hold;
    return (void *)call(c, a, SVC "Redeem", &req.base, &coalition__v1__redeem_response__descriptor,
                        st);
}

static int64_t available_in(const char *member, const char *program)
{
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__GetBalanceRequest req = COALITION__V1__GET_BALANCE_REQUEST__INIT;
    req.member = &ref;
    req.program_code = (char *)program;
    co_client_status st;
    Coalition__V1__GetBalanceResponse *r =
        (void *)call(strcmp(program, "fuel-own") == 0 ? fuelco : fx->bakery, &a, SVC "GetBalance",
                     &req.base, &coalition__v1__get_balance_response__descriptor, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    int64_t v = r->n_balances == 1 ? r->balances[0]->available_points : 0;
    co_arena_release(&a);
    return v;
}

static int64_t available(const char *member)
{
    return available_in(member, PROG);
}

/* --- tests --- */

static void test_earn_then_redeem_at_a_participant(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    /* 12.34 EUR at 1 point per euro: 12 points, plus the 50-point welcome bonus. */
    Coalition__V1__EarnResponse *e = earn(fx->bakery, &a, "e-1", anna, PROG, 12340000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->earned_points, 12);
    assert_int_equal(e->bonus_points, 50);
    assert_int_equal(e->n_transfers, 2);
    assert_int_equal(e->transfers[0]->kind, COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_EARN);
    assert_string_equal(e->transfers[0]->debit_account, "issuance:bakery");
    assert_string_equal(e->transfers[1]->reason, "welcome");
    assert_int_equal(e->balance->available_points, 62);
    assert_int_equal(strlen(e->transfers[0]->hash), 64);
    /* A second earn: no welcome bonus again. */
    e = earn(fx->bakery, &a, "e-2", anna, PROG, 10000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->bonus_points, 0);
    assert_int_equal(e->balance->available_points, 72);
    /* fuelco accepts bakery's points: the owner owes it 30 * 0.01 EUR. */
    Coalition__V1__RedeemResponse *r = redeem(fuelco, &a, "r-1", anna, 30, false, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(r->balance->available_points, 42);
    assert_int_equal(r->value->amount_micros, 300000);
    assert_string_equal(r->transfer->credit_account, "redemption:fuelco");
    assert_int_equal(available(anna), 42);
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM points.settlement_events WHERE kind = 2 AND"
                                 " payer_partner_id = 'bakery' AND payee_partner_id = 'fuelco'"
                                 " AND amount_micros = 300000",
                                 NULL),
                     1);
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static void test_repeat_replays_and_other_content_is_refused(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__EarnResponse *e1 = earn(fx->bakery, &a, "rep-1", ben, PROG, 5000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    Coalition__V1__EarnResponse *e2 = earn(fx->bakery, &a, "rep-1", ben, PROG, 5000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_string_equal(e1->transfers[0]->transfer_id, e2->transfers[0]->transfer_id);
    assert_string_equal(e1->transfers[0]->hash, e2->transfers[0]->hash);
    earn(fx->bakery, &a, "rep-1", ben, PROG, 6000000, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "rep-1");
    /* The same request id from another partner is another request. */
    earn(fuelco, &a, "rep-1", ben, PROG, 1000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    /* A refused redemption stays refused, even once the points are there. */
    int64_t have = available(ben);
    redeem(fx->bakery, &a, "rep-big", ben, have + 100, false, &st);
    IT_EXPECT_STATUS(st, FAILED, "insufficient points");
    earn(fx->bakery, &a, "rep-more", ben, PROG, 500000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    redeem(fx->bakery, &a, "rep-big", ben, have + 100, false, &st);
    IT_EXPECT_STATUS(st, FAILED, "insufficient points");
    co_arena_release(&a);
}

typedef struct racer {
    co_client *c;
    const char *rid;
    const char *member;
    int64_t points;
    int kind; /* 0 earn, 1 redeem, 2 capture, 3 void */
    const char *hold_id;
    grpc_status_code code;
    char transfer_id[64];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    if (r->kind == 0) {
        Coalition__V1__EarnResponse *e = earn(r->c, &a, r->rid, r->member, PROG, 7000000, &st);
        if (st.code == OK && e->n_transfers > 0) {
            snprintf(r->transfer_id, sizeof r->transfer_id, "%s", e->transfers[0]->transfer_id);
        }
    } else if (r->kind == 1) {
        redeem(r->c, &a, r->rid, r->member, r->points, false, &st);
    } else if (r->kind == 2) {
        Coalition__V1__CaptureHoldRequest req = COALITION__V1__CAPTURE_HOLD_REQUEST__INIT;
        req.request_id = (char *)r->rid;
        req.hold_id = (char *)r->hold_id;
        call(r->c, &a, SVC "CaptureHold", &req.base,
             &coalition__v1__capture_hold_response__descriptor, &st);
    } else {
        Coalition__V1__VoidHoldRequest req = COALITION__V1__VOID_HOLD_REQUEST__INIT;
        req.request_id = (char *)r->rid;
        req.hold_id = (char *)r->hold_id;
        call(r->c, &a, SVC "VoidHold", &req.base, &coalition__v1__void_hold_response__descriptor,
             &st);
    }
    r->code = st.code;
    co_arena_release(&a);
    return NULL;
}

static void run_racers(racer *rs, size_t n)
{
    pthread_t *t = calloc(n, sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, race, &rs[i]), 0);
    }
    for (size_t i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
    }
    free(t);
}

static void test_fifty_concurrent_identical_earns_make_one(void **state)
{
    (void)state;
    int64_t before = available(cleo);
    racer rs[50];
    for (int i = 0; i < 50; i++) {
        rs[i] = (racer){.c = fx->bakery, .rid = "same-earn", .member = cleo, .kind = 0};
    }
    run_racers(rs, 50);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(rs[i].code, OK);
        assert_string_equal(rs[i].transfer_id, rs[0].transfer_id);
    }
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM points.transfers WHERE request_id ="
                                 " 'same-earn' AND kind = 1",
                                 NULL),
                     1);
    int64_t after = available(cleo);
    assert_true(after - before == 7 || after - before == 57); /* 57 with the welcome bonus */
}

static void test_concurrent_redemptions_never_overdraw(void **state)
{
    (void)state;
    int64_t have = available(cleo);
    assert_true(have > 0);
    /* 16 redemptions of a quarter each: exactly 4 fit. */
    int64_t quarter = have / 4;
    racer rs[16];
    char rids[16][32];
    for (int i = 0; i < 16; i++) {
        snprintf(rids[i], sizeof rids[i], "race-r-%d", i);
        rs[i] = (racer){.c = i % 2 ? fx->bakery : fuelco,
                        .rid = rids[i],
                        .member = cleo,
                        .points = quarter,
                        .kind = 1};
    }
    run_racers(rs, 16);
    int ok = 0;
    for (int i = 0; i < 16; i++) {
        if (rs[i].code == OK) {
            ok++;
        } else {
            assert_int_equal(rs[i].code, FAILED);
        }
    }
    assert_int_equal(ok, 4);
    assert_int_equal(available(cleo), have - 4 * quarter);
    assert_true(available(cleo) >= 0);
}

static void test_capture_racing_void_one_wins(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    earn(fx->bakery, &a, "hv-earn", anna, PROG, 100000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    int64_t before = available(anna);
    for (int round = 0; round < 5; round++) {
        char rid[32], crid[32], vrid[32];
        snprintf(rid, sizeof rid, "hv-hold-%d", round);
        Coalition__V1__RedeemResponse *h = redeem(fx->bakery, &a, rid, anna, 20, true, &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        assert_non_null(h->hold);
        assert_int_equal(h->balance->held_points, 20);
        snprintf(crid, sizeof crid, "hv-cap-%d", round);
        snprintf(vrid, sizeof vrid, "hv-void-%d", round);
        racer rs[2] = {
            {.c = fx->bakery, .rid = crid, .hold_id = h->hold->hold_id, .kind = 2},
            {.c = fx->bakery, .rid = vrid, .hold_id = h->hold->hold_id, .kind = 3},
        };
        run_racers(rs, 2);
        assert_true((rs[0].code == OK) != (rs[1].code == OK));
        assert_int_equal(rs[0].code == OK ? rs[1].code : rs[0].code, FAILED);
        if (rs[0].code == OK) {
            before -= 20;
        }
        assert_int_equal(available(anna), before);
    }
    /* Another partner may not touch the hold. */
    Coalition__V1__RedeemResponse *h = redeem(fx->bakery, &a, "hv-other", anna, 5, true, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    Coalition__V1__VoidHoldRequest vr = COALITION__V1__VOID_HOLD_REQUEST__INIT;
    vr.request_id = "hv-other-void";
    vr.hold_id = h->hold->hold_id;
    call(fuelco, &a, SVC "VoidHold", &vr.base, &coalition__v1__void_hold_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "another partner");
    /* Partial capture releases the rest at once. */
    Coalition__V1__CaptureHoldRequest cr = COALITION__V1__CAPTURE_HOLD_REQUEST__INIT;
    cr.request_id = "hv-other-cap";
    cr.hold_id = h->hold->hold_id;
    cr.points = 2;
    Coalition__V1__CaptureHoldResponse *c =
        (void *)call(fx->bakery, &a, SVC "CaptureHold", &cr.base,
                     &coalition__v1__capture_hold_response__descriptor, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(c->n_transfers, 2);
    assert_int_equal(c->hold->captured_points, 2);
    assert_int_equal(c->balance->held_points, 0);
    assert_int_equal(available(anna), before - 2);
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static void test_expired_hold_cannot_be_captured_and_is_released(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    int64_t before = available(anna);
    Coalition__V1__RedeemResponse *h = redeem(fx->bakery, &a, "exp-hold", anna, 7, true, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    char sql[256];
    snprintf(sql, sizeof sql,
             "WITH u AS (UPDATE points.holds SET expire_time = now() - interval '1 second'"
             " WHERE hold_id = '%s' AND status = 1 RETURNING 1) SELECT count(*) FROM u",
             h->hold->hold_id);
    assert_int_equal(it_db_count(fx->s, sql, NULL), 1);
    Coalition__V1__CaptureHoldRequest cr = COALITION__V1__CAPTURE_HOLD_REQUEST__INIT;
    cr.request_id = "exp-cap";
    cr.hold_id = h->hold->hold_id;
    call(fx->bakery, &a, SVC "CaptureHold", &cr.base,
         &coalition__v1__capture_hold_response__descriptor, &st);
    IT_EXPECT_STATUS(st, FAILED, NULL);
    /* The timer releases it within a few seconds. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM points.holds WHERE hold_id = '%s' AND status = 4",
             h->hold->hold_id);
    long long t0 = h_now_ms();
    while (it_db_count(fx->s, sql, NULL) != 1 && h_now_ms() - t0 < 10000) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(it_db_count(fx->s, sql, NULL), 1);
    assert_int_equal(available(anna), before);
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static void test_prepaid_issuer_cannot_earn_beyond_its_block(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    earn(fuelco, &a, "pre-0", ben, PREPAID, 10000000, &st);
    IT_EXPECT_STATUS(st, FAILED, "prepaid block exhausted");
    Coalition__V1__FundIssuerRequest fr = COALITION__V1__FUND_ISSUER_REQUEST__INIT;
    fr.request_id = "fund-1";
    fr.program_code = PREPAID;
    fr.partner_id = "fuelco";
    fr.points = 15;
    fr.reason = "invoice 42";
    Coalition__V1__FundIssuerResponse *f =
        (void *)call(fx->admin, &a, SVC "FundIssuer", &fr.base,
                     &coalition__v1__fund_issuer_response__descriptor, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(f->funded_points_remaining, 15);
    /* A partner may not fund itself. */
    fr.request_id = "fund-self";
    call(fuelco, &a, SVC "FundIssuer", &fr.base, &coalition__v1__fund_issuer_response__descriptor,
         &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    earn(fuelco, &a, "pre-1", ben, PREPAID, 10000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    earn(fuelco, &a, "pre-2", ben, PREPAID, 10000000, &st);
    IT_EXPECT_STATUS(st, FAILED, "5 points remaining");
    earn(fuelco, &a, "pre-3", ben, PREPAID, 5000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT balance FROM points.accounts WHERE program = 'fuel-pre'"
                                 " AND name = 'issuance:fuelco'",
                                 NULL),
                     0);
    /* Funding is billed; earns against the block are not. */
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM points.settlement_events WHERE program ="
                                 " 'fuel-pre' AND kind = 4",
                                 NULL),
                     1);
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM points.settlement_events WHERE program ="
                                 " 'fuel-pre' AND kind = 1",
                                 NULL),
                     0);
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static Coalition__V1__ExchangeResponse *exchange(co_client *c, co_arena *a, const char *rid,
                                                 const char *member, const char *from,
                                                 const char *to, int64_t points,
                                                 co_client_status *st)
{
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__ExchangeRequest req = COALITION__V1__EXCHANGE_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.from_program_code = (char *)from;
    req.to_program_code = (char *)to;
    req.points = points;
    return (void *)call(c, a, SVC "Exchange", &req.base,
                        &coalition__v1__exchange_response__descriptor, st);
}

static void test_exchange_between_programs_in_one_transaction(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    earn(fx->bakery, &a, "ex-earn", ben, PROG, 400000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    int64_t src0 = available(ben), dst0 = available_in(ben, "fuel-own");
    long long events0 =
        it_db_count(fx->s, "SELECT count(*) FROM points.settlement_events WHERE kind = 3", NULL);
    /* 100 points: a 10% fee keeps 10, the other 90 at 1/2 credit 45. */
    Coalition__V1__ExchangeResponse *r =
        exchange(fx->bakery, &a, "ex-1", ben, PROG, "fuel-own", 100, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(r->fee_points, 10);
    assert_int_equal(r->credited_points, 45);
    assert_int_equal(r->out_transfer->kind,
                     COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_EXCHANGE_OUT);
    assert_int_equal(r->in_transfer->kind, COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_EXCHANGE_IN);
    assert_string_equal(r->in_transfer->program_code, "fuel-own");
    assert_int_equal(r->from_balance->available_points, src0 - 100);
    assert_int_equal(r->to_balance->available_points, dst0 + 45);
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM points.settlement_events WHERE kind = 3 AND"
                                 " payer_partner_id = 'bakery' AND payee_partner_id = 'fuelco' AND"
                                 " points = 45 AND amount_micros = 45 * 5000",
                                 NULL),
                     1);
    assert_int_equal(
        it_db_count(fx->s, "SELECT count(*) FROM points.settlement_events WHERE kind = 3", NULL),
        events0 + 1);
    /* Bounds and the daily cap of 300 (100 used). */
    exchange(fx->bakery, &a, "ex-2", ben, PROG, "fuel-own", 9, &st);
    IT_EXPECT_STATUS(st, INV, "points");
    exchange(fx->bakery, &a, "ex-3", ben, PROG, "fuel-own", 201, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "daily");
    exchange(fx->bakery, &a, "ex-4", ben, PROG, "fuel-own", 200, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    exchange(fx->bakery, &a, "ex-5", ben, "fuel-own", "no-agreement", 10, &st);
    assert_int_not_equal(st.code, OK);
    exchange(fx->bakery, &a, "ex-6", ben, PREPAID, "fuel-own", 10, &st);
    IT_EXPECT_STATUS(st, FAILED, "no exchange agreement");
    /* The round trip: everything back at 2/1 without a fee gives 270 for the 300 spent. */
    int64_t back = available_in(ben, "fuel-own") - dst0;
    assert_int_equal(back, 45 + 90);
    r = exchange(fuelco, &a, "ex-back", ben, "fuel-own", PROG, back, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(r->credited_points, 270);
    assert_int_equal(available(ben), src0 - 30);
    assert_int_equal(available_in(ben, "fuel-own"), dst0);
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static Coalition__V1__ReverseResponse *reverse(co_client *c, co_arena *a, const char *rid,
                                               const char *transfer_id, int64_t points,
                                               co_client_status *st)
{
    Coalition__V1__ReverseRequest req = COALITION__V1__REVERSE_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.transfer_id = (char *)transfer_id;
    req.points = points;
    req.reason = "return";
    return (void *)call(c, a, SVC "Reverse", &req.base,
                        &coalition__v1__reverse_response__descriptor, st);
}

static void test_reverse_earns_and_redemptions(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    /* fuelco issues 50 points (billed to it) plus the owner's welcome bonus of 50. */
    Coalition__V1__EarnResponse *e = earn(fuelco, &a, "rv-earn", dan, PROG, 50000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->balance->available_points, 100);
    const char *tid = e->transfers[0]->transfer_id;
    reverse(fx->bakery, &a, "rv-0", tid, 20, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "another partner");
    Coalition__V1__ReverseResponse *r = reverse(fuelco, &a, "rv-1", tid, 20, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(r->n_transfers, 1);
    assert_int_equal(r->transfers[0]->kind, COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_REVERSE);
    assert_string_equal(r->transfers[0]->corrects_transfer_id, tid);
    assert_string_equal(r->transfers[0]->credit_account, "issuance:fuelco");
    assert_int_equal(r->balance->available_points, 80);
    assert_int_equal(r->balance->lifetime_earned_points, 80);
    /* the reversed part no longer qualifies, nor its share of the purchase */
    assert_int_equal(r->balance->qualifying_points, 30);
    assert_int_equal(r->balance->qualifying_spend_micros, 30000000);
    {
        Coalition__V1__MemberRef ref = by_id(dan);
        Coalition__V1__GetBalanceRequest gb = COALITION__V1__GET_BALANCE_REQUEST__INIT;
        gb.member = &ref;
        gb.program_code = PROG;
        Coalition__V1__GetBalanceResponse *g =
            (void *)call(fuelco, &a, SVC "GetBalance", &gb.base,
                         &coalition__v1__get_balance_response__descriptor, &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        assert_int_equal(g->balances[0]->qualifying_points, 30);
        assert_int_equal(g->balances[0]->qualifying_spend_micros, 30000000);
    }
    /* The issuance billed to fuelco is offset by a negative event. */
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM points.settlement_events WHERE kind = 1 AND"
                                 " points = -20 AND reverses_id IS NOT NULL AND payer_partner_id ="
                                 " 'fuelco'",
                                 NULL),
                     1);
    reverse(fuelco, &a, "rv-2", tid, 31, &st);
    IT_EXPECT_STATUS(st, INV, "30");
    r = reverse(fuelco, &a, "rv-3", tid, 0, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(r->transfers[0]->points, 30);
    assert_int_equal(r->balance->available_points, 50);
    reverse(fuelco, &a, "rv-4", tid, 0, &st);
    IT_EXPECT_STATUS(st, FAILED, "fully reversed");
    /* A redemption given back, to the same lots. */
    Coalition__V1__RedeemResponse *d = redeem(fuelco, &a, "rv-redeem", dan, 40, false, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    r = reverse(fuelco, &a, "rv-5", d->transfer->transfer_id, 0, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(r->balance->available_points, 50);
    assert_string_equal(r->transfers[0]->debit_account, "redemption:fuelco");
    /* Reversing an earn already spent leaves the member negative, and that is allowed. */
    e = earn(fx->bakery, &a, "rv-earn-2", dan, PROG, 10000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    redeem(fx->bakery, &a, "rv-spend", dan, 55, false, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    r = reverse(fx->bakery, &a, "rv-6", e->transfers[0]->transfer_id, 0, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(r->balance->available_points, -5);
    redeem(fx->bakery, &a, "rv-spend-2", dan, 1, false, &st);
    IT_EXPECT_STATUS(st, FAILED, "insufficient");
    e = earn(fx->bakery, &a, "rv-earn-3", dan, PROG, 20000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->balance->available_points, 15);
    /* Holds and exchanges are not reversible. */
    Coalition__V1__RedeemResponse *h = redeem(fx->bakery, &a, "rv-hold", dan, 5, true, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    reverse(fx->bakery, &a, "rv-7", h->transfer->transfer_id, 0, &st);
    IT_EXPECT_STATUS(st, FAILED, "cannot be reversed");
    reverse(fx->bakery, &a, "rv-8", "tr-999999999", 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "tr-999999999");
    reverse(fx->bakery, &a, "rv-9", "bogus", 0, &st);
    IT_EXPECT_STATUS(st, INV, "transfer_id");
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static Coalition__V1__ExpirePointsResponse *expire(co_client *c, co_arena *a, const char *rid,
                                                   const char *program, co_client_status *st)
{
    Coalition__V1__ExpirePointsRequest req = COALITION__V1__EXPIRE_POINTS_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.program_code = (char *)program;
    return (void *)call(c, a, SVC "ExpirePoints", &req.base,
                        &coalition__v1__expire_points_response__descriptor, st);
}

static void test_expiry_moves_expired_lots_once(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__EarnResponse *e = earn(fx->bakery, &a, "xp-1", cleo, "exp-pts", 30000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->balance->available_points, 30);
    /* Lots expire 12 months after earning: the next expiry is that lot. */
    assert_int_equal(e->balance->next_expiry_points, 30);
    assert_non_null(e->balance->next_expiry_time);
    e = earn(fx->bakery, &a, "xp-2", cleo, "exp-pts", 12000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    /* Nothing due yet. */
    Coalition__V1__ExpirePointsResponse *x = expire(fx->admin, &a, "xp-run-0", "exp-pts", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(x->expired_points, 0);
    /* The first lot's year has passed (moved back in the database). */
    assert_int_equal(it_db_count(fx->s,
                                 "WITH u AS (UPDATE points.lots l SET expire_time = now() -"
                                 " interval '1 day' FROM points.transfers t WHERE t.id ="
                                 " l.transfer_id AND t.request_id = 'xp-1' RETURNING 1)"
                                 " SELECT count(*) FROM u",
                                 NULL),
                     1);
    /* An expired lot cannot be spent even before the expiry runs. */
    Coalition__V1__MemberRef ref = by_id(cleo);
    Coalition__V1__RedeemRequest rr = COALITION__V1__REDEEM_REQUEST__INIT;
    rr.request_id = "xp-spend";
    rr.member = &ref;
    rr.program_code = "exp-pts";
    rr.points = 20;
    call(fx->bakery, &a, SVC "Redeem", &rr.base, &coalition__v1__redeem_response__descriptor, &st);
    IT_EXPECT_STATUS(st, FAILED, "expired");
    x = expire(fx->bakery, &a, "xp-run-p", "exp-pts", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    x = expire(fx->admin, &a, "xp-run-1", "exp-pts", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(x->expired_points, 30);
    assert_int_equal(x->lots_expired, 1);
    assert_int_equal(x->members_affected, 1);
    assert_int_equal(x->transfers_posted, 1);
    /* The same request replays; a new one finds nothing new. */
    x = expire(fx->admin, &a, "xp-run-1", "exp-pts", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(x->expired_points, 30);
    x = expire(fx->admin, &a, "xp-run-2", "", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(x->expired_points, 0);
    assert_int_equal(available_in(cleo, "exp-pts"), 12);
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT balance FROM points.accounts WHERE program = 'exp-pts'"
                                 " AND name = 'expiry'",
                                 NULL),
                     30);
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static Coalition__V1__EarnResponse *earn_cat(co_arena *a, const char *rid, int64_t micros,
                                             int32_t visits, const char *category,
                                             co_client_status *st)
{
    Coalition__V1__MemberRef ref = by_id(eve);
    Coalition__V1__Money amt = eur(micros);
    Coalition__V1__EarnRequest req = COALITION__V1__EARN_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.program_code = "tier-pts";
    req.amount = micros > 0 ? &amt : NULL;
    req.visits = visits;
    req.category = (char *)category;
    return (void *)call(fx->bakery, a, SVC "Earn", &req.base,
                        &coalition__v1__earn_response__descriptor, st);
}

static void test_earn_rules_tiers_campaigns_and_chance(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    /* 60 EUR of bread in the entry tier: 60, and the campaign's 60 extra + 5 flat, and a
     * 1-in-2 draw for 7 more. */
    Coalition__V1__EarnResponse *e = earn_cat(&a, "tc-1", 60000000, 0, "bread", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->earned_points, 60);
    assert_int_equal(e->n_campaign_ids, 1);
    assert_int_equal(e->n_chance_draws, 1);
    assert_int_equal(e->chance_draws[0]->one_in, 2);
    bool won = e->chance_draws[0]->won;
    assert_int_equal(e->bonus_points, 65 + (won ? 7 : 0));
    assert_int_equal(e->n_transfers, 2 + (won ? 1 : 0));
    assert_string_equal(e->balance->tier_code, "base");
    /* The same request draws the same. */
    Coalition__V1__EarnResponse *again = earn_cat(&a, "tc-1", 60000000, 0, "bread", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(again->chance_draws[0]->draw, e->chance_draws[0]->draw);
    /* Another category: no campaign. 110 qualifying points: silver at once. */
    e = earn_cat(&a, "tc-2", 50000000, 0, "", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->bonus_points, 0);
    assert_true(e->tier_changed);
    assert_string_equal(e->balance->tier_code, "silver");
    assert_int_equal(e->balance->qualifying_points, 110);
    /* Silver earns 1.5x: 10 and 5 extra; visits count too. */
    e = earn_cat(&a, "tc-3", 10000000, 0, "", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->earned_points, 10);
    assert_int_equal(e->bonus_points, 5);
    assert_string_equal(e->transfers[1]->reason, "tier-multiplier");
    e = earn_cat(&a, "tc-4", 0, 3, "", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->earned_points, 3);
    assert_int_equal(e->bonus_points, 1);
    /* Over many requests, the 1-in-2 odds hold: between 35 and 65 wins in 100. */
    int wins = 0;
    for (int i = 0; i < 100; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "tc-odds-%d", i);
        e = earn_cat(&a, rid, 2000000, 0, "bread", &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        wins += e->chance_draws[0]->won ? 1 : 0;
    }
    assert_in_range(wins, 35, 65);
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

/* Qualifying points are stored with each member (migration 0007): an earn uses the stored
 * figures while they still answer for the window, and sums the ledger again once the window has
 * moved past the oldest earn they count. VerifyLedger checks them against the ledger. */
static void test_stored_qualifying_figures_follow_the_window(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    static const char q_sql[] =
        "SELECT q_points FROM points.members WHERE program = 'tier-pts' AND member_id = $1";
    Coalition__V1__EarnResponse *e = earn_cat(&a, "qc-1", 10000000, 0, "", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    int64_t q = e->balance->qualifying_points;
    assert_true(q > 0);
    assert_int_equal(it_db_count(fx->s, q_sql, eve), q);
    /* Figures that still answer are used as stored: a wrong one shows, and VerifyLedger finds
     * it. */
    assert_int_equal(it_db_count(fx->s,
                                 "UPDATE points.members SET q_points = q_points + 1000 WHERE"
                                 " program = 'tier-pts' AND member_id = $1 RETURNING 1",
                                 eve),
                     1);
    e = earn_cat(&a, "qc-2", 10000000, 0, "", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->balance->qualifying_points, q + 1000 + 10);
    Coalition__V1__VerifyLedgerRequest vr = COALITION__V1__VERIFY_LEDGER_REQUEST__INIT;
    vr.program_code = "tier-pts";
    Coalition__V1__VerifyLedgerResponse *v =
        (void *)call(fx->admin, &a, SVC "VerifyLedger", &vr.base,
                     &coalition__v1__verify_ledger_response__descriptor, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_false(v->ok);
    assert_int_equal(v->n_violations, 1);
    assert_int_equal(v->violations[0]->check,
                     COALITION__V1__LEDGER_CHECK__LEDGER_CHECK_QUALIFYING_MATCHES_TRANSFERS);
    assert_non_null(strstr(v->violations[0]->detail, "stored "));
    /* Figures computed 400 days ago count an earn the window has left: summed again, from the
     * ledger, and stored for today's window. */
    assert_int_equal(it_db_count(fx->s,
                                 "UPDATE points.members SET q_from = q_from - interval '400 days',"
                                 " q_oldest = q_from - interval '400 days' WHERE"
                                 " program = 'tier-pts' AND member_id = $1 RETURNING 1",
                                 eve),
                     1);
    e = earn_cat(&a, "qc-3", 10000000, 0, "", &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(e->balance->qualifying_points, q + 10 + 10);
    assert_int_equal(it_db_count(fx->s, q_sql, eve), q + 20);
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM points.members WHERE program = 'tier-pts'"
                                 " AND member_id = $1 AND q_from BETWEEN now() - interval"
                                 " '366 days' AND now() - interval '364 days' AND q_oldest <="
                                 " (SELECT min(create_time) FROM points.transfers WHERE"
                                 " program = 'tier-pts' AND member_id = $1 AND kind = 1)",
                                 eve),
                     1);
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static void test_suspended_partner_reads_but_does_not_move_points(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    assert_non_null(it_set_partner_status(fx->admin, &a, "susp-fuelco", "fuelco",
                                          COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED,
                                          "unpaid invoices", &st));
    /* The gateway trusts a resolved certificate for up to COALITION_IDENTITY_CACHE_MS (5 s). */
    long long t0 = h_now_ms();
    int attempt = 0;
    do {
        /* a new request each time: one that went through before the cache expired replays */
        earn(fuelco, &a, co_arena_printf(&a, "susp-earn-%d", attempt++), anna, PROG, 1000000, &st);
        if (st.code == FAILED) {
            break;
        }
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
    } while (h_now_ms() - t0 < 8000);
    IT_EXPECT_STATUS(st, FAILED, "not active");
    redeem(fuelco, &a, "susp-redeem", anna, 1, false, &st);
    IT_EXPECT_STATUS(st, FAILED, "not active");
    assert_true(available_in(anna, PROG) >= 0); /* reads still work (as fuelco) */
    Coalition__V1__MemberRef ref = by_id(anna);
    Coalition__V1__GetBalanceRequest gb = COALITION__V1__GET_BALANCE_REQUEST__INIT;
    gb.member = &ref;
    call(fuelco, &a, SVC "GetBalance", &gb.base, &coalition__v1__get_balance_response__descriptor,
         &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_non_null(it_set_partner_status(fx->admin, &a, "unsusp-fuelco", "fuelco",
                                          COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE,
                                          "paid", &st));
    t0 = h_now_ms();
    do {
        earn(fuelco, &a, "susp-earn-2", anna, PROG, 1000000, &st);
        if (st.code == OK) {
            break;
        }
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
    } while (h_now_ms() - t0 < 8000);
    IT_EXPECT_STATUS(st, OK, NULL);
    co_arena_release(&a);
}

static Coalition__V1__RedeemRewardResponse *redeem_reward(co_client *c, co_arena *a,
                                                          const char *rid, const char *reward_id,
                                                          int32_t quantity, co_client_status *st)
{
    Coalition__V1__MemberRef ref = by_id(anna);
    Coalition__V1__RedeemRewardRequest req = COALITION__V1__REDEEM_REWARD_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.reward_id = (char *)reward_id;
    req.quantity = quantity;
    return (void *)call(c, a, SVC "RedeemReward", &req.base,
                        &coalition__v1__redeem_reward_response__descriptor, st);
}

static Coalition__V1__UseCouponResponse *use_coupon(co_client *c, co_arena *a, const char *rid,
                                                    const char *code, co_client_status *st)
{
    Coalition__V1__UseCouponRequest req = COALITION__V1__USE_COUPON_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.coupon_code = (char *)code;
    return (void *)call(c, a, SVC "UseCoupon", &req.base,
                        &coalition__v1__use_coupon_response__descriptor, st);
}

static void test_rewards_catalog_coupons_and_donations(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    earn(fx->bakery, &a, "rw-earn", anna, PROG, 200000000, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    int64_t before = available(anna);
    /* A catalog reward with a stock of 2. */
    Coalition__V1__RedeemRewardResponse *r = redeem_reward(fuelco, &a, "rw-c1", rw_catalog, 2, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(r->transfer->points, 20);
    assert_string_equal(r->transfer->credit_account, "redemption:bakery");
    assert_int_equal(r->n_coupons, 0);
    assert_int_equal(r->balance->available_points, before - 20);
    redeem_reward(fuelco, &a, "rw-c2", rw_catalog, 1, &st);
    IT_EXPECT_STATUS(st, FAILED, "out of stock");
    /* Coupons, fulfilled and accepted by fuelco only, each usable once. */
    r = redeem_reward(fx->bakery, &a, "rw-k1", rw_coupon, 2, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(r->n_coupons, 2);
    assert_int_equal(strlen(r->coupons[0]->code), 12);
    assert_string_not_equal(r->coupons[0]->code, r->coupons[1]->code);
    char code[13];
    snprintf(code, sizeof code, "%s", r->coupons[0]->code);
    use_coupon(fx->bakery, &a, "rw-u0", code, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "another partner");
    Coalition__V1__UseCouponResponse *u = use_coupon(fuelco, &a, "rw-u1", code, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(u->coupon->status, COALITION__V1__COUPON_STATUS__COUPON_STATUS_USED);
    assert_string_equal(u->coupon->used_by_partner_id, "fuelco");
    u = use_coupon(fuelco, &a, "rw-u1", code, &st); /* a repeat replays */
    IT_EXPECT_STATUS(st, OK, NULL);
    use_coupon(fuelco, &a, "rw-u2", code, &st);
    IT_EXPECT_STATUS(st, FAILED, "already used");
    for (char *p = code; *p != '\0'; p++) {
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    }
    use_coupon(fuelco, &a, "rw-u3", code, &st); /* codes are case-insensitive */
    IT_EXPECT_STATUS(st, FAILED, "already used");
    use_coupon(fuelco, &a, "rw-u4", "ZZZZZZZZZZZZ", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "coupon");
    use_coupon(fuelco, &a, "rw-u5", "short", &st);
    IT_EXPECT_STATUS(st, INV, "coupon_code");
    /* A donation pays the charity, not the fulfilling partner. */
    r = redeem_reward(fx->bakery, &a, "rw-d1", rw_donation, 1, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_string_equal(r->transfer->credit_account, "redemption:charity");
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM points.settlement_events WHERE kind = 2 AND"
                                 " payer_partner_id = 'bakery' AND payee_partner_id = 'charity'"
                                 " AND points = 7",
                                 NULL),
                     1);
    redeem_reward(fx->bakery, &a, "rw-x", "rwd-999999999999", 1, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "reward");
    redeem_reward(fx->bakery, &a, "rw-q", rw_coupon, 101, &st);
    IT_EXPECT_STATUS(st, INV, "quantity");
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static void test_settlement_outbox_is_for_the_gateway_only(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    co_client *gw = h_client(fx->s, H_POINTS, "service-gateway");
    co_client *acc = h_client(fx->s, H_POINTS, "service-accounts");
    const co_client_md self = {"coalition-role", "service"};
    Coalition__V1__ListSettlementEventsRequest lr =
        COALITION__V1__LIST_SETTLEMENT_EVENTS_REQUEST__INIT;
    lr.page_size = 2;
    ProtobufCMessage *resp = NULL;
    it_unary(gw, &a, SVC "ListSettlementEvents", &lr.base,
             &coalition__v1__list_settlement_events_response__descriptor, &self, 1, &resp, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    Coalition__V1__ListSettlementEventsResponse *l = (void *)resp;
    assert_int_equal(l->n_events, 2);
    assert_true(l->next_page_token[0] != '\0');
    assert_int_equal(l->events[0]->amount->amount_micros,
                     l->events[0]->points * l->events[0]->unit_price_micros);
    char *ids[2] = {l->events[0]->event_id, l->events[1]->event_id};
    Coalition__V1__AckSettlementEventsRequest ar =
        COALITION__V1__ACK_SETTLEMENT_EVENTS_REQUEST__INIT;
    ar.request_id = "ack-1";
    ar.event_ids = ids;
    ar.n_event_ids = 2;
    it_unary(gw, &a, SVC "AckSettlementEvents", &ar.base,
             &coalition__v1__ack_settlement_events_response__descriptor, &self, 1, &resp, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(((Coalition__V1__AckSettlementEventsResponse *)resp)->acknowledged, 2);
    /* Consuming twice changes nothing; the next listing starts after them. */
    it_unary(gw, &a, SVC "AckSettlementEvents", &ar.base,
             &coalition__v1__ack_settlement_events_response__descriptor, &self, 1, &resp, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_int_equal(((Coalition__V1__AckSettlementEventsResponse *)resp)->acknowledged, 0);
    it_unary(gw, &a, SVC "ListSettlementEvents", &lr.base,
             &coalition__v1__list_settlement_events_response__descriptor, &self, 1, &resp, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    l = (void *)resp;
    assert_string_not_equal(l->events[0]->event_id, ids[0]);
    assert_string_not_equal(l->events[0]->event_id, ids[1]);
    char *unknown[1] = {"se-999999999"};
    ar.request_id = "ack-2";
    ar.event_ids = unknown;
    ar.n_event_ids = 1;
    it_unary(gw, &a, SVC "AckSettlementEvents", &ar.base,
             &coalition__v1__ack_settlement_events_response__descriptor, &self, 1, &resp, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "unknown");
    /* Another service may not read the outbox, nor move points on its own behalf. */
    it_unary(acc, &a, SVC "ListSettlementEvents", &lr.base,
             &coalition__v1__list_settlement_events_response__descriptor, &self, 1, &resp, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "gateway");
    Coalition__V1__MemberRef ref = by_id(anna);
    Coalition__V1__Money amt = eur(1000000);
    Coalition__V1__EarnRequest er = COALITION__V1__EARN_REQUEST__INIT;
    er.request_id = "svc-earn";
    er.member = &ref;
    er.program_code = PROG;
    er.amount = &amt;
    it_unary(acc, &a, SVC "Earn", &er.base, &coalition__v1__earn_response__descriptor, &self, 1,
             &resp, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "for a partner or the admin");
    co_client_free(gw);
    co_client_free(acc);
    co_arena_release(&a);
}

static void test_hostile_inputs_get_clear_statuses(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    long long before = it_db_count(fx->s, "SELECT count(*) FROM points.transfers", NULL);
    earn(fx->bakery, &a, "h-1", anna, PROG, -5, &st);
    IT_EXPECT_STATUS(st, INV, "amount");
    earn(fx->bakery, &a, "h-2", anna, PROG, 0, &st);
    IT_EXPECT_STATUS(st, INV, "amount");
    earn(fx->bakery, &a, "h-3", anna, PROG, INT64_MAX, &st);
    IT_EXPECT_STATUS(st, INV, "amount");
    earn(fx->bakery, &a, "h-4", anna, "no-such-program", 1000000, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "no-such-program");
    earn(fx->bakery, &a, "h-5", "m00000000000000000000000000000000", PROG, 1000000, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "member");
    earn(fx->bakery, &a, "", anna, PROG, 1000000, &st);
    IT_EXPECT_STATUS(st, INV, "request_id");
    earn(fx->bakery, &a, "h-6", anna, "Bad Code", 1000000, &st);
    IT_EXPECT_STATUS(st, INV, "program_code");
    /* bakery does not take part in fuelco's own program. */
    earn(fx->bakery, &a, "h-7", anna, "fuel-own", 1000000, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "bakery");
    redeem(fx->bakery, &a, "h-8", anna, 0, false, &st);
    IT_EXPECT_STATUS(st, INV, "points");
    redeem(fx->bakery, &a, "h-9", anna, -3, false, &st);
    IT_EXPECT_STATUS(st, INV, "points");
    redeem(fx->bakery, &a, "h-10", anna, INT64_MAX, false, &st);
    IT_EXPECT_STATUS(st, INV, "points");
    Coalition__V1__MemberRef ref = by_id(anna);
    Coalition__V1__Money usd = eur(1000000);
    usd.currency = "USD";
    Coalition__V1__EarnRequest er = COALITION__V1__EARN_REQUEST__INIT;
    er.request_id = "h-11";
    er.member = &ref;
    er.program_code = PROG;
    er.amount = &usd;
    call(fx->bakery, &a, SVC "Earn", &er.base, &coalition__v1__earn_response__descriptor, &st);
    IT_EXPECT_STATUS(st, INV, "currency");
    /* References accounts refuses or does not know, resolved together with others. */
    Coalition__V1__Money one = eur(1000000);
    er.amount = &one;
    const struct {
        int kind;
        const char *value, *rid;
        grpc_status_code code;
        const char *message;
    } refs[] = {
        {COALITION__V1__MEMBER_REF__REF_PHONE, "12", "h-11a", INV, "\"member.phone\""},
        {COALITION__V1__MEMBER_REF__REF_EMAIL, "nobody.here@example.org", "h-11b",
         GRPC_STATUS_NOT_FOUND, "member not found"},
    };
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        Coalition__V1__MemberRef other = COALITION__V1__MEMBER_REF__INIT;
        other.ref_case = (Coalition__V1__MemberRef__RefCase)refs[i].kind;
        if (refs[i].kind == COALITION__V1__MEMBER_REF__REF_PHONE) {
            other.phone = (char *)refs[i].value;
        } else {
            other.email = (char *)refs[i].value;
        }
        er.member = &other;
        er.request_id = (char *)refs[i].rid;
        call(fx->bakery, &a, SVC "Earn", &er.base, &coalition__v1__earn_response__descriptor, &st);
        IT_EXPECT_STATUS(st, refs[i].code, refs[i].message);
    }
    er.member = &ref;
    Coalition__V1__CreditRequest cr = COALITION__V1__CREDIT_REQUEST__INIT;
    cr.request_id = "h-12";
    cr.member = &ref;
    cr.program_code = PROG;
    cr.kind = COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_ADJUST;
    cr.points = 10;
    cr.reason = "gift";
    call(fx->bakery, &a, SVC "Credit", &cr.base, &coalition__v1__credit_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "admin");
    cr.kind = COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_REDEEM;
    call(fx->bakery, &a, SVC "Credit", &cr.base, &coalition__v1__credit_response__descriptor, &st);
    IT_EXPECT_STATUS(st, INV, "kind");
    Coalition__V1__CaptureHoldRequest cap = COALITION__V1__CAPTURE_HOLD_REQUEST__INIT;
    cap.request_id = "h-13";
    cap.hold_id = "hd-999999999";
    call(fx->bakery, &a, SVC "CaptureHold", &cap.base,
         &coalition__v1__capture_hold_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "hold");
    cap.hold_id = "'; DROP TABLE points.transfers; --";
    call(fx->bakery, &a, SVC "CaptureHold", &cap.base,
         &coalition__v1__capture_hold_response__descriptor, &st);
    IT_EXPECT_STATUS(st, INV, "hold_id");
    /* Partners cannot read the settlement outbox, even through the gateway. */
    Coalition__V1__ListSettlementEventsRequest lr =
        COALITION__V1__LIST_SETTLEMENT_EVENTS_REQUEST__INIT;
    call(fx->bakery, &a, SVC "ListSettlementEvents", &lr.base,
         &coalition__v1__list_settlement_events_response__descriptor, &st);
    assert_int_not_equal(st.code, OK);
    assert_int_equal(it_db_count(fx->s, "SELECT count(*) FROM points.transfers", NULL), before);
    co_arena_release(&a);
}

static void test_list_transactions_pages_newest_first(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__MemberRef ref = by_id(anna);
    Coalition__V1__ListTransactionsRequest req = COALITION__V1__LIST_TRANSACTIONS_REQUEST__INIT;
    req.program_code = PROG;
    req.member = &ref;
    req.page_size = 3;
    const char *token = "";
    int64_t last = INT64_MAX;
    int seen = 0;
    for (int page = 0; page < 100; page++) {
        req.page_token = (char *)token;
        Coalition__V1__ListTransactionsResponse *r =
            (void *)call(fx->bakery, &a, SVC "ListTransactions", &req.base,
                         &coalition__v1__list_transactions_response__descriptor, &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        for (size_t i = 0; i < r->n_transfers; i++) {
            assert_true(r->transfers[i]->sequence < last);
            last = r->transfers[i]->sequence;
            assert_string_equal(r->transfers[i]->member_id, anna);
            seen++;
        }
        token = r->next_page_token;
        if (token[0] == '\0') {
            break;
        }
    }
    assert_int_equal(seen, it_db_count(fx->s,
                                       "SELECT count(*) FROM points.transfers WHERE member_id = $1"
                                       " AND program = 'bakery-pts'",
                                       anna));
    co_arena_release(&a);
}

/* Exit status of `coalition-points verify` against the stack's database. */
static int verify_command(void)
{
    setenv("COALITION_DATABASE_URL", h_service_db_url(fx->s, H_POINTS), 1);
    setenv("COALITION_LOG_LEVEL", "warn", 1);
    char *argv[] = {(char *)getenv("COALITION_POINTS_BIN"), "verify", NULL};
    assert_non_null(argv[0]);
    int rc = h_run(argv);
    unsetenv("COALITION_DATABASE_URL");
    unsetenv("COALITION_LOG_LEVEL");
    return rc;
}

static void test_verify_detects_tampering(void **state)
{
    (void)state;
    it_expect_verified(fx->admin);
    assert_int_equal(verify_command(), 0);
    /* An attacker with database access rewrites one transfer's points (bypassing the
     * append-only trigger as a superuser can). */
    PGconn *pg = PQconnectdb(h_db_url(fx->s));
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *res = PQexec(pg, "SET session_replication_role = replica;"
                               " UPDATE points.transfers SET points = points + 1 WHERE id ="
                               " (SELECT min(id) FROM points.transfers WHERE program ="
                               " 'bakery-pts')");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    assert_string_equal(PQcmdTuples(res), "1");
    PQclear(res);
    PQfinish(pg);
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__VerifyLedgerRequest req = COALITION__V1__VERIFY_LEDGER_REQUEST__INIT;
    req.program_code = PROG;
    co_client_status st;
    Coalition__V1__VerifyLedgerResponse *r =
        (void *)call(fx->admin, &a, SVC "VerifyLedger", &req.base,
                     &coalition__v1__verify_ledger_response__descriptor, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    assert_false(r->ok);
    bool chain = false, balance = false;
    for (size_t i = 0; i < r->n_violations; i++) {
        chain = chain ||
                r->violations[i]->check == COALITION__V1__LEDGER_CHECK__LEDGER_CHECK_HASH_CHAIN;
        balance =
            balance || r->violations[i]->check ==
                           COALITION__V1__LEDGER_CHECK__LEDGER_CHECK_BALANCE_MATCHES_TRANSFERS;
    }
    assert_true(chain);
    assert_true(balance);
    assert_int_equal(verify_command(), 1);
    /* A partner may not run it. */
    call(fx->bakery, &a, SVC "VerifyLedger", &req.base,
         &coalition__v1__verify_ledger_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    co_arena_release(&a);
}

/* --- fixture --- */

static void enroll(co_arena *a, const char *rid, const char *phone, char *out, size_t outlen)
{
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.phone = (char *)phone;
    Coalition__V1__EnrollMemberResponse *r =
        (void *)it_call_or_die(fx->bakery, a, "/coalition.v1.Accounts/EnrollMember", &req.base,
                               &coalition__v1__enroll_member_response__descriptor);
    snprintf(out, outlen, "%s", r->member->member_id);
}

static void program(co_arena *a, const char *code, const char *owner, bool prepaid, int64_t welcome)
{
    Coalition__V1__CreateProgramRequest req = COALITION__V1__CREATE_PROGRAM_REQUEST__INIT;
    Coalition__V1__Program p = COALITION__V1__PROGRAM__INIT;
    Coalition__V1__EarnRule er = COALITION__V1__EARN_RULE__INIT;
    Coalition__V1__Rational ppu = COALITION__V1__RATIONAL__INIT;
    ppu.num = 1;
    ppu.den = 1;
    er.points_per_unit = &ppu;
    p.code = (char *)code;
    p.name = (char *)code;
    p.owner_partner_id = (char *)owner;
    p.point_value_micros = 10000;
    p.issue_price_micros = 5000;
    p.earn_rule = &er;
    p.welcome_bonus_points = welcome;
    p.expiry_months = strcmp(code, "exp-pts") == 0 ? 12 : 0;
    p.issuing_mode = prepaid ? COALITION__V1__ISSUING_MODE__ISSUING_MODE_PREPAID
                             : COALITION__V1__ISSUING_MODE__ISSUING_MODE_POSTPAID;
    req.request_id = co_arena_printf(a, "prog-%s", code);
    req.program = &p;
    it_call_or_die(fx->admin, a, "/coalition.v1.Partners/CreateProgram", &req.base,
                   &coalition__v1__create_program_response__descriptor);
}

static void agreement(co_arena *a, const char *from, const char *to, int64_t num, int64_t den,
                      int32_t fee_bps, int64_t min, int64_t max, int64_t cap)
{
    Coalition__V1__Rational rate = COALITION__V1__RATIONAL__INIT;
    rate.num = num;
    rate.den = den;
    Coalition__V1__ExchangeAgreement ag = COALITION__V1__EXCHANGE_AGREEMENT__INIT;
    ag.from_program_code = (char *)from;
    ag.to_program_code = (char *)to;
    ag.rate = &rate;
    ag.fee_bps = fee_bps;
    ag.min_points = min;
    ag.max_points = max;
    ag.daily_cap_points = cap;
    ag.enabled = true;
    Coalition__V1__SetExchangeAgreementRequest req =
        COALITION__V1__SET_EXCHANGE_AGREEMENT_REQUEST__INIT;
    req.request_id = co_arena_printf(a, "agr-%s-%s", from, to);
    req.agreement = &ag;
    it_call_or_die(fx->admin, a, "/coalition.v1.Partners/SetExchangeAgreement", &req.base,
                   &coalition__v1__set_exchange_agreement_response__descriptor);
}

/* "tier-pts": 1 point per euro and per visit, an entry tier and silver (1.5x) from 100
 * qualifying points, and a campaign on "bread": double points, 5 flat, 1-in-2 for 7 more. */
static void tier_program(co_arena *a)
{
    Coalition__V1__Rational ppu = COALITION__V1__RATIONAL__INIT;
    ppu.num = 1;
    ppu.den = 1;
    Coalition__V1__EarnRule er = COALITION__V1__EARN_RULE__INIT;
    er.points_per_unit = &ppu;
    er.points_per_visit = 1;
    Coalition__V1__Tier t0 = COALITION__V1__TIER__INIT, t1 = COALITION__V1__TIER__INIT;
    t0.code = "base";
    t0.name = "Base";
    t0.earn_multiplier_bps = 10000;
    t1.code = "silver";
    t1.name = "Silver";
    t1.min_qualifying_points = 100;
    t1.earn_multiplier_bps = 15000;
    Coalition__V1__Tier *tiers[2] = {&t0, &t1};
    Coalition__V1__Program p = COALITION__V1__PROGRAM__INIT;
    p.code = "tier-pts";
    p.name = "Tiered";
    p.owner_partner_id = "bakery";
    p.point_value_micros = 10000;
    p.earn_rule = &er;
    p.tier_basis = COALITION__V1__TIER_BASIS__TIER_BASIS_QUALIFYING_POINTS;
    p.tiers = tiers;
    p.n_tiers = 2;
    p.issuing_mode = COALITION__V1__ISSUING_MODE__ISSUING_MODE_POSTPAID;
    Coalition__V1__CreateProgramRequest req = COALITION__V1__CREATE_PROGRAM_REQUEST__INIT;
    req.request_id = "prog-tier-pts";
    req.program = &p;
    it_call_or_die(fx->admin, a, "/coalition.v1.Partners/CreateProgram", &req.base,
                   &coalition__v1__create_program_response__descriptor);
    int64_t now = (int64_t)time(NULL);
    Google__Protobuf__Timestamp start = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Timestamp end = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    start.seconds = now - 3600;
    end.seconds = now + 7 * 86400;
    Coalition__V1__Campaign c = COALITION__V1__CAMPAIGN__INIT;
    c.program_code = "tier-pts";
    c.name = "Bread week";
    c.start_time = &start;
    c.end_time = &end;
    c.category = "bread";
    c.multiplier_bps = 20000;
    c.bonus_points = 5;
    c.chance_one_in = 2;
    c.chance_bonus_points = 7;
    Coalition__V1__CreateCampaignRequest cr = COALITION__V1__CREATE_CAMPAIGN_REQUEST__INIT;
    cr.request_id = "camp-bread";
    cr.campaign = &c;
    it_call_or_die(fx->admin, a, "/coalition.v1.Partners/CreateCampaign", &cr.base,
                   &coalition__v1__create_campaign_response__descriptor);
}

static void reward(co_arena *a, Coalition__V1__RewardKind kind, int64_t cost, const char *partner,
                   const char *charity, int64_t stock, char *out)
{
    Coalition__V1__Reward r = COALITION__V1__REWARD__INIT;
    r.program_code = PROG;
    r.kind = kind;
    r.name = "reward";
    r.points_cost = cost;
    r.partner_id = (char *)partner;
    r.charity_partner_id = (char *)charity;
    r.stock_limited = stock > 0;
    r.stock = stock;
    r.coupon_valid_days = kind == COALITION__V1__REWARD_KIND__REWARD_KIND_COUPON ? 30 : 0;
    Coalition__V1__CreateRewardRequest req = COALITION__V1__CREATE_REWARD_REQUEST__INIT;
    req.request_id = co_arena_printf(a, "rw-%d", (int)kind);
    req.reward = &r;
    Coalition__V1__CreateRewardResponse *resp =
        (void *)it_call_or_die(fx->admin, a, "/coalition.v1.Partners/CreateReward", &req.base,
                               &coalition__v1__create_reward_response__descriptor);
    snprintf(out, 32, "%s", resp->reward->reward_id);
}

static int setup(void **state)
{
    fx = it_fx_start(DBNAME);
    fx->bakery = h_client(fx->s, H_GATEWAY, "partner-bakery");
    it_register_or_die(fx->admin, "bakery", "bakery");
    it_register_or_die(fx->admin, "fuelco", "fuelco");
    it_activate_or_die(fx->admin, "bakery");
    it_activate_or_die(fx->admin, "fuelco");
    fuelco = h_client(fx->s, H_GATEWAY, "partner-fuelco");
    co_arena a;
    co_arena_init(&a, 0);
    program(&a, PROG, "bakery", false, 50);
    it_participate_or_die(fx->admin, &a, PROG, "fuelco");
    program(&a, PREPAID, "bakery", true, 0);
    it_participate_or_die(fx->admin, &a, PREPAID, "fuelco");
    program(&a, "fuel-own", "fuelco", false, 0);
    program(&a, "exp-pts", "bakery", false, 0);
    agreement(&a, PROG, "fuel-own", 1, 2, 1000, 10, 1000, 300);
    agreement(&a, "fuel-own", PROG, 2, 1, 0, 1, 0, 0);
    enroll(&a, "enroll-anna", "+4930111111", anna, sizeof anna);
    enroll(&a, "enroll-ben", "+4930222222", ben, sizeof ben);
    enroll(&a, "enroll-cleo", "+4930333333", cleo, sizeof cleo);
    enroll(&a, "enroll-dan", "+4930444444", dan, sizeof dan);
    enroll(&a, "enroll-eve", "+4930555555", eve, sizeof eve);
    tier_program(&a);
    it_register_or_die(fx->admin, "charity", "Charity");
    it_activate_or_die(fx->admin, "charity");
    it_participate_or_die(fx->admin, &a, PROG, "charity");
    reward(&a, COALITION__V1__REWARD_KIND__REWARD_KIND_CATALOG, 10, "bakery", "", 2, rw_catalog);
    reward(&a, COALITION__V1__REWARD_KIND__REWARD_KIND_COUPON, 5, "fuelco", "", 0, rw_coupon);
    reward(&a, COALITION__V1__REWARD_KIND__REWARD_KIND_DONATION, 7, "bakery", "charity", 0,
           rw_donation);
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

/* Members that points has not seen miss its cache together: they are resolved in fewer
 * calls to accounts than there are requests, and every request is still answered for its own
 * member. */
static void test_concurrent_cache_misses_share_member_lookups(void **state)
{
    (void)state;
    enum { N = 40 };
    co_arena a;
    co_arena_init(&a, 0);
    static char ids[N][64], rids[N][32];
    for (int i = 0; i < N; i++) {
        char rid[32], phone[32];
        snprintf(rid, sizeof rid, "enroll-miss-%d", i);
        snprintf(phone, sizeof phone, "+49306660%04d", i);
        enroll(&a, rid, phone, ids[i], sizeof ids[i]);
        snprintf(rids[i], sizeof rids[i], "miss-earn-%d", i);
    }
    const char *method = "/coalition.internal.v1.Members/ResolveMembers";
    long long before = it_metric_calls(fx->s, H_ACCOUNTS, method, "OK");
    racer rs[N];
    for (int i = 0; i < N; i++) {
        rs[i] = (racer){.c = fx->bakery, .rid = rids[i], .member = ids[i], .kind = 0};
    }
    run_racers(rs, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rs[i].code, OK);
        char both[128];
        snprintf(both, sizeof both, "%.31s|%.63s", rids[i], ids[i]);
        assert_int_equal(it_db_count(fx->s,
                                     "SELECT count(*) FROM points.transfers WHERE kind = 1 AND"
                                     " request_id = split_part($1, '|', 1) AND member_id ="
                                     " split_part($1, '|', 2)",
                                     both),
                         1);
    }
    long long calls = it_metric_calls(fx->s, H_ACCOUNTS, method, "OK") - before;
    printf("# %d concurrent misses resolved in %lld calls\n", N, calls);
    assert_true(calls >= 1);
    assert_true(calls < N);
    co_arena_release(&a);
}

/* An Earn whose member lookup waits behind calls to an accounts service that does not answer
 * (stopped with SIGSTOP) gives up at its own deadline, not when those calls end, and nothing
 * is written until it is retried. */
typedef struct timed_earn {
    const char *rid, *member;
    int64_t ms;
    grpc_status_code code;
} timed_earn;

static void *timed_earn_main(void *arg)
{
    timed_earn *t = arg;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__MemberRef ref = by_id(t->member);
    Coalition__V1__Money amt = eur(1000000);
    Coalition__V1__EarnRequest req = COALITION__V1__EARN_REQUEST__INIT;
    req.request_id = (char *)t->rid;
    req.member = &ref;
    req.program_code = PROG;
    req.amount = &amt;
    ProtobufCMessage *resp = NULL;
    co_client_status st = it_no_status();
    co_client_unary(fx->bakery, SVC "Earn", &req.base, &coalition__v1__earn_response__descriptor,
                    NULL, 0, t->ms, false, &a, &resp, &st);
    t->code = st.code;
    co_arena_release(&a);
    return NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_a_queued_member_lookup_ends_at_its_own_deadline(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    static char ids[4][64];
    for (int i = 0; i < 4; i++) {
        char rid[32], phone[32];
        snprintf(rid, sizeof rid, "enroll-slow-%d", i);
        snprintf(phone, sizeof phone, "+49306661%04d", i);
        enroll(&a, rid, phone, ids[i], sizeof ids[i]);
    }
    /* Two lookups with 8 s to live take both calls to accounts (points waits 5 s at most for
     * a lookup, so they end about 4.6 s after the last two start); two with 1 s queue behind. */
    timed_earn t[4] = {{"slow-0", ids[0], 8000, 0},
                       {"slow-1", ids[1], 8000, 0},
                       {"slow-2", ids[2], 1000, 0},
                       {"slow-3", ids[3], 1000, 0}};
    const char *method = "/coalition.v1.Points/Earn";
    long long before = it_metric_calls(fx->s, H_POINTS, method, "DEADLINE_EXCEEDED");
    pid_t accounts = h_pid(fx->s, H_ACCOUNTS);
    assert_int_equal(kill(accounts, SIGSTOP), 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, timed_earn_main, &t[i]), 0);
        usleep(i < 2 ? 200000 : 0);
    }
    int64_t start = now_ms();
    pthread_join(th[2], NULL);
    pthread_join(th[3], NULL);
    /* Points answers the queued two while the first two are still waiting for accounts (they
     * end after about 1 s; the 3.5 s allowed is for a loaded machine). */
    long long ended = 0;
    while (now_ms() - start < 3500 && ended < 2) {
        ended = it_metric_calls(fx->s, H_POINTS, method, "DEADLINE_EXCEEDED") - before;
        usleep(50000);
    }
    int64_t waited = now_ms() - start;
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    assert_int_equal(kill(accounts, SIGCONT), 0);
    printf("# queued lookups ended at points: %lld after %lld ms\n", ended, (long long)waited);
    assert_true(ended >= 2);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t[i].code, GRPC_STATUS_DEADLINE_EXCEEDED);
    }
    /* Nothing was written; each retry with its request_id earns once. */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(it_db_count(fx->s,
                                     "SELECT count(*) FROM points.transfers WHERE request_id = $1",
                                     t[i].rid),
                         0);
        co_client_status st;
        earn(fx->bakery, &a, t[i].rid, ids[i], PROG, 1000000, &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        assert_int_equal(it_db_count(fx->s,
                                     "SELECT count(*) FROM points.transfers WHERE kind = 1 AND"
                                     " request_id = $1",
                                     t[i].rid),
                         1);
    }
    co_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_earn_then_redeem_at_a_participant),
        cmocka_unit_test(test_repeat_replays_and_other_content_is_refused),
        cmocka_unit_test(test_fifty_concurrent_identical_earns_make_one),
        cmocka_unit_test(test_concurrent_cache_misses_share_member_lookups),
        cmocka_unit_test(test_a_queued_member_lookup_ends_at_its_own_deadline),
        cmocka_unit_test(test_concurrent_redemptions_never_overdraw),
        cmocka_unit_test(test_capture_racing_void_one_wins),
        cmocka_unit_test(test_expired_hold_cannot_be_captured_and_is_released),
        cmocka_unit_test(test_prepaid_issuer_cannot_earn_beyond_its_block),
        cmocka_unit_test(test_exchange_between_programs_in_one_transaction),
        cmocka_unit_test(test_reverse_earns_and_redemptions),
        cmocka_unit_test(test_expiry_moves_expired_lots_once),
        cmocka_unit_test(test_earn_rules_tiers_campaigns_and_chance),
        cmocka_unit_test(test_stored_qualifying_figures_follow_the_window),
        cmocka_unit_test(test_suspended_partner_reads_but_does_not_move_points),
        cmocka_unit_test(test_rewards_catalog_coupons_and_donations),
        cmocka_unit_test(test_settlement_outbox_is_for_the_gateway_only),
        cmocka_unit_test(test_hostile_inputs_get_clear_statuses),
        cmocka_unit_test(test_list_transactions_pages_newest_first),
        cmocka_unit_test(test_verify_detects_tampering),
    };
    return it_exit_code(cmocka_run_group_tests_name("points", tests, setup, teardown));
}
