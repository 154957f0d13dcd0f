/* SPDX-License-Identifier: Apache-2.0 */
/* The points ledger under random concurrent load, and under a SIGKILL of the service mid-load. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "coalition/v1/accounts.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "itest.h"

#define DBNAME   "it_points_chaos"
#define SVC      "/coalition.v1.Points/"
#define POST     "chaos-post" /* bakery's, postpaid; fuelco issues and accepts */
#define PRE      "chaos-pre"  /* fuelco's, prepaid; bakery issues from a funded block */
#define NPROG    2
#define NMEMBERS 20
#define NTHREADS 8
#define CALL_MS  3000  /* per call: calls during an outage fail fast */
#define RETRY_MS 30000 /* how long a request is retried before it counts as lost */
#define WL_STEPS 1600  /* test 1: calls in all, besides closing the holds still open */
#define KL_OPS   800   /* test 2: operations in all (a hold and its capture count as one) */
#define MAXTR    8
#define OK       GRPC_STATUS_OK
#define FAILED   GRPC_STATUS_FAILED_PRECONDITION

static it_fx *fx;
static co_client *fuelco;
static char members[NMEMBERS][64];
static const char *const progs[NPROG] = {POST, PRE};
static uint64_t seed;

/* --- randomness: splitmix64, one stream per thread derived from the printed seed --- */

