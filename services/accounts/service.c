/* SPDX-License-Identifier: Apache-2.0 */
/* The accounts service's methods: validation, authorization, sealing and idempotent effects. */
#include "acct_service.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "api.h"
#include "card.h"
#include "client.h"
#include "coalition/internal/v1/directory.pb-c.h"
#include "coalition/internal/v1/ledger.pb-c.h"
#include "coalition/internal/v1/members.pb-c.h"
#include "coalition/v1/accounts.pb-c.h"
#include "coalition/v1/partners.pb-c.h"
#include "coalition/v1/points.pb-c.h"
#include "crypto.h"
#include "figures.h"
#include "idem.h"
#include "log.h"
#include "store.h"

extern const co_migration acct_migrations[];

#define ST_ACTIVE   COALITION__V1__MEMBER_STATUS__MEMBER_STATUS_ACTIVE
#define ST_ERASED   COALITION__V1__MEMBER_STATUS__MEMBER_STATUS_ERASED
#define PURPOSE_MAX COALITION__V1__CONSENT_PURPOSE__CONSENT_PURPOSE_PARTNER_SHARING
#define PARTNERS_MS 5000
/* At most this long for the points service's part of an export (a whole ledger history). */
#define EXPORT_MS 30000

/* The constant sealed in accounts.key_check under the key of the first start. */
static const char key_check_text[] = "coalition accounts key check v1";

typedef struct acct_state {
    co_pg_pool *pool;
    co_idem idem;
    acct_keys keys;
    co_client *partners;
    co_client *points;
    int64_t max_message_bytes; /* COALITION_MAX_MESSAGE_BYTES: the largest response */
} acct_state;

/* A member in plain text (arena memory), as decrypted from its row. */
typedef struct member_view {
    acct_member_row row;
    const char *card, *qr, *phone, *email, *name;
    bool has_birth;
    int by, bm, bd;
} member_view;

bool acct_key_well_formed(const char *hex)
{
    uint8_t k[ACCT_KEY_BYTES];
    bool ok = acct_key_parse_hex(hex, k);
    OPENSSL_cleanse(k, sizeof k);
    return ok;
}

/* --- validation helpers --- */

static bool member_id_valid(const char *s)
{
    if (strlen(s) != 33 || s[0] != 'm') {
        return false;
    }
    for (size_t i = 1; i < 33; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* Normalizes a phone number to E.164: spaces, dashes, dots, slashes and parentheses are
 * dropped and a leading "00" becomes "+". NULL when the result is not E.164. */
static char *norm_phone(co_arena *a, const char *in)
{
    size_t n = strlen(in);
    if (n > 64) {
        return NULL;
    }
    char *out = co_arena_alloc(a, n + 2);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0;
    for (const char *p = in; *p != '\0'; p++) {
        if (strchr(" -./()", *p) != NULL) {
            continue;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
    if (o > 2 && out[0] == '0' && out[1] == '0') {
        out[0] = '+';
        memmove(out + 1, out + 2, o - 1);
    }
    return co_e164_valid(out) ? out : NULL;
}

/* Normalizes an e-mail address: surrounding spaces dropped, ASCII lower-cased. NULL when the
 * result is not a plausible address. */
static char *norm_email(co_arena *a, const char *in)
{
    while (*in == ' ') {
        in++;
    }
    size_t n = strlen(in);
    while (n > 0 && in[n - 1] == ' ') {
        n--;
    }
    if (n > 254) {
        return NULL;
    }
    char *out = co_arena_strndup(a, in, n);
    if (out == NULL) {
        return NULL;
    }
    for (char *p = out; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    return co_email_valid(out) ? out : NULL;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool date_valid(const Coalition__V1__Date *d)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d->year < 1900 || d->year > 9999 || d->month < 1 || d->month > 12 || d->day < 1 ||
        d->day > mdays[d->month - 1]) {
        return false;
    }
    bool leap = (d->year % 4 == 0 && d->year % 100 != 0) || d->year % 400 == 0;
    if (d->month == 2 && d->day == 29 && !leap) {
        return false;
    }
    /* Not in the future (UTC; a day of slack for time zones ahead of UTC). */
    return days_from_civil(d->year, d->month, d->day) <= (int64_t)(time(NULL) / 86400) + 1;
}

static bool locale_valid(const char *s)
{
    size_t n = strlen(s);
    if (n > 35) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '-') {
            return false;
        }
    }
    return n == 0 || isalpha((unsigned char)s[0]);
}

static co_err check_consents(co_call *call, const char *field, Coalition__V1__Consent **cs,
                             size_t n)
{
    bool seen[PURPOSE_MAX + 1] = {false};
    for (size_t i = 0; i < n; i++) {
        int p = (int)cs[i]->purpose;
        if (p < 1 || p > PURPOSE_MAX) {
            return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                                "invalid field \"%s\": unknown purpose %d", field, p);
        }
        if (seen[p]) {
            return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                                "invalid field \"%s\": purpose %d listed twice", field, p);
        }
        seen[p] = true;
    }
    return CO_OK;
}

/* A validated identifier of a MemberRef: the member id, or a kind and its lookup hash. */
typedef struct ref_key {
    bool by_id;
    const char *member_id;
    acct_ident kind;
    uint8_t hash[ACCT_HASH_BYTES];
} ref_key;

static co_err invalid(char *why, size_t whylen, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
    return CO_ERR_INVALID_ARGUMENT;
}

/* Reads ref into out (arena strings); a reference that breaks a rule is INVALID_ARGUMENT with
 * the reason in why. */
static co_err ref_parse(co_arena *a, const acct_state *st, const Coalition__V1__MemberRef *ref,
                        ref_key *out, char *why, size_t whylen)
{
    const char *kind = NULL, *value = NULL;
    if (ref == NULL) {
        return invalid(why, whylen, "invalid field \"member\": required");
    }
    switch (ref->ref_case) {
    case COALITION__V1__MEMBER_REF__REF_MEMBER_ID:
        if (!member_id_valid(ref->member_id)) {
            return invalid(why, whylen, "invalid field \"member.member_id\": not a member id");
        }
        out->by_id = true;
        out->member_id = ref->member_id;
        return CO_OK;
    case COALITION__V1__MEMBER_REF__REF_CARD_NUMBER: {
        char card[ACCT_CARD_DIGITS + 1];
        if (!acct_card_normalize(ref->card_number, card)) {
            return invalid(why, whylen,
                           "invalid field \"member.card_number\": must be 16 digits with "
                           "a valid check digit");
        }
        kind = "card";
        value = co_arena_strdup(a, card);
        out->kind = ACCT_ID_CARD;
        break;
    }
    case COALITION__V1__MEMBER_REF__REF_PHONE:
        value = norm_phone(a, ref->phone);
        if (value == NULL) {
            return invalid(why, whylen,
                           "invalid field \"member.phone\": must be E.164, like +4930123456");
        }
        kind = "phone";
        out->kind = ACCT_ID_PHONE;
        break;
    case COALITION__V1__MEMBER_REF__REF_EMAIL:
        value = norm_email(a, ref->email);
        if (value == NULL) {
            return invalid(why, whylen, "invalid field \"member.email\": not an e-mail address");
        }
        kind = "email";
        out->kind = ACCT_ID_EMAIL;
        break;
    case COALITION__V1__MEMBER_REF__REF_QR_TOKEN: {
        size_t n = strlen(ref->qr_token);
        if (n == 0 || n > 128) {
            return invalid(why, whylen,
                           "invalid field \"member.qr_token\": must be 1-128 characters");
        }
        kind = "qr";
        value = ref->qr_token;
        out->kind = ACCT_ID_QR;
        break;
    }
    default:
        return invalid(why, whylen, "invalid field \"member\": exactly one identifier is required");
    }
    if (value == NULL) {
        return CO_ERR_NOMEM;
    }
    out->by_id = false;
    return acct_lookup_hash(&st->keys, kind, value, out->hash);
}

static co_err parse_ref(co_call *call, const acct_state *st, const Coalition__V1__MemberRef *ref,
                        ref_key *out)
{
    char why[128];
    co_err e = ref_parse(co_call_arena(call), st, ref, out, why, sizeof why);
    return e == CO_ERR_INVALID_ARGUMENT ? co_call_fail(call, e, "%s", why) : e;
}

/* Finds the member of key inside a transaction; NOT_FOUND (with a message that names no
 * identifier) when none. */
static co_err find_member(co_pg_conn *c, co_call *call, const ref_key *key, bool lock,
                          acct_member_row *out)
{
    co_arena *a = co_call_arena(call);
    co_err e = key->by_id ? acct_store_get(c, key->member_id, lock, a, out)
                          : acct_store_find(c, key->kind, key->hash, a, out);
    if (e == CO_OK && lock && !key->by_id) {
        e = acct_store_get(c, out->member_id, true, a, out);
    }
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "member not found");
    }
    return e;
}

/* --- sealing --- */

static co_err seal_str(const acct_state *st, co_arena *a, const char *column, const char *member_id,
                       const char *s, acct_blob *out)
{
    if (s == NULL || s[0] == '\0') {
        *out = (acct_blob){NULL, 0};
        return CO_OK;
    }
    uint8_t *p;
    size_t n;
    co_err e = acct_seal(&st->keys, column, member_id, (const uint8_t *)s, strlen(s), a, &p, &n);
    if (e == CO_OK) {
        *out = (acct_blob){p, n};
    }
    return e;
}

static co_err open_str(const acct_state *st, co_arena *a, const char *column, const char *member_id,
                       const acct_blob *b, const char **out)
{
    if (b->p == NULL) {
        *out = "";
        return CO_OK;
    }
    uint8_t *p;
    size_t n;
    co_err e = acct_open(&st->keys, column, member_id, b->p, b->n, a, &p, &n);
    if (e != CO_OK) {
        co_log(CO_LOG_ERROR, "could not decrypt a stored value", "{s:s, s:s}", "column", column,
               "member_id", member_id);
        return CO_ERR_INTERNAL;
    }
    *out = (const char *)p;
    return CO_OK;
}

