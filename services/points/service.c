/* SPDX-License-Identifier: Apache-2.0 */
/* The points service's methods: validation, authorization, member and program resolution,
 * then the batch executor for mutations or a read transaction for queries. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api.h"
#include "coalition/internal/v1/ledger.pb-c.h"
#include "idem.h"
#include "int64.h"
#include "ledger.h"
#include "log.h"
#include "pb.h"
#include "pts.h"
#include "pts_service.h"
#include "stats.h"

extern const co_migration pts_migrations[];
size_t pts_parse_text_array(co_arena *a, const char *s, const char ***out);

#define KIND(k)    COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_##k
#define MAX_POINTS INT64_C(1000000000)
#define MAX_AMOUNT INT64_C(1000000000000)
#define CLIENT_MS  5000
#define MAX_META   16

typedef struct pts_state {
    co_pg_pool *pool;
    co_client *partners, *accounts;
    pts_progs *progs;
    pts_members *members;
    pts_exec *ex;
    co_idem idem;
    pthread_t timer;
    pthread_mutex_t timer_mu;
    pthread_cond_t timer_cv;
    bool stopping, timer_started;
    int64_t expiry_interval_ms;
    const co_process_config *cfg;
} pts_state;

typedef struct pts_service {
    pts_state st;
    co_method methods[24];
} pts_service;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static co_err bad(co_call *call, const char *field, const char *why)
{
    return co_call_fail(call, CO_ERR_INVALID_ARGUMENT, "invalid field \"%s\": %s", field, why);
}

static bool code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63 || s[0] < 'a' || s[0] > 'z') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) {
            return false;
        }
    }
    return true;
}

static bool meta_key_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-')) {
            return false;
        }
    }
    return true;
}

/* Validates and sorts a request's metadata map. keys/values are parallel arrays. */
static co_err take_meta(co_call *call, char **keys, char **vals, size_t n, pts_op *op)
{
    if (n > MAX_META) {
        return bad(call, "metadata", "at most 16 entries");
    }
    const char **kv = co_arena_calloc(co_call_arena(call), 2 * n + 1, sizeof *kv);
    if (kv == NULL) {
        return CO_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!meta_key_ok(keys[i])) {
            return bad(call, "metadata",
                       "keys must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' "
                       "and '-'");
        }
        if (strlen(vals[i]) > 256) {
            return bad(call, "metadata", "values must be at most 256 bytes");
        }
        size_t j = i;
        while (j > 0 && strcmp(kv[2 * (j - 1)], keys[i]) > 0) {
            kv[2 * j] = kv[2 * (j - 1)];
            kv[2 * j + 1] = kv[2 * (j - 1) + 1];
            j--;
        }
        if (j > 0 && strcmp(kv[2 * (j - 1)], keys[i]) == 0) {
            return bad(call, "metadata", "duplicate key");
        }
        kv[2 * j] = keys[i];
        kv[2 * j + 1] = vals[i];
    }
    op->meta = kv;
    op->nmeta = n;
    return CO_OK;
}

/* The entries of any request's metadata map: key and value are fields 1 and 2 of each. */
static co_err meta_entries(co_call *call, ProtobufCMessage *const *entries, size_t n, pts_op *op)
{
    char **k = co_arena_calloc(co_call_arena(call), n + 1, sizeof *k);
    char **v = co_arena_calloc(co_call_arena(call), n + 1, sizeof *v);
    if (k == NULL || v == NULL) {
        return CO_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessageDescriptor *d = entries[i]->descriptor;
        k[i] = *(char **)(void *)((char *)entries[i] + d->fields[0].offset);
        v[i] = *(char **)(void *)((char *)entries[i] + d->fields[1].offset);
    }
    return take_meta(call, k, v, n, op);
}

#define TAKE_META(call, req, op)                                                                   \
    meta_entries(call, (ProtobufCMessage *const *)(void *)(req)->metadata, (req)->n_metadata, op)

static co_err points_range(co_call *call, const char *field, int64_t v)
{
    if (v < 1 || v > MAX_POINTS) {
        return bad(call, field, "must be 1..1000000000");
    }
    return CO_OK;
}

static co_err reason_ok(co_call *call, const char *s, bool required)
{
    size_t n = co_utf8_chars(s);
    if ((required && n < 1) || n > 200) {
        return bad(call, "reason",
                   required ? "required, 1-200 characters" : "at most 200 characters");
    }
    return CO_OK;
}

static co_err member_ref_ok(co_call *call, const Coalition__V1__MemberRef *ref)
{
    if (ref == NULL || ref->ref_case == COALITION__V1__MEMBER_REF__REF__NOT_SET) {
        return bad(call, "member", "required: a member id, card number, phone, email or QR token");
    }
    return CO_OK;
}

/* The program, after checking the caller may act on it: admin always; a partner as owner, or as
 * a participant with can_issue (need_issue) or can_redeem (need_redeem), or any participation. */
static co_err program_for(co_call *call, pts_state *st, const char *code, bool need_issue,
                          bool need_redeem, pts_prog **out)
{
    if (!code_ok(code)) {
        return bad(call, "program_code",
                   "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter");
    }
    char why[256];
    co_err e = pts_progs_get(st->progs, code, co_call_ms_left(call), out, why, sizeof why);
    if (e != CO_OK) {
        return co_call_fail(call, e, "%s", why);
    }
    const co_caller *who = co_caller_of(call);
    if (who->role == CO_ROLE_ADMIN || strcmp(who->partner_id, (*out)->p->owner_partner_id) == 0) {
        return CO_OK;
    }
    const Coalition__V1__Participation *pa = pts_prog_participation(*out, who->partner_id);
    if (pa == NULL || (need_issue && !pa->can_issue) || (need_redeem && !pa->can_redeem)) {
        pts_prog_unref(*out);
        *out = NULL;
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            pa == NULL   ? "partner \"%s\" does not take part in program \"%s\""
                            : need_issue ? "partner \"%s\" may not issue points of program \"%s\""
                                         : "partner \"%s\" may not accept points of program \"%s\"",
                            who->partner_id, code);
    }
    return CO_OK;
}

static co_err resolve_member(co_call *call, pts_state *st, const Coalition__V1__MemberRef *ref,
                             bool must_be_active, pts_member *out)
{
    co_err e = member_ref_ok(call, ref);
    if (e != CO_OK) {
        return e;
    }
    char why[256];
    e = pts_members_resolve(st->members, ref, co_call_ms_left(call), out, why, sizeof why);
    if (e != CO_OK) {
        return co_call_fail(call, e, "%s", why);
    }
    if (must_be_active && out->erased) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION, "member %s is erased",
                            out->member_id);
    }
    return CO_OK;
}

/* Runs op through the executor and decodes its response into the call's arena. */
static co_err submit(co_call *call, pts_state *st, pts_op *op, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *rd, ProtobufCMessage **resp)
{
    co_arena *a = co_call_arena(call);
    const co_caller *who = co_caller_of(call);
    if (who->inactive) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            "partner \"%s\" is not active: it may read but not move points",
                            who->partner_id);
    }
    op->caller = who->partner_id;
    op->method = co_call_method(call);
    if (!co_pb_hash(req, a, op->hash)) {
        return CO_ERR_NOMEM;
    }
    pts_exec_submit(st->ex, op);
    if (op->err != CO_OK) {
        free(op->resp);
        return co_call_fail(call, op->err, "%s", op->message);
    }
    *resp = protobuf_c_message_unpack(rd, co_arena_pb(a), op->resp_len, op->resp);
    free(op->resp);
    if (*resp == NULL) {
        return co_call_fail(call, CO_ERR_INTERNAL, "could not decode the recorded response");
    }
    return CO_OK;
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
    return t->seconds * 1000000 + t->nanos / 1000;
}

static bool ts_valid(const Google__Protobuf__Timestamp *t)
{
    return t->nanos >= 0 && t->nanos < 1000000000 && t->seconds > 0 &&
           t->seconds < INT64_C(253402300800);
}

/* --- Earn --- */

static co_err earn(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp, void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__EarnRequest *req = (const void *)msg;
    co_err e = co_check_request_id(call, req->request_id);
    if (e != CO_OK) {
        return e;
    }
    pts_op op;
    memset(&op, 0, sizeof op);
    op.kind = PTS_OP_EARN;
    op.earn = req;
    op.request_id = req->request_id;
    int64_t amount = req->amount != NULL ? req->amount->amount_micros : 0;
    if (amount < 0 || amount > MAX_AMOUNT) {
        return bad(call, "amount", "must be 0..1000000000000 micros");
    }
    if (req->visits < 0 || req->visits > 100) {
        return bad(call, "visits", "must be 0..100");
    }
    if (amount == 0 && req->visits == 0) {
        return bad(call, "amount", "an amount or visits is required");
    }
    size_t cl = strlen(req->category);
    if (cl > 64) {
        return bad(call, "category", "at most 64 characters of a-z, 0-9, '.', '_', '/' and '-'");
    }
    for (size_t i = 0; i < cl; i++) {
        char ch = req->category[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == '/' || ch == '-')) {
            return bad(call, "category",
                       "at most 64 characters of a-z, 0-9, '.', '_', '/' and '-'");
        }
    }
    int64_t now = now_us();
    if (req->purchase_time != NULL) {
        if (!ts_valid(req->purchase_time)) {
            return bad(call, "purchase_time", "not a valid time");
        }
        op.purchase_us = ts_us(req->purchase_time);
        if (op.purchase_us > now + INT64_C(300000000)) {
            return bad(call, "purchase_time", "at most 5 minutes in the future");
        }
        if (op.purchase_us < now - INT64_C(30) * 86400 * 1000000) {
            return bad(call, "purchase_time", "at most 30 days in the past");
        }
    } else {
        op.purchase_us = now;
    }
    if ((e = TAKE_META(call, req, &op)) != CO_OK) {
        return e;
    }
    if ((e = program_for(call, st, req->program_code, true, false, &op.prog)) != CO_OK) {
        return e;
    }
    if (req->amount != NULL && strcmp(req->amount->currency, op.prog->p->currency) != 0) {
        pts_prog_unref(op.prog);
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"amount.currency\": must be %s, the program's currency",
                            op.prog->p->currency);
    }
    if ((e = resolve_member(call, st, req->member, true, &op.member)) == CO_OK) {
        e = submit(call, st, &op, msg, &coalition__v1__earn_response__descriptor, resp);
    }
    pts_prog_unref(op.prog);
    return e;
}

