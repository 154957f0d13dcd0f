/* SPDX-License-Identifier: Apache-2.0 */
/* The migrations runner behind `<binary> migrate`. */
#include "migrate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/sha.h>

bool co_migration_parse_filename(const char *filename, int *version, char *name, size_t namelen)
{
    size_t len = strlen(filename);
    if (len < 4 + 1 + 1 + 4 || strcmp(filename + len - 4, ".sql") != 0) {
        return false;
    }
    size_t d = 0;
    long v = 0;
    while (d < len && isdigit((unsigned char)filename[d])) {
        if (d >= 9) {
            return false;
        }
        v = v * 10 + (filename[d] - '0');
        d++;
    }
    if (d < 4 || filename[d] != '_' || v < 1) {
        return false;
    }
    for (size_t i = d + 1; i < len - 4; i++) {
        char c = filename[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    if (d + 1 >= len - 4 || len - 4 >= namelen) {
        return false;
    }
    memcpy(name, filename, len - 4);
    name[len - 4] = '\0';
    *version = (int)v;
    return true;
}

co_err co_migrations_check(const co_migration *m, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (m[i].version != (int)i + 1) {
            snprintf(err, errlen, "migration \"%s\" has version %d, expected %zu", m[i].name,
                     m[i].version, i + 1);
            return CO_ERR_INVALID_ARGUMENT;
        }
    }
    return CO_OK;
}

static bool schema_name_ok(const char *s)
{
    if (s[0] == '\0' || strlen(s) > 63) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || *p == '_')) {
            return false;
        }
    }
    return true;
}

static void checksum(const char *sql, char out[65])
{
    unsigned char h[32];
    SHA256((const unsigned char *)sql, strlen(sql), h);
    for (int i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    }
}

/* Executes sql expecting success; on failure writes what and the server's message. */
static bool run(PGconn *pg, const char *sql, int np, const char *const *vals, PGresult **out,
                const char *what, char *msg, size_t msglen)
{
    PGresult *r = np > 0 ? PQexecParams(pg, sql, np, NULL, vals, NULL, NULL, 0) : PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        snprintf(msg, msglen, "%s failed: %s", what, m != NULL ? m : PQerrorMessage(pg));
        PQclear(r);
        return false;
    }
    if (out != NULL) {
        *out = r;
    } else {
        PQclear(r);
    }
    return true;
}

co_err co_migrate(const char *url, const char *schema, const co_migration *m, size_t n, char *msg,
                  size_t msglen)
{
    if (!schema_name_ok(schema)) {
        snprintf(msg, msglen, "invalid schema name \"%s\"", schema);
        return CO_ERR_INVALID_ARGUMENT;
    }
    if (co_migrations_check(m, n, msg, msglen) != CO_OK) {
        return CO_ERR_INVALID_ARGUMENT;
    }
    PGconn *pg = PQconnectdb(url);
    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        const char *e = pg != NULL ? PQerrorMessage(pg) : "out of memory";
        snprintf(msg, msglen, "could not connect to the database: %.*s", (int)strcspn(e, "\n"), e);
        PQfinish(pg);
        return CO_ERR_UNAVAILABLE;
    }
    co_err rc = CO_ERR_INTERNAL;
    char sql[512];
    const char *params[3];
    PGresult *r = NULL;
    int applied = 0;
    if (!run(pg, "BEGIN", 0, NULL, NULL, "BEGIN", msg, msglen)) {
        goto out;
    }
    char lockkey[96];
    snprintf(lockkey, sizeof lockkey, "coalition.migrate.%s", schema);
    params[0] = lockkey;
    if (!run(pg, "SELECT pg_advisory_xact_lock(hashtext($1))", 1, params, NULL,
             "taking the migration lock", msg, msglen)) {
        goto rollback;
    }
    params[0] = schema;
    if (!run(pg, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, params, &r,
             "looking up the schema", msg, msglen)) {
        goto rollback;
    }
    bool exists = PQntuples(r) == 1;
    PQclear(r);
    r = NULL;
    if (!exists) {
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
        if (!run(pg, sql, 0, NULL, NULL, "creating the schema", msg, msglen)) {
            goto rollback;
        }
    }
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
             " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
             " applied_at timestamptz NOT NULL DEFAULT now())",
             schema);
    if (!run(pg, sql, 0, NULL, NULL, "creating the migrations table", msg, msglen)) {
        goto rollback;
    }
    snprintf(sql, sizeof sql, "SET LOCAL search_path = %s", schema);
    if (!run(pg, sql, 0, NULL, NULL, "setting the search path", msg, msglen)) {
        goto rollback;
    }
    snprintf(sql, sizeof sql, "SELECT version, checksum FROM %s.schema_migrations ORDER BY 1",
             schema);
    if (!run(pg, sql, 0, NULL, &r, "reading applied migrations", msg, msglen)) {
        goto rollback;
    }
    int nrows = PQntuples(r);
    for (size_t i = 0; i < n; i++) {
        char sum[65];
        checksum(m[i].sql, sum);
        const char *have = NULL;
        for (int k = 0; k < nrows; k++) {
            if (strtol(PQgetvalue(r, k, 0), NULL, 10) == m[i].version) {
                have = PQgetvalue(r, k, 1);
            }
        }
        if (have != NULL) {
            if (strcmp(have, sum) != 0) {
                snprintf(msg, msglen, "migration \"%s\" was changed after it was applied",
                         m[i].name);
                rc = CO_ERR_FAILED_PRECONDITION;
                goto rollback;
            }
            continue;
        }
        char what[128];
        snprintf(what, sizeof what, "migration \"%s\"", m[i].name);
        if (!run(pg, m[i].sql, 0, NULL, NULL, what, msg, msglen)) {
            goto rollback;
        }
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m[i].version);
        params[0] = ver;
        params[1] = m[i].name;
        params[2] = sum;
        snprintf(sql, sizeof sql,
                 "INSERT INTO %s.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                 schema);
        if (!run(pg, sql, 3, params, NULL, "recording the migration", msg, msglen)) {
            goto rollback;
        }
        applied++;
    }
    PQclear(r);
    r = NULL;
    if (!run(pg, "COMMIT", 0, NULL, NULL, "COMMIT", msg, msglen)) {
        goto out;
    }
    snprintf(msg, msglen, "schema %s: %d migration(s) applied, %zu known", schema, applied, n);
    rc = CO_OK;
    goto out;
rollback:
    PQclear(r);
    PQclear(PQexec(pg, "ROLLBACK"));
out:
    PQfinish(pg);
    return rc;
}
