-- Rates edited in dim_currency since the tables were computed (stg_rate_edits, rate-edits.sql):
-- those currencies' purchases get their USD amounts as insert-event-facts.sql computes them, the
-- users who made them are affected users (their tiers are recomputed and their facts re-keyed by
-- the rest of the load), their sessions' revenue is summed again (session-revenue.sql), and the
-- rates become the applied ones.
UPDATE warehouse.fact_events f
SET purchase_amount_usd = round(f.purchase_amount * x.usd_rate, 2)
FROM stg_rate_edits x
WHERE f.event_type = 'purchase' AND f.currency = x.currency;

INSERT INTO stg_users (user_id)
SELECT DISTINCT user_id FROM warehouse.fact_events
WHERE event_type = 'purchase' AND currency IN (SELECT currency FROM stg_rate_edits)
ON CONFLICT (user_id) DO NOTHING;
ANALYZE stg_users;

INSERT INTO stg_repriced_sessions (session_id)
SELECT DISTINCT session_id FROM warehouse.fact_events
WHERE event_type = 'purchase' AND currency IN (SELECT currency FROM stg_rate_edits)
  AND session_id IS NOT NULL;

DELETE FROM warehouse.applied_rates WHERE currency IN (SELECT currency FROM stg_rate_edits);
INSERT INTO warehouse.applied_rates SELECT currency, usd_rate FROM stg_rate_edits;
