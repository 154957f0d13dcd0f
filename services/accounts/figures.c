/* SPDX-License-Identifier: Apache-2.0 */
/* The internal Members.GetProgramFigures: memberships in force and feedback of one program. */
#include "figures.h"

#include <stdint.h>
#include <string.h>

#include "coalition/internal/v1/members.pb-c.h"
#include "process.h"
#include "store.h"
#include "tls.h"

/* Timestamps from 0001-01-01 to 9999-12-31, as google.protobuf.Timestamp allows. */
#define TS_MIN_S INT64_C(-62135596800)
#define TS_MAX_S INT64_C(253402300800)

static co_err bad(co_call *call, const char *field, const char *why)
{
    return co_call_fail(call, CO_ERR_INVALID_ARGUMENT, "invalid field \"%s\": %s", field, why);
}

/* A required, valid time in unix microseconds. */
static co_err time_field(co_call *call, const char *field, const Google__Protobuf__Timestamp *t,
                         int64_t *out)
{
    if (t == NULL) {
        return bad(call, field, "required");
    }
    if (t->nanos < 0 || t->nanos >= 1000000000 || t->seconds < TS_MIN_S || t->seconds >= TS_MAX_S) {
        return bad(call, field, "not a valid time");
    }
    *out = t->seconds * 1000000 + t->nanos / 1000;
    return CO_OK;
}

typedef struct figures_args {
    const char *program;
    int64_t as_us, from_us;
    acct_program_figures out;
} figures_args;

static co_err figures_tx(co_pg_conn *c, void *ud)
{
    figures_args *fa = ud;
    return acct_store_program_figures(c, fa->program, fa->as_us, fa->from_us, &fa->out);
}

co_err acct_figures_get(co_call *call, co_pg_pool *pool, const ProtobufCMessage *msg,
                        ProtobufCMessage **resp)
{
    const Coalition__Internal__V1__GetProgramFiguresRequest *req = (const void *)msg;
    if (co_caller_of(call)->role != CO_ROLE_SERVICE) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "internal method: for coalition services only");
    }
    if (!co_name_is_valid(req->program_code, strlen(req->program_code))) {
        return bad(call, "program_code",
                   "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter");
    }
    figures_args fa = {.program = req->program_code};
    co_err e;
    if ((e = time_field(call, "as_of", req->as_of, &fa.as_us)) != CO_OK ||
        (e = time_field(call, "window_start", req->window_start, &fa.from_us)) != CO_OK) {
        return e;
    }
    if (fa.from_us > fa.as_us) {
        return bad(call, "window_start", "must not be after as_of");
    }
    if ((e = co_pg_tx(pool, co_call_ms_left(call), figures_tx, &fa)) != CO_OK) {
        return e;
    }
    co_arena *a = co_call_arena(call);
    Coalition__Internal__V1__GetProgramFiguresResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__internal__v1__get_program_figures_response__init(r);
    r->active_memberships = fa.out.active_memberships;
    r->nps_responses = fa.out.nps_responses;
    r->nps_promoters = fa.out.nps_promoters;
    r->nps_passives = fa.out.nps_passives;
    r->nps_detractors = fa.out.nps_detractors;
    r->effort_responses = fa.out.effort_responses;
    r->effort_sum = fa.out.effort_sum;
    *resp = &r->base;
    return CO_OK;
}
