/* SPDX-License-Identifier: Apache-2.0 */
/* main() of every Coalition binary: configuration, migrations, serving and graceful stop. */
#include "process.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>

#include "metrics.h"

#define OPT(flag, env, type, def, help, field, lo, hi)                                             \
    {                                                                                              \
        flag, env, type, def, help, offsetof(co_process_config, field), lo, hi                     \
    }

/* Per-service default paths of the development PKI (scripts/dev-pki.sh). */
typedef struct defaults {
    char cert[128];
    char key[128];
} defaults;

/* The common options with the service's defaults filled in; out holds COMMON_OPTS rows. When
 * files is false (migrate), TLS paths are not checked, as migrating does not use them. */
enum { COMMON_OPTS = 15 };
static void common_options(const co_process_def *d, defaults *df, bool files,
                           co_cfg_option out[COMMON_OPTS])
{
    snprintf(df->cert, sizeof df->cert, ".run/pki/service-%s.crt", d->name);
    snprintf(df->key, sizeof df->key, ".run/pki/service-%s.key", d->name);
    const co_cfg_type file = files ? CO_CFG_FILE : CO_CFG_STRING;
    const co_cfg_option rows[COMMON_OPTS] = {
        OPT("listen", "COALITION_LISTEN", CO_CFG_ADDR, d->default_listen,
            "mTLS gRPC listen address", listen, 0, 0),
        OPT("health-listen", "COALITION_HEALTH_LISTEN", CO_CFG_STRING, d->default_health_listen,
            "plaintext health-only listen address (empty: none)", health_listen, 0, 0),
        OPT("metrics-listen", "COALITION_METRICS_LISTEN", CO_CFG_STRING, d->default_metrics_listen,
            "HTTP /metrics listen address (empty: none)", metrics_listen, 0, 0),
        OPT("database-url", "COALITION_DATABASE_URL", CO_CFG_STRING,
            "postgresql://127.0.0.1:5432/coalition", "libpq URL of this service's database role",
            database_url, 0, 0),
        OPT("tls-cert", "COALITION_TLS_CERT", file, df->cert, "this process's certificate (PEM)",
            tls_cert, 0, 0),
        OPT("tls-key", "COALITION_TLS_KEY", file, df->key, "this process's private key (PEM)",
            tls_key, 0, 0),
        OPT("tls-ca", "COALITION_TLS_CA", file, ".run/pki/ca.crt",
            "CA that signs every coalition certificate (PEM)", tls_ca, 0, 0),
        OPT("trust-domain", "COALITION_TRUST_DOMAIN", CO_CFG_STRING, "coalition.local",
            "SPIFFE trust domain of identities", trust_domain, 0, 0),
        OPT("queues", "COALITION_QUEUES", CO_CFG_INT, "2", "gRPC completion queues", cqs, 1, 64),
        OPT("threads-per-queue", "COALITION_THREADS_PER_QUEUE", CO_CFG_INT,
            d->default_threads_per_queue != NULL ? d->default_threads_per_queue : "4",
            "worker threads per completion queue", threads_per_cq, 1, 256),
        OPT("db-pool", "COALITION_DB_POOL", CO_CFG_INT, "8", "database connections at most",
            db_pool, 1, 1000),
        OPT("log-level", "COALITION_LOG_LEVEL", CO_CFG_LEVEL, "info", "debug, info, warn or error",
            log_level, 0, 0),
        OPT("shutdown-grace-ms", "COALITION_SHUTDOWN_GRACE_MS", CO_CFG_INT, "10000",
            "time in-flight calls get to finish on SIGTERM", shutdown_grace_ms, 0, 600000),
        OPT("max-connection-age-ms", "COALITION_MAX_CONNECTION_AGE_MS", CO_CFG_INT, "300000",
            "connections are closed after this age so clients rebalance", max_connection_age_ms,
            1000, 86400000),
        OPT("max-message-bytes", "COALITION_MAX_MESSAGE_BYTES", CO_CFG_INT, "1048576",
            "largest request or response message", max_message_bytes, 1024, 67108864),
    };
    memcpy(out, rows, sizeof rows);
}