/* --- Credit --- */

static co_err credit(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp, void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__CreditRequest *req = (const void *)msg;
    co_err e = co_check_request_id(call, req->request_id);
    if (e != CO_OK) {
        return e;
    }
    if (req->kind != KIND(BONUS) && req->kind != KIND(ADJUST)) {
        return bad(call, "kind", "must be TRANSFER_KIND_BONUS or TRANSFER_KIND_ADJUST");
    }
    if (req->kind == KIND(ADJUST) && co_caller_of(call)->role != CO_ROLE_ADMIN) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "ADJUST credits are for the admin");
    }
    if ((e = points_range(call, "points", req->points)) != CO_OK ||
        (e = reason_ok(call, req->reason, true)) != CO_OK) {
        return e;
    }
    pts_op op;
    memset(&op, 0, sizeof op);
    op.kind = PTS_OP_CREDIT;
    op.request_id = req->request_id;
    op.points = req->points;
    op.credit_kind = req->kind;
    op.reason = req->reason;
    if ((e = TAKE_META(call, req, &op)) != CO_OK) {
        return e;
    }
    if ((e = program_for(call, st, req->program_code, req->kind == KIND(BONUS), false, &op.prog)) !=
        CO_OK) {
        return e;
    }
    if ((e = resolve_member(call, st, req->member, true, &op.member)) == CO_OK) {
        e = submit(call, st, &op, msg, &coalition__v1__credit_response__descriptor, resp);
    }
    pts_prog_unref(op.prog);
    return e;
}

/* --- Redeem --- */

static co_err redeem(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp, void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__RedeemRequest *req = (const void *)msg;
    co_err e = co_check_request_id(call, req->request_id);
    if (e != CO_OK || (e = points_range(call, "points", req->points)) != CO_OK) {
        return e;
    }
    pts_op op;
    memset(&op, 0, sizeof op);
    op.kind = PTS_OP_REDEEM;
    op.request_id = req->request_id;
    op.points = req->points;
    op.hold = req->hold;
    if (!req->hold && req->hold_timeout_seconds != 0) {
        return bad(call, "hold_timeout_seconds", "must be 0 without hold");
    }
    if (req->hold) {
        op.hold_timeout_s = req->hold_timeout_seconds == 0 ? 900 : req->hold_timeout_seconds;
        if (op.hold_timeout_s < 30 || op.hold_timeout_s > 604800) {
            return bad(call, "hold_timeout_seconds", "must be 30..604800, or 0 for 900");
        }
    }
    if ((e = TAKE_META(call, req, &op)) != CO_OK) {
        return e;
    }
    if ((e = program_for(call, st, req->program_code, false, true, &op.prog)) != CO_OK) {
        return e;
    }
    if ((e = resolve_member(call, st, req->member, false, &op.member)) == CO_OK) {
        e = submit(call, st, &op, msg, &coalition__v1__redeem_response__descriptor, resp);
    }
    pts_prog_unref(op.prog);
    return e;
}

/* --- CaptureHold, VoidHold --- */

typedef struct hold_lookup {
    const char *hold_id;
    char program[64];
    bool found;
} hold_lookup;

static co_err hold_program_tx(co_pg_conn *c, void *ud)
{
    hold_lookup *hl = ud;
    const char *v[1] = {hl->hold_id};
    PGresult *r;
    co_err e = co_pg_exec(
        c, pts_stmt("pts_hold_program", "SELECT program FROM points.holds WHERE hold_id = $1", 1),
        v, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    hl->found = PQntuples(r) == 1;
    if (hl->found) {
        snprintf(hl->program, sizeof hl->program, "%s", PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return CO_OK;
}

static co_err hold_step(co_call *call, pts_state *st, pts_op *op, const char *hold_id)
{
    size_t n = strlen(hold_id);
    if (n < 4 || n > 24 || strncmp(hold_id, "hd-", 3) != 0 ||
        strspn(hold_id + 3, "0123456789") != n - 3) {
        return bad(call, "hold_id", "must be a hold id as returned by Redeem (\"hd-\" and digits)");
    }
    hold_lookup hl = {.hold_id = hold_id};
    co_err e = co_pg_tx(st->pool, co_call_ms_left(call), hold_program_tx, &hl);
    if (e != CO_OK) {
        return e;
    }
    if (!hl.found) {
        return co_call_fail(call, CO_ERR_NOT_FOUND, "hold \"%s\" not found", hold_id);
    }
    op->hold_id = hold_id;
    char why[256];
    e = pts_progs_get(st->progs, hl.program, co_call_ms_left(call), &op->prog, why, sizeof why);
    if (e != CO_OK) {
        return co_call_fail(call, e, "%s", why);
    }
    return CO_OK;
}

static co_err capture_hold(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                           void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__CaptureHoldRequest *req = (const void *)msg;
    co_err e = co_check_request_id(call, req->request_id);
    if (e != CO_OK) {
        return e;
    }
    if (req->points < 0 || req->points > MAX_POINTS) {
        return bad(call, "points", "must be 0 (all) or 1..1000000000");
    }
    pts_op op;
    memset(&op, 0, sizeof op);
    op.kind = PTS_OP_CAPTURE;
    op.request_id = req->request_id;
    op.points = req->points;
    if ((e = hold_step(call, st, &op, req->hold_id)) != CO_OK) {
        return e;
    }
    e = submit(call, st, &op, msg, &coalition__v1__capture_hold_response__descriptor, resp);
    pts_prog_unref(op.prog);
    return e;
}

static co_err void_hold(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                        void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__VoidHoldRequest *req = (const void *)msg;
    co_err e = co_check_request_id(call, req->request_id);
    if (e != CO_OK) {
        return e;
    }
    pts_op op;
    memset(&op, 0, sizeof op);
    op.kind = PTS_OP_VOID;
    op.request_id = req->request_id;
    if ((e = hold_step(call, st, &op, req->hold_id)) != CO_OK) {
        return e;
    }
    e = submit(call, st, &op, msg, &coalition__v1__void_hold_response__descriptor, resp);
    pts_prog_unref(op.prog);
    return e;
}

/* --- FundIssuer --- */

static co_err fund_issuer(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                          void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__FundIssuerRequest *req = (const void *)msg;
    co_err e = co_require_admin(call);
    if (e != CO_OK || (e = co_check_request_id(call, req->request_id)) != CO_OK ||
        (e = points_range(call, "points", req->points)) != CO_OK ||
        (e = reason_ok(call, req->reason, false)) != CO_OK) {
        return e;
    }
    if (!code_ok(req->partner_id)) {
        return bad(call, "partner_id", "must be a partner id");
    }
    pts_op op;
    memset(&op, 0, sizeof op);
    op.kind = PTS_OP_FUND;
    op.request_id = req->request_id;
    op.points = req->points;
    op.reason = req->reason;
    op.fund_partner_id = req->partner_id;
    if ((e = program_for(call, st, req->program_code, false, false, &op.prog)) != CO_OK) {
        return e;
    }
    const Coalition__V1__Participation *pa = pts_prog_participation(op.prog, req->partner_id);
    if (op.prog->p->issuing_mode != COALITION__V1__ISSUING_MODE__ISSUING_MODE_PREPAID) {
        e = co_call_fail(call, CO_ERR_FAILED_PRECONDITION, "program \"%s\" is not prepaid",
                         req->program_code);
    } else if (strcmp(req->partner_id, op.prog->p->owner_partner_id) == 0) {
        e = co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                         "partner \"%s\" owns program \"%s\": its issuance is never limited",
                         req->partner_id, req->program_code);
    } else if (pa == NULL || !pa->can_issue) {
        e = co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                         "partner \"%s\" may not issue points of program \"%s\"", req->partner_id,
                         req->program_code);
    } else {
        e = submit(call, st, &op, msg, &coalition__v1__fund_issuer_response__descriptor, resp);
    }
    pts_prog_unref(op.prog);
    return e;
}

/* --- RedeemReward, UseCoupon --- */

/* The program of a reward, asked of the partners service (only the id comes with a request). */
static co_err reward_program(co_call *call, pts_state *st, const char *reward_id, char *out,
                             size_t outlen)
{
    co_arena *a = co_call_arena(call);
    Coalition__Internal__V1__GetRewardRequest req =
        COALITION__INTERNAL__V1__GET_REWARD_REQUEST__INIT;
    req.reward_id = (char *)reward_id;
    const co_client_md md = {CO_MD_ROLE, "service"};
    ProtobufCMessage *resp = NULL;
    co_client_status cs;
    int64_t left = co_call_ms_left(call);
    co_err e = co_client_unary(st->partners, "/coalition.internal.v1.Directory/GetReward",
                               &req.base, &coalition__internal__v1__get_reward_response__descriptor,
                               &md, 1, left < CLIENT_MS ? left : CLIENT_MS, true, a, &resp, &cs);
    if (e == CO_ERR_NOT_FOUND || e == CO_ERR_INVALID_ARGUMENT) {
        return e == CO_ERR_NOT_FOUND
                   ? co_call_fail(call, e, "reward \"%s\" not found", reward_id)
                   : bad(call, "reward_id", "must be a reward id as CreateReward returned it");
    }
    if (e != CO_OK) {
        return co_call_fail(call, e == CO_ERR_DEADLINE_EXCEEDED ? e : CO_ERR_UNAVAILABLE,
                            "partners service unavailable: could not read the reward");
    }
    const Coalition__Internal__V1__GetRewardResponse *r = (const void *)resp;
    if (r->reward == NULL || strlen(r->reward->program_code) >= outlen) {
        return co_call_fail(call, CO_ERR_UNAVAILABLE, "partners service returned no reward");
    }
    snprintf(out, outlen, "%s", r->reward->program_code);
    return CO_OK;
}

static co_err redeem_reward(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                            void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__RedeemRewardRequest *req = (const void *)msg;
    co_err e = co_check_request_id(call, req->request_id);
    if (e != CO_OK) {
        return e;
    }
    if (req->quantity < 0 || req->quantity > 100) {
        return bad(call, "quantity", "must be 1..100, or 0 for 1");
    }
    size_t n = strlen(req->reward_id);
    if (n < 1 || n > 64) {
        return bad(call, "reward_id", "must be a reward id as CreateReward returned it");
    }
    /* reward ids are "rwd-<digits>"-like and unique across programs: find the program first */
    pts_op op;
    memset(&op, 0, sizeof op);
    op.kind = PTS_OP_REWARD;
    op.request_id = req->request_id;
    op.quantity = req->quantity == 0 ? 1 : req->quantity;
    if ((e = TAKE_META(call, req, &op)) != CO_OK) {
        return e;
    }
    char program[64];
    if ((e = reward_program(call, st, req->reward_id, program, sizeof program)) != CO_OK) {
        return e;
    }
    if ((e = program_for(call, st, program, false, false, &op.prog)) != CO_OK) {
        return e;
    }
    for (size_t i = 0; i < op.prog->snap->n_rewards; i++) {
        if (strcmp(op.prog->snap->rewards[i]->reward_id, req->reward_id) == 0) {
            op.reward = op.prog->snap->rewards[i];
        }
    }
    if (op.reward == NULL) {
        e = co_call_fail(call, CO_ERR_NOT_FOUND, "reward \"%s\" not found", req->reward_id);
    } else if ((e = resolve_member(call, st, req->member, true, &op.member)) == CO_OK) {
        e = submit(call, st, &op, msg, &coalition__v1__redeem_reward_response__descriptor, resp);
    }
    pts_prog_unref(op.prog);
    return e;
}

typedef struct coupon_args {
    const char *code;
    const co_caller *who;
    Coalition__V1__Coupon *coupon;
} coupon_args;

static co_err use_coupon_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    coupon_args *ca = ud;
    co_arena *a = co_call_arena(call);
    const char *v[1] = {ca->code};
    PGresult *r;
    co_err e = co_pg_exec(
        c,
        pts_stmt("pts_coupon",
                 "SELECT reward_id, program, member_id, partner_id, status,"
                 " (extract(epoch FROM issue_time) * 1000000)::bigint,"
                 " (extract(epoch FROM expire_time) * 1000000)::bigint, redeem_transfer_id,"
                 " expire_time <= now() FROM points.coupons WHERE code = $1 FOR UPDATE",
                 1),
        v, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return co_call_fail(call, CO_ERR_NOT_FOUND, "coupon not found");
    }
    const co_caller *who = ca->who;
    if (who->role != CO_ROLE_ADMIN && strcmp(who->partner_id, PQgetvalue(r, 0, 3)) != 0) {
        PQclear(r);
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "the coupon is for another partner to accept");
    }
    bool used = strcmp(PQgetvalue(r, 0, 4), "2") == 0;
    bool expired = PQgetvalue(r, 0, 8)[0] == 't';
    if (used || expired) {
        PQclear(r);
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            used ? "coupon already used" : "coupon expired");
    }
    Coalition__V1__Coupon *cp = co_arena_alloc(a, sizeof *cp);
    Coalition__V1__UseCouponResponse *out = co_arena_alloc(a, sizeof *out);
    if (cp == NULL || out == NULL) {
        PQclear(r);
        return CO_ERR_NOMEM;
    }
    coalition__v1__coupon__init(cp);
    cp->code = (char *)ca->code;
    cp->reward_id = co_arena_strdup(a, PQgetvalue(r, 0, 0));
    cp->program_code = co_arena_strdup(a, PQgetvalue(r, 0, 1));
    cp->member_id = co_arena_strdup(a, PQgetvalue(r, 0, 2));
    cp->status = COALITION__V1__COUPON_STATUS__COUPON_STATUS_USED;
    cp->issue_time = co_timestamp(a, strtoll(PQgetvalue(r, 0, 5), NULL, 10));
    cp->expire_time = co_timestamp(a, strtoll(PQgetvalue(r, 0, 6), NULL, 10));
    char tid[32];
    pts_transfer_id(strtoll(PQgetvalue(r, 0, 7), NULL, 10), tid, sizeof tid);
    cp->redeem_transfer_id = co_arena_strdup(a, tid);
    cp->used_by_partner_id = (char *)who->partner_id;
    PQclear(r);
    const char *uv[2] = {ca->code, who->partner_id};
    e = co_pg_exec(c,
                   pts_stmt("pts_use_coupon",
                            "UPDATE points.coupons SET status = 2, use_time = now(),"
                            " used_by_partner_id = $2 WHERE code = $1 RETURNING"
                            " (extract(epoch FROM use_time) * 1000000)::bigint",
                            2),
                   uv, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    cp->use_time = co_timestamp(a, strtoll(PQgetvalue(r, 0, 0), NULL, 10));
    PQclear(r);
    coalition__v1__use_coupon_response__init(out);
    out->coupon = cp;
    *resp = &out->base;
    return CO_OK;
}

