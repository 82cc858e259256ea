-- Fewer indexes for the daily load to maintain (docs/benchmarks.md, "The daily warehouse load"):
-- every index on fact_events costs each inserted fact a random insert into a B-tree.
--
-- The natural keys stay unique without their own indexes: event_key is key64(idempotency_key) and
-- session_key is key64(session_id), and those are the primary keys, so a natural key loaded twice
-- is refused by the primary key (a hash collision between two different natural keys would be
-- refused too, loudly, at 2^-64 odds). The loader looks rows up by their hashed key.
ALTER TABLE fact_events DROP CONSTRAINT uq_fact_events_idempotency;
ALTER TABLE fact_sessions DROP CONSTRAINT uq_fact_sessions_session;

-- No foreign keys from the facts to dim_user: checked at commit, row by row, they cost a sixth of a
-- day's load (1M facts: ~50 s of 330 s). Every user_key the loader writes comes from a join with
-- dim_user; the keys of versions a load removes are checked set-based before it commits
-- (warehouse-load.ts, noDanglingKeys), and the data-quality check fact_user_version_valid fails on
-- a fact whose key is missing or not valid at its time.
ALTER TABLE fact_events DROP CONSTRAINT fact_events_user_key_fkey;
ALTER TABLE fact_sessions DROP CONSTRAINT fact_sessions_user_key_fkey;

-- Sessions are looked up from fact_events only for their revenue (the purchases in them): a partial
-- index of the purchases, a few percent of the facts, instead of one of every fact.
DROP INDEX idx_fact_events_session;
CREATE INDEX idx_fact_events_session_purchases ON fact_events (session_id)
  INCLUDE (purchase_amount_usd) WHERE event_type = 'purchase';

-- The tiny dimensions the load joins get statistics now, not whenever autovacuum comes by (an
-- unanalyzed dim_currency made the planner sort a whole day of staged events to disk).
ANALYZE dim_currency;
ANALYZE dim_device;
ANALYZE dim_time;
