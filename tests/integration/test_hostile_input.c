/* SPDX-License-Identifier: Apache-2.0 */
/* Integration tests that feed the gateway malformed, oversized and racing requests. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <grpc/grpc.h>

#include "coalition/v1/partners.pb-c.h"
#include "harness.h"
#include "itest.h"

/* Both processes run (not exited, not a zombie) and a real call goes through. */
static void assert_stack_alive(const it_fx *f)
{
    for (int p = 0; p < H_NPROC; p++) {
        pid_t pid = h_pid(f->s, (h_proc)p);
        assert_true(pid > 0);
        assert_int_equal(kill(pid, 0), 0);
        int st;
        if (waitpid(pid, &st, WNOHANG) != 0) {
            fail_msg("process %d (pid %d) has exited (status %d)", p, (int)pid, st);
        }
    }
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__GetPartnerRequest req = COALITION__V1__GET_PARTNER_REQUEST__INIT;
    req.partner_id = "operator";
    co_client_status st =
        it_call_msg(f->admin, &a, "/coalition.v1.Partners/GetPartner", &req.base, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    co_arena_release(&a);
}

/* --- tests --- */

static void test_malformed_protobuf_is_invalid_argument_and_processes_stay_up(void **state)
{
    it_fx *f = *state;
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
        bool register_only; /* malformed only where field 6 is a message */
    } rows[] = {
        {"three 0xff bytes", "\xff\xff\xff", 3, false},
        {"a truncated varint tag", "\x80", 1, false},
        {"a tag without its length", "\x0a", 1, false},
        {"a truncated length varint", "\x0a\x80", 2, false},
        {"a length past the end",
         "\x0a\x10"
         "abc",
         5, false},
        {"a huge length",
         "\x0a\xff\xff\xff\xff\x0f"
         "abc",
         9, false},
        {"a varint longer than ten bytes", "\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
         false},
        {"wire type 7", "\x0f\x00", 2, false},
        {"a truncated fixed64", "\x21\x01\x02", 3, false},
        {"a nested message cut short", "\x32\x02\x0a\x05", 4, true},
    };
    static const char *const methods[] = {
        "/coalition.v1.Partners/GetPartner",
        "/coalition.v1.Partners/RegisterPartner",
    };
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            if (rows[i].register_only && strstr(methods[m], "Register") == NULL) {
                continue;
            }
            co_client_status st =
                it_call_raw(f->admin, &a, methods[m], rows[i].bytes, rows[i].len, NULL, 0);
            if (st.code != GRPC_STATUS_INVALID_ARGUMENT) {
                fail_msg("%s with %s: expected INVALID_ARGUMENT, got %s: \"%s\"", methods[m],
                         rows[i].what, co_grpc_status_name(st.code), st.details);
            }
        }
    }
    co_arena_release(&a);
    assert_stack_alive(f);
}

