/* SPDX-License-Identifier: Apache-2.0 */
/* The accounts service's SQL: every statement is prepared and parameterized. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

#define MEMBER_COLS                                                                                \
    "member_id, status, card_enc, qr_enc, phone_enc, email_enc, name_enc, birth_enc, locale,"      \
    " enrolled_by, " US("create_time") ", " US("update_time") ", coalesce(" US(                    \
        "erase_time") ", 0)"

static const co_pg_stmt st_insert = {
    "acct_insert",
    "INSERT INTO accounts.members (member_id, status, card_enc, qr_enc, phone_enc, email_enc,"
    " name_enc, birth_enc, locale, enrolled_by, card_hash, qr_hash, phone_hash, email_hash,"
    " birth_md) VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
    " nullif($14::smallint, 0)) RETURNING " MEMBER_COLS,
    14};
static const co_pg_stmt st_get = {
    "acct_get", "SELECT " MEMBER_COLS " FROM accounts.members WHERE member_id = $1", 1};
static const co_pg_stmt st_get_lock = {
    "acct_get_lock", "SELECT " MEMBER_COLS " FROM accounts.members WHERE member_id = $1 FOR UPDATE",
    1};
static const co_pg_stmt st_find[4] = {
    {"acct_find_card",
     "SELECT " MEMBER_COLS " FROM accounts.members WHERE card_hash = $1 AND status = 1", 1},
    {"acct_find_qr",
     "SELECT " MEMBER_COLS " FROM accounts.members WHERE qr_hash = $1 AND status = 1", 1},
    {"acct_find_phone",
     "SELECT " MEMBER_COLS " FROM accounts.members WHERE phone_hash = $1 AND status = 1", 1},
    {"acct_find_email",
     "SELECT " MEMBER_COLS " FROM accounts.members WHERE email_hash = $1 AND status = 1", 1},
};
static const co_pg_stmt st_update = {
    "acct_update",
    "UPDATE accounts.members SET card_enc = $2, qr_enc = $3, phone_enc = $4, email_enc = $5,"
    " name_enc = $6, birth_enc = $7, locale = $8, card_hash = $9, qr_hash = $10,"
    " phone_hash = $11, email_hash = $12, birth_md = nullif($13::smallint, 0),"
    " update_time = now() WHERE member_id = $1 AND status = 1 RETURNING " MEMBER_COLS,
    13};
static const co_pg_stmt st_erase = {
    "acct_erase",
    "UPDATE accounts.members SET status = 2, card_enc = NULL, qr_enc = NULL, phone_enc = NULL,"
    " email_enc = NULL, name_enc = NULL, birth_enc = NULL, card_hash = NULL, qr_hash = NULL,"
    " phone_hash = NULL, email_hash = NULL, birth_md = NULL, erase_reason = $2, erase_time = now(),"
    " update_time = now() WHERE member_id = $1 RETURNING " MEMBER_COLS,
    2};
static const co_pg_stmt st_erase_consents = {
    "acct_erase_consents", "DELETE FROM accounts.consents WHERE member_id = $1", 1};
static const co_pg_stmt st_erase_consent_events = {
    "acct_erase_consent_events", "DELETE FROM accounts.consent_events WHERE member_id = $1", 1};
static const co_pg_stmt st_erase_comments = {
    "acct_erase_comments", "UPDATE accounts.feedback SET comment_enc = NULL WHERE member_id = $1",
    1};
static const co_pg_stmt st_consents = {
    "acct_consents",
    "SELECT purpose, granted, '', " US(
        "update_time") " FROM accounts.consents WHERE member_id = $1 ORDER BY purpose",
    1};
static const co_pg_stmt st_consent_events = {
    "acct_consent_events",
    "SELECT purpose, granted, partner_id, " US(
        "create_time") " FROM accounts.consent_events WHERE member_id = $1 ORDER BY event_id",
    1};
static const co_pg_stmt st_set_consent = {
    "acct_set_consent",
    "WITH ev AS (INSERT INTO accounts.consent_events (member_id, purpose, granted, partner_id)"
    " VALUES ($1, $2, $3, $4))"
    " INSERT INTO accounts.consents (member_id, purpose, granted) VALUES ($1, $2, $3)"
    " ON CONFLICT (member_id, purpose) DO UPDATE SET granted = EXCLUDED.granted,"
    " update_time = now()",
    4};
static const co_pg_stmt st_log_change = {
    "acct_log_change",
    "INSERT INTO accounts.member_changes (member_id, partner_id, fields) VALUES ($1, $2, $3)", 3};
static const co_pg_stmt st_changes = {
    "acct_changes",
    "SELECT partner_id, fields, " US(
        "change_time") " FROM accounts.member_changes WHERE member_id = $1 ORDER BY change_id",
    1};

#define FEEDBACK_COLS                                                                              \
    "feedback_id, member_id, program_code, partner_id, coalesce(nps, -1), coalesce(effort, -1),"   \
    " comment_enc, " US("create_time")

static const co_pg_stmt st_feedback_insert = {
    "acct_feedback_insert",
    "INSERT INTO accounts.feedback (feedback_id, member_id, program_code, partner_id, nps,"
    " effort, comment_enc) VALUES ($1, $2, $3, $4, nullif($5::smallint, -1),"
    " nullif($6::smallint, -1), $7) RETURNING " FEEDBACK_COLS,
    7};
static const co_pg_stmt st_feedback_list = {"acct_feedback_list",
                                            "SELECT " FEEDBACK_COLS
                                            " FROM accounts.feedback WHERE member_id = $1"
                                            " ORDER BY create_time, feedback_id",
                                            1};

#define MS_COLS                                                                                    \
    "membership_id, member_id, plan_id, program_code, program_owner,"                              \
    " CASE WHEN status = 1 AND end_time <= now() THEN 3 ELSE status END, " US(                     \
        "start_time") ", " US("end_time") ", last_fee_micros, last_fee_currency, sold_by,"         \
                                          " coalesce(" US("cancel_time") ", 0), cancel_reason"

static const co_pg_stmt st_ms_active = {
    "acct_ms_active",
    "SELECT " MS_COLS " FROM accounts.memberships WHERE member_id = $1 AND status = 1"
    " AND end_time > now() AND ($2 = '' OR program_code = $2) ORDER BY program_code, plan_id",
    2};
static const co_pg_stmt st_ms_active_lock = {
    "acct_ms_active_lock",
    "SELECT " MS_COLS " FROM accounts.memberships WHERE member_id = $1 AND status = 1"
    " AND end_time > now() AND ($2 = '' OR program_code = $2) ORDER BY program_code, plan_id"
    " FOR UPDATE",
    2};
static const co_pg_stmt st_ms_all = {"acct_ms_all",
                                     "SELECT " MS_COLS
                                     " FROM accounts.memberships WHERE member_id = $1"
                                     " ORDER BY start_time, membership_id",
                                     1};
static const co_pg_stmt st_ms_insert = {
    "acct_ms_insert",
    "INSERT INTO accounts.memberships (membership_id, member_id, plan_id, program_code,"
    " program_owner, status, start_time, end_time, last_fee_micros, last_fee_currency, sold_by)"
    " VALUES ($1, $2, $3, $4, $5, 1, now(), now() + make_interval(months => $6::int), $7, $8, $9)"
    " RETURNING " MS_COLS,
    9};
static const co_pg_stmt st_ms_extend = {
    "acct_ms_extend",
    "UPDATE accounts.memberships SET end_time = end_time + make_interval(months => $2::int),"
    " last_fee_micros = $3, last_fee_currency = $4, sold_by = $5"
    " WHERE membership_id = $1 RETURNING " MS_COLS,
    5};
static const co_pg_stmt st_ms_get = {
    "acct_ms_get", "SELECT " MS_COLS " FROM accounts.memberships WHERE membership_id = $1", 1};
static const co_pg_stmt st_ms_get_lock = {
    "acct_ms_get_lock",
    "SELECT " MS_COLS " FROM accounts.memberships WHERE membership_id = $1 FOR UPDATE", 1};
static const co_pg_stmt st_ms_cancel = {
    "acct_ms_cancel",
    "UPDATE accounts.memberships SET status = 2, cancel_time = now(), end_time = now(),"
    " cancel_reason = $2 WHERE membership_id = $1 RETURNING " MS_COLS,
    2};
static const co_pg_stmt st_key_get = {"acct_key_get",
                                      "SELECT sealed FROM accounts.key_check WHERE id = 1", 0};
static const co_pg_stmt st_key_put = {
    "acct_key_put",
    "INSERT INTO accounts.key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", 1};

/* --- helpers --- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Decodes a bytea column in hex output format ("\x0a1b...") into arena memory. */
static co_err read_blob(PGresult *r, int i, int k, co_arena *a, acct_blob *out)
{
    if (PQgetisnull(r, i, k)) {
        *out = (acct_blob){NULL, 0};
        return CO_OK;
    }
    const char *s = PQgetvalue(r, i, k);
    size_t len = strlen(s);
    if (len < 2 || s[0] != '\\' || s[1] != 'x' || len % 2 != 0) {
        return CO_ERR_INTERNAL;
    }
    size_t n = (len - 2) / 2;
    uint8_t *p = co_arena_alloc(a, n + 1);
    if (p == NULL) {
        return CO_ERR_NOMEM;
    }
    for (size_t j = 0; j < n; j++) {
        int hi = hexval(s[2 + 2 * j]), lo = hexval(s[3 + 2 * j]);
        if (hi < 0 || lo < 0) {
            return CO_ERR_INTERNAL;
        }
        p[j] = (uint8_t)(hi << 4 | lo);
    }
    *out = (acct_blob){p, n};
    return CO_OK;
}

