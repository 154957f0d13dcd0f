/* SPDX-License-Identifier: Apache-2.0 */
/* Authenticates each public call by certificate and forwards its bytes to the owning service. */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "coalition/v1/accounts.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "coalition/v1/referrals.pb-c.h"
#include "identity.h"
#include "log.h"

#define GW_OPT(flag, env, type, def, help, field, lo, hi)                                          \
    {                                                                                              \
        flag, env, type, def, help, offsetof(gw_config, field), lo, hi                             \
    }

const co_cfg_option gw_options[] = {
    GW_OPT("partners-addr", "COALITION_PARTNERS_ADDR", CO_CFG_ADDR, "127.0.0.1:50051",
           "partners service address", partners_addr, 0, 0),
    GW_OPT("accounts-addr", "COALITION_ACCOUNTS_ADDR", CO_CFG_ADDR, "127.0.0.1:50052",
           "accounts service address", accounts_addr, 0, 0),
    GW_OPT("points-addr", "COALITION_POINTS_ADDR", CO_CFG_ADDR, "127.0.0.1:50053",
           "points service address", points_addr, 0, 0),
    GW_OPT("referrals-addr", "COALITION_REFERRALS_ADDR", CO_CFG_ADDR, "127.0.0.1:50054",
           "referrals service address", referrals_addr, 0, 0),
    GW_OPT("admin-identities", "COALITION_ADMIN_IDENTITIES", CO_CFG_STRING,
           "spiffe://coalition.local/admin/operator",
           "comma-separated SPIFFE ids of coalition admins", admin_identities, 0, 0),
    GW_OPT("identity-cache-ms", "COALITION_IDENTITY_CACHE_MS", CO_CFG_INT, "5000",
           "how long a resolved partner certificate is trusted without asking again",
           identity_cache_ms, 0, 3600000),
    GW_OPT("default-deadline-ms", "COALITION_DEFAULT_DEADLINE_MS", CO_CFG_INT, "30000",
           "deadline of forwarded calls whose caller set none (and the cap of any)",
           default_deadline_ms, 100, 600000),
};
const size_t gw_noptions = sizeof gw_options / sizeof gw_options[0];

/* Public methods only the coalition admin may call. The services check again. */
static const char *const admin_methods[] = {
    "/coalition.v1.Partners/RegisterPartner",     "/coalition.v1.Partners/ListPartners",
    "/coalition.v1.Partners/SetPartnerStatus",    "/coalition.v1.Partners/CreateProgram",
    "/coalition.v1.Partners/SetParticipation",    "/coalition.v1.Partners/SetExchangeAgreement",
    "/coalition.v1.Partners/SetCommissionPolicy", "/coalition.v1.Accounts/ExportMember",
    "/coalition.v1.Accounts/EraseMember",         "/coalition.v1.Points/FundIssuer",
    "/coalition.v1.Points/ExpirePoints",          "/coalition.v1.Points/VerifyLedger",
    "/coalition.v1.Settlement/ClosePeriod",
};

/* Public methods the gateway calls itself; nobody outside may. */
static const char *const internal_methods[] = {
    "/coalition.v1.Points/ListSettlementEvents",
    "/coalition.v1.Points/AckSettlementEvents",
    "/coalition.v1.Referrals/ListCommissionEvents",
    "/coalition.v1.Referrals/AckCommissionEvents",
};