static void test_invalid_utf8_in_string_field_is_invalid_argument_naming_it(void **state)
{
    it_fx *f = *state;
    static const struct {
        const char *what;
        const char *bad;
    } seqs[] = {
        {"a lone continuation byte", "ab\x80"
                                     "cd"},
        {"a truncated two-byte sequence", "ab\xc3"},
        {"an invalid second byte", "\xc3\x28"},
        {"an overlong slash", "\xc0\xaf"},
        {"a UTF-16 surrogate", "\xed\xa0\x80"},
        {"a code point past U+10FFFF", "\xf4\x90\x80\x80"},
        {"a 0xff byte", "x\xffy"},
    };
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "utf8-%zu", i);
        Coalition__V1__RegisterPartnerRequest req =
            it_register_request(rid, "utf8-co", seqs[i].bad);
        co_client_status st =
            it_call_msg(f->admin, &a, "/coalition.v1.Partners/RegisterPartner", &req.base, NULL, 0);
        if (st.code != GRPC_STATUS_INVALID_ARGUMENT || strstr(st.details, "\"name\"") == NULL) {
            fail_msg("name with %s: expected INVALID_ARGUMENT naming \"name\", got %s: \"%s\"",
                     seqs[i].what, co_grpc_status_name(st.code), st.details);
        }
        /* In a nested message the path is named. */
        Coalition__V1__Contact ct = COALITION__V1__CONTACT__INIT;
        ct.email = (char *)seqs[i].bad;
        req = it_register_request(rid, "utf8-co", "UTF-8 Co");
        req.contact = &ct;
        st =
            it_call_msg(f->admin, &a, "/coalition.v1.Partners/RegisterPartner", &req.base, NULL, 0);
        if (st.code != GRPC_STATUS_INVALID_ARGUMENT ||
            strstr(st.details, "contact.email") == NULL) {
            fail_msg("contact.email with %s: expected INVALID_ARGUMENT naming \"contact.email\", "
                     "got %s: \"%s\"",
                     seqs[i].what, co_grpc_status_name(st.code), st.details);
        }
        Coalition__V1__GetPartnerRequest get = COALITION__V1__GET_PARTNER_REQUEST__INIT;
        get.partner_id = (char *)seqs[i].bad;
        st = it_call_msg(f->admin, &a, "/coalition.v1.Partners/GetPartner", &get.base, NULL, 0);
        IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "partner_id");
    }
    co_arena_release(&a);
    assert_int_equal(it_db_count(f->s,
                                 "SELECT count(*) FROM partners.partners WHERE partner_id = $1",
                                 "utf8-co"),
                     0);
    assert_stack_alive(f);
}

static void test_nul_byte_in_string_field_is_invalid_argument_naming_it(void **state)
{
    it_fx *f = *state;
    /* RegisterPartnerRequests encoded by hand, as protobuf-c cannot pack an embedded NUL. */
    static const char name_nul[] = "\x0a\x05"
                                   "nul-1"
                                   "\x12\x06"
                                   "nul-co"
                                   "\x1a\x07"
                                   "Bak\0ery"
                                   "\x2a\x03"
                                   "EUR";
    static const char rid_nul[] = "\x0a\x07"
                                  "nul-2\0x"
                                  "\x12\x07"
                                  "nul-two"
                                  "\x1a\x03"
                                  "Nul"
                                  "\x2a\x03"
                                  "EUR";
    static const struct {
        const char *bytes;
        size_t len;
        const char *partner_id;
        const char *field;
    } rows[] = {
        {name_nul, sizeof name_nul - 1, "nul-co", "\"name\""},
        {rid_nul, sizeof rid_nul - 1, "nul-two", "\"request_id\""},
    };
    char failures[1024] = ""; /* every row is tried, then all failures are reported */
    size_t used = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        co_arena a;
        co_arena_init(&a, 0);
        co_client_status st = it_call_raw(f->admin, &a, "/coalition.v1.Partners/RegisterPartner",
                                          rows[i].bytes, rows[i].len, NULL, 0);
        grpc_status_code code = st.code;
        char details[256];
        snprintf(details, sizeof details, "%s", st.details);
        co_arena_release(&a);
        long long stored =
            it_db_count(f->s, "SELECT count(*) FROM partners.partners WHERE partner_id = $1",
                        rows[i].partner_id);
        if ((code != GRPC_STATUS_INVALID_ARGUMENT || strstr(details, rows[i].field) == NULL ||
             stored != 0) &&
            used < sizeof failures) {
            int n = snprintf(failures + used, sizeof failures - used,
                             "\n  NUL byte inside %s: expected INVALID_ARGUMENT naming it, got %s: "
                             "\"%s\" (partner rows stored: %lld)",
                             rows[i].field, co_grpc_status_name(code), details, stored);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (failures[0] != '\0') {
        fail_msg("%s", failures);
    }
}

static void test_message_over_1_mib_is_resource_exhausted_and_stack_stays_up(void **state)
{
    it_fx *f = *state;
    size_t n = (size_t)1100 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'n', n);
    big[n] = '\0';
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__RegisterPartnerRequest req = it_register_request("big-1", "big-co", big);
    co_client_status st =
        it_call_msg(f->admin, &a, "/coalition.v1.Partners/RegisterPartner", &req.base, NULL, 0);
    assert_int_not_equal(st.code, GRPC_STATUS_OK);
    IT_EXPECT_STATUS(st, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL);

    /* Just under the limit it reaches the service, which refuses the name. */
    big[1000 * 1000] = '\0';
    req = it_register_request("big-2", "big-co", big);
    st = it_call_msg(f->admin, &a, "/coalition.v1.Partners/RegisterPartner", &req.base, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "name");
    co_arena_release(&a);
    free(big);
    assert_stack_alive(f);
    assert_int_equal(
        it_db_count(f->s, "SELECT count(*) FROM partners.partners WHERE partner_id = $1", "big-co"),
        0);
}

