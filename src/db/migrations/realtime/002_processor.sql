-- Where each processor partition stands. Committed in the same transaction as the results it
-- produced, so results and positions never disagree (exactly-once). `epoch` fences a processor
-- that lost the partition: its commit matches no row and rolls back.
CREATE TABLE processor_partitions (
  consumer_group    text        NOT NULL,
  topic             text        NOT NULL,
  partition         integer     NOT NULL,
  epoch             bigint      NOT NULL DEFAULT 0,
  owner             text,
  committed_offset  bigint      NOT NULL DEFAULT 0,  -- next offset to process
  replay_offset     bigint      NOT NULL DEFAULT 0,  -- rebuild in-memory state by re-reading from here
  replay_max_ts     bigint,                          -- max event time (µs) of the records before replay_offset
  compacted_through bigint,                          -- µs; windows before it are final and folded into stream_viewers
  max_ts            bigint,                          -- max event time (µs) at committed_offset, idle advances included
  idle_marks        jsonb       NOT NULL DEFAULT '[]',
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);

-- Viewers present in each stream as of its partition's compacted_through: the folded,
-- final part of the active-viewer state. Changes by the viewers that joined or left.
CREATE TABLE stream_viewers (
  consumer_group text    NOT NULL,
  topic          text    NOT NULL,
  partition      integer NOT NULL,
  stream_id      text    NOT NULL,
  user_id        text    NOT NULL,
  PRIMARY KEY (consumer_group, topic, stream_id, user_id)
);
CREATE INDEX stream_viewers_partition_idx ON stream_viewers (consumer_group, topic, partition);

-- Everything not counted: invalid events with their raw bytes, late events, with the reason and
-- where they came from. (source, partition, offset) is unique so a replay writes nothing twice.
CREATE TABLE dead_letter_events (
  id          bigserial   PRIMARY KEY,
  source      text        NOT NULL,          -- topic name, or 'http' for POST /events
  partition   integer,
  "offset"    bigint,
  reason      text        NOT NULL,          -- late | invalid_json | invalid_event | too_large | future_ts
  detail      text        NOT NULL,
  raw         bytea       NOT NULL,
  event_id    text,
  stream_id   text,
  event_ts    timestamptz,
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source, partition, "offset")
);
CREATE INDEX dead_letter_events_reason_idx ON dead_letter_events (reason, received_at DESC);
