-- SPDX-License-Identifier: Apache-2.0
-- Birthday bonuses: the last year (in the program's time zone) a member's birthday bonus was
-- credited in the program, updated in the transaction of that credit, so it is paid once a year.
ALTER TABLE points.members ADD COLUMN birthday_year smallint NOT NULL DEFAULT 0;
