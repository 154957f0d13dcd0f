/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of SPIFFE id parsing, identifier names and loading PEM files (no network). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls.h"

#define TD "coalition.local"

/* A name of n letters 'a' in a static buffer. */
static const char *letters(size_t n)
{
    static char buf[128];
    assert_true(n < sizeof buf);
    memset(buf, 'a', n);
    buf[n] = '\0';
    return buf;
}

/* Parses uri from a heap copy of exactly its bytes (no NUL), so reading past len is caught. */
static bool parse_exact(const char *uri, size_t len, co_spiffe_kind *kind, char *name,
                        size_t namelen)
{
    char *copy = malloc(len == 0 ? 1 : len);
    assert_non_null(copy);
    memcpy(copy, uri, len);
    bool ok = co_spiffe_parse(copy, len, TD, kind, name, namelen);
    free(copy);
    return ok;
}

static bool parse(const char *uri, co_spiffe_kind *kind, char *name, size_t namelen)
{
    return parse_exact(uri, strlen(uri), kind, name, namelen);
}

static void test_spiffe_parse_accepts_partner_service_and_admin(void **state)
{
    (void)state;
    static const struct {
        const char *uri;
        co_spiffe_kind kind;
        const char *name;
    } ok[] = {
        {"spiffe://" TD "/partner/acme", CO_SPIFFE_PARTNER, "acme"},
        {"spiffe://" TD "/partner/acme-2", CO_SPIFFE_PARTNER, "acme-2"},
        {"spiffe://" TD "/partner/a", CO_SPIFFE_PARTNER, "a"},
        {"spiffe://" TD "/service/points", CO_SPIFFE_SERVICE, "points"},
        {"spiffe://" TD "/service/gateway", CO_SPIFFE_SERVICE, "gateway"},
        {"spiffe://" TD "/admin/root", CO_SPIFFE_ADMIN, "root"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        co_spiffe_kind kind = 0;
        char name[64] = "";
        if (!parse(ok[i].uri, &kind, name, sizeof name)) {
            fail_msg("\"%s\" was rejected", ok[i].uri);
        }
        assert_int_equal(kind, ok[i].kind);
        assert_string_equal(name, ok[i].name);
    }
}

static void test_spiffe_parse_accepts_63_char_name(void **state)
{
    (void)state;
    char uri[256];
    snprintf(uri, sizeof uri, "spiffe://" TD "/partner/%s", letters(63));
    co_spiffe_kind kind = 0;
    char name[64] = "";
    assert_true(parse(uri, &kind, name, sizeof name));
    assert_int_equal(kind, CO_SPIFFE_PARTNER);
    assert_int_equal(strlen(name), 63);
}

static void test_spiffe_parse_rejects_hostile_ids_and_leaves_outputs(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "spiffe://",
        "spiffe://" TD,
        "spiffe://" TD "/",
        "spiffe://other.local/partner/acme",
        "spiffe://coalition.localx/partner/a",
        "spiffe://coalition.loca/partner/a",
        "spiffe://x.coalition.local/partner/a",
        "spiffe://coalition.localxpartner/acme",
        "spiffe://coalition.local.partner/acme",
        "spiffe://" TD "/partner/",
        "spiffe://" TD "/partner",
        "spiffe://" TD "/partner/Acme",
        "spiffe://" TD "/partner/ACME",
        "spiffe://" TD "/partner/1acme",
        "spiffe://" TD "/partner/-acme",
        "spiffe://" TD "/partner/ac_me",
        "spiffe://" TD "/partner/ac.me",
        "spiffe://" TD "/partner/ac me",
        "spiffe://" TD "/partner/acme/",
        "spiffe://" TD "/partner/acme/extra",
        "spiffe://" TD "/partner/acme?x=1",
        "spiffe://" TD "/partner/acme#frag",
        "spiffe://" TD "/partners/acme",
        "spiffe://" TD "/Partner/acme",
        "spiffe://" TD "/member/acme",
        "spiffe://" TD "//partner/acme",
        "spiffe://" TD "/service/partner/acme",
        "spiffe:/" TD "/partner/acme",
        "https://" TD "/partner/acme",
        " spiffe://" TD "/partner/acme",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        co_spiffe_kind kind = (co_spiffe_kind)77;
        char name[64] = "untouched";
        if (parse(bad[i], &kind, name, sizeof name)) {
            fail_msg("\"%s\" was accepted as \"%s\"", bad[i], name);
        }
        assert_int_equal(kind, 77);
        assert_string_equal(name, "untouched");
    }
}

