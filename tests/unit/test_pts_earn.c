/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the points service's earn calculation (earn.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "earn.h"

/* Wednesday 2024-03-06 12:00:00 UTC. */
#define WEDNESDAY_NOON_S  INT64_C(1709726400)
#define WEDNESDAY_NOON_US (WEDNESDAY_NOON_S * 1000000)
#define DAY_S             INT64_C(86400)
#define EUR(x)            ((int64_t)(x)*1000000)
#define MAX_CAMPAIGNS     70

/* A program, its campaigns and seeds, and an earn request, all in one place. */
typedef struct fx {
    Coalition__V1__Program program;
    Coalition__V1__EarnRule rule;
    Coalition__V1__Rational ppu;
    Coalition__V1__Campaign camp[MAX_CAMPAIGNS];
    Google__Protobuf__Timestamp start[MAX_CAMPAIGNS];
    Google__Protobuf__Timestamp end[MAX_CAMPAIGNS];
    char ids[MAX_CAMPAIGNS][32];
    Coalition__V1__Campaign *campp[MAX_CAMPAIGNS];
    Coalition__Internal__V1__CampaignSeed seed[MAX_CAMPAIGNS];
    Coalition__Internal__V1__CampaignSeed *seedp[MAX_CAMPAIGNS];
    uint8_t seed_bytes[32];
    pts_earn_in in;
    pts_earn_out out;
    char why[128];
} fx;

/* One point per euro, no minimum, no visits, no campaigns, 10 EUR on a Wednesday noon at
 * "bakery" (the owner). */
static void fx_init(fx *f)
{
    memset(f, 0, sizeof *f);
    f->program = (Coalition__V1__Program)COALITION__V1__PROGRAM__INIT;
    f->rule = (Coalition__V1__EarnRule)COALITION__V1__EARN_RULE__INIT;
    f->ppu = (Coalition__V1__Rational)COALITION__V1__RATIONAL__INIT;
    f->ppu.num = 1;
    f->ppu.den = 1;
    f->rule.points_per_unit = &f->ppu;
    f->program.code = "bakery-points";
    f->program.owner_partner_id = "bakery";
    f->program.earn_rule = &f->rule;
    for (size_t i = 0; i < 32; i++) {
        f->seed_bytes[i] = (uint8_t)i;
    }
    f->in = (pts_earn_in){.program = &f->program,
                          .campaigns = f->campp,
                          .seeds = f->seedp,
                          .issuer_partner_id = "bakery",
                          .request_id = "req-1",
                          .amount_micros = EUR(10),
                          .category = "",
                          .purchase_time_us = WEDNESDAY_NOON_US,
                          .iso_weekday = 3};
}

/* Adds a campaign running from a day before to a day after the purchase, any day, category
 * and partner, 1x, no bonus; returns it for the test to adjust. */
static Coalition__V1__Campaign *fx_campaign(fx *f, const char *id)
{
    size_t i = f->in.ncampaigns++;
    assert_true(i < MAX_CAMPAIGNS);
    Coalition__V1__Campaign *c = &f->camp[i];
    *c = (Coalition__V1__Campaign)COALITION__V1__CAMPAIGN__INIT;
    snprintf(f->ids[i], sizeof f->ids[i], "%s", id);
    c->campaign_id = f->ids[i];
    c->program_code = "bakery-points";
    f->start[i] = (Google__Protobuf__Timestamp)GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    f->end[i] = (Google__Protobuf__Timestamp)GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    f->start[i].seconds = WEDNESDAY_NOON_S - DAY_S;
    f->end[i].seconds = WEDNESDAY_NOON_S + DAY_S;
    c->start_time = &f->start[i];
    c->end_time = &f->end[i];
    f->campp[i] = c;
    return c;
}

/* Gives campaign c a chance reward and its seed (the fixture's 32 bytes 0x00..0x1f). */
static void fx_chance(fx *f, Coalition__V1__Campaign *c, int32_t one_in, int64_t points)
{
    c->chance_one_in = one_in;
    c->chance_bonus_points = points;
    size_t i = f->in.nseeds++;
    f->seed[i] =
        (Coalition__Internal__V1__CampaignSeed)COALITION__INTERNAL__V1__CAMPAIGN_SEED__INIT;
    f->seed[i].campaign_id = c->campaign_id;
    f->seed[i].seed.data = f->seed_bytes;
    f->seed[i].seed.len = sizeof f->seed_bytes;
    f->seedp[i] = &f->seed[i];
}

