/* SPDX-License-Identifier: Apache-2.0 */
/* Chunked bump allocator with a byte limit, and its protobuf-c allocator face. */
#include "arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CO_ARENA_ALIGN      16
#define CO_ARENA_CHUNK_SIZE 8192

struct co_arena_chunk {
    co_arena_chunk *next;
    size_t cap;
    size_t used;
    _Alignas(CO_ARENA_ALIGN) unsigned char data[];
};

static void *pb_alloc(void *ud, size_t size)
{
    return co_arena_alloc(ud, size);
}

static void pb_free(void *ud, void *ptr)
{
    (void)ud;
    (void)ptr;
}

void co_arena_init(co_arena *a, size_t limit)
{
    a->head = NULL;
    a->used_total = 0;
    a->limit = limit;
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
}

void co_arena_release(co_arena *a)
{
    co_arena_chunk *c = a->head;
    while (c != NULL) {
        co_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

void *co_arena_alloc(co_arena *a, size_t size)
{
    if (size == 0) {
        size = 1;
    }
    if (size > SIZE_MAX / 2) {
        return NULL;
    }
    size_t rounded = (size + CO_ARENA_ALIGN - 1) & ~(size_t)(CO_ARENA_ALIGN - 1);
    if (a->limit != 0 && (rounded > a->limit || a->used_total > a->limit - rounded)) {
        return NULL;
    }
    co_arena_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < rounded) {
        size_t cap = rounded > CO_ARENA_CHUNK_SIZE ? rounded : CO_ARENA_CHUNK_SIZE;
        co_arena_chunk *n = malloc(sizeof *n + cap);
        if (n == NULL) {
            return NULL;
        }
        n->cap = cap;
        n->used = 0;
        if (c != NULL && rounded > CO_ARENA_CHUNK_SIZE) {
            /* A large block gets its own chunk behind the current one, which keeps its space. */
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    void *p = c->data + c->used;
    c->used += rounded;
    a->used_total += rounded;
    return p;
}

void *co_arena_calloc(co_arena *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) {
        return NULL;
    }
    void *p = co_arena_alloc(a, n * size);
    if (p != NULL) {
        memset(p, 0, n * size);
    }
    return p;
}

char *co_arena_strndup(co_arena *a, const char *s, size_t n)
{
    if (s == NULL) {
        return NULL;
    }
    char *p = co_arena_alloc(a, n + 1);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *co_arena_strdup(co_arena *a, const char *s)
{
    if (s == NULL) {
        return NULL;
    }
    return co_arena_strndup(a, s, strlen(s));
}

char *co_arena_vprintf(co_arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return NULL;
    }
    char *p = co_arena_alloc(a, (size_t)n + 1);
    if (p == NULL) {
        return NULL;
    }
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *co_arena_printf(co_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = co_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

ProtobufCAllocator *co_arena_pb(co_arena *a)
{
    return &a->pb;
}

size_t co_arena_used(const co_arena *a)
{
    return a->used_total;
}
