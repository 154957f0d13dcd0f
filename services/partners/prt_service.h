/* SPDX-License-Identifier: Apache-2.0 */
/* The partners service: its definition for co_process_main. */
#ifndef PRT_SERVICE_H
#define PRT_SERVICE_H

#include "process.h"

/* The partners binary: schema, migrations and methods. */
extern const co_process_def prt_service_def;

#endif