static co_err use_coupon(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                         void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__UseCouponRequest *req = (const void *)msg;
    co_err e = co_check_request_id(call, req->request_id);
    if (e != CO_OK) {
        return e;
    }
    /* Crockford base32, case-insensitive on input; never logged (a secret). */
    char code[13];
    size_t n = strlen(req->coupon_code);
    if (n != 12) {
        return bad(call, "coupon_code", "must be the 12-character code");
    }
    for (size_t i = 0; i < 12; i++) {
        char ch = req->coupon_code[i];
        ch = (char)(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
        if (strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", ch) == NULL || ch == '\0') {
            return bad(call, "coupon_code", "must be the 12-character code");
        }
        code[i] = ch;
    }
    code[12] = '\0';
    const co_caller *who = co_caller_of(call);
    if (who->inactive) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION, "partner \"%s\" is not active",
                            who->partner_id);
    }
    coupon_args ca = {.code = co_arena_strdup(co_call_arena(call), code), .who = who};
    return co_idem_run(st->pool, &st->idem, call, who->partner_id, req->request_id, msg,
                       &coalition__v1__use_coupon_response__descriptor, use_coupon_effect, &ca,
                       resp);
}

/* --- ExpirePoints --- */

#define EXPIRE_MAX_MEMBERS 10000

typedef struct due_programs {
    const char *program; /* "" = all */
    int64_t as_of_us;
    co_arena *a;
    char **codes;
    size_t n;
} due_programs;

