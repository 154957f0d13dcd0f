/* SPDX-License-Identifier: Apache-2.0 */
/* Accounts end to end through the gateway over mTLS: members, lookups, erasure, keys, logs. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "coalition/internal/v1/directory.pb-c.h"
#include "coalition/internal/v1/members.pb-c.h"
#include "coalition/v1/accounts.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "itest.h"
#include "process.h"

#define DBNAME "it_accounts"
#define SVC    "/coalition.v1.Accounts/"

extern char **environ;

/* Plaintext personal data the tests use; none may appear in the database or the logs. */
#define ANNA_PHONE  "+493012345601"
#define ANNA_EMAIL  "anna.secret@example.org"
#define ANNA_NAME   "Anna Geheimnis"
#define ERASE_NAME  "Erika Vergessen"
#define ERASE_PHONE "+493099887766"
#define ERASE_EMAIL "erika.forget@example.org"
#define ERASE_BIRTH "1987-06-05"
#define CONC_PHONE  "+4930555000111"

static it_fx *fx;
static co_client *fuelco; /* "partner-fuelco" */

/* --- calls --- */

/* method must be a string literal: the gRPC client keeps the path slice as static memory. */
static ProtobufCMessage *call(co_client *c, co_arena *a, const char *method,
                              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *out,
                              co_client_status *st)
{
    ProtobufCMessage *resp = NULL;
    if (it_unary(c, a, method, req, out, NULL, 0, &resp, st) != CO_OK) {
        return NULL;
    }
    return resp;
}

static Coalition__V1__Member *enroll(co_client *c, co_arena *a,
                                     const Coalition__V1__EnrollMemberRequest *req,
                                     co_client_status *st)
{
    Coalition__V1__EnrollMemberResponse *r =
        (void *)call(c, a, SVC "EnrollMember", &req->base,
                     &coalition__v1__enroll_member_response__descriptor, st);
    return r != NULL ? r->member : NULL;
}

static Coalition__V1__GetMemberResponse *
get_ref(co_client *c, co_arena *a, const Coalition__V1__MemberRef *ref, co_client_status *st)
{
    Coalition__V1__GetMemberRequest req = COALITION__V1__GET_MEMBER_REQUEST__INIT;
    req.member = (Coalition__V1__MemberRef *)ref;
    return (void *)call(c, a, SVC "GetMember", &req.base,
                        &coalition__v1__get_member_response__descriptor, st);
}

static Coalition__V1__MemberRef ref_of(int kind, const char *value)
{
    Coalition__V1__MemberRef r = COALITION__V1__MEMBER_REF__INIT;
    r.ref_case = (Coalition__V1__MemberRef__RefCase)kind;
    switch (kind) {
    case COALITION__V1__MEMBER_REF__REF_MEMBER_ID:
        r.member_id = (char *)value;
        break;
    case COALITION__V1__MEMBER_REF__REF_CARD_NUMBER:
        r.card_number = (char *)value;
        break;
    case COALITION__V1__MEMBER_REF__REF_PHONE:
        r.phone = (char *)value;
        break;
    case COALITION__V1__MEMBER_REF__REF_EMAIL:
        r.email = (char *)value;
        break;
    case COALITION__V1__MEMBER_REF__REF_QR_TOKEN:
        r.qr_token = (char *)value;
        break;
    default:
        break;
    }
    return r;
}

static Coalition__V1__Member *get_by(co_client *c, co_arena *a, int kind, const char *value,
                                     co_client_status *st)
{
    Coalition__V1__MemberRef ref = ref_of(kind, value);
    Coalition__V1__GetMemberResponse *r = get_ref(c, a, &ref, st);
    return r != NULL ? r->member : NULL;
}

static bool luhn_ok(const char *s)
{
    int sum = 0;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        int d = s[n - 1 - i] - '0';
        if (i % 2 == 1) {
            d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        }
        sum += d;
    }
    return n == 16 && sum % 10 == 0;
}

/* A valid card number that was never assigned (prefix 5 avoids the coalition's 6370). */
static void make_card(char out[17], unsigned seed)
{
    snprintf(out, 17, "5%014u", seed);
    int sum = 0;
    for (int i = 14; i >= 0; i--) {
        int d = out[i] - '0';
        if ((14 - i) % 2 == 0) {
            d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        }
        sum += d;
    }
    out[15] = (char)('0' + (10 - sum % 10) % 10);
    out[16] = '\0';
}

/* --- EnrollMember --- */

