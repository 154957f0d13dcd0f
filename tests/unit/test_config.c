/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of configuration parsing: precedence, value types, error messages, addresses. */
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

#include "config.h"
#include "log.h"

typedef struct test_cfg {
    const char *name;
    int64_t count;
    bool verbose;
    const char *file;
    const char *listen;
    co_log_level level;
} test_cfg;

static const co_cfg_option opts[] = {
    {"name", "COALITION_TEST_NAME", CO_CFG_STRING, "dflt", "a name", offsetof(test_cfg, name), 0,
     0},
    {"count", "COALITION_TEST_INT", CO_CFG_INT, "10", "a count", offsetof(test_cfg, count), 1, 100},
    {"verbose", "COALITION_TEST_BOOL", CO_CFG_BOOL, "false", "verbose", offsetof(test_cfg, verbose),
     0, 0},
    {"file", "COALITION_TEST_FILE", CO_CFG_FILE, "", "a file", offsetof(test_cfg, file), 0, 0},
    {"listen", "COALITION_TEST_ADDR", CO_CFG_ADDR, "127.0.0.1:8080", "an address",
     offsetof(test_cfg, listen), 0, 0},
    {"level", "COALITION_TEST_LEVEL", CO_CFG_LEVEL, "info", "a level", offsetof(test_cfg, level), 0,
     0},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static const char *const test_vars[] = {
    "COALITION_TEST_NAME", "COALITION_TEST_INT",   "COALITION_TEST_BOOL",     "COALITION_TEST_FILE",
    "COALITION_TEST_ADDR", "COALITION_TEST_LEVEL", "COALITION_TEST_REQUIRED",
};

/* Every test starts and ends with none of the test variables set. */
static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof test_vars / sizeof test_vars[0]; i++) {
        unsetenv(test_vars[i]);
    }
    return 0;
}

/* An argv of string literals: argv[0] is "prog", then the arguments, then NULL. */
#define ARGV(...) ((char *[]){"prog", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"prog", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, err, ...)                                                                       \
    co_config_parse(opts, NOPTS, (cfg), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), stdout, (err),       \
                    sizeof(err))

static int parse_no_args(test_cfg *cfg, char *err, size_t errlen)
{
    char *argv[] = {"prog", NULL};
    return co_config_parse(opts, NOPTS, cfg, 1, argv, stdout, err, errlen);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
    }
}

