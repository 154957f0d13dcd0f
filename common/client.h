/* SPDX-License-Identifier: Apache-2.0 */
/* A gRPC client to one peer: a reused mTLS channel and blocking unary calls with deadlines. */
#ifndef CO_CLIENT_H
#define CO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "err.h"
#include "tls.h"

/* Thread-safe: one client is shared by every thread that talks to the peer. */
typedef struct co_client co_client;

/* A channel to target ("127.0.0.1:50051") with mTLS from tls (NULL: plaintext, for health
 * probes and tests only). peer names the peer in messages ("partners service"). The
 * connection is made lazily. NULL on out of memory. */
co_client *co_client_new(const char *target, const co_tls_files *tls, const char *peer);

/* Destroys the channel; NULL is a no-op. No call may be in progress. */
void co_client_free(co_client *c);

grpc_channel *co_client_channel(co_client *c);
const char *co_client_peer(const co_client *c);

/* Metadata for one call (keys lowercase, values printable ASCII). */
typedef struct co_client_md {
    const char *key;
    const char *value;
} co_client_md;

/* The outcome of a call. */
typedef struct co_client_status {
    grpc_status_code code;
    const char *details; /* arena memory; "" when none */
} co_client_status;

/*
 * Calls method with req and decodes the reply into *resp (arena memory). Waits at most
 * timeout_ms. When idempotent is true, retries UNAVAILABLE up to 3 attempts in all with
 * backoff, within the timeout. Returns CO_OK, or the error mapped from the peer's status
 * (st tells the code and details as received). Thread-safe.
 */
co_err co_client_unary(co_client *c, const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *resp_desc, const co_client_md *md,
                       size_t nmd, int64_t timeout_ms, bool idempotent, co_arena *arena,
                       ProtobufCMessage **resp, co_client_status *st);

/*
 * Like co_client_unary with the request given as bytes and the response returned as bytes
 * (arena memory), for proxies and tests that must send exactly what they were given.
 */
co_err co_client_unary_raw(co_client *c, const char *method, const uint8_t *req, size_t len,
                           const co_client_md *md, size_t nmd, int64_t timeout_ms, bool idempotent,
                           co_arena *arena, uint8_t **resp, size_t *resp_len, co_client_status *st);

#endif
