/* SPDX-License-Identifier: Apache-2.0 */
/* Accounts.ExportMember with the points part, end to end: accounts asks the points service's
 * internal Ledger.ExportMember and embeds its document; never a partial export. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "coalition/internal/v1/ledger.pb-c.h"
#include "coalition/v1/accounts.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "itest.h"

#define DBNAME "it_export"
#define PTS    "/coalition.v1.Points/"
#define LEDGER "/coalition.internal.v1.Ledger/ExportMember"
#define BAKE   "bake-pts" /* owned by bakery; points expire after 12 months */
#define FUEL   "fuel-pts" /* owned by fuelco; points never expire */

static it_fx *fx;
static co_client *fuelco;
static char member[64], stranger[64], rw_coupon[32];

/* What the set-up did to member, as the services answered it. */
static struct {
    char earn1[32], earn2[32], hold[32], hold_tr[32], reward_tr[32], coupon[16];
    char fuel_earn[32], fuel_hold[32], fuel_void[32];
} did;

/* --- calls --- */

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

/* Accounts.ExportMember of member id, parsed; NULL with *st telling why. */
static json_t *export_json(co_client *c, co_arena *a, const char *id, co_client_status *st)
{
    Coalition__V1__MemberRef ref = by_id(id);
    Coalition__V1__ExportMemberRequest req = COALITION__V1__EXPORT_MEMBER_REQUEST__INIT;
    req.member = &ref;
    Coalition__V1__ExportMemberResponse *r =
        (void *)call(c, a, "/coalition.v1.Accounts/ExportMember", &req.base,
                     &coalition__v1__export_member_response__descriptor, st);
    if (r == NULL) {
        return NULL;
    }
    assert_string_equal(r->content_type, "application/json");
    json_error_t err;
    json_t *doc = json_loads(r->json, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL) {
        fail_msg("export is not JSON: %s", err.text);
    }
    return doc;
}

/* Ledger.ExportMember straight to the points service with nmd metadata md. */
static co_client_status ledger_call(co_client *c, co_arena *a, const char *id,
                                    const co_client_md *md, size_t nmd, char **json)
{
    Coalition__Internal__V1__ExportMemberLedgerRequest req =
        COALITION__INTERNAL__V1__EXPORT_MEMBER_LEDGER_REQUEST__INIT;
    req.member_id = (char *)id;
    ProtobufCMessage *resp = NULL;
    co_client_status st;
    it_unary(c, a, LEDGER, &req.base,
             &coalition__internal__v1__export_member_ledger_response__descriptor, md, nmd, &resp,
             &st);
    if (json != NULL) {
        *json = resp != NULL ? ((Coalition__Internal__V1__ExportMemberLedgerResponse *)resp)->json
                             : NULL;
    }
    return st;
}

/* --- reading the document --- */

/* The value at a path of object keys and array indexes ("points/programs/0/lots"), which
 * must exist. */
static json_t *at(json_t *root, const char *path)
{
    json_t *v = root;
    for (const char *p = path; *p != '\0';) {
        size_t n = strcspn(p, "/");
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        v = json_is_array(v) ? json_array_get(v, strtoul(key, NULL, 10)) : json_object_get(v, key);
        if (v == NULL) {
            fail_msg("export has no \"%s\" (at \"%s\")", path, key);
        }
        p += n + (p[n] == '/');
    }
    return v;
}

static long long int_at(json_t *root, const char *path)
{
    json_t *v = at(root, path);
    if (!json_is_integer(v)) {
        fail_msg("export \"%s\" is not an integer", path);
    }
    return json_integer_value(v);
}

static const char *str_at(json_t *root, const char *path)
{
    json_t *v = at(root, path);
    if (!json_is_string(v)) {
        fail_msg("export \"%s\" is not a string", path);
    }
    return json_string_value(v);
}

static size_t len_at(json_t *root, const char *path)
{
    json_t *v = at(root, path);
    if (!json_is_array(v)) {
        fail_msg("export \"%s\" is not an array", path);
    }
    return json_array_size(v);
}

/* An RFC 3339 UTC time with microseconds: "2025-01-02T03:04:05.123456Z". */
static void assert_time(json_t *root, const char *path)
{
    const char *s = str_at(root, path);
    if (strlen(s) != 27 || s[4] != '-' || s[10] != 'T' || s[19] != '.' || s[26] != 'Z') {
        fail_msg("export \"%s\" is \"%s\", not an RFC 3339 UTC time", path, s);
    }
}

