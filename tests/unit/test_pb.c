/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the protobuf-c helpers: UTF-8 checks, field paths, packing and content hashes. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <openssl/sha.h>

#include "coalition/v1/partners.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "pb.h"

/* Checks s (len bytes) from a heap copy of exactly len bytes, so reading past len is caught. */
static bool utf8_exact(const char *s, size_t len)
{
    char *copy = malloc(len == 0 ? 1 : len);
    assert_non_null(copy);
    memcpy(copy, s, len);
    bool ok = co_utf8_valid(copy, len);
    free(copy);
    return ok;
}

typedef struct utf8_case {
    const char *what;
    const char *s;
    size_t len;
} utf8_case;

#define U(what, lit)                                                                               \
    {                                                                                              \
        what, lit, sizeof lit - 1                                                                  \
    }

static void test_utf8_valid_accepts_well_formed_text(void **state)
{
    (void)state;
    static const utf8_case ok[] = {
        U("empty", ""),
        U("ascii", "hello, world"),
        U("DEL", "\x7f"),
        U("2-byte e acute", "\xc3\xa9"),
        U("2-byte lowest U+0080", "\xc2\x80"),
        U("3-byte euro", "\xe2\x82\xac"),
        U("3-byte lowest U+0800", "\xe0\xa0\x80"),
        U("U+D7FF before surrogates", "\xed\x9f\xbf"),
        U("U+E000 after surrogates", "\xee\x80\x80"),
        U("U+FFFF", "\xef\xbf\xbf"),
        U("4-byte emoji", "\xf0\x9f\x98\x80"),
        U("4-byte lowest U+10000", "\xf0\x90\x80\x80"),
        U("U+10FFFF", "\xf4\x8f\xbf\xbf"),
        U("mixed", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"),
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!utf8_exact(ok[i].s, ok[i].len)) {
            fail_msg("%s was rejected", ok[i].what);
        }
    }
}

