/* SPDX-License-Identifier: Apache-2.0 */
/* Connection pool with per-connection prepared statements and retried transactions. */
#include "pg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define CO_PG_MAX_PREPARED 128
/* How long a connection keeps its prepared statements before it prepares them again. A generic
 * plan is chosen once, from the table sizes of that moment: a plan made while a table was
 * nearly empty (a sequential scan joined by hash) would stay in use as the table grows to
 * millions of rows. Preparing again every few seconds lets plans follow the data; it costs a
 * few plannings per statement per interval. */
#define CO_PG_REPLAN_MS 10000

/* What a pipelined connection still owes its user, in the order it was sent. */
enum { PEND_PREPARE, PEND_CHECK, PEND_RESULT, PEND_SYNC };
#define CO_PG_MAX_PENDING 48

typedef struct pending {
    int kind;
    const co_pg_stmt *st; /* PEND_PREPARE, and statements' names for the log */
    const char *what;
} pending;

struct co_pg_conn {
    PGconn *pg;
    const co_pg_stmt *prepared[CO_PG_MAX_PREPARED];
    size_t nprepared;
    int64_t prepared_ms; /* when the first of the prepared statements was prepared */
    bool broken;
    char sqlstate[6];
    char constraint[64];
    /* Pipeline mode: entered by the first statement sent without waiting for its result, left
     * once every result up to the last sync has been read. */
    bool piping;
    bool unsynced;   /* statements sent since the last sync */
    co_err pipe_err; /* the first failure since the last sync; later statements were skipped */
    pending pend[CO_PG_MAX_PENDING];
    int pend_head;
    int pend_n;
    co_pg_conn *next_free;
};

struct co_pg_pool {
    char *url;
    int size;
    int open; /* connections that exist (free or in use) */
    co_pg_conn *free_list;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Forgets c's prepared statements once they are CO_PG_REPLAN_MS old (c is idle). */
static void replan_if_due(co_pg_conn *c)
{
    if (c->nprepared == 0 || mono_ms() - c->prepared_ms < CO_PG_REPLAN_MS) {
        return;
    }
    PGresult *r = PQexec(c->pg, "DEALLOCATE ALL");
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        c->nprepared = 0;
    } else {
        c->broken = PQstatus(c->pg) != CONNECTION_OK;
        c->prepared_ms = mono_ms(); /* try again later; the old plans still work */
    }
    PQclear(r);
}

static PGconn *connect_db(const char *url, char *err, size_t errlen)
{
    PGconn *pg = PQconnectdb(url);
    if (pg == NULL) {
        snprintf(err, errlen, "could not connect to the database: out of memory");
        return NULL;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        const char *m = PQerrorMessage(pg);
        size_t n = strcspn(m, "\n");
        snprintf(err, errlen, "could not connect to the database: %.*s", (int)n, m);
        PQfinish(pg);
        return NULL;
    }
    PGresult *r = PQexec(pg, "SET application_name = 'coalition'; SET TIME ZONE 'UTC'");
    PQclear(r);
    return pg;
}

co_pg_pool *co_pg_pool_new(const char *url, int size, char *err, size_t errlen)
{
    co_pg_pool *p = calloc(1, sizeof *p);
    if (p == NULL || size < 1) {
        free(p);
        snprintf(err, errlen, "could not create database pool");
        return NULL;
    }
    p->url = strdup(url);
    p->size = size;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    co_pg_conn *c = calloc(1, sizeof *c);
    if (p->url == NULL || c == NULL) {
        free(c);
        co_pg_pool_free(p);
        snprintf(err, errlen, "could not create database pool: out of memory");
        return NULL;
    }
    c->pg = connect_db(url, err, errlen);
    if (c->pg == NULL) {
        free(c);
        co_pg_pool_free(p);
        return NULL;
    }
    p->open = 1;
    p->free_list = c;
    return p;
}

static void conn_free(co_pg_conn *c)
{
    if (c->pg != NULL) {
        PQfinish(c->pg);
    }
    free(c);
}

void co_pg_pool_free(co_pg_pool *p)
{
    if (p == NULL) {
        return;
    }
    co_pg_conn *c = p->free_list;
    while (c != NULL) {
        co_pg_conn *n = c->next_free;
        conn_free(c);
        c = n;
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->url);
    free(p);
}

