-- Records the processor isolated because a commit holding them failed on their data (a poison pill
-- the edge did not catch): [{"offset": n, "detail": "..."}]. A replay dead-letters them again at the
-- same offsets (reason `unstorable`) instead of counting them, so restarts agree with the first run.
ALTER TABLE processor_partitions ADD COLUMN quarantined jsonb NOT NULL DEFAULT '[]';