static void test_empty_register_partner_is_invalid_argument_naming_request_id(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st =
        it_call_raw(f->admin, &a, "/coalition.v1.Partners/RegisterPartner", "", 0, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "request_id");
    st = it_call_raw(f->admin, &a, "/coalition.v1.Partners/SetPartnerStatus", "", 0, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "request_id");
    /* Only a request id: the next missing field is named. */
    Coalition__V1__RegisterPartnerRequest req = it_register_request("empty-1", "", "");
    req.settlement_currency = "";
    st = it_call_msg(f->admin, &a, "/coalition.v1.Partners/RegisterPartner", &req.base, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "partner_id");
    co_arena_release(&a);
}

static void test_unknown_enum_value_is_invalid_argument(void **state)
{
    it_fx *f = *state;
    static const int bad[] = {99, -1, 4, 0};
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "enum-%zu", i);
        Coalition__V1__SetPartnerStatusRequest req =
            COALITION__V1__SET_PARTNER_STATUS_REQUEST__INIT;
        req.request_id = rid;
        req.partner_id = "bakery";
        req.status = (Coalition__V1__PartnerStatus)bad[i];
        co_client_status st = it_call_msg(f->admin, &a, "/coalition.v1.Partners/SetPartnerStatus",
                                          &req.base, NULL, 0);
        if (st.code != GRPC_STATUS_INVALID_ARGUMENT || strstr(st.details, "status") == NULL) {
            fail_msg("SetPartnerStatus.status = %d: expected INVALID_ARGUMENT naming \"status\", "
                     "got %s: \"%s\"",
                     bad[i], co_grpc_status_name(st.code), st.details);
        }
        if (bad[i] == 0) {
            continue; /* UNSPECIFIED is a valid filter for ListPartners */
        }
        Coalition__V1__ListPartnersRequest list = COALITION__V1__LIST_PARTNERS_REQUEST__INIT;
        list.status = (Coalition__V1__PartnerStatus)bad[i];
        st = it_call_msg(f->admin, &a, "/coalition.v1.Partners/ListPartners", &list.base, NULL, 0);
        if (st.code != GRPC_STATUS_INVALID_ARGUMENT || strstr(st.details, "status") == NULL) {
            fail_msg("ListPartners.status = %d: expected INVALID_ARGUMENT naming \"status\", "
                     "got %s: \"%s\"",
                     bad[i], co_grpc_status_name(st.code), st.details);
        }
    }
    co_arena_release(&a);
    /* The bakery's status did not change. */
    assert_int_equal(it_db_count(f->s,
                                 "SELECT count(*) FROM partners.partners WHERE partner_id = $1 AND "
                                 "status = 1",
                                 "bakery"),
                     1);
}

