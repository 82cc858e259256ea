-- The new sessions become facts, keyed to the user version valid at their start.
INSERT INTO warehouse.fact_sessions (session_key, session_id, user_id, user_key, time_key, device_key,
  session_start, session_end, duration_seconds, event_count, page_views, purchases, payment_failures,
  signups, event_types, first_event_id)
SELECT s.session_key, s.session_id, s.user_id, u.user_key, s.time_key, s.device_key, s.session_start,
       s.session_end, s.duration_seconds, s.event_count, s.page_views, s.purchases, s.payment_failures,
       s.signups, s.event_types, s.first_event_id
FROM stg_sessions s
JOIN warehouse.dim_user u ON u.user_id = s.user_id AND u.effective_start <= s.session_start
                         AND (u.effective_end IS NULL OR s.session_start < u.effective_end)
