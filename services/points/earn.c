/* SPDX-License-Identifier: Apache-2.0 */
/* The earn calculation: base points, multiplier shares, campaign, chance and welcome bonuses. */
#include "earn.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "int64.h"

#define BPS_ONE           INT64_C(10000)
#define MICROS_PER_UNIT   INT64_C(1000000)
#define MAX_AMOUNT_MICROS INT64_C(1000000000000)
#define MAX_VISITS        100
#define DRAW_MAC_BYTES    32

/* The one message for a total above the cap, an overflow included: both mean "too much". */
#define WHY_TOO_MUCH "amount: earn would credit more than 1000000000 points in all"

/* Multiplier sources: tier, membership, then one per matching campaign. */
#define MAX_SOURCES (2 + PTS_MAX_EARN_BONUSES)

static const char *str_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/* Fills why (when there is room) and returns err, for one-line failure returns. */
static co_err fail(co_err err, char *why, size_t whylen, const char *msg)
{
    if (why != NULL && whylen > 0) {
        snprintf(why, whylen, "%s", msg);
    }
    return err;
}

/* -1, 0 or 1 as the instant us (unix microseconds) is before, at or after t. Exact: the
 * Timestamp's nanoseconds are compared, not rounded to microseconds. */
static int cmp_us_ts(int64_t us, const Google__Protobuf__Timestamp *t)
{
    int64_t sec = us / MICROS_PER_UNIT;
    int64_t rem = us % MICROS_PER_UNIT;
    if (rem < 0) {
        rem += MICROS_PER_UNIT;
        sec -= 1;
    }
    int64_t ns = rem * 1000;
    if (sec != t->seconds) {
        return sec < t->seconds ? -1 : 1;
    }
    if (ns != t->nanos) {
        return ns < t->nanos ? -1 : 1;
    }
    return 0;
}

/* A campaign's multiplier with 0 read as 1x. */
static int64_t campaign_bps(const Coalition__V1__Campaign *c)
{
    return c->multiplier_bps == 0 ? BPS_ONE : c->multiplier_bps;
}

/* True if campaign c applies to the purchase in (Campaign's comment in partners.proto). */
static bool campaign_matches(const Coalition__V1__Campaign *c, const pts_earn_in *in)
{
    if (c->start_time == NULL || c->end_time == NULL) {
        return false;
    }
    if (cmp_us_ts(in->purchase_time_us, c->start_time) < 0 ||
        cmp_us_ts(in->purchase_time_us, c->end_time) >= 0) {
        return false;
    }
    uint32_t mask = (uint32_t)c->days_of_week_mask;
    if (mask != 0 && ((mask >> (in->iso_weekday - 1)) & 1u) == 0) {
        return false;
    }
    const char *category = str_or_empty(c->category);
    if (category[0] != '\0' && strcmp(category, str_or_empty(in->category)) != 0) {
        return false;
    }
    const char *partner = str_or_empty(c->partner_id);
    if (partner[0] != '\0' && strcmp(partner, str_or_empty(in->issuer_partner_id)) != 0) {
        return false;
    }
    return in->amount_micros >= c->min_spend_micros;
}

/* True if a matching campaign's numbers cannot make points negative. */
static bool campaign_sane(const Coalition__V1__Campaign *c)
{
    return campaign_bps(c) >= BPS_ONE && c->bonus_points >= 0 && c->chance_bonus_points >= 0;
}

/* Amount-based plus visit-based points of rule (EarnRule's comment). */
static co_err base_points(const Coalition__V1__EarnRule *rule, const pts_earn_in *in, int64_t *out,
                          char *why, size_t whylen)
{
    int64_t amount_points = 0;
    int64_t visit_points = 0;
    if (rule == NULL) {
        *out = 0;
        return CO_OK;
    }
    const Coalition__V1__Rational *ppu = rule->points_per_unit;
    if (ppu != NULL && ppu->num != 0 && in->amount_micros >= rule->min_spend_micros) {
        if (ppu->num < 0 || ppu->den <= 0) {
            return fail(CO_ERR_INTERNAL, why, whylen,
                        "program.earn_rule.points_per_unit: must be a positive fraction");
        }
        /* floor(floor(a*num/den)/1e6) == floor(a*num/(den*1e6)) for positive divisors, and
         * keeps den*1e6 from overflowing. */
        int64_t scaled;
        if (!co_muldiv_floor64(in->amount_micros, ppu->num, ppu->den, &scaled)) {
            return fail(CO_ERR_INVALID_ARGUMENT, why, whylen, WHY_TOO_MUCH);
        }
        amount_points = scaled / MICROS_PER_UNIT;
    }
    if (rule->points_per_visit < 0) {
        return fail(CO_ERR_INTERNAL, why, whylen,
                    "program.earn_rule.points_per_visit: must not be negative");
    }
    if (!co_mul64(in->visits, rule->points_per_visit, &visit_points) ||
        !co_add64(amount_points, visit_points, out)) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen, WHY_TOO_MUCH);
    }
    return CO_OK;
}