static co_err fx_run(fx *f)
{
    return pts_earn_compute(&f->in, &f->out, f->why, sizeof f->why);
}

static int64_t fx_base(fx *f)
{
    assert_int_equal(fx_run(f), CO_OK);
    return f->out.base_points;
}

/* Total of the bonuses; also checks that none is listed with 0 points and that the total adds
 * up. */
static int64_t bonus_sum(const pts_earn_out *o)
{
    int64_t sum = 0;
    for (size_t i = 0; i < o->nbonuses; i++) {
        assert_true(o->bonuses[i].points > 0);
        sum += o->bonuses[i].points;
    }
    assert_int_equal(o->total_points, o->base_points + sum);
    return sum;
}

static void assert_bonus(const pts_bonus *b, pts_bonus_reason reason, int64_t points,
                         const char *sponsor, const char *campaign_id)
{
    assert_int_equal(b->reason, reason);
    assert_int_equal(b->points, points);
    assert_string_equal(b->sponsor_partner_id, sponsor);
    if (campaign_id == NULL) {
        assert_null(b->campaign_id);
    } else {
        assert_string_equal(b->campaign_id, campaign_id);
    }
}

/* ----- base points ----- */

static void test_earn_one_per_unit_rounds_down(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.amount_micros = 9990000;
    assert_int_equal(fx_base(&f), 9);
    f.in.amount_micros = EUR(10);
    assert_int_equal(fx_base(&f), 10);
    f.in.amount_micros = 999999;
    assert_int_equal(fx_base(&f), 0);
    assert_int_equal(f.out.nbonuses, 0);
    assert_int_equal(f.out.total_points, 0);
}

static void test_earn_one_per_two_units_rounds_down(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.ppu.den = 2;
    f.in.amount_micros = 9990000;
    assert_int_equal(fx_base(&f), 4);
    f.in.amount_micros = EUR(10);
    assert_int_equal(fx_base(&f), 5);
    f.in.amount_micros = 1999999;
    assert_int_equal(fx_base(&f), 0);
}

static void test_earn_three_per_seven_units_rounds_down(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.ppu.num = 3;
    f.ppu.den = 7;
    f.in.amount_micros = EUR(10); /* 30/7 = 4.29 */
    assert_int_equal(fx_base(&f), 4);
    f.in.amount_micros = EUR(7);
    assert_int_equal(fx_base(&f), 3);
    f.in.amount_micros = 2333333; /* 0.99999986 */
    assert_int_equal(fx_base(&f), 0);
    f.in.amount_micros = 2333334; /* 1.0000003 */
    assert_int_equal(fx_base(&f), 1);
}

static void test_earn_min_spend_boundary(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.rule.min_spend_micros = EUR(5);
    f.in.amount_micros = EUR(5) - 1;
    assert_int_equal(fx_base(&f), 0);
    f.in.amount_micros = EUR(5);
    assert_int_equal(fx_base(&f), 5);
}

static void test_earn_unset_or_zero_rate_earns_nothing_for_spend(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.ppu.num = 0;
    f.ppu.den = 0; /* not looked at when num is 0 */
    assert_int_equal(fx_base(&f), 0);
    f.rule.points_per_unit = NULL;
    assert_int_equal(fx_base(&f), 0);
    f.program.earn_rule = NULL;
    assert_int_equal(fx_base(&f), 0);
}

static void test_earn_per_visit(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.rule.points_per_unit = NULL;
    f.rule.points_per_visit = 2;
    f.in.amount_micros = 0;
    f.in.visits = 3;
    assert_int_equal(fx_base(&f), 6);
    f.rule.points_per_visit = 0;
    assert_int_equal(fx_base(&f), 0);
}

static void test_earn_amount_and_visits_add_up(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.rule.points_per_visit = 5;
    f.in.visits = 2;
    assert_int_equal(fx_base(&f), 20);
    /* Below the minimum spend, visits still count. */
    f.rule.min_spend_micros = EUR(11);
    assert_int_equal(fx_base(&f), 10);
}

/* ----- multipliers ----- */