static void test_negative_or_too_large_page_size_is_invalid_argument(void **state)
{
    it_fx *f = *state;
    static const int32_t bad[] = {-1, -50, INT32_MIN, 501, INT32_MAX};
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Coalition__V1__ListPartnersRequest list = COALITION__V1__LIST_PARTNERS_REQUEST__INIT;
        list.page_size = bad[i];
        co_client_status st =
            it_call_msg(f->admin, &a, "/coalition.v1.Partners/ListPartners", &list.base, NULL, 0);
        if (st.code != GRPC_STATUS_INVALID_ARGUMENT || strstr(st.details, "page_size") == NULL) {
            fail_msg("page_size %d: expected INVALID_ARGUMENT naming \"page_size\", got %s: \"%s\"",
                     (int)bad[i], co_grpc_status_name(st.code), st.details);
        }
    }
    /* Hostile page tokens are refused the same way. */
    char *huge = co_arena_alloc(&a, 5001);
    assert_non_null(huge);
    memset(huge, 'a', 5000);
    huge[5000] = '\0';
    const char *tokens[] = {"zz", "abc", "00", huge, "7061727478"};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        Coalition__V1__ListPartnersRequest list = COALITION__V1__LIST_PARTNERS_REQUEST__INIT;
        list.page_token = (char *)tokens[i];
        co_client_status st =
            it_call_msg(f->admin, &a, "/coalition.v1.Partners/ListPartners", &list.base, NULL, 0);
        IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "page_token");
    }
    co_arena_release(&a);
}

/* --- concurrency --- */

#define RACERS 64

typedef struct racer {
    co_client *c;
    const uint8_t *req;
    size_t req_len;
    pthread_barrier_t *go;
    grpc_status_code code;
    char details[256];
    uint8_t *resp; /* malloc'd copy */
    size_t resp_len;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    co_arena a;
    co_arena_init(&a, 0);
    pthread_barrier_wait(r->go);
    uint8_t *resp = NULL;
    size_t rlen = 0;
    co_client_status st = {GRPC_STATUS_UNKNOWN, ""};
    co_client_unary_raw(r->c, "/coalition.v1.Partners/RegisterPartner", r->req, r->req_len, NULL, 0,
                        15000, false, &a, &resp, &rlen, &st);
    r->code = st.code;
    snprintf(r->details, sizeof r->details, "%s", st.details);
    if (st.code == GRPC_STATUS_OK) {
        r->resp = malloc(rlen + 1);
        if (r->resp != NULL) {
            memcpy(r->resp, resp, rlen);
            r->resp_len = rlen;
        }
    }
    co_arena_release(&a);
    return NULL;
}

/* Runs n racers sending reqs[i % nreq] at once; results in rs. */
static void run_racers(co_client *c, racer *rs, int n, uint8_t *const *reqs, const size_t *lens,
                       int nreq)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    pthread_t th[RACERS];
    for (int i = 0; i < n; i++) {
        rs[i] = (racer){.c = c, .req = reqs[i % nreq], .req_len = lens[i % nreq], .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&go);
}

static void test_64_concurrent_identical_registrations_create_one_partner(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__RegisterPartnerRequest req =
        it_register_request("race-1", "race-co", "Race Condition Ltd");
    size_t len;
    uint8_t *bytes = it_pack(&a, &req.base, &len);
    racer *rs = calloc(RACERS, sizeof *rs);
    assert_non_null(rs);
    run_racers(f->admin, rs, RACERS, &bytes, &len, 1);
    int bad = -1;
    for (int i = 0; i < RACERS; i++) {
        if (rs[i].code != GRPC_STATUS_OK || rs[i].resp == NULL ||
            rs[i].resp_len != rs[0].resp_len ||
            memcmp(rs[i].resp, rs[0].resp, rs[0].resp_len) != 0) {
            bad = i;
            break;
        }
    }
    grpc_status_code bad_code = bad >= 0 ? rs[bad].code : GRPC_STATUS_OK;
    char bad_details[256];
    snprintf(bad_details, sizeof bad_details, "%s", bad >= 0 ? rs[bad].details : "");
    for (int i = 0; i < RACERS; i++) {
        free(rs[i].resp);
    }
    free(rs);
    if (bad >= 0) {
        fail_msg("racer %d: expected OK with the same response as racer 0, got %s: \"%s\"", bad,
                 co_grpc_status_name(bad_code), bad_details);
    }
    assert_int_equal(it_db_count(f->s,
                                 "SELECT count(*) FROM partners.partners WHERE partner_id = $1",
                                 "race-co"),
                     1);
    assert_int_equal(
        it_db_count(f->s,
                    "SELECT count(*) FROM partners.idempotency WHERE request_id = $1 AND "
                    "status = 0",
                    "race-1"),
        1);
    assert_int_equal(it_db_count(f->s,
                                 "SELECT count(*) FROM partners.idempotency WHERE request_id = $1",
                                 "race-1"),
                     1);
    co_arena_release(&a);
    assert_stack_alive(f);
}

