-- SPDX-License-Identifier: Apache-2.0
-- Hot rows: every batch updates its programs' chain heads and issuance accounts. Free space on
-- their pages lets PostgreSQL keep each new version on the same page (a HOT update, no index
-- entry) and prune the old ones as it goes; autovacuum visits them often.
ALTER TABLE points.chains SET (fillfactor = 20, autovacuum_vacuum_scale_factor = 0.0,
                               autovacuum_vacuum_threshold = 1000);
ALTER TABLE points.accounts SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01);
ALTER TABLE points.members SET (fillfactor = 70);
-- ListTransactions orders by (program, seq), which the unique index already serves; a time
-- filter is applied along it. One index less to maintain per transfer.
DROP INDEX points.transfers_time;