static void test_earn_tier_one_and_a_half_rounds_down(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.amount_micros = EUR(7);
    f.in.tier_multiplier_bps = 15000;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.base_points, 7);
    assert_int_equal(f.out.nbonuses, 1);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_TIER, 3, "bakery", NULL);
    assert_int_equal(f.out.total_points, 10);
}

static void test_earn_tier_one_x_or_none_gives_no_bonus(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.tier_multiplier_bps = 10000;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 0);
    f.in.tier_multiplier_bps = 0;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 0);
    assert_int_equal(f.out.total_points, 10);
}

static void test_earn_membership_bonus_sponsored_by_owner(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.issuer_partner_id = "cafe"; /* a participant earns; the owner sponsors the bonus */
    f.in.membership_multiplier_bps = 20000;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 1);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_MEMBERSHIP, 10, "bakery", NULL);
}

static void test_earn_tier_membership_campaign_remainder_to_last(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.amount_micros = EUR(7);
    f.in.tier_multiplier_bps = 15000;                            /* 3.5 */
    f.in.membership_multiplier_bps = 12500;                      /* 1.75 */
    fx_campaign(&f, "cmp-000000000001")->multiplier_bps = 20000; /* 7 */
    /* floor(7 * 1.75) = 12; floors 3 + 1 + 7 = 11; the campaign, last, gets the 1 left. */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 3);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_TIER, 3, "bakery", NULL);
    assert_bonus(&f.out.bonuses[1], PTS_BONUS_MEMBERSHIP, 1, "bakery", NULL);
    assert_bonus(&f.out.bonuses[2], PTS_BONUS_CAMPAIGN, 8, "bakery", "cmp-000000000001");
    assert_int_equal(bonus_sum(&f.out), 12);
    assert_int_equal(f.out.total_points, 19);
}

static void test_earn_remainder_lists_a_source_whose_floor_is_zero(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.amount_micros = EUR(3);
    f.in.tier_multiplier_bps = 13333;       /* 0.9999 -> 0 */
    f.in.membership_multiplier_bps = 13333; /* 0.9999 -> 0, plus the remainder 1 */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 1);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_MEMBERSHIP, 1, "bakery", NULL);
}

static void test_earn_remainder_skips_sources_at_one_x(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.amount_micros = EUR(3);
    f.in.tier_multiplier_bps = 13333;
    f.in.membership_multiplier_bps = 13333;
    fx_campaign(&f, "cmp-000000000001")->bonus_points = 5; /* 1x: gets no remainder */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 2);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_MEMBERSHIP, 1, "bakery", NULL);
    assert_bonus(&f.out.bonuses[1], PTS_BONUS_CAMPAIGN, 5, "bakery", "cmp-000000000001");
}

static void test_earn_shares_always_sum_to_combined_floor(void **state)
{
    (void)state;
    fx f;
    uint64_t lcg = 42;
    for (int round = 0; round < 2000; round++) {
        fx_init(&f);
        int32_t bps[5];
        for (size_t k = 0; k < 5; k++) {
            lcg = lcg * 6364136223846793005u + 1442695040888963407u;
            bps[k] = 10000 + (int32_t)((lcg >> 33) % 90001);
        }
        lcg = lcg * 6364136223846793005u + 1442695040888963407u;
        f.in.amount_micros = (int64_t)((lcg >> 20) % 100000000000u);
        f.in.tier_multiplier_bps = bps[0];
        f.in.membership_multiplier_bps = bps[1];
        fx_campaign(&f, "cmp-a")->multiplier_bps = bps[2];
        fx_campaign(&f, "cmp-b")->multiplier_bps = bps[3];
        fx_campaign(&f, "cmp-c")->multiplier_bps = bps[4];
        int64_t excess = 0;
        for (size_t k = 0; k < 5; k++) {
            excess += bps[k] - 10000;
        }
        assert_int_equal(fx_run(&f), CO_OK);
        assert_int_equal(bonus_sum(&f.out), f.out.base_points * excess / 10000);
    }
}

/* ----- campaign matching ----- */

static void test_earn_campaign_window_start_inclusive_end_exclusive(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    c->bonus_points = 1;
    c->start_time->seconds = WEDNESDAY_NOON_S;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
    assert_string_equal(f.out.matched_campaigns[0], "cmp-1");
    c->start_time->nanos = 1000; /* one microsecond after the purchase */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
    c->start_time->nanos = 1; /* a nanosecond after is after too */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
    c->start_time->seconds = WEDNESDAY_NOON_S - DAY_S;
    c->start_time->nanos = 0;
    c->end_time->seconds = WEDNESDAY_NOON_S;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
    f.in.purchase_time_us = WEDNESDAY_NOON_US - 1;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
    assert_int_equal(f.out.total_points, 11);
}