static co_err decrypt_member(const acct_state *st, co_arena *a, const acct_member_row *r,
                             member_view *v)
{
    member_view x = {.row = *r};
    const char *birth;
    const char *id = r->member_id;
    co_err e;
    if ((e = open_str(st, a, "card_number", id, &r->card, &x.card)) != CO_OK ||
        (e = open_str(st, a, "qr_token", id, &r->qr, &x.qr)) != CO_OK ||
        (e = open_str(st, a, "phone", id, &r->phone, &x.phone)) != CO_OK ||
        (e = open_str(st, a, "email", id, &r->email, &x.email)) != CO_OK ||
        (e = open_str(st, a, "display_name", id, &r->name, &x.name)) != CO_OK ||
        (e = open_str(st, a, "birth_date", id, &r->birth, &birth)) != CO_OK) {
        return e;
    }
    if (birth[0] != '\0') {
        if (sscanf(birth, "%d-%d-%d", &x.by, &x.bm, &x.bd) != 3) {
            return CO_ERR_INTERNAL;
        }
        x.has_birth = true;
    }
    *v = x;
    return CO_OK;
}

/* The plain values of a member to seal and hash (normalized; "" for none). */
typedef struct member_plain {
    const char *member_id;
    const char *card, *qr, *phone, *email, *name, *locale;
    const Coalition__V1__Date *birth; /* NULL for none */
} member_plain;

static co_err seal_member(const acct_state *st, co_arena *a, const member_plain *p,
                          acct_member_row *row, acct_hashes *h, uint8_t hashes[4][ACCT_HASH_BYTES])
{
    const char *id = p->member_id;
    char birth[16] = "";
    row->birth_md = 0;
    if (p->birth != NULL) {
        snprintf(birth, sizeof birth, "%04d-%02d-%02d", (int)p->birth->year, (int)p->birth->month,
                 (int)p->birth->day);
        row->birth_md = (int)p->birth->month * 100 + (int)p->birth->day;
    }
    co_err e;
    if ((e = seal_str(st, a, "card_number", id, p->card, &row->card)) != CO_OK ||
        (e = seal_str(st, a, "qr_token", id, p->qr, &row->qr)) != CO_OK ||
        (e = seal_str(st, a, "phone", id, p->phone, &row->phone)) != CO_OK ||
        (e = seal_str(st, a, "email", id, p->email, &row->email)) != CO_OK ||
        (e = seal_str(st, a, "display_name", id, p->name, &row->name)) != CO_OK ||
        (e = seal_str(st, a, "birth_date", id, birth, &row->birth)) != CO_OK) {
        return e;
    }
    const char *kinds[4] = {"card", "qr", "phone", "email"};
    const char *vals[4] = {p->card, p->qr, p->phone, p->email};
    const uint8_t **outs[4] = {&h->card, &h->qr, &h->phone, &h->email};
    for (int k = 0; k < 4; k++) {
        *outs[k] = NULL;
        if (vals[k] != NULL && vals[k][0] != '\0') {
            if ((e = acct_lookup_hash(&st->keys, kinds[k], vals[k], hashes[k])) != CO_OK) {
                return e;
            }
            *outs[k] = hashes[k];
        }
    }
    row->member_id = id;
    row->locale = p->locale;
    return CO_OK;
}

/* A new opaque id: prefix and 32 hexadecimal characters. */
static char *new_id(co_arena *a, const char *prefix)
{
    uint8_t r[16];
    if (acct_random(r, sizeof r) != CO_OK) {
        return NULL;
    }
    char hex[33];
    for (size_t i = 0; i < 16; i++) {
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    }
    return co_arena_printf(a, "%s%s", prefix, hex);
}

/* --- responses --- */

static bool consent_granted(const acct_consent *cs, size_t n, int purpose)
{
    for (size_t i = 0; i < n; i++) {
        if (cs[i].purpose == purpose) {
            return cs[i].granted;
        }
    }
    return false;
}

/* Whether the caller may see the member's personal fields (see accounts.proto). */
static bool sees_personal(const co_caller *who, const member_view *v, const acct_consent *cs,
                          size_t ncs)
{
    if (who->role == CO_ROLE_ADMIN || who->role == CO_ROLE_SERVICE) {
        return true;
    }
    return strcmp(who->partner_id, v->row.enrolled_by) == 0 ||
           consent_granted(cs, ncs,
                           COALITION__V1__CONSENT_PURPOSE__CONSENT_PURPOSE_PARTNER_SHARING);
}

static Coalition__V1__Member *member_pb(co_arena *a, const member_view *v, const acct_consent *cs,
                                        size_t ncs, bool personal)
{
    Coalition__V1__Member *m = co_arena_alloc(a, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    coalition__v1__member__init(m);
    m->member_id = (char *)v->row.member_id;
    m->card_number = (char *)(v->card != NULL ? v->card : "");
    m->qr_token = (char *)(v->qr != NULL ? v->qr : "");
    m->locale = (char *)v->row.locale;
    m->status = (Coalition__V1__MemberStatus)v->row.status;
    m->enrolled_by_partner_id = (char *)v->row.enrolled_by;
    if (personal) {
        m->phone = (char *)v->phone;
        m->email = (char *)v->email;
        m->display_name = (char *)v->name;
        if (v->has_birth) {
            Coalition__V1__Date *d = co_arena_alloc(a, sizeof *d);
            if (d == NULL) {
                return NULL;
            }
            coalition__v1__date__init(d);
            d->year = v->by;
            d->month = v->bm;
            d->day = v->bd;
            m->birth_date = d;
        }
    }
    if (ncs > 0) {
        m->consents = co_arena_calloc(a, ncs, sizeof *m->consents);
        if (m->consents == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < ncs; i++) {
            Coalition__V1__Consent *c = co_arena_alloc(a, sizeof *c);
            if (c == NULL) {
                return NULL;
            }
            coalition__v1__consent__init(c);
            c->purpose = (Coalition__V1__ConsentPurpose)cs[i].purpose;
            c->granted = cs[i].granted;
            c->update_time = co_timestamp(a, cs[i].time_us);
            m->consents[i] = c;
        }
        m->n_consents = ncs;
    }
    m->create_time = co_timestamp(a, v->row.create_us);
    m->update_time = co_timestamp(a, v->row.update_us);
    if (v->row.erase_us != 0) {
        m->erase_time = co_timestamp(a, v->row.erase_us);
    }
    return m;
}

static Coalition__V1__Membership *membership_pb(co_arena *a, const acct_membership_row *r)
{
    Coalition__V1__Membership *m = co_arena_alloc(a, sizeof *m);
    Coalition__V1__Money *fee = co_arena_alloc(a, sizeof *fee);
    if (m == NULL || fee == NULL) {
        return NULL;
    }
    coalition__v1__membership__init(m);
    coalition__v1__money__init(fee);
    m->membership_id = (char *)r->membership_id;
    m->member_id = (char *)r->member_id;
    m->plan_id = (char *)r->plan_id;
    m->program_code = (char *)r->program_code;
    m->status = (Coalition__V1__MembershipStatus)r->status;
    m->start_time = co_timestamp(a, r->start_us);
    m->end_time = co_timestamp(a, r->end_us);
    fee->amount_micros = r->fee_micros;
    fee->currency = (char *)r->fee_currency;
    m->last_fee = fee;
    m->sold_by_partner_id = (char *)r->sold_by;
    if (r->cancel_us != 0) {
        m->cancel_time = co_timestamp(a, r->cancel_us);
    }
    m->cancel_reason = (char *)r->cancel_reason;
    return m;
}

/* A member as the caller may see it, read in its own transaction after a mutation. */
typedef struct load_args {
    const acct_state *st;
    co_arena *a;
    const char *member_id;
    acct_member_row row;
    acct_consent *cs;
    size_t ncs;
    acct_membership_row *ms;
    size_t nms;
    bool with_memberships;
} load_args;

static co_err load_tx(co_pg_conn *c, void *ud)
{
    load_args *la = ud;
    co_err e = acct_store_get(c, la->member_id, false, la->a, &la->row);
    if (e == CO_OK) {
        e = acct_store_consents(c, la->member_id, la->a, &la->cs, &la->ncs);
    }
    if (e == CO_OK && la->with_memberships) {
        e = acct_store_memberships_active(c, la->member_id, "", false, la->a, &la->ms, &la->nms);
    }
    return e;
}

/* The Member the caller may see, for member_id (NULL on failure after co_call_fail). */
static co_err visible_member(co_call *call, const acct_state *st, const char *member_id,
                             Coalition__V1__Member **out)
{
    load_args la = {.st = st, .a = co_call_arena(call), .member_id = member_id};
    co_err e = co_pg_tx(st->pool, co_call_ms_left(call), load_tx, &la);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "member not found");
    }
    if (e != CO_OK) {
        return e;
    }
    member_view v;
    if ((e = decrypt_member(st, la.a, &la.row, &v)) != CO_OK) {
        return e;
    }
    bool personal = sees_personal(co_caller_of(call), &v, la.cs, la.ncs);
    *out = member_pb(la.a, &v, la.cs, la.ncs, personal);
    return *out != NULL ? CO_OK : CO_ERR_NOMEM;
}

/* A response recorded for replay holds the member id only: never personal data. */
static Coalition__V1__Member *id_only(co_arena *a, const char *member_id)
{
    Coalition__V1__Member *m = co_arena_alloc(a, sizeof *m);
    if (m != NULL) {
        coalition__v1__member__init(m);
        m->member_id = (char *)member_id;
    }
    return m;
}

static co_err identifier_taken(co_call *call, const char *field)
{
    return co_call_fail(call, CO_ERR_ALREADY_EXISTS,
                        "invalid field \"%s\": already used by another member", field);
}

/* --- EnrollMember --- */

typedef struct enroll_args {
    const acct_state *st;
    const Coalition__V1__EnrollMemberRequest *req;
    const char *phone, *email, *card;
    const char *partner_id;
} enroll_args;

