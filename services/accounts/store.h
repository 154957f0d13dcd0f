/* SPDX-License-Identifier: Apache-2.0 */
/* The storage seam of the accounts service: sealed bytes and hashes in, sealed bytes out. */
#ifndef ACCT_STORE_H
#define ACCT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "pg.h"

/* A bytea value; p == NULL is SQL NULL. Memory of the arena that filled it (or the caller's). */
typedef struct acct_blob {
    const uint8_t *p;
    size_t n;
} acct_blob;

/* A member row as stored: personal data and identifiers sealed (see crypto.h). */
typedef struct acct_member_row {
    const char *member_id;
    int status; /* coalition.v1.MemberStatus */
    acct_blob card, qr, phone, email, name, birth;
    const char *locale;
    const char *enrolled_by;
    int64_t create_us, update_us, erase_us; /* erase_us 0: not erased */
    int birth_md; /* written only: month * 100 + day of birth, 0 for none */
} acct_member_row;

/* The lookup hashes of a member's identifiers (ACCT_HASH_BYTES each); NULL = none. */
typedef struct acct_hashes {
    const uint8_t *card, *qr, *phone, *email;
} acct_hashes;

/* Which identifier a lookup uses. */
typedef enum acct_ident { ACCT_ID_CARD = 0, ACCT_ID_QR, ACCT_ID_PHONE, ACCT_ID_EMAIL } acct_ident;

/* Inserts m with hashes h; *out is the stored row. CO_ERR_ALREADY_EXISTS names the colliding
 * field through *conflict ("phone", "email", "card_number", "qr_token" or "member_id"). */
co_err acct_store_insert(co_pg_conn *c, const acct_member_row *m, const acct_hashes *h, co_arena *a,
                         acct_member_row *out, const char **conflict);

/* The member with this id; CO_ERR_NOT_FOUND if none. lock takes a row lock. */
co_err acct_store_get(co_pg_conn *c, const char *member_id, bool lock, co_arena *a,
                      acct_member_row *out);

/* The active member whose identifier of kind has hash h; CO_ERR_NOT_FOUND if none. */
co_err acct_store_find(co_pg_conn *c, acct_ident kind, const uint8_t *h, co_arena *a,
                       acct_member_row *out);

/* Replaces the sealed fields, hashes and locale of m->member_id and bumps update_time.
 * Conflicts as for acct_store_insert. */
/* Up to limit ACTIVE members born on md (month * 100 + day) with a member id after `after`,
 * ordered by member id (arena strings). */
co_err acct_store_birthdays(co_pg_conn *c, int md, const char *after, int limit, co_arena *a,
                            char ***ids, size_t *n);

co_err acct_store_update(co_pg_conn *c, const acct_member_row *m, const acct_hashes *h, co_arena *a,
                         acct_member_row *out, const char **conflict);

/* Erases member_id: every sealed value and hash NULL, status ERASED, consents, consent history
 * and feedback comments deleted; reason kept. *out is the erased row. */
co_err acct_store_erase(co_pg_conn *c, const char *member_id, const char *reason, co_arena *a,
                        acct_member_row *out);

/* A consent (current or a history event). */
typedef struct acct_consent {
    int purpose;
    bool granted;
    const char *partner_id; /* history only */
    int64_t time_us;
} acct_consent;

/* The member's current consents ordered by purpose (*out an arena array of *n). */
co_err acct_store_consents(co_pg_conn *c, const char *member_id, co_arena *a, acct_consent **out,
                           size_t *n);

/* Every consent decision of the member, oldest first. */
co_err acct_store_consent_events(co_pg_conn *c, const char *member_id, co_arena *a,
                                 acct_consent **out, size_t *n);

/* Sets the current consent of purpose and records the decision made by partner_id. */
co_err acct_store_set_consent(co_pg_conn *c, const char *member_id, int purpose, bool granted,
                              const char *partner_id);

/* Records that partner_id changed fields (comma-separated names) of member_id. */
co_err acct_store_log_change(co_pg_conn *c, const char *member_id, const char *partner_id,
                             const char *fields);

/* One recorded change: who, which fields, when. */
typedef struct acct_change {
    const char *partner_id;
    const char *fields;
    int64_t time_us;
} acct_change;

co_err acct_store_changes(co_pg_conn *c, const char *member_id, co_arena *a, acct_change **out,
                          size_t *n);

/* A feedback row; nps/effort -1 when not asked. */
typedef struct acct_feedback_row {
    const char *feedback_id;
    const char *member_id;
    const char *program_code;
    const char *partner_id;
    int nps, effort;
    acct_blob comment; /* sealed; NULL when none or erased */
    int64_t create_us;
} acct_feedback_row;