static void test_config_defaults_apply_when_nothing_is_set(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(parse_no_args(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, "dflt");
    assert_int_equal(cfg.count, 10);
    assert_false(cfg.verbose);
    assert_string_equal(cfg.file, "");
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_int_equal(cfg.level, CO_LOG_INFO);
}

static void test_config_env_overrides_default(void **state)
{
    (void)state;
    setenv("COALITION_TEST_INT", "42", 1);
    setenv("COALITION_TEST_NAME", "from-env", 1);
    setenv("COALITION_TEST_LEVEL", "error", 1);
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(parse_no_args(&cfg, err, sizeof err), 0);
    assert_int_equal(cfg.count, 42);
    assert_string_equal(cfg.name, "from-env");
    assert_int_equal(cfg.level, CO_LOG_ERROR);
}

static void test_config_empty_env_value_overrides_string_default(void **state)
{
    (void)state;
    setenv("COALITION_TEST_NAME", "", 1);
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(parse_no_args(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, "");
}

static void test_config_flag_overrides_env(void **state)
{
    (void)state;
    setenv("COALITION_TEST_INT", "42", 1);
    setenv("COALITION_TEST_NAME", "from-env", 1);
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--count", "7", "--name", "from-flag"), 0);
    assert_int_equal(cfg.count, 7);
    assert_string_equal(cfg.name, "from-flag");
}

static void test_config_flag_overrides_invalid_env(void **state)
{
    (void)state;
    setenv("COALITION_TEST_INT", "not-a-number", 1);
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--count=5"), 0);
    assert_int_equal(cfg.count, 5);
}

static void test_config_flag_with_equals_sign(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--count=9", "--name=a=b", "--level=debug"), 0);
    assert_int_equal(cfg.count, 9);
    assert_string_equal(cfg.name, "a=b");
    assert_int_equal(cfg.level, CO_LOG_DEBUG);
}

static void test_config_flag_with_equals_and_empty_value(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--name="), 0);
    assert_string_equal(cfg.name, "");
}

static void test_config_flag_with_separate_value_points_into_argv(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    char *argv[] = {"prog", "--name", "acme", "--count", "100", NULL};
    assert_int_equal(co_config_parse(opts, NOPTS, &cfg, 5, argv, stdout, err, sizeof err), 0);
    assert_ptr_equal(cfg.name, argv[2]);
    assert_int_equal(cfg.count, 100);
}

static void test_config_string_flag_value_may_start_with_dash(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--name", "-x"), 0);
    assert_string_equal(cfg.name, "-x");
}

static void test_config_bool_accepts_documented_spellings(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool value;
    } cases[] = {
        {"true", true},   {"1", true},  {"yes", true}, {"on", true},
        {"false", false}, {"0", false}, {"no", false}, {"off", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("COALITION_TEST_BOOL", cases[i].text, 1);
        test_cfg cfg = {.verbose = !cases[i].value};
        char err[256] = "";
        assert_int_equal(parse_no_args(&cfg, err, sizeof err), 0);
        if (cfg.verbose != cases[i].value) {
            fail_msg("COALITION_TEST_BOOL=%s gave %d", cases[i].text, cfg.verbose);
        }
    }
}

static void test_config_bool_rejects_other_values_naming_variable(void **state)
{
    (void)state;
    static const char *const bad[] = {"maybe", "2", "", "tru", "yess", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("COALITION_TEST_BOOL", bad[i], 1);
        test_cfg cfg = {0};
        char err[256] = "";
        if (parse_no_args(&cfg, err, sizeof err) != -1) {
            fail_msg("COALITION_TEST_BOOL=\"%s\" was accepted", bad[i]);
        }
        assert_contains(err, "COALITION_TEST_BOOL");
    }
}

static void test_config_bool_flag_alone_means_true(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--verbose"), 0);
    assert_true(cfg.verbose);

    test_cfg cfg2 = {0};
    assert_int_equal(PARSE(&cfg2, err, "--verbose", "--count", "5"), 0);
    assert_true(cfg2.verbose);
    assert_int_equal(cfg2.count, 5);
}

static void test_config_bool_flag_takes_explicit_value(void **state)
{
    (void)state;
    setenv("COALITION_TEST_BOOL", "true", 1);
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--verbose", "false"), 0);
    assert_false(cfg.verbose);
    test_cfg cfg2 = {.verbose = true};
    assert_int_equal(PARSE(&cfg2, err, "--verbose=no"), 0);
    assert_false(cfg2.verbose);
}

static void test_config_int_bounds_are_inclusive(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--count", "1"), 0);
    assert_int_equal(cfg.count, 1);
    assert_int_equal(PARSE(&cfg, err, "--count", "100"), 0);
    assert_int_equal(cfg.count, 100);
}

static void test_config_int_above_range_names_variable(void **state)
{
    (void)state;
    setenv("COALITION_TEST_INT", "101", 1);
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(parse_no_args(&cfg, err, sizeof err), -1);
    assert_contains(err, "COALITION_TEST_INT");
    assert_contains(err, "101");
}

static void test_config_int_below_range_names_variable(void **state)
{
    (void)state;
    setenv("COALITION_TEST_INT", "0", 1);
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(parse_no_args(&cfg, err, sizeof err), -1);
    assert_contains(err, "COALITION_TEST_INT");
}

static void test_config_int_flag_out_of_range_names_variable(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--count", "1000"), -1);
    assert_contains(err, "COALITION_TEST_INT");
    assert_contains(err, "1000");
}

static void test_config_int_negative_flag_value_is_taken_as_value(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--count", "-5"), -1);
    assert_contains(err, "COALITION_TEST_INT");
    assert_contains(err, "-5");
}

static void test_config_int_not_a_number_names_variable(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "abc", "12abc", "", " ", "1.5", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("COALITION_TEST_INT", bad[i], 1);
        test_cfg cfg = {0};
        char err[256] = "";
        if (parse_no_args(&cfg, err, sizeof err) != -1) {
            fail_msg("COALITION_TEST_INT=\"%s\" was accepted", bad[i]);
        }
        assert_contains(err, "COALITION_TEST_INT");
    }
}

static void test_config_invalid_default_names_variable(void **state)
{
    (void)state;
    static const co_cfg_option bad_default[] = {
        {"count", "COALITION_TEST_INT", CO_CFG_INT, "500", "a count", offsetof(test_cfg, count), 1,
         100},
    };
    test_cfg cfg = {0};
    char err[256] = "";
    char *argv[] = {"prog", NULL};
    assert_int_equal(co_config_parse(bad_default, 1, &cfg, 1, argv, stdout, err, sizeof err), -1);
    assert_contains(err, "COALITION_TEST_INT");
}

static void test_config_bad_address_names_variable(void **state)
{
    (void)state;
    static const char *const bad[] = {"localhost", "localhost:", ":8080", "host:65536", "host:-1",
                                      "host:80x",  "[::1]",      "[]:80", "[::1:80",    ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("COALITION_TEST_ADDR", bad[i], 1);
        test_cfg cfg = {0};
        char err[256] = "";
        if (parse_no_args(&cfg, err, sizeof err) != -1) {
            fail_msg("COALITION_TEST_ADDR=\"%s\" was accepted", bad[i]);
        }
        assert_contains(err, "COALITION_TEST_ADDR");
    }
}

static void test_config_ipv6_address_accepted(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--listen", "[::1]:9000"), 0);
    assert_string_equal(cfg.listen, "[::1]:9000");
}

static void test_config_unreadable_file_names_variable(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--file", "/nonexistent-coalition-dir/cert.pem"), -1);
    assert_contains(err, "COALITION_TEST_FILE");
    assert_contains(err, "/nonexistent-coalition-dir/cert.pem");

    setenv("COALITION_TEST_FILE", "/nonexistent-coalition-dir/key.pem", 1);
    test_cfg cfg2 = {0};
    assert_int_equal(parse_no_args(&cfg2, err, sizeof err), -1);
    assert_contains(err, "COALITION_TEST_FILE");
    assert_contains(err, "/nonexistent-coalition-dir/key.pem");
}

static void test_config_readable_file_accepted(void **state)
{
    (void)state;
    char path[] = "/tmp/coalition-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x\n", 2), 2);
    close(fd);
    test_cfg cfg = {0};
    char err[256] = "";
    char *argv[] = {"prog", "--file", path, NULL};
    int rc = co_config_parse(opts, NOPTS, &cfg, 3, argv, stdout, err, sizeof err);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_string_equal(cfg.file, path);
}

