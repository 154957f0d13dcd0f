/* SPDX-License-Identifier: Apache-2.0 */
/* The storage seam of the partners service: plain data in, plain data out. */
#ifndef PRT_STORE_H
#define PRT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "pg.h"

/* A partner row. Strings live in the arena passed to the call that filled it. */
typedef struct prt_partner {
    const char *partner_id;
    const char *name;
    int status;                       /* coalition.v1.PartnerStatus */
    const char *certificate_identity; /* "" for none */
    const char *settlement_currency;
    const char *contact_name;
    const char *contact_email;
    const char *contact_phone;
    const char *status_reason;
    int64_t create_time_us;
    int64_t update_time_us;
} prt_partner;

/* Inserts p (create/update times are the transaction's); *out is the stored row.
 * CO_ERR_ALREADY_EXISTS names which key collided through *conflict ("partner_id" or
 * "certificate_identity"). */
co_err prt_store_insert(co_pg_conn *c, const prt_partner *p, co_arena *a, prt_partner *out,
                        const char **conflict);

/* The partner with this id; CO_ERR_NOT_FOUND if none. lock takes a row lock (FOR UPDATE). */
co_err prt_store_get(co_pg_conn *c, const char *partner_id, int lock, co_arena *a,
                     prt_partner *out);

/* The partner registered with this certificate identity; CO_ERR_NOT_FOUND if none. */
co_err prt_store_by_identity(co_pg_conn *c, const char *identity, co_arena *a, prt_partner *out);

/* Up to limit partners with partner_id > after (""= from the start), in id order, optionally
 * only those with status (0 = all). *out is an arena array of *n rows. */
co_err prt_store_list(co_pg_conn *c, const char *after, int status, int limit, co_arena *a,
                      prt_partner **out, size_t *n);

/* Sets status and reason and bumps update_time; *out is the updated row. */
co_err prt_store_set_status(co_pg_conn *c, const char *partner_id, int status, const char *reason,
                            co_arena *a, prt_partner *out);

/* --- program configuration (store_programs_pg.c) --- */

/* One step of a tier ladder. */
typedef struct prt_tier {
    const char *code;
    const char *name;
    int64_t min_qualifying_points;
    int64_t min_spend_micros;
    int32_t earn_multiplier_bps;
    const char *perks;
} prt_tier;

/* A program with its tiers, normalized (earn_den >= 1, window and zone filled in). */
typedef struct prt_program {
    const char *code;
    const char *name;
    const char *owner_partner_id;
    const char *currency;
    int64_t point_value_micros;
    int64_t issue_price_micros;
    int32_t expiry_months;
    int64_t earn_num; /* 0: spending earns nothing */
    int64_t earn_den;
    int64_t earn_min_spend_micros;
    int64_t points_per_visit;
    int tier_basis; /* coalition.v1.TierBasis */
    const prt_tier *tiers;
    size_t ntiers;
    int32_t qualifying_window_days;
    int64_t welcome_bonus_points;
    int64_t birthday_bonus_points;
    int issuing_mode; /* coalition.v1.IssuingMode */
    const char *time_zone;
    int64_t version;
    int64_t create_time_us;
    int64_t update_time_us;
} prt_program;

typedef struct prt_participation {
    const char *program_code;
    const char *partner_id;
    bool can_issue;
    bool can_redeem;
    int64_t update_time_us;
} prt_participation;

typedef struct prt_campaign {
    const char *campaign_id;
    const char *program_code;
    const char *name;
    const char *partner_id; /* "" = any partner, sponsored by the owner */
    int64_t start_time_us;
    int64_t end_time_us;
    int32_t days_of_week_mask;
    const char *category;
    int64_t min_spend_micros;
    int32_t multiplier_bps;
    int64_t bonus_points;
    int32_t chance_one_in;
    int64_t chance_bonus_points;
    const char *chance_seed_sha256;
    const uint8_t *chance_seed; /* 32 bytes; filled by reads */
    int64_t create_time_us;
} prt_campaign;

typedef struct prt_agreement {
    const char *from_program_code;
    const char *to_program_code;
    int64_t rate_num;
    int64_t rate_den;
    int32_t fee_bps;
    int64_t min_points;
    int64_t max_points;
    int64_t daily_cap_points;
    bool enabled;
    int64_t update_time_us;
} prt_agreement;

typedef struct prt_policy {
    const char *partner_id; /* "" = the coalition-wide default */
    int32_t operator_fee_bps;
    int32_t referral_commission_bps;
    int32_t referral_commission_months;
    int64_t update_time_us;
} prt_policy;

typedef struct prt_reward {
    const char *reward_id;
    const char *program_code;
    int kind; /* coalition.v1.RewardKind */
    const char *name;
    const char *description;
    int64_t points_cost;
    const char *partner_id;
    const char *charity_partner_id; /* "" unless DONATION */
    bool stock_limited;
    int64_t stock;
    int32_t coupon_valid_days;
    int64_t create_time_us;
} prt_reward;

