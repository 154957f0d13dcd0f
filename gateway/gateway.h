/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway: the only public endpoint; authenticates partners and forwards their calls. */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "process.h"

/* The gateway's own settings (beyond the common ones). */
typedef struct gw_config {
    const char *partners_addr;
    const char *accounts_addr;
    const char *points_addr;
    const char *referrals_addr;
    const char *admin_identities; /* comma-separated SPIFFE ids of coalition admins */
    int64_t identity_cache_ms;
    int64_t default_deadline_ms;
} gw_config;

/* The option table for gw_config and the process definition (extra_base is set by main). */
extern const co_cfg_option gw_options[];
extern const size_t gw_noptions;
extern const co_process_def gw_process_def;

/* True if the public method at path needs the admin role. */
bool gw_method_is_admin(const char *path);

/* True if the public method at path is for the gateway's own use and never forwarded. */
bool gw_method_is_internal(const char *path);

#endif
