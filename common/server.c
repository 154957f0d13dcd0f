/* SPDX-License-Identifier: Apache-2.0 */
/* Unary gRPC server: registered methods, pre-posted call slots, workers, graceful stop. */
#include "server.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/support/time.h>

#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "pb.h"
#include "tls.h"

#define HEALTH_CHECK_PATH     "/grpc.health.v1.Health/Check"
#define CO_SERVER_MAX_DETAILS 1024
#define CO_IDENTITY_MAX       512

enum { LIS_MAIN = 0, LIS_HEALTH = 1, LIS_COUNT = 2 };
enum { CALL_REQUESTED = 0, CALL_RUNNING, CALL_FINISHING };

typedef struct method_rt {
    const co_method *m; /* NULL for Health/Check */
    const char *path;
    void *handle;
    int metrics_idx;
} method_rt;

typedef struct listener {
    int kind;
    grpc_server *server;
    int port;
    method_rt *methods;
    size_t nmethods;
    int generic_metrics_idx;
} listener;

struct co_server {
    co_server_opts opts;
    listener lis[LIS_COUNT];
    int nlis;
    grpc_completion_queue **cqs;
    int ncqs;
    pthread_t *threads;
    int nthreads;
    atomic_bool stopping;
    atomic_int inflight;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    /* Trailing metadata on every status we send: "coalition-origin: <service>". */
    grpc_metadata origin;
};

struct co_call {
    co_tag tag;
    co_server *srv;
    listener *lis;
    method_rt *rt; /* NULL: a generic slot (unknown method) */
    int cq_idx;
    int state;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details;
    int cancelled;
    co_arena arena;
    grpc_byte_buffer *resp;
    grpc_status_code status;
    co_err err;
    const char *msg;
    struct timespec t0;
    bool identity_checked;
    const char *identity;
    const char *log_partner;
    const char *log_request_id;
    const char *generic_path;
    void *ctx;
};

static void on_call_event(co_tag *tag, bool ok);

static int64_t elapsed_us(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - t0->tv_sec) * 1000000 + (now.tv_nsec - t0->tv_nsec) / 1000;
}

/* Posts one request slot for rt (or a generic one when rt is NULL) on queue cq_idx. */
static void post_slot(co_server *s, listener *l, method_rt *rt, int cq_idx)
{
    co_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        co_log(CO_LOG_ERROR, "could not post call slot: out of memory", NULL);
        return;
    }
    c->tag.fn = on_call_event;
    c->srv = s;
    c->lis = l;
    c->rt = rt;
    c->cq_idx = cq_idx;
    c->state = CALL_REQUESTED;
    grpc_metadata_array_init(&c->md);
    grpc_completion_queue *cq = s->cqs[cq_idx];
    grpc_call_error e;
    if (rt != NULL) {
        e = grpc_server_request_registered_call(l->server, rt->handle, &c->call, &c->deadline,
                                                &c->md, &c->payload, cq, cq, &c->tag);
    } else {
        grpc_call_details_init(&c->details);
        e = grpc_server_request_call(l->server, &c->call, &c->details, &c->md, cq, cq, &c->tag);
    }
    if (e != GRPC_CALL_OK) {
        co_log(CO_LOG_ERROR, "could not post call slot", "{s:s}", "error",
               grpc_call_error_to_string(e));
        if (rt == NULL) {
            grpc_call_details_destroy(&c->details);
        }
        grpc_metadata_array_destroy(&c->md);
        free(c);
    }
}

static void free_call(co_call *c)
{
    grpc_metadata_array_destroy(&c->md);
    if (c->payload != NULL) {
        grpc_byte_buffer_destroy(c->payload);
    }
    if (c->resp != NULL) {
        grpc_byte_buffer_destroy(c->resp);
    }
    if (c->rt == NULL) {
        grpc_call_details_destroy(&c->details);
    }
    if (c->call != NULL) {
        grpc_call_unref(c->call);
    }
    co_arena_release(&c->arena);
    free(c);
}

