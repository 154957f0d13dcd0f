/* SPDX-License-Identifier: Apache-2.0 */
/* A unary gRPC server on C core: method table, worker threads, mTLS, health and shutdown. */
#ifndef CO_SERVER_H
#define CO_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "err.h"
#include "metrics.h"

typedef struct co_server co_server;
/* One call in progress: lives from the moment it is accepted until co_call_finish* has
 * completed on the wire. Handlers allocate from its arena. */
typedef struct co_call co_call;

/*
 * A synchronous handler: validates req, does the work, and on CO_OK sets *resp to a message
 * of the method's output type (allocated from the call's arena, or static). On failure it
 * returns the error, ideally after co_call_fail() set a message for the caller. Runs on a
 * worker thread; may block (on PostgreSQL, on a peer) within the call's deadline.
 */
typedef co_err (*co_unary_fn)(co_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                              void *ud);

/*
 * An asynchronous handler gets the request bytes as they came (or NULL when the client sent no
 * message) and must call co_call_finish_raw() exactly once, from any thread, later or before
 * returning. The call's memory stays valid until then.
 */
typedef void (*co_raw_fn)(co_call *call, grpc_byte_buffer *req, void *ud);

/* One row of a method table. Exactly one of unary and raw is set. */
typedef struct co_method {
    const char *path;                         /* "/coalition.v1.Partners/GetPartner" */
    const ProtobufCMessageDescriptor *input;  /* unary only */
    const ProtobufCMessageDescriptor *output; /* unary only */
    co_unary_fn unary;
    co_raw_fn raw;
    void *ud;
} co_method;

/*
 * Runs before every handler of the main (mTLS) listener. Returns CO_OK to let the call
 * through, or an error (after co_call_fail) to refuse it. Health checks skip it.
 */
typedef co_err (*co_authorize_fn)(co_call *call, void *ud);

/* Trailing metadata key on every status a Coalition server sends, valued with the service name:
 * it tells a proxy that a status came from a service and not from the transport. */
#define CO_MD_ORIGIN "coalition-origin"

typedef struct co_server_opts {
    const char *service;             /* "partners": logs, metrics, CO_MD_ORIGIN; static storage */
    const char *listen_addr;         /* mTLS listener */
    const char *health_addr;         /* plaintext, health-only listener; NULL or "" = none */
    grpc_server_credentials *creds;  /* for listen_addr; the server takes a reference */
    const char *const *health_names; /* service names Health/Check knows, NULL-terminated */
    const co_method *methods;
    size_t nmethods;
    co_authorize_fn authorize;
    void *authorize_ud;
    co_metrics *metrics; /* optional; not owned */
    int cqs;             /* completion queues (>= 1) */
    int threads_per_cq;  /* worker threads per queue (>= 1) */
    int slots;           /* calls pre-posted per method and queue (>= 1) */
    int64_t max_message_bytes;
    int64_t max_connection_age_ms;
    int64_t arena_limit; /* bytes a call may allocate */
} co_server_opts;

/* Creates and starts the server: listeners bound, workers running. On failure writes a
 * message to err and returns NULL. */
co_server *co_server_start(const co_server_opts *opts, char *err, size_t errlen);

/* The port the main listener is bound to (useful with ":0"). */
int co_server_port(const co_server *s);
int co_server_health_port(const co_server *s);

/*
 * Graceful stop: listeners close, health reports NOT_SERVING, in-flight calls get up to
 * grace_ms to finish, then are cancelled; returns when every handler has finished and every
 * worker has exited. Then frees the server.
 */
void co_server_stop(co_server *s, int64_t grace_ms);

/* Number of calls accepted and not yet finished. */
int co_server_inflight(const co_server *s);

/* --- per call --- */

/* The call's arena; valid until the call finishes. */
co_arena *co_call_arena(co_call *c);

/* The method path of the call ("/coalition.v1.Partners/GetPartner"). */
const char *co_call_method(const co_call *c);

/* The first value of request metadata key (lowercase), copied into the arena; NULL if absent.
 * Values with NUL bytes are treated as absent. */
const char *co_call_metadata(co_call *c, const char *key);

/* The SPIFFE id of the peer's verified certificate, or NULL. Cached per call. */
const char *co_call_peer_identity(co_call *c);

/* Milliseconds left until the call's deadline (INT64_MAX when the client set none). */
int64_t co_call_ms_left(const co_call *c);

/* The underlying grpc_call and the completion queue it is bound to, for proxies that start
 * child calls on the same queue. */
grpc_call *co_call_grpc(co_call *c);
grpc_completion_queue *co_call_cq(co_call *c);

/* Sets the status message the caller will see (formatted into the arena) and returns err, so
 * a handler can `return co_call_fail(c, CO_ERR_NOT_FOUND, "partner \"%s\" not found", id);`.
 * The message must be safe to show a partner. */
co_err co_call_fail(co_call *c, co_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A per-call pointer for the service (e.g. the authenticated caller), set by the authorize
 * hook; NULL until set. */
void co_call_set_ctx(co_call *c, void *ctx);
void *co_call_ctx(const co_call *c);

/* The message set by the last co_call_fail, or NULL. */
const char *co_call_error_message(const co_call *c);

/* Fields for the access log line (copied into the arena). */
void co_call_log_partner(co_call *c, const char *partner_id);
void co_call_log_request_id(co_call *c, const char *request_id);

/*
 * Finishes a raw call with a status, details (may be NULL) and, when status is OK, a response
 * (may be NULL for an empty message); takes ownership of resp. Thread-safe; exactly once.
 */
void co_call_finish_raw(co_call *c, grpc_status_code status, const char *details,
                        grpc_byte_buffer *resp);

/* --- completion-queue tags --- */

/* Every tag on a server completion queue is a co_tag: workers call fn(tag, ok). Proxies use it
 * for the child calls they start on co_call_cq(). */
typedef struct co_tag {
    void (*fn)(struct co_tag *tag, bool ok);
} co_tag;

#endif
