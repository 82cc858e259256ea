-- A session's revenue is its loaded purchases in USD. New sessions got theirs when inserted; an
-- older session changes only when this date brings a purchase in it (its events may come with
-- another date), so only those are recomputed, from the partial index of purchases by session,
-- within the session's span (the partitions of its days only).
-- Sessions with purchases in a currency whose rate was edited are recomputed too (reprice.sql).
-- (MATERIALIZED: the sessions to look at first, so the sums run for them alone.)
WITH touched AS MATERIALIZED (
  SELECT e.session_id FROM stg_events e
  WHERE e.event_type = 'purchase' AND e.session_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM stg_sessions n WHERE n.session_id = e.session_id)
  UNION
  SELECT session_id FROM stg_repriced_sessions
), r AS MATERIALIZED (
  SELECT t.session_id, s.session_start,
         coalesce((SELECT sum(f.purchase_amount_usd) FROM warehouse.fact_events f
                   WHERE f.session_id = t.session_id AND f.event_type = 'purchase'
                     AND f.event_timestamp BETWEEN s.session_start AND s.session_end), 0) AS revenue
  FROM touched t
  JOIN warehouse.fact_sessions s ON s.session_key = warehouse.key64(t.session_id) AND s.session_id = t.session_id
)
UPDATE warehouse.fact_sessions s SET revenue_usd = r.revenue
FROM r
WHERE s.session_key = warehouse.key64(r.session_id) AND s.session_start = r.session_start
  AND s.session_id = r.session_id AND s.revenue_usd <> r.revenue
