-- Fewer indexes for the daily load to maintain (docs/benchmarks.md, "The daily warehouse load"):
-- every index on fact_events costs each inserted fact a random insert into a B-tree.
--
-- The natural keys stay unique without their own indexes: event_key is key64(idempotency_key) and
-- session_key is key64(session_id), and those are the primary keys, so a natural key loaded twice
-- is refused by the primary key (a hash collision between two different natural keys would be
-- refused too, loudly, at 2^-64 odds). The loader looks rows up by their hashed key.
ALTER TABLE fact_events DROP CONSTRAINT uq_fact_events_idempotency;
ALTER TABLE fact_sessions DROP CONSTRAINT uq_fact_sessions_session;

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
