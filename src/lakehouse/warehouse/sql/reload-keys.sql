-- A re-load's first look (warehouse-load.ts, reloadWithNothingNew): the date's keys alone, which
-- new-keys.sql compares with the warehouse's.
CREATE TEMP TABLE stg_event_keys (event_key bigint NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE stg_session_keys (session_key bigint NOT NULL) ON COMMIT DROP;