static void test_earn_campaign_without_times_never_matches(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    fx_campaign(&f, "cmp-1")->end_time = NULL;
    fx_campaign(&f, "cmp-2")->start_time = NULL;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
}

static void test_earn_campaign_weekday_mask(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    c->days_of_week_mask = 1 << 2; /* Wednesday */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
    c->days_of_week_mask = (1 << 1) | (1 << 3); /* Tuesday and Thursday */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
    c->days_of_week_mask = 0; /* every day */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
    c->days_of_week_mask = 1 << 6; /* Sunday */
    f.in.iso_weekday = 7;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
    f.in.iso_weekday = 1;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
    c->days_of_week_mask = 1; /* Monday */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
}

static void test_earn_campaign_category(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    c->category = "fuel";
    f.in.category = "fuel";
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
    f.in.category = "";
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
    f.in.category = NULL;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
    f.in.category = "fuel2";
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
    c->category = ""; /* any category */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
}

static void test_earn_campaign_of_other_partner_does_not_match(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    c->partner_id = "shell";
    c->bonus_points = 100;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
    assert_int_equal(f.out.nbonuses, 0);
    f.in.issuer_partner_id = "shell";
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_CAMPAIGN, 100, "shell", "cmp-1");
}

static void test_earn_campaign_without_partner_sponsored_by_owner(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    fx_campaign(&f, "cmp-1")->bonus_points = 100;
    f.in.issuer_partner_id = "shell";
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 1);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_CAMPAIGN, 100, "bakery", "cmp-1");
}

static void test_earn_campaign_min_spend(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    fx_campaign(&f, "cmp-1")->min_spend_micros = EUR(10);
    f.in.amount_micros = EUR(10) - 1;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 0);
    f.in.amount_micros = EUR(10);
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
}

static void test_earn_campaign_multiplier_zero_means_one_x(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    fx_campaign(&f, "cmp-1")->multiplier_bps = 0;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
    assert_int_equal(f.out.nbonuses, 0); /* matched, but nothing to credit */
    assert_int_equal(f.out.total_points, 10);
}

static void test_earn_campaign_double_points_and_flat_bonus_are_one_bonus(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    c->multiplier_bps = 20000;
    c->bonus_points = 50;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 1);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_CAMPAIGN, 60, "bakery", "cmp-1");
    assert_int_equal(f.out.total_points, 70);
}

static void test_earn_flat_bonus_with_zero_base(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.rule.min_spend_micros = EUR(20); /* no base points */
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    c->multiplier_bps = 30000;
    c->bonus_points = 25;
    f.in.first_earn = true;
    f.program.welcome_bonus_points = 500;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.base_points, 0);
    assert_int_equal(f.out.nbonuses, 1);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_CAMPAIGN, 25, "bakery", "cmp-1");
    assert_int_equal(f.out.total_points, 25);
}

static void test_earn_campaigns_in_campaign_id_order(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    fx_campaign(&f, "cmp-000000000003")->bonus_points = 3;
    fx_campaign(&f, "cmp-000000000001")->bonus_points = 1;
    fx_campaign(&f, "cmp-000000000010")->partner_id = "shell"; /* no match */
    fx_campaign(&f, "cmp-000000000002")->bonus_points = 2;
    f.in.tier_multiplier_bps = 12000;
    f.in.campaigns[0]->multiplier_bps = 15000;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 3);
    assert_string_equal(f.out.matched_campaigns[0], "cmp-000000000001");
    assert_string_equal(f.out.matched_campaigns[1], "cmp-000000000002");
    assert_string_equal(f.out.matched_campaigns[2], "cmp-000000000003");
    assert_int_equal(f.out.nbonuses, 4);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_TIER, 2, "bakery", NULL);
    assert_bonus(&f.out.bonuses[1], PTS_BONUS_CAMPAIGN, 1, "bakery", "cmp-000000000001");
    assert_bonus(&f.out.bonuses[2], PTS_BONUS_CAMPAIGN, 2, "bakery", "cmp-000000000002");
    assert_bonus(&f.out.bonuses[3], PTS_BONUS_CAMPAIGN, 8, "bakery", "cmp-000000000003");
}

