/* SPDX-License-Identifier: Apache-2.0 */
/* Field validation of program configuration: pure functions over the store's plain rows. */
#ifndef PRT_RULES_H
#define PRT_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* Why a row is invalid: the offending field as the API names it ("program.tiers[1].code")
 * and what it must be ("must be 1-200 characters"). */
typedef struct prt_bad {
    char field[64];
    char why[128];
} prt_bad;

/* A time the API could not represent (an unset or out-of-range Timestamp). */
#define PRT_NO_TIME INT64_MIN

/* Each check returns true if the row is valid, else false with *bad filled (the first problem
 * in field order). The rows must already be normalized as the service stores them (defaults
 * for 0 or empty filled in). Pure and thread-safe. */
bool prt_rules_program(const prt_program *p, prt_bad *bad);
/* now_us: end_time must be after it. */
bool prt_rules_campaign(const prt_campaign *p, int64_t now_us, prt_bad *bad);
bool prt_rules_agreement(const prt_agreement *p, prt_bad *bad);
bool prt_rules_policy(const prt_policy *p, prt_bad *bad);
bool prt_rules_reward(const prt_reward *p, prt_bad *bad);
/* reduced_fee_set: whether the request carried reduced_fee; reduced_currency its currency
 * (normalized like currency). */
bool prt_rules_plan(const prt_plan *p, bool fee_set, bool reduced_fee_set,
                    const char *reduced_currency, prt_bad *bad);

/* A plausible IANA zone name: 1-64 characters of [A-Za-z0-9/_+-], no empty or dot-dot part.
 * Whether the zone exists is the database's question. */
bool prt_rules_zone_syntax(const char *s);

/* A tier code: 1-32 characters of [a-z0-9-]. */
bool prt_rules_tier_code(const char *s);

/* A membership plan id as prt_store_plan_insert assigns them: "pln-" and 1-20 digits. */
bool prt_rules_plan_id(const char *s);

#endif
