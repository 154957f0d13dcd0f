/* SPDX-License-Identifier: Apache-2.0 */
/* Claim, effect under a savepoint, record: the idempotency protocol of every mutation. */
#include "idem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pb.h"

void co_idem_init(co_idem *idem, const char *schema)
{
    memset(idem, 0, sizeof *idem);
    snprintf(idem->names[0], sizeof idem->names[0], "co_idem_claim");
    snprintf(idem->names[1], sizeof idem->names[1], "co_idem_load");
    snprintf(idem->names[2], sizeof idem->names[2], "co_idem_record");
    snprintf(idem->sql[0], sizeof idem->sql[0],
             "INSERT INTO %s.idempotency (caller, request_id, method, request_hash, status)"
             " VALUES ($1, $2, $3, $4, -1) ON CONFLICT DO NOTHING RETURNING 1",
             schema);
    snprintf(idem->sql[1], sizeof idem->sql[1],
             "SELECT method, request_hash, status, message, response FROM %s.idempotency"
             " WHERE caller = $1 AND request_id = $2",
             schema);
    snprintf(idem->sql[2], sizeof idem->sql[2],
             "UPDATE %s.idempotency SET status = $3, message = $4, response = $5"
             " WHERE caller = $1 AND request_id = $2",
             schema);
    idem->claim = (co_pg_stmt){idem->names[0], idem->sql[0], 4};
    idem->load = (co_pg_stmt){idem->names[1], idem->sql[1], 2};
    idem->record = (co_pg_stmt){idem->names[2], idem->sql[2], 5};
}

bool co_request_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

co_err co_check_request_id(co_call *call, const char *request_id)
{
    co_call_log_request_id(call, request_id);
    if (!co_request_id_valid(request_id)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"request_id\": must be 1-128 printable ASCII "
                            "characters");
    }
    return CO_OK;
}

typedef struct run_state {
    const co_idem *idem;
    co_call *call;
    const char *caller;
    const char *request_id;
    const char *method;
    uint8_t hash[32];
    co_idem_effect_fn effect;
    void *ud;
    /* outcome */
    bool replay;
    grpc_status_code status;
    const char *message;
    const uint8_t *resp_bytes;
    size_t resp_len;
    ProtobufCMessage *resp;
    co_err err;
} run_state;

static co_err load_prior(co_pg_conn *c, run_state *st)
{
    co_arena *a = co_call_arena(st->call);
    const char *vals[2] = {st->caller, st->request_id};
    PGresult *r;
    co_err e = co_pg_exec(c, &st->idem->load, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CO_ERR_RETRY; /* the claimant rolled back between our insert and this read */
    }
    bool same = strcmp(PQgetvalue(r, 0, 0), st->method) == 0;
    size_t hl = 0;
    unsigned char *h = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 1), &hl);
    same = same && h != NULL && hl == 32 && memcmp(h, st->hash, 32) == 0;
    PQfreemem(h);
    if (!same) {
        PQclear(r);
        return co_call_fail(st->call, CO_ERR_ALREADY_EXISTS,
                            "request_id \"%s\" was already used with different content",
                            st->request_id);
    }
    long status = strtol(PQgetvalue(r, 0, 2), NULL, 10);
    if (status < 0) {
        PQclear(r);
        return CO_ERR_RETRY;
    }
    st->replay = true;
    st->status = (grpc_status_code)status;
    st->message = co_arena_strdup(a, PQgetvalue(r, 0, 3));
    if (!PQgetisnull(r, 0, 4)) {
        size_t rl = 0;
        unsigned char *rb = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 4), &rl);
        if (rb == NULL) {
            PQclear(r);
            return CO_ERR_NOMEM;
        }
        uint8_t *copy = co_arena_alloc(a, rl == 0 ? 1 : rl);
        if (copy != NULL) {
            memcpy(copy, rb, rl);
        }
        PQfreemem(rb);
        if (copy == NULL) {
            PQclear(r);
            return CO_ERR_NOMEM;
        }
        st->resp_bytes = copy;
        st->resp_len = rl;
    }
    PQclear(r);
    return CO_OK;
}