static void test_earn_null_campaign_entries_are_skipped(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    fx_campaign(&f, "cmp-1")->bonus_points = 1;
    f.campp[1] = NULL;
    f.in.ncampaigns = 2;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
}

/* ----- chance ----- */

static void test_earn_chance_draw_known_vector(void **state)
{
    (void)state;
    uint8_t seed[32];
    for (size_t i = 0; i < 32; i++) {
        seed[i] = (uint8_t)i;
    }
    /* HMAC-SHA256(00..1f, "bakery\nreq-1") starts 6049bd4c72642881 = 6938284836975290497. */
    assert_int_equal(pts_chance_draw(seed, 32, "bakery", "req-1", 1000000), 290497);
    assert_int_equal(pts_chance_draw(seed, 32, "bakery", "req-1", 10), 7);
    assert_int_equal(pts_chance_draw(seed, 32, "bakery", "req-2", 1000000), 17018);
    assert_int_equal(pts_chance_draw(seed, 32, "bakery", "req-1", 1), 0);
}

static void test_earn_chance_draw_is_deterministic_and_varies(void **state)
{
    (void)state;
    uint8_t seed[32] = {7};
    int64_t a = pts_chance_draw(seed, 32, "bakery", "req-1", 1000000);
    assert_int_equal(pts_chance_draw(seed, 32, "bakery", "req-1", 1000000), a);
    int distinct = 0;
    char rid[32];
    for (int i = 2; i < 12; i++) {
        snprintf(rid, sizeof rid, "req-%d", i);
        int64_t d = pts_chance_draw(seed, 32, "bakery", rid, 1000000);
        assert_true(d >= 0 && d < 1000000);
        distinct += d != a;
    }
    assert_true(distinct >= 9);
    /* The partner and the seed are part of the key too. */
    assert_int_not_equal(pts_chance_draw(seed, 32, "cafe", "req-1", 1000000), a);
    seed[31] = 1;
    assert_int_not_equal(pts_chance_draw(seed, 32, "bakery", "req-1", 1000000), a);
}

static void test_earn_chance_draw_rejects_bad_arguments(void **state)
{
    (void)state;
    uint8_t seed[32] = {0};
    assert_int_equal(pts_chance_draw(NULL, 32, "bakery", "req-1", 10), -1);
    assert_int_equal(pts_chance_draw(seed, 0, "bakery", "req-1", 10), -1);
    assert_int_equal(pts_chance_draw(seed, 32, NULL, "req-1", 10), -1);
    assert_int_equal(pts_chance_draw(seed, 32, "bakery", NULL, 10), -1);
    assert_int_equal(pts_chance_draw(seed, 32, "bakery", "req-1", 0), -1);
    assert_int_equal(pts_chance_draw(seed, 32, "bakery", "req-1", -5), -1);
}

static void test_earn_chance_odds_one_in_ten(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    fx_chance(&f, fx_campaign(&f, "cmp-1"), 10, 100);
    char rid[32];
    int wins = 0;
    f.in.request_id = rid;
    for (int i = 0; i < 20000; i++) {
        snprintf(rid, sizeof rid, "till-7-%d", i);
        assert_int_equal(fx_run(&f), CO_OK);
        assert_int_equal(f.out.ndraws, 1);
        assert_true(f.out.draws[0].draw >= 0 && f.out.draws[0].draw < 10);
        if (f.out.draws[0].won) {
            wins++;
            assert_int_equal(f.out.total_points, 110);
        } else {
            assert_int_equal(f.out.total_points, 10);
        }
    }
    assert_in_range(wins, 1700, 2300);
}

/* A request id of "req-<n>" whose draw against the fixture seed at "bakery" is (or is not) 0. */
static void find_request_id(char *rid, size_t len, int32_t one_in, bool win)
{
    uint8_t seed[32];
    for (size_t i = 0; i < 32; i++) {
        seed[i] = (uint8_t)i;
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(rid, len, "req-%d", i);
        if ((pts_chance_draw(seed, 32, "bakery", rid, one_in) == 0) == win) {
            return;
        }
    }
    fail_msg("no request id found");
}

