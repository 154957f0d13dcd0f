-- SPDX-License-Identifier: Apache-2.0
-- A check a statement makes of itself, for statements whose result nobody reads before COMMIT
-- (the batch's write goes out in one round trip with its COMMIT): raises, which rolls the
-- transaction back, when a data-modifying step touched another number of rows than planned.
CREATE FUNCTION points.expect_count(got bigint, want bigint, what text) RETURNS bigint
    LANGUAGE plpgsql AS $$
BEGIN
    IF got IS DISTINCT FROM want THEN
        RAISE EXCEPTION '%: % rows changed, % expected', what, got, want;
    END IF;
    RETURN got;
END
$$;
