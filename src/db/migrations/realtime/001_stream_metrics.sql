-- Seed A serving tables: one row per (minute window, stream), and the current state per stream.
CREATE TABLE stream_metrics_minute (
  window_start   timestamptz   NOT NULL,
  stream_id      text          NOT NULL,
  window_end     timestamptz   NOT NULL,
  active_viewers integer       NOT NULL,
  chat_messages  integer       NOT NULL,
  donations_usd  numeric(20,6) NOT NULL,
  donation_count integer       NOT NULL,
  viewer_joins   integer       NOT NULL,
  viewer_leaves  integer       NOT NULL,
  events         integer       NOT NULL,
  is_final       boolean       NOT NULL DEFAULT false,
  updated_at     timestamptz   NOT NULL DEFAULT now(),
  PRIMARY KEY (window_start, stream_id)
);
-- Per-stream history and "latest window of a stream" read this index backwards.
CREATE INDEX stream_metrics_minute_stream_idx ON stream_metrics_minute (stream_id, window_start DESC);

CREATE TABLE stream_state (
  stream_id      text        PRIMARY KEY,
  active_viewers integer     NOT NULL,
  last_event_at  timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
