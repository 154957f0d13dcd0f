/* SPDX-License-Identifier: Apache-2.0 */
/* The earn calculation: what one purchase credits, as an EARN transfer and its BONUS parts. */
#ifndef PTS_EARN_H
#define PTS_EARN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coalition/v1/partners.pb-c.h"
#include "coalition/internal/v1/directory.pb-c.h"
#include "err.h"

/*
 * Pure and thread-safe: no I/O, no global state, no allocation but OpenSSL's inside a draw.
 * The contract is the comments of Program, EarnRule, Tier, Campaign, EarnRequest, EarnResponse,
 * ChanceDraw and CampaignSeed in proto/. Decisions they leave open:
 *
 * - Multiplier shares. The sources above 1x (tier, membership plan, each matching campaign)
 *   together give extra = floor(base * sum(bps - 10000) / 10000). Each source gets
 *   floor(base * (bps - 10000) / 10000) and the rounding remainder (extra minus the sum of those
 *   shares, less than the number of sources) goes to the last source above 1x in posting order,
 *   so the BONUS transfers add up to exactly the combined floor. That source is listed even when
 *   only the remainder makes its share positive.
 * - Base 0. A campaign matches by time, weekday, category, partner and min_spend_micros only,
 *   never by the base: a purchase that earns no base points (below the earn rule's minimum, or
 *   a program without amount-based points) still gets a matching campaign's flat bonus and
 *   chance draw; its multiplier shares are 0. The welcome bonus needs base_points > 0.
 * - Chance. Drawn for each matching campaign with chance_one_in >= 2 (0 and the invalid 1 or
 *   negative mean no chance reward), keyed by its seed found by campaign_id in seeds. A
 *   campaign without a seed, or with an empty one, draws nothing and is absent from draws: the
 *   snapshot holds a seed for every campaign with a chance reward, so a missing one is a
 *   stale or broken snapshot, and the earn itself goes on rather than failing the purchase.
 * - Order. Campaigns are taken in campaign_id order by strcmp: byte order, which is the
 *   order of the database (C collation) and, with ids of the form "cmp-" and 12 zero-padded
 *   digits, their numeric order. Equal ids keep their order in campaigns.
 */

/* Fits every part of an earn with up to 30 matching campaigns that all win their draw. */
#define PTS_MAX_EARN_BONUSES 64

/* The most a single Earn may credit, base and bonuses together. */
#define PTS_MAX_EARN_POINTS INT64_C(1000000000)

/* Why a BONUS transfer is posted. */
typedef enum pts_bonus_reason {
    PTS_BONUS_TIER = 1,
    PTS_BONUS_MEMBERSHIP,
    PTS_BONUS_CAMPAIGN, /* multiplier share + flat bonus of one campaign */
    PTS_BONUS_CHANCE,
    PTS_BONUS_WELCOME
} pts_bonus_reason;

/* One BONUS transfer; its strings point into the input's program and campaigns. */
typedef struct pts_bonus {
    pts_bonus_reason reason;
    int64_t points; /* > 0 */
    /* Who issues (pays for) it: campaign.partner_id if set, else the program owner. */
    const char *sponsor_partner_id;
    const char *campaign_id; /* for CAMPAIGN and CHANCE, else NULL */
} pts_bonus;

/* One chance draw, as ChanceDraw records it; campaign_id points into the input's campaigns. */
typedef struct pts_draw {
    const char *campaign_id;
    int32_t one_in;
    int64_t draw; /* 0..one_in-1 */
    bool won;     /* draw == 0 */
    int64_t bonus_points;
} pts_draw;

/* What an earn is computed from, owned by the caller; nothing is kept. NULL strings read "". */
typedef struct pts_earn_in {
    const Coalition__V1__Program *program; /* with earn_rule and tiers; not NULL */
    Coalition__V1__Campaign *const *campaigns;
    size_t ncampaigns; /* as in the snapshot, any order; NULL entries are skipped */
    Coalition__Internal__V1__CampaignSeed *const *seeds;
    size_t nseeds;
    const char *issuer_partner_id; /* the earning partner (caller) */
    const char *request_id;        /* with issuer_partner_id, keys the chance draw */
    int64_t amount_micros;         /* 0..1e12, already validated currency */
    int32_t visits;                /* 0..100 */
    const char *category;          /* "" = none */
    int64_t purchase_time_us;      /* unix microseconds */
    /* 1=Monday..7=Sunday of purchase_time in the program's time zone (computed by the caller). */
    int iso_weekday;
    /* The member's current tier multiplier; 0 = no tier (treated as 10000). */
    int32_t tier_multiplier_bps;
    int32_t membership_multiplier_bps; /* active membership plan multiplier; 0 = none */
    bool first_earn;                   /* member's first earn in the program -> welcome bonus */
} pts_earn_in;

/* What an earn credits. Strings point into the input's program and campaigns. */
typedef struct pts_earn_out {
    int64_t base_points; /* the EARN transfer (may be 0) */
    /* Posting order: tier, membership, campaigns in campaign_id order (multiplier share + flat
     * bonus as one CAMPAIGN bonus per campaign), chance wins in campaign_id order, welcome. */
    pts_bonus bonuses[PTS_MAX_EARN_BONUSES];
    size_t nbonuses;
    const char *matched_campaigns[PTS_MAX_EARN_BONUSES]; /* campaign_id order */
    size_t nmatched;
    /* Every chance draw made, won or not, in campaign_id order. */
    pts_draw draws[PTS_MAX_EARN_BONUSES];
    size_t ndraws;
    int64_t total_points; /* base + all bonuses, 0..PTS_MAX_EARN_POINTS */
} pts_earn_out;

/*
 * Computes the earn of one purchase into *out, written only on success.
 * CO_OK; CO_ERR_INVALID_ARGUMENT when the total would exceed PTS_MAX_EARN_POINTS or
 * arithmetic would overflow ("amount: ..."), or amount_micros or visits is out of range;
 * CO_ERR_INTERNAL when the configuration or the caller breaks the contract (a value that
 * would make points negative or divide by zero, iso_weekday outside 1..7, more matching
 * campaigns or bonuses than out holds) or a chance draw could not be computed.
 * On failure, why (if not NULL and whylen > 0) gets "field: problem", safe to show a partner
 * for INVALID_ARGUMENT. Thread-safe.
 */
co_err pts_earn_compute(const pts_earn_in *in, pts_earn_out *out, char *why, size_t whylen);

/*
 * The chance draw: HMAC-SHA256 keyed with the campaign seed over partner_id "\n" request_id;
 * the first 8 bytes of the MAC, big-endian, as an unsigned 64-bit number, modulo one_in
 * (the modulo bias is below 2^-44 for one_in <= 1000000). Exported so tests and auditors can
 * recompute it. Returns 0..one_in-1, or -1 when an argument is NULL, seed_len is 0, one_in is
 * below 1 or OpenSSL fails. Thread-safe.
 */
int64_t pts_chance_draw(const uint8_t *seed, size_t seed_len, const char *partner_id,
                        const char *request_id, int32_t one_in);

#endif
