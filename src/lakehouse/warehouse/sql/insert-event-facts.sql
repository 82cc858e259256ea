-- The new events become facts, keyed to the user version valid at their time, with the derived
-- columns: the hour, the device row of the type (`unknown` when absent), and the measures from the
-- payload (USD through dim_currency; a code it does not know counts as USD, as
-- src/lakehouse/currency.ts does; history-events.sql computes the same USD amount).
-- One UTC date at a time, [$1, $2), into the target: the partition of warehouse.fact_events,
-- or a new table that becomes that partition once filled (warehouse-load.ts, insertDailyFacts).
INSERT INTO {target} (event_key, event_id, idempotency_key, user_id, user_key, time_key,
  device_key, event_type, schema_version, session_id, ip_address, event_timestamp, page_view_count,
  purchase_amount, currency, purchase_amount_usd, purchase_quantity, is_conversion, is_error, payload_json)
SELECT s.event_key, s.event_id, s.idempotency_key, s.user_id, u.user_key, t.time_key,
       coalesce(d.device_key, (SELECT device_key FROM warehouse.dim_device
                               WHERE device_type = 'unknown' AND is_type_default)),
       s.event_type, s.schema_version, s.session_id, s.ip_address, s.event_timestamp,
       (s.event_type = 'page_view')::integer,
       CASE WHEN s.purchase THEN s.amount ELSE 0 END,
       CASE WHEN s.purchase THEN s.currency END,
       CASE WHEN s.purchase
            THEN round(s.amount * coalesce((SELECT c.usd_rate FROM warehouse.dim_currency c
                                            WHERE c.currency = s.currency), 1), 2)
            ELSE 0 END,
       CASE WHEN s.purchase THEN coalesce(s.quantity, 0) ELSE 0 END,
       s.purchase,
       s.event_type = 'payment_failed',
       s.payload_json
FROM (SELECT *, event_type = 'purchase' AS purchase, round(coalesce(total_amount, 0)::numeric, 2) AS amount
      FROM stg_events WHERE event_timestamp >= $1 AND event_timestamp < $2) s
JOIN warehouse.dim_user u ON u.user_id = s.user_id AND u.effective_start <= s.event_timestamp
                         AND (u.effective_end IS NULL OR s.event_timestamp < u.effective_end)
LEFT JOIN warehouse.dim_time t ON t.full_timestamp = date_trunc('hour', s.event_timestamp)
LEFT JOIN warehouse.dim_device d ON d.device_type = s.device_type AND d.is_type_default
