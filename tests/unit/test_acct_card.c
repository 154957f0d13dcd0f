/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of card numbers (Luhn check digit, normalization, generation) and QR tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "card.h"

static void test_card_luhn_known_numbers_are_valid(void **state)
{
    (void)state;
    assert_true(acct_card_valid("4111111111111111"));
    assert_true(acct_card_valid("5555555555554444"));
    assert_true(acct_card_valid("6011111111111117"));
    assert_int_equal(acct_card_luhn_digit("7992739871", 10), '3');
}

static void test_card_wrong_check_digit_is_invalid(void **state)
{
    (void)state;
    assert_false(acct_card_valid("4111111111111112"));
    assert_false(acct_card_valid("5555555555554440"));
}

static void test_card_every_single_digit_error_is_detected(void **state)
{
    (void)state;
    char card[ACCT_CARD_DIGITS + 1];
    assert_int_equal(acct_card_generate(card), CO_OK);
    for (size_t i = 0; i < ACCT_CARD_DIGITS; i++) {
        for (char d = '0'; d <= '9'; d++) {
            if (d == card[i]) {
                continue;
            }
            char bad[ACCT_CARD_DIGITS + 1];
            memcpy(bad, card, sizeof bad);
            bad[i] = d;
            assert_false(acct_card_valid(bad));
        }
    }
}

static void test_card_wrong_length_or_characters_is_invalid(void **state)
{
    (void)state;
    assert_false(acct_card_valid(""));
    assert_false(acct_card_valid("411111111111111"));   /* 15 digits */
    assert_false(acct_card_valid("41111111111111111")); /* 17 digits */
    assert_false(acct_card_valid("411111111111111a"));
    assert_false(acct_card_valid("4111 1111 1111 1111"));
    assert_false(acct_card_valid("-111111111111111"));
}

static void test_card_normalize_drops_spaces_only(void **state)
{
    (void)state;
    char out[ACCT_CARD_DIGITS + 1] = "untouched";
    assert_true(acct_card_normalize(" 4111 1111 1111 1111 ", out));
    assert_string_equal(out, "4111111111111111");
    char keep[ACCT_CARD_DIGITS + 1] = "untouched";
    assert_false(acct_card_normalize("4111-1111-1111-1111", keep));
    assert_string_equal(keep, "untouched");
    assert_false(acct_card_normalize("4111 1111 1111 1112", keep));
    assert_false(acct_card_normalize("4111 1111 1111 1111 1", keep));
    assert_string_equal(keep, "untouched");
}

static void test_card_generated_numbers_have_prefix_and_check_digit(void **state)
{
    (void)state;
    char prev[ACCT_CARD_DIGITS + 1] = "";
    int same = 0;
    for (int i = 0; i < 1000; i++) {
        char card[ACCT_CARD_DIGITS + 1];
        assert_int_equal(acct_card_generate(card), CO_OK);
        assert_int_equal(strlen(card), ACCT_CARD_DIGITS);
        assert_memory_equal(card, ACCT_CARD_PREFIX, strlen(ACCT_CARD_PREFIX));
        assert_true(acct_card_valid(card));
        same += strcmp(card, prev) == 0;
        memcpy(prev, card, sizeof card);
    }
    assert_int_equal(same, 0);
}

static void test_qr_tokens_are_url_safe_and_distinct(void **state)
{
    (void)state;
    char a[ACCT_QR_CHARS + 1], b[ACCT_QR_CHARS + 1];
    assert_int_equal(acct_qr_generate(a), CO_OK);
    assert_int_equal(acct_qr_generate(b), CO_OK);
    assert_int_equal(strlen(a), ACCT_QR_CHARS);
    assert_string_not_equal(a, b);
    for (size_t i = 0; i < ACCT_QR_CHARS; i++) {
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_card_luhn_known_numbers_are_valid),
        cmocka_unit_test(test_card_wrong_check_digit_is_invalid),
        cmocka_unit_test(test_card_every_single_digit_error_is_detected),
        cmocka_unit_test(test_card_wrong_length_or_characters_is_invalid),
        cmocka_unit_test(test_card_normalize_drops_spaces_only),
        cmocka_unit_test(test_card_generated_numbers_have_prefix_and_check_digit),
        cmocka_unit_test(test_qr_tokens_are_url_safe_and_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
