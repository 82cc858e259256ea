-- The date's silver events (as copied into stg_events_raw) into stg_events, with the fact's derived
-- columns: the hour, the device row of the type, and the measures from the payload (USD through
-- dim_currency; a code it does not know counts as USD, as src/lakehouse/currency.ts does).
INSERT INTO stg_events
SELECT warehouse.key64(r.idempotency_key), r.event_id, r.idempotency_key, r.user_id,
       t.time_key,
       coalesce(d.device_key, (SELECT device_key FROM warehouse.dim_device
                               WHERE device_type = 'unknown' AND is_type_default)),
       r.event_type, r.schema_version, r.session_id, r.ip_address, r.ts,
       (r.event_type = 'page_view')::integer,
       CASE WHEN r.purchase THEN r.amount ELSE 0 END,
       CASE WHEN r.purchase THEN r.currency END,
       CASE WHEN r.purchase THEN round(r.amount * coalesce(c.usd_rate, 1), 2) ELSE 0 END,
       CASE WHEN r.purchase THEN coalesce(r.quantity, 0) ELSE 0 END,
       r.purchase,
       r.event_type = 'payment_failed',
       r.payload::jsonb
FROM (
  SELECT u.*, u.event_timestamp::timestamp AS ts, u.event_type = 'purchase' AS purchase,
         round(coalesce(u.total_amount, 0)::numeric, 2) AS amount
  FROM stg_events_raw u
  -- A fact never changes once loaded: only new events go on.
  WHERE NOT EXISTS (SELECT 1 FROM warehouse.fact_events f WHERE f.idempotency_key = u.idempotency_key)
) r
LEFT JOIN warehouse.dim_time t ON t.full_timestamp = date_trunc('hour', r.ts)
LEFT JOIN warehouse.dim_device d ON d.device_type = r.device_type AND d.is_type_default
LEFT JOIN warehouse.dim_currency c ON c.currency = r.currency
ON CONFLICT (idempotency_key) DO NOTHING
