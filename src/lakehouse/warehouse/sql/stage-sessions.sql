-- The date's silver sessions (as copied into stg_sessions_raw, each session once) into stg_sessions,
-- less those the warehouse holds.
INSERT INTO stg_sessions
SELECT r.session_key, r.session_id, r.user_id, t.time_key,
       coalesce(d.device_key, (SELECT device_key FROM warehouse.dim_device
                               WHERE device_type = 'unknown' AND is_type_default)),
       r.session_start::timestamp, r.session_end::timestamp, r.duration_seconds,
       r.event_count, r.page_views, r.purchases, r.payment_failures, r.signups, r.event_types,
       r.first_event_id
FROM stg_sessions_raw r
LEFT JOIN warehouse.dim_time t ON t.full_timestamp = date_trunc('hour', r.session_start::timestamp)
LEFT JOIN warehouse.dim_device d ON d.device_type = r.first_device_type AND d.is_type_default
WHERE NOT EXISTS (SELECT 1 FROM warehouse.fact_sessions f WHERE f.session_key = r.session_key)