co_err co_pg_acquire(co_pg_pool *p, int64_t timeout_ms, co_pg_conn **out)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms > 60000) {
        timeout_ms = 60000;
    }
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->free_list != NULL) {
            co_pg_conn *c = p->free_list;
            p->free_list = c->next_free;
            pthread_mutex_unlock(&p->mu);
            c->next_free = NULL;
            c->sqlstate[0] = '\0';
            c->constraint[0] = '\0';
            replan_if_due(c);
            *out = c;
            return CO_OK;
        }
        if (p->open < p->size) {
            p->open++;
            pthread_mutex_unlock(&p->mu);
            char err[256];
            co_pg_conn *c = calloc(1, sizeof *c);
            if (c != NULL) {
                c->pg = connect_db(p->url, err, sizeof err);
            }
            if (c == NULL || c->pg == NULL) {
                free(c);
                co_log(CO_LOG_ERROR, "database unavailable", "{s:s}", "error",
                       c == NULL ? "out of memory" : err);
                pthread_mutex_lock(&p->mu);
                p->open--;
                pthread_cond_signal(&p->cv);
                pthread_mutex_unlock(&p->mu);
                return CO_ERR_UNAVAILABLE;
            }
            *out = c;
            return CO_OK;
        }
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0) {
            pthread_mutex_unlock(&p->mu);
            return CO_ERR_DEADLINE_EXCEEDED;
        }
    }
}

static co_err pipe_drain(co_pg_conn *c);

void co_pg_release(co_pg_pool *p, co_pg_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->piping && !c->broken) {
        (void)pipe_drain(c); /* results nobody read: a failed path returned early */
    }
    if (!c->broken && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        /* A transaction left open by a failed path: never hand it to the next user. */
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        PQclear(r);
    }
    bool drop =
        c->broken || PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE;
    pthread_mutex_lock(&p->mu);
    if (drop) {
        p->open--;
    } else {
        c->next_free = p->free_list;
        p->free_list = c;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (drop) {
        conn_free(c);
    }
}

PGconn *co_pg_raw(co_pg_conn *c)
{
    return c->pg;
}

co_err co_pg_sqlstate_err(const char *s)
{
    if (s == NULL || s[0] == '\0') {
        return CO_ERR_UNAVAILABLE;
    }
    if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0) {
        return CO_ERR_RETRY;
    }
    if (strcmp(s, "23505") == 0) {
        return CO_ERR_ALREADY_EXISTS;
    }
    if (strcmp(s, "23514") == 0) {
        return CO_ERR_FAILED_PRECONDITION;
    }
    if (strcmp(s, "57014") == 0) {
        return CO_ERR_DEADLINE_EXCEEDED;
    }
    if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0 || strncmp(s, "57P", 3) == 0) {
        return CO_ERR_UNAVAILABLE;
    }
    return CO_ERR_INTERNAL;
}

/* Records the failure of r on c and maps it; clears r. */
static co_err fail_result(co_pg_conn *c, PGresult *r, const char *what)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *cons = r != NULL ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state != NULL ? state : "");
    snprintf(c->constraint, sizeof c->constraint, "%s", cons != NULL ? cons : "");
    if (PQstatus(c->pg) != CONNECTION_OK) {
        c->broken = true;
    }
    co_err e = co_pg_sqlstate_err(c->sqlstate);
    if (e == CO_ERR_INTERNAL || e == CO_ERR_UNAVAILABLE) {
        /* The primary message names objects, never values (those are in DETAIL). */
        const char *m = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        co_log(CO_LOG_ERROR, "database statement failed", "{s:s, s:s, s:s}", "statement", what,
               "sqlstate", c->sqlstate, "error", m != NULL ? m : "connection lost");
    }
    PQclear(r);
    return e;
}

static bool is_prepared(const co_pg_conn *c, const co_pg_stmt *st)
{
    for (size_t i = 0; i < c->nprepared; i++) {
        if (c->prepared[i] == st) {
            return true;
        }
    }
    return false;
}

/* --- Pipeline mode: statements go out together, results come back in order. --- */

static void unprepare(co_pg_conn *c, const co_pg_stmt *st)
{
    for (size_t i = 0; i < c->nprepared; i++) {
        if (c->prepared[i] == st) {
            c->prepared[i] = c->prepared[--c->nprepared];
            return;
        }
    }
}

