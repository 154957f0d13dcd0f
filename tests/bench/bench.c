/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coalition-bench: prints throughput, latency percentiles and memory of what exists today,
 * next to baselines measured in the same run (pgbench TPC-B-like on the same PostgreSQL, a bare
 * mTLS gRPC unary echo), and the ratios between them. Medians of R runs. Exits 1 when a
 * scenario did not complete or any call failed: a failed call is a failure, not a figure.
 *
 * The gateway scenarios are rows of a table (bench_op). Earn and a till mix (earn, balance,
 * hold and capture) run with --inflight callers, as partners' tills would, against --members
 * members of one program and its participant.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <libpq-fe.h>

#include "client.h"
#include "coalition/v1/accounts.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "harness.h"
#include "itest.h"
#include "log.h"
#include "server.h"
#include "tls.h"

extern char **environ;

#define BENCH_CALL_MS     5000 /* deadline of every call */
#define BENCH_MAX_RUNS    50
#define BENCH_MAX_CLIENTS 256
#define BENCH_MAX_SECONDS 3600
#define BENCH_WARMUP      100 /* untimed calls before each scenario's runs, per scenario */
#define BENCH_PGBENCH_DB  "bench_pgbench"
#define BENCH_STACK_DB    "bench_coalition"
#define BENCH_ECHO_PATH   "/coalition.bench.v1.Echo/Echo"
#define BENCH_ECHO_TEXT   "coalition-bench echo payload"
#define BENCH_READ_ID     "bench-read"

typedef struct bench_opts {
    int seconds;
    int runs;
    int clients;
    int inflight;
    int members;
    bool quick;
    const char *only; /* NULL: every scenario; else "earn", "refused" or "mix" */
} bench_opts;

static bench_opts g_opt = {5, 3, 8, 64, 1000, false, NULL};

/* Whether the scenario named name runs (--only keeps one of the points scenarios). */
static bool wanted(const char *name)
{
    return g_opt.only == NULL || strcmp(g_opt.only, name) == 0;
}
static int g_failures; /* scenarios that failed or calls that failed, summed */

/* ------------------------------------------------------------------------------------------ */
/* time, statistics */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values (p in (0, 1]); 0 when n is 0. */
static int64_t percentile(const int64_t *sorted, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    size_t rank = (size_t)ceil(p * (double)n);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return sorted[rank - 1];
}

/* The median of n values (the mean of the two middle ones when n is even); sorts v. */
static double median(double *v, int n)
{
    if (n <= 0) {
        return 0.0;
    }
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "  FAILED: ");
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
    g_failures++;
}

/* ------------------------------------------------------------------------------------------ */
/* a closed-loop load: C threads call op until the deadline and record each call's latency */

/* One call of a scenario: returns true when it succeeded; on failure writes why to why. */
typedef bool (*bench_call_fn)(void *ud, int run, int thread, long seq, co_arena *a, char *why,
                              size_t whylen);

typedef struct bench_op {
    const char *name;
    bench_call_fn call;
    void *ud;
    int clients; /* 0: --clients */
} bench_op;

/* The figures of one run. */
typedef struct run_result {
    long ok;
    long failed;
    double seconds;
    double per_sec;
    double p50_ms, p90_ms, p99_ms, max_ms;
    char first_error[256];
} run_result;

typedef struct load_shared {
    const bench_op *op;
    int run;
    int64_t deadline;
    pthread_barrier_t start;
    pthread_mutex_t mu;
    char first_error[256]; /* under mu */
} load_shared;

typedef struct load_thread {
    load_shared *sh;
    int index;
    int64_t *lat; /* nanoseconds of each successful call */
    size_t n, cap;
    long ok, failed;
    bool oom;
} load_thread;

static void *load_main(void *arg)
{
    load_thread *t = arg;
    load_shared *sh = t->sh;
    pthread_barrier_wait(&sh->start);
    char why[256];
    /* Bounded: stops at the deadline; each call has its own deadline of BENCH_CALL_MS. */
    for (long seq = 0; now_ns() < sh->deadline; seq++) {
        co_arena a;
        co_arena_init(&a, 0);
        why[0] = '\0';
        int64_t t0 = now_ns();
        bool ok = sh->op->call(sh->op->ud, sh->run, t->index, seq, &a, why, sizeof why);
        int64_t dt = now_ns() - t0;
        co_arena_release(&a);
        if (!ok) {
            t->failed++;
            pthread_mutex_lock(&sh->mu);
            if (sh->first_error[0] == '\0') {
                snprintf(sh->first_error, sizeof sh->first_error, "%s", why);
            }
            pthread_mutex_unlock(&sh->mu);
            continue;
        }
        t->ok++;
        if (t->n == t->cap) {
            size_t cap = t->cap == 0 ? 4096 : t->cap * 2;
            int64_t *p = realloc(t->lat, cap * sizeof *p);
            if (p == NULL) {
                t->oom = true;
                break;
            }
            t->lat = p;
            t->cap = cap;
        }
        t->lat[t->n++] = dt;
    }
    return NULL;
}

