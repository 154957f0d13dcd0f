/* SPDX-License-Identifier: Apache-2.0 */
/* Identity resolution: admins from configuration, partners from the Directory, cached. */
#include "identity.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coalition/internal/v1/directory.pb-c.h"
#include "log.h"
#include "process.h"
#include "tls.h"

#define GW_CACHE_SLOTS  1024
#define GW_NEGATIVE_TTL 1000
#define GW_IDENTITY_MAX 256

typedef struct entry {
    char id[GW_IDENTITY_MAX];
    int known;
    char partner_id[64];
    int status;
    int64_t expires_ms;
} entry;

struct gw_identity {
    co_client *dir;
    char trust_domain[256];
    char *admins; /* ",id1,id2," for exact matching */
    int64_t ttl_ms;
    pthread_mutex_t mu;
    entry slots[GW_CACHE_SLOTS];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

gw_identity *gw_identity_new(co_client *dir, const char *trust_domain, const char *admins,
                             int64_t ttl_ms)
{
    gw_identity *g = calloc(1, sizeof *g);
    if (g == NULL) {
        return NULL;
    }
    size_t al = strlen(admins);
    g->admins = malloc(al + 3);
    if (g->admins == NULL) {
        free(g);
        return NULL;
    }
    snprintf(g->admins, al + 3, ",%s,", admins);
    snprintf(g->trust_domain, sizeof g->trust_domain, "%s", trust_domain);
    g->dir = dir;
    g->ttl_ms = ttl_ms;
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void gw_identity_free(gw_identity *g)
{
    if (g == NULL) {
        return;
    }
    pthread_mutex_destroy(&g->mu);
    free(g->admins);
    free(g);
}

static size_t slot_of(const char *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }
    return (size_t)(h % GW_CACHE_SLOTS);
}

static int is_admin(const gw_identity *g, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = strstr(g->admins, id); p != NULL; p = strstr(p + 1, id)) {
        if (p[-1] == ',' && p[n] == ',') {
            return 1;
        }
    }
    return 0;
}

co_err gw_identity_resolve(gw_identity *g, const char *spiffe_id, int64_t timeout_ms,
                           gw_principal *out, char *msg, size_t msglen)
{
    size_t len = strlen(spiffe_id);
    co_spiffe_kind kind;
    char name[64];
    if (len >= GW_IDENTITY_MAX ||
        !co_spiffe_parse(spiffe_id, len, g->trust_domain, &kind, name, sizeof name)) {
        snprintf(msg, msglen, "certificate identity is not of this coalition");
        return CO_ERR_UNAUTHENTICATED;
    }
    if (kind == CO_SPIFFE_ADMIN) {
        if (!is_admin(g, spiffe_id)) {
            snprintf(msg, msglen, "certificate identity is not a registered admin");
            return CO_ERR_UNAUTHENTICATED;
        }
        out->admin = 1;
        out->status = COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE;
        snprintf(out->partner_id, sizeof out->partner_id, "operator");
        return CO_OK;
    }
    if (kind == CO_SPIFFE_SERVICE) {
        snprintf(msg, msglen, "service certificates cannot call the public API");
        return CO_ERR_PERMISSION_DENIED;
    }
    size_t s = slot_of(spiffe_id);
    int64_t now = now_ms();
    pthread_mutex_lock(&g->mu);
    entry *e = &g->slots[s];
    if (e->expires_ms > now && strcmp(e->id, spiffe_id) == 0) {
        int known = e->known;
        if (known) {
            out->admin = 0;
            out->status = e->status;
            memcpy(out->partner_id, e->partner_id, sizeof out->partner_id);
        }
        pthread_mutex_unlock(&g->mu);
        if (!known) {
            snprintf(msg, msglen, "certificate identity is not registered to any partner");
            return CO_ERR_UNAUTHENTICATED;
        }
        return CO_OK;
    }
    pthread_mutex_unlock(&g->mu);

    co_arena a;
    co_arena_init(&a, 1 << 20);
    Coalition__Internal__V1__ResolveIdentityRequest req =
        COALITION__INTERNAL__V1__RESOLVE_IDENTITY_REQUEST__INIT;
    req.certificate_identity = (char *)spiffe_id;
    ProtobufCMessage *resp = NULL;
    co_client_status st;
    const co_client_md self_md = {CO_MD_ROLE, "service"};
    co_err err =
        co_client_unary(g->dir, "/coalition.internal.v1.Directory/ResolveIdentity", &req.base,
                        &coalition__internal__v1__resolve_identity_response__descriptor, &self_md,
                        1, timeout_ms, true, &a, &resp, &st);
    int known = 0;
    int status = 0;
    char pid[64] = "";
    if (err == CO_OK) {
        const Coalition__Internal__V1__ResolveIdentityResponse *r = (const void *)resp;
        known = co_name_is_valid(r->partner_id, strlen(r->partner_id));
        status = (int)r->status;
        snprintf(pid, sizeof pid, "%s", r->partner_id);
    } else if (err == CO_ERR_DEADLINE_EXCEEDED) {
        co_arena_release(&a);
        snprintf(msg, msglen, "deadline exceeded while checking the certificate");
        return CO_ERR_DEADLINE_EXCEEDED;
    } else if (err != CO_ERR_NOT_FOUND) {
        co_log(CO_LOG_WARN, "could not resolve a partner identity", "{s:s, s:s}", "status",
               co_grpc_status_name(st.code), "error", st.details);
        co_arena_release(&a);
        snprintf(msg, msglen, "partners service unavailable: could not check the certificate");
        return CO_ERR_UNAVAILABLE;
    }
    co_arena_release(&a);
    pthread_mutex_lock(&g->mu);
    snprintf(e->id, sizeof e->id, "%s", spiffe_id);
    e->known = known;
    e->status = status;
    memcpy(e->partner_id, pid, sizeof e->partner_id);
    e->expires_ms =
        now_ms() +
        (known ? g->ttl_ms : (g->ttl_ms < GW_NEGATIVE_TTL ? g->ttl_ms : GW_NEGATIVE_TTL));
    pthread_mutex_unlock(&g->mu);
    if (!known) {
        snprintf(msg, msglen, "certificate identity is not registered to any partner");
        return CO_ERR_UNAUTHENTICATED;
    }
    out->admin = 0;
    out->status = status;
    memcpy(out->partner_id, pid, sizeof out->partner_id);
    return CO_OK;
}
