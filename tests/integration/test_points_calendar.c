/* SPDX-License-Identifier: Apache-2.0 */
/* The points service's calendar, end to end: tier history, the downgrade of at most one tier
 * at the anniversary of the last change, and birthday bonuses once a year in the program's
 * time zone, paid by the timer from the accounts service's birthdays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "coalition/internal/v1/members.pb-c.h"
#include "coalition/v1/accounts.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "process.h"
#include "itest.h"

#define DBNAME "it_points_calendar"
#define SVC    "/coalition.v1.Points/"
#define TIERS  "cal-tiers"
#define BDAY   "cal-bday"
#define OK     GRPC_STATUS_OK

static it_fx *fx;
/* The birthday program's time zone, "Etc/GMT+N", chosen so that it is about noon there: the
 * test does not straddle a local midnight. offset_h: local time = UTC - offset_h. */
static char zone[32];
static int offset_h;

static Coalition__V1__MemberRef by_id(const char *id)
{
    Coalition__V1__MemberRef r = COALITION__V1__MEMBER_REF__INIT;
    r.ref_case = COALITION__V1__MEMBER_REF__REF_MEMBER_ID;
    r.member_id = (char *)id;
    return r;
}

/* Enrolls a member with a phone and, if month > 0, a birth date in 1990 (1992 for 29 Feb). */
static void enroll(co_arena *a, const char *phone, int month, int day, char out[64])
{
    Coalition__V1__Date birth = COALITION__V1__DATE__INIT;
    birth.year = month == 2 && day == 29 ? 1992 : 1990;
    birth.month = month;
    birth.day = day;
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = co_arena_printf(a, "enroll-%s", phone);
    req.phone = (char *)phone;
    req.birth_date = month > 0 ? &birth : NULL;
    Coalition__V1__EnrollMemberResponse *r =
        (void *)it_call_or_die(fx->bakery, a, "/coalition.v1.Accounts/EnrollMember", &req.base,
                               &coalition__v1__enroll_member_response__descriptor);
    snprintf(out, 64, "%s", r->member->member_id);
}

static Coalition__V1__EarnResponse *earn(co_arena *a, const char *rid, const char *member,
                                         const char *program, int64_t euros)
{
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__Money amt = COALITION__V1__MONEY__INIT;
    amt.amount_micros = euros * 1000000;
    amt.currency = "EUR";
    Coalition__V1__EarnRequest req = COALITION__V1__EARN_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.program_code = (char *)program;
    req.amount = &amt;
    return (void *)it_call_or_die(fx->bakery, a, SVC "Earn", &req.base,
                                  &coalition__v1__earn_response__descriptor);
}

static void reverse(co_arena *a, const char *rid, const char *transfer_id)
{
    Coalition__V1__ReverseRequest req = COALITION__V1__REVERSE_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.transfer_id = (char *)transfer_id;
    req.reason = "return";
    it_call_or_die(fx->bakery, a, SVC "Reverse", &req.base,
                   &coalition__v1__reverse_response__descriptor);
}

static const Coalition__V1__Balance *balance(co_arena *a, const char *member, const char *program)
{
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__GetBalanceRequest req = COALITION__V1__GET_BALANCE_REQUEST__INIT;
    req.member = &ref;
    req.program_code = (char *)program;
    Coalition__V1__GetBalanceResponse *r =
        (void *)it_call_or_die(fx->bakery, a, SVC "GetBalance", &req.base,
                               &coalition__v1__get_balance_response__descriptor);
    assert_int_equal(r->n_balances, 1);
    return r->balances[0];
}

/* Polls until member's tier in TIERS is want (at most 10 s); its final tier. */
static const char *wait_tier(co_arena *a, const char *member, const char *want)
{
    const char *tier = "";
    for (int i = 0; i < 100; i++) {
        tier = balance(a, member, TIERS)->tier_code;
        if (strcmp(tier, want) == 0) {
            break;
        }
        usleep(100000);
    }
    return tier;
}

/* Makes member's tier review due now, as if its anniversary had come: the only write the test
 * makes past the API, to a column that is not the ledger. */
static void anniversary(const char *member)
{
    assert_int_equal(it_db_count(fx->s,
                                 "WITH u AS (UPDATE points.members SET tier_review_time = now() -"
                                 " interval '1 second' WHERE program = 'cal-tiers' AND member_id ="
                                 " $1 RETURNING 1) SELECT count(*) FROM u",
                                 member),
                     1);
}

