-- A session's revenue is its loaded purchases in USD (its events may come with another date).
UPDATE warehouse.fact_sessions s SET revenue_usd = r.revenue
FROM (
  SELECT x.session_id,
         coalesce(sum(f.purchase_amount_usd) FILTER (WHERE f.event_type = 'purchase'), 0) AS revenue
  FROM (SELECT session_id FROM stg_events WHERE session_id IS NOT NULL
        UNION SELECT session_id FROM stg_sessions) x
  LEFT JOIN warehouse.fact_events f ON f.session_id = x.session_id
  GROUP BY x.session_id
) r
WHERE s.session_id = r.session_id AND s.revenue_usd <> r.revenue