/* Regression: CO_CFG_FILE only checked access(R_OK), which a directory passes. */
static void test_config_file_that_is_a_directory_is_rejected(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--file", "/tmp"), -1);
    assert_contains(err, "COALITION_TEST_FILE");
}

static void test_config_unknown_flag_is_rejected(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--bogus", "1"), -1);
    assert_contains(err, "--bogus");
    assert_int_equal(PARSE(&cfg, err, "--bogus=1"), -1);
    assert_contains(err, "--bogus");
    assert_null(strstr(err, "=1"));
}

static void test_config_flag_prefix_or_extension_is_not_a_match(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--coun", "5"), -1);
    assert_contains(err, "--coun");
    assert_int_equal(PARSE(&cfg, err, "--counter", "5"), -1);
    assert_contains(err, "--counter");
}

static void test_config_positional_argument_is_rejected(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "stray"), -1);
    assert_contains(err, "stray");
    assert_int_equal(PARSE(&cfg, err, "-count", "5"), -1);
}

static void test_config_flag_without_value_at_end_fails(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--count"), -1);
    assert_contains(err, "count");
}

static void test_config_missing_required_names_variable(void **state)
{
    (void)state;
    typedef struct req_cfg {
        const char *secret;
    } req_cfg;
    static const co_cfg_option req[] = {
        {"secret", "COALITION_TEST_REQUIRED", CO_CFG_STRING, NULL, "required",
         offsetof(req_cfg, secret), 0, 0},
    };
    req_cfg cfg = {0};
    char err[256] = "";
    char *none[] = {"prog", NULL};
    assert_int_equal(co_config_parse(req, 1, &cfg, 1, none, stdout, err, sizeof err), -1);
    assert_contains(err, "COALITION_TEST_REQUIRED");
    assert_null(cfg.secret);

    setenv("COALITION_TEST_REQUIRED", "s3", 1);
    assert_int_equal(co_config_parse(req, 1, &cfg, 1, none, stdout, err, sizeof err), 0);
    assert_string_equal(cfg.secret, "s3");
    unsetenv("COALITION_TEST_REQUIRED");

    req_cfg cfg2 = {0};
    char *flag[] = {"prog", "--secret", "f1", NULL};
    assert_int_equal(co_config_parse(req, 1, &cfg2, 3, flag, stdout, err, sizeof err), 0);
    assert_string_equal(cfg2.secret, "f1");
}