static co_err enroll_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    enroll_args *ea = ud;
    co_arena *a = co_call_arena(call);
    char card[ACCT_CARD_DIGITS + 1], qr[ACCT_QR_CHARS + 1];
    co_err e;
    if (ea->card != NULL) {
        memcpy(card, ea->card, sizeof card);
    } else if ((e = acct_card_generate(card)) != CO_OK) {
        return e;
    }
    if ((e = acct_qr_generate(qr)) != CO_OK) {
        return e;
    }
    member_plain p = {
        .member_id = new_id(a, "m"),
        .card = card,
        .qr = qr,
        .phone = ea->phone,
        .email = ea->email,
        .name = ea->req->display_name,
        .locale = ea->req->locale,
        .birth = ea->req->birth_date,
    };
    if (p.member_id == NULL) {
        return CO_ERR_NOMEM;
    }
    acct_member_row row = {.enrolled_by = ea->partner_id}, out;
    acct_hashes h;
    uint8_t hashes[4][ACCT_HASH_BYTES];
    if ((e = seal_member(ea->st, a, &p, &row, &h, hashes)) != CO_OK) {
        return e;
    }
    const char *conflict = NULL;
    e = acct_store_insert(c, &row, &h, a, &out, &conflict);
    if (e == CO_ERR_ALREADY_EXISTS) {
        return identifier_taken(call, conflict);
    }
    if (e != CO_OK) {
        return e;
    }
    for (size_t i = 0; i < ea->req->n_consents; i++) {
        const Coalition__V1__Consent *cs = ea->req->consents[i];
        if ((e = acct_store_set_consent(c, p.member_id, (int)cs->purpose, cs->granted,
                                        ea->partner_id)) != CO_OK) {
            return e;
        }
    }
    if ((e = acct_store_log_change(c, p.member_id, ea->partner_id, "enroll")) != CO_OK) {
        return e;
    }
    Coalition__V1__EnrollMemberResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__enroll_member_response__init(r);
    if ((r->member = id_only(a, p.member_id)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

/* Validates the personal fields shared by EnrollMember and UpdateMember. */
static co_err check_personal(co_call *call, const char *prefix, const char *phone,
                             const char *email, const char *name, const Coalition__V1__Date *birth,
                             const char *locale, const char **nphone, const char **nemail)
{
    co_arena *a = co_call_arena(call);
    *nphone = "";
    *nemail = "";
    if (phone != NULL && phone[0] != '\0' && (*nphone = norm_phone(a, phone)) == NULL) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"%sphone\": must be E.164, like +4930123456", prefix);
    }
    if (email != NULL && email[0] != '\0' && (*nemail = norm_email(a, email)) == NULL) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"%semail\": not an e-mail address of at most 254 "
                            "characters",
                            prefix);
    }
    if (name != NULL && co_utf8_chars(name) > 200) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"%sdisplay_name\": at most 200 characters", prefix);
    }
    if (birth != NULL && !date_valid(birth)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"%sbirth_date\": must be a valid date from 1900 on, "
                            "not in the future",
                            prefix);
    }
    if (locale != NULL && !locale_valid(locale)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"%slocale\": must be a BCP 47 tag of at most 35 "
                            "characters",
                            prefix);
    }
    return CO_OK;
}

static co_err enroll_member(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                            void *ud)
{
    acct_state *st = ud;
    const Coalition__V1__EnrollMemberRequest *req = (const void *)msg;
    const co_caller *who = co_caller_of(call);
    co_err e;
    if (who->partner_id == NULL) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "enrolment needs a partner caller");
    }
    if ((e = co_check_request_id(call, req->request_id)) != CO_OK) {
        return e;
    }
    enroll_args ea = {.st = st, .req = req, .partner_id = who->partner_id};
    if ((e = check_personal(call, "", req->phone, req->email, req->display_name, req->birth_date,
                            req->locale, &ea.phone, &ea.email)) != CO_OK ||
        (e = check_consents(call, "consents", req->consents, req->n_consents)) != CO_OK) {
        return e;
    }
    char card[ACCT_CARD_DIGITS + 1];
    if (req->card_number[0] != '\0') {
        if (!acct_card_normalize(req->card_number, card)) {
            return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                                "invalid field \"card_number\": must be 16 digits with a valid "
                                "check digit");
        }
        ea.card = card;
    }
    ProtobufCMessage *out = NULL;
    e = co_idem_run(st->pool, &st->idem, call, who->partner_id, req->request_id, msg,
                    &coalition__v1__enroll_member_response__descriptor, enroll_effect, &ea, &out);
    if (e != CO_OK) {
        return e;
    }
    Coalition__V1__EnrollMemberResponse *r = (void *)out;
    if ((e = visible_member(call, st, r->member->member_id, &r->member)) != CO_OK) {
        return e;
    }
    *resp = out;
    return CO_OK;
}

/* --- GetMember --- */

typedef struct get_args {
    const ref_key *key;
    co_call *call;
    acct_member_row row;
    acct_consent *cs;
    size_t ncs;
    acct_membership_row *ms;
    size_t nms;
} get_args;

/* One round trip for a member id (the member, consents and memberships together); a card,
 * phone, e-mail or QR reference finds the member's row first, then reads the rest. */
static co_err get_tx(co_pg_conn *c, void *ud)
{
    get_args *ga = ud;
    co_arena *a = co_call_arena(ga->call);
    const char *id = ga->key->member_id;
    acct_member_row *row = &ga->row;
    if (!ga->key->by_id) {
        co_err e = find_member(c, ga->call, ga->key, false, &ga->row);
        if (e != CO_OK) {
            return e;
        }
        id = ga->row.member_id;
        row = NULL; /* read already */
    }
    co_err e = acct_store_member_view(c, id, a, row, &ga->cs, &ga->ncs, &ga->ms, &ga->nms);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(ga->call, e, "member not found");
    }
    return e;
}

static co_err get_member(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                         void *ud)
{
    acct_state *st = ud;
    const Coalition__V1__GetMemberRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    ref_key key;
    co_err e = parse_ref(call, st, req->member, &key);
    if (e != CO_OK) {
        return e;
    }
    get_args ga = {.key = &key, .call = call};
    if ((e = co_pg_tx(st->pool, co_call_ms_left(call), get_tx, &ga)) != CO_OK) {
        return e;
    }
    member_view v;
    if ((e = decrypt_member(st, a, &ga.row, &v)) != CO_OK) {
        return e;
    }
    Coalition__V1__GetMemberResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__get_member_response__init(r);
    r->member =
        member_pb(a, &v, ga.cs, ga.ncs, sees_personal(co_caller_of(call), &v, ga.cs, ga.ncs));
    if (r->member == NULL) {
        return CO_ERR_NOMEM;
    }
    if (ga.nms > 0) {
        r->active_memberships = co_arena_calloc(a, ga.nms, sizeof *r->active_memberships);
        if (r->active_memberships == NULL) {
            return CO_ERR_NOMEM;
        }
        for (size_t i = 0; i < ga.nms; i++) {
            if ((r->active_memberships[i] = membership_pb(a, &ga.ms[i])) == NULL) {
                return CO_ERR_NOMEM;
            }
        }
        r->n_active_memberships = ga.nms;
    }
    *resp = &r->base;
    return CO_OK;
}

/* --- UpdateMember --- */

enum {
    UP_PHONE = 1 << 0,
    UP_EMAIL = 1 << 1,
    UP_NAME = 1 << 2,
    UP_BIRTH = 1 << 3,
    UP_LOCALE = 1 << 4,
    UP_CONSENTS = 1 << 5,
    UP_CARD = 1 << 6,
};

static const struct {
    const char *path;
    int bit;
} update_paths[] = {
    {"phone", UP_PHONE},      {"email", UP_EMAIL},   {"display_name", UP_NAME},
    {"birth_date", UP_BIRTH}, {"locale", UP_LOCALE}, {"consents", UP_CONSENTS},
    {"card_number", UP_CARD},
};

typedef struct update_args {
    const acct_state *st;
    const char *member_id;
    const Coalition__V1__Member *m;
    int mask;
    bool rotate_qr;
    const char *phone, *email, *card; /* normalized; card NULL = assign one */
    const char *partner_id;
    const char *fields;
} update_args;

