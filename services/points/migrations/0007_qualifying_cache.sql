-- SPDX-License-Identifier: Apache-2.0
-- Each member's qualifying points and spend, kept with the member so that an earn does not sum
-- the member's history again. q_points and q_spend are what PTS_QUALIFYING_SQL gives for the
-- window starting at q_from: every EARN transfer of the member created at or after q_from, less
-- what was reversed of it. q_oldest is the creation time of the oldest of those earns (NULL:
-- none). The figures answer for any later window start w as long as q_from <= w and no counted
-- earn is older than w (q_oldest >= w); otherwise the batch sums the ledger again and stores the
-- result. NULL q_from: never computed. `coalition-points verify` checks them against the ledger.
ALTER TABLE points.members
    ADD COLUMN q_points bigint NOT NULL DEFAULT 0,
    ADD COLUMN q_spend bigint NOT NULL DEFAULT 0,
    ADD COLUMN q_from timestamptz,
    ADD COLUMN q_oldest timestamptz,
    ADD CONSTRAINT members_q_check CHECK (q_oldest IS NULL OR q_oldest >= q_from);
