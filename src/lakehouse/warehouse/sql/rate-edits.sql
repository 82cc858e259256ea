-- The currencies whose rate in dim_currency differs from the one the tables were computed with
-- (applied_rates), with the rate to apply: a code missing from dim_currency counts as USD (rate 1),
-- as the load does. Usually none; reprice.sql applies them.
CREATE TEMP TABLE stg_rate_edits ON COMMIT DROP AS
SELECT coalesce(d.currency, a.currency) AS currency, coalesce(d.usd_rate, 1) AS usd_rate
FROM warehouse.dim_currency d FULL JOIN warehouse.applied_rates a ON a.currency = d.currency
WHERE coalesce(d.usd_rate, 1) <> coalesce(a.usd_rate, 1)