static void test_utf8_valid_rejects_malformed_text(void **state)
{
    (void)state;
    static const utf8_case bad[] = {
        U("NUL alone", "\0"),
        U("NUL inside", "ab\0cd"),
        U("overlong NUL C0 80", "\xc0\x80"),
        U("overlong slash C0 AF", "\xc0\xaf"),
        U("overlong C1 BF", "\xc1\xbf"),
        U("overlong 3-byte slash", "\xe0\x80\xaf"),
        U("overlong 3-byte U+07FF", "\xe0\x9f\xbf"),
        U("overlong 4-byte slash", "\xf0\x80\x80\xaf"),
        U("overlong 4-byte U+FFFF", "\xf0\x8f\xbf\xbf"),
        U("surrogate U+D800", "\xed\xa0\x80"),
        U("surrogate U+DBFF", "\xed\xaf\xbf"),
        U("surrogate U+DC00", "\xed\xb0\x80"),
        U("surrogate U+DFFF", "\xed\xbf\xbf"),
        U("surrogate pair as CESU-8", "\xed\xa0\xbd\xed\xb8\x80"),
        U("U+110000", "\xf4\x90\x80\x80"),
        U("F5 lead", "\xf5\x80\x80\x80"),
        U("F7 BF BF BF", "\xf7\xbf\xbf\xbf"),
        U("5-byte form", "\xf8\x88\x80\x80\x80"),
        U("6-byte form", "\xfc\x84\x80\x80\x80\x80"),
        U("FE", "\xfe"),
        U("FF", "\xff"),
        U("lone continuation 80", "\x80"),
        U("lone continuation BF", "a\xbf"),
        U("truncated 2-byte", "\xc3"),
        U("truncated 3-byte", "\xe2\x82"),
        U("truncated 4-byte", "\xf0\x9f\x98"),
        U("truncated then ascii", "\xe2\x82"
                                  "A"),
        U("2-byte lead then lead", "\xc3\xc3\xa9"),
        U("latin-1 e acute", "caf\xe9"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (utf8_exact(bad[i].s, bad[i].len)) {
            fail_msg("%s was accepted", bad[i].what);
        }
    }
}

static void test_utf8_valid_uses_length_not_nul(void **state)
{
    (void)state;
    /* The first byte of a 2-byte sequence is cut off by len. */
    assert_false(co_utf8_valid("\xc3\xa9", 1));
    assert_true(co_utf8_valid("abc\xff", 3));
    assert_true(co_utf8_valid("\xff", 0));
}

/* A valid RegisterPartnerRequest whose contact is c (may be NULL). */
static Coalition__V1__RegisterPartnerRequest make_register(Coalition__V1__Contact *c)
{
    Coalition__V1__RegisterPartnerRequest r = COALITION__V1__REGISTER_PARTNER_REQUEST__INIT;
    r.request_id = "req-1";
    r.partner_id = "acme";
    r.name = "ACME Caf\xc3\xa9";
    r.settlement_currency = "EUR";
    r.contact = c;
    return r;
}

static Coalition__V1__Contact make_contact(void)
{
    Coalition__V1__Contact c = COALITION__V1__CONTACT__INIT;
    c.name = "Ada";
    c.email = "ada@acme.example";
    c.phone = "+4930123456";
    return c;
}

static void test_pb_strings_valid_accepts_valid_request(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = make_contact();
    Coalition__V1__RegisterPartnerRequest r = make_register(&c);
    const char *bad = "untouched";
    assert_true(co_pb_strings_valid(&r.base, &a, &bad));
    Coalition__V1__RegisterPartnerRequest no_contact = make_register(NULL);
    assert_true(co_pb_strings_valid(&no_contact.base, &a, &bad));
    co_arena_release(&a);
}

static void test_pb_strings_valid_names_nested_field_path(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = make_contact();
    c.email = "ada\xc0\xaf@acme.example";
    Coalition__V1__RegisterPartnerRequest r = make_register(&c);
    const char *bad = NULL;
    assert_false(co_pb_strings_valid(&r.base, &a, &bad));
    assert_non_null(bad);
    assert_string_equal(bad, "contact.email");
    co_arena_release(&a);
}

static void test_pb_strings_valid_names_top_level_field(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = make_contact();
    Coalition__V1__RegisterPartnerRequest r = make_register(&c);
    r.name = "\xed\xa0\x80"; /* a surrogate */
    const char *bad = NULL;
    assert_false(co_pb_strings_valid(&r.base, &a, &bad));
    assert_string_equal(bad, "name");
    co_arena_release(&a);
}

static void test_pb_strings_valid_names_first_bad_field_in_field_order(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = make_contact();
    c.name = "\xff";
    Coalition__V1__RegisterPartnerRequest r = make_register(&c);
    r.settlement_currency = "\xff"; /* field 5, before contact (6) */
    const char *bad = NULL;
    assert_false(co_pb_strings_valid(&r.base, &a, &bad));
    assert_string_equal(bad, "settlement_currency");
    co_arena_release(&a);
}

static void test_pb_strings_valid_names_path_through_repeated_messages(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact good_c = make_contact();
    Coalition__V1__Contact bad_c = make_contact();
    bad_c.phone = "+49\xe2\x82"; /* truncated */
    Coalition__V1__Partner p0 = COALITION__V1__PARTNER__INIT;
    p0.partner_id = "first";
    p0.contact = &good_c;
    Coalition__V1__Partner p1 = COALITION__V1__PARTNER__INIT;
    p1.partner_id = "second";
    p1.contact = &bad_c;
    Coalition__V1__Partner *list[] = {&p0, &p1};
    Coalition__V1__ListPartnersResponse resp = COALITION__V1__LIST_PARTNERS_RESPONSE__INIT;
    resp.n_partners = 2;
    resp.partners = list;
    const char *bad = NULL;
    assert_false(co_pb_strings_valid(&resp.base, &a, &bad));
    assert_string_equal(bad, "partners.contact.phone");
    co_arena_release(&a);
}

static void test_pb_strings_valid_checks_repeated_strings(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    char *ids[] = {"evt-1", "evt-2", "evt-\xc1\xbf"};
    Coalition__V1__AckSettlementEventsRequest r =
        COALITION__V1__ACK_SETTLEMENT_EVENTS_REQUEST__INIT;
    r.request_id = "req";
    r.n_event_ids = 2;
    r.event_ids = ids;
    const char *bad = NULL;
    assert_true(co_pb_strings_valid(&r.base, &a, &bad));
    r.n_event_ids = 3;
    assert_false(co_pb_strings_valid(&r.base, &a, &bad));
    assert_string_equal(bad, "event_ids");
    co_arena_release(&a);
}

static void test_pb_strings_valid_checks_map_values(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__CreditRequest__MetadataEntry e0 =
        COALITION__V1__CREDIT_REQUEST__METADATA_ENTRY__INIT;
    e0.key = "source";
    e0.value = "newsletter";
    Coalition__V1__CreditRequest__MetadataEntry e1 =
        COALITION__V1__CREDIT_REQUEST__METADATA_ENTRY__INIT;
    e1.key = "ticket";
    e1.value = "\xf4\x90\x80\x80"; /* above U+10FFFF */
    Coalition__V1__CreditRequest__MetadataEntry *entries[] = {&e0, &e1};
    Coalition__V1__CreditRequest r = COALITION__V1__CREDIT_REQUEST__INIT;
    r.n_metadata = 2;
    r.metadata = entries;
    const char *bad = NULL;
    assert_false(co_pb_strings_valid(&r.base, &a, &bad));
    assert_string_equal(bad, "metadata.value");
    co_arena_release(&a);
}

static void test_pb_strings_valid_checks_only_the_set_oneof_member(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__MemberRef ref = COALITION__V1__MEMBER_REF__INIT;
    Coalition__V1__CreditRequest r = COALITION__V1__CREDIT_REQUEST__INIT;
    r.member = &ref;
    const char *bad = NULL;

    /* Not set: the union holds an invalid string that must not be looked at. */
    ref.ref_case = COALITION__V1__MEMBER_REF__REF__NOT_SET;
    ref.member_id = "\xff";
    assert_true(co_pb_strings_valid(&r.base, &a, &bad));

    ref.ref_case = COALITION__V1__MEMBER_REF__REF_EMAIL;
    ref.email = "ok@example.com";
    assert_true(co_pb_strings_valid(&r.base, &a, &bad));

    ref.email = "bad\xed\xbf\xbf@example.com";
    assert_false(co_pb_strings_valid(&r.base, &a, &bad));
    assert_string_equal(bad, "member.email");
    co_arena_release(&a);
}

static void test_pb_strings_valid_on_unpacked_wire_bytes(void **state)
{
    (void)state;
    /* Contact{name: "n", email: C0 AF (an overlong '/')} as it arrives on the wire. */
    static const uint8_t wire[] = {0x0a, 0x01, 'n', 0x12, 0x02, 0xc0, 0xaf};
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact *c = coalition__v1__contact__unpack(co_arena_pb(&a), sizeof wire, wire);
    assert_non_null(c);
    const char *bad = NULL;
    assert_false(co_pb_strings_valid(&c->base, &a, &bad));
    assert_string_equal(bad, "email");
    co_arena_release(&a);
}

/* Packs m into buf and replaces the first byte equal to mark by with; returns the length. */
static size_t pack_patched(const ProtobufCMessage *m, uint8_t *buf, size_t cap, char mark,
                           uint8_t with)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    assert_true(n <= cap);
    assert_int_equal(protobuf_c_message_pack(m, buf), n);
    uint8_t *p = memchr(buf, mark, n);
    assert_non_null(p);
    *p = with;
    return n;
}

