/* SPDX-License-Identifier: Apache-2.0 */
/* The audit hash of a transfer and the transfer ids callers see. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "pts.h"

static void put_bytes(EVP_MD_CTX *ctx, const void *p, size_t n)
{
    uint8_t len[8];
    for (int i = 0; i < 8; i++) {
        len[i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    EVP_DigestUpdate(ctx, len, sizeof len);
    EVP_DigestUpdate(ctx, p, n);
}

static void put_str(EVP_MD_CTX *ctx, const char *s)
{
    put_bytes(ctx, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static void put_i64(EVP_MD_CTX *ctx, int64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    }
    put_bytes(ctx, b, sizeof b);
}

void pts_xfer_hash(const uint8_t prev[32], const pts_xfer_view *x, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        abort(); /* out of memory in OpenSSL: nothing sensible to hash */
    }
    EVP_DigestUpdate(ctx, "coalition.transfer.v1", 21);
    EVP_DigestUpdate(ctx, prev, 32);
    put_str(ctx, x->program);
    put_i64(ctx, x->seq);
    put_i64(ctx, x->id);
    put_i64(ctx, x->kind);
    put_str(ctx, x->debit);
    put_str(ctx, x->credit);
    put_i64(ctx, x->points);
    put_str(ctx, x->partner_id);
    put_str(ctx, x->request_id);
    put_str(ctx, x->member_id);
    put_i64(ctx, x->balance_after);
    put_i64(ctx, x->corrects_id);
    put_str(ctx, x->hold_id);
    put_i64(ctx, x->has_purchase ? 1 : 0);
    put_i64(ctx, x->purchase_micros);
    put_str(ctx, x->currency);
    put_str(ctx, x->campaign_id);
    put_str(ctx, x->reason);
    put_i64(ctx, x->program_version);
    put_i64(ctx, x->create_us);
    put_i64(ctx, (int64_t)x->nmeta);
    for (size_t i = 0; i < 2 * x->nmeta; i++) {
        put_str(ctx, x->meta[i]);
    }
    EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
}

void pts_hex(const uint8_t *b, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int nibble(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

size_t pts_unhex(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    while (n < max && s[2 * n] != '\0' && s[2 * n + 1] != '\0') {
        int hi = nibble(s[2 * n]), lo = nibble(s[2 * n + 1]);
        if (hi < 0 || lo < 0) {
            break;
        }
        out[n++] = (uint8_t)(hi << 4 | lo);
    }
    return n;
}

void pts_transfer_id(int64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "tr-%" PRId64, id);
}

bool pts_transfer_id_parse(const char *s, int64_t *id)
{
    if (strncmp(s, "tr-", 3) != 0 || s[3] < '1' || s[3] > '9' || strlen(s) > 3 + 18) {
        return false;
    }
    int64_t v = 0;
    for (const char *p = s + 3; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        v = v * 10 + (*p - '0');
    }
    *id = v;
    return true;
}

/* Statements are prepared per connection and known by address: one registry entry per name. */
#define PTS_MAX_STMTS 96
static co_pg_stmt stmts[PTS_MAX_STMTS];
static size_t nstmts;
static pthread_mutex_t stmts_mu = PTHREAD_MUTEX_INITIALIZER;

const co_pg_stmt *pts_stmt(const char *name, const char *sql, int nparams)
{
    pthread_mutex_lock(&stmts_mu);
    const co_pg_stmt *found = NULL;
    for (size_t i = 0; i < nstmts && found == NULL; i++) {
        if (strcmp(stmts[i].name, name) == 0) {
            found = &stmts[i];
        }
    }
    if (found == NULL && nstmts < PTS_MAX_STMTS) {
        stmts[nstmts] = (co_pg_stmt){name, sql, nparams};
        found = &stmts[nstmts++];
    }
    pthread_mutex_unlock(&stmts_mu);
    if (found == NULL) {
        abort(); /* a programming error: raise PTS_MAX_STMTS */
    }
    return found;
}