/* Gives up on c's pipeline: the connection is closed on release. */
static co_err pipe_lost(co_pg_conn *c, const char *what)
{
    c->broken = true;
    c->pend_n = 0;
    c->unsynced = false;
    snprintf(c->sqlstate, sizeof c->sqlstate, "08006");
    co_log(CO_LOG_ERROR, "database statement failed", "{s:s, s:s, s:s}", "statement", what,
           "sqlstate", c->sqlstate, "error", "connection lost in pipeline");
    return CO_ERR_UNAVAILABLE;
}

static co_err pipe_push(co_pg_conn *c, int kind, const co_pg_stmt *st, const char *what)
{
    /* The last entry is kept for a sync: without one the server would hold back the results
     * a drain waits for. */
    if (c->pend_n >= CO_PG_MAX_PENDING - (kind == PEND_SYNC ? 0 : 1)) {
        co_log(CO_LOG_ERROR, "too many pipelined statements", "{s:s}", "statement", what);
        return CO_ERR_INTERNAL;
    }
    if (!c->piping) {
        if (PQenterPipelineMode(c->pg) != 1) {
            return pipe_lost(c, what);
        }
        c->piping = true;
        c->pipe_err = CO_OK;
    }
    pending *pd = &c->pend[(c->pend_head + c->pend_n) % CO_PG_MAX_PENDING];
    pd->kind = kind;
    pd->st = st;
    pd->what = what;
    c->pend_n++;
    c->unsynced = kind != PEND_SYNC;
    return CO_OK;
}

/* Sends st (preparing it first if c has not) without waiting; kind says whether its result is
 * wanted. Room for two entries is checked first, so a prepare is never queued alone. */
static co_err pipe_send(co_pg_conn *c, int kind, const co_pg_stmt *st, const char *const *vals,
                        const int *lens, const int *fmts)
{
    if (c->broken) {
        return CO_ERR_UNAVAILABLE;
    }
    if (c->pend_n + 3 > CO_PG_MAX_PENDING) {
        co_log(CO_LOG_ERROR, "too many pipelined statements", "{s:s}", "statement", st->name);
        return CO_ERR_INTERNAL;
    }
    co_err e;
    if (!is_prepared(c, st)) {
        if (c->nprepared == CO_PG_MAX_PREPARED) {
            co_log(CO_LOG_ERROR, "too many prepared statements", "{s:s}", "statement", st->name);
            return CO_ERR_INTERNAL;
        }
        if ((e = pipe_push(c, PEND_PREPARE, st, st->name)) != CO_OK) {
            return e;
        }
        if (PQsendPrepare(c->pg, st->name, st->sql, st->nparams, NULL) != 1) {
            return pipe_lost(c, st->name);
        }
        if (c->nprepared == 0) {
            c->prepared_ms = mono_ms();
        }
        c->prepared[c->nprepared++] = st; /* taken back if the prepare fails */
    }
    if ((e = pipe_push(c, kind, st, st->name)) != CO_OK) {
        return e;
    }
    if (PQsendQueryPrepared(c->pg, st->name, st->nparams, vals, lens, fmts, 0) != 1) {
        return pipe_lost(c, st->name);
    }
    return CO_OK;
}

static co_err pipe_sync(co_pg_conn *c)
{
    if (!c->unsynced) {
        return CO_OK;
    }
    co_err e = pipe_push(c, PEND_SYNC, NULL, "sync");
    if (e != CO_OK) {
        return e;
    }
    if (PQpipelineSync(c->pg) != 1) { /* sends and flushes */
        return pipe_lost(c, "sync");
    }
    return CO_OK;
}

/* Reads the results of the oldest pending entry. *out gets a PEND_RESULT's result when out is
 * not NULL (else it is cleared). Returns that entry's outcome: a statement skipped after an
 * earlier failure reports that failure. */