static void test_pb_wire_strings_valid_accepts_valid_request(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = make_contact();
    Coalition__V1__RegisterPartnerRequest r = make_register(&c);
    uint8_t buf[512];
    size_t n = protobuf_c_message_pack(&r.base, buf);
    const char *bad = NULL;
    assert_true(co_pb_wire_strings_valid(r.base.descriptor, buf, n, &a, &bad));
    assert_true(co_pb_wire_strings_valid(r.base.descriptor, buf, 0, &a, &bad));
    co_arena_release(&a);
}

static void test_pb_wire_strings_valid_catches_nul_that_unpacking_cuts_off(void **state)
{
    (void)state;
    /* Contact{email: "a\0b"}: unpacked, the email reads "a" and looks valid. */
    static const uint8_t wire[] = {0x12, 0x03, 'a', 0x00, 'b'};
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact *c = coalition__v1__contact__unpack(co_arena_pb(&a), sizeof wire, wire);
    assert_non_null(c);
    assert_string_equal(c->email, "a");
    const char *bad = NULL;
    assert_false(
        co_pb_wire_strings_valid(&coalition__v1__contact__descriptor, wire, sizeof wire, &a, &bad));
    assert_non_null(bad);
    assert_string_equal(bad, "email");
    co_arena_release(&a);
}

