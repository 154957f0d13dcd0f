/* SPDX-License-Identifier: Apache-2.0 */
/* coalition-gateway: the public mTLS endpoint of the coalition. */
#include "gateway.h"

static gw_config g_config;

int main(int argc, char **argv)
{
    co_process_def def = gw_process_def;
    def.extra_base = &g_config;
    return co_process_main(&def, argc, argv);
}
