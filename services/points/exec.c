/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The batch executor: every mutation of the ledger runs here, many per database transaction.
 *
 * Handlers queue operations; one executor thread takes everything queued (up to max_batch)
 * and runs it as one transaction: claim the idempotency keys, lock the hold rows, the hash-chain
 * heads and the accounts (each class in one global order: hold id, program code, account id),
 * load members and lots, apply every operation in C against the locked state (an operation that
 * fails is recorded as failed and changes nothing), then write the transfers, lots, takes,
 * holds, settlement events and the netted account balances (a guarded UPDATE refuses an
 * overdraft in the database itself), record each outcome under its key, and COMMIT. Callers are
 * answered only after the commit. While one batch commits the next one gathers, so batches grow
 * with load. If a whole batch fails for a reason that is not an operation's own (a database
 * error), each operation is run again alone, so one bad request cannot fail the others.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "coalition/v1/points.pb-c.h"
#include "api.h"
#include "earn.h"
#include "int64.h"
#include "ledger.h"
#include "log.h"
#include "pb.h"
#include "pts.h"

#define KIND(k) COALITION__V1__TRANSFER_KIND__TRANSFER_KIND_##k

enum { AK_MEMBER = 1, AK_HOLD, AK_ISSUANCE, AK_REDEMPTION, AK_EXPIRY, AK_EXCHANGE, AK_ADJUST };

/* ------------------------------------------------------------------------------------------ */
/* PostgreSQL array literals */

typedef struct arr {
    char *p;
    size_t len, cap;
    size_t n;
    bool oom;
    bool ended; /* "}" appended: the literal may be passed again */
} arr;

static void arr_put(arr *a, const char *s, size_t n)
{
    if (a->oom) {
        return;
    }
    if (a->len + n + 2 > a->cap) {
        size_t cap = a->cap == 0 ? 256 : a->cap;
        while (a->len + n + 2 > cap) {
            cap *= 2;
        }
        char *p = realloc(a->p, cap);
        if (p == NULL) {
            a->oom = true;
            return;
        }
        a->p = p;
        a->cap = cap;
    }
    memcpy(a->p + a->len, s, n);
    a->len += n;
    a->p[a->len] = '\0';
}

static void arr_begin(arr *a)
{
    a->len = 0;
    a->n = 0;
    a->oom = false;
    a->ended = false;
    arr_put(a, "{", 1);
}

static void arr_sep(arr *a)
{
    if (a->n++ > 0) {
        arr_put(a, ",", 1);
    }
}

static void arr_str(arr *a, const char *s)
{
    arr_sep(a);
    if (s == NULL) {
        arr_put(a, "NULL", 4);
        return;
    }
    arr_put(a, "\"", 1);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            arr_put(a, "\\", 1);
        }
        arr_put(a, p, 1);
    }
    arr_put(a, "\"", 1);
}

static void arr_i64(arr *a, int64_t v)
{
    char b[24];
    arr_sep(a);
    arr_put(a, b, (size_t)snprintf(b, sizeof b, "%" PRId64, v));
}

static void arr_null(arr *a)
{
    arr_sep(a);
    arr_put(a, "NULL", 4);
}

static void arr_opt(arr *a, bool set, int64_t v)
{
    if (set) {
        arr_i64(a, v);
    } else {
        arr_null(a);
    }
}

static void arr_hex(arr *a, const uint8_t *b, size_t n)
{
    char s[129];
    pts_hex(b, n < 64 ? n : 64, s);
    arr_str(a, s);
}

static const char *arr_end(arr *a)
{
    if (!a->ended) {
        arr_put(a, "}", 1);
        a->ended = true;
    }
    return a->oom ? NULL : a->p;
}

/* Parses "{1,2,3}" into at most max values. */
static size_t parse_i64_array(const char *s, int64_t *out, size_t max)
{
    size_t n = 0;
    if (*s == '{') {
        s++;
    }
    while (*s != '\0' && *s != '}' && n < max) {
        char *end;
        out[n++] = strtoll(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Batch state */

typedef struct lotrow lotrow;

typedef struct acct {
    const char *program, *name, *member_id, *partner_id;
    int kind;
    bool guarded;
    int64_t id;
    int64_t balance, start;
    bool neg_ok; /* a REVERSE in this batch may leave it negative */
} acct;

struct lotrow {
    int64_t id; /* 0 until allocated for a new lot */
    int64_t expires_us;
    int64_t points, remaining, start_remaining;
    bool is_new;
    size_t xfer;         /* new lots: the transfer that earned it */
    int64_t transfer_id; /* loaded lots: the transfer that earned it */
};

typedef struct memrow {
    const char *program, *member_id;
    const Coalition__V1__Program *p;
    acct *ma, *ha;
    bool exists, dirty;
    int64_t first_earn_us; /* 0 = none */
    int64_t lifetime;
    const char *tier, *tier0; /* now, and as loaded ("" for none) */
    int64_t tier_since_us;
    int64_t review_us; /* next anniversary review of the tier; 0 = none */
    int birthday_year; /* last year a birthday bonus was paid; 0 = never */
    int64_t q_points, q_spend;
    /* The stored qualifying figures (migration 0007): q_points and q_spend count every earn at
     * or after q_from_us; q_oldest_us is the oldest of them (0: none). */
    int64_t q_from_us, q_oldest_us;
    lotrow *lots;
    size_t nlots, caplots;
    /* Only members with a debit in the batch have their open lots loaded (their number grows
     * with history); for the others the soonest expiry is read as a sum. */
    bool debits, tiered;
    int64_t nx_us, nx_pts; /* soonest unexpired expiry before the batch; PTS_NEVER if none */
    int64_t window_us;     /* start of the qualifying window */
} memrow;

typedef struct chain {
    const char *program;
    int64_t seq;
    uint8_t hash[32];
    bool exists;
} chain;

typedef struct xfer {
    const char *program;
    chain *ch;
    int kind;
    acct *debit, *credit;
    int64_t points;
    const char *partner_id, *request_id, *member_id;
    int64_t balance_after;
    int64_t corrects_id;
    const char *hold_id;
    size_t hold_ix; /* SIZE_MAX unless the transfer creates a hold */
    bool has_purchase;
    int64_t purchase;
    const char *currency, *campaign_id, *reason;
    int64_t version;
    const char *const *meta;
    size_t nmeta;
    int64_t id, seq;
    uint8_t hash[32];
} xfer;

typedef struct takerow {
    size_t xfer;
    memrow *m;
    size_t lot;
    int64_t points;
    int64_t of_transfer; /* 0 = none */
} takerow;

typedef struct holdrow {
    char hold_id[32];
    const char *program, *member_id, *partner_id;
    int64_t points, captured;
    int status;
    int64_t create_us, expire_us, close_us;
    int64_t hold_transfer_id;
    bool is_new, dirty;
    size_t xfer; /* new: its HOLD transfer */
    pts_take *takes;
    size_t ntakes;
} holdrow;

typedef struct eventrow {
    int kind;
    const char *program, *payer, *payee, *currency;
    int64_t points, unit;
    size_t xfer;
    int64_t id;
    int64_t reverses_id; /* 0 = none */
} eventrow;

typedef struct batch {
    pts_op **ops;
    size_t n;
    co_arena a;
    acct **accts;
    size_t naccts, capaccts;
    memrow **mems;
    size_t nmems, capmems;
    chain **chains;
    size_t nchains;
    xfer *x;
    size_t nx, capx;
    takerow *t;
    size_t nt, capt;
    holdrow **holds;
    size_t nholds;
    eventrow *ev;
    size_t nev, capev;
    /* per op: live (to be applied), its weekday, its transfers [x0, x1) */
    bool *live;
    int *weekday;
    size_t *x0, *x1;
    int *tier_changed;
    pts_earn_out *earn;
    memrow **opm;
    holdrow **oph;
    int64_t *opval;
    arr cols[96];
    /* The program transfers and events are posted in; NULL means the operation's own. Only an
     * exchange posts in a second program. */
    const Coalition__V1__Program *cur;
    memrow **opm2;
    int64_t *today; /* EXCHANGE: points the member exchanged today under the agreement */
    /* REVERSE, per operation: reversed so far per original, the originals' settlement events,
     * and what the redemption's debit took from lots with what it got back */
    int64_t **reversed;
    eventrow ***origev;
    pts_take **rtakes;
    int64_t **rreturned;
    size_t *nrtakes;
    /* EXPIRE, per operation: the members whose lots have expired */
    memrow ***expm;
    size_t *nexpm;
    char ***expids;
    /* REWARD: units redeemed per reward so far (locked), and the coupons issued */
    struct rewardrow {
        const char *reward_id;
        int64_t redeemed, start;
    } * rewards;
    size_t nrewards;
    struct couponrow {
        char code[13];
        const char *reward_id, *program, *member_id, *partner_id;
        int64_t issue_us, expire_us;
        size_t xfer;
    } * coupons;
    size_t ncoupons, capcoupons;
    struct couponrow **opcoupons; /* per operation: its first coupon */
} batch;

struct pts_exec {
    co_pg_pool *pool;
    int max_batch;
    int64_t tx_timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pts_op *head, *tail;
    bool stop;
    pthread_t thread;
};

static void *grow(co_arena *a, void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) {
        return p;
    }
    size_t nc = *cap == 0 ? 16 : *cap * 2;
    void *q = co_arena_calloc(a, nc, size);
    if (q != NULL && p != NULL) {
        memcpy(q, p, *cap * size);
    }
    *cap = nc;
    return q;
}

static acct *acct_get(batch *b, const char *program, int kind, const char *who)
{
    const char *prefix = kind == AK_MEMBER       ? "member:"
                         : kind == AK_HOLD       ? "hold:"
                         : kind == AK_ISSUANCE   ? "issuance:"
                         : kind == AK_REDEMPTION ? "redemption:"
                                                 : "";
    const char *bare = kind == AK_EXPIRY     ? "expiry"
                       : kind == AK_EXCHANGE ? "exchange"
                       : kind == AK_ADJUST   ? "adjustment"
                                             : NULL;
    char name[160];
    snprintf(name, sizeof name, "%s%s", bare != NULL ? bare : prefix, bare != NULL ? "" : who);
    for (size_t i = 0; i < b->naccts; i++) {
        if (strcmp(b->accts[i]->program, program) == 0 && strcmp(b->accts[i]->name, name) == 0) {
            return b->accts[i];
        }
    }
    b->accts = grow(&b->a, b->accts, &b->capaccts, b->naccts, sizeof *b->accts);
    acct *ac = co_arena_calloc(&b->a, 1, sizeof *ac);
    if (b->accts == NULL || ac == NULL) {
        return NULL;
    }
    ac->program = program;
    ac->name = co_arena_strdup(&b->a, name);
    ac->kind = kind;
    ac->member_id = kind == AK_MEMBER || kind == AK_HOLD ? who : NULL;
    ac->partner_id = kind == AK_ISSUANCE || kind == AK_REDEMPTION ? who : NULL;
    b->accts[b->naccts++] = ac;
    return ac;
}

/* The account named `name` in program p ("issuance:bakery", "adjustment", "redemption:x"). */
static acct *acct_named(batch *b, const char *program, const char *name)
{
    static const struct {
        const char *prefix;
        int kind;
    } kinds[] = {{"issuance:", AK_ISSUANCE},
                 {"redemption:", AK_REDEMPTION},
                 {"member:", AK_MEMBER},
                 {"hold:", AK_HOLD}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t n = strlen(kinds[k].prefix);
        if (strncmp(name, kinds[k].prefix, n) == 0) {
            return acct_get(b, program, kinds[k].kind, name + n);
        }
    }
    if (strcmp(name, "adjustment") == 0) {
        return acct_get(b, program, AK_ADJUST, NULL);
    }
    if (strcmp(name, "expiry") == 0) {
        return acct_get(b, program, AK_EXPIRY, NULL);
    }
    return acct_get(b, program, AK_EXCHANGE, NULL);
}

static chain *chain_get(batch *b, const char *program)
{
    for (size_t i = 0; i < b->nchains; i++) {
        if (strcmp(b->chains[i]->program, program) == 0) {
            return b->chains[i];
        }
    }
    chain *c = co_arena_calloc(&b->a, 1, sizeof *c);
    if (c != NULL) {
        c->program = program;
        b->chains[b->nchains++] = c;
    }
    return c;
}

static memrow *mem_get(batch *b, const Coalition__V1__Program *p, const char *member_id)
{
    const char *program = p->code;
    for (size_t i = 0; i < b->nmems; i++) {
        if (strcmp(b->mems[i]->program, program) == 0 &&
            strcmp(b->mems[i]->member_id, member_id) == 0) {
            return b->mems[i];
        }
    }
    memrow *m = co_arena_calloc(&b->a, 1, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    m->program = program;
    m->p = p;
    m->member_id = member_id;
    m->tier = m->tier0 = "";
    m->ma = acct_get(b, program, AK_MEMBER, member_id);
    m->ha = acct_get(b, program, AK_HOLD, member_id);
    b->mems = grow(&b->a, b->mems, &b->capmems, b->nmems, sizeof *b->mems);
    if (m->ma == NULL || m->ha == NULL || b->mems == NULL) {
        return NULL;
    }
    b->mems[b->nmems++] = m;
    return m;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const Coalition__V1__Program *prog_of(const pts_op *op)
{
    return op->prog->p;
}

static bool is_prepaid(const Coalition__V1__Program *p)
{
    return p->issuing_mode == COALITION__V1__ISSUING_MODE__ISSUING_MODE_PREPAID;
}

/* The program an operation works on ("" before its hold is known). */
static const char *op_program(const pts_op *op)
{
    return prog_of(op)->code;
}

/* ------------------------------------------------------------------------------------------ */
/* Recording outcomes */

static void op_fail(pts_op *op, co_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void op_fail(pts_op *op, co_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->message, sizeof op->message, fmt, ap);
    va_end(ap);
    op->err = e;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading (inside the transaction) */

static co_err q(co_pg_conn *c, const char *name, const char *sql, int n, const char *const *v,
                PGresult **out)
{
    PGresult *r = NULL;
    co_err e = co_pg_exec(c, pts_stmt(name, sql, n), v, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    if (out != NULL) {
        *out = r;
    } else {
        PQclear(r);
    }
    return CO_OK;
}

static int64_t i64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* The arrays' texts, as statement parameters. */
static co_err arr_values(arr *const *cols, int n, const char **v)
{
    if (n > 96) {
        return CO_ERR_INTERNAL;
    }
    for (int k = 0; k < n; k++) {
        if ((v[k] = arr_end(cols[k])) == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    return CO_OK;
}

/* Runs the statement with the arrays as its parameters, in order. */
static co_err query_arrays(co_pg_conn *c, const char *name, const char *sql, arr *const *cols,
                           int n, PGresult **out)
{
    const char *v[96];
    co_err e = arr_values(cols, n, v);
    return e != CO_OK ? e : q(c, name, sql, n, v, out);
}

/* Pipelines the statement with the arrays as its parameters; co_pg_recv reads its result. */
static co_err send_arrays(co_pg_conn *c, const char *name, const char *sql, arr *const *cols, int n)
{
    const char *v[96];
    co_err e = arr_values(cols, n, v);
    return e != CO_OK ? e : co_pg_send(c, pts_stmt(name, sql, n), v, NULL, NULL);
}

static co_err claim_keys(co_pg_conn *c, batch *b)
{
    arr *ca = &b->cols[0], *ra = &b->cols[1], *ma = &b->cols[2], *ha = &b->cols[3];
    arr_begin(ca);
    arr_begin(ra);
    arr_begin(ma);
    arr_begin(ha);
    size_t nk = 0;
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (op->request_id == NULL || op->request_id[0] == '\0') {
            continue; /* timer work: not keyed */
        }
        arr_str(ca, op->caller);
        arr_str(ra, op->request_id);
        arr_str(ma, op->method);
        arr_hex(ha, op->hash, 32);
        nk++;
        b->live[i] = false;
    }
    if (nk == 0) {
        return CO_OK;
    }
    PGresult *r;
    co_err e = query_arrays(
        c, "pts_claim",
        "INSERT INTO points.idempotency (caller, request_id, method, request_hash, status)"
        " SELECT c, r, m, decode(h, 'hex'), -1 FROM unnest($1::text[], $2::text[],"
        " $3::text[], $4::text[]) AS u(c, r, m, h) ON CONFLICT DO NOTHING"
        " RETURNING caller, request_id",
        (arr *[]){ca, ra, ma, ha}, 4, &r);
    if (e != CO_OK) {
        return e;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        for (size_t i = 0; i < b->n; i++) {
            pts_op *op = b->ops[i];
            if (op->request_id != NULL && strcmp(op->caller, PQgetvalue(r, row, 0)) == 0 &&
                strcmp(op->request_id, PQgetvalue(r, row, 1)) == 0) {
                b->live[i] = true;
            }
        }
    }
    size_t claimed = (size_t)PQntuples(r);
    PQclear(r);
    if (claimed == nk) {
        return CO_OK;
    }
    /* Repeats of committed requests: replay their outcome, or refuse other content. */
    arr_begin(ca);
    arr_begin(ra);
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i] && op->request_id != NULL && op->request_id[0] != '\0') {
            arr_str(ca, op->caller);
            arr_str(ra, op->request_id);
        }
    }
    const char *v2[2] = {arr_end(ca), arr_end(ra)};
    if (v2[0] == NULL || v2[1] == NULL) {
        return CO_ERR_NOMEM;
    }
    e = q(
        c, "pts_prior",
        "SELECT i.caller, i.request_id, i.method, encode(i.request_hash, 'hex'), i.status,"
        " coalesce(i.message, ''), encode(i.response, 'hex') FROM points.idempotency i"
        " JOIN unnest($1::text[], $2::text[]) AS u(c, r) ON i.caller = u.c AND i.request_id = u.r",
        2, v2, &r);
    if (e != CO_OK) {
        return e;
    }
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (b->live[i] || op->request_id == NULL || op->request_id[0] == '\0') {
            continue;
        }
        int found = -1;
        for (int row = 0; row < PQntuples(r); row++) {
            if (strcmp(op->caller, PQgetvalue(r, row, 0)) == 0 &&
                strcmp(op->request_id, PQgetvalue(r, row, 1)) == 0) {
                found = row;
            }
        }
        if (found < 0) {
            PQclear(r);
            return CO_ERR_RETRY; /* the claimant rolled back meanwhile */
        }
        char hex[65];
        pts_hex(op->hash, 32, hex);
        if (strcmp(PQgetvalue(r, found, 2), op->method) != 0 ||
            strcmp(PQgetvalue(r, found, 3), hex) != 0) {
            op_fail(op, CO_ERR_ALREADY_EXISTS,
                    "request_id \"%s\" was already used with different content", op->request_id);
            continue;
        }
        long status = strtol(PQgetvalue(r, found, 4), NULL, 10);
        if (status < 0) {
            PQclear(r);
            return CO_ERR_RETRY;
        }
        if (status == GRPC_STATUS_OK) {
            const char *rh = PQgetvalue(r, found, 6);
            size_t len = strlen(rh) / 2;
            op->resp = malloc(len == 0 ? 1 : len);
            if (op->resp == NULL) {
                PQclear(r);
                return CO_ERR_NOMEM;
            }
            op->resp_len = pts_unhex(rh, op->resp, len);
            op->err = CO_OK;
        } else {
            op->err = co_err_from_grpc((grpc_status_code)status);
            snprintf(op->message, sizeof op->message, "%s", PQgetvalue(r, found, 5));
        }
    }
    PQclear(r);
    return CO_OK;
}

static co_err load_holds(co_pg_conn *c, batch *b)
{
    arr *ha = &b->cols[0];
    arr_begin(ha);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (b->live[i] && (op->kind == PTS_OP_CAPTURE || op->kind == PTS_OP_VOID)) {
            arr_str(ha, op->hold_id);
            n++;
        }
    }
    if (n == 0) {
        return CO_OK;
    }
    PGresult *r;
    co_err e = query_arrays(
        c, "pts_holds",
        "SELECT hold_id, program, member_id, partner_id, points, captured_points, status,"
        " (extract(epoch FROM create_time) * 1000000)::bigint,"
        " (extract(epoch FROM expire_time) * 1000000)::bigint, hold_transfer_id"
        " FROM points.holds WHERE hold_id = ANY($1::text[]) ORDER BY hold_id FOR UPDATE",
        (arr *[]){ha}, 1, &r);
    if (e != CO_OK) {
        return e;
    }
    b->holds = co_arena_calloc(&b->a, (size_t)PQntuples(r) + b->n + 1, sizeof *b->holds);
    if (b->holds == NULL) {
        PQclear(r);
        return CO_ERR_NOMEM;
    }
    arr_begin(ha);
    for (int row = 0; row < PQntuples(r); row++) {
        holdrow *h = co_arena_calloc(&b->a, 1, sizeof *h);
        if (h == NULL) {
            PQclear(r);
            return CO_ERR_NOMEM;
        }
        snprintf(h->hold_id, sizeof h->hold_id, "%s", PQgetvalue(r, row, 0));
        h->program = co_arena_strdup(&b->a, PQgetvalue(r, row, 1));
        h->member_id = co_arena_strdup(&b->a, PQgetvalue(r, row, 2));
        h->partner_id = co_arena_strdup(&b->a, PQgetvalue(r, row, 3));
        h->points = i64(r, row, 4);
        h->captured = i64(r, row, 5);
        h->status = (int)i64(r, row, 6);
        h->create_us = i64(r, row, 7);
        h->expire_us = i64(r, row, 8);
        h->hold_transfer_id = i64(r, row, 9);
        h->xfer = SIZE_MAX;
        b->holds[b->nholds++] = h;
        arr_i64(ha, h->hold_transfer_id);
    }
    PQclear(r);
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i] || (op->kind != PTS_OP_CAPTURE && op->kind != PTS_OP_VOID)) {
            continue;
        }
        for (size_t k = 0; k < b->nholds; k++) {
            if (strcmp(b->holds[k]->hold_id, op->hold_id) == 0) {
                b->oph[i] = b->holds[k];
            }
        }
        if (b->oph[i] == NULL || strcmp(b->oph[i]->program, op_program(op)) != 0) {
            op_fail(op, CO_ERR_NOT_FOUND, "hold \"%s\" not found", op->hold_id);
            b->live[i] = false;
        }
    }
    /* What each hold took from the member's lots: what a void gives back. */
    e = query_arrays(
        c, "pts_hold_takes",
        "SELECT transfer_id, lot_id, points FROM points.takes"
        " WHERE transfer_id = ANY($1::bigint[]) AND points > 0 ORDER BY transfer_id, lot_id",
        (arr *[]){ha}, 1, &r);
    if (e != CO_OK) {
        return e;
    }
    for (size_t k = 0; k < b->nholds; k++) {
        holdrow *h = b->holds[k];
        h->takes = co_arena_calloc(&b->a, (size_t)PQntuples(r) + 1, sizeof *h->takes);
        if (h->takes == NULL) {
            PQclear(r);
            return CO_ERR_NOMEM;
        }
        for (int row = 0; row < PQntuples(r); row++) {
            if (i64(r, row, 0) == h->hold_transfer_id) {
                h->takes[h->ntakes].lot_id = i64(r, row, 1);
                h->takes[h->ntakes].points = i64(r, row, 2);
                h->ntakes++;
            }
        }
    }
    PQclear(r);
    return CO_OK;
}