/* Runs op with clients threads for seconds; false if the threads could not run at all. */
static bool load_run(const bench_op *op, int run, int clients, int seconds, run_result *r)
{
    memset(r, 0, sizeof *r);
    load_shared sh = {.op = op, .run = run};
    load_thread th[BENCH_MAX_CLIENTS];
    pthread_t tid[BENCH_MAX_CLIENTS];
    memset(th, 0, sizeof th);
    if (pthread_barrier_init(&sh.start, NULL, (unsigned)clients + 1) != 0) {
        return false;
    }
    pthread_mutex_init(&sh.mu, NULL);
    int started = 0;
    for (int i = 0; i < clients; i++) {
        th[i] = (load_thread){.sh = &sh, .index = i};
        if (pthread_create(&tid[i], NULL, load_main, &th[i]) != 0) {
            break;
        }
        started++;
    }
    if (started < clients) {
        /* The barrier would never open: give up before anyone waits on it for good. */
        fprintf(stderr, "coalition-bench: could not start %d threads\n", clients);
        exit(1);
    }
    int64_t t0 = now_ns();
    sh.deadline = t0 + (int64_t)seconds * 1000000000;
    pthread_barrier_wait(&sh.start);
    for (int i = 0; i < clients; i++) {
        pthread_join(tid[i], NULL);
    }
    int64_t t1 = now_ns();
    pthread_barrier_destroy(&sh.start);
    pthread_mutex_destroy(&sh.mu);

    size_t total = 0;
    bool oom = false;
    for (int i = 0; i < clients; i++) {
        r->ok += th[i].ok;
        r->failed += th[i].failed;
        total += th[i].n;
        oom = oom || th[i].oom;
    }
    int64_t *all = malloc((total + 1) * sizeof *all);
    if (all == NULL || oom) {
        free(all);
        for (int i = 0; i < clients; i++) {
            free(th[i].lat);
        }
        snprintf(r->first_error, sizeof r->first_error, "out of memory recording latencies");
        r->failed++;
        return true;
    }
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        if (th[i].n > 0) {
            memcpy(all + k, th[i].lat, th[i].n * sizeof *all);
        }
        k += th[i].n;
        free(th[i].lat);
    }
    qsort(all, total, sizeof *all, cmp_i64);
    r->seconds = (double)(t1 - t0) / 1e9;
    r->per_sec = r->seconds > 0 ? (double)r->ok / r->seconds : 0.0;
    r->p50_ms = (double)percentile(all, total, 0.50) / 1e6;
    r->p90_ms = (double)percentile(all, total, 0.90) / 1e6;
    r->p99_ms = (double)percentile(all, total, 0.99) / 1e6;
    r->max_ms = total > 0 ? (double)all[total - 1] / 1e6 : 0.0;
    free(all);
    snprintf(r->first_error, sizeof r->first_error, "%s", sh.first_error);
    return true;
}

/* The medians over runs of a scenario. */
typedef struct scenario_result {
    bool done; /* every run completed with no failed call */
    double per_sec, p50_ms, p90_ms, p99_ms;
    long calls;
} scenario_result;

/* Runs op R times after a short sequential warm-up (connections, caches), prints one line per
 * run and the medians. */
