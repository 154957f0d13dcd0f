/* SPDX-License-Identifier: Apache-2.0 */
/* The storage seam of the partners service: plain data in, plain data out. */
#ifndef PRT_STORE_H
#define PRT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "pg.h"

/* A partner row. Strings live in the arena passed to the call that filled it. */
typedef struct prt_partner {
    const char *partner_id;
    const char *name;
    int status;                       /* coalition.v1.PartnerStatus */
    const char *certificate_identity; /* "" for none */
    const char *settlement_currency;
    const char *contact_name;
    const char *contact_email;
    const char *contact_phone;
    const char *status_reason;
    int64_t create_time_us;
    int64_t update_time_us;
} prt_partner;

/* Inserts p (create/update times are the transaction's); *out is the stored row.
 * CO_ERR_ALREADY_EXISTS names which key collided through *conflict ("partner_id" or
 * "certificate_identity"). */
co_err prt_store_insert(co_pg_conn *c, const prt_partner *p, co_arena *a, prt_partner *out,
                        const char **conflict);

/* The partner with this id; CO_ERR_NOT_FOUND if none. lock takes a row lock (FOR UPDATE). */
co_err prt_store_get(co_pg_conn *c, const char *partner_id, int lock, co_arena *a,
                     prt_partner *out);

/* The partner registered with this certificate identity; CO_ERR_NOT_FOUND if none. */
co_err prt_store_by_identity(co_pg_conn *c, const char *identity, co_arena *a, prt_partner *out);

/* Up to limit partners with partner_id > after (""= from the start), in id order, optionally
 * only those with status (0 = all). *out is an arena array of *n rows. */
co_err prt_store_list(co_pg_conn *c, const char *after, int status, int limit, co_arena *a,
                      prt_partner **out, size_t *n);

/* Sets status and reason and bumps update_time; *out is the updated row. */
co_err prt_store_set_status(co_pg_conn *c, const char *partner_id, int status, const char *reason,
                            co_arena *a, prt_partner *out);

#endif