static co_err pipe_next(co_pg_conn *c, int *kind, PGresult **out)
{
    pending pd = c->pend[c->pend_head];
    c->pend_head = (c->pend_head + 1) % CO_PG_MAX_PENDING;
    c->pend_n--;
    *kind = pd.kind;
    PGresult *r = PQgetResult(c->pg);
    if (r == NULL) {
        return pipe_lost(c, pd.what);
    }
    ExecStatusType s = PQresultStatus(r);
    co_err e = CO_OK;
    if (pd.kind == PEND_SYNC) {
        PQclear(r);
        if (s != PGRES_PIPELINE_SYNC) {
            return pipe_lost(c, pd.what);
        }
        c->pipe_err = CO_OK;
        if (c->pend_n == 0) {
            if (PQexitPipelineMode(c->pg) != 1) {
                return pipe_lost(c, pd.what);
            }
            c->piping = false;
        }
        return CO_OK;
    }
    if (s == PGRES_PIPELINE_ABORTED) {
        PQclear(r);
        e = c->pipe_err != CO_OK ? c->pipe_err : CO_ERR_INTERNAL;
        if (pd.kind == PEND_PREPARE) {
            unprepare(c, pd.st);
        }
    } else if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        e = fail_result(c, r, pd.what);
        if (c->pipe_err == CO_OK) {
            c->pipe_err = e;
        }
        if (pd.kind == PEND_PREPARE) {
            unprepare(c, pd.st);
        }
    } else if (pd.kind == PEND_RESULT && out != NULL) {
        *out = r;
    } else {
        PQclear(r);
    }
    /* Each statement's results end with a NULL. */
    if ((r = PQgetResult(c->pg)) != NULL) {
        PQclear(r);
        if (e == CO_OK && out != NULL && *out != NULL) {
            PQclear(*out);
            *out = NULL;
        }
        return pipe_lost(c, pd.what);
    }
    if (c->broken || PQstatus(c->pg) != CONNECTION_OK) {
        if (out != NULL && *out != NULL) {
            PQclear(*out);
            *out = NULL;
        }
        return pipe_lost(c, pd.what);
    }
    return e;
}

/* Reads everything pending (results nobody asked for are dropped) and leaves pipeline mode. */
static co_err pipe_drain(co_pg_conn *c)
{
    co_err first = pipe_sync(c);
    while (c->pend_n > 0 && !c->broken) {
        int kind;
        co_err e = pipe_next(c, &kind, NULL);
        if (first == CO_OK) {
            first = e;
        }
    }
    return c->broken && first == CO_OK ? CO_ERR_UNAVAILABLE : first;
}

co_err co_pg_send(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals, const int *lens,
                  const int *fmts)
{
    return pipe_send(c, PEND_RESULT, st, vals, lens, fmts);
}

co_err co_pg_send_checked(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals)
{
    return pipe_send(c, PEND_CHECK, st, vals, NULL, NULL);
}

co_err co_pg_defer(co_pg_conn *c, const char *sql)
{
    if (c->broken) {
        return CO_ERR_UNAVAILABLE;
    }
    co_err e = pipe_push(c, PEND_CHECK, NULL, sql);
    if (e != CO_OK) {
        return e;
    }
    if (PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0) != 1) {
        return pipe_lost(c, sql);
    }
    return CO_OK;
}

co_err co_pg_recv(co_pg_conn *c, PGresult **out)
{
    *out = NULL;
    co_err e = pipe_sync(c);
    while (e == CO_OK && c->pend_n > 0) {
        int kind;
        PGresult *r = NULL;
        co_err e2 = pipe_next(c, &kind, &r);
        if (kind == PEND_RESULT) {
            /* The sync that follows is already on its way: reading it leaves pipeline mode
             * once nothing else is pending. */
            int next_kind;
            if (c->pend_n > 0 && c->pend[c->pend_head].kind == PEND_SYNC &&
                pipe_next(c, &next_kind, NULL) != CO_OK && e2 == CO_OK) {
                PQclear(r);
                return CO_ERR_UNAVAILABLE;
            }
            if (e2 == CO_OK) {
                *out = r;
            }
            return e2;
        }
        if (e2 != CO_OK) {
            /* A checked statement failed: that is the outcome, even when the statement asked
             * for is in a later group that ran without it. */
            return e2;
        }
    }
    if (e == CO_OK) {
        co_log(CO_LOG_ERROR, "no pipelined result to read", "{s:b}", "broken", c->broken);
        e = c->broken ? CO_ERR_UNAVAILABLE : CO_ERR_INTERNAL;
    }
    return e;
}

