-- The date being loaded, in temporary tables that vanish at commit. After staging, rows already in
-- the warehouse are removed: what is left is new, and its users are the ones whose history the
-- load recomputes.
-- Events: DuckDB has already dropped the day's duplicate idempotency keys and computed event_key,
-- so COPY writes them here once, typed (the timestamp and the JSON payload parsed on the way in);
-- the facts' other derived columns are computed where the facts are inserted.
CREATE TEMP TABLE stg_events (
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
) ON COMMIT DROP;

-- Sessions: DuckDB has dropped the day's duplicate session ids and computed session_key.
CREATE TEMP TABLE stg_sessions_raw (
  session_key bigint, session_id text, user_id text, session_start text, session_end text, duration_seconds float8,
  event_count integer, page_views integer, purchases integer, payment_failures integer,
  signups integer, event_types text, first_device_type text, first_event_id text
) ON COMMIT DROP;

CREATE TEMP TABLE stg_sessions (
  session_key       bigint           NOT NULL,
  session_id        text             NOT NULL,
  user_id           text             NOT NULL,
  time_key          integer,
  device_key        integer          NOT NULL,
  session_start     timestamp        NOT NULL,
  session_end       timestamp        NOT NULL,
  duration_seconds  double precision NOT NULL,
  event_count       integer          NOT NULL,
  page_views        integer          NOT NULL,
  purchases         integer          NOT NULL,
  payment_failures  integer          NOT NULL,
  signups           integer          NOT NULL,
  event_types       text             NOT NULL,
  first_event_id    text             NOT NULL
) ON COMMIT DROP;

-- Per affected user, the instant from which their versions' ranges changed: older facts from then
-- on are the ones a backfill may have to re-key.
CREATE TEMP TABLE stg_rekey (
  user_id  text      PRIMARY KEY,
  from_ts  timestamp NOT NULL
) ON COMMIT DROP;
