/* SPDX-License-Identifier: Apache-2.0 */
/* JSON-lines logger on jansson; a line is built in memory and written with one fputs. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/support/log.h>
#include <jansson.h>

/* Written once by co_log_init before threads exist, read-only afterwards. */
static struct {
    char service[64];
    co_log_level min;
} g_log = {"coalition", CO_LOG_INFO};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static void grpc_log_sink(gpr_log_func_args *args)
{
    co_log_level lvl = CO_LOG_DEBUG;
    if (args->severity == GPR_LOG_SEVERITY_ERROR) {
        lvl = CO_LOG_ERROR;
    } else if (args->severity == GPR_LOG_SEVERITY_INFO) {
        lvl = CO_LOG_DEBUG;
    }
    co_log(lvl, args->message, "{s:s, s:s, s:i}", "component", "grpc", "file",
           args->file != NULL ? args->file : "", "line", args->line);
}

void co_log_init(const char *service, co_log_level min_level)
{
    snprintf(g_log.service, sizeof g_log.service, "%s", service);
    g_log.min = min_level;
    gpr_set_log_function(grpc_log_sink);
    gpr_set_log_verbosity(min_level == CO_LOG_DEBUG ? GPR_LOG_SEVERITY_DEBUG
                                                    : GPR_LOG_SEVERITY_ERROR);
}

bool co_log_level_parse(const char *s, co_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (co_log_level)i;
            return true;
        }
    }
    return false;
}

bool co_log_enabled(co_log_level level)
{
    return level >= g_log.min;
}

void co_log(co_log_level level, const char *msg, const char *fields, ...)
{
    if (!co_log_enabled(level)) {
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts.tv_nsec / 1000000));

    json_t *obj = NULL;
    if (fields != NULL) {
        va_list ap;
        va_start(ap, fields);
        json_error_t jerr;
        obj = json_vpack_ex(&jerr, 0, fields, ap);
        va_end(ap);
    }
    if (obj == NULL || !json_is_object(obj)) {
        json_decref(obj);
        obj = json_object();
        if (obj == NULL) {
            return;
        }
    }
    json_t *line = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "level", level_names[level],
                             "service", g_log.service, "msg", msg != NULL ? msg : "");
    if (line == NULL) {
        json_decref(obj);
        return;
    }
    json_object_update_missing(line, obj);
    json_decref(obj);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (text == NULL) {
        return;
    }
    flockfile(stderr);
    fputs(text, stderr);
    fputc('\n', stderr);
    funlockfile(stderr);
    free(text);
}
