/* SPDX-License-Identifier: Apache-2.0 */
/* coalition-points: the process definition and its own settings. */
#ifndef PTS_SERVICE_H
#define PTS_SERVICE_H

#include <stdint.h>

#include "process.h"

typedef struct pts_config {
    const char *partners_addr;
    const char *accounts_addr;
    int64_t batch_max;
    int64_t program_refresh_ms;
    int64_t member_cache_ms;
    int64_t expiry_interval_ms;
} pts_config;

extern const co_process_def pts_service_def;

#endif
