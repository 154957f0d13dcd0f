/* SPDX-License-Identifier: Apache-2.0 */
/* Integration tests of health checks, /metrics and the graceful stop on SIGTERM under load. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/grpc.h>

#include "coalition/v1/partners.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "harness.h"
#include "itest.h"

static const char *const proc_names[H_NPROC] = {[H_PARTNERS] = "partners",
                                                [H_ACCOUNTS] = "accounts",
                                                [H_POINTS] = "points",
                                                [H_GATEWAY] = "gateway"};

/* The services each process reports health for, besides "" (the whole process). */
static const char *const partners_services[] = {"coalition.v1.Partners",
                                                "coalition.internal.v1.Directory", NULL};
static const char *const accounts_services[] = {"coalition.v1.Accounts", NULL};
static const char *const points_services[] = {"coalition.v1.Points", NULL};
static const char *const gateway_services[] = {"coalition.v1.Partners", "coalition.v1.Accounts",
                                               "coalition.v1.Points", "coalition.v1.Referrals",
                                               NULL};

/* Health/Check of service on c: the serving status, or -1 with *st (arena memory) telling why. */
static int health_check(co_client *c, co_arena *a, const char *service, co_client_status *st)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    ProtobufCMessage *resp = NULL;
    if (it_unary(c, a, "/grpc.health.v1.Health/Check", &req.base,
                 &grpc__health__v1__health_check_response__descriptor, NULL, 0, &resp,
                 st) != CO_OK) {
        return -1;
    }
    return (int)((Grpc__Health__V1__HealthCheckResponse *)resp)->status;
}

/* True if the HTTP response starts with a status line of code. */
static bool http_status_is(const char *resp, const char *code)
{
    if (strncmp(resp, "HTTP/1.", 7) != 0) {
        return false;
    }
    const char *sp = strchr(resp, ' ');
    return sp != NULL && strncmp(sp + 1, code, strlen(code)) == 0;
}

/* --- health and metrics --- */

static void test_health_check_serving_on_every_process_and_port(void **state)
{
    it_fx *f = *state;
    for (int p = 0; p < H_NPROC; p++) {
        const char *const *names = p == H_PARTNERS   ? partners_services
                                   : p == H_ACCOUNTS ? accounts_services
                                   : p == H_POINTS   ? points_services
                                                     : gateway_services;
        co_client *clients[3] = {
            /* On the mTLS port Health/Check needs a valid certificate but no authorization. */
            h_client(f->s, (h_proc)p, "admin-operator"),
            h_client(f->s, (h_proc)p, "partner-bakery"),
            co_client_new(h_health_addr(f->s, (h_proc)p), NULL, "health"),
        };
        assert_non_null(clients[2]);
        for (int c = 0; c < 3; c++) {
            for (int k = -1; k < 0 || names[k] != NULL; k++) {
                const char *svc = k < 0 ? "" : names[k];
                co_arena a;
                co_arena_init(&a, 0);
                co_client_status st;
                int status = health_check(clients[c], &a, svc, &st);
                if (st.code != GRPC_STATUS_OK ||
                    status != GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
                    fail_msg("%s, %s, service \"%s\": expected SERVING, got %s (%d): \"%s\"",
                             proc_names[p], c == 2 ? "health port" : "mTLS port", svc,
                             co_grpc_status_name(st.code), status, st.details);
                }
                co_arena_release(&a);
            }
        }
        for (int c = 0; c < 3; c++) {
            co_client_free(clients[c]);
        }
    }
}

static void test_health_check_unknown_service_is_not_found(void **state)
{
    it_fx *f = *state;
    for (int p = 0; p < H_NPROC; p++) {
        co_client *clients[2] = {
            h_client(f->s, (h_proc)p, "admin-operator"),
            co_client_new(h_health_addr(f->s, (h_proc)p), NULL, "health"),
        };
        assert_non_null(clients[1]);
        for (int c = 0; c < 2; c++) {
            co_arena a;
            co_arena_init(&a, 0);
            co_client_status st;
            int status = health_check(clients[c], &a, "coalition.v1.NoSuchService", &st);
            assert_int_equal(status, -1);
            IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, "coalition.v1.NoSuchService");
            co_arena_release(&a);
        }
        for (int c = 0; c < 2; c++) {
            co_client_free(clients[c]);
        }
    }
}

