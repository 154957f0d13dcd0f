/* SPDX-License-Identifier: Apache-2.0 */
/* Moves protobuf-c messages across gRPC byte buffers and checks their strings. */
#include "pb.h"

#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <openssl/sha.h>

grpc_byte_buffer *co_pb_to_bb(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

uint8_t *co_pb_bb_bytes(grpc_byte_buffer *bb, co_arena *a, size_t max, size_t *len)
{
    if (bb == NULL) {
        *len = 0;
        return co_arena_alloc(a, 1);
    }
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) {
        return NULL;
    }
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    size_t n = GRPC_SLICE_LENGTH(s);
    uint8_t *out = NULL;
    if (n <= max) {
        out = co_arena_alloc(a, n == 0 ? 1 : n);
        if (out != NULL) {
            memcpy(out, GRPC_SLICE_START_PTR(s), n);
            *len = n;
        }
    }
    grpc_slice_unref(s);
    return out;
}

uint8_t *co_pb_pack(const ProtobufCMessage *m, co_arena *a, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *out = co_arena_alloc(a, n == 0 ? 1 : n);
    if (out == NULL) {
        return NULL;
    }
    protobuf_c_message_pack(m, out);
    *len = n;
    return out;
}

bool co_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c == 0) {
            return false;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

static bool field_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        const uint32_t *which = (const uint32_t *)((const char *)m + f->quantifier_offset);
        return *which == f->id;
    }
    return true;
}

static const char *join(co_arena *a, const char *prefix, const char *name)
{
    if (prefix == NULL) {
        return co_arena_strdup(a, name);
    }
    return co_arena_printf(a, "%s.%s", prefix, name);
}

static bool check(const ProtobufCMessage *m, co_arena *a, const char *prefix, const char **bad,
                  int depth)
{
    if (m == NULL) {
        return true;
    }
    if (depth > 32) {
        *bad = prefix != NULL ? prefix : "request";
        return false;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) {
            continue;
        }
        if (!field_is_set(m, f)) {
            continue;
        }
        const char *base = (const char *)m + f->offset;
        size_t count = 1;
        const void *const *items = (const void *const *)base;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            count = *(const size_t *)((const char *)m + f->quantifier_offset);
            items = *(const void *const *const *)base;
        }
        for (size_t k = 0; k < count; k++) {
            const void *item = items[k];
            if (item == NULL) {
                continue;
            }
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                const char *s = item;
                if (!co_utf8_valid(s, strlen(s))) {
                    *bad = join(a, prefix, f->name);
                    return false;
                }
            } else if (!check(item, a, join(a, prefix, f->name), bad, depth + 1)) {
                return false;
            }
        }
    }
    return true;
}

bool co_pb_strings_valid(const ProtobufCMessage *m, co_arena *a, const char **bad)
{
    return check(m, a, NULL, bad, 0);
}

/* Reads a varint at p[*i..len); false if truncated or longer than 10 bytes. */
static bool varint(const uint8_t *p, size_t len, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70 && *i < len; shift += 7) {
        uint8_t b = p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

static bool wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                       co_arena *a, const char *prefix, const char **bad, int depth)
{
    if (depth > 32) {
        *bad = prefix != NULL ? prefix : "request";
        return false;
    }
    size_t i = 0;
    while (i < len) {
        uint64_t key, n;
        if (!varint(p, len, &i, &key)) {
            *bad = prefix != NULL ? prefix : "request";
            return false;
        }
        switch (key & 7) {
        case 0:
            if (!varint(p, len, &i, &n)) {
                *bad = prefix != NULL ? prefix : "request";
                return false;
            }
            break;
        case 1:
        case 5: {
            size_t w = (key & 7) == 1 ? 8 : 4;
            if (len - i < w) {
                *bad = prefix != NULL ? prefix : "request";
                return false;
            }
            i += w;
            break;
        }
        case 2: {
            if (!varint(p, len, &i, &n) || n > len - i) {
                *bad = prefix != NULL ? prefix : "request";
                return false;
            }
            const ProtobufCFieldDescriptor *f =
                key >> 3 <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
                    : NULL;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
                !co_utf8_valid((const char *)p + i, (size_t)n)) {
                *bad = join(a, prefix, f->name);
                return false;
            }
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                !wire_check(f->descriptor, p + i, (size_t)n, a, join(a, prefix, f->name), bad,
                            depth + 1)) {
                return false;
            }
            i += (size_t)n;
            break;
        }
        default: /* groups and reserved wire types have no place in our API */
            *bad = prefix != NULL ? prefix : "request";
            return false;
        }
    }
    return true;
}

bool co_pb_wire_strings_valid(const ProtobufCMessageDescriptor *d, const uint8_t *bytes, size_t len,
                              co_arena *a, const char **bad)
{
    return wire_check(d, bytes, len, a, NULL, bad, 0);
}

bool co_pb_hash(const ProtobufCMessage *m, co_arena *a, uint8_t out[32])
{
    size_t n;
    uint8_t *bytes = co_pb_pack(m, a, &n);
    if (bytes == NULL) {
        return false;
    }
    SHA256(bytes, n, out);
    return true;
}
