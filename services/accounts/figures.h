/* SPDX-License-Identifier: Apache-2.0 */
/* The internal Members.GetProgramFigures: a program's membership and feedback figures. */
#ifndef ACCT_FIGURES_H
#define ACCT_FIGURES_H

#include <protobuf-c/protobuf-c.h>

#include "pg.h"
#include "server.h"

/*
 * Handles one GetProgramFigures call on pool: service identities only (PERMISSION_DENIED for
 * a partner or the admin), INVALID_ARGUMENT naming a bad field. On CO_OK *resp is a
 * GetProgramFiguresResponse in the call's arena. Thread-safe.
 */
co_err acct_figures_get(co_call *call, co_pg_pool *pool, const ProtobufCMessage *msg,
                        ProtobufCMessage **resp);

#endif
