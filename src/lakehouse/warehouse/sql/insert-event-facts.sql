-- The new events become facts, keyed to the user version valid at their time.
INSERT INTO warehouse.fact_events (event_key, event_id, idempotency_key, user_id, user_key, time_key,
  device_key, event_type, schema_version, session_id, ip_address, event_timestamp, page_view_count,
  purchase_amount, currency, purchase_amount_usd, purchase_quantity, is_conversion, is_error, payload_json)
SELECT s.event_key, s.event_id, s.idempotency_key, s.user_id, u.user_key, s.time_key, s.device_key,
       s.event_type, s.schema_version, s.session_id, s.ip_address, s.event_timestamp, s.page_view_count,
       s.purchase_amount, s.currency, s.purchase_amount_usd, s.purchase_quantity, s.is_conversion,
       s.is_error, s.payload_json
FROM stg_events s
JOIN warehouse.dim_user u ON u.user_id = s.user_id AND u.effective_start <= s.event_timestamp
                         AND (u.effective_end IS NULL OR s.event_timestamp < u.effective_end)
