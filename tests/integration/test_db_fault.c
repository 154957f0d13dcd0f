/* SPDX-License-Identifier: Apache-2.0 */
/* The partners service when its database connections die or the database refuses them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <grpc/grpc.h>
#include <libpq-fe.h>

#include "coalition/v1/partners.pb-c.h"
#include "harness.h"
#include "itest.h"

#define DB "db_fault"

/* Runs q as the superuser, connected to the maintenance database (ALTER DATABASE cannot run
 * in the database it changes). */
static void sql(const h_stack *s, const char *q)
{
    (void)s;
    char url[128];
    snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%s/postgres",
             getenv("COALITION_TEST_PG_PORT"));
    PGconn *pg = PQconnectdb(url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *r = PQexec(pg, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
        fail_msg("%s: %s", q, PQerrorMessage(pg));
    }
    PQclear(r);
    PQfinish(pg);
}

/* Kills every connection the partners service holds to its database. */
static void kill_backends(const h_stack *s)
{
    sql(s, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" DB
           "' AND usename = 'coalition_partners'");
}

static co_err register_partner(co_client *c, const char *request_id, const char *id,
                               co_client_status *st)
{
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__RegisterPartnerRequest req =
        it_register_request(request_id, id, "Fault Tolerant Ltd");
    ProtobufCMessage *resp = NULL;
    co_client_status local;
    co_err e =
        it_unary(c, &a, "/coalition.v1.Partners/RegisterPartner", &req.base,
                 &coalition__v1__register_partner_response__descriptor, NULL, 0, &resp, &local);
    if (st != NULL) {
        st->code = local.code;
        st->details = "";
    }
    co_arena_release(&a);
    return e;
}

static co_err get_partner(co_client *c, const char *id)
{
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__GetPartnerRequest req = COALITION__V1__GET_PARTNER_REQUEST__INIT;
    req.partner_id = (char *)id;
    ProtobufCMessage *resp = NULL;
    co_client_status st;
    co_err e = it_unary(c, &a, "/coalition.v1.Partners/GetPartner", &req.base,
                        &coalition__v1__get_partner_response__descriptor, NULL, 0, &resp, &st);
    co_arena_release(&a);
    return e;
}

static int setup(void **state)
{
    *state = it_fx_start(DB);
    return 0;
}

static void test_db_killed_connections_are_replaced_without_errors(void **state)
{
    it_fx *f = *state;
    assert_int_equal(register_partner(f->admin, "fault-1", "fault-one", NULL), CO_OK);
    for (int round = 0; round < 3; round++) {
        kill_backends(f->s);
        /* More calls than the pool has connections: every dead one is met and replaced. */
        for (int i = 0; i < 12; i++) {
            assert_int_equal(get_partner(f->admin, "fault-one"), CO_OK);
        }
    }
}

static void test_db_refusing_connections_gives_unavailable_then_recovers(void **state)
{
    it_fx *f = *state;
    sql(f->s, "ALTER DATABASE " DB " ALLOW_CONNECTIONS false");
    kill_backends(f->s);
    co_client_status st;
    /* The outage: clean UNAVAILABLE, quickly, for reads and for mutations. */
    long long t0 = h_now_ms();
    assert_int_equal(get_partner(f->admin, "fault-one"), CO_ERR_UNAVAILABLE);
    assert_int_equal(register_partner(f->admin, "fault-2", "fault-two", &st), CO_ERR_UNAVAILABLE);
    assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
    assert_true(h_now_ms() - t0 < 4000);
    sql(f->s, "ALTER DATABASE " DB " ALLOW_CONNECTIONS true");
    /* Recovery: the retry with the same request_id takes effect exactly once. */
    assert_int_equal(register_partner(f->admin, "fault-2", "fault-two", NULL), CO_OK);
    assert_int_equal(register_partner(f->admin, "fault-2", "fault-two", NULL), CO_OK);
    assert_int_equal(it_db_count(f->s,
                                 "SELECT count(*) FROM partners.partners"
                                 " WHERE partner_id = 'fault-two'",
                                 NULL),
                     1);
    assert_int_equal(it_db_count(f->s,
                                 "SELECT count(*) FROM partners.idempotency"
                                 " WHERE request_id = 'fault-2'",
                                 NULL),
                     1);
    assert_int_equal(get_partner(f->admin, "fault-two"), CO_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_db_killed_connections_are_replaced_without_errors),
        cmocka_unit_test(test_db_refusing_connections_gives_unavailable_then_recovers),
    };
    return it_exit_code(cmocka_run_group_tests(tests, setup, it_teardown));
}