static uint64_t rnd_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A number in 0..n-1; n > 0. */
static int64_t rnd_below(uint64_t *s, int64_t n)
{
    return (int64_t)(rnd_next(s) % (uint64_t)n);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* --- what a worker thread found wrong: reported at once, asserted by the main thread --- */

static atomic_int problems;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    if (atomic_fetch_add(&problems, 1) >= 40) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "chaos: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* --- the client-side model: balances at the start of a test plus the effects of its calls --- */

typedef struct bal {
    int64_t avail, held;
} bal;

static pthread_mutex_t model_mu = PTHREAD_MUTEX_INITIALIZER;
static bal base[NMEMBERS][NPROG];
static bal delta[NMEMBERS][NPROG];

static int64_t model_avail(int m, int p)
{
    pthread_mutex_lock(&model_mu);
    int64_t v = base[m][p].avail + delta[m][p].avail;
    pthread_mutex_unlock(&model_mu);
    return v;
}

/* --- operations --- */

typedef enum op_kind { OP_EARN, OP_CREDIT, OP_REDEEM, OP_HOLD, OP_CAPTURE, OP_VOID } op_kind;

static const char *const op_names[] = {"Earn",         "Credit",      "Redeem",
                                       "Redeem(hold)", "CaptureHold", "VoidHold"};

/* One request and the first definitive answer it got. */
typedef struct op {
    op_kind kind;
    int who; /* 0 bakery, 1 fuelco */
    int member, prog;
    char rid[32];
    int64_t amount; /* EARN: micros */
    int32_t visits; /* EARN */
    int64_t points; /* CREDIT, REDEEM, HOLD; CAPTURE: 0 for all */
    char hold_id[32];
    bool done;
    int attempts;
    grpc_status_code code;
    char *details;
    uint8_t *resp;
    size_t resp_len;
} op;

/* What an OK answer did. */
typedef struct effect {
    int64_t avail, held;
    char hold_id[32]; /* OP_HOLD */
    size_t ntr;
    char tr[MAXTR][32];
} effect;

typedef struct answer {
    grpc_status_code code;
    char *details;
    uint8_t *resp;
    size_t len;
} answer;

static void answer_free(answer *an)
{
    free(an->details);
    free(an->resp);
    memset(an, 0, sizeof *an);
}

static void op_free(op *o)
{
    free(o->details);
    free(o->resp);
}

static co_client *client_of(int who)
{
    return who == 0 ? fx->bakery : fuelco;
}

static const char *partner_of(int who)
{
    return who == 0 ? "bakery" : "fuelco";
}

static uint8_t *pack_dup(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = xmalloc(*len);
    protobuf_c_message_pack(m, b);
    return b;
}

/* The request of o (malloc'd bytes) and its method; with other, the same request_id with
 * other content. */
static uint8_t *op_pack(const op *o, bool other, size_t *len, const char **method)
{
    Coalition__V1__MemberRef ref = COALITION__V1__MEMBER_REF__INIT;
    ref.ref_case = COALITION__V1__MEMBER_REF__REF_MEMBER_ID;
    ref.member_id = members[o->member];
    char *rid = (char *)o->rid;
    char *prog = (char *)progs[o->prog];
    switch (o->kind) {
    case OP_EARN: {
        Coalition__V1__Money amt = COALITION__V1__MONEY__INIT;
        amt.amount_micros = o->amount;
        amt.currency = "EUR";
        Coalition__V1__EarnRequest req = COALITION__V1__EARN_REQUEST__INIT;
        req.request_id = rid;
        req.member = &ref;
        req.program_code = prog;
        req.amount = &amt;
        req.visits = o->visits + (other ? 1 : 0);
        *method = SVC "Earn";
        return pack_dup(&req.base, len);
    }
    case OP_CREDIT: {
        Coalition__V1__CreditRequest req = COALITION__V1__CREDIT_REQUEST__INIT;
        req.request_id = rid;
        req.member = &ref;
        req.program_code = prog;
        req.kind = COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_BONUS;
        req.points = o->points + (other ? 1 : 0);
        req.reason = "chaos-action";
        *method = SVC "Credit";
        return pack_dup(&req.base, len);
    }
    case OP_REDEEM:
    case OP_HOLD: {
        Coalition__V1__RedeemRequest req = COALITION__V1__REDEEM_REQUEST__INIT;
        req.request_id = rid;
        req.member = &ref;
        req.program_code = prog;
        req.points = o->points + (other ? 1 : 0);
        req.hold = o->kind == OP_HOLD;
        *method = SVC "Redeem";
        return pack_dup(&req.base, len);
    }
    case OP_CAPTURE: {
        Coalition__V1__CaptureHoldRequest req = COALITION__V1__CAPTURE_HOLD_REQUEST__INIT;
        req.request_id = rid;
        req.hold_id = (char *)o->hold_id;
        req.points = other ? o->points + 1 : o->points;
        *method = SVC "CaptureHold";
        return pack_dup(&req.base, len);
    }
    case OP_VOID:
    default:
        if (other) {
            /* Another method under the same key is other content too. */
            Coalition__V1__CaptureHoldRequest req = COALITION__V1__CAPTURE_HOLD_REQUEST__INIT;
            req.request_id = rid;
            req.hold_id = (char *)o->hold_id;
            *method = SVC "CaptureHold";
            return pack_dup(&req.base, len);
        }
        Coalition__V1__VoidHoldRequest req = COALITION__V1__VOID_HOLD_REQUEST__INIT;
        req.request_id = rid;
        req.hold_id = (char *)o->hold_id;
        *method = SVC "VoidHold";
        return pack_dup(&req.base, len);
    }
}

/* Sends o once (other: with other content) with the deadline CALL_MS. */
static answer op_send(const op *o, bool other)
{
    size_t len = 0;
    const char *method = NULL;
    uint8_t *req = op_pack(o, other, &len, &method);
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st = it_no_status();
    uint8_t *resp = NULL;
    size_t rlen = 0;
    co_client_unary_raw(client_of(o->who), method, req, len, NULL, 0, CALL_MS, false, &a, &resp,
                        &rlen, &st);
    answer an = {.code = st.code, .details = xstrdup(st.details != NULL ? st.details : "")};
    if (st.code == OK) {
        an.resp = xmalloc(rlen);
        if (rlen > 0) {
            memcpy(an.resp, resp, rlen);
        }
        an.len = rlen;
    }
    co_arena_release(&a);
    free(req);
    return an;
}

static void op_keep(op *o, answer *an)
{
    o->done = true;
    o->code = an->code;
    o->details = an->details;
    o->resp = an->resp;
    o->resp_len = an->len;
    memset(an, 0, sizeof *an);
}

static void add_tr(effect *ef, const Coalition__V1__Transfer *t)
{
    if (t != NULL && ef->ntr < MAXTR) {
        snprintf(ef->tr[ef->ntr++], sizeof ef->tr[0], "%s", t->transfer_id);
    }
}

/* Decodes the OK response of o into *ef; false (and a problem reported) if it does not say
 * what o asked for. */
static bool op_effect(const op *o, const uint8_t *resp, size_t len, effect *ef)
{
    memset(ef, 0, sizeof *ef);
    const char *member = members[o->member];
    bool ok = false;
    switch (o->kind) {
    case OP_EARN: {
        Coalition__V1__EarnResponse *r = (void *)protobuf_c_message_unpack(
            &coalition__v1__earn_response__descriptor, NULL, len, resp);
        if (r == NULL) {
            break;
        }
        int64_t sum = 0;
        for (size_t i = 0; i < r->n_transfers; i++) {
            add_tr(ef, r->transfers[i]);
            sum += r->transfers[i]->points;
        }
        ef->avail = r->earned_points + r->bonus_points;
        ok = sum == ef->avail && r->balance != NULL && strcmp(r->balance->member_id, member) == 0 &&
             r->n_transfers < MAXTR;
        protobuf_c_message_free_unpacked(&r->base, NULL);
        break;
    }
    case OP_CREDIT: {
        Coalition__V1__CreditResponse *r = (void *)protobuf_c_message_unpack(
            &coalition__v1__credit_response__descriptor, NULL, len, resp);
        if (r == NULL) {
            break;
        }
        add_tr(ef, r->transfer);
        ef->avail = o->points;
        ok = r->transfer != NULL && r->transfer->points == o->points &&
             strcmp(r->transfer->member_id, member) == 0;
        protobuf_c_message_free_unpacked(&r->base, NULL);
        break;
    }
    case OP_REDEEM:
    case OP_HOLD: {
        Coalition__V1__RedeemResponse *r = (void *)protobuf_c_message_unpack(
            &coalition__v1__redeem_response__descriptor, NULL, len, resp);
        if (r == NULL) {
            break;
        }
        add_tr(ef, r->transfer);
        ef->avail = -o->points;
        ok = r->transfer != NULL && r->transfer->points == o->points &&
             strcmp(r->transfer->member_id, member) == 0;
        if (o->kind == OP_HOLD) {
            ef->held = o->points;
            ok = ok && r->hold != NULL && r->hold->points == o->points;
            if (ok) {
                snprintf(ef->hold_id, sizeof ef->hold_id, "%s", r->hold->hold_id);
            }
        }
        protobuf_c_message_free_unpacked(&r->base, NULL);
        break;
    }
    case OP_CAPTURE: {
        Coalition__V1__CaptureHoldResponse *r = (void *)protobuf_c_message_unpack(
            &coalition__v1__capture_hold_response__descriptor, NULL, len, resp);
        if (r == NULL) {
            break;
        }
        for (size_t i = 0; i < r->n_transfers; i++) {
            add_tr(ef, r->transfers[i]);
        }
        if (r->hold != NULL) {
            ef->held = -r->hold->points;
            ef->avail = r->hold->points - r->hold->captured_points;
            ok = strcmp(r->hold->hold_id, o->hold_id) == 0 &&
                 strcmp(r->hold->member_id, member) == 0 &&
                 r->hold->captured_points == (o->points == 0 ? r->hold->points : o->points);
        }
        protobuf_c_message_free_unpacked(&r->base, NULL);
        break;
    }
    case OP_VOID: {
        Coalition__V1__VoidHoldResponse *r = (void *)protobuf_c_message_unpack(
            &coalition__v1__void_hold_response__descriptor, NULL, len, resp);
        if (r == NULL) {
            break;
        }
        add_tr(ef, r->transfer);
        if (r->hold != NULL) {
            ef->held = -r->hold->points;
            ef->avail = r->hold->points;
            ok = strcmp(r->hold->hold_id, o->hold_id) == 0 &&
                 strcmp(r->hold->member_id, member) == 0;
        }
        protobuf_c_message_free_unpacked(&r->base, NULL);
        break;
    }
    }
    if (!ok) {
        problem("%s %s: the OK response does not match the request", op_names[o->kind], o->rid);
    }
    return ok;
}

/* Folds the first definitive answer of o into the model; false if it is not an allowed
 * outcome. */
static bool op_account(const op *o, effect *ef)
{
    memset(ef, 0, sizeof *ef);
    if (o->code == FAILED) {
        bool allowed = o->kind == OP_REDEEM || o->kind == OP_HOLD ||
                       (o->kind == OP_EARN && o->prog == 1 && o->who == 0);
        if (!allowed) {
            problem("%s %s: FAILED_PRECONDITION: %s", op_names[o->kind], o->rid, o->details);
        }
        return allowed;
    }
    if (o->code != OK) {
        problem("%s %s by %s: %s: %s", op_names[o->kind], o->rid, partner_of(o->who),
                co_grpc_status_name(o->code), o->details);
        return false;
    }
    if (!op_effect(o, o->resp, o->resp_len, ef)) {
        return false;
    }
    pthread_mutex_lock(&model_mu);
    delta[o->member][o->prog].avail += ef->avail;
    delta[o->member][o->prog].held += ef->held;
    pthread_mutex_unlock(&model_mu);
    return true;
}

/* Whether an answer may come from the outage rather than from the ledger. */
static bool transient(grpc_status_code c)
{
    return c == GRPC_STATUS_UNAVAILABLE || c == GRPC_STATUS_DEADLINE_EXCEEDED ||
           c == GRPC_STATUS_CANCELLED || c == GRPC_STATUS_INTERNAL;
}

/* --- worker threads --- */

typedef struct worker {
    int id;
    uint64_t rng;
    op *ops;
    size_t nops, cap;
    size_t *open; /* test 1: indices of holds placed and not yet closed */
    size_t nopen;
    long calls, ok, refused, repeats, others, transients, retried;
    bool replay; /* test 2, second phase: send every request again */
} worker;

static op *op_add(worker *w, op_kind kind, const char *prefix)
{
    if (w->nops == w->cap) {
        problem("worker %d: out of operation slots", w->id);
        return NULL;
    }
    op *o = &w->ops[w->nops];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    snprintf(o->rid, sizeof o->rid, "%s-%d-%zu", prefix, w->id, w->nops);
    w->nops++;
    return o;
}

/* A new Earn, Credit, Redeem or hold with random content (kinds in per cent: earn, credit,
 * redeem; the rest holds). */
static op *op_random(worker *w, const char *prefix, int earn, int credit, int redeem)
{
    int k = (int)rnd_below(&w->rng, 100);
    op_kind kind = k < earn                     ? OP_EARN
                   : k < earn + credit          ? OP_CREDIT
                   : k < earn + credit + redeem ? OP_REDEEM
                                                : OP_HOLD;
    op *o = op_add(w, kind, prefix);
    if (o == NULL) {
        return NULL;
    }
    o->who = (int)rnd_below(&w->rng, 2);
    o->member = (int)rnd_below(&w->rng, NMEMBERS);
    o->prog = (int)rnd_below(&w->rng, NPROG);
    int64_t have = model_avail(o->member, o->prog);
    if (have < 0) {
        have = 0;
    }
    switch (kind) {
    case OP_EARN: {
        int v = (int)rnd_below(&w->rng, 100);
        if (v < 20) {
            o->visits = 1 + (int32_t)rnd_below(&w->rng, 3); /* a stamp only */
        } else if (v < 35) {
            o->amount = 100000 + rnd_below(&w->rng, 1900000); /* below the minimum: 0 points */
        } else {
            o->amount = 2000000 + rnd_below(&w->rng, 150000000);
            o->visits = (int32_t)rnd_below(&w->rng, 2);
        }
        break;
    }
    case OP_CREDIT:
        o->points = 1 + rnd_below(&w->rng, 50);
        break;
    case OP_REDEEM:
        /* About a third ask for more than the member has. */
        o->points = 1 + rnd_below(&w->rng, have + have / 2 + 5);
        break;
    default:
        o->points = 1 + rnd_below(&w->rng, have / 2 + 5);
        break;
    }
    return o;
}

/* A capture (all or part) or a void of the OK hold h. */
static op *op_close(worker *w, const op *h, effect *hold_effect, const char *prefix)
{
    int v = (int)rnd_below(&w->rng, 100);
    op *o = op_add(w, v < 35 ? OP_VOID : OP_CAPTURE, prefix);
    if (o == NULL) {
        return NULL;
    }
    o->who = h->who;
    o->member = h->member;
    o->prog = h->prog;
    snprintf(o->hold_id, sizeof o->hold_id, "%s", hold_effect->hold_id);
    if (o->kind == OP_CAPTURE && v >= 70) {
        o->points = 1 + rnd_below(&w->rng, h->points);
    }
    return o;
}

/* Test 1: one call of o without retries. */
static void wl_run(worker *w, op *o)
{
    answer an = op_send(o, false);
    w->calls++;
    op_keep(o, &an);
    effect ef;
    if (op_account(o, &ef) && o->code == OK) {
        w->ok++;
        if (o->kind == OP_HOLD) {
            w->open[w->nopen++] = (size_t)(o - w->ops);
        }
    } else if (o->code == FAILED) {
        w->refused++;
    }
}

static void wl_close(worker *w, size_t k)
{
    op *h = &w->ops[w->open[k]];
    w->open[k] = w->open[--w->nopen];
    effect ef;
    if (!op_effect(h, h->resp, h->resp_len, &ef)) {
        return;
    }
    op *o = op_close(w, h, &ef, "w");
    if (o == NULL) {
        return;
    }
    wl_run(w, o); /* anything but OK is reported by op_account */
}

/* The same request again: the same answer, to the byte. */
static void wl_repeat(worker *w, const op *o)
{
    answer an = op_send(o, false);
    w->calls++;
    w->repeats++;
    if (an.code != o->code) {
        problem("repeat of %s %s: %s: %s, first %s: %s", op_names[o->kind], o->rid,
                co_grpc_status_name(an.code), an.details, co_grpc_status_name(o->code), o->details);
    } else if (an.code == OK && (an.len != o->resp_len || memcmp(an.resp, o->resp, an.len) != 0)) {
        problem("repeat of %s %s: another response (%zu bytes, first %zu)", op_names[o->kind],
                o->rid, an.len, o->resp_len);
    } else if (an.code != OK && strcmp(an.details, o->details) != 0) {
        problem("repeat of %s %s: \"%s\", first \"%s\"", op_names[o->kind], o->rid, an.details,
                o->details);
    }
    answer_free(&an);
}

/* The same request id with other content: ALREADY_EXISTS. */
static void wl_other(worker *w, const op *o)
{
    answer an = op_send(o, true);
    w->calls++;
    w->others++;
    if (an.code != GRPC_STATUS_ALREADY_EXISTS) {
        problem("%s %s with other content: %s: %s (first %s)", op_names[o->kind], o->rid,
                co_grpc_status_name(an.code), an.details, co_grpc_status_name(o->code));
    }
    answer_free(&an);
}

static void *wl_main(void *arg)
{
    worker *w = arg;
    for (int step = 0; step < WL_STEPS / NTHREADS; step++) {
        int r = (int)rnd_below(&w->rng, 100);
        if (w->nopen > 0 && r < 15) {
            wl_close(w, (size_t)rnd_below(&w->rng, (int64_t)w->nopen));
        } else if (w->nops > 0 && r < 23) {
            wl_repeat(w, &w->ops[rnd_below(&w->rng, (int64_t)w->nops)]);
        } else if (w->nops > 0 && r < 27) {
            wl_other(w, &w->ops[rnd_below(&w->rng, (int64_t)w->nops)]);
        } else {
            op *o = op_random(w, "w", 40, 12, 25);
            if (o != NULL) {
                wl_run(w, o);
            }
        }
    }
    while (w->nopen > 0) {
        wl_close(w, w->nopen - 1);
    }
    return NULL;
}

/* Test 2: o until it gets a definitive answer, with the same request id and content. */
static atomic_long kl_done;

static void kl_run(worker *w, op *o)
{
    long long until = h_now_ms() + RETRY_MS;
    for (int attempt = 1;; attempt++) {
        answer an = op_send(o, false);
        w->calls++;
        if (transient(an.code) && h_now_ms() < until) {
            w->transients++;
            answer_free(&an);
            sleep_ms(attempt < 5 ? 25L << attempt : 500);
            continue;
        }
        o->attempts = attempt;
        w->retried += attempt > 1;
        op_keep(o, &an);
        break;
    }
    atomic_fetch_add(&kl_done, 1);
    effect ef;
    if (op_account(o, &ef) && o->code == OK) {
        w->ok++;
    } else if (o->code == FAILED) {
        w->refused++;
    }
}

/* Test 2, second phase: every request once more, answered as the first time. */
static void kl_replay(worker *w)
{
    for (size_t i = 0; i < w->nops; i++) {
        const op *o = &w->ops[i];
        answer an = op_send(o, false);
        w->calls++;
        w->ok += an.code == OK;
        w->refused += an.code == FAILED;
        if (an.code != o->code) {
            problem("replay of %s %s: %s: %s, first %s: %s", op_names[o->kind], o->rid,
                    co_grpc_status_name(an.code), an.details, co_grpc_status_name(o->code),
                    o->details);
        } else if (an.code == OK) {
            effect first, now;
            if (op_effect(o, o->resp, o->resp_len, &first) && op_effect(o, an.resp, an.len, &now)) {
                bool same = first.ntr == now.ntr;
                for (size_t k = 0; same && k < now.ntr; k++) {
                    same = strcmp(first.tr[k], now.tr[k]) == 0;
                }
                if (!same) {
                    problem("replay of %s %s: other transfers (%zu, first %zu: %s)",
                            op_names[o->kind], o->rid, now.ntr, first.ntr,
                            first.ntr > 0 ? first.tr[0] : "none");
                } else if (an.len != o->resp_len || memcmp(an.resp, o->resp, an.len) != 0) {
                    problem("replay of %s %s: same transfers, other response bytes",
                            op_names[o->kind], o->rid);
                }
            }
        }
        answer_free(&an);
    }
}

static void *kl_main(void *arg)
{
    worker *w = arg;
    if (w->replay) {
        kl_replay(w);
        return NULL;
    }
    for (int i = 0; i < KL_OPS / NTHREADS; i++) {
        op *o = op_random(w, "k", 35, 15, 25);
        if (o == NULL) {
            break;
        }
        kl_run(w, o);
        effect ef;
        if (o->kind == OP_HOLD && o->code == OK && op_effect(o, o->resp, o->resp_len, &ef)) {
            op *c = op_close(w, o, &ef, "k");
            if (c != NULL) {
                kl_run(w, c); /* anything but OK is reported by op_account */
            }
        }
    }
    return NULL;
}

typedef struct killer {
    long after;        /* operations answered before the kill */
    long long down_ms; /* from the kill to healthy again */
    long answered_at_kill;
    long long last_id; /* the highest transfer id once the killed process is gone */
} killer;

/* The highest transfer id on pg, or -1; without cmocka, for the killer thread. */
static long long last_transfer_id(PGconn *pg)
{
    long long id = -1;
    PGresult *r = PQexec(pg, "SELECT coalesce(max(id), 0) FROM points.transfers");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return id;
}

/* Once k->after operations are answered, kills the points service the moment a new commit is
 * visible (its answers most likely not sent yet), and starts it again 300 ms later. */
static void *kill_main(void *arg)
{
    killer *k = arg;
    PGconn *pg = PQconnectdb(h_db_url(fx->s));
    while (atomic_load(&kl_done) < k->after) {
        sleep_ms(2);
    }
    long long seen = last_transfer_id(pg);
    for (int i = 0; i < 2000 && last_transfer_id(pg) == seen; i++) {
    }
    k->answered_at_kill = atomic_load(&kl_done);
    long long t0 = h_now_ms();
    h_proc_kill9(fx->s, H_POINTS);
    sleep_ms(300);
    k->last_id = last_transfer_id(pg); /* what the killed process committed, in flight or not */
    PQfinish(pg);
    h_proc_restart(fx->s, H_POINTS);
    k->down_ms = h_now_ms() - t0;
    return NULL;
}

static worker *workers_new(size_t cap, uint64_t salt)
{
    worker *ws = calloc(NTHREADS, sizeof *ws);
    assert_non_null(ws);
    for (int i = 0; i < NTHREADS; i++) {
        ws[i].id = i;
        ws[i].rng = seed ^ (salt * 1000003 + (uint64_t)i * UINT64_C(0x9e3779b97f4a7c15));
        ws[i].cap = cap;
        ws[i].ops = calloc(cap, sizeof *ws[i].ops);
        ws[i].open = calloc(cap, sizeof *ws[i].open);
        assert_non_null(ws[i].ops);
        assert_non_null(ws[i].open);
    }
    return ws;
}

static void workers_free(worker *ws)
{
    for (int i = 0; i < NTHREADS; i++) {
        for (size_t k = 0; k < ws[i].nops; k++) {
            op_free(&ws[i].ops[k]);
        }
        free(ws[i].ops);
        free(ws[i].open);
    }
    free(ws);
}

static void workers_run(worker *ws, void *(*fn)(void *))
{
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, fn, &ws[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
    }
}

static void workers_report(const char *what, const worker *ws, long long ms)
{
    long calls = 0, ok = 0, refused = 0, repeats = 0, others = 0, transients = 0, retried = 0;
    size_t nops = 0;
    for (int i = 0; i < NTHREADS; i++) {
        calls += ws[i].calls;
        ok += ws[i].ok;
        refused += ws[i].refused;
        repeats += ws[i].repeats;
        others += ws[i].others;
        transients += ws[i].transients;
        retried += ws[i].retried;
        nops += ws[i].nops;
    }
    print_message("%s: %zu requests, %ld calls in %lld ms: %ld ok, %ld refused, %ld repeats, %ld "
                  "with other content, %ld transient failures, %ld requests retried\n",
                  what, nops, calls, ms, ok, refused, repeats, others, transients, retried);
}

/* --- reading the ledger --- */

static ProtobufCMessage *call(co_client *c, co_arena *a, const char *method,
                              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                              co_client_status *st)
{
    ProtobufCMessage *resp = NULL;
    it_unary(c, a, method, req, rd, NULL, 0, &resp, st);
    return resp;
}

static bal balance_of(int m, int p)
{
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__MemberRef ref = COALITION__V1__MEMBER_REF__INIT;
    ref.ref_case = COALITION__V1__MEMBER_REF__REF_MEMBER_ID;
    ref.member_id = members[m];
    Coalition__V1__GetBalanceRequest req = COALITION__V1__GET_BALANCE_REQUEST__INIT;
    req.member = &ref;
    req.program_code = (char *)progs[p];
    co_client_status st;
    Coalition__V1__GetBalanceResponse *r =
        (void *)call(fx->bakery, &a, SVC "GetBalance", &req.base,
                     &coalition__v1__get_balance_response__descriptor, &st);
    IT_EXPECT_STATUS(st, OK, NULL);
    bal b = {0, 0};
    if (r->n_balances == 1) {
        b.avail = r->balances[0]->available_points;
        b.held = r->balances[0]->held_points;
    }
    co_arena_release(&a);
    return b;
}

/* Starts a model: every balance as GetBalance reports it now, no effects yet. */
static void model_start(void)
{
    for (int m = 0; m < NMEMBERS; m++) {
        for (int p = 0; p < NPROG; p++) {
            base[m][p] = balance_of(m, p);
            delta[m][p] = (bal){0, 0};
        }
    }
}

/* Every balance is what the model says; no hold is left. */
static void expect_model(void)
{
    int wrong = 0;
    for (int m = 0; m < NMEMBERS; m++) {
        for (int p = 0; p < NPROG; p++) {
            bal got = balance_of(m, p);
            bal want = {base[m][p].avail + delta[m][p].avail, base[m][p].held + delta[m][p].held};
            if (got.avail != want.avail || got.held != want.held || got.held != 0) {
                print_message("balance of %s in %s: available %lld held %lld, model %lld %lld\n",
                              members[m], progs[p], (long long)got.avail, (long long)got.held,
                              (long long)want.avail, (long long)want.held);
                wrong++;
            }
        }
    }
    assert_int_equal(wrong, 0);
}

/* Prints the first rows of rows_sql ($1 = param) as evidence. */
static void db_print(const char *rows_sql, const char *param)
{
    PGconn *pg = PQconnectdb(h_db_url(fx->s));
    const char *vals[1] = {param};
    PGresult *r = PQexecParams(pg, rows_sql, param != NULL ? 1 : 0, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        for (int row = 0; row < PQntuples(r) && row < 20; row++) {
            print_message("  ");
            for (int col = 0; col < PQnfields(r); col++) {
                print_message("%s%s=%s", col > 0 ? " " : "", PQfname(r, col),
                              PQgetvalue(r, row, col));
            }
            print_message("\n");
        }
    } else {
        print_message("  (query failed: %s)\n", PQerrorMessage(pg));
    }
    PQclear(r);
    PQfinish(pg);
}

/* Fails the test, printing them, if rows_sql ($1 = param) returns any row. */
static void expect_no_rows(const char *what, const char *rows_sql, const char *param)
{
    char sql[2048];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM (%s) AS bad", rows_sql);
    long long n = it_db_count(fx->s, sql, param);
    if (n != 0) {
        print_message("%s: %lld rows:\n", what, n);
        db_print(rows_sql, param);
        fail_msg("%s: %lld rows (first ones above)", what, n);
    }
}

static void expect_sums_zero(void)
{
    expect_no_rows("programs whose balances do not sum to 0",
                   "SELECT program, sum(balance) AS sum FROM points.accounts GROUP BY program"
                   " HAVING sum(balance) <> 0",
                   NULL);
}

/* A growing comma-separated list, a query parameter. */
typedef struct list {
    char *p;
    size_t len, cap;
} list;

static void list_add(list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void list_add(list *l, const char *fmt, ...)
{
    char item[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof item);
    if (l->len + (size_t)n + 2 > l->cap) {
        l->cap = (l->cap + (size_t)n + 2) * 2;
        l->p = realloc(l->p, l->cap);
        assert_non_null(l->p);
    }
    if (l->len > 0) {
        l->p[l->len++] = ',';
    }
    memcpy(l->p + l->len, item, (size_t)n + 1);
    l->len += (size_t)n;
}

/* --- tests --- */

static void test_randomized_workload_then_verify(void **state)
{
    (void)state;
    atomic_store(&problems, 0);
    model_start();
    worker *ws = workers_new(2 * WL_STEPS / NTHREADS, 1);
    long long t0 = h_now_ms();
    workers_run(ws, wl_main);
    workers_report("randomized workload", ws, h_now_ms() - t0);
    int found = atomic_load(&problems);
    workers_free(ws);
    assert_int_equal(found, 0);
    expect_model();
    it_expect_verified(fx->admin);
    expect_sums_zero();
}

static void test_kill9_mid_load_then_retry_everything(void **state)
{
    (void)state;
    atomic_store(&problems, 0);
    atomic_store(&kl_done, 0);
    model_start();
    worker *ws = workers_new(2 * KL_OPS / NTHREADS, 2);
    killer k = {.after = KL_OPS * 4 / 10};
    pthread_t kt;
    long long t0 = h_now_ms();
    assert_int_equal(pthread_create(&kt, NULL, kill_main, &k), 0);
    workers_run(ws, kl_main);
    pthread_join(kt, NULL);
    workers_report("kill -9 under load", ws, h_now_ms() - t0);
    int found = atomic_load(&problems);
    /* Retried requests whose effect was committed before the kill (the answer was lost and the
     * retry replayed it) and those run again after the restart. */
    int replayed = 0, rerun = 0;
    for (int i = 0; i < NTHREADS; i++) {
        for (size_t n = 0; n < ws[i].nops; n++) {
            const op *o = &ws[i].ops[n];
            effect ef;
            if (o->attempts > 1 && o->code == OK && op_effect(o, o->resp, o->resp_len, &ef) &&
                ef.ntr > 0) {
                long long id = strtoll(ef.tr[0] + 3, NULL, 10);
                replayed += id <= k.last_id;
                rerun += id > k.last_id;
            }
        }
    }
    print_message("points killed after %ld answers, healthy again %lld ms later; of the retried "
                  "requests, %d were committed before the kill and replayed, %d ran after the "
                  "restart\n",
                  k.answered_at_kill, k.down_ms, replayed, rerun);

    /* Every request is recorded once; what it posted is there, once. */
    list rids = {0}, counts = {0}, tids = {0};
    size_t nreq = 0;
    for (int i = 0; i < NTHREADS; i++) {
        for (size_t n = 0; n < ws[i].nops; n++) {
            const op *o = &ws[i].ops[n];
            if (!o->done) {
                continue;
            }
            nreq++;
            list_add(&rids, "%s", o->rid);
            effect ef = {0};
            if (o->code == OK && !op_effect(o, o->resp, o->resp_len, &ef)) {
                continue;
            }
            list_add(&counts, "%s:%zu", o->rid, ef.ntr);
            for (size_t t = 0; t < ef.ntr; t++) {
                list_add(&tids, "%s:%s", o->rid, ef.tr[t]);
            }
        }
    }
    expect_no_rows("requests not recorded exactly once in points.idempotency",
                   "SELECT u.r, (SELECT count(*) FROM points.idempotency i WHERE i.request_id ="
                   " u.r AND i.status >= 0) AS n FROM unnest(string_to_array($1, ',')) AS u(r)"
                   " WHERE (SELECT count(*) FROM points.idempotency i WHERE i.request_id = u.r"
                   " AND i.status >= 0) <> 1",
                   rids.p);
    assert_int_equal(it_db_count(fx->s,
                                 "SELECT count(*) FROM points.idempotency WHERE request_id LIKE"
                                 " 'k-%'",
                                 NULL),
                     nreq);
    expect_no_rows("request ids with more than one EARN transfer",
                   "SELECT request_id, count(*) AS n, string_agg('tr-' || id, ' ') AS transfers"
                   " FROM points.transfers WHERE kind = 1 AND request_id LIKE 'k-%'"
                   " GROUP BY request_id HAVING count(*) > 1",
                   NULL);
    expect_no_rows("OK answers whose transfers are not in the ledger",
                   "SELECT split_part(e, ':', 1) AS request_id, split_part(e, ':', 2) AS"
                   " transfer_id FROM unnest(string_to_array($1, ',')) AS e WHERE NOT EXISTS"
                   " (SELECT 1 FROM points.transfers t WHERE t.request_id = split_part(e, ':',"
                   " 1) AND 'tr-' || t.id = split_part(e, ':', 2))",
                   tids.p != NULL ? tids.p : "");
    expect_no_rows("requests with another number of transfers than their answer named",
                   "SELECT u.r AS request_id, u.n AS answered, (SELECT count(*) FROM"
                   " points.transfers t WHERE t.request_id = u.r) AS in_ledger FROM (SELECT"
                   " split_part(e, ':', 1) AS r, split_part(e, ':', 2)::bigint AS n FROM"
                   " unnest(string_to_array($1, ',')) AS e) AS u WHERE u.n <> (SELECT count(*)"
                   " FROM points.transfers t WHERE t.request_id = u.r)",
                   counts.p);
    free(rids.p);
    free(counts.p);
    free(tids.p);
    if (found != 0) {
        workers_free(ws);
        fail_msg("%d problems under load (printed above)", found);
    }
    expect_model();
    it_expect_verified(fx->admin);
    expect_sums_zero();

    /* Every request once more: the first definitive answer again, and nothing new posted. */
    long long transfers = it_db_count(fx->s, "SELECT count(*) FROM points.transfers", NULL);
    for (int i = 0; i < NTHREADS; i++) {
        ws[i].replay = true;
        ws[i].calls = ws[i].ok = ws[i].refused = ws[i].transients = ws[i].retried = 0;
    }
    t0 = h_now_ms();
    workers_run(ws, kl_main);
    workers_report("replay of every request", ws, h_now_ms() - t0);
    found = atomic_load(&problems);
    workers_free(ws);
    assert_int_equal(found, 0);
    assert_int_equal(it_db_count(fx->s, "SELECT count(*) FROM points.transfers", NULL), transfers);
    expect_model();
    it_expect_verified(fx->admin);
}

/* --- fixture --- */

static void program(co_arena *a, const char *code, const char *owner, bool prepaid, int64_t welcome)
{
    Coalition__V1__CreateProgramRequest req = COALITION__V1__CREATE_PROGRAM_REQUEST__INIT;
    Coalition__V1__Program p = COALITION__V1__PROGRAM__INIT;
    Coalition__V1__EarnRule er = COALITION__V1__EARN_RULE__INIT;
    Coalition__V1__Rational ppu = COALITION__V1__RATIONAL__INIT;
    ppu.num = 1;
    ppu.den = 1;
    er.points_per_unit = &ppu;
    er.min_spend_micros = 2000000;
    er.points_per_visit = 5;
    p.code = (char *)code;
    p.name = (char *)code;
    p.owner_partner_id = (char *)owner;
    p.point_value_micros = 10000;
    p.issue_price_micros = 5000;
    p.earn_rule = &er;
    p.welcome_bonus_points = welcome;
    p.issuing_mode = prepaid ? COALITION__V1__ISSUING_MODE__ISSUING_MODE_PREPAID
                             : COALITION__V1__ISSUING_MODE__ISSUING_MODE_POSTPAID;
    req.request_id = co_arena_printf(a, "prog-%s", code);
    req.program = &p;
    it_call_or_die(fx->admin, a, "/coalition.v1.Partners/CreateProgram", &req.base,
                   &coalition__v1__create_program_response__descriptor);
}

static void enroll(co_arena *a, int i)
{
    Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
    req.request_id = co_arena_printf(a, "enroll-%d", i);
    Coalition__V1__EnrollMemberResponse *r =
        (void *)it_call_or_die(fx->bakery, a, "/coalition.v1.Accounts/EnrollMember", &req.base,
                               &coalition__v1__enroll_member_response__descriptor);
    snprintf(members[i], sizeof members[i], "%s", r->member->member_id);
}

static int setup(void **state)
{
    const char *s = getenv("COALITION_TEST_SEED");
    if (s != NULL && s[0] != '\0') {
        seed = strtoull(s, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    }
    print_message("seed %llu (COALITION_TEST_SEED=%llu repeats the random choices)\n",
                  (unsigned long long)seed, (unsigned long long)seed);
    fx = it_fx_start(DBNAME);
    fx->bakery = h_client(fx->s, H_GATEWAY, "partner-bakery");
    it_register_or_die(fx->admin, "bakery", "bakery");
    it_register_or_die(fx->admin, "fuelco", "fuelco");
    it_activate_or_die(fx->admin, "bakery");
    it_activate_or_die(fx->admin, "fuelco");
    fuelco = h_client(fx->s, H_GATEWAY, "partner-fuelco");
    co_arena a;
    co_arena_init(&a, 0);
    program(&a, POST, "bakery", false, 50);
    it_participate_or_die(fx->admin, &a, POST, "fuelco");
    program(&a, PRE, "fuelco", true, 0);
    it_participate_or_die(fx->admin, &a, PRE, "bakery");
    Coalition__V1__FundIssuerRequest fr = COALITION__V1__FUND_ISSUER_REQUEST__INIT;
    fr.request_id = "fund-bakery";
    fr.program_code = PRE;
    fr.partner_id = "bakery";
    fr.points = 1000000;
    fr.reason = "block 1";
    it_call_or_die(fx->admin, &a, SVC "FundIssuer", &fr.base,
                   &coalition__v1__fund_issuer_response__descriptor);
    for (int i = 0; i < NMEMBERS; i++) {
        enroll(&a, i);
    }
    co_arena_release(&a);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    co_client_free(fuelco);
    fuelco = NULL;
    return it_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_randomized_workload_then_verify),
        cmocka_unit_test(test_kill9_mid_load_then_retry_everything),
    };
    return it_exit_code(cmocka_run_group_tests_name("points_chaos", tests, setup, teardown));
}
