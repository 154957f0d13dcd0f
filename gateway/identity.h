/* SPDX-License-Identifier: Apache-2.0 */
/* Maps a verified client certificate's SPIFFE id to a partner, with a short-lived cache. */
#ifndef GW_IDENTITY_H
#define GW_IDENTITY_H

#include <stdint.h>

#include "client.h"
#include "err.h"

typedef struct gw_identity gw_identity;

/* Who a certificate belongs to. */
typedef struct gw_principal {
    int admin;           /* 1 for a coalition admin */
    char partner_id[64]; /* the partner ("operator" for admins) */
    int status;          /* coalition.v1.PartnerStatus of a partner; ACTIVE for admins */
} gw_principal;

/* A resolver asking the partners service's Directory through dir (not owned), caching answers
 * for ttl_ms (unknown identities for at most 1 s). admins is the comma-separated list of admin
 * SPIFFE ids. NULL on out of memory. Thread-safe. */
gw_identity *gw_identity_new(co_client *dir, const char *trust_domain, const char *admins,
                             int64_t ttl_ms);
void gw_identity_free(gw_identity *g);

/*
 * Resolves the SPIFFE id of a peer. CO_OK with *out filled; CO_ERR_UNAUTHENTICATED (with a
 * message in msg) for an identity of another trust domain, an unknown admin or an unregistered
 * partner; CO_ERR_PERMISSION_DENIED for a service certificate; CO_ERR_DEADLINE_EXCEEDED when
 * timeout_ms ran out first; CO_ERR_UNAVAILABLE when the partners service cannot answer.
 */
co_err gw_identity_resolve(gw_identity *g, const char *spiffe_id, int64_t timeout_ms,
                           gw_principal *out, char *msg, size_t msglen);

#endif
