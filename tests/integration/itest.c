/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers the integration test programs share, on top of the harness and cmocka. */
#include "itest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "coalition/v1/points.pb-c.h"

void it_expect_status_at(const co_client_status *st, grpc_status_code want, const char *needle,
                         const char *file, int line)
{
    if (st->code != want || (needle != NULL && strstr(st->details, needle) == NULL)) {
        fail_msg("%s:%d: expected %s%s%s%s, got %s: \"%s\"", file, line, co_grpc_status_name(want),
                 needle != NULL ? " mentioning \"" : "", needle != NULL ? needle : "",
                 needle != NULL ? "\"" : "", co_grpc_status_name(st->code), st->details);
    }
}

co_client_status it_no_status(void)
{
    return (co_client_status){GRPC_STATUS_UNKNOWN, "(no call made)"};
}

/* --- calls --- */

uint8_t *it_pack(co_arena *a, const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = co_arena_alloc(a, *len + 1);
    assert_non_null(b);
    protobuf_c_message_pack(m, b);
    return b;
}

co_err it_unary(co_client *c, co_arena *a, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *resp_desc, const co_client_md *md, size_t nmd,
                ProtobufCMessage **resp, co_client_status *st)
{
    *st = it_no_status();
    return co_client_unary(c, method, req, resp_desc, md, nmd, IT_CALL_MS, false, a, resp, st);
}

co_client_status it_call_raw(co_client *c, co_arena *a, const char *method, const void *bytes,
                             size_t len, const co_client_md *md, size_t nmd)
{
    co_client_status st = it_no_status();
    uint8_t *resp = NULL;
    size_t rlen = 0;
    co_client_unary_raw(c, method, bytes, len, md, nmd, IT_CALL_MS, false, a, &resp, &rlen, &st);
    return st;
}

co_client_status it_call_msg(co_client *c, co_arena *a, const char *method,
                             const ProtobufCMessage *req, const co_client_md *md, size_t nmd)
{
    size_t len = 0;
    const void *bytes = req != NULL ? it_pack(a, req, &len) : (const void *)"";
    return it_call_raw(c, a, method, bytes, len, md, nmd);
}

Coalition__V1__RegisterPartnerRequest it_register_request(const char *rid, const char *id,
                                                          const char *name)
{
    Coalition__V1__RegisterPartnerRequest req = COALITION__V1__REGISTER_PARTNER_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.partner_id = (char *)id;
    req.name = (char *)name;
    req.settlement_currency = "EUR";
    return req;
}

Coalition__V1__Partner *it_register_partner(co_client *c, co_arena *a,
                                            const Coalition__V1__RegisterPartnerRequest *req,
                                            co_client_status *st)
{
    ProtobufCMessage *resp = NULL;
    if (it_unary(c, a, "/coalition.v1.Partners/RegisterPartner", &req->base,
                 &coalition__v1__register_partner_response__descriptor, NULL, 0, &resp,
                 st) != CO_OK) {
        return NULL;
    }
    return ((Coalition__V1__RegisterPartnerResponse *)resp)->partner;
}

Coalition__V1__Partner *it_get_partner(co_client *c, co_arena *a, const char *id,
                                       co_client_status *st)
{
    return it_get_partner_md(c, a, id, NULL, 0, st);
}

Coalition__V1__Partner *it_get_partner_md(co_client *c, co_arena *a, const char *id,
                                          const co_client_md *md, size_t nmd, co_client_status *st)
{
    Coalition__V1__GetPartnerRequest req = COALITION__V1__GET_PARTNER_REQUEST__INIT;
    req.partner_id = (char *)id;
    ProtobufCMessage *resp = NULL;
    if (it_unary(c, a, "/coalition.v1.Partners/GetPartner", &req.base,
                 &coalition__v1__get_partner_response__descriptor, md, nmd, &resp, st) != CO_OK) {
        return NULL;
    }
    return ((Coalition__V1__GetPartnerResponse *)resp)->partner;
}

Coalition__V1__ListPartnersResponse *it_list_partners(co_client *c, co_arena *a, int32_t size,
                                                      const char *token, int status,
                                                      co_client_status *st)
{
    Coalition__V1__ListPartnersRequest req = COALITION__V1__LIST_PARTNERS_REQUEST__INIT;
    req.page_size = size;
    req.page_token = (char *)token;
    req.status = (Coalition__V1__PartnerStatus)status;
    ProtobufCMessage *resp = NULL;
    if (it_unary(c, a, "/coalition.v1.Partners/ListPartners", &req.base,
                 &coalition__v1__list_partners_response__descriptor, NULL, 0, &resp, st) != CO_OK) {
        return NULL;
    }
    return (Coalition__V1__ListPartnersResponse *)resp;
}

Coalition__V1__Partner *it_set_partner_status(co_client *c, co_arena *a, const char *request_id,
                                              const char *id, int status, const char *reason,
                                              co_client_status *st)
{
    Coalition__V1__SetPartnerStatusRequest req = COALITION__V1__SET_PARTNER_STATUS_REQUEST__INIT;
    req.request_id = (char *)request_id;
    req.partner_id = (char *)id;
    req.status = (Coalition__V1__PartnerStatus)status;
    req.reason = (char *)reason;
    ProtobufCMessage *resp = NULL;
    if (it_unary(c, a, "/coalition.v1.Partners/SetPartnerStatus", &req.base,
                 &coalition__v1__set_partner_status_response__descriptor, NULL, 0, &resp,
                 st) != CO_OK) {
        return NULL;
    }
    return ((Coalition__V1__SetPartnerStatusResponse *)resp)->partner;
}

