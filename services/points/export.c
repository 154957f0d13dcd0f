/* SPDX-License-Identifier: Apache-2.0 */
/* A member's whole record in the ledger as one JSON document, for a GDPR access request. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "pts.h"

size_t pts_parse_text_array(co_arena *a, const char *s, const char ***out);

/* Closes "to_char(<timestamptz>": RFC 3339 UTC text to the microsecond; NULL stays NULL. */
#define UTC " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* Every statement takes the member id as $1 and returns the program code first, rows ordered
 * by program, then oldest first. */

static const char balances_sql[] =
    "SELECT m.program, ma.balance, ha.balance, m.lifetime_earned, m.tier_code,"
    " to_char(m.tier_since" UTC ", to_char(m.first_earn_time" UTC ","
    " to_char(m.tier_review_time" UTC ", nullif(m.birthday_year, 0)"
    " FROM points.members m JOIN points.accounts ma ON ma.id = m.account_id"
    " JOIN points.accounts ha ON ha.id = m.hold_account_id"
    " WHERE m.member_id = $1 ORDER BY m.program";

static const char lots_sql[] =
    "SELECT a.program, l.transfer_id, l.points, l.remaining, to_char(l.expire_time" UTC ","
    " to_char(t.create_time" UTC " FROM points.accounts a JOIN points.lots l ON l.account_id = a.id"
    " JOIN points.transfers t ON t.id = l.transfer_id"
    " WHERE a.member_id = $1 AND a.kind = 1 ORDER BY a.program, l.id";

static const char holds_sql[] =
    "SELECT program, hold_id, partner_id, points, captured_points, status, hold_transfer_id,"
    " to_char(create_time" UTC ", to_char(expire_time" UTC ", to_char(close_time" UTC
    " FROM points.holds WHERE member_id = $1 ORDER BY program, hold_transfer_id";

/* Transfers of the programs the member is in, through the (program, member_id) index. */
static const char transfers_sql[] =
    "SELECT t.program, t.id, t.seq, t.kind, d.name, cr.name, t.points, t.partner_id,"
    " t.request_id, t.member_balance_after, t.corrects_id, t.hold_id, t.purchase_micros,"
    " t.currency, t.campaign_id, t.reason, t.program_version, t.metadata,"
    " to_char(t.create_time" UTC " FROM points.members m"
    " JOIN points.transfers t ON t.program = m.program AND t.member_id = m.member_id"
    " JOIN points.accounts d ON d.id = t.debit_id"
    " JOIN points.accounts cr ON cr.id = t.credit_id"
    " WHERE m.member_id = $1 ORDER BY t.program, t.seq";

static const char coupons_sql[] =
    "SELECT c.program, c.code, c.reward_id, c.partner_id, c.status, c.expire_time <= now(),"
    " to_char(c.issue_time" UTC ", to_char(c.expire_time" UTC ", to_char(c.use_time" UTC
    ", c.used_by_partner_id, c.redeem_transfer_id FROM points.members m"
    " JOIN points.coupons c ON c.program = m.program AND c.member_id = m.member_id"
    " WHERE m.member_id = $1 ORDER BY c.program, c.issue_time, c.code";

static const char tiers_sql[] =
    "SELECT tc.program, to_char(tc.change_time" UTC ", tc.from_tier, tc.to_tier, tc.upgrade"
    " FROM points.members m"
    " JOIN points.tier_changes tc ON tc.program = m.program AND tc.member_id = m.member_id"
    " WHERE m.member_id = $1 ORDER BY tc.program, tc.change_time, tc.id";

typedef struct export_args {
    const char *member_id;
    co_arena *a;
    json_t *root;  /* the document, built afresh by each attempt of the transaction */
    json_t *progs; /* root's "programs" (borrowed) */
    json_t *index; /* program code -> its object in progs */
} export_args;

/* --- values of a row --- */

static json_t *col_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null()
                                    : json_integer(strtoll(PQgetvalue(r, row, col), NULL, 10));
}

/* Text, or null for SQL NULL and for "" (nothing recorded). */
static json_t *col_str(const PGresult *r, int row, int col)
{
    const char *s = PQgetvalue(r, row, col);
    return PQgetisnull(r, row, col) || s[0] == '\0' ? json_null() : json_string(s);
}

/* The transfer id ("tr-<n>") of a bigint column, or null for SQL NULL. */
static json_t *col_tid(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) {
        return json_null();
    }
    char buf[32];
    pts_transfer_id(strtoll(PQgetvalue(r, row, col), NULL, 10), buf, sizeof buf);
    return json_string(buf);
}

/* The lower-case name of a stored enum value (1-based), or null when out of range. */
static json_t *col_name(const char *const *names, size_t n, const PGresult *r, int row, int col)
{
    long v = strtol(PQgetvalue(r, row, col), NULL, 10);
    return v >= 1 && (size_t)v <= n ? json_string(names[v - 1]) : json_null();
}

