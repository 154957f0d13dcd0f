/* SPDX-License-Identifier: Apache-2.0 */
/* Integration tests of who may call what: certificates, roles and methods at the gateway. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <grpc/grpc.h>

#include "coalition/v1/partners.pb-c.h"
#include "harness.h"
#include "process.h"
#include "itest.h"

/* The gateway is alive and still serves the admin. */
static void assert_gateway_serves(it_fx *f)
{
    assert_int_equal(kill(h_pid(f->s, H_GATEWAY), 0), 0);
    assert_int_equal(kill(h_pid(f->s, H_PARTNERS), 0), 0);
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Partner *p = it_get_partner(f->admin, &a, "operator", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(p->partner_id, "operator");
    co_arena_release(&a);
}

/* A certificate the TLS handshake refuses: the client sees UNAVAILABLE, the gateway goes on. */
static void assert_refused_at_handshake(it_fx *f, const char *identity)
{
    co_client *c = h_client(f->s, H_GATEWAY, identity);
    co_arena a;
    co_arena_init(&a, 0);
    for (int i = 0; i < 2; i++) {
        co_client_status st;
        assert_null(it_get_partner(c, &a, "", &st));
        if (st.code != GRPC_STATUS_UNAVAILABLE) {
            fail_msg("%s: expected UNAVAILABLE (handshake refused), got %s: \"%s\"",
                     identity != NULL ? identity : "no certificate", co_grpc_status_name(st.code),
                     st.details);
        }
    }
    co_arena_release(&a);
    co_client_free(c);
    assert_gateway_serves(f);
}

/* True if s holds a run of four or more digits, as a port number would be. */
static bool has_port_number(const char *s)
{
    int run = 0;
    for (; *s != '\0'; s++) {
        run = (*s >= '0' && *s <= '9') ? run + 1 : 0;
        if (run >= 4) {
            return true;
        }
    }
    return false;
}

/* --- tests --- */

static void test_partner_calling_admin_methods_is_permission_denied(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__RegisterPartnerRequest reg =
        it_register_request("bakery-reg-1", "sneaky-co", "sneaky-co");
    co_client_status st =
        it_call_msg(f->bakery, &a, "/coalition.v1.Partners/RegisterPartner", &reg.base, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "admin");

    Coalition__V1__ListPartnersRequest list = COALITION__V1__LIST_PARTNERS_REQUEST__INIT;
    st = it_call_msg(f->bakery, &a, "/coalition.v1.Partners/ListPartners", &list.base, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "admin");

    Coalition__V1__SetPartnerStatusRequest set = COALITION__V1__SET_PARTNER_STATUS_REQUEST__INIT;
    set.request_id = "bakery-set-1";
    set.partner_id = "bakery";
    set.status = COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE;
    st = it_call_msg(f->bakery, &a, "/coalition.v1.Partners/SetPartnerStatus", &set.base, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, "admin");

    /* Nothing happened: no partner registered, the bakery still PENDING. */
    Coalition__V1__Partner *p = it_get_partner(f->admin, &a, "sneaky-co", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    assert_null(p);
    p = it_get_partner(f->admin, &a, "bakery", &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_PENDING);
    co_arena_release(&a);
}

static void test_no_client_certificate_is_refused_and_gateway_stays_up(void **state)
{
    assert_refused_at_handshake(*state, NULL);
}

static void test_foreign_ca_certificate_is_refused_and_gateway_stays_up(void **state)
{
    assert_refused_at_handshake(*state, "foreign-bakery");
}

static void test_expired_certificate_is_refused_and_gateway_stays_up(void **state)
{
    assert_refused_at_handshake(*state, "expired-bakery");
}

static void test_unregistered_partner_identity_is_unauthenticated(void **state)
{
    it_fx *f = *state;
    co_client *ghost = h_client(f->s, H_GATEWAY, "partner-ghost");
    co_arena a;
    co_arena_init(&a, 0);
    /* Twice: the second answer comes from the gateway's negative cache and must agree. */
    for (int i = 0; i < 2; i++) {
        co_client_status st;
        assert_null(it_get_partner(ghost, &a, "", &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_UNAUTHENTICATED, "not registered");
    }
    co_client_status st =
        it_call_msg(ghost, &a, "/coalition.v1.Partners/ListPartners", NULL, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_UNAUTHENTICATED, NULL);
    co_arena_release(&a);
    co_client_free(ghost);
    assert_gateway_serves(f);
}

static void test_caller_supplied_identity_metadata_is_ignored(void **state)
{
    it_fx *f = *state;
    const co_client_md forged[] = {
        {CO_MD_PARTNER_ID, "fuelco"},
        {CO_MD_ROLE, "admin"},
    };
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    Coalition__V1__Partner *p = it_get_partner_md(f->bakery, &a, "", forged, 2, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(p->partner_id, "bakery");
    assert_null(it_get_partner_md(f->bakery, &a, "fuelco", forged, 2, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);

    Coalition__V1__ListPartnersRequest list = COALITION__V1__LIST_PARTNERS_REQUEST__INIT;
    st = it_call_msg(f->bakery, &a, "/coalition.v1.Partners/ListPartners", &list.base, forged, 2);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
    Coalition__V1__RegisterPartnerRequest reg =
        it_register_request("forged-reg-1", "forged-co", "forged-co");
    st = it_call_msg(f->bakery, &a, "/coalition.v1.Partners/RegisterPartner", &reg.base, forged, 2);
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);

    /* A role of "service" does not help either. */
    const co_client_md service[] = {{CO_MD_ROLE, "service"}};
    p = it_get_partner_md(f->bakery, &a, "", service, 1, &st);
    IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
    assert_string_equal(p->partner_id, "bakery");
    assert_null(it_get_partner_md(f->bakery, &a, "fuelco", service, 1, &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);

    assert_null(it_get_partner(f->admin, &a, "forged-co", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    co_arena_release(&a);
}

static void test_partner_and_admin_certificates_calling_partners_directly_are_denied(void **state)
{
    it_fx *f = *state;
    static const char *const who[] = {"partner-bakery", "admin-operator"};
    const co_client_md forged[] = {
        {CO_MD_PARTNER_ID, "bakery"},
        {CO_MD_ROLE, "admin"},
    };
    for (size_t i = 0; i < sizeof who / sizeof who[0]; i++) {
        co_client *c = h_client(f->s, H_PARTNERS, who[i]);
        co_arena a;
        co_arena_init(&a, 0);
        co_client_status st;
        assert_null(it_get_partner(c, &a, "bakery", &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
        assert_null(it_get_partner_md(c, &a, "bakery", forged, 2, &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
        Coalition__V1__RegisterPartnerRequest reg =
            it_register_request("direct-reg-1", "direct-co", "direct-co");
        st = it_call_msg(c, &a, "/coalition.v1.Partners/RegisterPartner", &reg.base, forged, 2);
        IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
        st =
            it_call_msg(c, &a, "/coalition.internal.v1.Directory/ResolveIdentity", NULL, forged, 2);
        IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
        co_arena_release(&a);
        co_client_free(c);
    }
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    assert_null(it_get_partner(f->admin, &a, "direct-co", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    co_arena_release(&a);
}

static void test_service_certificate_calling_gateway_public_api_is_denied(void **state)
{
    it_fx *f = *state;
    static const char *const who[] = {"service-points", "service-partners"};
    const co_client_md md[] = {{CO_MD_ROLE, "admin"}};
    for (size_t i = 0; i < sizeof who / sizeof who[0]; i++) {
        co_client *c = h_client(f->s, H_GATEWAY, who[i]);
        co_arena a;
        co_arena_init(&a, 0);
        co_client_status st;
        assert_null(it_get_partner(c, &a, "operator", &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
        assert_null(it_get_partner_md(c, &a, "operator", md, 1, &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
        st = it_call_msg(c, &a, "/coalition.v1.Partners/ListPartners", NULL, md, 1);
        IT_EXPECT_STATUS(st, GRPC_STATUS_PERMISSION_DENIED, NULL);
        co_arena_release(&a);
        co_client_free(c);
    }
}

static void test_unknown_method_is_unimplemented_on_gateway_and_partners(void **state)
{
    it_fx *f = *state;
    static const char *const paths[] = {
        "/coalition.v1.Partners/NoSuchMethod",
        "/coalition.v1.NoSuchService/GetPartner",
        "/coalition.v1.Settlement/NoSuchMethod",
        "/nonsense",
    };
    co_client *svc = h_client(f->s, H_PARTNERS, "service-gateway");
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        co_client_status st = it_call_msg(f->admin, &a, paths[i], NULL, NULL, 0);
        if (st.code != GRPC_STATUS_UNIMPLEMENTED) {
            fail_msg("gateway %s: expected UNIMPLEMENTED, got %s: \"%s\"", paths[i],
                     co_grpc_status_name(st.code), st.details);
        }
        st = it_call_msg(svc, &a, paths[i], NULL, NULL, 0);
        if (st.code != GRPC_STATUS_UNIMPLEMENTED) {
            fail_msg("partners %s: expected UNIMPLEMENTED, got %s: \"%s\"", paths[i],
                     co_grpc_status_name(st.code), st.details);
        }
    }
    /* The partners service's internal Directory is not reachable through the gateway. */
    co_client_status st = it_call_msg(
        f->admin, &a, "/coalition.internal.v1.Directory/ResolveIdentity", NULL, NULL, 0);
    IT_EXPECT_STATUS(st, GRPC_STATUS_UNIMPLEMENTED, NULL);
    co_arena_release(&a);
    co_client_free(svc);
    assert_gateway_serves(f);
}

static void test_internal_methods_through_gateway_are_permission_denied(void **state)
{
    it_fx *f = *state;
    static const char *const paths[] = {
        "/coalition.v1.Points/ListSettlementEvents",
        "/coalition.v1.Points/AckSettlementEvents",
        "/coalition.v1.Referrals/ListCommissionEvents",
        "/coalition.v1.Referrals/AckCommissionEvents",
    };
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        co_client *callers[] = {f->admin, f->bakery};
        for (size_t k = 0; k < 2; k++) {
            co_client_status st = it_call_msg(callers[k], &a, paths[i], NULL, NULL, 0);
            if (st.code != GRPC_STATUS_PERMISSION_DENIED) {
                fail_msg("%s as %s: expected PERMISSION_DENIED, got %s: \"%s\"", paths[i],
                         k == 0 ? "admin" : "bakery", co_grpc_status_name(st.code), st.details);
            }
        }
    }
    co_arena_release(&a);
}

static void test_call_to_service_not_running_is_unavailable_without_internal_address(void **state)
{
    it_fx *f = *state;
    static const struct {
        const char *path;
        const char *service;
    } rows[] = {
        {"/coalition.v1.Referrals/GetReferralStats", "referrals"},
    };
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        co_client *callers[] = {f->admin, f->bakery};
        for (size_t k = 0; k < 2; k++) {
            long long t0 = h_now_ms();
            co_client_status st = it_call_msg(callers[k], &a, rows[i].path, NULL, NULL, 0);
            long long took = h_now_ms() - t0;
            if (st.code != GRPC_STATUS_UNAVAILABLE || strstr(st.details, rows[i].service) == NULL) {
                fail_msg("%s: expected UNAVAILABLE naming \"%s\", got %s: \"%s\"", rows[i].path,
                         rows[i].service, co_grpc_status_name(st.code), st.details);
            }
            /* No internal address, port or transport detail reaches the partner. */
            static const char *const leaks[] = {"127.0.0.1",          "ipv4",   "ipv6", "localhost",
                                                "Connection refused", "connect"};
            for (size_t l = 0; l < sizeof leaks / sizeof leaks[0]; l++) {
                if (strstr(st.details, leaks[l]) != NULL) {
                    fail_msg("%s: details leak \"%s\": \"%s\"", rows[i].path, leaks[l], st.details);
                }
            }
            assert_false(has_port_number(st.details));
            assert_true(took < IT_CALL_MS); /* refused fast, not at the deadline */
        }
    }
    co_arena_release(&a);
    assert_gateway_serves(f);
}

/* --- fixture --- */

static int setup(void **state)
{
    it_fx *f = it_fx_start("it_gateway_auth");
    /* Registered before any call presents their certificates (no negative cache entry). */
    it_register_or_die(f->admin, "bakery", "bakery");
    it_register_or_die(f->admin, "fuelco", "fuelco");
    f->bakery = h_client(f->s, H_GATEWAY, "partner-bakery");
    *state = f;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partner_calling_admin_methods_is_permission_denied),
        cmocka_unit_test(test_no_client_certificate_is_refused_and_gateway_stays_up),
        cmocka_unit_test(test_foreign_ca_certificate_is_refused_and_gateway_stays_up),
        cmocka_unit_test(test_expired_certificate_is_refused_and_gateway_stays_up),
        cmocka_unit_test(test_unregistered_partner_identity_is_unauthenticated),
        cmocka_unit_test(test_caller_supplied_identity_metadata_is_ignored),
        cmocka_unit_test(test_partner_and_admin_certificates_calling_partners_directly_are_denied),
        cmocka_unit_test(test_service_certificate_calling_gateway_public_api_is_denied),
        cmocka_unit_test(test_unknown_method_is_unimplemented_on_gateway_and_partners),
        cmocka_unit_test(test_internal_methods_through_gateway_are_permission_denied),
        cmocka_unit_test(test_call_to_service_not_running_is_unavailable_without_internal_address),
    };
    int failed = cmocka_run_group_tests(tests, setup, it_teardown);
    return it_exit_code(failed);
}