static long long tier_changes(const char *member, const char *what)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM points.tier_changes WHERE member_id = $1 AND %s", what);
    return it_db_count(fx->s, sql, member);
}

/* --- tests --- */

static void test_upgrades_at_once_and_downgrades_one_tier_at_the_anniversary(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char tom[64];
    enroll(&a, "+4931000001", 0, 0, tom);
    /* 120 points: silver at once; 200 more: gold at once. */
    Coalition__V1__EarnResponse *e1 = earn(&a, "t-e1", tom, TIERS, 120);
    assert_true(e1->tier_changed);
    assert_string_equal(e1->balance->tier_code, "silver");
    Coalition__V1__EarnResponse *e2 = earn(&a, "t-e2", tom, TIERS, 200);
    assert_true(e2->tier_changed);
    assert_string_equal(e2->balance->tier_code, "gold");
    assert_int_equal(tier_changes(tom, "upgrade AND from_tier = 'base' AND to_tier = 'silver'"), 1);
    assert_int_equal(tier_changes(tom, "upgrade AND from_tier = 'silver' AND to_tier = 'gold'"), 1);
    /* Both purchases returned: nothing qualifies any more, but gold stays until the
     * anniversary. */
    reverse(&a, "t-r1", e1->transfers[0]->transfer_id);
    reverse(&a, "t-r2", e2->transfers[0]->transfer_id);
    const Coalition__V1__Balance *b = balance(&a, tom, TIERS);
    assert_int_equal(b->qualifying_points, 0);
    assert_string_equal(b->tier_code, "gold");
    sleep(1); /* a few timer rounds: nothing is due yet */
    assert_string_equal(balance(&a, tom, TIERS)->tier_code, "gold");
    /* The anniversary: one tier down only, though the member qualifies for the entry tier. */
    anniversary(tom);
    assert_string_equal(wait_tier(&a, tom, "silver"), "silver");
    assert_int_equal(tier_changes(tom, "NOT upgrade AND from_tier = 'gold' AND to_tier = 'silver'"),
                     1);
    assert_int_equal(
        it_db_count(
            fx->s,
            "SELECT count(*) FROM points.members WHERE member_id = $1 AND"
            " tier_review_time BETWEEN tier_since + interval '364 days' AND"
            " tier_since + interval '366 days' AND tier_since > now() - interval '1 minute'",
            tom),
        1);
    sleep(1);
    assert_string_equal(balance(&a, tom, TIERS)->tier_code, "silver"); /* not again before */
    /* The next anniversary: the entry tier, which is never reviewed. */
    anniversary(tom);
    assert_string_equal(wait_tier(&a, tom, "base"), "base");
    assert_int_equal(tier_changes(tom, "NOT upgrade"), 2);
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM points.members WHERE member_id = $1 AND"
                                 " tier_review_time IS NULL",
                                 tom),
                     1);
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static void test_a_member_who_still_qualifies_keeps_the_tier_a_year_more(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char uma[64];
    enroll(&a, "+4931000002", 0, 0, uma);
    earn(&a, "u-e1", uma, TIERS, 150);
    assert_string_equal(balance(&a, uma, TIERS)->tier_code, "silver");
    anniversary(uma);
    /* Reviewed: the next review is about a year after the one that came due. */
    bool moved = false;
    for (int i = 0; i < 100 && !moved; i++) {
        moved = it_db_count(fx->s,
                            "SELECT count(*) FROM points.members WHERE member_id = $1 AND"
                            " tier_review_time > now() + interval '364 days'",
                            uma) == 1;
        if (!moved) {
            usleep(100000);
        }
    }
    assert_true(moved);
    assert_string_equal(balance(&a, uma, TIERS)->tier_code, "silver");
    assert_int_equal(tier_changes(uma, "NOT upgrade"), 0);
    co_arena_release(&a);
}

/* month/day of today plus days_ahead in the birthday program's zone. */
static void local_day(int days_ahead, int *month, int *day)
{
    time_t t = time(NULL) - (time_t)offset_h * 3600 + (time_t)days_ahead * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    *month = tm.tm_mon + 1;
    *day = tm.tm_mday;
}

static long long birthday_bonuses(const char *member)
{
    return it_db_count(fx->s,
                       "SELECT count(*) FROM points.transfers WHERE program = 'cal-bday' AND"
                       " member_id = $1 AND kind = 2 AND reason = 'birthday' AND points = 25",
                       member);
}

