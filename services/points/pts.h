/* SPDX-License-Identifier: Apache-2.0 */
/* The points service's shared types: caches of programs and members, and batched operations. */
#ifndef PTS_H
#define PTS_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "coalition/internal/v1/directory.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "err.h"
#include "pg.h"
#include "process.h"

/* --- program configuration, cached from the partners service --- */

/* One program's configuration at one version; immutable and reference counted. */
typedef struct pts_prog {
    atomic_int refs;
    int64_t version;
    Coalition__Internal__V1__GetProgramSnapshotResponse *snap; /* owned */
    const Coalition__V1__Program *p;                           /* snap->program */
} pts_prog;

typedef struct pts_progs pts_progs;

/* refresh_ms: how long a cached version is used before asking whether it changed. */
pts_progs *pts_progs_new(co_client *partners, int64_t refresh_ms);
void pts_progs_free(pts_progs *c);
/* The program `code`, with a reference the caller drops with pts_prog_unref. NOT_FOUND for an
 * unknown program; UNAVAILABLE (message in why) when it cannot be fetched and none is cached. */
co_err pts_progs_get(pts_progs *c, const char *code, int64_t timeout_ms, pts_prog **out, char *why,
                     size_t whylen);
void pts_prog_unref(pts_prog *p);
/* The participation of partner_id, or NULL. */
const Coalition__V1__Participation *pts_prog_participation(const pts_prog *p,
                                                           const char *partner_id);

/* --- members, resolved through the accounts service --- */

typedef struct pts_member {
    char member_id[40];
    bool erased;
    /* Active memberships: plan ids with their end (unix us). */
    size_t nplans;
    struct {
        char plan_id[32];
        int64_t end_us;
    } plans[8];
} pts_member;

typedef struct pts_members pts_members;

pts_members *pts_members_new(co_client *accounts, int64_t ttl_ms);
void pts_members_free(pts_members *c);
/* Resolves ref (validated by the caller) to the member: from the cache, or else together with
 * the other misses of the moment in one Members.ResolveMembers call. NOT_FOUND for no such
 * member; INVALID_ARGUMENT with why for a reference accounts refuses; UNAVAILABLE (or
 * DEADLINE_EXCEEDED) with why when the accounts service cannot answer. Thread-safe. */
co_err pts_members_resolve(pts_members *c, const Coalition__V1__MemberRef *ref, int64_t timeout_ms,
                           pts_member *out, char *why, size_t whylen);

/* --- batched mutations --- */

typedef enum pts_op_kind {
    PTS_OP_EARN = 1,
    PTS_OP_CREDIT,
    PTS_OP_REDEEM,
    PTS_OP_CAPTURE,
    PTS_OP_VOID,
    PTS_OP_FUND,
    PTS_OP_EXCHANGE,
    PTS_OP_REVERSE,
    PTS_OP_EXPIRE,
    PTS_OP_REWARD,
    PTS_OP_TIERS, /* the anniversary review of members' tiers (timer) */
} pts_op_kind;

/* A transfer a REVERSE corrects, as read (it is immutable) by the handler. */
typedef struct pts_orig {
    int64_t id;
    int kind;
    int64_t points;
    const char *debit, *credit; /* account names */
    int64_t debit_tid;          /* REDEEM: itself; CAPTURE: its HOLD transfer (what took lots) */
    int64_t purchase_micros;    /* EARN: the purchase amount */
    int64_t create_us;
} pts_orig;

/* One mutation waiting for (or done by) the executor. The handler fills the input part,
 * submits, and reads the outcome after pts_exec_submit returns. */
typedef struct pts_op {
    pts_op_kind kind;
    const char *method; /* full path: part of the idempotency key's content check */
    const char *caller; /* partner id ("operator" for the admin) */
    const char *request_id;
    uint8_t hash[32]; /* of the canonical request */
    pts_prog *prog;   /* reference held by the handler */
    int64_t now_us;
    /* member (EARN, CREDIT, REDEEM) */
    pts_member member;
    /* EARN */
    const Coalition__V1__EarnRequest *earn;
    int64_t purchase_us;
    /* CREDIT, REDEEM, FUND, CAPTURE: points asked (0 = all for CAPTURE) */
    int64_t points;
    Coalition__V1__TransferKind credit_kind;
    const char *reason;
    /* CREDIT of a birthday bonus: the year (program's time zone) it is paid for, at most once */
    int birthday_year;
    bool hold;
    int64_t hold_timeout_s;
    const char *hold_id;         /* CAPTURE, VOID */
    const char *fund_partner_id; /* FUND */
    /* EXCHANGE: the target program (reference held by the handler) and the agreement */
    pts_prog *prog2;
    const Coalition__V1__ExchangeAgreement *agreement;
    /* REWARD: the reward (in prog's snapshot) and the units */
    const Coalition__V1__Reward *reward;
    int32_t quantity;
    /* EXPIRE: lots expiring at or before this time, of at most expire_max members; TIERS:
     * tiers due for review at or before this time */
    int64_t as_of_us;
    int expire_max;
    /* REVERSE: the transfer, then the bonuses of its Earn to reverse in proportion */
    pts_orig *origs;
    size_t norigs;
    /* metadata as key, value pairs sorted by key (validated) */
    const char **meta;
    size_t nmeta;
    /* outcome */
    co_err err;
    char message[256];
    uint8_t *resp; /* malloc'd packed response on CO_OK; the handler frees it */
    size_t resp_len;
    /* executor bookkeeping */
    struct pts_op *next;
    sem_t done; /* posted once the outcome is known; initialized by pts_exec_submit */
} pts_op;

