/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for validating public API fields and building common parts of replies. */
#ifndef CO_API_H
#define CO_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "google/protobuf/timestamp.pb-c.h"

/* Number of Unicode code points in valid UTF-8 s. */
size_t co_utf8_chars(const char *s);

/* A plausible e-mail address: at most 254 bytes, one '@', a non-empty local part of at most
 * 64 bytes and a dotted domain, no spaces or control characters. */
bool co_email_valid(const char *s);

/* An E.164 phone number: '+', a non-zero digit, then 6 to 14 digits. */
bool co_e164_valid(const char *s);

/*
 * Page tokens are opaque to callers: the scope (the list's filters) and the cursor (the last
 * key returned), hex-encoded. Parsing a token made for another scope fails, so a caller cannot
 * change filters halfway through a listing.
 */
char *co_page_token_make(co_arena *a, const char *scope, const char *cursor);
bool co_page_token_parse(co_arena *a, const char *token, const char *scope, const char **cursor);

/* page_size 0 means def; otherwise it must be within 1..max. False if out of range. */
bool co_page_size(int32_t page_size, int32_t def, int32_t max, int32_t *out);

/* A Timestamp in arena memory for microseconds since the epoch. */
Google__Protobuf__Timestamp *co_timestamp(co_arena *a, int64_t unix_us);

#endif