/* Parses common and service options together (flags may come in any order). */
static int parse_config(const co_process_def *d, co_process_config *cfg, defaults *df, bool files,
                        int argc, char **argv)
{
    co_cfg_option common[COMMON_OPTS];
    common_options(d, df, files, common);
    /* Split argv into the flags each table knows, so both tables see all their flags. */
    char **a1 = calloc((size_t)argc + 1, sizeof *a1);
    char **a2 = calloc((size_t)argc + 1, sizeof *a2);
    if (a1 == NULL || a2 == NULL) {
        free(a1);
        free(a2);
        fprintf(stderr, "%s: out of memory\n", d->name);
        return 2;
    }
    int n1 = 1, n2 = 1;
    a1[0] = a2[0] = argv[0];
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            co_config_usage(stdout, argv[0], common, COMMON_OPTS);
            if (d->nextra > 0) {
                co_config_usage(stdout, argv[0], d->extra_opts, d->nextra);
            }
            rc = 1;
            goto out;
        }
        const char *name = strncmp(arg, "--", 2) == 0 ? arg + 2 : arg;
        size_t nl = strcspn(name, "=");
        bool extra = false;
        const co_cfg_option *found = NULL;
        for (size_t k = 0; k < COMMON_OPTS && found == NULL; k++) {
            if (strlen(common[k].flag) == nl && strncmp(common[k].flag, name, nl) == 0) {
                found = &common[k];
            }
        }
        for (size_t k = 0; k < d->nextra && found == NULL; k++) {
            if (strlen(d->extra_opts[k].flag) == nl &&
                strncmp(d->extra_opts[k].flag, name, nl) == 0) {
                found = &d->extra_opts[k];
                extra = true;
            }
        }
        char **dst = extra ? a2 : a1;
        int *dn = extra ? &n2 : &n1;
        dst[(*dn)++] = argv[i];
        if (found != NULL && name[nl] != '=' && found->type != CO_CFG_BOOL && i + 1 < argc) {
            dst[(*dn)++] = argv[++i];
        }
    }
    char err[512];
    if (co_config_parse(common, COMMON_OPTS, cfg, n1, a1, stdout, err, sizeof err) != 0 ||
        (d->nextra > 0 && co_config_parse(d->extra_opts, d->nextra, d->extra_base, n2, a2, stdout,
                                          err, sizeof err) != 0)) {
        fprintf(stderr, "%s: %s\n", d->name, err);
        rc = 2;
    }
out:
    free(a1);
    free(a2);
    return rc;
}

static int run_migrate(const co_process_def *d, const co_process_config *cfg)
{
    if (d->schema == NULL) {
        co_log(CO_LOG_INFO, "no schema to migrate", NULL);
        return 0;
    }
    char msg[1024];
    co_err e =
        co_migrate(cfg->database_url, d->schema, d->migrations, d->nmigrations, msg, sizeof msg);
    if (e != CO_OK) {
        co_log(CO_LOG_ERROR, "migration failed", "{s:s}", "error", msg);
        return 1;
    }
    co_log(CO_LOG_INFO, "migrations applied", "{s:s}", "result", msg);
    return 0;
}

static int serve(const co_process_def *d, const co_process_config *cfg)
{
    int rc = 1;
    char err[512];
    co_tls_files tls = {0};
    co_pg_pool *pool = NULL;
    co_metrics *metrics = NULL;
    void *state = NULL;
    co_server *server = NULL;
    if (co_tls_load(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, &tls, err, sizeof err) != CO_OK) {
        co_log(CO_LOG_ERROR, "could not load TLS material", "{s:s}", "error", err);
        return 2;
    }
    if (d->schema != NULL) {
        pool = co_pg_pool_new(cfg->database_url, (int)cfg->db_pool, err, sizeof err);
        if (pool == NULL) {
            co_log(CO_LOG_ERROR, "could not start", "{s:s}", "error", err);
            goto out_tls;
        }
    }
    metrics = co_metrics_new(d->name, 256);
    if (metrics == NULL ||
        co_metrics_start(metrics, cfg->metrics_listen, err, sizeof err) != CO_OK) {
        co_log(CO_LOG_ERROR, "could not start metrics", "{s:s}", "error",
               metrics == NULL ? "out of memory" : err);
        goto out_metrics;
    }
    co_process_env env = {.cfg = cfg, .pool = pool, .tls = &tls, .extra = d->extra_base};
    const co_method *methods = NULL;
    size_t nmethods = 0;
    state = d->init(&env, &methods, &nmethods, err, sizeof err);
    if (state == NULL) {
        co_log(CO_LOG_ERROR, "could not start", "{s:s}", "error", err);
        goto out_metrics;
    }
    grpc_server_credentials *creds = co_tls_server_creds(&tls);
    co_server_opts so = {
        .service = d->name,
        .listen_addr = cfg->listen,
        .health_addr = cfg->health_listen,
        .creds = creds,
        .health_names = d->health_names,
        .methods = methods,
        .nmethods = nmethods,
        .authorize = d->authorize != NULL ? d->authorize : co_caller_authorize,
        .authorize_ud = d->authorize != NULL ? state : (void *)cfg,
        .metrics = metrics,
        .cqs = (int)cfg->cqs,
        .threads_per_cq = (int)cfg->threads_per_cq,
        .slots = 16,
        .max_message_bytes = cfg->max_message_bytes,
        .max_connection_age_ms = cfg->max_connection_age_ms,
        .arena_limit = cfg->max_message_bytes * 8 + (1 << 20),
    };
    server = co_server_start(&so, err, sizeof err);
    grpc_server_credentials_release(creds);
    if (server == NULL) {
        co_log(CO_LOG_ERROR, "could not start", "{s:s}", "error", err);
        goto out_state;
    }
    co_log(CO_LOG_INFO, "serving", "{s:s, s:i, s:s, s:i, s:s}", "listen", cfg->listen, "port",
           co_server_port(server), "health_listen", cfg->health_listen, "health_port",
           co_server_health_port(server), "metrics_listen", cfg->metrics_listen);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    co_log(CO_LOG_INFO, "stopping", "{s:s, s:i}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
           "inflight", co_server_inflight(server));
    co_server_stop(server, cfg->shutdown_grace_ms);
    co_log(CO_LOG_INFO, "stopped", NULL);
    rc = 0;
out_state:
    d->fini(state);
out_metrics:
    co_metrics_free(metrics);
    co_pg_pool_free(pool);
out_tls:
    co_tls_release(&tls);
    return rc;
}

