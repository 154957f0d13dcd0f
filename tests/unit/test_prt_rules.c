/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the partners service's field validation (rules.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"

static const prt_tier tiers[2] = {{"base", "Base", 0, 0, 10000, ""},
                                  {"gold", "Gold", 1000, 0, 15000, "Lounge"}};

static prt_program valid_program(void)
{
    prt_program p = {.code = "bakery-points",
                     .name = "Bakery",
                     .owner_partner_id = "bakery",
                     .currency = "EUR",
                     .point_value_micros = 10000,
                     .earn_num = 1,
                     .earn_den = 1,
                     .tier_basis = 1,
                     .tiers = tiers,
                     .ntiers = 2,
                     .qualifying_window_days = 365,
                     .issuing_mode = 2,
                     .time_zone = "Europe/Berlin"};
    return p;
}

static void test_rules_valid_program_passes(void **state)
{
    (void)state;
    prt_program p = valid_program();
    prt_bad bad;
    assert_true(prt_rules_program(&p, &bad));
}

static void test_rules_program_names_the_first_bad_field(void **state)
{
    (void)state;
    prt_bad bad;
    prt_program p = valid_program();
    p.point_value_micros = 0;
    assert_false(prt_rules_program(&p, &bad));
    assert_string_equal(bad.field, "program.point_value_micros");
    p = valid_program();
    p.earn_den = 0;
    assert_false(prt_rules_program(&p, &bad));
    assert_string_equal(bad.field, "program.earn_rule.points_per_unit.den");
    p = valid_program();
    p.tier_basis = 0;
    assert_false(prt_rules_program(&p, &bad));
    assert_string_equal(bad.field, "program.tier_basis");
    p = valid_program();
    p.issuing_mode = 3;
    assert_false(prt_rules_program(&p, &bad));
    assert_string_equal(bad.field, "program.issuing_mode");
}

static void test_rules_tier_thresholds_start_at_zero_and_increase(void **state)
{
    (void)state;
    prt_bad bad;
    prt_tier t[2] = {tiers[0], tiers[1]};
    prt_program p = valid_program();
    p.tiers = t;
    t[0].min_qualifying_points = 1;
    assert_false(prt_rules_program(&p, &bad));
    assert_string_equal(bad.field, "program.tiers[0].min_qualifying_points");
    t[0].min_qualifying_points = 0;
    t[1].min_qualifying_points = 0;
    assert_false(prt_rules_program(&p, &bad));
    assert_string_equal(bad.field, "program.tiers[1].min_qualifying_points");
    t[1].min_qualifying_points = 10;
    t[1].min_spend_micros = 5;
    assert_false(prt_rules_program(&p, &bad));
    assert_string_equal(bad.field, "program.tiers[1].min_spend_micros");
    t[1].min_spend_micros = 0;
    t[1].code = "base";
    assert_false(prt_rules_program(&p, &bad));
    assert_string_equal(bad.field, "program.tiers[1].code");
}

static void test_rules_zone_syntax(void **state)
{
    (void)state;
    assert_true(prt_rules_zone_syntax("UTC"));
    assert_true(prt_rules_zone_syntax("America/Argentina/Buenos_Aires"));
    assert_true(prt_rules_zone_syntax("Etc/GMT+5"));
    assert_false(prt_rules_zone_syntax(""));
    assert_false(prt_rules_zone_syntax("../etc"));
    assert_false(prt_rules_zone_syntax("/UTC"));
    assert_false(prt_rules_zone_syntax("Europe//Berlin"));
    assert_false(prt_rules_zone_syntax("Europe/Berlin "));
}

static void test_rules_campaign_window(void **state)
{
    (void)state;
    const int64_t day = INT64_C(86400000000);
    prt_campaign c = {.program_code = "p",
                      .name = "Double",
                      .partner_id = "",
                      .start_time_us = 10 * day,
                      .end_time_us = 20 * day,
                      .category = "",
                      .multiplier_bps = 20000};
    prt_bad bad;
    assert_true(prt_rules_campaign(&c, 11 * day, &bad));
    assert_false(prt_rules_campaign(&c, 21 * day, &bad));
    assert_string_equal(bad.field, "campaign.end_time");
    c.end_time_us = 10 * day + 367 * day;
    assert_false(prt_rules_campaign(&c, 0, &bad));
    assert_string_equal(bad.field, "campaign.end_time");
    c.end_time_us = 20 * day;
    c.start_time_us = PRT_NO_TIME;
    assert_false(prt_rules_campaign(&c, 0, &bad));
    assert_string_equal(bad.field, "campaign.start_time");
    c.start_time_us = 10 * day;
    c.chance_one_in = 5;
    assert_false(prt_rules_campaign(&c, 0, &bad));
    assert_string_equal(bad.field, "campaign.chance_bonus_points");
    c.chance_bonus_points = 10;
    assert_true(prt_rules_campaign(&c, 0, &bad));
}

static void test_rules_agreement_policy_reward_plan(void **state)
{
    (void)state;
    prt_bad bad;
    prt_agreement g = {"a", "b", 1, 2, 250, 100, 50, 0, true, 0};
    assert_false(prt_rules_agreement(&g, &bad));
    assert_string_equal(bad.field, "agreement.max_points");
    g.max_points = 0;
    assert_true(prt_rules_agreement(&g, &bad));
    g.to_program_code = "a";
    assert_false(prt_rules_agreement(&g, &bad));
    assert_string_equal(bad.field, "agreement.to_program_code");
    prt_policy pol = {"", 10000, 0, 120, 0};
    assert_true(prt_rules_policy(&pol, &bad));
    pol.operator_fee_bps = 10001;
    assert_false(prt_rules_policy(&pol, &bad));
    assert_string_equal(bad.field, "policy.operator_fee_bps");
    prt_reward r = {.program_code = "p",
                    .kind = 3,
                    .name = "Give",
                    .description = "",
                    .points_cost = 10,
                    .partner_id = "bakery",
                    .charity_partner_id = ""};
    assert_false(prt_rules_reward(&r, &bad));
    assert_string_equal(bad.field, "reward.charity_partner_id");
    r.charity_partner_id = "charity";
    assert_true(prt_rules_reward(&r, &bad));
    prt_plan pl = {.program_code = "p",
                   .name = "VIP",
                   .fee_micros = 100,
                   .currency = "EUR",
                   .period_months = 1,
                   .earn_multiplier_bps = 10000,
                   .perks = "",
                   .reduced_fee_min_points = 5,
                   .reduced_fee_micros = 100};
    assert_false(prt_rules_plan(&pl, true, true, "EUR", &bad));
    assert_string_equal(bad.field, "plan.reduced_fee.amount_micros");
    pl.reduced_fee_micros = 50;
    assert_true(prt_rules_plan(&pl, true, true, "EUR", &bad));
    assert_false(prt_rules_plan(&pl, true, true, "USD", &bad));
    assert_string_equal(bad.field, "plan.reduced_fee.currency");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_valid_program_passes),
        cmocka_unit_test(test_rules_program_names_the_first_bad_field),
        cmocka_unit_test(test_rules_tier_thresholds_start_at_zero_and_increase),
        cmocka_unit_test(test_rules_zone_syntax),
        cmocka_unit_test(test_rules_campaign_window),
        cmocka_unit_test(test_rules_agreement_policy_reward_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
