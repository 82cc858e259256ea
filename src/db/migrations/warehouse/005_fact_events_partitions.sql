-- fact_events becomes a table partitioned by day: one partition per UTC date of event_timestamp,
-- named fact_events_YYYYMMDD, created by the loader the first time a date brings facts.
--
-- Why: every index on a table costs each inserted row a random insert into a B-tree. A day's load
-- of ~1M facts spent 24 s inserting into the indexed table; into a fresh table without indexes,
-- then building the same five indexes in bulk, 10 s (docs/benchmarks.md, "The partition route").
-- A partitioned table lets the loader do that: it fills a new table for the date, then attaches it,
-- which builds the partition's indexes in one sort each and checks nothing row by row (a CHECK
-- constraint of the date's range proves the rows belong).
--
-- The primary key of a partitioned table must contain the partition key, so it is
-- (event_key, event_timestamp). event_key is key64(idempotency_key): the loader, which alone
-- writes facts and holds a lock while it does, drops every staged event whose event_key the
-- warehouse already holds, whatever its date (stage-events.sql), so a natural key is loaded once;
-- the marts' test fact_events_unique_event_key checks it after every build.
--
-- A warehouse loaded before this migration keeps its facts: they move into the new table, one
-- partition per date they fall on (a one-off copy inside this migration's transaction).

ALTER TABLE fact_events RENAME TO fact_events_unpartitioned;
ALTER INDEX fact_events_pkey RENAME TO fact_events_unpartitioned_pkey;
ALTER INDEX idx_fact_events_date RENAME TO idx_fact_events_unpartitioned_date;
ALTER INDEX idx_fact_events_user RENAME TO idx_fact_events_unpartitioned_user;
ALTER INDEX idx_fact_events_purchases RENAME TO idx_fact_events_unpartitioned_purchases;
ALTER INDEX idx_fact_events_session_purchases RENAME TO idx_fact_events_unpartitioned_session_purchases;

CREATE TABLE fact_events (
  event_key            bigint        NOT NULL,         -- key64(idempotency_key)
  event_id             varchar(100)  NOT NULL,
  idempotency_key      varchar(100)  NOT NULL,
  user_id              varchar(100)  NOT NULL,
  user_key             bigint        NOT NULL,         -- dim_user: the version valid at event_timestamp
  time_key             integer,                        -- dim_time; null outside 2020–2030
  device_key           integer       NOT NULL,         -- dim_device
  event_type           varchar(50)   NOT NULL,
  schema_version       varchar(20),
  session_id           varchar(64),
  ip_address           varchar(45),
  event_timestamp      timestamp     NOT NULL,
  event_date           date          NOT NULL GENERATED ALWAYS AS (event_timestamp::date) STORED,
  page_view_count      integer       NOT NULL DEFAULT 0,
  purchase_amount      numeric(12,2) NOT NULL DEFAULT 0,
  currency             char(3),
  purchase_amount_usd  numeric(14,2) NOT NULL DEFAULT 0,
  purchase_quantity    integer       NOT NULL DEFAULT 0,
  is_conversion        boolean       NOT NULL DEFAULT false,
  is_error             boolean       NOT NULL DEFAULT false,
  payload_json         jsonb         NOT NULL,
  CONSTRAINT fact_events_pkey PRIMARY KEY (event_key, event_timestamp)
) PARTITION BY RANGE (event_timestamp);

-- The indexes of migration 004, now one per partition (attaching a partition builds its own).
CREATE INDEX idx_fact_events_date ON fact_events (event_date, user_id) INCLUDE (event_type);
CREATE INDEX idx_fact_events_user ON fact_events (user_id, event_timestamp);
CREATE INDEX idx_fact_events_purchases ON fact_events (user_id, event_timestamp)
  INCLUDE (purchase_amount, currency, purchase_amount_usd, purchase_quantity, user_key)
  WHERE event_type = 'purchase';
-- A session's purchases are looked up by session_id within the session's time span: the span
-- prunes the partitions to the session's day(s), and the index holds all the lookup reads.
CREATE INDEX idx_fact_events_session_purchases ON fact_events (session_id)
  INCLUDE (event_timestamp, purchase_amount_usd) WHERE event_type = 'purchase';

-- A partition per date the old facts fall on (the loader makes its own: warehouse-load.ts).
DO $$
DECLARE
  day date;
BEGIN
  FOR day IN SELECT DISTINCT event_timestamp::date FROM warehouse.fact_events_unpartitioned LOOP
    EXECUTE format('CREATE TABLE warehouse.%I PARTITION OF warehouse.fact_events FOR VALUES FROM (%L) TO (%L)',
                   'fact_events_' || to_char(day, 'YYYYMMDD'), day::timestamp, (day + 1)::timestamp);
  END LOOP;
END $$;

INSERT INTO fact_events (event_key, event_id, idempotency_key, user_id, user_key, time_key, device_key,
  event_type, schema_version, session_id, ip_address, event_timestamp, page_view_count, purchase_amount,
  currency, purchase_amount_usd, purchase_quantity, is_conversion, is_error, payload_json)
SELECT event_key, event_id, idempotency_key, user_id, user_key, time_key, device_key,
  event_type, schema_version, session_id, ip_address, event_timestamp, page_view_count, purchase_amount,
  currency, purchase_amount_usd, purchase_quantity, is_conversion, is_error, payload_json
FROM fact_events_unpartitioned;

-- The view followed the old table when it was renamed: it reads the new one again.
CREATE OR REPLACE VIEW v_fact_events_denormalized AS
SELECT f.event_key, f.event_id, f.event_type, f.event_timestamp, f.session_id,
       u.user_id, u.email, u.plan_type, u.user_tier, u.version_number AS user_version,
       t.date_actual, t.year, t.month, t.month_name, t.day_name, t.hour, t.is_weekend,
       d.device_type, d.os_family, d.browser_family, d.is_mobile,
       f.purchase_amount, f.currency, f.purchase_amount_usd, f.purchase_quantity,
       f.is_conversion, f.is_error
FROM fact_events f
LEFT JOIN dim_user u ON u.user_key = f.user_key
LEFT JOIN dim_time t ON t.time_key = f.time_key
LEFT JOIN dim_device d ON d.device_key = f.device_key;

DROP TABLE fact_events_unpartitioned;
