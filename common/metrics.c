/* SPDX-License-Identifier: Apache-2.0 */
/* Lock-free counters rendered as Prometheus text by a libmicrohttpd listener. */
#include "metrics.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "config.h"

#define CO_METRICS_CODES 17
/* Upper bounds of the latency buckets, in microseconds. */
static const int64_t bucket_us[] = {250,    500,     1000,    2500,    5000,
                                    10000,  25000,   50000,   100000,  250000,
                                    500000, 1000000, 2500000, 5000000, 10000000};
#define CO_METRICS_BUCKETS (sizeof bucket_us / sizeof bucket_us[0])

typedef struct method_stats {
    char *name;
    atomic_uint_fast64_t calls[CO_METRICS_CODES];
    atomic_uint_fast64_t buckets[CO_METRICS_BUCKETS + 1];
    atomic_uint_fast64_t sum_us;
} method_stats;

struct co_metrics {
    char *service;
    size_t max, n;
    method_stats *methods;
    atomic_int inflight;
    struct MHD_Daemon *httpd;
};

co_metrics *co_metrics_new(const char *service, size_t max_methods)
{
    co_metrics *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    m->service = strdup(service);
    m->methods = calloc(max_methods, sizeof *m->methods);
    if (m->service == NULL || m->methods == NULL) {
        free(m->service);
        free(m->methods);
        free(m);
        return NULL;
    }
    m->max = max_methods;
    atomic_init(&m->inflight, 0);
    return m;
}

void co_metrics_free(co_metrics *m)
{
    if (m == NULL) {
        return;
    }
    if (m->httpd != NULL) {
        MHD_stop_daemon(m->httpd);
    }
    for (size_t i = 0; i < m->n; i++) {
        free(m->methods[i].name);
    }
    free(m->methods);
    free(m->service);
    free(m);
}

int co_metrics_add_method(co_metrics *m, const char *name)
{
    if (m->n == m->max) {
        return -1;
    }
    char *copy = strdup(name);
    if (copy == NULL) {
        return -1;
    }
    m->methods[m->n].name = copy;
    return (int)m->n++;
}

void co_metrics_observe(co_metrics *m, int method, int grpc_status, int64_t duration_us)
{
    if (m == NULL || method < 0 || (size_t)method >= m->n) {
        return;
    }
    method_stats *s = &m->methods[method];
    if (grpc_status < 0 || grpc_status >= CO_METRICS_CODES) {
        grpc_status = GRPC_STATUS_UNKNOWN;
    }
    atomic_fetch_add_explicit(&s->calls[grpc_status], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < CO_METRICS_BUCKETS && duration_us > bucket_us[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, (uint_fast64_t)(duration_us < 0 ? 0 : duration_us),
                              memory_order_relaxed);
}

void co_metrics_inflight(co_metrics *m, int delta)
{
    if (m != NULL) {
        atomic_fetch_add_explicit(&m->inflight, delta, memory_order_relaxed);
    }
}

/* A growable text buffer; on OOM it turns into NULL and stays so. */
typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(buf *b, const char *fmt, ...)
{
    if (b->p == NULL) {
        return;
    }
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            free(b->p);
            b->p = NULL;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) {
        return -1;
    }
    long pages = 0, rss = 0;
    int n = fscanf(f, "%ld %ld", &pages, &rss);
    fclose(f);
    return n == 2 ? rss * 4096L : -1;
}