co_err co_pg_exec(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals, const int *lens,
                  const int *fmts, PGresult **out)
{
    if (c->piping) {
        /* Statements deferred before this one go out with it, in one round trip. */
        int wanted = 0;
        for (int i = 0; i < c->pend_n; i++) {
            wanted += c->pend[(c->pend_head + i) % CO_PG_MAX_PENDING].kind == PEND_RESULT;
        }
        co_err e = co_pg_send(c, st, vals, lens, fmts);
        for (int i = 0; e == CO_OK && i <= wanted; i++) {
            PGresult *r = NULL;
            e = co_pg_recv(c, &r);
            if (i < wanted) {
                PQclear(r); /* sent earlier and never read: a caller's mistake */
            } else if (e == CO_OK) {
                *out = r;
            }
        }
        if (e == CO_OK && c->pend_n > 0) {
            e = pipe_drain(c); /* the sync after this statement */
            if (e != CO_OK) {
                PQclear(*out);
                *out = NULL;
            }
        }
        return e;
    }
    if (!is_prepared(c, st)) {
        if (c->nprepared == CO_PG_MAX_PREPARED) {
            co_log(CO_LOG_ERROR, "too many prepared statements", "{s:s}", "statement", st->name);
            return CO_ERR_INTERNAL;
        }
        PGresult *r = PQprepare(c->pg, st->name, st->sql, st->nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            return fail_result(c, r, st->name);
        }
        PQclear(r);
        if (c->nprepared == 0) {
            c->prepared_ms = mono_ms();
        }
        c->prepared[c->nprepared++] = st;
    }
    PGresult *r = PQexecPrepared(c->pg, st->name, st->nparams, vals, lens, fmts, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        return fail_result(c, r, st->name);
    }
    *out = r;
    return CO_OK;
}

co_err co_pg_command(co_pg_conn *c, const char *sql)
{
    if (c->piping) {
        co_err e = co_pg_defer(c, sql);
        co_err d = pipe_drain(c);
        return e != CO_OK ? e : d;
    }
    PGresult *r = PQexec(c->pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        return fail_result(c, r, sql);
    }
    PQclear(r);
    return CO_OK;
}

const char *co_pg_last_sqlstate(const co_pg_conn *c)
{
    return c->sqlstate;
}

const char *co_pg_last_constraint(const co_pg_conn *c)
{
    return c->constraint;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

co_err co_pg_tx(co_pg_pool *p, int64_t timeout_ms, co_pg_tx_fn fn, void *ud)
{
    int64_t end = timeout_ms == INT64_MAX ? INT64_MAX : now_ms() + timeout_ms;
    co_err e = CO_ERR_INTERNAL;
    bool reconnected = false;
    for (int attempt = 0; attempt < 5; attempt++) {
        int64_t left = end == INT64_MAX ? 30000 : end - now_ms();
        if (left <= 0) {
            return CO_ERR_DEADLINE_EXCEEDED;
        }
        co_pg_conn *c;
        e = co_pg_acquire(p, left, &c);
        if (e != CO_OK) {
            return e;
        }
        char limit[64];
        snprintf(limit, sizeof limit, "SET LOCAL statement_timeout = %lld",
                 (long long)(left > 60000 ? 60000 : (left < 1 ? 1 : left)));
        bool committing = false;
        /* Sent with the transaction's first statement: no round trip of their own. */
        e = co_pg_defer(c, "BEGIN");
        if (e == CO_OK) {
            e = co_pg_defer(c, limit);
        }
        if (e == CO_OK) {
            e = fn(c, ud);
            if (e == CO_OK) {
                committing = true;
                e = co_pg_command(c, "COMMIT");
            } else {
                co_pg_command(c, "ROLLBACK");
            }
        }
        bool broken = c->broken || PQstatus(c->pg) != CONNECTION_OK;
        co_pg_release(p, c);
        if (e == CO_ERR_UNAVAILABLE && broken && !committing && !reconnected) {
            /* A pooled connection died (server restart, failover, idle kill) before COMMIT was
             * sent: nothing was committed, so the transaction runs again once on a new one.
             * A connection lost during COMMIT is ambiguous and is left to the caller's retry
             * with the same request_id. */
            reconnected = true;
            continue;
        }
        if (e != CO_ERR_RETRY) {
            return e;
        }
        /* Jitter from the clock spreads out transactions that collided. */
        long ms = (2L << attempt) + (long)(now_ms() % 5);
        struct timespec ts = {0, ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    return CO_ERR_UNAVAILABLE;
}
