/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the arena: alignment, chunks, the byte limit, strings and protobuf-c unpacking. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "coalition/v1/partners.pb-c.h"

/* Returns true if p is aligned for any type, as the arena promises (16 bytes). */
static bool aligned16(const void *p)
{
    return ((uintptr_t)p % 16) == 0;
}

static void test_arena_alloc_returns_16_byte_aligned_pointers(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    static const size_t sizes[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 255, 4096, 8191, 8192};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = co_arena_alloc(&a, sizes[i]);
        assert_non_null(p);
        assert_true(aligned16(p));
        memset(p, 0xA5, sizes[i]);
    }
    co_arena_release(&a);
}

static void test_arena_used_counts_sizes_rounded_to_16(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    assert_int_equal(co_arena_used(&a), 0);
    assert_non_null(co_arena_alloc(&a, 1));
    assert_int_equal(co_arena_used(&a), 16);
    assert_non_null(co_arena_alloc(&a, 16));
    assert_int_equal(co_arena_used(&a), 32);
    assert_non_null(co_arena_alloc(&a, 17));
    assert_int_equal(co_arena_used(&a), 64);
    co_arena_release(&a);
}

static void test_arena_alloc_zero_bytes_returns_distinct_pointers(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    void *p = co_arena_alloc(&a, 0);
    void *q = co_arena_alloc(&a, 0);
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
    co_arena_release(&a);
}

static void test_arena_many_allocations_across_chunks_do_not_overlap(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    enum { N = 1000, SZ = 100 };
    static unsigned char *blocks[N];
    for (size_t i = 0; i < N; i++) {
        blocks[i] = co_arena_alloc(&a, SZ);
        assert_non_null(blocks[i]);
        assert_true(aligned16(blocks[i]));
        memset(blocks[i], (int)(i & 0xff), SZ);
    }
    for (size_t i = 0; i < N; i++) {
        for (size_t k = 0; k < SZ; k++) {
            assert_int_equal(blocks[i][k], i & 0xff);
        }
    }
    assert_int_equal(co_arena_used(&a), (size_t)N * 112);
    co_arena_release(&a);
}

static void test_arena_large_block_is_usable_and_earlier_data_survives(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char *small = co_arena_alloc(&a, 32);
    assert_non_null(small);
    memset(small, 's', 32);
    size_t big_size = 100000;
    unsigned char *big = co_arena_alloc(&a, big_size);
    assert_non_null(big);
    assert_true(aligned16(big));
    memset(big, 0x5A, big_size);
    char *after = co_arena_alloc(&a, 48);
    assert_non_null(after);
    memset(after, 'a', 48);
    for (size_t i = 0; i < 32; i++) {
        assert_int_equal(small[i], 's');
    }
    for (size_t i = 0; i < big_size; i++) {
        assert_int_equal(big[i], 0x5A);
    }
    assert_int_equal(co_arena_used(&a), 32 + 100000 + 48);
    co_arena_release(&a);
}

static void test_arena_large_block_as_first_allocation(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    unsigned char *big = co_arena_alloc(&a, 65536 + 1);
    assert_non_null(big);
    memset(big, 1, 65536 + 1);
    unsigned char *small = co_arena_alloc(&a, 10);
    assert_non_null(small);
    memset(small, 2, 10);
    assert_int_equal(big[65536], 1);
    assert_int_equal(co_arena_used(&a), 65552 + 16);
    co_arena_release(&a);
}

static void test_arena_alloc_over_limit_returns_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 64);
    char *p = co_arena_alloc(&a, 48);
    assert_non_null(p);
    memset(p, 'x', 48);
    assert_null(co_arena_alloc(&a, 17)); /* 32 rounded: 80 > 64 */
    assert_int_equal(co_arena_used(&a), 48);
    /* Nothing changed: what still fits is handed out, and earlier data is intact. */
    char *q = co_arena_alloc(&a, 16);
    assert_non_null(q);
    assert_int_equal(co_arena_used(&a), 64);
    assert_null(co_arena_alloc(&a, 1));
    assert_null(co_arena_alloc(&a, 0));
    assert_int_equal(co_arena_used(&a), 64);
    for (size_t i = 0; i < 48; i++) {
        assert_int_equal(p[i], 'x');
    }
    co_arena_release(&a);
}