static void assert_null_at(json_t *root, const char *path)
{
    if (!json_is_null(at(root, path))) {
        fail_msg("export \"%s\" is not null", path);
    }
}

/* --- tests --- */

static void test_export_holds_every_ledger_record_of_the_member(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    json_t *doc = export_json(fx->admin, &a, member, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(str_at(doc, "member_id"), member);
    assert_string_equal(str_at(doc, "accounts/profile/member_id"), member);
    assert_string_equal(str_at(doc, "points/member_id"), member);
    assert_int_equal(len_at(doc, "points/programs"), 2);

    /* bake-pts: earned 100 and 50; a hold of 30 (active) and a coupon of 5 took from the
     * first lot (soonest expiry, then oldest). */
    json_t *b = at(doc, "points/programs/0");
    assert_string_equal(str_at(b, "program_code"), BAKE);
    assert_int_equal(int_at(b, "balance/available_points"), 115);
    assert_int_equal(int_at(b, "balance/held_points"), 30);
    assert_int_equal(int_at(b, "balance/lifetime_earned_points"), 150);
    assert_time(b, "balance/first_earn_time");
    assert_int_equal(len_at(b, "lots"), 2);
    assert_string_equal(str_at(b, "lots/0/transfer_id"), did.earn1);
    assert_int_equal(int_at(b, "lots/0/points"), 100);
    assert_int_equal(int_at(b, "lots/0/remaining_points"), 65);
    assert_time(b, "lots/0/expire_time");
    assert_string_equal(str_at(b, "lots/1/transfer_id"), did.earn2);
    assert_int_equal(int_at(b, "lots/1/points"), 50);
    assert_int_equal(int_at(b, "lots/1/remaining_points"), 50);
    assert_int_equal(len_at(b, "holds"), 1);
    assert_string_equal(str_at(b, "holds/0/hold_id"), did.hold);
    assert_string_equal(str_at(b, "holds/0/status"), "active");
    assert_string_equal(str_at(b, "holds/0/partner_id"), "bakery");
    assert_int_equal(int_at(b, "holds/0/points"), 30);
    assert_int_equal(int_at(b, "holds/0/captured_points"), 0);
    assert_string_equal(str_at(b, "holds/0/transfer_id"), did.hold_tr);
    assert_time(b, "holds/0/expire_time");
    assert_null_at(b, "holds/0/close_time");
    static const char *const bake_kinds[] = {"earn", "earn", "hold", "redeem"};
    static const long long bake_points[] = {100, 50, 30, 5};
    static const long long bake_after[] = {100, 150, 120, 115};
    const char *bake_ids[] = {did.earn1, did.earn2, did.hold_tr, did.reward_tr};
    assert_int_equal(len_at(b, "transfers"), 4);
    for (int i = 0; i < 4; i++) {
        json_t *t = json_array_get(at(b, "transfers"), (size_t)i);
        assert_string_equal(str_at(t, "transfer_id"), bake_ids[i]);
        assert_string_equal(str_at(t, "kind"), bake_kinds[i]);
        assert_int_equal(int_at(t, "points"), bake_points[i]);
        assert_int_equal(int_at(t, "member_balance_after"), bake_after[i]);
        assert_time(t, "create_time");
    }
    assert_int_equal(int_at(b, "transfers/0/purchase_amount/amount_micros"), 100000000);
    assert_string_equal(str_at(b, "transfers/0/purchase_amount/currency"), "EUR");
    assert_string_equal(str_at(b, "transfers/0/credit_account"),
                        co_arena_printf(&a, "member:%s", member));
    assert_string_equal(str_at(b, "transfers/0/request_id"), "x-earn-1");
    assert_string_equal(str_at(b, "transfers/0/metadata/till"), "7");
    assert_string_equal(str_at(b, "transfers/2/hold_id"), did.hold);
    assert_null_at(b, "transfers/3/purchase_amount");
    assert_int_equal(len_at(b, "coupons"), 1);
    assert_string_equal(str_at(b, "coupons/0/code"), did.coupon);
    assert_string_equal(str_at(b, "coupons/0/status"), "issued");
    assert_string_equal(str_at(b, "coupons/0/reward_id"), rw_coupon);
    assert_string_equal(str_at(b, "coupons/0/redeem_transfer_id"), did.reward_tr);
    assert_null_at(b, "coupons/0/use_time");
    assert_int_equal(len_at(b, "tier_changes"), 0);

    /* fuel-pts: earned 20, a hold of 8 voided: every point back in the one lot. */
    json_t *f = at(doc, "points/programs/1");
    assert_string_equal(str_at(f, "program_code"), FUEL);
    assert_int_equal(int_at(f, "balance/available_points"), 20);
    assert_int_equal(int_at(f, "balance/held_points"), 0);
    assert_int_equal(int_at(f, "balance/lifetime_earned_points"), 20);
    assert_int_equal(len_at(f, "lots"), 1);
    assert_int_equal(int_at(f, "lots/0/remaining_points"), 20);
    assert_null_at(f, "lots/0/expire_time");
    assert_int_equal(len_at(f, "holds"), 1);
    assert_string_equal(str_at(f, "holds/0/hold_id"), did.fuel_hold);
    assert_string_equal(str_at(f, "holds/0/status"), "voided");
    assert_time(f, "holds/0/close_time");
    static const char *const fuel_kinds[] = {"earn", "hold", "void"};
    const char *fuel_ids[] = {did.fuel_earn, NULL, did.fuel_void};
    assert_int_equal(len_at(f, "transfers"), 3);
    for (int i = 0; i < 3; i++) {
        json_t *t = json_array_get(at(f, "transfers"), (size_t)i);
        assert_string_equal(str_at(t, "kind"), fuel_kinds[i]);
        assert_int_equal(int_at(t, "points"), i == 0 ? 20 : 8);
        if (fuel_ids[i] != NULL) {
            assert_string_equal(str_at(t, "transfer_id"), fuel_ids[i]);
        }
    }
    assert_int_equal(len_at(f, "coupons"), 0);
    json_decref(doc);
    co_arena_release(&a);
}

static void test_member_the_ledger_never_saw_has_no_programs(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    json_t *doc = export_json(fx->admin, &a, stranger, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(str_at(doc, "points/member_id"), stranger);
    assert_int_equal(len_at(doc, "points/programs"), 0);
    assert_string_equal(str_at(doc, "accounts/profile/member_id"), stranger);
    json_decref(doc);
    co_arena_release(&a);
}

static void test_export_is_for_the_admin_only(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    /* bakery enrolled the member and holds its points: still not the admin. */
    assert_null(export_json(fx->bakery, &a, member, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "admin");
    assert_null(export_json(fuelco, &a, member, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "admin");
    co_arena_release(&a);
}

static void test_ledger_export_is_for_the_accounts_service_only(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    const co_client_md svc = {"coalition-role", "service"};
    const co_client_md admin = {"coalition-role", "admin"};
    /* A partner's certificate straight to the points service. */
    co_client *bakery = h_client(fx->s, H_POINTS, "partner-bakery");
    co_client_status st = ledger_call(bakery, &a, member, &svc, 1, NULL);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "only coalition services");
    /* The gateway, as itself or forwarding for the admin: not the accounts service. */
    co_client *gw = h_client(fx->s, H_POINTS, "service-gateway");
    st = ledger_call(gw, &a, member, &svc, 1, NULL);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "accounts service only");
    st = ledger_call(gw, &a, member, &admin, 1, NULL);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "accounts service only");
    /* The accounts service acting for the admin is not acting on its own behalf. */
    co_client *acc = h_client(fx->s, H_POINTS, "service-accounts");
    st = ledger_call(acc, &a, member, &admin, 1, NULL);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "accounts service only");
    char *json = NULL;
    st = ledger_call(acc, &a, member, &svc, 1, &json);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(strstr(json, did.coupon));
    /* Through the gateway the internal method does not exist, for the admin too. */
    st = ledger_call(fx->admin, &a, member, NULL, 0, NULL);
    IT_EXPECT_STATUS(st, GRPC_STATUS_UNIMPLEMENTED, NULL);
    st = ledger_call(fx->bakery, &a, member, NULL, 0, NULL);
    IT_EXPECT_STATUS(st, GRPC_STATUS_UNIMPLEMENTED, NULL);
    co_client_free(bakery);
    co_client_free(gw);
    co_client_free(acc);
    co_arena_release(&a);
}

