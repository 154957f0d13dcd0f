-- SPDX-License-Identifier: Apache-2.0
-- A member's whole record for Ledger.ExportMember (GDPR access): every lot of the member's
-- accounts, spent ones included (lots_open holds only those with points left), and every hold
-- of the member, without reading the whole table. Transfers and coupons already have an index
-- by member; tier changes are few per program.
CREATE INDEX lots_account ON points.lots (account_id);
CREATE INDEX holds_member ON points.holds (member_id);