static void test_birthday_bonus_once_a_year_in_the_program_time_zone(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    int m, d, tm_m, tm_d;
    local_day(0, &m, &d);
    local_day(1, &tm_m, &tm_d);
    char bea[64], carl[64], dora[64];
    enroll(&a, "+4931000003", m, d, bea);        /* born today, there */
    enroll(&a, "+4931000004", tm_m, tm_d, carl); /* born tomorrow */
    enroll(&a, "+4931000005", m, d, dora);       /* born today, no account in the program */
    earn(&a, "b-e1", bea, BDAY, 3);
    earn(&a, "b-e2", carl, BDAY, 4);
    int64_t got = 0;
    for (int i = 0; i < 100 && got != 28; i++) {
        got = balance(&a, bea, BDAY)->available_points;
        if (got != 28) {
            usleep(100000);
        }
    }
    assert_int_equal(got, 3 + 25);
    assert_int_equal(birthday_bonuses(bea), 1);
    assert_int_equal(balance(&a, carl, BDAY)->available_points, 4);
    assert_int_equal(birthday_bonuses(carl), 0);
    assert_int_equal(
        it_db_count(fx->s, "SELECT count(*) FROM points.members WHERE member_id = $1", dora), 0);
    /* A restart forgets which days were done: the sweep runs again and pays nothing twice. */
    assert_true(h_proc_stop(fx->s, H_POINTS));
    h_proc_restart(fx->s, H_POINTS);
    sleep(2);
    assert_int_equal(birthday_bonuses(bea), 1);
    assert_int_equal(balance(&a, bea, BDAY)->available_points, 28);
    it_expect_verified(fx->admin);
    co_arena_release(&a);
}

static void test_list_birthdays_is_internal_and_checks_its_input(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__Internal__V1__ListBirthdaysRequest req =
        COALITION__INTERNAL__V1__LIST_BIRTHDAYS_REQUEST__INIT;
    req.month = 2;
    req.day = 29;
    co_client_status st;
    ProtobufCMessage *resp = NULL;
    /* Not through the gateway, */
    it_unary(fx->admin, &a, "/coalition.internal.v1.Members/ListBirthdays", &req.base,
             &coalition__internal__v1__list_birthdays_response__descriptor, NULL, 0, &resp, &st);
    assert_int_equal(st.code, GRPC_STATUS_UNIMPLEMENTED);
    /* nor for a partner's certificate at the accounts service itself, */
    co_client *direct = h_client(fx->s, H_ACCOUNTS, "partner-bakery");
    it_unary(direct, &a, "/coalition.internal.v1.Members/ListBirthdays", &req.base,
             &coalition__internal__v1__list_birthdays_response__descriptor, NULL, 0, &resp, &st);
    assert_true(st.code == GRPC_STATUS_PERMISSION_DENIED || st.code == GRPC_STATUS_UNAUTHENTICATED);
    co_client_free(direct);
    /* but for the points service's, which gets clear refusals for impossible days. */
    co_client *svc = h_client(fx->s, H_ACCOUNTS, "service-points");
    const co_client_md md = {CO_MD_ROLE, "service"};
    req.month = 2;
    req.day = 30;
    it_unary(svc, &a, "/coalition.internal.v1.Members/ListBirthdays", &req.base,
             &coalition__internal__v1__list_birthdays_response__descriptor, &md, 1, &resp, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "day");
    req.month = 13;
    it_unary(svc, &a, "/coalition.internal.v1.Members/ListBirthdays", &req.base,
             &coalition__internal__v1__list_birthdays_response__descriptor, &md, 1, &resp, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "month");
    req.month = 2;
    req.day = 29;
    req.after_member_id = "m'; DROP TABLE x";
    it_unary(svc, &a, "/coalition.internal.v1.Members/ListBirthdays", &req.base,
             &coalition__internal__v1__list_birthdays_response__descriptor, &md, 1, &resp, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "after_member_id");
    /* Paging: three members born on 29 February, two per page. */
    char x[3][64];
    enroll(&a, "+4931000011", 2, 29, x[0]);
    enroll(&a, "+4931000012", 2, 29, x[1]);
    enroll(&a, "+4931000013", 2, 29, x[2]);
    req.after_member_id = "";
    req.page_size = 2;
    size_t seen = 0;
    for (int page = 0; page < 3; page++) {
        it_unary(svc, &a, "/coalition.internal.v1.Members/ListBirthdays", &req.base,
                 &coalition__internal__v1__list_birthdays_response__descriptor, &md, 1, &resp, &st);
        IT_EXPECT_STATUS(st, OK, NULL);
        const Coalition__Internal__V1__ListBirthdaysResponse *r = (const void *)resp;
        seen += r->n_member_ids;
        if (!r->more) {
            break;
        }
        assert_int_equal(r->n_member_ids, 2);
        req.after_member_id = co_arena_strdup(&a, r->member_ids[1]);
    }
    assert_int_equal(seen, 3);
    co_client_free(svc);
    co_arena_release(&a);
}

