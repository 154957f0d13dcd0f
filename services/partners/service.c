/* SPDX-License-Identifier: Apache-2.0 */
/* The partners service's methods: validation, authorization and idempotent effects. */
#include "prt_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "coalition/internal/v1/directory.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "currency.h"
#include "idem.h"
#include "prt_internal.h"
#include "store.h"

extern const co_migration prt_migrations[];
extern const size_t prt_migrations_count;

/* --- conversions --- */

static Coalition__V1__Partner *to_pb(co_arena *a, const prt_partner *p)
{
    Coalition__V1__Partner *m = co_arena_alloc(a, sizeof *m);
    Coalition__V1__Contact *ct = co_arena_alloc(a, sizeof *ct);
    if (m == NULL || ct == NULL) {
        return NULL;
    }
    coalition__v1__partner__init(m);
    coalition__v1__contact__init(ct);
    m->partner_id = (char *)p->partner_id;
    m->name = (char *)p->name;
    m->status = (Coalition__V1__PartnerStatus)p->status;
    m->certificate_identity = (char *)p->certificate_identity;
    m->settlement_currency = (char *)p->settlement_currency;
    ct->name = (char *)p->contact_name;
    ct->email = (char *)p->contact_email;
    ct->phone = (char *)p->contact_phone;
    m->contact = ct;
    m->status_reason = (char *)p->status_reason;
    m->create_time = co_timestamp(a, p->create_time_us);
    m->update_time = co_timestamp(a, p->update_time_us);
    if (m->create_time == NULL || m->update_time == NULL) {
        return NULL;
    }
    return m;
}

static co_err check_partner_id(co_call *call, const char *field, const char *id)
{
    if (!co_name_is_valid(id, strlen(id))) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"%s\": must be 1-63 characters of a-z, 0-9 and '-', "
                            "starting with a letter",
                            field);
    }
    return CO_OK;
}

/* --- RegisterPartner --- */

typedef struct register_args {
    prt_state *st;
    prt_partner p;
} register_args;

static co_err register_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    register_args *ra = ud;
    co_arena *a = co_call_arena(call);
    prt_partner row;
    const char *conflict = NULL;
    co_err e = prt_store_insert(c, &ra->p, a, &row, &conflict);
    if (e == CO_ERR_ALREADY_EXISTS) {
        if (strcmp(conflict, "certificate_identity") == 0) {
            return co_call_fail(call, e,
                                "certificate identity \"%s\" is already registered to another "
                                "partner",
                                ra->p.certificate_identity);
        }
        return co_call_fail(call, e, "partner \"%s\" already exists", ra->p.partner_id);
    }
    if (e != CO_OK) {
        return e;
    }
    Coalition__V1__RegisterPartnerResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__register_partner_response__init(r);
    r->partner = to_pb(a, &row);
    if (r->partner == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

static co_err check_contact(co_call *call, const Coalition__V1__Contact *ct)
{
    if (ct == NULL) {
        return CO_OK;
    }
    if (co_utf8_chars(ct->name) > 200) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"contact.name\": at most 200 characters");
    }
    if (ct->email[0] != '\0' && !co_email_valid(ct->email)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"contact.email\": not an e-mail address");
    }
    if (ct->phone[0] != '\0' && !co_e164_valid(ct->phone)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"contact.phone\": must be E.164, like +4930123456");
    }
    return CO_OK;
}

static co_err register_partner(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                               void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__RegisterPartnerRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    co_err e;
    if ((e = co_require_admin(call)) != CO_OK ||
        (e = co_check_request_id(call, req->request_id)) != CO_OK ||
        (e = check_partner_id(call, "partner_id", req->partner_id)) != CO_OK) {
        return e;
    }
    size_t nl = co_utf8_chars(req->name);
    if (nl == 0 || nl > 200) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"name\": must be 1-200 characters");
    }
    if (!co_currency_valid(req->settlement_currency)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"settlement_currency\": not an ISO 4217 code");
    }
    if ((e = check_contact(call, req->contact)) != CO_OK) {
        return e;
    }
    const char *identity = req->certificate_identity;
    if (identity[0] == '\0') {
        identity = co_arena_printf(a, "spiffe://%s/partner/%s", st->trust_domain, req->partner_id);
        if (identity == NULL) {
            return CO_ERR_NOMEM;
        }
    } else {
        co_spiffe_kind kind;
        char name[64];
        if (!co_spiffe_parse(identity, strlen(identity), st->trust_domain, &kind, name,
                             sizeof name) ||
            kind != CO_SPIFFE_PARTNER) {
            return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                                "invalid field \"certificate_identity\": must be "
                                "spiffe://%s/partner/<name>",
                                st->trust_domain);
        }
    }
    register_args ra = {.st = st};
    ra.p = (prt_partner){
        .partner_id = req->partner_id,
        .name = req->name,
        .status = COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING,
        .certificate_identity = identity,
        .settlement_currency = req->settlement_currency,
        .contact_name = req->contact != NULL ? req->contact->name : "",
        .contact_email = req->contact != NULL ? req->contact->email : "",
        .contact_phone = req->contact != NULL ? req->contact->phone : "",
    };
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__register_partner_response__descriptor, register_effect,
                       &ra, resp);
}