int co_process_main(const co_process_def *d, int argc, char **argv)
{
    bool migrate = argc > 1 && strcmp(argv[1], "migrate") == 0;
    bool command = !migrate && argc > 1 && d->command_name != NULL && d->command != NULL &&
                   strcmp(argv[1], d->command_name) == 0;
    if (migrate || command) {
        migrate = true; /* parsed the same way: no listener is needed */
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    co_process_config cfg;
    memset(&cfg, 0, sizeof cfg);
    defaults df = {0}; /* the config points into it until return */
    int prc = parse_config(d, &cfg, &df, !migrate, argc, argv);
    if (prc == 1) {
        return 0;
    }
    if (prc != 0) {
        return 2;
    }
    co_log_init(d->name, cfg.log_level);
    if (command) {
        return d->command(&cfg, d->extra_base);
    }
    if (migrate) {
        return run_migrate(d, &cfg);
    }
    /* Signals are blocked before gRPC starts its threads, so that only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    grpc_init();
    int rc = serve(d, &cfg);
    grpc_shutdown();
    return rc;
}

/* --- authorization of internal services --- */

co_err co_caller_authorize(co_call *call, void *ud)
{
    const co_process_config *cfg = ud;
    const char *id = co_call_peer_identity(call);
    if (id == NULL) {
        return co_call_fail(call, CO_ERR_UNAUTHENTICATED,
                            "client certificate has no single SPIFFE identity");
    }
    co_spiffe_kind kind;
    char name[64];
    if (!co_spiffe_parse(id, strlen(id), cfg->trust_domain, &kind, name, sizeof name) ||
        kind != CO_SPIFFE_SERVICE) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "only coalition services may call this service directly");
    }
    co_arena *a = co_call_arena(call);
    co_caller *caller = co_arena_calloc(a, 1, sizeof *caller);
    if (caller == NULL) {
        return CO_ERR_NOMEM;
    }
    caller->service = co_arena_strdup(a, name);
    const char *role = co_call_metadata(call, CO_MD_ROLE);
    const char *pid = co_call_metadata(call, CO_MD_PARTNER_ID);
    if (role == NULL) {
        if (strcmp(name, "gateway") == 0) {
            return co_call_fail(call, CO_ERR_UNAUTHENTICATED, "missing caller role");
        }
        caller->role = CO_ROLE_SERVICE;
    } else if (strcmp(role, "service") == 0) {
        caller->role = CO_ROLE_SERVICE;
    } else if (strcmp(role, "admin") == 0) {
        caller->role = CO_ROLE_ADMIN;
        caller->partner_id = CO_OPERATOR_ID;
    } else if (strcmp(role, "partner") == 0) {
        if (pid == NULL || !co_name_is_valid(pid, strlen(pid))) {
            return co_call_fail(call, CO_ERR_UNAUTHENTICATED, "missing or invalid caller partner");
        }
        caller->role = CO_ROLE_PARTNER;
        caller->partner_id = pid;
        const char *status = co_call_metadata(call, CO_MD_PARTNER_STATUS);
        caller->inactive = status != NULL && strcmp(status, "active") != 0;
    } else {
        return co_call_fail(call, CO_ERR_UNAUTHENTICATED, "unknown caller role");
    }
    if (caller->partner_id != NULL) {
        co_call_log_partner(call, caller->partner_id);
    }
    co_call_set_ctx(call, caller);
    return CO_OK;
}

const co_caller *co_caller_of(const co_call *call)
{
    return co_call_ctx(call);
}

co_err co_require_admin(co_call *call)
{
    const co_caller *c = co_caller_of(call);
    if (c == NULL || c->role != CO_ROLE_ADMIN) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "this method needs the admin role");
    }
    return CO_OK;
}
