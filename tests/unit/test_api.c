/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of API field validation, page tokens, page sizes and timestamps. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"

/* n copies of c followed by suffix, in buf. */
static const char *repeat(char *buf, size_t cap, char c, size_t n, const char *suffix)
{
    assert_true(n + strlen(suffix) < cap);
    memset(buf, c, n);
    memcpy(buf + n, suffix, strlen(suffix) + 1);
    return buf;
}

static void test_email_valid_accepts_plausible_addresses(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "a@b.co",
        "a@b.c",
        "first.last+tag@example.com",
        "x@sub.domain.example",
        "o'brien@example.ie",
        "user@xn--bcher-kva.example",
        "j\xc3\xb6rg@example.de",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!co_email_valid(ok[i])) {
            fail_msg("\"%s\" was rejected", ok[i]);
        }
    }
}

static void test_email_valid_rejects_malformed_addresses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",          "a",         "ab",          "@example.com", "a@",          "a@b",
        "a@.",       "a@.com",    "a@.b.com",    "a@b.",         "a@b.com.",    "a@@b.com",
        "a@b@c.com", "a b@c.com", "a@b .com",    " a@b.com",     "a@b.com ",    "a\t@b.com",
        "a@b.c\n",   "a@b.c\r",   "a\x7f@b.com", "a\x01@b.com",  "example.com",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (co_email_valid(bad[i])) {
            fail_msg("\"%s\" was accepted", bad[i]);
        }
    }
}

static void test_email_valid_local_part_limit_is_64(void **state)
{
    (void)state;
    char buf[300];
    assert_true(co_email_valid(repeat(buf, sizeof buf, 'l', 64, "@example.com")));
    assert_false(co_email_valid(repeat(buf, sizeof buf, 'l', 65, "@example.com")));
}

static void test_email_valid_total_limit_is_254(void **state)
{
    (void)state;
    char buf[300];
    /* "a@" + 248 letters + ".com" = 254 bytes */
    char domain[260];
    repeat(domain, sizeof domain, 'd', 248, ".com");
    snprintf(buf, sizeof buf, "a@%s", domain);
    assert_int_equal(strlen(buf), 254);
    assert_true(co_email_valid(buf));
    repeat(domain, sizeof domain, 'd', 249, ".com");
    snprintf(buf, sizeof buf, "a@%s", domain);
    assert_int_equal(strlen(buf), 255);
    assert_false(co_email_valid(buf));
}

static void test_e164_valid_table(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"+4930123456", true},
        {"+1234567", true},           /* '+', non-zero digit, 6 digits */
        {"+123456789012345", true},   /* '+', non-zero digit, 14 digits */
        {"+123456", false},           /* only 5 digits after the first */
        {"+1234567890123456", false}, /* 15 digits after the first */
        {"", false},
        {"+", false},
        {"4930123456", false},
        {"004930123456", false},
        {"+0930123456", false},
        {"++4930123456", false},
        {"+49 30123456", false},
        {"+49-30123456", false},
        {"+49301234a6", false},
        {"+4930123456 ", false},
        {" +4930123456", false},
        {"+\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4", false}, /* Arabic-Indic digits */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = co_e164_valid(cases[i].s);
        if (got != cases[i].ok) {
            fail_msg("co_e164_valid(\"%s\") = %d", cases[i].s, got);
        }
    }
}

static void test_utf8_chars_counts_code_points(void **state)
{
    (void)state;
    assert_int_equal(co_utf8_chars(""), 0);
    assert_int_equal(co_utf8_chars("abc"), 3);
    assert_int_equal(co_utf8_chars("\xc3\xa9"), 1);         /* é */
    assert_int_equal(co_utf8_chars("\xe2\x82\xac"), 1);     /* € */
    assert_int_equal(co_utf8_chars("\xf0\x9f\x98\x80"), 1); /* 😀 */
    assert_int_equal(co_utf8_chars("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"), 5);
    assert_int_equal(co_utf8_chars("Stra\xc3\x9f"
                                   "e"),
                     6); /* Straße */
}

static void test_page_token_round_trip(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    const char *scope = "partners|status=2";
    char *tok = co_page_token_make(&a, scope, "acme-coffee");
    assert_non_null(tok);
    const char *cursor = NULL;
    assert_true(co_page_token_parse(&a, tok, scope, &cursor));
    assert_non_null(cursor);
    assert_string_equal(cursor, "acme-coffee");
    co_arena_release(&a);
}