static bool col_bool(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

/* coalition.v1.TransferKind and HoldStatus, as stored. */
static const char *const kind_names[] = {"earn",         "bonus",       "redeem",  "hold",
                                         "capture",      "void",        "reverse", "expire",
                                         "exchange_out", "exchange_in", "adjust"};
static const char *const hold_names[] = {"active", "captured", "voided", "expired"};
#define NKINDS (sizeof kind_names / sizeof kind_names[0])
#define NHOLDS (sizeof hold_names / sizeof hold_names[0])

/* --- the document --- */

/* Appends v (stolen; NULL for a constructor that failed) to arr; false when anything failed. */
static bool append(json_t *arr, json_t *v)
{
    return json_array_append_new(arr, v) == 0;
}

/* The object of program code, created with no balance and empty lists the first time. */
static json_t *program(export_args *xa, const char *code)
{
    json_t *p = json_object_get(xa->index, code);
    if (p != NULL) {
        return p;
    }
    p = json_pack("{s:s, s:n, s:[], s:[], s:[], s:[], s:[]}", "program_code", code, "balance",
                  "lots", "holds", "transfers", "coupons", "tier_changes");
    if (p == NULL) {
        return NULL;
    }
    if (json_object_set(xa->index, code, p) != 0) {
        json_decref(p);
        return NULL;
    }
    return append(xa->progs, p) ? p : NULL;
}

/* Appends v (stolen) to the list `list` of the row's program (column 0). */
static bool add_to(export_args *xa, const PGresult *r, int row, const char *list, json_t *v)
{
    json_t *p = program(xa, PQgetvalue(r, row, 0));
    if (p == NULL) {
        json_decref(v);
        return false;
    }
    return append(json_object_get(p, list), v);
}

static bool balance_row(export_args *xa, const PGresult *r, int row)
{
    json_t *b =
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "available_points",
                  col_int(r, row, 1), "held_points", col_int(r, row, 2), "lifetime_earned_points",
                  col_int(r, row, 3), "tier_code", col_str(r, row, 4), "tier_since",
                  col_str(r, row, 5), "first_earn_time", col_str(r, row, 6), "tier_review_time",
                  col_str(r, row, 7), "last_birthday_bonus_year", col_int(r, row, 8));
    json_t *p = program(xa, PQgetvalue(r, row, 0));
    if (p == NULL) {
        json_decref(b);
        return false;
    }
    return json_object_set_new(p, "balance", b) == 0;
}

static bool lot_row(export_args *xa, const PGresult *r, int row)
{
    return add_to(xa, r, row, "lots",
                  json_pack("{s:o, s:o, s:o, s:o, s:o}", "transfer_id", col_tid(r, row, 1),
                            "points", col_int(r, row, 2), "remaining_points", col_int(r, row, 3),
                            "expire_time", col_str(r, row, 4), "create_time", col_str(r, row, 5)));
}

static bool hold_row(export_args *xa, const PGresult *r, int row)
{
    return add_to(xa, r, row, "holds",
                  json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "hold_id",
                            col_str(r, row, 1), "partner_id", col_str(r, row, 2), "points",
                            col_int(r, row, 3), "captured_points", col_int(r, row, 4), "status",
                            col_name(hold_names, NHOLDS, r, row, 5), "transfer_id",
                            col_tid(r, row, 6), "create_time", col_str(r, row, 7), "expire_time",
                            col_str(r, row, 8), "close_time", col_str(r, row, 9)));
}

/* The purchase of a transfer ({amount_micros, currency}), or null when it had none. */
static json_t *purchase(const PGresult *r, int row)
{
    if (PQgetisnull(r, row, 12)) {
        return json_null();
    }
    return json_pack("{s:o, s:o}", "amount_micros", col_int(r, row, 12), "currency",
                     col_str(r, row, 13));
}

/* A transfer's metadata as an object (stored as key, value, key, value ... sorted by key);
 * NULL when it cannot be read whole. */