static void test_spiffe_parse_rejects_64_char_name(void **state)
{
    (void)state;
    char uri[256];
    snprintf(uri, sizeof uri, "spiffe://" TD "/partner/%s", letters(64));
    co_spiffe_kind kind = 0;
    char name[128] = "untouched";
    assert_false(parse(uri, &kind, name, sizeof name));
    assert_string_equal(name, "untouched");
}

static void test_spiffe_parse_rejects_nul_inside_name(void **state)
{
    (void)state;
    static const char uri[] = "spiffe://" TD "/partner/ac\0me";
    co_spiffe_kind kind = 0;
    char name[64] = "untouched";
    assert_false(parse_exact(uri, sizeof uri - 1, &kind, name, sizeof name));
    assert_string_equal(name, "untouched");
}

static void test_spiffe_parse_honours_length_of_unterminated_input(void **state)
{
    (void)state;
    /* The length ends the id: what follows in memory is not part of it. */
    static const char uri[] = "spiffe://" TD "/partner/acme/evil";
    size_t len = strlen("spiffe://" TD "/partner/acme");
    co_spiffe_kind kind = 0;
    char name[64] = "";
    assert_true(parse_exact(uri, len, &kind, name, sizeof name));
    assert_int_equal(kind, CO_SPIFFE_PARTNER);
    assert_string_equal(name, "acme");

    assert_true(parse_exact(uri, len - 2, &kind, name, sizeof name));
    assert_string_equal(name, "ac");
}

static void test_spiffe_parse_length_ending_in_prefix_is_rejected(void **state)
{
    (void)state;
    static const char uri[] = "spiffe://" TD "/partner/acme";
    static const size_t cuts[] = {0,
                                  5,
                                  9,
                                  12,
                                  9 + sizeof TD - 1,
                                  9 + sizeof TD,
                                  9 + sizeof TD + 3,
                                  9 + sizeof TD + 7,
                                  9 + sizeof TD + 8};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        co_spiffe_kind kind = (co_spiffe_kind)77;
        char name[64] = "untouched";
        if (parse_exact(uri, cuts[i], &kind, name, sizeof name)) {
            fail_msg("prefix of %zu bytes was accepted as \"%s\"", cuts[i], name);
        }
        assert_string_equal(name, "untouched");
        assert_int_equal(kind, 77);
    }
}

static void test_spiffe_parse_name_must_fit_buffer(void **state)
{
    (void)state;
    co_spiffe_kind kind = (co_spiffe_kind)77;
    char name[5] = "xxxx";
    assert_false(parse("spiffe://" TD "/partner/acmes", &kind, name, sizeof name));
    assert_string_equal(name, "xxxx");
    assert_int_equal(kind, 77);
    assert_true(parse("spiffe://" TD "/partner/acme", &kind, name, sizeof name));
    assert_string_equal(name, "acme");
}

static void test_spiffe_parse_other_trust_domain_argument(void **state)
{
    (void)state;
    static const char uri[] = "spiffe://example.org/service/points";
    co_spiffe_kind kind = 0;
    char name[64] = "";
    assert_true(co_spiffe_parse(uri, strlen(uri), "example.org", &kind, name, sizeof name));
    assert_int_equal(kind, CO_SPIFFE_SERVICE);
    assert_string_equal(name, "points");
    assert_false(co_spiffe_parse(uri, strlen(uri), "example.or", &kind, name, sizeof name));
    assert_false(co_spiffe_parse(uri, strlen(uri), TD, &kind, name, sizeof name));
}

static void test_name_is_valid_table(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"a", true},          {"acme", true}, {"acme-2", true}, {"a1", true},
        {"z-9-x", true},      {"a-", true},   {"", false},      {"1a", false},
        {"-a", false},        {"A", false},   {"aB", false},    {"a_b", false},
        {"a.b", false},       {"a b", false}, {"a/b", false},   {"\xc3\xa9", false},
        {"a\xc3\xa9", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = co_name_is_valid(cases[i].s, strlen(cases[i].s));
        if (got != cases[i].ok) {
            fail_msg("co_name_is_valid(\"%s\") = %d", cases[i].s, got);
        }
    }
}

