-- SPDX-License-Identifier: Apache-2.0
-- Program configuration: programs, tiers, participations, campaigns, exchange agreements,
-- commission policies, rewards and membership plans. The CHECKs mirror service.c's validation.

CREATE TABLE partners.programs (
    code                   text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9-]{0,62}$'),
    name                   text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    owner_partner_id       text NOT NULL REFERENCES partners.partners (partner_id),
    currency               text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    point_value_micros     bigint NOT NULL CHECK (point_value_micros BETWEEN 1 AND 1000000000),
    issue_price_micros     bigint NOT NULL CHECK (issue_price_micros BETWEEN 0 AND 1000000000),
    expiry_months          integer NOT NULL CHECK (expiry_months BETWEEN 0 AND 120),
    earn_num               bigint NOT NULL CHECK (earn_num BETWEEN 0 AND 1000000),
    earn_den               bigint NOT NULL CHECK (earn_den BETWEEN 1 AND 1000000),
    earn_min_spend_micros  bigint NOT NULL CHECK (earn_min_spend_micros BETWEEN 0 AND 1000000000000),
    points_per_visit       bigint NOT NULL CHECK (points_per_visit BETWEEN 0 AND 1000000),
    -- coalition.v1.TierBasis: 0 none, 1 qualifying points, 2 spend
    tier_basis             smallint NOT NULL CHECK (tier_basis IN (0, 1, 2)),
    qualifying_window_days integer NOT NULL CHECK (qualifying_window_days BETWEEN 1 AND 3650),
    welcome_bonus_points   bigint NOT NULL CHECK (welcome_bonus_points BETWEEN 0 AND 1000000000),
    birthday_bonus_points  bigint NOT NULL CHECK (birthday_bonus_points BETWEEN 0 AND 1000000000),
    -- coalition.v1.IssuingMode: 1 prepaid, 2 postpaid
    issuing_mode           smallint NOT NULL CHECK (issuing_mode IN (1, 2)),
    time_zone              text NOT NULL CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    -- Grows by one with every transaction that changes the program or anything hanging off
    -- it; version_txid is the transaction that last bumped it, so that one transaction bumps
    -- it once however many rows it touches.
    version                bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    version_txid           bigint NOT NULL DEFAULT txid_current(),
    create_time            timestamptz NOT NULL DEFAULT now(),
    update_time            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX programs_owner ON partners.programs (owner_partner_id, code);

-- Bumps the version of program code once per transaction.
CREATE FUNCTION partners.bump_program_version(program text) RETURNS void
LANGUAGE sql AS $$
    UPDATE partners.programs
       SET version = version + 1, version_txid = txid_current()
     WHERE code = program AND version_txid <> txid_current();
$$;

-- Row trigger of every table hanging off a program (column program_code).
CREATE FUNCTION partners.bump_on_child() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM partners.bump_program_version(OLD.program_code);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM partners.bump_program_version(NEW.program_code);
    END IF;
    RETURN NULL;
END;
$$;

-- Row trigger of exchange agreements: both programs see the change.
CREATE FUNCTION partners.bump_on_agreement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM partners.bump_program_version(OLD.from_program_code);
        PERFORM partners.bump_program_version(OLD.to_program_code);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM partners.bump_program_version(NEW.from_program_code);
        PERFORM partners.bump_program_version(NEW.to_program_code);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TABLE partners.tiers (
    program_code          text NOT NULL REFERENCES partners.programs (code),
    position              smallint NOT NULL CHECK (position BETWEEN 0 AND 9),
    code                  text NOT NULL CHECK (code ~ '^[a-z0-9-]{1,32}$'),
    name                  text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    min_qualifying_points bigint NOT NULL CHECK (min_qualifying_points >= 0),
    min_spend_micros      bigint NOT NULL CHECK (min_spend_micros >= 0),
    earn_multiplier_bps   integer NOT NULL CHECK (earn_multiplier_bps BETWEEN 10000 AND 100000),
    perks                 text NOT NULL CHECK (char_length(perks) <= 1000),
    PRIMARY KEY (program_code, position),
    UNIQUE (program_code, code)
);