/* --- GetPartner --- */

typedef struct get_args {
    const char *partner_id;
    co_arena *a;
    prt_partner row;
} get_args;

static co_err get_tx(co_pg_conn *c, void *ud)
{
    get_args *ga = ud;
    return prt_store_get(c, ga->partner_id, 0, ga->a, &ga->row);
}

static co_err get_partner(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                          void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__GetPartnerRequest *req = (const void *)msg;
    const co_caller *who = co_caller_of(call);
    const char *id = req->partner_id;
    if (id[0] == '\0') {
        if (who->partner_id == NULL) {
            return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                                "invalid field \"partner_id\": required");
        }
        id = who->partner_id;
    }
    co_err e = check_partner_id(call, "partner_id", id);
    if (e != CO_OK) {
        return e;
    }
    if (who->role == CO_ROLE_PARTNER && strcmp(id, who->partner_id) != 0) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "a partner may read only its own record");
    }
    get_args ga = {.partner_id = id, .a = co_call_arena(call)};
    e = co_pg_tx(st->pool, co_call_ms_left(call), get_tx, &ga);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "partner \"%s\" not found", id);
    }
    if (e != CO_OK) {
        return e;
    }
    Coalition__V1__GetPartnerResponse *r = co_arena_alloc(ga.a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__get_partner_response__init(r);
    r->partner = to_pb(ga.a, &ga.row);
    if (r->partner == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- ListPartners --- */

typedef struct list_args {
    const char *after;
    int status;
    int limit;
    co_arena *a;
    prt_partner *rows;
    size_t n;
} list_args;

static co_err list_tx(co_pg_conn *c, void *ud)
{
    list_args *la = ud;
    return prt_store_list(c, la->after, la->status, la->limit, la->a, &la->rows, &la->n);
}

static bool status_valid(int s)
{
    return s >= COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING &&
           s <= COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_SUSPENDED;
}

static co_err list_partners(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                            void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__ListPartnersRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    co_err e = co_require_admin(call);
    if (e != CO_OK) {
        return e;
    }
    int32_t size;
    if (!co_page_size(req->page_size, PRT_LIST_DEFAULT, PRT_LIST_MAX, &size)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"page_size\": must be between 0 and %d", PRT_LIST_MAX);
    }
    if (req->status != 0 && !status_valid(req->status)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"status\": unknown value %d", (int)req->status);
    }
    char scope[32];
    snprintf(scope, sizeof scope, "partners:%d", (int)req->status);
    const char *after = "";
    if (req->page_token[0] != '\0' && !co_page_token_parse(a, req->page_token, scope, &after)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"page_token\": not a token of this listing");
    }
    /* One extra row tells whether another page follows. */
    list_args la = {.after = after, .status = req->status, .limit = size + 1, .a = a};
    e = co_pg_tx(st->pool, co_call_ms_left(call), list_tx, &la);
    if (e != CO_OK) {
        return e;
    }
    Coalition__V1__ListPartnersResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__list_partners_response__init(r);
    size_t n = la.n > (size_t)size ? (size_t)size : la.n;
    r->partners = co_arena_calloc(a, n == 0 ? 1 : n, sizeof *r->partners);
    if (r->partners == NULL) {
        return CO_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        r->partners[i] = to_pb(a, &la.rows[i]);
        if (r->partners[i] == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    r->n_partners = n;
    if (la.n > (size_t)size) {
        r->next_page_token = co_page_token_make(a, scope, la.rows[n - 1].partner_id);
        if (r->next_page_token == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- SetPartnerStatus --- */

typedef struct status_args {
    const char *partner_id;
    int status;
    const char *reason;
} status_args;

static co_err status_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    status_args *sa = ud;
    co_arena *a = co_call_arena(call);
    prt_partner row;
    co_err e = prt_store_get(c, sa->partner_id, 1, a, &row);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "partner \"%s\" not found", sa->partner_id);
    }
    if (e != CO_OK) {
        return e;
    }
    if (strcmp(row.partner_id, CO_OPERATOR_ID) == 0) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            "the operator's status cannot be changed");
    }
    if (sa->status == COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING &&
        row.status != COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            "partner \"%s\" cannot return to PENDING", sa->partner_id);
    }
    e = prt_store_set_status(c, sa->partner_id, sa->status, sa->reason, a, &row);
    if (e != CO_OK) {
        return e;
    }
    Coalition__V1__SetPartnerStatusResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__set_partner_status_response__init(r);
    r->partner = to_pb(a, &row);
    if (r->partner == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

static co_err set_partner_status(co_call *call, const ProtobufCMessage *msg,
                                 ProtobufCMessage **resp, void *ud)
{
    prt_state *st = ud;
    const Coalition__V1__SetPartnerStatusRequest *req = (const void *)msg;
    co_err e;
    if ((e = co_require_admin(call)) != CO_OK ||
        (e = co_check_request_id(call, req->request_id)) != CO_OK ||
        (e = check_partner_id(call, "partner_id", req->partner_id)) != CO_OK) {
        return e;
    }
    if (!status_valid(req->status)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"status\": must be PENDING, ACTIVE or SUSPENDED");
    }
    if (co_utf8_chars(req->reason) > 500) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"reason\": at most 500 characters");
    }
    status_args sa = {req->partner_id, req->status, req->reason};
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__set_partner_status_response__descriptor, status_effect,
                       &sa, resp);
}

