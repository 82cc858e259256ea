-- fact_sessions is partitioned by day too, as fact_events is (migration 005, which says why): one
-- partition per UTC date of session_start, fact_sessions_YYYYMMDD, made by the loader the first
-- time a date brings sessions (filled without indexes, then attached). The primary key holds the
-- partition key: (session_key, session_start); session_key is key64(session_id), the loader stages
-- only sessions whose key no date holds, and the marts' test on session_key checks it after every
-- build. A warehouse loaded before keeps its sessions: they move in, one partition per date.

ALTER TABLE fact_sessions RENAME TO fact_sessions_unpartitioned;
ALTER INDEX fact_sessions_pkey RENAME TO fact_sessions_unpartitioned_pkey;
ALTER INDEX idx_fact_sessions_date RENAME TO idx_fact_sessions_unpartitioned_date;
ALTER INDEX idx_fact_sessions_user RENAME TO idx_fact_sessions_unpartitioned_user;

CREATE TABLE fact_sessions (
  session_key        bigint           NOT NULL,        -- key64(session_id)
  session_id         varchar(64)      NOT NULL,
  user_id            varchar(100)     NOT NULL,
  user_key           bigint           NOT NULL,        -- dim_user: the version valid at session_start
  time_key           integer,                          -- dim_time: the hour the session started
  device_key         integer          NOT NULL,        -- dim_device: the first event's
  session_start      timestamp        NOT NULL,
  session_end        timestamp        NOT NULL,
  session_date       date             NOT NULL GENERATED ALWAYS AS (session_start::date) STORED,
  duration_seconds   double precision NOT NULL,
  event_count        integer          NOT NULL,
  page_views         integer          NOT NULL,
  purchases          integer          NOT NULL,
  payment_failures   integer          NOT NULL,
  signups            integer          NOT NULL,
  revenue_usd        numeric(14,2)    NOT NULL DEFAULT 0,
  event_types        text             NOT NULL,
  first_event_id     varchar(100)     NOT NULL,
  CONSTRAINT fact_sessions_pkey PRIMARY KEY (session_key, session_start)
) PARTITION BY RANGE (session_start);

CREATE INDEX idx_fact_sessions_date ON fact_sessions (session_date, user_id);
CREATE INDEX idx_fact_sessions_user ON fact_sessions (user_id, session_start);

-- A partition per date the old sessions start on (the loader makes its own: warehouse-load.ts).
DO $$
DECLARE
  day date;
BEGIN
  FOR day IN SELECT DISTINCT session_start::date FROM warehouse.fact_sessions_unpartitioned LOOP
    EXECUTE format('CREATE TABLE warehouse.%I PARTITION OF warehouse.fact_sessions FOR VALUES FROM (%L) TO (%L)',
                   'fact_sessions_' || to_char(day, 'YYYYMMDD'), day::timestamp, (day + 1)::timestamp);
  END LOOP;
END $$;

INSERT INTO fact_sessions (session_key, session_id, user_id, user_key, time_key, device_key, session_start,
  session_end, duration_seconds, event_count, page_views, purchases, payment_failures, signups, revenue_usd,
  event_types, first_event_id)
SELECT session_key, session_id, user_id, user_key, time_key, device_key, session_start,
  session_end, duration_seconds, event_count, page_views, purchases, payment_failures, signups, revenue_usd,
  event_types, first_event_id
FROM fact_sessions_unpartitioned;

DROP TABLE fact_sessions_unpartitioned;