static bool in_list(const char *path, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(path, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

bool gw_method_is_admin(const char *path)
{
    return in_list(path, admin_methods, sizeof admin_methods / sizeof admin_methods[0]);
}

bool gw_method_is_internal(const char *path)
{
    return in_list(path, internal_methods, sizeof internal_methods / sizeof internal_methods[0]);
}

/* --- state --- */

typedef struct upstream {
    const ProtobufCServiceDescriptor *svc;
    const char *name; /* "partners" */
    co_client *client;
    int64_t deadline_cap_ms;
} upstream;

enum { UP_PARTNERS, UP_ACCOUNTS, UP_POINTS, UP_REFERRALS, UP_COUNT };

typedef struct gw_state {
    const gw_config *cfg;
    upstream up[UP_COUNT];
    gw_identity *identity;
    co_method *methods;
    size_t nmethods;
} gw_state;

/* What the authorize hook established about a call. */
typedef struct gw_caller {
    gw_principal who;
} gw_caller;

/* --- authorization --- */

static co_err gw_authorize(co_call *call, void *ud)
{
    gw_state *st = ud;
    const char *id = co_call_peer_identity(call);
    if (id == NULL) {
        return co_call_fail(call, CO_ERR_UNAUTHENTICATED,
                            "client certificate has no single SPIFFE URI identity");
    }
    gw_caller *c = co_arena_calloc(co_call_arena(call), 1, sizeof *c);
    if (c == NULL) {
        return CO_ERR_NOMEM;
    }
    int64_t left = co_call_ms_left(call);
    char msg[160];
    co_err e =
        gw_identity_resolve(st->identity, id, left < 5000 ? left : 5000, &c->who, msg, sizeof msg);
    if (e != CO_OK) {
        return co_call_fail(call, e, "%s", msg);
    }
    co_call_log_partner(call, c->who.partner_id);
    const char *path = co_call_method(call);
    if (gw_method_is_internal(path)) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "method is reserved for the coalition's own services");
    }
    if (!c->who.admin && gw_method_is_admin(path)) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "this method needs the admin role");
    }
    co_call_set_ctx(call, c);
    return CO_OK;
}

/* --- forwarding --- */

/* One forwarded call: lives in the server call's arena until the server call finishes. */
typedef struct proxy {
    co_tag tag;
    co_call *call;
    const upstream *up;
    grpc_call *child;
    grpc_metadata md[3];
    grpc_metadata_array initial;
    grpc_metadata_array trailing;
    grpc_byte_buffer *recv;
    grpc_status_code status;
    grpc_slice details;
    const char *error_string;
} proxy;

static void proxy_done(co_tag *tag, bool ok)
{
    proxy *p = (proxy *)tag;
    (void)ok;
    grpc_status_code status = p->status;
    char *details = grpc_slice_to_c_string(p->details);
    const char *shown = details;
    char buf[128];
    /* A status a service produced carries its origin: its message is meant for the caller,
     * whatever the code. Without it, the status came from the transport or from core. */
    bool from_service = false;
    for (size_t i = 0; i < p->trailing.count; i++) {
        if (grpc_slice_str_cmp(p->trailing.metadata[i].key, CO_MD_ORIGIN) == 0) {
            from_service = true;
        }
    }
    if (!from_service && status == GRPC_STATUS_CANCELLED) {
        /* The upstream dropped the call (it is shutting down): if our caller had cancelled, it
         * would not be listening any more, so to whoever listens this is a retryable outage. */
        status = GRPC_STATUS_UNAVAILABLE;
    }
    if (!from_service && status == GRPC_STATUS_UNAVAILABLE) {
        /* Transport details name internal addresses: log them, show the partner a summary. */
        co_log(CO_LOG_WARN, "upstream unavailable", "{s:s, s:s, s:s}", "service", p->up->name,
               "method", co_call_method(p->call), "error", details != NULL ? details : "");
        snprintf(buf, sizeof buf, "%s service unavailable: retry with the same request_id",
                 p->up->name);
        shown = buf;
    }
    grpc_byte_buffer *resp = status == GRPC_STATUS_OK ? p->recv : NULL;
    if (status != GRPC_STATUS_OK && p->recv != NULL) {
        grpc_byte_buffer_destroy(p->recv);
    }
    p->recv = NULL;
    grpc_metadata_array_destroy(&p->initial);
    grpc_metadata_array_destroy(&p->trailing);
    grpc_slice_unref(p->md[0].value);
    grpc_slice_unref(p->details);
    gpr_free((void *)p->error_string);
    grpc_call_unref(p->child);
    co_call *call = p->call;
    co_call_finish_raw(call, status, status == GRPC_STATUS_OK ? NULL : shown, resp);
    gpr_free(details);
}