static void test_page_token_is_even_length_lowercase_hex(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char *tok = co_page_token_make(&a, "s", "c");
    assert_non_null(tok);
    size_t n = strlen(tok);
    assert_true(n > 0);
    assert_int_equal(n % 2, 0);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(strchr("0123456789abcdef", tok[i]));
    }
    co_arena_release(&a);
}

static void test_page_token_round_trip_of_unusual_cursors(void **state)
{
    (void)state;
    static const char *const cursors[] = {
        "", "2024-01-01T00:00:00Z|b8f1", "\xc3\xbc/\xc3\x9f:x", "a b\tc", "\x7f\x01",
    };
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof cursors / sizeof cursors[0]; i++) {
        char *tok = co_page_token_make(&a, "rewards|kind=1", cursors[i]);
        assert_non_null(tok);
        const char *cursor = NULL;
        assert_true(co_page_token_parse(&a, tok, "rewards|kind=1", &cursor));
        assert_string_equal(cursor, cursors[i]);
    }
    co_arena_release(&a);
}

static void test_page_token_round_trip_with_empty_scope(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char *tok = co_page_token_make(&a, "", "k");
    assert_non_null(tok);
    const char *cursor = NULL;
    assert_true(co_page_token_parse(&a, tok, "", &cursor));
    assert_string_equal(cursor, "k");
    co_arena_release(&a);
}

static void test_page_token_of_another_scope_is_rejected(void **state)
{
    (void)state;
    static const struct {
        const char *made, *parsed;
    } cases[] = {
        {"partners|status=1", "partners|status=2"},
        {"status=1", "status=10"},
        {"status=10", "status=1"},
        {"", "x"},
        {"x", ""},
        {"programs", "PROGRAMS"},
    };
    co_arena a;
    co_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = co_page_token_make(&a, cases[i].made, "cursor");
        assert_non_null(tok);
        const char *cursor = "untouched";
        if (co_page_token_parse(&a, tok, cases[i].parsed, &cursor)) {
            fail_msg("token of scope \"%s\" parsed for scope \"%s\"", cases[i].made,
                     cases[i].parsed);
        }
        assert_string_equal(cursor, "untouched");
    }
    co_arena_release(&a);
}

static void test_page_token_malformed_is_rejected(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char *good = co_page_token_make(&a, "s", "cur");
    assert_non_null(good);
    size_t n = strlen(good);

    char odd[64];
    assert_true(n < sizeof odd);
    memcpy(odd, good, n - 1);
    odd[n - 1] = '\0';

    /* Non-hex digits in the scope part and in the cursor part (where a lenient decoder would
     * hand back a corrupted cursor). */
    char nonhex[64];
    memcpy(nonhex, good, n + 1);
    nonhex[2] = 'g';

    char nonhex_cursor[64];
    memcpy(nonhex_cursor, good, n + 1);
    nonhex_cursor[n - 1] = 'z';
    nonhex_cursor[n - 2] = 'z';

    char upper_g[64];
    memcpy(upper_g, good, n + 1);
    upper_g[n - 1] = 'G';

    char space[64];
    memcpy(space, good, n + 1);
    space[0] = ' ';

    const char *const bad[] = {"",  odd,  nonhex, nonhex_cursor, upper_g, space,
                               "0", "00", "7300", "731f00",      "zz",    "731f6g"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *cursor = "untouched";
        if (co_page_token_parse(&a, bad[i], "s", &cursor)) {
            fail_msg("token \"%s\" was accepted", bad[i]);
        }
        assert_string_equal(cursor, "untouched");
    }
    co_arena_release(&a);
}

static void test_page_token_without_separator_is_rejected(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    const char *cursor = "untouched";
    /* "s" alone, and "sX": the scope is not followed by the separator. */
    assert_false(co_page_token_parse(&a, "73", "s", &cursor));
    assert_false(co_page_token_parse(&a, "7358", "s", &cursor));
    assert_string_equal(cursor, "untouched");
    co_arena_release(&a);
}