static const char *dup(co_arena *a, PGresult *r, int i, int k, co_err *e)
{
    const char *s = co_arena_strdup(a, PQgetvalue(r, i, k));
    if (s == NULL) {
        *e = CO_ERR_NOMEM;
    }
    return s;
}

static int64_t num(PGresult *r, int i, int k)
{
    return strtoll(PQgetvalue(r, i, k), NULL, 10);
}

static co_err read_member(PGresult *r, int i, co_arena *a, acct_member_row *m)
{
    co_err e = CO_OK;
    acct_member_row x = {0};
    x.member_id = dup(a, r, i, 0, &e);
    x.status = (int)num(r, i, 1);
    acct_blob *blobs[6] = {&x.card, &x.qr, &x.phone, &x.email, &x.name, &x.birth};
    for (int k = 0; k < 6 && e == CO_OK; k++) {
        e = read_blob(r, i, 2 + k, a, blobs[k]);
    }
    x.locale = dup(a, r, i, 8, &e);
    x.enrolled_by = dup(a, r, i, 9, &e);
    x.create_us = num(r, i, 10);
    x.update_us = num(r, i, 11);
    x.erase_us = num(r, i, 12);
    if (e == CO_OK) {
        *m = x;
    }
    return e;
}

/* A binary parameter of b (NULL stays SQL NULL). */
static void bin(const char **vals, int *lens, int *fmts, int k, const uint8_t *p, size_t n)
{
    vals[k] = (const char *)p;
    lens[k] = (int)n;
    fmts[k] = 1;
}