static co_err update_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    update_args *ua = ud;
    co_arena *a = co_call_arena(call);
    acct_member_row row;
    co_err e = acct_store_get(c, ua->member_id, true, a, &row);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "member not found");
    }
    if (e != CO_OK) {
        return e;
    }
    if (row.status != ST_ACTIVE) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION, "member is erased");
    }
    member_view v;
    if ((e = decrypt_member(ua->st, a, &row, &v)) != CO_OK) {
        return e;
    }
    Coalition__V1__Date birth;
    coalition__v1__date__init(&birth);
    birth.year = v.by;
    birth.month = v.bm;
    birth.day = v.bd;
    member_plain p = {
        .member_id = row.member_id,
        .card = v.card,
        .qr = v.qr,
        .phone = v.phone,
        .email = v.email,
        .name = v.name,
        .locale = row.locale,
        .birth = v.has_birth ? &birth : NULL,
    };
    char card[ACCT_CARD_DIGITS + 1], qr[ACCT_QR_CHARS + 1];
    if (ua->mask & UP_PHONE) {
        p.phone = ua->phone;
    }
    if (ua->mask & UP_EMAIL) {
        p.email = ua->email;
    }
    if (ua->mask & UP_NAME) {
        p.name = ua->m->display_name;
    }
    if (ua->mask & UP_BIRTH) {
        p.birth = ua->m->birth_date;
    }
    if (ua->mask & UP_LOCALE) {
        p.locale = ua->m->locale;
    }
    if (ua->mask & UP_CARD) {
        if (ua->card != NULL) {
            p.card = ua->card;
        } else if ((e = acct_card_generate(card)) != CO_OK) {
            return e;
        } else {
            p.card = card;
        }
    }
    if (ua->rotate_qr) {
        if ((e = acct_qr_generate(qr)) != CO_OK) {
            return e;
        }
        p.qr = qr;
    }
    acct_member_row nrow = {0}, out;
    acct_hashes h;
    uint8_t hashes[4][ACCT_HASH_BYTES];
    if ((e = seal_member(ua->st, a, &p, &nrow, &h, hashes)) != CO_OK) {
        return e;
    }
    const char *conflict = NULL;
    e = acct_store_update(c, &nrow, &h, a, &out, &conflict);
    if (e == CO_ERR_ALREADY_EXISTS) {
        return identifier_taken(call, conflict);
    }
    if (e != CO_OK) {
        return e;
    }
    if (ua->mask & UP_CONSENTS) {
        for (size_t i = 0; i < ua->m->n_consents; i++) {
            const Coalition__V1__Consent *cs = ua->m->consents[i];
            if ((e = acct_store_set_consent(c, row.member_id, (int)cs->purpose, cs->granted,
                                            ua->partner_id)) != CO_OK) {
                return e;
            }
        }
    }
    if ((e = acct_store_log_change(c, row.member_id, ua->partner_id, ua->fields)) != CO_OK) {
        return e;
    }
    Coalition__V1__UpdateMemberResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__update_member_response__init(r);
    if ((r->member = id_only(a, row.member_id)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

static co_err update_member(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                            void *ud)
{
    acct_state *st = ud;
    const Coalition__V1__UpdateMemberRequest *req = (const void *)msg;
    const co_caller *who = co_caller_of(call);
    co_arena *a = co_call_arena(call);
    co_err e;
    if (who->partner_id == NULL) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "updates need a partner caller");
    }
    if ((e = co_check_request_id(call, req->request_id)) != CO_OK) {
        return e;
    }
    if (!member_id_valid(req->member_id)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"member_id\": not a member id");
    }
    size_t npaths = req->update_mask != NULL ? req->update_mask->n_paths : 0;
    if (npaths == 0 && !req->rotate_qr_token) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"update_mask\": required, non-empty");
    }
    update_args ua = {.st = st,
                      .member_id = req->member_id,
                      .rotate_qr = req->rotate_qr_token,
                      .partner_id = who->partner_id};
    static const Coalition__V1__Member empty = COALITION__V1__MEMBER__INIT;
    ua.m = req->member != NULL ? req->member : &empty;
    char *fields = co_arena_strdup(a, req->rotate_qr_token ? "qr_token" : "");
    for (size_t i = 0; i < npaths && fields != NULL; i++) {
        const char *path = req->update_mask->paths[i];
        int bit = 0;
        for (size_t k = 0; k < sizeof update_paths / sizeof update_paths[0]; k++) {
            if (strcmp(path, update_paths[k].path) == 0) {
                bit = update_paths[k].bit;
            }
        }
        if (bit == 0) {
            return co_call_fail(
                call, CO_ERR_INVALID_ARGUMENT,
                "invalid field \"update_mask\": unknown or immutable path \"%.64s\"", path);
        }
        if ((ua.mask & bit) == 0) {
            fields = co_arena_printf(a, "%s%s%s", fields, fields[0] != '\0' ? "," : "", path);
        }
        ua.mask |= bit;
    }
    if (fields == NULL) {
        return CO_ERR_NOMEM;
    }
    ua.fields = fields;
    const Coalition__V1__Member *m = ua.m;
    if ((e = check_personal(
             call, "member.", (ua.mask & UP_PHONE) ? m->phone : NULL,
             (ua.mask & UP_EMAIL) ? m->email : NULL, (ua.mask & UP_NAME) ? m->display_name : NULL,
             (ua.mask & UP_BIRTH) ? m->birth_date : NULL, (ua.mask & UP_LOCALE) ? m->locale : NULL,
             &ua.phone, &ua.email)) != CO_OK) {
        return e;
    }
    if ((ua.mask & UP_CONSENTS) &&
        (e = check_consents(call, "member.consents", m->consents, m->n_consents)) != CO_OK) {
        return e;
    }
    char card[ACCT_CARD_DIGITS + 1];
    if ((ua.mask & UP_CARD) && m->card_number[0] != '\0') {
        if (!acct_card_normalize(m->card_number, card)) {
            return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                                "invalid field \"member.card_number\": must be 16 digits with a "
                                "valid check digit");
        }
        ua.card = card;
    }
    ProtobufCMessage *out = NULL;
    e = co_idem_run(st->pool, &st->idem, call, who->partner_id, req->request_id, msg,
                    &coalition__v1__update_member_response__descriptor, update_effect, &ua, &out);
    if (e != CO_OK) {
        return e;
    }
    Coalition__V1__UpdateMemberResponse *r = (void *)out;
    if ((e = visible_member(call, st, r->member->member_id, &r->member)) != CO_OK) {
        return e;
    }
    *resp = out;
    return CO_OK;
}

/* --- EraseMember --- */

typedef struct erase_args {
    const acct_state *st;
    const char *member_id;
    const char *reason;
} erase_args;

static co_err erase_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    erase_args *ea = ud;
    co_arena *a = co_call_arena(call);
    acct_member_row row;
    co_err e = acct_store_get(c, ea->member_id, true, a, &row);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "member not found");
    }
    if (e == CO_OK && row.status != ST_ERASED) {
        e = acct_store_erase(c, ea->member_id, ea->reason, a, &row);
        if (e == CO_OK) {
            e = acct_store_log_change(c, ea->member_id, CO_OPERATOR_ID, "erase");
        }
    }
    if (e != CO_OK) {
        return e;
    }
    member_view v = {.row = row};
    Coalition__V1__EraseMemberResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__erase_member_response__init(r);
    if ((r->member = member_pb(a, &v, NULL, 0, false)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

static co_err erase_member(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                           void *ud)
{
    acct_state *st = ud;
    const Coalition__V1__EraseMemberRequest *req = (const void *)msg;
    co_err e;
    if ((e = co_require_admin(call)) != CO_OK ||
        (e = co_check_request_id(call, req->request_id)) != CO_OK) {
        return e;
    }
    if (!member_id_valid(req->member_id)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"member_id\": not a member id");
    }
    size_t rl = co_utf8_chars(req->reason);
    if (rl == 0 || rl > 500) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"reason\": must be 1-500 characters");
    }
    erase_args ea = {st, req->member_id, req->reason};
    return co_idem_run(st->pool, &st->idem, call, co_caller_of(call)->partner_id, req->request_id,
                       msg, &coalition__v1__erase_member_response__descriptor, erase_effect, &ea,
                       resp);
}

/* --- the partners service: programs and plans --- */

/* What this service needs of a program: its owner and who participates. */
typedef struct program_info {
    const char *code;
    const char *owner;
    const char *currency;
    Coalition__V1__Participation *const *parts;
    size_t nparts;
} program_info;

static co_client_md service_md[] = {{"coalition-role", "service"}};

/* Maps a failed call to the partners service to what our caller sees. */
static co_err partners_failed(co_call *call, co_err e, const co_client_status *cs)
{
    if (e == CO_ERR_NOMEM) {
        return e;
    }
    co_log(CO_LOG_WARN, "partners service call failed", "{s:s, s:s}", "status",
           co_grpc_status_name(cs->code), "details", cs->details != NULL ? cs->details : "");
    if (e == CO_ERR_DEADLINE_EXCEEDED) {
        return co_call_fail(call, e, "could not reach partners service: deadline exceeded");
    }
    return co_call_fail(call, CO_ERR_UNAVAILABLE, "partners service unavailable");
}

static co_err get_program(co_call *call, const acct_state *st, const char *code, program_info *out)
{
    co_arena *a = co_call_arena(call);
    Coalition__V1__GetProgramRequest req = COALITION__V1__GET_PROGRAM_REQUEST__INIT;
    req.program_code = (char *)code;
    ProtobufCMessage *resp = NULL;
    co_client_status cs = {GRPC_STATUS_UNKNOWN, ""};
    int64_t ms = co_call_ms_left(call);
    co_err e = co_client_unary(st->partners, "/coalition.v1.Partners/GetProgram", &req.base,
                               &coalition__v1__get_program_response__descriptor, service_md, 1,
                               ms < PARTNERS_MS ? ms : PARTNERS_MS, true, a, &resp, &cs);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "program \"%s\" not found", code);
    }
    if (e != CO_OK) {
        return partners_failed(call, e, &cs);
    }
    const Coalition__V1__GetProgramResponse *r = (const void *)resp;
    if (r->program == NULL) {
        return co_call_fail(call, CO_ERR_NOT_FOUND, "program \"%s\" not found", code);
    }
    *out = (program_info){r->program->code, r->program->owner_partner_id, r->program->currency,
                          r->participations, r->n_participations};
    return CO_OK;
}

/* True if partner_id owns or participates in the program. */
static bool takes_part(const program_info *p, const char *partner_id)
{
    if (strcmp(p->owner, partner_id) == 0) {
        return true;
    }
    for (size_t i = 0; i < p->nparts; i++) {
        const Coalition__V1__Participation *pa = p->parts[i];
        if (strcmp(pa->partner_id, partner_id) == 0 && (pa->can_issue || pa->can_redeem)) {
            return true;
        }
    }
    return false;
}

/* Admin and service callers act for the coalition; a partner must take part in the program. */
static co_err require_program_access(co_call *call, const program_info *p)
{
    const co_caller *who = co_caller_of(call);
    if (who->role == CO_ROLE_PARTNER && !takes_part(p, who->partner_id)) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "partner \"%s\" does not own or participate in program \"%s\"",
                            who->partner_id, p->code);
    }
    return CO_OK;
}