/* REWARD: the units each stock-limited reward has given, locked (in reward id order). */
static co_err load_rewards(co_pg_conn *c, batch *b)
{
    arr *ra = &b->cols[0];
    arr_begin(ra);
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i] || op->kind != PTS_OP_REWARD || !op->reward->stock_limited) {
            continue;
        }
        bool seen = false;
        for (size_t k = 0; k < b->nrewards; k++) {
            seen = seen || strcmp(b->rewards[k].reward_id, op->reward->reward_id) == 0;
        }
        if (!seen) {
            b->rewards[b->nrewards++].reward_id = op->reward->reward_id;
            arr_str(ra, op->reward->reward_id);
        }
    }
    if (b->nrewards == 0) {
        return CO_OK;
    }
    co_err e = query_arrays(c, "pts_new_usage",
                            "INSERT INTO points.reward_usage (reward_id) SELECT r FROM"
                            " unnest($1::text[]) AS u(r) ORDER BY r ON CONFLICT DO NOTHING",
                            (arr *[]){ra}, 1, NULL);
    PGresult *r;
    if (e != CO_OK || (e = query_arrays(c, "pts_lock_usage",
                                        "SELECT reward_id, redeemed FROM points.reward_usage"
                                        " WHERE reward_id = ANY($1::text[]) ORDER BY reward_id"
                                        " FOR UPDATE",
                                        (arr *[]){ra}, 1, &r)) != CO_OK) {
        return e;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        for (size_t k = 0; k < b->nrewards; k++) {
            if (strcmp(b->rewards[k].reward_id, PQgetvalue(r, row, 0)) == 0) {
                b->rewards[k].redeemed = b->rewards[k].start = i64(r, row, 1);
            }
        }
    }
    PQclear(r);
    return CO_OK;
}

/* EXPIRE: the members of the program with lots expired at as_of; TIERS: those whose tier is due
 * for review at as_of (locked and reloaded later). */
static co_err load_expiring(co_pg_conn *c, batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i] || (op->kind != PTS_OP_EXPIRE && op->kind != PTS_OP_TIERS)) {
            continue;
        }
        char asof[24], lim[16];
        snprintf(asof, sizeof asof, "%" PRId64, op->as_of_us);
        snprintf(lim, sizeof lim, "%d", op->expire_max);
        const char *v[3] = {prog_of(op)->code, asof, lim};
        PGresult *r;
        co_err e = op->kind == PTS_OP_TIERS
                       ? q(c, "pts_tiers_due",
                           "SELECT member_id FROM points.members WHERE program = $1 AND"
                           " tier_review_time <= timestamptz 'epoch' + $2::bigint * interval"
                           " '1 microsecond' ORDER BY tier_review_time, member_id LIMIT $3::int",
                           3, v, &r)
                       : q(c, "pts_expiring",
                           "SELECT a.member_id FROM points.accounts a WHERE a.program = $1 AND"
                           " a.kind = 1 AND EXISTS (SELECT 1 FROM points.lots l WHERE"
                           " l.account_id = a.id AND l.remaining > 0 AND l.expire_time <="
                           " timestamptz 'epoch' + $2::bigint * interval '1 microsecond') ORDER"
                           " BY a.id LIMIT $3::int",
                           3, v, &r);
        if (e != CO_OK) {
            return e;
        }
        size_t n = (size_t)PQntuples(r);
        b->expids[i] = co_arena_calloc(&b->a, n + 1, sizeof *b->expids[i]);
        b->expm[i] = co_arena_calloc(&b->a, n + 1, sizeof *b->expm[i]);
        if (b->expids[i] == NULL || b->expm[i] == NULL) {
            PQclear(r);
            return CO_ERR_NOMEM;
        }
        for (size_t k = 0; k < n; k++) {
            b->expids[i][k] = co_arena_strdup(&b->a, PQgetvalue(r, (int)k, 0));
        }
        b->nexpm[i] = n;
        PQclear(r);
    }
    return CO_OK;
}

/* Who a reward's redemption pays: the charity for a donation, else the fulfilling partner. */
static const char *reward_payee(const pts_op *op)
{
    const Coalition__V1__Reward *rw = op->reward;
    if (rw->kind == COALITION__V1__REWARD_KIND__REWARD_KIND_DONATION &&
        rw->charity_partner_id[0] != '\0') {
        return rw->charity_partner_id;
    }
    return rw->partner_id[0] != '\0' ? rw->partner_id : prog_of(op)->owner_partner_id;
}

/* Collects the accounts and members each live operation touches. */
static co_err collect(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i]) {
            continue;
        }
        const Coalition__V1__Program *p = prog_of(op);
        if (chain_get(b, p->code) == NULL) {
            return CO_ERR_NOMEM;
        }
        const char *mid = op->member.member_id;
        if (op->kind == PTS_OP_CAPTURE || op->kind == PTS_OP_VOID) {
            mid = b->oph[i]->member_id;
        }
        if (op->kind == PTS_OP_EXPIRE) {
            for (size_t k = 0; k < b->nexpm[i]; k++) {
                if ((b->expm[i][k] = mem_get(b, p, b->expids[i][k])) == NULL) {
                    return CO_ERR_NOMEM;
                }
                b->expm[i][k]->debits = true;
                if (b->expm[i][k]->window_us == 0) {
                    /* No balance is reported: any window will do (another operation of the
                     * batch on the member sets the program's). */
                    b->expm[i][k]->window_us = op->now_us;
                }
            }
            if (acct_get(b, p->code, AK_EXPIRY, NULL) == NULL) {
                return CO_ERR_NOMEM;
            }
            continue;
        }
        if (op->kind == PTS_OP_TIERS) {
            int32_t days = p->qualifying_window_days > 0 ? p->qualifying_window_days : 365;
            for (size_t k = 0; k < b->nexpm[i]; k++) {
                if ((b->expm[i][k] = mem_get(b, p, b->expids[i][k])) == NULL) {
                    return CO_ERR_NOMEM;
                }
                b->expm[i][k]->tiered = true;
                b->expm[i][k]->window_us = op->now_us - (int64_t)days * 86400 * INT64_C(1000000);
            }
            continue;
        }
        if (op->kind != PTS_OP_FUND && (b->opm[i] = mem_get(b, p, mid)) == NULL) {
            return CO_ERR_NOMEM;
        }
        if (op->kind != PTS_OP_FUND) {
            memrow *m = b->opm[i];
            m->debits = m->debits || op->kind == PTS_OP_REDEEM || op->kind == PTS_OP_CAPTURE ||
                        op->kind == PTS_OP_VOID;
            m->tiered = p->n_tiers > 0;
            int32_t days = p->qualifying_window_days > 0 ? p->qualifying_window_days : 365;
            m->window_us = op->now_us - (int64_t)days * 86400 * INT64_C(1000000);
        }
        acct *ok = (acct *)1;
        switch (op->kind) {
        case PTS_OP_EARN:
            ok = acct_get(b, p->code, AK_ISSUANCE, op->caller);
            ok = ok != NULL ? acct_get(b, p->code, AK_ISSUANCE, p->owner_partner_id) : NULL;
            break;
        case PTS_OP_CREDIT:
            ok = op->credit_kind == KIND(ADJUST) ? acct_get(b, p->code, AK_ADJUST, NULL)
                                                 : acct_get(b, p->code, AK_ISSUANCE, op->caller);
            break;
        case PTS_OP_REDEEM:
            if (!op->hold) {
                ok = acct_get(b, p->code, AK_REDEMPTION, op->caller);
            }
            break;
        case PTS_OP_CAPTURE:
            ok = acct_get(b, p->code, AK_REDEMPTION, b->oph[i]->partner_id);
            break;
        case PTS_OP_VOID:
            break;
        case PTS_OP_FUND:
            ok = acct_get(b, p->code, AK_ADJUST, NULL);
            ok = ok != NULL ? acct_get(b, p->code, AK_ISSUANCE, op->fund_partner_id) : NULL;
            break;
        case PTS_OP_EXPIRE:
        case PTS_OP_TIERS:
            break; /* handled above */
        case PTS_OP_REWARD:
            b->opm[i]->debits = true;
            ok = acct_get(b, p->code, AK_REDEMPTION, reward_payee(op));
            break;
        case PTS_OP_REVERSE:
            b->opm[i]->debits = true;
            for (size_t k = 0; k < op->norigs && ok != NULL; k++) {
                ok = acct_named(b, p->code, op->origs[k].debit);
                ok = ok != NULL ? acct_named(b, p->code, op->origs[k].credit) : NULL;
            }
            break;
        case PTS_OP_EXCHANGE: {
            const Coalition__V1__Program *t = op->prog2->p;
            b->opm[i]->debits = true;
            if (chain_get(b, t->code) == NULL ||
                (b->opm2[i] = mem_get(b, t, op->member.member_id)) == NULL) {
                return CO_ERR_NOMEM;
            }
            int32_t days = t->qualifying_window_days > 0 ? t->qualifying_window_days : 365;
            b->opm2[i]->tiered = t->n_tiers > 0;
            b->opm2[i]->window_us = op->now_us - (int64_t)days * 86400 * INT64_C(1000000);
            ok = acct_get(b, p->code, AK_EXCHANGE, NULL);
            ok = ok != NULL ? acct_get(b, t->code, AK_EXCHANGE, NULL) : NULL;
            break;
        }
        }
        if (ok == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    /* Guards: member accounts, and issuance accounts of prepaid non-owners. */
    for (size_t k = 0; k < b->naccts; k++) {
        acct *ac = b->accts[k];
        ac->guarded = ac->kind == AK_MEMBER || ac->kind == AK_HOLD;
        if (ac->kind == AK_ISSUANCE) {
            for (size_t i = 0; i < b->n; i++) {
                const Coalition__V1__Program *p = prog_of(b->ops[i]);
                if (strcmp(p->code, ac->program) == 0) {
                    ac->guarded = is_prepaid(p) && strcmp(ac->partner_id, p->owner_partner_id) != 0;
                    break;
                }
            }
        }
    }
    return CO_OK;
}

static int cmp_chain(const void *x, const void *y)
{
    return strcmp((*(chain *const *)x)->program, (*(chain *const *)y)->program);
}

/* Sends the row locks of the batch's chains (in program order). */
static co_err chains_send(co_pg_conn *c, batch *b)
{
    arr *pa = &b->cols[0];
    arr_begin(pa);
    for (size_t i = 0; i < b->nchains; i++) {
        arr_str(pa, b->chains[i]->program);
    }
    return send_arrays(c, "pts_lock_chains",
                       "SELECT program, seq, encode(last_hash, 'hex') FROM points.chains"
                       " WHERE program = ANY($1::text[]) ORDER BY program FOR UPDATE",
                       (arr *[]){pa}, 1);
}

/* Reads the locked chain heads; *missing counts the chains that do not exist yet. */
static co_err chains_recv(co_pg_conn *c, batch *b, size_t *missing)
{
    PGresult *r;
    co_err e = co_pg_recv(c, &r);
    if (e != CO_OK) {
        return e;
    }
    size_t found = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        for (size_t i = 0; i < b->nchains; i++) {
            chain *ch = b->chains[i];
            if (strcmp(ch->program, PQgetvalue(r, row, 0)) == 0) {
                ch->exists = true;
                ch->seq = i64(r, row, 1);
                pts_unhex(PQgetvalue(r, row, 2), ch->hash, sizeof ch->hash);
                found++;
            }
        }
    }
    PQclear(r);
    *missing = b->nchains - found;
    return CO_OK;
}

static co_err chains_create(co_pg_conn *c, batch *b)
{
    arr *pa = &b->cols[0];
    arr_begin(pa);
    for (size_t i = 0; i < b->nchains; i++) {
        if (!b->chains[i]->exists) {
            arr_str(pa, b->chains[i]->program);
        }
    }
    return query_arrays(
        c, "pts_new_chains",
        "INSERT INTO points.chains (program, seq, last_hash)"
        " SELECT p, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'"
        "::bytea FROM unnest($1::text[]) AS u(p) ORDER BY p ON CONFLICT DO NOTHING",
        (arr *[]){pa}, 1, NULL);
}

/* Sends the row locks of the batch's accounts (in id order). */
static co_err accounts_send(co_pg_conn *c, batch *b)
{
    arr *pa = &b->cols[0], *na = &b->cols[1];
    arr_begin(pa);
    arr_begin(na);
    for (size_t i = 0; i < b->naccts; i++) {
        arr_str(pa, b->accts[i]->program);
        arr_str(na, b->accts[i]->name);
    }
    return send_arrays(c, "pts_lock_accounts",
                       "SELECT a.id, a.program, a.name, a.balance, a.guarded FROM points.accounts a"
                       " JOIN unnest($1::text[], $2::text[]) AS u(p, n) ON a.program = u.p AND"
                       " a.name = u.n ORDER BY a.id FOR UPDATE OF a",
                       (arr *[]){pa, na}, 2);
}

