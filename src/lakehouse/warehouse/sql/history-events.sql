-- What the versions of the users in stg_users depend on, from everything loaded so far plus the new
-- rows, boiled down in SQL to the instants that can change something: when each user was first
-- seen, their signups, the start of each UTC day's 6th session, and the purchases that cross a tier
-- line (with the USD cents spent since the previous crossing, so running sums stay exact).
-- Each part reads only what it needs: the first instants by aggregate, the purchases alone (the
-- partial index of purchases on the warehouse side), the signups with their payload.
WITH purchases AS (
  SELECT user_id, event_timestamp, purchase_amount_usd AS usd
  FROM warehouse.fact_events
  WHERE event_type = 'purchase' AND user_id IN (SELECT user_id FROM stg_users)
  UNION ALL
  -- purchase_amount_usd as insert-event-facts.sql computes it
  SELECT s.user_id, s.event_timestamp,
         round(round(coalesce(s.total_amount, 0)::numeric, 2) * coalesce(c.usd_rate, 1), 2)
  FROM stg_events s LEFT JOIN warehouse.dim_currency c ON c.currency = s.currency
  WHERE s.event_type = 'purchase'
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
    SELECT user_id, min(event_timestamp) AS ts
    FROM warehouse.fact_events WHERE user_id IN (SELECT user_id FROM stg_users) GROUP BY user_id
    UNION ALL
    SELECT user_id, min(event_timestamp) FROM stg_events GROUP BY user_id
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
  SELECT user_id, event_timestamp AS ts, sum(usd) AS usd FROM purchases GROUP BY user_id, event_timestamp
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