static void test_arena_alloc_exactly_the_limit_succeeds(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 64);
    assert_non_null(co_arena_alloc(&a, 64));
    assert_int_equal(co_arena_used(&a), 64);
    co_arena_release(&a);
}

static void test_arena_single_alloc_larger_than_limit_returns_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 1024);
    assert_null(co_arena_alloc(&a, 1025));
    assert_null(co_arena_alloc(&a, SIZE_MAX / 2)); /* refused before any malloc */
    assert_int_equal(co_arena_used(&a), 0);
    assert_non_null(co_arena_alloc(&a, 1024));
    co_arena_release(&a);
}

static void test_arena_limit_zero_means_unlimited(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    for (int i = 0; i < 4; i++) {
        unsigned char *p = co_arena_alloc(&a, 1024 * 1024);
        assert_non_null(p);
        p[1024 * 1024 - 1] = 1;
    }
    assert_int_equal(co_arena_used(&a), 4 * 1024 * 1024);
    co_arena_release(&a);
}

static void test_arena_alloc_absurd_size_returns_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    assert_null(co_arena_alloc(&a, SIZE_MAX));
    assert_null(co_arena_alloc(&a, SIZE_MAX - 8)); /* would wrap when rounded up */
    assert_null(co_arena_alloc(&a, SIZE_MAX / 2 + 1));
    assert_int_equal(co_arena_used(&a), 0);
    co_arena_release(&a);
}

static void test_arena_calloc_overflow_returns_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    assert_null(co_arena_calloc(&a, SIZE_MAX / 2 + 1, 2));
    assert_null(co_arena_calloc(&a, 2, SIZE_MAX / 2 + 1));
    assert_null(co_arena_calloc(&a, SIZE_MAX, SIZE_MAX));
    assert_null(co_arena_calloc(&a, (SIZE_MAX >> 4) + 1, 16));
    assert_int_equal(co_arena_used(&a), 0);
    co_arena_release(&a);
}

static void test_arena_calloc_returns_zeroed_memory(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    /* Dirty the chunk first so that zeros cannot come from fresh pages by chance. */
    unsigned char *dirty = co_arena_alloc(&a, 256);
    assert_non_null(dirty);
    memset(dirty, 0xFF, 256);
    uint64_t *p = co_arena_calloc(&a, 100, sizeof *p);
    assert_non_null(p);
    assert_true(aligned16(p));
    for (size_t i = 0; i < 100; i++) {
        assert_int_equal(p[i], 0);
    }
    assert_int_equal(co_arena_used(&a), 256 + 800);
    co_arena_release(&a);
}

static void test_arena_calloc_zero_elements_returns_non_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    assert_non_null(co_arena_calloc(&a, 0, 8));
    assert_non_null(co_arena_calloc(&a, 8, 0));
    co_arena_release(&a);
}

static void test_arena_calloc_over_limit_returns_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 128);
    assert_null(co_arena_calloc(&a, 20, 8));
    assert_int_equal(co_arena_used(&a), 0);
    assert_non_null(co_arena_calloc(&a, 16, 8));
    co_arena_release(&a);
}

static void test_arena_strdup_copies_into_arena(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char src[] = "partner-acme";
    char *copy = co_arena_strdup(&a, src);
    assert_non_null(copy);
    assert_ptr_not_equal(copy, src);
    src[0] = 'X';
    assert_string_equal(copy, "partner-acme");
    char *empty = co_arena_strdup(&a, "");
    assert_non_null(empty);
    assert_string_equal(empty, "");
    co_arena_release(&a);
}

static void test_arena_strdup_null_returns_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    assert_null(co_arena_strdup(&a, NULL));
    assert_null(co_arena_strndup(&a, NULL, 4));
    assert_int_equal(co_arena_used(&a), 0);
    co_arena_release(&a);
}

static void test_arena_strdup_over_limit_returns_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 16);
    assert_null(co_arena_strdup(&a, "sixteen chars!!!")); /* 16 + NUL */
    assert_non_null(co_arena_strdup(&a, "fifteen chars!!"));
    co_arena_release(&a);
}

