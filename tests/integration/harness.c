/* SPDX-License-Identifier: Apache-2.0 */
/* Starts and stops the stack of real processes for integration tests. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "grpc/health/v1/health.pb-c.h"

extern char **environ;

typedef struct h_procinfo {
    const char *name;
    const char *bin_env;
    const char *svc; /* service cert name */
    pid_t pid;
    char addr[32];
    char health[32];
    char metrics[32];
    /* The extra environment it was first started with (strings in the stack or static). */
    char *extra[8];
} h_procinfo;

struct h_stack {
    char dbname[64];
    char db_url[256];
    char svc_url[H_NPROC][256];
    char pki[512];
    char scratch[32][600];
    int nscratch;
    h_procinfo p[H_NPROC];
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "harness: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static const char *need_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        die("%s is not set: run the integration tests through ctest", name);
    }
    return v;
}

long long h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A port that was free a moment ago (bound to :0 and released), and not one this process
 * handed out before: the kernel may offer a released port again at once, and two processes of
 * one stack were once given the same health port. */
static int free_port(void)
{
    static unsigned char given[65536 / 8];
    for (int attempt = 0; attempt < 64; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
            die("could not find a free port: %s", strerror(errno));
        }
        int port = ntohs(a.sin_port);
        close(fd);
        if ((given[port / 8] & (1u << (port % 8))) == 0) {
            given[port / 8] |= (unsigned char)(1u << (port % 8));
            return port;
        }
    }
    die("could not find a free port not handed out before");
    return -1;
}

