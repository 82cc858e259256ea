-- description: facts of the date keyed to a dim_user version that was not valid at the event's time
-- severity: error
--
-- A user SQL check (docs/quality.md): the query returns the rows that break the rule; none means
-- PASSED. {{ date }} is the checked date. This one guards SCD Type 2 point-in-time correctness:
-- every fact points at its own user's version whose [effective_start, effective_end) holds the
-- event's timestamp (a key without a dim_user row at all fails too: the facts carry no foreign key).
SELECT f.event_id, f.user_id, f.event_timestamp, u.user_id AS version_user_id, u.version_number,
       u.effective_start, u.effective_end
FROM warehouse.fact_events f
LEFT JOIN warehouse.dim_user u ON u.user_key = f.user_key
WHERE f.event_date = {{ date }}
  AND (u.user_key IS NULL OR NOT (u.user_id = f.user_id
           AND u.effective_start <= f.event_timestamp
           AND (u.effective_end IS NULL OR f.event_timestamp < u.effective_end)))