/* Runs co_config_parse with output captured; returns its result and the text in *text. */
static int parse_capturing(char **argv, int argc, char **text)
{
    size_t len = 0;
    FILE *out = open_memstream(text, &len);
    assert_non_null(out);
    test_cfg cfg = {0};
    char err[256] = "";
    int rc = co_config_parse(opts, NOPTS, &cfg, argc, argv, out, err, sizeof err);
    fclose(out);
    return rc;
}

static void test_config_help_returns_1_and_prints_usage(void **state)
{
    (void)state;
    char *argv[] = {"prog", "--help", NULL};
    char *text = NULL;
    assert_int_equal(parse_capturing(argv, 2, &text), 1);
    assert_non_null(text);
    assert_contains(text, "--count");
    assert_contains(text, "COALITION_TEST_INT");
    assert_contains(text, "--listen");
    assert_contains(text, "127.0.0.1:8080");
    free(text);
}

static void test_config_help_wins_over_invalid_values(void **state)
{
    (void)state;
    setenv("COALITION_TEST_INT", "not-a-number", 1);
    char *argv[] = {"prog", "--count", "5000", "-h", NULL};
    char *text = NULL;
    assert_int_equal(parse_capturing(argv, 4, &text), 1);
    assert_contains(text, "COALITION_TEST_BOOL");
    free(text);
}

static void test_config_level_parses_and_rejects_unknown(void **state)
{
    (void)state;
    test_cfg cfg = {0};
    char err[256] = "";
    assert_int_equal(PARSE(&cfg, err, "--level", "warn"), 0);
    assert_int_equal(cfg.level, CO_LOG_WARN);
    assert_int_equal(PARSE(&cfg, err, "--level", "verbose"), -1);
    assert_contains(err, "COALITION_TEST_LEVEL");
}

static void test_config_split_addr_ipv4_host_and_port(void **state)
{
    (void)state;
    char host[64];
    int port = -1;
    assert_true(co_config_split_addr("127.0.0.1:8080", host, sizeof host, &port));
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_true(co_config_split_addr("points.internal:0", host, sizeof host, &port));
    assert_string_equal(host, "points.internal");
    assert_int_equal(port, 0);
    assert_true(co_config_split_addr("h:65535", host, sizeof host, &port));
    assert_string_equal(host, "h");
    assert_int_equal(port, 65535);
}

