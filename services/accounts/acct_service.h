/* SPDX-License-Identifier: Apache-2.0 */
/* The accounts service: its definition for co_process_main and its own settings. */
#ifndef ACCT_SERVICE_H
#define ACCT_SERVICE_H

#include <stdbool.h>

#include "process.h"

/* Settings of the accounts binary beyond the common ones; immutable once parsed. */
typedef struct acct_config {
    const char *key_hex;       /* COALITION_ACCOUNTS_KEY: 64 hex characters */
    const char *partners_addr; /* COALITION_PARTNERS_ADDR */
    const char *points_addr;   /* COALITION_POINTS_ADDR */
} acct_config;

/* The variable that holds the master key; named in every message about it. */
#define ACCT_KEY_ENV "COALITION_ACCOUNTS_KEY"

/* The accounts binary: schema, migrations, options and methods. extra_base and nmigrations
 * are set by main. */
extern const co_process_def acct_service_def;

/* True if hex is a well-formed master key (64 hexadecimal characters). */
bool acct_key_well_formed(const char *hex);

#endif
