-- The date being loaded, in temporary tables that vanish at commit. After staging, rows already
-- in the warehouse are removed from them: what is left is new, and its users are the ones whose
-- history the load recomputes.
CREATE TEMP TABLE stg_events (
  event_key            bigint        NOT NULL,
  event_id             text          NOT NULL,
  idempotency_key      text          PRIMARY KEY,
  user_id              text          NOT NULL,
  time_key             integer,
  device_key           integer       NOT NULL,
  event_type           text          NOT NULL,
  schema_version       text,
  session_id           text,
  ip_address           text,
  event_timestamp      timestamp     NOT NULL,
  page_view_count      integer       NOT NULL,
  purchase_amount      numeric(12,2) NOT NULL,
  currency             char(3),
  purchase_amount_usd  numeric(14,2) NOT NULL,
  purchase_quantity    integer       NOT NULL,
  is_conversion        boolean       NOT NULL,
  is_error             boolean       NOT NULL,
  payload_json         jsonb         NOT NULL
) ON COMMIT DROP;

CREATE TEMP TABLE stg_sessions (
  session_key       bigint           NOT NULL,
  session_id        text             PRIMARY KEY,
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
