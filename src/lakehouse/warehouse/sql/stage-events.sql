-- A fact never changes once loaded: only the date's new events stay staged (event_key,
-- key64(idempotency_key), is the facts' primary key and what makes the natural key unique:
-- migration 004). A day loaded for the first time deletes nothing; a re-load deletes everything.
DELETE FROM stg_events s USING warehouse.fact_events f WHERE f.event_key = s.event_key