/* --- Directory.ResolveIdentity (internal) --- */

typedef struct resolve_args {
    const char *identity;
    co_arena *a;
    prt_partner row;
} resolve_args;

static co_err resolve_tx(co_pg_conn *c, void *ud)
{
    resolve_args *ra = ud;
    return prt_store_by_identity(c, ra->identity, ra->a, &ra->row);
}

static co_err resolve_identity(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                               void *ud)
{
    prt_state *st = ud;
    const Coalition__Internal__V1__ResolveIdentityRequest *req = (const void *)msg;
    if (co_caller_of(call)->role != CO_ROLE_SERVICE) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "internal method");
    }
    size_t n = strlen(req->certificate_identity);
    if (n == 0 || n > 512) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"certificate_identity\": must be 1-512 bytes");
    }
    resolve_args ra = {.identity = req->certificate_identity, .a = co_call_arena(call)};
    co_err e = co_pg_tx(st->pool, co_call_ms_left(call), resolve_tx, &ra);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "no partner is registered with this identity");
    }
    if (e != CO_OK) {
        return e;
    }
    Coalition__Internal__V1__ResolveIdentityResponse *r = co_arena_alloc(ra.a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__internal__v1__resolve_identity_response__init(r);
    r->partner_id = (char *)ra.row.partner_id;
    r->status = (Coalition__V1__PartnerStatus)ra.row.status;
    *resp = &r->base;
    return CO_OK;
}

/* --- the method table --- */

#define ROW(svc, name, in, out, fn)                                                                \
    {                                                                                              \
        "/" svc "/" name, &in##__descriptor, &out##__descriptor, fn, NULL, NULL                    \
    }