/* Reads exactly one member of r into *out (CO_ERR_NOT_FOUND for none); clears r. */
static co_err member_of(PGresult *r, co_arena *a, acct_member_row *out)
{
    co_err e = PQntuples(r) == 1 ? read_member(r, 0, a, out) : CO_ERR_NOT_FOUND;
    PQclear(r);
    return e;
}

/* Runs st and reads exactly one member into *out (CO_ERR_NOT_FOUND for none). */
static co_err one_member(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals,
                         const int *lens, const int *fmts, co_arena *a, acct_member_row *out)
{
    PGresult *r;
    co_err e = co_pg_exec(c, st, vals, lens, fmts, &r);
    return e != CO_OK ? e : member_of(r, a, out);
}

static const char *conflict_of(co_pg_conn *c)
{
    const char *k = co_pg_last_constraint(c);
    if (strstr(k, "phone") != NULL) {
        return "phone";
    }
    if (strstr(k, "email") != NULL) {
        return "email";
    }
    if (strstr(k, "card") != NULL) {
        return "card_number";
    }
    if (strstr(k, "qr") != NULL) {
        return "qr_token";
    }
    return "member_id";
}

/* Fills parameters 1..7 (0-based) with the sealed values and locale, and the four hashes from
 * hash_base on. */
static void member_params(const acct_member_row *m, const acct_hashes *h, const char **vals,
                          int *lens, int *fmts, int hash_base)
{
    const acct_blob *bl[6] = {&m->card, &m->qr, &m->phone, &m->email, &m->name, &m->birth};
    for (int k = 0; k < 6; k++) {
        bin(vals, lens, fmts, 1 + k, bl[k]->p, bl[k]->n);
    }
    vals[7] = m->locale;
    const uint8_t *hs[4] = {h->card, h->qr, h->phone, h->email};
    for (int k = 0; k < 4; k++) {
        bin(vals, lens, fmts, hash_base + k, hs[k], hs[k] != NULL ? 32 : 0);
    }
}

/* --- members --- */

co_err acct_store_insert(co_pg_conn *c, const acct_member_row *m, const acct_hashes *h, co_arena *a,
                         acct_member_row *out, const char **conflict)
{
    const char *vals[14] = {0};
    int lens[14] = {0}, fmts[14] = {0};
    char md[8];
    snprintf(md, sizeof md, "%d", m->birth_md);
    vals[0] = m->member_id;
    member_params(m, h, vals, lens, fmts, 9); /* $9 is enrolled_by */
    vals[8] = m->enrolled_by;
    vals[13] = md;
    co_err e = one_member(c, &st_insert, vals, lens, fmts, a, out);
    if (e == CO_ERR_ALREADY_EXISTS) {
        *conflict = conflict_of(c);
    }
    return e;
}

