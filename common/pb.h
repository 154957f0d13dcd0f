/* SPDX-License-Identifier: Apache-2.0 */
/* protobuf-c helpers: byte buffers in and out, UTF-8 checks, content hashes. */
#ifndef CO_PB_H
#define CO_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>

#include "arena.h"

/* Packs m into a new byte buffer the caller owns; NULL on out of memory. */
grpc_byte_buffer *co_pb_to_bb(const ProtobufCMessage *m);

/* Copies the bytes of bb into arena memory; writes *len. NULL when bb is larger than max or on
 * a read failure (e.g. bad compression). A NULL bb gives an empty buffer. */
uint8_t *co_pb_bb_bytes(grpc_byte_buffer *bb, co_arena *a, size_t max, size_t *len);

/* Packs m into arena memory; writes *len. */
uint8_t *co_pb_pack(const ProtobufCMessage *m, co_arena *a, size_t *len);

/*
 * True if every string field of m (recursively, set oneof members only) is valid UTF-8 without
 * NUL bytes. Otherwise false and *bad names the first offending field ("contact.email").
 * The name is written into arena memory.
 */
bool co_pb_strings_valid(const ProtobufCMessage *m, co_arena *a, const char **bad);

/*
 * Like co_pb_strings_valid, but reads the wire bytes of a message of type d, so that a NUL byte
 * inside a string (which unpacked C strings silently cut off) is caught too. Call it on bytes
 * that unpacked successfully.
 */
bool co_pb_wire_strings_valid(const ProtobufCMessageDescriptor *d, const uint8_t *bytes, size_t len,
                              co_arena *a, const char **bad);

/* SHA-256 of the canonical packing of m (protobuf-c packs in field-number order), so the same
 * content sent by clients in any language hashes the same. */
bool co_pb_hash(const ProtobufCMessage *m, co_arena *a, uint8_t out[32]);

/* True if s is valid UTF-8 of length len with no NUL byte. */
bool co_utf8_valid(const char *s, size_t len);

#endif
