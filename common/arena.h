/* SPDX-License-Identifier: Apache-2.0 */
/* A bump allocator whose memory lives until the arena is released: one per RPC. */
#ifndef CO_ARENA_H
#define CO_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/*
 * An arena hands out memory that is freed all at once by co_arena_release(). Nothing is freed
 * piecemeal. Not thread-safe: an arena belongs to one call (or one thread) at a time.
 * The struct is public so that it can be embedded; its fields are private.
 */
typedef struct co_arena_chunk co_arena_chunk;
typedef struct co_arena {
    co_arena_chunk *head;
    size_t used_total;
    size_t limit;
    ProtobufCAllocator pb;
} co_arena;

/* Prepares an empty arena that will hold at most limit bytes (0 = unlimited). */
void co_arena_init(co_arena *a, size_t limit);

/* Frees everything allocated from a; a may be reused after another co_arena_init. */
void co_arena_release(co_arena *a);

/* size bytes aligned for any type, or NULL when out of memory or over the limit. */
void *co_arena_alloc(co_arena *a, size_t size);

/* Like co_arena_alloc, zero-filled; NULL on overflow of n * size. */
void *co_arena_calloc(co_arena *a, size_t n, size_t size);

/* A copy of s (NULL if s is NULL or out of memory). */
char *co_arena_strdup(co_arena *a, const char *s);

/* A copy of the first n bytes of s, NUL-terminated. */
char *co_arena_strndup(co_arena *a, const char *s, size_t n);

/* printf into arena memory; NULL on failure. */
char *co_arena_printf(co_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *co_arena_vprintf(co_arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* A protobuf-c allocator backed by a: unpacked messages live as long as the arena and must not
 * be passed to protobuf_c_message_free_unpacked (whose frees are no-ops anyway). */
ProtobufCAllocator *co_arena_pb(co_arena *a);

/* Bytes handed out so far. */
size_t co_arena_used(const co_arena *a);

#endif
