/* SPDX-License-Identifier: Apache-2.0 */
/* Idempotent mutations: (caller, request_id) stored with the effect, in one transaction. */
#ifndef CO_IDEM_H
#define CO_IDEM_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "err.h"
#include "pg.h"
#include "server.h"

/*
 * The statements of one schema's idempotency table. Each service's first migration creates
 *   <schema>.idempotency (caller text, request_id text, method text, request_hash bytea,
 *                         status int, message text, response bytea, created_at timestamptz,
 *                         PRIMARY KEY (caller, request_id))
 */
typedef struct co_idem {
    co_pg_stmt claim;
    co_pg_stmt load;
    co_pg_stmt record;
    char sql[3][512];
    char names[3][64];
} co_idem;

/* Builds the statements for schema ([a-z_]+, a constant of the service). */
void co_idem_init(co_idem *idem, const char *schema);

/*
 * The effect of a mutation, run inside the transaction after the request was claimed. Returns
 * CO_OK with *resp set (arena memory of the call), or an error after co_call_fail(). A final
 * error (co_err_is_final) is rolled back to a savepoint and recorded so that a retry replays
 * it; any other error rolls back everything, and nothing is recorded.
 */
typedef co_err (*co_idem_effect_fn)(co_pg_conn *c, co_call *call, void *ud,
                                    ProtobufCMessage **resp);

/*
 * Runs the effect of req (the decoded request, whose canonical packing is hashed) exactly once
 * per (caller, request_id): a repeat with the same content replays the recorded outcome,
 * failures included; a repeat with other content is CO_ERR_ALREADY_EXISTS. Concurrent repeats
 * wait for the first to commit. resp_desc decodes a replayed response.
 */
co_err co_idem_run(co_pg_pool *pool, const co_idem *idem, co_call *call, const char *caller,
                   const char *request_id, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, co_idem_effect_fn effect, void *ud,
                   ProtobufCMessage **resp);

/* Validates a request_id: 1-128 printable ASCII characters. */
bool co_request_id_valid(const char *s);

/* Attaches request_id to the call's log line and fails the call with INVALID_ARGUMENT naming
 * the field unless it is valid. Every mutation calls it first. */
co_err co_check_request_id(co_call *call, const char *request_id);

#endif