static void test_pb_wire_strings_valid_names_nested_field_path(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = make_contact();
    c.email = "adaX@acme.example";
    Coalition__V1__RegisterPartnerRequest r = make_register(&c);
    uint8_t buf[512];
    const char *bad = NULL;

    size_t n = pack_patched(&r.base, buf, sizeof buf, 'X', 0x00);
    assert_false(co_pb_wire_strings_valid(r.base.descriptor, buf, n, &a, &bad));
    assert_string_equal(bad, "contact.email");

    n = pack_patched(&r.base, buf, sizeof buf, 'X', 0xc0); /* a lead byte with no follower */
    bad = NULL;
    assert_false(co_pb_wire_strings_valid(r.base.descriptor, buf, n, &a, &bad));
    assert_string_equal(bad, "contact.email");
    co_arena_release(&a);
}

static void test_pb_wire_strings_valid_checks_repeated_strings_and_map_values(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    uint8_t buf[512];
    const char *bad = NULL;

    char *ids[] = {"evt-1", "evt-X"};
    Coalition__V1__AckSettlementEventsRequest ack =
        COALITION__V1__ACK_SETTLEMENT_EVENTS_REQUEST__INIT;
    ack.request_id = "req";
    ack.n_event_ids = 2;
    ack.event_ids = ids;
    size_t n = pack_patched(&ack.base, buf, sizeof buf, 'X', 0x00);
    assert_false(co_pb_wire_strings_valid(ack.base.descriptor, buf, n, &a, &bad));
    assert_string_equal(bad, "event_ids");

    Coalition__V1__CreditRequest__MetadataEntry e =
        COALITION__V1__CREDIT_REQUEST__METADATA_ENTRY__INIT;
    e.key = "ticket";
    e.value = "T-X";
    Coalition__V1__CreditRequest__MetadataEntry *entries[] = {&e};
    Coalition__V1__CreditRequest cr = COALITION__V1__CREDIT_REQUEST__INIT;
    cr.n_metadata = 1;
    cr.metadata = entries;
    n = pack_patched(&cr.base, buf, sizeof buf, 'X', 0x00);
    bad = NULL;
    assert_false(co_pb_wire_strings_valid(cr.base.descriptor, buf, n, &a, &bad));
    assert_string_equal(bad, "metadata.value");
    co_arena_release(&a);
}

static void test_pb_pack_matches_protobuf_c_packing(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = make_contact();
    Coalition__V1__RegisterPartnerRequest r = make_register(&c);
    size_t n = 0;
    uint8_t *bytes = co_pb_pack(&r.base, &a, &n);
    assert_non_null(bytes);
    size_t want = protobuf_c_message_get_packed_size(&r.base);
    assert_int_equal(n, want);
    uint8_t expect[512];
    assert_true(want <= sizeof expect);
    protobuf_c_message_pack(&r.base, expect);
    assert_memory_equal(bytes, expect, n);
    co_arena_release(&a);
}

