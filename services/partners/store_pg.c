/* SPDX-License-Identifier: Apache-2.0 */
/* The partners service's SQL: every statement is prepared and parameterized. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTNER_COLS                                                                               \
    "partner_id, name, status, coalesce(certificate_identity, ''), settlement_currency,"           \
    " contact_name, contact_email, contact_phone, status_reason,"                                  \
    " (extract(epoch FROM create_time) * 1000000)::bigint,"                                        \
    " (extract(epoch FROM update_time) * 1000000)::bigint"

static const co_pg_stmt st_insert = {
    "prt_insert",
    "INSERT INTO partners.partners (partner_id, name, status, certificate_identity,"
    " settlement_currency, contact_name, contact_email, contact_phone)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING " PARTNER_COLS,
    8};
static const co_pg_stmt st_get = {
    "prt_get", "SELECT " PARTNER_COLS " FROM partners.partners WHERE partner_id = $1", 1};
static const co_pg_stmt st_get_lock = {
    "prt_get_lock",
    "SELECT " PARTNER_COLS " FROM partners.partners WHERE partner_id = $1 FOR UPDATE", 1};
static const co_pg_stmt st_by_identity = {
    "prt_by_identity",
    "SELECT " PARTNER_COLS " FROM partners.partners WHERE certificate_identity = $1", 1};
static const co_pg_stmt st_list = {
    "prt_list",
    "SELECT " PARTNER_COLS " FROM partners.partners"
    " WHERE partner_id > $1 AND ($2::smallint = 0 OR status = $2::smallint)"
    " ORDER BY partner_id LIMIT $3",
    3};
static const co_pg_stmt st_set_status = {
    "prt_set_status",
    "UPDATE partners.partners SET status = $2, status_reason = $3, update_time = now()"
    " WHERE partner_id = $1 RETURNING " PARTNER_COLS,
    3};

/* Copies row i of r into *p with strings in arena memory. */
static co_err read_row(PGresult *r, int i, co_arena *a, prt_partner *p)
{
    const char *f[9];
    for (int k = 0; k < 9; k++) {
        f[k] = co_arena_strdup(a, PQgetvalue(r, i, k));
        if (f[k] == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    p->partner_id = f[0];
    p->name = f[1];
    p->status = (int)strtol(f[2], NULL, 10);
    p->certificate_identity = f[3];
    p->settlement_currency = f[4];
    p->contact_name = f[5];
    p->contact_email = f[6];
    p->contact_phone = f[7];
    p->status_reason = f[8];
    p->create_time_us = strtoll(PQgetvalue(r, i, 9), NULL, 10);
    p->update_time_us = strtoll(PQgetvalue(r, i, 10), NULL, 10);
    return CO_OK;
}

/* Runs st and reads exactly one row into *out (CO_ERR_NOT_FOUND for none). */
static co_err one(co_pg_conn *c, const co_pg_stmt *st, const char *const *vals, co_arena *a,
                  prt_partner *out)
{
    PGresult *r;
    co_err e = co_pg_exec(c, st, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CO_ERR_NOT_FOUND;
    }
    prt_partner p;
    e = read_row(r, 0, a, &p);
    PQclear(r);
    if (e == CO_OK) {
        *out = p;
    }
    return e;
}

co_err prt_store_insert(co_pg_conn *c, const prt_partner *p, co_arena *a, prt_partner *out,
                        const char **conflict)
{
    char status[8];
    snprintf(status, sizeof status, "%d", p->status);
    const char *vals[8] = {
        p->partner_id,          p->name,         status,           p->certificate_identity,
        p->settlement_currency, p->contact_name, p->contact_email, p->contact_phone};
    co_err e = one(c, &st_insert, vals, a, out);
    if (e == CO_ERR_ALREADY_EXISTS) {
        *conflict = strstr(co_pg_last_constraint(c), "certificate_identity") != NULL
                        ? "certificate_identity"
                        : "partner_id";
    }
    return e;
}

co_err prt_store_get(co_pg_conn *c, const char *partner_id, int lock, co_arena *a, prt_partner *out)
{
    const char *vals[1] = {partner_id};
    return one(c, lock ? &st_get_lock : &st_get, vals, a, out);
}

co_err prt_store_by_identity(co_pg_conn *c, const char *identity, co_arena *a, prt_partner *out)
{
    const char *vals[1] = {identity};
    return one(c, &st_by_identity, vals, a, out);
}

co_err prt_store_list(co_pg_conn *c, const char *after, int status, int limit, co_arena *a,
                      prt_partner **out, size_t *n)
{
    char st[8], lim[16];
    snprintf(st, sizeof st, "%d", status);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *vals[3] = {after, st, lim};
    PGresult *r;
    co_err e = co_pg_exec(c, &st_list, vals, NULL, NULL, &r);
    if (e != CO_OK) {
        return e;
    }
    int rows = PQntuples(r);
    prt_partner *ps = co_arena_calloc(a, (size_t)(rows > 0 ? rows : 1), sizeof *ps);
    if (ps == NULL) {
        PQclear(r);
        return CO_ERR_NOMEM;
    }
    for (int i = 0; i < rows; i++) {
        e = read_row(r, i, a, &ps[i]);
        if (e != CO_OK) {
            PQclear(r);
            return e;
        }
    }
    PQclear(r);
    *out = ps;
    *n = (size_t)rows;
    return CO_OK;
}

co_err prt_store_set_status(co_pg_conn *c, const char *partner_id, int status, const char *reason,
                            co_arena *a, prt_partner *out)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    const char *vals[3] = {partner_id, st, reason};
    return one(c, &st_set_status, vals, a, out);
}
