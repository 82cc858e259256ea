-- System B's daily DAG `analytics_pipeline` (src/lakehouse/orchestration): the run history users
-- read (runs → tasks → attempts) and the processes that execute it. pg-boss keeps its own queue
-- tables in schema `pgboss`; these tables are the record of what ran, when, where and why it failed.
CREATE TABLE runs (
  run_id          bigserial   PRIMARY KEY,
  dag             text        NOT NULL DEFAULT 'analytics_pipeline',
  logical_date    date        NOT NULL,                -- the day of data the run processes
  trigger         text        NOT NULL CHECK (trigger IN ('schedule', 'catchup', 'manual', 'backfill')),
  status          text        NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'timed_out')),
  queued_at       timestamptz NOT NULL,
  started_at      timestamptz,
  finished_at     timestamptz,
  deadline_at     timestamptz,                         -- started_at + run timeout
  sla_at          timestamptz NOT NULL,                -- queued_at + SLA
  sla_alerted_at  timestamptz,
  error           text
);
-- The scheduler makes one run per date, however many schedulers tick at once.
CREATE UNIQUE INDEX runs_scheduled_date_idx ON runs (dag, logical_date) WHERE trigger IN ('schedule', 'catchup');
-- A date is never processed by two runs at once (a re-run waits for the first to finish).
CREATE UNIQUE INDEX runs_active_date_idx ON runs (dag, logical_date) WHERE status IN ('queued', 'running');
-- One run executes at a time.
CREATE UNIQUE INDEX runs_one_running_idx ON runs (dag) WHERE status = 'running';
CREATE INDEX runs_queue_idx ON runs (dag, queued_at, logical_date, run_id) WHERE status = 'queued';

CREATE TABLE tasks (
  run_id       bigint      NOT NULL REFERENCES runs ON DELETE CASCADE,
  task         text        NOT NULL,
  position     integer     NOT NULL,                   -- order in the DAG, from 1
  status       text        NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'skipped')),
  attempts     integer     NOT NULL DEFAULT 0,
  job_id       text,                                   -- the pg-boss job that runs it
  started_at   timestamptz,
  finished_at  timestamptz,
  error        text,
  details      jsonb,
  PRIMARY KEY (run_id, task)
);

CREATE TABLE attempts (
  run_id       bigint      NOT NULL,
  task         text        NOT NULL,
  attempt      integer     NOT NULL,                   -- 1 + the job's retry count
  status       text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  worker       text        NOT NULL,                   -- host:pid:tag of the process that ran it
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz,
  error        text,
  details      jsonb,
  PRIMARY KEY (run_id, task, attempt),
  FOREIGN KEY (run_id, task) REFERENCES tasks ON DELETE CASCADE
);

-- Schedulers and workers say they are alive here (rtsa dag status, and the CLI decides whether it
-- must execute its runs itself).
CREATE TABLE processes (
  id          text        PRIMARY KEY,
  role        text        NOT NULL CHECK (role IN ('scheduler', 'worker')),
  started_at  timestamptz NOT NULL,
  seen_at     timestamptz NOT NULL
);
