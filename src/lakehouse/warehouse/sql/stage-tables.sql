-- The two tables COPY fills with the date's silver, in the load's own schema {schema}: ordinary
-- (unlogged) tables rather than temporary ones, so that two connections can COPY into them at once
-- (warehouse-load.ts, stage) and parallel query can read them. The schema is dropped when the load
-- ends; one left by a killed load is dropped by the next (under the load lock).
CREATE SCHEMA {schema};

-- Events: DuckDB has already dropped the day's duplicate idempotency keys and computed event_key,
-- so COPY writes them here once, typed (the timestamp and the JSON payload parsed on the way in);
-- the facts' other derived columns are computed where the facts are inserted.
CREATE UNLOGGED TABLE {schema}.stg_events (
  event_key        bigint    NOT NULL,  -- key64(idempotency_key)
  idempotency_key  text      NOT NULL,
  event_id         text      NOT NULL,
  user_id          text      NOT NULL,
  session_id       text,
  event_type       text      NOT NULL,
  event_timestamp  timestamp NOT NULL,
  device_type      text,
  ip_address       text,
  schema_version   text,
  payload_json     jsonb     NOT NULL,
  total_amount     float8,
  quantity         integer,
  currency         text
) WITH (autovacuum_enabled = false);

-- Sessions: DuckDB has dropped the day's duplicate session ids and computed session_key.
CREATE UNLOGGED TABLE {schema}.stg_sessions_raw (
  session_key bigint, session_id text, user_id text, session_start text, session_end text, duration_seconds float8,
  event_count integer, page_views integer, purchases integer, payment_failures integer,
  signups integer, event_types text, first_device_type text, first_event_id text
) WITH (autovacuum_enabled = false);
