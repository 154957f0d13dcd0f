/* SPDX-License-Identifier: Apache-2.0 */
/* Blocking unary calls over a shared channel, one pluck queue per call. */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "pb.h"

#define CO_CLIENT_MAX_MD       8
#define CO_CLIENT_MAX_RESPONSE (16 * 1024 * 1024)

struct co_client {
    grpc_channel *ch;
    char *peer;
};

co_client *co_client_new(const char *target, const co_tls_files *tls, const char *peer)
{
    co_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->peer = strdup(peer);
    grpc_channel_credentials *creds =
        tls != NULL ? co_tls_channel_creds(tls) : grpc_insecure_credentials_create();
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER,
         GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         {.integer = CO_CLIENT_MAX_RESPONSE}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 30000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_ENABLE_RETRIES, {.integer = 0}},
    };
    grpc_channel_args ca = {sizeof args / sizeof args[0], args};
    c->ch = creds != NULL ? grpc_channel_create(target, creds, &ca) : NULL;
    if (creds != NULL) {
        grpc_channel_credentials_release(creds);
    }
    if (c->ch == NULL || c->peer == NULL) {
        co_client_free(c);
        return NULL;
    }
    return c;
}

void co_client_free(co_client *c)
{
    if (c == NULL) {
        return;
    }
    if (c->ch != NULL) {
        grpc_channel_destroy(c->ch);
    }
    free(c->peer);
    free(c);
}

grpc_channel *co_client_channel(co_client *c)
{
    return c->ch;
}

const char *co_client_peer(const co_client *c)
{
    return c->peer;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One attempt; writes the status and, when OK, the response bytes. */
static void attempt(co_client *c, const char *method, grpc_byte_buffer *send,
                    const co_client_md *md, size_t nmd, int64_t timeout_ms, co_arena *arena,
                    grpc_status_code *code, const char **details, uint8_t **rbytes, size_t *rlen)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    /* Copied: core may keep a static slice's pointer beyond the call (callers build paths). */
    grpc_slice mslice = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, mslice,
                                               NULL, deadline, NULL);
    grpc_metadata sendmd[CO_CLIENT_MAX_MD];
    memset(sendmd, 0, sizeof sendmd);
    if (nmd > CO_CLIENT_MAX_MD) {
        nmd = CO_CLIENT_MAX_MD;
    }
    for (size_t i = 0; i < nmd; i++) {
        sendmd[i].key = grpc_slice_from_static_string(md[i].key);
        sendmd[i].value = grpc_slice_from_copied_string(md[i].value);
    }
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_byte_buffer *recv = NULL;
    grpc_slice det = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = sendmd;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &st;
    ops[5].data.recv_status_on_client.status_details = &det;
    ops[5].data.recv_status_on_client.error_string = &error_string;
    grpc_call_error e = grpc_call_start_batch(call, ops, 6, call, NULL);
    if (e == GRPC_CALL_OK) {
        grpc_completion_queue_pluck(cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    } else {
        st = GRPC_STATUS_INTERNAL;
        det = grpc_slice_from_copied_string(grpc_call_error_to_string(e));
    }
    *code = st;
    *details =
        co_arena_strndup(arena, (const char *)GRPC_SLICE_START_PTR(det), GRPC_SLICE_LENGTH(det));
    if (st == GRPC_STATUS_OK) {
        *rbytes = co_pb_bb_bytes(recv, arena, CO_CLIENT_MAX_RESPONSE, rlen);
    }
    if (recv != NULL) {
        grpc_byte_buffer_destroy(recv);
    }
    grpc_slice_unref(det);
    gpr_free((void *)error_string);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    for (size_t i = 0; i < nmd; i++) {
        grpc_slice_unref(sendmd[i].value);
    }
    grpc_call_unref(call);
    grpc_slice_unref(mslice);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

co_err co_client_unary_raw(co_client *c, const char *method, const uint8_t *req, size_t len,
                           const co_client_md *md, size_t nmd, int64_t timeout_ms, bool idempotent,
                           co_arena *arena, uint8_t **resp, size_t *resp_len, co_client_status *st)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    if (send == NULL) {
        return CO_ERR_NOMEM;
    }
    int64_t end = now_ms() + timeout_ms;
    int64_t backoff = 25;
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    const char *details = "";
    uint8_t *rbytes = NULL;
    size_t rlen = 0;
    for (int tries = 0;; tries++) {
        int64_t left = end - now_ms();
        if (left <= 0) {
            code = GRPC_STATUS_DEADLINE_EXCEEDED;
            details = "deadline exceeded before the call could be made";
            break;
        }
        attempt(c, method, send, md, nmd, left, arena, &code, &details, &rbytes, &rlen);
        if (code != GRPC_STATUS_UNAVAILABLE || !idempotent || tries == 2 ||
            end - now_ms() <= backoff) {
            break;
        }
        struct timespec ts = {0, (long)backoff * 1000000L};
        nanosleep(&ts, NULL);
        backoff *= 4;
    }
    grpc_byte_buffer_destroy(send);
    if (st != NULL) {
        st->code = code;
        st->details = details != NULL ? details : "";
    }
    if (code != GRPC_STATUS_OK) {
        return co_err_from_grpc(code);
    }
    if (rbytes == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = rbytes;
    *resp_len = rlen;
    return CO_OK;
}

co_err co_client_unary(co_client *c, const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *resp_desc, const co_client_md *md,
                       size_t nmd, int64_t timeout_ms, bool idempotent, co_arena *arena,
                       ProtobufCMessage **resp, co_client_status *st)
{
    size_t len;
    uint8_t *bytes = co_pb_pack(req, arena, &len);
    if (bytes == NULL) {
        return CO_ERR_NOMEM;
    }
    uint8_t *rbytes;
    size_t rlen;
    co_err e = co_client_unary_raw(c, method, bytes, len, md, nmd, timeout_ms, idempotent, arena,
                                   &rbytes, &rlen, st);
    if (e != CO_OK) {
        return e;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(resp_desc, co_arena_pb(arena), rlen, rbytes);
    if (m == NULL) {
        if (st != NULL) {
            st->code = GRPC_STATUS_INTERNAL;
            st->details = "could not decode the response";
        }
        return CO_ERR_INTERNAL;
    }
    *resp = m;
    return CO_OK;
}
