/* SPDX-License-Identifier: Apache-2.0 */
/* AES-256-GCM sealing, HMAC-SHA256 lookup hashes and HKDF key derivation on OpenSSL 3 EVP. */
#include "crypto.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define SEAL_VERSION 1
#define NONCE_BYTES  12
#define TAG_BYTES    16

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool acct_key_parse_hex(const char *hex, uint8_t out[ACCT_KEY_BYTES])
{
    if (hex == NULL || strlen(hex) != 2 * ACCT_KEY_BYTES) {
        return false;
    }
    uint8_t k[ACCT_KEY_BYTES];
    for (size_t i = 0; i < ACCT_KEY_BYTES; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(k, sizeof k);
            return false;
        }
        k[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, k, sizeof k);
    OPENSSL_cleanse(k, sizeof k);
    return true;
}

/* HKDF-SHA256(master, salt, info) into out (32 bytes). */
static co_err hkdf(const uint8_t master[ACCT_KEY_BYTES], const char *info, uint8_t *out)
{
    co_err rc = CO_ERR_INTERNAL;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    if (ctx == NULL) {
        goto out_kdf;
    }
    static const char salt[] = "coalition-accounts";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)master, ACCT_KEY_BYTES),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, sizeof salt - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_KDF_derive(ctx, out, ACCT_KEY_BYTES, params) == 1) {
        rc = CO_OK;
    }
    EVP_KDF_CTX_free(ctx);
out_kdf:
    EVP_KDF_free(kdf);
    return rc;
}

co_err acct_keys_derive(const uint8_t master[ACCT_KEY_BYTES], acct_keys *out)
{
    acct_keys k = {0};
    if (hkdf(master, "aes-256-gcm personal data v1", k.enc) != CO_OK ||
        hkdf(master, "hmac-sha256 lookup v1", k.mac) != CO_OK) {
        OPENSSL_cleanse(&k, sizeof k);
        return CO_ERR_INTERNAL;
    }
    *out = k;
    OPENSSL_cleanse(&k, sizeof k);
    return CO_OK;
}

co_err acct_random(uint8_t *out, size_t n)
{
    return RAND_bytes(out, (int)n) == 1 ? CO_OK : CO_ERR_INTERNAL;
}

/* Feeds column || 0x00 || member_id as associated data. */
static bool add_ad(EVP_CIPHER_CTX *ctx, const char *column, const char *member_id, bool enc)
{
    int len;
    static const uint8_t zero = 0;
    int (*upd)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int) =
        enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;
    return upd(ctx, NULL, &len, (const uint8_t *)column, (int)strlen(column)) == 1 &&
           upd(ctx, NULL, &len, &zero, 1) == 1 &&
           upd(ctx, NULL, &len, (const uint8_t *)member_id, (int)strlen(member_id)) == 1;
}

co_err acct_seal(const acct_keys *k, const char *column, const char *member_id, const uint8_t *pt,
                 size_t n, co_arena *a, uint8_t **out, size_t *outlen)
{
    if (n > (1u << 20)) {
        return CO_ERR_INVALID_ARGUMENT;
    }
    uint8_t *buf = co_arena_alloc(a, n + ACCT_SEAL_OVERHEAD);
    if (buf == NULL) {
        return CO_ERR_NOMEM;
    }
    buf[0] = SEAL_VERSION;
    uint8_t *nonce = buf + 1, *ct = buf + 1 + NONCE_BYTES, *tag = ct + n;
    if (acct_random(nonce, NONCE_BYTES) != CO_OK) {
        return CO_ERR_INTERNAL;
    }
    co_err rc = CO_ERR_INTERNAL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return CO_ERR_NOMEM;
    }
    int len = 0, fin = 0;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->enc, nonce) != 1 ||
        !add_ad(ctx, column, member_id, true) ||
        (n > 0 && EVP_EncryptUpdate(ctx, ct, &len, pt, (int)n) != 1) ||
        EVP_EncryptFinal_ex(ctx, ct + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, tag) != 1) {
        goto out_ctx;
    }
    *out = buf;
    *outlen = n + ACCT_SEAL_OVERHEAD;
    rc = CO_OK;
out_ctx:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

co_err acct_open(const acct_keys *k, const char *column, const char *member_id, const uint8_t *ct,
                 size_t n, co_arena *a, uint8_t **pt, size_t *ptlen)
{
    if (n < ACCT_SEAL_OVERHEAD || ct[0] != SEAL_VERSION) {
        return CO_ERR_INTERNAL;
    }
    size_t m = n - ACCT_SEAL_OVERHEAD;
    const uint8_t *nonce = ct + 1, *body = ct + 1 + NONCE_BYTES, *tag = body + m;
    uint8_t *buf = co_arena_alloc(a, m + 1);
    if (buf == NULL) {
        return CO_ERR_NOMEM;
    }
    co_err rc = CO_ERR_INTERNAL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return CO_ERR_NOMEM;
    }
    int len = 0, fin = 0;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->enc, nonce) != 1 ||
        !add_ad(ctx, column, member_id, false) ||
        (m > 0 && EVP_DecryptUpdate(ctx, buf, &len, body, (int)m) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, (void *)tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, buf + len, &fin) != 1) {
        goto out_ctx;
    }
    buf[m] = '\0';
    *pt = buf;
    *ptlen = m;
    rc = CO_OK;
out_ctx:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

co_err acct_lookup_hash(const acct_keys *k, const char *kind, const char *value,
                        uint8_t out[ACCT_HASH_BYTES])
{
    co_err rc = CO_ERR_INTERNAL;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    if (ctx == NULL) {
        goto out_mac;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    static const uint8_t zero = 0;
    size_t len = 0;
    if (EVP_MAC_init(ctx, k->mac, ACCT_KEY_BYTES, params) != 1 ||
        EVP_MAC_update(ctx, (const uint8_t *)kind, strlen(kind)) != 1 ||
        EVP_MAC_update(ctx, &zero, 1) != 1 ||
        EVP_MAC_update(ctx, (const uint8_t *)value, strlen(value)) != 1 ||
        EVP_MAC_final(ctx, out, &len, ACCT_HASH_BYTES) != 1 || len != ACCT_HASH_BYTES) {
        goto out_ctx;
    }
    rc = CO_OK;
out_ctx:
    EVP_MAC_CTX_free(ctx);
out_mac:
    EVP_MAC_free(mac);
    return rc;
}
