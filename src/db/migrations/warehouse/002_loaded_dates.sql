-- The logical dates loaded into the warehouse: `rtsa warehouse load` records each date that had
-- silver data, in the date's own transaction. The marts' churn_risk counts days to the newest of
-- them (SPEC §6.5), so its result depends neither on the wall clock nor on the order of loads.
CREATE TABLE loaded_dates (
  load_date  date        PRIMARY KEY,
  loaded_at  timestamptz NOT NULL DEFAULT now()  -- the last time it was loaded (wall clock, for people)
);

-- A warehouse loaded before this table existed: its facts' dates are the dates it loaded.
INSERT INTO loaded_dates (load_date)
SELECT DISTINCT event_date FROM fact_events
ON CONFLICT (load_date) DO NOTHING;
