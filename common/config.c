/* SPDX-License-Identifier: Apache-2.0 */
/* Parses and validates configuration tables; a bad value names its variable. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

bool co_config_split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || colon[1] == '\0') {
        return false;
    }
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (h[0] == '[') {
        if (hl < 2 || h[hl - 1] != ']') {
            return false;
        }
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen) {
        return false;
    }
    const char *ps = colon + 1;
    if (strspn(ps, "0123456789") != strlen(ps) || strlen(ps) > 5) {
        return false;
    }
    char *end;
    errno = 0;
    long p = strtol(ps, &end, 10);
    if (errno != 0 || *end != '\0' || p < 0 || p > 65535) {
        return false;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return true;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Validates value for o and stores it; where names the source for the message. */
static int apply(const co_cfg_option *o, void *base, const char *value, const char *where,
                 char *err, size_t errlen)
{
    void *slot = (char *)base + o->offset;
    switch (o->type) {
    case CO_CFG_STRING:
        *(const char **)slot = value;
        return 0;
    case CO_CFG_FILE: {
        struct stat sb;
        if (value[0] != '\0' && (access(value, R_OK) != 0 || stat(value, &sb) != 0)) {
            return fail(err, errlen, "invalid %s \"%s\": cannot read file: %s", where, value,
                        strerror(errno));
        }
        if (value[0] != '\0' && !S_ISREG(sb.st_mode)) {
            return fail(err, errlen, "invalid %s \"%s\": not a regular file", where, value);
        }
        *(const char **)slot = value;
        return 0;
    }
    case CO_CFG_ADDR: {
        char host[256];
        int port;
        if (!co_config_split_addr(value, host, sizeof host, &port)) {
            return fail(err, errlen, "invalid %s \"%s\": expected host:port", where, value);
        }
        *(const char **)slot = value;
        return 0;
    }
    case CO_CFG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0') {
            return fail(err, errlen, "invalid %s \"%s\": not an integer", where, value);
        }
        if (v < o->min || v > o->max) {
            return fail(err, errlen, "invalid %s \"%s\": must be between %lld and %lld", where,
                        value, (long long)o->min, (long long)o->max);
        }
        *(int64_t *)slot = (int64_t)v;
        return 0;
    }
    case CO_CFG_BOOL: {
        bool b;
        if (!parse_bool(value, &b)) {
            return fail(err, errlen, "invalid %s \"%s\": expected true or false", where, value);
        }
        *(bool *)slot = b;
        return 0;
    }
    case CO_CFG_LEVEL: {
        co_log_level l;
        if (!co_log_level_parse(value, &l)) {
            return fail(err, errlen, "invalid %s \"%s\": expected debug, info, warn or error",
                        where, value);
        }
        *(co_log_level *)slot = l;
        return 0;
    }
    }
    return fail(err, errlen, "invalid %s: unknown option type", where);
}

void co_config_usage(FILE *out, const char *prog, const co_cfg_option *opts, size_t n)
{
    fprintf(out, "usage: %s [--flag value]...\n\n", prog);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "  --%-24s %-32s %s (default: %s)\n", opts[i].flag, opts[i].env, opts[i].help,
                opts[i].def == NULL ? "required" : opts[i].def);
    }
}

int co_config_parse(const co_cfg_option *opts, size_t n, void *base, int argc, char **argv,
                    FILE *out, char *err, size_t errlen)
{
    /* The winning text of each option: flag over environment over default. */
    const char *value[128] = {NULL};
    char where[128][96];
    if (n > 128) {
        return fail(err, errlen, "too many options");
    }
    for (size_t i = 0; i < n; i++) {
        value[i] = getenv(opts[i].env);
        snprintf(where[i], sizeof where[i], "%s", opts[i].env);
        if (value[i] == NULL && opts[i].def != NULL) {
            value[i] = opts[i].def;
            snprintf(where[i], sizeof where[i], "default of %s", opts[i].env);
        }
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            co_config_usage(out, argv[0], opts, n);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            return fail(err, errlen, "unexpected argument \"%s\"", arg);
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        size_t i = 0;
        for (; i < n; i++) {
            if (strlen(opts[i].flag) == nlen && strncmp(opts[i].flag, name, nlen) == 0) {
                break;
            }
        }
        if (i == n) {
            return fail(err, errlen, "unknown flag \"%.*s\"", (int)nlen + 2, arg);
        }
        if (eq != NULL) {
            value[i] = eq + 1;
        } else if (opts[i].type == CO_CFG_BOOL && (a + 1 >= argc || argv[a + 1][0] == '-')) {
            value[i] = "true";
        } else if (a + 1 < argc) {
            value[i] = argv[++a];
        } else {
            return fail(err, errlen, "flag --%s needs a value", opts[i].flag);
        }
        snprintf(where[i], sizeof where[i], "--%s (%s)", opts[i].flag, opts[i].env);
    }
    for (size_t i = 0; i < n; i++) {
        if (value[i] == NULL) {
            return fail(err, errlen, "missing %s (or --%s): required", opts[i].env, opts[i].flag);
        }
        if (apply(&opts[i], base, value[i], where[i], err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}