int h_run(char *const argv[])
{
    pid_t pid;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
        return -1;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Spawns bin with extra environment entries (NAME=value) and stdout/stderr to logpath. */
static pid_t spawn_with_env(const char *bin, char *const *extra, const char *logpath,
                            const char *arg1)
{
    size_t n = 0, k = 0;
    while (environ[n] != NULL) {
        n++;
    }
    while (extra[k] != NULL) {
        k++;
    }
    char **envp = calloc(n + k + 1, sizeof *envp);
    if (envp == NULL) {
        die("out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "COALITION_", 10) == 0 &&
            strncmp(environ[i], "COALITION_TEST_", 15) != 0) {
            continue; /* only what the harness sets */
        }
        envp[m++] = environ[i];
    }
    for (size_t i = 0; i < k; i++) {
        envp[m++] = extra[i];
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[3] = {(char *)bin, (char *)arg1, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    if (rc != 0) {
        die("could not start %s: %s", bin, strerror(rc));
    }
    return pid;
}

static char *fmt(h_stack *s, const char *f, ...) __attribute__((format(printf, 2, 3)));
static char *fmt(h_stack *s, const char *f, ...)
{
    if (s->nscratch == 32) {
        die("harness scratch exhausted");
    }
    char *b = s->scratch[s->nscratch++];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof s->scratch[0], f, ap);
    va_end(ap);
    return b;
}

static bool healthy(const char *addr)
{
    co_client *c = co_client_new(addr, NULL, "health");
    if (c == NULL) {
        return false;
    }
    co_arena a;
    co_arena_init(&a, 0);
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    co_err e = co_client_unary(c, "/grpc.health.v1.Health/Check", &req.base,
                               &grpc__health__v1__health_check_response__descriptor, NULL, 0, 500,
                               false, &a, &resp, NULL);
    bool ok = e == CO_OK && ((Grpc__Health__V1__HealthCheckResponse *)resp)->status ==
                                GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    co_arena_release(&a);
    co_client_free(c);
    return ok;
}

/* Starts process which and waits until it is healthy. extra (NULL-terminated, at most 7
 * entries) is remembered for h_proc_restart. With fixed_ports (a restart: others know its
 * address), a process that exits during start-up is fatal instead of moved to other ports. */
/* Environment entries h_set_env added, per process, for every stack started later. */
static const char *g_env[H_NPROC][9];

void h_set_env(h_proc p, const char *entry)
{
    size_t k = 0;
    while (g_env[p][k] != NULL) {
        k++;
    }
    if (k + 1 == sizeof g_env[p] / sizeof g_env[p][0]) {
        die("too many h_set_env entries");
    }
    g_env[p][k] = entry;
}

static void start_proc(h_stack *s, h_proc which, char *const *extra, bool fixed_ports)
{
    h_procinfo *p = &s->p[which];
    if (extra != NULL && extra != p->extra) {
        size_t k = 0;
        for (; extra[k] != NULL; k++) {
            if (k + 1 == sizeof p->extra / sizeof p->extra[0]) {
                die("too much extra environment for %s", p->name);
            }
            p->extra[k] = extra[k];
        }
        p->extra[k] = NULL;
    }
    for (int attempt = 1;; attempt++) {
        char log[128];
        snprintf(log, sizeof log, "%s-%s.log", s->dbname, p->name);
        char *env[32];
        int n = 0;
        char b[10][600];
        snprintf(b[0], sizeof b[0], "COALITION_LISTEN=%s", p->addr);
        snprintf(b[1], sizeof b[1], "COALITION_HEALTH_LISTEN=%s", p->health);
        snprintf(b[2], sizeof b[2], "COALITION_METRICS_LISTEN=%s", p->metrics);
        snprintf(b[3], sizeof b[3], "COALITION_TLS_CERT=%s/service-%s.crt", s->pki, p->svc);
        snprintf(b[4], sizeof b[4], "COALITION_TLS_KEY=%s/service-%s.key", s->pki, p->svc);
        snprintf(b[5], sizeof b[5], "COALITION_TLS_CA=%s/ca.crt", s->pki);
        snprintf(b[6], sizeof b[6], "COALITION_DATABASE_URL=%s", s->svc_url[which]);
        snprintf(b[7], sizeof b[7], "COALITION_SHUTDOWN_GRACE_MS=5000");
        for (int i = 0; i < 8; i++) {
            env[n++] = b[i];
        }
        for (int i = 0; extra != NULL && extra[i] != NULL && n < 31; i++) {
            env[n++] = extra[i];
        }
        for (int i = 0; g_env[which][i] != NULL && n < 31; i++) {
            env[n++] = (char *)g_env[which][i];
        }
        env[n] = NULL;
        p->pid = spawn_with_env(need_env(p->bin_env), env, log, NULL);
        long long until = h_now_ms() + 15000;
        bool exited = false;
        while (!exited && !healthy(p->health)) {
            int st;
            if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
                exited = true;
                break;
            }
            if (h_now_ms() > until) {
                die("%s did not become healthy within 15 s; see %s", p->name, log);
            }
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (!exited) {
            return;
        }
        /* Free ports are found by binding to port 0 and closing: a test running in parallel may
         * take one before the process binds it. Try other ports (its dependents start later). */
        if (attempt == 3 || fixed_ports) {
            die("%s exited during start-up; see %s", p->name, log);
        }
        fprintf(stderr,
                "harness: %s exited during start-up (attempt %d); retrying on other ports\n",
                p->name, attempt);
        snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", free_port());
        snprintf(p->health, sizeof p->health, "127.0.0.1:%d", free_port());
        snprintf(p->metrics, sizeof p->metrics, "127.0.0.1:%d", free_port());
    }
}

h_stack *h_stack_start(const char *dbname)
{
    h_stack *s = calloc(1, sizeof *s);
    if (s == NULL) {
        die("out of memory");
    }
    const char *datadir = need_env("COALITION_TEST_PG_DATADIR");
    const char *port = need_env("COALITION_TEST_PG_PORT");
    const char *scripts = need_env("COALITION_TEST_SCRIPTS");
    snprintf(s->pki, sizeof s->pki, "%s", need_env("COALITION_TEST_PKI"));
    snprintf(s->dbname, sizeof s->dbname, "%s", dbname);
    snprintf(s->db_url, sizeof s->db_url, "postgresql://postgres@127.0.0.1:%s/%s", port, dbname);

    /* A fresh database per run of a test program: drop what an earlier run left. */
    char admin_url[256];
    snprintf(admin_url, sizeof admin_url, "postgresql://postgres@127.0.0.1:%s/postgres", port);
    PGconn *pg = PQconnectdb(admin_url);
    if (PQstatus(pg) != CONNECTION_OK) {
        die("could not connect to the test cluster: %s", PQerrorMessage(pg));
    }
    char drop[160];
    snprintf(drop, sizeof drop, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", dbname);
    PGresult *r = PQexec(pg, drop);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        die("could not drop database %s: %s", dbname, PQerrorMessage(pg));
    }
    PQclear(r);
    PQfinish(pg);
    char pgsh[512];
    snprintf(pgsh, sizeof pgsh, "%s/pg.sh", scripts);
    char *create[] = {pgsh, "createdb", (char *)datadir, (char *)port, (char *)dbname, NULL};
    if (h_run(create) != 0) {
        die("could not create database %s", dbname);
    }
    s->p[H_PARTNERS] =
        (h_procinfo){.name = "partners", .bin_env = "COALITION_PARTNERS_BIN", .svc = "partners"};
    s->p[H_ACCOUNTS] =
        (h_procinfo){.name = "accounts", .bin_env = "COALITION_ACCOUNTS_BIN", .svc = "accounts"};
    s->p[H_POINTS] =
        (h_procinfo){.name = "points", .bin_env = "COALITION_POINTS_BIN", .svc = "points"};
    s->p[H_GATEWAY] =
        (h_procinfo){.name = "gateway", .bin_env = "COALITION_GATEWAY_BIN", .svc = "gateway"};
    snprintf(s->svc_url[H_PARTNERS], sizeof s->svc_url[0],
             "postgresql://coalition_partners@127.0.0.1:%s/%s", port, dbname);
    snprintf(s->svc_url[H_ACCOUNTS], sizeof s->svc_url[0],
             "postgresql://coalition_accounts@127.0.0.1:%s/%s", port, dbname);
    snprintf(s->svc_url[H_POINTS], sizeof s->svc_url[0],
             "postgresql://coalition_points@127.0.0.1:%s/%s", port, dbname);
    snprintf(s->svc_url[H_GATEWAY], sizeof s->svc_url[0],
             "postgresql://coalition_gateway@127.0.0.1:%s/%s", port, dbname);
    for (int i = 0; i < H_NPROC; i++) {
        snprintf(s->p[i].addr, sizeof s->p[i].addr, "127.0.0.1:%d", free_port());
        snprintf(s->p[i].health, sizeof s->p[i].health, "127.0.0.1:%d", free_port());
        snprintf(s->p[i].metrics, sizeof s->p[i].metrics, "127.0.0.1:%d", free_port());
    }
    /* Migrate each service's schema with its real binary. */
    static const struct {
        h_proc p;
        const char *bin_env;
    } migrations[] = {{H_PARTNERS, "COALITION_PARTNERS_BIN"},
                      {H_ACCOUNTS, "COALITION_ACCOUNTS_BIN"},
                      {H_POINTS, "COALITION_POINTS_BIN"}};
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
        char log[128];
        snprintf(log, sizeof log, "%s-migrate.log", s->dbname);
        char url[300];
        snprintf(url, sizeof url, "COALITION_DATABASE_URL=%s", s->svc_url[migrations[i].p]);
        char *env[] = {url, NULL};
        pid_t pid = spawn_with_env(need_env(migrations[i].bin_env), env, log, "migrate");
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            die("%s migrate failed; see %s", s->p[migrations[i].p].name, log);
        }
    }
    start_proc(s, H_PARTNERS, NULL, false);
    char *acct_env[] = {
        "COALITION_ACCOUNTS_KEY=" H_ACCOUNTS_KEY,
        fmt(s, "COALITION_PARTNERS_ADDR=%s", s->p[H_PARTNERS].addr),
        /* points starts later on the port chosen now; accounts dials it lazily */
        fmt(s, "COALITION_POINTS_ADDR=%s", s->p[H_POINTS].addr),
        NULL,
    };
    start_proc(s, H_ACCOUNTS, acct_env, false);
    char *pts_env[] = {
        fmt(s, "COALITION_PARTNERS_ADDR=%s", s->p[H_PARTNERS].addr),
        fmt(s, "COALITION_ACCOUNTS_ADDR=%s", s->p[H_ACCOUNTS].addr),
        NULL,
    };
    start_proc(s, H_POINTS, pts_env, false);
    char *gw_env[] = {
        fmt(s, "COALITION_PARTNERS_ADDR=%s", s->p[H_PARTNERS].addr),
        fmt(s, "COALITION_ACCOUNTS_ADDR=%s", s->p[H_ACCOUNTS].addr),
        fmt(s, "COALITION_POINTS_ADDR=%s", s->p[H_POINTS].addr),
        /* Services not in this stack: closed ports, so calls to them are UNAVAILABLE. */
        fmt(s, "COALITION_REFERRALS_ADDR=127.0.0.1:%d", free_port()),
        NULL,
    };
    start_proc(s, H_GATEWAY, gw_env, false);
    return s;
}

