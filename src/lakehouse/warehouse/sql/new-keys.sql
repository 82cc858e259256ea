-- How many of the date's event and session keys the warehouse does not hold (as stage-events.sql and
-- stage-sessions.sql decide what is new): none means a re-load would change nothing.
SELECT (SELECT count(*) FROM stg_event_keys k
        WHERE NOT EXISTS (SELECT 1 FROM warehouse.fact_events f WHERE f.event_key = k.event_key))::int AS e,
       (SELECT count(*) FROM stg_session_keys k
        WHERE NOT EXISTS (SELECT 1 FROM warehouse.fact_sessions f WHERE f.session_key = k.session_key))::int AS s
