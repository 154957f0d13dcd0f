/* SPDX-License-Identifier: Apache-2.0 */
/* coalition-accounts: members, their encrypted personal data, memberships and feedback. */
#include "acct_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const size_t acct_migrations_count;

static acct_config cfg;

/* The master key as the process will see it: the flag wins over the environment. */
static const char *key_argument(int argc, char **argv)
{
    static const char flag[] = "--accounts-key";
    const char *v = getenv(ACCT_KEY_ENV);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], flag) == 0) {
            v = i + 1 < argc ? argv[i + 1] : "";
        } else if (strncmp(argv[i], flag, sizeof flag - 1) == 0 &&
                   argv[i][sizeof flag - 1] == '=') {
            v = argv[i] + sizeof flag;
        }
    }
    return v;
}

int main(int argc, char **argv)
{
    bool migrate = argc > 1 && strcmp(argv[1], "migrate") == 0;
    bool help = false;
    for (int i = 1; i < argc; i++) {
        help = help || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    }
    /* Migrating needs no key; serving refuses to start without a well-formed one. */
    if (!migrate && !help) {
        const char *key = key_argument(argc, argv);
        if (key == NULL || key[0] == '\0') {
            fprintf(stderr,
                    "accounts: %s is required: the 32-byte master key as 64 hexadecimal "
                    "characters (for example from `openssl rand -hex 32`)\n",
                    ACCT_KEY_ENV);
            return 2;
        }
        if (!acct_key_well_formed(key)) {
            fprintf(stderr, "accounts: invalid %s: must be exactly 64 hexadecimal characters\n",
                    ACCT_KEY_ENV);
            return 2;
        }
    }
    co_process_def def = acct_service_def;
    def.nmigrations = acct_migrations_count;
    def.extra_base = &cfg;
    return co_process_main(&def, argc, argv);
}
