/* SPDX-License-Identifier: Apache-2.0 */
/* Pipelined statements on a pooled connection (common/pg.c), against the test PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg.h"

/* One connection, so the session's temporary table outlives each transaction. */
static co_pg_pool *pool_new(void)
{
    char url[128], err[256];
    snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%s/postgres",
             getenv("COALITION_TEST_PG_PORT"));
    co_pg_pool *p = co_pg_pool_new(url, 1, err, sizeof err);
    if (p == NULL) {
        fail_msg("%s", err);
    }
    co_pg_conn *c;
    assert_int_equal(co_pg_acquire(p, 5000, &c), CO_OK);
    assert_int_equal(co_pg_command(c, "CREATE TEMP TABLE t (id int PRIMARY KEY, n int NOT NULL"
                                      " CHECK (n >= 0))"),
                     CO_OK);
    co_pg_release(p, c);
    return p;
}

static const co_pg_stmt plus_one = {"t_plus_one", "SELECT $1::int + 1", 1};
static const co_pg_stmt insert_row = {"t_insert", "INSERT INTO t (id, n) VALUES ($1, $2)", 2};
static const co_pg_stmt count_rows = {"t_count", "SELECT count(*), coalesce(sum(n), 0) FROM t", 0};

static long one_value(PGresult *r)
{
    assert_int_equal(PQntuples(r), 1);
    long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* Rows in t and the sum of n, read outside any transaction of the test. */
static void expect_rows(co_pg_pool *p, long rows, long sum)
{
    co_pg_conn *c;
    assert_int_equal(co_pg_acquire(p, 5000, &c), CO_OK);
    PGresult *r;
    assert_int_equal(co_pg_exec(c, &count_rows, NULL, NULL, NULL, &r), CO_OK);
    assert_int_equal(strtol(PQgetvalue(r, 0, 0), NULL, 10), rows);
    assert_int_equal(strtol(PQgetvalue(r, 0, 1), NULL, 10), sum);
    PQclear(r);
    co_pg_release(p, c);
}

static void test_results_come_back_in_order(void **state)
{
    (void)state;
    co_pg_pool *p = pool_new();
    co_pg_conn *c;
    assert_int_equal(co_pg_acquire(p, 5000, &c), CO_OK);
    const char *v[3][1] = {{"1"}, {"10"}, {"100"}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(co_pg_send(c, &plus_one, v[i], NULL, NULL), CO_OK);
    }
    long want[3] = {2, 11, 101};
    for (int i = 0; i < 3; i++) {
        PGresult *r;
        assert_int_equal(co_pg_recv(c, &r), CO_OK);
        assert_int_equal(one_value(r), want[i]);
    }
    /* The pipeline is over: an ordinary statement runs as before. */
    assert_int_equal(PQpipelineStatus(co_pg_raw(c)), PQ_PIPELINE_OFF);
    PGresult *r;
    assert_int_equal(co_pg_exec(c, &plus_one, v[1], NULL, NULL, &r), CO_OK);
    assert_int_equal(one_value(r), 11);
    co_pg_release(p, c);
    co_pg_pool_free(p);
}

typedef struct failing {
    co_err second, third;
} failing;

static co_err fail_in_the_middle(co_pg_conn *c, void *ud)
{
    failing *f = ud;
    const char *a[2] = {"1", "5"}, *b[2] = {"1", "6"}, *d[2] = {"2", "7"};
    co_err e = co_pg_send(c, &insert_row, a, NULL, NULL);
    if (e == CO_OK) {
        e = co_pg_send(c, &insert_row, b, NULL, NULL); /* the same key */
    }
    if (e == CO_OK) {
        e = co_pg_send(c, &insert_row, d, NULL, NULL);
    }
    assert_int_equal(e, CO_OK);
    PGresult *r = NULL;
    assert_int_equal(co_pg_recv(c, &r), CO_OK);
    PQclear(r);
    f->second = co_pg_recv(c, &r);
    assert_null(r);
    assert_string_equal(co_pg_last_sqlstate(c), "23505");
    f->third = co_pg_recv(c, &r);
    assert_null(r);
    return f->second;
}

static void test_a_failure_skips_the_rest_and_rolls_back(void **state)
{
    (void)state;
    co_pg_pool *p = pool_new();
    failing f = {CO_OK, CO_OK};
    assert_int_equal(co_pg_tx(p, 5000, fail_in_the_middle, &f), CO_ERR_ALREADY_EXISTS);
    assert_int_equal(f.second, CO_ERR_ALREADY_EXISTS);
    assert_int_equal(f.third, CO_ERR_ALREADY_EXISTS); /* skipped: reports the failure */
    expect_rows(p, 0, 0);                             /* the first insert was rolled back */
    co_pg_pool_free(p);
}

typedef struct checked {
    const char *n1, *n2;
} checked;

/* Two inserts nobody reads: they go out with COMMIT. */
static co_err insert_two_checked(co_pg_conn *c, void *ud)
{
    checked *k = ud;
    const char *a[2] = {"1", k->n1}, *b[2] = {"2", k->n2};
    co_err e = co_pg_send_checked(c, &insert_row, a);
    return e != CO_OK ? e : co_pg_send_checked(c, &insert_row, b);
}

static void test_checked_statements_commit_or_fail_with_commit(void **state)
{
    (void)state;
    co_pg_pool *p = pool_new();
    checked bad = {"3", "-1"}; /* the second breaks the CHECK */
    assert_int_equal(co_pg_tx(p, 5000, insert_two_checked, &bad), CO_ERR_FAILED_PRECONDITION);
    expect_rows(p, 0, 0);
    checked good = {"3", "4"};
    assert_int_equal(co_pg_tx(p, 5000, insert_two_checked, &good), CO_OK);
    expect_rows(p, 2, 7);
    co_pg_pool_free(p);
}

static void test_unread_results_are_dropped_on_release(void **state)
{
    (void)state;
    co_pg_pool *p = pool_new();
    co_pg_conn *c;
    assert_int_equal(co_pg_acquire(p, 5000, &c), CO_OK);
    const char *v[1] = {"41"};
    assert_int_equal(co_pg_send(c, &plus_one, v, NULL, NULL), CO_OK);
    assert_int_equal(co_pg_defer(c, "BEGIN"), CO_OK);
    co_pg_release(p, c); /* neither read: a path that returned early */
    co_pg_conn *again;
    assert_int_equal(co_pg_acquire(p, 5000, &again), CO_OK);
    assert_ptr_equal(again, c); /* kept: it was healthy */
    assert_int_equal(PQpipelineStatus(co_pg_raw(again)), PQ_PIPELINE_OFF);
    assert_int_equal(PQtransactionStatus(co_pg_raw(again)), PQTRANS_IDLE);
    PGresult *r;
    assert_int_equal(co_pg_exec(again, &plus_one, v, NULL, NULL, &r), CO_OK);
    assert_int_equal(one_value(r), 42);
    co_pg_release(p, again);
    co_pg_pool_free(p);
}

/* A checked statement's failure reaches the next result read, even one in a later group. */
static void test_a_checked_failure_is_never_swallowed(void **state)
{
    (void)state;
    co_pg_pool *p = pool_new();
    co_pg_conn *c;
    assert_int_equal(co_pg_acquire(p, 5000, &c), CO_OK);
    const char *v[1] = {"1"};
    assert_int_equal(co_pg_send(c, &plus_one, v, NULL, NULL), CO_OK);
    assert_int_equal(co_pg_defer(c, "SELECT 1 / 0"), CO_OK);
    PGresult *r = NULL;
    assert_int_equal(co_pg_recv(c, &r), CO_OK);
    assert_int_equal(one_value(r), 2);
    /* Outside a transaction the next group would run: the failure must still be reported. */
    r = NULL;
    assert_int_equal(co_pg_exec(c, &plus_one, v, NULL, NULL, &r), CO_ERR_INTERNAL);
    assert_null(r);
    assert_string_equal(co_pg_last_sqlstate(c), "22012");
    co_pg_release(p, c);
    assert_int_equal(co_pg_acquire(p, 5000, &c), CO_OK);
    assert_int_equal(PQpipelineStatus(co_pg_raw(c)), PQ_PIPELINE_OFF);
    assert_int_equal(co_pg_exec(c, &plus_one, v, NULL, NULL, &r), CO_OK);
    assert_int_equal(one_value(r), 2);
    co_pg_release(p, c);
    co_pg_pool_free(p);
}

static void test_a_failed_prepare_is_not_remembered(void **state)
{
    (void)state;
    co_pg_pool *p = pool_new();
    static const co_pg_stmt broken = {"t_broken", "SELEC 1", 0};
    co_pg_conn *c;
    assert_int_equal(co_pg_acquire(p, 5000, &c), CO_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(co_pg_send(c, &broken, NULL, NULL, NULL), CO_OK);
        PGresult *r = NULL;
        assert_int_equal(co_pg_recv(c, &r), CO_ERR_INTERNAL);
        assert_null(r);
        /* Prepared again, and refused for its syntax again (not "no such statement"). */
        assert_string_equal(co_pg_last_sqlstate(c), "42601");
    }
    co_pg_release(p, c);
    co_pg_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_come_back_in_order),
        cmocka_unit_test(test_a_failure_skips_the_rest_and_rolls_back),
        cmocka_unit_test(test_checked_statements_commit_or_fail_with_commit),
        cmocka_unit_test(test_unread_results_are_dropped_on_release),
        cmocka_unit_test(test_a_checked_failure_is_never_swallowed),
        cmocka_unit_test(test_a_failed_prepare_is_not_remembered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
