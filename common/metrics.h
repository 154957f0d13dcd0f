/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus metrics: calls and latency per method and status, served over plain HTTP. */
#ifndef CO_METRICS_H
#define CO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct co_metrics co_metrics;

/* A registry for up to max_methods method names; NULL on out of memory. */
co_metrics *co_metrics_new(const char *service, size_t max_methods);

/* Stops the HTTP listener if any and frees m; NULL is a no-op. */
void co_metrics_free(co_metrics *m);

/* Registers a method name (copied) before serving starts; returns its index or -1 when full. */
int co_metrics_add_method(co_metrics *m, const char *name);

/* Records one finished call. Thread-safe, lock-free. */
void co_metrics_observe(co_metrics *m, int method, int grpc_status, int64_t duration_us);

/* Adjusts the in-flight calls gauge by delta. Thread-safe. */
void co_metrics_inflight(co_metrics *m, int delta);

/* Serves GET /metrics on addr ("127.0.0.1:9101"); an empty addr serves nothing. */
co_err co_metrics_start(co_metrics *m, const char *addr, char *err, size_t errlen);

/* Renders the exposition text into a malloc'd string the caller frees; NULL on OOM. */
char *co_metrics_render(co_metrics *m);

#endif