co_err acct_store_feedback_insert(co_pg_conn *c, const acct_feedback_row *f, co_arena *a,
                                  acct_feedback_row *out);
co_err acct_store_feedback_list(co_pg_conn *c, const char *member_id, co_arena *a,
                                acct_feedback_row **out, size_t *n);

/* A membership row; status 3 (ENDED) is derived from end_time. */
typedef struct acct_membership_row {
    const char *membership_id;
    const char *member_id;
    const char *plan_id;
    const char *program_code;
    const char *program_owner;
    int status;
    int64_t start_us, end_us;
    int64_t fee_micros;
    const char *fee_currency;
    const char *sold_by;
    int64_t cancel_us; /* 0: not cancelled */
    const char *cancel_reason;
} acct_membership_row;

/* The member's memberships in force now (status ACTIVE, end in the future) of program_code
 * ("" = every program), ordered by program code; locked when lock. */
co_err acct_store_memberships_active(co_pg_conn *c, const char *member_id, const char *program_code,
                                     bool lock, co_arena *a, acct_membership_row **out, size_t *n);

/* The member (CO_ERR_NOT_FOUND for none), its current consents and its memberships in force
 * now, read together in one round trip (pipelined). m NULL: the caller already has the member's
 * row, and only the consents and memberships are read. */
co_err acct_store_member_view(co_pg_conn *c, const char *member_id, co_arena *a, acct_member_row *m,
                              acct_consent **cs, size_t *ncs, acct_membership_row **ms,
                              size_t *nms);

/* A reference for acct_store_resolve: member_id, or else the lookup hash of kind (32 bytes). */
typedef struct acct_lookup {
    const char *member_id;
    acct_ident kind;
    const uint8_t *hash;
} acct_lookup;

/* What acct_store_resolve found for one reference: nothing (member_id NULL), or the member's
 * id, status and its memberships in force now (plan and end), ordered by program and plan. */
typedef struct acct_resolved {
    const char *member_id;
    int status;
    size_t nplans;
    const char **plan_ids;
    int64_t *end_us;
} acct_resolved;

/* The members behind refs[0..n), read by one statement: out[i] answers refs[i] (an arena array
 * of n). A member id finds a member of any status, a hash only an ACTIVE member. */
co_err acct_store_resolve(co_pg_conn *c, const acct_lookup *refs, size_t n, co_arena *a,
                          acct_resolved **out);

/* Every membership of the member, oldest first. */
co_err acct_store_memberships_all(co_pg_conn *c, const char *member_id, co_arena *a,
                                  acct_membership_row **out, size_t *n);

/* Inserts a membership starting now for months months. */
co_err acct_store_membership_insert(co_pg_conn *c, const acct_membership_row *m, int months,
                                    co_arena *a, acct_membership_row *out);

/* Extends membership_id by months from its end and records the new fee and seller. */
co_err acct_store_membership_extend(co_pg_conn *c, const char *membership_id, int months,
                                    int64_t fee_micros, const char *currency, const char *sold_by,
                                    co_arena *a, acct_membership_row *out);

/* The membership with this id (locked when lock); CO_ERR_NOT_FOUND if none. */
co_err acct_store_membership_get(co_pg_conn *c, const char *membership_id, bool lock, co_arena *a,
                                 acct_membership_row *out);

/* Cancels membership_id now with reason. */
co_err acct_store_membership_cancel(co_pg_conn *c, const char *membership_id, const char *reason,
                                    co_arena *a, acct_membership_row *out);

/* A program's membership and feedback figures (the internal GetProgramFigures). */
typedef struct acct_program_figures {
    int64_t active_memberships;
    int64_t nps_responses, nps_promoters, nps_passives, nps_detractors;
    int64_t effort_responses, effort_sum;
} acct_program_figures;

/* Memberships of program_code in force at as_us (started at or before it, ending after it; a
 * cancelled one ended when it was cancelled) and the feedback recorded in [from_us, as_us),
 * read by one statement (one snapshot). Times are unix microseconds. */
co_err acct_store_program_figures(co_pg_conn *c, const char *program_code, int64_t as_us,
                                  int64_t from_us, acct_program_figures *out);

/* The sealed key-check value; CO_ERR_NOT_FOUND before the first start. */
co_err acct_store_key_check_get(co_pg_conn *c, co_arena *a, acct_blob *out);

/* Stores the key-check value unless one exists (the first start wins). */
co_err acct_store_key_check_put(co_pg_conn *c, const acct_blob *sealed);

#endif