/* --- transfers and their audit hash --- */

/* A transfer as hashed: every field that is stored, names instead of account ids. */
typedef struct pts_xfer_view {
    const char *program;
    int64_t seq;
    int64_t id;
    int kind;
    const char *debit, *credit; /* account names */
    int64_t points;
    const char *partner_id, *request_id, *member_id;
    int64_t balance_after;
    int64_t corrects_id; /* 0 = none */
    const char *hold_id;
    bool has_purchase;
    int64_t purchase_micros;
    const char *currency, *campaign_id, *reason;
    int64_t program_version;
    int64_t create_us;
    const char *const *meta; /* key, value pairs sorted by key */
    size_t nmeta;
} pts_xfer_view;

/* out = SHA-256(prev || length-prefixed fields of x). */
void pts_xfer_hash(const uint8_t prev[32], const pts_xfer_view *x, uint8_t out[32]);

/* Lower-case hex of n bytes into out (2n + 1 bytes); and back, at most max bytes, stopping at
 * the first character that is not lower-case hex. */
void pts_hex(const uint8_t *b, size_t n, char *out);
size_t pts_unhex(const char *s, uint8_t *out, size_t max);

/* The transfer id callers see for a row id, and back ("tr-123"). */
void pts_transfer_id(int64_t id, char *buf, size_t len);
bool pts_transfer_id_parse(const char *s, int64_t *id);

/* The statement named `name` (a string literal of the caller), registered once, so that each
 * connection prepares it once. */
const co_pg_stmt *pts_stmt(const char *name, const char *sql, int nparams);

/* Qualifying points and spend of member M in program P since W (unix us), net of reversals: a
 * reversed part of an earn no longer qualifies, and its purchase amount counts in proportion.
 * Columns pts, spend and oldest (the creation time of the oldest earn counted, unix us; NULL if
 * none); the arguments are SQL expressions. "member_id <> ''" lets the planner
 * use the partial index transfers_member with a member id it only knows at run time. */
#define PTS_QUALIFYING_SQL(P, M, W)                                                                \
    "SELECT coalesce(sum(t.points - coalesce(r.s, 0)), 0)::bigint AS pts,"                         \
    " coalesce(sum(t.purchase_micros - div(t.purchase_micros::numeric * coalesce(r.s, 0),"         \
    " t.points)), 0)::bigint AS spend,"                                                            \
    " (extract(epoch FROM min(t.create_time)) * 1000000)::bigint AS oldest"                        \
    " FROM points.transfers t LEFT JOIN LATERAL (SELECT"                                           \
    " sum(x.points) AS s FROM points.transfers x WHERE x.corrects_id = t.id AND x.kind = 7) r"     \
    " ON true WHERE t.program = " P " AND t.member_id = " M " AND t.member_id <> '' AND"           \
    " t.kind = 1 AND t.create_time >= timestamptz 'epoch' + " W " * interval '1 microsecond'"

/* --- the batch executor --- */

typedef struct pts_exec pts_exec;

/* max_batch: most operations per database transaction. */
pts_exec *pts_exec_new(co_pg_pool *pool, int max_batch, int64_t tx_timeout_ms);
/* Stops the executor thread after the queue drained. */
void pts_exec_free(pts_exec *ex);
/* Queues op and returns when its outcome is known (committed, or failed). */
void pts_exec_submit(pts_exec *ex, pts_op *op);

/* --- reads and verification --- */

typedef struct pts_verify_out {
    int64_t programs, accounts, transfers, violations;
    Coalition__V1__LedgerViolation **v; /* up to max, arena memory */
    size_t nv;
    int64_t check_us;
} pts_verify_out;

/* Checks every invariant of DESIGN section 3 on one REPEATABLE READ snapshot. */
co_err pts_verify(co_pg_conn *c, co_arena *a, const char *program, size_t max, pts_verify_out *out);

/* --- calendar work of the timer (calendar.c) --- */

/* Reviews the tiers due at now (anniversaries of the last tier change), in every program. */
void pts_tier_reviews(co_pg_pool *pool, pts_progs *progs, pts_exec *ex, int64_t now);

/* Which programs' birthdays are done for their local date. */
typedef struct pts_birthdays pts_birthdays;
pts_birthdays *pts_birthdays_new(void);
void pts_birthdays_free(pts_birthdays *bd);
/* Credits each program's birthday bonus to its members whose birthday it is at now in the
 * program's time zone (29 February: 28 February in other years), once a year per member; asks
 * the accounts service who was born on the day. */
void pts_birthday_sweep(pts_birthdays *bd, co_pg_pool *pool, pts_progs *progs, co_client *accounts,
                        pts_exec *ex, int64_t now);

/* --- the member export (GDPR access request) --- */

/* Everything the ledger holds about member_id (validated by the caller), read in one
 * REPEATABLE READ, READ ONLY transaction: the JSON document of Ledger.ExportMember, in arena
 * memory of a with its length. A member the ledger never saw gives an empty programs list.
 * Errors are the database's (UNAVAILABLE, DEADLINE_EXCEEDED) or NOMEM. Thread-safe. */
co_err pts_export_member(co_pg_pool *pool, int64_t timeout_ms, const char *member_id, co_arena *a,
                         char **out, size_t *len);

#endif