CREATE TABLE partners.participations (
    program_code text NOT NULL REFERENCES partners.programs (code),
    partner_id   text NOT NULL REFERENCES partners.partners (partner_id),
    can_issue    boolean NOT NULL,
    can_redeem   boolean NOT NULL,
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_code, partner_id),
    -- A participation with neither right is deleted instead.
    CHECK (can_issue OR can_redeem)
);
CREATE INDEX participations_partner ON partners.participations (partner_id, program_code);

CREATE SEQUENCE partners.config_ids;

CREATE TABLE partners.campaigns (
    campaign_id         text PRIMARY KEY,
    program_code        text NOT NULL REFERENCES partners.programs (code),
    name                text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    -- NULL: earns at any partner match and the owner sponsors.
    partner_id          text REFERENCES partners.partners (partner_id),
    start_time          timestamptz NOT NULL,
    end_time            timestamptz NOT NULL,
    days_of_week_mask   integer NOT NULL CHECK (days_of_week_mask BETWEEN 0 AND 127),
    category            text NOT NULL CHECK (char_length(category) <= 100),
    min_spend_micros    bigint NOT NULL CHECK (min_spend_micros BETWEEN 0 AND 1000000000000),
    multiplier_bps      integer NOT NULL CHECK (multiplier_bps BETWEEN 10000 AND 100000),
    bonus_points        bigint NOT NULL CHECK (bonus_points BETWEEN 0 AND 1000000000),
    chance_one_in       integer NOT NULL
                        CHECK (chance_one_in = 0 OR chance_one_in BETWEEN 2 AND 1000000),
    chance_bonus_points bigint NOT NULL CHECK (chance_bonus_points BETWEEN 0 AND 1000000000),
    -- The secret draw seed; only its SHA-256 is public.
    chance_seed         bytea NOT NULL CHECK (octet_length(chance_seed) = 32),
    chance_seed_sha256  text NOT NULL,
    create_time         timestamptz NOT NULL DEFAULT now(),
    CHECK (end_time > start_time AND end_time - start_time <= interval '366 days'),
    CHECK ((chance_one_in = 0) = (chance_bonus_points = 0))
);
CREATE INDEX campaigns_program ON partners.campaigns (program_code, start_time, campaign_id);

CREATE TABLE partners.exchange_agreements (
    from_program_code text NOT NULL REFERENCES partners.programs (code),
    to_program_code   text NOT NULL REFERENCES partners.programs (code),
    rate_num          bigint NOT NULL CHECK (rate_num BETWEEN 1 AND 1000000),
    rate_den          bigint NOT NULL CHECK (rate_den BETWEEN 1 AND 1000000),
    fee_bps           integer NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
    min_points        bigint NOT NULL CHECK (min_points BETWEEN 1 AND 1000000000),
    max_points        bigint NOT NULL
                      CHECK (max_points = 0 OR max_points BETWEEN min_points AND 1000000000),
    daily_cap_points  bigint NOT NULL CHECK (daily_cap_points BETWEEN 0 AND 1000000000),
    enabled           boolean NOT NULL,
    update_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (from_program_code, to_program_code),
    CHECK (from_program_code <> to_program_code)
);
CREATE INDEX exchange_agreements_to ON partners.exchange_agreements (to_program_code);

-- partner_id '' is the coalition-wide default, always present.
CREATE TABLE partners.commission_policies (
    partner_id                 text PRIMARY KEY
                               CHECK (partner_id = '' OR partner_id ~ '^[a-z][a-z0-9-]{0,62}$'),
    operator_fee_bps           integer NOT NULL CHECK (operator_fee_bps BETWEEN 0 AND 10000),
    referral_commission_bps    integer NOT NULL CHECK (referral_commission_bps BETWEEN 0 AND 10000),
    referral_commission_months integer NOT NULL CHECK (referral_commission_months BETWEEN 0 AND 120),
    update_time                timestamptz NOT NULL DEFAULT now()
);
INSERT INTO partners.commission_policies (partner_id, operator_fee_bps, referral_commission_bps,
                                          referral_commission_months)