static void test_name_is_valid_length_limits(void **state)
{
    (void)state;
    assert_true(co_name_is_valid(letters(63), 63));
    assert_false(co_name_is_valid(letters(64), 64));
    assert_false(co_name_is_valid("abc", 0));
}

static void test_name_is_valid_uses_length_not_nul(void **state)
{
    (void)state;
    assert_true(co_name_is_valid("abc!", 3));
    assert_false(co_name_is_valid("ab\0c", 4));
    const char raw[3] = {'x', 'y', 'z'}; /* no NUL */
    assert_true(co_name_is_valid(raw, sizeof raw));
}

/* A private directory of PEM-like files for co_tls_load. */
typedef struct pem_dir {
    char dir[64];
    char cert[128], key[128], ca[128], empty[128], big[128], exact[128], missing[128];
} pem_dir;

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_file_of_size(const char *path, size_t n)
{
    char *buf = malloc(n);
    assert_non_null(buf);
    memset(buf, 'P', n);
    write_file(path, buf, n);
    free(buf);
}

static int pem_setup(void **state)
{
    pem_dir *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return -1;
    }
    snprintf(d->dir, sizeof d->dir, "/tmp/coalition-test-tls-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        free(d);
        return -1;
    }
    snprintf(d->cert, sizeof d->cert, "%s/cert.pem", d->dir);
    snprintf(d->key, sizeof d->key, "%s/key.pem", d->dir);
    snprintf(d->ca, sizeof d->ca, "%s/ca.pem", d->dir);
    snprintf(d->empty, sizeof d->empty, "%s/empty.pem", d->dir);
    snprintf(d->big, sizeof d->big, "%s/big.pem", d->dir);
    snprintf(d->exact, sizeof d->exact, "%s/exact.pem", d->dir);
    snprintf(d->missing, sizeof d->missing, "%s/missing.pem", d->dir);
    write_file(d->cert, "CERT\n", 5);
    write_file(d->key, "KEY\n", 4);
    write_file(d->ca, "CA\n", 3);
    write_file(d->empty, "", 0);
    write_file_of_size(d->big, 1024 * 1024 + 1);
    write_file_of_size(d->exact, 1024 * 1024);
    *state = d;
    return 0;
}

static int pem_teardown(void **state)
{
    pem_dir *d = *state;
    unlink(d->cert);
    unlink(d->key);
    unlink(d->ca);
    unlink(d->empty);
    unlink(d->big);
    unlink(d->exact);
    rmdir(d->dir);
    free(d);
    return 0;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
    }
}

/* Sentinel pointers that must survive a failed load. */
static char sentinel_cert[] = "c", sentinel_key[] = "k", sentinel_ca[] = "a";

static void assert_untouched(const co_tls_files *f)
{
    assert_ptr_equal(f->cert_pem, sentinel_cert);
    assert_ptr_equal(f->key_pem, sentinel_key);
    assert_ptr_equal(f->ca_pem, sentinel_ca);
}

static void test_tls_load_reads_all_three_files(void **state)
{
    pem_dir *d = *state;
    co_tls_files f = {0};
    char err[256] = "";
    assert_int_equal(co_tls_load(d->cert, d->key, d->ca, &f, err, sizeof err), CO_OK);
    assert_string_equal(f.cert_pem, "CERT\n");
    assert_string_equal(f.key_pem, "KEY\n");
    assert_string_equal(f.ca_pem, "CA\n");
    co_tls_release(&f);
    assert_null(f.cert_pem);
    assert_null(f.key_pem);
    assert_null(f.ca_pem);
}

static void test_tls_load_missing_cert_names_file_and_leaves_output(void **state)
{
    pem_dir *d = *state;
    co_tls_files f = {sentinel_cert, sentinel_key, sentinel_ca};
    char err[256] = "";
    assert_int_not_equal(co_tls_load(d->missing, d->key, d->ca, &f, err, sizeof err), CO_OK);
    assert_contains(err, d->missing);
    assert_untouched(&f);
}

static void test_tls_load_missing_key_names_key_file(void **state)
{
    pem_dir *d = *state;
    co_tls_files f = {sentinel_cert, sentinel_key, sentinel_ca};
    char err[256] = "";
    assert_int_not_equal(co_tls_load(d->cert, d->missing, d->ca, &f, err, sizeof err), CO_OK);
    assert_contains(err, d->missing);
    assert_null(strstr(err, d->cert));
    assert_untouched(&f);
}