bool h_proc_stop(h_stack *s, h_proc which)
{
    h_procinfo *p = &s->p[which];
    if (p->pid <= 0) {
        return false;
    }
    kill(p->pid, SIGTERM);
    int st = 0;
    pid_t r;
    while ((r = waitpid(p->pid, &st, 0)) < 0 && errno == EINTR) {
    }
    bool ok = r == p->pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok) {
        fprintf(stderr, "harness: %s did not exit cleanly (status %d)\n", p->name, st);
    }
    p->pid = 0;
    return ok;
}

void h_proc_kill9(h_stack *s, h_proc which)
{
    h_procinfo *p = &s->p[which];
    if (p->pid <= 0) {
        return;
    }
    if (kill(p->pid, SIGKILL) != 0) {
        die("could not kill %s: %s", p->name, strerror(errno));
    }
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    p->pid = 0;
}

void h_proc_restart(h_stack *s, h_proc which)
{
    if (s->p[which].pid > 0) {
        die("could not restart %s: it is still running", s->p[which].name);
    }
    start_proc(s, which, s->p[which].extra, true);
}

bool h_stack_stop(h_stack *s)
{
    bool ok = true;
    for (int i = H_NPROC - 1; i >= 0; i--) {
        if (s->p[i].pid <= 0) {
            continue;
        }
        kill(s->p[i].pid, SIGTERM);
        int st;
        if (waitpid(s->p[i].pid, &st, 0) != s->p[i].pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "harness: %s did not exit cleanly (status %d)\n", s->p[i].name, st);
            ok = false;
        }
    }
    free(s);
    return ok;
}

