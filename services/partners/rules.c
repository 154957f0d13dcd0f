/* SPDX-License-Identifier: Apache-2.0 */
/* Field validation of program configuration, mirrored by the CHECKs of 0002_programs.sql. */
#include "rules.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "currency.h"
#include "tls.h"

#define MAX_POINTS  INT64_C(1000000000)
#define MAX_MICROS  INT64_C(1000000000000)
#define MAX_RATE    INT64_C(1000000)
#define DAY_US      INT64_C(86400000000)
#define MAX_TIERS   10
#define BPS_1X      10000
#define BPS_MAX_MUL 100000

/* Fills *bad and returns false. */
static bool bad_field(prt_bad *bad, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool bad_field(prt_bad *bad, const char *field, const char *fmt, ...)
{
    snprintf(bad->field, sizeof bad->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bad->why, sizeof bad->why, fmt, ap);
    va_end(ap);
    return false;
}

static bool in_range(int64_t v, int64_t lo, int64_t hi)
{
    return v >= lo && v <= hi;
}

static bool text_len(const char *s, size_t lo, size_t hi)
{
    size_t n = co_utf8_chars(s);
    return n >= lo && n <= hi;
}

static bool name_ok(const char *s)
{
    return co_name_is_valid(s, strlen(s));
}

/* Checks v in lo..hi, naming field. */
static bool range(prt_bad *bad, const char *field, int64_t v, int64_t lo, int64_t hi)
{
    if (!in_range(v, lo, hi)) {
        return bad_field(bad, field, "must be between %" PRId64 " and %" PRId64, lo, hi);
    }
    return true;
}

#define NAME_RULE "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter"

bool prt_rules_zone_syntax(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//") != NULL ||
        strstr(s, "..") != NULL) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '/' || c == '_' || c == '+' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool prt_rules_tier_code(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            return false;
        }
    }
    return true;
}

static bool check_tiers(const prt_program *p, prt_bad *bad)
{
    if (p->ntiers > MAX_TIERS) {
        return bad_field(bad, "program.tiers", "at most %d tiers", MAX_TIERS);
    }
    if (p->ntiers > 0 && p->tier_basis == 0) {
        return bad_field(bad, "program.tier_basis", "required when tiers is not empty");
    }
    bool by_points = p->tier_basis == 1;
    int64_t prev = -1;
    for (size_t i = 0; i < p->ntiers; i++) {
        const prt_tier *t = &p->tiers[i];
        char f[64];
        snprintf(f, sizeof f, "program.tiers[%zu].code", i);
        if (!prt_rules_tier_code(t->code)) {
            return bad_field(bad, f, "must be 1-32 characters of a-z, 0-9 and '-'");
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p->tiers[j].code, t->code) == 0) {
                return bad_field(bad, f, "\"%s\" is used by another tier", t->code);
            }
        }
        snprintf(f, sizeof f, "program.tiers[%zu].name", i);
        if (!text_len(t->name, 1, 100)) {
            return bad_field(bad, f, "must be 1-100 characters");
        }
        const char *used = by_points ? "min_qualifying_points" : "min_spend_micros";
        const char *unused = by_points ? "min_spend_micros" : "min_qualifying_points";
        int64_t threshold = by_points ? t->min_qualifying_points : t->min_spend_micros;
        int64_t other = by_points ? t->min_spend_micros : t->min_qualifying_points;
        snprintf(f, sizeof f, "program.tiers[%zu].%s", i, unused);
        if (other != 0) {
            return bad_field(bad, f, "must be 0 with this tier_basis");
        }
        snprintf(f, sizeof f, "program.tiers[%zu].%s", i, used);
        if (!range(bad, f, threshold, 0, MAX_MICROS)) {
            return false;
        }
        if (i == 0 && threshold != 0) {
            return bad_field(bad, f, "must be 0: the first tier is the free entry tier");
        }
        if (i > 0 && threshold <= prev) {
            return bad_field(bad, f, "must be greater than the previous tier's");
        }
        prev = threshold;
        snprintf(f, sizeof f, "program.tiers[%zu].earn_multiplier_bps", i);
        if (!range(bad, f, t->earn_multiplier_bps, BPS_1X, BPS_MAX_MUL)) {
            return false;
        }
        snprintf(f, sizeof f, "program.tiers[%zu].perks", i);
        if (!text_len(t->perks, 0, 1000)) {
            return bad_field(bad, f, "at most 1000 characters");
        }
    }
    return true;
}

