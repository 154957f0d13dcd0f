/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end tests of the Partners API through the gateway, against the real stack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <grpc/grpc.h>
#include <libpq-fe.h>

#include "coalition/v1/partners.pb-c.h"
#include "harness.h"
#include "itest.h"

/* A valid registration of partner id named name, with an empty request id the caller sets; ct is
 * caller storage. */
static Coalition__V1__RegisterPartnerRequest valid_request(const char *id, const char *name,
                                                           Coalition__V1__Contact *ct)
{
    coalition__v1__contact__init(ct);
    ct->name = "Front desk";
    ct->email = "desk@example.org";
    ct->phone = "+4930123456";
    Coalition__V1__RegisterPartnerRequest req = it_register_request("", id, name);
    req.contact = ct;
    return req;
}

/* Registers id as the admin with request id "reg-<id>" and the name "<id> Müller & Söhne":
 * repeating it is an idempotent replay. Returns the partner, or NULL with *st telling why. */
static Coalition__V1__Partner *register_demo(co_client *admin, co_arena *a, const char *id,
                                             co_client_status *st)
{
    Coalition__V1__Contact *ct = co_arena_alloc(a, sizeof *ct);
    char *rid = co_arena_printf(a, "reg-%s", id);
    char *name = co_arena_printf(a, "%s M\xc3\xbcller & S\xc3\xb6hne", id);
    assert_non_null(ct);
    assert_non_null(rid);
    assert_non_null(name);
    Coalition__V1__RegisterPartnerRequest req = valid_request(id, name, ct);
    req.request_id = rid;
    return it_register_partner(admin, a, &req, st);
}

