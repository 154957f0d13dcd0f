/* SPDX-License-Identifier: Apache-2.0 */
/* Integration harness: starts the real binaries against real PostgreSQL with mTLS on loopback. */
#ifndef H_HARNESS_H
#define H_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "client.h"

/*
 * The harness reads its environment from variables that tests/CMakeLists.txt sets:
 * COALITION_TEST_PKI (dev PKI folder), COALITION_TEST_PG_DATADIR and COALITION_TEST_PG_PORT
 * (a private cluster started by the pg fixture), COALITION_TEST_SCRIPTS (scripts/),
 * COALITION_GATEWAY_BIN, COALITION_PARTNERS_BIN, COALITION_ACCOUNTS_BIN, COALITION_POINTS_BIN.
 * Missing variables abort the test with a message: a test that cannot run fails.
 */

/* Processes in start order: the gateway last, once every service it routes to answers. */
typedef enum h_proc { H_PARTNERS = 0, H_ACCOUNTS, H_POINTS, H_GATEWAY, H_NPROC } h_proc;

/* The master key the harness gives the accounts service (COALITION_ACCOUNTS_KEY). */
#define H_ACCOUNTS_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

typedef struct h_stack h_stack;

/* Creates database dbname (fresh schemas), migrates it and starts every process on free ports;
 * returns when each answers its health check. Logs go to <dbname>-<process>.log in the
 * current directory. Aborts the test program on failure. */
h_stack *h_stack_start(const char *dbname);

/* Adds NAME=value (a static string) to the environment of process p in every stack started
 * after this call, after what the harness sets (use names it does not set); at most 8 per process.
 */
void h_set_env(h_proc p, const char *entry);

/* Sends SIGTERM to every process and waits; returns true if all exited with status 0. Frees
 * the stack. */
bool h_stack_stop(h_stack *s);

/* Sends SIGTERM to process p and waits for it to exit; true if it exited with status 0. The
 * process counts as stopped afterwards: h_pid returns 0 for it and h_stack_stop skips it. */
bool h_proc_stop(h_stack *s, h_proc p);

/* Sends SIGKILL to process p and reaps it: no shutdown runs. The process counts as stopped
 * afterwards, as after h_proc_stop. Does nothing if p is stopped already. */
void h_proc_kill9(h_stack *s, h_proc p);

/* Starts stopped process p again with the ports, environment and database it had at
 * h_stack_start, and returns when it answers its health check (at most 15 s). Aborts the
 * test program if it cannot: its peers know it by those ports. Not thread-safe with other
 * calls on the same process. */
void h_proc_restart(h_stack *s, h_proc p);

/* "127.0.0.1:<port>" of a process's mTLS listener, health listener or metrics listener. */
const char *h_addr(const h_stack *s, h_proc p);
const char *h_health_addr(const h_stack *s, h_proc p);
const char *h_metrics_addr(const h_stack *s, h_proc p);
pid_t h_pid(const h_stack *s, h_proc p);

/* The libpq URL of process p's own database role (the URL it was started with). */
const char *h_service_db_url(const h_stack *s, h_proc p);

/* A libpq URL of the stack's database as the superuser (for checks) . */
const char *h_db_url(const h_stack *s);

/* A client to process p (usually H_GATEWAY) presenting the certificate <identity>.crt from the
 * PKI folder ("admin-operator", "partner-bakery", "service-gateway", "foreign-bakery", ...);
 * identity NULL presents no certificate. The caller frees it. */
co_client *h_client(const h_stack *s, h_proc p, const char *identity);

/* The path of a PKI file ("ca.crt"); static storage per call site is not needed: the result
 * lives in the stack. */
const char *h_pki(const h_stack *s, const char *file);

/* Runs argv to completion (posix_spawn, environment inherited); returns its exit status or -1. */
int h_run(char *const argv[]);

/* Milliseconds since an arbitrary start, for timing. */
long long h_now_ms(void);

#endif
