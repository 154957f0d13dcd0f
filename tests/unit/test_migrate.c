/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of migration file names and version sequence checks (no database). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "migrate.h"

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
    }
}

static void test_migration_parse_filename_valid_names(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int version;
        const char *name;
    } ok[] = {
        {"0001_partners.sql", 1, "0001_partners"},
        {"0002_add_index_2.sql", 2, "0002_add_index_2"},
        {"0042_x.sql", 42, "0042_x"},
        {"9999_last.sql", 9999, "9999_last"},
        {"12345_five_digits.sql", 12345, "12345_five_digits"},
        {"0010_9.sql", 10, "0010_9"},
        {"0003__.sql", 3, "0003__"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int version = -1;
        char name[64] = "";
        if (!co_migration_parse_filename(ok[i].file, &version, name, sizeof name)) {
            fail_msg("\"%s\" was rejected", ok[i].file);
        }
        assert_int_equal(version, ok[i].version);
        assert_string_equal(name, ok[i].name);
    }
}

static void test_migration_parse_filename_invalid_names_leave_outputs(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        ".sql",
        "0001.sql",
        "0001_.sql",
        "00001_.sql",
        "000001_.sql",
        "001_partners.sql",
        "1_partners.sql",
        "0001-partners.sql",
        "0001partners.sql",
        "0001_Partners.sql",
        "0001_part-ners.sql",
        "0001_part ners.sql",
        "0001_part.ners.sql",
        "0001_partners.SQL",
        "0001_partners.sq",
        "0001_partners",
        "0001_partners.sql.bak",
        "0001_partners.sql~",
        "abcd_partners.sql",
        "00a1_partners.sql",
        "_0001_partners.sql",
        " 0001_partners.sql",
        "migrations/0001_partners.sql",
        "0001_../etc.sql",
        "99999999999999999999_overflow.sql",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int version = -7;
        char name[64] = "untouched";
        if (co_migration_parse_filename(bad[i], &version, name, sizeof name)) {
            fail_msg("\"%s\" was accepted as version %d", bad[i], version);
        }
        assert_int_equal(version, -7);
        assert_string_equal(name, "untouched");
    }
}

static void test_migration_parse_filename_name_must_fit_buffer(void **state)
{
    (void)state;
    int version = -7;
    char name[14] = "untouched";
    /* "0001_partners" is 13 bytes and needs 14 with its NUL. */
    assert_false(co_migration_parse_filename("0001_partners.sql", &version, name, 13));
    assert_int_equal(version, -7);
    assert_string_equal(name, "untouched");
    assert_true(co_migration_parse_filename("0001_partners.sql", &version, name, sizeof name));
    assert_int_equal(version, 1);
    assert_string_equal(name, "0001_partners");
}

static void test_migrations_check_accepts_sequence_from_1(void **state)
{
    (void)state;
    static const co_migration m[] = {
        {1, "0001_a", "SELECT 1"},
        {2, "0002_b", "SELECT 2"},
        {3, "0003_c", "SELECT 3"},
    };
    char err[256] = "";
    assert_int_equal(co_migrations_check(m, 3, err, sizeof err), CO_OK);
    assert_int_equal(co_migrations_check(m, 1, err, sizeof err), CO_OK);
}

static void test_migrations_check_accepts_empty_list(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(co_migrations_check(NULL, 0, err, sizeof err), CO_OK);
}

static void test_migrations_check_rejects_gap(void **state)
{
    (void)state;
    static const co_migration m[] = {
        {1, "0001_a", "SELECT 1"},
        {3, "0003_c", "SELECT 3"},
    };
    char err[256] = "";
    assert_int_equal(co_migrations_check(m, 2, err, sizeof err), CO_ERR_INVALID_ARGUMENT);
    assert_contains(err, "0003_c");
}

static void test_migrations_check_rejects_duplicate(void **state)
{
    (void)state;
    static const co_migration m[] = {
        {1, "0001_a", "SELECT 1"},
        {2, "0002_b", "SELECT 2"},
        {2, "0002_b_again", "SELECT 2"},
    };
    char err[256] = "";
    assert_int_equal(co_migrations_check(m, 3, err, sizeof err), CO_ERR_INVALID_ARGUMENT);
    assert_contains(err, "0002_b_again");
}

static void test_migrations_check_rejects_wrong_order(void **state)
{
    (void)state;
    static const co_migration m[] = {
        {2, "0002_b", "SELECT 2"},
        {1, "0001_a", "SELECT 1"},
    };
    char err[256] = "";
    assert_int_equal(co_migrations_check(m, 2, err, sizeof err), CO_ERR_INVALID_ARGUMENT);
    assert_contains(err, "0002_b");
}

static void test_migrations_check_rejects_version_0(void **state)
{
    (void)state;
    static const co_migration m[] = {
        {0, "0000_zero", "SELECT 0"},
        {1, "0001_a", "SELECT 1"},
    };
    char err[256] = "";
    assert_int_equal(co_migrations_check(m, 2, err, sizeof err), CO_ERR_INVALID_ARGUMENT);
    assert_contains(err, "0000_zero");
}

static void test_migrations_check_rejects_start_above_1_and_negative(void **state)
{
    (void)state;
    static const co_migration from2[] = {{2, "0002_b", "SELECT 2"}};
    static const co_migration negative[] = {{-1, "neg", "SELECT 1"}};
    char err[256] = "";
    assert_int_equal(co_migrations_check(from2, 1, err, sizeof err), CO_ERR_INVALID_ARGUMENT);
    assert_int_equal(co_migrations_check(negative, 1, err, sizeof err), CO_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migration_parse_filename_valid_names),
        cmocka_unit_test(test_migration_parse_filename_invalid_names_leave_outputs),
        cmocka_unit_test(test_migration_parse_filename_name_must_fit_buffer),
        cmocka_unit_test(test_migrations_check_accepts_sequence_from_1),
        cmocka_unit_test(test_migrations_check_accepts_empty_list),
        cmocka_unit_test(test_migrations_check_rejects_gap),
        cmocka_unit_test(test_migrations_check_rejects_duplicate),
        cmocka_unit_test(test_migrations_check_rejects_wrong_order),
        cmocka_unit_test(test_migrations_check_rejects_version_0),
        cmocka_unit_test(test_migrations_check_rejects_start_above_1_and_negative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