static void test_pb_pack_of_empty_message_has_zero_length(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = COALITION__V1__CONTACT__INIT;
    size_t n = 99;
    assert_non_null(co_pb_pack(&c.base, &a, &n));
    assert_int_equal(n, 0);
    co_arena_release(&a);
}

static void test_pb_hash_equal_for_equal_content(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c1 = make_contact();
    Coalition__V1__RegisterPartnerRequest r1 = make_register(&c1);
    /* Same content in separately owned strings. */
    char email[] = "ada@acme.example";
    char name[] = "ACME Caf\xc3\xa9";
    Coalition__V1__Contact c2 = make_contact();
    c2.email = email;
    Coalition__V1__RegisterPartnerRequest r2 = make_register(&c2);
    r2.name = name;
    uint8_t h1[32], h2[32];
    assert_true(co_pb_hash(&r1.base, &a, h1));
    assert_true(co_pb_hash(&r2.base, &a, h2));
    assert_memory_equal(h1, h2, 32);
    co_arena_release(&a);
}

static void test_pb_hash_differs_when_a_field_changes(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = make_contact();
    Coalition__V1__RegisterPartnerRequest r = make_register(&c);
    uint8_t base[32], h[32];
    assert_true(co_pb_hash(&r.base, &a, base));

    r.partner_id = "acmf";
    assert_true(co_pb_hash(&r.base, &a, h));
    assert_memory_not_equal(base, h, 32);
    r.partner_id = "acme";

    c.phone = "+4930123457";
    assert_true(co_pb_hash(&r.base, &a, h));
    assert_memory_not_equal(base, h, 32);
    c.phone = "+4930123456";

    r.contact = NULL;
    assert_true(co_pb_hash(&r.base, &a, h));
    assert_memory_not_equal(base, h, 32);
    r.contact = &c;

    assert_true(co_pb_hash(&r.base, &a, h));
    assert_memory_equal(base, h, 32);
    co_arena_release(&a);
}

static void test_pb_hash_is_sha256_of_packing(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = make_contact();
    uint8_t packed[256];
    size_t n = protobuf_c_message_pack(&c.base, packed);
    uint8_t want[32], got[32];
    SHA256(packed, n, want);
    assert_true(co_pb_hash(&c.base, &a, got));
    assert_memory_equal(got, want, 32);

    /* The empty message hashes as SHA-256 of no bytes. */
    static const uint8_t empty_sha[32] = {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
                                          0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
                                          0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
                                          0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
    Coalition__V1__Contact empty = COALITION__V1__CONTACT__INIT;
    assert_true(co_pb_hash(&empty.base, &a, got));
    assert_memory_equal(got, empty_sha, 32);
    co_arena_release(&a);
}

static void test_pb_hash_ignores_wire_field_order(void **state)
{
    (void)state;
    /* Contact{name: "n", email: "e@x.io"} sent in field order and in reverse order. */
    static const uint8_t in_order[] = {0x0a, 0x01, 'n', 0x12, 0x06, 'e', '@', 'x', '.', 'i', 'o'};
    static const uint8_t reversed[] = {0x12, 0x06, 'e', '@', 'x', '.', 'i', 'o', 0x0a, 0x01, 'n'};
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact *c1 =
        coalition__v1__contact__unpack(co_arena_pb(&a), sizeof in_order, in_order);
    Coalition__V1__Contact *c2 =
        coalition__v1__contact__unpack(co_arena_pb(&a), sizeof reversed, reversed);
    assert_non_null(c1);
    assert_non_null(c2);
    uint8_t h1[32], h2[32];
    assert_true(co_pb_hash(&c1->base, &a, h1));
    assert_true(co_pb_hash(&c2->base, &a, h2));
    assert_memory_equal(h1, h2, 32);
    co_arena_release(&a);
}

static void test_pb_hash_over_arena_limit_fails(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 16);
    Coalition__V1__Contact c = make_contact();
    Coalition__V1__RegisterPartnerRequest r = make_register(&c);
    uint8_t h[32];
    assert_false(co_pb_hash(&r.base, &a, h));
    co_arena_release(&a);
}

