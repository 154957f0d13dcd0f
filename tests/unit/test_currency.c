/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the ISO 4217 table: known codes, their minor units and what is not a code. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include "currency.h"

/* ISO 4217 active codes with their minor units (funds codes and precious metals left out). */
static const struct {
    const char *code;
    int minor;
} iso_codes[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2},
    {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0},
    {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2},
    {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHF", 2}, {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"CRC", 2},
    {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2},
    {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2},
    {"GIP", 2}, {"GMD", 2}, {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2},
    {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2},
    {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0},
    {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2},
    {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2}, {"MOP", 2},
    {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2},
    {"NGN", 2}, {"NIO", 2}, {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2},
    {"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2},
    {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2},
    {"SHP", 2}, {"SLE", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2},
    {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2},
    {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"UYU", 2}, {"UZS", 2}, {"VES", 2},
    {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0}, {"XCD", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2},
    {"ZAR", 2}, {"ZMW", 2}, {"ZWL", 2},
};
#define NISO (sizeof iso_codes / sizeof iso_codes[0])

static void test_currency_minor_units_of_common_codes(void **state)
{
    (void)state;
    assert_int_equal(co_currency_minor_units("EUR"), 2);
    assert_int_equal(co_currency_minor_units("USD"), 2);
    assert_int_equal(co_currency_minor_units("GBP"), 2);
    assert_int_equal(co_currency_minor_units("JPY"), 0);
    assert_int_equal(co_currency_minor_units("BHD"), 3);
}

static void test_currency_minor_units_of_every_active_code(void **state)
{
    (void)state;
    /* Every code must be found, so a table out of order for bsearch shows up too. */
    for (size_t i = 0; i < NISO; i++) {
        int got = co_currency_minor_units(iso_codes[i].code);
        if (got != iso_codes[i].minor) {
            fail_msg("%s has %d minor units, expected %d", iso_codes[i].code, got,
                     iso_codes[i].minor);
        }
        assert_true(co_currency_valid(iso_codes[i].code));
    }
}

static void test_currency_unknown_codes_return_minus_one(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "XXX",  "eur",  "Eur", "EU",  "E",   "",    "EURO",
        "EUR ", " EUR", "E1R", "XAU", "XDR", "ZZZ", "AAA",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (co_currency_minor_units(bad[i]) != -1) {
            fail_msg("\"%s\" is known with %d minor units", bad[i],
                     co_currency_minor_units(bad[i]));
        }
        assert_false(co_currency_valid(bad[i]));
    }
}

static void test_currency_null_returns_minus_one(void **state)
{
    (void)state;
    assert_int_equal(co_currency_minor_units(NULL), -1);
    assert_false(co_currency_valid(NULL));
}

static void test_currency_only_listed_codes_are_known(void **state)
{
    (void)state;
    char code[4] = {0};
    int known = 0;
    for (char x = 'A'; x <= 'Z'; x++) {
        for (char y = 'A'; y <= 'Z'; y++) {
            for (char z = 'A'; z <= 'Z'; z++) {
                code[0] = x;
                code[1] = y;
                code[2] = z;
                int m = co_currency_minor_units(code);
                assert_true(m == -1 || m == 0 || m == 2 || m == 3);
                assert_int_equal(co_currency_valid(code), m >= 0);
                known += m >= 0;
            }
        }
    }
    /* No other three-letter code is known. */
    assert_int_equal(known, NISO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_currency_minor_units_of_common_codes),
        cmocka_unit_test(test_currency_minor_units_of_every_active_code),
        cmocka_unit_test(test_currency_unknown_codes_return_minus_one),
        cmocka_unit_test(test_currency_null_returns_minus_one),
        cmocka_unit_test(test_currency_only_listed_codes_are_known),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