static void test_config_split_addr_ipv6_in_brackets(void **state)
{
    (void)state;
    char host[64];
    int port = -1;
    assert_true(co_config_split_addr("[::1]:80", host, sizeof host, &port));
    assert_string_equal(host, "::1");
    assert_int_equal(port, 80);
    assert_true(co_config_split_addr("[fe80::1:2]:9101", host, sizeof host, &port));
    assert_string_equal(host, "fe80::1:2");
    assert_int_equal(port, 9101);
}

static void test_config_split_addr_rejects_malformed_and_leaves_outputs(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "localhost", "localhost:", ":80",     "h:65536",  "h:-1", "h:80x", "h:99999999999999999999",
        "[::1]",     "[]:80",      "[::1:80", "::1]:80x", "",     "h: 80", "h:+80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char host[64] = "untouched";
        int port = 4242;
        if (co_config_split_addr(bad[i], host, sizeof host, &port)) {
            fail_msg("\"%s\" was accepted", bad[i]);
        }
        assert_string_equal(host, "untouched");
        assert_int_equal(port, 4242);
    }
}

static void test_config_split_addr_host_must_fit_buffer(void **state)
{
    (void)state;
    char host[4] = "xyz";
    int port = 1;
    assert_false(co_config_split_addr("abcd:80", host, sizeof host, &port));
    assert_int_equal(port, 1);
    assert_true(co_config_split_addr("abc:80", host, sizeof host, &port));
    assert_string_equal(host, "abc");
    assert_int_equal(port, 80);
}

#define T(f) cmocka_unit_test_setup_teardown(f, clear_env, clear_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_defaults_apply_when_nothing_is_set),
        T(test_config_env_overrides_default),
        T(test_config_empty_env_value_overrides_string_default),
        T(test_config_flag_overrides_env),
        T(test_config_flag_overrides_invalid_env),
        T(test_config_flag_with_equals_sign),
        T(test_config_flag_with_equals_and_empty_value),
        T(test_config_flag_with_separate_value_points_into_argv),
        T(test_config_string_flag_value_may_start_with_dash),
        T(test_config_bool_accepts_documented_spellings),
        T(test_config_bool_rejects_other_values_naming_variable),
        T(test_config_bool_flag_alone_means_true),
        T(test_config_bool_flag_takes_explicit_value),
        T(test_config_int_bounds_are_inclusive),
        T(test_config_int_above_range_names_variable),
        T(test_config_int_below_range_names_variable),
        T(test_config_int_flag_out_of_range_names_variable),
        T(test_config_int_negative_flag_value_is_taken_as_value),
        T(test_config_int_not_a_number_names_variable),
        T(test_config_invalid_default_names_variable),
        T(test_config_bad_address_names_variable),
        T(test_config_ipv6_address_accepted),
        T(test_config_unreadable_file_names_variable),
        T(test_config_readable_file_accepted),
        T(test_config_file_that_is_a_directory_is_rejected),
        T(test_config_unknown_flag_is_rejected),
        T(test_config_flag_prefix_or_extension_is_not_a_match),
        T(test_config_positional_argument_is_rejected),
        T(test_config_flag_without_value_at_end_fails),
        T(test_config_missing_required_names_variable),
        T(test_config_help_returns_1_and_prints_usage),
        T(test_config_help_wins_over_invalid_values),
        T(test_config_level_parses_and_rejects_unknown),
        T(test_config_split_addr_ipv4_host_and_port),
        T(test_config_split_addr_ipv6_in_brackets),
        T(test_config_split_addr_rejects_malformed_and_leaves_outputs),
        T(test_config_split_addr_host_must_fit_buffer),
    };
    return cmocka_run_group_tests(tests, clear_env, clear_env);
}
