-- What a user's versions depend on, for every user of stg_users, from everything loaded so far plus
-- the new rows: when they were first seen, their signups and their purchases (USD cents).
WITH ev AS (
  SELECT user_id, event_timestamp, event_type, idempotency_key, payload_json, purchase_amount_usd
  FROM warehouse.fact_events WHERE user_id IN (SELECT user_id FROM stg_users)
  UNION ALL
  SELECT user_id, event_timestamp, event_type, idempotency_key, payload_json, purchase_amount_usd
  FROM stg_events
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
)
SELECT user_id, 'first' AS kind, (extract(epoch FROM ts) * 1000000)::bigint::text AS us,
       NULL AS idempotency_key, NULL AS email, NULL AS username, NULL AS signup_source,
       NULL AS plan_type, NULL::bigint AS cents
FROM firsts
UNION ALL
SELECT user_id, 'session', (extract(epoch FROM session_start) * 1000000)::bigint::text,
       NULL, NULL, NULL, NULL, NULL, NULL
FROM se
UNION ALL
SELECT user_id, event_type, (extract(epoch FROM event_timestamp) * 1000000)::bigint::text,
       idempotency_key, payload_json->>'email', payload_json->>'username',
       payload_json->>'signup_source', payload_json->>'plan_type',
       (purchase_amount_usd * 100)::bigint
FROM ev WHERE event_type IN ('user_signup', 'purchase')