/*
 * Splits floor(base * sum(excess) / 10000) into one share per source so that the shares add up
 * to exactly that: each source its own floor, the remainder to the last source with an excess.
 */
static bool multiplier_shares(int64_t base, const int64_t *excess, int64_t *share, size_t n)
{
    int64_t sum_excess = 0;
    int64_t sum_shares = 0;
    int64_t combined;
    size_t last = n;
    for (size_t i = 0; i < n; i++) {
        if (!co_add64(sum_excess, excess[i], &sum_excess) ||
            !co_bps_floor64(base, excess[i], &share[i]) ||
            !co_add64(sum_shares, share[i], &sum_shares)) {
            return false;
        }
        if (excess[i] > 0) {
            last = i;
        }
    }
    if (!co_bps_floor64(base, sum_excess, &combined)) {
        return false;
    }
    if (last < n) {
        /* 0 <= combined - sum_shares < n: each floor drops less than one point. */
        return co_add64(share[last], combined - sum_shares, &share[last]);
    }
    return true;
}

static bool push_bonus(pts_earn_out *o, pts_bonus_reason reason, int64_t points,
                       const char *sponsor, const char *campaign_id)
{
    if (points <= 0) {
        return true;
    }
    if (o->nbonuses == PTS_MAX_EARN_BONUSES) {
        return false;
    }
    o->bonuses[o->nbonuses++] = (pts_bonus){.reason = reason,
                                            .points = points,
                                            .sponsor_partner_id = sponsor,
                                            .campaign_id = campaign_id};
    return true;
}

static const Coalition__Internal__V1__CampaignSeed *find_seed(const pts_earn_in *in,
                                                              const char *campaign_id)
{
    for (size_t i = 0; i < in->nseeds; i++) {
        const Coalition__Internal__V1__CampaignSeed *s = in->seeds[i];
        if (s != NULL && strcmp(str_or_empty(s->campaign_id), campaign_id) == 0) {
            return s;
        }
    }
    return NULL;
}

/* The matching campaigns into m (at most PTS_MAX_EARN_BONUSES), in campaign_id order. */
static co_err match_campaigns(const pts_earn_in *in, const Coalition__V1__Campaign **m, size_t *nm,
                              char *why, size_t whylen)
{
    size_t n = 0;
    for (size_t i = 0; i < in->ncampaigns; i++) {
        const Coalition__V1__Campaign *c = in->campaigns[i];
        if (c == NULL || !campaign_matches(c, in)) {
            continue;
        }
        if (!campaign_sane(c)) {
            return fail(CO_ERR_INTERNAL, why, whylen,
                        "campaigns: a matching campaign has a negative bonus or multiplier");
        }
        if (n == PTS_MAX_EARN_BONUSES) {
            return fail(CO_ERR_INTERNAL, why, whylen,
                        "campaigns: more than 64 campaigns match one earn");
        }
        /* Insertion sort: stable, and n is small. */
        size_t j = n++;
        const char *id = str_or_empty(c->campaign_id);
        while (j > 0 && strcmp(str_or_empty(m[j - 1]->campaign_id), id) > 0) {
            m[j] = m[j - 1];
            j--;
        }
        m[j] = c;
    }
    *nm = n;
    return CO_OK;
}

/* Excess over 1x of a tier or membership multiplier, 0 meaning none; false if below 1x. */
static bool member_excess(int32_t bps, int64_t *excess)
{
    if (bps == 0) {
        *excess = 0;
        return true;
    }
    if (bps < BPS_ONE) {
        return false;
    }
    *excess = bps - BPS_ONE;
    return true;
}