bool prt_rules_program(const prt_program *p, prt_bad *bad)
{
    if (!name_ok(p->code)) {
        return bad_field(bad, "program.code", NAME_RULE);
    }
    if (!text_len(p->name, 1, 200)) {
        return bad_field(bad, "program.name", "must be 1-200 characters");
    }
    if (!name_ok(p->owner_partner_id)) {
        return bad_field(bad, "program.owner_partner_id", NAME_RULE);
    }
    if (p->currency[0] != '\0' && !co_currency_valid(p->currency)) {
        return bad_field(bad, "program.currency", "not an ISO 4217 code");
    }
    if (!range(bad, "program.point_value_micros", p->point_value_micros, 1, MAX_POINTS) ||
        !range(bad, "program.issue_price_micros", p->issue_price_micros, 0, MAX_POINTS) ||
        !range(bad, "program.expiry_months", p->expiry_months, 0, 120) ||
        !range(bad, "program.earn_rule.points_per_unit.num", p->earn_num, 0, MAX_RATE) ||
        !range(bad, "program.earn_rule.points_per_unit.den", p->earn_den, 1, MAX_RATE) ||
        !range(bad, "program.earn_rule.min_spend_micros", p->earn_min_spend_micros, 0,
               MAX_MICROS) ||
        !range(bad, "program.earn_rule.points_per_visit", p->points_per_visit, 0, 1000000)) {
        return false;
    }
    if (!in_range(p->tier_basis, 0, 2)) {
        return bad_field(bad, "program.tier_basis", "unknown value %d", p->tier_basis);
    }
    if (!check_tiers(p, bad)) {
        return false;
    }
    if (!range(bad, "program.qualifying_window_days", p->qualifying_window_days, 1, 3650) ||
        !range(bad, "program.welcome_bonus_points", p->welcome_bonus_points, 0, MAX_POINTS) ||
        !range(bad, "program.birthday_bonus_points", p->birthday_bonus_points, 0, MAX_POINTS)) {
        return false;
    }
    if (p->issuing_mode != 1 && p->issuing_mode != 2) {
        return bad_field(bad, "program.issuing_mode", "must be PREPAID or POSTPAID");
    }
    if (!prt_rules_zone_syntax(p->time_zone)) {
        return bad_field(bad, "program.time_zone", "not an IANA time zone name");
    }
    return true;
}

bool prt_rules_campaign(const prt_campaign *p, int64_t now_us, prt_bad *bad)
{
    if (!name_ok(p->program_code)) {
        return bad_field(bad, "campaign.program_code", NAME_RULE);
    }
    if (!text_len(p->name, 1, 200)) {
        return bad_field(bad, "campaign.name", "must be 1-200 characters");
    }
    if (p->partner_id[0] != '\0' && !name_ok(p->partner_id)) {
        return bad_field(bad, "campaign.partner_id", NAME_RULE);
    }
    if (p->start_time_us == PRT_NO_TIME) {
        return bad_field(bad, "campaign.start_time", "required");
    }
    if (p->end_time_us == PRT_NO_TIME) {
        return bad_field(bad, "campaign.end_time", "required");
    }
    if (p->end_time_us <= p->start_time_us) {
        return bad_field(bad, "campaign.end_time", "must be after start_time");
    }
    if (p->end_time_us - p->start_time_us > 366 * DAY_US) {
        return bad_field(bad, "campaign.end_time", "at most 366 days after start_time");
    }
    if (p->end_time_us <= now_us) {
        return bad_field(bad, "campaign.end_time", "must be in the future");
    }
    if (!range(bad, "campaign.days_of_week_mask", p->days_of_week_mask, 0, 127)) {
        return false;
    }
    if (!text_len(p->category, 0, 100)) {
        return bad_field(bad, "campaign.category", "at most 100 characters");
    }
    if (!range(bad, "campaign.min_spend_micros", p->min_spend_micros, 0, MAX_MICROS) ||
        !range(bad, "campaign.multiplier_bps", p->multiplier_bps, BPS_1X, BPS_MAX_MUL) ||
        !range(bad, "campaign.bonus_points", p->bonus_points, 0, MAX_POINTS)) {
        return false;
    }
    if (p->chance_one_in != 0 && !in_range(p->chance_one_in, 2, 1000000)) {
        return bad_field(bad, "campaign.chance_one_in", "must be 0 or between 2 and 1000000");
    }
    if (p->chance_one_in != 0) {
        return range(bad, "campaign.chance_bonus_points", p->chance_bonus_points, 1, MAX_POINTS);
    }
    if (p->chance_bonus_points != 0) {
        return bad_field(bad, "campaign.chance_bonus_points", "must be 0 without chance_one_in");
    }
    return true;
}

bool prt_rules_agreement(const prt_agreement *p, prt_bad *bad)
{
    if (!name_ok(p->from_program_code)) {
        return bad_field(bad, "agreement.from_program_code", NAME_RULE);
    }
    if (!name_ok(p->to_program_code)) {
        return bad_field(bad, "agreement.to_program_code", NAME_RULE);
    }
    if (strcmp(p->from_program_code, p->to_program_code) == 0) {
        return bad_field(bad, "agreement.to_program_code", "must differ from from_program_code");
    }
    if (!range(bad, "agreement.rate.num", p->rate_num, 1, MAX_RATE) ||
        !range(bad, "agreement.rate.den", p->rate_den, 1, MAX_RATE) ||
        !range(bad, "agreement.fee_bps", p->fee_bps, 0, 10000) ||
        !range(bad, "agreement.min_points", p->min_points, 1, MAX_POINTS)) {
        return false;
    }
    if (p->max_points != 0 && !in_range(p->max_points, p->min_points, MAX_POINTS)) {
        return bad_field(bad, "agreement.max_points",
                         "must be 0 or between min_points and 1000000000");
    }
    return range(bad, "agreement.daily_cap_points", p->daily_cap_points, 0, MAX_POINTS);
}

