/* SPDX-License-Identifier: Apache-2.0 */
/* Field validation, page tokens and timestamps shared by every service. */
#include "api.h"

#include <string.h>

size_t co_utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

bool co_email_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 254) {
        return false;
    }
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || strchr(at + 1, '@') != NULL || (size_t)(at - s) > 64) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            return false;
        }
    }
    const char *dom = at + 1;
    const char *dot = strrchr(dom, '.');
    return dot != NULL && dot != dom && dot[1] != '\0' && dom[0] != '.';
}

bool co_e164_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 8 || n > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9') {
        return false;
    }
    for (size_t i = 2; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static const char hexd[] = "0123456789abcdef";

char *co_page_token_make(co_arena *a, const char *scope, const char *cursor)
{
    size_t sl = strlen(scope), cl = strlen(cursor);
    size_t n = sl + 1 + cl;
    char *out = co_arena_alloc(a, 2 * n + 1);
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c =
            i < sl ? (unsigned char)scope[i] : (i == sl ? 0x1f : (unsigned char)cursor[i - sl - 1]);
        out[2 * i] = hexd[c >> 4];
        out[2 * i + 1] = hexd[c & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

bool co_page_token_parse(co_arena *a, const char *token, const char *scope, const char **cursor)
{
    size_t tl = strlen(token);
    if (tl == 0 || tl % 2 != 0 || tl > 2048) {
        return false;
    }
    size_t n = tl / 2;
    char *raw = co_arena_alloc(a, n + 1);
    if (raw == NULL) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = unhex(token[2 * i]), lo = unhex(token[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        raw[i] = (char)(hi << 4 | lo);
        if (raw[i] == '\0') {
            return false;
        }
    }
    raw[n] = '\0';
    size_t sl = strlen(scope);
    if (n < sl + 1 || memcmp(raw, scope, sl) != 0 || raw[sl] != 0x1f) {
        return false;
    }
    *cursor = raw + sl + 1;
    return true;
}

bool co_page_size(int32_t page_size, int32_t def, int32_t max, int32_t *out)
{
    if (page_size == 0) {
        *out = def;
        return true;
    }
    if (page_size < 1 || page_size > max) {
        return false;
    }
    *out = page_size;
    return true;
}

Google__Protobuf__Timestamp *co_timestamp(co_arena *a, int64_t unix_us)
{
    Google__Protobuf__Timestamp *t = co_arena_alloc(a, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    google__protobuf__timestamp__init(t);
    int64_t s = unix_us / 1000000, us = unix_us % 1000000;
    if (us < 0) {
        us += 1000000;
        s -= 1;
    }
    t->seconds = s;
    t->nanos = (int32_t)(us * 1000);
    return t;
}