co_err acct_store_get(co_pg_conn *c, const char *member_id, bool lock, co_arena *a,
                      acct_member_row *out)
{
    const char *vals[1] = {member_id};
    return one_member(c, lock ? &st_get_lock : &st_get, vals, NULL, NULL, a, out);
}

co_err acct_store_find(co_pg_conn *c, acct_ident kind, const uint8_t *h, co_arena *a,
                       acct_member_row *out)
{
    const char *vals[1] = {(const char *)h};
    int lens[1] = {32}, fmts[1] = {1};
    return one_member(c, &st_find[kind], vals, lens, fmts, a, out);
}

co_err acct_store_update(co_pg_conn *c, const acct_member_row *m, const acct_hashes *h, co_arena *a,
                         acct_member_row *out, const char **conflict)
{
    const char *vals[13] = {0};
    int lens[13] = {0}, fmts[13] = {0};
    char md[8];
    snprintf(md, sizeof md, "%d", m->birth_md);
    vals[0] = m->member_id;
    member_params(m, h, vals, lens, fmts, 8);
    vals[12] = md;
    co_err e = one_member(c, &st_update, vals, lens, fmts, a, out);
    if (e == CO_ERR_ALREADY_EXISTS) {
        *conflict = conflict_of(c);
    }
    return e;
}

static const co_pg_stmt st_birthdays = {
    "acct_birthdays",
    "SELECT member_id FROM accounts.members WHERE birth_md = $1::smallint AND status = 1 AND"
    " member_id > $2 ORDER BY member_id LIMIT $3::int",
    3};

