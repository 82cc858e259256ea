-- Read paths that cost a few index probes at any table size (issue 14).
--
-- 1. Running totals on each window: the sums of the stream's windows up to and including this one.
--    A sum over a range of a stream's windows is then the difference of two rows, never a scan of
--    the range. Written by the results writer in the statement that writes the window
--    (src/realtime/serving/results-writer.ts), together with any later window of the stream whose
--    totals change.
ALTER TABLE stream_metrics_minute
  ADD COLUMN cum_donations_usd numeric(1000,6) NOT NULL DEFAULT 0,
  ADD COLUMN cum_chat_messages bigint          NOT NULL DEFAULT 0,
  ADD COLUMN cum_windows       bigint          NOT NULL DEFAULT 0;

-- 2. Each stream's newest window with its running totals, one row a stream: /streams/top and the
--    dashboard's ranking read this table (a row per stream) instead of every window of the range.
CREATE TABLE stream_latest_window (
  stream_id         text            PRIMARY KEY,
  window_start      timestamptz     NOT NULL,
  active_viewers    integer         NOT NULL,
  chat_messages     integer         NOT NULL,
  donations_usd     numeric(1000,6) NOT NULL,
  cum_donations_usd numeric(1000,6) NOT NULL,
  cum_chat_messages bigint          NOT NULL,
  cum_windows       bigint          NOT NULL
);

-- 3. /metrics lists newest window first, then stream_id ascending: this index is that order, so a
--    page reads only its rows (the PK read backwards gives stream_id descending and needs a sort of
--    each minute).
CREATE INDEX stream_metrics_minute_recent_idx ON stream_metrics_minute (window_start DESC, stream_id);

-- Recomputes both summaries from the windows. The migration backfills with it; rows written by
-- anything other than the results writer (test seeds, hand repairs) are summarised by calling it.
-- Writes only rows whose totals differ.
CREATE FUNCTION rebuild_stream_summaries() RETURNS void LANGUAGE sql AS $$
  UPDATE stream_metrics_minute m
     SET cum_donations_usd = t.cum_donations_usd, cum_chat_messages = t.cum_chat_messages,
         cum_windows = t.cum_windows
    FROM (SELECT window_start, stream_id,
                 sum(donations_usd) OVER w AS cum_donations_usd,
                 sum(chat_messages) OVER w AS cum_chat_messages,
                 count(*) OVER w AS cum_windows
            FROM stream_metrics_minute
          WINDOW w AS (PARTITION BY stream_id ORDER BY window_start)) t
   WHERE m.window_start = t.window_start AND m.stream_id = t.stream_id
     AND (m.cum_donations_usd, m.cum_chat_messages, m.cum_windows)
         IS DISTINCT FROM (t.cum_donations_usd, t.cum_chat_messages, t.cum_windows);
  DELETE FROM stream_latest_window;
  INSERT INTO stream_latest_window
  SELECT DISTINCT ON (stream_id) stream_id, window_start, active_viewers, chat_messages, donations_usd,
         cum_donations_usd, cum_chat_messages, cum_windows
    FROM stream_metrics_minute
   ORDER BY stream_id, window_start DESC;
$$;

SELECT rebuild_stream_summaries();
ANALYZE stream_metrics_minute;
ANALYZE stream_latest_window;