static json_t *metadata(export_args *xa, const PGresult *r, int row)
{
    const char **kv = NULL;
    const char *text = PQgetvalue(r, row, 17);
    size_t n = pts_parse_text_array(xa->a, text, &kv);
    if (n % 2 != 0 || (n == 0 && strcmp(text, "{}") != 0)) {
        return NULL; /* out of memory, or not pairs */
    }
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i + 1 < n; i += 2) {
        if (json_object_set_new(o, kv[i], json_string(kv[i + 1])) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

static bool transfer_row(export_args *xa, const PGresult *r, int row)
{
    json_t *t = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
        "transfer_id", col_tid(r, row, 1), "sequence", col_int(r, row, 2), "kind",
        col_name(kind_names, NKINDS, r, row, 3), "debit_account", col_str(r, row, 4),
        "credit_account", col_str(r, row, 5), "points", col_int(r, row, 6), "partner_id",
        col_str(r, row, 7), "request_id", col_str(r, row, 8), "member_balance_after",
        col_int(r, row, 9), "corrects_transfer_id", col_tid(r, row, 10), "hold_id",
        col_str(r, row, 11), "purchase_amount", purchase(r, row), "campaign_id",
        col_str(r, row, 14), "reason", col_str(r, row, 15), "program_version", col_int(r, row, 16),
        "metadata", metadata(xa, r, row), "create_time", col_str(r, row, 18));
    return add_to(xa, r, row, "transfers", t);
}

static bool coupon_row(export_args *xa, const PGresult *r, int row)
{
    bool used = strcmp(PQgetvalue(r, row, 4), "2") == 0;
    const char *status = used ? "used" : col_bool(r, row, 5) ? "expired" : "issued";
    return add_to(xa, r, row, "coupons",
                  json_pack("{s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "code",
                            col_str(r, row, 1), "reward_id", col_str(r, row, 2), "partner_id",
                            col_str(r, row, 3), "status", status, "issue_time", col_str(r, row, 6),
                            "expire_time", col_str(r, row, 7), "use_time", col_str(r, row, 8),
                            "used_by_partner_id", col_str(r, row, 9), "redeem_transfer_id",
                            col_tid(r, row, 10)));
}

static bool tier_row(export_args *xa, const PGresult *r, int row)
{
    return add_to(xa, r, row, "tier_changes",
                  json_pack("{s:o, s:o, s:o, s:b}", "change_time", col_str(r, row, 1), "from_tier",
                            col_str(r, row, 2), "to_tier", col_str(r, row, 3), "upgrade",
                            col_bool(r, row, 4)));
}

/* --- the transaction --- */

typedef bool (*row_fn)(export_args *xa, const PGresult *r, int row);

/* Runs one statement of the member and adds each row to the document. */
static co_err read_rows(co_pg_conn *c, export_args *xa, const co_pg_stmt *st, row_fn fn)
{
    const char *v[1] = {xa->member_id};
    PGresult *r;
    co_err e = co_pg_exec(c, st, v, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    for (int row = 0; row < PQntuples(r) && e == CO_OK; row++) {
        if (!fn(xa, r, row)) {
            e = CO_ERR_NOMEM;
        }
    }
    PQclear(r);
    return e;
}

static void drop_document(export_args *xa)
{
    json_decref(xa->root);
    json_decref(xa->index);
    xa->root = xa->progs = xa->index = NULL;
}

static co_err export_tx(co_pg_conn *c, void *ud)
{
    export_args *xa = ud;
    drop_document(xa); /* a rerun of the transaction starts over */
    co_err e = co_pg_command(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    if (e != CO_OK) {
        return e;
    }
    xa->root = json_pack("{s:s, s:[]}", "member_id", xa->member_id, "programs");
    xa->index = json_object();
    if (xa->root == NULL || xa->index == NULL) {
        return CO_ERR_NOMEM;
    }
    xa->progs = json_object_get(xa->root, "programs");
    static const struct {
        const char *name, *sql;
        row_fn fn;
    } reads[] = {
        {"pts_x_balances", balances_sql, balance_row},
        {"pts_x_lots", lots_sql, lot_row},
        {"pts_x_holds", holds_sql, hold_row},
        {"pts_x_transfers", transfers_sql, transfer_row},
        {"pts_x_coupons", coupons_sql, coupon_row},
        {"pts_x_tiers", tiers_sql, tier_row},
    };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0] && e == CO_OK; i++) {
        e = read_rows(c, xa, pts_stmt(reads[i].name, reads[i].sql, 1), reads[i].fn);
    }
    return e;
}

co_err pts_export_member(co_pg_pool *pool, int64_t timeout_ms, const char *member_id, co_arena *a,
                         char **out, size_t *len)
{
    export_args xa = {.member_id = member_id, .a = a};
    co_err e = co_pg_tx(pool, timeout_ms, export_tx, &xa);
    char *text = NULL;
    if (e == CO_OK) {
        text = json_dumps(xa.root, JSON_COMPACT | JSON_SORT_KEYS);
        e = text != NULL ? CO_OK : CO_ERR_NOMEM;
    }
    drop_document(&xa);
    if (e != CO_OK) {
        return e;
    }
    size_t n = strlen(text);
    char *copy = co_arena_strndup(a, text, n);
    /* coupon codes are secrets: leave no copy in freed heap memory */
    OPENSSL_cleanse(text, n);
    free(text);
    if (copy == NULL) {
        return CO_ERR_NOMEM;
    }
    *out = copy;
    *len = n;
    return CO_OK;
}
