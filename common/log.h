/* SPDX-License-Identifier: Apache-2.0 */
/* JSON-lines logging to stderr: one object per line, safe to call from any thread. */
#ifndef CO_LOG_H
#define CO_LOG_H

#include <stdbool.h>

typedef enum co_log_level {
    CO_LOG_DEBUG = 0,
    CO_LOG_INFO,
    CO_LOG_WARN,
    CO_LOG_ERROR,
} co_log_level;

/* Sets the service name and minimum level once, in main, before any thread starts; also routes
 * gRPC core's own log lines through co_log. */
void co_log_init(const char *service, co_log_level min_level);

/* Parses "debug", "info", "warn", "error"; false if unknown. */
bool co_log_level_parse(const char *s, co_log_level *out);

/* True if a line at level would be written. */
bool co_log_enabled(co_log_level level);

/*
 * Writes {"time":..., "level":..., "service":..., "msg": msg, <fields>} as one line.
 * fields is a jansson json_pack format for an object ("{s:s, s:I}") followed by its
 * arguments, or NULL for none. Never pass personal data (card numbers, emails, phones),
 * keys or tokens.
 */
void co_log(co_log_level level, const char *msg, const char *fields, ...);

#endif
