-- The new sessions become facts, keyed to the user version valid at their start, with their revenue:
-- the loaded purchases in them (this date's facts are in by now; the session's events may come with
-- another date too), read from the partial index of purchases by session. A session's events lie
-- in [session_start, session_end]: saying so lets Postgres skip the partitions of other days.
-- One UTC date of session_start at a time, [$1, $2), into the target: the partition of
-- warehouse.fact_sessions, or a new table that becomes that partition once filled (warehouse-load.ts).
INSERT INTO {target} (session_key, session_id, user_id, user_key, time_key, device_key,
  session_start, session_end, duration_seconds, event_count, page_views, purchases, payment_failures,
  signups, revenue_usd, event_types, first_event_id)
SELECT s.session_key, s.session_id, s.user_id, u.user_key, s.time_key, s.device_key, s.session_start,
       s.session_end, s.duration_seconds, s.event_count, s.page_views, s.purchases, s.payment_failures,
       s.signups,
       coalesce((SELECT sum(f.purchase_amount_usd) FROM warehouse.fact_events f
                 WHERE f.session_id = s.session_id AND f.event_type = 'purchase'
                   AND f.event_timestamp BETWEEN s.session_start AND s.session_end), 0),
       s.event_types, s.first_event_id
FROM stg_sessions s
JOIN warehouse.dim_user u ON u.user_id = s.user_id AND u.effective_start <= s.session_start
                         AND (u.effective_end IS NULL OR s.session_start < u.effective_end)
WHERE s.session_start >= $1 AND s.session_start < $2
