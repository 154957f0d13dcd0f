-- SPDX-License-Identifier: Apache-2.0
-- The month and day of a member's birth (month * 100 + day), without the year, in clear, so
-- that the points service can ask who has a birthday today (Members.ListBirthdays) without the
-- accounts service opening every sealed birth date. NULL without a birth date or once erased.
-- Members enrolled before this migration get it at their next update of the birth date.
ALTER TABLE accounts.members ADD COLUMN birth_md smallint CHECK (birth_md BETWEEN 101 AND 1231);
ALTER TABLE accounts.members ADD CHECK (status = 1 OR birth_md IS NULL);
CREATE INDEX members_birth_md ON accounts.members (birth_md, member_id)
 WHERE birth_md IS NOT NULL AND status = 1;