static co_err due_programs_tx(co_pg_conn *c, void *ud)
{
    due_programs *dp = ud;
    char asof[24];
    snprintf(asof, sizeof asof, "%" PRId64, dp->as_of_us);
    const char *v[2] = {dp->program, asof};
    PGresult *r;
    co_err e = co_pg_exec(
        c,
        pts_stmt("pts_due_programs",
                 "SELECT DISTINCT a.program FROM points.lots l JOIN points.accounts a ON a.id ="
                 " l.account_id WHERE l.remaining > 0 AND l.expire_time <= timestamptz 'epoch' +"
                 " $2::bigint * interval '1 microsecond' AND ($1 = '' OR a.program = $1)"
                 " ORDER BY 1 LIMIT 1000",
                 2),
        v, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    dp->n = 0;
    dp->codes = co_arena_calloc(dp->a, (size_t)PQntuples(r) + 1, sizeof *dp->codes);
    for (int i = 0; dp->codes != NULL && i < PQntuples(r); i++) {
        dp->codes[dp->n++] = co_arena_strdup(dp->a, PQgetvalue(r, i, 0));
    }
    PQclear(r);
    return dp->codes != NULL ? CO_OK : CO_ERR_NOMEM;
}

/* Expires program `code` as of as_of_us through the executor. request_id "" is timer work. */
static co_err expire_program(pts_state *st, const char *caller, const char *method,
                             const char *request_id, const uint8_t hash[32], const char *code,
                             int64_t as_of_us, int64_t timeout_ms, pts_op *op, char *why,
                             size_t whylen)
{
    memset(op, 0, sizeof *op);
    op->kind = PTS_OP_EXPIRE;
    op->caller = caller;
    op->method = method;
    op->request_id = request_id;
    if (hash != NULL) {
        memcpy(op->hash, hash, 32);
    }
    op->as_of_us = as_of_us;
    op->expire_max = EXPIRE_MAX_MEMBERS;
    co_err e = pts_progs_get(st->progs, code, timeout_ms, &op->prog, why, whylen);
    if (e != CO_OK) {
        return e;
    }
    pts_exec_submit(st->ex, op);
    pts_prog_unref(op->prog);
    op->prog = NULL;
    if (op->err != CO_OK) {
        snprintf(why, whylen, "%s", op->message);
        free(op->resp);
        op->resp = NULL;
        return op->err;
    }
    return CO_OK;
}

static co_err expire_points(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                            void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__ExpirePointsRequest *req = (const void *)msg;
    co_err e = co_require_admin(call);
    if (e != CO_OK || (e = co_check_request_id(call, req->request_id)) != CO_OK) {
        return e;
    }
    if (req->program_code[0] != '\0' && !code_ok(req->program_code)) {
        return bad(call, "program_code", "must be a program code, or empty for every program");
    }
    int64_t now = now_us();
    int64_t as_of = now;
    if (req->as_of != NULL) {
        if (!ts_valid(req->as_of)) {
            return bad(call, "as_of", "not a valid time");
        }
        as_of = ts_us(req->as_of);
        if (as_of > now) {
            return bad(call, "as_of", "must not be in the future");
        }
    }
    co_arena *a = co_call_arena(call);
    uint8_t hash[32];
    if (!co_pb_hash(msg, a, hash)) {
        return CO_ERR_NOMEM;
    }
    /* One keyed operation per program: "<request_id>" for one program, "<request_id>@<code>"
     * for each when every program is expired, so a repeat replays each program's outcome. */
    due_programs dp = {.program = req->program_code, .as_of_us = as_of, .a = a};
    char *single[1] = {(char *)req->program_code};
    if (req->program_code[0] != '\0') {
        pts_prog *p;
        if ((e = program_for(call, st, req->program_code, false, false, &p)) != CO_OK) {
            return e;
        }
        pts_prog_unref(p);
        dp.codes = single;
        dp.n = 1;
    } else if ((e = co_pg_tx(st->pool, co_call_ms_left(call), due_programs_tx, &dp)) != CO_OK) {
        return e;
    }
    Coalition__V1__ExpirePointsResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__expire_points_response__init(r);
    for (size_t i = 0; i < dp.n; i++) {
        const char *key = req->program_code[0] != '\0'
                              ? req->request_id
                              : co_arena_printf(a, "%s@%s", req->request_id, dp.codes[i]);
        pts_op op;
        char why[256];
        e = expire_program(st, co_caller_of(call)->partner_id, co_call_method(call), key, hash,
                           dp.codes[i], as_of, co_call_ms_left(call), &op, why, sizeof why);
        if (e != CO_OK) {
            return co_call_fail(call, e, "%s", why);
        }
        Coalition__V1__ExpirePointsResponse *one =
            coalition__v1__expire_points_response__unpack(co_arena_pb(a), op.resp_len, op.resp);
        free(op.resp);
        if (one == NULL) {
            return co_call_fail(call, CO_ERR_INTERNAL, "could not decode the recorded response");
        }
        r->expired_points += one->expired_points;
        r->lots_expired += one->lots_expired;
        r->members_affected += one->members_affected;
        r->transfers_posted += one->transfers_posted;
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- Reverse --- */

typedef struct orig_args {
    int64_t id;
    bool with_bonuses;
    co_arena *a;
    bool found;
    char program[64];
    char partner_id[64];
    char member_id[64];
    pts_orig *origs;
    size_t n;
} orig_args;

static co_err orig_tx(co_pg_conn *c, void *ud)
{
    orig_args *oa = ud;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, oa->id);
    const char *v[2] = {id, oa->with_bonuses ? "t" : "f"};
    PGresult *r;
    /* The transfer, then (with bonuses, for an EARN) the BONUS transfers of the same Earn call
     * except the welcome bonus. Transfers are immutable: no lock is needed to read them. */
    co_err e = co_pg_exec(
        c,
        pts_stmt("pts_orig",
                 "WITH o AS (SELECT t.* FROM points.transfers t WHERE t.id = $1::bigint)"
                 " SELECT t.id, t.kind, t.points, d.name, cr.name, t.program, t.partner_id,"
                 " t.member_id, coalesce(CASE WHEN t.kind = 3 THEN t.id WHEN t.kind = 5 THEN"
                 " t.corrects_id END, 0), coalesce(t.purchase_micros, 0),"
                 " (extract(epoch FROM t.create_time) * 1000000)::bigint"
                 " FROM o JOIN points.transfers t ON t.id = o.id OR ($2::boolean AND o.kind = 1"
                 " AND t.program = o.program AND t.partner_id = o.partner_id AND t.request_id ="
                 " o.request_id AND t.request_id <> '' AND t.kind = 2 AND t.reason <> 'welcome')"
                 " JOIN points.accounts d ON d.id = t.debit_id"
                 " JOIN points.accounts cr ON cr.id = t.credit_id ORDER BY t.id = o.id DESC, t.id",
                 2),
        v, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    int n = PQntuples(r);
    oa->found = n > 0;
    oa->origs = co_arena_calloc(oa->a, (size_t)n + 1, sizeof *oa->origs);
    if (oa->origs == NULL) {
        PQclear(r);
        return CO_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        pts_orig *o = &oa->origs[oa->n++];
        o->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        o->kind = (int)strtol(PQgetvalue(r, i, 1), NULL, 10);
        o->points = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        o->debit = co_arena_strdup(oa->a, PQgetvalue(r, i, 3));
        o->credit = co_arena_strdup(oa->a, PQgetvalue(r, i, 4));
        o->debit_tid = strtoll(PQgetvalue(r, i, 8), NULL, 10);
        o->purchase_micros = strtoll(PQgetvalue(r, i, 9), NULL, 10);
        o->create_us = strtoll(PQgetvalue(r, i, 10), NULL, 10);
    }
    if (n > 0) {
        snprintf(oa->program, sizeof oa->program, "%s", PQgetvalue(r, 0, 5));
        snprintf(oa->partner_id, sizeof oa->partner_id, "%s", PQgetvalue(r, 0, 6));
        snprintf(oa->member_id, sizeof oa->member_id, "%s", PQgetvalue(r, 0, 7));
    }
    PQclear(r);
    return CO_OK;
}

static co_err reverse(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp, void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__ReverseRequest *req = (const void *)msg;
    co_err e = co_check_request_id(call, req->request_id);
    if (e != CO_OK || (e = reason_ok(call, req->reason, true)) != CO_OK) {
        return e;
    }
    if (req->points < 0 || req->points > MAX_POINTS) {
        return bad(call, "points", "must be 0 (all that is left) or 1..1000000000");
    }
    orig_args oa = {.with_bonuses = req->with_bonuses, .a = co_call_arena(call)};
    if (!pts_transfer_id_parse(req->transfer_id, &oa.id)) {
        return bad(call, "transfer_id", "must be a transfer id (\"tr-\" and digits)");
    }
    pts_op op;
    memset(&op, 0, sizeof op);
    op.kind = PTS_OP_REVERSE;
    op.request_id = req->request_id;
    op.points = req->points;
    op.reason = req->reason;
    if ((e = TAKE_META(call, req, &op)) != CO_OK) {
        return e;
    }
    if ((e = co_pg_tx(st->pool, co_call_ms_left(call), orig_tx, &oa)) != CO_OK) {
        return e;
    }
    const co_caller *who = co_caller_of(call);
    if (!oa.found) {
        return co_call_fail(call, CO_ERR_NOT_FOUND, "transfer \"%s\" not found", req->transfer_id);
    }
    if (who->role != CO_ROLE_ADMIN && strcmp(who->partner_id, oa.partner_id) != 0) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "transfer \"%s\" was posted by another partner", req->transfer_id);
    }
    int k = oa.origs[0].kind;
    if (k != COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_EARN &&
        k != COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_BONUS &&
        k != COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_REDEEM &&
        k != COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_CAPTURE &&
        k != COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_ADJUST) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            "transfer \"%s\" cannot be reversed: only EARN, BONUS, REDEEM, CAPTURE "
                            "and ADJUST transfers can (correct exchanges with ADJUST credits)",
                            req->transfer_id);
    }
    if (oa.member_id[0] == '\0' || strlen(oa.member_id) >= sizeof op.member.member_id) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            "transfer \"%s\" moved no member's points", req->transfer_id);
    }
    snprintf(op.member.member_id, sizeof op.member.member_id, "%s", oa.member_id);
    op.origs = oa.origs;
    op.norigs = oa.n;
    char why[256];
    e = pts_progs_get(st->progs, oa.program, co_call_ms_left(call), &op.prog, why, sizeof why);
    if (e != CO_OK) {
        return co_call_fail(call, e, "%s", why);
    }
    e = submit(call, st, &op, msg, &coalition__v1__reverse_response__descriptor, resp);
    pts_prog_unref(op.prog);
    return e;
}

/* --- Exchange --- */

/* The caller may exchange when it owns or takes part in either program (the admin always). */
static bool takes_part(const co_caller *who, const pts_prog *p)
{
    return who->role == CO_ROLE_ADMIN || strcmp(who->partner_id, p->p->owner_partner_id) == 0 ||
           pts_prog_participation(p, who->partner_id) != NULL;
}

static co_err exchange(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                       void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__ExchangeRequest *req = (const void *)msg;
    co_err e = co_check_request_id(call, req->request_id);
    if (e != CO_OK || (e = points_range(call, "points", req->points)) != CO_OK) {
        return e;
    }
    if (!code_ok(req->from_program_code)) {
        return bad(call, "from_program_code", "must be a program code");
    }
    if (!code_ok(req->to_program_code)) {
        return bad(call, "to_program_code", "must be a program code");
    }
    if (strcmp(req->from_program_code, req->to_program_code) == 0) {
        return bad(call, "to_program_code", "must differ from from_program_code");
    }
    pts_op op;
    memset(&op, 0, sizeof op);
    op.kind = PTS_OP_EXCHANGE;
    op.request_id = req->request_id;
    op.points = req->points;
    if ((e = TAKE_META(call, req, &op)) != CO_OK) {
        return e;
    }
    char why[256];
    e = pts_progs_get(st->progs, req->from_program_code, co_call_ms_left(call), &op.prog, why,
                      sizeof why);
    if (e != CO_OK) {
        return co_call_fail(call, e, "%s", why);
    }
    e = pts_progs_get(st->progs, req->to_program_code, co_call_ms_left(call), &op.prog2, why,
                      sizeof why);
    if (e != CO_OK) {
        pts_prog_unref(op.prog);
        return co_call_fail(call, e, "%s", why);
    }
    const co_caller *who = co_caller_of(call);
    const Coalition__Internal__V1__GetProgramSnapshotResponse *sn = op.prog->snap;
    for (size_t i = 0; i < sn->n_agreements; i++) {
        if (strcmp(sn->agreements[i]->from_program_code, req->from_program_code) == 0 &&
            strcmp(sn->agreements[i]->to_program_code, req->to_program_code) == 0) {
            op.agreement = sn->agreements[i];
        }
    }
    if (!takes_part(who, op.prog) && !takes_part(who, op.prog2)) {
        e = co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                         "partner \"%s\" takes part in neither program", who->partner_id);
    } else if (op.agreement == NULL) {
        e = co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                         "no exchange agreement from \"%s\" to \"%s\"", req->from_program_code,
                         req->to_program_code);
    } else if ((e = resolve_member(call, st, req->member, true, &op.member)) == CO_OK) {
        e = submit(call, st, &op, msg, &coalition__v1__exchange_response__descriptor, resp);
    }
    pts_prog_unref(op.prog);
    pts_prog_unref(op.prog2);
    return e;
}

/* --- GetBalance --- */

typedef struct bal_args {
    const char *member_id;
    const char *program; /* "" = all */
    co_arena *a;
    PGresult *r;
} bal_args;

static co_err balance_tx(co_pg_conn *c, void *ud)
{
    bal_args *ba = ud;
    const char *v[2] = {ba->member_id, ba->program};
    return co_pg_exec(
        c,
        pts_stmt("pts_balance",
                 "SELECT m.program, ma.balance, ha.balance, m.lifetime_earned, m.tier_code,"
                 " (extract(epoch FROM m.tier_since) * 1000000)::bigint,"
                 " (SELECT (extract(epoch FROM min(l.expire_time)) * 1000000)::bigint"
                 "   FROM points.lots l WHERE l.account_id = ma.id AND l.remaining > 0 AND"
                 "   l.expire_time > now()),"
                 " (SELECT coalesce(sum(l.remaining), 0) FROM points.lots l WHERE"
                 "   l.account_id = ma.id AND l.remaining > 0 AND l.expire_time = (SELECT"
                 "   min(l2.expire_time) FROM points.lots l2 WHERE l2.account_id = ma.id AND"
                 "   l2.remaining > 0 AND l2.expire_time > now()))"
                 " FROM points.members m JOIN points.accounts ma ON ma.id = m.account_id"
                 " JOIN points.accounts ha ON ha.id = m.hold_account_id"
                 " WHERE m.member_id = $1 AND ($2 = '' OR m.program = $2) ORDER BY m.program",
                 2),
        v, NULL, NULL, &ba->r);
}

