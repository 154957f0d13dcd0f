-- SPDX-License-Identifier: Apache-2.0
-- Tier history and the anniversary review.
--
-- Every change of a member's tier in a program, upgrades (at once, by an earn) and downgrades
-- (at most one tier, at the anniversary of the last change): GetProgramStats counts them.
CREATE TABLE points.tier_changes (
    id          bigserial PRIMARY KEY,
    program     text NOT NULL,
    member_id   text NOT NULL,
    change_time timestamptz NOT NULL,
    from_tier   text NOT NULL,
    to_tier     text NOT NULL,
    upgrade     boolean NOT NULL
);
CREATE INDEX tier_changes_time ON points.tier_changes (program, change_time);

-- When the member's tier is next reviewed for a downgrade: the anniversary of tier_since, moved
-- on by a year each time the member keeps the tier. NULL: nothing to review (no tier yet).
ALTER TABLE points.members ADD COLUMN tier_review_time timestamptz;
UPDATE points.members SET tier_review_time = tier_since + interval '1 year'
 WHERE tier_since IS NOT NULL;
CREATE INDEX members_tier_review ON points.members (tier_review_time)
 WHERE tier_review_time IS NOT NULL;