/* Reads the locked accounts; *missing counts the accounts that do not exist yet. */
static co_err accounts_recv(co_pg_conn *c, batch *b, size_t *missing)
{
    PGresult *r;
    co_err e = co_pg_recv(c, &r);
    if (e != CO_OK) {
        return e;
    }
    size_t found = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        for (size_t i = 0; i < b->naccts; i++) {
            acct *ac = b->accts[i];
            if (strcmp(ac->program, PQgetvalue(r, row, 1)) == 0 &&
                strcmp(ac->name, PQgetvalue(r, row, 2)) == 0) {
                ac->id = i64(r, row, 0);
                ac->balance = ac->start = i64(r, row, 3);
                ac->guarded = PQgetvalue(r, row, 4)[0] == 't';
                found++;
            }
        }
    }
    PQclear(r);
    *missing = b->naccts - found;
    return CO_OK;
}

static co_err accounts_create(co_pg_conn *c, batch *b)
{
    arr *pa = &b->cols[0], *na = &b->cols[1], *ka = &b->cols[2], *ma = &b->cols[3],
        *wa = &b->cols[4], *ga = &b->cols[5];
    arr_begin(pa);
    arr_begin(na);
    arr_begin(ka);
    arr_begin(ma);
    arr_begin(wa);
    arr_begin(ga);
    for (size_t i = 0; i < b->naccts; i++) {
        acct *ac = b->accts[i];
        if (ac->id == 0) {
            arr_str(pa, ac->program);
            arr_str(na, ac->name);
            arr_i64(ka, ac->kind);
            arr_str(ma, ac->member_id);
            arr_str(wa, ac->partner_id);
            arr_str(ga, ac->guarded ? "t" : "f");
        }
    }
    return query_arrays(
        c, "pts_new_accounts",
        "INSERT INTO points.accounts (program, name, kind, member_id, partner_id, guarded)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[],"
        " $5::text[], $6::boolean[]) AS u(p, n, k, m, w, g) ORDER BY p, n"
        " ON CONFLICT DO NOTHING",
        (arr *[]){pa, na, ka, ma, wa, ga}, 6, NULL);
}

static co_err members_send(co_pg_conn *c, batch *b);
static co_err members_recv(co_pg_conn *c, batch *b);
static co_err load_member_lots(co_pg_conn *c, batch *b);

/* Locks the batch's chains, then its accounts, and reads its members: one round trip. The
 * members are read after the locks, which serialize every writer of a member's row. Rows that
 * do not exist yet (a program's first transfer, a member's first earn) are created, locked
 * and the members read again, in further round trips. */
static co_err lock_and_load(co_pg_conn *c, batch *b)
{
    if (b->nchains > 0) {
        qsort(b->chains, b->nchains, sizeof *b->chains, cmp_chain);
    }
    size_t chains_missing = 0, accts_missing = 0;
    co_err e = CO_OK;
    if (b->nchains > 0 && (e = chains_send(c, b)) != CO_OK) {
        return e;
    }
    if (b->naccts > 0 && (e = accounts_send(c, b)) != CO_OK) {
        return e;
    }
    if (b->nmems > 0 && (e = members_send(c, b)) != CO_OK) {
        return e;
    }
    if ((b->nchains > 0 && (e = chains_recv(c, b, &chains_missing)) != CO_OK) ||
        (b->naccts > 0 && (e = accounts_recv(c, b, &accts_missing)) != CO_OK) ||
        (b->nmems > 0 && (e = members_recv(c, b)) != CO_OK)) {
        return e;
    }
    if (chains_missing > 0) {
        if ((e = chains_create(c, b)) != CO_OK || (e = chains_send(c, b)) != CO_OK ||
            (e = chains_recv(c, b, &chains_missing)) != CO_OK) {
            return e;
        }
        if (chains_missing > 0) {
            return CO_ERR_INTERNAL;
        }
    }
    if (accts_missing > 0) {
        if ((e = accounts_create(c, b)) != CO_OK || (e = accounts_send(c, b)) != CO_OK ||
            (e = accounts_recv(c, b, &accts_missing)) != CO_OK) {
            return e;
        }
        if (accts_missing > 0) {
            return CO_ERR_INTERNAL;
        }
        if (b->nmems > 0 &&
            ((e = members_send(c, b)) != CO_OK || (e = members_recv(c, b)) != CO_OK)) {
            return e;
        }
    }
    return b->nmems > 0 ? load_member_lots(c, b) : CO_OK;
}

static memrow *mem_of_row(batch *b, PGresult *r, int row)
{
    for (size_t i = 0; i < b->nmems; i++) {
        memrow *m = b->mems[i];
        if (strcmp(m->program, PQgetvalue(r, row, 0)) == 0 &&
            strcmp(m->member_id, PQgetvalue(r, row, 1)) == 0) {
            return m;
        }
    }
    return NULL;
}

static memrow *mem_of_account(batch *b, int64_t account_id)
{
    for (size_t i = 0; i < b->nmems; i++) {
        if (b->mems[i]->ma->id == account_id) {
            return b->mems[i];
        }
    }
    return NULL;
}

static co_err members_send(co_pg_conn *c, batch *b)
{
    arr *pa = &b->cols[0], *ma = &b->cols[1];
    arr_begin(pa);
    arr_begin(ma);
    for (size_t i = 0; i < b->nmems; i++) {
        arr_str(pa, b->mems[i]->program);
        arr_str(ma, b->mems[i]->member_id);
    }
    return send_arrays(c, "pts_members",
                       "SELECT m.program, m.member_id,"
                       " (extract(epoch FROM m.first_earn_time) * 1000000)::bigint,"
                       " m.lifetime_earned, m.tier_code,"
                       " (extract(epoch FROM m.tier_since) * 1000000)::bigint,"
                       " (extract(epoch FROM m.tier_review_time) * 1000000)::bigint,"
                       " m.birthday_year, m.q_points, m.q_spend,"
                       " (extract(epoch FROM m.q_from) * 1000000)::bigint,"
                       " (extract(epoch FROM m.q_oldest) * 1000000)::bigint"
                       " FROM unnest($1::text[], $2::text[]) AS u(p, m)"
                       " JOIN points.members m ON m.program = u.p AND m.member_id = u.m",
                       (arr *[]){pa, ma}, 2);
}

static co_err members_recv(co_pg_conn *c, batch *b)
{
    PGresult *r;
    co_err e = co_pg_recv(c, &r);
    if (e != CO_OK) {
        return e;
    }
    for (size_t i = 0; i < b->nmems; i++) {
        b->mems[i]->exists = false;
        b->mems[i]->nx_us = PTS_NEVER;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        memrow *m = mem_of_row(b, r, row);
        if (m != NULL) {
            m->exists = true;
            m->first_earn_us = i64(r, row, 2);
            m->lifetime = i64(r, row, 3);
            m->tier = m->tier0 = co_arena_strdup(&b->a, PQgetvalue(r, row, 4));
            m->tier_since_us = i64(r, row, 5);
            m->review_us = i64(r, row, 6);
            m->birthday_year = (int)i64(r, row, 7);
            m->q_points = i64(r, row, 8);
            m->q_spend = i64(r, row, 9);
            m->q_from_us = PQgetisnull(r, row, 10) ? 0 : i64(r, row, 10);
            m->q_oldest_us = i64(r, row, 11);
        }
    }
    PQclear(r);
    return CO_OK;
}

/* The members' qualifying figures when stored ones no longer answer, and their lots. */
static co_err load_member_lots(co_pg_conn *c, batch *b)
{
    arr *pa = &b->cols[0], *ma = &b->cols[1], *wa = &b->cols[2];
    PGresult *r;
    co_err e;
    /* Qualifying points and spend (what the balance reports, and what tiers are decided on): the
     * stored figures while they still answer for this window, else a sum over the window of the
     * member's earns, stored again. A member new to the program has none. */
    arr_begin(pa);
    arr_begin(ma);
    arr_begin(wa);
    size_t nt = 0;
    for (size_t i = 0; i < b->nmems; i++) {
        memrow *m = b->mems[i];
        if (!m->exists) {
            m->q_points = m->q_spend = 0;
            m->q_from_us = m->window_us;
            m->q_oldest_us = 0;
            continue;
        }
        if (m->q_from_us != 0 && m->q_from_us <= m->window_us &&
            (m->q_oldest_us == 0 || m->q_oldest_us >= m->window_us)) {
            continue;
        }
        arr_str(pa, m->program);
        arr_str(ma, m->member_id);
        arr_i64(wa, m->window_us);
        nt++;
    }
    if (nt > 0) {
        /* Planned for these members every time: a plan cached while the ledger was small
         * (a scan of all transfers) would stay in use as it grows. */
        if ((e = co_pg_defer(c, "SET LOCAL plan_cache_mode = force_custom_plan")) != CO_OK) {
            return e;
        }
        e = query_arrays(
            c, "pts_qualifying_batch",
            "SELECT u.p, u.m, q.pts, q.spend, q.oldest FROM unnest($1::text[], $2::text[],"
            " $3::bigint[]) AS u(p, m, w), LATERAL (" PTS_QUALIFYING_SQL("u.p", "u.m", "u.w") ") q",
            (arr *[]){pa, ma, wa}, 3, &r);
        if (e != CO_OK) {
            return e;
        }
        for (int row = 0; row < PQntuples(r); row++) {
            memrow *m = mem_of_row(b, r, row);
            if (m != NULL) {
                m->q_points = i64(r, row, 2);
                m->q_spend = i64(r, row, 3);
                m->q_from_us = m->window_us;
                m->q_oldest_us = i64(r, row, 4);
                m->dirty = true; /* store what was summed */
            }
        }
        PQclear(r);
        if ((e = co_pg_defer(c, "SET LOCAL plan_cache_mode = force_generic_plan")) != CO_OK) {
            return e;
        }
    }
    /* Open lots of members with a debit; the soonest expiry of the others. */
    arr *da = &b->cols[0], *oa = &b->cols[1];
    arr_begin(da);
    arr_begin(oa);
    for (size_t i = 0; i < b->nmems; i++) {
        memrow *m = b->mems[i];
        arr_i64(m->debits ? da : oa, m->ma->id);
    }
    /* One round trip: open lots (tag 0) of members with a debit, the soonest expiry (tag 1)
     * of the others, each found in the index of open lots by account (lots_open), whatever
     * the number of lots that expire across the program. */
    e = query_arrays(c, "pts_lots",
                     "SELECT 0, account_id, id, coalesce((extract(epoch FROM expire_time) *"
                     " 1000000)::bigint, 9223372036854775807), points, remaining, transfer_id"
                     " FROM points.lots WHERE account_id = ANY($1::bigint[]) AND remaining > 0"
                     " UNION ALL"
                     " SELECT 1, u.a, 0, (extract(epoch FROM x.e) * 1000000)::bigint, s.r, 0, 0"
                     " FROM unnest($2::bigint[]) AS u(a) CROSS JOIN LATERAL (SELECT expire_time"
                     " AS e FROM points.lots WHERE account_id = u.a AND remaining > 0 AND"
                     " expire_time > now() ORDER BY expire_time LIMIT 1) x CROSS JOIN LATERAL"
                     " (SELECT sum(remaining) AS r FROM points.lots WHERE account_id = u.a AND"
                     " remaining > 0 AND expire_time = x.e) s"
                     " ORDER BY 1, 2, 3",
                     (arr *[]){da, oa}, 2, &r);
    if (e != CO_OK) {
        return e;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        memrow *m = mem_of_account(b, i64(r, row, 1));
        if (m == NULL) {
            continue;
        }
        if (i64(r, row, 0) == 1) {
            m->nx_us = i64(r, row, 3);
            m->nx_pts = i64(r, row, 4);
            continue;
        }
        m->lots = grow(&b->a, m->lots, &m->caplots, m->nlots, sizeof *m->lots);
        if (m->lots == NULL) {
            PQclear(r);
            return CO_ERR_NOMEM;
        }
        lotrow *l = &m->lots[m->nlots++];
        memset(l, 0, sizeof *l);
        l->id = i64(r, row, 2);
        l->expires_us = i64(r, row, 3);
        l->points = i64(r, row, 4);
        l->remaining = l->start_remaining = i64(r, row, 5);
        l->transfer_id = i64(r, row, 6);
    }
    PQclear(r);
    return CO_OK;
}

/* ISO weekdays of earns in their program's time zone, when a campaign looks at the day. */
static co_err load_weekdays(co_pg_conn *c, batch *b)
{
    arr *ta = &b->cols[0], *za = &b->cols[1];
    arr_begin(ta);
    arr_begin(za);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i] || op->kind != PTS_OP_EARN) {
            continue;
        }
        bool needs = false;
        for (size_t k = 0; k < op->prog->snap->n_campaigns; k++) {
            needs = needs || op->prog->snap->campaigns[k]->days_of_week_mask != 0;
        }
        if (needs) {
            const char *z = prog_of(op)->time_zone;
            arr_i64(ta, op->purchase_us);
            arr_str(za, z[0] != '\0' ? z : "UTC");
            n++;
        }
    }
    if (n == 0) {
        return CO_OK;
    }
    PGresult *r;
    co_err e = query_arrays(
        c, "pts_weekdays",
        "SELECT extract(isodow FROM (timestamptz 'epoch' + t * interval '1 microsecond')"
        " AT TIME ZONE z)::int FROM unnest($1::bigint[], $2::text[])"
        " WITH ORDINALITY AS u(t, z, o) ORDER BY o",
        (arr *[]){ta, za}, 2, &r);
    if (e != CO_OK) {
        return e;
    }
    int row = 0;
    for (size_t i = 0; i < b->n && row < PQntuples(r); i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i] || op->kind != PTS_OP_EARN) {
            continue;
        }
        bool needs = false;
        for (size_t k = 0; k < op->prog->snap->n_campaigns; k++) {
            needs = needs || op->prog->snap->campaigns[k]->days_of_week_mask != 0;
        }
        if (needs) {
            b->weekday[i] = (int)i64(r, row++, 0);
        }
    }
    PQclear(r);
    return CO_OK;
}

/* What each exchanging member already exchanged today under its agreement, for daily caps: the
 * day in the source program's time zone. EXCHANGE_OUT transfers name their target in reason. */
static co_err load_exchanged_today(co_pg_conn *c, batch *b)
{
    arr *pa = &b->cols[0], *ma = &b->cols[1], *ra = &b->cols[2], *za = &b->cols[3];
    arr_begin(pa);
    arr_begin(ma);
    arr_begin(ra);
    arr_begin(za);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i] || op->kind != PTS_OP_EXCHANGE || op->agreement->daily_cap_points == 0) {
            continue;
        }
        const char *z = prog_of(op)->time_zone;
        arr_str(pa, prog_of(op)->code);
        arr_str(ma, op->member.member_id);
        arr_str(ra, co_arena_printf(&b->a, "exchange to %s", op->prog2->p->code));
        arr_str(za, z[0] != '\0' ? z : "UTC");
        n++;
    }
    if (n == 0) {
        return CO_OK;
    }
    PGresult *r;
    co_err e = query_arrays(
        c, "pts_exchanged_today",
        "SELECT (SELECT coalesce(sum(t.points), 0) FROM points.transfers t WHERE t.program = u.p"
        " AND t.member_id = u.m AND t.member_id <> '' AND t.kind = 9 AND t.reason = u.r AND"
        " t.create_time >="
        " (date_trunc('day', now() AT TIME ZONE u.z) AT TIME ZONE u.z))"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY"
        " AS u(p, m, r, z, o) ORDER BY u.o",
        (arr *[]){pa, ma, ra, za}, 4, &r);
    if (e != CO_OK) {
        return e;
    }
    int row = 0;
    for (size_t i = 0; i < b->n && row < PQntuples(r); i++) {
        pts_op *op = b->ops[i];
        if (b->live[i] && op->kind == PTS_OP_EXCHANGE && op->agreement->daily_cap_points != 0) {
            b->today[i] = i64(r, row++, 0);
        }
    }
    PQclear(r);
    return CO_OK;
}

/* For reversals: what each original was already reversed by, what the redemption took from
 * lots (and got back), and the settlement events it created. */
static co_err load_reversals(co_pg_conn *c, batch *b)
{
    arr *ia = &b->cols[0], *da = &b->cols[1];
    arr_begin(ia);
    arr_begin(da);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i] || op->kind != PTS_OP_REVERSE) {
            continue;
        }
        for (size_t k = 0; k < op->norigs; k++) {
            arr_i64(ia, op->origs[k].id);
        }
        if (op->origs[0].debit_tid != 0) {
            arr_i64(da, op->origs[0].debit_tid);
        }
        b->reversed[i] = co_arena_calloc(&b->a, op->norigs, sizeof *b->reversed[i]);
        b->origev[i] = co_arena_calloc(&b->a, op->norigs, sizeof *b->origev[i]);
        if (b->reversed[i] == NULL || b->origev[i] == NULL) {
            return CO_ERR_NOMEM;
        }
        n++;
    }
    if (n == 0) {
        return CO_OK;
    }
    PGresult *r;
    co_err e = query_arrays(c, "pts_reversed",
                            "SELECT corrects_id, sum(points) FROM points.transfers WHERE"
                            " corrects_id = ANY($1::bigint[]) AND kind = 7 GROUP BY corrects_id",
                            (arr *[]){ia}, 1, &r);
    if (e != CO_OK) {
        return e;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        for (size_t i = 0; i < b->n; i++) {
            pts_op *op = b->ops[i];
            for (size_t k = 0; b->live[i] && op->kind == PTS_OP_REVERSE && k < op->norigs; k++) {
                if (op->origs[k].id == i64(r, row, 0)) {
                    b->reversed[i][k] = i64(r, row, 1);
                }
            }
        }
    }
    PQclear(r);
    e = query_arrays(c, "pts_orig_events",
                     "SELECT transfer_id, id, kind, program, payer_partner_id, payee_partner_id,"
                     " unit_price_micros, currency FROM points.settlement_events WHERE"
                     " transfer_id = ANY($1::bigint[]) AND reverses_id IS NULL",
                     (arr *[]){ia}, 1, &r);
    if (e != CO_OK) {
        return e;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        for (size_t i = 0; i < b->n; i++) {
            pts_op *op = b->ops[i];
            for (size_t k = 0; b->live[i] && op->kind == PTS_OP_REVERSE && k < op->norigs; k++) {
                if (op->origs[k].id != i64(r, row, 0)) {
                    continue;
                }
                eventrow *ev = co_arena_calloc(&b->a, 1, sizeof *ev);
                if (ev == NULL) {
                    PQclear(r);
                    return CO_ERR_NOMEM;
                }
                ev->id = i64(r, row, 1);
                ev->kind = (int)i64(r, row, 2);
                ev->program = co_arena_strdup(&b->a, PQgetvalue(r, row, 3));
                ev->payer = co_arena_strdup(&b->a, PQgetvalue(r, row, 4));
                ev->payee = co_arena_strdup(&b->a, PQgetvalue(r, row, 5));
                ev->unit = i64(r, row, 6);
                ev->currency = co_arena_strdup(&b->a, PQgetvalue(r, row, 7));
                b->origev[i][k] = ev;
            }
        }
    }
    PQclear(r);
    e = query_arrays(c, "pts_debit_takes",
                     "SELECT coalesce(of_transfer_id, transfer_id), lot_id, sum(points)"
                     " FILTER (WHERE points > 0), -coalesce(sum(points) FILTER (WHERE points <"
                     " 0), 0) FROM points.takes WHERE transfer_id = ANY($1::bigint[]) OR"
                     " of_transfer_id = ANY($1::bigint[]) GROUP BY 1, 2 ORDER BY 1, 2",
                     (arr *[]){da}, 1, &r);
    if (e != CO_OK) {
        return e;
    }
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i] || op->kind != PTS_OP_REVERSE || op->origs[0].debit_tid == 0) {
            continue;
        }
        b->rtakes[i] = co_arena_calloc(&b->a, (size_t)PQntuples(r) + 1, sizeof *b->rtakes[i]);
        b->rreturned[i] = co_arena_calloc(&b->a, (size_t)PQntuples(r) + 1, sizeof *b->rreturned[i]);
        if (b->rtakes[i] == NULL || b->rreturned[i] == NULL) {
            PQclear(r);
            return CO_ERR_NOMEM;
        }
        for (int row = 0; row < PQntuples(r); row++) {
            if (i64(r, row, 0) == op->origs[0].debit_tid && i64(r, row, 2) > 0) {
                size_t k = b->nrtakes[i]++;
                b->rtakes[i][k].lot_id = i64(r, row, 1);
                b->rtakes[i][k].points = i64(r, row, 2);
                b->rreturned[i][k] = i64(r, row, 3);
            }
        }
    }
    PQclear(r);
    return CO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Applying operations in memory */