co_err pts_earn_compute(const pts_earn_in *in, pts_earn_out *out, char *why, size_t whylen)
{
    pts_earn_out o;
    memset(&o, 0, sizeof o);
    const Coalition__V1__Program *p = in->program;
    const char *owner = str_or_empty(p->owner_partner_id);

    if (in->amount_micros < 0 || in->amount_micros > MAX_AMOUNT_MICROS) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen,
                    "amount: must be 0..1000000000000 micros");
    }
    if (in->visits < 0 || in->visits > MAX_VISITS) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen, "visits: must be 0..100");
    }
    if (in->iso_weekday < 1 || in->iso_weekday > 7) {
        return fail(CO_ERR_INTERNAL, why, whylen, "iso_weekday: must be 1..7");
    }
    int64_t excess[MAX_SOURCES];
    int64_t share[MAX_SOURCES];
    if (!member_excess(in->tier_multiplier_bps, &excess[0])) {
        return fail(CO_ERR_INTERNAL, why, whylen, "tier_multiplier_bps: must be 0 or >= 10000");
    }
    if (!member_excess(in->membership_multiplier_bps, &excess[1])) {
        return fail(CO_ERR_INTERNAL, why, whylen,
                    "membership_multiplier_bps: must be 0 or >= 10000");
    }
    if (p->welcome_bonus_points < 0) {
        return fail(CO_ERR_INTERNAL, why, whylen,
                    "program.welcome_bonus_points: must not be negative");
    }

    co_err rc = base_points(p->earn_rule, in, &o.base_points, why, whylen);
    if (rc != CO_OK) {
        return rc;
    }
    /* Bounds everything below: base and every multiplier are then far from overflowing. */
    if (o.base_points > PTS_MAX_EARN_POINTS) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen, WHY_TOO_MUCH);
    }

    const Coalition__V1__Campaign *m[PTS_MAX_EARN_BONUSES];
    size_t nm = 0;
    rc = match_campaigns(in, m, &nm, why, whylen);
    if (rc != CO_OK) {
        return rc;
    }
    for (size_t i = 0; i < nm; i++) {
        excess[2 + i] = campaign_bps(m[i]) - BPS_ONE;
        o.matched_campaigns[i] = str_or_empty(m[i]->campaign_id);
    }
    o.nmatched = nm;
    if (!multiplier_shares(o.base_points, excess, share, 2 + nm)) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen, WHY_TOO_MUCH);
    }

    bool room = push_bonus(&o, PTS_BONUS_TIER, share[0], owner, NULL) &&
                push_bonus(&o, PTS_BONUS_MEMBERSHIP, share[1], owner, NULL);
    for (size_t i = 0; room && i < nm; i++) {
        int64_t points;
        const char *sponsor = str_or_empty(m[i]->partner_id);
        if (!co_add64(share[2 + i], m[i]->bonus_points, &points)) {
            return fail(CO_ERR_INVALID_ARGUMENT, why, whylen, WHY_TOO_MUCH);
        }
        room = push_bonus(&o, PTS_BONUS_CAMPAIGN, points, sponsor[0] != '\0' ? sponsor : owner,
                          o.matched_campaigns[i]);
    }
    for (size_t i = 0; room && i < nm; i++) {
        const Coalition__V1__Campaign *c = m[i];
        const char *id = o.matched_campaigns[i];
        const Coalition__Internal__V1__CampaignSeed *seed =
            c->chance_one_in >= 2 ? find_seed(in, id) : NULL;
        if (seed == NULL || seed->seed.len == 0) {
            continue;
        }
        int64_t draw =
            pts_chance_draw(seed->seed.data, seed->seed.len, str_or_empty(in->issuer_partner_id),
                            str_or_empty(in->request_id), c->chance_one_in);
        if (draw < 0) {
            return fail(CO_ERR_INTERNAL, why, whylen, "campaigns: could not compute a chance draw");
        }
        pts_draw *d = &o.draws[o.ndraws++];
        *d = (pts_draw){.campaign_id = id,
                        .one_in = c->chance_one_in,
                        .draw = draw,
                        .won = draw == 0,
                        .bonus_points = draw == 0 ? c->chance_bonus_points : 0};
        const char *sponsor = str_or_empty(c->partner_id);
        room = push_bonus(&o, PTS_BONUS_CHANCE, d->bonus_points,
                          sponsor[0] != '\0' ? sponsor : owner, id);
    }
    if (room && in->first_earn && o.base_points > 0) {
        room = push_bonus(&o, PTS_BONUS_WELCOME, p->welcome_bonus_points, owner, NULL);
    }
    if (!room) {
        return fail(CO_ERR_INTERNAL, why, whylen, "campaigns: more than 64 bonuses in one earn");
    }

    o.total_points = o.base_points;
    for (size_t i = 0; i < o.nbonuses; i++) {
        if (!co_add64(o.total_points, o.bonuses[i].points, &o.total_points)) {
            return fail(CO_ERR_INVALID_ARGUMENT, why, whylen, WHY_TOO_MUCH);
        }
    }
    if (o.total_points > PTS_MAX_EARN_POINTS) {
        return fail(CO_ERR_INVALID_ARGUMENT, why, whylen, WHY_TOO_MUCH);
    }
    *out = o;
    return CO_OK;
}

int64_t pts_chance_draw(const uint8_t *seed, size_t seed_len, const char *partner_id,
                        const char *request_id, int32_t one_in)
{
    if (seed == NULL || seed_len == 0 || partner_id == NULL || request_id == NULL || one_in < 1) {
        return -1;
    }
    int64_t draw = -1;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    if (ctx == NULL) {
        goto out_mac;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    static const uint8_t newline = '\n';
    uint8_t h[DRAW_MAC_BYTES];
    size_t len = 0;
    if (EVP_MAC_init(ctx, seed, seed_len, params) != 1 ||
        EVP_MAC_update(ctx, (const uint8_t *)partner_id, strlen(partner_id)) != 1 ||
        EVP_MAC_update(ctx, &newline, 1) != 1 ||
        EVP_MAC_update(ctx, (const uint8_t *)request_id, strlen(request_id)) != 1 ||
        EVP_MAC_final(ctx, h, &len, sizeof h) != 1 || len != sizeof h) {
        goto out_ctx;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++) {
        v = (v << 8) | h[i];
    }
    draw = (int64_t)(v % (uint64_t)one_in);
out_ctx:
    EVP_MAC_CTX_free(ctx);
out_mac:
    EVP_MAC_free(mac);
    return draw;
}