/* Reads plan_id and what we need of its program with Directory.GetMembershipPlan. */
static co_err find_plan(co_call *call, const acct_state *st, const char *plan_id,
                        program_info *prog, const Coalition__V1__MembershipPlan **plan)
{
    co_arena *a = co_call_arena(call);
    Coalition__Internal__V1__GetMembershipPlanRequest req =
        COALITION__INTERNAL__V1__GET_MEMBERSHIP_PLAN_REQUEST__INIT;
    req.plan_id = (char *)plan_id;
    ProtobufCMessage *resp = NULL;
    co_client_status cs = {GRPC_STATUS_UNKNOWN, ""};
    int64_t ms = co_call_ms_left(call);
    co_err e = co_client_unary(
        st->partners, "/coalition.internal.v1.Directory/GetMembershipPlan", &req.base,
        &coalition__internal__v1__get_membership_plan_response__descriptor, service_md, 1,
        ms < PARTNERS_MS ? ms : PARTNERS_MS, true, a, &resp, &cs);
    /* A plan_id the partners service finds malformed names no plan either. */
    if (e == CO_ERR_NOT_FOUND || e == CO_ERR_INVALID_ARGUMENT) {
        return co_call_fail(call, CO_ERR_NOT_FOUND, "membership plan \"%s\" not found", plan_id);
    }
    if (e != CO_OK) {
        return partners_failed(call, e, &cs);
    }
    const Coalition__Internal__V1__GetMembershipPlanResponse *r = (const void *)resp;
    if (r->plan == NULL) {
        return co_call_fail(call, CO_ERR_NOT_FOUND, "membership plan \"%s\" not found", plan_id);
    }
    *prog = (program_info){r->plan->program_code, r->program_owner_partner_id, r->program_currency,
                           r->participations, r->n_participations};
    *plan = r->plan;
    return CO_OK;
}

/* --- StartMembership --- */

typedef struct start_args {
    const acct_state *st;
    ref_key key;
    const program_info *prog;
    const Coalition__V1__MembershipPlan *plan;
    const char *partner_id;
    bool reduced; /* the member's balance reached the plan's reduced_fee_min_points */
} start_args;

/* The member's available points in program, asked of the points service for the caller (the
 * partner selling the membership, or the admin). */
static co_err points_available(co_call *call, const acct_state *st,
                               const Coalition__V1__MemberRef *ref, const char *program,
                               int64_t *out)
{
    co_arena *a = co_call_arena(call);
    const co_caller *who = co_caller_of(call);
    Coalition__V1__GetBalanceRequest req = COALITION__V1__GET_BALANCE_REQUEST__INIT;
    req.member = (Coalition__V1__MemberRef *)ref;
    req.program_code = (char *)program;
    const co_client_md md[2] = {{CO_MD_ROLE, who->role == CO_ROLE_ADMIN ? "admin" : "partner"},
                                {CO_MD_PARTNER_ID, who->partner_id}};
    ProtobufCMessage *resp = NULL;
    co_client_status cs;
    int64_t left = co_call_ms_left(call);
    co_err e = co_client_unary(st->points, "/coalition.v1.Points/GetBalance", &req.base,
                               &coalition__v1__get_balance_response__descriptor, md, 2,
                               left < PARTNERS_MS ? left : PARTNERS_MS, true, a, &resp, &cs);
    if (e == CO_ERR_NOT_FOUND || e == CO_ERR_INVALID_ARGUMENT || e == CO_ERR_PERMISSION_DENIED) {
        return co_call_fail(call, e, "%s", cs.details);
    }
    if (e != CO_OK) {
        return co_call_fail(call, e == CO_ERR_DEADLINE_EXCEEDED ? e : CO_ERR_UNAVAILABLE,
                            "points service unavailable: the reduced fee of the plan cannot be "
                            "computed");
    }
    const Coalition__V1__GetBalanceResponse *r = (const void *)resp;
    *out = r->n_balances > 0 ? r->balances[0]->available_points : 0;
    return CO_OK;
}

static co_err start_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    start_args *sa = ud;
    co_arena *a = co_call_arena(call);
    acct_member_row row;
    co_err e = find_member(c, call, &sa->key, true, &row);
    if (e != CO_OK) {
        return e;
    }
    if (row.status != ST_ACTIVE) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION, "member is erased");
    }
    acct_membership_row *ms;
    size_t n;
    e = acct_store_memberships_active(c, row.member_id, sa->plan->program_code, true, a, &ms, &n);
    if (e != CO_OK) {
        return e;
    }
    const Coalition__V1__Money *fee = sa->reduced ? sa->plan->reduced_fee : sa->plan->fee;
    const char *currency =
        fee != NULL && fee->currency[0] != '\0' ? fee->currency : sa->prog->currency;
    int64_t amount = fee != NULL ? fee->amount_micros : 0;
    acct_membership_row out;
    if (n > 0) {
        if (strcmp(ms[0].plan_id, sa->plan->plan_id) != 0) {
            return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                                "member already has an active membership of another plan of "
                                "program \"%s\"",
                                sa->plan->program_code);
        }
        e = acct_store_membership_extend(c, ms[0].membership_id, sa->plan->period_months, amount,
                                         currency, sa->partner_id, a, &out);
    } else {
        acct_membership_row m = {
            .membership_id = new_id(a, "ms"),
            .member_id = row.member_id,
            .plan_id = sa->plan->plan_id,
            .program_code = sa->plan->program_code,
            .program_owner = sa->prog->owner,
            .fee_micros = amount,
            .fee_currency = currency,
            .sold_by = sa->partner_id,
        };
        if (m.membership_id == NULL) {
            return CO_ERR_NOMEM;
        }
        e = acct_store_membership_insert(c, &m, sa->plan->period_months, a, &out);
    }
    if (e != CO_OK) {
        return e;
    }
    Coalition__V1__StartMembershipResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__start_membership_response__init(r);
    if ((r->membership = membership_pb(a, &out)) == NULL) {
        return CO_ERR_NOMEM;
    }
    r->fee_due = r->membership->last_fee;
    r->reduced_fee_applied = sa->reduced;
    *resp = &r->base;
    return CO_OK;
}

static co_err start_membership(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                               void *ud)
{
    acct_state *st = ud;
    const Coalition__V1__StartMembershipRequest *req = (const void *)msg;
    const co_caller *who = co_caller_of(call);
    co_err e;
    if (who->partner_id == NULL) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "memberships are sold by partners");
    }
    start_args sa = {.st = st, .partner_id = who->partner_id};
    if ((e = co_check_request_id(call, req->request_id)) != CO_OK ||
        (e = parse_ref(call, st, req->member, &sa.key)) != CO_OK) {
        return e;
    }
    size_t pl = strlen(req->plan_id);
    if (pl == 0 || pl > 128) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"plan_id\": must be 1-128 characters");
    }
    program_info prog;
    const Coalition__V1__MembershipPlan *plan = NULL;
    if ((e = find_plan(call, st, req->plan_id, &prog, &plan)) != CO_OK ||
        (e = require_program_access(call, &prog)) != CO_OK) {
        return e;
    }
    if (plan->period_months < 1 || plan->period_months > 36) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION,
                            "membership plan \"%s\" has no valid period", req->plan_id);
    }
    if (plan->reduced_fee_min_points > 0 && plan->reduced_fee != NULL) {
        /* The reduced fee depends on the member's balance, which the points service keeps. */
        int64_t available = 0;
        if ((e = points_available(call, st, req->member, plan->program_code, &available)) !=
            CO_OK) {
            return e;
        }
        sa.reduced = available >= plan->reduced_fee_min_points;
    }
    sa.prog = &prog;
    sa.plan = plan;
    return co_idem_run(st->pool, &st->idem, call, who->partner_id, req->request_id, msg,
                       &coalition__v1__start_membership_response__descriptor, start_effect, &sa,
                       resp);
}

/* --- CancelMembership --- */

typedef struct cancel_args {
    const char *membership_id;
    const char *reason;
} cancel_args;

static co_err cancel_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    cancel_args *ca = ud;
    co_arena *a = co_call_arena(call);
    const co_caller *who = co_caller_of(call);
    acct_membership_row m;
    co_err e = acct_store_membership_get(c, ca->membership_id, true, a, &m);
    if (e == CO_ERR_NOT_FOUND) {
        return co_call_fail(call, e, "membership \"%s\" not found", ca->membership_id);
    }
    if (e != CO_OK) {
        return e;
    }
    if (who->role == CO_ROLE_PARTNER && strcmp(who->partner_id, m.sold_by) != 0 &&
        strcmp(who->partner_id, m.program_owner) != 0) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "only the seller, the program's owner or the admin may cancel a "
                            "membership");
    }
    if (m.status != COALITION__V1__MEMBERSHIP_STATUS__MEMBERSHIP_STATUS_ACTIVE) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION, "membership \"%s\" is not active",
                            ca->membership_id);
    }
    if ((e = acct_store_membership_cancel(c, ca->membership_id, ca->reason, a, &m)) != CO_OK) {
        return e;
    }
    Coalition__V1__CancelMembershipResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__cancel_membership_response__init(r);
    if ((r->membership = membership_pb(a, &m)) == NULL) {
        return CO_ERR_NOMEM;
    }
    *resp = &r->base;
    return CO_OK;
}

static co_err cancel_membership(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                                void *ud)
{
    acct_state *st = ud;
    const Coalition__V1__CancelMembershipRequest *req = (const void *)msg;
    const co_caller *who = co_caller_of(call);
    co_err e;
    if (who->partner_id == NULL) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "cancellation needs a partner caller");
    }
    if ((e = co_check_request_id(call, req->request_id)) != CO_OK) {
        return e;
    }
    size_t n = strlen(req->membership_id);
    if (n == 0 || n > 64) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"membership_id\": must be 1-64 characters");
    }
    if (co_utf8_chars(req->reason) > 500) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"reason\": at most 500 characters");
    }
    cancel_args ca = {req->membership_id, req->reason};
    return co_idem_run(st->pool, &st->idem, call, who->partner_id, req->request_id, msg,
                       &coalition__v1__cancel_membership_response__descriptor, cancel_effect, &ca,
                       resp);
}

/* --- RecordFeedback --- */

typedef struct feedback_args {
    const acct_state *st;
    ref_key key;
    const Coalition__V1__RecordFeedbackRequest *req;
    const char *partner_id;
} feedback_args;

