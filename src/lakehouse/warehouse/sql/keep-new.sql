-- Rows the warehouse already holds are done (a fact never changes once loaded): keep the new ones,
-- and list their users, whose histories this load recomputes.
DELETE FROM stg_events s USING warehouse.fact_events f WHERE f.idempotency_key = s.idempotency_key;
DELETE FROM stg_sessions s USING warehouse.fact_sessions f WHERE f.session_id = s.session_id;
CREATE TEMP TABLE stg_users ON COMMIT DROP AS
  SELECT user_id FROM stg_events UNION SELECT user_id FROM stg_sessions;
ALTER TABLE stg_users ADD PRIMARY KEY (user_id);
ANALYZE stg_events;
ANALYZE stg_sessions;
ANALYZE stg_users;
