/* SPDX-License-Identifier: Apache-2.0 */
/* Encryption of personal data at rest (AES-256-GCM) and keyed lookup hashes (HMAC-SHA256). */
#ifndef ACCT_CRYPTO_H
#define ACCT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"

/* Bytes of the master key and of each derived key. */
#define ACCT_KEY_BYTES 32
/* Bytes of a lookup hash. */
#define ACCT_HASH_BYTES 32
/* A sealed value: version (1) || nonce (12) || ciphertext || tag (16). */
#define ACCT_SEAL_OVERHEAD (1 + 12 + 16)

/* The two keys derived from the master key: plain data, immutable after acct_keys_derive. */
typedef struct acct_keys {
    uint8_t enc[ACCT_KEY_BYTES]; /* AES-256-GCM */
    uint8_t mac[ACCT_KEY_BYTES]; /* HMAC-SHA256 lookup hashes */
} acct_keys;

/* Parses exactly 64 hexadecimal characters into out; false (out untouched) otherwise. */
bool acct_key_parse_hex(const char *hex, uint8_t out[ACCT_KEY_BYTES]);

/* Derives the encryption and lookup keys from the master key with HKDF-SHA256 (distinct info
 * strings). CO_ERR_INTERNAL if OpenSSL fails. Thread-safe. */
co_err acct_keys_derive(const uint8_t master[ACCT_KEY_BYTES], acct_keys *out);

/*
 * Encrypts n bytes of pt with a fresh random 96-bit nonce; the associated data binds the value
 * to its column and member ("phone", "m…"), so a value copied to another row or column does
 * not open. *out (arena memory) is n + ACCT_SEAL_OVERHEAD bytes. Thread-safe.
 */
co_err acct_seal(const acct_keys *k, const char *column, const char *member_id, const uint8_t *pt,
                 size_t n, co_arena *a, uint8_t **out, size_t *outlen);

/* Opens what acct_seal produced for the same column and member. CO_ERR_INTERNAL if the value
 * was tampered with, belongs elsewhere or was sealed under another key; *pt (arena memory,
 * NUL-terminated for convenience) and *n are written only on success. Thread-safe. */
co_err acct_open(const acct_keys *k, const char *column, const char *member_id, const uint8_t *ct,
                 size_t n, co_arena *a, uint8_t **pt, size_t *ptlen);

/* The keyed hash under which an identifier of kind ("phone", "email", "card", "qr") with the
 * normalized value is looked up. Stable for a given key. Thread-safe. */
co_err acct_lookup_hash(const acct_keys *k, const char *kind, const char *value,
                        uint8_t out[ACCT_HASH_BYTES]);

/* n cryptographically random bytes; CO_ERR_INTERNAL if the generator fails. */
co_err acct_random(uint8_t *out, size_t n);

#endif
