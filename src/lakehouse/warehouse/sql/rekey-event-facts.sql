-- A backfill: older facts of the users whose version ranges changed point at the version valid at
-- their time (only facts from the first changed range on can be affected).
UPDATE warehouse.fact_events f SET user_key = u.user_key
FROM stg_rekey r, warehouse.dim_user u
WHERE f.user_id = r.user_id AND f.event_timestamp >= r.from_ts
  AND u.user_id = f.user_id AND u.effective_start <= f.event_timestamp
  AND (u.effective_end IS NULL OR f.event_timestamp < u.effective_end)
  AND f.user_key <> u.user_key