typedef struct qual_args {
    const char *member_id, *program;
    int64_t since_us;
    int64_t points, spend;
} qual_args;

static co_err qual_tx(co_pg_conn *c, void *ud)
{
    qual_args *qa = ud;
    char since[24];
    snprintf(since, sizeof since, "%" PRId64, qa->since_us);
    const char *v[3] = {qa->program, qa->member_id, since};
    PGresult *r;
    co_err e =
        co_pg_exec(c, pts_stmt("pts_qualifying", PTS_QUALIFYING_SQL("$1", "$2", "$3::bigint"), 3),
                   v, NULL, NULL, &r);
    if (e == CO_OK) {
        qa->points = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        qa->spend = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
    }
    return e;
}

static co_err get_balance(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                          void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__GetBalanceRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    pts_member m;
    co_err e;
    if (req->program_code[0] != '\0') {
        pts_prog *p;
        if ((e = program_for(call, st, req->program_code, false, false, &p)) != CO_OK) {
            return e;
        }
        pts_prog_unref(p);
    }
    if ((e = resolve_member(call, st, req->member, false, &m)) != CO_OK) {
        return e;
    }
    bal_args ba = {.member_id = m.member_id, .program = req->program_code, .a = a};
    if ((e = co_pg_tx(st->pool, co_call_ms_left(call), balance_tx, &ba)) != CO_OK) {
        return e;
    }
    Coalition__V1__GetBalanceResponse *r = co_arena_alloc(a, sizeof *r);
    int rows = PQntuples(ba.r);
    if (r == NULL) {
        PQclear(ba.r);
        return CO_ERR_NOMEM;
    }
    coalition__v1__get_balance_response__init(r);
    r->balances = co_arena_calloc(a, (size_t)rows + 1, sizeof *r->balances);
    const co_caller *who = co_caller_of(call);
    for (int i = 0; i < rows && r->balances != NULL; i++) {
        const char *code = PQgetvalue(ba.r, i, 0);
        pts_prog *p = NULL;
        char why[256];
        if (pts_progs_get(st->progs, code, co_call_ms_left(call), &p, why, sizeof why) != CO_OK) {
            continue;
        }
        bool sees = who->role == CO_ROLE_ADMIN ||
                    strcmp(who->partner_id, p->p->owner_partner_id) == 0 ||
                    pts_prog_participation(p, who->partner_id) != NULL;
        if (!sees) {
            pts_prog_unref(p);
            continue;
        }
        Coalition__V1__Balance *b = co_arena_alloc(a, sizeof *b);
        if (b == NULL) {
            pts_prog_unref(p);
            break;
        }
        coalition__v1__balance__init(b);
        b->member_id = co_arena_strdup(a, m.member_id);
        b->program_code = co_arena_strdup(a, code);
        b->available_points = strtoll(PQgetvalue(ba.r, i, 1), NULL, 10);
        b->held_points = strtoll(PQgetvalue(ba.r, i, 2), NULL, 10);
        b->lifetime_earned_points = strtoll(PQgetvalue(ba.r, i, 3), NULL, 10);
        b->tier_code = co_arena_strdup(a, PQgetvalue(ba.r, i, 4));
        if (!PQgetisnull(ba.r, i, 5)) {
            b->tier_since = co_timestamp(a, strtoll(PQgetvalue(ba.r, i, 5), NULL, 10));
        }
        if (!PQgetisnull(ba.r, i, 6)) {
            b->next_expiry_time = co_timestamp(a, strtoll(PQgetvalue(ba.r, i, 6), NULL, 10));
            b->next_expiry_points = strtoll(PQgetvalue(ba.r, i, 7), NULL, 10);
        }
        int32_t days = p->p->qualifying_window_days > 0 ? p->p->qualifying_window_days : 365;
        qual_args qa = {.member_id = m.member_id,
                        .program = code,
                        .since_us = now_us() - (int64_t)days * 86400 * 1000000};
        if ((e = co_pg_tx(st->pool, co_call_ms_left(call), qual_tx, &qa)) != CO_OK) {
            pts_prog_unref(p);
            PQclear(ba.r);
            return e;
        }
        b->qualifying_points = qa.points;
        b->qualifying_spend_micros = qa.spend;
        int64_t value = 0;
        if (!co_mul64(b->available_points, p->p->point_value_micros, &value)) {
            value = 0;
        }
        b->available_value = co_arena_alloc(a, sizeof *b->available_value);
        if (b->available_value != NULL) {
            coalition__v1__money__init(b->available_value);
            b->available_value->amount_micros = value;
            b->available_value->currency = co_arena_strdup(a, p->p->currency);
        }
        pts_prog_unref(p);
        r->balances[r->n_balances++] = b;
    }
    PQclear(ba.r);
    if (r->balances == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- ListTransactions --- */

typedef struct list_args {
    const char *program, *member_id, *partner_id, *kinds, *start, *end, *before, *limit;
    PGresult *r;
} list_args;

/* One listing, with or without a member: with one, "t.member_id <> ''" lets the planner use
 * the partial index transfers_member instead of walking the program's transfers. */
#define LIST_SQL(MEMBER)                                                                           \
    "SELECT t.id, t.seq, t.kind, d.name, cr.name, t.points, t.partner_id,"                         \
    " t.request_id, t.member_id, t.member_balance_after, coalesce(t.corrects_id, 0),"              \
    " t.hold_id, t.purchase_micros, t.currency, t.campaign_id, t.reason,"                          \
    " t.program_version, t.metadata,"                                                              \
    " (extract(epoch FROM t.create_time) * 1000000)::bigint, encode(t.hash, 'hex')"                \
    " FROM points.transfers t JOIN points.accounts d ON d.id = t.debit_id"                         \
    " JOIN points.accounts cr ON cr.id = t.credit_id"                                              \
    " WHERE t.program = $1 AND " MEMBER " AND"                                                     \
    " ($3 = '' OR t.partner_id = $3) AND"                                                          \
    " (cardinality($4::smallint[]) = 0 OR t.kind = ANY($4::smallint[])) AND"                       \
    " ($5::bigint IS NULL OR t.create_time >= timestamptz 'epoch' + $5::bigint *"                  \
    "   interval '1 microsecond') AND"                                                             \
    " ($6::bigint IS NULL OR t.create_time < timestamptz 'epoch' + $6::bigint *"                   \
    "   interval '1 microsecond') AND"                                                             \
    " ($7::bigint IS NULL OR t.seq < $7::bigint)"                                                  \
    " ORDER BY t.seq DESC LIMIT $8::int"

static co_err list_tx(co_pg_conn *c, void *ud)
{
    list_args *la = ud;
    const char *v[8] = {la->program, la->member_id, la->partner_id, la->kinds,
                        la->start,   la->end,       la->before,     la->limit};
    const co_pg_stmt *st =
        la->member_id[0] != '\0'
            ? pts_stmt("pts_list_member", LIST_SQL("t.member_id = $2 AND t.member_id <> ''"), 8)
            : pts_stmt("pts_list", LIST_SQL("$2 = ''"), 8);
    return co_pg_exec(c, st, v, NULL, NULL, &la->r);
}

static Coalition__V1__Transfer *row_transfer(co_arena *a, PGresult *r, int i, const char *program)
{
    Coalition__V1__Transfer *t = co_arena_alloc(a, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    coalition__v1__transfer__init(t);
    char id[32];
    pts_transfer_id(strtoll(PQgetvalue(r, i, 0), NULL, 10), id, sizeof id);
    t->transfer_id = co_arena_strdup(a, id);
    t->program_code = (char *)program;
    t->sequence = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    t->kind = (Coalition__V1__TransferKind)strtol(PQgetvalue(r, i, 2), NULL, 10);
    t->debit_account = co_arena_strdup(a, PQgetvalue(r, i, 3));
    t->credit_account = co_arena_strdup(a, PQgetvalue(r, i, 4));
    t->points = strtoll(PQgetvalue(r, i, 5), NULL, 10);
    t->partner_id = co_arena_strdup(a, PQgetvalue(r, i, 6));
    t->request_id = co_arena_strdup(a, PQgetvalue(r, i, 7));
    t->member_id = co_arena_strdup(a, PQgetvalue(r, i, 8));
    t->member_balance_after = strtoll(PQgetvalue(r, i, 9), NULL, 10);
    int64_t corr = strtoll(PQgetvalue(r, i, 10), NULL, 10);
    if (corr != 0) {
        pts_transfer_id(corr, id, sizeof id);
        t->corrects_transfer_id = co_arena_strdup(a, id);
    }
    t->hold_id = co_arena_strdup(a, PQgetvalue(r, i, 11));
    if (!PQgetisnull(r, i, 12)) {
        t->purchase_amount = co_arena_alloc(a, sizeof *t->purchase_amount);
        if (t->purchase_amount == NULL) {
            return NULL;
        }
        coalition__v1__money__init(t->purchase_amount);
        t->purchase_amount->amount_micros = strtoll(PQgetvalue(r, i, 12), NULL, 10);
        t->purchase_amount->currency = co_arena_strdup(a, PQgetvalue(r, i, 13));
    }
    t->campaign_id = co_arena_strdup(a, PQgetvalue(r, i, 14));
    t->reason = co_arena_strdup(a, PQgetvalue(r, i, 15));
    t->program_version = strtoll(PQgetvalue(r, i, 16), NULL, 10);
    const char **kv = NULL;
    size_t nkv = pts_parse_text_array(a, PQgetvalue(r, i, 17), &kv);
    if (nkv >= 2) {
        t->metadata = co_arena_calloc(a, nkv / 2, sizeof *t->metadata);
        if (t->metadata == NULL) {
            return NULL;
        }
        for (size_t k = 0; k + 1 < nkv; k += 2) {
            Coalition__V1__Transfer__MetadataEntry *me = co_arena_alloc(a, sizeof *me);
            if (me == NULL) {
                return NULL;
            }
            coalition__v1__transfer__metadata_entry__init(me);
            me->key = (char *)kv[k];
            me->value = (char *)kv[k + 1];
            t->metadata[t->n_metadata++] = me;
        }
    }
    t->create_time = co_timestamp(a, strtoll(PQgetvalue(r, i, 18), NULL, 10));
    t->hash = co_arena_strdup(a, PQgetvalue(r, i, 19));
    return t;
}

static co_err list_transactions(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__ListTransactionsRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    int32_t size;
    if (!co_page_size(req->page_size, 50, 500, &size)) {
        return bad(call, "page_size", "must be 1..500, or 0 for 50");
    }
    for (size_t i = 0; i < req->n_kinds; i++) {
        if (req->kinds[i] < KIND(EARN) || req->kinds[i] > KIND(ADJUST)) {
            return bad(call, "kinds", "must be transfer kinds other than UNSPECIFIED");
        }
    }
    pts_prog *p;
    co_err e = program_for(call, st, req->program_code, false, false, &p);
    if (e != CO_OK) {
        return e;
    }
    const co_caller *who = co_caller_of(call);
    bool all = who->role == CO_ROLE_ADMIN || strcmp(who->partner_id, p->p->owner_partner_id) == 0;
    pts_prog_unref(p);
    list_args la = {.program = req->program_code, .member_id = "", .partner_id = ""};
    if (req->member != NULL) {
        pts_member m;
        if ((e = resolve_member(call, st, req->member, false, &m)) != CO_OK) {
            return e;
        }
        la.member_id = co_arena_strdup(a, m.member_id);
    } else if (!all) {
        la.partner_id = who->partner_id;
    }
    char *kinds = co_arena_alloc(a, 4 * req->n_kinds + 3);
    if (kinds == NULL) {
        return CO_ERR_NOMEM;
    }
    size_t kl = 0;
    kinds[kl++] = '{';
    for (size_t i = 0; i < req->n_kinds; i++) {
        kl += (size_t)snprintf(kinds + kl, 5, i > 0 ? ",%d" : "%d", (int)req->kinds[i]);
    }
    kinds[kl++] = '}';
    kinds[kl] = '\0';
    la.kinds = kinds;
    if (req->start_time != NULL) {
        if (!ts_valid(req->start_time)) {
            return bad(call, "start_time", "not a valid time");
        }
        la.start = co_arena_printf(a, "%" PRId64, ts_us(req->start_time));
    }
    if (req->end_time != NULL) {
        if (!ts_valid(req->end_time)) {
            return bad(call, "end_time", "not a valid time");
        }
        la.end = co_arena_printf(a, "%" PRId64, ts_us(req->end_time));
    }
    const char *scope =
        co_arena_printf(a, "tx|%s|%s|%s|%s|%s|%s", req->program_code, la.member_id, la.partner_id,
                        kinds, la.start != NULL ? la.start : "", la.end != NULL ? la.end : "");
    if (req->page_token[0] != '\0') {
        const char *cursor;
        if (!co_page_token_parse(a, req->page_token, scope, &cursor) ||
            strspn(cursor, "0123456789") != strlen(cursor) || cursor[0] == '\0' ||
            strlen(cursor) > 18) {
            return bad(call, "page_token", "not a token of this listing");
        }
        la.before = cursor;
    }
    la.limit = co_arena_printf(a, "%d", (int)size + 1);
    if ((e = co_pg_tx(st->pool, co_call_ms_left(call), list_tx, &la)) != CO_OK) {
        return e;
    }
    Coalition__V1__ListTransactionsResponse *r = co_arena_alloc(a, sizeof *r);
    int rows = PQntuples(la.r);
    if (r == NULL) {
        PQclear(la.r);
        return CO_ERR_NOMEM;
    }
    coalition__v1__list_transactions_response__init(r);
    size_t n = rows > size ? (size_t)size : (size_t)rows;
    r->transfers = co_arena_calloc(a, n + 1, sizeof *r->transfers);
    for (size_t i = 0; r->transfers != NULL && i < n; i++) {
        if ((r->transfers[i] = row_transfer(a, la.r, (int)i, req->program_code)) == NULL) {
            PQclear(la.r);
            return CO_ERR_NOMEM;
        }
        r->n_transfers++;
    }
    if (rows > size && n > 0) {
        r->next_page_token = co_page_token_make(
            a, scope, co_arena_printf(a, "%" PRId64, r->transfers[n - 1]->sequence));
    }
    PQclear(la.r);
    if (r->transfers == NULL || (rows > size && r->next_page_token == NULL)) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- VerifyLedger --- */

typedef struct verify_args {
    co_arena *a;
    const char *program;
    size_t max;
    pts_verify_out out;
} verify_args;

static co_err verify_tx(co_pg_conn *c, void *ud)
{
    verify_args *va = ud;
    return pts_verify(c, va->a, va->program, va->max, &va->out);
}

static co_err verify_ledger(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                            void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__VerifyLedgerRequest *req = (const void *)msg;
    co_err e = co_require_admin(call);
    if (e != CO_OK) {
        return e;
    }
    if (req->program_code[0] != '\0' && !code_ok(req->program_code)) {
        return bad(call, "program_code", "must be a program code, or empty for every program");
    }
    if (req->max_violations < 0 || req->max_violations > 1000) {
        return bad(call, "max_violations", "must be 1..1000, or 0 for 100");
    }
    co_arena *a = co_call_arena(call);
    verify_args va = {.a = a,
                      .program = req->program_code,
                      .max = req->max_violations == 0 ? 100 : (size_t)req->max_violations};
    if ((e = co_pg_tx(st->pool, co_call_ms_left(call), verify_tx, &va)) != CO_OK) {
        return e;
    }
    Coalition__V1__VerifyLedgerResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__verify_ledger_response__init(r);
    r->ok = va.out.violations == 0;
    r->programs_checked = va.out.programs;
    r->accounts_checked = va.out.accounts;
    r->transfers_checked = va.out.transfers;
    r->violation_count = va.out.violations;
    r->violations = va.out.v;
    r->n_violations = va.out.nv;
    r->check_time = co_timestamp(a, va.out.check_us);
    *resp = &r->base;
    return CO_OK;
}

/* --- GetProgramStats --- */

/* The program's owner or the admin; a participant or any other partner is refused. */
static co_err get_program_stats(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__GetProgramStatsRequest *req = (const void *)msg;
    pts_stats_query q;
    pts_prog *p;
    co_err e = pts_stats_check(call, req, now_us(), &q);
    if (e != CO_OK || (e = program_for(call, st, req->program_code, false, false, &p)) != CO_OK) {
        return e;
    }
    const co_caller *who = co_caller_of(call);
    if (who->role != CO_ROLE_ADMIN && strcmp(who->partner_id, p->p->owner_partner_id) != 0) {
        pts_prog_unref(p);
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "partner \"%s\" does not own program \"%s\": only its owner and the "
                            "admin read its figures",
                            who->partner_id, req->program_code);
    }
    e = pts_stats_get(call, st->pool, st->accounts, p, &q, resp);
    pts_prog_unref(p);
    return e;
}

/* --- settlement outbox (gateway only) --- */

static co_err require_gateway(co_call *call)
{
    const co_caller *who = co_caller_of(call);
    if (who->role != CO_ROLE_SERVICE || who->service == NULL ||
        strcmp(who->service, "gateway") != 0) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "settlement events are for the gateway only");
    }
    return CO_OK;
}

typedef struct events_args {
    const char *after, *limit;
    PGresult *r;
} events_args;

static co_err events_tx(co_pg_conn *c, void *ud)
{
    events_args *ea = ud;
    const char *v[2] = {ea->after, ea->limit};
    return co_pg_exec(c,
                      pts_stmt("pts_events",
                               "SELECT id, kind, program, payer_partner_id, payee_partner_id,"
                               " points, unit_price_micros, amount_micros, currency, transfer_id,"
                               " coalesce(reverses_id, 0),"
                               " (extract(epoch FROM create_time) * 1000000)::bigint"
                               " FROM points.settlement_events WHERE ack_time IS NULL AND"
                               " id > $1::bigint ORDER BY id LIMIT $2::int",
                               2),
                      v, NULL, NULL, &ea->r);
}

static co_err list_settlement_events(co_call *call, const ProtobufCMessage *msg,
                                     ProtobufCMessage **resp, void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__ListSettlementEventsRequest *req = (const void *)msg;
    co_err e = require_gateway(call);
    if (e != CO_OK) {
        return e;
    }
    co_arena *a = co_call_arena(call);
    int32_t size;
    if (!co_page_size(req->page_size, 100, 1000, &size)) {
        return bad(call, "page_size", "must be 1..1000, or 0 for 100");
    }
    events_args ea = {.after = "0", .limit = co_arena_printf(a, "%d", (int)size + 1)};
    if (req->page_token[0] != '\0') {
        const char *cursor;
        if (!co_page_token_parse(a, req->page_token, "settlement-events", &cursor) ||
            cursor[0] == '\0' || strspn(cursor, "0123456789") != strlen(cursor) ||
            strlen(cursor) > 18) {
            return bad(call, "page_token", "not a token of this listing");
        }
        ea.after = cursor;
    }
    if ((e = co_pg_tx(st->pool, co_call_ms_left(call), events_tx, &ea)) != CO_OK) {
        return e;
    }
    int rows = PQntuples(ea.r);
    size_t n = rows > size ? (size_t)size : (size_t)rows;
    Coalition__V1__ListSettlementEventsResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL || (r->events = NULL, false)) {
        PQclear(ea.r);
        return CO_ERR_NOMEM;
    }
    coalition__v1__list_settlement_events_response__init(r);
    r->events = co_arena_calloc(a, n + 1, sizeof *r->events);
    for (size_t i = 0; r->events != NULL && i < n; i++) {
        int row = (int)i;
        Coalition__V1__SettlementEvent *ev = co_arena_alloc(a, sizeof *ev);
        Coalition__V1__Money *amt = co_arena_alloc(a, sizeof *amt);
        if (ev == NULL || amt == NULL) {
            PQclear(ea.r);
            return CO_ERR_NOMEM;
        }
        coalition__v1__settlement_event__init(ev);
        coalition__v1__money__init(amt);
        ev->event_id = co_arena_printf(a, "se-%s", PQgetvalue(ea.r, row, 0));
        ev->kind = (Coalition__V1__SettlementEventKind)strtol(PQgetvalue(ea.r, row, 1), NULL, 10);
        ev->program_code = co_arena_strdup(a, PQgetvalue(ea.r, row, 2));
        ev->payer_partner_id = co_arena_strdup(a, PQgetvalue(ea.r, row, 3));
        ev->payee_partner_id = co_arena_strdup(a, PQgetvalue(ea.r, row, 4));
        ev->points = strtoll(PQgetvalue(ea.r, row, 5), NULL, 10);
        ev->unit_price_micros = strtoll(PQgetvalue(ea.r, row, 6), NULL, 10);
        amt->amount_micros = strtoll(PQgetvalue(ea.r, row, 7), NULL, 10);
        amt->currency = co_arena_strdup(a, PQgetvalue(ea.r, row, 8));
        ev->amount = amt;
        char tid[32];
        pts_transfer_id(strtoll(PQgetvalue(ea.r, row, 9), NULL, 10), tid, sizeof tid);
        ev->transfer_id = co_arena_strdup(a, tid);
        if (strcmp(PQgetvalue(ea.r, row, 10), "0") != 0) {
            ev->reverses_event_id = co_arena_printf(a, "se-%s", PQgetvalue(ea.r, row, 10));
        }
        ev->create_time = co_timestamp(a, strtoll(PQgetvalue(ea.r, row, 11), NULL, 10));
        r->events[r->n_events++] = ev;
    }
    if (rows > size && n > 0) {
        r->next_page_token =
            co_page_token_make(a, "settlement-events", PQgetvalue(ea.r, (int)n - 1, 0));
    }
    PQclear(ea.r);
    if (r->events == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

typedef struct ack_args {
    const char *ids;
    size_t n;
    int64_t known, acked;
} ack_args;

static co_err ack_tx(co_pg_conn *c, void *ud)
{
    ack_args *aa = ud;
    const char *v[1] = {aa->ids};
    PGresult *r;
    co_err e = co_pg_exec(c,
                          pts_stmt("pts_ack_known",
                                   "SELECT count(*) FROM points.settlement_events"
                                   " WHERE id = ANY($1::bigint[])",
                                   1),
                          v, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    aa->known = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if ((size_t)aa->known != aa->n) {
        return CO_OK;
    }
    e = co_pg_exec(c,
                   pts_stmt("pts_ack",
                            "UPDATE points.settlement_events SET ack_time = now()"
                            " WHERE id = ANY($1::bigint[]) AND ack_time IS NULL",
                            1),
                   v, NULL, NULL, &r);
    if (e == CO_OK) {
        aa->acked = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    return e;
}

static co_err ack_settlement_events(co_call *call, const ProtobufCMessage *msg,
                                    ProtobufCMessage **resp, void *ud)
{
    pts_state *st = ud;
    const Coalition__V1__AckSettlementEventsRequest *req = (const void *)msg;
    co_err e = require_gateway(call);
    if (e != CO_OK || (e = co_check_request_id(call, req->request_id)) != CO_OK) {
        return e;
    }
    if (req->n_event_ids < 1 || req->n_event_ids > 1000) {
        return bad(call, "event_ids", "1..1000 event ids");
    }
    co_arena *a = co_call_arena(call);
    char *ids = co_arena_alloc(a, 24 * req->n_event_ids + 3);
    if (ids == NULL) {
        return CO_ERR_NOMEM;
    }
    size_t len = 0;
    ids[len++] = '{';
    size_t distinct = 0;
    for (size_t i = 0; i < req->n_event_ids; i++) {
        const char *s = req->event_ids[i];
        size_t sl = strlen(s);
        if (sl < 4 || sl > 21 || strncmp(s, "se-", 3) != 0 ||
            strspn(s + 3, "0123456789") != sl - 3) {
            return bad(call, "event_ids", "each must be an event id (\"se-\" and digits)");
        }
        bool dup = false;
        for (size_t k = 0; k < i; k++) {
            dup = dup || strcmp(req->event_ids[k], s) == 0;
        }
        if (dup) {
            continue;
        }
        len += (size_t)snprintf(ids + len, 24, distinct > 0 ? ",%s" : "%s", s + 3);
        distinct++;
    }
    ids[len++] = '}';
    ids[len] = '\0';
    ack_args aa = {.ids = ids, .n = distinct};
    if ((e = co_pg_tx(st->pool, co_call_ms_left(call), ack_tx, &aa)) != CO_OK) {
        return e;
    }
    if ((size_t)aa.known != distinct) {
        return co_call_fail(call, CO_ERR_NOT_FOUND,
                            "%zu of the event ids are unknown: nothing was acknowledged",
                            distinct - (size_t)aa.known);
    }
    Coalition__V1__AckSettlementEventsResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__ack_settlement_events_response__init(r);
    r->acknowledged = (int32_t)aa.acked;
    *resp = &r->base;
    return CO_OK;
}

/* --- Ledger.ExportMember (internal: the accounts service's GDPR export) --- */

/* "m" and 32 lower-case hexadecimal digits, as the accounts service assigns them. */
static bool member_id_ok(const char *s)
{
    return strlen(s) == 33 && s[0] == 'm' && strspn(s + 1, "0123456789abcdef") == 32;
}

static co_err export_member(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                            void *ud)
{
    pts_state *st = ud;
    const Coalition__Internal__V1__ExportMemberLedgerRequest *req = (const void *)msg;
    const co_caller *who = co_caller_of(call);
    if (who->role != CO_ROLE_SERVICE || who->service == NULL ||
        strcmp(who->service, "accounts") != 0) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "the ledger export is for the accounts service only");
    }
    if (!member_id_ok(req->member_id)) {
        return bad(call, "member_id", "must be a member id (\"m\" and 32 lower-case hex digits)");
    }
    co_arena *a = co_call_arena(call);
    Coalition__Internal__V1__ExportMemberLedgerResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__internal__v1__export_member_ledger_response__init(r);
    size_t len = 0;
    co_err e =
        pts_export_member(st->pool, co_call_ms_left(call), req->member_id, a, &r->json, &len);
    if (e != CO_OK) {
        return e;
    }
    /* the field's tag and length take at most 11 bytes more */
    if ((int64_t)len > st->cfg->max_message_bytes - 16) {
        return co_call_fail(call, CO_ERR_RESOURCE_EXHAUSTED,
                            "the member's ledger export (%zu bytes) is larger than the largest "
                            "message the points service may send (COALITION_MAX_MESSAGE_BYTES)",
                            len);
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- hold timeouts --- */

typedef struct due_args {
    char ids[200][32];
    char programs[200][64];
    int n;
} due_args;

static co_err due_tx(co_pg_conn *c, void *ud)
{
    due_args *da = ud;
    PGresult *r;
    co_err e = co_pg_exec(c,
                          pts_stmt("pts_due_holds",
                                   "SELECT hold_id, program FROM points.holds WHERE status = 1 AND"
                                   " expire_time <= now() ORDER BY expire_time LIMIT 200",
                                   0),
                          NULL, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    da->n = 0;
    for (int i = 0; i < PQntuples(r) && i < 200; i++) {
        snprintf(da->ids[i], sizeof da->ids[i], "%s", PQgetvalue(r, i, 0));
        snprintf(da->programs[i], sizeof da->programs[i], "%s", PQgetvalue(r, i, 1));
        da->n++;
    }
    PQclear(r);
    return CO_OK;
}

/* Releases holds past their expire_time, once a second; every expiry interval, expires lots,
 * reviews tiers at their anniversary and credits birthday bonuses. */
static void *timer_main(void *arg)
{
    pts_state *st = arg;
    due_args *da = calloc(1, sizeof *da);
    pts_birthdays *bd = pts_birthdays_new();
    if (da == NULL || bd == NULL) {
        free(da);
        pts_birthdays_free(bd);
        return NULL;
    }
    int64_t last_expiry = 0;
    for (;;) {
        pthread_mutex_lock(&st->timer_mu);
        if (!st->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&st->timer_cv, &st->timer_mu, &ts);
        }
        bool stop = st->stopping;
        pthread_mutex_unlock(&st->timer_mu);
        if (stop) {
            break;
        }
        if (co_pg_tx(st->pool, 5000, due_tx, da) != CO_OK) {
            continue;
        }
        for (int i = 0; i < da->n; i++) {
            pts_op op;
            memset(&op, 0, sizeof op);
            op.kind = PTS_OP_VOID;
            op.caller = CO_OPERATOR_ID;
            op.method = "timer/hold-timeout";
            op.request_id = "";
            op.hold_id = da->ids[i];
            char why[256];
            if (pts_progs_get(st->progs, da->programs[i], 5000, &op.prog, why, sizeof why) !=
                CO_OK) {
                continue;
            }
            pts_exec_submit(st->ex, &op);
            free(op.resp);
            pts_prog_unref(op.prog);
        }
        /* Points past their expiry, every expiry interval (0: only ExpirePoints). */
        int64_t now = now_us();
        if (st->expiry_interval_ms > 0 && now - last_expiry >= st->expiry_interval_ms * 1000) {
            last_expiry = now;
            co_arena a;
            co_arena_init(&a, 0);
            due_programs dp = {.program = "", .as_of_us = now, .a = &a};
            if (co_pg_tx(st->pool, 5000, due_programs_tx, &dp) == CO_OK) {
                for (size_t i = 0; i < dp.n; i++) {
                    pts_op op;
                    char why[256];
                    if (expire_program(st, CO_OPERATOR_ID, "timer/expiry", "", NULL, dp.codes[i],
                                       now, 30000, &op, why, sizeof why) == CO_OK) {
                        free(op.resp);
                    } else {
                        co_log(CO_LOG_WARN, "expiry timer", "{s:s, s:s}", "program", dp.codes[i],
                               "error", why);
                    }
                }
            }
            co_arena_release(&a);
            /* the calendar: anniversaries of tier changes, birthdays */
            pts_tier_reviews(st->pool, st->progs, st->ex, now);
            pts_birthday_sweep(bd, st->pool, st->progs, st->accounts, st->ex, now);
        }
    }
    free(da);
    pts_birthdays_free(bd);
    return NULL;
}

/* --- wiring --- */

#define M(name, fn, in, out)                                                                       \
    {                                                                                              \
        "/coalition.v1.Points/" name, &in, &out, fn, NULL, NULL                                    \
    }

#define LEDGER(name, fn, in, out)                                                                  \
    {                                                                                              \
        "/coalition.internal.v1.Ledger/" name, &in, &out, fn, NULL, NULL                           \
    }

static const co_method method_rows[] = {
    M("Earn", earn, coalition__v1__earn_request__descriptor,
      coalition__v1__earn_response__descriptor),
    M("Credit", credit, coalition__v1__credit_request__descriptor,
      coalition__v1__credit_response__descriptor),
    M("Redeem", redeem, coalition__v1__redeem_request__descriptor,
      coalition__v1__redeem_response__descriptor),
    M("CaptureHold", capture_hold, coalition__v1__capture_hold_request__descriptor,
      coalition__v1__capture_hold_response__descriptor),
    M("VoidHold", void_hold, coalition__v1__void_hold_request__descriptor,
      coalition__v1__void_hold_response__descriptor),
    M("Reverse", reverse, coalition__v1__reverse_request__descriptor,
      coalition__v1__reverse_response__descriptor),
    M("Exchange", exchange, coalition__v1__exchange_request__descriptor,
      coalition__v1__exchange_response__descriptor),
    M("ExpirePoints", expire_points, coalition__v1__expire_points_request__descriptor,
      coalition__v1__expire_points_response__descriptor),
    M("RedeemReward", redeem_reward, coalition__v1__redeem_reward_request__descriptor,
      coalition__v1__redeem_reward_response__descriptor),
    M("UseCoupon", use_coupon, coalition__v1__use_coupon_request__descriptor,
      coalition__v1__use_coupon_response__descriptor),
    M("FundIssuer", fund_issuer, coalition__v1__fund_issuer_request__descriptor,
      coalition__v1__fund_issuer_response__descriptor),
    M("GetBalance", get_balance, coalition__v1__get_balance_request__descriptor,
      coalition__v1__get_balance_response__descriptor),
    M("ListTransactions", list_transactions, coalition__v1__list_transactions_request__descriptor,
      coalition__v1__list_transactions_response__descriptor),
    M("VerifyLedger", verify_ledger, coalition__v1__verify_ledger_request__descriptor,
      coalition__v1__verify_ledger_response__descriptor),
    M("GetProgramStats", get_program_stats, coalition__v1__get_program_stats_request__descriptor,
      coalition__v1__get_program_stats_response__descriptor),
    M("ListSettlementEvents", list_settlement_events,
      coalition__v1__list_settlement_events_request__descriptor,
      coalition__v1__list_settlement_events_response__descriptor),
    M("AckSettlementEvents", ack_settlement_events,
      coalition__v1__ack_settlement_events_request__descriptor,
      coalition__v1__ack_settlement_events_response__descriptor),
    LEDGER("ExportMember", export_member,
           coalition__internal__v1__export_member_ledger_request__descriptor,
           coalition__internal__v1__export_member_ledger_response__descriptor),
};
#define NMETHODS (sizeof method_rows / sizeof method_rows[0])

static void pts_fini(void *state)
{
    pts_service *s = state;
    if (s == NULL) {
        return;
    }
    if (s->st.timer_started) {
        pthread_mutex_lock(&s->st.timer_mu);
        s->st.stopping = true;
        pthread_cond_broadcast(&s->st.timer_cv);
        pthread_mutex_unlock(&s->st.timer_mu);
        pthread_join(s->st.timer, NULL);
    }
    pts_exec_free(s->st.ex);
    pts_members_free(s->st.members);
    pts_progs_free(s->st.progs);
    co_client_free(s->st.partners);
    co_client_free(s->st.accounts);
    pthread_cond_destroy(&s->st.timer_cv);
    pthread_mutex_destroy(&s->st.timer_mu);
    free(s);
}

static void *pts_init(const co_process_env *env, const co_method **methods, size_t *n, char *err,
                      size_t errlen)
{
    const pts_config *cfg = env->extra;
    pts_service *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->st.timer_mu, NULL);
    pthread_cond_init(&s->st.timer_cv, NULL);
    s->st.pool = env->pool;
    s->st.expiry_interval_ms = cfg->expiry_interval_ms;
    s->st.cfg = env->cfg;
    co_idem_init(&s->st.idem, "points");
    s->st.partners = co_client_new(cfg->partners_addr, env->tls, "partners service");
    s->st.accounts = co_client_new(cfg->accounts_addr, env->tls, "accounts service");
    if (s->st.partners != NULL && s->st.accounts != NULL) {
        s->st.progs = pts_progs_new(s->st.partners, cfg->program_refresh_ms);
        s->st.members = pts_members_new(s->st.accounts, cfg->member_cache_ms);
    }
    if (s->st.progs == NULL || s->st.members == NULL ||
        (s->st.ex = pts_exec_new(env->pool, (int)cfg->batch_max, 30000)) == NULL) {
        snprintf(err, errlen, "out of memory");
        pts_fini(s);
        return NULL;
    }
    if (pthread_create(&s->st.timer, NULL, timer_main, &s->st) != 0) {
        snprintf(err, errlen, "could not start the hold timer");
        pts_fini(s);
        return NULL;
    }
    s->st.timer_started = true;
    for (size_t i = 0; i < NMETHODS; i++) {
        s->methods[i] = method_rows[i];
        s->methods[i].ud = &s->st;
    }
    *methods = s->methods;
    *n = NMETHODS;
    return s;
}

/* `coalition-points verify`: the invariant check from the command line; exit 0 when clean,
 * 1 on violations, 2 when it could not run. */
static int verify_command(const co_process_config *cfg, void *extra)
{
    (void)extra;
    char err[512];
    co_pg_pool *pool = co_pg_pool_new(cfg->database_url, 1, err, sizeof err);
    if (pool == NULL) {
        fprintf(stderr, "points: verify: %s\n", err);
        return 2;
    }
    co_arena a;
    co_arena_init(&a, 0);
    verify_args va = {.a = &a,
                      .program = getenv("COALITION_VERIFY_PROGRAM") != NULL
                                     ? getenv("COALITION_VERIFY_PROGRAM")
                                     : "",
                      .max = 1000};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    co_err e = co_pg_tx(pool, 3600000, verify_tx, &va);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    co_pg_pool_free(pool);
    if (e != CO_OK) {
        co_arena_release(&a);
        fprintf(stderr, "points: verify: could not run: %s\n", co_err_name(e));
        return 2;
    }
    json_t *viol = json_array();
    for (size_t i = 0; i < va.out.nv; i++) {
        const Coalition__V1__LedgerViolation *v = va.out.v[i];
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
            &coalition__v1__ledger_check__descriptor, v->check);
        json_array_append_new(viol, json_pack("{s:s, s:s, s:s, s:s, s:s}", "check",
                                              ev != NULL ? ev->name : "?", "program",
                                              v->program_code, "account", v->account, "transfer",
                                              v->transfer_id, "detail", v->detail));
    }
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:f, s:o}", "ok", va.out.violations == 0,
                          "programs_checked", (json_int_t)va.out.programs, "accounts_checked",
                          (json_int_t)va.out.accounts, "transfers_checked",
                          (json_int_t)va.out.transfers, "violation_count",
                          (json_int_t)va.out.violations, "elapsed_ms", ms, "violations", viol);
    char *s = json_dumps(o, JSON_INDENT(2));
    if (s != NULL) {
        puts(s);
        free(s);
    }
    json_decref(o);
    co_arena_release(&a);
    return va.out.violations == 0 ? 0 : 1;
}