static void test_ledger_export_refuses_malformed_member_ids(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    const co_client_md svc = {"coalition-role", "service"};
    co_client *acc = h_client(fx->s, H_POINTS, "service-accounts");
    static char huge[20000];
    memset(huge, 'a', sizeof huge - 1);
    huge[0] = 'm';
    const char *bad[] = {"",
                         "m",
                         "nope",
                         "M0123456789abcdef0123456789abcdef",
                         "m0123456789ABCDEF0123456789abcdef",
                         "m0123456789abcdef0123456789abcdeg",
                         "m0123456789abcdef0123456789abcdef0",
                         "m0123456789abcdef0123456789abcde",
                         "m0123456789abcdef\xc3\xa4"
                         "123456789abcde",
                         "m0123456789abcdef0123456789abcde'",
                         huge};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        co_client_status st = ledger_call(acc, &a, bad[i], &svc, 1, NULL);
        IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "member_id");
    }
    /* A well-formed id nobody has: an empty export, not an error. */
    char *json = NULL;
    co_client_status st = ledger_call(acc, &a, "m0123456789abcdef0123456789abcdef", &svc, 1, &json);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(json, "{\"member_id\":\"m0123456789abcdef0123456789abcdef\","
                              "\"programs\":[]}");
    co_client_free(acc);
    co_arena_release(&a);
}