static xfer *xfer_add(batch *b, pts_op *op, int kind, acct *debit, acct *credit, int64_t points)
{
    b->x = grow(&b->a, b->x, &b->capx, b->nx, sizeof *b->x);
    if (b->x == NULL) {
        return NULL;
    }
    xfer *x = &b->x[b->nx++];
    memset(x, 0, sizeof *x);
    const Coalition__V1__Program *p = b->cur != NULL ? b->cur : prog_of(op);
    x->program = p->code;
    x->ch = chain_get(b, p->code);
    x->kind = kind;
    x->debit = debit;
    x->credit = credit;
    x->points = points;
    x->partner_id = op->caller;
    x->request_id = op->request_id != NULL ? op->request_id : "";
    x->member_id = "";
    x->hold_id = "";
    x->hold_ix = SIZE_MAX;
    x->currency = "";
    x->campaign_id = "";
    x->reason = "";
    x->meta = op->meta;
    x->nmeta = op->nmeta;
    debit->balance -= points;
    credit->balance += points;
    return x;
}

static bool event_add(batch *b, int kind, const pts_op *op, const char *payer, const char *payee,
                      int64_t points, int64_t unit, size_t xi)
{
    if (strcmp(payer, payee) == 0 || points == 0) {
        return true;
    }
    b->ev = grow(&b->a, b->ev, &b->capev, b->nev, sizeof *b->ev);
    if (b->ev == NULL) {
        return false;
    }
    eventrow *e = &b->ev[b->nev++];
    memset(e, 0, sizeof *e);
    const Coalition__V1__Program *p = b->cur != NULL ? b->cur : prog_of(op);
    e->kind = kind;
    e->program = p->code;
    e->payer = payer;
    e->payee = payee;
    e->currency = p->currency;
    e->points = points;
    e->unit = unit;
    e->xfer = xi;
    return true;
}

static bool take_add(batch *b, size_t xi, memrow *m, size_t lot, int64_t points, int64_t of)
{
    b->t = grow(&b->a, b->t, &b->capt, b->nt, sizeof *b->t);
    if (b->t == NULL) {
        return false;
    }
    b->t[b->nt++] = (takerow){.xfer = xi, .m = m, .lot = lot, .points = points, .of_transfer = of};
    return true;
}

/* A new lot for points credited to m by transfer xi; a negative balance eats into it. */
static bool lot_add(batch *b, memrow *m, size_t xi, int64_t points, int64_t now)
{
    m->lots = grow(&b->a, m->lots, &m->caplots, m->nlots, sizeof *m->lots);
    if (m->lots == NULL) {
        return false;
    }
    lotrow *l = &m->lots[m->nlots++];
    memset(l, 0, sizeof *l);
    l->is_new = true;
    l->xfer = xi;
    l->points = points;
    int64_t bal = m->ma->balance; /* after the credit */
    l->remaining = bal <= 0 ? 0 : (bal < points ? bal : points);
    l->expires_us = pts_expiry_us(now, m->p->expiry_months);
    return true;
}

/* Debits points from m's lots for transfer xi; false (nothing changed) on a shortfall. */
static co_err consume(batch *b, memrow *m, size_t xi, int64_t points, int64_t now)
{
    pts_lot *lots = co_arena_calloc(&b->a, m->nlots + 1, sizeof *lots);
    pts_take *takes = co_arena_calloc(&b->a, m->nlots + 1, sizeof *takes);
    if (lots == NULL || takes == NULL) {
        return CO_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->nlots; i++) {
        lots[i] = (pts_lot){.lot_id = (int64_t)i,
                            .expires_us = m->lots[i].expires_us,
                            .remaining = m->lots[i].remaining};
    }
    size_t nt = 0;
    if (pts_lots_consume(lots, m->nlots, points, now, takes, &nt) != 0) {
        return CO_ERR_FAILED_PRECONDITION;
    }
    for (size_t k = 0; k < nt; k++) {
        size_t li = (size_t)takes[k].lot_id;
        m->lots[li].remaining -= takes[k].points;
        if (!take_add(b, xi, m, li, takes[k].points, 0)) {
            return CO_ERR_NOMEM;
        }
    }
    return CO_OK;
}

/*
 * Posts a transfer of points from member m to `to`, taken from m's spendable lots. On success
 * *out is the transfer (member and balance after set). When the points are there but in lots
 * already past their expiry, nothing changes, the operation is failed and *out is NULL with
 * CO_OK; any other failure returns the error with *out NULL.
 */
static co_err debit_member(batch *b, pts_op *op, memrow *m, acct *to, int kind, int64_t points,
                           xfer **out)
{
    *out = NULL;
    size_t t0 = b->nt;
    xfer *x = xfer_add(b, op, kind, m->ma, to, points);
    if (x == NULL) {
        return CO_ERR_NOMEM;
    }
    co_err e = consume(b, m, b->nx - 1, points, op->now_us);
    if (e == CO_ERR_FAILED_PRECONDITION) {
        m->ma->balance += points;
        to->balance -= points;
        b->nx--;
        b->nt = t0;
        op_fail(op, e, "insufficient points: some of the balance has expired");
        return CO_OK;
    }
    if (e != CO_OK) {
        return e;
    }
    x->member_id = m->member_id;
    x->balance_after = m->ma->balance;
    *out = x;
    return CO_OK;
}