bool prt_rules_policy(const prt_policy *p, prt_bad *bad)
{
    if (p->partner_id[0] != '\0' && !name_ok(p->partner_id)) {
        return bad_field(bad, "policy.partner_id", NAME_RULE);
    }
    return range(bad, "policy.operator_fee_bps", p->operator_fee_bps, 0, 10000) &&
           range(bad, "policy.referral_commission_bps", p->referral_commission_bps, 0, 10000) &&
           range(bad, "policy.referral_commission_months", p->referral_commission_months, 0, 120);
}

bool prt_rules_reward(const prt_reward *p, prt_bad *bad)
{
    if (!name_ok(p->program_code)) {
        return bad_field(bad, "reward.program_code", NAME_RULE);
    }
    if (!in_range(p->kind, 1, 3)) {
        return bad_field(bad, "reward.kind", "must be CATALOG, COUPON or DONATION");
    }
    if (!text_len(p->name, 1, 200)) {
        return bad_field(bad, "reward.name", "must be 1-200 characters");
    }
    if (!text_len(p->description, 0, 2000)) {
        return bad_field(bad, "reward.description", "at most 2000 characters");
    }
    if (!range(bad, "reward.points_cost", p->points_cost, 1, MAX_POINTS)) {
        return false;
    }
    if (!name_ok(p->partner_id)) {
        return bad_field(bad, "reward.partner_id", NAME_RULE);
    }
    bool donation = p->kind == 3;
    if (donation && p->charity_partner_id[0] == '\0') {
        return bad_field(bad, "reward.charity_partner_id", "required for a DONATION");
    }
    if (!donation && p->charity_partner_id[0] != '\0') {
        return bad_field(bad, "reward.charity_partner_id", "only a DONATION has a charity");
    }
    if (donation && !name_ok(p->charity_partner_id)) {
        return bad_field(bad, "reward.charity_partner_id", NAME_RULE);
    }
    if (!range(bad, "reward.stock", p->stock, 0, MAX_POINTS)) {
        return false;
    }
    if (!p->stock_limited && p->stock != 0) {
        return bad_field(bad, "reward.stock", "must be 0 unless stock_limited");
    }
    if (p->kind == 2) {
        return range(bad, "reward.coupon_valid_days", p->coupon_valid_days, 1, 3650);
    }
    if (p->coupon_valid_days != 0) {
        return bad_field(bad, "reward.coupon_valid_days", "only a COUPON has a validity");
    }
    return true;
}

bool prt_rules_plan(const prt_plan *p, bool fee_set, bool reduced_fee_set,
                    const char *reduced_currency, prt_bad *bad)
{
    if (!name_ok(p->program_code)) {
        return bad_field(bad, "plan.program_code", NAME_RULE);
    }
    if (!text_len(p->name, 1, 200)) {
        return bad_field(bad, "plan.name", "must be 1-200 characters");
    }
    if (!fee_set) {
        return bad_field(bad, "plan.fee", "required");
    }
    if (!range(bad, "plan.fee.amount_micros", p->fee_micros, 0, MAX_MICROS)) {
        return false;
    }
    if (!co_currency_valid(p->currency)) {
        return bad_field(bad, "plan.fee.currency", "not an ISO 4217 code");
    }
    if (!range(bad, "plan.period_months", p->period_months, 1, 36) ||
        !range(bad, "plan.earn_multiplier_bps", p->earn_multiplier_bps, BPS_1X, BPS_MAX_MUL)) {
        return false;
    }
    if (!text_len(p->perks, 0, 2000)) {
        return bad_field(bad, "plan.perks", "at most 2000 characters");
    }
    if (!range(bad, "plan.reduced_fee_min_points", p->reduced_fee_min_points, 0, MAX_POINTS)) {
        return false;
    }
    if (p->reduced_fee_min_points == 0) {
        if (reduced_fee_set && (p->reduced_fee_micros != 0 || reduced_currency[0] != '\0')) {
            return bad_field(bad, "plan.reduced_fee", "only with reduced_fee_min_points");
        }
        return true;
    }
    if (!reduced_fee_set) {
        return bad_field(bad, "plan.reduced_fee", "required with reduced_fee_min_points");
    }
    if (strcmp(reduced_currency, p->currency) != 0) {
        return bad_field(bad, "plan.reduced_fee.currency", "must be the fee's currency");
    }
    if (p->reduced_fee_micros < 0 || p->reduced_fee_micros >= p->fee_micros) {
        return bad_field(bad, "plan.reduced_fee.amount_micros",
                         "must be at least 0 and less than the fee");
    }
    return true;
}

bool prt_rules_plan_id(const char *s)
{
    if (strncmp(s, "pln-", 4) != 0) {
        return false;
    }
    size_t n = 0;
    for (const char *q = s + 4; *q != '\0'; q++, n++) {
        if (*q < '0' || *q > '9' || n >= 20) {
            return false;
        }
    }
    return n > 0;
}