/* --- fixture --- */

static void create_program(co_arena *a, Coalition__V1__Program *p)
{
    Coalition__V1__Rational ppu = COALITION__V1__RATIONAL__INIT;
    ppu.num = 1;
    ppu.den = 1;
    Coalition__V1__EarnRule er = COALITION__V1__EARN_RULE__INIT;
    er.points_per_unit = &ppu;
    p->name = p->code;
    p->owner_partner_id = "bakery";
    p->point_value_micros = 10000;
    p->earn_rule = &er;
    p->issuing_mode = COALITION__V1__ISSUING_MODE__ISSUING_MODE_POSTPAID;
    Coalition__V1__CreateProgramRequest req = COALITION__V1__CREATE_PROGRAM_REQUEST__INIT;
    req.request_id = co_arena_printf(a, "prog-%s", p->code);
    req.program = p;
    it_call_or_die(fx->admin, a, "/coalition.v1.Partners/CreateProgram", &req.base,
                   &coalition__v1__create_program_response__descriptor);
}

static int setup(void **state)
{
    /* the timer's calendar work every 200 ms instead of every minute */
    h_set_env(H_POINTS, "COALITION_POINTS_EXPIRY_INTERVAL_MS=200");
    fx = it_fx_start(DBNAME);
    fx->bakery = h_client(fx->s, H_GATEWAY, "partner-bakery");
    it_register_or_die(fx->admin, "bakery", "bakery");
    it_activate_or_die(fx->admin, "bakery");
    co_arena a;
    co_arena_init(&a, 0);
    /* base, silver from 100 and gold from 300 qualifying points (no multipliers: points are
     * the euros spent) */
    Coalition__V1__Tier t[3] = {COALITION__V1__TIER__INIT, COALITION__V1__TIER__INIT,
                                COALITION__V1__TIER__INIT};
    const char *codes[3] = {"base", "silver", "gold"};
    int64_t need[3] = {0, 100, 300};
    Coalition__V1__Tier *tiers[3];
    for (int i = 0; i < 3; i++) {
        t[i].code = (char *)codes[i];
        t[i].name = (char *)codes[i];
        t[i].min_qualifying_points = need[i];
        t[i].earn_multiplier_bps = 10000;
        tiers[i] = &t[i];
    }
    Coalition__V1__Program tp = COALITION__V1__PROGRAM__INIT;
    tp.code = TIERS;
    tp.tier_basis = COALITION__V1__TIER_BASIS__TIER_BASIS_QUALIFYING_POINTS;
    tp.tiers = tiers;
    tp.n_tiers = 3;
    create_program(&a, &tp);
    /* local noon: Etc/GMT+N is N hours behind UTC */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    offset_h = tm.tm_hour - 12;
    snprintf(zone, sizeof zone, "Etc/GMT%+d", offset_h);
    if (offset_h == 0) {
        snprintf(zone, sizeof zone, "Etc/GMT");
    }
    Coalition__V1__Program bp = COALITION__V1__PROGRAM__INIT;
    bp.code = BDAY;
    bp.birthday_bonus_points = 25;
    bp.time_zone = zone;
    create_program(&a, &bp);
    co_arena_release(&a);
    *state = fx;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upgrades_at_once_and_downgrades_one_tier_at_the_anniversary),
        cmocka_unit_test(test_a_member_who_still_qualifies_keeps_the_tier_a_year_more),
        cmocka_unit_test(test_birthday_bonus_once_a_year_in_the_program_time_zone),
        cmocka_unit_test(test_list_birthdays_is_internal_and_checks_its_input),
    };
    return it_exit_code(cmocka_run_group_tests_name("points calendar", tests, setup, it_teardown));
}
