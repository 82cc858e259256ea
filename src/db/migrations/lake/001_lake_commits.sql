-- System B's lake writers (bronze, silver): where each writer stands in each partition, and the
-- files each commit made. A commit updates the position (fenced by epoch, like system A's
-- processors) and lists its files in ONE transaction: that transaction is the moment the files
-- exist. They are written beforehand under _staging/ and moved into place after it; a restart
-- finishes the moves of committed files and deletes staged files no commit lists.
CREATE TABLE writer_partitions (
  writer            text        NOT NULL,          -- bronze | silver
  topic             text        NOT NULL,
  partition         integer     NOT NULL,
  epoch             bigint      NOT NULL DEFAULT 0,
  owner             text,
  committed_offset  bigint      NOT NULL DEFAULT 0, -- next offset to process
  replay_offset     bigint      NOT NULL DEFAULT 0, -- rebuild in-memory state by re-reading from here
  state             jsonb,                          -- what the writer keeps besides the log (watermark, ...)
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (writer, topic, partition)
);

CREATE TABLE files (
  key           text        PRIMARY KEY,           -- where readers find it, e.g. bronze/events/date=…/…parquet
  staging_key   text        NOT NULL,              -- where it was written before the commit
  writer        text        NOT NULL,
  topic         text        NOT NULL,
  partition     integer     NOT NULL,
  first_offset  bigint      NOT NULL,
  last_offset   bigint      NOT NULL,
  rows          integer     NOT NULL,
  bytes         bigint      NOT NULL,
  published     boolean     NOT NULL DEFAULT false, -- moved into place
  committed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX files_unpublished_idx ON files (writer, topic, partition) WHERE NOT published;
CREATE INDEX files_partition_idx ON files (writer, topic, partition, first_offset);
