/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration from flags, environment and defaults (flag over environment over default). */
#ifndef CO_CONFIG_H
#define CO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum co_cfg_type {
    CO_CFG_STRING, /* const char *; may be empty */
    CO_CFG_INT,    /* int64_t within [min, max] */
    CO_CFG_BOOL,   /* bool: true/false/1/0/yes/no/on/off */
    CO_CFG_FILE,   /* const char *: a path that must name a readable file (unless empty) */
    CO_CFG_ADDR,   /* const char *: host:port with a port in 0..65535 */
    CO_CFG_LEVEL,  /* co_log_level from debug/info/warn/error */
} co_cfg_type;

/* One configuration value: --<flag> VALUE or <env>=VALUE, stored at base + offset. */
typedef struct co_cfg_option {
    const char *flag; /* "listen" for --listen */
    const char *env;  /* "COALITION_LISTEN" */
    co_cfg_type type;
    const char *def; /* default as text; NULL = required */
    const char *help;
    size_t offset;
    int64_t min, max; /* CO_CFG_INT only */
} co_cfg_option;

/*
 * Fills the struct at base from opts: defaults first, then the environment, then flags from
 * argv (--flag VALUE or --flag=VALUE). Strings point into argv, environ or the defaults and
 * live as long as the process. Returns 0, or -1 with a message naming the variable in err
 * (e.g. `invalid COALITION_WORKERS "abc": not an integer`). "--help" returns 1 after printing
 * usage to out. Not thread-safe (reads the environment); call from main.
 */
int co_config_parse(const co_cfg_option *opts, size_t n, void *base, int argc, char **argv,
                    FILE *out, char *err, size_t errlen);

/* Prints every option with its variable, default and help. */
void co_config_usage(FILE *out, const char *prog, const co_cfg_option *opts, size_t n);

/* Splits "host:port" (IPv6 as "[::1]:port"); false if the port is missing or out of range. */
bool co_config_split_addr(const char *addr, char *host, size_t hostlen, int *port);

#endif
