-- Every change to stream_metrics_minute is announced on channel `rtsa_windows` when it commits,
-- for the API's in-memory windows (src/realtime/serving/window-feed.ts): the payload is the span of
-- window_starts the statement touched, `<first>,<last>` in µs since the epoch, or `*` (a TRUNCATE:
-- everything). One notification a statement, from its transition tables: the results writer's
-- upsert costs one pass over the rows it wrote. Postgres delivers notifications in commit order.
CREATE FUNCTION announce_window_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  lo timestamptz;
  hi timestamptz;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('rtsa_windows', '*');
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT min(window_start), max(window_start) INTO lo, hi FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT min(window_start), max(window_start) INTO lo, hi FROM old_rows;
  ELSE
    SELECT min(ws), max(ws) INTO lo, hi
    FROM (SELECT window_start AS ws FROM old_rows UNION ALL SELECT window_start FROM new_rows) c;
  END IF;
  IF lo IS NOT NULL THEN
    PERFORM pg_notify('rtsa_windows',
      (extract(epoch FROM lo) * 1000000)::int8 || ',' || (extract(epoch FROM hi) * 1000000)::int8);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER stream_metrics_minute_inserted AFTER INSERT ON stream_metrics_minute
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION announce_window_changes();
CREATE TRIGGER stream_metrics_minute_updated AFTER UPDATE ON stream_metrics_minute
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION announce_window_changes();
CREATE TRIGGER stream_metrics_minute_deleted AFTER DELETE ON stream_metrics_minute
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION announce_window_changes();
CREATE TRIGGER stream_metrics_minute_truncated AFTER TRUNCATE ON stream_metrics_minute
  FOR EACH STATEMENT EXECUTE FUNCTION announce_window_changes();

-- stream_state (a row a stream, /state) is read again whole on any change: payload `state`.
CREATE FUNCTION announce_state_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('rtsa_windows', 'state');
  RETURN NULL;
END $$;
CREATE TRIGGER stream_state_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stream_state
  FOR EACH STATEMENT EXECUTE FUNCTION announce_state_changes();