const char *h_addr(const h_stack *s, h_proc p)
{
    return s->p[p].addr;
}

const char *h_health_addr(const h_stack *s, h_proc p)
{
    return s->p[p].health;
}

const char *h_metrics_addr(const h_stack *s, h_proc p)
{
    return s->p[p].metrics;
}

pid_t h_pid(const h_stack *s, h_proc p)
{
    return s->p[p].pid;
}

const char *h_service_db_url(const h_stack *s, h_proc p)
{
    return s->svc_url[p];
}

const char *h_db_url(const h_stack *s)
{
    return s->db_url;
}

const char *h_pki(const h_stack *s, const char *file)
{
    h_stack *m = (h_stack *)s;
    return fmt(m, "%s/%s", s->pki, file);
}

co_client *h_client(const h_stack *s, h_proc p, const char *identity)
{
    char cert[600], key[600], ca[600], err[256];
    snprintf(ca, sizeof ca, "%s/ca.crt", s->pki);
    co_tls_files tls = {0};
    if (identity == NULL) {
        /* Only the CA: a TLS client without a certificate. */
        snprintf(cert, sizeof cert, "%s/ca.crt", s->pki);
        if (co_tls_load(cert, cert, ca, &tls, err, sizeof err) != CO_OK) {
            die("%s", err);
        }
        free(tls.cert_pem);
        free(tls.key_pem);
        tls.cert_pem = NULL;
        tls.key_pem = NULL;
    } else {
        snprintf(cert, sizeof cert, "%s/%s.crt", s->pki, identity);
        snprintf(key, sizeof key, "%s/%s.key", s->pki, identity);
        if (co_tls_load(cert, key, ca, &tls, err, sizeof err) != CO_OK) {
            die("%s", err);
        }
    }
    co_client *c = co_client_new(s->p[p].addr, &tls, identity != NULL ? identity : "anonymous");
    co_tls_release(&tls);
    if (c == NULL) {
        die("could not create a client");
    }
    return c;
}
