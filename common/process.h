/* SPDX-License-Identifier: Apache-2.0 */
/* The process skeleton shared by every Coalition binary: config, migrate, serve, stop; and the
 * caller identity that internal services read from the gateway. */
#ifndef CO_PROCESS_H
#define CO_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "server.h"
#include "tls.h"

/* Settings every process has (COALITION_* variables, see README). Immutable once parsed. */
typedef struct co_process_config {
    const char *listen;
    const char *health_listen;
    const char *metrics_listen;
    const char *database_url;
    const char *tls_cert;
    const char *tls_key;
    const char *tls_ca;
    const char *trust_domain;
    int64_t cqs;
    int64_t threads_per_cq;
    int64_t db_pool;
    co_log_level log_level;
    int64_t shutdown_grace_ms;
    int64_t max_connection_age_ms;
    int64_t max_message_bytes;
} co_process_config;

/* What a service's handlers get at start-up; valid until the service's fini returns. */
typedef struct co_process_env {
    const co_process_config *cfg;
    co_pg_pool *pool;        /* NULL when the service has no schema */
    const co_tls_files *tls; /* this process's certificate, key and CA */
    void *extra;             /* the definition's extra_base, parsed */
} co_process_env;

/* A binary: its name, schema and methods. main() hands it to co_process_main. */
typedef struct co_process_def {
    const char *name;   /* "partners": logs, metrics, the SPIFFE service name */
    const char *schema; /* PostgreSQL schema; NULL if the process has no database */
    const co_migration *migrations;
    size_t nmigrations;
    const char *default_listen;
    const char *default_health_listen;
    const char *default_metrics_listen;
    const char *const *health_names; /* NULL-terminated gRPC service names served */
    /* Service-specific options stored into extra_base. */
    const co_cfg_option *extra_opts;
    size_t nextra;
    void *extra_base;
    /* Builds the service's state and method table. Returns NULL with err set on failure. */
    void *(*init)(const co_process_env *env, const co_method **methods, size_t *nmethods, char *err,
                  size_t errlen);
    void (*fini)(void *state);
    /* Runs before each handler with the state init returned; when NULL, co_caller_authorize
     * runs with the process configuration. */
    co_authorize_fn authorize;
    /* Default of COALITION_THREADS_PER_QUEUE; NULL means "4". A service whose handlers wait
     * for a shared executor needs as many threads as it wants calls in flight. */
    const char *default_threads_per_queue;
    /* An optional one-shot command: `<bin> <command_name> [flags]` parses the configuration
     * like `migrate` and returns command()'s exit status. */
    const char *command_name;
    int (*command)(const co_process_config *cfg, void *extra);
} co_process_def;

/*
 * Runs the binary: `<bin> migrate [flags]` applies the schema's migrations and exits;
 * `<bin> <command_name> [flags]` runs the definition's command and exits;
 * `<bin> [flags]` serves until SIGTERM or SIGINT, then stops gracefully and returns 0.
 * A bad configuration value returns 2 after naming the variable on stderr.
 */
int co_process_main(const co_process_def *def, int argc, char **argv);

/* Who is calling, as established by the gateway's certificate check. */
typedef enum co_role {
    CO_ROLE_PARTNER = 1,
    CO_ROLE_ADMIN,
    CO_ROLE_SERVICE, /* another service acting on its own behalf */
} co_role;

typedef struct co_caller {
    co_role role;
    const char *partner_id; /* the partner (for admin: "operator"); NULL for CO_ROLE_SERVICE */
    const char *service;    /* the calling service's name from its certificate */
    bool inactive;          /* a partner the gateway reports as PENDING or SUSPENDED */
} co_caller;

/* The operator's own partner id. */
#define CO_OPERATOR_ID "operator"

/* Metadata keys the gateway sets (and strips from what partners send). */
#define CO_MD_PARTNER_ID "coalition-partner-id"
#define CO_MD_ROLE       "coalition-role"
/* "active", "pending" or "suspended": the partner's status as the gateway last resolved it. */
#define CO_MD_PARTNER_STATUS "coalition-partner-status"

/*
 * Default authorize hook of internal services: the peer must present a certificate of a
 * coalition service in the configured trust domain (PERMISSION_DENIED otherwise); the caller
 * (role and partner) is read from the metadata the gateway forwarded and attached to the call.
 */
co_err co_caller_authorize(co_call *call, void *ud);

/* The caller attached by co_caller_authorize; never NULL inside a handler. */
const co_caller *co_caller_of(const co_call *call);

/* Fails with PERMISSION_DENIED unless the caller is the admin. */
co_err co_require_admin(co_call *call);

#endif
