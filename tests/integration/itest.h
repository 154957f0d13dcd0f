/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers the integration test programs share: status checks, Partners calls, fixtures, SQL. */
#ifndef IT_ITEST_H
#define IT_ITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coalition/v1/partners.pb-c.h"
#include "harness.h"

/* The deadline of every call the helpers make, in milliseconds. */
#define IT_CALL_MS 5000

/* Fails the test at file:line unless st has code want and, when needle is not NULL, details
 * containing needle. st is a co_client_status lvalue. */
#define IT_EXPECT_STATUS(st, want, needle)                                                         \
    it_expect_status_at(&(st), (want), (needle), __FILE__, __LINE__)

/* What IT_EXPECT_STATUS expands to: fails the running cmocka test with a message naming
 * file:line, the wanted code and needle and what st holds. Reads st only. */
void it_expect_status_at(const co_client_status *st, grpc_status_code want, const char *needle,
                         const char *file, int line);

/* The status a call starts from: UNKNOWN with details "(no call made)" (static storage). */
co_client_status it_no_status(void);

/* --- calls --- */

/* Packs m into arena memory of a (one spare byte, so an empty message still has a buffer) and
 * returns it with its length in *len; fails the test on out of memory. */
uint8_t *it_pack(co_arena *a, const ProtobufCMessage *m, size_t *len);

/* co_client_unary with the deadline IT_CALL_MS and no retries: sets *st to it_no_status()
 * first, then to the outcome. The response and the details live in a; returns the mapped
 * error as co_client_unary does. */
co_err it_unary(co_client *c, co_arena *a, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *resp_desc, const co_client_md *md, size_t nmd,
                ProtobufCMessage **resp, co_client_status *st);

/* Sends exactly len bytes (nmd metadata md) to method and returns the status; the response,
 * if any, and the details are left in a. */
co_client_status it_call_raw(co_client *c, co_arena *a, const char *method, const void *bytes,
                             size_t len, const co_client_md *md, size_t nmd);

/* it_call_raw with the packed bytes of req, or with no bytes at all when req is NULL. */
co_client_status it_call_msg(co_client *c, co_arena *a, const char *method,
                             const ProtobufCMessage *req, const co_client_md *md, size_t nmd);

/* A RegisterPartnerRequest of request id rid, partner id and name, currency EUR and no
 * contact. The request points at the caller's strings: they must outlive it. */
Coalition__V1__RegisterPartnerRequest it_register_request(const char *rid, const char *id,
                                                          const char *name);

/* The typed Partners calls: the partner (or the page) in arena a, or NULL with *st telling
 * why. The request strings stay the caller's. it_get_partner_md sends nmd metadata md. */
Coalition__V1__Partner *it_register_partner(co_client *c, co_arena *a,
                                            const Coalition__V1__RegisterPartnerRequest *req,
                                            co_client_status *st);
Coalition__V1__Partner *it_get_partner(co_client *c, co_arena *a, const char *id,
                                       co_client_status *st);
Coalition__V1__Partner *it_get_partner_md(co_client *c, co_arena *a, const char *id,
                                          const co_client_md *md, size_t nmd, co_client_status *st);
Coalition__V1__ListPartnersResponse *it_list_partners(co_client *c, co_arena *a, int32_t size,
                                                      const char *token, int status,
                                                      co_client_status *st);
Coalition__V1__Partner *it_set_partner_status(co_client *c, co_arena *a, const char *request_id,
                                              const char *id, int status, const char *reason,
                                              co_client_status *st);

/* Registers partner id named name as admin with request id "reg-<id>"; on any status but OK
 * prints why and exits the program with status 1 (for group setup, outside any test). */
void it_register_or_die(co_client *admin, const char *id, const char *name);

/* Sets partner id ACTIVE as admin with request id "act-<id>"; exits like it_register_or_die. */
void it_activate_or_die(co_client *admin, const char *id);

/* For group set-up: calls method as it_unary does and returns the response (arena memory of
 * a); on any status but OK prints the method and status and exits the program with 1. */
ProtobufCMessage *it_call_or_die(co_client *c, co_arena *a, const char *method,
                                 const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *resp_desc);

/* Lets partner issue and accept points of program code (request id "part-<code>-<partner>"),
 * as admin; exits on failure. */
void it_participate_or_die(co_client *admin, co_arena *a, const char *code, const char *partner);

/* --- fixture --- */

/* What a group's tests share: the stack and clients to the gateway. The fixture owns all. */
typedef struct it_fx {
    h_stack *s;
    co_client *admin;  /* "admin-operator" */
    co_client *bakery; /* "partner-bakery" if the group opens it, else NULL */
} it_fx;

/* Initialises gRPC, starts a stack on database dbname and opens f->admin to its gateway;
 * f->bakery is left NULL. Exits the program on failure. it_teardown frees the result. */
it_fx *it_fx_start(const char *dbname);

/* A cmocka group teardown for *state, an it_fx from it_fx_start: frees its clients, stops
 * the stack, frees the fixture and shuts gRPC down. A stack that does not stop cleanly fails
 * the teardown and is remembered for it_exit_code. */
int it_teardown(void **state);

/* The exit status of main: 1 if failed (the count of failed tests of every group) is not 0 or
 * if any it_teardown saw a stack stop uncleanly (cmocka 1.1 leaves a failed group teardown
 * out of its result), else 0. */
int it_exit_code(int failed);

/* --- database --- */

/* The one integer the query sql returns on the stack's database, as the superuser; param is
 * its $1, or NULL for a query without parameters. Fails the test unless it returns one row. */
long long it_db_count(const h_stack *s, const char *sql, const char *param);

/* Runs VerifyLedger over every program as admin, prints any violation, and fails unless the
 * ledger verifies and some transfer was checked. */
void it_expect_verified(co_client *admin);

/* --- HTTP --- */

/* GET path over HTTP/1.0 from addr ("127.0.0.1:port"); the malloc'd response, NULL on error. */
char *it_http_get(const char *addr, const char *path);

/* coalition_grpc_calls_total of method (its full path) with status code (a name like "OK")
 * at process p's /metrics; 0 when the method has not finished a call with that status yet. */
long long it_metric_calls(const h_stack *s, h_proc p, const char *method, const char *code);

#endif