static const co_method method_rows[] = {
    ROW("coalition.v1.Partners", "RegisterPartner", coalition__v1__register_partner_request,
        coalition__v1__register_partner_response, register_partner),
    ROW("coalition.v1.Partners", "GetPartner", coalition__v1__get_partner_request,
        coalition__v1__get_partner_response, get_partner),
    ROW("coalition.v1.Partners", "ListPartners", coalition__v1__list_partners_request,
        coalition__v1__list_partners_response, list_partners),
    ROW("coalition.v1.Partners", "SetPartnerStatus", coalition__v1__set_partner_status_request,
        coalition__v1__set_partner_status_response, set_partner_status),
    ROW("coalition.v1.Partners", "CreateProgram", coalition__v1__create_program_request,
        coalition__v1__create_program_response, prt_create_program),
    ROW("coalition.v1.Partners", "UpdateProgram", coalition__v1__update_program_request,
        coalition__v1__update_program_response, prt_update_program),
    ROW("coalition.v1.Partners", "GetProgram", coalition__v1__get_program_request,
        coalition__v1__get_program_response, prt_get_program),
    ROW("coalition.v1.Partners", "ListPrograms", coalition__v1__list_programs_request,
        coalition__v1__list_programs_response, prt_list_programs),
    ROW("coalition.v1.Partners", "SetParticipation", coalition__v1__set_participation_request,
        coalition__v1__set_participation_response, prt_set_participation),
    ROW("coalition.v1.Partners", "CreateCampaign", coalition__v1__create_campaign_request,
        coalition__v1__create_campaign_response, prt_create_campaign),
    ROW("coalition.v1.Partners", "ListCampaigns", coalition__v1__list_campaigns_request,
        coalition__v1__list_campaigns_response, prt_list_campaigns),
    ROW("coalition.v1.Partners", "SetExchangeAgreement",
        coalition__v1__set_exchange_agreement_request,
        coalition__v1__set_exchange_agreement_response, prt_set_exchange_agreement),
    ROW("coalition.v1.Partners", "ListExchangeAgreements",
        coalition__v1__list_exchange_agreements_request,
        coalition__v1__list_exchange_agreements_response, prt_list_exchange_agreements),
    ROW("coalition.v1.Partners", "SetCommissionPolicy",
        coalition__v1__set_commission_policy_request, coalition__v1__set_commission_policy_response,
        prt_set_commission_policy),
    ROW("coalition.v1.Partners", "CreateReward", coalition__v1__create_reward_request,
        coalition__v1__create_reward_response, prt_create_reward),
    ROW("coalition.v1.Partners", "ListRewards", coalition__v1__list_rewards_request,
        coalition__v1__list_rewards_response, prt_list_rewards),
    ROW("coalition.v1.Partners", "CreateMembershipPlan",
        coalition__v1__create_membership_plan_request,
        coalition__v1__create_membership_plan_response, prt_create_membership_plan),
    ROW("coalition.internal.v1.Directory", "GetProgramSnapshot",
        coalition__internal__v1__get_program_snapshot_request,
        coalition__internal__v1__get_program_snapshot_response, prt_get_program_snapshot),
    ROW("coalition.internal.v1.Directory", "GetMembershipPlan",
        coalition__internal__v1__get_membership_plan_request,
        coalition__internal__v1__get_membership_plan_response, prt_get_membership_plan),
    ROW("coalition.internal.v1.Directory", "GetReward", coalition__internal__v1__get_reward_request,
        coalition__internal__v1__get_reward_response, prt_get_reward),
    ROW("coalition.internal.v1.Directory", "ResolveIdentity",
        coalition__internal__v1__resolve_identity_request,
        coalition__internal__v1__resolve_identity_response, resolve_identity),
};
#define NMETHODS (sizeof method_rows / sizeof method_rows[0])

typedef struct prt_service {
    prt_state st;
    co_method methods[NMETHODS];
} prt_service;

static void *prt_init(const co_process_env *env, const co_method **methods, size_t *n, char *err,
                      size_t errlen)
{
    prt_service *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->st.pool = env->pool;
    s->st.trust_domain = env->cfg->trust_domain;
    co_idem_init(&s->st.idem, "partners");
    for (size_t i = 0; i < NMETHODS; i++) {
        s->methods[i] = method_rows[i];
        s->methods[i].ud = &s->st;
    }
    *methods = s->methods;
    *n = NMETHODS;
    return s;
}

static void prt_fini(void *state)
{
    free(state);
}

static const char *const health_names[] = {"coalition.v1.Partners",
                                           "coalition.internal.v1.Directory", NULL};

const co_process_def prt_service_def = {
    .name = "partners",
    .schema = "partners",
    .migrations = prt_migrations,
    .nmigrations = 0, /* set in main from prt_migrations_count */
    .default_listen = "127.0.0.1:50051",
    .default_health_listen = "127.0.0.1:50151",
    .default_metrics_listen = "127.0.0.1:9151",
    .health_names = health_names,
    .init = prt_init,
    .fini = prt_fini,
};
