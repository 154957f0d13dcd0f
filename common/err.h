/* SPDX-License-Identifier: Apache-2.0 */
/* The one error enum of Coalition and its single mapping to gRPC status codes. */
#ifndef CO_ERR_H
#define CO_ERR_H

#include <grpc/status.h>

/*
 * One value per outcome the API reports. Append only: values are logged and compared.
 * CO_ERR_RETRY is internal: a transaction lost a serialization race or a deadlock and may
 * be run again; it reaches a caller as UNAVAILABLE only when retries are exhausted.
 */
typedef enum co_err {
    CO_OK = 0,
    CO_ERR_INVALID_ARGUMENT,
    CO_ERR_NOT_FOUND,
    CO_ERR_ALREADY_EXISTS,
    CO_ERR_FAILED_PRECONDITION,
    CO_ERR_PERMISSION_DENIED,
    CO_ERR_UNAUTHENTICATED,
    CO_ERR_RESOURCE_EXHAUSTED,
    CO_ERR_UNAVAILABLE,
    CO_ERR_DEADLINE_EXCEEDED,
    CO_ERR_UNIMPLEMENTED,
    CO_ERR_INTERNAL,
    CO_ERR_NOMEM,
    CO_ERR_RETRY,
    CO_ERR_CANCELLED,
    CO_ERR__COUNT
} co_err;

/* The gRPC status a caller sees for err. Total: every value maps. */
grpc_status_code co_err_to_grpc(co_err err);

/* The co_err a client reports for a status received from a peer. */
co_err co_err_from_grpc(grpc_status_code code);

/* A static, lowercase name for err ("invalid_argument"); never NULL. */
const char *co_err_name(co_err err);

/* A static name for a gRPC status code ("INVALID_ARGUMENT"); never NULL. */
const char *co_grpc_status_name(grpc_status_code code);

/* True when err describes a deterministic business outcome that an idempotent request must
 * replay as is (as opposed to a transient failure the caller may retry). */
int co_err_is_final(co_err err);

#endif