static void test_tls_load_missing_ca_names_ca_file(void **state)
{
    pem_dir *d = *state;
    co_tls_files f = {sentinel_cert, sentinel_key, sentinel_ca};
    char err[256] = "";
    assert_int_not_equal(co_tls_load(d->cert, d->key, d->missing, &f, err, sizeof err), CO_OK);
    assert_contains(err, d->missing);
    assert_untouched(&f);
}

static void test_tls_load_empty_file_names_file(void **state)
{
    pem_dir *d = *state;
    co_tls_files f = {sentinel_cert, sentinel_key, sentinel_ca};
    char err[256] = "";
    assert_int_not_equal(co_tls_load(d->cert, d->empty, d->ca, &f, err, sizeof err), CO_OK);
    assert_contains(err, d->empty);
    assert_untouched(&f);
}

static void test_tls_load_file_over_1_mib_names_file(void **state)
{
    pem_dir *d = *state;
    co_tls_files f = {sentinel_cert, sentinel_key, sentinel_ca};
    char err[256] = "";
    assert_int_not_equal(co_tls_load(d->cert, d->key, d->big, &f, err, sizeof err), CO_OK);
    assert_contains(err, d->big);
    assert_untouched(&f);
}

static void test_tls_load_file_of_exactly_1_mib_is_accepted(void **state)
{
    pem_dir *d = *state;
    co_tls_files f = {0};
    char err[256] = "";
    assert_int_equal(co_tls_load(d->cert, d->key, d->exact, &f, err, sizeof err), CO_OK);
    assert_int_equal(strlen(f.ca_pem), 1024 * 1024);
    co_tls_release(&f);
}

static void test_tls_load_directory_instead_of_file_fails(void **state)
{
    pem_dir *d = *state;
    co_tls_files f = {sentinel_cert, sentinel_key, sentinel_ca};
    char err[256] = "";
    assert_int_not_equal(co_tls_load(d->cert, d->key, d->dir, &f, err, sizeof err), CO_OK);
    assert_contains(err, d->dir);
    assert_untouched(&f);
}

static void test_tls_release_of_zeroed_struct_is_harmless(void **state)
{
    (void)state;
    co_tls_files f = {0};
    co_tls_release(&f);
    co_tls_release(&f);
    assert_null(f.cert_pem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spiffe_parse_accepts_partner_service_and_admin),
        cmocka_unit_test(test_spiffe_parse_accepts_63_char_name),
        cmocka_unit_test(test_spiffe_parse_rejects_hostile_ids_and_leaves_outputs),
        cmocka_unit_test(test_spiffe_parse_rejects_64_char_name),
        cmocka_unit_test(test_spiffe_parse_rejects_nul_inside_name),
        cmocka_unit_test(test_spiffe_parse_honours_length_of_unterminated_input),
        cmocka_unit_test(test_spiffe_parse_length_ending_in_prefix_is_rejected),
        cmocka_unit_test(test_spiffe_parse_name_must_fit_buffer),
        cmocka_unit_test(test_spiffe_parse_other_trust_domain_argument),
        cmocka_unit_test(test_name_is_valid_table),
        cmocka_unit_test(test_name_is_valid_length_limits),
        cmocka_unit_test(test_name_is_valid_uses_length_not_nul),
        cmocka_unit_test(test_tls_load_reads_all_three_files),
        cmocka_unit_test(test_tls_load_missing_cert_names_file_and_leaves_output),
        cmocka_unit_test(test_tls_load_missing_key_names_key_file),
        cmocka_unit_test(test_tls_load_missing_ca_names_ca_file),
        cmocka_unit_test(test_tls_load_empty_file_names_file),
        cmocka_unit_test(test_tls_load_file_over_1_mib_names_file),
        cmocka_unit_test(test_tls_load_file_of_exactly_1_mib_is_accepted),
        cmocka_unit_test(test_tls_load_directory_instead_of_file_fails),
        cmocka_unit_test(test_tls_release_of_zeroed_struct_is_harmless),
    };
    return cmocka_run_group_tests(tests, pem_setup, pem_teardown);
}
