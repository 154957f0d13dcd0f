/* SPDX-License-Identifier: Apache-2.0 */
/* Maps co_err to gRPC status codes, in exactly one place. */
#include "err.h"

grpc_status_code co_err_to_grpc(co_err err)
{
    switch (err) {
    case CO_OK:
        return GRPC_STATUS_OK;
    case CO_ERR_INVALID_ARGUMENT:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case CO_ERR_NOT_FOUND:
        return GRPC_STATUS_NOT_FOUND;
    case CO_ERR_ALREADY_EXISTS:
        return GRPC_STATUS_ALREADY_EXISTS;
    case CO_ERR_FAILED_PRECONDITION:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case CO_ERR_PERMISSION_DENIED:
        return GRPC_STATUS_PERMISSION_DENIED;
    case CO_ERR_UNAUTHENTICATED:
        return GRPC_STATUS_UNAUTHENTICATED;
    case CO_ERR_RESOURCE_EXHAUSTED:
    case CO_ERR_NOMEM:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case CO_ERR_UNAVAILABLE:
    case CO_ERR_RETRY:
        return GRPC_STATUS_UNAVAILABLE;
    case CO_ERR_DEADLINE_EXCEEDED:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case CO_ERR_UNIMPLEMENTED:
        return GRPC_STATUS_UNIMPLEMENTED;
    case CO_ERR_CANCELLED:
        return GRPC_STATUS_CANCELLED;
    case CO_ERR_INTERNAL:
    case CO_ERR__COUNT:
        break;
    }
    return GRPC_STATUS_INTERNAL;
}

co_err co_err_from_grpc(grpc_status_code code)
{
    switch (code) {
    case GRPC_STATUS_OK:
        return CO_OK;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_OUT_OF_RANGE:
        return CO_ERR_INVALID_ARGUMENT;
    case GRPC_STATUS_NOT_FOUND:
        return CO_ERR_NOT_FOUND;
    case GRPC_STATUS_ALREADY_EXISTS:
        return CO_ERR_ALREADY_EXISTS;
    case GRPC_STATUS_FAILED_PRECONDITION:
        return CO_ERR_FAILED_PRECONDITION;
    case GRPC_STATUS_PERMISSION_DENIED:
        return CO_ERR_PERMISSION_DENIED;
    case GRPC_STATUS_UNAUTHENTICATED:
        return CO_ERR_UNAUTHENTICATED;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return CO_ERR_RESOURCE_EXHAUSTED;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_ABORTED:
        return CO_ERR_UNAVAILABLE;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return CO_ERR_DEADLINE_EXCEEDED;
    case GRPC_STATUS_UNIMPLEMENTED:
        return CO_ERR_UNIMPLEMENTED;
    case GRPC_STATUS_CANCELLED:
        return CO_ERR_CANCELLED;
    default:
        return CO_ERR_INTERNAL;
    }
}

const char *co_err_name(co_err err)
{
    static const char *const names[CO_ERR__COUNT] = {
        [CO_OK] = "ok",
        [CO_ERR_INVALID_ARGUMENT] = "invalid_argument",
        [CO_ERR_NOT_FOUND] = "not_found",
        [CO_ERR_ALREADY_EXISTS] = "already_exists",
        [CO_ERR_FAILED_PRECONDITION] = "failed_precondition",
        [CO_ERR_PERMISSION_DENIED] = "permission_denied",
        [CO_ERR_UNAUTHENTICATED] = "unauthenticated",
        [CO_ERR_RESOURCE_EXHAUSTED] = "resource_exhausted",
        [CO_ERR_UNAVAILABLE] = "unavailable",
        [CO_ERR_DEADLINE_EXCEEDED] = "deadline_exceeded",
        [CO_ERR_UNIMPLEMENTED] = "unimplemented",
        [CO_ERR_INTERNAL] = "internal",
        [CO_ERR_NOMEM] = "out_of_memory",
        [CO_ERR_RETRY] = "retry",
        [CO_ERR_CANCELLED] = "cancelled",
    };
    if ((unsigned)err >= CO_ERR__COUNT) {
        return "unknown";
    }
    return names[err];
}

const char *co_grpc_status_name(grpc_status_code code)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if ((unsigned)code >= sizeof names / sizeof names[0]) {
        return "UNKNOWN";
    }
    return names[code];
}

int co_err_is_final(co_err err)
{
    switch (err) {
    case CO_OK:
    case CO_ERR_INVALID_ARGUMENT:
    case CO_ERR_NOT_FOUND:
    case CO_ERR_ALREADY_EXISTS:
    case CO_ERR_FAILED_PRECONDITION:
    case CO_ERR_PERMISSION_DENIED:
    case CO_ERR_RESOURCE_EXHAUSTED:
        return 1;
    default:
        return 0;
    }
}