static void log_call(co_call *c, int64_t us)
{
    bool health = c->lis->kind == LIS_HEALTH || (c->rt != NULL && c->rt->m == NULL);
    co_log_level lvl = health ? CO_LOG_DEBUG : CO_LOG_INFO;
    if (c->status == GRPC_STATUS_INTERNAL || c->status == GRPC_STATUS_UNKNOWN) {
        lvl = CO_LOG_ERROR;
    }
    if (!co_log_enabled(lvl)) {
        return;
    }
    co_log(lvl, "call", "{s:s, s:s*, s:s*, s:s*, s:s, s:s*, s:f, s:b}", "method", co_call_method(c),
           "partner", c->log_partner, "request_id", c->log_request_id, "peer", c->identity,
           "status", co_grpc_status_name(c->status), "error", c->msg, "duration_ms",
           (double)us / 1000.0, "cancelled", c->cancelled != 0);
}

static void call_done(co_call *c)
{
    co_server *s = c->srv;
    int64_t us = elapsed_us(&c->t0);
    log_call(c, us);
    if (s->opts.metrics != NULL) {
        int idx = c->rt != NULL ? c->rt->metrics_idx : c->lis->generic_metrics_idx;
        co_metrics_observe(s->opts.metrics, idx, c->status, us);
        co_metrics_inflight(s->opts.metrics, -1);
    }
    free_call(c);
    if (atomic_fetch_sub(&s->inflight, 1) == 1 && atomic_load(&s->stopping)) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->mu);
    }
}

void co_call_finish_raw(co_call *c, grpc_status_code status, const char *details,
                        grpc_byte_buffer *resp)
{
    c->status = status;
    if (status == GRPC_STATUS_OK) {
        c->resp = resp != NULL ? resp : grpc_raw_byte_buffer_create(NULL, 0);
    } else if (resp != NULL) {
        grpc_byte_buffer_destroy(resp);
    }
    if (status != GRPC_STATUS_OK && c->msg == NULL && details != NULL) {
        c->msg = co_arena_strndup(&c->arena, details, strnlen(details, CO_SERVER_MAX_DETAILS));
    }
    grpc_slice det = grpc_empty_slice();
    if (details != NULL) {
        det = grpc_slice_from_copied_buffer(details, strnlen(details, CO_SERVER_MAX_DETAILS));
    }
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].data.send_initial_metadata.count = 0;
    n++;
    if (status == GRPC_STATUS_OK) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = c->resp;
        n++;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = status;
    ops[n].data.send_status_from_server.status_details = details != NULL ? &det : NULL;
    ops[n].data.send_status_from_server.trailing_metadata_count = 1;
    ops[n].data.send_status_from_server.trailing_metadata = &c->srv->origin;
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
    n++;
    c->state = CALL_FINISHING;
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->tag, NULL);
    grpc_slice_unref(det);
    if (e != GRPC_CALL_OK) {
        co_log(CO_LOG_ERROR, "could not finish call", "{s:s, s:s}", "method", co_call_method(c),
               "error", grpc_call_error_to_string(e));
        call_done(c);
    }
}

/* Finishes with err and the message set by co_call_fail (or a generic one). */
static void finish_err(co_call *c, co_err err)
{
    if (c->msg == NULL) {
        c->msg = err == CO_ERR_INTERNAL ? "internal error" : co_err_name(err);
    }
    c->err = err;
    co_call_finish_raw(c, co_err_to_grpc(err), c->msg, NULL);
}

static void finish_msg(co_call *c, const ProtobufCMessage *resp)
{
    grpc_byte_buffer *bb = co_pb_to_bb(resp);
    if (bb == NULL) {
        finish_err(c, CO_ERR_NOMEM);
        return;
    }
    co_call_finish_raw(c, GRPC_STATUS_OK, NULL, bb);
}

