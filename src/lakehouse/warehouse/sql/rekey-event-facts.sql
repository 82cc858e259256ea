-- A backfill: older facts of the users whose history changed point at the version valid at their time.
UPDATE warehouse.fact_events f SET user_key = u.user_key
FROM warehouse.dim_user u
WHERE f.user_id IN (SELECT user_id FROM stg_users)
  AND u.user_id = f.user_id AND u.effective_start <= f.event_timestamp
  AND (u.effective_end IS NULL OR f.event_timestamp < u.effective_end)
  AND f.user_key <> u.user_key
