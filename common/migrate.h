/* SPDX-License-Identifier: Apache-2.0 */
/* Versioned SQL migrations per schema, applied in one transaction under an advisory lock. */
#ifndef CO_MIGRATE_H
#define CO_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* One migration file, embedded in the binary at build time (NNNN_name.sql). */
typedef struct co_migration {
    int version;
    const char *name; /* "0001_partners" */
    const char *sql;
} co_migration;

/* Parses "0001_partners.sql" into version 1 and name "0001_partners". False if the name is
 * not four or more digits, an underscore, [a-z0-9_]+ and ".sql". */
bool co_migration_parse_filename(const char *filename, int *version, char *name, size_t namelen);

/* Checks that versions run 1, 2, 3, ... without gaps or duplicates, in order. */
co_err co_migrations_check(const co_migration *m, size_t n, char *err, size_t errlen);

/*
 * Applies to schema (created if missing) every migration not yet recorded in
 * <schema>.schema_migrations, all in one transaction holding an advisory lock on the schema
 * name, so replicas starting together apply each migration once. A recorded migration whose
 * text changed since is refused. Writes a summary or the error to msg.
 */
co_err co_migrate(const char *url, const char *schema, const co_migration *m, size_t n, char *msg,
                  size_t msglen);

#endif
