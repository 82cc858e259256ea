-- What the versions of the users in stg_users depend on, from everything loaded so far plus the new
-- rows, boiled down in SQL to the instants that can change something: when each user was first
-- seen, their signups, the start of each UTC day's 6th session, and the purchases that cross a tier
-- line (with the USD cents spent since the previous crossing, so running sums stay exact).
-- `ev` is read three times, so Postgres materializes it: it carries only the narrow columns (no
-- payload; the signups, a few per user, are read on their own below).
WITH ev AS (
  SELECT user_id, event_timestamp, event_type, purchase_amount_usd
  FROM warehouse.fact_events WHERE user_id IN (SELECT user_id FROM stg_users)
  UNION ALL
  SELECT user_id, event_timestamp, event_type,
         -- purchase_amount_usd as insert-event-facts.sql computes it
         CASE WHEN event_type = 'purchase'
              THEN round(round(coalesce(total_amount, 0)::numeric, 2)
                         * coalesce((SELECT c.usd_rate FROM warehouse.dim_currency c
                                     WHERE c.currency = stg_events.currency), 1), 2)
              ELSE 0 END
  FROM stg_events
), signups AS (
  SELECT user_id, event_timestamp, idempotency_key, payload_json
  FROM warehouse.fact_events WHERE event_type = 'user_signup' AND user_id IN (SELECT user_id FROM stg_users)
  UNION ALL
  SELECT user_id, event_timestamp, idempotency_key, payload_json FROM stg_events WHERE event_type = 'user_signup'
), se AS (
  SELECT user_id, session_start FROM warehouse.fact_sessions WHERE user_id IN (SELECT user_id FROM stg_users)
  UNION ALL
  SELECT user_id, session_start FROM stg_sessions
), firsts AS (
  SELECT user_id, min(ts) AS ts FROM (
    SELECT user_id, min(event_timestamp) AS ts FROM ev GROUP BY user_id
    UNION ALL
    SELECT user_id, min(session_start) FROM se GROUP BY user_id
  ) x GROUP BY user_id
), sixth AS (
  SELECT user_id, session_start FROM (
    SELECT user_id, session_start,
           row_number() OVER (PARTITION BY user_id, session_start::date ORDER BY session_start) AS n
    FROM se
  ) x WHERE n = 6
), spend AS (
  SELECT user_id, event_timestamp AS ts, sum(purchase_amount_usd) AS usd
  FROM ev WHERE event_type = 'purchase' GROUP BY user_id, event_timestamp
), running AS (
  SELECT user_id, ts, usd, sum(usd) OVER (PARTITION BY user_id ORDER BY ts) AS total FROM spend
), crossings AS (
  SELECT user_id, ts, total - coalesce(lag(total) OVER (PARTITION BY user_id ORDER BY ts), 0) AS usd
  FROM running WHERE warehouse.user_tier(total) <> warehouse.user_tier(total - usd)
)
SELECT user_id, 'first' AS kind, (extract(epoch FROM ts) * 1000000)::bigint::text AS us,
       NULL AS idempotency_key, NULL AS email, NULL AS username, NULL AS signup_source,
       NULL AS plan_type, NULL::bigint AS cents
FROM firsts
UNION ALL
SELECT user_id, 'sixth_session', (extract(epoch FROM session_start) * 1000000)::bigint::text,
       NULL, NULL, NULL, NULL, NULL, NULL
FROM sixth
UNION ALL
SELECT user_id, 'user_signup', (extract(epoch FROM event_timestamp) * 1000000)::bigint::text,
       idempotency_key, payload_json->>'email', payload_json->>'username',
       payload_json->>'signup_source', payload_json->>'plan_type', NULL
FROM signups
UNION ALL
SELECT user_id, 'tier_crossing', (extract(epoch FROM ts) * 1000000)::bigint::text,
       NULL, NULL, NULL, NULL, NULL, (usd * 100)::bigint
FROM crossings
