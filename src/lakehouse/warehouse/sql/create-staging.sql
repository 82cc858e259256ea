-- The date being loaded, in temporary tables that vanish at commit, beside the two tables COPY
-- fills (stage-tables.sql). After staging, rows already in the warehouse are removed: what is left
-- is new, and its users are the ones whose history the load recomputes.

-- The new sessions, typed and keyed to their dimensions (stage-sessions.sql).
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

-- Sessions whose revenue a rate edit changes (reprice.sql; usually none).
CREATE TEMP TABLE stg_repriced_sessions (
  session_id  text  PRIMARY KEY
) ON COMMIT DROP;