static void test_earn_chance_win_is_posted_after_campaign_bonuses(void **state)
{
    (void)state;
    fx f;
    char rid[32];
    fx_init(&f);
    find_request_id(rid, sizeof rid, 3, true);
    f.in.request_id = rid;
    f.in.first_earn = true;
    f.program.welcome_bonus_points = 1000;
    fx_campaign(&f, "cmp-2")->bonus_points = 2;
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    c->partner_id = "bakery";
    c->bonus_points = 1;
    fx_chance(&f, c, 3, 77);
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.ndraws, 1);
    assert_string_equal(f.out.draws[0].campaign_id, "cmp-1");
    assert_int_equal(f.out.draws[0].one_in, 3);
    assert_int_equal(f.out.draws[0].draw, 0);
    assert_true(f.out.draws[0].won);
    assert_int_equal(f.out.draws[0].bonus_points, 77);
    assert_int_equal(f.out.nbonuses, 4);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_CAMPAIGN, 1, "bakery", "cmp-1");
    assert_bonus(&f.out.bonuses[1], PTS_BONUS_CAMPAIGN, 2, "bakery", "cmp-2");
    assert_bonus(&f.out.bonuses[2], PTS_BONUS_CHANCE, 77, "bakery", "cmp-1");
    assert_bonus(&f.out.bonuses[3], PTS_BONUS_WELCOME, 1000, "bakery", NULL);
    assert_int_equal(bonus_sum(&f.out), 1080);
}

static void test_earn_chance_loss_is_recorded_without_bonus(void **state)
{
    (void)state;
    fx f;
    char rid[32];
    fx_init(&f);
    find_request_id(rid, sizeof rid, 3, false);
    f.in.request_id = rid;
    fx_chance(&f, fx_campaign(&f, "cmp-1"), 3, 77);
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.ndraws, 1);
    assert_false(f.out.draws[0].won);
    assert_true(f.out.draws[0].draw == 1 || f.out.draws[0].draw == 2);
    assert_int_equal(f.out.draws[0].bonus_points, 0);
    assert_int_equal(f.out.nbonuses, 0);
}

static void test_earn_chance_sponsored_by_campaign_partner(void **state)
{
    (void)state;
    fx f;
    char rid[32];
    fx_init(&f);
    f.in.issuer_partner_id = "bakery";
    find_request_id(rid, sizeof rid, 2, true);
    f.in.request_id = rid;
    f.program.owner_partner_id = "operator";
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    c->partner_id = "bakery";
    fx_chance(&f, c, 2, 5);
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 1);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_CHANCE, 5, "bakery", "cmp-1");
}

static void test_earn_chance_without_seed_draws_nothing(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    fx_chance(&f, c, 2, 5);
    f.seed[0].campaign_id = "cmp-other";
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 1);
    assert_int_equal(f.out.ndraws, 0);
    f.seed[0].campaign_id = "cmp-1";
    f.seed[0].seed.len = 0; /* an empty seed is no seed */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.ndraws, 0);
    f.seed[0].seed.len = 32;
    f.seedp[0] = NULL;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.ndraws, 0);
}

static void test_earn_chance_only_for_matching_campaigns_with_odds(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    fx_chance(&f, c, 2, 5);
    c->min_spend_micros = EUR(100);
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.ndraws, 0);
    c->min_spend_micros = 0;
    c->chance_one_in = 0;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.ndraws, 0);
    c->chance_one_in = 1; /* out of contract: no chance reward */
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.ndraws, 0);
    c->chance_one_in = 2;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.ndraws, 1);
}

static void test_earn_chance_drawn_with_zero_base(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.rule.min_spend_micros = EUR(20);
    fx_chance(&f, fx_campaign(&f, "cmp-1"), 2, 5);
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.base_points, 0);
    assert_int_equal(f.out.ndraws, 1);
}

/* ----- welcome ----- */

static void test_earn_welcome_bonus_on_first_earn_only(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.program.welcome_bonus_points = 500;
    f.in.issuer_partner_id = "cafe";
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 0);
    f.in.first_earn = true;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 1);
    assert_bonus(&f.out.bonuses[0], PTS_BONUS_WELCOME, 500, "bakery", NULL);
    assert_int_equal(f.out.total_points, 510);
    f.program.welcome_bonus_points = 0;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nbonuses, 0);
}

static void test_earn_welcome_bonus_needs_base_points(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.program.welcome_bonus_points = 500;
    f.in.first_earn = true;
    f.in.amount_micros = 999999;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.base_points, 0);
    assert_int_equal(f.out.nbonuses, 0);
    assert_int_equal(f.out.total_points, 0);
}