co_err acct_store_birthdays(co_pg_conn *c, int md, const char *after, int limit, co_arena *a,
                            char ***ids, size_t *n)
{
    char mds[8], lim[16];
    snprintf(mds, sizeof mds, "%d", md);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *vals[3] = {mds, after, lim};
    PGresult *r;
    co_err e = co_pg_exec(c, &st_birthdays, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    size_t rows = (size_t)PQntuples(r);
    *n = 0;
    *ids = co_arena_calloc(a, rows + 1, sizeof **ids);
    for (size_t i = 0; *ids != NULL && i < rows; i++) {
        if (((*ids)[i] = co_arena_strdup(a, PQgetvalue(r, (int)i, 0))) == NULL) {
            break;
        }
        (*n)++;
    }
    PQclear(r);
    return *ids != NULL && *n == rows ? CO_OK : CO_ERR_NOMEM;
}

static co_err exec1(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals)
{
    PGresult *r;
    co_err e = co_pg_exec(c, st, vals, NULL, NULL, &r);
    if (e == CO_OK) {
        PQclear(r);
    }
    return e;
}

co_err acct_store_erase(co_pg_conn *c, const char *member_id, const char *reason, co_arena *a,
                        acct_member_row *out)
{
    const char *id[1] = {member_id};
    co_err e;
    if ((e = exec1(c, &st_erase_consents, id)) != CO_OK ||
        (e = exec1(c, &st_erase_consent_events, id)) != CO_OK ||
        (e = exec1(c, &st_erase_comments, id)) != CO_OK) {
        return e;
    }
    const char *vals[2] = {member_id, reason};
    return one_member(c, &st_erase, vals, NULL, NULL, a, out);
}

/* --- consents and changes --- */

static co_err consents_of(PGresult *r, co_arena *a, acct_consent **out, size_t *n);

static co_err read_consents(co_pg_conn *c, const co_pg_stmt *st, const char *member_id, co_arena *a,
                            acct_consent **out, size_t *n)
{
    const char *vals[1] = {member_id};
    PGresult *r;
    co_err e = co_pg_exec(c, st, vals, NULL, NULL, &r);
    return e != CO_OK ? e : consents_of(r, a, out, n);
}

/* Reads the consents of r; clears r. */
static co_err consents_of(PGresult *r, co_arena *a, acct_consent **out, size_t *n)
{
    co_err e = CO_OK;
    int rows = PQntuples(r);
    acct_consent *cs = co_arena_calloc(a, (size_t)(rows > 0 ? rows : 1), sizeof *cs);
    if (cs == NULL) {
        PQclear(r);
        return CO_ERR_NOMEM;
    }
    for (int i = 0; i < rows && e == CO_OK; i++) {
        cs[i].purpose = (int)num(r, i, 0);
        cs[i].granted = PQgetvalue(r, i, 1)[0] == 't';
        cs[i].partner_id = dup(a, r, i, 2, &e);
        cs[i].time_us = num(r, i, 3);
    }
    PQclear(r);
    if (e == CO_OK) {
        *out = cs;
        *n = (size_t)rows;
    }
    return e;
}

co_err acct_store_consents(co_pg_conn *c, const char *member_id, co_arena *a, acct_consent **out,
                           size_t *n)
{
    return read_consents(c, &st_consents, member_id, a, out, n);
}

co_err acct_store_consent_events(co_pg_conn *c, const char *member_id, co_arena *a,
                                 acct_consent **out, size_t *n)
{
    return read_consents(c, &st_consent_events, member_id, a, out, n);
}

co_err acct_store_set_consent(co_pg_conn *c, const char *member_id, int purpose, bool granted,
                              const char *partner_id)
{
    char p[16];
    snprintf(p, sizeof p, "%d", purpose);
    const char *vals[4] = {member_id, p, granted ? "true" : "false", partner_id};
    return exec1(c, &st_set_consent, vals);
}

co_err acct_store_log_change(co_pg_conn *c, const char *member_id, const char *partner_id,
                             const char *fields)
{
    const char *vals[3] = {member_id, partner_id, fields};
    return exec1(c, &st_log_change, vals);
}

co_err acct_store_changes(co_pg_conn *c, const char *member_id, co_arena *a, acct_change **out,
                          size_t *n)
{
    const char *vals[1] = {member_id};
    PGresult *r;
    co_err e = co_pg_exec(c, &st_changes, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    int rows = PQntuples(r);
    acct_change *cs = co_arena_calloc(a, (size_t)(rows > 0 ? rows : 1), sizeof *cs);
    if (cs == NULL) {
        PQclear(r);
        return CO_ERR_NOMEM;
    }
    for (int i = 0; i < rows && e == CO_OK; i++) {
        cs[i].partner_id = dup(a, r, i, 0, &e);
        cs[i].fields = dup(a, r, i, 1, &e);
        cs[i].time_us = num(r, i, 2);
    }
    PQclear(r);
    if (e == CO_OK) {
        *out = cs;
        *n = (size_t)rows;
    }
    return e;
}

/* --- feedback --- */

static co_err read_feedback(PGresult *r, int i, co_arena *a, acct_feedback_row *f)
{
    co_err e = CO_OK;
    acct_feedback_row x = {0};
    x.feedback_id = dup(a, r, i, 0, &e);
    x.member_id = dup(a, r, i, 1, &e);
    x.program_code = dup(a, r, i, 2, &e);
    x.partner_id = dup(a, r, i, 3, &e);
    x.nps = (int)num(r, i, 4);
    x.effort = (int)num(r, i, 5);
    if (e == CO_OK) {
        e = read_blob(r, i, 6, a, &x.comment);
    }
    x.create_us = num(r, i, 7);
    if (e == CO_OK) {
        *f = x;
    }
    return e;
}

co_err acct_store_feedback_insert(co_pg_conn *c, const acct_feedback_row *f, co_arena *a,
                                  acct_feedback_row *out)
{
    char nps[16], eff[16];
    snprintf(nps, sizeof nps, "%d", f->nps);
    snprintf(eff, sizeof eff, "%d", f->effort);
    const char *vals[7] = {f->feedback_id, f->member_id, f->program_code, f->partner_id, nps, eff};
    int lens[7] = {0}, fmts[7] = {0};
    bin(vals, lens, fmts, 6, f->comment.p, f->comment.n);
    PGresult *r;
    co_err e = co_pg_exec(c, &st_feedback_insert, vals, lens, fmts, &r);
    if (e != CO_OK) {
        return e;
    }
    e = PQntuples(r) == 1 ? read_feedback(r, 0, a, out) : CO_ERR_INTERNAL;
    PQclear(r);
    return e;
}

co_err acct_store_feedback_list(co_pg_conn *c, const char *member_id, co_arena *a,
                                acct_feedback_row **out, size_t *n)
{
    const char *vals[1] = {member_id};
    PGresult *r;
    co_err e = co_pg_exec(c, &st_feedback_list, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    int rows = PQntuples(r);
    acct_feedback_row *fs = co_arena_calloc(a, (size_t)(rows > 0 ? rows : 1), sizeof *fs);
    if (fs == NULL) {
        PQclear(r);
        return CO_ERR_NOMEM;
    }
    for (int i = 0; i < rows && e == CO_OK; i++) {
        e = read_feedback(r, i, a, &fs[i]);
    }
    PQclear(r);
    if (e == CO_OK) {
        *out = fs;
        *n = (size_t)rows;
    }
    return e;
}

/* --- memberships --- */

static co_err read_ms(PGresult *r, int i, co_arena *a, acct_membership_row *m)
{
    co_err e = CO_OK;
    acct_membership_row x = {0};
    x.membership_id = dup(a, r, i, 0, &e);
    x.member_id = dup(a, r, i, 1, &e);
    x.plan_id = dup(a, r, i, 2, &e);
    x.program_code = dup(a, r, i, 3, &e);
    x.program_owner = dup(a, r, i, 4, &e);
    x.status = (int)num(r, i, 5);
    x.start_us = num(r, i, 6);
    x.end_us = num(r, i, 7);
    x.fee_micros = num(r, i, 8);
    x.fee_currency = dup(a, r, i, 9, &e);
    x.sold_by = dup(a, r, i, 10, &e);
    x.cancel_us = num(r, i, 11);
    x.cancel_reason = dup(a, r, i, 12, &e);
    if (e == CO_OK) {
        *m = x;
    }
    return e;
}

static co_err ms_of(PGresult *r, co_arena *a, acct_membership_row **out, size_t *n);

static co_err ms_list(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals, co_arena *a,
                      acct_membership_row **out, size_t *n)
{
    PGresult *r;
    co_err e = co_pg_exec(c, st, vals, NULL, NULL, &r);
    return e != CO_OK ? e : ms_of(r, a, out, n);
}

/* Reads the memberships of r; clears r. */
static co_err ms_of(PGresult *r, co_arena *a, acct_membership_row **out, size_t *n)
{
    co_err e = CO_OK;
    int rows = PQntuples(r);
    acct_membership_row *ms = co_arena_calloc(a, (size_t)(rows > 0 ? rows : 1), sizeof *ms);
    if (ms == NULL) {
        PQclear(r);
        return CO_ERR_NOMEM;
    }
    for (int i = 0; i < rows && e == CO_OK; i++) {
        e = read_ms(r, i, a, &ms[i]);
    }
    PQclear(r);
    if (e == CO_OK) {
        *out = ms;
        *n = (size_t)rows;
    }
    return e;
}

static co_err ms_one(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals, co_arena *a,
                     acct_membership_row *out)
{
    acct_membership_row *ms;
    size_t n;
    co_err e = ms_list(c, st, vals, a, &ms, &n);
    if (e != CO_OK) {
        return e;
    }
    if (n != 1) {
        return CO_ERR_NOT_FOUND;
    }
    *out = ms[0];
    return CO_OK;
}

co_err acct_store_memberships_active(co_pg_conn *c, const char *member_id, const char *program_code,
                                     bool lock, co_arena *a, acct_membership_row **out, size_t *n)
{
    const char *vals[2] = {member_id, program_code};
    return ms_list(c, lock ? &st_ms_active_lock : &st_ms_active, vals, a, out, n);
}

co_err acct_store_memberships_all(co_pg_conn *c, const char *member_id, co_arena *a,
                                  acct_membership_row **out, size_t *n)
{
    const char *vals[1] = {member_id};
    return ms_list(c, &st_ms_all, vals, a, out, n);
}

co_err acct_store_membership_insert(co_pg_conn *c, const acct_membership_row *m, int months,
                                    co_arena *a, acct_membership_row *out)
{
    char mo[16], fee[32];
    snprintf(mo, sizeof mo, "%d", months);
    snprintf(fee, sizeof fee, "%lld", (long long)m->fee_micros);
    const char *vals[9] = {m->membership_id, m->member_id, m->plan_id, m->program_code,
                           m->program_owner, mo,           fee,        m->fee_currency,
                           m->sold_by};
    return ms_one(c, &st_ms_insert, vals, a, out);
}

co_err acct_store_membership_extend(co_pg_conn *c, const char *membership_id, int months,
                                    int64_t fee_micros, const char *currency, const char *sold_by,
                                    co_arena *a, acct_membership_row *out)
{
    char mo[16], fee[32];
    snprintf(mo, sizeof mo, "%d", months);
    snprintf(fee, sizeof fee, "%lld", (long long)fee_micros);
    const char *vals[5] = {membership_id, mo, fee, currency, sold_by};
    return ms_one(c, &st_ms_extend, vals, a, out);
}

co_err acct_store_membership_get(co_pg_conn *c, const char *membership_id, bool lock, co_arena *a,
                                 acct_membership_row *out)
{
    const char *vals[1] = {membership_id};
    return ms_one(c, lock ? &st_ms_get_lock : &st_ms_get, vals, a, out);
}

co_err acct_store_membership_cancel(co_pg_conn *c, const char *membership_id, const char *reason,
                                    co_arena *a, acct_membership_row *out)
{
    const char *vals[2] = {membership_id, reason};
    return ms_one(c, &st_ms_cancel, vals, a, out);
}

/* --- figures of a program --- */

#define AT(p) "(timestamptz 'epoch' + " p "::bigint * interval '1 microsecond')"

static const co_pg_stmt st_figures = {
    "acct_program_figures",
    "SELECT (SELECT count(*) FROM accounts.memberships WHERE program_code = $1"
    "   AND start_time <= " AT("$2") " AND end_time > " AT(
        "$2") "),"
              " count(nps), count(*) FILTER (WHERE nps >= 9), count(*) FILTER (WHERE nps BETWEEN 7 "
              "AND 8),"
              " count(*) FILTER (WHERE nps <= 6), count(effort), coalesce(sum(effort), 0)"
              " FROM accounts.feedback WHERE program_code = $1 AND create_time >= " AT(
                  "$3") " AND create_time < " AT("$2"),
    3};

co_err acct_store_program_figures(co_pg_conn *c, const char *program_code, int64_t as_us,
                                  int64_t from_us, acct_program_figures *out)
{
    char as[24], from[24];
    snprintf(as, sizeof as, "%lld", (long long)as_us);
    snprintf(from, sizeof from, "%lld", (long long)from_us);
    const char *vals[3] = {program_code, as, from};
    PGresult *r;
    co_err e = co_pg_exec(c, &st_figures, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    if (PQntuples(r) != 1 || PQnfields(r) != 7) {
        PQclear(r);
        return CO_ERR_INTERNAL;
    }
    acct_program_figures f = {
        .active_memberships = num(r, 0, 0),
        .nps_responses = num(r, 0, 1),
        .nps_promoters = num(r, 0, 2),
        .nps_passives = num(r, 0, 3),
        .nps_detractors = num(r, 0, 4),
        .effort_responses = num(r, 0, 5),
        .effort_sum = num(r, 0, 6),
    };
    PQclear(r);
    *out = f;
    return CO_OK;
}

/* --- key check --- */

co_err acct_store_key_check_get(co_pg_conn *c, co_arena *a, acct_blob *out)
{
    PGresult *r;
    co_err e = co_pg_exec(c, &st_key_get, NULL, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CO_ERR_NOT_FOUND;
    }
    e = read_blob(r, 0, 0, a, out);
    PQclear(r);
    return e;
}

co_err acct_store_key_check_put(co_pg_conn *c, const acct_blob *sealed)
{
    const char *vals[1] = {(const char *)sealed->p};
    int lens[1] = {(int)sealed->n}, fmts[1] = {1};
    PGresult *r;
    co_err e = co_pg_exec(c, &st_key_put, vals, lens, fmts, &r);
    if (e == CO_OK) {
        PQclear(r);
    }
    return e;
}

/* --- many references at once (the internal ResolveMembers) --- */

/* Kind 4 is a member id; 0-3 are acct_ident. Each branch is gated by the reference's kind, so
 * one index lookup runs per reference; a member's memberships in force come as extra rows. */
#define RESOLVE_BY_ID 4
static const co_pg_stmt st_resolve = {
    "acct_resolve",
    "SELECT q.i, m.member_id, m.status, s.plan_id, " US(
        "s.end_time") " FROM"
                      " unnest($1::smallint[], $2::text[]) WITH ORDINALITY AS q(kind, v, i)"
                      " JOIN LATERAL (SELECT member_id, status FROM accounts.members WHERE q.kind "
                      "= 4 AND"
                      " member_id = q.v UNION ALL SELECT member_id, status FROM accounts.members "
                      "WHERE"
                      " q.kind = 0 AND card_hash = decode(q.v, 'hex') AND status = 1 UNION ALL "
                      "SELECT member_id,"
                      " status FROM accounts.members WHERE q.kind = 1 AND qr_hash = decode(q.v, "
                      "'hex') AND"
                      " status = 1 UNION ALL SELECT member_id, status FROM accounts.members WHERE "
                      "q.kind = 2 AND"
                      " phone_hash = decode(q.v, 'hex') AND status = 1 UNION ALL SELECT member_id, "
                      "status FROM"
                      " accounts.members WHERE q.kind = 3 AND email_hash = decode(q.v, 'hex') AND "
                      "status = 1) m"
                      " ON true LEFT JOIN accounts.memberships s ON s.member_id = m.member_id AND "
                      "s.status = 1"
                      " AND s.end_time > now() ORDER BY q.i, s.program_code, s.plan_id",
    2};

/* The two array literals of refs: kinds and values (member ids and hashes are hex, so nothing
 * needs quoting). */
static co_err resolve_arrays(const acct_lookup *refs, size_t n, co_arena *a, char **kinds,
                             char **vals)
{
    char *k = co_arena_alloc(a, 2 * n + 3);
    char *v = co_arena_alloc(a, n * (2 * 32 + 2) + 3);
    if (k == NULL || v == NULL) {
        return CO_ERR_NOMEM;
    }
    size_t kn = 0, vn = 0;
    k[kn++] = '{';
    v[vn++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            k[kn++] = ',';
            v[vn++] = ',';
        }
        if (refs[i].member_id != NULL) {
            k[kn++] = (char)('0' + RESOLVE_BY_ID);
            size_t len = strlen(refs[i].member_id);
            if (len > 2 * 32) {
                return CO_ERR_INVALID_ARGUMENT; /* callers pass validated ids */
            }
            memcpy(v + vn, refs[i].member_id, len);
            vn += len;
        } else {
            static const char hex[] = "0123456789abcdef";
            k[kn++] = (char)('0' + (int)refs[i].kind);
            for (size_t b = 0; b < 32; b++) {
                v[vn++] = hex[refs[i].hash[b] >> 4];
                v[vn++] = hex[refs[i].hash[b] & 15];
            }
        }
    }
    k[kn++] = '}';
    v[vn++] = '}';
    k[kn] = '\0';
    v[vn] = '\0';
    *kinds = k;
    *vals = v;
    return CO_OK;
}

co_err acct_store_resolve(co_pg_conn *c, const acct_lookup *refs, size_t n, co_arena *a,
                          acct_resolved **out)
{
    acct_resolved *res = co_arena_calloc(a, n > 0 ? n : 1, sizeof *res);
    char *kinds, *vals;
    if (res == NULL) {
        return CO_ERR_NOMEM;
    }
    co_err e = resolve_arrays(refs, n, a, &kinds, &vals);
    if (e != CO_OK) {
        return e;
    }
    const char *pv[2] = {kinds, vals};
    PGresult *r;
    if ((e = co_pg_exec(c, &st_resolve, pv, NULL, NULL, &r)) != CO_OK) {
        return e;
    }
    int rows = PQntuples(r);
    /* First pass: the rows of each reference (rows come ordered by reference). */
    for (int i = 0; i < rows && e == CO_OK; i++) {
        int64_t q = num(r, i, 0);
        if (q < 1 || (size_t)q > n) {
            e = CO_ERR_INTERNAL;
            break;
        }
        acct_resolved *x = &res[q - 1];
        if (x->member_id == NULL &&
            (x->member_id = co_arena_strdup(a, PQgetvalue(r, i, 1))) == NULL) {
            e = CO_ERR_NOMEM;
            break;
        }
        x->status = (int)num(r, i, 2);
        x->nplans += !PQgetisnull(r, i, 3);
    }
    for (size_t q = 0; q < n && e == CO_OK; q++) {
        if (res[q].nplans > 0) {
            res[q].plan_ids = co_arena_calloc(a, res[q].nplans, sizeof *res[q].plan_ids);
            res[q].end_us = co_arena_calloc(a, res[q].nplans, sizeof *res[q].end_us);
            if (res[q].plan_ids == NULL || res[q].end_us == NULL) {
                e = CO_ERR_NOMEM;
            }
            res[q].nplans = 0; /* counted again as they are filled */
        }
    }
    for (int i = 0; i < rows && e == CO_OK; i++) {
        if (PQgetisnull(r, i, 3)) {
            continue;
        }
        acct_resolved *x = &res[num(r, i, 0) - 1];
        if ((x->plan_ids[x->nplans] = co_arena_strdup(a, PQgetvalue(r, i, 3))) == NULL) {
            e = CO_ERR_NOMEM;
            break;
        }
        x->end_us[x->nplans++] = num(r, i, 4);
    }
    PQclear(r);
    if (e == CO_OK) {
        *out = res;
    }
    return e;
}

/* --- the member as GetMember shows it --- */

co_err acct_store_member_view(co_pg_conn *c, const char *member_id, co_arena *a, acct_member_row *m,
                              acct_consent **cs, size_t *ncs, acct_membership_row **ms, size_t *nms)
{
    const char *v1[1] = {member_id};
    const char *v2[2] = {member_id, ""};
    co_err e = m != NULL ? co_pg_send(c, &st_get, v1, NULL, NULL) : CO_OK;
    if (e == CO_OK) {
        e = co_pg_send(c, &st_consents, v1, NULL, NULL);
    }
    if (e == CO_OK) {
        e = co_pg_send(c, &st_ms_active, v2, NULL, NULL);
    }
    PGresult *r;
    if (m != NULL && e == CO_OK && (e = co_pg_recv(c, &r)) == CO_OK) {
        e = member_of(r, a, m);
    }
    if (e == CO_OK && (e = co_pg_recv(c, &r)) == CO_OK) {
        e = consents_of(r, a, cs, ncs);
    }
    if (e == CO_OK && (e = co_pg_recv(c, &r)) == CO_OK) {
        e = ms_of(r, a, ms, nms);
    }
    return e; /* on failure, what is left unread is dropped with the transaction */
}