static void test_pb_bb_bytes_of_null_buffer_is_empty(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    size_t len = 99;
    assert_non_null(co_pb_bb_bytes(NULL, &a, 1024, &len));
    assert_int_equal(len, 0);
    co_arena_release(&a);
}

static void test_pb_byte_buffer_round_trip_and_size_limit(void **state)
{
    (void)state;
    co_arena a;
    co_arena_init(&a, 0);
    Coalition__V1__Contact c = make_contact();
    Coalition__V1__RegisterPartnerRequest r = make_register(&c);
    size_t want = protobuf_c_message_get_packed_size(&r.base);
    grpc_byte_buffer *bb = co_pb_to_bb(&r.base);
    assert_non_null(bb);
    assert_int_equal(grpc_byte_buffer_length(bb), want);

    size_t len = 12345;
    assert_null(co_pb_bb_bytes(bb, &a, want - 1, &len));
    assert_int_equal(len, 12345);

    uint8_t *bytes = co_pb_bb_bytes(bb, &a, want, &len);
    assert_non_null(bytes);
    assert_int_equal(len, want);
    Coalition__V1__RegisterPartnerRequest *back =
        coalition__v1__register_partner_request__unpack(co_arena_pb(&a), len, bytes);
    assert_non_null(back);
    assert_string_equal(back->partner_id, "acme");
    assert_string_equal(back->contact->email, "ada@acme.example");
    grpc_byte_buffer_destroy(bb);
    co_arena_release(&a);
}

static int grpc_up(void **state)
{
    (void)state;
    grpc_init();
    return 0;
}

static int grpc_down(void **state)
{
    (void)state;
    grpc_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid_accepts_well_formed_text),
        cmocka_unit_test(test_utf8_valid_rejects_malformed_text),
        cmocka_unit_test(test_utf8_valid_uses_length_not_nul),
        cmocka_unit_test(test_pb_strings_valid_accepts_valid_request),
        cmocka_unit_test(test_pb_strings_valid_names_nested_field_path),
        cmocka_unit_test(test_pb_strings_valid_names_top_level_field),
        cmocka_unit_test(test_pb_strings_valid_names_first_bad_field_in_field_order),
        cmocka_unit_test(test_pb_strings_valid_names_path_through_repeated_messages),
        cmocka_unit_test(test_pb_strings_valid_checks_repeated_strings),
        cmocka_unit_test(test_pb_strings_valid_checks_map_values),
        cmocka_unit_test(test_pb_strings_valid_checks_only_the_set_oneof_member),
        cmocka_unit_test(test_pb_strings_valid_on_unpacked_wire_bytes),
        cmocka_unit_test(test_pb_wire_strings_valid_accepts_valid_request),
        cmocka_unit_test(test_pb_wire_strings_valid_catches_nul_that_unpacking_cuts_off),
        cmocka_unit_test(test_pb_wire_strings_valid_names_nested_field_path),
        cmocka_unit_test(test_pb_wire_strings_valid_checks_repeated_strings_and_map_values),
        cmocka_unit_test(test_pb_pack_matches_protobuf_c_packing),
        cmocka_unit_test(test_pb_pack_of_empty_message_has_zero_length),
        cmocka_unit_test(test_pb_hash_equal_for_equal_content),
        cmocka_unit_test(test_pb_hash_differs_when_a_field_changes),
        cmocka_unit_test(test_pb_hash_is_sha256_of_packing),
        cmocka_unit_test(test_pb_hash_ignores_wire_field_order),
        cmocka_unit_test(test_pb_hash_over_arena_limit_fails),
        cmocka_unit_test(test_pb_bb_bytes_of_null_buffer_is_empty),
        cmocka_unit_test(test_pb_byte_buffer_round_trip_and_size_limit),
    };
    return cmocka_run_group_tests(tests, grpc_up, grpc_down);
}