char *co_metrics_render(co_metrics *m)
{
    buf b = {malloc(4096), 0, 4096};
    bprintf(&b, "# HELP coalition_grpc_calls_total Finished gRPC calls by method and status.\n");
    bprintf(&b, "# TYPE coalition_grpc_calls_total counter\n");
    for (size_t i = 0; i < m->n; i++) {
        for (int c = 0; c < CO_METRICS_CODES; c++) {
            uint_fast64_t v = atomic_load_explicit(&m->methods[i].calls[c], memory_order_relaxed);
            if (v != 0) {
                bprintf(&b,
                        "coalition_grpc_calls_total{service=\"%s\",method=\"%s\",code=\"%s\"} "
                        "%llu\n",
                        m->service, m->methods[i].name, co_grpc_status_name((grpc_status_code)c),
                        (unsigned long long)v);
            }
        }
    }
    bprintf(&b, "# HELP coalition_grpc_call_duration_seconds Latency of gRPC calls.\n");
    bprintf(&b, "# TYPE coalition_grpc_call_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n; i++) {
        method_stats *s = &m->methods[i];
        uint_fast64_t cum = 0;
        for (size_t k = 0; k <= CO_METRICS_BUCKETS; k++) {
            cum += atomic_load_explicit(&s->buckets[k], memory_order_relaxed);
            if (k < CO_METRICS_BUCKETS) {
                bprintf(&b,
                        "coalition_grpc_call_duration_seconds_bucket{service=\"%s\",method=\"%s\","
                        "le=\"%g\"} %llu\n",
                        m->service, s->name, (double)bucket_us[k] / 1e6, (unsigned long long)cum);
            } else {
                bprintf(&b,
                        "coalition_grpc_call_duration_seconds_bucket{service=\"%s\",method=\"%s\","
                        "le=\"+Inf\"} %llu\n",
                        m->service, s->name, (unsigned long long)cum);
            }
        }
        bprintf(&b, "coalition_grpc_call_duration_seconds_sum{service=\"%s\",method=\"%s\"} %.6f\n",
                m->service, s->name,
                (double)atomic_load_explicit(&s->sum_us, memory_order_relaxed) / 1e6);
        bprintf(&b,
                "coalition_grpc_call_duration_seconds_count{service=\"%s\",method=\"%s\"} %llu\n",
                m->service, s->name, (unsigned long long)cum);
    }
    bprintf(&b, "# HELP coalition_grpc_calls_in_flight Calls accepted and not yet finished.\n");
    bprintf(&b, "# TYPE coalition_grpc_calls_in_flight gauge\n");
    bprintf(&b, "coalition_grpc_calls_in_flight{service=\"%s\"} %d\n", m->service,
            atomic_load(&m->inflight));
    bprintf(&b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
    bprintf(&b, "# TYPE process_resident_memory_bytes gauge\n");
    bprintf(&b, "process_resident_memory_bytes %ld\n", rss_bytes());
    return b.p;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    co_metrics *m = cls;
    struct MHD_Response *resp;
    unsigned int code;
    if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
        static char notfound[] = "not found\n";
        resp =
            MHD_create_response_from_buffer(sizeof notfound - 1, notfound, MHD_RESPMEM_PERSISTENT);
        code = MHD_HTTP_NOT_FOUND;
    } else {
        char *text = co_metrics_render(m);
        if (text == NULL) {
            return MHD_NO;
        }
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
            free(text);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
        code = MHD_HTTP_OK;
    }
    if (resp == NULL) {
        return MHD_NO;
    }
    enum MHD_Result r = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return r;
}

co_err co_metrics_start(co_metrics *m, const char *addr, char *err, size_t errlen)
{
    if (addr == NULL || addr[0] == '\0') {
        return CO_OK;
    }
    char host[256];
    int port;
    if (!co_config_split_addr(addr, host, sizeof host, &port)) {
        snprintf(err, errlen, "invalid metrics address \"%s\"", addr);
        return CO_ERR_INVALID_ARGUMENT;
    }
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof host, "127.0.0.1");
    }
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        snprintf(err, errlen, "invalid metrics address \"%s\": expected an IPv4 address", addr);
        return CO_ERR_INVALID_ARGUMENT;
    }
    m->httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
                                NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
                                (struct sockaddr *)&sin, MHD_OPTION_CONNECTION_LIMIT, 64u,
                                MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (m->httpd == NULL) {
        snprintf(err, errlen, "could not listen for metrics on \"%s\"", addr);
        return CO_ERR_UNAVAILABLE;
    }
    return CO_OK;
}
