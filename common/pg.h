/* SPDX-License-Identifier: Apache-2.0 */
/* PostgreSQL through libpq: a connection pool, prepared statements, retried transactions. */
#ifndef CO_PG_H
#define CO_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "err.h"

typedef struct co_pg_pool co_pg_pool;
/* A pooled connection; used by one thread between acquire and release. */
typedef struct co_pg_conn co_pg_conn;

/* A statement prepared once per connection under its name. Define them as static consts. */
typedef struct co_pg_stmt {
    const char *name;
    const char *sql;
    int nparams;
} co_pg_stmt;

/* A pool of at most size connections to url. Connects once now to fail early with a clear
 * message (the URL's password is never printed). Thread-safe. */
co_pg_pool *co_pg_pool_new(const char *url, int size, char *err, size_t errlen);

/* Closes every connection; none may be acquired. NULL is a no-op. */
void co_pg_pool_free(co_pg_pool *p);

/* Waits up to timeout_ms for a healthy connection. CO_ERR_UNAVAILABLE if the database cannot
 * be reached, CO_ERR_DEADLINE_EXCEEDED if every connection stayed busy. */
co_err co_pg_acquire(co_pg_pool *p, int64_t timeout_ms, co_pg_conn **out);

/* Returns c to the pool (a broken connection is closed and replaced later). */
void co_pg_release(co_pg_pool *p, co_pg_conn *c);

/* The libpq connection, for result inspection helpers. */
PGconn *co_pg_raw(co_pg_conn *c);

/*
 * Executes st with nparams text parameters (NULL value = SQL NULL; lens/fmts may be NULL, or
 * give binary parameters with fmt 1). On CO_OK *out is a PGRES_TUPLES_OK or PGRES_COMMAND_OK
 * result the caller PQclear()s; on failure nothing is returned and the error is mapped from
 * the SQLSTATE (see co_pg_sqlstate_err).
 */
co_err co_pg_exec(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals, const int *lens,
                  const int *fmts, PGresult **out);

/* Runs a parameterless command (BEGIN, SAVEPOINT x, ...). Anything still pipelined on c goes
 * out with it, and the command reports the first failure among them. */
co_err co_pg_command(co_pg_conn *c, const char *sql);

/*
 * Pipelining (libpq pipeline mode): statements sent without waiting go out together, so a
 * group costs one round trip. The database runs them in order; after a failure it skips the
 * rest of the group, which then reports that same failure.
 *  - co_pg_send queues st; its result is read, in sending order, with co_pg_recv.
 *  - co_pg_send_checked and co_pg_defer queue a statement (or a parameterless command) whose
 *    result is only checked: a failure shows in the next co_pg_recv, co_pg_exec or
 *    co_pg_command on c, whichever comes first.
 * Parameter values are copied when sent. co_pg_recv sends what is queued if it has not gone
 * yet, then waits. Results nobody reads are dropped on release.
 */
co_err co_pg_send(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals, const int *lens,
                  const int *fmts);
co_err co_pg_send_checked(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals);
co_err co_pg_defer(co_pg_conn *c, const char *sql);
co_err co_pg_recv(co_pg_conn *c, PGresult **out);

/* The SQLSTATE of the last failed statement on c ("23505"), or "" if none. */
const char *co_pg_last_sqlstate(const co_pg_conn *c);

/* The constraint named by the last failed statement on c, or "". */
const char *co_pg_last_constraint(const co_pg_conn *c);

/* Maps a SQLSTATE to the outcome: serialization failure and deadlock → CO_ERR_RETRY, unique
 * violation → ALREADY_EXISTS, check violation → FAILED_PRECONDITION, query cancelled
 * (statement timeout) → DEADLINE_EXCEEDED, connection and resource classes → UNAVAILABLE,
 * anything else → INTERNAL. */
co_err co_pg_sqlstate_err(const char *sqlstate);

/* The body of a transaction: runs statements on c and returns CO_OK to commit. */
typedef co_err (*co_pg_tx_fn)(co_pg_conn *c, void *ud);

/*
 * Runs fn inside BEGIN ... COMMIT on a pooled connection, with statement_timeout bounded by
 * timeout_ms. BEGIN is pipelined with fn's first statement, and what fn leaves queued (see
 * co_pg_send_checked) goes out with COMMIT. Any error from fn rolls back. CO_ERR_RETRY (from fn or
 * COMMIT: serialization failure, deadlock) reruns the whole transaction up to 5 times with jittered
 * backoff; fn must therefore be safe to run again (keep its effects in the database until it
 * returns CO_OK). A connection found dead before COMMIT is replaced and the transaction run once
 * more.
 */
co_err co_pg_tx(co_pg_pool *p, int64_t timeout_ms, co_pg_tx_fn fn, void *ud);

#endif