static co_err feedback_effect(co_pg_conn *c, co_call *call, void *ud, ProtobufCMessage **resp)
{
    feedback_args *fa = ud;
    co_arena *a = co_call_arena(call);
    acct_member_row row;
    co_err e = find_member(c, call, &fa->key, true, &row);
    if (e != CO_OK) {
        return e;
    }
    if (row.status != ST_ACTIVE) {
        return co_call_fail(call, CO_ERR_FAILED_PRECONDITION, "member is erased");
    }
    const Coalition__V1__RecordFeedbackRequest *req = fa->req;
    acct_feedback_row f = {
        .feedback_id = new_id(a, "fb"),
        .member_id = row.member_id,
        .program_code = req->program_code,
        .partner_id = fa->partner_id,
        .nps = req->nps_case == COALITION__V1__RECORD_FEEDBACK_REQUEST__NPS_NPS_SCORE
                   ? req->nps_score
                   : -1,
        .effort = req->effort_case == COALITION__V1__RECORD_FEEDBACK_REQUEST__EFFORT_EFFORT_SCORE
                      ? req->effort_score
                      : -1,
    };
    if (f.feedback_id == NULL) {
        return CO_ERR_NOMEM;
    }
    /* The comment is bound to its feedback row as well as to the member. */
    const char *column = co_arena_printf(a, "feedback_comment:%s", f.feedback_id);
    if (column == NULL) {
        return CO_ERR_NOMEM;
    }
    if ((e = seal_str(fa->st, a, column, row.member_id, req->comment, &f.comment)) != CO_OK) {
        return e;
    }
    acct_feedback_row out;
    if ((e = acct_store_feedback_insert(c, &f, a, &out)) != CO_OK) {
        return e;
    }
    Coalition__V1__RecordFeedbackResponse *r = co_arena_alloc(a, sizeof *r);
    Coalition__V1__Feedback *fb = co_arena_alloc(a, sizeof *fb);
    if (r == NULL || fb == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__v1__record_feedback_response__init(r);
    coalition__v1__feedback__init(fb);
    fb->feedback_id = (char *)out.feedback_id;
    fb->member_id = (char *)out.member_id;
    fb->program_code = (char *)out.program_code;
    fb->partner_id = (char *)out.partner_id;
    if (out.nps >= 0) {
        fb->nps_case = COALITION__V1__FEEDBACK__NPS_NPS_SCORE;
        fb->nps_score = out.nps;
    }
    if (out.effort >= 0) {
        fb->effort_case = COALITION__V1__FEEDBACK__EFFORT_EFFORT_SCORE;
        fb->effort_score = out.effort;
    }
    /* The comment is left out of the recorded response (personal data); the handler puts the
     * request's comment back, which a replay has by definition. */
    fb->create_time = co_timestamp(a, out.create_us);
    r->feedback = fb;
    *resp = &r->base;
    return CO_OK;
}

static co_err record_feedback(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                              void *ud)
{
    acct_state *st = ud;
    const Coalition__V1__RecordFeedbackRequest *req = (const void *)msg;
    const co_caller *who = co_caller_of(call);
    co_err e;
    if (who->partner_id == NULL) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED, "feedback needs a partner caller");
    }
    feedback_args fa = {.st = st, .req = req, .partner_id = who->partner_id};
    if ((e = co_check_request_id(call, req->request_id)) != CO_OK ||
        (e = parse_ref(call, st, req->member, &fa.key)) != CO_OK) {
        return e;
    }
    if (!co_name_is_valid(req->program_code, strlen(req->program_code))) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"program_code\": must be 1-63 characters of a-z, 0-9 "
                            "and '-', starting with a letter");
    }
    bool has_nps = req->nps_case == COALITION__V1__RECORD_FEEDBACK_REQUEST__NPS_NPS_SCORE;
    bool has_effort =
        req->effort_case == COALITION__V1__RECORD_FEEDBACK_REQUEST__EFFORT_EFFORT_SCORE;
    if (has_nps && (req->nps_score < 0 || req->nps_score > 10)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"nps_score\": must be between 0 and 10");
    }
    if (has_effort && (req->effort_score < 1 || req->effort_score > 7)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"effort_score\": must be between 1 and 7");
    }
    if (!has_nps && !has_effort) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"nps_score\": at least one of nps_score and "
                            "effort_score is required");
    }
    if (co_utf8_chars(req->comment) > 2000) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"comment\": at most 2000 characters");
    }
    program_info prog;
    if ((e = get_program(call, st, req->program_code, &prog)) != CO_OK ||
        (e = require_program_access(call, &prog)) != CO_OK) {
        return e;
    }
    ProtobufCMessage *out = NULL;
    e = co_idem_run(st->pool, &st->idem, call, who->partner_id, req->request_id, msg,
                    &coalition__v1__record_feedback_response__descriptor, feedback_effect, &fa,
                    &out);
    if (e != CO_OK) {
        return e;
    }
    Coalition__V1__RecordFeedbackResponse *r = (void *)out;
    if (r->feedback != NULL) {
        r->feedback->comment = req->comment;
    }
    *resp = out;
    return CO_OK;
}

/* --- ExportMember --- */

typedef struct export_args {
    const ref_key *key;
    co_call *call;
    acct_member_row row;
    acct_consent *cs, *events;
    size_t ncs, nevents;
    acct_change *changes;
    size_t nchanges;
    acct_membership_row *ms;
    size_t nms;
    acct_feedback_row *fb;
    size_t nfb;
} export_args;

static co_err export_tx(co_pg_conn *c, void *ud)
{
    export_args *xa = ud;
    co_arena *a = co_call_arena(xa->call);
    co_err e = find_member(c, xa->call, xa->key, false, &xa->row);
    const char *id = e == CO_OK ? xa->row.member_id : NULL;
    if (e == CO_OK) {
        e = acct_store_consents(c, id, a, &xa->cs, &xa->ncs);
    }
    if (e == CO_OK) {
        e = acct_store_consent_events(c, id, a, &xa->events, &xa->nevents);
    }
    if (e == CO_OK) {
        e = acct_store_changes(c, id, a, &xa->changes, &xa->nchanges);
    }
    if (e == CO_OK) {
        e = acct_store_memberships_all(c, id, a, &xa->ms, &xa->nms);
    }
    if (e == CO_OK) {
        e = acct_store_feedback_list(c, id, a, &xa->fb, &xa->nfb);
    }
    return e;
}

/* RFC 3339 UTC text of microseconds since the epoch (arena memory). */
static const char *rfc3339(co_arena *a, int64_t us)
{
    int64_t secs = us / 1000000;
    int64_t days = secs / 86400, rem = secs % 86400;
    /* civil_from_days */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    return co_arena_printf(a, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06lldZ", (long long)y,
                           (long long)m, (long long)d, (long long)(rem / 3600),
                           (long long)(rem / 60 % 60), (long long)(rem % 60),
                           (long long)(us % 1000000));
}

static json_t *jtime(co_arena *a, int64_t us)
{
    const char *s = us != 0 ? rfc3339(a, us) : NULL;
    return s != NULL ? json_string(s) : json_null();
}

static json_t *jstr(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* The document of ExportMember: the member's accounts data and points, the points service's
 * part (stolen), in arena memory. */
static co_err build_export(co_call *call, const acct_state *st, const export_args *xa,
                           json_t *points, char **out)
{
    co_arena *a = co_call_arena(call);
    member_view v;
    co_err e = decrypt_member(st, a, &xa->row, &v);
    if (e != CO_OK) {
        json_decref(points);
        return e;
    }
    json_t *birth = json_null();
    if (v.has_birth) {
        json_decref(birth);
        birth = json_string(co_arena_printf(a, "%04d-%02d-%02d", v.by, v.bm, v.bd));
    }
    json_t *profile = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:o}", "member_id",
        v.row.member_id, "card_number", jstr(v.card), "qr_token", jstr(v.qr), "phone",
        jstr(v.phone), "email", jstr(v.email), "display_name", jstr(v.name), "birth_date", birth,
        "locale", jstr(v.row.locale), "status", v.row.status == ST_ACTIVE ? "active" : "erased",
        "enrolled_by_partner_id", v.row.enrolled_by, "create_time", jtime(a, v.row.create_us),
        "update_time", jtime(a, v.row.update_us), "erase_time", jtime(a, v.row.erase_us));
    json_t *consents = json_array(), *history = json_array(), *changes = json_array();
    json_t *memberships = json_array(), *feedback = json_array();
    json_t *root = json_object(), *acc = json_object();
    if (profile == NULL || consents == NULL || history == NULL || changes == NULL ||
        memberships == NULL || feedback == NULL || root == NULL || acc == NULL) {
        e = CO_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < xa->ncs; i++) {
        json_array_append_new(consents, json_pack("{s:i, s:b, s:o}", "purpose", xa->cs[i].purpose,
                                                  "granted", xa->cs[i].granted, "update_time",
                                                  jtime(a, xa->cs[i].time_us)));
    }
    for (size_t i = 0; i < xa->nevents; i++) {
        const acct_consent *c = &xa->events[i];
        json_array_append_new(history, json_pack("{s:i, s:b, s:s, s:o}", "purpose", c->purpose,
                                                 "granted", c->granted, "partner_id", c->partner_id,
                                                 "time", jtime(a, c->time_us)));
    }
    for (size_t i = 0; i < xa->nchanges; i++) {
        const acct_change *c = &xa->changes[i];
        json_array_append_new(changes,
                              json_pack("{s:s, s:s, s:o}", "partner_id", c->partner_id, "fields",
                                        c->fields, "time", jtime(a, c->time_us)));
    }
    static const char *const ms_status[] = {"unspecified", "active", "cancelled", "ended"};
    for (size_t i = 0; i < xa->nms; i++) {
        const acct_membership_row *m = &xa->ms[i];
        json_array_append_new(
            memberships,
            json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:{s:I, s:s}, s:s, s:o, s:s}",
                      "membership_id", m->membership_id, "plan_id", m->plan_id, "program_code",
                      m->program_code, "status", ms_status[m->status & 3], "start_time",
                      jtime(a, m->start_us), "end_time", jtime(a, m->end_us), "last_fee",
                      "amount_micros", (json_int_t)m->fee_micros, "currency", m->fee_currency,
                      "sold_by_partner_id", m->sold_by, "cancel_time", jtime(a, m->cancel_us),
                      "cancel_reason", m->cancel_reason));
    }
    for (size_t i = 0; i < xa->nfb; i++) {
        const acct_feedback_row *f = &xa->fb[i];
        const char *comment = "";
        const char *column = co_arena_printf(a, "feedback_comment:%s", f->feedback_id);
        if (column == NULL) {
            e = CO_ERR_NOMEM;
            goto out;
        }
        if ((e = open_str(st, a, column, f->member_id, &f->comment, &comment)) != CO_OK) {
            goto out;
        }
        json_array_append_new(
            feedback,
            json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "feedback_id", f->feedback_id,
                      "program_code", f->program_code, "partner_id", f->partner_id, "nps_score",
                      f->nps >= 0 ? json_integer(f->nps) : json_null(), "effort_score",
                      f->effort >= 0 ? json_integer(f->effort) : json_null(), "comment",
                      jstr(comment), "create_time", jtime(a, f->create_us)));
    }
    json_object_set_new(acc, "profile", profile);
    json_object_set_new(acc, "consents", consents);
    json_object_set_new(acc, "consent_history", history);
    json_object_set_new(acc, "changes", changes);
    json_object_set_new(acc, "memberships", memberships);
    json_object_set_new(acc, "feedback", feedback);
    profile = consents = history = changes = memberships = feedback = NULL;
    json_object_set_new(root, "member_id", json_string(v.row.member_id));
    json_object_set_new(root, "accounts", acc);
    acc = NULL;
    if (json_object_set_new(root, "points", points) != 0) {
        points = NULL; /* freed by json_object_set_new */
        e = CO_ERR_NOMEM;
        goto out;
    }
    points = NULL;
    char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        e = CO_ERR_NOMEM;
        goto out;
    }
    *out = co_arena_strdup(a, text);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    e = *out != NULL ? CO_OK : CO_ERR_NOMEM;
