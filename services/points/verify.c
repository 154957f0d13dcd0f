/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger invariants of DESIGN section 3, checked on one consistent snapshot. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pts.h"

#define CHECK(k) COALITION__V1__LEDGER_CHECK__LEDGER_CHECK_##k

static int64_t v64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static co_err violation(co_arena *a, pts_verify_out *out, size_t max, int check,
                        const char *program, const char *account, const char *transfer,
                        const char *detail)
{
    out->violations++;
    if (out->nv >= max) {
        return CO_OK;
    }
    Coalition__V1__LedgerViolation *v = co_arena_alloc(a, sizeof *v);
    if (v == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__ledger_violation__init(v);
    v->check = (Coalition__V1__LedgerCheck)check;
    v->program_code = co_arena_strdup(a, program);
    v->account = co_arena_strdup(a, account != NULL ? account : "");
    v->transfer_id = co_arena_strdup(a, transfer != NULL ? transfer : "");
    v->detail = co_arena_strdup(a, detail);
    out->v[out->nv++] = v;
    return CO_OK;
}

static co_err run(co_pg_conn *c, const char *name, const char *sql, const char *program,
                  PGresult **r)
{
    const char *v[1] = {program};
    return co_pg_exec(c, pts_stmt(name, sql, 1), v, NULL, NULL, r);
}

/* Parses a PostgreSQL text[] literal ("{a,\"b c\"}") into arena strings. */
static size_t parse_text_array(co_arena *a, const char *s, const char ***out)
{
    size_t cap = 1;
    for (const char *p = s; *p != '\0'; p++) {
        cap += *p == ',';
    }
    const char **v = co_arena_calloc(a, cap + 1, sizeof *v);
    char *buf = co_arena_alloc(a, strlen(s) + 1);
    size_t n = 0;
    if (v == NULL || buf == NULL || *s != '{') {
        *out = v;
        return 0;
    }
    const char *p = s + 1;
    while (*p != '\0' && *p != '}') {
        char *w = buf;
        if (*p == '"') {
            p++;
            while (*p != '\0' && *p != '"') {
                if (*p == '\\' && p[1] != '\0') {
                    p++;
                }
                *w++ = *p++;
            }
            if (*p == '"') {
                p++;
            }
        } else {
            while (*p != '\0' && *p != ',' && *p != '}') {
                *w++ = *p++;
            }
        }
        *w++ = '\0';
        if (n < cap) {
            v[n++] = buf;
        }
        buf = w;
        if (*p == ',') {
            p++;
        }
    }
    *out = v;
    return n;
}

size_t pts_parse_text_array(co_arena *a, const char *s, const char ***out);
size_t pts_parse_text_array(co_arena *a, const char *s, const char ***out)
{
    return parse_text_array(a, s, out);
}

static co_err check_chain(co_pg_conn *c, co_arena *a, const char *program, size_t max,
                          pts_verify_out *out)
{
    co_err e = CO_OK;
    static const char sql[] =
        "SELECT t.program, t.seq, t.id, t.kind, d.name, cr.name, t.points,"
        " t.partner_id, t.request_id, t.member_id, t.member_balance_after,"
        " coalesce(t.corrects_id, 0), t.hold_id, t.purchase_micros IS NOT NULL,"
        " coalesce(t.purchase_micros, 0), t.currency, t.campaign_id, t.reason,"
        " t.program_version, t.metadata,"
        " (extract(epoch FROM t.create_time) * 1000000)::bigint, encode(t.hash, 'hex')"
        " FROM points.transfers t JOIN points.accounts d ON d.id = t.debit_id"
        " JOIN points.accounts cr ON cr.id = t.credit_id"
        " WHERE ($1 = '' OR t.program = $1) AND (t.program, t.seq) > ($2, $3::bigint)"
        " ORDER BY t.program, t.seq LIMIT 5000";
    char after_prog[128] = "";
    char after_seq[24] = "0";
    char prog[128] = "";
    uint8_t prev[32] = {0};
    int64_t last = 0;
    bool broken = false;
    for (;;) {
        PGresult *r;
        const char *v[3] = {program, after_prog, after_seq};
        if ((e = co_pg_exec(c, pts_stmt("pts_v_chain", sql, 3), v, NULL, NULL, &r)) != CO_OK) {
            return e;
        }
        int n = PQntuples(r);
        for (int row = 0; row < n; row++) {
            const char *p = PQgetvalue(r, row, 0);
            if (strcmp(p, prog) != 0) {
                snprintf(prog, sizeof prog, "%s", p);
                memset(prev, 0, sizeof prev);
                last = 0;
                broken = false;
            }
            out->transfers++;
            co_arena scratch;
            co_arena_init(&scratch, 0);
            const char **meta = NULL;
            size_t nm = parse_text_array(&scratch, PQgetvalue(r, row, 19), &meta);
            pts_xfer_view x = {
                .program = p,
                .seq = v64(r, row, 1),
                .id = v64(r, row, 2),
                .kind = (int)v64(r, row, 3),
                .debit = PQgetvalue(r, row, 4),
                .credit = PQgetvalue(r, row, 5),
                .points = v64(r, row, 6),
                .partner_id = PQgetvalue(r, row, 7),
                .request_id = PQgetvalue(r, row, 8),
                .member_id = PQgetvalue(r, row, 9),
                .balance_after = v64(r, row, 10),
                .corrects_id = v64(r, row, 11),
                .hold_id = PQgetvalue(r, row, 12),
                .has_purchase = PQgetvalue(r, row, 13)[0] == 't',
                .purchase_micros = v64(r, row, 14),
                .currency = PQgetvalue(r, row, 15),
                .campaign_id = PQgetvalue(r, row, 16),
                .reason = PQgetvalue(r, row, 17),
                .program_version = v64(r, row, 18),
                .create_us = v64(r, row, 20),
                .meta = meta,
                .nmeta = nm / 2,
            };
            uint8_t h[32];
            pts_xfer_hash(prev, &x, h);
            char hex[65];
            pts_hex(h, 32, hex);
            co_arena_release(&scratch);
            if (!broken && (x.seq != last + 1 || strcmp(hex, PQgetvalue(r, row, 21)) != 0)) {
                char tid[32], detail[200];
                pts_transfer_id(x.id, tid, sizeof tid);
                snprintf(detail, sizeof detail,
                         x.seq != last + 1 ? "sequence %" PRId64 " follows %" PRId64
                                           : "hash does not match content at sequence %" PRId64
                                             " (after %" PRId64 ")",
                         x.seq, last);
                if ((e = violation(a, out, max, CHECK(HASH_CHAIN), p, NULL, tid, detail)) !=
                    CO_OK) {
                    PQclear(r);
                    return e;
                }
                broken = true; /* one report per program: what follows cannot be trusted */
            }
            /* continue from the stored hash, so later rows are checked against their own link */
            memset(prev, 0, sizeof prev);
            pts_unhex(PQgetvalue(r, row, 21), prev, sizeof prev);
            last = x.seq;
            snprintf(after_prog, sizeof after_prog, "%s", p);
            snprintf(after_seq, sizeof after_seq, "%" PRId64, x.seq);
        }
        PQclear(r);
        if (n == 0) {
            break;
        }
    }
    return CO_OK;
}

/* A set-based check: a query returning (program, account, found, expected) per violation, and
 * how to say it. */
typedef struct set_check {
    int check;
    const char *name;
    const char *sql;                            /* $1: the program, or '' for every program */
    const char *before_found, *before_expected; /* detail: <before_found><found><...><expected> */
} set_check;

static const set_check checks[] = {
    {CHECK(SUM_ZERO), "pts_v_sum",
     "SELECT program, '', sum(balance)::text, '0' FROM points.accounts WHERE $1 = '' OR"
     " program = $1 GROUP BY program HAVING sum(balance) <> 0 ORDER BY program",
     "account balances sum to ", ", not "},
    {CHECK(BALANCE_MATCHES_TRANSFERS), "pts_v_bal",
     "SELECT a.program, a.name, a.balance::text, (coalesce(cr.s, 0) - coalesce(dr.s, 0))::text"
     " FROM points.accounts a"
     " LEFT JOIN (SELECT credit_id, sum(points) s FROM points.transfers GROUP BY credit_id) cr"
     " ON cr.credit_id = a.id"
     " LEFT JOIN (SELECT debit_id, sum(points) s FROM points.transfers GROUP BY debit_id) dr"
     " ON dr.debit_id = a.id WHERE ($1 = '' OR a.program = $1) AND"
     " a.balance <> coalesce(cr.s, 0) - coalesce(dr.s, 0) ORDER BY a.id",
     "stored ", ", transfers sum "},
    /* a member's lot remainders are its spendable balance (0 while negative) */
    {CHECK(LOTS_MATCH_BALANCE), "pts_v_lots",
     "SELECT a.program, a.name, a.balance::text, coalesce(l.s, 0)::text FROM points.accounts a"
     " LEFT JOIN (SELECT account_id, sum(remaining) s FROM points.lots GROUP BY account_id) l"
     " ON l.account_id = a.id WHERE a.kind = 1 AND ($1 = '' OR a.program = $1) AND"
     " greatest(a.balance, 0) <> coalesce(l.s, 0) ORDER BY a.id",
     "balance ", ", lot remainders sum "},
    /* members below 0 only through REVERSE; holds never */
    {CHECK(MEMBER_NOT_NEGATIVE), "pts_v_neg",
     "SELECT a.program, a.name, a.balance::text, '' FROM points.accounts a WHERE a.kind IN (1, 2)"
     " AND a.balance < 0 AND ($1 = '' OR a.program = $1) AND (a.kind = 2 OR NOT EXISTS (SELECT 1"
     " FROM points.transfers t WHERE t.debit_id = a.id AND t.kind = 7)) ORDER BY a.id",
     "balance ", " without a reversal"},
    {CHECK(PREPAID_NOT_NEGATIVE), "pts_v_prepaid",
     "SELECT program, name, balance::text, '' FROM points.accounts WHERE kind = 3 AND guarded"
     " AND balance < 0 AND ($1 = '' OR program = $1) ORDER BY id",
     "prepaid block at ", ""},
    /* each chain head matches its program's last transfer */
    {CHECK(HASH_CHAIN), "pts_v_heads",
     "SELECT c.program, '', c.seq::text, coalesce(max(t.seq), 0)::text FROM points.chains c"
     " LEFT JOIN points.transfers t ON t.program = c.program WHERE $1 = '' OR c.program = $1"
     " GROUP BY c.program, c.seq HAVING c.seq <> coalesce(max(t.seq), 0)",
     "chain head at ", ", last transfer "},
    /* the qualifying figures stored with each member (migration 0007) match its earns */
    {CHECK(QUALIFYING_MATCHES_TRANSFERS), "pts_v_qual",
     "SELECT m.program, a.name, m.q_points || ' points, ' || m.q_spend || ' spend, oldest ' ||"
     " coalesce((extract(epoch FROM m.q_oldest) * 1000000)::bigint::text, 'none'),"
     " q.pts || ' points, ' || q.spend || ' spend, oldest ' || coalesce(q.oldest::text, 'none')"
     " FROM points.members m JOIN points.accounts a ON a.id = m.account_id, LATERAL "
     "(" PTS_QUALIFYING_SQL(
         "m.program", "m.member_id",
         "(extract(epoch FROM m.q_from) * 1000000)::bigint") ") q"
                                                             " WHERE m.q_from IS NOT NULL AND ($1 "
                                                             "= '' OR m.program = $1) AND "
                                                             "(m.q_points <> q.pts OR"
                                                             " m.q_spend <> q.spend OR (q.oldest "
                                                             "IS NOT NULL AND (m.q_oldest IS NULL "
                                                             "OR"
                                                             " (extract(epoch FROM m.q_oldest) * "
                                                             "1000000)::bigint > q.oldest))) ORDER "
                                                             "BY a.id",
     "stored ", ", transfers give "},
};

static co_err run_check(co_pg_conn *c, co_arena *a, const set_check *ck, const char *program,
                        size_t max, pts_verify_out *out)
{
    PGresult *r;
    co_err e = run(c, ck->name, ck->sql, program, &r);
    if (e != CO_OK) {
        return e;
    }
    for (int i = 0; e == CO_OK && i < PQntuples(r); i++) {
        char detail[200];
        snprintf(detail, sizeof detail, "%s%s%s%s", ck->before_found, PQgetvalue(r, i, 2),
                 ck->before_expected, PQgetvalue(r, i, 3));
        const char *account = PQgetvalue(r, i, 1);
        e = violation(a, out, max, ck->check, PQgetvalue(r, i, 0),
                      account[0] != '\0' ? account : NULL, NULL, detail);
    }
    PQclear(r);
    return e;
}

co_err pts_verify(co_pg_conn *c, co_arena *a, const char *program, size_t max, pts_verify_out *out)
{
    memset(out, 0, sizeof *out);
    out->v = co_arena_calloc(a, max + 1, sizeof *out->v);
    if (out->v == NULL) {
        return CO_ERR_NOMEM;
    }
    co_err e = co_pg_command(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    if (e != CO_OK) {
        return e;
    }
    PGresult *r;
    if ((e = run(c, "pts_v_now", "SELECT (extract(epoch FROM now()) * 1000000)::bigint, $1::text",
                 program, &r)) != CO_OK) {
        return e;
    }
    out->check_us = v64(r, 0, 0);
    PQclear(r);
    if ((e = run(c, "pts_v_counts",
                 "SELECT count(DISTINCT program), count(*) FROM points.accounts"
                 " WHERE $1 = '' OR program = $1",
                 program, &r)) != CO_OK) {
        return e;
    }
    out->programs = v64(r, 0, 0);
    out->accounts = v64(r, 0, 1);
    PQclear(r);
    for (size_t k = 0; k < sizeof checks / sizeof checks[0] && e == CO_OK; k++) {
        e = run_check(c, a, &checks[k], program, max, out);
        if (k == 4 && e == CO_OK) {
            e = check_chain(c, a, program, max, out); /* 6, before the heads */
        }
    }
    return e;
}
