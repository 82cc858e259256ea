-- Retention of dead_letter_events (RTSA_DEAD_LETTER_RETENTION): the janitor finds expired rows by time.
CREATE INDEX dead_letter_events_received_idx ON dead_letter_events (received_at);