static void forward(co_call *call, grpc_byte_buffer *req, void *ud)
{
    const upstream *up = ud;
    const gw_caller *who = co_call_ctx(call);
    co_arena *a = co_call_arena(call);
    if (req == NULL) {
        co_call_finish_raw(call, GRPC_STATUS_INVALID_ARGUMENT, "missing request message", NULL);
        return;
    }
    proxy *p = co_arena_calloc(a, 1, sizeof *p);
    if (p == NULL) {
        co_call_finish_raw(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    p->tag.fn = proxy_done;
    p->call = call;
    p->up = up;
    grpc_metadata_array_init(&p->initial);
    grpc_metadata_array_init(&p->trailing);
    p->details = grpc_empty_slice();
    /* The caller's own metadata is never forwarded: identity comes from the certificate. */
    p->md[0].key = grpc_slice_from_static_string(CO_MD_PARTNER_ID);
    p->md[0].value = grpc_slice_from_copied_string(who->who.partner_id);
    p->md[1].key = grpc_slice_from_static_string(CO_MD_ROLE);
    p->md[1].value = grpc_slice_from_static_string(who->who.admin ? "admin" : "partner");
    /* Whether the partner may act now: services refuse changes by a partner that is not
     * ACTIVE (the status is at most COALITION_IDENTITY_CACHE_MS old). */
    p->md[2].key = grpc_slice_from_static_string(CO_MD_PARTNER_STATUS);
    p->md[2].value = grpc_slice_from_static_string(
        who->who.status == COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE      ? "active"
        : who->who.status == COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED ? "suspended"
                                                                                     : "pending");

    /* The child inherits the caller's deadline and cancellation; this caps calls without one. */
    int64_t left = co_call_ms_left(call);
    if (left > up->deadline_cap_ms) {
        left = up->deadline_cap_ms;
    }
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(left, GPR_TIMESPAN));
    grpc_slice method = grpc_slice_from_static_string(co_call_method(call));
    p->child = grpc_channel_create_call(co_client_channel(up->client), co_call_grpc(call),
                                        GRPC_PROPAGATE_DEFAULTS, co_call_cq(call), method, NULL,
                                        deadline, NULL);
    if (p->child == NULL) {
        grpc_metadata_array_destroy(&p->initial);
        grpc_metadata_array_destroy(&p->trailing);
        grpc_slice_unref(p->md[0].value);
        co_call_finish_raw(call, GRPC_STATUS_INTERNAL, "could not create the forwarded call", NULL);
        return;
    }
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = 3;
    ops[0].data.send_initial_metadata.metadata = p->md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &p->initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &p->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &p->trailing;
    ops[5].data.recv_status_on_client.status = &p->status;
    ops[5].data.recv_status_on_client.status_details = &p->details;
    ops[5].data.recv_status_on_client.error_string = &p->error_string;
    grpc_call_error e = grpc_call_start_batch(p->child, ops, 6, &p->tag, NULL);
    if (e != GRPC_CALL_OK) {
        co_log(CO_LOG_ERROR, "could not forward a call", "{s:s}", "error",
               grpc_call_error_to_string(e));
        grpc_call_unref(p->child);
        grpc_metadata_array_destroy(&p->initial);
        grpc_metadata_array_destroy(&p->trailing);
        grpc_slice_unref(p->md[0].value);
        co_call_finish_raw(call, GRPC_STATUS_INTERNAL, "could not forward the call", NULL);
    }
}

/* --- the process --- */

static void gw_fini(void *state)
{
    gw_state *st = state;
    if (st == NULL) {
        return;
    }
    for (int i = 0; i < UP_COUNT; i++) {
        co_client_free(st->up[i].client);
    }
    gw_identity_free(st->identity);
    if (st->methods != NULL) {
        for (size_t i = 0; i < st->nmethods; i++) {
            free((char *)st->methods[i].path);
        }
        free(st->methods);
    }
    free(st);
}

static void *gw_init(const co_process_env *env, const co_method **methods, size_t *nmethods,
                     char *err, size_t errlen)
{
    const gw_config *cfg = env->extra;
    gw_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->cfg = cfg;
    const struct {
        const ProtobufCServiceDescriptor *svc;
        const char *name;
        const char *addr;
    } ups[UP_COUNT] = {
        [UP_PARTNERS] = {&coalition__v1__partners__descriptor, "partners", cfg->partners_addr},
        [UP_ACCOUNTS] = {&coalition__v1__accounts__descriptor, "accounts", cfg->accounts_addr},
        [UP_POINTS] = {&coalition__v1__points__descriptor, "points", cfg->points_addr},
        [UP_REFERRALS] = {&coalition__v1__referrals__descriptor, "referrals", cfg->referrals_addr},
    };
    size_t total = 0;
    for (int i = 0; i < UP_COUNT; i++) {
        st->up[i].svc = ups[i].svc;
        st->up[i].name = ups[i].name;
        st->up[i].deadline_cap_ms = cfg->default_deadline_ms;
        st->up[i].client = co_client_new(ups[i].addr, env->tls, ups[i].name);
        if (st->up[i].client == NULL) {
            snprintf(err, errlen, "could not create a channel to the %s service", ups[i].name);
            gw_fini(st);
            return NULL;
        }
        total += ups[i].svc->n_methods;
    }
    st->identity = gw_identity_new(st->up[UP_PARTNERS].client, env->cfg->trust_domain,
                                   cfg->admin_identities, cfg->identity_cache_ms);
    st->methods = calloc(total, sizeof *st->methods);
    if (st->identity == NULL || st->methods == NULL) {
        snprintf(err, errlen, "out of memory");
        gw_fini(st);
        return NULL;
    }
    for (int i = 0; i < UP_COUNT; i++) {
        const ProtobufCServiceDescriptor *svc = st->up[i].svc;
        for (unsigned k = 0; k < svc->n_methods; k++) {
            size_t len = strlen(svc->name) + strlen(svc->methods[k].name) + 3;
            char *path = malloc(len);
            if (path == NULL) {
                snprintf(err, errlen, "out of memory");
                gw_fini(st);
                return NULL;
            }
            snprintf(path, len, "/%s/%s", svc->name, svc->methods[k].name);
            st->methods[st->nmethods++] = (co_method){
                .path = path,
                .raw = forward,
                .ud = &st->up[i],
            };
        }
    }
    *methods = st->methods;
    *nmethods = st->nmethods;
    return st;
}

static const char *const health_names[] = {"coalition.v1.Partners", "coalition.v1.Accounts",
                                           "coalition.v1.Points", "coalition.v1.Referrals", NULL};

const co_process_def gw_process_def = {
    .name = "gateway",
    .schema = NULL,
    .default_listen = "127.0.0.1:50050",
    .default_health_listen = "127.0.0.1:50150",
    .default_metrics_listen = "127.0.0.1:9150",
    .health_names = health_names,
    .extra_opts = gw_options,
    .nextra = sizeof gw_options / sizeof gw_options[0],
    .init = gw_init,
    .fini = gw_fini,
    .authorize = gw_authorize,
    /* Forwarding is asynchronous (a forwarded call holds no thread), but resolving a partner
     * certificate the cache does not hold waits for the partners service: spare workers keep
     * other calls moving meanwhile. 2, 4 and 64 per queue measured alike under load. */
    .default_threads_per_queue = "64",
};