out:
    json_decref(points);
    json_decref(profile);
    json_decref(consents);
    json_decref(history);
    json_decref(changes);
    json_decref(memberships);
    json_decref(feedback);
    json_decref(acc);
    json_decref(root);
    return e;
}

/* The points service's part of the member's export (Ledger.ExportMember): a JSON object the
 * caller owns. UNAVAILABLE when the points service cannot answer, so that the export is never
 * partial; RESOURCE_EXHAUSTED when the part is too large to send. */
static co_err points_export(co_call *call, const acct_state *st, const char *member_id,
                            json_t **out)
{
    co_arena *a = co_call_arena(call);
    Coalition__Internal__V1__ExportMemberLedgerRequest req =
        COALITION__INTERNAL__V1__EXPORT_MEMBER_LEDGER_REQUEST__INIT;
    req.member_id = (char *)member_id;
    const co_client_md md = {CO_MD_ROLE, "service"};
    ProtobufCMessage *resp = NULL;
    co_client_status cs;
    int64_t left = co_call_ms_left(call);
    co_err e = co_client_unary(st->points, "/coalition.internal.v1.Ledger/ExportMember", &req.base,
                               &coalition__internal__v1__export_member_ledger_response__descriptor,
                               &md, 1, left < EXPORT_MS ? left : EXPORT_MS, true, a, &resp, &cs);
    if (e == CO_ERR_RESOURCE_EXHAUSTED) {
        return co_call_fail(call, e, "points service: %s", cs.details);
    }
    if (e != CO_OK) {
        co_log(CO_LOG_WARN, "points service did not export the member", "{s:s, s:s}", "status",
               co_grpc_status_name(cs.code), "details", cs.details);
        return co_call_fail(call, CO_ERR_UNAVAILABLE,
                            "points service unavailable: the member's points cannot be exported");
    }
    const Coalition__Internal__V1__ExportMemberLedgerResponse *r = (const void *)resp;
    json_t *doc = json_loads(r->json, JSON_REJECT_DUPLICATES, NULL);
    const char *id = json_string_value(json_object_get(doc, "member_id"));
    if (!json_is_object(doc) || id == NULL || strcmp(id, member_id) != 0 ||
        !json_is_array(json_object_get(doc, "programs"))) {
        json_decref(doc);
        return co_call_fail(call, CO_ERR_INTERNAL,
                            "points service answered the export with another document");
    }
    *out = doc;
    return CO_OK;
}

static co_err export_member(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                            void *ud)
{
    acct_state *st = ud;
    const Coalition__V1__ExportMemberRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    co_err e = co_require_admin(call);
    ref_key key;
    if (e != CO_OK || (e = parse_ref(call, st, req->member, &key)) != CO_OK) {
        return e;
    }
    export_args xa = {.key = &key, .call = call};
    if ((e = co_pg_tx(st->pool, co_call_ms_left(call), export_tx, &xa)) != CO_OK) {
        return e;
    }
    json_t *points = NULL;
    if ((e = points_export(call, st, xa.row.member_id, &points)) != CO_OK) {
        return e;
    }
    Coalition__V1__ExportMemberResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        json_decref(points);
        return CO_ERR_NOMEM;
    }
    coalition__v1__export_member_response__init(r);
    if ((e = build_export(call, st, &xa, points, &r->json)) != CO_OK) {
        return e;
    }
    /* the field's tag and length and the other fields take well under 64 bytes */
    if ((int64_t)strlen(r->json) > st->max_message_bytes - 64) {
        return co_call_fail(call, CO_ERR_RESOURCE_EXHAUSTED,
                            "the member's export is larger than the largest message the accounts "
                            "service may send (COALITION_MAX_MESSAGE_BYTES)");
    }
    r->content_type = "application/json";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->generate_time = co_timestamp(a, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    *resp = &r->base;
    return CO_OK;
}

/* --- the key check --- */

typedef struct keycheck_args {
    const acct_state *st;
    co_arena a;
    bool mismatch;
} keycheck_args;

static co_err keycheck_tx(co_pg_conn *c, void *ud)
{
    keycheck_args *ka = ud;
    acct_blob b;
    co_err e = acct_store_key_check_get(c, &ka->a, &b);
    if (e == CO_ERR_NOT_FOUND) {
        uint8_t *p;
        size_t n;
        e = acct_seal(&ka->st->keys, "key_check", "accounts", (const uint8_t *)key_check_text,
                      sizeof key_check_text - 1, &ka->a, &p, &n);
        if (e == CO_OK) {
            b = (acct_blob){p, n};
            e = acct_store_key_check_put(c, &b);
        }
        if (e == CO_OK) {
            e = acct_store_key_check_get(c, &ka->a, &b); /* a concurrent first start may win */
        }
    }
    if (e != CO_OK) {
        return e;
    }
    uint8_t *pt;
    size_t n;
    ka->mismatch =
        acct_open(&ka->st->keys, "key_check", "accounts", b.p, b.n, &ka->a, &pt, &n) != CO_OK ||
        n != sizeof key_check_text - 1 || memcmp(pt, key_check_text, n) != 0;
    return CO_OK;
}

/* --- Members.ListBirthdays (internal) --- */

typedef struct birthdays_args {
    int md, limit;
    const char *after;
    co_arena *a;
    char **ids;
    size_t n;
} birthdays_args;

static co_err birthdays_tx(co_pg_conn *c, void *ud)
{
    birthdays_args *ba = ud;
    return acct_store_birthdays(c, ba->md, ba->after, ba->limit, ba->a, &ba->ids, &ba->n);
}

static co_err list_birthdays(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                             void *ud)
{
    acct_state *st = ud;
    const Coalition__Internal__V1__ListBirthdaysRequest *req = (const void *)msg;
    if (co_caller_of(call)->role != CO_ROLE_SERVICE) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "Members.ListBirthdays is for the coalition's services only");
    }
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (req->month < 1 || req->month > 12) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT, "invalid field \"month\": must be 1-12");
    }
    if (req->day < 1 || req->day > mdays[req->month - 1]) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"day\": must be a day of month %d", (int)req->month);
    }
    if (req->page_size < 0 || req->page_size > 1000) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"page_size\": must be 0-1000");
    }
    if (req->after_member_id[0] != '\0' && !member_id_valid(req->after_member_id)) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"after_member_id\": must be empty or a member id");
    }
    co_arena *a = co_call_arena(call);
    int size = req->page_size > 0 ? req->page_size : 1000;
    birthdays_args ba = {.md = req->month * 100 + req->day,
                         .limit = size + 1,
                         .after = req->after_member_id,
                         .a = a};
    co_err e = co_pg_tx(st->pool, co_call_ms_left(call), birthdays_tx, &ba);
    if (e != CO_OK) {
        return e;
    }
    Coalition__Internal__V1__ListBirthdaysResponse *r = co_arena_alloc(a, sizeof *r);
    if (r == NULL) {
        return CO_ERR_NOMEM;
    }
    coalition__internal__v1__list_birthdays_response__init(r);
    r->more = ba.n > (size_t)size;
    r->n_member_ids = r->more ? (size_t)size : ba.n;
    r->member_ids = ba.ids;
    *resp = &r->base;
    return CO_OK;
}

/* --- Members.ResolveMembers (internal) --- */

#define RESOLVE_MAX 256

typedef struct resolve_args {
    const acct_lookup *refs;
    size_t n;
    co_arena *a;
    acct_resolved *out;
} resolve_args;

static co_err resolve_tx(co_pg_conn *c, void *ud)
{
    resolve_args *ra = ud;
    return acct_store_resolve(c, ra->refs, ra->n, ra->a, &ra->out);
}