static void test_health_port_serves_no_api_and_mtls_port_needs_tls(void **state)
{
    it_fx *f = *state;
    for (int p = 0; p < H_NPROC; p++) {
        co_client *health = co_client_new(h_health_addr(f->s, (h_proc)p), NULL, "health");
        co_client *plain = co_client_new(h_addr(f->s, (h_proc)p), NULL, "plaintext");
        assert_non_null(health);
        assert_non_null(plain);
        co_arena a;
        co_arena_init(&a, 0);
        co_client_status st;
        /* The plaintext port must not be a way around mutual TLS. */
        assert_null(it_get_partner(health, &a, "operator", &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_UNIMPLEMENTED, NULL);
        assert_null(it_get_partner(plain, &a, "operator", &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_UNAVAILABLE, NULL);
        co_client_status hs;
        assert_int_equal(health_check(plain, &a, "", &hs), -1);
        IT_EXPECT_STATUS(hs, GRPC_STATUS_UNAVAILABLE, NULL);
        co_arena_release(&a);
        co_client_free(health);
        co_client_free(plain);
    }
}

static void test_metrics_endpoint_counts_grpc_calls(void **state)
{
    it_fx *f = *state;
    co_arena a;
    co_arena_init(&a, 0);
    for (int i = 0; i < 3; i++) {
        co_client_status st;
        assert_non_null(it_get_partner(f->admin, &a, "operator", &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_OK, NULL);
        assert_null(it_get_partner(f->admin, &a, "no-such-partner", &st));
        IT_EXPECT_STATUS(st, GRPC_STATUS_NOT_FOUND, NULL);
    }
    co_arena_release(&a);
    for (int p = 0; p < H_NPROC; p++) {
        char *resp = it_http_get(h_metrics_addr(f->s, (h_proc)p), "/metrics");
        if (resp == NULL) {
            fail_msg("%s: no answer from %s", proc_names[p], h_metrics_addr(f->s, (h_proc)p));
        }
        /* GetPartner passes through the gateway to partners only; points answers too, as it
         * reads program configuration from partners (Directory), not GetPartner. */
        bool ok =
            http_status_is(resp, "200") && strstr(resp, "\r\n\r\n") != NULL &&
            (p == H_ACCOUNTS || p == H_POINTS ||
             strstr(resp, "coalition_grpc_calls_total") != NULL) &&
            (p == H_ACCOUNTS || p == H_POINTS ||
             (strstr(resp, "method=\"/coalition.v1.Partners/GetPartner\",code=\"OK\"") != NULL &&
              strstr(resp, "method=\"/coalition.v1.Partners/GetPartner\",code=\"NOT_FOUND\"") !=
                  NULL));
        if (!ok) {
            fail_msg("%s /metrics: expected 200 with GetPartner counters, got:\n%.1500s",
                     proc_names[p], resp);
        }
        free(resp);
        resp = it_http_get(h_metrics_addr(f->s, (h_proc)p), "/not-metrics");
        assert_non_null(resp);
        if (!http_status_is(resp, "404")) {
            fail_msg("%s /not-metrics: expected 404, got:\n%.300s", proc_names[p], resp);
        }
        free(resp);
    }
}

/* --- SIGTERM under load --- */

#define LOADERS 8

typedef struct loader {
    co_client *c;
    const char *partner_id;
    atomic_bool *stop;
    atomic_long *total;
    long by_code[GRPC_STATUS_UNAUTHENTICATED + 1];
    long other;
    char bad[256]; /* the first call that was neither OK nor UNAVAILABLE */
    long long max_ms;
} loader;

static void *load(void *arg)
{
    loader *l = arg;
    while (!atomic_load(l->stop)) {
        co_arena a;
        co_arena_init(&a, 0);
        co_client_status st;
        long long t0 = h_now_ms();
        Coalition__V1__Partner *p = it_get_partner(l->c, &a, l->partner_id, &st);
        long long ms = h_now_ms() - t0;
        if (ms > l->max_ms) {
            l->max_ms = ms;
        }
        if (st.code >= 0 && st.code <= GRPC_STATUS_UNAUTHENTICATED) {
            l->by_code[st.code]++;
        } else {
            l->other++;
        }
        bool wrong = st.code == GRPC_STATUS_OK && (p == NULL || strcmp(p->partner_id, "bakery"));
        if ((wrong || (st.code != GRPC_STATUS_OK && st.code != GRPC_STATUS_UNAVAILABLE)) &&
            l->bad[0] == '\0') {
            snprintf(l->bad, sizeof l->bad, "%s: %s", co_grpc_status_name(st.code), st.details);
        }
        co_arena_release(&a);
        atomic_fetch_add(l->total, 1);
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_sigterm_under_load_drains_and_exits_zero(void **state)
{
    it_fx *f = *state;
    atomic_bool stop;
    atomic_long total;
    atomic_init(&stop, false);
    atomic_init(&total, 0);
    loader *ls = calloc(LOADERS, sizeof *ls);
    assert_non_null(ls);
    pthread_t th[LOADERS];
    for (int i = 0; i < LOADERS; i++) {
        /* Half as the admin, half as the bakery (whose identity the gateway resolves). */
        ls[i] = (loader){.c = i % 2 == 0 ? f->admin : f->bakery,
                         .partner_id = i % 2 == 0 ? "bakery" : "",
                         .stop = &stop,
                         .total = &total};
        assert_int_equal(pthread_create(&th[i], NULL, load, &ls[i]), 0);
    }
    /* Let the load build up, then stop the partners service in the middle of it. */
    long long until = h_now_ms() + 5000;
    while (atomic_load(&total) < 200 && h_now_ms() < until) {
        sleep_ms(10);
    }
    long before = atomic_load(&total);
    long long t0 = h_now_ms();
    bool clean = h_proc_stop(f->s, H_PARTNERS);
    long long stop_ms = h_now_ms() - t0;
    /* Keep calling a while after it is gone: those calls must fail fast as UNAVAILABLE. */
    sleep_ms(500);
    atomic_store(&stop, true);
    for (int i = 0; i < LOADERS; i++) {
        pthread_join(th[i], NULL);
    }
    long ok = 0, unavailable = 0, other = 0;
    long long max_ms = 0;
    const char *bad = NULL;
    for (int i = 0; i < LOADERS; i++) {
        ok += ls[i].by_code[GRPC_STATUS_OK];
        unavailable += ls[i].by_code[GRPC_STATUS_UNAVAILABLE];
        for (int c = 0; c <= GRPC_STATUS_UNAUTHENTICATED; c++) {
            if (c != GRPC_STATUS_OK && c != GRPC_STATUS_UNAVAILABLE) {
                other += ls[i].by_code[c];
            }
        }
        other += ls[i].other;
        if (ls[i].max_ms > max_ms) {
            max_ms = ls[i].max_ms;
        }
        if (bad == NULL && ls[i].bad[0] != '\0') {
            bad = ls[i].bad;
        }
    }
    print_message("load: %ld calls before SIGTERM, %ld OK, %ld UNAVAILABLE, %ld other; "
                  "partners stopped in %lld ms; slowest call %lld ms\n",
                  before, ok, unavailable, other, stop_ms, max_ms);
    char bad_copy[256];
    snprintf(bad_copy, sizeof bad_copy, "%s", bad != NULL ? bad : "");
    free(ls);
    assert_true(clean); /* exited with status 0 */
    assert_true(before >= 50);
    assert_true(ok >= before / 2);
    if (other != 0 || bad_copy[0] != '\0') {
        fail_msg("%ld calls were neither OK nor UNAVAILABLE; first: \"%s\"", other, bad_copy);
    }
    assert_true(unavailable > 0);       /* calls after the stop were refused, not queued */
    assert_true(max_ms < IT_CALL_MS);   /* no call hung until its deadline */
    assert_true(stop_ms < 5000 + 2000); /* within the configured grace */

    /* The gateway survives its dependency going away and says so cleanly. */
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st;
    assert_null(it_get_partner(f->admin, &a, "bakery", &st));
    IT_EXPECT_STATUS(st, GRPC_STATUS_UNAVAILABLE, "partners");
    assert_null(strstr(st.details, "127.0.0.1"));
    assert_int_equal(kill(h_pid(f->s, H_GATEWAY), 0), 0);
    co_client *health = co_client_new(h_health_addr(f->s, H_GATEWAY), NULL, "health");
    assert_non_null(health);
    co_client_status hs;
    assert_int_equal(health_check(health, &a, "", &hs),
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    co_client_free(health);
    co_arena_release(&a);
}

/* --- fixtures: one stack per group, so the SIGTERM test stops a process nobody else uses --- */

/* A stack for db with the bakery registered and both clients open; it_teardown stops whatever
 * still runs (the SIGTERM test stops the partners service itself). */
static it_fx *start(const char *db)
{
    it_fx *f = it_fx_start(db);
    it_register_or_die(f->admin, "bakery", "bakery");
    f->bakery = h_client(f->s, H_GATEWAY, "partner-bakery");
    return f;
}

static int setup_health(void **state)
{
    *state = start("it_health");
    return 0;
}

static int setup_shutdown(void **state)
{
    *state = start("it_shutdown");
    return 0;
}

int main(void)
{
    const struct CMUnitTest health[] = {
        cmocka_unit_test(test_health_check_serving_on_every_process_and_port),
        cmocka_unit_test(test_health_check_unknown_service_is_not_found),
        cmocka_unit_test(test_health_port_serves_no_api_and_mtls_port_needs_tls),
        cmocka_unit_test(test_metrics_endpoint_counts_grpc_calls),
    };
    const struct CMUnitTest shutdown[] = {
        cmocka_unit_test(test_sigterm_under_load_drains_and_exits_zero),
    };
    int failed = cmocka_run_group_tests_name("health", health, setup_health, it_teardown);
    failed += cmocka_run_group_tests_name("shutdown", shutdown, setup_shutdown, it_teardown);
    return it_exit_code(failed);
}