static scenario_result run_scenario(const bench_op *op)
{
    scenario_result out = {0};
    co_arena a;
    char why[256];
    for (long i = 0; i < BENCH_WARMUP; i++) {
        co_arena_init(&a, 0);
        why[0] = '\0';
        bool ok = op->call(op->ud, 0, 0, i, &a, why, sizeof why);
        co_arena_release(&a);
        if (!ok) {
            fail("%s: warm-up call failed: %s", op->name, why);
            return out;
        }
    }
    double ps[BENCH_MAX_RUNS], p50[BENCH_MAX_RUNS], p90[BENCH_MAX_RUNS], p99[BENCH_MAX_RUNS];
    long failed = 0;
    for (int run = 1; run <= g_opt.runs; run++) {
        run_result r;
        if (!load_run(op, run, op->clients > 0 ? op->clients : g_opt.clients, g_opt.seconds, &r)) {
            fail("%s: could not run the load", op->name);
            return out;
        }
        printf("  run %d: %8ld calls in %.2f s = %9.1f calls/s   p50 %7.3f  p90 %7.3f  p99 %7.3f"
               "  max %7.3f ms   failed %ld\n",
               run, r.ok, r.seconds, r.per_sec, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms, r.failed);
        fflush(stdout);
        if (r.failed > 0) {
            fail("%s run %d: %ld calls failed; first: %s", op->name, run, r.failed, r.first_error);
        }
        failed += r.failed;
        ps[run - 1] = r.per_sec;
        p50[run - 1] = r.p50_ms;
        p90[run - 1] = r.p90_ms;
        p99[run - 1] = r.p99_ms;
        out.calls += r.ok;
    }
    out.per_sec = median(ps, g_opt.runs);
    out.p50_ms = median(p50, g_opt.runs);
    out.p90_ms = median(p90, g_opt.runs);
    out.p99_ms = median(p99, g_opt.runs);
    out.done = failed == 0;
    printf("  median of %d: %.1f calls/s   p50 %.3f ms   p90 %.3f ms   p99 %.3f ms\n", g_opt.runs,
           out.per_sec, out.p50_ms, out.p90_ms, out.p99_ms);
    fflush(stdout);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* 1. pgbench */

/* Runs argv (argv[0] a path, or a name looked up on PATH), capturing stdout and stderr into
 * out (truncated to outlen - 1 bytes). Returns the exit status, or -1. Bounded by the child:
 * pgbench -T stops by itself. */
static int run_capture(char *const argv[], char *out, size_t outlen)
{
    int fds[2];
    out[0] = '\0';
    if (pipe(fds) != 0) {
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        snprintf(out, outlen, "could not run %s: %s", argv[0], strerror(rc));
        return -1;
    }
    size_t used = 0;
    for (;;) {
        char buf[4096];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        size_t take = (size_t)n;
        if (take > outlen - 1 - used) {
            take = outlen - 1 - used; /* keep reading to the end so the child never blocks */
        }
        memcpy(out + used, buf, take);
        used += take;
        out[used] = '\0';
    }
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The number after the first occurrence of key in text, or false. */
static bool find_number(const char *text, const char *key, double *v)
{
    const char *p = strstr(text, key);
    if (p == NULL) {
        return false;
    }
    char *end;
    errno = 0;
    *v = strtod(p + strlen(key), &end);
    return errno == 0 && end != p + strlen(key);
}

static bool pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        fail("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
    return ok;
}

/* Drops (when create is false) or recreates BENCH_PGBENCH_DB as the superuser. */
static bool pgbench_db(const char *port, bool create)
{
    char url[256];
    snprintf(url, sizeof url,
             "postgresql://postgres@127.0.0.1:%s/postgres?connect_timeout=10"
             "&options=-c%%20client_min_messages%%3Dwarning",
             port);
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fail("connecting to %s: %s", url, PQerrorMessage(c));
        PQfinish(c);
        return false;
    }
    bool ok = pg_exec(c, "DROP DATABASE IF EXISTS " BENCH_PGBENCH_DB " WITH (FORCE)") &&
              (!create || pg_exec(c, "CREATE DATABASE " BENCH_PGBENCH_DB));
    PQfinish(c);
    return ok;
}

typedef struct pgbench_result {
    bool done;
    double tps;
    double latency_ms;
} pgbench_result;

static pgbench_result scenario_pgbench(const char *port)
{
    pgbench_result out = {0};
    const char *bin = access("/usr/lib/postgresql/15/bin/pgbench", X_OK) == 0
                          ? "/usr/lib/postgresql/15/bin/pgbench"
                          : "pgbench";
    char secs[16];
    /* At least 3 s: pgbench needs a moment after its vacuum, and on a busy machine a 1-s run
     * (--quick) has been seen to finish with no transaction at all. */
    snprintf(secs, sizeof secs, "%d", g_opt.seconds < 3 ? 3 : g_opt.seconds);
    printf("\n== 1. pgbench TPC-B-like (baseline: the same PostgreSQL) ==\n");
    printf("  %s -c 8 -j 2 -T %s -M prepared on database %s, scale 4 (-i -s 4)\n", bin, secs,
           BENCH_PGBENCH_DB);
    fflush(stdout);
    if (!pgbench_db(port, true)) {
        return out;
    }
    static char text[65536];
    char *init[] = {(char *)bin, "-i", "-q",         "-s", "4",        "-h",
                    "127.0.0.1", "-p", (char *)port, "-U", "postgres", BENCH_PGBENCH_DB,
                    NULL};
    int rc = run_capture(init, text, sizeof text);
    if (rc != 0) {
        fail("pgbench -i exited %d:\n%s", rc, text);
        return out;
    }
    double tps[BENCH_MAX_RUNS], lat[BENCH_MAX_RUNS];
    for (int run = 1; run <= g_opt.runs; run++) {
        char *argv[] = {
            (char *)bin, "-c", "8",         "-j", "2",          "-T", secs,       "-M",
            "prepared",  "-h", "127.0.0.1", "-p", (char *)port, "-U", "postgres", BENCH_PGBENCH_DB,
            NULL};
        rc = run_capture(argv, text, sizeof text);
        double failed = 0, processed = 0;
        bool parsed = find_number(text, "\ntps = ", &tps[run - 1]) &&
                      find_number(text, "latency average = ", &lat[run - 1]) &&
                      find_number(text, "actually processed: ", &processed);
        if (find_number(text, "number of failed transactions: ", &failed) && failed > 0) {
            fail("pgbench run %d: %.0f failed transactions:\n%s", run, failed, text);
            return out;
        }
        if (rc != 0 || !parsed) {
            fail("pgbench run %d exited %d (parsed: %s):\n%s", run, rc, parsed ? "yes" : "no",
                 text);
            return out;
        }
        printf("  run %d: %8.0f transactions = %9.1f tps   latency average %7.3f ms\n", run,
               processed, tps[run - 1], lat[run - 1]);
        fflush(stdout);
    }
    out.tps = median(tps, g_opt.runs);
    out.latency_ms = median(lat, g_opt.runs);
    out.done = true;
    printf("  median of %d: %.1f tps   latency average %.3f ms\n", g_opt.runs, out.tps,
           out.latency_ms);
    pgbench_db(port, false);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* 2. bare mTLS unary echo: an in-process co_server and one shared co_client */

static co_err echo_handler(co_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                           void *ud)
{
    (void)call;
    (void)ud;
    /* The reply is the request itself (same type, allocated in the call's arena). */
    union {
        const ProtobufCMessage *c;
        ProtobufCMessage *m;
    } u = {.c = req};
    *resp = u.m;
    return CO_OK;
}

static bool echo_call(void *ud, int run, int thread, long seq, co_arena *a, char *why,
                      size_t whylen)
{
    (void)run;
    (void)thread;
    (void)seq;
    co_client *c = ud;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = BENCH_ECHO_TEXT;
    ProtobufCMessage *resp = NULL;
    co_client_status st = {GRPC_STATUS_UNKNOWN, "(no call made)"};
    co_err e = co_client_unary(c, BENCH_ECHO_PATH, &req.base,
                               &grpc__health__v1__health_check_request__descriptor, NULL, 0,
                               BENCH_CALL_MS, false, a, &resp, &st);
    if (e != CO_OK) {
        snprintf(why, whylen, "status %d: %s", (int)st.code, st.details);
        return false;
    }
    const Grpc__Health__V1__HealthCheckRequest *r = (const void *)resp;
    if (r->service == NULL || strcmp(r->service, BENCH_ECHO_TEXT) != 0) {
        snprintf(why, whylen, "echo came back different");
        return false;
    }
    return true;
}

static scenario_result scenario_echo(const char *pki)
{
    scenario_result out = {0};
    printf("\n== 2. bare gRPC unary echo over mTLS (baseline: transport only) ==\n");
    printf("  in-process co_server (2 queues x 4 threads, as the services run) on 127.0.0.1, "
           "%d client threads sharing one co_client (one channel), dev PKI\n",
           g_opt.clients);
    fflush(stdout);
    char cert[600], key[600], ca[600], err[256];
    co_tls_files stls = {0}, ctls = {0};
    snprintf(ca, sizeof ca, "%s/ca.crt", pki);
    snprintf(cert, sizeof cert, "%s/service-partners.crt", pki);
    snprintf(key, sizeof key, "%s/service-partners.key", pki);
    if (co_tls_load(cert, key, ca, &stls, err, sizeof err) != CO_OK) {
        fail("%s", err);
        return out;
    }
    snprintf(cert, sizeof cert, "%s/service-gateway.crt", pki);
    snprintf(key, sizeof key, "%s/service-gateway.key", pki);
    if (co_tls_load(cert, key, ca, &ctls, err, sizeof err) != CO_OK) {
        co_tls_release(&stls);
        fail("%s", err);
        return out;
    }
    grpc_server_credentials *creds = co_tls_server_creds(&stls);
    static const co_method methods[] = {
        {.path = BENCH_ECHO_PATH,
         .input = &grpc__health__v1__health_check_request__descriptor,
         .output = &grpc__health__v1__health_check_request__descriptor,
         .unary = echo_handler},
    };
    co_server_opts so = {
        .service = "bench-echo",
        .listen_addr = "127.0.0.1:0",
        .health_addr = NULL,
        .creds = creds,
        .methods = methods,
        .nmethods = 1,
        .cqs = 2,
        .threads_per_cq = 4,
        .slots = 16,
        .max_message_bytes = 1 << 20,
        .max_connection_age_ms = 300000,
        .arena_limit = 9 << 20,
    };
    co_server *srv = creds != NULL ? co_server_start(&so, err, sizeof err) : NULL;
    if (creds != NULL) {
        grpc_server_credentials_release(creds);
    }
    co_tls_release(&stls);
    if (srv == NULL) {
        co_tls_release(&ctls);
        fail("echo server: %s", creds != NULL ? err : "no credentials");
        return out;
    }
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", co_server_port(srv));
    co_client *c = co_client_new(target, &ctls, "bench echo");
    co_tls_release(&ctls);
    if (c == NULL) {
        co_server_stop(srv, 1000);
        fail("echo client: out of memory");
        return out;
    }
    bench_op op = {"echo", echo_call, c, 0};
    out = run_scenario(&op);
    co_client_free(c);
    co_server_stop(srv, 5000);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* 3. through the gateway */

static bool status_why(co_err e, const co_client_status *st, const void *resp, char *why,
                       size_t whylen)
{
    if (e != CO_OK) {
        snprintf(why, whylen, "status %d: %s", (int)st->code, st->details);
        return false;
    }
    if (resp == NULL) {
        snprintf(why, whylen, "OK without a partner in the response");
        return false;
    }
    return true;
}

static bool get_partner_call(void *ud, int run, int thread, long seq, co_arena *a, char *why,
                             size_t whylen)
{
    (void)run;
    (void)thread;
    (void)seq;
    Coalition__V1__GetPartnerRequest req = COALITION__V1__GET_PARTNER_REQUEST__INIT;
    req.partner_id = BENCH_READ_ID;
    ProtobufCMessage *resp = NULL;
    co_client_status st = {GRPC_STATUS_UNKNOWN, "(no call made)"};
    co_err e = co_client_unary(ud, "/coalition.v1.Partners/GetPartner", &req.base,
                               &coalition__v1__get_partner_response__descriptor, NULL, 0,
                               BENCH_CALL_MS, false, a, &resp, &st);
    const Coalition__V1__GetPartnerResponse *r = (const void *)resp;
    return status_why(e, &st, e == CO_OK ? r->partner : NULL, why, whylen);
}

/* A durable write: every call registers a new partner with a new request id. Run 0 is the
 * warm-up; ids are unique per (process, run, thread, seq). */
static bool register_partner_call(void *ud, int run, int thread, long seq, co_arena *a, char *why,
                                  size_t whylen)
{
    char id[64], rid[80];
    snprintf(id, sizeof id, "bench-%ld-r%d-t%d-%ld", (long)getpid() % 100000, run, thread, seq);
    snprintf(rid, sizeof rid, "bench-req-%s", id);
    Coalition__V1__RegisterPartnerRequest req = COALITION__V1__REGISTER_PARTNER_REQUEST__INIT;
    req.request_id = rid;
    req.partner_id = id;
    req.name = "Bench partner";
    req.settlement_currency = "EUR";
    ProtobufCMessage *resp = NULL;
    co_client_status st = {GRPC_STATUS_UNKNOWN, "(no call made)"};
    co_err e = co_client_unary(ud, "/coalition.v1.Partners/RegisterPartner", &req.base,
                               &coalition__v1__register_partner_response__descriptor, NULL, 0,
                               BENCH_CALL_MS, false, a, &resp, &st);
    const Coalition__V1__RegisterPartnerResponse *r = (const void *)resp;
    return status_why(e, &st, e == CO_OK ? r->partner : NULL, why, whylen);
}

/* --- points --- */

#define BENCH_PROGRAM "bench-pts"

typedef struct points_bench {
    co_client *owner;       /* partner-bakery: owns the program */
    co_client *participant; /* partner-fuelco: issues and accepts it */
    char (*members)[48];
    int nmembers;
} points_bench;

static const char *bench_member(const points_bench *pb, int thread, long seq)
{
    return pb->members[(size_t)((long)thread * 7919 + seq) % (size_t)pb->nmembers];
}

static bool earn_one(const points_bench *pb, co_client *c, const char *rid, const char *member,
                     int64_t micros, co_arena *a, char *why, size_t whylen)
{
    Coalition__V1__MemberRef ref = COALITION__V1__MEMBER_REF__INIT;
    ref.ref_case = COALITION__V1__MEMBER_REF__REF_MEMBER_ID;
    ref.member_id = (char *)member;
    Coalition__V1__Money amt = COALITION__V1__MONEY__INIT;
    amt.amount_micros = micros;
    amt.currency = "EUR";
    Coalition__V1__EarnRequest req = COALITION__V1__EARN_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.member = &ref;
    req.program_code = BENCH_PROGRAM;
    req.amount = &amt;
    ProtobufCMessage *resp = NULL;
    co_client_status st = {GRPC_STATUS_UNKNOWN, "(no call made)"};
    co_err e = co_client_unary(c, "/coalition.v1.Points/Earn", &req.base,
                               &coalition__v1__earn_response__descriptor, NULL, 0, BENCH_CALL_MS,
                               false, a, &resp, &st);
    (void)pb;
    const Coalition__V1__EarnResponse *r = (const void *)resp;
    return status_why(e, &st, e == CO_OK ? r->balance : NULL, why, whylen);
}

/* A durable earn with a new request id, half at the owner's tills, half at the participant's. */
static bool earn_call(void *ud, int run, int thread, long seq, co_arena *a, char *why,
                      size_t whylen)
{
    const points_bench *pb = ud;
    char rid[80];
    snprintf(rid, sizeof rid, "bench-earn-%ld-r%d-t%d-%ld", (long)getpid() % 100000, run, thread,
             seq);
    return earn_one(pb, seq % 2 ? pb->participant : pb->owner, rid, bench_member(pb, thread, seq),
                    1000000 + (seq % 100) * 1000000, a, why, whylen);
}

/* An Earn that points refuses before any database work (a negative amount): what the path
 * client -> gateway -> points costs by itself over mTLS, the ceiling of any points call. */
static bool refused_call(void *ud, int run, int thread, long seq, co_arena *a, char *why,
                         size_t whylen)
{
    const points_bench *pb = ud;
    Coalition__V1__MemberRef ref = COALITION__V1__MEMBER_REF__INIT;
    ref.ref_case = COALITION__V1__MEMBER_REF__REF_MEMBER_ID;
    ref.member_id = (char *)bench_member(pb, thread, seq);
    Coalition__V1__Money amt = COALITION__V1__MONEY__INIT;
    amt.amount_micros = -1;
    amt.currency = "EUR";
    char rid[80];
    snprintf(rid, sizeof rid, "bench-refused-%ld-r%d-t%d-%ld", (long)getpid() % 100000, run, thread,
             seq);
    Coalition__V1__EarnRequest req = COALITION__V1__EARN_REQUEST__INIT;
    req.request_id = rid;
    req.member = &ref;
    req.program_code = BENCH_PROGRAM;
    req.amount = &amt;
    ProtobufCMessage *resp = NULL;
    co_client_status st = {GRPC_STATUS_UNKNOWN, "(no call made)"};
    co_err e = co_client_unary(seq % 2 ? pb->participant : pb->owner, "/coalition.v1.Points/Earn",
                               &req.base, &coalition__v1__earn_response__descriptor, NULL, 0,
                               BENCH_CALL_MS, false, a, &resp, &st);
    if (e == CO_ERR_INVALID_ARGUMENT && strstr(st.details, "amount") != NULL) {
        return true;
    }
    snprintf(why, whylen, "expected INVALID_ARGUMENT naming the amount, got status %d: %s",
             (int)st.code, st.details);
    return false;
}

/* The till mix: two earns, a balance read, a hold of 1 point and its capture, in turn. */
static bool mix_call(void *ud, int run, int thread, long seq, co_arena *a, char *why, size_t whylen)
{
    const points_bench *pb = ud;
    const char *member = bench_member(pb, thread, seq);
    char rid[80];
    snprintf(rid, sizeof rid, "bench-mix-%ld-r%d-t%d-%ld", (long)getpid() % 100000, run, thread,
             seq);
    Coalition__V1__MemberRef ref = COALITION__V1__MEMBER_REF__INIT;
    ref.ref_case = COALITION__V1__MEMBER_REF__REF_MEMBER_ID;
    ref.member_id = (char *)member;
    ProtobufCMessage *resp = NULL;
    co_client_status st = {GRPC_STATUS_UNKNOWN, "(no call made)"};
    co_err e;
    switch (seq % 4) {
    case 0:
    case 1:
        return earn_one(pb, pb->owner, rid, member, 25000000, a, why, whylen);
    case 2: {
        Coalition__V1__GetBalanceRequest req = COALITION__V1__GET_BALANCE_REQUEST__INIT;
        req.member = &ref;
        req.program_code = BENCH_PROGRAM;
        e = co_client_unary(pb->participant, "/coalition.v1.Points/GetBalance", &req.base,
                            &coalition__v1__get_balance_response__descriptor, NULL, 0,
                            BENCH_CALL_MS, false, a, &resp, &st);
        const Coalition__V1__GetBalanceResponse *r = (const void *)resp;
        return status_why(e, &st, e == CO_OK && r->n_balances == 1 ? r : NULL, why, whylen);
    }
    default: {
        Coalition__V1__RedeemRequest req = COALITION__V1__REDEEM_REQUEST__INIT;
        req.request_id = rid;
        req.member = &ref;
        req.program_code = BENCH_PROGRAM;
        req.points = 1;
        req.hold = true;
        e = co_client_unary(pb->participant, "/coalition.v1.Points/Redeem", &req.base,
                            &coalition__v1__redeem_response__descriptor, NULL, 0, BENCH_CALL_MS,
                            false, a, &resp, &st);
        const Coalition__V1__RedeemResponse *r = (const void *)resp;
        if (!status_why(e, &st, e == CO_OK ? r->hold : NULL, why, whylen)) {
            return false;
        }
        Coalition__V1__CaptureHoldRequest cap = COALITION__V1__CAPTURE_HOLD_REQUEST__INIT;
        char crid[96];
        snprintf(crid, sizeof crid, "%s-cap", rid);
        cap.request_id = crid;
        cap.hold_id = r->hold->hold_id;
        e = co_client_unary(pb->participant, "/coalition.v1.Points/CaptureHold", &cap.base,
                            &coalition__v1__capture_hold_response__descriptor, NULL, 0,
                            BENCH_CALL_MS, false, a, &resp, &st);
        const Coalition__V1__CaptureHoldResponse *c = (const void *)resp;
        return status_why(e, &st, e == CO_OK ? c->hold : NULL, why, whylen);
    }
    }
}

/* Admin call of the set-up; false (after fail()) when it did not succeed. */
static bool setup_call(co_client *c, const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *rd, ProtobufCMessage **resp)
{
    co_arena a;
    co_arena_init(&a, 0);
    co_client_status st = {GRPC_STATUS_UNKNOWN, "(no call made)"};
    ProtobufCMessage *r = NULL;
    co_err e = co_client_unary(c, method, req, rd, NULL, 0, BENCH_CALL_MS, true, &a, &r, &st);
    if (e != CO_OK && e != CO_ERR_ALREADY_EXISTS) {
        fail("set-up %s: status %d: %s", method, (int)st.code, st.details);
    }
    if (resp != NULL && r != NULL) {
        size_t len = protobuf_c_message_get_packed_size(r);
        uint8_t *buf = malloc(len + 1);
        if (buf != NULL) {
            protobuf_c_message_pack(r, buf);
            *resp = protobuf_c_message_unpack(rd, NULL, len, buf);
            free(buf);
        }
    }
    co_arena_release(&a);
    return e == CO_OK;
}

/* Partners bakery (owner) and fuelco (participant), program bench-pts, --members members. */
static bool points_setup(h_stack *s, co_client *admin, points_bench *pb)
{
    it_register_or_die(admin, "bakery", "bakery");
    it_register_or_die(admin, "fuelco", "fuelco");
    it_activate_or_die(admin, "bakery");
    it_activate_or_die(admin, "fuelco");
    pb->owner = h_client(s, H_GATEWAY, "partner-bakery");
    pb->participant = h_client(s, H_GATEWAY, "partner-fuelco");
    Coalition__V1__Rational ppu = COALITION__V1__RATIONAL__INIT;
    ppu.num = 1;
    ppu.den = 1;
    Coalition__V1__EarnRule er = COALITION__V1__EARN_RULE__INIT;
    er.points_per_unit = &ppu;
    Coalition__V1__Program p = COALITION__V1__PROGRAM__INIT;
    p.code = BENCH_PROGRAM;
    p.name = "Bench points";
    p.owner_partner_id = "bakery";
    p.point_value_micros = 10000;
    p.issue_price_micros = 5000;
    p.earn_rule = &er;
    p.welcome_bonus_points = 100;
    p.issuing_mode = COALITION__V1__ISSUING_MODE__ISSUING_MODE_POSTPAID;
    Coalition__V1__CreateProgramRequest cp = COALITION__V1__CREATE_PROGRAM_REQUEST__INIT;
    cp.request_id = "bench-program";
    cp.program = &p;
    Coalition__V1__SetParticipationRequest sp = COALITION__V1__SET_PARTICIPATION_REQUEST__INIT;
    sp.request_id = "bench-participation";
    sp.program_code = BENCH_PROGRAM;
    sp.partner_id = "fuelco";
    sp.can_issue = true;
    sp.can_redeem = true;
    if (!setup_call(admin, "/coalition.v1.Partners/CreateProgram", &cp.base,
                    &coalition__v1__create_program_response__descriptor, NULL) ||
        !setup_call(admin, "/coalition.v1.Partners/SetParticipation", &sp.base,
                    &coalition__v1__set_participation_response__descriptor, NULL)) {
        return false;
    }
    pb->nmembers = g_opt.members;
    pb->members = calloc((size_t)pb->nmembers, sizeof *pb->members);
    if (pb->members == NULL) {
        fail("out of memory");
        return false;
    }
    int64_t t0 = now_ns();
    for (int i = 0; i < pb->nmembers; i++) {
        char rid[48], phone[24];
        snprintf(rid, sizeof rid, "bench-enroll-%d", i);
        snprintf(phone, sizeof phone, "+4930%08d", 10000000 + i);
        Coalition__V1__EnrollMemberRequest req = COALITION__V1__ENROLL_MEMBER_REQUEST__INIT;
        req.request_id = rid;
        req.phone = phone;
        ProtobufCMessage *resp = NULL;
        if (!setup_call(pb->owner, "/coalition.v1.Accounts/EnrollMember", &req.base,
                        &coalition__v1__enroll_member_response__descriptor, &resp) ||
            resp == NULL) {
            return false;
        }
        const Coalition__V1__EnrollMemberResponse *r = (const void *)resp;
        snprintf(pb->members[i], sizeof pb->members[i], "%s", r->member->member_id);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    printf("  set-up: partners bakery (owner) and fuelco (participant), program %s, %d members "
           "enrolled in %.1f s\n",
           BENCH_PROGRAM, pb->nmembers, (double)(now_ns() - t0) / 1e9);
    return true;
}

/* VmRSS of pid in KiB, or -1. */
static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    long v = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            char *end;
            v = strtol(line + 6, &end, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static const char *const proc_names[H_NPROC] = {"partners", "accounts", "points", "gateway"};

typedef struct gateway_result {
    scenario_result earn, mix, refused;
    double verify_ms;
    long long transfers;
    scenario_result read, write;
    long rss_rest[H_NPROC], rss_read[H_NPROC], rss_write[H_NPROC];
} gateway_result;

static void print_rss(const char *when, const long *rss)
{
    printf("  VmRSS %-22s", when);
    for (int p = 0; p < H_NPROC; p++) {
        printf("  %s %6.1f MiB", proc_names[p], (double)rss[p] / 1024.0);
    }
    printf("\n");
    fflush(stdout);
}

static void read_rss(const h_stack *s, long *rss)
{
    for (int p = 0; p < H_NPROC; p++) {
        rss[p] = rss_kib(h_pid(s, (h_proc)p));
        if (rss[p] < 0) {
            fail("could not read VmRSS of %s (pid %ld)", proc_names[p], (long)h_pid(s, (h_proc)p));
        }
    }
}

static gateway_result scenario_gateway(void)
{
    gateway_result out = {0};
    printf("\n== 3. through the gateway (mTLS client -> gateway -> partners -> PostgreSQL) ==\n");
    printf("  stack on database %s; %d client threads sharing one co_client to the gateway as "
           "admin-operator; no retries, deadline %d ms\n",
           BENCH_STACK_DB, g_opt.clients, BENCH_CALL_MS);
    fflush(stdout);
    int failures_before = g_failures;
    h_stack *s = h_stack_start(BENCH_STACK_DB);
    co_client *admin = h_client(s, H_GATEWAY, "admin-operator");

    /* The partner the reads fetch. */
    {
        co_arena a;
        co_arena_init(&a, 0);
        Coalition__V1__RegisterPartnerRequest req = COALITION__V1__REGISTER_PARTNER_REQUEST__INIT;
        req.request_id = "bench-reg-" BENCH_READ_ID;
        req.partner_id = BENCH_READ_ID;
        req.name = "Bench read partner";
        req.settlement_currency = "EUR";
        ProtobufCMessage *resp = NULL;
        co_client_status st = {GRPC_STATUS_UNKNOWN, "(no call made)"};
        co_err e = co_client_unary(admin, "/coalition.v1.Partners/RegisterPartner", &req.base,
                                   &coalition__v1__register_partner_response__descriptor, NULL, 0,
                                   BENCH_CALL_MS, false, &a, &resp, &st);
        if (e != CO_OK) {
            fail("registering %s: status %d: %s", BENCH_READ_ID, (int)st.code, st.details);
        }
        co_arena_release(&a);
    }
    if (g_failures == failures_before && g_opt.only == NULL) {
        read_rss(s, out.rss_rest);
        print_rss("at rest (before load):", out.rss_rest);
        printf(" -- GetPartner (read: gateway -> partners -> SELECT)\n");
        bench_op rd = {"GetPartner", get_partner_call, admin, 0};
        out.read = run_scenario(&rd);
        read_rss(s, out.rss_read);
        print_rss("after GetPartner load:", out.rss_read);
        printf(" -- RegisterPartner (durable write: new request_id and partner_id per call)\n");
        bench_op wr = {"RegisterPartner", register_partner_call, admin, 0};
        out.write = run_scenario(&wr);
        read_rss(s, out.rss_write);
        print_rss("after RegisterPartner:", out.rss_write);
    }
    if (g_failures == failures_before) {
        points_bench pb = {0};
        if (points_setup(s, admin, &pb)) {
            /* The points scenarios, in order: --only name keeps one. */
            const struct {
                const char *only, *name, *title;
                bench_call_fn call;
                scenario_result *out;
            } pts[] = {
                {"earn", "Earn",
                 "Earn (durable: new request_id per call; owner and participant tills)", earn_call,
                 &out.earn},
                {"refused", "refused",
                 "Earn refused by points before any database work (the path's own cost: "
                 "client -> gateway -> points)",
                 refused_call, &out.refused},
                {"mix", "mix", "till mix (2 earns : 1 balance : 1 hold + capture)", mix_call,
                 &out.mix},
            };
            for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++) {
                if (wanted(pts[k].only)) {
                    printf(" -- %s; %d callers in flight\n", pts[k].title, g_opt.inflight);
                    bench_op op = {pts[k].name, pts[k].call, &pb, g_opt.inflight};
                    *pts[k].out = run_scenario(&op);
                }
            }
            read_rss(s, out.rss_write);
            print_rss("after Earn and mix:", out.rss_write);
            co_arena a;
            co_arena_init(&a, 0);
            Coalition__V1__VerifyLedgerRequest vr = COALITION__V1__VERIFY_LEDGER_REQUEST__INIT;
            ProtobufCMessage *resp = NULL;
            co_client_status st = {GRPC_STATUS_UNKNOWN, "(no call made)"};
            int64_t t0 = now_ns();
            co_err e = co_client_unary(admin, "/coalition.v1.Points/VerifyLedger", &vr.base,
                                       &coalition__v1__verify_ledger_response__descriptor, NULL, 0,
                                       600000, false, &a, &resp, &st);
            out.verify_ms = (double)(now_ns() - t0) / 1e6;
            const Coalition__V1__VerifyLedgerResponse *v = (const void *)resp;
            if (e != CO_OK || !v->ok) {
                fail("VerifyLedger after the load: %s",
                     e != CO_OK ? st.details : "violations found");
            } else {
                out.transfers = (long long)v->transfers_checked;
                printf("  VerifyLedger after the load: ok, %lld transfers checked in %.0f ms\n",
                       out.transfers, out.verify_ms);
            }
            co_arena_release(&a);
        }
        co_client_free(pb.owner);
        co_client_free(pb.participant);
        free(pb.members);
    }
    co_client_free(admin);
    if (!h_stack_stop(s)) {
        fail("a stack process did not stop cleanly (see " BENCH_STACK_DB "-*.log)");
    }
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* 4. summary */

static void machine_line(void)
{
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "model name", 10) == 0) {
                const char *p = strchr(line, ':');
                if (p != NULL) {
                    p++;
                    while (*p == ' ' || *p == '\t') {
                        p++;
                    }
                    snprintf(model, sizeof model, "%s", p);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    long mem_kib = -1;
    f = fopen("/proc/meminfo", "r");
    if (f != NULL) {
        char line[256];
        if (fgets(line, sizeof line, f) != NULL && strncmp(line, "MemTotal:", 9) == 0) {
            mem_kib = strtol(line + 9, NULL, 10);
        }
        fclose(f);
    }
    printf("machine: nproc %ld, %s, %.1f GiB RAM\n", sysconf(_SC_NPROCESSORS_ONLN), model,
           (double)mem_kib / 1048576.0);
}

static void ratio_line(const char *what, double num, double den, const char *unit)
{
    if (den > 0 && num > 0) {
        printf("  %-48s %8.3f  %s\n", what, num / den, unit);
    } else {
        printf("  %-48s %8s  %s\n", what, "n/a", unit);
    }
}

/* ------------------------------------------------------------------------------------------ */

static int parse_int(const char *s, int lo, int hi, const char *flag)
{
    char *end;
    errno = 0;
    long v = s != NULL ? strtol(s, &end, 10) : 0;
    if (s == NULL || errno != 0 || *end != '\0' || end == s || v < lo || v > hi) {
        fprintf(stderr, "coalition-bench: %s needs an integer in [%d, %d]\n", flag, lo, hi);
        exit(2);
    }
    return (int)v;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: coalition-bench [--seconds N] [--runs R] [--clients C] [--inflight N] [--members "
        "M] [--only S] [--quick]\n"
        "  --seconds N  length of each run (default 5)\n"
        "  --runs R     runs per scenario, the median is reported (default 3)\n"
        "  --clients C  concurrent callers of the echo and partners scenarios (default 8)\n"
        "  --inflight N concurrent callers of the Earn and mix scenarios (default 64)\n"
        "  --members M  members enrolled for the Earn and mix scenarios (default 1000)\n"
        "  --quick      1 s, 1 run: a smoke test for CI\n"
        "  --only S     only the points scenario S (earn, refused or mix), without the baselines\n"
        "Needs COALITION_TEST_PKI, COALITION_TEST_PG_DATADIR, COALITION_TEST_PG_PORT,\n"
        "COALITION_TEST_SCRIPTS and COALITION_{GATEWAY,PARTNERS,ACCOUNTS,POINTS}_BIN (ctest sets "
        "them).\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--seconds") == 0) {
            g_opt.seconds = parse_int(v, 1, BENCH_MAX_SECONDS, a);
            i++;
        } else if (strcmp(a, "--runs") == 0) {
            g_opt.runs = parse_int(v, 1, BENCH_MAX_RUNS, a);
            i++;
        } else if (strcmp(a, "--clients") == 0) {
            g_opt.clients = parse_int(v, 1, BENCH_MAX_CLIENTS, a);
            i++;
        } else if (strcmp(a, "--inflight") == 0) {
            g_opt.inflight = parse_int(v, 1, BENCH_MAX_CLIENTS, a);
            i++;
        } else if (strcmp(a, "--members") == 0) {
            g_opt.members = parse_int(v, 1, 1000000, a);
            i++;
        } else if (strcmp(a, "--only") == 0 && v != NULL &&
                   (strcmp(v, "earn") == 0 || strcmp(v, "refused") == 0 || strcmp(v, "mix") == 0)) {
            g_opt.only = v;
            i++;
        } else if (strcmp(a, "--quick") == 0) {
            g_opt.quick = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (g_opt.quick) {
        g_opt.seconds = 1;
        g_opt.runs = 1;
        g_opt.members = g_opt.members < 50 ? g_opt.members : 50;
    }
    const char *pki = getenv("COALITION_TEST_PKI");
    const char *port = getenv("COALITION_TEST_PG_PORT");
    if (pki == NULL || port == NULL || pki[0] == '\0' || port[0] == '\0') {
        fprintf(stderr, "coalition-bench: COALITION_TEST_PKI and COALITION_TEST_PG_PORT must be "
                        "set\n");
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    printf("coalition-bench: %d s per run, %d run(s) per scenario, %d concurrent callers%s\n",
           g_opt.seconds, g_opt.runs, g_opt.clients, g_opt.quick ? " (--quick)" : "");
    machine_line();
    printf("figures are medians over runs (each percentile separately); latencies are per call, "
           "client side\n");

    /* The echo server logs warnings only: it is the transport floor, without the access log line
     * per call that the services write (at info, to their log files). */
    co_log_init("coalition-bench", CO_LOG_WARN);
    grpc_init();
    pgbench_result pg = {0};
    scenario_result echo = {0};
    if (g_opt.only == NULL) {
        pg = scenario_pgbench(port);
        echo = scenario_echo(pki);
    }
    gateway_result gw = scenario_gateway();
    if (g_opt.only != NULL) {
        /* No baselines were measured: there are no ratios to print. */
        bool ok = (strcmp(g_opt.only, "earn") == 0      ? gw.earn.done
                   : strcmp(g_opt.only, "refused") == 0 ? gw.refused.done
                                                        : gw.mix.done) &&
                  g_failures == 0;
        machine_line();
        printf("result: %s\n", ok ? "the scenario completed with no failed call"
                                  : "FAILED: the scenario did not complete or a call failed");
        grpc_shutdown();
        return ok ? 0 : 1;
    }

    printf("\n== 4. summary (ratios of medians measured in this run) ==\n");
    ratio_line("gateway GetPartner calls/s / echo calls/s", gw.read.per_sec, echo.per_sec, "");
    ratio_line("gateway RegisterPartner calls/s / echo calls/s", gw.write.per_sec, echo.per_sec,
               "");
    ratio_line("gateway GetPartner calls/s / pgbench tps", gw.read.per_sec, pg.tps, "");
    ratio_line("gateway RegisterPartner calls/s / pgbench tps", gw.write.per_sec, pg.tps, "");
    ratio_line("gateway Earn calls/s / pgbench tps", gw.earn.per_sec, pg.tps,
               "(target: at least 3)");
    ratio_line("gateway Earn calls/s / echo calls/s", gw.earn.per_sec, echo.per_sec, "");
    ratio_line("gateway Earn p99 ms", gw.earn.p99_ms, 1.0, "(target: under 25)");
    ratio_line("gateway Earn calls/s / refused Earn calls/s", gw.earn.per_sec, gw.refused.per_sec,
               "(share of the path's ceiling)");
    ratio_line("gateway refused Earn calls/s / pgbench tps", gw.refused.per_sec, pg.tps,
               "(ceiling of any points call)");
    ratio_line("gateway mix calls/s / pgbench tps", gw.mix.per_sec, pg.tps, "");
    ratio_line("gateway RegisterPartner / GetPartner calls/s", gw.write.per_sec, gw.read.per_sec,
               "");
    ratio_line("gateway GetPartner p50 / echo p50", gw.read.p50_ms, echo.p50_ms, "");
    ratio_line("gateway GetPartner p99 / echo p99", gw.read.p99_ms, echo.p99_ms, "");
    ratio_line("gateway RegisterPartner p50 / pgbench latency avg", gw.write.p50_ms, pg.latency_ms,
               "");
    for (int p = 0; p < H_NPROC; p++) {
        char what[64];
        snprintf(what, sizeof what, "%s VmRSS after load / at rest", proc_names[p]);
        ratio_line(what, (double)gw.rss_write[p], (double)gw.rss_rest[p], "");
    }
    machine_line();
    bool all = pg.done && echo.done && gw.read.done && gw.write.done && gw.earn.done &&
               gw.refused.done && gw.mix.done && g_failures == 0;
    printf("result: %s\n", all ? "every scenario completed with no failed call"
                               : "FAILED: a scenario did not complete or a call failed");
    grpc_shutdown();
    return all ? 0 : 1;
}