static Coalition__Internal__V1__ResolvedMember *resolved_pb(co_arena *a, const acct_resolved *x)
{
    Coalition__Internal__V1__ResolvedMember *m = co_arena_alloc(a, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    coalition__internal__v1__resolved_member__init(m);
    if (x == NULL || x->member_id == NULL) {
        m->outcome = COALITION__INTERNAL__V1__RESOLVED_MEMBER__OUTCOME__NOT_FOUND;
        return m;
    }
    m->outcome = COALITION__INTERNAL__V1__RESOLVED_MEMBER__OUTCOME__FOUND;
    m->member_id = (char *)x->member_id;
    m->status = (Coalition__V1__MemberStatus)x->status;
    if (x->nplans == 0) {
        return m;
    }
    m->active_plans = co_arena_calloc(a, x->nplans, sizeof *m->active_plans);
    if (m->active_plans == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < x->nplans; i++) {
        Coalition__Internal__V1__ActivePlan *p = co_arena_alloc(a, sizeof *p);
        if (p == NULL) {
            return NULL;
        }
        coalition__internal__v1__active_plan__init(p);
        p->plan_id = (char *)x->plan_ids[i];
        if ((p->end_time = co_timestamp(a, x->end_us[i])) == NULL) {
            return NULL;
        }
        m->active_plans[i] = p;
    }
    m->n_active_plans = x->nplans;
    return m;
}

static co_err resolve_members(co_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                              void *ud)
{
    const acct_state *st = ud;
    const Coalition__Internal__V1__ResolveMembersRequest *req = (const void *)msg;
    co_arena *a = co_call_arena(call);
    if (co_caller_of(call)->role != CO_ROLE_SERVICE) {
        return co_call_fail(call, CO_ERR_PERMISSION_DENIED,
                            "Members.ResolveMembers is for the coalition's services only");
    }
    size_t n = req->n_members;
    if (n < 1 || n > RESOLVE_MAX) {
        return co_call_fail(call, CO_ERR_INVALID_ARGUMENT,
                            "invalid field \"members\": 1 to %d references, got %zu", RESOLVE_MAX,
                            n);
    }
    Coalition__Internal__V1__ResolveMembersResponse *r = co_arena_alloc(a, sizeof *r);
    Coalition__Internal__V1__ResolvedMember **answers = co_arena_calloc(a, n, sizeof *answers);
    acct_lookup *refs = co_arena_calloc(a, n, sizeof *refs);
    ref_key *keys = co_arena_calloc(a, n, sizeof *keys);
    size_t *of = co_arena_calloc(a, n, sizeof *of); /* refs[j] answers request reference of[j] */
    if (r == NULL || answers == NULL || refs == NULL || keys == NULL || of == NULL) {
        return CO_ERR_NOMEM;
    }
    size_t nrefs = 0;
    for (size_t i = 0; i < n; i++) {
        char why[128];
        co_err e = ref_parse(a, st, req->members[i], &keys[i], why, sizeof why);
        if (e == CO_ERR_INVALID_ARGUMENT) {
            Coalition__Internal__V1__ResolvedMember *m = resolved_pb(a, NULL);
            if (m == NULL || (m->error = co_arena_strdup(a, why)) == NULL) {
                return CO_ERR_NOMEM;
            }
            m->outcome = COALITION__INTERNAL__V1__RESOLVED_MEMBER__OUTCOME__INVALID;
            answers[i] = m;
            continue;
        }
        if (e != CO_OK) {
            return e;
        }
        if (keys[i].by_id) {
            refs[nrefs].member_id = keys[i].member_id;
        } else {
            refs[nrefs].kind = keys[i].kind;
            refs[nrefs].hash = keys[i].hash;
        }
        of[nrefs++] = i;
    }
    resolve_args ra = {.refs = refs, .n = nrefs, .a = a};
    if (nrefs > 0) {
        co_err e = co_pg_tx(st->pool, co_call_ms_left(call), resolve_tx, &ra);
        if (e != CO_OK) {
            return e;
        }
    }
    for (size_t j = 0; j < nrefs; j++) {
        if ((answers[of[j]] = resolved_pb(a, &ra.out[j])) == NULL) {
            return CO_ERR_NOMEM;
        }
    }
    coalition__internal__v1__resolve_members_response__init(r);
    r->members = answers;
    r->n_members = n;
    *resp = &r->base;
    return CO_OK;
}

/* --- internal Members methods (service identities only) --- */

static co_err get_program_figures(co_call *call, const ProtobufCMessage *msg,
                                  ProtobufCMessage **resp, void *ud)
{
    const acct_state *st = ud;
    return acct_figures_get(call, st->pool, msg, resp);
}

/* --- the method table --- */

#define ROW(name, in, out, fn)                                                                     \
    {                                                                                              \
        "/coalition.v1.Accounts/" name, &in##__descriptor, &out##__descriptor, fn, NULL, NULL      \
    }

static const co_method method_rows[] = {
    ROW("EnrollMember", coalition__v1__enroll_member_request, coalition__v1__enroll_member_response,
        enroll_member),
    ROW("GetMember", coalition__v1__get_member_request, coalition__v1__get_member_response,
        get_member),
    ROW("UpdateMember", coalition__v1__update_member_request, coalition__v1__update_member_response,
        update_member),
    ROW("ExportMember", coalition__v1__export_member_request, coalition__v1__export_member_response,
        export_member),
    {"/coalition.internal.v1.Members/GetProgramFigures",
     &coalition__internal__v1__get_program_figures_request__descriptor,
     &coalition__internal__v1__get_program_figures_response__descriptor, get_program_figures, NULL,
     NULL},
    ROW("EraseMember", coalition__v1__erase_member_request, coalition__v1__erase_member_response,
        erase_member),
    ROW("StartMembership", coalition__v1__start_membership_request,
        coalition__v1__start_membership_response, start_membership),
    ROW("CancelMembership", coalition__v1__cancel_membership_request,
        coalition__v1__cancel_membership_response, cancel_membership),
    ROW("RecordFeedback", coalition__v1__record_feedback_request,
        coalition__v1__record_feedback_response, record_feedback),
    {"/coalition.internal.v1.Members/ListBirthdays",
     &coalition__internal__v1__list_birthdays_request__descriptor,
     &coalition__internal__v1__list_birthdays_response__descriptor, list_birthdays, NULL, NULL},
    {"/coalition.internal.v1.Members/ResolveMembers",
     &coalition__internal__v1__resolve_members_request__descriptor,
     &coalition__internal__v1__resolve_members_response__descriptor, resolve_members, NULL, NULL},
};
#define NMETHODS (sizeof method_rows / sizeof method_rows[0])

typedef struct acct_service {
    acct_state st;
    co_method methods[NMETHODS];
} acct_service;

static void acct_fini(void *state)
{
    acct_service *s = state;
    if (s == NULL) {
        return;
    }
    co_client_free(s->st.partners);
    co_client_free(s->st.points);
    OPENSSL_cleanse(&s->st.keys, sizeof s->st.keys);
    free(s);
}

static void *acct_init(const co_process_env *env, const co_method **methods, size_t *n, char *err,
                       size_t errlen)
{
    const acct_config *cfg = env->extra;
    uint8_t master[ACCT_KEY_BYTES];
    if (!acct_key_parse_hex(cfg->key_hex, master)) {
        snprintf(err, errlen, "invalid %s: must be exactly 64 hexadecimal characters",
                 ACCT_KEY_ENV);
        return NULL;
    }
    acct_service *s = calloc(1, sizeof *s);
    if (s == NULL) {
        OPENSSL_cleanse(master, sizeof master);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    co_err e = acct_keys_derive(master, &s->st.keys);
    OPENSSL_cleanse(master, sizeof master);
    if (e != CO_OK) {
        snprintf(err, errlen, "could not derive keys from %s", ACCT_KEY_ENV);
        goto fail;
    }
    s->st.pool = env->pool;
    s->st.max_message_bytes = env->cfg->max_message_bytes;
    keycheck_args ka = {.st = &s->st};
    co_arena_init(&ka.a, 0);
    e = co_pg_tx(s->st.pool, 10000, keycheck_tx, &ka);
    co_arena_release(&ka.a);
    if (e != CO_OK) {
        snprintf(err, errlen, "could not check %s against the database: %s", ACCT_KEY_ENV,
                 co_err_name(e));
        goto fail;
    }
    if (ka.mismatch) {
        snprintf(err, errlen,
                 "%s is not the key this database was encrypted with (the stored key check "
                 "does not decrypt): refusing to start",
                 ACCT_KEY_ENV);
        goto fail;
    }
    s->st.partners = co_client_new(cfg->partners_addr, env->tls, "partners service");
    s->st.points = co_client_new(cfg->points_addr, env->tls, "points service");
    if (s->st.partners == NULL || s->st.points == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    co_idem_init(&s->st.idem, "accounts");
    for (size_t i = 0; i < NMETHODS; i++) {
        s->methods[i] = method_rows[i];
        s->methods[i].ud = &s->st;
    }
    *methods = s->methods;
    *n = NMETHODS;
    return s;
fail:
    acct_fini(s);
    return NULL;
}

static const co_cfg_option acct_options[] = {
    {"accounts-key", ACCT_KEY_ENV, CO_CFG_STRING, "",
     "master key of personal data: 64 hexadecimal characters (required to serve)",
     offsetof(acct_config, key_hex), 0, 0},
    {"partners-addr", "COALITION_PARTNERS_ADDR", CO_CFG_ADDR, "127.0.0.1:50051",
     "partners service address", offsetof(acct_config, partners_addr), 0, 0},
    {"points-addr", "COALITION_POINTS_ADDR", CO_CFG_ADDR, "127.0.0.1:50053",
     "points service address (a plan's reduced fee, the points part of ExportMember)",
     offsetof(acct_config, points_addr), 0, 0},
};

static const char *const health_names[] = {"coalition.v1.Accounts", NULL};

const co_process_def acct_service_def = {
    .name = "accounts",
    .schema = "accounts",
    .migrations = acct_migrations,
    .nmigrations = 0, /* set in main from acct_migrations_count */
    .default_listen = "127.0.0.1:50052",
    .default_health_listen = "127.0.0.1:50152",
    .default_metrics_listen = "127.0.0.1:9152",
    .health_names = health_names,
    .extra_opts = acct_options,
    .nextra = sizeof acct_options / sizeof acct_options[0],
    .init = acct_init,
    .fini = acct_fini,
};