static void test_points_service_down_makes_export_unavailable(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    assert_true(h_proc_stop(fx->s, H_POINTS));
    assert_null(export_json(fx->admin, &a, member, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_UNAVAILABLE, "points service");
    /* Nothing partial: the accounts part alone is never answered. */
    assert_null(export_json(fx->admin, &a, stranger, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_UNAVAILABLE, "points service");
    /* UNAVAILABLE is retryable: once points is back (and the accounts service's channel has
     * reconnected, after gRPC's reconnect backoff), the same export succeeds. */
    h_proc_restart(fx->s, H_POINTS);
    json_t *doc = NULL;
    for (long long t0 = h_now_ms(); doc == NULL && h_now_ms() - t0 < 15000;) {
        if ((doc = export_json(fx->admin, &a, member, &st)) == NULL) {
            IT_EXPECT_STATUS(st, GRPC_STATUS_UNAVAILABLE, "points service");
            struct timespec pause = {0, 200000000};
            nanosleep(&pause, NULL);
        }
    }
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(len_at(doc, "points/programs"), 2);
    json_decref(doc);
    co_arena_release(&a);
}

/* --- fixture --- */

static void program(co_arena *a, const char *code, const char *owner, int32_t expiry_months)
{
    Coalition__V1__Rational ppu = COALITION__V1__RATIONAL__INIT;
    ppu.num = 1;
    ppu.den = 1;
    Coalition__V1__EarnRule er = COALITION__V1__EARN_RULE__INIT;
    er.points_per_unit = &ppu;
    Coalition__V1__Program p = COALITION__V1__PROGRAM__INIT;
    p.code = (char *)code;
    p.name = (char *)code;
    p.owner_partner_id = (char *)owner;
    p.point_value_micros = 10000;
    p.issue_price_micros = 5000;
    p.earn_rule = &er;
    p.expiry_months = expiry_months;
    p.issuing_mode = COALITION__V1__ISSUING_MODE__ISSUING_MODE_POSTPAID;
    Coalition__V1__CreateProgramRequest req = COALITION__V1__CREATE_PROGRAM_REQUEST__INIT;
    req.request_id = co_arena_printf(a, "prog-%s", code);
    req.program = &p;
    it_call_or_die(fx->admin, a, "/coalition.v1.Partners/CreateProgram", &req.base,
                   &coalition__v1__create_program_response__descriptor);
}

static void coupon_reward(co_arena *a)
{
    Coalition__V1__Reward r = COALITION__V1__REWARD__INIT;
    r.program_code = BAKE;
    r.kind = COALITION__V1__REWARD_KIND__REWARD_KIND_COUPON;
    r.name = "coffee";
    r.points_cost = 5;
    r.partner_id = "bakery";
    r.coupon_valid_days = 30;
    Coalition__V1__CreateRewardRequest req = COALITION__V1__CREATE_REWARD_REQUEST__INIT;
    req.request_id = "rw-coffee";
    req.reward = &r;
    Coalition__V1__CreateRewardResponse *resp =
        (void *)it_call_or_die(fx->admin, a, "/coalition.v1.Partners/CreateReward", &req.base,
                               &coalition__v1__create_reward_response__descriptor);
    snprintf(rw_coupon, sizeof rw_coupon, "%s", resp->reward->reward_id);
}

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

/* Earn of micros by c in program; the EARN transfer's id into out. */
static void earn(co_client *c, co_arena *a, const char *rid, const char *program, int64_t micros,
                 char out[32])
{
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__Money amt = COALITION__V1__MONEY__INIT;
    amt.amount_micros = micros;
    amt.currency = "EUR";
    Coalition__V1__EarnRequest__MetadataEntry till =
        COALITION__V1__EARN_REQUEST__METADATA_ENTRY__INIT;
    till.key = "till";
    till.value = "7";
    Coalition__V1__EarnRequest__MetadataEntry *meta[1] = {&till};
    Coalition__V1__EarnRequest req = COALITION__V1__EARN_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.program_code = (char *)program;
    req.amount = &amt;
    req.metadata = meta;
    req.n_metadata = 1;
    Coalition__V1__EarnResponse *r = (void *)it_call_or_die(
        c, a, PTS "Earn", &req.base, &coalition__v1__earn_response__descriptor);
    snprintf(out, 32, "%s", r->transfers[0]->transfer_id);
}

/* A hold of points by c in program; its hold id and HOLD transfer id into hold and tr. */
static void hold(co_client *c, co_arena *a, const char *rid, const char *program, int64_t points,
                 char hold_id[32], char tr[32])
{
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__RedeemRequest req = COALITION__V1__REDEEM_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.program_code = (char *)program;
    req.points = points;
    req.hold = true;
    Coalition__V1__RedeemResponse *r = (void *)it_call_or_die(
        c, a, PTS "Redeem", &req.base, &coalition__v1__redeem_response__descriptor);
    snprintf(hold_id, 32, "%s", r->hold->hold_id);
    snprintf(tr, 32, "%s", r->transfer->transfer_id);
}

/* What the tests find: member earns, holds and gets a coupon in bake-pts; earns and voids a
 * hold in fuel-pts. stranger is enrolled but never touches points. */
static void ledger_history(co_arena *a)
{
    earn(fx->bakery, a, "x-earn-1", BAKE, 100000000, did.earn1);
    earn(fx->bakery, a, "x-earn-2", BAKE, 50000000, did.earn2);
    hold(fx->bakery, a, "x-hold-1", BAKE, 30, did.hold, did.hold_tr);
    Coalition__V1__MemberRef ref = by_id(member);
    Coalition__V1__RedeemRewardRequest rr = COALITION__V1__REDEEM_REWARD_REQUEST__INIT;
    rr.request_id = "x-reward-1";
    rr.member = &ref;
    rr.reward_id = rw_coupon;
    Coalition__V1__RedeemRewardResponse *rw =
        (void *)it_call_or_die(fx->bakery, a, PTS "RedeemReward", &rr.base,
                               &coalition__v1__redeem_reward_response__descriptor);
    snprintf(did.reward_tr, sizeof did.reward_tr, "%s", rw->transfer->transfer_id);
    snprintf(did.coupon, sizeof did.coupon, "%s", rw->coupons[0]->code);
    earn(fuelco, a, "x-fuel-earn", FUEL, 20000000, did.fuel_earn);
    char tr[32];
    hold(fuelco, a, "x-fuel-hold", FUEL, 8, did.fuel_hold, tr);
    Coalition__V1__VoidHoldRequest vr = COALITION__V1__VOID_HOLD_REQUEST__INIT;
    vr.request_id = "x-fuel-void";
    vr.hold_id = did.fuel_hold;
    Coalition__V1__VoidHoldResponse *v = (void *)it_call_or_die(
        fuelco, a, PTS "VoidHold", &vr.base, &coalition__v1__void_hold_response__descriptor);
    snprintf(did.fuel_void, sizeof did.fuel_void, "%s", v->transfer->transfer_id);
}

static int setup(void **state)
{
    fx = it_fx_start(DBNAME);
    it_register_or_die(fx->admin, "bakery", "bakery");
    it_register_or_die(fx->admin, "fuelco", "fuelco");
    it_activate_or_die(fx->admin, "bakery");
    it_activate_or_die(fx->admin, "fuelco");
    /* the partners' first calls come after their activation: no stale PENDING in the cache */
    fx->bakery = h_client(fx->s, H_GATEWAY, "partner-bakery");
    fuelco = h_client(fx->s, H_GATEWAY, "partner-fuelco");
    co_arena a;
    co_arena_init(&a, 0);
    program(&a, BAKE, "bakery", 12);
    program(&a, FUEL, "fuelco", 0);
    coupon_reward(&a);
    enroll(&a, "enroll-member", "+4930600000001", member, sizeof member);
    enroll(&a, "enroll-stranger", "+4930600000002", stranger, sizeof stranger);
    ledger_history(&a);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_holds_every_ledger_record_of_the_member),
        cmocka_unit_test(test_member_the_ledger_never_saw_has_no_programs),
        cmocka_unit_test(test_export_is_for_the_admin_only),
        cmocka_unit_test(test_ledger_export_is_for_the_accounts_service_only),
        cmocka_unit_test(test_ledger_export_refuses_malformed_member_ids),
        cmocka_unit_test(test_points_service_down_makes_export_unavailable),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return it_exit_code(failed);
}
