-- A chunk of the date's silver sessions (column arrays) into stg_sessions.
INSERT INTO stg_sessions
SELECT warehouse.key64(r.session_id), r.session_id, r.user_id, t.time_key,
       coalesce(d.device_key, (SELECT device_key FROM warehouse.dim_device
                               WHERE device_type = 'unknown' AND is_type_default)),
       r.session_start::timestamp, r.session_end::timestamp, r.duration_seconds,
       r.event_count, r.page_views, r.purchases, r.payment_failures, r.signups, r.event_types,
       r.first_event_id
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::integer[], $7::integer[],
            $8::integer[], $9::integer[], $10::integer[], $11::text[], $12::text[], $13::text[])
     AS r(session_id, user_id, session_start, session_end, duration_seconds, event_count, page_views,
          purchases, payment_failures, signups, event_types, first_device_type, first_event_id)
LEFT JOIN warehouse.dim_time t ON t.full_timestamp = date_trunc('hour', r.session_start::timestamp)
LEFT JOIN warehouse.dim_device d ON d.device_type = r.first_device_type AND d.is_type_default
ON CONFLICT (session_id) DO NOTHING