static size_t lot_index(const memrow *m, int64_t lot_id)
{
    for (size_t i = 0; i < m->nlots; i++) {
        if (!m->lots[i].is_new && m->lots[i].id == lot_id) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* Gives back `points` of hold h's takes (of which returned[k] already came back) to m's
 * lots, recorded on transfer xi. */
static co_err giveback_returned(batch *b, memrow *m, const holdrow *h, size_t xi, int64_t points,
                                const int64_t *returned)
{
    pts_take *out = co_arena_calloc(&b->a, h->ntakes + 1, sizeof *out);
    if (out == NULL) {
        return CO_ERR_NOMEM;
    }
    size_t nout = 0;
    /* A capture is final: points it posted are not given back, so only `points` return. */
    if (pts_takes_giveback(h->takes, returned, h->ntakes, points, out, &nout) != CO_OK) {
        return CO_ERR_INTERNAL;
    }
    for (size_t k = 0; k < nout; k++) {
        size_t li = lot_index(m, out[k].lot_id);
        if (li == SIZE_MAX) {
            /* a lot emptied before this batch: it is not loaded with the open ones */
            m->lots = grow(&b->a, m->lots, &m->caplots, m->nlots, sizeof *m->lots);
            if (m->lots == NULL) {
                return CO_ERR_NOMEM;
            }
            li = m->nlots++;
            memset(&m->lots[li], 0, sizeof m->lots[li]);
            m->lots[li].id = out[k].lot_id;
            m->lots[li].points = INT64_MAX; /* unknown here; the CHECK in the table bounds it */
            m->lots[li].expires_us = PTS_NEVER;
        }
        m->lots[li].remaining += out[k].points;
        if (!take_add(b, xi, m, li, -out[k].points, h->hold_transfer_id)) {
            return CO_ERR_NOMEM;
        }
    }
    return CO_OK;
}

static co_err giveback(batch *b, memrow *m, const holdrow *h, size_t xi, int64_t points)
{
    return giveback_returned(b, m, h, xi, points, NULL);
}

static int32_t tier_bps(const Coalition__V1__Program *p, const char *tier)
{
    for (size_t i = 0; i < p->n_tiers; i++) {
        if (strcmp(p->tiers[i]->code, tier) == 0) {
            return p->tiers[i]->earn_multiplier_bps;
        }
    }
    return 0;
}

/* The position of tier code in p's ordered tiers; SIZE_MAX if it is not one of them. */
static size_t tier_index(const Coalition__V1__Program *p, const char *code)
{
    for (size_t i = 0; i < p->n_tiers; i++) {
        if (strcmp(p->tiers[i]->code, code) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* The highest tier m's qualifying points (or spend) reach; p has tiers. */
static size_t tier_qualified(const Coalition__V1__Program *p, const memrow *m)
{
    bool spend = p->tier_basis == COALITION__V1__TIER_BASIS__TIER_BASIS_SPEND;
    int64_t have = spend ? m->q_spend : m->q_points;
    size_t best = 0;
    for (size_t i = 0; i < p->n_tiers; i++) {
        int64_t need = spend ? p->tiers[i]->min_spend_micros : p->tiers[i]->min_qualifying_points;
        if (have >= need) {
            best = i;
        }
    }
    return best;
}

/* us plus one calendar year (UTC); 29 February goes to 28 February. */
static int64_t add_year(int64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        return us + INT64_C(365) * 86400 * 1000000;
    }
    tm.tm_year++;
    if (tm.tm_mon == 1 && tm.tm_mday == 29) {
        tm.tm_mday = 28;
    }
    return (int64_t)timegm(&tm) * 1000000 + us % 1000000;
}

/* m's tier becomes tier k of p as of now; the next review is a year on (none for the entry
 * tier, which cannot go down). */
static void tier_set(const Coalition__V1__Program *p, memrow *m, size_t k, int64_t now)
{
    m->tier = p->tiers[k]->code;
    m->tier_since_us = now;
    m->review_us = k > 0 ? add_year(now) : 0;
    m->dirty = true;
}

/* The tier m qualifies for now; upgrades at once, never down here (downgrades wait for the
 * anniversary). Returns true when it changed. */
static bool tier_update(const Coalition__V1__Program *p, memrow *m, int64_t now)
{
    if (p->n_tiers == 0) {
        return false;
    }
    size_t best = tier_qualified(p, m);
    size_t cur = tier_index(p, m->tier);
    if (cur != SIZE_MAX && cur >= best) {
        return false;
    }
    bool changed = cur != SIZE_MAX || m->tier[0] != '\0';
    tier_set(p, m, best, now);
    return changed || best > 0;
}

/* TIERS: each member due for review drops at most one tier if its qualifying points (or spend)
 * no longer reach its tier, and is reviewed again a year after; one that still qualifies keeps
 * its tier until the next anniversary of the last change. */
static co_err apply_tiers(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    const Coalition__V1__Program *p = prog_of(op);
    int64_t down = 0;
    for (size_t k = 0; k < b->nexpm[i]; k++) {
        memrow *m = b->expm[i][k];
        if (m->review_us == 0 || m->review_us > op->as_of_us) {
            continue; /* changed since it was listed */
        }
        size_t cur = tier_index(p, m->tier);
        if (p->n_tiers == 0 || cur == SIZE_MAX || cur == 0) {
            m->review_us = 0; /* no tier below it (or tiers reconfigured): nothing to review */
            m->dirty = true;
            continue;
        }
        size_t best = tier_qualified(p, m);
        if (best > cur) {
            tier_set(p, m, best, op->now_us);
        } else if (best < cur) {
            tier_set(p, m, cur - 1, op->now_us);
            down++;
        } else {
            while (m->review_us <= op->as_of_us) {
                m->review_us = add_year(m->review_us);
            }
            m->dirty = true;
        }
    }
    b->opval[i] = down;
    b->tier_changed[i] = (int)down;
    return CO_OK;
}

static int32_t membership_bps(const pts_op *op)
{
    int32_t best = 0;
    const Coalition__Internal__V1__GetProgramSnapshotResponse *s = op->prog->snap;
    for (size_t i = 0; i < op->member.nplans; i++) {
        if (op->member.plans[i].end_us <= op->now_us) {
            continue;
        }
        for (size_t k = 0; k < s->n_membership_plans; k++) {
            if (strcmp(s->membership_plans[k]->plan_id, op->member.plans[i].plan_id) == 0 &&
                s->membership_plans[k]->earn_multiplier_bps > best) {
                best = s->membership_plans[k]->earn_multiplier_bps;
            }
        }
    }
    return best;
}

static const char *bonus_reason(pts_bonus_reason r)
{
    switch (r) {
    case PTS_BONUS_TIER:
        return "tier-multiplier";
    case PTS_BONUS_MEMBERSHIP:
        return "membership-multiplier";
    case PTS_BONUS_CAMPAIGN:
        return "campaign";
    case PTS_BONUS_CHANCE:
        return "chance";
    case PTS_BONUS_WELCOME:
        return "welcome";
    }
    return "bonus";
}

static co_err apply_earn(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    const Coalition__V1__Program *p = prog_of(op);
    memrow *m = b->opm[i];
    pts_earn_in in;
    memset(&in, 0, sizeof in);
    in.program = p;
    in.campaigns = op->prog->snap->campaigns;
    in.ncampaigns = op->prog->snap->n_campaigns;
    in.seeds = op->prog->snap->campaign_seeds;
    in.nseeds = op->prog->snap->n_campaign_seeds;
    in.issuer_partner_id = op->caller;
    in.request_id = op->request_id;
    in.amount_micros = op->earn->amount != NULL ? op->earn->amount->amount_micros : 0;
    in.visits = op->earn->visits;
    in.category = op->earn->category;
    in.purchase_time_us = op->purchase_us;
    in.iso_weekday = b->weekday[i] > 0 ? b->weekday[i] : 1;
    /* A member without a tier yet is in the entry tier. */
    in.tier_multiplier_bps =
        tier_bps(p, m->tier[0] != '\0' ? m->tier : (p->n_tiers > 0 ? p->tiers[0]->code : ""));
    in.membership_multiplier_bps = membership_bps(op);
    in.first_earn = m->first_earn_us == 0;
    pts_earn_out *o = &b->earn[i];
    char why[200];
    co_err e = pts_earn_compute(&in, o, why, sizeof why);
    if (e != CO_OK) {
        op_fail(op, e, "%s", why);
        return CO_OK;
    }
    /* A prepaid issuer may not go beyond its funded block. */
    acct *iss = acct_get(b, p->code, AK_ISSUANCE, op->caller);
    acct *own = acct_get(b, p->code, AK_ISSUANCE, p->owner_partner_id);
    if (iss == NULL || own == NULL) {
        return CO_ERR_NOMEM;
    }
    int64_t by_caller = o->base_points;
    for (size_t k = 0; k < o->nbonuses; k++) {
        if (strcmp(o->bonuses[k].sponsor_partner_id, op->caller) == 0) {
            by_caller += o->bonuses[k].points;
        }
    }
    if (iss->guarded && iss->balance < by_caller) {
        op_fail(op, CO_ERR_FAILED_PRECONDITION,
                "prepaid block exhausted: %" PRId64 " points remaining for partner \"%s\", %" PRId64
                " needed",
                iss->balance < 0 ? 0 : iss->balance, op->caller, by_caller);
        return CO_OK;
    }
    b->x0[i] = b->nx;
    bool postpaid = !is_prepaid(p);
    if (o->base_points > 0) {
        xfer *x = xfer_add(b, op, KIND(EARN), iss, m->ma, o->base_points);
        if (x == NULL) {
            return CO_ERR_NOMEM;
        }
        x->member_id = m->member_id;
        x->balance_after = m->ma->balance;
        x->has_purchase = op->earn->amount != NULL;
        x->purchase = in.amount_micros;
        x->currency = p->currency;
        x->version = op->prog->version;
        if (!lot_add(b, m, b->nx - 1, o->base_points, op->now_us)) {
            return CO_ERR_NOMEM;
        }
        if (postpaid &&
            !event_add(b, COALITION__V1__SETTLEMENT_EVENT_KIND__SETTLEMENT_EVENT_KIND_ISSUANCE, op,
                       op->caller, p->owner_partner_id, o->base_points, p->issue_price_micros,
                       b->nx - 1)) {
            return CO_ERR_NOMEM;
        }
    }
    for (size_t k = 0; k < o->nbonuses; k++) {
        const pts_bonus *bo = &o->bonuses[k];
        acct *from = strcmp(bo->sponsor_partner_id, op->caller) == 0 ? iss : own;
        xfer *x = xfer_add(b, op, KIND(BONUS), from, m->ma, bo->points);
        if (x == NULL) {
            return CO_ERR_NOMEM;
        }
        x->member_id = m->member_id;
        x->balance_after = m->ma->balance;
        x->campaign_id = bo->campaign_id != NULL ? bo->campaign_id : "";
        x->reason = bonus_reason(bo->reason);
        x->version = op->prog->version;
        if (!lot_add(b, m, b->nx - 1, bo->points, op->now_us)) {
            return CO_ERR_NOMEM;
        }
        if (postpaid &&
            !event_add(b, COALITION__V1__SETTLEMENT_EVENT_KIND__SETTLEMENT_EVENT_KIND_ISSUANCE, op,
                       bo->sponsor_partner_id, p->owner_partner_id, bo->points,
                       p->issue_price_micros, b->nx - 1)) {
            return CO_ERR_NOMEM;
        }
    }
    b->x1[i] = b->nx;
    m->dirty = true;
    m->lifetime += o->total_points;
    if (o->base_points > 0) {
        if (m->first_earn_us == 0) {
            m->first_earn_us = op->now_us;
        }
        /* The EARN transfer qualifies, with its purchase (no transfer, nothing qualifies). */
        m->q_points += o->base_points;
        m->q_spend += in.amount_micros;
        if (m->q_oldest_us == 0) {
            m->q_oldest_us = op->now_us;
        }
    }
    b->tier_changed[i] = tier_update(p, m, op->now_us);
    return CO_OK;
}

static co_err apply_credit(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    const Coalition__V1__Program *p = prog_of(op);
    memrow *m = b->opm[i];
    bool adjust = op->credit_kind == KIND(ADJUST);
    acct *from = adjust ? acct_get(b, p->code, AK_ADJUST, NULL)
                        : acct_get(b, p->code, AK_ISSUANCE, op->caller);
    if (from == NULL) {
        return CO_ERR_NOMEM;
    }
    if (op->birthday_year != 0 && m->birthday_year >= op->birthday_year) {
        op_fail(op, CO_ERR_ALREADY_EXISTS, "birthday bonus of %d already credited",
                op->birthday_year);
        return CO_OK;
    }
    if (from->guarded && from->balance < op->points) {
        op_fail(op, CO_ERR_FAILED_PRECONDITION,
                "prepaid block exhausted: %" PRId64 " points remaining for partner \"%s\"",
                from->balance < 0 ? 0 : from->balance, op->caller);
        return CO_OK;
    }
    b->x0[i] = b->nx;
    xfer *x = xfer_add(b, op, adjust ? KIND(ADJUST) : KIND(BONUS), from, m->ma, op->points);
    if (x == NULL || !lot_add(b, m, b->nx - 1, op->points, op->now_us)) {
        return CO_ERR_NOMEM;
    }
    x->member_id = m->member_id;
    x->balance_after = m->ma->balance;
    x->reason = op->reason;
    x->version = op->prog->version;
    b->x1[i] = b->nx;
    m->dirty = true;
    if (!adjust) {
        m->lifetime += op->points; /* EARN and BONUS points; an ADJUST is neither */
    }
    if (op->birthday_year != 0) {
        m->birthday_year = op->birthday_year;
    }
    if (!adjust && !is_prepaid(p) &&
        !event_add(b, COALITION__V1__SETTLEMENT_EVENT_KIND__SETTLEMENT_EVENT_KIND_ISSUANCE, op,
                   op->caller, p->owner_partner_id, op->points, p->issue_price_micros, b->nx - 1)) {
        return CO_ERR_NOMEM;
    }
    if (m->tier[0] == '\0') {
        tier_update(p, m, op->now_us);
    }
    return CO_OK;
}

static co_err apply_redeem(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    const Coalition__V1__Program *p = prog_of(op);
    memrow *m = b->opm[i];
    if (m->ma->balance < op->points) {
        op_fail(op, CO_ERR_FAILED_PRECONDITION,
                "insufficient points: %" PRId64 " available, %" PRId64 " asked",
                m->ma->balance < 0 ? 0 : m->ma->balance, op->points);
        return CO_OK;
    }
    acct *to = op->hold ? m->ha : acct_get(b, p->code, AK_REDEMPTION, op->caller);
    if (to == NULL) {
        return CO_ERR_NOMEM;
    }
    b->x0[i] = b->nx;
    xfer *x;
    co_err e = debit_member(b, op, m, to, op->hold ? KIND(HOLD) : KIND(REDEEM), op->points, &x);
    if (x == NULL) {
        return e;
    }
    if (op->hold) {
        holdrow *h = co_arena_calloc(&b->a, 1, sizeof *h);
        if (h == NULL) {
            return CO_ERR_NOMEM;
        }
        h->is_new = true;
        h->program = p->code;
        h->member_id = m->member_id;
        h->partner_id = op->caller;
        h->points = op->points;
        h->status = PTS_HOLD_ACTIVE;
        h->create_us = op->now_us;
        h->expire_us = op->now_us + op->hold_timeout_s * INT64_C(1000000);
        h->xfer = b->nx - 1;
        b->holds[b->nholds++] = h;
        b->oph[i] = h;
        x->hold_ix = b->nholds - 1;
    } else if (!event_add(b, COALITION__V1__SETTLEMENT_EVENT_KIND__SETTLEMENT_EVENT_KIND_REDEMPTION,
                          op, p->owner_partner_id, op->caller, op->points, p->point_value_micros,
                          b->nx - 1)) {
        return CO_ERR_NOMEM;
    }
    b->x1[i] = b->nx;
    m->dirty = m->dirty || !m->exists;
    if (m->tier[0] == '\0') {
        tier_update(p, m, op->now_us);
    }
    return CO_OK;
}

static co_err apply_hold_step(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    const Coalition__V1__Program *p = prog_of(op);
    memrow *m = b->opm[i];
    holdrow *h = b->oph[i];
    bool timeout = op->request_id == NULL || op->request_id[0] == '\0';
    if (!timeout && strcmp(h->partner_id, op->caller) != 0 &&
        strcmp(op->caller, CO_OPERATOR_ID) != 0) {
        op_fail(op, CO_ERR_PERMISSION_DENIED, "hold \"%s\" was placed by another partner",
                h->hold_id);
        return CO_OK;
    }
    pts_hold_step_out so;
    char why[200];
    pts_hold_event ev = op->kind == PTS_OP_CAPTURE ? PTS_HOLD_EV_CAPTURE
                        : timeout                  ? PTS_HOLD_EV_TIMEOUT
                                                   : PTS_HOLD_EV_VOID;
    co_err e = pts_hold_step((pts_hold_status)h->status, h->points, h->expire_us, op->now_us, ev,
                             op->points, &so, why, sizeof why);
    if (e != CO_OK) {
        op_fail(op, e, "%s", why);
        return CO_OK;
    }
    b->x0[i] = b->nx;
    if (so.captured > 0) {
        acct *to = acct_get(b, p->code, AK_REDEMPTION, h->partner_id);
        xfer *x = to != NULL ? xfer_add(b, op, KIND(CAPTURE), m->ha, to, so.captured) : NULL;
        if (x == NULL) {
            return CO_ERR_NOMEM;
        }
        x->member_id = m->member_id;
        x->balance_after = m->ma->balance;
        x->hold_id = h->hold_id;
        x->corrects_id = h->hold_transfer_id;
        if (!event_add(b, COALITION__V1__SETTLEMENT_EVENT_KIND__SETTLEMENT_EVENT_KIND_REDEMPTION,
                       op, p->owner_partner_id, h->partner_id, so.captured, p->point_value_micros,
                       b->nx - 1)) {
            return CO_ERR_NOMEM;
        }
        b->opval[i] = so.captured;
    }
    if (so.released > 0) {
        xfer *x = xfer_add(b, op, KIND(VOID), m->ha, m->ma, so.released);
        if (x == NULL) {
            return CO_ERR_NOMEM;
        }
        x->member_id = m->member_id;
        x->balance_after = m->ma->balance;
        x->hold_id = h->hold_id;
        x->corrects_id = h->hold_transfer_id;
        x->reason = timeout ? "hold-timeout" : "";
        if ((e = giveback(b, m, h, b->nx - 1, so.released)) != CO_OK) {
            return e;
        }
    }
    b->x1[i] = b->nx;
    h->status = (int)so.status;
    h->captured = so.captured;
    h->close_us = op->now_us;
    h->dirty = true;
    return CO_OK;
}

static co_err apply_fund(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    const Coalition__V1__Program *p = prog_of(op);
    acct *adj = acct_get(b, p->code, AK_ADJUST, NULL);
    acct *iss = acct_get(b, p->code, AK_ISSUANCE, op->fund_partner_id);
    if (adj == NULL || iss == NULL) {
        return CO_ERR_NOMEM;
    }
    if (iss->balance > INT64_MAX / 2 - op->points) {
        op_fail(op, CO_ERR_INVALID_ARGUMENT, "points: the block would overflow the account");
        return CO_OK;
    }
    b->x0[i] = b->nx;
    xfer *x = xfer_add(b, op, KIND(ADJUST), adj, iss, op->points);
    if (x == NULL) {
        return CO_ERR_NOMEM;
    }
    x->reason = op->reason;
    b->x1[i] = b->nx;
    b->opval[i] = iss->balance;
    if (!event_add(b, COALITION__V1__SETTLEMENT_EVENT_KIND__SETTLEMENT_EVENT_KIND_FUNDING, op,
                   op->fund_partner_id, p->owner_partner_id, op->points, p->issue_price_micros,
                   b->nx - 1)) {
        return CO_ERR_NOMEM;
    }
    return CO_OK;
}

/* EXCHANGE_OUT in the source program, EXCHANGE_IN in the target, in this one transaction. */
static co_err apply_exchange(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    const Coalition__V1__Program *src = prog_of(op), *dst = op->prog2->p;
    const Coalition__V1__ExchangeAgreement *ag = op->agreement;
    memrow *from = b->opm[i], *to = b->opm2[i];
    pts_agreement pa = {.enabled = ag->enabled,
                        .rate_num = ag->rate != NULL ? ag->rate->num : 0,
                        .rate_den = ag->rate != NULL ? ag->rate->den : 0,
                        .fee_bps = ag->fee_bps,
                        .min_points = ag->min_points,
                        .max_points = ag->max_points,
                        .daily_cap_points = ag->daily_cap_points};
    int64_t fee = 0, credited = 0;
    char why[200];
    co_err e = pts_exchange_compute(&pa, op->points, b->today[i], &fee, &credited, why, sizeof why);
    if (e != CO_OK) {
        op_fail(op, e == CO_ERR_INTERNAL ? CO_ERR_FAILED_PRECONDITION : e, "%s", why);
        return CO_OK;
    }
    if (from->ma->balance < op->points) {
        op_fail(op, CO_ERR_FAILED_PRECONDITION,
                "insufficient points: %" PRId64 " available, %" PRId64 " asked",
                from->ma->balance < 0 ? 0 : from->ma->balance, op->points);
        return CO_OK;
    }
    acct *xout = acct_get(b, src->code, AK_EXCHANGE, NULL);
    acct *xin = acct_get(b, dst->code, AK_EXCHANGE, NULL);
    if (xout == NULL || xin == NULL) {
        return CO_ERR_NOMEM;
    }
    b->x0[i] = b->nx;
    xfer *x;
    e = debit_member(b, op, from, xout, KIND(EXCHANGE_OUT), op->points, &x);
    if (x == NULL) {
        return e;
    }
    x->reason = co_arena_printf(&b->a, "exchange to %s", dst->code);
    b->cur = dst;
    xfer *y = xfer_add(b, op, KIND(EXCHANGE_IN), xin, to->ma, credited);
    bool ok = y != NULL && x->reason != NULL && lot_add(b, to, b->nx - 1, credited, op->now_us) &&
              event_add(b, COALITION__V1__SETTLEMENT_EVENT_KIND__SETTLEMENT_EVENT_KIND_EXCHANGE, op,
                        src->owner_partner_id, dst->owner_partner_id, credited,
                        dst->issue_price_micros, b->nx - 1);
    b->cur = NULL;
    if (!ok) {
        return CO_ERR_NOMEM;
    }
    y->member_id = to->member_id;
    y->balance_after = to->ma->balance;
    y->reason = co_arena_printf(&b->a, "exchange from %s", src->code);
    y->version = op->prog2->version;
    b->x1[i] = b->nx;
    b->opval[i] = fee;
    from->dirty = from->dirty || !from->exists;
    to->dirty = to->dirty || !to->exists;
    if (to->tier[0] == '\0') {
        tier_update(dst, to, op->now_us);
    }
    return y->reason != NULL ? CO_OK : CO_ERR_NOMEM;
}

static bool is_credit_kind(int kind)
{
    return kind == KIND(EARN) || kind == KIND(BONUS) || kind == KIND(ADJUST);
}

/* Reverses what is asked of the first original and, with bonuses, their share of the rest. */
static co_err apply_reverse(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    memrow *m = b->opm[i];
    const pts_orig *o = &op->origs[0];
    int64_t done = b->reversed[i][0];
    int64_t left = o->points - done;
    if (left <= 0) {
        op_fail(op, CO_ERR_FAILED_PRECONDITION, "transfer tr-%" PRId64 " is already fully reversed",
                o->id);
        return CO_OK;
    }
    int64_t p = op->points == 0 ? left : op->points;
    if (p > left) {
        op_fail(op, CO_ERR_INVALID_ARGUMENT,
                "invalid field \"points\": at most %" PRId64 " of transfer tr-%" PRId64
                " are left to reverse",
                left, o->id);
        return CO_OK;
    }
    b->x0[i] = b->nx;
    for (size_t k = 0; k < op->norigs; k++) {
        const pts_orig *t = &op->origs[k];
        int64_t amount = p;
        if (k > 0) {
            int64_t share = pts_proportional(t->points, done + p, o->points) -
                            pts_proportional(t->points, done, o->points);
            int64_t bonus_left = t->points - b->reversed[i][k];
            amount = share < bonus_left ? share : bonus_left;
        }
        if (amount <= 0) {
            continue;
        }
        /* The reversal runs the other way: credit the original debit account. */
        acct *to = acct_named(b, m->program, t->debit);
        acct *from = acct_named(b, m->program, t->credit);
        if (to == NULL || from == NULL) {
            return CO_ERR_NOMEM;
        }
        bool credit = is_credit_kind(t->kind);
        if (credit) {
            /* points leave the member: from the transfer's own lot first, then the others;
             * what the lots cannot cover leaves the member negative */
            m->ma->neg_ok = true;
        }
        xfer *x =
            xfer_add(b, op, KIND(REVERSE), credit ? m->ma : from, credit ? to : m->ma, amount);
        if (x == NULL) {
            return CO_ERR_NOMEM;
        }
        size_t xi = b->nx - 1;
        x->member_id = m->member_id;
        x->corrects_id = t->id;
        x->reason = op->reason;
        if (credit) {
            int64_t need = amount;
            for (size_t l = 0; l < m->nlots && need > 0; l++) {
                lotrow *lot = &m->lots[l];
                if (!lot->is_new && lot->transfer_id == t->id && lot->remaining > 0) {
                    int64_t take = lot->remaining < need ? lot->remaining : need;
                    lot->remaining -= take;
                    need -= take;
                    if (!take_add(b, xi, m, l, take, 0)) {
                        return CO_ERR_NOMEM;
                    }
                }
            }
            int64_t avail = 0;
            for (size_t l = 0; l < m->nlots; l++) {
                avail += m->lots[l].expires_us > op->now_us ? m->lots[l].remaining : 0;
            }
            int64_t from_lots = need < avail ? need : avail;
            if (from_lots > 0) {
                co_err e = consume(b, m, xi, from_lots, op->now_us);
                if (e != CO_OK) {
                    return e == CO_ERR_FAILED_PRECONDITION ? CO_ERR_INTERNAL : e;
                }
            }
            if (t->kind != KIND(ADJUST)) {
                m->lifetime -= amount;
                m->dirty = true;
            }
            if (t->kind == KIND(EARN) && t->create_us >= m->window_us) {
                /* what the reversed part of a qualifying earn no longer qualifies for */
                int64_t before = b->reversed[i][k];
                m->q_points -= amount;
                m->q_spend -= pts_proportional(t->purchase_micros, before + amount, t->points) -
                              pts_proportional(t->purchase_micros, before, t->points);
            }
        } else {
            /* a redemption given back: to the lots its debit took from */
            holdrow h;
            memset(&h, 0, sizeof h);
            h.hold_transfer_id = t->debit_tid;
            h.takes = b->rtakes[i];
            h.ntakes = b->nrtakes[i];
            co_err e = giveback_returned(b, m, &h, xi, amount, b->rreturned[i]);
            if (e != CO_OK) {
                return e;
            }
        }
        x->balance_after = m->ma->balance;
        /* the money obligation it created, offset */
        const eventrow *ev = b->origev[i] != NULL ? b->origev[i][k] : NULL;
        if (ev != NULL) {
            b->ev = grow(&b->a, b->ev, &b->capev, b->nev, sizeof *b->ev);
            if (b->ev == NULL) {
                return CO_ERR_NOMEM;
            }
            eventrow *ne = &b->ev[b->nev++];
            *ne = *ev;
            ne->points = -amount;
            ne->xfer = xi;
            ne->reverses_id = ev->id;
            ne->id = 0;
        }
    }
    b->x1[i] = b->nx;
    if (b->x1[i] == b->x0[i]) {
        op_fail(op, CO_ERR_FAILED_PRECONDITION, "nothing left to reverse");
    }
    return CO_OK;
}

/* EXPIRE: what is left of each expired lot moves to the expiry account, one transfer per
 * member. */
static co_err apply_expire(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    acct *exp = acct_get(b, prog_of(op)->code, AK_EXPIRY, NULL);
    if (exp == NULL) {
        return CO_ERR_NOMEM;
    }
    b->x0[i] = b->nx;
    int64_t points = 0, lots = 0, members = 0;
    for (size_t k = 0; k < b->nexpm[i]; k++) {
        memrow *m = b->expm[i][k];
        int64_t sum = 0;
        for (size_t l = 0; l < m->nlots; l++) {
            if (!m->lots[l].is_new && m->lots[l].remaining > 0 &&
                m->lots[l].expires_us <= op->as_of_us) {
                sum += m->lots[l].remaining;
            }
        }
        /* lots hold the spendable balance; never take a member below 0 */
        int64_t amount = m->ma->balance < sum ? (m->ma->balance > 0 ? m->ma->balance : 0) : sum;
        if (amount <= 0) {
            continue;
        }
        xfer *x = xfer_add(b, op, KIND(EXPIRE), m->ma, exp, amount);
        if (x == NULL) {
            return CO_ERR_NOMEM;
        }
        size_t xi = b->nx - 1;
        int64_t need = amount;
        for (size_t l = 0; l < m->nlots && need > 0; l++) {
            lotrow *lot = &m->lots[l];
            if (lot->is_new || lot->remaining <= 0 || lot->expires_us > op->as_of_us) {
                continue;
            }
            int64_t take = lot->remaining < need ? lot->remaining : need;
            lot->remaining -= take;
            need -= take;
            lots++;
            if (!take_add(b, xi, m, l, take, 0)) {
                return CO_ERR_NOMEM;
            }
        }
        x->member_id = m->member_id;
        x->balance_after = m->ma->balance;
        x->reason = "expiry";
        points += amount;
        members++;
    }
    b->x1[i] = b->nx;
    b->opval[i] = points;
    b->today[i] = lots;
    b->tier_changed[i] = (int)members;
    return CO_OK;
}

/* A coupon code: 12 characters of Crockford base32 from 60 random bits. */
static bool coupon_code(char out[13])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint8_t rnd[8];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        return false;
    }
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) {
        v = v << 8 | rnd[k];
    }
    for (int k = 0; k < 12; k++) {
        out[k] = alphabet[v & 31];
        v >>= 5;
    }
    out[12] = '\0';
    return true;
}

/* REWARD: one REDEEM of points_cost x quantity to the payee, stock counted, coupons issued. */
static co_err apply_reward(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    const Coalition__V1__Program *p = prog_of(op);
    const Coalition__V1__Reward *rw = op->reward;
    memrow *m = b->opm[i];
    int64_t cost = 0;
    if (!co_mul64(rw->points_cost, op->quantity, &cost) || cost > INT64_C(1000000000)) {
        op_fail(op, CO_ERR_INVALID_ARGUMENT,
                "invalid field \"quantity\": the reward would cost more than 1000000000 points");
        return CO_OK;
    }
    struct rewardrow *stock = NULL;
    for (size_t k = 0; k < b->nrewards; k++) {
        if (strcmp(b->rewards[k].reward_id, rw->reward_id) == 0) {
            stock = &b->rewards[k];
        }
    }
    if (rw->stock_limited && (stock == NULL || rw->stock - stock->redeemed < op->quantity)) {
        int64_t left = stock != NULL ? rw->stock - stock->redeemed : 0;
        op_fail(op, CO_ERR_FAILED_PRECONDITION,
                "reward \"%s\" is out of stock: %" PRId64 " left, %d asked", rw->reward_id,
                left < 0 ? 0 : left, (int)op->quantity);
        return CO_OK;
    }
    if (m->ma->balance < cost) {
        op_fail(op, CO_ERR_FAILED_PRECONDITION,
                "insufficient points: %" PRId64 " available, %" PRId64 " needed",
                m->ma->balance < 0 ? 0 : m->ma->balance, cost);
        return CO_OK;
    }
    const char *payee = reward_payee(op);
    acct *to = acct_get(b, p->code, AK_REDEMPTION, payee);
    if (to == NULL) {
        return CO_ERR_NOMEM;
    }
    b->x0[i] = b->nx;
    xfer *x;
    co_err e = debit_member(b, op, m, to, KIND(REDEEM), cost, &x);
    if (x == NULL) {
        return e;
    }
    x->reason = co_arena_printf(&b->a, "reward %s", rw->reward_id);
    if (x->reason == NULL ||
        !event_add(b, COALITION__V1__SETTLEMENT_EVENT_KIND__SETTLEMENT_EVENT_KIND_REDEMPTION, op,
                   p->owner_partner_id, payee, cost, p->point_value_micros, b->nx - 1)) {
        return CO_ERR_NOMEM;
    }
    b->x1[i] = b->nx;
    if (stock != NULL) {
        stock->redeemed += op->quantity;
    }
    if (rw->kind == COALITION__V1__REWARD_KIND__REWARD_KIND_COUPON) {
        int32_t days = rw->coupon_valid_days > 0 ? rw->coupon_valid_days : 365;
        for (int32_t k = 0; k < op->quantity; k++) {
            b->coupons = grow(&b->a, b->coupons, &b->capcoupons, b->ncoupons, sizeof *b->coupons);
            if (b->coupons == NULL) {
                return CO_ERR_NOMEM;
            }
            struct couponrow *cp = &b->coupons[b->ncoupons++];
            if (!coupon_code(cp->code)) {
                return CO_ERR_INTERNAL;
            }
            cp->reward_id = rw->reward_id;
            cp->program = p->code;
            cp->member_id = m->member_id;
            cp->partner_id = rw->partner_id[0] != '\0' ? rw->partner_id : p->owner_partner_id;
            cp->issue_us = op->now_us;
            cp->expire_us = op->now_us + (int64_t)days * 86400 * INT64_C(1000000);
            cp->xfer = b->nx - 1;
        }
    }
    b->opval[i] = (int64_t)b->ncoupons - op->quantity; /* index of its first coupon */
    return CO_OK;
}

/* Snapshot of the mutable batch state, to undo an operation that failed halfway (only on
 * out-of-memory; business failures are detected before anything changes). */
static co_err apply_all(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (!b->live[i]) {
            continue;
        }
        pts_op *op = b->ops[i];
        op->err = CO_OK;
        co_err e = CO_OK;
        switch (op->kind) {
        case PTS_OP_EARN:
            e = apply_earn(b, i);
            break;
        case PTS_OP_CREDIT:
            e = apply_credit(b, i);
            break;
        case PTS_OP_REDEEM:
            e = apply_redeem(b, i);
            break;
        case PTS_OP_CAPTURE:
        case PTS_OP_VOID:
            e = apply_hold_step(b, i);
            break;
        case PTS_OP_FUND:
            e = apply_fund(b, i);
            break;
        case PTS_OP_EXCHANGE:
            e = apply_exchange(b, i);
            break;
        case PTS_OP_REVERSE:
            e = apply_reverse(b, i);
            break;
        case PTS_OP_EXPIRE:
            e = apply_expire(b, i);
            break;
        case PTS_OP_TIERS:
            e = apply_tiers(b, i);
            break;
        case PTS_OP_REWARD:
            e = apply_reward(b, i);
            break;
        }
        if (e != CO_OK) {
            return e; /* the whole batch reruns op by op */
        }
    }
    return CO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Responses */

static Coalition__V1__Transfer *xfer_pb(batch *b, const xfer *x)
{
    co_arena *a = &b->a;
    Coalition__V1__Transfer *t = co_arena_alloc(a, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    coalition__v1__transfer__init(t);
    char id[32];
    pts_transfer_id(x->id, id, sizeof id);
    t->transfer_id = co_arena_strdup(a, id);
    t->program_code = (char *)x->program;
    t->kind = (Coalition__V1__TransferKind)x->kind;
    t->debit_account = (char *)x->debit->name;
    t->credit_account = (char *)x->credit->name;
    t->points = x->points;
    t->partner_id = (char *)x->partner_id;
    t->request_id = (char *)x->request_id;
    t->member_id = (char *)x->member_id;
    t->member_balance_after = x->balance_after;
    if (x->corrects_id != 0) {
        pts_transfer_id(x->corrects_id, id, sizeof id);
        t->corrects_transfer_id = co_arena_strdup(a, id);
    }
    t->hold_id = (char *)x->hold_id;
    if (x->has_purchase) {
        t->purchase_amount = co_arena_alloc(a, sizeof *t->purchase_amount);
        if (t->purchase_amount == NULL) {
            return NULL;
        }
        coalition__v1__money__init(t->purchase_amount);
        t->purchase_amount->amount_micros = x->purchase;
        t->purchase_amount->currency = (char *)x->currency;
    }
    t->campaign_id = (char *)x->campaign_id;
    t->reason = (char *)x->reason;
    t->program_version = x->version;
    if (x->nmeta > 0) {
        t->metadata = co_arena_calloc(a, x->nmeta, sizeof *t->metadata);
        if (t->metadata == NULL) {
            return NULL;
        }
        for (size_t k = 0; k < x->nmeta; k++) {
            Coalition__V1__Transfer__MetadataEntry *me = co_arena_alloc(a, sizeof *me);
            if (me == NULL) {
                return NULL;
            }
            coalition__v1__transfer__metadata_entry__init(me);
            me->key = (char *)x->meta[2 * k];
            me->value = (char *)x->meta[2 * k + 1];
            t->metadata[k] = me;
        }
        t->n_metadata = x->nmeta;
    }
    t->create_time = co_timestamp(a, b->ops[0]->now_us);
    t->sequence = x->seq;
    char *h = co_arena_alloc(a, 65);
    if (h == NULL || t->create_time == NULL) {
        return NULL;
    }
    pts_hex(x->hash, 32, h);
    t->hash = h;
    return t;
}

static Coalition__V1__Money *money(co_arena *a, int64_t micros, const char *cur)
{
    Coalition__V1__Money *mo = co_arena_alloc(a, sizeof *mo);
    if (mo != NULL) {
        coalition__v1__money__init(mo);
        mo->amount_micros = micros;
        mo->currency = (char *)cur;
    }
    return mo;
}

static Coalition__V1__Balance *balance_pb(batch *b, const pts_op *op, const memrow *m)
{
    co_arena *a = &b->a;
    const Coalition__V1__Program *p = m->p;
    Coalition__V1__Balance *bl = co_arena_alloc(a, sizeof *bl);
    if (bl == NULL) {
        return NULL;
    }
    coalition__v1__balance__init(bl);
    bl->member_id = (char *)m->member_id;
    bl->program_code = (char *)m->program;
    bl->available_points = m->ma->balance;
    bl->held_points = m->ha->balance;
    bl->lifetime_earned_points = m->lifetime;
    bl->qualifying_points = m->q_points;
    bl->qualifying_spend_micros = m->q_spend;
    bl->tier_code = (char *)m->tier;
    if (m->tier_since_us != 0) {
        bl->tier_since = co_timestamp(a, m->tier_since_us);
    }
    int64_t soon = m->nx_us, pts = m->nx_pts;
    if (m->nx_us != PTS_NEVER && m->nx_us <= op->now_us) {
        soon = PTS_NEVER;
        pts = 0;
    }
    for (size_t i = 0; i < m->nlots; i++) {
        const lotrow *l = &m->lots[i];
        if (l->remaining <= 0 || l->expires_us == PTS_NEVER || l->expires_us <= op->now_us) {
            continue;
        }
        if (l->expires_us < soon) {
            soon = l->expires_us;
            pts = 0;
        }
        if (l->expires_us == soon) {
            pts += l->remaining;
        }
    }
    if (soon != PTS_NEVER) {
        bl->next_expiry_points = pts;
        bl->next_expiry_time = co_timestamp(a, soon);
    }
    int64_t value = 0;
    if (!co_mul64(m->ma->balance, p->point_value_micros, &value)) {
        value = 0;
    }
    bl->available_value = money(a, value, p->currency);
    return bl->available_value != NULL ? bl : NULL;
}

static Coalition__V1__Hold *hold_pb(batch *b, const holdrow *h)
{
    co_arena *a = &b->a;
    Coalition__V1__Hold *o = co_arena_alloc(a, sizeof *o);
    if (o == NULL) {
        return NULL;
    }
    coalition__v1__hold__init(o);
    o->hold_id = (char *)h->hold_id;
    o->program_code = (char *)h->program;
    o->member_id = (char *)h->member_id;
    o->partner_id = (char *)h->partner_id;
    o->points = h->points;
    o->captured_points = h->captured;
    o->status = (Coalition__V1__HoldStatus)h->status;
    o->create_time = co_timestamp(a, h->create_us);
    o->expire_time = co_timestamp(a, h->expire_us);
    if (h->status != PTS_HOLD_ACTIVE) {
        o->close_time = co_timestamp(a, h->close_us);
    }
    return o;
}

static Coalition__V1__Transfer **xfers_pb(batch *b, size_t i, size_t *n)
{
    size_t k = b->x1[i] - b->x0[i];
    *n = k;
    Coalition__V1__Transfer **v = co_arena_calloc(&b->a, k + 1, sizeof *v);
    for (size_t j = 0; v != NULL && j < k; j++) {
        if ((v[j] = xfer_pb(b, &b->x[b->x0[i] + j])) == NULL) {
            return NULL;
        }
    }
    return v;
}

static co_err build_response(batch *b, size_t i)
{
    pts_op *op = b->ops[i];
    const Coalition__V1__Program *p = prog_of(op);
    co_arena *a = &b->a;
    ProtobufCMessage *msg = NULL;
    memrow *m = b->opm[i];
    size_t n = 0;
    switch (op->kind) {
    case PTS_OP_EARN: {
        Coalition__V1__EarnResponse *r = co_arena_alloc(a, sizeof *r);
        if (r == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__v1__earn_response__init(r);
        const pts_earn_out *o = &b->earn[i];
        if ((r->transfers = xfers_pb(b, i, &n)) == NULL) {
            return CO_ERR_NOMEM;
        }
        r->n_transfers = n;
        r->earned_points = o->base_points;
        r->bonus_points = o->total_points - o->base_points;
        r->balance = balance_pb(b, op, m);
        r->campaign_ids = co_arena_calloc(a, o->nmatched + 1, sizeof *r->campaign_ids);
        r->chance_draws = co_arena_calloc(a, o->ndraws + 1, sizeof *r->chance_draws);
        if (r->balance == NULL || r->campaign_ids == NULL || r->chance_draws == NULL) {
            return CO_ERR_NOMEM;
        }
        for (size_t k = 0; k < o->nmatched; k++) {
            r->campaign_ids[k] = (char *)o->matched_campaigns[k];
        }
        r->n_campaign_ids = o->nmatched;
        for (size_t k = 0; k < o->ndraws; k++) {
            Coalition__V1__ChanceDraw *d = co_arena_alloc(a, sizeof *d);
            if (d == NULL) {
                return CO_ERR_NOMEM;
            }
            coalition__v1__chance_draw__init(d);
            d->campaign_id = (char *)o->draws[k].campaign_id;
            d->one_in = o->draws[k].one_in;
            d->draw = o->draws[k].draw;
            d->won = o->draws[k].won;
            d->bonus_points = o->draws[k].bonus_points;
            r->chance_draws[k] = d;
        }
        r->n_chance_draws = o->ndraws;
        r->tier_changed = b->tier_changed[i] != 0;
        msg = &r->base;
        break;
    }
    case PTS_OP_CREDIT: {
        Coalition__V1__CreditResponse *r = co_arena_alloc(a, sizeof *r);
        if (r == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__v1__credit_response__init(r);
        r->transfer = xfer_pb(b, &b->x[b->x0[i]]);
        r->balance = balance_pb(b, op, m);
        if (r->transfer == NULL || r->balance == NULL) {
            return CO_ERR_NOMEM;
        }
        msg = &r->base;
        break;
    }
    case PTS_OP_REDEEM: {
        Coalition__V1__RedeemResponse *r = co_arena_alloc(a, sizeof *r);
        if (r == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__v1__redeem_response__init(r);
        r->transfer = xfer_pb(b, &b->x[b->x0[i]]);
        r->balance = balance_pb(b, op, m);
        int64_t v = 0;
        if (!co_mul64(op->points, p->point_value_micros, &v)) {
            v = 0;
        }
        r->value = money(a, v, p->currency);
        if (r->transfer == NULL || r->balance == NULL || r->value == NULL) {
            return CO_ERR_NOMEM;
        }
        if (op->hold && (r->hold = hold_pb(b, b->oph[i])) == NULL) {
            return CO_ERR_NOMEM;
        }
        msg = &r->base;
        break;
    }
    case PTS_OP_CAPTURE: {
        Coalition__V1__CaptureHoldResponse *r = co_arena_alloc(a, sizeof *r);
        if (r == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__v1__capture_hold_response__init(r);
        if ((r->transfers = xfers_pb(b, i, &n)) == NULL) {
            return CO_ERR_NOMEM;
        }
        r->n_transfers = n;
        r->hold = hold_pb(b, b->oph[i]);
        r->balance = balance_pb(b, op, m);
        int64_t v = 0;
        if (!co_mul64(b->opval[i], p->point_value_micros, &v)) {
            v = 0;
        }
        r->value = money(a, v, p->currency);
        if (r->hold == NULL || r->balance == NULL || r->value == NULL) {
            return CO_ERR_NOMEM;
        }
        msg = &r->base;
        break;
    }
    case PTS_OP_VOID: {
        Coalition__V1__VoidHoldResponse *r = co_arena_alloc(a, sizeof *r);
        if (r == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__v1__void_hold_response__init(r);
        r->transfer = xfer_pb(b, &b->x[b->x0[i]]);
        r->hold = hold_pb(b, b->oph[i]);
        r->balance = balance_pb(b, op, m);
        if (r->transfer == NULL || r->hold == NULL || r->balance == NULL) {
            return CO_ERR_NOMEM;
        }
        msg = &r->base;
        break;
    }
    case PTS_OP_REWARD: {
        Coalition__V1__RedeemRewardResponse *r = co_arena_alloc(a, sizeof *r);
        if (r == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__v1__redeem_reward_response__init(r);
        r->transfer = xfer_pb(b, &b->x[b->x0[i]]);
        r->balance = balance_pb(b, op, m);
        if (r->transfer == NULL || r->balance == NULL) {
            return CO_ERR_NOMEM;
        }
        if (op->reward->kind == COALITION__V1__REWARD_KIND__REWARD_KIND_COUPON) {
            r->coupons = co_arena_calloc(a, (size_t)op->quantity, sizeof *r->coupons);
            if (r->coupons == NULL) {
                return CO_ERR_NOMEM;
            }
            for (int32_t k = 0; k < op->quantity; k++) {
                const struct couponrow *cp = &b->coupons[b->opval[i] + k];
                Coalition__V1__Coupon *c = co_arena_alloc(a, sizeof *c);
                if (c == NULL) {
                    return CO_ERR_NOMEM;
                }
                coalition__v1__coupon__init(c);
                c->code = co_arena_strdup(a, cp->code);
                c->reward_id = (char *)cp->reward_id;
                c->program_code = (char *)cp->program;
                c->member_id = (char *)cp->member_id;
                c->status = COALITION__V1__COUPON_STATUS__COUPON_STATUS_ISSUED;
                c->issue_time = co_timestamp(a, cp->issue_us);
                c->expire_time = co_timestamp(a, cp->expire_us);
                c->redeem_transfer_id = r->transfer->transfer_id;
                r->coupons[r->n_coupons++] = c;
            }
        }
        msg = &r->base;
        break;
    }
    case PTS_OP_EXPIRE:
    case PTS_OP_TIERS: { /* TIERS: members_affected counts the downgrades */
        Coalition__V1__ExpirePointsResponse *r = co_arena_alloc(a, sizeof *r);
        if (r == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__v1__expire_points_response__init(r);
        r->expired_points = b->opval[i];
        r->lots_expired = b->today[i];
        r->members_affected = b->tier_changed[i];
        r->transfers_posted = (int64_t)(b->x1[i] - b->x0[i]);
        msg = &r->base;
        break;
    }
    case PTS_OP_REVERSE: {
        Coalition__V1__ReverseResponse *r = co_arena_alloc(a, sizeof *r);
        if (r == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__v1__reverse_response__init(r);
        if ((r->transfers = xfers_pb(b, i, &n)) == NULL) {
            return CO_ERR_NOMEM;
        }
        r->n_transfers = n;
        if ((r->balance = balance_pb(b, op, m)) == NULL) {
            return CO_ERR_NOMEM;
        }
        msg = &r->base;
        break;
    }
    case PTS_OP_EXCHANGE: {
        Coalition__V1__ExchangeResponse *r = co_arena_alloc(a, sizeof *r);
        if (r == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__v1__exchange_response__init(r);
        r->out_transfer = xfer_pb(b, &b->x[b->x0[i]]);
        r->in_transfer = xfer_pb(b, &b->x[b->x0[i] + 1]);
        r->fee_points = b->opval[i];
        r->credited_points = b->x[b->x0[i] + 1].points;
        r->from_balance = balance_pb(b, op, m);
        r->to_balance = balance_pb(b, op, b->opm2[i]);
        if (r->out_transfer == NULL || r->in_transfer == NULL || r->from_balance == NULL ||
            r->to_balance == NULL) {
            return CO_ERR_NOMEM;
        }
        msg = &r->base;
        break;
    }
    case PTS_OP_FUND: {
        Coalition__V1__FundIssuerResponse *r = co_arena_alloc(a, sizeof *r);
        if (r == NULL) {
            return CO_ERR_NOMEM;
        }
        coalition__v1__fund_issuer_response__init(r);
        r->transfer = xfer_pb(b, &b->x[b->x0[i]]);
        r->funded_points_remaining = b->opval[i];
        int64_t v = 0;
        if (!co_mul64(op->points, p->issue_price_micros, &v)) {
            v = 0;
        }
        r->price = money(a, v, p->currency);
        if (r->transfer == NULL || r->price == NULL) {
            return CO_ERR_NOMEM;
        }
        msg = &r->base;
        break;
    }
    }
    size_t len = 0;
    uint8_t *bytes = co_pb_pack(msg, a, &len);
    if (bytes == NULL) {
        return CO_ERR_NOMEM;
    }
    free(op->resp);
    op->resp = malloc(len == 0 ? 1 : len);
    if (op->resp == NULL) {
        return CO_ERR_NOMEM;
    }
    memcpy(op->resp, bytes, len);
    op->resp_len = len;
    return CO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing */

static co_err alloc_ids(co_pg_conn *c, batch *b)
{
    size_t nlots = 0;
    for (size_t i = 0; i < b->nmems; i++) {
        for (size_t k = 0; k < b->mems[i]->nlots; k++) {
            nlots += b->mems[i]->lots[k].is_new;
        }
    }
    char n1[24], n2[24], n3[24];
    snprintf(n1, sizeof n1, "%zu", b->nx);
    snprintf(n2, sizeof n2, "%zu", nlots);
    snprintf(n3, sizeof n3, "%zu", b->nev);
    const char *v[3] = {n1, n2, n3};
    PGresult *r;
    co_err e = q(c, "pts_ids",
                 "SELECT ARRAY(SELECT nextval('points.transfers_id_seq') FROM"
                 " generate_series(1, $1::int)), ARRAY(SELECT nextval('points.lots_id_seq') FROM"
                 " generate_series(1, $2::int)), ARRAY(SELECT"
                 " nextval('points.settlement_events_id_seq') FROM generate_series(1, $3::int))",
                 3, v, &r);
    if (e != CO_OK) {
        return e;
    }
    size_t cap = b->nx + nlots + b->nev + 1;
    int64_t *ids = co_arena_calloc(&b->a, cap, sizeof *ids);
    if (ids == NULL) {
        PQclear(r);
        return CO_ERR_NOMEM;
    }
    size_t got = parse_i64_array(PQgetvalue(r, 0, 0), ids, cap);
    for (size_t i = 0; i < b->nx && i < got; i++) {
        b->x[i].id = ids[i];
    }
    got = parse_i64_array(PQgetvalue(r, 0, 1), ids, cap);
    size_t k = 0;
    for (size_t i = 0; i < b->nmems; i++) {
        for (size_t j = 0; j < b->mems[i]->nlots; j++) {
            if (b->mems[i]->lots[j].is_new && k < got) {
                b->mems[i]->lots[j].id = ids[k++];
            }
        }
    }
    got = parse_i64_array(PQgetvalue(r, 0, 2), ids, cap);
    for (size_t i = 0; i < b->nev && i < got; i++) {
        b->ev[i].id = ids[i];
    }
    PQclear(r);
    /* New holds are named after their HOLD transfer. */
    for (size_t i = 0; i < b->nholds; i++) {
        holdrow *h = b->holds[i];
        if (h->is_new) {
            snprintf(h->hold_id, sizeof h->hold_id, "hd-%" PRId64, b->x[h->xfer].id);
            b->x[h->xfer].hold_id = h->hold_id;
            h->hold_transfer_id = b->x[h->xfer].id;
        }
    }
    /* Sequence numbers and hashes, in posting order within each program. */
    for (size_t i = 0; i < b->nx; i++) {
        xfer *x = &b->x[i];
        x->seq = ++x->ch->seq;
        pts_xfer_view v2 = {
            .program = x->program,
            .seq = x->seq,
            .id = x->id,
            .kind = x->kind,
            .debit = x->debit->name,
            .credit = x->credit->name,
            .points = x->points,
            .partner_id = x->partner_id,
            .request_id = x->request_id,
            .member_id = x->member_id,
            .balance_after = x->balance_after,
            .corrects_id = x->corrects_id,
            .hold_id = x->hold_id,
            .has_purchase = x->has_purchase,
            .purchase_micros = x->purchase,
            .currency = x->currency,
            .campaign_id = x->campaign_id,
            .reason = x->reason,
            .program_version = x->version,
            .create_us = b->ops[0]->now_us,
            .meta = x->meta,
            .nmeta = x->nmeta,
        };
        pts_xfer_hash(x->ch->hash, &v2, x->hash);
        memcpy(x->ch->hash, x->hash, 32);
    }
    return CO_OK;
}

/* Column offsets of the one statement that writes a batch (see write_all). */
enum {
    W_T = 0,   /* transfers, 21 */
    W_LI = 21, /* new lots, 6 */
    W_LU = 27, /* lot remainders, 2 */
    W_TK = 29, /* takes, 4 */
    W_H = 33,  /* holds, 11 */
    W_M = 44,  /* members, 8 */
    W_B = 52,  /* balances, 3 */
    W_E = 55,  /* settlement events, 11 */
    W_C = 66,  /* chain heads, 3 */
    W_R = 69,  /* outcomes, 5 */
    W_U = 74,  /* reward usage, 2 */
    W_CP = 76, /* coupons, 8 */
    W_M2 = 84, /* members: tier review and birthday year, 2 */
    W_TC = 86, /* tier changes, 6 */
    W_Q = 92,  /* members: stored qualifying figures, 4 */
    W_N = 96,
};

/* Everything a batch writes, in one statement of data-modifying CTEs. The guarded balance
 * update counts the accounts it changed: fewer than asked ($97) means it refused an overdraft,
 * and points.expect_count fails the statement, so the batch rolls back. */
static const char *const write_parts[] = {
    "WITH t AS (INSERT INTO points.transfers (id, program, seq, kind, debit_id, credit_id,"
    " points, partner_id, request_id, member_id, member_balance_after, corrects_id, hold_id,"
    " purchase_micros, currency, campaign_id, reason, program_version, metadata, create_time,"
    " hash) SELECT i, p, s, k, d, cr, pt, pa, r, m, ba, co, h, pu, cu, ca, re, v, md::text[],"
    " timestamptz 'epoch' + ti * interval '1 microsecond', decode(hs, 'hex') FROM"
    " unnest($1::bigint[], $2::text[], $3::bigint[], $4::smallint[], $5::bigint[], $6::bigint[],"
    " $7::bigint[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[],"
    " $13::text[], $14::bigint[], $15::text[], $16::text[], $17::text[], $18::bigint[],"
    " $19::text[], $20::bigint[], $21::text[]) AS u(i, p, s, k, d, cr, pt, pa, r, m, ba, co, h,"
    " pu, cu, ca, re, v, md, ti, hs) RETURNING 1),",
    " li AS (INSERT INTO points.lots (id, account_id, transfer_id, expire_time, points,"
    " remaining) SELECT i, a, t, timestamptz 'epoch' + e * interval '1 microsecond', p, r FROM"
    " unnest($22::bigint[], $23::bigint[], $24::bigint[], $25::bigint[], $26::bigint[],"
    " $27::bigint[]) AS u(i, a, t, e, p, r) RETURNING 1),",
    " lu AS (UPDATE points.lots l SET remaining = u.r FROM unnest($28::bigint[], $29::bigint[])"
    " AS u(i, r) WHERE l.id = u.i RETURNING 1),",
    " tk AS (INSERT INTO points.takes (transfer_id, lot_id, points, of_transfer_id) SELECT * FROM"
    " unnest($30::bigint[], $31::bigint[], $32::bigint[], $33::bigint[]) RETURNING 1),",
    " ho AS (INSERT INTO points.holds (hold_id, program, member_id, partner_id, points,"
    " captured_points, status, hold_transfer_id, create_time, expire_time, close_time) SELECT h,"
    " p, m, w, pt, cp, s, t, timestamptz 'epoch' + ct * interval '1 microsecond',"
    " timestamptz 'epoch' + et * interval '1 microsecond', timestamptz 'epoch' + cl * interval"
    " '1 microsecond' FROM unnest($34::text[], $35::text[], $36::text[], $37::text[],"
    " $38::bigint[], $39::bigint[], $40::smallint[], $41::bigint[], $42::bigint[],"
    " $43::bigint[], $44::bigint[]) AS u(h, p, m, w, pt, cp, s, t, ct, et, cl)"
    " ON CONFLICT (hold_id) DO UPDATE SET captured_points = EXCLUDED.captured_points, status ="
    " EXCLUDED.status, close_time = EXCLUDED.close_time RETURNING 1),",
    " me AS (INSERT INTO points.members (program, member_id, account_id, hold_account_id,"
    " first_earn_time, lifetime_earned, tier_code, tier_since, tier_review_time, birthday_year,"
    " q_points, q_spend, q_from, q_oldest)"
    " SELECT p, m, a, h, timestamptz 'epoch' + f * interval '1 microsecond', l, t,"
    " timestamptz 'epoch' + s * interval '1 microsecond', timestamptz 'epoch' + rv * interval"
    " '1 microsecond', by, qp, qs, timestamptz 'epoch' + qf * interval '1 microsecond',"
    " timestamptz 'epoch' + qo * interval '1 microsecond' FROM unnest($45::text[], $46::text[],"
    " $47::bigint[], $48::bigint[], $49::bigint[], $50::bigint[], $51::text[], $52::bigint[],"
    " $85::bigint[], $86::smallint[], $93::bigint[], $94::bigint[], $95::bigint[], $96::bigint[])"
    " AS u(p, m, a, h, f, l, t, s, rv, by, qp, qs, qf, qo) ON CONFLICT (program, member_id) DO"
    " UPDATE SET first_earn_time = EXCLUDED.first_earn_time, lifetime_earned ="
    " EXCLUDED.lifetime_earned, tier_code = EXCLUDED.tier_code, tier_since = EXCLUDED.tier_since,"
    " tier_review_time = EXCLUDED.tier_review_time, birthday_year = EXCLUDED.birthday_year,"
    " q_points = EXCLUDED.q_points, q_spend = EXCLUDED.q_spend, q_from = EXCLUDED.q_from,"
    " q_oldest = EXCLUDED.q_oldest RETURNING 1),",
    " bal AS (UPDATE points.accounts a SET balance = a.balance + u.d FROM unnest($53::bigint[],"
    " $54::bigint[], $55::boolean[]) AS u(i, d, n) WHERE a.id = u.i AND (NOT a.guarded OR u.n"
    " OR a.balance + u.d >= 0) RETURNING 1),",
    " ev AS (INSERT INTO points.settlement_events (id, kind, program, payer_partner_id,"
    " payee_partner_id, points, unit_price_micros, amount_micros, currency, transfer_id,"
    " create_time, reverses_id) SELECT i, k, p, a, b, pt, u, pt * u, c, t, timestamptz 'epoch'"
    " + ti * interval '1 microsecond', rv FROM unnest($56::bigint[], $57::smallint[],"
    " $58::text[], $59::text[], $60::text[], $61::bigint[], $62::bigint[], $63::text[],"
    " $64::bigint[], $65::bigint[], $66::bigint[]) AS x(i, k, p, a, b, pt, u, c, t, ti, rv)"
    " RETURNING 1),",
    " ch AS (UPDATE points.chains c SET seq = u.s, last_hash = decode(u.h, 'hex') FROM"
    " unnest($67::text[], $68::bigint[], $69::text[]) AS u(p, s, h) WHERE c.program = u.p AND"
    " u.s > c.seq RETURNING 1),",
    " rec AS (UPDATE points.idempotency i SET status = u.s, message = u.m, response ="
    " decode(u.r, 'hex') FROM unnest($70::text[], $71::text[], $72::int[], $73::text[],"
    " $74::text[]) AS u(c, q, s, m, r) WHERE i.caller = u.c AND i.request_id = u.q RETURNING 1),",
    " us AS (UPDATE points.reward_usage w SET redeemed = u.n FROM unnest($75::text[],"
    " $76::bigint[]) AS u(r, n) WHERE w.reward_id = u.r RETURNING 1),",
    " cp AS (INSERT INTO points.coupons (code, reward_id, program, member_id, partner_id, status,"
    " issue_time, expire_time, redeem_transfer_id) SELECT c, r, p, m, w, 1, timestamptz 'epoch'"
    " + i * interval '1 microsecond', timestamptz 'epoch' + e * interval '1 microsecond', t"
    " FROM unnest($77::text[], $78::text[], $79::text[], $80::text[], $81::text[],"
    " $82::bigint[], $83::bigint[], $84::bigint[]) AS u(c, r, p, m, w, i, e, t) RETURNING 1),",
    " tc AS (INSERT INTO points.tier_changes (program, member_id, change_time, from_tier,"
    " to_tier, upgrade) SELECT p, m, timestamptz 'epoch' + t * interval '1 microsecond', f, o, u"
    " FROM unnest($87::text[], $88::text[], $89::bigint[], $90::text[], $91::text[],"
    " $92::boolean[]) AS x(p, m, t, f, o, u) RETURNING 1)",
    " SELECT points.expect_count((SELECT count(*) FROM bal), $97::bigint,"
    " 'guarded balance update (an overdraft was refused)')",
};

/* The statement, assembled once (one literal would exceed what C17 compilers must accept). */
static char write_sql[6144];
static pthread_once_t write_sql_once = PTHREAD_ONCE_INIT;

static void write_sql_build(void)
{
    size_t len = 0;
    for (size_t k = 0; k < sizeof write_parts / sizeof write_parts[0]; k++) {
        size_t n = strlen(write_parts[k]);
        if (len + n >= sizeof write_sql) {
            abort(); /* a programming error: raise the buffer */
        }
        memcpy(write_sql + len, write_parts[k], n);
        len += n;
    }
    write_sql[len] = '\0';
}

/* A row of points.tier_changes if m's tier changed in the batch; the entry tier counts as
 * the tier of a member without one. */
static void tier_change_add(arr *A, const memrow *m, int64_t now)
{
    const Coalition__V1__Program *p = m->p;
    if (p == NULL || p->n_tiers == 0 || strcmp(m->tier, m->tier0) == 0) {
        return;
    }
    const char *from = m->tier0[0] != '\0' ? m->tier0 : p->tiers[0]->code;
    if (strcmp(from, m->tier) == 0) {
        return;
    }
    size_t fi = tier_index(p, from), ti = tier_index(p, m->tier);
    arr_str(&A[0], m->program);
    arr_str(&A[1], m->member_id);
    arr_i64(&A[2], now);
    arr_str(&A[3], from);
    arr_str(&A[4], m->tier);
    arr_str(&A[5], fi == SIZE_MAX || (ti != SIZE_MAX && ti > fi) ? "t" : "f");
}

static co_err write_all(co_pg_conn *c, batch *b)
{
    int64_t now = b->ops[0]->now_us;
    for (int k = 0; k < W_N; k++) {
        arr_begin(&b->cols[k]);
    }
    arr *A = b->cols + W_T;
    for (size_t i = 0; i < b->nx; i++) {
        const xfer *x = &b->x[i];
        arr_i64(&A[0], x->id);
        arr_str(&A[1], x->program);
        arr_i64(&A[2], x->seq);
        arr_i64(&A[3], x->kind);
        arr_i64(&A[4], x->debit->id);
        arr_i64(&A[5], x->credit->id);
        arr_i64(&A[6], x->points);
        arr_str(&A[7], x->partner_id);
        arr_str(&A[8], x->request_id);
        arr_str(&A[9], x->member_id);
        arr_i64(&A[10], x->balance_after);
        arr_opt(&A[11], x->corrects_id != 0, x->corrects_id);
        arr_str(&A[12], x->hold_id);
        arr_opt(&A[13], x->has_purchase, x->purchase);
        arr_str(&A[14], x->currency);
        arr_str(&A[15], x->campaign_id);
        arr_str(&A[16], x->reason);
        arr_i64(&A[17], x->version);
        /* metadata as one text: a nested array literal per row would need equal lengths */
        arr meta = {0};
        arr_begin(&meta);
        for (size_t k = 0; k < 2 * x->nmeta; k++) {
            arr_str(&meta, x->meta[k]);
        }
        const char *ml = arr_end(&meta);
        arr_str(&A[18], ml != NULL ? ml : "{}");
        free(meta.p);
        arr_i64(&A[19], now);
        arr_hex(&A[20], x->hash, 32);
    }
    /* lots: new ones, and remainders of loaded ones that changed */
    for (size_t i = 0; i < b->nmems; i++) {
        memrow *m = b->mems[i];
        for (size_t k = 0; k < m->nlots; k++) {
            lotrow *l = &m->lots[k];
            if (l->is_new) {
                A = b->cols + W_LI;
                arr_i64(&A[0], l->id);
                arr_i64(&A[1], m->ma->id);
                arr_i64(&A[2], b->x[l->xfer].id);
                arr_opt(&A[3], l->expires_us != PTS_NEVER, l->expires_us);
                arr_i64(&A[4], l->points);
                arr_i64(&A[5], l->remaining);
            } else if (l->remaining != l->start_remaining) {
                A = b->cols + W_LU;
                arr_i64(&A[0], l->id);
                arr_i64(&A[1], l->remaining);
            }
        }
    }
    /* one row per (transfer, lot): a debit never takes twice from one lot */
    A = b->cols + W_TK;
    for (size_t i = 0; i < b->nt; i++) {
        const takerow *t = &b->t[i];
        arr_i64(&A[0], b->x[t->xfer].id);
        arr_i64(&A[1], t->m->lots[t->lot].id);
        arr_i64(&A[2], t->points);
        arr_opt(&A[3], t->of_transfer != 0, t->of_transfer);
    }
    A = b->cols + W_H;
    for (size_t i = 0; i < b->nholds; i++) {
        const holdrow *h = b->holds[i];
        if (!h->is_new && !h->dirty) {
            continue;
        }
        arr_str(&A[0], h->hold_id);
        arr_str(&A[1], h->program);
        arr_str(&A[2], h->member_id);
        arr_str(&A[3], h->partner_id);
        arr_i64(&A[4], h->points);
        arr_i64(&A[5], h->captured);
        arr_i64(&A[6], h->status);
        arr_i64(&A[7], h->hold_transfer_id);
        arr_i64(&A[8], h->create_us);
        arr_i64(&A[9], h->expire_us);
        arr_opt(&A[10], h->status != PTS_HOLD_ACTIVE, h->close_us);
    }
    A = b->cols + W_M;
    for (size_t i = 0; i < b->nmems; i++) {
        const memrow *m = b->mems[i];
        if (m->exists && !m->dirty) {
            continue;
        }
        arr_str(&A[0], m->program);
        arr_str(&A[1], m->member_id);
        arr_i64(&A[2], m->ma->id);
        arr_i64(&A[3], m->ha->id);
        arr_opt(&A[4], m->first_earn_us != 0, m->first_earn_us);
        arr_i64(&A[5], m->lifetime);
        arr_str(&A[6], m->tier);
        arr_opt(&A[7], m->tier_since_us != 0, m->tier_since_us);
        arr_opt(&b->cols[W_M2], m->review_us != 0, m->review_us);
        arr_i64(&b->cols[W_M2 + 1], m->birthday_year);
        arr_i64(&b->cols[W_Q], m->q_points);
        arr_i64(&b->cols[W_Q + 1], m->q_spend);
        arr_opt(&b->cols[W_Q + 2], m->q_from_us != 0, m->q_from_us);
        arr_opt(&b->cols[W_Q + 3], m->q_oldest_us != 0, m->q_oldest_us);
        tier_change_add(b->cols + W_TC, m, now);
    }
    /* balances, netted per account, guarded in the database */
    A = b->cols + W_B;
    size_t nd = 0;
    for (size_t i = 0; i < b->naccts; i++) {
        const acct *ac = b->accts[i];
        if (ac->balance != ac->start) {
            arr_i64(&A[0], ac->id);
            arr_i64(&A[1], ac->balance - ac->start);
            arr_str(&A[2], ac->neg_ok ? "t" : "f");
            nd++;
        }
    }
    A = b->cols + W_E;
    for (size_t i = 0; i < b->nev; i++) {
        const eventrow *ev = &b->ev[i];
        arr_i64(&A[0], ev->id);
        arr_i64(&A[1], ev->kind);
        arr_str(&A[2], ev->program);
        arr_str(&A[3], ev->payer);
        arr_str(&A[4], ev->payee);
        arr_i64(&A[5], ev->points);
        arr_i64(&A[6], ev->unit);
        arr_str(&A[7], ev->currency);
        arr_i64(&A[8], b->x[ev->xfer].id);
        arr_i64(&A[9], now);
        arr_opt(&A[10], ev->reverses_id != 0, ev->reverses_id);
    }
    A = b->cols + W_C;
    for (size_t i = 0; b->nx > 0 && i < b->nchains; i++) {
        arr_str(&A[0], b->chains[i]->program);
        arr_i64(&A[1], b->chains[i]->seq);
        arr_hex(&A[2], b->chains[i]->hash, 32);
    }
    /* the outcome of each keyed operation, replayed to repeats */
    A = b->cols + W_R;
    for (size_t i = 0; i < b->n; i++) {
        pts_op *op = b->ops[i];
        if (!b->live[i] || op->request_id == NULL || op->request_id[0] == '\0') {
            continue;
        }
        arr_str(&A[0], op->caller);
        arr_str(&A[1], op->request_id);
        arr_i64(&A[2], op->err == CO_OK ? 0 : (int64_t)co_err_to_grpc(op->err));
        arr_str(&A[3], op->err == CO_OK ? "" : op->message);
        if (op->err == CO_OK) {
            char *hexr = co_arena_alloc(&b->a, 2 * op->resp_len + 1);
            if (hexr == NULL) {
                return CO_ERR_NOMEM;
            }
            pts_hex(op->resp, op->resp_len, hexr);
            arr_str(&A[4], hexr);
        } else {
            arr_null(&A[4]);
        }
    }
    A = b->cols + W_U;
    for (size_t i = 0; i < b->nrewards; i++) {
        if (b->rewards[i].redeemed != b->rewards[i].start) {
            arr_str(&A[0], b->rewards[i].reward_id);
            arr_i64(&A[1], b->rewards[i].redeemed);
        }
    }
    A = b->cols + W_CP;
    for (size_t i = 0; i < b->ncoupons; i++) {
        const struct couponrow *cp = &b->coupons[i];
        arr_str(&A[0], cp->code);
        arr_str(&A[1], cp->reward_id);
        arr_str(&A[2], cp->program);
        arr_str(&A[3], cp->member_id);
        arr_str(&A[4], cp->partner_id);
        arr_i64(&A[5], cp->issue_us);
        arr_i64(&A[6], cp->expire_us);
        arr_i64(&A[7], b->x[cp->xfer].id);
    }
    const char *v[W_N + 1];
    for (int k = 0; k < W_N; k++) {
        if ((v[k] = arr_end(&b->cols[k])) == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    char want[24];
    snprintf(want, sizeof want, "%zu", nd);
    v[W_N] = want;
    pthread_once(&write_sql_once, write_sql_build);
    /* Goes out with COMMIT (co_pg_tx): one round trip for both. The statement checks its own
     * balance update; a failure rolls back and the batch reruns op by op. */
    return co_pg_send_checked(c, pts_stmt("pts_write", write_sql, W_N + 1), v);
}

/* ------------------------------------------------------------------------------------------ */
/* The transaction */

static void batch_reset(batch *b)
{
    for (int k = 0; k < 96; k++) {
        free(b->cols[k].p);
    }
    co_arena_release(&b->a);
    pts_op **ops = b->ops;
    size_t n = b->n;
    memset(b, 0, sizeof *b);
    b->ops = ops;
    b->n = n;
    co_arena_init(&b->a, 0);
}

static co_err batch_tx(co_pg_conn *c, void *ud)
{
    batch *b = ud;
    batch_reset(b);
    co_arena *a = &b->a;
    size_t n = b->n;
    b->live = co_arena_calloc(a, n, sizeof *b->live);
    b->weekday = co_arena_calloc(a, n, sizeof *b->weekday);
    b->x0 = co_arena_calloc(a, n, sizeof *b->x0);
    b->x1 = co_arena_calloc(a, n, sizeof *b->x1);
    b->tier_changed = co_arena_calloc(a, n, sizeof *b->tier_changed);
    b->earn = co_arena_calloc(a, n, sizeof *b->earn);
    b->opm = co_arena_calloc(a, n, sizeof *b->opm);
    b->oph = co_arena_calloc(a, n, sizeof *b->oph);
    b->opval = co_arena_calloc(a, n, sizeof *b->opval);
    b->opm2 = co_arena_calloc(a, n, sizeof *b->opm2);
    b->today = co_arena_calloc(a, n, sizeof *b->today);
    b->reversed = co_arena_calloc(a, n, sizeof *b->reversed);
    b->origev = co_arena_calloc(a, n, sizeof *b->origev);
    b->rtakes = co_arena_calloc(a, n, sizeof *b->rtakes);
    b->rreturned = co_arena_calloc(a, n, sizeof *b->rreturned);
    b->nrtakes = co_arena_calloc(a, n, sizeof *b->nrtakes);
    b->expm = co_arena_calloc(a, n, sizeof *b->expm);
    b->nexpm = co_arena_calloc(a, n, sizeof *b->nexpm);
    b->expids = co_arena_calloc(a, n, sizeof *b->expids);
    b->rewards = co_arena_calloc(a, n + 1, sizeof *b->rewards);
    b->opcoupons = co_arena_calloc(a, n, sizeof *b->opcoupons);
    b->chains = co_arena_calloc(a, 2 * n + 2, sizeof *b->chains);
    b->holds = co_arena_calloc(a, 2 * n + 1, sizeof *b->holds);
    if (b->live == NULL || b->weekday == NULL || b->x0 == NULL || b->x1 == NULL ||
        b->tier_changed == NULL || b->earn == NULL || b->opm == NULL || b->oph == NULL ||
        b->opval == NULL || b->opm2 == NULL || b->today == NULL || b->reversed == NULL ||
        b->origev == NULL || b->rtakes == NULL || b->rreturned == NULL || b->nrtakes == NULL ||
        b->expm == NULL || b->nexpm == NULL || b->expids == NULL || b->rewards == NULL ||
        b->opcoupons == NULL || b->chains == NULL || b->holds == NULL) {
        return CO_ERR_NOMEM;
    }
    int64_t now = now_us();
    for (size_t i = 0; i < n; i++) {
        b->ops[i]->now_us = now;
        b->ops[i]->err = CO_OK;
        b->ops[i]->message[0] = '\0';
        free(b->ops[i]->resp);
        b->ops[i]->resp = NULL;
        b->ops[i]->resp_len = 0;
        b->live[i] = true;
        if (b->ops[i]->kind == PTS_OP_EARN && b->ops[i]->earn->purchase_time == NULL) {
            b->ops[i]->purchase_us = now;
        }
    }
    /* The batch's statements take arrays of any length: a generic plan serves them all, where
     * custom plans would be made again for every batch. Every row they touch is found by its
     * key, so a plan made while a table was small must not scan it whole either: sequential
     * scans are priced out (a generic plan of a ledger's first seconds joined all lots and
     * accounts by hash, until its connection prepared it again). */
    co_err e = co_pg_defer(c, "SET LOCAL plan_cache_mode = force_generic_plan");
    if (e == CO_OK) {
        e = co_pg_defer(c, "SET LOCAL enable_seqscan = off");
    }
    if (e != CO_OK || (e = claim_keys(c, b)) != CO_OK || (e = load_holds(c, b)) != CO_OK ||
        (e = load_expiring(c, b)) != CO_OK || (e = load_rewards(c, b)) != CO_OK ||
        (e = collect(b)) != CO_OK || (e = lock_and_load(c, b)) != CO_OK ||
        (e = load_weekdays(c, b)) != CO_OK || (e = load_exchanged_today(c, b)) != CO_OK ||
        (e = load_reversals(c, b)) != CO_OK || (e = apply_all(b)) != CO_OK ||
        (e = alloc_ids(c, b)) != CO_OK) {
        return e;
    }
    for (size_t i = 0; i < n; i++) {
        if (b->live[i] && b->ops[i]->err == CO_OK && (e = build_response(b, i)) != CO_OK) {
            return e;
        }
    }
    return write_all(c, b);
}

/* Wakes each caller. The queue's lock is not involved: woken callers do not contend for it with
 * the executor taking the next batch. An op may be gone once its semaphore is posted. */
static void finish(pts_op **ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sem_post(&ops[i]->done);
    }
}

static void run_ops(pts_exec *ex, pts_op **ops, size_t n)
{
    batch b;
    memset(&b, 0, sizeof b);
    b.ops = ops;
    b.n = n;
    co_arena_init(&b.a, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    co_err e = co_pg_tx(ex->pool, ex->tx_timeout_ms, batch_tx, &b);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (co_log_enabled(CO_LOG_DEBUG)) {
        co_log(CO_LOG_DEBUG, "batch", "{s:i, s:s, s:f}", "operations", (int)n, "result",
               co_err_name(e), "ms",
               (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    }
    for (int k = 0; k < 96; k++) {
        free(b.cols[k].p);
    }
    co_arena_release(&b.a);
    if (e == CO_OK) {
        return;
    }
    if (n > 1) {
        for (size_t i = 0; i < n; i++) {
            run_ops(ex, &ops[i], 1);
        }
        return;
    }
    free(ops[0]->resp);
    ops[0]->resp = NULL;
    ops[0]->err = e == CO_ERR_NOMEM ? CO_ERR_RESOURCE_EXHAUSTED
                  : e == CO_ERR_DEADLINE_EXCEEDED || e == CO_ERR_UNAVAILABLE ? e
                                                                             : CO_ERR_UNAVAILABLE;
    snprintf(ops[0]->message, sizeof ops[0]->message,
             "the ledger could not be written (%s): nothing was done, retry with the same "
             "request_id",
             co_err_name(e));
    co_log(CO_LOG_ERROR, "ledger transaction failed", "{s:s, s:s}", "error", co_err_name(e),
           "request_id", ops[0]->request_id != NULL ? ops[0]->request_id : "");
}

/* Same key twice in one batch: the first is run, the others take its outcome. */
static size_t split_duplicates(pts_op **ops, size_t n, pts_op **dups, size_t *ndups)
{
    size_t keep = 0;
    *ndups = 0;
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < keep && ops[i]->request_id != NULL && ops[i]->request_id[0]; k++) {
            if (ops[k]->request_id != NULL && strcmp(ops[k]->caller, ops[i]->caller) == 0 &&
                strcmp(ops[k]->request_id, ops[i]->request_id) == 0) {
                dup = true;
            }
        }
        if (dup) {
            dups[(*ndups)++] = ops[i];
        } else {
            ops[keep++] = ops[i];
        }
    }
    return keep;
}

static void *exec_main(void *arg)
{
    pts_exec *ex = arg;
    pts_op **ops = calloc((size_t)ex->max_batch, sizeof *ops);
    pts_op **dups = calloc((size_t)ex->max_batch, sizeof *dups);
    if (ops == NULL || dups == NULL) {
        abort();
    }
    for (;;) {
        pthread_mutex_lock(&ex->mu);
        while (ex->head == NULL && !ex->stop) {
            pthread_cond_wait(&ex->cv, &ex->mu);
        }
        if (ex->head == NULL && ex->stop) {
            pthread_mutex_unlock(&ex->mu);
            break;
        }
        size_t n = 0;
        while (ex->head != NULL && n < (size_t)ex->max_batch) {
            ops[n++] = ex->head;
            ex->head = ex->head->next;
        }
        if (ex->head == NULL) {
            ex->tail = NULL;
        }
        pthread_mutex_unlock(&ex->mu);
        size_t ndups;
        size_t keep = split_duplicates(ops, n, dups, &ndups);
        run_ops(ex, ops, keep);
        finish(ops, keep);
        /* Repeats go through as a batch of their own: they replay what just committed. */
        if (ndups > 0) {
            memcpy(ops, dups, ndups * sizeof *ops);
            size_t again = ndups;
            while (again > 0) {
                size_t k = split_duplicates(ops, again, dups, &ndups);
                run_ops(ex, ops, k);
                finish(ops, k);
                memcpy(ops, dups, ndups * sizeof *ops);
                again = ndups;
            }
        }
    }
    free(ops);
    free(dups);
    return NULL;
}

pts_exec *pts_exec_new(co_pg_pool *pool, int max_batch, int64_t tx_timeout_ms)
{
    pts_exec *ex = calloc(1, sizeof *ex);
    if (ex == NULL) {
        return NULL;
    }
    ex->pool = pool;
    ex->max_batch = max_batch > 0 ? max_batch : 1;
    ex->tx_timeout_ms = tx_timeout_ms;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->cv, NULL);
    if (pthread_create(&ex->thread, NULL, exec_main, ex) != 0) {
        pthread_cond_destroy(&ex->cv);
        pthread_mutex_destroy(&ex->mu);
        free(ex);
        return NULL;
    }
    return ex;
}

void pts_exec_free(pts_exec *ex)
{
    if (ex == NULL) {
        return;
    }
    pthread_mutex_lock(&ex->mu);
    ex->stop = true;
    pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    pthread_join(ex->thread, NULL);
    pthread_cond_destroy(&ex->cv);
    pthread_mutex_destroy(&ex->mu);
    free(ex);
}

void pts_exec_submit(pts_exec *ex, pts_op *op)
{
    op->next = NULL;
    sem_init(&op->done, 0, 0);
    op->resp = NULL;
    pthread_mutex_lock(&ex->mu);
    if (ex->tail != NULL) {
        ex->tail->next = op;
    } else {
        ex->head = op;
    }
    ex->tail = op;
    pthread_cond_signal(&ex->cv); /* only the executor waits on it */
    pthread_mutex_unlock(&ex->mu);
    while (sem_wait(&op->done) != 0) {
        /* interrupted by a signal: wait on */
    }
    sem_destroy(&op->done);
}
