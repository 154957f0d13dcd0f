-- SPDX-License-Identifier: Apache-2.0
-- Rewards redeemed in the ledger: units taken per reward (stock is the partners' configuration
-- minus these), and single-use coupons.
CREATE TABLE points.reward_usage (
    reward_id text PRIMARY KEY,
    redeemed  bigint NOT NULL DEFAULT 0 CHECK (redeemed >= 0)
);

CREATE TABLE points.coupons (
    code                   text PRIMARY KEY CHECK (code ~ '^[0-9A-HJKMNP-TV-Z]{12}$'),
    reward_id              text NOT NULL,
    program                text NOT NULL,
    member_id              text NOT NULL,
    -- The reward's fulfilling partner: the one that may use it (besides the admin).
    partner_id             text NOT NULL,
    -- coalition.v1.CouponStatus: 1 ISSUED, 2 USED (EXPIRED is ISSUED past expire_time)
    status                 smallint NOT NULL CHECK (status IN (1, 2)),
    issue_time             timestamptz NOT NULL,
    expire_time            timestamptz NOT NULL,
    use_time               timestamptz,
    used_by_partner_id     text,
    redeem_transfer_id     bigint NOT NULL REFERENCES points.transfers (id),
    CHECK ((status = 2) = (use_time IS NOT NULL))
);
CREATE INDEX coupons_member ON points.coupons (program, member_id);