static void test_page_token_make_over_arena_limit_returns_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 16);
    assert_null(co_page_token_make(&a, "a-long-scope", "a-long-cursor"));
    co_arena_release(&a);
}

static void test_page_size_zero_means_default(void **state)
{
    (void)state;
    int32_t out = -1;
    assert_true(co_page_size(0, 50, 500, &out));
    assert_int_equal(out, 50);
}

static void test_page_size_within_range_is_kept(void **state)
{
    (void)state;
    int32_t out = -1;
    assert_true(co_page_size(1, 50, 500, &out));
    assert_int_equal(out, 1);
    assert_true(co_page_size(500, 50, 500, &out));
    assert_int_equal(out, 500);
    assert_true(co_page_size(123, 50, 500, &out));
    assert_int_equal(out, 123);
}

static void test_page_size_out_of_range_fails_and_leaves_out(void **state)
{
    (void)state;
    static const int32_t bad[] = {501, -1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t out = 777;
        if (co_page_size(bad[i], 50, 500, &out)) {
            fail_msg("page size %d was accepted", (int)bad[i]);
        }
        assert_int_equal(out, 777);
    }
}

/* Asserts the Timestamp for us: seconds and nanos, nanos always in [0, 1e9). */
static void check_timestamp(co_arena *a, int64_t us, int64_t seconds, int32_t nanos)
{
    Google__Protobuf__Timestamp *t = co_timestamp(a, us);
    assert_non_null(t);
    assert_ptr_equal(t->base.descriptor, &google__protobuf__timestamp__descriptor);
    if (t->seconds != seconds || t->nanos != nanos) {
        fail_msg("co_timestamp(%lld) = {%lld, %d}, expected {%lld, %d}", (long long)us,
                 (long long)t->seconds, (int)t->nanos, (long long)seconds, (int)nanos);
    }
}

static void test_timestamp_positive_and_zero(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    check_timestamp(&a, 0, 0, 0);
    check_timestamp(&a, 1, 0, 1000);
    check_timestamp(&a, 1500000, 1, 500000000);
    check_timestamp(&a, 1700000000123456, 1700000000, 123456000);
    check_timestamp(&a, INT64_MAX, 9223372036854, 775807000);
    co_arena_release(&a);
}

static void test_timestamp_negative_microseconds_normalise_nanos(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    check_timestamp(&a, -1, -1, 999999000);
    check_timestamp(&a, -999999, -1, 1000);
    check_timestamp(&a, -1000000, -1, 0);
    check_timestamp(&a, -1000001, -2, 999999000);
    check_timestamp(&a, -1500000, -2, 500000000);
    check_timestamp(&a, INT64_MIN, -9223372036855, 224192000);
    co_arena_release(&a);
}

static void test_timestamp_over_arena_limit_returns_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 16);
    assert_null(co_timestamp(&a, 0));
    co_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_valid_accepts_plausible_addresses),
        cmocka_unit_test(test_email_valid_rejects_malformed_addresses),
        cmocka_unit_test(test_email_valid_local_part_limit_is_64),
        cmocka_unit_test(test_email_valid_total_limit_is_254),
        cmocka_unit_test(test_e164_valid_table),
        cmocka_unit_test(test_utf8_chars_counts_code_points),
        cmocka_unit_test(test_page_token_round_trip),
        cmocka_unit_test(test_page_token_is_even_length_lowercase_hex),
        cmocka_unit_test(test_page_token_round_trip_of_unusual_cursors),
        cmocka_unit_test(test_page_token_round_trip_with_empty_scope),
        cmocka_unit_test(test_page_token_of_another_scope_is_rejected),
        cmocka_unit_test(test_page_token_malformed_is_rejected),
        cmocka_unit_test(test_page_token_without_separator_is_rejected),
        cmocka_unit_test(test_page_token_make_over_arena_limit_returns_null),
        cmocka_unit_test(test_page_size_zero_means_default),
        cmocka_unit_test(test_page_size_within_range_is_kept),
        cmocka_unit_test(test_page_size_out_of_range_fails_and_leaves_out),
        cmocka_unit_test(test_timestamp_positive_and_zero),
        cmocka_unit_test(test_timestamp_negative_microseconds_normalise_nanos),
        cmocka_unit_test(test_timestamp_over_arena_limit_returns_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