/* ----- limits and hostile input ----- */

static void test_earn_total_at_cap_passes(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.amount_micros = EUR(1000000);
    f.ppu.num = 1000;
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.total_points, 1000000000);
}

static void test_earn_total_over_cap_fails_and_changes_nothing(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.amount_micros = EUR(1000000);
    f.ppu.num = 1000;
    f.program.welcome_bonus_points = 1;
    f.in.first_earn = true;
    memset(&f.out, 0xab, sizeof f.out);
    pts_earn_out before = f.out;
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
    assert_memory_equal(&f.out, &before, sizeof before);
    assert_string_equal(f.why, "amount: earn would credit more than 1000000000 points in all");

    fx_init(&f);
    f.in.amount_micros = EUR(600000000);
    f.in.tier_multiplier_bps = 20000; /* base fits, with the tier it does not */
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
    fx_init(&f);
    fx_campaign(&f, "cmp-1")->bonus_points = 1000000000;
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
    assert_string_equal(f.why, "amount: earn would credit more than 1000000000 points in all");
}

static void test_earn_overflowing_inputs_fail_cleanly(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.amount_micros = INT64_C(1000000000000);
    f.ppu.num = 1000000;
    f.ppu.den = 1;
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
    assert_memory_equal(f.why, "amount: ", 8);
    f.ppu.num = INT64_MAX; /* the 128-bit product does not fit back */
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
    f.ppu.den = INT64_MAX; /* den * 1000000 would overflow int64 */
    assert_int_equal(fx_base(&f), 1000000);
    fx_init(&f);
    f.rule.points_per_visit = INT64_MAX;
    f.in.visits = 100;
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
    fx_init(&f);
    f.in.amount_micros = EUR(1000);
    f.in.tier_multiplier_bps = INT32_MAX;
    f.in.membership_multiplier_bps = INT32_MAX;
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "cmp-%02d", i);
        fx_campaign(&f, id)->multiplier_bps = INT32_MAX;
    }
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
    fx_init(&f);
    Coalition__V1__Campaign *c = fx_campaign(&f, "cmp-1");
    c->multiplier_bps = 20000; /* its share plus its flat bonus overflows */
    c->bonus_points = INT64_MAX;
    f.in.tier_multiplier_bps = 20000;
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
}

static void test_earn_request_fields_out_of_range_fail(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.amount_micros = -1;
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
    assert_string_equal(f.why, "amount: must be 0..1000000000000 micros");
    f.in.amount_micros = INT64_C(1000000000001);
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
    fx_init(&f);
    f.in.visits = 101;
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
    assert_string_equal(f.why, "visits: must be 0..100");
    f.in.visits = -1;
    assert_int_equal(fx_run(&f), CO_ERR_INVALID_ARGUMENT);
}

static void test_earn_broken_configuration_is_internal(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.iso_weekday = 0;
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    f.in.iso_weekday = 8;
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    fx_init(&f);
    f.ppu.den = 0;
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    f.ppu.den = 1;
    f.ppu.num = -1;
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    fx_init(&f);
    f.rule.points_per_visit = -1;
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    fx_init(&f);
    f.in.tier_multiplier_bps = 9999;
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    fx_init(&f);
    f.in.membership_multiplier_bps = -1;
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    fx_init(&f);
    f.program.welcome_bonus_points = -1;
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    fx_init(&f);
    fx_campaign(&f, "cmp-1")->multiplier_bps = 5000;
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    fx_init(&f);
    fx_campaign(&f, "cmp-1")->bonus_points = -1;
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    /* A broken campaign that does not match is not looked at. */
    f.camp[0].partner_id = "shell";
    assert_int_equal(fx_run(&f), CO_OK);
}

static void test_earn_more_matches_than_fit_fail(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    for (int i = 0; i < 64; i++) {
        char id[16];
        snprintf(id, sizeof id, "cmp-%02d", i);
        fx_campaign(&f, id)->bonus_points = 1;
    }
    assert_int_equal(fx_run(&f), CO_OK);
    assert_int_equal(f.out.nmatched, 64);
    assert_int_equal(f.out.nbonuses, 64);
    assert_int_equal(f.out.total_points, 74);
    f.in.tier_multiplier_bps = 20000; /* a 65th bonus */
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    f.in.tier_multiplier_bps = 0;
    fx_campaign(&f, "cmp-64");
    assert_int_equal(fx_run(&f), CO_ERR_INTERNAL);
    assert_string_equal(f.why, "campaigns: more than 64 campaigns match one earn");
}