typedef struct prt_plan {
    const char *plan_id;
    const char *program_code;
    const char *name;
    int64_t fee_micros;
    const char *currency;
    int32_t period_months;
    int32_t earn_multiplier_bps;
    const char *perks;
    int64_t reduced_fee_min_points;
    int64_t reduced_fee_micros;
    int64_t create_time_us;
} prt_plan;

/* What one partner may do with one program. */
typedef struct prt_access {
    const char *owner_partner_id;
    const char *currency;
    bool participant; /* has a participation row */
    bool can_issue;
    bool can_redeem;
} prt_access;

/* Inserts p and its tiers at version 1; *out is the stored program. CO_ERR_ALREADY_EXISTS if
 * the code is taken. */
co_err prt_store_program_insert(co_pg_conn *c, const prt_program *p, co_arena *a, prt_program *out);

/* The program code with its tiers; CO_ERR_NOT_FOUND if none. lock takes a row lock. */
co_err prt_store_program_get(co_pg_conn *c, const char *code, int lock, co_arena *a,
                             prt_program *out);

/* Replaces the mutable fields and the tiers of p.code, bumping the version by one. */
co_err prt_store_program_update(co_pg_conn *c, const prt_program *p, co_arena *a, prt_program *out);

/* Up to limit programs with code > after in code order, only of owner (NULL = any), only those
 * visible_to owns or participates in (NULL = all). Tiers included. */
co_err prt_store_program_list(co_pg_conn *c, const char *after, const char *owner,
                              const char *visible_to, int limit, co_arena *a, prt_program **out,
                              size_t *n);

/* The current version of program code; CO_ERR_NOT_FOUND if none. */
co_err prt_store_program_version(co_pg_conn *c, const char *code, int64_t *version);

/* The owner of program code and what partner_id (may be NULL) may do with it;
 * CO_ERR_NOT_FOUND if no such program. */
co_err prt_store_access(co_pg_conn *c, const char *code, const char *partner_id, co_arena *a,
                        prt_access *out);

/* Creates, changes or (both rights false) deletes a participation; *out is what was set. */
co_err prt_store_participation_set(co_pg_conn *c, const prt_participation *p, co_arena *a,
                                   prt_participation *out);

/* Every participation of program code, by partner_id. */
co_err prt_store_participation_list(co_pg_conn *c, const char *code, co_arena *a,
                                    prt_participation **out, size_t *n);

/* Inserts a campaign with a fresh id and draw seed; *out is the stored row. */
co_err prt_store_campaign_insert(co_pg_conn *c, const prt_campaign *p, co_arena *a,
                                 prt_campaign *out);

/* Up to limit campaigns of code after (after_start_us, after_id) in (start_time, id) order
 * (after_id NULL = from the start); active_at_us >= 0 keeps those running then; not_ended_at_us
 * >= 0 keeps those whose end is after it. */
co_err prt_store_campaign_list(co_pg_conn *c, const char *code, int64_t after_start_us,
                               const char *after_id, int64_t active_at_us, int64_t not_ended_at_us,
                               int limit, co_arena *a, prt_campaign **out, size_t *n);

/* Creates or replaces the agreement for (from, to); *out is the stored row. */
co_err prt_store_agreement_set(co_pg_conn *c, const prt_agreement *p, co_arena *a,
                               prt_agreement *out);

/* Up to limit agreements after (after_from, after_to) in that order; from/to filter when not
 * NULL; visible_to (NULL = all) keeps those whose source or target it owns or participates in;
 * touching (NULL = all) keeps those from or to that program. */
co_err prt_store_agreement_list(co_pg_conn *c, const char *after_from, const char *after_to,
                                const char *from, const char *to, const char *visible_to,
                                const char *touching, int limit, co_arena *a, prt_agreement **out,
                                size_t *n);

/* Creates or replaces a commission policy; *out is the stored row. */
co_err prt_store_policy_set(co_pg_conn *c, const prt_policy *p, co_arena *a, prt_policy *out);

co_err prt_store_reward_insert(co_pg_conn *c, const prt_reward *p, co_arena *a, prt_reward *out);

/* Up to limit rewards of code with reward_id > after; kind 0 and partner NULL mean any. */
co_err prt_store_reward_list(co_pg_conn *c, const char *code, const char *after, int kind,
                             const char *partner, int limit, co_arena *a, prt_reward **out,
                             size_t *n);

co_err prt_store_plan_insert(co_pg_conn *c, const prt_plan *p, co_arena *a, prt_plan *out);

/* Every membership plan of code, by plan_id. */
co_err prt_store_plan_list(co_pg_conn *c, const char *code, co_arena *a, prt_plan **out, size_t *n);

/* The membership plan plan_id; CO_ERR_NOT_FOUND if none. */
co_err prt_store_plan_get(co_pg_conn *c, const char *plan_id, co_arena *a, prt_plan *out);

/* The reward reward_id; CO_ERR_NOT_FOUND if there is none. */
co_err prt_store_reward_get(co_pg_conn *c, const char *reward_id, co_arena *a, prt_reward *out);

/* True if time zone name is known to the database. */
co_err prt_store_zone_known(co_pg_conn *c, const char *name, bool *known);

#endif
