/* SPDX-License-Identifier: Apache-2.0 */
/* coalition-points: the points ledger. */
#include "pts_service.h"

extern const size_t pts_migrations_count;

static pts_config cfg;

int main(int argc, char **argv)
{
    co_process_def def = pts_service_def;
    def.nmigrations = pts_migrations_count;
    def.extra_base = &cfg;
    return co_process_main(&def, argc, argv);
}