static void test_earn_why_may_be_null_or_short(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    f.in.visits = -1;
    assert_int_equal(pts_earn_compute(&f.in, &f.out, NULL, 0), CO_ERR_INVALID_ARGUMENT);
    char why[8];
    assert_int_equal(pts_earn_compute(&f.in, &f.out, why, sizeof why), CO_ERR_INVALID_ARGUMENT);
    assert_string_equal(why, "visits:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_earn_one_per_unit_rounds_down),
        cmocka_unit_test(test_earn_one_per_two_units_rounds_down),
        cmocka_unit_test(test_earn_three_per_seven_units_rounds_down),
        cmocka_unit_test(test_earn_min_spend_boundary),
        cmocka_unit_test(test_earn_unset_or_zero_rate_earns_nothing_for_spend),
        cmocka_unit_test(test_earn_per_visit),
        cmocka_unit_test(test_earn_amount_and_visits_add_up),
        cmocka_unit_test(test_earn_tier_one_and_a_half_rounds_down),
        cmocka_unit_test(test_earn_tier_one_x_or_none_gives_no_bonus),
        cmocka_unit_test(test_earn_membership_bonus_sponsored_by_owner),
        cmocka_unit_test(test_earn_tier_membership_campaign_remainder_to_last),
        cmocka_unit_test(test_earn_remainder_lists_a_source_whose_floor_is_zero),
        cmocka_unit_test(test_earn_remainder_skips_sources_at_one_x),
        cmocka_unit_test(test_earn_shares_always_sum_to_combined_floor),
        cmocka_unit_test(test_earn_campaign_window_start_inclusive_end_exclusive),
        cmocka_unit_test(test_earn_campaign_without_times_never_matches),
        cmocka_unit_test(test_earn_campaign_weekday_mask),
        cmocka_unit_test(test_earn_campaign_category),
        cmocka_unit_test(test_earn_campaign_of_other_partner_does_not_match),
        cmocka_unit_test(test_earn_campaign_without_partner_sponsored_by_owner),
        cmocka_unit_test(test_earn_campaign_min_spend),
        cmocka_unit_test(test_earn_campaign_multiplier_zero_means_one_x),
        cmocka_unit_test(test_earn_campaign_double_points_and_flat_bonus_are_one_bonus),
        cmocka_unit_test(test_earn_flat_bonus_with_zero_base),
        cmocka_unit_test(test_earn_campaigns_in_campaign_id_order),
        cmocka_unit_test(test_earn_null_campaign_entries_are_skipped),
        cmocka_unit_test(test_earn_chance_draw_known_vector),
        cmocka_unit_test(test_earn_chance_draw_is_deterministic_and_varies),
        cmocka_unit_test(test_earn_chance_draw_rejects_bad_arguments),
        cmocka_unit_test(test_earn_chance_odds_one_in_ten),
        cmocka_unit_test(test_earn_chance_win_is_posted_after_campaign_bonuses),
        cmocka_unit_test(test_earn_chance_loss_is_recorded_without_bonus),
        cmocka_unit_test(test_earn_chance_sponsored_by_campaign_partner),
        cmocka_unit_test(test_earn_chance_without_seed_draws_nothing),
        cmocka_unit_test(test_earn_chance_only_for_matching_campaigns_with_odds),
        cmocka_unit_test(test_earn_chance_drawn_with_zero_base),
        cmocka_unit_test(test_earn_welcome_bonus_on_first_earn_only),
        cmocka_unit_test(test_earn_welcome_bonus_needs_base_points),
        cmocka_unit_test(test_earn_total_at_cap_passes),
        cmocka_unit_test(test_earn_total_over_cap_fails_and_changes_nothing),
        cmocka_unit_test(test_earn_overflowing_inputs_fail_cleanly),
        cmocka_unit_test(test_earn_request_fields_out_of_range_fail),
        cmocka_unit_test(test_earn_broken_configuration_is_internal),
        cmocka_unit_test(test_earn_more_matches_than_fit_fail),
        cmocka_unit_test(test_earn_why_may_be_null_or_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