static co_err record(co_pg_conn *c, run_state *st, grpc_status_code status, const char *message,
                     const uint8_t *resp, size_t resp_len)
{
    char code[16];
    snprintf(code, sizeof code, "%d", (int)status);
    const char *vals[5] = {st->caller, st->request_id, code, message, (const char *)resp};
    int lens[5] = {0, 0, 0, 0, (int)resp_len};
    int fmts[5] = {0, 0, 0, 0, 1};
    PGresult *r;
    co_err e = co_pg_exec(c, &st->idem->record, vals, lens, fmts, &r);
    if (e == CO_OK) {
        PQclear(r);
    }
    return e;
}

static co_err run_tx(co_pg_conn *c, void *ud)
{
    run_state *st = ud;
    st->replay = false;
    st->resp = NULL;
    const char *vals[4] = {st->caller, st->request_id, st->method, (const char *)st->hash};
    int lens[4] = {0, 0, 0, 32};
    int fmts[4] = {0, 0, 0, 1};
    PGresult *r;
    co_err e = co_pg_exec(c, &st->idem->claim, vals, lens, fmts, &r);
    if (e != CO_OK) {
        return e;
    }
    bool claimed = PQntuples(r) == 1;
    PQclear(r);
    if (!claimed) {
        return load_prior(c, st);
    }
    e = co_pg_command(c, "SAVEPOINT co_effect");
    if (e != CO_OK) {
        return e;
    }
    ProtobufCMessage *resp = NULL;
    e = st->effect(c, st->call, st->ud, &resp);
    if (e == CO_OK) {
        if (resp == NULL) {
            return CO_ERR_INTERNAL;
        }
        size_t len;
        uint8_t *bytes = co_pb_pack(resp, co_call_arena(st->call), &len);
        if (bytes == NULL) {
            return CO_ERR_NOMEM;
        }
        e = record(c, st, GRPC_STATUS_OK, NULL, bytes, len);
        if (e == CO_OK) {
            st->resp = resp;
        }
        return e;
    }
    if (!co_err_is_final(e)) {
        return e;
    }
    co_err e2 = co_pg_command(c, "ROLLBACK TO SAVEPOINT co_effect");
    if (e2 != CO_OK) {
        return e2;
    }
    const char *msg = co_call_error_message(st->call);
    e2 = record(c, st, co_err_to_grpc(e), msg != NULL ? msg : co_err_name(e), NULL, 0);
    if (e2 != CO_OK) {
        return e2;
    }
    st->err = e;
    return CO_OK;
}

co_err co_idem_run(co_pg_pool *pool, const co_idem *idem, co_call *call, const char *caller,
                   const char *request_id, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, co_idem_effect_fn effect, void *ud,
                   ProtobufCMessage **resp)
{
    run_state st = {
        .idem = idem,
        .call = call,
        .caller = caller,
        .request_id = request_id,
        .method = co_call_method(call),
        .effect = effect,
        .ud = ud,
        .err = CO_OK,
    };
    if (!co_pb_hash(req, co_call_arena(call), st.hash)) {
        return CO_ERR_NOMEM;
    }
    int64_t left = co_call_ms_left(call);
    co_err e = co_pg_tx(pool, left, run_tx, &st);
    if (e != CO_OK) {
        return e;
    }
    if (!st.replay) {
        if (st.err != CO_OK) {
            return st.err;
        }
        *resp = st.resp;
        return CO_OK;
    }
    if (st.status != GRPC_STATUS_OK) {
        return co_call_fail(call, co_err_from_grpc(st.status), "%s", st.message);
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(resp_desc, co_arena_pb(co_call_arena(call)),
                                                    st.resp_len, st.resp_bytes);
    if (m == NULL) {
        co_log(CO_LOG_ERROR, "could not decode a recorded response", "{s:s}", "method", st.method);
        return CO_ERR_INTERNAL;
    }
    *resp = m;
    return CO_OK;
}
