/* SPDX-License-Identifier: Apache-2.0 */
/* coalition-partners: the partner registry and program configuration service. */
#include "prt_service.h"

extern const size_t prt_migrations_count;

int main(int argc, char **argv)
{
    co_process_def def = prt_service_def;
    def.nmigrations = prt_migrations_count;
    return co_process_main(&def, argc, argv);
}
