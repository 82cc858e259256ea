-- Data-quality results (SPEC §6.6, src/lakehouse/quality, docs/quality.md): every run of the
-- checks for a logical date, and each check's result in it. `rtsa quality check` and the daily
-- DAG write them; the /metrics gauges of the long-running roles read the newest run.
CREATE TABLE quality_runs (
  run_id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  target_date     date        NOT NULL,
  overall_status  text        NOT NULL CHECK (overall_status IN ('PASSED', 'FAILED')),
  total_checks    integer     NOT NULL,
  passed_checks   integer     NOT NULL,
  failed_checks   integer     NOT NULL,
  started_at      timestamptz NOT NULL,
  finished_at     timestamptz NOT NULL,
  CHECK (finished_at >= started_at)
);
-- "The runs of a date, newest first" (history, the dashboard).
CREATE INDEX idx_quality_runs_date ON quality_runs (target_date, run_id DESC);

CREATE TABLE quality_results (
  run_id       bigint      NOT NULL REFERENCES quality_runs ON DELETE CASCADE,
  position     integer     NOT NULL,             -- the check's place in the run (the report's order)
  check_name   text        NOT NULL,
  status       text        NOT NULL CHECK (status IN ('PASSED', 'FAILED', 'WARNING', 'SKIPPED')),
  message      text        NOT NULL,
  details      jsonb       NOT NULL,
  started_at   timestamptz NOT NULL,
  duration_ms  double precision NOT NULL CHECK (duration_ms >= 0),
  PRIMARY KEY (run_id, position),
  CONSTRAINT uq_quality_results_check UNIQUE (run_id, check_name)
);
