-- System B's warehouse (SPEC §6.4, names from seed 004): a star schema loaded daily from silver by
-- `rtsa warehouse load` (src/lakehouse/warehouse). docs/warehouse.md describes it.
--
-- Every timestamp is UTC, stored as `timestamp` (without time zone) like the seed's: a date taken
-- from it (`::date`) is the UTC date whatever the session's TimeZone.
--
-- Surrogate keys of loaded rows are hashes of their natural keys (key64 below), not sequences: a
-- table's contents are then a function of the data loaded, whatever the order the days came in.

CREATE FUNCTION key64(natural_key text) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN ('x' || left(md5(natural_key), 16))::bit(64)::bigint;

-- The tier a lifetime purchase revenue in USD gives (SPEC §6.4); the loader and the marts share it.
CREATE FUNCTION user_tier(lifetime_revenue_usd numeric) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN CASE WHEN lifetime_revenue_usd >= 10000 THEN 'platinum'
              WHEN lifetime_revenue_usd >= 1000 THEN 'gold'
              WHEN lifetime_revenue_usd >= 100 THEN 'silver'
              ELSE 'bronze' END;

-- One row per hour, 2020-01-01 00:00 … 2030-12-31 23:00 (96,432 rows); time_key counts the hours
-- from 1 (the seed's SERIAL values).
CREATE TABLE dim_time (
  time_key        integer     PRIMARY KEY,
  full_timestamp  timestamp   NOT NULL CONSTRAINT uq_dim_time_timestamp UNIQUE,
  date_actual     date        NOT NULL,
  year            integer     NOT NULL,
  quarter         integer     NOT NULL,
  month           integer     NOT NULL,
  month_name      varchar(20) NOT NULL,
  week_of_year    integer     NOT NULL,  -- ISO week
  day_of_month    integer     NOT NULL,
  day_of_week     integer     NOT NULL,  -- ISO: 1 = Monday … 7 = Sunday
  day_name        varchar(20) NOT NULL,
  hour            integer     NOT NULL,
  minute          integer     NOT NULL,
  is_weekend      boolean     NOT NULL,
  is_holiday      boolean     NOT NULL DEFAULT false
);
INSERT INTO dim_time
SELECT row_number() OVER (ORDER BY ts)::integer,
       ts, ts::date,
       extract(year FROM ts)::integer, extract(quarter FROM ts)::integer, extract(month FROM ts)::integer,
       to_char(ts, 'FMMonth'),
       extract(week FROM ts)::integer, extract(day FROM ts)::integer, extract(isodow FROM ts)::integer,
       to_char(ts, 'FMDay'),
       extract(hour FROM ts)::integer, 0,
       extract(isodow FROM ts) IN (6, 7),
       false
FROM generate_series(timestamp '2020-01-01 00:00', timestamp '2030-12-31 23:00', interval '1 hour') AS ts;
CREATE INDEX idx_dim_time_date ON dim_time (date_actual);
CREATE INDEX idx_dim_time_year_month ON dim_time (year, month);

-- The seed's 16 devices plus `other` (the generator sends it; the seed forgot it). Events carry
-- only device_type, so a fact points at its type's representative row (is_type_default); the os
-- and browser columns describe the catalogue, not what the event's device ran.
CREATE TABLE dim_device (
  device_key       integer      PRIMARY KEY,
  device_type      varchar(50)  NOT NULL,
  device_category  varchar(50),
  os_family        varchar(100),
  os_version       varchar(50),
  browser_family   varchar(100),
  browser_version  varchar(50),
  is_mobile        boolean      NOT NULL DEFAULT false,
  is_tablet        boolean      NOT NULL DEFAULT false,
  is_desktop       boolean      NOT NULL DEFAULT false,
  is_type_default  boolean      NOT NULL DEFAULT false,
  CONSTRAINT uq_dim_device UNIQUE (device_type, os_family, browser_family)
);
CREATE UNIQUE INDEX uq_dim_device_type_default ON dim_device (device_type) WHERE is_type_default;
CREATE INDEX idx_dim_device_type ON dim_device (device_type);
CREATE INDEX idx_dim_device_os ON dim_device (os_family);
INSERT INTO dim_device (device_key, device_type, device_category, os_family, browser_family,
                        is_mobile, is_tablet, is_desktop, is_type_default) VALUES
  (1,  'mobile',  'smartphone', 'iOS',     'Safari',          true,  false, false, true),
  (2,  'mobile',  'smartphone', 'iOS',     'Chrome',          true,  false, false, false),
  (3,  'mobile',  'smartphone', 'Android', 'Chrome',          true,  false, false, false),
  (4,  'mobile',  'smartphone', 'Android', 'Firefox',         true,  false, false, false),
  (5,  'mobile',  'smartphone', 'Android', 'Samsung Browser', true,  false, false, false),
  (6,  'tablet',  'tablet',     'iOS',     'Safari',          false, true,  false, true),
  (7,  'tablet',  'tablet',     'Android', 'Chrome',          false, true,  false, false),
  (8,  'desktop', 'laptop',     'macOS',   'Safari',          false, false, true,  false),
  (9,  'desktop', 'laptop',     'macOS',   'Chrome',          false, false, true,  false),
  (10, 'desktop', 'laptop',     'macOS',   'Firefox',         false, false, true,  false),
  (11, 'desktop', 'laptop',     'Windows', 'Chrome',          false, false, true,  true),
  (12, 'desktop', 'laptop',     'Windows', 'Firefox',         false, false, true,  false),
  (13, 'desktop', 'laptop',     'Windows', 'Edge',            false, false, true,  false),
  (14, 'desktop', 'laptop',     'Linux',   'Chrome',          false, false, true,  false),
  (15, 'desktop', 'laptop',     'Linux',   'Firefox',         false, false, true,  false),
  (16, 'unknown', 'unknown',    'Unknown', 'Unknown',         false, false, false, true),
  (17, 'other',   'other',      'Unknown', 'Unknown',         false, false, false, true);

-- A fixed rate to USD per currency (src/lakehouse/currency.ts has the same values). Editable: a
-- load converts with the rates of the moment; reload the dates after changing one.
CREATE TABLE dim_currency (
  currency  char(3)       PRIMARY KEY,
  usd_rate  numeric(12,6) NOT NULL CHECK (usd_rate > 0)
);
INSERT INTO dim_currency VALUES ('USD', 1), ('EUR', 1.08), ('GBP', 1.27);

-- SCD Type 2. A user's versions are a function of every event and session of theirs loaded so
-- far (docs/warehouse.md); validity is half-open [effective_start, effective_end).
CREATE TABLE dim_user (
  user_key         bigint       PRIMARY KEY,          -- key64(user_id || '#' || version_number)
  user_id          varchar(100) NOT NULL,
  email            varchar(255),
  username         varchar(100),
  signup_source    varchar(100),
  signup_date      date,
  plan_type        varchar(50)  CHECK (plan_type IN ('free', 'basic', 'premium', 'enterprise')),
  user_tier        varchar(50)  NOT NULL CHECK (user_tier IN ('bronze', 'silver', 'gold', 'platinum')),
  effective_start  timestamp    NOT NULL,
  effective_end    timestamp,                          -- null: the current version
  is_current       boolean      NOT NULL,
  version_number   integer      NOT NULL CHECK (version_number >= 1),
  CONSTRAINT uq_dim_user_version UNIQUE (user_id, version_number),
  CONSTRAINT ck_dim_user_current CHECK (is_current = (effective_end IS NULL)),
  CONSTRAINT ck_dim_user_validity CHECK (effective_end IS NULL OR effective_end > effective_start)
);
-- Exactly one current row per user: at most one by this index; at least one because a user's last
-- version is the one without an end (ck_dim_user_current) and the loader writes whole histories.
CREATE UNIQUE INDEX uq_dim_user_current ON dim_user (user_id) WHERE is_current;
CREATE INDEX idx_dim_user_validity ON dim_user (user_id, effective_start, effective_end);
CREATE INDEX idx_dim_user_plan ON dim_user (plan_type);

-- One row per silver event. user_id (the natural key) is kept beside user_key so that a backfill
-- can re-key a user's facts when their history changes. The foreign key to dim_user is checked at
-- commit: a load replaces a user's versions and re-keys their facts in one transaction. time_key
-- and device_key come from joins on their (static) dimensions, so they need no per-row check
-- (a load spent a fifth of its insert time in those two triggers); the marts' relationship tests
-- cover them.
CREATE TABLE fact_events (
  event_key            bigint        PRIMARY KEY,      -- key64(idempotency_key)
  event_id             varchar(100)  NOT NULL,
  idempotency_key      varchar(100)  NOT NULL CONSTRAINT uq_fact_events_idempotency UNIQUE,
  user_id              varchar(100)  NOT NULL,
  user_key             bigint        NOT NULL REFERENCES dim_user DEFERRABLE INITIALLY DEFERRED,
  time_key             integer,                 -- dim_time; null outside 2020–2030
  device_key           integer       NOT NULL,  -- dim_device
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
  payload_json         jsonb         NOT NULL
);
CREATE INDEX idx_fact_events_date ON fact_events (event_date, user_id);
CREATE INDEX idx_fact_events_user ON fact_events (user_id, event_timestamp);
CREATE INDEX idx_fact_events_purchases ON fact_events (user_id, event_timestamp)
  INCLUDE (purchase_amount_usd, purchase_quantity, user_key) WHERE event_type = 'purchase';
CREATE INDEX idx_fact_events_session ON fact_events (session_id);

-- One row per silver session. revenue_usd is the session's loaded purchases through dim_currency.
CREATE TABLE fact_sessions (
  session_key        bigint        PRIMARY KEY,        -- key64(session_id)
  session_id         varchar(64)   NOT NULL CONSTRAINT uq_fact_sessions_session UNIQUE,
  user_id            varchar(100)  NOT NULL,
  user_key           bigint        NOT NULL REFERENCES dim_user DEFERRABLE INITIALLY DEFERRED,
  time_key           integer,                 -- dim_time: the hour the session started
  device_key         integer       NOT NULL,  -- dim_device: the first event's
  session_start      timestamp     NOT NULL,
  session_end        timestamp     NOT NULL,
  session_date       date          NOT NULL GENERATED ALWAYS AS (session_start::date) STORED,
  duration_seconds   double precision NOT NULL,
  event_count        integer       NOT NULL,
  page_views         integer       NOT NULL,
  purchases          integer       NOT NULL,
  payment_failures   integer       NOT NULL,
  signups            integer       NOT NULL,
  revenue_usd        numeric(14,2) NOT NULL DEFAULT 0,
  event_types        text          NOT NULL,
  first_event_id     varchar(100)  NOT NULL
);
CREATE INDEX idx_fact_sessions_date ON fact_sessions (session_date, user_id);
CREATE INDEX idx_fact_sessions_user ON fact_sessions (user_id, session_start);

CREATE VIEW v_dim_user_current AS
SELECT * FROM dim_user WHERE is_current;

CREATE VIEW v_fact_events_denormalized AS
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