/* Decodes the request of a unary method into arena memory, or finishes the call. */
static ProtobufCMessage *decode(co_call *c, const ProtobufCMessageDescriptor *d)
{
    if (c->payload == NULL) {
        finish_err(c, co_call_fail(c, CO_ERR_INVALID_ARGUMENT, "missing request message"));
        return NULL;
    }
    size_t len;
    uint8_t *bytes =
        co_pb_bb_bytes(c->payload, &c->arena, (size_t)c->srv->opts.max_message_bytes, &len);
    if (bytes == NULL) {
        finish_err(c, co_call_fail(c, CO_ERR_INVALID_ARGUMENT, "could not read request message"));
        return NULL;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(d, co_arena_pb(&c->arena), len, bytes);
    if (m == NULL) {
        finish_err(c, co_call_fail(c, CO_ERR_INVALID_ARGUMENT,
                                   "malformed request: could not decode %s", d->name));
        return NULL;
    }
    const char *bad = NULL;
    if (!co_pb_wire_strings_valid(d, bytes, len, &c->arena, &bad)) {
        finish_err(c, co_call_fail(c, CO_ERR_INVALID_ARGUMENT,
                                   "invalid field \"%s\": not valid UTF-8", bad ? bad : "?"));
        return NULL;
    }
    return m;
}

static void handle_health(co_call *c)
{
    ProtobufCMessage *m = decode(c, &grpc__health__v1__health_check_request__descriptor);
    if (m == NULL) {
        return;
    }
    const Grpc__Health__V1__HealthCheckRequest *req = (void *)m;
    bool known = req->service == NULL || req->service[0] == '\0';
    for (const char *const *n = c->srv->opts.health_names; !known && n != NULL && *n != NULL; n++) {
        known = strcmp(*n, req->service) == 0;
    }
    if (!known) {
        finish_err(c,
                   co_call_fail(c, CO_ERR_NOT_FOUND, "unknown service \"%.100s\"", req->service));
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = atomic_load(&c->srv->stopping)
                      ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                      : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    finish_msg(c, &resp.base);
}

static void dispatch(co_call *c)
{
    if (c->rt == NULL) {
        finish_err(
            c, co_call_fail(c, CO_ERR_UNIMPLEMENTED, "unknown method \"%s\"", co_call_method(c)));
        return;
    }
    const co_method *m = c->rt->m;
    if (m == NULL) {
        handle_health(c);
        return;
    }
    if (c->srv->opts.authorize != NULL) {
        co_err e = c->srv->opts.authorize(c, c->srv->opts.authorize_ud);
        if (e != CO_OK) {
            finish_err(c, e);
            return;
        }
    }
    if (m->raw != NULL) {
        m->raw(c, c->payload, m->ud);
        return;
    }
    ProtobufCMessage *req = decode(c, m->input);
    if (req == NULL) {
        return;
    }
    ProtobufCMessage *resp = NULL;
    co_err e = m->unary(c, req, &resp, m->ud);
    if (e != CO_OK) {
        finish_err(c, e);
    } else if (resp == NULL || resp->descriptor != m->output) {
        co_log(CO_LOG_ERROR, "handler returned no or a wrong response", "{s:s}", "method", m->path);
        finish_err(c, CO_ERR_INTERNAL);
    } else {
        finish_msg(c, resp);
    }
}

static void on_call_event(co_tag *tag, bool ok)
{
    co_call *c = (co_call *)tag;
    co_server *s = c->srv;
    if (c->state == CALL_REQUESTED) {
        if (!ok) {
            /* The server is shutting down; this slot was never used. */
            c->call = NULL;
            free_call(c);
            return;
        }
        atomic_fetch_add(&s->inflight, 1);
        co_metrics_inflight(s->opts.metrics, 1);
        /* Re-post even while stopping: a call that reaches core after shutdown began but before
         * its connection saw GOAWAY waits for a slot, and without one it would hang until the
         * grace ran out. Once core refuses new requests a slot fails at once and is freed. */
        post_slot(s, c->lis, c->rt, c->cq_idx);
        clock_gettime(CLOCK_MONOTONIC, &c->t0);
        co_arena_init(&c->arena, (size_t)s->opts.arena_limit);
        c->state = CALL_RUNNING;
        dispatch(c);
        return;
    }
    if (c->state == CALL_FINISHING) {
        call_done(c);
        return;
    }
    co_log(CO_LOG_ERROR, "unexpected completion for a running call", NULL);
}

static void *worker_main(void *arg)
{
    grpc_completion_queue *cq = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
        if (ev.type == GRPC_OP_COMPLETE && ev.tag != NULL) {
            co_tag *t = ev.tag;
            t->fn(t, ev.success != 0);
        }
    }
    return NULL;
}

static int setup_listener(co_server *s, listener *l, int kind, const char *addr,
                          grpc_server_credentials *creds, char *err, size_t errlen)
{
    const co_server_opts *o = &s->opts;
    grpc_arg args[7];
    size_t nargs = 0;
    args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER,
                               GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                               {.integer = (int)o->max_message_bytes}};
    args[nargs++] = (grpc_arg){
        GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = (int)o->max_message_bytes}};
    args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER,
                               GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               {.integer = (int)o->max_connection_age_ms}};
    args[nargs++] =
        (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, {.integer = 30000}};
    args[nargs++] =
        (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, {.integer = 10000}};
    args[nargs++] =
        (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_MAX_CONCURRENT_STREAMS, {.integer = 1000}};
    /* gRPC binds with SO_REUSEPORT unless told otherwise: a second process on a taken port
     * would then start and silently share its connections. It fails to start instead. */
    args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_ALLOW_REUSEPORT, {.integer = 0}};
    grpc_channel_args ca = {nargs, args};
    l->kind = kind;
    l->server = grpc_server_create(&ca, NULL);
    if (l->server == NULL) {
        snprintf(err, errlen, "could not create gRPC server");
        return -1;
    }
    size_t n = kind == LIS_MAIN ? o->nmethods + 1 : 1;
    l->methods = calloc(n, sizeof *l->methods);
    if (l->methods == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->nmethods = n;
    for (size_t i = 0; i < n; i++) {
        method_rt *rt = &l->methods[i];
        rt->m = i < n - 1 ? &o->methods[i] : NULL;
        rt->path = rt->m != NULL ? rt->m->path : HEALTH_CHECK_PATH;
        rt->handle = grpc_server_register_method(l->server, rt->path, NULL,
                                                 GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
        if (rt->handle == NULL) {
            snprintf(err, errlen, "could not register method \"%s\" (duplicate?)", rt->path);
            return -1;
        }
        rt->metrics_idx = -1;
        if (o->metrics != NULL && kind == LIS_MAIN) {
            rt->metrics_idx = co_metrics_add_method(o->metrics, rt->path);
        }
    }
    l->generic_metrics_idx = -1;
    if (o->metrics != NULL && kind == LIS_MAIN) {
        l->generic_metrics_idx = co_metrics_add_method(o->metrics, "unknown");
    }
    for (int i = 0; i < s->ncqs; i++) {
        grpc_server_register_completion_queue(l->server, s->cqs[i], NULL);
    }
    l->port = grpc_server_add_http2_port(l->server, addr, creds);
    if (l->port == 0) {
        snprintf(err, errlen, "could not listen on \"%s\"", addr);
        return -1;
    }
    return 0;
}

static void destroy_partial(co_server *s)
{
    for (int i = 0; i < s->nlis; i++) {
        if (s->lis[i].server != NULL) {
            grpc_server_destroy(s->lis[i].server);
        }
        free(s->lis[i].methods);
    }
    for (int i = 0; i < s->ncqs; i++) {
        if (s->cqs[i] != NULL) {
            grpc_completion_queue_shutdown(s->cqs[i]);
            while (grpc_completion_queue_next(s->cqs[i], gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                       .type != GRPC_QUEUE_SHUTDOWN) {
            }
            grpc_completion_queue_destroy(s->cqs[i]);
        }
    }
    free(s->cqs);
    free(s->threads);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->idle);
    free(s);
}

co_server *co_server_start(const co_server_opts *opts, char *err, size_t errlen)
{
    if (opts->cqs < 1 || opts->threads_per_cq < 1 || opts->slots < 1) {
        snprintf(err, errlen, "invalid server options: queues, threads and slots must be >= 1");
        return NULL;
    }
    co_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->opts = *opts;
    s->origin.key = grpc_slice_from_static_string(CO_MD_ORIGIN);
    s->origin.value = grpc_slice_from_static_string(opts->service);
    atomic_init(&s->stopping, false);
    atomic_init(&s->inflight, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->ncqs = opts->cqs;
    s->cqs = calloc((size_t)s->ncqs, sizeof *s->cqs);
    s->threads = calloc((size_t)(s->ncqs * opts->threads_per_cq), sizeof *s->threads);
    if (s->cqs == NULL || s->threads == NULL) {
        snprintf(err, errlen, "out of memory");
        s->ncqs = 0;
        destroy_partial(s);
        return NULL;
    }
    for (int i = 0; i < s->ncqs; i++) {
        s->cqs[i] = grpc_completion_queue_create_for_next(NULL);
    }
    bool health = opts->health_addr != NULL && opts->health_addr[0] != '\0';
    s->nlis = 1;
    if (setup_listener(s, &s->lis[LIS_MAIN], LIS_MAIN, opts->listen_addr, opts->creds, err,
                       errlen) != 0) {
        destroy_partial(s);
        return NULL;
    }
    if (health) {
        s->nlis = 2;
        grpc_server_credentials *insecure = grpc_insecure_server_credentials_create();
        int rc = setup_listener(s, &s->lis[LIS_HEALTH], LIS_HEALTH, opts->health_addr, insecure,
                                err, errlen);
        grpc_server_credentials_release(insecure);
        if (rc != 0) {
            destroy_partial(s);
            return NULL;
        }
    }
    for (int i = 0; i < s->nlis; i++) {
        grpc_server_start(s->lis[i].server);
    }
    for (int i = 0; i < s->nlis; i++) {
        listener *l = &s->lis[i];
        for (int q = 0; q < s->ncqs; q++) {
            for (size_t k = 0; k < l->nmethods; k++) {
                for (int n = 0; n < opts->slots; n++) {
                    post_slot(s, l, &l->methods[k], q);
                }
            }
            for (int n = 0; n < 2; n++) {
                post_slot(s, l, NULL, q);
            }
        }
    }
    for (int q = 0; q < s->ncqs; q++) {
        for (int t = 0; t < opts->threads_per_cq; t++) {
            if (pthread_create(&s->threads[s->nthreads], NULL, worker_main, s->cqs[q]) != 0) {
                snprintf(err, errlen, "could not start worker thread");
                co_server_stop(s, 0);
                return NULL;
            }
            s->nthreads++;
        }
    }
    return s;
}

int co_server_port(const co_server *s)
{
    return s->lis[LIS_MAIN].port;
}

int co_server_health_port(const co_server *s)
{
    return s->nlis > LIS_HEALTH ? s->lis[LIS_HEALTH].port : 0;
}

int co_server_inflight(const co_server *s)
{
    return atomic_load(&((co_server *)s)->inflight);
}

void co_server_stop(co_server *s, int64_t grace_ms)
{
    if (s == NULL) {
        return;
    }
    atomic_store(&s->stopping, true);
    grpc_completion_queue *scq = grpc_completion_queue_create_for_pluck(NULL);
    for (int i = 0; i < s->nlis; i++) {
        grpc_server_shutdown_and_notify(s->lis[i].server, scq, &s->lis[i]);
    }
    /* gRPC core 1.51 queues a call that reaches a server after shutdown began (on a connection
     * that has not seen GOAWAY yet) and never matches it to a slot: it would hold the shutdown
     * for the whole grace. Once every call we accepted has finished (twice in a row, 50 ms
     * apart), whatever core still holds is such a call, and cancelling it lets its client
     * retry elsewhere at once. */
    int64_t waited = 0;
    int idle_checks = 0;
    bool cancelled = false;
    for (int i = 0; i < s->nlis; i++) {
        for (;;) {
            gpr_timespec step =
                gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(50, GPR_TIMESPAN));
            grpc_event ev = grpc_completion_queue_pluck(scq, &s->lis[i], step, NULL);
            if (ev.type != GRPC_QUEUE_TIMEOUT) {
                break;
            }
            waited += 50;
            idle_checks = atomic_load(&s->inflight) == 0 ? idle_checks + 1 : 0;
            if (!cancelled && (idle_checks >= 2 || waited >= grace_ms)) {
                if (waited >= grace_ms) {
                    co_log(CO_LOG_WARN, "shutdown grace elapsed: cancelling in-flight calls",
                           "{s:i}", "inflight", atomic_load(&s->inflight));
                }
                for (int k = 0; k < s->nlis; k++) {
                    grpc_server_cancel_all_calls(s->lis[k].server);
                }
                cancelled = true;
            }
        }
    }
    /* Core has no live calls now, but a handler may still be running and will start its
     * finishing batch: wait until every accepted call has been freed. */
    pthread_mutex_lock(&s->mu);
    while (atomic_load(&s->inflight) > 0) {
        pthread_cond_wait(&s->idle, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nlis; i++) {
        grpc_server_destroy(s->lis[i].server);
        s->lis[i].server = NULL;
    }
    for (int i = 0; i < s->ncqs; i++) {
        grpc_completion_queue_shutdown(s->cqs[i]);
    }
    for (int t = 0; t < s->nthreads; t++) {
        pthread_join(s->threads[t], NULL);
    }
    s->nthreads = 0;
    for (int i = 0; i < s->ncqs; i++) {
        grpc_completion_queue_destroy(s->cqs[i]);
        s->cqs[i] = NULL;
    }
    grpc_completion_queue_shutdown(scq);
    grpc_completion_queue_destroy(scq);
    destroy_partial(s);
}

/* --- per call --- */

co_arena *co_call_arena(co_call *c)
{
    return &c->arena;
}

const char *co_call_method(const co_call *c)
{
    if (c->rt != NULL) {
        return c->rt->path;
    }
    if (c->generic_path == NULL) {
        co_call *mc = (co_call *)c;
        size_t n = GRPC_SLICE_LENGTH(c->details.method);
        if (n > 200) {
            n = 200;
        }
        char *p =
            co_arena_strndup(&mc->arena, (const char *)GRPC_SLICE_START_PTR(c->details.method), n);
        if (p == NULL) {
            return "?";
        }
        for (char *q = p; *q != '\0'; q++) {
            if (*q < 0x20 || *q > 0x7e || *q == '"' || *q == '\\') {
                *q = '?';
            }
        }
        mc->generic_path = p;
    }
    return c->generic_path;
}

const char *co_call_metadata(co_call *c, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < c->md.count; i++) {
        const grpc_metadata *m = &c->md.metadata[i];
        if (GRPC_SLICE_LENGTH(m->key) == kl && memcmp(GRPC_SLICE_START_PTR(m->key), key, kl) == 0) {
            size_t vl = GRPC_SLICE_LENGTH(m->value);
            const char *v = (const char *)GRPC_SLICE_START_PTR(m->value);
            if (memchr(v, '\0', vl) != NULL) {
                return NULL;
            }
            return co_arena_strndup(&c->arena, v, vl);
        }
    }
    return NULL;
}

const char *co_call_peer_identity(co_call *c)
{
    if (!c->identity_checked) {
        c->identity_checked = true;
        char buf[CO_IDENTITY_MAX];
        if (co_tls_peer_spiffe_id(c->call, buf, sizeof buf)) {
            c->identity = co_arena_strdup(&c->arena, buf);
        }
    }
    return c->identity;
}

int64_t co_call_ms_left(const co_call *c)
{
    gpr_timespec dl = gpr_convert_clock_type(c->deadline, GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(dl, gpr_inf_future(GPR_CLOCK_MONOTONIC)) >= 0) {
        return INT64_MAX;
    }
    int64_t ms = gpr_time_to_millis(gpr_time_sub(dl, gpr_now(GPR_CLOCK_MONOTONIC)));
    return ms < 0 ? 0 : ms;
}

grpc_call *co_call_grpc(co_call *c)
{
    return c->call;
}

grpc_completion_queue *co_call_cq(co_call *c)
{
    return c->srv->cqs[c->cq_idx];
}

co_err co_call_fail(co_call *c, co_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *m = co_arena_vprintf(&c->arena, fmt, ap);
    va_end(ap);
    if (m != NULL) {
        c->msg = m;
    }
    return err;
}

void co_call_set_ctx(co_call *c, void *ctx)
{
    c->ctx = ctx;
}

void *co_call_ctx(const co_call *c)
{
    return c->ctx;
}

const char *co_call_error_message(const co_call *c)
{
    return c->msg;
}

void co_call_log_partner(co_call *c, const char *partner_id)
{
    c->log_partner = co_arena_strdup(&c->arena, partner_id);
}

void co_call_log_request_id(co_call *c, const char *request_id)
{
    c->log_request_id = co_arena_strdup(&c->arena, request_id);
}