static void test_arena_strndup_copies_prefix_and_terminates(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char *p = co_arena_strndup(&a, "hello world", 5);
    assert_non_null(p);
    assert_string_equal(p, "hello");
    char *z = co_arena_strndup(&a, "hello", 0);
    assert_non_null(z);
    assert_string_equal(z, "");
    co_arena_release(&a);
}

static void test_arena_strndup_reads_only_n_bytes_of_unterminated_input(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    const char raw[3] = {'a', 'b', 'c'}; /* no NUL */
    char *p = co_arena_strndup(&a, raw, sizeof raw);
    assert_non_null(p);
    assert_string_equal(p, "abc");
    co_arena_release(&a);
}

static void test_arena_printf_formats_into_arena(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char *s = co_arena_printf(&a, "%s/%d/%05.1f/%lld", "acme", -42, 3.14159, (long long)INT64_MIN);
    assert_non_null(s);
    assert_string_equal(s, "acme/-42/003.1/-9223372036854775808");
    char *e = co_arena_printf(&a, "%s", "");
    assert_non_null(e);
    assert_string_equal(e, "");
    co_arena_release(&a);
}

static void test_arena_printf_longer_than_a_chunk(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char *s = co_arena_printf(&a, "<%20000d>", 7);
    assert_non_null(s);
    assert_int_equal(strlen(s), 20002);
    assert_int_equal(s[0], '<');
    assert_int_equal(s[1], ' ');
    assert_int_equal(s[20000], '7');
    assert_int_equal(s[20001], '>');
    co_arena_release(&a);
}

static void test_arena_printf_over_limit_returns_null(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 32);
    assert_null(co_arena_printf(&a, "%040d", 1));
    assert_int_equal(co_arena_used(&a), 0);
    char *s = co_arena_printf(&a, "%d", 12345);
    assert_non_null(s);
    assert_string_equal(s, "12345");
    co_arena_release(&a);
}