static void test_enroll_assigns_card_qr_and_normalizes_identifiers(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = "enroll-anna";
    req.phone = "+49 30 1234-5601";
    req.email = "  Anna.Secret@Example.ORG ";
    req.display_name = ANNA_NAME;
    req.locale = "de-DE";
    Coalition__V1__Member *m = enroll(fx->bakery, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(m);
    assert_true(m->member_id[0] != '\0' && strlen(m->member_id) <= 64);
    assert_true(luhn_ok(m->card_number));
    assert_memory_equal(m->card_number, "6370", 4);
    assert_true(strlen(m->qr_token) >= 32 && strlen(m->qr_token) <= 128);
    assert_string_equal(m->phone, ANNA_PHONE);
    assert_string_equal(m->email, ANNA_EMAIL);
    assert_string_equal(m->display_name, ANNA_NAME);
    assert_string_equal(m->locale, "de-DE");
    assert_string_equal(m->enrolled_by_partner_id, "bakery");
    assert_int_equal(m->status, COALITION__V1__MEMBER_STATUS__MEMBER_STATUS_ACTIVE);
    assert_non_null(m->create_time);
    co_arena_release(&a);
}

static void test_enroll_anonymous_card_and_preprinted_card(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = "enroll-anon";
    Coalition__V1__Member *m = enroll(fx->bakery, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(m->phone, "");
    char card[17], spaced[24];
    make_card(card, 4242);
    snprintf(spaced, sizeof spaced, "%.4s %.4s %.4s %.4s", card, card + 4, card + 8, card + 12);
    req.request_id = "enroll-preprinted";
    req.card_number = spaced;
    m = enroll(fx->bakery, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(m->card_number, card);
    /* The same card again: taken. */
    req.request_id = "enroll-preprinted-again";
    req.card_number = card;
    assert_null(enroll(fuelco, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "card_number");
    co_arena_release(&a);
}

typedef struct enroll_row {
    const char *name;
    const char *request_id, *phone, *email, *display_name, *locale, *card;
    int by, bm, bd; /* birth date; by 0 = unset */
    int purpose;    /* a consent purpose; 0 = none */
    const char *needle;
} enroll_row;

static void test_enroll_validation_table(void **state)
{
    (void)state;
    static char long_name[210], long_email[270];
    memset(long_name, 'x', 201);
    snprintf(long_email, sizeof long_email, "%.250s@example.org",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    static const enroll_row rows[] = {
        {"empty request id", "", NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, "request_id"},
        {"request id with space", "a b", NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, "request_id"},
        {"phone without plus", "v1", "4930123456", NULL, NULL, NULL, NULL, 0, 0, 0, 0, "phone"},
        {"phone too short", "v2", "+49301", NULL, NULL, NULL, NULL, 0, 0, 0, 0, "phone"},
        {"phone with letters", "v3", "+49abc123456", NULL, NULL, NULL, NULL, 0, 0, 0, 0, "phone"},
        {"phone too long", "v4", "+4930123456789012", NULL, NULL, NULL, NULL, 0, 0, 0, 0, "phone"},
        {"email without at", "v5", NULL, "anna.example.org", NULL, NULL, NULL, 0, 0, 0, 0, "email"},
        {"email without domain dot", "v6", NULL, "anna@example", NULL, NULL, NULL, 0, 0, 0, 0,
         "email"},
        {"email too long", "v7", NULL, long_email, NULL, NULL, NULL, 0, 0, 0, 0, "email"},
        {"name too long", "v8", NULL, NULL, long_name, NULL, NULL, 0, 0, 0, 0, "display_name"},
        {"locale with underscore", "v9", NULL, NULL, NULL, "de_DE", NULL, 0, 0, 0, 0, "locale"},
        {"card with bad check digit", "v10", NULL, NULL, NULL, NULL, "4111111111111112", 0, 0, 0, 0,
         "card_number"},
        {"card too short", "v11", NULL, NULL, NULL, NULL, "411111111111", 0, 0, 0, 0,
         "card_number"},
        {"birth before 1900", "v12", NULL, NULL, NULL, NULL, NULL, 1899, 12, 31, 0, "birth_date"},
        {"birth in the future", "v13", NULL, NULL, NULL, NULL, NULL, 2999, 1, 1, 0, "birth_date"},
        {"birth 30 february", "v14", NULL, NULL, NULL, NULL, NULL, 1990, 2, 30, 0, "birth_date"},
        {"birth 29 february of 1900", "v15", NULL, NULL, NULL, NULL, NULL, 1900, 2, 29, 0,
         "birth_date"},
        {"birth month 13", "v16", NULL, NULL, NULL, NULL, NULL, 1990, 13, 1, 0, "birth_date"},
        {"unknown consent purpose", "v17", NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 99, "consents"},
        {"unspecified consent purpose", "v18", NULL, NULL, NULL, NULL, NULL, 0, 0, 0, -1,
         "consents"},
    };
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const enroll_row *r = &rows[i];
        Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
        Coalition__V1__Date d = COALITION__V1__DATE__INIT;
        Coalition__V1__Consent c = COALITION__V1__CONSENT__INIT;
        Coalition__V1__Consent *cs[1] = {&c};
        req.request_id = (char *)r->request_id;
        req.phone = (char *)(r->phone != NULL ? r->phone : "");
        req.email = (char *)(r->email != NULL ? r->email : "");
        req.display_name = (char *)(r->display_name != NULL ? r->display_name : "");
        req.locale = (char *)(r->locale != NULL ? r->locale : "");
        req.card_number = (char *)(r->card != NULL ? r->card : "");
        if (r->by != 0) {
            d.year = r->by;
            d.month = r->bm;
            d.day = r->bd;
            req.birth_date = &d;
        }
        if (r->purpose != 0) {
            c.purpose = (Coalition__V1__ConsentPurpose)(r->purpose < 0 ? 0 : r->purpose);
            c.granted = true;
            req.consents = cs;
            req.n_consents = 1;
        }
        co_client_status st;
        if (enroll(fx->bakery, &a, &req, &st) != NULL || st.code != GRPC_STATUS_INVALID_ARGUMENT ||
            strstr(st.details, r->needle) == NULL) {
            fail_msg("%s: expected INVALID_ARGUMENT naming \"%s\", got %s: \"%s\"", r->name,
                     r->needle, co_grpc_status_name(st.code), st.details);
        }
    }
    /* Two consents of one purpose. */
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    Coalition__V1__Consent c1 = COALITION__V1__CONSENT__INIT, c2 = COALITION__V1__CONSENT__INIT;
    c1.purpose = c2.purpose = COALITION__V1__CONSENT_PURPOSE__CONSENT_PURPOSE_PROFILING;
    Coalition__V1__Consent *cs[2] = {&c1, &c2};
    req.request_id = "v-dup-consent";
    req.consents = cs;
    req.n_consents = 2;
    co_client_status st;
    assert_null(enroll(fx->bakery, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "consents");
    co_arena_release(&a);
}

static void test_enroll_second_member_with_same_phone_or_email_is_refused(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = "dup-phone";
    req.phone = "0049 30 12345601"; /* Anna's phone, written another way */
    assert_null(enroll(fuelco, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "phone");
    assert_null(strstr(st.details, "12345601"));
    req.request_id = "dup-email";
    req.phone = "";
    req.email = "ANNA.SECRET@example.org";
    assert_null(enroll(fuelco, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "email");
    assert_null(strstr(st.details, "anna"));
    co_arena_release(&a);
}

static void test_enroll_is_idempotent(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = "idem-enroll";
    req.phone = "+4930700000001";
    req.display_name = "Idem Potent";
    Coalition__V1__Member *m1 = enroll(fx->bakery, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    Coalition__V1__Member *m2 = enroll(fx->bakery, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(m1->member_id, m2->member_id);
    assert_string_equal(m1->card_number, m2->card_number);
    assert_string_equal(m2->phone, "+4930700000001");
    /* The same request id from another partner is another request. */
    Coalition__V1__Member *m3 = enroll(fuelco, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "phone");
    assert_null(m3);
    /* Reused with other content: ALREADY_EXISTS. */
    req.display_name = "Other Content";
    assert_null(enroll(fx->bakery, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, NULL);
    /* A failure replays as it was. */
    req.display_name = "Idem Potent";
    req.request_id = "idem-enroll-fails";
    req.phone = ANNA_PHONE;
    assert_null(enroll(fx->bakery, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "phone");
    assert_null(enroll(fx->bakery, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "phone");
    co_arena_release(&a);
}

/* --- concurrency --- */

#define CONC_N 16

typedef struct conc_arg {
    int i;
    pthread_barrier_t *barrier;
    grpc_status_code code;
    char member_id[80];
} conc_arg;

static void *conc_enroll(void *p)
{
    conc_arg *ca = p;
    co_client *c = h_client(fx->s, H_GATEWAY, ca->i % 2 ? "partner-bakery" : "partner-fuelco");
    co_arena a;
    co_arena_init(&a, 0);
    char rid[32];
    snprintf(rid, sizeof rid, "conc-%d", ca->i);
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = rid;
    req.phone = CONC_PHONE;
    co_client_status st;
    pthread_barrier_wait(ca->barrier);
    Coalition__V1__Member *m = enroll(c, &a, &req, &st);
    ca->code = st.code;
    if (m != NULL) {
        snprintf(ca->member_id, sizeof ca->member_id, "%s", m->member_id);
    }
    co_arena_release(&a);
    co_client_free(c);
    return NULL;
}

static void test_concurrent_enrolments_with_same_phone_make_one_member(void **state)
{
    (void)state;
    long long before = it_db_count(fx->s, "SELECT count(*) FROM accounts.members", NULL);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, CONC_N);
    conc_arg args[CONC_N];
    pthread_t th[CONC_N];
    for (int i = 0; i < CONC_N; i++) {
        args[i] = (conc_arg){.i = i, .barrier = &barrier};
        assert_int_equal(pthread_create(&th[i], NULL, conc_enroll, &args[i]), 0);
    }
    int ok = 0, exists = 0;
    for (int i = 0; i < CONC_N; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].code == GRPC_STATUS_OK;
        exists += args[i].code == GRPC_STATUS_ALREADY_EXISTS;
    }
    pthread_barrier_destroy(&barrier);
    if (ok != 1 || exists != CONC_N - 1) {
        char codes[256] = "";
        size_t used = 0;
        for (int i = 0; i < CONC_N && used < sizeof codes; i++) {
            int n = snprintf(codes + used, sizeof codes - used, " %s",
                             co_grpc_status_name(args[i].code));
            used += n > 0 ? (size_t)n : 0;
        }
        fail_msg("expected 1 OK and %d ALREADY_EXISTS, got:%s", CONC_N - 1, codes);
    }
    long long after = it_db_count(fx->s, "SELECT count(*) FROM accounts.members", NULL);
    assert_int_equal(after - before, 1);
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Member *m =
        get_by(fx->admin, &a, COALITION__V1__MEMBER_REF__REF_PHONE, CONC_PHONE, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    for (int i = 0; i < CONC_N; i++) {
        if (args[i].code == GRPC_STATUS_OK) {
            assert_string_equal(m->member_id, args[i].member_id);
        }
    }
    co_arena_release(&a);
}

/* --- GetMember --- */

static void test_get_member_by_every_identifier(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Member *m =
        get_by(fx->bakery, &a, COALITION__V1__MEMBER_REF__REF_PHONE, ANNA_PHONE, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    char card[40], spaced[40];
    snprintf(card, sizeof card, "%s", m->card_number);
    snprintf(spaced, sizeof spaced, "%.4s %.4s %.4s %.4s", card, card + 4, card + 8, card + 12);
    const struct {
        int kind;
        const char *value;
    } refs[] = {
        {COALITION__V1__MEMBER_REF__REF_MEMBER_ID, m->member_id},
        {COALITION__V1__MEMBER_REF__REF_CARD_NUMBER, card},
        {COALITION__V1__MEMBER_REF__REF_CARD_NUMBER, spaced},
        {COALITION__V1__MEMBER_REF__REF_PHONE, ANNA_PHONE},
        {COALITION__V1__MEMBER_REF__REF_PHONE, "+49 (30) 123-456-01"},
        {COALITION__V1__MEMBER_REF__REF_EMAIL, ANNA_EMAIL},
        {COALITION__V1__MEMBER_REF__REF_EMAIL, "ANNA.Secret@EXAMPLE.org"},
        {COALITION__V1__MEMBER_REF__REF_QR_TOKEN, m->qr_token},
    };
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        Coalition__V1__Member *got = get_by(fx->bakery, &a, refs[i].kind, refs[i].value, &st);
        if (got == NULL || strcmp(got->member_id, m->member_id) != 0) {
            fail_msg("lookup %zu (kind %d): got %s: \"%s\"", i, refs[i].kind,
                     co_grpc_status_name(st.code), st.details);
        }
        assert_string_equal(got->phone, ANNA_PHONE);
    }
    /* Unknown identifiers of every kind: NOT_FOUND, with one message whatever the kind. */
    char unknown_card[17];
    make_card(unknown_card, 999999);
    const struct {
        int kind;
        const char *value;
    } unknown[] = {
        {COALITION__V1__MEMBER_REF__REF_MEMBER_ID, "m0123456789abcdef0123456789abcdef"},
        {COALITION__V1__MEMBER_REF__REF_CARD_NUMBER, unknown_card},
        {COALITION__V1__MEMBER_REF__REF_PHONE, "+4930999999999"},
        {COALITION__V1__MEMBER_REF__REF_EMAIL, "nobody@example.org"},
        {COALITION__V1__MEMBER_REF__REF_QR_TOKEN, "no-such-token"},
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_null(get_by(fx->bakery, &a, unknown[i].kind, unknown[i].value, &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
        assert_string_equal(st.details, "member not found");
    }
    co_arena_release(&a);
}

static void test_get_member_validation_table(void **state)
{
    (void)state;
    static char long_qr[200];
    memset(long_qr, 'q', 129);
    const struct {
        int kind;
        const char *value;
        const char *needle;
    } rows[] = {
        {0, NULL, "member"},
        {COALITION__V1__MEMBER_REF__REF_MEMBER_ID, "", "member.member_id"},
        {COALITION__V1__MEMBER_REF__REF_MEMBER_ID, "not-an-id", "member.member_id"},
        {COALITION__V1__MEMBER_REF__REF_CARD_NUMBER, "4111111111111112", "member.card_number"},
        {COALITION__V1__MEMBER_REF__REF_CARD_NUMBER, "41111111", "member.card_number"},
        {COALITION__V1__MEMBER_REF__REF_PHONE, "12345", "member.phone"},
        {COALITION__V1__MEMBER_REF__REF_EMAIL, "not-an-email", "member.email"},
        {COALITION__V1__MEMBER_REF__REF_QR_TOKEN, "", "member.qr_token"},
        {COALITION__V1__MEMBER_REF__REF_QR_TOKEN, long_qr, "member.qr_token"},
    };
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        co_client_status st;
        if (rows[i].kind == 0) {
            Coalition__V1__GetMemberRequest req = COALITION__V1__GET_MEMBER_REQUEST__INIT;
            call(fx->bakery, &a, SVC "GetMember", &req.base,
                 &coalition__v1__get_member_response__descriptor, &st);
        } else {
            get_by(fx->bakery, &a, rows[i].kind, rows[i].value, &st);
        }
        if (st.code != GRPC_STATUS_INVALID_ARGUMENT || strstr(st.details, rows[i].needle) == NULL) {
            fail_msg("row %zu: expected INVALID_ARGUMENT naming \"%s\", got %s: \"%s\"", i,
                     rows[i].needle, co_grpc_status_name(st.code), st.details);
        }
    }
    co_arena_release(&a);
}

static void test_personal_fields_only_for_admin_enroller_or_with_sharing_consent(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Member *m =
        get_by(fuelco, &a, COALITION__V1__MEMBER_REF__REF_PHONE, ANNA_PHONE, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(m->phone, "");
    assert_string_equal(m->email, "");
    assert_string_equal(m->display_name, "");
    assert_null(m->birth_date);
    assert_true(luhn_ok(m->card_number));
    m = get_by(fx->admin, &a, COALITION__V1__MEMBER_REF__REF_PHONE, ANNA_PHONE, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(m->email, ANNA_EMAIL);
    /* A member who shares with every partner. */
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    Coalition__V1__Consent c = COALITION__V1__CONSENT__INIT;
    c.purpose = COALITION__V1__CONSENT_PURPOSE__CONSENT_PURPOSE_PARTNER_SHARING;
    c.granted = true;
    Coalition__V1__Consent *cs[1] = {&c};
    req.request_id = "enroll-sharer";
    req.phone = "+4930700000077";
    req.display_name = "Sharing Sam";
    req.consents = cs;
    req.n_consents = 1;
    assert_non_null(enroll(fx->bakery, &a, &req, &st));
    m = get_by(fuelco, &a, COALITION__V1__MEMBER_REF__REF_PHONE, "+4930700000077", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(m->display_name, "Sharing Sam");
    assert_int_equal(m->n_consents, 1);
    assert_true(m->consents[0]->granted);
    co_arena_release(&a);
}

/* --- UpdateMember --- */

static Coalition__V1__Member *update(co_client *c, co_arena *a, const char *rid, const char *id,
                                     Coalition__V1__Member *m, char **paths, size_t npaths,
                                     bool rotate, co_client_status *st)
{
    Coalition__V1__UpdateMemberRequest req = COALITION__V1__UPDATE_MEMBER_REQUEST__INIT;
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = paths;
    mask.n_paths = npaths;
    req.request_id = (char *)rid;
    req.member_id = (char *)id;
    req.member = m;
    req.update_mask = npaths > 0 ? &mask : NULL;
    req.rotate_qr_token = rotate;
    Coalition__V1__UpdateMemberResponse *r =
        (void *)call(c, a, SVC "UpdateMember", &req.base,
                     &coalition__v1__update_member_response__descriptor, st);
    return r != NULL ? r->member : NULL;
}

static void test_update_member_changes_identifiers_and_old_ones_stop_working(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = "enroll-upd";
    req.phone = "+4930700000100";
    req.email = "upd@example.org";
    Coalition__V1__Member *m0 = enroll(fx->bakery, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    Coalition__V1__Member nm = COALITION__V1__MEMBER__INIT;
    nm.phone = "+4930700000101";
    nm.display_name = "Upda Ted";
    char *paths[] = {"phone", "display_name", "card_number", "email"};
    Coalition__V1__Member *m1 =
        update(fuelco, &a, "upd-1", m0->member_id, &nm, paths, 4, true, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    /* fuelco did not enroll the member: it sees no personal fields, but the change happened. */
    assert_string_equal(m1->phone, "");
    assert_string_not_equal(m1->card_number, m0->card_number);
    assert_string_not_equal(m1->qr_token, m0->qr_token);
    assert_true(luhn_ok(m1->card_number));
    Coalition__V1__Member *m2 =
        get_by(fx->bakery, &a, COALITION__V1__MEMBER_REF__REF_PHONE, "+4930700000101", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(m2->display_name, "Upda Ted");
    assert_string_equal(m2->email, ""); /* named in the mask, empty: removed */
    assert_null(
        get_by(fx->bakery, &a, COALITION__V1__MEMBER_REF__REF_PHONE, "+4930700000100", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    assert_null(
        get_by(fx->bakery, &a, COALITION__V1__MEMBER_REF__REF_EMAIL, "upd@example.org", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    assert_null(
        get_by(fx->bakery, &a, COALITION__V1__MEMBER_REF__REF_CARD_NUMBER, m0->card_number, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    assert_null(get_by(fx->bakery, &a, COALITION__V1__MEMBER_REF__REF_QR_TOKEN, m0->qr_token, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    assert_non_null(
        get_by(fx->bakery, &a, COALITION__V1__MEMBER_REF__REF_QR_TOKEN, m1->qr_token, &st));
    /* Replay: same answer; other content under the same id: ALREADY_EXISTS. */
    Coalition__V1__Member *again =
        update(fuelco, &a, "upd-1", m0->member_id, &nm, paths, 4, true, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(again->card_number, m1->card_number);
    nm.display_name = "Other";
    assert_null(update(fuelco, &a, "upd-1", m0->member_id, &nm, paths, 4, true, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, NULL);
    /* Taking another member's phone. */
    nm.phone = ANNA_PHONE;
    assert_null(update(fx->bakery, &a, "upd-2", m0->member_id, &nm, paths, 1, false, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "phone");
    co_arena_release(&a);
}

static void test_update_member_validation_table(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Member *anna =
        get_by(fx->admin, &a, COALITION__V1__MEMBER_REF__REF_PHONE, ANNA_PHONE, &st);
    assert_non_null(anna);
    const char *id = anna->member_id;
    Coalition__V1__Member bad = COALITION__V1__MEMBER__INIT;
    bad.phone = "12";
    bad.email = "nope";
    bad.locale = "??";
    bad.card_number = "4111111111111112";
    Coalition__V1__Date d = {PROTOBUF_C_MESSAGE_INIT(&coalition__v1__date__descriptor), 2999, 1, 1};
    bad.birth_date = &d;
    const struct {
        const char *rid, *id, *path, *needle;
    } rows[] = {
        {"", id, "phone", "request_id"},
        {"u1", "", "phone", "member_id"},
        {"u2", "bogus", "phone", "member_id"},
        {"u3", id, NULL, "update_mask"},
        {"u4", id, "status", "update_mask"},
        {"u5", id, "member_id", "update_mask"},
        {"u6", id, "phone", "member.phone"},
        {"u7", id, "email", "member.email"},
        {"u8", id, "locale", "member.locale"},
        {"u9", id, "card_number", "member.card_number"},
        {"u10", id, "birth_date", "member.birth_date"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *paths[1] = {(char *)rows[i].path};
        update(fx->bakery, &a, rows[i].rid, rows[i].id, &bad, paths, rows[i].path != NULL ? 1 : 0,
               false, &st);
        if (st.code != GRPC_STATUS_INVALID_ARGUMENT || strstr(st.details, rows[i].needle) == NULL) {
            fail_msg("row %zu: expected INVALID_ARGUMENT naming \"%s\", got %s: \"%s\"", i,
                     rows[i].needle, co_grpc_status_name(st.code), st.details);
        }
    }
    char *paths[1] = {"display_name"};
    update(fx->bakery, &a, "u-missing", "m0123456789abcdef0123456789abcdef", &bad, paths, 1, false,
           &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    co_arena_release(&a);
}

/* --- EraseMember and ExportMember --- */

static Coalition__V1__Member *erase(co_client *c, co_arena *a, const char *rid, const char *id,
                                    const char *reason, co_client_status *st)
{
    Coalition__V1__EraseMemberRequest req = COALITION__V1__ERASE_MEMBER_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member_id = (char *)id;
    req.reason = (char *)reason;
    Coalition__V1__EraseMemberResponse *r = (void *)call(
        c, a, SVC "EraseMember", &req.base, &coalition__v1__erase_member_response__descriptor, st);
    return r != NULL ? r->member : NULL;
}

static Coalition__V1__ExportMemberResponse *export_member(co_client *c, co_arena *a, int kind,
                                                          const char *value, co_client_status *st)
{
    Coalition__V1__ExportMemberRequest req = COALITION__V1__EXPORT_MEMBER_REQUEST__INIT;
    Coalition__V1__MemberRef ref = ref_of(kind, value);
    req.member = kind != 0 ? &ref : NULL;
    return (void *)call(c, a, SVC "ExportMember", &req.base,
                        &coalition__v1__export_member_response__descriptor, st);
}

/* Rows of any table of the accounts schema whose text contains needle. */
static long long rows_containing(const char *needle)
{
    static const char *const tables[] = {"members",        "consents",    "consent_events",
                                         "member_changes", "memberships", "feedback",
                                         "idempotency",    "key_check"};
    long long n = 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[200];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM accounts.%s t WHERE strpos(lower(t::text), lower($1)) > 0"
                 " OR strpos(t::text, encode(convert_to($1, 'UTF8'), 'hex')) > 0",
                 tables[i]);
        n += it_db_count(fx->s, sql, needle);
    }
    return n;
}

static void test_personal_data_is_never_stored_in_plaintext(void **state)
{
    (void)state;
    static const char *const secrets[] = {ANNA_PHONE, ANNA_EMAIL, ANNA_NAME, "12345601"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (rows_containing(secrets[i]) != 0) {
            fail_msg("a row of the accounts schema holds \"%s\" in plaintext", secrets[i]);
        }
    }
}

static void test_export_and_erase_member(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    Coalition__V1__Date birth = {PROTOBUF_C_MESSAGE_INIT(&coalition__v1__date__descriptor), 1987, 6,
                                 5};
    Coalition__V1__Consent c = COALITION__V1__CONSENT__INIT;
    c.purpose = COALITION__V1__CONSENT_PURPOSE__CONSENT_PURPOSE_MARKETING_EMAIL;
    c.granted = true;
    Coalition__V1__Consent *cs[1] = {&c};
    req.request_id = "enroll-erika";
    req.phone = ERASE_PHONE;
    req.email = ERASE_EMAIL;
    req.display_name = ERASE_NAME;
    req.birth_date = &birth;
    req.consents = cs;
    req.n_consents = 1;
    Coalition__V1__Member *m = enroll(fx->bakery, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    char id[80], card[40], qr[160];
    snprintf(id, sizeof id, "%s", m->member_id);
    snprintf(card, sizeof card, "%s", m->card_number);
    snprintf(qr, sizeof qr, "%s", m->qr_token);
    assert_int_equal(m->birth_date->year, 1987);

    /* Export: admin only; everything held, as JSON. */
    assert_null(export_member(fx->bakery, &a, COALITION__V1__MEMBER_REF__REF_MEMBER_ID, id, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    assert_null(export_member(fx->admin, &a, 0, NULL, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "member");
    Coalition__V1__ExportMemberResponse *ex =
        export_member(fx->admin, &a, COALITION__V1__MEMBER_REF__REF_EMAIL, ERASE_EMAIL, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(ex->content_type, "application/json");
    assert_non_null(ex->generate_time);
    assert_true(ex->json[0] == '{');
    assert_non_null(strstr(ex->json, "\"accounts\""));
    assert_non_null(strstr(ex->json, ERASE_PHONE));
    assert_non_null(strstr(ex->json, ERASE_NAME));
    assert_non_null(strstr(ex->json, ERASE_BIRTH));
    assert_non_null(strstr(ex->json, "\"consent_history\""));

    /* Erase: validation, then the effect. */
    assert_null(erase(fx->bakery, &a, "erase-1", id, "ticket 1", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    assert_null(erase(fx->admin, &a, "erase-1", id, "", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "reason");
    static char long_reason[600];
    memset(long_reason, 'r', 501);
    assert_null(erase(fx->admin, &a, "erase-1", id, long_reason, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "reason");
    assert_null(erase(fx->admin, &a, "erase-1", "nope", "ticket 1", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "member_id");
    assert_null(erase(fx->admin, &a, "", id, "ticket 1", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "request_id");
    assert_null(
        erase(fx->admin, &a, "erase-0", "m0123456789abcdef0123456789abcdef", "ticket 1", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    Coalition__V1__Member *e = erase(fx->admin, &a, "erase-1", id, "ticket 1", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(e->status, COALITION__V1__MEMBER_STATUS__MEMBER_STATUS_ERASED);
    assert_string_equal(e->phone, "");
    assert_string_equal(e->card_number, "");
    assert_non_null(e->erase_time);
    /* Erasing again returns it unchanged (new request and replay alike). */
    assert_non_null(erase(fx->admin, &a, "erase-2", id, "ticket 2", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(erase(fx->admin, &a, "erase-1", id, "ticket 1", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);

    /* No identifier finds the member any more; the member id does, with nothing personal. */
    const struct {
        int kind;
        const char *value;
    } old[] = {{COALITION__V1__MEMBER_REF__REF_PHONE, ERASE_PHONE},
               {COALITION__V1__MEMBER_REF__REF_EMAIL, ERASE_EMAIL},
               {COALITION__V1__MEMBER_REF__REF_CARD_NUMBER, card},
               {COALITION__V1__MEMBER_REF__REF_QR_TOKEN, qr}};
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) {
        assert_null(get_by(fx->admin, &a, old[i].kind, old[i].value, &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "member not found");
    }
    Coalition__V1__Member *g =
        get_by(fx->admin, &a, COALITION__V1__MEMBER_REF__REF_MEMBER_ID, id, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(g->status, COALITION__V1__MEMBER_STATUS__MEMBER_STATUS_ERASED);
    assert_string_equal(g->display_name, "");
    assert_null(g->birth_date);
    assert_int_equal(g->n_consents, 0);
    /* An erased member cannot be changed. */
    Coalition__V1__Member nm = COALITION__V1__MEMBER__INIT;
    nm.display_name = "Back";
    char *paths[] = {"display_name"};
    assert_null(update(fx->bakery, &a, "upd-erased", id, &nm, paths, 1, false, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION, "erased");

    /* In the database: no row of the accounts schema holds any of it. */
    static const char *const gone[] = {ERASE_PHONE, ERASE_EMAIL, ERASE_NAME, ERASE_BIRTH,
                                       "30099887766"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        if (rows_containing(gone[i]) != 0) {
            fail_msg("after erasure a row still holds \"%s\"", gone[i]);
        }
    }
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM accounts.members WHERE member_id = $1 AND "
                                 "status = 2 AND phone_hash IS NULL AND phone_enc IS NULL AND "
                                 "name_enc IS NULL AND birth_enc IS NULL AND card_hash IS NULL",
                                 id),
                     1);
    assert_int_equal(
        it_db_count(fx->s, "SELECT count(*) FROM accounts.consents WHERE member_id = $1", id), 0);

    /* The identifiers are free again. */
    req.request_id = "enroll-erika-again";
    req.n_consents = 0;
    Coalition__V1__Member *again = enroll(fuelco, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_not_equal(again->member_id, id);
    co_arena_release(&a);
}

/* --- RecordFeedback, memberships: they need programs from the partners service --- */

static void test_record_feedback_validation_table(void **state)
{
    (void)state;
    static char long_comment[2100];
    memset(long_comment, 'c', 2001);
    Coalition__V1__MemberRef anna = ref_of(COALITION__V1__MEMBER_REF__REF_PHONE, ANNA_PHONE);
    const struct {
        const char *rid, *program;
        int nps, effort; /* -100: unset */
        const char *comment;
        bool no_member;
        const char *needle;
    } rows[] = {
        {"", "bakery-points", 9, -100, "", false, "request_id"},
        {"f1", "bakery-points", 9, -100, "", true, "member"},
        {"f2", "", 9, -100, "", false, "program_code"},
        {"f3", "Bad_Code", 9, -100, "", false, "program_code"},
        {"f4", "bakery-points", 11, -100, "", false, "nps_score"},
        {"f5", "bakery-points", -1, -100, "", false, "nps_score"},
        {"f6", "bakery-points", -100, 0, "", false, "effort_score"},
        {"f7", "bakery-points", -100, 8, "", false, "effort_score"},
        {"f8", "bakery-points", -100, -100, "", false, "nps_score"},
        {"f9", "bakery-points", 5, 3, long_comment, false, "comment"},
    };
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        Coalition__V1__RecordFeedbackRequest req = COALITION__V1__RECORD_FEEDBACK_REQUEST__INIT;
        req.request_id = (char *)rows[i].rid;
        req.program_code = (char *)rows[i].program;
        req.member = rows[i].no_member ? NULL : &anna;
        if (rows[i].nps != -100) {
            req.nps_case = COALITION__V1__RECORD_FEEDBACK_REQUEST__NPS_NPS_SCORE;
            req.nps_score = rows[i].nps;
        }
        if (rows[i].effort != -100) {
            req.effort_case = COALITION__V1__RECORD_FEEDBACK_REQUEST__EFFORT_EFFORT_SCORE;
            req.effort_score = rows[i].effort;
        }
        req.comment = (char *)rows[i].comment;
        co_client_status st;
        call(fx->bakery, &a, SVC "RecordFeedback", &req.base,
             &coalition__v1__record_feedback_response__descriptor, &st);
        if (st.code != GRPC_STATUS_INVALID_ARGUMENT || strstr(st.details, rows[i].needle) == NULL) {
            fail_msg("row %zu: expected INVALID_ARGUMENT naming \"%s\", got %s: \"%s\"", i,
                     rows[i].needle, co_grpc_status_name(st.code), st.details);
        }
    }
    co_arena_release(&a);
}

static void test_membership_validation_table(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__MemberRef anna = ref_of(COALITION__V1__MEMBER_REF__REF_PHONE, ANNA_PHONE);
    Coalition__V1__StartMembershipRequest s = COALITION__V1__START_MEMBERSHIP_REQUEST__INIT;
    s.request_id = "";
    s.member = &anna;
    s.plan_id = "plan";
    call(fx->bakery, &a, SVC "StartMembership", &s.base,
         &coalition__v1__start_membership_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "request_id");
    s.request_id = "ms-1";
    s.member = NULL;
    call(fx->bakery, &a, SVC "StartMembership", &s.base,
         &coalition__v1__start_membership_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "member");
    s.member = &anna;
    s.plan_id = "";
    call(fx->bakery, &a, SVC "StartMembership", &s.base,
         &coalition__v1__start_membership_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "plan_id");
    Coalition__V1__CancelMembershipRequest c = COALITION__V1__CANCEL_MEMBERSHIP_REQUEST__INIT;
    c.request_id = "cm-1";
    call(fx->bakery, &a, SVC "CancelMembership", &c.base,
         &coalition__v1__cancel_membership_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "membership_id");
    static char long_reason[600];
    memset(long_reason, 'r', 501);
    c.membership_id = "ms0123";
    c.reason = long_reason;
    call(fx->bakery, &a, SVC "CancelMembership", &c.base,
         &coalition__v1__cancel_membership_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "reason");
    c.reason = "";
    call(fx->bakery, &a, SVC "CancelMembership", &c.base,
         &coalition__v1__cancel_membership_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "membership");
    co_arena_release(&a);
}

/* Creates program code owned by owner through Partners.CreateProgram; false (test skipped by
 * the caller) when the partners service does not offer programs yet. */
static bool create_program(const char *code, const char *owner)
{
    co_arena a;
    co_arena_init(&a, 0);
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
    p.earn_rule = &er;
    p.issuing_mode = COALITION__V1__ISSUING_MODE__ISSUING_MODE_POSTPAID;
    char rid[80];
    snprintf(rid, sizeof rid, "prog-%s", code);
    req.request_id = rid;
    req.program = &p;
    ProtobufCMessage *resp;
    co_client_status st;
    it_unary(fx->admin, &a, "/coalition.v1.Partners/CreateProgram", &req.base,
             &coalition__v1__create_program_response__descriptor, NULL, 0, &resp, &st);
    bool ok = st.code == GRPC_STATUS_OK || st.code == GRPC_STATUS_ALREADY_EXISTS;
    if (!ok) {
        print_message("Partners.CreateProgram: %s: %s\n", co_grpc_status_name(st.code), st.details);
    }
    co_arena_release(&a);
    return ok;
}

static void test_record_feedback_for_own_program(void **state)
{
    (void)state;
    if (!create_program("bakery-points", "bakery")) {
        skip(); /* the partners service cannot create programs yet */
    }
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__MemberRef anna = ref_of(COALITION__V1__MEMBER_REF__REF_PHONE, ANNA_PHONE);
    Coalition__V1__RecordFeedbackRequest req = COALITION__V1__RECORD_FEEDBACK_REQUEST__INIT;
    req.request_id = "fb-1";
    req.member = &anna;
    req.program_code = "bakery-points";
    req.nps_case = COALITION__V1__RECORD_FEEDBACK_REQUEST__NPS_NPS_SCORE;
    req.nps_score = 0; /* 0 is an answer */
    req.comment = "Secret comment about croissants";
    co_client_status st;
    Coalition__V1__RecordFeedbackResponse *r =
        (void *)call(fx->bakery, &a, SVC "RecordFeedback", &req.base,
                     &coalition__v1__record_feedback_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(r->feedback->nps_case, COALITION__V1__FEEDBACK__NPS_NPS_SCORE);
    assert_int_equal(r->feedback->nps_score, 0);
    assert_int_equal(r->feedback->effort_case, COALITION__V1__FEEDBACK__EFFORT__NOT_SET);
    assert_string_equal(r->feedback->partner_id, "bakery");
    assert_string_equal(r->feedback->comment, "Secret comment about croissants");
    Coalition__V1__RecordFeedbackResponse *r2 =
        (void *)call(fx->bakery, &a, SVC "RecordFeedback", &req.base,
                     &coalition__v1__record_feedback_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(r2->feedback->feedback_id, r->feedback->feedback_id);
    assert_string_equal(r2->feedback->comment, "Secret comment about croissants");
    assert_int_equal(rows_containing("croissants"), 0);
    /* fuelco takes no part in the bakery's program. */
    req.request_id = "fb-2";
    call(fuelco, &a, SVC "RecordFeedback", &req.base,
         &coalition__v1__record_feedback_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "bakery-points");
    req.program_code = "no-such-program";
    call(fx->bakery, &a, SVC "RecordFeedback", &req.base,
         &coalition__v1__record_feedback_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "no-such-program");
    co_arena_release(&a);
}

/* --- StartMembership and CancelMembership against real plans --- */

#define VIP_PROGRAM "bakery-vip"
#define VIP_PHONE   "+4930700000555"

static char plan_gold[64];    /* 12 months, 9.99 EUR */
static char plan_silver[64];  /* another plan of the same program, 3 months */
static char plan_reduced[64]; /* with a reduced fee for members with 5000 points */
static char vip_member[64];

static Coalition__V1__Money *eur(co_arena *a, int64_t micros)
{
    Coalition__V1__Money *m = co_arena_alloc(a, sizeof *m);
    assert_non_null(m);
    coalition__v1__money__init(m);
    m->amount_micros = micros;
    m->currency = "EUR";
    return m;
}

/* Creates a plan of VIP_PROGRAM as c and copies its id to out. */
static void make_plan(co_client *c, const char *rid, const char *name, int64_t fee, int32_t months,
                      int64_t reduced_min, char out[64])
{
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__MembershipPlan p = COALITION__V1__MEMBERSHIP_PLAN__INIT;
    p.program_code = VIP_PROGRAM;
    p.name = (char *)name;
    p.fee = eur(&a, fee);
    p.period_months = months;
    p.earn_multiplier_bps = 12000;
    if (reduced_min > 0) {
        p.reduced_fee_min_points = reduced_min;
        p.reduced_fee = eur(&a, fee / 2);
    }
    Coalition__V1__CreateMembershipPlanRequest req =
        COALITION__V1__CREATE_MEMBERSHIP_PLAN_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.plan = &p;
    co_client_status st;
    Coalition__V1__CreateMembershipPlanResponse *r =
        (void *)call(c, &a, "/coalition.v1.Partners/CreateMembershipPlan", &req.base,
                     &coalition__v1__create_membership_plan_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(r->plan);
    assert_true(strncmp(r->plan->plan_id, "pln-", 4) == 0);
    snprintf(out, 64, "%s", r->plan->plan_id);
    co_arena_release(&a);
}

/* Activates bakery and fuelco (unless active), creates VIP_PROGRAM owned by bakery with three
 * plans and enrolls a member; once per run. */
static void vip_setup(void)
{
    if (vip_member[0] != '\0') {
        return;
    }
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    const char *ids[2] = {"bakery", "fuelco"};
    for (int i = 0; i < 2; i++) {
        Coalition__V1__Partner *p = it_get_partner(fx->admin, &a, ids[i], &st);
        IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
        if (p->status != COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE) {
            char rid[32];
            snprintf(rid, sizeof rid, "activate-%s", ids[i]);
            it_set_partner_status(fx->admin, &a, rid, ids[i],
                                  COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE, "", &st);
            IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
        }
    }
    assert_true(create_program(VIP_PROGRAM, "bakery"));
    make_plan(fx->bakery, "pln-gold", "Gold", 9990000, 12, 0, plan_gold);
    make_plan(fx->admin, "pln-silver", "Silver", 2500000, 3, 0, plan_silver);
    make_plan(fx->bakery, "pln-reduced", "Reduced", 8000000, 6, 5000, plan_reduced);
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = "enroll-vip";
    req.phone = VIP_PHONE;
    req.display_name = "Vip Member";
    Coalition__V1__Member *m = enroll(fx->bakery, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    snprintf(vip_member, sizeof vip_member, "%s", m->member_id);
    co_arena_release(&a);
}

static Coalition__V1__StartMembershipResponse *start_ms(co_client *c, co_arena *a, const char *rid,
                                                        const char *plan_id, co_client_status *st)
{
    Coalition__V1__MemberRef *ref = co_arena_alloc(a, sizeof *ref);
    assert_non_null(ref);
    *ref = ref_of(COALITION__V1__MEMBER_REF__REF_MEMBER_ID, vip_member);
    Coalition__V1__StartMembershipRequest req = COALITION__V1__START_MEMBERSHIP_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = ref;
    req.plan_id = (char *)plan_id;
    return (void *)call(c, a, SVC "StartMembership", &req.base,
                        &coalition__v1__start_membership_response__descriptor, st);
}

static Coalition__V1__Membership *cancel_ms(co_client *c, co_arena *a, const char *rid,
                                            const char *membership_id, co_client_status *st)
{
    Coalition__V1__CancelMembershipRequest req = COALITION__V1__CANCEL_MEMBERSHIP_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.membership_id = (char *)membership_id;
    req.reason = "moved away";
    Coalition__V1__CancelMembershipResponse *r =
        (void *)call(c, a, SVC "CancelMembership", &req.base,
                     &coalition__v1__cancel_membership_response__descriptor, st);
    return r != NULL ? r->membership : NULL;
}

/* True if the two messages pack to the same bytes. */
static bool same_message(co_arena *a, const ProtobufCMessage *x, const ProtobufCMessage *y)
{
    size_t nx, ny;
    uint8_t *bx = it_pack(a, x, &nx);
    uint8_t *by = it_pack(a, y, &ny);
    return nx == ny && memcmp(bx, by, nx) == 0;
}

static void test_start_and_cancel_membership(void **state)
{
    (void)state;
    vip_setup();
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;

    /* Started by the program's owner: ACTIVE for the plan's period, fee due = the plan's fee. */
    Coalition__V1__StartMembershipResponse *r = start_ms(fx->bakery, &a, "ms-gold", plan_gold, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    Coalition__V1__Membership *m = r->membership;
    assert_non_null(m);
    assert_int_equal(m->status, COALITION__V1__MEMBERSHIP_STATUS__MEMBERSHIP_STATUS_ACTIVE);
    assert_string_equal(m->plan_id, plan_gold);
    assert_string_equal(m->member_id, vip_member);
    assert_string_equal(m->program_code, VIP_PROGRAM);
    assert_string_equal(m->sold_by_partner_id, "bakery");
    assert_non_null(m->start_time);
    assert_non_null(m->end_time);
    int64_t days = (m->end_time->seconds - m->start_time->seconds) / 86400;
    assert_true(days >= 365 && days <= 366); /* 12 months */
    assert_non_null(r->fee_due);
    assert_int_equal(r->fee_due->amount_micros, 9990000);
    assert_string_equal(r->fee_due->currency, "EUR");
    assert_int_equal(m->last_fee->amount_micros, 9990000);
    assert_false(r->reduced_fee_applied);

    /* The same request again: the identical response. */
    Coalition__V1__StartMembershipResponse *r2 =
        start_ms(fx->bakery, &a, "ms-gold", plan_gold, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_true(same_message(&a, &r->base, &r2->base));

    /* The same request id with other content. */
    start_ms(fx->bakery, &a, "ms-gold", plan_silver, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, NULL);

    /* Another plan of the same program while this one is active. */
    start_ms(fx->bakery, &a, "ms-silver", plan_silver, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION, "another plan");

    /* The same plan again extends the active membership by one period. */
    Coalition__V1__StartMembershipResponse *ext =
        start_ms(fx->bakery, &a, "ms-gold-2", plan_gold, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(ext->membership->membership_id, m->membership_id);
    days = (ext->membership->end_time->seconds - m->end_time->seconds) / 86400;
    assert_true(days >= 365 && days <= 366);
    assert_int_equal(ext->fee_due->amount_micros, 9990000);

    /* Unknown and malformed plans. */
    start_ms(fx->bakery, &a, "ms-unknown", "pln-999999999999", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "pln-999999999999");
    start_ms(fx->bakery, &a, "ms-bogus", "no-such-plan", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "no-such-plan");
    /* A plan with a reduced fee asks the points service for the member's balance: a new
     * member pays the full fee, then 6000 points (>= 5000) make the next period half price. */
    {
        Coalition__V1__EnrollMemberRequest er = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
        er.request_id = "enroll-saver";
        er.phone = "+4930777777";
        Coalition__V1__Member *saver = enroll(fx->bakery, &a, &er, &st);
        IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
        Coalition__V1__MemberRef sref =
            ref_of(COALITION__V1__MEMBER_REF__REF_MEMBER_ID, saver->member_id);
        Coalition__V1__StartMembershipRequest rq = COALITION__V1__START_MEMBERSHIP_REQUEST__INIT;
        rq.request_id = "ms-reduced-1";
        rq.member = &sref;
        rq.plan_id = plan_reduced;
        ProtobufCMessage *out = NULL;
        it_unary(fx->bakery, &a, SVC "StartMembership", &rq.base,
                 &coalition__v1__start_membership_response__descriptor, NULL, 0, &out, &st);
        IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
        Coalition__V1__StartMembershipResponse *full = (void *)out;
        assert_false(full->reduced_fee_applied);
        assert_int_equal(full->fee_due->amount_micros, 8000000);
        Coalition__V1__Money amt = COALITION__V1__MONEY__INIT;
        amt.amount_micros = INT64_C(6000000000);
        amt.currency = "EUR";
        Coalition__V1__EarnRequest earn = COALITION__V1__EARN_REQUEST__INIT;
        earn.member = &sref;
        earn.program_code = VIP_PROGRAM;
        earn.amount = &amt;
        /* bakery was activated by this group's set-up: the gateway learns it within its
         * identity cache time (5 s); until then points refuses a pending partner's earn. */
        long long t0 = h_now_ms();
        for (int i = 0;; i++) {
            earn.request_id = co_arena_printf(&a, "saver-earn-%d", i);
            it_unary(fx->bakery, &a, "/coalition.v1.Points/Earn", &earn.base,
                     &coalition__v1__earn_response__descriptor, NULL, 0, &out, &st);
            if (st.code != GRPC_STATUS_FAILED_PRECONDITION || h_now_ms() - t0 > 8000) {
                break;
            }
            struct timespec pause = {0, 200000000};
            nanosleep(&pause, NULL);
        }
        IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
        rq.request_id = "ms-reduced-2";
        it_unary(fx->bakery, &a, SVC "StartMembership", &rq.base,
                 &coalition__v1__start_membership_response__descriptor, NULL, 0, &out, &st);
        IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
        Coalition__V1__StartMembershipResponse *half = (void *)out;
        assert_true(half->reduced_fee_applied);
        assert_int_equal(half->fee_due->amount_micros, 4000000);
        /* With the points service stopped, the fee cannot be computed: UNAVAILABLE, and the
         * gateway passes the service's own message through. */
        assert_true(h_proc_stop(fx->s, H_POINTS));
        rq.request_id = "ms-reduced-3";
        it_unary(fx->bakery, &a, SVC "StartMembership", &rq.base,
                 &coalition__v1__start_membership_response__descriptor, NULL, 0, &out, &st);
        IT_EXPECT_STATUS(st, GRPC_STATUS_UNAVAILABLE, "points service unavailable");
        h_proc_restart(fx->s, H_POINTS);
    }

    /* fuelco takes no part in the program: it may neither sell nor cancel. */
    start_ms(fuelco, &a, "ms-fuelco", plan_gold, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, VIP_PROGRAM);
    assert_null(cancel_ms(fuelco, &a, "cancel-fuelco", m->membership_id, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "seller");

    /* The seller cancels; the same request again answers the same. */
    Coalition__V1__Membership *c = cancel_ms(fx->bakery, &a, "cancel-1", m->membership_id, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(c->status, COALITION__V1__MEMBERSHIP_STATUS__MEMBERSHIP_STATUS_CANCELLED);
    assert_string_equal(c->membership_id, m->membership_id);
    assert_string_equal(c->cancel_reason, "moved away");
    assert_non_null(c->cancel_time);
    Coalition__V1__Membership *c2 = cancel_ms(fx->bakery, &a, "cancel-1", m->membership_id, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_true(same_message(&a, &c->base, &c2->base));
    /* Cancelling it again (a new request) is refused: it is no longer active. */
    assert_null(cancel_ms(fx->bakery, &a, "cancel-2", m->membership_id, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION, "not active");

    /* With nothing active, the other plan of the program can be started, here by the admin. */
    r = start_ms(fx->admin, &a, "ms-silver-2", plan_silver, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_not_equal(r->membership->membership_id, m->membership_id);
    assert_int_equal(r->fee_due->amount_micros, 2500000);
    assert_string_equal(r->membership->sold_by_partner_id, "operator");
    co_arena_release(&a);
}

static Coalition__Internal__V1__GetMembershipPlanResponse *
get_plan(co_client *c, co_arena *a, const char *plan_id, co_client_status *st)
{
    Coalition__Internal__V1__GetMembershipPlanRequest req =
        COALITION__INTERNAL__V1__GET_MEMBERSHIP_PLAN_REQUEST__INIT;
    req.plan_id = (char *)plan_id;
    return (void *)call(c, a, "/coalition.internal.v1.Directory/GetMembershipPlan", &req.base,
                        &coalition__internal__v1__get_membership_plan_response__descriptor, st);
}

static void test_directory_get_membership_plan(void **state)
{
    (void)state;
    vip_setup();
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    co_client *svc = h_client(fx->s, H_PARTNERS, "service-accounts");
    Coalition__Internal__V1__GetMembershipPlanResponse *r = get_plan(svc, &a, plan_gold, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(r->plan);
    assert_string_equal(r->plan->plan_id, plan_gold);
    assert_string_equal(r->plan->program_code, VIP_PROGRAM);
    assert_string_equal(r->plan->name, "Gold");
    assert_int_equal(r->plan->fee->amount_micros, 9990000);
    assert_string_equal(r->plan->fee->currency, "EUR");
    assert_int_equal(r->plan->period_months, 12);
    assert_int_equal(r->plan->reduced_fee_min_points, 0);
    assert_string_equal(r->program_owner_partner_id, "bakery");
    assert_string_equal(r->program_currency, "EUR");
    assert_true(r->program_version >= 1);
    r = get_plan(svc, &a, plan_reduced, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(r->plan->reduced_fee_min_points, 5000);
    assert_int_equal(r->plan->reduced_fee->amount_micros, 4000000);
    get_plan(svc, &a, "pln-999999999999", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "pln-999999999999");
    const char *bad[] = {"", "plan", "pln-", "pln-12x", "PLN-1", "pln-123456789012345678901"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        get_plan(svc, &a, bad[i], &st);
        IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "plan_id");
    }
    co_client_free(svc);
    /* Internal: a partner's certificate is refused. */
    co_client *partner = h_client(fx->s, H_PARTNERS, "partner-bakery");
    assert_null(get_plan(partner, &a, plan_gold, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    co_client_free(partner);
    co_arena_release(&a);
}

/* --- the master key --- */

/* Runs coalition-accounts against the stack's database with key (NULL: unset) and returns its
 * exit status (-1 if it was still running after 15 s) with its output in out. */
static int run_with_key(const char *key, char *out, size_t outlen)
{
    char logpath[64];
    snprintf(logpath, sizeof logpath, "it_accounts-keytest.log");
    unlink(logpath);
    const char *bin = getenv("COALITION_ACCOUNTS_BIN");
    assert_non_null(bin);
    char e_db[300], e_cert[600], e_key[600], e_ca[600], e_key_var[200];
    snprintf(e_db, sizeof e_db, "COALITION_DATABASE_URL=%s", h_service_db_url(fx->s, H_ACCOUNTS));
    snprintf(e_cert, sizeof e_cert, "COALITION_TLS_CERT=%s", h_pki(fx->s, "service-accounts.crt"));
    snprintf(e_key, sizeof e_key, "COALITION_TLS_KEY=%s", h_pki(fx->s, "service-accounts.key"));
    snprintf(e_ca, sizeof e_ca, "COALITION_TLS_CA=%s", h_pki(fx->s, "ca.crt"));
    snprintf(e_key_var, sizeof e_key_var, "COALITION_ACCOUNTS_KEY=%s", key != NULL ? key : "");
    char *envp[] = {e_db,
                    e_cert,
                    e_key,
                    e_ca,
                    "COALITION_LISTEN=127.0.0.1:0",
                    "COALITION_HEALTH_LISTEN=",
                    "COALITION_METRICS_LISTEN=",
                    "PATH=/usr/bin:/bin",
                    key != NULL ? e_key_var : NULL,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {(char *)bin, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, bin, &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0, rc = -1;
    long long until = h_now_ms() + 15000;
    while (h_now_ms() < until) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
            break;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    FILE *f = fopen(logpath, "r");
    size_t n = f != NULL ? fread(out, 1, outlen - 1, f) : 0;
    out[n] = '\0';
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

/* --- Members.ResolveMembers (internal) --- */

static Coalition__Internal__V1__ResolveMembersResponse *
resolve(co_client *c, co_arena *a, Coalition__V1__MemberRef **refs, size_t n, co_client_status *st)
{
    Coalition__Internal__V1__ResolveMembersRequest req =
        COALITION__INTERNAL__V1__RESOLVE_MEMBERS_REQUEST__INIT;
    req.members = refs;
    req.n_members = n;
    const co_client_md md = {CO_MD_ROLE, "service"};
    ProtobufCMessage *resp = NULL;
    it_unary(c, a, "/coalition.internal.v1.Members/ResolveMembers", &req.base,
             &coalition__internal__v1__resolve_members_response__descriptor, &md, 1, &resp, st);
    return (void *)resp;
}

static void test_resolve_members_answers_every_reference_in_order(void **state)
{
    (void)state;
    vip_setup();
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__EnrollMemberRequest er = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    er.request_id = "enroll-resolve-1";
    er.phone = "+4930666000001";
    er.email = "resolve.one@example.org";
    Coalition__V1__Member *m = enroll(fx->bakery, &a, &er, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    Coalition__V1__MemberRef mref = ref_of(COALITION__V1__MEMBER_REF__REF_MEMBER_ID, m->member_id);
    Coalition__V1__StartMembershipRequest sr = COALITION__V1__START_MEMBERSHIP_REQUEST__INIT;
    sr.request_id = "ms-resolve-1";
    sr.member = &mref;
    sr.plan_id = plan_gold;
    Coalition__V1__StartMembershipResponse *ms =
        (void *)call(fx->bakery, &a, SVC "StartMembership", &sr.base,
                     &coalition__v1__start_membership_response__descriptor, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    er.request_id = "enroll-resolve-2";
    er.phone = "+4930666000002";
    er.email = "";
    Coalition__V1__Member *gone = enroll(fx->bakery, &a, &er, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(erase(fx->admin, &a, "erase-resolve-2", gone->member_id, "ticket 7", &st));

    enum { FOUND = 1, NOT_FOUND, INVALID };
    const struct {
        int kind;
        const char *value;
        int outcome;
        const char *member_id; /* FOUND: whose */
        const char *error;     /* INVALID: part of the message */
    } rows[] = {
        {COALITION__V1__MEMBER_REF__REF_MEMBER_ID, m->member_id, FOUND, m->member_id, NULL},
        {COALITION__V1__MEMBER_REF__REF_CARD_NUMBER, m->card_number, FOUND, m->member_id, NULL},
        {COALITION__V1__MEMBER_REF__REF_PHONE, "+49 30 666-000-001", FOUND, m->member_id, NULL},
        {COALITION__V1__MEMBER_REF__REF_EMAIL, "Resolve.One@EXAMPLE.org", FOUND, m->member_id,
         NULL},
        {COALITION__V1__MEMBER_REF__REF_QR_TOKEN, m->qr_token, FOUND, m->member_id, NULL},
        /* An erased member is found by its id only, as by GetMember. */
        {COALITION__V1__MEMBER_REF__REF_MEMBER_ID, gone->member_id, FOUND, gone->member_id, NULL},
        {COALITION__V1__MEMBER_REF__REF_PHONE, "+4930666000002", NOT_FOUND, NULL, NULL},
        {COALITION__V1__MEMBER_REF__REF_MEMBER_ID, "m0123456789abcdef0123456789abcdef", NOT_FOUND,
         NULL, NULL},
        {COALITION__V1__MEMBER_REF__REF_PHONE, "12", INVALID, NULL, "\"member.phone\""},
        {COALITION__V1__MEMBER_REF__REF_MEMBER_ID, "m'; DROP TABLE accounts.members", INVALID, NULL,
         "\"member.member_id\""},
        {0, NULL, INVALID, NULL, "exactly one identifier"},
        {COALITION__V1__MEMBER_REF__REF_MEMBER_ID, m->member_id, FOUND, m->member_id, NULL},
    };
    enum { N = sizeof rows / sizeof rows[0] };
    Coalition__V1__MemberRef refv[N], *refs[N];
    for (size_t i = 0; i < N; i++) {
        refv[i] = ref_of(rows[i].kind, rows[i].value);
        refs[i] = &refv[i];
    }
    co_client *svc = h_client(fx->s, H_ACCOUNTS, "service-points");
    Coalition__Internal__V1__ResolveMembersResponse *r = resolve(svc, &a, refs, N, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(r->n_members, N);
    for (size_t i = 0; i < N; i++) {
        const Coalition__Internal__V1__ResolvedMember *x = r->members[i];
        if ((int)x->outcome != rows[i].outcome) {
            fail_msg("reference %zu: outcome %d, expected %d (\"%s\")", i, (int)x->outcome,
                     rows[i].outcome, x->error);
        }
        if (rows[i].outcome == FOUND) {
            assert_string_equal(x->member_id, rows[i].member_id);
        } else {
            assert_string_equal(x->member_id, "");
        }
        if (rows[i].outcome == INVALID) {
            assert_non_null(strstr(x->error, rows[i].error));
        } else {
            assert_string_equal(x->error, "");
        }
    }
    /* The member's membership in force, with its end; the erased member's status. */
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(r->members[i]->status, COALITION__V1__MEMBER_STATUS__MEMBER_STATUS_ACTIVE);
        assert_int_equal(r->members[i]->n_active_plans, 1);
        assert_string_equal(r->members[i]->active_plans[0]->plan_id, plan_gold);
        assert_int_equal(r->members[i]->active_plans[0]->end_time->seconds,
                         ms->membership->end_time->seconds);
    }
    assert_int_equal(r->members[5]->status, COALITION__V1__MEMBER_STATUS__MEMBER_STATUS_ERASED);
    assert_int_equal(r->members[5]->n_active_plans, 0);
    assert_int_equal(r->members[N - 1]->n_active_plans, 1);

    /* Only invalid references: answered without a query. */
    r = resolve(svc, &a, &refs[8], 3, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(r->n_members, 3);
    assert_int_equal(r->members[2]->outcome, INVALID);
    /* 1 to 256 references. */
    resolve(svc, &a, refs, 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "\"members\"");
    Coalition__V1__MemberRef **many = co_arena_calloc(&a, 257, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i < 257; i++) {
        many[i] = refs[i % N];
    }
    r = resolve(svc, &a, many, 256, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(r->n_members, 256);
    assert_string_equal(r->members[255]->member_id, rows[255 % N].member_id);
    resolve(svc, &a, many, 257, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "\"members\"");
    co_client_free(svc);
    /* Service identities only, and never through the gateway. */
    co_client *direct = h_client(fx->s, H_ACCOUNTS, "partner-bakery");
    resolve(direct, &a, refs, 1, &st);
    assert_true(st.code == GRPC_STATUS_PERMISSION_DENIED || st.code == GRPC_STATUS_UNAUTHENTICATED);
    co_client_free(direct);
    resolve(fx->admin, &a, refs, 1, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_UNIMPLEMENTED, NULL);
    co_arena_release(&a);
}

static void test_missing_malformed_or_wrong_key_refuses_to_start(void **state)
{
    (void)state;
    char out[8192];
    const struct {
        const char *key;
        int want; /* exit status; 0 = any non-zero */
        const char *name;
    } rows[] = {
        {NULL, 2, "missing"},
        {"", 2, "empty"},
        {"abcd", 2, "too short"},
        {"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 2, "not hex"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00", 2, "too long"},
        {"ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0, "wrong key"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        long long t0 = h_now_ms();
        int rc = run_with_key(rows[i].key, out, sizeof out);
        long long took = h_now_ms() - t0;
        if (rc <= 0 || (rows[i].want != 0 && rc != rows[i].want) ||
            strstr(out, "COALITION_ACCOUNTS_KEY") == NULL) {
            fail_msg("%s key: exit %d, output: %s", rows[i].name, rc, out);
        }
        assert_true(took < 10000);
        if (rows[i].key != NULL && strlen(rows[i].key) > 8) {
            assert_null(strstr(out, rows[i].key)); /* the key itself is never printed */
        }
    }
    /* The right key starts (and the running stack proves it); the check row exists. */
    assert_int_equal(it_db_count(fx->s, "SELECT count(*) FROM accounts.key_check", NULL), 1);
}

/* --- logs --- */

static void test_personal_data_never_appears_in_logs(void **state)
{
    (void)state;
    static const char *const logs[] = {DBNAME "-accounts.log", DBNAME "-gateway.log",
                                       DBNAME "-partners.log"};
    static const char *const secrets[] = {ANNA_PHONE,   ANNA_EMAIL,    ANNA_NAME,  ERASE_PHONE,
                                          ERASE_EMAIL,  ERASE_NAME,    CONC_PHONE, "12345601",
                                          "croissants", H_ACCOUNTS_KEY};
    for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
        FILE *f = fopen(logs[i], "r");
        assert_non_null(f);
        static char buf[4 << 20];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++) {
            if (strstr(buf, secrets[k]) != NULL) {
                fail_msg("%s contains \"%s\"", logs[i], secrets[k]);
            }
        }
    }
}

/* --- fixture --- */

static int setup(void **state)
{
    fx = it_fx_start(DBNAME);
    fx->bakery = h_client(fx->s, H_GATEWAY, "partner-bakery");
    it_register_or_die(fx->admin, "bakery", "bakery");
    it_register_or_die(fx->admin, "fuelco", "fuelco");
    fuelco = h_client(fx->s, H_GATEWAY, "partner-fuelco");
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
        cmocka_unit_test(test_enroll_assigns_card_qr_and_normalizes_identifiers),
        cmocka_unit_test(test_enroll_anonymous_card_and_preprinted_card),
        cmocka_unit_test(test_enroll_validation_table),
        cmocka_unit_test(test_enroll_second_member_with_same_phone_or_email_is_refused),
        cmocka_unit_test(test_enroll_is_idempotent),
        cmocka_unit_test(test_concurrent_enrolments_with_same_phone_make_one_member),
        cmocka_unit_test(test_get_member_by_every_identifier),
        cmocka_unit_test(test_get_member_validation_table),
        cmocka_unit_test(test_personal_fields_only_for_admin_enroller_or_with_sharing_consent),
        cmocka_unit_test(test_update_member_changes_identifiers_and_old_ones_stop_working),
        cmocka_unit_test(test_update_member_validation_table),
        cmocka_unit_test(test_personal_data_is_never_stored_in_plaintext),
        cmocka_unit_test(test_export_and_erase_member),
        cmocka_unit_test(test_record_feedback_validation_table),
        cmocka_unit_test(test_membership_validation_table),
        cmocka_unit_test(test_record_feedback_for_own_program),
        cmocka_unit_test(test_start_and_cancel_membership),
        cmocka_unit_test(test_directory_get_membership_plan),
        cmocka_unit_test(test_resolve_members_answers_every_reference_in_order),
        cmocka_unit_test(test_missing_malformed_or_wrong_key_refuses_to_start),
        cmocka_unit_test(test_personal_data_never_appears_in_logs),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return it_exit_code(failed);
}