void it_register_or_die(co_client *admin, const char *id, const char *name)
{
    co_arena a;
    co_arena_init(&a, 0);
    char rid[64];
    snprintf(rid, sizeof rid, "reg-%s", id);
    Coalition__V1__RegisterPartnerRequest req = it_register_request(rid, id, name);
    co_client_status st;
    if (it_register_partner(admin, &a, &req, &st) == NULL) {
        fprintf(stderr, "could not register %s: %s: %s\n", id, co_grpc_status_name(st.code),
                st.details);
        exit(1);
    }
    co_arena_release(&a);
}

void it_activate_or_die(co_client *admin, const char *id)
{
    co_arena a;
    co_arena_init(&a, 0);
    char rid[64];
    snprintf(rid, sizeof rid, "act-%s", id);
    co_client_status st;
    if (it_set_partner_status(admin, &a, rid, id,
                              COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE, "test set-up",
                              &st) == NULL) {
        fprintf(stderr, "could not activate %s: %s: %s\n", id, co_grpc_status_name(st.code),
                st.details);
        exit(1);
    }
    co_arena_release(&a);
}

ProtobufCMessage *it_call_or_die(co_client *c, co_arena *a, const char *method,
                                 const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *resp_desc)
{
    ProtobufCMessage *resp = NULL;
    co_client_status st;
    it_unary(c, a, method, req, resp_desc, NULL, 0, &resp, &st);
    if (st.code != GRPC_STATUS_OK || resp == NULL) {
        fprintf(stderr, "set-up: %s: %s: %s\n", method, co_grpc_status_name(st.code), st.details);
        exit(1);
    }
    return resp;
}

void it_participate_or_die(co_client *admin, co_arena *a, const char *code, const char *partner)
{
    Coalition__V1__SetParticipationRequest req = COALITION__V1__SET_PARTICIPATION_REQUEST__INIT;
    req.request_id = co_arena_printf(a, "part-%s-%s", code, partner);
    req.program_code = (char *)code;
    req.partner_id = (char *)partner;
    req.can_issue = true;
    req.can_redeem = true;
    it_call_or_die(admin, a, "/coalition.v1.Partners/SetParticipation", &req.base,
                   &coalition__v1__set_participation_response__descriptor);
}

/* --- fixture --- */

/* cmocka 1.1 leaves a failed group teardown out of its result: it_exit_code reports it. */
static bool stop_failed;

it_fx *it_fx_start(const char *dbname)
{
    grpc_init();
    it_fx *f = calloc(1, sizeof *f);
    if (f == NULL) {
        fprintf(stderr, "out of memory starting %s\n", dbname);
        exit(1);
    }
    f->s = h_stack_start(dbname);
    f->admin = h_client(f->s, H_GATEWAY, "admin-operator");
    return f;
}

int it_teardown(void **state)
{
    it_fx *f = *state;
    co_client_free(f->admin);
    co_client_free(f->bakery);
    bool stopped = h_stack_stop(f->s);
    free(f);
    grpc_shutdown();
    stop_failed = stop_failed || !stopped;
    assert_true(stopped);
    return 0;
}

int it_exit_code(int failed)
{
    return failed != 0 || stop_failed ? 1 : 0;
}

/* --- database --- */

long long it_db_count(const h_stack *s, const char *sql, const char *param)
{
    PGconn *pg = PQconnectdb(h_db_url(s));
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    const char *vals[1] = {param};
    PGresult *r = PQexecParams(pg, sql, param != NULL ? 1 : 0, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fail_msg("query failed: %s", PQerrorMessage(pg));
    }
    long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(pg);
    return n;
}

void it_expect_verified(co_client *admin)
{
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__VerifyLedgerRequest req = COALITION__V1__VERIFY_LEDGER_REQUEST__INIT;
    Coalition__V1__VerifyLedgerResponse *r =
        (void *)it_call_or_die(admin, &a, "/coalition.v1.Points/VerifyLedger", &req.base,
                               &coalition__v1__verify_ledger_response__descriptor);
    for (size_t i = 0; i < r->n_violations; i++) {
        print_message("violation: %d %s %s %s %s\n", r->violations[i]->check,
                      r->violations[i]->program_code, r->violations[i]->account,
                      r->violations[i]->transfer_id, r->violations[i]->detail);
    }
    assert_true(r->ok);
    assert_true(r->transfers_checked > 0);
    co_arena_release(&a);
}

/* --- HTTP --- */

/* GET path over HTTP/1.0 from addr ("127.0.0.1:port"); the malloc'd response, NULL on error. */
char *it_http_get(const char *addr, const char *path)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) {
        return NULL;
    }
    long port = strtol(colon + 1, NULL, 10);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        return NULL;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return NULL;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char *out = NULL;
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        goto out_fd;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
    if (n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
        goto out_fd;
    }
    size_t cap = 65536, len = 0;
    out = malloc(cap);
    while (out != NULL) {
        if (cap - len < 4096) {
            char *bigger = realloc(out, cap * 2);
            if (bigger == NULL) {
                free(out);
                out = NULL;
                break;
            }
            out = bigger;
            cap *= 2;
        }
        ssize_t r = read(fd, out + len, cap - len - 1);
        if (r < 0) {
            free(out);
            out = NULL;
            break;
        }
        if (r == 0) {
            out[len] = '\0';
            break;
        }
        len += (size_t)r;
    }
out_fd:
    close(fd);
    return out;
}

long long it_metric_calls(const h_stack *s, h_proc p, const char *method, const char *code)
{
    char *resp = it_http_get(h_metrics_addr(s, p), "/metrics");
    assert_non_null(resp);
    char want[256];
    snprintf(want, sizeof want, "method=\"%s\",code=\"%s\"} ", method, code);
    const char *at = strstr(resp, want);
    long long n = at != NULL ? strtoll(at + strlen(want), NULL, 10) : 0;
    free(resp);
    return n;
}