static void test_concurrent_registrations_of_one_partner_with_distinct_keys_create_one(void **state)
{
    it_fx *f = *state;
    enum { N = 16 };
    co_arena a;
    co_arena_init(&a, 0);
    uint8_t *reqs[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        char *rid = co_arena_printf(&a, "duel-%d", i);
        assert_non_null(rid);
        Coalition__V1__RegisterPartnerRequest req = it_register_request(rid, "duel-co", "Duel Co");
        reqs[i] = it_pack(&a, &req.base, &lens[i]);
    }
    racer rs[N];
    run_racers(f->admin, rs, N, reqs, lens, N);
    int ok = 0, exists = 0;
    char other[300] = "";
    for (int i = 0; i < N; i++) {
        if (rs[i].code == GRPC_STATUS_OK) {
            ok++;
        } else if (rs[i].code == GRPC_STATUS_ALREADY_EXISTS) {
            exists++;
        } else {
            snprintf(other, sizeof other, "%s: %s", co_grpc_status_name(rs[i].code), rs[i].details);
        }
        free(rs[i].resp);
    }
    if (ok != 1 || exists != N - 1) {
        fail_msg("expected 1 OK and %d ALREADY_EXISTS, got %d and %d (other: \"%s\")", N - 1, ok,
                 exists, other);
    }
    assert_int_equal(it_db_count(f->s,
                                 "SELECT count(*) FROM partners.partners WHERE partner_id = $1",
                                 "duel-co"),
                     1);
    /* Every outcome, the refusals included, is recorded for replay. */
    assert_int_equal(
        it_db_count(f->s, "SELECT count(*) FROM partners.idempotency WHERE request_id LIKE $1",
                    "duel-%"),
        N);
    co_arena_release(&a);
}

/* --- fixture --- */

static int setup(void **state)
{
    it_fx *f = it_fx_start("it_hostile_input");
    it_register_or_die(f->admin, "bakery", "Bakery");
    *state = f;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_protobuf_is_invalid_argument_and_processes_stay_up),
        cmocka_unit_test(test_invalid_utf8_in_string_field_is_invalid_argument_naming_it),
        cmocka_unit_test(test_nul_byte_in_string_field_is_invalid_argument_naming_it),
        cmocka_unit_test(test_message_over_1_mib_is_resource_exhausted_and_stack_stays_up),
        cmocka_unit_test(test_empty_register_partner_is_invalid_argument_naming_request_id),
        cmocka_unit_test(test_unknown_enum_value_is_invalid_argument),
        cmocka_unit_test(test_negative_or_too_large_page_size_is_invalid_argument),
        cmocka_unit_test(test_64_concurrent_identical_registrations_create_one_partner),
        cmocka_unit_test(
            test_concurrent_registrations_of_one_partner_with_distinct_keys_create_one),
    };
    int failed = cmocka_run_group_tests(tests, setup, it_teardown);
    return it_exit_code(failed);
}
