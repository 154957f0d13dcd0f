/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of request id validation for idempotent mutations (no database). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "idem.h"

/* n copies of c in a static buffer. */
static const char *repeat(char c, size_t n)
{
    static char buf[256];
    assert_true(n < sizeof buf);
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static void test_request_id_valid_table(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"a", true},
        {"req-1", true},
        {"550e8400-e29b-41d4-a716-446655440000", true},
        {"2024-01-01T00:00:00Z/order#42?x=1&y=~!", true},
        {"!", true},
        {"~", true},
        {"", false},
        {" ", false},
        {"req 1", false},
        {" req", false},
        {"req ", false},
        {"req\t1", false},
        {"req\n", false},
        {"req\r", false},
        {"\x01", false},
        {"\x1f", false},
        {"req\x7f", false},
        {"caf\xc3\xa9", false},
        {"\xff", false},
        {"\x80", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = co_request_id_valid(cases[i].s);
        if (got != cases[i].ok) {
            fail_msg("co_request_id_valid(\"%s\") = %d, expected %d", cases[i].s, got, cases[i].ok);
        }
    }
}

static void test_request_id_valid_128_chars_ok_129_too_long(void **state)
{
    (void)state;
    assert_true(co_request_id_valid(repeat('r', 1)));
    assert_true(co_request_id_valid(repeat('r', 127)));
    assert_true(co_request_id_valid(repeat('r', 128)));
    assert_false(co_request_id_valid(repeat('r', 129)));
    assert_false(co_request_id_valid(repeat('r', 200)));
}

static void test_request_id_valid_every_printable_ascii_char(void **state)
{
    (void)state;
    for (int c = 0x21; c <= 0x7e; c++) {
        char s[2] = {(char)c, '\0'};
        if (!co_request_id_valid(s)) {
            fail_msg("printable 0x%02x was rejected", c);
        }
    }
}

static void test_request_id_valid_rejects_every_control_and_high_byte(void **state)
{
    (void)state;
    for (int c = 0x01; c <= 0xff; c++) {
        if (c >= 0x21 && c <= 0x7e) {
            continue;
        }
        char s[4] = {'a', (char)c, 'b', '\0'};
        if (co_request_id_valid(s)) {
            fail_msg("byte 0x%02x was accepted", c);
        }
    }
}

static void test_request_id_valid_128_chars_with_a_space_is_rejected(void **state)
{
    (void)state;
    char s[129];
    memset(s, 'k', 128);
    s[128] = '\0';
    s[127] = ' ';
    assert_false(co_request_id_valid(s));
    s[127] = 'k';
    assert_true(co_request_id_valid(s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_id_valid_table),
        cmocka_unit_test(test_request_id_valid_128_chars_ok_129_too_long),
        cmocka_unit_test(test_request_id_valid_every_printable_ascii_char),
        cmocka_unit_test(test_request_id_valid_rejects_every_control_and_high_byte),
        cmocka_unit_test(test_request_id_valid_128_chars_with_a_space_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
