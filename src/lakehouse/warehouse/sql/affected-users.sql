-- The staging tables hold only rows the warehouse does not have yet: their users are the ones whose
-- history this load recomputes.
-- (The day's events' users first, by an aggregate Postgres can run on several cores.)
CREATE TEMP TABLE stg_users ON COMMIT DROP AS
  SELECT user_id FROM (SELECT DISTINCT user_id FROM stg_events) e UNION SELECT user_id FROM stg_sessions;
ALTER TABLE stg_users ADD PRIMARY KEY (user_id);
ANALYZE stg_sessions;
ANALYZE stg_users;