static char *call_vprintf(co_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *call_vprintf(co_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = co_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return s;
}

static void test_arena_vprintf_formats_va_list(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char *s = call_vprintf(&a, "%s=%u", "points", 500u);
    assert_non_null(s);
    assert_string_equal(s, "points=500");
    co_arena_release(&a);
}

static void test_arena_pb_allocator_is_backed_by_arena(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    ProtobufCAllocator *pb = co_arena_pb(&a);
    assert_non_null(pb);
    assert_non_null(pb->alloc);
    assert_non_null(pb->free);
    void *p = pb->alloc(pb->allocator_data, 40);
    assert_non_null(p);
    assert_true(aligned16(p));
    assert_int_equal(co_arena_used(&a), 48);
    pb->free(pb->allocator_data, p); /* a no-op: the memory belongs to the arena */
    assert_int_equal(co_arena_used(&a), 48);
    co_arena_release(&a);
}

/* Packs a fully populated Partner into buf; returns its length. */
static size_t pack_partner(uint8_t *buf, size_t cap)
{
    Coalition__V1__Contact contact = COALITION__V1__CONTACT__INIT;
    contact.name = "Ada Lovelace";
    contact.email = "ada@acme.example";
    contact.phone = "+4930123456";
    Google__Protobuf__Timestamp created = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    created.seconds = 1700000000;
    created.nanos = 123000;
    Coalition__V1__Partner p = COALITION__V1__PARTNER__INIT;
    p.partner_id = "acme";
    p.name = "ACME Coffee";
    p.status = COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE;
    p.certificate_identity = "spiffe://coalition.local/partner/acme";
    p.settlement_currency = "EUR";
    p.contact = &contact;
    p.create_time = &created;
    p.status_reason = "approved";
    size_t n = coalition__v1__partner__get_packed_size(&p);
    assert_true(n <= cap);
    return coalition__v1__partner__pack(&p, buf);
}

static void test_arena_pb_unpack_partner_lives_in_arena(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n = pack_partner(buf, sizeof buf);
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Partner *p = coalition__v1__partner__unpack(co_arena_pb(&a), n, buf);
    assert_non_null(p);
    assert_true(co_arena_used(&a) > 0);
    assert_string_equal(p->partner_id, "acme");
    assert_string_equal(p->name, "ACME Coffee");
    assert_int_equal(p->status, COALITION__V1__PARTNER_STATUS__PARTNER_STATUS_ACTIVE);
    assert_string_equal(p->certificate_identity, "spiffe://coalition.local/partner/acme");
    assert_string_equal(p->settlement_currency, "EUR");
    assert_non_null(p->contact);
    assert_string_equal(p->contact->email, "ada@acme.example");
    assert_string_equal(p->contact->phone, "+4930123456");
    assert_non_null(p->create_time);
    assert_int_equal(p->create_time->seconds, 1700000000);
    assert_int_equal(p->create_time->nanos, 123000);
    assert_null(p->update_time);
    assert_string_equal(p->status_reason, "approved");
    /* No protobuf_c_message_free_unpacked: the release frees it (valgrind checks). */
    co_arena_release(&a);
}

static void test_arena_pb_unpack_over_limit_fails_cleanly(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n = pack_partner(buf, sizeof buf);
    co_arena a;
    co_arena_init(&a, 64);
    Coalition__V1__Partner *p = coalition__v1__partner__unpack(co_arena_pb(&a), n, buf);
    assert_null(p);
    assert_true(co_arena_used(&a) <= 64);
    co_arena_release(&a);
}

static void test_arena_release_then_reuse(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    for (int i = 0; i < 50; i++) {
        assert_non_null(co_arena_alloc(&a, 1000));
    }
    assert_non_null(co_arena_alloc(&a, 50000));
    co_arena_release(&a);
    assert_int_equal(co_arena_used(&a), 0);
    co_arena_release(&a); /* releasing an empty arena is harmless */
    assert_int_equal(co_arena_used(&a), 0);

    co_arena_init(&a, 32);
    char *s = co_arena_strdup(&a, "again");
    assert_non_null(s);
    assert_string_equal(s, "again");
    assert_int_equal(co_arena_used(&a), 16);
    assert_null(co_arena_alloc(&a, 32)); /* the new limit applies */
    co_arena_release(&a);
}

static void test_arena_release_of_never_used_arena_is_harmless(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    co_arena_release(&a);
    assert_int_equal(co_arena_used(&a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alloc_returns_16_byte_aligned_pointers),
        cmocka_unit_test(test_arena_used_counts_sizes_rounded_to_16),
        cmocka_unit_test(test_arena_alloc_zero_bytes_returns_distinct_pointers),
        cmocka_unit_test(test_arena_many_allocations_across_chunks_do_not_overlap),
        cmocka_unit_test(test_arena_large_block_is_usable_and_earlier_data_survives),
        cmocka_unit_test(test_arena_large_block_as_first_allocation),
        cmocka_unit_test(test_arena_alloc_over_limit_returns_null),
        cmocka_unit_test(test_arena_alloc_exactly_the_limit_succeeds),
        cmocka_unit_test(test_arena_single_alloc_larger_than_limit_returns_null),
        cmocka_unit_test(test_arena_limit_zero_means_unlimited),
        cmocka_unit_test(test_arena_alloc_absurd_size_returns_null),
        cmocka_unit_test(test_arena_calloc_overflow_returns_null),
        cmocka_unit_test(test_arena_calloc_returns_zeroed_memory),
        cmocka_unit_test(test_arena_calloc_zero_elements_returns_non_null),
        cmocka_unit_test(test_arena_calloc_over_limit_returns_null),
        cmocka_unit_test(test_arena_strdup_copies_into_arena),
        cmocka_unit_test(test_arena_strdup_null_returns_null),
        cmocka_unit_test(test_arena_strdup_over_limit_returns_null),
        cmocka_unit_test(test_arena_strndup_copies_prefix_and_terminates),
        cmocka_unit_test(test_arena_strndup_reads_only_n_bytes_of_unterminated_input),
        cmocka_unit_test(test_arena_printf_formats_into_arena),
        cmocka_unit_test(test_arena_printf_longer_than_a_chunk),
        cmocka_unit_test(test_arena_printf_over_limit_returns_null),
        cmocka_unit_test(test_arena_vprintf_formats_va_list),
        cmocka_unit_test(test_arena_pb_allocator_is_backed_by_arena),
        cmocka_unit_test(test_arena_pb_unpack_partner_lives_in_arena),
        cmocka_unit_test(test_arena_pb_unpack_over_limit_fails_cleanly),
        cmocka_unit_test(test_arena_release_then_reuse),
        cmocka_unit_test(test_arena_release_of_never_used_arena_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