/* The services' certificate check, then: a service calling on its own behalf (no partner, no
 * admin) may use only the gateway's outbox methods and the accounts service's ledger export
 * (each handler checks which service); every other method acts for someone. */
static co_err pts_authorize(co_call *call, void *ud)
{
    const pts_service *s = ud;
    co_err e = co_caller_authorize(call, (void *)s->st.cfg);
    if (e != CO_OK) {
        return e;
    }
    const co_caller *who = co_caller_of(call);
    const char *m = co_call_method(call);
    if (who->role == CO_ROLE_SERVICE &&
        strcmp(m, "/coalition.v1.Points/ListSettlementEvents") != 0 &&
        strcmp(m, "/coalition.v1.Points/AckSettlementEvents") != 0 &&
        strcmp(m, "/coalition.internal.v1.Ledger/ExportMember") != 0) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "a service must call this method for a partner or the admin");
    }
    return CO_OK;
}

static const co_cfg_option pts_options[] = {
    {"partners-addr", "COALITION_PARTNERS_ADDR", CO_CFG_ADDR, "127.0.0.1:50051",
     "partners service address", offsetof(pts_config, partners_addr), 0, 0},
    {"accounts-addr", "COALITION_ACCOUNTS_ADDR", CO_CFG_ADDR, "127.0.0.1:50052",
     "accounts service address", offsetof(pts_config, accounts_addr), 0, 0},
    {"batch-max", "COALITION_POINTS_BATCH_MAX", CO_CFG_INT, "256",
     "most ledger operations per database transaction", offsetof(pts_config, batch_max), 1, 4096},
    {"program-refresh-ms", "COALITION_POINTS_PROGRAM_REFRESH_MS", CO_CFG_INT, "1000",
     "how long a cached program configuration is used before asking for a newer version",
     offsetof(pts_config, program_refresh_ms), 0, 600000},
    {"expiry-interval-ms", "COALITION_POINTS_EXPIRY_INTERVAL_MS", CO_CFG_INT, "60000",
     "how often the timer expires lots, reviews tiers at anniversaries and credits birthday"
     " bonuses; 0: none of these (lots only by ExpirePoints)",
     offsetof(pts_config, expiry_interval_ms), 0, 86400000},
    {"member-cache-ms", "COALITION_POINTS_MEMBER_CACHE_MS", CO_CFG_INT, "5000",
     "how long a resolved member identifier is trusted", offsetof(pts_config, member_cache_ms), 0,
     600000},
};

static const char *const health_names[] = {"coalition.v1.Points", NULL};

const co_process_def pts_service_def = {
    .name = "points",
    .schema = "points",
    .migrations = pts_migrations,
    .nmigrations = 0, /* set in main */
    .default_listen = "127.0.0.1:50053",
    .default_health_listen = "127.0.0.1:50153",
    .default_metrics_listen = "127.0.0.1:9153",
    .health_names = health_names,
    .extra_opts = pts_options,
    .nextra = sizeof pts_options / sizeof pts_options[0],
    .init = pts_init,
    .fini = pts_fini,
    .authorize = pts_authorize,
    /* Mutations wait in their handler for the batch that commits them: the threads bound
     * the calls in flight, hence the batch size. */
    .default_threads_per_queue = "64",
    .command_name = "verify",
    .command = verify_command,
};
