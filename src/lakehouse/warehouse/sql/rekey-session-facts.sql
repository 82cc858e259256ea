-- Sessions, too: a backfill re-keys the older sessions of the users whose version ranges changed.
UPDATE warehouse.fact_sessions f SET user_key = u.user_key
FROM stg_rekey r, warehouse.dim_user u
WHERE f.user_id = r.user_id AND f.session_start >= r.from_ts
  AND u.user_id = f.user_id AND u.effective_start <= f.session_start
  AND (u.effective_end IS NULL OR f.session_start < u.effective_end)
  AND f.user_key <> u.user_key