/* register_demo, failing the test unless it is OK. */
static void ensure_partner(co_client *admin, const char *id)
{
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Partner *p = register_demo(admin, &a, id, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(p);
    assert_string_equal(p->partner_id, id);
    co_arena_release(&a);
}

/* --- tests --- */

static void test_admin_registers_bakery_and_bakery_reads_itself(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Partner *p = register_demo(f->admin, &a, "bakery", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(p);
    assert_string_equal(p->partner_id, "bakery");
    assert_string_equal(p->name, "bakery M\xc3\xbcller & S\xc3\xb6hne");
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING);
    assert_string_equal(p->certificate_identity, "spiffe://coalition.local/partner/bakery");
    assert_string_equal(p->settlement_currency, "EUR");
    assert_non_null(p->contact);
    assert_string_equal(p->contact->name, "Front desk");
    assert_string_equal(p->contact->email, "desk@example.org");
    assert_string_equal(p->contact->phone, "+4930123456");
    assert_non_null(p->create_time);
    assert_non_null(p->update_time);
    assert_true(p->create_time->seconds > 1600000000);

    /* The bakery's own certificate now maps to it: an empty partner_id means "myself". */
    Coalition__V1__Partner *me = it_get_partner(f->bakery, &a, "", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(me);
    assert_string_equal(me->partner_id, "bakery");
    assert_string_equal(me->name, p->name);
    assert_string_equal(me->certificate_identity, p->certificate_identity);
    assert_int_equal(me->create_time->seconds, p->create_time->seconds);
    assert_int_equal(me->create_time->nanos, p->create_time->nanos);

    /* Naming itself explicitly works too. */
    me = it_get_partner(f->bakery, &a, "bakery", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(me->partner_id, "bakery");
    co_arena_release(&a);
}

static void test_admin_gets_any_partner(void **state)
{
    it_fx *f = *state;
    ensure_partner(f->admin, "bakery");
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Partner *p = it_get_partner(f->admin, &a, "bakery", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(p->partner_id, "bakery");
    p = it_get_partner(f->admin, &a, "operator", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(p->partner_id, "operator");
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE);
    co_arena_release(&a);
}

static void test_partner_get_other_partner_is_permission_denied(void **state)
{
    it_fx *f = *state;
    ensure_partner(f->admin, "bakery");
    ensure_partner(f->admin, "fuelco");
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    assert_null(it_get_partner(f->bakery, &a, "fuelco", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    /* Whether another id exists is not revealed either. */
    assert_null(it_get_partner(f->bakery, &a, "no-such-partner", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    assert_null(it_get_partner(f->bakery, &a, "operator", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    co_arena_release(&a);
}

static void test_register_replay_same_request_id_returns_identical_response(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact ct;
    Coalition__V1__RegisterPartnerRequest req = valid_request("replay-co", "Replay Co", &ct);
    req.request_id = "replay-1";
    co_client_status st;
    Coalition__V1__Partner *first = it_register_partner(f->admin, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(first);
    Coalition__V1__Partner *again = it_register_partner(f->admin, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(again);
    assert_int_equal(again->create_time->seconds, first->create_time->seconds);
    assert_int_equal(again->create_time->nanos, first->create_time->nanos);
    size_t l1, l2;
    uint8_t *b1 = it_pack(&a, &first->base, &l1);
    uint8_t *b2 = it_pack(&a, &again->base, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    assert_int_equal(it_db_count(f->s,
                                 "SELECT count(*) FROM partners.partners WHERE partner_id = $1",
                                 "replay-co"),
                     1);
    co_arena_release(&a);
}

static void test_register_same_request_id_other_content_is_already_exists(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact ct;
    Coalition__V1__RegisterPartnerRequest req = valid_request("reuse-co", "Reuse Co", &ct);
    req.request_id = "reuse-1";
    co_client_status st;
    Coalition__V1__Partner *first = it_register_partner(f->admin, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(first);

    req.name = "Reuse Co (renamed)";
    assert_null(it_register_partner(f->admin, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "request_id");

    /* The same key for another partner is refused too, and registers nothing. */
    req = valid_request("reuse-other", "Reuse Other", &ct);
    req.request_id = "reuse-1";
    assert_null(it_register_partner(f->admin, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "request_id");
    assert_null(it_get_partner(f->admin, &a, "reuse-other", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);

    /* The same key on another method is refused as well. */
    assert_null(it_set_partner_status(f->admin, &a, "reuse-1", "reuse-co",
                                      COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE, "",
                                      &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "request_id");

    /* The original registration is untouched. */
    Coalition__V1__Partner *p = it_get_partner(f->admin, &a, "reuse-co", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(p->name, "Reuse Co");
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING);
    co_arena_release(&a);
}

static void test_register_existing_partner_id_with_new_request_id_is_already_exists(void **state)
{
    it_fx *f = *state;
    ensure_partner(f->admin, "bakery");
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact ct;
    Coalition__V1__RegisterPartnerRequest req = valid_request("bakery", "Another Bakery", &ct);
    req.request_id = "dup-bakery-1";
    co_client_status st;
    assert_null(it_register_partner(f->admin, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "bakery");

    /* A new partner claiming the bakery's certificate identity is refused as well. */
    req = valid_request("bakery-two", "Bakery Two", &ct);
    req.request_id = "dup-bakery-2";
    req.certificate_identity = "spiffe://coalition.local/partner/bakery";
    assert_null(it_register_partner(f->admin, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "certificate identity");
    assert_null(it_get_partner(f->admin, &a, "bakery-two", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);

    /* The operator's id is taken from the start. */
    req = valid_request("operator", "Fake operator", &ct);
    req.request_id = "dup-operator";
    assert_null(it_register_partner(f->admin, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "operator");

    /* The refusal is recorded: replaying the key gives the same answer. */
    req = valid_request("bakery", "Another Bakery", &ct);
    req.request_id = "dup-bakery-1";
    assert_null(it_register_partner(f->admin, &a, &req, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_ALREADY_EXISTS, "bakery");

    Coalition__V1__Partner *p = it_get_partner(f->admin, &a, "bakery", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_not_equal(p->name, "Another Bakery");
    co_arena_release(&a);
}

static void test_list_partners_pages_follow_tokens_in_order(void **state)
{
    it_fx *f = *state;
    static const char *const ids[] = {"list-a", "list-b", "list-c", "list-d", "list-e"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        ensure_partner(f->admin, ids[i]);
    }
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    /* The expected listing: every partner in the database, ordered by id. */
    PGconn *pg = PQconnectdb(h_db_url(f->s));
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *r = PQexec(pg, "SELECT partner_id FROM partners.partners ORDER BY partner_id");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    size_t want_n = (size_t)PQntuples(r);
    char **want = co_arena_calloc(&a, want_n, sizeof *want);
    assert_non_null(want);
    for (size_t i = 0; i < want_n; i++) {
        want[i] = co_arena_strdup(&a, PQgetvalue(r, (int)i, 0));
    }
    PQclear(r);
    PQfinish(pg);
    assert_true(want_n >= 6); /* the operator and the five above at least */

    size_t seen = 0;
    int pages = 0;
    const char *token = "";
    const char *prev = "";
    do {
        Coalition__V1__ListPartnersResponse *resp =
            it_list_partners(f->admin, &a, 2, token, 0, &st);
        IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
        assert_non_null(resp);
        pages++;
        assert_true(resp->n_partners <= 2);
        if (resp->next_page_token[0] != '\0') {
            assert_int_equal(resp->n_partners, 2); /* only the last page may be short */
        }
        for (size_t i = 0; i < resp->n_partners; i++) {
            const char *id = resp->partners[i]->partner_id;
            assert_true(strcmp(prev, id) < 0); /* strictly increasing: each id once */
            assert_true(seen < want_n);
            assert_string_equal(id, want[seen]);
            seen++;
            prev = id;
        }
        token = resp->next_page_token;
        assert_true(pages <= (int)want_n + 1); /* never an endless listing */
    } while (token[0] != '\0');
    assert_int_equal(seen, want_n);
    assert_int_equal(pages, (int)((want_n + 1) / 2)); /* no empty page at the end */

    /* page_size 0 means 50: everything on one page here. */
    Coalition__V1__ListPartnersResponse *all = it_list_partners(f->admin, &a, 0, "", 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_true(want_n < 50);
    assert_int_equal(all->n_partners, want_n);
    assert_string_equal(all->next_page_token, "");
    co_arena_release(&a);
}

static void test_list_partners_token_with_other_status_filter_is_invalid_argument(void **state)
{
    it_fx *f = *state;
    static const char *const ids[] = {"list-a", "list-b", "list-c"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        ensure_partner(f->admin, ids[i]);
    }
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__ListPartnersResponse *resp = it_list_partners(f->admin, &a, 1, "", 0, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_not_equal(resp->next_page_token, "");
    const char *token = resp->next_page_token;
    assert_null(it_list_partners(f->admin, &a, 1, token,
                                 COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "page_token");

    /* A token of the PENDING listing is refused for the full listing, and garbage is too. */
    resp = it_list_partners(f->admin, &a, 1, "",
                            COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_not_equal(resp->next_page_token, "");
    for (size_t i = 0; i < resp->n_partners; i++) {
        assert_int_equal(resp->partners[i]->status,
                         COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING);
    }
    assert_null(it_list_partners(f->admin, &a, 1, resp->next_page_token, 0, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "page_token");
    assert_null(it_list_partners(f->admin, &a, 1, "not-a-token", 0, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "page_token");
    co_arena_release(&a);
}

static void test_set_partner_status_active_suspended_but_never_back_to_pending(void **state)
{
    it_fx *f = *state;
    ensure_partner(f->admin, "status-co");
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Partner *reg = register_demo(f->admin, &a, "status-co", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    Coalition__V1__Partner *p = it_set_partner_status(
        f->admin, &a, "status-1", "status-co", COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE,
        "contract signed", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE);
    assert_string_equal(p->status_reason, "contract signed");
    /* The change moves update_time, never create_time. */
    assert_int_equal(p->create_time->seconds, reg->create_time->seconds);
    assert_int_equal(p->create_time->nanos, reg->create_time->nanos);
    assert_true(p->update_time->seconds > reg->update_time->seconds ||
                (p->update_time->seconds == reg->update_time->seconds &&
                 p->update_time->nanos > reg->update_time->nanos));

    /* A reason over 500 characters is refused before anything changes. */
    char long_reason[502];
    memset(long_reason, 'r', 501);
    long_reason[501] = '\0';
    assert_null(it_set_partner_status(f->admin, &a, "status-long", "status-co",
                                      COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED,
                                      long_reason, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "reason");

    p = it_set_partner_status(f->admin, &a, "status-2", "status-co",
                              COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED,
                              "unpaid invoice", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED);
    assert_string_equal(p->status_reason, "unpaid invoice");

    assert_null(it_set_partner_status(f->admin, &a, "status-3", "status-co",
                                      COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING, "",
                                      &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION, "PENDING");
    const char *first_details = st.details;

    /* The failed request replayed with its key gets the same recorded refusal. */
    assert_null(it_set_partner_status(f->admin, &a, "status-3", "status-co",
                                      COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING, "",
                                      &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION, NULL);
    assert_string_equal(st.details, first_details);

    /* Replaying the first change returns its original answer, not the current state. */
    p = it_set_partner_status(f->admin, &a, "status-1", "status-co",
                              COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE,
                              "contract signed", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE);

    /* The refusals changed nothing: the partner is still suspended. */
    p = it_get_partner(f->admin, &a, "status-co", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED);
    assert_string_equal(p->status_reason, "unpaid invoice");

    /* Reinstating works; an unknown partner is NOT_FOUND; the operator cannot be changed. */
    p = it_set_partner_status(f->admin, &a, "status-4", "status-co",
                              COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE, "paid", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE);
    assert_null(it_set_partner_status(f->admin, &a, "status-5", "no-such-partner",
                                      COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE, "",
                                      &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "no-such-partner");
    assert_null(it_set_partner_status(f->admin, &a, "status-6", "operator",
                                      COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED, "",
                                      &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION, NULL);
    co_arena_release(&a);
}

typedef enum mut_field {
    M_REQUEST_ID,
    M_PARTNER_ID,
    M_NAME,
    M_CURRENCY,
    M_EMAIL,
    M_PHONE,
    M_CONTACT_NAME,
    M_IDENTITY,
} mut_field;

static void test_register_partner_field_validation_table(void **state)
{
    it_fx *f = *state;
    char long_rid[130], long_id[65], long_name[202], long_cname[202];
    memset(long_rid, 'r', 129);
    long_rid[129] = '\0';
    memset(long_id, 'v', 64);
    long_id[64] = '\0';
    memset(long_name, 'n', 201);
    long_name[201] = '\0';
    memset(long_cname, 'c', 201);
    long_cname[201] = '\0';
    const struct {
        mut_field field;
        const char *value;
        const char *named; /* what the details must mention */
    } rows[] = {
        {M_REQUEST_ID, "", "request_id"},
        {M_REQUEST_ID, long_rid, "request_id"},
        {M_REQUEST_ID, "has space", "request_id"},
        {M_REQUEST_ID, "tab\there", "request_id"},
        {M_PARTNER_ID, "", "partner_id"},
        {M_PARTNER_ID, "Valid-co", "partner_id"},
        {M_PARTNER_ID, "1valid", "partner_id"},
        {M_PARTNER_ID, "-valid", "partner_id"},
        {M_PARTNER_ID, "valid_co", "partner_id"},
        {M_PARTNER_ID, "valid co", "partner_id"},
        {M_PARTNER_ID, long_id, "partner_id"},
        {M_NAME, "", "name"},
        {M_NAME, long_name, "name"},
        {M_CURRENCY, "", "settlement_currency"},
        {M_CURRENCY, "EURO", "settlement_currency"},
        {M_CURRENCY, "eur", "settlement_currency"},
        {M_CURRENCY, "XXX", "settlement_currency"},
        {M_EMAIL, "not-an-email", "contact.email"},
        {M_EMAIL, "two@@example.org", "contact.email"},
        {M_EMAIL, "a b@example.org", "contact.email"},
        {M_PHONE, "12345", "contact.phone"},
        {M_PHONE, "+49 30 123456", "contact.phone"},
        {M_PHONE, "+0301234567", "contact.phone"},
        {M_CONTACT_NAME, long_cname, "contact.name"},
        {M_IDENTITY, "spiffe://other.example/partner/valid-co", "certificate_identity"},
        {M_IDENTITY, "spiffe://coalition.local/service/valid-co", "certificate_identity"},
        {M_IDENTITY, "spiffe://coalition.local/admin/valid-co", "certificate_identity"},
        {M_IDENTITY, "https://coalition.local/partner/valid-co", "certificate_identity"},
        {M_IDENTITY, "spiffe://coalition.local.evil/partner/valid-co", "certificate_identity"},
    };
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "val-%zu", i);
        Coalition__V1__Contact ct;
        Coalition__V1__RegisterPartnerRequest req = valid_request("valid-co", "Valid Co", &ct);
        req.request_id = rid;
        char *v = (char *)rows[i].value;
        switch (rows[i].field) {
        case M_REQUEST_ID:
            req.request_id = v;
            break;
        case M_PARTNER_ID:
            req.partner_id = v;
            break;
        case M_NAME:
            req.name = v;
            break;
        case M_CURRENCY:
            req.settlement_currency = v;
            break;
        case M_EMAIL:
            ct.email = v;
            break;
        case M_PHONE:
            ct.phone = v;
            break;
        case M_CONTACT_NAME:
            ct.name = v;
            break;
        case M_IDENTITY:
            req.certificate_identity = v;
            break;
        }
        co_client_status st;
        Coalition__V1__Partner *p = it_register_partner(f->admin, &a, &req, &st);
        if (st.code != GRPC_STATUS_INVALID_ARGUMENT || strstr(st.details, rows[i].named) == NULL) {
            fail_msg("row %zu (%s = \"%.40s\"): expected INVALID_ARGUMENT naming \"%s\", got %s: "
                     "\"%s\"",
                     i, rows[i].named, rows[i].value, rows[i].named, co_grpc_status_name(st.code),
                     st.details);
        }
        assert_null(p);
    }
    /* Nothing was registered or recorded by the refused requests. */
    co_client_status st;
    assert_null(it_get_partner(f->admin, &a, "valid-co", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    assert_int_equal(
        it_db_count(f->s, "SELECT count(*) FROM partners.idempotency WHERE request_id LIKE $1",
                    "val-%"),
        0);

    /* The limits themselves are accepted: 200 characters (of two bytes each), 128-byte key. */
    char name200[401];
    for (int i = 0; i < 200; i++) {
        memcpy(name200 + 2 * i, "\xc3\xa9", 2); /* é */
    }
    name200[400] = '\0';
    char rid128[129];
    memset(rid128, 'k', 128);
    rid128[128] = '\0';
    char id63[64];
    memset(id63, 'w', 63);
    id63[63] = '\0';
    Coalition__V1__Contact ct;
    Coalition__V1__RegisterPartnerRequest req = valid_request(id63, name200, &ct);
    req.request_id = rid128;
    req.certificate_identity = "spiffe://coalition.local/partner/custom-identity";
    Coalition__V1__Partner *p = it_register_partner(f->admin, &a, &req, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(p->name, name200);
    assert_string_equal(p->partner_id, id63);
    assert_string_equal(p->certificate_identity,
                        "spiffe://coalition.local/partner/custom-identity");
    co_arena_release(&a);
}

static void test_suspended_partner_still_reads_itself(void **state)
{
    it_fx *f = *state;
    ensure_partner(f->admin, "fuelco");
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    assert_non_null(it_set_partner_status(f->admin, &a, "fuelco-active", "fuelco",
                                          COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE, "",
                                          &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_non_null(it_set_partner_status(f->admin, &a, "fuelco-suspend", "fuelco",
                                          COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED,
                                          "audit pending", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    co_client *fuelco = h_client(f->s, H_GATEWAY, "partner-fuelco");
    Coalition__V1__Partner *p = it_get_partner(fuelco, &a, "", &st);
    co_client_free(fuelco);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(p->partner_id, "fuelco");
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED);
    assert_string_equal(p->status_reason, "audit pending");
    co_arena_release(&a);
}

static void test_get_unknown_partner_is_not_found(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    assert_null(it_get_partner(f->admin, &a, "no-such-partner", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "no-such-partner");
    assert_null(it_get_partner(f->admin, &a, "Not_An_Id", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT, "partner_id");
    co_arena_release(&a);
}

/* --- fixture --- */

static int setup(void **state)
{
    it_fx *f = it_fx_start("it_partners_e2e");
    f->bakery = h_client(f->s, H_GATEWAY, "partner-bakery");
    *state = f;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: nothing may present the bakery certificate before it is registered. */
        cmocka_unit_test(test_admin_registers_bakery_and_bakery_reads_itself),
        cmocka_unit_test(test_admin_gets_any_partner),
        cmocka_unit_test(test_partner_get_other_partner_is_permission_denied),
        cmocka_unit_test(test_register_replay_same_request_id_returns_identical_response),
        cmocka_unit_test(test_register_same_request_id_other_content_is_already_exists),
        cmocka_unit_test(test_register_existing_partner_id_with_new_request_id_is_already_exists),
        cmocka_unit_test(test_list_partners_pages_follow_tokens_in_order),
        cmocka_unit_test(test_list_partners_token_with_other_status_filter_is_invalid_argument),
        cmocka_unit_test(test_set_partner_status_active_suspended_but_never_back_to_pending),
        cmocka_unit_test(test_register_partner_field_validation_table),
        cmocka_unit_test(test_suspended_partner_still_reads_itself),
        cmocka_unit_test(test_get_unknown_partner_is_not_found),
    };
    int failed = cmocka_run_group_tests(tests, setup, it_teardown);
    return it_exit_code(failed);
}
