-- The rate of each currency that the USD measures in the tables were computed with: the facts'
-- purchase_amount_usd, the sessions' revenue_usd and the users' tiers. dim_currency is editable
-- (SPEC §6.4); each load first compares the two, and a rate edited since (or a code added or
-- removed) re-prices that currency's purchases, recomputes the tiers of the users who made them and
-- re-keys their facts, in the load's own transaction (warehouse-load.ts, applyRateEdits).
CREATE TABLE applied_rates (
  currency  char(3)       PRIMARY KEY,
  usd_rate  numeric(12,6) NOT NULL
);
INSERT INTO applied_rates SELECT currency, usd_rate FROM dim_currency;

-- The names seed 004's example query ("revenue by plan at time of purchase") uses for the validity
-- columns, so that it runs as the seed wrote it (docs/warehouse.md).
ALTER TABLE dim_user
  ADD COLUMN effective_start_date timestamp GENERATED ALWAYS AS (effective_start) STORED,
  ADD COLUMN effective_end_date   timestamp GENERATED ALWAYS AS (effective_end) STORED;