VALUES ('', 0, 0, 0);

CREATE TABLE partners.rewards (
    reward_id          text PRIMARY KEY,
    program_code       text NOT NULL REFERENCES partners.programs (code),
    -- coalition.v1.RewardKind: 1 catalog, 2 coupon, 3 donation
    kind               smallint NOT NULL CHECK (kind IN (1, 2, 3)),
    name               text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description        text NOT NULL CHECK (char_length(description) <= 2000),
    points_cost        bigint NOT NULL CHECK (points_cost BETWEEN 1 AND 1000000000),
    partner_id         text NOT NULL REFERENCES partners.partners (partner_id),
    charity_partner_id text REFERENCES partners.partners (partner_id),
    stock_limited      boolean NOT NULL,
    stock              bigint NOT NULL CHECK (stock BETWEEN 0 AND 1000000000),
    coupon_valid_days  integer NOT NULL CHECK (coupon_valid_days BETWEEN 0 AND 3650),
    create_time        timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 3) = (charity_partner_id IS NOT NULL)),
    CHECK ((kind = 2) = (coupon_valid_days > 0)),
    CHECK (stock_limited OR stock = 0)
);
CREATE INDEX rewards_program ON partners.rewards (program_code, reward_id);

CREATE TABLE partners.membership_plans (
    plan_id                text PRIMARY KEY,
    program_code           text NOT NULL REFERENCES partners.programs (code),
    name                   text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    fee_micros             bigint NOT NULL CHECK (fee_micros BETWEEN 0 AND 1000000000000),
    currency               text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    period_months          integer NOT NULL CHECK (period_months BETWEEN 1 AND 36),
    earn_multiplier_bps    integer NOT NULL CHECK (earn_multiplier_bps BETWEEN 10000 AND 100000),
    perks                  text NOT NULL CHECK (char_length(perks) <= 2000),
    reduced_fee_min_points bigint NOT NULL CHECK (reduced_fee_min_points BETWEEN 0 AND 1000000000),
    reduced_fee_micros     bigint NOT NULL CHECK (reduced_fee_micros >= 0),
    create_time            timestamptz NOT NULL DEFAULT now(),
    CHECK (reduced_fee_min_points = 0 OR reduced_fee_micros < fee_micros),
    CHECK (reduced_fee_min_points <> 0 OR reduced_fee_micros = 0)
);
CREATE INDEX membership_plans_program ON partners.membership_plans (program_code, plan_id);

CREATE TRIGGER tiers_bump AFTER INSERT OR UPDATE OR DELETE ON partners.tiers
    FOR EACH ROW EXECUTE FUNCTION partners.bump_on_child();
CREATE TRIGGER participations_bump AFTER INSERT OR UPDATE OR DELETE ON partners.participations
    FOR EACH ROW EXECUTE FUNCTION partners.bump_on_child();
CREATE TRIGGER campaigns_bump AFTER INSERT OR UPDATE OR DELETE ON partners.campaigns
    FOR EACH ROW EXECUTE FUNCTION partners.bump_on_child();
CREATE TRIGGER rewards_bump AFTER INSERT OR UPDATE OR DELETE ON partners.rewards
    FOR EACH ROW EXECUTE FUNCTION partners.bump_on_child();
CREATE TRIGGER membership_plans_bump AFTER INSERT OR UPDATE OR DELETE ON partners.membership_plans
    FOR EACH ROW EXECUTE FUNCTION partners.bump_on_child();
CREATE TRIGGER exchange_agreements_bump
    AFTER INSERT OR UPDATE OR DELETE ON partners.exchange_agreements
    FOR EACH ROW EXECUTE FUNCTION partners.bump_on_agreement();
